"""The live target: a build plan -> a ``keras.Model``, with no generated text in between.

It follows the plan exactly as :mod:`modelspec.emit.keras_py` writes it out: the
same constructors with the same kwargs, created in the same order, called in the
same order, so the generated module and this build give equal ``get_config()`` and,
with a seed, equal weights (``tests/test_build.py``).

Only :class:`~modelspec.plan.Ctor` names reach Keras, and a ``Ctor`` can only name
what the catalogue lists; kwargs are plain values. Nothing goes through Keras's
deserializer. Keras is imported on first use.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from modelspec.plan import Ctor, Plan


def quiet_tensorflow() -> None:
    """Call before TensorFlow is imported: its C++ start-up log (banners, tf.data notes)
    would bury what modelspec and Keras print. Errors still show; a level the user set,
    e.g. ``TF_CPP_MIN_LOG_LEVEL=0``, wins."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make(value: Any) -> Any:
    """A plan value as a Keras object: constructors are called, containers rebuilt."""
    import keras

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


def _input(inp: Any) -> Any:
    import keras

    return keras.Input(**inp.kwargs())


def compile_model(model: Any, plan: Plan) -> None:
    """``model.compile`` with the plan's arguments; a fresh optimizer every time."""
    if plan.compile is not None:
        model.compile(**{k: make(v) for k, v in plan.compile})


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


def to_keras(plan: Plan, form: str = "auto", *, compile: bool = True) -> Any:
    """Build ``plan`` as a Sequential or Functional ``keras.Model`` (``form`` as in ``build``).

    A deep plan is built under the recursion limit it needs (see the note on deep models
    in :mod:`modelspec.plan`).
    """
    form = plan.choose_form(form)
    with recursion_limit(plan.recursion_limit):
        model = _build(plan, form)
        if compile:
            compile_model(model, plan)
    return model


def _build(plan: Plan, form: str) -> Any:
    import keras

    if form == "sequential":
        layers = [make(plan.layers[c.layer].ctor) for c in plan.calls]
        model = keras.Sequential([_input(plan.inputs[0]), *layers], name=plan.name)
    else:
        tensors: dict[str, Any] = {i.name: _input(i) for i in plan.inputs}
        # Shared layers first, then each other layer where it is called: the order
        # the generated module creates them in.
        shared = {n: make(p.ctor) for n, p in plan.layers.items() if p.calls > 1}

        def tensor(name: str, index: int | None) -> Any:
            value = tensors[name]
            return value if index is None else value[index]

        for c in plan.calls:
            layer = shared.get(c.layer) or make(plan.layers[c.layer].ctor)
            args = [tensor(n, i) for n, i in c.inputs]
            if c.style == "one":
                out = layer(args[0])
            elif c.style == "positional":
                out = layer(*args)
            else:
                out = layer(args)
            tensors[c.output] = list(out) if isinstance(out, tuple) else out

        def io(items: list[tuple[str, Any]]) -> Any:
            return items[0][1] if len(items) == 1 else dict(items)

        model = keras.Model(
            inputs=io([(i.name, tensors[i.name]) for i in plan.inputs]),
            outputs=io([(o.name, tensor(*o.tensor)) for o in plan.outputs]),
            name=plan.name,
        )
    return model
