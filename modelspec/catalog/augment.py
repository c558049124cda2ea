"""Image augmentation beyond catalog/image.py: RandomCrop, the colour layers (grayscale,
hue, saturation, sharpness, inversion, posterization, solarization, contrast and
adaptive histogram equalization), blurs, erasing, shears, perspective and elastic
warps, the layers that chain or mix others (RandomColorJitter, RandAugment, AugMix,
CutMix, MixUp), MaxNumBoundingBoxes, and Pipeline, which calls a list of layers one
after the other (its ``layers`` hold layer specs, as a wrapper's ``layer`` does).
Keras's Equalization is not here: no Keras model can hold it (see ``NOT_IN_A_MODEL``
in :mod:`modelspec.catalog.keras_layers`).

Each takes a batch of images, rank 4, or one image, rank 3, and keeps its shape, but
RandomCrop, which crops to ``height`` x ``width``. Keras checks no rank when the model
is built but for RandomCrop and RandomColorDegeneration (the others fail when they
run). None has weights of its own (a Pipeline has those of its layers); each gives
the layer's float32 compute dtype, but RandomGrayscale, which keeps the input's.

Keras's image layers also take a dict of ``images``, ``labels``, ``bounding_boxes`` and
``segmentation_masks``; a spec calls them on one tensor, the images, as a Functional
model does. That is all MaxNumBoundingBoxes needs to be used in a spec: it pads the
bounding boxes of such a dict, and passes a tensor on unchanged. CutMix and MixUp mix
the images of a batch with one another; on a tensor they leave no labels to mix.

The layers that draw random numbers take a ``seed``: a spec's ``seed`` gives each its
own (``random=True``). Outside training they pass their input on, RandomCrop included:
its crop to ``height`` x ``width`` is made in training only, so a model that predicts
gets the input's own height and width, where Keras's symbolic shape (and so the
catalogue's) says ``height`` x ``width``. Keras saves no ``seed`` for RandomGrayscale
and no ``fill_value`` for MaxNumBoundingBoxes: an imported model has their defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelspec.catalog.base import (
    BOOL,
    DATA_FORMAT,
    LAYER_REF,
    LAYER_TYPES,
    NONNEG_INT,
    NUMBER,
    POS_INT,
    REQUIRED,
    TRAINABLE,
    Kwarg,
    LayerType,
    ShapeError,
    enum,
    expect_rank,
    fmt_shape,
    held_weights,
    nullable,
)
from modelspec.catalog.image import (
    FACTOR,
    HEIGHT,
    IMAGES,
    SEED,
    VALUE_RANGE,
    WIDTH,
    _bounded_factor,
    _same_images,
)

# The interpolations of the layers that warp with Keras's own affine and map
# transforms (RandomShear, RandomPerspective, RandomElasticTransform, and the shear
# inside RandAugment and AugMix): Keras raises NotImplementedError for any other.
AFFINE_INTERPOLATION = enum("nearest", "bilinear")
# A fraction in [0, 1], alone or as the two ends of a range, each end checked.
UNIT = {"type": "number", "minimum": 0, "maximum": 1}
UNIT_RANGE = {"anyOf": [UNIT, {"type": "array", "items": UNIT, "minItems": 2, "maxItems": 2}]}


def _factor(low: float, high: float) -> dict:
    """A factor Keras checks against ``[low, high]`` for a number (its _set_factor);
    a range is two numbers."""
    return {"anyOf": [{"type": "number", "minimum": low, "maximum": high}, FACTOR["anyOf"][1]]}


def _value_range(description: str = "The range of the input's values.") -> Kwarg:
    return Kwarg("value_range", VALUE_RANGE, [0, 255], description)


def _saved(*keys: tuple[str, float | None, Any]) -> Callable[[dict[str, Any]], None]:
    """A ``from_config`` for factors Keras saves as the range they stand for.

    Each key is ``(name, low, default)``: Keras saves a number ``f`` as
    ``(max(-f, low), f)``, or as ``(-f, f)`` where ``low`` is None (RandomShear). That
    range reads back as ``f``, and is dropped where ``f`` is the default.
    """

    def fix(kw: dict[str, Any]) -> None:
        for key, low, default in keys:
            value = kw.get(key)
            if not (isinstance(value, (list, tuple)) and len(value) == 2):
                continue
            lower, upper = value
            if not isinstance(upper, (int, float)) or isinstance(upper, bool) or upper < 0:
                continue
            if lower == (-upper if low is None else max(-upper, low)):
                if upper == default and default is not REQUIRED:
                    del kw[key]
                else:
                    kw[key] = upper

    return fix


def _same_pair(key: str, default: int) -> Callable[[dict[str, Any]], None]:
    """Keras saves a kernel size ``k`` as ``(k, k)``."""

    def fix(kw: dict[str, Any]) -> None:
        value = kw.get(key)
        if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1]:
            if value[0] == default:
                del kw[key]
            else:
                kw[key] = value[0]

    return fix


def _both(*fixes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def fix(kw: dict[str, Any]) -> None:
        for f in fixes:
            f(kw)

    return fix


def _channels_axis(kw) -> int:
    return -3 if kw.get("data_format") == "channels_first" else -1


def _rgb(kw, shape) -> None:
    """Raise MS302 unless a batch or an image has 3 channels (or an unknown number)."""
    if len(shape) in (3, 4):
        channels = shape[_channels_axis(kw)]
        if channels is not None and channels != 3:
            raise ShapeError(
                f"works on RGB images, of 3 channels; got {channels} channel"
                f"{'s' if channels != 1 else ''}: {fmt_shape(shape)}",
                hint="give it images with 3 channels, or check data_format",
            )


def _rgb_images(kw, inputs):
    """The input's shape. Keras checks no channels when the model is built, but its
    RGB-to-HSV conversion fails on other than 3 channels when the layer runs."""
    (shape,) = inputs
    _rgb(kw, shape)
    return shape


def _degenerated(kw, inputs):
    """RandomColorDegeneration's compute_output_shape: rank 3 or 4, and 3 channels."""
    (shape,) = inputs
    expect_rank(shape, 3, 4, layout=IMAGES)
    _rgb(kw, shape)
    return shape


