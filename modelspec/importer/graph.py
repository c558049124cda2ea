"""A Keras model's layers and calls -> a spec's steps: ``sequential:``, or ``layers:``
and ``graph:``.

# NOTE: [nodes and steps]
Keras keeps a layer apart from its calls: each layer in ``config.layers`` lists its
calls as ``inbound_nodes``, and a call's inputs are tensors named
``[layer, node index, tensor index]`` (``keras_history``). A spec writes the same
thing as ``layers:`` (definitions) and ``graph:`` (steps, each a chain of calls).
The calls are put in a stable topological order, then grouped into chains: a call
joins the chain of the call before it when it reads that call's one output tensor,
and nothing else reads that tensor. A step is named after the last layer of its
chain (``conv1_relu``), or ``<layer>_<k>`` for the k-th call of a shared layer
(:mod:`.names`). A graph that is one chain from the one input to the one output is
written as ``sequential:``. A nested model's call is a block step of its own, and a
``keras.ops`` call an op step of its own (``{op: sum, to: h, axis: -1}``, see
:mod:`.ops`): neither joins a chain, and a graph with one is never ``sequential:``.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.ops import op_of
from modelspec.importer.calls import drop_mask_ops, read_calls
from modelspec.importer.context import Context, LayerInfo, Node, Ref
from modelspec.importer.layers import read_input, read_layer
from modelspec.importer.names import slots, step_names, write_names
from modelspec.importer.values import short
from modelspec.passes.graph import stable_order

Graph = tuple[list[LayerInfo], list[tuple[str, Ref]], dict[str, LayerInfo]]


def read_functional(ctx: Context, config: Mapping[str, Any]) -> Graph | None:
    """A Functional model's inputs, outputs (``[(name, ref)]``) and layers, by name."""
    entries = config.get("layers")
    if not isinstance(entries, list):
        ctx.error("MS604", "the model config has no `layers` list", ("config",))
        return None
    layers: dict[str, LayerInfo] = {}
    for i, entry in enumerate(entries):
        path = ("config", "layers", i)
        info = read_layer(ctx, entry, i, path)
        if info is None:
            continue
        if info.name in layers:
            ctx.error("MS604", f"two layers are named '{info.name}'", (*path, "name"))
            continue
        layers[info.name] = info
        read_calls(ctx, info, entry, path)
    inputs = _endpoints(ctx, config.get("input_layers"), "input_layers")
    outputs = _endpoints(ctx, config.get("output_layers"), "output_layers")
    if inputs is None or outputs is None:
        return None
    for name, ref in inputs:
        info = layers.get(ref[0])
        if info is None or info.kind != "input":
            ctx.error(
                "MS604", f"model input '{name}' is not an InputLayer", ("config", "input_layers")
            )
    # Keras writes a nested Functional model's calls in `output_layers` counting the
    # node it made for itself when it was built, which its `inbound_nodes` leave out.
    outputs = [
        (n, (r[0], r[1] - 1, r[2]))
        if r[0] in layers
        and layers[r[0]].kind == "model"
        and layers[r[0]].cls != "Sequential"
        and r[1] >= 1
        else (n, r)
        for n, r in outputs
    ]
    _check_refs(ctx, layers, outputs, {ref[0] for _, ref in inputs})
    if ctx.failed:
        return None
    drop_mask_ops(ctx, layers, outputs)
    if ctx.failed:
        return None
    return [layers[ref[0]] for _, ref in inputs], outputs, layers


