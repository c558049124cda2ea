"""Recurrent layers (LSTM, GRU, SimpleRNN) and the wrappers Bidirectional,
TimeDistributed and SpectralNormalization.

The wrappers take a nested layer spec (``{"type": "LSTM", "units": 8}``) and reuse
that layer's own catalogue rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelspec.catalog.base import (
    ACTIVATION,
    ACTIVITY_REGULARIZER,
    BOOL,
    CONSTRAINT,
    INITIALIZER,
    INT,
    POS_INT,
    RATE,
    REGULARIZER,
    TRAINABLE,
    Kwarg,
    LayerType,
    ShapeError,
    Weight,
    activation,
    by_trainable,
    enum,
    expect_min_rank,
    expect_rank,
    fmt_shape,
    held_name,
    held_weights,
    inner_layer,
    known_dim,
    nullable,
    own_weights,
)
from modelspec.catalog.core import einsum_kernel_shape

LAYER_REF = {"$ref": "#/$defs/layer"}
SEQ_LAYOUT = "(batch, timesteps, features)"

# --- the recurrent layers -------------------------------------------------------------


def recurrent_weights(unit_forget_bias: bool, activity: bool = True) -> tuple[Kwarg, ...]:
    """Initializers, regularizers and constraints of the three recurrent weights, and
    the activity regularizer unless ``activity`` is False (a cell takes none).

    Keras names them ``recurrent_*``, not ``recurrent_kernel_*``, so
    ``base.weight_kwargs`` does not fit.
    """
    weights = (
        ("kernel", "the `kernel` weights (inputs to gates)", "glorot_uniform"),
        ("recurrent", "the `recurrent_kernel` weights (state to gates)", "orthogonal"),
        ("bias", "the bias vector", "zeros"),
    )
    out = [Kwarg(f"{w}_initializer", INITIALIZER, d, f"Initializer for {what}.")
           for w, what, d in weights]  # fmt: skip
    if unit_forget_bias:
        out.append(Kwarg("unit_forget_bias", BOOL, True,
                         "Add 1 to the forget-gate bias at initialization."))  # fmt: skip
    out += [Kwarg(f"{w}_regularizer", REGULARIZER, None, f"Regularizer for {what}.")
            for w, what, _ in weights]  # fmt: skip
    if activity:
        out.append(ACTIVITY_REGULARIZER)
    out += [Kwarg(f"{w}_constraint", CONSTRAINT, None, f"Constraint for {what}.")
            for w, what, _ in weights]  # fmt: skip
    return tuple(out)


SEED = Kwarg("seed", nullable(INT), None, "Random seed for dropout.")
RECURRENT_ACTIVATION = Kwarg("recurrent_activation", ACTIVATION, "sigmoid",
                             "Activation for the recurrent step (the gates), by name.")  # fmt: skip
USE_BIAS = Kwarg("use_bias", BOOL, True, "Whether the layer uses a bias vector.")
# A cell's dropout, and its seed.
DROPOUT = (
    Kwarg("dropout", RATE, 0.0, "Fraction of the units to drop for the inputs."),
    Kwarg("recurrent_dropout", RATE, 0.0,
          "Fraction of the units to drop for the recurrent state."),
    SEED,
)  # fmt: skip
# How keras.layers.RNN runs its cell over the time axis.
LOOP = (
    Kwarg("return_sequences", BOOL, False,
          "Return the full output sequence rather than the last output."),
    Kwarg("return_state", BOOL, False, "Also return the final state(s)."),
    Kwarg("go_backwards", BOOL, False,
          "Process the sequence backwards and return the reversed sequence."),
    Kwarg("stateful", BOOL, False,
          "Carry the last state of each sample over to the next batch."),
    Kwarg("unroll", BOOL, False, "Unroll the loop (faster, more memory; short sequences)."),
)  # fmt: skip


def _rnn_kwargs(*, gated: bool, lstm: bool, gru: bool) -> tuple[Kwarg, ...]:
    out = [
        Kwarg("units", POS_INT, description="Dimensionality of the output space (and state)."),
        activation("tanh"),
    ]
    if gated:
        out.append(RECURRENT_ACTIVATION)
    out.append(USE_BIAS)
    out += recurrent_weights(unit_forget_bias=lstm)
    out += [*DROPOUT, *LOOP]
    if gru:
        out.append(Kwarg("reset_after", BOOL, True,
                         "Apply the reset gate after the matrix product (cuDNN style)."))  # fmt: skip
    if gated:
        out.append(Kwarg("use_cudnn", {"anyOf": [enum("auto"), BOOL]}, "auto",
                         "Whether to use the cuDNN kernel; 'auto' uses it when it can."))  # fmt: skip
    out.append(TRAINABLE)
    return tuple(out)


def check_stateful(kw, seq) -> None:
    """A stateful layer keeps one state per sample: Keras needs the batch size."""
    if kw["stateful"] and seq[0] is None:
        raise ShapeError(
            f"with stateful=True needs a fixed batch size; got {fmt_shape(seq)}",
            code="MS304",
            hint="give the input a batch_shape with a fixed batch size",
        )


def _rnn_shape(states: int):
    """Shape rule of a recurrent layer with ``states`` state tensors of size ``units``."""

    def shape(kw, inputs):
        (seq,) = inputs
        expect_rank(seq, 3, layout=SEQ_LAYOUT)
        batch, steps, _ = seq
        check_stateful(kw, seq)
        units = kw["units"]
        out = (batch, steps, units) if kw["return_sequences"] else (batch, units)
        if kw["return_state"]:
            return [out] + [(batch, units)] * states
        return out

    return shape


def recurrent_params(gates: int, kw, n_in: int) -> tuple[int, int]:
    """The weights of a recurrent layer or cell with ``gates`` gates over ``n_in``
    features: kernel, recurrent kernel and bias, one slice of ``units`` per gate."""
    units = kw["units"]
    count = gates * units * (n_in + units)
    if kw["use_bias"]:
        # GRU with reset_after keeps separate input and recurrent biases: shape (2, 3u).
        count += gates * units * (2 if kw.get("reset_after") else 1)
    return by_trainable(kw, count)


def recurrent_cell_weights(gates: int, kw, n_in: int) -> list[Weight]:
    """The weights :func:`recurrent_params` counts, as a cell creates them."""
    units, width = kw["units"], gates * kw["units"]
    bias = (2, width) if kw.get("reset_after") else (width,)
    return own_weights(kw, ("kernel", (n_in, width)), ("recurrent_kernel", (units, width)),
                       ("bias", bias) if kw["use_bias"] else None)  # fmt: skip


def _rnn_params(gates: int):
    def params(kw, inputs):
        (seq,) = inputs
        return recurrent_params(gates, kw, known_dim(seq, -1))

    return params


def _rnn_weights(gates: int, cell: str):
    """The weights of LSTM, GRU or SimpleRNN: its cell's, which Keras creates with the
    layer's trainable flag and names ``cell``."""

    def weights(kw, inputs):
        (seq,) = inputs
        made = recurrent_cell_weights(gates, kw, known_dim(seq, -1))
        return [w._replace(path=f"{cell}/{w.path}") for w in made]

    return weights


