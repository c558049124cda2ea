"""A ``keras.ops`` call of a model -> an op step: ``{op: subtract, to: [x, 1.0]}``.

Keras records a ``keras.ops`` function called on a symbolic tensor, or a Python operator
(``x - 1.0``, ``x @ w``, ``h[:, -1]``), as an operation: a ``config.layers`` entry whose
``module`` is ``keras.src.ops.<module>`` and whose ``class_name`` is the operation's
(``Subtract``), with one inbound node holding the call's ``args``. An op of the
catalogue's set (:mod:`modelspec.catalog.ops`) becomes an op step:

- its keywords are the entry's ``config`` less ``name``, those at Keras's default left
  out, in the catalogue's order; a key the catalogue does not know is MS614, as for a
  layer, unless it holds what Keras writes for it by default (``initial: null`` of
  ``max`` and ``min``);
- ``to:`` is its operands: a tensor as a reference, a number as it is (an int stays an
  int: ``int32`` minus ``1`` is ``int32``, minus ``1.0`` is ``float32``), a scalar that
  Keras wrote as a tensor or a NumPy value (``{"class_name": "__tensor__", "config":
  {"value": 2.0, ...}}``) as its number;
- ``get_item``'s key (an int, a ``__slice__``, ``None``, an ``__ellipsis__``, or a list
  of them, which Keras reads as a tuple) becomes ``index: "[:, -1]"``.

What a spec cannot write is an error naming the op: an op outside the set (MS612, with
the nearest op's name or the reason it is left out, :data:`~modelspec.catalog.ops.REFUSED`),
a constant array or a boolean constant (MS612: ops take numbers as constants), a
subscript of anything else (MS612). ``x / y`` records ``TrueDivide``, which every Keras
backend computes as ``divide``, and is read as ``divide``.

Which ``keras.ops`` calls are read here, and which are left out (masks) or written as
layers, :mod:`.calls` decides (its notes on masks and on ops as layers).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Any

from modelspec.catalog.ops import OPS, REFUSED, OpType, type_name
from modelspec.catalog.subscript import MAX_INDEX_ITEMS, IndexError_, format_index, parse_index
from modelspec.errors import did_you_mean
from modelspec.importer import values as vals
from modelspec.importer.context import Context, LayerInfo, Node, history, is_tensor, shape_of
from modelspec.importer.values import short
from modelspec.lower.parse import to_snake_case

MODULE = "keras.src.ops."

# (module, class) as a saved config names Keras's operation -> the op.
BY_CLASS: dict[tuple[str, str], OpType] = {
    (MODULE + op.module, op.keras_class): op for op in OPS.values()
}
# `x / y` is keras.ops.true_divide, which each backend computes by calling `divide`.
BY_CLASS[(MODULE + "numpy", "TrueDivide")] = OPS["divide"]

# Config keys Keras writes for an op that the catalogue does not take, and the value
# Keras writes when the call left them out.
UNUSED: dict[str, dict[str, Any]] = {"max": {"initial": None}, "min": {"initial": None}}

CONSTANTS = ("__tensor__", "__numpy__")  # how Keras writes a tensor or NumPy constant
SHOWN_OPS = 8  # ops a hint lists before "... and N more"
NEAR = 0.7  # difflib's ratio for "did you mean": relu6 -> relu, not where -> power


def op_for(info: LayerInfo) -> OpType | None:
    """The op of a ``keras.ops`` entry, or None for one outside the set."""
    return BY_CLASS.get((info.module, info.cls))


def read_op(ctx: Context, info: LayerInfo) -> None:
    """An op of the set -> an op step: ``info.kind`` "opstep", ``info.type`` ``ops.NAME``,
    each call's ``operands`` and ``keywords``. Any other op is MS612."""
    op = op_for(info)
    if op is None:
        refuse(ctx, info)
        return
    before = len(ctx.diagnostics)
    who = f"op '{info.name}' (`keras.ops.{op.name}`)"
    config = info.config if isinstance(info.config, Mapping) else {}
    keywords = _keywords(ctx, op, config, (*info.path, "config"), who)
    for node in info.nodes:
        _operands(ctx, op, node, who)
        node.keywords = {**keywords, **node.keywords}  # get_item's index is the call's
    ctx.check_name(info.name, "op", (*info.path, "name"))
    info.kind = "opstep" if len(ctx.diagnostics) == before else "bad"
    info.type = type_name(op.name)


