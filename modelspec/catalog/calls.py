"""What each layer's ``call()`` takes besides its input tensors: a graph step's ``call:``.

A Keras layer is called as ``layer(x, initial_state=[h, c], use_causal_mask=True)``.
The arguments after the inputs are of four kinds:

- ``tensor``: one tensor of the graph (``mask``, ``attention_mask``);
- ``tensors``: a list of them (``initial_state``; one tensor alone stands for a list
  of one, as Keras reads it);
- ``masks``: a list of tensors where ``null`` leaves one out (``Attention``'s
  ``mask: [query_mask, value_mask]``);
- ``bool``: a constant (``training``, ``use_causal_mask``, ``return_attention_scores``).

:data:`CALLS` lists them per layer type, as the layer's ``call()`` signature names
them (``tests/test_call_args.py`` compares the two with Keras). Each tensor argument
has a ``check`` that raises :class:`~modelspec.catalog.base.ShapeError` when the
tensor does not fit the call; ``LayerCall.output`` gives what a constant changes in
the output (``return_attention_scores`` adds the scores).

Keras's symbolic call checks none of these shapes: a state of the wrong size, a mask
of the wrong length fail only when the model runs, with a backend message. The rules
here are what the run-time code needs, checked against Keras on real data by the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelspec.catalog.base import (
    LAYER_TYPES,
    Shape,
    ShapeError,
    ShapeOut,
    fmt_shape,
    inner_layer,
)

# check(kw, inputs, value): ``value`` is the argument's shape, or a list of shapes
# (None for a left-out mask) for the list kinds.
Check = Callable[[Mapping[str, Any], Sequence[Shape], Any], None]
# output(kw, inputs, out, constants) -> the call's output shape(s).
OutputRule = Callable[[Mapping[str, Any], Sequence[Shape], ShapeOut, Mapping[str, Any]], ShapeOut]

KINDS = ("tensor", "tensors", "masks", "bool")


@dataclass(frozen=True, slots=True)
class CallArg:
    """One call argument: its name as ``call()`` takes it, its kind (:data:`KINDS`),
    a one-line description, and for tensors the rule their shapes must follow."""

    name: str
    kind: str
    description: str
    check: Check | None = None
    # The value a call that leaves it out gets: Keras records it in a saved model's
    # call all the same (the image layers' `training=True`), so import leaves it out.
    default: Any = None

    @property
    def is_tensor(self) -> bool:
        return self.kind != "bool"


@dataclass(frozen=True, slots=True)
class LayerCall:
    """What a layer's call takes besides its inputs (``args``), what a constant among
    them changes in the output (``output``), and the names of its input tensors in the
    order the call takes them (``inputs``), which a step's ``to:`` may name them by:
    ``{query: q, value: v, key: k}`` for attention. The first ``min_inputs`` of the
    layer type are required."""

    args: tuple[CallArg, ...] = ()
    output: OutputRule | None = None
    inputs: tuple[str, ...] = ()

    def arg(self, name: str) -> CallArg | None:
        return next((a for a in self.args if a.name == name), None)


NO_ARGS = LayerCall()


def _same(a: int | None, b: int | None) -> bool:
    return a is None or b is None or a == b


def _fits(a: int | None, b: int | None) -> bool:
    """``a`` broadcasts to ``b``: equal, 1, or unknown."""
    return a == 1 or _same(a, b)


def _mask_error(what: str, want: str, got: Shape) -> ShapeError:
    return ShapeError(
        f"`{what}` must be {want}; got {fmt_shape(got)}",
        code="MS312",
        hint="a mask has one boolean per position: True keeps it, False masks it out",
    )


# --- recurrent layers -------------------------------------------------------------------

# How many state tensors a recurrent layer or cell carries, of size `units` each.
STATE_COUNTS = {
    "LSTM": 2,
    "GRU": 1,
    "SimpleRNN": 1,
    "LSTMCell": 2,
    "GRUCell": 1,
    "SimpleRNNCell": 1,
}
CONV_LSTMS = ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")


def _states(kw: Mapping[str, Any], layer_type: str, inputs: Sequence[Shape]) -> list:
    """(what, shape without the batch) of each state a call's ``initial_state`` gives,
    in Keras's order."""
    if layer_type == "Bidirectional":
        out = []
        for direction, key in (("forward", "layer"), ("backward", "backward_layer")):
            inner, ikw = inner_layer(kw.get(key) or kw["layer"])
            out += [(f"{direction} {what}", s) for what, s in _states(ikw, inner.name, inputs)]
        return out
    if layer_type == "RNN":
        cell, ckw = inner_layer(kw["cell"])
        if cell.name != "StackedRNNCells":
            return _states(ckw, cell.name, inputs)
        out = []
        for i, spec in enumerate(ckw["cells"]):
            inner, ikw = inner_layer(spec)
            if STATE_COUNTS[inner.name] > 1:
                raise ShapeError(
                    f"`initial_state` cannot be given to a stack with `{inner.name}` "
                    f"(cell {i}): Keras takes its states nested, which a spec cannot write",
                    code="MS311",
                    hint="give the cells one state each (GRUCell, SimpleRNNCell), or use "
                    "one RNN layer per cell",
                )
            out += [(f"cell {i} {what}", s) for what, s in _states(ikw, inner.name, inputs)]
        return out
    if layer_type in CONV_LSTMS:
        # Each state is one step's output: (spatial sizes after the convolution, filters).
        step = LAYER_TYPES[layer_type].shape(
            {**kw, "return_sequences": False, "return_state": False}, inputs
        )
        return [("state h", tuple(step[1:])), ("state c", tuple(step[1:]))]
    n = STATE_COUNTS[layer_type]
    names = ("h", "c") if n == 2 else ("h",)
    return [(f"state {name}", (kw["units"],)) for name in names]


