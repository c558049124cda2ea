"""A Keras 2 / tf.keras model config -> the Keras 3 config :mod:`.keras3` reads.

Keras 2 (``model.to_json()``, or the ``model_config`` and ``training_config`` of a
legacy HDF5 file) writes the same models in an older shape. This pass rewrites that
shape, as data, into the one Keras 3 writes; everything after it is the Keras 3
import. What it rewrites:

- a model's class ``Model`` -> ``Functional``; a Sequential config written as a bare
  list of layers -> ``{"layers": [...]}``; a Sequential's input taken from its first
  layer's ``batch_input_shape`` -> an ``InputLayer`` entry named as Keras 2 named it
  (``<layer>_input``);
- ``inbound_nodes`` as lists (``[[["dense", 0, 0, {}]]]``) -> calls with ``args`` and
  ``kwargs`` holding serialized tensors; a call of a nested model, which Keras 2
  counts from 1 (its own first node is the one it made for itself), counted from 0;
- ``batch_input_shape``, ``input_shape``, ``batch_size`` and ``input_length`` on
  layers dropped (a spec's inputs carry the shape); Keras 2 implementation
  switches (``implementation``, ``fused``, ``time_major: false``) dropped, with a
  warning where one chose other than Keras 2's default (MS624);
- Keras 2's ``CuDNNLSTM`` and ``CuDNNGRU`` -> ``LSTM`` and ``GRU``, which compute the
  same (a warning, MS625: the weights loader converts their weights);
  ``LeakyReLU(alpha=)`` -> ``negative_slope``; a ``DepthwiseConv2D``'s ``groups: 1``
  dropped; a BatchNormalization's ``axis: [3]`` -> ``axis: 3`` (Keras 2 writes the
  resolved axis of a built layer, so a spec may say ``axis: 3`` where ``-1`` meant it);
- initializers, regularizers, constraints and layers without a ``module`` (Keras
  before 2.13) given Keras's module; ``L1L2`` with one factor zero -> ``L1`` or ``L2``;
- a ``training_config`` -> ``compile_config``: ``lr`` -> ``learning_rate``,
  ``Custom>Adam`` -> ``Adam``, ``MeanMetricWrapper`` -> its function's name;
  ``decay`` (Keras 2's ``lr / (1 + decay * iterations)``) is dropped with a warning.

These warnings are the migration report: each names the layer, and ``import
--strict`` refuses the model on any of them. Each value the pass drops that changes
what the model computes or how it trains is a warning (MS624) naming the layer; a value it does not know is left in place, for
the Keras 3 import to report as it reports any other (MS614, MS617). A Keras 1
config (``keras_version`` 1.x, ``Merge`` layers, three-item inbound entries) is
refused (MS623): its layer arguments are not Keras 2's.

Nothing is imported or run: the config is read as the plain JSON values it is, and
a new config is built from them (the input is not changed).

Example::

    >>> old = {"class_name": "Model", "keras_version": "2.4.0", "config": {...}}  # doctest: +SKIP
    >>> new, diagnostics = normalise(old, "old.json")                           # doctest: +SKIP
    >>> new["class_name"]                                                        # doctest: +SKIP
    'Functional'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.errors import ERROR, WARNING, Diagnostic
from modelspec.importer.values import CONSTRAINTS, INITIALIZERS, REGULARIZERS, short

# Layer classes that exist only in Keras 1; a config holding one is a Keras 1 model.
KERAS1_CLASSES = frozenset(
    {
        "Merge",
        "Convolution1D",
        "Convolution2D",
        "Convolution3D",
        "AtrousConvolution1D",
        "AtrousConvolution2D",
        "Deconvolution2D",
        "MaxoutDense",
        "Highway",
        "TimeDistributedDense",
    }
)
# Layer kwargs Keras 2 writes that give a spec's input shape (read from the first
# layer of a Sequential) or nothing a spec needs.
SHAPE_KWARGS = ("batch_input_shape", "input_shape", "batch_size", "input_length")
# Keras 2 kwargs that choose an implementation of the same computation, and Keras 2's
# default for each: dropped, with a warning (MS624) where the value is not the default.
IMPLEMENTATION_KWARGS = {"implementation": 2, "fused": None, "time_major": False}
# Keras 2's cuDNN layers, and the Keras 3 layer that computes the same (Keras 3's LSTM
# and GRU use cuDNN where they can; CuDNNGRU is a GRU with reset_after=True, which is
# Keras 3's default, as sigmoid is both layers' recurrent activation).
CUDNN_CLASSES = {"CuDNNLSTM": "LSTM", "CuDNNGRU": "GRU"}
MODEL_CLASSES = {"Model": "Functional", "Functional": "Functional", "Sequential": "Sequential"}
OBJECT_MODULES = (
    ("keras.initializers", INITIALIZERS),
    ("keras.regularizers", {**REGULARIZERS, "L1L2": None}),
    ("keras.constraints", CONSTRAINTS),
)
# Keras 2 optimizer config keys with a Keras 3 name.
OPTIMIZER_RENAMES = {"lr": "learning_rate"}
# Keras 2 optimizer config keys that have no Keras 3 counterpart and do not change
# the update (Keras 3 writes its own defaults for them).
OPTIMIZER_DROPPED = ("is_legacy_optimizer", "jit_compile", "name")
# The settings of an optimizer's moving average, which mean nothing without use_ema.
EMA_KEYS = ("ema_momentum", "ema_overwrite_frequency")


def keras_version(model: Any) -> str:
    value = model.get("keras_version") if isinstance(model, Mapping) else None
    return value if isinstance(value, str) else ""


def is_keras1(model: Any) -> str | None:
    """Why ``model`` is a Keras 1 config, or None when it is not one."""
    version = keras_version(model)
    if version.startswith("1."):
        return f"the config was written by Keras {version}"
    for entry in _entries(model):
        cls = entry.get("class_name")
        if isinstance(cls, str) and cls in KERAS1_CLASSES:
            return f"it holds a `{cls}` layer, which only Keras 1 had"
        nodes = entry.get("inbound_nodes")
        if isinstance(nodes, list):
            for node in nodes:
                items = node if isinstance(node, list) else []
                if any(isinstance(i, list) and len(i) == 3 for i in items):
                    return "its inbound nodes are [layer, node, tensor] without call arguments"
    return None


def is_keras2(model: Any) -> bool:
    """Whether ``model`` is a Keras 2 model config: written by Keras 2, or in its shape
    (a config from Keras before 2.4 may carry no ``keras_version``)."""
    if not isinstance(model, Mapping):
        return False
    if keras_version(model).startswith("2."):
        return True
    if model.get("class_name") == "Model" or isinstance(model.get("config"), list):
        return True
    for entry in _entries(model):
        nodes = entry.get("inbound_nodes")
        if isinstance(nodes, list) and any(isinstance(n, list) for n in nodes):
            return True
        if "module" not in entry:
            return True
        config = entry.get("config")
        if isinstance(config, Mapping) and "batch_input_shape" in config:
            return True
    return False


def _entries(model: Any) -> list[Mapping[str, Any]]:
    config = model.get("config") if isinstance(model, Mapping) else None
    layers = config.get("layers") if isinstance(config, Mapping) else config
    return [e for e in layers if isinstance(e, Mapping)] if isinstance(layers, list) else []


class _Pass:
    """One normalisation: the file's name for diagnostics, and what it found."""

    def __init__(self, file: str):
        self.file = file
        self.diagnostics: list[Diagnostic] = []

    def warn(self, message: str, path: tuple, hint: str | None = None) -> None:
        """MS624: a Keras 2 setting that Keras 3 does not have, not carried over."""
        self.diagnostics.append(Diagnostic(WARNING, "MS624", message, hint, self.file, 1, 1, path))

    def changed(self, message: str, path: tuple, hint: str | None = None) -> None:
        """MS625: a Keras 2 layer class read as the Keras 3 class that computes the same."""
        self.diagnostics.append(Diagnostic(WARNING, "MS625", message, hint, self.file, 1, 1, path))

    def model(self, cls: str, config: Any, path: tuple) -> dict[str, Any]:
        """A model's config, Keras 3's shape."""
        if isinstance(config, list):  # Keras before 2.2.3: a Sequential's bare list
            config = {"layers": config}
        if not isinstance(config, Mapping):
            return config
        out = dict(config)
        entries = config.get("layers")
        if not isinstance(entries, list):
            return out
        shifted = {
            name: 1
            for e in entries
            if isinstance(e, Mapping) and _skips_first_node(e) and (name := _name(e)) is not None
        }
        layers = [
            self.layer(e, shifted, (*path, "layers", i)) if isinstance(e, Mapping) else e
            for i, e in enumerate(entries)
        ]
        if cls == "Sequential":
            layers = _sequential_input(entries, layers)
        out["layers"] = layers
        for key in ("input_layers", "output_layers"):
            if key in out:
                out[key] = _endpoints(out[key], shifted if key == "output_layers" else {},
                                      {e["name"]: e for e in layers if isinstance(e, Mapping)
                                       and isinstance(e.get("name"), str)})  # fmt: skip
        return out

    def layer(self, entry: Mapping[str, Any], shifted: Mapping[str, int], path: tuple) -> Any:
        """One ``config.layers`` entry, Keras 3's shape."""
        out = dict(entry)
        cls = entry.get("class_name")
        config = entry.get("config")
        if not isinstance(cls, str) or not isinstance(config, Mapping):
            return out
        if "name" not in out and isinstance(config.get("name"), str):
            out["name"] = config["name"]
        if cls in MODEL_CLASSES:
            out["class_name"] = MODEL_CLASSES[cls]
            out.setdefault("module", "keras")
            out["config"] = self.model(MODEL_CLASSES[cls], config, (*path, "config"))
        elif cls == "InputLayer":
            out.setdefault("module", "keras.layers")
            new = dict(config)
            if "batch_input_shape" in new and "batch_shape" not in new:
                new["batch_shape"] = new.pop("batch_input_shape")
            out["config"] = new
        else:
            if cls in CUDNN_CLASSES:
                new_cls = out["class_name"] = CUDNN_CLASSES[cls]
                out["module"] = "keras.layers"
                units = config.get("units")
                fewer = (
                    f", and it has {4 * units:,} parameters fewer: its input and recurrent "
                    "biases are added into one"
                    if new_cls == "LSTM" and isinstance(units, int) and not isinstance(units, bool)
                    else ""
                )
                self.changed(
                    f"layer '{out.get('name', '?')}' is Keras 2's `{cls}`, which is Keras 3's "
                    f"`{new_cls}` (it uses cuDNN where it can); its weights are converted "
                    f"when they are loaded{fewer}",
                    (*path, "class_name"),
                )
                cls = new_cls
            if "module" not in out and (cls in LAYER_TYPES or cls == "Lambda"):
                out["module"] = "keras.layers"
            out["config"] = self.kwargs(cls, config, (*path, "config"), out.get("name", "?"))
        if "inbound_nodes" in entry:
            out["inbound_nodes"] = self.nodes(
                entry["inbound_nodes"], shifted, (*path, "inbound_nodes")
            )
        return out

    def kwargs(self, cls: str, config: Mapping[str, Any], path: tuple, name: Any) -> dict[str, Any]:
        """A layer's kwargs, Keras 3's names; a wrapped layer's too."""
        out: dict[str, Any] = {}
        for key, value in config.items():
            if key in SHAPE_KWARGS:
                continue
            if key in IMPLEMENTATION_KWARGS and (
                key != "time_major" or value == IMPLEMENTATION_KWARGS[key]
            ):
                if value != IMPLEMENTATION_KWARGS[key]:
                    self.warn(
                        f"layer '{name}' (`{cls}`) sets Keras 2's `{key}: {short(value)}`, "
                        "which Keras 3 does not have (it picks the implementation itself; "
                        "the layer computes the same); it is not carried over",
                        (*path, key),
                    )
                continue
            if cls == "LeakyReLU" and key == "alpha":
                key = "negative_slope"
            if cls == "DepthwiseConv2D" and key == "groups" and value == 1:
                continue  # Keras 2's DepthwiseConv2D is a Conv2D, which has groups
            if cls == "BatchNormalization" and key == "axis" and _one_int(value):
                value = value[0]  # Keras 2 writes the axis of a built layer as a list
            out[key] = self.value(value, (*path, key), name)
        return out

    def value(self, value: Any, path: tuple, name: Any) -> Any:
        """A kwarg's value: a serialized object given its module, a wrapped layer read."""
        if not isinstance(value, Mapping):
            return value
        cls, config = value.get("class_name"), value.get("config")
        if not isinstance(cls, str) or not isinstance(config, Mapping):
            return value
        if cls in LAYER_TYPES and cls not in INITIALIZERS:  # a wrapper's layer
            out = dict(value)
            out.setdefault("module", "keras.layers")
            out["config"] = self.kwargs(cls, config, (*path, "config"), config.get("name", name))
            return out
        if cls == "L1L2":
            l1, l2 = config.get("l1", 0.0), config.get("l2", 0.0)
            if not l1:
                value = {"class_name": "L2", "config": {"l2": l2}}
            elif not l2:
                value = {"class_name": "L1", "config": {"l1": l1}}
            cls = value["class_name"]
        if "module" not in value:
            for module, table in OBJECT_MODULES:
                if cls in table:
                    return {**value, "module": module}
        return value

    def nodes(self, nodes: Any, shifted: Mapping[str, int], path: tuple) -> Any:
        """Keras 2's inbound nodes -> Keras 3's calls (``args`` and ``kwargs``)."""
        if not isinstance(nodes, list):
            return nodes
        out: list[Any] = []
        for node in nodes:
            if not isinstance(node, list):
                out.append(node)
                continue
            tensors, kwargs = [], {}
            for item in node:
                if not (isinstance(item, list) and len(item) == 4 and isinstance(item[3], Mapping)):
                    tensors.append(item)  # left for the import to report
                    continue
                layer, index, tensor, kwargs = item
                if layer == "_CONSTANT_VALUE":
                    tensors.append(tensor)
                    continue
                tensors.append(_tensor(layer, index, tensor, shifted))
            call_kwargs = {
                key: _tensor(*v, shifted) if _is_ref(v) else v for key, v in dict(kwargs).items()
            }
            args = [tensors[0]] if len(tensors) == 1 else [tensors] if tensors else []
            out.append({"args": args, "kwargs": call_kwargs})
        return out

    def training(self, config: Any, path: tuple) -> Any:
        """A ``training_config`` -> a ``compile_config``."""
        if not isinstance(config, Mapping):
            return config
        out = {k: v for k, v in config.items() if k != "optimizer_config"}
        if "optimizer_config" in config:
            out["optimizer"] = self.optimizer(
                config["optimizer_config"], (*path, "optimizer_config")
            )
        metrics = config.get("metrics")
        if metrics is not None:
            out["metrics"] = _metrics(metrics)
        if config.get("weighted_metrics") is None:
            out.pop("weighted_metrics", None)
        return out

    def optimizer(self, value: Any, path: tuple) -> Any:
        if not isinstance(value, Mapping) or not isinstance(value.get("class_name"), str):
            return value
        cls = value["class_name"].removeprefix("Custom>")
        config = value.get("config") if isinstance(value.get("config"), Mapping) else {}
        new: dict[str, Any] = {}
        for key, v in config.items():
            key = OPTIMIZER_RENAMES.get(key, key)
            if key in OPTIMIZER_DROPPED:
                continue
            if key in EMA_KEYS and not config.get("use_ema"):
                continue  # Keras 2's RMSprop writes a frequency of 100 for an EMA it does not keep
            if key == "decay":
                if v:
                    self.warn(
                        f"optimizer `{cls}` has Keras 2's `decay: {short(v)}` (learning rate "
                        "/ (1 + decay * step)), which Keras 3 optimizers do not have; it is "
                        "not carried over",
                        (*path, "config", "decay"),
                        "give the spec's optimizer a learning rate schedule by hand, if needed",
                    )
                continue
            new[key] = v
        return {"module": "keras.optimizers", "class_name": cls, "config": new}


