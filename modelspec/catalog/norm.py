"""Normalization layers: batch, layer, group and unit normalization, and Normalization."""

from __future__ import annotations

from typing import Any

from modelspec.catalog.base import (
    AXES,
    AXIS,
    BOOL,
    NORM_AXIS,
    NUMBER,
    POS_INT,
    TRAINABLE,
    Kwarg,
    LayerType,
    ShapeError,
    fmt_shape,
    initializer,
    known_dim,
    nullable,
    own_weights,
    prod,
    weight_kwargs,
)

EPSILON = Kwarg("epsilon", {"type": "number", "minimum": 0}, 1e-3,
                "Small float added to the variance to avoid dividing by zero.")  # fmt: skip
CENTER = Kwarg("center", BOOL, True, "Whether to add a learned offset `beta`.")
SCALE = Kwarg("scale", BOOL, True, "Whether to multiply by a learned scale `gamma`.")
BETA_GAMMA = weight_kwargs("beta", "gamma", inits={"beta": "zeros", "gamma": "ones"})


def _axes(axis):
    return [axis] if isinstance(axis, int) else list(axis)


def _check_axes(axis, shape, name="axis"):
    """Raise MS304 unless every axis is in ``[-rank, rank)``, as Keras requires."""
    rank = len(shape)
    if any(not -rank <= a < rank for a in _axes(axis)):
        raise ShapeError(
            f"needs `{name}` within [{-rank}, {rank}) for input of rank {rank}; "
            f"got {name}={axis!r}: {fmt_shape(shape)}",
            code="MS304",
        )


def _split(kw, trainable, non_trainable):
    """A frozen layer (`trainable=False`) has all its weights non-trainable."""
    if kw["trainable"]:
        return (trainable, non_trainable)
    return (0, trainable + non_trainable)


def _gamma_beta(kw, size):
    return size * (int(kw["scale"]) + int(kw["center"]))


def _gamma_beta_weights(kw, shape):
    """``gamma`` (with ``scale``) and ``beta`` (with ``center``), both of ``shape``."""
    return (("gamma", shape) if kw["scale"] else None), (("beta", shape) if kw["center"] else None)


def _listed_axes_shape(kw, shape):
    """The shape of a weight over ``axis``, as Keras's LayerNormalization and
    RMSNormalization make it: the sizes of the axes in sorted order (a negative axis
    first), a repeated axis repeated."""
    axis = kw["axis"]
    axes = sorted(axis) if isinstance(axis, list) else [axis]
    return tuple(shape[a] for a in axes)


def _axes_shape(kw, inputs):
    """The input's shape, once every axis of ``axis`` is one of the input's (Batch-,
    Layer- and UnitNormalization)."""
    (shape,) = inputs
    _check_axes(kw["axis"], shape)
    return shape


# --- BatchNormalization -------------------------------------------------------------------


def _batch_norm_params(kw, inputs):
    (shape,) = inputs
    _check_axes(kw["axis"], shape)
    size = known_dim(shape, kw["axis"])
    # moving mean and variance; renorm adds moving_stddev, renorm_mean, renorm_stddev.
    moving = size * (5 if kw["renorm"] else 2)
    return _split(kw, _gamma_beta(kw, size), moving)


def _batch_norm_weights(kw, inputs):
    shape = (inputs[0][kw["axis"]],)
    stats = ["moving_mean", "moving_variance"]
    if kw["renorm"]:
        stats += ["moving_stddev", "renorm_mean", "renorm_stddev"]
    return own_weights(kw, *_gamma_beta_weights(kw, shape), *[(s, shape, False) for s in stats])


BATCH_NORMALIZATION = LayerType(
    name="BatchNormalization",
    category="normalization",
    doc="Normalizes over the batch with running statistics of mean and variance per `axis`.",
    kwargs=(
        Kwarg("axis", AXIS, -1, "The features axis to normalize per (usually channels)."),
        Kwarg("momentum", NUMBER, 0.99, "Momentum of the moving mean and variance."),
        EPSILON,
        CENTER,
        SCALE,
        *BETA_GAMMA,
        initializer("moving_mean_initializer", "zeros"),
        initializer("moving_variance_initializer", "ones"),
        Kwarg("renorm", BOOL, False, "Whether to use batch renormalization."),
        Kwarg(
            "renorm_clipping",
            nullable(
                {
                    "type": "object",
                    "properties": {
                        "rmax": NUMBER,
                        "rmin": NUMBER,
                        "dmax": {"type": "number", "minimum": 0},
                    },
                    "additionalProperties": False,
                }
            ),
            None,
            "Clipping bounds `rmax`, `rmin`, `dmax` for renormalization.",
        ),
        Kwarg("renorm_momentum", NUMBER, 0.99, "Momentum of the renormalization statistics."),
        Kwarg("synchronized", BOOL, False, "Whether to sync statistics across replicas (TF only)."),
        TRAINABLE,
    ),
    shape=_axes_shape,
    params=_batch_norm_params,
    weights=_batch_norm_weights,
)


