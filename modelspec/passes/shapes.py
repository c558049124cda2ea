"""Shape, dtype and parameter inference, without TensorFlow.

Walks the calls in graph order and applies each layer type's catalogue rules. The
result is a :class:`ShapeFacts` side table; nothing in the IR changes.

- A rule's :class:`~modelspec.catalog.base.ShapeError` becomes a diagnostic at the
  call, prefixed with the layer: "`Add` 'sum' needs equal shapes ...".
- A tensor whose shape is unknown (its producer failed, or sits in a cycle) makes
  everything downstream unknown, silently: one root cause, one message.
- A shared layer's weights are counted once, from its first call, as in Keras. A
  later call that would need different weights is an error (MS307).
- Keras keeps sizes in int64: an input or output dimension past 2**63 - 1 is MS308,
  a layer's parameters (or the model's, added up) past it MS309, at the input or the
  call; like any other shape error, nothing downstream is computed from it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from modelspec.catalog import type_of
from modelspec.catalog.base import INTS, MAX_DIM, Shape, ShapeError, SizeOverflow, fmt_shape
from modelspec.catalog.calls import CallArg, call_of
from modelspec.catalog.ops import OpType, result_dtype
from modelspec.catalog.precision import compute_dtype, layer_policy
from modelspec.errors import ERROR, WARNING, Diagnostic, did_you_mean
from modelspec.ir import Call, Spec, TensorRef
from modelspec.passes.graph import GraphFacts


@dataclass(slots=True)
class ShapeFacts:
    tensors: dict[str, Any] = field(default_factory=dict)  # name -> Shape or [Shape, ...]
    dtypes: dict[str, Any] = field(default_factory=dict)  # name -> dtype or [dtype, ...]
    params: dict[str, tuple[int, int]] = field(default_factory=dict)  # layer -> (trainable, non)
    # As the model counts them: differs from ``params`` only for a frozen layer that
    # owns sublayers (Keras still trains those; see LayerType.owns_sublayers).
    model_params: dict[str, tuple[int, int]] = field(default_factory=dict)
    outputs: dict[str, Shape | None] = field(default_factory=dict)  # output name -> shape
    output_dtypes: dict[str, str | None] = field(default_factory=dict)
    call_inputs: dict[str, list[Shape]] = field(default_factory=dict)  # call output -> input shapes
    # Custom layers whose parameters nobody could count (no `params:`, no Keras).
    unknown_params: set[str] = field(default_factory=set)

    def shape_of(self, name: str) -> Any:
        return self.tensors.get(name)


def _display(ref: TensorRef, graph: GraphFacts) -> str:
    """How a tensor is named in messages: chain-internal tensors by their layer."""
    if ":" in ref.name and ref.name in graph.producer:
        return graph.producer[ref.name].layer
    return str(ref)


def _pick(ref: TensorRef, value: Any, what: str, diags: list[Diagnostic]) -> Any:
    """The shape (or dtype) ``ref`` names in ``value``, honouring ``name[i]``."""
    if value is None:
        return None
    if isinstance(value, list):
        if ref.index is None:
            diags.append(
                Diagnostic.at(
                    ERROR,
                    "MS306",
                    f"tensor '{ref.name}' holds {len(value)} tensors; {what} takes one",
                    ref.source,
                    f"pick one with '{ref.name}[0]' ... '{ref.name}[{len(value) - 1}]'",
                )
            )
            return None
        if ref.index >= len(value):
            diags.append(
                Diagnostic.at(
                    ERROR,
                    "MS306",
                    f"tensor '{ref.name}' holds {len(value)} tensors; index {ref.index} "
                    "is out of range",
                    ref.source,
                )
            )
            return None
        return value[ref.index]
    if ref.index is not None:
        diags.append(
            Diagnostic.at(
                ERROR,
                "MS306",
                f"tensor '{ref.name}' is a single tensor; it has no [{ref.index}]",
                ref.source,
                f"write '{ref.name}'",
            )
        )
        return None
    return value


def infer_shapes(
    spec: Spec, graph: GraphFacts, *, skip_layers: Collection[str] = (), project: Any = None
) -> tuple[ShapeFacts, list[Diagnostic]]:
    """Shapes of every tensor and parameters of every layer.

    ``skip_layers`` are layers whose definitions failed the schema: their outputs are
    unknown rather than guessed. ``project`` says which custom layer modules may be
    imported (see :mod:`modelspec.catalog.custom`).
    """
    facts = ShapeFacts()
    diags: list[Diagnostic] = []
    for inp in spec.inputs:
        try:
            _dims_fit(inp.batch_shape, "has")
        except ShapeError as exc:
            diags.append(
                Diagnostic.at(
                    ERROR, exc.code, f"input '{inp.name}' {exc.message}", inp.source, exc.hint
                )
            )
            continue
        facts.tensors[inp.name] = inp.batch_shape
        facts.dtypes[inp.name] = inp.dtype
    first_call: dict[str, Call] = {}
    total = 0  # the model's parameters so far
    for call in graph.order:
        if call.output in graph.broken:
            continue
        layer = spec.layers.get(call.layer)
        if layer is None or layer.name in skip_layers:
            continue
        lt = type_of(layer.type)
        if isinstance(lt, OpType):
            _op_call(lt, layer, call, graph, facts, diags)
            continue
        if lt is None:
            if layer.type in spec.custom:
                ct = spec.custom[layer.type]
                compute = compute_dtype(layer_policy(spec, layer))
                total = _custom_call(ct, layer, call, graph, facts, diags, project, total, compute)
            continue
        what = f"`{lt.name}` '{layer.name}'"
        shapes = [_pick(r, facts.tensors.get(r.name), what, diags) for r in call.inputs]
        dtypes = [_pick(r, facts.dtypes.get(r.name), what, []) for r in call.inputs]
        if any(s is None for s in shapes):
            continue
        n = len(shapes)
        if n < lt.min_inputs or (lt.max_inputs is not None and n > lt.max_inputs):
            diags.append(
                Diagnostic.at(
                    ERROR,
                    "MS305",
                    f"{what} {_arity(lt.min_inputs, lt.max_inputs)}; got {n}",
                    call.source,
                    _arity_hint(lt.min_inputs, n),
                )
            )
            continue
        kw = lt.resolve(layer.kwargs)
        names = [_display(r, graph) for r in call.inputs]
        refused = _dtype_refused(lt, kw, dtypes, names)
        if refused is not None:
            diags.append(Diagnostic.at(ERROR, "MS315", f"{what} {refused[0]}", call.source,
                                       refused[1]))  # fmt: skip
            continue
        try:
            out = lt.shape(kw, shapes)
            if call.kwargs:
                out = _with_call_args(lt.name, kw, shapes, out, call, facts, what, diags)
                if out is None:
                    continue
            _dims_fit(out)
            try:
                counts = lt.params(kw, shapes)
            except SizeOverflow:
                raise _too_many_params() from None
            if layer.name not in facts.params:
                total = _params_fit(counts, total)
        except ShapeError as exc:
            diags.append(
                Diagnostic.at(
                    ERROR, exc.code, f"{what} {exc.render(shapes, names)}", call.source, exc.hint
                )
            )
            continue
        facts.call_inputs[call.output] = shapes
        if layer.name not in facts.params:
            facts.params[layer.name] = counts
            facts.model_params[layer.name] = counts
            if lt.owns_sublayers and kw.get("trainable") is False:
                facts.model_params[layer.name] = lt.params({**kw, "trainable": True}, shapes)
            first_call[layer.name] = call
        elif counts != facts.params[layer.name]:
            first = first_call[layer.name]
            was = facts.call_inputs[first.output]
            diags.append(
                Diagnostic.at(
                    ERROR,
                    "MS307",
                    f"shared layer '{layer.name}' is called on {', '.join(map(fmt_shape, shapes))} here, but on "
                    f"{', '.join(map(fmt_shape, was))} in step '{first.step}' (line {first.source.line}); "
                    "its weights cannot fit both",
                    call.source,
                    "a shared layer has one set of weights: call it on inputs of the same size",
                )
            )
            continue
        facts.tensors[call.output] = out
        # Keras casts floating inputs to the layer's compute dtype (its dtype policy's);
        # layers that only move values around keep integer and boolean inputs as they are.
        first = dtypes[0] if dtypes and isinstance(dtypes[0], str) else None
        dtype = lt.output_dtype(kw, first, compute_dtype(layer_policy(spec, layer)))
        facts.dtypes[call.output] = [dtype] * len(out) if isinstance(out, list) else dtype
    for output in spec.outputs:
        if output.tensor is None or output.tensor.name in graph.broken:
            continue
        ref = output.tensor
        facts.outputs[output.name] = _pick(
            ref, facts.tensors.get(ref.name), f"output '{output.name}'", diags
        )
        facts.output_dtypes[output.name] = _pick(ref, facts.dtypes.get(ref.name), "", [])
    return facts, diags


def _op_call(op: OpType, layer: Any, call: Call, graph: GraphFacts, facts: ShapeFacts,
             diags: list[Diagnostic]) -> None:  # fmt: skip
    """One op step: its operands' shapes and dtypes (a number is a scalar of a weak
    type, :func:`~modelspec.catalog.ops.result_dtype`) through the op's rules."""
    what = f"op `{op.name}` in step '{call.step}'"
    shapes: list[Any] = []
    dtypes: list[Any] = []
    names: list[str] = []
    for operand in call.operands:
        if isinstance(operand, TensorRef):
            shapes.append(_pick(operand, facts.tensors.get(operand.name), what, diags))
            dtypes.append(_pick(operand, facts.dtypes.get(operand.name), what, []))
            names.append(_display(operand, graph))
        else:
            shapes.append(())
            dtypes.append(type(operand))
            names.append(repr(operand))
    if any(s is None for s in shapes):
        return
    strings = [n for n, d in zip(names, dtypes) if d == "string"]
    if strings:
        diags.append(
            Diagnostic.at(
                ERROR,
                "MS315",
                f"{what} computes on numbers; its input '{strings[0]}' is a string",
                call.source,
                "map strings to numbers first (StringLookup, TextVectorization, Hashing)",
            )
        )
        return
    kw = op.resolve(layer.kwargs)
    try:
        out = op.shape(kw, shapes)
        _dims_fit(out)
    except ShapeError as exc:
        diags.append(
            Diagnostic.at(
                ERROR, exc.code, f"{what} {exc.render(shapes, names)}", call.source, exc.hint
            )  # fmt: skip
        )
        return
    facts.call_inputs[call.output] = [s for s, o in zip(shapes, call.operands)
                                      if isinstance(o, TensorRef)]  # fmt: skip
    facts.params[layer.name] = (0, 0)
    facts.model_params[layer.name] = (0, 0)
    facts.tensors[call.output] = out
    facts.dtypes[call.output] = result_dtype(op, kw, dtypes)


