"""A Keras 3 model config (``model.to_json()``, a ``.keras`` archive's ``config.json``)
-> a spec document, as plain data.

The config is read as data and only as data: class names are looked up in the
catalogue, kwargs are compared with the catalogue's defaults, nothing is imported,
deserialized or run. What a spec cannot say is an error naming the layer and the
reason, with the JSON path into the config (``$.config.layers[12]``); every such
error is reported, not only the first.

# NOTE: [nodes and steps]
Keras keeps a layer apart from its calls: each layer in ``config.layers`` lists its
calls as ``inbound_nodes``, and a call's inputs are tensors named
``[layer, node index, tensor index]`` (``keras_history``). A spec writes the same
thing as ``layers:`` (definitions) and ``graph:`` (steps, each a chain of calls).
The calls are put in a stable topological order, then grouped into chains: a call
joins the chain of the call before it when it reads that call's one output tensor,
and nothing else reads that tensor. A step is named after the last layer of its
chain (``conv1_relu``), or ``<layer>_<k>`` for the k-th call of a shared layer. A
graph that is one chain from the one input to the one output is written as
``sequential:``.

# NOTE: [masks]
A layer called on a masked tensor (after ``Embedding(mask_zero=True)`` or
``Masking``) gets the mask as a ``mask=`` call argument, and Keras records how the
mask was computed as ``keras.ops`` calls (``NotEqual``, ``Any``, ...). A spec
propagates masks the same way Keras does, so these calls and arguments are left
out. A ``keras.ops`` call whose result reaches anything but a ``mask=`` argument is
the model's own computation, and an error (MS612).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog import training as tc
from modelspec.catalog.base import (
    ACTIVATION,
    BASE_LAYER_DEFAULTS,
    CONSTRAINT,
    DTYPES,
    IGNORED_CALL_KWARGS,
    IGNORED_KWARGS,
    INITIALIZER,
    REGULARIZER,
    TUPLE_KWARGS,
    Kwarg,
    LayerType,
    collapse,
)
from modelspec.catalog.custom import CLASS_PATH
from modelspec.errors import ERROR, WARNING, Diagnostic, Stop, did_you_mean
from modelspec.importer import values as vals
from modelspec.ir import MAX_NAME, NAME
from modelspec.lower.parse import to_snake_case
from modelspec.passes.graph import stable_order

Ref = tuple[str, int, int]  # keras_history: layer name, node index, tensor index

MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})
LAYER_MODULES = ("keras.layers", "keras.src.layers")
OP_MODULES = ("keras.ops", "keras.src.ops")
OP_CLASSES = frozenset({"TFOpLambda", "SlicingOpLambda"})  # Keras 2's recorded ops


@dataclass(slots=True)
class Node:
    """One call of a layer: its inputs (tensors), how they are passed, and its masks."""

    layer: LayerInfo
    index: int
    inputs: list[Ref]
    shapes: list[Any]  # the input shapes Keras recorded, batch axis first
    masks: list[Ref]
    path: tuple


@dataclass(slots=True)
class LayerInfo:
    """One entry of ``config.layers``: what it is, and (for layers) its spec kwargs."""

    position: int
    name: str
    cls: str
    kind: str  # "input", "layer", "model", "op" or "bad" (reported, kept for the graph)
    path: tuple
    type: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    input: dict[str, Any] | None = None
    nodes: list[Node] = field(default_factory=list)
    block: dict[str, Any] | None = None  # a nested model, as a block definition
    inner: tuple[str, ...] = ()  # a nested model's layer names


@dataclass(slots=True)
class Converted:
    """The spec document (None when there are errors) and every diagnostic."""

    doc: dict[str, Any] | None
    diagnostics: list[Diagnostic]
    form: str | None = None  # "sequential" or "graph"


def _layer_word(info: LayerInfo) -> str:
    return f"layer '{info.name}' (`{info.cls}`)"


def _is_tensor(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("class_name") == "__keras_tensor__"


def _history(value: Any) -> Ref | None:
    config = value.get("config") if isinstance(value, Mapping) else None
    hist = config.get("keras_history") if isinstance(config, Mapping) else None
    if (
        isinstance(hist, list)
        and len(hist) == 3
        and isinstance(hist[0], str)
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in hist[1:])
    ):
        return (hist[0], hist[1], hist[2])
    return None


def _shape_of(value: Any) -> tuple | None:
    config = value.get("config") if isinstance(value, Mapping) else None
    shape = config.get("shape") if isinstance(config, Mapping) else None
    if isinstance(shape, list) and all(d is None or isinstance(d, int) for d in shape):
        return tuple(shape)
    return None


def _tensors_in(value: Any) -> list[Any]:
    """Every serialized tensor inside ``value`` (args of a ``keras.ops`` call)."""
    out, stack = [], [value]
    while stack:
        item = stack.pop()
        if _is_tensor(item):
            out.append(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


# NOTE: [ops as layers]
# Keras records an arithmetic operator on tensors (``x + 3.0``, ``y * (1 / 6)`` in
# MobileNetV3's hard sigmoid) as a ``keras.ops`` call. Where a catalogue layer computes
# the same float32 values bit for bit, the call is written as that layer, named as
# Keras named the op: a tensor and a number become ``Rescaling`` (``x * scale +
# offset``: ``x * 1.0 + c`` is ``x + c``, ``x * c + 0.0`` is ``x * c``, ``x * -1.0 + c``
# is ``c - x``; a division only by a power of two, whose inverse is exact), two
# tensors of one shape become ``Add``, ``Subtract`` or ``Multiply``. Any other op stays
# MS612.
_OP_MERGES = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply"}


def _float32_tensor(value: Any) -> bool:
    config = value.get("config") if _is_tensor(value) else None
    return isinstance(config, Mapping) and config.get("dtype") == "float32"


def _number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) < 1e300
    )


def _op_as_layer(cls: str, args: list, kwargs: Mapping[str, Any]) -> tuple[str, dict, list] | None:
    """``(type, kwargs, args)`` of the catalogue layer that computes the op, or None."""
    if kwargs or len(args) != 2:
        return None
    a, b = args
    if _float32_tensor(a) and _float32_tensor(b):
        shape = _shape_of(a)
        if cls in _OP_MERGES and shape is not None and shape == _shape_of(b):
            return _OP_MERGES[cls], {}, [[a, b]]
        return None
    if _float32_tensor(a) and _number(b):
        tensor, c, tensor_first = a, float(b), True
    elif _number(a) and _float32_tensor(b):
        tensor, c, tensor_first = b, float(a), False
    else:
        return None
    if cls == "Add":
        scale, offset = 1.0, c
    elif cls == "Multiply":
        scale, offset = c, 0.0
    elif cls == "Subtract":
        scale, offset = (1.0, -c) if tensor_first else (-1.0, c)
    elif (
        cls in ("Divide", "TrueDivide") and tensor_first and c != 0 and abs(math.frexp(c)[0]) == 0.5
    ):
        scale, offset = 1.0 / c, 0.0
    else:
        return None
    kw: dict[str, Any] = {"scale": scale}
    if offset != 0.0:
        kw["offset"] = offset
    return "Rescaling", kw, [tensor]


def _values(value: Any) -> list[Any]:
    """``value`` and every item of the lists in it."""
    out, stack = [], [value]
    while stack:
        item = stack.pop()
        out.append(item)
        if isinstance(item, list):
            stack.extend(item)
    return out


def _policy(dtype: Any) -> str:
    """A layer's dtype (a name, or a DTypePolicy) for a message: ``'mixed_float16'``."""
    config = dtype.get("config") if isinstance(dtype, Mapping) else None
    if isinstance(config, Mapping) and isinstance(config.get("name"), str):
        return _short(config["name"])
    return _short(dtype)


