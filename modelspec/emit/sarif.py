"""Lint results as SARIF 2.1.0, the format code-scanning services (GitHub's) upload.

One run, one result per diagnostic, one rule per code that occurs. Locations are the
spec files as given on the command line, as relative URIs when they are relative, so
the scanning service can match them to the repository.

Example::

    >>> doc = sarif([Diagnostic("error", "MS201", "undefined tensor 'z'", None, "s.yaml", 9, 20)])
    >>> doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]
    {'startLine': 9, 'startColumn': 20}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from modelspec import __version__
from modelspec.errors import Diagnostic

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DOCS = "docs/diagnostics.md"


def _uri(file: str) -> str:
    path = PurePath(file)
    return path.as_uri() if path.is_absolute() else path.as_posix()


def sarif(diagnostics: Sequence[Diagnostic]) -> dict[str, Any]:
    """The SARIF log of ``diagnostics`` (levels ``error`` and ``warning``)."""
    codes = sorted({d.code for d in diagnostics})
    rules = [
        {
            "id": code,
            "name": code,
            "helpUri": f"{DOCS}#{code.lower()}",
            "shortDescription": {"text": f"modelspec diagnostic {code} (see {DOCS})"},
        }
        for code in codes
    ]
    results = []
    for d in diagnostics:
        text = d.message + (f" (hint: {d.hint})" if d.hint else "")
        result: dict[str, Any] = {
            "ruleId": d.code,
            "ruleIndex": codes.index(d.code),
            "level": "error" if d.is_error else "warning",
            "message": {"text": text},
        }
        if d.file:
            region = {"startLine": max(d.line, 1), "startColumn": max(d.col, 1)}
            result["locations"] = [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(d.file)},
                        "region": region,
                    }
                }
            ]
        if d.json_path:
            result["properties"] = {"jsonPath": d.json_path}
        results.append(result)
    driver = {
        "name": "modelspec",
        "version": __version__,
        "informationUri": "https://modelspec.dev",
        "rules": rules,
    }
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }
