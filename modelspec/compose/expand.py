"""Composition: ``vars``, ``${...}`` expressions, blocks, repeats and shared instances.

:func:`expand` turns a spec that uses them into a plain spec -- the same document
with no ``vars``, ``blocks``, block steps, ``repeat`` or ``when`` -- before the schema
and every later check see it. The expanded document keeps positions: a value that
came from a block definition points at its line in the block, and
:attr:`Expanded.notes` names the instance it belongs to, so a diagnostic says both.

The rules (``docs/spec.md`` has the user's view):

1. ``vars:`` are evaluated in order; a var may use the vars before it.
2. Every ``${...}`` outside ``blocks:`` is evaluated with the vars.
3. A graph step ``{block: B, to: X, with: {...}}`` is an *instance* of block ``B``,
   named after the step. Its parameters are ``B``'s ``params`` defaults, overridden
   by ``with``; the block's ``${...}`` are evaluated with the vars and those
   parameters. Its layers are named ``{instance}_{layer}``, its steps
   ``{instance}_{step}``; the step's name then stands for the block's output
   (``name[i]`` for the i-th of several).
4. ``repeat: N`` on a block step makes instances ``{step}_block1`` ...
   ``{step}_blockN``, each fed by the one before, with ``index`` (1-based) in
   ``with``. On an ``apply`` step it applies the chain N times (steps ``{step}_1``
   ... ``{step}``), with ``index`` in the step; inline layers are new each time (an
   explicit ``name`` gets ``_{index}``), layers from ``layers:`` are called again.
5. ``share: OTHER`` on a block step calls the layers of the earlier instance
   ``OTHER`` of the same block again: the same weights on another input.
6. ``when: false`` on an ``apply`` step drops it, and its name then stands for its
   input: ``when: ${project}`` makes a projection shortcut optional.
7. ``model: true`` (on the block, or on the block step, which wins) builds an
   instance as a nested ``keras.Model`` named after the instance; see the note in
   :mod:`modelspec.compose.nested`.

The parts: :mod:`~modelspec.compose.context` (the state of one expansion),
:mod:`~modelspec.compose.definitions` (vars and blocks), :mod:`~modelspec.compose.instances`
(block steps), :mod:`~modelspec.compose.apply` (``when`` and ``repeat`` on apply steps)
and :mod:`~modelspec.compose.nested` (nested models).

Nothing here reaches Python's ``eval``: expressions are :mod:`modelspec.compose.expr`'s.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelspec.compose import instances
from modelspec.compose.context import Abort, Context, Nested
from modelspec.compose.definitions import read_blocks, read_vars
from modelspec.compose.limits import Budget
from modelspec.compose.nested import finish_models
from modelspec.compose.scan import COMPOSE_KEYS
from modelspec.compose.syntax import map_step_refs
from modelspec.errors import WARNING, Diagnostic, JsonPath, Stop
from modelspec.source.document import Document
from modelspec.source.include import Library, gather, merge
from modelspec.source.project import Project, find_project


@dataclass(slots=True)
class Expanded:
    """What :func:`expand` gives: the plain document, and where its parts came from."""

    doc: Document
    notes: dict[JsonPath, str] = field(default_factory=dict)  # ("layers", name) -> where
    # Each step an instance made -> the instances it is in, outermost first:
    # ((instance, block), ...). For drawing blocks as boxes.
    groups: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    shares: dict[str, str] = field(default_factory=dict)  # instance -> the one it shares
    # Each instance built as a nested keras.Model (or calling one it shares) -> how.
    models: dict[str, Nested] = field(default_factory=dict)


def expand(
    doc: Document, project: Project | None = None, *, origin: str | os.PathLike[str] | None = None
) -> tuple[Expanded | None, list[Diagnostic]]:
    """The plain spec ``doc`` stands for, or ``None`` and why not.

    ``include:`` reads files within ``project`` (by default, the project of the
    folder ``origin`` is in), relative to ``origin``: the spec's path on disk, by
    default ``doc.file``.
    """
    owners: dict[str, Library] = {}
    lib_vars: dict[str, dict[str, Any]] = {}
    budget = Budget()
    if isinstance(doc.data, dict) and "include" in doc.data:
        if project is None:
            project = find_project(os.path.dirname(os.path.abspath(origin or doc.file)))
        included, diags = gather(doc, project, origin)
        doc.sources.update(included.sources)  # to show the lines of their diagnostics
        doc, owners, clashes = merge(doc, included)
        diags += clashes
        for lib in included.libraries:
            if "vars" in lib.doc.data:  # each file's own vars, for its own blocks
                sub = Context(lib.doc, budget=budget)
                try:
                    read_vars(sub, lib.doc.data["vars"])
                except Stop:
                    return None, [*diags, *sub.diagnostics]
                diags += sub.diagnostics
                lib_vars[lib.file] = sub.vars
        if any(d.is_error for d in diags):
            return None, diags
    ex = Context(doc, owners, lib_vars, budget)
    if not isinstance(doc.data, dict):
        return Expanded(doc), []
    try:
        expanded = _document(ex)
    except Stop:  # too large: its diagnostic is recorded
        expanded = None
    if expanded is None:
        return None, ex.diagnostics
    return Expanded(expanded, ex.notes, ex.groups, ex.shares, ex.models), ex.warnings


def annotate(diagnostics: list[Diagnostic], notes: Mapping[JsonPath, str]) -> Iterator[Diagnostic]:
    """Diagnostics about an instance's layer or step name the instance."""
    for d in diagnostics:
        note = notes.get(tuple(d.path[:2])) if len(d.path) >= 2 else None
        if note and note not in d.message:
            d = dataclasses.replace(d, message=f"{d.message} [{note}]")
        yield d


