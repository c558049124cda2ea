"""Graph checks: undefined tensors, cycles, reachability, unused parts.

``check_graph(spec) -> (GraphFacts, diagnostics)``. The facts hold the order in
which calls can run and which tensors are *broken* (in a cycle, or fed by one, or by
an undefined name): later passes skip those rather than report the same root
cause again.

Order and cycles come from :mod:`graphlib`, which is iterative: a 100,000-step
chain does not hit the recursion limit.

Example::

    >>> facts, diags = check_graph(spec)   # doctest: +SKIP
    >>> [c.output for c in facts.order]    # doctest: +SKIP
    ['t1:0', 't1']
"""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from modelspec.errors import ERROR, WARNING, Diagnostic, did_you_mean
from modelspec.ir import Call, Spec, TensorRef

MAX_CYCLES = 10
MAX_SUGGESTIONS = 20


@dataclass(frozen=True, slots=True)
class GraphFacts:
    order: tuple[Call, ...]  # calls in an order where every input comes first
    producer: dict[str, Call]  # tensor name -> the call that makes it
    broken: frozenset[str] = field(default_factory=frozenset)  # tensors we cannot reason about
    live: frozenset[str] = field(default_factory=frozenset)  # tensors some output needs


def _cycle_text(cycle: list[str]) -> str:
    """``a -> b -> c -> a``; a long one keeps its ends: ``a -> b -> ... (96 more) -> y -> a``."""
    if len(cycle) > 8:
        middle = len(cycle) - 6
        cycle = [*cycle[:3], f"... ({middle} more)", *cycle[-3:]]
    return " -> ".join(cycle)


