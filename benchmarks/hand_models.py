"""The benchmark's reference models, written by hand in plain Keras.

Each function builds and compiles the model a spec describes, the way a person
would write it without modelspec: ``benchmarks/build_bench.py`` times them against
``SpecModel.to_keras()`` and against the module ``modelspec build`` generates, and
checks first that all three give the same ``get_config()`` (and, for seeded specs,
the same initial weights).

Sequential models come in the two ways the Keras guide shows: the layers passed to
``keras.Sequential([...])`` (``*_list``), and ``model.add()`` one layer at a time
(``*_add``). Keras 3 rebuilds a Sequential model after every ``add()`` once it knows
its input shape, so the second way calls every layer again on each add:
n (n + 1) / 2 layer calls for n layers instead of n.

The seeds are the ones modelspec derives from the spec's ``seed:`` (see
``modelspec.lower.plan.derive_seed``), copied as literals, as someone would who wants the
same starting weights. Keras imports on first use.
"""

from __future__ import annotations

from typing import Any


def _keras() -> Any:
    import keras

    return keras


# --- specs/seed_001_mlp.yaml ------------------------------------------------------------


def _mlp_layers() -> list[Any]:
    keras = _keras()
    glorot = keras.initializers.GlorotUniform
    return [
        keras.Input(shape=(4096,), name="features"),
        keras.layers.Dense(256, activation="sigmoid",
                           kernel_initializer=glorot(seed=1928101001), name="dense"),
        keras.layers.Dense(256, activation="sigmoid",
                           kernel_initializer=glorot(seed=809524362), name="dense_1"),
        keras.layers.Dense(256, activation="sigmoid",
                           kernel_initializer=glorot(seed=182683736), name="dense_2"),
        keras.layers.Dense(200, activation="sigmoid",
                           kernel_initializer=glorot(seed=1360981754), name="dense_3"),
    ]  # fmt: skip


def _mlp_compile(model: Any) -> Any:
    model.compile(optimizer=_keras().optimizers.Adam(learning_rate=0.01), loss="mse")
    return model


def mlp_list() -> Any:
    """The 4096 -> 256 -> 256 -> 256 -> 200 sigmoid MLP, ``Sequential([...])``."""
    return _mlp_compile(_keras().Sequential(_mlp_layers(), name="mlp"))


def mlp_add() -> Any:
    """The same MLP, one ``model.add()`` per layer."""
    model = _keras().Sequential(name="mlp")
    for layer in _mlp_layers():
        model.add(layer)
    return _mlp_compile(model)


# --- specs/seed_002_conv_lstm.yaml ------------------------------------------------------


def _conv_lstm_layers() -> list[Any]:
    keras = _keras()
    glorot, orthogonal = keras.initializers.GlorotUniform, keras.initializers.Orthogonal
    return [
        keras.Input(shape=(30, 2), name="window"),
        keras.layers.Conv1D(4, 7, activation="relu",
                            kernel_initializer=glorot(seed=693177606), name="conv1d"),
        keras.layers.Conv1D(6, 11, activation="relu",
                            kernel_initializer=glorot(seed=192200802), name="conv1d_1"),
        keras.layers.LSTM(100, return_sequences=True, activation="relu",
                          kernel_initializer=glorot(seed=1580984084),
                          recurrent_initializer=orthogonal(seed=600153883), name="lstm"),
        keras.layers.Dropout(0.2, seed=1965448431, name="dropout"),
        keras.layers.LSTM(100, activation="relu",
                          kernel_initializer=glorot(seed=218877744),
                          recurrent_initializer=orthogonal(seed=1072351350), name="lstm_1"),
        keras.layers.Dense(2, activation="relu",
                           kernel_initializer=glorot(seed=42669442), name="dense"),
        keras.layers.Reshape((1, 2), name="reshape"),
    ]  # fmt: skip


def _conv_lstm_compile(model: Any) -> Any:
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


def conv_lstm_list() -> Any:
    """Conv1D, Conv1D, LSTM, Dropout, LSTM, Dense, Reshape, ``Sequential([...])``."""
    return _conv_lstm_compile(_keras().Sequential(_conv_lstm_layers(), name="conv_lstm"))


