"""Op steps: ``{op: NAME, to: ..., **keywords}`` calls one of the safe ``keras.ops``.

Lint reads the step without Keras (the schema for its keywords, the catalogue's shape
and dtype rules, :mod:`modelspec.catalog.ops`); the generated module calls
``keras.ops.NAME`` or subscripts the tensor; the Keras-marked tests build both forms
and compare them with the same model written by hand. The rules themselves are held
to Keras in tests/test_ops_conformance.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelspec.catalog.ops import OPS
from modelspec.check import check_text
from modelspec.emit.keras_py import render
from modelspec.ir import TensorRef
from modelspec.lower.plan import plan

ROOT = Path(__file__).resolve().parent.parent

OPS_SPEC = """modelspec: 1
name: ops
seed: 3
inputs:
  x: {shape: [4, 3]}
  tokens: {shape: [6], dtype: int32}
graph:
  centered: {op: subtract, to: [x, 1.0]}
  h: {apply: {type: Dense, units: 5, name: fc}, to: centered}
  total: {op: sum, to: h, axis: -1, keepdims: true}
  last: {op: get_item, to: h, index: "[:, -1]"}
  half: {op: multiply, to: [0.5, last]}
  ones: {op: ones_like, to: tokens}
  counted: {op: cumsum, to: ones, axis: 1}
  positions: {op: subtract, to: [counted, 1]}
  pe: {apply: {type: Embedding, input_dim: 6, output_dim: 5, name: pos}, to: positions}
  joined: {op: concatenate, to: [h, pe], axis: 1}
  scores: {op: matmul, to: [h, joined_t]}
  joined_t: {op: transpose, to: joined, axes: [0, 2, 1]}
  probs: {op: softmax, to: scores}
outputs:
  y: {from: total}
  z: {from: half}
  p: {from: probs}
"""


def lint(text: str, tmp_path: Path, name: str = "s.yaml") -> subprocess.CompletedProcess:
    spec = tmp_path / name
    spec.write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "modelspec", "lint", str(spec)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )


def found(stderr: str) -> set[tuple[str, str]]:
    """``(line:col, code)`` of every diagnostic lint printed."""
    out = set()
    for line in stderr.splitlines():
        parts = line.split(": ")
        if len(parts) >= 3 and parts[1].split()[0] in ("error", "warning"):
            out.add((parts[0].split(":", 1)[1], parts[1].split()[1]))
    return out


def test_an_op_step_is_an_inline_layer_named_as_keras_names_the_operation():
    result = check_text(OPS_SPEC, "s.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    spec = result.spec
    ops = {n: layer.type for n, layer in spec.layers.items() if layer.type.startswith("ops.")}
    assert ops == {
        "subtract": "ops.subtract", "sum": "ops.sum", "get_item": "ops.get_item",
        "multiply": "ops.multiply", "ones_like": "ops.ones_like", "cumsum": "ops.cumsum",
        "subtract_1": "ops.subtract", "concatenate": "ops.concatenate", "matmul": "ops.matmul",
        "transpose": "ops.transpose", "softmax": "ops.softmax",
    }  # fmt: skip
    half = next(c for c in spec.calls if c.step == "half")
    assert half.operands[0] == 0.5 and isinstance(half.operands[1], TensorRef)
    assert [str(r) for r in half.inputs] == ["last"]
    assert spec.layers["sum"].kwargs == {"axis": -1, "keepdims": True}


def test_shapes_and_dtypes_follow_the_ops():
    result = check_text(OPS_SPEC, "s.yaml")
    shapes, dtypes = result.shapes.tensors, result.shapes.dtypes
    assert shapes["total"] == (None, 4, 1)
    assert shapes["last"] == (None, 5)
    assert shapes["positions"] == (None, 6) and dtypes["positions"] == "int32"
    assert shapes["joined"] == (None, 10, 5)
    assert shapes["scores"] == (None, 4, 10)
    assert shapes["probs"] == (None, 4, 10) and dtypes["probs"] == "float32"
    assert result.shapes.params["sum"] == (0, 0)


def test_the_generated_module_calls_keras_ops():
    text = render(plan(check_text(OPS_SPEC, "s.yaml")))
    for line in (
        "centered = keras.ops.subtract(x, 1.0)",
        "total = keras.ops.sum(h, axis=-1, keepdims=True)",
        "last = h[:, -1]",
        "half = keras.ops.multiply(0.5, last)",
        "counted = keras.ops.cumsum(ones, axis=1)",
        "joined = keras.ops.concatenate([h, pe], axis=1)",
        "joined_t = keras.ops.transpose(joined, axes=(0, 2, 1))",
        "scores = keras.ops.matmul(h, joined_t)",
        "probs = keras.ops.softmax(scores)",
    ):
        assert f"    {line}  # s.yaml:" in text, line
    assert "Lambda" not in text and "eval" not in text


def test_summary_shows_kerass_names_and_classes(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(OPS_SPEC, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "modelspec", "summary", str(spec)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert " subtract_1 (Subtract) " in run.stdout
    assert " get_item (GetItem) " in run.stdout
    assert "Total params: 50 " in run.stdout  # 20 of the Dense, 30 of the Embedding
    as_json = subprocess.run(
        [sys.executable, "-m", "modelspec", "summary", "--format", "json", str(spec)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    rows = {r["name"]: r for r in json.loads(as_json.stdout)["layers"]}
    assert rows["cumsum"]["type"] == "ops.cumsum" and rows["cumsum"]["params"] == 0


BAD = """modelspec: 1
name: bad
inputs:
  x: {shape: [4, 3]}
  add: {shape: [4, 3]}
