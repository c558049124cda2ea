"""Attention layers: MultiHeadAttention, GroupQueryAttention, Attention (dot-product)
and AdditiveAttention.

Keras infers their output shapes without running the call, so it accepts some inputs
that fail on the first real call (a query and key of different sizes, say). The
rules refuse those too, and say so in a comment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelspec.catalog.base import (
    ACTIVITY_REGULARIZER,
    BOOL,
    INT,
    POS_INT,
    RATE,
    TRAINABLE,
    Kwarg,
    LayerType,
    Shape,
    ShapeError,
    Weight,
    by_trainable,
    enum,
    expect_min_rank,
    known_dim,
    nullable,
    output_shape_from_config,
    own_weights,
    prod,
    weight_kwargs,
)

SEED = Kwarg("seed", nullable(INT), None, "Random seed for dropout.")
SIZES = {"anyOf": [POS_INT, {"type": "array", "items": POS_INT, "minItems": 1}]}
ATTENTION_AXES = {"anyOf": [INT, {"type": "array", "items": INT, "minItems": 1}]}


def _count(inputs, what: str) -> None:
    if not 2 <= len(inputs) <= 3:
        raise ShapeError(
            f"takes 2 or 3 inputs ({what}); got {len(inputs)}",
            code="MS305",
        )


# --- MultiHeadAttention ---------------------------------------------------------------


def _as_tuple(value) -> tuple[int, ...]:
    return (value,) if isinstance(value, int) else tuple(value)


def _attention_axes(axes, rank: int) -> set[int]:
    """The input axes MultiHeadAttention attends over, counted from 0."""
    if axes is None:
        return set(range(1, rank - 1))
    out = set()
    for a in _as_tuple(axes):
        # Keras counts a negative axis from the projected tensor (one axis more: the
        # heads), so -1 means rank - 1 here; past that `np.delete` fails while building.
        a = a if a >= 0 else rank + a
        if not -(rank + 1) <= a <= rank:
            raise ShapeError(
                f"got attention_axes {axes} out of range for inputs of rank {rank}",
                code="MS304",
            )
        out.add(a % (rank + 1))
    return out


def _mha_shape(kw, inputs):
    _count(inputs, "query, value[, key]")
    if kw["flash_attention"] and kw["dropout"] > 0:
        raise ShapeError("cannot use dropout with flash_attention=True", code="MS304")
    query, value = inputs[0], inputs[1]
    k = 2 if len(inputs) == 3 else 1  # key defaults to value
    key = inputs[k]
    # Keras compares the tuples as they are, so None against a size is refused too.
    if tuple(value[1:-1]) != tuple(key[1:-1]):
        raise ShapeError(
            "needs value {0} and key {1} equal on every axis but the batch and last ones",
            code="MS303",
            operands=(1, k),
        )
    # Keras infers the shape of a rank-2 call, but its softmax fails on the first call.
    for i in (0, 1):
        if len(inputs[i]) < 3:
            raise ShapeError(
                "needs query and value of rank at least 3 (batch, ..., features); got {0}",
                code="MS301",
                operands=(i,),
            )
    # Keras builds mismatched ranks, but the attention einsum fails on the first call.
    if len(query) != len(value):
        raise ShapeError(
            "needs query {0} and value {1} of the same rank", code="MS303", operands=(0, 1)
        )
    rank = len(value)
    attended = _attention_axes(kw["attention_axes"], rank)
    # Query, key and value must agree on the axes attention does not run over: the
    # batch axis always and, from rank 4 on, the other axes left out of attention_axes.
    # (At rank 3 Keras's fused kernel ignores attention_axes unless dropout is set, so
    # only the batch axis is certain.)
    batch_axes = [a for a in range(rank - 1) if a not in attended] if rank > 3 else [0]
    for j in sorted({k, 1}):
        other = inputs[j]
        for a in batch_axes:
            if query[a] is not None and other[a] is not None and query[a] != other[a]:
                raise ShapeError(
                    f"needs query {{0}} and {'key' if j == 2 else 'value'} {{1}} equal on "
                    f"axis {a}, which attention does not run over",
                    code="MS303",
                    operands=(0, j),
                )
    if kw["output_shape"]:
        return (*query[:-1], *_as_tuple(kw["output_shape"]))
    return tuple(query)


def _mha_params(kw, inputs):
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) == 3 else value
    heads, key_dim = kw["num_heads"], kw["key_dim"]
    value_dim = kw["value_dim"] or key_dim  # Keras: None means key_dim
    q_in, k_in, v_in = known_dim(query), known_dim(key), known_dim(value)
    out = _as_tuple(kw["output_shape"]) if kw["output_shape"] else (q_in,)
    bias = 1 if kw["use_bias"] else 0
    # Each projection is an EinsumDense: kernel (in, heads, dim), bias (heads, dim).
    count = (q_in + bias) * heads * key_dim  # query
    count += (k_in + bias) * heads * key_dim  # key
    count += (v_in + bias) * heads * value_dim  # value
    if kw["use_gate"]:
        count += (q_in + bias) * heads * value_dim  # sigmoid gate on the query
    count += (heads * value_dim + bias) * prod(out)  # output: kernel (heads, value_dim, *out)
    return by_trainable(kw, count)


def _projections(kw, parts) -> list[Weight]:
    """The EinsumDense projections of an attention layer, each ``(name, kernel, bias)``:
    Keras creates them in its build, named, and without its trainable flag."""
    out = []
    for name, kernel, bias in parts:
        out.append(Weight(f"{name}/kernel", kernel))
        if kw["use_bias"]:
            out.append(Weight(f"{name}/bias", bias))
    return out


def _mha_weights(kw, inputs):
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) == 3 else value
    heads, key_dim = kw["num_heads"], kw["key_dim"]
    value_dim = kw["value_dim"] or key_dim
    q_in, k_in, v_in = known_dim(query), known_dim(key), known_dim(value)
    out = _as_tuple(kw["output_shape"]) if kw["output_shape"] else (q_in,)
    parts = [
        ("query", (q_in, heads, key_dim), (heads, key_dim)),
        ("key", (k_in, heads, key_dim), (heads, key_dim)),
    ]
    if kw["use_gate"]:
        parts.append(("gate", (q_in, heads, value_dim), (heads, value_dim)))
    parts += [
        ("value", (v_in, heads, value_dim), (heads, value_dim)),
        ("attention_output", (heads, value_dim, *out), out),
    ]
    return _projections(kw, parts)


def _mha_from_config(kw: dict[str, Any]) -> None:
    output_shape_from_config(kw)
    if "value_dim" in kw and kw["value_dim"] == kw.get("key_dim"):
        del kw["value_dim"]  # Keras writes value_dim=key_dim when it was left out


def _mha_from_call(kw: dict[str, Any], inputs: Sequence[Shape | None]) -> None:
    """Keras writes the attention axes it chose when none were given: every axis but
    the batch and the features of the first call's query."""
    if "attention_axes" in kw and inputs and inputs[0] is not None:
        axes = kw["attention_axes"]
        if (axes if isinstance(axes, list) else [axes]) == list(range(1, len(inputs[0]) - 1)):
            del kw["attention_axes"]


