"""Keras models under dtype policies and quantization, saved, imported and rebuilt from
the imported spec with the saved file as its weights.

Run as ``python -m tests.precision_models FOLDER`` with ``KERAS_BACKEND`` set: it prints
one JSON line, per model, of what ``tests/test_import_precision.py`` checks: the spec's
precision keys, its lint errors, each layer's dtype policy in both models (by path, held
layers too), and the largest difference of their predictions.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def _sequential_mixed(keras: Any) -> Any:
    """Under mixed_bfloat16 (the model's own dtype), a wrapper, a float32 softmax head."""
    layers = keras.layers
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = keras.Sequential(
            [
                keras.Input((5, 6)),
                layers.TimeDistributed(layers.Dense(4), name="td"),
                layers.Flatten(name="flat"),
                layers.Dense(3, activation="softmax", dtype="float32", name="out"),
            ],
            name="seq_mixed",
        )
    finally:
        keras.config.set_dtype_policy("float32")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def _functional_dtypes(keras: Any) -> Any:
    """Per-layer dtypes in a float32 Functional: most layers mixed_bfloat16, one held
    layer in float32 under a mixed_bfloat16 wrapper."""
    layers = keras.layers
    x = keras.Input((4, 6), name="x")
    h = layers.Dense(8, activation="relu", dtype="mixed_bfloat16", name="a")(x)
    h = layers.TimeDistributed(layers.Dense(5, dtype="float32", name="inner"),
                               dtype="mixed_bfloat16", name="td")(h)  # fmt: skip
    h = layers.Bidirectional(layers.GRU(3, name="gru"), dtype="mixed_bfloat16", name="bi")(h)
    h = layers.Dense(6, dtype="bfloat16", name="b")(h)
    out = layers.Dense(2, activation="softmax", dtype="float32", name="out")(h)
    return keras.Model(x, out, name="fn_dtypes")


def _sequential_f16(keras: Any) -> Any:
    """Under mixed_float16, compiled with loss scaling, a float32 softmax head."""
    layers = keras.layers
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = keras.Sequential(
            [
                keras.Input((6,)),
                layers.Dense(8, activation="relu", name="a"),
                layers.Dense(3, activation="softmax", dtype="float32", name="out"),
            ],
            name="seq_f16",
        )
    finally:
        keras.config.set_dtype_policy("float32")
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(0.01))
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    return model


def _int8(keras: Any) -> Any:
    """int8 under mixed_bfloat16, every layer Keras quantizes but one."""
    layers = keras.layers
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        tokens = keras.Input((7,), dtype="int32", name="tokens")
        h = layers.Embedding(20, 8, name="emb")(tokens)
        h = layers.Dense(8, activation="relu", name="a")(h)
        h = layers.GlobalAveragePooling1D(name="pool")(h)
        h = layers.Dense(8, activation="relu", name="b")(h)
        out = layers.Dense(3, activation="softmax", dtype="float32", name="out")(h)
        model = keras.Model(tokens, out, name="int8_model")
    finally:
        keras.config.set_dtype_policy("float32")
    model.quantize("int8", filters=lambda layer: layer.name != "b")
    return model


def _float8(keras: Any) -> Any:
    """float8 of every Dense, one held by a TimeDistributed, in a float32 Sequential."""
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((3, 6)),
            layers.TimeDistributed(layers.Dense(8, name="inner"), name="td"),
            layers.Flatten(name="flat"),
            layers.Dense(4, activation="softmax", name="out"),
        ],
        name="f8_model",
    )
    model.quantize("float8")
    return model


MODELS = {
    "seq_mixed": (_sequential_mixed, lambda: np.random.default_rng(0).normal(size=(2, 5, 6))),
    "fn_dtypes": (_functional_dtypes, lambda: np.random.default_rng(1).normal(size=(2, 4, 6))),
    "seq_f16": (_sequential_f16, lambda: np.random.default_rng(4).normal(size=(2, 6))),
    "int8_model": (_int8, lambda: np.random.default_rng(2).integers(0, 20, size=(2, 7))),
    "f8_model": (_float8, lambda: np.random.default_rng(3).normal(size=(2, 3, 6))),
}

