"""Audio front ends: MelSpectrogram and STFTSpectrogram, which turn a signal into frames
of frequency bins.

MelSpectrogram takes a batch of mono signals, ``(batch, samples)``, and has no weights;
it gives ``(batch, num_mel_bins, frames)``. STFTSpectrogram takes ``(batch, samples,
channels)`` (or channels first) and computes the transform as a strided convolution
whose real and imaginary kernels are weights, trainable unless ``trainable: false``.
Keras's STFTSpectrogram makes a named window with SciPy (``scipy.signal.get_window``),
so a model that uses one needs SciPy installed; a list of numbers or null needs none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelspec.catalog.base import (
    BOOL,
    DATA_FORMAT,
    NUMBER,
    POS_INT,
    TRAINABLE,
    Kwarg,
    LayerType,
    ShapeError,
    by_trainable,
    conv_out_len,
    enum,
    expect_rank,
    fmt_shape,
    nullable,
    own_weights,
)

POSITIVE = {"type": "number", "exclusiveMinimum": 0}
NONNEG = {"type": "number", "minimum": 0}
# A window of one weight per sample of a frame.
WINDOW_VALUES = {"type": "array", "items": NUMBER, "minItems": 1}


def _window_length(kw: Mapping[str, Any], length: int, name: str) -> None:
    """A window given as numbers needs one per sample of a frame (Keras checks it when
    the layer builds, or for MelSpectrogram when it runs)."""
    window = kw["window"]
    if isinstance(window, list) and len(window) != length:
        raise ShapeError(
            f"needs a window of {name}={length} values; got {len(window)}",
            code="MS304",
        )


# --- MelSpectrogram ---------------------------------------------------------------------


def _mel_frames(kw: Mapping[str, Any], samples: int | None) -> int | None:
    """The number of frames, as Keras's compute_output_shape declares it; MS302 where
    its STFT gives another number, or cannot run."""
    if samples is None:
        return None
    stride, fft = kw["sequence_stride"], kw["fft_length"]
    # The STFT pads fft_length // 2 samples on each side by reflection, which needs more
    # samples than that, then takes frames of fft_length every sequence_stride samples.
    if samples <= fft // 2:
        raise ShapeError(
            f"needs more than fft_length // 2 = {fft // 2} samples to pad each frame by "
            f"reflection; got {samples}",
            hint="give the input more samples, or a smaller fft_length",
        )
    declared = (samples + stride + 1) // stride
    computed = (samples + 2 * (fft // 2) - fft) // stride + 1
    if declared != computed:
        # Keras builds the model with the declared number, and its first call gives
        # the computed one: the layers after it would be built for the wrong size.
        raise ShapeError(
            f"would declare {declared} frames for {samples} samples but compute {computed}: "
            f"Keras's output shape, (samples + sequence_stride + 1) // sequence_stride, "
            f"is not what its STFT gives for this length",
            hint="choose a number of samples that leaves a remainder other than "
            "sequence_stride - 1 when divided by sequence_stride, or leave it unknown (null)",
        )
    return declared


def _mel_shape(kw, inputs):
    (shape,) = inputs
    # Keras's shape rule reads any rank, but the STFT runs over the last axis: only
    # (batch, samples) gives the shape it declares.
    expect_rank(shape, 2, layout="(batch, samples)")
    sequence_length = kw["sequence_length"] or kw["fft_length"]
    if sequence_length > kw["fft_length"]:
        raise ShapeError(
            f"needs sequence_length <= fft_length; got sequence_length={sequence_length}, "
            f"fft_length={kw['fft_length']}",
            code="MS304",
        )
    _window_length(kw, sequence_length, "sequence_length")
    return (shape[0], kw["num_mel_bins"], _mel_frames(kw, shape[1]))


def _mel_from_config(kw: dict[str, Any]) -> None:
    """Keras writes the values it resolved from null: sequence_length as fft_length,
    max_freq as half the sampling rate."""
    if "sequence_length" in kw and kw["sequence_length"] == kw.get("fft_length", 2048):
        del kw["sequence_length"]
    if "max_freq" in kw and kw["max_freq"] == int(kw.get("sampling_rate", 16000) / 2):
        del kw["max_freq"]


MEL_SPECTROGRAM = LayerType(
    name="MelSpectrogram",
    category="preprocessing",
    doc=(
        "The mel-scaled power spectrogram of a batch of signals, (batch, samples) -> "
        "(batch, num_mel_bins, frames), in decibels unless power_to_db is false."
    ),
    kwargs=(
        Kwarg("fft_length", POS_INT, 2048, "Size of the FFT; also the frame length."),
        Kwarg("sequence_stride", POS_INT, 512, "Samples between the starts of two frames."),
        Kwarg(
            "sequence_length",
            nullable(POS_INT),
            None,
            "Samples of each frame the window covers, at most fft_length; None: fft_length.",
        ),
        Kwarg(
            "window",
            {"anyOf": [enum("hann", "hamming"), WINDOW_VALUES, {"type": "null"}]},
            "hann",
            "Window applied to each frame: 'hann', 'hamming', sequence_length values, or "
            "None for none.",
        ),
        Kwarg("sampling_rate", POSITIVE, 16000, "Samples per second of the signal."),
        Kwarg("num_mel_bins", POS_INT, 128, "Number of mel frequency bands."),
        Kwarg("min_freq", NONNEG, 20.0, "Lowest frequency of the mel bands, in hertz."),
        Kwarg(
            "max_freq",
            nullable(POSITIVE),
            None,
            "Highest frequency of the mel bands, in hertz; None: half the sampling rate.",
        ),
        Kwarg("power_to_db", BOOL, True, "Whether to convert the power to decibels."),
        Kwarg("top_db", NUMBER, 80.0, "Decibels below the peak where the output is clipped."),
        Kwarg("mag_exp", NUMBER, 2.0, "Exponent of the magnitude: 1 for amplitude, 2 for power."),
        Kwarg("min_power", POSITIVE, 1e-10, "Smallest power converted to decibels."),
        Kwarg("ref_power", NUMBER, 1.0, "Power that is 0 dB."),
        TRAINABLE,
    ),
    shape=_mel_shape,
    from_config=_mel_from_config,
)


# --- STFTSpectrogram --------------------------------------------------------------------

# The windows scipy.signal.get_window makes by name alone, without parameters.
WINDOWS = (
    "barthann", "bartlett", "blackman", "blackmanharris", "bohman", "boxcar", "cosine",
    "exponential", "flattop", "hamming", "hann", "lanczos", "nuttall", "parzen", "taylor",
    "triang", "tukey",
)  # fmt: skip
MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")


def _stft_sizes(kw: Mapping[str, Any]) -> tuple[int, int]:
    """``(frame_step, fft_length)`` with Keras's defaults filled in, checked as Keras
    checks them when the layer is made."""
    frame_length, step, fft = kw["frame_length"], kw["frame_step"], kw["fft_length"]
    if step is not None and step > frame_length:
        raise ShapeError(
            f"needs frame_step <= frame_length; got frame_step={step}, frame_length={frame_length}",
            code="MS304",
        )
    if fft is not None and fft < frame_length:
        raise ShapeError(
            f"needs fft_length >= frame_length; got fft_length={fft}, frame_length={frame_length}",
            code="MS304",
        )
    step = step or frame_length // 2
    if step == 0:
        raise ShapeError(
            "needs a frame_step for frame_length=1: the default, frame_length // 2, is 0",
            code="MS304",
        )
    # The smallest power of two that is at least frame_length.
    fft = fft or 1 << (frame_length - 1).bit_length()
    _window_length(kw, frame_length, "frame_length")
    return step, fft


def _stft_shape(kw, inputs):
    (shape,) = inputs
    first = kw["data_format"] == "channels_first"
    layout = "(batch, channels, samples)" if first else "(batch, samples, channels)"
    expect_rank(shape, 3, layout=layout)
    step, fft = _stft_sizes(kw)
    samples, channels = (shape[2], shape[1]) if first else (shape[1], shape[2])
    if channels is None:
        # Keras multiplies the channels by the frequency bins to declare the output.
        raise ShapeError(
            f"needs a known number of channels; got {fmt_shape(shape)}",
            hint="give the input a fixed number of channels",
        )
    bins = (fft // 2 + 1) * (2 if kw["mode"] == "stft" else 1)  # stft: real, then imaginary
    frames = conv_out_len(samples, kw["frame_length"], step, kw["padding"])
    if frames is not None and frames <= 0:
        raise ShapeError(
            f"needs at least frame_length={kw['frame_length']} samples with padding "
            f"'valid'; got {samples}",
            hint="give the input more samples, or use padding: same",
        )
    if kw["expand_dims"]:
        return (shape[0], channels, frames, bins) if first else (shape[0], frames, bins, channels)
    return (shape[0], bins * channels, frames) if first else (shape[0], frames, bins * channels)


def _stft_params(kw, inputs):
    _, fft = _stft_sizes(kw)
    # A (frame_length, 1, fft_length // 2 + 1) kernel for the real part and one for the
    # imaginary part; mode 'real' and mode 'imag' make only theirs.
    kernels = 1 if kw["mode"] in ("real", "imag") else 2
    return by_trainable(kw, kernels * kw["frame_length"] * (fft // 2 + 1))


def _stft_weights(kw, inputs):
    _, fft = _stft_sizes(kw)
    shape = (kw["frame_length"], 1, fft // 2 + 1)
    return own_weights(kw, None if kw["mode"] == "imag" else ("real_kernel", shape),
                       None if kw["mode"] == "real" else ("imag_kernel", shape))  # fmt: skip


STFT_SPECTROGRAM = LayerType(
    name="STFTSpectrogram",
    category="preprocessing",
    doc=(
        "The short-time Fourier transform of each channel of a signal, computed as a "
        "convolution with trainable kernels: (batch, samples, channels) -> (batch, frames, "
        "channels * bins), or (batch, frames, bins, channels) with expand_dims."
    ),
    kwargs=(
        Kwarg(
            "mode",
            enum(*MODES),
            "log",
            "What to output: log magnitude, magnitude, power spectral density, the real or "
            "imaginary part, the angle, or 'stft' (real then imaginary bins).",
        ),
        Kwarg("frame_length", POS_INT, 256, "Samples in each frame."),
        Kwarg(
            "frame_step",
            nullable(POS_INT),
            None,
            "Samples between the starts of two frames, at most frame_length; None: "
            "frame_length // 2.",
        ),
        Kwarg(
            "fft_length",
            nullable(POS_INT),
            None,
            "Size of the FFT, at least frame_length; None: the smallest power of two that "
            "is at least frame_length.",
        ),
        Kwarg(
            "window",
            {"anyOf": [enum(*WINDOWS), WINDOW_VALUES, {"type": "null"}]},
            "hann",
            "Window applied to each frame: a SciPy window name, frame_length values, or None "
            "for none.",
        ),
        Kwarg("periodic", BOOL, False, "Whether a named window is periodic, not symmetric."),
        Kwarg(
            "scaling",
            nullable(enum("density", "spectrum")),
            "density",
            "How the window is scaled: 'density', 'spectrum', or None for not at all.",
        ),
        Kwarg("padding", enum("valid", "same"), "valid", "Padding of the signal's ends."),
        Kwarg(
            "expand_dims",
            BOOL,
            False,
            "Keep channels on an axis of their own, to give an image-like output.",
        ),
        DATA_FORMAT,
        TRAINABLE,
    ),
    shape=_stft_shape,
    params=_stft_params,
    weights=_stft_weights,
)

LAYERS = (MEL_SPECTROGRAM, STFT_SPECTROGRAM)
