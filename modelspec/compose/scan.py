"""Whether a spec uses composition: a cheap scan, kept apart from :mod:`modelspec.compose.expand`
so that linting a plain spec never imports the expression evaluator."""

from __future__ import annotations

from typing import Any

COMPOSE_KEYS = ("vars", "blocks", "include")


def uses_composition(data: Any) -> bool:
    """Whether ``data`` needs :func:`expand`; plain specs skip it."""
    if not isinstance(data, dict):
        return False
    if any(key in data for key in COMPOSE_KEYS):
        return True
    graph = data.get("graph")
    if isinstance(graph, dict):
        for step in graph.values():
            if isinstance(step, dict) and ("block" in step or "repeat" in step or "when" in step):
                return True
    stack = [data]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if "${" in v:
                return True
        elif isinstance(v, dict):
            stack += v.values()
        elif isinstance(v, list):
            stack += v
    return False