def _jittered(kw, inputs):
    """RandomColorJitter's saturation and hue go through HSV: 3 channels."""
    (shape,) = inputs
    if kw.get("saturation_factor") is not None or kw.get("hue_factor") is not None:
        _rgb(kw, shape)
    return shape


def _cropped(kw, inputs):
    """Keras's compute_output_shape of RandomCrop: ``height`` and ``width`` on axes -3 and
    -2 (-2 and -1 channels first), whatever the rank. Below rank 3 Keras fails to build
    the model; past rank 4, to run it."""
    (shape,) = inputs
    expect_rank(shape, 3, 4, layout=IMAGES)
    first = -2 if kw.get("data_format") == "channels_first" else -3
    out = list(shape)
    out[first], out[first + 1] = kw["height"], kw["width"]
    return tuple(out)


def _augment(
    name: str,
    doc: str,
    kwargs: tuple[Kwarg, ...],
    *,
    shape=_same_images,
    random: bool = True,
    from_config=None,
    dtype: str = "float",
) -> LayerType:
    return LayerType(
        name=name,
        category="preprocessing",
        doc=doc,
        kwargs=(*kwargs, TRAINABLE),
        shape=shape,
        random=random,
        from_config=from_config,
        dtype=dtype,
    )


RANDOM_CROP = _augment(
    "RandomCrop",
    "Crops each image at random to `height` x `width` in training (resizing a smaller "
    "one); outside training the input passes unchanged.",
    (HEIGHT, WIDTH, SEED, DATA_FORMAT),
    shape=_cropped,
)

