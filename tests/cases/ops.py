"""Conformance cases for modelspec.catalog.ops: each safe op against ``keras.ops``.

Read by tests/test_ops_conformance.py, not by :func:`tests.cases.load`: an op has no
layer and no weights, and its facts are a shape and a dtype. An operand is a tensor
``T(shape, dtype)``, its shape with the batch axis, or (in a ``two`` op) a Python number.

- ``CASES``: ``(op, kwargs, operands)``. The catalogue's output shape and dtype equal
  those of Keras's symbolic result.
- ``BAD``: ``(op, kwargs, operands, code)``. Keras refuses the call; the catalogue
  raises ``ShapeError`` with ``code``.
- ``DIVERGENT``: ``(op, kwargs, operands, code)``. Keras builds the call symbolically,
  then a model of it fails on real data (TensorFlow); the catalogue refuses.
- ``SCHEMA``: ``(op, kwargs, operands)`` whose keywords the op's schema refuses (MS104);
  Keras refuses them too, or fails on them when it runs.
"""

from __future__ import annotations

import itertools


def T(shape: tuple, dtype: str = "float32") -> tuple:
    return (tuple(shape), dtype)


# The dtypes every op is tried on, and all of them for the promotion lattice.
DTYPES = ("float32", "float16", "int32", "int64", "uint8", "bool")
ALL_DTYPES = ("float32", "float16", "bfloat16", "float64", "int8", "int16", "int32", "int64",
              "uint8", "uint16", "uint32", "bool")  # fmt: skip
NUMBERS = (2, 0.5)
R3 = (None, 3, 4)  # a batch of 3 x 4 matrices

UNARY = ("negative", "abs", "square", "sqrt", "rsqrt", "reciprocal", "exp", "log", "sin",
         "cos", "tanh", "erf", "sigmoid", "relu", "silu", "softplus", "gelu")  # fmt: skip
BINARY = ("add", "subtract", "multiply", "divide", "power", "maximum", "minimum")
REDUCTIONS = ("sum", "mean", "max", "min", "argmax", "logsumexp")

CASES: list = []

# --- elementwise, one tensor ----------------------------------------------------------
for _op in UNARY:
    CASES += [(_op, {}, [T(s)]) for s in [(None, 4), (None, None, 3), (2, 3, 4), (None,)]]
    CASES += [(_op, {}, [T((None, 3), d)]) for d in ALL_DTYPES]
CASES += [("gelu", {"approximate": False}, [T(R3, d)]) for d in DTYPES]

for _op in ("softmax", "log_softmax"):
    CASES += [
        (_op, kw, [T(R3)]) for kw in [{}, {"axis": 0}, {"axis": 1}, {"axis": -2}, {"axis": 2}]
    ]
    CASES += [(_op, {"axis": -1}, [T((None, None))]), (_op, {}, [T((None,))])]
    CASES += [(_op, {}, [T((None, 3), d)]) for d in DTYPES]

CASES += [
    ("clip", {"x_min": 0, "x_max": 1}, [T(R3)]),
    ("clip", {"x_min": -1.5, "x_max": 6.0}, [T((None, None))]),
    ("clip", {"x_min": 0.5, "x_max": 3}, [T((2, 3, 4))]),
]
CASES += [("clip", {"x_min": 0, "x_max": 6}, [T((None, 3), d)]) for d in ALL_DTYPES]

for _op in ("tril", "triu"):
    CASES += [(_op, {"k": k}, [T(R3)]) for k in (0, 1, -1, 2, -2, 3, -3, 4)]
    CASES += [(_op, {}, [T(s)]) for s in [(None, 4), (None, None, None), (2, 5, 3, 3)]]
    CASES += [(_op, {"k": 9}, [T((None, None, None))]), (_op, {"k": -9}, [T((None, None, None))])]
    CASES += [(_op, {}, [T(R3, d)]) for d in DTYPES]
CASES += [("tril", {"k": -9}, [T(R3)]), ("triu", {"k": 9}, [T(R3)])]  # k past the other side

