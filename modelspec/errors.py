"""Diagnostics: every problem modelspec finds, as a value.

A :class:`Diagnostic` has a level, a stable code, a message that states the rule and
then the value, an optional hint, and where it happened: file, line, column and the
JSON path into the document. Checks are generators that ``yield`` diagnostics, so a
user sees every problem at once.

Codes, by stage (``docs/diagnostics.md`` lists each one):

- ``MS0xx`` reading the file: size, encoding, YAML/JSON syntax, non-JSON values.
- ``MS1xx`` the JSON Schema: unknown keys, wrong types, missing keys, bad values.
- ``MS2xx`` the graph: undefined names, cycles, unreachable outputs, unused parts.
- ``MS3xx`` shapes: ranks, sizes, merges.
- ``MS4xx`` training: losses, metrics, optimizers.

Example::

    >>> d = Diagnostic("error", "MS201", "undefined tensor 'x'", file="s.yaml", line=3, col=7)
    >>> d.format()
    "s.yaml:3:7: error MS201: undefined tensor 'x'"
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

ERROR = "error"
WARNING = "warning"

JsonPath = tuple[Any, ...]  # keys (str) and indices (int) from the document root
# did_you_mean compares a name with at most this many choices: difflib's ratio costs
# tens of microseconds for each, so an unbounded pool makes a suggestion take seconds.
MAX_CANDIDATES = 200


# Names are at most 200 characters, so a quoted name stays whole in a message.
MAX_WORD = 256
# A word starts after a space (the look-behind): tried from inside a word, the pattern
# fails at once instead of scanning the rest of it, so a message of many words just
# under the limit is read in linear time.
_LONG_WORD = re.compile(rf"(?<!\S)\S{{{MAX_WORD + 1},}}")


# Line breaks, other control characters (terminal escapes) and bidirectional overrides,
# which would make a log line show something else than it holds.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    """``"\\n"`` for a line break, ``"\\x1b"`` for an escape: as Python writes them."""
    return match[0].encode("unicode_escape").decode("ascii")


def printable(text: str) -> str:
    """``text`` safe on a log line: control characters escaped, and no ``##[``, which
    GitHub Actions reads as a workflow command anywhere in a line (``##[add-mask]``)."""
    return _UNPRINTABLE.sub(_escape, text).replace("##[", "#\\x23[")


def _cut_word(match: re.Match[str]) -> str:
    """``'aaaa...(1,000,000 characters)...aaaa'``: both ends kept, so are the quotes."""
    word = match[0]
    return f"{word[:100]}...({len(word):,} characters)...{word[-20:]}"


def json_path(path: Sequence[Any]) -> str:
    """``("layers", "fc", "units")`` -> ``$.layers.fc.units``; odd keys are quoted."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


class Stop(Exception):
    """A stage cannot go on (a syntax error, a config it cannot read, an expansion too
    large): raised after the diagnostic that says why, and caught by the stage's own
    entry point, which returns what it has."""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in a spec, with where it is."""

    level: str
    code: str
    message: str
    hint: str | None = None
    file: str = "<spec>"
    line: int = 1
    col: int = 1
    path: JsonPath = field(default=())

    def __post_init__(self) -> None:
        # A message quotes the spec's values. A name holding a line break would start
        # a line of its own in a CI log: a forged diagnostic, or a `::error ...::`
        # that GitHub Actions reads as a workflow command. A megabyte layer type would
        # make a megabyte line. So control characters and `##[` are escaped, overlong
        # words cut.
        message = printable(self.message)
        if len(message) > MAX_WORD and _LONG_WORD.search(message):
            message = _LONG_WORD.sub(_cut_word, message)
        if message != self.message:
            object.__setattr__(self, "message", message)
        if self.hint is not None and printable(self.hint) != self.hint:
            object.__setattr__(self, "hint", printable(self.hint))

    @classmethod
    def at(
        cls, level: str, code: str, message: str, where: Any, hint: str | None = None
    ) -> Diagnostic:
        """A diagnostic at ``where``: a :class:`~modelspec.ir.Source` (file, line, col,
        path), or a node of the spec that carries one as ``source``."""
        src = getattr(where, "source", where)
        return cls(level, code, message, hint, src.file, src.line, src.col, src.path)

    @property
    def is_error(self) -> bool:
        return self.level == ERROR

    @property
    def json_path(self) -> str:
        return json_path(self.path)

    def format(self) -> str:
        """``file:line:col: level CODE: message``, compiler-style."""
        file = printable(self.file)
        if file.lstrip().startswith("::"):
            file = "./" + file
        return f"{file}:{self.line}:{self.col}: {self.level} {self.code}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "level": self.level,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "path": self.json_path,
        }

    def with_level(self, level: str) -> Diagnostic:
        return replace(self, level=level)


class ModelspecError(Exception):
    """The root of every error modelspec raises.

    It carries the diagnostics that caused it, so API users see the same messages
    as the command line.
    """

    def __init__(self, diagnostics: Sequence[Diagnostic] | str):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(ERROR, "MS000", diagnostics)]
        self.diagnostics = list(diagnostics)
        super().__init__(format_all(self.diagnostics, limit=10))