def _custom_call(ct: Any, layer: Any, call: Call, graph: GraphFacts, facts: ShapeFacts,
                 diags: list[Diagnostic], project: Any, total: int,
                 compute: str = "float32") -> int:  # fmt: skip
    """One call of a custom layer: its rules, or Keras, or an unknown shape (MS320).
    ``total`` is the model's parameters so far; the result, with this layer's. Its output
    is in ``compute``, its compute dtype."""
    from modelspec.catalog.custom import CustomShapeError, custom_facts

    what = f"custom `{ct.name}` '{layer.name}'"
    for arg in call.kwargs:
        diags.append(
            Diagnostic.at(
                ERROR,
                "MS310",
                f"{what} takes no call arguments here; got `{arg.name}`",
                arg.key_source,
                "a spec calls a custom layer on its inputs only",
            )
        )
    if call.kwargs:
        return total
    shapes = [_pick(r, facts.tensors.get(r.name), what, diags) for r in call.inputs]
    if any(s is None for s in shapes):
        return total
    if len(shapes) != ct.inputs:
        diags.append(
            Diagnostic.at(
                ERROR,
                "MS305",
                f"{what} {_arity(ct.inputs, ct.inputs)} (its `inputs:`); got {len(shapes)}",
                call.source,
                _arity_hint(ct.inputs, len(shapes)),
            )
        )
        return total
    try:
        out, params = custom_facts(ct, layer.kwargs, shapes, project)
    except ShapeError as exc:
        names = [_display(r, graph) for r in call.inputs]
        diags.append(
            Diagnostic.at(
                ERROR, exc.code, f"{what} {exc.render(shapes, names)}", call.source, exc.hint
            )
        )
        return total
    except CustomShapeError as exc:
        diags.append(Diagnostic.at(ERROR, "MS324", f"{what}: {exc}", call.source))
        return total
    try:
        if out is not None:
            _dims_fit(out)
        if params is not None and layer.name not in facts.params:
            total = _params_fit(params, total)
    except ShapeError as exc:
        diags.append(Diagnostic.at(ERROR, exc.code, f"{what} {exc.message}", call.source, exc.hint))
        return total
    facts.call_inputs[call.output] = shapes
    if params is None:
        facts.unknown_params.add(layer.name)
    elif layer.name not in facts.params:
        facts.params[layer.name] = facts.model_params[layer.name] = params
    if out is not None:
        facts.tensors[call.output] = out
        facts.dtypes[call.output] = [compute] * len(out) if isinstance(out, list) else compute
    return total


