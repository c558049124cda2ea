"""Checks of the ``weights:`` section, done without the file (lint never opens it).

- MS520: every ``map`` key is a layer of this spec.
- MS521: every ``map`` value is a name a Keras layer can have.
- MS522: the file is a ``.weights.h5``, a ``.keras`` or a Keras 2 ``.h5`` file.
- MS523: the file is inside the project (a spec is untrusted: it may not make a
  build read ``/etc/...`` or ``../../other-project/secret.keras``).
- MS529: a ``map`` key names a layer without weights, so the entry loads nothing.

A layer inside a nested model is named ``<model>_<layer>`` on both sides of a map: in
the spec, the flat name of the instance's layer (``ta_enc1``); in a weights file,
layer ``enc1`` of the nested model ``ta`` (see :mod:`modelspec.runtime.weights`). A key or
value written as a path (``ta/enc1``, ``ta.enc1``) or as the bare layer name gets a hint
with the name to write.

What only the file can tell (its layers, their shapes) is checked when the weights
are loaded: :mod:`modelspec.runtime.weights`, codes MS524 - MS528.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator
from typing import Any

from modelspec.errors import ERROR, WARNING, Diagnostic, did_you_mean
from modelspec.ir import MAX_NAME, NAME, Spec

# .weights.h5 (Keras 3's save_weights), .keras, and any other .h5: a Keras 2 file, of
# weights (save_weights) or a whole model (model.save("m.h5")).
SUFFIXES = (".h5", ".keras")
# An absolute path in POSIX or Windows form, or one from a user's home folder.
_ANCHORED = re.compile(r"(?:[/\\~]|[A-Za-z]:)")
# How a nested layer's path may be written: ta/enc1, ta.enc1 (for ta_enc1).
_PATH = re.compile(r"[/.]")


def resolve(spec_file: str, file: str) -> str:
    """The weights file's path: ``file`` is relative to the spec's folder."""
    return os.path.join(os.path.dirname(os.path.abspath(spec_file)), file)


def suffix_problem(file: str) -> str | None:
    if "\0" in file:  # no file name holds one, and the OS refuses to look it up
        return f"weights file {file!r} holds a NUL character, which no file name has"
    if file.endswith(SUFFIXES):
        return None
    return f"weights file '{file}' must end in .weights.h5, .keras or (Keras 2) .h5"


def place_problem(project: Any, spec_file: str, file: str) -> str | None:
    """Why ``file`` (as a spec writes it) may not be read, or None.

    The path is resolved with links followed, so a link inside the project that points
    out of it is refused too; the file need not exist.
    """
    if _ANCHORED.match(file) or os.path.isabs(file):
        return f"weights file '{file}' must be a path relative to the spec, inside the project"
    if "\0" in file:
        return None  # suffix_problem's
    if project is not None and not project.allows_path(resolve(spec_file, file)):
        return f"weights file '{file}' is outside the project root '{project.root}'"
    return None


def check_weights(
    spec: Spec, project: Any, params: dict[str, tuple[int, int]] | None = None
) -> Iterator[Diagnostic]:
    """MS520 - MS523 and MS529 for ``spec.weights``; ``params`` from shape inference."""
    w = spec.weights
    if w is None:
        return
    problem = suffix_problem(w.file)
    if problem:
        yield Diagnostic.at(
            ERROR,
            "MS522",
            problem,
            w.file_source,
            "save weights with model.save_weights('x.weights.h5') or model.save('x.keras'); "
            "Keras 2's .h5 files are read too",
        )
    problem = place_problem(project, spec.file, w.file)
    if problem:
        yield Diagnostic.at(
            ERROR,
            "MS523",
            problem,
            w.file_source,
            "a spec may only read files of its own project; copy the file into it",
        )
    for entry in w.map:
        if entry.new not in spec.layers:
            hint = _nested_hint(entry.new, spec.layers) or did_you_mean(entry.new, spec.layers)
            yield Diagnostic.at(
                ERROR,
                "MS520",
                f"`weights.map` names layer '{entry.new}', which this spec does not have",
                entry.source,
                hint or "map keys are layers of this spec; values are layers in the file",
            )
        elif params is not None and params.get(entry.new) == (0, 0):
            yield Diagnostic.at(
                WARNING,
                "MS529",
                f"layer '{entry.new}' has no weights, so its `weights.map` entry loads nothing",
                entry.source,
                "remove the entry",
            )
        if not NAME.match(entry.old) or len(entry.old) > MAX_NAME:
            flat = _PATH.sub("_", entry.old)
            hint = (
                f"a layer inside a nested model of the file is named `<model>_<layer>`: write '{flat}'"
                if "/" in entry.old and NAME.match(flat) and len(flat) <= MAX_NAME
                else "write the name of a layer of the model the weights were saved from"
            )
            yield Diagnostic.at(
                ERROR,
                "MS521",
                f"`weights.map` value {entry.old[:60]!r} is not a layer name",
                entry.value_source,
                hint,
            )


def _nested_hint(key: str, layers: Collection[str]) -> str | None:
    """The hint for a map key written as a nested layer's path (``ta/enc1``) or as its
    name inside its block (``enc1``): the flat name(s) the spec gives it."""
    flat = _PATH.sub("_", key)
    if flat != key and flat in layers:
        return f"a layer inside a nested model is named `<model>_<layer>`: write '{flat}'"
    found = sorted(name for name in layers if name.endswith("_" + key))[:3]
    if found:
        shown = " or ".join(f"'{name}'" for name in found)
        return f"a layer of a block instance is named `<instance>_<layer>`: did you mean {shown}?"
    return None
