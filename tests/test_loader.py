"""The loader's rules (MS0xx): spec text -> plain JSON data with positions, or diagnostics.

Each test states one rule with exact assertions: the code, the line and column it
points at, and a fragment of the message. The properties at the end check that
any JSON value survives a round trip, and that no text makes ``loads`` raise.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelspec.source.loader import MAX_BYTES, MAX_DEPTH, MAX_INT_DIGITS, load, loads

SPECS = sorted((Path(__file__).parent.parent / "specs").glob("*.yaml"))


def diags_of(text: str, file: str = "s.yaml") -> list[tuple[str, int, int]]:
    return [(d.code, d.line, d.col) for d in loads(text, file)[1]]


def expect(text: str, code: str, line: int, col: int, fragment: str, file: str = "s.yaml"):
    """``text`` gives exactly one diagnostic, ``code`` at ``line:col``; return (doc, diag)."""
    doc, diags = loads(text, file)
    assert [(d.code, d.line, d.col) for d in diags] == [(code, line, col)], diags
    assert fragment in diags[0].message, diags[0].message
    assert diags[0].level == "error"
    assert diags[0].file == file
    return doc, diags[0]


def clean(text: str, file: str = "s.yaml"):
    doc, diags = loads(text, file)
    assert diags == [], diags
    assert doc is not None
    return doc.data


def same(a, b) -> bool:
    """Equal, and of the same JSON types all the way down (``1 != True != 1.0`` here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


# --- YAML and JSON, positions ------------------------------------------------------------


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_yaml_and_json_give_the_same_data(path):
    text = path.read_text(encoding="utf-8")
    data = clean(text, path.name)
    # The seed specs hold no ambiguous scalars, so PyYAML agrees with us...
    assert same(data, yaml.safe_load(text))
    # ...and the JSON twin reads back to the very same value.
    assert same(clean(json.dumps(data, indent=2), "twin.json"), data)
    assert same(clean(json.dumps(data), "twin.json"), data)


def test_yaml_positions_of_keys_and_values():
    doc = loads("a: 1\nb:\n  c: [10, 20]\n  'd': x\n", "s.yaml")[0]
    assert doc.data == {"a": 1, "b": {"c": [10, 20], "d": "x"}}
    assert doc.position(("a",)) == (1, 4)
    assert doc.position(("a",), key=True) == (1, 1)
    assert doc.position(("b",), key=True) == (2, 1)
    assert doc.position(("b",)) == (3, 3)  # a block mapping starts at its first key
    assert doc.position(("b", "c"), key=True) == (3, 3)
    assert doc.position(("b", "c")) == (3, 6)
    assert doc.position(("b", "c", 0)) == (3, 7)
    assert doc.position(("b", "c", 1)) == (3, 11)
    assert doc.position(("b", "d"), key=True) == (4, 3)  # the quote opens the key
    assert doc.position(("b", "d")) == (4, 8)
    # A path that does not exist falls back to its nearest parent; the root is 1:1.
    assert doc.position(("b", "missing", 3)) == (3, 3)
    assert doc.position(()) == (1, 1)


def test_json_positions_of_keys_and_values():
    doc = loads('{\n  "a": 1,\n  "b": {"c": [10, 20]}\n}\n', "s.json")[0]
    assert doc.data == {"a": 1, "b": {"c": [10, 20]}}
    assert doc.position(("a",), key=True) == (2, 3)
    assert doc.position(("a",)) == (2, 8)
    assert doc.position(("b",)) == (3, 8)
    assert doc.position(("b", "c"), key=True) == (3, 9)
    assert doc.position(("b", "c", 1)) == (3, 19)


def test_diagnostic_carries_its_json_path():
    _, d = expect("layers:\n  fc: {units: yes}\n", "MS011", 2, 15, "'yes' is ambiguous")
    assert d.path == ("layers", "fc", "units")
    assert d.json_path == "$.layers.fc.units"


def test_empty_text_is_no_data_and_no_diagnostic():
    # The schema stage says "the spec must be a mapping"; the loader has nothing to add.
    for text in ("", "# only a comment\n", "---\n"):
        doc, diags = loads(text, "s.yaml")
        assert doc is not None and doc.data is None and diags == []


# --- duplicate keys, anchors, non-string keys ---------------------------------------------


def test_duplicate_yaml_key_points_at_the_second():
    doc, d = expect(
        "a: 1\nb: 2\na: 3\n", "MS008", 3, 1, "duplicate key 'a'; the first is at line 1"
    )
    assert doc.data == {"a": 1, "b": 2}  # the first one is kept
    assert "silently keep only one" in d.hint


def test_duplicate_json_key_points_at_the_second():
    text = '{"a": 1,\n "b": 2,\n "a": 3}'
    doc, _ = expect(text, "MS008", 3, 2, "duplicate key 'a'; the first is at line 1", "s.json")
    assert doc.data == {"a": 1, "b": 2}


def test_each_repeat_of_a_key_is_reported():
    assert diags_of("b: 1\nb: 2\nb: 3\n") == [("MS008", 2, 1), ("MS008", 3, 1)]


def test_duplicate_nested_key():
    expect(
        "layers:\n  fc: {type: Dense, units: 4, units: 5}\n",
        "MS008",
        2,
        31,
        "duplicate key 'units'",
    )


def test_anchor_and_alias_are_both_reported():
    text = "a: &x 1\nb: *x\n"
    doc, diags = loads(text, "s.yaml")
    assert [(d.code, d.line, d.col) for d in diags] == [("MS007", 1, 4), ("MS007", 2, 4)]
    assert all("anchors and aliases are not allowed" in d.message for d in diags)
    assert "call it by name" in diags[0].hint
    assert doc.data == {"a": 1, "b": None}  # the alias is not expanded


def test_alias_as_a_key_stops_the_loader():
    doc, diags = loads("a: &x k\n*x : 2\n", "s.yaml")
    assert doc is None
    assert [(d.code, d.line, d.col) for d in diags] == [("MS007", 1, 4), ("MS007", 2, 1)]


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_not_expanded():
    text = billion_laughs(9)
    assert len(yaml.safe_load(billion_laughs(2))["a2"]) == 9  # what expansion would do
    start = time.perf_counter()
    doc, diags = loads(text, "s.yaml")
    assert time.perf_counter() - start < 2.0
    assert {d.code for d in diags} == {"MS007"}
    assert (diags[0].line, diags[0].col) == (1, 5)
    assert len(diags) == 10 + 9 * 9  # ten anchors, 81 aliases
    assert json.dumps(doc.data).count("lol") == 9


@pytest.mark.parametrize(
    "text, col", [("{[a]: 1}\n", 2), ("? [a]\n: 1\n", 3), ("? {a: 1}\n: 1\n", 3)]
)
def test_collection_keys_are_refused(text, col):
    doc, _ = expect(text, "MS009", 1, col, "mapping keys must be plain strings")
    assert doc is None


def test_scalar_keys_stay_strings():
    # JSON has only string keys, so a YAML key is always its text: ``1`` is "1".
    assert same(clean("1: a\ntrue: b\nnull: c\n"), {"1": "a", "true": "b", "null": "c"})


# --- tags -----------------------------------------------------------------------------


def test_python_tag_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    for tag in ("!!python/object/apply:os.system", "!!python/object/new:os.system"):
        text = f"name: m\nseed: {tag} ['touch {marker}']\n"
        expect(text, "MS004", 2, 7, f"YAML tag '{tag}' is not allowed")
    expect("x: !!python/name:os.system ''\n", "MS004", 1, 4, "'!!python/name:os.system'")
    # Loading the same text through our CLI entry point must not run it either.
    assert load(
        _write(tmp_path / "p.yaml", f"a: !!python/object/apply:os.system ['touch {marker}']\n")
    )[1]
    assert not marker.exists()


@pytest.mark.parametrize(
    "text, tag",
    [
        ("a: !!binary aGVsbG8=\n", "!!binary"),
        ("a: !!set {x, y}\n", "!!set"),
        ("a: !!timestamp 2001-12-14\n", "!!timestamp"),
        ("a: !!omap [{x: 1}]\n", "!!omap"),
        ("a: !custom 1\n", "!custom"),
    ],
)
def test_other_tags_are_refused(text, tag):
    _, d = expect(
        text, "MS004", 1, 4, f"YAML tag '{tag}' is not allowed: a spec holds plain data only"
    )
    assert "quote the value" in d.hint


def test_str_tag_makes_a_string():
    assert same(
        clean("a: !!str 012\nb: !!str yes\nc: !!str 1e3\n"), {"a": "012", "b": "yes", "c": "1e3"}
    )


def test_non_specific_tag_is_a_plain_scalar():
    # ``!`` only says "not plain": the value still goes through the ambiguity checks.
    expect("x: ! 012\n", "MS011", 1, 4, "'012' is ambiguous")


@pytest.mark.parametrize("kind, text", [("int", "abc"), ("int", "1.5"), ("float", "x"), ("bool", "5"),
                                        ("null", "3")])  # fmt: skip
def test_core_tag_that_does_not_fit_its_value(kind, text):
    doc, d = expect(
        f"a: !!{kind} {text}\n", "MS004", 1, 4, f"tag '!!{kind}' does not fit the value '{text}'"
    )
    assert d.hint == f"write a plain {kind} value, or drop the tag"
    assert doc.data == {"a": None}


def test_core_tags_that_fit_their_value():
    data = clean(
        'a: !!int 5\nb: !!float 1\nc: !!bool true\nd: !!null ~\ne: !!int "7"\nf: !!map {x: 1}\n'
    )
    assert same(data, {"a": 5, "b": 1.0, "c": True, "d": None, "e": 7, "f": {"x": 1}})


# --- scalars ------------------------------------------------------------------------------


@pytest.mark.parametrize("word, meant", [("yes", "true"), ("no", "false"), ("on", "true"), ("off", "false"),
                                         ("Yes", "true"), ("OFF", "false")])  # fmt: skip
def test_yaml11_booleans_are_ambiguous(word, meant):
    doc, d = expect(
        f"a: {word}\n", "MS011", 1, 4,
        f"'{word}' is ambiguous: YAML 1.1 reads it as a boolean, YAML 1.2 as a string",
    )  # fmt: skip
    assert d.hint == f"write {meant} for a boolean, or quote it ('{word}') for a string"
    assert doc.data == {"a": None}


def test_quoted_yaml11_booleans_are_strings():
    assert same(
        clean("a: 'yes'\nb: \"off\"\nc: true\nd: False\n"),
        {"a": "yes", "b": "off", "c": True, "d": False},
    )


@pytest.mark.parametrize(
    "text", ["012", "0x_", "1_000", "1:20", "0b101", "0x1F", "-017", "190:20:30", "1_0.5"]
)
def test_yaml11_numbers_are_ambiguous(text):
    _, d = expect(
        f"a: {text}\n", "MS011", 1, 4, f"'{text}' is ambiguous: YAML 1.1 reads it as a number"
    )
    assert d.hint == "write a plain decimal number, or quote it for a string"


@pytest.mark.parametrize("text", ["0o17", "0o0"])
def test_yaml12_octal_is_ambiguous(text):
    # YAML 1.1 reads these as strings, YAML 1.2 as octal numbers.
    assert yaml.safe_load(f"a: {text}") == {"a": text}
    expect(f"a: {text}\n", "MS011", 1, 4, f"'{text}' is ambiguous: YAML 1.2 reads it as a number")


def test_leading_zero_decimal_is_ambiguous():
    assert diags_of("a: 08\n") == [("MS011", 1, 4)]


@pytest.mark.parametrize(
    "text, value",
    [("1e3", 1000.0), ("1.5e+3", 1500.0), ("-2E-2", -0.02), (".5", 0.5), ("1.", 1.0), ("-0.0", -0.0),
     ("0", 0), ("-7", -7), ("+3", 3)],
)  # fmt: skip
def test_yaml12_numbers(text, value):
    assert same(clean(f"a: {text}\n"), {"a": value})


@pytest.mark.parametrize(
    "text", ["2001-12-14", "2001-12-14T21:59:43.10-05:00", "2001-12-14 21:59:43", "2001-13-45"]
)
def test_dates_are_ambiguous(text):
    _, d = expect(
        f"a: {text}\n",
        "MS011",
        1,
        4,
        f"'{text}' would be read as a date, which is not a JSON value",
    )
    assert d.hint == "quote it for a string"


def test_quoted_date_is_a_string():
    assert clean("a: '2001-13-45'\n") == {"a": "2001-13-45"}


@pytest.mark.parametrize("text", [".nan", ".NaN", ".inf", "-.inf", "+.Inf"])
def test_non_finite_numbers_are_refused(text):
    _, d = expect(f"a: {text}\n", "MS005", 1, 4, f"non-finite number '{text}' is not allowed")
    assert "NaN and infinity are not JSON values" in d.hint


def test_float_overflow_is_refused():
    expect("a: 1e400\n", "MS005", 1, 4, "number 1e400 overflows to infinity")
    expect('{"a": -1e400}', "MS005", 1, 7, "number -1e400 overflows to infinity", "s.json")


def test_huge_integer_is_refused_quickly():
    digits = "9" * 5000
    start = time.perf_counter()
    doc, _ = expect(
        f"a: {digits}\n", "MS005", 1, 4, "integer with 5000 digits is too large; the limit is 19"
    )
    assert time.perf_counter() - start < 1.0
    assert doc.data == {"a": None}
    expect(f'{{"a": {digits}}}', "MS005", 1, 7, "5000 digits", "s.json")


def test_integer_digit_limit_is_inclusive():
    biggest = "9" * MAX_INT_DIGITS
    assert clean(f"a: {biggest}\nb: -{biggest}\n") == {"a": int(biggest), "b": -int(biggest)}
    expect(f"a: 1{biggest}\n", "MS005", 1, 4, f"integer with {MAX_INT_DIGITS + 1} digits")


# --- structure ------------------------------------------------------------------------


@pytest.mark.parametrize("file", ["s.yaml", "s.json"])
def test_deep_nesting_is_refused_quickly(file):
    n = 100_000
    for text in ("[" * n + "]" * n, '{"a": ' * n + "1" + "}" * n):
        start = time.perf_counter()
        doc, d = expect(text, "MS010", 1, MAX_DEPTH + 1 if text[0] == "[" else 6 * MAX_DEPTH + 1,
                        f"nesting deeper than {MAX_DEPTH} levels is not allowed", file)  # fmt: skip
        assert time.perf_counter() - start < 2.0
        assert doc is None
        assert "runaway brackets" in d.hint


def test_nesting_limit_is_inclusive():
    assert clean("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    expect(
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "MS010", 1, MAX_DEPTH + 1, "nesting deeper"
    )


def test_deep_block_nesting_is_refused():
    text = "".join("  " * i + "a:\n" for i in range(MAX_DEPTH + 5))
    expect(text, "MS010", MAX_DEPTH + 1, 2 * MAX_DEPTH + 1, "nesting deeper than 64 levels")


def test_two_yaml_documents():
    doc, _ = expect(
        "a: 1\n---\nb: 2\n", "MS006", 2, 1, "a spec file holds one YAML document; found a second"
    )
    assert doc is None


def test_one_document_with_markers_is_fine():
    assert clean("---\na: 1\n...\n") == {"a": 1}


# --- encoding -------------------------------------------------------------------------


def _write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def test_nul_byte_in_text():
    doc, _ = expect(
        "a: 1\nb: x\0\n", "MS002", 2, 1, "the file contains a NUL byte; a spec is UTF-8 text"
    )
    assert doc is None


def test_nul_byte_in_file(tmp_path):
    doc, diags = load(_write(tmp_path / "s.yaml", b"a: 1\nb: x\x00\n"), display="s.yaml")
    assert doc is None
    assert [(d.code, d.line, d.col) for d in diags] == [("MS002", 2, 5)]
    assert "NUL byte" in diags[0].message


def test_invalid_utf8_in_file(tmp_path):
    doc, diags = load(_write(tmp_path / "s.yaml", b"a: 1\nb: caf\xe9\n"), display="s.yaml")
    assert doc is None
    assert [(d.code, d.line, d.col) for d in diags] == [("MS002", 2, 7)]
    assert diags[0].message == "the file is not valid UTF-8: byte 0xe9 cannot start a character"
    assert diags[0].hint == "save the spec as UTF-8"


@pytest.mark.parametrize("char", ["\x7f", "\x9a", "\x01", "\ufffe"])
def test_control_character_points_at_its_line(char):
    doc, d = expect(f"a: 1\nb: x{char}\n", "MS002", 2, 5,
                    f"the file contains the control character U+{ord(char):04X}, which YAML does not allow")  # fmt: skip
    assert doc is None
    assert "double-quoted string" in d.hint


@pytest.mark.parametrize("sep", ["\x85", "\u2028", "\u2029"])
def test_unicode_line_separators_do_not_shift_line_numbers(sep):
    # YAML 1.1 breaks lines there; editors and `file:line` tools do not.
    assert diags_of(f"# a{sep}\na: yes\n") == [("MS011", 2, 4)]
    assert diags_of(f"a: 'x{sep}y'\nb: yes\n") == [("MS011", 2, 4)]


def test_unicode_line_separator_inside_a_comment():
    assert clean("# a\u2028b\na: 1\n") == {"a": 1}


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029"])
def test_yaml_values_keep_characters_that_yaml_1_1_reads_as_line_breaks(char):
    # YAML 1.2 breaks lines at LF and CR only, so these stay in keys and values.
    assert clean(f'a: "x{char}y"\nk{char}: p{char}q\n') == {
        "a": f"x{char}y",
        f"k{char}": f"p{char}q",
    }


def test_bom_is_accepted(tmp_path):
    assert clean("\ufeffa: 1\n") == {"a": 1}
    for name, text in (("s.yaml", "a: 1\n"), ("s.json", '{"a": 1}\n')):
        doc, diags = load(_write(tmp_path / name, b"\xef\xbb\xbf" + text.encode()))
        assert diags == [] and doc.data == {"a": 1}
        assert doc.position(("a",)) == ((1, 4) if name == "s.yaml" else (1, 7))


def test_tab_indentation_has_a_hint():
    _, d = expect(
        "a:\n\tb: 1\n", "MS003", 2, 1, "invalid YAML: found character that cannot start any token"
    )
    assert d.hint == "YAML indents with spaces, never tabs"
    _, d = expect("a:\n  b: 1\n\tc: 2\n", "MS003", 3, 1, "invalid YAML")
    assert d.hint == "YAML indents with spaces, never tabs"


def test_yaml_syntax_error_position():
    # The reader stops at the end of the file, which has no line to show: the
    # diagnostic points at the bracket left open instead.
    doc, d = expect("a: [1, 2\n", "MS003", 1, 4, "invalid YAML: did not find expected ',' or ']'")
    assert d.hint == "the '[' at line 1, column 4 is never closed: add a ']' where the list ends"
    assert doc is not None and doc.data is None and doc.text == "a: [1, 2\n"


# --- syntax errors a newcomer can act on (NOTE: [syntax hints] in modelspec/source/syntax_hints.py)

HEAD = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [8]}\n"  # lines 1-4

