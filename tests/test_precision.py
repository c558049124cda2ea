"""Precision: the catalogue's dtype-policy facts, and Keras as their truth.

Every spec of ``tests/specs/`` (and the small shipped ones) is checked and built under
``dtype_policy: mixed_bfloat16``: each layer gets the policy lint says, each tensor the
dtype lint infers, and the generated module builds the same model as the direct build.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.precision import (
    POLICIES,
    QUANTIZE_MODES,
    compute_dtype,
    layer_policy,
    quantize_problem,
    split_quantized,
    takes_policy,
    variable_dtype,
)
from modelspec.check import check_text
from modelspec.lower.plan import plan

ROOT = Path(__file__).resolve().parent.parent
# Small enough to build in a second or two each; the big shipped models (ResNet-50,
# the decoders) are built under their own tests.
SPECS = sorted(
    [
        *ROOT.glob("tests/specs/*.yaml"),
        *(ROOT / "specs" / n for n in ("example_circles.yaml", "seed_001_mlp.yaml",
                                       "seed_003_multitask.yaml", "siamese.yaml",
                                       "text_classifier.yaml")),
    ]
)  # fmt: skip


def test_policies_name_their_compute_and_variable_dtypes():
    assert compute_dtype("mixed_bfloat16") == "bfloat16"
    assert variable_dtype("mixed_bfloat16") == "float32"
    assert compute_dtype("float16") == variable_dtype("float16") == "float16"
    assert split_quantized("int8_from_mixed_bfloat16") == ("int8", "mixed_bfloat16")
    assert split_quantized("float32") == (None, "float32")


def test_quantize_problem_names_the_layers_that_can():
    assert quantize_problem("Dense", "int8", "float32") is None
    assert quantize_problem("Embedding", "int8", "mixed_bfloat16") is None
    message, hint = quantize_problem("Embedding", "float8", "float32")
    assert "`Dense` and `EinsumDense`" in message and "int8" in hint
    message, hint = quantize_problem("Conv2D", "int8", "float32")
    assert "Conv2D" in message and "leave" in hint
    message, _ = quantize_problem("Dense", "int8", "mixed_float16")
    assert "float16" in message


def test_lookups_take_no_policy():
    assert not takes_policy(LAYER_TYPES["StringLookup"])
    assert takes_policy(LAYER_TYPES["Dense"]) and takes_policy(LAYER_TYPES["Flatten"])


def _mixed(path: Path) -> str:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["dtype_policy"] = "mixed_bfloat16"
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.keras
def test_keras_knows_each_policy_as_the_catalogue_does():
    import keras

    for name, (compute, variable) in POLICIES.items():
        policy = keras.dtype_policies.get(name)
        assert (policy.compute_dtype, policy.variable_dtype) == (compute, variable), name
    for mode, types in QUANTIZE_MODES.items():
        for type_name in types:
            assert hasattr(getattr(keras.layers, type_name), "quantize"), (mode, type_name)


@pytest.mark.keras
@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_each_layer_has_the_policy_and_each_tensor_the_dtype_lint_says(path, tmp_path):
    from modelspec.runtime.instantiate import to_keras

    result = check_text(_mixed(path), str(tmp_path / path.name))
    if not result.ok:  # a spec that reads files beside it (vocabularies)
        pytest.skip("needs the files beside it")
    model = to_keras(plan(result), "functional", compile=False)
    spec, facts = result.spec, result.shapes
    called = {c.layer for c in result.graph.order}
    for name in called:
        layer = spec.layers[name]
        if name not in {lyr.name for lyr in model.layers}:
            continue  # an op: no layer of its own
        keras_layer = model.get_layer(name)
        assert keras_layer.dtype_policy.name == layer_policy(spec, layer), name
    compared = 0
    for call in result.graph.order:
        if call.layer not in {lyr.name for lyr in model.layers}:
            continue
        layer = model.get_layer(call.layer)
        if len(layer._inbound_nodes) != 1:
            continue  # a shared layer: one output per call
        outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        want = facts.dtypes[call.output]
        want = want if isinstance(want, list) else [want]
        assert [str(t.dtype) for t in outputs] == want, call.output
        compared += 1
    assert compared, "no layer output was compared"


MIXED = """\
modelspec: 1
name: mixed
dtype_policy: mixed_bfloat16
inputs:
  x: {shape: [8]}