def refuse(ctx: Context, info: LayerInfo) -> None:
    """MS612 for a ``keras.ops`` call outside the set: why it is left out (``REFUSED``),
    or the nearest op of the set."""
    name = to_snake_case(info.cls)
    family = info.module.rsplit(".", 1)[-1]
    ops = sorted(OPS)
    hint = (
        REFUSED.get(name)
        or REFUSED.get(f"{family}.{name}")
        or _nearest(name)
        or f"a spec's ops are {', '.join(ops[:SHOWN_OPS])}, ... and {len(ops) - SHOWN_OPS} "
        "more (docs/spec.md, Ops)"
    )
    ctx.error(
        "MS612",
        f"'{info.name}' is a call of keras.ops `{info.cls}`, which is not one of the ops a "
        "spec may call",
        info.path,
        hint,
    )


def _nearest(name: str) -> str | None:
    """The hint "did you mean 'relu'?" for ``relu6``. An op's name in a config is
    Keras's own, never a typo, so only a near name is worth showing: ``einsum`` is not
    ``sum``."""
    close = difflib.get_close_matches(name, OPS, n=1, cutoff=NEAR)
    return f"did you mean '{close[0]}'?" if close else None


def _keywords(
    ctx: Context, op: OpType, config: Mapping[str, Any], path: tuple, who: str
) -> dict[str, Any]:
    """The op's keywords that differ from their defaults, in the catalogue's order."""
    out: dict[str, Any] = {}
    unused = UNUSED.get(op.name, {})
    for key, value in config.items():
        if key == "name":
            continue
        kwarg = op.kwarg_map.get(key)
        if kwarg is None:
            if key in unused and vals.same_number(value, unused[key]):
                continue
            takes = ", ".join(op.kwarg_map)
            ctx.error(
                "MS614",
                f"{who} sets `{key}: {short(value)}`, which the catalogue's op `{op.name}` "
                "does not take",
                (*path, key),
                did_you_mean(key, op.kwarg_map)
                or (f"`{op.name}` takes: {takes}" if takes else f"`{op.name}` takes no keywords"),
            )
            continue
        number = _constant(value)
        if isinstance(number, (int, float)):
            value = number  # a bound written as a NumPy scalar (clip's x_min)
        if not vals.same_default(kwarg, value):
            out[key] = value
    return {k: out[k] for k in op.kwarg_map if k in out}


def _operands(ctx: Context, op: OpType, node: Node, who: str) -> None:
    """``node.operands`` (and ``inputs``, ``shapes``) from the call's ``args``."""
    args, kwargs = node.raw if node.raw is not None else ([], {})
    path = (*node.path, "args")
    if kwargs:
        ctx.error(
            "MS612",
            f"{who} is called with keyword arguments ({', '.join(map(str, kwargs))}); a "
            "spec's op step passes its operands in order and its keywords beside them",
            (*node.path, "kwargs"),
        )
        return
    if op.operands == "list":
        items = args[0] if len(args) == 1 and isinstance(args[0], list) else None
        if not items:
            ctx.error("MS612", f"{who} is called on {short(args)}, not on a list of tensors", path)
            return
        given = [(item, (*path, 0, i), False) for i, item in enumerate(items)]
    else:
        count = 2 if op.operands in ("two", "index") else 1
        if len(args) != count:
            ctx.error("MS612", f"{who} is called with {len(args)} arguments; it takes {count}",
                      path)  # fmt: skip
            return
        numbers = op.operands == "two" and op.numbers
        given = [(args[0], (*path, 0), numbers)]
        if op.operands == "two":
            given.append((args[1], (*path, 1), numbers))
        else:
            index = _subscript(ctx, args[1], (*path, 1), who) if op.operands == "index" else None
            if index is not None:
                node.keywords = {"index": index}
    operands: list[Any] = []
    for value, where, number_ok in given:
        ref = history(value) if is_tensor(value) else None
        if ref is not None:
            operands.append(ref)
            continue
        number = _constant(value)
        if isinstance(number, str):  # a constant, but not one a spec writes
            ctx.error("MS612", f"{who} takes {number} as an operand; modelspec ops take "
                      "numbers as constant operands", where, _constant_hint(value))  # fmt: skip
        elif number is not None and number_ok:
            operands.append(number)
        else:
            takes = "a tensor or a number" if number_ok else "a tensor"
            ctx.error("MS612", f"{who} takes {short(value)} where it takes {takes}", where)
    tensors = [t for t, _, _ in given if is_tensor(t)]
    if len(operands) == len(given) and not tensors:
        ctx.error("MS612", f"{who} is called on numbers only", path)
    node.operands = operands
    node.inputs = [v for v in operands if isinstance(v, tuple)]
    node.shapes = [shape_of(t) for t in tensors]


