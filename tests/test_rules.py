"""One tiny bad spec per diagnostic code, in the style of the ONNX checker's tests.

Every test feeds a few lines of spec to :func:`modelspec.check.check_text` and asserts
the exact code, line and column of the diagnostic, and a fragment of its message
(the rule, then the value). Unless a test says otherwise it also asserts that the
spec has no *other* error: one mistake, one message.

The specs below start with the same four lines (:data:`HEAD`), so the first line of
a test's own text is line 5.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.keras_layers import KERAS_ALIASES, KERAS_LAYERS, NOT_IN_A_MODEL
from modelspec.check import check, check_document, check_text
from modelspec.errors import Diagnostic, ModelspecError, format_all
from modelspec.ir import Call, Input, Layer, Output, Source, Spec, TensorRef
from modelspec.passes.graph import Ref, StackBreak, check_graph, stack_break
from modelspec.passes.result import Result
from modelspec.schema.explain import translate
from modelspec.schema.validate import MAX_SCHEMA_ERRORS
from modelspec.source.loader import loads

ROOT = Path(__file__).parent.parent
HEAD = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [8]}\n"  # lines 1-4


def spec(*lines: str) -> str:
    """HEAD and then ``lines``: the first of them is line 5."""
    return HEAD + "".join(line + "\n" for line in lines)


def lint(text: str) -> Result:
    return check_text(text, "s.yaml")


def expect(
    text: str,
    code: str,
    line: int,
    col: int,
    fragment: str,
    *,
    hint: str | None = None,
    level: str = "error",
    others: tuple[str, ...] = (),
) -> Diagnostic:
    """``text`` reports ``code`` once, at ``line:col``, and no error but ``others``."""
    result = lint(text)
    hits = [d for d in result.diagnostics if d.code == code]
    assert [(d.line, d.col) for d in hits] == [(line, col)], result.diagnostics
    (d,) = hits
    assert fragment in d.message, d.message
    assert d.level == level
    assert d.file == "s.yaml"
    if hint is not None:
        assert d.hint is not None and hint in d.hint, d.hint
    other_errors = sorted(e.code for e in result.errors if e is not d)
    assert other_errors == sorted(others), result.diagnostics
    return d


def codes(result: Result) -> list[tuple[str, int, int]]:
    return [(d.code, d.line, d.col) for d in result.diagnostics]


# === MS0xx: one check that the pipeline stops at a loading error =========================


def test_loading_error_stops_the_pipeline():
    result = lint(spec("sequential:", "  - {type: Dense, units: yes}"))
    assert codes(result) == [("MS011", 6, 26)]
    assert result.spec is None and result.graph is None


# === MS1xx: schema ======================================================================


def test_ms100_a_schema_rule_without_its_own_message():
    # Every rule of today's schema has a dedicated message; MS100 is the fallback
    # that keeps a new keyword from crashing the translation.
    doc = loads("name: abc\n", "s.yaml")[0]
    (error,) = jsonschema.Draft202012Validator(
        {"properties": {"name": {"pattern": "^x"}}}
    ).iter_errors(doc.data)
    (d,) = translate(doc, error, ())
    assert (d.code, d.line, d.col) == ("MS100", 1, 7)
    assert d.message == "`name`: 'abc' does not match '^x'"


def test_ms102_unknown_kwarg_with_did_you_mean():
    text = spec("layers:", "  fc: {type: Dense, units: 4, activaton: relu}", "sequential: [fc]")
    expect(
        text,
        "MS102",
        6,
        31,
        "unknown key 'activaton' in `Dense` 'fc'",
        hint="did you mean 'activation'?",
    )


def test_ms102_unknown_kwarg_of_an_inline_layer():
    text = spec(
        "graph:", "  h: {apply: {type: Dense, unit: 4}, to: x}", "outputs:", "  y: {from: h}"
    )
    d = expect(text, "MS102", 6, 28, "unknown key 'unit' in `Dense`", hint="did you mean 'units'?",
               others=("MS103",))  # fmt: skip
    assert "step 'h'" in d.message


def test_ms102_unknown_top_level_key():
    text = spec("descripton: a model", "sequential:", "  - {type: Dense, units: 4}")
    expect(
        text,
        "MS102",
        5,
        1,
        "unknown key 'descripton' in the spec",
        hint="did you mean 'description'?",
    )


def test_ms102_without_a_close_match_lists_the_allowed_keys():
    text = spec("zzzz: 1", "sequential:", "  - {type: Dense, units: 4}")
    expect(text, "MS102", 5, 1, "unknown key 'zzzz'", hint="allowed keys: 'modelspec', 'name'")


def test_ms102_unknown_kwarg_of_an_optimizer():
    text = spec("sequential:", "  - {type: Dense, units: 4}", "outputs:", "  y: {loss: mse}",
                "compile:", "  optimizer: {type: Adam, learnin_rate: 0.1}")  # fmt: skip
    expect(
        text,
        "MS102",
        10,
        27,
        "unknown key 'learnin_rate' in `Adam`",
        hint="did you mean 'learning_rate'?",
    )


def test_ms103_missing_required_kwarg():
    text = spec("layers:", "  fc: {type: Dense}", "sequential: [fc]")
    expect(text, "MS103", 6, 7, "`Dense` 'fc' is missing the required key 'units'")


def test_ms103_missing_type():
    text = spec("layers:", "  fc: {units: 3}", "sequential: [fc]")
    expect(text, "MS103", 6, 7, "layer 'fc' is missing the required key 'type'")


def test_ms103_missing_top_level_key():
    text = "name: m\ninputs:\n  x: {shape: [3]}\nsequential:\n  - {type: Dense, units: 4}\n"
    expect(text, "MS103", 1, 1, "the spec is missing the required key 'modelspec'")


def test_ms104_float_for_an_int():
    text = spec("sequential:", "  - {type: Dense, units: 2.0}")
    expect(text, "MS104", 6, 26, "`units` must be an integer; got 2.0 (number)", hint="write 2")


def test_ms104_bool_for_an_int():
    text = spec("sequential:", "  - {type: Dense, units: true}")
    expect(
        text,
        "MS104",
        6,
        26,
        "`units` must be an integer; got true (boolean)",
        hint="booleans are not integers",
    )


def test_ms104_spec_is_not_a_mapping():
    expect("- 1\n- 2\n", "MS104", 1, 1, "the spec must be a mapping; got [1, 2] (array)")
    expect("", "MS104", 1, 1, "the spec must be a mapping; got null (null)")


def test_ms104_layer_type_is_not_a_string():
    text = spec("graph:", "  h: {apply: {type: 3}, to: x}", "outputs:", "  y: {from: h}")
    expect(text, "MS104", 6, 21, "layer `type` must be a string; got 3")


def test_ms105_unknown_layer_type_with_did_you_mean():
    text = spec(
        "graph:", "  h: {apply: {type: Dence, units: 4}, to: x}", "outputs:", "  y: {from: h}"
    )
    expect(text, "MS105", 6, 21, "unknown layer type 'Dence' in the layer in graph step 'h'",
           hint="did you mean 'Dense'?")  # fmt: skip


def test_ms105_unknown_layer_type_in_sequential_is_one_error():
    text = spec("sequential:", "  - {type: Dence, units: 4}")
    assert codes(lint(text)) == [("MS105", 6, 12)]


def test_ms105_layer_type_in_the_wrong_case():
    text = spec("layers:", "  fc: {type: dense, units: 4}", "sequential: [fc]")
    expect(
        text,
        "MS105",
        6,
        14,
        "unknown layer type 'dense' in layer 'fc'",
        hint="did you mean 'Dense'?",
    )


def test_ms105_unknown_activation():
    text = spec("sequential:", "  - {type: Dense, units: 4, activation: relux}")
    expect(
        text, "MS105", 6, 41, "unknown value 'relux' for `activation`", hint="did you mean 'relu'?"
    )


def test_ms105_spec_version_2():
    text = "modelspec: 2\nname: m\ninputs:\n  x: {shape: [3]}\nsequential:\n  - {type: Dense, units: 4}\n"
    expect(text, "MS105", 1, 12, "unsupported spec version 2; this modelspec reads version 1",
           hint="write `modelspec: 1`")  # fmt: skip


def test_ms105_unknown_dtype():
    text = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [3], dtype: float33}\nsequential: [{type: Dense, units: 4}]\n"
    expect(
        text, "MS105", 4, 26, "unknown value 'float33' for `dtype`", hint="did you mean 'float32'?"
    )


@pytest.mark.parametrize(
    "dtype, hint",
    [
        ("int", "did you mean 'int32'? Keras names dtypes by their size: 'int' is int32"),
        ("float", "did you mean 'float32'?"),
        ("double", "did you mean 'float64'?"),
        ("long", "did you mean 'int64'?"),
        ("str", "did you mean 'string'?"),
        ("tf.float16", "did you mean 'float16'? A dtype is written by its name alone"),
        ("np.int64", "did you mean 'int64'?"),
        ("Int32", "did you mean 'int32'?"),
    ],
)
def test_ms105_dtype_suggestion_is_the_type_meant(dtype, hint):
    # The closest spelling of `int` is int8; what `int` means is Keras's int32.
    text = spec("  z: {shape: [3], dtype: " + dtype + "}", "graph:",
                "  h: {apply: {type: Dense, units: 4}, to: x}", "outputs:", "  y: {from: h}")  # fmt: skip
    result = lint(text)
    (d,) = [d for d in result.diagnostics if d.code == "MS105"]
    assert (d.line, d.message) == (5, f"unknown value '{dtype}' for `dtype`")
    assert d.hint.startswith(hint), d.hint


@pytest.mark.parametrize(
    "size, hint",
    [
        ("-1", "a size known only when the model runs is null (Keras's None), not -1"),
        ("0", "a size known only when the model runs is null (Keras's None), not 0"),
        ("None", "write null (YAML's word for None), without quotes"),
    ],
)
def test_ms104_an_unknown_size_is_null(size, hint):
    text = f"modelspec: 1\nname: m\ninputs:\n  x: {{shape: [{size}, 8]}}\nsequential: [{{type: Dense, units: 4}}]\n"
    d = expect(text, "MS104", 4, 15, "`shape[0]` must be an integer or null", hint=hint)
    assert d.hint == hint or d.hint.startswith(hint + ";")


def test_ms104_a_negative_number_where_null_is_no_size_gets_no_size_hint():
    # `bias_axes` may be null too, but it is letters, not a size.
    text = spec(
        "sequential:",
        "  - {type: EinsumDense, equation: 'ab,bc->ac', output_shape: 4, bias_axes: -1}",
    )
    (d,) = [d for d in lint(text).diagnostics if d.code == "MS104"]
    assert "`bias_axes` must be" in d.message and d.hint is None


# Keras layers the catalogue leaves out: those that carry code. Lambda and InputLayer
# have messages of their own.
UNSUPPORTED = sorted(
    set(KERAS_LAYERS)
    - set(LAYER_TYPES)
    - set(KERAS_ALIASES)
    - set(NOT_IN_A_MODEL)
    - {"Lambda", "InputLayer"}
)


@pytest.mark.parametrize("name", UNSUPPORTED)
def test_ms105_a_keras_layer_the_catalogue_lacks_is_said_to_be_one(name):
    """The layers of keras.layers that carry code (Lambda, TFSMLayer, ...) are not in the
    catalogue; a spec that names one hears that it is a Keras layer."""
    text = spec("sequential:", f"  - {{type: {name}}}", "  - {type: Dense, units: 4}")
    expect(text, "MS105", 6, 12, f"unsupported layer type '{name}' in the layer in `sequential`: "
           "a Keras layer that modelspec does not support yet",
           hint=f"declare it under `custom:` with class: keras.layers.{name}")  # fmt: skip


def test_ms105_a_keras_alias_names_the_catalogue_class():
    text = spec(
        "sequential:",
        "  - {type: Conv1D, filters: 2, kernel_size: 1}",
        "  - {type: GlobalAvgPool1D}",
    )
    text = text.replace("[8]", "[8, 3]")
    expect(text, "MS105", 7, 12, "unknown layer type 'GlobalAvgPool1D'",
           hint="'GlobalAvgPool1D' is Keras's other name for 'GlobalAveragePooling1D': write "
           "'GlobalAveragePooling1D'")  # fmt: skip


def test_ms105_a_misspelt_keras_layer_is_suggested_as_one():
    text = spec("sequential:", "  - {type: TorchModuleWraper}")
    expect(text, "MS105", 6, 12, "unknown layer type 'TorchModuleWraper'",
           hint="did you mean 'TorchModuleWrapper'? It is a Keras layer that modelspec does not "
           "support yet")  # fmt: skip


@pytest.mark.parametrize(
    "name, message, hint",
    [
        ("InputLayer", "a spec's inputs are not layers", "declare the input under `inputs:`"),
        ("Lambda", "a spec holds no Python code", "declared under `custom:`"),
    ],
)
def test_ms105_keras_layers_a_spec_writes_otherwise(name, message, hint):
    text = spec("sequential:", f"  - {{type: {name}}}")
    expect(text, "MS105", 6, 12, f"unknown layer type '{name}' in the layer in `sequential`: {message}",
           hint=hint)  # fmt: skip


def test_ms105_unknown_loss_metric_and_optimizer_names():
    text = spec(
        "sequential:",
        "  - {type: Dense, units: 4}",
        "outputs:",
        "  y: {loss: mean_squared_eror, metrics: [accurcy]}",
        "compile:",
        "  optimizer: adamm",
    )
    result = lint(text)
    assert codes(result) == [("MS105", 8, 13), ("MS105", 8, 42), ("MS105", 10, 14)]
    loss, metric, optimizer = result.diagnostics
    assert loss.message == "unknown value 'mean_squared_eror' for `loss`"
    assert loss.hint == "did you mean 'mean_squared_error'?"
    assert metric.message == "unknown value 'accurcy' for `metrics[0]`"
    assert metric.hint == "did you mean 'accuracy'?"
    assert optimizer.message == "unknown value 'adamm' for `optimizer`"
    assert optimizer.hint == "did you mean 'adam'?"


def test_ms105_unknown_callback_type():
    text = spec("sequential:", "  - {type: Dense, units: 4}", "outputs:", "  y: {loss: mse}",
                "compile: {optimizer: adam}", "fit: {callbacks: [{type: EarlyStoping}]}")  # fmt: skip
    expect(text, "MS105", 10, 26, "'EarlyStoping'", hint="did you mean 'EarlyStopping'?")


def test_ms105_unknown_optimizer_class_with_did_you_mean():
    text = spec("sequential:", "  - {type: Dense, units: 4}", "outputs:", "  y: {loss: {type: MeanSquaredEror}}",
                "compile:", "  optimizer: {type: Adamm}")  # fmt: skip
    result = lint(text)
    hints = [d.hint for d in result.diagnostics if d.code == "MS105"]
    assert hints == ["did you mean 'MeanSquaredError'?", "did you mean 'Adam'?"]


def test_ms106_out_of_range():
    text = spec("sequential:", "  - {type: Dropout, rate: 1.5}")
    expect(text, "MS106", 6, 27, "`rate` must be < 1; got 1.5")


def test_ms106_below_minimum():
    text = spec("sequential:", "  - {type: Dense, units: 0}")
    expect(text, "MS106", 6, 26, "`units` must be >= 1; got 0")


def test_ms106_too_many_items():
    text = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [8, 8, 3]}\nsequential:\n  - {type: Conv2D, filters: 2, kernel_size: [3, 3, 3]}\n"
    expect(text, "MS106", 6, 45, "`kernel_size` takes at most 2 items; got [3, 3, 3]")


def test_ms106_empty_sequential():
    expect(spec("sequential: []"), "MS106", 5, 13, "`sequential` needs at least 1 item; got []")


def test_ms107_graph_and_sequential_both():
    text = spec("sequential:", "  - {type: Dense, units: 4}", "graph:", "  h: {apply: {type: Dense, units: 4}, to: x}",
                "outputs:", "  y: {from: h}")  # fmt: skip
    expect(text, "MS107", 5, 1, "a spec has either `graph` or `sequential`, not both")


def test_ms107_graph_and_sequential_neither():
    expect(
        HEAD,
        "MS107",
        1,
        1,
        "a spec needs a `graph` or a `sequential` section",
        hint="`sequential:` lists",
    )


def test_ms108_sequential_with_two_inputs():
    text = spec("  z: {shape: [8]}", "sequential:", "  - {type: Dense, units: 4}")
    result = lint(text)
    (d,) = [d for d in result.diagnostics if d.code == "MS108"]
    assert (d.line, d.col, d.message) == (3, 1, "`sequential` takes exactly one input; got 2")
    assert d.hint == "use `graph:` for several inputs"


def test_ms108_sequential_with_two_inputs_is_one_error():
    text = spec("  z: {shape: [8]}", "sequential:", "  - {type: Dense, units: 4}")
    assert [d.code for d in lint(text).errors] == ["MS108"]


def test_ms108_malformed_input_does_not_give_a_contradiction():
    text = "modelspec: 1\nname: m\ninputs:\n  x: 3\nsequential:\n  - {type: Dense, units: 4}\n"
    assert "got 1" not in " ".join(d.message for d in lint(text).diagnostics)


def test_ms108_sequential_without_inputs():
    result = lint("modelspec: 1\nname: m\nsequential:\n  - {type: Dense, units: 4}\n")
    (d,) = [d for d in result.diagnostics if d.code == "MS108"]
    assert (d.line, d.col, d.message) == (3, 1, "`sequential` needs one input under `inputs:`")


def test_ms108_sequential_with_two_outputs():
    text = spec("sequential:", "  - {type: Dense, units: 4}", "outputs:", "  a: {}", "  b: {}")
    expect(
        text,
        "MS108",
        7,
        1,
        "`sequential` has one output; got 2",
        hint="use `graph:` for several outputs",
    )


def test_ms108_sequential_output_from_another_tensor():
    text = spec("sequential:", "  - {type: Dense, units: 4}", "outputs:", "  a: {from: zz}")
    expect(
        text, "MS108", 8, 13, "in `sequential` the output is the last layer 'dense'; got from: 'zz'"
    )


def test_ms109_schema_errors_are_capped():
    n = MAX_SCHEMA_ERRORS + 50
    text = spec(
        "layers:",
        *(f"  l{i}: {{type: Dense, units: 4, bogus: 1}}" for i in range(n)),
        "sequential: [l0]",
    )
    start = time.perf_counter()
    result = lint(text)
    assert time.perf_counter() - start < 5
    schema_errors = [d for d in result.diagnostics if d.code.startswith("MS1")]
    assert [d.code for d in schema_errors].count("MS102") == MAX_SCHEMA_ERRORS
    (d,) = [d for d in result.diagnostics if d.code == "MS109"]
    assert (d.line, d.col, d.message) == (1, 1, f"stopped after {MAX_SCHEMA_ERRORS} schema errors")


# === MS2xx: names and the graph =========================================================


def test_ms201_undefined_tensor_with_did_you_mean():
    text = spec("graph:", "  hidden: {apply: {type: Dense, units: 4}, to: x}",
                "  out: {apply: {type: Dense, units: 4}, to: hiden}", "outputs:", "  y: {from: out}")  # fmt: skip
    expect(
        text,
        "MS201",
        7,
        45,
        "undefined tensor 'hiden' in the input of step 'out'",
        hint="did you mean 'hidden'?",
    )


def test_ms201_undefined_tensor_in_an_output():
    text = spec(
        "graph:", "  h: {apply: {type: Dense, units: 4}, to: x}", "outputs:", "  y: {from: hh}"
    )
    expect(text, "MS201", 8, 13, "undefined tensor 'hh' in output 'y'", hint="did you mean 'h'?")


def test_ms201_layer_used_as_a_tensor():
    text = spec("layers:", "  fc: {type: Dense, units: 4}", "graph:", "  h: {apply: fc, to: fc}",
                "outputs:", "  y: {from: h}")  # fmt: skip
    expect(text, "MS201", 8, 22, "undefined tensor 'fc' in the input of step 'h'",
           hint="'fc' is a layer; `to`/`from` take tensors")  # fmt: skip


def test_ms202_undefined_layer_with_did_you_mean():
    text = spec("layers:", "  dense1: {type: Dense, units: 4}", "graph:", "  h: {apply: dense2, to: x}",
                "outputs:", "  y: {from: h}")  # fmt: skip
    expect(text, "MS202", 8, 14, "undefined layer 'dense2'", hint="did you mean 'dense1'?")


def test_ms202_tensor_used_as_a_layer():
    text = spec("graph:", "  h: {apply: {type: Dense, units: 4}, to: x}", "  g: {apply: h, to: x}",
                "outputs:", "  y: {from: g}")  # fmt: skip
    expect(text, "MS202", 7, 14, "undefined layer 'h'", hint="'h' is a tensor, not a layer")


def test_ms202_malformed_layer_still_counts_as_defined():
    text = spec("layers:", "  fc: 3", "sequential: [fc]")
    assert [d.code for d in lint(text).errors] == ["MS104"]


def test_ms203_layer_named_like_an_input():
    text = spec("layers:", "  x: {type: Dense, units: 4}", "graph:", "  h: {apply: x, to: x}",
                "outputs:", "  y: {from: h}")  # fmt: skip
    expect(text, "MS203", 6, 3, "layer name 'x' is already used by an input", hint="rename one")


def test_ms203_two_inline_layers_with_one_name():
    text = spec("graph:", "  h: {apply: {type: Dense, units: 4, name: fc}, to: x}",
                "  g: {apply: {type: Dense, units: 4, name: fc}, to: h}", "outputs:", "  y: {from: g}")  # fmt: skip
    expect(text, "MS203", 7, 44, "layer name 'fc' is used twice", hint="unique name")


def test_ms203_inline_layer_named_like_a_defined_one():
    text = spec("layers:", "  fc: {type: Dense, units: 4}", "graph:",
                "  h: {apply: [fc, {type: Dense, units: 4, name: fc}], to: x}", "outputs:", "  y: {from: h}")  # fmt: skip
    expect(text, "MS203", 8, 49, "layer name 'fc' is used twice")


def test_ms203_step_named_like_an_input():
    text = spec(
        "graph:", "  x: {apply: {type: Dense, units: 4}, to: x}", "outputs:", "  y: {from: x}"
    )
    # The step is skipped, so its call does not loop onto itself: one error, no cycle.
    d = expect(text, "MS203", 6, 3, "tensor name 'x' is already an input")
    assert d.hint == "each tensor is defined once; rename the step"


def test_ms204_self_loop():
    text = spec(
        "graph:", "  h: {apply: {type: Dense, units: 8}, to: h}", "outputs:", "  y: {from: h}"
    )
    expect(
        text, "MS204", 6, 14, "cycle in the graph: h -> h", hint="break the loop", others=("MS214",)
    )


def test_ms204_three_step_cycle():
    text = spec("graph:", "  a: {apply: {type: Dense, units: 8}, to: c}", "  b: {apply: {type: Dense, units: 8}, to: a}",
                "  c: {apply: {type: Dense, units: 8}, to: b}", "outputs:", "  y: {from: c}")  # fmt: skip
    expect(text, "MS204", 6, 14, "cycle in the graph: a -> b -> c -> a", others=("MS214",))


def test_ms204_cycle_inside_a_chain_names_the_step_once():
    text = spec("graph:", "  h: {apply: [{type: Dense, units: 8}, {type: Dense, units: 8}], to: h}",
                "outputs:", "  y: {from: h}")  # fmt: skip
    expect(text, "MS204", 6, 15, "cycle in the graph: h -> h", others=("MS214",))


def test_ms204_every_cycle_is_reported():
    text = spec("graph:", "  a: {apply: {type: Dense, units: 8}, to: a}", "  b: {apply: {type: Dense, units: 8}, to: b}",
                "  c: {apply: {type: Concatenate}, to: [a, b]}", "outputs:", "  y: {from: c}")  # fmt: skip
    result = lint(text)
    assert [(d.code, d.line) for d in result.errors] == [("MS204", 6), ("MS204", 7), ("MS214", 10)]


def _ring(n: int) -> list[str]:
    """Steps s0 ... s{n-1}, each on the one before, and s0 on the last: one n-step cycle."""
    return [f"  s{i}: {{apply: fc, to: s{(i - 1) % n}}}" for i in range(n)]


def test_a_message_of_words_just_under_the_cut_is_read_in_linear_time():
    """The pattern for overlong words was tried from every character of every word, to
    its end: 256 steps a character for a message of 256-character words."""
    import time

    start = time.process_time()
    d = Diagnostic("error", "MS201", ("w" * 256 + " ") * 20_000, None, "s.yaml", 1, 1)
    assert len(d.message) == 257 * 20_000 and time.process_time() - start < 1.0
    d = Diagnostic("error", "MS201", "a " + "x" * 300 + " b", None, "s.yaml", 1, 1)
    assert d.message == "a " + "x" * 100 + "...(300 characters)..." + "x" * 20 + " b"


def test_ms204_long_cycle_message_is_shortened():
    n = 10_000
    text = spec(
        "layers:",
        "  fc: {type: Dense, units: 8}",
        "graph:",
        *_ring(n),
        "outputs:",
        f"  y: {{from: s{n - 1}}}",
    )
    d = expect(text, "MS204", 8, 15, "cycle in the graph: s0 -> s1 -> s2 -> ... (9995 more) -> s9998 -> s9999 -> s0",
               others=("MS214",))  # fmt: skip
    assert len(d.message) < 120


def test_ms204_cycle_at_the_end_of_a_100000_step_chain():
    """The graph pass is iterative and linear: no RecursionError, a short message."""
    n = 100_000
    src = Source("s.yaml", 1, 1)

    def ref(name: str) -> TensorRef:
        return TensorRef(name, None, src)

    calls = tuple(
        Call(
            "fc",
            (ref("x" if i == 0 else f"s{i - 1}"),),
            f"s{i}",
            f"s{i}",
            Source("s.yaml", 9 + i, 3),
        )
        for i in range(n)
    )
    # The last four steps loop: s{n-4} takes s{n-1} instead of s{n-5}.
    calls = (*calls[: n - 4], Call("fc", (ref(f"s{n - 1}"),), f"s{n - 4}", f"s{n - 4}", calls[n - 4].source),
             *calls[n - 3 :])  # fmt: skip
    ir = Spec(
        name="m",
        file="s.yaml",
        inputs=(Input("x", (4,), "float32", src),),
        layers={"fc": Layer("fc", "Dense", {"units": 4}, src)},
        calls=calls,
        outputs=(Output("y", ref(f"s{n - 1}"), None, None, (), src),),
        steps=tuple(c.step for c in calls),
    )
    start = time.perf_counter()
    facts, diags = check_graph(ir)
    elapsed = time.perf_counter() - start
    cycles = [d for d in diags if d.code == "MS204"]
    assert [(d.line, d.message) for d in cycles] == [
        (n + 5, f"cycle in the graph: s{n - 4} -> s{n - 3} -> s{n - 2} -> s{n - 1} -> s{n - 4}")
    ]
    assert f"s{n - 1}" in facts.broken and "s0" not in facts.broken
    assert elapsed < 60  # about 1 s alone on 2 cores; a quadratic walk would take hours
    # A 100,000-step cycle is shown by its ends.
    ring = tuple(Call("fc", (ref(f"s{(i - 1) % n}"),), f"s{i}", f"s{i}", src) for i in range(n))
    _, diags = check_graph(
        Spec("m", "s.yaml", ir.inputs, ir.layers, ring, ir.outputs, steps=ir.steps)
    )
    (d,) = [d for d in diags if d.code == "MS204"]
    assert (
        d.message
        == f"cycle in the graph: s0 -> s1 -> s2 -> ... ({n - 5} more) -> s{n - 2} -> s{n - 1} -> s0"
    )


def test_ms206_slash_in_a_name():
    text = spec("layers:", "  a/b: {type: Dense, units: 4}", "sequential: [a/b]")
    expect(text, "MS206", 6, 3, "invalid layer name 'a/b': Keras does not allow '/' in names")


@pytest.mark.parametrize(
    "name", ["bad\\x1b[31m name", "two\\nlines", "a##[add-mask]b", "rtl\\u202eeman"]
)
def test_ms206_model_name_that_would_change_a_log(name):
    text = f'modelspec: 1\nname: "{name}"\ninputs:\n  x: {{shape: [4]}}\nsequential: [{{type: Dense, units: 2}}]\n'
    d = expect(
        text, "MS206", 2, 7, "control characters and GitHub workflow markers are not allowed"
    )
    assert "\x1b" not in d.format() and "\n" not in d.message


def test_ms206_model_and_wrapped_layer_names():
    text = """\