layers:
  sum: {type: Dense, units: 3}
graph:
  a: {op: arange, to: x}
  b: {op: sums, to: x, axis: 1}
  c: {op: mean, to: x, axs: 1}
  d: {op: add, to: [1, 2]}
  e: {op: max, to: x, axis: 5}
  f: {op: add, to: [x, g]}
  g: {op: matmul, to: [x, x]}
  h: {op: get_item, to: x, index: "[:, 0, 0, 0]"}
  i: {op: multiply, to: [x, true]}
  j: {op: random.normal, to: x}
  k: {op: sum, to: x}
  l: {op: reshape, to: x, newshape: [-1, -1]}
  m: {op: sqrt, to: s}
  s: {op: cast, to: x, dtype: str}
  n: {apply: sum, to: x}
outputs:
  y: {from: n}
"""


def test_lint_reports_each_op_problem_at_its_line(tmp_path):
    run = lint(BAD, tmp_path)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = {(at, code) for at, code in found(run.stderr) if code not in ("MS211", "MS212")}
    assert errors == {
        ("5:3", "MS203"),  # the input `add`: Keras names the op `add` so
        ("7:3", "MS203"),  # the layer `sum`, likewise
        ("9:11", "MS105"),  # arange: refused, with what to write instead
        ("10:11", "MS105"),  # sums: did you mean sum
        ("11:24", "MS102"),  # axs: did you mean axis
        ("12:20", "MS305"),  # numbers only
        ("13:11", "MS304"),  # axis out of range
        ("15:11", "MS303"),  # matmul's inner sizes
        ("16:11", "MS304"),  # more indices than axes
        ("17:29", "MS104"),  # a boolean operand
        ("18:11", "MS105"),  # random.normal: refused, with the sampling recipe
        ("20:11", "MS304"),  # two -1s
        ("22:31", "MS105"),  # dtype str: the schema's enum names the dtypes
    }, run.stderr
    assert "did you mean 'sum'?" in run.stderr
    assert "did you mean 'axis'?" in run.stderr
    assert "count positions from the tokens instead" in run.stderr
    assert "GaussianNoise" in run.stderr


def test_an_inline_layer_keras_would_name_like_an_op_must_be_named(tmp_path):
    text = """modelspec: 1
name: m
inputs:
  x: {shape: [4]}
graph:
  a: {apply: {type: Add}, to: [x, x]}
  b: {op: add, to: [a, 1.0]}
outputs:
  y: {from: b}
