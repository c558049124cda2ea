"""Merge layers: Concatenate, the elementwise merges (Add, ...) and Dot.

Each is called on a list of tensors (``layer([a, b])``) and has no weights. Their
output dtype is float: Keras's ``Merge.compute_output_spec`` gives the symbolic
output the layer's float32 compute dtype, whatever the inputs' dtypes.
"""

from __future__ import annotations

from modelspec.catalog.base import (
    AXIS,
    BOOL,
    INT,
    TRAINABLE,
    Kwarg,
    LayerType,
    ShapeError,
    fmt_shape,
)


def _expect_count(inputs, low: int, high: int | None) -> None:
    n = len(inputs)
    if n < low or (high is not None and n > high):
        if high == low:
            want = f"exactly {low}"
        elif high is None:
            want = f"at least {low}"
        else:
            want = f"{low} to {high}"
        raise ShapeError(f"takes {want} inputs; got {n}", code="MS305")


def _batch(inputs) -> int | None:
    """The batch size the inputs agree on (None when none is known).

    ``Merge.build`` refuses two different known batch sizes.
    """
    known: tuple[int, int] | None = None  # (input index, size)
    for i, shape in enumerate(inputs):
        if not shape or shape[0] is None:
            continue
        if known is None:
            known = (i, shape[0])
        elif shape[0] != known[1]:
            raise ShapeError(
                "needs the same batch size on all inputs; got {0} and {1}",
                code="MS303",
                operands=(known[0], i),
            )
    return None if known is None else known[1]


# --- Add, Subtract, Multiply, Average, Maximum, Minimum -------------------------------


def _elementwise_shape(inputs) -> tuple:
    """Keras's ``Merge.compute_output_shape`` for the elementwise merges.

    The non-batch shapes are folded pairwise with
    ``_compute_elemwise_op_output_shape``: aligned from the right (a shorter
    shape gets the longer's leading axes), a ``None`` on either side gives
    ``None`` even against a known size, a 1 takes the other size, other sizes
    must be equal. The batch axis is the one known batch size, if any.
    """
    batch = _batch(inputs)
    out: list = list(inputs[0][1:])
    src: list = [0] * len(out)  # which input gave each known size in ``out``
    for k in range(1, len(inputs)):
        shape = list(inputs[k][1:])
        if len(shape) > len(out):
            lead = len(shape) - len(out)
            out, src = shape[:lead] + out, [k] * lead + src
        offset = len(out) - len(shape)
        for pos, j in enumerate(shape):
            p = offset + pos
            i = out[p]
            if i is None or j is None:
                out[p] = None
            elif i == 1:
                out[p], src[p] = j, k
            elif j != 1 and i != j:
                raise ShapeError(
                    "needs shapes that are equal or broadcast (size 1) on every axis;"
                    " got {0} and {1}",
                    code="MS303",
                    operands=(src[p], k),
                    hint="axes are matched from the last; a size-1 axis stretches",
                )
    return (batch, *out)


def _elementwise(name: str, doc: str, low: int = 1, high: int | None = None) -> LayerType:
    def rule(kw, inputs):
        _expect_count(inputs, low, high)
        return _elementwise_shape(inputs)

    return LayerType(
        name=name,
        category="merge",
        doc=doc,
        kwargs=(TRAINABLE,),
        shape=rule,
        min_inputs=low,
        max_inputs=high,
        call="list",
    )


# Keras's ``Merge.build`` takes a single input (it is returned unchanged).
ADD = _elementwise("Add", "Elementwise sum of the inputs.")
# ``Subtract.build`` insists on exactly two inputs: ``inputs[0] - inputs[1]``.
SUBTRACT = _elementwise("Subtract", "Elementwise difference `a - b` of two inputs.", 2, 2)
MULTIPLY = _elementwise("Multiply", "Elementwise product of the inputs.")
AVERAGE = _elementwise("Average", "Elementwise mean of the inputs.")
MAXIMUM = _elementwise("Maximum", "Elementwise maximum of the inputs.")
MINIMUM = _elementwise("Minimum", "Elementwise minimum of the inputs.")


# --- Concatenate ---------------------------------------------------------------------


