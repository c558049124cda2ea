"""The JSON Schema of a spec, generated from the catalogue, and validation against it.

``build_schema()`` is the one source of ``schemas/modelspec.schema.json``; a test
fails when the committed file drifts from it (regenerate with ``modelspec schema -o
schemas/modelspec.schema.json``).

# NOTE: [layer dispatch]
For editors, ``$defs/layer`` picks the sub-schema of a layer by its ``type`` with one
``if``/``then`` per layer type. Validating 10,000 layers that way costs 10,000 x 70
``if`` evaluations, seconds of work. In-process we validate the document against a
variant of the same schema whose ``layer`` only checks ``type``, then validate each
layer against ``$defs/layer.<Type>`` directly: the same sub-schemas, dispatched by a
dict lookup.

Errors from jsonschema are turned into diagnostics that state the rule, then the
value (``MS1xx``), with did-you-mean hints for unknown keys and names, and positions
from the loader.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from modelspec.catalog import LAYER_TYPES, custom
from modelspec.catalog import training as tc
from modelspec.catalog.base import DTYPE_ALIASES, DTYPES, INITIALIZER_OBJECTS, LAYER_REF, Kwarg
from modelspec.catalog.keras_layers import KERAS_ALIASES, KERAS_LAYERS
from modelspec.errors import Diagnostic, closest, cut_list, did_you_mean
from modelspec.source.document import Document

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

SCHEMA_ID = "https://modelspec.dev/schemas/modelspec-1.schema.json"
CUSTOM_NAME = "^[A-Za-z_][A-Za-z0-9_]*$"
# Every error past this many is counted, not explained: a spec with 100,000 bad
# layers should still get its answer in well under a second.
MAX_SCHEMA_ERRORS = 200


def _kwarg_schema(k: Kwarg) -> dict[str, Any]:
    out = dict(k.schema)
    if k.description:
        out["description"] = k.description
    if not k.required:
        out["default"] = k.default
    return out


def _object(
    kwargs: tuple[Kwarg, ...], *, extra: Mapping[str, Any] | None = None, doc: str = ""
) -> dict[str, Any]:
    props: dict[str, Any] = dict(extra or {})
    props.update({k.name: _kwarg_schema(k) for k in kwargs})
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    required = [*(["type"] if "type" in props else []), *(k.name for k in kwargs if k.required)]
    if required:
        out["required"] = required
    if doc:
        out["description"] = doc
    return out


def _typed_union(
    name: str, kinds: Mapping[str, tuple[Kwarg, ...]], docs: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``{type: Class, **kwargs}`` objects: the dispatching def and one def per class."""
    defs = {}
    for kind, kwargs in kinds.items():
        doc = (docs or {}).get(kind, "")
        defs[f"{name}.{kind}"] = _object(
            kwargs, extra={"type": {"const": kind, "description": doc or kind}}, doc=doc
        )
    union = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": list(kinds)}},
        "allOf": [
            {
                "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
                "then": {"$ref": f"#/$defs/{name}.{kind}"},
            }
            for kind in kinds
        ],
    }
    return union, defs


