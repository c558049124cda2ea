"""A layer's ``inbound_nodes`` -> its calls (:class:`~modelspec.importer.context.Node`):
the tensors each call reads, in the order a spec's ``to:`` lists them, and its masks.
An attention call whose inputs are all keywords, ``mha(query=q, value=v)``, keeps their
names: its step writes ``to: {query: q, value: v}``, and is built the same way.

A call's other arguments become the step's ``call:`` where the layer's call takes them
(:mod:`modelspec.catalog.calls`): tensors as references, ``True`` constants as they
are; ``False`` and ``None`` are Keras's defaults and are left out. Any other argument
is MS615.

# NOTE: [masks]
A layer called on a masked tensor (after ``Embedding(mask_zero=True)`` or
``Masking``) gets the mask as a ``mask=`` call argument, and Keras records how the
mask was computed as ``keras.ops`` calls (``NotEqual``, ``Any``, ...). A spec
propagates masks the same way Keras does, so these calls and arguments are left
out; a mask from a layer or an input is the call's own ``mask``. A ``keras.ops`` call
whose result reaches anything but a computed ``mask=`` argument is the model's own
computation: an op step (:mod:`.ops`) when it is one of the catalogue's ops
(``keras.ops.sum``, ``x @ w``, ``h[:, -1]``), else an error naming it (MS612).

# NOTE: [ops as layers]
Keras records an arithmetic operator on tensors (``x + 3.0``, ``y * (1 / 6)`` in
MobileNetV3's hard sigmoid) as a ``keras.ops`` call. Where a catalogue layer computes
the same float32 values bit for bit, the call is written as that layer, named as
Keras named the op: a tensor and a number become ``Rescaling`` (``x * scale +
offset``: ``x * 1.0 + c`` is ``x + c``, ``x * c + 0.0`` is ``x * c``, ``x * -1.0 + c``
is ``c - x``; a division only by a power of two, whose inverse is exact), two
tensors of one shape become ``Add``, ``Subtract`` or ``Multiply``. The
keras.applications models import this way, as they did before a spec had ops. Any
other op of the set is an op step: ``x / 3.0``, ``int32 - 1``, two tensors that
broadcast. One exception: a spec builds its op steps under the names Keras gives
them (``multiply``, ``multiply_1``, ...), which no layer may take, so an op written as
a layer under such a name (``x * 0.5`` named ``multiply_1`` beside a ``{op:
multiply}`` step) is written as an op step too (:func:`_unclash`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.base import IGNORED_CALL_KWARGS
from modelspec.catalog.calls import NO_ARGS, call_of
from modelspec.catalog.ops import op_of
from modelspec.errors import Stop
from modelspec.importer.context import (
    Context,
    LayerInfo,
    Node,
    Ref,
    history,
    is_tensor,
    layer_word,
    shape_of,
    tensors_in,
)
from modelspec.importer.ops import read_op
from modelspec.importer.values import short

OP_MERGES = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply"}


def read_calls(ctx: Context, info: LayerInfo, entry: Mapping[str, Any], path: tuple) -> None:
    """``info.nodes``: one :class:`Node` for each of the entry's ``inbound_nodes``."""
    raw = entry.get("inbound_nodes", [])
    if not isinstance(raw, list):
        ctx.error("MS604", f"layer '{info.name}' has `inbound_nodes` that is not a list", path)
        return
    for k, node in enumerate(raw):
        npath = (*path, "inbound_nodes", k)
        if isinstance(node, list):
            ctx.error(
                "MS604",
                "the config is in the Keras 2 format (inbound nodes as lists); modelspec "
                "imports the Keras 3 format",
                npath,
                "load the model with Keras 3 and save it again",
            )
            raise Stop
        if not isinstance(node, Mapping):
            ctx.error("MS604", f"a call of layer '{info.name}' is not a mapping", npath)
            continue
        args = node.get("args", [])
        kwargs = node.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, Mapping):
            ctx.error("MS604", f"a call of layer '{info.name}' needs `args` and `kwargs`", npath)
            continue
        given = (args, kwargs)
        if info.kind == "op":
            layer = _op_as_layer(info.cls, args, kwargs) if len(raw) == 1 else None
            if layer is None:
                # Read as an op step, or reported, once drop_mask_ops knows it is not a mask's.
                tensors = tensors_in([args, dict(kwargs)])
                refs = [r for r in (history(t) for t in tensors) if r is not None]
                info.nodes.append(Node(info, k, refs, [], [], npath, raw=given))
                continue
            # An op a catalogue layer computes exactly: that layer, under the op's name.
            info.kind, info.type, info.kwargs, args, kwargs = "layer", *layer, {}
            ctx.check_name(info.name, "layer", (*path, "name"))
        info.nodes.append(_call(ctx, info, args, kwargs, k, npath))
        if info.config is not None:  # an op written as a layer: kept for _unclash()
            info.nodes[-1].raw = given