def _is_float32(dtype: Any) -> bool:
    if dtype is None or dtype == "float32":
        return True
    return (
        isinstance(dtype, Mapping)
        and dtype.get("class_name") == "DTypePolicy"
        and isinstance(dtype.get("config"), Mapping)
        and dtype["config"].get("name") == "float32"
    )


def _same(kwarg: Kwarg, value: Any) -> bool:
    """Whether ``value`` means the kwarg's default (as Keras reads both)."""
    if kwarg.required:
        return False
    default = kwarg.default
    if kwarg.schema is INITIALIZER and isinstance(value, str) and isinstance(default, str):
        cls = vals.initializer_class(value)
        return cls is not None and cls == vals.initializer_class(default)
    if kwarg.schema is ACTIVATION and {value, default} <= {None, "linear"}:
        return True
    if kwarg.name in TUPLE_KWARGS:
        return collapse(value) == collapse(default)
    if isinstance(default, int) and isinstance(value, list) and value:
        return all(v == default for v in value)
    if isinstance(value, list) and isinstance(default, list):
        return len(value) == len(default) and all(
            vals.same_number(a, b) for a, b in zip(value, default)
        )
    return vals.same_number(value, default)


class _Converter:
    def __init__(self, model: Any, file: str):
        self.model = model
        self.file = file
        self.diagnostics: list[Diagnostic] = []
        self.seeded = 0  # initializers whose seed a spec cannot carry
        self.custom: dict[str, dict[str, Any]] = {}  # the spec's `custom:`, by type name

    # --- diagnostics ------------------------------------------------------------------

    def error(self, code: str, message: str, path: tuple = (), hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(ERROR, code, message, hint, self.file, 1, 1, path))

    @property
    def failed(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def check_name(self, name: str, what: str, path: tuple) -> None:
        if not NAME.match(name) or len(name) > MAX_NAME:
            shown = name if len(name) <= 60 else name[:57] + "..."
            self.error("MS605", f"{what} name {shown!r} is not a valid spec name", path,
                       "spec names use letters, digits, '_', '.' and '-', start with a letter, "
                       f"a digit or '_', and have at most {MAX_NAME} characters; rename it in "
                       "Keras and save again")  # fmt: skip

    # --- the whole model --------------------------------------------------------------

    def convert(self) -> Converted:
        model = self.model
        if not isinstance(model, Mapping) or not isinstance(model.get("config"), Mapping):
            self.error("MS604", "the source is not a Keras model config: it needs "
                       "`class_name` and `config`", (),
                       "import a .keras archive, or the JSON of model.to_json()")  # fmt: skip
            return Converted(None, self.diagnostics)
        cls = model.get("class_name")
        if "keras_version" in model and str(model.get("keras_version", "")).startswith("2."):
            self.error("MS604", f"the config was written by Keras {model['keras_version']}; "
                       "modelspec imports the Keras 3 format", ("keras_version",),
                       "load the model with Keras 3 and save it again")  # fmt: skip
            return Converted(None, self.diagnostics)
        if not isinstance(cls, str) or cls not in MODEL_CLASSES:
            shown = cls if isinstance(cls, str) else _short(cls)
            self.error("MS604", f"the config is a `{shown}`, not a Functional or Sequential "
                       "model", ("class_name",),
                       "subclassed models have no config of their layers' calls; rebuild "
                       "the model with the Functional API")  # fmt: skip
            return Converted(None, self.diagnostics)
        config = model["config"]
        name = config.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            self.error("MS605", f"the model name {name!r} is not a valid spec name",
                       ("config", "name"))  # fmt: skip
        if config.get("trainable", True) is not True:
            self.error("MS614", "the model is frozen (`trainable: false`); a spec freezes "
                       "layers, not whole models", ("config", "trainable"),
                       "set trainable: false on its layers instead")  # fmt: skip
        if not _is_float32(config.get("dtype")):
            self.error("MS614", "the model has a dtype policy other than float32; a spec "
                       "builds every layer in float32", ("config", "dtype"))  # fmt: skip
        try:
            graph = self.sequential(config) if cls == "Sequential" else self.functional(config)
        except Stop:
            graph = None
        if graph is None or self.failed:
            return Converted(None, self.diagnostics)
        inputs, outputs, layers = graph
        doc, form = self.document(name, inputs, outputs, layers)
        if self.failed:
            return Converted(None, self.diagnostics)
        if self.seeded:
            n = self.seeded
            self.diagnostics.append(Diagnostic(
                WARNING, "MS620",
                f"{n} initializer seed{'s' * (n != 1)} not carried over: a spec names "
                "initializers, and `seed:` seeds them all", None, self.file, 1, 1, (),
            ))  # fmt: skip
        return Converted(doc, self.diagnostics, form)

    # --- layers -----------------------------------------------------------------------

    def layer_info(self, entry: Any, position: int, path: tuple) -> LayerInfo | None:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("config"), Mapping):
            self.error("MS604", "a layer entry needs `class_name` and `config`", path)
            return None
        cls = entry.get("class_name")
        config = entry["config"]
        name = entry.get("name", config.get("name"))
        if not isinstance(cls, str) or not isinstance(name, str):
            self.error("MS604", "a layer entry needs a `class_name` and a `name`", path)
            return None
        module = entry.get("module") or ""
        registered = entry.get("registered_name")
        info = LayerInfo(position, name, cls, "bad", path)
        if not isinstance(module, str) or not isinstance(registered, (str, type(None))):
            key = "module" if not isinstance(module, str) else "registered_name"
            self.error("MS604", f"layer '{name}' has a `{key}` that is not a string: "
                       f"{_short(entry[key])}", (*path, key))  # fmt: skip
            return info  # kept as "bad": its calls are not reported again
        if cls == "InputLayer" and module.startswith(LAYER_MODULES):
            info.kind = "input"
            info.input = self.input_spec(info, config, path)
        elif module.startswith(OP_MODULES) or cls in OP_CLASSES:
            info.kind = "op"
        elif (
            cls in MODEL_CLASSES
            or module.startswith(("keras.src.models", "keras.models"))
            or (module == "keras" and cls in MODEL_CLASSES)
        ):
            self.nested_model(info, entry, path)
        elif cls == "Lambda":
            code = isinstance(config.get("function"), Mapping)
            what = "Python bytecode" if code else "a Python function"
            self.error("MS611", f"layer '{name}' is a `Lambda` holding {what}; a spec holds "
                       "data, and modelspec never loads or runs code from a model", path,
                       "replace the Lambda by catalogue layers (Activation, Rescaling, "
                       "Reshape, a merge layer, ...)")  # fmt: skip
        elif cls in LAYER_TYPES and module.startswith(LAYER_MODULES) and registered in (None, cls):
            info.kind = "layer"
            info.type = cls
            info.kwargs = self.kwargs(
                LAYER_TYPES[cls], config, (*path, "config"), _layer_word(info)
            )
        elif (
            module and not module.startswith(LAYER_MODULES) and CLASS_PATH.match(f"{module}.{cls}")
        ):
            self.custom_layer(info, module, config, path)
        else:
            where = f" from {module}" if module and not module.startswith(LAYER_MODULES) else ""
            if module.startswith(LAYER_MODULES):
                reason = "a Keras layer that is not in modelspec's catalogue"
                hint = did_you_mean(cls, LAYER_TYPES) or "`modelspec schema` lists the layer types"
            else:
                reason = "a custom layer class"
                hint = "custom layers cannot be imported yet; rebuild it from catalogue layers"
            self.error("MS610", f"layer '{name}' is `{cls}`{where}: {reason}", path, hint)
        if info.kind in ("input", "layer"):
            self.check_name(name, "layer", (*path, "name"))
        return info

    def nested_model(self, info: LayerInfo, entry: Mapping[str, Any], path: tuple) -> None:
        """A nested Functional or Sequential model -> a block with ``model:``, whose
        instance keeps the model's name and its layers' names (see the note on nested
        models in :mod:`modelspec.compose.nested`)."""
        cls, name = info.cls, info.name
        sub = _Converter({"class_name": cls, "config": entry["config"]}, self.file)
        converted = sub.convert()
        for d in converted.diagnostics:
            self.diagnostics.append(dataclasses.replace(d, path=(*path, *d.path)))
        self.seeded += sub.seeded
        for key, value in getattr(sub, "custom", {}).items():
            if hasattr(self, "custom"):
                self.custom.setdefault(key, value)
        doc = converted.doc
        if doc is None:
            return
        reason = None
        if "blocks" in doc:
            reason = "it holds nested models itself"
        elif doc.get("sequential") is not None:
            items = doc["sequential"]
            (inp,) = doc["inputs"]
            block = {"model": True if cls == "Sequential" else "functional", "inputs": [inp], "outputs": ["out"],
                     "graph": {"out": {"apply": items, "to": inp}}}  # fmt: skip
        else:
            outs = [spec["from"] for spec in doc["outputs"].values()]
            if any(o in doc["inputs"] for o in outs):
                reason = "it returns one of its inputs"
            block = {"model": "functional", "inputs": list(doc["inputs"]), "outputs": outs,
                     "layers": doc["layers"], "graph": doc["graph"]}  # fmt: skip
        if reason is not None:
            self.error("MS613", f"layer '{name}' is a nested `{cls}` model that a block cannot "
                       f"hold: {reason}", path,
                       "rebuild the model with the nested model's layers inline")  # fmt: skip
            return
        info.kind, info.block = "model", block
        entries = entry["config"].get("layers")
        info.inner = tuple(
            e.get("name", e.get("config", {}).get("name", ""))
            for e in (entries if isinstance(entries, list) else [])
            if isinstance(e, Mapping) and e.get("class_name") != "InputLayer"
        )
        self.check_name(name, "model", (*path, "name"))

    def custom_layer(
        self, info: LayerInfo, module: str, config: Mapping[str, Any], path: tuple
    ) -> None:
        """A layer class outside Keras, named by its path under ``custom:`` (see
        :mod:`modelspec.catalog.custom`); nothing is imported. Its kwargs are its config's plain
        values; ``inputs:`` and ``shape:`` are filled in by :meth:`custom_rules`."""
        cls_path = f"{module}.{info.cls}"
        name = next(n for k in range(1, 1000)
                    if (n := info.cls if k == 1 else f"{info.cls}_{k}") not in LAYER_TYPES
                    and self.custom.get(n, {}).get("class", cls_path) == cls_path)  # fmt: skip
        self.custom.setdefault(name, {"class": cls_path})
        info.kind, info.type = "layer", name
        who = _layer_word(info)
        for key, value in config.items():
            if key in ("name", "build_config") or BASE_LAYER_DEFAULTS.get(key, _SKIP) == value:
                continue
            if key == "dtype":
                if not _is_float32(value):
                    self.error("MS614", f"{who} computes in {_short(value)}; a spec builds every "
                               "layer in float32", (*path, "config", key))  # fmt: skip
                continue
            if _tensors_in(value) or any(isinstance(v, Mapping) for v in _values(value)):
                self.error("MS630", f"{who} has `{key}: {_short(value)}`; a custom layer's "
                           "kwargs in a spec are plain values (numbers, strings, booleans, "
                           "lists)", (*path, "config", key))  # fmt: skip
                continue
            info.kwargs[key] = value

    def custom_rules(self, layers: Mapping[str, LayerInfo]) -> None:
        """Each custom type's ``inputs:`` from its calls, and ``shape: same`` where every
        call's output, as its readers recorded it, has its first input's shape."""
        recorded: dict[Ref, Any] = {}
        for info in layers.values():
            for node in info.nodes:
                for ref, shape in zip(node.inputs, node.shapes):
                    if shape is not None:
                        recorded[ref] = shape
        for type_name, entry in self.custom.items():
            infos = [i for i in layers.values() if i.type == type_name and i.nodes]
            counts = {len(n.inputs) for i in infos for n in i.nodes}
            if len(counts) > 1:
                self.error("MS631", f"the layers of custom class `{entry['class']}` are called "
                           f"with {' and '.join(map(str, sorted(counts)))} tensors; a custom type "
                           "takes one number of inputs", infos[0].path)  # fmt: skip
                continue
            if counts and counts != {1}:
                entry["inputs"] = counts.pop()
            pairs = [(n.shapes[0] if n.shapes else None, recorded.get((i.name, n.index, 0)))
                     for i in infos for n in i.nodes]  # fmt: skip
            known = [(a, b) for a, b in pairs if a is not None and b is not None]
            if known and all(a == b for a, b in known):
                entry["shape"] = "same"

    def input_spec(self, info: LayerInfo, config: Mapping[str, Any], path: tuple) -> dict | None:
        cpath = (*path, "config")
        shape = config.get("batch_shape", config.get("batch_input_shape"))
        if not isinstance(shape, list) or not shape:
            self.error("MS604", f"input '{info.name}' has no `batch_shape`", cpath)
            return None
        spec: dict[str, Any] = {}
        if shape[0] is not None:
            self.error("MS616", f"input '{info.name}' has a fixed batch size {shape[0]}; a "
                       "spec's input shape leaves out the batch axis",
                       (*cpath, "batch_shape"), "use keras.Input(shape=...) without batch_size")  # fmt: skip
        dims = shape[1:]
        if not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 1)
                   for d in dims):  # fmt: skip
            self.error("MS616", f"input '{info.name}' has shape {dims!r}; sizes are "
                       "positive ints or null", (*cpath, "batch_shape"))  # fmt: skip
        spec["shape"] = list(dims)
        dtype = config.get("dtype", "float32")
        if isinstance(dtype, Mapping):  # a DTypePolicy
            dtype = (
                dtype.get("config", {}).get("name")
                if isinstance(dtype.get("config"), Mapping)
                else None
            )
        if dtype not in DTYPES:
            self.error("MS616", f"input '{info.name}' has dtype {dtype!r}, which a spec "
                       "input cannot have", (*cpath, "dtype"), f"spec dtypes: {', '.join(DTYPES)}")  # fmt: skip
        elif dtype != "float32":
            spec["dtype"] = dtype
        for flag in ("sparse", "ragged", "optional"):
            if config.get(flag):
                self.error("MS616", f"input '{info.name}' is {flag}; spec inputs are dense "
                           "and always given", (*cpath, flag))  # fmt: skip
        return spec

    def kwargs(self, lt: LayerType, config: Mapping[str, Any], path: tuple, who: str,
               *, wrapped: str | None = None) -> dict[str, Any]:  # fmt: skip
        """The spec kwargs of a layer: catalogue kwargs that differ from their defaults."""
        out: dict[str, Any] = {}
        for key, value in config.items():
            kpath = (*path, key)
            if key == "name":
                continue
            if key == "dtype":
                if not _is_float32(value):
                    self.error("MS614", f"{who} computes in {_policy(value)}; a spec builds "
                               "every layer in float32", kpath)  # fmt: skip
                continue
            kwarg = lt.kwarg_map.get(key)
            if kwarg is None:
                if key == "trainable" and value is True:
                    continue
                if key in IGNORED_KWARGS and (
                    value == IGNORED_KWARGS[key] or (key == "zero_output_for_mask" and wrapped)
                ):
                    continue
                hint = did_you_mean(key, lt.kwarg_map)
                self.error("MS614", f"{who} sets `{key}: {_short(value)}`, which the "
                           f"catalogue's `{lt.name}` does not know", kpath,
                           hint or f"`{lt.name}` takes: {', '.join(lt.kwarg_map)}")  # fmt: skip
                continue
            converted = self.kwarg_value(lt, kwarg, value, kpath, who)
            if converted is _SKIP or _same(kwarg, converted):
                continue
            out[key] = converted
        self.normalize(lt, out)
        return out

    def kwarg_value(self, lt: LayerType, kwarg: Kwarg, value: Any, path: tuple, who: str) -> Any:
        kinds = {id(INITIALIZER): "initializer", id(REGULARIZER): "regularizer",
                 id(CONSTRAINT): "constraint"}  # fmt: skip
        kind = kinds.get(id(kwarg.schema))
        if kind is not None:
            config = value.get("config") if isinstance(value, Mapping) else None
            if (
                kind == "initializer"
                and isinstance(config, Mapping)
                and config.get("seed") is not None
            ):
                self.seeded += 1
            named = vals.by_name(kind, value)
            if isinstance(named, vals.NotByName):
                self.error("MS614", f"{who} has {kwarg.name} {named.shown}, which a spec "
                           f"cannot write: {named.reason}", path,
                           f"spec {kind}s are names with Keras's default arguments, such as "
                           f"{_examples(kind)}")  # fmt: skip
                return _SKIP
            return named
        if kwarg.schema is ACTIVATION:
            named = vals.activation(value)
            if isinstance(named, vals.NotByName):
                self.error("MS614", f"{who} has {kwarg.name} {named.shown}: {named.reason}",
                           path, "spec activations are names, such as relu or gelu")  # fmt: skip
                return _SKIP
            return named
        if kwarg.name in lt.nested:
            if value is None:
                return None
            return self.nested(lt, kwarg.name, value, path, who)
        if kwarg.name in TUPLE_KWARGS:
            return collapse(value)
        return value

    def nested(self, lt: LayerType, key: str, value: Any, path: tuple, who: str) -> Any:
        """A wrapper's inner layer as a spec layer dict, ``name`` kept."""
        if not isinstance(value, Mapping) or not isinstance(value.get("config"), Mapping):
            self.error("MS604", f"{who} has a `{key}` that is not a serialized layer", path)
            return _SKIP
        cls = value.get("class_name")
        module = value.get("module") or ""
        inner = LAYER_TYPES.get(cls) if isinstance(cls, str) else None
        if inner is None or not isinstance(module, str) or not module.startswith(LAYER_MODULES):
            shown = cls if isinstance(cls, str) else _short(cls)
            self.error("MS610", f"{who} wraps `{shown}`, which is not in modelspec's "
                       "catalogue", path)  # fmt: skip
            return _SKIP
        config = value["config"]
        name = config.get("name")
        inner_who = f"the `{key}` of {who}"
        kwargs = self.kwargs(inner, config, (*path, "config"), inner_who, wrapped=lt.name)
        out: dict[str, Any] = {"type": cls, **kwargs}
        if isinstance(name, str):
            if lt.name == "Bidirectional" and key == "layer":
                # Keras names its forward copy `forward_<name>`, and strips the prefix
                # again when it makes one from a config.
                name = name.removeprefix("forward_")
            self.check_name(name, "layer", (*path, "config", "name"))
            out["name"] = name
        return out

    def normalize(self, lt: LayerType, kw: dict[str, Any]) -> None:
        """Drop what Keras writes out but a person leaves to the default."""
        if kw.get("data_format") == "channels_last" and "data_format" in lt.kwarg_map:
            # Keras writes the resolved image_data_format; the catalogue reads null as this.
            del kw["data_format"]
        if lt.from_config is not None:
            lt.from_config(kw)

    # --- calls ------------------------------------------------------------------------

    def nodes(self, info: LayerInfo, entry: Mapping[str, Any], path: tuple) -> None:
        raw = entry.get("inbound_nodes", [])
        if not isinstance(raw, list):
            self.error("MS604", f"layer '{info.name}' has `inbound_nodes` that is not a list", path)
            return
        for k, node in enumerate(raw):
            npath = (*path, "inbound_nodes", k)
            if isinstance(node, list):
                self.error("MS604", "the config is in the Keras 2 format (inbound nodes as "
                           "lists); modelspec imports the Keras 3 format", npath,
                           "load the model with Keras 3 and save it again")  # fmt: skip
                raise Stop
            if not isinstance(node, Mapping):
                self.error("MS604", f"a call of layer '{info.name}' is not a mapping", npath)
                continue
            args = node.get("args", [])
            kwargs = node.get("kwargs", {})
            if not isinstance(args, list) or not isinstance(kwargs, Mapping):
                self.error(
                    "MS604", f"a call of layer '{info.name}' needs `args` and `kwargs`", npath
                )
                continue
            if info.kind == "op":
                layer = _op_as_layer(info.cls, args, kwargs) if len(raw) == 1 else None
                if layer is None:
                    tensors = _tensors_in([args, dict(kwargs)])
                    refs = [r for r in (_history(t) for t in tensors) if r is not None]
                    info.nodes.append(Node(info, k, refs, [], [], npath))
                    continue
                # An op a catalogue layer computes exactly: that layer, under the op's name.
                info.kind, info.type, info.kwargs, args, kwargs = "layer", *layer, {}
                self.check_name(info.name, "layer", (*path, "name"))
            info.nodes.append(self.call(info, args, kwargs, k, npath))

    def call(self, info: LayerInfo, args: list, kwargs: Mapping[str, Any], k: int,
             path: tuple) -> Node:  # fmt: skip
        """One call of a layer: its tensors, in the order the spec's ``to:`` lists them."""
        lt = LAYER_TYPES.get(info.type) if info.type else None
        who = f"call {k} of {_layer_word(info)}"
        tensors: list[Any] = []
        extra = False
        if lt is not None and lt.call == "positional":
            tensors = list(args)
            for key in ("query", "value", "key"):
                if kwargs.get(key) is not None:
                    tensors.append(kwargs[key])
        elif len(args) == 1 and isinstance(args[0], list):
            tensors = list(args[0])
        elif args:
            tensors, extra = [args[0]], len(args) > 1
        masks: list[Ref] = []
        for key, value in kwargs.items():
            if lt is not None and lt.call == "positional" and key in ("query", "value", "key"):
                continue
            if key == "mask":
                for m in value if isinstance(value, list) else [value]:
                    if m is None:
                        continue
                    ref = _history(m) if _is_tensor(m) else None
                    if ref is None:
                        self.error(
                            "MS615", f"{who} passes mask={_short(m)}", (*path, "kwargs", key)
                        )
                    else:
                        masks.append(ref)
                continue
            if value is None or value in IGNORED_CALL_KWARGS.get(key, ()):
                continue
            self.error("MS615", f"{who} passes `{key}={_short(value)}`, which a spec cannot "
                       "express", (*path, "kwargs", key),
                       "a spec calls layers on tensors only, with Keras's default arguments")  # fmt: skip
        if extra:
            self.error("MS615", f"{who} passes {len(args)} positional arguments; a spec "
                       "passes one tensor (or a list of them)", (*path, "args"))  # fmt: skip
        refs: list[Ref] = []
        shapes: list[Any] = []
        for t in tensors:
            ref = _history(t) if _is_tensor(t) else None
            if ref is None:
                self.error("MS615", f"{who} passes {_short(t)} where a spec passes a tensor",
                           (*path, "args"))  # fmt: skip
                continue
            refs.append(ref)
            shapes.append(_shape_of(t))
        if not refs and not self.failed:
            self.error("MS604", f"{who} has no input tensor", path)
        return Node(info, k, refs, shapes, masks, path)

    # --- the two model classes --------------------------------------------------------

    def functional(self, config: Mapping[str, Any]):
        entries = config.get("layers")
        if not isinstance(entries, list):
            self.error("MS604", "the model config has no `layers` list", ("config",))
            return None
        layers: dict[str, LayerInfo] = {}
        for i, entry in enumerate(entries):
            path = ("config", "layers", i)
            info = self.layer_info(entry, i, path)
            if info is None:
                continue
            if info.name in layers:
                self.error("MS604", f"two layers are named '{info.name}'", (*path, "name"))
                continue
            layers[info.name] = info
            self.nodes(info, entry, path)
        inputs = self.endpoints(config.get("input_layers"), "input_layers", layers)
        outputs = self.endpoints(config.get("output_layers"), "output_layers", layers)
        if inputs is None or outputs is None:
            return None
        for name, ref in inputs:
            info = layers.get(ref[0])
            if info is None or info.kind != "input":
                self.error(
                    "MS604",
                    f"model input '{name}' is not an InputLayer",
                    ("config", "input_layers"),
                )
        # Keras writes a nested Functional model's calls in `output_layers` counting the
        # node it made for itself when it was built, which its `inbound_nodes` leave out.
        outputs = [(n, (r[0], r[1] - 1, r[2])) if r[0] in layers and layers[r[0]].kind == "model"
                   and layers[r[0]].cls != "Sequential" and r[1] >= 1 else (n, r)
                   for n, r in outputs]  # fmt: skip
        self.check_refs(layers, outputs, {ref[0] for _, ref in inputs})
        if self.failed:
            return None
        self.drop_mask_ops(layers, outputs)
        if self.failed:
            return None
        return [layers[ref[0]] for _, ref in inputs], outputs, layers

    def sequential(self, config: Mapping[str, Any]):
        entries = config.get("layers")
        if not isinstance(entries, list) or not entries:
            self.error("MS604", "the Sequential config has no `layers`", ("config",))
            return None
        layers: dict[str, LayerInfo] = {}
        infos: list[LayerInfo] = []
        for i, entry in enumerate(entries):
            path = ("config", "layers", i)
            info = self.layer_info(entry, i, path)
            if info is None:
                continue
            if info.name in layers:
                self.error("MS604", f"two layers are named '{info.name}'", (*path, "name"))
                continue
            if info.kind == "input" and i != 0:
                self.error("MS604", f"input layer '{info.name}' is not the first layer", path)
            layers[info.name] = info
            infos.append(info)
        if self.failed:
            return None
        if infos and infos[0].kind == "input":
            source = infos.pop(0)
        else:
            shape = config.get("build_input_shape")
            if not isinstance(shape, list):
                first = entries[0] if isinstance(entries[0], Mapping) else {}
                build = first.get("build_config")
                shape = build.get("input_shape") if isinstance(build, Mapping) else None
            if not isinstance(shape, list) or not shape:
                self.error("MS604", "the Sequential model was never built, so its input shape "
                           "is unknown", ("config",),
                           "start it with keras.Input(shape=...) and save it again")  # fmt: skip
                return None
            name = "input_layer"
            while name in layers:
                name += "_"
            source = LayerInfo(-1, name, "InputLayer", "input", ("config",))
            source.input = self.input_spec(
                source, {"batch_shape": shape}, ("config", "build_input_shape")
            )
            layers[name] = source
        previous: Ref = (source.name, 0, 0)
        for info in infos:
            if info.kind == "op":
                self.error("MS612", f"'{info.name}' is a call of keras.ops `{info.cls}`, which "
                           "a spec cannot express", info.path)  # fmt: skip
                continue
            info.nodes.append(Node(info, 0, [previous], [], [], info.path))
            previous = (info.name, 0, 0)
        if self.failed:
            return None
        return [source], [(previous[0], previous)], layers

    def endpoints(self, value: Any, key: str, layers: Mapping[str, LayerInfo]):
        """``input_layers``/``output_layers`` as ``[(name, ref)]``: a ref, a list, or a dict."""
        path = ("config", key)

        def ref(item: Any) -> Ref | None:
            if (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)
                    and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                            for i in item[1:])):  # fmt: skip
                return (item[0], item[1], item[2])
            return None

        single = ref(value)
        if single is not None:
            return [(single[0], single)]
        if isinstance(value, list) and value and isinstance(value[0], str):
            self.error("MS604", f"`{key}` is {_short(value)}, not [layer, node, tensor] with "
                       "a node and a tensor index of 0 or more", path)  # fmt: skip
            return None
        out: list[tuple[str, Ref]] = []
        if isinstance(value, Mapping):
            for name, item in value.items():
                r = ref(item)
                if r is None:
                    self.error(
                        "MS604", f"`{key}` entry '{name}' is not [layer, node, tensor]", path
                    )
                    continue
                out.append((name, r))
        elif isinstance(value, list) and value:
            seen: Counter[str] = Counter()
            for item in value:
                r = ref(item)
                if r is None:
                    self.error("MS604", f"`{key}` holds {_short(item)}, not [layer, node, "
                               "tensor]", path)  # fmt: skip
                    continue
                # Keras names list outputs after their layers.
                name = r[0] if not seen[r[0]] else f"{r[0]}_{seen[r[0]]}"
                seen[r[0]] += 1
                out.append((name, r))
        else:
            self.error("MS604", f"the model config has no `{key}`", path)
            return None
        return out

    def check_refs(self, layers: Mapping[str, LayerInfo], outputs: list[tuple[str, Ref]],
                   inputs: set[str]) -> None:  # fmt: skip
        def valid(ref: Ref) -> bool:
            info = layers.get(ref[0])
            if info is None:
                return False
            if info.kind == "bad":
                return True  # reported already: one cause, one message
            if info.kind == "input":
                return ref[1] == 0 and ref[2] == 0
            return ref[1] < len(info.nodes)

        for info in layers.values():
            for node in info.nodes:
                for ref in [*node.inputs, *node.masks]:
                    if not valid(ref):
                        self.error("MS604", f"a call of layer '{info.name}' reads tensor "
                                   f"{list(ref)}, which no layer makes", node.path)  # fmt: skip
                    elif layers[ref[0]].kind == "input" and ref[0] not in inputs:
                        self.error("MS604", f"a call of layer '{info.name}' reads input "
                                   f"'{ref[0]}', which is not in the model's `input_layers`",
                                   node.path)  # fmt: skip
        for name, ref in outputs:
            if not valid(ref):
                self.error("MS604", f"output '{name}' is tensor {list(ref)}, which no layer "
                           "makes", ("config", "output_layers"))  # fmt: skip

    def drop_mask_ops(
        self, layers: Mapping[str, LayerInfo], outputs: list[tuple[str, Ref]]
    ) -> None:
        """Leave out the ``keras.ops`` calls that only compute masks; report the others."""
        bad: set[str] = set()
        stack: list[str] = []

        def reach(ref: Ref) -> None:
            info = layers[ref[0]]
            if info.kind == "op" and info.name not in bad:
                bad.add(info.name)
                stack.append(info.name)

        for info in layers.values():
            if info.kind in ("layer", "model", "bad"):
                for node in info.nodes:
                    for ref in node.inputs:
                        reach(ref)
        for _, ref in outputs:
            reach(ref)
        while stack:
            for node in layers[stack.pop()].nodes:
                for ref in node.inputs:
                    reach(ref)
        for name in sorted(bad, key=lambda n: layers[n].position):
            info = layers[name]
            self.error("MS612", f"'{name}' is a call of keras.ops `{info.cls}`, which a spec "
                       "cannot express", info.path,
                       "use a catalogue layer instead (Add, Multiply, Activation, Rescaling, "
                       "Reshape, ...) and save the model again")  # fmt: skip
        masking = any(
            i.type == "Masking" or (i.type == "Embedding" and i.kwargs.get("mask_zero"))
            for i in layers.values()
        )
        for info in layers.values():
            for node in info.nodes if info.kind == "layer" else ():
                for ref in node.masks:
                    if layers[ref[0]].kind != "op" or not masking:
                        self.error("MS615", f"call {node.index} of {_layer_word(info)} passes "
                                   "an explicit mask", (*node.path, "kwargs", "mask"),
                                   "a spec propagates the masks of Embedding(mask_zero=True) "
                                   "and Masking, as Keras does, and takes no other")  # fmt: skip
        for info in layers.values():
            if info.kind == "op":
                info.nodes.clear()

    # --- the spec ---------------------------------------------------------------------

    def order(self, layers: Mapping[str, LayerInfo], outputs: list[tuple[str, Ref]]) -> list[Node]:
        """The live calls in a stable topological order (config order where free)."""
        by_ref: dict[tuple[str, int], Node] = {}
        for info in layers.values():
            for node in info.nodes:
                by_ref[(info.name, node.index)] = node
        live: set[tuple[str, int]] = set()
        stack = [(r[0], r[1]) for _, r in outputs if (r[0], r[1]) in by_ref]
        while stack:
            key = stack.pop()
            if key in live:
                continue
            live.add(key)
            stack.extend((r[0], r[1]) for r in by_ref[key].inputs if (r[0], r[1]) in by_ref)

        def needs(key: tuple[str, int]) -> set[tuple[str, int]]:
            return {(r[0], r[1]) for r in by_ref[key].inputs if (r[0], r[1]) in by_ref}

        def rank(key: tuple[str, int]) -> tuple[int, int, str]:
            return (layers[key[0]].position, key[1], key[0])

        out = [by_ref[key] for key in stable_order(live, needs, rank)]
        if len(out) != len(live):
            self.error("MS604", "the layers' calls form a cycle", ("config", "layers"))
        return out

    def document(self, name: Any, inputs: list[LayerInfo], outputs: list[tuple[str, Ref]],
                 layers: Mapping[str, LayerInfo]):  # fmt: skip
        calls = self.order(layers, outputs)
        if self.failed:
            return None, None
        for info in layers.values():
            _drop_resolved_axes(info)
        uses: Counter[Ref] = Counter()
        for node in calls:
            uses.update(node.inputs)
        uses.update(ref for _, ref in outputs)
        max_index: dict[tuple[str, int], int] = {}
        for ref in uses:
            key = (ref[0], ref[1])
            max_index[key] = max(max_index.get(key, 0), ref[2])
        multi = {(n.layer.name, n.index) for n in calls if self.returns_list(n, max_index)}
        # A nested model's call is a block step of its own: nothing chains onto it.
        multi |= {(n.layer.name, n.index) for n in calls
                  if n.layer.block is not None and len(n.layer.block["outputs"]) > 1}  # fmt: skip
        models = {n.layer.name for n in calls if n.layer.kind == "model"}

        # Chains (see the note at the top).
        chains: list[list[Node]] = []
        chain_of: dict[tuple[str, int], list[Node]] = {}
        for node in calls:
            chain = None
            if len(node.inputs) == 1:
                ref = node.inputs[0]
                prev = (ref[0], ref[1])
                before = chain_of.get(prev)
                if (before is not None and before[-1].layer.name == ref[0]
                        and before[-1].index == ref[1] and prev not in multi
                        and ref[2] == 0 and uses[ref] == 1
                        and not {ref[0], node.layer.name} & models):  # fmt: skip
                    chain = before
            if chain is None:
                chain = []
                chains.append(chain)
            chain.append(node)
            chain_of[(node.layer.name, node.index)] = chain

        called = Counter(n.layer.name for n in calls)
        sequential = (
            len(inputs) == 1
            and len(outputs) == 1
            and len(chains) == 1
            and all(count == 1 for count in called.values())
            and chains[0][0].inputs == [(inputs[0].name, 0, 0)]
            and outputs[0][1] == (chains[0][-1].layer.name, chains[0][-1].index, 0)
            and (chains[0][-1].layer.name, chains[0][-1].index) not in multi
            and not models
        )
        input_names = {i.name for i in inputs}
        doc: dict[str, Any] = {"modelspec": 1, "name": name}
        doc["inputs"] = {i.name: i.input for i in inputs}
        if self.custom:
            self.custom_rules(layers)
            doc["custom"] = self.custom
        out_specs, compile_spec = self.compile([n for n, _ in outputs])
        if sequential:
            doc["sequential"] = self.sequential_items(chains[0], input_names)
            out_name = outputs[0][0]
            self.check_name(out_name, "output", ("config", "output_layers"))
            if out_specs.get(out_name):
                doc["outputs"] = {out_name: out_specs[out_name]}
            form = "sequential"
        else:
            self.graph(doc, chains, outputs, layers, input_names, multi, out_specs)
            form = "graph"
        if compile_spec is not None:
            doc["compile"] = compile_spec
        return doc, form

    def returns_list(self, node: Node, max_index: Mapping[tuple[str, int], int]) -> bool:
        """Whether a call returns several tensors (an LSTM with ``return_state``)."""
        key = (node.layer.name, node.index)
        if max_index.get(key, 0) > 0:
            return True
        lt = LAYER_TYPES.get(node.layer.type or "")
        if lt is None or not node.shapes or any(s is None for s in node.shapes):
            return False
        try:
            out = lt.shape(lt.resolve(node.layer.kwargs), node.shapes)
        except Exception:  # noqa: BLE001 - a shape the rule refuses: lint reports it
            return False
        return isinstance(out, list)

    def sequential_items(self, chain: list[Node], input_names: set[str]) -> list[dict[str, Any]]:
        items = [_copy({"type": n.layer.type, **n.layer.kwargs}) for n in chain]
        slots = [s for n, item in zip(chain, items) for s in _slots(item, n.layer.name, "top")]
        _write_names(slots, input_names)
        return items

    def graph(self, doc: dict[str, Any], chains: list[list[Node]], outputs: list[tuple[str, Ref]],
              layers: Mapping[str, LayerInfo], input_names: set[str], multi: set,
              out_specs: Mapping[str, dict]) -> None:  # fmt: skip
        defined: dict[str, dict[str, Any]] = {}
        blocks: dict[str, dict[str, Any]] = {}
        for chain in chains:
            for node in chain:
                info = node.layer
                if info.block is not None:
                    blocks.setdefault(info.name, info.block)
                elif info.name not in defined:
                    defined[info.name] = _copy({"type": info.type, **info.kwargs})
        # Step names: the last layer's name; the k-th call of a shared layer adds _k.
        taken = set(input_names) | set(defined)
        ordinal: dict[tuple[str, int], int] = {}
        counts: Counter[str] = Counter()
        for chain in chains:
            for node in chain:
                ordinal[(node.layer.name, node.index)] = counts[node.layer.name]
                counts[node.layer.name] += 1
        step_of: dict[tuple[str, int], str] = {}
        steps: dict[str, dict[str, Any]] = {}
        used: set[str] = set()
        for chain in chains:
            last = chain[-1]
            k = ordinal[(last.layer.name, last.index)]
            base = last.layer.name if k == 0 else f"{last.layer.name}_{k}"
            step, j = base, 1
            while (
                step in used or step in input_names or (step != last.layer.name and step in taken)
            ):
                j += 1
                step = f"{base}_{j}"
            used.add(step)
            step_of[(last.layer.name, last.index)] = step

        def tensor(ref: Ref) -> str:
            if ref[0] in input_names:
                return ref[0]
            step = step_of[(ref[0], ref[1])]
            return f"{step}[{ref[2]}]" if (ref[0], ref[1]) in multi else step

        for chain in chains:
            last = chain[-1]
            to = [tensor(r) for r in chain[0].inputs]
            if last.layer.block is not None:
                # A nested model: an instance named after it, and each later call shares it.
                step = step_of[(last.layer.name, last.index)]
                first = min(k for (n, k) in step_of if n == last.layer.name)
                owner = step_of[(last.layer.name, first)]
                if owner != last.layer.name or any(
                    f"{owner}_{layer}" in defined for layer in last.layer.inner
                ):
                    self.error("MS613", f"layer '{last.layer.name}' is a nested model whose "
                               "name, or its layers' names, a block instance cannot keep here",
                               last.layer.path, "rename the nested model in Keras")  # fmt: skip
                call = {"block": last.layer.name, "to": to[0] if len(to) == 1 else to}
                if step != owner:
                    call["share"] = owner
                steps[step] = call
                continue
            apply = [n.layer.name for n in chain]
            steps[step_of[(last.layer.name, last.index)]] = {
                "apply": apply[0] if len(apply) == 1 else apply,
                "to": to[0] if len(to) == 1 else to,
            }
        _write_names([s for n, d in defined.items() for s in _slots(d, n, "fixed")], input_names)
        if blocks:
            doc["blocks"] = blocks
        if defined or not blocks:
            doc["layers"] = defined
        doc["graph"] = steps
        outs: dict[str, dict[str, Any]] = {}
        for name, ref in outputs:
            self.check_name(name, "output", ("config", "output_layers"))
            outs[name] = {"from": tensor(ref), **out_specs.get(name, {})}
        doc["outputs"] = outs

    # --- compile ----------------------------------------------------------------------

    def compile(self, names: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
        """Per-output ``loss``/``loss_weight``/``metrics``, and the ``compile`` section."""
        config = self.model.get("compile_config")
        if not isinstance(config, Mapping) or not config:
            return {}, None
        path = ("compile_config",)
        per: dict[str, dict[str, Any]] = {n: {} for n in names}
        losses = self.per_output(config.get("loss"), names, (*path, "loss"), "loss")
        for n in names:
            loss = losses.get(n)
            per[n]["loss"] = None if loss is None else self.loss(loss, (*path, "loss"), n)
        if all(per[n]["loss"] is None for n in names) and not self.failed:
            # keras.Model.compile(optimizer) alone, for evaluation or a custom loop: a
            # spec's `compile` means training, which needs a loss.
            self.diagnostics.append(Diagnostic(
                WARNING, "MS621", "the model is compiled without a loss; the spec gets no "
                "`compile` section", None, self.file, 1, 1, (*path, "loss"),
            ))  # fmt: skip
            return {}, None
        weights = self.per_output(
            config.get("loss_weights"), names, (*path, "loss_weights"), "loss_weights"
        )
        for n, w in weights.items():
            if w is None:
                continue
            if isinstance(w, bool) or not isinstance(w, (int, float)):
                self.error("MS617", f"the loss weight of output '{n}' is {_short(w)}, not a "
                           "number", (*path, "loss_weights"))  # fmt: skip
                continue
            per[n]["loss_weight"] = float(w)
        metrics = self.per_output(
            config.get("metrics"), names, (*path, "metrics"), "metrics", nested=True
        )
        for n, ms in metrics.items():
            if ms is None:
                continue
            items = ms if isinstance(ms, list) else [ms]
            written = [self.metric(m, (*path, "metrics"), n) for m in items if m is not None]
            if written:
                per[n]["metrics"] = written
        if config.get("weighted_metrics"):
            self.error("MS617", "the model is compiled with `weighted_metrics`, which a spec "
                       "cannot write", (*path, "weighted_metrics"),
                       "move them to `metrics`, or drop them")  # fmt: skip
        out: dict[str, Any] = {
            "optimizer": self.optimizer(config.get("optimizer", "rmsprop"), (*path, "optimizer"))
        }
        if config.get("jit_compile") is True:
            out["jit_compile"] = True
        if config.get("run_eagerly") is True:
            out["run_eagerly"] = True
        steps = config.get("steps_per_execution", 1)
        if isinstance(steps, int) and not isinstance(steps, bool) and steps > 1:
            out["steps_per_execution"] = steps
        known = {"optimizer", "loss", "loss_weights", "metrics", "weighted_metrics",
                 "run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss"}  # fmt: skip
        for key, value in config.items():
            if key not in known and value not in (None, False, [], {}):
                self.error("MS617", f"the compile config sets `{key}: {_short(value)}`, which "
                           "a spec's `compile` cannot write", (*path, key))  # fmt: skip
        return per, out

    def per_output(self, value: Any, names: list[str], path: tuple, what: str,
                   *, nested: bool = False) -> dict[str, Any]:  # fmt: skip
        """A compile argument given for all outputs, as a list, or as a dict -> by output."""
        if value is None:
            return {}
        if isinstance(value, Mapping) and value.get("class_name") is None:
            unknown = [k for k in value if k not in names]
            for k in unknown:
                self.error("MS617", f"the compile config's `{what}` names output '{k}', which "
                           f"the model does not have", path, did_you_mean(k, names))  # fmt: skip
            return {n: value.get(n) for n in names}
        if isinstance(value, list) and (
            len(names) > 1 or (nested and value and isinstance(value[0], list))
        ):
            if nested and not all(v is None or isinstance(v, list) for v in value):
                if len(names) == 1:
                    return {names[0]: value}
                self.error("MS617", f"the compile config's `{what}` is a flat list for "
                           f"{len(names)} outputs; a spec gives each output its own", path)  # fmt: skip
                return {}
            if len(value) != len(names):
                self.error("MS617", f"the compile config's `{what}` has {len(value)} entries "
                           f"for {len(names)} outputs", path)  # fmt: skip
                return {}
            return dict(zip(names, value))
        if isinstance(value, list) and len(value) == 1 and not nested:
            return {names[0]: value[0]}
        return {n: value for n in names}

    def loss(self, value: Any, path: tuple, output: str) -> Any:
        name = vals.function_name(value)
        if name is not None:
            if name in tc.LOSS_NAMES:
                return name
            self.error("MS617", f"the loss of output '{output}' is {name!r}, which a spec "
                       "cannot name", path, did_you_mean(name, tc.LOSS_NAMES))  # fmt: skip
            return None
        if isinstance(value, Mapping) and value.get("module") == "keras.losses":
            cls = value.get("class_name")
            kwargs = tc.LOSS_CLASSES.get(cls) if isinstance(cls, str) else None
            if kwargs is None:
                self.error("MS617", f"the loss of output '{output}' is `{cls}`, which a spec "
                           "cannot write", path, did_you_mean(str(cls), tc.LOSS_CLASSES))  # fmt: skip
                return None
            return self.typed(
                cls, kwargs, value.get("config"), path, f"loss `{cls}` of output '{output}'"
            )
        self.error("MS617", f"the loss of output '{output}' is {_short(value)}, which a spec "
                   "cannot write", path)  # fmt: skip
        return None

    def typed(self, cls: str, kwargs: tuple[Kwarg, ...], config: Any, path: tuple, who: str,
              *, floats: bool = False) -> dict[str, Any]:  # fmt: skip
        """``{type: Class, **non-default kwargs}`` for a loss or an optimizer."""
        out: dict[str, Any] = {"type": cls}
        known = {k.name: k for k in kwargs}
        if not isinstance(config, (Mapping, type(None))):
            self.error("MS617", f"{who} has a config that is not a mapping: {_short(config)}", path)
            return out
        for key, value in (config or {}).items():
            if key == "name" or (key == "dtype" and _is_float32(value)):
                continue
            kwarg = known.get(key)
            if kwarg is None:
                if value is None:
                    continue
                self.error("MS617", f"{who} sets `{key}: {_short(value)}`, which a spec "
                           "cannot write", path, did_you_mean(key, known))  # fmt: skip
                continue
            if isinstance(value, Mapping):
                self.error("MS617", f"{who} has {key} {vals.show(value)}; a spec writes only "
                           "plain values", path)  # fmt: skip
                continue
            if floats and isinstance(value, float):
                value = vals.short_float(value)
            if _same(kwarg, value):
                continue
            out[key] = value
        return out

    def optimizer(self, value: Any, path: tuple) -> Any:
        if isinstance(value, str):
            if value.lower() in tc.OPTIMIZER_NAMES:
                return value.lower()
            self.error("MS617", f"the optimizer {value!r} is not one a spec can name", path,
                       did_you_mean(value.lower(), tc.OPTIMIZER_NAMES))  # fmt: skip
            return "adam"
        cls = value.get("class_name") if isinstance(value, Mapping) else None
        if (
            not isinstance(value, Mapping)
            or value.get("module") != "keras.optimizers"
            or not isinstance(cls, str)
            or cls not in tc.OPTIMIZERS
        ):
            self.error("MS617", f"the optimizer {_short(value)} is not one a spec can write", path,
                       f"spec optimizers: {', '.join(tc.OPTIMIZERS)}")  # fmt: skip
            return "adam"
        typed = self.typed(cls, tc.OPTIMIZERS[cls], value.get("config"), path,
                           f"optimizer `{cls}`", floats=True)  # fmt: skip
        return cls.lower() if len(typed) == 1 else typed

    def metric(self, value: Any, path: tuple, output: str) -> Any:
        name = vals.function_name(value)
        if name is not None and name in tc.METRIC_NAMES:
            return name
        if isinstance(value, Mapping) and value.get("module") == "keras.metrics":
            cls = value.get("class_name")
            defaults = vals.METRIC_DEFAULTS.get(cls) if isinstance(cls, str) else None
            config = value.get("config") if isinstance(value.get("config"), Mapping) else {}
            if (
                defaults is not None
                and cls in tc.METRIC_NAMES
                and all(
                    key in ("name", "dtype")
                    or (key in defaults and vals.same_number(v, defaults[key]))
                    for key, v in config.items()
                )
            ):
                return cls
        shown = repr(name) if name is not None else _short(value)
        self.error("MS617", f"metric {shown} of output '{output}' is not one a spec can name",
                   path, "spec metrics are names (accuracy, mae, AUC, ...) with default arguments")  # fmt: skip
        return "accuracy"


class _Skip:
    def __repr__(self) -> str:
        return "SKIP"


_SKIP: Any = _Skip()


def _copy(value: Any) -> Any:
    """A deep copy of plain spec data, so naming one use never changes another."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _examples(kind: str) -> str:
    return {"initializer": "he_normal or glorot_uniform", "regularizer": "l2 (0.01)",
            "constraint": "max_norm or non_neg"}[kind]  # fmt: skip


def _drop_resolved_axes(info: LayerInfo) -> None:
    """MultiHeadAttention writes the attention axes it chose when none were given:
    every axis but the batch and the features of its first call's query."""
    kw = info.kwargs
    if info.type != "MultiHeadAttention" or "attention_axes" not in kw or not info.nodes:
        return
    shapes = info.nodes[0].shapes
    if shapes and shapes[0] is not None:
        rank = len(shapes[0])
        axes = kw["attention_axes"]
        if (axes if isinstance(axes, list) else [axes]) == list(range(1, rank - 1)):
            del kw["attention_axes"]


@dataclass(slots=True)
class _Slot:
    """A layer name the parser either reads from the spec or makes up (auto-naming)."""

    type: str
    name: str
    kind: str  # "fixed" (a key under `layers:`), "top" (an inline layer), "inner" (wrapped)
    holder: dict[str, Any] | None  # the spec dict its `name:` goes in


def _slots(layer: dict[str, Any], name: str, kind: str) -> list[_Slot]:
    """The naming slots of one layer, in the order the parser names them: the layer,
    then the layers it wraps, the innermost first (``parse._Parser.inner_names``)."""
    out = [_Slot(layer["type"], name, kind, layer if kind == "top" else None)]

    def inner(spec: dict[str, Any]) -> None:
        lt = LAYER_TYPES.get(spec.get("type", ""))
        for key in lt.nested if lt else ():
            sub = spec.get(key)
            if isinstance(sub, dict) and isinstance(sub.get("name"), str):
                inner(sub)
                out.append(_Slot(sub["type"], sub["name"], "inner", sub))

    inner(layer)
    return out


def _write_names(slots: list[_Slot], reserved: set[str]) -> None:
    """Leave ``name:`` out wherever the parser's auto-naming gives the same name.

    The parser names an unnamed layer as Keras does in a fresh session (``dense``,
    ``dense_1``, ...), skipping the names of inputs, of named inline layers and of
    the layers defined so far; an auto name that a later ``layers:`` key uses is an
    MS203 error. Naming one layer changes what the later ones get, so this iterates
    to a fixed point; each round only adds names.
    """
    explicit = {i for i, slot in enumerate(slots) if slot.kind == "fixed"}
    for _ in range(8):
        taken = set(reserved) | {slots[i].name for i in explicit if slots[i].kind == "top"}
        owner: dict[str, int] = {}
        counts: dict[str, int] = {}
        wrong: set[int] = set()
        for i, slot in enumerate(slots):
            if slot.kind == "fixed":
                if slot.name in owner:
                    wrong.add(owner[slot.name])
                taken.add(slot.name)
                continue
            if i in explicit:
                continue
            base = to_snake_case(slot.type)
            while True:
                n = counts.get(base, 0)
                counts[base] = n + 1
                auto = base if n == 0 else f"{base}_{n}"
                if auto not in taken:
                    taken.add(auto)
                    owner[auto] = i
                    break
            if auto != slot.name:
                wrong.add(i)
        if not wrong:
            break
        explicit |= wrong
    else:
        explicit = set(range(len(slots)))
    for i, slot in enumerate(slots):
        if slot.holder is None:
            continue
        if i in explicit:
            slot.holder["name"] = slot.name
        else:
            slot.holder.pop("name", None)


def convert(model: Any, file: str = "<config>") -> Converted:
    """The spec document of a parsed Keras model config, and the diagnostics."""
    return _Converter(model, file).convert()