LSTM = LayerType(
    name="LSTM",
    category="recurrent",
    doc="Long Short-Term Memory layer over a (batch, timesteps, features) sequence.",
    kwargs=_rnn_kwargs(gated=True, lstm=True, gru=False),
    shape=_rnn_shape(2),  # return_state: [output, state_h, state_c]
    params=_rnn_params(4),
    weights=_rnn_weights(4, "lstm_cell"),
)

GRU = LayerType(
    name="GRU",
    category="recurrent",
    doc="Gated Recurrent Unit layer over a (batch, timesteps, features) sequence.",
    kwargs=_rnn_kwargs(gated=True, lstm=False, gru=True),
    shape=_rnn_shape(1),
    params=_rnn_params(3),
    weights=_rnn_weights(3, "gru_cell"),
)

SIMPLE_RNN = LayerType(
    name="SimpleRNN",
    category="recurrent",
    doc="Fully-connected RNN whose output is fed back as the next input state.",
    kwargs=_rnn_kwargs(gated=False, lstm=False, gru=False),
    shape=_rnn_shape(1),
    params=_rnn_params(1),
    weights=_rnn_weights(1, "simple_rnn_cell"),
)


# --- wrappers -------------------------------------------------------------------------


# Keras's wrappers own no weights: the inner layers create them. A wrapper's own
# trainable flag only empties the lists it reports itself, so once it is nested in
# another wrapper Keras ignores it (and a Model ignores it too: keras-team/keras#17466).
# RNN and StackedRNNCells (catalog/cells.py) are such wrappers too; a StackedRNNCells's
# flag reaches no weight even directly in an RNN. So are ConvLSTM1D/2D/3D: unlike LSTM,
# they make their cell without passing it their flag.
_FLAG_NOT_ON_WEIGHTS = {
    "Bidirectional",
    "TimeDistributed",
    "SpectralNormalization",
    "RNN",
    "StackedRNNCells",
    "ConvLSTM1D",
    "ConvLSTM2D",
    "ConvLSTM3D",
}


