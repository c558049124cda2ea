"""The generic recurrent layer RNN and its cells: SimpleRNNCell, GRUCell, LSTMCell and
StackedRNNCells.

A cell computes one time step from the step's input and its states; ``RNN`` runs it
over a sequence, so ``{type: RNN, cell: {type: LSTMCell, units: 8}}`` is an
``{type: LSTM, units: 8}`` with the same shapes and weights. ``StackedRNNCells`` is a
cell made of cells, each reading the output of the one before.

A cell cannot be a step of a model: Keras calls it with its states (``cell(x,
states)``), which a step cannot pass, so its shape rule refuses it (MS305).

NOTE: [nested states]
Keras's RNN returns, with ``return_state``, one entry per entry of the cell's
``state_size``. In a stack, a cell with several states (an ``LSTMCell``) gives a list
inside that list, which a step's ``name[i]`` cannot pick from: the rule refuses it.
"""

from __future__ import annotations

from typing import Any

from modelspec.catalog.base import (
    BOOL,
    POS_INT,
    TRAINABLE,
    Kwarg,
    LayerType,
    ShapeError,
    activation,
    by_trainable,
    expect_rank,
    held_weights,
    inner_layer,
    known_dim,
)
from modelspec.catalog.rnn import (
    DROPOUT,
    LAYER_REF,
    LOOP,
    RECURRENT_ACTIVATION,
    SEQ_LAYOUT,
    USE_BIAS,
    check_stateful,
    recurrent_cell_weights,
    recurrent_params,
    recurrent_weights,
)

CELL_TYPES = ("SimpleRNNCell", "GRUCell", "LSTMCell", "StackedRNNCells")
# Gates per cell type: the number of `units`-sized slices of its weights.
_GATES = {"SimpleRNNCell": 1, "GRUCell": 3, "LSTMCell": 4}


# --- what RNN reads of a cell ---------------------------------------------------------


def _cell(spec) -> tuple[LayerType, dict[str, Any]]:
    """The catalogue entry and resolved kwargs of a cell spec; anything else refused."""
    lt, kw = inner_layer(spec)
    if lt.name not in CELL_TYPES:
        raise ShapeError(
            f"takes an RNN cell ({', '.join(CELL_TYPES)}); got `{lt.name}`",
            code="MS304",
            hint=f"a cell is the layer's name with Cell: {{type: {lt.name}Cell, ...}}"
            if f"{lt.name}Cell" in CELL_TYPES
            else "give a cell, such as {type: LSTMCell, units: 8}",
        )
    return lt, kw


def _state_size(lt: LayerType, kw) -> int | list:
    """Keras's ``cell.state_size``: an int, or a list with one entry per state."""
    if lt.name == "StackedRNNCells":
        return [_state_size(*_cell(c)) for c in kw["cells"]]
    if lt.name == "LSTMCell":
        return [kw["units"], kw["units"]]  # the output h and the carry c
    return kw["units"]


def _output_size(lt: LayerType, kw) -> int:
    if lt.name == "StackedRNNCells":
        return _output_size(*_cell(kw["cells"][-1]))
    return kw["units"]


def _cell_params(lt: LayerType, kw, n_in: int) -> tuple[int, int]:
    """The weights of a cell over ``n_in`` features; a stack's cells each read the
    output of the cell before, and only their own trainable flags count."""
    if lt.name != "StackedRNNCells":
        return recurrent_params(_GATES[lt.name], kw, n_in)
    trainable = frozen = 0
    for spec in kw["cells"]:
        inner, ikw = _cell(spec)
        t, f = _cell_params(inner, ikw, n_in)
        trainable, frozen = trainable + t, frozen + f
        n_in = _output_size(inner, ikw)
    return trainable, frozen


def _cell_weights(name: str):
    """The weights of one step of a cell over (batch, features)."""
    if name == "StackedRNNCells":
        return _stack_weights

    def weights(kw, inputs):
        return recurrent_cell_weights(_GATES[name], kw, known_dim(inputs[0], -1))

    return weights


def _stack_weights(kw, inputs):
    """Each cell's weights under its name, each cell reading the output of the one
    before; the stack's own trainable flag reaches none of them."""
    (step,) = inputs
    out = []
    for spec in kw["cells"]:
        inner, ikw = _cell(spec)
        out += held_weights(inner, ikw, [step])
        step = (step[0], _output_size(inner, ikw))
    return out


# --- RNN ------------------------------------------------------------------------------


