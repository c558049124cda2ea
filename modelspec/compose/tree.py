"""The tree of a parsed expression: its nodes, and a walk over them.

Nodes keep the column of what an error should point at: the operator, the name, the
bracket. A run of operators of one level (``a + b - c``) is one :class:`Chain`,
evaluated in a loop, so a long sum is a wide tree rather than a deep one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


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


# Binding powers: how tightly an infix operator holds its left operand. A Chain's
# ``level`` is its operators'; the parser reads the table, and the evaluator too.
_LBP = {"if": 1, "or": 2, "and": 3}
_LBP.update(dict.fromkeys(("==", "!=", "<", "<=", ">", ">="), 5))
_LBP.update({"+": 6, "-": 6, "*": 7, "/": 7, "//": 7, "%": 7, "[": 9})


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
