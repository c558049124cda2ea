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
