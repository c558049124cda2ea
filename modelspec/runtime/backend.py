"""Which Keras backend a command runs on: TensorFlow, JAX or PyTorch.

Keras reads its backend once, when it is first imported: from ``KERAS_BACKEND``, else
from ``keras.json`` in its home folder, else TensorFlow. A command's ``--backend``
sets ``KERAS_BACKEND`` before that (:func:`choose`), and :func:`require`, which
:func:`modelspec.runtime.quiet.quiet_import` calls before ``import keras``, checks
that the backend's package is installed, so that a missing one is named with the
extra that installs it instead of failing inside Keras.

What a spec asks that its backend cannot give is :func:`unsupported`: a distribution
strategy of another backend (``tf.distribute`` on TensorFlow, ``keras.distribution``
on JAX, none on PyTorch: MS550), string inputs off TensorFlow (MS551), float64 on JAX
without ``JAX_ENABLE_X64`` (MS552).

Example::

    >>> choose("jax")                                                  # doctest: +SKIP
    >>> require()                                                      # doctest: +SKIP
    'jax'

Nothing here imports Keras, or the backends: finding a package costs nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from modelspec.errors import ERROR, Diagnostic, ModelspecError

# The backends modelspec runs on, each with the package Keras imports for it; the
# extra of modelspec that installs it has the same name (pyproject.toml).
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
BACKENDS = tuple(PACKAGES)


class BackendError(ModelspecError):
    """The Keras backend a command asks for cannot be used here (exit code 2)."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        self.message, self.hint = message, hint
        super().__init__([Diagnostic(ERROR, "MS000", message, hint)])

    def __str__(self) -> str:
        return self.message + (f" (hint: {self.hint})" if self.hint else "")

    def text(self) -> str:
        """As the command line prints it: ``modelspec: error: ...`` and the hint."""
        return f"modelspec: error: {self.message}" + (
            f"\n    hint: {self.hint}" if self.hint else ""
        )


class BackendUnavailable(BackendError, ImportError):
    """The backend's package (or Keras) is not installed; the hint names the extra."""


def install_hint(backend: str) -> str:
    """``pip install 'modelspec[jax]'``: Keras and the backend, as modelspec needs them."""
    extra = backend if backend in PACKAGES else "tensorflow"
    return f"pip install 'modelspec[{extra}]'"


def configured() -> str:
    """The backend Keras runs on, or will once imported: its own choice if it is
    loaded, else ``KERAS_BACKEND``, else ``keras.json``'s, else ``tensorflow``."""
    keras = sys.modules.get("keras")
    if keras is not None:
        return str(keras.config.backend())
    name = os.environ.get("KERAS_BACKEND")
    if name:  # Keras ignores an empty value
        return name
    return _from_keras_json() or "tensorflow"


