"""The limits of the expression language, and the :class:`Budget` of one spec.

The limits keep every evaluation small and fast: the text of one expression, the
nesting depth, the size of ints, and the size of every string and list an expression
builds. One expression is small, but a spec has many, and each may read what the
others made (``vars`` that double a list through each other, a block repeated
thousands of times): a :class:`Budget` shared by every evaluation of one spec bounds
what they make and do together.

The other modules of the language read each limit here when they check it, so a
caller may raise one by setting it (SECURITY.md lists them).
"""

from __future__ import annotations

from typing import Any

from modelspec.compose.errors import ExprError

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
# built from blocks (expand.MAX_EXPANDED) makes about a million.
MAX_TOTAL_SIZE = 4_000_000
CONTAINER_SIZE = 8
# Evaluation steps of all the evaluations of one spec: one per expression node
# evaluated, and one per item that comparing, measuring or writing a value walks.
MAX_STEPS = 1_000_000
# The hint of every error about an int out of range.
INT_HINT = f"ints are limited to +-{MAX_INT:,} (2**63 - 1)"


class Budget:
    """What the evaluations of one spec may still make and do, shared by all of them.

    ``size`` counts down from :data:`MAX_TOTAL_SIZE` (list items and string characters
    made, copies included), ``steps`` from :data:`MAX_STEPS`; going below zero is an
    :class:`ExprError` (MS728, MS729) at the place that went over. The limits are read
    when the budget is made, so a caller may raise them first. The budget also keeps
    the templates it has parsed, so a block's templates are parsed once however many
    times the block is instantiated (:func:`modelspec.compose.template.render`).

    >>> from modelspec.compose.template import render
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
        self.templates: dict[str, Any] = {}  # text -> its parts, or its ExprError

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
