"""ConvLSTM1D/2D/3D and adaptive pooling beyond their shapes (tests/cases/conv_lstm.py,
tests/cases/conv.py): what lint refuses at its line, the seeds a spec gives their
dropout, and specs and Keras models that use them, built and imported again."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelspec
from modelspec.check import check_text
from modelspec.lower.plan import derive_seed, plan
from tests.conformance import prove_import

ROOT = Path(__file__).resolve().parent.parent
VIDEO = ROOT / "tests" / "specs" / "conv_lstm_video.yaml"

SPEC = """modelspec: 1
name: clips
seed: 7
inputs:
  clip: {shape: [4, %s, 9, 3]}
sequential:
  - {type: ConvLSTM2D, filters: 6, kernel_size: 3, %s, name: enc}
  - {type: AdaptiveMaxPooling2D, output_size: %s, name: pool}
  - {type: Flatten}
"""


def _errors(text: str) -> list[str]:
    return [d.format() for d in check_text(text, "clips.yaml").errors]


def test_what_keras_refuses_when_it_makes_the_layer_is_refused_at_its_line():
    # ConvLSTM pads 'valid' or 'same' only ("The `padding` argument must be ... one
    # of {'valid', 'same'}"); AdaptiveMaxPooling2D takes one or two sizes.
    assert _errors(SPEC % (10, "padding: causal", "[2, 2, 2]")) == [
        "clips.yaml:7:61: error MS105: unknown value 'causal' for `padding`",
        "clips.yaml:8:47: error MS106: `output_size` takes at most 2 items; got [2, 2, 2]",
    ]
    # An output size of 0 divides by zero when the pooling runs.
    assert _errors(SPEC % (10, "padding: same", "0")) == [
        "clips.yaml:8:47: error MS106: `output_size` must be >= 1; got 0"
    ]


def test_what_keras_refuses_when_it_builds_the_layer_is_refused_at_its_call():
    # ConvLSTMCell.build: "ConvLSTM layers only support static input shapes for the
    # spatial dimension"; the constructor refuses strides > 1 with dilation_rate > 1.
    assert _errors(SPEC % ("null", "padding: same", 2)) == [
        "clips.yaml:7:5: error MS302: `ConvLSTM2D` 'enc' needs known sizes on every spatial "
        "axis; got (None, 4, None, 9, 3)"
    ]
    assert _errors(SPEC % (10, "strides: 2, dilation_rate: 2", 2)) == [
        "clips.yaml:7:5: error MS304: `ConvLSTM2D` 'enc' strides > 1 cannot be combined with "
        "dilation_rate > 1: got strides=[2, 2], dilation_rate=[2, 2]"
    ]


def test_a_bidirectional_convlstm_with_an_lstm_backward_names_the_backward_layer():
    text = """modelspec: 1
name: mixed
inputs:
  seq: {shape: [4, 9, 3]}
sequential:
  - type: Bidirectional
    layer: {type: ConvLSTM1D, filters: 2, kernel_size: 3}
    backward_layer: {type: LSTM, units: 2, go_backwards: true}
"""
    (error,) = check_text(text, "mixed.yaml").errors
    assert error.code == "MS301"
    assert "has a backward_layer `LSTM` that does not take this input: it expects input of " in (
        error.message
    )
    assert error.hint == "give backward_layer the type of layer, `ConvLSTM1D`"


def test_a_frozen_convlstm_warns_that_keras_still_trains_its_cell():
    # Unlike LSTM, ConvLSTM makes its cell without passing it the trainable flag: the
    # layer reports its weights as frozen, the model trains them.
    text = SPEC % (10, "trainable: false", 2)
    result = check_text(text, "clips.yaml")
    (warning,) = result.warnings
    assert warning.code == "MS404"
    assert warning.hint == (
        "freeze it after building (layer.trainable = False), or leave it out of training"
    )
    # kernel (3, 3, 3, 24), recurrent kernel (3, 3, 6, 24), bias (24,)
    count = 3 * 3 * (3 + 6) * 24 + 24
    assert result.shapes.params["enc"] == (0, count)
    assert result.shapes.model_params["enc"] == (count, 0)


@pytest.mark.keras
def test_a_frozen_convlstm_is_trained_by_the_model_in_keras_too(tmp_path):
    pytest.importorskip("keras")
    spec = tmp_path / "clips.yaml"
    spec.write_text(SPEC % (10, "trainable: false", 2))
    model = modelspec.build_model(spec, compile=False)
    layer = model.get_layer("enc")
    assert layer.trainable_weights == []
    assert sum(w.numpy().size for w in model.trainable_weights) == 3 * 3 * (3 + 6) * 24 + 24


def test_shapes_and_parameters_of_the_video_spec():
    shapes = modelspec.load(VIDEO).result.shapes
    assert shapes.tensors["enc"] == [(None, 4, 10, 9, 6), (None, 10, 9, 6), (None, 10, 9, 6)]
    # ConvLSTM1D over the rows of the last output: 10 steps of 9 positions, 6 channels,
    # give 8 positions; concat joins the two directions' 3 filters.
    assert shapes.tensors["across"] == (None, 5 * 6)
    assert shapes.tensors["carry"] == (None, 10 * 2 * 2)
    # kernel (3, 3, 3, 24), recurrent kernel (3, 3, 6, 24), bias (24,)
    assert shapes.params["encoder"] == (3 * 3 * (3 + 6) * 24 + 24, 0)
    # each direction: kernel (2, 6, 12), recurrent kernel (2, 3, 12), bias (12,)
    assert shapes.params["rows"] == (2 * (2 * (6 + 3) * 12 + 12), 0)


def test_dropout_gets_a_seed_from_the_specs_seed_inside_bidirectional_too():
    text = """modelspec: 1