def _sequential_input(entries: list[Any], layers: list[Any]) -> list[Any]:
    """A Sequential whose first layer carries the input shape (``batch_input_shape``)
    gets an InputLayer first, named and typed as Keras 2 made it."""
    first = entries[0] if entries else None
    config = first.get("config") if isinstance(first, Mapping) else None
    if not isinstance(config, Mapping) or first.get("class_name") == "InputLayer":
        return layers
    shape = config.get("batch_input_shape")
    if not isinstance(shape, list):
        return layers
    name = f"{config.get('name', 'input')}_input"
    entry = {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {"batch_shape": shape, "dtype": config.get("dtype", "float32"), "name": name},
        "name": name,
    }
    return [entry, *layers]


def _name(entry: Mapping[str, Any]) -> str | None:
    config = entry.get("config")
    name = entry.get("name", config.get("name") if isinstance(config, Mapping) else None)
    return name if isinstance(name, str) else None


def _skips_first_node(entry: Mapping[str, Any]) -> bool:
    """Whether Keras 2 counts a nested model's calls from 1: a Functional model, or a
    Sequential that starts with its own input (``_should_skip_first_node``)."""
    cls = entry.get("class_name")
    if cls in ("Model", "Functional"):
        return True
    if cls != "Sequential":
        return False
    config = entry.get("config")
    layers = config.get("layers") if isinstance(config, Mapping) else config
    if not isinstance(layers, list) or not layers or not isinstance(layers[0], Mapping):
        return False
    first = layers[0]
    inner = first.get("config") if isinstance(first.get("config"), Mapping) else {}
    return first.get("class_name") == "InputLayer" or "batch_input_shape" in inner