YAML_MISTAKES = {
    "unclosed brace": (
        HEAD + "sequential:\n  - {type: Dense, units: 4\noutputs:\n  y: {from: x}\n", 7, 8,
        "the '{' at line 6, column 5 is never closed: add a '}' where the mapping ends",
    ),
    "unclosed bracket at the end": (
        "a: 1\nb: [1, 2\n\n", 2, 4,
        "the '[' at line 2, column 4 is never closed: add a ']' where the list ends",
    ),
    "bracket closed by a brace": (
        "a: {b: [1, 2}\nc: 1\n", 1, 13,
        "the '[' at line 1, column 8 is not closed before this '}': add its ']'",
    ),
    "closing brace with nothing open": (
        "a:\n  b: 1\n}\n", 3, 1, "this '}' closes nothing: remove it, or add the '{' it should close",
    ),
    "unclosed double quote": (
        HEAD.replace("name: m", 'name: "m'), 2, 7,
        "the string that starts with '\"' at line 2, column 7 is never closed: end it with another '\"'",
    ),
    "unclosed single quote in brackets": (
        "a: {b: 'm, c: 1}\nd: 2\n", 1, 8,
        "the string that starts with \"'\" at line 1, column 8 is never closed: end it with another \"'\"",
    ),
    "indented deeper than a key with a value": (
        HEAD + "   sequential:\n  - {type: Dense, units: 4}\n", 5, 4,
        "line 5 is indented 3 spaces, deeper than line 4, which already has its value (nothing "
        "can nest under it): indent line 5 like the key or item it belongs beside, 0 or 2 spaces",
    ),
    "indented like no key": (
        HEAD + " y: {shape: [4]}\n", 5, 2,
        "line 5 is indented 1 space, like no key or item above it: indent it like the one it "
        "belongs beside, 0 or 2 spaces",
    ),
    "a list item indented under a complete item": (
        "sequential:\n  - {type: Dense, units: 4}\n    - {type: Dense, units: 4}\n", 3, 5,
        "line 3 is indented 4 spaces, deeper than line 2",
    ),
    "a key indented under a value": (
        "name: m\n  units: 4\n", 2, 8, "line 2 is indented 2 spaces, deeper than line 1",
    ),
    "a list item among keys": (
        "a: 1\n- b\n", 2, 1,
        "line 2 starts a list item ('- '), but line 1, at the same indentation, is a key",
    ),
    "a key among list items": (
        "a:\n  - b: 1\n  c: 2\n", 3, 3,
        "line 3 is a key, but line 2, at the same indentation, is a list item ('- '), and a list "
        "cannot hold keys: start line 3 with '- ' for an item of its own, or indent it 4 spaces "
        "to add it to the item's keys",
    ),
    "': ' inside a plain value": (
        "description: note: this is it\nname: m\n", 1, 18,
        'a value that holds \': \' needs quotes: description: "note: this is it"',
    ),
    "no space after a key's colon": (
        "a:1\nb:\n  c: 2\n", 2, 2, "line 1 has no space after the ':' of 'a:1': write a: 1",
    ),
    "a line without a colon": (
        "a: 1\nb\nc: 2\n", 3, 1, "line 2 (b) has no ':': each line of a mapping is key: value",
    ),
    "a tensor index inside braces": (
        "a: {apply: x, to: enc[1]}\n", 1, 22, 'inside {...}, quote a tensor index: to: "enc[1]"',
    ),
    "a tab": ("a:\n\tb: 1\n", 2, 1, "YAML indents with spaces, never tabs"),
    "text after a quoted value": (
        "a: 'b' c\n", 1, 8, "a value ends with the quoted string that closes at column 6: only "
        "a comment may follow it on its line",
    ),
    "text after a list": ("a: [b, c] d\n", 1, 11, "a value ends with the list that closes at column 9"),
    "a reserved character": ("a: @b\n", 1, 4, "'@' cannot start a plain value in YAML: put the value in quotes"),
}  # fmt: skip

