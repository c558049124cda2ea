"""A Keras 3 model config (``model.to_json()``, a ``.keras`` archive's ``config.json``)
-> a spec document, as plain data.

The config is read as data and only as data: class names are looked up in the
catalogue, kwargs are compared with the catalogue's defaults, nothing is imported,
deserialized or run. What a spec cannot say is an error naming the layer and the
reason, with the JSON path into the config (``$.config.layers[12]``); every such
error is reported, not only the first.

The model's layers are read by :mod:`.layers`, their calls by :mod:`.calls`, the
graph they make becomes steps in :mod:`.graph` (named by :mod:`.names`), and the
compile config becomes ``compile:`` in :mod:`.training`. A nested model is read here,
as a model of its own, and becomes a block.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.precision import POLICIES
from modelspec.errors import WARNING, Diagnostic, Stop
from modelspec.importer import keras2
from modelspec.importer.context import Context, LayerInfo, Ref
from modelspec.importer.graph import (
    chain_calls,
    order,
    read_functional,
    read_sequential,
    sequential_items,
    write_graph,
)
from modelspec.importer.layers import MODEL_CLASSES, custom_rules
from modelspec.importer.precision import read_precision
from modelspec.importer.training import read_compile
from modelspec.importer.values import policy, read_policy, short


@dataclass(slots=True)
class Converted:
    """The spec document (None when there are errors) and every diagnostic."""

    doc: dict[str, Any] | None
    diagnostics: list[Diagnostic]
    form: str | None = None  # "sequential" or "graph"


def convert(model: Any, file: str = "<config>") -> Converted:
    """The spec document of a parsed Keras model config, and the diagnostics.

    A Keras 2 config is first put in Keras 3's shape (:mod:`.keras2`)."""
    if keras2.is_keras2(model) or keras2.is_keras1(model):
        model, found = keras2.normalise(model, file)
        if model is None:
            return Converted(None, found)
        converted = _convert(Context(model, file, nested=_nested_model))
        converted.diagnostics[:0] = found
        return converted
    return _convert(Context(model, file, nested=_nested_model))


def _convert(ctx: Context) -> Converted:
    model = ctx.model
    if not isinstance(model, Mapping) or not isinstance(model.get("config"), Mapping):
        ctx.error(
            "MS604",
            "the source is not a Keras model config: it needs `class_name` and `config`",
            (),
            "import a .keras archive, or the JSON of model.to_json()",
        )
        return Converted(None, ctx.diagnostics)
    cls = model.get("class_name")
    if not isinstance(cls, str) or cls not in MODEL_CLASSES:
        shown = cls if isinstance(cls, str) else short(cls)
        ctx.error(
            "MS604",
            f"the config is a `{shown}`, not a Functional or Sequential model",
            ("class_name",),
            "subclassed models have no config of their layers' calls; rebuild the model with "
            "the Functional API",
        )
        return Converted(None, ctx.diagnostics)
    config = model["config"]
    name = config.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        ctx.error("MS605", f"the model name {name!r} is not a valid spec name", ("config", "name"))
    if config.get("trainable", True) is not True:
        ctx.error(
            "MS614",
            "the model is frozen (`trainable: false`); a spec freezes layers, not whole models",
            ("config", "trainable"),
            "set trainable: false on its layers instead",
        )
    model_policy = None
    if config.get("dtype") is not None:  # a Sequential's: the policy it gave its layers
        read = read_policy(config["dtype"])
        if read is None or read[0] is not None:
            ctx.error(
                "MS614",
                f"the model has dtype policy {policy(config['dtype'])}, which a spec cannot "
                "write as its `dtype_policy`",
                ("config", "dtype"),
                f"spec dtype policies: {', '.join(POLICIES)}",
            )
        else:
            model_policy = read[1]
    try:
        graph = (
            read_sequential(ctx, config) if cls == "Sequential" else read_functional(ctx, config)
        )
    except Stop:
        graph = None
    if graph is None or ctx.failed:
        return Converted(None, ctx.diagnostics)
    inputs, outputs, layers = graph
    quantize = read_precision(ctx, layers, model_policy)
    if ctx.failed:
        return Converted(None, ctx.diagnostics)
    doc, form = _document(ctx, name, inputs, outputs, layers)
    if ctx.failed:
        return Converted(None, ctx.diagnostics)
    doc = _with_precision(doc, ctx.policy, quantize)
    if ctx.seeded:
        n = ctx.seeded
        ctx.diagnostics.append(
            Diagnostic(
                WARNING,
                "MS620",
                f"{n} initializer seed{'s' * (n != 1)} not carried over: a spec names "
                "initializers, and `seed:` seeds them all",
                None,
                ctx.file,
                1,
                1,
                (),
            )
        )
    return Converted(doc, ctx.diagnostics, form)


