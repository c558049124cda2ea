"""Expressions in specs: ``units: ${width * 2}``, ``name: "block_${i}"``.

A small language that modelspec evaluates itself, on plain values (numbers, strings,
booleans, null, lists, mappings) and names bound to plain values (``vars:`` and block
parameters). Nothing in it reaches Python's ``eval``, ``exec``, ``compile`` or ``ast``:
the text is tokenized and parsed here, and the tree is walked here.

Example::

    >>> evaluate("width * 2 + 1", {"width": 32})
    65
    >>> substitute({"units": "${width * 2}", "name": "fc_${i}"}, {"width": 32, "i": 3})
    {'units': 64, 'name': 'fc_3'}

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

``INT`` is decimal with no leading zero; ``FLOAT`` is ``1.5``, ``.5``, ``2.`` or
``1e-3``; ``STRING`` is single- or double-quoted, with the escapes ``\\\\ \\' \\" \\n \\t
\\r``; ``NAME`` is ASCII letters, digits and ``_``, not starting with a digit.

Semantics, as Python's where it has one, with these differences:

- booleans are not numbers: ``true + 1`` is an error (Python says 2);
- ``and``, ``or``, ``not`` and ``if`` take booleans only, and give booleans;
- ``==`` and ``!=`` compare values of one type (ints and floats together); ``null``
  compares with anything. Other mixes are an error, since ``units == "64"`` is a bug,
  not ``false``. Inside lists, items of different types are simply unequal;
- ``<``, ``<=``, ``>``, ``>=`` order two numbers or two strings;
- comparisons do not chain: ``a < b < c`` is an error;
- ``/`` always gives a float; ``//`` and ``%`` of two ints give an int; dividing by
  zero is an error;
- ``+`` adds numbers, or joins two strings or two lists; ``*`` repeats a string or a
  list by an int, as in Python;
- indexing: ``xs[i]`` on lists and strings (negative ``i`` counts from the end) and
  ``m["key"]`` on mappings. There are no calls, attributes or slices.

Limits (the named constants below) keep every evaluation small and fast: the text
of one expression, the nesting depth, the size of ints, and the size of every string
and list an expression builds. One expression is small, but a spec has many, and
each may read what the others made (``vars`` that double a list through each other, a
block repeated thousands of times): a :class:`Budget` shared by every evaluation of
one spec bounds what they make and do together.

Templates: a string that is exactly ``"${expr}"`` becomes the value of the expression,
with its type; a string with ``${...}`` among other text gets each value written in
as text (``true``, ``null``, ``0.5``, ``[1, "a"]``). The first ``}`` outside a string
literal ends the expression, and ``$${`` is a literal ``${``. :func:`substitute`
applies this to every string in plain data, in mapping values but not keys.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelspec.errors import did_you_mean

# NOTE: [why not a library]
# simpleeval and asteval (both on PyPI) parse the text with Python's own `ast.parse`:
# that is Python's grammar (attributes, calls, `True + 1 == 2`), a compile step of
# untrusted text, and a history of sandbox escapes to patch. lark or pyparsing would
# give a parser but not the rest: we need exact columns for every error, tight limits
# on sizes and depth, and semantics of our own (`true + 1` is an error). The
# language is small enough that a hand-written tokenizer and a Pratt parser are the
# shorter road, and they contain nothing that can run code.

# --- limits -----------------------------------------------------------------------------------

MAX_EXPR_CHARS = 1_000  # characters in one expression (the text between `${` and `}`)
MAX_DEPTH = 64  # nesting: brackets, and operators inside operators
MAX_INT = 2**63 - 1  # every int, literal or result, is within +-MAX_INT (Keras's int64)
MAX_STRING_CHARS = 100_000  # characters in a string an expression builds
# Size of a list an expression builds: its items, counted through nested lists and
# mappings, plus the characters of the strings in it.
MAX_LIST_SIZE = 100_000
# What all the evaluations of one spec (a Budget) make together, in every value an
# expression builds or gives and every copy of one: each value counts one (a number,
# a list item, a mapping's value), a string its characters too, and a list or mapping
# CONTAINER_SIZE, what copying one costs against an item. A 749-byte spec of vars
# that each held four copies of the one before grew past 4 GB. A 30,000-layer spec
# built from blocks (compose.MAX_EXPANDED) makes about a million.
MAX_TOTAL_SIZE = 4_000_000
CONTAINER_SIZE = 8
# Evaluation steps of all the evaluations of one spec: one per expression node
# evaluated, and one per item that comparing, measuring or writing a value walks.
MAX_STEPS = 1_000_000


class ExprError(Exception):
    """An expression that does not parse or cannot be evaluated, and where.

    ``column`` is the 0-based position of the problem in ``expression`` (the text of
    the one expression); ``offset`` is its 0-based position in ``text``, the whole
    string the expression came from (for a bare expression the two are the same);
    ``path`` is the JSON path of that string when :func:`substitute` found it.
    :func:`locate` turns ``offset`` into a line and column in the spec file.
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
            self.offset, self.expression, self.text, self.path
        )  # fmt: skip
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


