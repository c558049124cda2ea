"""The training catalogue's names and defaults are Keras's own."""

from __future__ import annotations

import inspect

import pytest

from modelspec.catalog import training as tc

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")


@pytest.mark.parametrize("name", tc.LOSS_NAMES)
def test_loss_names_resolve_in_keras(name):
    assert keras.losses.get(name) is not None


@pytest.mark.parametrize("name", sorted(tc.LOSS_CLASSES))
def test_loss_classes_and_their_defaults(name):
    cls = getattr(keras.losses, name)
    _check_defaults(cls, tc.LOSS_CLASSES[name])


@pytest.mark.parametrize("name", [n for n in tc.METRIC_NAMES if n not in ("acc", "accuracy")])
def test_metric_names_resolve_in_keras(name):
    metric = keras.metrics.get(name)
    assert metric is not None
    if inspect.isclass(metric):
        metric()  # every class we list needs no argument


@pytest.mark.parametrize("name", ["acc", "accuracy"])
def test_accuracy_shorthands_work_in_compile(name):
    """`compile` maps these to the accuracy that fits the loss; the registry does not."""
    import numpy as np

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(loss="mse", metrics=[name])
    history = model.fit(np.zeros((4, 3)), np.zeros((4, 1)), verbose=0)
    assert name in history.history


@pytest.mark.parametrize("name", sorted(tc.OPTIMIZERS))
def test_optimizers_and_their_defaults(name):
    cls = getattr(keras.optimizers, name)
    assert isinstance(keras.optimizers.get(name.lower()), cls)
    _check_defaults(cls, tc.OPTIMIZERS[name])


@pytest.mark.parametrize("name", sorted(tc.CALLBACKS))
def test_callbacks_and_their_defaults(name):
    _check_defaults(getattr(keras.callbacks, name), tc.CALLBACKS[name])


def _check_defaults(cls, kwargs):
    params = inspect.signature(cls.__init__).parameters
    for kwarg in kwargs:
        assert kwarg.name in params, f"{cls.__name__} has no kwarg {kwarg.name!r}"
        default = params[kwarg.name].default
        if kwarg.required:
            assert default is inspect.Parameter.empty, f"{cls.__name__}.{kwarg.name} has a default"
        else:
            assert default == kwarg.default, (
                f"{cls.__name__}.{kwarg.name}: Keras {default!r}, ours {kwarg.default!r}"
            )
