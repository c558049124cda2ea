"""The example specs against their Keras references: equal parameters, equal
output shapes per layer, and, with the reference's weights copied in by layer name,
equal outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import modelspec
from modelspec.catalog.ops import OPS
from modelspec.check import check
from modelspec.emit.summary import summary_json

pytestmark = pytest.mark.keras
keras = pytest.importorskip("keras")

SPECS = Path(__file__).resolve().parent.parent / "specs"


# The ops a spec's steps record; Keras adds its own for masks (`NotEqual`).
STEP_OPS = {op.keras_class for op in OPS.values()}


def _compare(spec: Path, reference, batch, *, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    result = check(spec)
    assert result.ok and not result.diagnostics, [d.format() for d in result.diagnostics]
    summary = summary_json(result)
    assert summary["total_params"] == reference.count_params()
    ours = {
        layer["name"]: layer for layer in summary["layers"] if not layer["type"].startswith("ops.")
    }
    theirs = {
        layer.name: layer
        for layer in reference.layers
        if not isinstance(layer, keras.layers.InputLayer)
    }
    assert sorted(ours) == sorted(theirs)
    # Ops are named by Keras's counters, which earlier models in this process moved on:
    # their rows are matched by class and shape.
    our_ops = sorted(
        (layer["type"], str(layer["output_shapes"]))
        for layer in summary["layers"]
        if layer["type"].startswith("ops.")
    )
    their_ops = sorted(
        (f"ops.{type(op).__name__}", str([list(op._inbound_nodes[0].output_tensors[0].shape)]))
        for op in reference.operations
        if not isinstance(op, keras.layers.Layer) and type(op).__name__ in STEP_OPS
    )
    assert [(t.lower().replace("_", ""), s) for t, s in our_ops] == [
        (t.lower().replace("_", ""), s) for t, s in their_ops
    ]
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
    positions = keras.ops.cumsum(keras.ops.ones_like(tokens), axis=1) - 1
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
    return keras.Model(tokens, logits, name="gpt_decoder")


def test_gpt_decoder_is_the_hand_written_decoder():
    rng = np.random.default_rng(2)
    tokens = rng.integers(0, 1000, (2, 64)).astype("int32")
    reference = _decoder_reference()
    _compare(SPECS / "gpt_decoder.yaml", reference, {"tokens": tokens})
    # Causal: changing the last token changes no earlier position's logits.
    model = modelspec.load(SPECS / "gpt_decoder.yaml").to_keras()
    changed = tokens.copy()
    changed[:, -1] = (changed[:, -1] + 1) % 1000
    a = model.predict({"tokens": tokens}, verbose=0)
    b = model.predict({"tokens": changed}, verbose=0)
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
    positions = keras.ops.cumsum(keras.ops.ones_like(tokens), axis=1) - 1
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
    return keras.Model(tokens, logits, name="llama_decoder")


def test_llama_decoder_is_the_hand_written_decoder():
    rng = np.random.default_rng(4)
    tokens = rng.integers(0, 1000, (2, 64)).astype("int32")
    _compare(SPECS / "llama_decoder.yaml", _llama_reference(), {"tokens": tokens})


def _image_classifier_reference(widths: tuple[int, ...] = (32, 64, 128), classes: int = 10):
    """The image classifier spec written by hand, as in the Keras guide "Image
    classification from scratch": augmentation layers first, then the convolutions."""
    layers = keras.layers
    image = keras.Input(shape=(32, 32, 3), name="image")
    x = layers.RandomFlip("horizontal", name="flip")(image)
    x = layers.RandomRotation(0.1, name="rotate")(x)
    x = layers.RandomZoom(0.1, name="zoom")(x)
    x = layers.Rescaling(1 / 255, name="rescale")(x)
    for i, filters in enumerate(widths, 1):
        p = f"features_block{i}_"
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=p + "conv")(x)
        x = layers.BatchNormalization(name=p + "bn")(x)
        x = layers.Activation("relu", name=p + "relu")(x)
        x = layers.MaxPooling2D(name=p + "pool")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    logits = layers.Dense(classes, name="logits")(x)
    return keras.Model(image, logits, name="image_classifier")


def test_image_classifier_is_the_hand_written_classifier():
    reference = _image_classifier_reference()
    rng = np.random.default_rng(5)
    # Batch statistics other than Keras's starting ones, so that inference uses them.
    for layer in reference.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(size=beta.shape),
                               rng.normal(size=mean.shape), rng.uniform(0.5, 2, var.shape)])  # fmt: skip
    batch = rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    _compare(SPECS / "image_classifier.yaml", reference, batch, atol=1e-5)


def test_image_classifier_augments_only_in_training_and_by_its_seed():
    def augmentation():
        model = modelspec.load(SPECS / "image_classifier.yaml").to_keras()
        return keras.Model(model.inputs[0], model.get_layer("rescale").output)

    batch = np.random.default_rng(6).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    first = augmentation()
    # `predict` runs in inference mode: the images are only rescaled.
    np.testing.assert_allclose(first.predict(batch, verbose=0), batch / 255, rtol=1e-6)
    trained = np.asarray(first(batch, training=True))
    assert trained.shape == batch.shape and not np.allclose(trained, batch / 255, atol=1e-3)
    # The spec's seed seeds each random layer: another build draws the same.
    np.testing.assert_array_equal(np.asarray(augmentation()(batch, training=True)), trained)


