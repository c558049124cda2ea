"""Image preprocessing and augmentation: CenterCrop, Resizing, and the Random* layers
that flip, rotate, zoom, translate and change contrast or brightness in training.

They take a batch of images, rank 4, or one image, rank 3 (Keras reads a rank-3
input as one unbatched image, so a ``(batch, steps, features)`` tensor is resized on
its first two axes). Only CenterCrop checks the rank when the model is built. None has weights; each gives the layer's float32 compute dtype.
The Random* layers draw random numbers when called in training: a spec's ``seed``
gives each its own (``random=True``), and outside training they pass the input on.
"""

from __future__ import annotations

from modelspec.catalog.base import (
    BOOL,
    DATA_FORMAT,
    NUMBER,
    POS_INT,
    TRAINABLE,
    Kwarg,
    LayerType,
    enum,
    expect_min_rank,
    expect_rank,
    nullable,
)

IMAGES = "(batch, height, width, channels) or (height, width, channels)"
SEED = Kwarg("seed", nullable({"type": "integer"}), None, "Random seed, for reproducible draws.")
HEIGHT = Kwarg("height", POS_INT, description="Height of the output images.")
WIDTH = Kwarg("width", POS_INT, description="Width of the output images.")
INTERPOLATION = enum("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5", "area")
FILL_MODE = enum("reflect", "wrap", "constant", "nearest")
# A factor: a fraction `f` (drawn from [-f, f]) or a range [lower, upper].
FACTOR = {
    "anyOf": [
        {"type": "number"},
        {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
    ]
}


def _bounded_factor(low: int) -> dict:
    """A factor Keras checks against its bounds, ``[low, 1]`` for a number."""
    return {"anyOf": [{"type": "number", "minimum": low, "maximum": 1}, FACTOR["anyOf"][1]]}


def _factor_from_config(low: int):
    """Keras saves a factor ``f`` as the range it stands for, ``(max(-f, low), f)``:
    that range reads back as ``f``."""

    def fix(kw):
        factor = kw.get("factor")
        if isinstance(factor, (list, tuple)) and len(factor) == 2:
            lower, upper = factor
            if isinstance(upper, (int, float)) and upper >= 0 and lower == max(-upper, low):
                kw["factor"] = upper

    return fix


VALUE_RANGE = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}


def _same_images(kw, inputs):
    """The input's shape: Keras checks no rank when the model is built (a wrong one
    fails when the layer runs)."""
    (shape,) = inputs
    return shape


def _center_crop(kw, inputs):
    (shape,) = inputs
    expect_rank(shape, 3, 4, layout=IMAGES)
    return _resized(kw, inputs)


def _resized(kw, inputs):
    """The input with its height and width axes set to ``height`` and ``width``, as
    Keras's compute_output_shape of CenterCrop and Resizing: the axes after the batch
    of a rank-4 input, else the first ones (one image)."""
    (shape,) = inputs
    first = (len(shape) == 4) + (kw.get("data_format") == "channels_first")
    expect_min_rank(shape, first + 2)
    out = list(shape)
    out[first], out[first + 1] = kw["height"], kw["width"]
    return tuple(out)


def _fill(default: str) -> tuple[Kwarg, ...]:
    """How the points outside the input are filled, and how pixels are interpolated."""
    return (
        Kwarg("fill_mode", FILL_MODE, default, "How points outside the input are filled."),
        Kwarg("interpolation", INTERPOLATION, "bilinear", "Interpolation of the pixels."),
        SEED,
        Kwarg("fill_value", NUMBER, 0.0, "The value outside the input for fill_mode 'constant'."),
        DATA_FORMAT,
    )


CENTER_CROP = LayerType(
    name="CenterCrop",
    category="preprocessing",
    doc="Crops the centre of each image to `height` x `width` (resizing a smaller one).",
    kwargs=(HEIGHT, WIDTH, DATA_FORMAT, TRAINABLE),
    shape=_center_crop,
)

RESIZING = LayerType(
    name="Resizing",
    category="preprocessing",
    doc="Resizes each image to `height` x `width`.",
    kwargs=(
        HEIGHT,
        WIDTH,
        Kwarg("interpolation", INTERPOLATION, "bilinear", "Interpolation of the pixels."),
        Kwarg("crop_to_aspect_ratio", BOOL, False, "Crop to the output's aspect ratio first."),
        Kwarg("pad_to_aspect_ratio", BOOL, False, "Pad to the output's aspect ratio first."),
        Kwarg("fill_mode", enum("constant"), "constant", "How padding is filled."),
        Kwarg("fill_value", NUMBER, 0.0, "The value of the padding."),
        Kwarg("antialias", BOOL, False, "Use an anti-aliasing filter when downsampling."),
        DATA_FORMAT,
        TRAINABLE,
    ),
    shape=_resized,
)

RANDOM_FLIP = LayerType(
    name="RandomFlip",
    category="preprocessing",
    doc="Flips each image at random in training, horizontally, vertically or both.",
    kwargs=(
        Kwarg(
            "mode",
            enum("horizontal", "vertical", "horizontal_and_vertical"),
            "horizontal_and_vertical",
            "Which flips to draw from.",
        ),
        SEED,
        DATA_FORMAT,
        TRAINABLE,
    ),
    shape=_same_images,
    random=True,
)

RANDOM_ROTATION = LayerType(
    name="RandomRotation",
    category="preprocessing",
    doc="Rotates each image at random in training, by a fraction of a full turn.",
    kwargs=(
        Kwarg(
            "factor",
            _bounded_factor(-1),
            description="Fraction of 2*pi: `f` for [-f, f], or a range.",
        ),
        *_fill("reflect"),
        TRAINABLE,
    ),
    shape=_same_images,
    random=True,
    from_config=_factor_from_config(-1),
)

RANDOM_ZOOM = LayerType(
    name="RandomZoom",
    category="preprocessing",
    doc="Zooms each image in or out at random in training.",
    kwargs=(
        Kwarg("height_factor", FACTOR, description="Vertical zoom: `f` for [-f, f], or a range."),
        Kwarg(
            "width_factor",
            nullable(FACTOR),
            None,
            "Horizontal zoom; None keeps the aspect ratio (the height's zoom).",
        ),
        *_fill("reflect"),
        TRAINABLE,
    ),
    shape=_same_images,
    random=True,
)

RANDOM_TRANSLATION = LayerType(
    name="RandomTranslation",
    category="preprocessing",
    doc="Shifts each image at random in training, by fractions of its height and width.",
    kwargs=(
        Kwarg("height_factor", FACTOR, description="Vertical shift: `f` for [-f, f], or a range."),
        Kwarg("width_factor", FACTOR, description="Horizontal shift: `f` for [-f, f], or a range."),
        *_fill("reflect"),
        TRAINABLE,
    ),
    shape=_same_images,
    random=True,
)


def _color(name: str, what: str, low: int) -> LayerType:
    return LayerType(
        name=name,
        category="preprocessing",
        doc=f"Changes the {what} of each image at random in training.",
        kwargs=(
            Kwarg("factor", _bounded_factor(low), description=f"How much the {what} may change."),
            Kwarg("value_range", VALUE_RANGE, [0, 255], "The range of the input's values."),
            SEED,
            DATA_FORMAT,
            TRAINABLE,
        ),
        shape=_same_images,
        random=True,
        from_config=_factor_from_config(low),
    )


# Keras's bounds of a factor (its _FACTOR_BOUNDS): contrast changes by [0, 1] at most.
RANDOM_CONTRAST = _color("RandomContrast", "contrast", 0)
RANDOM_BRIGHTNESS = _color("RandomBrightness", "brightness", -1)

LAYERS = (
    CENTER_CROP,
    RESIZING,
    RANDOM_FLIP,
    RANDOM_ROTATION,
    RANDOM_ZOOM,
    RANDOM_TRANSLATION,
    RANDOM_CONTRAST,
    RANDOM_BRIGHTNESS,
)
