"""Spec text -> plain JSON data, with the source position of every key and value.

# NOTE: [why not yaml.safe_load]
``yaml.safe_load`` is safe from code execution, but not enough for a linter that
reads specs from untrusted pull requests:

- it keeps the last of two duplicate keys without a word;
- it expands aliases, so a 9-level "billion laughs" becomes billions of nodes;
- its composer recurses: the pure-Python one raises RecursionError near 500 levels
  and libyaml's C one segfaults near 50,000;
- it turns ``2001-12-14`` into a ``date``, ``yes`` into ``True``, ``012`` into 10 and
  ``1e3`` into a string; and it forgets where every value came from.

So we read the YAML *event* stream (libyaml's parser when present, which keeps an
explicit state stack and never recurses) and build the JSON value ourselves with an
explicit stack. That gives exact positions for every node, and each of the cases
above becomes a diagnostic with a line and a column. JSON files go through the same
event reader (JSON is YAML flow syntax) plus ``json.loads`` for JSON's own rules.

This module reads the file, holds the limits (read at each call, so a limit set at run
time, as SECURITY.md shows, holds from the next spec on) and turns every failure into a
diagnostic. :mod:`modelspec.source.events` builds the data from the events,
:mod:`modelspec.source.json_text` adds JSON's rules, :mod:`modelspec.source.syntax_hints`
says what a syntax error most likely is, and the result is a
:class:`modelspec.source.document.Document`.

Example::

    >>> doc, diags = loads("modelspec: 1\\nname: m\\n", "m.yaml")
    >>> doc.data, doc.position(("name",))
    ({'modelspec': 1, 'name': 'm'}, (2, 7))
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml

from modelspec.errors import ERROR, Diagnostic, Stop
from modelspec.source.document import EXOTIC_BREAKS, Document, index_position
from modelspec.source.events import Builder
from modelspec.source.json_text import json_for_yaml, json_value, lone_surrogates
from modelspec.source.syntax_hints import long_key_before, syntax_hint

MAX_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_INT_DIGITS = 19
MAX_DIAGNOSTICS = 200
# Keys, scalars, lists and mappings in one spec. The byte cap alone lets 8 MiB of
# `[1,1,1,...]` through: four million values, half a minute and a gigabyte to read.
# A 10,000-layer spec holds about 100,000; this keeps every lint of an untrusted spec
# within about two seconds on two cores (SECURITY.md).
MAX_NODES = 150_000

_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_HIDDEN_BREAKS = ("\ue085", "\uf028", "\uf029")
_HIDE_BREAKS = str.maketrans(dict(zip(EXOTIC_BREAKS, _HIDDEN_BREAKS)))
_RESTORE_BREAKS = str.maketrans(dict(zip(_HIDDEN_BREAKS, EXOTIC_BREAKS)))


def _decode(raw: bytes, file: str) -> tuple[str | None, list[Diagnostic]]:
    """Bytes -> text: UTF-8 only, no NUL bytes, a BOM is dropped."""

    def at(offset: int, code: str, message: str, hint: str | None = None) -> Diagnostic:
        before = raw[:offset]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        return Diagnostic(ERROR, code, message, hint, file, line, col)

    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    nul = raw.find(b"\0")
    if nul >= 0:
        return None, [at(nul, "MS002", "the file contains a NUL byte; a spec is UTF-8 text")]
    try:
        return raw.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        msg = f"the file is not valid UTF-8: byte 0x{raw[exc.start]:02x} cannot start a character"
        return None, [at(exc.start, "MS002", msg, "save the spec as UTF-8")]


def loads(
    text: str, file: str = "<spec>", *, fmt: str | None = None
) -> tuple[Document | None, list[Diagnostic]]:
    """Parse spec text. ``fmt`` is ``"json"`` or ``"yaml"`` (default: from the file name)."""
    if fmt is None:
        fmt = "json" if file.endswith(".json") else "yaml"
    if len(text) > MAX_BYTES:
        return None, [
            Diagnostic(
                ERROR,
                "MS001",
                f"the spec is larger than the {MAX_BYTES // 2**20} MiB limit",
                None,
                file,
            )
        ]
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        return None, [
            Diagnostic(
                ERROR,
                "MS002",
                "the file contains a NUL byte; a spec is UTF-8 text",
                None,
                file,
                line,
            )
        ]
    builder = Builder(
        file,
        text,
        json_mode=fmt == "json",
        max_nodes=MAX_NODES,
        max_depth=MAX_DEPTH,
        max_int_digits=MAX_INT_DIGITS,
        max_diagnostics=MAX_DIAGNOSTICS,
    )
    if fmt == "json":
        parse_text = json_for_yaml(text)
    elif any(c in text for c in EXOTIC_BREAKS) and not any(c in text for c in _HIDDEN_BREAKS):
        # YAML 1.2 breaks lines at LF and CR only; PyYAML (YAML 1.1) also at U+0085,
        # U+2028 and U+2029, which would end a comment or fold a string. Hide them from
        # the parser (same length, so positions hold) and restore them in the values.
        parse_text = text.translate(_HIDE_BREAKS)
        builder.restore = _RESTORE_BREAKS
    else:
        parse_text = text
    parser = _Parser(parse_text)
    try:
        builder.run(builder.events(parser))
    except Stop:
        return None, builder.diagnostics
    except yaml.reader.ReaderError as exc:
        line, col = index_position(parse_text, exc.position)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        msg = (
            f"the file contains the control character U+{ord(char):04X}, which YAML does not allow"
        )
        hint = 'remove it, or write it as an escape in a double-quoted string ("\\x7f")'
        builder.diagnostics.append(Diagnostic(ERROR, "MS002", msg, hint, file, line, col))
        return None, builder.diagnostics
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if builder.too_deep(parse_text, mark.index if mark is not None else len(parse_text)):
            return None, builder.diagnostics[-1:]
        if fmt == "json":
            _, json_diags = json_value(text, file)
            if json_diags:  # json.loads is the authority on JSON syntax
                return builder.doc, json_diags
            # Valid JSON that the YAML reader refuses (a key over YAML's 1024 characters):
            # what the reader said about the text before giving up is noise.
            builder.diagnostics = []
        line, col = builder.pos(mark) if mark else (1, 1)
        what = "JSON" if fmt == "json" else "YAML"
        # The reader's words are detail; the hint comes from the text (NOTE: [syntax hints] in
        # modelspec/source/syntax_hints.py).
        problem = exc.problem or str(exc)
        if mark is not None and long_key_before(parse_text, mark.index):
            problem = f"a key of more than 1024 characters ends here ({problem})"
            hint = (
                "YAML allows keys of at most 1024 characters, and modelspec reads JSON "
                "with the same reader; names are at most 200"
            )
        else:
            stop = mark.index if mark is not None else len(parse_text)
            hint, at = syntax_hint(parse_text, stop, json_mode=False)
            if at is not None:
                line, col = index_position(parse_text, at)
        builder.diagnostics.append(
            Diagnostic(ERROR, "MS003", f"invalid {what}: {problem}", hint, file, line, col)
        )
        # The document has no data, but its text: a diagnostic shows its line.
        return builder.doc, builder.diagnostics
    except yaml.YAMLError as exc:
        builder.diagnostics.append(Diagnostic(ERROR, "MS003", f"invalid YAML: {exc}", None, file))
        return builder.doc, builder.diagnostics
    finally:
        parser.dispose()
    if fmt == "json" and not builder.diagnostics:
        value, json_diags = json_value(text, file)
        if not json_diags:
            json_diags = lone_surrogates(value, text, file)
        builder.diagnostics += json_diags
        builder.doc.data = value
    if builder.diagnostics:
        return builder.doc, builder.diagnostics
    return builder.doc, []


def load(
    path: str | os.PathLike[str], *, display: str | None = None
) -> tuple[Document | None, list[Diagnostic]]:
    """Read and parse a spec file; every failure is a diagnostic, never an exception."""
    name = display if display is not None else str(path)
    p = Path(path)
    try:
        st = p.stat()
        size = st.st_size
        if p.is_dir():
            return None, [
                Diagnostic(ERROR, "MS001", f"'{name}' is a directory, not a spec file", None, name)
            ]
        if not stat.S_ISREG(st.st_mode):  # a FIFO or a device: reading could block or never end
            return None, [Diagnostic(ERROR, "MS001", f"'{name}' is not a regular file", None, name)]
        if p.is_symlink() and not p.resolve().is_relative_to(Path.cwd().resolve()):
            # A pull request can commit `specs/x.yaml -> ~/.aws/credentials`; the messages
            # would show the start of that file in a public CI log.
            msg = f"'{name}' is a symbolic link to a file outside the current folder; not read"
            hint = "lint the file it points to by its own path, if you trust it"
            return None, [Diagnostic(ERROR, "MS001", msg, hint, name)]
        if size > MAX_BYTES:
            msg = f"the spec is {size / 2**20:.1f} MiB, over the {MAX_BYTES // 2**20} MiB limit"
            return None, [Diagnostic(ERROR, "MS001", msg, None, name)]
        with p.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None, [Diagnostic(ERROR, "MS001", f"no such file: '{name}'", None, name)]
    except OSError as exc:
        return None, [
            Diagnostic(ERROR, "MS001", f"cannot read '{name}': {exc.strerror}", None, name)
        ]
    if len(raw) > MAX_BYTES:
        return None, [
            Diagnostic(
                ERROR, "MS001", f"the spec is over the {MAX_BYTES // 2**20} MiB limit", None, name
            )
        ]
    text, diags = _decode(raw, name)
    if text is None:
        return None, diags
    fmt = "json" if name.endswith(".json") else "yaml"
    return loads(text, name, fmt=fmt)
