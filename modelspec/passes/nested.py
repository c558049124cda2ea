"""Nested models: the flat graph, regrouped into the ``keras.Model`` s that hold it.

Composition expands a nested instance like any other (see the note on nested models
in :mod:`modelspec.compose.nested`), so names, cycles, shapes and parameters are checked on
the flat graph. This pass regroups that graph: each *level* (the whole model, or the
model of one nested instance) gets its calls, in the order the spec writes them, where
a nested instance's calls are replaced by one call of its model, and tensors are named
as that level sees them. The build plan follows the levels; ``summary`` shows a nested
model as one row with its total, as ``model.summary()`` does.

What the flat graph allows but Keras cannot build is reported here: a nested model
called on a tensor computed from its own output (MS726), and ``model: sequential`` on
a block that is not a plain stack (MS721).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelspec.errors import ERROR, Diagnostic
from modelspec.ir import Call, Source, Spec, TensorArg, TensorRef, split_ref, tensor_args
from modelspec.passes.graph import Ref, stable_order, stack_break


@dataclass(frozen=True, slots=True)
class Item:
    """One call at one level: of a layer (``model`` is None) or of a nested model.

    ``name`` is the flat layer name, or the nested model's owner instance; ``inputs``
    and ``output`` are tensor names as the level sees them.
    """

    name: str
    model: str | None  # the calling instance, for a call of a nested model
    inputs: tuple[tuple[str, int | None], ...]
    output: str
    step: str
    source: Source
    several: bool  # returns several tensors
    kwargs: tuple[tuple[str, Any], ...] = ()  # call arguments, as PlanCall holds them
    names: tuple[str, ...] = ()  # the keywords of the inputs, as PlanCall holds them
    operands: tuple[Any, ...] = ()  # an op's, as PlanCall holds them

    def refs(self) -> list[tuple[str, int | None]]:
        """Every tensor the call reads, in the order Keras lists them, as
        :meth:`modelspec.ir.Call.refs` gives them: the positional inputs, then the
        tensors passed by keyword, by keyword."""
        keyed = [(k, [tuple(t) for t in tensor_args(v)]) for k, v in self.kwargs]
        if not self.names:
            positional = list(self.inputs)
        else:
            positional = []
            keyed += [(n, [ref]) for n, ref in zip(self.names, self.inputs, strict=True)]
        return positional + [r for _, refs in sorted(keyed, key=lambda k: k[0]) for r in refs]


@dataclass(frozen=True, slots=True)
class Level:
    """The whole model (``owner`` None) or one nested model, as Keras builds it."""

    owner: str | None
    name: str  # the Keras name
    block: str | None
    form: str  # "functional" or "sequential"
    inputs: tuple[tuple[str, tuple[int | None, ...], str], ...]  # (name, shape, dtype)
    items: tuple[Item, ...]
    outputs: tuple[tuple[str, int | None], ...]
    local: Mapping[str, str]  # flat layer -> its name in this model
    params: tuple[int, int]  # trainable, non-trainable: what count_params() gives
    line: int
    not_a_chain: str | None  # why it is not a plain stack; None when it is


@dataclass(frozen=True, slots=True)
class NestFacts:
    levels: Mapping[str | None, Level]  # nested models children first, the top last
    home: Mapping[str, str | None]  # flat layer -> the level (owner) it is built in

    def level_of(self, instance: str, models: Mapping[str, Any]) -> Level:
        return self.levels[models[instance].owner]


def _merge(shapes: list[Any]) -> tuple[int | None, ...] | None:
    """One input shape for every call: an axis that differs between calls is None."""
    known = [tuple(s) for s in shapes if isinstance(s, tuple)]
    if not known or len({len(s) for s in known}) != 1:
        return None
    return tuple(d if all(s[i] == d for s in known) else None for i, d in enumerate(known[0]))


def nest(spec: Spec, graph: Any, shapes: Any, models: Mapping[str, Any],
         groups: Mapping[str, tuple[tuple[str, str], ...]]) -> tuple[NestFacts | None, list[Diagnostic]]:  # fmt: skip
    """The levels of a spec with nested models, or None (and why) when Keras cannot
    build them."""
    diags: list[Diagnostic] = []

    def error(code: str, message: str, src: Source, hint: str | None = None) -> None:
        diags.append(Diagnostic(ERROR, code, message, hint, src.file, src.line, src.col, src.path))

    def innermost(step: str) -> str | None:
        """The calling instance of the innermost nested model ``step`` is inside."""
        found = None
        for instance, _ in groups.get(step, ()):
            if instance in models:
                found = instance
        return found

    position = {c.output: i for i, c in enumerate(spec.calls)}
    calls = [c for c in graph.order if c.output not in graph.broken]
    by_level: dict[str | None, list[Call]] = {}
    first: dict[str, int] = {}  # calling instance -> position of its first flat call
    for c in calls:
        instance = innermost(c.step)
        by_level.setdefault(instance, []).append(c)
        for i, _ in groups.get(c.step, ()):
            if i in models:
                first[i] = min(first.get(i, position[c.output]), position[c.output])
    children: dict[str | None, list[str]] = {}
    for instance, nested in models.items():
        if instance in first:
            children.setdefault(nested.parent, []).append(instance)
    home: dict[str, str | None] = {}
    for c in calls:
        instance = innermost(c.step)
        home.setdefault(c.layer, models[instance].owner if instance else None)

    def several(tensor: str) -> bool:
        return isinstance(shapes.tensors.get(tensor), list)

    def shape_of(ref: tuple[str, int | None]) -> Any:
        value = shapes.tensors.get(ref[0])
        if ref[1] is not None:
            value = value[ref[1]] if isinstance(value, list) and ref[1] < len(value) else None
        return value

    def dtype_of(ref: tuple[str, int | None]) -> str:
        value = shapes.dtypes.get(ref[0])
        if ref[1] is not None and isinstance(value, list):
            value = value[ref[1]] if ref[1] < len(value) else None
        return value if isinstance(value, str) else "float32"

    levels: dict[str | None, Level] = {}

    def build(owner: str | None) -> Level | None:
        """The level of ``owner``'s model (None: the whole model), children first."""
        nested = models[owner] if owner is not None else None
        rename: dict[tuple[str, int | None], tuple[str, int | None]] = {}
        inputs: list[tuple[str, tuple[int | None, ...], str]] = []
        if nested is not None:
            for block_input, tensor in nested.inputs:
                rename.setdefault(split_ref(tensor), (block_input, None))
                every = [
                    split_ref(dict(m.inputs)[block_input])
                    for m in models.values()
                    if m.owner == owner and block_input in dict(m.inputs)
                ]
                shape = _merge([shape_of(r) for r in every])
                batch = shape[1:] if shape else ()
                inputs.append((block_input, batch, dtype_of(split_ref(tensor))))
        else:
            inputs = [(i.name, i.shape or (), i.dtype) for i in spec.inputs]
        items: list[tuple[int, Item, list[tuple[str, int | None]]]] = []
        for c in by_level.get(owner, ()):
            ins = [(r.name, r.index) for r in c.inputs]
            kwargs = tuple(k.plain() for k in c.kwargs)
            operands = tuple(TensorArg(v.name, v.index) if isinstance(v, TensorRef) else v
                             for v in c.operands)  # fmt: skip
            item = Item(c.layer, None, (), c.output, c.step, c.source, several(c.output), kwargs,
                        c.names, operands)  # fmt: skip
            items.append((position[c.output], item, ins))
        for instance in children.get(owner, ()):
            child = models[instance]
            if child.owner == instance and build(instance) is None:
                return None
            for k, out in enumerate(child.outputs):
                rename[split_ref(out)] = (instance, None if len(child.outputs) == 1 else k)
            ins = [split_ref(t) for _, t in child.inputs]
            src = Source(spec.file, child.line, 1, tuple(child.path))
            item = Item(child.owner, instance, (), instance, instance, src, len(child.outputs) > 1)
            items.append((first[instance], item, ins))

        def renamed(ref: tuple[str, int | None]) -> tuple[str, int | None]:
            return rename.get(ref, ref)

        if nested is not None:
            outputs = [renamed(split_ref(o)) for o in nested.outputs]
        else:
            outputs = [renamed((o.tensor.name, o.tensor.index)) for o in spec.outputs if o.tensor]

        # Keep what the level's outputs need, in the written order, inputs first.
        def renamed_arg(value: Any) -> Any:
            if isinstance(value, TensorArg):
                return TensorArg(*renamed(tuple(value)))
            if isinstance(value, tuple):
                return tuple(renamed_arg(v) for v in value)
            return value

        producer = {}
        for pos, item, ins in items:
            args = [tuple(t) for _, v in item.kwargs for t in tensor_args(v)]
            producer[item.output] = (
                pos,
                item,
                [renamed(r) for r in ins],
                [renamed(r) for r in args],
            )
        need: set[str] = set()
        stack = [name for name, _ in outputs]
        while stack:
            name = stack.pop()
            if name in need or name not in producer:
                continue
            need.add(name)
            stack += [r[0] for r in producer[name][2] + producer[name][3]]
        order = stable_order(
            need,
            lambda n: {r[0] for r in producer[n][2] + producer[n][3]} - {n},
            lambda n: (producer[n][0], n),
        )
        ordered: list[Item] = []
        for n in order:
            pos, item, ins, _ = producer[n]
            ordered.append(
                Item(
                    item.name,
                    item.model,
                    tuple(ins),
                    item.output,
                    item.step,
                    item.source,
                    item.several,
                    tuple((k, renamed_arg(v)) for k, v in item.kwargs),
                    item.names,
                    tuple(renamed_arg(v) for v in item.operands),
                )
            )
        if len(ordered) != len(need):
            placed = set(order)
            stuck = sorted((producer[n] for n in need if n not in placed), key=lambda p: p[0])
            item = next((p[1] for p in stuck if p[1].model is not None), stuck[0][1])
            error(
                "MS726",
                f"nested model '{item.model or item.name}' is called on a tensor "
                "computed from its own output; as one keras.Model it would be its own input",
                item.source,
                "inline the block (`model: false`), or split it in two",
            )
            return None
        local = {}
        for layer, where in home.items():
            if where == owner:
                local[layer] = layer[len(owner) + 1 :] if owner else layer
        # Parameters as count_params() gives them: each layer and each model once.
        trainable = non = 0
        for layer in {i.name for i in ordered if i.model is None}:
            t, n = shapes.model_params.get(layer, shapes.params.get(layer, (0, 0)))
            trainable, non = trainable + t, non + n
        for sub in {i.name for i in ordered if i.model is not None}:
            t, n = levels[sub].params
            trainable, non = trainable + t, non + n
        reason = _chain_break(inputs, ordered, outputs)
        form = "functional"
        if nested is not None:
            if nested.form == "sequential" and reason is not None:
                error(
                    "MS721",
                    f"nested model '{owner}' (block '{nested.block}') cannot be a "
                    f"Sequential model: {reason}",
                    Source(spec.file, nested.line, 1, tuple(nested.path)),
                    "use `model: true` (Functional where it must be) or `model: functional`",
                )
                return None
            if nested.form == "sequential" or (nested.form == "auto" and reason is None):
                form = "sequential"
        level = Level(
            owner,
            nested.name if nested is not None else spec.name,
            nested.block if nested is not None else None,
            form,
            tuple(inputs),
            tuple(ordered),
            tuple(outputs),
            local,
            (trainable, non),
            nested.line if nested is not None else 1,
            reason,
        )
        levels[owner] = level
        return level

    if build(None) is None:
        return None, diags
    top = levels.pop(None)
    levels[None] = top
    return NestFacts(levels, home), diags


def _chain_break(
    inputs: list, items: list[Item], outputs: list[tuple[str, int | None]]
) -> str | None:
    """Why the level is not a plain stack, or None (the rule is :func:`stack_break`)."""
    calls = [
        (
            item.name,
            [Ref(*r) for r in item.inputs],
            item.output,
            2 if item.several else 1,
            len(item.kwargs),
            bool(item.operands),
        )
        for item in items
    ]
    counts = Counter(item.name for item in items)
    found = stack_break([name for name, *_ in inputs], calls, [Ref(*o) for o in outputs], counts)
    if found is None:
        return None
    item = items[found.at] if found.at >= 0 else None
    what = ""
    if item is not None:
        what = f"nested model '{item.model}'" if item.model else f"layer '{item.name}'"
    match found.kind:
        case "inputs" | "outputs":
            return f"it has {found.count} {found.kind}"
        case "shared":
            return f"{what} is called {found.count} times (shared weights)"
        case "fan_in":
            return f"{what} has {found.count} inputs"
        case "index" | "fork":
            return f"{what} does not read the output of the call before it"
        case "several":
            return f"{what} returns several tensors"
        case "arguments":
            return f"{what} is called with `call:` arguments"
    return "its output is not the last call's"
