"""Conformance cases for modelspec.catalog.cells.

A cell is never a step of its own (Keras calls it with its states): its shapes and
weights are checked inside RNN, and its refusal as a step in BAD.
"""

LSTM8 = {"type": "LSTMCell", "units": 8}
GRU4 = {"type": "GRUCell", "units": 4}
SIMPLE3 = {"type": "SimpleRNNCell", "units": 3}


def stack(*cells, **kwargs):
    return {"type": "StackedRNNCells", "cells": list(cells), **kwargs}


CASES: list = [
    # RNN(LSTMCell(8)) is LSTM(8): the same shapes, states and weights.
    ("RNN", {"cell": LSTM8}, [(None, 5, 3)]),
    ("RNN", {"cell": LSTM8, "return_sequences": True, "return_state": True}, [(None, 5, 3)]),
    ("RNN", {"cell": {**LSTM8, "use_bias": False, "unit_forget_bias": False}},
     [(None, None, 3)]),
    ("RNN", {"cell": {**LSTM8, "dropout": 0.2, "recurrent_dropout": 0.1, "seed": 4,
                      "activation": "relu", "recurrent_activation": "hard_sigmoid",
                      "kernel_regularizer": "l2", "bias_constraint": "non_neg"}},
     [(None, 5, 3)]),
    # GRUCell: reset_after changes the bias from (3u,) to (2, 3u); one state.
    ("RNN", {"cell": GRU4, "return_state": True}, [(None, 5, 3)]),
    ("RNN", {"cell": {**GRU4, "reset_after": False}, "return_sequences": True},
     [(None, 5, 3)]),
    ("RNN", {"cell": {**GRU4, "use_bias": False}}, [(None, 5, 6)]),
    ("RNN", {"cell": SIMPLE3, "return_state": True, "return_sequences": True},
     [(None, None, 2)]),
    ("RNN", {"cell": {**SIMPLE3, "use_bias": False, "activation": None}}, [(None, 5, 2)]),
    # The loop's kwargs.
    ("RNN", {"cell": GRU4, "go_backwards": True, "stateful": True}, [(3, 5, 2)]),
    ("RNN", {"cell": SIMPLE3, "unroll": True}, [(None, 4, 2)]),
    ("RNN", {"cell": LSTM8, "unroll": True}, [(None, None, 2)]),
    # trainable: the RNN's flag empties its own lists, a cell's freezes its weights.
    ("RNN", {"cell": LSTM8, "trainable": False}, [(None, 5, 3)]),
    ("RNN", {"cell": {**LSTM8, "trainable": False}}, [(None, 5, 3)]),
    # StackedRNNCells: each cell reads the output of the one before.
    ("RNN", {"cell": stack(LSTM8, GRU4)}, [(None, 5, 3)]),
    ("RNN", {"cell": stack(SIMPLE3, GRU4), "return_state": True}, [(None, 5, 3)]),
    ("RNN", {"cell": stack(GRU4), "return_state": True, "return_sequences": True},
     [(None, 5, 3)]),
    ("RNN", {"cell": stack(stack(GRU4, SIMPLE3), LSTM8)}, [(None, 5, 3)]),
    ("RNN", {"cell": stack(LSTM8, {**GRU4, "trainable": False})}, [(None, 5, 3)]),
    # A stack's own trainable flag reaches none of its cells.
    ("RNN", {"cell": stack(LSTM8, GRU4, trainable=False)}, [(None, 5, 3)]),
    ("RNN", {"cell": stack(LSTM8, GRU4), "trainable": False}, [(None, 5, 3)]),
    # In the wrappers.
    ("Bidirectional", {"layer": {"type": "RNN", "cell": LSTM8}}, [(None, 5, 3)]),
    ("Bidirectional", {"layer": {"type": "RNN", "cell": stack(GRU4, SIMPLE3),
                                 "return_state": True}}, [(None, 5, 3)]),
    ("Bidirectional", {"layer": {"type": "RNN", "cell": LSTM8, "trainable": False}},
     [(None, 5, 3)]),
    ("Bidirectional", {"layer": {"type": "RNN", "cell": GRU4},
                       "backward_layer": {"type": "GRU", "units": 4, "go_backwards": True}},
     [(None, 5, 3)]),
    ("TimeDistributed", {"layer": {"type": "RNN", "cell": GRU4}}, [(None, 2, 5, 3)]),
]  # fmt: skip

BAD: list = [
    ("RNN", {"cell": LSTM8}, [(None, 5)], "MS301"),
    ("RNN", {"cell": LSTM8}, [(None, 5, None)], "MS302"),
    ("RNN", {"cell": stack(GRU4, LSTM8)}, [(None, 5, None)], "MS302"),
    ("RNN", {"cell": GRU4, "stateful": True}, [(None, 5, 3)], "MS304"),
    # Not a cell: Keras wants a `state_size` (Dense) or fails to build (an LSTM).
    ("RNN", {"cell": {"type": "Dense", "units": 4}}, [(None, 5, 3)], "MS304"),
    ("RNN", {"cell": {"type": "LSTM", "units": 4}}, [(None, 5, 3)], "MS304"),
    # A cell as a step: "missing a required argument: 'states'".
    ("LSTMCell", {"units": 4}, [(None, 3)], "MS305"),
    ("GRUCell", {"units": 4}, [(None, 3)], "MS305"),
    ("SimpleRNNCell", {"units": 4}, [(None, 5, 3)], "MS305"),
    ("StackedRNNCells", {"cells": [GRU4]}, [(None, 3)], "MS305"),
    ("Bidirectional", {"layer": {"type": "RNN", "cell": GRU4, "go_backwards": True}},
     [(None, 5, 3)], "MS304"),
]  # fmt: skip

# Keras states no input rank for RNN: an LSTMCell built on the steps' last axis
# reports (None, 4), then fails on the real sequence.
DIVERGENT: list = [
    ("RNN", {"cell": {"type": "LSTMCell", "units": 4}}, [(None, 5, 3, 2)], "MS301"),
]  # fmt: skip
