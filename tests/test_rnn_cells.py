"""RNN and its cells beyond their shapes (tests/cases/cells.py): a cell run by RNN is the
layer of its name, a cell is refused as a step, the names and seeds of the cells a
spec holds, and models that use them, built and imported again."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelspec
from modelspec.check import check_text
from modelspec.lower.plan import derive_seed, plan
from tests.conformance import prove_import
from tests.keras_truth import catalogue_facts

ROOT = Path(__file__).resolve().parent.parent
CELLS = ROOT / "tests" / "specs" / "rnn_cells.yaml"

LSTM8 = {"type": "LSTMCell", "units": 8}
GRU4 = {"type": "GRUCell", "units": 4}


def _errors(text: str) -> list[str]:
    return [d.format() for d in check_text(text, "cells.yaml").errors]


@pytest.mark.parametrize(
    "loop", [{}, {"return_sequences": True}, {"return_state": True}, {"go_backwards": True}]
)
@pytest.mark.parametrize(
    "layer,cell",
    [
        ({"type": "LSTM", "units": 8}, LSTM8),
        ({"type": "GRU", "units": 4, "use_bias": False}, {**GRU4, "use_bias": False}),
        ({"type": "GRU", "units": 4, "reset_after": False}, {**GRU4, "reset_after": False}),
        ({"type": "SimpleRNN", "units": 3, "trainable": False},
         {"type": "SimpleRNNCell", "units": 3, "trainable": False}),
    ],
)  # fmt: skip
def test_a_cell_in_rnn_is_the_layer_of_its_name(layer, cell, loop):
    seq = [(None, 7, 5)]
    kwargs = {k: v for k, v in layer.items() if k != "type"}
    assert catalogue_facts("RNN", {"cell": cell, **loop}, seq) == catalogue_facts(
        layer["type"], {**kwargs, **loop}, seq
    )


def test_a_stack_of_cells_is_the_stack_of_layers():
    # RNN(StackedRNNCells([LSTMCell(8), GRUCell(4)])) has the weights of an LSTM(8)
    # with return_sequences, then a GRU(4) over its 8 features.
    seq = [(None, 7, 5)]
    stacked = catalogue_facts(
        "RNN", {"cell": {"type": "StackedRNNCells", "cells": [LSTM8, GRU4]}}, seq
    )
    _, lstm, _ = catalogue_facts("LSTM", {"units": 8, "return_sequences": True}, seq)
    gru_out, gru, _ = catalogue_facts("GRU", {"units": 4}, [(None, 7, 8)])
    assert stacked == (gru_out, lstm + gru, 0)


def test_a_cell_as_a_step_is_refused_at_its_step():
    # Keras: LSTMCell(4)(x) raises "missing a required argument: 'states'".
    text = """modelspec: 1
name: cells
inputs:
  seq: {shape: [6, 4]}
sequential:
  - {type: Flatten}
  - {type: LSTMCell, units: 4}
"""
    (error,) = check_text(text, "cells.yaml").errors
    assert error.format() == (
        "cells.yaml:7:5: error MS305: `LSTMCell` 'lstm_cell' is an RNN cell: Keras calls it "
        "on one time step together with the step's states, which a step of a model cannot pass"
    )
    assert error.hint == "run it over a sequence: {type: RNN, cell: {type: LSTMCell, ...}}"


SPEC = """modelspec: 1
name: cells
inputs:
  seq: {shape: [6, 4]}
sequential:
  - %s
"""


def test_what_is_not_a_cell_is_refused_with_the_cell_of_its_name():
    # Keras: "The RNN cell should have a `state_size` attribute" (Dense); an LSTM
    # fails to build as a cell.
    (error,) = check_text(SPEC % "{type: RNN, cell: {type: GRU, units: 4}}", "c.yaml").errors
    assert error.code == "MS304"
    assert error.message.endswith(
        "takes an RNN cell (SimpleRNNCell, GRUCell, LSTMCell, StackedRNNCells); got `GRU`"
    )
    assert error.hint == "a cell is the layer's name with Cell: {type: GRUCell, ...}"
    (error,) = check_text(SPEC % "{type: RNN, cell: {type: Dense, units: 4}}", "c.yaml").errors
    assert error.hint == "give a cell, such as {type: LSTMCell, units: 8}"


def test_the_schema_checks_cells_at_their_line():
    stack = "{type: RNN, cell: {type: StackedRNNCells, cells: %s}}"
    assert _errors(SPEC % (stack % "[]")) == [
        "cells.yaml:6:54: error MS106: `cells` needs at least 1 item; got []"
    ]
    assert _errors(SPEC % (stack % "[{units: 2}]")) == [
        "cells.yaml:6:55: error MS103: cell 0 in the `cells` of the `cell` of the layer in "
        "`sequential` is missing the required key 'type'"
    ]
    assert _errors(SPEC % (stack % "[{type: GRUCell, units: 0}]")) == [
        "cells.yaml:6:78: error MS106: `units` must be >= 1; got 0"
    ]


def test_return_state_over_cells_with_several_states_in_a_stack_is_refused():
    # Keras gives [output, [h, c], state]: a list in the list, which `name[i]` cannot
    # pick from. Cells with one state each give a flat list.
    deep = "{type: RNN, return_state: true, cell: {type: StackedRNNCells, cells: [%s]}}"
    (error,) = check_text(SPEC % (deep % "{type: GRUCell, units: 2}, {type: LSTMCell, units: 3}"), "c.yaml").errors  # fmt: skip
    assert error.code == "MS304"
    assert "the 2 states of cell 1 of its StackedRNNCells" in error.message
    flat = check_text(SPEC % (deep % "{type: GRUCell, units: 2}, {type: SimpleRNNCell, units: 3}"), "c.yaml")  # fmt: skip
    # (The one error: a sequential model's output cannot be a list.)
    assert [d.code for d in flat.errors] == ["MS306"]
    assert flat.shapes.tensors["rnn"] == [(None, 3), (None, 2), (None, 3)]


def test_cells_are_named_as_keras_names_them_and_their_dropout_is_seeded():
    text = """modelspec: 1
