"""Safe ops: the ``keras.ops`` functions a graph step may call, with a shape rule each.

A step ``{op: subtract, to: [x, 1.0]}`` is ``keras.ops.subtract(x, 1.0)``: called on a
Keras tensor, the function records an operation in the Functional model (Keras's
``Subtract`` class), which a saved ``.keras`` file lists beside the layers. The set is
fixed and documented (docs/spec.md, Ops); a name outside it is an error, and nothing
here evaluates text: a spec names an op and gives its operands and keywords as data.

Each op is an :class:`OpType`, a :class:`~modelspec.catalog.base.LayerType` with no
weights, so the passes that read layers (shapes, summary, graph) read it too. Its
``name`` is the op's name in a spec and in ``keras.ops`` (``subtract``), which is also
the name Keras gives its operation (``to_snake_case("Subtract")``); in the IR its
layer's type is ``ops.subtract`` (:func:`type_name`), apart from the layer types.

Operands (``to:``) come in four kinds: ``one`` tensor (``sqrt``), ``two`` operands of
which either may be a number (``subtract``; ``matmul`` takes two tensors), a ``list``
of tensors (``concatenate``), and ``index``, a tensor and a subscript string
(``get_item``, ``x[:, -1]``). The dtype rules are Keras's ``compute_output_spec``:
``dtypes.result_type`` for the operands, with a number as a weak type (an ``int32``
tensor plus ``1`` stays ``int32``, plus ``0.5`` is ``float32``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelspec.catalog.base import (
    AXIS,
    BOOL,
    DTYPES,
    FLOATS,
    INT,
    NUMBER,
    REQUIRED,
    Kwarg,
    LayerType,
    Shape,
    ShapeError,
    fmt_shape,
    prod,
)
from modelspec.catalog.subscript import get_item_shape

PREFIX = "ops."  # the IR type of an op's layer: ``ops.subtract``


def type_name(op: str) -> str:
    return PREFIX + op


@dataclass(frozen=True, slots=True)
class OpType(LayerType):
    """One ``keras.ops`` function. ``keras_class`` and ``module`` name Keras's operation
    (``keras.src.ops.numpy.Subtract``), as a saved config writes them; ``operands`` is
    ``one``, ``two``, ``list`` or ``index``; ``result`` the dtype rule (see
    :func:`result_dtype`)."""

    keras_class: str = ""
    module: str = "numpy"
    operands: str = "one"
    result: str = "same"
    numbers: bool = True  # whether an operand may be a number (``two`` ops)

    @property
    def function(self) -> str:
        return f"keras.ops.{self.name}"

    @property
    def keras_name(self) -> str:
        """The name Keras gives the operation: ``absolute`` for ``abs``, else the op's."""
        return re.sub("([a-z])([A-Z])", r"\1_\2", self.keras_class).lower()


# --- dtypes ---------------------------------------------------------------------------

_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64,
         "uint8": 8, "uint16": 16, "uint32": 32}  # fmt: skip


def _promote(a: str, b: str) -> str:
    """``dtypes.result_type`` of two tensor dtypes (Keras's lattice, JAX's rules)."""
    if a == b:
        return a
    if a == "bool":
        return b
    if b == "bool":
        return a
    if a in FLOATS or b in FLOATS:
        if a in FLOATS and b in FLOATS:
            if "float64" in (a, b):
                return "float64"
            return "float32"  # float16 with bfloat16, or either with float32
        return a if a in FLOATS else b
    ua, ub = a.startswith("u"), b.startswith("u")
    if ua == ub:
        return a if _BITS[a] >= _BITS[b] else b
    signed, unsigned = (b, a) if ua else (a, b)
    if _BITS[signed] > _BITS[unsigned]:
        return signed
    return f"int{min(_BITS[unsigned] * 2, 64)}"


