"""``modelspec train``: fit a spec's model on named arrays from an ``.npz`` file.

Three stages, each of which can stop the run:

1. **Check the data, with numpy only.** :func:`read_data` opens the ``.npz`` (a
   regular file, within the limits of :mod:`modelspec.source.archive` and
   :data:`MAX_DATA_BYTES`, checked from the zip's records before anything is
   inflated) and reads each array's header (never its data, never a pickle), which
   must agree with its member's size; :func:`check_data` compares names, shapes,
   dtypes and lengths with the spec's inputs and trained outputs and yields every
   problem at once (MS511 - MS519). The spec's weights file, if any, is checked as
   data too (:func:`modelspec.runtime.weights.check_planned`, h5py only). TensorFlow is not
   imported yet; :func:`load_arrays` then reads exactly the bytes each header declares.
2. **Fit.** :func:`fit` creates the distribution strategy first (MultiWorkerMirrored
   must exist before TensorFlow touches a device), builds and compiles the model in
   its scope, and calls ``model.fit`` with the spec's ``fit`` settings and callbacks.
3. **Save.** :func:`save_model` writes the ``.keras`` file through a temporary file in
   the same folder and a rename, sealed (its zip comment names the spec and holds a
   digest, :mod:`modelspec.emit.outputs`) so that a later ``train --out`` can tell it from a
   file it must not replace (:func:`out_problem`).

Example::

    >>> from modelspec.api import load
    >>> spec = load("mlp.yaml")                                          # doctest: +SKIP
    >>> arrays, problems = prepare(spec.result, spec.plan, "data.npz")   # doctest: +SKIP
    >>> trained = fit(spec.plan, arrays, fit_settings(spec.plan))        # doctest: +SKIP
    >>> save_model(trained.model, "mlp.keras")                           # doctest: +SKIP

Nothing here imports numpy, TensorFlow or Keras at module level: ``modelspec lint``
imports none of them (``tests/test_no_tensorflow.py``).
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelspec.catalog.base import Shape, fmt_shape
from modelspec.catalog.training import STRATEGIES
from modelspec.errors import ERROR, Diagnostic, cut_list, did_you_mean
from modelspec.ir import Output, Source, Spec
from modelspec.lower.plan import Plan

if TYPE_CHECKING:
    import numpy as np

# Keras's defaults for what a spec's `fit` leaves out.
FIT_DEFAULTS: Mapping[str, Any] = {
    "epochs": 1,
    "batch_size": 32,
    "validation_split": 0.0,
    "shuffle": True,
    "verbose": "auto",
}

# numpy dtype kinds (``dtype.kind``) an array may have, and how messages name them.
_KIND_TEXT = {
    "biu": "integers or booleans",
    "iuf": "numbers",
    "biuf": "numbers",
    "iu": "integers (class indices)",
    "SU": "strings",
}


# --- what the model reads ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slot:
    """An array the model reads: an input's values or an output's targets.

    ``shapes`` are the accepted shapes of one sample (no batch axis; ``None`` is any
    size); ``kinds`` the accepted numpy dtype kinds.
    """

    name: str
    role: str  # "input" or "output"
    what: str  # for messages: "input 'x' (int32)", "output 'y' (loss 'mse')"
    shapes: tuple[Shape, ...] | None  # None: the spec's shape is unknown, not checked
    kinds: str
    source: Source
    dtype: str | None = None  # an input's dtype
    loss: str | None = None  # an output's loss, by name


# Losses whose targets are labels rather than values shaped like the prediction:
# loss name -> (accepted target shapes from the output's shape, dtype kinds).
# NOTE: [targets]
# Keras squeezes or expands a target whose rank is one off from the prediction's when
# the odd axis has size 1 (`squeeze_or_expand_to_same_rank`), so a `Dense(1)` output
# takes targets of shape (n,) or (n, 1). Sparse losses take class indices: the
# prediction's shape without its class axis. Circle takes one label per sample; CTC
# one label sequence per sample, of any length.
_LABEL_TARGETS = {
    "sparse_categorical_crossentropy": lambda s: (s[:-1], (*s[:-1], 1)),
    "SparseCategoricalCrossentropy": lambda s: (s[:-1], (*s[:-1], 1)),
    "circle": lambda s: ((), (1,)),
    "ctc": lambda s: ((None,),),
}


def _loss_name(loss: Any) -> str | None:
    if isinstance(loss, Mapping):
        return str(loss.get("type"))
    return loss


def _input_kinds(dtype: str) -> str:
    if dtype == "string":
        return "SU"
    if dtype == "bool" or dtype.startswith(("int", "uint")):
        return "biu"
    return "iuf"


def needs_targets(out: Output) -> bool:
    """An output takes an array when Keras computes a loss or a metric from it."""
    return out.loss is not None or bool(out.metrics)


def slots(result: Any) -> list[Slot]:
    """The arrays a checked spec's model reads: its inputs, then its trained outputs."""
    spec: Spec = result.spec
    out: list[Slot] = []
    for inp in spec.inputs:
        shapes = None if inp.shape is None else (tuple(inp.shape),)
        what = f"input '{inp.name}' ({inp.dtype})"
        kinds = _input_kinds(inp.dtype)
        out.append(Slot(inp.name, "input", what, shapes, kinds, inp.source, inp.dtype))
    for o in spec.outputs:
        if not needs_targets(o):
            continue
        predicted = result.shapes.outputs.get(o.name) if result.shapes else None
        loss = _loss_name(o.loss)
        what = f"output '{o.name}'" + (f" (loss '{loss}')" if loss else " (metrics only)")
        rule = _LABEL_TARGETS.get(loss or "")
        if predicted is None:
            shapes = None
        elif rule is not None:
            shapes = tuple(dict.fromkeys(rule(tuple(predicted[1:]))))
        else:
            sample = tuple(predicted[1:])
            shapes = (sample, sample[:-1]) if sample and sample[-1] == 1 else (sample,)
        kinds = "iu" if rule is not None else "biuf"
        out.append(Slot(o.name, "output", what, shapes, kinds, o.source, loss=loss))
    return out


