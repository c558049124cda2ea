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

from modelspec.errors import ERROR, Diagnostic, JsonPath, Stop

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
    # across files] in modelspec/source/include.py): the file each part from another file
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
            raise Stop

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
                    raise Stop
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
                raise Stop
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
                        raise Stop
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
                    raise Stop
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
                    raise Stop
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
                if "//" in text or "/*" in text:
                    hint = "JSON has no comments"
                elif text in ("True", "False", "None"):
                    hint = "JSON writes true, false and null, in lower case"
                elif len(text.split()) > 1 and all(
                    _JSON_NUMBER.match(w) or w in ("true", "false", "null") for w in text.split()
                ):
                    hint = "a ',' is missing between two values"
                else:
                    hint = "strings are written in double quotes"
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
        # "Invalid control character at": the position follows in `json`'s own text.
        msg = f"invalid JSON: {exc.msg.removesuffix(' at')}"
        hint, at = syntax_hint(text, exc.pos, json_mode=True)
        line, col = (exc.lineno, exc.colno) if at is None else _index_position(text, at)
        return None, [Diagnostic(ERROR, "MS003", msg, hint, file, line, col)]
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
    except Stop:
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
                return builder.doc, json_diags
            # Valid JSON that the YAML reader refuses (a key over YAML's 1024 characters):
            # what the reader said about the text before giving up is noise.
            builder.diagnostics = []
        line, col = builder.pos(mark) if mark else (1, 1)
        what = "JSON" if fmt == "json" else "YAML"
        # The reader's words are detail; the hint comes from the text (NOTE: [syntax hints]).
        problem = exc.problem or str(exc)
        if mark is not None and _long_key_before(parse_text, mark.index):
            problem = f"a key of more than 1024 characters ends here ({problem})"
            hint = (
                "YAML allows keys of at most 1024 characters, and modelspec reads JSON "
                "with the same reader; names are at most 200"
            )
        else:
            stop = mark.index if mark is not None else len(parse_text)
            hint, at = syntax_hint(parse_text, stop, json_mode=False)
            if at is not None:
                line, col = _index_position(parse_text, at)
        builder.diagnostics.append(
            Diagnostic(ERROR, "MS003", f"invalid {what}: {problem}", hint, file, line, col)
        )
        # The document has no data, but its text: a diagnostic shows its line.
        return builder.doc, builder.diagnostics
    except yaml.YAMLError as exc:
        builder.diagnostics.append(Diagnostic(ERROR, "MS003", f"invalid YAML: {exc}", None, file))
        return builder.doc, builder.diagnostics
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


# --- hints for syntax errors ----------------------------------------------------------------

# NOTE: [syntax hints]
# A reader stops at the first thing it cannot read, with a message about its own state
# ("did not find expected key", "Expecting ',' delimiter"). Those words name the
# reader's state, not the writer's mistake, and they change: PyYAML 6.0.3 and 6.0.4
# word some errors differently, and libyaml, the pure-Python reader and `json` each
# have their own. So no hint depends on them. A hint comes from the text around where
# the reader stopped, read with a few plain rules: what is still open there (a quote,
# a bracket), the character at the stop, the indentation of the lines above it. The
# reader's message stays in the diagnostic as detail, and when no rule fits a general
# hint says where to look. Only a file that failed to parse is read this way, and only
# up to _HINT_SCAN_CHARS characters of it, so the common path pays nothing.

_HINT_SCAN_CHARS = 1 << 20
_HINT_LOOKBACK_LINES = 500  # lines looked back at for the indentation rules
TAB_HINT = "YAML indents with spaces, never tabs"
_CLOSER = {"[": "]", "{": "}"}
_OPENER = {"]": "[", "}": "{"}
_KIND = {"[": "list", "{": "mapping"}
_HINT_SPECIAL = re.compile(r"""[\[\]{}"'#\\\n]""")
# A line that ends in a block scalar's indicator (`key: |`, `- >-`): the lines below it
# that are indented deeper are text.
_BLOCK_SCALAR = re.compile(r"(?:^[ \t]*|:[ \t]+|-[ \t]+)[|>][-+1-9]{0,2}[ \t]*(?:#.*)?$")
# `key:` at the start of a line's content (after its indentation and any `- `).
_KEY = re.compile(
    r"""(?:"[^"\n]*"|'[^'\n]*'|[^\s#'"\[\]{}:,-][^#\n]*?|-[^\s#\n][^#\n]*?):(?:[ \t]|$)"""
)
_NO_SPACE_KEY = re.compile(r"[A-Za-z_][\w.-]*:[^\s:/\\]")
_NO_SPACE_DASH = re.compile(r"-[A-Za-z_\"'{\[]")


