"""Importing dtype policies and quantization: a Keras config's ``dtype`` entries ->
``dtype_policy:``, ``dtype:`` and ``quantize:``; and the round trip through real Keras
models on every backend (``tests/precision_models.py``): the spec built with the saved
``.keras`` as its weights has the original's dtype policies and predictions."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelspec.importer import check_imported, import_config
from tests.test_import import F32, dense, entry, functional, input_entry, node, only, tensor

ROOT = Path(__file__).resolve().parent.parent


def policy(name: str) -> dict:
    return {**F32, "config": {"name": name}}


def quantized(mode: str, source: str) -> dict:
    cls = "QuantizedFloat8DTypePolicy" if mode == "float8" else "QuantizedDTypePolicy"
    config: dict[str, Any] = {"mode": mode, "source_name": source}
    if mode == "float8":
        config["amax_history_length"] = 1024
    return {"module": "keras.dtype_policies", "class_name": cls, "config": config,
            "registered_name": None}  # fmt: skip


def chain(*dtypes: Any, types: tuple[str, ...] | None = None) -> dict:
    """x -> l0 -> l1 -> ...: a Dense (or ``types[i]``) for each dtype."""
    layers: list[dict] = [input_entry("x", [8])]
    before = "x"
    for i, dtype in enumerate(dtypes):
        kind = types[i] if types else "Dense"
        if kind == "Dense":
            layer = dense(f"l{i}", 4, node(tensor(before)), dtype=dtype)
        else:
            layer = entry(kind, f"l{i}", node(tensor(before)))
            layer["config"]["dtype"] = dtype
        layers.append(layer)
        before = f"l{i}"
    return functional(layers, ["x", 0, 0], [before, 0, 0], name="net")


def items(result) -> list[dict]:
    assert result.ok, [d.format() for d in result.diagnostics]
    assert check_imported(result, "s.yaml") == []
    return [{k: v for k, v in i.items() if k in ("dtype", "quantize")} for i in result.doc["sequential"]]  # fmt: skip


def head(result) -> dict:
    return {k: result.doc[k] for k in ("dtype_policy", "quantize") if k in result.doc}


# --- policies ----------------------------------------------------------------------------


def test_the_models_policy_is_the_most_common_and_layers_say_theirs():
    mixed, f32 = policy("mixed_bfloat16"), policy("float32")
    result = import_config(chain(mixed, mixed, f32))
    assert head(result) == {"dtype_policy": "mixed_bfloat16"}
    assert items(result) == [{}, {}, {"dtype": "float32"}]
    assert "dtype_policy: mixed_bfloat16\n" in result.text


def test_a_tie_is_float32_and_a_float32_model_writes_nothing():
    result = import_config(chain(policy("bfloat16"), policy("float32")))
    assert head(result) == {}
    assert items(result) == [{"dtype": "bfloat16"}, {}]
    result = import_config(chain(policy("bfloat16"), policy("float16")))
    assert head(result) == {"dtype_policy": "bfloat16"}  # first of the tied
    assert items(result) == [{}, {"dtype": "float16"}]
    assert items(import_config(chain(F32, "float32"))) == [{}, {}]  # a name, as Keras 2 wrote
    keras2 = {"class_name": "Policy", "config": {"name": "mixed_float16"}}  # Keras 2's class
    assert head(import_config(chain(keras2))) == {"dtype_policy": "mixed_float16"}


def test_a_sequentials_own_dtype_is_the_models_policy():
    layers = [{k: v for k, v in dense(n, 4, dtype=policy("float32")).items()
               if k not in ("name", "inbound_nodes")} for n in ("a", "b")]  # fmt: skip
    config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "stack", "trainable": True, "dtype": policy("mixed_float16"),
                         "layers": layers, "build_input_shape": [None, 8]}}  # fmt: skip
    result = import_config(config)
    assert head(result) == {"dtype_policy": "mixed_float16"}
    assert items(result) == [{"dtype": "float32"}, {"dtype": "float32"}]


def test_a_held_layer_says_its_policy_only_where_its_holders_differs():
    inner = {"module": "keras.layers", "class_name": "Dense",
             "config": {"name": "inner", "units": 3, "dtype": policy("mixed_bfloat16")}}  # fmt: skip
    td = entry("TimeDistributed", "td", node(tensor("x")), layer=inner)
    td["config"]["dtype"] = policy("mixed_bfloat16")
    layers = [input_entry("x", [5, 8]), td]
    result = import_config(functional(layers, ["x", 0, 0], ["td", 0, 0]))
    assert head(result) == {"dtype_policy": "mixed_bfloat16"}
    (td_spec,) = result.doc["sequential"]
    assert "dtype" not in td_spec and "dtype" not in td_spec["layer"]
    inner["config"]["dtype"] = policy("float32")
    result = import_config(functional(copy.deepcopy(layers), ["x", 0, 0], ["td", 0, 0]))
    assert result.doc["sequential"][0]["layer"]["dtype"] == "float32"
    assert check_imported(result, "s.yaml") == []


@pytest.mark.parametrize(
    "dtype, shown",
    [
        (policy("int4_from_float32"), "'int4_from_float32'"),
        ("gptq_from_float32", "'gptq_from_float32'"),
        ({**F32, "module": "mypackage", "class_name": "MyPolicy"}, "'float32'"),
        (
            {
                **quantized("float8", "float32"),
                "config": {"mode": "float8", "source_name": "float32", "amax_history_length": 16},
            },
            "'float8_from_float32'",
        ),  # fmt: skip
        (policy("int8_from_float16x"), "'int8_from_float16x'"),
    ],
)
def test_a_policy_a_spec_cannot_write_is_refused(dtype, shown):
    d = only(import_config(chain(dtype)), "MS614")
    assert d.message == f"layer 'l0' (`Dense`) has dtype policy {shown}, which a spec cannot write"
    assert d.json_path == "$.config.layers[1].config.dtype"
    assert "float32, mixed_bfloat16" in d.hint and "int8 or float8" in d.hint


def test_a_lookups_dtype_stays_as_it_was():
    """IntegerLookup's dtype is its output's, fixed by its kwargs: no policy, no `dtype:`,
    and not counted for the model's policy."""
    lookup = entry("IntegerLookup", "ids", node(tensor("x")), vocabulary=[1, 2, 3])
    emb = entry("Embedding", "emb", node(tensor("ids")), input_dim=5, output_dim=2)
    emb["config"]["dtype"] = policy("mixed_bfloat16")
    cfg = functional([input_entry("x", [4], "int64"), lookup, emb], ["x", 0, 0], ["emb", 0, 0])
    result = import_config(cfg)
    assert head(result) == {"dtype_policy": "mixed_bfloat16"}
    assert items(result) == [{}, {}]