layers:
  fc: {type: Dense, units: 16, activation: relu}
  head: {type: Dense, units: 3, activation: softmax, dtype: float32}
sequential: [fc, head]
outputs:
  y: {from: head, loss: sparse_categorical_crossentropy}
"""


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("mixed_bfloat", "did you mean 'mixed_bfloat16'?"),
        ("bf16", "did you mean 'bfloat16'?"),
        ("tf.float16", "did you mean 'float16'?"),
        ("mixed", "did you mean 'mixed_bfloat16'?"),
        ("int8", "quantization is not a dtype policy: write `quantize: int8`"),
        ("int8_from_mixed_bfloat16", "a spec writes `quantize: int8` and the policy it "
                                     "quantizes from, 'mixed_bfloat16'"),
    ],
)  # fmt: skip
def test_an_unknown_policy_is_reported_at_its_line_with_the_fix(written, hint):
    for key, text in (
        ("dtype_policy", MIXED.replace("dtype_policy: mixed_bfloat16", f"dtype_policy: {written}")),
        ("dtype", MIXED.replace("dtype: float32", f"dtype: {written}")),
    ):
        result = check_text(text, "s.yaml")
        (d,) = result.errors
        line = next(i for i, t in enumerate(text.splitlines(), 1) if f"{key}: {written}" in t)
        assert (d.code, d.line) == ("MS105", line), d.format()
        assert f"unknown value '{written}' for `{key}`" in d.message
        assert hint in d.hint


def test_generated_code_sets_each_policy_and_quantizes_the_chosen_layers():
    import ast

    text = MIXED.replace("sequential:", "quantize: int8\nsequential:").replace(
        "dtype: float32}", "dtype: float32, quantize: null}"
    )
    text = text.replace("fc", "a-b.c")  # names are quoted as literals, never code
    result = check_text(text, "s.yaml")
    assert result.ok, [d.format() for d in result.diagnostics]
    built = plan(result)
    assert built.dtype_policy == "mixed_bfloat16"
    from modelspec.emit.keras_py import render

    module = render(built, "functional")
    tree = ast.parse(module)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    dtypes = {
        next(k.value.value for k in c.keywords if k.arg == "name"): k.value.value
        for c in calls
        for k in c.keywords
        if k.arg == "dtype"
    }
    assert dtypes == {"a-b.c": "mixed_bfloat16", "head": "float32"}
    (quantize,) = [c for c in calls if ast.unparse(c.func) == "model.quantize"]
    assert ast.unparse(quantize) == (
        "model.quantize('int8', filters=lambda layer: (layer.path or layer.name).removeprefix('mixed/').split('/')[0] not in ('head',))"
    )
    assert "Precision: every layer has the dtype policy `mixed_bfloat16`" in module


def test_mixed_float16_scales_the_loss_as_keras_does():
    from modelspec.lower.plan import LOSS_SCALE, Ctor

    text = MIXED.replace("mixed_bfloat16", "mixed_float16") + "compile:\n  optimizer: adam\n"
    optimizer = dict(plan(check_text(text, "s.yaml")).compile)["optimizer"]
    assert optimizer == Ctor(
        "optimizers", LOSS_SCALE, (("inner_optimizer", Ctor("optimizers", "Adam", ())),)
    )
    optimizer = dict(plan(check_text(MIXED + "compile:\n  optimizer: adam\n", "s.yaml")).compile)
    assert optimizer["optimizer"] == "adam"
