"""The composed example specs against their Keras references: equal parameters, equal
output shapes per layer, and, with the reference's weights copied in by layer name,
equal outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import modelspec
from modelspec.check import check
from modelspec.emit.summary import summary_json

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

SPECS = Path(__file__).resolve().parent.parent / "specs"


def _compare(spec: Path, reference, batch, *, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    result = check(spec)
    assert result.ok and not result.diagnostics, [d.format() for d in result.diagnostics]
    summary = summary_json(result)
    assert summary["total_params"] == reference.count_params()
    ours = {layer["name"]: layer for layer in summary["layers"]}
    theirs = {
        layer.name: layer
        for layer in reference.layers
        if not isinstance(layer, keras.layers.InputLayer)
    }
    assert sorted(ours) == sorted(theirs)
    for name, layer in theirs.items():
        assert ours[name]["params"] == layer.count_params(), name
        shapes = [
            [list(t.shape) for t in node.output_tensors]
            if len(node.output_tensors) > 1
            else list(node.output_tensors[0].shape)
            for node in layer._inbound_nodes
        ]
        assert ours[name]["output_shapes"] == shapes, name
    model = modelspec.load(spec).to_keras()
    for layer in reference.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())
    expected = reference.predict(batch, verbose=0)
    got = model.predict(batch, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def test_resnet50_is_keras_applications_resnet50():
    reference = keras.applications.ResNet50(weights=None)
    batch = np.random.default_rng(0).uniform(-1, 1, (2, 224, 224, 3)).astype("float32")
    # Softmax over 1,000 classes gives values near 1e-3: compare relative to them.
    _compare(SPECS / "resnet50.yaml", reference, batch, rtol=1e-4, atol=1e-7)
    assert reference.name == check(SPECS / "resnet50.yaml").spec.name == "resnet50"


def _encoder_reference(depth: int = 2, d_model: int = 64, heads: int = 4, ff: int = 128):
    """The transformer spec's model written by hand, the way the Keras guides do."""
    layers = keras.layers
    tokens = keras.Input(shape=(32,), dtype="int32", name="tokens")
    x = layers.Embedding(1000, d_model, name="embedding")(tokens)
    for i in range(1, depth + 1):
        p = f"encoder_block{i}_"
        att = layers.MultiHeadAttention(heads, d_model // heads, name=p + "attention")(x, x)
        att = layers.Dropout(0.1, name=p + "attention_dropout")(att)
        x = layers.LayerNormalization(epsilon=1e-6, name=p + "attention_norm")(
            layers.Add(name=p + "attention_add")([x, att])
        )
        f = layers.Dense(ff, activation="relu", name=p + "ffn_1")(x)
        f = layers.Dropout(0.1, name=p + "ffn_dropout")(layers.Dense(d_model, name=p + "ffn_2")(f))
        x = layers.LayerNormalization(epsilon=1e-6, name=p + "ffn_norm")(
            layers.Add(name=p + "ffn_add")([x, f])
        )
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    out = layers.Dense(2, activation="softmax", name="classifier")(x)
    return keras.Model(tokens, out, name="transformer_encoder")


def test_transformer_encoder_is_the_hand_written_encoder():
    batch = np.random.default_rng(1).integers(0, 1000, (4, 32)).astype("int32")
    _compare(SPECS / "transformer_encoder.yaml", _encoder_reference(), batch)


def _siamese_reference():
    """The siamese spec's model as Keras users write it: the tower is a nested model
    called on both inputs."""
    layers = keras.layers
    tower = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(16, 3, activation="relu", name="conv1"),
            layers.MaxPooling2D(name="pool1"),
            layers.Conv2D(32, 3, activation="relu", name="conv2"),
            layers.GlobalAveragePooling2D(name="pool2"),
            layers.Dense(64, name="fc"),
        ],
        name="tower",
    )
    left = keras.Input(shape=(28, 28, 1), name="left")
    right = keras.Input(shape=(28, 28, 1), name="right")
    diff = layers.Subtract(name="difference")([tower(left), tower(right)])
    out = layers.Dense(1, activation="sigmoid", name="same")(diff)
    return keras.Model([left, right], out, name="siamese"), tower


def test_siamese_shares_one_tower_as_the_nested_keras_model_does():
    reference, tower = _siamese_reference()
    result = check(SPECS / "siamese.yaml")
    assert result.ok and not result.diagnostics
    summary = summary_json(result)
    assert summary["total_params"] == reference.count_params()
    rows = {row["name"]: row for row in summary["layers"]}
    assert (rows["left_tower"]["type"], rows["left_tower"]["params"]) == (
        "Sequential",
        tower.count_params(),
    )
    model = modelspec.load(SPECS / "siamese.yaml").to_keras()
    # One nested tower model, called on both images: its weights count once.
    ours = model.get_layer("left_tower")
    assert len(ours._inbound_nodes) == 2
    assert [layer.name for layer in ours.layers] == [layer.name for layer in tower.layers]
    ours.set_weights(tower.get_weights())
    model.get_layer("same").set_weights(reference.get_layer("same").get_weights())
    rng = np.random.default_rng(2)
    batch = {
        "left": rng.uniform(0, 1, (3, 28, 28, 1)).astype("float32"),
        "right": rng.uniform(0, 1, (3, 28, 28, 1)).astype("float32"),
    }
    expected = reference.predict([batch["left"], batch["right"]], verbose=0)
    np.testing.assert_allclose(model.predict(batch, verbose=0), expected, rtol=1e-5, atol=1e-6)


