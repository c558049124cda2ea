"""State that preprocessing layers look values up in: given, or learned by ``adapt``.

A lookup (StringLookup, IntegerLookup, TextVectorization) and a Discretization need
state to mean anything: given (``vocabulary: [...]``, ``{file: ...}``) or learned from
the training data (``vocabulary: adapt``, ``bin_boundaries: adapt``; see
:mod:`modelspec.catalog.lookup`). ``modelspec train`` runs each such layer's
``adapt()`` on the array of the model input it reads, before ``fit``
(:mod:`modelspec.runtime.train`). So:

- MS316: a layer with no state, and none to learn: Keras would build it, and map every
  value to one OOV index (a lookup), or fail when it runs (a Discretization with
  ``num_bins`` only).
- MS317: a layer that learns its state must be called once, directly on a model input:
  that input's array is what it learns from. (Running the layers before it to learn
  from their outputs would train nothing and cost a pass over the data; put the
  layer first instead.)
- MS318: an encoded output (``multi_hot``, ``count``, ...) ends in one value per
  vocabulary entry; learned, that size is known only in training, after the model is
  built, so what follows could not be built. ``max_tokens`` with
  ``pad_to_max_tokens: true`` fixes it.
"""

from __future__ import annotations

from collections.abc import Collection

from modelspec.catalog.lookup import ADAPT, ADAPTABLE
from modelspec.errors import ERROR, Diagnostic
from modelspec.ir import Spec
from modelspec.passes.graph import GraphFacts


def adapted_inputs(spec: Spec, graph: GraphFacts) -> dict[str, str | None]:
    """Each layer that learns its state with adapt -> the model input it reads, or None
    when it is not called once, directly on one."""
    inputs = {i.name for i in spec.inputs}
    calls: dict[str, list] = {}
    for call in graph.order:
        calls.setdefault(call.layer, []).append(call)
    out: dict[str, str | None] = {}
    for layer in spec.layers.values():
        key = ADAPTABLE.get(layer.type)
        if key is None or layer.kwargs.get(key) != ADAPT:
            continue
        mine = calls.get(layer.name, [])
        refs = mine[0].inputs if len(mine) == 1 else ()
        ok = len(refs) == 1 and refs[0].index is None and refs[0].name in inputs
        out[layer.name] = refs[0].name if ok else None
    return out


def _tensor(name: str, graph: GraphFacts) -> str:
    """A tensor as a message names it: one inside a chain by the layer that makes it."""
    if ":" in name and name in graph.producer:
        return f"the output of '{graph.producer[name].layer}'"
    return f"'{name}'"


def check_state(
    spec: Spec, graph: GraphFacts, *, skip_layers: Collection[str] = ()
) -> tuple[list[Diagnostic], set[str]]:
    """The diagnostics, and the layers whose output size is learned (MS318)."""
    diags: list[Diagnostic] = []
    unsized: set[str] = set()
    learned = adapted_inputs(spec, graph)
    calls: dict[str, list] = {}
    for call in graph.order:
        calls.setdefault(call.layer, []).append(call)
    for layer in spec.layers.values():
        key = ADAPTABLE.get(layer.type)
        if key is None or layer.name in skip_layers:
            continue
        what = f"`{layer.type}` '{layer.name}'"
        value = layer.kwargs.get(key)
        if layer.type == "Normalization":
            pass  # without stats it is built with mean 0 and variance 1, as Keras does
        elif value is None and (layer.type != "Discretization" or layer.kwargs.get("num_bins")):
            if layer.type == "Discretization":
                message = f"{what} has `num_bins` but no `bin_boundaries`, given or learned"
                hint = "learn them from the training data with `bin_boundaries: adapt`"
            else:
                message = (
                    f"{what} has no vocabulary, given or learned: every value would map to "
                    "its out-of-vocabulary index"
                )
                hint = ("give it (`vocabulary: [a, b]` or `vocabulary: {file: vocab.txt}`), or "
                        "learn it from the training data with `vocabulary: adapt`")  # fmt: skip
            diags.append(Diagnostic.at(ERROR, "MS316", message, layer.source, hint))
            continue
        if value != ADAPT:
            continue
        mine = calls.get(layer.name, [])
        if learned.get(layer.name) is None and mine:
            reads = ", ".join(_tensor(r.name, graph) for c in mine for r in c.inputs)
            times = "" if len(mine) == 1 else f" ({len(mine)} calls)"
            diags.append(
                Diagnostic.at(
                    ERROR,
                    "MS317",
                    f"{what} learns its `{key}` with adapt from the training data of the model "
                    f"input it reads, but it reads {reads}{times}",
                    mine[-1].source,
                    "call it once, directly on a model input; `train` adapts it on that "
                    "input's array before fit",
                )
            )
        mode = layer.kwargs.get("output_mode", "int")
        if key == "vocabulary" and mode != "int" and not layer.kwargs.get("pad_to_max_tokens"):
            unsized.add(layer.name)
            diags.append(
                Diagnostic.at(
                    ERROR,
                    "MS318",
                    f"{what} gives one value per vocabulary entry (output_mode {mode!r}), and "
                    "`vocabulary: adapt` learns the vocabulary only in training, after the "
                    "model is built",
                    layer.source,
                    "set `max_tokens` and `pad_to_max_tokens: true`, so the output size is "
                    "known when the model is built",
                )
            )
    return diags, unsized
