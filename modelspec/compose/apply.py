"""Apply steps in composition: ``when``, ``repeat``, and the layers a chain calls.

``when: false`` drops a step, and its name then stands for its input. ``repeat: N``
applies the chain N times (steps ``{step}_1`` ... ``{step}``), with ``index`` in the
step. Inside a block instance, :func:`layer_uses` names each layer the chain calls for
the expanded spec: a layer of the block's ``layers:`` is made on its first call, an
inline one is made at each application.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelspec.compose.context import Context, Scope
from modelspec.compose.nested import set_home
from modelspec.compose.syntax import map_call_refs, map_refs
from modelspec.errors import JsonPath, did_you_mean


def apply_step(
    cx: Context,
    name: str,
    spec: dict[str, Any],
    path: JsonPath,
    scope: Scope | None,
    env: Mapping[str, Any],
    note: str | None,
) -> None:
    """Expand the apply step ``name``: drop it (``when: false``) for its input, or make
    its ``repeat`` applications of the chain, each fed by the one before."""
    prefix = f"{scope.instance}_" if scope else ""
    head = cx.substitute(
        {k: v for k, v in spec.items() if k in ("when", "repeat")},
        env,
        path,
        note or "",
        "head",
    )
    when = head.get("when", True)
    if not isinstance(when, bool):
        raise cx.fail(
            "MS710",
            f"`when` must be true or false, not {when!r}",
            (*path, "when"),
        )
    if not when:
        to = spec.get("to")
        if not isinstance(to, str):
            raise cx.fail(
                "MS710",
                f"step '{name}' is dropped by `when`, so it stands for its input, "
                "but it has several",
                (*path, "to"),
            )
        cx.alias(
            prefix + name,
            cx.ref(cx.substitute(to, env, (*path, "to")), scope, (*path, "to")),
            path,
        )
        return
    count = cx.repeat_count(head, path, 1)
    body = {k: v for k, v in spec.items() if k not in ("when", "repeat")}
    source = None

    def rename(ref: str, where: JsonPath) -> str:
        return cx.ref(ref, scope, (*path, *where))

    for index in range(1, count + 1):
        rep = cx.substitute(body, {**env, "index": index} if count > 1 else env, path, note or "")
        if "op" not in rep:  # an op step calls no layer
            rep["apply"] = layer_uses(
                cx, rep.get("apply"), path, scope, index if count > 1 else None
            )
        if "to" in rep and source is None:
            rep["to"] = map_refs(rep["to"], rename, ("to",))
        elif "to" in rep and "op" in rep and isinstance(rep["to"], list):
            # An op's operands: the one before feeds its first tensor, `[h, 1]` ->
            # `[step_1, 1]`; the rest stay as written.
            to = map_refs(rep["to"], rename, ("to",))
            first = next((i for i, v in enumerate(to) if isinstance(v, str)), 0)
            rep["to"] = [source if i == first else v for i, v in enumerate(to)]
        elif "to" in rep:
            rep["to"] = source
        rep = map_call_refs(rep, rename)
        out = prefix + (name if index == count else f"{name}_{index}")
        cx.add_step(out, rep, path, note)
        if scope is not None:
            cx.groups[out] = scope.chain
        source = out


def layer_uses(cx, apply: Any, path: JsonPath, scope: Scope | None, index: int | None) -> Any:
    """The layers one application of a chain calls, named for the expanded spec."""
    items = apply if isinstance(apply, list) else [apply]
    out = []
    for i, use in enumerate(items):
        where = (*path, "apply", i) if isinstance(apply, list) else (*path, "apply")
        local = ("apply", i) if isinstance(apply, list) else ("apply",)
        if scope is None:
            if isinstance(use, dict) and index is not None and isinstance(use.get("name"), str):
                use = {**use, "name": f"{use['name']}_{index}"}
            out.append(use)
        elif isinstance(use, str):
            if use not in scope.block.layers:
                raise cx.fail(
                    "MS706",
                    f"undefined layer '{use}' in block '{scope.block.name}'",
                    where,
                    hint=did_you_mean(use, scope.block.layers)
                    or "a block's steps call the layers defined in the block",
                )
            full = f"{scope.owner}_{use}"
            if not scope.shared and full not in cx.layers:
                # Made when first called, so a layer only a dropped step (`when:
                # false`) calls is not made at all in this instance.
                lpath = (*scope.block.path, "layers", use)
                value = cx.substitute(scope.block.layers[use], scope.env, lpath, scope.note)
                cx.add_layer(full, value, lpath, scope.note)
            cx.used.add((scope.block.name, use))
            set_home(cx, full, scope)
            out.append(full)
        elif isinstance(use, dict):
            # An inline layer in a block becomes a named layer of the instance, so a
            # shared instance can call it again.
            lname = scope.block.inline.get((path[-1], *local))
            if lname is None:  # pragma: no cover - read_block names every inline layer
                raise cx.fail("MS706", "inline layer without a name", where)
            full = f"{scope.owner}_{lname}" + (f"_{index}" if index is not None else "")
            if not scope.shared:
                cx.add_layer(full, {k: v for k, v in use.items() if k != "name"}, where, scope.note)
            set_home(cx, full, scope)
            out.append(full)
        else:
            out.append(use)
    return out if isinstance(apply, list) else out[0]
