"""Diagnostics a newcomer can act on, through the real command line.

Each test lints a small spec with ``python -m modelspec lint FILE`` in a subprocess and
asserts the exit code and the text a user reads: the diagnostic, the spec's line with a
caret under the column, and the hint.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from modelspec.errors import Diagnostic, format_all

ROOT = Path(__file__).resolve().parent.parent


def lint(tmp_path: Path, name: str, text: str) -> subprocess.CompletedProcess[str]:
    """``modelspec lint NAME`` on ``text``, run in ``tmp_path``."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "MODELSPEC_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(
        [sys.executable, "-m", "modelspec", "lint", name],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip


# --- syntax errors (MS003) -----------------------------------------------------------------


def test_a_yaml_syntax_error_shows_its_line_and_names_the_open_brace(tmp_path: Path):
    text = (
        "modelspec: 1\nname: m\ninputs:\n  x: {shape: [8]}\n"
        "sequential:\n  - {type: Dense, units: 4\n"
        "outputs:\n  y: {from: x}\n"
    )
    proc = lint(tmp_path, "s.yaml", text)
    assert proc.returncode == 1
    assert proc.stderr == (
        "s.yaml:7:8: error MS003: invalid YAML: did not find expected ',' or '}'\n"
        "    outputs:\n"
        "           ^\n"
        "    hint: the '{' at line 6, column 5 is never closed: add a '}' where the mapping ends\n"
        "1 file checked: 1 error, 0 warnings\n"
    )


def test_a_bad_indentation_says_which_columns_fit(tmp_path: Path):
    text = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [8]}\n   sequential:\n  - {type: Dense}\n"
    proc = lint(tmp_path, "s.yaml", text)
    assert proc.returncode == 1
    assert "s.yaml:5:4: error MS003: invalid YAML" in proc.stderr
    assert "\n       sequential:\n       ^\n" in proc.stderr
    assert (
        "hint: line 5 is indented 3 spaces, deeper than line 4, which already has its value "
        "(nothing can nest under it): indent line 5 like the key or item it belongs beside, "
        "0 or 2 spaces\n"
    ) in proc.stderr


def test_an_unclosed_quote_at_the_end_points_at_the_quote(tmp_path: Path):
    # The reader gives up at the end of the file, which has no line to show.
    proc = lint(tmp_path, "s.yaml", 'modelspec: 1\nname: "m\ninputs:\n  x: {shape: [8]}\n')
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        "s.yaml:2:7: error MS003: invalid YAML: found unexpected end of stream\n"
        '    name: "m\n'
        "          ^\n"
        "    hint: the string that starts with '\"' at line 2, column 7 is never closed: "
        "end it with another '\"'\n"
    )


def test_a_tab_shows_its_line_with_the_caret_in_place(tmp_path: Path):
    proc = lint(tmp_path, "s.yaml", "modelspec: 1\nname: m\ninputs:\n\tx: {shape: [8]}\n")
    assert proc.returncode == 1
    assert "s.yaml:4:1: error MS003" in proc.stderr
    # The tab is shown as one space, the width a column gives it.
    assert "\n     x: {shape: [8]}\n    ^\n    hint: YAML indents with spaces, never tabs\n" in (
        proc.stderr
    )


def test_a_json_trailing_comma(tmp_path: Path):
    text = '{\n  "modelspec": 1,\n  "name": "m",\n  "inputs": {"x": {"shape": [8]}},\n}\n'
    proc = lint(tmp_path, "s.json", text)
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        "s.json:5:1: error MS003: invalid JSON: Expecting property name enclosed in double quotes\n"
        "    }\n"
        "    ^\n"
        "    hint: JSON allows no ',' after the last item: remove the ',' at line 4, column 34\n"
    )


def test_a_json_string_left_open(tmp_path: Path):
    proc = lint(tmp_path, "s.json", '{"modelspec": 1,\n "name": "m,\n "inputs": {}}\n')
    assert proc.returncode == 1
    assert "s.json:2:13: error MS003: invalid JSON: Invalid control character\n" in proc.stderr
    assert '\n     "name": "m,\n                ^\n' in proc.stderr
    assert "hint: the string that starts with '\"' at line 2, column 10 is never closed" in (
        proc.stderr
    )


# --- how a line is shown -------------------------------------------------------------------


def test_lines_are_counted_as_editors_count_them():
    # str.splitlines would also break at U+2028 (here inside a comment) and show line 4.
    source = "a: 1\n# x\u2028y\nb: 2\nc: 3\n"
    d = Diagnostic("error", "MS999", "m", file="s.yaml", line=3, col=4)
    assert format_all([d], source=source).splitlines()[1:] == ["    b: 2", "       ^"]


def test_the_caret_counts_wide_characters_twice():
    d = Diagnostic("error", "MS999", "m", file="s.yaml", line=1, col=10)
    shown = format_all([d], source='name: "中文" x\n').splitlines()
    assert shown[1:] == ['    name: "中文" x', "    " + " " * 11 + "^"]