def _decoder_reference(depth: int = 2, d_model: int = 64, heads: int = 4, seq_len: int = 64):
    """The GPT spec's model written by hand: pre-norm blocks, causal self-attention."""
    layers = keras.layers
    tokens = keras.Input(shape=(seq_len,), dtype="int32", name="tokens")
    positions = keras.Input(shape=(seq_len,), dtype="int32", name="positions")
    x = layers.Add(name="embed")(
        [
            layers.Embedding(1000, d_model, name="token_embedding")(tokens),
            layers.Embedding(seq_len, d_model, name="position_embedding")(positions),
        ]
    )
    for i in range(1, depth + 1):
        p = f"decoder_block{i}_"
        h = layers.LayerNormalization(epsilon=1e-5, name=p + "attention_norm")(x)
        mha = layers.MultiHeadAttention(heads, d_model // heads, dropout=0.1, name=p + "attention")
        x = layers.Add(name=p + "attention_add")([x, mha(h, h, use_causal_mask=True)])
        f = layers.LayerNormalization(epsilon=1e-5, name=p + "ffn_norm")(x)
        f = layers.Dense(4 * d_model, activation="gelu", name=p + "ffn_1")(f)
        f = layers.Dropout(0.1, name=p + "ffn_dropout")(layers.Dense(d_model, name=p + "ffn_2")(f))
        x = layers.Add(name=p + "ffn_add")([x, f])
    x = layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    logits = layers.Dense(1000, name="lm_head")(x)
    return keras.Model([tokens, positions], logits, name="gpt_decoder")


def test_gpt_decoder_is_the_hand_written_decoder():
    rng = np.random.default_rng(2)
    tokens = rng.integers(0, 1000, (2, 64)).astype("int32")
    positions = np.tile(np.arange(64, dtype="int32"), (2, 1))
    reference = _decoder_reference()
    _compare(SPECS / "gpt_decoder.yaml", reference, {"tokens": tokens, "positions": positions})
    # Causal: changing the last token changes no earlier position's logits.
    model = modelspec.load(SPECS / "gpt_decoder.yaml").to_keras()
    changed = tokens.copy()
    changed[:, -1] = (changed[:, -1] + 1) % 1000
    a = model.predict({"tokens": tokens, "positions": positions}, verbose=0)
    b = model.predict({"tokens": changed, "positions": positions}, verbose=0)
    np.testing.assert_allclose(a[:, :-1], b[:, :-1], atol=1e-5)
    assert not np.allclose(a[:, -1], b[:, -1])


def test_seq2seq_decoder_starts_from_the_encoders_states():
    layers = keras.layers
    source = keras.Input(shape=(10, 8), name="source")
    target = keras.Input(shape=(12, 8), name="target")
    _, h, c = layers.LSTM(16, return_state=True, name="encoder")(source)
    decoded = layers.LSTM(16, return_sequences=True, name="decoder")(target, initial_state=[h, c])
    reference = keras.Model([source, target], layers.Dense(8, name="dense")(decoded))
    rng = np.random.default_rng(3)
    batch = {"source": rng.normal(size=(2, 10, 8)).astype("float32"),
             "target": rng.normal(size=(2, 12, 8)).astype("float32")}  # fmt: skip
    _compare(SPECS / "seq2seq.yaml", reference, batch)


def _llama_reference(depth: int = 2, d_model: int = 64, seq_len: int = 64, ffn: int = 172):
    """The Llama spec's model written by hand: RMSNorm, grouped-query attention, SwiGLU."""
    layers = keras.layers
    tokens = keras.Input(shape=(seq_len,), dtype="int32", name="tokens")
    positions = keras.Input(shape=(seq_len,), dtype="int32", name="positions")
    x = layers.Add(name="embed")(
        [
            layers.Embedding(1000, d_model, name="token_embedding")(tokens),
            layers.Embedding(seq_len, d_model, name="position_embedding")(positions),
        ]
    )
    for i in range(1, depth + 1):
        p = f"decoder_block{i}_"
        h = layers.RMSNormalization(epsilon=1e-5, name=p + "attention_norm")(x)
        gqa = layers.GroupQueryAttention(d_model // 8, 8, 2, use_bias=False, name=p + "attention")
        x = layers.Add(name=p + "attention_add")([x, gqa(h, h, use_causal_mask=True)])
        f = layers.RMSNormalization(epsilon=1e-5, name=p + "ffn_norm")(x)
        g = layers.Dense(ffn, activation="silu", use_bias=False, name=p + "gate")(f)
        u = layers.Dense(ffn, use_bias=False, name=p + "up")(f)
        gated = layers.Multiply(name=p + "gated")([g, u])
        down = layers.Dense(d_model, use_bias=False, name=p + "down")(gated)
        x = layers.Add(name=p + "ffn_add")([x, down])
    x = layers.RMSNormalization(epsilon=1e-5, name="final_norm")(x)
    logits = layers.Dense(1000, use_bias=False, name="lm_head")(x)
    return keras.Model([tokens, positions], logits, name="llama_decoder")


def test_llama_decoder_is_the_hand_written_decoder():
    rng = np.random.default_rng(4)
    tokens = rng.integers(0, 1000, (2, 64)).astype("int32")
    positions = np.tile(np.arange(64, dtype="int32"), (2, 1))
    _compare(SPECS / "llama_decoder.yaml", _llama_reference(),
             {"tokens": tokens, "positions": positions})  # fmt: skip
