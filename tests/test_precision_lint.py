"""Lint's precision checks (MS330-MS336) and the backend's refusal of float64 on JAX
without 64-bit numbers (MS552); the Keras facts they rest on, against Keras itself.

The specs start with the four lines of ``tests.test_rules.HEAD``: a test's own first
line is line 5.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.precision import (
    HELD_QUANTIZABLE,
    POLICIES,
    QUANTIZE_MODES,
    quantize_problem,
    takes_policy,
)
from modelspec.ir import Layer, Source, Spec
from modelspec.passes.precision import check_precision
from tests.test_cli import run
from tests.test_rules import expect, lint, spec

HEADER = "modelspec: 1\nname: m\n"


def model(*lines: str, top: str = "") -> str:
    """A spec with the model-level keys ``top`` (line 3, and 4 for a second key) before
    its inputs: its own first line is line 6 (7 after two keys)."""
    return (
        HEADER
        + (top or "description: d")
        + "\ninputs:\n  x: {shape: [8]}\n"
        + "".join(line + "\n" for line in lines)
    )


def codes(text: str) -> list[str]:
    return sorted(d.code for d in lint(text).diagnostics)


# === MS330: dtype on a layer whose output dtype its kwargs fix ==========================


def test_ms330_dtype_on_a_lookup():
    text = (
        "modelspec: 1\nname: m\ninputs:\n  s: {shape: [], dtype: string}\n"
        "sequential:\n  - {type: StringLookup, vocabulary: [a, b], dtype: mixed_bfloat16}\n"
    )
    expect(text, "MS330", 6, 46, "`StringLookup` 'string_lookup' takes no dtype policy",
           hint="remove `dtype:`")  # fmt: skip


def test_ms330_not_on_a_layer_that_takes_a_policy():
    text = spec("sequential:", "  - {type: Dense, units: 2, dtype: mixed_bfloat16}")
    assert "MS330" not in codes(text)


# === MS331: a layer's own quantize that Keras cannot do =================================


def test_ms331_conv_cannot_be_quantized():
    text = model(
        "sequential:",
        "  - {type: Reshape, target_shape: [8, 1]}",
        "  - {type: Conv1D, filters: 2, kernel_size: 3, quantize: int8}",
    )
    expect(text, "MS331", 8, 48, "Keras cannot quantize `Conv1D` 'conv1d' to int8",
           hint="leave `quantize:` off")  # fmt: skip


def test_ms331_embedding_has_no_float8_and_the_hint_names_int8():
    text = (
        "modelspec: 1\nname: m\ninputs:\n  x: {shape: [4], dtype: int32}\n"
        "layers:\n  emb:\n    type: Embedding\n    input_dim: 10\n    output_dim: 4\n"
        "    quantize: float8\n"
        "graph:\n  e: {apply: emb, to: x}\noutputs:\n  e: {from: e}\n"
    )
    expect(text, "MS331", 10, 5, "Keras cannot quantize `Embedding` 'emb' to float8",
           hint="`quantize: int8` works on `Embedding`")  # fmt: skip


def test_ms331_a_wrapper_says_the_model_reaches_what_it_holds():
    text = model(
        "sequential:",
        "  - {type: Reshape, target_shape: [2, 4]}",
        "  - {type: TimeDistributed, layer: {type: Dense, units: 2}, quantize: int8}",
    )
    d = expect(text, "MS331", 8, 61, "Keras cannot quantize `TimeDistributed` 'time_distributed'")
    assert "the model's `quantize:` reaches the layers it holds" in d.hint


def test_ms331_custom_layers_refuse():
    text = (
        "modelspec: 1\nname: m\ncustom:\n  Scale: {class: mylayers.Scale, shape: same, params: 0}\n"
        "inputs:\n  x: {shape: [8]}\n"
        "sequential:\n  - {type: Scale, quantize: int8}\n"
    )
    result = lint(text)
    hits = [d for d in result.diagnostics if d.code == "MS331"]
    assert [(d.line, d.col) for d in hits] == [(8, 19)], result.diagnostics
    assert "custom layer `Scale` 'scale'" in hits[0].message
    assert "refuse their subclasses" in hits[0].message


def test_quantize_on_a_dense_is_fine():
    text = spec("sequential:", "  - {type: Dense, units: 2, quantize: float8}")
    assert [c for c in codes(text) if c.startswith("MS33")] == []


# === MS332: int8 of a layer computing in float16 ========================================


def test_ms332_a_layers_own_int8_under_float16():
    text = model("sequential:", "  - {type: Dense, units: 2, quantize: int8}",
                 top="dtype_policy: mixed_float16")  # fmt: skip
    expect(text, "MS332", 7, 29, "Keras refuses int8 quantization of a layer that computes "
           "in float16 (its dtype policy is mixed_float16): `Dense` 'dense'",
           hint="mixed_bfloat16")  # fmt: skip


def test_ms332_the_models_int8_names_the_layers_and_held_ones():
    text = model(
        "layers:",
        "  mha: {type: MultiHeadAttention, num_heads: 2, key_dim: 4}",
        "  td: {type: TimeDistributed, layer: {type: Dense, units: 2, name: inner}}",
        "  fc: {type: Dense, units: 8, quantize: null}",
        "graph:",
        "  s: {apply: {type: Reshape, target_shape: [2, 4]}, to: x}",
        "  a: {apply: mha, to: {query: s, value: s}}",
        "  t: {apply: [fc, td], to: a}",
        "outputs:",
        "  t: {from: t}",
        top="dtype_policy: float16\nquantize: int8",
    )
    d = expect(text, "MS332", 4, 11, "`quantize: int8` reaches the `EinsumDense` layers of "
               "`MultiHeadAttention` 'mha', `Dense` 'inner' in `TimeDistributed` 'td'")  # fmt: skip
    assert "'fc'" not in d.message  # `quantize: null`


def test_int8_under_mixed_bfloat16_is_fine():
    text = model("sequential:", "  - {type: Dense, units: 2}",
                 top="dtype_policy: mixed_bfloat16\nquantize: int8")  # fmt: skip
    assert [c for c in codes(text) if c.startswith("MS33")] == []


def test_a_float32_layer_under_float16_can_be_quantized():
    text = model("sequential:", "  - {type: Dense, units: 2, dtype: float32}",
                 top="dtype_policy: mixed_float16\nquantize: int8")  # fmt: skip
    assert [c for c in codes(text) if c.startswith("MS33")] == []


# === MS333: a model quantize that reaches nothing =======================================


def test_ms333_no_layer_keras_can_quantize():
    text = model("sequential:", "  - {type: Reshape, target_shape: [8, 1]}",
                 "  - {type: Conv1D, filters: 2, kernel_size: 3}", top="quantize: int8")  # fmt: skip
    expect(text, "MS333", 3, 11, "`quantize: int8` quantizes no layer",
           hint="remove `quantize:`")  # fmt: skip


def test_ms333_float8_with_only_an_embedding_hints_int8():
    text = (
        "modelspec: 1\nname: m\nquantize: float8\ninputs:\n  x: {shape: [4], dtype: int32}\n"
        "sequential:\n  - {type: Embedding, input_dim: 10, output_dim: 4}\n"
    )
    expect(text, "MS333", 3, 11, "only `Dense` and `EinsumDense` layers implement float8",
           hint="or use `quantize: int8`")  # fmt: skip


def test_ms333_every_quantizable_layer_left_out():
    text = model("sequential:", "  - {type: Dense, units: 2, quantize: null}",
                 top="quantize: int8")  # fmt: skip
    expect(text, "MS333", 3, 11, "quantizes no layer")


@pytest.mark.parametrize(
    "layer",
    [
        "{type: MultiHeadAttention, num_heads: 2, key_dim: 4}",
        "{type: GroupQueryAttention, head_dim: 4, num_query_heads: 2, num_key_value_heads: 1}",
    ],
)
def test_attention_layers_hold_einsum_dense_layers(layer):
    text = model(
        "layers:",
        f"  att: {layer}",
        "graph:",
        "  s: {apply: {type: Reshape, target_shape: [2, 4]}, to: x}",
        "  a: {apply: att, to: {query: s, value: s}}",
        "outputs:",
        "  a: {from: a}",
        top="quantize: float8",
    )
    assert [c for c in codes(text) if c.startswith("MS3")] == []


def test_a_wrapped_dense_is_quantized():
    text = model("sequential:", "  - {type: Reshape, target_shape: [2, 4]}",
                 "  - {type: TimeDistributed, layer: {type: Dense, units: 2}}",
                 top="quantize: float8")  # fmt: skip
    assert [c for c in codes(text) if c.startswith("MS3")] == []


# === MS334: a softmax or sigmoid output computed in half precision =======================


@pytest.mark.parametrize(
    "last, act",
    [
        ("{type: Dense, units: 3, activation: softmax}", "softmax"),
        ("{type: Dense, units: 1, activation: sigmoid}", "sigmoid"),
        ("{type: Activation, activation: softmax}", "softmax"),
        ("{type: Softmax}", "softmax"),
    ],
)
def test_ms334_half_precision_softmax_output(last, act):
    text = model("sequential:", f"  - {last}", top="dtype_policy: mixed_bfloat16")
    expect(text, "MS334", 7, 5, f"computes its {act} in bfloat16", level="warning",
           hint="give that layer `dtype: float32`")  # fmt: skip


def test_ms334_a_named_layer_under_its_own_policy():
    text = model(
        "layers:",
        "  head: {type: Dense, units: 3, activation: softmax, dtype: float16}",
        "graph:",
        "  y: {apply: head, to: x}",
        "outputs:",
        "  y: {from: y, loss: categorical_crossentropy}",
    )
    expect(text, "MS334", 7, 3, "output 'y' comes from `Dense` 'head', which computes its "
           "softmax in float16 (dtype policy float16)", level="warning")  # fmt: skip


@pytest.mark.parametrize(
    "last, top",
    [
        ("{type: Dense, units: 3, activation: softmax, dtype: float32}", "dtype_policy: mixed_bfloat16"),
        ("{type: Dense, units: 3}", "dtype_policy: mixed_bfloat16"),
        ("{type: Dense, units: 3, activation: softmax}", "dtype_policy: float32"),
    ],
)  # fmt: skip
def test_no_ms334_in_float32_or_without_a_squashing_activation(last, top):
    text = model("sequential:", f"  - {last}", top=top)
    assert "MS334" not in codes(text)


# === MS335: quantize inside a held layer ================================================


def test_ms335_quantize_in_a_wrapped_layer():
    text = model(
        "sequential:",
        "  - {type: Reshape, target_shape: [2, 4]}",
        "  - {type: TimeDistributed, layer: {type: Dense, units: 2, quantize: int8}}",
    )
    expect(text, "MS335", 8, 60, "`quantize:` on the `Dense` that `TimeDistributed` "
           "'time_distributed' holds", hint="model's `quantize:`")  # fmt: skip


def test_ms335_quantize_in_an_rnn_cell():
    text = model(
        "sequential:",
        "  - {type: Reshape, target_shape: [2, 4]}",
        "  - type: RNN",
        "    cell: {type: LSTMCell, units: 2, quantize: null}",
    )
    expect(text, "MS335", 9, 38, "`quantize:` on the `LSTMCell` that `RNN` 'rnn' holds")


# === MS336: int8 of an EinsumDense with "..." ============================================


def test_ms336_model_quantize_reaches_an_ellipsis_einsum_dense():
    ed = '  - {type: EinsumDense, equation: "...b,bc->...c", output_shape: 5}'
    text = model("sequential:", ed, top="quantize: int8")
    expect(text, "MS336", 3, 11, "`quantize: int8` reaches `EinsumDense' 'einsum_dense', "
           "whose equation '...b,bc->...c' has '...'".replace("`EinsumDense'", "`EinsumDense`"),
           hint="`quantize: null`")  # fmt: skip
    assert "MS336" not in codes(text.replace("int8", "float8"))
    named = ed.replace("...b,bc->...c", "ab,bc->ac")
    assert "MS336" not in codes(model("sequential:", named, top="quantize: int8"))


def test_ms336_a_layers_own_int8():
    text = model(
        "sequential:",
        '  - {type: EinsumDense, equation: "...b,bc->...c", output_shape: 5, quantize: int8}',
    )
    expect(text, "MS336", 7, 69, "`EinsumDense` 'einsum_dense', whose equation",
           hint="leave `quantize:` off it")  # fmt: skip


# === The rules, stated once ============================================================

ALL_TYPES = sorted(LAYER_TYPES)


def _one_layer(type_name: str, *, quantize=None, dtype=None, policy="float32") -> list[str]:
    kwargs = {} if dtype is None else {"dtype": dtype}
    src = Source("s.yaml", 1, 1, ("layers", "l"))
    layer = Layer("l", type_name, kwargs, src, quantize=quantize)
    ir = Spec("m", "s.yaml", (), {"l": layer}, (), (), dtype_policy=policy)
    return sorted(d.code for d in check_precision(ir, None))


@given(st.sampled_from(ALL_TYPES), st.sampled_from(sorted(QUANTIZE_MODES)))
@example("Conv2D", "int8")
@example("Embedding", "float8")
@example("EinsumDense", "float8")
@example("MultiHeadAttention", "int8")
def test_ms331_exactly_where_keras_cannot_quantize_the_type(type_name, mode):
    got = _one_layer(type_name, quantize=mode)
    assert ("MS331" in got) == (quantize_problem(type_name, mode, "float32") is not None)


@given(
    st.sampled_from(ALL_TYPES),
    st.sampled_from(sorted(QUANTIZE_MODES)),
    st.sampled_from(sorted(POLICIES)),
    st.sampled_from([None, *sorted(POLICIES)]),
)
@example("Dense", "int8", "mixed_float16", None)
@example("Dense", "int8", "mixed_float16", "float32")
@example("Dense", "int8", "float32", "float16")
@example("StringLookup", "int8", "float16", "float16")
def test_a_layers_own_quantize_and_dtype(type_name, mode, policy, dtype):
    """MS330 exactly for a `dtype:` on a type that takes no policy; MS331 where Keras
    cannot quantize the type; else MS332 where it computes in float16 and asks int8."""
    got = _one_layer(type_name, quantize=mode, dtype=dtype, policy=policy)
    takes = takes_policy(LAYER_TYPES[type_name])
    assert ("MS330" in got) == (dtype is not None and not takes)
    effective = (dtype or policy) if takes else "float32"
    expected = []
    if quantize_problem(type_name, mode, "float32") is not None:
        expected = ["MS331"]
    elif quantize_problem(type_name, mode, effective) is not None:
        expected = ["MS332"]
    assert [c for c in got if c in ("MS331", "MS332")] == expected


@given(st.sampled_from(ALL_TYPES), st.sampled_from(sorted(QUANTIZE_MODES)))
@example("Embedding", "float8")
@example("MultiHeadAttention", "float8")
def test_ms333_exactly_where_the_models_quantize_reaches_nothing(type_name, mode):
    src = Source("s.yaml", 1, 1, ("layers", "l"))
    ir = Spec("m", "s.yaml", (), {"l": Layer("l", type_name, {}, src)}, (), (), quantize=mode)
    got = [d.code for d in check_precision(ir, None)]
    reached = type_name in QUANTIZE_MODES[mode] or type_name in HELD_QUANTIZABLE
    assert ("MS333" in got) == (not reached)


# === MS552: float64 on JAX without 64-bit numbers, through the command line ============

FLOAT64 = """\
modelspec: 1
name: m
dtype_policy: float64
inputs:
  x: {shape: [8]}
