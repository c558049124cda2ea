"""MelSpectrogram and STFTSpectrogram beyond their shapes (tests/cases/audio.py): what lint
refuses before Keras would, the frame counts Keras declares wrongly, what a saved config
writes for their defaults, and models using them imported back."""

from __future__ import annotations

import pytest

from modelspec.catalog import get
from modelspec.check import check_text

SPEC = """modelspec: 1
name: speech
inputs:
  wave: {shape: [%s]}
sequential:
  - {type: MelSpectrogram, fft_length: 64, sequence_stride: 32, num_mel_bins: 20, %s}
  - {type: Flatten}
  - {type: Dense, units: 2}
"""


def _check(samples: str = "1000", extra: str = "power_to_db: true"):
    return check_text(SPEC % (samples, extra), "speech.yaml")


def test_frames_follow_keras_and_no_weights():
    result = _check()
    assert result.ok, [d.format() for d in result.diagnostics]
    assert result.shapes is not None
    # (1000 + 32 + 1) // 32 frames, the STFT's 1000 // 32 + 1 too.
    assert result.shapes.tensors["mel_spectrogram"] == (None, 20, 32)
    assert result.shapes.params["mel_spectrogram"] == (0, 0)
    assert result.shapes.params["dense"] == (20 * 32 * 2 + 2, 0)


def test_a_length_keras_would_mis_shape_is_refused():
    # 1023 = 31 * 32 + 31: Keras declares 33 frames, its STFT gives 32, and the Dense
    # after it would be built for the wrong size.
    (error,) = _check("1023").errors
    assert error.code == "MS302" and error.line == 6
    assert "would declare 33 frames for 1023 samples but compute 32" in error.message
    assert _check("1024").ok and _check("null").ok is False  # Flatten needs the frames


def test_too_few_samples_to_pad_are_refused():
    (error,) = _check("32").errors
    assert error.code == "MS302"
    assert "needs more than fft_length // 2 = 32 samples" in error.message


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ("sampling_rate: 0",
         "speech.yaml:6:98: error MS106: `sampling_rate` must be > 0; got 0"),
        # Keras's STFT takes only these two names, and fails on any other when it runs.
        ("window: blackman",
         "speech.yaml:6:91: error MS105: unknown value 'blackman' for `window`"),
        ("sequence_length: 65", "speech.yaml:6:5: error MS304: `MelSpectrogram` "
         "'mel_spectrogram' needs sequence_length <= fft_length; got sequence_length=65, "
         "fft_length=64"),
    ],
)  # fmt: skip
def test_what_keras_refuses_or_fails_on(extra, error):
    assert [d.format() for d in _check(extra=extra).errors] == [error]


def test_a_saved_mel_config_reads_back_as_its_defaults():
    # Keras writes sequence_length and max_freq resolved from null.
    kw = {"fft_length": 64, "sequence_length": 64, "sampling_rate": 8000, "max_freq": 4000}
    get("MelSpectrogram").from_saved(kw)
    assert kw == {"fft_length": 64, "sampling_rate": 8000}
    kw = {"sequence_length": 2048, "max_freq": 8000}
    get("MelSpectrogram").from_saved(kw)
    assert kw == {}


STFT = """modelspec: 1
name: stft
inputs:
  wave: {shape: [%s]}
sequential:
  - {type: STFTSpectrogram, frame_length: 16, %s}
"""


def _stft(shape: str, extra: str):
    return check_text(STFT % (shape, extra), "stft.yaml")


def test_stft_kernels_and_shapes():
    result = _stft("100, 2", "frame_step: 8, fft_length: 32, mode: stft, expand_dims: true")
    assert result.ok and result.shapes is not None
    assert result.shapes.tensors["stft_spectrogram"] == (None, 11, 34, 2)
    # Real and imaginary kernels, 16 x 17 each.
    assert result.shapes.params["stft_spectrogram"] == (544, 0)
    frozen = _stft("100, 2", "mode: real, trainable: false")
    assert frozen.shapes is not None and frozen.shapes.params["stft_spectrogram"] == (0, 144)


@pytest.mark.parametrize(
    ("extra", "code", "text"),
    [
        ("frame_step: 17", "MS304", "needs frame_step <= frame_length"),
        ("fft_length: 8", "MS304", "needs fft_length >= frame_length"),
        ("window: [1, 2, 3]", "MS304", "needs a window of frame_length=16 values; got 3"),
        ("window: kaiser", "MS105", "unknown value 'kaiser' for `window`"),
        ("mode: power", "MS105", "unknown value 'power' for `mode`"),
    ],
)  # fmt: skip
def test_stft_kwargs_keras_refuses(extra, code, text):
    (error,) = _stft("100, 1", extra).errors
    assert error.code == code and text in error.message


# --- against Keras ---------------------------------------------------------------------


@pytest.fixture
def keras_session():
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    return keras


@pytest.mark.keras
def test_a_speech_model_imports_back_as_the_same_model(keras_session):
    from tests.test_import import assert_imports

    keras = keras_session
    wave = keras.Input((1000,), name="wave")
    stereo = keras.Input((400, 2), name="stereo")
    mel = keras.layers.MelSpectrogram(fft_length=64, sequence_stride=32, num_mel_bins=20,
                                      sampling_rate=8000, name="mel")(wave)  # fmt: skip
    stft = keras.layers.STFTSpectrogram(frame_length=32, window=None, mode="magnitude",
                                        padding="same", name="stft")(stereo)  # fmt: skip
    joined = keras.layers.Concatenate()([keras.layers.Flatten()(mel), keras.layers.Flatten()(stft)])
    model = keras.Model({"wave": wave, "stereo": stereo}, keras.layers.Dense(3)(joined))
    checked = assert_imports(model)
    layers = checked.spec.layers
    assert layers["mel"].kwargs == {
        "fft_length": 64, "sequence_stride": 32, "num_mel_bins": 20, "sampling_rate": 8000
    }  # fmt: skip
    assert layers["stft"].kwargs == {
        "frame_length": 32, "window": None, "mode": "magnitude", "padding": "same"
    }  # fmt: skip


@pytest.mark.keras
def test_named_windows_with_scipy(keras_session):
    """Keras makes a named window with SciPy: where it is installed, every name the
    catalogue takes builds, with the catalogue's shapes and kernels."""
    pytest.importorskip("scipy")
    from modelspec.catalog.audio import WINDOWS
    from tests.keras_truth import catalogue_facts, keras_facts

    for window in WINDOWS:
        kw = {"frame_length": 16, "window": window, "periodic": window == "hann"}
        assert catalogue_facts("STFTSpectrogram", kw, [(None, 64, 2)]) == keras_facts(
            "STFTSpectrogram", kw, [(None, 64, 2)]
        ), window
    default = [(None, 16000, 1)]
    assert catalogue_facts("STFTSpectrogram", {}, default) == keras_facts(
        "STFTSpectrogram", {}, default
    )