JSON_MISTAKES = {
    "trailing comma in a mapping": (
        '{"a": 1,\n "b": 2,\n}\n', 3, 1,
        "JSON allows no ',' after the last item: remove the ',' at line 2, column 8",
    ),
    "trailing comma in a list": (
        '{"a": [1, 2,]}', 1, 13, "JSON allows no ',' after the last item: remove the ',' at line 1, column 12",
    ),
    "a comment": ('{"a": 1, // c\n "b": 2}', 1, 10, "JSON has no comments"),
    "single quotes": ("{'a': 1}", 1, 2, "JSON strings are written in double quotes"),
    "a missing comma": ('{"a": 1\n "b": 2}', 2, 2, "a ',' is missing between two items, after line 1, column 7"),
    "a missing colon": ('{"a" 1}', 1, 6, "a ':' is missing after the key \"a\""),
    "an unclosed string": (
        '{"a": "b\n}', 1, 9,
        "the string that starts with '\"' at line 1, column 7 is never closed: end it with '\"' on its line",
    ),
    "an unclosed brace": (
        '{"modelspec": 1,\n "inputs": {"x": {"shape": [8]}\n}\n', 1, 1,
        "the '{' at line 1, column 1 is never closed: add a '}' where the mapping ends, or where "
        "a list or mapping inside it ends",
    ),
    "an extra brace": ('{"a": 1}}', 1, 9, "this '}' closes nothing"),
}  # fmt: skip


