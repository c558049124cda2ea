"""Lint results as ``modelspec lint`` prints them: text, JSON, GitHub annotations.

Text is compiler-style, on stderr, each file's diagnostics with their spec lines, then
a verdict; JSON counts and lists every diagnostic; GitHub's format is one workflow
command per diagnostic, which the Actions runner shows as an annotation on the file.
SARIF, for code-scanning services, is :mod:`modelspec.emit.sarif`.

Example::

    >>> d = Diagnostic("error", "MS201", "undefined tensor 'z'", None, "s.yaml", 9, 20)
    >>> github(d)
    "::error file=s.yaml,line=9,col=20,title=MS201::undefined tensor 'z'"
    >>> verdict(1, [d])
    '1 file checked: 1 error, 0 warnings'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelspec.errors import Diagnostic, format_all


def _github_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def github(d: Diagnostic) -> str:
    """``d`` as a GitHub Actions ``::error`` or ``::warning`` workflow command."""
    kind = "error" if d.is_error else "warning"
    message = d.message + (f" (hint: {d.hint})" if d.hint else "")
    return (
        f"::{kind} file={_github_escape(d.file, prop=True)},line={d.line},col={d.col},"
        f"title={_github_escape(d.code, prop=True)}::{_github_escape(message)}"
    )


def to_dict(files: int, diagnostics: Sequence[Diagnostic]) -> dict[str, Any]:
    """The ``--format json`` document: counts, then every diagnostic."""
    errors = sum(d.is_error for d in diagnostics)
    return {
        "files": files,
        "errors": errors,
        "warnings": len(diagnostics) - errors,
        "diagnostics": [d.to_dict() for d in diagnostics],
    }


def verdict(files: int, diagnostics: Sequence[Diagnostic]) -> str:
    """The last line of text output: how many files, and what was found."""
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    noun = "file" if files == 1 else "files"
    found = (
        "clean"
        if not diagnostics
        else f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    )
    return f"{files} {noun} checked: {found}"


def text(
    per_file: Sequence[tuple[Sequence[Diagnostic], dict[str, str] | None]], *, limit: int
) -> str:
    """Each file's diagnostics (at most ``limit``), its spec lines shown from its texts,
    then the :func:`verdict`."""
    found = [d for diagnostics, _ in per_file for d in diagnostics]
    blocks = [format_all(list(ds), limit=limit, source=texts) for ds, texts in per_file if ds]
    return "\n".join([*blocks, verdict(len(per_file), found)])
