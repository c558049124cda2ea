"""``modelspec diff``: architecture changes between two specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelspec.check import check, check_text
from modelspec.emit.diff import diff
from tests.test_cli import BAD, SPECS, TOWER, run

SPEC_FILES = sorted(p for p in SPECS.glob("*.*") if p.suffix in (".yaml", ".json"))

# The shared tower with wider Dense layers, another dropout rate, one more layer on
# the second path, and other loss weights.
TOWER_B = (
    TOWER.read_text()
    .replace("units: 200, activation: relu}", "units: 256, activation: relu}")
    .replace(
        "  do2:    {type: Dropout, rate: 0.5}\n",
        "  do2:    {type: Dropout, rate: 0.3}\n  extra:  {type: Dense, units: 256, activation: relu}\n",
    )
    .replace("do2, densef], to: labeled_2", "do2, extra, densef], to: labeled_2")
    .replace("loss_weight: 0.5}", "loss_weight: 0.7}")
)

TOWER_DIFF = """\
layers:
  + extra   Dense  (None, 256)  65,792 params
  ~ dense1  Dense
      units: 200 -> 256
      output shape: (None, 200) -> (None, 256)
      params: 100,200 -> 128,256 (+28,056)
  ~ do1     Dropout
      output shape: (None, 200) -> (None, 256)
  ~ dense2  Dense
      units: 200 -> 256
      output shape: (None, 200) -> (None, 256)
      params: 40,200 -> 65,792 (+25,592)
  ~ do2     Dropout
      rate: 0.5 -> 0.3
      output shape: (None, 200) -> (None, 256)
  ~ densef  Dense
      inputs: do2 | do2 -> do2 | extra
      params: 1,005 -> 1,285 (+280)
outputs:
  ~ lab_1  loss_weight: 0.5 -> 0.7
  ~ lab_2  loss_weight: 0.5 -> 0.7
objective: the training objective changed
  - loss = 0.5·categorical_crossentropy(lab_1) + 0.5·categorical_crossentropy(lab_2)
  + loss = 0.7·categorical_crossentropy(lab_1) + 0.7·categorical_crossentropy(lab_2)
total params: 50,141,405 -> 50,261,125 (+119,720)
the models differ
"""


@pytest.fixture
def tower_b(tmp_path: Path) -> Path:
    path = tmp_path / "tower_b.yaml"
    path.write_text(TOWER_B)
    return path


def test_cli_reports_layers_wiring_shapes_params_and_outputs(tower_b: Path):
    proc = run("diff", str(TOWER), str(tower_b))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == (
        f"--- {TOWER} (shared_tower)\n+++ {tower_b} (shared_tower)\n" + TOWER_DIFF
    )


def test_cli_json(tower_b: Path):
    proc = run("diff", str(TOWER), str(tower_b), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["identical"] is False
    assert data["layers"]["added"] == [
        {"name": "extra", "type": "Dense", "params": 65792, "output_shapes": [[None, 256]]}
    ]
    assert data["layers"]["removed"] == []
    changed = {c["name"]: c["changes"] for c in data["layers"]["changed"]}
    assert changed["dense1"]["units"] == {"a": 200, "b": 256}
    assert changed["dense1"]["params"] == {"a": 100200, "b": 128256}
    assert changed["dense1"]["output shape"] == {
        "a": [[None, 200], [None, 200]],
        "b": [[None, 256], [None, 256]],
    }
    assert changed["densef"]["inputs"] == {"a": "do2 | do2", "b": "do2 | extra"}
    assert data["total_params"] == {"a": 50141405, "b": 50261125}
    assert [o["name"] for o in data["outputs"]] == ["lab_1", "lab_2"]


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda p: p.name)
def test_a_spec_is_identical_to_itself(spec: Path):
    d = diff(check(spec), check(spec))
    assert d.identical, d.text()
    assert d.text().endswith("identical\n")


def test_cli_identical_exit_0_and_yaml_json_twins_are_the_same_model():
    proc = run(
        "diff", str(SPECS / "seed_003_multitask.yaml"), str(SPECS / "seed_003_multitask.json")
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.endswith("total params: 4,762 (unchanged)\nidentical\n")


def test_writing_a_default_out_or_renaming_steps_changes_nothing():
    a = TOWER.read_text()
    b = (
        a.replace("{type: Dropout, rate: 0.5}", "{type: Dropout, rate: 0.5, noise_shape: null}")
        .replace("units: 5, activation: softmax}", "units: 5, activation: softmax, use_bias: true}")
        .replace("t1:", "first:")
        .replace("from: t1", "from: first")
        .replace("# Seed 000", "# A comment\n# Seed 000")
    )
    assert a != b
    d = diff(check_text(a, "a.yaml"), check_text(b, "b.yaml"))
    assert d.identical, d.text()


def test_swapping_sides_swaps_added_and_removed(tower_b: Path):
    forward = diff(check(TOWER), check(tower_b))
    backward = diff(check(tower_b), check(TOWER))
    assert (forward.added, forward.removed) == (backward.removed, backward.added) == (["extra"], [])
    assert [c.name for c in forward.changed] == [c.name for c in backward.changed]
    for f, b in zip(forward.changed, backward.changed, strict=True):
        assert {k: (y, x) for k, (x, y) in f.changes.items()} == b.changes


def test_rewiring_and_inputs():
    a = """\