def _initial_state(layer_type: str) -> CallArg:
    def check(kw, inputs, value):
        states = _states(kw, layer_type, inputs)
        if len(value) != len(states):
            listed = ", ".join(what for what, _ in states)
            raise ShapeError(
                f"`initial_state` must be {len(states)} tensor{'s' if len(states) > 1 else ''} "
                f"({listed}); got {len(value)}",
                code="MS311",
                hint=f"`{layer_type}` carries {len(states)} state tensor(s); give one for each",
            )
        batch = inputs[0][0]
        for (what, tail), shape in zip(states, value, strict=True):
            fits = len(shape) == 1 + len(tail) and all(
                _same(a, b) for a, b in zip(shape, (batch, *tail), strict=True)
            )
            if not fits:
                want = ", ".join(str(d) for d in ("batch", *tail))
                why = "the layer's units" if len(tail) == 1 else "one step's output"
                raise ShapeError(
                    f"`initial_state` gives {what} as {fmt_shape(shape)}; it must be "
                    f"({want}), {why}",
                    code="MS311",
                    hint="take the states of a layer of the same size: what an RNN with "
                    "return_state returns after its output",
                )

    return CallArg("initial_state", "tensors", "The initial state tensors.", check)


def _steps_mask(what: str = "mask") -> CallArg:
    """A mask of the time steps: (batch, steps) for a (batch, steps, ...) input."""

    def check(kw, inputs, value):
        seq = inputs[0]
        if len(value) != 2 or not _same(value[1], seq[1]):
            raise _mask_error(what, f"(batch, {seq[1]}), one value per time step", value)

    return CallArg(what, "tensor", "Which time steps to use: (batch, steps), boolean.", check)


TRAINING = CallArg(
    "training",
    "bool",
    "Run the layer in training mode (true) or inference mode (false) in this call.",
)


# The image preprocessing layers and Pipeline: their call takes `training`, True by
# default, so a saved model records `training=True` for each call that left it alone
# (fit and predict pass their own).
TRAINING_ON = CallArg(
    "training",
    "bool",
    "Run the layer in training mode (true, its default) or inference mode (false).",
    default=True,
)


def _recurrent(layer_type: str) -> LayerCall:
    return LayerCall((_initial_state(layer_type), _steps_mask(), TRAINING))


# --- attention --------------------------------------------------------------------------

# The inputs of an attention layer's call, in its order: the key is optional (the value
# stands for it).
ATTENTION_INPUTS = ("query", "value", "key")

# Every input a step's `to:` may name, with what it is (for the schema).
INPUT_NAMES = {
    "query": "The query tensor: what attends.",
    "value": "The value tensor: what is attended to.",
    "key": "The key tensor, matched against the query; the value stands for it when left out.",
}

RETURN_SCORES = CallArg(
    "return_attention_scores", "bool", "Also return the attention scores, as a second output."
)
CAUSAL = CallArg(
    "use_causal_mask", "bool", "Let each position attend only to itself and earlier positions."
)


def _mha_axes(kw: Mapping[str, Any], rank: int) -> list[int]:
    axes = kw.get("attention_axes")
    if axes is None:
        return list(range(1, rank - 1))
    axes = axes if isinstance(axes, list) else [axes]
    return sorted(a % rank for a in axes)


