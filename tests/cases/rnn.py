"""Conformance cases for modelspec.catalog.rnn."""

LSTM4 = {"type": "LSTM", "units": 4}
GRU4 = {"type": "GRU", "units": 4}

CASES: list = [
    # LSTM: return_sequences x return_state, unknown steps, bias, trainable, the rest.
    ("LSTM", {"units": 8}, [(None, 10, 3)]),
    ("LSTM", {"units": 8, "return_sequences": True}, [(None, 10, 3)]),
    ("LSTM", {"units": 8, "return_state": True}, [(None, 10, 3)]),
    ("LSTM", {"units": 8, "return_sequences": True, "return_state": True}, [(None, 10, 3)]),
    ("LSTM", {"units": 5, "return_sequences": True}, [(None, None, 7)]),
    ("LSTM", {"units": 5, "use_bias": False}, [(2, None, 7)]),
    ("LSTM", {"units": 3, "unit_forget_bias": False, "trainable": False}, [(None, 4, 2)]),
    ("LSTM", {"units": 6, "go_backwards": True, "stateful": True}, [(4, 5, 3)]),
    ("LSTM", {"units": 2, "unroll": True, "dropout": 0.2, "recurrent_dropout": 0.1,
              "seed": 3, "activation": "relu", "recurrent_activation": "hard_sigmoid"},
     [(None, 6, 4)]),
    # Keras builds an unrolled RNN over unknown steps: it only fails if the first
    # call's steps are unknown too, and the TensorFlow backend traces them known.
    ("LSTM", {"units": 2, "unroll": True, "use_cudnn": False}, [(None, None, 4)]),
    ("LSTM", {"units": 4, "kernel_regularizer": "l2", "bias_constraint": "non_neg",
              "recurrent_initializer": "glorot_uniform"}, [(None, 3, 3)]),
    # GRU: reset_after changes the bias from (3u,) to (2, 3u).
    ("GRU", {"units": 8}, [(None, 10, 3)]),
    ("GRU", {"units": 8, "reset_after": False}, [(None, 10, 3)]),
    ("GRU", {"units": 8, "return_sequences": True}, [(None, None, 3)]),
    ("GRU", {"units": 8, "return_state": True}, [(None, 10, 3)]),
    ("GRU", {"units": 8, "return_sequences": True, "return_state": True}, [(None, 10, 3)]),
    ("GRU", {"units": 5, "use_bias": False}, [(None, 10, 6)]),
    ("GRU", {"units": 5, "use_bias": False, "reset_after": False}, [(None, 10, 6)]),
    ("GRU", {"units": 3, "trainable": False, "reset_after": False}, [(None, 4, 2)]),
    ("GRU", {"units": 3, "stateful": True, "go_backwards": True}, [(8, 4, 2)]),
    ("GRU", {"units": 2, "unroll": True, "recurrent_dropout": 0.5}, [(None, 3, 1)]),
    # SimpleRNN
    ("SimpleRNN", {"units": 8}, [(None, 10, 3)]),
    ("SimpleRNN", {"units": 8, "return_sequences": True}, [(None, 10, 3)]),
    ("SimpleRNN", {"units": 8, "return_state": True}, [(None, 10, 3)]),
    ("SimpleRNN", {"units": 8, "return_sequences": True, "return_state": True},
     [(None, None, 3)]),
    ("SimpleRNN", {"units": 4, "use_bias": False}, [(None, 10, 5)]),
    ("SimpleRNN", {"units": 4, "trainable": False}, [(None, 10, 5)]),
    ("SimpleRNN", {"units": 4, "stateful": True, "unroll": True}, [(3, 2, 5)]),
    ("SimpleRNN", {"units": 1, "activation": None, "dropout": 0.5, "go_backwards": True},
     [(None, 7, 2)]),
    # Bidirectional: every merge mode, with and without return_state / sequences.
    ("Bidirectional", {"layer": LSTM4}, [(None, 5, 3)]),
    ("Bidirectional", {"layer": {**LSTM4, "return_sequences": True}}, [(None, None, 3)]),
    ("Bidirectional", {"layer": GRU4, "merge_mode": "sum"}, [(None, 5, 3)]),
    ("Bidirectional", {"layer": GRU4, "merge_mode": "mul"}, [(None, 5, 3)]),
    ("Bidirectional", {"layer": {"type": "SimpleRNN", "units": 4}, "merge_mode": "ave"},
     [(None, 5, 3)]),
    ("Bidirectional", {"layer": LSTM4, "merge_mode": None}, [(None, 5, 3)]),
    ("Bidirectional", {"layer": {**LSTM4, "return_state": True}}, [(None, 5, 3)]),
    ("Bidirectional", {"layer": {**GRU4, "return_state": True, "return_sequences": True},
                       "merge_mode": "sum"}, [(None, 5, 3)]),
    ("Bidirectional", {"layer": {**LSTM4, "return_state": True}, "merge_mode": None},
     [(None, 5, 3)]),
    ("Bidirectional", {"layer": {**GRU4, "return_state": True, "return_sequences": True},
                       "merge_mode": None}, [(None, 5, 3)]),
    ("Bidirectional", {"layer": LSTM4, "backward_layer": {**LSTM4, "go_backwards": True,
                                                          "use_bias": False}},
     [(None, 5, 3)]),
    # Forward going backwards, backward going forwards: Keras only wants them to differ.
    ("Bidirectional", {"layer": {**GRU4, "go_backwards": True}, "backward_layer": LSTM4,
                       "merge_mode": "ave"}, [(None, 5, 3)]),
    ("Bidirectional", {"layer": {**LSTM4, "trainable": False}}, [(None, 5, 3)]),
    ("Bidirectional", {"layer": LSTM4, "trainable": False}, [(None, 5, 3)]),
    # The backward copy keeps `layer`'s flags, an explicit backward_layer its own.
    ("Bidirectional", {"layer": LSTM4, "backward_layer": {**LSTM4, "go_backwards": True,
                                                          "trainable": False}},
     [(None, 5, 3)]),
    ("Bidirectional", {"layer": {**LSTM4, "stateful": True}}, [(2, 5, 3)]),
    # TimeDistributed
    ("TimeDistributed", {"layer": {"type": "Dense", "units": 4}}, [(None, 5, 3)]),
    ("TimeDistributed", {"layer": {"type": "Dense", "units": 4}}, [(None, None, 6, 3)]),
    ("TimeDistributed", {"layer": {"type": "Dense", "units": 2, "use_bias": False}},
     [(7, 5, 3)]),
    ("TimeDistributed", {"layer": {"type": "Dense", "units": 4, "trainable": False}},
     [(None, 5, 3)]),
    ("TimeDistributed", {"layer": {"type": "Dense", "units": 4}, "trainable": False},
     [(None, 5, 3)]),
    ("TimeDistributed", {"layer": {**LSTM4, "return_sequences": True}}, [(None, 5, 6, 3)]),
    ("TimeDistributed", {"layer": {"type": "Bidirectional", "layer": GRU4}}, [(None, 5, 6, 3)]),
    # A nested wrapper's trainable=False does not reach the weights: only the layers
    # that create them (here the LSTM cells) decide.
    ("TimeDistributed", {"layer": {"type": "Bidirectional", "layer": LSTM4, "trainable": False}},
     [(None, 5, 6, 3)]),
    ("TimeDistributed", {"layer": {"type": "Bidirectional", "layer": LSTM4, "backward_layer":
                                   {**LSTM4, "go_backwards": True, "trainable": False}}},
     [(None, 5, 6, 3)]),
    ("TimeDistributed", {"layer": {"type": "TimeDistributed", "trainable": False,
                                   "layer": {"type": "Dense", "units": 2}}}, [(None, 5, 6, 3)]),
    ("TimeDistributed", {"layer": {"type": "Conv2D", "filters": 4, "kernel_size": 3}},
     [(None, 5, 8, 8, 3)]),
    ("TimeDistributed", {"layer": {"type": "Conv2D", "filters": 4, "kernel_size": 3,
                                   "padding": "same", "strides": 2}},
     [(None, None, 9, 8, 3)]),
]  # fmt: skip