# --- LayerNormalization -------------------------------------------------------------------


def _layer_norm_params(kw, inputs):
    (shape,) = inputs
    _check_axes(kw["axis"], shape)
    # gamma and beta have shape (input[a] for a in sorted(axis)); Keras takes the list
    # as given, so a repeated axis repeats its size, and `axis=[]` gives scalars.
    for a in _axes(kw["axis"]):
        known_dim(shape, a)
    size = prod([shape[a] for a in _axes(kw["axis"])])
    return _split(kw, _gamma_beta(kw, size), 0)


def _layer_norm_weights(kw, inputs):
    return own_weights(kw, *_gamma_beta_weights(kw, _listed_axes_shape(kw, inputs[0])))


LAYER_NORMALIZATION = LayerType(
    name="LayerNormalization",
    category="normalization",
    doc="Normalizes each example over `axis` (the features), independent of the batch.",
    kwargs=(
        NORM_AXIS,
        EPSILON,
        CENTER,
        SCALE,
        *BETA_GAMMA,
        TRAINABLE,
    ),
    shape=_axes_shape,
    params=_layer_norm_params,
    weights=_layer_norm_weights,
)


# --- RMSNormalization ---------------------------------------------------------------------


def _rms_norm_params(kw, inputs):
    (shape,) = inputs
    _check_axes(kw["axis"], shape)
    # One `scale` of shape (input[a] for a in axis), as LayerNormalization's gamma.
    for a in _axes(kw["axis"]):
        known_dim(shape, a)
    return _split(kw, prod([shape[a] for a in _axes(kw["axis"])]), 0)


def _rms_norm_weights(kw, inputs):
    return own_weights(kw, ("scale", _listed_axes_shape(kw, inputs[0])))


RMS_NORMALIZATION = LayerType(
    name="RMSNormalization",
    category="normalization",
    doc="Scales each example by the root mean square over `axis`, times a learned `scale`.",
    kwargs=(
        NORM_AXIS,
        Kwarg(
            "epsilon",
            {"type": "number", "minimum": 0},
            1e-6,
            "Small float added to the mean square to avoid dividing by zero.",
        ),
        TRAINABLE,
    ),
    shape=_axes_shape,
    params=_rms_norm_params,
    weights=_rms_norm_weights,
)

# --- GroupNormalization -------------------------------------------------------------------


def _group_norm_channels(kw, shape):
    """The size of the channels axis, checked against `groups` as Keras does in build."""
    _check_axes(kw["axis"], shape)
    channels = known_dim(shape, kw["axis"])
    groups = channels if kw["groups"] == -1 else kw["groups"]
    if channels < groups or channels % groups:
        raise ShapeError(
            f"needs `groups` to divide the {channels} channels on axis {kw['axis']}; "
            f"got groups={groups}: {fmt_shape(shape)}",
            code="MS304",
        )
    return channels


def _group_norm_shape(kw, inputs):
    (shape,) = inputs
    _group_norm_channels(kw, shape)
    return shape


def _group_norm_params(kw, inputs):
    (shape,) = inputs
    return _split(kw, _gamma_beta(kw, _group_norm_channels(kw, shape)), 0)


def _group_norm_weights(kw, inputs):
    channels = _group_norm_channels(kw, inputs[0])
    return own_weights(kw, *_gamma_beta_weights(kw, (channels,)))


GROUP_NORMALIZATION = LayerType(
    name="GroupNormalization",
    category="normalization",
    doc="Normalizes each example over groups of channels (`groups=-1`: instance norm).",
    kwargs=(
        Kwarg(
            "groups",
            {"anyOf": [POS_INT, {"const": -1}]},
            32,
            "Number of channel groups; must divide the channels. -1 for one per channel.",
        ),
        Kwarg("axis", AXIS, -1, "The channels axis."),
        EPSILON,
        CENTER,
        SCALE,
        *BETA_GAMMA,
        TRAINABLE,
    ),
    shape=_group_norm_shape,
    params=_group_norm_params,
    weights=_group_norm_weights,
)


# --- UnitNormalization --------------------------------------------------------------------


UNIT_NORMALIZATION = LayerType(
    name="UnitNormalization",
    category="normalization",
    doc="Scales each example to unit L2 norm over `axis`.",
    kwargs=(
        NORM_AXIS,
        TRAINABLE,
    ),
    shape=_axes_shape,
)


# --- Normalization (preprocessing) --------------------------------------------------------

_STATS = nullable(
    {
        "anyOf": [
            NUMBER,
            {"type": "array", "items": {"anyOf": [NUMBER, {"type": "array", "items": NUMBER}]}},
            # Learned by `modelspec train` with adapt() (modelspec.catalog.lookup.ADAPT).
            {"const": "adapt", "description": "Learned from the training data by `adapt()`."},
        ]
    }
)


