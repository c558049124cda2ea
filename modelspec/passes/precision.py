"""Precision checks: what a spec's dtype policies and quantization ask that Keras
cannot do, or does badly (MS330-MS335).

Keras quantizes a model after it is built: ``model.quantize(mode)`` calls
``quantize(mode)`` on every layer that holds no other (the layers a wrapper holds, the
``EinsumDense`` layers of a ``MultiHeadAttention``), and passes over, with a warning,
each whose class does not implement the mode; only ``Dense``, ``EinsumDense`` and
``Embedding`` do, and they refuse their subclasses. A spec's own ``quantize:`` on a
layer asks for that layer alone (:func:`modelspec.lower.plan._quantize`).
The facts are in :mod:`modelspec.catalog.precision`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.precision import (
    HALF,
    HELD_QUANTIZABLE,
    POLICIES,
    QUANTIZE_MODES,
    compute_dtype,
    ellipsis_problem,
    held_specs,
    layer_policy,
    quantize_problem,
    takes_policy,
)
from modelspec.errors import ERROR, WARNING, Diagnostic, JsonPath
from modelspec.ir import Layer, Source, Spec
from modelspec.passes.training import final_activation

# The activations whose output a loss reads as probabilities, and which half precision
# computes badly (NOTE: [losses and activations] in modelspec/passes/training.py).
SQUASHING = frozenset({"softmax", "sigmoid"})


def _where(layer: Layer) -> str:
    return f"`{layer.type}` '{layer.name}'"


def _source(doc: Any, path: JsonPath, fallback: Source, *, key: bool = False) -> Source:
    """Where ``path`` is written (its key, with ``key``); ``fallback`` without a document."""
    if doc is None:
        return fallback
    line, col = doc.position(path, key=key)
    file = doc.file_at(path) if doc.files else doc.file
    return Source(file, line, col, tuple(path))


def _at(doc: Any, layer: Layer, keys: JsonPath) -> Source:
    """Where the key ``keys`` of ``layer`` (``("dtype",)``) is written."""
    return _source(doc, (*layer.source.path, *keys), layer.source, key=True)


def _own_policy(spec: Mapping[str, Any], holder: str) -> str:
    own = spec.get("dtype")
    return own if isinstance(own, str) and own in POLICIES else holder


def quantized_leaves(spec: Spec, layer: Layer, mode: str) -> list[tuple[str, str]]:
    """``(what, policy)`` of each layer Keras quantizes to ``mode`` when the model's
    ``quantize`` reaches ``layer``: the layer itself, the layers it holds, or a
    ``MultiHeadAttention``'s ``EinsumDense`` layers; ``what`` names it for a message."""
    policy = layer_policy(spec, layer)
    if layer.type in QUANTIZE_MODES[mode]:
        return [(_where(layer), policy)]
    if layer.type in HELD_QUANTIZABLE:
        kinds = set(HELD_QUANTIZABLE[layer.type].values())
        if kinds & QUANTIZE_MODES[mode]:
            return [(f"the `EinsumDense` layers of {_where(layer)}", policy)]
    out = []
    names = dict(layer.inner)
    for keys, inner in held_specs(dict(layer.kwargs, type=layer.type)):
        inner_type = inner.get("type")
        if inner_type in QUANTIZE_MODES[mode]:
            name = names.get(".".join(map(str, keys)))
            what = f"`{inner_type}`" + (f" '{name}'" if name else "") + f" in {_where(layer)}"
            # A held layer computes under its holder's policy unless it has its own.
            out.append((what, _own_policy(inner, policy)))
    return out