def result_dtype(op: OpType, kw: Mapping[str, Any], dtypes: Sequence[Any]) -> str | None:
    """The output dtype of ``op`` on operands of ``dtypes``: a dtype for a tensor, the
    Python type (``int``, ``float``) for a number; None when one is unknown."""
    tensors = [d for d in dtypes if isinstance(d, str)]
    if len(tensors) < len([d for d in dtypes if d not in (int, float)]):
        return None
    rule = op.result
    if rule == "kwarg":
        return kw.get("dtype") or tensors[0]
    if rule == "int32":
        return "int32"
    if rule == "matmul" and tensors == ["int8", "int8"]:
        return "int32"  # Matmul.compute_output_spec: int8 matrices multiply into int32
    out = tensors[0]
    for d in tensors[1:]:
        out = _promote(out, d)
    if float in dtypes and out not in FLOATS:
        out = "float32"
    elif int in dtypes and out == "bool":
        out = "int32"
    if rule == "float":  # sqrt, exp, mean: integers become float32
        return out if out in FLOATS else "float32"
    if rule == "float32":
        return "float32"
    if rule == "divide":
        return out if out in FLOATS else "float32"
    if rule == "no_bool":  # square, clip, cumsum
        return "int32" if out == "bool" else out
    if rule == "sum":
        if out in ("bool", "int8", "int16"):
            return "int32"
        return "uint32" if out in ("uint8", "uint16") else out
    if rule == "cumsum":
        out = kw.get("dtype") or out
        return "int32" if out == "bool" else out
    if rule == "like":
        return kw.get("dtype") or out
    return out


# --- shape rules ----------------------------------------------------------------------


def _axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise ShapeError(
            f"has {what} {axis}, out of range for an input of rank {rank} ({{0}})",
            code="MS304",
            operands=(0,),
            hint=f"an axis is from {-rank} to {rank - 1}, counting the batch axis as 0",
        )
    return axis % rank


def _axes(value: Any) -> list[int]:
    return [value] if isinstance(value, int) else list(value)


def _unique(axes: list[int], given: Any) -> list[int]:
    """``axes`` (in range already), refused when two name one axis: Keras's shape
    rules drop a repeated axis twice or fail, and TensorFlow refuses it when it runs."""
    if len(set(axes)) != len(axes):
        raise ShapeError(f"has a repeated axis in {given}", code="MS304",
                         hint="name each axis once (-1 and the last axis are the same one)")  # fmt: skip
    return axes


