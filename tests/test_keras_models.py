"""Whole models against Keras: ``modelspec summary`` versus the model Keras builds.

Every spec in ``specs/`` and ``tests/specs/`` is checked without TensorFlow
(``summary_json(check(path))``), then built as a Keras Functional model by the
test-only reference builder ``tests.keras_truth.build_model``. Compared:

- total, trainable and non-trainable parameters;
- per layer (by name): its type, parameters and trainable parameters;
- per layer, the output shape(s) of each of its nodes (calls), in call order;
- the model's inputs and outputs: shapes and dtypes;
- the layer names (the model's layers are the summary's plus the inputs), and
  their order;
- the names modelspec gives inline layers, against the names Keras gives the same
  layers created without a name in a fresh session.

Each model is built once (``clear_session`` first) and reduced to plain facts in
the same form as ``summary_json``, so a failure shows a readable diff and the
50M-parameter seed is not kept in memory.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import pytest

keras = pytest.importorskip("keras")

from modelspec.catalog.ops import OPS  # noqa: E402
from modelspec.check import check  # noqa: E402
from modelspec.emit.summary import summary_json  # noqa: E402
from modelspec.passes.result import Result  # noqa: E402
from tests.conformance import class_name  # noqa: E402
from tests.keras_truth import build_layer, build_model  # noqa: E402

pytestmark = pytest.mark.keras

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "tests" / "specs").glob("*.yaml"))
IDS = [p.relative_to(ROOT).with_suffix("").as_posix() for p in SPECS]


# --- facts from both sides ----------------------------------------------------------------


def _shape(shape: Any) -> list:
    return [None if d is None else int(d) for d in shape]


def _count(weights: list) -> int:
    return sum(math.prod(w.shape) for w in weights)


def _node_shape(node) -> Any:
    """A node's output as summary_json writes it: a shape, or a list for several tensors."""
    shapes = [_shape(t.shape) for t in node.outputs]
    return shapes[0] if len(shapes) == 1 else shapes


# The summary's type of the operation a spec's op step records: `ops.ones_like`.
OP_TYPES = {op.keras_class: f"ops.{op.name}" for op in OPS.values()}


def _operations(model) -> list:
    """The model's layers and the operations of its op steps, in Keras's order (not the
    ops Keras adds itself for masks, `NotEqual`)."""
    return [
        op
        for op in model.operations
        if isinstance(op, keras.layers.Layer) or type(op).__name__ in OP_TYPES
    ]


def keras_summary(model, result: Result) -> dict[str, Any]:
    """The facts of a built Keras model in the form of ``summary_json``."""
    layers = []
    for layer in _operations(model):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        is_layer = isinstance(layer, keras.layers.Layer)  # else an op step's operation
        layers.append(
            {
                "name": layer.name,
                "type": class_name(layer) if is_layer else OP_TYPES[type(layer).__name__],
                "params": _count(layer.weights) if is_layer else 0,
                "trainable_params": _count(layer.trainable_weights) if is_layer else 0,
                "output_shapes": [_node_shape(n) for n in layer._inbound_nodes],
            }
        )
    # The tensors recorded while building, grouped by layer in graph order: the
    # same facts as the nodes above, from the other end.
    recorded: dict[str, list] = {}
    for call in result.graph.order:
        out = model.call_outputs[call.output]
        shape = [_shape(t.shape) for t in out] if isinstance(out, list) else _shape(out.shape)
        recorded.setdefault(call.layer, []).append(shape)
    return {
        "name": model.name,
        "layer_names": [layer.name for layer in _operations(model)],
        "inputs": {t.name: {"shape": _shape(t.shape), "dtype": t.dtype} for t in model.inputs},
        "outputs": {
            name: {"shape": _shape(t.shape), "dtype": t.dtype} for name, t in model.output.items()
        },
        "layers": layers,
        "recorded_shapes": recorded,
        "total_params": model.count_params(),
        "trainable_params": _count(model.trainable_weights),
        "non_trainable_params": _count(model.non_trainable_weights),
    }


@functools.cache
def facts(path: Path) -> tuple[Result, dict[str, Any], dict[str, Any]]:
    """``(result, summary_json, keras_summary)`` for one spec, built once per session."""
    result = check(path)
    assert result.ok, [str(d) for d in result.errors]
    # The reference builder inlines nested models (tests/test_nested.py compares those
    # with Keras's nested models), so the summary is compared layer by layer.
    ours = summary_json(result, nested=False)
    keras.backend.clear_session()
    model = build_model(result)
    theirs = keras_summary(model, result)
    del model
    keras.backend.clear_session()
    return result, ours, theirs


def _by_name(layers: list[dict]) -> dict[str, dict]:
    return {layer["name"]: layer for layer in layers}


# --- the comparisons ----------------------------------------------------------------------


def test_specs_found():
    assert len([p for p in SPECS if p.parent.name == "specs" and "seed" in p.stem]) >= 5
    assert len(SPECS) >= 16


@pytest.mark.parametrize("path", SPECS, ids=IDS)
def test_totals(path):
    _, ours, theirs = facts(path)
    for key in ("total_params", "trainable_params", "non_trainable_params"):
        assert ours[key] == theirs[key], key


@pytest.mark.parametrize("path", SPECS, ids=IDS)
def test_layer_names(path):
    result, ours, theirs = facts(path)
    inputs = [i.name for i in result.spec.inputs]
    summary_names = [layer["name"] for layer in ours["layers"]]
    assert len(set(theirs["layer_names"])) == len(theirs["layer_names"])
    assert sorted(theirs["layer_names"]) == sorted(inputs + summary_names)