class Budget:
    """What the evaluations of one spec may still make and do, shared by all of them.

    ``size`` counts down from :data:`MAX_TOTAL_SIZE` (list items and string characters
    made, copies included), ``steps`` from :data:`MAX_STEPS`; going below zero is an
    :class:`ExprError` (MS728, MS729) at the place that went over. The limits are read
    when the budget is made, so a caller may raise them first. The budget also keeps
    the templates it has parsed, so a block's templates are parsed once however many
    times the block is instantiated.

    >>> budget = Budget()
    >>> render("${[0] * 3}", {}, budget)
    [0, 0, 0]
    >>> MAX_TOTAL_SIZE - budget.size  # [0] and [0, 0, 0] made, then copied: 1 + 3 + (8 + 3)
    15
    """

    __slots__ = ("size", "steps", "templates")

    def __init__(self) -> None:
        self.size = MAX_TOTAL_SIZE
        self.steps = MAX_STEPS
        self.templates: dict[str, tuple[str | _Piece, ...]] = {}

    def make(self, n: int, col: int) -> None:
        """Spend ``n`` on values made; MS728 past the limit."""
        self.size -= n
        if self.size < 0:
            raise self.too_large(col)

    def work(self, n: int, col: int) -> None:
        """Spend ``n`` steps; MS729 past the limit."""
        self.steps -= n
        if self.steps < 0:
            raise self.too_long(col)

    @staticmethod
    def too_large(col: int) -> ExprError:
        return ExprError(
            f"the spec's expressions and blocks make values of more than {MAX_TOTAL_SIZE:,} "
            f"in all (each item and character counts 1, each list or mapping {CONTAINER_SIZE})",
            col,
            "a large value is copied into many places (a var or a parameter used by "
            "every instance of a block, vars built from each other); make it smaller",
            code="MS728",
        )

    @staticmethod
    def too_long(col: int) -> ExprError:
        return ExprError(
            f"the spec's expressions take more than {MAX_STEPS:,} steps to evaluate in all",
            col,
            "large values are compared, indexed or written into text many times; "
            "make them smaller, or compute them once in a var",
            code="MS729",
        )

    def template(self, text: str) -> tuple[str | _Piece, ...]:
        """The parsed template ``text``; a template that does not parse fails the same
        way again (a block's, in each instance) without being parsed again."""
        parts = self.templates.get(text)
        if parts is None:
            try:
                parts = _template(text)
            except ExprError as err:
                parts = err
            self.templates[text] = parts
        if isinstance(parts, ExprError):
            raise parts.copy()
        return parts


