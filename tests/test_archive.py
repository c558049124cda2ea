"""Reading zip archives as bounded data (``modelspec.source.archive``) and refusing files that
are not regular files (``modelspec.source.files.regular_file_problem``).

The archives are real zips: written by :mod:`zipfile`, or by hand
(``tests/hostile/builders.py``) where they must lie about themselves in ways zipfile
would not write: an encryption flag, a count or a size that is not the truth.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path

import pytest

from modelspec.source import archive
from modelspec.source.archive import (
    ArchiveError,
    BoundedReader,
    directory_size,
    open_member,
    open_zip,
    read_member,
)
from modelspec.source.files import regular_file_problem

builders = pytest.importorskip("tests.hostile.builders")
LIMIT = "test.LIMIT"


def write(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def members(n: int) -> dict[str, bytes]:
    return {f"m{i}.txt": b"x" * i for i in range(n)}


# --- the end record, before zipfile parses the directory --------------------------------


def test_directory_size_is_what_zipfile_reads(tmp_path: Path):
    path = write(tmp_path / "a.zip", members(5))
    with open(path, "rb") as fh:
        count, size = directory_size(fh)
    with zipfile.ZipFile(path) as zf:
        assert count == len(zf.infolist()) == 5
        # Each entry: 46 bytes and its name.
        assert size == sum(46 + len(i.filename) + len(i.extra) for i in zf.infolist())


def test_directory_size_reads_the_zip64_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)  # zipfile writes ZIP64 past this
    path = write(tmp_path / "a.zip", members(3))
    with open(path, "rb") as fh:
        data = fh.read()
        assert b"PK\x06\x06" in data and b"PK\x06\x07" in data
        assert directory_size(fh)[0] == 3


def test_directory_size_of_what_is_no_zip(tmp_path: Path):
    assert directory_size(io.BytesIO(b"not a zip" * 100)) is None
    assert directory_size(io.BytesIO(b"")) is None


def test_too_many_members_from_the_end_record_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = write(tmp_path / "a.zip", members(4))
    monkeypatch.setattr(archive, "MAX_MEMBERS", 3)
    parsed = []
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", lambda self: parsed.append(1))
    with pytest.raises(ArchiveError) as err, open_zip(path):
        pass
    assert err.value.message == "it has 4 members; the limit is 3"
    assert err.value.limit == "modelspec.source.archive.MAX_MEMBERS"
    assert parsed == []  # refused before zipfile read the directory


def test_an_end_record_that_lies_about_the_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write(tmp_path / "a.zip", members(5))
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x05\x06")
    struct.pack_into("<2H", data, at + 8, 1, 1)  # "1 member", in a directory of 5
    path.write_bytes(bytes(data))
    monkeypatch.setattr(archive, "MAX_MEMBERS", 3)
    with pytest.raises(ArchiveError) as err, open_zip(path):
        pass
    assert err.value.message == "it has 5 members; the limit is 3"


def test_a_directory_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write(tmp_path / "a.zip", {"n" * 200: b"", "m" * 200: b""})
    monkeypatch.setattr(archive, "MAX_DIRECTORY_BYTES", 300)
    with pytest.raises(ArchiveError) as err, open_zip(path):
        pass
    assert "its list of members takes 492 bytes; the limit is 300" == err.value.message
    assert err.value.limit == "modelspec.source.archive.MAX_DIRECTORY_BYTES"


def test_not_a_zip(tmp_path: Path):
    (tmp_path / "a.zip").write_bytes(b"PK\x03\x04" + bytes(40))
    with pytest.raises(ArchiveError) as err, open_zip(tmp_path / "a.zip"):
        pass
    assert err.value.message.startswith("it is not a zip file, or a damaged one")
    assert err.value.limit is None


def test_errors_of_the_callers_block_are_not_taken_for_the_archives(tmp_path: Path):
    path = write(tmp_path / "a.zip", members(2))
    with pytest.raises(OSError, match="the caller's"), open_zip(path):
        raise OSError("the caller's")


# --- members --------------------------------------------------------------------------


def test_a_member_is_read_up_to_its_limit(tmp_path: Path):
    path = write(tmp_path / "a.zip", {"a": b"x" * 100})
    with open_zip(path) as zf:
        assert read_member(zf, zf.getinfo("a"), 100, LIMIT) == b"x" * 100
        with pytest.raises(ArchiveError) as err:
            read_member(zf, zf.getinfo("a"), 99, LIMIT)
    assert err.value.message == "member 'a' is 100 bytes uncompressed; the limit is 99"
    assert err.value.limit == LIMIT


def test_encrypted_and_bzip2_members_are_refused_unread(tmp_path: Path):
    path = tmp_path / "a.zip"
    builders.write_zip(path, [builders.Member.stored("secret", b"x" * 10, flags=1)])
    with open_zip(path) as zf:
        with pytest.raises(ArchiveError) as err:
            open_member(zf, zf.getinfo("secret"), 100, LIMIT)
    assert err.value.message == "member 'secret' is encrypted" and err.value.limit is None
    path = write(tmp_path / "b.zip", {"b": b"x" * 10}, zipfile.ZIP_BZIP2)
    with open_zip(path) as zf:
        with pytest.raises(ArchiveError) as err:
            open_member(zf, zf.getinfo("b"), 100, LIMIT)
    assert "is compressed with bzip2; modelspec reads stored and deflated members only" in err.value.message  # fmt: skip


def test_a_directory_that_understates_a_size_is_a_bad_member(tmp_path: Path):
    """The directory says 10 bytes for a member of 100: zipfile stops at 10 and the CRC
    fails; nothing past the stated size comes out."""
    path = tmp_path / "a.zip"
    member = builders.Member.stored("a", b"x" * 100)
    builders.write_zip(path, [member])
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<L", data, central + 24, 10)  # its uncompressed size
    path.write_bytes(bytes(data))
    with open_zip(path) as zf:
        assert zf.getinfo("a").file_size == 10
        with pytest.raises(ArchiveError) as err:
            read_member(zf, zf.getinfo("a"), 50, LIMIT)
    assert err.value.message.startswith("member 'a' cannot be read (Bad CRC-32")


def test_the_bounded_reader_stops_past_its_limit_whatever_the_stream_holds():
    reader = BoundedReader(io.BytesIO(b"y" * 64), "m", 40, LIMIT)
    assert reader.read(40) == b"y" * 40
    with pytest.raises(ArchiveError) as err:
        reader.read(1)
    assert err.value.message == "member 'm' holds more than 40 bytes" and err.value.limit == LIMIT
    reader = BoundedReader(io.BytesIO(b"y" * 10), "m", 40, LIMIT)
    buffer = bytearray(32)
    assert reader.readinto(buffer) == 10 and reader.readinto(buffer) == 0  # end of stream
    assert reader.seek(2) == 2 and reader.read(3) == b"yyy" and reader.tell() == 5


def test_the_bounded_reader_fills_a_large_buffer_in_one_call(tmp_path: Path):
    """h5py takes a short read for zeros: one call fills the buffer, chunk by chunk."""
    data = bytes(range(256)) * 12_000  # about 3 MiB
    path = write(tmp_path / "a.zip", {"a": data})
    with open_zip(path) as zf, open_member(zf, zf.getinfo("a"), len(data), LIMIT) as member:
        buffer = bytearray(len(data) + 10)
        assert member.readinto(buffer) == len(data)
        assert bytes(buffer[: len(data)]) == data


def test_a_bomb_is_refused_from_its_record(tmp_path: Path):
    """5 GiB of zeros in 5 MB: refused without inflating a byte."""
    path = tmp_path / "bomb.zip"
    builders.zip_bomb(path, member="w", gigabytes=5)
    assert path.stat().st_size < 6 * 2**20
    with open_zip(path) as zf:
        info = zf.getinfo("w")
        assert info.file_size == 5 * 2**30
        with pytest.raises(ArchiveError) as err:
            open_member(zf, info, 4 * 2**30, LIMIT)
    assert err.value.message == "member 'w' is 5,368,709,120 bytes uncompressed; the limit is 4,294,967,296"  # fmt: skip


def test_the_builders_bomb_is_a_valid_zip(tmp_path: Path):
    """The same stream, small: zipfile inflates it whole and the CRC holds."""
    path = tmp_path / "small.zip"
    builders.zip_bomb(path, member="w", gigabytes=3.25 / 1024, others={"a": "text"})
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert zf.read("w") == bytes(int(3.25 * 2**20)) and zf.read("a") == b"text"
    for n, start in ((0, 0), (1, 0), (1000, 7), (2**20 + 3, 99)):
        assert builders.crc32_of_zeros(n, start) == __import__("zlib").crc32(bytes(n), start)


# --- files that are not regular files -----------------------------------------------------


def test_regular_file_problem(tmp_path: Path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "file").write_text("x")
    assert regular_file_problem(tmp_path / "file") is None
    assert regular_file_problem(tmp_path / "fifo") == "it is not a regular file (a FIFO)"
    assert regular_file_problem(tmp_path / "missing") == "no such file"
    assert regular_file_problem(tmp_path / "file" / "below") == "no such file"
    assert regular_file_problem(tmp_path) == "it is a directory"
    if Path("/dev/zero").exists():
        assert regular_file_problem("/dev/zero") == "it is not a regular file (a character device)"
