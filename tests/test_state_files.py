"""A preprocessing layer's state from a file beside the spec (modelspec/source/state.py):
read with the rules of `include:`, written inline for every later stage."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelspec
from modelspec.check import check
from modelspec.errors import format_all
from modelspec.lower.plan import plan
from modelspec.source import state

SPEC = """modelspec: 1
name: m
inputs:
  t: {shape: [1], dtype: string}
  n: {shape: [1], dtype: int64}
  x: {shape: [1]}
graph:
  words: {apply: {type: StringLookup, vocabulary: {file: %s}, output_mode: multi_hot, name: words}, to: t}
  ids: {apply: {type: IntegerLookup, vocabulary: {file: ids.txt}, name: ids}, to: n}
  bins: {apply: {type: Discretization, bin_boundaries: {file: bounds.txt}, name: bins}, to: x}
outputs: {words: {from: words}, ids: {from: ids}, bins: {from: bins}}
"""


def _project(tmp_path: Path, vocab: str = "vocab.txt") -> Path:
    proj = tmp_path / "proj"
    (proj / "specs").mkdir(parents=True)
    (proj / "pyproject.toml").write_text("")
    (proj / "specs" / "vocab.txt").write_text("good\nbad\nthe plot\n\n")
    (proj / "specs" / "ids.txt").write_text("3\n-4\n70\n")
    (proj / "specs" / "bounds.txt").write_text("0\n0.5\n1e3\n")
    (proj / "specs" / "m.yaml").write_text(SPEC % vocab)
    return proj / "specs" / "m.yaml"


def codes(result) -> list[tuple[str, int, int]]:
    return [(d.code, d.line, d.col) for d in result.diagnostics]


def test_a_file_is_read_relative_to_the_spec_and_written_inline(tmp_path: Path, monkeypatch):
    path = _project(tmp_path)
    monkeypatch.chdir(tmp_path)  # not the spec's folder
    result = check(path)
    assert result.ok, format_all(result.diagnostics)
    layers = result.spec.layers
    assert layers["words"].kwargs["vocabulary"] == ["good", "bad", "the plot"]
    assert layers["ids"].kwargs["vocabulary"] == [3, -4, 70]
    assert layers["bins"].kwargs["bin_boundaries"] == [0, 0.5, 1000.0]
    assert result.shapes.tensors["words"] == (None, 4)  # three words and the OOV index
    ctor = dict(plan(result).layers["words"].ctor.kwargs)
    assert ctor["vocabulary"] == ("good", "bad", "the plot")


def test_the_generated_module_holds_the_values(tmp_path: Path):
    source = modelspec.load(_project(tmp_path)).to_python("functional")
    assert '"the plot"' in source and "vocab.txt" not in source


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no values"),
        ("\n\n", "holds no values"),
        (b"caf\xe9\n", "is not UTF-8 text (line 1)"),
    ],
)
def test_a_file_without_values_is_refused_at_its_name(tmp_path: Path, text, message):
    path = _project(tmp_path)
    vocab = path.parent / "vocab.txt"
    vocab.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = check(path)
    assert codes(result) == [("MS730", 8, 58)]
    assert message in result.diagnostics[0].message


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("ids.txt", "3\n4.5\n", "`vocabulary` file 'ids.txt': line 2 is not an integer: '4.5'"),
        ("ids.txt", "9" * 20 + "\n", "line 1 is not an integer"),
        ("bounds.txt", "0\nnan\n", "`bin_boundaries` file 'bounds.txt': line 2 is not a number"),
    ],
)
def test_a_line_of_the_wrong_kind_is_named(tmp_path: Path, file, text, message):
    path = _project(tmp_path)
    (path.parent / file).write_text(text)
    result = check(path)
    assert [d.code for d in result.diagnostics] == ["MS730"]
    assert message in result.diagnostics[0].message


def test_missing_outside_and_linked_out_files_are_refused_unread(tmp_path: Path):
    path = _project(tmp_path, "missing.txt")
    result = check(path)
    assert codes(result) == [("MS730", 8, 58)]
    assert "no such file" in result.diagnostics[0].message
    secret = tmp_path / "secret.txt"
    secret.write_text("AWS_SECRET\n")
    path.write_text(SPEC % "../../secret.txt")
    result = check(path)
    assert codes(result) == [("MS731", 8, 58)]
    assert "include-paths" in result.diagnostics[0].hint
    (path.parent / "link.txt").symlink_to(secret)
    path.write_text(SPEC % "link.txt")
    assert codes(check(path)) == [("MS731", 8, 58)]
    path.write_text(SPEC % "'//host/share/v.txt'")
    assert codes(check(path)) == [("MS731", 8, 58)]


def test_the_limits_name_their_module(tmp_path: Path, monkeypatch):
    path = _project(tmp_path)
    monkeypatch.setattr(state, "MAX_STATE_BYTES", 20)
    result = check(path)
    # The files share the limit: the one that goes past the spec's 20 bytes is refused.
    assert result.diagnostics and {d.code for d in result.diagnostics} == {"MS730"}
    assert "modelspec.source.state.MAX_STATE_BYTES" in result.diagnostics[0].hint
    monkeypatch.setattr(state, "MAX_STATE_BYTES", 2**20)
    monkeypatch.setattr(state, "MAX_STATE_VALUES", 4)
    result = check(path)
    assert result.diagnostics and {d.code for d in result.diagnostics} == {"MS730"}
    assert "past 4 values" in result.diagnostics[0].message


def test_a_file_in_an_included_block_is_relative_to_that_file(tmp_path: Path):
    proj = tmp_path / "proj"
    (proj / "lib").mkdir(parents=True)
    (proj / "pyproject.toml").write_text("")
    (proj / "lib" / "words.txt").write_text("a\nb\n")
    (proj / "lib" / "blocks.yaml").write_text(
        "modelspec: 1\nblocks:\n  encode:\n    inputs: [t]\n    outputs: [o]\n    graph:\n"
        "      o: {apply: {type: StringLookup, vocabulary: {file: words.txt}}, to: t}\n"
    )
    (proj / "m.yaml").write_text(
        "modelspec: 1\nname: m\ninclude: [lib/blocks.yaml]\ninputs:\n"
        "  t: {shape: [1], dtype: string}\ngraph:\n  e: {block: encode, to: t}\n"
        "outputs: {y: {from: e}}\n"
    )
    result = check(proj / "m.yaml")
    assert result.ok, format_all(result.diagnostics)
    (layer,) = result.spec.layers.values()
    assert layer.kwargs["vocabulary"] == ["a", "b"]