# The models also built by their generated module (the others are built only directly,
# to keep the test fast): those whose weights are loaded in another way.
GENERATED = ("int8_model", "f8_model")


def policies(model: Any) -> dict[str, str]:
    """Every leaf layer's dtype policy (inputs left out), by its path in the model."""
    import keras

    out = {}
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if not list(layer._flatten_layers(include_self=False)):
            path = (layer.path or layer.name).removeprefix(f"{model.name}/")
            out[path] = layer.dtype_policy.name
    return out


def round_trip(folder: Path, name: str) -> dict[str, Any]:
    import importlib.util
    import warnings

    import keras

    import modelspec
    from modelspec.importer import check_imported, import_file
    from modelspec.weights import WeightsWarning

    build, data = MODELS[name]
    original = build(keras)
    x = data().astype("int32" if name == "int8_model" else "float32")
    want = keras.ops.convert_to_numpy(keras.ops.cast(original(x, training=False), "float32"))
    original.save(folder / f"{name}.keras")
    result = import_file(folder / f"{name}.keras")
    if result.text is None:
        return {"errors": [d.format() for d in result.diagnostics]}
    spec = folder / f"{name}.yaml"
    spec.write_text(result.text + f"weights: {name}.keras\n")
    lint = [d.format() for d in check_imported(result, str(spec))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Keras's "no quantize method" notes
        warnings.simplefilter("error", WeightsWarning)  # every layer loads
        rebuilt = modelspec.build_model(spec, compile=False)
    got = keras.ops.convert_to_numpy(keras.ops.cast(rebuilt(x, training=False), "float32"))
    loaded = modelspec.load(spec)
    out, generated = got, rebuilt
    if name in GENERATED:
        # The generated module loads the same weights the same way.
        module = folder / f"{name}_model.py"
        module.write_text(loaded.to_python())
        found = importlib.util.spec_from_file_location(f"{name}_model", module)
        generated_module = importlib.util.module_from_spec(found)
        found.loader.exec_module(generated_module)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", WeightsWarning)
            generated = generated_module.build_model()
        out = keras.ops.convert_to_numpy(keras.ops.cast(generated(x, training=False), "float32"))
    compiled = loaded.to_keras(weights=False) if result.doc.get("compile") else None
    return {
        "doc": {k: result.doc.get(k) for k in ("dtype_policy", "quantize") if k in result.doc},
        "layers": _layer_keys(result.doc),
        "lint": lint,
        "policies": [policies(original), policies(rebuilt), policies(generated)],
        "diff": float(np.abs(np.asarray(want) - np.asarray(got)).max()),
        "diff_module": float(np.abs(np.asarray(want) - np.asarray(out)).max()),
        "compiled_optimizer": type(compiled.optimizer).__name__ if compiled else None,
        "optimizer": (result.doc.get("compile") or {}).get("optimizer"),
    }


def _layer_keys(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``name -> {dtype, quantize}`` of each layer of the document (held ones by name)."""
    out: dict[str, dict[str, Any]] = {}

    def visit(spec: Any, name: str | None) -> None:
        if not isinstance(spec, dict) or "type" not in spec:
            return
        name = spec.get("name", name)
        keys = {k: spec[k] for k in ("dtype", "quantize") if k in spec}
        if name is not None:
            out[name] = keys
        for value in spec.values():
            if isinstance(value, dict):
                visit(value, None)

    for name, spec in (doc.get("layers") or {}).items():
        visit(spec, name)
    for spec in doc.get("sequential") or []:
        visit(spec, None)
    for step in (doc.get("graph") or {}).values():
        for item in step.get("apply", []) if isinstance(step, dict) else []:
            visit(item, None)
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    (folder / "pyproject.toml").write_text("")
    names = sys.argv[2:] or list(MODELS)
    print(json.dumps({name: round_trip(folder, name) for name in names}))
