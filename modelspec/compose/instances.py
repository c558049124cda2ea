"""Block steps: the instances of a block, and the steps of each.

A graph step ``{block: B, to: X, with: {...}}`` is an instance of block ``B``, named
after the step; its layers are ``{instance}_{layer}``, its steps ``{instance}_{step}``,
and the step's name then stands for the block's outputs. ``repeat: N`` makes instances
``{step}_block1`` ... ``{step}_blockN``, each fed by the one before; ``share: OTHER``
calls the layers of the earlier instance ``OTHER`` again; ``model:`` builds an instance
as a nested ``keras.Model`` (:mod:`modelspec.compose.nested`). :func:`step` expands any
graph step, at the top level or inside an instance.
"""

from __future__ import annotations

from typing import Any

from modelspec.compose.apply import apply_step
from modelspec.compose.context import Abort, Context, Nested, Scope
from modelspec.compose.syntax import BLOCK_STEP_KEYS, MODEL_CHOICES
from modelspec.errors import JsonPath, did_you_mean

MAX_BLOCK_DEPTH = 32  # blocks inside blocks inside ...


def step(
    cx: Context, name: str, spec: Any, path: JsonPath, scope: Scope | None, depth: int
) -> None:
    """Expand the graph step ``name``: a block step, an apply step, or a plain one."""
    env = scope.env if scope else cx.vars
    note = scope.note if scope else None
    if isinstance(spec, dict) and "block" in spec:
        head = {k: v for k, v in spec.items() if k != "with"}
        head = cx.substitute(head, env, path, note or "")
        block_step(cx, name, {**head, "with": spec.get("with", {})}, path, scope, depth)
    elif isinstance(spec, dict) and ("repeat" in spec or "when" in spec or scope is not None):
        apply_step(cx, name, spec, path, scope, env, note)
    else:  # a plain top-level step, already substituted
        cx.add_step(name, spec, path, None)