sequential:
  - {type: Dense, units: 2, dtype: float64}
"""


@pytest.fixture
def float64_spec(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(FLOAT64, encoding="utf-8")
    return path


@pytest.mark.parametrize("x64", ["", "0", "false"])
def test_ms552_lint_on_jax_without_x64(float64_spec, x64):
    proc = run("lint", "--backend", "jax", "--format", "json", str(float64_spec),
               env={"JAX_ENABLE_X64": x64})  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    diags = json.loads(proc.stdout)["diagnostics"]
    assert [(d["code"], d["line"], d["col"]) for d in diags] == [
        ("MS552", 3, 15),
        ("MS552", 7, 36),
    ]
    assert "JAX computes it in float32" in diags[0]["message"]
    assert "JAX_ENABLE_X64=1" in diags[0]["hint"]


def test_ms552_at_a_float64_input_and_a_held_layers_own_float64(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(
        "modelspec: 1\nname: m\ninputs:\n  x: {shape: [3, 4], dtype: float64}\n"
        "sequential:\n  - {type: TimeDistributed, layer: {type: Dense, units: 2, dtype: float64}}\n",
        encoding="utf-8",
    )
    proc = run("lint", "--backend", "jax", "--format", "json", str(path),
               env={"JAX_ENABLE_X64": ""})  # fmt: skip
    diags = json.loads(proc.stdout)["diagnostics"]
    assert [(d["code"], d["line"]) for d in diags] == [("MS552", 4), ("MS552", 6)]
    assert diags[0]["message"].startswith("input 'x' has `dtype: float64` on jax")
    assert diags[1]["message"].startswith("the `Dense` that `TimeDistributed`")


@pytest.mark.parametrize(
    "backend, x64", [("jax", "1"), ("jax", "True"), ("tensorflow", ""), ("torch", "")]
)
def test_no_ms552_with_x64_or_on_another_backend(float64_spec, backend, x64):
    proc = run("lint", "--backend", backend, str(float64_spec), env={"JAX_ENABLE_X64": x64})
    assert proc.returncode == 0, proc.stderr
    assert "MS552" not in proc.stderr


# === Against Keras ======================================================================

# Layer types lint says Keras cannot quantize, each with kwargs and an input shape.
CANNOT = {
    "Conv1D": ({"filters": 2, "kernel_size": 3}, (None, 8, 3)),
    "Conv2D": ({"filters": 2, "kernel_size": 3}, (None, 8, 8, 3)),
    "DepthwiseConv2D": ({"kernel_size": 3}, (None, 8, 8, 3)),
    "SeparableConv1D": ({"filters": 2, "kernel_size": 3}, (None, 8, 3)),
    "Conv2DTranspose": ({"filters": 2, "kernel_size": 3}, (None, 8, 8, 3)),
    "LSTM": ({"units": 2}, (None, 5, 3)),
    "GRU": ({"units": 2}, (None, 5, 3)),
    "SimpleRNN": ({"units": 2}, (None, 5, 3)),
    "BatchNormalization": ({}, (None, 4)),
    "LayerNormalization": ({}, (None, 4)),
    "PReLU": ({}, (None, 4)),
    "Dropout": ({"rate": 0.5}, (None, 4)),
}


@pytest.mark.keras
def test_keras_refuses_the_types_lint_refuses():
    keras = pytest.importorskip("keras")
    assert set(CANNOT) <= set(LAYER_TYPES)
    for type_name, (kwargs, shape) in CANNOT.items():
        for mode in QUANTIZE_MODES:
            assert quantize_problem(type_name, mode, "float32") is not None
            layer = getattr(keras.layers, type_name)(**kwargs)
            layer.build(shape)
            with pytest.raises(NotImplementedError):
                layer.quantize(mode)
    # Embedding has int8 only.
    emb = keras.layers.Embedding(10, 4)
    emb.build((None, 3))
    with pytest.raises(NotImplementedError):
        emb.quantize("float8")


@pytest.mark.keras
def test_keras_quantizes_what_lint_lets_through_and_refuses_int8_in_float16():
    keras = pytest.importorskip("keras")

    def make(type_name, dtype=None):
        kw = {} if dtype is None else {"dtype": dtype}
        if type_name == "Dense":
            layer, shape = keras.layers.Dense(3, **kw), (None, 4)
        elif type_name == "EinsumDense":
            layer, shape = keras.layers.EinsumDense("ab,bc->ac", (3,), **kw), (None, 4)
        else:
            layer, shape = keras.layers.Embedding(10, 4, **kw), (None, 3)
        layer.build(shape)
        return layer

    for mode, types in QUANTIZE_MODES.items():
        for type_name in types:
            assert quantize_problem(type_name, mode, "mixed_bfloat16") is None
            make(type_name, "mixed_bfloat16").quantize(mode)
            problem = quantize_problem(type_name, mode, "mixed_float16")
            layer = make(type_name, "mixed_float16")
            if problem is None:
                layer.quantize(mode)
            else:
                with pytest.raises(ValueError, match="float16"):
                    layer.quantize(mode)


@pytest.mark.keras
@pytest.mark.filterwarnings("ignore:Layer .* does not have a `quantize` method")
def test_keras_model_quantize_reaches_held_and_attention_layers():
    keras = pytest.importorskip("keras")
    layers = keras.layers
    x = keras.Input((2, 4))
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")
    gqa = layers.GroupQueryAttention(4, 2, 1, name="gqa")
    td = layers.TimeDistributed(layers.Dense(3, name="inner"), name="td")
    y = td(gqa(mha(x, x), mha(x, x)))
    model = keras.Model(x, y)
    model.quantize("int8")
    quantized = {
        layer.path
        for layer in model._flatten_layers()
        if getattr(layer, "quantization_mode", None) == "int8"
    }
    for holder in HELD_QUANTIZABLE:
        name = {"MultiHeadAttention": "mha", "GroupQueryAttention": "gqa"}[holder]
        for sub in HELD_QUANTIZABLE[holder]:
            if sub != "gate":  # only with use_gate: true
                assert f"{name}/{sub}" in quantized, quantized
    assert "td/inner" in quantized, quantized


@pytest.mark.keras
def test_keras_fails_int8_of_an_ellipsis_einsum_dense():
    """MS336's fact: when a Keras release quantizes it, lint should let it through."""
    keras = pytest.importorskip("keras")
    for mode, fails in (("int8", True), ("float8", False)):
        x = keras.Input((3, 4))
        layer = keras.layers.EinsumDense("...b,bc->...c", output_shape=5)
        keras.Model(x, layer(x))
        if fails:
            with pytest.raises(TypeError):
                layer.quantize(mode)
        else:
            layer.quantize(mode)
