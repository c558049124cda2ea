"""The live target: a build plan -> a ``keras.Model``, with no generated text in between.

It follows the plan exactly as :mod:`modelspec.emit.keras_py` writes it out: the
same constructors with the same kwargs, created in the same order, called in the
same order, so the generated module and this build give equal ``get_config()`` and,
with a seed, equal weights (``tests/test_build.py``).

Only :class:`~modelspec.lower.plan.Ctor` names reach Keras, and a ``Ctor`` can only name
what the catalogue lists; kwargs are plain values. Nothing goes through Keras's
deserializer. Keras is imported on first use.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from modelspec.catalog.ops import OPS
from modelspec.catalog.subscript import parse_index
from modelspec.ir import TensorArg
from modelspec.lower.plan import Ctor, Plan
from modelspec.runtime.quiet import quiet_import


def verify_custom(plan: Plan) -> None:
    """Raise :class:`~modelspec.errors.SpecError` (MS326) before anything is built if a
    custom type's class is not a Keras layer class (see NOTE: [layer classes, not
    callables] in :mod:`modelspec.catalog.custom`)."""
    if plan.custom:
        from modelspec.catalog.custom import check_layer_classes
        from modelspec.errors import SpecError

        diags = check_layer_classes(
            {ct.name: ct for ct in plan.custom}, {ct.name for ct in plan.custom}
        )
        if diags:
            raise SpecError(diags)


def make(value: Any) -> Any:
    """A plan value as a Keras object: constructors are called, containers rebuilt."""
    import keras

    if isinstance(value, Ctor) and value.module is not None:
        # A custom class: the plan made this Ctor only for a module the project allows.
        import importlib

        cls = getattr(importlib.import_module(value.module), value.cls.rpartition(".")[2])
        return cls(**{k: make(v) for k, v in value.kwargs})
    if isinstance(value, Ctor):
        cls = getattr(getattr(keras, value.namespace), value.cls)
        return cls(**{k: make(v) for k, v in value.kwargs})
    if isinstance(value, dict):
        return {k: make(v) for k, v in value.items()}
    if isinstance(value, list):
        return [make(v) for v in value]
    if isinstance(value, tuple):
        return tuple(make(v) for v in value)
    return value


def _op(ctor: Ctor, operands: list[Any]) -> Any:
    """An op step on Keras tensors, as the generated module writes it: ``keras.ops.NAME``
    (a name in the catalogue, which ``Ctor`` checked), or ``x[...]`` for ``get_item``."""
    import keras

    kwargs = dict(ctor.kwargs)
    if ctor.cls == "get_item":
        index = parse_index(kwargs.pop("index"))
        return operands[0][index[0] if len(index) == 1 else index]
    if OPS[ctor.cls].operands == "list":
        operands = [operands]
    return getattr(keras.ops, ctor.cls)(*operands, **kwargs)


def _input(inp: Any) -> Any:
    import keras

    return keras.Input(**inp.kwargs())


def compile_model(model: Any, plan: Plan) -> None:
    """``model.compile`` with the plan's arguments; a fresh optimizer every time."""
    if plan.compile is not None:
        model.compile(**{k: make(v) for k, v in plan.compile})


def quantize(model: Any, plan: Plan) -> None:
    """The plan's ``model.quantize()`` calls, as the generated module makes them."""
    import warnings

    for q in plan.quantize:
        names = q.names
        kwargs = {}
        if names is not None:
            kwargs["filters"] = lambda layer, names=names, only=q.only: (
                (layer.name in names) == only
            )
        with warnings.catch_warnings():
            # Keras warns for every layer it passes over ("does not have a `quantize`
            # method"): lint has said which layers are quantized.
            warnings.simplefilter("ignore", UserWarning)
            model.quantize(q.mode, **kwargs)