def read_sequential(ctx: Context, config: Mapping[str, Any]) -> Graph | None:
    """A Sequential model as a graph: each layer called once on the one before."""
    entries = config.get("layers")
    if not isinstance(entries, list) or not entries:
        ctx.error("MS604", "the Sequential config has no `layers`", ("config",))
        return None
    layers: dict[str, LayerInfo] = {}
    infos: list[LayerInfo] = []
    for i, entry in enumerate(entries):
        path = ("config", "layers", i)
        info = read_layer(ctx, entry, i, path)
        if info is None:
            continue
        if info.name in layers:
            ctx.error("MS604", f"two layers are named '{info.name}'", (*path, "name"))
            continue
        if info.kind == "input" and i != 0:
            ctx.error("MS604", f"input layer '{info.name}' is not the first layer", path)
        layers[info.name] = info
        infos.append(info)
    if ctx.failed:
        return None
    if infos and infos[0].kind == "input":
        source = infos.pop(0)
    else:
        shape = config.get("build_input_shape")
        if not isinstance(shape, list):
            first = entries[0] if isinstance(entries[0], Mapping) else {}
            build = first.get("build_config")
            shape = build.get("input_shape") if isinstance(build, Mapping) else None
        if not isinstance(shape, list) or not shape:
            ctx.error(
                "MS604",
                "the Sequential model was never built, so its input shape is unknown",
                ("config",),
                "start it with keras.Input(shape=...) and save it again",
            )
            return None
        name = "input_layer"
        while name in layers:
            name += "_"
        source = LayerInfo(-1, name, "InputLayer", "input", ("config",))
        source.input = read_input(
            ctx, source, {"batch_shape": shape}, ("config", "build_input_shape")
        )
        layers[name] = source
    previous: Ref = (source.name, 0, 0)
    for info in infos:
        if info.kind == "op":
            ctx.error(
                "MS612",
                f"'{info.name}' is a call of keras.ops `{info.cls}`, which a spec cannot express",
                info.path,
            )
            continue
        info.nodes.append(Node(info, 0, [previous], [], [], info.path))
        previous = (info.name, 0, 0)
    if ctx.failed:
        return None
    return [source], [(previous[0], previous)], layers


def _endpoints(ctx: Context, value: Any, key: str) -> list[tuple[str, Ref]] | None:
    """``input_layers``/``output_layers`` as ``[(name, ref)]``: a ref, a list, or a dict."""
    path = ("config", key)

    def ref(item: Any) -> Ref | None:
        if (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in item[1:])
        ):
            return (item[0], item[1], item[2])
        return None

    single = ref(value)
    if single is not None:
        return [(single[0], single)]
    if isinstance(value, list) and value and isinstance(value[0], str):
        ctx.error(
            "MS604",
            f"`{key}` is {short(value)}, not [layer, node, tensor] with a node and a tensor "
            "index of 0 or more",
            path,
        )
        return None
    out: list[tuple[str, Ref]] = []
    if isinstance(value, Mapping):
        for name, item in value.items():
            r = ref(item)
            if r is None:
                ctx.error("MS604", f"`{key}` entry '{name}' is not [layer, node, tensor]", path)
                continue
            out.append((name, r))
    elif isinstance(value, list) and value:
        seen: Counter[str] = Counter()
        for item in value:
            r = ref(item)
            if r is None:
                ctx.error("MS604", f"`{key}` holds {short(item)}, not [layer, node, tensor]", path)
                continue
            # Keras names list outputs after their layers.
            name = r[0] if not seen[r[0]] else f"{r[0]}_{seen[r[0]]}"
            seen[r[0]] += 1
            out.append((name, r))
    else:
        ctx.error("MS604", f"the model config has no `{key}`", path)
        return None
    return out


def _check_refs(
    ctx: Context,
    layers: Mapping[str, LayerInfo],
    outputs: list[tuple[str, Ref]],
    inputs: set[str],
) -> None:
    def valid(ref: Ref) -> bool:
        info = layers.get(ref[0])
        if info is None:
            return False
        if info.kind == "bad":
            return True  # reported already: one cause, one message
        if info.kind == "input":
            return ref[1] == 0 and ref[2] == 0
        return ref[1] < len(info.nodes)

    for info in layers.values():
        for node in info.nodes:
            for ref in [*node.inputs, *node.masks, *node.arg_refs()]:
                if not valid(ref):
                    ctx.error(
                        "MS604",
                        f"a call of layer '{info.name}' reads tensor {list(ref)}, which no "
                        "layer makes",
                        node.path,
                    )
                elif layers[ref[0]].kind == "input" and ref[0] not in inputs:
                    ctx.error(
                        "MS604",
                        f"a call of layer '{info.name}' reads input '{ref[0]}', which is not "
                        "in the model's `input_layers`",
                        node.path,
                    )
    for name, ref in outputs:
        if not valid(ref):
            ctx.error(
                "MS604",
                f"output '{name}' is tensor {list(ref)}, which no layer makes",
                ("config", "output_layers"),
            )