def _same(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    return shapes[0]


def _same_axis(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    _axis(kw["axis"], len(shapes[0]))
    return shapes[0]


def _triangle(kw: Mapping[str, Any], shapes: Sequence[Shape], upper: bool) -> Shape:
    """The input's shape. Keras's symbolic shape takes rank 1 and any ``k``, but
    TensorFlow's ``band_part`` fails when it runs on a vector, and on a diagonal ``k``
    past the last column (``tril``) or, below the first row, past the last row (``triu``)."""
    shape = shapes[0]
    if len(shape) < 2:
        raise ShapeError("needs an input of rank 2 or more; got {0}", code="MS301", operands=(0,))
    k, rows, cols = kw["k"], shape[-2], shape[-1]
    side, size = ("rows", rows) if upper else ("columns", cols)
    if size is not None and (-k if upper else k) > size:
        raise ShapeError(
            f"has k={k}, a diagonal outside the last two axes of {{0}} ({size} {side}); "
            "Keras's TensorFlow backend fails on it when it runs",
            code="MS304",
            operands=(0,),
            hint=f"k: {1 - size if upper else size - 1} keeps every value already, as k={k} would",
        )
    return shape


def _tril(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    return _triangle(kw, shapes, upper=False)


def _triu(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    return _triangle(kw, shapes, upper=True)


def broadcast(shapes: Sequence[Shape]) -> Shape:
    """Keras's ``broadcast_shapes``, pairwise: aligned from the right, a 1 takes the
    other size, ``None`` takes a known one, other sizes must be equal."""
    out = list(shapes[0])
    src = [0] * len(out)
    for k, shape in enumerate(shapes[1:], 1):
        other = list(shape)
        if len(other) > len(out):
            lead = len(other) - len(out)
            out, src = [1] * lead + out, [k] * lead + src
        other = [1] * (len(out) - len(other)) + other
        for i, (a, b) in enumerate(zip(out, other, strict=True)):
            if a == 1:
                out[i], src[i] = b, k
            elif a is None:
                out[i] = None if b == 1 else b
            elif b not in (1, None, a):
                raise ShapeError(
                    "needs shapes that broadcast: equal or 1 on every axis; got {0} and {1}",
                    code="MS303",
                    operands=(src[i], k),
                )
    return tuple(out)


def _binary(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    return broadcast(shapes)


def _matmul(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    """``compute_matmul_output_shape``: the last axis of the first against the
    second-to-last of the second, the leading axes broadcast."""
    a, b = list(shapes[0]), list(shapes[1])
    if not a or not b:
        raise ShapeError("needs inputs of rank 1 or more; got {0} and {1}", code="MS301",
                         operands=(0, 1))  # fmt: skip
    squeeze_a, squeeze_b = len(a) == 1, len(b) == 1
    a = [1, *a] if squeeze_a else a
    b = [*b, 1] if squeeze_b else b
    if a[-1] is not None and b[-2] is not None and a[-1] != b[-2]:
        raise ShapeError(
            "needs the first input's last axis to match the second's second-to-last; "
            "got {0} and {1}",
            code="MS303",
            operands=(0, 1),
        )
    lead = list(broadcast([tuple(a[:-2]), tuple(b[:-2])])) if len(a) > 2 or len(b) > 2 else []
    out = [*lead, a[-2], b[-1]]
    if squeeze_a:
        del out[-2]
    if squeeze_b:
        del out[-1]
    return tuple(out)


def _reduce(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    shape = list(shapes[0])
    axis = kw.get("axis")
    if axis is None:
        return tuple(1 for _ in shape) if kw.get("keepdims") else ()
    axes = _unique([_axis(a, len(shape)) for a in _axes(axis)], axis)
    if kw.get("keepdims"):
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


_MATRIX_ORDS = (None, "fro", "nuc", float("inf"), float("-inf"), 1, -1, 2, -2)


def _norm(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    """``Norm.compute_output_spec``: a vector norm over one axis, a matrix norm over two,
    each with its own ``ord`` values; no axis is every axis of the input."""
    axis, order = kw.get("axis"), kw.get("ord")
    count = len(shapes[0]) if axis is None else len(_axes(axis))
    if count > 2:
        # Keras's symbolic shape takes any number of axes, but its TensorFlow norm
        # fails when it runs ("Invalid axis values"), null axis on rank 3 or more too.
        got = f"{axis}" if axis is not None else f"no axis, so all {count} axes of {{0}}"
        raise ShapeError(
            f"takes one axis (a vector norm) or two (a matrix norm); got {got}",
            code="MS304",
            operands=(0,) if axis is None else (),
            hint="set `axis`: one axis for a vector norm, two for a matrix norm",
        )
    if count == 1 and isinstance(order, str):
        raise ShapeError(
            f"takes a number or null for `ord` in a vector norm (one axis); got {order!r}",
            code="MS304",
            hint="'fro' and 'nuc' are matrix norms: give two axes",
        )
    if count == 2 and order not in _MATRIX_ORDS:
        raise ShapeError(
            f"takes `ord` null, 'fro', 'nuc', 1, -1, 2, -2, inf or -inf in a matrix norm "
            f"(two axes); got {order!r}",
            code="MS304",
            hint="for a vector norm of another order, give one axis",
        )
    return _reduce(kw, shapes)


def _cumsum(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    shape = shapes[0]
    if kw.get("axis") is None:
        return (None,) if None in shape else (prod(shape),)
    _axis(kw["axis"], len(shape))
    return shape


def _transpose(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    shape = shapes[0]
    axes = kw.get("axes")
    if axes is None:
        return tuple(reversed(shape))
    if sorted(a % len(shape) if -len(shape) <= a < len(shape) else a for a in axes) != list(
        range(len(shape))
    ):
        raise ShapeError(
            f"needs `axes` to order all {len(shape)} axes of its input {{0}}, the batch "
            f"axis too; got {list(axes)}",
            code="MS304",
            operands=(0,),
            hint=f"list each of 0 to {len(shape) - 1} once: [0, 2, 1] swaps the last two of three",
        )
    return tuple(shape[a] for a in axes)


def _reshape(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    """``compute_reshape_output_shape``: ``newshape`` counts the batch axis; a -1 is the
    size that is left, None while any input size is unknown (the batch's always is)."""
    shape, new = shapes[0], list(kw["newshape"])
    if new.count(-1) > 1:
        raise ShapeError("takes at most one -1 in `newshape`", code="MS304")
    if None in shape:
        return tuple(None if d == -1 else d for d in new)
    size, known = prod(shape), prod(d for d in new if d != -1)
    if -1 not in new and size != known or -1 in new and (known == 0 or size % known):
        raise ShapeError(
            f"cannot reshape {{0}} ({size} values) to {fmt_shape(tuple(new))}",
            code="MS304",
            operands=(0,),
        )
    return tuple(size // known if d == -1 else d for d in new)


def _expand_dims(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    shape = list(shapes[0])
    axes = _axes(kw["axis"])
    rank = len(shape) + len(axes)
    where = set(_unique([_axis(a, rank) for a in axes], kw["axis"]))
    it = iter(shape)
    return tuple(1 if i in where else next(it) for i in range(rank))


def _squeeze(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    shape = list(shapes[0])
    if kw.get("axis") is None:
        return tuple(d for d in shape if d != 1)
    axes = _unique([_axis(a, len(shape)) for a in _axes(kw["axis"])], kw["axis"])
    for a in axes:
        if shape[a] != 1:
            raise ShapeError(
                f"cannot squeeze axis {a} of {{0}}: its size is not 1",
                code="MS304",
                operands=(0,),
            )
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _fits(shapes: Sequence[Shape], skip: int | None, what: str) -> None:
    first = shapes[0]
    for k, shape in enumerate(shapes[1:], 1):
        same = len(shape) == len(first) and all(
            i == skip or a is None or b is None or a == b
            for i, (a, b) in enumerate(zip(first, shape, strict=True))
        )
        if not same:
            raise ShapeError(f"needs {what}; got {{0}} and {{1}}", code="MS303", operands=(0, k))


def _concatenate(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    axis = _axis(kw["axis"], len(shapes[0]))
    _fits(shapes, axis, f"the same shape on every axis but {kw['axis']}")
    sizes = [s[axis] for s in shapes]
    out = list(shapes[0])
    out[axis] = None if None in sizes else sum(sizes)
    return tuple(out)


def _stack(kw: Mapping[str, Any], shapes: Sequence[Shape]) -> Shape:
    axis = _axis(kw["axis"], len(shapes[0]) + 1)
    _fits(shapes, None, "inputs of one shape")
    out = list(shapes[0])
    out.insert(axis, len(shapes))
    return tuple(out)


# --- the set --------------------------------------------------------------------------

_AXES = {"anyOf": [AXIS, {"type": "array", "items": AXIS, "minItems": 1, "maxItems": 16},
                   {"type": "null"}]}  # fmt: skip
_DTYPE = {"anyOf": [{"enum": [d for d in DTYPES if d != "string"]}, {"type": "null"}]}
_KEEPDIMS = Kwarg("keepdims", BOOL, False, "Keep each reduced axis, with size 1.")


_ONE_AXIS = {"anyOf": [AXIS, {"type": "null"}]}


def _axis_kw(
    default: Any = None, doc: str = "The axis, counting the batch axis as 0.", one: bool = False
) -> Kwarg:
    """``axis``: an int with a default, else an int, a list (unless ``one``) or null."""
    schema = AXIS if default is not None else _ONE_AXIS if one else _AXES
    return Kwarg("axis", schema, default, doc)


def _op(
    name: str,
    cls: str,
    shape: Callable[[Mapping[str, Any], Sequence[Shape]], Any],
    *,
    module: str = "numpy",
    operands: str = "one",
    result: str = "same",
    kwargs: tuple[Kwarg, ...] = (),
    doc: str = "",
    numbers: bool = True,
) -> OpType:
    inputs = {"one": (1, 1), "two": (1, 2), "list": (1, None), "index": (1, 1)}[operands]
    if operands == "two" and not numbers:
        inputs = (2, 2)
    return OpType(
        name=name,
        kwargs=kwargs,
        shape=shape,
        category="ops",
        doc=doc or f"`keras.ops.{name}`.",
        min_inputs=inputs[0],
        max_inputs=inputs[1],
        keras_class=cls,
        module=module,
        operands=operands,
        result=result,
        numbers=numbers,
    )


def _unary(name: str, cls: str, result: str = "same", module: str = "numpy") -> OpType:
    return _op(name, cls, _same, result=result, module=module)


def _reduction(name: str, cls: str, result: str = "same", module: str = "numpy",
               one: bool = False) -> OpType:  # fmt: skip
    return _op(name, cls, _reduce, result=result, module=module,
               kwargs=(_axis_kw(one=one), _KEEPDIMS))  # fmt: skip


OPS_LIST: tuple[OpType, ...] = (
    # arithmetic: two operands, either may be a number
    *(
        _op(name, cls, _binary, operands="two", result=result)
        for name, cls, result in (
            ("add", "Add", "same"),
            ("subtract", "Subtract", "same"),
            ("multiply", "Multiply", "same"),
            ("divide", "Divide", "divide"),
            ("power", "Power", "same"),
            ("maximum", "Maximum", "same"),
            ("minimum", "Minimum", "same"),
        )
    ),
    _op("matmul", "Matmul", _matmul, operands="two", result="matmul", numbers=False),
    # elementwise functions of one tensor
    _unary("negative", "Negative"),
    _unary("abs", "Absolute"),
    _unary("square", "Square", "no_bool"),
    _unary("sqrt", "Sqrt", "float"),
    _unary("rsqrt", "Rsqrt", module="math"),
    _unary("reciprocal", "Reciprocal", "float32"),
    _unary("exp", "Exp", "float"),
    _unary("log", "Log", "float"),
    _unary("sin", "Sin", "float"),
    _unary("cos", "Cos", "float"),
    _unary("tanh", "Tanh", "float"),
    _unary("erf", "Erf", module="math"),
    _unary("sigmoid", "Sigmoid", module="nn"),
    _unary("relu", "Relu", module="nn"),
    _unary("silu", "Silu", module="nn"),
    _unary("softplus", "Softplus", module="nn"),
    _op(
        "gelu",
        "Gelu",
        _same,
        module="nn",
        kwargs=(Kwarg("approximate", BOOL, True, "The tanh approximation."),),
    ),  # fmt: skip
    _op("softmax", "Softmax", _same_axis, module="nn", kwargs=(_axis_kw(-1),)),
    _op("log_softmax", "LogSoftmax", _same_axis, module="nn", kwargs=(_axis_kw(-1),)),
    _op(
        "clip",
        "Clip",
        _same,
        result="no_bool",
        kwargs=(
            Kwarg("x_min", NUMBER, REQUIRED, "The smallest value."),
            Kwarg("x_max", NUMBER, REQUIRED, "The largest value."),
        ),
    ),  # fmt: skip
    _op("tril", "Tril", _tril, kwargs=(Kwarg("k", INT, 0, "The diagonal: 0 the main one."),)),
    _op("triu", "Triu", _triu, kwargs=(Kwarg("k", INT, 0, "The diagonal: 0 the main one."),)),
    # reductions
    _reduction("sum", "Sum", "sum"),
    _reduction("mean", "Mean", "float"),
    _reduction("max", "Max"),
    _reduction("min", "Min"),
    # One axis: Keras's symbolic shape takes a list, TensorFlow's argmax fails on it.
    _reduction("argmax", "Argmax", "int32", one=True),
    _reduction("logsumexp", "Logsumexp", "float32", module="math"),
    _op(
        "norm",
        "Norm",
        _norm,
        module="linalg",
        result="float",
        kwargs=(
            Kwarg(
                "ord",
                {"anyOf": [NUMBER, {"enum": ["fro", "nuc"]}, {"type": "null"}]},
                None,
                "The order: null for the 2-norm (Frobenius for two axes).",
            ),
            _axis_kw(
                doc="The axis of a vector norm, or two of a matrix norm; null: all (of 1 or 2)."
            ),
            _KEEPDIMS,
        ),
    ),  # fmt: skip
    _op(
        "cumsum",
        "Cumsum",
        _cumsum,
        result="cumsum",
        kwargs=(
            _axis_kw(doc="The axis to sum along; null: the flattened input.", one=True),
            Kwarg("dtype", _DTYPE, None, "The dtype of the sums."),
        ),
    ),  # fmt: skip
    # shapes and dtypes
    _op(
        "reshape",
        "Reshape",
        _reshape,
        kwargs=(
            Kwarg(
                "newshape",
                {"type": "array", "items": {"type": "integer", "minimum": -1}, "maxItems": 16},
                REQUIRED,
                "The new shape, the batch axis first (-1: the size left).",
            ),
        ),
    ),  # fmt: skip
    _op(
        "transpose",
        "Transpose",
        _transpose,
        kwargs=(
            Kwarg(
                "axes",
                {"anyOf": [{"type": "array", "items": AXIS, "maxItems": 16}, {"type": "null"}]},
                None,
                "The order of the axes, the batch axis too; null reverses them.",
            ),
        ),
    ),  # fmt: skip
    _op(
        "expand_dims",
        "ExpandDims",
        _expand_dims,
        kwargs=(
            Kwarg(
                "axis",
                {"anyOf": [AXIS, {"type": "array", "items": AXIS, "minItems": 1, "maxItems": 16}]},
                REQUIRED,
                "Where the new axis of size 1 goes.",
            ),
        ),
    ),  # fmt: skip
    _op(
        "squeeze",
        "Squeeze",
        _squeeze,
        kwargs=(_axis_kw(doc="The axis of size 1 to drop; null: every one."),),
    ),  # fmt: skip
    _op(
        "concatenate",
        "Concatenate",
        _concatenate,
        operands="list",
        kwargs=(_axis_kw(0, "The axis to join along (0, Keras's default, is the batch axis)."),),
    ),  # fmt: skip
    _op(
        "stack",
        "Stack",
        _stack,
        operands="list",
        kwargs=(_axis_kw(0, "Where the new axis goes (0, Keras's default, is before the batch)."),),
    ),  # fmt: skip
    _op(
        "get_item",
        "GetItem",
        get_item_shape,
        operands="index",
        kwargs=(
            Kwarg(
                "index",
                {"type": "string", "minLength": 1, "maxLength": 200},
                REQUIRED,
                "The subscript, as Python writes it: `[:, -1]`, `[..., 0:8]`, `[:, None]`.",
            ),
        ),
    ),  # fmt: skip
    _op(
        "cast",
        "Cast",
        _same,
        module="core",
        result="kwarg",
        kwargs=(
            Kwarg(
                "dtype",
                {"enum": [d for d in DTYPES if d != "string"]},
                REQUIRED,
                "The dtype to cast to.",
            ),
        ),
    ),  # fmt: skip
    _op(
        "ones_like",
        "OnesLike",
        _same,
        result="like",
        kwargs=(Kwarg("dtype", _DTYPE, None, "The dtype; null: the input's."),),
    ),  # fmt: skip
    _op(
        "zeros_like",
        "ZerosLike",
        _same,
        result="like",
        kwargs=(Kwarg("dtype", _DTYPE, None, "The dtype; null: the input's."),),
    ),  # fmt: skip
)

OPS: dict[str, OpType] = {op.name: op for op in OPS_LIST}

# Names a reader may reach for that are not in the set, and what to write instead.
REFUSED: dict[str, str] = {
    "arange": (
        "Keras computes `arange` once, as a constant, so a layer called on it (an "
        "`Embedding` of positions) is left out of the model and never trained; count "
        "positions from the tokens instead: `{op: ones_like, to: tokens}`, then "
        "`{op: cumsum, to: ones, axis: 1}` and `{op: subtract, to: [counted, 1]}`"
    ),
    "random.normal": (
        "Keras draws no random numbers on a symbolic tensor; for sampling (a VAE's z), "
        "add `GaussianNoise` to `{op: zeros_like, to: mean}` for the noise and scale it "
        "with ops: `z = mean + exp(0.5 * log_var) * noise` (the noise acts in training only)"
    ),
    "lambda": "a spec holds no Python code: write a function as a chain of ops",
    "eval": "a spec holds no Python code: write a function as a chain of ops",
}
REFUSED["random_normal"] = REFUSED["random.normal"]
REFUSED["normal"] = REFUSED["random.normal"]


def op_of(type_: str) -> OpType | None:
    """The op of an IR layer type ``ops.NAME``; None for a layer type."""
    return OPS.get(type_[len(PREFIX) :]) if type_.startswith(PREFIX) else None
