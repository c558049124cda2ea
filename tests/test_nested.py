"""Blocks built as nested ``keras.Model`` s (``model: true``).

Without Keras: one tiny spec per rule (MS720 - MS726), the expanded spec, the summary's
rows. With Keras: the summary against Keras's own count and shapes, the generated module
against the direct build, nested against inlined (same parameters, same outputs with the
weights copied across; seeded, the same weights from the start), a shared nested model,
and a nested model inside a Sequential stack.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from modelspec.check import check_text
from modelspec.emit.summary import summary_json, summary_table

TOWER = """\
modelspec: 1
name: siamese
seed: 3
inputs:
  left: {shape: [12, 12, 1]}
  right: {shape: [12, 12, 1]}
blocks:
  tower:
    model: MODEL
    inputs: [image]
    outputs: [embedding]
    layers:
      conv1: {type: Conv2D, filters: 4, kernel_size: 3, activation: relu}
      pool:  {type: GlobalAveragePooling2D}
      fc:    {type: Dense, units: 8}
    graph:
      embedding: {apply: [conv1, pool, fc], to: image}
layers:
  difference: {type: Subtract}
  same:       {type: Dense, units: 1, activation: sigmoid}
graph:
  left_tower:  {block: tower, to: left}
  right_tower: {block: tower, to: right, share: left_tower}
  match:       {apply: [difference, same], to: [left_tower, right_tower]}
outputs:
  same: {from: match}
"""

CHAIN = """\
modelspec: 1
name: chain
seed: 7
inputs:
  x: {shape: [6]}
blocks:
  mlp:
    model: MODEL
    params: {units: 8}
    inputs: [features]
    outputs: [out]
    layers:
      hidden: {type: Dense, units: "${units}", activation: relu}
      out:    {type: Dense, units: 4}
    graph:
      out: {apply: [hidden, out], to: features}
graph:
  body: {block: mlp, to: x, repeat: 2}
  head: {apply: {type: Dense, units: 1, name: head}, to: body}
outputs:
  y: {from: head}
