"""A graph step's ``call:``: the arguments of a layer's call besides its inputs.

``initial_state`` for a decoder started from an encoder's state, ``use_causal_mask``
and ``attention_mask`` for attention, ``return_attention_scores``, ``training`` fixed
per call. Lint checks each against what the layer's call takes
(:mod:`modelspec.catalog.calls`), without Keras; the Keras-marked tests check those
rules against Keras's call signatures and against what a real call does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelspec.catalog.base import ShapeError
from modelspec.catalog.calls import CALLS, call_of
from modelspec.check import check_text
from modelspec.lower.plan import plan

ROOT = Path(__file__).resolve().parent.parent

SEQ2SEQ = """modelspec: 1
name: seq2seq
seed: 3
inputs:
  source: {shape: [10, 8]}
  target: {shape: [12, 8]}
layers:
  enc: {type: LSTM, units: 16, return_state: true}
  dec: {type: LSTM, units: %s, return_sequences: true}
graph:
  encoded: {apply: enc, to: source}
  decoded: {apply: dec, to: target, call: {initial_state: %s}}
  out: {apply: {type: Dense, units: 4}, to: decoded}
outputs:
  y: {from: out}
"""

ATTENTION = """modelspec: 1
name: att
seed: 1
inputs:
  q: {shape: [5, 16]}
  v: {shape: [7, 16]}
  m: {shape: %s, dtype: bool}
graph:
  h: {apply: {type: MultiHeadAttention, num_heads: 2, key_dim: 8, name: mha}, to: [q, v],
      call: {%s: m}}
outputs:
  y: {from: h}
"""


def lint(text: str):
    return check_text(text, "s.yaml")


def errors(text: str) -> list[str]:
    return [d.format() for d in lint(text).errors]


def messages(text: str) -> list[str]:
    return [
        d.format() + (f"\n    hint: {d.hint}" if d.hint else "") for d in lint(text).diagnostics
    ]


# --- what lint accepts, and the shapes it gives ------------------------------------------


def test_a_decoder_starts_from_the_encoders_state():
    result = lint(SEQ2SEQ % (16, '["encoded[1]", "encoded[2]"]'))
    assert result.ok, messages(SEQ2SEQ % (16, '["encoded[1]", "encoded[2]"]'))
    assert result.shapes.tensors["decoded"] == (None, 12, 16)
    (call,) = [c for c in plan(result).calls if c.layer == "dec"]
    assert [k for k, _ in call.kwargs] == ["initial_state"]
    assert [tuple(t) for t in call.kwargs[0][1]] == [("encoded", 1), ("encoded", 2)]


def test_return_attention_scores_adds_the_scores_as_a_second_output():
    text = ATTENTION.replace("call: {%s: m}", "call: {return_attention_scores: true}") % "[5, 7]"
    text = text.replace("y: {from: h}", 'y: {from: "h[0]"}\n  s: {from: "h[1]"}')
    result = lint(text)
    assert result.ok, messages(text)
    # (batch, heads, query steps, key steps): what a real call returns
    assert result.shapes.tensors["h"] == [(None, 5, 16), (None, 2, 5, 7)]
    assert result.shapes.outputs == {"y": (None, 5, 16), "s": (None, 2, 5, 7)}


def test_attention_mask_broadcasts_a_size_of_one():
    assert lint(ATTENTION % ("[1, 7]", "attention_mask")).ok
    assert lint(ATTENTION % ("[5, 7]", "attention_mask")).ok


def test_gru_takes_one_state_as_a_tensor_or_a_list():
    for state in ('"encoded[1]"', '["encoded[1]"]'):
        text = SEQ2SEQ.replace("type: LSTM, units: %s", "type: GRU, units: %s") % (16, state)
        text = text.replace("{type: LSTM, units: 16, return_state: true}",
                            "{type: GRU, units: 16, return_state: true}")  # fmt: skip
        assert lint(text).ok, messages(text)


def test_bidirectional_takes_the_states_of_both_directions():
    text = """modelspec: 1
