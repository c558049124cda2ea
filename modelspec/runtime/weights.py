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

The file is read as data: the HDF5 datasets of a ``.weights.h5``, or the
``model.weights.h5`` member of a ``.keras`` zip. A ``.keras`` file's
``config.json`` is never read, so nothing in the file is deserialized. Before a
dataset is read, :func:`check_file` walks the whole file without following a link
and refuses (see the note on weights as data below)

- a link that is not a plain hard link, and a hard link that makes a cycle (MS530);
- a dataset whose data lies outside the file or behind a filter (MS531);
- a file, group or chunk past the limits of this module (MS532);
- a dataset that is not an array of numbers (MS533).

Then a dataset is only read into a variable of the same shape, so nothing larger
than the model is ever read. ``modelspec train`` runs these checks before TensorFlow
is imported (:func:`check_planned`).

See the note on weights by name below for how the variables are matched.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from modelspec.errors import ERROR, WARNING, Diagnostic, ModelspecError, cut_list, did_you_mean
from modelspec.passes.weights import SUFFIXES
from modelspec.source.archive import ArchiveError, open_member, open_zip
from modelspec.source.files import regular_file_problem

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

# NOTE: [nested models]
# A nested keras.Model is written like any layer (`layers/functional`, its name in its
# `vars`), with a `layers` group of its own below, laid out as the top level is. Its
# layers are matched one by one, each named `<model>_<layer>` (`ta_enc1` for layer
# `enc1` of the nested model `ta`, at any depth): the name the flat spec gives the
# layer of a nested instance (see the note in modelspec.compose.nested). So one name serves a
# flat model and a nested one, and weights load from either into the other. A group
# with weights of its own beside its `layers` (a custom layer that holds layers) is
# one layer, matched whole.

KERAS_MEMBER = "model.weights.h5"  # where a .keras zip keeps its weights

# NOTE: [weights as data]
# A weights file may come from a pull request, and HDF5 can do more than hold arrays:
# an external link or an external-storage dataset makes the library open another file
# (any path, read as the user running modelspec), a virtual dataset reads other
# datasets and files, a soft link or a hard link back to an ancestor makes a walk of
# the tree endless, a filter of unknown number makes HDF5 look for a plugin library
# to load, and deflate inflates a chunk of a few kilobytes to gigabytes. None of that
# is in a file Keras writes: groups and contiguous datasets of numbers, each linked
# once. So `check_file` walks the tree with h5py's low-level API, which reads link
# records without following them, identifies objects by their address in the file,
# and inspects a dataset's creation properties, type and shape without reading its
# data, and refuses anything else before any dataset is read.

# The weights HDF5: a .weights.h5 file, or the model.weights.h5 member of a .keras zip
# (its declared size, checked before anything is inflated). The largest model of
# keras.applications (ConvNeXtXLarge) weighs 1.4 GB.
MAX_WEIGHTS_BYTES = 4 * 2**30
# Keras keeps a layer's variables three groups down (layers/<layer>/vars); sub-objects
# (Bidirectional's forward_layer/cell) and nested models add a few levels each.
MAX_GROUP_DEPTH = 32
# The members of one group: `layers` has one per layer of the model.
MAX_GROUP_MEMBERS = 10_000
# Groups and datasets in all: a Keras file has about four per layer (the largest
# keras.applications model, 4,000 or so); HDF5 takes about 80 us to look at each.
MAX_OBJECTS = 50_000
# A chunk of a chunked dataset that is larger than the dataset itself: h5py makes
# chunks of at most 1 MiB; Keras writes no chunked datasets.
MAX_CHUNK_BYTES = 2**20
# Problems reported for one file; the walk stops there.
MAX_REPORTED = 20