# --- two operands: broadcasting, numbers, dtype promotion -----------------------------
PAIRS = [
    ((None, 4), (None, 4)),
    ((None, 3, 4), (None, 4)),  # aligned from the right: the batch meets the 3
    ((None, 3, 1), (None, 1, 4)),
    ((None, 1), (None, None)),
    ((None, None, 4), (None, 3, 4)),
    ((2, 3), (None, 3)),
    ((None,), (None, 3)),
    ((1, 3), (None, 1)),
    ((None, 5, 1, 4), (None, 3, 1)),
    ((3,), (2, 1)),
]
for _op in BINARY:
    CASES += [(_op, {}, [T(a), T(b)]) for a, b in PAIRS]
    CASES += [
        (_op, {}, [T((None, 3), a), T((None, 3), b)]) for a, b in itertools.product(DTYPES, DTYPES)
    ]
    for d, n in itertools.product(DTYPES, (*NUMBERS, -1, 0, 1.0)):
        CASES += [(_op, {}, [T((None, 3), d), n]), (_op, {}, [n, T((None, 3), d)])]
CASES += [("add", {}, [T((None, 3), a), T((None, 3), b)])
          for a, b in itertools.product(ALL_DTYPES, ALL_DTYPES)]  # fmt: skip
CASES += [("add", {}, [T(R3, d), n]) for d, n in itertools.product(ALL_DTYPES, NUMBERS)]

CASES += [
    ("matmul", {}, [T((None, 3, 4)), T((None, 4, 5))]),
    ("matmul", {}, [T((2, 3)), T((3, 4))]),
    ("matmul", {}, [T((None, 4)), T((None, 4))]),  # the batch meets the 4: unknown
    ("matmul", {}, [T((None, 3, 4)), T((4, 5))]),
    ("matmul", {}, [T((None, 3, 4)), T((None, 4))]),
    ("matmul", {}, [T((None,)), T((None,))]),  # two vectors: a scalar
    ("matmul", {}, [T((None, 4)), T((4,))]),  # matrix times vector
    ("matmul", {}, [T((3,)), T((None, 3, 5))]),  # vector times a batch of matrices
    ("matmul", {}, [T((None, None, 4)), T((None, 4, None))]),
    ("matmul", {}, [T((None, 2, 3, 4)), T((None, 1, 4, 5))]),
    ("matmul", {}, [T((None, 1, 3, 4)), T((5, 4, 2))]),
    ("matmul", {}, [T((None, 3, None)), T((None, 7, 2))]),
]
CASES += [("matmul", {}, [T(R3, a), T((None, 4, 5), b)])
          for a, b in itertools.product(ALL_DTYPES, ALL_DTYPES)]  # fmt: skip

# --- reductions -----------------------------------------------------------------------
_AXES = [None, 0, 1, -1, 2, -3, [1, 2], [-1, 0], [0, 1, 2], [2, 1]]
for _op in REDUCTIONS:
    for axis, keep in itertools.product(_AXES, (False, True)):
        if isinstance(axis, list) and _op == "argmax":
            continue  # one axis only (SCHEMA)
        kw = {} if axis is None else {"axis": axis}
        CASES.append((_op, {**kw, "keepdims": keep} if keep else kw, [T(R3)]))
    CASES += [(_op, {"axis": 1}, [T((None, None, 4))]), (_op, {}, [T((2, 3, 4))]),
              (_op, {"axis": 0}, [T((None,))]), (_op, {"axis": -1, "keepdims": True}, [T((None,))])]  # fmt: skip
    CASES += [(_op, {"axis": -1}, [T((None, 3), d)]) for d in ALL_DTYPES]
    CASES += [(_op, {}, [T((None, 3), d)]) for d in DTYPES]

CASES += [("norm", {"axis": -1, "ord": o}, [T(R3)]) for o in (None, 1, 2, 3, 0, 0.5, -1, float("inf"), float("-inf"))]  # fmt: skip
CASES += [("norm", {"axis": [1, 2], "ord": o}, [T(R3)])
          for o in (None, "fro", "nuc", 1, -1, 2, -2, float("inf"), float("-inf"))]  # fmt: skip
CASES += [
    ("norm", {"axis": [-1, -2], "keepdims": True}, [T(R3)]),
    ("norm", {"axis": [0, 2]}, [T(R3)]),
    ("norm", {"axis": 1, "keepdims": True}, [T((None, None, 4))]),
    ("norm", {}, [T((None, 4))]),  # no axis: a matrix norm of the batch
    ("norm", {"ord": 3}, [T((None,))]),  # no axis on a rank-1 input: a vector norm
    ("norm", {"ord": "fro"}, [T((2, 3))]),
    ("norm", {"keepdims": True}, [T((None, 4))]),
]
CASES += [("norm", {"axis": -1}, [T((None, 3), d)]) for d in ALL_DTYPES]

