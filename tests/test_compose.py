"""Composition: vars, ${...}, blocks, repeat, when, shared instances (modelspec.compose.expand)."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from modelspec.check import check_text
from modelspec.compose.scan import uses_composition
from modelspec.emit.summary import summary_json

SPECS = Path(__file__).resolve().parent.parent / "specs"

TINY_RESNET = """\
modelspec: 1
name: tiny_resnet
seed: 1
vars:
  width: 16
inputs:
  image: {shape: [32, 32, 3]}
blocks:
  bottleneck:
    params: {strides: 1, project: false}
    required: [filters]
    inputs: [x]
    outputs: [out]
    layers:
      1_conv: {type: Conv2D, filters: "${filters}", kernel_size: 1, strides: "${strides}"}
      1_bn: {type: BatchNormalization}
      1_relu: {type: Activation, activation: relu}
      2_conv: {type: Conv2D, filters: "${filters}", kernel_size: 3, padding: same}
      2_bn: {type: BatchNormalization}
      0_conv: {type: Conv2D, filters: "${filters}", kernel_size: 1, strides: "${strides}"}
      0_bn: {type: BatchNormalization}
      add: {type: Add}
      out: {type: Activation, activation: relu}
    graph:
      main: {apply: [1_conv, 1_bn, 1_relu, 2_conv, 2_bn], to: x}
      short: {apply: [0_conv, 0_bn], to: x, when: "${project}"}
      out: {apply: [add, out], to: [short, main]}
graph:
  stem: {apply: [{type: Conv2D, filters: "${width}", kernel_size: 3, name: stem_conv}], to: image}
  conv2: {block: bottleneck, to: stem, repeat: 3, with: {filters: "${width * 2}", project: "${index == 1}"}}
  conv3:
    block: bottleneck
    to: conv2
    repeat: 2
    with: {filters: "${width * 4}", strides: "${2 if index == 1 else 1}", project: "${index == 1}"}
  head: {apply: [{type: GlobalAveragePooling2D}, {type: Dense, units: 10, activation: softmax}], to: conv3}
outputs:
  probs: {from: head, loss: sparse_categorical_crossentropy}
"""

SIAMESE = """\
modelspec: 1
name: siamese
inputs:
  left: {shape: [8]}
  right: {shape: [8]}
blocks:
  tower:
    params: {width: 16}
    inputs: [x]
    outputs: [z]
    layers:
      fc: {type: Dense, units: "${width}", activation: relu}
    graph:
      h: {apply: [fc, {type: Dense, units: 4}], to: x}
      z: {apply: {type: LayerNormalization}, to: h}
graph:
  a: {block: tower, to: left, with: {width: 32}}
  b: {block: tower, to: right, share: a}
  d: {apply: {type: Subtract}, to: [a, b]}
outputs:
  diff: {from: d}