def build_schema(*, dispatch: bool = True) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a modelspec v1 document.

    With ``dispatch=False`` the ``layer`` definition checks only ``type``; see
    the note at the top of this module.
    """
    layer_kinds = {name: t.kwargs for name, t in LAYER_TYPES.items()}
    layer_docs = {name: t.doc for name, t in LAYER_TYPES.items()}
    layer_union, layer_defs = _typed_union("layer", layer_kinds, layer_docs)
    for name in LAYER_TYPES:
        layer_defs[f"layer.{name}"]["properties"]["name"] = {
            "type": "string",
            "description": "Name of an inline layer (a layer under `layers:` is named by its key).",
        }
    layer_union["description"] = (
        "A Keras layer: `type` is the class name (or a type declared under `custom:`), "
        "the rest its kwargs."
    )
    # Editors cannot check a name against `custom:`; lint does (MS105).
    layer_union["properties"]["type"] = {
        "anyOf": [{"enum": list(layer_kinds)}, {"type": "string", "pattern": CUSTOM_NAME}]
    }
    if not dispatch:
        del layer_union["allOf"]
    loss_union, loss_defs = _typed_union("loss", tc.LOSS_CLASSES)
    opt_union, opt_defs = _typed_union("optimizer", tc.OPTIMIZERS)
    cb_union, cb_defs = _typed_union("callback", tc.CALLBACKS)
    init_union, init_defs = _typed_union("initializer", INITIALIZER_OBJECTS)
    init_union["description"] = (
        "An initializer with arguments: `type` is the Keras class, the rest its kwargs "
        "(no `seed`: the spec's `seed` seeds every initializer)."
    )

    name_map = {
        "type": "object",
        "propertyNames": {"type": "string", "minLength": 1},
    }
    defs: dict[str, Any] = {
        "input": {
            "type": "object",
            "description": "A model input, as `keras.Input(shape=..., dtype=...)`.",
            "required": ["shape"],
            "properties": {
                "shape": {
                    "type": "array",
                    "description": "Shape without the batch axis; null for a size known only at run time.",
                    "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
                    "maxItems": 16,
                },
                "dtype": {
                    "enum": list(DTYPES),
                    "default": "float32",
                    "description": "Input dtype.",
                },
            },
            "additionalProperties": False,
        },
        "layer": layer_union,
        "layer_use": {
            "description": "A layer from `layers:` by name, or an inline (anonymous) layer.",
            "anyOf": [{"type": "string"}, {"$ref": LAYER_REF}],
        },
        "tensor_ref": {
            "type": "string",
            "description": "An input or graph tensor by name; `name[i]` picks the i-th of several outputs.",
        },
        "step": {
            "type": "object",
            "description": "One tensor of the graph: layers applied in order to `to`.",
            "required": ["apply", "to"],
            "properties": {
                "apply": {
                    "description": "A layer, or a chain of layers applied one after another.",
                    "anyOf": [
                        {"$ref": "#/$defs/layer_use"},
                        {"type": "array", "items": {"$ref": "#/$defs/layer_use"}, "minItems": 1},
                    ],
                },
                "to": {
                    "description": "The input tensor, or a list of them for merges and attention.",
                    "anyOf": [
                        {"$ref": "#/$defs/tensor_ref"},
                        {"type": "array", "items": {"$ref": "#/$defs/tensor_ref"}, "minItems": 1},
                    ],
                },
            },
            "additionalProperties": False,
        },
        "loss": {
            "anyOf": [
                {"enum": list(tc.LOSS_NAMES)},
                {"type": "null"},
                {"$ref": "#/$defs/loss_object"},
            ]
        },
        "loss_object": loss_union,
        "metric": {"enum": list(tc.METRIC_NAMES)},
        "output": {
            "type": "object",
            "description": "A model output, keyed by its name.",
            "properties": {
                "from": {"$ref": "#/$defs/tensor_ref"},
                "loss": {"$ref": "#/$defs/loss", "description": "Loss for this output."},
                "loss_weight": {
                    "type": "number",
                    "minimum": 0,
                    "description": "Weight of this output's loss in the total loss.",
                },
                "metrics": {"type": "array", "items": {"$ref": "#/$defs/metric"}},
            },
            "additionalProperties": False,
        },
        "optimizer": {
            "anyOf": [{"enum": list(tc.OPTIMIZER_NAMES)}, {"$ref": "#/$defs/optimizer_object"}]
        },
        "optimizer_object": opt_union,
        "initializer_object": init_union,
        "custom_layer": {
            "type": "object",
            "description": "A layer class outside the catalogue, by import path. Its module "
            "must be allowed by the project (`allow-modules`) or `--allow-module`.",
            "required": ["class"],
            "properties": {
                "class": {
                    "type": "string",
                    "pattern": f"^{custom.DOTTED}$",
                    "description": "The class, as module.Class.",
                },
                "inputs": {
                    "type": "integer",
                    "minimum": 1,
                    "default": 1,
                    "description": "Tensors one call takes; more than one are passed as a list.",
                },
                "shape": {
                    "type": "string",
                    "pattern": f"^(same|{custom.DOTTED})$",
                    "description": "The output shape: `same` as the first input, or a function "
                    "module.function(kwargs, input_shapes) in an allowed module. Left out: "
                    "Keras is asked, where installed.",
                },
                "params": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Trainable parameters of one layer. Left out: Keras is "
                    "asked, where installed.",
                },
            },
            "additionalProperties": False,
        },
        "custom_layer_use": {
            "type": "object",
            "description": "A layer of a custom type: its kwargs are plain values.",
            "properties": {"type": {"type": "string"}, "name": {"type": "string"}},
            "additionalProperties": custom.PLAIN_VALUE,
        },
        "callback": cb_union,
        "compile": {
            "type": "object",
            "description": "Arguments of `model.compile`; losses live on the outputs.",
            "properties": {
                "optimizer": {"$ref": "#/$defs/optimizer"},
                "jit_compile": {
                    "anyOf": [{"type": "boolean"}, {"const": "auto"}],
                    "default": "auto",
                },
                "steps_per_execution": {"type": "integer", "minimum": 1, "default": 1},
                "run_eagerly": {"type": "boolean", "default": False},
            },
            "required": ["optimizer"],
            "additionalProperties": False,
        },
        "fit": {
            "type": "object",
            "description": "Defaults for `model.fit` and `modelspec train`.",
            "properties": {
                "epochs": {"type": "integer", "minimum": 1, "default": 1},
                "batch_size": {"type": "integer", "minimum": 1, "default": 32},
                "validation_split": {
                    "type": "number",
                    "minimum": 0,
                    "exclusiveMaximum": 1,
                    "default": 0,
                },
                "shuffle": {"type": "boolean", "default": True},
                "verbose": {"anyOf": [{"enum": [0, 1, 2]}, {"const": "auto"}], "default": "auto"},
                "callbacks": {"type": "array", "items": {"$ref": "#/$defs/callback"}},
            },
            "additionalProperties": False,
        },
        "distribution": {
            "type": "object",
            "description": "How `modelspec train` spreads training over devices; "
            "`--strategy` overrides it.",
            "properties": {
                "strategy": {
                    "enum": list(tc.STRATEGIES),
                    "description": "The tf.distribute strategy. "
                    + " ".join(f"`{name}`: {doc}" for name, doc in tc.STRATEGIES.items()),
                },
            },
            "required": ["strategy"],
            "additionalProperties": False,
        },
        "weights": {
            "description": "Weights to start from, loaded layer by layer by name: a "
            "`.weights.h5` or `.keras` file inside the project, relative to the spec; "
            "or `{file, map, skip_mismatch}`.",
            "anyOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "minLength": 1,
                            "description": "A `.weights.h5` or `.keras` file inside the "
                            "project, relative to the spec.",
                        },
                        "map": {
                            **name_map,
                            "description": "Layer names of this model -> names in the file; "
                            "a layer not listed loads from its own name.",
                            "additionalProperties": {"type": "string", "minLength": 1},
                        },
                        "skip_mismatch": {
                            "type": "boolean",
                            "default": False,
                            "description": "Skip layers whose weights do not fit (a warning) "
                            "instead of failing.",
                        },
                    },
                    "required": ["file"],
                    "additionalProperties": False,
                },
            ],
        },
    }
    defs.update(layer_defs)
    defs.update(loss_defs)
    defs.update(opt_defs)
    defs.update(cb_defs)
    defs.update(init_defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "modelspec v1",
        "description": "A declarative Keras model: inputs, layers, a graph of calls, outputs.",
        "type": "object",
        "required": ["modelspec", "name"],
        "properties": {
            "modelspec": {"const": 1, "description": "Version of the spec format."},
            "name": {"type": "string", "minLength": 1, "description": "Name of the model."},
            "description": {"type": "string"},
            "seed": {
                "type": "integer",
                "minimum": 0,
                "maximum": 2**32 - 1,
                "description": "Seed for every initializer, derived per layer.",
            },
            "inputs": {
                **name_map,
                "additionalProperties": {"$ref": "#/$defs/input"},
                "minProperties": 1,
            },
            "layers": {**name_map, "additionalProperties": {"$ref": LAYER_REF}},
            "graph": {
                **name_map,
                "additionalProperties": {"$ref": "#/$defs/step"},
                "minProperties": 1,
            },
            "sequential": {
                "type": "array",
                "description": "Shorthand for a plain stack: layers applied in order to the one input.",
                "items": {"$ref": "#/$defs/layer_use"},
                "minItems": 1,
            },
            "outputs": {
                **name_map,
                "additionalProperties": {"$ref": "#/$defs/output"},
                "minProperties": 1,
            },
            "compile": {"$ref": "#/$defs/compile"},
            "fit": {"$ref": "#/$defs/fit"},
            "distribution": {"$ref": "#/$defs/distribution"},
            "weights": {"$ref": "#/$defs/weights"},
            "custom": {
                "type": "object",
                "description": "Layer types outside the catalogue, by name.",
                "propertyNames": {"type": "string", "pattern": CUSTOM_NAME},
                "additionalProperties": {"$ref": "#/$defs/custom_layer"},
            },
            "$schema": {
                "type": "string",
                "description": "This schema's URL or path, for JSON editors (ignored by modelspec).",
            },
        },
        "additionalProperties": False,
        "$defs": defs,
    }


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
    names = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    model = {
        "anyOf": [{"type": "boolean"}, {"enum": ["functional", "sequential"]}],
        "default": False,
        "description": "Build each instance as a nested keras.Model (true: Sequential for a "
        "plain stack, else Functional) instead of inlining its layers.",
    }
    defs["block"] = {
        "type": "object",
        "description": "A sub-graph with inputs, outputs and parameters, used as a graph step.",
        "required": ["inputs", "outputs", "graph"],
        "properties": {
            "description": {"type": "string"},
            "params": {"type": "object", "description": "Parameters with their defaults."},
            "required": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Parameters every instance must give.",
            },  # fmt: skip
            "inputs": {**names, "description": "The block's input tensors."},
            "outputs": {**names, "description": "The block's output tensors (its steps)."},
            "layers": {"type": "object", "additionalProperties": {"$ref": LAYER_REF}},
            "graph": {
                "type": "object",
                "additionalProperties": {"$ref": "#/$defs/step"},
                "minProperties": 1,
            },  # fmt: skip
            "model": model,
        },
        "additionalProperties": False,
    }
    apply_step = defs["step"]
    apply_step["properties"]["repeat"] = {
        "type": "integer", "minimum": 1,
        "description": "Apply the chain this many times (`index` counts from 1).",
    }  # fmt: skip
    apply_step["properties"]["when"] = {
        "type": "boolean", "description": "false drops the step; its name then stands for its input.",
    }  # fmt: skip
    defs["block_step"] = {
        "type": "object",
        "description": "An instance of a block: its layers, with their own weights.",
        "required": ["block", "to"],
        "properties": {
            "block": {"type": "string", "description": "The block's name."},
            "to": apply_step["properties"]["to"],
            "with": {"type": "object", "description": "Parameter values of this instance."},
            "repeat": {
                "type": "integer",
                "minimum": 1,
                "description": "Instances, each fed by the one before.",
            },  # fmt: skip
            "share": {
                "type": "string",
                "description": "An earlier instance of the block whose weights this one uses.",
            },  # fmt: skip
            "model": model,
            "description": {"type": "string"},
        },
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


def _is_int(checker: Any, instance: Any) -> bool:
    # JSON Schema counts 2.0 as an integer and jsonschema follows; Keras does not
    # (Dense(units=2.0) fails deep inside), so neither do we.
    return isinstance(instance, int) and not isinstance(instance, bool)


def _inline_refs(node: Any, defs: Mapping[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """Replace every local ``$ref`` by the definition it names.

    jsonschema resolves a ``$ref`` through its registry on every visit, which was
    most of the time spent validating a 10,000-layer spec. The in-process schema has
    no recursion (see the note on dispatch above), so inlining is finite.
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
def _schemas() -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """The in-process schemas, refs inlined: the root, a graph step, one per layer type.

    The root leaves layer and step entries to the other two (see :func:`validate`).
    """
    schema = build_schema(dispatch=False)
    defs = schema.pop("$defs")
    # A layer written in place (in a chain, in `sequential`) is checked by its own
    # type's schema in _validate; here it only needs to be a mapping.
    defs["layer"] = {"type": "object"}
    props = schema["properties"]
    # Entries of `layers` and `graph` are checked one by one in _validate, and their
    # names in parse.py: descending into 100,000 of them here would be the slowest part.
    props["layers"] = {"type": "object"}
    props["graph"] = {"type": "object", "minProperties": 1}
    root = _inline_refs(schema, defs)
    step = _inline_refs(defs["step"], defs)
    per_type = {name: _inline_refs(defs[f"layer.{name}"], defs) for name in LAYER_TYPES}
    per_type[CUSTOM_USE] = _inline_refs(defs["custom_layer_use"], defs)
    return root, step, per_type