modelspec: 1
name: m
inputs:
  x: {shape: [8]}
  y: {shape: [8]}
layers:
  fa: {type: Dense, units: 4}
  fb: {type: Dense, units: 4}
  cat: {type: Concatenate}
graph:
  a: {apply: fa, to: x}
  b: {apply: fb, to: y}
  c: {apply: cat, to: [a, b]}
outputs:
  out: {from: c}
"""
    b = a.replace("to: [a, b]", "to: [b, a]").replace("y: {shape: [8]}", "y: {shape: [6]}")
    d = diff(check_text(a, "a.yaml"), check_text(b, "b.yaml"))
    text = d.text()
    assert "  ~ y  shape: (None, 8) -> (None, 6)\n" in text
    assert "      inputs: [fa, fb] -> [fb, fa]\n" in text
    assert "params: 36 -> 28 (-8)" in text  # fb: 8*4+4 -> 6*4+4


def test_spec_with_errors_exits_2(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    proc = run("diff", str(TOWER), str(bad))
    assert proc.returncode == 2
    assert "error MS102" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""
    proc = run("diff", str(TOWER), str(tmp_path / "missing.yaml"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.keras
def test_a_spec_against_a_saved_keras_model(tmp_path: Path):
    pytest.importorskip("keras")
    import modelspec

    spec = SPECS / "seed_004_branches.yaml"
    model = modelspec.load(spec).to_keras()
    saved = tmp_path / "branches.keras"
    model.save(saved)
    (tmp_path / "branches.json").write_text(model.to_json())
    # The saved model is the same model; only the seed is not in a Keras file.
    proc = run("diff", str(spec), str(saved))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.endswith(
        "seed: 4 -> null\ntotal params: 1,327,617 (unchanged)\nthe models differ\n"
    )
    changed = tmp_path / "wider.yaml"
    changed.write_text(
        spec.read_text().replace("seed: 4\n", "").replace("units: 64", "units: 65", 1)
    )
    proc = run("diff", str(tmp_path / "branches.json"), str(changed))
    assert proc.returncode == 1, proc.stderr
    assert "  ~ left_1" in proc.stdout and "      units: 64 -> 65\n" in proc.stdout


def test_a_keras_config_that_cannot_be_imported_exits_2(tmp_path: Path):
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "s", "layers": [{"module": "keras.layers", "class_name": "Lambda",
                                             "config": {"name": "l", "function": "x"}}]},
    }  # fmt: skip
    path = tmp_path / "model.json"
    path.write_text(json.dumps(config))
    proc = run("diff", str(TOWER), str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "MS611" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


ONE_HEAD = """\
modelspec: 1
name: multitask
inputs:
  series: {shape: [10, 2]}
layers:
  lstm:   {type: LSTM, units: 32}
  shared: {type: Dense, units: 8}
  heads:  {type: Dense, units: 2}
graph:
  features: {apply: [lstm, shared], to: series}
  out:      {apply: heads, to: features}