name: seeded
seed: 3
inputs:
  seq: {shape: [4, 9, 3]}
sequential:
  - {type: ConvLSTM1D, filters: 2, kernel_size: 3, return_sequences: true, dropout: 0.2,
     name: enc}
  - type: Bidirectional
    name: both
    layer: {type: ConvLSTM1D, filters: 2, kernel_size: 3, recurrent_dropout: 0.1,
            return_sequences: true, name: fwd}
  - {type: ConvLSTM1D, filters: 2, kernel_size: 1, name: plain}
"""
    result = check_text(text, "seeded.yaml")
    assert result.ok, [d.format() for d in result.diagnostics]
    layers = {name: dict(layer.ctor.kwargs) for name, layer in plan(result).layers.items()}
    assert layers["enc"]["seed"] == derive_seed(3, "enc", "seed")
    inner = dict(layers["both"]["layer"].kwargs)
    assert inner["seed"] == derive_seed(3, "fwd", "seed")
    assert "seed" not in layers["plain"]


@pytest.mark.keras
def test_the_video_spec_builds_and_runs():
    import keras
    import numpy as np

    keras.backend.clear_session()
    loaded = modelspec.load(VIDEO)
    model = loaded.to_keras()
    assert model.count_params() == 2950
    batch = np.random.default_rng(0).random((2, 4, 10, 9, 3), dtype="float32")
    out = model.predict(batch, verbose=0)
    assert out.shape == (2, 2)
    assert np.allclose(out.sum(axis=-1), 1.0, atol=1e-5)


@pytest.mark.keras
def test_a_keras_model_with_them_imports_as_the_same_model():
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    layers = keras.layers
    clip = keras.Input((3, 8, 8, 2), name="clip")
    seq, h, c = layers.ConvLSTM2D(
        4, (3, 2), padding="same", return_sequences=True, return_state=True,
        data_format="channels_last", name="enc",
    )(clip)  # fmt: skip
    frames = layers.AdaptiveAveragePooling3D((1, 4, 4), name="frames")(seq)
    rows = layers.Bidirectional(layers.ConvLSTM1D(2, 3, go_backwards=False), name="rows")(h)
    cells = layers.AdaptiveMaxPooling2D(2, data_format="channels_first", name="cells")(c)
    volume = layers.ConvLSTM3D(2, 1, name="vol")(layers.Reshape((3, 8, 8, 2, 2))(seq))
    merged = layers.Concatenate()([layers.Flatten()(t) for t in (frames, rows, cells, volume)])
    model = keras.Model(clip, layers.Dense(3)(merged), name="clips")
    proof = prove_import(model, "clips.json")
    assert proof.failure is None, proof.failure
    kinds = {n: layer.type for n, layer in proof.checked.spec.layers.items()}
    assert kinds["enc"] == "ConvLSTM2D" and kinds["vol"] == "ConvLSTM3D"
    rows_kwargs = proof.checked.spec.layers["rows"].kwargs
    # Keras saves the backward copy it makes; the spec leaves it to Keras again.
    assert "backward_layer" not in rows_kwargs
    assert rows_kwargs["layer"]["type"] == "ConvLSTM1D"
    assert proof.checked.spec.layers["cells"].kwargs == {
        "output_size": 2,
        "data_format": "channels_first",
    }
