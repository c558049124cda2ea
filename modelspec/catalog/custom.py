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
only when the project allows it (``allow-modules`` in the trusted settings, see
:mod:`modelspec.source.project`, or ``--allow-module``): a spec naming a module that is not
allowed is an error (MS321), and nothing is imported. Even an allowed module is
imported only when something needs the class: ``equiv``, ``train`` and ``to_keras()``,
a shape rule written in Python, or Keras asked for what the spec does not declare.

# NOTE: [layer classes, not callables]
An allowed module may hold much besides layer classes: functions, model factories
(``keras.applications.ResNet50(weights=PATH)``), objects. A spec names only a class,
so before anything of it is called, the name is checked (:func:`layer_class`): a
class, whose method resolution order holds ``keras.layers.Layer`` and not
``keras.Model``; read from the class's ``__mro__`` slot, so no metaclass hook runs.
Anything else is MS326. A shape rule is a plain Python function defined in the
module it is named in (not one it imported, not a class or a callable object), else
MS323. Lint creates a layer with the spec's kwargs to ask Keras only when the person
running it asks for that (``--ask-keras``; :attr:`Project.ask_keras`).

# NOTE: [custom shapes]
A custom layer's output shape comes from, in order:

1. ``shape: same``: the first input's shape (elementwise layers);
2. ``shape: mypkg.layers.scale_shape``: a function in an allowed module, called as a
   catalogue rule is, ``rule(kwargs, input_shapes) -> shape`` (batch axis first,
   ``None`` for unknown), raising :class:`~modelspec.catalog.base.ShapeError` (or any
   ``ValueError``) for inputs that do not fit;
3. Keras, when the module is allowed, Keras is installed and the command line says
   ``--ask-keras``: the layer is created with the spec's kwargs and called on symbolic
   tensors (``compute_output_shape``, or Keras's tracing of ``call`` where the class
   has none).

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
import json
import keyword
import re
import types
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


def keyword_part(path: str) -> str | None:
    """The first part of a dotted path that is a Python keyword (``mypkg.class.X``
    cannot be imported or written in code), or None."""
    return next((part for part in path.split(".") if keyword.iskeyword(part)), None)


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
    """Whether Keras and its backend's package are installed (not imported: finding
    them costs nothing; the backend is ``KERAS_BACKEND``'s, see
    :mod:`modelspec.runtime.backend`)."""
    from modelspec.runtime.backend import BackendUnavailable, require

    try:
        require()
    except BackendUnavailable:
        return False
    return True


def _allow_hint(module: str) -> str:
    return (
        f"if you trust it, allow it with `--allow-module {module}` or in pyproject.toml: "
        f'[tool.modelspec] allow-modules = ["{module}"]'
    )


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
            out.append(
                Diagnostic.at(
                    ERROR,
                    "MS322",
                    f"custom layer type '{ct.name}' has the name of the catalogue's `{ct.name}`",
                    src,
                    "give the custom type another name",
                )
            )
            continue
        bad = keyword_part(ct.cls)
        if bad is not None:
            out.append(
                Diagnostic.at(
                    ERROR,
                    "MS325",
                    f"custom layer type '{ct.name}' is `{ct.cls}`, which is "
                    f"not an import path: '{bad}' is a Python keyword",
                    src,
                    "name the class by a path Python can import",
                )
            )
            continue
        rule = ct.shape
        if rule is not None and rule != SAME:
            module = rule.rpartition(".")[0]
            if keyword_part(rule) is not None:
                out.append(
                    Diagnostic.at(
                        ERROR,
                        "MS325",
                        f"the shape rule of custom layer type '{ct.name}' "
                        f"is `{rule}`, which is not an import path: "
                        f"'{keyword_part(rule)}' is a Python keyword",
                        src,
                    )
                )
            elif not CLASS_PATH.match(rule):
                out.append(
                    Diagnostic.at(
                        ERROR,
                        "MS323",
                        f"the shape rule of custom layer type '{ct.name}' "
                        f"is {rule!r}: write `same` or a function as module.function",
                        src,
                    )
                )
            elif not allowed(project, module):
                out.append(
                    Diagnostic.at(
                        ERROR,
                        "MS323",
                        f"the shape rule of custom layer type '{ct.name}' "
                        f"is in module '{module}', which is not allowed",
                        src,
                        _allow_hint(module),
                    )
                )
            elif ct.name in used and allowed(project, ct.module):
                try:
                    _function(rule)
                except NotAShapeRule as exc:
                    out.append(
                        Diagnostic.at(
                            ERROR,
                            "MS323",
                            f"the shape rule of custom layer type '{ct.name}': {exc}",
                            src,
                            "write the rule as a function "
                            "`def rule(kwargs, shapes)` in that module",
                        )
                    )
                except Exception:  # noqa: BLE001,S110 - the module's own failure: MS324 at each call
                    pass
        if not allowed(project, ct.module):
            out.append(
                Diagnostic.at(
                    ERROR,
                    "MS321",
                    f"custom layer type '{ct.name}' is `{ct.cls}`, and "
                    f"module '{ct.module}' is not allowed to provide layers; a spec "
                    "cannot allow it itself",
                    src,
                    _allow_hint(ct.module),
                )
            )
            continue
        if ct.name in used and (rule is None or ct.params is None) and not can_ask_keras(project):
            what = "shapes are unchecked" if rule is None else "parameters are unknown"
            why = (
                "Keras (with its backend's package) is not installed to ask"
                if project.ask_keras
                else "lint asks Keras only with --ask-keras"
            )
            out.append(
                Diagnostic.at(
                    WARNING,
                    "MS320",
                    f"custom layer type '{ct.name}': its {what}; the spec "
                    f"declares no `{'shape' if rule is None else 'params'}:` and {why}",
                    src,
                    "declare `shape: same` for an elementwise layer, a shape rule "
                    "in an allowed module, and `params:`; or run lint with --ask-keras "
                    "to create the layer and ask Keras",
                )
            )
    if can_ask_keras(project):  # Keras is loaded anyway: check every class before it is asked
        out += check_layer_classes(
            {
                n: ct
                for n, ct in custom.items()
                if allowed(project, ct.module)
                and n not in LAYER_TYPES
                and keyword_part(ct.cls) is None
            },
            used,
        )
    return out