# --- quantization ------------------------------------------------------------------------


def test_every_quantizable_layer_in_one_mode_is_the_models_quantize():
    q = quantized("int8", "mixed_bfloat16")
    result = import_config(chain(q, q, policy("mixed_bfloat16"), types=("Dense", "Dense", "ReLU")))
    assert head(result) == {"dtype_policy": "mixed_bfloat16", "quantize": "int8"}
    assert items(result) == [{}, {}, {}]


def test_a_layer_the_models_mode_skips_says_quantize_null():
    q = quantized("int8", "float32")
    result = import_config(chain(q, q, F32))
    assert head(result) == {"quantize": "int8"}
    assert items(result) == [{}, {}, {"quantize": None}]
    assert "quantize: null" in result.text


def test_a_few_quantized_layers_each_say_so():
    result = import_config(chain(quantized("int8", "float32"), F32, F32))
    assert head(result) == {}
    assert items(result) == [{"quantize": "int8"}, {}, {}]


def test_another_mode_and_another_source_policy():
    f8 = quantized("float8", "float32")
    result = import_config(chain(f8, f8, quantized("int8", "bfloat16")))
    assert head(result) == {"quantize": "float8"}
    assert items(result) == [{}, {}, {"dtype": "bfloat16", "quantize": "int8"}]


def test_a_quantized_policy_by_name():
    result = import_config(chain("int8_from_float32", "int8_from_float32"))
    assert head(result) == {"quantize": "int8"}


