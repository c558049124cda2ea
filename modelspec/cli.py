"""The ``modelspec`` command line.

Diagnostics go to stderr as ``file:line:col: level CODE: message``; machine-readable
results (``--format json``, ``--format github``, the summary, the schema) go to
stdout. Exit codes: 0 clean, 1 the spec has errors (or an output is refused,
MS540 - MS548), 2 a usage error (bad option, missing file) or a Keras backend that
cannot run the command (not installed, or the spec asks what it lacks).
"""

from __future__ import annotations

import enum
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from modelspec import __version__
from modelspec.emit.outputs import EXPANDED, MODULE, SCHEMA, Kind, refusal
from modelspec.emit.write import destination, place, write
from modelspec.errors import ERROR, Diagnostic, format_all, printable

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
    sarif = "sarif"


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


def _usage_error(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"modelspec: error: {message}", err=True)
    return typer.Exit(code)


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


# Settings a spec cannot give itself (modelspec/source/project.py, NOTE: [trusted settings]):
# the repository root's [tool.modelspec], or --config's, gives them too; these add to
# it for one run.
IncludePaths = Annotated[
    list[Path] | None,
    typer.Option(
        "--include-path",
        metavar="DIR",
        help="Let `include:` read specs under DIR, outside the project root (repeatable).",
    ),
]
AllowModules = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-module",
        metavar="MODULE",
        help="Let specs use custom layer classes from MODULE, by import path (repeatable).",
    ),
]


ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        exists=True,
        dir_okay=False,
        help="Read [tool.modelspec] from FILE, not from the repository root's pyproject.toml.",
    ),
]
AskKeras = Annotated[
    bool,
    typer.Option(
        "--ask-keras",
        help="Let lint create custom layers (from allowed modules) with the spec's kwargs, to "
        "ask Keras the shapes and parameters the spec does not declare.",
    ),
]


class Backend(str, enum.Enum):
    tensorflow = "tensorflow"
    jax = "jax"
    torch = "torch"


def _choose_backend(value: Backend | None) -> Backend | None:
    """Set ``KERAS_BACKEND`` while the options are read: before anything imports Keras."""
    from modelspec.runtime.backend import BackendError, choose

    try:
        choose(None if value is None else value.value)
    except BackendError as exc:
        typer.echo(exc.text(), err=True)
        raise typer.Exit(2) from None
    return value


# Every command that may import Keras (--ask-keras, equiv, train) takes it. Whether the
# backend is installed is checked when Keras is needed, not here: `lint` runs anywhere.
BackendOption = Annotated[
    Backend | None,
    typer.Option(
        "--backend",
        callback=_choose_backend,
        help="The Keras backend, for what imports Keras (default: KERAS_BACKEND, else "
        "Keras's keras.json, else tensorflow); lint reports what it cannot run.",
    ),
]


def _project(
    spec: Path,
    include_paths: list[Path] | None,
    allow_modules: list[str] | None,
    config: Path | None = None,
    ask_keras: bool = False,
):
    """The project of ``spec``, widened by the command line's settings."""
    from modelspec.source.project import find_project

    project = find_project(spec, config=config)
    try:
        return project.widened(
            include_paths=tuple(include_paths or ()),
            allow_modules=tuple(allow_modules or ()),
            ask_keras=ask_keras,
        )
    except ValueError as exc:
        raise _usage_error(f"--allow-module: {exc}") from None


