"""Convolution and pooling layers: ConvND, transposed, separable, depthwise, pooling.

Every family is one rule parameterised by the number of spatial axes (``rank``);
the arithmetic follows Keras's ``compute_conv_output_shape``,
``compute_conv_transpose_output_shape`` and ``compute_pooling_output_shape``;
adaptive pooling's output has the spatial sizes its ``output_size`` says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelspec.catalog.base import (
    ACTIVITY_REGULARIZER,
    BOOL,
    DATA_FORMAT,
    POS_INT,
    REQUIRED,
    TRAINABLE,
    Dim,
    Kwarg,
    LayerType,
    Shape,
    ShapeError,
    activation,
    as_tuple,
    by_trainable,
    collapse,
    conv_out_len,
    enum,
    expect_rank,
    fmt_shape,
    int_tuple,
    nullable,
    own_weights,
    prod,
    weight_kwargs,
)

# Names of the spatial axes, for messages: "the input's 3 rows".
_AXES = {1: ("steps",), 2: ("rows", "cols"), 3: ("planes", "rows", "cols")}
_RANK_WORD = {1: "1D", 2: "2D", 3: "3D"}


# --- shared pieces of the rules --------------------------------------------------------


def _channels_first(kw: Mapping[str, Any]) -> bool:
    # None is Keras's config default, image_data_format, which is channels_last
    # unless a keras.json says otherwise.
    return kw["data_format"] == "channels_first"


def _layout(rank: int, first: bool) -> str:
    spatial = ", ".join(_AXES[rank])
    return f"(batch, channels, {spatial})" if first else f"(batch, {spatial}, channels)"


def _split(kw: Mapping[str, Any], shape: Shape, rank: int) -> tuple[tuple[Dim, ...], Dim]:
    """``(spatial dims, channels)`` of an input of exactly ``rank + 2`` axes.

    Keras's InputSpec only asks for ``min_ndim=rank + 2`` on convolutions, but
    ``compute_conv_output_shape`` then refuses any other rank, so it is exact.
    """
    first = _channels_first(kw)
    expect_rank(shape, rank + 2, layout=_layout(rank, first))
    if first:
        return tuple(shape[2:]), shape[1]
    return tuple(shape[1:-1]), shape[-1]


def _join(kw: Mapping[str, Any], batch: Dim, spatial: Sequence[Dim], channels: Dim) -> Shape:
    if _channels_first(kw):
        return (batch, channels, *spatial)
    return (batch, *spatial, channels)


def _channels(kw: Mapping[str, Any], shape: Shape) -> int:
    """The input's channel count, which the weights' shapes need."""
    axis = 1 if _channels_first(kw) else -1
    if shape[axis] is None:
        raise ShapeError(
            f"needs a known channel count (axis {axis}) to create its weights; "
            f"got {fmt_shape(shape)}",
            hint="give the input a fixed number of channels",
        )
    return shape[axis]


def _windows(
    rank: int,
    spatial: Sequence[Dim],
    size: Sequence[int],
    strides: Sequence[int],
    padding: str,
    dilation: Sequence[int] | None = None,
    what: str = "kernel",
) -> tuple[Dim, ...]:
    """Output length of each spatial axis under a sliding window."""
    dilation = dilation or (1,) * rank
    out = []
    for axis, n, k, s, d in zip(_AXES[rank], spatial, size, strides, dilation, strict=True):
        effective = (k - 1) * d + 1
        # Keras checks only 'valid', and only known sizes; 'same' may even give 0.
        if padding == "valid" and n is not None and effective > n:
            detail = f" (size {k}, dilation {d})" if d > 1 else ""
            raise ShapeError(
                f"with padding 'valid', the {what} must fit in the input: {what} "
                f"{effective}{detail} is larger than the input's {n} {axis}",
                hint=f"use padding 'same', a smaller {what}, or a larger input",
            )
        # 'causal' pads kernel - 1 steps on the left only: same length as 'same'.
        out.append(conv_out_len(n, k, s, "same" if padding == "causal" else padding, d))
    return tuple(out)


def _deconv_len(n: Dim, k: int, s: int, padding: str, out_pad: int | None, d: int) -> Dim:
    """Keras's ``_get_output_shape_given_tf_padding`` for one axis."""
    if n is None:
        return None
    k = (k - 1) * d + 1
    if padding == "valid":
        out_pad = max(k, s) - k if out_pad is None else out_pad
        return (n - 1) * s + k + out_pad
    if out_pad is None:
        return n * s
    return (n - 1) * s + k % 2 + out_pad