MULTI_HEAD_ATTENTION = LayerType(
    name="MultiHeadAttention",
    owns_sublayers=True,
    category="attention",
    doc="Multi-head attention of `query` over `value` (keys default to the values).",
    kwargs=(
        Kwarg("num_heads", POS_INT, description="Number of attention heads."),
        Kwarg("key_dim", POS_INT, description="Size of each head for query and key."),
        Kwarg("value_dim", nullable(POS_INT), None, "Size of each head for value; None: key_dim."),
        Kwarg("dropout", RATE, 0.0, "Dropout rate on the attention scores."),
        Kwarg("use_bias", BOOL, True, "Whether the projections use bias vectors."),
        Kwarg(
            "output_shape",
            nullable(SIZES),
            None,
            "Size(s) of the output's trailing axes; None: the query's last axis.",
        ),
        Kwarg(
            "attention_axes",
            nullable(ATTENTION_AXES),
            None,
            "Axes attention runs over; None: all but batch, heads and features.",
        ),
        Kwarg(
            "sliding_window",
            nullable(POS_INT),
            None,
            "Attend only to keys within this many positions of each query.",
        ),
        Kwarg(
            "flash_attention",
            nullable(BOOL),
            None,
            "Use flash attention; None: Keras's global setting.",
        ),
        *weight_kwargs("kernel", "bias"),
        ACTIVITY_REGULARIZER,
        Kwarg("use_gate", BOOL, False, "Gate the attention output with a sigmoid of the query."),
        SEED,
        TRAINABLE,
    ),
    shape=_mha_shape,
    params=_mha_params,
    weights=_mha_weights,
    min_inputs=2,
    max_inputs=3,
    call="positional",
    from_config=_mha_from_config,
    from_call=_mha_from_call,
)


# --- GroupQueryAttention --------------------------------------------------------------
# Keras's class is GroupedQueryAttention, but keras.layers exports it, and a saved
# config names it, only as GroupQueryAttention: that is the name a spec writes.


