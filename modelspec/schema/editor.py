"""The schema editors read: :func:`~modelspec.schema.build.build_schema` plus composition.

A spec is written with ``vars``, ``blocks``, ``include``, block steps,
``repeat``/``when`` and ``${...}`` expressions; :func:`editor_schema` accepts all of
them, so that an editor completes and checks a spec as written. Lint checks a spec
after it expands, against the plain schema. :func:`schema_text` is the committed
``schemas/modelspec.schema.json``, byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

from modelspec.catalog.ops import OPS
from modelspec.compose.syntax import (
    APPLY_STEP_FIELDS,
    BLOCK_FIELDS,
    BLOCK_REQUIRED,
    BLOCK_STEP_FIELDS,
    BLOCK_STEP_REQUIRED,
)
from modelspec.schema.build import NAMED_INPUTS, build_schema

# Schema keywords whose values are not sub-schemas to open up for `${...}`: the `if`
# of a typed union must keep dispatching on the literal `type`.
_KEEP = frozenset({"if", "propertyNames", "const", "enum", "required", "default",
                   "description", "pattern", "$ref", "title", "$id", "$schema"})  # fmt: skip
_EXPRESSION = {
    "type": "string",
    "pattern": "\\$\\{",
    "description": "A `${...}` expression (vars, block parameters), evaluated by modelspec "
    "when the spec is expanded.",
}


def _allow_expressions(node: Any) -> Any:
    """``node`` where every value may also be a ``${...}`` string."""
    if isinstance(node, list):
        return [_allow_expressions(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _KEEP:
            out[key] = value
        elif key in ("properties", "$defs"):
            out[key] = {name: _allow_expressions(sub) for name, sub in value.items()}
        else:
            out[key] = _allow_expressions(value)
    kind = node.get("type")
    if (kind is not None and kind != "object") or "enum" in node or "const" in node:
        wrapped: dict[str, Any] = {"anyOf": [out, {"$ref": "#/$defs/expression"}]}
        if "description" in out:  # editors show the outer description
            wrapped["description"] = out["description"]
        return wrapped
    return out


def editor_schema() -> dict[str, Any]:
    """The committed schema: :func:`build_schema` plus composition (``vars``,
    ``blocks``, ``include``, block steps, ``repeat``/``when`` and ``${...}`` wherever a
    value goes), so that an editor accepts a spec as written. Lint checks a spec as
    it expands, against :func:`build_schema`."""
    schema = build_schema()
    defs = schema["$defs"]
    defs["block"] = {
        "type": "object",
        "description": "A sub-graph with inputs, outputs and parameters, used as a graph step.",
        "required": list(BLOCK_REQUIRED),
        "properties": dict(BLOCK_FIELDS),
        "additionalProperties": False,
    }
    apply_step = defs["step"]
    apply_step["properties"].update(APPLY_STEP_FIELDS)
    for name in OPS:  # an op step may be repeated or dropped too
        defs[f"op.{name}"]["properties"].update(APPLY_STEP_FIELDS)
    # A block step's `to` lists the block's inputs in order: a tensor or a list, not names.
    to = dict(apply_step["properties"]["to"])
    to["anyOf"] = [a for a in to["anyOf"] if a != {"$ref": NAMED_INPUTS}]
    to["description"] = "The block's input tensor, or a list of them in the block's order."
    defs["block_step"] = {
        "type": "object",
        "description": "An instance of a block: its layers, with their own weights.",
        "required": list(BLOCK_STEP_REQUIRED),
        "properties": {k: to if v is None else v for k, v in BLOCK_STEP_FIELDS.items()},
        "additionalProperties": False,
    }
    defs["step"] = {"anyOf": [apply_step, {"$ref": "#/$defs/block_step"}]}
    props = schema["properties"]
    props["vars"] = {"type": "object", "description": "Named values for `${...}` expressions."}
    props["blocks"] = {
        "type": "object",
        "description": "Reusable sub-graphs, used by graph steps `{block: NAME, to: X}`.",
        "additionalProperties": {"$ref": "#/$defs/block"},
    }
    props["include"] = {
        "type": "array",
        "items": {"type": "string"},
        "description": "Spec files (relative paths inside the project) whose blocks this spec uses.",
    }
    # A block library (blocks for other specs to include) has no name.
    schema["required"] = ["modelspec"]
    schema["anyOf"] = [{"required": ["name"]}, {"required": ["blocks"]}]
    schema = _allow_expressions(schema)
    schema["$defs"]["expression"] = _EXPRESSION
    return schema


def schema_text() -> str:
    """The schema as committed (:func:`editor_schema`): indented, newline-terminated,
    with a ``$comment`` after ``$id`` that seals it (:mod:`modelspec.emit.outputs`), so that
    ``modelspec schema -o`` replaces a schema it wrote and nothing else."""
    from modelspec.emit.outputs import PENDING, SEAL_KEY, seal

    schema = editor_schema()
    head = {k: schema.pop(k) for k in ("$schema", "$id")}
    comment = f"Generated by modelspec schema; {SEAL_KEY}: {PENDING}"
    sealed = {**head, "$comment": comment, **schema}
    return seal(json.dumps(sealed, indent=2, ensure_ascii=False) + "\n")