def test_a_tab_is_shown_as_one_space():
    d = Diagnostic("error", "MS999", "m", file="s.yaml", line=1, col=4)
    assert format_all([d], source="a:\t\tb\n").splitlines()[1:] == ["    a:  b", "       ^"]


# --- one mistake, one message --------------------------------------------------------------

TOWER = (ROOT / "specs" / "seed_000_shared_tower.yaml").read_text(encoding="utf-8")


def test_an_output_from_a_layer_gives_the_error_alone(tmp_path: Path):
    # `from: densef` names the tower's last layer, not a step: before, the two inputs
    # and both steps were also said to be unused, four warnings before the one error.
    text = TOWER.replace("lab_1: {from: t1,", "lab_1: {from: densef,")
    proc = lint(tmp_path, "s.yaml", text)
    assert proc.returncode == 1
    assert proc.stderr == (
        "s.yaml:24:17: error MS201: undefined tensor 'densef' in output 'lab_1'\n"
        "      lab_1: {from: densef, loss: categorical_crossentropy, loss_weight: 0.5}\n"
        "                    ^\n"
        "    hint: 'densef' is a layer; `to`/`from` take tensors: an input or a graph step\n"
        "1 file checked: 1 error, 0 warnings\n"
    )


def test_a_misspelt_input_gives_the_error_alone(tmp_path: Path):
    text = TOWER.replace("to: labeled_2}", "to: labeled2}")
    proc = lint(tmp_path, "s.yaml", text)
    assert proc.returncode == 1
    assert "error MS201: undefined tensor 'labeled2' in the input of step 't2'" in proc.stderr
    assert "hint: did you mean 'labeled_2'?" in proc.stderr
    assert " warning MS" not in proc.stderr  # not "input 'labeled_2' is never used"
    assert proc.stderr.endswith("1 file checked: 1 error, 0 warnings\n")


def test_a_cycle_gives_its_errors_alone(tmp_path: Path):
    text = TOWER.replace("to: labeled_2}", "to: t2}")
    proc = lint(tmp_path, "s.yaml", text)
    assert proc.returncode == 1
    assert "error MS204: cycle in the graph: t2 -> t2" in proc.stderr
    assert "error MS214: output 'lab_2' cannot be computed from the inputs" in proc.stderr
    assert proc.stderr.endswith("1 file checked: 2 errors, 0 warnings\n")


def test_unused_parts_are_still_said_when_nothing_hides_them(tmp_path: Path):
    text = TOWER.replace(
        "  lab_2: {from: t2, loss: categorical_crossentropy, loss_weight: 0.5}\n", ""
    )
    proc = lint(tmp_path, "s.yaml", text)
    assert proc.returncode == 0
    assert "s.yaml:11:3: warning MS212: input 'labeled_2' does not reach any output" in proc.stderr
    assert "s.yaml:22:16: warning MS211: step 't2' is computed but no output uses it" in proc.stderr


@pytest.mark.parametrize(
    ("value", "code"), [("true", "MS104"), ("null", "MS104"), ("{}", "MS106"), ("[]", "MS104")]
)
def test_an_outputs_section_of_the_wrong_kind_gives_one_error(tmp_path: Path, value, code):
    # Before, the schema's error came with MS208 "a graph spec needs an `outputs` section".
    head, _, _ = TOWER.partition("outputs:\n")
    proc = lint(tmp_path, "s.yaml", f"{head}outputs: {value}\n")
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if ": error MS" in line]
    assert len(errors) == 1 and f"error {code}: `outputs`" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_graph_without_outputs_still_says_so(tmp_path: Path):
    head, _, _ = TOWER.partition("outputs:\n")
    proc = lint(tmp_path, "s.yaml", head)
    assert "error MS208: a graph spec needs an `outputs` section" in proc.stderr


# --- suggestions that fit ------------------------------------------------------------------


def test_suggestions_say_what_was_meant(tmp_path: Path):
    text = (
        "modelspec: 1\nname: m\ninputs:\n  x: {shape: [-1], dtype: int}\n"
        "sequential:\n  - {type: TFSMLayer, filepath: m}\n  - {type: Dense, units: 4}\n"
    )
    proc = lint(tmp_path, "s.yaml", text)
    assert proc.returncode == 1
    assert proc.stderr == (
        "s.yaml:4:15: error MS104: `shape[0]` must be an integer or null; got -1 (integer)\n"
        "      x: {shape: [-1], dtype: int}\n"
        "                  ^\n"
        "    hint: a size known only when the model runs is null (Keras's None), not -1; "
        "a known size is at least 1\n"
        "s.yaml:4:27: error MS105: unknown value 'int' for `dtype`\n"
        "      x: {shape: [-1], dtype: int}\n"
        "                              ^\n"
        "    hint: did you mean 'int32'? Keras names dtypes by their size: 'int' is int32\n"
        "s.yaml:6:12: error MS105: unsupported layer type 'TFSMLayer' in the layer in "
        "`sequential`: a Keras layer that modelspec does not support yet\n"
        "      - {type: TFSMLayer, filepath: m}\n"
        "               ^\n"
        "    hint: to use it anyway, declare it under `custom:` with class: "
        "keras.layers.TFSMLayer, and allow that module (--allow-module keras.layers); "
        "see docs/spec.md, Custom layers\n"
        "1 file checked: 3 errors, 0 warnings\n"
    )
    assert "int8" not in proc.stderr and "BatchNormalization" not in proc.stderr


