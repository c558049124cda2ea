"""The names an imported spec writes: its steps' names, and which layers need a ``name:``.

Layer names are kept exactly as Keras wrote them, but a spec leaves ``name:`` out
wherever the parser's auto-naming (:mod:`modelspec.lower.parse`) gives the same
name, as a person would. A step is named after the last layer of its chain, or
``<layer>_<k>`` for the k-th call of a shared layer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.base import nested_layers
from modelspec.importer.context import Node
from modelspec.lower.parse import to_snake_case


@dataclass(slots=True)
class Slot:
    """A layer name the parser either reads from the spec or makes up (auto-naming)."""

    type: str
    name: str
    kind: str  # "fixed" (a key under `layers:`), "top" (an inline layer), "inner" (wrapped)
    holder: dict[str, Any] | None  # the spec dict its `name:` goes in


def slots(layer: dict[str, Any], name: str, kind: str) -> list[Slot]:
    """The naming slots of one layer, in the order the parser names them: the layer,
    then the layers it wraps, the innermost first (``parse._Parser.inner_names``)."""
    out = [Slot(layer["type"], name, kind, layer if kind == "top" else None)]

    def inner(spec: dict[str, Any]) -> None:
        lt = LAYER_TYPES.get(spec.get("type", ""))
        for key in lt.nested if lt else ():
            for _, sub in nested_layers(spec.get(key), key):
                if isinstance(sub.get("name"), str):
                    inner(sub)
                    out.append(Slot(sub["type"], sub["name"], "inner", sub))

    inner(layer)
    return out


def write_names(slots: list[Slot], reserved: set[str]) -> None:
    """Leave ``name:`` out wherever the parser's auto-naming gives the same name.

    The parser names an unnamed layer as Keras does in a fresh session (``dense``,
    ``dense_1``, ...), skipping the names of inputs, of named inline layers and of
    the layers defined so far; an auto name that a later ``layers:`` key uses is an
    MS203 error. Naming one layer changes what the later ones get, so this iterates
    to a fixed point; each round only adds names.
    """
    explicit = {i for i, slot in enumerate(slots) if slot.kind == "fixed"}
    for _ in range(8):
        taken = set(reserved) | {slots[i].name for i in explicit if slots[i].kind == "top"}
        owner: dict[str, int] = {}
        counts: dict[str, int] = {}
        wrong: set[int] = set()
        for i, slot in enumerate(slots):
            if slot.kind == "fixed":
                if slot.name in owner:
                    wrong.add(owner[slot.name])
                taken.add(slot.name)
                continue
            if i in explicit:
                continue
            base = to_snake_case(slot.type)
            while True:
                n = counts.get(base, 0)
                counts[base] = n + 1
                auto = base if n == 0 else f"{base}_{n}"
                if auto not in taken:
                    taken.add(auto)
                    owner[auto] = i
                    break
            if auto != slot.name:
                wrong.add(i)
        if not wrong:
            break
        explicit |= wrong
    else:
        explicit = set(range(len(slots)))
    for i, slot in enumerate(slots):
        if slot.holder is None:
            continue
        if i in explicit:
            slot.holder["name"] = slot.name
        else:
            slot.holder.pop("name", None)


def step_names(
    chains: list[list[Node]], input_names: set[str], defined: Iterable[str]
) -> dict[tuple[str, int], str]:
    """Each chain's step name, by its last call: the last layer's name; the k-th call
    of a shared layer adds ``_k``, and a name already taken another ``_j``."""
    taken = set(input_names) | set(defined)
    ordinal: dict[tuple[str, int], int] = {}
    counts: Counter[str] = Counter()
    for chain in chains:
        for node in chain:
            ordinal[(node.layer.name, node.index)] = counts[node.layer.name]
            counts[node.layer.name] += 1
    step_of: dict[tuple[str, int], str] = {}
    used: set[str] = set()
    for chain in chains:
        last = chain[-1]
        k = ordinal[(last.layer.name, last.index)]
        base = last.layer.name if k == 0 else f"{last.layer.name}_{k}"
        step, j = base, 1
        while step in used or step in input_names or (step != last.layer.name and step in taken):
            j += 1
            step = f"{base}_{j}"
        used.add(step)
        step_of[(last.layer.name, last.index)] = step
    return step_of
