"""Lowering: a checked spec -> a build plan that every Keras target follows.

The plan is the spec in Keras's terms: each layer as a constructor call with plain
keyword arguments (seeded initializers filled in), the calls in the order they are
written, the outputs, and ``model.compile``'s arguments keyed by output name. Two
targets read it: :mod:`modelspec.emit.keras_py` renders it as Python source, and
:mod:`modelspec.runtime.instantiate` builds the live model from it. Because both
follow one plan, the generated code and the direct instantiation build the same
model; ``tests/test_build.py`` compares their ``get_config()`` and weights.

Nothing here imports Keras.

Seeds: with ``seed: S`` in the spec, every random initializer of layer ``L``'s
kwarg ``k`` becomes ``Class(seed=derive_seed(S, L, k))``, and every layer with
random behaviour (dropout, noise) gets ``seed=derive_seed(S, L, "seed")``. The seed
depends on names only, not on the order layers are built in, so the Sequential
form, the Functional form and the direct instantiation start from the same weights.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog import training as tc
from modelspec.catalog.base import (
    INITIALIZER_CLASSES,
    UNSEEDED,
    UNSEEDED_CLASSES,
)
from modelspec.catalog.custom import CLASS_PATH
from modelspec.catalog.lookup import ADAPT, STATE
from modelspec.catalog.ops import OPS, op_of
from modelspec.catalog.precision import DEFAULT_POLICY, takes_policy
from modelspec.errors import ERROR, Diagnostic
from modelspec.ir import Source, Spec, TensorArg, TensorRef
from modelspec.passes.graph import stable_order, stack_break
from modelspec.passes.state import adapted_inputs

LOSS_SCALE = "LossScaleOptimizer"
# What a ``Ctor`` may construct: the catalogue's names, nothing a spec can add.
NAMESPACES: Mapping[str, Any] = {
    "layers": LAYER_TYPES,
    "initializers": frozenset(INITIALIZER_CLASSES.values()),
    # LossScaleOptimizer: the plan wraps the optimizer in it under mixed_float16 (as
    # Keras's compile does for a model under that global policy); a spec cannot name it.
    "optimizers": frozenset({*tc.OPTIMIZERS, LOSS_SCALE}),
    "losses": tc.LOSS_CLASSES,
    "callbacks": tc.CALLBACKS,
    "ops": OPS,  # called as keras.ops.NAME(...), never constructed (PlanCall.operands)
}

FORMS = ("functional", "sequential")
# The Ctor namespace of custom layer classes (modelspec.catalog.custom): ``cls`` is module.Class.
CUSTOM = "custom"

# NOTE: [deep models]
# Keras walks a model's graph recursively, one Python frame per node on the longest
# path (keras.src.ops.function._build_map_helper; keras-team/keras#15596), so at
# Python's default recursion limit of 1,000 neither `keras.Model` nor
# `keras.Sequential` can build a chain of about 990 layers. A plan with more than
# DEEP_CALLS calls carries the limit its build needs (``Plan.recursion_limit``): the
# generated ``build_model()`` and the direct build raise Python's limit to it while the
# model is built, and restore it afterwards. Small models are written as before.
#
# Only the limit is raised, on the caller's thread: since Python 3.11 a Python call
# made by Python code takes no C stack, so a deep recursion cannot overflow it (a
# 10,000-layer chain builds on the main thread). Python 3.10's main thread, with the
# usual 8 MiB, held 20,000 frames of a small recursive function; Keras is untested
# there. Building in a thread with a bigger stack would lose what is thread-local,
# e.g. a ``tf.distribute.Strategy`` scope the model must be built in.
DEEP_CALLS = 500
# Frames per call and the headroom on top, measured on Keras 3 (tests/test_deep.py
# builds a 3,000-layer chain with them); the limit is rounded up to a thousand.
FRAMES_PER_CALL = 1
RECURSION_HEADROOM = 2_000


def derive_seed(seed: int, layer: str, kwarg: str) -> int:
    """A seed in ``[0, 2**31)`` for one initializer, from the spec's seed and names only.

    >>> derive_seed(1337, "fc", "kernel_initializer") == derive_seed(1337, "fc", "kernel_initializer")
    True
    """
    digest = hashlib.blake2b(f"{seed}/{layer}/{kwarg}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


@dataclass(frozen=True, slots=True)
class Ctor:
    """``keras.<namespace>.<cls>(**kwargs)``: a Keras object the plan creates."""

    namespace: str
    cls: str
    kwargs: tuple[tuple[str, Any], ...]

    def __post_init__(self) -> None:
        # The one gate between a spec and a Keras constructor: catalogue names only, or
        # a custom class by path (``plan`` makes one only for a module the project allows).
        if self.namespace == CUSTOM:
            if not CLASS_PATH.match(self.cls):
                raise ValueError(f"{self.cls!r} is not a class path")
        elif self.cls not in NAMESPACES.get(self.namespace, ()):
            raise ValueError(f"keras.{self.namespace}.{self.cls} is not in the catalogue")

    @property
    def module(self) -> str | None:
        """The module a custom class is imported from; None for Keras's own."""
        return self.cls.rpartition(".")[0] if self.namespace == CUSTOM else None


