"""Spec text -> plain JSON data, with the source position of every key and value.

# NOTE: [why not yaml.safe_load]
``yaml.safe_load`` is safe from code execution, but not enough for a linter that
reads specs from untrusted pull requests:

- it keeps the last of two duplicate keys without a word;
- it expands aliases, so a 9-level "billion laughs" becomes billions of nodes;
- its composer recurses: the pure-Python one raises RecursionError near 500 levels
  and libyaml's C one segfaults near 50,000;
- it turns ``2001-12-14`` into a ``date``, ``yes`` into ``True``, ``012`` into 10 and
  ``1e3`` into a string; and it forgets where every value came from.

So we read the YAML *event* stream (libyaml's parser when present, which keeps an
explicit state stack and never recurses) and build the JSON value ourselves with an
explicit stack. That gives exact positions for every node, and each of the cases
above becomes a diagnostic with a line and a column. JSON files go through the same
event reader (JSON is YAML flow syntax) plus ``json.loads`` for JSON's own rules.

Example::

    >>> doc, diags = loads("modelspec: 1\\nname: m\\n", "m.yaml")
    >>> doc.data, doc.position(("name",))
    ({'modelspec': 1, 'name': 'm'}, (2, 7))
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelspec.errors import ERROR, Diagnostic, JsonPath

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_INT_DIGITS = 19
MAX_DIAGNOSTICS = 200
# Keys, scalars, lists and mappings in one spec. The byte cap alone lets 8 MiB of
# `[1,1,1,...]` through: four million values, half a minute and a gigabyte to read.
# A 10,000-layer spec holds about 100,000; this keeps every lint of an untrusted spec
# within about two seconds on two cores (SECURITY.md).
MAX_NODES = 150_000

_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
# YAML 1.2 / JSON floats: a dot or an exponent makes a float, so ``1e3`` is 1000.0.
_FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_NUMERIC_START = frozenset("0123456789+-.")
_BOOL_11 = frozenset({"yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"})
# Integers that YAML 1.2 reads as numbers (in another base, or decimals with a
# leading zero), where YAML 1.1 sees a string.
_INT_12_BASES = re.compile(r"[-+]?(?:0o[0-7]+|0x[0-9a-fA-F]+|0[0-9]+)\Z")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?\Z")
_NON_FINITE = re.compile(r"[-+]?\.(?:inf|Inf|INF|nan|NaN|NAN)\Z")
_CORE = "tag:yaml.org,2002:"
# How YAML 1.1 (PyYAML's own resolvers) would read a plain scalar that we read as a
# string: a boolean, a number in another base or format, or a date.
_YAML_11 = {
    tag.removeprefix(_CORE): regex
    for resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.values()
    for tag, regex in resolvers
    if tag.removeprefix(_CORE) in ("bool", "int", "float", "timestamp")
}

_SCALAR_TAGS = {f"{_CORE}{t}": t for t in ("str", "int", "float", "bool", "null")}
_COLLECTION_TAGS = {f"{_CORE}map", f"{_CORE}seq"}


@dataclass(slots=True)
class Document:
    """A spec's data, and where in the text each part of it came from."""

    file: str
    text: str
    data: Any
    positions: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    # Only in a document composed from several files (`include:`, see NOTE: [positions
    # across files] in modelspec/include.py): the file each part from another file
    # came from, by the path of that part, and those files' texts. Empty otherwise, so
    # a plain spec's diagnostics cost nothing more.
    files: dict[JsonPath, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def file_at(self, path: JsonPath) -> str:
        """The file the value at ``path`` was written in."""
        if self.files:
            for n in range(len(path), 0, -1):
                file = self.files.get(tuple(path[:n]))
                if file is not None:
                    return file
        return self.file

    @property
    def texts(self) -> dict[str, str]:
        """Every file's text by its name, for showing a diagnostic's line
        (``format_all(diags, source=doc.texts)``)."""
        return {self.file: self.text, **self.sources}

    def position(self, path: JsonPath, *, key: bool = False) -> tuple[int, int]:
        """``(line, col)`` of the value at ``path`` (of its key, with ``key=True``).

        A path that does not exist (a missing key) falls back to its nearest parent.
        """
        path = tuple(path)
        while True:
            if key and path in self.key_positions:
                return self.key_positions[path]
            if path in self.positions:
                return self.positions[path]
            if not path:
                return (1, 1)
            path = path[:-1]

    def diagnostic(
        self,
        code: str,
        message: str,
        path: JsonPath = (),
        *,
        hint: str | None = None,
        level: str = ERROR,
        key: bool = False,
    ) -> Diagnostic:
        line, col = self.position(path, key=key)
        file = self.file_at(path) if self.files else self.file
        return Diagnostic(level, code, message, hint, file, line, col, tuple(path))


_EXOTIC_BREAKS = ("\x85", "\u2028", "\u2029")
_HIDDEN_BREAKS = ("\ue085", "\uf028", "\uf029")
_HIDE_BREAKS = str.maketrans(dict(zip(_EXOTIC_BREAKS, _HIDDEN_BREAKS)))
_RESTORE_BREAKS = str.maketrans(dict(zip(_HIDDEN_BREAKS, _EXOTIC_BREAKS)))


def _positions(text: str) -> Any:
    """``mark -> (line, col)``, 1-based, counting lines as editors do.

    YAML also breaks lines at U+0085, U+2028 and U+2029, which editors and
    ``file:line`` tools do not; only then are lines counted from the text itself.
    """
    if not any(c in text for c in _EXOTIC_BREAKS):
        return lambda mark: (mark.line + 1, mark.column + 1)
    starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(mark: Any) -> tuple[int, int]:
        line = bisect.bisect_right(starts, mark.index)
        return line, mark.index - starts[line - 1] + 1

    return position


class _Stop(Exception):
    """Parsing cannot go on (a syntax error, too deep, too many problems)."""


class _Frame:
    """An open mapping or sequence while the builder walks the events."""

    __slots__ = ("container", "path", "key", "key_mark", "seen")

    def __init__(self, container: Any, path: JsonPath):
        self.container = container
        self.path = path
        self.key: str | None = None  # the key whose value comes next, in a mapping
        self.key_mark: Any = None
        self.seen: dict[str, tuple[int, int]] = {}

    @property
    def awaiting_key(self) -> bool:
        return self.key is None and isinstance(self.container, dict)

    def child_path(self) -> JsonPath:
        if isinstance(self.container, list):
            return (*self.path, len(self.container))
        return (*self.path, self.key)

    def set_key(self, key: str, mark: Any, position: Any, key_positions: dict) -> None:
        self.key, self.key_mark = key, mark
        pos = position(mark)
        if key not in self.seen:
            self.seen[key] = pos
            key_positions[(*self.path, key)] = pos


class _Builder:
    """Builds plain JSON data from YAML events with an explicit stack."""

    def __init__(self, file: str, text: str, *, json_mode: bool = False):
        self.json_mode = json_mode
        self.restore: dict[int, int] | None = None  # see loads(): hidden line breaks
        self.doc = Document(file, text, None)
        self.diagnostics: list[Diagnostic] = []
        self.pos = _positions(text)
        # The open containers, and the last event read: where the reader stopped, if it
        # stops with an error of its own (see too_deep).
        self.stack: list[_Frame] = []
        self.last: Any = None

    def error(self, code: str, message: str, mark: Any, path: JsonPath, hint: str | None = None):
        line, col = self.pos(mark)
        self.diagnostics.append(
            Diagnostic(ERROR, code, message, hint, self.doc.file, line, col, path)
        )
        if len(self.diagnostics) >= MAX_DIAGNOSTICS:
            raise _Stop

    def run(self, events: Iterator[Any]) -> None:
        stack: list[_Frame] = self.stack
        root: list[Any] = []
        documents = 0
        nodes = 0
        positions = self.doc.positions

        def attach(value: Any, mark: Any, path: JsonPath) -> JsonPath:
            """Put ``value`` at ``path``, the next place in the open container."""
            if not stack:
                root.append(value)
                positions[()] = self.pos(mark)
                return ()
            frame = stack[-1]
            container = frame.container
            if isinstance(container, list):
                container.append(value)
            else:
                key = frame.key
                if key in container:
                    first = frame.seen[key]
                    self.error(
                        "MS008",
                        f"duplicate key '{key}'; the first is at line {first[0]}, column {first[1]}",
                        frame.key_mark,
                        path,
                        hint="YAML and JSON loaders silently keep only one of the two; remove one",
                    )
                    frame.key = None
                    return path
                container[key] = value
                frame.key = None
            positions.setdefault(path, self.pos(mark))
            return path

        for event in events:
            kind = type(event)
            if kind is yaml.StreamStartEvent or kind is yaml.StreamEndEvent:
                continue
            if kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    msg = "a spec file holds one YAML document; found a second"
                    self.error("MS006", msg, event.start_mark, ())
                    raise _Stop
                continue
            if kind is yaml.DocumentEndEvent:
                continue
            if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                stack.pop()
                continue
            nodes += 1
            if nodes > MAX_NODES:
                self.error(
                    "MS001",
                    f"the spec holds more than {MAX_NODES:,} values (keys, items and scalars)",
                    event.start_mark,
                    (),
                    hint="a spec of 10,000 layers holds about 100,000; split the model, "
                    "or see SECURITY.md to raise the limit",
                )
                raise _Stop
            top = stack[-1] if stack else None
            awaiting_key = top is not None and top.awaiting_key
            if top is None:
                path: JsonPath = ()
            else:
                path = top.path if awaiting_key else top.child_path()
            if kind is yaml.AliasEvent or getattr(event, "anchor", None) is not None:
                self.error(
                    "MS007",
                    "YAML anchors and aliases are not allowed in a spec",
                    event.start_mark,
                    path,
                    hint="define a layer once under `layers:` and call it by name instead",
                )
                if kind is yaml.AliasEvent:
                    if awaiting_key:
                        raise _Stop
                    attach(None, event.start_mark, path)
                    continue
            if kind is yaml.ScalarEvent:
                if awaiting_key:
                    assert top is not None
                    key = (
                        event.value if self.restore is None else event.value.translate(self.restore)
                    )
                    top.set_key(key, event.start_mark, self.pos, self.doc.key_positions)
                    continue
                attach(self.scalar(event, path), event.start_mark, path)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if awaiting_key:
                    self.error(
                        "MS009", "mapping keys must be plain strings", event.start_mark, path
                    )
                    raise _Stop
                tag = event.tag
                if tag is not None and tag not in _COLLECTION_TAGS and tag != "!":
                    self.tag_error(event, path)
                if len(stack) >= MAX_DEPTH:
                    self.error(
                        "MS010",
                        f"nesting deeper than {MAX_DEPTH} levels is not allowed",
                        event.start_mark,
                        path,
                        hint="a spec is a shallow document; check for runaway brackets",
                    )
                    raise _Stop
                container: Any = {} if kind is yaml.MappingStartEvent else []
                stack.append(_Frame(container, attach(container, event.start_mark, path)))
        self.doc.data = root[0] if root else None

    def too_deep(self, text: str, stop: int) -> bool:
        """Report MS010 if the flow brackets read ahead of the events reach past
        ``MAX_DEPTH`` before index ``stop``, where the reader gave up.

        A reader may look ahead and stop at its own nesting limit (libyaml does since
        PyYAML 6.0.4, with its own wording) before the events reach modelspec's, so the
        depth is counted again from the text: the containers open at the last event,
        plus the brackets after it. Quoted strings and comments are skipped.
        """
        start = self.last.end_mark.index if self.last is not None else 0
        depth = len(self.stack)
        for index, char in _flow_brackets(text, start, stop + 1):
            if char in "[{":
                if depth >= MAX_DEPTH:
                    line, col = _index_position(text, index)
                    path = self.stack[-1].path if self.stack else ()
                    self.diagnostics.append(Diagnostic(
                        ERROR, "MS010", f"nesting deeper than {MAX_DEPTH} levels is not allowed",
                        "a spec is a shallow document; check for runaway brackets",
                        self.doc.file, line, col, path))  # fmt: skip
                    return True
                depth += 1
            else:
                depth = max(depth - 1, 0)
        return False

    def tag_error(self, event: Any, path: JsonPath) -> None:
        tag = event.tag.replace(_CORE, "!!")
        self.error(
            "MS004",
            f"YAML tag '{tag}' is not allowed: a spec holds plain data only",
            event.start_mark,
            path,
            hint="remove the tag; quote the value if it should be a string",
        )

    def scalar(self, event: Any, path: JsonPath) -> Any:
        text = event.value if self.restore is None else event.value.translate(self.restore)
        tag = event.tag
        if tag is not None and tag != "!":
            kind = _SCALAR_TAGS.get(tag)
            if kind is None:
                self.tag_error(event, path)
                return None
            if kind == "str":
                return text
            value = self.plain(text, event.start_mark, path)
            wanted = {"int": int, "float": (int, float), "bool": bool, "null": type(None)}[kind]
            if not isinstance(value, wanted) or (
                kind in ("int", "float") and isinstance(value, bool)
            ):
                self.error(
                    "MS004",
                    f"tag '!!{kind}' does not fit the value {text[:40]!r}",
                    event.start_mark,
                    path,
                    hint=f"write a plain {kind} value, or drop the tag",
                )
                return None
            return float(value) if kind == "float" else value
        elif event.style:  # quoted or block scalars are strings ('' or None: plain)
            return text
        return self.plain(text, event.start_mark, path)

    def ambiguous_bool(self, text: str, mark: Any, path: JsonPath) -> None:
        """The YAML 1.1 booleans (yes, no, on, off) that YAML 1.2 reads as strings."""
        word = "true" if text.lower() in ("yes", "on") else "false"
        self.error(
            "MS011",
            f"'{text}' is ambiguous: YAML 1.1 reads it as a boolean, YAML 1.2 as a string",
            mark,
            path,
            hint=f"write {word} for a boolean, or quote it ('{text}') for a string",
        )

    def plain(self, text: str, mark: Any, path: JsonPath) -> Any:
        if (
            self.json_mode
            and text not in ("null", "true", "false")
            and not _JSON_NUMBER.match(text)
        ):
            if text in ("NaN", "Infinity", "-Infinity"):
                self.error("MS005", f"non-finite number '{text}' is not allowed in JSON", mark, path,
                           hint="NaN and infinity are not JSON values; use a finite number")  # fmt: skip
            else:
                hint = (
                    "JSON has no comments"
                    if "//" in text or "/*" in text
                    else "strings are written in double quotes"
                )
                self.error(
                    "MS003",
                    f"invalid JSON: {text[:40]!r} is not a JSON value",
                    mark,
                    path,
                    hint=hint,
                )
            return None
        if text in _NULL:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if text[0] not in _NUMERIC_START:
            # Numbers, dates and the non-finite floats all start with one of these (as
            # PyYAML's resolvers, keyed by first character, also assume); most plain
            # scalars are names like `relu` and need no regex at all.
            if text in _BOOL_11:
                return self.ambiguous_bool(text, mark, path)
            return text
        if _INT.match(text):
            digits = len(text.lstrip("+-"))
            if digits > MAX_INT_DIGITS:
                self.error(
                    "MS005",
                    f"integer with {digits} digits is too large; the limit is {MAX_INT_DIGITS}",
                    mark,
                    path,
                )
                return None
            return int(text)
        if len(text) > 1000:
            # No number a spec needs is this long, and trying the patterns below on
            # megabytes of digits takes seconds: it is a string.
            return text
        if _FLOAT.match(text) and ("." in text or "e" in text or "E" in text):
            value = float(text)
            if not math.isfinite(value):
                self.error("MS005", f"number {text[:40]} overflows to infinity", mark, path)
                return None
            return value
        if _NON_FINITE.match(text):
            self.error(
                "MS005",
                f"non-finite number '{text}' is not allowed",
                mark,
                path,
                hint="NaN and infinity are not JSON values; use a finite number",
            )
            return None
        yaml_11 = next((kind for kind, regex in _YAML_11.items() if regex.match(text)), None)
        if yaml_11 in ("int", "float") or _INT_12_BASES.match(text):
            self.error(
                "MS011",
                f"'{text}' is ambiguous: YAML {'1.1' if yaml_11 else '1.2'} reads it as a number "
                "in another base or format",
                mark,
                path,
                hint="write a plain decimal number, or quote it for a string",
            )
            return None
        if yaml_11 == "timestamp":
            self.error(
                "MS011",
                f"'{text}' would be read as a date, which is not a JSON value",
                mark,
                path,
                hint="quote it for a string",
            )
            return None
        return text


def _decode(raw: bytes, file: str) -> tuple[str | None, list[Diagnostic]]:
    """Bytes -> text: UTF-8 only, no NUL bytes, a BOM is dropped."""

    def at(offset: int, code: str, message: str, hint: str | None = None) -> Diagnostic:
        before = raw[:offset]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        return Diagnostic(ERROR, code, message, hint, file, line, col)

    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    nul = raw.find(b"\0")
    if nul >= 0:
        return None, [at(nul, "MS002", "the file contains a NUL byte; a spec is UTF-8 text")]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        msg = f"the file is not valid UTF-8: byte 0x{raw[exc.start]:02x} cannot start a character"
        return None, [at(exc.start, "MS002", msg, "save the spec as UTF-8")]


def _json_value(text: str, file: str) -> tuple[Any, list[Diagnostic]]:
    """The JSON value by JSON's own rules, which the YAML reader does not know: no NaN,
    no trailing commas or comments; surrogate-pair escapes and raw C1 characters
    allowed in strings."""

    def constant(name: str) -> Any:
        raise ValueError(f"non-finite number '{name}' is not allowed in JSON")

    try:
        return json.loads(text, parse_constant=constant), []
    except json.JSONDecodeError as exc:
        msg = f"invalid JSON: {exc.msg}"
        return None, [Diagnostic(ERROR, "MS003", msg, None, file, exc.lineno, exc.colno)]
    except (ValueError, RecursionError) as exc:
        return None, [Diagnostic(ERROR, "MS003", f"invalid JSON: {exc}", None, file, 1, 1)]


# In JSON text, what the YAML reader refuses or reads otherwise is replaced by text of
# the same length, so positions are kept (the values come from json.loads). Tabs
# between tokens become spaces; inside strings, raw C1 controls, line separators and
# escaped surrogates are moved to the private-use area, one to one, so that two
# different keys stay different for the duplicate-key check.
_JSON_FOR_YAML = re.compile(
    r"[\t\x7f-\x9f\u2028\u2029]|(?<!\\)((?:\\\\)*)\\u([dD][89a-fA-F][0-9a-fA-F]{2})"
)
_PRIVATE = {"\u2028": "\uf028", "\u2029": "\uf029"}


def _json_for_yaml(match: re.Match[str]) -> str:
    if match.group(2) is not None:  # an escaped surrogate: \ud83d -> \ue83d
        return match.group(1) + "\\u" + "e" + match.group(2)[1:]
    char = match.group(0)
    if char == "\t":
        return " "
    return _PRIVATE.get(char) or chr(0xE000 + ord(char))


def _lone_surrogate(value: Any) -> bool:
    """Whether a JSON value holds a lone surrogate (``"\\ud83d"`` without its pair)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def loads(
    text: str, file: str = "<spec>", *, fmt: str | None = None
) -> tuple[Document | None, list[Diagnostic]]:
    """Parse spec text. ``fmt`` is ``"json"`` or ``"yaml"`` (default: from the file name)."""
    if fmt is None:
        fmt = "json" if file.endswith(".json") else "yaml"
    if len(text) > MAX_BYTES:
        return None, [
            Diagnostic(
                ERROR,
                "MS001",
                f"the spec is larger than the {MAX_BYTES // 2**20} MiB limit",
                None,
                file,
            )
        ]
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        return None, [
            Diagnostic(
                ERROR,
                "MS002",
                "the file contains a NUL byte; a spec is UTF-8 text",
                None,
                file,
                line,
            )
        ]
    builder = _Builder(file, text, json_mode=fmt == "json")
    if fmt == "json":
        parse_text = _JSON_FOR_YAML.sub(_json_for_yaml, text)
    elif any(c in text for c in _EXOTIC_BREAKS) and not any(c in text for c in _HIDDEN_BREAKS):
        # YAML 1.2 breaks lines at LF and CR only; PyYAML (YAML 1.1) also at U+0085,
        # U+2028 and U+2029, which would end a comment or fold a string. Hide them from
        # the parser (same length, so positions hold) and restore them in the values.
        parse_text = text.translate(_HIDE_BREAKS)
        builder.restore = _RESTORE_BREAKS
    else:
        parse_text = text
    parser = _Parser(parse_text)
    try:
        builder.run(_events(parser, builder))
    except _Stop:
        return None, builder.diagnostics
    except yaml.reader.ReaderError as exc:
        line, col = _index_position(parse_text, exc.position)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        msg = (
            f"the file contains the control character U+{ord(char):04X}, which YAML does not allow"
        )
        hint = 'remove it, or write it as an escape in a double-quoted string ("\\x7f")'
        builder.diagnostics.append(Diagnostic(ERROR, "MS002", msg, hint, file, line, col))
        return None, builder.diagnostics
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if builder.too_deep(parse_text, mark.index if mark is not None else len(parse_text)):
            return None, builder.diagnostics[-1:]
        if fmt == "json":
            _, json_diags = _json_value(text, file)
            if json_diags:  # json.loads is the authority on JSON syntax
                return None, json_diags
            # Valid JSON that the YAML reader refuses (a key over YAML's 1024 characters):
            # what the reader said about the text before giving up is noise.
            builder.diagnostics = []
        line, col = builder.pos(mark) if mark else (1, 1)
        what = "JSON" if fmt == "json" else "YAML"
        problem = exc.problem or str(exc)
        hint = None
        if mark is not None and _long_key_before(parse_text, mark.index):
            problem = f"a key of more than 1024 characters ends here ({problem})"
            hint = (
                "YAML allows keys of at most 1024 characters, and modelspec reads JSON "
                "with the same reader; names are at most 200"
            )
        elif mark is not None and parse_text[mark.index : mark.index + 1] == "\t":
            hint = "YAML indents with spaces, never tabs"
        elif (
            mark is not None
            and parse_text[mark.index : mark.index + 1] == "["
            and "expected ','" in problem
        ):
            hint = 'inside {...}, quote a tensor index: to: "enc[1]"'

        builder.diagnostics.append(
            Diagnostic(ERROR, "MS003", f"invalid {what}: {problem}", hint, file, line, col)
        )
        return None, builder.diagnostics
    except yaml.YAMLError as exc:
        builder.diagnostics.append(Diagnostic(ERROR, "MS003", f"invalid YAML: {exc}", None, file))
        return None, builder.diagnostics
    finally:
        parser.dispose()
    if fmt == "json" and not builder.diagnostics:
        value, json_diags = _json_value(text, file)
        if not json_diags and _lone_surrogate(value):
            m = re.search(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}", text)
            line, col = _index_position(text, m.start()) if m else (1, 1)
            msg = "a string holds half of a surrogate pair (a lone \\ud800-\\udfff escape), which is not text"
            json_diags = [
                Diagnostic(
                    ERROR,
                    "MS002",
                    msg,
                    "write the character itself, or its full pair",
                    file,
                    line,
                    col,
                )
            ]
        builder.diagnostics += json_diags
        builder.doc.data = value
    if builder.diagnostics:
        return builder.doc, builder.diagnostics
    return builder.doc, []


def _long_key_before(text: str, index: int) -> bool:
    """Whether the text before ``index`` ends, on its line, with a key of over 1024
    characters: YAML's limit on a key (which JSON does not have), where the reader
    stops with a message about something else.

    Conservative: a key with an escaped quote or a space inside counts shorter.
    """
    before = text[text.rfind("\n", 0, index) + 1 : index].rstrip(" ")
    if len(before) <= 1024:
        return False
    if before[-1] in "\"'":
        start = before.rfind(before[-1], 0, len(before) - 1)
        return start >= 0 and len(before) - start > 1024
    plain = len(before) - len(before.rstrip("".join(set(before[-1025:]) - set(" \t,[]{}"))))
    return plain > 1024


_SPECIAL = re.compile(r"""[\[\]{}"'#\\\n]""")


def _flow_brackets(text: str, start: int, stop: int) -> Iterator[tuple[int, str]]:
    """``(index, bracket)`` for the flow brackets in ``text[start:stop]`` outside quoted
    strings and comments.

    A small state machine over the special characters alone, so it is linear however
    the quotes are arranged (a regex for a quoted string backtracks on unterminated ones).
    """
    quote: str | None = None  # the open quote, if inside a quoted string
    comment = False
    escaped = -1  # the index of a character escaped by a backslash
    for m in _SPECIAL.finditer(text, start, stop):
        char, index = m.group(), m.start()
        if comment:
            comment = char != "\n"
        elif quote == '"':
            if char == "\\" and index != escaped:
                escaped = index + 1
            elif char == '"' and index != escaped:
                quote = None
        elif quote == "'":
            quote = None if char == "'" else quote  # '' inside reopens at the next quote
        elif char in "\"'":
            # A quote opens a string only where a value starts ('' in a single-quoted
            # string closes and reopens it); in `it's` it is text.
            before = text[index - 1] if index else "\n"
            if before in " \t\n[{,:" or (char == "'" and before == "'"):
                quote = char
        elif char == "#":
            comment = index == 0 or text[index - 1] in " \t\n"
        elif char in "[]{}":
            yield index, char


def _index_position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _events(parser: Any, builder: _Builder) -> Iterator[Any]:
    # get_event alone, up to the stream's end: check_event first would double the
    # calls into the parser, a fifth of the loader's time on a large spec.
    while True:
        event = parser.get_event()
        builder.last = event
        yield event
        if event is None or type(event) is yaml.StreamEndEvent:
            return


def load(
    path: str | os.PathLike[str], *, display: str | None = None
) -> tuple[Document | None, list[Diagnostic]]:
    """Read and parse a spec file; every failure is a diagnostic, never an exception."""
    name = display if display is not None else str(path)
    p = Path(path)
    try:
        st = p.stat()
        size = st.st_size
        if p.is_dir():
            return None, [
                Diagnostic(ERROR, "MS001", f"'{name}' is a directory, not a spec file", None, name)
            ]
        if not stat.S_ISREG(st.st_mode):  # a FIFO or a device: reading could block or never end
            return None, [Diagnostic(ERROR, "MS001", f"'{name}' is not a regular file", None, name)]
        if p.is_symlink() and not p.resolve().is_relative_to(Path.cwd().resolve()):
            # A pull request can commit `specs/x.yaml -> ~/.aws/credentials`; the messages
            # would show the start of that file in a public CI log.
            msg = f"'{name}' is a symbolic link to a file outside the current folder; not read"
            hint = "lint the file it points to by its own path, if you trust it"
            return None, [Diagnostic(ERROR, "MS001", msg, hint, name)]
        if size > MAX_BYTES:
            msg = f"the spec is {size / 2**20:.1f} MiB, over the {MAX_BYTES // 2**20} MiB limit"
            return None, [Diagnostic(ERROR, "MS001", msg, None, name)]
        with p.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None, [Diagnostic(ERROR, "MS001", f"no such file: '{name}'", None, name)]
    except OSError as exc:
        return None, [
            Diagnostic(ERROR, "MS001", f"cannot read '{name}': {exc.strerror}", None, name)
        ]
    if len(raw) > MAX_BYTES:
        return None, [
            Diagnostic(
                ERROR, "MS001", f"the spec is over the {MAX_BYTES // 2**20} MiB limit", None, name
            )
        ]
    text, diags = _decode(raw, name)
    if text is None:
        return None, diags
    fmt = "json" if name.endswith(".json") else "yaml"
    return loads(text, name, fmt=fmt)