@dataclass(slots=True)
class _Open:
    """What is open in a text where a reader stopped, and what never closes."""

    quote: int | None = None  # the quote whose string is open at the stop
    brackets: list[int] = field(default_factory=list)  # open at the stop, outermost first
    unclosed: set[int] = field(default_factory=set)  # never closed, or by the other kind
    # (opening, closing) of the brackets closed by their match, by where they open
    closed: list[tuple[int, int]] = field(default_factory=list)
    inner_lines: set[int] = field(default_factory=set)  # lines (1-based) that start inside
    # a quoted string, brackets or a block scalar: not lines of the block structure


def _value_start(text: str, index: int, flow: bool) -> bool:
    """Whether a quote or bracket at ``index`` starts a value, as YAML reads it: at the
    start of a line, after `key: ` or `- `, or inside brackets after `[`, `{`, `,`, `:`.
    Elsewhere (`it's`, `a[1]` in a plain value) it is text."""
    j = index - 1
    while j >= 0 and text[j] in " \t":
        j -= 1
    if j < 0 or text[j] == "\n":
        return True
    before = text[j]
    if flow:
        return before in "[{,:?"
    if before not in ":-?" or j == index - 1:
        return False
    if before == "-":  # an item's dash: only indentation or other dashes before it
        start = text.rfind("\n", 0, j) + 1
        return not text[start:j].strip(" \t-")
    return True


def _scan(text: str, stop: int, json_mode: bool) -> _Open:
    """Quotes, brackets and block scalars in ``text``, with what is open at ``stop``.

    A small state machine over the special characters alone, so it is linear however
    the quotes are arranged.
    """
    state = _Open()
    stack: list[int] = []
    quote: int | None = None
    snapped = False
    line = 1
    block_indent: int | None = None  # the indentation of an open block scalar's key
    n = len(text)
    i = 0
    while True:
        m = _HINT_SPECIAL.search(text, i)
        index = m.start() if m else n
        if not snapped and index >= stop:
            state.quote, state.brackets, snapped = quote, list(stack), True
        if m is None:
            break
        char = m.group()
        i = index + 1
        if char == "\n":
            if json_mode and quote is not None:
                quote = None  # a JSON string ends at its line (the reader stopped there)
            if quote is None and not stack and not json_mode:
                line_start = text.rfind("\n", 0, index) + 1
                content = text[line_start:index].rstrip("\r")
                if (
                    block_indent is None
                    and ("|" in content or ">" in content)
                    and _BLOCK_SCALAR.search(content)
                ):
                    block_indent = len(content) - len(content.lstrip(" "))
            line += 1
            if quote is not None or stack:
                state.inner_lines.add(line)
            elif block_indent is not None:
                # Skip the block scalar's lines: blank, or indented deeper than its key.
                while i < n:
                    end = text.find("\n", i)
                    end = n if end < 0 else end
                    body = text[i:end].rstrip("\r")
                    if body.strip() and len(body) - len(body.lstrip(" ")) <= block_indent:
                        block_indent = None
                        break
                    if not snapped and end >= stop:
                        state.quote, state.brackets, snapped = None, [], True
                    state.inner_lines.add(line)
                    if end >= n:
                        i = n
                        break
                    i, line = end + 1, line + 1
            continue
        if quote is not None:
            if text[quote] == '"':
                if char == "\\":
                    i = index + 2  # the escaped character, whatever it is
                elif char == '"':
                    quote = None
            elif char == "'":
                if text[index + 1 : index + 2] == "'":
                    i = index + 2  # '' is a quote inside a single-quoted string
                else:
                    quote = None
            continue
        if char == "#" and not json_mode and (index == 0 or text[index - 1] in " \t\n"):
            end = text.find("\n", index)
            i = n if end < 0 else end  # a comment, to the end of its line
            continue
        if char == '"' or (char == "'" and not json_mode):
            if json_mode or _value_start(text, index, bool(stack)):
                quote = index
        elif char in _CLOSER:
            if json_mode or stack or _value_start(text, index, False):
                stack.append(index)
        elif char in _OPENER:
            if stack and text[stack[-1]] == _OPENER[char]:
                state.closed.append((stack.pop(), index))
            elif stack:
                # `[1, 2}`: the list is not closed; the brace may close what is around it.
                state.unclosed.add(stack.pop())
                if stack and text[stack[-1]] == _OPENER[char]:
                    state.closed.append((stack.pop(), index))
    state.unclosed.update(stack)
    state.closed.sort()  # closed inner first: by where each opens, for bisect
    return state


