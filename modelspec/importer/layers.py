"""One entry of a Keras config's ``layers`` -> what it is, and its spec kwargs.

An entry is an input, a catalogue layer, a nested model (read by the driver, see
:class:`~modelspec.importer.context.Context`), a ``keras.ops`` call, or a custom
layer class named under ``custom:``. A catalogue layer's kwargs are those that
differ from the catalogue's defaults; what Keras writes for a kwarg left to its
default is the catalogue's to undo (:meth:`LayerType.from_saved
<modelspec.catalog.base.LayerType.from_saved>`). Anything else is an error naming
the layer (MS610, MS611, MS614).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.base import (
    ACTIVATION,
    BASE_LAYER_DEFAULTS,
    CONSTRAINT,
    DTYPES,
    IGNORED_KWARGS,
    INITIALIZER,
    REGULARIZER,
    SET_BY_WRAPPERS,
    TUPLE_KWARGS,
    Kwarg,
    LayerType,
    collapse,
)
from modelspec.catalog.custom import CLASS_PATH
from modelspec.catalog.precision import POLICIES, QUANTIZE_MODES, takes_policy
from modelspec.catalog.rnn import FORWARD_PREFIX
from modelspec.errors import did_you_mean
from modelspec.importer import values as vals
from modelspec.importer.context import Context, LayerInfo, Ref, layer_word, tensors_in
from modelspec.importer.values import short

MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})
LAYER_MODULES = ("keras.layers", "keras.src.layers")
OP_MODULES = ("keras.ops", "keras.src.ops")
OP_CLASSES = frozenset({"TFOpLambda", "SlicingOpLambda"})  # Keras 2's recorded ops
# The layer classes Keras's model.quantize() quantizes in some mode.
QUANTIZABLE = frozenset().union(*QUANTIZE_MODES.values())
EXAMPLES = {
    "initializer": "he_normal or glorot_uniform",
    "regularizer": "l2 (0.01)",
    "constraint": "max_norm or non_neg",
}


class _Skip:
    def __repr__(self) -> str:
        return "SKIP"


_SKIP: Any = _Skip()


def read_layer(ctx: Context, entry: Any, position: int, path: tuple) -> LayerInfo | None:
    """What one ``config.layers`` entry is; None for an entry with no class or name."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("config"), Mapping):
        ctx.error("MS604", "a layer entry needs `class_name` and `config`", path)
        return None
    cls = entry.get("class_name")
    config = entry["config"]
    name = entry.get("name", config.get("name"))
    if not isinstance(cls, str) or not isinstance(name, str):
        ctx.error("MS604", "a layer entry needs a `class_name` and a `name`", path)
        return None
    module = entry.get("module") or ""
    registered = entry.get("registered_name")
    info = LayerInfo(position, name, cls, "bad", path)
    if not isinstance(module, str) or not isinstance(registered, (str, type(None))):
        key = "module" if not isinstance(module, str) else "registered_name"
        ctx.error(
            "MS604",
            f"layer '{name}' has a `{key}` that is not a string: {short(entry[key])}",
            (*path, key),
        )
        return info  # kept as "bad": its calls are not reported again
    if cls == "InputLayer" and module.startswith(LAYER_MODULES):
        info.kind = "input"
        info.input = read_input(ctx, info, config, path)
    elif module.startswith(OP_MODULES) or cls in OP_CLASSES:
        info.kind, info.module, info.config = "op", module, config  # read in calls.py
    elif (
        cls in MODEL_CLASSES
        or module.startswith(("keras.src.models", "keras.models"))
        or (module == "keras" and cls in MODEL_CLASSES)
    ):
        assert ctx.nested is not None
        ctx.nested(ctx, info, entry, path)
    elif cls == "Lambda":
        code = isinstance(config.get("function"), Mapping)
        what = "Python bytecode" if code else "a Python function"
        ctx.error(
            "MS611",
            f"layer '{name}' is a `Lambda` holding {what}; a spec holds data, and modelspec "
            "never loads or runs code from a model",
            path,
            "replace the Lambda by catalogue layers (Activation, Rescaling, Reshape, a merge "
            "layer, ...)",
        )
    elif cls in LAYER_TYPES and module.startswith(LAYER_MODULES) and registered in (None, cls):
        info.kind = "layer"
        info.type = cls
        info.kwargs = read_kwargs(
            ctx, LAYER_TYPES[cls], config, (*path, "config"), layer_word(info)
        )
    elif module and not module.startswith(LAYER_MODULES) and CLASS_PATH.match(f"{module}.{cls}"):
        _custom_layer(ctx, info, module, config, path)
    else:
        where = f" from {module}" if module and not module.startswith(LAYER_MODULES) else ""
        if module.startswith(LAYER_MODULES):
            reason = "a Keras layer that is not in modelspec's catalogue"
            hint = did_you_mean(cls, LAYER_TYPES) or "`modelspec schema` lists the layer types"
        else:
            reason = "a custom layer class"
            hint = "custom layers cannot be imported yet; rebuild it from catalogue layers"
        ctx.error("MS610", f"layer '{name}' is `{cls}`{where}: {reason}", path, hint)
    if info.kind in ("input", "layer"):
        ctx.check_name(name, "layer", (*path, "name"))
    return info


