"""The safe ops' shape and dtype rules (modelspec.catalog.ops) against Keras itself.

The cases are in tests/cases/ops.py. Keras's symbolic call is the truth for shapes,
dtypes and refusals; where Keras builds a call that TensorFlow then fails to run, the
catalogue refuses it (``DIVERGENT``). ``get_item``'s rule is numpy's basic indexing,
checked on random subscripts (hypothesis) with no Keras at all.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from modelspec.catalog import ShapeError
from modelspec.catalog.ops import OPS
from modelspec.catalog.subscript import format_index, parse_index
from modelspec.check import check_text
from tests.cases import ops as cases
from tests.keras_truth import op_catalogue_facts as ours


def _id(case: tuple) -> str:
    name, kwargs, operands, *rest = case
    kw = ",".join(f"{k}={v}" for k, v in kwargs.items())
    args = ",".join(f"{o[1]}{o[0]}" if isinstance(o, tuple) else repr(o) for o in operands)
    return f"{name}({args};{kw})"[:120]


def test_every_op_has_cases():
    missing = sorted(set(OPS) - {c[0] for c in cases.CASES})
    assert not missing, f"ops without conformance cases: {missing}"
    for name, op in OPS.items():
        own = [c for c in cases.CASES if c[0] == name]
        tried = {o[1] for c in own for o in c[2] if isinstance(o, tuple)}
        assert set(cases.DTYPES) <= tried, f"{name} untried on {set(cases.DTYPES) - tried}"
        assert any(None in o[0][1:] for c in own for o in c[2] if isinstance(o, tuple)), name
        if op.operands == "two" and op.numbers:
            for side in (0, 1):
                kinds = {type(c[2][side]) for c in own}
                assert {int, float} <= kinds, f"{name} has no int and float operand {side}"
    # Each op whose rule can refuse (all but the elementwise ones, cast and the likes)
    # has refusals too.
    refused = {c[0] for c in cases.BAD + cases.DIVERGENT}
    can_refuse = {n for n, op in OPS.items() if op.shape.__name__ != "_same"}
    assert can_refuse <= refused, f"ops without refused cases: {can_refuse - refused}"


def test_rules_are_total_without_keras():
    """Every case's rule runs with no Keras around: a shape of ints and Nones, a dtype."""
    for case in cases.CASES:
        shape, dtype = ours(*case)
        assert all(d is None or isinstance(d, int) for d in shape), case
        assert isinstance(dtype, str), case


@pytest.mark.parametrize("case", cases.BAD + cases.DIVERGENT, ids=_id)
def test_refusals_are_shape_errors_without_keras(case):
    name, kwargs, operands, code = case
    with pytest.raises(ShapeError) as info:
        ours(name, kwargs, operands)
    assert info.value.code == code


@pytest.mark.keras
@pytest.mark.parametrize("case", cases.CASES, ids=_id)
def test_matches_keras(case):
    pytest.importorskip("keras")
    from tests import keras_truth as truth

    assert ours(*case) == truth.op_keras_facts(*case)


@pytest.mark.keras
@pytest.mark.parametrize("case", cases.BAD, ids=_id)
def test_refused_like_keras(case):
    pytest.importorskip("keras")
    from tests import keras_truth as truth

    name, kwargs, operands, code = case
    with pytest.raises(ShapeError) as info:
        ours(name, kwargs, operands)
    assert info.value.code == code
    with pytest.raises(Exception):  # noqa: B017 - Keras raises ValueError, IndexError, ...
        truth.op_keras_facts(name, kwargs, operands)


@pytest.mark.keras
@pytest.mark.parametrize("case", cases.DIVERGENT, ids=_id)
def test_refused_where_keras_fails_at_run_time(case):
    """Keras builds these symbolically, then TensorFlow fails on real data; we refuse."""
    pytest.importorskip("keras")
    from tests import keras_truth as truth

    name, kwargs, operands, code = case
    with pytest.raises(ShapeError) as info:
        ours(name, kwargs, operands)
    assert info.value.code == code
    truth.op_keras_facts(name, kwargs, operands)  # builds
    assert truth.op_fails_at_run_time(name, kwargs, operands)


def _spec(name: str, kwargs: dict, operands: list) -> str:
    inputs = {f"x{i}": {"shape": list(o[0][1:]), "dtype": o[1]} for i, o in enumerate(operands)}
    to = list(inputs) if len(inputs) > 1 else "x0"
    graph = {"y": {"op": name, "to": to, **kwargs}}
    doc = {"modelspec": 1, "name": "t", "inputs": inputs, "graph": graph,
           "outputs": {"y": {"from": "y"}}}  # fmt: skip
    return json.dumps(doc)


@pytest.mark.parametrize("case", cases.SCHEMA, ids=_id)
def test_schema_refuses_a_keyword_keras_cannot_take(case):
    result = check_text(_spec(*case), "t.json")
    codes = [d.code for d in result.diagnostics if d.is_error]
    assert codes == ["MS104"], [d.format() for d in result.diagnostics]


@pytest.mark.keras
@pytest.mark.parametrize("case", cases.SCHEMA, ids=_id)
def test_keras_cannot_take_what_the_schema_refuses(case):
    pytest.importorskip("keras")
    from tests import keras_truth as truth

    try:
        truth.op_keras_facts(*case)
    except Exception:  # noqa: BLE001 - Keras refuses it symbolically
        return
    assert truth.op_fails_at_run_time(*case)