def order(
    ctx: Context, layers: Mapping[str, LayerInfo], outputs: list[tuple[str, Ref]]
) -> list[Node]:
    """The live calls in a stable topological order (config order where free)."""
    by_ref: dict[tuple[str, int], Node] = {}
    for info in layers.values():
        for node in info.nodes:
            by_ref[(info.name, node.index)] = node
    live: set[tuple[str, int]] = set()
    stack = [(r[0], r[1]) for _, r in outputs if (r[0], r[1]) in by_ref]
    while stack:
        key = stack.pop()
        if key in live:
            continue
        live.add(key)
        stack.extend((r[0], r[1]) for r in by_ref[key].reads() if (r[0], r[1]) in by_ref)

    def needs(key: tuple[str, int]) -> set[tuple[str, int]]:
        return {(r[0], r[1]) for r in by_ref[key].reads() if (r[0], r[1]) in by_ref}

    def rank(key: tuple[str, int]) -> tuple[int, int, str]:
        return (layers[key[0]].position, key[1], key[0])

    out = [by_ref[key] for key in stable_order(live, needs, rank)]
    if len(out) != len(live):
        ctx.error("MS604", "the layers' calls form a cycle", ("config", "layers"))
    return out


def chain_calls(
    calls: list[Node], outputs: list[tuple[str, Ref]]
) -> tuple[list[list[Node]], set[tuple[str, int]], set[str]]:
    """The calls grouped into chains (see the note at the top); the calls whose output
    is a list of tensors, and the nested models called."""
    uses: Counter[Ref] = Counter()
    for node in calls:
        uses.update(node.reads())
    uses.update(ref for _, ref in outputs)
    max_index: dict[tuple[str, int], int] = {}
    for ref in uses:
        key = (ref[0], ref[1])
        max_index[key] = max(max_index.get(key, 0), ref[2])
    multi = {(n.layer.name, n.index) for n in calls if _returns_list(n, max_index)}
    # A nested model's call is a block step of its own: nothing chains onto it.
    multi |= {
        (n.layer.name, n.index)
        for n in calls
        if n.layer.block is not None and len(n.layer.block["outputs"]) > 1
    }
    models = {n.layer.name for n in calls if n.layer.kind == "model"}
    out: list[list[Node]] = []
    chain_of: dict[tuple[str, int], list[Node]] = {}
    for node in calls:
        chain = None
        # A call with arguments, or inputs by name, is a step of its own (`call:` and
        # a named `to:` are one layer's), and so is an op's: nothing chains onto it.
        if len(node.inputs) == 1 and not node.kwargs and not node.names and not _is_op(node):
            ref = node.inputs[0]
            prev = (ref[0], ref[1])
            before = chain_of.get(prev)
            if (
                before is not None
                and before[-1].layer.name == ref[0]
                and before[-1].index == ref[1]
                and prev not in multi
                and ref[2] == 0
                and uses[ref] == 1
                and not {ref[0], node.layer.name} & models
                and not before[0].kwargs
                and not before[0].names
                and not _is_op(before[0])
            ):
                chain = before
        if chain is None:
            chain = []
            out.append(chain)
        chain.append(node)
        chain_of[(node.layer.name, node.index)] = chain
    return out, multi, models


def _is_op(node: Node) -> bool:
    return node.layer.kind == "opstep"


def _returns_list(node: Node, max_index: Mapping[tuple[str, int], int]) -> bool:
    """Whether a call returns several tensors (an LSTM with ``return_state``)."""
    key = (node.layer.name, node.index)
    if max_index.get(key, 0) > 0:
        return True
    lt = LAYER_TYPES.get(node.layer.type or "")
    if lt is None or not node.shapes or any(s is None for s in node.shapes):
        return False
    try:
        out = lt.shape(lt.resolve(node.layer.kwargs), node.shapes)
    except Exception:  # noqa: BLE001 - a shape the rule refuses: lint reports it
        return False
    return isinstance(out, list)