def test_a_held_layer_is_quantized_with_the_model_or_refused():
    inner = {"module": "keras.layers", "class_name": "Dense",
             "config": {"name": "inner", "units": 3, "dtype": quantized("int8", "float32")}}  # fmt: skip
    td = entry("TimeDistributed", "td", node(tensor("x")), layer=inner)
    out = dense("out", 2, node(tensor("td")), dtype=F32)
    layers = [input_entry("x", [5, 8]), td, out]
    result = import_config(functional(layers, ["x", 0, 0], ["out", 0, 0]))
    # Held layers can be quantized only by the model's mode: the rest say null.
    assert head(result) == {"quantize": "int8"}
    assert [i.get("quantize", "-") for i in result.doc["sequential"]] == ["-", None]
    assert check_imported(result, "s.yaml") == []
    inner["config"]["dtype"] = F32
    out["config"]["dtype"] = quantized("int8", "float32")
    layers.append(dense("last", 2, node(tensor("out")), dtype=quantized("int8", "float32")))
    d = only(import_config(functional(layers, ["x", 0, 0], ["last", 0, 0])), "MS614")
    assert d.message == (
        "the `Dense` 'inner' a layer holds is not quantized, and a spec quantizes a held "
        "layer only with the whole model (`quantize: int8` here)"
    )


def test_a_quantization_config_other_than_keras_default_is_refused():
    config = chain(quantized("int8", "float32"))
    layer = config["config"]["layers"][1]["config"]
    layer["quantization_config"] = {"module": "keras.quantizers",
                                    "class_name": "Int8QuantizationConfig", "config": {}}  # fmt: skip
    d = only(import_config(config), "MS614")
    assert "has quantization_config Int8QuantizationConfig()" in d.message
    assert d.json_path == "$.config.layers[1].config.quantization_config"


# --- loss scaling --------------------------------------------------------------------------


def _loss_scaled(policy_name: str, **extra: Any) -> dict:
    config = chain(policy(policy_name))
    adam = {"module": "keras.optimizers", "class_name": "Adam",
            "config": {"name": "adam", "learning_rate": 0.009999999776482582}}  # fmt: skip
    config["compile_config"] = {
        "optimizer": {"module": "keras.optimizers", "class_name": "LossScaleOptimizer",
                      "config": {"name": "loss_scale_optimizer", "inner_optimizer": adam,
                                 "initial_scale": 32768.0, "dynamic_growth_steps": 2000, **extra}},
        "loss": "mse",
    }  # fmt: skip
    return config


def test_loss_scaling_under_mixed_float16_is_its_inner_optimizer():
    result = import_config(_loss_scaled("mixed_float16"))
    assert result.ok and head(result) == {"dtype_policy": "mixed_float16"}
    assert result.doc["compile"]["optimizer"] == {"type": "Adam", "learning_rate": 0.01}
    assert check_imported(result, "s.yaml") == []


def test_loss_scaling_otherwise_is_refused():
    d = only(import_config(_loss_scaled("mixed_bfloat16")), "MS617")
    assert d.message == (
        "the model is compiled with a LossScaleOptimizer under dtype policy mixed_bfloat16; "
        "a spec scales the loss only under mixed_float16"
    )
    d = only(import_config(_loss_scaled("mixed_float16", initial_scale=128.0)), "MS617")
    assert "`initial_scale: 128.0`" in d.message


# --- nested models ---------------------------------------------------------------------------


def test_a_nested_model_under_another_policy_is_refused():
    inner = functional([input_entry("i", [8]), dense("d", 4, node(tensor("i")),
                        dtype=policy("mixed_bfloat16"))], ["i", 0, 0], ["d", 0, 0], name="sub")  # fmt: skip
    sub = {**inner, "name": "sub", "inbound_nodes": [node(tensor("x"))]}
    config = functional([input_entry("x", [8]), sub, dense("out", 2, node(tensor("sub")))],
                        ["x", 0, 0], ["out", 0, 0])  # fmt: skip
    d = only(import_config(config), "MS614")
    assert "a nested model's layers are imported in float32 only" in d.message


# --- real models, every backend -----------------------------------------------------------

