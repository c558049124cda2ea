"""``modelspec import`` of Keras 2 / tf.keras configs (:mod:`modelspec.importer.keras2`).

The fixtures in ``tests/fixtures/keras2/`` were written by Keras 2 itself (tf-keras
2.21, ``make_fixtures.py``); each ``NAME.expected.npz`` holds Keras 2's parameter
count. Keras 2 is not needed here: the configs are read as data.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelspec.check import check_text
from modelspec.emit.summary import summary_json
from modelspec.importer import check_imported, import_config, import_file

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keras2"
NAMES = ["mlp", "shared", "lstm", "bigru", "nested", "mobilenet", "cudnn", "nested_bn"]
# Keras 3's LSTM holds one bias where Keras 2's CuDNNLSTM held two: 4 * units fewer.
FEWER = {"cudnn": 4 * 6}


def run_modelspec(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command."""
    return subprocess.run(
        [sys.executable, "-m", "modelspec", *args], capture_output=True, text=True, timeout=120
    )


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def keras2_params(name: str) -> int:
    with np.load(FIXTURES / f"{name}.expected.npz") as data:
        assert str(data["keras_version"]).startswith("2.")
        return int(data["params"]) - FEWER.get(name, 0)


def spec_params(text: str) -> int:
    result = check_text(text, "imported.yaml")
    assert not result.errors, result.errors
    return summary_json(result)["total_params"]


def strip_modules(value: Any) -> Any:
    """``value`` as Keras before 2.13 wrote it: no ``module`` or ``registered_name``."""
    if isinstance(value, dict):
        return {
            k: strip_modules(v) for k, v in value.items() if k not in ("module", "registered_name")
        }
    if isinstance(value, list):
        return [strip_modules(v) for v in value]
    return value


@pytest.mark.parametrize("name", NAMES)
def test_keras2_fixture_imports_lints_clean_and_counts_keras2_params(name):
    result = import_file(FIXTURES / f"{name}.json")
    assert result.ok, result.diagnostics
    assert [d.code for d in result.diagnostics] == (["MS625"] * 2 if name == "cudnn" else [])
    assert check_imported(result, "imported.yaml") == []
    assert spec_params(result.text) == keras2_params(name)


@pytest.mark.parametrize("name", NAMES)
def test_keras2_without_modules_or_version_reads_the_same(name):
    """Keras before 2.13 wrote no ``module``; before 2.4 sometimes no ``keras_version``."""
    old = strip_modules(load(name))
    old.pop("keras_version")
    if old["class_name"] == "Functional":
        old["class_name"] = "Model"
    assert import_config(old).doc == import_file(FIXTURES / f"{name}.json").doc


def test_keras2_sequential_without_input_layer_gets_keras2_input_name():
    config = load("mlp")
    config["config"]["layers"].pop(0)  # Keras 2 before 2.4: the shape is on the first layer
    result = import_config(config)
    assert result.ok, result.diagnostics
    assert result.doc["inputs"] == {"fc1_input": {"shape": [8]}}
    assert spec_params(result.text) == keras2_params("mlp")


def test_keras2_shared_layer_is_called_twice():
    doc = import_file(FIXTURES / "shared.json").doc
    assert doc["graph"]["tower"] == {"apply": "tower", "to": "left"}
    assert doc["graph"]["tower_1"] == {"apply": "tower", "to": "right"}


def test_keras2_nested_sequential_is_a_block():
    doc = import_file(FIXTURES / "nested.json").doc
    assert doc["graph"]["block"] == {"block": "block", "to": "features"}
    assert doc["graph"]["head"] == {"apply": "head", "to": "block"}