def check_graph(spec: Spec) -> tuple[GraphFacts, list[Diagnostic]]:
    diags: list[Diagnostic] = []
    inputs = spec.input_map
    producer: dict[str, Call] = {}
    for call in spec.calls:
        producer[call.output] = call
    steps: dict[str, list[Call]] = {}
    for call in spec.calls:
        steps.setdefault(call.step, []).append(call)
    # A step that failed the schema still defines its name: refer to it and you get
    # an unknown shape, not a second error.
    malformed = set(spec.steps) - set(producer)
    known = set(inputs) | set(producer) | malformed
    user_names = set(inputs) | set(spec.steps)

    broken: set[str] = set(malformed)
    suggestions = [MAX_SUGGESTIONS]
    sorted_names = sorted(user_names)

    def check_ref(ref: TensorRef, what: str) -> bool:
        if ref.name in known:
            return True
        # Each suggestion compares against every name: cap them, or a spec with
        # thousands of dangling references takes minutes.
        hint = did_you_mean(ref.name, sorted_names) if suggestions[0] > 0 else None
        suggestions[0] -= 1
        if ref.name in spec.layers:
            hint = f"'{ref.name}' is a layer; `to`/`from` take tensors: an input or a graph step"
        diags.append(
            Diagnostic.at(
                ERROR,
                "MS201",
                f"undefined tensor '{ref.name}' {what}",
                ref.source,
                hint or "name an input or a step of the graph",
            )
        )
        return False

    # Dependencies between calls: a call depends on the calls that make its inputs.
    deps: dict[str, set[str]] = {}
    for call in spec.calls:
        wanted = set()
        of_step = f"of step '{call.step}'"
        names = call.names or ("",) * len(call.inputs)
        reads = [
            (ref, f"in `to: {name}` {of_step}" if name else f"in the input {of_step}")
            for ref, name in zip(call.inputs, names, strict=True)
        ]
        reads += [
            (ref, f"in `call: {kw.name}` of step '{call.step}'")
            for kw in call.kwargs
            for ref in kw.refs()
        ]
        for ref, what in reads:
            if check_ref(ref, what):
                if ref.name in producer:
                    wanted.add(ref.name)
            else:
                broken.add(call.output)
        deps[call.output] = wanted

    # Cycles: one pass over strongly connected components finds every tensor that may
    # be on a cycle. graphlib then names the cycles of each component, one per
    # prepare(), cutting each out and looking again. On the whole graph, each prepare()
    # would cost the whole graph: 20,000 self-loops took minutes.
    cycles = 0
    cyclic: dict[str, int] = {}  # tensor in a cycle -> line of that cycle's report
    position = {c.output: i for i, c in enumerate(spec.calls)}
    components = [sorted(c, key=position.__getitem__) for c in _cyclic_components(deps)]
    components.sort(key=lambda c: position[c[0]])
    unreported: dict[str, set[str]] = {}
    for component in components:
        region = set(component)
        work = {k: deps[k] & region for k in component}
        while work:
            if cycles >= MAX_CYCLES:
                unreported.update(work)
                break
            sorter = graphlib.TopologicalSorter(work)
            try:
                sorter.prepare()
                break
            except graphlib.CycleError as exc:
                cycle = exc.args[1]
                cycles += 1
                members = set(cycle)
                # graphlib lists the cycle in data-flow order, first node repeated at the
                # end; show steps, not the hidden tensors inside a chain.
                steps_in_cycle: list[str] = []
                for name in cycle:
                    step = producer[name].step
                    if not steps_in_cycle or steps_in_cycle[-1] != step:
                        steps_in_cycle.append(step)
                if len(steps_in_cycle) == 1:
                    steps_in_cycle.append(steps_in_cycle[0])
                first = producer[cycle[0]]
                diags.append(
                    Diagnostic.at(
                        ERROR,
                        "MS204",
                        f"cycle in the graph: {_cycle_text(steps_in_cycle)}",
                        first.source,
                        "a tensor cannot depend on itself; break the loop",
                    )
                )
                broken |= members
                cyclic.update(dict.fromkeys(members, first.source.line))
                work = {
                    k: {d for d in v if d not in members}
                    for k, v in work.items()
                    if k not in members
                }
    # Past the reported ones, every loop left is cut at once.
    for component in _cyclic_components(unreported):
        cycles += 1
        broken.update(component)
        cyclic.update(dict.fromkeys(component, producer[component[-1]].source.line))
    work = {k: {d for d in v if d not in cyclic} for k, v in deps.items() if k not in cyclic}
    if cycles > MAX_CYCLES:
        src = spec.source
        diags.append(
            Diagnostic.at(ERROR, "MS204", f"... and {cycles - MAX_CYCLES} more cycles", src)
        )

    # Spec order when it already is a valid order (the common case, and the one a reader
    # expects in generated code); graphlib's order otherwise.
    in_order = all(position[d] < position[k] for k, v in work.items() for d in v)
    if in_order:
        names = [c.output for c in spec.calls if c.output in work]
    else:
        names = list(graphlib.TopologicalSorter(work).static_order())
    # Taint flows forward: anything fed by a broken tensor is broken too.
    for name in names:
        if any(d in broken for d in deps[name]):
            broken.add(name)
        for d in deps[name]:
            if d in cyclic:
                cyclic.setdefault(name, cyclic[d])
    order = tuple(producer[n] for n in names)

    # Outputs, and what they need.
    live: set[str] = set()
    used_inputs: set[str] = set()
    # NOTE: [unused after an error]
    # "Step s is not used" and "input x does not reach an output" claim that no output
    # needs them. An output whose way back to the inputs meets an error (an undefined
    # name, a step with errors, a cycle) may have been meant to use any of them: the
    # fix of that one mistake (`from: densef` -> `from: t1`, `to: inptu` -> `to: input`)
    # is what makes them used. So while some output's sources are unknown, unused steps
    # and inputs are not reported; they are once the error is fixed.
    unknown = False
    for out in spec.outputs:
        if out.tensor is None:
            unknown = True  # no `from:`, or not a name: reported by the schema or parser
            continue
        if not check_ref(out.tensor, f"in output '{out.name}'"):
            unknown = True
            continue
        if out.tensor.name in cyclic:
            # Undefined names are reported where they are written; a cycle is reported
            # once, so say which outputs it cuts off.
            diags.append(
                Diagnostic.at(
                    ERROR,
                    "MS214",
                    f"output '{out.name}' cannot be computed from the inputs: "
                    f"'{out.tensor.name}' depends on the cycle reported at line {cyclic[out.tensor.name]}",
                    out.source,
                )
            )
        if not _mark_live(out.tensor.name, producer, live, used_inputs, inputs, broken):
            unknown = True
    if unknown:
        return GraphFacts(order, producer, frozenset(broken), frozenset(live)), diags

    read = {ref.name for c in spec.calls for ref in c.refs()}
    for name, inp in inputs.items():
        if name not in used_inputs and spec.outputs:
            what = "is never used" if name not in read else "does not reach any output"
            diags.append(
                Diagnostic.at(
                    WARNING,
                    "MS212",
                    f"input '{name}' {what}",
                    inp.source,
                    "Keras still expects data for it in fit and predict; remove it or use it",
                )
            )
    for step, calls in steps.items():
        last = calls[-1]
        if last.output not in live and last.output not in broken and spec.outputs:
            diags.append(
                Diagnostic.at(
                    WARNING,
                    "MS211",
                    f"step '{step}' is computed but no output uses it",
                    calls[0].source,
                    "return it under `outputs:` or remove it",
                )
            )
    return GraphFacts(order, producer, frozenset(broken), frozenset(live)), diags


