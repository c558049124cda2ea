"""The building blocks of the layer catalogue.

A :class:`LayerType` describes one Keras layer class the way modelspec needs it:

- ``kwargs``: the constructor keywords a spec may set, each with a JSON Schema
  fragment, its Keras default and a one-line description. The JSON Schema, the
  editor hover text, the emitters and the importer all read this one list.
- ``shape``: ``shape(kw, inputs) -> Shape | list[Shape]``. ``kw`` holds every kwarg
  with defaults filled in, ``inputs`` the input shapes (batch dimension first,
  ``None`` for unknown). A rule raises :class:`ShapeError` when the inputs do not
  fit the layer.
- ``params``: ``params(kw, inputs) -> (trainable, non_trainable)``, the number of
  scalars in the weights Keras creates for that call.
- ``weights``: ``weights(kw, inputs) -> [Weight, ...]``, those weights one by one:
  each one's path under the layer as Keras names it (``kernel``,
  ``forward_lstm/lstm_cell/kernel``), its shape and whether it is trainable. Their
  sizes add up to ``params``.

Example::

    >>> from modelspec.catalog import get
    >>> dense = get("Dense")
    >>> kw = dense.resolve({"units": 8})
    >>> dense.shape(kw, [(None, 4)]), dense.params(kw, [(None, 4)])
    ((None, 8), (40, 0))
    >>> [(w.path, w.shape) for w in dense.weights(kw, [(None, 4)])]
    [('kernel', (4, 8)), ('bias', (8,))]

Nothing here imports Keras: the rules are plain arithmetic, checked against Keras
itself by ``tests/test_conformance.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Dim = int | None
Shape = tuple[Dim, ...]
ShapeOut = Shape | list  # a shape, or a list of shapes for multi-output calls

LAYER_REF = "#/$defs/layer"  # the JSON Schema of a layer, for kwargs that hold one
# Keras keeps sizes and counts in int64: a dimension, or a layer's or the model's
# parameter count, past this is no model (MS308, MS309), and nothing is computed from it.
MAX_DIM = 2**63 - 1
REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()


class ShapeError(Exception):
    """An input shape does not fit a layer.

    ``message`` states the rule and the value without naming the layer; the shape
    pass prefixes "`Dense` 'fc'". It may hold ``{0}``, ``{1}``, ... placeholders for
    the inputs listed in ``operands`` (indices into the call's inputs), which the
    pass fills with "(None, 64) from 'far'". ``code`` is the diagnostic code:
    ``MS301`` wrong rank, ``MS302`` wrong or unknown size, ``MS303`` merge inputs
    that do not fit together, ``MS304`` a kwarg that does not fit the input (an
    axis out of range, a target shape of the wrong size), ``MS305`` wrong number
    of inputs.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "MS302",
        hint: str | None = None,
        operands: tuple[int, ...] = (),
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint
        self.operands = operands

    def render(self, inputs: Sequence[Shape], names: Sequence[str] | None = None) -> str:
        """The message with each operand written as its shape and, given names, its source."""
        if not self.operands:
            return self.message
        parts = []
        for i in self.operands:
            part = fmt_shape(inputs[i])
            if names is not None:
                part += f" from '{names[i]}'"
            parts.append(part)
        return self.message.format(*parts)

    def __str__(self) -> str:
        return self.message


class SizeOverflow(ShapeError):
    """A product of sizes past :data:`MAX_DIM` (MS308; the shape pass makes it MS309
    when it came from a parameter rule)."""

    def __init__(self) -> None:
        super().__init__(
            "would make a size larger than 2**63 - 1: Keras keeps sizes in int64",
            code="MS308",
            hint="check the input shape and the layer's sizes",
        )


@dataclass(frozen=True, slots=True)
class Kwarg:
    """One constructor keyword of a Keras layer."""

    name: str
    schema: Mapping[str, Any]
    default: Any = REQUIRED
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


# --- what Keras writes in a saved config -----------------------------------------

# Config keys Keras writes that the catalogue leaves out, with the value that means
# "not used". Any other value is an error: it would change the model.
IGNORED_KWARGS: dict[str, Any] = {
    "quantization_config": None,
    "lora_rank": None,
    "lora_alpha": None,
    "rms_scaling": False,
    "zero_output_for_mask": False,
}
# Of those, the ones a wrapper (Bidirectional, TimeDistributed) sets on the layer it
# wraps: a wrapped layer's config may hold them at any value.
SET_BY_WRAPPERS = frozenset({"zero_output_for_mask"})
# What keras.layers.Layer writes for every layer, at its defaults: a custom layer's
# kwargs leave them out.
BASE_LAYER_DEFAULTS: dict[str, Any] = {"trainable": True, "activity_regularizer": None,
                                       "autocast": True}  # fmt: skip
# Call arguments a spec leaves to Keras, with the values that mean "as by default".
IGNORED_CALL_KWARGS: dict[str, tuple[Any, ...]] = {
    "training": (None, False),  # recorded at build time; fit and predict override it
    "return_attention_scores": (None, False),
    "use_causal_mask": (None, False),
}
# Tuple kwargs where one int means the same on every axis (Keras's standardize_tuple).
TUPLE_KWARGS = frozenset(
    {"kernel_size", "strides", "dilation_rate", "pool_size", "padding", "cropping", "size",
     "output_padding", "output_size"}
)  # fmt: skip


def collapse(value: Any) -> Any:
    """``[3, 3] -> 3``, ``[[1, 1], [1, 1]] -> 1``: one int for the same size on every axis."""
    if not isinstance(value, list) or not value:
        return value
    items = [collapse(v) for v in value]
    first = items[0]
    if isinstance(first, int) and not isinstance(first, bool) and all(v == first for v in items):
        return first
    return items


def output_shape_from_config(kw: dict[str, Any]) -> None:
    """Keras writes ``output_shape=10`` as ``(10,)`` (EinsumDense, MultiHeadAttention)."""
    shape = kw.get("output_shape")
    if isinstance(shape, list) and len(shape) == 1 and isinstance(shape[0], int):
        kw["output_shape"] = shape[0]


class Weight(NamedTuple):
    """One weight a layer creates: its path under the layer, as Keras's ``variable.path``
    ends (``kernel``; ``lstm_cell/kernel`` for the weight of a layer it holds), its
    shape, and whether Keras marks it trainable (``variable.trainable``)."""

    path: str
    shape: tuple[int, ...]
    trainable: bool = True


ShapeRule = Callable[[Mapping[str, Any], Sequence[Shape]], ShapeOut]
ParamRule = Callable[[Mapping[str, Any], Sequence[Shape]], "tuple[int, int]"]
WeightRule = Callable[[Mapping[str, Any], Sequence[Shape]], "list[Weight]"]


def no_params(kw: Mapping[str, Any], inputs: Sequence[Shape]) -> tuple[int, int]:
    return (0, 0)


def no_weights(kw: Mapping[str, Any], inputs: Sequence[Shape]) -> list[Weight]:
    return []


def by_trainable(kw: Mapping[str, Any], trainable: int, frozen: int = 0) -> tuple[int, int]:
    """``(trainable, non_trainable)``; ``trainable=False`` freezes every weight."""
    return (trainable, frozen) if kw["trainable"] else (0, trainable + frozen)


def own_weights(kw: Mapping[str, Any], *weights: tuple | None) -> list[Weight]:
    """The weights a layer creates itself, each ``(path, shape)`` (trainable) or
    ``(path, shape, trainable)``, None for one the kwargs leave out (``use_bias=False``);
    ``trainable=False`` freezes every one, as :func:`by_trainable` counts them.

    >>> own_weights({"trainable": True}, ("kernel", (4, 8)), None)
    [Weight(path='kernel', shape=(4, 8), trainable=True)]
    """
    return [Weight(w[0], tuple(w[1]), (w[2] if len(w) > 2 else True) and kw["trainable"])
            for w in weights if w is not None]  # fmt: skip


def held_weights(layer: LayerType, kw: Mapping[str, Any], inputs: Sequence[Shape]) -> list[Weight]:
    """The weights of a layer another one holds (a wrapper's ``layer``, an RNN's
    ``cell``), under its name: Keras builds it in the holder's name scope. Its resolved
    ``kw`` carry its ``name``, which the plan always gives it
    (:attr:`modelspec.ir.Layer.inner`)."""
    return [w._replace(path=f"{held_name(kw)}/{w.path}") for w in layer.weights(kw, inputs)]


def held_name(kw: Mapping[str, Any]) -> str:
    """The name of a held layer, from its kwargs; ``ValueError`` without one: Keras would
    name it from a global counter, which no rule can know."""
    name = kw.get("name")
    if not isinstance(name, str):
        raise ValueError(f"a held layer has no name to give its weights a path: {dict(kw)!r}")
    return name


@dataclass(frozen=True, slots=True)
class LayerType:
    """A Keras layer class as the catalogue knows it.

    ``min_inputs``/``max_inputs`` give how many tensors one call takes
    (``max_inputs=None``: any number, as for merges). ``dtype`` says what the
    output dtype is: ``"float"`` (the layer's float32 compute dtype) or
    ``"same"`` (layers that only move values around keep an integer or boolean
    input's dtype; a floating input is still cast to float32, as Keras does), or a
    function of the resolved kwargs that names it (``"int64"`` for a lookup's indices).
    ``takes`` says what dtypes its inputs may have: ``"numbers"`` (no strings: every
    layer that computes), ``"strings"``, ``"ints_or_strings"`` or ``"any"``, or a
    function of the resolved kwargs that gives one of these.
    ``call`` says how a call passes several inputs: ``"list"`` (``layer([a, b])``,
    merges and ``Attention``) or ``"positional"`` (``layer(a, b)``,
    ``MultiHeadAttention``'s query, value and key). ``owns_sublayers`` marks layers
    whose weights live in inner layers: Keras's ``trainable=False`` on them hides
    the weights from ``layer.trainable_weights`` but not from the model's, so
    they are still trained (see :mod:`modelspec.passes.training`). ``from_config``
    turns the kwargs Keras writes in a saved config into those a person writes: it
    drops or rewrites, in place, what Keras writes out for a kwarg left to its default
    (``modelspec import`` calls it, through :meth:`from_saved`). ``from_call`` does the
    same for what Keras resolves from the input shapes of the layer's first call.
    """

    name: str
    kwargs: tuple[Kwarg, ...]
    shape: ShapeRule
    params: ParamRule = no_params
    weights: WeightRule = no_weights
    category: str = "core"
    doc: str = ""
    min_inputs: int = 1
    max_inputs: int | None = 1
    dtype: str | Callable[[Mapping[str, Any]], str] = "float"
    takes: str | Callable[[Mapping[str, Any]], str] = "numbers"
    call: str = "list"
    # Keys Keras writes in a saved config that follow from the rest (a lookup's
    # vocabulary_size): the importer reads past them.
    derived: frozenset[str] = frozenset()
    # The dtype Keras's constructor picks from the kwargs (see :meth:`config_dtype`).
    keras_dtype: Callable[[Mapping[str, Any]], str] | None = None
    owns_sublayers: bool = False
    from_config: Callable[[dict[str, Any]], None] | None = None
    from_call: Callable[[dict[str, Any], Sequence[Shape | None]], None] | None = None
    # Whether a call draws random numbers (so a spec's seed gives it one): True for the
    # augmentation layers; None for the rule of :meth:`is_random`.
    random: bool | None = None
    kwarg_map: Mapping[str, Kwarg] = field(init=False, repr=False, compare=False)
    nested: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kwarg_map", {k.name: k for k in self.kwargs})
        # Kwargs that hold a layer (a wrapper's ``layer``): their schema refers to one.
        holds_layer = tuple(k.name for k in self.kwargs if LAYER_REF in repr(k.schema))
        object.__setattr__(self, "nested", holds_layer)

    def held(self, spec: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], dict]]:
        """The layer specs that ``spec``, a layer of this type, holds in its kwargs, each
        with the keys that lead to it: ``("layer",)``, or ``("cells", 0)`` in a list.

        >>> from modelspec.catalog import get
        >>> get("StackedRNNCells").held({"cells": [{"type": "GRUCell", "units": 4}]})
        [(('cells', 0), {'type': 'GRUCell', 'units': 4})]
        """
        out: list[tuple[tuple[str | int, ...], dict]] = []
        for kwarg in self.nested:
            value = spec.get(kwarg)
            if isinstance(value, dict):
                out.append(((kwarg,), value))
            elif isinstance(value, list):
                out += [((kwarg, i), v) for i, v in enumerate(value) if isinstance(v, dict)]
        return out

    def with_held_names(
        self, given: Mapping[str, Any], names: Mapping[str, str], prefix: str = ""
    ) -> dict[str, Any]:
        """``given``, kwargs of a layer of this type, with the ``name`` of each layer they
        hold, at any depth, from ``names`` by kwarg path (as :attr:`modelspec.ir.Layer.inner`
        keys them): the names the weight rules give held layers' weights.

        >>> from modelspec.catalog import get
        >>> get("TimeDistributed").with_held_names(
        ...     {"layer": {"type": "Dense", "units": 2}}, {"layer": "dense"})
        {'layer': {'type': 'Dense', 'units': 2, 'name': 'dense'}}
        """
        out = dict(given)
        for keys, spec in self.held(given):
            path = prefix + ".".join(map(str, keys))
            inner = LAYER_TYPES.get(spec.get("type"))
            spec = inner.with_held_names(spec, names, f"{path}.") if inner else dict(spec)
            if path in names:
                spec["name"] = names[path]
            if len(keys) == 1:
                out[keys[0]] = spec
            else:  # an item of a list of layers: (kwarg, index)
                items = out[keys[0]] = list(out[keys[0]])
                items[keys[1]] = spec
        return out

    @property
    def is_merge(self) -> bool:
        return self.max_inputs is None or self.max_inputs > 1

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every kwarg, with Keras's default where the spec sets none."""
        kw = {k.name: k.default for k in self.kwargs if not k.required}
        kw.update(given)
        return kw

    def is_random(self, kw: Mapping[str, Any]) -> bool:
        """Whether a call of a layer with these resolved kwargs draws random numbers:
        ``random`` when set; else the dropout and noise layers always (``rate``,
        ``stddev``), attention and recurrent layers when their dropout is on."""
        if self.random is not None:
            return self.random
        if "rate" in kw or "stddev" in kw:
            return True
        return any(
            isinstance(kw.get(k), (int, float)) and kw[k] > 0
            for k in ("dropout", "recurrent_dropout")
        )

    def output_dtype(
        self, kw: Mapping[str, Any], first: str | None, compute: str = "float32"
    ) -> str:
        """The dtype of a call's output, for resolved kwargs, the first input's dtype and
        the layer's compute dtype (its dtype policy's: float32 by default)."""
        if callable(self.dtype):
            return self.dtype(kw)
        if self.dtype == "same" and first is not None and first not in FLOATS:
            return first
        return compute

    def config_dtype(self, config: Mapping[str, Any]) -> str:
        """The dtype Keras's constructor gives a layer with this saved config when none is
        asked for: float32, but int64 for the hashing layers' indices."""
        if self.keras_dtype is None:
            return "float32"
        return self.keras_dtype(config)

    def input_dtypes(self, kw: Mapping[str, Any]) -> str:
        """What dtypes its inputs may have (see ``takes``)."""
        return self.takes(kw) if callable(self.takes) else self.takes

    def from_saved(self, kw: dict[str, Any]) -> None:
        """Drop or rewrite, in place, what Keras writes in a saved config for a kwarg left
        to its default."""
        if kw.get("data_format") == "channels_last" and "data_format" in self.kwarg_map:
            # Keras writes the resolved image_data_format; the catalogue reads null as this.
            del kw["data_format"]
        if self.from_config is not None:
            self.from_config(kw)

    def non_default(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The kwargs of ``given`` that differ from Keras's defaults."""
        out = {}
        for name, value in given.items():
            kwarg = self.kwarg_map.get(name)
            if kwarg is None or kwarg.required or kwarg.default != value:
                out[name] = value
        return out


# The dtypes a spec may give an input or a layer.
DTYPES = (
    "float32", "float16", "bfloat16", "float64", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "bool", "string",
)  # fmt: skip
FLOATS = frozenset({"float32", "float16", "bfloat16", "float64"})
INTS = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"})
# What Python, NumPy and other frameworks call a dtype that Keras names by its size.
# The closest spelling is not the meaning: `int` is int32 (Keras's default integer
# type), not int8.
DTYPE_ALIASES = {
    "int": "int32", "integer": "int32", "long": "int64", "short": "int16",
    "float": "float32", "single": "float32", "double": "float64", "half": "float16",
    "bf16": "bfloat16", "fp16": "float16", "fp32": "float32", "fp64": "float64",
    "uint": "uint32", "byte": "int8", "ubyte": "uint8",
    "boolean": "bool", "str": "string", "text": "string",
}  # fmt: skip

# Every layer type by name: filled by the package (``modelspec.catalog``) as it loads
# its family modules, before any rule runs. It lives here so that a rule that looks up
# another layer type (a wrapper's inner layer) needs no import of the package that
# imports it.
LAYER_TYPES: dict[str, LayerType] = {}


def inner_layer(spec: Any) -> tuple[LayerType, dict[str, Any]]:
    """The catalogue entry and resolved kwargs of a layer a wrapper holds (its spec dict)."""
    type_name = spec.get("type") if isinstance(spec, dict) else None
    if type_name not in LAYER_TYPES:
        raise ShapeError(f"wraps an unknown layer type {type_name!r}", code="MS304")
    layer = LAYER_TYPES[type_name]
    return layer, layer.resolve({k: v for k, v in spec.items() if k != "type"})


# --- JSON Schema fragments shared by many kwargs -------------------------------------

INT = {"type": "integer"}
POS_INT = {"type": "integer", "minimum": 1}
NONNEG_INT = {"type": "integer", "minimum": 0}
NUMBER = {"type": "number"}
BOOL = {"type": "boolean"}
STRING = {"type": "string"}
RATE = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
AXIS = {"type": "integer"}


def nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"anyOf": [dict(schema), {"type": "null"}]}


def int_tuple(n: int | None = None, *, minimum: int = 1) -> dict[str, Any]:
    """An int, or a list of ``n`` ints, as Keras accepts for ``kernel_size`` etc."""
    item = {"type": "integer", "minimum": minimum}
    arr: dict[str, Any] = {"type": "array", "items": item}
    if n is not None:
        arr["minItems"] = arr["maxItems"] = n
    return {"anyOf": [item, arr]}


def enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


# Names Keras resolves with ``keras.activations.get`` and friends. Only names are
# allowed: a dict would reach ``deserialize_keras_object``.
ACTIVATIONS = (
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid",
    "hard_silu", "hard_swish", "hard_tanh", "leaky_relu", "linear", "log_sigmoid",
    "log_softmax", "mish", "relu", "relu6", "selu", "sigmoid", "silu", "soft_shrink",
    "softmax", "softplus", "softsign", "sparse_plus", "sparsemax", "squareplus",
    "swish", "tanh", "tanh_shrink", "threshold",
)  # fmt: skip
# Initializer names -> Keras classes; the seeded ones take ``seed=``.
INITIALIZER_CLASSES = {
    "constant": "Constant",
    "glorot_normal": "GlorotNormal",
    "glorot_uniform": "GlorotUniform",
    "he_normal": "HeNormal",
    "he_uniform": "HeUniform",
    "identity": "Identity",
    "lecun_normal": "LecunNormal",
    "lecun_uniform": "LecunUniform",
    "normal": "RandomNormal",
    "ones": "Ones",
    "orthogonal": "Orthogonal",
    "random_normal": "RandomNormal",
    "random_uniform": "RandomUniform",
    "truncated_normal": "TruncatedNormal",
    "uniform": "RandomUniform",
    "variance_scaling": "VarianceScaling",
    "zeros": "Zeros",
}
UNSEEDED = frozenset({"constant", "identity", "ones", "zeros"})
UNSEEDED_CLASSES = frozenset(INITIALIZER_CLASSES[n] for n in UNSEEDED)
INITIALIZERS = tuple(INITIALIZER_CLASSES)
# Not Keras's "l1l2": L1L2() defaults to l1=l2=0, a regularizer that does nothing.
REGULARIZERS = ("l1", "l2", "orthogonal_regularizer")
CONSTRAINTS = ("max_norm", "min_max_norm", "non_neg", "unit_norm")

