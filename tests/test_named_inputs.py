"""Attention's inputs by name: ``to: {query: q, value: v, key: k}``.

``MultiHeadAttention`` and ``GroupQueryAttention`` are then called as Keras's
``mha(query=q, value=v, key=k)``; ``Attention`` and ``AdditiveAttention``, whose call
takes one list, get ``[query, value, key]``. Lint checks the names against the layer's
call (:data:`modelspec.catalog.calls.CALLS`) without Keras; the Keras-marked tests
build both forms and compare them with a model written by hand, and import one back.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modelspec.catalog.calls import CALLS, INPUT_NAMES
from modelspec.check import check_text
from modelspec.lower.plan import plan

ROOT = Path(__file__).resolve().parent.parent

NAMED = """modelspec: 1
name: att
seed: 1
inputs:
  q: {shape: [5, 16]}
  v: {shape: [7, 16]}
  k: {shape: [7, 16]}
  m: {shape: [5, 7], dtype: bool}
graph:
  h: {apply: {type: MultiHeadAttention, num_heads: 2, key_dim: 8, name: mha},
      to: %s, call: {attention_mask: m}}
  a: {apply: {type: Attention, name: att}, to: %s}
  g: {apply: {type: GroupQueryAttention, head_dim: 4, num_query_heads: 4,
              num_key_value_heads: 2, name: gqa}, to: %s}
outputs:
  y: {from: h}
  z: {from: a}
  w: {from: g}
"""
BY_NAME = NAMED % ("{key: k, value: v, query: q}", "{value: v, query: q}", "{query: q, value: v}")
BY_POSITION = NAMED % ("[q, v, k]", "[q, v]", "[q, v]")

BLOCK = """modelspec: 1
name: m
seed: 2
inputs:
  x: {shape: [6, 16]}
  mem: {shape: [4, 16]}
  keep: {shape: [6, 4], dtype: bool}
blocks:
  cross:
    inputs: [h, memory, mask]
    outputs: [out]
    layers:
      mha: {type: MultiHeadAttention, num_heads: 2, key_dim: 8}
    graph:
      att: {apply: mha, to: {query: h, value: %s, key: memory}, call: {attention_mask: mask}}
      out: {apply: {type: Add}, to: [h, att]}
graph:
  a: {block: cross, to: [x, mem, keep]}
  b: {block: cross, to: [a, mem, keep], model: true}
outputs:
  y: {from: b}
