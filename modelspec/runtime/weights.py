"""Loading weights by layer name: a ``.weights.h5`` or ``.keras`` file -> a built model.

Keras 3's ``model.load_weights`` matches layers by their position in the model, so it
cannot load the convolutions of a trained model into a new model with another head,
let alone under new names. :func:`load_weights_by_name` does::

    >>> from modelspec.weights import load_weights_by_name      # doctest: +SKIP
    >>> load_weights_by_name(model, "runs/base.keras", {"new_conv1": "conv1"})  # doctest: +SKIP

Layer ``new`` of ``model`` takes the weights of layer ``map.get(new, new)`` in the file.
A layer inside a nested model is named ``<model>_<layer>``, in the model and in the
file (see the note on nested models below).
Every shape is compared before anything is assigned, and every mismatch is reported
at once (MS525), by layer name; with ``skip_mismatch`` those layers are skipped
instead, with a warning. Layers with weights that find nothing in the file keep
their initial weights (warning MS527).

The file is read as data, and checked before any dataset is read
(:mod:`modelspec.runtime.weights_file`); then a dataset is only read into a variable
of the same shape, so nothing larger than the model is ever read. ``modelspec train``
runs these checks before TensorFlow is imported (:func:`check_planned`).

See the note on weights by name below for how the variables are matched.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelspec.errors import ERROR, WARNING, Diagnostic, cut_list, did_you_mean, printable
from modelspec.runtime.keras2_weights import (
    LegacyLayoutError,
    from_cudnn,
    legacy_layers,
    legacy_root,
    split_nested,
)
from modelspec.runtime.weights_file import (
    H5_ERRORS,
    WeightsError,
    Where,
    layers_by_name,
    open_weights,
    string_attr,
    variables,
)


class WeightsWarning(UserWarning):
    """Something about loading weights the user should know: skipped or fresh layers."""


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
    # Whether ``quantize`` was called before loading: the file held quantized weights.
    quantized: bool = False


def named_layers(model: Any, prefix: str = "") -> dict[str, Any]:
    """``name -> layer`` for the layers of a built model, those of a nested model named
    ``<model>_<layer>`` as :func:`layers_by_name` names them in a file."""
    import keras

    out: dict[str, Any] = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.update(named_layers(layer, f"{prefix}{layer.name}_"))
        else:
            out.setdefault(prefix + layer.name, layer)
    return out


# --- matching -------------------------------------------------------------------------


def _kind(item: Any) -> tuple[tuple[int, ...], str]:
    """A dataset's shape, and ``bfloat16`` when Keras marked it so (it is stored raw);
    a Keras variable's shape (a value is assigned to it with a cast)."""
    import h5py

    if not isinstance(item, h5py.Dataset):
        return tuple(item.shape), ""
    return tuple(item.shape), string_attr(item, "dtype") or ""


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


def _mismatches(
    labels: Mapping[str, str], mine: dict[str, Any], theirs: dict[str, Any]
) -> list[str]:
    out = []
    for path in sorted(set(mine) | set(theirs), key=_position):
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
                out.append(
                    f"{label} is {a[1] or 'not bfloat16'} in the model, {b[1] or 'not bfloat16'} in the file"
                )
    return out


def _position(key: str) -> tuple[int, str]:
    """Keras 2 weights are keyed by their position: 10 after 9."""
    return (int(key), "") if key.isdigit() else (-1, key)


@dataclass(slots=True)
class _Match:
    """What matching a model's layers with a file's found: ``plan`` pairs each
    loaded layer's variables with the file's, by key."""

    plan: list[tuple[dict[str, Any], dict[str, Any]]]
    loaded: list[tuple[str, str]]
    skipped: list[str]
    fresh: list[str]
    notes: list[Diagnostic]