def conv_lstm_add() -> Any:
    """The same stack, one ``model.add()`` per layer."""
    model = _keras().Sequential(name="conv_lstm")
    for layer in _conv_lstm_layers():
        model.add(layer)
    return _conv_lstm_compile(model)


# --- specs/seed_000_shared_tower.yaml ---------------------------------------------------


def shared_tower() -> Any:
    """One tower of layers applied to two inputs (shared weights), two weighted losses."""
    keras = _keras()
    glorot = keras.initializers.GlorotUniform
    labeled_1 = keras.Input(shape=(None,), dtype="int32", name="labeled_1")
    labeled_2 = keras.Input(shape=(None,), dtype="int32", name="labeled_2")
    tower = [
        keras.layers.Embedding(100000, 500, mask_zero=True, name="emb",
                               embeddings_initializer=keras.initializers.RandomUniform(seed=1166171126)),
        keras.layers.GlobalAveragePooling1D(name="avg"),
        keras.layers.Dense(200, activation="relu", kernel_initializer=glorot(seed=1708287380),
                           name="dense1"),
        keras.layers.Dropout(0.5, seed=789528236, name="do1"),
        keras.layers.Dense(200, activation="relu", kernel_initializer=glorot(seed=714574107),
                           name="dense2"),
        keras.layers.Dropout(0.5, seed=180912593, name="do2"),
        keras.layers.Dense(5, activation="softmax", kernel_initializer=glorot(seed=373475156),
                           name="densef"),
    ]  # fmt: skip
    t1, t2 = labeled_1, labeled_2
    for layer in tower:
        t1 = layer(t1)
    for layer in tower:
        t2 = layer(t2)
    model = keras.Model(
        inputs={"labeled_1": labeled_1, "labeled_2": labeled_2},
        outputs={"lab_1": t1, "lab_2": t2},
        name="shared_tower",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.001),
        loss={"lab_1": "categorical_crossentropy", "lab_2": "categorical_crossentropy"},
        loss_weights={"lab_1": 0.5, "lab_2": 0.5},
    )
    return model


# --- specgen.dense_chain(n): n Dense layers in a loop -----------------------------------
# No seed in that spec, so Keras's default initializers and Keras's automatic layer
# names (dense, dense_1, ...; the same as modelspec's after keras.backend.clear_session()).


def _chain_compile(model: Any) -> Any:
    keras = _keras()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss="sparse_categorical_crossentropy")  # fmt: skip
    return model


def dense_chain_list(n: int = 200, units: int = 64, classes: int = 10) -> Any:
    """``n`` Dense layers, ``Sequential([...])`` from a comprehension."""
    keras = _keras()
    layers = [keras.layers.Dense(units, activation="relu") for _ in range(n - 1)]
    layers.append(keras.layers.Dense(classes, activation="softmax"))
    model = keras.Sequential([keras.Input(shape=(units,), name="x"), *layers],
                             name=f"dense_chain_{n}")  # fmt: skip
    return _chain_compile(model)


def dense_chain_add(n: int = 200, units: int = 64, classes: int = 10) -> Any:
    """``n`` Dense layers, ``model.add()`` in a loop."""
    keras = _keras()
    model = keras.Sequential(name=f"dense_chain_{n}")
    model.add(keras.Input(shape=(units,), name="x"))
    for _ in range(n - 1):
        model.add(keras.layers.Dense(units, activation="relu"))
    model.add(keras.layers.Dense(classes, activation="softmax"))
    return _chain_compile(model)


def dense_chain_functional(n: int = 200, units: int = 64, classes: int = 10) -> Any:
    """``n`` Dense layers, Functional: ``x = Dense(...)(x)`` in a loop."""
    keras = _keras()
    inputs = keras.Input(shape=(units,), name="x")
    x = inputs
    for _ in range(n - 1):
        x = keras.layers.Dense(units, activation="relu")(x)
    outputs = keras.layers.Dense(classes, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name=f"dense_chain_{n}")
    return _chain_compile(model)


# --- specs/example_circles.yaml ---------------------------------------------------------