# The key of a custom layer's schema among the catalogue's (not a name a type can have).
CUSTOM_USE = "<custom>"


def _custom_names(data: Any) -> frozenset[str]:
    """The type names a spec declares under ``custom:`` (catalogue names excluded)."""
    section = data.get("custom") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        return frozenset()
    return frozenset(n for n in section if isinstance(n, str) and n not in LAYER_TYPES)


def _schema_key(type_name: Any, customs: frozenset[str]) -> Any:
    return CUSTOM_USE if isinstance(type_name, str) and type_name in customs else type_name


def _nested(type_name: str) -> tuple[str, ...]:
    lt = LAYER_TYPES.get(type_name)
    return lt.nested if lt is not None else ()


@functools.lru_cache(maxsize=1)
def _validators() -> tuple[Any, Any, dict[str, Any]]:
    """jsonschema validators for :func:`_schemas`, imported only to explain errors."""
    import jsonschema

    validator_class = jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_int),
    )
    root, step, per_type = _schemas()
    return (
        validator_class(root),
        validator_class(step),
        {name: validator_class(schema) for name, schema in per_type.items()},
    )


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
                ok = {"minimum": value >= arg, "maximum": value <= arg,
                      "exclusiveMinimum": value > arg, "exclusiveMaximum": value < arg}[key]  # fmt: skip
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


