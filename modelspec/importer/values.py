"""Keras config values -> the plain values a spec writes.

A spec names initializers, regularizers, constraints and activations; Keras's
config holds each as a serialized object (``{"class_name": "GlorotUniform",
"config": {...}}``). :func:`by_name` turns an object into its spec name when its
config is the one that name gives in Keras, and returns :class:`NotByName` (with the
object written out for the message) when it is not: a spec cannot say
``VarianceScaling(mode="fan_out")``. :func:`same_default` says whether a config
value means a catalogue kwarg's default, as Keras reads both.

The tables below hold Keras's defaults; ``tests/test_import.py`` checks each one
against Keras itself.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelspec.catalog.base import (
    ACTIVATION,
    ACTIVATIONS,
    INITIALIZER,
    INITIALIZER_CLASSES,
    INITIALIZER_OBJECTS,
    TUPLE_KWARGS,
    Kwarg,
    collapse,
)

# Class -> (the name a spec writes, the config that name gives, seed left out).
_VS_AXES = {"input_axes": None, "output_axes": None}
INITIALIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Constant": ("constant", {"value": 0.0}),
    "GlorotNormal": ("glorot_normal", _VS_AXES),
    "GlorotUniform": ("glorot_uniform", _VS_AXES),
    "HeNormal": ("he_normal", _VS_AXES),
    "HeUniform": ("he_uniform", _VS_AXES),
    "Identity": ("identity", {"gain": 1.0}),
    "LecunNormal": ("lecun_normal", _VS_AXES),
    "LecunUniform": ("lecun_uniform", _VS_AXES),
    "Ones": ("ones", {}),
    "Orthogonal": ("orthogonal", {"gain": 1.0}),
    "RandomNormal": ("random_normal", {"mean": 0.0, "stddev": 0.05}),
    "RandomUniform": ("random_uniform", {"minval": -0.05, "maxval": 0.05}),
    "TruncatedNormal": ("truncated_normal", {"mean": 0.0, "stddev": 0.05}),
    "VarianceScaling": (
        "variance_scaling",
        {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal", **_VS_AXES},
    ),
    "Zeros": ("zeros", {}),
}
# The named VarianceScaling variants are VarianceScaling with these arguments, so a
# VarianceScaling config equal to one of them is that initializer.
VARIANCE_SCALING_NAMES = {
    (1.0, "fan_avg", "truncated_normal"): "glorot_normal",
    (1.0, "fan_avg", "uniform"): "glorot_uniform",
    (2.0, "fan_in", "truncated_normal"): "he_normal",
    (2.0, "fan_in", "uniform"): "he_uniform",
    (1.0, "fan_in", "truncated_normal"): "lecun_normal",
    (1.0, "fan_in", "uniform"): "lecun_uniform",
}
REGULARIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "L1": ("l1", {"l1": 0.01}),
    "L2": ("l2", {"l2": 0.01}),
    "OrthogonalRegularizer": ("orthogonal_regularizer", {"factor": 0.01, "mode": "rows"}),
}
CONSTRAINTS: dict[str, tuple[str, dict[str, Any]]] = {
    "MaxNorm": ("max_norm", {"max_value": 2, "axis": 0}),
    "MinMaxNorm": ("min_max_norm", {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}),
    "NonNeg": ("non_neg", {}),
    "UnitNorm": ("unit_norm", {"axis": 0}),
}
# Metric classes a spec names, and the config (name and dtype left out) that name gives.
METRIC_DEFAULTS: dict[str, dict[str, Any]] = {
    "AUC": {"num_thresholds": 200, "curve": "ROC", "summation_method": "interpolation",
            "multi_label": False, "num_labels": None, "label_weights": None, "from_logits": False},
    "Accuracy": {},
    "BinaryAccuracy": {"threshold": 0.5},
    "CategoricalAccuracy": {},
    "F1Score": {"average": None, "threshold": None},
    "MeanAbsoluteError": {},
    "MeanSquaredError": {},
    "Precision": {"thresholds": None, "top_k": None, "class_id": None},
    "R2Score": {"class_aggregation": "uniform_average", "num_regressors": 0},
    "Recall": {"thresholds": None, "top_k": None, "class_id": None},
    "RootMeanSquaredError": {},
    "SparseCategoricalAccuracy": {},
    "SparseTopKCategoricalAccuracy": {"k": 5},
    "TopKCategoricalAccuracy": {"k": 5},
}  # fmt: skip
KINDS = {
    "initializer": ("keras.initializers", INITIALIZERS),
    "regularizer": ("keras.regularizers", REGULARIZERS),
    "constraint": ("keras.constraints", CONSTRAINTS),
}
# Where Keras puts plain functions (activations, loss functions) it serializes.
FUNCTION_MODULES = ("builtins", "keras.activations", "keras.losses", "keras.metrics")


@dataclass(frozen=True, slots=True)
class NotByName:
    """A serialized object a spec cannot name; ``shown`` writes it out for a message."""

    shown: str
    reason: str


def f32(value: float) -> float:
    """``value`` rounded to float32, as Keras stores variables and some factors.

    Past float32's range this is ``inf`` (or OverflowError, on some Pythons): callers
    check that the result is finite before comparing it.
    """
    return struct.unpack("f", struct.pack("f", value))[0]


def same_number(a: Any, b: Any) -> bool:
    """Equal, or equal once both are rounded to float32 (``0.009999999776482582 == 0.01``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if a == b:
        return True
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if not (math.isfinite(a) and math.isfinite(b)):
            return False
        try:
            fa, fb = f32(float(a)), f32(float(b))
        except OverflowError:
            return False
        return math.isfinite(fa) and fa == fb
    return False


def short_float(value: float) -> float:
    """The shortest decimal that is the same float32: ``0.0010000000474974513 -> 0.001``.

    Keras keeps an optimizer's learning rate in a float32 variable, so its config
    shows the float32 value; a person wrote the short one.
    """
    if not math.isfinite(value) or value == 0:
        return value
    try:
        target = f32(value)
    except OverflowError:
        return value
    if not math.isfinite(target):  # not a float32 at all: nothing to shorten
        return value
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if f32(candidate) == target:
            return candidate
    return value


def _config_is(config: Mapping[str, Any], defaults: Mapping[str, Any]) -> bool:
    """Whether ``config`` (seed left out) holds only ``defaults``' keys, at their values.

    A key an older Keras does not write counts as its default.
    """
    return all(k in defaults and same_number(v, defaults[k]) for k, v in config.items())


def show(obj: Mapping[str, Any]) -> str:
    """A serialized object as a call: ``VarianceScaling(scale=2.0, mode='fan_out')``."""
    config = obj.get("config")
    if isinstance(config, Mapping):
        args = ", ".join(f"{k}={v!r}" for k, v in config.items() if v is not None and k != "seed")
    else:
        args = repr(config) if config is not None else ""
    return f"{obj.get('class_name', '?')}({args})"


def function_name(value: Any) -> str | None:
    """A plain Keras function as Keras serializes it (a name, or a ``function`` object)."""
    if isinstance(value, str):
        return value
    if (
        isinstance(value, Mapping)
        and value.get("class_name") == "function"
        and isinstance(value.get("config"), str)
        and value.get("module") in FUNCTION_MODULES
    ):
        return value["config"]
    return None


def activation(value: Any) -> str | None | NotByName:
    """An activation's spec name; ``None`` for none."""
    if value is None:
        return None
    name = function_name(value)
    if name in ACTIVATIONS:
        return name
    if name is not None:
        return NotByName(repr(name), "it is not a Keras activation the spec can name")
    if isinstance(value, Mapping):
        return NotByName(show(value), "a spec names activations; this one is a custom object")
    return NotByName(repr(value), "a spec names activations")


def by_name(kind: str, value: Any) -> str | dict[str, Any] | None | NotByName:
    """An initializer, regularizer or constraint config as its spec name, or :class:`NotByName`.

    An initializer with other arguments than its name's becomes an initializer object
    (``{type: VarianceScaling, mode: fan_out}``) where the spec can write one.

    ``None`` stays ``None`` (no regularizer, no constraint). A plain string is Keras's
    own by-name form and is kept as it is.
    """
    if value is None or isinstance(value, str):
        return value
    module, table = KINDS[kind]
    if not isinstance(value, Mapping) or not isinstance(value.get("config", {}), Mapping):
        return NotByName(repr(value), f"it is not a serialized Keras {kind}")
    cls = value.get("class_name")
    if not isinstance(cls, str):
        return NotByName(repr(cls)[:60], f"it is not a serialized Keras {kind}: no class name")
    shown = show(value)
    if value.get("module") != module or value.get("registered_name") not in (None, cls):
        return NotByName(shown, f"it is not one of Keras's own {kind}s")
    config = {k: v for k, v in value.get("config", {}).items() if k != "seed"}
    if kind == "initializer" and cls == "VarianceScaling":
        key = (
            config.get("scale", 1.0),
            config.get("mode", "fan_in"),
            config.get("distribution", "truncated_normal"),
        )
        rest = {k: v for k, v in config.items() if k not in ("scale", "mode", "distribution")}
        if _config_is(rest, _VS_AXES):
            for (scale, mode, dist), name in VARIANCE_SCALING_NAMES.items():
                if same_number(key[0], scale) and key[1:] == (mode, dist):
                    return name
    entry = table.get(cls)
    if entry is None:
        return NotByName(shown, f"the spec has no name for the {kind} `{cls}`")
    name, defaults = entry
    if kind == "initializer" and not _config_is(config, defaults):
        return initializer_object(cls, config, shown)
    if not _config_is(config, defaults):
        return NotByName(
            shown,
            f"a spec names {kind}s, and `{name}` means {show({'class_name': cls, 'config': defaults})}",
        )
    return name


def initializer_object(
    cls: str, config: Mapping[str, Any], shown: str
) -> dict[str, Any] | NotByName:
    """An initializer with other arguments than its name's, as ``{type: Class, **kwargs}``
    (kwargs at their defaults left out), when the spec's initializer objects can hold it."""
    kwargs = {k.name: k for k in INITIALIZER_OBJECTS.get(cls, ())}
    out: dict[str, Any] = {"type": cls}
    for key, value in config.items():
        if key in _VS_AXES and cls == "VarianceScaling" and value is None:
            continue
        kwarg = kwargs.get(key)
        if kwarg is None:
            return NotByName(
                shown, f"a spec's `{cls}` takes only {', '.join(kwargs) or 'no arguments'}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return NotByName(shown, f"its `{key}` is not a plain value")
        if not same_number(value, kwarg.default):
            out[key] = value
    return out


def initializer_class(name: str) -> str | None:
    """The Keras class a spec's initializer name resolves to (``uniform`` -> RandomUniform)."""
    return INITIALIZER_CLASSES.get(name)


def same_default(kwarg: Kwarg, value: Any) -> bool:
    """Whether ``value`` means the kwarg's default (as Keras reads both)."""
    if kwarg.required:
        return False
    default = kwarg.default
    if kwarg.schema is INITIALIZER and isinstance(value, str) and isinstance(default, str):
        cls = initializer_class(value)
        return cls is not None and cls == initializer_class(default)
    if kwarg.schema is ACTIVATION and {value, default} <= {None, "linear"}:
        return True
    if kwarg.name in TUPLE_KWARGS:
        return collapse(value) == collapse(default)
    if isinstance(default, int) and isinstance(value, list) and value:
        return all(v == default for v in value)
    if isinstance(value, list) and isinstance(default, list):
        return len(value) == len(default) and all(same_number(a, b) for a, b in zip(value, default))
    return same_number(value, default)


def is_float32(dtype: Any, name: str = "float32") -> bool:
    """Whether a layer's dtype (a name, or a DTypePolicy) computes in float32 (or in
    ``name``: the dtype Keras gives the layer, for those whose default is not float32)."""
    if dtype is None or dtype == name:
        return True
    return (
        isinstance(dtype, Mapping)
        and dtype.get("class_name") == "DTypePolicy"
        and isinstance(dtype.get("config"), Mapping)
        and dtype["config"].get("name") == name
    )


def policy(dtype: Any) -> str:
    """A layer's dtype (a name, or a DTypePolicy) for a message: ``'mixed_float16'``,
    ``'int8_from_float32'``."""
    config = dtype.get("config") if isinstance(dtype, Mapping) else None
    if isinstance(config, Mapping) and isinstance(config.get("name"), str):
        return short(config["name"])
    if isinstance(config, Mapping) and isinstance(config.get("mode"), str):
        return short(f"{config['mode']}_from_{config.get('source_name')}")
    return short(dtype)


# Keras's dtype policy classes, as a saved config names them, and the quantized ones'
# config keys a spec leaves to Keras (at these values).
POLICY_CLASSES = frozenset({"DTypePolicy", "FloatDTypePolicy", "Policy"})  # Policy: Keras 2
QUANTIZED_CLASSES: Mapping[str, Mapping[str, Any]] = {
    "QuantizedDTypePolicy": {},
    "QuantizedFloat8DTypePolicy": {"amax_history_length": 1024},
}


# The ``quantization_config`` a layer's saved config holds once ``model.quantize(mode)``
# quantized it with Keras's default configuration (newer Keras writes it; older none).
QUANTIZATION_CONFIGS: Mapping[str, Mapping[str, Any]] = {
    "int8": {
        "module": "keras.quantizers",
        "class_name": "Int8QuantizationConfig",
        "config": {
            "weight_quantizer": None,
            "activation_quantizer": {
                "module": "keras.quantizers",
                "class_name": "AbsMaxQuantizer",
                "config": {"value_range": [-127, 127], "epsilon": 1e-07, "output_dtype": "int8"},
                "registered_name": None,
            },
        },
        "registered_name": None,
    },
    "float8": {
        "module": "keras.quantizers",
        "class_name": "Float8QuantizationConfig",
        "config": {},
        "registered_name": None,
    },
}


def _unshared(value: Any) -> Any:
    """A serialized object without Keras's ``shared_object_id`` marks, at any depth."""
    if isinstance(value, Mapping):
        return {k: _unshared(v) for k, v in value.items() if k != "shared_object_id"}
    if isinstance(value, list):
        return [_unshared(v) for v in value]
    return value


def default_quantization(value: Any, mode: str | None) -> bool:
    """Whether a layer's saved ``quantization_config`` is what ``model.quantize(mode)``
    gives (none for a layer that is not quantized)."""
    if value is None:
        return True
    return mode in QUANTIZATION_CONFIGS and _same(_unshared(value), QUANTIZATION_CONFIGS[mode])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return same_number(a, b)


def read_policy(dtype: Any) -> tuple[str | None, str] | None:
    """A layer's saved dtype -> ``(quantization mode or None, dtype policy)``, as a spec
    writes them (``quantize:`` and ``dtype:``); None when a spec cannot write it (a
    policy outside :data:`~modelspec.catalog.precision.POLICIES`, a mode outside
    :data:`~modelspec.catalog.precision.QUANTIZE_MODES`, a custom policy class).

    >>> read_policy({"class_name": "QuantizedDTypePolicy",
    ...              "config": {"mode": "int8", "source_name": "mixed_bfloat16"}})
    ('int8', 'mixed_bfloat16')
    >>> read_policy("int4_from_float32") is None
    True
    """
    from modelspec.catalog.precision import POLICIES, QUANTIZE_MODES, split_quantized

    if dtype is None:
        return None, "float32"
    if isinstance(dtype, str):
        name = dtype
    elif isinstance(dtype, Mapping) and isinstance(dtype.get("config"), Mapping):
        cls, config = dtype.get("class_name"), dtype["config"]
        module = dtype.get("module")
        if not isinstance(cls, str):
            return None
        if not (module is None or (isinstance(module, str) and module.startswith("keras"))):
            return None
        if dtype.get("registered_name") not in (None, cls):
            return None
        if cls in POLICY_CLASSES:
            name = config.get("name")
        elif cls in QUANTIZED_CLASSES:
            extra = QUANTIZED_CLASSES[cls]
            if any(k not in ("mode", "source_name", "name", *extra) for k in config) or any(
                k in config and not same_number(config[k], v) for k, v in extra.items()
            ):
                return None
            mode, source = config.get("mode"), config.get("source_name", "float32")
            if not isinstance(mode, str) or not isinstance(source, str):
                return None
            name = f"{mode}_from_{source}"
        else:
            return None
    else:
        return None
    if not isinstance(name, str):
        return None
    mode, source = split_quantized(name)
    if source not in POLICIES or (mode is not None and mode not in QUANTIZE_MODES):
        return None
    return mode, source


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
