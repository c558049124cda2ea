"""The document a spec file is read into: its data, and the line and column in the
text of every key and value.

Every later stage reports a problem at a JSON path; :meth:`Document.diagnostic` turns
the path into the file, line and column where that part of the spec was written.

Example::

    >>> doc = Document("m.yaml", "name: m\\n", {"name": "m"}, {(): (1, 1), ("name",): (1, 7)})
    >>> doc.position(("name", "missing"))
    (1, 7)
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

from modelspec.errors import ERROR, Diagnostic, JsonPath

# Where YAML breaks a line and editors do not.
EXOTIC_BREAKS = ("\x85", "\u2028", "\u2029")


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


def mark_positions(text: str) -> Any:
    """``mark -> (line, col)``, 1-based, counting lines as editors do.

    YAML also breaks lines at U+0085, U+2028 and U+2029, which editors and
    ``file:line`` tools do not; only then are lines counted from the text itself.
    """
    if not any(c in text for c in EXOTIC_BREAKS):
        return lambda mark: (mark.line + 1, mark.column + 1)
    starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(mark: Any) -> tuple[int, int]:
        line = bisect.bisect_right(starts, mark.index)
        return line, mark.index - starts[line - 1] + 1

    return position


def index_position(text: str, index: int) -> tuple[int, int]:
    """``(line, col)``, 1-based, of the character at ``index`` of ``text``."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1