CASES += [("cumsum", kw, [T(s)]) for kw in [{}, {"axis": 0}, {"axis": 1}, {"axis": -1}]
          for s in [R3, (2, 3, 4), (None, None)]]  # fmt: skip
CASES += [("cumsum", kw, [T((None,))]) for kw in [{}, {"axis": 0}, {"axis": -1}]]
CASES += [("cumsum", {"axis": 1, **({"dtype": k} if k else {})}, [T((None, 3), d)])
          for d, k in itertools.product(DTYPES, (None, "float32", "int32", "bool"))]  # fmt: skip
CASES += [("cumsum", {"axis": 1}, [T((None, 3), d)]) for d in ALL_DTYPES]

# --- shapes and dtypes ----------------------------------------------------------------
CASES += [
    ("reshape", {"newshape": [-1, 12]}, [T(R3)]),
    ("reshape", {"newshape": [-1, 4, 3]}, [T(R3)]),
    ("reshape", {"newshape": [-1, 2, 2, 3]}, [T(R3)]),
    ("reshape", {"newshape": [-1, 2, 6]}, [T(R3, "int32")]),
    ("reshape", {"newshape": [2, 6]}, [T(R3)]),  # with an unknown batch, never checked
    ("reshape", {"newshape": [-1]}, [T((2, 3, 4))]),
    ("reshape", {"newshape": [4, -1]}, [T((2, 3, 4))]),
    ("reshape", {"newshape": [2, -1, 3]}, [T((2, 3, 4))]),
    ("reshape", {"newshape": [24]}, [T((2, 3, 4))]),
    ("reshape", {"newshape": [6, 4]}, [T((2, 3, 4), "bool")]),
    ("reshape", {"newshape": [-1, 4]}, [T((None, None, 4))]),
    ("reshape", {"newshape": [-1, 1]}, [T((None,))]),
    ("reshape", {"newshape": [-1, 0]}, [T((None, 0))]),
    ("reshape", {"newshape": [1, -1, 1]}, [T((1, 5))]),
]
CASES += [
    ("transpose", {"axes": axes}, [T(s)])
    for axes, s in [
        (None, R3), ([0, 2, 1], R3), ([2, 1, 0], R3), ([1, 0, 2], R3), ([0, -1, -2], R3),
        ([-3, -1, 1], R3), ([0, 3, 1, 2], (None, None, 4, 5)), (None, (None, None, 4, 5)),
        ([0], (None,)), (None, (2, 3)), ([1, 0], (None, 3)),
    ]
]  # fmt: skip
CASES += [
    ("expand_dims", {"axis": axis}, [T(s)])
    for axis, s in [
        (0, (None, 3)), (1, (None, 3)), (-1, (None, 3)), (2, (None, 3)), (-3, (None, 3)),
        ([1, 2], (None, 3)), ([0, -1], (None, 3)), ([1, 3], R3), ([-1, -2], R3),
        ([3, 0, 1], (None,)), (1, (None,)), (-1, (2, None)),
    ]
]  # fmt: skip
CASES += [
    ("squeeze", {"axis": axis} if axis is not None else {}, [T(s)])
    for axis, s in [
        (None, (None, 1, 3)), (None, (1, 1, 3)), (None, (None, 1, 1)), (None, (None, None, 1)),
        (None, (None, 3)), (1, (None, 1, 3)), (-1, (None, 3, 1)), ([1, 2], (None, 1, 1)),
        ([-1, 1], (None, 1, 1)), (0, (1, 3)), ([0, 2], (1, None, 1)),
    ]
]  # fmt: skip
CASES += [("expand_dims", {"axis": 1}, [T(R3, d)]) for d in DTYPES]
CASES += [("squeeze", {}, [T((None, 1, 3), d)]) for d in DTYPES]
CASES += [("transpose", {}, [T(R3, d)]) for d in DTYPES]
CASES += [("reshape", {"newshape": [-1, 12]}, [T(R3, d)]) for d in DTYPES]

