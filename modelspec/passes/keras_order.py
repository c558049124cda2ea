"""The order in which Keras lists a model's layers (``model.layers``, ``summary()``).

Keras does not list layers in the order they were called. ``keras/src/ops/function.py``
(``map_graph``) walks the graph depth-first from the outputs (a dict of outputs in
sorted key order), numbers each layer when first seen, gives every node a depth (its
distance from the outputs; a shared layer takes its deepest node), and lists layers by
decreasing depth, ties by first-seen number. Inputs that reach no output come last at
depth 0. This module does the same without Keras, iteratively, so a 10,000-layer
chain does not hit the recursion limit.

Example: for ``left -> concat <- right; concat -> inter; embed -> flat; (inter, flat)
-> sum``, Keras lists ``..., concat, embed, inter, flat, sum``: ``embed`` is as far
from the output as ``concat``.
"""

from __future__ import annotations

from modelspec.ir import Spec
from modelspec.passes.graph import GraphFacts

# A node is ("input", name) or ("call", output tensor name); its operation is the
# input's or the layer's name (inputs and layers share Keras's namespace).
Node = tuple[str, str]


def keras_layer_order(spec: Spec, graph: GraphFacts) -> list[str]:
    """Names of the inputs and called layers, in Keras's ``model.layers`` order."""
    inputs = spec.input_map

    def node_of(tensor: str) -> Node | None:
        if tensor in inputs:
            return ("input", tensor)
        if tensor in graph.producer and tensor not in graph.broken:
            return ("call", tensor)
        return None

    def operation(node: Node) -> str:
        return node[1] if node[0] == "input" else graph.producer[node[1]].layer

    # Each node's parents, worked out once: a merge of n inputs is resumed n times in
    # the walk below, and recomputing its list each time made the walk quadratic.
    known: dict[Node, list[Node]] = {}

    def parents(node: Node) -> list[Node]:
        kids = known.get(node)
        if kids is None:
            if node[0] == "input":
                kids = []
            else:
                found = (node_of(ref.name) for ref in graph.producer[node[1]].refs())
                kids = [n for n in found if n is not None]
            known[node] = kids
        return kids

    # Depth-first from the outputs: numbers operations in pre-order, lists nodes in
    # post-order (inputs first), like _build_map.
    index: dict[str, int] = {}
    post_order: list[Node] = []
    finished: set[Node] = set()
    outputs = sorted((o for o in spec.outputs if o.tensor is not None), key=lambda o: o.name)
    for out in outputs:
        start = node_of(out.tensor.name)
        if start is None or start in finished:
            continue
        stack: list[tuple[Node, int]] = [(start, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                if node in finished:
                    continue
                index.setdefault(operation(node), len(index))
            kids = parents(node)
            # Skip parents already finished, as the recursive walk returns at once.
            while i < len(kids) and kids[i] in finished:
                i += 1
            if i < len(kids):
                stack.append((node, i + 1))
                stack.append((kids[i], 0))
            else:
                finished.add(node)
                post_order.append(node)

    node_depth: dict[Node, int] = {}
    op_depth: dict[str, int] = {}
    for node in reversed(post_order):
        op = operation(node)
        depth = max(node_depth.get(node, 0), op_depth.get(op, 0))
        op_depth[op] = node_depth[node] = depth
        for parent in parents(node):
            if node_depth.get(parent, 0) <= depth:
                node_depth[parent] = depth + 1
    for name in inputs:
        if name not in op_depth:
            op_depth[name] = 0
            index[name] = -1
    return sorted(op_depth, key=lambda op: (-op_depth[op], index[op]))