"""
    run = lint(text, tmp_path)
    assert run.returncode == 1
    assert ("6:14", "MS203") in found(run.stderr)
    assert "give the inline layer a `name:` of its own" in run.stderr
    fixed = text.replace("{type: Add}", "{type: Add, name: residual}")
    assert lint(fixed, tmp_path).returncode == 0


def test_a_stack_of_ops_is_functional(tmp_path):
    text = """modelspec: 1
name: m
inputs:
  x: {shape: [4]}
graph:
  h: {apply: {type: Dense, units: 4}, to: x}
  y: {op: tanh, to: h}
outputs:
  y: {from: y}
"""
    built = plan(check_text(text, "s.yaml"))
    assert built.forms == ("functional",)
    assert built.not_a_chain is not None and "calls an op" in built.not_a_chain[0]


BLOCKS = """modelspec: 1
name: blk
seed: 1
inputs:
  x: {shape: [5, 8]}
blocks:
  rms:
    inputs: [h]
    outputs: [out]
    layers:
      fc: {type: Dense, units: 8}
    graph:
      sq: {op: square, to: h}
      ms: {op: mean, to: sq, axis: -1, keepdims: true}
      inv: {op: rsqrt, to: [ms]}
      scaled: {op: multiply, to: [h, inv]}
      out: {apply: fc, to: scaled}
  nested:
    model: true
    inputs: [h]
    outputs: [out]
    graph:
      t: {op: multiply, to: [h, "${scale}"]}
      out: {op: tanh, to: t}
vars: {scale: 2.0}
graph:
  a: {block: rms, to: x, repeat: 2}
  b: {block: nested, to: a}
  c: {op: add, to: [b, 1], repeat: 2}
outputs:
  y: {from: c}
