"""Keras 2 HDF5 weights into the Keras 3 model of an imported spec.

The fixtures in ``tests/fixtures/keras2/`` were written by Keras 2 itself (tf-keras,
``make_fixtures.py``): ``NAME.weights.h5`` (``save_weights``), ``NAME.h5`` (the whole
model) and ``NAME.expected.npz``, Keras 2's outputs on fixed inputs. The spec
imported from ``NAME.json``, given either file as its weights, must give those outputs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import modelspec
from modelspec.importer import import_file
from modelspec.runtime.weights import WeightsError

pytestmark = pytest.mark.keras
pytest.importorskip("keras")
h5py = pytest.importorskip("h5py")

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keras2"
NAMES = ["mlp", "shared", "lstm", "bigru", "nested", "mobilenet", "cudnn", "nested_bn"]
# Keras 3's LSTM holds one bias where Keras 2's CuDNNLSTM held two: 4 * units fewer.
FEWER = {"cudnn": 4 * 6}
# Keras 2 and Keras 3 compute the same float32 functions; they may round apart.
TOLERANCE = 1e-5


def expected(name: str) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    with np.load(FIXTURES / f"{name}.expected.npz") as data:
        xs = [data[k] for k in sorted(data.files) if k == "x" or k[1:].isdigit() and k[0] == "x"]
        ys = [data[k] for k in sorted(data.files) if k == "y" or k[1:].isdigit() and k[0] == "y"]
        return xs, ys, int(data["params"]) - FEWER.get(name, 0)


def outputs(model, xs: list[np.ndarray]) -> list[np.ndarray]:
    feed = {t.name: x for t, x in zip(model.inputs, xs, strict=True)} if len(xs) > 1 else xs[0]
    out = model(feed, training=False)
    if isinstance(out, dict):
        out = [out[name] for name in model.output_names]
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def project(tmp_path: Path, name: str, weights: str | None, extra: str = "") -> Path:
    """The spec imported from ``NAME.json``, in a project with the Keras 2 file."""
    (tmp_path / "pyproject.toml").write_text("")
    text = import_file(FIXTURES / f"{name}.json").text
    if weights is not None:
        shutil.copy(FIXTURES / weights, tmp_path / weights)
        text += f"weights:\n  file: {weights}\n{extra}"
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(text)
    return spec


@pytest.mark.parametrize("kind", ["weights.h5", "h5"])
@pytest.mark.parametrize("name", NAMES)
def test_keras2_weights_give_keras2_outputs(name, kind, tmp_path: Path):
    """The spec's ``weights:`` names the Keras 2 file: the built model has Keras 2's
    parameter count and, on the fixed inputs, Keras 2's outputs."""
    xs, ys, params = expected(name)
    spec = project(tmp_path, name, f"{name}.{kind}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every layer with weights found them
        model = modelspec.build_model(spec, compile=False)
    assert model.count_params() == params
    for got, want in zip(outputs(model, xs), ys, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=TOLERANCE)


def test_the_weights_are_the_files_not_fresh_ones(tmp_path: Path):
    """Without the file, the same spec gives other outputs: the test above tests the loading."""
    xs, ys, _ = expected("bigru")
    model = modelspec.build_model(project(tmp_path, "bigru", None), compile=False)
    assert np.abs(outputs(model, xs)[0] - ys[0]).max() > 1e-2


def test_build_model_weights_argument_takes_a_keras2_file(tmp_path: Path):
    xs, ys, _ = expected("nested")
    spec = project(tmp_path, "nested", None)
    report = modelspec.load(spec)
    model = report.to_keras(weights=FIXTURES / "nested.h5", compile=False)
    np.testing.assert_allclose(outputs(model, xs)[0], ys[0], rtol=0, atol=TOLERANCE)


def test_keras2_weights_by_a_map(tmp_path: Path):
    """A layer renamed in the spec takes the Keras 2 layer's weights through the map."""
    xs, ys, _ = expected("mlp")
    spec = project(tmp_path, "mlp", "mlp.weights.h5", "  map: {logits: out}\n")
    spec.write_text(spec.read_text().replace("name: out", "name: logits"))
    model = modelspec.build_model(spec, compile=False)
    np.testing.assert_allclose(outputs(model, xs)[0], ys[0], rtol=0, atol=TOLERANCE)


def test_keras2_weights_that_do_not_fit_name_keras2_weights(tmp_path: Path):
    spec = project(tmp_path, "mlp", "mlp.weights.h5")
    spec.write_text(spec.read_text().replace("units: 8", "units: 9"))
    with pytest.raises(WeightsError) as info:
        modelspec.build_model(spec, compile=False)
    messages = [d.message for d in info.value.diagnostics]
    assert messages == [
        "layer 'fc2' does not fit the weights in the file: weight 0 (kernel, 'fc2/kernel:0' in "
        "the file) is (16, 9) in the model, (16, 8) in the file; weight 1 (bias, 'fc2/bias:0' "
        "in the file) is (9,) in the model, (8,) in the file",
        "layer 'out' does not fit the weights in the file: weight 0 (kernel, 'out/kernel:0' in "
        "the file) is (9, 3) in the model, (8, 3) in the file",
    ]
    assert {(d.code, d.file, d.line) for d in info.value.diagnostics} == {
        ("MS525", str(spec), spec.read_text().splitlines().index("weights:") + 1)
    }


def _rewrite(path: Path, edit) -> Path:
    with h5py.File(path, "a") as f:
        edit(f)
    return path


def test_nested_model_weights_that_name_none_of_its_layers(tmp_path: Path):
    spec = project(tmp_path, "nested", "nested.weights.h5")

    def rename(f):
        f.move("block/inner2", "block/other")
        f["block"].attrs["weight_names"] = np.array(
            [b"inner1/kernel:0", b"inner1/bias:0", b"other/kernel:0", b"other/bias:0"]
        )

    _rewrite(tmp_path / "nested.weights.h5", rename)
    with pytest.raises(WeightsError) as info:
        modelspec.build_model(spec, compile=False)
    (d,) = info.value.diagnostics
    assert d.code == "MS524"
    assert d.message == (
        "cannot read weights file 'nested.weights.h5': the weights 'other/kernel:0', "
        "'other/bias:0' of nested model 'block' name none of its layers"
    )


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda f: f.attrs.__setitem__("layer_names", np.array([b"fc1", b"gone"])),
            "layer 'gone' is in layer_names of '/', but the file has no group of that name",
        ),
        (
            lambda f: f["fc1"].attrs.__setitem__(
                "weight_names", np.array([b"fc1/kernel:0", b"x:0"])
            ),
            "layer 'fc1' lists the weight 'x:0', which is not a dataset of its group '/fc1'",
        ),
        (
            lambda f: f["fc1"].attrs.__setitem__("weight_names", np.array([1.5, 2.5])),
            "attribute 'weight_names' of '/fc1' holds values of type 'float64', not names",
        ),
    ],
    ids=["missing-layer-group", "missing-dataset", "names-not-strings"],
)
def test_keras2_layout_problems_are_reported_before_anything_is_loaded(edit, message, tmp_path):
    spec = project(tmp_path, "mlp", "mlp.weights.h5")
    _rewrite(tmp_path / "mlp.weights.h5", edit)
    with pytest.raises(WeightsError) as info:
        modelspec.build_model(spec, compile=False)
    (d,) = info.value.diagnostics
    assert d.code == "MS524"
    assert message in d.message
    assert d.file == str(tmp_path / "mlp.weights.h5")


