"""The training data: named arrays from an ``.npz`` file, read as bounded data.

:func:`read_data` opens the file (a regular file, within the limits of
:mod:`modelspec.source.archive` and :data:`MAX_DATA_BYTES`, checked from the zip's records
before anything is inflated) and reads each array's header, never its data and never a
pickle; each header must agree with its member's size (MS516, MS518, MS519).
:func:`load` then reads exactly the bytes each header declares. numpy only: TensorFlow
is not imported here.

Example::

    >>> infos, problems = read_data("data.npz")                          # doctest: +SKIP
    >>> infos["x"].shape, infos["x"].dtype                               # doctest: +SKIP
    ((16, 4), dtype('float32'))
    >>> arrays, problems = load("data.npz", ["x", "y"])                  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelspec.catalog.base import fmt_shape
from modelspec.errors import ERROR, Diagnostic

if TYPE_CHECKING:
    import numpy as np

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


def at_file(data: str, code: str, message: str, hint: str | None = None) -> Diagnostic:
    """A problem of the data file itself, at its first line."""
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
        raise _BadArray(
            f"its .npy header is version {version[0]}.{version[1]}; numpy writes "
            "1.0 or 2.0 for arrays of numbers and strings"
        )
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
        raise _BadArray(
            f"its member is {member.file_size:,} bytes uncompressed, but its .npy header "
            f"({fmt_shape(info.shape)}, {info.dtype.str}) makes {want:,}"
        )


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
        return None, [at_file(data, "MS516", f"cannot read data file {shown}: {problem}")]
    try:
        with open(data, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        return None, [
            at_file(data, "MS516", f"cannot read data file {shown}: {exc.strerror or exc}")
        ]
    how = "save the arrays with numpy.savez(path, x=..., y=...), named after the inputs and outputs"
    if head.startswith(np.lib.format.MAGIC_PREFIX):
        return None, [
            at_file(
                data,
                "MS516",
                f"data file {shown} is a single .npy array, not an .npz of named arrays",
                how,
            )
        ]
    if head[:1] == b"\x80":
        return None, [
            at_file(
                data,
                "MS516",
                f"data file {shown} is a pickle, not an .npz; modelspec never unpickles data",
                how,
            )
        ]
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return None, [
            at_file(
                data, "MS516", f"data file {shown} is not an .npz file (a zip of .npy arrays)", how
            )
        ]
    infos: dict[str, ArrayInfo | None] = {}
    diags: list[Diagnostic] = []
    limit = f"{__name__}.MAX_DATA_BYTES"
    try:
        with open_zip(data) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            total = sum(m.file_size for m in members)
            if total > MAX_DATA_BYTES:
                return None, [
                    at_file(
                        data,
                        "MS518",
                        f"data file {shown} holds {total:,} bytes of arrays uncompressed; "
                        f"the limit is {MAX_DATA_BYTES:,}",
                        _LIMIT_HINT.format(limit),
                    )
                ]
            for member in members:
                name = member.filename.removesuffix(".npy")
                if not member.filename.endswith(".npy"):
                    diags.append(
                        at_file(
                            data,
                            "MS516",
                            f"member '{member.filename}' of {shown} is not a .npy array",
                        )
                    )
                    continue
                infos[name] = None
                try:
                    with open_member(zf, member, MAX_DATA_BYTES, limit) as fh:
                        info = _npy_header(fh, name)
                    _check_size(info, member)
                except ArchiveError as exc:
                    code = "MS518" if exc.limit else "MS519"
                    hint = _LIMIT_HINT.format(exc.limit) if exc.limit else _PLAIN_HINT
                    diags.append(
                        at_file(
                            data,
                            code,
                            f"cannot read array '{name}' of {shown}: {exc.message}",
                            hint,
                        )
                    )
                    continue
                except _BadArray as exc:
                    diags.append(
                        at_file(
                            data,
                            "MS519",
                            f"cannot read array '{name}' of {shown}: {exc}",
                            _PLAIN_HINT,
                        )
                    )
                    continue
                except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                    diags.append(
                        at_file(data, "MS516", f"cannot read array '{name}' of {shown}: {exc}")
                    )
                    continue
                infos[name] = info
    except ArchiveError as exc:
        if exc.limit:
            return None, [
                at_file(
                    data,
                    "MS518",
                    f"cannot read data file {shown}: {exc.message}",
                    _LIMIT_HINT.format(exc.limit),
                )
            ]
        return None, [at_file(data, "MS516", f"cannot read data file {shown}: {exc.message}", how)]
    return infos, diags


def _read_exactly(fh: Any, size: int) -> Any:
    """``size`` bytes of ``fh`` into a new numpy buffer, and nothing after them."""
    import numpy as np

    buffer = np.empty(size, dtype=np.uint8)
    view, done = memoryview(buffer), 0
    while done < size:
        n = fh.readinto(view[done:])
        if not n:
            raise _BadArray(
                f"its member ends after {done:,} of the {size:,} bytes its header declares"
            )
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


def load(
    path: str | os.PathLike[str], names: Sequence[str]
) -> tuple[dict[str, np.ndarray] | None, list[Diagnostic]]:
    """:func:`load_arrays`, its failures as diagnostics: ``(arrays, [])``, or
    ``(None, [problem])`` (MS516, MS518, MS519)."""
    from modelspec.source.archive import ArchiveError

    data_name = os.fspath(path)
    try:
        return load_arrays(data_name, names), []
    except ArchiveError as exc:
        code, hint = (
            ("MS518", _LIMIT_HINT.format(exc.limit)) if exc.limit else ("MS519", _PLAIN_HINT)
        )
        return None, [
            at_file(data_name, code, f"cannot read data file '{data_name}': {exc.message}", hint)
        ]
    except _BadArray as exc:
        return None, [
            at_file(data_name, "MS519", f"cannot read data file '{data_name}': {exc}", _PLAIN_HINT)
        ]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        return None, [at_file(data_name, "MS516", f"cannot read data file '{data_name}': {exc}")]