"""


def lint(text: str):
    return check_text(text, "s.yaml")


def messages(text: str) -> list[str]:
    return [
        d.format() + (f"\n    hint: {d.hint}" if d.hint else "") for d in lint(text).diagnostics
    ]


# --- what lint makes of them -----------------------------------------------------------------


def test_named_inputs_are_the_calls_inputs_in_kerass_order():
    result = lint(BY_NAME)
    assert result.ok, messages(BY_NAME)
    calls = {c.layer: c for c in result.spec.calls}
    mha, att, gqa = calls["mha"], calls["att"], calls["gqa"]
    assert [str(r) for r in mha.inputs] == ["q", "v", "k"]
    assert mha.names == ("query", "value", "key")
    # Keras lists a node's tensors by keyword: attention_mask, key, query, value.
    assert [str(r) for r in mha.refs()] == ["m", "k", "q", "v"]
    assert gqa.names == ("query", "value")
    # Attention's call takes one list, [query, value]: no keywords to pass.
    assert [str(r) for r in att.inputs] == ["q", "v"] and att.names == ()
    assert result.shapes.tensors["h"] == (None, 5, 16)
    assert (mha.inputs[0].source.line, mha.inputs[0].source.col) == (11, 37)


def test_named_and_positional_inputs_are_the_same_model():
    from modelspec.emit.diff import diff
    from modelspec.emit.summary import summary_json

    named, positional = lint(BY_NAME), lint(BY_POSITION)
    assert named.ok and positional.ok
    assert summary_json(named) == summary_json(positional)
    assert diff(named, positional).identical


def test_the_generated_module_passes_the_inputs_by_keyword():
    from modelspec.emit.keras_py import render

    code = render(plan(lint(BY_NAME)), "functional")
    assert ")(query=q, value=v, key=k, attention_mask=m)" in code
    assert '(name="att")([q, v])' in code
    assert ")(query=q, value=v)" in code
    assert ")(q, v, k, attention_mask=m)" in render(plan(lint(BY_POSITION)), "functional")


def test_summary_connects_the_inputs_in_kerass_order():
    from modelspec.emit.summary import summary_table

    table = summary_table(lint(BY_NAME))
    row = table[table.index("mha (MultiHeadAttention)") :].splitlines()
    assert [line.split()[-1] for line in row[:4]] == ["m[0][0]", "k[0][0]", "q[0][0]", "v[0][0]"]


def test_named_inputs_are_edges_of_the_graph_and_can_close_a_cycle():
    from modelspec.emit.graph import diagram
    from modelspec.passes.keras_order import keras_layer_order

    result = lint(BY_NAME)
    d = diagram(result)
    ids = {n.lines[0]: n.id for n in d.nodes}
    into = sorted(e.src for e in d.edges if e.dst == ids["mha"])
    assert into == sorted(ids[name] for name in ("q", "v", "k", "m"))
    # Keras lists the inputs depth first through the tensors in keyword order.
    assert keras_layer_order(result.spec, result.graph)[:4] == ["q", "v", "m", "k"]
    cycle = BY_NAME.replace("{key: k, value: v, query: q}", "{key: k, value: v, query: y2}")
    cycle = cycle.replace("outputs:", "  y2: {apply: {type: Dense, units: 16}, to: h}\noutputs:")
    assert [m.splitlines()[0] for m in messages(cycle) if "MS204" in m] == [
        "s.yaml:10:14: error MS204: cycle in the graph: h -> y2 -> h"
    ]


def test_lint_reports_each_named_input_problem_at_its_line(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(
        """modelspec: 1
name: att
inputs:
  q: {shape: [5, 16]}
  v: {shape: [7, 16]}
  m: {shape: [5, 7], dtype: bool}
layers:
  mha: {type: MultiHeadAttention, num_heads: 2, key_dim: 8}
graph:
  a: {apply: mha, to: {quer: q, value: v}}
  b: {apply: mha, to: {query: q}}
  c: {apply: {type: Dense, units: 4}, to: {query: q}}
  d: {apply: [mha, {type: Dropout, rate: 0.1}], to: {query: q, value: v}}
  e: {apply: mha, to: {query: q, value: vv}}
  f: {apply: mha, to: {query: q, value: v, attention_mask: m}}
  g: {apply: mha, to: {query: q, value: v}, call: {key: v}}
  h: {apply: {type: Attention}, to: {query: q}}
outputs: {a: {from: a}, b: {from: b}, c: {from: c}, d: {from: d}, e: {from: e},
          f: {from: f}, g: {from: g}, h: {from: h}}
""",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "modelspec", "lint", "s.yaml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    reported = [
        (line, lines[i + 3].strip())
        for i, line in enumerate(lines)
        if line.startswith("s.yaml:") and lines[i + 3].strip().startswith("hint:")
    ]
    assert reported == [
        ("s.yaml:10:24: error MS310: `MultiHeadAttention` 'mha' does not take the input `quer`",
         "hint: did you mean 'query'?"),
        ("s.yaml:11:19: error MS305: `MultiHeadAttention` 'mha' is called on `query` and "
         "`value` (and `key`, optional); `to:` names no `value`",
         "hint: name each: `to: {query: NAME, value: NAME}`"),
        ("s.yaml:12:44: error MS310: `Dense` 'dense' does not take its inputs by name; got "
         "`query`",
         "hint: write its input as `to: NAME` (or a list of them); names in `to:` (query, "
         "value, key) are for attention layers"),
        ("s.yaml:13:49: error MS313: `to:` names the inputs of one layer's call; this step "
         "applies 2",
         "hint: give the layer that takes them a step of its own, and the layers after it "
         "another"),
        ("s.yaml:14:41: error MS201: undefined tensor 'vv' in `to: value` of step 'e'",
         "hint: did you mean 'v'?"),
        ("s.yaml:15:44: error MS310: `MultiHeadAttention` 'mha' does not take the input "
         "`attention_mask`",
         "hint: `attention_mask` is an argument of the call: give it under `call:`"),
        ("s.yaml:16:52: error MS310: `MultiHeadAttention` 'mha' does not take the call "
         "argument `key`",
         "hint: `key` is an input of the call: name it in `to:`"),
        ("s.yaml:17:33: error MS305: `Attention` 'attention' is called on `query` and `value` "
         "(and `key`, optional); `to:` names no `value`",
         "hint: name each: `to: {query: NAME, value: NAME}`"),
    ]  # fmt: skip


def test_a_custom_layer_takes_no_named_inputs():
    text = """modelspec: 1
