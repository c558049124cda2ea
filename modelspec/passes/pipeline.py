"""The passes, in the order they run on the IR (:data:`PASSES`).

Each pass takes the :class:`~modelspec.passes.result.Result` so far, may write its
facts into it, and returns its diagnostics; one that needs an earlier pass's facts
comes after it. A pass never raises for a bad spec. :func:`modelspec.check.check_document`
runs them after reading, composition, the schema and parsing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelspec.errors import Diagnostic
from modelspec.ir import Spec, split_ref
from modelspec.lower.parse import unused_layers
from modelspec.passes.distribution import check_distribution
from modelspec.passes.graph import check_graph
from modelspec.passes.precision import check_precision
from modelspec.passes.result import Result
from modelspec.passes.shapes import infer_shapes
from modelspec.passes.state import check_index_ranges, check_state
from modelspec.passes.training import check_callback_paths, check_losses, check_training
from modelspec.passes.weights import check_weights


def _unused_layers(spec: Spec, data: Any, diags: list[Diagnostic]) -> list[Diagnostic]:
    """MS213, less what follows from another error (NOTE: [unused after an error] in
    modelspec/passes/graph.py): nothing while an `apply` names a layer that is not
    there (it may have meant any uncalled one), and never a layer the spec names in a
    step or an output, whose step failed (and said why) or which names a layer where a
    tensor belongs (MS201 says so)."""
    unused = list(unused_layers(spec))
    if not unused or any(d.code == "MS202" for d in diags):
        return []
    named = _names_used(data)
    return [d for d in unused if d.path[-1:] and d.path[-1] not in named]


def _names_used(data: Any) -> set[str]:
    """The names the graph's `apply` and `to`, `sequential` and the outputs' `from`
    write, without a tensor index."""
    written: list[Any] = []
    if isinstance(data, dict):
        graph = data.get("graph")
        for step in graph.values() if isinstance(graph, dict) else ():
            if isinstance(step, dict):
                for key in ("apply", "to"):
                    value = step.get(key)
                    if isinstance(value, dict) and key == "to":  # named inputs
                        value = list(value.values())
                    written += value if isinstance(value, list) else [value]
        sequential = data.get("sequential")
        written += sequential if isinstance(sequential, list) else []
        outputs = data.get("outputs")
        for out in outputs.values() if isinstance(outputs, dict) else ():
            written.append(out.get("from") if isinstance(out, dict) else None)
    return {split_ref(name)[0] for name in written if isinstance(name, str)}


# One pass: the result so far -> its diagnostics.
Pass = Callable[[Result], list[Diagnostic]]


def _graph(result: Result) -> list[Diagnostic]:
    result.graph, diags = check_graph(result.spec)
    return diags


def _unused(result: Result) -> list[Diagnostic]:
    return _unused_layers(result.spec, result.doc.data, result.diagnostics)


def _custom(result: Result) -> list[Diagnostic]:
    if not result.spec.custom:
        return []
    from modelspec.catalog.custom import check_custom

    used = {layer.type for layer in result.spec.layers.values()}
    return check_custom(result.spec.custom, used, result.project)


def _state(result: Result) -> list[Diagnostic]:
    diags, unsized = check_state(result.spec, result.graph, skip_layers=result.skip_layers)
    # A layer whose output size is learned in training has no shape to check what
    # follows against: it is skipped, so MS318 is the one message about it.
    result.skip_layers = result.skip_layers | unsized
    return diags


def _shapes(result: Result) -> list[Diagnostic]:
    result.shapes, diags = infer_shapes(
        result.spec, result.graph, skip_layers=result.skip_layers, project=result.project
    )
    return diags


def _precision(result: Result) -> list[Diagnostic]:
    return check_precision(
        result.spec,
        result.graph,
        result.shapes,
        doc=result.doc,
        skip_layers=result.skip_layers,
    )


def _indices(result: Result) -> list[Diagnostic]:
    return check_index_ranges(
        result.spec, result.graph, result.shapes, skip_layers=result.skip_layers
    )


def _training(result: Result) -> list[Diagnostic]:
    return check_training(result.spec)


def _losses(result: Result) -> list[Diagnostic]:
    return check_losses(result.spec, result.graph, result.shapes, skip_layers=result.skip_layers)


def _callbacks(result: Result) -> list[Diagnostic]:
    return check_callback_paths(result.doc, result.spec)


def _weights(result: Result) -> list[Diagnostic]:
    return check_weights(result.spec, result.project, result.shapes.params)


def _nesting(result: Result) -> list[Diagnostic]:
    """Nested models: the flat graph regrouped into the keras.Models that hold it, once
    the flat graph is sound."""
    if not result.models or not result.ok:
        return []
    from modelspec.passes.nested import nest

    result.nesting, diags = nest(
        result.spec, result.graph, result.shapes, result.models, result.groups
    )
    return diags


def _distribution(result: Result) -> list[Diagnostic]:
    """The ``distribution:`` section; a model_parallel layout against the model's
    weights, once the model is sound (their paths and shapes need every earlier fact)."""
    dist = result.spec.distribution
    if not dist:
        return []
    if dist.get("strategy") != "model_parallel" or not dist.get("layout") or not result.ok:
        return check_distribution(result)
    from modelspec.passes.variables import model_variables

    variables, unknown = model_variables(result)
    return check_distribution(result, variables, unknown)


PASSES: tuple[Pass, ...] = (
    _graph,  # order, broken tensors, live tensors (GraphFacts)
    _unused,  # layers no step calls
    _custom,  # the custom: declarations
    _state,  # preprocessing state, given or learned by adapt
    _shapes,  # every tensor's shape, every layer's parameters (ShapeFacts)
    _precision,  # dtype policies and quantization against what Keras can do
    _indices,  # lookups' indices against the input_dim of the embeddings they feed
    _training,  # compile, optimizer, metrics
    _losses,  # each output's loss against its activation and shape
    _callbacks,  # where callbacks may write
    _weights,  # the weights: section against the layers
    _nesting,  # the levels of nested models (NestFacts)
    _distribution,  # the mesh and layout against the weights
)