def _gqa_check_kwargs(kw) -> None:
    # Keras refuses these when the layer is made.
    if kw["num_query_heads"] % kw["num_key_value_heads"]:
        raise ShapeError(
            f"needs num_query_heads divisible by num_key_value_heads; got "
            f"{kw['num_query_heads']} and {kw['num_key_value_heads']}",
            code="MS304",
            hint="each key/value head serves the same number of query heads",
        )
    if kw["flash_attention"] and kw["dropout"] > 0:
        raise ShapeError("cannot use dropout with flash_attention=True", code="MS304")


def _gqa_shape(kw, inputs):
    _count(inputs, "query, value[, key]")
    _gqa_check_kwargs(kw)
    query, value = inputs[0], inputs[1]
    k = 2 if len(inputs) == 3 else 1  # key defaults to value
    key = inputs[k]
    # The projections are einsums over (batch, steps, features): Keras fails to read a
    # rank-2 shape, and builds weights of the wrong size for a rank-4 one, whose first
    # call then fails.
    for i, shape in enumerate(inputs):
        if len(shape) != 3:
            raise ShapeError(
                "needs query, value and key of rank 3 (batch, steps, features); got {0}",
                code="MS301",
                operands=(i,),
            )
    # Keras compares the sizes as they are, so None against a size is refused too.
    if query[-1] != value[-1]:
        raise ShapeError(
            "needs query {0} and value {1} of the same size on the last axis",
            code="MS303",
            operands=(0, 1),
        )
    if tuple(value[1:-1]) != tuple(key[1:-1]):
        raise ShapeError(
            "needs value {0} and key {1} with the same number of steps (axis 1)",
            code="MS303",
            operands=(1, k),
        )
    # Keras builds inputs of different batch sizes; the attention einsums fail on the
    # first call (or, with dropout on, broadcast a batch of 1 to the other's size).
    for j in sorted({1, k}):
        if query[0] is not None and inputs[j][0] is not None and query[0] != inputs[j][0]:
            raise ShapeError(
                f"needs query {{0}} and {'key' if j == 2 else 'value'} {{1}} of the same "
                "batch size",
                code="MS303",
                operands=(0, j),
            )
    return tuple(query)


def _gqa_params(kw, inputs):
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) == 3 else value
    q_heads, kv_heads, head_dim = kw["num_query_heads"], kw["num_key_value_heads"], kw["head_dim"]
    q_in, k_in, v_in = known_dim(query), known_dim(key), known_dim(value)
    bias = 1 if kw["use_bias"] else 0
    # Each projection is an EinsumDense: kernel (in, heads, head_dim), bias (heads, head_dim).
    count = (q_in + bias) * q_heads * head_dim  # query
    count += (k_in + bias) * kv_heads * head_dim  # key
    count += (v_in + bias) * kv_heads * head_dim  # value
    if kw["use_gate"]:
        count += (q_in + bias) * q_heads * head_dim  # sigmoid gate on the query
    # output: kernel (query heads, head_dim, features), bias (features,)
    count += q_heads * head_dim * q_in + bias * q_in
    return by_trainable(kw, count)


def _gqa_weights(kw, inputs):
    query, value = inputs[0], inputs[1]
    key = inputs[2] if len(inputs) == 3 else value
    q_heads, kv_heads, head_dim = kw["num_query_heads"], kw["num_key_value_heads"], kw["head_dim"]
    q_in, k_in, v_in = known_dim(query), known_dim(key), known_dim(value)
    parts = [
        ("query", (q_in, q_heads, head_dim), (q_heads, head_dim)),
        ("key", (k_in, kv_heads, head_dim), (kv_heads, head_dim)),
    ]
    if kw["use_gate"]:
        parts.append(("gate", (q_in, q_heads, head_dim), (q_heads, head_dim)))
    parts += [
        ("value", (v_in, kv_heads, head_dim), (kv_heads, head_dim)),
        ("attention_output", (q_heads, head_dim, q_in), (q_in,)),
    ]
    return _projections(kw, parts)


