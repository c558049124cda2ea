"""Core layers: Dense, EinsumDense, Embedding, activations, dropout and noise."""

from __future__ import annotations

from modelspec.catalog.base import (
    BOOL,
    POS_INT,
    TRAINABLE,
    Kwarg,
    LayerType,
    activation,
    expect_min_rank,
    known_dim,
    weight_kwargs,
)


def _dense_shape(kw, inputs):
    (shape,) = inputs
    expect_min_rank(shape, 2)
    return (*shape[:-1], kw["units"])


def _dense_params(kw, inputs):
    (shape,) = inputs
    n_in = known_dim(shape, -1)
    count = n_in * kw["units"] + (kw["units"] if kw["use_bias"] else 0)
    return (count, 0) if kw["trainable"] else (0, count)


DENSE = LayerType(
    name="Dense",
    category="core",
    doc="Densely-connected layer: `activation(dot(input, kernel) + bias)` on the last axis.",
    kwargs=(
        Kwarg("units", POS_INT, description="Dimensionality of the output space."),
        activation(),
        Kwarg("use_bias", BOOL, True, "Whether the layer uses a bias vector."),
        *weight_kwargs("kernel", "bias"),
        TRAINABLE,
    ),
    shape=_dense_shape,
    params=_dense_params,
)

LAYERS = (DENSE,)
