"""Conformance cases: one module per catalogue family.

Each module defines

- ``CASES``: ``(type, kwargs, input_shapes)`` triples. The catalogue's inferred
  output shapes and parameter counts must equal Keras's for each.
- ``BAD``: ``(type, kwargs, input_shapes, code)``. Keras refuses these inputs and
  the catalogue must raise ``ShapeError`` with ``code``.

Input shapes include the batch dimension. A kwarg that is itself a layer (the
``layer`` of ``Bidirectional``) is written as a spec dict ``{"type": ..., ...}``.

``ops.py`` holds the safe ops' cases in a format of its own (shapes and dtypes, no
parameters); tests/test_ops_conformance.py reads it, not :func:`load`.
"""

from __future__ import annotations

import importlib

FAMILIES = (
    "core",
    "norm",
    "reshape",
    "conv",
    "rnn",
    "conv_lstm",
    "cells",
    "attention",
    "merge",
    "image",
    "augment",
    "audio",
    "lookup",
)


def load(attr: str) -> list[tuple]:
    out = []
    for family in FAMILIES:
        module = importlib.import_module(f"tests.cases.{family}")
        out += [(family, *case) for case in getattr(module, attr, ())]
    return out