def read_input(
    ctx: Context, info: LayerInfo, config: Mapping[str, Any], path: tuple
) -> dict | None:
    """An InputLayer's spec input: ``shape`` without the batch axis, and ``dtype``."""
    cpath = (*path, "config")
    shape = config.get("batch_shape", config.get("batch_input_shape"))
    if not isinstance(shape, list) or not shape:
        ctx.error("MS604", f"input '{info.name}' has no `batch_shape`", cpath)
        return None
    spec: dict[str, Any] = {}
    if shape[0] is not None:
        ctx.error(
            "MS616",
            f"input '{info.name}' has a fixed batch size {shape[0]}; a spec's input shape "
            "leaves out the batch axis",
            (*cpath, "batch_shape"),
            "use keras.Input(shape=...) without batch_size",
        )
    dims = shape[1:]
    if not all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 1) for d in dims
    ):
        ctx.error(
            "MS616",
            f"input '{info.name}' has shape {dims!r}; sizes are positive ints or null",
            (*cpath, "batch_shape"),
        )
    spec["shape"] = list(dims)
    dtype = config.get("dtype", "float32")
    if isinstance(dtype, Mapping):  # a DTypePolicy
        dtype = (
            dtype.get("config", {}).get("name")
            if isinstance(dtype.get("config"), Mapping)
            else None
        )
    if dtype not in DTYPES:
        ctx.error(
            "MS616",
            f"input '{info.name}' has dtype {dtype!r}, which a spec input cannot have",
            (*cpath, "dtype"),
            f"spec dtypes: {', '.join(DTYPES)}",
        )
    elif dtype != "float32":
        spec["dtype"] = dtype
    for flag in ("sparse", "ragged", "optional"):
        if config.get(flag):
            ctx.error(
                "MS616",
                f"input '{info.name}' is {flag}; spec inputs are dense and always given",
                (*cpath, flag),
            )
    return spec


def read_kwargs(
    ctx: Context,
    lt: LayerType,
    config: Mapping[str, Any],
    path: tuple,
    who: str,
    *,
    wrapped: str | None = None,
) -> dict[str, Any]:
    """The spec kwargs of a layer: catalogue kwargs that differ from their defaults."""
    out: dict[str, Any] = {}
    quantization: tuple[Any, tuple] = (None, ())
    for key, value in config.items():
        kpath = (*path, key)
        if key == "name":
            continue
        if key == "dtype":
            if not takes_policy(lt):  # its output dtype its kwargs fix (lookups, hashing)
                if not vals.is_float32(value, lt.config_dtype(config)):
                    ctx.error(
                        "MS614",
                        f"{who} has dtype {vals.policy(value)}; a spec leaves this "
                        "layer's dtype to its kwargs, as Keras does",
                        kpath,
                    )
                continue
            _read_policy(ctx, value, out, kpath, who)
            continue
        if key == "quantization_config":
            quantization = (value, kpath)  # checked once the mode is known
            continue
        kwarg = lt.kwarg_map.get(key)
        if kwarg is None:
            if key in lt.derived or (key == "trainable" and value is True):
                continue
            if key in IGNORED_KWARGS and (
                value == IGNORED_KWARGS[key] or (key in SET_BY_WRAPPERS and wrapped)
            ):
                continue
            hint = did_you_mean(key, lt.kwarg_map)
            ctx.error(
                "MS614",
                f"{who} sets `{key}: {short(value)}`, which the catalogue's `{lt.name}` does "
                "not know",
                kpath,
                hint or f"`{lt.name}` takes: {', '.join(lt.kwarg_map)}",
            )
            continue
        converted = _kwarg_value(ctx, lt, kwarg, value, kpath, who)
        if converted is _SKIP or vals.same_default(kwarg, converted):
            continue
        out[key] = converted
    if not vals.default_quantization(quantization[0], out.get("quantize")):
        mode = out.get("quantize")
        ctx.error(
            "MS614",
            f"{who} has quantization_config {vals.show(quantization[0]) if isinstance(quantization[0], Mapping) else short(quantization[0])}, "
            "which a spec cannot write",
            quantization[1],
            f'a spec quantizes with Keras\'s default configuration (`model.quantize("{mode}")`)'
            if mode
            else "a layer that is not quantized has no quantization_config",
        )
    lt.from_saved(out)
    return out


