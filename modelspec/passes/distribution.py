"""Checks of the ``distribution:`` section, done without Keras or a device.

A ``model_parallel`` distribution names a device mesh (axis -> size) and a layout:
rules that Keras's ``LayoutMap`` matches against each weight's path with
``re.fullmatch``, each giving one mesh axis or null per dimension of the weights it
matches. Everything here is what Keras or JAX would refuse later, once the model is
built on the devices, or would hang on:

- MS560: ``mesh``, ``layout`` or ``batch_axis`` beside a strategy that reads none of
  them; ``model_parallel`` without ``mesh`` and ``layout``.
- MS561: a layout (or ``batch_axis``) names an axis the mesh does not have, or names
  one axis twice.
- MS562: a rule is not a regular expression, or one whose matching time could blow up
  (:func:`rule_problem`).
- MS563: a rule matches no weight of the model: a typo, or a layer renamed.
- MS564: a weight matches two rules (Keras's LayoutMap refuses it).
- MS565: a rule's axes do not fit a weight it matches: a different number of
  dimensions, or a dimension the mesh axis does not divide (JAX splits evenly only).
- MS566: ``fit.batch_size`` is not a multiple of the batch axis's size.

What depends on the machine (the number of devices, processes) is checked by
``modelspec train`` (:mod:`modelspec.runtime.strategy`).

The weights and their paths come from :mod:`modelspec.passes.variables`; a layer whose
weights lint cannot list (a custom layer) makes "matches no weight" a warning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from modelspec.catalog.training import STRATEGY_BACKENDS
from modelspec.errors import ERROR, WARNING, Diagnostic, closest, did_you_mean

try:  # The parser of the `re` module, to see a rule's structure (NOTE: [safe rules]).
    from re import _parser as sre_parse  # Python 3.11+
    from re._constants import (
        ASSERT,
        ASSERT_NOT,
        BRANCH,
        GROUPREF,
        GROUPREF_EXISTS,
        MAX_REPEAT,
        MIN_REPEAT,
        SUBPATTERN,
    )
except ImportError:  # Python 3.10
    import sre_parse  # type: ignore[no-redef]
    from sre_constants import (  # type: ignore[no-redef]
        ASSERT,
        ASSERT_NOT,
        BRANCH,
        GROUPREF,
        GROUPREF_EXISTS,
        MAX_REPEAT,
        MIN_REPEAT,
        SUBPATTERN,
    )

# The parts of a rule that may repeat without a bound (`.*`, `[a-z]+`): each one
# multiplies the work of matching a path by up to its length.
MAX_OPEN_REPEATS = 3
_REFUSED_OPS = {
    GROUPREF: "a back-reference",
    GROUPREF_EXISTS: "a conditional group",
    ASSERT: "a lookahead or lookbehind",
    ASSERT_NOT: "a lookahead or lookbehind",
}
_REPEATS = {MAX_REPEAT, MIN_REPEAT}
# Python 3.11 adds possessive repeats (`a*+`) and atomic groups; they are refused as
# unusual rather than analysed.
_UNUSUAL = {op for name in ("POSSESSIVE_REPEAT", "ATOMIC_GROUP")
            if (op := getattr(sre_parse, name, None)) is not None}  # fmt: skip


def rule_problem(rule: str) -> str | None:
    """Why the layout rule ``rule`` may not be used, or None.

    # NOTE: [safe rules]
    Python's ``re`` (which Keras's LayoutMap uses, on every weight's path) backtracks:
    a rule such as ``(a+)+b`` or ``(a|aa)*b`` takes time exponential in the path's
    length, and a spec is untrusted. Neither ``re`` nor the standard library offers a
    time limit, so a rule is read with ``re``'s own parser and refused when a repeat
    holds another repeat or an alternative (the forms that backtrack exponentially),
    when it has more than :data:`MAX_OPEN_REPEATS` unbounded repeats (each multiplies
    the work by the path's length), or when it uses back-references or lookaround,
    which no weight path needs.
    """
    try:
        parsed = sre_parse.parse(rule)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"layout rule {rule!r} is not a regular expression: {exc}"
    open_repeats = 0

    def walk(items: Any, inside_repeat: bool) -> str | None:
        nonlocal open_repeats
        for op, av in items:
            if op in _REFUSED_OPS:
                return f"layout rule {rule!r} uses {_REFUSED_OPS[op]}"
            if op in _UNUSUAL:
                return f"layout rule {rule!r} uses a possessive repeat or an atomic group"
            if op in _REPEATS:
                if inside_repeat:
                    return f"layout rule {rule!r} repeats a part that repeats itself"
                low, high, body = av
                if high == sre_parse.MAXREPEAT or high > 64:
                    open_repeats += 1
                problem = walk(body, True)
            elif op is BRANCH:
                if inside_repeat:
                    return f"layout rule {rule!r} repeats a choice between alternatives"
                problem = next(filter(None, (walk(b, False) for b in av[1])), None)
            elif op is SUBPATTERN:
                problem = walk(av[-1], inside_repeat)
            else:
                problem = None
            if problem:
                return problem
        return None

    problem = walk(parsed, False)
    if problem is None and open_repeats > MAX_OPEN_REPEATS:
        problem = (
            f"layout rule {rule!r} has {open_repeats} unbounded repeats; "
            f"at most {MAX_OPEN_REPEATS} are allowed"
        )
    return problem


def layout_of(rules: Sequence[str], path: str) -> list[str]:
    """The rules Keras's LayoutMap applies to the weight ``path``: its exact key if it
    is one, else every rule that matches the whole path (Keras refuses two)."""
    if path in rules:
        return [path]
    return [rule for rule in rules if re.fullmatch(rule, path)]


def check_distribution(
    result: Any, variables: Sequence[Any] | None = None, unknown: Sequence[str] = ()
) -> list[Diagnostic]:
    """The ``distribution:`` section of the checked ``result`` (module docstring).

    ``variables``: the model's weights (``path``, ``shape``), as
    :func:`modelspec.passes.variables.model_variables` lists them; ``unknown``: layers
    whose weights it cannot list. None: only the section itself is checked.
    """
    dist = result.spec.distribution or {}
    strategy = dist.get("strategy")
    where = result.doc.diagnostic
    out: list[Diagnostic] = []
    if strategy != "model_parallel":
        for key in ("mesh", "layout", "batch_axis"):
            if key in dist:
                out.append(where(
                    "MS560", f"`distribution.{key}` is read by the model_parallel strategy "
                    f"only; this spec's strategy is {strategy}", ("distribution", key), key=True,
                    hint=f"remove `{key}`, or use `strategy: model_parallel`"))  # fmt: skip
        return out
    missing = [key for key in ("mesh", "layout") if key not in dist]
    if missing:
        what = " and ".join(f"`{k}`" for k in missing)
        out.append(where(
            "MS560", f"the model_parallel strategy needs {what}: the device mesh, and how "
            "each weight is split over it", ("distribution", "strategy"),
            hint="e.g. `mesh: {batch: 2, model: 4}` and `layout: {'.*dense.*/kernel': "
            "[null, model]}`; or use `strategy: data_parallel`"))  # fmt: skip
    mesh: Mapping[str, int] = dist.get("mesh") or {}
    rules: Mapping[str, list[str | None]] = dist.get("layout") or {}
    batch_axis = dist.get("batch_axis", next(iter(mesh), None))
    if mesh and batch_axis not in mesh:
        out.append(_unknown_axis(result, batch_axis, mesh, ("distribution", "batch_axis")))
    usable: dict[str, list[str | None]] = {}
    for rule, axes in rules.items():
        at = ("distribution", "layout", rule)
        problem = rule_problem(rule)
        if problem is not None:
            out.append(where("MS562", problem, at, key=True,
                             hint="write the layer's name and the weight's, e.g. "
                             "'dense_1/kernel' or '.*attention.*/kernel'"))  # fmt: skip
            continue
        bad = [i for i, axis in enumerate(axes) if axis is not None and axis not in mesh]
        for i in bad:
            out.append(_unknown_axis(result, axes[i], mesh, (*at, i)))
        named = [axis for axis in axes if axis is not None]
        twice = sorted({axis for axis in named if named.count(axis) > 1})
        if twice:
            out.append(where(
                "MS561", f"layout rule {rule!r} splits two dimensions over mesh axis "
                f"'{twice[0]}'; an axis splits one dimension at most", at,
                hint="give null to the other dimension"))  # fmt: skip
        if not bad and not twice and mesh:
            usable[rule] = list(axes)
    if variables is not None:
        out += _against_weights(result, mesh, rules, usable, variables, unknown)
    size = mesh.get(batch_axis) if isinstance(batch_axis, str) else None
    batch = (result.spec.fit or {}).get("batch_size", 32)
    if size and batch % size:
        in_fit = "batch_size" in (result.spec.fit or {})
        out.append(where(
            "MS566", f"batch size {batch} does not split over the {size} devices of "
            f"mesh axis '{batch_axis}'", ("fit", "batch_size") if in_fit else
            ("distribution", "mesh", batch_axis),
            hint=f"use a batch size that is a multiple of {size}, such as "
            f"{max(size, batch - batch % size)}"))  # fmt: skip
    return out


def _unknown_axis(result: Any, axis: Any, mesh: Mapping[str, int], at: tuple) -> Diagnostic:
    names = ", ".join(f"'{a}'" for a in mesh)
    guess = did_you_mean(str(axis), mesh)
    return result.doc.diagnostic(
        "MS561", f"mesh axis '{axis}' is not in the mesh, which has {names}", at,
        hint=guess or "name one of the mesh's axes")  # fmt: skip


def _against_weights(
    result: Any,
    mesh: Mapping[str, int],
    rules: Mapping[str, Any],
    usable: Mapping[str, list[str | None]],
    variables: Sequence[Any],
    unknown: Sequence[str],
) -> list[Diagnostic]:
    where = result.doc.diagnostic
    out: list[Diagnostic] = []
    safe = [rule for rule in rules if rule_problem(rule) is None]  # MS562 for the others
    matched: dict[str, list[Any]] = {rule: [] for rule in safe}
    for var in variables:
        hits = layout_of(safe, var.path)
        for rule in hits:
            matched[rule].append(var)
        if len(hits) > 1:
            out.append(where(
                "MS564", f"weight '{var.path}' matches {len(hits)} layout rules: "
                + ", ".join(repr(r) for r in hits) + "; Keras allows one",
                ("distribution", "layout", hits[1]), key=True,
                hint="make the rules exclusive, or give this weight its own rule, "
                "written as its exact path"))  # fmt: skip
    for rule in safe:
        at = ("distribution", "layout", rule)
        if not matched[rule]:
            level, also = ERROR, ""
            if unknown:
                names = ", ".join(f"'{n}'" for n in unknown[:3]) + ", ..." * (len(unknown) > 3)
                level, also = WARNING, f" lint can list (it cannot list those of {names})"
            near = closest(rule, (v.path for v in variables), n=2) or [
                v.path for v in variables[:2]]  # fmt: skip
            hint = (
                "a weight's path is its layer's name (after the model's, in a Sequential "
                "model), then the weight's"
                + (", such as " + " or ".join(f"'{p}'" for p in near) if near else "")
            )
            out.append(where("MS563", f"layout rule {rule!r} matches no weight{also}", at,
                             key=True, level=level, hint=hint))  # fmt: skip
            continue
        if rule not in usable:
            continue
        for var in matched[rule]:
            problem = _fit_problem(var, usable[rule], mesh)
            if problem:
                out.append(where("MS565", f"layout rule {rule!r}: {problem}", at, key=True,
                                 hint="change the rule's axes, or the mesh"))  # fmt: skip
                break
    return out


def _fit_problem(var: Any, axes: Sequence[str | None], mesh: Mapping[str, int]) -> str | None:
    shape = tuple(var.shape)
    if len(axes) != len(shape):
        return (f"weight '{var.path}' has {len(shape)} dimension{'s' * (len(shape) != 1)} "
                f"{list(shape)}, and the rule gives {len(axes)} axes")  # fmt: skip
    for dim, (n, axis) in enumerate(zip(shape, axes)):
        if axis is not None and n % mesh[axis]:
            return (f"dimension {dim} of weight '{var.path}' {list(shape)} has size {n}, "
                    f"which the {mesh[axis]} devices of mesh axis '{axis}' do not divide")  # fmt: skip
    return None


def devices_of(mesh: Mapping[str, int]) -> int:
    """How many devices a mesh spans."""
    return math.prod(mesh.values())


def backend_of(strategy: str) -> str | None:
    """The backend a strategy trains on; None for ``none``."""
    return STRATEGY_BACKENDS.get(strategy)