def nothing_to_train(spec: Spec) -> Diagnostic | None:
    """MS510 when no output has a loss: ``model.fit`` would have nothing to minimise."""
    if any(o.loss is not None for o in spec.outputs):
        return None
    s = spec.outputs[0].source if spec.outputs else spec.source
    return Diagnostic(ERROR, "MS510", "nothing to train: no output has a loss",
                      "give an output a `loss:` (and add `compile:` to choose the optimizer)",
                      s.file, s.line, s.col, s.path)  # fmt: skip


# Callbacks that need a package TensorFlow no longer installs (TensorFlow 2.21 dropped
# its dependency on tensorboard); without it TensorBoard fails after the first epoch.
CALLBACK_PACKAGES = {"TensorBoard": "tensorboard"}


def missing_packages(
    result: Any, find_spec: Callable[[str], Any] = importlib.util.find_spec
) -> Iterator[Diagnostic]:
    """MS517 for each ``fit`` callback whose package is not installed (checked unimported)."""
    fit = result.spec.fit or {}
    for i, callback in enumerate(fit.get("callbacks") or ()):
        package = CALLBACK_PACKAGES.get(callback.get("type"))
        if package is not None and find_spec(package) is None:
            yield result.doc.diagnostic(
                "MS517",
                f"callback `{callback['type']}` needs the `{package}` package, which is not installed",
                ("fit", "callbacks", i),
                hint=f"pip install {package}",
            )


# --- reading the data file, headers only ---------------------------------------------

# The arrays of an .npz together, uncompressed: train holds them all in memory (and
# TensorFlow copies them). Checked from the zip's records before anything is inflated,
# so a file of a megabyte cannot make gigabytes.
MAX_DATA_BYTES = 4 * 2**30
# A .npy header states dtype, order and shape in a few dozen bytes; numpy's own reader
# refuses headers over 10,000 bytes by default for the same reason.
MAX_HEADER_BYTES = 10_000
_LIMIT_HINT = "a limit of modelspec ({}); if the data is genuine, raise it (see SECURITY.md)"
_PLAIN_HINT = "save the arrays with numpy.savez(path, x=...) or numpy.savez_compressed"


@dataclass(frozen=True, slots=True)
class ArrayInfo:
    """One array of the data file as its ``.npy`` header describes it."""

    name: str
    shape: tuple[int, ...]
    dtype: Any  # numpy.dtype
    fortran_order: bool = False
    offset: int = 0  # where the data starts in the member, after the header