CASES += [
    ("concatenate", kw, [T(s) for s in shapes])
    for kw, shapes in [
        ({}, [(None, 3), (None, 3)]),
        ({}, [(2, 3), (4, 3)]),
        ({}, [(2, 3), (None, 3)]),
        ({"axis": 1}, [(None, 3), (None, 5)]),
        ({"axis": -1}, [(None, 4, 3), (None, 4, 5), (None, 4, 1)]),
        ({"axis": 1}, [(None, 3, 2), (None, None, 2)]),
        ({"axis": 1}, [(None, None, 2), (None, 3, None)]),  # the first's unknown sizes stay
        ({"axis": 2}, [(None, 3, 2), (None, None, 2)]),
        ({"axis": -2}, [(None, 3, 2), (None, 4, 2)]),
        ({"axis": 1}, [(None, 3)]),
        ({"axis": 0}, [(None,), (None,)]),
    ]
]  # fmt: skip
CASES += [
    ("stack", kw, [T(s) for s in shapes])
    for kw, shapes in [
        ({}, [(None, 3), (None, 3)]),
        ({"axis": 1}, [(None, 3), (None, 3), (None, 3)]),
        ({"axis": 2}, [(None, 3), (None, 3)]),
        ({"axis": -1}, [R3, R3]),
        ({"axis": -3}, [(None, 3), (None, 3)]),
        ({"axis": 1}, [(None, None), (None, 3)]),  # the first's unknown size stays
        ({"axis": 1}, [(None, 3), (None, None)]),
        ({"axis": 1}, [(2, 3)]),
        ({}, [(None,), (None,)]),
    ]
]  # fmt: skip
for _op in ("concatenate", "stack"):
    CASES += [(_op, {"axis": 1}, [T((None, 3), a), T((None, 3), b)])
              for a, b in itertools.product(DTYPES, DTYPES)]  # fmt: skip
    CASES += [
        (_op, {"axis": 1}, [T((None, 3), "int8"), T((None, 3), "uint8"), T((None, 3), "float16")])
    ]

GET_ITEM = [
    ("[:, 0]", R3), ("[:, -1]", R3), ("[:, 1:3]", R3), ("[:, ::2]", R3), ("[:, ::-1]", R3),
    ("[:, 1:-1, ::2]", R3), ("[..., 0]", R3), ("[..., -2:]", R3), ("[:, None]", R3),
    ("[:, None, :, None]", R3), ("[None, ...]", R3), ("[0]", R3), ("[-1]", R3),
    ("[:, ..., 2]", R3), ("[0, 1, 2]", R3), ("[:, :, :]", R3), ("[:, 5:]", R3),
    ("[:, -10:10]", R3), ("[:, 3:1]", R3), ("[:, ::-2]", R3), ("[..., None]", R3),
    ("[1:, ...]", R3), ("[:, 0, ...]", R3), ("[:, :0]", R3), ("[:, 1:2:3]", R3),
    ("[:, :, None, 1]", R3), ("[0,]", R3), ("[2:3, 1]", R3), ("[:, -1, -1]", R3),
    ("[..., 1, :]", R3), ("[None, None, :, 0]", R3), ("[:, 2::-1]", R3), ("[:, :-1:2]", R3),
    ("[-3:-1, 0]", R3), ("[:, 1:3, ...]", R3), ("[..., ::2, 1]", R3), ("  [ :, 0 ]  ", R3),
    (":, 0", R3), ("[:, 2:5]", (None, None, 4)), ("[:, 7]", (None, None, 4)),
    ("[:, -7]", (None, None, 4)), ("[:, ::-3, 1:]", (None, None, 4)), ("[0, 0]", (2, 3)),
    ("[-2, -3]", (2, 3)), ("[1:, 1:]", (2, 3)), ("[:, 0]", (None, 1)), ("[0]", (None,)),
    ("[:, None]", (None,)), ("[1:, None]", (5,)), ("[..., 0]", (None, 4)), ("[:, :, -4]", R3),
]  # fmt: skip
CASES += [("get_item", {"index": text}, [T(s)]) for text, s in GET_ITEM]
CASES += [("get_item", {"index": "[:, 0]"}, [T(R3, d)]) for d in ALL_DTYPES]

CASES += [("cast", {"dtype": to}, [T(R3, d)]) for d, to in itertools.product(DTYPES, ALL_DTYPES)]
CASES += [("cast", {"dtype": "int32"}, [T(s)]) for s in [(None,), (2, None, 3)]]
for _op in ("ones_like", "zeros_like"):
    CASES += [(_op, {"dtype": to} if to else {}, [T(R3, d)])
              for d, to in itertools.product(DTYPES, (None, "float32", "int64", "bool", "float16"))]  # fmt: skip
    CASES += [(_op, {}, [T(s)]) for s in [(None,), (2, None, 3)]]

