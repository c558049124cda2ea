"""A Keras model's ``compile_config`` -> the spec's ``compile:`` section and each
output's ``loss``, ``loss_weight`` and ``metrics``.

Losses, optimizers and metrics are looked up in :mod:`modelspec.catalog.training`; a
loss or an optimizer with arguments becomes ``{type: Class, **non-default kwargs}``,
a metric only a name with its default arguments. Anything else is MS617.

A model saved on any backend reads the same: an optimizer class of a backend's own
(PyTorch's) is read as the public class it stands for (:func:`optimizer_module`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from modelspec.catalog import training as tc
from modelspec.catalog.base import Kwarg
from modelspec.errors import WARNING, Diagnostic, did_you_mean
from modelspec.importer import values as vals
from modelspec.importer.context import Context
from modelspec.importer.values import short

COMPILE_KEYS = frozenset(
    {
        "optimizer",
        "loss",
        "loss_weights",
        "metrics",
        "weighted_metrics",
        "run_eagerly",
        "steps_per_execution",
        "jit_compile",
        "auto_scale_loss",
    }
)


def read_compile(
    ctx: Context, names: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """Per-output ``loss``/``loss_weight``/``metrics``, and the ``compile`` section."""
    config = ctx.model.get("compile_config")
    if not isinstance(config, Mapping) or not config:
        return {}, None
    path = ("compile_config",)
    per: dict[str, dict[str, Any]] = {n: {} for n in names}
    losses = _per_output(ctx, config.get("loss"), names, (*path, "loss"), "loss")
    for n in names:
        loss = losses.get(n)
        per[n]["loss"] = None if loss is None else _loss(ctx, loss, (*path, "loss"), n)
    if all(per[n]["loss"] is None for n in names) and not ctx.failed:
        # keras.Model.compile(optimizer) alone, for evaluation or a custom loop: a
        # spec's `compile` means training, which needs a loss.
        ctx.diagnostics.append(
            Diagnostic(
                WARNING,
                "MS621",
                "the model is compiled without a loss; the spec gets no `compile` section",
                None,
                ctx.file,
                1,
                1,
                (*path, "loss"),
            )
        )
        return {}, None
    weights = _per_output(
        ctx, config.get("loss_weights"), names, (*path, "loss_weights"), "loss_weights"
    )
    for n, w in weights.items():
        if w is None:
            continue
        if isinstance(w, bool) or not isinstance(w, (int, float)):
            ctx.error(
                "MS617",
                f"the loss weight of output '{n}' is {short(w)}, not a number",
                (*path, "loss_weights"),
            )
            continue
        per[n]["loss_weight"] = float(w)
    metrics = _per_output(
        ctx, config.get("metrics"), names, (*path, "metrics"), "metrics", nested=True
    )
    for n, ms in metrics.items():
        if ms is None:
            continue
        items = ms if isinstance(ms, list) else [ms]
        written = [_metric(ctx, m, (*path, "metrics"), n) for m in items if m is not None]
        if written:
            per[n]["metrics"] = written
    if config.get("weighted_metrics"):
        ctx.error(
            "MS617",
            "the model is compiled with `weighted_metrics`, which a spec cannot write",
            (*path, "weighted_metrics"),
            "move them to `metrics`, or drop them",
        )
    out: dict[str, Any] = {
        "optimizer": _optimizer(ctx, config.get("optimizer", "rmsprop"), (*path, "optimizer"))
    }
    if config.get("jit_compile") is True:
        out["jit_compile"] = True
    if config.get("run_eagerly") is True:
        out["run_eagerly"] = True
    steps = config.get("steps_per_execution", 1)
    if isinstance(steps, int) and not isinstance(steps, bool) and steps > 1:
        out["steps_per_execution"] = steps
    for key, value in config.items():
        if key not in COMPILE_KEYS and value not in (None, False, [], {}):
            ctx.error(
                "MS617",
                f"the compile config sets `{key}: {short(value)}`, which a spec's `compile` "
                "cannot write",
                (*path, key),
            )
    return per, out


def _per_output(
    ctx: Context, value: Any, names: list[str], path: tuple, what: str, *, nested: bool = False
) -> dict[str, Any]:
    """A compile argument given for all outputs, as a list, or as a dict -> by output."""
    if value is None:
        return {}
    if isinstance(value, Mapping) and value.get("class_name") is None:
        unknown = [k for k in value if k not in names]
        for k in unknown:
            ctx.error(
                "MS617",
                f"the compile config's `{what}` names output '{k}', which the model does not have",
                path,
                did_you_mean(k, names),
            )
        return {n: value.get(n) for n in names}
    if isinstance(value, list) and (
        len(names) > 1 or (nested and value and isinstance(value[0], list))
    ):
        if nested and not all(v is None or isinstance(v, list) for v in value):
            if len(names) == 1:
                return {names[0]: value}
            ctx.error(
                "MS617",
                f"the compile config's `{what}` is a flat list for {len(names)} outputs; a "
                "spec gives each output its own",
                path,
            )
            return {}
        if len(value) != len(names):
            ctx.error(
                "MS617",
                f"the compile config's `{what}` has {len(value)} entries for {len(names)} outputs",
                path,
            )
            return {}
        return dict(zip(names, value))
    if isinstance(value, list) and len(value) == 1 and not nested:
        return {names[0]: value[0]}
    return {n: value for n in names}


def _loss(ctx: Context, value: Any, path: tuple, output: str) -> Any:
    name = vals.function_name(value)
    if name is not None:
        if name in tc.LOSS_NAMES:
            return name
        ctx.error(
            "MS617",
            f"the loss of output '{output}' is {name!r}, which a spec cannot name",
            path,
            did_you_mean(name, tc.LOSS_NAMES),
        )
        return None
    if isinstance(value, Mapping) and value.get("module") == "keras.losses":
        cls = value.get("class_name")
        kwargs = tc.LOSS_CLASSES.get(cls) if isinstance(cls, str) else None
        if kwargs is None:
            ctx.error(
                "MS617",
                f"the loss of output '{output}' is `{cls}`, which a spec cannot write",
                path,
                did_you_mean(str(cls), tc.LOSS_CLASSES),
            )
            return None
        return _typed(
            ctx, cls, kwargs, value.get("config"), path, f"loss `{cls}` of output '{output}'"
        )
    ctx.error(
        "MS617",
        f"the loss of output '{output}' is {short(value)}, which a spec cannot write",
        path,
    )
    return None


def _typed(
    ctx: Context,
    cls: str,
    kwargs: tuple[Kwarg, ...],
    config: Any,
    path: tuple,
    who: str,
    *,
    floats: bool = False,
) -> dict[str, Any]:
    """``{type: Class, **non-default kwargs}`` for a loss or an optimizer."""
    out: dict[str, Any] = {"type": cls}
    known = {k.name: k for k in kwargs}
    if not isinstance(config, (Mapping, type(None))):
        ctx.error("MS617", f"{who} has a config that is not a mapping: {short(config)}", path)
        return out
    for key, value in (config or {}).items():
        if key == "name" or (key == "dtype" and vals.is_float32(value)):
            continue
        kwarg = known.get(key)
        if kwarg is None:
            if value is None:
                continue
            ctx.error(
                "MS617",
                f"{who} sets `{key}: {short(value)}`, which a spec cannot write",
                path,
                did_you_mean(key, known),
            )
            continue
        if isinstance(value, Mapping):
            ctx.error(
                "MS617",
                f"{who} has {key} {vals.show(value)}; a spec writes only plain values",
                path,
            )
            continue
        if floats and isinstance(value, float):
            value = vals.short_float(value)
        if vals.same_default(kwarg, value):
            continue
        out[key] = value
    return out


# NOTE: [backend optimizer classes]
# Keras saves an object under its class's module. On TensorFlow and JAX an optimizer is
# the public class (`keras.optimizers`), but on PyTorch `keras.optimizers.Adam()` makes
# a subclass of the backend's own (TorchOptimizer.__new__ picks
# `keras.src.backend.torch.optimizers.torch_adam.Adam`), saved under that module, with
# the public class's name and config. Read as data, it is that public class.
_BACKEND_OPTIMIZERS = re.compile(r"keras\.src\.backend\.\w+\.optimizers?(\.\w+)*")


def optimizer_module(module: Any, cls: Any) -> Any:
    """``keras.optimizers`` for a backend's own class of a public optimizer, else
    ``module`` as saved (see NOTE: [backend optimizer classes]).

    >>> optimizer_module("keras.src.backend.torch.optimizers.torch_adam", "Adam")
    'keras.optimizers'
    >>> optimizer_module("mypackage.optimizers", "Adam")
    'mypackage.optimizers'
    """
    public = isinstance(cls, str) and cls in tc.OPTIMIZERS
    if public and isinstance(module, str) and _BACKEND_OPTIMIZERS.fullmatch(module):
        return "keras.optimizers"
    return module


# What a spec's plan wraps the optimizer in under mixed_float16 (LossScaleOptimizer's
# defaults): a saved one with other arguments is not what the spec would build.
LOSS_SCALE_DEFAULTS = {"initial_scale": 32768.0, "dynamic_growth_steps": 2000}


def _optimizer(ctx: Context, value: Any, path: tuple) -> Any:
    if (
        isinstance(value, Mapping)
        and value.get("class_name") == "LossScaleOptimizer"
        and value.get("module") == "keras.optimizers"
        and isinstance(value.get("config"), Mapping)
    ):
        return _loss_scaled(ctx, value["config"], path)
    if isinstance(value, str):
        if value.lower() in tc.OPTIMIZER_NAMES:
            return value.lower()
        ctx.error(
            "MS617",
            f"the optimizer {value!r} is not one a spec can name",
            path,
            did_you_mean(value.lower(), tc.OPTIMIZER_NAMES),
        )
        return "adam"
    cls = value.get("class_name") if isinstance(value, Mapping) else None
    if (
        not isinstance(value, Mapping)
        or optimizer_module(value.get("module"), cls) != "keras.optimizers"
        or not isinstance(cls, str)
        or cls not in tc.OPTIMIZERS
    ):
        ctx.error(
            "MS617",
            f"the optimizer {short(value)} is not one a spec can write",
            path,
            f"spec optimizers: {', '.join(tc.OPTIMIZERS)}",
        )
        return "adam"
    typed = _typed(
        ctx, cls, tc.OPTIMIZERS[cls], value.get("config"), path, f"optimizer `{cls}`", floats=True
    )
    return cls.lower() if len(typed) == 1 else typed


def _loss_scaled(ctx: Context, config: Mapping[str, Any], path: tuple) -> Any:
    """A LossScaleOptimizer: its inner optimizer, under mixed_float16 (a spec's build
    wraps the optimizer in it again, with its default arguments); else refused."""
    if ctx.policy != "mixed_float16":
        ctx.error(
            "MS617",
            f"the model is compiled with a LossScaleOptimizer under dtype policy {ctx.policy}; "
            "a spec scales the loss only under mixed_float16",
            path,
            "compile it with the inner optimizer, or build the model under mixed_float16",
        )
        return "adam"
    for key, default in LOSS_SCALE_DEFAULTS.items():
        if key in config and not vals.same_number(config[key], default):
            ctx.error(
                "MS617",
                f"the model's LossScaleOptimizer has `{key}: {short(config[key])}`; a spec's "
                f"loss scaling keeps Keras's default ({default})",
                path,
            )
    return _optimizer(ctx, config.get("inner_optimizer"), (*path, "config", "inner_optimizer"))


def _metric(ctx: Context, value: Any, path: tuple, output: str) -> Any:
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
                key in ("name", "dtype") or (key in defaults and vals.same_number(v, defaults[key]))
                for key, v in config.items()
            )
        ):
            return cls
    shown = repr(name) if name is not None else short(value)
    ctx.error(
        "MS617",
        f"metric {shown} of output '{output}' is not one a spec can name",
        path,
        "spec metrics are names (accuracy, mae, AUC, ...) with default arguments",
    )
    return "accuracy"
