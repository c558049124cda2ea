"""The catalogue's shape and parameter rules against Keras itself."""

from __future__ import annotations

import pytest

from modelspec.catalog import LAYER_TYPES, ShapeError
from tests import cases
from tests.keras_truth import catalogue_facts as ours

CASES = cases.load("CASES")
BAD = cases.load("BAD")
DIVERGENT = cases.load("DIVERGENT")


def _id(case: tuple) -> str:
    family, type_name, kwargs, shapes, *rest = case
    kw = ",".join(f"{k}={v}" for k, v in kwargs.items())
    return f"{type_name}({kw})@{shapes}"[:120]


def _held_types(type_name: str, kwargs: dict) -> set[str]:
    """The types of the layers a case's layer holds (a wrapper's layer, an RNN's cell),
    at any depth."""
    out: set[str] = set()
    for _, inner in LAYER_TYPES[type_name].held(kwargs):
        out |= {inner["type"]} | _held_types(inner["type"], inner)
    return out


def test_every_layer_type_has_cases():
    covered = {case[1] for case in CASES}
    # A cell is never called on its own (Keras passes it its states): its cases are
    # those of the RNN that runs it, and its refusal as a step is in BAD.
    held = {t for case in CASES for t in _held_types(case[1], case[2])}
    covered |= {t for t in held if LAYER_TYPES[t].category == "cell"}
    missing = sorted(set(LAYER_TYPES) - covered)
    assert not missing, f"catalogue types without conformance cases: {missing}"
    refused = {case[1] for case in BAD if case[4] == "MS305"}
    cells = {name for name, t in LAYER_TYPES.items() if t.category == "cell"}
    assert cells <= refused, f"cells without a case refusing them as a step: {cells - refused}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_rule_is_total_without_keras(case):
    """The rules run (and give ints) with no Keras around."""
    _, type_name, kwargs, shapes = case
    out, trainable, non_trainable = ours(type_name, kwargs, shapes)
    assert isinstance(trainable, int) and isinstance(non_trainable, int)


@pytest.mark.keras
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_matches_keras(case):
    pytest.importorskip("keras")
    from tests import keras_truth as truth

    _, type_name, kwargs, shapes = case
    assert ours(type_name, kwargs, shapes) == truth.keras_facts(type_name, kwargs, shapes)


@pytest.mark.keras
@pytest.mark.parametrize("case", BAD, ids=_id)
def test_refused_like_keras(case):
    pytest.importorskip("keras")
    from tests import keras_truth as truth

    _, type_name, kwargs, shapes, code = case
    with pytest.raises(ShapeError) as info:
        ours(type_name, kwargs, shapes)
    assert info.value.code == code
    with pytest.raises(Exception):  # noqa: B017 - Keras raises ValueError or TypeError
        truth.keras_facts(type_name, kwargs, shapes)


@pytest.mark.keras
@pytest.mark.parametrize("case", DIVERGENT, ids=_id)
def test_refused_where_keras_fails_at_run_time(case):
    """Keras builds these symbolically, then fails (or mis-shapes) on real data; we refuse."""
    pytest.importorskip("keras")
    from tests import keras_truth as truth

    _, type_name, kwargs, shapes, code = case
    with pytest.raises(ShapeError) as info:
        ours(type_name, kwargs, shapes)
    assert info.value.code == code
    assert truth.fails_at_run_time(type_name, kwargs, shapes)
