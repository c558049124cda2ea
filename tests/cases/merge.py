"""Conformance cases for modelspec.catalog.merge."""

CASES: list = []
BAD: list = []