def nested_params(layer, kw, inputs) -> tuple[int, int]:
    if layer.name in _FLAG_NOT_ON_WEIGHTS:
        kw = {**kw, "trainable": True}
    return layer.params(kw, inputs)


def is_recurrent(layer) -> bool:
    # Bidirectional rebuilds the layer from its config with go_backwards flipped and
    # compares stateful/return_sequences/return_state: only RNN layers have those.
    return all(k in layer.kwarg_map for k in ("go_backwards", "return_sequences", "return_state"))


def _fmt(out) -> str:
    if isinstance(out, list):
        return "[" + ", ".join(fmt_shape(s) for s in out) + "]"
    return fmt_shape(out)


def _split(shape):
    """``(output, [states])`` of a recurrent shape rule's result."""
    if isinstance(shape, list):
        return shape[0], shape[1:]
    return shape, []


def _bidirectional_shape(kw, inputs):
    fwd, fkw = inner_layer(kw["layer"])
    if not is_recurrent(fwd):
        raise ShapeError(
            f"wraps only recurrent layers (LSTM, GRU, SimpleRNN, ConvLSTM1D/2D/3D, RNN); "
            f"got `{fwd.name}`",
            code="MS304",
        )
    out = fwd.shape(fkw, inputs)
    if kw["backward_layer"] is None:
        # Keras copies `layer` with go_backwards=True, so a `layer` that already goes
        # backwards gives two layers going the same way, which Keras refuses.
        if fkw["go_backwards"]:
            raise ShapeError(
                "needs `layer` with go_backwards=False when no backward_layer is given",
                code="MS304",
            )
    else:
        bwd, bkw = inner_layer(kw["backward_layer"])
        if not is_recurrent(bwd):
            raise ShapeError(
                f"takes only a recurrent backward_layer; got `{bwd.name}`", code="MS304"
            )
        if bkw["go_backwards"] == fkw["go_backwards"]:
            raise ShapeError(
                "needs layer and backward_layer with different go_backwards values",
                code="MS304",
            )
        for attr in ("stateful", "return_sequences", "return_state"):
            if fkw[attr] != bkw[attr]:
                raise ShapeError(
                    f"needs layer and backward_layer with the same {attr}; "
                    f"got {fkw[attr]} and {bkw[attr]}",
                    code="MS304",
                )
        try:
            back = bwd.shape(bkw, inputs)
        except ShapeError as err:
            # Keras asks only the forward layer for shapes, so its message would be
            # about `layer` (which takes this input) rather than backward_layer.
            raise ShapeError(
                f"has a backward_layer `{bwd.name}` that does not take this input: "
                f"it {err.message}",
                code=err.code,
                hint=err.hint or f"give backward_layer the type of layer, `{fwd.name}`",
                operands=err.operands,
            ) from err
        if back != out:
            # Keras builds this but reports the forward layer's shapes for both
            # directions, so its output shape (and the next layer) would be wrong.
            raise ShapeError(
                f"needs backward_layer to give the same outputs as layer; "
                f"got {_fmt(back)} and {_fmt(out)}",
                code="MS304",
                hint="give both layers the same units",
            )
    output, states = _split(out)
    mode = kw["merge_mode"]
    if mode is None:
        outputs = [output, output]
    elif mode == "concat":
        last = output[-1]
        outputs = [(*output[:-1], None if last is None else 2 * last)]
    else:  # sum, mul, ave
        outputs = [output]
    # Keras returns the output(s), then the forward states, then the backward states.
    result = outputs + states + states
    return result[0] if len(result) == 1 else result


def _bidirectional_params(kw, inputs):
    fwd, fkw = inner_layer(kw["layer"])
    bwd, bkw = (fwd, fkw) if kw["backward_layer"] is None else inner_layer(kw["backward_layer"])
    # Keras rebuilds the backward copy from `layer`'s config, so it keeps its trainable flag.
    t1, n1 = nested_params(fwd, fkw, inputs)
    t2, n2 = nested_params(bwd, bkw, inputs)
    trainable, frozen = t1 + t2, n1 + n2
    return by_trainable(kw, trainable, frozen)


