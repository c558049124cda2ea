"""Expressions in specs: ``units: ${width * 2}``, ``name: "block_${i}"``.

A small language that modelspec evaluates itself, on plain values (numbers, strings,
booleans, null, lists, mappings) and names bound to plain values (``vars:`` and block
parameters). Nothing in it reaches Python's ``eval``, ``exec``, ``compile`` or ``ast``:
the text is tokenized, parsed and walked by the modules beside this one, in order:

- :mod:`~modelspec.compose.lexer`: text -> tokens;
- this module: tokens -> a tree (:mod:`~modelspec.compose.tree`), by a Pratt parser;
  :func:`parse` and :func:`evaluate` are the way in;
- :mod:`~modelspec.compose.evaluate`: a tree and the names -> a value
  (:mod:`~modelspec.compose.values`);
- :mod:`~modelspec.compose.template`: strings with ``${...}`` inside, and the
  ``${...}`` in plain data;
- :mod:`~modelspec.compose.locate`: where in the spec file an error's character is.

Each raises :class:`~modelspec.compose.errors.ExprError`, and keeps the limits in
:mod:`~modelspec.compose.limits`.

Example::

    >>> evaluate("width * 2 + 1", {"width": 32})
    65

Grammar, from the loosest binding to the tightest::

    expr    := or ["if" or "else" expr]
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum [("==" | "!=" | "<" | "<=" | ">" | ">=") sum]     (no chains)
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/" | "//" | "%") unary)*
    unary   := ("-" | "+") unary | postfix
    postfix := atom ("[" expr "]")*
    atom    := INT | FLOAT | STRING | "true" | "false" | "null" | NAME
             | "(" expr ")" | "[" [expr ("," expr)* [","]] "]"

``INT``, ``FLOAT``, ``STRING`` and ``NAME`` are :mod:`~modelspec.compose.lexer`'s tokens.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelspec.compose import limits
from modelspec.compose.errors import ExprError
from modelspec.compose.evaluate import _Evaluator
from modelspec.compose.lexer import Token, _tokenize
from modelspec.compose.limits import Budget
from modelspec.compose.tree import (
    _LBP,
    Chain,
    Compare,
    Cond,
    Const,
    Index,
    ListOf,
    Name,
    Unary,
    _walk,
)
from modelspec.compose.values import _literal, _short, copy_value

# NOTE: [why not a library]
# simpleeval and asteval (both on PyPI) parse the text with Python's own `ast.parse`:
# that is Python's grammar (attributes, calls, `True + 1 == 2`), a compile step of
# untrusted text, and a history of sandbox escapes to patch. lark or pyparsing would
# give a parser but not the rest: we need exact columns for every error, tight limits
# on sizes and depth, and semantics of our own (`true + 1` is an error). The
# language is small enough that a hand-written tokenizer and a Pratt parser are the
# shorter road, and they contain nothing that can run code.

# How tightly `not` and a sign hold their operand (tree._LBP has the infix operators).
_NOT_BP, _UNARY_BP = 4, 8
_COMPARISONS = frozenset(("==", "!=", "<", "<=", ">", ">="))


class _Parser:
    """A Pratt parser: ``expression(rbp)`` reads an atom or prefix operator, then every
    infix operator that binds more tightly than ``rbp``."""

    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def next(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, kind: str, what: str) -> Token:
        token = self.next()
        if token.kind != kind:
            raise ExprError(f"expected {what}, found {_token_text(token)}", token.col)
        return token

    def parse(self) -> Any:
        node = self.expression(0)
        token = self.peek()
        if token.kind != "end":
            hint = None
            if token.kind == "(":
                hint = "there are no function calls"
            elif token.kind in ("name", "int", "float", "str"):
                hint = "an operator is missing"
            raise ExprError(f"expected an operator, found {_token_text(token)}", token.col, hint)
        return node

    def expression(self, rbp: int) -> Any:
        token = self.next()
        self.depth += 1
        if self.depth > limits.MAX_DEPTH:
            raise ExprError(
                f"the expression nests deeper than {limits.MAX_DEPTH} levels",
                token.col,
                "split it into variables",
            )
        left = self.prefix(token)
        compared = False
        while rbp < _LBP.get(self.peek().kind, 0):
            token = self.next()
            if token.kind in _COMPARISONS:
                if compared:
                    raise ExprError(
                        "comparisons do not chain",
                        token.col,
                        "write `a < b and b < c`",
                    )
                compared = True
            left = self.infix(token, left)
        self.depth -= 1
        return left

    def prefix(self, token: Token) -> Any:
        kind = token.kind
        if kind in ("int", "float", "str"):
            return Const(token.value, token.col)
        if kind in ("true", "false", "null"):
            return Const({"true": True, "false": False, "null": None}[kind], token.col)
        if kind == "name":
            return Name(token.value, token.col)
        if kind == "(":
            node = self.expression(0)
            self.expect(")", "`)`")
            return node
        if kind == "[":
            items = []
            while self.peek().kind != "]":
                items.append(self.expression(0))
                if self.peek().kind != ",":
                    break
                self.next()
            self.expect("]", "`,` or `]`")
            return ListOf(tuple(items), token.col)
        if kind in ("-", "+"):
            return Unary(kind, self.expression(_UNARY_BP), token.col)
        if kind == "not":
            return Unary("not", self.expression(_NOT_BP), token.col)
        if kind == "end":
            return self.missing(token)
        raise ExprError(f"unexpected {_token_text(token)}", token.col, _prefix_hint(kind))

    def missing(self, token: Token) -> Any:
        if self.pos == 1:  # the end is the first token
            raise ExprError("the expression is empty", token.col)
        raise ExprError("the expression ends too early", token.col, "a value is missing")

    def infix(self, token: Token, left: Any) -> Any:
        op = token.kind
        if op == "[":
            index = self.expression(0)
            self.expect("]", "`]`")
            return Index(left, index, token.col)
        if op == "if":
            test = self.expression(_LBP["if"])
            self.expect("else", "`else`")
            return Cond(left, test, self.expression(0), token.col)
        level = _LBP[op]
        right = self.expression(level)
        if op in _COMPARISONS:
            return Compare(left, op, token.col, right)
        if isinstance(left, Chain) and left.level == level:
            return Chain(level, left.first, (*left.rest, (op, token.col, right)))
        return Chain(level, left, ((op, token.col, right),))


def _token_text(token: Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    if token.kind in ("int", "float"):
        return f"the number {token.value!r}"
    if token.kind == "str":
        return f"the string {_literal(_short(token.value))}"
    if token.kind == "name":
        return f"the name '{token.value}'"
    return f"`{token.kind}`"


def _prefix_hint(kind: str) -> str | None:
    if kind in ("*", "/", "//", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or"):
        return f"`{kind}` needs a value on its left"
    return None


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed expression: evaluate it with :meth:`evaluate`."""

    text: str
    tree: Any

    @property
    def names(self) -> frozenset[str]:
        """The names it reads (variables), e.g. to order ``vars:`` by what they use."""
        return frozenset(n.name for n in _walk(self.tree) if isinstance(n, Name))

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """The value, as a new plain value (lists and mappings are fresh copies)."""
        budget = Budget()
        try:
            return copy_value(_Evaluator(env, budget).eval(self.tree), budget, 0)
        except ExprError as err:
            raise err.at(self.text, 0, self.text) from None


@functools.lru_cache(maxsize=1024)
def parse(text: str) -> Expression:
    """Parse one expression (the text inside ``${...}``); :class:`ExprError` if it is bad."""
    if not isinstance(text, str):
        raise TypeError("an expression is a string")
    try:
        if len(text) > limits.MAX_EXPR_CHARS:
            raise ExprError(
                f"the expression is longer than {limits.MAX_EXPR_CHARS:,} characters",
                limits.MAX_EXPR_CHARS,
                "split it into variables",
            )
        tokens, _ = _tokenize(text)
        return Expression(text, _Parser(tokens).parse())
    except ExprError as err:
        raise err.at(text, 0, text) from None


def evaluate(text: str, env: Mapping[str, Any]) -> Any:
    """The value of the expression ``text`` with the names in ``env``.

    >>> evaluate('[1, 2] + [depth // 2]', {"depth": 7})
    [1, 2, 3]
    """
    return parse(text).evaluate(env)