def _with_call_args(
    type_name: str,
    kw: dict[str, Any],
    shapes: list[Shape],
    out: Any,
    call: Call,
    facts: ShapeFacts,
    what: str,
    diags: list[Diagnostic],
) -> Any:
    """The call's output with its ``call:`` arguments, each checked against what the
    layer's call takes (:mod:`modelspec.catalog.calls`); None after an error."""
    layer_call = call_of(type_name)
    ok = True
    constants: dict[str, Any] = {}
    for given in call.kwargs:
        arg = layer_call.arg(given.name)
        if arg is None:
            takes = [a.name for a in layer_call.args]
            hint = did_you_mean(given.name, takes)
            if given.name in layer_call.inputs:
                hint = f"`{given.name}` is an input of the call: name it in `to:`"
            elif hint is None:
                hint = (
                    f"it takes {', '.join(f'`{t}`' for t in takes)}"
                    if takes
                    else f"`{type_name}` is called on its inputs only"
                )
            diags.append(
                Diagnostic.at(
                    ERROR,
                    "MS310",
                    f"{what} does not take the call argument `{given.name}`",
                    given.key_source,
                    hint,
                )
            )
            ok = False
            continue
        wrong = _wrong_kind(arg, given.value)
        if wrong:
            diags.append(
                Diagnostic.at(
                    ERROR, "MS313", f"{what}: `{arg.name}` {wrong[0]}", given.source, wrong[1]
                )
            )
            ok = False
            continue
        if arg.kind == "bool":
            constants[arg.name] = given.value
            if arg.name == "training":
                diags.append(_fixed_training(what, given))
            continue
        refs = given.value if isinstance(given.value, tuple) else (given.value,)
        picked = [
            None if r is None else _pick(r, facts.tensors.get(r.name), f"`{arg.name}`", diags)
            for r in refs
        ]
        if any(p is None for p, r in zip(picked, refs, strict=True) if r is not None):
            ok = False  # unknown upstream, or reported by _pick
            continue
        value = picked if isinstance(given.value, tuple) else picked[0]
        if arg.kind == "tensors" and not isinstance(value, list):
            value = [value]
        try:
            if arg.check is not None:
                arg.check(kw, shapes, value)
        except ShapeError as exc:
            diags.append(
                Diagnostic.at(ERROR, exc.code, f"{what}: {exc.message}", given.source, exc.hint)
            )
            ok = False
    if not ok:
        return None
    if layer_call.output is not None:
        try:
            out = layer_call.output(kw, shapes, out, constants)
        except ShapeError as exc:
            diags.append(
                Diagnostic.at(ERROR, exc.code, f"{what} {exc.message}", call.source, exc.hint)
            )
            return None
    return out