@pytest.mark.parametrize("text, line, col, hint", YAML_MISTAKES.values(), ids=list(YAML_MISTAKES))
def test_yaml_syntax_error_hints(text, line, col, hint):
    doc, d = expect(text, "MS003", line, col, "invalid YAML")
    assert hint in d.hint
    assert doc is not None and doc.text == text and doc.data is None


@pytest.mark.parametrize("text, line, col, hint", JSON_MISTAKES.values(), ids=list(JSON_MISTAKES))
def test_json_syntax_error_hints(text, line, col, hint):
    doc, d = expect(text, "MS003", line, col, "invalid JSON", "s.json")
    assert hint in d.hint


class _Reworded:
    """A YAML reader whose errors say something else, with no context: what a new
    PyYAML release might do. The hint must not change."""

    def __init__(self, reader, text):
        self.reader = reader(text)

    def get_event(self):
        try:
            return self.reader.get_event()
        except yaml.MarkedYAMLError as exc:
            raise yaml.MarkedYAMLError(
                None, None, "something went wrong", exc.problem_mark
            ) from None

    def dispose(self):
        self.reader.dispose()


@pytest.mark.parametrize("reader", ["libyaml", "python"])
@pytest.mark.parametrize("name", list(YAML_MISTAKES))
def test_yaml_hints_do_not_depend_on_the_readers_words(name, reader, monkeypatch):
    text, line, col, hint = YAML_MISTAKES[name]
    base = yaml.CSafeLoader if reader == "libyaml" else yaml.SafeLoader
    monkeypatch.setattr("modelspec.source.loader._Parser", lambda t: _Reworded(base, t))
    _, d = expect(text, "MS003", line, col, "invalid YAML: something went wrong")
    assert hint in d.hint