def _where(text: str, index: int) -> str:
    line, col = _index_position(text, index)
    return f"line {line}, column {col}"


def _spaces(n: int) -> str:
    return f"{n} space{'s' * (n != 1)}"


def syntax_hint(text: str, stop: int, *, json_mode: bool) -> tuple[str, int | None]:
    """A hint for a reader that gave up at index ``stop`` of ``text``, and the index to
    point at instead, when ``stop`` is past everything but blank lines: the quote or
    bracket left open, or the end of the last line (NOTE: [syntax hints]).

    >>> syntax_hint("a: [1, 2\\n", 9, json_mode=False)
    ("the '[' at line 1, column 4 is never closed: add a ']' where the list ends", 3)
    """
    stop = min(max(stop, 0), len(text))
    char = text[stop : stop + 1]
    at_end = not text[stop:].strip()
    end = len(text.rstrip()) if at_end else None
    line_start = text.rfind("\n", 0, stop) + 1
    line_end = text.find("\n", stop)
    line = text[line_start : len(text) if line_end < 0 else line_end]
    indentation = line[: len(line) - len(line.lstrip(" \t"))]
    if not json_mode and (char == "\t" or "\t" in indentation):
        return TAB_HINT, None
    scan = _scan(text, stop, json_mode) if len(text) <= _HINT_SCAN_CHARS else None
    if scan is not None:
        if scan.quote is not None:
            q = repr(text[scan.quote])
            hint = f"the string that starts with {q} at {_where(text, scan.quote)} is never closed"
            if json_mode:
                return (
                    f"{hint}: end it with {q} on its line (a JSON string cannot span lines)",
                    None,
                )
            return f"{hint}: end it with another {q}", scan.quote if at_end else None
        if char in _OPENER:
            if not scan.brackets:
                return (f"this '{char}' closes nothing: remove it, or add the '{_OPENER[char]}' "
                        "it should close"), None  # fmt: skip
            top = scan.brackets[-1]
            if text[top] != _OPENER[char]:
                return (f"the '{text[top]}' at {_where(text, top)} is not closed before this "
                        f"'{char}': add its '{_CLOSER[text[top]]}'"), None  # fmt: skip
        if (
            char == "["
            and scan.brackets
            and stop > 0
            and (text[stop - 1].isalnum() or text[stop - 1] in "_.-")
        ):
            return 'inside {...}, quote a tensor index: to: "enc[1]"', None
        unclosed = [i for i in scan.brackets if i in scan.unclosed]
        if unclosed:
            i = unclosed[-1]
            c = text[i]
            hint = (f"the '{c}' at {_where(text, i)} is never closed: add a '{_CLOSER[c]}' "
                    f"where the {_KIND[c]} ends")  # fmt: skip
            # Brackets pair up from the inside out: when a pair inside this one spans
            # lines, its closing bracket may be the one this one lacks, and the missing
            # one that of the inner.
            k = bisect.bisect_right(scan.closed, (i, len(text)))
            inner = (p for p in scan.closed[k : k + 1000] if p[0] < stop)
            if any(text.find("\n", o, c) >= 0 for o, c in inner):
                hint += ", or where a list or mapping inside it ends"
            return hint, i if at_end else None
    if json_mode:
        hint = _json_hint(text, stop, scan)
    elif at_end:
        hint = None
    else:
        hint = _yaml_hint(text, stop, scan.inner_lines if scan is not None else set())
    if hint is None:
        hint = (
            "look at this line and the one above it: a missing or extra ',', a missing ':', "
            "or a string in single quotes (JSON strings use double quotes)"
            if json_mode
            else "YAML stops at or just after a mistake: look at this line and the one above "
            "it for the indentation, a missing ':' or '- ', or a ': ' inside a value, which "
            "needs quotes"
        )
    return hint, end