def _mha_lengths(kw, inputs) -> tuple[list, list]:
    """The query's and the key's sizes on the attention axes: (T...), (S...)."""
    query = inputs[0]
    key = inputs[2] if len(inputs) == 3 else inputs[1]
    axes = _mha_axes(kw, len(query))
    return [query[a] for a in axes], [key[a] for a in axes]


def _mha_mask(name: str, side: str) -> CallArg:
    def check(kw, inputs, value):
        t, s = _mha_lengths(kw, inputs)
        if name == "attention_mask":
            want = (*t, *s)
            ok = len(value) == 1 + len(want) and all(
                _fits(v, w) for v, w in zip(value[1:], want, strict=True)
            )
            if not ok:
                sizes = ", ".join(str(d) for d in want)
                raise _mask_error(
                    name, f"(batch, {sizes}): one value per query and key position", value
                )
            return
        want = t if side == "query" else s
        ok = len(value) == 1 + len(want) and all(
            _same(v, w) for v, w in zip(value[1:], want, strict=True)
        )
        if not ok:
            sizes = ", ".join(str(d) for d in want)
            raise _mask_error(name, f"(batch, {sizes}), one value per {side} position", value)

    descriptions = {
        "query_mask": "Which query positions to use: (batch, T), boolean.",
        "value_mask": "Which value positions to use: (batch, S), boolean.",
        "key_mask": "Which key positions to use: (batch, S), boolean.",
        "attention_mask": "Which key positions each query attends to: (batch, T, S), boolean.",
    }
    return CallArg(name, "tensor", descriptions[name], check)


def _mha_output(kw, inputs, out, given):
    if not given.get("return_attention_scores"):
        return out
    # Keras's symbolic call gives the scores the query's length on both sides; a real
    # call gives (batch, [other axes], heads, T..., S...), as here.
    query = inputs[0]
    axes = _mha_axes(kw, len(query))
    t, s = _mha_lengths(kw, inputs)
    others = [query[a] for a in range(1, len(query) - 1) if a not in axes]
    heads = kw["num_heads"] if "num_heads" in kw else kw["num_query_heads"]
    return [out, (query[0], *others, heads, *t, *s)]


def _attention_masks(kw, inputs, value):
    if len(value) != 2:
        raise ShapeError(
            f"`mask` must be a list of two masks, [query_mask, value_mask]; got {len(value)}",
            code="MS312",
            hint="write null for a mask left out: `mask: [null, value_mask]`",
        )
    query, val = inputs[0], inputs[1]
    for side, shape, mask in (("query", query, value[0]), ("value", val, value[1])):
        if mask is not None and (len(mask) != 2 or not _same(mask[1], shape[-2])):
            raise _mask_error(
                f"mask[{0 if side == 'query' else 1}]",
                f"(batch, {shape[-2]}), one value per {side} step",
                mask,
            )


def _attention_output(kw, inputs, out, given):
    if not given.get("return_attention_scores"):
        return out
    query, value = inputs[0], inputs[1]
    return [out, (*query[:-1], value[-2])]


ATTENTION_CALL = LayerCall(
    (
        CallArg(
            "mask",
            "masks",
            "[query_mask, value_mask], each (batch, steps) or null.",
            _attention_masks,
        ),
        TRAINING,
        RETURN_SCORES,
        CAUSAL,
    ),
    _attention_output,
    # Keras's Attention takes one list, `inputs=[query, value, key]`: named in `to:`,
    # the tensors are passed as that list, in that order.
    ATTENTION_INPUTS,
)


# --- other layers that take a mask -----------------------------------------------------


def _broadcast_mask(kw, inputs, value):
    shape = inputs[0]
    if len(value) != len(shape) or not all(_fits(v, s) for v, s in zip(value, shape, strict=True)):
        raise _mask_error(
            "mask", f"of the input's shape {fmt_shape(shape)}, or broadcast to it", value
        )


def _batch_norm_mask(kw, inputs, value):
    shape = inputs[0]
    if len(value) != len(shape) - 1 or not all(
        _same(v, s) for v, s in zip(value, shape[:-1], strict=True)
    ):
        raise _mask_error(
            "mask", f"{fmt_shape(shape[:-1])}, the input's shape without its features", value
        )


