"""Conformance cases for modelspec.catalog.rnn."""

CASES: list = []
BAD: list = []