def _json_hint(text: str, stop: int, scan: _Open | None) -> str | None:
    char = text[stop : stop + 1]
    j = stop - 1
    while j >= 0 and text[j] in " \t\r\n":
        j -= 1
    before = text[j] if j >= 0 else ""
    if char in _OPENER and before == ",":
        return f"JSON allows no ',' after the last item: remove the ',' at {_where(text, j)}"
    if text.startswith(("//", "/*"), stop) or char == "#":
        return "JSON has no comments: remove it (a spec in YAML can have # comments)"
    if char == "'":
        return "JSON strings are written in double quotes"
    word = re.match(r"[A-Za-z]+", text[stop : stop + 10])
    if word and word[0] in ("True", "False", "None"):
        return "JSON writes true, false and null, in lower case"
    if char and char in '"{[-0123456789tfn' and before and before in '"}]0123456789el':
        if before == '"' and scan is not None and scan.brackets and text[scan.brackets[-1]] == "{":
            # A string right after `{` or `,` in a mapping is a key: its ':' is missing.
            k = j - 1
            while k >= 0 and (text[k] != '"' or text[k - 1 : k] == "\\"):
                k -= 1
            p = k - 1
            while p >= 0 and text[p] in " \t\r\n":
                p -= 1
            if k >= 0 and p >= 0 and text[p] in "{,":
                return f"a ':' is missing after the key {text[k : j + 1][:60]}"
        return f"a ',' is missing between two items, after {_where(text, j)}"
    return None


def _yaml_hint(text: str, stop: int, inner: set[int]) -> str | None:
    """The block-structure rules: indentation, a list beside keys, `key:value`, a missing
    ':', a ': ' inside a plain value."""
    lines = text.split("\n")
    at, _ = _index_position(text, stop)  # 1-based line of the stop
    first = max(1, at - _HINT_LOOKBACK_LINES)

    def content(n: int) -> str | None:
        """Line ``n``'s text if it is a line of the block structure, else None."""
        if n in inner or not 1 <= n <= len(lines):
            return None
        s = lines[n - 1].rstrip("\r")
        stripped = s.strip()
        return None if not stripped or stripped.startswith("#") else s

    here = content(at)
    if here is None:
        return None
    char = text[stop]
    line_start = text.rfind("\n", 0, stop) + 1
    if char in "@`" and (_value_start(text, stop, True) or _value_start(text, stop, False)):
        return f"'{char}' cannot start a plain value in YAML: put the value in quotes"
    before = text[line_start:stop].rstrip(" \t")
    if char not in ",:#]}" and before and before[-1] in "\"']}" and len(before) < stop - line_start:
        what = "quoted string" if before[-1] in "\"'" else _KIND[_OPENER[before[-1]]]
        return (f"a value ends with the {what} that closes at column {len(before)}: only a "
                "comment may follow it on its line; put the whole value in quotes, or remove "
                "the rest")  # fmt: skip
    above = [n for n in range(at - 1, first - 1, -1) if content(n) is not None]
    indent = _indent(here)
    # Where a line may start, from the lines above: the indentation of each enclosing
    # key or item, and deeper when the line just above opens a block (`key:`).
    allowed: set[int] = set()
    limit: int | None = None
    for n in above:
        s = lines[n - 1]
        ind = _indent(s)
        if limit is not None and ind >= limit:
            continue
        if not _is_key(s) and not _is_item(s):
            continue  # a scalar's continuation, or a line with its own mistake
        allowed.add(ind)
        allowed.update(_item_columns(s))
        limit = ind
        if ind == 0:
            break
    prev = above[0] if above else None
    prev_text = lines[prev - 1] if prev else ""
    if prev and allowed and indent not in allowed and (_is_key(prev_text) or _is_item(prev_text)):
        if not (indent > _indent(prev_text) and _opens_block(prev_text)):
            choices = sorted(a for a in allowed if a != indent)
            shown = ", ".join(str(a) for a in choices[:-1]) + (" or " if len(choices) > 1 else "")
            shown += _spaces(choices[-1])
            if indent > _indent(prev_text):
                return (f"line {at} is indented {_spaces(indent)}, deeper than line {prev}, which "
                        "already has its value (nothing can nest under it): indent line "
                        f"{at} like the key or item it belongs beside, {shown}")  # fmt: skip
            return (f"line {at} is indented {_spaces(indent)}, like no key or item above it: "
                    f"indent it like the one it belongs beside, {shown}")  # fmt: skip
    sibling = next((n for n in above if _indent(lines[n - 1]) <= indent), None)
    if sibling is not None and _indent(lines[sibling - 1]) == indent:
        s = lines[sibling - 1]
        if _is_item(here) and _is_key(s) and not _is_item(s) and not _opens_block(s):
            return (f"line {at} starts a list item ('- '), but line {sibling}, at the same "
                    "indentation, is a key: one mapping cannot hold both. Put the list under a "
                    f"key of its own, or write line {at} as key: value")  # fmt: skip
        if _is_key(here) and not _is_item(here) and _is_item(s):
            hint = (f"line {at} is a key, but line {sibling}, at the same indentation, is a list "
                    f"item ('- '), and a list cannot hold keys: start line {at} with '- ' for "
                    "an item of its own")  # fmt: skip
            keys = sorted(c for c in _item_columns(s) if _KEY.match(s, c))
            if keys:
                hint += f", or indent it {_spaces(keys[-1])} to add it to the item's keys"
            return hint
    col = stop - line_start
    key = _key_at(here)
    if char == ":" and key is not None and key.end() < col:
        value = here[key.end() :].strip()
        name = here[key.start() : key.end()].rstrip(" \t").rstrip(":")
        example = f'{name}: "{value}"' if '"' not in value and len(value) <= 60 else ""
        return "a value that holds ': ' needs quotes" + (f": {example}" if example else "")
    for n in [at, *above[:1]]:
        s = lines[n - 1]
        body = s.lstrip(" ")
        rest = body.lstrip("- ") if _is_item(s) else body
        m = _NO_SPACE_KEY.match(rest)
        if m and not _is_key(s):
            word = rest.split()[0] if rest.split() else rest
            k, _, v = word.partition(":")
            return f"line {n} has no space after the ':' of '{word[:40]}': write {k}: {v}"
        if _NO_SPACE_DASH.match(body):
            return f"line {n} has no space after its '-': a list item is written - {body[1:41]}"
    if prev and _indent(prev_text) == indent and not _is_key(prev_text) and not _is_item(prev_text):
        stripped = prev_text.strip()
        if ":" not in stripped and stripped[0] not in "[{\"'|>":
            return (f"line {prev} ({stripped[:40]}) has no ':': each line of a mapping is "
                    "key: value, or key: with the value indented below it")  # fmt: skip
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_item(line: str) -> bool:
    body = line.lstrip(" ")
    return body == "-" or body.startswith(("- ", "-\t")) or body.rstrip("\r") == "-"


