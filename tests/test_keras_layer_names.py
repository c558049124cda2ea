"""The static list of ``keras.layers`` class names (modelspec/catalog/keras_layers.py)
is the installed Keras's own: lint names a Keras layer the catalogue lacks without
importing Keras, so the list must follow Keras when it adds layers."""

from __future__ import annotations

import inspect

import pytest

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.keras_layers import KERAS_ALIASES, KERAS_LAYERS, KERAS_VERSION

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")


def _installed() -> dict[str, type]:
    return {
        name: cls
        for name, cls in vars(keras.layers).items()
        if not name.startswith("_") and inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)
    }


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def test_every_keras_layer_class_is_listed():
    missing = sorted(set(_installed()) - set(KERAS_LAYERS))
    assert not missing, (
        f"keras {keras.__version__} has layer classes modelspec/catalog/keras_layers.py does "
        f"not list: {missing}; add them (and set KERAS_VERSION)"
    )


def test_no_name_is_listed_that_keras_does_not_have():
    if _version(keras.__version__) < _version(KERAS_VERSION):
        pytest.skip(f"keras {keras.__version__} is older than the list's {KERAS_VERSION}")
    extra = sorted(set(KERAS_LAYERS) - set(_installed()))
    assert not extra, f"keras {keras.__version__} no longer has {extra}"


def test_aliases_name_the_class_keras_exports():
    installed = _installed()
    aliases = {name: cls.__name__ for name, cls in installed.items() if cls.__name__ != name}
    assert {k: v for k, v in KERAS_ALIASES.items() if k in installed} == aliases


def test_the_catalogue_is_a_part_of_keras_layers():
    assert set(LAYER_TYPES) <= set(KERAS_LAYERS)
