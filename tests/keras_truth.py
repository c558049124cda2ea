"""Ask a real Keras what a layer does: the truth the catalogue is tested against."""

from __future__ import annotations

import math
from typing import Any

from modelspec.catalog import get


def build_layer(type_name: str, kwargs: dict[str, Any]):
    """A Keras layer from a spec-style ``(type, kwargs)``; nested layer dicts too."""
    import keras

    def convert(value: Any) -> Any:
        if isinstance(value, dict) and "type" in value:
            inner = dict(value)
            return build_layer(inner.pop("type"), inner)
        if isinstance(value, list):
            # Keras takes tuples for shapes and sizes; lists of layers stay lists.
            items = [convert(v) for v in value]
            plain = all(isinstance(v, (int, float, str, type(None))) for v in items)
            return tuple(items) if plain else items
        return value

    from modelspec.catalog.lookup import keras_value

    cls = getattr(keras.layers, type_name)
    return cls(**{k: convert(keras_value(type_name, k, v)) for k, v in kwargs.items()})


def catalogue_facts(type_name: str, kwargs: dict[str, Any], input_shapes: list[tuple]):
    """``(output, trainable, non_trainable)`` as the catalogue infers them, no Keras."""
    layer_type = get(type_name)
    kw = layer_type.resolve(kwargs)
    return (layer_type.shape(kw, input_shapes), *layer_type.params(kw, input_shapes))


def agree_or_both_refuse(type_name: str, kwargs: dict[str, Any], input_shapes: list[tuple]):
    """The catalogue's facts and Keras's, each ``None`` where that side refuses."""
    from modelspec.catalog import ShapeError

    try:
        ours = catalogue_facts(type_name, kwargs, input_shapes)
    except ShapeError:
        ours = None
    try:
        theirs = keras_facts(type_name, kwargs, input_shapes)
    except Exception:  # noqa: BLE001 - Keras refuses with ValueError or TypeError
        theirs = None
    return ours, theirs


def call_layer(layer, type_name: str, inputs: list, kwargs: dict[str, Any] | None = None):
    """Call ``layer`` the way its catalogue entry says: one tensor, a list, or positionally;
    with the call arguments ``kwargs``."""
    layer_type = get(type_name)
    kwargs = kwargs or {}
    if len(inputs) == 1 and not layer_type.is_merge:
        return layer(inputs[0], **kwargs)
    if layer_type.call == "positional":
        return layer(*inputs, **kwargs)
    return layer(inputs, **kwargs)


def _shape(t) -> tuple:
    return tuple(None if d is None else int(d) for d in t.shape)


def keras_facts(type_name: str, kwargs: dict[str, Any], input_shapes: list[tuple]):
    """``(output, trainable, non_trainable)`` as Keras computes them.

    ``output`` is a shape, or a list of shapes when the call returns several tensors.
    """
    import keras

    layer = build_layer(type_name, kwargs)
    inputs = [keras.Input(batch_shape=s) for s in input_shapes]
    out = call_layer(layer, type_name, inputs)
    if isinstance(out, (list, tuple)):
        output: Any = [_shape(t) for t in out]
    else:
        output = _shape(out)
    trainable = sum(math.prod(w.shape) for w in layer.trainable_weights)
    non_trainable = sum(math.prod(w.shape) for w in layer.non_trainable_weights)
    return output, trainable, non_trainable


def build_model(result):
    """A Keras Functional model from a checked spec: the reference for ``summary``.

    Deliberately plain, and independent of any modelspec emitter: one ``keras.Input``
    per input, one Keras layer per layer definition (named as in the spec), the calls
    applied in graph order, and the outputs as ``{output name: tensor}``.

    The symbolic result of every call is kept on the model as ``model.call_outputs``
    (tensor name -> a tensor, or a list of tensors for multi-output calls), so tests
    can read the shape of each node.
    """
    import keras

    spec, graph = result.spec, result.graph
    assert spec is not None and graph is not None, "build_model needs a checked spec"

    tensors: dict[str, Any] = {}
    inputs = {}
    for inp in spec.inputs:
        inputs[inp.name] = tensors[inp.name] = keras.Input(
            shape=inp.shape, dtype=inp.dtype, name=inp.name
        )

    from modelspec.catalog.ops import op_of

    # An op step has no layer: its call is keras.ops itself (op_call, below).
    layers = {
        name: build_layer(layer.type, {**layer.kwargs, "name": name})
        for name, layer in spec.layers.items()
        if op_of(layer.type) is None
    }

    def tensor(ref):
        value = tensors[ref.name]
        return value if ref.index is None else value[ref.index]

    def argument(value):
        if isinstance(value, tuple):
            return [None if v is None else tensor(v) for v in value]
        return value if isinstance(value, bool) else tensor(value)

    call_outputs: dict[str, Any] = {}
    for call in graph.order:
        op = op_of(spec.layers[call.layer].type)
        if op is not None:
            operands = [v if isinstance(v, (int, float)) else tensor(v) for v in call.operands]
            out = op_call(op.name, dict(spec.layers[call.layer].kwargs), operands)
            tensors[call.output] = call_outputs[call.output] = out
            continue
        args = [tensor(ref) for ref in call.inputs]
        kwargs = {k.name: argument(k.value) for k in call.kwargs}
        out = call_layer(layers[call.layer], spec.layers[call.layer].type, args, kwargs)
        if isinstance(out, tuple):
            out = list(out)
        tensors[call.output] = call_outputs[call.output] = out

    outputs = {out.name: tensor(out.tensor) for out in spec.outputs}
    model = keras.Model(inputs=inputs, outputs=outputs, name=spec.name)
    model.call_outputs = call_outputs
    return model


