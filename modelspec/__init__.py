"""modelspec: declarative, checked Keras models.

A spec (YAML or JSON) describes inputs, layers, calls of those layers, outputs and
training. modelspec validates it, checks names, cycles and shapes, and counts
parameters, all without TensorFlow.

Example::

    >>> import modelspec
    >>> result = modelspec.check("specs/seed_001_mlp.yaml")   # doctest: +SKIP
    >>> result.ok                                              # doctest: +SKIP
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Diagnostic",
    "ModelspecError",
    "Result",
    "SpecError",
    "SpecModel",
    "WeightsError",
    "__version__",
    "build_model",
    "check",
    "check_text",
    "load",
    "load_weights_by_name",
]

_LAZY = {
    "SpecModel": "modelspec.api",
    "build_model": "modelspec.api",
    "load": "modelspec.api",
    "Result": "modelspec.passes.result",
    "check": "modelspec.check",
    "check_text": "modelspec.check",
    "Diagnostic": "modelspec.errors",
    "ModelspecError": "modelspec.errors",
    "SpecError": "modelspec.errors",
    "WeightsError": "modelspec.runtime.weights",
    "load_weights_by_name": "modelspec.runtime.weights",
}

if TYPE_CHECKING:
    from modelspec.api import SpecModel, build_model, load
    from modelspec.check import check, check_text
    from modelspec.errors import Diagnostic, ModelspecError, SpecError
    from modelspec.passes.result import Result
    from modelspec.runtime.weights import WeightsError, load_weights_by_name


def __getattr__(name: str) -> Any:
    # Imported on first use, so `modelspec --version` and `modelspec schema` do not
    # pay for the loader, the catalogue and the passes.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'modelspec' has no attribute {name!r}")