@app.command()
def lint(
    specs: Annotated[
        list[Path],
        typer.Argument(metavar="SPECS...", help="Spec files, or folders to search for them."),
    ],
    fmt: Annotated[
        LintFormat, typer.Option("--format", "-f", help="Output format.")
    ] = LintFormat.text,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    max_errors: Annotated[
        int, typer.Option("--max-errors", min=1, help="Diagnostics shown per file in text format.")
    ] = 50,
    include_path: IncludePaths = None,
    allow_module: AllowModules = None,
    config: ConfigFile = None,
    ask_keras: AskKeras = False,
    backend: BackendOption = None,
) -> None:
    """Check specs without TensorFlow: schema, names, graph, shapes and losses."""
    from modelspec.check import check
    from modelspec.emit import lint as lint_report
    from modelspec.runtime.backend import unsupported  # no Keras: no backend is needed

    files = _expand(specs)
    all_diags: list[Diagnostic] = []
    per_file: list[tuple[list[Diagnostic], dict[str, str] | None]] = []
    seen: set[Diagnostic] = set()  # a broken project setting is reported once, not per file
    target = os.environ.get("KERAS_BACKEND")  # --backend's, else the environment's
    for path in files:
        result = check(path, project=_project(path, include_path, allow_module, config, ask_keras))
        cannot = unsupported(result, target) if target and result.ok and not result.library else []
        diags = [d.with_level(ERROR) if strict else d for d in [*result.diagnostics, *cannot]]
        # A settings file's own warnings (MS020, MS021) once, not for each spec.
        diags = [d for d in diags if d.code not in ("MS020", "MS021") or d not in seen]
        seen.update(d for d in diags if d.code in ("MS020", "MS021"))
        all_diags += diags
        per_file.append((diags, result.doc.texts if result.doc else None))
    if fmt is LintFormat.json:
        typer.echo(json.dumps(lint_report.to_dict(len(files), all_diags), indent=2))
    elif fmt is LintFormat.sarif:
        from modelspec.emit.sarif import sarif

        typer.echo(json.dumps(sarif(all_diags), indent=2))
    elif fmt is LintFormat.github:
        for d in all_diags:
            typer.echo(lint_report.github(d))
    else:
        typer.echo(lint_report.text(per_file, limit=max_errors), err=True)
    raise typer.Exit(1 if any(d.is_error for d in all_diags) else 0)


def _checked(
    spec: Path,
    include_paths: list[Path] | None = None,
    allow_modules: list[str] | None = None,
    config: Path | None = None,
    ask_keras: bool = False,
):
    """Check ``spec``, print its diagnostics, and exit 1 on errors; the checked result."""
    from modelspec.check import check

    (path,) = _expand([spec])
    result = check(path, project=_project(path, include_paths, allow_modules, config, ask_keras))
    if result.diagnostics:
        text = result.doc.texts if result.doc else None
        typer.echo(format_all(result.diagnostics, limit=50, source=text), err=True)
    if not result.ok:
        raise typer.Exit(1)
    if result.library:  # checked clean, but there is no model to build or show
        typer.echo(format_all([result.not_a_model()], source=result.doc.texts), err=True)
        raise typer.Exit(1)
    return result


def _backend_for(result: Any, name: str | None = None) -> str:
    """The Keras backend (or ``name``), checked to be installed and to run what the spec
    asks (string inputs: TensorFlow only, MS551; float64 on JAX: JAX_ENABLE_X64, MS552);
    exit 2 where it cannot."""
    from modelspec.runtime.backend import require, unsupported

    name = require(name=name)  # a BackendError: main() says it, and exits 2
    problems = unsupported(result, name, strategy=False)
    if problems:
        typer.echo(format_all(problems, source=result.doc.texts if result.doc else None), err=True)
        raise typer.Exit(2)
    return name


@app.command()
def summary(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help="The spec file.")],
    fmt: Annotated[
        SummaryFormat, typer.Option("--format", "-f", help="Output format.")
    ] = SummaryFormat.table,
    include_path: IncludePaths = None,
    allow_module: AllowModules = None,
    config: ConfigFile = None,
    ask_keras: AskKeras = False,
    backend: BackendOption = None,
) -> None:
    """Layers, output shapes, parameter counts and the training objective."""
    from modelspec.emit.summary import summary_json, summary_table

    result = _checked(spec, include_path, allow_module, config, ask_keras)
    if fmt is SummaryFormat.json:
        typer.echo(json.dumps(summary_json(result), indent=2))
    else:
        typer.echo(summary_table(result), nl=False)


class Form(str, enum.Enum):
    auto = "auto"
    functional = "functional"
    sequential = "sequential"