RANDOM_GRAYSCALE = _augment(
    "RandomGrayscale",
    "Turns each image to grayscale, kept in all its channels, with probability `factor` "
    "in training.",
    (
        Kwarg("factor", UNIT, 0.5, "The probability that an image is turned to grayscale."),
        DATA_FORMAT,
        SEED,
    ),
    dtype="same",  # Keras keeps the input's dtype
)


def _color(
    name: str, what: str, low: int, *, default: Any = REQUIRED, shape=_same_images
) -> LayerType:
    """A layer that changes one property of the colours by a factor in ``[low, 1]``."""
    return _augment(
        name,
        f"Changes the {what} of each image at random in training.",
        (
            Kwarg("factor", _bounded_factor(low), default, f"How much the {what} may change."),
            _value_range(),
            DATA_FORMAT,
            SEED,
        ),
        shape=shape,
        from_config=_saved(("factor", low, default)),
    )


# Keras's bounds of each factor (its _FACTOR_BOUNDS).
RANDOM_HUE = _color("RandomHue", "hue", 0, shape=_rgb_images)
RANDOM_SATURATION = _color("RandomSaturation", "saturation", -1, shape=_rgb_images)
RANDOM_COLOR_DEGENERATION = _color(
    "RandomColorDegeneration", "colour (towards grayscale)", -1, shape=_degenerated
)
RANDOM_SHARPNESS = _color("RandomSharpness", "sharpness", 0)

RANDOM_INVERT = _augment(
    "RandomInvert",
    "Inverts each image (`value_range`'s top minus the value) with a probability drawn "
    "from `factor`, in training.",
    (
        Kwarg("factor", _bounded_factor(0), 1.0, "The probability of inverting an image."),
        _value_range(),
        SEED,
        DATA_FORMAT,
    ),
    from_config=_saved(("factor", 0, 1.0)),
)

RANDOM_POSTERIZATION = _augment(
    "RandomPosterization",
    "Keeps a random number of the high bits of each colour value in training.",
    (
        Kwarg("factor", _factor(1, 8), description="The most bits kept, 1 to 8, or a range."),
        _value_range(),
        DATA_FORMAT,
        SEED,
    ),
    from_config=_saved(("factor", 1, REQUIRED)),
)

SOLARIZATION = _augment(
    "Solarization",
    "Inverts the values of each image above a random threshold, after adding a random "
    "amount, in training.",
    (
        Kwarg("addition_factor", UNIT_RANGE, 0.0, "How much may be added, as a fraction of "
              "`value_range`: `f` for [0, f], or a range."),
        Kwarg("threshold_factor", UNIT_RANGE, 0.0, "The threshold above which values are "
              "inverted, as a fraction of `value_range`: `f` for [0, f], or a range."),
        _value_range(),
        SEED,
        DATA_FORMAT,
    ),
    from_config=_saved(("addition_factor", 0, 0.0), ("threshold_factor", 0, 0.0)),
)  # fmt: skip

AUTO_CONTRAST = _augment(
    "AutoContrast",
    "Stretches the values of each image and channel to the whole of `value_range`.",
    (_value_range(), DATA_FORMAT),
    random=False,
)

CLAHE = _augment(
    "ContrastLimitedAdaptiveHistogramEqualization",
    "Equalizes the histogram of each tile of each image, with the contrast limited (CLAHE).",
    (
        _value_range(),
        Kwarg("clip_limit", NUMBER, 4.0, "The contrast limit, relative to a flat histogram."),
        Kwarg(
            "tile_grid_size",
            {"type": "array", "items": POS_INT, "minItems": 2, "maxItems": 2},
            [8, 8],
            "The number of tiles down and across.",
        ),
        DATA_FORMAT,
    ),
    random=False,
)

# An odd size: "not" an even integer (a list is no integer, so its items are checked).
ODD_SIZE = {"type": "integer", "minimum": 1, "not": {"type": "integer", "multipleOf": 2}}