def _call(
    ctx: Context, info: LayerInfo, args: list, kwargs: Mapping[str, Any], k: int, path: tuple
) -> Node:
    """One call of a layer: its tensors, in the order the spec's ``to:`` lists them."""
    lt = LAYER_TYPES.get(info.type) if info.type else None
    who = f"call {k} of {layer_word(info)}"
    tensors: list[Any] = []
    names: list[str] = []
    extra = False
    takes = call_of(info.type) if lt is not None else NO_ARGS
    if lt is not None and lt.call == "positional":
        tensors = list(args)
        given = [key for key in takes.inputs if kwargs.get(key) is not None]
        tensors += [kwargs[key] for key in given]
        # Every input by keyword, mha(query=q, value=v): the spec names them too.
        names = given if given and not args else []
    elif len(args) == 1 and isinstance(args[0], list):
        tensors = list(args[0])
    elif args:
        tensors, extra = [args[0]], len(args) > 1
    masks: list[Ref] = []
    args: dict[str, Any] = {}
    for key, value in kwargs.items():
        if lt is not None and lt.call == "positional" and key in takes.inputs:
            continue
        arg = takes.arg(key)
        where = (*path, "kwargs", key)
        if key == "mask":
            given = value if isinstance(value, list) else [value]
            refs = [history(m) if is_tensor(m) else None for m in given]
            for m, ref in zip(given, refs, strict=True):
                if m is not None and ref is None:
                    ctx.error("MS615", f"{who} passes mask={short(m)}", where)
                elif ref is not None:
                    masks.append(ref)
            if arg is not None and any(r is not None for r in refs):
                # Kept as `call: {mask: ...}` unless Keras computed it (see drop_mask_ops).
                args[key] = refs if arg.kind == "masks" else refs[0]
            continue
        if arg is not None and arg.is_tensor and value is not None:
            given = value if isinstance(value, list) else [value]
            refs = [history(t) if is_tensor(t) else None for t in given]
            if None in refs:
                ctx.error("MS615", f"{who} passes `{key}={short(value)}`", where)
                continue
            args[key] = refs if isinstance(value, list) else refs[0]
            continue
        if arg is not None and value == arg.default and arg.kind == "bool":
            continue  # the call's own default, recorded
        if arg is not None and value is True:
            args[key] = True
            continue
        if value is None or value in IGNORED_CALL_KWARGS.get(key, ()):
            continue
        ctx.error(
            "MS615",
            f"{who} passes `{key}={short(value)}`, which a spec cannot express",
            where,
            "a spec passes a layer's call the arguments it takes (see `call:` in "
            "docs/spec.md); this one it does not take"
            if arg is None
            else None,
        )
    if extra:
        ctx.error(
            "MS615",
            f"{who} passes {len(args)} positional arguments; a spec passes one tensor (or a "
            "list of them)",
            (*path, "args"),
        )
    refs: list[Ref] = []
    shapes: list[Any] = []
    for t in tensors:
        ref = history(t) if is_tensor(t) else None
        if ref is None:
            ctx.error(
                "MS615", f"{who} passes {short(t)} where a spec passes a tensor", (*path, "args")
            )
            continue
        refs.append(ref)
        shapes.append(shape_of(t))
    if not refs and not ctx.failed:
        ctx.error("MS604", f"{who} has no input tensor", path)
    return Node(info, k, refs, shapes, masks, path, args, names if len(refs) == len(names) else [])


def _float32_tensor(value: Any) -> bool:
    config = value.get("config") if is_tensor(value) else None
    return isinstance(config, Mapping) and config.get("dtype") == "float32"


def _number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) < 1e300
    )