# --- refused ----------------------------------------------------------------------------
BAD: list = []
for _op in BINARY:
    BAD += [
        (_op, {}, [T((None, 3)), T((None, 4))], "MS303"),
        (_op, {}, [T((2, 3)), T((3, 3))], "MS303"),
        (_op, {}, [T((None, 3, 4)), T((None, 5))], "MS303"),
        (_op, {}, [T((None, 2, 3)), T((None, 3, 3))], "MS303"),
        (_op, {}, [T((None, 2, 3)), T((3, 1))], "MS303"),
    ]
BAD += [
    ("matmul", {}, [T((None, 3, 4)), T((None, 5, 6))], "MS303"),
    ("matmul", {}, [T((2, 3)), T((4, 5))], "MS303"),
    ("matmul", {}, [T((2, 3, 4)), T((3, 4, 5))], "MS303"),  # the leading axes do not broadcast
    ("matmul", {}, [T((None, 3)), T((4,))], "MS303"),
    ("matmul", {}, [T((3,)), T((4,))], "MS303"),
]
for _op in REDUCTIONS:
    BAD += [
        (_op, {"axis": 3}, [T(R3)], "MS304"),
        (_op, {"axis": -4}, [T(R3)], "MS304"),
        (_op, {"axis": 1}, [T((None,))], "MS304"),
    ]
BAD += [
    ("sum", {"axis": [1, 3]}, [T(R3)], "MS304"),
    ("mean", {"axis": [-4, 1], "keepdims": True}, [T(R3)], "MS304"),
    ("max", {"axis": [2, 2]}, [T(R3)], "MS304"),  # Keras drops axis 2 twice and fails
    ("min", {"axis": [1, 2, -1]}, [T(R3)], "MS304"),
    ("norm", {"axis": 3}, [T(R3)], "MS304"),
    ("norm", {"axis": [1, 3]}, [T(R3)], "MS304"),
    ("norm", {"axis": 1, "ord": "fro"}, [T(R3)], "MS304"),
    ("norm", {"axis": -1, "ord": "nuc"}, [T(R3)], "MS304"),
    ("norm", {"ord": "fro"}, [T((None,))], "MS304"),
    ("norm", {"axis": [1, 2], "ord": 3}, [T(R3)], "MS304"),
    ("norm", {"axis": [1, 2], "ord": 0}, [T(R3)], "MS304"),
    ("norm", {"axis": [1, 2], "ord": 0.5}, [T(R3)], "MS304"),
    ("norm", {"ord": 3}, [T((None, 4))], "MS304"),  # no axis on rank 2: a matrix norm
    ("softmax", {"axis": 2}, [T((None, 3))], "MS304"),
    ("log_softmax", {"axis": -3}, [T((None, 3))], "MS304"),
    ("cumsum", {"axis": 2}, [T((None, 3))], "MS304"),
    ("cumsum", {"axis": -3}, [T((None, 3))], "MS304"),
    ("reshape", {"newshape": [5, 5]}, [T((2, 3, 4))], "MS304"),
    ("reshape", {"newshape": [-1, 5]}, [T((2, 3, 4))], "MS304"),
    ("reshape", {"newshape": [-1, -1]}, [T((2, 3, 4))], "MS304"),
    ("reshape", {"newshape": [-1, -1]}, [T(R3)], "MS304"),
    ("reshape", {"newshape": [0, -1]}, [T((2, 3))], "MS304"),
    ("reshape", {"newshape": [7]}, [T((2, 3))], "MS304"),
    ("transpose", {"axes": [0, 1]}, [T(R3)], "MS304"),
    ("transpose", {"axes": [0, 1, 1]}, [T(R3)], "MS304"),
    ("transpose", {"axes": [0, 1, 3]}, [T(R3)], "MS304"),
    ("transpose", {"axes": [0, 1, 2, 3]}, [T(R3)], "MS304"),
    ("transpose", {"axes": [-4, 1, 2]}, [T(R3)], "MS304"),
    ("transpose", {"axes": [0, 2, -1]}, [T(R3)], "MS304"),  # -1 is 2
    ("expand_dims", {"axis": 3}, [T((None, 3))], "MS304"),
    ("expand_dims", {"axis": -4}, [T((None, 3))], "MS304"),
    ("expand_dims", {"axis": [1, 1]}, [T((None, 3))], "MS304"),  # Keras: StopIteration
    ("expand_dims", {"axis": [1, -3]}, [T((None, 3))], "MS304"),
    ("expand_dims", {"axis": [1, 4]}, [T((None, 3))], "MS304"),
    ("squeeze", {"axis": 1}, [T((None, 3))], "MS304"),
    ("squeeze", {"axis": 1}, [T((None, None))], "MS304"),  # an unknown size may not be 1
    ("squeeze", {"axis": 0}, [T((None, 1))], "MS304"),
    ("squeeze", {"axis": 2}, [T((None, 1))], "MS304"),
    ("squeeze", {"axis": [-1, -1]}, [T((None, 1, 1))], "MS304"),  # Keras: IndexError
    ("concatenate", {"axis": 1}, [T((None, 5, 3)), T((None, 5, 4))], "MS303"),
    ("concatenate", {"axis": 1}, [T((None, 3)), T((None, 3, 1))], "MS303"),
    ("concatenate", {"axis": 1}, [T((2, 3)), T((4, 3))], "MS303"),
    ("concatenate", {}, [T((None, 3)), T((None, 4))], "MS303"),
    ("concatenate", {"axis": 3}, [T(R3), T(R3)], "MS304"),
    ("concatenate", {"axis": -4}, [T(R3), T(R3)], "MS304"),
    ("stack", {}, [T((None, 3)), T((None, 4))], "MS303"),
    ("stack", {"axis": 1}, [T((2, 3)), T((3, 3))], "MS303"),
    ("stack", {}, [T((None, 3)), T((None, 3, 1))], "MS303"),
    ("stack", {"axis": 3}, [T((None, 3)), T((None, 3))], "MS304"),
    ("stack", {"axis": -4}, [T((None, 3)), T((None, 3))], "MS304"),
]
BAD += [
    ("get_item", {"index": text}, [T(s)], "MS304")
    for text, s in [
        ("[:, :, :, 0]", R3), ("[0, 0, 0, 0]", R3), ("[:, 3]", R3), ("[:, -4]", R3),
        ("[:, 0, 5]", R3), ("[:, :, -5]", R3), ("[0, 2, 0]", (2, 3)), ("[-3]", (2, 3)),
        ("[..., ...]", R3), ("[0, ..., ..., 1]", R3), ("[:, 0, None, 0, 0]", R3),
        # a lone slice, `...` or `None`: Keras's GetItem takes a bare int or a tuple
        ("[1:]", R3), ("[:]", R3), ("[::2]", R3), ("[None]", R3), ("[...]", R3),
        ("[1:,]", R3), ("[:-1]", (None,)),
    ]
]  # fmt: skip

