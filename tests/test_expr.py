"""The expression language (``modelspec/compose/``: ``lexer``, ``expr``, ``evaluate``,
``template``, ``locate``): values, operators, errors and where they point, limits,
templates, and where an error lands in the spec file.

The property tests use Python's ``eval`` as the oracle, on texts they generate from
trees of small numbers only: the evaluator must agree with Python wherever the two
languages mean the same thing. Hostile texts are evaluated under an audit hook that
must see no import, no code object and no file.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelspec.compose import limits, template, values
from modelspec.compose.errors import ExprError
from modelspec.compose.expr import evaluate, parse
from modelspec.compose.limits import (
    MAX_DEPTH,
    MAX_EXPR_CHARS,
    MAX_INT,
    MAX_LIST_SIZE,
    MAX_STRING_CHARS,
)
from modelspec.compose.locate import locate
from modelspec.compose.template import references, render, substitute
from modelspec.source.loader import loads

ENV = {
    "width": 32,
    "depth": 3,
    "rate": 0.5,
    "name": "tower",
    "flag": True,
    "nothing": None,
    "sizes": [16, 32, 64],
    "cfg": {"units": 8, "act": "relu"},
}


def err(text: str, env: dict[str, Any] | None = None) -> ExprError:
    with pytest.raises(ExprError) as info:
        evaluate(text, ENV if env is None else env)
    return info.value


# --- values and operators -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42), ("1.5", 1.5), (".5", 0.5), ("2.", 2.0), ("1e3", 1000.0), ("2.5E-1", 0.25),
        ("'it'", "it"), ('"it"', "it"), (r"'a\'b\"c\\d\n\t\r'", "a'b\"c\\d\n\t\r"),
        ("true", True), ("false", False), ("null", None), ("[]", []), ("[1, 'a', [null]]", [1, "a", [None]]),
        ("[1, 2,]", [1, 2]), ("width", 32), ("cfg", {"units": 8, "act": "relu"}),
        # arithmetic, as Python
        ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("7 - 2 - 1", 4), ("7 / 2", 3.5), ("6 / 3", 2.0),
        ("7 // 2", 3), ("-7 // 2", -4), ("7 % 3", 1), ("-7 % 3", 2), ("7 % -3", -2),
        ("7.5 // 2", 3.0), ("7.5 % 2", 1.5), ("width * 2 + 1", 65), ("rate * width", 16.0),
        ("-width", -32), ("+width", 32), ("- -1", 1), ("-2 * 3", -6), ("2 - -2", 4),
        # strings and lists
        ("name + '_1'", "tower_1"), ("'ab' * 3", "ababab"), ("3 * 'ab'", "ababab"),
        ("'ab' * 0", ""), ("'ab' * -2", ""), ("sizes + [128]", [16, 32, 64, 128]),
        ("[0] * 3", [0, 0, 0]), ("2 * [1, 2]", [1, 2, 1, 2]), ("[] * 1000000000000", []),
        # indexing
        ("sizes[0]", 16), ("sizes[-1]", 64), ("name[0]", "t"), ("cfg['units']", 8),
        ("[[1, 2], [3]][0][1]", 2), ("sizes[depth - 2]", 32),
        # comparisons
        ("1 < 2", True), ("2 <= 2", True), ("3 > 4", False), ("3 >= 4", False),
        ("1 == 1.0", True), ("1 != 2", True), ("'a' < 'b'", True), ("name == 'tower'", True),
        ("[1, 2] == [1, 2]", True), ("[1, true] == [1, 1]", False), ("[1] == ['1']", False),
        ("cfg == cfg", True), ("cfg['units'] == 8", True),
        ("null == null", True), ("nothing == null", True), ("width == null", False),
        ("null != 'x'", True), ("true == true", True),
        # logic
        ("not flag", False), ("true and false", False), ("false or true", True),
        ("flag and width > 8", True), ("not width == 32", False),
        ("false and sizes[99] == 0", False), ("true or 1 // 0 == 0", True),
        ("1 if flag else 2", 1), ("1 if not flag else 2", 2),
        ("'a' if false else 'b' if false else 'c'", "c"),
        ("1 + 2 if true else 3", 3),
    ],
)  # fmt: skip
def test_values_and_operators(text, value):
    result = evaluate(text, ENV)
    assert result == value and type(result) is type(value)


def test_results_are_fresh_copies():
    env = {"xs": [[1], [2]]}
    out = evaluate("xs", env)
    out[0].append(9)
    assert env["xs"] == [[1], [2]]


def test_names_of_an_expression():
    assert parse("a + b[c] if d else [e, not f]").names == {"a", "b", "c", "d", "e", "f"}
    assert parse("1 + 2").names == frozenset()


# --- errors: message, hint, column ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        # parsing
        ("", 0, "the expression is empty"),
        ("   ", 3, "the expression is empty"),
        ("1 +", 3, "the expression ends too early"),
        ("(1 + 2", 6, "expected `)`, found the end of the expression"),
        ("[1, 2", 5, "expected `,` or `]`"),
        ("1 2", 2, "expected an operator, found the number 2"),
        ("width width", 6, "expected an operator, found the name 'width'"),
        (")", 0, "unexpected `)`"),
        ("* 2", 0, "unexpected `*`"),
        ("'abc", 0, "the string is never closed"),
        ("1 + 'ab\\", 4, "the string is never closed"),
        (r"'a\qb'", 2, r"unknown escape \q"),
        ("012", 0, "an integer cannot start with 0"),
        ("1e", 1, "a number's exponent needs digits"),
        ("2x", 1, "unexpected 'x' after a number"),
        ("1.2.3", 3, "unexpected '.' after a number"),
        ("2 ** 8", 2, "`**` (power) is not supported"),
        ("width = 2", 6, "`=` is not an operator"),
        ("a && b", 2, "`&&` is not an operator"),
        ("!flag", 0, "`!` is not an operator"),
        ("cfg.units", 3, "attributes are not supported"),
        ("{'a': 1}", 0, "mappings cannot be written"),
        ("1 ? 2 : 3", 2, "`?` is not an operator"),
        ("a @ b", 2, "unexpected character '@'"),
        ("largeur é", 8, "unexpected character 'é'"),
        ("1 < 2 < 3", 6, "comparisons do not chain"),
        ("1 == 1 == true", 7, "comparisons do not chain"),
        ("1 if true", 9, "expected `else`"),
        ("max(1, 2)", 3, "expected an operator, found `(`"),
        ("9223372036854775808", 0, "the integer 9223372036854775808 is out of range"),
        ("1e999", 0, "the number 1e999 is too large for a float"),
        # evaluation
        ("wdth * 2", 0, "unknown name 'wdth'"),
        ("1 + True", 4, "unknown name 'True'"),
        ("true + 1", 5, "`+` cannot combine bool true and int 1"),
        ("1 - flag", 2, "`-` cannot combine int 1 and bool true"),
        ("-flag", 0, "unary `-` needs a number, not bool true"),
        ("name + 1", 5, "`+` cannot combine string \"tower\" and int 1"),
        ("sizes + 1", 6, "`+` cannot combine list of 3 items and int 1"),
        ("nothing * 2", 8, "`*` cannot combine null and int 2"),
        ("'ab' * 1.5", 5, "`*` repeats a string by an int, not float 1.5"),
        ("[1] * true", 4, "`*` repeats a list by an int, not bool true"),
        ("10 // 0", 3, "integer division by zero"),
        ("10 % 0", 3, "modulo by zero"),
        ("1 / 0", 2, "division by zero"),
        ("1.5 // 0.0", 4, "integer division by zero"),
        ("1 + 2 + 3 // (2 - 2)", 10, "integer division by zero"),
        ("width == '32'", 6, "`==` compares values of one type, not int 32 and string \"32\""),
        ("flag != 1", 5, "`!=` compares values of one type"),
        ("'a' < 1", 4, "`<` orders two numbers or two strings"),
        ("[1] < [2]", 4, "`<` orders two numbers or two strings"),
        ("true >= false", 5, "`>=` orders two numbers or two strings"),
        ("not width", 0, "`not` needs true or false, not int 32"),
        ("flag and 1", 5, "`and` needs true or false, not int 1"),
        ("0 or flag", 2, "`or` needs true or false, not int 0"),
        ("1 if name else 2", 2, "`if` needs true or false"),
        ("sizes[3]", 5, "index 3 is out of range for a list of 3 items"),
        ("sizes[-4]", 5, "index -4 is out of range"),
        ("sizes['a']", 5, "a list is indexed by an int, not string \"a\""),
        ("sizes[true]", 5, "a list is indexed by an int, not bool true"),
        ("cfg['unit']", 3, "no key \"unit\" in the mapping"),
        ("cfg[0]", 3, "a mapping is indexed by a string, not int 0"),
        ("width[0]", 5, "cannot index int 32"),
        ("9223372036854775807 + 1", 20, "the integer result 9223372036854775808 is out of range"),
        ("-9223372036854775807 - 2", 21, "is out of range"),
        ("3037000500 * 3037000500", 11, "is out of range"),
        ("1e308 * 10", 6, "the float result is too large"),
    ],
)  # fmt: skip
def test_errors_say_what_and_where(text, column, message):
    e = err(text)
    assert message in e.message
    assert (e.column, e.offset, e.expression, e.text) == (column, column, text, text)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("wdth", "did you mean 'width'?"),
        ("True", "write `true`"),
        ("None", "write `null`"),
        ("cfg['unit']", "did you mean 'units'?"),
        ("2 ** 3", "write the product out, e.g. `x * x`"),
        ("a = 1", "compare with `==`"),
        ("max(1)", "there are no function calls"),
        ("1 2", "an operator is missing"),
        ("true + 1", "booleans are not numbers; write `1 if flag else 0`"),
        ("'fc_' + 1", 'to build text, write the string around the value: "fc_${i}"'),
        ("1 < 2 < 3", "write `a < b and b < c`"),
        ("sizes[5]", "indexes run from 0 to 2, or -1 down to -3"),
        ("012", "write it without leading zeros (YAML 1.1 read 012 as octal; this is decimal)"),
        ("width and flag", 'compare explicitly, e.g. `n > 0` or `name != ""`'),
    ],
)  # fmt: skip
def test_hints(text, hint):
    assert err(text).hint == hint


def test_error_format_shows_a_caret():
    e = err("width * wdth")
    assert e.format().split("\n") == [
        "unknown name 'wdth'",
        "    width * wdth",
        "            ^",
        "    hint: did you mean 'width'?",
    ]
    assert str(e) == "unknown name 'wdth' (at column 9)"


def test_env_values_must_be_plain():
    e = err("s + 1", {"s": {1, 2}})
    assert e.message == "'s' holds a set, which expressions cannot use"


def test_tuples_count_as_lists():
    assert evaluate("t + [3]", {"t": (1, 2)}) == [1, 2, 3]


# --- limits -----------------------------------------------------------------------------------


def test_expression_length_limit():
    text = "1" + " + 1" * ((MAX_EXPR_CHARS - 1) // 4)
    assert len(text) <= MAX_EXPR_CHARS and evaluate(text, {}) == text.count("1")
    long = "1" + " " * MAX_EXPR_CHARS
    e = err(long)
    assert (e.column, e.message) == (
        MAX_EXPR_CHARS,
        "the expression is longer than 1,000 characters",
    )


def test_depth_limit():
    for make in (
        lambda n: "(" * (n - 1) + "1" + ")" * (n - 1),
        lambda n: "-" * (n - 1) + "1",
        lambda n: "not " * (n - 1) + "true",
        lambda n: "[" * (n - 1) + "1" + "]" * (n - 1),
        lambda n: "1 if true else " * (n - 1) + "1",
    ):
        evaluate(make(MAX_DEPTH), {})
        e = err(make(MAX_DEPTH + 1), {})
        assert e.message == f"the expression nests deeper than {MAX_DEPTH} levels"


def test_wide_expressions_are_not_deep():
    # A long sum is one chain and a long index a loop: neither counts as nesting, and
    # neither recurses once per operator.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(300)
    try:
        assert evaluate("+".join(["1"] * 450), {}) == 450
        assert evaluate(" and ".join(["t"] * 150), {"t": True}) is True
        nested: Any = 7
        for _ in range(60):
            nested = [nested]
        assert evaluate("x" + "[0]" * 60, {"x": nested}) == 7
        assert evaluate("(" * 63 + "1" + ")" * 63, {}) == 1
    finally:
        sys.setrecursionlimit(limit)


def test_integer_limits():
    assert evaluate(str(MAX_INT), {}) == MAX_INT
    assert evaluate(f"-{MAX_INT}", {}) == -MAX_INT
    assert evaluate("3037000499 * 3037000499", {}) == 3037000499**2
    # A chain of products stops at the first one out of range.
    e = err(" * ".join(["1000"] * 10), {})
    assert e.message.startswith("the integer result 1000000000000000000000 ")
    assert e.column == len("1000 * ") * 5 + 5  # the sixth `*`: 1000**7 > 2**63
    assert e.hint == "ints are limited to +-9,223,372,036,854,775,807 (2**63 - 1)"


def test_string_and_list_limits():
    assert len(evaluate(f"'a' * {MAX_STRING_CHARS}", {})) == MAX_STRING_CHARS
    assert "100,001 characters" in err(f"'a' * {MAX_STRING_CHARS + 1}").message
    assert "more than the limit" in err("'ab' * 9223372036854775807").message
    big = "x" * MAX_STRING_CHARS
    assert err("s + 'y'", {"s": big}).column == 2
    assert len(evaluate(f"[0] * {MAX_LIST_SIZE - 1}", {})) == MAX_LIST_SIZE - 1
    assert "larger than the limit" in err(f"[0] * {MAX_LIST_SIZE}").message
    assert "larger than the limit" in err("[[1, 2, 3]] * 30000").message  # counted through
    assert "larger than the limit" in err("[s, s] * 1", {"s": big}).message
    assert "larger than the limit" in err("xs + xs", {"xs": [0] * 60000}).message
    assert "larger than the limit" in err("[0] * 9223372036854775807").message


# --- one budget for a whole spec ------------------------------------------------------------


def test_a_budget_is_shared_by_every_evaluation_it_is_given(monkeypatch):
    """Each expression is small; what they make together is counted once for the spec."""
    monkeypatch.setattr(limits, "MAX_TOTAL_SIZE", 1_000)
    budget = limits.Budget()  # the limits are read here
    env = {"xs": list(range(50))}
    for _ in range(15):  # 50 numbers and the list itself, copied: 58 each
        assert render("${xs}", env, budget) == env["xs"]
    with pytest.raises(ExprError) as caught:
        for _ in range(10):
            substitute({"copy": "${xs}"}, env, where=("vars", "big"), budget=budget)
    e = caught.value
    assert (e.code, e.offset, e.path) == ("MS728", 2, ("vars", "big", "copy"))
    assert "make values of more than 1,000 in all" in e.message
    assert render("${xs}", env) == env["xs"]  # a fresh budget for a call without one


def test_what_counts_against_the_budget():
    def spent(text: str, env: dict[str, Any]) -> int:
        budget = limits.Budget()
        render(text, env, budget)
        return limits.MAX_TOTAL_SIZE - budget.size

    c = limits.CONTAINER_SIZE
    assert spent("${n}", {"n": 3}) == 1
    assert spent("${s}", {"s": "abcd"}) == 5  # the value, and its characters
    assert spent("${xs}", {"xs": [1, "ab", [], {"k": 2}]}) == c + 4 + 2 + (c - 1) + (c - 1) + 1
    assert spent("${[1, 2]}", {}) == 2 + (c + 2)  # made, then copied
    assert spent("${'ab' + 'cd'}", {}) == 4 + 5
    assert spent("n=${xs}", {"xs": [1, 2]}) == len("[1, 2]")  # written into the text


def test_steps_count_evaluation_and_walks(monkeypatch):
    monkeypatch.setattr(limits, "MAX_STEPS", 1_000)
    budget = limits.Budget()
    assert render("${1 + 2 + 3}", {}, budget) == 6
    assert limits.MAX_STEPS - budget.steps == 4  # the chain and its three numbers
    big = {"xs": list(range(300))}
    with pytest.raises(ExprError) as caught:
        for _ in range(10):  # each comparison walks both lists
            render("${1 if xs == xs else 2}", big, budget)
    e = caught.value
    assert e.code == "MS729" and "take more than 1,000 steps to evaluate in all" in e.message
    assert e.offset == len("${1 if xs ") and e.hint.startswith("large values are compared")


def test_lists_compare_as_before_fast_or_not():
    budget = limits.Budget()
    assert render("${[1, 2.0, null, 'a'] == [1.0, 2, null, 'a']}", {}, budget) is True
    assert render("${[1] == ['1']}", {}, budget) is False
    assert render("${[true] == [1]}", {}, budget) is False  # a bool is never a number
    assert render("${[[1], 2] == [[1.0], 2]}", {}, budget) is True
    assert render("${xs != ys}", {"xs": [0] * 5000, "ys": [0] * 4999 + [1]}, budget) is True


def test_values_nest_no_deeper_than_the_limit():
    deep: Any = 1
    for _ in range(MAX_DEPTH):  # 64 lists, one in the other
        deep = [deep]
    assert render("${v}", {"v": deep}) == deep
    e = err("[v]", {"v": deep})
    assert (e.code, e.message) == ("MS702", f"the value nests deeper than {MAX_DEPTH} levels")


def test_a_template_that_does_not_parse_fails_again_without_parsing_again():
    budget = limits.Budget()
    for _ in range(3):
        with pytest.raises(ExprError) as caught:
            render("a ${1 +} b", {}, budget)
        assert (caught.value.message, caught.value.offset) == ("the expression ends too early", 7)
    assert list(budget.templates) == ["a ${1 +} b"]


# --- templates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("${width * 2}", 64), ("${ width }", 32), ("${rate}", 0.5), ("${flag}", True),
        ("${nothing}", None), ("${sizes}", [16, 32, 64]), ("${name}", "tower"),
        ("${'${'}", "${"), ("${'}'}", "}"),
        ("fc_${depth}", "fc_3"), ("${name}_${depth}", "tower_3"), (" ${depth}", " 3"),
        ("${depth}${depth}", "33"), ("r=${rate} f=${flag} n=${nothing}", "r=0.5 f=true n=null"),
        ("${sizes} ${cfg}", '[16, 32, 64] {"units": 8, "act": "relu"}'),
        ("${['a\"b', 1.0]}!", '["a\\"b", 1.0]!'),
        ("$${width}", "${width}"), ("$${width} ${width}", "${width} 32"),
        ("$$${width}", "$${width}"), ("cost: $5 ${depth}", "cost: $5 3"),
        ("plain", "plain"), ("$", "$"), ("$ {x}", "$ {x}"), ("${width}}", "32}"),
    ],
)  # fmt: skip
def test_templates(text, value):
    result = render(text, ENV)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    ("text", "offset", "column", "message"),
    [
        ("${", 0, 0, "`${` is never closed"),
        ("abc ${width", 4, 0, "`${` is never closed"),
        ("abc ${}", 6, 0, "the expression is empty"),
        ("fc_${wdth}", 5, 0, "unknown name 'wdth'"),
        ("a ${1} b ${width // 0}", 17, 6, "integer division by zero"),
        ("x ${'}", 4, 0, "the string is never closed"),
        ("${${x}}", 2, 0, "`${` does not nest"),
        ("${1 + }", 6, 4, "the expression ends too early"),
        ("${1 2}", 4, 2, "expected an operator"),
    ],
)  # fmt: skip
def test_template_errors_point_into_the_string(text, offset, column, message):
    with pytest.raises(ExprError) as info:
        render(text, ENV)
    e = info.value
    assert message in e.message and (e.offset, e.column, e.text) == (offset, column, text)


def test_template_length_limit():
    with pytest.raises(ExprError) as info:
        render("ab ${s}${s}", {"s": "x" * 60_000})
    assert info.value.offset == 9 and "longer than the limit" in info.value.message


def test_a_long_template_expression_is_cut_off():
    text = "${" + "1 + " * 400 + "1}"
    with pytest.raises(ExprError) as info:
        render(text, {})
    assert info.value.message == "the expression is longer than 1,000 characters"
    assert info.value.offset == 2 + MAX_EXPR_CHARS
    with pytest.raises(ExprError) as info:
        render("${" + "9" * 5000 + "}", {})  # int() would refuse 5,000 digits
    assert info.value.message == "the expression is longer than 1,000 characters"


def test_substitute_walks_plain_data_and_keeps_keys():
    doc = {
        "units": "${width * 2}",
        "name": "fc_${depth}",
        "${width}": ["${sizes[0]}", 3, {"deep": "${flag}"}],
        "n": 1.5,
        "none": None,
    }
    out = substitute(doc, ENV, where=("layers", "fc"))
    assert out == {
        "units": 64,
        "name": "fc_3",
        "${width}": [16, 3, {"deep": True}],
        "n": 1.5,
        "none": None,
    }
    assert doc["units"] == "${width * 2}"  # the input is left alone


def test_substitute_errors_carry_the_json_path():
    doc = {"a": [1, {"b": "x ${wdth}"}]}
    with pytest.raises(ExprError) as info:
        substitute(doc, ENV, where=("layers", "fc"))
    e = info.value
    assert e.path == ("layers", "fc", "a", 1, "b")
    assert (e.offset, e.column, e.hint) == (4, 0, "did you mean 'width'?")


def test_references():
    doc = {"a": "${x + y}", "b": ["k_${z}", "$${not_a_name}"], "c": 3}
    assert references(doc) == {"x", "y", "z"}
    with pytest.raises(ExprError):
        references({"a": "${1 +}"})
    assert template.is_template("a${") and not template.is_template("a$b")


# --- against Python itself --------------------------------------------------------------------
# Trees of small ints under + - * / // % and unary minus, with comparisons, `and`,
# `or`, `not` and `if` on top, written with only the brackets precedence needs (and
# sometimes more). Python reads the same text the same way, so ``eval`` is the oracle.

_PREC = {"if": 1, "or": 2, "and": 3, "not": 4, "cmp": 5, "+": 6, "-": 6, "*": 7, "/": 7,
         "//": 7, "%": 7, "neg": 8, "atom": 10}  # fmt: skip


def _wrap(text_prec: tuple[str, int], need: int, extra: bool) -> str:
    text, prec = text_prec
    return f"({text})" if prec < need or extra else text


@st.composite
def _arith(draw: Any, depth: int = 0) -> tuple[str, int]:
    if depth >= 4 or draw(st.integers(0, 2)) == 0:
        return str(draw(st.integers(0, 9))), _PREC["atom"]
    if draw(st.integers(0, 5)) == 0:
        inner = draw(_arith(depth + 1))
        return "-" + _wrap(inner, _PREC["neg"], draw(st.booleans())), _PREC["neg"]
    op = draw(st.sampled_from(["+", "-", "*", "/", "//", "%"]))
    p = _PREC[op]
    left = _wrap(draw(_arith(depth + 1)), p, draw(st.booleans()))
    right = _wrap(draw(_arith(depth + 1)), p + 1, draw(st.booleans()))
    return f"{left} {op} {right}", p


@st.composite
def _logic(draw: Any, depth: int = 0) -> tuple[str, int]:
    kind = draw(st.sampled_from(["cmp", "cmp", "and", "or", "not", "if", "lit"]))
    if depth >= 3 or kind == "cmp":
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        p = _PREC["cmp"]
        left = _wrap(draw(_arith(2)), p + 1, False)
        right = _wrap(draw(_arith(2)), p + 1, False)
        return f"{left} {op} {right}", p
    if kind == "lit":
        return draw(st.sampled_from(["true", "false"])), _PREC["atom"]
    if kind == "not":
        return "not " + _wrap(draw(_logic(depth + 1)), _PREC["not"], draw(st.booleans())), 4
    if kind == "if":
        p = _PREC["if"]
        then = _wrap(draw(_logic(depth + 1)), p + 1, draw(st.booleans()))
        test = _wrap(draw(_logic(depth + 1)), p + 1, draw(st.booleans()))
        other = _wrap(draw(_logic(depth + 1)), p, draw(st.booleans()))
        return f"{then} if {test} else {other}", p
    p = _PREC[kind]
    left = _wrap(draw(_logic(depth + 1)), p, draw(st.booleans()))
    right = _wrap(draw(_logic(depth + 1)), p + 1, draw(st.booleans()))
    return f"{left} {kind} {right}", p


def _python(text: str) -> Any:
    py = text.replace("true", "True").replace("false", "False")
    return eval(py, {"__builtins__": {}}, {})  # the oracle, on generated text only


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(theirs, float) and math.isnan(theirs):
        return False
    return type(ours) is type(theirs) and ours == theirs


def _agrees_with_python(text: str) -> None:
    try:
        expected = _python(text)
    except ZeroDivisionError:
        with pytest.raises(ExprError, match="by zero"):
            evaluate(text, {})
        return
    assert _same(evaluate(text, {}), expected), text


@settings(max_examples=200, deadline=None)
@given(_arith())
def test_arithmetic_equals_python(tree):
    _agrees_with_python(tree[0])


@settings(max_examples=120, deadline=None)
@given(_logic())
def test_logic_equals_python(tree):
    _agrees_with_python(tree[0])


_ALPHABET = st.sampled_from(
    list("0123456789+-*/%<>=!()[]{},.'\"\\ $_eExyzabc") + ["and", "or", "not", "if", "else",
    "true", "null", "${", "$${", "//", "**", "sizes", "name", "width", "cfg", "é", "\n"]
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ALPHABET | st.characters(), max_size=60).map("".join))
def test_any_text_is_a_value_or_an_expr_error(text):
    for run in (lambda: evaluate(text, ENV), lambda: render(text, ENV)):
        try:
            run()
        except ExprError as e:
            assert 0 <= e.offset <= len(e.text) + 1 and e.message
            assert e.text == text  # the whole string, for the caret


@st.composite
def _builder(draw: Any, depth: int = 0) -> str:
    """Expressions that build strings and lists, to push at the size limits."""
    if depth >= 4 or draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(["'ab'", "[1, 'x']", "s", "xs", "1000", "99999", "[]", "''"]))
    op = draw(st.sampled_from(["+", "*", "*"]))
    return f"({draw(_builder(depth + 1))} {op} {draw(_builder(depth + 1))})"


@settings(max_examples=120, deadline=None)
@given(_builder())
def test_built_values_stay_within_the_limits(text):
    env = {"s": "q" * 5000, "xs": list(range(5000))}
    try:
        value = evaluate(text, env)
    except ExprError:
        return
    if isinstance(value, str):
        assert len(value) <= MAX_STRING_CHARS
    elif isinstance(value, list):
        assert values._size(value, MAX_LIST_SIZE) <= MAX_LIST_SIZE


# --- no code runs -----------------------------------------------------------------------------

_AUDIT: dict[str, Any] = {"on": False, "events": []}


def _audit(event: str, args: tuple) -> None:
    if _AUDIT["on"]:
        _AUDIT["events"].append(event)


sys.addaudithook(_audit)  # cannot be removed: it records only while a test turns it on

HOSTILE = [
    "__import__('os').system('x')",
    "__import__",
    "().__class__.__bases__[0].__subclasses__()",
    "''.__class__",
    "open('/etc/passwd')",
    "exec('1')",
    "eval('1')",
    "compile('1', 'f', 'eval')",
    "globals()['__builtins__']",
    "__builtins__['eval']",
    "lambda: 1",
    "[x for x in (1,)]",
    "cfg['__class__']",
    "name['__len__']",
    "f'{1}'",
    "${__import__('os')}",
    "x ${open('f')} y",
    "import os",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_runs_no_code(text):
    parse.cache_clear()
    template._template.cache_clear()
    env = {**ENV, "__builtins__": {"eval": 1}}
    _AUDIT["events"] = []
    _AUDIT["on"] = True
    try:
        for run in (lambda: evaluate(text, env), lambda: render(text, env)):
            try:
                run()
            except ExprError:
                pass
    finally:
        _AUDIT["on"] = False
    assert _AUDIT["events"] == []


# --- where an error lands in the spec file ---------------------------------------------------


def _position(text: str, path: tuple) -> tuple[int, int]:
    doc, diagnostics = loads(text, "s.json" if text.lstrip().startswith("{") else "s.yaml")
    assert doc is not None and not [d for d in diagnostics if d.is_error], diagnostics
    return doc.position(path)


def _caret(source: str, line: int, col: int) -> str:
    return source.split("\n")[line - 1][col - 1 :]


@pytest.mark.parametrize(
    ("source", "path", "offset", "at"),
    [
        ("units: ${width * 2}\n", ("units",), 2, "width * 2}"),
        ("units: '${width * 2}'\n", ("units",), 2, "width * 2}'"),
        ('units: "${width * 2}"\n', ("units",), 10, '2}"'),
        ("a: {b: 'it''s ${wdth}'}\n", ("a", "b"), 7, "wdth}'}"),
        ('a: "\\u00e9\\t${wdth}"\n', ("a",), 4, 'wdth}"'),
        ('a: "\\x41\\"${wdth}"\n', ("a",), 4, 'wdth}"'),
        ('{"a": "\\u00e9 \\/ ${wdth}"}', ("a",), 6, 'wdth}"}'),
        ("a: ${x +\n  wdth}\n", ("a",), 6, "wdth}"),
        ("a: 'one\n  two ${wdth}'\n", ("a",), 10, "wdth}'"),
        ("a: 'one\n\n  two ${wdth}'\n", ("a",), 10, "wdth}'"),
        ('a: "one \\\n  two ${wdth}"\n', ("a",), 10, 'wdth}"'),
        ("a: |\n  first\n  ${wdth}\n", ("a",), 8, "wdth}"),
        ("a: >-\n  first\n\n  ${wdth}\n", ("a",), 8, "wdth}"),
        ("a:\n  - |2\n      x\n    ${wdth}\n", ("a", 0), 6, "wdth}"),
    ],
)
def test_locate_finds_the_character_in_the_file(source, path, offset, at):
    line, col = _position(source, path)
    assert _caret(source, *locate(source, line, col, offset)) == at


def _decoded(source: str, path: tuple) -> str:
    doc, _ = loads(source, "s.yaml")
    value = doc.data
    for key in path:
        value = value[key]
    return value


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([*"ab $${}'\"\\#:-\t", "é", "\u2603", "x y", "\n"]), max_size=30).map(
        "".join
    ),
    st.sampled_from([None, "'", '"', "|", ">"]),
    st.integers(12, 40),
    st.booleans(),
)
def test_locate_agrees_with_the_yaml_parser(value, style, width, unicode):
    """Every character of a dumped string is found at its place in the text: the same
    character, or the backslash of its escape."""
    source = yaml.dump({"k": value}, default_style=style, width=width, allow_unicode=unicode)
    doc, diagnostics = loads(source, "s.yaml")
    if doc is None or doc.data.get("k") != value or any(d.is_error for d in diagnostics):
        return  # a value the loader refuses (e.g. a YAML 1.1 surprise): not our case
    line, col = doc.position(("k",))
    lines = source.split("\n")
    previous = (0, 0)
    for offset, ch in enumerate(value):
        at = locate(source, line, col, offset)
        assert at >= previous, (source, offset)
        if ch in " \t\n":
            continue  # folding moves spaces and breaks: they may share a place
        assert at > previous, (source, offset)
        previous = at
        raw = lines[at[0] - 1][at[1] - 1 : at[1]]
        assert raw in (ch, "\\"), (source, offset, at)