def _no_strided_dilation(strides: Sequence[int], dilation: Sequence[int]) -> None:
    # The ConvND and ConvNDTranspose constructors refuse this; separable and
    # depthwise ones do not (and Keras builds them symbolically).
    if max(strides) > 1 and max(dilation) > 1:
        raise ShapeError(
            "strides > 1 cannot be combined with dilation_rate > 1: "
            f"got strides={list(strides)}, dilation_rate={list(dilation)}",
            code="MS304",
        )


def _spatial_kwargs(kw: Mapping[str, Any], rank: int):
    return (
        as_tuple(kw["kernel_size"], rank),
        as_tuple(kw["strides"], rank),
        as_tuple(kw["dilation_rate"], rank),
    )


def _count(kw: Mapping[str, Any], total: int) -> tuple[int, int]:
    # Every conv weight is created trainable; trainable=False moves them all.
    return by_trainable(kw, total)


def _bias(kw: Mapping[str, Any], size: int) -> tuple[str, tuple[int]] | None:
    return ("bias", (size,)) if kw["use_bias"] else None


# --- rules for each family -------------------------------------------------------------


def _conv_rules(rank: int):
    def check(kw, inputs):
        (shape,) = inputs
        spatial, _ = _split(kw, shape, rank)
        kernel, strides, dilation = _spatial_kwargs(kw, rank)
        _no_strided_dilation(strides, dilation)
        filters, groups = kw["filters"], kw["groups"]
        if filters % groups:
            raise ShapeError(
                f"filters must be divisible by groups: got filters={filters}, groups={groups}",
                code="MS304",
            )
        channels = _channels(kw, shape)
        if channels % groups:
            raise ShapeError(
                f"input channels must be divisible by groups: got {channels} channels "
                f"in {fmt_shape(shape)}, groups={groups}",
                code="MS304",
            )
        return spatial, kernel, strides, dilation, channels

    def shape(kw, inputs):
        spatial, kernel, strides, dilation, _ = check(kw, inputs)
        out = _windows(rank, spatial, kernel, strides, kw["padding"], dilation)
        return _join(kw, inputs[0][0], out, kw["filters"])

    def params(kw, inputs):
        _, kernel, _, _, channels = check(kw, inputs)
        filters = kw["filters"]
        total = prod(kernel) * (channels // kw["groups"]) * filters
        return _count(kw, total + (filters if kw["use_bias"] else 0))

    def weights(kw, inputs):
        _, kernel, _, _, channels = check(kw, inputs)
        filters = kw["filters"]
        return own_weights(kw, ("kernel", (*kernel, channels // kw["groups"], filters)),
                           _bias(kw, filters))  # fmt: skip

    return shape, params, weights


def _transpose_rules(rank: int):
    def check(kw, inputs):
        (shape,) = inputs
        spatial, _ = _split(kw, shape, rank)
        kernel, strides, dilation = _spatial_kwargs(kw, rank)
        out_pad = kw["output_padding"]
        out_pad = None if out_pad is None else as_tuple(out_pad, rank)
        if out_pad is not None and any(p >= s for p, s in zip(out_pad, strides, strict=True)):
            raise ShapeError(
                "output_padding must be less than strides on every axis: got "
                f"output_padding={list(out_pad)}, strides={list(strides)}",
                code="MS304",
            )
        _no_strided_dilation(strides, dilation)
        return shape, spatial, kernel, strides, dilation, out_pad

    def shape(kw, inputs):
        shape, spatial, kernel, strides, dilation, out_pad = check(kw, inputs)
        _channels(kw, shape)  # the kernel is (*kernel_size, filters, channels)
        pads = out_pad or (None,) * rank
        out = []
        for axis, n, k, s, p, d in zip(_AXES[rank], spatial, kernel, strides, pads, dilation):
            length = _deconv_len(n, k, s, kw["padding"], p, d)
            # Keras builds a 0-length axis ('same' with output_padding on 1 step,
            # even kernel) but cannot make a negative one (a 0-length input).
            if length is not None and length < 0:
                raise ShapeError(
                    f"the output size must not be negative: an input of {n} {axis} gives {length}"
                )
            out.append(length)
        return _join(kw, shape[0], out, kw["filters"])

    def params(kw, inputs):
        shape, _, kernel, *_ = check(kw, inputs)
        filters = kw["filters"]
        total = prod(kernel) * filters * _channels(kw, shape)
        return _count(kw, total + (filters if kw["use_bias"] else 0))

    def weights(kw, inputs):
        shape, _, kernel, *_ = check(kw, inputs)
        filters = kw["filters"]
        return own_weights(kw, ("kernel", (*kernel, filters, _channels(kw, shape))),
                           _bias(kw, filters))  # fmt: skip

    return shape, params, weights


def _separable_rules(rank: int, depthwise_only: bool):
    """SeparableConvND (depthwise then 1x1 pointwise) and DepthwiseConvND."""

    def shape(kw, inputs):
        (shape,) = inputs
        spatial, _ = _split(kw, shape, rank)
        channels = _channels(kw, shape)  # depthwise output is channels * multiplier
        kernel, strides, dilation = _spatial_kwargs(kw, rank)
        out = _windows(rank, spatial, kernel, strides, kw["padding"], dilation)
        width = channels * kw["depth_multiplier"] if depthwise_only else kw["filters"]
        return _join(kw, shape[0], out, width)

    def params(kw, inputs):
        (shape,) = inputs
        _split(kw, shape, rank)
        channels = _channels(kw, shape)
        inner = channels * kw["depth_multiplier"]
        total = prod(as_tuple(kw["kernel_size"], rank)) * inner
        if depthwise_only:
            bias = inner
        else:
            total += inner * kw["filters"]  # pointwise kernel (1, ..., inner, filters)
            bias = kw["filters"]
        return _count(kw, total + (bias if kw["use_bias"] else 0))

    def weights(kw, inputs):
        (shape,) = inputs
        channels = _channels(kw, shape)
        multiplier = kw["depth_multiplier"]
        depthwise = (*as_tuple(kw["kernel_size"], rank), channels, multiplier)
        if depthwise_only:  # Keras calls a DepthwiseConv's weight `kernel`
            return own_weights(kw, ("kernel", depthwise), _bias(kw, channels * multiplier))
        pointwise = (*(1,) * rank, channels * multiplier, kw["filters"])
        return own_weights(kw, ("depthwise_kernel", depthwise), ("pointwise_kernel", pointwise),
                           _bias(kw, kw["filters"]))  # fmt: skip

    return shape, params, weights


def _pool_shape(rank: int):
    def shape(kw, inputs):
        (shape,) = inputs
        # Pooling's InputSpec is ndim=rank + 2; channels may be unknown.
        spatial, channels = _split(kw, shape, rank)
        size = as_tuple(kw["pool_size"], rank)
        strides = size if kw["strides"] is None else as_tuple(kw["strides"], rank)
        out = _windows(rank, spatial, size, strides, kw["padding"], what="pool")
        return _join(kw, shape[0], out, channels)

    return shape


def _global_pool_shape(rank: int):
    def shape(kw, inputs):
        (shape,) = inputs
        _, channels = _split(kw, shape, rank)
        if not kw["keepdims"]:
            return (shape[0], channels)
        return _join(kw, shape[0], (1,) * rank, channels)

    return shape


def _adaptive_pool_shape(rank: int):
    def shape(kw, inputs):
        (shape,) = inputs
        # Keras states no input rank and reports (batch, *output_size, channels) for
        # any, but the pooling itself then fails, or gives another shape: exact here.
        _, channels = _split(kw, shape, rank)
        return _join(kw, shape[0], as_tuple(kw["output_size"], rank), channels)

    return shape


# --- kwargs ------------------------------------------------------------------------------


def _one_or_n(value: int, rank: int) -> Any:
    # Keras writes 1D defaults as an int and 2D/3D ones as a tuple.
    return value if rank == 1 else [value] * rank


def _filters() -> Kwarg:
    return Kwarg("filters", POS_INT, description="Number of output channels (filters).")


def _kernel_size(rank: int) -> Kwarg:
    return Kwarg(
        "kernel_size",
        int_tuple(rank),
        description="Size of the convolution window: an int, or one per spatial axis.",
    )


def _strides(rank: int) -> Kwarg:
    return Kwarg(
        "strides",
        int_tuple(rank),
        _one_or_n(1, rank),
        "Step of the window along each spatial axis: an int, or one per axis.",
    )


def _padding(causal: bool = False) -> Kwarg:
    if causal:
        return Kwarg(
            "padding",
            enum("valid", "same", "causal"),
            "valid",
            "'valid' (no padding), 'same' (output length ceil(input / strides)) or "
            "'causal' (pad on the left only, so no step sees the future).",
        )
    return Kwarg(
        "padding",
        enum("valid", "same"),
        "valid",
        "'valid' (no padding) or 'same' (pad so each output size is ceil(input / strides)).",
    )


def _dilation(rank: int) -> Kwarg:
    return Kwarg(
        "dilation_rate",
        int_tuple(rank),
        _one_or_n(1, rank),
        "Spacing between kernel taps along each spatial axis: an int, or one per axis.",
    )


GROUPS = Kwarg(
    "groups",
    POS_INT,
    1,
    "Number of groups the channels are split into; input channels and filters must "
    "both be divisible by it.",
)
USE_BIAS = Kwarg("use_bias", BOOL, True, "Whether the layer adds a bias vector.")
DEPTH_MULTIPLIER = Kwarg(
    "depth_multiplier", POS_INT, 1, "Number of depthwise output channels per input channel."
)


def _output_padding(rank: int) -> Kwarg:
    return Kwarg(
        "output_padding",
        nullable(int_tuple(rank, minimum=0)),
        None,
        "Extra size added to each output spatial axis, each less than its stride; "
        "null lets Keras infer it.",
    )


# --- the layer types -------------------------------------------------------------------


def _conv(rank: int) -> LayerType:
    shape, params, weights = _conv_rules(rank)
    return LayerType(
        name=f"Conv{_RANK_WORD[rank]}",
        category="convolution",
        doc=f"{_RANK_WORD[rank]} convolution: `activation(conv(input, kernel) + bias)` "
        f"over {', '.join(_AXES[rank])}.",
        kwargs=(
            _filters(),
            _kernel_size(rank),
            _strides(rank),
            _padding(causal=rank == 1),
            DATA_FORMAT,
            _dilation(rank),
            GROUPS,
            activation(),
            USE_BIAS,
            *weight_kwargs("kernel", "bias"),
            ACTIVITY_REGULARIZER,
            TRAINABLE,
        ),
        shape=shape,
        params=params,
        weights=weights,
    )


def _conv_transpose(rank: int) -> LayerType:
    shape, params, weights = _transpose_rules(rank)
    return LayerType(
        name=f"Conv{_RANK_WORD[rank]}Transpose",
        category="convolution",
        doc=f"{_RANK_WORD[rank]} transposed convolution (deconvolution): upsamples "
        f"{', '.join(_AXES[rank])} by the strides.",
        kwargs=(
            _filters(),
            _kernel_size(rank),
            _strides(rank),
            _padding(),
            _output_padding(rank),
            DATA_FORMAT,
            _dilation(rank),
            activation(),
            USE_BIAS,
            *weight_kwargs("kernel", "bias"),
            ACTIVITY_REGULARIZER,
            TRAINABLE,
        ),
        shape=shape,
        params=params,
        weights=weights,
    )


def _separable(rank: int) -> LayerType:
    shape, params, weights = _separable_rules(rank, depthwise_only=False)
    return LayerType(
        name=f"SeparableConv{_RANK_WORD[rank]}",
        category="convolution",
        doc=f"{_RANK_WORD[rank]} separable convolution: a depthwise convolution per "
        "channel, then a pointwise (1x1) one mixing channels.",
        kwargs=(
            _filters(),
            _kernel_size(rank),
            _strides(rank),
            _padding(),
            DATA_FORMAT,
            _dilation(rank),
            DEPTH_MULTIPLIER,
            activation(),
            USE_BIAS,
            *weight_kwargs("depthwise", "pointwise", "bias"),
            ACTIVITY_REGULARIZER,
            TRAINABLE,
        ),
        shape=shape,
        params=params,
        weights=weights,
    )


def _depthwise(rank: int) -> LayerType:
    shape, params, weights = _separable_rules(rank, depthwise_only=True)
    return LayerType(
        name=f"DepthwiseConv{_RANK_WORD[rank]}",
        category="convolution",
        doc=f"{_RANK_WORD[rank]} depthwise convolution: each input channel is convolved "
        "separately into depth_multiplier output channels.",
        kwargs=(
            _kernel_size(rank),
            _strides(rank),
            _padding(),
            DEPTH_MULTIPLIER,
            DATA_FORMAT,
            _dilation(rank),
            activation(),
            USE_BIAS,
            *weight_kwargs("depthwise", "bias"),
            ACTIVITY_REGULARIZER,
            TRAINABLE,
        ),
        shape=shape,
        params=params,
        weights=weights,
    )


def _pooling(rank: int, mode: str) -> LayerType:
    # MaxPoolingND defaults pool_size to 2 per axis; AveragePoolingND requires it.
    default = _one_or_n(2, rank) if mode == "Max" else REQUIRED

    def from_config(kw: dict[str, Any]) -> None:
        # Keras writes strides=pool_size when it was left out.
        if "strides" in kw:
            pool = kw.get("pool_size", default)
            if collapse(pool) == kw["strides"] or pool == kw["strides"]:
                del kw["strides"]

    return LayerType(
        name=f"{mode}Pooling{_RANK_WORD[rank]}",
        category="pooling",
        doc=f"{_RANK_WORD[rank]} {mode.lower()} pooling over windows of {', '.join(_AXES[rank])}.",
        kwargs=(
            Kwarg(
                "pool_size",
                int_tuple(rank),
                default,
                "Size of the pooling window: an int, or one per spatial axis.",
            ),
            Kwarg(
                "strides",
                nullable(int_tuple(rank)),
                None,
                "Step of the pooling window: an int, or one per axis; null means pool_size.",
            ),
            _padding(),
            DATA_FORMAT,
            TRAINABLE,
        ),
        shape=_pool_shape(rank),
        # The output is the layer's float32 compute dtype even for integer inputs.
        dtype="float",
        from_config=from_config,
    )


def _global_pooling(rank: int, mode: str) -> LayerType:
    return LayerType(
        name=f"Global{mode}Pooling{_RANK_WORD[rank]}",
        category="pooling",
        doc=f"{mode} over all of {', '.join(_AXES[rank])}, leaving one value per channel.",
        kwargs=(
            DATA_FORMAT,
            Kwarg(
                "keepdims",
                BOOL,
                False,
                "Whether to keep the pooled spatial axes, with size 1.",
            ),
            TRAINABLE,
        ),
        shape=_global_pool_shape(rank),
        dtype="float",
    )


def _adaptive_pooling(rank: int, mode: str) -> LayerType:
    return LayerType(
        name=f"Adaptive{mode}Pooling{_RANK_WORD[rank]}",
        category="pooling",
        doc=f"{_RANK_WORD[rank]} {mode.lower()} pooling to a fixed output size: the windows "
        f"over {', '.join(_AXES[rank])} are sized so that any input size gives output_size.",
        kwargs=(
            Kwarg(
                "output_size",
                int_tuple(rank),
                description="Size of the output's spatial axes: an int, or one per axis.",
            ),
            DATA_FORMAT,
            TRAINABLE,
        ),
        shape=_adaptive_pool_shape(rank),
        dtype="float",
    )


LAYERS = (
    *(_conv(r) for r in (1, 2, 3)),
    *(_conv_transpose(r) for r in (1, 2, 3)),
    *(_separable(r) for r in (1, 2)),
    *(_depthwise(r) for r in (1, 2)),
    *(_pooling(r, "Max") for r in (1, 2, 3)),
    *(_pooling(r, "Average") for r in (1, 2, 3)),
    *(_global_pooling(r, "Max") for r in (1, 2, 3)),
    *(_global_pooling(r, "Average") for r in (1, 2, 3)),
    *(_adaptive_pooling(r, "Average") for r in (1, 2, 3)),
    *(_adaptive_pooling(r, "Max") for r in (1, 2, 3)),
)