@dataclass(frozen=True, slots=True)
class PlanInput:
    name: str
    shape: tuple[int | None, ...]
    dtype: str
    line: int

    def kwargs(self) -> dict[str, Any]:
        """``keras.Input``'s arguments; float32, Keras's default dtype, is left out."""
        out: dict[str, Any] = {"shape": tuple(self.shape)}
        if self.dtype != "float32":
            out["dtype"] = self.dtype
        out["name"] = self.name
        return out


@dataclass(frozen=True, slots=True)
class PlanLayer:
    name: str
    ctor: Ctor
    line: int
    calls: int  # how many calls the model makes of it: more than one shares its weights
    file: str = ""  # the file it was written in, when not the spec's (an included block)


@dataclass(frozen=True, slots=True)
class PlanCall:
    """``layer`` called on ``inputs`` (tensor name, index) -> tensor ``output``.

    ``style``: ``"one"`` (``layer(x)``), ``"list"`` (``layer([a, b])``),
    ``"positional"`` (``layer(q, v)``), ``"keywords"`` (``layer(query=q, value=v)``,
    the keywords in ``names``, one per input) or ``"op"`` (``keras.ops.NAME(*operands)``).
    """

    layer: str
    inputs: tuple[tuple[str, int | None], ...]
    style: str
    output: str
    step: str
    line: int
    file: str = ""  # the file it was written in, when not the spec's (an included block)
    # The call arguments: (name, value), a value being a TensorArg, a tuple of them
    # (None for a left-out mask) or a constant.
    kwargs: tuple[tuple[str, Any], ...] = ()
    names: tuple[str, ...] = ()
    # An op's operands in order (style ``"op"``): a TensorArg or a number each; its
    # layer's ctor is ``Ctor("ops", NAME, keywords)``.
    operands: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanOutput:
    name: str
    tensor: tuple[str, int | None]


@dataclass(frozen=True, slots=True)
class PlanWeights:
    """The spec's ``weights:`` section: the file as written (relative to the spec's
    folder), where that is now (``path``), and the folders it must stay in: the project
    root and its include paths (empty: no project, no limit)."""

    file: str
    path: str
    roots: tuple[str, ...]
    map: tuple[tuple[str, str], ...]
    skip_mismatch: bool
    spec_file: str
    line: int
    col: int
    # Each map key's place in the spec: (new name, line, col).
    map_lines: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class PlanModel:
    """A block instance built as a nested ``keras.Model`` and called like a layer.

    ``name`` is the instance (the key calls use); ``keras_name`` its name in the model
    that holds it. Its ``layers`` are keyed by their names in the expanded spec, and
    their constructors carry their names in this model (seeds come from the expanded
    names, so a nested and an inlined instance start from the same weights). Its
    ``calls`` read its ``inputs`` by name; ``calls_made`` is how often it is called.
    """

    name: str
    keras_name: str
    block: str
    form: str  # "functional" or "sequential"
    inputs: tuple[PlanInput, ...]
    layers: Mapping[str, PlanLayer]
    calls: tuple[PlanCall, ...]
    outputs: tuple[tuple[str, int | None], ...]
    line: int
    calls_made: int