def circles() -> Any:
    """Two ReLU layers of 16 and a sigmoid unit, on points of 2 coordinates."""
    keras = _keras()
    glorot = keras.initializers.GlorotUniform
    model = keras.Sequential([
        keras.Input(shape=(2,), name="point"),
        keras.layers.Dense(16, activation="relu", kernel_initializer=glorot(seed=1928101001),
                           name="dense"),
        keras.layers.Dense(16, activation="relu", kernel_initializer=glorot(seed=809524362),
                           name="dense_1"),
        keras.layers.Dense(1, activation="sigmoid", kernel_initializer=glorot(seed=182683736),
                           name="dense_2"),
    ], name="circles")  # fmt: skip
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                  loss="binary_crossentropy", metrics=["accuracy"])  # fmt: skip
    return model


# --- specs/seed_003_multitask.yaml (no seed: Keras's own initial weights) -----------------


def multitask() -> Any:
    """An LSTM and a shared Dense, then two Dense(1) heads, each with its own loss."""
    keras = _keras()
    series = keras.Input(shape=(10, 2), name="series")
    features = keras.layers.LSTM(32, name="lstm")(series)
    features = keras.layers.Dense(8, name="shared")(features)
    out_1 = keras.layers.Dense(1, name="head_1")(features)
    out_2 = keras.layers.Dense(1, name="head_2")(features)
    model = keras.Model(series, {"task_1": out_1, "task_2": out_2}, name="multitask")
    model.compile(optimizer="adam", loss={"task_1": "mse", "task_2": "mse"},
                  loss_weights={"task_1": 1.0, "task_2": 1.0})  # fmt: skip
    return model


# --- specs/seed_004_branches.yaml -------------------------------------------------------


def branches() -> Any:
    """Two Dense branches concatenated, added to an embedding branch, two heads."""
    keras = _keras()
    layers, glorot = keras.layers, keras.initializers.GlorotUniform
    x_left = keras.Input(shape=(10,), name="x_left")
    x_right = keras.Input(shape=(20,), name="x_right")
    x_embed = keras.Input(shape=(1,), dtype="int32", name="x_embed")
    left = layers.Dense(64, kernel_initializer=glorot(seed=346163735), name="left_1")(x_left)
    left = layers.Dense(64, kernel_initializer=glorot(seed=1894163984), name="left_2")(left)
    right = layers.Dense(64, kernel_initializer=glorot(seed=1227994303), name="right_1")(x_right)
    inter = layers.Concatenate(name="concat")([left, right])
    inter = layers.Dense(128, kernel_initializer=glorot(seed=646616915), name="inter")(inter)
    far_right = layers.Embedding(
        10000, 128, embeddings_initializer=keras.initializers.RandomUniform(seed=2051427043),
        name="embed")(x_embed)  # fmt: skip
    far_right = layers.Flatten(name="flat")(far_right)
    merged = layers.Add(name="sum")([inter, far_right])
    merged = layers.Dense(128, activation="relu", kernel_initializer=glorot(seed=1916076494),
                          name="trunk")(merged)  # fmt: skip
    a = layers.Dense(64, kernel_initializer=glorot(seed=1520280936), name="head_a")(merged)
    b = layers.Dense(1, activation="sigmoid", kernel_initializer=glorot(seed=837938994),
                     name="head_b")(merged)  # fmt: skip
    model = keras.Model({"x_left": x_left, "x_right": x_right, "x_embed": x_embed},
                        {"out_a": a, "out_b": b}, name="branches")  # fmt: skip
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        loss={"out_a": "mse", "out_b": "binary_crossentropy"},
        loss_weights={"out_a": 0.3, "out_b": 0.7},
        metrics={"out_b": ["accuracy"]},
    )
    return model


# --- specs/seq2seq.yaml -----------------------------------------------------------------