def _constant(value: Any) -> int | float | str | None:
    """A constant operand: its number; a str saying what it is when a spec cannot write
    it (``"the boolean constant True"``); None when it is no constant at all."""
    if isinstance(value, bool):
        return f"the boolean constant {value}"
    if isinstance(value, (int, float)):
        return value if _finite(value) else f"the constant {value!r}"
    if not (isinstance(value, Mapping) and value.get("class_name") in CONSTANTS):
        return None
    config = value.get("config")
    inner = config.get("value") if isinstance(config, Mapping) else None
    dtype = str(config.get("dtype", "")) if isinstance(config, Mapping) else ""
    if isinstance(inner, list):
        return f"a constant array of shape {_shape(inner)}"
    if dtype == "bool" or isinstance(inner, bool):
        return f"the boolean constant {bool(inner)}"
    if not isinstance(inner, (int, float)) or not _finite(inner):
        return f"the constant {short(inner)}"
    if dtype.startswith(("int", "uint")):
        return int(inner)
    return float(inner)


def _shape(value: Any) -> tuple[int, ...]:
    shape: list[int] = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return tuple(shape)


def _constant_hint(value: Any) -> str | None:
    config = value.get("config") if isinstance(value, Mapping) else None
    inner = config.get("value") if isinstance(config, Mapping) else None
    if isinstance(inner, list) and len(inner) > 1 and inner == list(range(len(inner))):
        return REFUSED["arange"]  # keras.ops.arange, computed once as a constant
    if isinstance(inner, list):
        return (
            "an operand is a tensor of the model or one number for every element; compute "
            "the array from the inputs with ops, or learn it in a layer"
        )
    if isinstance(value, bool) or isinstance(inner, bool):
        return "write the number: 1 for True, 0 for False"
    return None


def _subscript(ctx: Context, key: Any, path: tuple, who: str) -> str | None:
    """``get_item``'s key as the subscript a spec writes, ``"[:, -1]"``; None (and an
    error) for a key of anything but ints, slices, ``...`` and ``None``."""
    items = key if isinstance(key, list) else [key]
    index: list[Any] = []
    for item in items:
        value = _index_item(item)
        if value is _BAD:
            ctx.error(
                "MS612",
                f"{who} has the subscript {short(key)}; a spec's subscripts hold integers, "
                "slices, `...` and `None`",
                path,
                "index with constants: `h[:, -1]`, `h[..., 0:8]`; a tensor index needs a "
                "layer that gathers",
            )
            return None
        index.append(value)
    text = f"[{format_index(tuple(index))}]"
    try:
        same = len(index) <= MAX_INDEX_ITEMS and parse_index(text) == tuple(index)
    except IndexError_:
        same = False
    if not same:
        ctx.error("MS612", f"{who} has the subscript {text}, which a spec cannot write", path)
        return None
    return text


class _Bad:
    pass


_BAD: Any = _Bad()
_INT = re.compile(r"-?[0-9]{1,18}\Z")


def _index_item(item: Any) -> Any:
    """One item of a subscript as Keras wrote it -> int, slice, Ellipsis or None."""
    if item is None or (_is_int(item) and _INT.match(str(item))):
        return item
    if not isinstance(item, Mapping) or not isinstance(item.get("config"), Mapping):
        return _BAD
    if item.get("class_name") == "__ellipsis__":
        return Ellipsis
    if item.get("class_name") == "__slice__":
        bounds = [item["config"].get(k) for k in ("start", "stop", "step")]
        if all(b is None or (_is_int(b) and _INT.match(str(b))) for b in bounds) and bounds[2] != 0:
            return slice(*bounds)
    return _BAD


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: int | float) -> bool:
    return isinstance(value, int) or math.isfinite(value)