def _op_as_layer(cls: str, args: list, kwargs: Mapping[str, Any]) -> tuple[str, dict, list] | None:
    """``(type, kwargs, args)`` of the catalogue layer that computes the op, or None."""
    if kwargs or len(args) != 2:
        return None
    a, b = args
    if _float32_tensor(a) and _float32_tensor(b):
        shape = shape_of(a)
        if cls in OP_MERGES and shape is not None and shape == shape_of(b):
            return OP_MERGES[cls], {}, [[a, b]]
        return None
    if _float32_tensor(a) and _number(b):
        tensor, c, tensor_first = a, float(b), True
    elif _number(a) and _float32_tensor(b):
        tensor, c, tensor_first = b, float(a), False
    else:
        return None
    if cls == "Add":
        scale, offset = 1.0, c
    elif cls == "Multiply":
        scale, offset = c, 0.0
    elif cls == "Subtract":
        scale, offset = (1.0, -c) if tensor_first else (-1.0, c)
    elif (
        cls in ("Divide", "TrueDivide") and tensor_first and c != 0 and abs(math.frexp(c)[0]) == 0.5
    ):
        scale, offset = 1.0 / c, 0.0
    else:
        return None
    kw: dict[str, Any] = {"scale": scale}
    if offset != 0.0:
        kw["offset"] = offset
    return "Rescaling", kw, [tensor]


def drop_mask_ops(
    ctx: Context, layers: Mapping[str, LayerInfo], outputs: list[tuple[str, Ref]]
) -> None:
    """Leave out the ``keras.ops`` calls that only compute masks; report the others."""
    masking = any(
        i.type == "Masking" or (i.type == "Embedding" and i.kwargs.get("mask_zero"))
        for i in layers.values()
    )
    for info in layers.values():
        for node in info.nodes if info.kind == "layer" else ():
            if not node.masks:
                continue
            if masking and all(layers[ref[0]].kind == "op" for ref in node.masks):
                node.kwargs.pop("mask", None)  # computed by Keras: the spec propagates it
            elif "mask" not in node.kwargs:
                ctx.error(
                    "MS615",
                    f"call {node.index} of {layer_word(info)} passes an explicit mask",
                    (*node.path, "kwargs", "mask"),
                    "a spec propagates the masks of Embedding(mask_zero=True) and Masking, "
                    "as Keras does; a layer whose call takes `mask` may be given one",
                )
    bad: set[str] = set()
    stack: list[str] = []

    def reach(ref: Ref) -> None:
        info = layers[ref[0]]
        if info.kind == "op" and info.name not in bad:
            bad.add(info.name)
            stack.append(info.name)

    for info in layers.values():
        if info.kind in ("layer", "model", "bad"):
            for node in info.nodes:
                for ref in node.reads():
                    reach(ref)
    for _, ref in outputs:
        reach(ref)
    while stack:
        for node in layers[stack.pop()].nodes:
            for ref in node.inputs:
                reach(ref)
    for name in sorted(bad, key=lambda n: layers[n].position):
        read_op(ctx, layers[name])  # an op step, or MS612
    _unclash(ctx, layers)
    for info in layers.values():
        if info.kind == "op":
            info.nodes.clear()


def _unclash(ctx: Context, layers: Mapping[str, LayerInfo]) -> None:
    """An op written as a layer (see the note on ops as layers) under a name that Keras
    gives the spec's op steps of that op (``multiply_1`` beside ``{op: multiply}``) is
    an op step too: the spec builds its ops under Keras's own names, which no layer may
    take. Any other layer or input under such a name is MS605."""
    while True:
        ops = sorted({op.keras_name for i in layers.values() if (op := op_of(i.type or ""))})
        if not ops:
            return
        taken = re.compile(rf"({'|'.join(map(re.escape, ops))})(?:_[0-9]+)?\Z")
        clash = [
            i
            for i in layers.values()
            if i.kind == "layer" and i.nodes and i.nodes[0].raw is not None and taken.match(i.name)
        ]
        if not clash:
            break
        for info in clash:
            info.kwargs = {}
            read_op(ctx, info)
    for info in layers.values():
        m = taken.match(info.name) if info.kind in ("input", "layer", "model") else None
        if m is not None and (info.nodes or info.kind == "input"):
            what = "input" if info.kind == "input" else "layer"
            ctx.error(
                "MS605",
                f"{what} name '{info.name}' is one Keras gives to the model's `{m[1]}` ops "
                f"({m[1]}, {m[1]}_1, ...), which a spec builds under Keras's names",
                (*info.path, "name"),
                f"rename the {what} in Keras and save the model again",
            )