def _rnn_shape(kw, inputs):
    lt, ckw = _cell(kw["cell"])
    (seq,) = inputs
    expect_rank(seq, 3, layout=SEQ_LAYOUT)
    check_stateful(kw, seq)
    batch, steps, _ = seq
    size = _output_size(lt, ckw)
    out = (batch, steps, size) if kw["return_sequences"] else (batch, size)
    if not kw["return_state"]:
        return out
    sizes = _state_size(lt, ckw)
    states = []
    for i, s in enumerate(sizes if isinstance(sizes, list) else [sizes]):
        if isinstance(s, list):  # see NOTE: [nested states]
            raise ShapeError(
                f"with return_state=True would return the {len(s)} states of cell {i} of "
                "its StackedRNNCells as one list inside the list of states, which a step "
                "cannot index",
                code="MS304",
                hint="leave return_state out, or stack cells that keep one state each "
                "(GRUCell, SimpleRNNCell)",
            )
        states.append((batch, s))
    return [out, *states]


def _rnn_params(kw, inputs):
    lt, ckw = _cell(kw["cell"])
    (seq,) = inputs
    trainable, frozen = _cell_params(lt, ckw, known_dim(seq, -1))
    return by_trainable(kw, trainable, frozen)


def _rnn_weights(kw, inputs):
    (seq,) = inputs
    return held_weights(*_cell(kw["cell"]), [(seq[0], *seq[2:])])


RNN = LayerType(
    name="RNN",
    owns_sublayers=True,
    category="recurrent",
    doc="Runs an RNN cell over the time axis of a (batch, timesteps, features) sequence.",
    kwargs=(
        Kwarg(
            "cell",
            LAYER_REF,
            description="The cell to run at each time step: SimpleRNNCell, GRUCell, LSTMCell "
            "or StackedRNNCells.",
        ),
        *LOOP,
        TRAINABLE,
    ),
    shape=_rnn_shape,
    params=_rnn_params,
    weights=_rnn_weights,
)


# --- the cells ------------------------------------------------------------------------


def _refuse_step(name: str):
    def shape(kw, inputs):
        raise ShapeError(
            "is an RNN cell: Keras calls it on one time step together with the "
            "step's states, which a step of a model cannot pass",
            code="MS305",
            hint=f"run it over a sequence: {{type: RNN, cell: {{type: {name}, ...}}}}",
        )

    return shape


def _cell_type(name: str, doc: str, kwargs: tuple[Kwarg, ...], **extra: Any) -> LayerType:
    return LayerType(
        name=name,
        category="cell",
        **extra,
        doc=f"{doc} Used as the `cell` of RNN (or in StackedRNNCells), not as a step.",
        kwargs=(*kwargs, TRAINABLE),
        shape=_refuse_step(name),
        weights=_cell_weights(name),
    )


UNITS = Kwarg("units", POS_INT, description="Dimensionality of the output space (and state).")

SIMPLE_RNN_CELL = _cell_type(
    "SimpleRNNCell",
    "One step of a fully-connected RNN: its output is the next state.",
    (UNITS, activation("tanh"), USE_BIAS, *recurrent_weights(False, activity=False), *DROPOUT),
)

GRU_CELL = _cell_type(
    "GRUCell",
    "One step of a Gated Recurrent Unit.",
    (
        UNITS,
        activation("tanh"),
        RECURRENT_ACTIVATION,
        USE_BIAS,
        *recurrent_weights(False, activity=False),
        *DROPOUT,
        Kwarg(
            "reset_after",
            BOOL,
            True,
            "Apply the reset gate after the matrix product (cuDNN style).",
        ),
    ),  # fmt: skip
)

LSTM_CELL = _cell_type(
    "LSTMCell",
    "One step of a Long Short-Term Memory layer; its states are the output and the carry.",
    (
        UNITS,
        activation("tanh"),
        RECURRENT_ACTIVATION,
        USE_BIAS,
        *recurrent_weights(True, activity=False),
        *DROPOUT,
    ),
)

STACKED_RNN_CELLS = _cell_type(
    "StackedRNNCells",
    "A stack of RNN cells that acts as one cell: each cell reads the output of the one "
    "before, and the last one's output is the stack's.",
    (
        Kwarg(
            "cells",
            {"type": "array", "items": LAYER_REF, "minItems": 1},
            description="The cells, first to last: SimpleRNNCell, GRUCell, LSTMCell or "
            "StackedRNNCells.",
        ),
    ),
    # Its own trainable flag reaches none of its cells' weights, even directly in an RNN.
    owns_sublayers=True,
)

LAYERS = (RNN, SIMPLE_RNN_CELL, GRU_CELL, LSTM_CELL, STACKED_RNN_CELLS)
