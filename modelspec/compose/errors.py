"""The error of the expression language: :class:`ExprError`, where it points and how it
prints. Every stage raises it: the lexer and the parser for text that does not parse,
the evaluator for a value it cannot make, and a :class:`~modelspec.compose.limits.Budget`
that runs out."""

from __future__ import annotations

from typing import Any


class ExprError(Exception):
    """An expression that does not parse or cannot be evaluated, and where.

    ``column`` is the 0-based position of the problem in ``expression`` (the text of
    the one expression); ``offset`` is its 0-based position in ``text``, the whole
    string the expression came from (for a bare expression the two are the same);
    ``path`` is the JSON path of that string when
    :func:`~modelspec.compose.template.substitute` found it.
    :func:`~modelspec.compose.locate.locate` turns ``offset`` into a line and column in
    the spec file.
    """

    def __init__(self, message: str, column: int, hint: str | None = None, code: str = "MS702"):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code  # MS702, or MS728 / MS729 when a Budget ran out
        self.column = column
        self.offset = column
        self.expression = ""
        self.text = ""
        self.path: tuple[Any, ...] = ()

    def copy(self) -> ExprError:
        """A new error, the same as this one."""
        err = type(self)(self.message, self.column, self.hint, self.code)
        err.offset, err.expression, err.text, err.path = (
            self.offset,
            self.expression,
            self.text,
            self.path,
        )
        return err

    def at(self, text: str, start: int, expression: str) -> ExprError:
        """Place the error in ``text``, where ``expression`` starts at ``start``."""
        self.text = text
        self.expression = expression
        self.offset = start + self.column
        return self

    def __str__(self) -> str:
        return f"{self.message} (at column {self.offset + 1})"

    def format(self) -> str:
        """The message, the text with a caret under the problem, and the hint."""
        lines = [self.message]
        shown = self.text if "\n" not in self.text and len(self.text) <= 200 else None
        if shown is not None:
            lines += [f"    {shown}", "    " + " " * self.offset + "^"]
        if self.hint:
            lines.append(f"    hint: {self.hint}")
        return "\n".join(lines)


class _Unclosed(ExprError):
    """A template's ``${`` without its ``}``: the error is at the ``${``."""