# Every -o: a file (written through a temporary file and a rename), or "-" for standard
# output where the command writes text. Typed as text, not as a Path, which would read
# "./-" as "-".
def _output_option(help: str) -> Any:
    return typer.Option("--output", "-o", metavar="FILE", allow_dash=True, help=help)


def _stop(problem: Diagnostic | None) -> None:
    """Exit 1 with ``problem`` (an MS54x diagnostic at the output), if there is one."""
    if problem is not None:
        typer.echo(format_all([problem]), err=True)
        raise typer.Exit(1)


def _emit(output: Path | None, text: str, kind: Kind, force: bool, *, say: bool = True) -> None:
    """``text`` to standard output, or to ``output`` where the rules of ``kind`` allow."""
    if output is None:
        typer.echo(text, nl=False)
        return
    _stop(place(output, text, kind, force=force))
    if say:
        typer.echo(f"wrote {output}", err=True)


@app.command()
def build(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help="The spec file.")],
    output: Annotated[
        str | None, _output_option("Write the module here; - (or none) for stdout.")
    ] = None,
    form: Annotated[
        Form,
        typer.Option(
            "--form",
            help="Sequential needs a plain stack; auto picks it when it can, else Functional.",
        ),
    ] = Form.auto,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Overwrite a file build did not write from this spec, or a link."
        ),
    ] = False,
    include_path: IncludePaths = None,
    allow_module: AllowModules = None,
    config: ConfigFile = None,
    ask_keras: AskKeras = False,
    backend: BackendOption = None,
) -> None:
    """Generate a Python module whose build_model() returns the Keras model."""
    from modelspec.emit.keras_py import render
    from modelspec.lower.plan import NotAChain, plan

    target = destination(output)
    result = _checked(spec, include_path, allow_module, config, ask_keras)
    try:
        # A relative `weights:` file is relative to the spec; from -o's folder it may be
        # another path to the same file.
        text = render(
            plan(result), form.value, module_dir=None if target is None else target.parent
        )
    except NotAChain as exc:
        source = result.doc.texts if result.doc else None
        typer.echo(format_all([exc.diagnostic], source=source), err=True)
        raise typer.Exit(1) from None
    _emit(target, text, MODULE, force)


class EquivFormat(str, enum.Enum):
    text = "text"
    json = "json"


@app.command()
def equiv(
    ctx: typer.Context,
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help="The spec file.")],
    steps: Annotated[
        int, typer.Option("--steps", min=1, help="Training steps before the last comparison.")
    ] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Batch size.")] = 8,
    fmt: Annotated[
        EquivFormat, typer.Option("--format", "-f", help="Output format.")
    ] = EquivFormat.text,
    include_path: IncludePaths = None,
    allow_module: AllowModules = None,
    config: ConfigFile = None,
    ask_keras: AskKeras = False,
    backend: BackendOption = None,
    across: Annotated[
        str | None,
        typer.Option(
            metavar="B1,B2",
            help="Instead, compare its outputs on backends B1,B2,... given the same weights.",
        ),
    ] = None,
    rtol: Annotated[float, typer.Option(min=0, help="--across: relative tolerance.")] = 1e-5,
    atol: Annotated[float, typer.Option(min=0, help="--across: absolute tolerance.")] = 1e-6,
) -> None:
    """Prove every form of a spec the same model, or (--across) one on several backends.

    Exit codes: 0 identical (--across: within the tolerance); 1 different, not proven,
    or the spec has errors; 2 a backend cannot build it; 4 the same model apart from its
    initial weights (the spec has no seed).
    """
    from modelspec.api import SpecModel
    from modelspec.lower.plan import plan
    from modelspec.runtime.across import Settings, backends_of, compare_across
    from modelspec.runtime.backend import BackendError, needs_tensorflow
    from modelspec.runtime.equiv import compare

    given = [p for p in ("backend", "steps") if ctx.get_parameter_source(p).name != "DEFAULT"]
    if across is not None and given:
        raise _usage_error(f"--across names its backends and trains nothing: no --{given[0]}")
    names = backends_of(across) if across is not None else None
    result = _checked(spec, include_path, allow_module, config, ask_keras)
    if names:  # each backend in a process of its own; this one imports no Keras
        for name in names:
            _backend_for(result, name)
        settings = Settings.of(include_path, allow_module, config, ask_keras)
        report: Any = compare_across(SpecModel(result, plan(result)), str(spec), names, settings,
                                     batch_size=batch_size, rtol=rtol, atol=atol)  # fmt: skip
    else:
        keras_backend = _backend_for(result)
        try:
            report = compare(SpecModel(result, plan(result)), steps=steps, batch_size=batch_size)
        except ImportError as exc:  # Keras needs TensorFlow for a layer (StringLookup, ...)
            if isinstance(exc, BackendError) or keras_backend == "tensorflow":
                raise
            raise needs_tensorflow(exc, keras_backend) from None
    if fmt is EquivFormat.json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        typer.echo(report.text(), nl=False)
    raise typer.Exit(report.exit_code)


