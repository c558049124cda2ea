"""Learning preprocessing state before ``fit``: each layer the plan marks (``vocabulary:
adapt``, ``bin_boundaries: adapt``, Normalization's ``mean: adapt``; :data:`modelspec.lower.plan.Plan.adapt`) runs its
``adapt()`` on the array of the model input it reads, in batches.

Only the samples ``fit`` trains on are read: with ``validation_split``, Keras keeps the
last part for validation, and a vocabulary learned from it would leak what validation
measures. What a layer learns is saved with the model: a lookup's vocabulary in the
``.keras`` file's assets, a Discretization's boundaries in its config.

On the TensorFlow backend the samples go to ``adapt()`` as a batched ``tf.data``
dataset; on JAX and PyTorch as the NumPy array itself, which every preprocessing
layer's ``adapt()`` takes (a layer that needs TensorFlow says so itself: Keras
3.15's Discretization and the lookups do).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from modelspec.lower.plan import Plan


def find_layer(model: Any, name: str) -> Any:
    """The layer called ``name`` in ``model`` or a model nested in it."""
    todo = [model]
    while todo:
        current = todo.pop()
        for layer in getattr(current, "layers", ()):
            if layer.name == name:
                return layer
            todo.append(layer)
    raise ValueError(f"the model has no layer '{name}'")


def trained_samples(samples: int, validation_split: float) -> int:
    """How many samples, from the start, ``fit`` trains on (Keras's own split)."""
    if validation_split <= 0:
        return samples
    return math.floor(samples * (1.0 - validation_split))


def learned(layer: Any) -> str:
    """What a layer learned, in words: ``a vocabulary of 1,204 entries``."""
    if hasattr(layer, "vocabulary_size"):
        return f"a vocabulary of {int(layer.vocabulary_size()):,} entries"
    if hasattr(layer, "adapt_mean"):  # Normalization
        return f"a mean and a variance of shape {tuple(layer.adapt_mean.shape)}"
    bounds = getattr(layer, "bin_boundaries", None) or ()
    return f"{len(bounds):,} bin boundaries"


def adapt_layers(
    model: Any,
    plan: Plan,
    arrays: Mapping[str, Any],
    *,
    validation_split: float = 0.0,
    batch_size: int = 32,
    say: Callable[[str], None] | None = None,
) -> None:
    """Run ``adapt()`` on every layer ``plan.adapt`` names, with the trained part of its
    input's array; ``say`` gets a line before and after each."""
    if not plan.adapt:
        return
    import keras

    batched = _tf_batches if keras.config.backend() == "tensorflow" else _as_is
    for name, input_name in plan.adapt:
        if input_name not in arrays:
            raise ValueError(
                f"layer '{name}' learns its state from input '{input_name}', and the data "
                f"has no array '{input_name}'"
            )
        data = arrays[input_name]
        keep = trained_samples(len(data), validation_split)
        if keep == 0:
            raise ValueError(
                f"layer '{name}' learns its state from input '{input_name}', and the data "
                "has no samples to learn from"
            )
        layer = find_layer(model, name)
        if say is not None:
            say(f"adapting '{name}' ({type(layer).__name__}) on input '{input_name}': "
                f"{keep:,} samples")  # fmt: skip
        layer.adapt(batched(data[:keep], batch_size))
        if say is not None:
            say(f"  '{name}' learned {learned(layer)}")


def _tf_batches(data: Any, batch_size: int) -> Any:
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(data).batch(batch_size)


def _as_is(data: Any, batch_size: int) -> Any:
    return data
