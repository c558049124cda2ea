"""Reading zip archives (``.keras`` models, ``.npz`` data) as bounded data.

Either kind of archive may come from a pull request, so nothing about it is taken on
trust. Every check below runs on the zip's own records before a byte is inflated,
and the reading itself is bounded again, since the records can lie:

- the archive's end record is read first: at most :data:`MAX_MEMBERS` members, in a
  central directory of at most :data:`MAX_DIRECTORY_BYTES`, before :mod:`zipfile`
  parses that directory (it builds an object per member);
- a member that is read is neither encrypted nor compressed with anything but
  deflate (or stored as is), and declares at most the reader's limit of bytes;
- its bytes come through a :class:`BoundedReader`, which fails past that limit
  whatever the stream holds.

Callers name the limit of what they read (``config.json``, ``model.weights.h5``, the
arrays of an ``.npz``) and turn an :class:`ArchiveError` into their own diagnostic:
its ``limit`` names the constant that was exceeded, or is None for a member that
cannot be read at all.

Example::

    >>> with open_zip("model.keras") as archive:                        # doctest: +SKIP
    ...     info = archive.getinfo("config.json")
    ...     raw = read_member(archive, info, 2**20, "mypackage.MAX_CONFIG_BYTES")
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# A .keras archive holds three members (config.json, metadata.json, model.weights.h5)
# and a few assets; an .npz one member per array, named after the spec's inputs and
# outputs. 1,000 is far above either, and keeps zipfile's parse of the directory small.
MAX_MEMBERS = 1_000
# The central directory of 1,000 members with names of 1,000 characters is 1 MiB.
MAX_DIRECTORY_BYTES = 2**20

# zipfile inflates a deflated member a block at a time, never more than it was asked
# for; bzip2 and lzma members are inflated a whole compressed block at once, so they
# are refused (numpy.savez, numpy.savez_compressed and Keras never write them).
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_METHOD_NAMES = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}
_CHUNK = 2**20  # bytes inflated at a time

# The end of central directory record, its ZIP64 locator and the ZIP64 record
# (APPNOTE.TXT 4.3.14 - 4.3.16), as zipfile reads them.
_END = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"
_LOCATOR = struct.Struct("<4sLQL")
_LOCATOR_SIGNATURE = b"PK\x06\x07"
_END64 = struct.Struct("<4sQ2H2L4Q")
_END64_SIGNATURE = b"PK\x06\x06"


class ArchiveError(Exception):
    """An archive, or one of its members, cannot be read: ``message`` says why, as a
    clause (``"it has 2,000 members; the limit is 1,000"``). ``limit``: the constant
    that was exceeded (``"modelspec.source.archive.MAX_MEMBERS"``), or None when the bytes
    cannot be read at all."""

    def __init__(self, message: str, *, limit: str | None = None):
        super().__init__(message)
        self.message = message
        self.limit = limit


def directory_size(fh: Any) -> tuple[int, int] | None:
    """``(members, bytes)`` of the central directory, as the end record states them
    (its ZIP64 record when there is one), found where :mod:`zipfile` looks; None when
    there is no end record (not a zip file)."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    tail_size = min(size, _END.size + 0xFFFF)  # the record, and a comment of 64 KiB at most
    fh.seek(size - tail_size)
    tail = fh.read(tail_size)
    at = tail.rfind(_END_SIGNATURE)
    if at < 0 or len(tail) - at < _END.size:
        return None
    fields = _END.unpack_from(tail, at)
    members, directory = fields[4], fields[5]
    where = size - tail_size + at  # the end record's offset in the file
    if where >= _LOCATOR.size + _END64.size:
        fh.seek(where - _LOCATOR.size)
        if _LOCATOR.unpack(fh.read(_LOCATOR.size))[0] == _LOCATOR_SIGNATURE:
            fh.seek(where - _LOCATOR.size - _END64.size)
            record = _END64.unpack(fh.read(_END64.size))
            if record[0] == _END64_SIGNATURE:
                members, directory = record[6], record[7]
    return members, directory