def _match(
    model_name: str,
    model_layers: Mapping[str, dict[str, Any]],
    file_layers: Mapping[str, dict[str, Any]],
    weights_map: Mapping[str, str],
    labels: Any,
    *,
    skip_mismatch: bool,
    where: Where,
    shown: str,
) -> _Match:
    """Match each layer of the model (``name -> {key: variable}``) with the file's
    layer of its name, or of the name ``weights_map`` gives it; ``labels(name, mine,
    theirs)`` names the keys in messages. Raises :class:`WeightsError` with every
    problem (MS525, MS526, MS528); with ``skip_mismatch`` MS525 and MS526 are warnings."""
    problem = ERROR if not skip_mismatch else WARNING
    errors: list[Diagnostic] = []
    found = _Match([], [], [], [], [])
    for new in weights_map:
        if new not in model_layers:
            errors.append(
                where.at(
                    ERROR,
                    "MS526",
                    f"`weights_map` names layer '{new}', which the model does not have",
                    did_you_mean(new, model_layers) or "map keys are layer names of the model",
                    key=new,
                )
            )
    for new, mine in model_layers.items():
        if not mine:
            continue  # no weights: nothing to load
        old = weights_map.get(new, new)
        if old not in file_layers:
            if new in weights_map:
                d = where.at(
                    problem,
                    "MS526",
                    f"layer '{new}' is mapped to '{old}', which '{shown}' does not have",
                    did_you_mean(old, file_layers)
                    or f"the file's layers: {cut_list(sorted(file_layers))}",
                    key=new,
                )
                (errors if d.is_error else found.notes).append(d)
                found.skipped.append(new)
            else:
                found.fresh.append(new)
            continue
        theirs = file_layers[old]
        bad = _mismatches(labels(new, mine, theirs), mine, theirs)
        if bad:
            what = f"layer '{new}'" + (f" (from '{old}')" if old != new else "")
            verb = (
                "skipped: its weights do not fit"
                if skip_mismatch
                else "does not fit the weights in the file"
            )
            d = where.at(
                problem,
                "MS525",
                f"{what} {verb}: {'; '.join(bad)}",
                "map it to a layer of the same type and sizes, or set skip_mismatch to load the rest",
                key=new if new in weights_map else None,
            )
            (errors if d.is_error else found.notes).append(d)
            found.skipped.append(new)
            continue
        found.plan.append((mine, theirs))
        found.loaded.append((new, old))
    if not errors and not found.loaded:
        errors.append(
            where.at(
                ERROR,
                "MS528",
                f"no layer of model '{model_name}' matches a layer in '{shown}'",
                f"the file's layers: {cut_list(sorted(file_layers))}; map names with weights_map",
            )
        )
    if errors:
        raise WeightsError(errors)
    if found.fresh:
        fresh = found.fresh
        many = len(fresh) != 1
        found.notes.append(
            where.at(
                WARNING,
                "MS527",
                f"{len(fresh)} layer{'s' * many} found no weights in '{shown}' and "
                f"keep{'s' * (not many)} {'their' if many else 'its'} initial weights: {cut_list(fresh)}",
                "if the file has them under other names, map them (`weights.map`, or weights_map=)",
            )
        )
    return found


def _unreadable(where: Where, shown: str, dataset: Any, exc: Exception) -> WeightsError:
    return WeightsError(
        [
            where.at(
                ERROR,
                "MS524",
                f"cannot read weights file '{shown}': dataset '{dataset.name}' cannot be read ({exc})",
            )
        ]
    )


def load_weights_by_name(
    model: Any,
    path: str | os.PathLike[str],
    weights_map: Mapping[str, str] | None = None,
    *,
    skip_mismatch: bool = False,
    where: Where | None = None,
    warn: bool = True,
    display: str | None = None,
    quantize: Callable[[Any], None] | None = None,
) -> Report:
    """Load ``path`` into the built ``model``, layer by layer, by name.

    ``path`` is a Keras 3 ``.weights.h5`` or ``.keras`` file, or a Keras 2 HDF5 file
    (``save_weights("w.h5")`` or a whole model, ``model.save("m.h5")``; see
    :mod:`modelspec.runtime.keras2_weights`).
    ``weights_map`` maps names of ``model``'s layers to names in the file; a layer it
    does not list loads from its own name. Raises :class:`WeightsError` with every
    problem before anything is assigned: shapes that do not fit (MS525), map entries
    the file or the model has no layer for (MS526), a file that matches nothing
    (MS528), a file that cannot be read (MS524). With ``skip_mismatch``, MS525 and
    MS526 are warnings and those layers are skipped. Warnings go to
    :func:`warnings.warn` (``warn=False``: only into the returned :class:`Report`).
    ``display`` is the file's name in messages (default: ``path``).

    ``quantize(model)`` quantizes the model as its spec says (Keras's ``model.quantize``):
    a quantized model's file (see the note on quantized weights below) is loaded once it
    has been called, and the report says so (``quantized``); float weights are loaded
    as they are, and the caller quantizes after.
    """
    shown = display or os.fspath(path)
    where = where or Where(shown)
    options = {"skip_mismatch": skip_mismatch, "where": where, "shown": shown}
    weights_map = dict(weights_map or {})
    quantized = False
    with open_weights(path, display=shown, where=where) as theirs:
        root = legacy_root(theirs)
        if root is not None:  # Keras 2: assigned to the variables, no file of the model's
            found = _load_keras2(model, root, weights_map, options)
        else:
            import h5py

            with tempfile.TemporaryDirectory(prefix="modelspec-weights-") as scratch:
                own = os.path.join(scratch, "model.weights.h5")
                model.save_weights(own)
                if quantize is not None:
                    with h5py.File(own, "r") as mine:
                        quantized = _holds_quantized(theirs, mine, weights_map)
                    if quantized:
                        quantize(model)
                        os.remove(own)
                        model.save_weights(own)
                with h5py.File(own, "r+") as mine:
                    found = _load_keras3(model, theirs, mine, weights_map, options)
                model.load_weights(own)
    if warn:
        for d in found.notes:
            warnings.warn(
                d.format() + (f" ({d.hint})" if d.hint else ""), WeightsWarning, stacklevel=2
            )
    return Report(
        tuple(found.loaded), tuple(found.skipped), tuple(found.fresh), tuple(found.notes), quantized
    )