def _value_shape(value):
    """``np.shape`` of a number or (rectangular) nested list."""
    shape = []
    while isinstance(value, (list, tuple)):
        shape.append(len(value))
        value = value[0] if value else None
    return tuple(shape)


def _normalization_kept(kw, shape):
    """The sizes of the kept axes, checked as Keras's __init__ and build check them."""
    axis = kw["axis"]
    axes = () if axis is None else _axes(axis)
    rank = len(shape)
    if any(not -rank <= a < rank for a in axes):
        raise ShapeError(
            f"needs `axis` within [{-rank}, {rank}) for input of rank {rank}; "
            f"got axis={axis!r}: {fmt_shape(shape)}",
            code="MS304",
        )
    keep = sorted(a % rank for a in axes)
    for a in keep:
        known_dim(shape, a)
    mean, variance = kw["mean"], kw["variance"]
    if (mean is None) != (variance is None) or (mean == "adapt") != (variance == "adapt"):
        raise ShapeError(
            "needs both `mean` and `variance`, or neither, or both `adapt`; "
            f"got mean={mean!r}, variance={variance!r}",
            code="MS304",
        )
    if mean == "adapt":
        mean = variance = None  # learned: as Keras's None, until adapt() runs
    if mean is not None:
        m_shape, v_shape = _value_shape(mean), _value_shape(variance)
        if m_shape != v_shape or len(m_shape) > len(keep):
            raise ShapeError(
                f"needs `mean` and `variance` of one shape, of rank at most {len(keep)} "
                f"(the number of kept axes); got {fmt_shape(m_shape)} and {fmt_shape(v_shape)}",
                code="MS304",
            )
        # Keras reshapes the stats onto the last kept axes (1 elsewhere), then
        # broadcasts them to the input's kept sizes.
        target = [shape[d] if d in keep else 1 for d in range(rank)]
        placed = [1] * rank
        for i in range(1, len(m_shape) + 1):
            placed[keep[-i]] = m_shape[-i]
        if m_shape and (
            prod(placed) != prod(m_shape) or any(p not in (1, t) for p, t in zip(placed, target))
        ):
            raise ShapeError(
                f"needs `mean` and `variance` to broadcast to the kept axes "
                f"{tuple(keep)}; got stats of shape {fmt_shape(m_shape)} for input "
                f"{fmt_shape(shape)}",
                code="MS304",
            )
    elif prod([shape[a] for a in keep]) != prod([shape[a] for a in set(keep)]):
        # Keras reshapes the learned stats (one entry per listed axis) to the
        # input's layout (one per distinct axis): a repeated axis only fits at size 1.
        raise ShapeError(
            f"needs distinct `axis` values; got axis={axis!r} for input {fmt_shape(shape)}",
            code="MS304",
        )
    return [shape[a] for a in keep]


def _normalization_shape(kw, inputs):
    (shape,) = inputs
    _normalization_kept(kw, shape)
    return shape


def _normalization_params(kw, inputs):
    (shape,) = inputs
    kept = _normalization_kept(kw, shape)
    if kw["mean"] is not None and kw["mean"] != "adapt":
        # Given stats are stored as plain tensors, not weights.
        return (0, 0)
    # mean and variance over the kept axes, and a scalar `count`; never trainable.
    return (0, 2 * prod(kept) + 1)


def _normalization_weights(kw, inputs):
    kept = tuple(_normalization_kept(kw, inputs[0]))
    if kw["mean"] is not None and kw["mean"] != "adapt":
        return []
    return own_weights(kw, ("mean", kept, False), ("variance", kept, False), ("count", (), False))


def _normalization_from_config(kw: dict[str, Any]) -> None:
    if kw.get("axis") == []:
        kw["axis"] = None  # Keras writes axis=None (one mean for everything) as ()


NORMALIZATION = LayerType(
    name="Normalization",
    category="preprocessing",
    doc="Shifts and scales inputs by a mean and variance, given or learned with `adapt()`.",
    kwargs=(
        Kwarg(
            "axis",
            nullable(AXES),
            -1,
            "Axis, or axes, that keep separate statistics; None for one scalar mean/variance.",
        ),
        Kwarg(
            "mean", _STATS, None, "Mean to use; `adapt` to learn it in training (with variance)."
        ),
        Kwarg("variance", _STATS, None, "Variance to use; `adapt` to learn it in training."),
        Kwarg("invert", BOOL, False, "Whether to undo the normalization instead."),
        TRAINABLE,
    ),
    shape=_normalization_shape,
    params=_normalization_params,
    weights=_normalization_weights,
    from_config=_normalization_from_config,
)

LAYERS = (
    BATCH_NORMALIZATION,
    LAYER_NORMALIZATION,
    RMS_NORMALIZATION,
    GROUP_NORMALIZATION,
    UNIT_NORMALIZATION,
    NORMALIZATION,
)
