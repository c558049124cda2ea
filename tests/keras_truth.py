"""Ask a real Keras what a layer does: the truth the catalogue is tested against."""

from __future__ import annotations

import math
from typing import Any

from modelspec.catalog import get


def build_layer(type_name: str, kwargs: dict[str, Any]):
    """A Keras layer from a spec-style ``(type, kwargs)``; nested layer dicts too."""
    import keras

    def convert(value: Any) -> Any:
        if isinstance(value, dict) and "type" in value:
            inner = dict(value)
            return build_layer(inner.pop("type"), inner)
        if isinstance(value, list):
            # Keras takes tuples for shapes and sizes; lists of layers stay lists.
            items = [convert(v) for v in value]
            plain = all(isinstance(v, (int, float, str, type(None))) for v in items)
            return tuple(items) if plain else items
        return value

    cls = getattr(keras.layers, type_name)
    return cls(**{k: convert(v) for k, v in kwargs.items()})


def _shape(t) -> tuple:
    return tuple(None if d is None else int(d) for d in t.shape)


def keras_facts(type_name: str, kwargs: dict[str, Any], input_shapes: list[tuple]):
    """``(output, trainable, non_trainable)`` as Keras computes them.

    ``output`` is a shape, or a list of shapes when the call returns several tensors.
    """
    import keras

    layer = build_layer(type_name, kwargs)
    inputs = [keras.Input(batch_shape=s) for s in input_shapes]
    style = get(type_name).call
    if len(inputs) == 1 and not get(type_name).is_merge:
        out = layer(inputs[0])
    elif style == "positional":
        out = layer(*inputs)
    else:
        out = layer(inputs)
    if isinstance(out, (list, tuple)):
        output: Any = [_shape(t) for t in out]
    else:
        output = _shape(out)
    trainable = sum(math.prod(w.shape) for w in layer.trainable_weights)
    non_trainable = sum(math.prod(w.shape) for w in layer.non_trainable_weights)
    return output, trainable, non_trainable
