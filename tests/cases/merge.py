"""Conformance cases for modelspec.catalog.merge."""

ELEMENTWISE = ("Add", "Multiply", "Average", "Maximum", "Minimum")

CASES: list = [
    # Concatenate
    ("Concatenate", {}, [(None, 128), (None, 64)]),
    ("Concatenate", {}, [(None, 8), (None, 4), (None, 2)]),
    ("Concatenate", {"axis": 1}, [(None, 5, 3), (None, 7, 3)]),
    ("Concatenate", {"axis": -2}, [(None, 5, 3), (None, None, 3)]),
    ("Concatenate", {"axis": 3}, [(None, 4, 4, 2), (None, 4, 4, 6), (None, 4, 4, 1)]),
    ("Concatenate", {}, [(None, None, 3), (None, 5, 4)]),  # first input's None is kept
    ("Concatenate", {}, [(None, 5, 3), (None, None, 4)]),
    ("Concatenate", {}, [(None, 4)]),
    ("Concatenate", {"axis": 5}, [(None, 4)]),  # one input: Keras never checks axis
    ("Concatenate", {"axis": 0}, [(2, 5, 3), (3, 5, 3)]),
    ("Concatenate", {}, [(4, 5), (None, 3)]),
    ("Concatenate", {"axis": 1, "trainable": False}, [(None, 1, 3), (None, 1, 3)]),
    # Subtract: exactly two inputs
    ("Subtract", {}, [(None, 16), (None, 16)]),
    ("Subtract", {}, [(None, 5, 3), (None, 3)]),
    ("Subtract", {}, [(None, 5, 1), (None, 1, 4)]),
    ("Subtract", {}, [(None, None, 4), (None, 7, 4)]),
    ("Subtract", {}, [(8, 4), (None, 4)]),
    ("Subtract", {"trainable": False}, [(None, 2, 3, 4), (None, 1, 4)]),
    # Dot
    ("Dot", {"axes": 1}, [(None, 8), (None, 8)]),
    ("Dot", {"axes": -1}, [(None, 8), (None, 8)]),
    ("Dot", {"axes": [1, 2]}, [(None, 3, 5), (None, 10, 3)]),
    ("Dot", {"axes": [2, 2]}, [(None, 4, 6), (None, 7, 6)]),
    ("Dot", {"axes": 2, "normalize": True}, [(None, 4, 6), (None, 7, 6)]),
    ("Dot", {"axes": [2, 1]}, [(None, 3, 5), (None, 5)]),
    ("Dot", {"axes": [-1, -1]}, [(None, 3, 4), (None, 4)]),
    ("Dot", {"axes": 1}, [(None, None), (None, None)]),
    ("Dot", {"axes": [3, 1]}, [(None, 2, 3, 4), (None, 4, 5)]),
    ("Dot", {"axes": -5}, [(None, 3), (None, 3)]),  # Keras takes -5 % 2 = 1
    ("Dot", {"axes": [1, 1]}, [(6, 4, 2), (None, 4, 9)]),
]

for _t in ELEMENTWISE:
    CASES += [
        (_t, {}, [(None, 16), (None, 16)]),
        (_t, {}, [(None, 4, 4, 8), (None, 4, 4, 8), (None, 4, 4, 8)]),
        (_t, {}, [(None, 16)]),  # one input is returned as is
        (_t, {}, [(None, 5, 3), (None, 3)]),  # rank difference: aligned from the right
        (_t, {}, [(None, 5, 1), (None, 3), (None, 1, 3)]),  # size-1 axes broadcast
        (_t, {}, [(None, None, 1), (None, 3)]),
        (_t, {}, [(None, 1, 3), (None, 1, None)]),  # None wins over a known size
        (_t, {}, [(None, 6), (None, None)]),
        (_t, {}, [(2, 3), (None, 3)]),  # the known batch size is kept
        (_t, {}, [(None,), (None, 3)]),
    ]

BAD: list = [
    ("Concatenate", {}, [(None, 5, 3), (None, 6, 3)], "MS303"),
    ("Concatenate", {"axis": 1}, [(None, 5, 3), (None, 5, 4)], "MS303"),
    ("Concatenate", {"axis": 1}, [(None, 5, 1), (None, 5, 4)], "MS303"),  # no broadcasting
    ("Concatenate", {}, [(None, 5, 3), (None, 3)], "MS303"),
    ("Concatenate", {}, [(None, 4, 3), (None, 4, 3), (None, 2, 3)], "MS303"),
    ("Concatenate", {}, [(2, 3), (4, 3)], "MS303"),
    ("Concatenate", {"axis": 3}, [(None, 5, 3), (None, 5, 3)], "MS304"),
    ("Concatenate", {"axis": -4}, [(None, 5, 3), (None, 5, 3)], "MS304"),
    ("Concatenate", {}, [], "MS305"),
    ("Subtract", {}, [(None, 16)], "MS305"),
    ("Subtract", {}, [(None, 16), (None, 16), (None, 16)], "MS305"),
    ("Subtract", {}, [(None, 16), (None, 8)], "MS303"),
    ("Subtract", {}, [(None, 5, 3), (None, 5)], "MS303"),
    ("Subtract", {}, [(2, 3), (4, 3)], "MS303"),
    ("Dot", {"axes": 1}, [(None, 8), (None, 4)], "MS303"),
    ("Dot", {"axes": 1}, [(None, None), (None, 4)], "MS303"),  # None != 4 for Dot
    ("Dot", {"axes": [1, 2]}, [(None, 3, 5), (None, 3, 5)], "MS303"),
    ("Dot", {"axes": 3}, [(None, 3, 5), (None, 3, 5)], "MS304"),
    ("Dot", {"axes": [1, -4]}, [(None, 3, 5), (None, 3, 5)], "MS304"),
    ("Dot", {"axes": 1}, [(None,), (None,)], "MS301"),
    ("Dot", {"axes": 1}, [(None, 8)], "MS305"),
    ("Dot", {"axes": 1}, [(None, 8), (None, 8), (None, 8)], "MS305"),
]

for _t in ELEMENTWISE:
    BAD += [
        (_t, {}, [(None, 16), (None, 8)], "MS303"),
        (_t, {}, [(None, 4, 4), (None, 4, 4), (None, 4, 2)], "MS303"),
        (_t, {}, [(None, 5, 3), (None, 5)], "MS303"),
        (_t, {}, [(2, 3), (4, 3)], "MS303"),
        (_t, {}, [], "MS305"),
    ]