def seq2seq() -> Any:
    """An LSTM encoder whose final states start an LSTM decoder, a Dense per step."""
    keras = _keras()
    glorot, orthogonal = keras.initializers.GlorotUniform, keras.initializers.Orthogonal
    source = keras.Input(shape=(10, 8), name="source")
    target = keras.Input(shape=(12, 8), name="target")
    _, h, c = keras.layers.LSTM(16, return_state=True, kernel_initializer=glorot(seed=743221174),
                                recurrent_initializer=orthogonal(seed=1881329767),
                                name="encoder")(source)  # fmt: skip
    decoded = keras.layers.LSTM(16, return_sequences=True,
                                kernel_initializer=glorot(seed=635069313),
                                recurrent_initializer=orthogonal(seed=1646350119),
                                name="decoder")(target, initial_state=[h, c])  # fmt: skip
    next_step = keras.layers.Dense(8, kernel_initializer=glorot(seed=1630683700),
                                   name="dense")(decoded)  # fmt: skip
    model = keras.Model({"source": source, "target": target}, next_step, name="seq2seq")
    model.compile(optimizer="adam", loss="mse")
    return model


# --- specs/siamese.yaml -----------------------------------------------------------------


def siamese() -> Any:
    """One convolutional tower, a nested model called on both images, and a head."""
    keras = _keras()
    glorot = keras.initializers.GlorotUniform
    tower = keras.Sequential([
        keras.Input(shape=(28, 28, 1), name="image"),
        keras.layers.Conv2D(16, 3, activation="relu", kernel_initializer=glorot(seed=1681800213),
                            name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(32, 3, activation="relu", kernel_initializer=glorot(seed=103794006),
                            name="conv2"),
        keras.layers.GlobalAveragePooling2D(name="pool2"),
        keras.layers.Dense(64, kernel_initializer=glorot(seed=2095652392), name="fc"),
    ], name="left_tower")  # fmt: skip
    left = keras.Input(shape=(28, 28, 1), name="left")
    right = keras.Input(shape=(28, 28, 1), name="right")
    difference = keras.layers.Subtract(name="difference")([tower(left), tower(right)])
    same = keras.layers.Dense(1, activation="sigmoid", kernel_initializer=glorot(seed=955693083),
                              name="same")(difference)  # fmt: skip
    model = keras.Model({"left": left, "right": right}, same, name="siamese")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss="binary_crossentropy", metrics=["accuracy"])  # fmt: skip
    return model


# --- specs/transformer_encoder.yaml -----------------------------------------------------


def transformer_encoder() -> Any:
    """Token embeddings, two post-norm encoder blocks, mean pooling, a softmax of 2."""
    keras = _keras()
    layers, glorot = keras.layers, keras.initializers.GlorotUniform
    # Per block: attention kernel, attention dropout, ffn_1, ffn_2, ffn dropout.
    block_seeds = [(1474125518, 1756135338, 1780510437, 511019761, 314617444),
                   (876106514, 1078300601, 1276854445, 155850100, 361595752)]  # fmt: skip
    tokens = keras.Input(shape=(32,), dtype="int32", name="tokens")
    x = layers.Embedding(1000, 64, name="embedding",
                         embeddings_initializer=keras.initializers.RandomUniform(seed=213508791))(
        tokens)  # fmt: skip
    for i, (s_att, s_drop, s_ffn1, s_ffn2, s_ffn_drop) in enumerate(block_seeds, start=1):
        name = f"encoder_block{i}"
        attended = layers.MultiHeadAttention(4, 16, kernel_initializer=glorot(seed=s_att),
                                             name=f"{name}_attention")(x, x)  # fmt: skip
        attended = layers.Dropout(0.1, seed=s_drop, name=f"{name}_attention_dropout")(attended)
        mixed = layers.Add(name=f"{name}_attention_add")([x, attended])
        mixed = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_attention_norm")(mixed)
        fed = layers.Dense(128, activation="relu", kernel_initializer=glorot(seed=s_ffn1),
                           name=f"{name}_ffn_1")(mixed)  # fmt: skip
        fed = layers.Dense(64, kernel_initializer=glorot(seed=s_ffn2), name=f"{name}_ffn_2")(fed)
        fed = layers.Dropout(0.1, seed=s_ffn_drop, name=f"{name}_ffn_dropout")(fed)
        x = layers.Add(name=f"{name}_ffn_add")([mixed, fed])
        x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ffn_norm")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    label = layers.Dense(2, activation="softmax", kernel_initializer=glorot(seed=1951822869),
                         name="classifier")(x)  # fmt: skip
    model = keras.Model(tokens, label, name="transformer_encoder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])  # fmt: skip
    return model


# --- specs/gpt_decoder.yaml and specs/llama_decoder.yaml --------------------------------


def _positions(tokens: Any) -> Any:
    """0, 1, ..., seq_len - 1 for each sequence, counted from the tokens."""
    ops = _keras().ops
    return ops.subtract(ops.cumsum(ops.ones_like(tokens), axis=1), 1)


def gpt_decoder() -> Any:
    """Token and position embeddings, two pre-norm causal decoder blocks, a vocabulary head."""
    keras = _keras()
    layers, glorot = keras.layers, keras.initializers.GlorotUniform
    uniform = keras.initializers.RandomUniform
    # Per block: attention kernel, attention dropout, ffn_1, ffn_2, ffn dropout.
    block_seeds = [(1167915050, 351673531, 324392204, 117031825, 1263616290),
                   (1167441181, 5503626, 383439169, 689627629, 1616012115)]  # fmt: skip
    tokens = keras.Input(shape=(64,), dtype="int32", name="tokens")
    positions = _positions(tokens)
    token_vectors = layers.Embedding(1000, 64, embeddings_initializer=uniform(seed=557698301),
                                     name="token_embedding")(tokens)  # fmt: skip
    position_vectors = layers.Embedding(64, 64, embeddings_initializer=uniform(seed=2096367444),
                                        name="position_embedding")(positions)  # fmt: skip
    x = layers.Add(name="embed")([token_vectors, position_vectors])
    for i, (s_att, s_att_drop, s_ffn1, s_ffn2, s_ffn_drop) in enumerate(block_seeds, start=1):
        name = f"decoder_block{i}"
        normed = layers.LayerNormalization(epsilon=1e-5, name=f"{name}_attention_norm")(x)
        attended = layers.MultiHeadAttention(
            4, 16, dropout=0.1, kernel_initializer=glorot(seed=s_att), seed=s_att_drop,
            name=f"{name}_attention")(normed, normed, use_causal_mask=True)  # fmt: skip
        mixed = layers.Add(name=f"{name}_attention_add")([x, attended])
        fed = layers.LayerNormalization(epsilon=1e-5, name=f"{name}_ffn_norm")(mixed)
        fed = layers.Dense(256, activation="gelu", kernel_initializer=glorot(seed=s_ffn1),
                           name=f"{name}_ffn_1")(fed)  # fmt: skip
        fed = layers.Dense(64, kernel_initializer=glorot(seed=s_ffn2), name=f"{name}_ffn_2")(fed)
        fed = layers.Dropout(0.1, seed=s_ffn_drop, name=f"{name}_ffn_dropout")(fed)
        x = layers.Add(name=f"{name}_ffn_add")([mixed, fed])
    x = layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    logits = layers.Dense(1000, kernel_initializer=glorot(seed=669458382), name="lm_head")(x)
    model = keras.Model(tokens, logits, name="gpt_decoder")
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=0.0003),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["sparse_categorical_accuracy"])  # fmt: skip
    return model


