"""The plain values expressions work on: their kinds, how a message and a template
write them, and how they are measured, copied and compared within a spec's
:class:`~modelspec.compose.limits.Budget`.

A value is null, a bool, an int, a float, a string, a list or a mapping. A bool is
never a number here (``true + 1`` is an error), so the kind of a value is
:func:`_kind`'s, not Python's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelspec.compose import limits
from modelspec.compose.errors import ExprError
from modelspec.compose.limits import Budget


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
    ``budget`` (MS728 at ``col`` past the limit; see
    :data:`~modelspec.compose.limits.MAX_TOTAL_SIZE` for what counts), and no deeper
    than :data:`~modelspec.compose.limits.MAX_DEPTH` (MS702): values that expressions and
    vars build from each other could nest as deep as they like otherwise. A list or
    mapping is paid for, the values in it counted, before it is copied."""

    def copy(v: Any, depth: int) -> Any:
        if depth >= limits.MAX_DEPTH:
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
                    budget.size -= limits.CONTAINER_SIZE - 1
                    if not x:  # an empty one, without a call
                        x = {} if t is dict or (t is not list and isinstance(x, Mapping)) else []
                    else:
                        x = copy(x, depth + 1)
                out.append(x)
            if budget.size < 0:
                raise budget.too_large(col)
        return dict(zip(v, out)) if mapping else out

    if type(value) in _CONTAINERS or isinstance(value, Mapping):
        budget.size -= limits.CONTAINER_SIZE
        return copy(value, 0)
    budget.size -= 1 + (len(value) if type(value) is str else 0)
    if budget.size < 0:
        raise budget.too_large(col)
    return value


def _too_deep(col: int) -> ExprError:
    return ExprError(
        f"the value nests deeper than {limits.MAX_DEPTH} levels",
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