@dataclass(frozen=True, slots=True)
class Quantize:
    """One ``model.quantize(mode, filters=...)``: every layer Keras can quantize
    (``names`` None), only the layers ``names`` (``only``), or all but them."""

    mode: str
    names: tuple[str, ...] | None = None
    only: bool = True


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    file: str  # the spec's file name, for comments
    description: str | None
    seed: int | None
    inputs: tuple[PlanInput, ...]
    layers: Mapping[str, PlanLayer]
    calls: tuple[PlanCall, ...]
    outputs: tuple[PlanOutput, ...]
    # ``model.compile`` kwargs in order: optimizer, loss, loss_weights, metrics, ...
    compile: tuple[tuple[str, Any], ...] | None
    fit: Mapping[str, Any]
    callbacks: tuple[Ctor, ...]
    # Why the graph is not a plain stack (None when it is), and where.
    not_a_chain: tuple[str, Source] | None
    # Weights to start from (the spec's ``weights:``), loaded by layer name.
    weights: PlanWeights | None = None
    # Block instances built as nested keras.Models, each after those it calls; a call
    # whose ``layer`` is one of their names calls that model.
    models: tuple[PlanModel, ...] = ()
    # The custom layer types the model uses (modelspec.catalog.custom.CustomType): their classes
    # are checked to be Keras layer classes before anything builds them.
    custom: tuple[Any, ...] = ()
    # Layers that learn their state with adapt() before fit, each with the model input
    # whose array it learns from (modelspec.passes.state), in the order they are called.
    adapt: tuple[tuple[str, str], ...] = ()
    # Precision: the model's dtype policy (each layer's is in its constructor), and what
    # model.quantize() is called with once the weights are in (Quantize, in order).
    dtype_policy: str = DEFAULT_POLICY
    quantize: tuple[Quantize, ...] = ()

    def model(self, name: str) -> PlanModel | None:
        """The nested model a call's ``layer`` names, or None for a layer."""
        return next((m for m in self.models if m.name == name), None)

    @property
    def forms(self) -> tuple[str, ...]:
        """The forms this model can be written in: Functional always, Sequential for stacks."""
        return FORMS if self.not_a_chain is None else ("functional",)

    @property
    def recursion_limit(self) -> int | None:
        """The recursion limit Keras needs to build this model; None when Python's default
        will do (see the note on deep models)."""
        if len(self.calls) <= DEEP_CALLS:
            return None
        needed = RECURSION_HEADROOM + FRAMES_PER_CALL * (len(self.calls) + len(self.inputs))
        return -(-needed // 1000) * 1000

    def choose_form(self, form: str) -> str:
        """``auto`` -> the simplest form; ``sequential`` on a non-stack -> :class:`NotAChain`."""
        if form == "auto":
            return "sequential" if self.not_a_chain is None else "functional"
        if form == "sequential" and self.not_a_chain is not None:
            reason, src = self.not_a_chain
            raise NotAChain(
                Diagnostic(
                    ERROR,
                    "MS501",
                    f"cannot build a Sequential model: {reason}",
                    "use --form functional (or auto)",
                    src.file,
                    src.line,
                    src.col,
                    src.path,
                )
            )
        if form not in FORMS:
            raise ValueError(f"unknown form {form!r}")
        return form


class NotAChain(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


# --- values --------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Spec values as Keras takes them: lists of scalars become tuples (shapes, sizes)."""
    if isinstance(value, list):
        items = [_plain(v) for v in value]
        if all(isinstance(v, (int, float, str, tuple)) or v is None for v in items):
            return tuple(items)
        return items
    return value


def _held_ctor(
    spec: Mapping[str, Any], path: str, seed: int | None, inner: Mapping[str, str], policy: str
):
    """The constructor of a layer another one holds, at ``path`` (``Layer.inner``), under
    its holder's dtype policy unless it has its own."""
    sub = {k: v for k, v in spec.items() if k not in ("type", "name", "quantize")}
    return layer_ctor(spec["type"], sub, inner[path], seed, inner, f"{path}.", policy=policy)


def layer_ctor(
    type_name: str,
    given: Mapping[str, Any],
    name: str,
    seed: int | None,
    inner: Mapping[str, str] | None = None,
    prefix: str = "",
    *,
    policy: str = DEFAULT_POLICY,
) -> Ctor:
    """The constructor of one layer: the spec's kwargs in spec order, seeds, the dtype
    policy, then ``name``.

    ``inner`` names the layers a wrapper holds, by kwarg path (``Layer.inner``).
    ``policy`` is the model's dtype policy: a layer without a ``dtype`` of its own gets it
    (its ``dtype=``), and so do the layers it holds.
    """
    lt = LAYER_TYPES[type_name]
    inner = inner or {}
    own = given.get("dtype")
    policy = own if isinstance(own, str) else policy
    kwargs: dict[str, Any] = {}
    for key, value in given.items():
        if key in lt.nested and isinstance(value, dict):
            kwargs[key] = _held_ctor(value, prefix + key, seed, inner, policy)
        elif key in lt.nested and isinstance(
            value, list
        ):  # StackedRNNCells's cells, a Pipeline's layers
            paths = (f"{prefix}{key}.{i}" for i in range(len(value)))
            kwargs[key] = [_held_ctor(v, p, seed, inner, policy) for v, p in zip(value, paths)]
        elif key.endswith("_initializer") and value == "constant":
            # Keras's initializers.get("constant") fails (Constant's config needs its
            # value): the class itself, at its default value 0.0.
            kwargs[key] = Ctor("initializers", "Constant", ())
        elif key.endswith("_initializer") and isinstance(value, dict):
            # ``{type: VarianceScaling, ...}``: a constructor, never a dict for Keras's
            # deserializer; seeded below like a name.
            kwargs[key] = typed_ctor("initializers", value)
        elif value == ADAPT and key in STATE.get(type_name, ()):
            continue  # learned by adapt(): Keras's default, None, until then
        else:
            kwargs[key] = _plain(value)
    if seed is not None:
        resolved = lt.resolve(given)
        for kwarg in lt.kwargs:
            if not kwarg.name.endswith("_initializer"):
                continue
            init = resolved.get(kwarg.name)
            if isinstance(init, str) and init not in UNSEEDED and init in INITIALIZER_CLASSES:
                kwargs[kwarg.name] = Ctor(
                    "initializers",
                    INITIALIZER_CLASSES[init],
                    (("seed", derive_seed(seed, name, kwarg.name)),),
                )
            elif isinstance(init, dict) and init.get("type") not in UNSEEDED_CLASSES:
                ctor = kwargs[kwarg.name]
                kwargs[kwarg.name] = Ctor(
                    "initializers",
                    ctor.cls,
                    (*ctor.kwargs, ("seed", derive_seed(seed, name, kwarg.name))),
                )
        if "seed" in lt.kwarg_map and given.get("seed") is None and lt.is_random(resolved):
            kwargs["seed"] = derive_seed(seed, name, "seed")
    if "dtype" not in kwargs and policy != DEFAULT_POLICY and takes_policy(lt):
        kwargs["dtype"] = policy
    kwargs["name"] = name
    return Ctor("layers", type_name, tuple(kwargs.items()))


def custom_ctor(
    ct: Any, given: Mapping[str, Any], name: str, project: Any, policy: str = DEFAULT_POLICY
) -> Ctor:
    """The constructor of a custom layer: its class by path, the spec's plain kwargs, the
    model's dtype policy (every Keras layer takes ``dtype=``), then ``name``. Refused for
    a module the project does not allow (lint's MS321)."""
    if project is None or not project.allows_module(ct.module):
        raise ValueError(f"module '{ct.module}' is not allowed to provide layers")
    kwargs = {k: _plain(v) for k, v in given.items()}
    if "dtype" not in kwargs and policy != DEFAULT_POLICY:
        kwargs["dtype"] = policy
    kwargs["name"] = name
    return Ctor(CUSTOM, ct.cls, tuple(kwargs.items()))


def typed_ctor(namespace: str, value: Mapping[str, Any]) -> Ctor:
    """``{type: Adam, learning_rate: 0.01}`` -> ``Ctor("optimizers", "Adam", ...)``."""
    kwargs = tuple((k, _plain(v)) for k, v in value.items() if k != "type")
    return Ctor(namespace, value["type"], kwargs)


def _loss(value: Any) -> Any:
    return typed_ctor("losses", value) if isinstance(value, dict) else value


# --- the plan --------------------------------------------------------------------------------


def _written_order(spec: Spec, live: list) -> list:
    """Calls in the order the spec writes their steps, moving a step only as far as its
    inputs require (a stable topological order): chains stay together and read top down."""
    by_step: dict[str, list] = {}
    for call in live:
        by_step.setdefault(call.step, []).append(call)
    produced_by = {c.output: c.step for c in live}
    needs: dict[str, set[str]] = {}
    for step, calls in by_step.items():
        deps = {produced_by[r.name] for c in calls for r in c.refs() if r.name in produced_by}
        needs[step] = deps - {step}
    order = stable_order(by_step, needs.__getitem__)
    return [call for step in order for call in by_step[step]]


def _chain_break(spec: Spec, calls: list, shapes: Any) -> tuple[str, Source] | None:
    """The first place where the graph stops being a single-input, single-output stack."""

    def returns(call: Any) -> int:
        tensors = shapes.tensors.get(call.output)
        return len(tensors) if isinstance(tensors, list) else 1

    found = stack_break(
        [i.name for i in spec.inputs],
        (
            (c.layer, c.inputs, c.output, returns(c), len(c.kwargs), bool(c.operands))
            for c in calls
        ),  # fmt: skip
        [o.tensor for o in spec.outputs],
        Counter(c.layer for c in calls),
    )
    if found is None:
        return None
    call = calls[found.at] if found.at >= 0 else None
    what = f"layer '{call.layer}'" if call is not None else ""
    match found.kind:
        case "inputs":
            return f"the spec has {found.count} inputs", spec.inputs[1].source
        case "outputs":
            return f"the spec has {found.count} outputs", spec.outputs[1].source
        case "shared":
            return f"{what} is called {found.count} times (shared weights)", call.source
        case "fan_in":
            return f"{what} has {found.count} inputs", call.source
        case "index":
            return f"{what} reads '{call.inputs[0]}', one of several outputs", call.source
        case "fork":
            # A fork: two single-input branches from one tensor, merged further on.
            return f"{what} reads '{call.inputs[0]}', not the layer before it", call.source
        case "several":
            return f"{what} returns {found.count} tensors", call.source
        case "arguments":
            return f"{what} is called with `call:` arguments", call.source
        case "op":
            return f"step '{call.step}' calls an op, which is not a layer", call.source
    return f"output '{spec.outputs[0].name}' is not the last layer's output", spec.outputs[0].source


_OPTIMIZER_CLASSES = {name.lower(): name for name in tc.OPTIMIZERS}


def _quantize(spec: Spec, layers: Mapping[str, Any]) -> tuple[Quantize, ...]:
    """The model.quantize() calls of a spec: its `quantize:` for every layer Keras can
    quantize (but those with `quantize: null` or a mode of their own), then each mode
    that layers ask for themselves, on those layers alone. ``layers``: those built."""
    own: dict[str, list[str]] = {}
    skipped = []
    for name in layers:
        mode = spec.layers[name].quantize if name in spec.layers else None
        if mode is False or (isinstance(mode, str) and mode != spec.quantize):
            skipped.append(name)
        if isinstance(mode, str) and mode != spec.quantize:
            own.setdefault(mode, []).append(name)
    out = []
    if spec.quantize is not None:
        out.append(Quantize(spec.quantize, tuple(skipped) or None, only=False))
    out += [Quantize(mode, tuple(names)) for mode, names in own.items()]
    return tuple(out)


def _compile(spec: Spec) -> tuple[tuple[str, Any], ...] | None:
    trained = [o for o in spec.outputs if o.loss is not None]
    if spec.compile is None and not trained:
        return None
    config = dict(spec.compile or {})
    optimizer = config.pop("optimizer", "rmsprop")  # keras.Model.compile's default
    if isinstance(optimizer, dict):
        optimizer = typed_ctor("optimizers", optimizer)
    if spec.dtype_policy == "mixed_float16":
        # Loss scaling, as Keras's compile adds it for a model built under a global
        # mixed_float16 policy: float16 gradients underflow without it.
        if isinstance(optimizer, str):
            optimizer = Ctor("optimizers", _OPTIMIZER_CLASSES[optimizer], ())
        optimizer = Ctor("optimizers", LOSS_SCALE, (("inner_optimizer", optimizer),))
    args: list[tuple[str, Any]] = [("optimizer", optimizer)]
    single = len(spec.outputs) == 1
    weighted = [o for o in trained if o.loss_weight is not None]
    with_metrics = [o for o in spec.outputs if o.metrics]
    if single:
        out = spec.outputs[0]
        if out.loss is not None:
            args.append(("loss", _loss(out.loss)))
        if out.loss_weight is not None and out.loss is not None:
            args.append(("loss_weights", [out.loss_weight]))
        if out.metrics:
            args.append(("metrics", list(out.metrics)))
    else:
        if trained:
            args.append(("loss", {o.name: _loss(o.loss) for o in trained}))
        if weighted:
            args.append(("loss_weights", {o.name: o.loss_weight for o in weighted}))
        if with_metrics:
            args.append(("metrics", {o.name: list(o.metrics) for o in with_metrics}))
    args += [(k, _plain(v)) for k, v in config.items()]
    return tuple(args)


def plan(result: Any) -> Plan:
    """The build plan of a checked spec (``modelspec.check(...)`` with no errors)."""
    if not result.ok or result.spec is None:
        raise ValueError("a spec with errors has no build plan")
    spec: Spec = result.spec
    graph, shapes = result.graph, result.shapes
    live = [c for c in graph.order if c.output in graph.live]
    calls = _written_order(spec, live)
    count: dict[str, int] = {}
    for call in calls:
        count[call.layer] = count.get(call.layer, 0) + 1
    layers = {}
    for call in calls:
        if call.layer in layers:
            continue
        layer = spec.layers[call.layer]
        ctor = _spec_layer_ctor(spec, layer, getattr(result, "project", None))
        layers[layer.name] = PlanLayer(
            layer.name, ctor, layer.source.line, count[layer.name], _file(spec, layer.source)
        )
    plan_calls = []
    for call in calls:
        style = _call_style(spec.layers[call.layer].type, len(call.inputs), call.names)
        ins = tuple((r.name, r.index) for r in call.inputs)
        operands = tuple(
            TensorArg(v.name, v.index) if isinstance(v, TensorRef) else v for v in call.operands
        )
        plan_calls.append(
            PlanCall(
                call.layer,
                ins,
                style,
                call.output,
                call.step,
                call.source.line,
                _file(spec, call.source),
                tuple(k.plain() for k in call.kwargs),
                call.names,
                operands,
            )  # fmt: skip
        )
    outputs = tuple(PlanOutput(o.name, (o.tensor.name, o.tensor.index)) for o in spec.outputs)
    fit = dict(spec.fit or {})
    callbacks = tuple(typed_ctor("callbacks", cb) for cb in fit.pop("callbacks", ()))
    inputs = tuple(PlanInput(i.name, i.shape, i.dtype, i.source.line) for i in spec.inputs)
    description = result.doc.data.get("description") if result.doc is not None else None
    built = Plan(
        name=spec.name,
        file=spec.file.replace("\\", "/").rsplit("/", 1)[-1],
        description=description if isinstance(description, str) else None,
        seed=spec.seed,
        inputs=inputs,
        layers=layers,
        calls=tuple(plan_calls),
        outputs=outputs,
        compile=_compile(spec),
        fit=fit,
        callbacks=callbacks,
        not_a_chain=_chain_break(spec, calls, shapes),
        weights=_weights(result),
        custom=tuple(
            ct
            for name, ct in spec.custom.items()
            if any(spec.layers[p.name].type == name for p in layers.values())
        ),  # fmt: skip
        adapt=tuple(
            (name, read)
            for name, read in adapted_inputs(spec, graph).items()
            if read is not None and name in layers
        ),  # fmt: skip
        dtype_policy=spec.dtype_policy,
        quantize=_quantize(spec, layers),
    )
    if getattr(result, "nesting", None) is not None:
        return _nested(built, result)
    return built


def _spec_layer_ctor(spec: Spec, layer: Any, project: Any) -> Ctor:
    """The constructor of one of the spec's layers: a catalogue layer or a custom one."""
    if layer.type in spec.custom:
        return custom_ctor(
            spec.custom[layer.type], layer.kwargs, layer.name, project, spec.dtype_policy
        )
    if (op := op_of(layer.type)) is not None:
        return Ctor(
            "ops", op.name, tuple((k, _plain(v)) for k, v in op.non_default(layer.kwargs).items())
        )
    return layer_ctor(
        layer.type,
        layer.kwargs,
        layer.name,
        spec.seed,
        dict(layer.inner),
        policy=spec.dtype_policy,
    )


def _file(spec: Spec, source: Source) -> str:
    """Where ``source`` was written, for the generated code's comments: ``""`` for the
    spec's own file, else the included file's path from the spec's folder."""
    if source.file == spec.file:
        return ""
    import os.path

    folder = os.path.dirname(spec.file)
    return os.path.relpath(source.file, folder or ".").replace("\\", "/")


def _call_style(layer_type: str, n_inputs: int, names: tuple[str, ...] = ()) -> str:
    """How a call passes its inputs: one tensor, positional tensors, a list, or by the
    keywords ``names``."""
    if names:
        return "keywords"
    if op_of(layer_type) is not None:
        return "op"
    lt = LAYER_TYPES.get(layer_type)
    if lt is None:  # a custom layer: one tensor, or a list (its `inputs:`)
        return "one" if n_inputs == 1 else "list"
    if n_inputs == 1 and not lt.is_merge:
        return "one"
    return "positional" if lt.call == "positional" else "list"


def _nested(flat: Plan, result: Any) -> Plan:
    """``flat`` with the calls of nested instances replaced by calls of their models
    (see :mod:`modelspec.passes.nested`)."""
    import dataclasses

    spec, nesting = result.spec, result.nesting
    made: dict[str, int] = {}
    for level in nesting.levels.values():
        for item in level.items:
            if item.model is not None:
                made[item.name] = made.get(item.name, 0) + 1

    def level_parts(level: Any) -> tuple[dict[str, PlanLayer], tuple[PlanCall, ...]]:
        count: dict[str, int] = {}
        for item in level.items:
            count[item.name] = count.get(item.name, 0) + 1
        layers: dict[str, PlanLayer] = {}
        calls = []
        for item in level.items:
            if item.model is not None:  # a nested model: called on one tensor or a list
                style = "one" if len(item.inputs) == 1 else "list"
            else:
                layer = spec.layers[item.name]
                style = _call_style(layer.type, len(item.inputs), item.names)
                if item.name not in layers:
                    ctor = _spec_layer_ctor(spec, layer, getattr(result, "project", None))
                    local = level.local.get(item.name, item.name)
                    if local != item.name:  # Keras scopes names per model
                        kwargs = tuple((k, local if k == "name" else v) for k, v in ctor.kwargs)
                        ctor = Ctor(ctor.namespace, ctor.cls, kwargs)
                    layers[item.name] = PlanLayer(
                        item.name,
                        ctor,
                        layer.source.line,
                        count[item.name],
                        _file(spec, layer.source),
                    )
            calls.append(
                PlanCall(
                    item.name,
                    item.inputs,
                    style,
                    item.output,
                    item.step,
                    item.source.line,
                    _file(spec, item.source),
                    item.kwargs,
                    item.names,
                    item.operands,
                )
            )
        return layers, tuple(calls)

    models = []
    for owner, level in nesting.levels.items():
        if owner is None:
            continue
        layers, calls = level_parts(level)
        inputs = tuple(PlanInput(n, shape, dtype, level.line) for n, shape, dtype in level.inputs)
        models.append(
            PlanModel(
                owner,
                level.name,
                level.block,
                level.form,
                inputs,
                layers,
                calls,
                level.outputs,
                level.line,
                made.get(owner, 0),
            )
        )
    top = nesting.levels[None]
    layers, calls = level_parts(top)
    outputs = tuple(
        PlanOutput(o.name, out) for o, out in zip(spec.outputs, top.outputs, strict=True)
    )
    reason = None
    if top.not_a_chain is not None:
        reason = (top.not_a_chain.replace("it has", "the spec has", 1), spec.source)
    return dataclasses.replace(
        flat, layers=layers, calls=calls, outputs=outputs, models=tuple(models), not_a_chain=reason
    )


def _weights(result: Any) -> PlanWeights | None:
    w = result.spec.weights
    if w is None:
        return None
    from modelspec.passes.weights import resolve

    project = getattr(result, "project", None)
    return PlanWeights(
        file=w.file,
        path=resolve(result.spec.file, w.file),
        roots=()
        if project is None
        else tuple(str(p) for p in (project.root, *project.include_paths)),
        map=tuple((e.new, e.old) for e in w.map),
        skip_mismatch=w.skip_mismatch,
        spec_file=result.spec.file,
        line=w.source.line,
        col=w.source.col,
        map_lines=tuple((e.new, e.source.line, e.source.col) for e in w.map),
    )