"""


def test_op_steps_in_blocks_repeats_and_nested_models(tmp_path):
    result = check_text(BLOCKS.replace("to: [ms]", "to: ms"), "s.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    text = render(plan(result))
    assert "a_block2_scaled = keras.ops.multiply(x, a_block2_inv)" not in text
    assert "a_block2_scaled = keras.ops.multiply(a_block1_out, a_block2_inv)" in text
    assert "b_t = keras.ops.multiply(h, 2.0)" in text  # in build_b(), the nested model
    assert "c_1 = keras.ops.add(b, 1)" in text and "c = keras.ops.add(c_1, 1)" in text
    # A list where the op takes one tensor: the schema's error, at its line.
    run = lint(BLOCKS, tmp_path)
    assert run.returncode == 1 and ("15:28", "MS104") in found(run.stderr), run.stderr


def test_the_schema_offers_every_op_with_its_keywords():
    run = subprocess.run(
        [sys.executable, "-m", "modelspec", "schema"], capture_output=True, text=True, timeout=120
    )
    schema = json.loads(run.stdout)
    defs = schema["$defs"]
    # (the editor's schema also takes a `${...}` wherever a value goes)
    assert {"enum": list(OPS)} in defs["op_step"]["properties"]["op"]["anyOf"]
    for name, op in OPS.items():
        props = defs[f"op.{name}"]["properties"]
        assert set(props) >= {"op", "to", *(k.name for k in op.kwargs)}
        assert {"repeat", "when"} <= set(props)  # the editor's schema: composition too
    assert schema["properties"]["graph"]["additionalProperties"] == {"$ref": "#/$defs/graph_step"}


# --- against Keras ---------------------------------------------------------------------


def _by_hand(keras):
    """OPS_SPEC written in Keras."""
    x = keras.Input((4, 3), name="x")
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    h = keras.layers.Dense(5, name="fc")(keras.ops.subtract(x, 1.0))
    total = keras.ops.sum(h, axis=-1, keepdims=True)
    half = keras.ops.multiply(0.5, h[:, -1])
    positions = keras.ops.cumsum(keras.ops.ones_like(tokens), axis=1) - 1
    pe = keras.layers.Embedding(6, 5, name="pos")(positions)
    joined = keras.ops.concatenate([h, pe], axis=1)
    probs = keras.ops.softmax(keras.ops.matmul(h, keras.ops.transpose(joined, (0, 2, 1))))
    return keras.Model({"x": x, "tokens": tokens}, {"y": total, "z": half, "p": probs})


@pytest.mark.keras
def test_the_spec_builds_the_model_written_by_hand(tmp_path):
    np = pytest.importorskip("numpy")
    keras = pytest.importorskip("keras")
    from modelspec.api import build_model

    spec = tmp_path / "ops.yaml"
    spec.write_text(OPS_SPEC, encoding="utf-8")
    ours = build_model(spec)
    hand = _by_hand(keras)
    assert ours.count_params() == hand.count_params() == 50
    for name in ("fc", "pos"):
        hand.get_layer(name).set_weights(ours.get_layer(name).get_weights())
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(3, 4, 3)).astype("float32"),
            "tokens": np.zeros((3, 6), dtype="int32")}  # fmt: skip
    got, want = ours.predict(data, verbose=0), hand.predict(data, verbose=0)
    for key in ("y", "z", "p"):
        np.testing.assert_array_equal(got[key], want[key])
    # Keras records an operation per step, of the class the summary shows.
    classes = {type(op).__name__ for op in ours.operations}
    assert {"Subtract", "Sum", "GetItem", "Multiply", "Cumsum", "Matmul", "Softmax"} <= classes
    path = tmp_path / "m.keras"
    ours.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_array_equal(again.predict(data, verbose=0)["p"], got["p"])


@pytest.mark.keras
def test_equiv_proves_the_generated_and_direct_builds_identical(tmp_path):
    spec = tmp_path / "ops.yaml"
    spec.write_text(OPS_SPEC, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "modelspec", "equiv", str(spec)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "verdict: identical" in run.stdout


def _doc_examples() -> list[str]:
    doc = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    section = doc.split("### Ops", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```yaml\n")[1:]]


def test_the_docs_examples_lint_clean():
    whole, positions, sampling = _doc_examples()
    result = check_text(whole, "spec.md.yaml")
    assert result.ok and not result.diagnostics, [d.format() for d in result.diagnostics]
    for steps, inputs in ((positions, "tokens: {shape: [8], dtype: int32}"),
                          (sampling, "mean: {shape: [4]}\n  log_var: {shape: [4]}")):  # fmt: skip
        steps = "\n".join("  " + line.strip() for line in steps.strip().splitlines())
        last = steps.strip().splitlines()[-1].split(":")[0].strip()
        text = f"modelspec: 1\nname: m\nseed: 1\ninputs:\n  {inputs}\ngraph:\n{steps}\n"
        text += f"outputs:\n  y: {{from: {last}}}\n"
        result = check_text(text, "s.yaml")
        assert result.ok and not result.diagnostics, [d.format() for d in result.diagnostics]


@pytest.mark.keras
def test_the_sampling_recipe_draws_in_training_and_gives_the_mean_otherwise(tmp_path):
    np = pytest.importorskip("numpy")
    from modelspec.api import build_model

    sampling = _doc_examples()[2]
    steps = "\n".join("  " + line.strip() for line in sampling.strip().splitlines())
    spec = tmp_path / "vae.yaml"
    spec.write_text(
        "modelspec: 1\nname: m\nseed: 1\ninputs:\n  mean: {shape: [4]}\n  log_var: {shape: [4]}\n"
        f"graph:\n{steps}\noutputs:\n  z: {{from: z}}\n",
        encoding="utf-8",
    )
    model = build_model(spec)
    mean = np.arange(8, dtype="float32").reshape(2, 4)
    log_var = np.full((2, 4), np.log(4.0), dtype="float32")  # std 2
    inputs = {"mean": mean, "log_var": log_var}
    np.testing.assert_array_equal(model.predict(inputs, verbose=0), mean)
    drawn = np.asarray(model(inputs, training=True))
    assert not np.allclose(drawn, mean)
    # The same seed draws the same noise in a second build.
    again = np.asarray(build_model(spec)(inputs, training=True))
    np.testing.assert_array_equal(drawn, again)
