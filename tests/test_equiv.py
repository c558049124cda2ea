"""``modelspec equiv``: every form of a seeded spec is the same model, and it says so.

Seeds 001 and 002 asked why "the same" Sequential and Functional models train
differently. Built from one seeded spec they do not: same weights, same outputs, and
the same weights after training with a fresh optimizer each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import modelspec

pytestmark = pytest.mark.keras

ROOT = Path(__file__).resolve().parent.parent
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")  # tests/conftest.py's default
# Strings reach a model as tf.string tensors: on the TensorFlow backend only (MS551).
STRINGS = pytest.mark.skipif(
    BACKEND != "tensorflow", reason=f"string inputs need the TensorFlow backend, not {BACKEND}"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    # Without the tests' own TF_CPP_MIN_LOG_LEVEL: the command must keep TensorFlow quiet.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "modelspec", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


# The image classifier's random augmentation runs in the training steps; the text
# classifier reads strings.
@pytest.mark.parametrize(
    "name",
    ["seed_001_mlp", "seed_002_conv_lstm", "image_classifier",
     pytest.param("text_classifier", marks=STRINGS)],
)  # fmt: skip
def test_seeded_stacks_are_identical_in_all_four_builds(name):
    from modelspec.runtime.equiv import compare

    report = compare(modelspec.load(ROOT / "specs" / f"{name}.yaml"), steps=2)
    assert report.builds == [
        "functional (generated)",
        "sequential (generated)",
        "functional (direct)",
        "sequential (direct)",
    ]
    assert [c.name for c in report.checks] == [
        "parameters",
        "initial weights",
        "outputs",
        "after 2 steps",
    ]
    assert report.identical, report.text()


# Graphs, each with one Functional form: the decoders' integer tokens and positions,
# the seq2seq model's initial_state, the tabular model's string and integer columns.
@pytest.mark.parametrize(
    "name",
    ["gpt_decoder", "seq2seq", "llama_decoder", pytest.param("tabular_model", marks=STRINGS)],
)
def test_seeded_example_graphs_are_identical_in_both_builds(name):
    from modelspec.runtime.equiv import compare

    report = compare(modelspec.load(ROOT / "specs" / f"{name}.yaml"), steps=2)
    assert report.builds == ["functional (generated)", "functional (direct)"]
    assert [c.name for c in report.checks] == [
        "parameters",
        "initial weights",
        "outputs",
        "after 2 steps",
    ]
    assert report.identical, report.text()


def test_cli_verdict_and_exit_code_for_a_seeded_graph():
    proc = run("equiv", "specs/seed_004_branches.yaml", "--steps", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "model 'branches': 2 builds: functional (generated), functional (direct)" in proc.stdout
    assert "verdict: identical: all 2 builds are the same model" in proc.stdout
    assert "I0000" not in proc.stderr  # TensorFlow's start-up chatter is kept quiet


def test_cli_on_names_the_generated_module_uses_itself():
    """An input named `weights` once replaced build_model()'s `weights` parameter, and
    equiv ended in an internal error (exit 3)."""
    proc = run("equiv", "tests/specs/shadowing_names.yaml", "--steps", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # (it has a nested model: built inlined too, 4 builds)
    assert proc.stdout.splitlines()[-1] == "verdict: identical: all 4 builds are the same model"


def test_without_a_seed_the_builds_are_the_same_model_apart_from_initial_weights():
    """Seed 003 has no seed: the initial weights cannot agree, so equiv gives every build
    the same ones and says what is true, with its own exit code."""
    proc = run("equiv", "specs/seed_003_multitask.yaml", "--format", "json")
    assert proc.returncode == 4, proc.stderr
    report = json.loads(proc.stdout)
    assert report["identical"] is False and report["seeded"] is False
    assert report["same_given_weights"] is True
    assert [c["same"] for c in report["checks"]] == [True, True, True, True]
    assert report["checks"][1]["detail"].startswith("not comparable without a seed")
    text = run("equiv", "specs/seed_003_multitask.yaml")
    assert text.returncode == 4
    assert "  2. initial weights  copied     not comparable without a seed" in text.stdout
    assert "verdict: the same model, apart from its initial weights" in text.stdout
    assert "DIFFERENT" not in text.stdout


def test_unseeded_dropout_is_not_proven_with_a_hint(tmp_path: Path):
    """A layer that draws random numbers in training, without a seed: not a bare
    DIFFERENT, but which layer and why."""
    spec = tmp_path / "drop.yaml"
    spec.write_text(
        "modelspec: 1\nname: drop\ninputs:\n  x: {shape: [8]}\nsequential:\n"
        "  - {type: Dense, units: 16}\n  - {type: Dropout, rate: 0.5}\n  - {type: Dense, units: 1}\n"
        "outputs:\n  y: {from: dense_1, loss: mse}\ncompile: {optimizer: adam}\n",
        encoding="utf-8",
    )
    proc = run("equiv", str(spec))
    if BACKEND == "torch":
        # An unseeded dropout draws from torch's global generator there, which equiv
        # seeds before each build trains: every build draws the same numbers.
        assert proc.returncode == 4, proc.stdout + proc.stderr
        assert "verdict: the same model, apart from its initial weights" in proc.stdout
    else:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert ("verdict: not proven from check 4 (after 3 steps) on: training draws random "
                "numbers that the spec does not seed") in proc.stdout  # fmt: skip
        assert "hint: 'dropout' (Dropout) may draw random numbers while training" in proc.stdout
    seeded = spec.read_text().replace("name: drop\n", "name: drop\nseed: 3\n")
    spec.write_text(seeded, encoding="utf-8")
    proc = run("equiv", str(spec))
    assert proc.returncode == 0 and "verdict: identical" in proc.stdout


def test_a_different_build_is_caught(monkeypatch):
    """Break one build on purpose: equiv must name the layer and the weight."""
    from modelspec.runtime import equiv

    loaded = modelspec.load(ROOT / "specs" / "seed_001_mlp.yaml")
    real = equiv._builders

    def tampered(spec):
        builders = real(spec)
        direct = builders["sequential (direct)"]

        def build():
            model = direct()
            layer = model.get_layer("dense_2")
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, bias + 1e-3])
            return model

        builders["sequential (direct)"] = build
        return builders

    monkeypatch.setattr(equiv, "_builders", tampered)
    report = equiv.compare(loaded, steps=1)
    assert not report.identical
    failed = report.checks[-1]
    assert failed.name == "initial weights"
    assert failed.detail == (
        "sequential (direct) vs functional (generated): layer 'dense_2', "
        "weight 'dense_2/bias': max |difference| 0.001"
    )


def test_a_model_keras_cannot_train_is_reported_not_raised(tmp_path: Path):
    """Dropout is the identity at inference; in training its mask of noise_shape
    (7, 3) does not fit a batch of 8, on every backend."""
    from modelspec.runtime.equiv import compare

    spec = tmp_path / "noisy.yaml"
    spec.write_text(
        "modelspec: 1\nname: noisy\nseed: 1\ninputs:\n  x: {shape: [3]}\nsequential:\n"
        "  - {type: Dropout, rate: 0.5, noise_shape: [7, 3]}\n  - {type: Dense, units: 1}\n",
        encoding="utf-8",
    )
    report = compare(modelspec.load(spec), steps=1)
    last = report.checks[-1]
    assert (last.name, last.ok, last.failed) == ("after 1 steps", False, True)
    assert "Keras cannot train it: " in last.detail
    assert "Exception encountered when calling Dropout.call()" in last.detail
    assert "verdict: not proven: check 4 (after 1 steps) could not run" in report.text()


SPARSE = """\
modelspec: 1
name: sparse
seed: 2
inputs:
  x: {shape: [4]}