GROUP_QUERY_ATTENTION = LayerType(
    name="GroupQueryAttention",
    owns_sublayers=True,
    category="attention",
    doc=(
        "Grouped-query attention of `query` over `value` (keys default to the values): "
        "each key/value head serves num_query_heads / num_key_value_heads query heads."
    ),
    kwargs=(
        Kwarg("head_dim", POS_INT, description="Size of each attention head."),
        Kwarg("num_query_heads", POS_INT, description="Number of query heads."),
        Kwarg(
            "num_key_value_heads",
            POS_INT,
            description="Number of key and value heads; must divide num_query_heads.",
        ),
        Kwarg("dropout", RATE, 0.0, "Dropout rate on the attention scores."),
        Kwarg("use_bias", BOOL, True, "Whether the projections use bias vectors."),
        Kwarg(
            "sliding_window",
            nullable(POS_INT),
            None,
            "Attend only to keys fewer than this many positions from each query.",
        ),
        Kwarg(
            "flash_attention",
            nullable(BOOL),
            None,
            "Use flash attention; None or false: Keras's global setting. Keras does not "
            "save it in the model's config.",
        ),
        *weight_kwargs("kernel", "bias"),
        ACTIVITY_REGULARIZER,
        Kwarg("use_gate", BOOL, False, "Gate the attention output with a sigmoid of the query."),
        SEED,
        TRAINABLE,
    ),
    shape=_gqa_shape,
    params=_gqa_params,
    weights=_gqa_weights,
    min_inputs=2,
    max_inputs=3,
    call="positional",
)


# --- Attention and AdditiveAttention ----------------------------------------------------


def _fits(a, b, *, broadcast: bool) -> bool:
    if a is None or b is None or a == b:
        return True
    return broadcast and 1 in (a, b)


def _attention_shape(kw, inputs):
    _count(inputs, "[query, value] or [query, value, key]")
    query, value = inputs[0], inputs[1]
    k = 2 if len(inputs) == 3 else 1
    key = inputs[k]
    for shape in inputs:
        expect_min_rank(shape, 2)
    # Keras takes the output shape from query and value alone; the checks below are
    # the first call's: scores = query . key (dot, a matmul) or sum(tanh(query + key))
    # (concat and AdditiveAttention, which broadcast), then weights . value.
    # AdditiveAttention has no score_mode: it always adds, like "concat".
    broadcast = kw.get("score_mode", "concat") == "concat"
    if not _fits(query[-1], key[-1], broadcast=broadcast):
        key_name = "key" if k == 2 else "value (the key when none is given)"
        raise ShapeError(
            f"needs query {{0}} and {key_name} {{1}} of the same size on the last axis",
            code="MS303",
            operands=(0, k),
        )
    if k == 2 and not _fits(key[-2], value[-2], broadcast=False):
        raise ShapeError(
            "needs key {0} and value {1} with the same number of steps (axis -2)",
            code="MS303",
            operands=(2, 1),
        )
    return (*query[:-1], value[-1])


def _attention_params(kw, inputs):
    # Two scalar weights: the score scale and, for "concat", the concat score weight.
    count = int(kw["use_scale"]) + int(kw["score_mode"] == "concat")
    return by_trainable(kw, count)


def _attention_weights(kw, inputs):
    return own_weights(kw, ("scale", ()) if kw["use_scale"] else None,
                       ("concat_score_weight", ()) if kw["score_mode"] == "concat" else None)  # fmt: skip


ATTENTION = LayerType(
    name="Attention",
    category="attention",
    doc="Dot-product (Luong-style) attention; called on [query, value] or [query, value, key].",
    kwargs=(
        Kwarg("use_scale", BOOL, False, "Learn a scalar that scales the attention scores."),
        Kwarg(
            "score_mode",
            enum("dot", "concat"),
            "dot",
            "How scores are computed: 'dot' product or 'concat' (tanh of the sum).",
        ),
        Kwarg("dropout", RATE, 0.0, "Dropout rate on the attention weights."),
        SEED,
        TRAINABLE,
    ),
    shape=_attention_shape,
    params=_attention_params,
    weights=_attention_weights,
    min_inputs=2,
    max_inputs=3,
)


def _additive_params(kw, inputs):
    # A scale vector the size of the query's last axis.
    count = known_dim(inputs[0]) if kw["use_scale"] else 0
    return by_trainable(kw, count)


def _additive_weights(kw, inputs):
    return own_weights(kw, ("scale", (known_dim(inputs[0]),)) if kw["use_scale"] else None)


ADDITIVE_ATTENTION = LayerType(
    name="AdditiveAttention",
    category="attention",
    doc="Additive (Bahdanau-style) attention; called on [query, value] or [query, value, key].",
    kwargs=(
        Kwarg("use_scale", BOOL, True, "Learn a vector that scales the attention scores."),
        Kwarg("dropout", RATE, 0.0, "Dropout rate on the attention weights."),
        SEED,
        TRAINABLE,
    ),
    shape=_attention_shape,
    params=_additive_params,
    weights=_additive_weights,
    min_inputs=2,
    max_inputs=3,
)

LAYERS = (MULTI_HEAD_ATTENTION, GROUP_QUERY_ATTENTION, ATTENTION, ADDITIVE_ATTENTION)