@pytest.mark.parametrize("path", SPECS, ids=IDS)
def test_layer_order(path):
    """The summary claims Keras's order; holds for chains and one-input forks only."""
    _, ours, theirs = facts(path)
    keras_order = [n for n in theirs["layer_names"] if n not in theirs["inputs"]]
    assert [layer["name"] for layer in ours["layers"]] == keras_order


@pytest.mark.parametrize("path", SPECS, ids=IDS)
def test_layer_params_and_types(path):
    _, ours, theirs = facts(path)
    mine, keras_layers = _by_name(ours["layers"]), _by_name(theirs["layers"])
    assert mine.keys() == keras_layers.keys()
    for name, layer in mine.items():
        want = keras_layers[name]
        got = {k: layer[k] for k in ("type", "params", "trainable_params")}
        assert got == {k: want[k] for k in got}, name


@pytest.mark.parametrize("path", SPECS, ids=IDS)
def test_call_output_shapes(path):
    _, ours, theirs = facts(path)
    keras_layers = _by_name(theirs["layers"])
    for layer in ours["layers"]:
        name = layer["name"]
        # Keras's nodes and the tensors recorded while building agree...
        assert keras_layers[name]["output_shapes"] == theirs["recorded_shapes"][name], name
        # ... and so does modelspec, node by node.
        assert layer["output_shapes"] == keras_layers[name]["output_shapes"], name


@pytest.mark.parametrize("path", SPECS, ids=IDS)
def test_input_shapes_and_dtypes(path):
    _, ours, theirs = facts(path)
    assert ours["inputs"] == theirs["inputs"]


@pytest.mark.parametrize("path", SPECS, ids=IDS)
def test_output_shapes(path):
    _, ours, theirs = facts(path)
    assert {k: v["shape"] for k, v in ours["outputs"].items()} == {
        k: v["shape"] for k, v in theirs["outputs"].items()
    }


@pytest.mark.parametrize("path", SPECS, ids=IDS)
def test_output_dtypes(path):
    _, ours, theirs = facts(path)
    assert {k: v["dtype"] for k, v in ours["outputs"].items()} == {
        k: v["dtype"] for k, v in theirs["outputs"].items()
    }


# --- inline layers are named as Keras would name them -------------------------------------


def _auto_named(result: Result) -> set[str]:
    """Inline layers written without ``name:`` (their names are modelspec's choice)."""
    out = set()
    for layer in result.spec.layers.values():
        if not layer.inline or layer.type.startswith("ops."):  # an op: Keras names it
            continue
        node: Any = result.doc.data
        for key in layer.source.path:
            node = node[key]
        if not (isinstance(node, dict) and "name" in node):
            out.add(layer.name)
    return out


def fresh_session_names(result: Result) -> dict[str, str]:
    """modelspec's name -> Keras's, creating the spec's layers in a fresh session.

    The layers are created in the order they are written, auto-named ones with no
    ``name`` (so Keras picks it), the others with theirs (which takes no auto-name
    counter in Keras). A sequential spec becomes a ``keras.Sequential`` of them, not
    built, so no weights are allocated.

    Layers are only created, never called: a layer that creates unnamed sublayers
    when it is built (``MultiHeadAttention``'s ``Softmax`` and ``Dropout``) would take
    auto names too if it were called before a later layer is created, which depends
    on how the Keras code is written, not on the spec.
    """
    auto = _auto_named(result)
    spec_layers = sorted(
        (layer for layer in result.spec.layers.values() if not layer.type.startswith("ops.")),
        key=lambda layer: (layer.source.line, layer.source.col),
    )
    keras.backend.clear_session()
    built = []
    for layer in spec_layers:
        kwargs = dict(layer.kwargs)
        if layer.name not in auto:
            kwargs["name"] = layer.name
        built.append(build_layer(layer.type, kwargs))
    if result.spec.sequential:
        model = keras.Sequential(built)
        built = model.layers
    names = {layer.name: k.name for layer, k in zip(spec_layers, built)}
    keras.backend.clear_session()
    return {ours: theirs for ours, theirs in names.items() if ours in auto}


WITH_INLINE = [
    p
    for p in SPECS
    if any(
        layer.inline and not layer.type.startswith("ops.")
        for layer in check(p).spec.layers.values()
    )
]


@pytest.mark.parametrize(
    "path",
    WITH_INLINE,
    ids=[p.relative_to(ROOT).with_suffix("").as_posix() for p in WITH_INLINE],
)
def test_inline_names_match_a_fresh_keras_session(path):
    result = check(path)
    names = fresh_session_names(result)
    assert names, "a spec with inline layers should auto-name at least one"
    assert {ours: ours for ours in names} == names


def test_inline_names_skip_the_spec_names():
    """A deliberate difference: an inline ``Dense`` next to a layer the spec calls
    ``dense`` is ``dense_1``. Keras would name it ``dense`` too, and then refuse the
    model for its two layers of one name."""
    from modelspec.check import check_text

    result = check_text(
        "modelspec: 1\nname: m\ninputs: {x: {shape: [3]}}\n"
        "layers: {dense: {type: Dense, units: 2}}\n"
        "graph: {h: {apply: [dense, {type: Dense, units: 1}], to: x}}\n"
        "outputs: {y: {from: h}}\n"
    )
    assert result.ok
    assert fresh_session_names(result) == {"dense_1": "dense"}
    keras.backend.clear_session()
    model = build_model(result)  # with modelspec's names, Keras builds it
    assert [layer.name for layer in model.layers] == ["x", "dense", "dense_1"]
    keras.backend.clear_session()