def _document_accepted(data: Any) -> bool:
    """Whether :func:`validate` would find no error, without importing jsonschema."""
    root, step, per_type = _schemas()
    if not _accepts(root, data):
        return False
    for section in ("layers", "graph"):
        entries = data.get(section)
        for entry in entries.values() if isinstance(entries, dict) else ():
            if not isinstance(entry, dict) or (section == "layers" and "type" not in entry):
                return False
    graph = data.get("graph")
    for entry in graph.values() if isinstance(graph, dict) else ():
        if not _plain_step(entry) and not _accepts(step, entry):
            return False
    stack = [layer for _, layer in _layer_dicts(data)]
    seen: set[str] = set()
    customs = _custom_names(data)
    while stack:
        layer = stack.pop()
        type_name = layer.get("type")
        schema_key = _schema_key(type_name, customs)
        if not isinstance(type_name, str) or schema_key not in per_type:
            return False
        key = json.dumps(layer, sort_keys=True)
        if key in seen:
            continue
        if not _accepts(per_type[schema_key], layer):
            return False
        seen.add(key)
        for kwarg_name in _nested(type_name):
            inner = layer.get(kwarg_name)
            if isinstance(inner, dict):
                stack.append(inner)
    return True


def _plain_step(step: dict[str, Any]) -> bool:
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
    if isinstance(to, list):
        return bool(to) and all(isinstance(t, str) for t in to)
    return isinstance(to, str)