def test_keras2_training_config_of_a_legacy_h5_file():
    """The training config of ``shared.h5`` (an optimizer with ``decay``, loss weights
    as a list, ``MeanMetricWrapper`` metrics) becomes ``compile:``; ``decay`` is MS624."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(FIXTURES / "shared.h5", "r") as f:
        model = json.loads(f.attrs["model_config"])
        model["training_config"] = json.loads(f.attrs["training_config"])
    model["training_config"]["optimizer_config"]["config"]["lr"] = model["training_config"][
        "optimizer_config"
    ]["config"].pop("learning_rate")  # as Keras before 2.3 wrote it
    result = import_config(model)
    assert result.ok, result.diagnostics
    assert [d.code for d in result.diagnostics] == ["MS624"]
    assert "`SGD` has Keras 2's `decay: 0.0001`" in result.diagnostics[0].message
    doc = result.doc
    assert doc["compile"] == {"optimizer": {"type": "SGD", "learning_rate": 0.05, "momentum": 0.9}}
    assert doc["outputs"]["score"] == {
        "from": "score",
        "loss": "binary_crossentropy",
        "loss_weight": 1.0,
        "metrics": ["binary_accuracy"],
    }
    assert doc["outputs"]["value"]["loss_weight"] == 0.5
    assert check_imported(result, "imported.yaml") == []


def test_keras2_optimizer_custom_prefix():
    h5py = pytest.importorskip("h5py")
    with h5py.File(FIXTURES / "mlp.h5", "r") as f:
        model = json.loads(f.attrs["model_config"])
        model["training_config"] = json.loads(f.attrs["training_config"])
    result = import_config(model)  # "Custom>Adam", is_legacy_optimizer, accuracy
    assert result.ok, result.diagnostics
    assert result.doc["compile"] == {"optimizer": "adam"}
    assert result.doc["outputs"]["out"]["metrics"] == ["categorical_accuracy"]


def test_keras2_l1l2_with_one_factor_is_named():
    config = strip_modules(load("mlp"))
    fc2 = config["config"]["layers"][4]["config"]
    assert fc2["name"] == "fc2"
    fc2["kernel_regularizer"] = {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}}
    result = import_config(config)
    assert result.ok, result.diagnostics
    assert result.doc["sequential"][3]["kernel_regularizer"] == "l2"


def test_keras2_leaky_relu_alpha_is_negative_slope():
    config = load("mlp")
    config["config"]["layers"][3] = {
        "class_name": "LeakyReLU",
        "config": {"name": "leaky", "trainable": True, "dtype": "float32", "alpha": 0.2},
    }
    result = import_config(config)
    assert result.ok, result.diagnostics
    assert result.doc["sequential"][2] == {"type": "LeakyReLU", "negative_slope": 0.2,
                                           "name": "leaky"}  # fmt: skip


def test_keras2_lambda_is_refused_as_lambda():
    config = load("mlp")
    config["config"]["layers"][3] = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {"name": "double", "function": ["4wEAAAAAAAAA", None, None],
                   "function_type": "lambda", "module": "__main__"},
    }  # fmt: skip
    result = import_config(config)
    assert [d.code for d in result.errors] == ["MS611"]
    assert "layer 'double' is a `Lambda`" in result.errors[0].message
    old = strip_modules(config)  # no module: still a Lambda, not a custom class
    assert [d.code for d in import_config(old).errors] == ["MS611"]


def test_keras2_time_major_is_reported():
    config = load("lstm")
    config["config"]["layers"][2]["config"]["time_major"] = True
    result = import_config(config)
    assert [d.code for d in result.errors] == ["MS614"]
    assert "layer 'lstm' (`LSTM`) sets `time_major: True`" in result.errors[0].message


KERAS1 = {
    "class_name": "Model",
    "keras_version": "1.2.2",
    "config": {
        "name": "model_1",
        "layers": [
            {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 4], "name": "x", "dtype": "float32"}},
            {"class_name": "Dense", "name": "d", "inbound_nodes": [[["x", 0, 0]]],
             "config": {"name": "d", "output_dim": 3, "init": "glorot_uniform"}},
        ],
        "input_layers": [["x", 0, 0]],
        "output_layers": [["d", 0, 0]],
    },
}  # fmt: skip


def test_keras1_config_is_refused():
    result = import_config(copy.deepcopy(KERAS1))
    assert [d.code for d in result.errors] == ["MS623"]
    assert "Keras 1 model (the config was written by Keras 1.2.2)" in result.errors[0].message
    unversioned = copy.deepcopy(KERAS1)
    del unversioned["keras_version"]
    result = import_config(unversioned)
    assert [d.code for d in result.errors] == ["MS623"]
    assert "[layer, node, tensor] without call arguments" in result.errors[0].message
    merge = load("shared")
    merge["config"]["layers"][3]["class_name"] = "Merge"
    del merge["keras_version"]
    assert "a `Merge` layer" in import_config(merge).errors[0].message


# === legacy HDF5 model files (model.save("m.h5")) ==========================================


@pytest.mark.parametrize("name", NAMES)
def test_keras2_h5_imports_as_its_json_with_its_compile_config(name):
    """The config of ``NAME.h5`` is ``NAME.json``'s; a compiled model's training config
    becomes ``compile:`` and the outputs' losses."""
    pytest.importorskip("h5py")
    from_h5 = import_file(FIXTURES / f"{name}.h5")
    assert not from_h5.errors, from_h5.diagnostics
    from_json = import_file(FIXTURES / f"{name}.json").doc
    compiled = {k: v for k, v in from_h5.doc.items() if k not in ("compile", "outputs")}
    assert compiled == {k: v for k, v in from_json.items() if k != "outputs"}
    for key, output in from_h5.doc.get("outputs", {}).items():  # from_json's, and a loss
        assert {k: v for k, v in output.items() if k == "from"} == from_json.get("outputs", {}).get(
            key, {"from": key} if "from" in output else {}
        )
    assert check_imported(from_h5, "imported.yaml") == []
    assert spec_params(from_h5.text) == keras2_params(name)
    assert from_h5.text.startswith(f"# Generated by modelspec import from {name}.h5.\n")
    assert ("compile" in from_h5.doc) == (name in ("mlp", "shared", "lstm", "nested_bn"))