def check_precision(
    spec: Spec, graph: Any, shapes: Any = None, *, doc: Any = None, skip_layers: Any = ()
) -> list[Diagnostic]:
    """MS330 ``dtype:`` on a layer that takes no dtype policy, MS331 a layer's
    ``quantize:`` that Keras cannot do on it, MS332 int8 quantization of a layer that
    computes in float16, MS333 a model ``quantize:`` that reaches no layer, MS334 a
    softmax or sigmoid output computed in half precision, MS335 ``quantize:`` on a
    held layer, MS336 int8 quantization of an ``EinsumDense`` with "..." (Keras fails). ``doc`` (the spec's document) places them at the key they are about."""
    out: list[Diagnostic] = []
    for layer in spec.layers.values():
        lt = LAYER_TYPES.get(layer.type)
        own = layer.kwargs.get("dtype")
        if lt is not None and not takes_policy(lt) and isinstance(own, str) and own in POLICIES:
            out.append(
                Diagnostic.at(
                    ERROR,
                    "MS330",
                    f"{_where(layer)} takes no dtype policy (`dtype: {own}`): the dtype of "
                    "its output follows from its other kwargs, and Keras takes its `dtype` "
                    "for that output dtype",
                    _at(doc, layer, ("dtype",)),
                    "remove `dtype:` from this layer; it computes the same under any policy",
                )
            )
        out += _own_quantize(spec, layer, doc)
        out += _held_quantize(layer, doc)
    out += _model_quantize(spec, doc)
    out += _half_outputs(spec, graph, skip_layers)
    return out


def _own_quantize(spec: Spec, layer: Layer, doc: Any) -> list[Diagnostic]:
    """MS331 and MS332 for a layer's own ``quantize: MODE``."""
    mode = layer.quantize
    if not isinstance(mode, str) or mode not in QUANTIZE_MODES:
        return []
    where = _at(doc, layer, ("quantize",))
    if layer.type in spec.custom:
        return [
            Diagnostic.at(
                ERROR,
                "MS331",
                f"Keras cannot quantize custom layer {_where(layer)} of type '{layer.type}': "
                f"only {_listed(QUANTIZE_MODES[mode])} layers implement {mode} quantization, "
                "and they refuse their subclasses",
                where,
                "leave `quantize:` off this layer",
            )
        ]
    if layer.type not in LAYER_TYPES:
        return []  # an unknown type: the schema says so
    problem = quantize_problem(layer.type, mode, "float32")
    if problem is not None:
        message, hint = problem
        if LAYER_TYPES[layer.type].nested or layer.type in HELD_QUANTIZABLE:
            hint += "; the model's `quantize:` reaches the layers it holds"
        message = message.replace(f"a `{layer.type}`", _where(layer), 1)
        return [Diagnostic.at(ERROR, "MS331", message, where, hint)]
    policy = layer_policy(spec, layer)
    problem = quantize_problem(layer.type, mode, policy)
    if problem is not None:
        message, hint = problem
        return [Diagnostic.at(ERROR, "MS332", f"{message}: {_where(layer)}", where, hint)]
    if ellipsis_problem(layer.type, mode, layer.kwargs):
        return [_ellipsis(layer, where, own=True)]
    return []


def _ellipsis(layer: Layer, where: Any, *, own: bool) -> Diagnostic:
    """MS336: int8 quantization of an EinsumDense whose equation has "..."."""
    reach = "" if own else "`quantize: int8` reaches "
    return Diagnostic.at(
        ERROR,
        "MS336",
        f"{reach}{_where(layer)}, whose equation "
        f"{layer.kwargs.get('equation')!r} has '...': Keras fails to quantize such an "
        "`EinsumDense` to int8 (a TypeError inside its quantize)",
        where,
        "write the equation with every axis named"
        + (", or leave `quantize:` off it" if own else ", or give it `quantize: null`"),
    )


def _listed(names: Any) -> str:
    quoted = [f"`{n}`" for n in sorted(names)]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _held_quantize(layer: Layer, doc: Any) -> list[Diagnostic]:
    """MS335: ``quantize:`` inside a wrapper's ``layer:`` or an RNN's ``cell:``."""
    out = []
    for keys, inner in held_specs(dict(layer.kwargs, type=layer.type)):
        if "quantize" not in inner:
            continue
        out.append(
            Diagnostic.at(
                ERROR,
                "MS335",
                f"`quantize:` on the `{inner.get('type')}` that {_where(layer)} holds: "
                "Keras's model.quantize decides the layers a layer holds from the model's "
                "`quantize:`, so a held layer cannot ask for a mode of its own",
                _at(doc, layer, (*keys, "quantize")),
                "remove it here, and quantize with the model's `quantize:`",
            )
        )
    return out


