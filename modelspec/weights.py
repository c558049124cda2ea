"""Loading weights by layer name: a ``.weights.h5`` or ``.keras`` file -> a built model.

Keras 3's ``model.load_weights`` matches layers by their position in the model, so it
cannot load the convolutions of a trained model into a new model with another head,
let alone under new names. :func:`load_weights_by_name` does::

    >>> from modelspec.weights import load_weights_by_name      # doctest: +SKIP
    >>> load_weights_by_name(model, "runs/base.keras", {"new_conv1": "conv1"})  # doctest: +SKIP

Layer ``new`` of ``model`` takes the weights of layer ``map.get(new, new)`` in the file.
Every shape is compared before anything is assigned, and every mismatch is reported
at once (MS525), by layer name; with ``skip_mismatch`` those layers are skipped
instead, with a warning. Layers with weights that find nothing in the file keep
their initial weights (warning MS527).

The file is read as data: the HDF5 datasets of a ``.weights.h5``, or the
``model.weights.h5`` member of a ``.keras`` zip. A ``.keras`` file's
``config.json`` is never read, so nothing in the file is deserialized.

See the note on weights by name below for how the variables are matched.
"""

from __future__ import annotations

import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from modelspec.errors import ERROR, WARNING, Diagnostic, ModelspecError, cut_list, did_you_mean
from modelspec.passes.weights import SUFFIXES

# NOTE: [weights by name]
# Keras writes a model's weights by walking it (keras/src/saving/saving_lib.py,
# `_save_state`): each top-level layer is a group `layers/<class name>[_n]` -- named
# after its class, not its name -- whose `vars` group holds its own variables as
# datasets `0`, `1`, ... and carries the layer's name in the attribute `name`.
# Sub-objects (a Bidirectional's `forward_layer/cell`, a MultiHeadAttention's
# `query_dense`) are sub-groups named after the attribute that holds them, so the
# layout below a layer depends on its type and configuration only, never on names.
#
# So the variable order is not guessed here: the new model writes its own weights
# with `model.save_weights` to a scratch file, which gives the exact layout Keras
# expects back. Each layer's sub-tree there is compared, path by path and shape by
# shape, with the sub-tree of the file's layer of the mapped name. Only when all fits
# are the matched datasets copied into the scratch file, which `model.load_weights`
# then loads: both ends are Keras's public API, and layers that were not matched
# load their own current values back. The cost is one copy of the model's weights on
# disk, in a temporary folder that is always removed.

KERAS_MEMBER = "model.weights.h5"  # where a .keras zip keeps its weights


class WeightsError(ModelspecError):
    """Weights could not be loaded; nothing was assigned. ``.diagnostics`` says why."""


class WeightsWarning(UserWarning):
    """Something about loading weights the user should know: skipped or fresh layers."""


@dataclass(frozen=True, slots=True)
class Where:
    """Where load-time diagnostics point: the spec's ``weights:`` section when the
    weights come from a spec, else the weights file itself. ``map`` gives each map
    key's place."""

    file: str
    line: int = 1
    col: int = 1
    path: tuple[Any, ...] = ()
    map: Mapping[str, tuple[int, int, tuple[Any, ...]]] = field(default_factory=dict)

    def at(self, level: str, code: str, message: str, hint: str | None = None,
           key: str | None = None) -> Diagnostic:  # fmt: skip
        if key is not None and key in self.map:
            line, col, path = self.map[key]
            return Diagnostic(level, code, message, hint, self.file, line, col, path)
        return Diagnostic(level, code, message, hint, self.file, self.line, self.col, self.path)


@dataclass(frozen=True, slots=True)
class Report:
    """What :func:`load_weights_by_name` did.

    ``loaded``: ``(layer, name in the file)`` for each layer that got the file's
    weights; ``skipped``: layers that did not fit (``skip_mismatch``); ``fresh``: layers
    with weights that found nothing in the file; ``diagnostics``: the warnings.
    """

    loaded: tuple[tuple[str, str], ...]
    skipped: tuple[str, ...]
    fresh: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...]


# --- reading --------------------------------------------------------------------------


@contextmanager
def open_weights(
    path: str | os.PathLike[str], *, display: str | None = None, where: Where | None = None
) -> Iterator[Any]:
    """The HDF5 file of weights at ``path`` (a ``.weights.h5``, or the one inside a
    ``.keras``), opened read-only; :class:`WeightsError` (MS524) if it cannot be read."""
    import h5py

    path = os.fspath(path)
    shown = display or path

    def fail(why: str, hint: str | None = None) -> WeightsError:
        at = where or Where(shown)
        return WeightsError(
            [at.at(ERROR, "MS524", f"cannot read weights file '{shown}': {why}", hint)]
        )

    if not path.endswith(SUFFIXES):
        raise fail("it must end in .weights.h5 or .keras")
    with ExitStack() as stack:
        try:
            if path.endswith(".keras"):
                archive = stack.enter_context(zipfile.ZipFile(path))
                if KERAS_MEMBER not in archive.namelist():
                    raise fail(f"the .keras file has no {KERAS_MEMBER}",
                               "a .keras file that Keras 3 saved holds one")  # fmt: skip
                source: Any = stack.enter_context(archive.open(KERAS_MEMBER))
            else:
                source = path
            h5 = stack.enter_context(h5py.File(source, "r"))
        except FileNotFoundError:
            raise fail("no such file") from None
        except IsADirectoryError:
            raise fail("it is a directory") from None
        except zipfile.BadZipFile:
            raise fail("it is not a zip file, as a .keras file is") from None
        except OSError as exc:  # h5py's word for "not HDF5"
            raise fail(f"it is not an HDF5 file of weights ({exc.strerror or exc})") from None
        yield h5


