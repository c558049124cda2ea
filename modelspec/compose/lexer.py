"""The tokens of an expression: numbers, strings, names, keywords and operators.

``INT`` is decimal with no leading zero; ``FLOAT`` is ``1.5``, ``.5``, ``2.`` or
``1e-3``; ``STRING`` is single- or double-quoted, with the escapes ``\\\\ \\' \\" \\n \\t
\\r``; ``NAME`` is ASCII letters, digits and ``_``, not starting with a digit. A
character that another language would read as an operator (``**``, ``&&``, ``.``, ...)
is an error that says what to write instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from modelspec.compose import limits
from modelspec.compose.errors import ExprError, _Unclosed
from modelspec.compose.values import _short

KEYWORDS = frozenset({"and", "or", "not", "if", "else", "true", "false", "null"})
_DIGITS = "0123456789"
_SPACE = " \t\r\n"
_OPERATORS_2 = ("//", "==", "!=", "<=", ">=")
_OPERATORS_1 = "+-*/%<>()[],"
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
# Characters people reach for from other languages, with what to write instead.
_MISTAKES = {
    "**": ("`**` (power) is not supported", "write the product out, e.g. `x * x`"),
    "&&": ("`&&` is not an operator", "write `and`"),
    "||": ("`||` is not an operator", "write `or`"),
    "=": ("`=` is not an operator", "compare with `==`"),
    "!": ("`!` is not an operator", "write `not x`, or `!=` to compare"),
    "&": ("`&` is not an operator", "write `and`"),
    "|": ("`|` is not an operator", "write `or`"),
    ".": ("attributes are not supported", 'index instead: `xs[0]`, `m["key"]`'),
    ":": ("`:` is not an operator", "slices and mappings cannot be written in an expression"),
    "{": ("mappings cannot be written in an expression", None),
    "${": ("`${` does not nest", "inside `${...}`, write the expression itself"),
    "?": ("`?` is not an operator", "write `a if condition else b`"),
}


@dataclass(frozen=True, slots=True)
class Token:
    """``kind`` is ``int``, ``float``, ``str``, ``name``, ``end``, or the operator or
    keyword itself; ``col`` is 0-based, in the expression's text."""

    kind: str
    col: int
    value: Any = None


def _tokenize(text: str, start: int = 0, *, template: bool = False) -> tuple[list[Token], int]:
    """The tokens of the expression that starts at ``text[start]``, and where it ends.

    In a template the expression ends at the first ``}`` outside a string literal (the
    language has no braces), and the end is just past it.
    """
    tokens: list[Token] = []
    n = len(text)
    limit = start + limits.MAX_EXPR_CHARS
    i = start

    def fail(message: str, at: int, hint: str | None = None) -> ExprError:
        return ExprError(message, at - start, hint)

    while True:
        while i < n and text[i] in _SPACE:
            i += 1
        if i > limit:  # a template's expression runs on: a bare one was measured whole
            raise fail(
                f"the expression is longer than {limits.MAX_EXPR_CHARS:,} characters",
                min(i, limit),
                "split it into variables",
            )
        if i >= n:
            if template:
                raise _Unclosed("`${` is never closed", 0, "end the expression with `}`")
            tokens.append(Token("end", i - start))
            return tokens, i
        c = text[i]
        col = i - start
        if template and c == "}":
            tokens.append(Token("end", col))
            return tokens, i + 1
        if c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            i = _scan_number(text, i, start, tokens)
        elif c in "'\"":
            i = _scan_string(text, i, start, limit, tokens)
        elif c == "_" or (c.isascii() and c.isalpha()):
            j = i + 1
            while j < n and (text[j] == "_" or (text[j].isascii() and text[j].isalnum())):
                j += 1
            word = text[i:j]
            tokens.append(Token(word if word in KEYWORDS else "name", col, word))
            i = j
        elif text.startswith(_OPERATORS_2, i):
            tokens.append(Token(text[i : i + 2], col))
            i += 2
        elif text[i : i + 2] in _MISTAKES or c in _MISTAKES:
            message, hint = _MISTAKES.get(text[i : i + 2]) or _MISTAKES[c]
            raise fail(message, i, hint)
        elif c in _OPERATORS_1:
            tokens.append(Token(c, col))
            i += 1
        elif c == "}":
            raise fail("`}` without `${`", i)
        else:
            raise fail(f"unexpected character {c!r}", i)


def _scan_number(text: str, i: int, start: int, tokens: list[Token]) -> int:
    n = len(text)
    j = i
    while j < n and text[j] in _DIGITS:
        j += 1
    is_float = False
    if j < n and text[j] == ".":
        is_float = True
        j += 1
        while j < n and text[j] in _DIGITS:
            j += 1
    if j < n and text[j] in "eE":
        k = j + 1
        if k < n and text[k] in "+-":
            k += 1
        if k >= n or text[k] not in _DIGITS:
            raise ExprError("a number's exponent needs digits", j - start, "e.g. `1e-3`")
        is_float = True
        j = k
        while j < n and text[j] in _DIGITS:
            j += 1
    if j < n and (text[j] == "_" or text[j] == "." or text[j].isalnum()):
        raise ExprError(f"unexpected {text[j]!r} after a number", j - start)
    literal = text[i:j]
    col = i - start
    if j - start > limits.MAX_EXPR_CHARS:  # before int(), which refuses 4,300 digits and more
        raise ExprError(
            f"the expression is longer than {limits.MAX_EXPR_CHARS:,} characters",
            limits.MAX_EXPR_CHARS,
            "split it into variables",
        )
    if is_float:
        value = float(literal)
        if not math.isfinite(value):
            raise ExprError(f"the number {literal} is too large for a float", col)
        tokens.append(Token("float", col, value))
        return j
    if len(literal) > 1 and literal[0] == "0":
        raise ExprError(
            f"an integer cannot start with 0: {literal}",
            col,
            "write it without leading zeros (YAML 1.1 read 012 as octal; this is decimal)",
        )
    value = int(literal)  # at most MAX_EXPR_CHARS digits: far below int()'s own limit
    if value > limits.MAX_INT:
        raise ExprError(f"the integer {_short(literal)} is out of range", col, limits.INT_HINT)
    tokens.append(Token("int", col, value))
    return j


def _scan_string(text: str, i: int, start: int, limit: int, tokens: list[Token]) -> int:
    quote = text[i]
    n = len(text)
    j = i + 1
    out: list[str] = []
    while True:
        if j >= n or j > limit:
            if j > limit:
                raise ExprError(
                    f"the expression is longer than {limits.MAX_EXPR_CHARS:,} characters",
                    limit - start,
                    "split it into variables",
                )
            raise ExprError("the string is never closed", i - start, f"end it with {quote}")
        ch = text[j]
        if ch == quote:
            tokens.append(Token("str", i - start, "".join(out)))
            return j + 1
        if ch == "\\":
            if j + 1 >= n:
                raise ExprError("the string is never closed", i - start, f"end it with {quote}")
            escape = text[j + 1]
            if escape not in _ESCAPES:
                raise ExprError(
                    f"unknown escape \\{escape}",
                    j - start,
                    "the escapes are \\\\ \\' \\\" \\n \\t \\r",
                )
            out.append(_ESCAPES[escape])
            j += 2
        else:
            out.append(ch)
            j += 1
