"""The YAML event stream -> plain JSON data, with the position of every key and value,
within the loader's limits (NOTE: [why not yaml.safe_load] in
modelspec/source/loader.py).

A :class:`Builder` walks the events with an explicit stack, so no depth of nesting
recurses. It reads each scalar by YAML 1.2's core rules (JSON's, for a ``.json``
file), and each thing a spec cannot hold (a duplicate key, an anchor, a tag, a YAML
1.1 boolean or date, a value past a limit) becomes a diagnostic at its line and column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import yaml

from modelspec.errors import ERROR, Diagnostic, JsonPath, Stop
from modelspec.source.document import Document, index_position, mark_positions

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


class Builder:
    """Builds plain JSON data from YAML events with an explicit stack, within the limits
    it is given (the loader passes its own, read at each call)."""

    def __init__(
        self,
        file: str,
        text: str,
        *,
        json_mode: bool = False,
        max_nodes: int,
        max_depth: int,
        max_int_digits: int,
        max_diagnostics: int,
    ):
        self.json_mode = json_mode
        self.max_nodes = max_nodes
        self.max_depth = max_depth
        self.max_int_digits = max_int_digits
        self.max_diagnostics = max_diagnostics
        self.restore: dict[int, int] | None = None  # see loader.loads(): hidden line breaks
        self.doc = Document(file, text, None)
        self.diagnostics: list[Diagnostic] = []
        self.pos = mark_positions(text)
        # The open containers, and the last event read: where the reader stopped, if it
        # stops with an error of its own (see too_deep).
        self.stack: list[_Frame] = []
        self.last: Any = None

    def error(self, code: str, message: str, mark: Any, path: JsonPath, hint: str | None = None):
        line, col = self.pos(mark)
        self.diagnostics.append(
            Diagnostic(ERROR, code, message, hint, self.doc.file, line, col, path)
        )
        if len(self.diagnostics) >= self.max_diagnostics:
            raise Stop

    def run(self, events: Iterator[Any]) -> None:
        stack: list[_Frame] = self.stack
        root: list[Any] = []
        documents = 0
        nodes = 0
        positions = self.doc.positions
        max_nodes, max_depth = self.max_nodes, self.max_depth

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
            if nodes > max_nodes:
                self.error(
                    "MS001",
                    f"the spec holds more than {max_nodes:,} values (keys, items and scalars)",
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
                if len(stack) >= max_depth:
                    self.error(
                        "MS010",
                        f"nesting deeper than {max_depth} levels is not allowed",
                        event.start_mark,
                        path,
                        hint="a spec is a shallow document; check for runaway brackets",
                    )
                    raise Stop
                container: Any = {} if kind is yaml.MappingStartEvent else []
                stack.append(_Frame(container, attach(container, event.start_mark, path)))
        self.doc.data = root[0] if root else None

    def events(self, parser: Any) -> Iterator[Any]:
        """The parser's events, each kept as the last read (see too_deep)."""
        # get_event alone, up to the stream's end: check_event first would double the
        # calls into the parser, a fifth of the loader's time on a large spec.
        while True:
            event = parser.get_event()
            self.last = event
            yield event
            if event is None or type(event) is yaml.StreamEndEvent:
                return

    def too_deep(self, text: str, stop: int) -> bool:
        """Report MS010 if the flow brackets read ahead of the events reach past
        the depth limit before index ``stop``, where the reader gave up.

        A reader may look ahead and stop at its own nesting limit (libyaml does since
        PyYAML 6.0.4, with its own wording) before the events reach modelspec's, so the
        depth is counted again from the text: the containers open at the last event,
        plus the brackets after it. Quoted strings and comments are skipped.
        """
        start = self.last.end_mark.index if self.last is not None else 0
        depth = len(self.stack)
        for index, char in _flow_brackets(text, start, stop + 1):
            if char in "[{":
                if depth >= self.max_depth:
                    line, col = index_position(text, index)
                    path = self.stack[-1].path if self.stack else ()
                    msg = f"nesting deeper than {self.max_depth} levels is not allowed"
                    hint = "a spec is a shallow document; check for runaway brackets"
                    self.diagnostics.append(
                        Diagnostic(ERROR, "MS010", msg, hint, self.doc.file, line, col, path)
                    )
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
                self.error(
                    "MS005",
                    f"non-finite number '{text}' is not allowed in JSON",
                    mark,
                    path,
                    hint="NaN and infinity are not JSON values; use a finite number",
                )
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
            if digits > self.max_int_digits:
                self.error(
                    "MS005",
                    f"integer with {digits} digits is too large; the limit is {self.max_int_digits}",
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