def test_image_classifier_trains(tmp_path: Path):
    rng = np.random.default_rng(7)
    np.savez(tmp_path / "images.npz", image=rng.integers(0, 256, (16, 32, 32, 3), dtype="uint8"),
             label=rng.integers(0, 10, (16,)))  # fmt: skip
    out = tmp_path / "classifier.keras"
    proc = subprocess.run(
        [sys.executable, "-m", "modelspec", "train", str(SPECS / "image_classifier.yaml"),
         "--data", str(tmp_path / "images.npz"), "--epochs", "1", "--batch-size", "8",
         "--out", str(out)],
        capture_output=True, text=True, cwd=SPECS.parent, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"saved {out}" in proc.stderr
    assert keras.saving.load_model(out).count_params() == 95_210


def _text_classifier_reference(vocabulary: list[str]):
    """The text classifier spec written by hand, its vocabulary given as a list."""
    layers = keras.layers
    review = keras.Input(shape=(), dtype="string", name="review")
    x = layers.TextVectorization(vocabulary=vocabulary, output_sequence_length=40, name="words")(
        review
    )
    x = layers.Embedding(42, 32, mask_zero=True, name="embed")(x)
    x = layers.Bidirectional(layers.GRU(16), name="rnn")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    score = layers.Dense(1, activation="sigmoid", name="score")(x)
    return keras.Model(review, score, name="text_classifier")


def test_text_classifier_is_the_hand_written_classifier():
    vocabulary = (SPECS / "data" / "review_vocab.txt").read_text(encoding="utf-8").splitlines()
    reference = _text_classifier_reference(vocabulary)
    # The spec's vocab_size is the file's words, the padding and the unknown word.
    assert reference.get_layer("words").vocabulary_size() == len(vocabulary) + 2 == 42
    reviews = np.array(["Loved it: a brilliant, moving film!", "The plot was dull. Awful acting.",
                        "not bad", "an unseen word, then the movie"], dtype=object)  # fmt: skip
    _compare(SPECS / "text_classifier.yaml", reference, reviews)
    words = modelspec.load(SPECS / "text_classifier.yaml").to_keras().get_layer("words")
    ids = np.asarray(words(reviews[:1]))[0]
    # Lowercased, punctuation gone, "a" found, padded with zeros to 40 words.
    assert ids[:7].tolist() == [vocabulary.index(w) + 2 for w in
                                ("loved", "it", "a", "brilliant", "moving", "film")] + [0]  # fmt: skip
    assert ids.shape == (40,)


def _tabular_reference():
    """The tabular spec written by hand: one preprocessing layer per column, then an MLP."""
    layers = keras.layers
    inputs = {
        "usage": keras.Input(shape=(3,), name="usage"),
        "age": keras.Input(shape=(1,), name="age"),
        "plan": keras.Input(shape=(1,), dtype="string", name="plan"),
        "country": keras.Input(shape=(1,), dtype="string", name="country"),
        "contract_months": keras.Input(shape=(1,), dtype="int64", name="contract_months"),
        "payment_method": keras.Input(shape=(1,), dtype="int64", name="payment_method"),
    }
    encoded = [
        layers.Normalization(mean=[32.4, 64.8, 1.6], variance=[600.0, 900.0, 2.9],
                             name="scale_usage")(inputs["usage"]),
        layers.Discretization(bin_boundaries=[25, 35, 45, 55, 65], output_mode="one_hot",
                              name="bin_age")(inputs["age"]),
        layers.StringLookup(vocabulary=["basic", "standard", "premium"], output_mode="one_hot",
                            name="look_up_plan")(inputs["plan"]),
        layers.Hashing(16, output_mode="one_hot", name="hash_country")(inputs["country"]),
        layers.IntegerLookup(vocabulary=[1, 12, 24], output_mode="one_hot",
                             name="look_up_contract")(inputs["contract_months"]),
        layers.CategoryEncoding(4, output_mode="one_hot",
                                name="encode_payment")(inputs["payment_method"]),
    ]  # fmt: skip
    x = layers.Concatenate(name="features")(encoded)
    x = layers.Dense(32, activation="relu", name="hidden_1")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    x = layers.Dense(16, activation="relu", name="hidden_2")(x)
    churned = layers.Dense(1, activation="sigmoid", name="churned")(x)
    return keras.Model(inputs, churned, name="tabular_model")


def test_tabular_model_is_the_hand_written_model():
    rng = np.random.default_rng(8)
    n = 6
    columns = {
        "usage": np.stack([rng.integers(1, 72, n), rng.uniform(20, 120, n),
                           rng.integers(0, 6, n)], axis=1).astype("float32"),
        "age": rng.uniform(18, 80, (n, 1)).astype("float32"),
        # "enterprise" and a 6-month contract are out of vocabulary.
        "plan": rng.choice(["basic", "standard", "premium", "enterprise"], (n, 1)),
        "country": rng.choice(["FR", "DE", "JP", "BR", "NZ"], (n, 1)),
        "contract_months": rng.choice([1, 6, 12, 24], (n, 1)).astype("int64"),
        "payment_method": rng.integers(0, 4, (n, 1)).astype("int64"),
    }  # fmt: skip
    # A model of several inputs takes strings as tensors, and then all its inputs alike.
    batch = {k: keras.ops.convert_to_tensor(v) for k, v in columns.items()}
    _compare(SPECS / "tabular_model.yaml", _tabular_reference(), batch)
    lookup = modelspec.load(SPECS / "tabular_model.yaml").to_keras().get_layer("look_up_plan")
    onehot = np.asarray(lookup(keras.ops.convert_to_tensor([["enterprise"], ["premium"]])))
    assert onehot.tolist() == [[1, 0, 0, 0], [0, 0, 0, 1]]  # unknown first, then the list
