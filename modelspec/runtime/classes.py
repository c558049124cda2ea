"""Custom layer classes, imported and asked: the part of :mod:`modelspec.catalog.custom`
that needs Keras. A class's module is imported only once the project allows it (the
caller checks); see NOTE: [layer classes, not callables] there for why a class is
checked before anything of it is called.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
from collections.abc import Sequence
from typing import Any

from modelspec.runtime.quiet import quiet_import


class NotALayerClass(Exception):
    """What a custom type's class path names is not a Keras layer class (MS326)."""


def layer_class(path: str) -> type:
    """The class at ``path`` (``module.Class``, its module already allowed), checked to
    be a Keras layer class without calling anything of it (see NOTE: [layer classes,
    not callables]). Raises :class:`NotALayerClass`.
    """
    keras = quiet_import("keras")
    module, _, name = path.rpartition(".")
    try:
        found = importlib.import_module(module).__dict__.get(name)
    except ImportError as exc:
        raise NotALayerClass(f"its module '{module}' cannot be imported: {exc}") from None
    if found is None:
        raise NotALayerClass(f"module '{module}' has no attribute '{name}'")
    if not isinstance(found, type):
        raise NotALayerClass(
            f"it is a {type(found).__name__}, not a class; a custom layer is a "
            "subclass of keras.layers.Layer"
        )
    mro = type.__dict__["__mro__"].__get__(found)  # the slot itself: no metaclass hook runs
    if keras.Model in mro:
        raise NotALayerClass(
            "it is a keras.Model; a custom layer is a keras.layers.Layer that "
            "is not a model (build the model from the spec instead)"
        )
    if keras.layers.Layer not in mro:
        raise NotALayerClass("it is a class that does not subclass keras.layers.Layer")
    return found


@functools.lru_cache(maxsize=1024)
def ask_keras(
    cls: str, kwargs_json: str, shapes: tuple, inputs: int
) -> tuple[Any, tuple[int, int]]:
    """Output shape and ``(trainable, non_trainable)`` parameters, from Keras itself."""
    keras = quiet_import("keras")
    layer = layer_class(cls)(**json.loads(kwargs_json))
    tensors = [keras.KerasTensor(s, dtype="float32") for s in shapes]
    out = layer(tensors if inputs > 1 else tensors[0])
    outs = out if isinstance(out, (list, tuple)) else [out]
    shape = [tuple(t.shape) for t in outs]

    def count(weights: Sequence[Any]) -> int:
        return sum(math.prod(w.shape) for w in weights)

    params = (count(layer.trainable_weights), count(layer.non_trainable_weights))
    return (shape if isinstance(out, (list, tuple)) else shape[0]), params
