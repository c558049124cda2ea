"""The JSON Schema of a spec, generated from the catalogue.

``build_schema()`` is the one source of ``schemas/modelspec.schema.json``
(:mod:`modelspec.schema.editor` adds composition to it); a test fails when the
committed file drifts from it (regenerate with ``modelspec schema -o
schemas/modelspec.schema.json``).

# NOTE: [layer dispatch]
For editors, ``$defs/layer`` picks the sub-schema of a layer by its ``type`` with one
``if``/``then`` per layer type. Validating 10,000 layers that way costs 10,000 x 70
``if`` evaluations, seconds of work. In-process we validate the document against a
variant of the same schema whose ``layer`` only checks ``type`` (``dispatch=False``),
then validate each layer against ``$defs/layer.<Type>`` directly: the same
sub-schemas, dispatched by a dict lookup (:mod:`modelspec.schema.accept`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelspec.catalog import LAYER_TYPES, custom
from modelspec.catalog import training as tc
from modelspec.catalog.base import DTYPES, INITIALIZER_OBJECTS, LAYER_REF, Kwarg
from modelspec.catalog.calls import INPUT_NAMES
from modelspec.catalog.ops import OPS
from modelspec.catalog.precision import POLICIES, QUANTIZE_MODES

NAMED_INPUTS = "#/$defs/named_inputs"
GRAPH_STEP = "#/$defs/graph_step"
SCHEMA_ID = "https://modelspec.dev/schemas/modelspec-1.schema.json"
CUSTOM_NAME = "^[A-Za-z_][A-Za-z0-9_]*$"


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


_OPERANDS = {
    "one": {"$ref": "#/$defs/tensor_ref"},
    "index": {"$ref": "#/$defs/tensor_ref"},
    "list": {"type": "array", "items": {"$ref": "#/$defs/tensor_ref"}, "minItems": 1},
}


def _op_union() -> tuple[dict[str, Any], dict[str, Any]]:
    """``{op: NAME, to: ..., **keywords}`` steps: the dispatching def and one per op."""
    defs = {}
    for name, op in OPS.items():
        if op.operands == "two":
            item = {"$ref": "#/$defs/tensor_ref"}
            if op.numbers:
                item = {"anyOf": [item, {"type": "number"}]}
            to = {"type": "array", "items": item, "minItems": 2, "maxItems": 2,
                  "description": "The two operands, each a tensor or a number."}  # fmt: skip
        else:
            to = dict(_OPERANDS[op.operands])
            to["description"] = (
                "The tensors to join." if op.operands == "list" else "The input tensor."
            )
        defs[f"op.{name}"] = _object(
            op.kwargs,
            extra={"op": {"const": name, "description": op.doc}, "to": to},
            doc=op.doc,
        )
        defs[f"op.{name}"]["required"] = ["op", "to", *defs[f"op.{name}"].get("required", [])]
    union = {
        "type": "object",
        "description": "A step that calls one of the safe `keras.ops` functions.",
        "required": ["op", "to"],
        "properties": {"op": {"enum": list(OPS)}},
        "allOf": [
            {
                "if": {"properties": {"op": {"const": name}}, "required": ["op"]},
                "then": {"$ref": f"#/$defs/op.{name}"},
            }
            for name in OPS
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
        layer_defs[f"layer.{name}"]["properties"]["dtype"] = {
            "enum": list(POLICIES),
            "description": "This layer's dtype policy, instead of the model's `dtype_policy` "
            "(`float32` for a softmax output under mixed precision).",
        }
        layer_defs[f"layer.{name}"]["properties"]["quantize"] = {
            "enum": [*QUANTIZE_MODES, None],
            "description": "Quantize this layer's weights after the model is built "
            "(Keras's `layer.quantize`); null: not this layer, whatever the model's `quantize`.",
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
    op_union, op_defs = _op_union()
    if not dispatch:
        del op_union["allOf"]
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
        "call_arg": {
            "description": "A tensor, a list of tensors (null leaves a mask out), or a constant.",
            "anyOf": [
                {"$ref": "#/$defs/tensor_ref"},
                {
                    "type": "array",
                    "items": {"anyOf": [{"$ref": "#/$defs/tensor_ref"}, {"type": "null"}]},
                    "minItems": 1,
                },
                {"type": "boolean"},
            ],
        },
        "named_inputs": {
            "type": "object",
            "description": "The inputs of an attention layer's call by name, as "
            "`mha(query=q, value=v, key=k)`; `key` is optional.",
            "properties": {
                name: {"$ref": "#/$defs/tensor_ref", "description": description}
                for name, description in INPUT_NAMES.items()
            },
            # Which names a layer takes depends on the layer: lint says (MS310).
            "additionalProperties": {"$ref": "#/$defs/tensor_ref"},
            "minProperties": 1,
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
                    "description": "The input tensor, or a list of them for merges and "
                    "attention, or attention's inputs by name.",
                    "anyOf": [
                        {"$ref": "#/$defs/tensor_ref"},
                        {"type": "array", "items": {"$ref": "#/$defs/tensor_ref"}, "minItems": 1},
                        {"$ref": NAMED_INPUTS},
                    ],
                },
                "call": {
                    "type": "object",
                    "description": "Arguments of the layer's call besides its inputs, as "
                    "`layer(x, initial_state=[h, c], use_causal_mask=True)`: tensors by name, "
                    "or true/false.",
                    "additionalProperties": {"$ref": "#/$defs/call_arg"},
                    "minProperties": 1,
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
            "`--strategy` overrides the strategy.",
            "properties": {
                "strategy": {
                    "enum": list(tc.STRATEGIES),
                    "description": "The strategy, and so the backend it needs. "
                    + " ".join(f"`{name}`: {doc}" for name, doc in tc.STRATEGIES.items()),
                },
                "mesh": {
                    "type": "object",
                    "description": "model_parallel: the device mesh, axis name -> number of "
                    "devices along it, in order (their product is the number of devices).",
                    "propertyNames": {
                        "type": "string",
                        "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
                        "maxLength": 64,
                    },
                    "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 65536},
                    "minProperties": 1,
                    "maxProperties": tc.MAX_MESH_AXES,
                },
                "batch_axis": {
                    "type": "string",
                    "description": "model_parallel: the mesh axis each batch is split over "
                    "(default: the mesh's first axis).",
                },
                "layout": {
                    "type": "object",
                    "description": "model_parallel: how weights are split, as Keras's LayoutMap: "
                    "a regular expression matched against a weight's path (`dense/kernel`, "
                    "`block_attn/query/kernel`) -> one mesh axis or null per dimension. A "
                    "weight that no rule matches is copied on every device.",
                    "propertyNames": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": tc.MAX_RULE_LENGTH,
                    },
                    "additionalProperties": {
                        "type": "array",
                        "items": {"type": ["string", "null"]},
                        "maxItems": 8,
                    },
                    "minProperties": 1,
                    "maxProperties": tc.MAX_LAYOUT_RULES,
                },
            },
            "required": ["strategy"],
            "additionalProperties": False,
        },
        "weights": {
            "description": "Weights to start from, loaded layer by layer by name: a "
            "`.weights.h5`, `.keras` or Keras 2 `.h5` file inside the project, relative to "
            "the spec; "
            "or `{file, map, skip_mismatch}`.",
            "anyOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "minLength": 1,
                            "description": "A `.weights.h5`, `.keras` or Keras 2 `.h5` file "
                            "inside the project, relative to the spec.",
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
    defs["op_step"] = op_union
    defs.update(op_defs)
    defs["graph_step"] = {
        "description": "One tensor of the graph: layers applied to `to`, or an op (`op:`).",
        "if": {"type": "object", "required": ["op"]},
        "then": {"$ref": "#/$defs/op_step"},
        "else": {"$ref": "#/$defs/step"},
    }
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
                "additionalProperties": {"$ref": GRAPH_STEP},
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
            "dtype_policy": {
                "enum": list(POLICIES),
                "description": "The dtype policy of every layer (Keras's "
                "`keras.config.set_dtype_policy`): `mixed_bfloat16` computes in bfloat16 "
                "and keeps float32 weights. Default: float32.",
            },
            "quantize": {
                "enum": list(QUANTIZE_MODES),
                "description": "Quantize the weights of every layer Keras can quantize, "
                "after the model is built (Keras's `model.quantize`).",
            },
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
