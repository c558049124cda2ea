"""The ``modelspec`` command line.

Diagnostics go to stderr as ``file:line:col: level CODE: message``; machine-readable
results (``--format json``, ``--format github``, the summary, the schema) go to
stdout. Exit codes: 0 clean, 1 the spec has errors, 2 a usage error (bad option,
missing file).
"""

from __future__ import annotations

import enum
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from modelspec import __version__
from modelspec.errors import ERROR, Diagnostic, format_all

app = typer.Typer(
    name="modelspec",
    help="Declarative, checked Keras models: lint, summarise and build specs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=True,
)

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


class LintFormat(str, enum.Enum):
    text = "text"
    json = "json"
    github = "github"


class SummaryFormat(str, enum.Enum):
    table = "table"
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelspec {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Declarative, checked Keras models: lint, summarise and build specs."""


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"modelspec: error: {message}", err=True)
    return typer.Exit(2)


def _expand(paths: list[Path]) -> list[Path]:
    """Files as given; folders become the spec files below them, sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file())
            if not found:
                raise _usage_error(f"no spec files (*.yaml, *.yml, *.json) under '{path}'")
            out += found
        elif not path.exists():
            raise _usage_error(f"no such file: '{path}'")
        else:
            out.append(path)
    return out


def _github_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def _github(d: Diagnostic) -> str:
    kind = "error" if d.is_error else "warning"
    message = d.message + (f" (hint: {d.hint})" if d.hint else "")
    return (
        f"::{kind} file={_github_escape(d.file, prop=True)},line={d.line},col={d.col},"
        f"title={_github_escape(d.code, prop=True)}::{_github_escape(message)}"
    )


@app.command()
def lint(
    specs: Annotated[list[Path], typer.Argument(help="Spec files, or folders to search for them.")],
    fmt: Annotated[
        LintFormat, typer.Option("--format", "-f", help="Output format.")
    ] = LintFormat.text,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    max_errors: Annotated[
        int, typer.Option("--max-errors", min=1, help="Diagnostics shown per file in text format.")
    ] = 50,
) -> None:
    """Check specs without TensorFlow: schema, names, graph, shapes and losses."""
    from modelspec.check import check

    files = _expand(specs)
    all_diags: list[Diagnostic] = []
    per_file: list[tuple[str, list[Diagnostic], str | None]] = []
    for path in files:
        result = check(path)
        diags = [d.with_level(ERROR) if strict else d for d in result.diagnostics]
        all_diags += diags
        per_file.append((str(path), diags, result.doc.text if result.doc else None))
    errors = sum(d.is_error for d in all_diags)
    warnings = len(all_diags) - errors
    if fmt is LintFormat.json:
        payload = {
            "files": len(files),
            "errors": errors,
            "warnings": warnings,
            "diagnostics": [d.to_dict() for d in all_diags],
        }
        typer.echo(json.dumps(payload, indent=2))
    elif fmt is LintFormat.github:
        for d in all_diags:
            typer.echo(_github(d))
    else:
        for _, diags, text in per_file:
            if diags:
                typer.echo(format_all(diags, limit=max_errors, source=text), err=True)
        noun = "file" if len(files) == 1 else "files"
        verdict = (
            "clean"
            if not all_diags
            else f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
        )
        typer.echo(f"{len(files)} {noun} checked: {verdict}", err=True)
    raise typer.Exit(1 if errors else 0)


@app.command()
def summary(
    spec: Annotated[Path, typer.Argument(help="The spec file.")],
    fmt: Annotated[
        SummaryFormat, typer.Option("--format", "-f", help="Output format.")
    ] = SummaryFormat.table,
) -> None:
    """Layers, output shapes, parameter counts and the training objective."""
    from modelspec.check import check
    from modelspec.emit.summary import summary_json, summary_table

    (path,) = _expand([spec])
    result = check(path)
    if result.diagnostics:
        typer.echo(
            format_all(
                result.diagnostics, limit=50, source=result.doc.text if result.doc else None
            ),
            err=True,
        )
    if not result.ok:
        raise typer.Exit(1)
    if fmt is SummaryFormat.json:
        typer.echo(json.dumps(summary_json(result), indent=2))
    else:
        typer.echo(summary_table(result), nl=False)


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
    path: Annotated[
        bool,
        typer.Option(
            "--path", help="Print where the installed schema file is, for editor settings."
        ),
    ] = False,
) -> None:
    """Print the JSON Schema of a spec (for editors and other validators)."""
    from modelspec.files import write_atomic
    from modelspec.schema import schema_text

    if path:
        from modelspec.resources import schema_path

        typer.echo(str(schema_path()))
        return
    text = schema_text()
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        write_atomic(output, text)
    except OSError as exc:
        typer.echo(f"modelspec: error: cannot write '{output}': {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None


def main() -> None:
    """Entry point: no traceback for anything a user can cause."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # pragma: no cover - a modelspec bug
        if os.environ.get("MODELSPEC_DEBUG"):
            raise
        typer.echo(f"modelspec: internal error: {type(exc).__name__}: {exc}", err=True)
        typer.echo("set MODELSPEC_DEBUG=1 for the traceback, and please report it", err=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