ACTIVATION = {"anyOf": [enum(*ACTIVATIONS), {"type": "null"}]}
# An initializer by name, or as ``{type: Class, **kwargs}`` when its arguments differ
# from its name's (EfficientNet's ``VarianceScaling(2.0, "fan_out")``). The classes and
# kwargs are the ones below, plain values only; ``seed`` is not one: the spec's
# ``seed:`` seeds every initializer, objects and names alike.
INITIALIZER_OBJECT_REF = "#/$defs/initializer_object"
INITIALIZER = {"anyOf": [enum(*INITIALIZERS), {"$ref": INITIALIZER_OBJECT_REF}]}
_FAN = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
INITIALIZER_OBJECTS: Mapping[str, tuple[Kwarg, ...]] = {
    "Constant": (Kwarg("value", NUMBER, 0.0, "The value of every weight."),),
    "GlorotNormal": (),
    "GlorotUniform": (),
    "HeNormal": (),
    "HeUniform": (),
    "Identity": (Kwarg("gain", NUMBER, 1.0, "Factor of the identity matrix."),),
    "LecunNormal": (),
    "LecunUniform": (),
    "Ones": (),
    "Orthogonal": (Kwarg("gain", NUMBER, 1.0, "Factor of the orthogonal matrix."),),
    "RandomNormal": (Kwarg("mean", NUMBER, 0.0, "Mean."), Kwarg("stddev", NUMBER, 0.05, "Standard deviation.")),
    "RandomUniform": (Kwarg("minval", NUMBER, -0.05, "Lower bound."), Kwarg("maxval", NUMBER, 0.05, "Upper bound.")),
    "TruncatedNormal": (Kwarg("mean", NUMBER, 0.0, "Mean."), Kwarg("stddev", NUMBER, 0.05, "Standard deviation.")),
    "VarianceScaling": (
        Kwarg("scale", {"type": "number", "exclusiveMinimum": 0}, 1.0, "Scaling factor."),
        Kwarg("mode", enum(*_FAN), "fan_in", "Which fan the variance is divided by."),
        Kwarg("distribution", enum(*_DISTRIBUTIONS), "truncated_normal", "The distribution drawn from."),
    ),
    "Zeros": (),
}  # fmt: skip
REGULARIZER = {"anyOf": [enum(*REGULARIZERS), {"type": "null"}]}
CONSTRAINT = {"anyOf": [enum(*CONSTRAINTS), {"type": "null"}]}


