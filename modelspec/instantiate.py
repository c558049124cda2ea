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
import re
import sys
from collections.abc import Iterator
from typing import Any

from modelspec.plan import Ctor, Plan


def quiet_tensorflow() -> None:
    """Call before TensorFlow is imported: its C++ start-up log (banners, tf.data notes)
    would bury what modelspec and Keras print. Errors still show; a level the user set,
    e.g. ``TF_CPP_MIN_LOG_LEVEL=0``, wins."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def quiet_import(name: str = "keras") -> Any:
    """``import name`` (Keras, or TensorFlow) without TensorFlow's start-up log.

    # NOTE: [quiet start-up]
    ``TF_CPP_MIN_LOG_LEVEL`` applies once TensorFlow's logging is set up. Lines logged
    before that (TensorFlow 2.21: absl's "All log messages before absl::InitializeLog()"
    and the oneDNN and CPU-feature notes) go straight to file descriptor 2, whatever
    the level. So while TensorFlow loads, descriptor 2 is a pipe, and what comes
    through it is passed on without the informational and warning records of the C++
    log (``I0000 00:00:...] ...``) and absl's notice. Errors,
    Python's own warnings and anything else pass through. Nothing is switched off:
    oneDNN stays as TensorFlow chose. A level the user set below 2 keeps everything.
    """
    import importlib

    if name in sys.modules:
        return sys.modules[name]
    quiet_tensorflow()
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") in ("0", "1"):
        return importlib.import_module(name)
    with _native_log_filtered():
        return importlib.import_module(name)


# A record of the C++ log (absl / glog format): level letter, date, time, thread,
# file:line]. INFO and WARNING records are dropped, and absl's notice that logging is
# not set up yet; a line without that prefix is never dropped.
_QUIET_RECORD = re.compile(rb"(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] |"
                           rb"WARNING: All log messages before absl::InitializeLog\(\))")  # fmt: skip


def drop_startup_log(data: bytes) -> bytes:
    r"""``data`` (what was written to stderr) without the C++ log's INFO and WARNING
    records; see NOTE: [quiet start-up].

    >>> drop_startup_log(b"I0000 00:00:17.1 12 port.cc:153] oneDNN custom operations are on.\nkept\n")
    b'kept\n'
    """
    return b"".join(
        line for line in data.splitlines(keepends=True) if not _QUIET_RECORD.match(line)
    )


@contextlib.contextmanager
def _native_log_filtered() -> Iterator[None]:
    """File descriptor 2 through :func:`drop_startup_log` inside the block."""
    import threading

    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:  # no descriptor 2, or none left: nothing to filter
        yield
        return
    chunks: list[bytes] = []

    def drain() -> None:  # a pipe's buffer is small: read while the block writes
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the reader sees its end
        os.close(saved)
        reader.join(timeout=10)
        os.close(read_end)
        kept = drop_startup_log(b"".join(chunks))
        if kept:
            os.write(2, kept)


def verify_custom(plan: Plan) -> None:
    """Raise :class:`~modelspec.errors.SpecError` (MS326) before anything is built if a
    custom type's class is not a Keras layer class (see NOTE: [layer classes, not
    callables] in :mod:`modelspec.custom`)."""
    if plan.custom:
        from modelspec.custom import check_layer_classes
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


def to_keras(
    plan: Plan,
    form: str = "auto",
    *,
    compile: bool = True,
    weights: Any = None,
    weights_map: Any = None,
    skip_mismatch: bool | None = None,
) -> Any:
    """Build ``plan`` as a Sequential or Functional ``keras.Model`` (``form`` as in ``build``).

    A deep plan is built under the recursion limit it needs (see the note on deep models
    in :mod:`modelspec.plan`). Weights are then loaded by layer name, as
    :func:`modelspec.weights.load_planned` says: by default from the spec's ``weights:``;
    ``weights=False`` starts from fresh weights.
    """
    quiet_import("keras")
    verify_custom(plan)
    form = plan.choose_form(form)
    with recursion_limit(plan.recursion_limit):
        model = _build(plan, form)
        if weights is not False and (weights is not None or plan.weights is not None):
            from modelspec.weights import load_planned

            load_planned(model, plan.weights, weights, weights_map, skip_mismatch)
        if compile:
            compile_model(model, plan)
    return model


def _build(plan: Plan, form: str) -> Any:
    # Nested models first, each after those it calls: each is called like a layer.
    models: dict[str, Any] = {}
    for m in plan.models:
        models[m.name] = _level(m.form, m.keras_name, m.inputs, m.layers, m.calls, models,
                                [(o, o) for o in m.outputs], nested=True)  # fmt: skip
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

    for c in calls:
        layer = models.get(c.layer) or shared.get(c.layer) or make(layers[c.layer].ctor)
        args = [tensor(n, i) for n, i in c.inputs]
        if c.style == "one":
            out = layer(args[0])
        elif c.style == "positional":
            out = layer(*args)
        else:
            out = layer(args)
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
