"""Conformance cases for modelspec.catalog.attention."""

CASES: list = []
BAD: list = []