def activation(default: str | None = "linear", name: str = "activation") -> Kwarg:
    desc = "Activation function applied to the output, by name (None means linear)."
    return Kwarg(name, ACTIVATION, default, desc)


def initializer(name: str, default: str) -> Kwarg:
    weight = name.removesuffix("_initializer")
    return Kwarg(name, INITIALIZER, default, f"Initializer for `{weight}`.")


def regularizer(name: str) -> Kwarg:
    return Kwarg(name, REGULARIZER, None, f"Regularizer for `{name.removesuffix('_regularizer')}`.")


def constraint(name: str) -> Kwarg:
    return Kwarg(name, CONSTRAINT, None, f"Constraint for `{name.removesuffix('_constraint')}`.")


def weight_kwargs(*weights: str, inits: Mapping[str, str] | None = None) -> tuple[Kwarg, ...]:
    """``<w>_initializer``, ``<w>_regularizer``, ``<w>_constraint`` for each weight."""
    inits = dict(inits or {})
    out: list[Kwarg] = []
    for w in weights:
        default = inits.get(w, "zeros" if w == "bias" else "glorot_uniform")
        out += [
            initializer(f"{w}_initializer", default),
            regularizer(f"{w}_regularizer"),
            constraint(f"{w}_constraint"),
        ]
    return tuple(out)


