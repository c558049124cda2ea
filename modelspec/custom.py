"""Custom layer types: classes outside the catalogue, declared in a spec's ``custom:``.

.. code-block:: yaml

    custom:
      CustomScaleLayer:
        class: keras.src.applications.inception_resnet_v2.CustomScaleLayer
        inputs: 2          # tensors one call takes; more than one are passed as a list
        shape: same        # the output has the first input's shape
        params: 0          # trainable parameters per layer
    layers:
      block35_1_ac: {type: CustomScaleLayer, scale: 0.17}

A spec only *names* the class. The class's module is trusted code, and it is imported
only when the project allows it (``allow-modules`` in ``[tool.modelspec]``, or
``--allow-module``): a spec naming a module that is not allowed is an error (MS321),
and nothing is imported. Even an allowed module is imported only when something needs
the class: ``build`` and ``equiv``, a shape rule written in Python, or Keras asked for
what the spec does not declare.

# NOTE: [custom shapes]
A custom layer's output shape comes from, in order:

1. ``shape: same``: the first input's shape (elementwise layers);
2. ``shape: mypkg.layers.scale_shape``: a function in an allowed module, called as a
   catalogue rule is, ``rule(kwargs, input_shapes) -> shape`` (batch axis first,
   ``None`` for unknown), raising :class:`~modelspec.catalog.base.ShapeError` (or any
   ``ValueError``) for inputs that do not fit;
3. Keras, when the module is allowed and Keras is installed: the layer is created with
   the spec's kwargs and called on symbolic tensors (``compute_output_shape``, or
   Keras's tracing of ``call`` where the class has none).

Its parameters come from ``params:``, else from Keras the same way. Without either,
the shapes are unchecked (warning MS320): everything downstream of the layer has an
unknown shape, and its parameters are unknown (``summary`` says so).

A custom layer's kwargs are plain JSON values (numbers, strings, booleans, null and
lists of them); a mapping never reaches the class, which could hand it to Keras's
deserializer.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.base import Shape, ShapeError
from modelspec.errors import ERROR, WARNING, Diagnostic
from modelspec.ir import Source

# A type name under `custom:`; dotted class and function paths.
TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+"
CLASS_PATH = re.compile(DOTTED + r"\Z")
SAME = "same"

_SCALAR = ["number", "string", "boolean", "null"]
# A custom layer's kwarg: a plain value, or a list of them nested at most twice.
PLAIN_VALUE: dict[str, Any] = {
    "type": [*_SCALAR, "array"],
    "items": {"type": [*_SCALAR, "array"], "items": {"type": _SCALAR}},
}


@dataclass(frozen=True, slots=True)
class CustomType:
    """One entry of ``custom:``: a layer class by import path, and its rules."""

    name: str
    cls: str  # module.Class
    inputs: int
    shape: str | None  # "same", a dotted function path, or None (ask Keras)
    params: int | None
    source: Source  # of the entry's key

    @property
    def module(self) -> str:
        return self.cls.rpartition(".")[0]


def custom_types(data: Any, source: Any) -> dict[str, CustomType]:
    """The well-formed entries of a document's ``custom:`` (the schema reports the rest).

    ``source(path, key=...)`` gives a :class:`Source` for a JSON path.
    """
    section = data.get("custom") if isinstance(data, dict) else None
    out: dict[str, CustomType] = {}
    for name, entry in section.items() if isinstance(section, dict) else ():
        if not isinstance(entry, dict) or not TYPE_NAME.match(name):
            continue
        cls = entry.get("class")
        if not isinstance(cls, str) or not CLASS_PATH.match(cls):
            continue
        inputs = entry.get("inputs", 1)
        shape = entry.get("shape")
        params = entry.get("params")
        out[name] = CustomType(
            name,
            cls,
            inputs
            if isinstance(inputs, int) and not isinstance(inputs, bool) and inputs > 0
            else 1,
            shape if isinstance(shape, str) else None,
            params if isinstance(params, int) and not isinstance(params, bool) else None,
            source(("custom", name), key=True),
        )
    return out


def keras_available() -> bool:
    """Whether Keras is installed (not imported: finding it costs nothing)."""
    return importlib.util.find_spec("keras") is not None


def _diag(level: str, code: str, message: str, src: Source, hint: str | None = None) -> Diagnostic:
    return Diagnostic(level, code, message, hint, src.file, src.line, src.col, src.path)


def _allow_hint(module: str) -> str:
    return (f"if you trust it, allow it with `--allow-module {module}` or in pyproject.toml: "
            f'[tool.modelspec] allow-modules = ["{module}"]')  # fmt: skip


def check_custom(
    custom: Mapping[str, CustomType], used: set[str], project: Any
) -> list[Diagnostic]:
    """What is wrong with the ``custom:`` declarations, before any shape is computed.

    ``used`` holds the custom types the spec's layers use. Nothing is imported here.
    """
    out: list[Diagnostic] = []
    for ct in custom.values():
        src = ct.source
        if ct.name in LAYER_TYPES:
            out.append(_diag(ERROR, "MS322", f"custom layer type '{ct.name}' has the name of the "
                             f"catalogue's `{ct.name}`", src, "give the custom type another name"))  # fmt: skip
            continue
        rule = ct.shape
        if rule is not None and rule != SAME:
            module = rule.rpartition(".")[0]
            if not CLASS_PATH.match(rule):
                out.append(_diag(ERROR, "MS323", f"the shape rule of custom layer type '{ct.name}' "
                                 f"is {rule!r}: write `same` or a function as module.function",
                                 src))  # fmt: skip
            elif not allowed(project, module):
                out.append(_diag(ERROR, "MS323", f"the shape rule of custom layer type '{ct.name}' "
                                 f"is in module '{module}', which is not allowed", src,
                                 _allow_hint(module)))  # fmt: skip
        if not allowed(project, ct.module):
            out.append(_diag(ERROR, "MS321", f"custom layer type '{ct.name}' is `{ct.cls}`, and "
                             f"module '{ct.module}' is not allowed to provide layers; a spec "
                             "cannot allow it itself", src, _allow_hint(ct.module)))  # fmt: skip
            continue
        if ct.name in used and (rule is None or ct.params is None) and not keras_available():
            what = "shapes are unchecked" if rule is None else "parameters are unknown"
            out.append(_diag(WARNING, "MS320", f"custom layer type '{ct.name}': its {what}; the spec "
                             f"declares no `{'shape' if rule is None else 'params'}:` and Keras is "
                             "not installed to ask", src,
                             "declare `shape: same` for an elementwise layer, a shape rule "
                             "in an allowed module, and `params:`"))  # fmt: skip
    return out


def allowed(project: Any, module: str) -> bool:
    return project is not None and project.allows_module(module)


class CustomShapeError(Exception):
    """A custom layer's shape or parameters could not be computed (MS324)."""


