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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelspec.compose.scan import uses_composition
from modelspec.errors import Diagnostic
from modelspec.ir import Spec, split_ref
from modelspec.lower.parse import parse, unused_layers
from modelspec.passes.graph import GraphFacts, check_graph
from modelspec.passes.shapes import ShapeFacts, infer_shapes
from modelspec.passes.training import check_callback_paths, check_losses, check_training
from modelspec.passes.weights import check_weights
from modelspec.schema.validate import validate
from modelspec.source.document import Document
from modelspec.source.loader import load, loads
from modelspec.source.project import Project, find_project


@dataclass(slots=True)
class Result:
    file: str
    doc: Document | None = None
    spec: Spec | None = None
    graph: GraphFacts | None = None
    shapes: ShapeFacts | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # From composition: each step a block instance made -> ((instance, block), ...),
    # outermost first; and each shared instance -> the instance it shares.
    groups: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    shares: dict[str, str] = field(default_factory=dict)
    # Block instances built as nested keras.Models -> how (compose.context.Nested); the nested
    # pass's facts: what each level of the model calls, in order.
    models: dict[str, Any] = field(default_factory=dict)
    nesting: Any = None
    # The project the spec was checked in: what `include:` may read, which custom
    # layer modules may be imported.
    project: Project | None = None
    # A block library (blocks for other specs to include): checked, but no model.
    library: bool = False
    # Layers whose definitions have errors: the passes give them no shape (guessing
    # would only add noise).
    skip_layers: frozenset[str] = frozenset()

    def not_a_model(self) -> Diagnostic | None:
        """MS727 for a block library given where a model is needed (build, summary ...)."""
        if not self.library or self.doc is None:
            return None
        return self.doc.diagnostic(
            "MS727",
            "this file is a block library, not a model: it has `blocks:` but no "
            "`name`, `inputs` or graph",
            hint="include it from a spec (`include: [path]`) and build that spec",
        )

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors


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


def _unused_layers(spec: Spec, data: Any, diags: list[Diagnostic]) -> list[Diagnostic]:
    """MS213, less what follows from another error (NOTE: [unused after an error] in
    modelspec/passes/graph.py): nothing while an `apply` names a layer that is not
    there (it may have meant any uncalled one), and never a layer the spec names in a
    step or an output, whose step failed (and said why) or which names a layer where a
    tensor belongs (MS201 says so)."""
    unused = list(unused_layers(spec))
    if not unused or any(d.code == "MS202" for d in diags):
        return []
    named = _names_used(data)
    return [d for d in unused if d.path[-1:] and d.path[-1] not in named]


def _names_used(data: Any) -> set[str]:
    """The names the graph's `apply` and `to`, `sequential` and the outputs' `from`
    write, without a tensor index."""
    written: list[Any] = []
    if isinstance(data, dict):
        graph = data.get("graph")
        for step in graph.values() if isinstance(graph, dict) else ():
            if isinstance(step, dict):
                for key in ("apply", "to"):
                    value = step.get(key)
                    written += value if isinstance(value, list) else [value]
        sequential = data.get("sequential")
        written += sequential if isinstance(sequential, list) else []
        outputs = data.get("outputs")
        for out in outputs.values() if isinstance(outputs, dict) else ():
            written.append(out.get("from") if isinstance(out, dict) else None)
    return {split_ref(name)[0] for name in written if isinstance(name, str)}


# The passes, in the order they run on the IR. Each takes the result so far, may
# write its facts into it, and returns its diagnostics; one that needs an earlier
# pass's facts comes after it. A pass never raises for a bad spec.
Pass = Callable[[Result], list[Diagnostic]]


def _graph(result: Result) -> list[Diagnostic]:
    result.graph, diags = check_graph(result.spec)
    return diags


def _unused(result: Result) -> list[Diagnostic]:
    return _unused_layers(result.spec, result.doc.data, result.diagnostics)


def _custom(result: Result) -> list[Diagnostic]:
    if not result.spec.custom:
        return []
    from modelspec.catalog.custom import check_custom

    used = {layer.type for layer in result.spec.layers.values()}
    return check_custom(result.spec.custom, used, result.project)


def _shapes(result: Result) -> list[Diagnostic]:
    result.shapes, diags = infer_shapes(
        result.spec, result.graph, skip_layers=result.skip_layers, project=result.project
    )
    return diags


def _training(result: Result) -> list[Diagnostic]:
    return check_training(result.spec)


def _losses(result: Result) -> list[Diagnostic]:
    return check_losses(result.spec, result.graph, result.shapes, skip_layers=result.skip_layers)


def _callbacks(result: Result) -> list[Diagnostic]:
    return check_callback_paths(result.doc, result.spec)


def _weights(result: Result) -> list[Diagnostic]:
    return check_weights(result.spec, result.project, result.shapes.params)


def _nesting(result: Result) -> list[Diagnostic]:
    """Nested models: the flat graph regrouped into the keras.Models that hold it, once
    the flat graph is sound."""
    if not result.models or not result.ok:
        return []
    from modelspec.passes.nested import nest

    result.nesting, diags = nest(
        result.spec, result.graph, result.shapes, result.models, result.groups
    )
    return diags


PASSES: tuple[Pass, ...] = (
    _graph,  # order, broken tensors, live tensors (GraphFacts)
    _unused,  # layers no step calls
    _custom,  # the custom: declarations
    _shapes,  # every tensor's shape, every layer's parameters (ShapeFacts)
    _training,  # compile, optimizer, metrics
    _losses,  # each output's loss against its activation and shape
    _callbacks,  # where callbacks may write
    _weights,  # the weights: section against the layers
    _nesting,  # the levels of nested models (NestFacts)
)


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
    result.spec, parse_diags = parse(doc)
    diags += parse_diags
    bad = {d.path[:n] for d in diags if d.is_error for n in range(1, len(d.path) + 1)}
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