EXPANDED_MARKER = "# Expanded by modelspec"


@app.command()
def expand(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help="The spec file.")],
    output: Annotated[str | None, _output_option("Write here; - (or none) for stdout.")] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Overwrite a file expand did not write from this spec, or a link."
        ),
    ] = False,
    include_path: IncludePaths = None,
    allow_module: AllowModules = None,
    config: ConfigFile = None,
    ask_keras: AskKeras = False,
    backend: BackendOption = None,
) -> None:
    """Print the spec with vars, blocks and repeats expanded: exactly what is built."""
    from modelspec.emit.outputs import PENDING, seal
    from modelspec.emit.spec_yaml import render as render_yaml

    result = _checked(spec, include_path, allow_module, config, ask_keras)
    assert result.doc is not None
    header = (
        f"{EXPANDED_MARKER} from {printable(spec.name)}: no vars, blocks or repeats.\n"
        "# Edit the spec it came from, not this file.\n"
        f"# modelspec-sha256: {PENDING}"
    )
    _emit(destination(output), seal(render_yaml(result.doc.data, header)), EXPANDED, force)


@app.command("import")
def import_(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="SOURCE", help="A .keras, a model.to_json() file, or a Keras 2 .h5 model."
        ),
    ],
    output: Annotated[
        str | None, _output_option("Write the spec here; - (or none) for stdout.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Overwrite a file import did not write from a source of this name, or a link.",
        ),
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    allow_modules: AllowModules = None,
    config: ConfigFile = None,
    ask_keras: AskKeras = False,
    backend: BackendOption = None,
) -> None:
    """Write the spec of an existing Keras model, read as data (no TensorFlow needed)."""
    from modelspec.importer import run_import

    # The imported spec is linted in the project it is written to; a model with custom
    # layers needs their modules allowed there or here.
    target = destination(output)
    project = _project(
        target if target is not None else Path.cwd(), None, allow_modules, config, ask_keras
    )
    raise typer.Exit(run_import(source, target, force=force, strict=strict, project=project))


class GraphFormat(str, enum.Enum):
    dot = "dot"
    mmd = "mmd"
    svg = "svg"
    png = "png"