def _reverse_output(kw, inputs, out, given):
    """``reverse: true`` maps vectors back to the vocabulary with the embeddings."""
    if not given.get("reverse"):
        return out
    shape = inputs[0]
    if not _same(shape[-1], kw["output_dim"]):
        raise ShapeError(
            f"called with reverse=True needs vectors of output_dim={kw['output_dim']} on the "
            f"last axis; got {fmt_shape(shape)}",
            code="MS304",
            hint="the reverse call maps the model's vectors back to the vocabulary",
        )
    return (*shape[:-1], kw["input_dim"])


def _same_shape(what: str) -> Check:
    def check(kw, inputs, value):
        shape = inputs[0]
        if len(value) != len(shape) or not all(
            _same(v, s) for v, s in zip(value, shape, strict=True)
        ):
            raise ShapeError(
                f"`{what}` must have the input's shape {fmt_shape(shape)}; got {fmt_shape(value)}",
                code="MS304",
                hint="one weight per input value",
            )

    return check


def _table() -> dict[str, LayerCall]:
    training = LayerCall((TRAINING,))
    mha = LayerCall(
        (
            _mha_mask("query_mask", "query"),
            _mha_mask("value_mask", "value"),
            _mha_mask("key_mask", "key"),
            _mha_mask("attention_mask", ""),
            RETURN_SCORES,
            TRAINING,
            CAUSAL,
        ),
        _mha_output,
        ATTENTION_INPUTS,
    )
    calls = {
        "LSTM": _recurrent("LSTM"),
        "GRU": _recurrent("GRU"),
        "SimpleRNN": _recurrent("SimpleRNN"),
        "Bidirectional": _recurrent("Bidirectional"),
        "TimeDistributed": LayerCall((TRAINING, _steps_mask())),
        "MultiHeadAttention": mha,
        "GroupQueryAttention": mha,
        "ConvLSTM1D": _recurrent("ConvLSTM1D"),
        "ConvLSTM2D": _recurrent("ConvLSTM2D"),
        "ConvLSTM3D": _recurrent("ConvLSTM3D"),
        "RNN": _recurrent("RNN"),
        "ReversibleEmbedding": LayerCall(
            (CallArg("reverse", "bool", "Map vectors back to the vocabulary (logits)."),),
            _reverse_output,
        ),
        "CategoryEncoding": LayerCall(
            (
                CallArg(
                    "count_weights",
                    "tensor",
                    "A weight for each input value, for count outputs: the input's shape.",
                    _same_shape("count_weights"),
                ),
            )  # fmt: skip
        ),
        "Pipeline": LayerCall(
            (TRAINING_ON, CallArg("mask", "tensor", "A mask passed to the layers that take one."))
        ),
        "Attention": ATTENTION_CALL,
        "AdditiveAttention": ATTENTION_CALL,
        "BatchNormalization": LayerCall(
            (
                TRAINING,
                CallArg("mask", "tensor", "Which positions the statistics use.", _batch_norm_mask),
            )  # fmt: skip
        ),
        "Softmax": LayerCall(
            (
                CallArg(
                    "mask",
                    "tensor",
                    "Which positions take part; the input's shape.",
                    _broadcast_mask,
                ),
            )  # fmt: skip
        ),
        "GlobalAveragePooling1D": LayerCall((_steps_mask(),)),
    }
    # Layers whose call takes only `training`: dropout and noise, Dense and EinsumDense
    # (for their quantized forms), SpectralNormalization, and the image preprocessing
    # layers (below).
    for name in (
        "Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise", "SpatialDropout1D",
        "SpatialDropout2D", "SpatialDropout3D", "Dense", "EinsumDense", "SpectralNormalization",
    ):  # fmt: skip
        calls[name] = training
    return calls


IMAGE_LAYERS = (
    "CenterCrop", "Resizing", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
    "RandomContrast", "RandomBrightness", "RandomCrop", "RandomGrayscale", "RandomHue",
    "RandomSaturation", "RandomColorDegeneration", "RandomSharpness", "RandomInvert",
    "RandomPosterization", "Solarization", "AutoContrast",
    "ContrastLimitedAdaptiveHistogramEqualization", "RandomGaussianBlur", "RandomErasing",
    "RandomShear", "RandomPerspective", "RandomElasticTransform", "RandomColorJitter",
    "RandAugment", "AugMix", "CutMix", "MixUp", "MaxNumBoundingBoxes",
)  # fmt: skip


CALLS: dict[str, LayerCall] = {**_table(), **dict.fromkeys(IMAGE_LAYERS, LayerCall((TRAINING_ON,)))}


def call_of(type_name: str) -> LayerCall:
    """What a call of ``type_name`` takes besides its inputs (nothing, for most layers)."""
    return CALLS.get(type_name, NO_ARGS)