# NOTE: [quantized weights]
# Keras's model.quantize() gives each layer it quantizes more variables than it had
# (int8: the kernel becomes int8, and its scale is added; float8: the scales and amax
# histories), and a quantized model saves them all. Such a file fits a model only once
# the model is quantized the same way: a layer of the file holding every variable of the
# model's layer and more is one the file has quantized. Then ``quantize`` is called
# before the shapes are compared, and the file's layers must fit the quantized model.
def _holds_quantized(theirs: Any, mine: Any, weights_map: Mapping[str, str]) -> bool:
    """Whether a layer of ``theirs`` has more variables than the model's float layer of
    its name (see NOTE: [quantized weights])."""
    file_layers = layers_by_name(theirs)
    for new, group in layers_by_name(mine).items():
        old = weights_map.get(new, new)
        if old not in file_layers:
            continue
        ours, their = set(variables(group)), set(variables(file_layers[old]))
        if ours and ours < their:
            return True
    return False


def _load_keras3(model: Any, theirs: Any, mine: Any, weights_map: Mapping[str, str],
                 options: dict[str, Any]) -> _Match:  # fmt: skip
    """Keras 3's layout: the model's own weights, saved to ``mine``, are matched with
    ``theirs`` by path within each layer, and copied into ``mine`` (the caller loads it)."""
    where, shown = options["where"], options["shown"]
    file_layers = {name: variables(group) for name, group in layers_by_name(theirs).items()}
    if not file_layers:
        raise WeightsError([_no_layers(where, shown)])
    by_name = named_layers(model)
    model_layers = {name: variables(group) for name, group in layers_by_name(mine).items()}
    found = _match(
        model.name,
        model_layers,
        file_layers,
        weights_map,
        lambda new, paths, _: _labels(by_name.get(new), list(paths)),
        **options,
    )
    # Everything fits: now, and only now, copy (see the note at the top).
    for mine_vars, theirs_vars in found.plan:
        for key, dataset in mine_vars.items():
            try:
                dataset[()] = theirs_vars[key][()]
            except H5_ERRORS as exc:  # data that HDF5 cannot read back
                raise _unreadable(where, shown, theirs_vars[key], exc) from None
    return found


def _load_keras2(model: Any, root: Any, weights_map: Mapping[str, str],
                 options: dict[str, Any]) -> _Match:  # fmt: skip
    """Keras 2's layout: each layer's variables (``layer.weights``) are matched with
    the layer's ``weight_names`` by position, as Keras 2 loads them, and assigned."""
    import keras

    where, shown = options["where"], options["shown"]
    try:
        listed = legacy_layers(root)
    except LegacyLayoutError as exc:
        raise WeightsError(
            [where.inside("MS524", f"cannot read weights file '{shown}': {exc}")]
        ) from None
    if not listed:
        raise WeightsError([_no_layers(where, shown)])
    nested = {layer.name: layer for layer in model.layers if isinstance(layer, keras.Model)}
    file_layers: dict[str, dict[str, Any]] = {}
    names: dict[str, list[str]] = {}
    for name, weights in listed.items():
        if name in nested:
            parts, unplaced = split_nested(weights, nested[name], f"{name}_")
            if unplaced:
                raise WeightsError([where.inside(
                    "MS524",
                    f"cannot read weights file '{shown}': the weights "
                    f"{cut_list([repr(printable(w)) for w in unplaced], 4)} of nested model "
                    f"'{name}' name none of its layers",
                )])  # fmt: skip
        else:
            parts = {name: weights}
        for part, items in parts.items():
            items = from_cudnn(items)
            file_layers.setdefault(part, {str(i): d for i, (_, d) in enumerate(items)})
            names.setdefault(part, [w for w, _ in items])
    model_layers = {
        name: {str(i): w for i, w in enumerate(layer.weights)}
        for name, layer in named_layers(model).items()
    }

    def labels(new: str, mine: dict[str, Any], theirs: dict[str, Any]) -> dict[str, str]:
        old = names.get(weights_map.get(new, new), [])
        out = {}
        for key in set(mine) | set(theirs):
            i = int(key)
            parts = [mine[key].name] if key in mine else []
            if i < len(old):
                parts.append(f"'{printable(old[i])}' in the file")
            out[key] = f"weight {i} ({', '.join(parts)})"
        return out

    found = _match(model.name, model_layers, file_layers, weights_map, labels, **options)
    values = []
    for mine_vars, theirs_vars in found.plan:  # read everything, then assign
        for key, variable in mine_vars.items():
            try:
                values.append((variable, theirs_vars[key][()]))
            except H5_ERRORS as exc:  # data that HDF5 cannot read back
                raise _unreadable(where, shown, theirs_vars[key], exc) from None
    for variable, value in values:
        variable.assign(value)
    return found


