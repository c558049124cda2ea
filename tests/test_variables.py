"""The weights of every layer, listed without Keras, against the variables Keras creates.

- The catalogue's weight rules (``LayerType.weights``) run on every conformance case
  of a layer type with weights (tests/cases): their sizes add up to the parameter
  rule's count, and with Keras they are the built layer's
  ``[(v.path, v.shape, v.trainable)]``.
- :func:`~modelspec.passes.variables.model_variables` lists a spec's model's variables:
  with Keras, every shipped spec and test spec, built in each form it has, has exactly
  them; one spec is also built from its generated module, and on JAX.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import modelspec
from modelspec.api import SpecModel
from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.base import no_params, no_weights
from modelspec.check import check_text, is_library
from modelspec.lower.plan import plan
from modelspec.passes.variables import Variable, model_variables
from modelspec.source.loader import load
from modelspec.source.project import Project
from tests import cases

ROOT = Path(__file__).resolve().parent.parent

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


# --- a spec's model --------------------------------------------------------------------

# A layer of each kind of path: plain, a recurrent layer's cell, a wrapper's copies, the
# projections of an attention layer, a shared layer (once), a frozen one, a nested
# Sequential model (its layers under its name), a nested Functional model (its layers
# bare, under their names in it) holding a nested Sequential one.
ZOO = """modelspec: 1
name: zoo
inputs:
  x: {shape: [6, 8]}
blocks:
  body:
    model: true
    inputs: [h]
    outputs: [out]
    layers:
      in1: {type: Dense, units: 4}
    graph:
      out: {apply: in1, to: h}
  pair:
    model: true
    inputs: [h]
    outputs: [out]
    layers:
      a: {type: Dense, units: 4}
    graph:
      left: {apply: a, to: h}
      deep: {block: body, to: h}
      out: {apply: {type: Add}, to: [left, deep]}
layers:
  d1: {type: Dense, units: 16}
  lstm: {type: LSTM, units: 8, return_sequences: true}
  bi: {type: Bidirectional, layer: {type: GRU, units: 4, return_sequences: true}}
  mha: {type: MultiHeadAttention, num_heads: 2, key_dim: 4}
  shared: {type: Dense, units: 8}
  bn: {type: BatchNormalization, trainable: false}
  ln: {type: LayerNormalization}
graph:
  h1: {apply: [d1, lstm, bi], to: x}
  att: {apply: mha, to: [h1, h1]}
  s1: {apply: shared, to: att}
  s2: {apply: [shared, bn, ln], to: s1}
  inner: {block: body, to: s2}
  twin: {block: pair, to: s2}
  y: {apply: {type: Concatenate}, to: [inner, twin]}
outputs:
  y: {from: y}
"""
ZOO_VARIABLES = [
    ("d1/kernel", (8, 16), "d1", True),
    ("d1/bias", (16,), "d1", True),
    ("lstm/lstm_cell/kernel", (16, 32), "lstm", True),
    ("lstm/lstm_cell/recurrent_kernel", (8, 32), "lstm", True),
    ("lstm/lstm_cell/bias", (32,), "lstm", True),
    ("bi/forward_gru/gru_cell/kernel", (8, 12), "bi", True),
    ("bi/forward_gru/gru_cell/recurrent_kernel", (4, 12), "bi", True),
    ("bi/forward_gru/gru_cell/bias", (2, 12), "bi", True),
    ("bi/backward_gru/gru_cell/kernel", (8, 12), "bi", True),
    ("bi/backward_gru/gru_cell/recurrent_kernel", (4, 12), "bi", True),
    ("bi/backward_gru/gru_cell/bias", (2, 12), "bi", True),
    ("mha/query/kernel", (8, 2, 4), "mha", True),
    ("mha/query/bias", (2, 4), "mha", True),
    ("mha/key/kernel", (8, 2, 4), "mha", True),
    ("mha/key/bias", (2, 4), "mha", True),
    ("mha/value/kernel", (8, 2, 4), "mha", True),
    ("mha/value/bias", (2, 4), "mha", True),
    ("mha/attention_output/kernel", (2, 4, 8), "mha", True),
    ("mha/attention_output/bias", (8,), "mha", True),
    ("shared/kernel", (8, 8), "shared", True),
    ("shared/bias", (8,), "shared", True),
    ("bn/gamma", (8,), "bn", False),
    ("bn/beta", (8,), "bn", False),
    ("bn/moving_mean", (8,), "bn", False),
    ("bn/moving_variance", (8,), "bn", False),
    ("ln/gamma", (8,), "ln", True),
    ("ln/beta", (8,), "ln", True),
    ("inner/in1/kernel", (8, 4), "inner_in1", True),
    ("inner/in1/bias", (4,), "inner_in1", True),
    ("a/kernel", (8, 4), "twin_a", True),
    ("a/bias", (4,), "twin_a", True),
    ("deep/in1/kernel", (8, 4), "twin_deep_in1", True),
    ("deep/in1/bias", (4,), "twin_deep_in1", True),
]
# Two instances of `pair`, not shared: two Functional models with a layer `a` each.
ZOO_TWICE = ZOO.replace("  y: {apply: {type: Concatenate}, to: [inner, twin]}",
                        "  twin2: {block: pair, to: s2}\n"
                        "  y: {apply: {type: Concatenate}, to: [inner, twin, twin2]}")  # fmt: skip
CHAIN = """modelspec: 1
name: chain
inputs:
  x: {shape: [8]}
