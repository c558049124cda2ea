"""The ``graph`` target: a checked spec as a diagram, in Graphviz DOT or Mermaid.

:func:`diagram` turns a checked spec into a small, format-free :class:`Diagram` --
nodes, edges and clusters -- and :func:`to_dot` / :func:`to_mermaid` write it out.
:func:`render` hands DOT to Graphviz's ``dot`` program for SVG and PNG.

What the drawing makes plain, where Keras's ``plot_model`` does not:

- **Sharing.** One node per *call*, not per layer: a layer called twice is drawn
  twice, both nodes in the colour of that definition and marked ``call i/n``, so the
  two paths through it stay untangled and the shared weights are still obvious.
- **Steps.** A graph step that applies a chain of layers is drawn as a cluster
  named after the step.
- **Merges** are drawn as their own shape and named by kind (``Add``,
  ``Concatenate``).
- **Edges** carry the shape of the tensor that flows along them, batch axis
  included, as ``model.summary()`` prints it; ``shapes=False`` leaves them off.
- **Outputs** show their loss and loss weight.

Node ids are ``n0``, ``n1``, ...: names never appear in an id, only in quoted labels,
so no spec name can change the structure of the DOT or Mermaid text.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.emit.summary import shape_text
from modelspec.ir import TensorRef
from modelspec.passes.result import Result

# Fill colours for shared definitions (ColorBrewer's Pastel1 and Set3, light enough
# for black text). More shared layers than colours reuse them in turn: the
# ``call i/n`` mark and the name still tell them apart.
PALETTE = (
    "#fbb4ae", "#b3cde3", "#ccebc5", "#decbe4", "#fed9a6", "#ffffcc", "#e5d8bd",
    "#fddaec", "#8dd3c7", "#bebada", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
)  # fmt: skip
PLAIN = "#ffffff"
INPUT = "#eeeeee"
OUTPUT = "#f5f5f5"

FORMATS = ("dot", "mmd", "svg", "png")


@dataclass(slots=True)
class Node:
    id: str
    kind: str  # "input", "layer", "merge", "block" (a closed block instance) or "output"
    lines: list[str]  # the label, line by line; the first is the name
    fill: str = PLAIN
    cluster: str | None = None
    layer: str | None = None  # the layer definition a call node is a call of


@dataclass(slots=True)
class Edge:
    src: str
    dst: str
    label: str = ""


@dataclass(slots=True)
class Cluster:
    id: str
    label: str
    parent: str | None = None  # the cluster this one is drawn inside


@dataclass(slots=True)
class Diagram:
    name: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    shared: dict[str, str] = field(default_factory=dict)  # shared layer -> its colour

    def by_cluster(self) -> dict[str | None, list[Node]]:
        """The nodes of each cluster, in order; ``None`` holds those in no cluster."""
        groups: dict[str | None, list[Node]] = {}
        for node in self.nodes:
            groups.setdefault(node.cluster, []).append(node)
        return groups


def _pick(value: Any, ref: TensorRef) -> Any:
    """The shape ``ref`` names: one of several outputs for ``name[i]``."""
    if isinstance(value, list):
        if ref.index is None:
            return value[0] if value else None
        return value[ref.index] if ref.index < len(value) else None
    return value


def _number(value: float) -> str:
    return f"{value:g}"


def diagram(result: Result, *, shapes: bool = True, expand: bool = False) -> Diagram:
    """The diagram of a checked spec (``result.ok``).

    Block instances are drawn closed, one box each, unless ``expand``: then each is a
    cluster of its calls, nested as the blocks are.
    """
    spec, graph, facts = result.spec, result.graph, result.shapes
    assert spec is not None and graph is not None and facts is not None
    d = Diagram(spec.name)
    ids: dict[str, str] = {}  # tensor name -> id of the node that makes it
    drawn: set[tuple[str, str, str]] = set()

    def new_id() -> str:
        return f"n{len(d.nodes)}"

    def edge(ref: TensorRef, dst: str) -> None:
        label = shape_text(_pick(facts.tensors.get(ref.name), ref)) if shapes else ""
        if ref.index is not None:
            label = f"[{ref.index}] {label}".strip()
        src = ids[ref.name]
        if src in closed or dst in closed:
            # A closed block: its inside is not drawn, and many uses of one tensor by its
            # calls are one edge into it.
            if src == dst or (src, dst, label) in drawn:
                return
            drawn.add((src, dst, label))
        d.edges.append(Edge(src, dst, label))

    for inp in spec.inputs:
        node = Node(new_id(), "input", [inp.name, f"Input {inp.dtype}"], INPUT)
        ids[inp.name] = node.id
        d.nodes.append(node)

    calls_of = Counter(call.layer for call in graph.order)
    for layer in dict.fromkeys(call.layer for call in graph.order):
        if calls_of[layer] > 1:
            d.shared[layer] = PALETTE[len(d.shared) % len(PALETTE)]

    steps = Counter(call.step for call in graph.order)
    clusters: dict[tuple[str, ...], str] = {}  # step, or chain of instances -> cluster id

    def cluster_of(key: tuple[str, ...], label: str, parent: str | None) -> str:
        if key not in clusters:
            clusters[key] = f"c{len(clusters)}"
            d.clusters.append(Cluster(clusters[key], label, parent))
        return clusters[key]

    # Closed blocks: one node per outermost instance, in the colour of the instance
    # whose layers it calls when it shares them.
    boxes: dict[str, str] = {}
    closed: set[str] = set()  # their node ids
    sizes = Counter(result.groups[c.step][0][0] for c in graph.order if c.step in result.groups)
    owner_colour: dict[str, str] = {}

    def box(instance: str, block: str) -> str:
        if instance not in boxes:
            lines = [instance, f"block {block}", f"{sizes[instance]} calls"]
            owner = result.shares.get(instance)
            fill = PLAIN
            if owner is not None or instance in result.shares.values():
                key = owner or instance
                if key not in owner_colour:
                    owner_colour[key] = PALETTE[(len(d.shared) + len(owner_colour)) % len(PALETTE)]
                fill = owner_colour[key]
                lines.append(f"shares {owner}'s weights" if owner else "weights shared")
            node = Node(new_id(), "block", lines, fill)
            d.nodes.append(node)
            boxes[instance] = node.id
            closed.add(node.id)
        return boxes[instance]

    seen: Counter[str] = Counter()
    for call in graph.order:
        chain = result.groups.get(call.step, ())
        if chain and not expand:
            node_id = box(*chain[0])
            for ref in call.refs():
                if ref.name in ids:
                    edge(ref, node_id)
            ids[call.output] = node_id
            continue
        layer = spec.layers[call.layer]
        ltype = LAYER_TYPES.get(layer.type)
        kind = "merge" if ltype is not None and ltype.is_merge else "layer"
        lines = [call.layer, layer.type]
        seen[call.layer] += 1
        if call.layer in d.shared:
            lines.append(f"shared, call {seen[call.layer]}/{calls_of[call.layer]}")
        cluster = None
        if chain:
            for depth, (instance, block) in enumerate(chain):
                key = tuple(name for name, _ in chain[: depth + 1])
                cluster = cluster_of(key, f"{instance} (block {block})", cluster)
        elif steps[call.step] > 1:
            cluster = cluster_of((call.step,), call.step, None)
        node = Node(new_id(), kind, lines, d.shared.get(call.layer, PLAIN), cluster, call.layer)
        d.nodes.append(node)
        for ref in call.refs():
            if ref.name in ids:
                edge(ref, node.id)
        ids[call.output] = node.id

    for out in spec.outputs:
        lines = [out.name, "output"]
        loss = out.loss if isinstance(out.loss, str) or out.loss is None else out.loss.get("type")
        if loss is not None:
            lines.append(f"loss: {loss}")
        if out.loss_weight is not None:
            lines.append(f"weight: {_number(out.loss_weight)}")
        node = Node(new_id(), "output", lines, OUTPUT)
        d.nodes.append(node)
        if out.tensor is not None and out.tensor.name in ids:
            edge(out.tensor, node.id)
    return d


# --- Graphviz DOT ---------------------------------------------------------------------


def _dot_quote(text: str) -> str:
    """A DOT double-quoted string. Backslashes are doubled so that none starts one of
    Graphviz's label escapes (``\\N``, ``\\G``, ``\\l``)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_DOT_SHAPES = {
    "input": "ellipse",
    "layer": "box",
    "merge": "hexagon",
    "block": "box3d",
    "output": "note",
}