def variables(group: Any, prefix: str = "") -> dict[str, Any]:
    """``relative path -> dataset`` for every dataset below ``group``, at any depth."""
    import h5py

    out: dict[str, Any] = {}
    for key in sorted(group):
        item = group.get(key)
        if isinstance(item, h5py.Dataset):
            out[prefix + key] = item
        elif isinstance(item, h5py.Group):
            out.update(variables(item, f"{prefix}{key}/"))
    return out


def layers_by_name(h5: Any) -> dict[str, Any]:
    """``layer name -> group`` for the top-level layers of a weights file (see the note)."""
    import h5py

    out: dict[str, Any] = {}
    layers = h5.get("layers")
    if not isinstance(layers, h5py.Group):
        return out
    for key in layers:
        group = layers.get(key)
        own = group.get("vars") if isinstance(group, h5py.Group) else None
        name = own.attrs.get("name") if isinstance(own, h5py.Group) else None
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if isinstance(name, str):
            out.setdefault(name, group)
    return out


# --- matching -------------------------------------------------------------------------


def _kind(ds: Any) -> tuple[tuple[int, ...], str]:
    """A dataset's shape, and ``bfloat16`` when Keras marked it so (it is stored raw)."""
    return tuple(ds.shape), str(ds.attrs.get("dtype", ""))


def _labels(layer: Any, paths: list[str]) -> dict[str, str]:
    """``vars/0`` -> ``kernel (vars/0)``, for a layer with no sub-objects whose
    variables are exactly its own: Keras saves them in ``layer.weights`` order."""
    if any(not p.startswith("vars/") or p.count("/") != 1 for p in paths):
        return {}
    weights = list(getattr(layer, "weights", ()))
    if len(weights) != len(paths):
        return {}
    out = {}
    for w in weights:
        i = len(out)
        out[f"vars/{i}"] = f"{w.path.rsplit('/', 1)[-1]} ({f'vars/{i}'})"
    return out