def load_planned(
    model: Any,
    planned: Any,
    weights: str | os.PathLike[str] | bool | None = None,
    weights_map: Mapping[str, str] | None = None,
    skip_mismatch: bool | None = None,
    *,
    warn: bool = True,
    quantize: Callable[[Any], None] | None = None,
) -> Report | None:
    """Load weights into a model built from a plan whose ``weights:`` is ``planned``
    (a :class:`~modelspec.lower.plan.PlanWeights`, or None).

    Each argument left as None takes the spec's value; ``weights=False`` loads nothing.
    A file named by the spec must be inside its project (MS523), checked again here
    with links followed, since the file may have changed since lint; a file the caller
    names is the caller's choice.
    """
    if weights is False or (weights is None and planned is None):
        return None
    if planned is not None:
        weights_map = dict(planned.map) if weights_map is None else weights_map
        skip_mismatch = planned.skip_mismatch if skip_mismatch is None else skip_mismatch
    if weights is not None:  # the caller's file: problems are reported at it
        return load_weights_by_name(
            model,
            weights,
            weights_map,
            skip_mismatch=bool(skip_mismatch),
            warn=warn,
            quantize=quantize,
        )
    where = planned_where(planned)
    return load_weights_by_name(
        model,
        _inside_project(planned, where),
        weights_map,
        skip_mismatch=bool(skip_mismatch),
        where=where,
        warn=warn,
        display=planned.file,
        quantize=quantize,
    )


def planned_where(planned: Any) -> Where:
    """Where the load-time diagnostics of a spec's ``weights:`` go: its section, its
    map keys, and the weights file by its path from the current folder."""
    keys = {new: (line, col, ("weights", "map", new)) for new, line, col in planned.map_lines}
    file = os.path.normpath(os.path.join(os.path.dirname(planned.spec_file), planned.file))
    return Where(planned.spec_file, planned.line, planned.col, ("weights",), keys, file)


def _inside_project(planned: Any, where: Where) -> str:
    """The spec's weights file, if it is inside the project (MS523): checked again
    with links followed, since the file may have changed since lint."""
    from pathlib import Path

    real = Path(os.path.realpath(planned.path))
    if planned.roots and not any(real.is_relative_to(r) for r in planned.roots):
        raise WeightsError(
            [
                where.at(
                    ERROR,
                    "MS523",
                    f"weights file '{planned.file}' is outside the project root '{planned.roots[0]}'",
                    "a spec may only read files of its own project; copy the file into it",
                )
            ]
        )
    return planned.path


def check_planned(planned: Any) -> list[Diagnostic]:
    """Everything that would stop the spec's ``weights:`` file from loading that the
    file alone tells, found with h5py only, before TensorFlow is imported: its place
    (MS523), whether it can be read (MS524), its structure and limits (MS530 - MS533),
    and whether it names its layers. Whether the shapes fit the model is checked when
    the model is built (MS525)."""
    where = planned_where(planned)
    try:
        path = _inside_project(planned, where)
        with open_weights(path, display=planned.file, where=where) as h5:
            root = legacy_root(h5)
            try:
                found = legacy_layers(root) if root is not None else layers_by_name(h5)
            except LegacyLayoutError as exc:
                raise WeightsError(
                    [where.inside("MS524", f"cannot read weights file '{planned.file}': {exc}")]
                ) from None
            if not found:
                raise WeightsError([_no_layers(where, planned.file)])
    except WeightsError as exc:
        return list(exc.diagnostics)
    return []


def _no_layers(where: Where, shown: str) -> Diagnostic:
    return where.at(
        ERROR,
        "MS524",
        f"cannot read weights file '{shown}': it has no layers with names",
        "a file that Keras saved names each layer's weights",
    )