def _concatenate_shape(kw, inputs):
    _expect_count(inputs, 1, None)
    axis = kw["axis"]
    rank = len(inputs[0])
    for k, shape in enumerate(inputs[1:], start=1):
        if len(shape) != rank:
            raise ShapeError(
                "needs inputs of the same rank; got {0} and {1}", code="MS303", operands=(0, k)
            )
    if len(inputs) == 1 and axis >= -rank:
        # Keras only deletes ``axis`` from a lone input's shape, which skips a
        # positive axis past the end, and concatenating one tensor returns it
        # unchanged: such an axis passes. A negative one past the start fails.
        return tuple(inputs[0])
    # Keras indexes the shapes with ``axis`` as given, so it must be in range.
    if not -rank <= axis < rank:
        raise ShapeError(
            f"needs axis in [{-rank}, {rank - 1}] for inputs of rank {rank}; got axis={axis}",
            code="MS304",
        )
    axis %= rank
    # Every other axis must agree where both sizes are known; None matches anything.
    for p in range(rank):
        if p == axis:
            continue
        first: tuple[int, int] | None = None
        for k, shape in enumerate(inputs):
            if shape[p] is None:
                continue
            if first is None:
                first = (k, shape[p])
            elif shape[p] != first[1]:
                raise ShapeError(
                    f"needs equal sizes on every axis but the concatenation axis {axis};"
                    " got {0} and {1}",
                    code="MS303",
                    operands=(first[0], k),
                )
    # Keras copies the other axes from the first input, even where it has None
    # and a later input knows the size.
    out = list(inputs[0])
    sizes = [shape[axis] for shape in inputs]
    out[axis] = None if None in sizes else sum(sizes)
    return tuple(out)


CONCATENATE = LayerType(
    name="Concatenate",
    category="merge",
    doc="Concatenates the inputs along `axis`; the other axes must match.",
    kwargs=(
        Kwarg(
            "axis",
            AXIS,
            -1,
            "Axis to concatenate along (counts the batch axis as 0; negative from the end).",
        ),
        TRAINABLE,
    ),
    shape=_concatenate_shape,
    min_inputs=1,
    max_inputs=None,
    call="list",
)


# --- Dot -----------------------------------------------------------------------------


def _dot_axes(axes, shapes) -> list[int]:
    """The two axes, non-negative, as Keras resolves them.

    An int applies to both inputs; a negative int is taken modulo each rank
    (``Dot.build`` uses ``%``, so e.g. -5 on rank 2 means axis 1). A pair is
    indexed as given, so each must lie in ``[-rank, rank)``.
    """
    pair = [axes, axes] if isinstance(axes, int) else list(axes)
    out = []
    for a, shape in zip(pair, shapes):
        rank = len(shape)
        if isinstance(axes, int) and a < 0:
            a %= rank
        elif not -rank <= a < rank:
            raise ShapeError(
                f"needs axes within the input's rank {rank}; got axes={axes}", code="MS304"
            )
        out.append(a % rank)
    return out


def _dot_shape(kw, inputs):
    _expect_count(inputs, 2, 2)
    s1, s2 = inputs
    for shape in inputs:
        if len(shape) < 2:
            raise ShapeError(
                f"needs inputs of rank at least 2; got rank {len(shape)}: {fmt_shape(shape)}",
                code="MS301",
            )
    a1, a2 = _dot_axes(kw["axes"], inputs)
    # Keras's symbolic build lets these two through, but ``batch_dot`` refuses
    # them as soon as the model runs.
    if 0 in (a1, a2):
        raise ShapeError(
            f"cannot take the dot product over the batch axis 0; got axes={kw['axes']}",
            code="MS304",
        )
    if s1[0] is not None and s2[0] is not None and s1[0] != s2[0]:
        raise ShapeError(
            "needs the same batch size on both inputs; got {0} and {1}",
            code="MS303",
            operands=(0, 1),
        )
    # ``Dot.build`` compares with ``!=``: an unknown size against a known one
    # is refused too.
    if s1[a1] != s2[a2]:
        raise ShapeError(
            f"needs equal sizes on the dot axes ({a1} of the first, {a2} of the second);"
            " got {0} and {1}",
            code="MS303",
            operands=(0, 1),
            hint="a size that is None on one side must be None on the other too",
        )
    out = [d for i, d in enumerate(s1) if i != a1]
    out += [d for i, d in enumerate(s2) if i not in (0, a2)]
    if len(out) == 1:
        out.append(1)  # batch_dot keeps a rank-2 result: (batch, 1)
    return tuple(out)


DOT = LayerType(
    name="Dot",
    category="merge",
    doc="Batchwise dot product of two inputs along `axes`.",
    kwargs=(
        Kwarg(
            "axes",
            {"anyOf": [dict(INT), {"type": "array", "minItems": 2, "maxItems": 2, "items": INT}]},
            description="Axis to sum over, for both inputs (int) or each input ([a, b]);"
            " never the batch axis 0.",
        ),
        Kwarg(
            "normalize",
            BOOL,
            False,
            "L2-normalize both inputs along the dot axes first (gives cosine similarity).",
        ),
        TRAINABLE,
    ),
    shape=_dot_shape,
    min_inputs=2,
    max_inputs=2,
    call="list",
)

LAYERS = (CONCATENATE, ADD, SUBTRACT, MULTIPLY, AVERAGE, MAXIMUM, MINIMUM, DOT)
