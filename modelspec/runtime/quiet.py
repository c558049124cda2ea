"""Importing Keras and TensorFlow quietly: what the commands and the API call before
the first ``import keras``, so that TensorFlow's start-up log does not bury what
modelspec and Keras print, and a backend that is not installed is named with the extra
that installs it (:mod:`modelspec.runtime.backend`). At module level it imports
nothing of modelspec, so any module may use it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from typing import Any


def quiet_tensorflow() -> None:
    """Call before TensorFlow is imported: its C++ start-up log (banners, tf.data notes)
    would bury what modelspec and Keras print. Errors still show; a level the user set,
    e.g. ``TF_CPP_MIN_LOG_LEVEL=0``, wins."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def quiet_import(name: str = "keras") -> Any:
    """``import name`` (Keras, or TensorFlow) without TensorFlow's start-up log.

    Keras's backend is checked first: a missing package raises
    :class:`~modelspec.runtime.backend.BackendUnavailable` (an ``ImportError``) that
    names the extra to install, and so does an ``ImportError`` of the import itself.

    # NOTE: [quiet start-up]
    ``TF_CPP_MIN_LOG_LEVEL`` applies once TensorFlow's logging is set up. Lines logged
    before that (TensorFlow 2.21: absl's "All log messages before absl::InitializeLog()"
    and the oneDNN and CPU-feature notes) go straight to file descriptor 2, whatever
    the level. So while TensorFlow loads, descriptor 2 is a pipe, and what comes
    through it is passed on without the informational and warning records of the C++
    log (``I0000 00:00:...] ...``) and absl's notice. Errors,
    Python's own warnings and anything else pass through. Nothing is switched off:
    oneDNN stays as TensorFlow chose. A level the user set below 2 keeps everything.
    """
    if sys.modules.get(name) is not None:  # None: blocked, and importing it fails
        return sys.modules[name]
    if name != "keras":
        return _import(name)
    from modelspec.runtime.backend import require, unavailable

    backend = require()
    try:
        keras = _import(name)
    except ImportError as exc:  # a broken install: a package of the backend is missing
        raise unavailable(backend, str(exc)) from exc
    if backend != "tensorflow":
        tensorflow_if_installed()
    return keras


def tensorflow_if_installed() -> None:
    """Import TensorFlow now, quietly, when it is installed and not yet loaded.

    On JAX or PyTorch, Keras still imports TensorFlow when it is installed, lazily (to
    feed data to a model, to adapt a layer, ...), and its start-up log would then land
    in the middle of what modelspec prints: :func:`quiet_import` loads it right after
    Keras, quietly. After, not before: a process that loads TensorFlow before PyTorch
    and then trains with PyTorch crashes (PyTorch 2.14, TensorFlow 2.21).
    """
    import importlib.util

    if "tensorflow" not in sys.modules and importlib.util.find_spec("tensorflow") is not None:
        _import("tensorflow")


def _import(name: str) -> Any:
    import importlib

    quiet_tensorflow()
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") in ("0", "1"):
        return importlib.import_module(name)
    with _native_log_filtered():
        return importlib.import_module(name)


# A record of the C++ log (absl / glog format): level letter, date, time, thread,
# file:line]. INFO and WARNING records are dropped, and absl's notice that logging is
# not set up yet; a line without that prefix is never dropped.
_QUIET_RECORD = re.compile(
    rb"(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] |"
    rb"WARNING: All log messages before absl::InitializeLog\(\))"
)


def drop_startup_log(data: bytes) -> bytes:
    r"""``data`` (what was written to stderr) without the C++ log's INFO and WARNING
    records; see NOTE: [quiet start-up].

    >>> drop_startup_log(b"I0000 00:00:17.1 12 port.cc:153] oneDNN custom operations are on.\nkept\n")
    b'kept\n'
    """
    return b"".join(
        line for line in data.splitlines(keepends=True) if not _QUIET_RECORD.match(line)
    )


@contextlib.contextmanager
def _native_log_filtered() -> Iterator[None]:
    """File descriptor 2 through :func:`drop_startup_log` inside the block."""
    import threading

    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:  # no descriptor 2, or none left: nothing to filter
        yield
        return
    chunks: list[bytes] = []

    def drain() -> None:  # a pipe's buffer is small: read while the block writes
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the reader sees its end
        os.close(saved)
        reader.join(timeout=10)
        os.close(read_end)
        kept = drop_startup_log(b"".join(chunks))
        if kept:
            os.write(2, kept)