def _cyclic_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` that hold a cycle (Tarjan's
    algorithm, iterative: a 100,000-step chain does not hit the recursion limit).

    >>> _cyclic_components({"a": {"b"}, "b": {"a"}, "c": {"c"}, "d": {"a"}})
    [['b', 'a'], ['c']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        todo = [(root, iter(graph[root]))]
        while todo:
            node, children = todo[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    todo.append((child, iter(graph[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                todo.pop()
                if todo:
                    parent = todo[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph[node]:
                        found.append(component)
    return found


def _mark_live(
    start: str,
    producer: dict[str, Call],
    live: set[str],
    used_inputs: set[str],
    inputs: Iterable[str],
    broken: Collection[str] = (),
) -> bool:
    """Walk back from ``start`` (iteratively) marking what it needs; whether every
    tensor on the way is known: defined, and neither broken nor made by a step with
    errors (which makes no calls)."""
    input_set = set(inputs)
    known = True
    stack = [start]
    while stack:
        name = stack.pop()
        if name in live:
            continue
        live.add(name)
        if name in input_set:
            used_inputs.add(name)
            continue
        call = producer.get(name)
        if call is None or name in broken:
            known = False
        if call is None:
            continue
        for ref in call.refs():
            if ref.name in input_set:
                used_inputs.add(ref.name)
            elif ref.name not in live:
                stack.append(ref.name)
    return known


def stable_order(
    nodes: Iterable[Hashable],
    needs: Callable[[Any], Iterable[Hashable]],
    rank: Callable[[Any], Any] | None = None,
) -> list[Any]:
    """``nodes`` in a topological order that keeps the order of ``rank`` wherever the
    dependencies leave a choice: of the nodes whose needs are met, the one of lowest
    rank goes first (Kahn's algorithm with a heap), so a step moves only as far as its
    inputs require. ``rank`` must tell every two nodes apart (default: the order of
    ``nodes``). Needs outside ``nodes``
    are ignored; a node on a cycle, or after one, is left out, so a shorter list
    means a cycle. ``graphlib`` gives an order, but not this one."""
    members = list(dict.fromkeys(nodes))
    known = set(members)
    waiting: dict[Any, int] = {}
    readers: dict[Any, list[Any]] = {}
    for node in members:
        deps = {d for d in needs(node) if d in known}
        waiting[node] = len(deps)
        for dep in deps:
            readers.setdefault(dep, []).append(node)
    position = {n: i for i, n in enumerate(members)}
    rank = rank or position.__getitem__
    ready = [(rank(n), i, n) for i, n in enumerate(members) if not waiting[n]]
    heapq.heapify(ready)
    out = []
    while ready:
        node = heapq.heappop(ready)[2]
        out.append(node)
        for later in readers.get(node, ()):
            waiting[later] -= 1
            if not waiting[later]:
                heapq.heappush(ready, (rank(later), position[later], later))
    return out


@dataclass(frozen=True, slots=True)
class StackBreak:
    """Where a graph stops being a plain stack (one input, one output, each call reading
    the one before it): what a Sequential model can hold.

    ``kind`` is one of ``inputs``/``outputs`` (``count`` of them), ``shared`` (the call at
    ``at`` is one of ``count`` calls of its layer), ``fan_in`` (it reads ``count``
    tensors), ``index`` (it reads one of several outputs), ``fork`` (it reads another
    tensor than the call before it's), ``several`` (it returns ``count`` tensors), or
    ``output`` (the output is not the last call's).
    """

    kind: str
    count: int = 0
    at: int = -1


class Ref(NamedTuple):
    """A tensor a call reads, or a graph returns: ``name[index]``, ``index`` None for
    the whole of a single-output call (:class:`~modelspec.ir.TensorRef` has the same
    two fields)."""

    name: str
    index: int | None


def stack_break(
    inputs: Sequence[str],
    calls: Iterable[tuple[str, Sequence[Any], str, int, int, bool]],
    outputs: Sequence[Any],
    calls_of: Mapping[str, int],
) -> StackBreak | None:
    """The first :class:`StackBreak` of a graph, or None for a plain stack.

    ``calls`` are ``(layer, inputs, output, tensors returned, call arguments, op)`` in
    order (``op``: an op step's call, which no ``keras.Sequential`` can hold), each input a
    :class:`Ref` or a :class:`~modelspec.ir.TensorRef`; ``outputs`` are what the graph
    returns (None for an output that reads nothing); ``calls_of`` counts each layer's
    calls. ``calls`` may be lazy: it is read only up to the first break. The plan and
    the nested-model pass both ask this, each in its own words.
    """
    if len(inputs) != 1:
        return StackBreak("inputs", len(inputs))
    if len(outputs) != 1:
        return StackBreak("outputs", len(outputs))
    previous = inputs[0]
    for at, (layer, reads, output, returns, arguments, op) in enumerate(calls):
        if op:
            return StackBreak("op", at=at)
        if calls_of[layer] > 1:
            return StackBreak("shared", calls_of[layer], at)
        if arguments:
            return StackBreak("arguments", arguments, at)
        if len(reads) != 1:
            return StackBreak("fan_in", len(reads), at)
        if reads[0].index is not None:
            return StackBreak("index", at=at)
        if reads[0].name != previous:
            return StackBreak("fork", at=at)
        if returns != 1:
            return StackBreak("several", returns, at)
        previous = output
    out = outputs[0]
    if out is None or out.index is not None or out.name != previous:
        return StackBreak("output")
    return None