"""


def checked(text: str, model: str = "true"):
    result = check_text(text.replace("MODEL", model), "s.yaml")
    assert result.ok and not result.diagnostics, [d.format() for d in result.diagnostics]
    return result


# --- one tiny bad spec per rule ---------------------------------------------------------

BAD = {
    "MS720": ("""
        blocks:
          mlp:
            model: nested
            inputs: [x]
            outputs: [y]
            graph:
              y: {apply: {type: Dense, units: 4}, to: x}
        graph:
          a: {block: mlp, to: x}
        outputs:
          out: {from: a}
        """, "`model` of block 'mlp' must be true, false, functional or sequential, not 'nested'"),
    "MS721": ("""
        blocks:
          fork:
            model: sequential
            inputs: [x]
            outputs: [sum]
            graph:
              a:   {apply: {type: Dense, units: 4}, to: x}
              b:   {apply: {type: Dense, units: 4}, to: x}
              sum: {apply: {type: Add}, to: [a, b]}
        graph:
          f: {block: fork, to: x}
        outputs:
          out: {from: f}
        """, "nested model 'f' (block 'fork') cannot be a Sequential model"),
    "MS722": ("""
        blocks:
          maybe:
            model: true
            inputs: [x]
            outputs: [y]
            graph:
              y: {apply: {type: Dense, units: 8}, to: x, when: false}
        graph:
          m: {block: maybe, to: x}
          head: {apply: {type: Dense, units: 1}, to: m}
        outputs:
          out: {from: head}
        """, "output 0 of nested model 'm' is 'x', which is not computed inside it"),
    "MS723": ("""
        blocks:
          tower:
            model: true
            inputs: [x]
            outputs: [y]
            graph:
              y: {apply: {type: Dense, units: 4}, to: x}
        graph:
          left:  {block: tower, to: x}
          right: {block: tower, to: x, share: left, model: false}
          both:  {apply: {type: Add}, to: [left, right]}
        outputs:
          out: {from: both}
        """, "a shared instance calls what the instance it shares is"),
    "MS724": ("""
        blocks:
          mlp:
            model: true
            inputs: [features]
            outputs: [y]
            layers:
              features: {type: Dense, units: 4}
            graph:
              y: {apply: features, to: features}
        graph:
          m: {block: mlp, to: x}
        outputs:
          out: {from: m}
        """, "layer 'm_features' is named 'features' in nested model 'm', which has an input"),
    "MS725": ("""
        blocks:
          mlp:
            model: true
            inputs: [x]
            outputs: [y]
            graph:
              hidden: {apply: {type: Dense, units: 16}, to: x}
              y:      {apply: {type: Dense, units: 4}, to: hidden}
        graph:
          m:    {block: mlp, to: x}
          skip: {apply: {type: Dense, units: 4}, to: m_hidden}
          sum:  {apply: {type: Add}, to: [m, skip]}
        outputs:
          out: {from: sum}
        """, "'m_hidden' is inside nested model 'm'; from outside it only its outputs (m_y)"),
    "MS726": ("""
        blocks:
          pair:
            model: true
            inputs: [a, b]
            outputs: [c, d]
            graph:
              c: {apply: {type: Dense, units: 8}, to: a}
              d: {apply: {type: Dense, units: 8}, to: b}
        graph:
          p:    {block: pair, to: [x, back]}
          back: {apply: {type: Dense, units: 8}, to: "p[0]"}
        outputs:
          out: {from: "p[1]"}
        """, "nested model 'p' is called on a tensor computed from its own output"),
}  # fmt: skip


@pytest.mark.parametrize("code", sorted(BAD))
def test_each_nesting_rule_has_its_error(code: str):
    body, message = BAD[code]
    text = "modelspec: 1\nname: s\ninputs:\n  x: {shape: [8]}\n" + textwrap.dedent(body)
    result = check_text(text, "s.yaml")
    assert [d.code for d in result.errors] == [code], [d.format() for d in result.diagnostics]
    assert message in result.errors[0].message


def test_inline_is_still_the_default_and_false_inlines():
    for model in ("false", "true"):
        result = checked(TOWER, model)
        assert bool(result.models) == (model == "true")


# --- what lint and summary say, without Keras --------------------------------------------------


def test_summary_shows_a_nested_model_as_one_row_with_its_total():
    summary = summary_json(checked(TOWER))
    rows = {row["name"]: row for row in summary["layers"]}
    assert list(rows) == ["left_tower", "difference", "same"]
    tower = rows["left_tower"]
    # conv 3*3*1*4 + 4, dense 4*8 + 8: counted once although it is called twice.
    assert (tower["type"], tower["params"]) == ("Sequential", 40 + 40)
    assert tower["output_shapes"] == [[None, 8], [None, 8]]
    assert [r["name"] for r in tower["layers"]] == ["conv1", "pool", "fc"]
    assert summary["total_params"] == 80 + 9
    inline = summary_json(checked(TOWER, "false"))
    assert inline["total_params"] == summary["total_params"]
    table = summary_table(checked(TOWER))
    assert re.search(r"left_tower \(Sequential\) +\(None, 8\) +80  left\[0\]\[0\]", table)


def test_the_form_follows_the_block_or_is_named():
    assert summary_json(checked(CHAIN))["layers"][0]["type"] == "Sequential"
    assert summary_json(checked(CHAIN, "functional"))["layers"][0]["type"] == "Functional"
    fork = BAD["MS721"][0].replace("model: sequential", "model: true")
    text = "modelspec: 1\nname: s\ninputs:\n  x: {shape: [8]}\n" + textwrap.dedent(fork)
    assert summary_json(checked(text))["layers"][0]["type"] == "Functional"


def test_expand_writes_the_flat_spec_that_is_checked():
    """Nesting changes how the flat spec is built, not the flat spec itself."""
    nested, inline = checked(TOWER), checked(TOWER, "false")
    assert nested.doc.data == inline.doc.data
    assert "left_tower_conv1" in nested.spec.layers


def test_the_plan_names_layers_as_keras_scopes_them():
    from modelspec.lower.plan import derive_seed, plan

    p = plan(checked(CHAIN))
    assert [m.name for m in p.models] == ["body_block1", "body_block2"]
    first = p.models[0]
    ctor = dict(first.layers["body_block1_hidden"].ctor.kwargs)
    assert ctor["name"] == "hidden"
    # The seed comes from the expanded name: nested and inlined start alike.
    assert ctor["kernel_initializer"].kwargs == (
        ("seed", derive_seed(7, "body_block1_hidden", "kernel_initializer")),
    )
    assert p.forms == ("functional", "sequential")


def test_graph_drawing_of_nested_models():
    from modelspec.emit.graph import diagram, to_dot, to_mermaid

    for expand in (False, True):
        d = diagram(checked(TOWER), expand=expand)
        assert "left_tower" in to_dot(d) and "left_tower" in to_mermaid(d)


def test_generated_module_is_lint_clean(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from modelspec.emit.keras_py import render
    from modelspec.lower.plan import plan

    ruff = Path(sys.executable).parent / "ruff"
    for text, form in ((TOWER, "auto"), (CHAIN, "sequential"), (CHAIN, "functional")):
        source = render(plan(checked(text)), form)
        path = tmp_path / "m.py"
        path.write_text(source)
        for args in (["check", "--quiet"], ["format", "--check", "--quiet"]):
            done = subprocess.run([str(ruff), *args, str(path)], capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + source


# --- against Keras ---------------------------------------------------------------------------

keras_only = pytest.mark.keras


def _build_both(text: str, form: str = "auto"):
    """The generated module's model and the direct build of one spec."""
    from modelspec.api import SpecModel
    from modelspec.emit.keras_py import render
    from modelspec.lower.plan import plan

    result = checked(text)
    p = plan(result)
    namespace: dict = {}
    exec(compile(render(p, form), "generated.py", "exec"), namespace)  # noqa: S102 - our output
    return namespace["build_model"](), SpecModel(result, p).to_keras(form)