modelspec: 1
name: a/b
inputs:
  x: {shape: [4, 3]}
sequential:
  - {type: Bidirectional, layer: {type: LSTM, units: 2, name: %s}}
"""
    expect(text % "lstm", "MS206", 2, 7, "invalid model name 'a/b': Keras does not allow '/'")
    wrapped = (text % '"l/r"').replace("name: a/b", "name: m")
    expect(wrapped, "MS206", 6, 57, "invalid layer name 'l/r': Keras does not allow '/'")


@pytest.mark.parametrize(
    "name, rule",
    [
        (".x", "names use letters, digits, '_', '.' and '-', and do not start with '.' or '-'"),
        ("x[0]", "names use letters, digits"),
        ("a:b", "names use letters, digits"),
        ("x" * 201, "names are at most 200 characters"),
    ],
)
def test_ms206_invalid_input_names(name, rule):
    text = f"modelspec: 1\nname: m\ninputs:\n  '{name}': {{shape: [8]}}\nsequential: [{{type: Dense, units: 4}}]\n"
    d = expect(text, "MS206", 4, 3, "invalid input name")
    assert rule in d.message


def test_ms207_name_inside_layers():
    text = spec("layers:", "  fc: {type: Dense, units: 4, name: other}", "sequential: [fc]")
    expect(text, "MS207", 6, 31, "layer 'fc' has a `name` key; a layer under `layers:` is named by its key",
           hint="remove `name:`")  # fmt: skip


def test_ms208_output_without_from():
    text = spec(
        "graph:", "  h: {apply: {type: Dense, units: 4}, to: x}", "outputs:", "  y: {loss: mse}"
    )
    expect(text, "MS208", 8, 3, "output 'y' needs `from:`, the tensor it returns")


def test_ms208_graph_without_outputs():
    text = spec("graph:", "  h: {apply: {type: Dense, units: 4}, to: x}")
    expect(text, "MS208", 5, 1, "a graph spec needs an `outputs` section", hint="name each output")


def test_ms211_unused_step():
    text = spec("graph:", "  h: {apply: {type: Dense, units: 4}, to: x}", "  extra: {apply: {type: Dense, units: 4}, to: x}",
                "outputs:", "  y: {from: h}")  # fmt: skip
    expect(text, "MS211", 7, 18, "step 'extra' is computed but no output uses it", level="warning",
           hint="return it under `outputs:` or remove it")  # fmt: skip


def test_ms212_unused_input():
    text = spec("  z: {shape: [3]}", "graph:", "  h: {apply: {type: Dense, units: 4}, to: x}",
                "outputs:", "  y: {from: h}")  # fmt: skip
    result = lint(text)
    assert [(d.code, d.line, d.col, d.message) for d in result.warnings] == [
        ("MS212", 5, 3, "input 'z' is never used"),
    ]


def test_ms212_input_that_reaches_no_output():
    text = spec("  z: {shape: [3]}", "graph:", "  h: {apply: {type: Dense, units: 4}, to: x}",
                "  side: {apply: {type: Dense, units: 4}, to: z}", "outputs:", "  y: {from: h}")  # fmt: skip
    d = expect(text, "MS212", 5, 3, "input 'z' does not reach any output", level="warning")
    assert "Keras still expects data for it in fit and predict" in d.hint


def test_ms213_unused_layer():
    text = spec(
        "layers:", "  spare: {type: Dense, units: 4}", "sequential:", "  - {type: Dense, units: 4}"
    )
    expect(text, "MS213", 6, 3, "layer 'spare' is defined but never called", level="warning",
           hint="call it in `graph:` or remove it")  # fmt: skip


def test_ms214_output_cut_off_by_a_cycle():
    text = spec("graph:", "  a: {apply: {type: Dense, units: 8}, to: b}", "  b: {apply: {type: Dense, units: 8}, to: a}",
                "  c: {apply: {type: Dense, units: 8}, to: b}", "outputs:", "  y: {from: c}")  # fmt: skip
    expect(text, "MS214", 10, 3, "output 'y' cannot be computed from the inputs: 'c' depends on the cycle",
           others=("MS204",))  # fmt: skip


# One mistake, one message (NOTE: [unused after an error] in modelspec/passes/graph.py):
# while an output's way back to the inputs meets an error, nothing is "unused".
TOWER = (
    "  z: {shape: [8]}",  # 5: an input
    "layers:",
    "  fc: {type: Dense, units: 4}",  # 7
    "  spare: {type: Dense, units: 4}",  # 8: a layer no step calls
    "graph:",
    "  h: {apply: fc, to: x}",  # 10
    "  g: {apply: {type: Dense, units: 4}, to: z}",  # 11
    "  m: {apply: {type: Add}, to: [h, g]}",  # 12
    "outputs:",
)
UNUSED_SPARE = ("MS213", 8, 3)  # no error can have meant spare: it is still said


@pytest.mark.parametrize(
    "change, errors",
    [
        (("  y: {from: fc}",), [UNUSED_SPARE, ("MS201", 14, 13)]),  # a layer, not a step
        (("  y: {from: mm}",), [UNUSED_SPARE, ("MS201", 14, 13)]),  # an undefined name
        (("  y: {}",), [UNUSED_SPARE, ("MS208", 14, 3)]),  # no `from:` at all
        (("  y: {from: m}", "h", "  h: {apply: fc, to: xx}"), [UNUSED_SPARE, ("MS201", 10, 22)]),
        # An undefined layer may have meant spare, so spare is not said to be unused either.
        (("  y: {from: m}", "h", "  h: {apply: fcc, to: x}"), [("MS202", 10, 14)]),
        (
            ("  y: {from: m}", "g", "  g: {apply: {type: Dense, units: 4}, to: m}"),
            [UNUSED_SPARE, ("MS204", 11, 14), ("MS214", 14, 3)],
        ),  # g's `to:` should have been z
    ],
    ids=["from a layer", "from undefined", "no from", "undefined to", "undefined apply", "cycle"],
)
def test_no_unused_warnings_while_an_outputs_sources_are_unknown(change, errors):
    lines = list(TOWER)
    if len(change) == 3:  # replace a step's line
        at = next(i for i, line in enumerate(lines) if line.startswith(f"  {change[1]}:"))
        lines[at] = change[2]
    result = lint(spec(*lines, change[0]))
    assert codes(result) == errors, result.diagnostics


def test_unused_warnings_come_back_once_the_error_is_fixed():
    result = lint(spec(*TOWER, "  y: {from: h}"))
    assert codes(result) == [("MS212", 5, 3), UNUSED_SPARE, ("MS211", 11, 14), ("MS211", 12, 14)]


def test_an_error_off_the_outputs_way_keeps_the_unused_warnings():
    # `side` reads an undefined name, but no output reads `side`: every output's
    # sources are known, so what they do not use is still said.
    lines = [*TOWER[:5], "  side: {apply: {type: Dense, units: 4}, to: q}", *TOWER[5:]]
    result = lint(spec(*lines, "  y: {from: h}"))
    assert codes(result) == [("MS212", 5, 3), UNUSED_SPARE, ("MS201", 10, 46),
                             ("MS211", 12, 14), ("MS211", 13, 14)]  # fmt: skip


def test_a_layer_named_by_a_broken_step_is_not_unused():
    # `h` names fc, but its chain is cut by a layer that is not a mapping: h makes no
    # calls. fc is not "never called", nor is x "never used": the one message is spare's.
    lines = list(TOWER)
    lines[3] = "  spare: 4"
    lines[5] = "  h: {apply: [fc, spare], to: x}"
    result = lint(spec(*lines, "  y: {from: h}"))
    assert codes(result) == [("MS104", 8, 10)], result.diagnostics


# === MS3xx: shapes ======================================================================

BRANCHES = """\
modelspec: 1
name: branches
inputs:
  a: {shape: [10]}
  b: {shape: [1], dtype: int32}