class SpecError(ModelspecError):
    """A spec has errors; ``.diagnostics`` lists them."""


def did_you_mean(name: str, choices: Iterable[str], *, n: int = 1) -> str | None:
    """``"did you mean 'units'?"`` for the closest choice, or None."""
    close = closest(name, choices, n=n)
    if not close:
        return None
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def closest(name: str, choices: Iterable[str], *, n: int = 1) -> list[str]:
    """The choices (at most ``n``) closest to ``name``, best first; none when none is close."""
    names = list(choices)
    pool = names
    if len(pool) > MAX_CANDIDATES:
        # difflib compares against every choice; with 20,000 names and many typos that
        # is minutes. A match at cutoff 0.6 cannot differ in length by more than the
        # shorter length allows, so filter on that first (ratio = 2*M / (len a + len b)).
        pool = [c for c in pool if 0.6 * (len(c) + len(name)) <= 2 * min(len(c), len(name))]
    if len(pool) > MAX_CANDIDATES:
        # Near-identical names (layer_00001 ... layer_19999) all pass that filter, and
        # each costs difflib the most. Keep the names next to ``name`` in sorted order,
        # and in sorted order of their reversal: those that share the longest start or
        # end with it, where a typo usually leaves most of a name alone.
        pool = _neighbours(pool, name, str) | _neighbours(pool, name, _reversed)
    close = difflib.get_close_matches(name, pool, n=n, cutoff=0.6)
    if not close:
        # A case slip ("dense" for "Dense") scores low with difflib's ratio.
        lowered = {c.lower(): c for c in names}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return close


def _reversed(text: str) -> str:
    return text[::-1]


def _neighbours(pool: list[str], name: str, key: Any) -> set[str]:
    """The ``MAX_CANDIDATES // 4`` names on each side of ``name`` in ``pool`` sorted by
    ``key``: half the candidates, the other half from another order."""
    ordered = sorted(pool, key=key)
    at = bisect.bisect_left([key(c) for c in ordered], key(name))
    half = MAX_CANDIDATES // 4
    return set(ordered[max(0, at - half) : at + half])


def cut_list(items: Sequence[str], limit: int = 8) -> str:
    """``'a', 'b', 'c' ... and 4 more``"""
    shown = ", ".join(items[:limit])
    if len(items) > limit:
        shown += f" ... and {len(items) - limit} more"
    return shown


def format_all(
    diagnostics: Sequence[Diagnostic],
    *,
    limit: int | None = None,
    source: str | Mapping[str, str] | None = None,
) -> str:
    """Compiler-style text for many diagnostics, cut at ``limit`` with "... and N more".

    With ``source``, each diagnostic shows its line with a caret: ``source`` is the
    spec's text, or each file's text by name (``Document.texts``) when a spec includes
    others; a diagnostic in a file not there shows no line rather than a wrong one.
    """
    lines: list[str] = []
    shown = diagnostics if limit is None else diagnostics[:limit]
    split: dict[str, list[str]] = {}

    def source_of(file: str) -> list[str] | None:
        if source is None or isinstance(source, str):
            return None if source is None else split.setdefault("", source_lines(source))
        if file not in split and file in source:
            split[file] = source_lines(source[file])
        return split.get(file)

    for d in shown:
        lines.append(d.format())
        text_lines = source_of(d.file)
        if text_lines is not None and 1 <= d.line <= len(text_lines):
            text = text_lines[d.line - 1]
            # A column counts a tab as one character, so the line is shown with each
            # tab as one space: a terminal's tab stops would move the caret.
            plain = text.replace("\t", " ")
            # A line with a control character or a bidirectional override (raw in
            # the spec) is not shown: it could show something else than it holds; nor
            # one that GitHub Actions would read as a workflow command (`::error::`).
            if (
                len(text) <= 200
                and printable(plain) == plain
                and not plain.lstrip().startswith("::")
            ):
                lines.append(f"    {plain}")
                lines.append("    " + caret_padding(plain, d.col) + "^")
        if d.hint:
            lines.append(f"    hint: {d.hint}")
    if limit is not None and len(diagnostics) > limit:
        lines.append(f"... and {len(diagnostics) - limit} more")
    return "\n".join(lines)


# Where editors, YAML and ``file:line`` tools break lines. str.splitlines also breaks
# at form feeds, U+0085, U+2028 and others, which would show a later line than the
# one a diagnostic names.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def source_lines(text: str) -> list[str]:
    """``text``'s lines as diagnostics count them: at LF, CRLF and CR only.

    >>> source_lines("a\\u2028b\\r\\nc\\rd")
    ['a\\u2028b', 'c', 'd']
    """
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def caret_padding(line: str, col: int) -> str:
    """The spaces that put a caret under column ``col`` of ``line`` on a terminal: a
    wide character (CJK, most emoji) takes two cells, a combining mark none."""
    before = line[: col - 1]
    if before.isascii():
        return " " * len(before)
    import unicodedata

    cells = 0
    for char in before:
        if unicodedata.combining(char):
            continue
        cells += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return " " * (cells + max(0, col - 1 - len(before)))
