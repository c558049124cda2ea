"""Placeholder."""

LAYERS = ()