@contextmanager
def open_zip(path: str | os.PathLike[str]) -> Iterator[zipfile.ZipFile]:
    """The zip archive at ``path``, its directory checked against the limits before
    :mod:`zipfile` parses it; :class:`ArchiveError` if it cannot be read or is too
    large. The caller checks that ``path`` is a regular file first."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after the caller's block
    except OSError as exc:
        raise ArchiveError(f"it cannot be opened ({exc.strerror or exc})") from None
    with fh:
        try:
            archive = _checked_zip(fh)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
                struct.error) as exc:  # fmt: skip
            # (ValueError: a name flagged UTF-8 that is not; struct.error: a short record)
            raise ArchiveError(f"it is not a zip file, or a damaged one ({exc})") from None
        with archive:
            yield archive


def _checked_zip(fh: Any) -> zipfile.ZipFile:
    found = directory_size(fh)
    if found is not None:
        members, directory = found
        if members > MAX_MEMBERS:
            raise ArchiveError(
                f"it has {members:,} members; the limit is {MAX_MEMBERS:,}",
                limit=f"{__name__}.MAX_MEMBERS",
            )
        if directory > MAX_DIRECTORY_BYTES:
            raise ArchiveError(
                f"its list of members takes {directory:,} bytes; the limit is "
                f"{MAX_DIRECTORY_BYTES:,}",
                limit=f"{__name__}.MAX_DIRECTORY_BYTES",
            )
    archive = zipfile.ZipFile(fh)
    # The count in the end record can lie; the directory's size bounds the parse.
    count = len(archive.infolist())
    if count > MAX_MEMBERS:
        archive.close()
        raise ArchiveError(
            f"it has {count:,} members; the limit is {MAX_MEMBERS:,}",
            limit=f"{__name__}.MAX_MEMBERS",
        )
    return archive


def check_member(info: zipfile.ZipInfo, limit: int, constant: str) -> None:
    """:class:`ArchiveError` unless member ``info`` can be read within ``limit``
    bytes (the value of ``constant``, named in the error): not encrypted, stored or
    deflated, and declaring no more than the limit."""
    name = info.filename
    if info.flag_bits & 0x1:
        raise ArchiveError(f"member '{name}' is encrypted")
    if info.compress_type not in _METHODS:
        method = _METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
        raise ArchiveError(
            f"member '{name}' is compressed with {method}; modelspec reads "
            "stored and deflated members only"
        )
    if info.file_size > limit:
        raise ArchiveError(
            f"member '{name}' is {info.file_size:,} bytes uncompressed; the limit is {limit:,}",
            limit=constant,
        )


class BoundedReader(io.RawIOBase):
    """A member's bytes, read-only and seekable, that raise :class:`ArchiveError`
    rather than give a byte past ``limit``. zipfile itself stops at the size the
    directory declares; this holds whatever a zipfile version or a forged record does.

    Errors of the underlying stream (a bad CRC, a truncated deflate stream) come out as
    :class:`ArchiveError` too, so a reader such as h5py sees one kind of failure.
    """

    def __init__(self, raw: Any, name: str, limit: int, constant: str):
        super().__init__()
        self._raw = raw
        self._name = name
        self._limit = limit
        self._constant = constant
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` up to the end of the member, a chunk at a time: a reader such
        as h5py takes a short read for zeros, and a whole read at once would hold the
        bytes twice."""
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view):
            want = min(len(view) - done, _CHUNK, self._limit + 1 - self._pos)
            if want <= 0:
                raise self._too_long()
            try:
                data = self._raw.read(want)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
                raise ArchiveError(f"member '{self._name}' cannot be read ({exc})") from None
            if not data:
                break
            if self._pos + len(data) > self._limit:
                raise self._too_long()
            view[done : done + len(data)] = data
            done += len(data)
            self._pos += len(data)
        return done

    def _too_long(self) -> ArchiveError:
        return ArchiveError(
            f"member '{self._name}' holds more than {self._limit:,} bytes", limit=self._constant
        )

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        try:
            self._pos = self._raw.seek(offset, whence)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise ArchiveError(f"member '{self._name}' cannot be read ({exc})") from None
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, constant: str
) -> BoundedReader:
    """Member ``info`` of ``archive``, checked (:func:`check_member`) and read through
    a :class:`BoundedReader` of ``limit`` bytes."""
    check_member(info, limit, constant)
    try:
        raw = archive.open(info)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
        raise ArchiveError(f"member '{info.filename}' cannot be read ({exc})") from None
    return BoundedReader(raw, info.filename, limit, constant)


def read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, constant: str
) -> bytes:
    """The bytes of member ``info``, at most ``limit`` of them; :class:`ArchiveError`
    if it cannot be read, or holds more."""
    chunks = []
    with open_member(archive, info, limit, constant) as member:
        while chunk := member.read(2**20):
            chunks.append(chunk)
    return b"".join(chunks)