def _from_keras_json() -> str | None:
    """``keras.json``'s backend, where Keras looks for it (``KERAS_HOME``, else
    ``~/.keras``, else ``/tmp/.keras`` when the home folder cannot be written)."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    try:
        with open(os.path.join(os.path.expanduser(home), "keras.json"), encoding="utf-8") as fh:
            name = json.load(fh).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) and name else None


def choose(name: str | None) -> None:
    """Run Keras on ``name`` (None: leave the choice to Keras). Raises
    :class:`BackendError` when Keras is already loaded on another backend: it cannot
    change in a running process."""
    if name is None:
        return
    if name not in PACKAGES:
        raise BackendError(
            f"unknown backend {name!r}; modelspec runs on {', '.join(BACKENDS)}",
        )
    keras = sys.modules.get("keras")
    if keras is not None and keras.config.backend() != name:
        raise BackendError(
            f"Keras is already loaded on the {keras.config.backend()} backend in this "
            f"process, and cannot switch to {name}",
            "run the command in a new process",
        )
    os.environ["KERAS_BACKEND"] = name


def require(
    find_spec: Callable[[str], Any] = importlib.util.find_spec, *, name: str | None = None
) -> str:
    """The backend Keras runs on (:func:`configured`), or ``name`` (for a process of
    its own), checked to be installed, with Keras; raises :class:`BackendUnavailable`
    naming the extra that installs it.

    A backend Keras knows and modelspec does not list (``numpy``, ``openvino``) is
    left to Keras."""
    if name is None:
        name = configured()
        if sys.modules.get("keras") is not None:  # None: blocked, as if not installed
            return name
    for package in ("keras", PACKAGES.get(name)):
        if package is not None and find_spec(package) is None:
            raise unavailable(name, missing=package)
    return name


def unavailable(name: str, detail: str = "", *, missing: str | None = None) -> BackendUnavailable:
    """The error for Keras on backend ``name`` that cannot be imported: the package
    ``missing`` is not installed, or the import failed (``detail``, Python's word)."""
    if missing == "keras":
        message = f"Keras is not installed (to run on the {name} backend)"
    elif missing is not None:
        message = f"Keras's {name} backend needs the `{missing}` package, which is not installed"
    else:
        message = f"Keras cannot be imported on the {name} backend: {detail}"
    return BackendUnavailable(
        message,
        f"{install_hint(name)}, or choose another backend with --backend or KERAS_BACKEND",
    )


def needs_tensorflow(exc: ImportError, name: str) -> BackendError:
    """Keras's ImportError for a layer that needs TensorFlow (StringLookup, Hashing,
    ...: Keras 3.15 says so when it creates one), on the backend ``name``."""
    return BackendError(
        f"Keras cannot build or train this model on the {name} backend: {exc}",
        f"use --backend tensorflow ({install_hint('tensorflow')})",
    )


def strategy_problem(strategy: str, backend: str) -> tuple[str, str] | None:
    """``(message, hint)`` when the distribution ``strategy`` cannot train on
    ``backend``; None when it can (``none`` trains everywhere)."""
    from modelspec.catalog.training import STRATEGY_BACKENDS

    needs = STRATEGY_BACKENDS.get(strategy)
    if needs is None or needs == backend:
        return None
    what = (
        "a tf.distribute strategy, which needs Keras's TensorFlow backend"
        if needs == "tensorflow"
        else "Keras's distribution API (keras.distribution), which Keras runs on JAX only"
    )
    if backend == "torch":
        hint = (
            "Keras has no distribution for PyTorch: train on one device (--strategy none), "
            "or on several with --backend jax (data_parallel, model_parallel) or --backend "
            "tensorflow (mirrored, multi_worker_mirrored)"
        )
    elif needs == "tensorflow":
        hint = "train with --backend tensorflow, or use data_parallel, or give --strategy none"
    else:
        hint = "train with --backend jax, or use mirrored, or give --strategy none"
    return f"{what}; this run is on {backend}", hint


def unsupported(result: Any, backend: str, *, strategy: bool = True) -> list[Diagnostic]:
    """What the checked spec ``result`` asks that ``backend`` cannot give, at the spec's
    lines: a ``distribution.strategy`` of another backend (MS550; ``strategy=False`` when
    the command line overrides it), inputs of ``dtype: string`` off TensorFlow (MS551),
    float64 on JAX without 64-bit numbers (MS552)."""
    out = []
    dist = result.spec.distribution or {}
    problem = strategy_problem(dist.get("strategy", "none"), backend) if strategy else None
    if problem is not None:
        out.append(
            result.doc.diagnostic(
                "MS550",
                f"`distribution.strategy: {dist['strategy']}` is {problem[0]}",
                ("distribution", "strategy"),
                hint=problem[1],
            )
        )
    if backend == "jax" and not jax_x64():
        out += _float64_on_jax(result)
    if backend == "tensorflow":
        return out
    for inp in result.spec.inputs:
        if inp.dtype == "string":
            out.append(
                result.doc.diagnostic(
                    "MS551",
                    f"input '{inp.name}' has dtype string, which only Keras's TensorFlow "
                    f"backend can feed to a model (tf.string tensors); this run is on {backend}",
                    ("inputs", inp.name, "dtype"),
                    hint="use --backend tensorflow, or feed the model numbers (token ids) "
                    "and look them up before it",
                )
            )
    return out


# The values JAX reads as true in JAX_ENABLE_X64 (its bool_env).
_TRUE = frozenset({"1", "y", "yes", "t", "true", "on"})


def jax_x64() -> bool:
    """Whether JAX computes in 64 bits here: its config once it is imported (a program
    may set it), else ``JAX_ENABLE_X64``. Without it JAX makes every float64 array
    float32, with a warning at most."""
    jax = sys.modules.get("jax")
    value = getattr(getattr(jax, "config", None), "jax_enable_x64", None)
    if isinstance(value, bool):
        return value
    return os.environ.get("JAX_ENABLE_X64", "").strip().lower() in _TRUE


def _float64_on_jax(result: Any) -> list[Diagnostic]:
    """MS552 at each ``float64`` policy of the spec: the model's, and layers' own."""
    hint = (
        "set JAX_ENABLE_X64=1 in the environment, or use --backend tensorflow or torch, "
        "or a float32 policy"
    )
    what = (
        "JAX computes it in float32 unless 64-bit numbers are enabled "
        "(JAX_ENABLE_X64 is not on), with no error"
    )
    out = []
    if result.spec.dtype_policy == "float64":
        out.append(
            result.doc.diagnostic(
                "MS552", f"`dtype_policy: float64` on jax: {what}", ("dtype_policy",), hint=hint
            )
        )
    for inp in result.spec.inputs:
        if inp.dtype == "float64":
            out.append(
                result.doc.diagnostic(
                    "MS552",
                    f"input '{inp.name}' has `dtype: float64` on jax: {what}",
                    ("inputs", inp.name, "dtype"),
                    hint=hint.replace("a float32 policy", "float32"),
                )
            )
    from modelspec.catalog.precision import held_specs

    for layer in result.spec.layers.values():
        spec = {"type": layer.type, **layer.kwargs}
        for keys, held in [((), spec), *held_specs(spec)]:
            if held.get("dtype") == "float64":
                who = f"`{layer.type}` '{layer.name}'"
                if keys:
                    who = f"the `{held.get('type')}` that {who} holds"
                out.append(
                    result.doc.diagnostic(
                        "MS552",
                        f"{who} has `dtype: float64` on jax: {what}",
                        (*layer.source.path, *keys, "dtype"),
                        hint=hint,
                    )
                )
    return out