def _kwarg_value(
    ctx: Context, lt: LayerType, kwarg: Kwarg, value: Any, path: tuple, who: str
) -> Any:
    kinds = {
        id(INITIALIZER): "initializer",
        id(REGULARIZER): "regularizer",
        id(CONSTRAINT): "constraint",
    }
    kind = kinds.get(id(kwarg.schema))
    if kind is not None:
        config = value.get("config") if isinstance(value, Mapping) else None
        if kind == "initializer" and isinstance(config, Mapping) and config.get("seed") is not None:
            ctx.seeded += 1
        named = vals.by_name(kind, value)
        if isinstance(named, vals.NotByName):
            ctx.error(
                "MS614",
                f"{who} has {kwarg.name} {named.shown}, which a spec cannot write: {named.reason}",
                path,
                f"spec {kind}s are names with Keras's default arguments, such as {EXAMPLES[kind]}",
            )
            return _SKIP
        return named
    if kwarg.schema is ACTIVATION:
        named = vals.activation(value)
        if isinstance(named, vals.NotByName):
            ctx.error(
                "MS614",
                f"{who} has {kwarg.name} {named.shown}: {named.reason}",
                path,
                "spec activations are names, such as relu or gelu",
            )
            return _SKIP
        return named
    if kwarg.name in lt.nested:
        if value is None:
            return None
        if isinstance(value, list):  # StackedRNNCells's cells, a Pipeline's layers
            items = [
                _wrapped(ctx, lt, kwarg.name, v, (*path, i), who, f"item {i} of the `{kwarg.name}`")
                for i, v in enumerate(value)
            ]
            return _SKIP if any(i is _SKIP for i in items) else items
        return _wrapped(ctx, lt, kwarg.name, value, path, who)
    if kwarg.name in TUPLE_KWARGS:
        return collapse(value)
    return value


def _wrapped(
    ctx: Context,
    lt: LayerType,
    key: str,
    value: Any,
    path: tuple,
    who: str,
    what: str | None = None,
) -> Any:
    """A wrapper's inner layer as a spec layer dict, ``name`` kept; ``what`` names it
    in messages (by default "the `key`")."""
    what = what or f"the `{key}`"
    if not isinstance(value, Mapping) or not isinstance(value.get("config"), Mapping):
        ctx.error("MS604", f"{who} has a `{key}` that is not a serialized layer", path)
        return _SKIP
    cls = value.get("class_name")
    module = value.get("module") or ""
    inner = LAYER_TYPES.get(cls) if isinstance(cls, str) else None
    if inner is None or not isinstance(module, str) or not module.startswith(LAYER_MODULES):
        shown = cls if isinstance(cls, str) else short(cls)
        ctx.error("MS610", f"{who} wraps `{shown}`, which is not in modelspec's catalogue", path)
        return _SKIP
    config = value["config"]
    name = config.get("name")
    inner_who = f"{what} of {who}"
    kwargs = read_kwargs(ctx, inner, config, (*path, "config"), inner_who, wrapped=lt.name)
    out: dict[str, Any] = {"type": cls, **kwargs}
    if isinstance(name, str):
        if lt.name == "Bidirectional" and key == "layer":
            name = name.removeprefix(FORWARD_PREFIX)  # see catalog/rnn.py
        ctx.check_name(name, "layer", (*path, "config", "name"))
        out["name"] = name
    return out