def _shape(value: Any) -> Shape | list[Shape]:
    """A rule's or Keras's answer as a shape (or a list of them), checked."""
    if isinstance(value, list) and value and all(isinstance(v, (list, tuple)) for v in value):
        return [_shape(v) for v in value]  # type: ignore[misc]
    if isinstance(value, (list, tuple)) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in value
    ):
        return tuple(value)
    raise CustomShapeError(f"the rule returned {value!r}, not a shape")


@functools.lru_cache(maxsize=64)
def _function(path: str) -> Any:
    module, _, name = path.rpartition(".")
    func = getattr(importlib.import_module(module), name, None)
    if not callable(func):
        raise CustomShapeError(f"'{path}' is not a function")
    return func


@functools.lru_cache(maxsize=1024)
def _ask_keras(
    cls: str, kwargs_json: str, shapes: tuple, inputs: int
) -> tuple[Any, tuple[int, int]]:
    """Output shape and ``(trainable, non_trainable)`` parameters, from Keras itself."""
    from modelspec.instantiate import quiet_import

    keras = quiet_import("keras")

    module, _, name = cls.rpartition(".")
    layer_cls = getattr(importlib.import_module(module), name)
    layer = layer_cls(**json.loads(kwargs_json))
    tensors = [keras.KerasTensor(s, dtype="float32") for s in shapes]
    out = layer(tensors if inputs > 1 else tensors[0])
    outs = out if isinstance(out, (list, tuple)) else [out]
    shape = [tuple(t.shape) for t in outs]

    def count(weights: Sequence[Any]) -> int:
        return sum(math.prod(w.shape) for w in weights)

    params = (count(layer.trainable_weights), count(layer.non_trainable_weights))
    return (shape if isinstance(out, (list, tuple)) else shape[0]), params


def custom_facts(
    ct: CustomType, kwargs: Mapping[str, Any], shapes: Sequence[Shape], project: Any
) -> tuple[Any, tuple[int, int] | None]:
    """``(output shape or None, parameters or None)`` of one call (see the note above).

    Raises :class:`ShapeError` from a rule, :class:`CustomShapeError` when a rule or
    Keras fails otherwise.
    """
    if ct.name in LAYER_TYPES or not allowed(project, ct.module):
        return None, None  # reported by check_custom
    out: Any = None
    params: tuple[int, int] | None = None
    if ct.params is not None:
        params = (ct.params, 0) if kwargs.get("trainable", True) is not False else (0, ct.params)
    if ct.shape == SAME:
        out = tuple(shapes[0])
    elif ct.shape is not None:
        if not CLASS_PATH.match(ct.shape) or not allowed(project, ct.shape.rpartition(".")[0]):
            return None, params  # reported by check_custom
        try:
            out = _shape(_function(ct.shape)(dict(kwargs), [tuple(s) for s in shapes]))
        except (ShapeError, CustomShapeError):
            raise
        except Exception as exc:  # noqa: BLE001 - the user's rule: report, never crash
            raise CustomShapeError(
                f"the shape rule {ct.shape} failed: {type(exc).__name__}: {exc}"
            ) from None
    if (out is None or params is None) and keras_available():
        try:
            shape, counted = _ask_keras(ct.cls, json.dumps(dict(kwargs), sort_keys=True),
                                        tuple(tuple(s) for s in shapes), ct.inputs)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the user's class: report, never crash
            raise CustomShapeError(f"Keras could not call `{ct.cls}` on "
                                   f"{', '.join(map(str, shapes))}: {type(exc).__name__}: {exc}") from None  # fmt: skip
        out = out if out is not None else _shape(shape)
        params = params if params is not None else counted
    return out, params
