"""jsonschema's errors, explained as diagnostics (``MS1xx``).

Each message states the rule, then the value, then where: "`units` must be an
integer; got '64' (string)". Unknown keys and names get a did-you-mean hint, a Keras
layer the catalogue lacks says so, and a dtype or a size written another way gets the
spelling Keras wants. Positions come from the loader's :class:`Document`.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.base import DTYPE_ALIASES, DTYPES
from modelspec.catalog.keras_layers import KERAS_ALIASES, KERAS_LAYERS, NOT_IN_A_MODEL
from modelspec.catalog.ops import OPS
from modelspec.catalog.ops import REFUSED as REFUSED_OPS
from modelspec.catalog.precision import POLICIES, QUANTIZE_MODES, split_quantized
from modelspec.errors import Diagnostic, closest, cut_list, did_you_mean
from modelspec.source.document import Document

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
               dict: "object", type(None): "null"}  # fmt: skip


def show(value: Any) -> str:
    """``value`` as a message quotes it: a string in quotes, anything else as JSON, cut
    at 60 characters."""
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def json_type(value: Any) -> str:
    """The JSON name of ``value``'s type: "integer", "object", "null"."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _layer_label(path: tuple, layer_type: str) -> str:
    """ "`Dense` 'fc'", "`Dense` in step 'y'", "`Dense` in `sequential`"."""
    if len(path) >= 2 and path[0] == "layers":
        label = f"`{layer_type}` '{path[1]}'"
    elif len(path) >= 2 and path[0] == "graph":
        label = f"`{layer_type}` in step '{path[1]}'"
    elif path and path[0] == "sequential":
        label = f"`{layer_type}` in `sequential`"
    else:
        label = f"`{layer_type}`"
    if path and path[-1] in ("layer", "backward_layer"):
        outer = _layer_label(path[:-1], "?").replace("`?` ", "")
        outer = outer if outer.startswith("in ") else f"layer {outer}"
        label = f"`{layer_type}` inside {outer.removeprefix('in ')}"
    return label


def describe(path: tuple) -> str:
    """What the object at ``path`` is, for messages: "layer 'fc'", "output 'y'"."""
    if len(path) >= 2 and path[0] == "layers":
        return f"layer '{path[1]}'"
    if len(path) >= 2 and path[0] == "inputs":
        return f"input '{path[1]}'"
    if len(path) >= 2 and path[0] == "outputs":
        return f"output '{path[1]}'"
    if len(path) >= 2 and path[0] == "graph":
        if len(path) >= 3 and path[2] == "apply":
            return f"the layer in graph step '{path[1]}'"
        return f"graph step '{path[1]}'"
    if path and path[0] == "sequential":
        return "the layer in `sequential`"
    if path:
        return f"`{path[0]}`"
    return "the spec"


# Keras layers the catalogue does not have: a name there is a Keras layer not supported
# yet, not a misspelling of a catalogue name that happens to look alike.
_KERAS_ONLY = tuple(name for name in KERAS_LAYERS if name not in LAYER_TYPES)


# Keras classes that keras.layers exports only under another name (the class
# GroupedQueryAttention is keras.layers.GroupQueryAttention): a spec writes that name.
_EXPORTED_AS = {cls: name for name, cls in KERAS_ALIASES.items() if cls not in KERAS_LAYERS}


def unknown_op(doc: Document, path: tuple, name: str) -> list[Diagnostic]:
    """MS105 for the op step at ``path``, whose ``op`` is not in the set: what to write
    instead where modelspec knows (``arange``), else the closest names."""
    where = (*path, "op")
    message = f"unknown op '{name}' in {describe(path)}: not one of the ops a spec may call"
    hint = REFUSED_OPS.get(name.removeprefix("keras.ops.").removeprefix("ops."))
    if hint is None:
        close = closest(name.removeprefix("keras.ops."), list(OPS))
        hint = f"did you mean '{close[0]}'?" if close else "docs/spec.md (Ops) lists them"
    return [doc.diagnostic("MS105", message, where, hint=hint)]