name: m
inputs:
  x: {shape: [10, 8]}
  y: {shape: [12, 8]}
graph:
  enc: {apply: {type: LSTM, units: 4, return_state: true}, to: x}
  dec: {apply: {type: Bidirectional, layer: {type: LSTM, units: 4}}, to: y,
        call: {initial_state: %s}}
outputs:
  out: {from: dec}
"""
    four = '["enc[1]", "enc[2]", "enc[1]", "enc[2]"]'
    assert lint(text % four).ok
    assert messages(text % '["enc[1]", "enc[2]"]') == [
        "s.yaml:9:31: error MS311: `Bidirectional` 'bidirectional': `initial_state` must be 4 "
        "tensors (forward state h, forward state c, backward state h, backward state c); got 2\n"
        "    hint: `Bidirectional` carries 4 state tensor(s); give one for each"
    ]


def test_a_call_argument_tensor_is_a_dependency():
    """The encoder is written after the decoder that reads its state: the order, the
    summary's "Connected to" and Keras's layer order all follow the reads."""
    text = """modelspec: 1
name: m
inputs:
  x: {shape: [10, 8]}
  y: {shape: [12, 8]}
graph:
  dec: {apply: {type: LSTM, units: 4, name: dec}, to: y, call: {initial_state: ["enc[1]", "enc[2]"]}}
  enc: {apply: {type: LSTM, units: 4, return_state: true, name: enc}, to: x}
outputs:
  out: {from: dec}
"""
    from modelspec.emit.summary import summary_table
    from modelspec.passes.keras_order import keras_layer_order

    result = lint(text)
    assert result.ok, messages(text)
    assert [c.layer for c in plan(result).calls] == ["enc", "dec"]
    assert keras_layer_order(result.spec, result.graph) == ["x", "y", "enc", "dec"]
    table = summary_table(result)
    assert "enc[0][1]" in table and "enc[0][2]" in table


def test_an_undefined_tensor_in_call_is_named_with_its_argument():
    assert messages(SEQ2SEQ % (16, '["encoded[1]", "ecnoded"]')) == [
        "s.yaml:12:74: error MS201: undefined tensor 'ecnoded' in `call: initial_state` of step "
        "'decoded'\n    hint: did you mean 'encoded'?"
    ]


# --- what lint refuses, at its line -------------------------------------------------------


def test_ms310_an_argument_the_call_does_not_take():
    assert messages(ATTENTION % ("[5, 7]", "atention_mask")) == [
        "s.yaml:10:14: error MS310: `MultiHeadAttention` 'mha' does not take the call argument "
        "`atention_mask`\n    hint: did you mean 'attention_mask'?"
    ]


def test_ms310_a_layer_whose_call_takes_nothing_more():
    text = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [4]}\ngraph:\n" \
           "  h: {apply: {type: Flatten}, to: x, call: {mask: x}}\noutputs:\n  y: {from: h}\n"  # fmt: skip
    assert messages(text) == [
        "s.yaml:6:45: error MS310: `Flatten` 'flatten' does not take the call argument `mask`\n"
        "    hint: `Flatten` is called on its inputs only"
    ]


def test_ms311_a_state_of_the_wrong_size_or_count():
    assert messages(SEQ2SEQ % (32, '["encoded[1]", "encoded[2]"]')) == [
        "s.yaml:12:59: error MS311: `LSTM` 'dec': `initial_state` gives state h as (None, 16); "
        "it must be (batch, 32), the layer's units\n"
        "    hint: take the states of a layer of the same size: what an RNN with "
        "return_state returns after its output"
    ]
    assert messages(SEQ2SEQ % (16, '"encoded[1]"')) == [
        "s.yaml:12:59: error MS311: `LSTM` 'dec': `initial_state` must be 2 tensors "
        "(state h, state c); got 1\n"
        "    hint: `LSTM` carries 2 state tensor(s); give one for each"
    ]


def test_ms312_masks_that_do_not_fit():
    assert messages(ATTENTION % ("[5, 6]", "attention_mask")) == [
        "s.yaml:10:30: error MS312: `MultiHeadAttention` 'mha': `attention_mask` must be "
        "(batch, 5, 7): one value per query and key position; got (None, 5, 6)\n"
        "    hint: a mask has one boolean per position: True keeps it, False masks it out"
    ]
    assert (
        "`value_mask` must be (batch, 7), one value per value position; got (None, 5)"
        in (messages(ATTENTION % ("[5]", "value_mask"))[0])
    )
    assert "`query_mask` must be (batch, 5)" in messages(ATTENTION % ("[7]", "query_mask"))[0]
    rnn = SEQ2SEQ.replace("initial_state: %s", "mask: m").replace(
        "  target: {shape: [12, 8]}", "  target: {shape: [12, 8]}\n  m: {shape: %s, dtype: bool}"
    )
    assert lint(rnn % ("[12]", 16)).ok
    assert (
        "`mask` must be (batch, 12), one value per time step; got (None, 10)"
        in (errors(rnn % ("[10]", 16))[0])
    )


def test_ms312_attention_takes_a_list_of_two_masks():
    text = """modelspec: 1