def test_keras2_h5_training_config_is_read():
    pytest.importorskip("h5py")
    result = import_file(FIXTURES / "lstm.h5")
    assert result.doc["compile"] == {"optimizer": "rmsprop"}
    assert result.doc["outputs"]["out"] == {"loss": "sparse_categorical_crossentropy"}


def test_keras2_weights_file_is_not_a_model():
    pytest.importorskip("h5py")
    result = import_file(FIXTURES / "mlp.weights.h5")
    assert [(d.code, d.line, d.col) for d in result.errors] == [("MS601", 1, 1)]
    assert "holds no model config (attribute 'model_config')" in result.errors[0].message
    assert "name this file in the spec's `weights:`" in result.errors[0].hint


def _h5_model(path: Path, config: Any, **attrs: Any) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        if config is not None:
            f.attrs["model_config"] = json.dumps(config)
        for key, value in attrs.items():
            f.attrs[key] = value
    return path


def test_keras2_h5_attributes_that_are_not_text_are_refused(tmp_path: Path):
    """A config attribute that is not one string (an opaque blob, an array) is refused
    unread: modelspec never unpickles or decodes anything else."""
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = np.void(b"\x80\x04\x95cos\nsystem\n")  # a pickle's bytes
    (d,) = import_file(path).errors
    assert d.code == "MS601"
    assert d.message.startswith("attribute 'model_config' of '")
    assert "is of type '|V14' (one value), not text" in d.message
    _h5_model(path, None, model_config=np.array([b"{}", b"{}"]))
    (d,) = import_file(path).errors
    assert "is of type '|S2' (2), not text" in d.message


def test_keras2_h5_config_that_is_not_json_or_not_a_model(tmp_path: Path):
    pytest.importorskip("h5py")
    path = _h5_model(tmp_path / "m.h5", None, model_config='{"class_name": "Functional",')
    (d,) = import_file(path).errors
    assert d.code == "MS601"
    assert d.message.startswith("attribute 'model_config': the config is not valid JSON")
    _h5_model(path, [1, 2])
    (d,) = import_file(path).errors
    assert (d.code, d.message) == (
        "MS604",
        f"the 'model_config' of '{path}' is not a model config (a JSON object)",
    )


def test_keras2_h5_config_over_the_limit_is_refused(tmp_path: Path, monkeypatch):
    pytest.importorskip("h5py")
    from modelspec.importer import source

    monkeypatch.setattr(source, "MAX_BYTES", 1000)
    monkeypatch.setattr("modelspec.importer.legacy_h5.MAX_BYTES", 1000)
    config = load("mlp")
    path = _h5_model(tmp_path / "m.h5", config)  # variable-length: read, then refused
    (d,) = import_file(path).errors
    assert d.code == "MS602"
    assert (
        d.message
        == f"attribute 'model_config' of '{path}' is {len(json.dumps(config)):,} bytes; the limit is 1,000"
    )
    _h5_model(path, None, model_config=np.bytes_(json.dumps(config)))  # fixed: refused unread
    assert import_file(path).errors[0].code == "MS602"


def test_keras2_h5_lambda_is_refused_as_in_json(tmp_path: Path):
    pytest.importorskip("h5py")
    config = load("mlp")
    config["config"]["layers"][3] = {
        "class_name": "Lambda",
        "config": {"name": "double", "function": ["4wEAAAAAAAAA", None, None],
                   "function_type": "lambda", "module": "__main__"},
    }  # fmt: skip
    result = import_file(_h5_model(tmp_path / "m.h5", config))
    assert [d.code for d in result.errors] == ["MS611"]


