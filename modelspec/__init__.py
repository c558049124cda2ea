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

__version__ = "0.1.0"

from modelspec.check import Result, check, check_text  # noqa: E402
from modelspec.errors import Diagnostic, ModelspecError, SpecError  # noqa: E402

__all__ = [
    "Diagnostic",
    "ModelspecError",
    "Result",
    "SpecError",
    "__version__",
    "check",
    "check_text",
]