"""


def _check(text: str, file: str = "s.yaml"):
    return check_text(textwrap.dedent(text), file)


def _codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def test_plain_specs_do_not_use_composition():
    from modelspec.source.loader import load

    composed = {"gpt_decoder.yaml", "image_classifier.yaml", "llama_decoder.yaml",
                "resnet50.yaml", "siamese.yaml", "transformer_encoder.yaml"}  # fmt: skip
    for path in SPECS.glob("*.yaml"):
        doc, _ = load(path)
        assert uses_composition(doc.data) == (path.name in composed), path


def test_resnet_blocks_expand_with_keras_style_names():
    result = _check(TINY_RESNET)
    assert result.ok and not result.diagnostics, [d.format() for d in result.diagnostics]
    names = list(result.spec.layers)
    assert names[:3] == ["conv2_block1_1_conv", "conv2_block1_1_bn", "conv2_block1_1_relu"]
    # The projection shortcut exists only where `project` is true: block 1 of each stage.
    assert [n for n in names if n.endswith("_0_conv")] == [
        "conv2_block1_0_conv",
        "conv3_block1_0_conv",
    ]
    assert "conv3_block2_out" in names and "stem_conv" in names
    assert result.spec.layers["conv3_block1_1_conv"].kwargs == {
        "filters": 64,
        "kernel_size": 1,
        "strides": 2,
    }
    assert result.spec.layers["conv3_block2_1_conv"].kwargs["strides"] == 1
    # The identity block adds its input: the previous block's output.
    add = next(c for c in result.graph.order if c.layer == "conv2_block2_add")
    assert [r.name for r in add.inputs] == ["conv2_block1_out", "conv2_block2_main"]
    # Positions point into the block definition.
    assert result.spec.layers["conv3_block1_1_conv"].source.line == 15
    assert summary_json(result)["total_params"] == 116_458


def test_siamese_shared_instance_reuses_the_layers():
    result = _check(SIAMESE)
    assert result.ok and not result.diagnostics, [d.format() for d in result.diagnostics]
    assert list(result.spec.layers) == ["a_fc", "a_dense", "a_layer_normalization", "subtract"]
    calls = [c.layer for c in result.graph.order]
    assert calls.count("a_fc") == 2 and calls.count("a_dense") == 2
    assert result.spec.layers["a_fc"].kwargs["units"] == 32


@pytest.mark.keras
@pytest.mark.parametrize("text", [TINY_RESNET, SIAMESE], ids=["resnet", "siamese"])
def test_parameters_and_shapes_match_keras(text: str, tmp_path: Path):
    pytest.importorskip("keras")
    import modelspec

    path = tmp_path / "spec.yaml"
    path.write_text(text)
    result = _check(text)
    summary = summary_json(result)
    model = modelspec.load(path).to_keras()
    assert model.count_params() == summary["total_params"]
    for layer in summary["layers"]:
        keras_layer = model.get_layer(layer["name"])
        assert keras_layer.count_params() == layer["params"], layer["name"]


def test_vars_use_earlier_vars_and_reach_every_section():
    result = _check("""\
        modelspec: 1
        name: v
        vars:
          width: 8
          wide: "${width * 4}"
          act: relu
        inputs:
          x: {shape: ["${width}"]}
        sequential:
          - {type: Dense, units: "${wide}", activation: "${act}"}
          - {type: Dropout, rate: "${1 / width}"}
          - {type: Dense, units: 1, name: "out_${width}"}
        """)
    assert result.ok, [d.format() for d in result.diagnostics]
    assert result.spec.inputs[0].shape == (8,)
    assert result.spec.layers["dense"].kwargs == {"units": 32, "activation": "relu"}
    assert result.spec.layers["dropout"].kwargs == {"rate": 0.125}
    assert "out_8" in result.spec.layers


def test_repeat_on_a_chain_makes_new_inline_layers_and_calls_named_ones_again():
    result = _check("""\
        modelspec: 1
        name: r
        inputs:
          x: {shape: [4]}
        layers:
          shared: {type: Dense, units: 4}
        graph:
          h: {apply: [shared, {type: Dropout, rate: "${index / 10}", name: drop}], to: x, repeat: 3}
        outputs:
          y: {from: h}
        """)
    assert result.ok, [d.format() for d in result.diagnostics]
    assert list(result.spec.layers) == ["shared", "drop_1", "drop_2", "drop_3"]
    assert [result.spec.layers[f"drop_{i}"].kwargs["rate"] for i in (1, 2, 3)] == [0.1, 0.2, 0.3]
    assert [c.layer for c in result.graph.order].count("shared") == 3


def test_nested_blocks_and_several_outputs():
    result = _check("""\
        modelspec: 1
        name: n
        inputs:
          x: {shape: [4]}
        blocks:
          pair:
            inputs: [x]
            outputs: [a, b]
            graph:
              a: {apply: {type: Dense, units: 2, name: fa}, to: x}
              b: {apply: {type: Dense, units: 3, name: fb}, to: x}
          outer:
            inputs: [x]
            outputs: [m]
            graph:
              p: {block: pair, to: x}
              m: {apply: {type: Concatenate, name: cat}, to: ["p[0]", "p[1]"]}
        graph:
          o: {block: outer, to: x}
        outputs:
          y: {from: o}
        """)
    assert result.ok, [d.format() for d in result.diagnostics]
    assert list(result.spec.layers) == ["o_p_fa", "o_p_fb", "o_cat"]
    assert summary_json(result)["outputs"]["y"]["shape"] == [None, 5]


# code -> (extra blocks, graph, message); each is added to BASE.
ERRORS = {
    "MS701": ("", "vars:\n  2x: 1\ngraph:\n  t: {block: tower, to: x}\n", "invalid variable name '2x'"),
    "MS702": ("", "graph:\n  t: {block: tower, to: x, with: {width: \"${4 * }\"}}\n", None),
    "MS703": ("", "graph:\n  t: {block: towr, to: x}\n", "undefined block 'towr'"),
    "MS704": ("  b: {inputs: [x], outputs: [y], graph: {}}\n", "graph:\n  t: {block: tower, to: x}\n",
              "block 'b' needs a `graph`"),
    "MS705": ("", "graph:\n  t: {block: tower, to: x, with: {widht: 3}}\n", "has no parameter 'widht'"),
    "MS706": ("  c: {inputs: [x], outputs: [y], graph: {y: {apply: fc, to: x}}}\n",
              "graph:\n  t: {block: c, to: x}\n", "undefined layer 'fc' in block 'c'"),
    "MS708": ("  c: {inputs: [x], outputs: [y], graph: {y: {block: c, to: x}}}\n",
              "graph:\n  t: {block: c, to: x}\n", "block 'c' contains itself: c -> c"),
    "MS709": ("", "graph:\n  t: {block: tower, to: x, repeat: 0}\n", "`repeat` must be a whole number"),
    "MS710": ("", "graph:\n  t: {apply: {type: Dense, units: 2}, to: x, when: 3}\n",
              "`when` must be true or false"),
    "MS711": ("", "graph:\n  t: {block: tower, to: x, share: nope}\n", "`share: nope` is not an earlier instance"),
    "MS712": ("", "graph:\n  t: {block: tower, to: x, repeat: 100000000}\n", "would expand past 30,000"),
}  # fmt: skip

BASE = """\
modelspec: 1
name: e
inputs:
  x: {shape: [4]}
