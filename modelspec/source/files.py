"""Files: writing them so that a failure never leaves half a file behind, and knowing
that a file to read is a plain file before it is opened."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path next to ``path`` to write; renamed over ``path`` when the block ends.

    Readers see the old file or the new one, never a mix. The new file keeps an
    existing file's permissions (else the umask's). If the block raises, the temporary
    file is removed and ``path`` is untouched. ``suffix`` is the temporary file's
    extension, for writers that insist on one (Keras saves only to ``*.keras``).
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"'{target}' is a directory")
    folder = target.parent if str(target.parent) else Path(".")
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    ``OSError`` propagates with the target path; the temporary file is removed.
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def regular_file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as a file of data, from ``os.stat`` alone, or None.

    Nothing is opened: a FIFO would block the reader until something writes to it, and
    a device may never end. Links are followed (where they may lead is the caller's
    check).

    >>> regular_file_problem("/dev/null")
    'it is not a regular file (a character device)'
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "no such file"
    except OSError as exc:
        return exc.strerror or str(exc)
    except ValueError:  # a NUL byte in the path
        return "no such file"
    if stat.S_ISDIR(mode):
        return "it is a directory"
    if not stat.S_ISREG(mode):
        kind = next((what for test, what in _SPECIAL if test(mode)), "not a file")
        return f"it is not a regular file ({kind})"
    return None