name: m
custom:
  Scale: {class: mylayers.Scale, shape: same, params: 0}
inputs:
  x: {shape: [4]}
graph:
  y: {apply: {type: Scale}, to: {query: x}}
outputs:
  y: {from: y}
"""
    assert [m for m in messages(text) if "MS310" in m] == [
        "s.yaml:8:34: error MS310: custom `Scale` 'scale' does not take its inputs by name; "
        "got `query`\n    hint: write its input as `to: NAME` (or a list of them); names in "
        "`to:` (query, value, key) are for attention layers"
    ]


# --- blocks and nested models ------------------------------------------------------------------


def test_named_inputs_in_a_block_are_renamed_per_instance():
    from modelspec.emit.keras_py import render
    from modelspec.emit.summary import summary_table

    text = BLOCK % "memory"
    result = lint(text)
    assert result.ok, messages(text)
    code = render(plan(result), "functional")
    assert ")(query=x, value=mem, key=mem, attention_mask=keep)" in code
    # Inside the nested model, its own inputs.
    assert ")(query=h, value=memory, key=memory, attention_mask=mask)" in code
    row = summary_table(result).split("a_mha (MultiHeadAttention)")[1].splitlines()
    assert [line.split()[-1] for line in row[:4]] == ["keep[0][0]", "mem[0][0]", "x[0][0]",
                                                      "mem[0][0]"]  # fmt: skip


def test_an_undefined_named_input_in_a_block_is_reported_at_its_line():
    # (Each instance expands the block, and says so.)
    assert set(messages(BLOCK % "memry")) == {
        "s.yaml:15:47: error MS706: undefined tensor 'memry' in block 'cross'\n"
        "    hint: did you mean 'memory'?"
    }


def test_a_block_step_lists_its_inputs_in_order():
    text = BLOCK.replace("to: [x, mem, keep]}", "to: {h: x, memory: mem, mask: keep}}")
    assert messages(text % "memory") == [
        "s.yaml:18:25: error MS705: block 'cross' takes its input(s) (h, memory, mask) in "
        "order; step 'a' names them\n    hint: list the tensors in the order of the block's "
        "`inputs:`; names in `to:` are for the inputs of attention layers (query, value, key)"
    ]


# --- the schema ------------------------------------------------------------------------------


def test_the_schema_offers_the_names_the_catalogue_takes():
    from modelspec.schema.build import build_schema
    from modelspec.schema.editor import editor_schema

    assert set(INPUT_NAMES) == {n for c in CALLS.values() for n in c.inputs}
    named = build_schema()["$defs"]["named_inputs"]
    assert list(named["properties"]) == list(INPUT_NAMES)
    # A block step's `to` lists the block's inputs in order: no names there.
    block_to = editor_schema()["$defs"]["block_step"]["properties"]["to"]
    assert "named_inputs" not in repr(block_to)


# --- Keras ------------------------------------------------------------------------------------


def _by_hand(keras):
    """The model of BY_NAME, written in Keras with keywords."""
    L = keras.layers
    q = keras.Input((5, 16), name="q")
    v = keras.Input((7, 16), name="v")
    k = keras.Input((7, 16), name="k")
    m = keras.Input((5, 7), dtype="bool", name="m")
    h = L.MultiHeadAttention(2, 8, name="mha")(query=q, value=v, key=k, attention_mask=m)
    a = L.Attention(name="att")([q, v])
    g = L.GroupQueryAttention(4, 4, 2, name="gqa")(query=q, value=v)
    return keras.Model({"q": q, "v": v, "k": k, "m": m}, {"y": h, "z": a, "w": g}, name="att")


def _inbound(model, layer: str) -> list:
    (entry,) = [e for e in model.get_config()["layers"] if e["name"] == layer]
    return [
        (
            [a["config"]["keras_history"][0] for a in node["args"]],
            {key: t["config"]["keras_history"][0] for key, t in node["kwargs"].items()},
        )
        for node in entry["inbound_nodes"]
    ]


@pytest.mark.keras
def test_the_spec_builds_the_model_written_with_keywords(tmp_path):
    import numpy as np

    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    from modelspec.api import SpecModel
    from modelspec.passes.keras_order import keras_layer_order

    want = _by_hand(keras)
    result = lint(BY_NAME)
    spec = SpecModel(result, plan(result))
    namespace: dict = {}
    exec(compile(spec.to_python(), str(tmp_path / "att_model.py"), "exec"), namespace)
    rng = np.random.default_rng(0)
    data = {
        "q": rng.normal(size=(2, 5, 16)).astype("float32"),
        "v": rng.normal(size=(2, 7, 16)).astype("float32"),
        "k": rng.normal(size=(2, 7, 16)).astype("float32"),
        "m": rng.random((2, 5, 7)) > 0.3,
    }
    expected = want.predict(data, verbose=0)
    assert keras_layer_order(result.spec, result.graph) == [layer.name for layer in want.layers]
    builds = {
        "direct": spec.to_keras(compile=False),
        "generated": namespace["build_model"](),
    }
    for form, got in builds.items():
        # Keras records the call as it was made: the inputs as keywords, none positional.
        assert (
            _inbound(got, "mha")
            == _inbound(want, "mha")
            == [([], {"query": "q", "value": "v", "key": "k", "attention_mask": "m"})]
        ), form
        assert _inbound(got, "gqa") == [([], {"query": "q", "value": "v"})], form
        assert [layer.name for layer in got.layers] == [layer.name for layer in want.layers]
        for layer in want.layers:
            got.get_layer(layer.name).set_weights(layer.get_weights())
        outputs = got.predict(data, verbose=0)
        for name in ("y", "z", "w"):
            np.testing.assert_allclose(outputs[name], expected[name], atol=1e-6,
                                       err_msg=f"{form}: {name}")  # fmt: skip


@pytest.mark.keras
def test_import_writes_keyword_inputs_by_name_and_round_trips():
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    import json

    from modelspec.api import SpecModel
    from modelspec.importer import import_config
    from tests.test_import import assert_imports

    checked = assert_imports(_by_hand(keras))
    steps = checked.doc.data["graph"]
    assert steps["mha"] == {"apply": "mha", "to": {"query": "q", "value": "v", "key": "k"},
                            "call": {"attention_mask": "m"}}  # fmt: skip
    assert steps["gqa"]["to"] == {"query": "q", "value": "v"}
    assert steps["att"]["to"] == ["q", "v"]  # Keras's Attention takes a list
    # spec -> Keras -> spec: the same text.
    text = import_config(json.loads(_by_hand(keras).to_json()), file="att.json").text
    again = lint(text)
    built = SpecModel(again, plan(again)).to_keras(compile=False)
    assert import_config(json.loads(built.to_json()), file="att.json").text == text


@pytest.mark.keras
def test_a_block_with_named_inputs_connects_as_keras_does():
    """The summary's "Connected to" of a named call, checked against the node Keras
    makes, in a spec with a nested model."""
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    from modelspec.api import SpecModel
    from modelspec.emit.summary import summary_table

    result = lint(BLOCK % "memory")
    model = SpecModel(result, plan(result)).to_keras(compile=False)
    (node,) = model.get_layer("a_mha")._inbound_nodes
    parents = [f"{p.operation.name}[0][0]" for p in node.parent_nodes]
    row = summary_table(result).split("a_mha (MultiHeadAttention)")[1].splitlines()
    assert [line.split()[-1] for line in row[:4]] == parents
