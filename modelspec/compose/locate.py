"""Where an expression's error is in the spec file: the line and column of a character
of a string, found by reading again the YAML (or JSON) scalar the string came from.

The loader keeps where each value starts, and an
:class:`~modelspec.compose.errors.ExprError` knows the character of its string that it
is at (its ``offset``). Between the two lie the scalar's quotes, escapes, line folding
and block indentation, which :func:`locate` follows.
"""

from __future__ import annotations


def locate(source: str, line: int, col: int, offset: int) -> tuple[int, int]:
    """The 1-based ``(line, col)`` in ``source`` of character ``offset`` of a string.

    ``line`` and ``col`` (1-based) are where the string's YAML (or JSON) scalar starts:
    its opening quote, its ``|``/``>`` indicator, or its first character when plain.
    Quotes, escapes (``\\"``, ``''``, ``\\u00e9``), line folding and block indentation
    are followed, so the result is the character's own column. On one line, a plain
    scalar's character ``offset`` is at ``col + offset``, a quoted one's (without
    escapes) at ``col + offset + 1``.

    >>> locate('units: "${w * 2}"', 1, 8, 2)   # the `w`
    (1, 11)
    """
    lines = source.split("\n")
    if not 1 <= line <= len(lines) or offset < 0:
        return line, col
    row, c = line - 1, col - 1
    first = lines[row][c : c + 1]
    if first in ("|", ">"):
        return _locate_block(lines, row, c, first == ">", offset)
    quote = first if first in ("'", '"') else None
    if quote:
        c += 1
    decoded = 0
    while True:
        text = lines[row]
        # Where the line's text ends: whitespace before a line break is not part of a
        # flow scalar, and the break folds into a space (or a newline per blank line).
        end = len(text.rstrip(" \t\r"))
        if c >= end:
            if row + 1 >= len(lines):
                return row + 1, c + 1
            blanks = 0
            row += 1
            while row + 1 < len(lines) and not lines[row].strip():
                blanks += 1
                row += 1
            decoded += max(blanks, 1)
            c = len(lines[row]) - len(lines[row].lstrip(" \t"))
            if decoded > offset:
                return row + 1, c + 1
            continue
        if decoded >= offset:
            return row + 1, c + 1
        ch = text[c]
        if quote == "'" and ch == "'" and text[c + 1 : c + 2] == "'":
            c += 2
        elif quote == '"' and ch == "\\":
            if c + 1 >= end:  # an escaped line break: it and the indentation vanish
                if row + 1 >= len(lines):
                    return row + 1, c + 1
                row += 1
                c = len(lines[row]) - len(lines[row].lstrip(" \t"))
                continue
            c += {"x": 4, "u": 6, "U": 10}.get(text[c + 1], 2)
        else:
            c += 1
        decoded += 1


def _locate_block(
    lines: list[str], row: int, col: int, folded: bool, offset: int
) -> tuple[int, int]:
    """``|`` and ``>`` scalars: the lines after the indicator, less their indentation."""
    header = lines[row][col:].split("#", 1)[0]
    explicit = next((int(ch) for ch in header if ch in "123456789"), None)
    i = row + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines):
        return row + 2, 1
    if explicit is not None:
        indent = len(lines[row]) - len(lines[row].lstrip(" ")) + explicit
    else:
        indent = len(lines[i]) - len(lines[i].lstrip(" "))
    decoded = i - row - 1  # leading blank lines: one newline each
    if offset < decoded:
        return row + 2 + offset, indent + 1
    while True:
        text = lines[i].rstrip("\r")
        body = text[indent:]
        if offset - decoded <= len(body):
            return i + 1, indent + offset - decoded + 1
        decoded += len(body)
        # The break after this line: in a folded scalar a break followed by blank lines
        # becomes one newline per blank line, and a lone break a space; in a literal
        # one, every break is one newline.
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        blanks = j - i - 1
        decoded += blanks if folded and blanks else 1 + blanks
        if j >= len(lines) or len(lines[j]) - len(lines[j].lstrip(" ")) < indent:
            return i + 1, len(text) + 1
        if decoded > offset:
            return j + 1, indent + 1
        i = j
