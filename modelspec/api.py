"""The Python API: load a spec once, then build, render or train it.

Example::

    >>> import modelspec
    >>> spec = modelspec.load("specs/seed_001_mlp.yaml")       # doctest: +SKIP
    >>> model = spec.to_keras()                                 # doctest: +SKIP
    >>> source = spec.to_python(form="functional")              # doctest: +SKIP
    >>> model = modelspec.build_model("specs/seed_001_mlp.yaml")  # doctest: +SKIP

``load`` raises :class:`~modelspec.errors.SpecError` when the spec has errors; its
``diagnostics`` are the ones ``modelspec lint`` prints.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelspec.check import check
from modelspec.errors import SpecError
from modelspec.lower.plan import Plan, plan
from modelspec.passes.result import Result


@dataclass(frozen=True)
class SpecModel:
    """A checked spec and its build plan."""

    result: Result
    plan: Plan

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def forms(self) -> tuple[str, ...]:
        """``("functional", "sequential")``, or only ``("functional",)`` for a graph."""
        return self.plan.forms

    def to_keras(
        self,
        form: str = "auto",
        *,
        compile: bool = True,
        weights: str | os.PathLike[str] | bool | None = None,
        weights_map: Mapping[str, str] | None = None,
        skip_mismatch: bool | None = None,
    ) -> Any:
        """A new ``keras.Model``: new layers, new weights, a new optimizer, every call.

        With a ``weights:`` section in the spec, or ``weights=FILE``, the model starts
        from that file's weights, matched by layer name; ``weights_map`` maps layer
        names of this model to names in the file. Each of the three defaults to the
        spec's value; ``weights=False`` starts from fresh weights. A problem with the
        file raises :class:`~modelspec.runtime.weights.WeightsError` before anything is loaded.
        """
        from modelspec.runtime.instantiate import to_keras

        return to_keras(
            self.plan,
            form,
            compile=compile,
            weights=weights,
            weights_map=weights_map,
            skip_mismatch=skip_mismatch,
        )

    def to_python(self, form: str = "auto") -> str:
        """The source ``modelspec build`` writes."""
        from modelspec.emit.keras_py import render

        return render(self.plan, form)


def load(path: str | os.PathLike[str]) -> SpecModel:
    """Check the spec at ``path``; :class:`SpecError` if it has errors."""
    result = check(path)
    if not result.ok:
        raise SpecError(result.errors)
    if result.library:
        raise SpecError([result.not_a_model()])
    return SpecModel(result, plan(result))


def build_model(
    path: str | os.PathLike[str],
    form: str = "auto",
    *,
    compile: bool = True,
    weights: str | os.PathLike[str] | bool | None = None,
    weights_map: Mapping[str, str] | None = None,
    skip_mismatch: bool | None = None,
) -> Any:
    """``load(path).to_keras(form, ...)``: the model straight from the spec."""
    return load(path).to_keras(
        form, compile=compile, weights=weights, weights_map=weights_map, skip_mismatch=skip_mismatch
    )