@contextlib.contextmanager
def recursion_limit(limit: int | None) -> Iterator[None]:
    """Python's recursion limit raised to at least ``limit`` inside the block, as the
    generated ``build_model()`` does for a deep model (None: left alone)."""
    before = sys.getrecursionlimit()
    if limit is not None and limit > before:
        sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def to_keras(
    plan: Plan,
    form: str = "auto",
    *,
    compile: bool = True,
    weights: Any = None,
    weights_map: Any = None,
    skip_mismatch: bool | None = None,
    quantized: bool = True,
) -> Any:
    """Build ``plan`` as a Sequential or Functional ``keras.Model`` (``form`` as in ``build``).

    A deep plan is built under the recursion limit it needs (see the note on deep models
    in :mod:`modelspec.lower.plan`). Weights are then loaded by layer name, as
    :func:`modelspec.runtime.weights.load_planned` says: by default from the spec's ``weights:``;
    ``weights=False`` starts from fresh weights. The plan's ``model.quantize()`` calls
    come after the weights, as in the generated module (Keras quantizes the weights a
    layer holds); ``quantized=False`` leaves them to the caller, with ``compile``: a
    caller that loads weights itself quantizes (:func:`quantize`) and compiles
    (:func:`compile_model`) after it.
    """
    keras = quiet_import("keras")
    verify_custom(plan)
    chosen = plan.choose_form(form)
    if form == "auto" and chosen == "sequential" and "." in plan.name:
        # Keras on PyTorch cannot build a Sequential whose name holds a "." (a torch
        # module name may not: KeyError), as keras.applications names MobileNet
        # (mobilenet_0.25_224); the Functional form of the same model builds.
        chosen = "functional" if keras.backend.backend() == "torch" else chosen
    form = chosen
    with recursion_limit(plan.recursion_limit):
        model = _build(plan, form)
        if weights is not False and (weights is not None or plan.weights is not None):
            from modelspec.runtime.weights import load_planned

            load_planned(model, plan.weights, weights, weights_map, skip_mismatch)
        if quantized:
            quantize(model, plan)
        if compile:
            compile_model(model, plan)
    return model


def _build(plan: Plan, form: str) -> Any:
    # Nested models first, each after those it calls: each is called like a layer.
    models: dict[str, Any] = {}
    for m in plan.models:
        models[m.name] = _level(
            m.form,
            m.keras_name,
            m.inputs,
            m.layers,
            m.calls,
            models,
            [(o, o) for o in m.outputs],
            nested=True,
        )
    if form == "sequential":
        return _level(form, plan.name, plan.inputs, plan.layers, plan.calls, models, [])
    outputs = [(o.name, o.tensor) for o in plan.outputs]
    return _level(form, plan.name, plan.inputs, plan.layers, plan.calls, models, outputs)


def _level(form: str, name: str, inputs: Any, layers: Any, calls: Any, models: dict[str, Any],
           outputs: list[tuple[Any, Any]], *, nested: bool = False) -> Any:  # fmt: skip
    """One ``keras.Model``: the whole model, or a nested one (inputs and outputs as a
    tensor or a list, where the whole model's are keyed by name)."""
    import keras

    if form == "sequential":
        stack = [
            models[c.layer] if c.layer in models else make(layers[c.layer].ctor) for c in calls
        ]
        return keras.Sequential([_input(inputs[0]), *stack], name=name)
    tensors: dict[str, Any] = {i.name: _input(i) for i in inputs}
    # Shared layers first, then each other layer where it is called: the order
    # the generated module creates them in.
    shared = {n: make(p.ctor) for n, p in layers.items() if p.calls > 1}

    def tensor(name: str, index: int | None) -> Any:
        value = tensors[name]
        return value if index is None else value[index]

    def argument(value: Any) -> Any:
        if isinstance(value, TensorArg):
            return tensor(value.name, value.index)
        if isinstance(value, tuple):
            return [argument(v) for v in value]
        return value

    for c in calls:
        if c.style == "op":
            tensors[c.output] = _op(layers[c.layer].ctor, [argument(v) for v in c.operands])
            continue
        layer = models.get(c.layer) or shared.get(c.layer) or make(layers[c.layer].ctor)
        args = [tensor(n, i) for n, i in c.inputs]
        kwargs = {k: argument(v) for k, v in c.kwargs}
        if c.style == "one":
            out = layer(args[0], **kwargs)
        elif c.style == "keywords":
            out = layer(**dict(zip(c.names, args, strict=True)), **kwargs)
        elif c.style == "positional":
            out = layer(*args, **kwargs)
        else:
            out = layer(args, **kwargs)
        tensors[c.output] = list(out) if isinstance(out, tuple) else out

    def io(items: list[tuple[str, Any]]) -> Any:
        if len(items) == 1:
            return items[0][1]
        return [v for _, v in items] if nested else dict(items)

    return keras.Model(
        inputs=io([(i.name, tensors[i.name]) for i in inputs]),
        outputs=io([(k, tensor(*t)) for k, t in outputs]),
        name=name,
    )
