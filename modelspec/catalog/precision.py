"""Precision: Keras's dtype policies and quantization modes, as a spec names them.

A dtype policy says in what a layer computes and in what it keeps its weights:
``float32`` both in float32; ``mixed_bfloat16`` computes in bfloat16 and keeps
float32 weights (Keras's mixed precision); ``bfloat16`` both in bfloat16. A spec sets
one for the model (``dtype_policy:``) and may give a layer another (``dtype:``), as
``keras.config.set_dtype_policy`` and a layer's ``dtype=`` do.

Quantization (``quantize: int8``) is Keras's ``layer.quantize(mode)`` after the model
is built: only the layer classes below implement it, each for some modes.

Nothing here imports Keras; ``tests/test_precision.py`` checks these facts against it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from modelspec.catalog.base import LAYER_TYPES

# The dtype policies a spec may name, as keras.dtype_policies.get knows them, with the
# dtypes they compute in and keep weights in.
POLICIES: Mapping[str, tuple[str, str]] = {
    "float32": ("float32", "float32"),
    "mixed_bfloat16": ("bfloat16", "float32"),
    "mixed_float16": ("float16", "float32"),
    "bfloat16": ("bfloat16", "bfloat16"),
    "float16": ("float16", "float16"),
    "float64": ("float64", "float64"),
}
DEFAULT_POLICY = "float32"
# Dtypes whose range or precision is too small for a softmax or sigmoid output read by a
# loss (Keras's mixed precision guide: keep the model's last activation in float32).
HALF = frozenset({"float16", "bfloat16"})

# Keras's quantization modes a spec may ask for, and the layer classes that implement
# each (their ``quantize`` method; every other layer raises NotImplementedError, and
# Keras's ``model.quantize`` passes over it with a warning).
QUANTIZE_MODES: Mapping[str, frozenset[str]] = {
    "int8": frozenset({"Dense", "EinsumDense", "Embedding"}),
    "float8": frozenset({"Dense", "EinsumDense"}),
}
# Layers that hold quantizable layers Keras builds themselves: the names of those
# sublayers (their weights' paths start with them), by their class. ``model.quantize``
# walks every layer of the model, these included, and quantizes each one alone; the
# gate exists only with ``use_gate: true`` (see :func:`quantizable_parts`).
_PROJECTIONS = {
    "query": "EinsumDense",
    "key": "EinsumDense",
    "gate": "EinsumDense",
    "value": "EinsumDense",
    "attention_output": "EinsumDense",
}
HELD_QUANTIZABLE: Mapping[str, Mapping[str, str]] = {
    "MultiHeadAttention": _PROJECTIONS,
    "GroupQueryAttention": _PROJECTIONS,
}
# keras.src.utils.dtype_utils.DTYPE_TO_SIZE: the bits of one value of each dtype, as
# Keras's model.summary() counts a weight's bytes.
DTYPE_BITS: Mapping[str, int] = {
    **{f"float{i}": i for i in (16, 32, 64)},
    **{f"int{i}": i for i in (8, 16, 32, 64)},
    **{f"uint{i}": i for i in (8, 16, 32, 64)},
    "bfloat16": 16,
    "bool": 1,
}
# Weights Keras makes in a dtype of their own whatever the layer's policy, by layer
# class and path: Normalization's ``count`` is ``dtype="int"``, which Keras reads as
# int64 on TensorFlow (int32 on JAX and torch: 4 bytes fewer in their summary).
FIXED_WEIGHT_DTYPES: Mapping[str, Mapping[str, str]] = {
    "Normalization": {"count": "int64"},
}
# QuantizedFloat8DTypePolicy.default_amax_history_length.
AMAX_HISTORY_LENGTH = 1024


def compute_dtype(policy: str) -> str:
    """The dtype a layer under ``policy`` computes in: ``mixed_bfloat16`` -> ``bfloat16``."""
    return POLICIES[policy][0]


def variable_dtype(policy: str) -> str:
    """The dtype a layer under ``policy`` keeps its weights in: ``mixed_bfloat16`` -> ``float32``."""
    return POLICIES[policy][1]


def quantized_policy(mode: str, policy: str) -> str:
    """The policy Keras gives a layer it quantized: ``int8_from_mixed_bfloat16``."""
    return f"{mode}_from_{policy}"


def split_quantized(name: str) -> tuple[str | None, str]:
    """A policy name as Keras writes it -> ``(mode, source policy)``:
    ``"int8_from_float32"`` -> ``("int8", "float32")``; ``"float32"`` -> ``(None, "float32")``."""
    mode, sep, source = name.partition("_from_")
    return (mode, source) if sep else (None, name)


def quantize_problem(type_name: str, mode: str, policy: str) -> tuple[str, str] | None:
    """Why Keras cannot quantize a layer of ``type_name`` under ``policy`` to ``mode``
    (the rule, and a hint), or None when it can."""
    can = QUANTIZE_MODES[mode]
    if type_name not in can:
        others = [m for m, types in QUANTIZE_MODES.items() if type_name in types]
        hint = (
            f"`quantize: {others[0]}` works on `{type_name}`"
            if others
            else "leave `quantize:` off this layer"
        )
        return (
            f"Keras cannot quantize a `{type_name}` to {mode}: only "
            f"{_listed(sorted(can))} layers implement it",
            hint,
        )
    if mode == "int8" and compute_dtype(policy) == "float16":
        return (
            f"Keras refuses int8 quantization of a layer that computes in float16 "
            f"(its dtype policy is {policy})",
            "use `mixed_bfloat16` (or float32) for this layer, or `quantize: float8`",
        )
    return None


def ellipsis_problem(type_name: str, mode: str, kwargs: Mapping[str, Any]) -> bool:
    """Whether Keras fails to quantize this layer although its class implements the mode:
    an ``EinsumDense`` whose equation has "..." to int8 (a TypeError inside Keras 3.15's
    quantize, which reads the rank of the input where it has an int; see
    :func:`einsum_scale_shape`)."""
    equation = kwargs.get("equation")
    return type_name == "EinsumDense" and mode == "int8" and "..." in str(equation)


def _listed(names: list[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def takes_policy(layer_type: object) -> bool:
    """Whether a catalogue layer type computes under a dtype policy: every one whose
    output dtype follows its compute dtype (``LayerType.dtype`` "float" or "same"), not
    the preprocessing layers whose output dtype their kwargs fix (lookups' indices)."""
    return not callable(getattr(layer_type, "dtype", None))


def layer_policy(spec: Any, layer: Any) -> str:
    """The dtype policy of an IR layer of ``spec``: its ``dtype:``, else the model's
    ``dtype_policy`` (a layer whose output dtype its kwargs fix has none: float32)."""
    own = layer.kwargs.get("dtype")
    if isinstance(own, str) and own in POLICIES:
        return own
    lt = LAYER_TYPES.get(layer.type)
    if lt is not None and not takes_policy(lt):
        return DEFAULT_POLICY
    return spec.dtype_policy


def layer_quantize(spec: Any, layer: Any) -> str | None:
    """The quantization mode an IR layer of ``spec`` asks for: its own ``quantize:``
    (None for ``quantize: null``), else the model's ``quantize``. Whether Keras can
    quantize it, or the layers it holds, is the precision pass's to say."""
    if layer.quantize is False:
        return None
    if isinstance(layer.quantize, str):
        return layer.quantize
    return spec.quantize


# --- weights and their dtypes, before and after quantization ----------------------------


class TypedWeight(NamedTuple):
    """One weight of a layer with its dtype: ``(path, shape, dtype, trainable)``, as
    Keras's ``(v.path, v.shape, v.dtype, v.trainable)`` ends for it (the path under the
    layer, as :class:`modelspec.catalog.base.Weight`)."""

    path: str
    shape: tuple[int, ...]
    dtype: str
    trainable: bool = True

    @property
    def bytes(self) -> float:
        """Its size as ``model.summary()`` counts it: values times the dtype's bits / 8."""
        return prod_of(self.shape) * DTYPE_BITS[self.dtype] / 8


def prod_of(shape: tuple[int, ...]) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


class QuantizablePart(NamedTuple):
    """A layer Keras's ``model.quantize`` may quantize, inside a layer of a spec or the
    layer itself: ``prefix`` of its weights' paths under the spec's layer (``""`` for the
    layer itself, ``"query/"``, ``"tdd/"``), its class, its name (what a ``filters``
    callable sees as ``layer.name``), its dtype policy, and for an EinsumDense its
    equation (its int8 scale's shape follows it)."""

    prefix: str
    type: str
    name: str
    policy: str
    equation: str | None = None


def quantizable_parts(
    type_name: str, kw: Mapping[str, Any], inputs: Any, name: str, policy: str
) -> list[QuantizablePart]:
    """The layers Keras can quantize in a layer of ``type_name`` named ``name`` under
    ``policy``, with resolved kwargs ``kw`` (held layers named, as
    :meth:`LayerType.with_held_names` gives them) and first-call input shapes ``inputs``:
    itself when its class implements ``quantize`` (Dense, EinsumDense, Embedding: not
    their subclasses, which Keras refuses), an attention layer's projections, and,
    at any depth, the layers a wrapper holds."""
    every = set().union(*QUANTIZE_MODES.values())
    if type_name in every:
        eq = kw.get("equation") if type_name == "EinsumDense" else None
        return [QuantizablePart("", type_name, name, policy, eq)]
    if type_name in HELD_QUANTIZABLE:
        return [
            QuantizablePart(f"{sub}/", cls, sub, policy, eq)
            for sub, cls, eq in _attention_projections(type_name, kw, inputs)
        ]
    lt = LAYER_TYPES.get(type_name)
    if lt is None:
        return []
    out = []
    for held, inner, spec, sub_policy in held_layers(lt, kw, policy):
        sub_kw = inner.resolve({k: v for k, v in spec.items() if k not in ("type", "name")})
        for part in quantizable_parts(inner.name, sub_kw, inputs, held, sub_policy):
            out.append(part._replace(prefix=f"{held}/{part.prefix}"))
    return out


def _attention_projections(type_name: str, kw: Mapping[str, Any], inputs: Any):
    """``(name, class, equation)`` of an attention layer's EinsumDense projections, as
    its ``build`` makes them (keras/src/layers/attention/multi_head_attention.py,
    ``_build_proj_equation``; grouped_query_attention.py writes its equations out)."""
    names = ["query", "key", *(["gate"] if kw.get("use_gate") else []), "value"]
    names.append("attention_output")
    if type_name == "GroupQueryAttention":
        eqs = {"query": "bqm,muh->bquh", "key": "bkm,mvh->bkvh", "gate": "bqm,muh->bquh",
               "value": "bkm,mvh->bkvh", "attention_output": "bquh,uhm->bqm"}  # fmt: skip
        return [(n, "EinsumDense", eqs[n]) for n in names]
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) > 2 else value
    out_shape = kw.get("output_shape")
    out_dims = 1 if not out_shape else (1 if isinstance(out_shape, int) else len(out_shape))
    ranks = {"query": len(query), "key": len(key), "gate": len(query), "value": len(value)}
    eqs = {n: _proj_equation(r - 1, 1, 2) for n, r in ranks.items()}
    eqs["attention_output"] = _proj_equation(len(query) - 1, 2, out_dims)
    return [(n, "EinsumDense", eqs[n]) for n in names]


