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

from collections.abc import Mapping
from typing import Any

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
# Layers that hold quantizable layers Keras builds themselves: the paths of their
# weights that ``model.quantize`` changes, by the class of the sublayer that holds them.
_ATTENTION_DENSE: Mapping[str, str] = {
    "query": "EinsumDense",
    "key": "EinsumDense",
    "value": "EinsumDense",
    "attention_output": "EinsumDense",
}
HELD_QUANTIZABLE: Mapping[str, Mapping[str, str]] = {
    "MultiHeadAttention": _ATTENTION_DENSE,
    "GroupQueryAttention": _ATTENTION_DENSE,
}


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
