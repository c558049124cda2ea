"""The evaluator: the value of a parsed expression's tree, with the names bound to plain
values (``vars:`` and block parameters), within a spec's
:class:`~modelspec.compose.limits.Budget`.

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
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from modelspec.compose import limits
from modelspec.compose.errors import ExprError
from modelspec.compose.limits import Budget
from modelspec.compose.tree import _LBP, Chain, Compare, Cond, Const, Index, ListOf, Name, Unary
from modelspec.compose.values import (
    _PLAIN,
    _PLAIN_KINDS,
    _equal,
    _is_number,
    _kind,
    _literal,
    _short,
    _size,
    describe,
)
from modelspec.errors import did_you_mean

# Names other languages use for the keywords, with what to write here.
_SPELLINGS = {"True": "true", "False": "false", "None": "null", "nil": "null"}


def _node_col(node: Any) -> int:
    while type(node) is Chain:
        node = node.first
    return node.col


class _Evaluator:
    """Walks a tree with the names in ``env``, spending ``budget``."""

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
        if abs(value) > limits.MAX_INT:
            raise ExprError(
                f"the integer result {_short(str(value))} is out of range", col, limits.INT_HINT
            )
    elif not math.isfinite(value):
        raise ExprError("the float result is too large", col, "floats go up to about 1.8e308")
    return value


def _string_fits(length: int, col: int) -> None:
    """Checked before the string is built, so the check costs nothing."""
    if length > limits.MAX_STRING_CHARS:
        raise ExprError(
            f"the string would be {length:,} characters long, "
            f"more than the limit of {limits.MAX_STRING_CHARS:,}",
            col,
        )


def _list_fits(size: int, col: int) -> None:
    if size > limits.MAX_LIST_SIZE:
        raise ExprError(
            f"the list would be larger than the limit of {limits.MAX_LIST_SIZE:,} "
            "(items and string characters, counted through nested lists)",
            col,
        )


def _check_list(value: list[Any], col: int, budget: Budget) -> list[Any]:
    _list_fits(_size(value, limits.MAX_LIST_SIZE, budget, col), col)
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
    _list_fits((_size(seq, limits.MAX_LIST_SIZE, budget, op_col) - 1) * count + 1, op_col)
    budget.make(len(seq) * count, op_col)
    return list(seq) * count


def _arithmetic(op: str, a: Any, b: Any, col: int, budget: Budget) -> Any:
    if type(a) is int and type(b) is int and op in ("+", "-"):  # the common case, quickly
        value = a + b if op == "+" else a - b
        if -limits.MAX_INT <= value <= limits.MAX_INT:
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
            raise ExprError(
                f"no key {_literal(_short(index))} in the mapping", col, did_you_mean(index, keys)
            )
        return target[index]
    raise ExprError(
        f"cannot index {describe(target)}", col, "only lists, strings and mappings have items"
    )
