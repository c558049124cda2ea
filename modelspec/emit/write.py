"""Writing what a command made: to a file the rules of :mod:`modelspec.emit.outputs`
allow, through a temporary file in the same folder and a rename.

Each function returns the diagnostic that stops the command (MS540 - MS548), or None
once the file is written.

Example::

    >>> destination("-") is None, destination("model.py")
    (True, PosixPath('model.py'))
"""

from __future__ import annotations

from pathlib import Path

from modelspec.emit.outputs import Kind, cannot_write, refusal
from modelspec.errors import Diagnostic


def destination(value: str | None) -> Path | None:
    """The file ``-o`` names, or None for standard output (no ``-o``, or ``-o -``)."""
    return None if value is None or value == "-" else Path(value)


def write(output: Path, data: str | bytes) -> Diagnostic | None:
    """Write ``data`` to ``output`` atomically; MS547 when it cannot be written."""
    from modelspec.source.files import atomic_path, write_atomic

    try:
        if isinstance(data, str):
            write_atomic(output, data)
        else:
            with atomic_path(output) as tmp:
                tmp.write_bytes(data)
    except OSError as exc:
        return cannot_write(output, exc)
    return None


def place(output: Path, text: str, kind: Kind, *, force: bool) -> Diagnostic | None:
    """Write ``text`` to ``output`` unless a file of ``kind`` whose first line is
    ``text``'s may not replace what is there (:func:`modelspec.emit.outputs.refusal`)."""
    problem = refusal(output, kind, text.split("\n", 1)[0], force=force)
    return problem if problem is not None else write(output, text)