sequential:
  - {type: Dense, units: 4, name: d1}
  - {type: Dense, units: 2, name: d2}
"""


def as_tuples(variables: list[Variable]) -> list[tuple]:
    return sorted((v.path, v.shape, v.layer, v.trainable) for v in variables)


def keras_variables(model) -> list[tuple]:
    return sorted((v.path, tuple(v.shape), bool(v.trainable)) for v in model.weights)


def without_layer(variables: list[Variable]) -> list[tuple]:
    return sorted((v.path, v.shape, v.trainable) for v in variables)


def test_the_variables_of_a_spec_without_keras():
    found, unknown = model_variables(check_text(ZOO, "zoo.yaml"))
    assert as_tuples(found) == sorted(ZOO_VARIABLES)
    assert unknown == []
    # Nested models first, each model's layers in the order the spec calls them.
    assert [v.layer for v in found][:6] == ["inner_in1"] * 2 + ["twin_deep_in1"] * 2 + ["twin_a"] * 2  # fmt: skip


def test_paths_repeat_in_two_functional_models_of_one_block():
    found, _ = model_variables(check_text(ZOO_TWICE, "zoo.yaml"))
    assert [v.layer for v in found if v.path == "a/kernel"] == ["twin_a", "twin2_a"]
    assert [v.layer for v in found if v.path == "deep/in1/kernel"] == ["twin_deep_in1", "twin2_deep_in1"]  # fmt: skip


def test_a_sequential_model_holds_its_layers_under_its_name():
    result = check_text(CHAIN, "chain.yaml")
    assert [v.path for v in model_variables(result)[0]] == [
        "chain/d1/kernel", "chain/d1/bias", "chain/d2/kernel", "chain/d2/bias"
    ]  # fmt: skip
    assert [v.path for v in model_variables(result, "functional")[0]] == [
        "d1/kernel", "d1/bias", "d2/kernel", "d2/bias"
    ]  # fmt: skip


def test_a_spec_with_errors_has_no_variables():
    with pytest.raises(ValueError):
        model_variables(check_text(CHAIN.replace("units: 2", "units: two"), "chain.yaml"))


SCALE = """
import keras

class Scale(keras.layers.Layer):
    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1],), initializer="ones", name="w")

    def call(self, x):
        return x * self.w
"""
SCALED = """modelspec: 1
name: scaled
custom:
  Scale: %s
inputs:
  x: {shape: [8]}
sequential:
  - {type: Dense, units: 8, name: d1}
  - {type: Scale, name: scale}
  - {type: Dense, units: 2, name: d2}
