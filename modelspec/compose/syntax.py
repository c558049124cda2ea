"""The composition syntax, once: the keys a block definition and a block step may
have, and what each holds, as JSON Schema.

Two readers share these tables. The expansion checks a spec's blocks by hand, to say
in its own words what is wrong and where (:mod:`modelspec.compose.definitions`,
:mod:`modelspec.compose.instances`), and the editor schema (:mod:`modelspec.schema.editor`)
describes the same keys to an editor. A key added here is known to both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelspec.catalog.base import LAYER_REF
from modelspec.errors import JsonPath

# A name, or a list of names.
_NAMES = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}

# `model:` values: build the instance inline, or as a nested keras.Model of the class
# `true` picks (Sequential for a plain stack), or of the class named.
MODEL_CHOICES = (True, False, "functional", "sequential")
MODEL = {
    "anyOf": [{"type": "boolean"}, {"enum": ["functional", "sequential"]}],
    "default": False,
    "description": "Build each instance as a nested keras.Model (true: Sequential for a "
    "plain stack, else Functional) instead of inlining its layers.",
}

# blocks: {NAME: {...}}: a sub-graph with inputs, outputs and parameters.
BLOCK_FIELDS: dict[str, dict[str, Any]] = {
    "description": {"type": "string"},
    "params": {"type": "object", "description": "Parameters with their defaults."},
    "required": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Parameters every instance must give.",
    },
    "inputs": {**_NAMES, "description": "The block's input tensors."},
    "outputs": {**_NAMES, "description": "The block's output tensors (its steps)."},
    "layers": {"type": "object", "additionalProperties": {"$ref": LAYER_REF}},
    "graph": {
        "type": "object",
        "additionalProperties": {"$ref": "#/$defs/graph_step"},
        "minProperties": 1,
    },
    "model": MODEL,
}
BLOCK_KEYS = tuple(BLOCK_FIELDS)
BLOCK_REQUIRED = ["inputs", "outputs", "graph"]

# A graph step {block: NAME, to: X, ...}: an instance of a block. Its `to` is an apply
# step's `to`, which the schema builder defines; None stands for it here.
BLOCK_STEP_FIELDS: dict[str, dict[str, Any] | None] = {
    "block": {"type": "string", "description": "The block's name."},
    "to": None,
    "with": {"type": "object", "description": "Parameter values of this instance."},
    "repeat": {
        "type": "integer",
        "minimum": 1,
        "description": "Instances, each fed by the one before.",
    },
    "share": {
        "type": "string",
        "description": "An earlier instance of the block whose weights this one uses.",
    },
    "model": MODEL,
    "description": {"type": "string"},
}
BLOCK_STEP_KEYS = tuple(BLOCK_STEP_FIELDS)
BLOCK_STEP_REQUIRED = ["block", "to"]

# What an apply step gains in a composed spec.
APPLY_STEP_FIELDS: dict[str, dict[str, Any]] = {
    "repeat": {
        "type": "integer",
        "minimum": 1,
        "description": "Apply the chain this many times (`index` counts from 1).",
    },
    "when": {
        "type": "boolean",
        "description": "false drops the step; its name then stands for its input.",
    },
}


def step_refs(step: Any) -> list[tuple[JsonPath, str]]:
    """Every tensor an apply step reads, with its path in the step: ``to`` (a name, a
    list, or attention's inputs by name) and the tensors of ``call:`` (a name, or a list
    with nulls)."""
    if not isinstance(step, dict):
        return []
    out: list[tuple[JsonPath, str]] = []

    def seen(ref: str, path: JsonPath) -> str:
        out.append((path, ref))
        return ref

    map_step_refs(step, seen)
    return out


def map_refs(value: Any, rename: Callable[[str, JsonPath], str], path: JsonPath) -> Any:
    """``value`` (a ``to:`` or one argument of ``call:``) with each tensor replaced by
    ``rename(ref, path)``: a name, a list of names (and nulls), or names by key."""
    if isinstance(value, str):
        return rename(value, path)
    if isinstance(value, list):
        return [rename(v, (*path, i)) if isinstance(v, str) else v for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: rename(v, (*path, k)) if isinstance(v, str) else v for k, v in value.items()}
    return value


def map_step_refs(step: dict[str, Any], rename: Callable[[str, JsonPath], str]) -> dict[str, Any]:
    """``step`` with each tensor of its ``to`` and ``call:`` replaced by ``rename(ref, path)``."""
    out = dict(step)
    if "to" in step:
        out["to"] = map_refs(step["to"], rename, ("to",))
    return map_call_refs(out, rename)


def map_call_refs(step: dict[str, Any], rename: Callable[[str, JsonPath], str]) -> dict[str, Any]:
    """``step`` with each tensor of its ``call:`` replaced by ``rename(ref, path)``."""
    call = step.get("call")
    if not isinstance(call, dict):
        return step
    # A `call:` value is never a mapping; the schema refuses one, as it is written.
    return {
        **step,
        "call": {
            k: v if isinstance(v, dict) else map_refs(v, rename, ("call", k))
            for k, v in call.items()
        },
    }