def allowed(project: Any, module: str) -> bool:
    return project is not None and project.allows_module(module)


def can_ask_keras(project: Any) -> bool:
    """Whether lint may create a custom layer to ask Keras (see NOTE: [layer classes,
    not callables]): only when asked for, and with Keras installed."""
    return project is not None and project.ask_keras and keras_available()


def check_layer_classes(custom: Mapping[str, CustomType], used: set[str]) -> list[Diagnostic]:
    """MS326 for each used custom type whose class is not a Keras layer class; imports
    the (allowed) modules, and Keras."""
    from modelspec.runtime.classes import NotALayerClass, layer_class

    out = []
    for ct in custom.values():
        if ct.name not in used:
            continue
        try:
            layer_class(ct.cls)
        except NotALayerClass as exc:
            out.append(
                Diagnostic.at(
                    ERROR,
                    "MS326",
                    f"custom layer type '{ct.name}' is `{ct.cls}`: {exc}",
                    ct.source,
                    "name a subclass of keras.layers.Layer; functions, "
                    "models and model factories are not layers",
                )
            )
    return out


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
    """The shape rule at ``path``: a plain function defined in that module (see NOTE:
    [layer classes, not callables])."""
    module, _, name = path.rpartition(".")
    func = importlib.import_module(module).__dict__.get(name)
    if not isinstance(func, types.FunctionType) or func.__module__ != module:
        what = "nothing" if func is None else f"a {type(func).__name__}"
        if isinstance(func, types.FunctionType):
            what = f"a function imported from '{func.__module__}'"
        raise NotAShapeRule(f"'{path}' is {what}, not a function defined in module '{module}'")
    return func


class NotAShapeRule(Exception):
    """A shape rule's path names something else than a function of its module (MS323)."""


def custom_facts(
    ct: CustomType, kwargs: Mapping[str, Any], shapes: Sequence[Shape], project: Any
) -> tuple[Any, tuple[int, int] | None]:
    """``(output shape or None, parameters or None)`` of one call (see the note above).

    Raises :class:`ShapeError` from a rule, :class:`CustomShapeError` when a rule or
    Keras fails otherwise.
    """
    if ct.name in LAYER_TYPES or not allowed(project, ct.module) or keyword_part(ct.cls):
        return None, None  # reported by check_custom
    out: Any = None
    params: tuple[int, int] | None = None
    if ct.params is not None:
        params = (ct.params, 0) if kwargs.get("trainable", True) is not False else (0, ct.params)
    if ct.shape == SAME:
        out = tuple(shapes[0])
    elif ct.shape is not None:
        if (not CLASS_PATH.match(ct.shape) or keyword_part(ct.shape)
                or not allowed(project, ct.shape.rpartition(".")[0])):  # fmt: skip
            return None, params  # reported by check_custom
        try:
            out = _shape(_function(ct.shape)(dict(kwargs), [tuple(s) for s in shapes]))
        except NotAShapeRule:
            return None, params  # reported by check_custom
        except (ShapeError, CustomShapeError):
            raise
        except Exception as exc:  # noqa: BLE001 - the user's rule: report, never crash
            raise CustomShapeError(
                f"the shape rule {ct.shape} failed: {type(exc).__name__}: {exc}"
            ) from None
    if (out is None or params is None) and can_ask_keras(project):
        from modelspec.runtime.classes import NotALayerClass, ask_keras

        try:
            shape, counted = ask_keras(
                ct.cls,
                json.dumps(dict(kwargs), sort_keys=True),
                tuple(tuple(s) for s in shapes),
                ct.inputs,
            )
        except NotALayerClass:
            return out, params  # reported by check_layer_classes
        except Exception as exc:  # noqa: BLE001 - the user's class: report, never crash
            raise CustomShapeError(
                f"Keras could not call `{ct.cls}` on "
                f"{', '.join(map(str, shapes))}: {type(exc).__name__}: {exc}"
            ) from None
        out = out if out is not None else _shape(shape)
        params = params if params is not None else counted
    return out, params