def _fmt(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _mismatches(layer: Any, mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    labels = _labels(layer, list(mine))
    out = []
    for path in sorted(set(mine) | set(theirs)):
        label = labels.get(path, path)
        if path not in theirs:
            out.append(f"{label} is not in the file")
        elif path not in mine:
            out.append(f"the file has {label} {_fmt(theirs[path].shape)}, which the layer does not")
        elif _kind(mine[path]) != _kind(theirs[path]):
            a, b = _kind(mine[path]), _kind(theirs[path])
            if a[0] != b[0]:
                out.append(f"{label} is {_fmt(a[0])} in the model, {_fmt(b[0])} in the file")
            else:
                out.append(f"{label} is {a[1] or 'not bfloat16'} in the model, {b[1] or 'not bfloat16'} in the file")  # fmt: skip
    return out


def load_weights_by_name(
    model: Any,
    path: str | os.PathLike[str],
    weights_map: Mapping[str, str] | None = None,
    *,
    skip_mismatch: bool = False,
    where: Where | None = None,
    warn: bool = True,
    display: str | None = None,
) -> Report:
    """Load ``path`` into the built ``model``, layer by layer, by name.

    ``weights_map`` maps names of ``model``'s layers to names in the file; a layer it
    does not list loads from its own name. Raises :class:`WeightsError` with every
    problem before anything is assigned: shapes that do not fit (MS525), map entries
    the file or the model has no layer for (MS526), a file that matches nothing
    (MS528), a file that cannot be read (MS524). With ``skip_mismatch``, MS525 and
    MS526 are warnings and those layers are skipped. Warnings go to
    :func:`warnings.warn` (``warn=False``: only into the returned :class:`Report`).
    ``display`` is the file's name in messages (default: ``path``).
    """
    shown = display or os.fspath(path)
    where = where or Where(shown)
    weights_map = dict(weights_map or {})
    problem = ERROR if not skip_mismatch else WARNING
    errors: list[Diagnostic] = []
    notes: list[Diagnostic] = []
    with tempfile.TemporaryDirectory(prefix="modelspec-weights-") as scratch:
        own = os.path.join(scratch, "model.weights.h5")
        model.save_weights(own)
        import h5py

        with open_weights(path, display=shown, where=where) as theirs, h5py.File(own, "r+") as mine:
            file_layers = layers_by_name(theirs)
            model_layers = layers_by_name(mine)
            if not file_layers:
                raise WeightsError([where.at(ERROR, "MS524", f"cannot read weights file '{shown}': it has no layers with names",
                                             "a file that Keras 3 saved names each layer's weights")])  # fmt: skip
            by_name = {layer.name: layer for layer in model.layers}
            for new in weights_map:
                if new not in model_layers:
                    errors.append(where.at(ERROR, "MS526", f"`weights_map` names layer '{new}', which the model does not have",
                                           did_you_mean(new, model_layers) or "map keys are layer names of the model", key=new))  # fmt: skip
            plan: list[tuple[dict[str, Any], dict[str, Any]]] = []
            loaded, skipped, fresh = [], [], []
            for new, group in model_layers.items():
                mine_vars = variables(group)
                if not mine_vars:
                    continue  # no weights: nothing to load
                old = weights_map.get(new, new)
                if old not in file_layers:
                    if new in weights_map:
                        d = where.at(problem, "MS526", f"layer '{new}' is mapped to '{old}', which '{shown}' does not have",
                                     did_you_mean(old, file_layers) or f"the file's layers: {cut_list(sorted(file_layers))}", key=new)  # fmt: skip
                        (errors if d.is_error else notes).append(d)
                        skipped.append(new)
                    else:
                        fresh.append(new)
                    continue
                theirs_vars = variables(file_layers[old])
                bad = _mismatches(by_name.get(new), mine_vars, theirs_vars)
                if bad:
                    what = f"layer '{new}'" + (f" (from '{old}')" if old != new else "")
                    verb = (
                        "skipped: its weights do not fit"
                        if skip_mismatch
                        else "does not fit the weights in the file"
                    )
                    d = where.at(problem, "MS525", f"{what} {verb}: {'; '.join(bad)}",
                                 "map it to a layer of the same type and sizes, or set skip_mismatch to load the rest",
                                 key=new if new in weights_map else None)  # fmt: skip
                    (errors if d.is_error else notes).append(d)
                    skipped.append(new)
                    continue
                plan.append((mine_vars, theirs_vars))
                loaded.append((new, old))
            if not errors and not loaded:
                errors.append(where.at(ERROR, "MS528", f"no layer of model '{model.name}' matches a layer in '{shown}'",
                                       f"the file's layers: {cut_list(sorted(file_layers))}; map names with weights_map"))  # fmt: skip
            if errors:
                raise WeightsError(errors)
            if fresh:
                many = len(fresh) != 1
                notes.append(where.at(WARNING, "MS527", f"{len(fresh)} layer{'s' * many} found no weights in '{shown}' and "
                                      f"keep{'s' * (not many)} {'their' if many else 'its'} initial weights: {cut_list(fresh)}",
                                      "if the file has them under other names, map them (`weights.map`, or weights_map=)"))  # fmt: skip
            # Everything fits: now, and only now, copy (see the note at the top).
            for mine_vars, theirs_vars in plan:
                for key, dataset in mine_vars.items():
                    dataset[()] = theirs_vars[key][()]
        model.load_weights(own)
    if warn:
        for d in notes:
            warnings.warn(
                d.format() + (f" ({d.hint})" if d.hint else ""), WeightsWarning, stacklevel=2
            )
    return Report(tuple(loaded), tuple(skipped), tuple(fresh), tuple(notes))


def load_planned(
    model: Any,
    planned: Any,
    weights: str | os.PathLike[str] | bool | None = None,
    weights_map: Mapping[str, str] | None = None,
    skip_mismatch: bool | None = None,
    *,
    warn: bool = True,
) -> Report | None:
    """Load weights into a model built from a plan whose ``weights:`` is ``planned``
    (a :class:`~modelspec.plan.PlanWeights`, or None).

    Each argument left as None takes the spec's value; ``weights=False`` loads nothing.
    A file named by the spec must be inside its project (MS523), checked again here
    with links followed, since the file may have changed since lint; a file the caller
    names is the caller's choice.
    """
    if weights is False or (weights is None and planned is None):
        return None
    where = None
    if planned is not None:
        keys = {new: (line, col, ("weights", "map", new)) for new, line, col in planned.map_lines}
        where = Where(planned.spec_file, planned.line, planned.col, ("weights",), keys)
        weights_map = dict(planned.map) if weights_map is None else weights_map
        skip_mismatch = planned.skip_mismatch if skip_mismatch is None else skip_mismatch
    if weights is None:
        from pathlib import Path

        real = Path(os.path.realpath(planned.path))
        if planned.roots and not any(real.is_relative_to(r) for r in planned.roots):
            raise WeightsError([where.at(ERROR, "MS523", f"weights file '{planned.file}' is outside the project root '{planned.roots[0]}'",
                                         "a spec may only read files of its own project; copy the file into it")])  # fmt: skip
        weights = planned.path
    else:
        where = None  # the caller's file: problems are reported at it
    shown = planned.file if where is not None else None
    return load_weights_by_name(model, weights, weights_map, skip_mismatch=bool(skip_mismatch),
                                where=where, warn=warn, display=shown)  # fmt: skip