@app.command()
def graph(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help="The spec file.")],
    output: Annotated[
        str | None,
        _output_option("Write here; .dot, .mmd, .svg or .png picks the format; - is stdout."),
    ] = None,
    fmt: Annotated[
        GraphFormat | None,
        typer.Option("--format", "-f", help="The format, when -o's suffix does not say it."),
    ] = None,
    no_shapes: Annotated[
        bool, typer.Option("--no-shapes", help="Leave tensor shapes off the edges.")
    ] = False,
    expand: Annotated[
        bool, typer.Option("--expand", help="Draw block instances open, layer by layer.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a symbolic link at --output itself.")
    ] = False,
    include_path: IncludePaths = None,
    allow_module: AllowModules = None,
    config: ConfigFile = None,
    ask_keras: AskKeras = False,
    backend: BackendOption = None,
) -> None:
    """Draw the model: Graphviz DOT, Mermaid, or SVG/PNG through Graphviz's dot."""
    from modelspec.emit.graph import RenderError, diagram, render, to_dot, to_mermaid

    target = destination(output)
    if target is not None:
        # A diagram is redrawn in place, so any regular file may be replaced.
        _stop(refusal(target, None, "", force=force))
    if fmt is None:
        suffix = target.suffix.lower().lstrip(".") if target is not None else "dot"
        if suffix not in GraphFormat.__members__:
            raise _usage_error(
                f"cannot tell the format from '{target}': use a .dot, .mmd, .svg or .png "
                "file name, or --format"
            )
        fmt = GraphFormat(suffix)
    if target is None and fmt in (GraphFormat.svg, GraphFormat.png):
        why = ": binary data does not go to standard output (-o -)" if output == "-" else ""
        raise _usage_error(f"--format {fmt.value} needs --output FILE{why}")
    result = _checked(spec, include_path, allow_module, config, ask_keras)
    d = diagram(result, shapes=not no_shapes, expand=expand)
    text = to_mermaid(d) if fmt is GraphFormat.mmd else to_dot(d)
    data = text.encode()
    if fmt in (GraphFormat.svg, GraphFormat.png):
        try:
            data = render(text, fmt.value)
        except RenderError as exc:
            raise _usage_error(str(exc), code=1) from None
    if target is None:
        typer.echo(text, nl=False)
        return
    _stop(write(target, data))
    typer.echo(f"wrote {target}", err=True)


class DiffFormat(str, enum.Enum):
    text = "text"
    json = "json"


def _is_keras_model(path: Path) -> bool:
    """A ``.keras`` archive, or JSON holding a Keras model config rather than a spec."""
    if path.suffix.lower() == ".keras":
        return True
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    # A spec starts with (or soon has) "modelspec"; model.to_json() starts with its class.
    return b'"modelspec"' not in head and b'"class_name"' in head


def _checked_or_2(
    spec: Path,
    include_paths: list[Path] | None = None,
    allow_modules: list[str] | None = None,
    config: Path | None = None,
    ask_keras: bool = False,
):
    """Like ``_checked``, but exit 2 on errors: for ``diff``, 1 means "they differ".

    A Keras model (``.keras``, or ``model.to_json()``) is read through the importer.
    """
    if _is_keras_model(spec):
        from modelspec.check import check_text
        from modelspec.importer import import_file

        imported = import_file(spec)
        if imported.diagnostics:
            typer.echo(format_all(imported.diagnostics, limit=50), err=True)
        if not imported.ok:
            raise typer.Exit(2)
        assert imported.text is not None
        # Named so that it reads as YAML, which the importer writes, whatever the suffix.
        result = check_text(imported.text, f"{spec} (imported)")
        if not result.ok:
            typer.echo(format_all(result.diagnostics, limit=50), err=True)
            raise typer.Exit(2)
        return result
    try:
        return _checked(spec, include_paths, allow_modules, config, ask_keras)
    except typer.Exit as exc:
        if exc.exit_code == 1:
            raise typer.Exit(2) from None
        raise


@app.command()
def diff(
    a: Annotated[Path, typer.Argument(metavar="A", help="The old spec (or .keras model).")],
    b: Annotated[Path, typer.Argument(metavar="B", help="The new spec (or .keras model).")],
    fmt: Annotated[DiffFormat, typer.Option("--format", "-f", help="Output format.")] = (
        DiffFormat.text
    ),
    include_path: IncludePaths = None,
    allow_module: AllowModules = None,
    config: ConfigFile = None,
    ask_keras: AskKeras = False,
    backend: BackendOption = None,
) -> None:
    """What changes in the model from A to B: layers, wiring, shapes and parameters.

    A or B may be a Keras model (a .keras archive or model.to_json() JSON). Exit codes: 0 the same model, 1 they differ, 2 a spec has errors (or a usage error).
    """
    from modelspec.emit.diff import diff as compare

    result = compare(
        _checked_or_2(a, include_path, allow_module, config, ask_keras),
        _checked_or_2(b, include_path, allow_module, config, ask_keras),
    )
    if fmt is DiffFormat.json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        typer.echo(result.text(), nl=False)
    raise typer.Exit(0 if result.identical else 1)