def _bidirectional_weights(kw, inputs):
    """The weights of the two copies Keras makes of ``layer``, named ``forward_NAME`` and
    ``backward_NAME``; a ``backward_layer`` given is used as it is, under its own name."""
    fwd, fkw = inner_layer(kw["layer"])
    name = held_name(fkw)
    out = held_weights(fwd, {**fkw, "name": f"forward_{name.removeprefix('forward_')}"}, inputs)
    if kw["backward_layer"] is None:
        bkw = {**fkw, "name": f"backward_{name.removeprefix('backward_')}"}
        return out + held_weights(fwd, bkw, inputs)
    return out + held_weights(*inner_layer(kw["backward_layer"]), inputs)


def _auto_backward(forward: Mapping[str, Any], backward: Mapping[str, Any]) -> bool:
    """Whether ``backward`` is the copy Bidirectional makes of ``forward`` by itself."""
    expected = {**forward, "go_backwards": not forward.get("go_backwards", False)}
    expected.pop("name", None)
    got = dict(backward)
    name = got.pop("name", None)
    if not expected["go_backwards"]:
        expected.pop("go_backwards")
    return got == expected and name in (None, f"backward_{forward.get('name')}")


def _bidirectional_from_config(kw: dict[str, Any]) -> None:
    forward, backward = kw.get("layer"), kw.get("backward_layer")
    if (
        isinstance(forward, dict)
        and isinstance(backward, dict)
        and _auto_backward(forward, backward)
    ):
        del kw["backward_layer"]  # the copy Keras makes when none is given


# Keras names Bidirectional's forward copy of its layer `forward_<name>`, and strips
# the prefix again when it makes one from a config.
FORWARD_PREFIX = "forward_"

BIDIRECTIONAL = LayerType(
    name="Bidirectional",
    owns_sublayers=True,
    category="wrapper",
    doc="Runs a recurrent layer forwards and backwards over the sequence and merges the two.",
    kwargs=(
        Kwarg("layer", LAYER_REF, description="The recurrent layer to run in both directions."),
        Kwarg(
            "merge_mode",
            nullable(enum("concat", "sum", "mul", "ave")),
            "concat",
            "How to combine the two outputs; None returns both.",
        ),
        Kwarg(
            "backward_layer",
            nullable(LAYER_REF),
            None,
            "The layer for the backward pass; None copies `layer` with go_backwards=True.",
        ),
        TRAINABLE,
    ),
    shape=_bidirectional_shape,
    params=_bidirectional_params,
    weights=_bidirectional_weights,
    from_config=_bidirectional_from_config,
)


def _time_distributed_inner(kw):
    inner, ikw = inner_layer(kw["layer"])
    if inner.is_merge:
        raise ShapeError(
            f"wraps only single-input layers; `{inner.name}` takes several inputs",
            code="MS304",
        )
    return inner, ikw


def _per_step(shape):
    """The input of one time step: the time axis (axis 1) dropped."""
    return (shape[0], *shape[2:])


def _rethrow(inner, err: ShapeError, step) -> ShapeError:
    # The wrapped layer's message is about the per-step shape, not the input itself.
    return ShapeError(
        f"wrapped `{inner.name}`, per time step: {err.render([step])}",
        code=err.code,
        hint=err.hint,
    )


def _time_distributed_shape(kw, inputs):
    (shape,) = inputs
    expect_min_rank(shape, 3)
    inner, ikw = _time_distributed_inner(kw)
    step = _per_step(shape)
    try:
        out = inner.shape(ikw, [step])
    except ShapeError as err:
        raise _rethrow(inner, err, step) from err
    if isinstance(out, list):
        raise ShapeError(
            f"wraps only layers with one output; `{inner.name}` returns {len(out)}",
            code="MS304",
        )
    return (out[0], shape[1], *out[1:])


def _time_distributed_params(kw, inputs):
    (shape,) = inputs
    inner, ikw = _time_distributed_inner(kw)
    step = _per_step(shape)
    try:
        trainable, frozen = nested_params(inner, ikw, [step])
    except ShapeError as err:
        raise _rethrow(inner, err, step) from err
    return by_trainable(kw, trainable, frozen)


def _time_distributed_weights(kw, inputs):
    inner, ikw = _time_distributed_inner(kw)
    return held_weights(inner, ikw, [_per_step(inputs[0])])


