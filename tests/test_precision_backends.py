"""Mixed precision and quantization through ``modelspec train`` on every Keras backend.

For each backend whose package is installed, three specs train for one epoch through
the real command line, each in a new process (as ``tests/test_backends.py`` runs the
other commands):

- ``mixed``: ``dtype_policy: mixed_bfloat16`` with a ``dtype: float32`` head;
- ``half``: ``mixed_float16``, whose optimizer the plan wraps in Keras's
  ``LossScaleOptimizer``, with a ``fit`` callback (and on TensorFlow under the
  ``mirrored`` strategy): the wrapper must reach the saved file;
- ``int8``: ``quantize: int8`` but for the head, starting from ``mixed``'s trained
  weights: the weights are loaded before quantization, as the generated module does.

Keras then loads each ``.keras`` file (``keras.saving.load_model``) on the same backend,
and its layers have the dtype policies ``build_model()`` gives them. ``equiv --across``
then finds the mixed spec the same model on every backend.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_backends import EACH, on, run

MIXED = """\
modelspec: 1
name: mixed
seed: 42
dtype_policy: mixed_bfloat16
inputs:
  point: {shape: [2]}
sequential:
  - {type: Dense, units: 16, activation: relu}
  - {type: Dense, units: 1, name: logit}
  - {type: Activation, activation: sigmoid, dtype: float32, name: head}
outputs:
  inside: {loss: binary_crossentropy, metrics: [accuracy]}
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
"""
HALF = (
    MIXED.replace("name: mixed", "name: half")
    .replace("mixed_bfloat16", "mixed_float16")
    .replace("learning_rate: 0.01}\n", "learning_rate: 0.01}\nfit:\n  callbacks:\n"
             "    - {type: EarlyStopping, monitor: loss, patience: 1}\n")
)  # fmt: skip
INT8 = """\
modelspec: 1
name: int8
seed: 42
quantize: int8
weights: mixed.keras
inputs:
  point: {shape: [2]}
sequential:
  - {type: Dense, units: 16, activation: relu}
  - {type: Dense, units: 1, activation: sigmoid, quantize: null, name: logit}
outputs:
  inside: {loss: binary_crossentropy, metrics: [accuracy]}
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
"""
SPECS = {"mixed": MIXED, "half": HALF, "int8": INT8}

# What each saved file holds: per layer, the dtype policy's name and each weight's dtype.
CHECK = """
import json, sys
import keras, numpy as np
import modelspec

def described(model):
    out = {}
    for layer in model.layers:
        out[layer.name] = [layer.dtype_policy.name,
                           {w.name: str(w.dtype) for w in layer.weights}]
    return out

def dtype_configs(model):
    return {layer.name: layer.get_config().get("dtype") for layer in model.layers}

found = {}
for name in sys.argv[1:]:
    saved = keras.saving.load_model(f"{name}.keras")
    built = modelspec.build_model(f"{name}.yaml")
    optimizer = saved.optimizer
    inner = getattr(optimizer, "inner_optimizer", None)
    found[name] = {
        "layers": described(saved),
        "as_built": dtype_configs(saved) == dtype_configs(built),
        "optimizer": [type(optimizer).__name__, inner and type(inner).__name__],
    }
# int8 started from mixed's trained weights: its int8 kernel (not trainable) is theirs,
# quantized; build_model() loads them and quantizes in the same order.
kernel = lambda m: keras.ops.convert_to_numpy(m.get_layer("dense").kernel)
found["int8"]["kernel_from_file"] = bool(np.array_equal(
    kernel(keras.saving.load_model("int8.keras")), kernel(modelspec.build_model("int8.yaml"))))
found["int8"]["kernel_not_fresh"] = not np.array_equal(
    kernel(keras.saving.load_model("int8.keras")),
    kernel(modelspec.build_model("int8.yaml", weights=False)))