def llama_decoder() -> Any:
    """Two pre-norm blocks of RMS normalization, grouped-query causal attention and a
    SwiGLU network, no biases; a learned position embedding; a vocabulary head."""
    keras = _keras()
    layers, glorot = keras.layers, keras.initializers.GlorotUniform
    uniform = keras.initializers.RandomUniform
    # Per block: attention kernel, gate, up, down.
    block_seeds = [(17917138, 367642670, 1654946689, 1264296493),
                   (2090982973, 565341081, 184812657, 1556237577)]  # fmt: skip
    tokens = keras.Input(shape=(64,), dtype="int32", name="tokens")
    token_vectors = layers.Embedding(1000, 64, embeddings_initializer=uniform(seed=459060190),
                                     name="token_embedding")(tokens)  # fmt: skip
    position_vectors = layers.Embedding(64, 64, embeddings_initializer=uniform(seed=1669108923),
                                        name="position_embedding")(_positions(tokens))  # fmt: skip
    x = layers.Add(name="embed")([token_vectors, position_vectors])
    for i, (s_att, s_gate, s_up, s_down) in enumerate(block_seeds, start=1):
        name = f"decoder_block{i}"
        normed = layers.RMSNormalization(epsilon=1e-5, name=f"{name}_attention_norm")(x)
        attended = layers.GroupQueryAttention(
            head_dim=8, num_query_heads=8, num_key_value_heads=2, use_bias=False,
            kernel_initializer=glorot(seed=s_att), name=f"{name}_attention",
        )(normed, normed, use_causal_mask=True)  # fmt: skip
        mixed = layers.Add(name=f"{name}_attention_add")([x, attended])
        ffn_in = layers.RMSNormalization(epsilon=1e-5, name=f"{name}_ffn_norm")(mixed)
        g = layers.Dense(172, activation="silu", use_bias=False,
                         kernel_initializer=glorot(seed=s_gate), name=f"{name}_gate")(ffn_in)  # fmt: skip
        u = layers.Dense(172, use_bias=False, kernel_initializer=glorot(seed=s_up),
                         name=f"{name}_up")(ffn_in)  # fmt: skip
        fed = layers.Multiply(name=f"{name}_gated")([g, u])
        fed = layers.Dense(64, use_bias=False, kernel_initializer=glorot(seed=s_down),
                           name=f"{name}_down")(fed)  # fmt: skip
        x = layers.Add(name=f"{name}_ffn_add")([mixed, fed])
    x = layers.RMSNormalization(epsilon=1e-5, name="final_norm")(x)
    logits = layers.Dense(1000, use_bias=False, kernel_initializer=glorot(seed=2006906824),
                          name="lm_head")(x)  # fmt: skip
    model = keras.Model(tokens, logits, name="llama_decoder")
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=0.0003),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    return model


# --- specs/image_classifier.yaml --------------------------------------------------------


def image_classifier() -> Any:
    """Random flips, rotations and zooms, three conv blocks, global pooling, 10 logits."""
    keras = _keras()
    layers, glorot = keras.layers, keras.initializers.GlorotUniform
    blocks = []
    for i, (filters, seed) in enumerate(((32, 563566680), (64, 1604302574), (128, 581655395)),
                                        start=1):  # fmt: skip
        blocks += [
            layers.Conv2D(filters, 3, padding="same", use_bias=False,
                          kernel_initializer=glorot(seed=seed), name=f"features_block{i}_conv"),
            layers.BatchNormalization(name=f"features_block{i}_bn"),
            layers.Activation("relu", name=f"features_block{i}_relu"),
            layers.MaxPooling2D(name=f"features_block{i}_pool"),
        ]  # fmt: skip
    model = keras.Sequential([
        keras.Input(shape=(32, 32, 3), name="image"),
        layers.RandomFlip("horizontal", seed=1010788927, name="flip"),
        layers.RandomRotation(0.1, seed=1434250883, name="rotate"),
        layers.RandomZoom(0.1, seed=770231151, name="zoom"),
        layers.Rescaling(1 / 255, name="rescale"),
        *blocks,
        layers.GlobalAveragePooling2D(name="pool"),
        layers.Dropout(0.3, seed=915046410, name="dropout"),
        layers.Dense(10, kernel_initializer=glorot(seed=945978811), name="logits"),
    ], name="image_classifier")  # fmt: skip
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])  # fmt: skip
    return model


# --- specs/text_classifier.yaml (TensorFlow only: string inputs) ------------------------


def text_classifier() -> Any:
    """Raw text -> TextVectorization -> Embedding (masked) -> bidirectional GRU -> score."""
    from pathlib import Path

    keras = _keras()
    layers, glorot = keras.layers, keras.initializers.GlorotUniform
    vocab_file = Path(__file__).resolve().parent.parent / "specs" / "data" / "review_vocab.txt"
    vocabulary = tuple(vocab_file.read_text(encoding="utf-8").split())
    gru = layers.GRU(16, kernel_initializer=glorot(seed=570916179),
                     recurrent_initializer=keras.initializers.Orthogonal(seed=1772731769),
                     name="gru")  # fmt: skip
    model = keras.Sequential([
        keras.Input(shape=(), dtype="string", name="review"),
        layers.TextVectorization(vocabulary=vocabulary, output_sequence_length=40, name="words"),
        layers.Embedding(42, 32, mask_zero=True, name="embed",
                         embeddings_initializer=keras.initializers.RandomUniform(seed=1924692649)),
        layers.Bidirectional(gru, name="rnn"),
        layers.Dropout(0.2, seed=317109746, name="dropout"),
        layers.Dense(1, activation="sigmoid", kernel_initializer=glorot(seed=2060265656),
                     name="score"),
    ], name="text_classifier")  # fmt: skip
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss="binary_crossentropy", metrics=["accuracy"])  # fmt: skip
    return model