blocks:
  tower:
    params: {width: 4}
    inputs: [x]
    outputs: [y]
    graph:
      y: {apply: {type: Dense, units: "${width}"}, to: x}
"""


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_each_mistake_has_its_code_and_place(code: str):
    blocks, graph, message = ERRORS[code]
    text = BASE + blocks + graph + "outputs:\n  out: {from: t}\n"
    start = time.perf_counter()
    result = check_text(text, "s.yaml")
    assert time.perf_counter() - start < 5
    assert code in _codes(result), [d.format() for d in result.diagnostics]
    d = next(d for d in result.diagnostics if d.code == code)
    assert d.file == "s.yaml" and d.line > 1
    if message:
        assert message in d.message, d.message


def test_expression_error_points_at_the_column():
    text = (
        BASE
        + 'vars:\n  u: "${4 + nope}"\ngraph:\n  t: {block: tower, to: x}\noutputs:\n  out: {from: t}\n'
    )
    result = check_text(text, "s.yaml")
    (d,) = result.diagnostics
    line = text.splitlines()[d.line - 1]
    assert d.code == "MS702" and line[d.col - 1 :].startswith("nope")


def test_an_error_inside_a_block_names_the_instance_and_the_block_line():
    text = (
        BASE + "graph:\n  t: {block: tower, to: x, with: {width: -2}}\noutputs:\n  out: {from: t}\n"
    )
    result = check_text(text, "s.yaml")
    d = next(d for d in result.diagnostics if d.code == "MS106")
    assert d.line == 11  # the block's `units: "${width}"`
    assert "[in instance 't' of block 'tower', line 13]" in d.message


def test_name_collisions_are_reported():
    text = BASE + (
        "layers:\n  t_dense: {type: Dense, units: 4}\n"
        "graph:\n  t: {block: tower, to: x}\n  u: {apply: t_dense, to: x}\n"
        "outputs:\n  out: {from: t}\n  o2: {from: u}\n"
    )
    result = check_text(text, "s.yaml")
    assert "MS707" in _codes(result), [d.format() for d in result.diagnostics]


def test_several_outputs_need_an_index():
    text = (
        BASE.replace("outputs: [y]", "outputs: [y, y]")
        + "graph:\n  t: {block: tower, to: x}\noutputs:\n  out: {from: t}\n"
    )
    result = check_text(text, "s.yaml")
    d = next(d for d in result.diagnostics if d.code == "MS706")
    assert "pick one with t[0] ... t[1]" in d.message


def test_a_layer_only_a_dropped_step_calls_is_not_made_but_an_unused_one_warns():
    result = _check(
        TINY_RESNET.replace(
            "      add: {type: Add}\n",
            "      add: {type: Add}\n      spare: {type: Dense, units: 3}\n",
        )
    )
    assert result.ok
    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("MS213", "layer 'spare' of block 'bottleneck' is never called")
    ]


def test_expand_cli_writes_a_plain_spec_that_is_the_same_model(tmp_path: Path):
    from tests.test_cli import run

    spec = tmp_path / "resnet.yaml"
    spec.write_text(TINY_RESNET)
    out = tmp_path / "expanded.yaml"
    proc = run("expand", str(spec), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.startswith("# Expanded by modelspec from resnet.yaml")
    assert "${" not in text and "block" not in text.split("\n", 2)[2].replace("_block", "")
    assert run("lint", str(out)).returncode == 0
    proc = run("diff", str(spec), str(out))
    assert proc.returncode == 0 and proc.stdout.endswith("identical\n"), proc.stdout
    # Its own output is overwritten; anything else is not, without --force.
    assert run("expand", str(spec), "-o", str(out)).returncode == 0
    proc = run("expand", str(spec), "-o", str(spec))
    assert proc.returncode == 1 and "was not generated by modelspec" in proc.stderr
    assert spec.read_text() == TINY_RESNET
    proc = run("expand", str(SPECS / "seed_001_mlp.yaml"))
    assert proc.returncode == 0 and "\nsequential:\n  - {type: Dense, units: 256" in proc.stdout


def test_the_docs_example_lints_clean():
    doc = (SPECS.parent / "docs" / "spec.md").read_text()
    section = doc.split("## Composition", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    result = check_text(example, "spec.md.yaml")
    assert result.ok and not result.diagnostics, [d.format() for d in result.diagnostics]


# --- bounded work: one budget for the whole expansion --------------------------------------


def _lint_timed(text: str):
    start = time.process_time()
    result = check_text(text, "s.yaml")
    return result, time.process_time() - start


def _where(result) -> list[tuple[str, int, int]]:
    return [(d.code, d.line, d.col) for d in result.errors]


def test_vars_that_copy_each_other_stop_at_the_budget():
    """Each var holds four copies of the one before: twelve vars of 45 bytes were 167
    million numbers (4 GB and more). Each copy is counted for the whole spec."""
    refs = lambda name: ", ".join([f'"${{{name}}}"'] * 4)  # noqa: E731
    lines = ["vars:", "  v0: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]"]
    lines += [f"  v{i}: [{refs(f'v{i - 1}')}]" for i in range(1, 13)]
    text = (
        BASE.replace("blocks:", "\n".join(lines) + "\nblocks:")
        + "graph:\n  t: {block: tower, to: x}\n"
    )
    result, seconds = _lint_timed(text + "outputs:\n  out: {from: t}\n")
    # At the first copy of v8 in v9: 655,360 numbers, four times over.
    assert _where(result) == [("MS728", 15, 11)], [d.format() for d in result.diagnostics]
    assert result.errors[0].hint.startswith("a large value is copied into many places")
    assert seconds < 5


def test_a_block_repeated_with_a_large_var_stops_at_the_budget_at_its_instance():
    text = BASE.replace("blocks:", 'vars:\n  big: "${[0] * 99999}"\nblocks:').replace(
        '"${width}"}', '"${width}", bias_initializer: "${big}"}'
    )
    result, seconds = _lint_timed(text + "graph:\n  t: {block: tower, to: x, repeat: 10000}\n"
                                  "outputs:\n  out: {from: t}\n")  # fmt: skip
    ((code, line, col),) = _where(result)
    assert (code, line) == ("MS728", 13) and "[in instance 't_block" in result.errors[0].message
    assert seconds < 5


def test_a_large_var_read_by_every_instance_is_not_written_out_for_each():
    """The cache key of an instance's values wrote out every value its templates read:
    99,999 numbers for each instance. A result that reads a large value is not cached."""
    text = (
        BASE.replace("blocks:", 'vars:\n  big: "${[4] * 99999}"\nblocks:')
        .replace('"${width}"}', '"${big[index - 1]}"}')
        .replace("params: {width: 4}", "params: {index: 0}")
    )
    result, seconds = _lint_timed(text + "graph:\n  t: {block: tower, to: x, repeat: 3000, "
                                  'with: {index: "${index}"}}\noutputs:\n  out: {from: t}\n')  # fmt: skip
    assert result.ok, [d.format() for d in result.diagnostics[:3]]
    assert len(result.spec.layers) == 3000 and seconds < 10


def test_comparing_large_values_in_every_instance_stops_at_the_step_budget():
    text = BASE.replace("blocks:", 'vars:\n  big: "${[0] * 99999}"\nblocks:').replace(
        '"${width}"}', '"${width if big == big else 1}"}'
    )
    result, seconds = _lint_timed(text + "graph:\n  t: {block: tower, to: x, repeat: 10000}\n"
                                  "outputs:\n  out: {from: t}\n")  # fmt: skip
    assert [(c, line) for c, line, _ in _where(result)] == [("MS729", 13)]
    assert "take more than 1,000,000 steps" in result.errors[0].message and seconds < 5


def test_dropped_steps_count_toward_the_expansion_limit():
    dropped = "".join(f"      s{i}: {{apply: {{type: Dense, units: 2}}, to: x, when: false}}\n"
                      for i in range(1000))  # fmt: skip
    text = (
        "modelspec: 1\nname: m\ninputs:\n  x: {shape: [4]}\nblocks:\n"
        f"  c:\n    inputs: [x]\n    outputs: [x]\n    graph:\n{dropped}"
        "  b: {inputs: [x], outputs: [o], graph: {o: {block: c, to: x, repeat: 29}}}\n"
        "  a: {inputs: [x], outputs: [o], graph: {o: {block: b, to: x, repeat: 30}}}\n"
        "graph:\n  t: {block: a, to: x, repeat: 30}\noutputs:\n  y: {from: t}\n"
    )
    result, seconds = _lint_timed(text)
    assert [c for c, _, _ in _where(result)] == ["MS712"] and seconds < 5


def test_vars_nested_in_each_other_stop_at_64_levels_with_one_error():
    lines = ["vars:", "  a0: [1]"] + [f'  a{i}: ["${{a{i - 1}}}"]' for i in range(1, 300)]
    text = BASE.replace("blocks:", "\n".join(lines) + "\nblocks:").replace(
        '"${width}"}', '"${width}", name: "${a299}"}'
    )
    result, _ = _lint_timed(
        text + "graph:\n  t: {block: tower, to: x}\noutputs:\n  out: {from: t}\n"
    )
    # a64 would be 65 lists deep. The vars and the layer that read it say nothing more.
    assert _where(result) == [("MS702", 70, 8)], [d.format() for d in result.diagnostics[:3]]
    assert result.errors[0].message == "the value nests deeper than 64 levels"


def test_a_large_spec_of_blocks_is_well_inside_the_budget(monkeypatch):
    """ResNet-50's spec with 400 blocks in each of two stages (8,000 layers and their
    steps) lints clean with a third of each budget: the limits leave room to spare."""
    from modelspec.compose import limits

    text = (SPECS / "resnet50.yaml").read_text()
    text = text.replace("repeat: 3, with: {filters: 64", "repeat: 400, with: {filters: 64")
    text = text.replace("to: conv2\n    repeat: 4", "to: conv2\n    repeat: 400")
    monkeypatch.setattr(limits, "MAX_TOTAL_SIZE", limits.MAX_TOTAL_SIZE // 3)
    monkeypatch.setattr(limits, "MAX_STEPS", limits.MAX_STEPS // 3)
    result = check_text(text, "resnet.yaml")
    assert result.ok and len(result.spec.layers) > 8000, [d.format() for d in result.errors[:3]]


def test_the_budget_is_read_when_a_spec_is_checked(monkeypatch):
    from modelspec.compose import limits

    monkeypatch.setattr(limits, "MAX_TOTAL_SIZE", 100)
    result = check_text(TINY_RESNET, "r.yaml")
    assert [d.code for d in result.errors] == ["MS728"]
    monkeypatch.undo()
    assert check_text(TINY_RESNET, "r.yaml").ok