name: m
inputs:
  q: {shape: [5, 16]}
  v: {shape: [7, 16]}
  qm: {shape: [5], dtype: bool}
  vm: {shape: [7], dtype: bool}
graph:
  h: {apply: {type: Attention}, to: [q, v], call: {mask: %s}}
outputs:
  y: {from: h}
"""
    assert lint(text % "[qm, vm]").ok
    assert lint(text % "[null, vm]").ok
    assert (
        "`mask[1]` must be (batch, 7), one value per value step; got (None, 5)"
        in (errors(text % "[qm, qm]")[0])
    )
    assert "`mask` must be a list of two masks" in errors(text % "[vm]")[0]
    assert [m for m in messages(text % "vm") if "MS212" not in m] == [
        "s.yaml:9:58: error MS313: `Attention` 'attention': `mask` takes a list, "
        "[query_mask, value_mask]\n    hint: write `mask: [null, NAME]` to give the value "
        "mask alone"
    ]


def test_ms313_a_constant_where_a_tensor_goes_and_the_reverse():
    assert errors(SEQ2SEQ % (16, "true"))[0].startswith(
        "s.yaml:12:59: error MS313: `LSTM` 'dec': `initial_state` takes a list of tensors, not true"
    )
    assert [d.code for d in lint(SEQ2SEQ % (16, "true")).errors] == ["MS313"]
    text = ATTENTION.replace("{%s: m}", "{use_causal_mask: m}") % "[5, 7]"
    assert "`use_causal_mask` is true or false, not a tensor" in messages(text)[0]


def test_ms313_a_list_where_one_tensor_goes_and_a_null_state():
    text = ATTENTION.replace("{%s: m}", "{attention_mask: [m, m]}") % "[5, 7]"
    assert messages(text) == [
        "s.yaml:10:30: error MS313: `MultiHeadAttention` 'mha': `attention_mask` takes one "
        "tensor, not a list\n    hint: name one tensor: `attention_mask: NAME`"
    ]
    assert messages(SEQ2SEQ % (16, '["encoded[1]", null]')) == [
        "s.yaml:12:59: error MS313: `LSTM` 'dec': `initial_state` takes tensors only; null is "
        "not one\n    hint: name a tensor for each place"
    ]


def test_ms313_call_on_a_chain():
    text = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [4]}\ngraph:\n" \
           "  h: {apply: [{type: Dense, units: 2}, {type: Dropout, rate: 0.5}], to: x,\n" \
           "      call: {training: true}}\noutputs:\n  y: {from: h}\n"  # fmt: skip
    assert messages(text) == [
        "s.yaml:7:7: error MS313: `call:` gives arguments to one layer's call; this step "
        "applies 2\n    hint: give the layer that takes them a step of its own"
    ]


def test_ms314_training_fixed_in_a_call_is_a_warning():
    text = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [4]}\ngraph:\n" \
           "  h: {apply: {type: Dropout, rate: 0.5}, to: x, call: {training: %s}}\n" \
           "outputs:\n  y: {from: h}\n"  # fmt: skip
    for value, fragment in (("true", "predict and evaluate run it with training=False"),
                            ("false", "fit runs it with training=True")):  # fmt: skip
        result = lint(text % value)
        assert result.ok
        (warning,) = result.diagnostics
        assert warning.code == "MS314" and fragment in warning.message


def test_custom_layers_take_no_call_arguments():
    text = """modelspec: 1