layers:
  sum: {type: Add}
graph:
  inter: {apply: {type: Dense, units: 128}, to: a}
  far:   {apply: [{type: Embedding, input_dim: 100, output_dim: 64}, {type: Flatten}], to: b}
  merged: {apply: sum, to: [inter, far]}
outputs:
  y: {from: merged}
"""


def test_ms303_merge_mismatch_names_both_sides():
    d = expect(BRANCHES, "MS303", 11, 19, "")
    assert d.message == (
        "`Add` 'sum' needs shapes that are equal or broadcast (size 1) on every axis; "
        "got (None, 128) from 'inter' and (None, 64) from 'far'"
    )
    assert d.hint == "axes are matched from the last; a size-1 axis stretches"


def test_ms303_concatenate_mismatch():
    text = spec("  z: {shape: [4, 2]}", "graph:", "  c: {apply: {type: Concatenate}, to: [x, z]}",
                "outputs:", "  y: {from: c}")  # fmt: skip
    expect(text, "MS303", 7, 14, "`Concatenate` 'concatenate' needs inputs of the same rank; "
           "got (None, 8) from 'x' and (None, 4, 2) from 'z'")  # fmt: skip


def test_ms301_wrong_rank_for_conv2d():
    text = spec("sequential:", "  - {type: Conv2D, filters: 4, kernel_size: 3}")
    expect(text, "MS301", 6, 5, "`Conv2D` 'conv2d' expects input of rank 4 (batch, rows, cols, channels); "
           "got rank 2: (None, 8)")  # fmt: skip


def test_ms302_unknown_size_where_weights_need_one():
    text = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [null]}\nsequential:\n  - {type: Dense, units: 4}\n"
    expect(text, "MS302", 6, 5, "`Dense` 'dense' needs a known size on axis -1 to create its weights; "
           "got (None, None)", hint="give the input a fixed size")  # fmt: skip


def test_ms302_kernel_larger_than_the_input():
    text = (ROOT / "specs" / "seed_002_conv_lstm.yaml").read_text().replace("[30, 2]", "[15, 2]")
    expect(text, "MS302", 15, 5, "`Conv1D` 'conv1d_1'", hint="use padding 'same'")


def test_ms302_bad_input_shape_is_one_set_of_errors():
    text = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [4, 2.5]}\nsequential:\n  - {type: Dense, units: 4}\n"
    assert [d.code for d in lint(text).errors] == ["MS104"]


def test_ms304_kwarg_that_does_not_fit_the_input():
    text = spec("sequential:", "  - {type: Reshape, target_shape: [3, 3]}")
    expect(text, "MS304", 6, 5, "`Reshape` 'reshape' cannot reshape 8 values into (3, 3)")


def test_ms305_two_inputs_to_a_one_input_layer():
    text = spec("  z: {shape: [8]}", "graph:", "  h: {apply: {type: Dense, units: 4}, to: [x, z]}",
                "outputs:", "  y: {from: h}")  # fmt: skip
    expect(
        text,
        "MS305",
        7,
        14,
        "`Dense` 'dense' takes exactly 1 input; got 2",
        hint="only its first layer",
    )


def test_ms305_one_input_to_subtract():
    text = spec("graph:", "  h: {apply: {type: Subtract}, to: x}", "outputs:", "  y: {from: h}")
    expect(text, "MS305", 6, 14, "`Subtract` 'subtract' takes exactly 2 inputs; got 1",
           hint="list the tensors in `to: [a, b]`")  # fmt: skip


LSTM_STATES = """\
modelspec: 1
name: m
inputs:
  x: {shape: [5, 3]}
