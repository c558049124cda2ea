"""Conformance cases for modelspec.catalog.core."""

CASES: list = [
    ("Dense", {"units": 8}, [(None, 4)]),
    ("Dense", {"units": 3, "use_bias": False}, [(None, 5, 7)]),
    ("Dense", {"units": 2, "trainable": False}, [(None, 6)]),
]
BAD: list = [
    ("Dense", {"units": 8}, [(None,)], "MS301"),
]