@pytest.mark.parametrize("name", list(JSON_MISTAKES))
def test_json_hints_do_not_depend_on_the_readers_words(name, monkeypatch):
    text, line, col, hint = JSON_MISTAKES[name]
    real = json.loads

    def reworded(doc, **kw):
        try:
            return real(doc, **kw)
        except json.JSONDecodeError as exc:
            raise json.JSONDecodeError("Something else", exc.doc, exc.pos) from None

    monkeypatch.setattr("modelspec.source.json_text.json.loads", reworded)
    # Mistakes the YAML reader passes go to json.loads alone; the others stop the YAML
    # reader first, whose words change too.
    monkeypatch.setattr("modelspec.source.loader._Parser", lambda t: _Reworded(yaml.CSafeLoader, t))
    _, d = expect(text, "MS003", line, col, "invalid JSON", "s.json")
    assert hint in d.hint
    assert "Something else" in d.message or "is not a JSON value" in d.message


def test_an_unclosed_bracket_names_an_inner_one_only_when_that_may_hold_the_fault():
    # The inner {...} closes on its own line: the outer one lacks its brace.
    _, d = expect("a: {b: {c: 1}, d: 2\ne: 3\n", "MS003", 2, 2, "invalid YAML")
    assert d.hint == "the '{' at line 1, column 4 is never closed: add a '}' where the mapping ends"
    # The inner one spans lines: its brace may be the outer one's, the missing one its own.
    text = '{"a": {"b": [1]\n},\n "c": 2\n'
    _, d = expect(text, "MS003", 1, 1, "invalid JSON", "s.json")
    assert d.hint.endswith("where the mapping ends, or where a list or mapping inside it ends")