def _model_quantize(spec: Spec, doc: Any) -> list[Diagnostic]:
    """MS332 and MS333 for the model's ``quantize:``."""
    mode = spec.quantize
    if mode not in QUANTIZE_MODES:
        return []
    src = _source(doc, ("quantize",), spec.source)
    leaves = []
    half = []
    failing: list[Layer] = []
    for layer in spec.layers.values():
        if layer.quantize is False or (isinstance(layer.quantize, str) and layer.quantize != mode):
            continue  # not this layer (`quantize: null`), or its own mode: said there
        reached = quantized_leaves(spec, layer, mode)
        leaves += reached
        if layer.quantize is None and ellipsis_problem(layer.type, mode, layer.kwargs):
            failing.append(layer)
        if layer.quantize is None:  # one that asks for it itself has it said there
            half += [what for what, policy in reached if quantize_problem("Dense", mode, policy)]
    if not leaves:
        other = any(
            quantized_leaves(spec, layer, m)
            for m in QUANTIZE_MODES
            if m != mode
            for layer in spec.layers.values()
            if layer.quantize is None
        )
        return [
            Diagnostic.at(
                ERROR,
                "MS333",
                f"`quantize: {mode}` quantizes no layer: only {_listed(QUANTIZE_MODES[mode])} "
                f"layers implement {mode} quantization (also where a wrapper holds them, and "
                "in `MultiHeadAttention`), and this model has none that the model's "
                "`quantize:` reaches",
                src,
                "remove `quantize:`" + (", or use `quantize: int8`" if other else ""),
            )
        ]
    if failing:
        return [_ellipsis(layer, src, own=False) for layer in failing]
    if half:
        shown = ", ".join(half[:5]) + (f" and {len(half) - 5} more" if len(half) > 5 else "")
        return [
            Diagnostic.at(
                ERROR,
                "MS332",
                "Keras refuses int8 quantization of a layer that computes in float16, and "
                f"`quantize: int8` reaches {shown}",
                src,
                "use `dtype_policy: mixed_bfloat16` (or float32), give those layers "
                "`dtype: mixed_bfloat16` or `quantize: null`, or use `quantize: float8`",
            )
        ]
    return []


def _half_outputs(spec: Spec, graph: Any, skip_layers: Any) -> list[Diagnostic]:
    """MS334: a model output that is a softmax or sigmoid computed in half precision."""
    out = []
    seen = set()
    for output in spec.outputs:
        ref = output.tensor
        if graph is None or ref is None or ref.index is not None or ref.name in graph.broken:
            continue
        call = graph.producer.get(ref.name)
        layer = spec.layers.get(call.layer) if call is not None else None
        if layer is None or layer.name in skip_layers or layer.name in seen:
            continue
        act = final_activation(layer.type, layer.kwargs)
        if act not in SQUASHING:
            continue
        policy = layer_policy(spec, layer)
        inner = layer.kwargs.get("layer") if layer.type == "TimeDistributed" else None
        if isinstance(inner, dict):
            policy = _own_policy(inner, policy)
        dtype = compute_dtype(policy)
        if dtype not in HALF:
            continue
        seen.add(layer.name)
        out.append(
            Diagnostic.at(
                WARNING,
                "MS334",
                f"output '{output.name}' comes from {_where(layer)}, which computes its "
                f"{act} in {dtype} (dtype policy {policy}): probabilities near 0 and 1 "
                "lose their precision, and a loss reading them can overflow to inf or nan",
                layer,
                "give that layer `dtype: float32` (Keras's mixed precision guide keeps a "
                "model's last activation in float32)",
            )
        )
    return out