def sequential_items(chain: list[Node], input_names: set[str]) -> list[dict[str, Any]]:
    """The one chain of a plain stack as ``sequential:`` items."""
    items = [copy.deepcopy({"type": n.layer.type, **n.layer.kwargs}) for n in chain]
    named = [s for n, item in zip(chain, items) for s in slots(item, n.layer.name, "top")]
    write_names(named, input_names)
    return items


def op_step(node: Node, tensor: Callable[[Ref], str]) -> dict[str, Any]:
    """An op's call as a step: ``{op: subtract, to: [x, 1.0]}``, its keywords beside."""
    op = op_of(node.layer.type or "")
    assert op is not None
    to = [tensor(v) if isinstance(v, tuple) else v for v in node.operands]
    return {"op": op.name, "to": to if op.operands in ("two", "list") else to[0],
            **copy.deepcopy(node.keywords)}  # fmt: skip


def write_graph(
    ctx: Context,
    doc: dict[str, Any],
    chains: list[list[Node]],
    outputs: list[tuple[str, Ref]],
    input_names: set[str],
    multi: set,
    out_specs: Mapping[str, dict],
) -> None:
    """``blocks:``, ``layers:``, ``graph:`` and ``outputs:`` of a spec document."""
    defined: dict[str, dict[str, Any]] = {}
    blocks: dict[str, dict[str, Any]] = {}
    for chain in chains:
        for node in chain:
            info = node.layer
            if info.block is not None:
                blocks.setdefault(info.name, info.block)
            elif info.name not in defined and not _is_op(node):
                defined[info.name] = copy.deepcopy({"type": info.type, **info.kwargs})
    step_of = step_names(chains, input_names, defined)
    steps: dict[str, dict[str, Any]] = {}

    def tensor(ref: Ref) -> str:
        if ref[0] in input_names:
            return ref[0]
        step = step_of[(ref[0], ref[1])]
        return f"{step}[{ref[2]}]" if (ref[0], ref[1]) in multi else step

    for chain in chains:
        last = chain[-1]
        to = [tensor(r) for r in chain[0].inputs]
        if last.layer.block is not None:
            # A nested model: an instance named after it, and each later call shares it.
            step = step_of[(last.layer.name, last.index)]
            first = min(k for (n, k) in step_of if n == last.layer.name)
            owner = step_of[(last.layer.name, first)]
            if owner != last.layer.name or any(
                f"{owner}_{layer}" in defined for layer in last.layer.inner
            ):
                ctx.error(
                    "MS613",
                    f"layer '{last.layer.name}' is a nested model whose name, or its layers' "
                    "names, a block instance cannot keep here",
                    last.layer.path,
                    "rename the nested model in Keras",
                )
            call = {"block": last.layer.name, "to": to[0] if len(to) == 1 else to}
            if step != owner:
                call["share"] = owner
            steps[step] = call
            continue
        if _is_op(last):
            steps[step_of[(last.layer.name, last.index)]] = op_step(last, tensor)
            continue
        apply = [n.layer.name for n in chain]
        step: dict[str, Any] = {
            "apply": apply[0] if len(apply) == 1 else apply,
            "to": to[0] if len(to) == 1 else to,
        }
        if chain[0].names:  # attention's inputs by keyword: `to:` by name
            step["to"] = dict(zip(chain[0].names, to, strict=True))
        if chain[0].kwargs:
            step["call"] = {
                k: tensor(v)
                if isinstance(v, tuple)
                else [None if r is None else tensor(r) for r in v]
                if isinstance(v, list)
                else v
                for k, v in chain[0].kwargs.items()
            }
        steps[step_of[(last.layer.name, last.index)]] = step
    write_names([s for n, d in defined.items() for s in slots(d, n, "fixed")], input_names)
    if blocks:
        doc["blocks"] = blocks
    if defined:
        doc["layers"] = defined
    doc["graph"] = steps
    outs: dict[str, dict[str, Any]] = {}
    for name, ref in outputs:
        ctx.check_name(name, "output", ("config", "output_layers"))
        outs[name] = {"from": tensor(ref), **out_specs.get(name, {})}
    doc["outputs"] = outs
