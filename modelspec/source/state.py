"""State from files beside the spec: ``vocabulary: {file: vocab.txt}``.

A preprocessing layer's state (:data:`modelspec.catalog.lookup.STATE`: a vocabulary,
``idf_weights``, ``bin_boundaries``) may be a file of values, one a line, as Keras's
vocabulary files are. :func:`read_state` reads each such file once the spec has passed
the schema, and writes its values inline in the document, so every later stage (the
shape rules, the generated module, the direct build) sees a plain list. The generated
module therefore holds the values themselves: it builds the same model wherever it is
copied, with nothing but Keras; `modelspec build` again after the file changes.

The rules are those of ``include:`` (:mod:`modelspec.source.include`):

1. A path is relative to the folder of the file the layer is written in; an absolute
   path is itself. Never a URL or a network share (MS731).
2. The file, links followed, must be inside the project root or an allowed include path
   (MS731), checked before it is opened.
3. It must be a regular file (never a FIFO or a device), UTF-8 text, and within the
   limits below, checked from its size before it is read (MS730). All the state files
   of one spec share the limits.

A line is one value, kept as written (a token may hold spaces); trailing empty lines are
left out, as Keras does with its own vocabulary files. An IntegerLookup's vocabulary
holds integers, ``idf_weights`` and ``bin_boundaries`` numbers; a line that is not one
is an error naming the line.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from modelspec.catalog.lookup import STATE
from modelspec.errors import Diagnostic, JsonPath
from modelspec.source.document import Document
from modelspec.source.include import _REMOTE
from modelspec.source.project import Project

# All the state files of one spec together: ten times a large vocabulary (100,000
# words of about 10 bytes), and what the generated module then holds.
MAX_STATE_BYTES = 16 * 1024 * 1024
# Values in all the state files of one spec together.
MAX_STATE_VALUES = 1_000_000
_LIMIT_HINT = "a limit of modelspec ({}); if the file is genuine, raise it (see SECURITY.md)"
_INT = re.compile(r"[+-]?[0-9]{1,19}\Z")
_MAX_INT = 2**63 - 1


def _kind(type_name: str, key: str) -> str:
    if key == "vocabulary":
        return "integer" if type_name == "IntegerLookup" else "string"
    return "number"


def _state_refs(data: Any) -> Iterator[tuple[JsonPath, str, str]]:
    """``(path of the file's name, layer type, kwarg)`` for every ``{file: ...}`` state
    kwarg of a layer anywhere in ``data`` (an explicit stack: no recursion)."""
    stack: list[tuple[JsonPath, Any]] = [((), data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            keys = STATE.get(value.get("type")) if isinstance(value.get("type"), str) else None
            for key, item in value.items():
                if keys and key in keys and isinstance(item, dict) and "file" in item:
                    if isinstance(item["file"], str):
                        yield (*path, key, "file"), value["type"], key
                    continue
                if key not in ("blocks", "vars"):  # expanded already where they are used
                    stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in enumerate(value))


def _set(data: Any, path: JsonPath, new: Any) -> Any:
    """``data`` with the value at ``path`` replaced, copying only the containers on the way."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        return {**data, head: _set(data[head], rest, new)}
    out = list(data)
    out[head] = _set(data[head], rest, new)
    return out


class _Reader:
    def __init__(self, doc: Document, project: Project, origin: str | None):
        self.doc = doc
        self.project = project
        self.origin = os.path.realpath(origin) if origin is not None else None
        self.bytes = 0
        self.values = 0
        self.diagnostics: list[Diagnostic] = []

    def error(self, code: str, message: str, path: JsonPath, hint: str | None = None) -> None:
        self.diagnostics.append(self.doc.diagnostic(code, message, path, hint=hint))

    def folder(self, path: JsonPath) -> str:
        """The folder of the file the value at ``path`` was written in."""
        written = self.doc.file_at(path)
        if written == self.doc.file and self.origin is not None:
            return os.path.dirname(self.origin)
        return os.path.dirname(os.path.abspath(written))

    def read(self, path: JsonPath, type_name: str, key: str) -> list[Any] | None:
        entry = self.doc.data
        for part in path:
            entry = entry[part]
        where = f"`{key}` file '{entry}'"
        if "\0" in entry:  # no file name holds one, and the OS refuses to look it up
            self.error("MS730", f"a `{key}` file's path cannot hold a NUL character: {entry!r}",
                       path, "write the file's path as it is on disk")  # fmt: skip
            return None
        if _REMOTE.match(entry):
            self.error("MS731", f"{where} is not a local file; not read", path,
                       "copy the file into the project and name it by its path")  # fmt: skip
            return None
        real = os.path.realpath(os.path.join(self.folder(path), entry))
        if not self.project.allows_path(real):
            # Checked on the real path, before the file is opened: a link inside the
            # project to a file outside it is refused the same way.
            self.error(
                "MS731",
                f"{where} is outside the project root; not read",
                path,
                "a spec reads only files inside its project; to allow a folder, add it to "
                "`include-paths` under [tool.modelspec] in pyproject.toml, or pass "
                "--include-path DIR",
            )
            return None
        text = self._text(real, path, where)
        if text is None:
            return None
        lines = text.splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        if not lines:
            self.error("MS730", f"{where} holds no values", path,
                       "write one value a line")  # fmt: skip
            return None
        self.values += len(lines)
        if self.values > MAX_STATE_VALUES:
            self.error("MS730", f"{where} takes the spec's state files past "
                       f"{MAX_STATE_VALUES:,} values", path,
                       _LIMIT_HINT.format("modelspec.source.state.MAX_STATE_VALUES"))  # fmt: skip
            return None
        return self._values(lines, _kind(type_name, key), path, where)

    def _text(self, real: str, path: JsonPath, where: str) -> str | None:
        from modelspec.source.files import regular_file_problem

        problem = regular_file_problem(real)
        if problem is not None:
            hint = "the path is relative to the folder of the spec that names it"
            self.error("MS730", f"cannot read {where}: {problem}", path,
                       hint if problem == "no such file" else None)  # fmt: skip
            return None
        limit = MAX_STATE_BYTES - self.bytes
        try:
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            with os.fdopen(fd, "rb") as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):  # swapped since
                    self.error("MS730", f"cannot read {where}: it is not a regular file", path)
                    return None
                # From the size first, before a byte is read; the read is bounded too.
                raw = b"" if st.st_size > limit else fh.read(limit + 1)
                size = max(st.st_size, len(raw))
        except OSError as exc:
            self.error("MS730", f"cannot read {where}: {exc.strerror or exc}", path)
            return None
        if size > limit:
            self.error(
                "MS730",
                f"{where} takes the spec's state files past {MAX_STATE_BYTES // 2**20} MiB",
                path,
                _LIMIT_HINT.format("modelspec.source.state.MAX_STATE_BYTES"),
            )
            return None
        self.bytes += len(raw)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            self.error("MS730", f"{where} is not UTF-8 text (line {line})", path)
            return None

    def _values(self, lines: list[str], kind: str, path: JsonPath, where: str) -> list | None:
        if kind == "string":
            return lines
        out: list[Any] = []
        for n, line in enumerate(lines, 1):
            text = line.strip()
            value: Any = None
            if kind == "integer" and _INT.match(text) and abs(int(text)) <= _MAX_INT:
                value = int(text)
            elif kind == "number":
                try:
                    value = int(text) if _INT.match(text) else float(text)
                except ValueError:
                    value = None
                if isinstance(value, float) and not math.isfinite(value):
                    value = None
            if value is None:
                shown = line if len(line) <= 40 else line[:37] + "..."
                self.error("MS730", f"{where}: line {n} is not an {kind}: {shown!r}"
                           if kind == "integer" else f"{where}: line {n} is not a number: "
                           f"{shown!r}", path, f"write one {kind} a line")  # fmt: skip
                return None
            out.append(value)
        return out


def read_state(
    doc: Document, project: Project, origin: str | os.PathLike[str] | None = None
) -> tuple[Document, list[Diagnostic]]:
    """``doc`` with each state file's values written inline; a file that cannot be read
    is a diagnostic at its name, and its ``{file: ...}`` stays (the layer is then not
    checked further)."""
    refs = list(_state_refs(doc.data))
    if not refs:
        return doc, []
    reader = _Reader(doc, project, os.fspath(origin) if origin is not None else None)
    data = doc.data
    for path, type_name, key in refs:
        values = reader.read(path, type_name, key)
        if values is not None:
            data = _set(data, path[:-1], values)
    return replace(doc, data=data), reader.diagnostics
