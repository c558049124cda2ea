"""Reading an import SOURCE as data: a ``.keras`` archive or a Keras JSON config.

Nothing here deserializes a Keras object. A ``.keras`` archive is a zip: only its
``config.json`` member is read, through :mod:`modelspec.source.archive` (the number of
members and the member's size checked before a byte is inflated, and the reading
bounded too; a lookup's learned vocabulary, in the archive's assets, is read the same
way by :mod:`modelspec.importer.assets`); nothing is extracted and the weights file is
never opened. A FIFO or a
device is refused unopened. The JSON is parsed by :mod:`json` with

- a size cap on the file and on the ``config.json`` member (``MS602``);
- duplicate keys refused, where :mod:`json` would silently keep the last (``MS603``);
- ``NaN`` and ``Infinity`` refused: they are not JSON (``MS601``);
- a number that overflows a float (``1e999999``) or an integer past 64 bits refused
  at its line and column, before it is converted (``MS622``);
- a depth cap, checked on the text before parsing, so no recursive code ever sees a
  deeper document (``MS602``).

Every pass over the text before :mod:`json` sees it is linear in its length,
whatever the text: an untrusted file must not make a regular expression backtrack.

Example::

    >>> config, diags = read_source(Path("model.keras"))      # doctest: +SKIP
    >>> config["class_name"]                                   # doctest: +SKIP
    'Functional'
"""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

from modelspec.errors import ERROR, Diagnostic
from modelspec.source.archive import ArchiveError, open_zip, read_member
from modelspec.source.files import regular_file_problem

# keras.applications' largest config (NASNetLarge) is about 1 MB; 64 MiB leaves room
# for any real model while keeping a hostile file from eating the memory.
MAX_BYTES = 64 * 1024 * 1024
# Keras configs nest about 12 levels deep (model, layers, nodes, args, tensors); a
# wrapper or a nested model adds a dozen more.
MAX_DEPTH = 100
# Every integer in a config (sizes, counts, seeds, axes) fits Keras's int64; a longer
# one is refused from its digits, before Python converts it.
MAX_INT = 2**63 - 1
CONFIG_MEMBER = "config.json"
ZIP_MAGIC = b"PK\x03\x04"


