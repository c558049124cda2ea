"""Templates: strings with ``${...}`` inside, rendered with the names of a spec.

A string that is exactly ``"${expr}"`` becomes the value of the expression, with its
type; a string with ``${...}`` among other text gets each value written in as text
(``true``, ``null``, ``0.5``, ``[1, "a"]``). The first ``}`` outside a string literal
ends the expression, and ``$${`` is a literal ``${``. :func:`substitute` applies this
to every string in plain data, in mapping values but not keys.

Example::

    >>> substitute({"units": "${width * 2}", "name": "fc_${i}"}, {"width": 32, "i": 3})
    {'units': 64, 'name': 'fc_3'}
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelspec.compose import limits
from modelspec.compose.errors import ExprError, _Unclosed
from modelspec.compose.evaluate import _Evaluator
from modelspec.compose.expr import Expression, _Parser
from modelspec.compose.lexer import _tokenize
from modelspec.compose.limits import Budget
from modelspec.compose.values import _size, _text, copy_value


@dataclass(frozen=True, slots=True)
class _Piece:
    expression: Expression
    start: int  # offset of the expression's text in the string


def _pieces(text: str) -> list[str | _Piece]:
    """Literal text and expressions, in order; ``$${`` is a literal ``${``."""
    parts: list[str | _Piece] = []
    literal: list[str] = []
    i = 0
    while True:
        j = text.find("$", i)
        if j < 0:
            literal.append(text[i:])
            break
        literal.append(text[i:j])
        if text.startswith("$${", j):
            literal.append("${")
            i = j + 3
        elif text.startswith("${", j):
            start = j + 2
            try:
                tokens, end = _tokenize(text, start, template=True)
                source = text[start : end - 1]
                expression = Expression(source, _Parser(tokens).parse())
            except _Unclosed as err:
                raise err.at(text, j, text[j:]) from None
            except ExprError as err:
                raise err.at(text, start, text[start:]) from None
            if any(literal):
                parts.append("".join(literal))
            literal = []
            parts.append(_Piece(expression, start))
            i = end
        else:
            literal.append("$")
            i = j + 1
    if any(literal):
        parts.append("".join(literal))
    return parts


@functools.lru_cache(maxsize=4096)
def _template(text: str) -> tuple[str | _Piece, ...]:
    return tuple(_pieces(text))


def is_template(text: str) -> bool:
    """Whether :func:`substitute` would change ``text`` (it has ``${`` or ``$${``)."""
    return "${" in text


def _parsed(budget: Budget, text: str) -> tuple[str | _Piece, ...]:
    """The parsed template ``text``, kept in ``budget``; a template that does not parse
    fails the same way again (a block's, in each instance) without being parsed again."""
    parts = budget.templates.get(text)
    if parts is None:
        try:
            parts = _template(text)
        except ExprError as err:
            parts = err
        budget.templates[text] = parts
    if isinstance(parts, ExprError):
        raise parts.copy()
    return parts


def render(text: str, env: Mapping[str, Any], budget: Budget | None = None) -> Any:
    """One string: ``"${expr}"`` -> the value; ``"a${x}b"`` -> text; ``$${`` -> ``${``.

    >>> render("${n * 2}", {"n": 4}), render("n=${n} ${[n, true]}", {"n": 4})
    (8, 'n=4 [4, true]')

    ``budget`` is the spec's (:class:`Budget`); a fresh one when not given.
    """
    if "${" not in text:
        return text
    if budget is None:
        budget = Budget()
    parts = _parsed(budget, text)
    evaluator = _Evaluator(env, budget)

    def value_of(piece: _Piece, as_text: bool) -> Any:
        try:
            value = evaluator.eval(piece.expression.tree)
            if not as_text:
                return copy_value(value, budget, 0)
            if isinstance(value, str):
                return value
            # Written out, a value is at least as long as its size: measure it before
            # writing a list of millions.
            if _size(value, limits.MAX_STRING_CHARS + 1, budget, 0) > limits.MAX_STRING_CHARS + 1:
                raise ExprError(
                    f"the text would be longer than the limit of {limits.MAX_STRING_CHARS:,} characters",
                    0,
                )
            chunk = _text(value)
            budget.make(len(chunk), 0)
            return chunk
        except ExprError as err:
            raise err.at(text, piece.start, piece.expression.text) from None

    if len(parts) == 1 and isinstance(parts[0], _Piece):
        return value_of(parts[0], False)
    out: list[str] = []
    length = 0
    for part in parts:
        chunk = part if isinstance(part, str) else value_of(part, True)
        length += len(chunk)
        if length > limits.MAX_STRING_CHARS:
            err = ExprError(
                f"the text would be longer than the limit of {limits.MAX_STRING_CHARS:,} characters",
                0,
            )
            if isinstance(part, _Piece):
                raise err.at(text, part.start, part.expression.text)
            raise err.at(text, 0, text)
        out.append(chunk)
    return "".join(out)


def substitute(
    value: Any, env: Mapping[str, Any], *, where: Sequence[Any] = (), budget: Budget | None = None
) -> Any:
    """``value`` with every template string rendered (:func:`render`), as new plain data.

    Walks mappings (their values, not their keys) and lists. ``where`` is the JSON path
    of ``value`` in the document; an :class:`ExprError` carries the full path of the
    string it came from in ``.path``. ``budget`` is the spec's (:class:`Budget`),
    shared by every call for one spec; a fresh one when not given.

    >>> substitute({"units": "${w}", "sizes": ["${w // 2}", 3]}, {"w": 64}, where=("vars",))
    {'units': 64, 'sizes': [32, 3]}
    """
    path = list(where)
    if budget is None:
        budget = Budget()

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            if "${" not in v:
                return v
            try:
                return render(v, env, budget)
            except ExprError as err:
                err.path = tuple(path)
                raise
        if isinstance(v, Mapping):
            out = {}
            for k, item in v.items():
                path.append(k)
                out[k] = walk(item)
                path.pop()
            return out
        if isinstance(v, (list, tuple)):
            items = []
            for i, item in enumerate(v):
                path.append(i)
                items.append(walk(item))
                path.pop()
            return items
        return v

    return walk(value)


def references(value: Any) -> frozenset[str]:
    """The names every template in ``value`` (plain data) reads; :class:`ExprError` if
    one does not parse. For ordering variables that use each other."""
    names: set[str] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "${" in v:
                for part in _template(v):
                    if isinstance(part, _Piece):
                        names |= part.expression.names
        elif isinstance(v, Mapping):
            stack += v.values()
        elif isinstance(v, (list, tuple)):
            stack += v
    return frozenset(names)