def test_a_syntax_error_in_an_included_file_shows_its_line(tmp_path):
    from modelspec.check import check
    from modelspec.errors import format_all

    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "lib.yaml").write_text(
        "modelspec: 1\nblocks:\n  b:\n    inputs: [x]\n    graph:\n"
        "      h: {apply: {type: Dense, units: 4}, to: x\n    outputs: [h]\n"
    )
    (tmp_path / "m.yaml").write_text(
        "modelspec: 1\nname: m\ninclude: [lib.yaml]\ninputs:\n  x: {shape: [8]}\n"
        "graph:\n  y: {block: b, x: x}\noutputs:\n  y: {from: y}\n"
    )
    result = check(tmp_path / "m.yaml", display="m.yaml")
    text = format_all(result.diagnostics, source=result.doc.texts)
    assert "lib.yaml:7:12: error MS003: invalid YAML" in text
    assert "\n        outputs: [h]\n               ^\n" in text
    assert "hint: the '{' at line 6, column 10 is never closed" in text


def test_a_syntax_error_without_a_rule_gets_the_general_hint():
    _, d = expect("a: &\n", "MS003", 1, 5, "invalid YAML")
    assert "look at this line and the one above it" in d.hint


# --- size and files -----------------------------------------------------------------------


def test_file_over_the_size_cap_is_not_read(tmp_path, monkeypatch):
    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:
        fh.truncate(64 * 2**30)  # sparse: 64 GiB that take no disk, and would take long to read
    opened = []
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self) or 1 / 0)
    start = time.perf_counter()
    doc, diags = load(big, display="big.yaml")
    assert time.perf_counter() - start < 1.0
    assert opened == []
    assert doc is None
    assert [(d.code, d.line, d.col, d.message) for d in diags] == [
        ("MS001", 1, 1, "the spec is 65536.0 MiB, over the 8 MiB limit")
    ]