# --- tokens -----------------------------------------------------------------------------------

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
    limit = start + MAX_EXPR_CHARS
    i = start

    def fail(message: str, at: int, hint: str | None = None) -> ExprError:
        return ExprError(message, at - start, hint)

    while True:
        while i < n and text[i] in _SPACE:
            i += 1
        if i > limit:  # a template's expression runs on: a bare one was measured whole
            raise fail(
                f"the expression is longer than {MAX_EXPR_CHARS:,} characters",
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
    if j - start > MAX_EXPR_CHARS:  # before int(), which refuses 4,300 digits and more
        raise ExprError(
            f"the expression is longer than {MAX_EXPR_CHARS:,} characters",
            MAX_EXPR_CHARS,
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
    if value > MAX_INT:
        raise ExprError(f"the integer {_short(literal)} is out of range", col, _INT_HINT)
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
                    f"the expression is longer than {MAX_EXPR_CHARS:,} characters",
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


# --- the tree ---------------------------------------------------------------------------------
# Nodes keep the column of what an error should point at: the operator, the name, the
# bracket. A run of operators of one level (``a + b - c``) is one ``Chain``, evaluated
# in a loop, so a long sum is a wide tree rather than a deep one.


@dataclass(frozen=True, slots=True)
class Const:
    value: Any
    col: int


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    col: int


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Any, ...]
    col: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-", "+" or "not"
    operand: Any
    col: int


@dataclass(frozen=True, slots=True)
class Chain:
    """``first op1 x1 op2 x2 ...``, left to right; ``rest`` holds (op, col, node)."""

    level: int
    first: Any
    rest: tuple[tuple[str, int, Any], ...]


@dataclass(frozen=True, slots=True)
class Compare:
    left: Any
    op: str
    col: int
    right: Any


@dataclass(frozen=True, slots=True)
class Index:
    target: Any
    index: Any
    col: int


@dataclass(frozen=True, slots=True)
class Cond:
    then: Any
    test: Any
    other: Any
    col: int


# Binding powers: how tightly an infix operator holds its left operand.
_LBP = {"if": 1, "or": 2, "and": 3}
_LBP.update(dict.fromkeys(("==", "!=", "<", "<=", ">", ">="), 5))
_LBP.update({"+": 6, "-": 6, "*": 7, "/": 7, "//": 7, "%": 7, "[": 9})
_NOT_BP, _UNARY_BP = 4, 8
_COMPARISONS = frozenset(("==", "!=", "<", "<=", ">", ">="))
_SPELLINGS = {"True": "true", "False": "false", "None": "null", "nil": "null"}


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
        if self.depth > MAX_DEPTH:
            raise ExprError(
                f"the expression nests deeper than {MAX_DEPTH} levels",
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


def _walk(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ListOf):
            stack += node.items
        elif isinstance(node, Unary):
            stack.append(node.operand)
        elif isinstance(node, Chain):
            stack += [node.first, *(n for _, _, n in node.rest)]
        elif isinstance(node, (Compare,)):
            stack += [node.left, node.right]
        elif isinstance(node, Index):
            stack += [node.target, node.index]
        elif isinstance(node, Cond):
            stack += [node.then, node.test, node.other]


@functools.lru_cache(maxsize=1024)
def parse(text: str) -> Expression:
    """Parse one expression (the text inside ``${...}``); :class:`ExprError` if it is bad."""
    if not isinstance(text, str):
        raise TypeError("an expression is a string")
    try:
        if len(text) > MAX_EXPR_CHARS:
            raise ExprError(
                f"the expression is longer than {MAX_EXPR_CHARS:,} characters",
                MAX_EXPR_CHARS,
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


# --- values -----------------------------------------------------------------------------------

_INT_HINT = f"ints are limited to +-{MAX_INT:,} (2**63 - 1)"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "mapping"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(value: Any) -> str:
    """``int 3``, ``string "abc"``, ``list of 2 items``: a value for a message."""
    kind = _kind(value)
    if kind == "list":
        return f"list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if kind == "mapping":
        return f"mapping of {len(value)} key{'s' if len(value) != 1 else ''}"
    if kind == "string":
        return f"string {_literal(_short(value))}"
    if kind in ("int", "float", "bool"):
        return f"{kind} {_short(_text(value))}"
    return kind


def _literal(text: str) -> str:
    """A string as the language writes it: double quotes, escapes where needed."""
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + out.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r") + '"'


def _text(value: Any) -> str:
    """A value written into a template: strings as they are, the rest as literals."""
    if isinstance(value, str):
        return value
    return _repr(value)


def _repr(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _literal(value)
    if isinstance(value, (list, tuple)):
        if set(map(type, value)) <= _NUMBERS:  # written as Python writes them, at C speed
            return "[" + ", ".join(map(repr, value)) + "]"
        return "[" + ", ".join(_repr(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_repr(k)}: {_repr(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _size(value: Any, limit: int, budget: Budget | None = None, col: int = 0) -> int:
    """Items plus string characters in ``value``, counted until past ``limit``; each
    item walked is a step of ``budget``."""
    total = walked = 0
    stack = [value]
    while stack and total <= limit:
        v = stack.pop()
        total += 1
        walked += 1
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, (list, tuple)):
            stack += v
        elif isinstance(v, Mapping):
            for k, item in v.items():
                stack += (k, item)
    if budget is not None:
        budget.work(walked, col)
    return total


def value_size(value: Any, limit: int) -> int:
    """Items plus string characters in ``value`` (plain data), counted until past ``limit``."""
    return _size(value, limit)


_SCALARS = frozenset({int, float, bool, type(None)})
_NUMBERS = frozenset({int, float})
_FLAT = frozenset({int, float, str, type(None)})
_PLAIN = frozenset({int, float, bool, str, list, dict, type(None)})
_PLAIN_KINDS = frozenset({"null", "bool", "int", "float", "string", "list", "mapping"})
_CONTAINERS = (list, tuple, dict)


def copy_value(value: Any, budget: Budget, col: int) -> Any:
    """A fresh copy of the plain value ``value`` (lists and mappings new), within
    ``budget`` (MS728 at ``col`` past the limit; see :data:`MAX_TOTAL_SIZE` for what
    counts), and no deeper than :data:`MAX_DEPTH` (MS702): values that expressions and
    vars build from each other could nest as deep as they like otherwise. A list or
    mapping is paid for, the values in it counted, before it is copied."""

    def copy(v: Any, depth: int) -> Any:
        if depth >= MAX_DEPTH:
            raise _too_deep(col)
        budget.size -= len(v)
        if budget.size < 0:
            raise budget.too_large(col)
        mapping = type(v) is dict or (type(v) not in _CONTAINERS and isinstance(v, Mapping))
        items = list(v.values()) if mapping else v
        kinds = set(map(type, items))
        if kinds <= _SCALARS:  # the common case, copied at C speed
            out = list(items)
        else:
            out = []
            for x in items:
                t = type(x)
                if t is str:
                    budget.size -= len(x)
                elif t in _CONTAINERS or (t not in _SCALARS and isinstance(x, (list, Mapping))):
                    budget.size -= CONTAINER_SIZE - 1
                    if not x:  # an empty one, without a call
                        x = {} if t is dict or (t is not list and isinstance(x, Mapping)) else []
                    else:
                        x = copy(x, depth + 1)
                out.append(x)
            if budget.size < 0:
                raise budget.too_large(col)
        return dict(zip(v, out)) if mapping else out

    if type(value) in _CONTAINERS or isinstance(value, Mapping):
        budget.size -= CONTAINER_SIZE
        return copy(value, 0)
    budget.size -= 1 + (len(value) if type(value) is str else 0)
    if budget.size < 0:
        raise budget.too_large(col)
    return value


def _too_deep(col: int) -> ExprError:
    return ExprError(
        f"the value nests deeper than {MAX_DEPTH} levels",
        col,
        "a var or a parameter holds lists inside lists, built from each other",
    )


def _equal(a: Any, b: Any, budget: Budget, col: int) -> bool:
    """Equality of two values, where a bool is never a number; each item compared is
    a step of ``budget``."""
    budget.steps -= 1
    if budget.steps < 0:
        raise budget.too_long(col)
    if _is_number(a) and _is_number(b):
        return a == b
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    if ka == "list":
        if len(a) != len(b):
            return False
        if set(map(type, a)) | set(map(type, b)) <= _FLAT:
            # Numbers, strings and nulls compare as Python compares them (no bool to
            # mistake for a number): at C speed, a step per item still.
            budget.work(len(a), col)
            return list(a) == list(b)
        return all(_equal(x, y, budget, col) for x, y in zip(a, b))
    if ka == "mapping":
        return a.keys() == b.keys() and all(_equal(a[k], b[k], budget, col) for k in a)
    if ka == "string":
        budget.work(min(len(a), len(b)) // 64, col)
    return a == b


def _node_col(node: Any) -> int:
    while type(node) is Chain:
        node = node.first
    return node.col


class _Evaluator:
    def __init__(self, env: Mapping[str, Any], budget: Budget):
        self.env = env
        self.budget = budget

    def eval(self, node: Any) -> Any:
        budget = self.budget
        budget.steps -= 1
        if budget.steps < 0:
            raise budget.too_long(_node_col(node))
        kind = type(node)
        if kind is Const:
            return node.value
        if kind is Name:
            return self.name(node)
        if kind is Chain:
            value = self.eval(node.first)
            if node.level <= _LBP["and"]:
                return self.boolean(node, value)
            for op, col, right in node.rest:
                value = _arithmetic(op, value, self.eval(right), col, budget)
            return value
        if kind is Compare:
            left, right = self.eval(node.left), self.eval(node.right)
            return _compare(node.op, left, right, node.col, budget)
        if kind is Unary:
            return _unary(node.op, self.eval(node.operand), node.col)
        if kind is ListOf:
            items = [self.eval(item) for item in node.items]
            budget.make(len(items), node.col)
            _check_list(items, node.col, budget)
            return items
        if kind is Index:
            # ``xs[0][1]...`` nests to the left, one level per bracket, and brackets
            # are not nesting in the parser's count: walk it in a loop, in order.
            chain = []
            while type(node) is Index:
                chain.append(node)
                node = node.target
            value = self.eval(node)
            for link in reversed(chain):
                value = _index(value, self.eval(link.index), link.col)
            return value
        if kind is Cond:
            test = self.eval(node.test)
            _need_bool("if", test, node.col)
            return self.eval(node.then if test else node.other)
        raise AssertionError(node)

    def name(self, node: Name) -> Any:
        if node.name not in self.env:
            hint = None
            if node.name in _SPELLINGS:
                hint = f"write `{_SPELLINGS[node.name]}`"
            else:
                hint = did_you_mean(node.name, [str(k) for k in self.env])
            raise ExprError(f"unknown name '{node.name}'", node.col, hint)
        value = self.env[node.name]
        if type(value) not in _PLAIN and _kind(value) not in _PLAIN_KINDS:
            raise ExprError(
                f"'{node.name}' holds a {type(value).__name__}, which expressions cannot use",
                node.col,
            )
        return value

    def boolean(self, node: Chain, value: Any) -> bool:
        """``and``/``or``, left to right, stopping as soon as the answer is known."""
        op, col, _ = node.rest[0]
        _need_bool(op, value, col)
        for op, col, right in node.rest:
            if value is (op == "or"):
                return value
            value = self.eval(right)
            _need_bool(op, value, col)
        return value


def _need_bool(op: str, value: Any, col: int) -> None:
    if not isinstance(value, bool):
        raise ExprError(
            f"`{op}` needs true or false, not {describe(value)}",
            col,
            'compare explicitly, e.g. `n > 0` or `name != ""`',
        )


def _number(value: Any, col: int) -> Any:
    """An arithmetic result, checked against the limits."""
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ExprError(f"the integer result {_short(str(value))} is out of range",
                            col, _INT_HINT)  # fmt: skip
    elif not math.isfinite(value):
        raise ExprError("the float result is too large", col, "floats go up to about 1.8e308")
    return value


def _string_fits(length: int, col: int) -> None:
    """Checked before the string is built, so the check costs nothing."""
    if length > MAX_STRING_CHARS:
        raise ExprError(
            f"the string would be {length:,} characters long, "
            f"more than the limit of {MAX_STRING_CHARS:,}",
            col,
        )


def _list_fits(size: int, col: int) -> None:
    if size > MAX_LIST_SIZE:
        raise ExprError(
            f"the list would be larger than the limit of {MAX_LIST_SIZE:,} "
            "(items and string characters, counted through nested lists)",
            col,
        )


def _check_list(value: list[Any], col: int, budget: Budget) -> list[Any]:
    _list_fits(_size(value, MAX_LIST_SIZE, budget, col), col)
    return value


def _repeat(seq: Any, count: Any, op_col: int, budget: Budget) -> Any:
    if not isinstance(count, int) or isinstance(count, bool):
        raise ExprError(f"`*` repeats a {_kind(seq)} by an int, not {describe(count)}", op_col)
    if count <= 0 or not seq:
        return "" if isinstance(seq, str) else []
    if isinstance(seq, str):
        _string_fits(len(seq) * count, op_col)
        budget.make(len(seq) * count, op_col)
        return seq * count
    # The list itself counts 1 in its size; only its contents are repeated.
    _list_fits((_size(seq, MAX_LIST_SIZE, budget, op_col) - 1) * count + 1, op_col)
    budget.make(len(seq) * count, op_col)
    return list(seq) * count


def _arithmetic(op: str, a: Any, b: Any, col: int, budget: Budget) -> Any:
    if type(a) is int and type(b) is int and op in ("+", "-"):  # the common case, quickly
        value = a + b if op == "+" else a - b
        if -MAX_INT <= value <= MAX_INT:
            return value
    if _is_number(a) and _is_number(b):
        if op in ("/", "//", "%") and b == 0:
            what = {"/": "division", "//": "integer division", "%": "modulo"}[op]
            raise ExprError(f"{what} by zero", col)
        if op == "+":
            return _number(a + b, col)
        if op == "-":
            return _number(a - b, col)
        if op == "*":
            return _number(a * b, col)
        if op == "/":
            return _number(a / b, col)
        if op == "//":
            return _number(a // b, col)
        return _number(a % b, col)
    ka, kb = _kind(a), _kind(b)
    if op == "+" and ka == kb == "string":
        _string_fits(len(a) + len(b), col)
        budget.make(len(a) + len(b), col)
        return a + b
    if op == "+" and ka == kb == "list":
        budget.make(len(a) + len(b), col)
        return _check_list([*a, *b], col, budget)
    if op == "*" and ka in ("string", "list"):
        return _repeat(a, b, col, budget)
    if op == "*" and kb in ("string", "list") and ka != "bool":
        return _repeat(b, a, col, budget)
    hint = None
    if "bool" in (ka, kb):
        hint = "booleans are not numbers; write `1 if flag else 0`"
    elif "string" in (ka, kb) and op == "+":
        hint = 'to build text, write the string around the value: "fc_${i}"'
    elif "null" in (ka, kb):
        hint = "a value is null"
    raise ExprError(f"`{op}` cannot combine {describe(a)} and {describe(b)}", col, hint)


def _unary(op: str, value: Any, col: int) -> Any:
    if op == "not":
        _need_bool("not", value, col)
        return not value
    if not _is_number(value):
        hint = "booleans are not numbers" if isinstance(value, bool) else None
        raise ExprError(f"unary `{op}` needs a number, not {describe(value)}", col, hint)
    return _number(-value if op == "-" else value, col)


def _compare(op: str, a: Any, b: Any, col: int, budget: Budget) -> bool:
    if op in ("==", "!="):
        if a is None or b is None or _is_number(a) and _is_number(b) or _kind(a) == _kind(b):
            return _equal(a, b, budget, col) == (op == "==")
        raise ExprError(
            f"`{op}` compares values of one type, not {describe(a)} and {describe(b)}",
            col,
            "types never convert by themselves: compare with a value of the same type",
        )
    if not (_is_number(a) and _is_number(b) or isinstance(a, str) and isinstance(b, str)):
        raise ExprError(
            f"`{op}` orders two numbers or two strings, not {describe(a)} and {describe(b)}",
            col,
        )
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def _index(target: Any, index: Any, col: int) -> Any:
    kind = _kind(target)
    if kind in ("list", "string"):
        if not isinstance(index, int) or isinstance(index, bool):
            raise ExprError(f"a {kind} is indexed by an int, not {describe(index)}", col)
        if not -len(target) <= index < len(target):
            last = len(target) - 1
            hint = f"indexes run from 0 to {last}, or -1 down to {-len(target)}" if target else None
            raise ExprError(f"index {index} is out of range for a {describe(target)}", col, hint)
        return target[index]
    if kind == "mapping":
        if not isinstance(index, str):
            raise ExprError(f"a mapping is indexed by a string, not {describe(index)}", col)
        if index not in target:
            keys = [k for k in target if isinstance(k, str)]
            raise ExprError(f"no key {_literal(_short(index))} in the mapping", col,
                            did_you_mean(index, keys))  # fmt: skip
        return target[index]
    raise ExprError(
        f"cannot index {describe(target)}", col, "only lists, strings and mappings have items"
    )


# --- templates --------------------------------------------------------------------------------


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
    parts = budget.template(text)
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
            if _size(value, MAX_STRING_CHARS + 1, budget, 0) > MAX_STRING_CHARS + 1:
                raise ExprError(
                    f"the text would be longer than the limit of {MAX_STRING_CHARS:,} characters",
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
        if length > MAX_STRING_CHARS:
            err = ExprError(
                f"the text would be longer than the limit of {MAX_STRING_CHARS:,} characters",
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


# --- where in the file ------------------------------------------------------------------------


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
