"""Convolutional LSTM layers: ConvLSTM1D, ConvLSTM2D, ConvLSTM3D.

An LSTM whose input and recurrent transformations are convolutions: each time step is
an image (or a sequence, or a volume) and each state is a feature map. The kwargs are
a convolution's (:mod:`modelspec.catalog.conv`) and an LSTM's
(:mod:`modelspec.catalog.rnn`); Keras's ``ConvLSTM.compute_output_shape`` applies
``compute_conv_output_shape`` to one time step.
"""

from __future__ import annotations

from modelspec.catalog.base import (
    DATA_FORMAT,
    TRAINABLE,
    LayerType,
    ShapeError,
    Weight,
    activation,
    by_trainable,
    expect_rank,
    fmt_shape,
    prod,
)
from modelspec.catalog.conv import (
    _AXES,
    _RANK_WORD,
    _channels_first,
    _dilation,
    _filters,
    _join,
    _kernel_size,
    _no_strided_dilation,
    _padding,
    _spatial_kwargs,
    _strides,
    _windows,
)
from modelspec.catalog.rnn import (
    DROPOUT,
    LOOP,
    RECURRENT_ACTIVATION,
    USE_BIAS,
    check_stateful,
    recurrent_weights,
)


def _layout(rank: int, first: bool) -> str:
    spatial = ", ".join(_AXES[rank])
    if first:
        return f"(batch, timesteps, channels, {spatial})"
    return f"(batch, timesteps, {spatial}, channels)"


def _step(kw, inputs, rank: int):
    """``(sequence, spatial sizes of a step, channels)``; the weights need them known."""
    (seq,) = inputs
    first = _channels_first(kw)
    expect_rank(seq, rank + 3, layout=_layout(rank, first))
    spatial, channels = (seq[3:], seq[2]) if first else (seq[2:-1], seq[-1])
    if None in spatial:
        # ConvLSTMCell.build: the zero initial state is made from the spatial sizes.
        raise ShapeError(
            f"needs known sizes on every spatial axis; got {fmt_shape(seq)}",
            hint="give the input fixed sizes on its spatial axes (the time axis may be null)",
        )
    if channels is None:
        raise ShapeError(
            f"needs a known channel count (axis {2 if first else -1}) to create its "
            f"weights; got {fmt_shape(seq)}",
            hint="give the input a fixed number of channels",
        )
    return seq, tuple(spatial), channels


def _rules(rank: int):
    def shape(kw, inputs):
        seq, spatial, _ = _step(kw, inputs, rank)
        kernel, strides, dilation = _spatial_kwargs(kw, rank)
        _no_strided_dilation(strides, dilation)
        check_stateful(kw, seq)
        out = _windows(rank, spatial, kernel, strides, kw["padding"], dilation)
        state = _join(kw, seq[0], out, kw["filters"])
        output = (seq[0], seq[1], *state[1:]) if kw["return_sequences"] else state
        if kw["return_state"]:
            return [output, state, state]  # [output, state_h, state_c]
        return output

    def params(kw, inputs):
        _, _, channels = _step(kw, inputs, rank)
        kernel = prod(_spatial_kwargs(kw, rank)[0])
        filters = kw["filters"]
        # The kernel is (*kernel_size, channels, 4 filters), the recurrent kernel
        # (*kernel_size, filters, 4 filters): one slice per gate.
        count = kernel * (channels + filters) * 4 * filters
        if kw["use_bias"]:
            count += 4 * filters
        return by_trainable(kw, count)

    def weights(kw, inputs):
        _, _, channels = _step(kw, inputs, rank)
        kernel, filters = _spatial_kwargs(kw, rank)[0], kw["filters"]
        # Keras makes the cell, `conv_lstm_cell`, without the layer's trainable flag.
        out = [
            Weight("conv_lstm_cell/kernel", (*kernel, channels, 4 * filters)),
            Weight("conv_lstm_cell/recurrent_kernel", (*kernel, filters, 4 * filters)),
        ]
        if kw["use_bias"]:
            out.append(Weight("conv_lstm_cell/bias", (4 * filters,)))
        return out

    return shape, params, weights


def _conv_lstm(rank: int) -> LayerType:
    shape, params, weights = _rules(rank)
    word = _RANK_WORD[rank]
    return LayerType(
        name=f"ConvLSTM{word}",
        # Its weights are its cell's, which Keras makes without the layer's trainable flag.
        owns_sublayers=True,
        category="recurrent",
        doc=f"{word} convolutional LSTM: an LSTM whose input and recurrent transformations "
        f"are {word} convolutions, over a (batch, timesteps, {', '.join(_AXES[rank])}, "
        "channels) sequence.",
        kwargs=(
            _filters(),
            _kernel_size(rank),
            _strides(rank),
            _padding(),
            DATA_FORMAT,
            _dilation(rank),
            activation("tanh"),
            RECURRENT_ACTIVATION,
            USE_BIAS,
            *recurrent_weights(unit_forget_bias=True),
            *DROPOUT,
            *LOOP,
            TRAINABLE,
        ),
        shape=shape,
        params=params,
        weights=weights,
    )


LAYERS = tuple(_conv_lstm(r) for r in (1, 2, 3))