# --- losses against final activations (MS407-MS409) ----------------------------------------


def test_loss_and_activation_mismatches_are_warnings_at_the_output(tmp_path: Path):
    text = (
        "modelspec: 1\nname: m\ninputs:\n  x: {shape: [8]}\n"
        "graph:\n"
        "  a: {apply: {type: Dense, units: 3, activation: softmax}, to: x}\n"
        "  b: {apply: {type: Dense, units: 5, activation: sigmoid}, to: x}\n"
        "  c: {apply: {type: Dense, units: 1}, to: x}\n"
        "outputs:\n"
        "  ya: {from: a, loss: binary_crossentropy}\n"
        "  yb: {from: b, loss: categorical_crossentropy}\n"
        "  yc: {from: c, loss: binary_crossentropy}\n"
    )
    proc = lint(tmp_path, "s.yaml", text)
    assert proc.returncode == 0  # warnings
    assert proc.stderr.splitlines() == [
        "s.yaml:10:3: warning MS407: `binary_crossentropy` scores each unit as a yes/no "
        "probability of its own, but output 'ya' ends in softmax (`Dense` in step 'a'), whose "
        "units compete and sum to 1",
        "      ya: {from: a, loss: binary_crossentropy}",
        "      ^",
        "    hint: for one class out of several, use categorical_crossentropy (one-hot labels) or "
        "sparse_categorical_crossentropy (integer labels); for several yes/no labels, end with "
        "activation: sigmoid",
        "s.yaml:11:3: warning MS408: `categorical_crossentropy` reads the units of an output as "
        "one distribution that sums to 1, but output 'yb' ends in sigmoid over 5 units (`Dense` "
        "in step 'b'), each a probability of its own",
        "      yb: {from: b, loss: categorical_crossentropy}",
        "      ^",
        "    hint: for one class out of several, end with activation: softmax; for several yes/no "
        "labels, use binary_crossentropy",
        "s.yaml:12:3: warning MS409: `binary_crossentropy` reads probabilities in [0, 1], but "
        "output 'yc' ends without an activation (`Dense` in step 'c'), which gives any value",
        "      yc: {from: c, loss: binary_crossentropy}",
        "      ^",
        "    hint: end it with activation: sigmoid, or keep the values as logits and write loss: "
        "{type: BinaryCrossentropy, from_logits: true}",
        "1 file checked: 0 errors, 3 warnings",
    ]
    strict = subprocess.run(
        [sys.executable, "-m", "modelspec", "lint", "--strict", "s.yaml"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert strict.returncode == 1 and "error MS409" in strict.stderr


def test_the_seed_specs_fit_their_losses(tmp_path: Path):
    proc = lint(tmp_path, "tower.yaml", TOWER)  # softmax into categorical_crossentropy
    assert proc.returncode == 0 and proc.stderr == "1 file checked: clean\n"


@pytest.mark.keras
def test_what_ms407_and_ms409_say_is_what_keras_does(tmp_path: Path):
    """Softmax over one unit is always 1.0; a linear output into binary_crossentropy
    gives values outside [0, 1], which the loss clips."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("keras")
    import modelspec

    head = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [8]}\ngraph:\n"
    (tmp_path / "one.yaml").write_text(
        head + "  h: {apply: {type: Dense, units: 1, activation: softmax}, to: x}\n"
        "outputs:\n  y: {from: h, loss: binary_crossentropy}\ncompile: {optimizer: adam}\n"
    )
    (tmp_path / "linear.yaml").write_text(
        head + "  h: {apply: {type: Dense, units: 4}, to: x}\n"
        "outputs:\n  y: {from: h, loss: binary_crossentropy}\ncompile: {optimizer: adam}\n"
    )
    x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32") * 10
    one = modelspec.build_model(tmp_path / "one.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras itself warns of it, once the model runs
        predicted = one.predict(x, verbose=0)
    assert np.allclose(predicted, 1.0) and np.ptp(predicted) == 0  # 1.0, whatever the input
    linear = modelspec.build_model(tmp_path / "linear.yaml")
    values = linear.predict(x, verbose=0)
    assert values.min() < 0 or values.max() > 1