# --- validation ------------------------------------------------------------------------

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
               dict: "object", type(None): "null"}  # fmt: skip


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _layer_dicts(data: Mapping[str, Any]) -> Iterator[tuple[tuple, dict]]:
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


def _kind(path: tuple) -> str:
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


def validate(doc: Document) -> list[Diagnostic]:
    """Every schema error of ``doc``, capped at :data:`MAX_SCHEMA_ERRORS`.

    At the cap, one more diagnostic (MS109) says the check stopped there.
    """
    if _document_accepted(doc.data):
        return []
    out = _validate(doc)
    if len(out) >= MAX_SCHEMA_ERRORS:
        out = out[:MAX_SCHEMA_ERRORS]
        out.append(doc.diagnostic("MS109", f"stopped after {MAX_SCHEMA_ERRORS} schema errors", (),
                                  hint="fix these and run again to see the rest"))  # fmt: skip
    return out


def _validate(doc: Document) -> list[Diagnostic]:
    root, step_validator, per_type = _validators()
    out: list[Diagnostic] = []
    for error in root.iter_errors(doc.data):
        out.extend(_translate(doc, error, ()))
        if len(out) >= MAX_SCHEMA_ERRORS:
            return out
    if not isinstance(doc.data, dict):
        return out
    for section in ("layers", "graph"):
        entries = doc.data.get(section)
        for name, entry in entries.items() if isinstance(entries, dict) else ():
            if not isinstance(entry, dict):
                out.append(doc.diagnostic("MS104", f"{_kind((section, name))} must be a mapping; got {_show(entry)} "
                                          f"({_type_name(entry)})", (section, name)))  # fmt: skip
            elif section == "layers" and "type" not in entry:
                out.append(doc.diagnostic("MS103", f"layer '{name}' is missing the required key 'type'",
                                          (section, name)))  # fmt: skip
        if len(out) >= MAX_SCHEMA_ERRORS:
            return out
    graph = doc.data.get("graph")
    if isinstance(graph, dict):
        for name, step in graph.items():
            if isinstance(step, dict) and not _plain_step(step):
                for error in step_validator.iter_errors(step):
                    out.extend(_translate(doc, error, ("graph", name)))
                if len(out) >= MAX_SCHEMA_ERRORS:
                    return out
    stack = list(_layer_dicts(doc.data))
    stack.reverse()
    # Real specs repeat layers ("Dense, 64 units, relu" many times): validate each
    # distinct definition once. The key is exact JSON, so 1 and 1.0 stay apart.
    valid: set[str] = set()
    customs = _custom_names(doc.data)
    while stack:
        if len(out) >= MAX_SCHEMA_ERRORS:  # 20,000 unknown types: each asks did_you_mean
            return out
        path, layer = stack.pop()
        type_name = layer.get("type")
        validator = (
            per_type.get(_schema_key(type_name, customs)) if isinstance(type_name, str) else None
        )
        if validator is None:
            if isinstance(type_name, str):
                out.extend(_unknown_type(doc, path, type_name))
            elif "type" in layer:
                out.append(doc.diagnostic("MS104", f"layer `type` must be a string; got {_show(type_name)}",
                                          (*path, "type")))  # fmt: skip
            elif not (len(path) == 2 and path[0] == "layers"):  # under `layers:` reported above
                what = _kind(path)
                if path[-1] in ("layer", "backward_layer"):
                    what = f"the `{path[-1]}` of {_kind(path[:-1])}"
                out.append(
                    doc.diagnostic("MS103", f"{what} is missing the required key 'type'", path)
                )
            continue
        key = json.dumps(layer, sort_keys=True)
        if key in valid:
            continue
        before = len(out)
        for error in validator.iter_errors(layer):
            out.extend(_translate(doc, error, path, layer_type=type_name))
            if len(out) >= MAX_SCHEMA_ERRORS:
                return out
        if len(out) == before and not _nested(type_name):
            valid.add(key)
        # Wrappers hold a layer in a kwarg: validate it by its own type too.
        for kwarg_name in _nested(type_name):
            inner = layer.get(kwarg_name)
            if isinstance(inner, dict):
                stack.append(((*path, kwarg_name), inner))
    return out


