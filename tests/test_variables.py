"""The weights of every layer, listed without Keras, against the variables Keras creates.

The catalogue's weight rules (``LayerType.weights``) run on every conformance case of
a layer type with weights (tests/cases): their sizes add up to the parameter rule's
count, and with Keras they are the built layer's ``[(v.path, v.shape, v.trainable)]``.
"""

from __future__ import annotations

import math

import pytest

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.base import no_params, no_weights
from tests import cases

WITH_WEIGHTS = [case for case in cases.load("CASES") if LAYER_TYPES[case[1]].weights is not no_weights]  # fmt: skip


def _id(case: tuple) -> str:
    _, type_name, kwargs, shapes = case
    kw = ",".join(f"{k}={v}" for k, v in kwargs.items())
    return f"{type_name}({kw})@{shapes}"[:120]


def inner_names(type_name: str, kwargs: dict, prefix: str = "") -> dict[str, str]:
    """A name for each layer ``kwargs`` hold, at any depth, by kwarg path: what the plan
    gives each one (:attr:`modelspec.ir.Layer.inner`), so Keras never picks one."""
    out: dict[str, str] = {}
    for keys, held in LAYER_TYPES[type_name].held(kwargs):
        path = prefix + ".".join(map(str, keys))
        out |= inner_names(held["type"], held, f"{path}.")
        out[path] = "held_" + path.replace(".", "_")
    return out


def case_weights(type_name: str, kwargs: dict, shapes: list) -> tuple[dict, list]:
    """The case's kwargs with the names of the layers they hold, and its weights."""
    lt = LAYER_TYPES[type_name]
    named = lt.with_held_names(kwargs, inner_names(type_name, kwargs))
    return named, lt.weights(lt.resolve(named), shapes)


def size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def test_every_layer_type_with_parameters_says_what_its_weights_are():
    missing = [name for name, lt in LAYER_TYPES.items()
               if lt.params is not no_params and lt.weights is no_weights]  # fmt: skip
    assert not missing, f"layer types with parameters but no weight rule: {missing}"


@pytest.mark.parametrize("case", WITH_WEIGHTS, ids=_id)
def test_the_weights_add_up_to_the_parameters(case):
    _, type_name, kwargs, shapes = case
    lt = LAYER_TYPES[type_name]
    _, weights = case_weights(type_name, kwargs, shapes)
    kw = lt.resolve(kwargs)
    trainable, frozen = lt.params(kw, shapes)
    assert sum(size(w.shape) for w in weights) == trainable + frozen
    # What the model trains, as the shape pass counts it: a frozen layer that owns
    # sublayers still trains theirs (LayerType.owns_sublayers).
    if lt.owns_sublayers and kw.get("trainable") is False:
        trainable, frozen = lt.params({**kw, "trainable": True}, shapes)
    assert sum(size(w.shape) for w in weights if w.trainable) == trainable
    assert len({w.path for w in weights}) == len(weights), "two weights with one path"


@pytest.mark.keras
@pytest.mark.parametrize("case", WITH_WEIGHTS, ids=_id)
def test_the_weights_are_the_variables_keras_creates(case):
    keras = pytest.importorskip("keras")
    from tests import keras_truth as truth

    _, type_name, kwargs, shapes = case
    named, weights = case_weights(type_name, kwargs, shapes)
    layer = truth.build_layer(type_name, {**named, "name": "layer"})
    truth.call_layer(layer, type_name, [keras.Input(batch_shape=s) for s in shapes])
    theirs = sorted((v.path, tuple(v.shape), bool(v.trainable)) for v in layer.weights)
    assert sorted((f"layer/{w.path}", w.shape, w.trainable) for w in weights) == theirs