def _wrong_kind(arg: CallArg, value: Any) -> tuple[str, str] | None:
    """What is wrong with the kind of ``value`` for ``arg``, and the fix; or None."""
    if arg.kind == "bool":
        if isinstance(value, bool):
            return None
        return "is true or false, not a tensor", f"write `{arg.name}: true` or `false`"
    if isinstance(value, bool):
        if arg.kind == "tensor":
            return f"takes a tensor, not {str(value).lower()}", f"name it: `{arg.name}: NAME`"
        return (
            f"takes a list of tensors, not {str(value).lower()}",
            f"name them: `{arg.name}: [A, B]`",
        )
    if arg.kind == "tensor" and isinstance(value, tuple):
        return "takes one tensor, not a list", f"name one tensor: `{arg.name}: NAME`"
    if arg.kind == "tensors" and isinstance(value, tuple) and None in value:
        return "takes tensors only; null is not one", "name a tensor for each place"
    if arg.kind == "masks" and not isinstance(value, tuple):
        return (
            "takes a list, [query_mask, value_mask]",
            f"write `{arg.name}: [null, NAME]` to give the value mask alone",
        )
    return None


def _fixed_training(what: str, given: Any) -> Diagnostic:
    """MS314: Keras 3 replaces a call's ``training`` with the model's, whenever the model
    is called with one (``fit``, ``predict`` and ``evaluate`` always are)."""
    if given.value:
        message = (
            f"{what} is called with training=True, which Keras 3 replaces with the model's "
            "mode: predict and evaluate run it with training=False, so it acts only when "
            "the model is called as model(x)"
        )
        hint = "for Monte-Carlo dropout, call the model as model(x) to predict"
    else:
        message = (
            f"{what} is called with training=False, which Keras 3 replaces with the model's "
            "mode: fit runs it with training=True"
        )
        hint = "to keep a layer in inference mode while training, freeze it: trainable: false"
    return Diagnostic.at(WARNING, "MS314", message, given.source, hint)


