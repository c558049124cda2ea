"""The pipeline: spec file -> document -> schema -> IR -> passes.

``check(path)`` runs every stage that can run and returns a :class:`Result` with the
IR, the facts of each pass and all diagnostics, sorted by position. Later stages
run on whatever earlier stages could make sense of, so a user sees every problem at
once; a stage that cannot run at all (the file is not YAML) stops the pipeline.

Example::

    >>> result = check("specs/seed_001_mlp.yaml")      # doctest: +SKIP
    >>> result.ok, result.shapes.params["dense"]       # doctest: +SKIP
    (True, (1048832, 0))
"""

from __future__ import annotations

import os
from typing import Any

from modelspec.compose.scan import uses_composition
from modelspec.errors import Diagnostic
from modelspec.lower.parse import parse
from modelspec.passes.pipeline import PASSES
from modelspec.passes.result import Result
from modelspec.schema.validate import validate
from modelspec.source.document import Document
from modelspec.source.loader import load, loads
from modelspec.source.project import Project, find_project
from modelspec.source.state import read_state


def _order(file: str):
    """Sort key: the spec's own diagnostics by place, then those in files it includes."""
    return lambda d: (d.file != file, d.file, d.line, d.col, d.code)


# A file of blocks for other specs to `include:`: it has `blocks` and none of a model's
# own sections, and it may hold only these keys.
LIBRARY_KEYS = ("$schema", "modelspec", "description", "vars", "blocks", "include")
_MODEL_KEYS = ("name", "inputs", "layers", "graph", "sequential", "outputs")


def is_library(data: Any) -> bool:
    """Whether ``data`` is a block library rather than a model spec."""
    return isinstance(data, dict) and "blocks" in data and not any(k in data for k in _MODEL_KEYS)


def _check_library(doc: Document, project: Project, origin: Any) -> Result:
    """A block library: its version, its keys, and its vars, includes and block
    definitions. A block is checked in full where a spec uses it, with its inputs'
    shapes and its parameters' values."""
    from modelspec.compose.expand import expand

    diags: list[Diagnostic] = []
    version = doc.data.get("modelspec")
    if "modelspec" not in doc.data:
        diags.append(
            doc.diagnostic(
                "MS103",
                "the block library is missing the required key 'modelspec'",
                hint="start the file with `modelspec: 1`",
            )
        )
    elif version != 1 or isinstance(version, bool):
        diags.append(
            doc.diagnostic(
                "MS106",
                f"`modelspec` must be 1, not {version!r}",
                ("modelspec",),
                hint="this modelspec reads version 1",
            )
        )
    for key in doc.data:
        if key not in LIBRARY_KEYS:
            diags.append(
                doc.diagnostic(
                    "MS102",
                    f"unknown key '{key}' in a block library",
                    (key,),
                    key=True,
                    hint=f"a block library has {', '.join(LIBRARY_KEYS[1:])}",
                )
            )
    _, compose_diags = expand(doc, project, origin=origin)
    diags += compose_diags
    diags.sort(key=_order(doc.file))
    return Result(doc.file, doc, diagnostics=diags, project=project, library=True)


def check_document(
    doc: Document, project: Project | None = None, *, origin: str | os.PathLike[str] | None = None
) -> Result:
    """Every check after reading: composition, schema, names, graph, shapes, training.

    ``project`` is what the spec may use beyond itself (:mod:`modelspec.source.project`);
    by default, the project of the folder the spec's file is in. ``origin`` is the
    spec's path on disk, where its ``include:`` paths start (default: ``doc.file``).
    """
    if project is None:
        project = find_project(os.path.dirname(os.path.abspath(doc.file)))
    if is_library(doc.data):
        return _check_library(doc, project, origin)
    notes = None
    if uses_composition(doc.data):
        # Blocks, repeats and ${...}: checked on the plain spec they expand to.
        from modelspec.compose.expand import expand

        expanded, compose_diags = expand(doc, project, origin=origin)
        if expanded is None:
            compose_diags.sort(key=_order(doc.file))
            return Result(doc.file, doc, diagnostics=compose_diags, project=project)
        doc, notes = expanded.doc, expanded.notes
    result = Result(doc.file, doc, project=project)
    if notes is not None:
        result.groups, result.shares = expanded.groups, expanded.shares
        result.models = expanded.models
    diags = validate(doc)
    if notes is not None:
        diags += compose_diags  # warnings about block definitions
    # State files (`vocabulary: {file: ...}`) read and written inline, once the schema
    # has checked how they are named.
    doc, state_diags = read_state(doc, project, origin)
    diags += state_diags
    result.doc = doc
    result.spec, parse_diags = parse(doc)
    diags += parse_diags
    bad = {d.path[:n] for d in diags if d.is_error for n in range(1, len(d.path) + 1)}
    # (An op step's layer has the step's path: an error anywhere in the step skips it.)
    result.skip_layers = frozenset(
        name for name, layer in result.spec.layers.items() if layer.source.path in bad
    )
    result.diagnostics = diags
    for run in PASSES:
        result.diagnostics += run(result)
    diags = result.diagnostics
    if notes:
        from modelspec.compose.expand import annotate

        diags = list(annotate(diags, notes))
    diags.sort(key=_order(doc.file))
    result.diagnostics = diags
    return result


def check(
    path: str | os.PathLike[str], *, display: str | None = None, project: Project | None = None
) -> Result:
    """Run every check on the spec file at ``path``.

    ``project`` defaults to the project ``path`` is in; a broken ``[tool.modelspec]``
    there is a warning (MS020) among the diagnostics.
    """
    if project is None:
        project = find_project(path)
    doc, diags = load(path, display=display)
    if doc is None or diags:
        result = Result(display or str(path), doc, diagnostics=diags, project=project)
    else:
        result = check_document(doc, project, origin=path)
    result.diagnostics[:0] = project.diagnostics
    return result


def check_text(text: str, file: str = "<spec>", *, project: Project | None = None) -> Result:
    """Like :func:`check`, for spec text already in memory; ``project`` defaults to the
    current folder's."""
    doc, diags = loads(text, file)
    if project is None:
        project = find_project(os.getcwd())
    if doc is None or diags:
        return Result(file, doc, diagnostics=diags, project=project)
    return check_document(doc, project)
