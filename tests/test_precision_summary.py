"""`modelspec summary` and precision: each layer's dtypes, its weights' dtypes before and
after quantization, and the bytes Keras's model.summary() counts; against Keras itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelspec.catalog.precision import (
    TypedWeight,
    einsum_scale_shape,
    quantizable_parts,
    quantized_weights,
)
from modelspec.check import check
from modelspec.emit.summary import summary_json, summary_table
from modelspec.passes.layer_precision import precision_facts

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "tests" / "specs" / "precision").glob("*.yaml"))


def _checked(path: Path):
    result = check(path)
    assert not [d for d in result.diagnostics if d.severity == "error"], result.diagnostics
    return result


# --- the catalogue's rules ------------------------------------------------------------


@pytest.mark.parametrize(
    ("equation", "kernel", "scale"),
    [
        # Measured with Keras 3.15 (EinsumDense.quantize("int8")).
        ("ab,bc->ac", (4, 5), (1, 5)),
        ("abc,cd->abd", (4, 5), (1, 1, 5)),
        ("abc,cde->abde", (7, 2, 4), (1, 1, 2, 4)),
        ("abcd,cde->abe", (2, 3, 6), (1, 1, 6)),  # an attention layer's output
        ("bquh,uhm->bqm", (2, 2, 6), (1, 1, 6)),
    ],
)
def test_einsum_int8_scale_follows_the_equation(equation, kernel, scale):
    assert einsum_scale_shape(equation, kernel, 3) == scale


def test_einsum_with_ellipsis_cannot_be_int8():
    with pytest.raises(ValueError, match="'...'"):
        einsum_scale_shape("...b,bc->...c", (4, 5), 3)


def test_dense_int8_and_float8():
    before = [TypedWeight("kernel", (4, 3), "float32"), TypedWeight("bias", (3,), "float32")]
    kw = {"units": 3, "trainable": True}
    assert quantized_weights("Dense", kw, before, "int8") == [
        TypedWeight("bias", (3,), "float32", True),
        TypedWeight("kernel", (4, 3), "int8", False),
        TypedWeight("kernel_scale", (3,), "float32", False),
    ]
    after = quantized_weights("Dense", kw, before, "float8")
    assert after[:2] == before and len(after) == 8
    assert after[2] == TypedWeight("inputs_scale", (), "float32", True)
    assert after[3] == TypedWeight("inputs_amax_history", (1024,), "float32", True)


def test_quantizable_parts_of_holders():
    parts = quantizable_parts(
        "MultiHeadAttention",
        {"use_gate": True, "output_shape": None},
        [(None, 5, 8), (None, 5, 8)],
        "mha",
        "float32",
    )
    assert [p.name for p in parts] == ["query", "key", "gate", "value", "attention_output"]
    assert parts[0].equation == "abc,cde->abde" and parts[-1].equation == "abcd,cde->abe"
    td = quantizable_parts(
        "TimeDistributed", {"layer": {"type": "Dense", "units": 2, "name": "inner"}},
        [(None, 3, 4)], "td", "bfloat16",
    )  # fmt: skip
    assert [(p.prefix, p.type, p.name, p.policy) for p in td] == [
        ("inner/", "Dense", "inner", "bfloat16")
    ]


# --- the summary -----------------------------------------------------------------------


def test_all_float32_table_has_no_dtype_column():
    table = summary_table(_checked(ROOT / "specs" / "seed_001_mlp.yaml"))
    assert "Dtype" not in table and "before quantization" not in table


def test_json_has_precision_fields_for_float32():
    data = summary_json(_checked(ROOT / "specs" / "seed_001_mlp.yaml"))
    layer = data["layers"][0]
    assert layer["dtype_policy"] == "float32" and layer["quantized"] is None
    assert layer["compute_dtype"] == layer["variable_dtype"] == "float32"
    assert data["param_bytes"]["total"] == 4 * data["total_params"]
    assert data["before_quantization"] is None and data["dtype_policy"] == "float32"


def test_mixed_table_and_json():
    result = _checked(ROOT / "tests" / "specs" / "precision" / "mixed_head.yaml")
    table = summary_table(result)
    assert " Dtype " in table and "mixed_bfloat16" in table
    data = summary_json(result)
    rows = {r["name"]: r for r in data["layers"]}
    assert (rows["fc"]["compute_dtype"], rows["fc"]["variable_dtype"]) == ("bfloat16", "float32")
    assert rows["head"]["dtype_policy"] == "float32"


def test_int8_summary_counts_after_quantize():
    result = _checked(ROOT / "tests" / "specs" / "precision" / "quant_int8.yaml")
    data = summary_json(result)
    rows = {r["name"]: r for r in data["layers"]}
    # Dense(3) on 24: int8 kernel 72 + kernel_scale 3 (non-trainable), bias 3 trainable.
    assert (rows["fc"]["params"], rows["fc"]["trainable_params"]) == (78, 3)
    assert rows["fc"]["dtype_policy"] == "int8_from_float32" and rows["fc"]["quantized"] == "int8"
    assert rows["mha"]["dtype_policy"] == "float32" and rows["mha"]["quantized"] == "int8"
    before = data["before_quantization"]
    assert before["modes"] == ["int8"] and before["param_bytes"]["total"] == 4 * 766
    assert "; before quantization to int8: 766 (2.99 KB)" in summary_table(result)


# --- against Keras ---------------------------------------------------------------------


@pytest.mark.keras
@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_matches_keras(path):
    pytest.importorskip("keras")
    from keras.src.utils.summary_utils import count_params, weight_memory_size

    from modelspec.lower.plan import plan
    from modelspec.runtime.instantiate import to_keras

    result = _checked(path)
    model = to_keras(plan(result), "functional", compile=False)
    facts = precision_facts(result)
    for name, fact in facts.items():
        layer = model.get_layer(name)
        assert layer.dtype_policy.name == fact.keras_policy, name
        assert (layer.compute_dtype, layer.variable_dtype) == (
            fact.compute_dtype,
            fact.variable_dtype,
        ), name
        theirs = sorted((v.path, tuple(v.shape), v.dtype, v.trainable) for v in layer.weights)
        ours = sorted((f"{name}/{w.path}", *w[1:]) for w in fact.weights)
        assert ours == theirs, name
        assert layer.count_params() == sum(fact.params), name
    data = summary_json(result)
    assert data["trainable_params"] == count_params(model.trainable_weights)
    assert data["non_trainable_params"] == count_params(model.non_trainable_weights)
    assert data["param_bytes"]["trainable"] == weight_memory_size(model.trainable_weights)
    assert data["param_bytes"]["non_trainable"] == weight_memory_size(model.non_trainable_weights)
