"""SpectralNormalization beyond its shapes (tests/cases/rnn.py): the layers it can wrap,
its own non-trainable weight, the dtype Keras casts its output to, and models using it
imported back and loaded by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelspec.check import check_text

SPEC = """modelspec: 1
name: critic
seed: 1
inputs:
  image: {shape: [16, 16, 3]}
sequential:
  - {type: SpectralNormalization, name: sn_conv, %s, layer: {type: Conv2D, filters: 8, kernel_size: 3}}
  - {type: Flatten}
  - {type: SpectralNormalization, name: sn_dense, layer: %s}
"""
DENSE = "{type: Dense, units: 1}"


def _check(extra: str = "power_iterations: 2", inner: str = DENSE):
    return check_text(SPEC % (extra, inner), "critic.yaml")


def test_vector_u_is_a_non_trainable_weight_the_size_of_the_kernels_last_axis():
    result = _check()
    assert result.ok, [d.format() for d in result.diagnostics]
    assert result.shapes is not None
    # Conv2D: 3*3*3*8 + 8 trained; vector_u (1, 8).
    assert result.shapes.params["sn_conv"] == (224, 8)
    # Dense: 1568 + 1 trained; vector_u (1, 1).
    assert result.shapes.params["sn_dense"] == (1569, 1)
    assert result.shapes.tensors["sn_conv"] == (None, 14, 14, 8)


@pytest.mark.parametrize(
    "inner", ["{type: BatchNormalization}", "{type: Activation, activation: relu}",
              "{type: TimeDistributed, layer: {type: Dense, units: 1}}"],
)  # fmt: skip
def test_a_layer_without_a_kernel_is_refused_at_the_wrapper(inner):
    # Keras: "BatchNormalization object has no attribute 'kernel' nor 'embeddings'",
    # when the model is built.
    (error,) = _check(inner=inner).errors
    assert error.code == "MS304" and error.line == 9
    assert "needs a layer with a `kernel` or `embeddings` weight to normalize" in error.message
    assert "Dense, EinsumDense, a Conv or ConvTranspose layer" in (error.hint or "")


def test_power_iterations_must_be_positive():
    # Keras: "`power_iterations` should be greater than zero."
    assert [d.format() for d in _check("power_iterations: 0").errors] == [
        "critic.yaml:7:68: error MS106: `power_iterations` must be >= 1; got 0"
    ]


def test_a_frozen_wrapper_still_trains_the_layer_inside():
    # Keras's model still trains the wrapped layer's kernel (only vector_u is never trained).
    result = _check("trainable: false")
    assert [d.code for d in result.diagnostics] == ["MS404"]
    assert result.shapes is not None
    assert result.shapes.params["sn_conv"] == (0, 232)
    assert result.shapes.model_params["sn_conv"] == (224, 8)


def test_the_output_has_the_inputs_dtype():
    # Keras casts the wrapped layer's output to the input's dtype: integer ids give
    # integer embeddings.
    text = """modelspec: 1
name: ids
inputs:
  ids: {shape: [5], dtype: int32}
sequential:
  - {type: SpectralNormalization, layer: {type: Embedding, input_dim: 10, output_dim: 4}}
"""
    result = check_text(text, "ids.yaml")
    assert result.ok and result.shapes is not None
    assert list(result.shapes.output_dtypes.values()) == ["int32"]


# --- against Keras ---------------------------------------------------------------------


@pytest.fixture
def keras_session():
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    return keras


@pytest.mark.keras
def test_a_critic_imports_back_as_the_same_model(keras_session):
    from tests.test_import import assert_imports

    keras = keras_session
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.SpectralNormalization(keras.layers.Conv2D(4, 3, name="conv"),
                                               power_iterations=2, name="sn_conv"),
            keras.layers.SpectralNormalization(
                keras.layers.SpectralNormalization(keras.layers.Conv2DTranspose(2, 3)),
                name="twice",
            ),
            keras.layers.Flatten(),
            keras.layers.SpectralNormalization(keras.layers.Dense(1, name="score"),
                                               name="sn_dense"),
        ],
        name="critic",
    )  # fmt: skip
    checked = assert_imports(model)
    layers = checked.spec.layers
    assert layers["sn_conv"].kwargs == {
        "power_iterations": 2,
        "layer": {"type": "Conv2D", "filters": 4, "kernel_size": 3, "name": "conv"},
    }
    inner = layers["twice"].kwargs["layer"]
    assert inner["type"] == "SpectralNormalization" and inner["layer"]["type"] == "Conv2DTranspose"


@pytest.mark.keras
@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # reverse_embeddings: unused forwards
def test_trained_weights_load_by_name(keras_session, tmp_path: Path):
    """vector_u, the wrapped kernel, and GroupQueryAttention's and an untied
    ReversibleEmbedding's weights go to the layers of the same name."""
    import numpy as np

    from modelspec.runtime.weights import load_weights_by_name

    keras = keras_session

    def model(prefix: str):
        ids = keras.Input((6,), dtype="int32")
        h = keras.layers.ReversibleEmbedding(20, 4, tie_weights=False, name=f"{prefix}emb")(ids)
        h = keras.layers.SpectralNormalization(keras.layers.Conv1D(4, 3, padding="same"),
                                               name=f"{prefix}sn")(h)  # fmt: skip
        h = keras.layers.GroupQueryAttention(2, 4, 2, name=f"{prefix}gqa")(h, h)
        return keras.Model(ids, h)

    old = model("")
    old.compile("adam", "mse")
    old.fit(np.ones((4, 6), "int32"), np.ones((4, 6, 4)), verbose=0)  # vector_u changes too
    old.save(tmp_path / "old.keras")
    new = model("new_")
    names = ("emb", "sn", "gqa")
    load_weights_by_name(new, tmp_path / "old.keras", {f"new_{n}": n for n in names})
    for name in names:
        got = [w.numpy() for w in new.get_layer(f"new_{name}").weights]
        want = [w.numpy() for w in old.get_layer(name).weights]
        assert len(got) == len(want) and all(np.array_equal(a, b) for a, b in zip(got, want))