def _proj_equation(free_dims: int, bound_dims: int, output_dims: int) -> str:
    """Keras's ``_build_proj_equation`` (multi_head_attention.py): its equation."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    free = letters[:free_dims]
    bound = letters[free_dims : free_dims + bound_dims]
    out = letters[free_dims + bound_dims : free_dims + bound_dims + output_dims]
    return f"{free}{bound},{bound}{out}->{free}{out}"


def einsum_scale_shape(equation: str, kernel_shape: tuple[int, ...], input_rank: int) -> tuple:
    """The shape of an int8-quantized EinsumDense's ``kernel_scale``: Keras's
    ``EinsumDense._get_kernel_scale_shape`` (per channel) on what
    ``_analyze_quantization_info`` (keras/src/layers/core/einsum_dense.py) derives from
    the equation: the kernel's shape with its reduced axes (those not in the output)
    set to 1, transposed to the output's order, with 1s for the output axes the kernel
    lacks. Ported line by line, quirks included (an index left over from an earlier
    loop). ``ValueError`` for an equation with "...": Keras 3.15 passes the input's rank
    where it wants its shape and fails with a TypeError, so int8 quantization of such a
    layer does not work."""
    if "..." in equation:
        raise ValueError(
            f"Keras cannot quantize an EinsumDense with the equation '{equation}' to int8: "
            "its quantization fails on an equation with '...'"
        )
    del input_rank  # only an equation with "..." reads it
    match = re.match("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", equation)
    if match is None:
        raise ValueError(f"not an einsum equation Keras takes: '{equation}'")
    input_spec, weight_spec, output_spec = match.groups()
    input_reduced_axes, weight_reduced_axes = [], []
    index = -1
    for i, label in enumerate(input_spec):
        index = output_spec.find(label)
        if index == -1:
            input_reduced_axes.append(i)
    for i, label in enumerate(weight_spec):
        index = output_spec.find(label)
        if index == -1:
            weight_reduced_axes.append(i)
    input_expand_axes = [i for i, c in enumerate(output_spec) if input_spec.find(c) == -1]
    weight_expand_axes = [i for i, c in enumerate(output_spec) if weight_spec.find(c) == -1]
    input_transpose_axes = [input_spec.find(c) for c in output_spec if c in input_spec]
    weight_transpose_axes = [weight_spec.find(c) for c in output_spec if c in weight_spec]
    weight_squeeze_axes = []
    for ori_index in input_reduced_axes:
        try:
            index = input_expand_axes.pop(0)
        except IndexError:
            pass
        input_transpose_axes.insert(index, ori_index)
    for ori_index in weight_reduced_axes:
        try:
            index = weight_expand_axes.pop(0)
        except IndexError:
            weight_squeeze_axes.append(ori_index)
        weight_transpose_axes.insert(index, ori_index)
    # _get_kernel_scale_shape, per channel:
    scale = list(kernel_shape)
    for ax in weight_reduced_axes:
        scale[ax] = 1
    scale = [scale[a] for a in weight_transpose_axes]
    for a in sorted(weight_expand_axes):
        scale.insert(a, 1)
    for a in sorted(weight_squeeze_axes, reverse=True):
        scale.pop(a)
    return tuple(scale)


def quantized_weights(
    type_name: str,
    kw: Mapping[str, Any],
    weights: list[TypedWeight],
    mode: str,
    *,
    equation: str | None = None,
    input_rank: int = 0,
) -> list[TypedWeight]:
    """The weights of a layer of ``type_name`` after Keras's ``layer.quantize(mode)``,
    from its ``weights`` before (paths under the layer itself, as a quantizable class
    names them: ``kernel``, ``bias``, ``embeddings``), as keras/src/layers/core's
    ``quantize`` and ``_int8_build``/``_float8_build`` make them:

    - int8: the kernel (Embedding: the embeddings) becomes int8 and non-trainable, with
      a non-trainable scale in the layer's variable dtype: Dense ``kernel_scale``
      ``(units,)``; Embedding ``embeddings_scale`` ``(input_dim,)``; EinsumDense
      ``kernel_scale`` shaped by its equation (:func:`einsum_scale_shape`);
    - float8 (Dense, EinsumDense): every weight stays, and six float32 trainable scales
      and histories come after them (``inputs_scale`` ``()``, ``inputs_amax_history``
      ``(1024,)``, then the same for ``kernel`` and ``outputs_grad``).

    The order is Keras's ``layer.weights`` after quantize. ``kw`` are the layer's
    resolved kwargs (its ``trainable: false`` freezes what quantize adds too)."""
    frozen = kw.get("trainable", True) is False
    if mode == "float8":
        extra = []
        for what in ("inputs", "kernel", "outputs_grad"):
            extra.append(TypedWeight(f"{what}_scale", (), "float32", not frozen))
            extra.append(
                TypedWeight(f"{what}_amax_history", (AMAX_HISTORY_LENGTH,), "float32", not frozen)
            )
        return [*weights, *extra]
    main = "embeddings" if type_name == "Embedding" else "kernel"
    found = next((w for w in weights if w.path == main), None)
    if found is None:
        raise ValueError(f"a `{type_name}` without a `{main}` weight: {weights!r}")
    if type_name == "Dense":
        scale: tuple = (kw["units"],)
    elif type_name == "Embedding":
        scale = (kw["input_dim"],)
    else:
        scale = einsum_scale_shape(equation or kw["equation"], found.shape, input_rank)
    rest = [w for w in weights if w.path != main]
    return [
        *rest,
        TypedWeight(main, found.shape, "int8", False),
        TypedWeight(f"{main}_scale", scale, found.dtype, False),
    ]


def held_layers(lt: Any, kw: Mapping[str, Any], policy: str) -> Iterator[tuple]:
    """The layers a layer of type ``lt`` with kwargs ``kw`` (its held layers named, as
    ``LayerType.with_held_names`` gives them) holds, under its dtype policy ``policy``:
    ``(name, type, spec, policy)`` each, its policy its own ``dtype`` or the holder's."""
    for _, spec in lt.held(kw):
        inner = LAYER_TYPES.get(spec.get("type"))
        held = spec.get("name")
        if inner is None or not isinstance(held, str):
            continue
        own = spec.get("dtype")
        yield held, inner, spec, own if isinstance(own, str) and own in POLICIES else policy


def held_specs(spec: Mapping[str, Any], keys: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    """Every layer spec that the layer ``spec`` (with its ``type``) holds, at any depth,
    with the keys that lead to it: ``(("layer",), {...})``."""
    lt = LAYER_TYPES.get(spec.get("type")) if isinstance(spec.get("type"), str) else None
    for sub_keys, inner in lt.held(spec) if lt is not None else ():
        yield (*keys, *sub_keys), inner
        yield from held_specs(inner, (*keys, *sub_keys))