name: m
custom:
  Scale: {class: mylayers.Scale, shape: same, params: 0}
inputs:
  x: {shape: [4]}
graph:
  h: {apply: {type: Scale}, to: x, call: {training: true}}
outputs:
  y: {from: h}
"""
    assert [m for m in messages(text) if "MS310" in m] == [
        "s.yaml:8:43: error MS310: custom `Scale` 'scale' takes no call arguments here; got "
        "`training`\n    hint: a spec calls a custom layer on its inputs only"
    ]


# --- the forms a spec is built in ------------------------------------------------------------


def test_a_call_with_arguments_is_not_a_plain_stack():
    text = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [4]}\ngraph:\n" \
           "  h: {apply: {type: Dense, units: 2}, to: x}\n" \
           "  d: {apply: {type: Dropout, rate: 0.5}, to: h, call: {training: false}}\n" \
           "outputs:\n  y: {from: d}\n"  # fmt: skip
    reason, _ = plan(lint(text)).not_a_chain
    assert reason == "layer 'dropout' is called with `call:` arguments"


def test_the_generated_module_passes_the_arguments():
    from modelspec.emit.keras_py import render

    text = SEQ2SEQ % (16, '["encoded[1]", "encoded[2]"]')
    code = render(plan(lint(text)), "functional")
    assert ")(target, initial_state=[encoded[1], encoded[2]])" in code


def test_block_tensors_in_call_are_renamed_per_instance():
    text = """modelspec: 1
name: m
inputs:
  x: {shape: [6, 16]}
  keep: {shape: [6, 6], dtype: bool}
blocks:
  layer:
    inputs: [h, mask]
    outputs: [out]
    layers:
      mha: {type: MultiHeadAttention, num_heads: 2, key_dim: 8}
    graph:
      out: {apply: mha, to: [h, h], call: {attention_mask: mask, use_causal_mask: true}}
graph:
  a: {block: layer, to: [x, keep]}
  b: {block: layer, to: [a, keep], model: true}
outputs:
  y: {from: b}