def block_step(
    cx: Context, name: str, spec: dict[str, Any], path: JsonPath, scope: Scope | None, depth: int
) -> None:
    """Expand the block step ``name`` into its instances (``repeat``), each a new one
    of the block or one that calls the layers of an earlier instance (``share``)."""
    prefix = f"{scope.instance}_" if scope else ""
    for key in spec:
        if key not in BLOCK_STEP_KEYS:
            raise cx.fail(
                "MS705",
                f"unknown key '{key}' in block step '{name}'",
                (*path, key),
                key=True,
                hint=did_you_mean(key, BLOCK_STEP_KEYS)
                or "a block step has block, to, with, repeat and share",
            )
    block_name = spec["block"]
    block = cx.blocks.get(block_name) if isinstance(block_name, str) else None
    if block is not None and scope is not None and scope.block.visible is not None:
        if block_name not in scope.block.visible:
            file = cx.doc.file_at(scope.block.path)
            raise cx.fail(
                "MS703",
                f"undefined block {block_name!r} in {file}",
                (*path, "block"),
                hint=f"block '{block_name}' is defined in "
                f"{cx.doc.file_at(block.path)}, which {file} does not include",
            )
    if block is None:
        defined = cx.data.get("blocks")
        if isinstance(block_name, str) and isinstance(defined, dict) and block_name in defined:
            raise Abort  # defined, but wrongly: already reported
        raise cx.fail(
            "MS703",
            f"undefined block {block_name!r}",
            (*path, "block"),
            hint=did_you_mean(str(block_name), cx.blocks) or "define it under `blocks:`",
        )
    if block_name in cx.stack or depth >= MAX_BLOCK_DEPTH:
        chain = " -> ".join([*cx.stack, block_name])
        raise cx.fail("MS708", f"block '{block_name}' contains itself: {chain}", (*path, "block"))
    count = cx.repeat_count(spec, path, len(block.layers) + len(block.graph))
    if count > 1 and (len(block.inputs) != 1 or len(block.outputs) != 1):
        raise cx.fail(
            "MS709",
            f"`repeat` feeds each instance into the next, so block '{block_name}' "
            "needs one input and one output",
            (*path, "repeat"),
        )
    to = spec.get("to")
    if isinstance(to, dict):
        raise cx.fail(
            "MS705",
            f"block '{block_name}' takes its input(s) ({', '.join(block.inputs)}) in order; "
            f"step '{name}' names them",
            (*path, "to"),
            hint="list the tensors in the order of the block's `inputs:`; names in `to:` "
            "are for the inputs of attention layers (query, value, key)",
        )
    args = to if isinstance(to, list) else [to]
    if len(args) != len(block.inputs) or not all(isinstance(a, str) for a in args):
        raise cx.fail(
            "MS705",
            f"block '{block_name}' takes {len(block.inputs)} input(s) "
            f"({', '.join(block.inputs)}); step '{name}' gives {len(args)}",
            (*path, "to"),
        )
    args = [cx.ref(a, scope, (*path, "to")) for a in args]
    given = spec.get("with") or {}
    if not isinstance(given, dict):
        raise cx.fail("MS705", "`with` must be a mapping of parameter values", (*path, "with"))
    for key in given:
        if key not in block.params and key not in block.required:
            raise cx.fail(
                "MS705",
                f"block '{block_name}' has no parameter '{key}'",
                (*path, "with", key),
                key=True,
                hint=did_you_mean(key, [*block.params, *block.required]),
            )
    share = spec.get("share")
    owner = None
    form = spec.get("model", block.model)
    if form not in MODEL_CHOICES or isinstance(form, int) and not isinstance(form, bool):
        raise cx.fail(
            "MS720",
            f"`model` must be true, false, functional or sequential, not {form!r}",
            (*path, "model"),
            hint="`model: true` builds the instance as a nested keras.Model",
        )
    if share is not None and "model" in spec:
        raise cx.fail(
            "MS723",
            "a shared instance calls what the instance it shares is: "
            "its layers, or its nested model; it takes no `model`",
            (*path, "model"),
            key=True,
            hint="remove `model:` here; set it on the instance it shares",
        )
    if share is not None:
        if given or count != 1:
            raise cx.fail(
                "MS711",
                "a shared instance has the parameters of the instance it shares: "
                "no `with` or `repeat`",
                (*path, "share"),
            )
        found = cx.instances.get(prefix + share) if isinstance(share, str) else None
        if found is None or found[0] != block_name:
            what = (
                "is not an earlier instance" if found is None else f"is an instance of '{found[0]}'"
            )
            raise cx.fail(
                "MS711",
                f"`share: {share}` {what}; it must name an earlier instance of "
                f"block '{block_name}'",
                (*path, "share"),
            )
        owner = found[1]
        params = cx.instance_params[prefix + share]
        form = False
        if found[1] in cx.models:
            form = cx.models[found[1]].form
    else:
        missing = [p for p in block.required if p not in given]
        if missing:
            raise cx.fail(
                "MS705",
                f"block '{block_name}' needs parameter(s) {', '.join(missing)}",
                (*path, "with") if "with" in spec else path,
                key=True,
            )
    env = scope.env if scope else cx.vars
    line = cx.doc.position(path, key=True)[0]
    where = cx.line_of(path, beside=block.path)  # the instance, for the block's notes
    block_vars = cx.vars if block.vars is None else block.vars
    source = args
    # The nested model this instance is inside, if any: the innermost in the chain.
    parent = next((i for i, _ in reversed(scope.chain) if i in cx.models), None) if scope else None
    for index in range(1, count + 1):
        local = name if count == 1 else f"{name}_block{index}"
        instance = prefix + local
        note = f"in instance '{instance}' of block '{block_name}', {where}"
        if owner is None and scope is not None and scope.shared:
            # Inside a shared instance, an instance calls the layers of the one at its
            # place in the instance shared: the whole sub-tree shares its weights.
            owner = f"{scope.owner}_{local}"
            shared_inner = True
        else:
            shared_inner = False
        if share is None:
            call_env = {**env, "index": index} if count > 1 else env
            defaults = cx.substitute(block.params, block_vars, (*block.path, "params"), note)
            params = {**defaults, **cx.substitute(given, call_env, (*path, "with"), note)}
        cx.instance_params[instance] = params
        inner = Scope(
            block,
            instance,
            owner or instance,
            dict(zip(block.inputs, source, strict=True)),
            {**block_vars, **params},
            note,
            shared=owner is not None,
            chain=(*(scope.chain if scope else ()), (instance, block_name)),
        )
        cx.instances[instance] = (block_name, inner.owner)
        if share is not None:
            cx.shares[instance] = prefix + share
        elif shared_inner:
            cx.shares[instance] = inner.owner
        nested_form = (
            cx.models[inner.owner].form if shared_inner and inner.owner in cx.models else form
        )
        if nested_form is not False:
            cx.models[instance] = Nested(
                inner.owner,
                block_name,
                "auto" if nested_form is True else nested_form,
                instance[len(parent) + 1 :] if parent else instance,
                parent,
                tuple(zip(block.inputs, source, strict=True)),
                (),
                path,
                line,
            )
        cx.stack.append(block_name)
        try:
            instantiate(cx, inner, depth)
        finally:
            cx.stack.pop()
        outs = [cx.ref(o, inner, (*block.path, "outputs", i)) for i, o in enumerate(block.outputs)]
        if instance in cx.models:
            cx.model_outs[instance] = outs
        cx.alias(instance, outs[0] if len(outs) == 1 else outs, path)
        source = [instance]
        if shared_inner:
            owner = None
    if count > 1:
        cx.alias(prefix + name, f"{prefix}{name}_block{count}", path)


def instantiate(cx: Context, scope: Scope, depth: int) -> None:
    """Expand each step of the block of ``scope``, the instance."""
    block = scope.block
    for sname, sspec in block.graph.items():
        spath = (*block.path, "graph", sname)
        if not isinstance(sspec, dict):
            cx.error("MS704", f"step '{sname}' of block '{block.name}' must be a mapping", spath)
            continue
        try:
            step(cx, sname, sspec, spath, scope, depth + 1)
        except Abort:
            continue