# Filters that never make a chunk larger than it is stored: shuffle reorders bytes,
# fletcher32 checks them. Any other (deflate, lzf, szip, a plugin) is refused.
_PLAIN_FILTERS = {2: "shuffle", 3: "fletcher32"}
_FILTER_NAMES = {1: "deflate (gzip)", 4: "szip", 5: "nbit", 6: "scaleoffset", 32000: "lzf"}
# What h5py raises for a record it cannot read (its errors map onto these).
_H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, NotImplementedError)
_RESAVE = "save the weights again with Keras (model.save_weights or model.save)"
_LIMIT_HINT = "a limit of modelspec ({}); if the file is genuine, raise it (see SECURITY.md)"


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
    # The weights file, by its path from the current folder: problems inside it are
    # reported there (None: ``file`` is the weights file).
    weights: str | None = None

    def inside(self, code: str, message: str, hint: str | None = None) -> Diagnostic:
        """A problem inside the weights file, at its line 1, column 1."""
        return Diagnostic(ERROR, code, message, hint, self.weights or self.file, 1, 1)

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
    ``.keras``), opened read-only and checked by :func:`check_file`;
    :class:`WeightsError` if it cannot be read (MS524), is too large (MS532) or holds
    what modelspec does not read (MS530 - MS533)."""
    import h5py

    path = os.fspath(path)
    shown = display or path
    at = where or Where(shown)

    def fail(why: str, hint: str | None = None) -> WeightsError:
        return WeightsError(
            [at.at(ERROR, "MS524", f"cannot read weights file '{shown}': {why}", hint)]
        )

    def too_large(why: str, limit: str) -> WeightsError:
        return WeightsError(
            [
                at.inside(
                    "MS532",
                    f"weights file '{shown}' is too large to read: {why}",
                    _LIMIT_HINT.format(limit),
                )
            ]
        )

    if not path.endswith(SUFFIXES):
        raise fail("it must end in .weights.h5 or .keras")
    problem = regular_file_problem(path)  # a FIFO or a device is never opened
    if problem is not None:
        raise fail(problem)
    limit = f"{__name__}.MAX_WEIGHTS_BYTES"
    with ExitStack() as stack:
        try:
            if path.endswith(".keras"):
                archive = stack.enter_context(open_zip(path))
                if KERAS_MEMBER not in archive.namelist():
                    raise fail(
                        f"the .keras file has no {KERAS_MEMBER}",
                        "a .keras file that Keras 3 saved holds one",
                    )
                info = archive.getinfo(KERAS_MEMBER)
                source: Any = stack.enter_context(
                    open_member(archive, info, MAX_WEIGHTS_BYTES, limit)
                )
            else:
                size = os.stat(path).st_size
                if size > MAX_WEIGHTS_BYTES:
                    raise too_large(
                        f"it is {size:,} bytes; the limit is {MAX_WEIGHTS_BYTES:,}", limit
                    )
                source = path
            h5 = stack.enter_context(h5py.File(source, "r"))
        except ArchiveError as exc:
            if exc.limit is not None:
                raise too_large(exc.message, exc.limit) from None
            raise fail(exc.message) from None
        except FileNotFoundError:
            raise fail("no such file") from None
        except IsADirectoryError:
            raise fail("it is a directory") from None
        except OSError as exc:  # h5py's word for "not HDF5"
            raise fail(f"it is not an HDF5 file of weights ({exc.strerror or exc})") from None
        try:
            problems = check_file(h5, shown, at)
        except _H5_ERRORS as exc:  # records that HDF5 cannot read back: a damaged file
            raise fail(f"it is not an HDF5 file of weights ({exc})") from None
        if problems:
            raise WeightsError(problems)
        yield h5


# --- the file as data (see the note on weights as data) ----------------------------------


def check_file(h5: Any, shown: str, where: Where | None = None) -> list[Diagnostic]:
    """MS530 - MS533 for what the open HDF5 file ``h5`` holds beyond plain groups and
    datasets of numbers, at most :data:`MAX_REPORTED` of them; nothing is followed and
    no dataset is read. ``shown`` names the file in messages; ``where`` says where the
    diagnostics go (default: ``shown``, line 1, column 1)."""
    where = where or Where(shown)
    out: list[Diagnostic] = []
    for code, message, hint in _walk(h5, f"weights file '{shown}'"):
        out.append(where.inside(code, message, hint))
        if len(out) >= MAX_REPORTED:
            break
    return out


def _walk(h5: Any, file: str) -> Iterator[tuple[str, str, str]]:
    """``(code, message, hint)`` for each problem of ``h5``, group by group.

    Each group's links are listed with their records (``H5Literate``), which name the
    kind of a link without resolving it; an object behind a hard link is known by its
    address, so a cycle or a second link to it is found before it is opened.
    """
    from h5py import h5d, h5g, h5l, h5o, h5t

    root = h5o.get_info(h5.id).addr
    seen = {root: "/"}
    objects = 1
    # (a group, its path, its depth, the addresses of the groups above it and itself)
    stack: list[tuple[Any, str, int, tuple[int, ...]]] = [(h5.id, "/", 0, (root,))]
    while stack:
        gid, path, depth, above = stack.pop()
        count = gid.get_num_objs()
        if count > MAX_GROUP_MEMBERS:
            yield (
                "MS532",
                f"group '{path}' of {file} has {count:,} members; the limit is {MAX_GROUP_MEMBERS:,}",
                _LIMIT_HINT.format(f"{__name__}.MAX_GROUP_MEMBERS"),
            )
            continue
        objects += count
        if objects > MAX_OBJECTS:
            yield (
                "MS532",
                f"{file} has more than {MAX_OBJECTS:,} groups and datasets; the limit is {MAX_OBJECTS:,}",
                _LIMIT_HINT.format(f"{__name__}.MAX_OBJECTS"),
            )
            return
        groups: list[tuple[Any, str, int, tuple[int, ...]]] = []
        for name, link, address in _links(gid):
            child = path.rstrip("/") + "/" + name.decode("utf-8", "replace")
            if link != h5l.TYPE_HARD:
                yield "MS530", _link_problem(gid, name, link, child, file), _RESAVE
                continue
            if address in above:
                yield (
                    "MS530",
                    f"'{child}' in {file} is a hard link back to '{seen[address]}', which holds it: a cycle",
                    _RESAVE,
                )
                continue
            if address in seen:
                yield (
                    "MS530",
                    f"'{child}' in {file} is a second link to '{seen[address]}'; modelspec reads each "
                    "object of a weights file by one link only",
                    _RESAVE,
                )
                continue
            seen[address] = child
            obj = h5o.open(gid, name)  # a hard link: resolved inside the file
            if isinstance(obj, h5g.GroupID):
                if depth + 1 > MAX_GROUP_DEPTH:
                    yield (
                        "MS532",
                        f"group '{child}' of {file} is {depth + 1} levels deep; the limit is {MAX_GROUP_DEPTH}",
                        _LIMIT_HINT.format(f"{__name__}.MAX_GROUP_DEPTH"),
                    )
                    continue
                groups.append((obj, child, depth + 1, (*above, address)))
            elif isinstance(obj, h5d.DatasetID):
                yield from _dataset_problems(obj, child, file)
            else:
                what = (
                    "a named datatype"
                    if isinstance(obj, h5t.TypeID)
                    else f"an object of kind {type(obj).__name__}"
                )
                yield ("MS531", f"'{child}' in {file} is {what}, not a group or a dataset", _RESAVE)
        stack.extend(reversed(groups))  # popped in name order


def _links(gid: Any) -> list[tuple[bytes, int, int]]:
    """``(name, kind, address)`` of each link of a group, in name order, from the link
    records alone (``address`` is the object's, for a hard link)."""
    out: list[tuple[bytes, int, int]] = []
    # (h5py hands the callback one LinkInfo, updated for each link: copy its fields)
    gid.links.iterate(lambda name, info: out.append((name, info.type, info.u)), info=True)
    return out


def _link_problem(gid: Any, name: bytes, link: int, child: str, file: str) -> str:
    """The message for a link that is not a hard link, with its target when short."""
    from h5py import h5l

    def text(raw: bytes) -> str:
        value = raw.decode("utf-8", "replace")
        return value if len(value) <= 200 else value[:200] + "..."

    if link == h5l.TYPE_SOFT:
        return (
            f"'{child}' in {file} is a soft link to '{text(gid.links.get_val(name))}'; "
            "modelspec follows no links in a weights file"
        )
    if link == h5l.TYPE_EXTERNAL:
        target_file, target = gid.links.get_val(name)
        return (
            f"'{child}' in {file} is an external link to '{text(target)}' in the file "
            f"'{text(target_file)}'; modelspec reads nothing outside the weights file"
        )
    return (
        f"'{child}' in {file} is a user-defined link (type {link}); modelspec follows "
        "no links in a weights file"
    )


def _dataset_problems(did: Any, path: str, file: str) -> Iterator[tuple[str, str, str]]:
    """A dataset's problems, from its creation properties, type and shape: its data
    is never read here."""
    from h5py import h5d, h5s

    plist = did.get_create_plist()
    layout = plist.get_layout()
    if layout == h5d.VIRTUAL:
        yield (
            "MS531",
            f"dataset '{path}' in {file} is a virtual dataset, whose data comes from other "
            "datasets and files; modelspec reads nothing outside the weights file",
            _RESAVE,
        )
        return
    if plist.get_external_count():
        raw = plist.get_external(0)[0].decode("utf-8", "replace")[:200]
        yield (
            "MS531",
            f"dataset '{path}' in {file} keeps its data in another file, '{raw}'; "
            "modelspec reads nothing outside the weights file",
            _RESAVE,
        )
        return
    for i in range(plist.get_nfilters()):
        number = plist.get_filter(i)[0]
        if number not in _PLAIN_FILTERS:
            what = _FILTER_NAMES.get(number, f"filter {number}, which needs a plugin")
            yield (
                "MS531",
                f"dataset '{path}' in {file} is compressed with {what}; modelspec reads "
                "uncompressed weights, as Keras writes them: a compressed chunk can inflate far beyond its size",
                _RESAVE,
            )
            return
    if not _numbers(did):
        yield (
            "MS533",
            f"dataset '{path}' in {file} holds values of type '{_dtype_text(did)}', not numbers",
            "Keras writes every variable as an array of numbers",
        )
        return
    space = did.get_space()
    if space.get_simple_extent_type() == h5s.NULL:
        yield (
            "MS533",
            f"dataset '{path}' in {file} has no shape (an empty dataspace)",
            "Keras writes every variable as an array of numbers",
        )
        return
    if layout == h5d.CHUNKED:
        size = did.get_type().get_size()
        chunk = math.prod(plist.get_chunk()) * size
        whole = math.prod(space.shape) * size
        if chunk > max(whole, MAX_CHUNK_BYTES):
            yield (
                "MS532",
                f"dataset '{path}' in {file} is read in chunks of {chunk:,} bytes, more than its "
                f"{whole:,} bytes and than the limit of {MAX_CHUNK_BYTES:,}",
                _LIMIT_HINT.format(f"{__name__}.MAX_CHUNK_BYTES"),
            )


def _numbers(did: Any) -> bool:
    """Integers or floats of a size numpy has, booleans or complex numbers (enum and
    compound types to HDF5), or bfloat16, which Keras stores as two opaque bytes and
    marks with the attribute ``dtype``. Known from the HDF5 type, before h5py makes
    a numpy dtype of it."""
    from h5py import h5t

    kind = did.get_type()
    cls, size = kind.get_class(), kind.get_size()
    if cls == h5t.INTEGER:
        return size in (1, 2, 4, 8)
    if cls == h5t.FLOAT:
        return size in (2, 4, 8)
    if cls == h5t.OPAQUE:
        return size == 2 and string_attr(did, "dtype") == "bfloat16"
    if cls in (h5t.ENUM, h5t.COMPOUND):  # h5py's bool and complex
        try:
            dtype = did.dtype
        except (TypeError, ValueError):
            return False
        return dtype.kind in "bc" and dtype.fields is None
    return False


def _dtype_text(did: Any) -> str:
    try:
        text = str(did.dtype)
    except (TypeError, ValueError):
        return "an HDF5 type numpy has no dtype for"
    return text if len(text) <= 60 else text[:60] + "..."


def string_attr(oid: Any, name: str) -> str | None:
    """Attribute ``name`` of the object ``oid`` (an h5py object or its id) when it is a
    single string (Keras's ``name`` and ``dtype``), else None: nothing else is read."""
    import h5py
    import numpy as np
    from h5py import h5a, h5t

    if isinstance(oid, (h5py.Group, h5py.Dataset)):
        oid = oid.id
    key = name.encode()
    try:
        if not h5a.exists(oid, key):
            return None
        attr = h5a.open(oid, key)
        if attr.get_type().get_class() != h5t.STRING or attr.shape not in ((), (1,)):
            return None
        if attr.get_storage_size() > 2**16:  # a name of 64 KiB is no layer name
            return None
        value = np.empty(attr.shape, dtype=attr.dtype)
        attr.read(value)
    except _H5_ERRORS:  # a damaged record reads as no attribute
        return None
    item = value.reshape(-1)[0] if value.size else None
    if isinstance(item, bytes):
        return item.decode("utf-8", "replace")
    return item if isinstance(item, str) else None


def variables(group: Any, prefix: str = "") -> dict[str, Any]:
    """``relative path -> dataset`` for every dataset below ``group``, at any depth."""
    import h5py

    out: dict[str, Any] = {}
    for key in sorted(group, key=str):
        item = group.get(key)
        # (h5py gives a name that is not UTF-8 as bytes)
        name = key if isinstance(key, str) else key.decode("utf-8", "replace")
        if isinstance(item, h5py.Dataset):
            out[prefix + name] = item
        elif isinstance(item, h5py.Group):
            out.update(variables(item, f"{prefix}{name}/"))
    return out


def layers_by_name(h5: Any) -> dict[str, Any]:
    """``layer name -> group`` for the layers of a weights file, a nested model's layers
    named ``<model>_<layer>`` (see the note on nested models)."""
    out: dict[str, Any] = {}
    _collect(h5, "", out)
    return out


def _collect(holder: Any, prefix: str, out: dict[str, Any]) -> None:
    import h5py

    layers = holder.get("layers")
    if not isinstance(layers, h5py.Group):
        return
    for key in layers:
        group = layers.get(key)
        own = group.get("vars") if isinstance(group, h5py.Group) else None
        name = string_attr(own, "name") if isinstance(own, h5py.Group) else None
        if name is None:
            continue
        if _is_model(group):
            _collect(group, f"{prefix}{name}_", out)
        else:
            out.setdefault(prefix + name, group)


def _is_model(group: Any) -> bool:
    """A group that holds layers and has no weights of its own: a nested model."""
    import h5py

    if not isinstance(group.get("layers"), h5py.Group):
        return False
    for key in group:
        item = group.get(key)
        if key != "layers" and (not isinstance(item, h5py.Group) or variables(item)):
            return False  # weights beside the layers: a layer of its own, matched whole
    return True


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


def _kind(ds: Any) -> tuple[tuple[int, ...], str]:
    """A dataset's shape, and ``bfloat16`` when Keras marked it so (it is stored raw)."""
    return tuple(ds.shape), string_attr(ds, "dtype") or ""


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
                out.append(
                    f"{label} is {a[1] or 'not bfloat16'} in the model, {b[1] or 'not bfloat16'} in the file"
                )
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
                raise WeightsError([_no_layers(where, shown)])
            by_name = named_layers(model)
            for new in weights_map:
                if new not in model_layers:
                    errors.append(
                        where.at(
                            ERROR,
                            "MS526",
                            f"`weights_map` names layer '{new}', which the model does not have",
                            did_you_mean(new, model_layers)
                            or "map keys are layer names of the model",
                            key=new,
                        )
                    )
            plan: list[tuple[dict[str, Any], dict[str, Any]]] = []
            loaded, skipped, fresh = [], [], []
            for new, group in model_layers.items():
                mine_vars = variables(group)
                if not mine_vars:
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
                    d = where.at(
                        problem,
                        "MS525",
                        f"{what} {verb}: {'; '.join(bad)}",
                        "map it to a layer of the same type and sizes, or set skip_mismatch to load the rest",
                        key=new if new in weights_map else None,
                    )
                    (errors if d.is_error else notes).append(d)
                    skipped.append(new)
                    continue
                plan.append((mine_vars, theirs_vars))
                loaded.append((new, old))
            if not errors and not loaded:
                errors.append(
                    where.at(
                        ERROR,
                        "MS528",
                        f"no layer of model '{model.name}' matches a layer in '{shown}'",
                        f"the file's layers: {cut_list(sorted(file_layers))}; map names with weights_map",
                    )
                )
            if errors:
                raise WeightsError(errors)
            if fresh:
                many = len(fresh) != 1
                notes.append(
                    where.at(
                        WARNING,
                        "MS527",
                        f"{len(fresh)} layer{'s' * many} found no weights in '{shown}' and "
                        f"keep{'s' * (not many)} {'their' if many else 'its'} initial weights: {cut_list(fresh)}",
                        "if the file has them under other names, map them (`weights.map`, or weights_map=)",
                    )
                )
            # Everything fits: now, and only now, copy (see the note at the top).
            for mine_vars, theirs_vars in plan:
                for key, dataset in mine_vars.items():
                    try:
                        dataset[()] = theirs_vars[key][()]
                    except _H5_ERRORS as exc:  # data that HDF5 cannot read back
                        raise WeightsError(
                            [
                                where.at(
                                    ERROR,
                                    "MS524",
                                    f"cannot read weights file '{shown}': "
                                    f"dataset '{theirs_vars[key].name}' cannot be read ({exc})",
                                )
                            ]
                        ) from None
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
            model, weights, weights_map, skip_mismatch=bool(skip_mismatch), warn=warn
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
            if not layers_by_name(h5):
                raise WeightsError([_no_layers(where, planned.file)])
    except WeightsError as exc:
        return list(exc.diagnostics)
    return []


def _no_layers(where: Where, shown: str) -> Diagnostic:
    return where.at(
        ERROR,
        "MS524",
        f"cannot read weights file '{shown}': it has no layers with names",
        "a file that Keras 3 saved names each layer's weights",
    )