@app.command()
def schema(
    output: Annotated[str | None, _output_option("Write here; - (or none) for stdout.")] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Overwrite a file that is not a schema modelspec wrote."),
    ] = False,
    path: Annotated[
        bool,
        typer.Option(
            "--path", help="Print where the installed schema file is, for editor settings."
        ),
    ] = False,
) -> None:
    """Print the JSON Schema of a spec (for editors and other validators)."""
    from modelspec.schema.editor import schema_text

    if path:
        from modelspec.emit.resources import schema_path

        typer.echo(str(schema_path()))
        return
    _emit(destination(output), schema_text(), SCHEMA, force, say=False)


# "none" and catalog/training.py's STRATEGIES (not imported: it loads the catalogue).
_STRATEGIES = ("none", "mirrored", "multi_worker_mirrored", "data_parallel", "model_parallel")
Strategy = enum.Enum("Strategy", {n: n for n in _STRATEGIES}, type=str)


@app.command()
def train(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help="The spec file.")],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="An .npz file (numpy.savez) of arrays named after the spec's inputs and "
            "trained outputs.",
        ),
    ],
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, help="Epochs (default: the spec's fit.epochs, else 1)."),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", min=1, help="Samples per step (default: fit.batch_size, else 32)."
        ),
    ] = None,
    validation_split: Annotated[
        float | None,
        typer.Option(
            "--validation-split",
            min=0.0,
            max=1.0,
            help="Fraction of the samples, from the end, kept for validation "
            "(default: fit.validation_split, else 0).",
        ),
    ] = None,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            allow_dash=True,
            help="Where to save the trained model (default: <spec name>.keras in the "
            "current folder, which must not exist yet).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace a file at the output that train did not save from this spec, or a link.",
        ),
    ] = False,
    strategy: Annotated[
        Strategy | None,
        typer.Option(
            "--strategy",
            help="The distribution: mirrored, multi_worker_mirrored (tensorflow backend), "
            "data_parallel, model_parallel (jax) (default: the spec's "
            "distribution.strategy, else none).",
        ),
    ] = None,
    include_path: IncludePaths = None,
    allow_module: AllowModules = None,
    config: ConfigFile = None,
    ask_keras: AskKeras = False,
    backend: BackendOption = None,
) -> None:
    """Train the spec's model on arrays from an .npz file and save it as .keras."""
    from modelspec.runtime.train import run_train

    if validation_split is not None and validation_split >= 1:
        raise _usage_error(f"--validation-split must be below 1; got {validation_split:g}")
    if out == "-":
        raise _usage_error(
            "--out -: train saves a .keras archive, which needs a file, not standard output"
        )
    result = _checked(spec, include_path, allow_module, config, ask_keras)
    code = run_train(
        result,
        data,
        epochs=epochs,
        batch_size=batch_size,
        validation_split=validation_split,
        out=None if out is None else Path(out),
        force=force,
        strategy=strategy.value if strategy else None,
    )
    raise typer.Exit(code)


def main() -> None:
    """Entry point: no traceback for anything a user can cause."""
    from modelspec.errors import ModelspecError
    from modelspec.runtime.backend import BackendError

    try:
        app(prog_name="modelspec")
    except KeyboardInterrupt:
        sys.exit(130)
    except BackendError as exc:  # Keras's backend is not installed, or cannot do it
        if os.environ.get("MODELSPEC_DEBUG"):
            raise
        typer.echo(exc.text(), err=True)
        sys.exit(exc.exit_code)
    except ModelspecError as exc:  # a check that can only run once the model is built
        if os.environ.get("MODELSPEC_DEBUG"):
            raise
        typer.echo(format_all(exc.diagnostics), err=True)
        sys.exit(1)
    except Exception as exc:  # pragma: no cover - a modelspec bug
        if os.environ.get("MODELSPEC_DEBUG"):
            raise
        typer.echo(f"modelspec: internal error: {type(exc).__name__}: {exc}", err=True)
        typer.echo("set MODELSPEC_DEBUG=1 for the traceback, and please report it", err=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