RANDOM_GAUSSIAN_BLUR = _augment(
    "RandomGaussianBlur",
    "Blurs each image with a Gaussian kernel of random width, with a probability drawn "
    "from `factor`, in training.",
    (
        Kwarg("factor", _bounded_factor(0), 1.0, "The probability of blurring an image."),
        Kwarg(
            "kernel_size",
            {"anyOf": [ODD_SIZE, {"type": "array", "items": ODD_SIZE, "minItems": 2,
                                  "maxItems": 2}]},
            3,
            "The kernel's size, an odd number, or its height and width.",
        ),
        Kwarg("sigma", _bounded_factor(0), 1.0, "The kernel's standard deviation: `s` for "
              "[0, s], or a range."),
        _value_range(),
        DATA_FORMAT,
        SEED,
    ),
    from_config=_both(
        _saved(("factor", 0, 1.0), ("sigma", 0, 1.0)), _same_pair("kernel_size", 3)
    ),
)  # fmt: skip

RANDOM_ERASING = _augment(
    "RandomErasing",
    "Erases a random rectangle of each image, with a probability drawn from `factor`, "
    "in training.",
    (
        Kwarg("factor", _bounded_factor(0), 1.0, "The probability of erasing from an image."),
        Kwarg("scale", _bounded_factor(0), [0.02, 0.33], "The erased area, as a fraction "
              "of the image's: `s` for [0, s], or a range."),
        Kwarg("fill_value", nullable(NUMBER), None, "The value of the erased pixels; null "
              "for random values."),
        _value_range(),
        SEED,
        DATA_FORMAT,
    ),
    from_config=_saved(("factor", 0, 1.0), ("scale", 0, REQUIRED)),
)  # fmt: skip

RANDOM_SHEAR = _augment(
    "RandomShear",
    "Shears each image at random in training, along x, y or both.",
    (
        Kwarg("x_factor", UNIT_RANGE, 0.0, "Horizontal shear: `f` for [-f, f], or a range "
              "of two fractions in [0, 1]."),
        Kwarg("y_factor", UNIT_RANGE, 0.0, "Vertical shear: `f` for [-f, f], or a range of "
              "two fractions in [0, 1]."),
        Kwarg("interpolation", AFFINE_INTERPOLATION, "bilinear", "Interpolation of the pixels."),
        Kwarg("fill_mode", enum("reflect", "wrap", "constant", "nearest"), "reflect",
              "How points outside the input are filled."),
        Kwarg("fill_value", NUMBER, 0.0, "The value outside the input for fill_mode "
              "'constant'."),
        DATA_FORMAT,
        SEED,
    ),
    from_config=_saved(("x_factor", None, 0.0), ("y_factor", None, 0.0)),
)  # fmt: skip

RANDOM_PERSPECTIVE = _augment(
    "RandomPerspective",
    "Moves the corners of each image at random in training, with a probability drawn "
    "from `factor`.",
    (
        Kwarg("factor", _bounded_factor(0), 1.0, "The probability of warping an image."),
        Kwarg("scale", UNIT, 1.0, "How far the corners may move, as a fraction of half the "
              "image."),
        Kwarg("interpolation", AFFINE_INTERPOLATION, "bilinear", "Interpolation of the pixels."),
        Kwarg("fill_value", NUMBER, 0.0, "The value outside the input."),
        SEED,
        DATA_FORMAT,
    ),
    from_config=_saved(("factor", 0, 1.0)),
)  # fmt: skip

RANDOM_ELASTIC_TRANSFORM = _augment(
    "RandomElasticTransform",
    "Warps each image with a random smooth displacement field in training, with a "
    "probability drawn from `factor`.",
    (
        Kwarg("factor", _bounded_factor(0), 1.0, "The probability of warping an image."),
        Kwarg("scale", _bounded_factor(0), 1.0, "The strength of the displacement: `s` "
              "for [0, s], or a range."),
        Kwarg("interpolation", AFFINE_INTERPOLATION, "bilinear", "Interpolation of the pixels."),
        Kwarg("fill_mode", enum("reflect", "wrap", "constant", "nearest", "mirror"),
              "reflect", "How points outside the input are filled."),
        Kwarg("fill_value", NUMBER, 0.0, "The value outside the input for fill_mode "
              "'constant'."),
        _value_range(),
        SEED,
        DATA_FORMAT,
    ),
    from_config=_saved(("factor", 0, 1.0), ("scale", 0, 1.0)),
)  # fmt: skip


