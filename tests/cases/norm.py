"""Conformance cases for modelspec.catalog.norm."""

CASES: list = []
BAD: list = []