def _one_int(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], int)
        and not isinstance(value[0], bool)
    )


def _is_ref(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 3
        and isinstance(value[0], str)
        and all(isinstance(i, int) and not isinstance(i, bool) for i in value[1:])
    )


def _tensor(layer: Any, index: Any, tensor: Any, shifted: Mapping[str, int]) -> dict[str, Any]:
    """A Keras 3 serialized tensor for Keras 2's ``[layer, node, tensor]``; Keras 2
    records no shape or dtype."""
    if isinstance(index, int) and not isinstance(index, bool) and isinstance(layer, str):
        index -= shifted.get(layer, 0)
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [layer, index, tensor]}}


def _endpoints(value: Any, shifted: Mapping[str, int], layers: Mapping[str, Any]) -> Any:
    """``output_layers`` refs to a nested Sequential, counted from 0 as in Keras 3 (which
    counts a nested Functional's from 1, as Keras 2 does: left alone)."""

    def one(item: Any) -> Any:
        if _is_ref(item) and item[0] in shifted:
            entry = layers.get(item[0], {})
            if entry.get("class_name") == "Sequential":
                return [item[0], item[1] - shifted[item[0]], item[2]]
        return item

    if _is_ref(value):
        return one(value)
    if isinstance(value, list):
        return [one(v) for v in value]
    return value