print(json.dumps(found))
"""


@pytest.fixture(scope="module", params=EACH)
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """``(backend, {spec: train's process}, what CHECK found)`` on one backend."""
    import numpy as np

    backend = request.param
    folder = tmp_path_factory.mktemp(f"precision-{backend}")
    rng = np.random.default_rng(0)
    point = rng.uniform(-1.5, 1.5, (32, 2)).astype("float32")
    inside = (np.sum(point * point, axis=1, keepdims=True) < 1).astype("float32")
    np.savez(folder / "d.npz", point=point, inside=inside)
    procs = {}
    for name, text in SPECS.items():  # in order: int8 starts from mixed's weights
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
        strategy = ["--strategy", "mirrored"] if name == "half" and backend == "tensorflow" else []
        procs[name] = run("train", f"{name}.yaml", "--data", "d.npz", "--epochs", "1",
                          "--batch-size", "16", "--backend", backend, "-o", f"{name}.keras",
                          *strategy, cwd=folder)  # fmt: skip
        assert procs[name].returncode == 0, procs[name].stderr
    proc = run(*SPECS, cwd=folder, backend=backend, script=CHECK)
    assert proc.returncode == 0, proc.stderr
    return backend, procs, json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.keras
@pytest.mark.slow
def test_mixed_bfloat16_with_a_float32_head_trains_and_reloads(trained):
    backend, procs, found = trained
    assert procs["mixed"].stderr.splitlines()[-1] == "saved mixed.keras"
    assert [line.split(": ")[0] for line in procs["mixed"].stdout.splitlines()[-2:]] == [
        "accuracy", "loss"]  # fmt: skip
    mixed = found["mixed"]
    assert mixed["layers"] == {
        # Variables stay float32; the layers compute in bfloat16, the head in float32.
        "dense": ["mixed_bfloat16", {"kernel": "float32", "bias": "float32"}],
        "logit": ["mixed_bfloat16", {"kernel": "float32", "bias": "float32"}],
        "head": ["float32", {}],
    }
    assert mixed["as_built"] is True
    assert mixed["optimizer"] == ["Adam", None]


@pytest.mark.keras
@pytest.mark.slow
def test_mixed_float16_keeps_its_loss_scale_optimizer(trained):
    backend, procs, found = trained
    if backend == "tensorflow":
        assert "training with MirroredStrategy: 1 replica in sync" in procs["half"].stderr
    half = found["half"]
    assert half["layers"]["dense"][0] == half["layers"]["logit"][0] == "mixed_float16"
    assert half["layers"]["head"][0] == "float32"
    assert half["as_built"] is True
    assert half["optimizer"] == ["LossScaleOptimizer", "Adam"]


@pytest.mark.keras
@pytest.mark.slow
def test_int8_quantizes_the_loaded_weights_and_reloads(trained):
    backend, procs, found = trained
    int8 = found["int8"]
    assert int8["layers"] == {
        "dense": ["int8_from_float32",
                  {"bias": "float32", "kernel": "int8", "kernel_scale": "float32"}],
        "logit": ["float32", {"kernel": "float32", "bias": "float32"}],  # quantize: null
    }  # fmt: skip
    assert int8["as_built"] is True
    assert int8["kernel_from_file"] is True and int8["kernel_not_fresh"] is True


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize("names", [on("tensorflow", "jax", "torch")])
def test_equiv_across_backends_on_a_mixed_precision_spec(names: list[str], tmp_path: Path):
    (tmp_path / "mixed.yaml").write_text(MIXED, encoding="utf-8")
    proc = run("equiv", "mixed.yaml", "--across", ",".join(names), "-f", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    # bfloat16 layers, a float32 head: the backends agree within the float32 defaults
    # here; a deeper model in bfloat16 needs a wider --rtol (docs/precision.md).
    assert report["same_within_tolerance"] is True
    assert [(c["name"], c["same"]) for c in report["checks"]] == [
        ("parameters", True), ("initial weights", True), ("outputs", True)]  # fmt: skip
    assert report["parameters"] == {b: {"total": 65, "trainable": 65} for b in names}