def fails_at_run_time(type_name: str, kwargs: dict[str, Any], input_shapes: list[tuple]) -> bool:
    """True when Keras accepts the inputs symbolically but a real call fails, or returns
    other shapes than Keras claimed symbolically."""
    import numpy as np

    claimed, _, _ = keras_facts(type_name, kwargs, input_shapes)
    layer = build_layer(type_name, kwargs)
    concrete = [tuple(2 if i == 0 and d is None else (3 if d is None else d) for i, d in enumerate(s))
                for s in input_shapes]  # fmt: skip
    lt = get(type_name)
    if lt.input_dtypes(lt.resolve(kwargs)) in ("strings", "ints_or_strings"):
        arrays = [np.full(s, "a b") for s in concrete]  # a layer of strings is run on strings
    else:
        arrays = [np.random.default_rng(0).random(s, dtype="float32") for s in concrete]
    try:
        out = call_layer(layer, type_name, arrays)
    except Exception:  # noqa: BLE001 - any failure at run time is what we look for
        return True
    got = [tuple(t.shape) for t in out] if isinstance(out, (list, tuple)) else [tuple(out.shape)]
    want = claimed if isinstance(claimed, list) else [claimed]
    if len(got) != len(want):
        return True
    return any(
        len(g) != len(w) or any(wd is not None and gd != wd for gd, wd in zip(g, w))
        for g, w in zip(got, want)
    )


# --- ops: keras.ops functions on Keras tensors ----------------------------------------
#
# An op case's operands are tensors, each ``(shape, dtype)`` with the batch axis in the
# shape, and (for ``two`` ops) Python numbers.


def _is_tensor(operand: Any) -> bool:
    return isinstance(operand, tuple)


def op_catalogue_facts(name: str, kwargs: dict[str, Any], operands: list):
    """``(shape, dtype)`` of an op's result as the catalogue infers them, no Keras: a
    number is the scalar shape ``()`` with its Python type as its dtype, as the shapes
    pass gives it."""
    from modelspec.catalog.ops import OPS, result_dtype

    op = OPS[name]
    kw = op.resolve(kwargs)
    shapes = [o[0] if _is_tensor(o) else () for o in operands]
    dtypes = [o[1] if _is_tensor(o) else type(o) for o in operands]
    return tuple(op.shape(kw, shapes)), result_dtype(op, kw, dtypes)


def op_call(name: str, kwargs: dict[str, Any], args: list):
    """``keras.ops.NAME`` on ``args`` as modelspec's model calls it: a list op's tensors
    as one list, ``get_item`` as ``x[key]`` (a lone item bare, as ``x[1:]`` passes it)."""
    import keras

    from modelspec.catalog.ops import OPS
    from modelspec.catalog.subscript import parse_index

    if name == "get_item":
        index = parse_index(kwargs["index"])
        return args[0][index[0] if len(index) == 1 else index]
    if OPS[name].operands == "list":
        return getattr(keras.ops, name)(args, **kwargs)
    return getattr(keras.ops, name)(*args, **kwargs)


def _op_inputs(operands: list):
    import keras

    inputs = [keras.Input(batch_shape=o[0], dtype=o[1]) for o in operands if _is_tensor(o)]
    it = iter(inputs)
    return inputs, [next(it) if _is_tensor(o) else o for o in operands]


def op_keras_facts(name: str, kwargs: dict[str, Any], operands: list):
    """``(shape, dtype)`` of Keras's symbolic result, the batch axis included."""
    from keras.src.backend import standardize_dtype

    _, args = _op_inputs(operands)
    out = op_call(name, kwargs, args)
    return _shape(out), standardize_dtype(out.dtype)


def op_fails_at_run_time(name: str, kwargs: dict[str, Any], operands: list) -> bool:
    """True when Keras builds the op symbolically but a model of it fails on real data
    (each unknown size 2), or returns another shape than Keras claimed."""
    import keras
    import numpy as np

    inputs, args = _op_inputs(operands)
    out = op_call(name, kwargs, args)
    claimed = _shape(out)
    model = keras.Model(inputs, out)
    arrays = [np.ones(tuple(2 if d is None else d for d in o[0]), dtype=o[1])
              for o in operands if _is_tensor(o)]  # fmt: skip
    try:
        got = model(arrays)
    except Exception:  # noqa: BLE001 - any failure at run time is what we look for
        return True
    return len(got.shape) != len(claimed) or any(
        c is not None and g != c for g, c in zip(got.shape, claimed)
    )