def _nested_model(ctx: Context, info: LayerInfo, entry: Mapping[str, Any], path: tuple) -> None:
    """A nested Functional or Sequential model -> a block with ``model:``, whose
    instance keeps the model's name and its layers' names (see the note on nested
    models in :mod:`modelspec.compose.nested`)."""
    cls, name = info.cls, info.name
    sub = Context(
        {"class_name": cls, "config": entry["config"]}, ctx.file, nested=_nested_model, within=True
    )
    converted = _convert(sub)
    for d in converted.diagnostics:
        ctx.diagnostics.append(dataclasses.replace(d, path=(*path, *d.path)))
    ctx.seeded += sub.seeded
    for key, value in sub.custom.items():
        ctx.custom.setdefault(key, value)
    doc = converted.doc
    if doc is None:
        return
    reason = None
    if "blocks" in doc:
        reason = "it holds nested models itself"
    elif doc.get("sequential") is not None:
        items = doc["sequential"]
        (inp,) = doc["inputs"]
        block = {
            "model": True if cls == "Sequential" else "functional",
            "inputs": [inp],
            "outputs": ["out"],
            "graph": {"out": {"apply": items, "to": inp}},
        }
    else:
        outs = [spec["from"] for spec in doc["outputs"].values()]
        if any(o in doc["inputs"] for o in outs):
            reason = "it returns one of its inputs"
        block = {
            "model": "functional",
            "inputs": list(doc["inputs"]),
            "outputs": outs,
            **({"layers": doc["layers"]} if "layers" in doc else {}),  # none: ops only
            "graph": doc["graph"],
        }
    if reason is not None:
        ctx.error(
            "MS613",
            f"layer '{name}' is a nested `{cls}` model that a block cannot hold: {reason}",
            path,
            "rebuild the model with the nested model's layers inline",
        )
        return
    info.kind, info.block = "model", block
    entries = entry["config"].get("layers")
    info.inner = tuple(
        e.get("name", e.get("config", {}).get("name", ""))
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, Mapping) and e.get("class_name") != "InputLayer"
    )
    ctx.check_name(name, "model", (*path, "name"))


def _with_precision(doc: dict[str, Any], model_policy: str, quantize: str | None) -> dict[str, Any]:
    """``doc`` with ``dtype_policy:`` and ``quantize:`` after its name, where not the defaults."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        out[key] = value
        if key == "name":
            if model_policy != "float32":
                out["dtype_policy"] = model_policy
            if quantize is not None:
                out["quantize"] = quantize
    return out


def _document(
    ctx: Context,
    name: Any,
    inputs: list[LayerInfo],
    outputs: list[tuple[str, Ref]],
    layers: Mapping[str, LayerInfo],
) -> tuple[dict[str, Any] | None, str | None]:
    """The spec document of a model's graph, and its form: "sequential" or "graph"."""
    calls = order(ctx, layers, outputs)
    if ctx.failed:
        return None, None
    for info in layers.values():
        lt = LAYER_TYPES.get(info.type or "")
        if lt is not None and lt.from_call is not None and info.nodes:
            lt.from_call(info.kwargs, info.nodes[0].shapes)
    chains, multi, models = chain_calls(calls, outputs)
    called = Counter(n.layer.name for n in calls)
    sequential = (
        len(inputs) == 1
        and len(outputs) == 1
        and len(chains) == 1
        and all(count == 1 for count in called.values())
        and chains[0][0].inputs == [(inputs[0].name, 0, 0)]
        and not chains[0][0].kwargs
        and all(n.layer.kind != "opstep" for n in chains[0])
        and outputs[0][1] == (chains[0][-1].layer.name, chains[0][-1].index, 0)
        and (chains[0][-1].layer.name, chains[0][-1].index) not in multi
        and not models
    )
    input_names = {i.name for i in inputs}
    doc: dict[str, Any] = {"modelspec": 1, "name": name}
    doc["inputs"] = {i.name: i.input for i in inputs}
    if ctx.custom:
        custom_rules(ctx, layers)
        doc["custom"] = ctx.custom
    out_specs, compile_spec = read_compile(ctx, [n for n, _ in outputs])
    if sequential:
        doc["sequential"] = sequential_items(chains[0], input_names)
        out_name = outputs[0][0]
        ctx.check_name(out_name, "output", ("config", "output_layers"))
        if out_specs.get(out_name):
            doc["outputs"] = {out_name: out_specs[out_name]}
        form = "sequential"
    else:
        write_graph(ctx, doc, chains, outputs, input_names, multi, out_specs)
        form = "graph"
    if compile_spec is not None:
        doc["compile"] = compile_spec
    return doc, form