def _jitter(name: str, what: str, low: int) -> Kwarg:
    return Kwarg(
        name,
        nullable(_bounded_factor(low)),
        None,
        f"How much the {what} may change, as in Random{what.capitalize()}; null leaves it.",
    )


RANDOM_COLOR_JITTER = _augment(
    "RandomColorJitter",
    "Changes the brightness, contrast, saturation and hue of each image at random in "
    "training, each by its own factor.",
    (
        _value_range(),
        _jitter("brightness_factor", "brightness", -1),
        _jitter("contrast_factor", "contrast", 0),
        _jitter("saturation_factor", "saturation", -1),
        _jitter("hue_factor", "hue", 0),
        SEED,
        DATA_FORMAT,
    ),
    shape=_jittered,
)

# RandAugment and AugMix pass their factor, as a range, to a RandomShear, which checks
# both of its ends.
MIX_FACTOR = UNIT_RANGE

RAND_AUGMENT = _augment(
    "RandAugment",
    "Applies `num_ops` augmentations, drawn at random from Keras's list, to each image "
    "in training.",
    (
        _value_range(),
        Kwarg("num_ops", NONNEG_INT, 2, "The number of augmentations applied."),
        Kwarg("factor", MIX_FACTOR, 0.5, "The strength of the augmentations: `f` for "
              "[0, f], or a range."),
        Kwarg("interpolation", AFFINE_INTERPOLATION, "bilinear", "Interpolation of the pixels."),
        SEED,
        DATA_FORMAT,
    ),
    from_config=_saved(("factor", 0, 0.5)),
)  # fmt: skip

AUG_MIX = _augment(
    "AugMix",
    "Mixes each image with `num_chains` chains of random augmentations of it, in "
    "training.",
    (
        _value_range(),
        Kwarg("num_chains", POS_INT, 3, "The number of augmentation chains mixed."),
        Kwarg("chain_depth", POS_INT, 3, "The most augmentations in one chain."),
        Kwarg("factor", MIX_FACTOR, 0.3, "The strength of the augmentations: `f` for "
              "[0, f], or a range."),
        Kwarg("alpha", NUMBER, 1.0, "The parameter of "
              "the Dirichlet and Beta distributions of the mixing weights."),
        Kwarg("all_ops", BOOL, True, "Use every augmentation, including those that change "
              "colour and contrast."),
        Kwarg("interpolation", AFFINE_INTERPOLATION, "bilinear", "Interpolation of the pixels."),
        SEED,
        DATA_FORMAT,
    ),
    from_config=_saved(("factor", 0, 0.3)),
)  # fmt: skip

CUT_MIX = _augment(
    "CutMix",
    "Pastes a random patch of another image of the batch into each image in training.",
    (
        Kwarg("factor", _bounded_factor(0), 1.0, "The parameter of the Beta distribution "
              "of the patch's size."),
        SEED,
        DATA_FORMAT,
    ),
    from_config=_saved(("factor", 0, 1.0)),
)  # fmt: skip

MIX_UP = _augment(
    "MixUp",
    "Mixes each image with another image of the batch in training.",
    (
        Kwarg("alpha", NUMBER, 0.2, "The parameter of "
              "the Beta distribution of the mixing weight."),
        DATA_FORMAT,
        SEED,
    ),
)  # fmt: skip

