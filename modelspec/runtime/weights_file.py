"""A weights file as data: the HDF5 of a ``.weights.h5``, or the ``model.weights.h5``
member of a ``.keras`` zip, opened read-only and checked before a dataset is read.

:func:`open_weights` opens it within the limits below and runs :func:`check_file`,
which walks the whole file without following a link and refuses (see the note on
weights as data below)

- a link that is not a plain hard link, and a hard link that makes a cycle (MS530);
- a dataset whose data lies outside the file or behind a filter (MS531);
- a file, group or chunk past the limits of this module (MS532);
- a dataset that is not an array of numbers (MS533).

:func:`layers_by_name` and :func:`variables` then list what the file holds, by layer
name, for :mod:`modelspec.runtime.weights` to match against a model. h5py is the
only package this module needs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from modelspec.errors import ERROR, Diagnostic, ModelspecError
from modelspec.passes.weights import SUFFIXES
from modelspec.source.archive import ArchiveError, open_member, open_zip
from modelspec.source.files import regular_file_problem

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
H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, NotImplementedError)
_RESAVE = "save the weights again with Keras (model.save_weights or model.save)"
_LIMIT_HINT = "a limit of modelspec ({}); if the file is genuine, raise it (see SECURITY.md)"


class WeightsError(ModelspecError):
    """Weights could not be loaded; nothing was assigned. ``.diagnostics`` says why."""


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
        raise fail("it must end in .weights.h5, .keras or (Keras 2) .h5")
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
        except H5_ERRORS as exc:  # records that HDF5 cannot read back: a damaged file
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
            f"dataset '{path}' in {file} holds values of type '{dtype_text(did)}', not numbers",
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


def dtype_text(did: Any) -> str:
    """The numpy dtype of a dataset or an attribute, for a message."""
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
    except H5_ERRORS:  # a damaged record reads as no attribute
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