name: cells
seed: 2
inputs:
  seq: {shape: [6, 4]}
sequential:
  - {type: RNN, cell: {type: LSTMCell, units: 4}, return_sequences: true, name: first}
  - type: RNN
    name: second
    cell:
      type: StackedRNNCells
      cells: [{type: LSTMCell, units: 3, dropout: 0.5}, {type: GRUCell, units: 2}]
"""
    result = check_text(text, "cells.yaml")
    assert result.ok, [d.format() for d in result.diagnostics]
    # Keras names each unnamed layer when it is made: inner ones first, in order.
    assert dict(result.spec.layers["second"].inner) == {
        "cell.cells.0": "lstm_cell_1",
        "cell.cells.1": "gru_cell",
        "cell": "stacked_rnn_cells",
    }
    layers = plan(result).layers
    stack = dict(dict(layers["second"].ctor.kwargs)["cell"].kwargs)
    lstm, gru = (dict(c.kwargs) for c in stack["cells"])
    assert lstm["name"] == "lstm_cell_1"
    assert lstm["seed"] == derive_seed(2, "lstm_cell_1", "seed")
    assert "seed" not in gru


def test_a_frozen_rnn_warns_that_keras_still_trains_its_cell():
    result = check_text(SPEC % "{type: RNN, cell: {type: GRUCell, units: 2}, trainable: false}", "c.yaml")  # fmt: skip
    (warning,) = result.warnings
    assert warning.code == "MS404"
    # The layer reports its weights as frozen, the model trains them.
    # kernel (4, 6), recurrent kernel (2, 6), bias (2, 6): reset_after keeps two
    assert result.shapes.params["rnn"] == (0, 48)
    assert result.shapes.model_params["rnn"] == (48, 0)


@pytest.mark.keras
def test_the_cells_spec_builds_and_trains_like_keras_says():
    import keras
    import numpy as np

    keras.backend.clear_session()
    loaded = modelspec.load(CELLS)
    model = loaded.to_keras()
    summary = loaded.result.shapes
    assert model.count_params() == sum(t + f for t, f in summary.params.values()) == 1058
    batch = np.random.default_rng(0).random((3, 6, 4), dtype="float32")
    assert model.predict(batch, verbose=0).shape == (3, 2)
    assert model.get_layer("encoder").cell.name == "lstm_cell"


@pytest.mark.keras
def test_a_keras_model_with_rnn_cells_imports_as_the_same_model():
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    layers = keras.layers
    seq = keras.Input((6, 4), name="seq")
    # A list of cells: Keras makes the StackedRNNCells itself.
    x = layers.RNN([layers.GRUCell(5), layers.SimpleRNNCell(3)], return_sequences=True)(seq)
    out, h, c = layers.RNN(layers.LSTMCell(4, unit_forget_bias=False), return_state=True)(x)
    back = layers.Bidirectional(layers.RNN(layers.GRUCell(2, reset_after=False)))(x)
    merged = layers.Concatenate()([out, h, c, back])
    model = keras.Model(seq, layers.Dense(2)(merged), name="cells")
    proof = prove_import(model, "cells.json")
    assert proof.failure is None, proof.failure
    spec_layers = proof.checked.spec.layers
    # Keras's own names for the cells are the ones the spec would give: left out.
    assert spec_layers["rnn"].kwargs == {
        "return_sequences": True,
        "cell": {"type": "StackedRNNCells", "cells": [
            {"type": "GRUCell", "units": 5}, {"type": "SimpleRNNCell", "units": 3},
        ]},
    }  # fmt: skip
    assert spec_layers["rnn_1"].kwargs["cell"] == {
        "type": "LSTMCell",
        "units": 4,
        "unit_forget_bias": False,
    }
    assert "backward_layer" not in spec_layers["bidirectional"].kwargs