def test_keras2_h5_with_links_out_of_it_is_refused(tmp_path: Path):
    """An .h5 is checked whole, as a weights file is, before its config is read."""
    h5py = pytest.importorskip("h5py")
    path = _h5_model(tmp_path / "m.h5", load("mlp"))
    with h5py.File(path, "a") as f:
        f["model_weights/fc1"] = h5py.ExternalLink("/etc/passwd", "/x")
    (d,) = import_file(path).errors
    assert d.code == "MS530"
    assert "is an external link to '/x' in the file '/etc/passwd'" in d.message


def test_cudnn_layers_become_lstm_and_gru_with_a_warning():
    config = load("lstm")
    config["config"]["layers"][2]["class_name"] = "CuDNNLSTM"
    lstm_config = config["config"]["layers"][2]["config"]
    for key in ("activation", "recurrent_activation", "use_bias", "dropout", "recurrent_dropout",
                "implementation", "unroll", "time_major"):  # fmt: skip
        lstm_config.pop(key, None)  # CuDNNLSTM has none of these
    result = import_config(config, file="old.json")
    assert result.ok, result.diagnostics
    (d,) = result.diagnostics
    assert (d.code, d.level) == ("MS625", "warning")
    assert d.message == (
        "layer 'lstm' is Keras 2's `CuDNNLSTM`, which is Keras 3's `LSTM` (it uses cuDNN "
        "where it can); its weights are converted when they are loaded, and it has 64 "
        "parameters fewer: its input and recurrent biases are added into one"
    )
    assert result.doc["sequential"][1] == {"type": "LSTM", "units": 16}  # named lstm anyway
    assert spec_params(result.text) == keras2_params("lstm")


def test_implementation_switch_other_than_keras2_default_is_reported():
    config = load("lstm")
    config["config"]["layers"][2]["config"]["implementation"] = 1
    result = import_config(config)
    assert result.ok
    (d,) = result.diagnostics
    assert d.code == "MS624"
    assert "layer 'lstm' (`LSTM`) sets Keras 2's `implementation: 1`" in d.message
    assert import_file(FIXTURES / "lstm.json").diagnostics == []  # implementation: 2


def test_import_strict_refuses_a_migration_with_changes(tmp_path: Path):
    """The migration report: warnings and a count; --strict makes them errors and
    nothing is written."""
    pytest.importorskip("h5py")
    out = tmp_path / "shared.yaml"
    proc = run_modelspec("import", str(FIXTURES / "shared.h5"), "-o", str(out), "--strict")
    assert proc.returncode == 1
    assert "error MS624: optimizer `SGD` has Keras 2's `decay: 0.0001`" in proc.stderr
    assert not out.exists()
    proc = run_modelspec("import", str(FIXTURES / "shared.h5"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "warning MS624" in proc.stderr
    assert "modelspec: 1 change from Keras 2 to Keras 3 (above); --strict refuses it" in proc.stderr
    assert out.read_text().startswith("# Generated by modelspec import from shared.h5.")
    proc = run_modelspec("import", str(FIXTURES / "mlp.h5"), "--strict")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_keras2_h5_without_h5py_names_the_extra(tmp_path: Path):
    """Without h5py (blocked here), a Keras 2 model file gets the extra to install."""
    script = (
        "import sys; sys.modules['h5py'] = None\n"
        "from modelspec.cli import main\n"
        "sys.argv = ['modelspec', 'import', sys.argv[1]]\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(FIXTURES / "mlp.h5")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "error MS601: '" in proc.stderr
    assert (
        "is an HDF5 file (a Keras 2 model, model.save('m.h5')), and reading one needs h5py"
        in proc.stderr
    )
    assert "pip install 'modelspec[h5]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_keras2_names_past_the_limit_are_refused(monkeypatch):
    h5py = pytest.importorskip("h5py")
    from modelspec.runtime import keras2_weights

    monkeypatch.setattr(keras2_weights, "MAX_NAMES", 3)
    with h5py.File(FIXTURES / "lstm.weights.h5", "r") as f:  # 4 layer names
        with pytest.raises(keras2_weights.LegacyLayoutError, match="lists more than 3 names"):
            keras2_weights.legacy_layers(f)