class _BadArray(ValueError):
    """An array whose member cannot be read as its header declares it (MS519)."""


def _file_diag(data: str, code: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(ERROR, code, message, hint, data, 1, 1)


def _npy_header(fh: Any, name: str) -> ArrayInfo:
    """The header of an open ``.npy`` stream, reading no data; at most
    :data:`MAX_HEADER_BYTES` of it."""
    import numpy as np

    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        header = np.lib.format.read_array_header_1_0(fh, max_header_size=MAX_HEADER_BYTES)
    elif version == (2, 0):
        header = np.lib.format.read_array_header_2_0(fh, max_header_size=MAX_HEADER_BYTES)
    else:
        # Version 3 (UTF-8 field names) has no public header reader, and numpy writes
        # it only for structured arrays, which no input or output takes.
        raise _BadArray(f"its .npy header is version {version[0]}.{version[1]}; numpy writes "
                        "1.0 or 2.0 for arrays of numbers and strings")  # fmt: skip
    shape, fortran_order, dtype = header
    return ArrayInfo(name, tuple(shape), dtype, bool(fortran_order), fh.tell())


def _data_bytes(info: ArrayInfo) -> int:
    return math.prod(info.shape) * info.dtype.itemsize


def _check_size(info: ArrayInfo, member: zipfile.ZipInfo) -> None:
    """The member holds the header and exactly the bytes the header's shape and dtype
    make: a header cannot claim a small array and a member hold a huge one, nor the
    other way round."""
    if info.dtype.hasobject:
        return  # a pickle, never read: refused as MS514 (or MS512), by its dtype
    if any(d < 0 for d in info.shape):
        raise _BadArray(f"its .npy header gives the shape {fmt_shape(info.shape)}")
    want = info.offset + _data_bytes(info)
    if member.file_size != want:
        raise _BadArray(f"its member is {member.file_size:,} bytes uncompressed, but its .npy header "
                        f"({fmt_shape(info.shape)}, {info.dtype.str}) makes {want:,}")  # fmt: skip


def read_data(
    path: str | os.PathLike[str],
) -> tuple[dict[str, ArrayInfo | None] | None, list[Diagnostic]]:
    """The arrays of an ``.npz`` file by name, from their headers; MS516, MS518 and
    MS519 for what cannot be read.

    None for a file that cannot be read at all. A name maps to None when its member
    exists but cannot be read: that is reported, and not reported again as missing.
    Before any member is inflated, the archive's records must stay within the limits:
    :data:`modelspec.source.archive.MAX_MEMBERS` members, :data:`MAX_DATA_BYTES` in all; each
    header is read through a bounded stream, and must agree with its member's size.
    """
    import numpy as np

    from modelspec.source.archive import ArchiveError, open_member, open_zip
    from modelspec.source.files import regular_file_problem

    data = os.fspath(path)
    shown = f"'{data}'"
    problem = regular_file_problem(data)  # a FIFO or a device is never opened
    if problem is not None:
        return None, [_file_diag(data, "MS516", f"cannot read data file {shown}: {problem}")]
    try:
        with open(data, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        return None, [_file_diag(data, "MS516", f"cannot read data file {shown}: {exc.strerror or exc}")]  # fmt: skip
    how = "save the arrays with numpy.savez(path, x=..., y=...), named after the inputs and outputs"
    if head.startswith(np.lib.format.MAGIC_PREFIX):
        return None, [_file_diag(data, "MS516", f"data file {shown} is a single .npy array, not an .npz of named arrays", how)]  # fmt: skip
    if head[:1] == b"\x80":
        return None, [_file_diag(data, "MS516", f"data file {shown} is a pickle, not an .npz; modelspec never unpickles data", how)]  # fmt: skip
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return None, [_file_diag(data, "MS516", f"data file {shown} is not an .npz file (a zip of .npy arrays)", how)]  # fmt: skip
    infos: dict[str, ArrayInfo | None] = {}
    diags: list[Diagnostic] = []
    limit = f"{__name__}.MAX_DATA_BYTES"
    try:
        with open_zip(data) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            total = sum(m.file_size for m in members)
            if total > MAX_DATA_BYTES:
                return None, [_file_diag(data, "MS518", f"data file {shown} holds {total:,} bytes of arrays uncompressed; "
                                         f"the limit is {MAX_DATA_BYTES:,}", _LIMIT_HINT.format(limit))]  # fmt: skip
            for member in members:
                name = member.filename.removesuffix(".npy")
                if not member.filename.endswith(".npy"):
                    diags.append(_file_diag(data, "MS516", f"member '{member.filename}' of {shown} is not a .npy array"))  # fmt: skip
                    continue
                infos[name] = None
                try:
                    with open_member(zf, member, MAX_DATA_BYTES, limit) as fh:
                        info = _npy_header(fh, name)
                    _check_size(info, member)
                except ArchiveError as exc:
                    code = "MS518" if exc.limit else "MS519"
                    hint = _LIMIT_HINT.format(exc.limit) if exc.limit else _PLAIN_HINT
                    diags.append(_file_diag(data, code, f"cannot read array '{name}' of {shown}: {exc.message}", hint))  # fmt: skip
                    continue
                except _BadArray as exc:
                    diags.append(_file_diag(data, "MS519", f"cannot read array '{name}' of {shown}: {exc}", _PLAIN_HINT))  # fmt: skip
                    continue
                except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                    diags.append(_file_diag(data, "MS516", f"cannot read array '{name}' of {shown}: {exc}"))  # fmt: skip
                    continue
                infos[name] = info
    except ArchiveError as exc:
        if exc.limit:
            return None, [_file_diag(data, "MS518", f"cannot read data file {shown}: {exc.message}", _LIMIT_HINT.format(exc.limit))]  # fmt: skip
        return None, [_file_diag(data, "MS516", f"cannot read data file {shown}: {exc.message}", how)]  # fmt: skip
    return infos, diags


# --- checking the data against the spec ----------------------------------------------


def _at(slot: Slot, code: str, message: str, hint: str | None = None) -> Diagnostic:
    s = slot.source
    return Diagnostic(ERROR, code, message, hint, s.file, s.line, s.col, s.path)


def _shape_text(shapes: Sequence[Shape]) -> str:
    return " or ".join(fmt_shape((None, *s)) for s in shapes)


def _fits(shape: tuple[int, ...], want: Shape) -> bool:
    return len(shape) == len(want) and all(w is None or w == d for d, w in zip(shape, want))


def _dtype_text(dtype: Any) -> str:
    if dtype.kind in "SU":
        return f"{dtype.str} (strings)"
    if dtype.hasobject:
        return "object (Python objects)"
    return dtype.name


def check_data(
    wanted: Sequence[Slot], infos: Mapping[str, ArrayInfo | None], data: str, spec: Spec
) -> Iterator[Diagnostic]:
    """MS511 - MS515: every way the arrays in ``infos`` do not fit what the model reads.

    Problems with one array are reported at the spec line of its input or output;
    an array the spec does not name, at the data file.
    """
    by_name = {s.name: s for s in wanted}
    present = [n for n in infos if n not in by_name]
    for slot in wanted:
        if slot.name not in infos:
            hint = did_you_mean(slot.name, present)
            if hint is None:
                held = cut_list([f"'{n}'" for n in infos]) if infos else "no arrays"
                hint = f"'{data}' holds {held}"
            yield _at(slot, "MS511", f"missing array '{slot.name}' for {slot.what}: '{data}' has no array of that name", hint)  # fmt: skip
    untrained = {o.name for o in spec.outputs if not needs_targets(o)}
    for name in present:
        if name in untrained:
            yield _file_diag(data, "MS512", f"extra array '{name}' in '{data}': output '{name}' has no loss and no metrics, so it takes no targets",
                             "remove the array, or give the output a `loss:`")  # fmt: skip
            continue
        missing = [s.name for s in wanted if s.name not in infos]
        hint = did_you_mean(name, missing or list(by_name))
        if hint is None:
            names = cut_list([f"'{s.name}'" for s in wanted])
            hint = f"arrays are named after the spec's inputs and trained outputs: {names}"
        yield _file_diag(data, "MS512", f"extra array '{name}' in '{data}': the spec has no input or trained output '{name}'", hint)  # fmt: skip
    lengths: list[tuple[Slot, int]] = []
    for slot in wanted:
        info = infos.get(slot.name)
        if info is None:
            continue
        if info.dtype.hasobject:
            yield _at(slot, "MS514", f"array '{slot.name}' for {slot.what} holds Python objects (dtype object), which only pickle can load; modelspec loads data with allow_pickle=False",
                      f"save {_KIND_TEXT[slot.kinds]} instead")  # fmt: skip
        elif info.dtype.kind not in slot.kinds:
            hint = None
            if slot.dtype not in (None, "string") and info.dtype.kind in "biuf":
                hint = f"convert it with .astype('{slot.dtype}')"
            elif slot.kinds == "iu":
                hint = "this loss takes integer class indices: convert with .astype('int64')"
            yield _at(slot, "MS514", f"array '{slot.name}' must hold {_KIND_TEXT[slot.kinds]} for {slot.what}; got {_dtype_text(info.dtype)}", hint)  # fmt: skip
        fits = bool(info.shape) and any(_fits(info.shape[1:], s) for s in slot.shapes or ())
        if slot.shapes is not None and not fits:
            hint = None
            if not info.shape:
                hint = "the first axis of every array is the sample axis"
            elif slot.kinds == "iu" and slot.role == "output":
                hint = "this loss takes one class index per prediction, not one-hot rows"
            elif _class_indices_for_one_hot(slot, info):
                sparse = _SPARSE[slot.loss or ""]
                hint = (f"these are class indices, and '{slot.loss}' takes one-hot rows: use "
                        f"`loss: {sparse}`, or one-hot encode the labels (keras.utils.to_categorical)")  # fmt: skip
            yield _at(slot, "MS513", f"array '{slot.name}' must have shape {_shape_text(slot.shapes)} for {slot.what}; got {fmt_shape(info.shape)}", hint)  # fmt: skip
        if info.shape:
            lengths.append((slot, info.shape[0]))
    if lengths:
        first, n = lengths[0]
        for slot, m in lengths[1:]:
            if m != n:
                yield _at(slot, "MS515", f"array '{slot.name}' for {slot.what} must have as many samples as array '{first.name}' ({n}); got {m}",
                          "the first axis of every array is the sample axis")  # fmt: skip
        if all(m == 0 for _, m in lengths):
            yield _at(first, "MS515", f"array '{first.name}' for {first.what} must hold at least one sample; got 0")  # fmt: skip


# The one-hot losses, and their twins that take class indices instead.
_SPARSE = {
    "categorical_crossentropy": "sparse_categorical_crossentropy",
    "CategoricalCrossentropy": "SparseCategoricalCrossentropy",
}


def _class_indices_for_one_hot(slot: Slot, info: ArrayInfo) -> bool:
    """Integer targets of the prediction's shape without its class axis (or with a class
    axis of 1), for a loss that takes one-hot rows: labels for the sparse loss."""
    if slot.loss not in _SPARSE or info.dtype.kind not in "iu" or not slot.shapes:
        return False
    predicted = slot.shapes[0]
    if not predicted or predicted[-1] in (None, 1):
        return False
    return any(_fits(info.shape[1:], s) for s in (predicted[:-1], (*predicted[:-1], 1)))


def _read_exactly(fh: Any, size: int) -> Any:
    """``size`` bytes of ``fh`` into a new numpy buffer, and nothing after them."""
    import numpy as np

    buffer = np.empty(size, dtype=np.uint8)
    view, done = memoryview(buffer), 0
    while done < size:
        n = fh.readinto(view[done:])
        if not n:
            raise _BadArray(f"its member ends after {done:,} of the {size:,} bytes its header declares")  # fmt: skip
        done += n
    if fh.read(1):
        raise _BadArray(f"its member holds more than the {size:,} bytes its header declares")
    return buffer


def load_arrays(path: str | os.PathLike[str], names: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays ``names`` of the ``.npz`` at ``path``, which :func:`read_data` has
    checked; never unpickles anything.

    Each is read as its header declares, through the same bounded stream: the header,
    then exactly the bytes its shape and dtype make. :class:`ValueError` (or
    :class:`~modelspec.source.archive.ArchiveError`) when the member does not hold them.
    """
    from modelspec.source.archive import open_member, open_zip

    out: dict[str, np.ndarray] = {}
    with open_zip(path) as zf:
        for name in names:
            member = zf.getinfo(f"{name}.npy")
            with open_member(zf, member, MAX_DATA_BYTES, f"{__name__}.MAX_DATA_BYTES") as fh:
                info = _npy_header(fh, name)
                if info.dtype.hasobject:
                    raise _BadArray("it holds Python objects, which only pickle can load")
                _check_size(info, member)
                buffer = _read_exactly(fh, _data_bytes(info))
            order = "F" if info.fortran_order else "C"
            out[name] = buffer.view(info.dtype).reshape(info.shape, order=order)
    return out


def prepare(
    result: Any, plan: Plan, data: str | os.PathLike[str]
) -> tuple[dict[str, np.ndarray] | None, list[Diagnostic]]:
    """Check ``data`` against the spec, and the spec's weights file as data, then load
    the arrays: ``(arrays, [])``, or ``(None, problems)``. Nothing here imports TensorFlow."""
    data_name = os.fspath(data)
    problem = nothing_to_train(result.spec)
    if problem is not None:
        return None, [problem]
    infos, diags = read_data(data_name)
    diags[:0] = missing_packages(result)
    wanted = slots(result)
    if infos is not None:
        diags += check_data(wanted, infos, data_name, result.spec)
    if plan.weights is not None:
        # The spec's weights file is read as data here too (h5py, no TensorFlow), so a
        # file that cannot be loaded stops the run before TensorFlow starts.
        from modelspec.runtime.weights import check_planned

        diags += check_planned(plan.weights)
    if diags:
        return None, diags
    from modelspec.source.archive import ArchiveError

    try:
        arrays = load_arrays(data_name, [s.name for s in wanted])
    except ArchiveError as exc:
        code, hint = (
            ("MS518", _LIMIT_HINT.format(exc.limit)) if exc.limit else ("MS519", _PLAIN_HINT)
        )
        return None, [_file_diag(data_name, code, f"cannot read data file '{data_name}': {exc.message}", hint)]  # fmt: skip
    except _BadArray as exc:
        return None, [_file_diag(data_name, "MS519", f"cannot read data file '{data_name}': {exc}", _PLAIN_HINT)]  # fmt: skip
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        return None, [_file_diag(data_name, "MS516", f"cannot read data file '{data_name}': {exc}")]  # fmt: skip
    return arrays, []


# --- settings ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FitSettings:
    """``model.fit`` arguments: the command line's, else the spec's ``fit``, else Keras's."""

    epochs: int
    batch_size: int
    validation_split: float
    shuffle: bool
    verbose: int | str


def fit_settings(
    plan: Plan,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    validation_split: float | None = None,
) -> FitSettings:
    given = {"epochs": epochs, "batch_size": batch_size, "validation_split": validation_split}
    values = {
        key: given.get(key) if given.get(key) is not None else plan.fit.get(key, default)
        for key, default in FIT_DEFAULTS.items()
    }
    return FitSettings(**values)


def split_problem(samples: int, validation_split: float) -> str | None:
    """Why Keras would refuse ``validation_split`` for ``samples`` samples, or None.

    Keras keeps the first ``floor(samples * (1 - split))`` samples for training.
    """
    if validation_split <= 0:
        return None
    keep = math.floor(samples * (1.0 - validation_split))
    if keep == 0 or keep == samples:
        side = "training" if keep == 0 else "validation"
        return (f"validation_split {validation_split:g} of {samples} samples leaves none for "
                f"{side}")  # fmt: skip
    return None


def strategy_name(spec: Spec, override: str | None = None) -> str:
    """``--strategy``, else the spec's ``distribution.strategy``, else ``"none"``."""
    if override is not None:
        return override
    dist = spec.distribution or {}
    return str(dist.get("strategy", "none"))


def default_out(plan: Plan) -> Path:
    """``<name>.keras`` in the current folder; odd characters of the name become ``_``.

    >>> default_out(type("P", (), {"name": "../my model"})())
    PosixPath('my_model.keras')
    """
    stem = re.sub(r"[^A-Za-z0-9_.\-]", "_", plan.name.replace("\\", "/").rsplit("/", 1)[-1])
    stem = stem.lstrip(".") or "model"
    return Path(f"{stem}.keras")


def trained_head(spec_file: str) -> str:
    """The seal's first part on a ``.keras`` file ``train`` saves from ``spec_file``."""
    from modelspec.errors import printable

    return f"Generated by modelspec train from {printable(spec_file)}"


def out_problem(
    out: Path, spec_file: str = "", *, named: bool = True, force: bool = False
) -> Diagnostic | None:
    """Why the model cannot be saved at ``out``, checked before training starts and
    again before it is saved (MS543 - MS548, at ``out``).

    ``named``: ``--out`` names the file. It may replace a ``.keras`` file that ``train``
    saved from a spec named ``spec_file`` and that is unchanged since; the default file
    (``named=False``) replaces nothing. ``force`` replaces any regular file, and a
    link itself.
    """
    from modelspec.emit.outputs import TRAINED, default_refusal, diagnostic, place_refusal, refusal

    problem, _ = place_refusal(out, force=force, stdout=False)
    if problem is not None:
        return problem
    if out.suffix != ".keras":
        return diagnostic(out, "MS548", f"'{out}' does not end in .keras "
                          "(keras.saving.load_model reads .keras files)",
                          "name a file such as model.keras")  # fmt: skip
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        return diagnostic(out, "MS547", f"cannot save to '{out}': the folder '{folder}' does "
                          "not exist", "create it first, or save elsewhere")  # fmt: skip
    if not named:
        return default_refusal(out, force=force)
    return refusal(out, TRAINED, trained_head(spec_file), force=force, stdout=False)


# --- training ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trained:
    model: Any  # keras.Model
    history: Mapping[str, list[float]]
    chief: bool  # whether this process writes the model (multi-worker: only one does)


def make_strategy(name: str) -> Any:
    """The ``tf.distribute`` strategy ``name`` names; the default (no-op) one for ``"none"``.

    Call it before anything else uses TensorFlow: MultiWorkerMirroredStrategy must
    be created before the runtime initialises its devices.
    """
    from modelspec.runtime.quiet import quiet_import

    tf = quiet_import("tensorflow")

    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # MirroredStrategy() alone takes every GPU, or a single CPU: with no GPU, mirror
        # over every logical CPU device instead, so a split CPU gives several replicas.
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    if name == "multi_worker_mirrored":
        return _multi_worker_mirrored()
    raise ValueError(f"unknown strategy {name!r}; expected none or one of {', '.join(STRATEGIES)}")


def _multi_worker_mirrored() -> Any:
    """``tf.distribute.MultiWorkerMirroredStrategy``, with a ``reduce`` that Keras 3 can use.

    # NOTE: [multi-worker reduce]
    With several workers, Keras 3's TensorFlow trainer (3.15, with TensorFlow 2.21)
    calls ``strategy.reduce`` in two ways that the collective strategy refuses:
    on a nest, ``(x, y)`` of the first batch (``_maybe_symbolic_build``; TensorFlow's
    ``reduce`` has "TODO: support `value` being a nest"), and with ``axis=0`` on the
    scalar loss and metrics of each step (``reduce_per_replica``, "Invalid reduction
    dimension 0 for input with 0 dimensions"). See keras-team/keras#20585 and
    tensorflow/tensorflow#72388. This subclass reduces each leaf of a nest on its
    own, and a scalar across replicas only. Calls that already worked are unchanged,
    and with one worker neither path is taken.
    """
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op: Any, value: Any, axis: Any) -> Any:
            base = super().reduce

            def one(v: Any) -> Any:
                local = v.values[0] if isinstance(v, tf.distribute.DistributedValues) else v
                scalar = getattr(local, "shape", None) is not None and local.shape.rank == 0
                return base(reduce_op, v, None if scalar else axis)

            return tf.nest.map_structure(one, value)

    return MultiWorkerMirroredStrategy()


def is_chief(strategy: Any) -> bool:
    """Multi-worker: the chief, or worker 0 when the cluster has no chief, writes files."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type is None or task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and resolver.task_id == 0 and not has_chief


def model_data(plan: Plan, arrays: Mapping[str, Any], samples: int) -> tuple[Any, Any]:
    """``(x, y)`` for ``model.fit``: a plain array for one input (output), else a dict.

    The model ``instantiate.to_keras`` builds takes a plain tensor when it has one
    input (output) and a dict keyed by name when it has several.
    """
    import numpy as np

    names = [i.name for i in plan.inputs]
    x = arrays[names[0]] if len(names) == 1 else {n: arrays[n] for n in names}
    if len(plan.outputs) == 1:
        return x, arrays[plan.outputs[0].name]
    y = {o.name: arrays[o.name] for o in plan.outputs if o.name in arrays}
    # NOTE: [untrained outputs]
    # With metrics, Keras's CompileMetrics looks up the targets of *every* output by
    # name (keras/src/trainers/compile_utils.py, `_flatten_y`), even those it has
    # no metric for. An output with no loss and no metrics gets zeros it never reads.
    if "metrics" in dict(plan.compile or ()):
        for o in plan.outputs:
            if o.name not in y:
                y[o.name] = np.zeros((samples, 1), dtype="float32")
    return x, y


def fit(
    plan: Plan,
    arrays: Mapping[str, Any],
    settings: FitSettings,
    *,
    strategy: Any = None,
    on_weights: Callable[[Sequence[Diagnostic]], None] | None = None,
) -> Trained:
    """Build ``plan`` in ``strategy``'s scope (from :func:`make_strategy`; None: none) and
    fit it on ``arrays``, as :func:`prepare` returns them.

    A spec with ``weights:`` is fine-tuned: training starts from those weights, loaded
    by layer name (:mod:`modelspec.runtime.weights`; a :class:`~modelspec.runtime.weights.WeightsError`
    before any training). ``on_weights`` gets the loader's warnings before ``fit`` runs.
    """
    strategy = make_strategy("none") if strategy is None else strategy
    import keras
    import tensorflow as tf

    from modelspec.runtime.instantiate import make, to_keras

    distributed = strategy is not tf.distribute.get_strategy()
    if distributed and keras.config.backend() != "tensorflow":
        raise ValueError("tf.distribute strategies need Keras's TensorFlow backend; "
                         f"KERAS_BACKEND is {keras.config.backend()!r}")  # fmt: skip
    with strategy.scope():
        model = to_keras(plan, "auto", compile=True, weights=False)
        if plan.weights is not None:
            from modelspec.runtime.weights import load_planned

            report = load_planned(model, plan.weights, warn=on_weights is None)
            if on_weights is not None and report is not None and report.diagnostics:
                on_weights(report.diagnostics)
    if plan.seed is not None:
        # A seeded spec trains the same way every run: the shuffle order (and anything
        # else drawn from the global generators) follows the spec's seed too.
        keras.utils.set_random_seed(plan.seed)
    samples = len(next(iter(arrays.values())))
    x, y = model_data(plan, arrays, samples)
    history = model.fit(
        x,
        y,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        validation_split=settings.validation_split,
        shuffle=settings.shuffle,
        verbose=settings.verbose,
        callbacks=[make(c) for c in plan.callbacks],
    )
    return Trained(model, history.history, is_chief(strategy))


def save_model(model: Any, path: str | os.PathLike[str], head: str | None = None) -> None:
    """``model.save`` to a temporary ``.keras`` file in the target's folder, then a rename.

    Readers see the old model or the new one, never half a zip. ``head``: seal the file
    with it (:func:`modelspec.emit.outputs.seal_zip`) before the rename.
    """
    from modelspec.emit.outputs import seal_zip
    from modelspec.source.files import atomic_path

    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
        if head is not None:
            seal_zip(tmp, head)


def save_trained(trained: Trained, path: str | os.PathLike[str], spec_file: str = "") -> bool:
    """Save where the chief should; other workers save to a temporary folder and drop it.

    Every worker calls ``save`` (TensorFlow's multi-worker guide: saving may need
    all of them), but only one writes ``path``, sealed as saved from ``spec_file``.
    True when this process wrote it.
    """
    if trained.chief:
        save_model(trained.model, path, trained_head(spec_file))
        return True
    with tempfile.TemporaryDirectory() as scratch:
        save_model(trained.model, Path(scratch) / Path(path).name)
    return False


def _number(value: float) -> str:
    # As Keras's progress bar prints a value.
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"


def final_metrics(history: Mapping[str, Sequence[float]]) -> list[str]:
    """One ``name: value`` line per metric, from the last epoch."""
    return [f"{name}: {_number(float(values[-1]))}" for name, values in history.items() if values]
