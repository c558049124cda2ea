"""Conformance cases for modelspec.catalog.reshape."""

CASES: list = []
BAD: list = []