ACTIVITY_REGULARIZER = Kwarg(
    "activity_regularizer", REGULARIZER, None, "Regularizer applied to the layer's output."
)
TRAINABLE = Kwarg("trainable", BOOL, True, "Whether the layer's weights are updated in training.")
AXES = {"anyOf": [AXIS, {"type": "array", "items": AXIS}]}
# The axis, or axes, a normalization or a softmax works over.
NORM_AXIS = Kwarg("axis", AXES, -1, "Axis, or list of axes, to normalize over.")
# Keras reads null as its config's image_data_format, "channels_last" unless a user
# changed it; the rules read null as channels_last.
DATA_FORMAT = Kwarg(
    "data_format",
    nullable(enum("channels_last", "channels_first")),
    None,
    "Where the channel axis is: 'channels_last' (batch, ..., channels) or "
    "'channels_first' (batch, channels, ...); null means Keras's image_data_format, "
    "normally channels_last.",
)


# --- helpers for rules ----------------------------------------------------------------


def fmt_shape(shape: Shape) -> str:
    """``(None, 128)`` as Keras prints it."""
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def expect_rank(shape: Shape, *ranks: int, layout: str = "") -> None:
    """Raise MS301 unless ``len(shape)`` is one of ``ranks``.

    ``layout`` names the axes, e.g. ``"(batch, steps, channels)"``.
    """
    if len(shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        extra = f" {layout}" if layout else ""
        raise ShapeError(
            f"expects input of rank {want}{extra}; got rank {len(shape)}: {fmt_shape(shape)}",
            code="MS301",
        )


def expect_min_rank(shape: Shape, rank: int) -> None:
    if len(shape) < rank:
        raise ShapeError(
            f"expects input of rank at least {rank}; got rank {len(shape)}: {fmt_shape(shape)}",
            code="MS301",
        )


def known_dim(shape: Shape, axis: int = -1) -> int:
    """The size of ``axis``, which must be known for the layer to create weights."""
    dim = shape[axis]
    if dim is None:
        raise ShapeError(
            f"needs a known size on axis {axis} to create its weights; got {fmt_shape(shape)}",
            code="MS302",
            hint="give the input a fixed size on that axis",
        )
    return dim


def as_tuple(value: int | Sequence[int], n: int) -> tuple[int, ...]:
    """Keras's ``standardize_tuple``: ``3`` -> ``(3, 3)`` for n=2."""
    if isinstance(value, int):
        return (value,) * n
    return tuple(value)


def prod(values: Iterable[int]) -> int:
    """``math.prod``, stopped with :class:`SizeOverflow` as soon as it passes
    :data:`MAX_DIM`: the product of 60,000 sizes of 10**18 took seconds to compute."""
    values = list(values)
    if 0 in values:
        return 0
    out = 1
    for v in values:
        out *= v
        if not -MAX_DIM <= out <= MAX_DIM:
            raise SizeOverflow()
    return out


def conv_out_len(length: Dim, kernel: int, stride: int, padding: str, dilation: int = 1) -> Dim:
    """Keras's ``compute_conv_output_shape`` for one spatial axis."""
    if length is None:
        return None
    if padding == "same":
        return (length + stride - 1) // stride
    effective = (kernel - 1) * dilation + 1
    return (length - effective) // stride + 1  # may be <= 0: callers check