def unknown_type(doc: Document, path: tuple, type_name: str) -> list[Diagnostic]:
    """MS105 for the layer at ``path``, whose ``type`` the catalogue lacks: Keras's other
    name for a type, a Keras layer modelspec does not support, or a misspelling."""
    where = (*path, "type")
    canonical = KERAS_ALIASES.get(type_name)
    if canonical in LAYER_TYPES:
        message = f"unknown layer type '{type_name}' in {describe(path)}"
        hint = f"'{type_name}' is Keras's other name for '{canonical}': write '{canonical}'"
        return [doc.diagnostic("MS105", message, where, hint=hint)]
    exported = _EXPORTED_AS.get(type_name)
    if exported in LAYER_TYPES:
        message = f"unknown layer type '{type_name}' in {describe(path)}"
        hint = (
            f"keras.layers exports the class '{type_name}' as '{exported}', the name a "
            f"saved model gives it: write '{exported}'"
        )
        return [doc.diagnostic("MS105", message, where, hint=hint)]
    if type_name == "InputLayer":
        message = (
            f"unknown layer type 'InputLayer' in {describe(path)}: a spec's inputs are not layers"
        )
        hint = "declare the input under `inputs:` (x: {shape: [...], dtype: ...})"
        return [doc.diagnostic("MS105", message, where, hint=hint)]
    if type_name == "Lambda":
        message = f"unknown layer type 'Lambda' in {describe(path)}: a spec holds no Python code"
        hint = (
            "write the function as steps that call ops (`{op: multiply, to: [x, 0.5]}`, "
            "docs/spec.md, Ops), or as a layer class in a module of your own declared "
            "under `custom:` (docs/spec.md, Custom layers)"
        )
        return [doc.diagnostic("MS105", message, where, hint=hint)]
    if type_name in NOT_IN_A_MODEL:
        message = (
            f"unsupported layer type '{type_name}' in {describe(path)}: {NOT_IN_A_MODEL[type_name]}"
        )
        hint = "apply it to the data before the model (in a tf.data pipeline), not in the model"
        return [doc.diagnostic("MS105", message, where, hint=hint)]
    if type_name in _KERAS_ONLY:
        message = (
            f"unsupported layer type '{type_name}' in {describe(path)}: a Keras layer "
            "that modelspec does not support yet"
        )
        hint = (
            f"to use it anyway, declare it under `custom:` with class: "
            f"keras.layers.{type_name}, and allow that module (--allow-module "
            "keras.layers); see docs/spec.md, Custom layers"
        )
        return [doc.diagnostic("MS105", message, where, hint=hint)]
    close = closest(type_name, [*LAYER_TYPES, *_KERAS_ONLY])
    if close and close[0] in LAYER_TYPES:
        hint = f"did you mean '{close[0]}'?"
    elif close:
        hint = f"did you mean '{close[0]}'? It is a Keras layer that modelspec does not support yet"
    else:
        hint = "see `modelspec schema` for the layer types modelspec knows"
    return [
        doc.diagnostic(
            "MS105", f"unknown layer type '{type_name}' in {describe(path)}", where, hint=hint
        )
    ]


def _dtype_hint(value: str) -> str | None:
    """``int`` -> did you mean 'int32'?; ``tf.float32`` -> 'float32'."""
    bare = re.sub(r"^(?:tf|np|numpy|torch|jnp|keras)\.", "", value.strip())
    if bare in DTYPES:
        return f"did you mean '{bare}'? A dtype is written by its name alone"
    canonical = DTYPE_ALIASES.get(bare.lower())
    if canonical is not None:
        return (
            f"did you mean '{canonical}'? Keras names dtypes by their size: '{bare}' is {canonical}"
        )
    return None


def _policy_hint(value: str) -> str | None:
    """For a dtype policy: a quantized policy's name (``int8_from_float32``) -> how a spec
    asks for quantization; ``bf16`` or ``tf.bfloat16`` -> the policy's name; ``int8`` ->
    that quantization is not a policy."""
    mode, source = split_quantized(value.strip())
    if mode is not None:
        return (
            f"Keras names a quantized layer's policy '{value}'; a spec writes "
            f"`quantize: {mode}` and the policy it quantizes from, '{source}'"
        )
    if value.strip() in QUANTIZE_MODES or value.strip() in ("int4", "gptq", "awq"):
        return f"quantization is not a dtype policy: write `quantize: {value.strip()}`"
    hint = _dtype_hint(value)
    if hint is not None:
        name = re.search(r"'([a-z0-9]+)'", hint)
        return hint if name and name[1] in POLICIES else None
    if value.strip().lower() in ("mixed", "mixed_precision", "amp", "mixed_bf16"):
        return "did you mean 'mixed_bfloat16'? (or 'mixed_float16', which needs loss scaling)"
    return None


def _size_hint(value: Any, schema: Any) -> str | None:
    """For a size that may be null (a positive integer or null): -1, 0 or the string
    'None' where null is meant."""
    options = schema.get("anyOf", []) if isinstance(schema, dict) else []
    sizes = any(
        isinstance(o, dict) and o.get("type") == "integer" and o.get("minimum", 0) >= 1
        for o in options
    )
    if {"type": "null"} not in options or not sizes:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value < 1:
        return (
            f"a size known only when the model runs is null (Keras's None), not {value}; "
            "a known size is at least 1"
        )
    if isinstance(value, str) and value.strip().lower() in ("none", "?", "-1"):
        return "write null (YAML's word for None), without quotes"
    return None


