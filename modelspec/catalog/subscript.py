"""``get_item``'s subscript, as data: ``"[:, 1:3]"`` -> ``(slice(None), slice(1, 3))``.

A subscript is parsed by hand, never evaluated: its grammar is four forms (an int, a
slice, ``...``, ``None``), and Python's own parser would accept far more than that.
The generated code writes the subscript from its parsed form (:func:`format_index`),
so no text of a spec reaches it. :func:`get_item_shape` is Keras's
``GetItem.compute_output_spec``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from modelspec.catalog.base import Shape, ShapeError

_INT = r"-?[0-9]{1,18}"
_ITEM = re.compile(rf"\s*(?:(?P<int>{_INT})|(?P<slice>(?:{_INT})?\s*:\s*(?:{_INT})?"
                   rf"(?:\s*:\s*(?:{_INT})?)?)|(?P<dots>\.\.\.)|(?P<none>None))\s*\Z")  # fmt: skip
MAX_INDEX_ITEMS = 16


class IndexError_(ValueError):
    """A subscript that is not one modelspec reads."""


Index = tuple[Any, ...]  # of int, slice, Ellipsis, None


def parse_index(text: str) -> Index:
    """``"[:, 1:3]"`` -> ``(slice(None), slice(1, 3))``; the brackets are optional."""
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    parts = body.split(",")
    if parts and not parts[-1].strip() and len(parts) > 1:
        parts = parts[:-1]  # "0," is the tuple (0,)
    if len(parts) > MAX_INDEX_ITEMS:
        raise IndexError_(f"a subscript takes at most {MAX_INDEX_ITEMS} items")
    out: list[Any] = []
    for part in parts:
        m = _ITEM.match(part)
        if m is None:
            raise IndexError_(
                f"{part.strip()!r} is not an index: write an integer, a slice "
                "(`1:3`, `::2`, `:-1`), `...` or `None`"
            )
        if m["int"] is not None:
            out.append(int(m["int"]))
        elif m["dots"]:
            out.append(Ellipsis)
        elif m["none"]:
            out.append(None)
        else:
            bounds = [b.strip() for b in m["slice"].split(":")]
            ints = [int(b) if b else None for b in bounds] + [None]
            if ints[2] == 0:
                raise IndexError_("a slice's step cannot be 0")
            out.append(slice(ints[0], ints[1], ints[2]))
    if out.count(Ellipsis) > 1:
        raise IndexError_("a subscript takes one `...` at most")
    return tuple(out)


def format_index(index: Index) -> str:
    """The subscript as Python writes it, without brackets: ``:, 1:3``."""

    def item(v: Any) -> str:
        if v is Ellipsis:
            return "..."
        if isinstance(v, slice):
            text = f"{'' if v.start is None else v.start}:{'' if v.stop is None else v.stop}"
            return text if v.step is None else f"{text}:{v.step}"
        return repr(v)

    return ", ".join(item(v) for v in index)


def get_item_shape(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    """``GetItem.compute_output_spec``: numpy's basic indexing, one axis per int or slice."""
    try:
        index = parse_index(kw["index"])
    except IndexError_ as exc:
        raise ShapeError(f"has the subscript {kw['index']!r}: {exc}", code="MS304") from None
    if len(index) == 1 and not isinstance(index[0], int):
        # Python passes `x[1:]` its lone slice bare (`x[1:, ...]` is a tuple), and
        # Keras's GetItem takes a bare int or a tuple only: a lone slice, `...` or
        # `None` fails when the model is built.
        raise ShapeError(
            f"has the subscript {kw['index']!r}: Keras takes a lone integer, but a "
            "slice, `...` or `None` only beside another index",
            code="MS304",
            hint="`[...]` is the whole tensor: leave the step out"
            if index[0] is Ellipsis
            else f"write `[{format_index(index)}, ...]`",
        )
    shape = list(shapes[0])
    if len([k for k in index if k is not None and k is not Ellipsis]) > len(shape):
        raise ShapeError(
            f"has more indices than its input {{0}} has axes: {kw['index']!r}",
            code="MS304",
            operands=(0,),
            hint="the first index is the batch axis: `[:, 0]` takes the first of axis 1",
        )
    key = list(index) if Ellipsis in index else [*index, Ellipsis]
    out: list[Any] = []
    while key:
        sub = key.pop(0)
        if sub is Ellipsis:
            keep = len(shape) - (len(key) - key.count(None))
            out += shape[:keep]
            shape = shape[keep:]
        elif sub is None:
            out.append(1)
        else:
            size = shape.pop(0)
            if isinstance(sub, slice):
                out.append(None if size is None else len(range(*sub.indices(size))))
            elif size is not None and not -size <= sub < size:
                raise ShapeError(
                    f"has the index {sub}, out of range for an axis of size {size} in {{0}}",
                    code="MS304",
                    operands=(0,),
                )
    return tuple(out)
