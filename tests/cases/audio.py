"""Audio front ends: MelSpectrogram and STFTSpectrogram.

STFTSpectrogram's cases give the window as numbers or null: Keras makes a named window
with SciPy, which the Keras extra does not install (tests/test_audio_layers.py checks
named windows where SciPy is installed).
"""

MEL = {"fft_length": 8, "sequence_stride": 4}
STFT = {"frame_length": 16, "frame_step": 8, "window": None}
HANN4 = [0.0, 0.75, 0.75, 0.0]

CASES: list = [
    # MelSpectrogram: (batch, samples) -> (batch, num_mel_bins, frames), no weights.
    ("MelSpectrogram", {}, [(None, 16000)]),
    ("MelSpectrogram", {"fft_length": 512, "sequence_stride": 128, "num_mel_bins": 40},
     [(None, 1000)]),
    ("MelSpectrogram", MEL, [(None, 16)]),
    ("MelSpectrogram", MEL, [(3, 5)]),
    ("MelSpectrogram", MEL, [(None, None)]),
    ("MelSpectrogram", {"fft_length": 9, "sequence_stride": 4}, [(None, 17)]),
    ("MelSpectrogram", {**MEL, "sequence_length": 6, "window": "hamming", "power_to_db": False,
                        "sampling_rate": 8000, "min_freq": 0.0, "max_freq": 3000.0,
                        "top_db": 60.0, "mag_exp": 1.0, "min_power": 1e-6, "ref_power": 2.0},
     [(None, 20)]),
    ("MelSpectrogram", {**MEL, "sequence_length": 4, "window": HANN4, "num_mel_bins": 16,
                        "trainable": False}, [(None, 20)]),
    ("MelSpectrogram", {**MEL, "window": None, "sampling_rate": 22050}, [(None, 20)]),
    # STFTSpectrogram: (batch, samples, channels); two kernels of frame_length x bins.
    ("STFTSpectrogram", STFT, [(None, 100, 2)]),
    ("STFTSpectrogram", {**STFT, "padding": "same"}, [(None, 100, 2)]),
    ("STFTSpectrogram", {**STFT, "expand_dims": True}, [(None, 100, 2)]),
    ("STFTSpectrogram", {**STFT, "data_format": "channels_first"}, [(None, 2, 100)]),
    ("STFTSpectrogram", {**STFT, "data_format": "channels_first", "expand_dims": True},
     [(None, 2, 100)]),
    ("STFTSpectrogram", {**STFT, "mode": "stft", "expand_dims": True}, [(None, 100, 3)]),
    ("STFTSpectrogram", {**STFT, "mode": "real"}, [(None, 100, 1)]),
    ("STFTSpectrogram", {**STFT, "mode": "imag", "scaling": None}, [(None, 100, 1)]),
    ("STFTSpectrogram", {**STFT, "mode": "psd", "fft_length": 32, "scaling": "spectrum"},
     [(None, 100, 1)]),
    ("STFTSpectrogram", {"frame_length": 12, "window": None, "mode": "magnitude"},
     [(None, 100, 1)]),
    ("STFTSpectrogram", {**STFT, "fft_length": 20, "mode": "angle"}, [(None, 100, 1)]),
    ("STFTSpectrogram", {"frame_length": 4, "window": HANN4, "periodic": True},
     [(None, 100, 1)]),
    ("STFTSpectrogram", {**STFT, "frame_step": 4, "padding": "same"}, [(None, 101, 1)]),
    ("STFTSpectrogram", {**STFT, "frame_step": 16}, [(None, 16, 1)]),
    ("STFTSpectrogram", {**STFT, "frame_step": 16, "padding": "same"}, [(4, 15, 1)]),
    ("STFTSpectrogram", {**STFT, "padding": "same"}, [(None, None, 1)]),
    ("STFTSpectrogram", {**STFT, "trainable": False}, [(None, 100, 1)]),
    ("STFTSpectrogram", {"frame_length": 1, "frame_step": 1, "window": None}, [(None, 10, 1)]),
]  # fmt: skip

BAD: list = [
    ("MelSpectrogram", {**MEL, "sequence_length": 9}, [(None, 20)], "MS304"),
    ("STFTSpectrogram", STFT, [(None, 100)], "MS301"),
    ("STFTSpectrogram", STFT, [(None, 100, 2, 1)], "MS301"),
    ("STFTSpectrogram", STFT, [(None, 100, None)], "MS302"),
    ("STFTSpectrogram", STFT, [(None, 10, 2)], "MS302"),
    ("STFTSpectrogram", {**STFT, "frame_step": 16}, [(None, 15, 1)], "MS302"),
    ("STFTSpectrogram", {**STFT, "frame_step": 17}, [(None, 100, 1)], "MS304"),
    ("STFTSpectrogram", {**STFT, "fft_length": 8}, [(None, 100, 1)], "MS304"),
    ("STFTSpectrogram", {"frame_length": 4, "window": [0.5, 1.0, 0.5]}, [(None, 100, 1)],
     "MS304"),
    ("STFTSpectrogram", {"frame_length": 1, "window": None}, [(None, 100, 1)], "MS304"),
]  # fmt: skip

# Keras declares a shape for these without running the call, but the first call fails
# or gives another shape (checked by hand with real tensors); the catalogue refuses them.
DIVERGENT: list = [
    # Keras declares (samples + stride + 1) // stride frames; its STFT gives one fewer here.
    ("MelSpectrogram", MEL, [(None, 15)], "MS302"),
    ("MelSpectrogram", {"fft_length": 8, "sequence_stride": 1}, [(None, 16)], "MS302"),
    ("MelSpectrogram", {"fft_length": 9, "sequence_stride": 4}, [(None, 16)], "MS302"),
    # Too short to pad by reflection.
    ("MelSpectrogram", MEL, [(None, 4)], "MS302"),
    # The STFT runs over the last axis, whatever the rank.
    ("MelSpectrogram", MEL, [(2, 20, 3)], "MS301"),
    ("MelSpectrogram", MEL, [(2, 3, 20)], "MS301"),
    ("MelSpectrogram", MEL, [(None,)], "MS301"),
    ("MelSpectrogram", {**MEL, "sequence_length": 4, "window": [0.5, 1.0, 0.5]}, [(None, 20)],
     "MS304"),
]  # fmt: skip
