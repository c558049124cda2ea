"""The layer catalogue: every Keras layer type a spec may use.

One :class:`~modelspec.catalog.base.LayerType` per Keras class, grouped in one module
per family (``core``, ``conv``, ``rnn``, ``conv_lstm``, ``merge``, ...). Each module exposes
``LAYERS``, a tuple of layer types; :data:`LAYER_TYPES` joins them in the order
below, which is also their order in the JSON Schema.
"""

from __future__ import annotations

from modelspec.catalog import (
    attention,
    audio,
    augment,
    cells,
    conv,
    conv_lstm,
    core,
    image,
    lookup,
    merge,
    norm,
    reshape,
    rnn,
)
from modelspec.catalog.base import LAYER_TYPES, REQUIRED, Kwarg, LayerType, Shape, ShapeError
from modelspec.catalog.ops import op_of

_MODULES = (
    core,
    norm,
    reshape,
    conv,
    rnn,
    conv_lstm,
    cells,
    attention,
    merge,
    image,
    augment,
    audio,
    lookup,
)

for _module in _MODULES:
    for _layer in _module.LAYERS:
        if _layer.name in LAYER_TYPES:  # pragma: no cover - a catalogue bug
            raise RuntimeError(f"layer type {_layer.name!r} is defined twice")
        LAYER_TYPES[_layer.name] = _layer


def type_of(type_name: str) -> LayerType | None:
    """The catalogue entry of an IR layer's type: a layer type's, or an op's (``ops.sum``,
    :mod:`modelspec.catalog.ops`); None for a type the catalogue lacks (a custom one)."""
    return LAYER_TYPES.get(type_name) or op_of(type_name)


def get(name: str) -> LayerType:
    """The catalogue entry for ``name``; ``KeyError`` when there is none."""
    return LAYER_TYPES[name]


__all__ = [
    "LAYER_TYPES",
    "REQUIRED",
    "Kwarg",
    "LayerType",
    "Shape",
    "ShapeError",
    "get",
    "type_of",
]