def translate(
    doc: Document, error: ValidationError, prefix: tuple, *, layer_type: str | None = None
) -> list[Diagnostic]:
    """The diagnostics for one jsonschema ``error`` about the value at ``prefix``;
    ``layer_type`` names the layer that value is, where it is one."""
    path = (*prefix, *error.absolute_path)
    kw = error.validator
    value = error.instance
    where = describe(path)
    if layer_type and len(path) > len(prefix):
        where = f"`{layer_type}` kwarg `{path[len(prefix)]}`"
    name = path[-1] if path and isinstance(path[-1], str) else None
    if path and isinstance(path[-1], int) and len(path) >= 2:
        name = f"{path[-2]}[{path[-1]}]"

    if kw == "additionalProperties" and isinstance(value, dict):
        allowed = list(error.schema.get("properties", {}))
        extras = [k for k in value if k not in allowed]
        what = _layer_label(path, layer_type) if layer_type and path == prefix else describe(path)
        if not layer_type and isinstance(value.get("type"), str):
            what = f"`{value['type']}` in {what}"
        out = []
        for key in extras:
            hint = did_you_mean(key, allowed)
            if hint is None and allowed:
                hint = "allowed keys: " + cut_list([f"'{k}'" for k in allowed], 12)
            out.append(
                doc.diagnostic(
                    "MS102", f"unknown key '{key}' in {what}", (*path, key), hint=hint, key=True
                )
            )
        return out
    if kw == "required":
        missing = [k for k in error.validator_value if isinstance(value, dict) and k not in value]
        what = _layer_label(path, layer_type) if layer_type else describe(path)
        if layer_type and len(path) > len(prefix) and isinstance(path[-1], str):
            # An object-valued kwarg (an initializer `{type: ...}`): name the kwarg.
            what = f"`{path[-1]}` of {_layer_label(prefix, layer_type)}"
        return [
            doc.diagnostic("MS103", f"{what} is missing the required key '{k}'", path)
            for k in missing
        ]
    if kw == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        subject = f"`{name}`" if name else where
        hint = None
        if want == "integer" and isinstance(value, float) and value.is_integer():
            hint = f"write {int(value)}"
        if want == "integer" and isinstance(value, bool):
            hint = "booleans are not integers here"
        return [
            doc.diagnostic(
                "MS104",
                f"{subject} must be {_article(want)}; got {show(value)} ({json_type(value)})",
                path,
                hint=hint,
            )
        ]
    if kw == "const" and path == ("modelspec",) and isinstance(value, str):
        return [
            doc.diagnostic(
                "MS104",
                f"`modelspec` must be the number 1; got {show(value)} (string)",
                path,
                hint="write `modelspec: 1`, without quotes",
            )
        ]
    if kw == "const" and path == ("modelspec",):
        return [
            doc.diagnostic(
                "MS105",
                f"unsupported spec version {show(value)}; this modelspec reads version 1",
                path,
                hint="write `modelspec: 1`",
            )
        ]
    if kw == "enum" and name == "type" and error.validator_value == list(LAYER_TYPES):
        return (
            unknown_type(doc, path[:-1], value)
            if isinstance(value, str)
            else [
                doc.diagnostic("MS104", f"layer `type` must be a string; got {show(value)}", path)
            ]
        )
    if kw in ("enum", "const"):
        choices = error.validator_value if kw == "enum" else [error.validator_value]
        subject = f"`{name}`" if name else where
        strs = [str(c) for c in choices]
        hint = None
        if name == "dtype" and isinstance(value, str) and choices == list(DTYPES):
            hint = _dtype_hint(value)
        if isinstance(value, str) and choices == list(POLICIES):
            hint = _policy_hint(value)
        if hint is None and isinstance(value, str):
            hint = did_you_mean(value, strs)
        if hint is None:
            hint = "expected one of " + cut_list([show(c) for c in choices], 10)
        if name == "type":
            owner = next((p for p in reversed(path[:-1]) if isinstance(p, str)), "")
            kind = {"optimizer": "optimizer ", "loss": "loss ", "callbacks": "callback "}.get(
                owner, "initializer " if owner.endswith("_initializer") else ""
            )
            message = f"unknown {kind}type {show(value)}"
        else:
            message = f"unknown value {show(value)} for {subject}"
        return [doc.diagnostic("MS105", message, path, hint=hint)]
    if kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[
            kw
        ]
        subject = f"`{name}`" if name else where
        return [
            doc.diagnostic(
                "MS106", f"{subject} must be {op} {error.validator_value}; got {show(value)}", path
            )
        ]
    if kw == "not" and error.validator_value == {"type": "integer", "multipleOf": 2}:
        subject = f"`{name}`" if name else where
        return [doc.diagnostic("MS106", f"{subject} must be odd; got {show(value)}", path)]
    if kw == "minLength" and "propertyNames" in error.schema_path:
        return [
            doc.diagnostic(
                "MS106",
                f"a name in {describe(path) if path else 'the spec'} is empty",
                path,
                hint="give it a name",
            )
        ]
    if kw in ("minItems", "maxItems", "minProperties", "minLength"):
        subject = f"`{name}`" if name else where
        return [
            doc.diagnostic(
                "MS106",
                f"{subject} {_size_rule(kw, error.validator_value)}; got {show(value)}",
                path,
            )
        ]
    if kw in ("anyOf", "oneOf") and error.context:
        # Pick the branch the user most likely meant. An error inside a branch (a
        # mapping whose `type` is misspelt) says more than "not a string".
        inner = [
            e
            for e in error.context
            if e.relative_path or e.validator not in ("type", "enum", "const")
        ]
        # A number past the bounds of the one branch that takes numbers, beside a list
        # (a factor): say the bound. Where the other choice is null (a size), the
        # message below says that null is the way to write "unknown".
        # An odd size (a blur's kernel) is one more bound.
        bounds = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "not")
        branches = error.schema.get("anyOf", []) if isinstance(error.schema, dict) else []
        if inner and (
            isinstance(value, (dict, list))
            or (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and all(e.validator in bounds and not e.relative_path for e in inner)
                and not any(isinstance(b, dict) and b.get("type") == "null" for b in branches)
            )
        ):
            from jsonschema.exceptions import best_match

            return translate(doc, best_match(inner), prefix, layer_type=layer_type)
        choices = _expected(error.schema)
        enums = [
            e for e in error.context if e.validator in ("enum", "const") and not e.relative_path
        ]
        if (
            isinstance(value, str)
            and enums
            and all(isinstance(c, str) for e in enums for c in _options(e))
        ):
            options = [c for e in enums for c in _options(e)]
            subject = f"`{name}`" if name else where
            hint = did_you_mean(value, options) or "expected " + " or ".join(choices)
            return [
                doc.diagnostic(
                    "MS105", f"unknown value {show(value)} for {subject}", path, hint=hint
                )
            ]
        subject = f"`{name}`" if name else where
        return [
            doc.diagnostic(
                "MS104",
                f"{subject} must be {' or '.join(choices)}; got {show(value)} ({json_type(value)})",
                path,
                hint=_size_hint(value, error.schema),
            )
        ]
    return [doc.diagnostic("MS100", f"{where}: {error.message}", path)]


