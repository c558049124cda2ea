"""The in-process schemas, and the fast check that a spec is valid against them.

:func:`schemas` derives from :func:`~modelspec.schema.build.build_schema` the schemas
that validation uses: the root, a graph step, and one per layer type, dispatched by a
dict lookup instead of ``if``/``then`` (see the note [layer dispatch] in
:mod:`modelspec.schema.build`). :func:`document_accepted` reads them without
jsonschema; :mod:`modelspec.schema.validate` imports jsonschema only for a spec that
fails, to explain why.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.ops import OPS
from modelspec.schema.build import build_schema


def _inline_refs(node: Any, defs: Mapping[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """Replace every local ``$ref`` by the definition it names.

    jsonschema resolves a ``$ref`` through its registry on every visit, which was
    most of the time spent validating a 10,000-layer spec. The in-process schema has
    no recursion (see the note [layer dispatch] in :mod:`modelspec.schema.build`), so
    inlining is finite.
    """
    if isinstance(node, list):
        return [_inline_refs(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in seen:  # pragma: no cover - a recursive schema: keep the reference
            return node
        target = _inline_refs(defs[name], defs, (*seen, name))
        siblings = {k: v for k, v in node.items() if k != "$ref" and k not in target}
        return {**target, **siblings}
    return {k: _inline_refs(v, defs, seen) for k, v in node.items()}


@functools.lru_cache(maxsize=1)
def schemas() -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """The in-process schemas, refs inlined: the root, a graph step, one per layer type.

    The root leaves layer and step entries to the other two (see
    :func:`modelspec.schema.validate.validate`).
    """
    schema = build_schema(dispatch=False)
    defs = schema.pop("$defs")
    # A layer written in place (in a chain, in `sequential`) is checked by its own
    # type's schema in validation; here it only needs to be a mapping.
    defs["layer"] = {"type": "object"}
    props = schema["properties"]
    # Entries of `layers` and `graph` are checked one by one in validation, and their
    # names in parse.py: descending into 100,000 of them here would be the slowest part.
    props["layers"] = {"type": "object"}
    props["graph"] = {"type": "object", "minProperties": 1}
    root = _inline_refs(schema, defs)
    step = _inline_refs(defs["graph_step"], defs)
    per_type = {name: _inline_refs(defs[f"layer.{name}"], defs) for name in LAYER_TYPES}
    per_type[CUSTOM_USE] = _inline_refs(defs["custom_layer_use"], defs)
    per_type.update({op_key(name): _inline_refs(defs[f"op.{name}"], defs) for name in OPS})
    return root, step, per_type


def op_key(name: str) -> str:
    """The key of an op step's schema among the per-type ones (not a layer type's name)."""
    return f"<op {name}>"


# The key of a custom layer's schema among the catalogue's (not a name a type can have).
CUSTOM_USE = "<custom>"


def custom_names(data: Any) -> frozenset[str]:
    """The type names a spec declares under ``custom:`` (catalogue names excluded)."""
    section = data.get("custom") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        return frozenset()
    return frozenset(n for n in section if isinstance(n, str) and n not in LAYER_TYPES)


def schema_key(type_name: Any, customs: frozenset[str]) -> Any:
    """The key of the per-type schema for ``type_name``: :data:`CUSTOM_USE` for a
    type declared under ``custom:`` (``customs``), else the name itself."""
    return CUSTOM_USE if isinstance(type_name, str) and type_name in customs else type_name


def nested_kwargs(type_name: str) -> tuple[str, ...]:
    """The kwargs in which a layer of ``type_name`` holds a layer (a wrapper's ``layer``)."""
    lt = LAYER_TYPES.get(type_name)
    return lt.nested if lt is not None else ()


def held_layers(type_name: Any, layer: dict[str, Any]) -> list[tuple[tuple, dict]]:
    """The layer dicts ``layer`` holds, with their keys (:meth:`LayerType.held
    <modelspec.catalog.base.LayerType.held>`); none for a type outside the catalogue."""
    lt = LAYER_TYPES.get(type_name) if isinstance(type_name, str) else None
    return lt.held(layer) if lt is not None else []


# --- the fast accept -----------------------------------------------------------------
#
# NOTE: [fast accept]
# Importing jsonschema costs about 120 ms, a third of the 0.3 s that a pre-commit
# lint of a 200-layer spec may take. Most specs are valid, so `_accepts` first
# decides validity with a small, exact reading of the keywords our own generated
# schema uses, and jsonschema is imported only to explain a spec that fails. Any
# keyword outside that set makes `_accepts` answer "no", which falls back to
# jsonschema, so a new keyword can only cost speed, never correctness.
# tests/test_schema.py checks with hypothesis that both agree on mutated specs.

_ANNOTATIONS = frozenset({"description", "default", "title", "$schema", "$id"})
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
    return (numbers or type(a) is type(b)) and a == b


def _accepts(schema: Any, value: Any) -> bool:
    """True only if ``value`` is valid against ``schema`` (see the note above)."""
    if schema is True or schema == {}:
        return True
    if schema is False:
        return False
    for key, arg in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key == "type":
            names = arg if isinstance(arg, list) else [arg]
            if not any(_TYPES[n](value) for n in names):
                return False
        elif key == "enum":
            if not any(_json_equal(value, option) for option in arg):
                return False
        elif key == "const":
            if not _json_equal(value, arg):
                return False
        elif key == "properties":
            if isinstance(value, dict):
                for name, sub in arg.items():
                    if name in value and not _accepts(sub, value[name]):
                        return False
        elif key == "required":
            if isinstance(value, dict) and any(name not in value for name in arg):
                return False
        elif key == "additionalProperties":
            if isinstance(value, dict):
                known = schema.get("properties", {})
                for name, item in value.items():
                    if name not in known and not _accepts(arg, item):
                        return False
        elif key == "propertyNames":
            if isinstance(value, dict) and not all(_accepts(arg, name) for name in value):
                return False
        elif key == "items":
            if isinstance(value, list) and not all(_accepts(arg, item) for item in value):
                return False
        elif key in ("minItems", "maxItems", "minProperties", "minLength"):
            kinds = {"minItems": list, "maxItems": list, "minProperties": dict, "minLength": str}
            if isinstance(value, kinds[key]):
                if key == "maxItems" and len(value) > arg:
                    return False
                if key != "maxItems" and len(value) < arg:
                    return False
        elif key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                ok = {
                    "minimum": value >= arg,
                    "maximum": value <= arg,
                    "exclusiveMinimum": value > arg,
                    "exclusiveMaximum": value < arg,
                }[key]
                if not ok:
                    return False
        elif key == "pattern":
            if isinstance(value, str) and not re.search(arg, value):
                return False
        elif key == "anyOf":
            if not any(_accepts(sub, value) for sub in arg):
                return False
        elif key == "allOf":
            if not all(_accepts(sub, value) for sub in arg):
                return False
        elif key == "if":
            branch = "then" if _accepts(arg, value) else "else"
            if branch in schema and not _accepts(schema[branch], value):
                return False
        elif key in ("then", "else"):
            continue  # read with "if"
        else:
            return False  # a keyword this reader does not know: let jsonschema decide
    return True


def document_accepted(data: Any) -> bool:
    """Whether :func:`modelspec.schema.validate.validate` would find no error, without importing jsonschema."""
    root, step, per_type = schemas()
    if not _accepts(root, data):
        return False
    for section in ("layers", "graph"):
        entries = data.get(section)
        for entry in entries.values() if isinstance(entries, dict) else ():
            if not isinstance(entry, dict) or (section == "layers" and "type" not in entry):
                return False
    graph = data.get("graph")
    for entry in graph.values() if isinstance(graph, dict) else ():
        if plain_step(entry):
            continue
        if not _accepts(step, entry):
            return False
        if "op" in entry and not _accepts(per_type[op_key(entry["op"])], entry):
            return False
    stack = [layer for _, layer in layer_dicts(data)]
    seen: set[str] = set()
    customs = custom_names(data)
    while stack:
        layer = stack.pop()
        type_name = layer.get("type")
        type_key = schema_key(type_name, customs)
        if not isinstance(type_name, str) or type_key not in per_type:
            return False
        key = json.dumps(layer, sort_keys=True)
        if key in seen:
            continue
        if not _accepts(per_type[type_key], layer):
            return False
        seen.add(key)
        stack += [inner for _, inner in held_layers(type_name, layer)]
    return True


def plain_step(step: dict[str, Any]) -> bool:
    """A graph step that the step schema certainly accepts.

    jsonschema spends ~10 descents on each step; on a 10,000-step graph that was the
    biggest cost of `lint`. Steps that are not plainly well-formed still go through
    jsonschema, which explains what is wrong; inline layers are validated as layers.
    """
    if len(step) != 2 or "apply" not in step or "to" not in step:
        return False
    apply, to = step["apply"], step["to"]
    if isinstance(apply, list):
        if not apply or not all(isinstance(a, (str, dict)) for a in apply):
            return False
    elif not isinstance(apply, (str, dict)):
        return False
    if isinstance(to, (list, dict)):
        values = to.values() if isinstance(to, dict) else to
        return bool(to) and all(isinstance(t, str) for t in values)
    return isinstance(to, str)


def layer_dicts(data: Mapping[str, Any]) -> Iterator[tuple[tuple, dict]]:
    """Every place a layer definition may stand: ``layers``, chains, wrappers' ``layer``."""

    def uses(value: Any, path: tuple) -> Iterator[tuple[tuple, dict]]:
        if isinstance(value, dict):
            yield path, value
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield (*path, i), item

    layers = data.get("layers")
    if isinstance(layers, dict):
        for name, layer in layers.items():
            if isinstance(layer, dict):
                yield ("layers", name), layer
    graph = data.get("graph")
    if isinstance(graph, dict):
        for name, step in graph.items():
            if isinstance(step, dict):
                yield from uses(step.get("apply"), ("graph", name, "apply"))
    seq = data.get("sequential")
    if isinstance(seq, list):
        yield from uses(seq, ("sequential",))