# A bfloat16 computation rounds to 8 bits of mantissa: a softmax output within this.
BFLOAT16 = 1e-2
EXPECTED = {
    "seq_mixed": ({"dtype_policy": "mixed_bfloat16"}, {"out": {"dtype": "float32"}}),
    "fn_dtypes": (
        {"dtype_policy": "mixed_bfloat16"},
        {"inner": {"dtype": "float32"}, "b": {"dtype": "bfloat16"}, "out": {"dtype": "float32"}},
    ),
    "seq_f16": ({"dtype_policy": "mixed_float16"}, {"out": {"dtype": "float32"}}),
    "int8_model": (
        {"dtype_policy": "mixed_bfloat16", "quantize": "int8"},
        {"b": {"quantize": None}, "out": {"dtype": "float32"}},
    ),
    "f8_model": ({"quantize": "float8"}, {}),
}


# Each backend's run, a new process each (the models set Keras's global dtype policy
# while they are built): every model on TensorFlow; on JAX and PyTorch, whose eager
# calls compile each new shape, those whose weights load another way, and one Sequential.
BACKENDS = {
    "tensorflow": tuple(EXPECTED),
    "jax": ("seq_mixed", "seq_f16", "int8_model", "f8_model"),
    "torch": ("seq_mixed", "seq_f16", "int8_model", "f8_model"),
}


@pytest.mark.keras
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_round_trip_keeps_policies_and_predictions(backend, tmp_path: Path):
    pytest.importorskip(backend)
    pytest.importorskip("h5py")
    env = {k: v for k, v in os.environ.items() if k != "MODELSPEC_DEBUG"}
    env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "tests.precision_models", str(tmp_path),
         *BACKENDS[backend]],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(found) == set(BACKENDS[backend])
    for name in found:
        top, keys = EXPECTED[name]
        got = found[name]
        assert "errors" not in got, got["errors"]
        assert got["doc"] == top, name
        assert {n: k for n, k in got["layers"].items() if k} == keys, name
        assert got["lint"] == [], name
        original, rebuilt, generated = got["policies"]
        assert rebuilt == original and generated == original, name
        assert got["diff"] <= BFLOAT16 and got["diff_module"] <= BFLOAT16, name
        if "dtype_policy" not in top:  # float32 throughout: the same numbers
            assert got["diff"] == 0.0 and got["diff_module"] == 0.0, name
    assert found["seq_f16"]["optimizer"] == {"type": "Adam", "learning_rate": 0.01}
    assert found["seq_f16"]["compiled_optimizer"] == "LossScaleOptimizer"


@pytest.mark.keras
def test_float_weights_are_loaded_then_quantized(tmp_path: Path):
    """A float model's file, a spec that quantizes: loaded first, quantized after, as
    the original quantized in memory."""
    import keras
    import numpy as np

    import modelspec
    from modelspec.importer import import_file
    from modelspec.weights import load_weights_by_name

    numpy = keras.ops.convert_to_numpy
    x = keras.Input((6,), name="x")
    h = keras.layers.Dense(8, activation="relu", name="a")(x)
    model = keras.Model(x, keras.layers.Dense(3, name="out")(h), name="net")
    model.save(tmp_path / "net.keras")
    (tmp_path / "pyproject.toml").write_text("")
    text = import_file(tmp_path / "net.keras").text
    spec = tmp_path / "net.yaml"
    spec.write_text(
        text.replace("name: net\n", "name: net\nquantize: int8\n") + "weights: net.keras\n"
    )
    rebuilt = modelspec.build_model(spec, compile=False)
    copies = [keras.models.clone_model(model) for _ in range(2)]  # float, fresh weights
    model.quantize("int8")
    data = np.random.default_rng(0).normal(size=(2, 6)).astype("float32")
    np.testing.assert_array_equal(numpy(rebuilt(data)), numpy(model(data)))
    assert [rebuilt.get_layer(n).dtype_policy.name for n in ("a", "out")] == [
        "int8_from_float32"
    ] * 2
    # The loader says which way it went: float weights are the caller's to quantize after,
    calls: list[Any] = []
    report = load_weights_by_name(copies[0], tmp_path / "net.keras", quantize=calls.append)
    assert not report.quantized and calls == []
    # and a quantized model's are loaded once the model is quantized.
    model.save(tmp_path / "net8.keras")
    report = load_weights_by_name(
        copies[1], tmp_path / "net8.keras", quantize=lambda m: m.quantize("int8")
    )
    assert report.quantized
    np.testing.assert_array_equal(numpy(copies[1](data)), numpy(model(data)))