# Keras layers the catalogue does not have: a name there is a Keras layer not supported
# yet, not a misspelling of a catalogue name that happens to look alike.
_KERAS_ONLY = tuple(name for name in KERAS_LAYERS if name not in LAYER_TYPES)


def _unknown_type(doc: Document, path: tuple, type_name: str) -> list[Diagnostic]:
    where = (*path, "type")
    canonical = KERAS_ALIASES.get(type_name)
    if canonical in LAYER_TYPES:
        message = f"unknown layer type '{type_name}' in {_kind(path)}"
        hint = f"'{type_name}' is Keras's other name for '{canonical}': write '{canonical}'"
        return [doc.diagnostic("MS105", message, where, hint=hint)]
    if type_name == "InputLayer":
        message = (
            f"unknown layer type 'InputLayer' in {_kind(path)}: a spec's inputs are not layers"
        )
        hint = "declare the input under `inputs:` (x: {shape: [...], dtype: ...})"
        return [doc.diagnostic("MS105", message, where, hint=hint)]
    if type_name == "Lambda":
        message = f"unknown layer type 'Lambda' in {_kind(path)}: a spec holds no Python code"
        hint = ("write the function as a layer class in a module of your own and declare it "
                "under `custom:` (docs/spec.md, Custom layers)")  # fmt: skip
        return [doc.diagnostic("MS105", message, where, hint=hint)]
    if type_name in _KERAS_ONLY:
        message = (f"unsupported layer type '{type_name}' in {_kind(path)}: a Keras layer "
                   "that modelspec does not support yet")  # fmt: skip
        hint = (f"to use it anyway, declare it under `custom:` with class: "
                f"keras.layers.{type_name}, and allow that module (--allow-module "
                "keras.layers); see docs/spec.md, Custom layers")  # fmt: skip
        return [doc.diagnostic("MS105", message, where, hint=hint)]
    close = closest(type_name, [*LAYER_TYPES, *_KERAS_ONLY])
    if close and close[0] in LAYER_TYPES:
        hint = f"did you mean '{close[0]}'?"
    elif close:
        hint = f"did you mean '{close[0]}'? It is a Keras layer that modelspec does not support yet"
    else:
        hint = "see `modelspec schema` for the layer types modelspec knows"
    return [doc.diagnostic("MS105", f"unknown layer type '{type_name}' in {_kind(path)}", where,
                           hint=hint)]  # fmt: skip


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
        return (f"a size known only when the model runs is null (Keras's None), not {value}; "
                "a known size is at least 1")  # fmt: skip
    if isinstance(value, str) and value.strip().lower() in ("none", "?", "-1"):
        return "write null (YAML's word for None), without quotes"
    return None