TIME_DISTRIBUTED = LayerType(
    name="TimeDistributed",
    owns_sublayers=True,
    category="wrapper",
    doc="Applies a layer to every time step (axis 1) of the input, with shared weights.",
    kwargs=(
        Kwarg("layer", LAYER_REF, description="The layer to apply to each time step."),
        TRAINABLE,
    ),
    shape=_time_distributed_shape,
    params=_time_distributed_params,
    weights=_time_distributed_weights,
)


# --- SpectralNormalization ----------------------------------------------------------------


def _transposed_channels(kw, shape):
    # A transposed convolution's kernel is (*kernel_size, filters, channels).
    return shape[1] if kw["data_format"] == "channels_first" else shape[-1]


# The layers whose weights SpectralNormalization can normalize: Keras takes the layer's
# `kernel`, else its `embeddings`, and refuses a layer with neither when it builds.
# Each gives the size of the last axis of that weight, for an input of `shape`.
_KERNEL_LAST = {
    "Dense": lambda kw, shape: kw["units"],
    "EinsumDense": lambda kw, shape: einsum_kernel_shape(kw, shape)[-1],
    "Embedding": lambda kw, shape: kw["output_dim"],
    "ReversibleEmbedding": lambda kw, shape: kw["output_dim"],
    **{f"Conv{n}D": (lambda kw, shape: kw["filters"]) for n in (1, 2, 3)},
    **{f"Conv{n}DTranspose": _transposed_channels for n in (1, 2, 3)},
    **{f"DepthwiseConv{n}D": (lambda kw, shape: kw["depth_multiplier"]) for n in (1, 2)},
    # A SpectralNormalization takes the kernel of the layer it wraps as its own.
    "SpectralNormalization": lambda kw, shape: _kernel_last(kw, shape)[2],
}


def _kernel_last(kw, shape):
    """The wrapped layer, its kwargs, and the size of the last axis of its kernel."""
    inner, ikw = inner_layer(kw["layer"])
    if inner.name not in _KERNEL_LAST:
        raise ShapeError(
            f"needs a layer with a `kernel` or `embeddings` weight to normalize; "
            f"`{inner.name}` has neither",
            code="MS304",
            hint="wrap Dense, EinsumDense, a Conv or ConvTranspose layer, DepthwiseConv1D/2D, "
            "Embedding or ReversibleEmbedding",
        )
    return inner, ikw, _KERNEL_LAST[inner.name](ikw, shape)


def _spectral_shape(kw, inputs):
    (shape,) = inputs
    inner, ikw, _ = _kernel_last(kw, shape)
    return inner.shape(ikw, inputs)


def _spectral_params(kw, inputs):
    (shape,) = inputs
    inner, ikw, last = _kernel_last(kw, shape)
    trainable, frozen = nested_params(inner, ikw, inputs)
    if last is None:
        raise ShapeError(
            f"needs a known size on the last axis of the kernel of `{inner.name}`; got "
            f"input {fmt_shape(shape)}",
            hint="give the input a fixed number of channels",
        )
    # vector_u, (1, kernel.shape[-1]): the power iteration's estimate, never trained.
    return by_trainable(kw, trainable, frozen + last)


def _spectral_weights(kw, inputs):
    inner, ikw, last = _kernel_last(kw, inputs[0])
    return [*held_weights(inner, ikw, inputs), Weight("vector_u", (1, last), False)]


SPECTRAL_NORMALIZATION = LayerType(
    name="SpectralNormalization",
    owns_sublayers=True,
    category="wrapper",
    doc=(
        "Divides the kernel (or embeddings) of the layer it wraps by its spectral norm, "
        "estimated by power iteration, at each training step. The output is cast to the "
        "input's dtype."
    ),
    kwargs=(
        Kwarg(
            "layer",
            LAYER_REF,
            description="The layer whose kernel is normalized: Dense, EinsumDense, a Conv or "
            "ConvTranspose layer, DepthwiseConv1D/2D, Embedding or ReversibleEmbedding.",
        ),
        Kwarg(
            "power_iterations",
            POS_INT,
            1,
            "Number of power iterations per training step that estimate the spectral norm.",
        ),
        TRAINABLE,
    ),
    shape=_spectral_shape,
    params=_spectral_params,
    weights=_spectral_weights,
    # Keras casts the wrapped layer's output to the input's dtype (an integer input to
    # an Embedding gives integer embeddings).
    dtype="same",
)

LAYERS = (LSTM, GRU, SIMPLE_RNN, BIDIRECTIONAL, TIME_DISTRIBUTED, SPECTRAL_NORMALIZATION)