def _document(cx: Context) -> Document | None:
    """The plain document, or None (the diagnostics say why)."""
    read_vars(cx, cx.data.get("vars"))
    read_blocks(cx, cx.data.get("blocks"))
    out: dict[str, Any] = {}
    for key, value in cx.data.items():
        if key in COMPOSE_KEYS:
            continue
        _copy_positions(cx, key)
        if key == "graph" and isinstance(value, dict):
            out[key] = value  # expanded below, step by step
            continue
        try:
            out[key] = cx.substitute(value, cx.vars, (key,))
        except Abort:
            out[key] = value
    if isinstance(out.get("layers"), dict):
        for name, value in out["layers"].items():
            cx.layers[name] = value
            cx.origin[name] = ("layers", name)
    graph = cx.data.get("graph")
    if isinstance(graph, dict):
        try:
            for name, spec in graph.items():
                path = ("graph", name)
                try:
                    if isinstance(spec, dict) and (
                        "block" in spec or "repeat" in spec or "when" in spec
                    ):
                        instances.step(cx, name, spec, path, None, 0)
                    else:
                        cx.add_step(name, cx.substitute(spec, cx.vars, path), path, None)
                except Abort:
                    continue
        except Stop:
            return None
        out["graph"] = {name: _resolve_step(cx, name, step) for name, step in cx.steps.items()}
        if "layers" in out:
            out["layers"] = cx.layers
        elif cx.layers:  # instances made layers: the section goes before `graph`
            ordered: dict[str, Any] = {}
            for key, value in out.items():
                if key == "graph":
                    ordered["layers"] = cx.layers
                ordered[key] = value
            out = ordered
    outputs = out.get("outputs")
    if isinstance(outputs, dict):
        for oname, spec in outputs.items():
            if isinstance(spec, dict) and isinstance(spec.get("from"), str):
                outputs[oname] = {
                    **spec,
                    "from": cx.resolve(spec["from"], ("outputs", oname, "from")),
                }
    if cx.models and not cx.diagnostics:
        finish_models(cx, out)
    if cx.diagnostics:
        return None
    for block in cx.blocks.values():
        if _instantiated(cx, block.name):
            for lname in block.layers:
                if (block.name, lname) not in cx.used:
                    cx.warnings.append(
                        cx.doc.diagnostic(
                            "MS213",
                            f"layer '{lname}' of block '{block.name}' is never called",
                            (*block.path, "layers", lname),
                            key=True,
                            level=WARNING,
                            hint="call it in the block's `graph:` or remove it",
                        )
                    )
    return Document(
        cx.doc.file, cx.doc.text, out, cx.positions, cx.key_positions, cx.files, cx.doc.sources
    )


def _instantiated(cx: Context, block: str) -> bool:
    return any(b == block for b, _ in cx.instances.values())


def _copy_positions(cx: Context, key: str) -> None:
    for table, new in (
        (cx.doc.positions, cx.positions),
        (cx.doc.key_positions, cx.key_positions),
    ):
        for path, pos in table.items():
            if path[:1] == (key,) and (key != "graph" or len(path) == 1):
                new[path] = pos


def _resolve_step(cx: Context, name: str, step: Any) -> Any:
    if not isinstance(step, dict) or not cx.aliases:
        return step
    return map_step_refs(step, lambda ref, where: cx.resolve(ref, (*cx.step_paths[name], *where)))