def _metrics(value: Any) -> Any:
    """Keras 2's ``MeanMetricWrapper`` entries -> the function each wraps."""
    if isinstance(value, list):
        return [_metrics(v) for v in value]
    if isinstance(value, Mapping) and value.get("class_name") == "MeanMetricWrapper":
        config = value.get("config") if isinstance(value.get("config"), Mapping) else {}
        fn = config.get("fn")
        return fn if isinstance(fn, str) else value
    if isinstance(value, Mapping) and value.get("class_name") is None:
        return {k: _metrics(v) for k, v in value.items()}
    return value


def normalise(model: Any, file: str = "<config>") -> tuple[Any, list[Diagnostic]]:
    """``model`` (a Keras 2 config) in Keras 3's shape, and the warnings of what was
    not carried over; or ``(None, [error])`` for a Keras 1 config."""
    why = is_keras1(model)
    if why is not None:
        return None, [
            Diagnostic(
                ERROR,
                "MS623",
                f"the config is a Keras 1 model ({why}); modelspec imports Keras 2 and "
                "Keras 3 models",
                "load the model with Keras 2 and save it again with model.to_json()",
                file,
            )
        ]
    run = _Pass(file)
    cls = model.get("class_name")
    cls = cls if isinstance(cls, str) else None
    out = {k: v for k, v in model.items() if k not in ("keras_version", "backend")}
    if cls in MODEL_CLASSES:
        out["class_name"] = MODEL_CLASSES[cls]
        out["config"] = run.model(MODEL_CLASSES[cls], model.get("config"), ("config",))
    if "training_config" in model:
        out.pop("training_config")
        out["compile_config"] = run.training(model["training_config"], ("training_config",))
    return out, run.diagnostics