outputs:
  both: {from: out, loss: mse}
compile:
  optimizer: adam
"""


def test_one_dense_2_against_two_dense_1_says_the_objective_changed(tmp_path: Path):
    """Seed 003: the same parameters, but one head averages its loss over 2 units and
    two heads sum theirs."""
    one = tmp_path / "one_head.yaml"
    one.write_text(ONE_HEAD)
    proc = run("diff", str(one), str(SPECS / "seed_003_multitask.yaml"))
    assert proc.returncode == 1, proc.stderr
    assert (
        "objective: the training objective changed\n"
        "  - loss = mse(both) (mean over 2 units)\n"
        "  + loss = mse(task_1) + mse(task_2)\n"
        "total params: 4,762 (unchanged)\n"
    ) in proc.stdout
    data = json.loads(
        run("diff", str(one), str(SPECS / "seed_003_multitask.yaml"), "-f", "json").stdout
    )
    assert data["objective"] == {"a": "loss = mse(both) (mean over 2 units)",
                                 "b": "loss = mse(task_1) + mse(task_2)"}  # fmt: skip
    same = run(
        "diff", str(SPECS / "seed_003_multitask.yaml"), str(SPECS / "seed_003_multitask.json")
    )
    assert same.returncode == 0 and "objective" not in same.stdout


@pytest.mark.keras
def test_the_summed_objective_is_twice_the_averaged_one(tmp_path: Path):
    """What the objective lines claim, measured: with the same weights, two Dense(1)
    heads under `mse` give exactly twice the loss of one Dense(2) head."""
    import numpy as np

    import modelspec

    one = tmp_path / "one_head.yaml"
    one.write_text(ONE_HEAD)
    averaged = modelspec.load(one).to_keras()
    summed = modelspec.load(SPECS / "seed_003_multitask.yaml").to_keras()
    for name in ("lstm", "shared"):
        summed.get_layer(name).set_weights(averaged.get_layer(name).get_weights())
    kernel, bias = averaged.get_layer("heads").get_weights()
    summed.get_layer("head_1").set_weights([kernel[:, :1], bias[:1]])
    summed.get_layer("head_2").set_weights([kernel[:, 1:], bias[1:]])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 10, 2)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    a = averaged.evaluate(x, y, verbose=0)
    b = summed.evaluate(x, {"task_1": y[:, :1], "task_2": y[:, 1:]}, verbose=0, return_dict=True)
    assert b["loss"] == pytest.approx(2.0 * a, rel=1e-5)


PRECISE = """\
modelspec: 1
name: precise
dtype_policy: mixed_bfloat16
inputs:
  x: {shape: [8]}
layers:
  fc: {type: Dense, units: 16}
  head: {type: Dense, units: 3, activation: softmax, dtype: float32}
sequential: [fc, head]
outputs:
  y: {from: head}
"""


def test_precision_changes_are_model_changes():
    a = check_text(PRECISE, "a.yaml")
    same = PRECISE.replace("units: 16}", "units: 16, dtype: mixed_bfloat16}")
    assert diff(a, check_text(same, "b.yaml")).identical  # the model's policy written out
    b = (
        PRECISE.replace("mixed_bfloat16", "float32")
        .replace(", dtype: float32}", ", quantize: null}")
        .replace("sequential:", "quantize: int8\nsequential:")
    )
    d = diff(a, check_text(b, "b.yaml"))
    assert not d.identical
    assert d.settings == {"dtype_policy": ("mixed_bfloat16", "float32"), "quantize": (None, "int8")}
    changed = {c.name: c.changes for c in d.changed}
    assert changed["head"] == {"dtype": ("float32", "(not set)")}
    assert changed["fc"] == {"params": (144, 160)}  # an int8 kernel, and its scale
    own = b.replace("quantize: null}", "quantize: float8}")
    (head,) = diff(check_text(b, "b.yaml"), check_text(own, "c.yaml")).changed
    # float8 keeps the kernel and adds its scales and histories: 3,075 values.
    assert head.changes == {"quantize": ("(not set)", "float8"), "params": (51, 3126)}
    assert "dtype_policy: mixed_bfloat16 -> float32" in d.text()