layers:
  a: {type: Dense, units: 3, activation: softmax}
  b: {type: Dense, units: 1}
graph:
  p: {apply: a, to: x}
  q: {apply: b, to: x}
outputs:
  cls: {from: p, loss: sparse_categorical_crossentropy}
  val: {from: q, loss: mse}
compile:
  optimizer: adam
"""


def test_class_index_targets_for_a_sparse_loss(tmp_path: Path):
    from modelspec.runtime.equiv import compare

    spec = tmp_path / "sparse.yaml"
    spec.write_text(SPARSE, encoding="utf-8")
    report = compare(modelspec.load(spec), steps=1)
    assert report.identical, report.text()


def test_a_build_with_other_parameters_is_caught(monkeypatch, tmp_path: Path):
    from modelspec.runtime import equiv

    spec = tmp_path / "sparse.yaml"
    spec.write_text(SPARSE, encoding="utf-8")
    wider = tmp_path / "wider.yaml"
    wider.write_text(SPARSE.replace("units: 3", "units: 4"), encoding="utf-8")
    real = equiv._builders

    def tampered(loaded):
        builders = real(loaded)
        builders["functional (direct)"] = modelspec.load(wider).to_keras
        return builders

    monkeypatch.setattr(equiv, "_builders", tampered)
    report = equiv.compare(modelspec.load(spec), steps=1)
    (check,) = report.checks
    assert (check.name, check.ok) == ("parameters", False)
    assert check.detail == (
        "functional (direct) has 25 parameters (25 trainable), functional (generated) has 20 (20)"
    )


# A siamese pair whose tower is a nested model: `equiv` builds it inlined too.
NESTED_PAIR = (ROOT / "tests" / "specs" / "nested_pair.yaml").read_text().replace("seed: 5", "SEED")


def test_nested_models_against_their_inlined_form_through_the_cli(tmp_path: Path):
    (tmp_path / "pair.yaml").write_text(NESTED_PAIR.replace("SEED", "seed: 5"))
    proc = run("equiv", str(tmp_path / "pair.yaml"), "--steps", "2", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["builds"] == [
        "functional (generated)",
        "functional (direct)",
        "functional (inlined, generated)",
        "functional (inlined, direct)",
    ]
    assert report["identical"] is True
    # The nested tower's layers are compared with the inlined ones by flat name.
    initial = next(c for c in report["checks"] if c["name"] == "initial weights")
    assert initial["detail"] == "6 arrays in 3 layers"


def test_nested_and_inlined_without_a_seed(tmp_path: Path):
    (tmp_path / "pair.yaml").write_text(NESTED_PAIR.replace("SEED\n", ""))
    proc = run("equiv", str(tmp_path / "pair.yaml"), "--steps", "2")
    assert proc.returncode == 4, proc.stdout + proc.stderr  # weights copied by flat name
    assert "functional (inlined, direct)" in proc.stdout
    assert "same model, apart from its initial weights" in proc.stdout


def test_an_inlined_build_that_differs_is_caught(monkeypatch, tmp_path: Path):
    from modelspec.runtime import equiv

    (tmp_path / "pair.yaml").write_text(NESTED_PAIR.replace("SEED", "seed: 5"))
    spec = modelspec.load(tmp_path / "pair.yaml")
    (tmp_path / "other.yaml").write_text(NESTED_PAIR.replace("SEED", "seed: 6"))
    other = modelspec.load(tmp_path / "other.yaml")
    real = equiv.inlined

    def reseeded(spec):  # the inlined build of the spec drawn from another seed
        return real(other)

    monkeypatch.setattr(equiv, "inlined", reseeded)
    report = equiv.compare(spec, steps=1)
    assert not report.identical
    (failed,) = [c for c in report.checks if not c.ok]
    assert failed.name == "initial weights"
    assert failed.detail.startswith(
        "functional (inlined, generated) vs functional (generated): layer "
    )


def test_a_spec_that_starts_from_a_weights_file(tmp_path: Path):
    # The generated module finds the spec's weights from its own folder (__file__).
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "runs").mkdir()
    (tmp_path / "pair.yaml").write_text(NESTED_PAIR.replace("SEED", "seed: 5"))
    modelspec.build_model(tmp_path / "pair.yaml").save_weights(
        tmp_path / "runs" / "pair.weights.h5"
    )
    weights = "weights: runs/pair.weights.h5\n"
    (tmp_path / "tuned.yaml").write_text(NESTED_PAIR.replace("SEED", "seed: 6") + weights)
    proc = run("equiv", str(tmp_path / "tuned.yaml"), "--steps", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verdict: identical: all 4 builds are the same model" in proc.stdout


# === precision: dtype policies and weight dtypes are part of "the same model" ===========

MIXED = """\
modelspec: 1
name: mixed
seed: 42
dtype_policy: mixed_bfloat16
inputs:
  point: {shape: [2]}