def _dot_node(node: Node, indent: str) -> str:
    label = "\\n".join(
        line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") for line in node.lines
    )
    attrs = f'label="{label}", shape={_DOT_SHAPES[node.kind]}, fillcolor="{node.fill}"'
    if node.kind == "layer":
        attrs += ', style="rounded,filled"'
    return f"{indent}{node.id} [{attrs}];"


def to_dot(d: Diagram) -> str:
    """Graphviz DOT text, top to bottom."""
    out = [
        "// Generated by modelspec",
        "digraph model {",
        f'  label={_dot_quote(d.name)}; labelloc=t; rankdir=TB; fontname="Helvetica";',
        '  node [fontname="Helvetica", fontsize=11, style=filled];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    by_cluster = d.by_cluster()
    for node in by_cluster.get(None, []):
        out.append(_dot_node(node, "  "))

    def emit(parent: str | None, indent: str) -> None:
        for cluster in d.clusters:
            if cluster.parent != parent:
                continue
            out.append(f"{indent}subgraph cluster_{cluster.id} {{")
            out.append(
                f'{indent}  label={_dot_quote(cluster.label)}; style="dashed,rounded"; color="#888888";'
            )
            for node in by_cluster.get(cluster.id, []):
                out.append(_dot_node(node, indent + "  "))
            emit(cluster.id, indent + "  ")
            out.append(f"{indent}}}")

    emit(None, "  ")
    for e in d.edges:
        label = f" [label={_dot_quote(e.label)}]" if e.label else ""
        out.append(f"  {e.src} -> {e.dst}{label};")
    out.append("}")
    return "\n".join(out) + "\n"


# --- Mermaid --------------------------------------------------------------------------


def _mmd_text(text: str) -> str:
    """Text for a quoted Mermaid label: entity codes for what would end or mark it up."""
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text.replace("\n", " ")


_MMD_SHAPES = {
    "input": ('(["', '"])'),
    "layer": ('("', '")'),
    "merge": ('{{"', '"}}'),
    "block": ('[["', '"]]'),
}
_MMD_SHAPES["output"] = ('[/"', '"/]')


def to_mermaid(d: Diagram) -> str:
    """Mermaid flowchart text, which GitHub renders in Markdown."""
    out = [
        "%% Generated by modelspec",
        "---",
        f"title: {_mmd_text(d.name)}",
        "---",
        "flowchart TB",
    ]
    by_cluster = d.by_cluster()

    def node_line(node: Node, indent: str) -> str:
        left, right = _MMD_SHAPES[node.kind]
        label = "<br>".join(_mmd_text(line) for line in node.lines)
        return f"{indent}{node.id}{left}{label}{right}"

    out += [node_line(node, "  ") for node in by_cluster.get(None, [])]

    def emit(parent: str | None, indent: str) -> None:
        for cluster in d.clusters:
            if cluster.parent != parent:
                continue
            out.append(f'{indent}subgraph {cluster.id}["{_mmd_text(cluster.label)}"]')
            out.extend(node_line(node, indent + "  ") for node in by_cluster.get(cluster.id, []))
            emit(cluster.id, indent + "  ")
            out.append(f"{indent}end")

    emit(None, "  ")
    for e in d.edges:
        label = f'|"{_mmd_text(e.label)}"|' if e.label else ""
        out.append(f"  {e.src} -->{label} {e.dst}")
    out.append("  classDef input fill:#eeeeee,stroke:#666666")
    out.append("  classDef output fill:#f5f5f5,stroke:#666666")
    for kind in ("input", "output"):
        members = [n.id for n in d.nodes if n.kind == kind]
        if members:
            out.append(f"  class {','.join(members)} {kind}")
    for node in d.nodes:
        if node.kind == "block" and node.fill != PLAIN:
            out.append(f"  style {node.id} fill:{node.fill},stroke:#333333")
    for i, (layer, colour) in enumerate(d.shared.items()):
        members = [n.id for n in d.nodes if n.layer == layer]
        out.append(f"  classDef shared{i} fill:{colour},stroke:#333333")
        out.append(f"  class {','.join(members)} shared{i}")
    return "\n".join(out) + "\n"


# --- Rendering ------------------------------------------------------------------------


class RenderError(Exception):
    """Graphviz is missing or failed; the message says what to do."""


def render(dot_text: str, fmt: str, *, timeout: float = 120) -> bytes:
    """SVG or PNG bytes from DOT text, through Graphviz's ``dot`` program."""
    exe = shutil.which("dot")
    if exe is None:
        raise RenderError(
            f"writing .{fmt} needs Graphviz's `dot` program, which is not on PATH: install "
            "Graphviz (apt-get install graphviz, brew install graphviz, or "
            "https://graphviz.org/download/), or write .dot or .mmd, which need nothing"
        )
    try:
        proc = subprocess.run(
            [exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise RenderError(f"Graphviz took longer than {timeout:g} s; write .dot instead") from None
    if proc.returncode != 0 or not proc.stdout:
        message = proc.stderr.decode(errors="replace").strip() or f"exit code {proc.returncode}"
        raise RenderError(f"Graphviz failed: {message}")
    return proc.stdout