DIVERGENT: list = [
    ("tril", {}, [T((None,))], "MS301"),
    ("triu", {"k": 1}, [T((3,))], "MS301"),
    ("tril", {"k": 5}, [T(R3)], "MS304"),
    ("tril", {"k": 3}, [T((None, None, 2))], "MS304"),
    ("triu", {"k": -4}, [T(R3)], "MS304"),
    ("triu", {"k": -3}, [T((None, 2, None))], "MS304"),
    # A repeated axis: Keras's symbolic shape drops it twice (or keeps it once), and
    # TensorFlow refuses it when it runs.
    ("sum", {"axis": [1, 1]}, [T(R3)], "MS304"),
    ("sum", {"axis": [1, -2], "keepdims": True}, [T(R3)], "MS304"),
    ("mean", {"axis": [0, 0]}, [T(R3)], "MS304"),
    ("max", {"axis": [2, 2], "keepdims": True}, [T(R3)], "MS304"),
    ("logsumexp", {"axis": [1, 1]}, [T(R3)], "MS304"),
    ("norm", {"axis": [1, 1]}, [T(R3)], "MS304"),
    ("squeeze", {"axis": [1, 1]}, [T((None, 1, 3))], "MS304"),
    ("squeeze", {"axis": [1, -2]}, [T((None, 1, 3))], "MS304"),
    # norm over more than two axes, or no axis on rank 3 and more: every axis
    ("norm", {}, [T(R3)], "MS304"),
    ("norm", {"ord": 2}, [T((None, 3, 4, 5))], "MS304"),
    ("norm", {"axis": [0, 1, 2]}, [T(R3)], "MS304"),
]

SCHEMA: list = [
    ("argmax", {"axis": [1]}, [T(R3)]),  # Keras builds it; TensorFlow's argmax fails
    ("argmax", {"axis": [1, 2]}, [T(R3)]),
    ("cumsum", {"axis": [1]}, [T(R3)]),  # Keras refuses it
    ("softmax", {"axis": [1]}, [T(R3)]),
]