class SourceError(Exception):
    """The source cannot be read; ``diagnostic`` says why (and ``diagnostics``, where
    there is more than one reason: a legacy HDF5 file checked whole)."""

    def __init__(self, diagnostic: Diagnostic, *more: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic
        self.diagnostics = [diagnostic, *more]


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _error(code: str, message: str, file: str, hint: str | None = None, *, line: int = 1,
           col: int = 1) -> SourceError:  # fmt: skip
    return SourceError(Diagnostic(ERROR, code, message, hint, file, line, col))


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class _BadNumber(ValueError):
    """A number literal that has no value in a Keras config; ``literal`` is its text."""

    def __init__(self, literal: str, message: str):
        super().__init__(message)
        self.literal = literal
        self.message = message


def _short(literal: str) -> str:
    if len(literal) <= 40:
        return literal
    return f"{literal[:20]}...{literal[-10:]} ({len(literal):,} characters)"


def _int(literal: str) -> int:
    digits = len(literal) - literal.startswith("-")
    # 19 digits hold every int64; more are refused before int() reads them (it takes
    # quadratic time on long ones, and refuses 4,300 digits and more).
    value = int(literal) if digits <= 19 else None
    if value is None or abs(value) > MAX_INT:
        raise _BadNumber(
            literal,
            f"the integer {_short(literal)} is out of range: a Keras config's "
            "ints are within +-(2**63 - 1)",
        )
    return value


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _BadNumber(literal, f"the number {_short(literal)} is too large for a float")
    return value


# A JSON string, closed or not. The loop is unrolled (runs of plain characters between
# escapes) and the end is a closing quote, a lone backslash at the end of the text or
# the end itself, so a match never fails once started: `"(?:[^"\\]|\\.)*"` failed on an
# unterminated string and was tried again from each quote inside it, quadratic time
# (49 s for 80 KB of escaped quotes).
_STRING = re.compile(r'"[^"\\]*(?:\\[\s\S][^"\\]*)*(?:"|\\?\Z)')
_BRACKETS = re.compile(r"[\[\]{}]")
# Strings (skipped) and number literals, as json's scanner reads them.
_NUMBER_OR_STRING = re.compile(
    _STRING.pattern + r"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
)


def _depth(text: str) -> int:
    """How deep ``text``'s arrays and objects nest, from its brackets outside strings.

    Counting on the text keeps a hostile document from reaching any recursive code,
    and costs a regex pass instead of a walk over every parsed value.
    """
    brackets = _BRACKETS.findall(_STRING.sub("", text))
    steps = (1 if b in "[{" else -1 for b in brackets)
    return max(itertools.accumulate(steps), default=0)


def _where(text: str, literal: str) -> tuple[int, int]:
    """The 1-based line and column of the first number ``literal`` outside strings.

    json stops at the first bad number, and an earlier one written alike would have
    stopped it there, so the first is the one.
    """
    for m in _NUMBER_OR_STRING.finditer(text):
        if m.group() == literal:
            start = m.start()
            line = text.count("\n", 0, start) + 1
            return line, start - (text.rfind("\n", 0, start) + 1) + 1
    return 1, 1  # pragma: no cover - json read the literal from the text


def parse_json(raw: bytes, file: str) -> Any:
    """``raw`` as strict JSON: UTF-8, no duplicate keys, no NaN, bounded depth."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _error("MS601", f"the config is not UTF-8 text (byte {exc.start})", file) from None
    if _depth(text) > MAX_DEPTH:
        raise _error(
            "MS602",
            f"the config nests deeper than {MAX_DEPTH} levels",
            file,
            "a Keras model config is far shallower; this is not one",
        )
    try:
        value = json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_constant=_no_constant,
            parse_int=_int,
            parse_float=_float,
        )
    except _BadNumber as exc:
        line, col = _where(text, exc.literal)
        raise _error(
            "MS622",
            exc.message,
            file,
            "a Keras model config holds no such number; "
            "this file was not written by Keras, or was changed since",
            line=line,
            col=col,
        ) from None
    except _DuplicateKey as exc:
        raise _error(
            "MS603",
            f"duplicate key {exc.key!r} in the config",
            file,
            "JSON readers disagree on which value wins; Keras never writes one twice",
        ) from None
    except RecursionError:
        raise _error("MS602", f"the config nests deeper than {MAX_DEPTH} levels", file) from None
    except json.JSONDecodeError as exc:
        raise _error(
            "MS601",
            f"the config is not valid JSON: {exc.msg}",
            file,
            line=exc.lineno,
            col=exc.colno,
        ) from None
    except ValueError as exc:
        raise _error("MS601", f"the config is not valid JSON: {exc}", file) from None
    return value


def _read_archive(path: Path, file: str) -> bytes:
    try:
        with open_zip(path) as archive:
            try:
                info = archive.getinfo(CONFIG_MEMBER)
            except KeyError:
                names = [i.filename for i in archive.infolist()[:5]]
                shown = ", ".join(names) if names else "nothing"
                raise _error(
                    "MS601",
                    f"'{file}' has no {CONFIG_MEMBER}; it holds {shown}",
                    file,
                    "a .keras archive (model.save('m.keras')) holds config.json",
                ) from None
            if info.file_size > MAX_BYTES:
                raise _error(
                    "MS602",
                    f"{CONFIG_MEMBER} in '{file}' is {info.file_size:,} bytes "
                    f"uncompressed; the limit is {MAX_BYTES:,}",
                    file,
                )
            # The header's size can lie: read_member fails one byte past the limit.
            return read_member(archive, info, MAX_BYTES, f"{__name__}.MAX_BYTES")
    except ArchiveError as exc:
        if exc.limit is not None:
            raise _error(
                "MS602",
                f"'{file}' is too large to read: {exc.message}",
                file,
                f"a limit of modelspec ({exc.limit}); no .keras file that Keras writes comes near it",
            ) from None
        raise _error(
            "MS601", f"cannot read {CONFIG_MEMBER} from '{file}': {exc.message}", file
        ) from None


def read_source(path: Path, display: str | None = None) -> Any:
    """The Keras model config in ``path`` as plain JSON values; :class:`SourceError` if not.

    ``path`` is a ``.keras`` archive (recognised by its zip signature, whatever its
    name) or a JSON file holding ``model.to_json()`` or an archive's ``config.json``.
    (A legacy HDF5 model file is read by :mod:`modelspec.importer.legacy_h5`.)
    """
    file = display or str(path)
    problem = regular_file_problem(path)  # a FIFO or a device is never opened
    if problem is not None:
        raise _error("MS601", f"cannot read '{file}': {problem}", file)
    size = path.stat().st_size
    try:
        with path.open("rb") as fh:
            head = fh.read(len(ZIP_MAGIC))
    except OSError as exc:
        raise _error("MS601", f"cannot read '{file}': {exc.strerror or exc}", file) from None
    if head.startswith(ZIP_MAGIC):
        return parse_json(_read_archive(path, file), file)
    if size > MAX_BYTES:
        raise _error("MS602", f"'{file}' is {size:,} bytes; the limit is {MAX_BYTES:,}", file)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _error("MS601", f"cannot read '{file}': {exc.strerror or exc}", file) from None
    return parse_json(raw, file)
