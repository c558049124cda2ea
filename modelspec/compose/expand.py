"""Composition: ``vars``, ``${...}`` expressions, blocks, repeats and shared instances.

:func:`expand` turns a spec that uses them into a plain spec -- the same document
with no ``vars``, ``blocks``, block steps, ``repeat`` or ``when`` -- before the schema
and every later check see it. The expanded document keeps positions: a value that
came from a block definition points at its line in the block, and
:attr:`Expanded.notes` names the instance it belongs to, so a diagnostic says both.

The rules (``docs/spec.md`` has the user's view):

1. ``vars:`` are evaluated in order; a var may use the vars before it.
2. Every ``${...}`` outside ``blocks:`` is evaluated with the vars.
3. A graph step ``{block: B, to: X, with: {...}}`` is an *instance* of block ``B``,
   named after the step. Its parameters are ``B``'s ``params`` defaults, overridden
   by ``with``; the block's ``${...}`` are evaluated with the vars and those
   parameters. Its layers are named ``{instance}_{layer}``, its steps
   ``{instance}_{step}``; the step's name then stands for the block's output
   (``name[i]`` for the i-th of several).
4. ``repeat: N`` on a block step makes instances ``{step}_block1`` ...
   ``{step}_blockN``, each fed by the one before, with ``index`` (1-based) in
   ``with``. On an ``apply`` step it applies the chain N times (steps ``{step}_1``
   ... ``{step}``), with ``index`` in the step; inline layers are new each time (an
   explicit ``name`` gets ``_{index}``), layers from ``layers:`` are called again.
5. ``share: OTHER`` on a block step calls the layers of the earlier instance
   ``OTHER`` of the same block again: the same weights on another input.
6. ``when: false`` on an ``apply`` step drops it, and its name then stands for its
   input: ``when: ${project}`` makes a projection shortcut optional.
7. ``model: true`` (on the block, or on the block step, which wins) builds an
   instance as a nested ``keras.Model`` named after the instance; see the note on
   nested models below.

# NOTE: [nested models]
A nested instance expands exactly as an inlined one: its layers are ``{instance}_{layer}``
in the flat spec, so every check (names, cycles, shapes, parameters) and every seed
(``plan.derive_seed`` reads the flat name) is the same in both forms. What changes is
how the flat spec maps to Keras: :attr:`Expanded.models` records, for each instance
built as a nested model, the model it calls (its own, or the one it shares), its
Keras name and the tensors it takes and gives. Keras scopes layer names per model,
so inside the nested model ``I`` the layer ``I_L`` is named ``L``, and a nested model
inside it, ``I_J``, is named ``J``. Only a nested instance's outputs may be read from
outside it (MS725).

Nothing here reaches Python's ``eval``: expressions are :mod:`modelspec.compose.expr`'s.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelspec.compose import template
from modelspec.compose.errors import ExprError
from modelspec.compose.lexer import KEYWORDS
from modelspec.compose.limits import Budget
from modelspec.compose.locate import locate
from modelspec.compose.scan import COMPOSE_KEYS, uses_composition  # noqa: F401 (re-exported)
from modelspec.compose.values import copy_value, value_size
from modelspec.errors import ERROR, WARNING, Diagnostic, JsonPath, Stop, did_you_mean
from modelspec.ir import split_ref
from modelspec.lower.parse import to_snake_case
from modelspec.source.include import Library, gather, merge
from modelspec.source.loader import Document
from modelspec.source.project import Project, find_project

BLOCK_KEYS = (
    "description", "params", "required", "inputs", "outputs", "layers", "graph", "model",
)  # fmt: skip
BLOCK_STEP_KEYS = ("block", "to", "with", "repeat", "share", "model", "description")
# `model:` values: build the instance inline, or as a nested keras.Model of the class
# `true` picks (Sequential for a plain stack), or of the class named.
MODEL_CHOICES = (True, False, "functional", "sequential")
# A spec that expands past this many layers plus steps is refused: a short spec must
# not be able to make lint build millions of layers (`repeat: 1000000`). A step
# dropped by `when: false` and an instance's name count as steps. 30,000 is a
# 10,000-layer model built of blocks with room to spare, about what a spec written out
# in full may hold (loader.MAX_NODES).
MAX_EXPANDED = 30_000
MAX_BLOCK_DEPTH = 32  # blocks inside blocks inside ...


@dataclass(slots=True)
class Expanded:
    doc: Document
    notes: dict[JsonPath, str] = field(default_factory=dict)  # ("layers", name) -> where
    # Each step an instance made -> the instances it is in, outermost first:
    # ((instance, block), ...). For drawing blocks as boxes.
    groups: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    shares: dict[str, str] = field(default_factory=dict)  # instance -> the one it shares
    # Each instance built as a nested keras.Model (or calling one it shares) -> how.
    models: dict[str, Nested] = field(default_factory=dict)


@dataclass(slots=True)
class Nested:
    """A block instance built as a nested ``keras.Model``, or a call of one it shares.

    ``owner`` is the instance whose model it calls (itself, unless it shares);
    ``form`` is ``"auto"``, ``"functional"`` or ``"sequential"``; ``name`` the model's
    Keras name inside the model that holds it: ``parent``, the nested instance this
    one is inside, or the whole model when None. ``inputs`` pairs each block input
    with the expanded tensor it is called on; ``outputs`` are the expanded tensors of
    the block's outputs (``name`` or ``name[i]``).
    """

    owner: str
    block: str
    form: str
    name: str
    parent: str | None
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[str, ...]
    path: JsonPath
    line: int


class _Abort(Exception):
    """Stop expanding this step (its diagnostic is recorded)."""


@dataclass(slots=True)
class _Block:
    name: str
    path: JsonPath
    params: dict[str, Any]
    required: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    layers: dict[str, Any]
    graph: dict[str, Any]
    model: Any = False  # see MODEL_CHOICES
    # An inline layer's name inside the block, by its path: "dense", "dense_1", ... so
    # that every instance, and a shared one, names it the same way.
    inline: dict[JsonPath, str] = field(default_factory=dict)
    # A block from an included file sees that file's vars, and the blocks that file
    # reaches (modelspec/source/include.py); None: the spec's own vars, every block.
    vars: Mapping[str, Any] | None = None
    visible: frozenset[str] | None = None


@dataclass(slots=True)
class _Scope:
    """One instance being expanded."""

    block: _Block
    instance: str  # prefix of its steps
    owner: str  # prefix of its layers: the instance, or the one it shares
    inputs: dict[str, str]  # block input -> the tensor bound to it
    env: Mapping[str, Any]
    note: str
    shared: bool = False
    # The instances this one is inside, outermost first, ending with itself:
    # ((instance, block), ...).
    chain: tuple[tuple[str, str], ...] = ()


_UNSET = object()


# A value a template reads is part of the key of its cached result when it is at most
# this large (items and characters); a larger one is not cached, rather than written
# out for the key at every instance.
_CACHED_VALUE_SIZE = 256


class _Expander:
    def __init__(
        self,
        doc: Document,
        owners: Mapping[str, Library] | None = None,
        lib_vars: Mapping[str, Mapping[str, Any]] | None = None,
        budget: Budget | None = None,
    ):
        self.doc = doc
        # What every expression and every copy of the spec's expansion may make and do,
        # the included files' vars too: one budget for the spec (see Budget).
        self.budget = budget if budget is not None else Budget()
        self.owners = owners or {}  # included block -> the file it came from
        self.lib_vars = lib_vars or {}  # included file -> its vars
        self.files: dict[JsonPath, str] = {}  # expanded path -> its file, if not doc's
        self.data: dict[str, Any] = doc.data
        self.diagnostics: list[Diagnostic] = []
        self.positions: dict[JsonPath, tuple[int, int]] = {}
        self.key_positions: dict[JsonPath, tuple[int, int]] = {}
        self.notes: dict[JsonPath, str] = {}
        self.groups: dict[str, tuple[tuple[str, str], ...]] = {}  # step -> instance chain
        self.shares: dict[str, str] = {}  # instance -> the instance whose layers it calls
        self.models: dict[str, Nested] = {}  # nested instance -> its model (see the note)
        self.model_outs: dict[str, list[str]] = {}  # nested instance -> outputs, unresolved
        self.home: dict[str, str] = {}  # layer -> the nested instance that owns it
        self.layers: dict[str, Any] = {}
        self.steps: dict[str, Any] = {}
        self.step_paths: dict[str, JsonPath] = {}  # expanded step -> its path in the file
        # Expanded name -> what it stands for: a tensor, or the outputs of a block.
        self.aliases: dict[str, str | list[str]] = {}
        self.origin: dict[str, JsonPath] = {}  # layer -> where it was written
        self.blocks: dict[str, _Block] = {}
        self.vars: dict[str, Any] = {}
        self.failed_vars: set[str] = set()  # vars whose error is reported
        self.instances: dict[str, tuple[str, str]] = {}  # instance -> (block, layer owner)
        self.stack: list[str] = []  # blocks being expanded, outermost first
        self.used: set[tuple[str, str]] = set()  # (block, layer) called by some instance
        self.warnings: list[Diagnostic] = []
        self.size = 0
        inputs = self.data.get("inputs")
        self.inputs = set(inputs) if isinstance(inputs, dict) else set()
        self._below: dict[JsonPath, list[JsonPath]] | None = None
        self._rel: dict[JsonPath, list[tuple[JsonPath, Any, Any]]] = {}
        self._reads: dict[JsonPath, tuple[str, ...]] = {}
        self._cache: dict[tuple[Any, ...], Any] = {}

    # --- diagnostics ---------------------------------------------------------------

    def error(self, code: str, message: str, path: JsonPath, *, hint: str | None = None,
              key: bool = False) -> None:  # fmt: skip
        self.diagnostics.append(self.doc.diagnostic(code, message, path, hint=hint, key=key))

    def fail(self, code: str, message: str, path: JsonPath, **kw: Any) -> _Abort:
        self.error(code, message, path, **kw)
        return _Abort()

    def substitute(
        self, value: Any, env: Mapping[str, Any], path: JsonPath, note: str = "", part: str = ""
    ) -> Any:
        """``value`` (found at ``path``; ``part`` tells apart several values substituted
        at one path) with its ``${...}`` evaluated in ``env``."""
        # One block definition is evaluated once per instance: cache each result by the
        # values of the names its templates read, so 10,000 repeats of one block cost
        # 10,000 dictionary look-ups, not 10,000 walks of the block. Every result is a
        # fresh copy (no two expanded places share a dict or list), made within the
        # spec's budget: 10,000 copies of a large value are what a spec must not make.
        try:
            names = self._reads.get((path, part))
            if names is None:
                names = self._reads[(path, part)] = tuple(sorted(template.references(value)))
            if self.failed_vars and any(n in self.failed_vars and n not in env for n in names):
                raise _Abort  # a var it reads failed, and said why: not "unknown name" too
            key = self.cache_key(path, part, names, env)
            if key is not None and key in self._cache:
                return copy_value(self._cache[key], self.budget, 0)
            out = template.substitute(value, env, where=path, budget=self.budget)
            if key is not None and len(self._cache) < 100_000:
                self._cache[key] = out
            return copy_value(out, self.budget, 0)
        except ExprError as err:
            full = err.path or path
            file = self.doc.file_at(full)
            text = self.doc.text if file == self.doc.file else self.doc.sources.get(file, "")
            line, col = locate(text, *self.doc.position(full), err.offset)
            message = f"{err.message} [{note}]" if note else err.message
            self.diagnostics.append(
                Diagnostic(ERROR, err.code, message, err.hint, file, line, col, tuple(full))
            )
            if err.code != "MS702":  # the budget is spent: every later value would fail too
                raise Stop from None
            raise _Abort from None

    @staticmethod
    def cache_key(
        path: JsonPath, part: str, names: tuple[str, ...], env: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """The key of a substitution's result, or None when a value it reads is large."""
        values = []
        for n in names:
            value = env.get(n, _UNSET)
            if value_size(value, _CACHED_VALUE_SIZE) > _CACHED_VALUE_SIZE:
                return None
            values.append(repr(value))
        return (path, part, tuple(values))

    # --- positions -----------------------------------------------------------------

    def _under(self, prefix: JsonPath) -> list[JsonPath]:
        """Every path with a position at or under ``prefix``, inside ``blocks:``."""
        if self._below is None:
            self._below = {}
            for table in (self.doc.positions, self.doc.key_positions):
                for path in table:
                    if len(path) >= 2 and path[0] == "blocks":
                        for n in range(2, len(path) + 1):
                            self._below.setdefault(path[:n], []).append(path)
        return self._below.get(prefix, [])

    def place(self, new: JsonPath, old: JsonPath) -> None:
        """``new``, and everything under it, is where ``old`` was written."""
        rel = self._rel.get(old)
        if rel is None:
            n = len(old)
            rel = self._rel[old] = [
                (path[n:], self.doc.positions.get(path), self.doc.key_positions.get(path))
                for path in (self._under(old) if old[:1] == ("blocks",) else [old])
            ]
            rel.append(((), self.doc.position(old), self.doc.position(old, key=True)))
        for rest, pos, key_pos in rel:
            target = (*new, *rest) if rest else new
            if pos is not None:
                self.positions.setdefault(target, pos)
            if key_pos is not None:
                self.key_positions.setdefault(target, key_pos)
        if self.doc.files:
            file = self.doc.file_at(old)
            if file != self.doc.file:
                self.files.setdefault(new, file)

    def line_of(self, path: JsonPath, *, beside: JsonPath = ()) -> str:
        """``line N`` of ``path``'s key, naming its file when that is not ``beside``'s."""
        line = self.doc.position(path, key=True)[0]
        file = self.doc.file_at(path)
        return f"line {line}" if file == self.doc.file_at(beside) else f"line {line} of {file}"

    def grow(self, path: JsonPath) -> None:
        self.size += 1
        if self.size > MAX_EXPANDED:
            self.error("MS712", f"the spec expands to more than {MAX_EXPANDED:,} layers and steps",
                       path, hint="check the `repeat` counts")  # fmt: skip
            raise Stop

    # --- vars and blocks -----------------------------------------------------------

    def read_vars(self, raw: Any) -> None:
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.error("MS701", "`vars` must be a mapping of names to values", ("vars",))
            return
        for name, value in raw.items():
            path = ("vars", name)
            if not name.isidentifier() or name in KEYWORDS or name == "index":
                self.error("MS701", f"invalid variable name {name!r}", path, key=True,
                           hint="variable names are identifiers (letters, digits, '_'), not "
                           "`index` or a keyword")  # fmt: skip
                continue
            try:
                self.vars[name] = self.substitute(value, self.vars, path)
            except _Abort:
                self.failed_vars.add(name)

    def read_blocks(self, raw: Any) -> None:
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.error(
                "MS704", "`blocks` must be a mapping of names to block definitions", ("blocks",)
            )
            return
        for name, spec in raw.items():
            try:
                self.blocks[name] = block = self.read_block(name, spec, ("blocks", name))
            except _Abort:
                continue
            lib = self.owners.get(name)
            if lib is not None:
                block.vars, block.visible = self.lib_vars.get(lib.file, {}), lib.visible

    def read_block(self, name: str, spec: Any, path: JsonPath) -> _Block:
        if not isinstance(spec, dict):
            raise self.fail("MS704", f"block '{name}' must be a mapping", path)
        for key in spec:
            if key not in BLOCK_KEYS:
                raise self.fail("MS704", f"unknown key '{key}' in block '{name}'", (*path, key), key=True,
                                hint=did_you_mean(key, BLOCK_KEYS) or f"a block has {', '.join(BLOCK_KEYS)}")  # fmt: skip

        def names(key: str, *, at_least_one: bool) -> tuple[str, ...]:
            value = spec.get(key, [])
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self.fail(
                    "MS704", f"`{key}` of block '{name}' must be a list of names", (*path, key)
                )
            if at_least_one and not value:
                raise self.fail(
                    "MS704", f"block '{name}' needs `{key}`: a list of names", path, key=True
                )
            return tuple(value)

        inputs, outputs = names("inputs", at_least_one=True), names("outputs", at_least_one=True)
        required = names("required", at_least_one=False)
        params = spec.get("params", {})
        layers = spec.get("layers", {})
        graph = spec.get("graph")
        for key, value in (("params", params), ("layers", layers)):
            if not isinstance(value, dict):
                raise self.fail(
                    "MS704", f"`{key}` of block '{name}' must be a mapping", (*path, key)
                )
        if not isinstance(graph, dict) or not graph:
            raise self.fail("MS704", f"block '{name}' needs a `graph` with at least one step",
                            (*path, "graph") if "graph" in spec else path, key="graph" not in spec)  # fmt: skip
        for param in required:
            if param in params:
                raise self.fail("MS704", f"parameter '{param}' of block '{name}' is both required and "
                                "given a default", (*path, "params", param), key=True)  # fmt: skip
        model = spec.get("model", False)
        if model not in MODEL_CHOICES or isinstance(model, int) and not isinstance(model, bool):
            raise self.fail("MS720", f"`model` of block '{name}' must be true, false, functional or "
                            f"sequential, not {model!r}", (*path, "model"),
                            hint="`model: true` builds each instance as a nested keras.Model")  # fmt: skip
        block = _Block(name, path, params, required, inputs, outputs, layers, graph, model)
        taken = set(layers)
        counts: dict[str, int] = {}
        for sname, step in graph.items():
            if isinstance(step, dict) and "apply" in step:
                apply = step["apply"]
                items = enumerate(apply) if isinstance(apply, list) else [(None, apply)]
                for i, use in items:
                    if isinstance(use, dict):
                        upath = (sname, "apply") if i is None else (sname, "apply", i)
                        block.inline[upath] = self.inline_name(use, taken, counts)
        return block

    @staticmethod
    def inline_name(use: dict[str, Any], taken: set[str], counts: dict[str, int]) -> str:
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

    # --- building the expanded graph -----------------------------------------------

    def add_layer(self, name: str, value: Any, origin: JsonPath, note: str) -> None:
        if name in self.layers or name in self.inputs:
            first = self.origin.get(name)
            where = f" ({self.line_of(first, beside=origin)})" if first else ""
            raise self.fail("MS707", f"layer name '{name}' is already used{where} [{note}]", origin,
                            key=True, hint="rename the step or the block's layer")  # fmt: skip
        self.grow(origin)
        self.layers[name] = value
        self.origin[name] = origin
        self.place(("layers", name), origin)
        self.notes[("layers", name)] = note

    def add_step(self, name: str, value: Any, origin: JsonPath, note: str | None) -> None:
        if name in self.steps or name in self.aliases:
            first = self.step_paths.get(name)
            where = f" ({self.line_of(first, beside=origin)})" if first else ""
            suffix = f" [{note}]" if note else ""
            raise self.fail("MS707", f"step name '{name}' is already used{where}{suffix}", origin,
                            key=True, hint="rename one of the steps")  # fmt: skip
        self.grow(origin)
        self.steps[name] = value
        self.step_paths[name] = origin
        self.place(("graph", name), origin)
        if note:
            self.notes[("graph", name)] = note

    def alias(self, name: str, target: str | list[str], origin: JsonPath) -> None:
        if name in self.steps or name in self.aliases:
            raise self.fail("MS707", f"step name '{name}' is already used", origin, key=True)
        # A name that stands for another (a dropped step, an instance's output) is a
        # step too: blocks of dropped steps inside repeated blocks made millions.
        self.grow(origin)
        self.aliases[name] = target
        self.step_paths[name] = origin

    def ref(self, text: str, scope: _Scope | None, path: JsonPath) -> str:
        """A tensor reference -> its expanded name (aliases are resolved at the end)."""
        if scope is None:
            return text
        base, index = split_ref(text)
        if base in scope.inputs:
            target = scope.inputs[base]
            if index is None:
                return target
            if split_ref(target)[1] is not None:
                raise self.fail(
                    "MS706", f"'{text}' picks an output of '{target}', which is one tensor", path
                )
            return f"{target}[{index}]"
        if base in scope.block.graph:
            return f"{scope.instance}_{text}"
        names = [*scope.block.inputs, *scope.block.graph]
        raise self.fail("MS706", f"undefined tensor '{base}' in block '{scope.block.name}'", path,
                        hint=did_you_mean(base, names) or "a block's steps read its inputs "
                        f"({', '.join(scope.block.inputs)}) and its other steps")  # fmt: skip

    def refs(self, to: Any, scope: _Scope | None, path: JsonPath) -> Any:
        if isinstance(to, list):
            return [
                self.ref(t, scope, (*path, i)) if isinstance(t, str) else t
                for i, t in enumerate(to)
            ]
        return self.ref(to, scope, path) if isinstance(to, str) else to

    def step(self, name: str, spec: Any, path: JsonPath, scope: _Scope | None, depth: int) -> None:
        env = scope.env if scope else self.vars
        note = scope.note if scope else None
        if isinstance(spec, dict) and "block" in spec:
            head = {k: v for k, v in spec.items() if k != "with"}
            head = self.substitute(head, env, path, note or "")
            self.block_step(name, {**head, "with": spec.get("with", {})}, path, scope, depth)
        elif isinstance(spec, dict) and ("repeat" in spec or "when" in spec or scope is not None):
            self.apply_step(name, spec, path, scope, env, note)
        else:  # a plain top-level step, already substituted
            self.add_step(name, spec, path, None)

    def apply_step(self, name: str, spec: dict[str, Any], path: JsonPath, scope: _Scope | None,
                   env: Mapping[str, Any], note: str | None) -> None:  # fmt: skip
        prefix = f"{scope.instance}_" if scope else ""
        head = self.substitute(
            {k: v for k, v in spec.items() if k in ("when", "repeat")},
            env,
            path,
            note or "",
            "head",
        )
        when = head.get("when", True)
        if not isinstance(when, bool):
            raise self.fail(
                "MS710",
                f"`when` must be true or false, not {when!r}",
                (*path, "when"),
            )
        if not when:
            to = spec.get("to")
            if not isinstance(to, str):
                raise self.fail("MS710", f"step '{name}' is dropped by `when`, so it stands for its input, "
                                "but it has several", (*path, "to"))  # fmt: skip
            self.alias(
                prefix + name,
                self.ref(self.substitute(to, env, (*path, "to")), scope, (*path, "to")),
                path,
            )
            return
        count = head.get("repeat", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise self.fail("MS709", f"`repeat` must be a whole number of at least 1, not {count!r}",
                            (*path, "repeat"))  # fmt: skip
        if count > MAX_EXPANDED:
            self.error("MS712", f"`repeat: {count}` would expand past {MAX_EXPANDED:,} layers and steps",
                       (*path, "repeat"), hint="check the `repeat` count")  # fmt: skip
            raise Stop
        body = {k: v for k, v in spec.items() if k not in ("when", "repeat")}
        source = None
        for index in range(1, count + 1):
            rep = self.substitute(
                body, {**env, "index": index} if count > 1 else env, path, note or ""
            )
            rep["apply"] = self.layer_uses(
                rep.get("apply"), path, scope, index if count > 1 else None
            )
            if "to" in rep:
                rep["to"] = self.refs(rep["to"], scope, (*path, "to")) if source is None else source
            out = prefix + (name if index == count else f"{name}_{index}")
            self.add_step(out, rep, path, note)
            if scope is not None:
                self.groups[out] = scope.chain
            source = out

    def layer_uses(
        self, apply: Any, path: JsonPath, scope: _Scope | None, index: int | None
    ) -> Any:
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
                    raise self.fail("MS706", f"undefined layer '{use}' in block '{scope.block.name}'", where,
                                    hint=did_you_mean(use, scope.block.layers)
                                    or "a block's steps call the layers defined in the block")  # fmt: skip
                full = f"{scope.owner}_{use}"
                if not scope.shared and full not in self.layers:
                    # Made when first called, so a layer only a dropped step (`when:
                    # false`) calls is not made at all in this instance.
                    lpath = (*scope.block.path, "layers", use)
                    value = self.substitute(scope.block.layers[use], scope.env, lpath, scope.note)
                    self.add_layer(full, value, lpath, scope.note)
                self.used.add((scope.block.name, use))
                self.set_home(full, scope)
                out.append(full)
            elif isinstance(use, dict):
                # An inline layer in a block becomes a named layer of the instance, so a
                # shared instance can call it again.
                lname = scope.block.inline.get((path[-1], *local))
                if lname is None:  # pragma: no cover - read_block names every inline layer
                    raise self.fail("MS706", "inline layer without a name", where)
                full = f"{scope.owner}_{lname}" + (f"_{index}" if index is not None else "")
                if not scope.shared:
                    self.add_layer(
                        full, {k: v for k, v in use.items() if k != "name"}, where, scope.note
                    )
                self.set_home(full, scope)
                out.append(full)
            else:
                out.append(use)
        return out if isinstance(apply, list) else out[0]

    def set_home(self, layer: str, scope: _Scope) -> None:
        """Record the nested model ``layer`` is in: the innermost of ``scope``'s chain."""
        for instance, _ in reversed(scope.chain):
            if instance in self.models:
                self.home.setdefault(layer, self.models[instance].owner)
                return

    def block_step(self, name: str, spec: dict[str, Any], path: JsonPath, scope: _Scope | None,
                   depth: int) -> None:  # fmt: skip
        prefix = f"{scope.instance}_" if scope else ""
        for key in spec:
            if key not in BLOCK_STEP_KEYS:
                raise self.fail("MS705", f"unknown key '{key}' in block step '{name}'", (*path, key), key=True,
                                hint=did_you_mean(key, BLOCK_STEP_KEYS)
                                or "a block step has block, to, with, repeat and share")  # fmt: skip
        block_name = spec["block"]
        block = self.blocks.get(block_name) if isinstance(block_name, str) else None
        if block is not None and scope is not None and scope.block.visible is not None:
            if block_name not in scope.block.visible:
                file = self.doc.file_at(scope.block.path)
                raise self.fail("MS703", f"undefined block {block_name!r} in {file}", (*path, "block"),
                                hint=f"block '{block_name}' is defined in "
                                f"{self.doc.file_at(block.path)}, which {file} does not include")  # fmt: skip
        if block is None:
            if isinstance(block_name, str) and block_name in (self.data.get("blocks") or {}):
                raise _Abort  # defined, but wrongly: already reported
            raise self.fail("MS703", f"undefined block {block_name!r}", (*path, "block"),
                            hint=did_you_mean(str(block_name), self.blocks) or "define it under `blocks:`")  # fmt: skip
        if block_name in self.stack or depth >= MAX_BLOCK_DEPTH:
            chain = " -> ".join([*self.stack, block_name])
            raise self.fail(
                "MS708", f"block '{block_name}' contains itself: {chain}", (*path, "block")
            )
        count = spec.get("repeat", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise self.fail("MS709", f"`repeat` must be a whole number of at least 1, not {count!r}",
                            (*path, "repeat"))  # fmt: skip
        if count * (len(block.layers) + len(block.graph)) > MAX_EXPANDED:
            self.error("MS712", f"`repeat: {count}` would expand past {MAX_EXPANDED:,} layers and steps",
                       (*path, "repeat"), hint="check the `repeat` count")  # fmt: skip
            raise Stop
        if count > 1 and (len(block.inputs) != 1 or len(block.outputs) != 1):
            raise self.fail("MS709", f"`repeat` feeds each instance into the next, so block '{block_name}' "
                            "needs one input and one output", (*path, "repeat"))  # fmt: skip
        to = spec.get("to")
        args = to if isinstance(to, list) else [to]
        if len(args) != len(block.inputs) or not all(isinstance(a, str) for a in args):
            raise self.fail("MS705", f"block '{block_name}' takes {len(block.inputs)} input(s) "
                            f"({', '.join(block.inputs)}); step '{name}' gives {len(args)}", (*path, "to"))  # fmt: skip
        args = [self.ref(a, scope, (*path, "to")) for a in args]
        given = spec.get("with") or {}
        if not isinstance(given, dict):
            raise self.fail(
                "MS705", "`with` must be a mapping of parameter values", (*path, "with")
            )
        for key in given:
            if key not in block.params and key not in block.required:
                raise self.fail("MS705", f"block '{block_name}' has no parameter '{key}'", (*path, "with", key),
                                key=True, hint=did_you_mean(key, [*block.params, *block.required]))  # fmt: skip
        share = spec.get("share")
        owner = None
        form = spec.get("model", block.model)
        if form not in MODEL_CHOICES or isinstance(form, int) and not isinstance(form, bool):
            raise self.fail("MS720", f"`model` must be true, false, functional or sequential, not "
                            f"{form!r}", (*path, "model"),
                            hint="`model: true` builds the instance as a nested keras.Model")  # fmt: skip
        if share is not None and "model" in spec:
            raise self.fail("MS723", "a shared instance calls what the instance it shares is: "
                            "its layers, or its nested model; it takes no `model`",
                            (*path, "model"), key=True, hint="remove `model:` here; set it on the "
                            "instance it shares")  # fmt: skip
        if share is not None:
            if given or count != 1:
                raise self.fail("MS711", "a shared instance has the parameters of the instance it shares: "
                                "no `with` or `repeat`", (*path, "share"))  # fmt: skip
            found = self.instances.get(prefix + share) if isinstance(share, str) else None
            if found is None or found[0] != block_name:
                what = (
                    "is not an earlier instance"
                    if found is None
                    else f"is an instance of '{found[0]}'"
                )
                raise self.fail("MS711", f"`share: {share}` {what}; it must name an earlier instance of "
                                f"block '{block_name}'", (*path, "share"))  # fmt: skip
            owner = found[1]
            params = self.instance_params[prefix + share]
            form = False
            if found[1] in self.models:
                form = self.models[found[1]].form
        else:
            missing = [p for p in block.required if p not in given]
            if missing:
                raise self.fail("MS705", f"block '{block_name}' needs parameter(s) {', '.join(missing)}",
                                (*path, "with") if "with" in spec else path, key=True)  # fmt: skip
        env = scope.env if scope else self.vars
        line = self.doc.position(path, key=True)[0]
        where = self.line_of(path, beside=block.path)  # the instance, for the block's notes
        block_vars = self.vars if block.vars is None else block.vars
        source = args
        # The nested model this instance is inside, if any: the innermost in the chain.
        parent = (
            next((i for i, _ in reversed(scope.chain) if i in self.models), None) if scope else None
        )
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
                defaults = self.substitute(block.params, block_vars, (*block.path, "params"), note)
                params = {**defaults, **self.substitute(given, call_env, (*path, "with"), note)}
            self.instance_params[instance] = params
            inner = _Scope(block, instance, owner or instance, dict(zip(block.inputs, source, strict=True)),
                           {**block_vars, **params}, note, shared=owner is not None,
                           chain=(*(scope.chain if scope else ()), (instance, block_name)))  # fmt: skip
            self.instances[instance] = (block_name, inner.owner)
            if share is not None:
                self.shares[instance] = prefix + share
            elif shared_inner:
                self.shares[instance] = inner.owner
            nested_form = (
                self.models[inner.owner].form
                if shared_inner and inner.owner in self.models
                else form
            )
            if nested_form is not False:
                self.models[instance] = Nested(
                    inner.owner, block_name, "auto" if nested_form is True else nested_form,
                    instance[len(parent) + 1 :] if parent else instance, parent,
                    tuple(zip(block.inputs, source, strict=True)), (), path, line,
                )  # fmt: skip
            self.stack.append(block_name)
            try:
                self.instantiate(inner, depth)
            finally:
                self.stack.pop()
            outs = [
                self.ref(o, inner, (*block.path, "outputs", i)) for i, o in enumerate(block.outputs)
            ]
            if instance in self.models:
                self.model_outs[instance] = outs
            self.alias(instance, outs[0] if len(outs) == 1 else outs, path)
            source = [instance]
            if shared_inner:
                owner = None
        if count > 1:
            self.alias(prefix + name, f"{prefix}{name}_block{count}", path)

    def instantiate(self, scope: _Scope, depth: int) -> None:
        block = scope.block
        for sname, sspec in block.graph.items():
            spath = (*block.path, "graph", sname)
            if not isinstance(sspec, dict):
                self.error(
                    "MS704", f"step '{sname}' of block '{block.name}' must be a mapping", spath
                )
                continue
            try:
                self.step(sname, sspec, spath, scope, depth + 1)
            except _Abort:
                continue

    # --- the whole document --------------------------------------------------------

    def run(self) -> Document | None:
        try:
            return self.expand()
        except Stop:  # too large: its diagnostic is recorded
            return None

    def expand(self) -> Document | None:
        self.instance_params: dict[str, dict[str, Any]] = {}
        self.read_vars(self.data.get("vars"))
        self.read_blocks(self.data.get("blocks"))
        out: dict[str, Any] = {}
        for key, value in self.data.items():
            if key in COMPOSE_KEYS:
                continue
            self.copy_positions(key)
            if key == "graph" and isinstance(value, dict):
                out[key] = value  # expanded below, step by step
                continue
            try:
                out[key] = self.substitute(value, self.vars, (key,))
            except _Abort:
                out[key] = value
        if isinstance(out.get("layers"), dict):
            for name, value in out["layers"].items():
                self.layers[name] = value
                self.origin[name] = ("layers", name)
        graph = self.data.get("graph")
        if isinstance(graph, dict):
            try:
                for name, spec in graph.items():
                    path = ("graph", name)
                    try:
                        if isinstance(spec, dict) and (
                            "block" in spec or "repeat" in spec or "when" in spec
                        ):
                            self.step(name, spec, path, None, 0)
                        else:
                            self.add_step(name, self.substitute(spec, self.vars, path), path, None)
                    except _Abort:
                        continue
            except Stop:
                return None
            out["graph"] = {
                name: self.resolve_step(name, step) for name, step in self.steps.items()
            }
            if "layers" in out:
                out["layers"] = self.layers
            elif self.layers:  # instances made layers: the section goes before `graph`
                ordered: dict[str, Any] = {}
                for key, value in out.items():
                    if key == "graph":
                        ordered["layers"] = self.layers
                    ordered[key] = value
                out = ordered
        outputs = out.get("outputs")
        if isinstance(outputs, dict):
            for oname, spec in outputs.items():
                if isinstance(spec, dict) and isinstance(spec.get("from"), str):
                    outputs[oname] = {
                        **spec,
                        "from": self.resolve(spec["from"], ("outputs", oname, "from")),
                    }
        if self.models and not self.diagnostics:
            self.finish_models(out)
        if self.diagnostics:
            return None
        for block in self.blocks.values():
            if self.instantiated(block.name):
                for lname in block.layers:
                    if (block.name, lname) not in self.used:
                        self.warnings.append(self.doc.diagnostic(
                            "MS213", f"layer '{lname}' of block '{block.name}' is never called",
                            (*block.path, "layers", lname), key=True, level=WARNING,
                            hint="call it in the block's `graph:` or remove it"))  # fmt: skip
        return Document(self.doc.file, self.doc.text, out, self.positions, self.key_positions,
                        self.files, self.doc.sources)  # fmt: skip

    def finish_models(self, out: dict[str, Any]) -> None:
        """Resolve what each nested model takes and gives, and check that Keras can build
        it: its outputs are computed inside it (MS722), nothing outside reads its inside
        (MS725), and names are unique in each model (MS724)."""
        for instance, nested in self.models.items():
            nested.inputs = tuple((b, self.resolve(t, nested.path)) for b, t in nested.inputs)
            nested.outputs = tuple(
                self.resolve(o, nested.path) for o in self.model_outs.get(instance, ())
            )
            for k, o in enumerate(nested.outputs):
                if (
                    instance not in self.nested_chain(split_ref(o)[0])
                    and self.models[nested.owner] is nested
                ):
                    self.error("MS722", f"output {k} of nested model '{instance}' is '{o}', which "
                               "is not computed inside it; a nested keras.Model computes its "
                               "outputs from its inputs", (*nested.path, "block"),
                               hint="inline the block (`model: false`), or give it a step "
                               "that computes the output")  # fmt: skip

        def check_ref(ref: str, reader: tuple[str, ...], path: JsonPath) -> None:
            for instance in self.nested_chain(split_ref(ref)[0]):
                if instance not in reader and ref not in self.models[instance].outputs:
                    outs = ", ".join(self.models[instance].outputs)
                    self.error("MS725", f"'{ref}' is inside nested model '{instance}'; from "
                               f"outside it only its outputs ({outs}) can be read", path,
                               hint="read the instance's output, or make the tensor an "
                               "output of the block")  # fmt: skip
                    return

        graph, outputs = out.get("graph"), out.get("outputs")
        for name, step in graph.items() if isinstance(graph, dict) else ():
            to = step.get("to") if isinstance(step, dict) else None
            reader = self.nested_chain(name)
            for i, ref in enumerate(to if isinstance(to, list) else [to]):
                if isinstance(ref, str):
                    where = (
                        (*self.step_paths[name], "to", i)
                        if isinstance(to, list)
                        else (*self.step_paths[name], "to")
                    )
                    check_ref(ref, reader, where)
        for oname, spec in outputs.items() if isinstance(outputs, dict) else ():
            if isinstance(spec, dict) and isinstance(spec.get("from"), str):
                check_ref(spec["from"], (), ("outputs", oname, "from"))
        # Keras names: one namespace per model; inputs, layers and nested models share it.
        names: dict[str | None, dict[str, str]] = {None: {n: "input" for n in self.inputs}}
        for instance, nested in self.models.items():
            if nested.owner == instance:
                names.setdefault(instance, {}).update({b: "input" for b, _ in nested.inputs})
        for layer in self.layers:
            home = self.home.get(layer)
            local = layer[len(home) + 1 :] if home else layer
            taken = names.setdefault(home, {})
            if home is not None and local in taken:  # the top level: parse's MS203
                self.error("MS724", f"layer '{layer}' is named '{local}' in "
                           f"{self.model_word(home)}, which has an {taken[local]} of that name; "
                           "Keras needs unique names in each model", self.origin[layer],
                           key=True, hint="rename the layer or the block's input")  # fmt: skip
            taken.setdefault(local, "layer")
        for instance, nested in self.models.items():
            if nested.owner != instance:
                continue
            home = self.models[nested.parent].owner if nested.parent else None
            taken = names.setdefault(home, {})
            if nested.name in taken:
                self.error("MS724", f"nested model '{instance}' is named '{nested.name}' in "
                           f"{self.model_word(home)}, which has a{'n' * (taken[nested.name] == 'input')} "
                           f"{taken[nested.name]} of that name; Keras needs unique names in each "
                           "model", nested.path, key=True, hint="rename the step or the layer")  # fmt: skip
            taken.setdefault(nested.name, "nested model")

    def model_word(self, home: str | None) -> str:
        return "the model" if home is None else f"nested model '{home}'"

    def nested_chain(self, step: str) -> tuple[str, ...]:
        """The nested instances ``step`` is inside, outermost first."""
        return tuple(i for i, _ in self.groups.get(step, ()) if i in self.models)

    def instantiated(self, block: str) -> bool:
        return any(b == block for b, _ in self.instances.values())

    def copy_positions(self, key: str) -> None:
        for table, new in (
            (self.doc.positions, self.positions),
            (self.doc.key_positions, self.key_positions),
        ):
            for path, pos in table.items():
                if path[:1] == (key,) and (key != "graph" or len(path) == 1):
                    new[path] = pos

    def resolve(self, text: str, path: JsonPath) -> str:
        """A reference through instance outputs and dropped steps to a real tensor."""
        for _ in range(len(self.aliases) + 1):
            base, index = split_ref(text)
            if text in self.aliases:
                target = self.aliases[text]
            elif index is not None and base in self.aliases:
                target = self.aliases[base]
                if isinstance(target, list):
                    if index >= len(target):
                        self.error("MS706", f"'{text}': the block has {len(target)} outputs", path)
                        return text
                    text = target[index]
                    continue
                target = f"{target}[{index}]" if split_ref(target)[1] is None else target
            else:
                return text
            if isinstance(target, list):
                self.error("MS706", f"'{text}' is a block instance with {len(target)} outputs; pick one "
                           f"with {text}[0] ... {text}[{len(target) - 1}]", path)  # fmt: skip
                return text
            text = target
        return text  # pragma: no cover - aliases never form a cycle

    def resolve_step(self, name: str, step: Any) -> Any:
        if not isinstance(step, dict) or not self.aliases:
            return step
        to, path = step.get("to"), (*self.step_paths[name], "to")
        if isinstance(to, str):
            return {**step, "to": self.resolve(to, path)}
        if isinstance(to, list):
            return {
                **step,
                "to": [
                    self.resolve(t, (*path, i)) if isinstance(t, str) else t
                    for i, t in enumerate(to)
                ],
            }
        return step


def expand(
    doc: Document, project: Project | None = None, *, origin: str | os.PathLike[str] | None = None
) -> tuple[Expanded | None, list[Diagnostic]]:
    """The plain spec ``doc`` stands for, or ``None`` and why not.

    ``include:`` reads files within ``project`` (by default, the project of the
    folder ``origin`` is in), relative to ``origin``: the spec's path on disk, by
    default ``doc.file``.
    """
    owners: dict[str, Library] = {}
    lib_vars: dict[str, dict[str, Any]] = {}
    budget = Budget()
    if isinstance(doc.data, dict) and "include" in doc.data:
        if project is None:
            project = find_project(os.path.dirname(os.path.abspath(origin or doc.file)))
        included, diags = gather(doc, project, origin)
        doc.sources.update(included.sources)  # to show the lines of their diagnostics
        doc, owners, clashes = merge(doc, included)
        diags += clashes
        for lib in included.libraries:
            if "vars" in lib.doc.data:  # each file's own vars, for its own blocks
                sub = _Expander(lib.doc, budget=budget)
                try:
                    sub.read_vars(lib.doc.data["vars"])
                except Stop:
                    return None, [*diags, *sub.diagnostics]
                diags += sub.diagnostics
                lib_vars[lib.file] = sub.vars
        if any(d.is_error for d in diags):
            return None, diags
    ex = _Expander(doc, owners, lib_vars, budget)
    if not isinstance(doc.data, dict):
        return Expanded(doc), []
    expanded = ex.run()
    if expanded is None:
        return None, ex.diagnostics
    return Expanded(expanded, ex.notes, ex.groups, ex.shares, ex.models), ex.warnings


def annotate(diagnostics: list[Diagnostic], notes: Mapping[JsonPath, str]) -> Iterator[Diagnostic]:
    """Diagnostics about an instance's layer or step name the instance."""
    for d in diagnostics:
        note = notes.get(tuple(d.path[:2])) if len(d.path) >= 2 else None
        if note and note not in d.message:
            d = dataclasses.replace(d, message=f"{d.message} [{note}]")
        yield d