BAD: list = [
    ("LSTM", {"units": 4}, [(None, 8)], "MS301"),
    ("LSTM", {"units": 4}, [(None, 5, 3, 2)], "MS301"),
    ("LSTM", {"units": 4}, [(None, 5, None)], "MS302"),
    ("LSTM", {"units": 4, "stateful": True}, [(None, 5, 3)], "MS304"),
    ("GRU", {"units": 4}, [(None, 8)], "MS301"),
    ("GRU", {"units": 4, "reset_after": False}, [(None, 5, None)], "MS302"),
    ("GRU", {"units": 4, "stateful": True, "return_state": True}, [(None, 5, 3)], "MS304"),
    ("SimpleRNN", {"units": 4}, [(None, 2, 3, 8)], "MS301"),
    ("SimpleRNN", {"units": 4}, [(None, None, None)], "MS302"),
    ("Bidirectional", {"layer": LSTM4}, [(None, 8)], "MS301"),
    ("Bidirectional", {"layer": LSTM4}, [(None, 5, None)], "MS302"),
    ("Bidirectional", {"layer": {"type": "Dense", "units": 4}}, [(None, 5, 3)], "MS304"),
    ("Bidirectional", {"layer": {**LSTM4, "go_backwards": True}}, [(None, 5, 3)], "MS304"),
    ("Bidirectional", {"layer": LSTM4, "backward_layer": LSTM4}, [(None, 5, 3)], "MS304"),
    ("Bidirectional", {"layer": LSTM4, "backward_layer": {**LSTM4, "go_backwards": True,
                                                          "return_sequences": True}},
     [(None, 5, 3)], "MS304"),
    ("Bidirectional", {"layer": {**LSTM4, "stateful": True}}, [(None, 5, 3)], "MS304"),
    ("TimeDistributed", {"layer": {"type": "Dense", "units": 4}}, [(None, 5)], "MS301"),
    ("TimeDistributed", {"layer": {"type": "Dense", "units": 4}}, [(None, 5, None)], "MS302"),
    ("TimeDistributed", {"layer": {**LSTM4, "return_state": True}}, [(None, 5, 6, 3)],
     "MS304"),
    ("TimeDistributed", {"layer": {"type": "Conv2D", "filters": 4, "kernel_size": 3}},
     [(None, 5, 8, 3)], "MS301"),
]  # fmt: skip

# Keras builds these without complaint, but the model is broken, so the catalogue
# refuses them on purpose: here Keras reports the forward layer's shape for both
# directions, while the backward layer really gives 6 (or 2 GRU states, not 3).
DIVERGENT: list = [
    ("Bidirectional", {"layer": LSTM4, "backward_layer": {"type": "LSTM", "units": 6,
                                                          "go_backwards": True}},
     [(None, 5, 3)], "MS304"),
    ("Bidirectional", {"layer": {**LSTM4, "return_state": True},
                       "backward_layer": {**GRU4, "go_backwards": True, "return_state": True}},
     [(None, 5, 3)], "MS304"),
]  # fmt: skip