def _custom_layer(
    ctx: Context, info: LayerInfo, module: str, config: Mapping[str, Any], path: tuple
) -> None:
    """A layer class outside Keras, named by its path under ``custom:`` (see
    :mod:`modelspec.catalog.custom`); nothing is imported. Its kwargs are its config's plain
    values; ``inputs:`` and ``shape:`` are filled in by :func:`custom_rules`."""
    cls_path = f"{module}.{info.cls}"
    name = next(
        n
        for k in range(1, 1000)
        if (n := info.cls if k == 1 else f"{info.cls}_{k}") not in LAYER_TYPES
        and ctx.custom.get(n, {}).get("class", cls_path) == cls_path
    )
    ctx.custom.setdefault(name, {"class": cls_path})
    info.kind, info.type = "layer", name
    who = layer_word(info)
    for key, value in config.items():
        if key in ("name", "build_config") or BASE_LAYER_DEFAULTS.get(key, _SKIP) == value:
            continue
        if key == "dtype":
            read = _read_policy(ctx, value, info.kwargs, (*path, "config", key), who)
            if read is not None and read[0] is not None:
                info.kwargs.pop("quantize", None)
                ctx.error(
                    "MS614",
                    f"{who} is quantized ({vals.policy(value)}); a spec quantizes only "
                    f"{', '.join(f'`{t}`' for t in sorted(QUANTIZABLE))} layers",
                    (*path, "config", key),
                )
            continue
        if tensors_in(value) or any(isinstance(v, Mapping) for v in _values(value)):
            ctx.error(
                "MS630",
                f"{who} has `{key}: {short(value)}`; a custom layer's kwargs in a spec are "
                "plain values (numbers, strings, booleans, lists)",
                (*path, "config", key),
            )
            continue
        info.kwargs[key] = value


def _read_policy(
    ctx: Context, value: Any, out: dict[str, Any], path: tuple, who: str
) -> tuple[str | None, str] | None:
    """A layer's saved dtype policy into ``out``: ``dtype`` (its policy, kept even when
    float32: the driver leaves out those equal to the model's) and ``quantize`` (its
    mode, when Keras quantized it); an error when a spec cannot write it."""
    read = vals.read_policy(value)
    if read is None:
        ctx.error(
            "MS614",
            f"{who} has dtype policy {vals.policy(value)}, which a spec cannot write",
            path,
            f"spec dtype policies: {', '.join(POLICIES)}; quantized layers: "
            f"{' or '.join(QUANTIZE_MODES)} of one of them (`quantize:`)",
        )
        return None
    mode, source = read
    out["dtype"] = source
    if mode is not None:
        out["quantize"] = mode
    return read


def custom_rules(ctx: Context, layers: Mapping[str, LayerInfo]) -> None:
    """Each custom type's ``inputs:`` from its calls, and ``shape: same`` where every
    call's output, as its readers recorded it, has its first input's shape."""
    recorded: dict[Ref, Any] = {}
    for info in layers.values():
        for node in info.nodes:
            for ref, shape in zip(node.inputs, node.shapes):
                if shape is not None:
                    recorded[ref] = shape
    for type_name, entry in ctx.custom.items():
        infos = [i for i in layers.values() if i.type == type_name and i.nodes]
        counts = {len(n.inputs) for i in infos for n in i.nodes}
        if len(counts) > 1:
            ctx.error(
                "MS631",
                f"the layers of custom class `{entry['class']}` are called with "
                f"{' and '.join(map(str, sorted(counts)))} tensors; a custom type takes one "
                "number of inputs",
                infos[0].path,
            )
            continue
        if counts and counts != {1}:
            entry["inputs"] = counts.pop()
        pairs = [
            (n.shapes[0] if n.shapes else None, recorded.get((i.name, n.index, 0)))
            for i in infos
            for n in i.nodes
        ]
        known = [(a, b) for a, b in pairs if a is not None and b is not None]
        if known and all(a == b for a, b in known):
            entry["shape"] = "same"


def _values(value: Any) -> list[Any]:
    """``value`` and every item of the lists in it."""
    out, stack = [], [value]
    while stack:
        item = stack.pop()
        out.append(item)
        if isinstance(item, list):
            stack.extend(item)
    return out