graph:
  enc: {apply: {type: LSTM, units: 4, return_state: true}, to: x}
"""


def test_ms306_index_picks_one_of_several_outputs():
    result = lint(
        LSTM_STATES
        + "  h: {apply: {type: Dense, units: 2}, to: 'enc[1]'}\noutputs:\n  y: {from: h}\n"
    )
    assert result.diagnostics == []
    assert result.shapes.tensors["enc"] == [(None, 4), (None, 4), (None, 4)]
    assert result.shapes.outputs["y"] == (None, 2)


def test_ms306_several_outputs_without_an_index():
    text = (
        LSTM_STATES + "  h: {apply: {type: Dense, units: 2}, to: enc}\noutputs:\n  y: {from: h}\n"
    )
    expect(text, "MS306", 7, 43, "tensor 'enc' holds 3 tensors; `Dense` 'dense' takes one",
           hint="pick one with 'enc[0]' ... 'enc[2]'")  # fmt: skip


def test_ms306_index_out_of_range():
    text = (
        LSTM_STATES
        + "  h: {apply: {type: Dense, units: 2}, to: 'enc[3]'}\noutputs:\n  y: {from: h}\n"
    )
    expect(text, "MS306", 7, 43, "tensor 'enc' holds 3 tensors; index 3 is out of range")


def test_ms306_index_on_a_single_tensor():
    text = LSTM_STATES + (
        "  h: {apply: {type: Dense, units: 2}, to: 'enc[1]'}\n"
        "  g: {apply: {type: Dense, units: 2}, to: 'h[0]'}\noutputs:\n  y: {from: g}\n"
    )
    expect(text, "MS306", 8, 43, "tensor 'h' is a single tensor; it has no [0]", hint="write 'h'")


def test_ms306_output_of_several_tensors():
    expect(LSTM_STATES + "outputs:\n  y: {from: enc}\n", "MS306", 8, 13, "tensor 'enc' holds 3 tensors; "
           "output 'y' takes one")  # fmt: skip


def test_ms307_shared_layer_on_incompatible_sizes():
    text = spec("  z: {shape: [16]}", "layers:", "  fc: {type: Dense, units: 4}", "graph:", "  a: {apply: fc, to: x}",
                "  b: {apply: fc, to: z}", "  c: {apply: {type: Concatenate}, to: [a, b]}", "outputs:", "  y: {from: c}")  # fmt: skip
    expect(text, "MS307", 10, 14, "shared layer 'fc' is called on (None, 16) here, but on (None, 8) in step 'a' "
           "(line 9); its weights cannot fit both", hint="call it on inputs of the same size")  # fmt: skip


BIG = 10**18  # a dimension that fits int64; two of them multiplied do not


def test_ms308_a_dimension_past_int64_is_an_error_and_nothing_follows_from_it():
    """A 10**72-element Flatten went through, and so did everything computed from it:
    the Dense after it had 2 * 10**72 parameters in the summary."""
    text = (
        f"modelspec: 1\nname: m\ninputs:\n  x: {{shape: [{BIG}, {BIG}, {BIG}, {BIG}]}}\n"
        "sequential: [{type: Flatten}, {type: Dense, units: 2}]\n"
    )
    result = lint(text)
    expect(text, "MS308", 5, 14, "`Flatten` 'flatten' would make a size larger than 2**63 - 1: "
           "Keras keeps sizes in int64", hint="check the input shape")  # fmt: skip
    assert "dense" not in result.shapes.params and result.shapes.outputs == {"dense": None}
    text = spec("sequential: [{type: Dense, units: 9223372036854775808}]")
    expect(text, "MS308", 5, 14, "`Dense` 'dense' gives a dimension of 9,223,372,036,854,775,808 on "
           "axis 1, larger than 2**63 - 1")  # fmt: skip
    text = spec("sequential: [{type: RepeatVector, n: 9223372036854775807}]")  # the largest fits
    assert lint(text).ok


def test_ms308_an_input_dimension_past_int64():
    text = (
        "modelspec: 1\nname: m\ninputs:\n  x: {shape: [9223372036854775808, 2]}\n"
        "sequential: [{type: Flatten}]\n"
    )
    expect(text, "MS308", 4, 3, "input 'x' has a dimension of 9,223,372,036,854,775,808 on axis 1")


def test_ms308_a_long_product_stops_at_int64():
    """The product of 60,000 sizes of 10**18 took seconds; it stops at the third."""
    import time

    target = ", ".join([str(BIG)] * 60_000)
    text = spec(f"sequential: [{{type: Reshape, target_shape: [{target}]}}]")
    start = time.process_time()
    expect(text, "MS308", 5, 14, "`Reshape` 'reshape' would make a size larger than 2**63 - 1")
    assert time.process_time() - start < 2.0


def test_ms315_a_string_into_a_layer_that_computes():
    text = "modelspec: 1\nname: m\ninputs:\n  text: {shape: [], dtype: string}\n"
    expect(text + "sequential: [{type: Dense, units: 2}]\n", "MS315", 5, 14,
           "`Dense` 'dense' cannot take strings; its input 'text' is a string",
           hint="turn strings into numbers first")  # fmt: skip
    # Through a lookup first, it is numbers.
    ok = "sequential: [{type: StringLookup, vocabulary: [a, b], output_mode: one_hot}, " \
         "{type: Dense, units: 2}]\n"  # fmt: skip
    assert lint(text + ok).ok


def test_ms315_numbers_into_a_layer_of_strings():
    expect(spec("sequential: [{type: TextVectorization, vocabulary: [a]}]"), "MS315", 5, 14,
           "`TextVectorization` 'text_vectorization' takes strings; its input 'x' is float32",
           hint="declare the input with `dtype: string`")  # fmt: skip
    text = spec("  n: {shape: [1], dtype: int64}", "graph:",
                "  c: {apply: {type: HashedCrossing, num_bins: 4}, to: [x, n]}",
                "outputs:", "  y: {from: c}")  # fmt: skip
    expect(text, "MS315", 7, 14, "`HashedCrossing` 'hashed_crossing' takes integers or strings; "
           "its input 'x' is float32")  # fmt: skip
    # StringLookup's invert maps indices back to strings.
    inv = "  n: {shape: [1], dtype: int64}\nsequential: [{type: StringLookup, vocabulary: [a], invert: true}]"
    assert lint(HEAD.replace("  x: {shape: [8]}\n", "") + inv + "\n").ok


STRINGS = "modelspec: 1\nname: m\ninputs:\n  text: {shape: [1], dtype: string}\n"


def test_ms316_a_lookup_without_a_vocabulary():
    expect(STRINGS + "sequential: [{type: StringLookup}]\n", "MS316", 5, 14,
           "`StringLookup` 'string_lookup' has no vocabulary, given or learned",
           hint="`vocabulary: adapt`")  # fmt: skip
    expect(spec("sequential: [{type: Discretization, num_bins: 3}]"), "MS316", 5, 14,
           "`Discretization` 'discretization' has `num_bins` but no `bin_boundaries`")  # fmt: skip
    assert lint(STRINGS + "sequential: [{type: StringLookup, vocabulary: adapt}]\n").ok


def test_ms317_learned_state_after_another_layer_or_on_two_tensors():
    text = spec("sequential: [{type: Dense, units: 1}, "
                "{type: Discretization, num_bins: 4, bin_boundaries: adapt}]")  # fmt: skip
    expect(text, "MS317", 5, 39, "`Discretization` 'discretization' learns its `bin_boundaries` "
           "with adapt from the training data of the model input it reads, but it reads 'dense'")  # fmt: skip
    text = spec("  y: {shape: [8]}", "layers:",
                "  d: {type: Discretization, num_bins: 4, bin_boundaries: adapt}", "graph:",
                "  a: {apply: d, to: x}", "  b: {apply: d, to: y}",
                "outputs: {a: {from: a}, b: {from: b}}")  # fmt: skip
    expect(text, "MS317", 10, 14, "but it reads 'x', 'y' (2 calls)")


def test_ms318_an_encoded_output_of_a_learned_vocabulary():
    text = STRINGS + ("sequential: [{type: StringLookup, vocabulary: adapt, output_mode: count},"
                      " {type: Dense, units: 2}]\n")  # fmt: skip
    # One message: the Dense after it is not checked against an unknown size.
    expect(text, "MS318", 5, 14, "`StringLookup` 'string_lookup' gives one value per vocabulary "
           "entry (output_mode 'count')", hint="pad_to_max_tokens")  # fmt: skip
    padded = text.replace("output_mode: count", "output_mode: count, max_tokens: 9, "
                          "pad_to_max_tokens: true")  # fmt: skip
    assert lint(padded).ok


WORDS = "modelspec: 1\nname: m\ninputs:\n  text: {shape: [], dtype: string}\n"


def embedded(lookup: str, input_dim: int, head: str = WORDS) -> str:
    """``lookup`` (an inline layer) into an Embedding of ``input_dim``; line 5."""
    return (
        head
        + f"sequential: [{lookup}, {{type: Embedding, input_dim: {input_dim}, output_dim: 4}}]\n"
    )


TV = "{type: TextVectorization, vocabulary: [good, bad, plot], output_sequence_length: 6}"


def test_ms319_an_embedding_smaller_than_the_text_vectorization_feeding_it():
    d = expect(embedded(TV, 4), "MS319", 5, len(TV) + 16,  # at the Embedding
               "`Embedding` 'embedding' has input_dim 4, but `TextVectorization` "
               "'text_vectorization' gives indices up to 4: an index of 4 or more fails when "
               "the model runs on CPU, and looks up zeros on GPU")  # fmt: skip
    assert d.hint == ("set input_dim to at least 5 (the vocabulary's 3 words plus 2 for "
                      "padding and the unknown word)")  # fmt: skip
    assert lint(embedded(TV, 5)).ok and lint(embedded(TV, 500)).ok


# (lookup kwargs, input dtype, Keras's vocabulary_size(), the hint's parenthesis)
LOOKUPS = [
    ("{type: StringLookup, vocabulary: [a, b, c]}", "string", 4,
     "the vocabulary's 3 tokens plus 1 for an unknown token"),
    ("{type: StringLookup, vocabulary: [a], mask_token: '', num_oov_indices: 2}", "string", 4,
     "the vocabulary's 1 token plus 3 for the mask token and 2 out-of-vocabulary indices"),
    ("{type: StringLookup, vocabulary: [a, b], num_oov_indices: 0}", "string", 2,
     "the vocabulary's 2 tokens"),
    ("{type: IntegerLookup, vocabulary: [3, 12, 24]}", "int64", 4,
     "the vocabulary's 3 values plus 1 for an unknown value"),
    ("{type: IntegerLookup, vocabulary: [3, 12], mask_token: 0}", "int64", 4,
     "the vocabulary's 2 values plus 2 for the mask token and an unknown value"),
    # The special tokens written first, as Keras's get_vocabulary() gives them, count once.
    ("{type: StringLookup, vocabulary: ['[UNK]', a, b]}", "string", 3,
     "the vocabulary's 2 tokens plus 1 for an unknown token"),
    ("{type: TextVectorization, vocabulary: adapt, max_tokens: 100}", "string", 100,
     "`max_tokens`: the vocabulary adapt learns has at most 100 entries, padding and the "
     "unknown word included"),
    ("{type: StringLookup, vocabulary: adapt, max_tokens: 10, num_oov_indices: 0}", "string", 10,
     "`max_tokens`: the vocabulary adapt learns has at most 10 entries"),
]  # fmt: skip


@pytest.mark.parametrize(("lookup", "dtype", "size", "why"), LOOKUPS)
def test_ms319_counts_the_mask_and_oov_indices_as_keras_does(lookup, dtype, size, why):
    shape = "[]" if "TextVectorization" in lookup else "[2]"  # it splits one string
    head = f"modelspec: 1\nname: m\ninputs:\n  v: {{shape: {shape}, dtype: {dtype}}}\n"
    d = expect(embedded(lookup, size - 1, head), "MS319", 5, len(lookup) + 16,
               f"has input_dim {size - 1}, but ")  # fmt: skip
    assert d.hint == f"set input_dim to at least {size} ({why})"
    assert ("may give" in d.message) == ("adapt" in lookup)
    assert lint(embedded(lookup, size, head)).ok


def test_ms319_says_nothing_where_the_indices_are_not_known_or_not_indices():
    for lookup in (
        "{type: TextVectorization, vocabulary: adapt}",  # learned, no bound
        "{type: Hashing, num_bins: 1000}",  # not a lookup
    ):
        assert lint(embedded(lookup, 2)).ok, lookup
    # An encoded output is not indices (and a float into an Embedding is Keras's cast).
    onehot = "{type: StringLookup, vocabulary: [a, b, c], output_mode: one_hot}"
    assert not [d for d in lint(embedded(onehot, 2)).diagnostics if d.code == "MS319"]
    # A vocabulary Keras refuses is one error, MS304, not a second about its size.
    twice = "{type: StringLookup, vocabulary: [a, a]}"
    expect(embedded(twice, 1), "MS304", 5, 14, "repeated")


def test_ms319_follows_indices_through_layers_that_keep_values():
    text = WORDS.replace("shape: []", "shape: [2, 3]") + (
        "layers:\n"
        "  look: {type: StringLookup, vocabulary: [a, b, c]}\n"
        "  flat: {type: Flatten}\n"
        "  twice: {type: RepeatVector, n: 2}\n"
        "  emb: {type: Embedding, input_dim: 3, output_dim: 4}\n"
        "graph:\n"
        "  ids: {apply: [look, flat, twice], to: text}\n"
        "  e: {apply: emb, to: ids}\n"
        "outputs: {y: {from: e}}\n"
    )
    expect(text, "MS319", 12, 14, "`StringLookup` 'look' (through 'flat', 'twice') gives "
           "indices up to 3", hint="at least 4")  # fmt: skip
    # A layer that computes (here a Dense, after a cast) makes other numbers: not checked.
    computed = text.replace("twice: {type: RepeatVector, n: 2}", "twice: {type: Dense, units: 3}")
    assert not [d for d in lint(computed).diagnostics if d.code == "MS319"]


def test_ms319_at_the_call_of_a_shared_embedding_that_a_lookup_feeds():
    text = WORDS + (
        "  ids: {shape: [3], dtype: int32}\n"
        "layers:\n"
        "  look: {type: StringLookup, vocabulary: [a, b, c, d, e, f]}\n"
        "  emb: {type: ReversibleEmbedding, input_dim: 6, output_dim: 4}\n"
        "graph:\n"
        "  raw: {apply: emb, to: ids}\n"
        "  v: {apply: look, to: text}\n"
        "  looked: {apply: emb, to: v}\n"
        "outputs: {a: {from: raw}, b: {from: looked}}\n"
    )
    # The ids from the model input are the user's to keep in range: one message.
    expect(text, "MS319", 12, 19, "`ReversibleEmbedding` 'emb' has input_dim 6, but "
           "`StringLookup` 'look' gives indices up to 6")  # fmt: skip


def test_ms309_parameters_past_int64():
    big = "{type: Embedding, input_dim: 4000000000000000000, output_dim: 4000000000000000000}"
    expect(spec(f"sequential: [{big}]"), "MS309", 5, 14, "`Embedding` 'embedding' has "
           "16,000,000,00...,000,000 (38 digits) parameters, more than 2**63 - 1")  # fmt: skip
    # Each Dense fits; the Dense whose weights take the model past int64 is the error.
    text = spec(f"  z: {{shape: [{BIG}]}}", "graph:",
                *(f"  d{i}: {{apply: {{type: Dense, units: 3}}, to: z}}" for i in range(4)),
                "  c: {apply: {type: Concatenate}, to: [d0, d1, d2, d3]}", "outputs:", "  y: {from: c}")  # fmt: skip
    result = lint(text)
    expect(text, "MS309", 10, 15, "`Dense` 'dense_3' takes the model's parameters to "
           "12,000,000,000,000,000,012, more than 2**63 - 1")  # fmt: skip
    assert result.shapes.params["dense_2"] == (3 * BIG + 3, 0)
    assert "dense_3" not in result.shapes.params


def test_ms309_a_parameter_rule_past_int64():
    kernel = "{type: Conv2D, filters: 2, kernel_size: 3037000500}"  # 3037000500**2 > 2**63
    text = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [3037000500, 3037000500, 1]}\n"
    expect(text + f"sequential: [{kernel}]\n", "MS309", 5, 14,
           "`Conv2D` 'conv2d' would have more than 2**63 - 1 parameters")  # fmt: skip


def test_shape_error_does_not_cascade_downstream():
    # Everything after the bad Conv2D has an unknown shape, silently.
    text = spec("sequential:", "  - {type: Conv2D, filters: 4, kernel_size: 3}", "  - {type: Dense, units: 3}",
                "  - {type: Reshape, target_shape: [7]}")  # fmt: skip
    assert codes(lint(text)) == [("MS301", 6, 5)]


# === MS4xx: training ====================================================================


def test_ms401_output_without_loss_when_compiled():
    text = spec("graph:", "  h: {apply: {type: Dense, units: 4}, to: x}", "outputs:", "  y: {from: h, loss: mse}",
                "  z: {from: h}", "compile: {optimizer: adam}")  # fmt: skip
    expect(text, "MS401", 9, 3, "output 'z' has no loss, but `compile` asks for training",
           hint="or `loss: null` to leave it untrained")  # fmt: skip


def test_ms401_not_without_compile():
    text = spec(
        "graph:", "  h: {apply: {type: Dense, units: 4}, to: x}", "outputs:", "  y: {from: h}"
    )
    assert lint(text).diagnostics == []


def test_ms402_every_loss_is_null():
    text = spec("graph:", "  h: {apply: {type: Dense, units: 4}, to: x}", "outputs:", "  y: {from: h, loss: null}",
                "  z: {from: h, loss: null}", "compile: {optimizer: adam}")  # fmt: skip
    expect(text, "MS402", 8, 3, "every output has `loss: null`; there is nothing to train",
           hint="give at least one output a loss")  # fmt: skip


def test_ms402_not_for_an_invalid_loss():
    text = spec(
        "sequential:",
        "  - {type: Dense, units: 4}",
        "outputs:",
        "  y: {loss: 3}",
        "compile: {optimizer: adam}",
    )
    assert [d.code for d in lint(text).errors] == ["MS104"]


def test_ms403_loss_weight_without_loss():
    text = spec(
        "graph:",
        "  h: {apply: {type: Dense, units: 4}, to: x}",
        "outputs:",
        "  y: {from: h, loss_weight: 0.5}",
    )
    expect(text, "MS403", 8, 3, "output 'y' has a `loss_weight` but no loss", level="warning",
           hint="the weight scales nothing")  # fmt: skip


def test_ms404_frozen_wrapper_still_trains():
    text = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [5, 3]}\nlayers:\n" + (
        "  bi: {type: Bidirectional, layer: {type: LSTM, units: 4}, trainable: false}\nsequential: [bi]\n"
    )
    expect(text, "MS404", 6, 3, "`trainable: false` on `Bidirectional` 'bi' does not freeze it", level="warning",
           hint="set `trainable: false` on the wrapped layer instead")  # fmt: skip


@pytest.mark.parametrize(
    ("callback", "bad"),
    [
        ("{type: CSVLogger, filename: ../../home/u/.bashrc}", "'../../home/u/.bashrc'"),
        ("{type: TensorBoard, log_dir: /var/log/x}", "'/var/log/x'"),
        ("{type: ModelCheckpoint, filepath: '~/m.keras'}", "'~/m.keras'"),
        ("{type: ModelCheckpoint, filepath: 'C:\\m.keras'}", "'C:\\\\m.keras'"),
        ("{type: CSVLogger, filename: 'logs\\..\\..\\x.csv'}", "'logs"),
        ('{type: CSVLogger, filename: "logs/x\\0.csv"}', "'logs/x\\x00.csv'"),
    ],
)
def test_ms405_callback_writes_outside_the_training_folder(callback, bad):
    line = f"fit: {{callbacks: [{callback}]}}"
    col = line.index(": ", line.index("type:") + 6) + 3  # the value of the path kwarg
    text = spec(
        "sequential: [{type: Dense, units: 2}]",
        "outputs: {y: {from: dense, loss: mse}}",
        "compile: {optimizer: adam}",
        line,
    )
    d = expect(text, "MS405", 8, col, "must be a relative path below the folder",
               hint="write a relative path without '..'")  # fmt: skip
    assert bad in d.message


def test_ms405_relative_callback_paths_are_fine():
    text = spec(
        "sequential: [{type: Dense, units: 2}]",
        "outputs: {y: {from: dense, loss: mse}}",
        "compile: {optimizer: adam}",
        "fit: {callbacks: [{type: ModelCheckpoint, filepath: 'ckpt/{epoch}.keras'}, {type: TensorBoard},",
        "  {type: CSVLogger, filename: logs/..hidden/train.csv}]}",
    )
    assert lint(text).diagnostics == []


@pytest.mark.parametrize(
    "path, problem",
    [
        ("{epoch.__class__}.keras", "is not a plain name"),
        ("{epoch[0]}.keras", "is not a plain name"),
        ("{0}.keras", "is not a plain name"),
        ("{}.keras", "an empty placeholder"),
        ("{epoch!r}.keras", "converts its value"),
        ("{epoch:./>9}.keras", "a format other than a plain numeric one"),
        ("{epoch:999999999}.keras", "a format other than a plain numeric one"),
        ("{epoch:{w}}.keras", "a format other than a plain numeric one"),
        ("ckpt/{epoch.keras", "its braces do not parse"),
    ],
)
def test_ms406_checkpoint_placeholders_are_plain(path, problem):
    line = f"fit: {{callbacks: [{{type: ModelCheckpoint, filepath: '{path}'}}]}}"
    text = spec(
        "sequential: [{type: Dense, units: 2}]",
        "outputs: {y: {from: dense, loss: mse}}",
        "compile: {optimizer: adam}",
        line,
    )
    d = expect(text, "MS406", 8, line.index("'") + 1, problem, hint="{epoch:02d}")
    assert repr(path) in d.message


@pytest.mark.parametrize(
    "path, fine",
    [
        ("ckpt/e{epoch:02d}-{val_loss:.4f}.keras", True),
        ("ckpt/{batch}-{accuracy:.2%}.weights.h5", True),
        ("{{literal}}/{epoch}.keras", True),
        ("..{epoch}/m.keras", True),  # a segment '..1', not '..'
        ("{epoch}/../../m.keras", False),  # MS405 on the path the placeholders give
        ("/{epoch}.keras", False),
    ],
)
def test_ms405_checks_the_path_a_checkpoint_formats_to(path, fine):
    text = spec(
        "sequential: [{type: Dense, units: 2}]",
        "outputs: {y: {from: dense, loss: mse}}",
        "compile: {optimizer: adam}",
        f"fit: {{callbacks: [{{type: ModelCheckpoint, filepath: '{path}'}}]}}",
    )
    codes = [d.code for d in lint(text).diagnostics]
    assert codes == ([] if fine else ["MS405"])


@pytest.mark.parametrize("kind", ["[CSVLogger]", "{a: 1}", "7", "null"])
def test_a_callback_type_that_is_not_a_name_is_a_schema_error(kind):
    # Found by test_properties: a list as `type:` crashed the callback path check.
    text = spec(
        "sequential: [{type: Dense, units: 2}]",
        "outputs: {y: {from: dense, loss: mse}}",
        "compile: {optimizer: adam}",
        f"fit: {{callbacks: [{{type: {kind}, filename: x.csv}}]}}",
    )
    codes = {d.code for d in lint(text).diagnostics}
    assert codes and codes <= {"MS104", "MS105", "MS103"}, codes


# MS407-MS409: an output's final activation against its loss (NOTE: [losses and
# activations] in modelspec/passes/training.py).


def loss_spec(head: str, loss: str) -> str:
    """A graph whose step `h` applies ``head`` to x, returned as output y with ``loss``."""
    return spec(
        "graph:", f"  h: {{apply: {head}, to: x}}", "outputs:", f"  y: {{from: h, loss: {loss}}}"
    )


def test_ms407_softmax_into_binary_crossentropy():
    text = loss_spec("{type: Dense, units: 3, activation: softmax}", "binary_crossentropy")
    d = expect(text, "MS407", 8, 3, "`binary_crossentropy` scores each unit as a yes/no probability "
               "of its own, but output 'y' ends in softmax (`Dense` in step 'h'), whose units "
               "compete and sum to 1", level="warning",
               hint="use categorical_crossentropy (one-hot labels) or sparse_categorical_crossentropy")  # fmt: skip
    assert "end with activation: sigmoid" in d.hint


def test_ms407_softmax_over_one_unit():
    text = loss_spec(
        "[{type: Dense, units: 1}, {type: Softmax}]", "{type: BinaryFocalCrossentropy}"
    )
    expect(text, "MS407", 8, 3, "softmax over a single unit is always 1.0, so "
           "`BinaryFocalCrossentropy` cannot train output 'y' (`Softmax` in step 'h')",
           level="warning", hint="end it with activation: sigmoid")  # fmt: skip


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "sparse_categorical_crossentropy",
                                  "{type: CategoricalCrossentropy, from_logits: true}"])  # fmt: skip
def test_ms408_sigmoid_over_several_units_into_a_categorical_loss(loss):
    text = loss_spec("{type: Dense, units: 5, activation: sigmoid}", loss)
    expect(text, "MS408", 8, 3, "reads the units of an output as one distribution that sums to "
           "1, but output 'y' ends in sigmoid over 5 units (`Dense` in step 'h'), each a "
           "probability of its own", level="warning", hint="end with activation: softmax")  # fmt: skip


@pytest.mark.parametrize(
    "head, loss, fragment, hint",
    [
        ("{type: Dense, units: 1}", "binary_crossentropy",
         "output 'y' ends without an activation (`Dense` in step 'h'), which gives any value",
         "end it with activation: sigmoid, or keep the values as logits and write loss: "
         "{type: BinaryCrossentropy, from_logits: true}"),
        ("{type: Dense, units: 4, activation: relu}", "categorical_crossentropy",
         "output 'y' ends in relu (`Dense` in step 'h'), which gives values outside [0, 1]",
         "{type: CategoricalCrossentropy, from_logits: true}"),
        ("[{type: Dense, units: 4}, {type: Activation, activation: tanh}]",
         "sparse_categorical_crossentropy", "output 'y' ends in tanh (`Activation` in step 'h')",
         "{type: SparseCategoricalCrossentropy, from_logits: true}"),
        ("[{type: Dense, units: 4}, {type: LeakyReLU}]", "{type: BinaryCrossentropy}",
         "output 'y' ends in leaky_relu", "{type: BinaryCrossentropy, from_logits: true}"),
    ],
)  # fmt: skip
def test_ms409_an_activation_that_gives_no_probabilities(head, loss, fragment, hint):
    d = expect(loss_spec(head, loss), "MS409", 8, 3, "reads probabilities in [0, 1], but "
               + fragment, level="warning", hint=hint)  # fmt: skip
    assert d.hint.startswith("end it with activation: ")


@pytest.mark.parametrize(
    "head, loss, applied",
    [
        ("{type: Dense, units: 1, activation: sigmoid}", "{type: BinaryCrossentropy, from_logits: true}", "sigmoid"),
        ("[{type: Dense, units: 4}, {type: Softmax}]", "{type: CategoricalCrossentropy, from_logits: true}", "softmax"),
    ],
)  # fmt: skip
def test_ms409_logits_that_are_already_probabilities(head, loss, applied):
    expect(loss_spec(head, loss), "MS409", 8, 3, f"makes `{loss[7:loss.index(',')]}` apply "
           f"{applied} itself, but output 'y' already ends in {applied}", level="warning",
           hint="drop `from_logits: true`")  # fmt: skip


@pytest.mark.parametrize(
    "head, loss",
    [
        ("{type: Dense, units: 4, activation: softmax}", "categorical_crossentropy"),
        ("{type: Dense, units: 4, activation: softmax}", "sparse_categorical_crossentropy"),
        ("{type: Dense, units: 1, activation: sigmoid}", "binary_crossentropy"),
        ("{type: Dense, units: 4, activation: sigmoid}", "binary_crossentropy"),  # multi-label
        ("{type: Dense, units: 4}", "{type: CategoricalCrossentropy, from_logits: true}"),
        ("{type: Dense, units: 1}", "{type: BinaryCrossentropy, from_logits: true}"),
        ("{type: Dense, units: 4, activation: relu}", "mse"),  # not a crossentropy
        # Cannot tell: the values are not the activation's after these layers.
        ("[{type: Dense, units: 4}, {type: Dropout, rate: 0.5}]", "binary_crossentropy"),
        ("[{type: Dense, units: 4, activation: softmax}, {type: Reshape, target_shape: [2, 2]}]",
         "binary_crossentropy"),
        ("{type: LSTM, units: 4}", "binary_crossentropy"),
        ("[{type: Dense, units: 4}, {type: Softmax, axis: 1}]", "binary_crossentropy"),
        ("[{type: Dense, units: 4}, {type: ReLU, max_value: 1.0}]", "binary_crossentropy"),
        # sigmoid over one unit, or several along another axis: no distribution to compare
        ("{type: Dense, units: 1, activation: sigmoid}", "categorical_crossentropy"),
        ("{type: Dense, units: 4, activation: sigmoid}", "{type: CategoricalCrossentropy, axis: 1}"),
    ],
)  # fmt: skip
def test_ms407_ms409_say_nothing_when_loss_and_activation_fit_or_cannot_be_told(head, loss):
    text = loss_spec(head, loss).replace("[8]", "[8, 2]" if "LSTM" in head else "[8]")
    assert [d.code for d in lint(text).diagnostics] == []


def test_ms409_reads_a_named_layer_and_a_time_distributed_one():
    text = spec(
        "  s: {shape: [5, 8]}",
        "layers:",
        "  head: {type: Dense, units: 2}",
        "graph:",
        "  h: {apply: head, to: x}",
        "  t: {apply: {type: TimeDistributed, layer: {type: Dense, units: 3, activation: softmax}}, to: s}",
        "outputs:",
        "  y: {from: h, loss: binary_crossentropy}",
        "  z: {from: t, loss: binary_crossentropy}",
    )
    result = lint(text)
    assert [
        (d.code, d.line, d.message.split(" (")[1].split(")")[0]) for d in result.diagnostics
    ] == [
        ("MS409", 12, "`Dense` 'head'"),
        ("MS407", 13, "`TimeDistributed` in step 't'"),
    ]


def test_ms409_in_a_sequential_spec():
    text = spec("sequential:", "  - {type: Dense, units: 3, activation: relu}", "outputs:",
                "  y: {loss: binary_crossentropy}")  # fmt: skip
    expect(text, "MS409", 8, 3, "ends in relu (the last layer, `Dense`)", level="warning")


def test_layers_whose_output_is_their_activation():
    # A layer joins this list only when its output *is* activation(...): an LSTM's, say,
    # is not, and would give wrong warnings.
    from modelspec.passes.training import ACTIVATED

    assert sorted(ACTIVATED) == [
        "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D", "Conv3DTranspose",
        "Dense", "DepthwiseConv1D", "DepthwiseConv2D", "EinsumDense", "SeparableConv1D",
        "SeparableConv2D",
    ]  # fmt: skip


# === whole specs ========================================================================


def test_many_errors_in_one_run_sorted_by_line():
    text = spec(
        "layers:",
        "  fc: {type: Dense, unitz: 4}",  # 6: never called; unknown key; no units
        "  spare: {type: Dense, units: 4}",  # 7: never called
        "  wide: {type: Dense, units: 16}",
        "  sum: {type: Add}",
        "graph:",
        "  a: {apply: wide, to: x}",
        "  b: {apply: {type: Dense, units: 8}, to: x}",
        "  c: {apply: sum, to: [a, b]}",  # 13: (None, 16) + (None, 8)
        # 14: unknown type. Unused too, but not said while output z's sources are unknown:
        # the undefined 'cc' below may have meant 'd' (NOTE: [unused after an error]).
        "  d: {apply: {type: Dence, units: 2}, to: c}",
        "  e: {apply: {type: Dense, units: 2}, to: cc}",  # 15: undefined tensor
        "outputs:",
        "  y: {from: c, loss: mse}",
        "  z: {from: e}",  # 18: no loss
        "compile: {optimizer: adamm}",  # 19: unknown optimizer
    )
    result = lint(text)
    assert codes(result) == [
        ("MS213", 6, 3),
        ("MS103", 6, 7),
        ("MS102", 6, 21),
        ("MS213", 7, 3),
        ("MS303", 13, 14),
        ("MS105", 14, 21),
        ("MS201", 15, 43),
        ("MS401", 18, 3),
        ("MS105", 19, 22),
    ]
    positions = [(d.line, d.col) for d in result.diagnostics]
    assert positions == sorted(positions)


VALID = sorted((ROOT / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_specs_report_nothing(path):
    result = check(path)
    assert result.diagnostics == []
    assert result.ok and result.spec is not None and result.shapes is not None


def test_valid_json_spec_reports_nothing(tmp_path):
    import json

    data = loads((ROOT / "specs" / "seed_004_branches.yaml").read_text(), "s.yaml")[0].data
    path = tmp_path / "branches.json"
    path.write_text(json.dumps(data, indent=2))
    result = check(path)
    assert result.diagnostics == [] and result.shapes.outputs == {
        "out_a": (None, 64),
        "out_b": (None, 1),
    }


def test_ten_thousand_layer_chain():
    n = 10_000
    text = (
        "modelspec: 1\nname: deep\ninputs:\n  x: {shape: [4]}\nsequential:\n"
        + "  - {type: Dense, units: 4}\n" * n
    )
    result = lint(text)  # a recursive pass would raise RecursionError here
    assert result.diagnostics == []
    assert len(result.spec.layers) == n
    assert list(result.spec.layers)[-1] == f"dense_{n - 1}"
    assert result.shapes.outputs[f"dense_{n - 1}"] == (None, 4)
    assert sum(t for t, _ in result.shapes.params.values()) == n * (4 * 4 + 4)


def test_inline_layer_names_follow_keras():
    text = spec(
        "layers:",
        "  dense_1: {type: Dense, units: 4}",
        "graph:",
        "  a: {apply: [{type: Dense, units: 4}, dense_1, {type: Dense, units: 4},"
        " {type: Dense, units: 4, name: dense_2}, {type: Dense, units: 4}, {type: BatchNormalization},"
        " {type: Conv1DTranspose, filters: 1, kernel_size: 1}], to: x}",
        "outputs:",
        "  y: {from: a}",
    )
    result = lint(text)
    # Keras's to_snake_case, numbered per type in creation order; names the spec
    # already uses (dense_1 under `layers:`, the explicit dense_2) are skipped.
    assert list(result.spec.layers) == [
        "dense_1", "dense", "dense_3", "dense_2", "dense_4", "batch_normalization", "conv1d_transpose",
    ]  # fmt: skip
    assert codes(result) == [("MS301", 8, 167)]  # Conv1DTranspose on rank 2: named in the message
    assert "`Conv1DTranspose` 'conv1d_transpose'" in result.diagnostics[0].message


def test_wrapped_layer_uses_up_its_keras_name():
    # Keras names the LSTM inside Bidirectional "lstm", so the next inline LSTM is "lstm_1".
    text = (
        "modelspec: 1\nname: m\ninputs:\n  x: {shape: [5, 3]}\nsequential:\n"
        "  - {type: Bidirectional, layer: {type: LSTM, units: 4, return_sequences: true}}\n"
        "  - {type: LSTM, units: 4}\n"
    )
    result = lint(text)
    assert result.diagnostics == []
    assert list(result.spec.layers) == ["bidirectional", "lstm_1"]


def test_check_document_and_check_text_agree():
    text = spec("sequential:", "  - {type: Dense, units: 0}")
    assert check_document(loads(text, "s.yaml")[0]).diagnostics == lint(text).diagnostics


def test_ms000_plain_error_message():
    assert [d.code for d in ModelspecError("boom").diagnostics] == ["MS000"]


# === docs/diagnostics.md and the tests cover every code =================================

INTERNAL = {"MS000"}  # ModelspecError(str): an API error, never in a lint report


def _source_codes() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "modelspec").rglob("*.py"):
        found |= set(re.findall(r"\bMS\d{3}\b", path.read_text(encoding="utf-8")))
    return found


def test_every_code_is_documented():
    doc = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    headed = set(re.findall(r"^#{2,4} .*?\b(MS\d{3})\b", doc, flags=re.M))
    missing = sorted(_source_codes() - INTERNAL - headed)
    assert not missing, f"codes without a section in docs/diagnostics.md: {missing}"
    stale = sorted(headed - _source_codes())
    assert not stale, f"docs/diagnostics.md documents codes the source no longer has: {stale}"


def test_every_code_is_tested():
    asserted: set[str] = set()
    for path in Path(__file__).parent.rglob("*.py"):
        # A quoted code is one a test compares against, not a mention in prose.
        asserted |= set(re.findall(r"[\"'](MS\d{3})[\"']", path.read_text(encoding="utf-8")))
    missing = sorted(_source_codes() - INTERNAL - asserted)
    assert not missing, f"codes no test asserts: {missing}"


def _doc_sections() -> dict[str, str]:
    doc = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
    parts = re.split(r"^### (MS\d{3})\b.*$", doc, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_docs_examples_give_the_output_shown():
    """Each section's first YAML/JSON example, linted, prints what its text block says."""
    checked = 0
    for code, section in _doc_sections().items():
        example = re.search(r"^```(yaml|json)\n(.*?)^```", section, flags=re.M | re.S)
        if example is None:
            continue  # loading errors that text cannot show (sizes, bytes), internal codes
        shown = re.search(r"^```text\n(.*?)^```", section[example.end() :], flags=re.M | re.S)
        assert shown, f"{code}: an example without its output"
        file = f"s.{example[1]}"
        result = check_text(example[2], file)
        printed = [format_all([d]) for d in result.diagnostics]
        assert shown[1].rstrip("\n") in printed, (
            f"{code}: the docs show\n{shown[1]}\nlint prints\n" + "\n".join(printed)
        )
        assert shown[1].split(": ")[1].split()[-1] == code
        checked += 1
    assert checked >= 35