"""


@pytest.fixture
def scale_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Project, str]:
    name = f"scale_layers_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(SCALE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return Project(tmp_path, allow_modules=(name,)), name


def test_a_custom_layer_with_weights_is_unknown(scale_module):
    project, module = scale_module
    declared = SCALED % f"{{class: {module}.Scale, shape: same, params: 8}}"
    found, unknown = model_variables(check_text(declared, "scaled.yaml", project=project))
    assert unknown == ["scale"]
    assert [v.layer for v in found] == ["d1", "d1", "d2", "d2"]
    # Declared without weights, it has none.
    result = check_text(declared.replace("params: 8", "params: 0"), "scaled.yaml", project=project)
    assert model_variables(result)[1] == []
    # Without its shape, the layers after it are unknown too (their input is, MS320).
    result = check_text(SCALED % f"{{class: {module}.Scale}}", "scaled.yaml", project=project)
    assert [d.code for d in result.diagnostics] == ["MS320"]
    assert model_variables(result) == (model_variables(result)[0][:2], ["scale", "d2"])


@pytest.mark.keras
def test_what_is_unknown_is_the_custom_layers_weights(scale_module):
    pytest.importorskip("keras")
    project, module = scale_module
    text = SCALED % f"{{class: {module}.Scale, shape: same, params: 8}}"
    result = check_text(text, "scaled.yaml", project=project)
    found, unknown = model_variables(result)
    theirs = keras_variables(SpecModel(result, plan(result)).to_keras(compile=False))
    ours = without_layer(found)
    assert set(ours) <= set(theirs)
    assert [v[0] for v in theirs if v not in ours] == ["scaled/scale/w"]


def _spec_files() -> list[Path]:
    files = sorted(ROOT.glob("specs/*.yaml")) + sorted(ROOT.glob("specs/*.json"))
    files += sorted(ROOT.glob("tests/specs/**/*.yaml"))
    return [f for f in files if not is_library(load(f)[0].data)]


@pytest.mark.keras
@pytest.mark.parametrize("path", _spec_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_spec_has_the_variables_keras_builds(path):
    pytest.importorskip("keras")
    loaded = modelspec.load(path)
    for form in loaded.forms:
        found, unknown = model_variables(loaded.result, form)
        assert unknown == []
        model = loaded.to_keras(form, compile=False, weights=False)
        assert without_layer(found) == keras_variables(model), form


@pytest.mark.keras
@pytest.mark.parametrize("text", [ZOO, ZOO_TWICE, CHAIN], ids=["zoo", "zoo_twice", "chain"])
def test_the_specs_here_have_the_variables_keras_builds(text, tmp_path):
    pytest.importorskip("keras")
    (tmp_path / "spec.yaml").write_text(text)
    loaded = modelspec.load(tmp_path / "spec.yaml")
    for form in loaded.forms:
        model = loaded.to_keras(form, compile=False)
        assert without_layer(model_variables(loaded.result, form)[0]) == keras_variables(model)


@pytest.mark.keras
def test_the_generated_module_builds_the_variables_too(tmp_path):
    pytest.importorskip("keras")
    (tmp_path / "zoo.yaml").write_text(ZOO)
    loaded = modelspec.load(tmp_path / "zoo.yaml")
    namespace: dict = {"__name__": "generated"}
    exec(compile(loaded.to_python(), "<generated>", "exec"), namespace)
    model = namespace["build_model"]()
    assert keras_variables(model) == sorted((p, s, t) for p, s, _, t in ZOO_VARIABLES)


# Builds each spec given on the command line on the backend of the environment, and
# prints its variables.
BUILD = """
import json, sys
import modelspec
out = {}
for path in sys.argv[1:]:
    model = modelspec.load(path).to_keras(compile=False, weights=False)
    out[path] = [[v.path, list(v.shape), bool(v.trainable)] for v in model.weights]
print(json.dumps(out))
"""


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_the_paths_are_the_same_on_jax(tmp_path):
    (tmp_path / "zoo.yaml").write_text(ZOO)
    (tmp_path / "chain.yaml").write_text(CHAIN)  # a Sequential model
    paths = [tmp_path / "zoo.yaml", tmp_path / "chain.yaml"]
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(BUILD), *map(str, paths)],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    built = json.loads(run.stdout.strip().splitlines()[-1])
    for path in paths:
        found, _ = model_variables(modelspec.load(path).result)
        theirs = sorted((p, tuple(s), t) for p, s, t in built[str(path)])
        assert without_layer(found) == theirs, path