# --- specs/tabular_model.yaml (TensorFlow only: string inputs) --------------------------


def tabular_model() -> Any:
    """Each column encoded by its preprocessing layer, concatenated, a small MLP."""
    keras = _keras()
    layers, glorot = keras.layers, keras.initializers.GlorotUniform
    inputs = {
        "usage": keras.Input(shape=(3,), name="usage"),
        "age": keras.Input(shape=(1,), name="age"),
        "plan": keras.Input(shape=(1,), dtype="string", name="plan"),
        "country": keras.Input(shape=(1,), dtype="string", name="country"),
        "contract_months": keras.Input(shape=(1,), dtype="int64", name="contract_months"),
        "payment_method": keras.Input(shape=(1,), dtype="int64", name="payment_method"),
    }
    encoded = [
        layers.Normalization(mean=(32.4, 64.8, 1.6), variance=(600.0, 900.0, 2.9),
                             name="scale_usage")(inputs["usage"]),
        layers.Discretization(bin_boundaries=(25, 35, 45, 55, 65), output_mode="one_hot",
                              name="bin_age")(inputs["age"]),
        layers.StringLookup(vocabulary=("basic", "standard", "premium"), output_mode="one_hot",
                            name="look_up_plan")(inputs["plan"]),
        layers.Hashing(num_bins=16, output_mode="one_hot", name="hash_country")(inputs["country"]),
        layers.IntegerLookup(vocabulary=(1, 12, 24), output_mode="one_hot",
                             name="look_up_contract")(inputs["contract_months"]),
        layers.CategoryEncoding(num_tokens=4, output_mode="one_hot",
                                name="encode_payment")(inputs["payment_method"]),
    ]  # fmt: skip
    x = layers.Concatenate(name="features")(encoded)
    x = layers.Dense(32, activation="relu", kernel_initializer=glorot(seed=487732227),
                     name="hidden_1")(x)  # fmt: skip
    x = layers.Dropout(0.2, seed=899231145, name="dropout")(x)
    x = layers.Dense(16, activation="relu", kernel_initializer=glorot(seed=1259279382),
                     name="hidden_2")(x)  # fmt: skip
    churned = layers.Dense(1, activation="sigmoid", kernel_initializer=glorot(seed=353399035),
                           name="churned")(x)  # fmt: skip
    model = keras.Model(inputs, churned, name="tabular_model")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss="binary_crossentropy", metrics=["accuracy", "auc"])  # fmt: skip
    return model


# --- specs/resnet50.yaml (no seed) ------------------------------------------------------


def resnet50() -> Any:
    """Keras's own ResNet-50 (``keras.applications``, no weights), compiled as the spec."""
    keras = _keras()
    image = keras.Input(shape=(224, 224, 3), name="image")
    resnet = keras.applications.ResNet50(weights=None, input_tensor=image)
    # keras.applications takes its inputs as a list of one; the spec's model takes the
    # image itself. The same layers, called the same way.
    model = keras.Model(image, resnet.output, name="resnet50")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  loss="categorical_crossentropy")  # fmt: skip
    return model


# The hand-written twin of each shipped spec, by the spec's file name (without .yaml).
BY_SPEC = {
    "example_circles": circles,
    "gpt_decoder": gpt_decoder,
    "image_classifier": image_classifier,
    "llama_decoder": llama_decoder,
    "resnet50": resnet50,
    "seed_000_shared_tower": shared_tower,
    "seed_001_mlp": mlp_list,
    "seed_002_conv_lstm": conv_lstm_list,
    "seed_003_multitask": multitask,
    "seed_004_branches": branches,
    "seq2seq": seq2seq,
    "siamese": siamese,
    "tabular_model": tabular_model,
    "text_classifier": text_classifier,
    "transformer_encoder": transformer_encoder,
}