MAX_NUM_BOUNDING_BOXES = _augment(
    "MaxNumBoundingBoxes",
    "Pads or cuts the bounding boxes of a dict input to `max_number`; a tensor input, "
    "as in a spec, passes unchanged.",
    (
        Kwarg("max_number", POS_INT, description="The number of bounding boxes kept."),
        Kwarg("fill_value", NUMBER, -1, "The value of padded boxes (Keras "
              "saves no fill_value: an imported model has -1)."),
        DATA_FORMAT,
    ),
    random=False,
)  # fmt: skip


def _pipeline_layers(kw) -> list[tuple[LayerType, dict[str, Any]]]:
    """The catalogue entry and resolved kwargs of each layer a Pipeline holds."""
    out = []
    for k, spec in enumerate(kw["layers"]):
        type_name = spec.get("type") if isinstance(spec, dict) else None
        if type_name not in LAYER_TYPES:
            raise ShapeError(f"holds an unknown layer type {type_name!r}", code="MS304")
        inner = LAYER_TYPES[type_name]
        if inner.is_merge:
            raise ShapeError(
                f"calls each layer on one tensor; layer {k}, `{type_name}`, takes several",
                code="MS304",
            )
        out.append((inner, inner.resolve({k: v for k, v in spec.items() if k != "type"})))
    return out


def _through_pipeline(kw, inputs, count_params: bool):
    """The output shape of a Pipeline's last layer, each layer called on the one before
    (Keras's Pipeline.call), and the parameters of them all."""
    (shape,) = inputs
    trainable = frozen = 0
    for k, (inner, ikw) in enumerate(_pipeline_layers(kw)):
        try:
            out = inner.shape(ikw, [shape])
            if isinstance(out, list):
                raise ShapeError(
                    f"gives the next layer one tensor; `{inner.name}` returns {len(out)}",
                    code="MS304",
                )
            if count_params:
                t, f = inner.params(ikw, [shape])
                trainable, frozen = trainable + t, frozen + f
        except ShapeError as err:
            raise ShapeError(
                f"layer {k}, `{inner.name}`: {err.render([shape])}",
                code=err.code,
                hint=err.hint,
            ) from err
        shape = out
    return shape, (trainable, frozen)


def _pipeline_weights(kw, inputs):
    """Each layer's weights under its name: Keras builds it on its first call, inside
    the Pipeline's call, so in the Pipeline's name scope."""
    (shape,) = inputs
    out = []
    for inner, ikw in _pipeline_layers(kw):
        out += held_weights(inner, ikw, [shape])
        shape = inner.shape(ikw, [shape])
    return out


PIPELINE = LayerType(
    name="Pipeline",
    category="preprocessing",
    doc="Calls its layers one after the other, each on the output of the one before: an "
    "augmentation pipeline as one layer.",
    kwargs=(
        Kwarg(
            "layers",
            {"type": "array", "items": {"$ref": LAYER_REF}, "minItems": 1},
            description="The layers, in the order they are called.",
        ),
    ),
    shape=lambda kw, inputs: _through_pipeline(kw, inputs, False)[0],
    params=lambda kw, inputs: _through_pipeline(kw, inputs, True)[1],
    weights=_pipeline_weights,
)

LAYERS = (
    RANDOM_CROP,
    RANDOM_GRAYSCALE,
    RANDOM_HUE,
    RANDOM_SATURATION,
    RANDOM_COLOR_DEGENERATION,
    RANDOM_SHARPNESS,
    RANDOM_INVERT,
    RANDOM_POSTERIZATION,
    SOLARIZATION,
    AUTO_CONTRAST,
    CLAHE,
    RANDOM_GAUSSIAN_BLUR,
    RANDOM_ERASING,
    RANDOM_SHEAR,
    RANDOM_PERSPECTIVE,
    RANDOM_ELASTIC_TRANSFORM,
    RANDOM_COLOR_JITTER,
    RAND_AUGMENT,
    AUG_MIX,
    CUT_MIX,
    MIX_UP,
    MAX_NUM_BOUNDING_BOXES,
    PIPELINE,
)