def _weights(model) -> list:
    import keras

    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def _out(model, x):
    """The model's output on ``x`` as a NumPy array, on any backend."""
    import keras

    return keras.ops.convert_to_numpy(model(x))


@keras_only
def test_siamese_nested_against_keras():
    import keras
    import numpy as np

    keras.backend.clear_session()
    generated, direct = _build_both(TOWER)
    for model in (generated, direct):
        tower = model.get_layer("left_tower")
        assert type(tower).__name__ == "Sequential"
        assert [layer.name for layer in tower.layers] == ["conv1", "pool", "fc"]
        assert len(tower._inbound_nodes) == 2  # one model, called on both inputs
    assert generated.get_config() == direct.get_config()
    for a, b in zip(_weights(generated), _weights(direct), strict=True):
        assert np.array_equal(a, b)  # seeded: the same weights
    summary = summary_json(checked(TOWER))
    assert summary["total_params"] == direct.count_params()
    for row in summary["layers"]:
        layer = direct.get_layer(row["name"])
        assert row["params"] == layer.count_params()
        assert row["type"] == type(layer).__name__
        shapes = [[None if d is None else int(d) for d in n.output_tensors[0].shape]
                  for n in layer._inbound_nodes if n.operation is layer]  # fmt: skip
        assert row["output_shapes"] == shapes[-len(row["output_shapes"]) :]


@keras_only
def test_nested_and_inline_are_the_same_model():
    import keras
    import numpy as np

    from modelspec.api import SpecModel
    from modelspec.lower.plan import plan

    keras.backend.clear_session()
    nested_result, inline_result = checked(TOWER), checked(TOWER, "false")
    nested = SpecModel(nested_result, plan(nested_result)).to_keras(compile=False)
    inline = SpecModel(inline_result, plan(inline_result)).to_keras(compile=False)
    assert nested.count_params() == inline.count_params()
    # Seeds come from the expanded names: both start from the same weights.
    tower = nested.get_layer("left_tower")
    for layer in tower.layers:
        for a, b in zip(
            layer.get_weights(), inline.get_layer(f"left_tower_{layer.name}").get_weights()
        ):
            assert np.array_equal(a, b)
    # New weights in one, copied to the other: the same outputs.
    rng = np.random.default_rng(0)
    for layer in tower.layers:
        fresh = [rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()]
        layer.set_weights(fresh)
        inline.get_layer(f"left_tower_{layer.name}").set_weights(fresh)
    batch = {k: rng.random((2, 12, 12, 1), dtype="float32") for k in ("left", "right")}
    np.testing.assert_allclose(_out(nested, batch), _out(inline, batch), rtol=1e-6, atol=1e-6)


@keras_only
def test_a_nested_model_in_a_sequential_stack():
    import keras
    import numpy as np

    keras.backend.clear_session()
    generated, direct = _build_both(CHAIN, "sequential")
    for model in (generated, direct):
        assert type(model).__name__ == "Sequential"
        assert [type(layer).__name__ for layer in model.layers] == [
            "Sequential",
            "Sequential",
            "Dense",
        ]
        assert [layer.name for layer in model.layers[0].layers] == ["hidden", "out"]
    assert generated.get_config() == direct.get_config()
    functional, _ = _build_both(CHAIN, "functional")
    x = np.random.default_rng(1).random((3, 6), dtype="float32")
    np.testing.assert_allclose(_out(direct, x), _out(functional, x), rtol=1e-6, atol=1e-6)
    assert summary_json(checked(CHAIN))["total_params"] == direct.count_params()