def _options(error: ValidationError) -> list[Any]:
    return list(error.validator_value) if error.validator == "enum" else [error.validator_value]


def _expected(schema: Any) -> list[str]:
    """What a schema accepts, for messages: ["a string", "a mapping", "'auto'"]."""
    if not isinstance(schema, dict):
        return ["valid"]
    if "anyOf" in schema or "oneOf" in schema:
        out: list[str] = []
        for sub in schema.get("anyOf", schema.get("oneOf", [])):
            out += [e for e in _expected(sub) if e not in out]
        return out
    if "const" in schema:
        return [show(schema["const"])]
    if "enum" in schema:
        values = schema["enum"]
        return [
            ("one of " + cut_list([show(v) for v in values], 6))
            if len(values) > 1
            else show(values[0])
        ]
    kinds = schema.get("type")
    if kinds is None:
        return ["valid"]
    return [_article(k) for k in (kinds if isinstance(kinds, list) else [kinds])]


def _article(type_name: str) -> str:
    return {
        "integer": "an integer",
        "array": "a list",
        "object": "a mapping",
        "null": "null",
        "string": "a string",
        "number": "a number",
        "boolean": "a boolean",
    }.get(type_name, type_name)


def _size_rule(kw: str, n: int) -> str:
    return {
        "minItems": f"needs at least {n} item{'s' if n != 1 else ''}",
        "maxItems": f"takes at most {n} item{'s' if n != 1 else ''}",
        "minProperties": f"needs at least {n} entr{'ies' if n != 1 else 'y'}",
        "minLength": "must not be empty",
    }[kw]
