"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, cropping, padding, upsampling.

None of them has weights. Output dtypes follow Keras's symbolic call: ``Flatten``,
``Reshape`` and ``Permute`` define ``compute_output_spec`` and keep the input's
dtype; the others only define ``compute_output_shape``, so Keras gives their
output the layer's float32 compute dtype even for an integer input.
"""

from __future__ import annotations

from modelspec.catalog.base import (
    DATA_FORMAT,
    NONNEG_INT,
    POS_INT,
    TRAINABLE,
    Kwarg,
    LayerType,
    ShapeError,
    enum,
    expect_min_rank,
    expect_rank,
    fmt_shape,
    int_tuple,
    prod,
)


def _pair_or_pairs(n: int) -> dict:
    """An int, ``n`` ints (symmetric per axis), or ``n`` pairs, or a mix, as Keras takes."""
    per_axis = int_tuple(2, minimum=0)
    return {
        "anyOf": [
            dict(NONNEG_INT),
            {"type": "array", "minItems": n, "maxItems": n, "items": per_axis},
        ]
    }


def _pairs(value, n: int) -> tuple[tuple[int, int], ...]:
    """``cropping``/``padding`` as ``n`` ``(before, after)`` pairs.

    ``1`` -> ``((1, 1), ...)``; ``[1, 2]`` -> ``((1, 1), (2, 2))`` for n=2 (one
    symmetric amount per axis); pairs stay pairs. For n=1 Keras's
    ``standardize_tuple(value, 2)`` reads ``[a, b]`` as one ``(before, after)`` pair.
    """
    if isinstance(value, int):
        return ((value, value),) * n
    if n == 1:
        return (tuple(value),)
    return tuple((v, v) if isinstance(v, int) else tuple(v) for v in value)


def _spatial_axes(kw, n: int) -> list[int]:
    """Indices of the ``n`` spatial axes of a rank ``n + 2`` input."""
    start = 2 if kw.get("data_format") == "channels_first" else 1
    return list(range(start, start + n))


def _layout(kw, n: int, spatial: str) -> str:
    if kw.get("data_format") == "channels_first":
        return f"(batch, channels, {spatial})"
    return f"(batch, {spatial}, channels)"


_SPATIAL = {1: "steps", 2: "rows, cols", 3: "dim1, dim2, dim3"}


# --- Flatten, Reshape, Permute, RepeatVector -----------------------------------------


def _flatten_shape(kw, inputs):
    (shape,) = inputs
    expect_min_rank(shape, 1)
    rest = shape[1:]
    # data_format only changes the element order, never the size.
    if not rest:
        return (shape[0], 1)  # Keras flattens a batch of scalars to (batch, 1)
    if any(d is None for d in rest):
        return (shape[0], None)
    return (shape[0], prod(rest))


FLATTEN = LayerType(
    name="Flatten",
    category="reshape",
    doc="Flattens every axis but the batch axis into one.",
    kwargs=(DATA_FORMAT, TRAINABLE),
    shape=_flatten_shape,
    dtype="same",
)


def _reshape_shape(kw, inputs):
    (shape,) = inputs
    target = tuple(kw["target_shape"])
    if target.count(-1) > 1:
        raise ShapeError(
            f"allows at most one -1 in target_shape; got {fmt_shape(target)}", code="MS304"
        )
    if any(d < -1 for d in target):
        raise ShapeError(
            f"needs target_shape sizes >= 0, or -1 once; got {fmt_shape(target)}", code="MS304"
        )
    rest = shape[1:]
    # Keras checks the size only when every input axis is known; otherwise -1
    # stays unknown and a fixed target is taken on trust.
    if any(d is None for d in rest):
        return (shape[0], *(None if d == -1 else d for d in target))
    size = prod(rest)
    if -1 not in target:
        if prod(target) != size:
            raise ShapeError(
                f"cannot reshape {size} values into {fmt_shape(target)}",
                code="MS304",
                hint="the product of target_shape must equal the input's size without batch",
            )
        return (shape[0], *target)
    known = prod(d for d in target if d != -1)
    if known == 0 or size % known:
        raise ShapeError(
            f"cannot reshape {size} values into {fmt_shape(target)}: "
            f"{size} is not a multiple of {known}",
            code="MS304",
        )
    return (shape[0], *(size // known if d == -1 else d for d in target))


RESHAPE = LayerType(
    name="Reshape",
    category="reshape",
    doc="Reshapes the input (batch axis excluded) to `target_shape`.",
    kwargs=(
        Kwarg(
            "target_shape",
            {"type": "array", "items": {"type": "integer", "minimum": -1}},
            description="Output shape without the batch axis; one entry may be -1 (inferred).",
        ),
        TRAINABLE,
    ),
    shape=_reshape_shape,
    dtype="same",
)


def _permute_shape(kw, inputs):
    (shape,) = inputs
    dims = tuple(kw["dims"])
    if sorted(dims) != list(range(1, len(dims) + 1)):
        raise ShapeError(
            f"needs dims to be a permutation of 1..{len(dims)}; got {fmt_shape(dims)}",
            code="MS304",
            hint="dims counts axes from 1 and leaves out the batch axis",
        )
    expect_rank(shape, len(dims) + 1)
    return (shape[0], *(shape[d] for d in dims))


PERMUTE = LayerType(
    name="Permute",
    category="reshape",
    doc="Permutes the non-batch axes of the input by `dims`.",
    kwargs=(
        Kwarg(
            "dims",
            {"type": "array", "minItems": 1, "items": POS_INT},
            description="Permutation of the non-batch axes, counted from 1, e.g. [2, 1].",
        ),
        TRAINABLE,
    ),
    shape=_permute_shape,
    dtype="same",
)


def _repeat_vector_shape(kw, inputs):
    (shape,) = inputs
    expect_rank(shape, 2, layout="(batch, features)")
    return (shape[0], kw["n"], shape[1])


REPEAT_VECTOR = LayerType(
    name="RepeatVector",
    category="reshape",
    doc="Repeats a `(batch, features)` input `n` times: `(batch, n, features)`.",
    kwargs=(Kwarg("n", POS_INT, description="Number of repetitions."), TRAINABLE),
    shape=_repeat_vector_shape,
)


# --- Cropping ------------------------------------------------------------------------


def _cropping_shape(n: int):
    def rule(kw, inputs):
        (shape,) = inputs
        expect_rank(shape, n + 2, layout=_layout(kw, n, _SPATIAL[n]))
        out = list(shape)
        for axis, (before, after) in zip(_spatial_axes(kw, n), _pairs(kw["cropping"], n)):
            if out[axis] is None:
                continue
            if before + after >= out[axis]:
                raise ShapeError(
                    f"needs a crop smaller than the axis it crops; got {before} + {after}"
                    f" on axis {axis} of size {out[axis]} in {fmt_shape(shape)}",
                    code="MS304",
                )
            out[axis] -= before + after
        return tuple(out)

    return rule


CROPPING_1D = LayerType(
    name="Cropping1D",
    category="reshape",
    doc="Crops a `(batch, steps, channels)` input along the steps axis.",
    kwargs=(
        Kwarg(
            "cropping",
            int_tuple(2, minimum=0),
            [1, 1],
            "Steps to cut at the start and end: an int, or [start, end].",
        ),
        TRAINABLE,
    ),
    shape=_cropping_shape(1),
)

CROPPING_2D = LayerType(
    name="Cropping2D",
    category="reshape",
    doc="Crops the rows and columns of a 4D image input.",
    kwargs=(
        Kwarg(
            "cropping",
            _pair_or_pairs(2),
            [[0, 0], [0, 0]],
            "Rows/cols to cut: an int, [rows, cols] (symmetric), or [[top, bottom], [left, right]].",
        ),
        DATA_FORMAT,
        TRAINABLE,
    ),
    shape=_cropping_shape(2),
)

CROPPING_3D = LayerType(
    name="Cropping3D",
    category="reshape",
    doc="Crops the three spatial axes of a 5D volume input.",
    kwargs=(
        Kwarg(
            "cropping",
            _pair_or_pairs(3),
            [[1, 1], [1, 1], [1, 1]],
            "Amount to cut per spatial axis: an int, three ints, or three [start, end] pairs.",
        ),
        DATA_FORMAT,
        TRAINABLE,
    ),
    shape=_cropping_shape(3),
)


# --- ZeroPadding ---------------------------------------------------------------------


def _padding_shape(n: int):
    def rule(kw, inputs):
        (shape,) = inputs
        expect_rank(shape, n + 2, layout=_layout(kw, n, _SPATIAL[n]))
        out = list(shape)
        for axis, (before, after) in zip(_spatial_axes(kw, n), _pairs(kw["padding"], n)):
            if out[axis] is not None:
                out[axis] += before + after
        return tuple(out)

    return rule


ZERO_PADDING_1D = LayerType(
    name="ZeroPadding1D",
    category="reshape",
    doc="Pads a 3D sequence input with zeros along the steps axis.",
    kwargs=(
        Kwarg(
            "padding",
            int_tuple(2, minimum=0),
            1,
            "Zeros to add at the start and end of the steps axis: an int, or [start, end].",
        ),
        DATA_FORMAT,
        TRAINABLE,
    ),
    shape=_padding_shape(1),
)

ZERO_PADDING_2D = LayerType(
    name="ZeroPadding2D",
    category="reshape",
    doc="Pads the rows and columns of a 4D image input with zeros.",
    kwargs=(
        Kwarg(
            "padding",
            _pair_or_pairs(2),
            [1, 1],
            "Zeros to add: an int, [rows, cols] (symmetric), or [[top, bottom], [left, right]].",
        ),
        DATA_FORMAT,
        TRAINABLE,
    ),
    shape=_padding_shape(2),
)

ZERO_PADDING_3D = LayerType(
    name="ZeroPadding3D",
    category="reshape",
    doc="Pads the three spatial axes of a 5D volume input with zeros.",
    kwargs=(
        Kwarg(
            "padding",
            _pair_or_pairs(3),
            [[1, 1], [1, 1], [1, 1]],
            "Zeros to add per spatial axis: an int, three ints, or three [start, end] pairs.",
        ),
        DATA_FORMAT,
        TRAINABLE,
    ),
    shape=_padding_shape(3),
)


# --- UpSampling ----------------------------------------------------------------------


def _upsampling_shape(n: int):
    def rule(kw, inputs):
        (shape,) = inputs
        # UpSampling1D has no data_format: kw.get gives None, i.e. channels_last.
        expect_rank(shape, n + 2, layout=_layout(kw, n, _SPATIAL[n]))
        size = kw["size"]
        sizes = (size,) * n if isinstance(size, int) else tuple(size)
        out = list(shape)
        for axis, factor in zip(_spatial_axes(kw, n), sizes):
            if out[axis] is not None:
                out[axis] *= factor
        return tuple(out)

    return rule


UP_SAMPLING_1D = LayerType(
    name="UpSampling1D",
    category="reshape",
    doc="Repeats each step of a `(batch, steps, features)` input `size` times.",
    kwargs=(Kwarg("size", POS_INT, 2, "Upsampling factor for the steps axis."), TRAINABLE),
    shape=_upsampling_shape(1),
)

UP_SAMPLING_2D = LayerType(
    name="UpSampling2D",
    category="reshape",
    doc="Upsamples the rows and columns of a 4D image input by `size`.",
    kwargs=(
        Kwarg("size", int_tuple(2), [2, 2], "Upsampling factors for rows and columns."),
        DATA_FORMAT,
        Kwarg(
            "interpolation",
            # "area" is accepted by the TensorFlow backend only.
            enum("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"),
            "nearest",
            "Interpolation used to fill the new rows and columns.",
        ),
        TRAINABLE,
    ),
    shape=_upsampling_shape(2),
)

UP_SAMPLING_3D = LayerType(
    name="UpSampling3D",
    category="reshape",
    doc="Repeats the three spatial axes of a 5D volume input by `size`.",
    kwargs=(
        Kwarg("size", int_tuple(3), [2, 2, 2], "Upsampling factors for the three spatial axes."),
        DATA_FORMAT,
        TRAINABLE,
    ),
    shape=_upsampling_shape(3),
)

LAYERS = (
    FLATTEN,
    RESHAPE,
    PERMUTE,
    REPEAT_VECTOR,
    CROPPING_1D,
    CROPPING_2D,
    CROPPING_3D,
    ZERO_PADDING_1D,
    ZERO_PADDING_2D,
    ZERO_PADDING_3D,
    UP_SAMPLING_1D,
    UP_SAMPLING_2D,
    UP_SAMPLING_3D,
)
