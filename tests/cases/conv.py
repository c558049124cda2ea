"""Conformance cases for modelspec.catalog.conv."""

CASES: list = []
BAD: list = []