def test_just_over_the_cap(tmp_path):
    path = tmp_path / "s.yaml"
    with path.open("wb") as fh:
        fh.truncate(MAX_BYTES + 1)
    assert [d.code for d in load(path)[1]] == ["MS001"]


def test_text_over_the_size_cap():
    doc, diags = loads("#" * (MAX_BYTES + 1), "s.yaml")
    assert doc is None
    assert [(d.code, d.message) for d in diags] == [
        ("MS001", "the spec is larger than the 8 MiB limit")
    ]


def test_directory_and_missing_file(tmp_path):
    doc, diags = load(tmp_path, display="specs")
    assert doc is None
    assert [(d.code, d.file, d.message) for d in diags] == [
        ("MS001", "specs", "'specs' is a directory, not a spec file")
    ]
    doc, diags = load(tmp_path / "nope.yaml", display="nope.yaml")
    assert doc is None
    assert [(d.code, d.message) for d in diags] == [("MS001", "no such file: 'nope.yaml'")]


def test_load_picks_the_format_from_the_name(tmp_path):
    # The same text is YAML (a string) in one file and invalid JSON in the other.
    assert load(_write(tmp_path / "s.yaml", '{"a": NaN}'))[0].data == {"a": "NaN"}
    assert [d.code for d in load(_write(tmp_path / "s.json", '{"a": NaN}'))[1]] == ["MS005"]


# --- JSON's own rules ---------------------------------------------------------------------


@pytest.mark.parametrize("const", ["NaN", "Infinity", "-Infinity"])
def test_json_non_finite_constants(const):
    doc, diags = loads(f'{{"a": {const}}}', "s.json")
    assert [(d.code, d.message) for d in diags] == [
        ("MS005", f"non-finite number '{const}' is not allowed in JSON")
    ]


def test_json_non_finite_constant_position():
    assert diags_of('{"a": 1,\n "b": NaN}', "s.json") == [("MS005", 2, 7)]


@pytest.mark.parametrize(
    "text, line, col, fragment",
    [
        ('{"a": 1,}', 1, 9, "invalid JSON: Expecting property name enclosed in double quotes"),
        ('{"a": [1, 2,]}', 1, 13, "invalid JSON: Expecting value"),
        ('{"a": .5}', 1, 7, "invalid JSON: '.5' is not a JSON value"),
        ('{"a": 1}\n{"b": 2}', 2, 1, "invalid JSON"),
        ('// comment\n{"a": 1}', 1, 1, "invalid JSON: Expecting value"),
    ],
)
def test_json_syntax(text, line, col, fragment):
    expect(text, "MS003", line, col, fragment, "s.json")


def test_json_with_tab_indentation_parses():
    doc = loads('{\n\t"a": 1,\n\t"b": [\n\t\t2\n\t]\n}\n', "s.json")[0]
    assert same(doc.data, {"a": 1, "b": [2]})
    assert doc.position(("a",)) == (2, 7)  # a tab is one column, as a space would be
    assert doc.position(("b", 0)) == (4, 3)


def test_json_duplicate_key_and_yaml11_scalars_are_caught_too():
    expect('{"a": "x", "a": "y"}', "MS008", 1, 12, "duplicate key 'a'", "s.json")
    expect('{"a": 012}', "MS003", 1, 7, "invalid JSON: '012' is not a JSON value", "s.json")


def test_json_surrogate_pair_escape():
    # json.dumps writes a character outside the BMP as an escaped surrogate pair.
    text = json.dumps({"description": "\U0001f600", "k\U0001f600": 1})
    assert "\\ud83d\\ude00" in text
    assert clean(text, "s.json") == {"description": "\U0001f600", "k\U0001f600": 1}


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029", "\x7f", "\x9a"])
def test_json_raw_characters_yaml_would_refuse_or_fold(char):
    for text in (f'{{"a": "x{char}y"}}', f'{{"k{char}": 1}}'):
        assert same(clean(text, "s.json"), json.loads(text))


@pytest.mark.parametrize(
    "value", [{"\U0001f600": 1, "\U0001f601": 2}, {"\x7f": 1, "\x80": 2}, {"a ": 1, "a\u2028": 2}]
)
def test_json_keys_that_differ_only_in_special_characters(value):
    for ascii_only in (True, False):
        assert clean(json.dumps(value, ensure_ascii=ascii_only), "s.json") == value


def test_json_escaped_backslash_before_u_is_not_an_escape():
    assert clean('{"a": "\\\\ud83d"}', "s.json") == {"a": "\\ud83d"}


def test_json_lone_surrogate_is_refused():
    assert diags_of('{"a": "\\ud83d"}', "s.json") != []


@pytest.mark.parametrize("text", [".", "0x", "2001-1-1", "-.", "._", "08"])
def test_strings_that_yaml11_reads_as_strings(text):
    assert yaml.safe_load(f"a: {text}\n") == {"a": text}
    if text != "08":  # see test_leading_zero_decimal_is_ambiguous
        assert clean(f"a: {text}\n") == {"a": text}


