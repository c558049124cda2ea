"""GroupQueryAttention and ReversibleEmbedding beyond their shapes (tests/cases/attention.py,
tests/cases/core.py): what lint refuses before Keras would, the name Keras saves the
attention layer under, the seed its dropout gets, and a model using both imported back."""

from __future__ import annotations

import pytest

from modelspec.check import check_text
from modelspec.lower.plan import derive_seed, plan

SPEC = """modelspec: 1
name: lm
seed: 7
inputs:
  ids: {shape: [12], dtype: int32}
layers:
  emb: {type: ReversibleEmbedding, input_dim: 100, output_dim: 16, %s}
  att: {type: GroupQueryAttention, head_dim: 4, num_query_heads: 4, %s}
  out: {type: Dense, units: 3}
graph:
  x: {apply: emb, to: ids}
  y: {apply: att, to: [x, x]}
  z: {apply: out, to: y}
outputs:
  logits: {from: z}
"""


def _spec(emb: str = "tie_weights: false", att: str = "num_key_value_heads: 2") -> str:
    return SPEC % (emb, att)


def _errors(text: str) -> list[str]:
    return [d.format() for d in check_text(text, "lm.yaml").errors]


def test_a_clean_spec_counts_keras_parameters():
    result = check_text(_spec(), "lm.yaml")
    assert result.ok, [d.format() for d in result.diagnostics]
    assert result.shapes is not None
    # Untied: the embeddings and the reverse matrix, 100 x 16 each.
    assert result.shapes.params["emb"] == (3200, 0)
    # query 17*4*4, key and value 17*2*4 each, output 16*16 + 16.
    assert result.shapes.params["att"] == (816, 0)
    assert result.shapes.tensors["y"] == (None, 12, 16)
    tied = check_text(_spec("tie_weights: true"), "lm.yaml")
    assert tied.shapes is not None and tied.shapes.params["emb"] == (1600, 0)


@pytest.mark.parametrize(
    ("emb", "att", "error"),
    [
        ("tie_weights: false", "num_key_value_heads: 0",
         "lm.yaml:8:90: error MS106: `num_key_value_heads` must be >= 1; got 0"),
        ("tie_weights: false", "num_key_value_heads: 2, dropout: 1.5",
         "lm.yaml:8:102: error MS106: `dropout` must be < 1; got 1.5"),
        ("tie_weights: false", "num_key_value_heads: 2, sliding_window: 0",
         "lm.yaml:8:109: error MS104: `sliding_window` must be an integer or null; got 0 (integer)"),
        ("logit_soft_cap: 0", "num_key_value_heads: 2",
         "lm.yaml:7:84: error MS104: `logit_soft_cap` must be a number or null; got 0 (integer)"),
        ("reverse_dtype: int8", "num_key_value_heads: 2",
         "lm.yaml:7:83: error MS105: unknown value 'int8' for `reverse_dtype`"),
    ],
)  # fmt: skip
def test_a_kwarg_keras_would_refuse_is_refused_at_its_line(emb, att, error):
    assert _errors(_spec(emb, att)) == [error]


def test_reverse_dtype_takes_the_float_dtypes():
    for dtype in ("float16", "bfloat16", "float32", "float64"):
        assert check_text(_spec(f"reverse_dtype: {dtype}"), "lm.yaml").ok


def test_query_heads_must_be_a_multiple_of_the_key_value_heads():
    # Keras: "`num_query_heads` must be divisible by `num_key_value_heads`."
    assert _errors(_spec(att="num_key_value_heads: 3")) == [
        "lm.yaml:12:14: error MS304: `GroupQueryAttention` 'att' needs num_query_heads "
        "divisible by num_key_value_heads; got 4 and 3"
    ]


def test_query_and_value_need_the_same_features():
    text = _spec().replace("y: {apply: att, to: [x, x]}", "y: {apply: att, to: [ids2, x]}")
    text = text.replace("  ids: {shape: [12], dtype: int32}",
                        "  ids: {shape: [12], dtype: int32}\n  ids2: {shape: [12, 8]}")  # fmt: skip
    errors = _errors(text)
    assert len(errors) == 1 and "MS303" in errors[0], errors
    assert "query (None, 12, 8) from 'ids2' and value (None, 12, 16) from 'x'" in errors[0]


def test_the_class_name_points_to_the_name_keras_exports():
    result = check_text(_spec().replace("type: GroupQueryAttention", "type: GroupedQueryAttention"),
                        "lm.yaml")  # fmt: skip
    (error,) = result.errors
    assert error.code == "MS105"
    assert "write 'GroupQueryAttention'" in (error.hint or "")


def test_dropout_gets_a_seed_and_no_dropout_none():
    with_dropout = plan(check_text(_spec(att="num_key_value_heads: 2, dropout: 0.1"), "lm.yaml"))
    assert dict(with_dropout.layers["att"].ctor.kwargs)["seed"] == derive_seed(7, "att", "seed")
    without = plan(check_text(_spec(), "lm.yaml"))
    assert "seed" not in dict(without.layers["att"].ctor.kwargs)


# --- against Keras ---------------------------------------------------------------------


@pytest.fixture
def keras_session():
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    return keras


@pytest.mark.keras
def test_a_model_with_both_imports_back_as_the_same_model(keras_session):
    from tests.test_import import assert_imports

    keras = keras_session
    ids = keras.Input((12,), dtype="int32", name="ids")
    memory = keras.Input((7, 5), name="memory")
    x = keras.layers.ReversibleEmbedding(100, 16, tie_weights=False, logit_soft_cap=20.0,
                                         name="emb")(ids)  # fmt: skip
    values = keras.layers.Dense(16, name="values")(memory)
    attention = keras.layers.GroupQueryAttention(
        head_dim=4, num_query_heads=4, num_key_value_heads=1, use_gate=True, name="att"
    )
    y = attention(x, values, memory)
    out = keras.layers.GlobalAveragePooling1D(name="pool")(y)
    model = keras.Model({"ids": ids, "memory": memory}, out, name="lm")
    checked = assert_imports(model)
    layers = checked.spec.layers
    assert layers["att"].type == "GroupQueryAttention"
    assert dict(layers["att"].kwargs) == {
        "head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 1, "use_gate": True
    }  # fmt: skip
    assert dict(layers["emb"].kwargs) == {
        "input_dim": 100, "output_dim": 16, "tie_weights": False, "logit_soft_cap": 20.0
    }  # fmt: skip


@pytest.mark.keras
def test_a_masking_reversible_embedding_in_a_sequential_imports_back(keras_session):
    from tests.test_import import assert_imports

    keras = keras_session
    model = keras.Sequential(
        [
            keras.Input((9,), dtype="int32"),
            keras.layers.ReversibleEmbedding(50, 8, mask_zero=True, reverse_dtype="float16"),
            keras.layers.LSTM(4),
        ],
        name="tagger",
    )
    checked = assert_imports(model)
    (emb,) = [layer for layer in checked.spec.layers.values()
              if layer.type == "ReversibleEmbedding"]  # fmt: skip
    assert emb.kwargs["mask_zero"] is True and emb.kwargs["reverse_dtype"] == "float16"