"""
    from modelspec.emit.keras_py import render

    result = lint(text)
    assert result.ok, messages(text)
    code = render(plan(result), "functional")
    assert "(x, x, attention_mask=keep, use_causal_mask=True)" in code
    # Inside the nested model, the mask is the model's own input.
    assert "(h, h, attention_mask=mask, use_causal_mask=True)" in code


# --- the table against Keras ------------------------------------------------------------------


# The first parameters of call(): the inputs, which `to:` gives.
INPUT_PARAMS = {"inputs", "sequences", "data", "x", "query", "value", "key"}


@pytest.mark.keras
def test_the_table_names_what_each_calls_signature_takes():
    import inspect

    keras = pytest.importorskip("keras")
    from modelspec.catalog import LAYER_TYPES

    for name, lt in LAYER_TYPES.items():
        if lt.category == "cell":
            continue  # called by RNN with its states, never by a step
        params = inspect.signature(getattr(keras.layers, name).call).parameters
        takes = [p for p in list(params)[1:] if p not in INPUT_PARAMS and p != "kwargs"]
        assert sorted(a.name for a in call_of(name).args) == sorted(takes), name
        # The inputs `to:` may name: the call's own parameters, in its order, where it
        # takes them one by one (MultiHeadAttention); Attention's are items of `inputs`.
        inputs = [p for p in list(params)[1:] if p in INPUT_PARAMS]
        if call_of(name).inputs and lt.call != "positional":
            assert inputs == ["inputs"], name
        elif call_of(name).inputs:
            assert list(call_of(name).inputs) == inputs, name
        # A constant that is True by default (the image layers' `training`) is recorded
        # in every saved call; import leaves it out as the default.
        for arg in call_of(name).args:
            if arg.kind == "bool":
                assert (arg.default is True) == (params[arg.name].default is True), (name, arg)
    assert set(CALLS) <= set(LAYER_TYPES)


# (layer type, kwargs, input shapes, call argument, its value as shapes, code or None).
# The value is a shape, or a list of shapes (None: a mask left out).
RUNS = [
    ("LSTM", {"units": 4}, [(2, 5, 8)], "initial_state", [(2, 4), (2, 4)], None),
    ("LSTM", {"units": 4}, [(2, 5, 8)], "initial_state", [(2, 4)], "MS311"),
    ("LSTM", {"units": 4}, [(2, 5, 8)], "initial_state", [(2, 4)] * 3, "MS311"),
    ("LSTM", {"units": 4}, [(2, 5, 8)], "initial_state", [(2, 5), (2, 5)], "MS311"),
    ("CategoryEncoding", {"num_tokens": 5, "output_mode": "count"}, [(2, 3)], "count_weights",
     (2, 3), None),
    ("CategoryEncoding", {"num_tokens": 5, "output_mode": "count"}, [(2, 3)], "count_weights",
     (2, 4), "MS304"),
    ("LSTM", {"units": 4}, [(2, 5, 8)], "initial_state", [(2, 2, 4), (2, 2, 4)], "MS311"),
    ("GRU", {"units": 4}, [(2, 5, 8)], "initial_state", [(2, 4)], None),
    ("SimpleRNN", {"units": 3}, [(2, 5, 8)], "initial_state", [(2, 3)], None),
    ("Bidirectional", {"layer": {"type": "LSTM", "units": 4}}, [(2, 5, 8)], "initial_state",
     [(2, 4)] * 4, None),
    ("Bidirectional", {"layer": {"type": "LSTM", "units": 4}}, [(2, 5, 8)], "initial_state",
     [(2, 4)] * 2, "MS311"),
    ("Bidirectional", {"layer": {"type": "GRU", "units": 4}}, [(2, 5, 8)], "initial_state",
     [(2, 4)], "MS311"),
    ("LSTM", {"units": 4}, [(2, 5, 8)], "mask", (2, 5), None),
    ("LSTM", {"units": 4}, [(2, 5, 8)], "mask", (2, 5, 5), "MS312"),
    ("LSTM", {"units": 4}, [(2, 5, 8)], "mask", (2, 1), "MS312"),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [(2, 5, 8), (2, 7, 8)],
     "attention_mask", (2, 5, 7), None),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [(2, 5, 8), (2, 7, 8)],
     "attention_mask", (2, 1, 7), None),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [(2, 5, 8), (2, 7, 8)],
     "attention_mask", (2, 5, 6), "MS312"),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [(2, 5, 8), (2, 7, 8)],
     "attention_mask", (2, 7), "MS312"),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [(2, 5, 8), (2, 7, 8)],
     "value_mask", (2, 7), None),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [(2, 5, 8), (2, 7, 8)],
     "value_mask", (2, 5), "MS312"),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [(2, 5, 8), (2, 7, 8), (2, 7, 8)],
     "key_mask", (2, 7), None),
    ("Attention", {}, [(2, 5, 8), (2, 7, 8)], "mask", [(2, 5), (2, 7)], None),
    ("Attention", {}, [(2, 5, 8), (2, 7, 8)], "mask", [None, (2, 7)], None),
    ("Attention", {}, [(2, 5, 8), (2, 7, 8)], "mask", [(2, 5), (2, 5)], "MS312"),
    ("Attention", {}, [(2, 5, 8), (2, 7, 8)], "mask", [(2, 7), (2, 7)], "MS312"),
    ("AdditiveAttention", {}, [(2, 5, 8), (2, 7, 8)], "mask", [(2, 5), (2, 7)], None),
    ("Softmax", {}, [(2, 5, 8)], "mask", (2, 5, 8), None),
    ("Softmax", {}, [(2, 5, 8)], "mask", (2, 5, 1), None),
    ("Softmax", {}, [(2, 5, 8)], "mask", (2, 5), "MS312"),
    ("GlobalAveragePooling1D", {}, [(2, 5, 8)], "mask", (2, 5), None),
    ("GlobalAveragePooling1D", {}, [(2, 5, 8)], "mask", (2, 6), "MS312"),
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3, "padding": "same"}, [(2, 5, 6, 6, 3)],
     "initial_state", [(2, 6, 6, 4)] * 2, None),
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3}, [(2, 5, 6, 6, 3)], "initial_state",
     [(2, 4, 4, 4)] * 2, None),
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3}, [(2, 5, 6, 6, 3)], "initial_state",
     [(2, 6, 6, 4)] * 2, "MS311"),
    ("RNN", {"cell": {"type": "LSTMCell", "units": 4}}, [(2, 5, 8)], "initial_state",
     [(2, 4)] * 2, None),
    ("RNN", {"cell": {"type": "StackedRNNCells", "cells": [{"type": "GRUCell", "units": 4},
                                                          {"type": "GRUCell", "units": 3}]}},
     [(2, 5, 8)], "initial_state", [(2, 4), (2, 3)], None),
    ("RNN", {"cell": {"type": "StackedRNNCells", "cells": [{"type": "LSTMCell", "units": 4},
                                                          {"type": "LSTMCell", "units": 4}]}},
     [(2, 5, 8)], "initial_state", [(2, 4)] * 4, "MS311"),
    ("GroupQueryAttention", {"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 2},
     [(2, 5, 8), (2, 7, 8)], "attention_mask", (2, 5, 7), None),
    ("GroupQueryAttention", {"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 2},
     [(2, 5, 8), (2, 7, 8)], "attention_mask", (2, 5, 6), "MS312"),
    ("GroupQueryAttention", {"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 2},
     [(2, 5, 8), (2, 7, 8)], "value_mask", (2, 5), "MS312"),
    ("TimeDistributed", {"layer": {"type": "Dense", "units": 3}}, [(2, 5, 8)], "mask", (2, 5),
     None),
    ("TimeDistributed", {"layer": {"type": "Dense", "units": 3}}, [(2, 5, 8)], "mask", (2, 6),
     "MS312"),
]  # fmt: skip


def _ours(type_name, kwargs, shapes, name, value):
    from modelspec.catalog import LAYER_TYPES

    lt = LAYER_TYPES[type_name]
    kw = lt.resolve(kwargs)
    symbolic = [(None, *s[1:]) for s in shapes]
    arg = call_of(type_name).arg(name)

    def sym(s):
        return None if s is None else (None, *s[1:])

    given = [sym(s) for s in value] if isinstance(value, list) else sym(value)
    try:
        arg.check(kw, symbolic, given)
    except ShapeError as exc:
        return exc.code
    return None


def _keras_runs(keras, type_name, kwargs, shapes, name, value) -> bool:
    import numpy as np

    from tests.keras_truth import build_layer

    layer = build_layer(type_name, kwargs)
    data = [np.ones(s, dtype="float32") for s in shapes]
    if isinstance(value, list):
        arg = [None if s is None else np.ones(s, dtype="float32" if name != "mask" else bool)
               for s in value]  # fmt: skip
    else:
        arg = np.ones(value, dtype="float32" if name == "initial_state" else bool)
    kw = {name: arg}
    try:
        if type_name in ("MultiHeadAttention", "GroupQueryAttention"):
            layer(*data, **kw)
        elif len(data) > 1:
            layer(data, **kw)
        else:
            layer(data[0], **kw)
    except Exception:  # noqa: BLE001 - the backend's own errors
        return False
    return True


@pytest.mark.keras
@pytest.mark.parametrize("case", RUNS, ids=lambda c: f"{c[0]}-{c[3]}-{c[4]}")
def test_what_lint_refuses_fails_when_keras_runs_it(case):
    keras = pytest.importorskip("keras")
    type_name, kwargs, shapes, name, value, code = case
    assert _ours(type_name, kwargs, shapes, name, value) == code
    assert _keras_runs(keras, type_name, kwargs, shapes, name, value) == (code is None)


@pytest.mark.keras
@pytest.mark.parametrize(
    "type_name, kwargs, shapes",
    [
        ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [(2, 5, 8), (2, 7, 8)]),
        ("MultiHeadAttention", {"num_heads": 3, "key_dim": 4}, [(2, 5, 8), (2, 7, 8), (2, 7, 6)]),
        ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4, "attention_axes": [2]},
         [(2, 3, 5, 8), (2, 3, 7, 8)]),
        ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [(2, 3, 5, 8), (2, 3, 7, 8)]),
        ("Attention", {}, [(2, 5, 8), (2, 7, 8)]),
        ("AdditiveAttention", {}, [(2, 5, 8), (2, 7, 8)]),
        ("GroupQueryAttention", {"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 2},
         [(2, 5, 8), (2, 7, 8)]),
    ],
)  # fmt: skip
def test_attention_scores_have_the_shape_a_real_call_returns(type_name, kwargs, shapes):
    import numpy as np

    pytest.importorskip("keras")
    from modelspec.catalog import LAYER_TYPES
    from tests.keras_truth import build_layer

    layer = build_layer(type_name, kwargs)
    data = [np.ones(s, dtype="float32") for s in shapes]
    positional = type_name in ("MultiHeadAttention", "GroupQueryAttention")
    out = layer(*data, return_attention_scores=True) if positional \
        else layer(data, return_attention_scores=True)  # fmt: skip
    real = [tuple(o.shape) for o in out]
    lt = LAYER_TYPES[type_name]
    kw = lt.resolve(kwargs)
    symbolic = [(None, *s[1:]) for s in shapes]
    ours = call_of(type_name).output(kw, symbolic, lt.shape(kw, symbolic),
                                     {"return_attention_scores": True})  # fmt: skip
    assert [(2, *s[1:]) for s in ours] == real


# --- import, build and equiv ---------------------------------------------------------------


def _model_with_call_arguments(keras):
    L = keras.layers
    x = keras.Input((5, 8), name="x")
    enc_in = keras.Input((7, 8), name="enc_in")
    m = keras.Input((5, 7), dtype="bool", name="m")
    _, sh, sc = L.LSTM(4, return_state=True, name="enc")(enc_in)
    y = L.LSTM(4, name="dec")(x, initial_state=[sh, sc])
    a, s = L.MultiHeadAttention(2, 4, name="mha")(x, x, use_causal_mask=True,
                                                 return_attention_scores=True)  # fmt: skip
    d = L.Dropout(0.5, name="mc")(a, training=True)
    b = L.MultiHeadAttention(2, 4, name="mha2")(query=x, value=enc_in, attention_mask=m)
    at, at_scores = L.Attention(name="att")([x, enc_in], return_attention_scores=True)
    qm = keras.Input((5,), dtype="bool", name="qm")
    masked = L.Attention(name="att2")([x, enc_in], mask=[qm, None])
    return keras.Model([x, enc_in, m, qm], [y, d, s, b, at, at_scores, masked], name="calls")


@pytest.mark.keras
def test_a_model_with_call_arguments_round_trips_through_import(tmp_path):
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    from tests.test_import import assert_imports

    model = _model_with_call_arguments(keras)
    checked = assert_imports(model)
    steps = checked.doc.data["graph"]
    assert steps["dec"]["call"] == {"initial_state": ["enc[1]", "enc[2]"]}
    assert steps["mha"]["call"] == {"use_causal_mask": True, "return_attention_scores": True}
    assert steps["mc"]["call"] == {"training": True}
    # Called with keywords, mha2(query=x, value=enc_in): the step names them too.
    assert steps["mha2"] == {"apply": "mha2", "to": {"query": "x", "value": "enc_in"},
                             "call": {"attention_mask": "m"}}  # fmt: skip
    assert steps["att2"]["call"] == {"mask": ["qm", None]}


@pytest.mark.keras
def test_generated_and_direct_builds_give_keras_outputs(tmp_path):
    """The imported spec, built both ways with the saved weights, predicts what the
    saved model predicts."""
    import numpy as np

    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    import modelspec
    from modelspec.importer import run_import

    model = _model_with_call_arguments(keras)
    saved = tmp_path / "calls.keras"
    model.save(saved)
    assert run_import(saved, tmp_path / "calls.yaml") == 0
    spec = modelspec.load(tmp_path / "calls.yaml")
    rng = np.random.default_rng(0)
    data = {
        "x": rng.normal(size=(3, 5, 8)).astype("float32"),
        "enc_in": rng.normal(size=(3, 7, 8)).astype("float32"),
        "m": rng.random((3, 5, 7)) > 0.3,
        "qm": rng.random((3, 5)) > 0.3,
    }
    want = model.predict([data[k] for k in ("x", "enc_in", "m", "qm")], verbose=0)
    namespace: dict = {}
    exec(compile(spec.to_python(), str(tmp_path / "calls_model.py"), "exec"), namespace)
    builds = {
        "generated": namespace["build_model"](weights=str(saved)),
        "direct": spec.to_keras(compile=False, weights=str(saved)),
    }
    for form, built in builds.items():
        got = built.predict(data, verbose=0)
        for output, value in zip(spec.result.spec.outputs, want, strict=True):
            np.testing.assert_allclose(got[output.name], value, atol=1e-6,
                                       err_msg=f"{form}: {output.name}")  # fmt: skip


@pytest.mark.keras
def test_equiv_proves_every_form_of_a_spec_with_call_arguments_the_same(tmp_path):
    import modelspec
    from modelspec.runtime.equiv import compare

    path = tmp_path / "s.yaml"
    path.write_text(SEQ2SEQ % (16, '["encoded[1]", "encoded[2]"]'))
    report = compare(modelspec.load(path), steps=1)
    assert report.identical, report.text()
    assert json.loads(json.dumps(report.builds))


@pytest.mark.keras
def test_a_reversible_embedding_maps_vectors_back_to_the_vocabulary():
    """The weight-tied output of a language model: the embedding called with reverse."""
    text = """modelspec: 1
name: tied
seed: 1
inputs:
  tokens: {shape: [6], dtype: int32}
layers:
  emb: {type: ReversibleEmbedding, input_dim: 50, output_dim: 8}
graph:
  x: {apply: emb, to: tokens}
  h: {apply: {type: Dense, units: %d}, to: x}
  logits: {apply: emb, to: h, call: {reverse: true}}
outputs:
  logits: {from: logits}
"""
    result = lint(text % 8)
    assert result.ok, messages(text % 8)
    assert result.shapes.tensors["logits"] == (None, 6, 50)
    assert result.shapes.params["emb"] == (400, 0)  # one table, both calls
    assert "needs vectors of output_dim=8 on the last axis; got (None, 6, 7)" in errors(text % 7)[0]
    import numpy as np

    from modelspec.api import SpecModel

    model = SpecModel(result, plan(result)).to_keras(compile=False)
    out = model.predict(np.zeros((2, 6), "int32"), verbose=0)
    assert out.shape == (2, 6, 50) and model.count_params() == 400 + 72