def test_keras2_layer_names_split_into_chunks_are_read(tmp_path: Path):
    """Keras 2 splits an attribute longer than 64 KiB into ``layer_names0``, ``1``, ..."""
    xs, ys, _ = expected("mlp")
    spec = project(tmp_path, "mlp", "mlp.weights.h5")

    def split(f):
        names = f.attrs["layer_names"]
        del f.attrs["layer_names"]
        f.attrs["layer_names0"] = names[:2]
        f.attrs["layer_names1"] = names[2:]

    _rewrite(tmp_path / "mlp.weights.h5", split)
    model = modelspec.build_model(spec, compile=False)
    np.testing.assert_allclose(outputs(model, xs)[0], ys[0], rtol=0, atol=TOLERANCE)


def test_train_starts_from_keras2_weights(tmp_path: Path):
    """``modelspec train`` of the imported spec with the Keras 2 file as its weights."""
    xs, ys, _ = expected("lstm")
    spec = project(tmp_path, "lstm", "lstm.h5")
    spec.write_text(import_file(FIXTURES / "lstm.h5").text + "weights: lstm.h5\n")
    np.savez(tmp_path / "data.npz", tokens=xs[0], out=np.array([0, 1]))
    proc = subprocess.run(
        [sys.executable, "-m", "modelspec", "train", spec.name, "--data", "data.npz",
         "--epochs", "1", "--out", "lstm.keras"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MS527" not in proc.stderr  # every layer found its weights
    assert (tmp_path / "lstm.keras").is_file()


# TensorFlow blocked, as if it were not installed: `import tensorflow` fails, and
# importlib finds no tensorflow (a None entry in sys.modules).
NO_TENSORFLOW = """
import sys, json
sys.modules["tensorflow"] = None
import numpy as np
import keras
import modelspec
from modelspec.importer import import_file
from pathlib import Path

fixtures, folder = Path(sys.argv[1]), Path(sys.argv[2])
worst = 0.0
for name in {names!r}:
    spec = folder / f"{{name}}.yaml"
    spec.write_text(import_file(fixtures / f"{{name}}.h5").text)
    model = modelspec.build_model(spec, weights=fixtures / f"{{name}}.h5", compile=False)
    data = np.load(fixtures / f"{{name}}.expected.npz")
    xs = [data[k] for k in sorted(data.files) if k[0] == "x"]
    ys = [data[k] for k in sorted(data.files) if k[0] == "y"]
    out = model({{t.name: x for t, x in zip(model.inputs, xs)}} if len(xs) > 1 else xs[0], training=False)
    out = [out[n] for n in model.output_names] if isinstance(out, dict) else out
    out = out if isinstance(out, (list, tuple)) else [out]
    out = [keras.ops.convert_to_numpy(o) for o in out]
    worst = max([worst] + [float(np.abs(o - y).max()) for o, y in zip(out, ys)])
loaded = [m for m, v in sys.modules.items() if m.split(".")[0] == "tensorflow" and v is not None]
print(json.dumps({{"worst": worst, "tensorflow": loaded}}))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_keras2_model_moves_to_a_backend_without_tensorflow(backend, tmp_path: Path):
    """Import the Keras 2 ``.h5`` and load its weights on JAX or PyTorch: Keras 2's
    outputs, and TensorFlow never imported."""
    pytest.importorskip(backend)
    proc = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW.format(names=NAMES), str(FIXTURES), str(tmp_path)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "KERAS_BACKEND": backend},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.splitlines()[-1])
    assert found == {"worst": pytest.approx(0.0, abs=TOLERANCE), "tensorflow": []}


@pytest.mark.parametrize("name", ["mobilenet", "lstm"])
def test_every_weight_is_the_files(name, tmp_path: Path):
    """Each variable holds the file's array, in Keras 2's order: MobileNet's outputs
    from untrained weights are near uniform, so its weights are compared one by one."""
    model = modelspec.build_model(project(tmp_path, name, f"{name}.h5"), compile=False)
    layers = {layer.name: layer for layer in model.layers}
    compared = 0
    with h5py.File(FIXTURES / f"{name}.h5", "r") as f:
        group = f["model_weights"]
        for layer in group.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            names = list(group[layer].attrs["weight_names"])
            if not names:
                continue  # an input, a pooling: no weights
            for variable, weight in zip(layers[layer].weights, names, strict=True):
                weight = weight.decode() if isinstance(weight, bytes) else weight
                np.testing.assert_array_equal(np.asarray(variable), group[layer][weight][()])
                compared += 1
    assert compared == len(model.weights)