def _translate(
    doc: Document, error: ValidationError, prefix: tuple, *, layer_type: str | None = None
) -> list[Diagnostic]:
    path = (*prefix, *error.absolute_path)
    kw = error.validator
    value = error.instance
    where = _kind(path)
    if layer_type and len(path) > len(prefix):
        where = f"`{layer_type}` kwarg `{path[len(prefix)]}`"
    name = path[-1] if path and isinstance(path[-1], str) else None
    if path and isinstance(path[-1], int) and len(path) >= 2:
        name = f"{path[-2]}[{path[-1]}]"

    if kw == "additionalProperties" and isinstance(value, dict):
        allowed = list(error.schema.get("properties", {}))
        extras = [k for k in value if k not in allowed]
        what = _layer_label(path, layer_type) if layer_type and path == prefix else _kind(path)
        if not layer_type and isinstance(value.get("type"), str):
            what = f"`{value['type']}` in {what}"
        out = []
        for key in extras:
            hint = did_you_mean(key, allowed)
            if hint is None and allowed:
                hint = "allowed keys: " + cut_list([f"'{k}'" for k in allowed], 12)
            out.append(doc.diagnostic("MS102", f"unknown key '{key}' in {what}", (*path, key),
                                      hint=hint, key=True))  # fmt: skip
        return out
    if kw == "required":
        missing = [k for k in error.validator_value if isinstance(value, dict) and k not in value]
        what = _layer_label(path, layer_type) if layer_type else _kind(path)
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
        return [doc.diagnostic("MS104", f"{subject} must be {_article(want)}; got {_show(value)} ({_type_name(value)})",
                               path, hint=hint)]  # fmt: skip
    if kw == "const" and path == ("modelspec",) and isinstance(value, str):
        return [doc.diagnostic("MS104", f"`modelspec` must be the number 1; got {_show(value)} (string)",
                               path, hint="write `modelspec: 1`, without quotes")]  # fmt: skip
    if kw == "const" and path == ("modelspec",):
        return [doc.diagnostic("MS105", f"unsupported spec version {_show(value)}; this modelspec reads version 1",
                               path, hint="write `modelspec: 1`")]  # fmt: skip
    if kw == "enum" and name == "type" and error.validator_value == list(LAYER_TYPES):
        return (
            _unknown_type(doc, path[:-1], value)
            if isinstance(value, str)
            else [
                doc.diagnostic("MS104", f"layer `type` must be a string; got {_show(value)}", path)
            ]
        )
    if kw in ("enum", "const"):
        choices = error.validator_value if kw == "enum" else [error.validator_value]
        subject = f"`{name}`" if name else where
        strs = [str(c) for c in choices]
        hint = None
        if name == "dtype" and isinstance(value, str) and choices == list(DTYPES):
            hint = _dtype_hint(value)
        if hint is None and isinstance(value, str):
            hint = did_you_mean(value, strs)
        if hint is None:
            hint = "expected one of " + cut_list([_show(c) for c in choices], 10)
        if name == "type":
            owner = next((p for p in reversed(path[:-1]) if isinstance(p, str)), "")
            kind = {"optimizer": "optimizer ", "loss": "loss ", "callbacks": "callback "}.get(
                owner, "initializer " if owner.endswith("_initializer") else ""
            )
            message = f"unknown {kind}type {_show(value)}"
        else:
            message = f"unknown value {_show(value)} for {subject}"
        return [doc.diagnostic("MS105", message, path, hint=hint)]
    if kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[
            kw
        ]
        subject = f"`{name}`" if name else where
        return [
            doc.diagnostic(
                "MS106", f"{subject} must be {op} {error.validator_value}; got {_show(value)}", path
            )
        ]
    if kw == "minLength" and "propertyNames" in error.schema_path:
        return [doc.diagnostic("MS106", f"a name in {_kind(path) if path else 'the spec'} is empty", path,
                               hint="give it a name")]  # fmt: skip
    if kw in ("minItems", "maxItems", "minProperties", "minLength"):
        subject = f"`{name}`" if name else where
        return [
            doc.diagnostic(
                "MS106",
                f"{subject} {_size_rule(kw, error.validator_value)}; got {_show(value)}",
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
        if inner and isinstance(value, (dict, list)):
            from jsonschema.exceptions import best_match

            return _translate(doc, best_match(inner), prefix, layer_type=layer_type)
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
                    "MS105", f"unknown value {_show(value)} for {subject}", path, hint=hint
                )
            ]
        subject = f"`{name}`" if name else where
        return [doc.diagnostic("MS104", f"{subject} must be {' or '.join(choices)}; got {_show(value)} "
                               f"({_type_name(value)})", path, hint=_size_hint(value, error.schema))]  # fmt: skip
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
        return [_show(schema["const"])]
    if "enum" in schema:
        values = schema["enum"]
        return [
            ("one of " + cut_list([_show(v) for v in values], 6))
            if len(values) > 1
            else _show(values[0])
        ]
    kinds = schema.get("type")
    if kinds is None:
        return ["valid"]
    return [_article(k) for k in (kinds if isinstance(kinds, list) else [kinds])]


def _article(type_name: str) -> str:
    return {"integer": "an integer", "array": "a list", "object": "a mapping", "null": "null",
            "string": "a string", "number": "a number", "boolean": "a boolean"}.get(type_name, type_name)  # fmt: skip


def _size_rule(kw: str, n: int) -> str:
    return {
        "minItems": f"needs at least {n} item{'s' if n != 1 else ''}",
        "maxItems": f"takes at most {n} item{'s' if n != 1 else ''}",
        "minProperties": f"needs at least {n} entr{'ies' if n != 1 else 'y'}",
        "minLength": "must not be empty",
    }[kw]
