"""``modelspec import`` of Keras 2 / tf.keras configs (:mod:`modelspec.importer.keras2`).

The fixtures in ``tests/fixtures/keras2/`` were written by Keras 2 itself (tf-keras
2.21, ``make_fixtures.py``); each ``NAME.expected.npz`` holds Keras 2's parameter
count. Keras 2 is not needed here: the configs are read as data.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelspec.check import check_text
from modelspec.emit.summary import summary_json
from modelspec.importer import check_imported, import_config, import_file

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "keras2"
NAMES = ["mlp", "shared", "lstm", "bigru", "nested", "mobilenet"]


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def keras2_params(name: str) -> int:
    with np.load(FIXTURES / f"{name}.expected.npz") as data:
        assert str(data["keras_version"]).startswith("2.")
        return int(data["params"])


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
    assert not result.diagnostics
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