def test_ms103_wrapped_layer_without_type():
    # Found by the fast-accept property test: the jsonschema path missed this one.
    text = spec("layers:", "  td: {type: TimeDistributed, layer: {units: 3}}", "graph:",
                "  y: {apply: td, to: x}", "outputs:", "  y: {from: y}")  # fmt: skip
    expect(text, "MS103", 6, 38, "the `layer` of layer 'td' is missing the required key 'type'")


# What breaks a plain stack (the plan's Sequential form and a nested model's): one rule,
# stack_break, which both ask and each words in its own way.
@pytest.mark.parametrize(
    "inputs, calls, outputs, expected",
    [
        (["x"], [("a", [("x", None)], "a", 1)], [("a", None)], None),
        (["x", "y"], [], [("x", None)], StackBreak("inputs", 2)),
        (["x"], [], [("x", None), ("x", None)], StackBreak("outputs", 2)),
        (["x"], [("a", [("x", None)], "a", 1), ("a", [("a", None)], "a2", 1)], [("a2", None)],
         StackBreak("shared", 2, 0)),
        (["x"], [("a", [("x", None), ("x", None)], "a", 1)], [("a", None)], StackBreak("fan_in", 2, 0)),
        (["x"], [("a", [("x", None)], "a", 2), ("b", [("a", 1)], "b", 1)], [("b", None)],
         StackBreak("several", 2, 0)),
        (["x"], [("a", [("x", None)], "a", 1), ("b", [("a", 0)], "b", 1)], [("b", None)],
         StackBreak("index", at=1)),
        (["x"], [("a", [("x", None)], "a", 1), ("b", [("x", None)], "b", 1)], [("b", None)],
         StackBreak("fork", at=1)),
        (["x"], [("a", [("x", None)], "a", 1)], [("x", None)], StackBreak("output")),
        (["x"], [("a", [("x", None)], "a", 1)], [None], StackBreak("output")),
        (["x"], [("a", [("x", None)], "a", 1, 1)], [("a", None)], StackBreak("arguments", 1, 0)),
        (["x"], [("a", [("x", None)], "a", 1), ("sum", [("a", None)], "s", 1, 0, True)],
         [("s", None)], StackBreak("op", at=1)),
    ],
)  # fmt: skip
def test_stack_break_names_the_first_thing_a_sequential_model_cannot_hold(inputs, calls, outputs, expected):  # fmt: skip
    calls = [
        (layer, [Ref(*r) for r in reads], out, n, *args) for layer, reads, out, n, *args in calls
    ]
    calls = [(*c, 0, False)[:6] if len(c) < 6 else c for c in calls]
    outputs = [None if o is None else Ref(*o) for o in outputs]
    counts = Counter(layer for layer, *_ in calls)
    assert stack_break(inputs, calls, outputs, counts) == expected


def test_stack_break_reads_the_calls_only_up_to_the_first_break():
    read = []

    def calls():
        for layer in ("a", "b", "c"):
            read.append(layer)
            yield (layer, [Ref("x", None)], layer, 1, 0, False)

    assert stack_break(["x"], calls(), [Ref("c", None)], {"a": 1, "b": 1, "c": 1}) == StackBreak("fork", at=1)  # fmt: skip
    assert read == ["a", "b"]
