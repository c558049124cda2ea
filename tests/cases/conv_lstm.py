"""Conformance cases for modelspec.catalog.conv_lstm."""

CF = {"data_format": "channels_first"}
C1 = {"type": "ConvLSTM1D", "filters": 4, "kernel_size": 3}
C2 = {"type": "ConvLSTM2D", "filters": 2, "kernel_size": 3}

CASES: list = [
    # ConvLSTM1D: the sequence is (batch, time, steps, channels).
    ("ConvLSTM1D", {"filters": 4, "kernel_size": 3}, [(None, 5, 8, 3)]),
    ("ConvLSTM1D", {"filters": 4, "kernel_size": 3, "dilation_rate": 2}, [(None, 5, 8, 3)]),
    ("ConvLSTM1D", {"filters": 4, "kernel_size": [2], "strides": 3, "padding": "same"},
     [(None, None, 8, 3)]),
    ("ConvLSTM1D", {"filters": 4, "kernel_size": 3, "return_sequences": True, **CF},
     [(None, 5, 3, 8)]),
    ("ConvLSTM1D", {"filters": 3, "kernel_size": 1, "return_state": True}, [(None, 5, 8, 2)]),
    ("ConvLSTM1D", {"filters": 3, "kernel_size": 2, "return_state": True,
                    "return_sequences": True, **CF}, [(None, 5, 2, 8)]),
    ("ConvLSTM1D", {"filters": 2, "kernel_size": 3, "use_bias": False,
                    "unit_forget_bias": False}, [(None, 5, 3, 1)]),
    ("ConvLSTM1D", {"filters": 2, "kernel_size": 3, "trainable": False}, [(None, 5, 3, 1)]),
    # ConvLSTM2D
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3}, [(None, 5, 8, 8, 3)]),
    ("ConvLSTM2D", {"filters": 4, "kernel_size": [3, 1], "strides": [2, 1]},
     [(None, 5, 9, 8, 3)]),
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
     [(None, 5, 9, 8, 3)]),
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3, "dilation_rate": [1, 2], **CF},
     [(None, None, 3, 8, 7)]),
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3, "return_sequences": True,
                    "return_state": True}, [(None, 5, 8, 8, 3)]),
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3, "go_backwards": True, "stateful": True,
                    "return_sequences": True}, [(2, 5, 6, 6, 3)]),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 3, "unroll": True, "dropout": 0.2,
                    "recurrent_dropout": 0.1, "seed": 3, "activation": "relu",
                    "recurrent_activation": "hard_sigmoid"}, [(None, 3, 5, 5, 2)]),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 2, "kernel_regularizer": "l2",
                    "bias_constraint": "non_neg", "recurrent_initializer": "glorot_uniform",
                    "padding": "same"}, [(None, 3, 5, 5, 2)]),
    # ConvLSTM3D
    ("ConvLSTM3D", {"filters": 2, "kernel_size": [1, 2, 3]}, [(None, 5, 4, 5, 6, 3)]),
    ("ConvLSTM3D", {"filters": 2, "kernel_size": 3, "padding": "same", **CF},
     [(None, 2, 3, 4, 4, 4)]),
    ("ConvLSTM3D", {"filters": 2, "kernel_size": 2, "strides": [1, 2, 2],
                    "return_state": True}, [(None, 2, 4, 5, 6, 1)]),
    # In Bidirectional: the feature maps are joined on the last axis, channels_first
    # or not, and the states of both directions follow the output.
    ("Bidirectional", {"layer": C2}, [(None, 5, 8, 8, 3)]),
    ("Bidirectional", {"layer": {**C2, **CF}}, [(None, 5, 3, 8, 8)]),
    ("Bidirectional", {"layer": {**C1, "return_state": True, "return_sequences": True}},
     [(None, 5, 8, 3)]),
    ("Bidirectional", {"layer": C1, "merge_mode": None}, [(None, 5, 8, 3)]),
    ("Bidirectional", {"layer": C1, "merge_mode": "ave",
                       "backward_layer": {**C1, "go_backwards": True, "use_bias": False}},
     [(None, 5, 8, 3)]),
    ("TimeDistributed", {"layer": C1}, [(None, 2, 5, 8, 3)]),
    # Keras makes the cell without the layer's trainable flag, so a frozen ConvLSTM's
    # weights are still trainable once another layer holds it.
    ("Bidirectional", {"layer": {**C1, "trainable": False}}, [(None, 5, 8, 3)]),
    ("TimeDistributed", {"layer": {**C1, "trainable": False}}, [(None, 2, 5, 8, 3)]),
]  # fmt: skip

BAD: list = [
    # The rank: a sequence of steps of rank + 2 axes.
    ("ConvLSTM1D", {"filters": 4, "kernel_size": 3}, [(None, 8, 3)], "MS301"),
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3}, [(None, 8, 8, 3)], "MS301"),
    ("ConvLSTM3D", {"filters": 4, "kernel_size": 3}, [(None, 5, 8, 8, 3)], "MS301"),
    # Known spatial sizes and channels: the initial state and the weights need them.
    ("ConvLSTM1D", {"filters": 4, "kernel_size": 3}, [(None, 5, None, 3)], "MS302"),
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3}, [(None, 5, 8, 8, None)], "MS302"),
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3, **CF}, [(None, 5, None, 8, 8)], "MS302"),
    ("ConvLSTM3D", {"filters": 4, "kernel_size": 3, **CF}, [(None, 5, 3, 8, None, 8)],
     "MS302"),
    # A 'valid' kernel larger than a step.
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 9}, [(None, 5, 8, 8, 3)], "MS302"),
    ("ConvLSTM1D", {"filters": 4, "kernel_size": 3, "dilation_rate": 4}, [(None, 5, 8, 3)],
     "MS302"),
    # strides > 1 with dilation_rate > 1 (the constructor); stateful without a batch size.
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
     [(None, 5, 8, 8, 3)], "MS304"),
    ("ConvLSTM1D", {"filters": 4, "kernel_size": 3, "stateful": True}, [(None, 5, 8, 3)],
     "MS304"),
    ("Bidirectional", {"layer": {**C1, "go_backwards": True}}, [(None, 5, 8, 3)], "MS304"),
    ("Bidirectional", {"layer": C1}, [(None, 5, None, 3)], "MS302"),
]  # fmt: skip

# Keras builds a ConvLSTM with an LSTM going the other way, and reports the forward
# layer's shape for both; the LSTM then fails on the sequence of feature maps.
DIVERGENT: list = [
    ("Bidirectional", {"layer": C1, "backward_layer": {"type": "LSTM", "units": 4,
                                                        "go_backwards": True}},
     [(None, 5, 8, 3)], "MS301"),
]  # fmt: skip
