"""Rules stated once and checked on generated specs (hypothesis)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from modelspec.catalog import ShapeError
from modelspec.check import check_text
from modelspec.passes.keras_order import keras_layer_order


@st.composite
def dags(draw):
    """A random DAG of Dense steps and Add/Concatenate merges over 1-3 inputs.

    Every step reads earlier tensors only; some steps are outputs, and every step feeds
    an output (the last one reads all loose ends), so the spec must lint clean.
    """
    n_inputs = draw(st.integers(1, 3))
    width = draw(st.sampled_from([4, 8]))
    inputs = {f"in{i}": {"shape": [width]} for i in range(n_inputs)}
    tensors = list(inputs)
    graph: dict[str, dict] = {}
    used: set[str] = set()
    for i in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["dense", "dense", "add", "concat"]))
        if kind == "dense" or len(tensors) < 2:
            src = draw(st.sampled_from(tensors))
            graph[f"s{i}"] = {"apply": {"type": "Dense", "units": width}, "to": src}
            used.add(src)
        else:
            srcs = draw(st.lists(st.sampled_from(tensors), min_size=2, max_size=3, unique=True))
            merge = {"type": "Add"} if kind == "add" else {"type": "Concatenate"}
            chain = [merge] if kind == "add" else [merge, {"type": "Dense", "units": width}]
            graph[f"s{i}"] = {"apply": chain, "to": srcs}
            used.update(srcs)
        tensors.append(f"s{i}")
    loose = [t for t in tensors if t not in used]
    if len(loose) > 1:
        graph["last"] = {"apply": {"type": "Add"}, "to": loose}
        loose = ["last"]
    outputs = {"y": {"from": loose[0]}} if loose[0] in graph else {}
    assume(outputs)
    return {"modelspec": 1, "name": "dag", "inputs": inputs, "graph": graph, "outputs": outputs}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_generated_dags_lint_clean_and_order_is_topological(spec):
    result = check_text(json.dumps(spec), "dag.json")
    assert result.ok, [d.format() for d in result.diagnostics]
    order = keras_layer_order(result.spec, result.graph)
    position = {name: i for i, name in enumerate(order)}
    for call in result.graph.order:
        for ref in call.inputs:
            producer = (
                ref.name
                if ref.name in result.spec.input_map
                else result.graph.producer[ref.name].layer
            )
            assert position[producer] < position[call.layer]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(), st.data())
def test_a_back_edge_is_one_cycle_error(spec, data):
    steps = [name for name, step in spec["graph"].items() if isinstance(step["to"], str)]
    assume(len(spec["graph"]) >= 2 and steps)
    victim = data.draw(st.sampled_from(steps))
    readers: dict[str, set[str]] = {}
    for name, step in spec["graph"].items():
        for src in [step["to"]] if isinstance(step["to"], str) else step["to"]:
            readers.setdefault(src, set()).add(name)
    descendants, todo = {victim}, [victim]
    while todo:
        for reader in readers.get(todo.pop(), ()):
            if reader not in descendants:
                descendants.add(reader)
                todo.append(reader)
    target = data.draw(st.sampled_from(sorted(descendants)))
    spec["graph"][victim]["to"] = target  # the step now reads itself or its descendant
    result = check_text(json.dumps(spec), "dag.json")
    cycles = [d for d in result.errors if d.code == "MS204"]
    # The cycle goes through the edited step (a step may also be cut off from its
    # input, which is then reported as unused, never as a second error).
    assert len(cycles) == 1, [d.format() for d in result.diagnostics]
    assert victim in cycles[0].message or "more)" in cycles[0].message  # long cycles are cut
    assert {d.code for d in result.errors} <= {"MS204", "MS214"}


def _merge_of(n: int) -> dict:
    inputs = {f"in{i}": {"shape": [1]} for i in range(n)}
    graph = {"cat": {"apply": {"type": "Concatenate"}, "to": list(inputs)}}
    return {"modelspec": 1, "name": "wide", "inputs": inputs, "graph": graph,
            "outputs": {"y": {"from": "cat"}}}  # fmt: skip


def test_keras_order_is_linear_in_the_inputs_of_one_merge():
    """A merge is resumed once per input in the walk: 20,000 inputs took minutes when
    each resume listed the merge's inputs again. The work is counted (the inputs of
    calls the walk reads), not timed, so a busy machine cannot fail it."""
    read = [0]

    class Counted(tuple):
        def __iter__(self):
            for ref in super().__iter__():
                read[0] += 1
                yield ref

    def reads(n: int) -> int:
        result = check_text(json.dumps(_merge_of(n)), "wide.json")
        assert result.ok
        producer = {
            name: dataclasses.replace(call, inputs=Counted(call.inputs))
            for name, call in result.graph.producer.items()
        }
        read[0] = 0
        order = keras_layer_order(result.spec, dataclasses.replace(result.graph, producer=producer))
        assert len(order) == n + 1 and order[-1] not in result.spec.input_map
        return read[0]

    small, large = reads(1_000), reads(8_000)
    assert large <= 9 * small, (small, large)  # 8x the inputs: linear is 8x, quadratic 64x


# --- shape rules against Keras -----------------------------------------------------------

conv_kwargs = st.fixed_dictionaries(
    {
        "filters": st.integers(1, 6),
        "kernel_size": st.integers(1, 5),
        "strides": st.integers(1, 3),
        "padding": st.sampled_from(["valid", "same"]),
        "use_bias": st.booleans(),
    }
)


@pytest.mark.keras
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["Conv1D", "Conv2D", "Conv1DTranspose", "Conv2DTranspose", "SeparableConv2D"]),
    conv_kwargs,
    st.integers(1, 12),
    st.integers(1, 4),
)
def test_conv_rules_match_keras(type_name, kwargs, size, channels):
    """Whatever the kwargs, the catalogue agrees with Keras: same shape and parameters,
    or both refuse."""
    pytest.importorskip("keras")
    from tests.keras_truth import agree_or_both_refuse

    rank = 2 if "2D" in type_name else 1
    ours, theirs = agree_or_both_refuse(type_name, kwargs, [(None, *([size] * rank), channels)])
    assert ours == theirs


@pytest.mark.keras
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["MaxPooling2D", "AveragePooling1D", "MaxPooling1D", "AveragePooling2D"]),
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 3)),
    st.sampled_from(["valid", "same"]),
    st.integers(1, 10),
)
def test_pooling_rules_match_keras(type_name, pool, strides, padding, size):
    pytest.importorskip("keras")
    from tests.keras_truth import agree_or_both_refuse

    rank = 2 if "2D" in type_name else 1
    kwargs = {"pool_size": pool, "strides": strides, "padding": padding}
    ours, theirs = agree_or_both_refuse(type_name, kwargs, [(None, *([size] * rank), 3)])
    assert ours == theirs


# --- no input makes the pipeline raise ------------------------------------------------------

from pathlib import Path  # noqa: E402

from tests.test_schema import _VALUES, _mutate, _paths  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
_SPECS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "specs").glob("*.yaml"))
_TEXTS = [p.read_text(encoding="utf-8") for p in _SPECS]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_no_mutated_spec_makes_check_raise(data):
    """Whatever a spec holds, `check` returns diagnostics: it never raises."""
    from modelspec.source.loader import loads

    text = data.draw(st.sampled_from(_TEXTS))
    base = loads(text, "s.yaml")[0].data
    spec = base
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(spec))))
        how = data.draw(st.sampled_from(["replace", "delete", "add"]))
        spec = _mutate(spec, path, how, data.draw(_VALUES))
    result = check_text(json.dumps(spec), "mutated.json")
    assert all(d.line >= 1 and d.col >= 1 for d in result.diagnostics)


# Examples the property found, kept as explicit cases: a value of another JSON type where
# the callback path check looked a name up (`type: [..]` crashed it: unhashable list).
_FOUND_VALUES = [[], ["CSVLogger"], {}, {"a": 1}, 1, None, True]


@pytest.mark.parametrize("value", _FOUND_VALUES, ids=repr)
@pytest.mark.parametrize("key", ["type", "filepath", "filename", "log_dir"])
def test_found_examples_callback_values_of_any_type(key, value):
    from modelspec.source.loader import loads

    spec = loads((ROOT / "specs" / "example_circles.yaml").read_text(encoding="utf-8"), "s.yaml")[
        0
    ].data
    spec.setdefault("fit", {})["callbacks"] = [
        {"type": "ModelCheckpoint", "filepath": "ckpt/{epoch}.keras"},
        {"type": "CSVLogger", "filename": "log.csv"},
        {"type": "TensorBoard", "log_dir": "tb"},
    ]
    for callback in spec["fit"]["callbacks"]:
        if key in callback:
            callback[key] = value
    result = check_text(json.dumps(spec), "mutated.json")
    assert result.errors and all(d.line >= 1 and d.col >= 1 for d in result.diagnostics)


@pytest.mark.parametrize("value", _FOUND_VALUES, ids=repr)
def test_found_examples_a_loss_type_of_any_type(value):
    """`loss: {type: []}` crashed the loss and activation check (unhashable list)."""
    text = (ROOT / "specs" / "seed_003_multitask.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "task_1: {from: out_1, loss: mse,",
        f"task_1: {{from: out_1, loss: {{type: {json.dumps(value)}}},",
    )
    assert "loss: {type:" in text
    result = check_text(text, "mutated.yaml")
    assert result.errors and all(d.line >= 1 and d.col >= 1 for d in result.diagnostics)


@pytest.mark.parametrize("value", _FOUND_VALUES, ids=repr)
@pytest.mark.parametrize("key", ["outputs", "graph"])
def test_found_examples_sections_of_any_type_beside_a_nested_model(key, value):
    """`outputs: true` in a spec with a nested model crashed its checks (no .items())."""
    from modelspec.source.loader import loads

    spec = loads((ROOT / "specs" / "siamese.yaml").read_text(encoding="utf-8"), "s.yaml")[0].data
    spec[key] = value
    result = check_text(json.dumps(spec), "mutated.json")
    assert result.errors and all(d.line >= 1 and d.col >= 1 for d in result.diagnostics)


@pytest.mark.parametrize("value", _FOUND_VALUES, ids=repr)
def test_found_examples_blocks_of_any_type_beside_a_block_step(value):
    """`blocks: 1` in a spec whose graph has block steps crashed the block step's
    check (`in` on an int)."""
    from modelspec.source.loader import loads

    spec = loads((ROOT / "specs" / "resnet50.yaml").read_text(encoding="utf-8"), "s.yaml")[0].data
    spec["blocks"] = value
    result = check_text(json.dumps(spec), "mutated.json")
    assert result.errors and all(d.line >= 1 and d.col >= 1 for d in result.diagnostics)


# --- every shape rule is total -----------------------------------------------------------------

from modelspec.catalog import LAYER_TYPES  # noqa: E402
from modelspec.schema.accept import _accepts, schemas  # noqa: E402


def _from_schema(schema, depth=0):
    """Values for a kwarg's JSON Schema: mostly valid, at the edges of its ranges."""
    if "anyOf" in schema:
        return st.one_of([_from_schema(s, depth) for s in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        lo = schema.get("minimum", -3)
        return st.integers(lo, max(lo, 0) + 6)
    if kind == "number":
        return st.floats(-1, 2, allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return st.sampled_from(["ab,bc->ac", "abc,cd->abd", "...b,bc->...c", "a", ""])
    if kind == "null":
        return st.none()
    if kind == "array" and depth < 2:
        size = {"min_size": schema.get("minItems", 0), "max_size": schema.get("maxItems", 4)}
        return st.lists(_from_schema(schema.get("items", {"type": "integer"}), depth + 1), **size)
    if kind == "object":  # a wrapped layer
        return st.sampled_from([{"type": "LSTM", "units": 3}, {"type": "Dense", "units": 2},
                                {"type": "GRU", "units": 2, "return_sequences": True},
                                {"type": "LSTMCell", "units": 2}])  # fmt: skip
    return st.none()


_SHAPES = st.lists(st.one_of(st.none(), st.integers(1, 7)), min_size=0, max_size=5).map(
    lambda dims: (None, *dims)
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(st.data())
@pytest.mark.parametrize("type_name", sorted(LAYER_TYPES))
def test_shape_and_param_rules_are_total(type_name, data):
    """For kwargs the schema accepts and any input shapes, a rule answers or raises
    ShapeError: never another exception, which would reach the user as a traceback."""
    layer = LAYER_TYPES[type_name]
    per_type = schemas()[2][type_name]
    kwargs = {}
    for kwarg in layer.kwargs:
        if kwarg.required or data.draw(st.booleans()):
            kwargs[kwarg.name] = data.draw(_from_schema(per_type["properties"][kwarg.name]))
    assume(_accepts(per_type, {"type": type_name, **kwargs}))
    n = layer.min_inputs if layer.max_inputs == layer.min_inputs else data.draw(st.integers(1, 3))
    shapes = [data.draw(_SHAPES) for _ in range(n)]
    kw = layer.resolve(kwargs)
    try:
        out = layer.shape(kw, shapes)
        trainable, frozen = layer.params(kw, shapes)
    except ShapeError:
        return
    assert isinstance(trainable, int) and isinstance(frozen, int)
    assert trainable >= 0 and frozen >= 0
    outs = out if isinstance(out, list) else [out]
    assert all(isinstance(s, tuple) for s in outs)


# --- the stable topological order (plan, nested models and the importer share it) --------


@st.composite
def dags(draw):
    """Nodes 0..n-1 in a shuffled written order, each needing some earlier-numbered ones."""
    n = draw(st.integers(0, 12))
    needs = {
        i: set(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else set() for i in range(n)
    }
    written = draw(st.permutations(range(n)))
    return written, needs


@given(dags())
def test_stable_order_is_topological_and_keeps_the_written_order_where_free(case):
    from modelspec.passes.graph import stable_order

    written, needs = case
    order = stable_order(written, needs.__getitem__)
    assert sorted(order) == sorted(written)
    place = {n: i for i, n in enumerate(order)}
    assert all(place[d] < place[n] for n in order for d in needs[n])
    # Where the order swaps two written steps, the later-written one went first because
    # the other needed it: otherwise the other, ready and of lower rank, went first.
    for a, b in zip(order, order[1:]):
        if written.index(b) < written.index(a):
            assert a in needs[b]


def test_stable_order_leaves_out_a_cycle_and_what_follows_it():
    from modelspec.passes.graph import stable_order

    needs = {"a": set(), "b": {"c"}, "c": {"b"}, "d": {"c"}, "e": {"a"}, "s": {"s"}}
    assert stable_order(["a", "b", "c", "d", "e", "s"], needs.__getitem__) == ["a", "e"]
    assert stable_order(["x", "y"], {"x": {"outside"}, "y": set()}.__getitem__) == ["x", "y"]
    # A rank orders what the needs leave free; the written order breaks no tie it makes.
    assert stable_order(["p", "q", "r"], lambda n: (), {"p": 2, "q": 1, "r": 0}.__getitem__) == ["r", "q", "p"]  # fmt: skip