# --- properties ---------------------------------------------------------------------------

MAX_INT = 10**MAX_INT_DIGITS - 1
# Any text but lone surrogates, which are not Unicode (see test_json_lone_surrogate_is_refused).
any_str = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
# Keys without the characters that make two JSON keys collide (see
# test_json_keys_that_differ_only_in_special_characters).
key_str = st.text(
    st.characters(exclude_categories=("Cs",), max_codepoint=0xFFFF).filter(
        lambda c: not ("\x7f" <= c <= "\x9f" or c in "\u2028\u2029")
    ),
    max_size=20,
)
# A plain YAML scalar that starts with a digit, a sign or a dot may be a number in
# one YAML version and a string in another: that case has its own property below.
yaml_text = any_str.filter(lambda s: s[:1] not in set("0123456789+-."))


def json_values(strings):
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(-MAX_INT, MAX_INT)
        | st.floats(allow_nan=False, allow_infinity=False)
        | strings
    )
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(key_str, inner, max_size=4),
        max_leaves=16,
    )


PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(json_values(any_str), st.sampled_from([None, 2]), st.booleans())
def test_any_json_value_round_trips(value, indent, ascii_only):
    doc, diags = loads(json.dumps(value, indent=indent, ensure_ascii=ascii_only), "x.json")
    assert diags == []
    assert same(doc.data, value)


@PROPS
@given(json_values(yaml_text))
def test_any_yaml_dump_round_trips(value):
    doc, diags = loads(yaml.safe_dump(value), "x.yaml")
    assert diags == []
    assert same(doc.data, value)


# YAML 1.2 core schema numbers: a plain scalar PyYAML (YAML 1.1) reads as a string but
# modelspec reads as a number, on purpose (``1e3`` is 1000.0).
_YAML12_INT = re.compile(r"[-+]?[0-9]+\Z")
_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")


def _agrees(got, want) -> bool:
    """``got`` is ``want``, but for strings that YAML 1.2 reads as numbers."""
    if isinstance(want, str) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return bool(_YAML12_INT.match(want) or _YAML12_FLOAT.match(want)) and got == float(want)
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(_agrees(got[k], want[k]) for k in want)
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(_agrees(g, w) for g, w in zip(got, want))
    return same(got, want)


@PROPS
@given(json_values(any_str))
def test_yaml_never_silently_changes_a_value(value):
    """Where PyYAML and modelspec could read a scalar differently, a diagnostic says so."""
    doc, diags = loads(yaml.safe_dump(value), "x.yaml")
    if diags:
        assert {d.code for d in diags} == {"MS011"}
    else:
        assert _agrees(doc.data, value)


_FRAGMENTS = ["a", ": ", " ", "\n", "- ", "[", "]", "{", "}", ", ", "&x ", "*x", "!!str ", "!t ",
              "? ", "'", '"', "# c", "|", ">", "\t", "1", "yes", "...", "---", "%YAML 1.1",
              "\ufeff", "\x85", "\\", "1e3", "012", ".nan", "\0", "\x7f"]  # fmt: skip
any_text = st.text(max_size=200) | st.lists(st.sampled_from(_FRAGMENTS), max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(any_text, st.sampled_from(["x.yaml", "x.json"]))
def test_loads_never_raises(text, file):
    doc, diags = loads(text, file)
    if doc is None:
        assert diags, "no data needs a reason"
    for d in diags:
        assert re.fullmatch(r"MS0[01][0-9]", d.code)
        assert d.line >= 1 and d.col >= 1 and d.file == file
    if doc is not None and not diags:
        json.dumps(doc.data, allow_nan=False)  # plain, finite JSON data
        assert not any(isinstance(x, float) and not math.isfinite(x) for x in _leaves(doc.data))


def _leaves(value):
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        else:
            yield v


@pytest.mark.parametrize(
    "text",
    [
        (Path(__file__).resolve().parent.parent / "specs" / "seed_004_branches.yaml").read_text(
            encoding="utf-8"
        ),
        "a: [1, 2\n",
        "a: " + "[" * 10_000,
        "a: 1\na: 2\nb: *x\nc: !!python/name:os.system\nd: yes\n",
    ],
    ids=["spec", "syntax", "deep", "hostile"],
)
def test_pure_python_parser_gives_the_same_result(text, monkeypatch):
    """Without libyaml, PyYAML's own parser is used: same data, positions and errors."""
    import yaml

    import modelspec.source.loader as loader

    with_libyaml = loader.loads(text, "s.yaml")
    monkeypatch.setattr(loader, "_Parser", yaml.SafeLoader)
    pure = loader.loads(text, "s.yaml")
    assert [d.code for d in pure[1]] == [d.code for d in with_libyaml[1]]
    assert [(d.line, d.col) for d in pure[1]][:1] == [(d.line, d.col) for d in with_libyaml[1]][:1]
    if with_libyaml[0] is not None and not with_libyaml[1]:
        assert pure[0].data == with_libyaml[0].data
        assert pure[0].positions == with_libyaml[0].positions
