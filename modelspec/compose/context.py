"""The state of one spec's expansion, and the steps every part of it takes.

:class:`Context` holds what composition has read (vars, blocks) and what it has made
so far (layers, steps, the names that stand for others, where each came from), and
records the diagnostics. Its methods evaluate a value's ``${...}`` (cached per block
definition), give an expanded value the position it was written at, add a layer or a
step within :data:`MAX_EXPANDED`, and turn a block's tensor reference into its
expanded name. :class:`Block`, :class:`Scope` and :class:`Nested` are the records
it keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelspec.compose import template
from modelspec.compose.errors import ExprError
from modelspec.compose.limits import Budget
from modelspec.compose.locate import locate
from modelspec.compose.values import copy_value, value_size
from modelspec.errors import ERROR, Diagnostic, JsonPath, Stop, did_you_mean
from modelspec.ir import split_ref
from modelspec.source.document import Document
from modelspec.source.include import Library

# A spec that expands past this many layers plus steps is refused: a short spec must
# not be able to make lint build millions of layers (`repeat: 1000000`). A step
# dropped by `when: false` and an instance's name count as steps. 30,000 is a
# 10,000-layer model built of blocks with room to spare, about what a spec written out
# in full may hold (loader.MAX_NODES).
MAX_EXPANDED = 30_000


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


class Abort(Exception):
    """Stop expanding this step (its diagnostic is recorded)."""


@dataclass(slots=True)
class Block:
    """A block definition, as :func:`modelspec.compose.definitions.read_block` reads it."""

    name: str
    path: JsonPath
    params: dict[str, Any]
    required: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    layers: dict[str, Any]
    graph: dict[str, Any]
    model: Any = False  # see syntax.MODEL_CHOICES
    # An inline layer's name inside the block, by its path: "dense", "dense_1", ... so
    # that every instance, and a shared one, names it the same way.
    inline: dict[JsonPath, str] = field(default_factory=dict)
    # A block from an included file sees that file's vars, and the blocks that file
    # reaches (modelspec/source/include.py); None: the spec's own vars, every block.
    vars: Mapping[str, Any] | None = None
    visible: frozenset[str] | None = None


@dataclass(slots=True)
class Scope:
    """One instance of a block being expanded."""

    block: Block
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


class Context:
    """One spec's expansion in progress: what it has read, what it has made so far, and
    the diagnostics it has recorded. The other modules of :mod:`modelspec.compose` are
    functions over it."""

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
        self.models: dict[str, Nested] = {}  # nested instance -> its model (compose.nested)
        self.model_outs: dict[str, list[str]] = {}  # nested instance -> outputs, unresolved
        self.home: dict[str, str] = {}  # layer -> the nested instance that owns it
        self.layers: dict[str, Any] = {}
        self.steps: dict[str, Any] = {}
        self.step_paths: dict[str, JsonPath] = {}  # expanded step -> its path in the file
        # Expanded name -> what it stands for: a tensor, or the outputs of a block.
        self.aliases: dict[str, str | list[str]] = {}
        self.origin: dict[str, JsonPath] = {}  # layer -> where it was written
        self.blocks: dict[str, Block] = {}
        self.vars: dict[str, Any] = {}
        self.failed_vars: set[str] = set()  # vars whose error is reported
        self.instances: dict[str, tuple[str, str]] = {}  # instance -> (block, layer owner)
        self.instance_params: dict[str, dict[str, Any]] = {}  # instance -> its parameters
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

    def error(
        self, code: str, message: str, path: JsonPath, *, hint: str | None = None, key: bool = False
    ) -> None:
        self.diagnostics.append(self.doc.diagnostic(code, message, path, hint=hint, key=key))

    def fail(self, code: str, message: str, path: JsonPath, **kw: Any) -> Abort:
        self.error(code, message, path, **kw)
        return Abort()

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
                raise Abort  # a var it reads failed, and said why: not "unknown name" too
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
            raise Abort from None

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

    def repeat_count(self, step: Mapping[str, Any], path: JsonPath, size: int = 1) -> int:
        """The step's `repeat` count, checked: a whole number of at least 1 (MS709), and
        not so many that ``size`` (what one repeat makes) times it expands past
        :data:`MAX_EXPANDED` (MS712, which stops the expansion)."""
        count = step.get("repeat", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise self.fail(
                "MS709",
                f"`repeat` must be a whole number of at least 1, not {count!r}",
                (*path, "repeat"),
            )
        if count * size > MAX_EXPANDED:
            self.error(
                "MS712",
                f"`repeat: {count}` would expand past {MAX_EXPANDED:,} layers and steps",
                (*path, "repeat"),
                hint="check the `repeat` count",
            )
            raise Stop
        return count

    def grow(self, path: JsonPath) -> None:
        self.size += 1
        if self.size > MAX_EXPANDED:
            self.error(
                "MS712",
                f"the spec expands to more than {MAX_EXPANDED:,} layers and steps",
                path,
                hint="check the `repeat` counts",
            )
            raise Stop

    # --- building the expanded graph -----------------------------------------------

    def add_layer(self, name: str, value: Any, origin: JsonPath, note: str) -> None:
        if name in self.layers or name in self.inputs:
            first = self.origin.get(name)
            where = f" ({self.line_of(first, beside=origin)})" if first else ""
            raise self.fail(
                "MS707",
                f"layer name '{name}' is already used{where} [{note}]",
                origin,
                key=True,
                hint="rename the step or the block's layer",
            )
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
            raise self.fail(
                "MS707",
                f"step name '{name}' is already used{where}{suffix}",
                origin,
                key=True,
                hint="rename one of the steps",
            )
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

    def ref(self, text: str, scope: Scope | None, path: JsonPath) -> str:
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
        raise self.fail(
            "MS706",
            f"undefined tensor '{base}' in block '{scope.block.name}'",
            path,
            hint=did_you_mean(base, names)
            or "a block's steps read its inputs "
            f"({', '.join(scope.block.inputs)}) and its other steps",
        )

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
                self.error(
                    "MS706",
                    f"'{text}' is a block instance with {len(target)} outputs; pick one "
                    f"with {text}[0] ... {text}[{len(target) - 1}]",
                    path,
                )
                return text
            text = target
        return text  # pragma: no cover - aliases never form a cycle