sequential:
  - {type: Dense, units: 8, activation: relu}
  - {type: Dense, units: 1, name: logit}
  - {type: Activation, activation: sigmoid, dtype: float32, name: head}
outputs:
  inside: {loss: binary_crossentropy}
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
"""
QUANTIZED = """\
modelspec: 1
name: quantized
seed: 42
quantize: int8
inputs:
  ids: {shape: [4], dtype: int32}
sequential:
  - {type: Embedding, input_dim: 10, output_dim: 6}
  - {type: Flatten}
  - {type: Dense, units: 8, activation: relu}
  - {type: Dense, units: 1, quantize: null, name: head}
outputs:
  y: {loss: mse}
"""


def test_a_mixed_precision_spec_is_identical_in_all_four_builds(tmp_path: Path):
    from modelspec.runtime.equiv import compare

    spec = tmp_path / "mixed.yaml"
    spec.write_text(MIXED, encoding="utf-8")
    report = compare(modelspec.load(spec), steps=2)
    assert report.identical, report.text()
    assert report.checks[0].detail == (
        "33 in every build, dtype policies alike: mixed_bfloat16 (2 layers), float32 (1)"
    )


def test_a_quantized_spec_is_identical_in_all_four_builds(tmp_path: Path):
    from modelspec.runtime.equiv import compare, dtype_policies

    spec = tmp_path / "quantized.yaml"
    spec.write_text(QUANTIZED, encoding="utf-8")
    loaded = modelspec.load(spec)
    report = compare(loaded, steps=2)
    assert report.identical, report.text()
    # Embedding and the first Dense hold int8 weights and their scales; Flatten and the
    # head are float32.
    assert report.checks[0].detail == (
        "287 in every build, dtype policies alike: float32 (2 layers), int8_from_float32 (2)"
    )
    policies = dtype_policies(loaded.to_keras())
    assert policies["head"] == {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }
    assert policies["dense"]["class_name"] == "QuantizedDTypePolicy"
    assert policies["dense"]["config"] == {"mode": "int8", "source_name": "float32"}


def test_a_build_under_another_dtype_policy_is_caught(monkeypatch, tmp_path: Path):
    """A build whose head computes in bfloat16, not float32: the same weights, but not
    the same model."""
    from modelspec.runtime import equiv

    spec = tmp_path / "mixed.yaml"
    spec.write_text(MIXED, encoding="utf-8")
    real = equiv._builders

    def tampered(loaded):
        builders = real(loaded)
        direct = builders["functional (direct)"]

        def build():
            model = direct()
            model.get_layer("head").dtype_policy = "mixed_bfloat16"
            return model

        builders["functional (direct)"] = build
        return builders

    monkeypatch.setattr(equiv, "_builders", tampered)
    report = equiv.compare(modelspec.load(spec), steps=1)
    assert not report.identical and report.exit_code == 1
    (check,) = report.checks
    assert (check.name, check.ok) == ("parameters", False)
    assert check.detail == (
        "functional (direct) vs functional (generated): layer 'head' has dtype policy "
        "mixed_bfloat16, functional (generated)'s has float32"
    )


def test_weights_of_another_dtype_are_caught():
    """Equal values are not enough: a bfloat16 weight is not a float32 one."""
    import keras

    from modelspec.runtime.equiv import _compare_weights

    def model(dtype: str):
        inputs = keras.Input((2,))
        layer = keras.layers.Dense(1, dtype=dtype, name="d", kernel_initializer="ones")
        return keras.Model(inputs, layer(inputs))

    ok, detail = _compare_weights("a", "b", model("float32"), model("bfloat16"))
    assert not ok
    assert detail == "b vs a: layer 'd', weight 'd/kernel': dtypes float32 and bfloat16"


def test_cli_equiv_on_a_mixed_precision_spec(tmp_path: Path):
    spec = tmp_path / "mixed.yaml"
    spec.write_text(MIXED, encoding="utf-8")
    proc = run("equiv", str(spec), "--steps", "1", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["identical"] and len(report["builds"]) == 4
    assert report["checks"][0]["detail"].endswith(
        "dtype policies alike: mixed_bfloat16 (2 layers), float32 (1)"
    )