def _key_at(line: str) -> re.Match[str] | None:
    """The `key:` that line's content starts with (after any `- `), if any."""
    body = line.lstrip(" ")
    start = len(line) - len(body)
    while body.startswith("- "):
        stripped = body[2:].lstrip(" ")
        start += len(body) - len(stripped)
        body = stripped
    return _KEY.match(line, start)


def _is_key(line: str) -> bool:
    return _key_at(line) is not None


def _opens_block(line: str) -> bool:
    """Whether the lines below ``line`` may be indented deeper: it ends in `key:` or a
    lone `-`, or starts a block scalar."""
    body = _strip_comment(line).rstrip()
    return body.endswith(":") or body.endswith("-") or bool(_BLOCK_SCALAR.search(body))


def _strip_comment(line: str) -> str:
    m = re.search(r"(?:^|[ \t])#", line)
    if m is None or any(q in line[: m.start()] for q in "\"'"):
        return line  # a '#' after a quote may be inside a string: leave the line alone
    return line[: m.start()]


def _item_columns(line: str) -> set[int]:
    """Columns where a sibling of what a `- ` line holds may start: each inner item's
    dash, and the key of a mapping item (`- a: 1` lets `  b: 2` follow)."""
    cols: set[int] = set()
    m = re.match(r" *((?:- +)+)", line)
    if m is None:
        return cols
    pos = len(line) - len(line.lstrip(" "))
    for dash in re.finditer(r"- +", m.group(1)):
        if dash.start() > 0:
            cols.add(pos + dash.start())
    after = m.end()
    if _KEY.match(line, after):
        cols.add(after)
    return cols


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
