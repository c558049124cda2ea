"""The definitions a spec composes from: ``vars:`` and ``blocks:``.

:func:`read_vars` evaluates the vars in order (MS701); :func:`read_blocks` reads and
checks each block definition (MS704, MS720) into a :class:`~modelspec.compose.context.Block`,
before any instance of it is expanded.
"""

from __future__ import annotations

from typing import Any

from modelspec.compose.context import Abort, Block, Context
from modelspec.compose.lexer import KEYWORDS
from modelspec.compose.syntax import BLOCK_KEYS, MODEL_CHOICES
from modelspec.errors import JsonPath, did_you_mean
from modelspec.lower.parse import to_snake_case


def read_vars(cx: Context, raw: Any) -> None:
    """Evaluate ``vars:`` in order into ``cx.vars``; a var may use those before it."""
    if raw is None:
        return
    if not isinstance(raw, dict):
        cx.error("MS701", "`vars` must be a mapping of names to values", ("vars",))
        return
    for name, value in raw.items():
        path = ("vars", name)
        if not name.isidentifier() or name in KEYWORDS or name == "index":
            cx.error(
                "MS701",
                f"invalid variable name {name!r}",
                path,
                key=True,
                hint="variable names are identifiers (letters, digits, '_'), not "
                "`index` or a keyword",
            )
            continue
        try:
            cx.vars[name] = cx.substitute(value, cx.vars, path)
        except Abort:
            cx.failed_vars.add(name)


def read_blocks(cx: Context, raw: Any) -> None:
    """Read ``blocks:`` into ``cx.blocks``; an included block sees its own file's vars."""
    if raw is None:
        return
    if not isinstance(raw, dict):
        cx.error("MS704", "`blocks` must be a mapping of names to block definitions", ("blocks",))
        return
    for name, spec in raw.items():
        try:
            cx.blocks[name] = block = read_block(cx, name, spec, ("blocks", name))
        except Abort:
            continue
        lib = cx.owners.get(name)
        if lib is not None:
            block.vars, block.visible = cx.lib_vars.get(lib.file, {}), lib.visible


def read_block(cx: Context, name: str, spec: Any, path: JsonPath) -> Block:
    """Block ``name``'s definition, checked, with a name for each of its inline layers."""
    if not isinstance(spec, dict):
        raise cx.fail("MS704", f"block '{name}' must be a mapping", path)
    for key in spec:
        if key not in BLOCK_KEYS:
            raise cx.fail(
                "MS704",
                f"unknown key '{key}' in block '{name}'",
                (*path, key),
                key=True,
                hint=did_you_mean(key, BLOCK_KEYS) or f"a block has {', '.join(BLOCK_KEYS)}",
            )

    def names(key: str, *, at_least_one: bool) -> tuple[str, ...]:
        value = spec.get(key, [])
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise cx.fail(
                "MS704", f"`{key}` of block '{name}' must be a list of names", (*path, key)
            )
        if at_least_one and not value:
            raise cx.fail("MS704", f"block '{name}' needs `{key}`: a list of names", path, key=True)
        return tuple(value)

    inputs, outputs = names("inputs", at_least_one=True), names("outputs", at_least_one=True)
    required = names("required", at_least_one=False)
    params = spec.get("params", {})
    layers = spec.get("layers", {})
    graph = spec.get("graph")
    for key, value in (("params", params), ("layers", layers)):
        if not isinstance(value, dict):
            raise cx.fail("MS704", f"`{key}` of block '{name}' must be a mapping", (*path, key))
    if not isinstance(graph, dict) or not graph:
        raise cx.fail(
            "MS704",
            f"block '{name}' needs a `graph` with at least one step",
            (*path, "graph") if "graph" in spec else path,
            key="graph" not in spec,
        )
    for param in required:
        if param in params:
            raise cx.fail(
                "MS704",
                f"parameter '{param}' of block '{name}' is both required and given a default",
                (*path, "params", param),
                key=True,
            )
    model = spec.get("model", False)
    if model not in MODEL_CHOICES or isinstance(model, int) and not isinstance(model, bool):
        raise cx.fail(
            "MS720",
            f"`model` of block '{name}' must be true, false, functional or "
            f"sequential, not {model!r}",
            (*path, "model"),
            hint="`model: true` builds each instance as a nested keras.Model",
        )
    block = Block(name, path, params, required, inputs, outputs, layers, graph, model)
    taken = set(layers)
    counts: dict[str, int] = {}
    for sname, step in graph.items():
        if isinstance(step, dict) and "apply" in step:
            apply = step["apply"]
            items = enumerate(apply) if isinstance(apply, list) else [(None, apply)]
            for i, use in items:
                if isinstance(use, dict):
                    upath = (sname, "apply") if i is None else (sname, "apply", i)
                    block.inline[upath] = inline_name(use, taken, counts)
    return block


def inline_name(use: dict[str, Any], taken: set[str], counts: dict[str, int]) -> str:
    """An inline layer's name in its block: its own, or its type's, numbered."""
    if isinstance(use.get("name"), str):
        taken.add(use["name"])
        return use["name"]
    base = to_snake_case(use["type"]) if isinstance(use.get("type"), str) else "layer"
    while True:
        n = counts.get(base, 0)
        counts[base] = n + 1
        name = base if n == 0 else f"{base}_{n}"
        if name not in taken:
            taken.add(name)
            return name