def _number(n: int) -> str:
    """A size for a message: ``1,024``, or its digits counted when it is long."""
    text = f"{n:,}"
    return text if len(text) <= 40 else f"{text[:13]}...{text[-8:]} ({len(str(abs(n)))} digits)"


def _dims_fit(out: Any, verb: str = "gives") -> None:
    """MS308 unless every dimension of ``out`` (a shape, or a list of them) fits int64."""
    for shape in out if isinstance(out, list) else [out]:
        for axis, dim in enumerate(shape or ()):
            if dim is not None and not -MAX_DIM <= dim <= MAX_DIM:
                raise ShapeError(
                    f"{verb} a dimension of {_number(dim)} on axis {axis}, larger than "
                    "2**63 - 1: Keras keeps sizes in int64",
                    code="MS308",
                    hint="check the input shape and the layer's sizes",
                )


def _too_many_params() -> ShapeError:
    return ShapeError(
        "would have more than 2**63 - 1 parameters: Keras counts them in int64",
        code="MS309",
        hint="check the input shape and the layer's sizes",
    )


def _params_fit(counts: tuple[int, int], total: int) -> int:
    """The model's parameters with this layer's ``counts``; MS309 past int64."""
    mine = counts[0] + counts[1]
    if mine > MAX_DIM:
        raise ShapeError(
            f"has {_number(mine)} parameters, more than 2**63 - 1: Keras counts them in int64",
            code="MS309",
            hint="check the input shape and the layer's sizes",
        )
    if total + mine > MAX_DIM:
        raise ShapeError(
            f"takes the model's parameters to {_number(total + mine)}, more than 2**63 - 1: "
            "Keras counts them in int64",
            code="MS309",
            hint="a model this large cannot be built; check the layers' sizes",
        )
    return total + mine


# What each kind of layer input (LayerType.takes) refuses, and how to say it.
_TAKES = {
    "numbers": (lambda d: d == "string", "cannot take strings", "turn strings into numbers "
                "first, with StringLookup, TextVectorization or Hashing"),
    "strings": (lambda d: d != "string", "takes strings", "declare the input with `dtype: string`"),
    "ints_or_strings": (lambda d: d not in INTS and d != "string", "takes integers or strings",
                        "give it integer or string inputs, e.g. a Discretization's output"),
}  # fmt: skip


def _dtype_refused(lt: Any, kw: Any, dtypes: list, names: list[str]) -> tuple[str, str] | None:
    """Why the inputs' dtypes do not fit what the layer takes (message, hint), or None."""
    rule = _TAKES.get(lt.input_dtypes(kw))
    if rule is None:
        return None
    refuses, says, hint = rule
    for dtype, name in zip(dtypes, names):
        if isinstance(dtype, str) and refuses(dtype):
            shown = "a string" if dtype == "string" else dtype
            return f"{says}; its input '{name}' is {shown}", hint
    return None


def _arity(lo: int, hi: int | None) -> str:
    if hi == lo:
        return f"takes exactly {lo} input{'s' if lo != 1 else ''}"
    if hi is None:
        return f"takes at least {lo} input{'s' if lo != 1 else ''}"
    return f"takes {lo} to {hi} inputs"


def _arity_hint(lo: int, n: int) -> str | None:
    if n < lo:
        return "list the tensors in `to: [a, b]`"
    return "a chain passes one tensor from layer to layer; only its first layer can take a list"