@pytest.mark.keras
@pytest.mark.parametrize("name", sorted(OPS))
def test_operation_is_named_as_keras_records_it(name):
    """Keras records the op's class, module and name as the catalogue says (a saved
    model lists them; parse names the step's layer after ``keras_name``)."""
    keras = pytest.importorskip("keras")
    from tests import keras_truth as truth

    op = OPS[name]
    _, kwargs, operands = next(c for c in cases.CASES if c[0] == name)
    keras.backend.clear_session()
    inputs = [keras.Input(batch_shape=o[0], dtype=o[1]) if isinstance(o, tuple) else o
              for o in operands]  # fmt: skip
    operation = truth.op_call(name, kwargs, inputs)._keras_history.operation
    assert type(operation).__name__ == op.keras_class
    assert type(operation).__module__ == f"keras.src.ops.{op.module}"
    assert operation.name == op.keras_name


@pytest.mark.keras
@pytest.mark.parametrize("name", sorted(OPS))
def test_kwarg_defaults_are_keras_defaults(name):
    keras = pytest.importorskip("keras")
    op = OPS[name]
    params = dict(inspect.signature(getattr(keras.ops, name)).parameters)
    operands = 2 if op.operands == "two" else 1
    for param in list(params)[:operands]:
        del params[param]
    # get_item's subscript is Keras's `key`; a spec calls it `index`.
    rename = {"index": "key"} if name == "get_item" else {}
    for kwarg in op.kwargs:
        param = params.pop(rename.get(kwarg.name, kwarg.name))
        if kwarg.required:
            assert param.default is inspect.Parameter.empty, kwarg.name
        else:
            assert param.default == kwarg.default, kwarg.name
    # What the catalogue leaves out has a default (max's `initial`).
    assert all(p.default is not inspect.Parameter.empty for p in params.values()), params


# --- get_item: numpy's basic indexing ------------------------------------------------

_bound = st.none() | st.integers(-8, 8)
_item = st.one_of(
    st.integers(-7, 7),
    st.builds(slice, _bound, _bound, st.none() | st.integers(-3, 3).filter(bool)),
    st.just(None),
    st.just(Ellipsis),
)
_index = st.lists(_item, min_size=1, max_size=6).filter(lambda k: k.count(Ellipsis) <= 1)
_shape = st.lists(st.integers(0, 5), min_size=1, max_size=5).map(tuple)


@settings(max_examples=400, deadline=None)
@given(_index)
@example([slice(None, None, -1)])
@example([slice(-8, None, None), 0])
@example([0, None, Ellipsis])
def test_format_index_parses_back(key):
    index = tuple(key)
    assert parse_index(format_index(index)) == index
    assert parse_index(f"[{format_index(index)}]") == index


@settings(max_examples=600, deadline=None)
@given(_shape, _index)
@example((3,), [slice(None, None, -2)])  # a lone slice: Keras takes a bare int only
@example((2, 3), [None, Ellipsis, 3])  # out of range after a new axis
@example((2, 0), [Ellipsis, slice(-1, None)])  # a slice of an empty axis
@example((4,), [0, None])  # an int, then a new axis
@example((2, 3), [-2, -3])
def test_get_item_rule_is_numpy_basic_indexing(shape, key):
    index = tuple(key)
    kw = {"index": f"[{format_index(index)}]"}
    if len(index) == 1 and not isinstance(index[0], int):
        with pytest.raises(ShapeError, match="lone"):
            OPS["get_item"].shape(kw, [shape])
        return
    try:
        want = np.empty(shape)[index].shape
    except IndexError:
        with pytest.raises(ShapeError) as info:
            OPS["get_item"].shape(kw, [shape])
        assert info.value.code == "MS304"
        return
    assert OPS["get_item"].shape(kw, [shape]) == want


# --- a spec of every op, through lint, the direct build and the generated code --------


def _every_op_spec() -> dict:
    """One step per op, on the first of its cases whose tensors all have an unknown
    batch; each step an output."""
    inputs: dict = {}
    graph: dict = {}
    for name in OPS:
        _, kwargs, operands = next(c for c in cases.CASES if c[0] == name and
                                   all(o[0][:1] == (None,) for o in c[2] if isinstance(o, tuple)))  # fmt: skip
        to = []
        for k, o in enumerate(operands):
            if isinstance(o, tuple):
                inputs[f"in_{name}_{k}"] = {"shape": list(o[0][1:]), "dtype": o[1]}
                to.append(f"in_{name}_{k}")
            else:
                to.append(o)
        graph[f"s_{name}"] = {"op": name, "to": to if len(to) > 1 else to[0], **kwargs}
    outputs = {f"o_{n}": {"from": f"s_{n}"} for n in OPS}
    return {"modelspec": 1, "name": "ops", "inputs": inputs, "graph": graph, "outputs": outputs}


@pytest.mark.keras
def test_every_op_in_a_spec_builds_as_linted(tmp_path):
    """The shapes and dtypes lint infers for each op step are those of the model that
    modelspec builds, directly and from the code it generates."""
    pytest.importorskip("keras")
    from keras.src.backend import standardize_dtype

    from modelspec.api import SpecModel
    from modelspec.lower.plan import plan

    result = check_text(json.dumps(_every_op_spec()), "ops.json")
    assert result.ok, [d.format() for d in result.diagnostics]
    spec = SpecModel(result, plan(result))
    source = tmp_path / "ops_model.py"
    source.write_text(spec.to_python(), encoding="utf-8")
    namespace: dict = {}
    exec(compile(source.read_text(encoding="utf-8"), str(source), "exec"), namespace)
    for model in (spec.to_keras(compile=False), namespace["build_model"]()):
        assert len(model.output) == len(OPS)
        for name, tensor in model.output.items():
            got = (tuple(tensor.shape), standardize_dtype(tensor.dtype))
            assert got == (result.shapes.outputs[name], result.shapes.output_dtypes[name]), name
