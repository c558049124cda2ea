"""Validated document -> :class:`~modelspec.ir.Spec`, with naming checks.

The parser is lenient: it runs after schema validation even when that found errors,
skips what is malformed and keeps going, so graph problems are reported in the same
run as schema problems. Names that are defined but malformed still count as defined,
so one typo does not cascade into a dozen "undefined" errors.

Inline layers get the names Keras would give them in a fresh session
(``dense``, ``dense_1``, ...), skipping names the spec already uses. An op step is an
inline layer too, named as Keras names the operation it records (``subtract``,
``subtract_1``): generated code calls ``keras.ops``, which takes no name, so those
names are Keras's alone and no other layer or input may take one (MS203).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.calls import ATTENTION_INPUTS, NO_ARGS, call_of
from modelspec.catalog.custom import custom_types
from modelspec.catalog.ops import OPS, op_of, type_name
from modelspec.catalog.precision import DEFAULT_POLICY, POLICIES, QUANTIZE_MODES
from modelspec.errors import ERROR, WARNING, Diagnostic, did_you_mean, printable
from modelspec.ir import (
    MAX_NAME,
    NAME,
    Call,
    CallKwarg,
    Input,
    Layer,
    Output,
    Source,
    Spec,
    TensorRef,
    Weights,
    WeightsMapEntry,
)
from modelspec.source.document import Document

MAX_SUGGESTIONS = 20


@functools.cache
def to_snake_case(name: str) -> str:
    """Keras's ``to_snake_case``: ``Conv2DTranspose`` -> ``conv2d_transpose``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class _Parser:
    def __init__(self, doc: Document):
        self.doc = doc
        self.data: dict[str, Any] = doc.data if isinstance(doc.data, dict) else {}
        self.diagnostics: list[Diagnostic] = []
        self.taken: set[str] = set()  # names in Keras's layer namespace
        self.auto_counts: dict[str, int] = {}
        self.op_counts: dict[str, int] = {}  # Keras's names of ops: ``subtract_1``
        # "Did you mean" for the first few undefined layers only: each one compares the
        # name with the defined ones, and a spec may hold thousands of typos.
        self.suggestions = MAX_SUGGESTIONS

    def source(self, path: tuple, *, key: bool = False) -> Source:
        line, col = self.doc.position(path, key=key)
        return Source(self.doc.file_at(path), line, col, path)

    def error(self, code: str, message: str, path: tuple, **kw: Any) -> None:
        self.diagnostics.append(self.doc.diagnostic(code, message, path, **kw))

    def check_name(self, name: str, path: tuple, what: str) -> None:
        if not name:
            return  # the schema reports empty names
        if not NAME.match(name) or len(name) > MAX_NAME:
            if "/" in name:
                rule = "Keras does not allow '/' in names"
            elif len(name) > MAX_NAME:
                rule = f"names are at most {MAX_NAME} characters"
            else:
                rule = (
                    "names use letters, digits, '_', '.' and '-', and do not start with '.' or '-'"
                )
            shown = name if len(name) <= 60 else name[:57] + "..."
            self.error("MS206", f"invalid {what} name {shown!r}: {rule}", path, key=True)

    # --- sections --------------------------------------------------------------------

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        return value if isinstance(value, dict) else {}

    def inputs(self) -> tuple[Input, ...]:
        out = []
        for name, spec in self.mapping("inputs").items():
            path = ("inputs", name)
            self.check_name(name, path, "input")
            self.taken.add(name)
            if not isinstance(spec, dict):
                continue
            raw = spec.get("shape")
            ok = isinstance(raw, list) and all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 1)
                for d in raw
            )
            # A shape the schema refused is unknown here, not guessed: one error, not two.
            shape = tuple(raw) if ok else None
            dtype = spec.get("dtype") if isinstance(spec.get("dtype"), str) else "float32"
            out.append(Input(name, shape, dtype, self.source(path, key=True)))
        return tuple(out)

    def named_layers(self) -> dict[str, Layer]:
        layers: dict[str, Layer] = {}
        for name, spec in self.mapping("layers").items():
            path = ("layers", name)
            self.check_name(name, path, "layer")
            if name in self.taken:
                self.error(
                    "MS203",
                    f"layer name '{name}' is already used by an input",
                    path,
                    key=True,
                    hint="inputs and layers share Keras's layer names; rename one",
                )
            self.taken.add(name)
            if not isinstance(spec, dict):
                continue
            if "name" in spec:
                self.error(
                    "MS207",
                    f"layer '{name}' has a `name` key; a layer under `layers:` is named by its key",
                    (*path, "name"),
                    key=True,
                    hint="remove `name:`",
                )
            layers[name] = self.layer(name, spec, path, inline=False)
        return layers

    def layer(self, name: str, spec: dict[str, Any], path: tuple, *, inline: bool) -> Layer:
        type_name = spec.get("type") if isinstance(spec.get("type"), str) else "?"
        kwargs = {k: v for k, v in spec.items() if k not in ("type", "name", "quantize")}
        src = self.source(path, key=not inline)
        inner = tuple(self.inner_names(spec, path))
        quantize = spec.get("quantize", None)
        if "quantize" in spec and quantize is None:
            quantize = False  # `quantize: null`: not this layer
        elif not isinstance(quantize, str):
            quantize = None
        return Layer(name, type_name, kwargs, src, inline, inner, quantize)

    def inner_names(self, spec: dict[str, Any], path: tuple, prefix: str = "") -> list:
        """``(kwarg path, name)`` of the layers a wrapper holds, at any depth; the path of
        an item of a list of layers ends in its index (``cell.cells.0``).

        Keras names an unnamed inner layer when it is created, which uses up its type's
        name ("lstm") just as an inline layer would; the innermost is created first.
        """
        lt = LAYER_TYPES.get(spec.get("type")) if isinstance(spec.get("type"), str) else None
        out = []
        for keys, inner in lt.held(spec) if lt else ():
            if isinstance(inner.get("type"), str):
                key = prefix + ".".join(map(str, keys))
                out += self.inner_names(inner, (*path, *keys), f"{key}.")
                given = inner.get("name")
                if isinstance(given, str):
                    self.check_name(given, (*path, *keys, "name"), "layer")
                out.append(
                    (key, given if isinstance(given, str) else self.auto_name(inner["type"]))
                )
        return out

    def inline_names(self, uses: Iterator[tuple[tuple, Any]]) -> None:
        """Reserve the explicit ``name`` of every inline layer before auto-naming."""
        for path, use in uses:
            if isinstance(use, dict) and isinstance(use.get("name"), str):
                name = use["name"]
                self.check_name(name, (*path, "name"), "layer")
                if name in self.taken:
                    self.error(
                        "MS203",
                        f"layer name '{name}' is used twice",
                        (*path, "name"),
                        hint="every layer needs a unique name in Keras",
                    )
                self.taken.add(name)

    def auto_name(self, type_name: str) -> str:
        base = to_snake_case(type_name) if type_name != "?" else "layer"
        while True:
            n = self.auto_counts.get(base, 0)
            self.auto_counts[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def resolve_use(
        self, use: Any, path: tuple, layers: dict[str, Layer], all_names: set[str]
    ) -> str | None:
        """A chain item -> the name of the layer it calls (defining inline ones)."""
        if isinstance(use, str):
            if use not in layers and use in self.mapping("layers"):
                return None  # defined, but malformed: the schema said so
            if use not in layers:
                hint = did_you_mean(use, layers) if self.suggestions > 0 else None
                self.suggestions -= 1
                if use in all_names:
                    hint = f"'{use}' is a tensor, not a layer; layers are defined under `layers:`"
                self.error(
                    "MS202",
                    f"undefined layer '{use}'",
                    path,
                    hint=hint or "define it under `layers:` or write it inline",
                )
                return None
            return use
        if isinstance(use, dict):
            if isinstance(use.get("name"), str):
                name = use["name"]
            else:
                name = self.auto_name(use.get("type") if isinstance(use.get("type"), str) else "?")
            layers[name] = self.layer(name, use, path, inline=True)
            return name
        return None

    def chain_items(self, apply: Any, path: tuple) -> list[tuple[tuple, Any]]:
        if isinstance(apply, list):
            return [((*path, i), use) for i, use in enumerate(apply)]
        return [(path, apply)]

    def refs(self, to: Any, path: tuple) -> tuple[TensorRef, ...]:
        if isinstance(to, str):
            return (TensorRef.parse(to, self.source(path)),)
        if isinstance(to, list):
            return tuple(
                TensorRef.parse(t, self.source((*path, i)))
                for i, t in enumerate(to)
                if isinstance(t, str)
            )
        return ()

    def named_inputs(
        self, to: dict[str, Any], path: tuple, layer: Layer, chain: int
    ) -> tuple[tuple[TensorRef, ...], tuple[str, ...]]:
        """``to:`` as a mapping, ``{query: q, value: v, key: k}``: the tensors in the order
        the layer's call takes them, and the keywords they are passed by (none where the
        call takes one list, as ``Attention`` does). Nothing, after an error."""
        if chain > 1:
            self.error(
                "MS313",
                f"`to:` names the inputs of one layer's call; this step applies {chain}",
                path,
                key=True,
                hint="give the layer that takes them a step of its own, and the layers "
                "after it another",
            )
            return (), ()
        lt = LAYER_TYPES.get(layer.type)
        if lt is None and layer.type not in self.mapping("custom"):
            return (), ()  # an unknown type: the schema said so
        what = f"`{layer.type}` '{layer.name}'" if lt else f"custom `{layer.type}` '{layer.name}'"
        layer_call = call_of(layer.type) if lt else NO_ARGS
        takes = layer_call.inputs
        ok = True
        for name in to:
            if name in takes:
                continue
            ok = False
            if not takes:
                hint = (
                    "write its input as `to: NAME` (or a list of them); names in `to:` "
                    f"({', '.join(ATTENTION_INPUTS)}) are for attention layers"
                )
                message = f"{what} does not take its inputs by name; got `{name}`"
            else:
                message = f"{what} does not take the input `{name}`"
                hint = did_you_mean(name, takes) or f"its inputs are {_listed(takes)}"
                if layer_call.arg(name) is not None:
                    hint = f"`{name}` is an argument of the call: give it under `call:`"
            self.error("MS310", message, (*path, name), key=True, hint=hint)
        if not ok or lt is None or not to:  # (an empty mapping is the schema's error)
            return (), ()
        required, optional = takes[: lt.min_inputs], takes[lt.min_inputs :]
        missing = [n for n in required if n not in to]
        if missing:
            also = f" (and {_listed(optional, 'or')}, optional)" if optional else ""
            self.error(
                "MS305",
                f"{what} is called on {_listed(required)}{also}; `to:` names no "
                f"{_listed(missing, 'or')}",
                path,
                key=True,
                hint=f"name each: `to: {{{', '.join(f'{n}: NAME' for n in required)}}}`",
            )
            return (), ()
        if not all(isinstance(t, str) for t in to.values()):
            return (), ()  # the schema said which is not a tensor's name
        names = [n for n in takes if n in to]
        refs = tuple(TensorRef.parse(to[n], self.source((*path, n))) for n in names)
        return refs, tuple(names) if lt.call == "positional" else ()

    def call_kwargs(self, given: Any, path: tuple, chain: int) -> tuple[CallKwarg, ...]:
        """A step's ``call:``: its tensors as references, its constants as they are.
        What the schema refused is left out; which arguments the layer takes, and what
        their tensors must be, the shape pass checks."""
        if not isinstance(given, dict):
            return ()
        if chain > 1:
            self.error(
                "MS313",
                f"`call:` gives arguments to one layer's call; this step applies {chain}",
                path,
                key=True,
                hint="give the layer that takes them a step of its own",
            )
            return ()
        out = []
        for name, value in given.items():
            where = (*path, name)
            if isinstance(value, str):
                value = TensorRef.parse(value, self.source(where))
            elif isinstance(value, list):
                value = tuple(
                    TensorRef.parse(v, self.source((*where, i))) if isinstance(v, str) else None
                    for i, v in enumerate(value)
                )
            elif not isinstance(value, bool):
                continue
            out.append(CallKwarg(name, value, self.source(where), self.source(where, key=True)))
        return tuple(out)

    # --- the whole spec --------------------------------------------------------------

    def parse(self) -> Spec:
        data = self.data
        name = data.get("name") if isinstance(data.get("name"), str) else "model"
        if "/" in name:
            self.error(
                "MS206",
                f"invalid model name {name[:60]!r}: Keras does not allow '/' in names",
                ("name",),
                hint="use another separator, such as '_' or '-'",
            )
        elif printable(name) != name:
            # The name is printed by summary, equiv, diff and Keras's own model.summary();
            # a terminal escape or a line break there would make a log show something else.
            self.error(
                "MS206",
                f"invalid model name {name[:60]!r}: control characters "
                "and GitHub workflow markers are not allowed",
                ("name",),
                hint="write the name in plain printable characters",
            )
        inputs = self.inputs()
        layers = self.named_layers()
        has_graph, has_seq = "graph" in data, "sequential" in data
        if has_graph and has_seq:
            self.error(
                "MS107",
                "a spec has either `graph` or `sequential`, not both",
                ("sequential",),
                key=True,
            )
        elif not has_graph and not has_seq and isinstance(self.doc.data, dict):
            self.error(
                "MS107",
                "a spec needs a `graph` or a `sequential` section",
                (),
                hint="`sequential:` lists layers applied in order; `graph:` names each step",
            )
        if has_seq and not has_graph:
            calls, outputs = self.sequential(inputs, layers)
        else:
            calls, outputs = self.graph(inputs, layers)
        seed = data.get("seed") if isinstance(data.get("seed"), int) else None
        return Spec(
            name=name,
            file=self.doc.file,
            inputs=inputs,
            layers=layers,
            calls=tuple(calls),
            outputs=tuple(outputs),
            seed=seed,
            compile=data.get("compile") if isinstance(data.get("compile"), dict) else None,
            fit=data.get("fit") if isinstance(data.get("fit"), dict) else None,
            distribution=data.get("distribution")
            if isinstance(data.get("distribution"), dict)
            else None,
            weights=self.weights(),
            sequential=has_seq and not has_graph,
            steps=tuple(self.mapping("graph")),
            source=self.source(()),
            custom=custom_types(data, self.source),
            dtype_policy=_choice(data.get("dtype_policy"), POLICIES, DEFAULT_POLICY),
            quantize=_choice(data.get("quantize"), QUANTIZE_MODES, None),
        )

    def weights(self) -> Weights | None:
        """The ``weights:`` section, a file name alone or ``{file, map, skip_mismatch}``;
        what the schema refused is left out (its checks are in passes/weights.py)."""
        value = self.data.get("weights")
        if isinstance(value, str):
            src = self.source(("weights",))
            return Weights(value, (), False, self.source(("weights",), key=True), src)
        if not isinstance(value, dict) or not isinstance(value.get("file"), str):
            return None
        raw = value.get("map") if isinstance(value.get("map"), dict) else {}
        entries = tuple(
            WeightsMapEntry(
                new,
                old,
                self.source(("weights", "map", new), key=True),
                self.source(("weights", "map", new)),
            )
            for new, old in raw.items()
            if isinstance(old, str)
        )
        skip = value.get("skip_mismatch") is True
        return Weights(
            value["file"],
            entries,
            skip,
            self.source(("weights",), key=True),
            self.source(("weights", "file")),
        )

    def graph(
        self, inputs: tuple[Input, ...], layers: dict[str, Layer]
    ) -> tuple[list[Call], list[Output]]:
        steps = self.mapping("graph")
        input_names = set(self.mapping("inputs"))
        self.inline_names(
            item
            for step, spec in steps.items()
            if isinstance(spec, dict)
            for item in self.chain_items(spec.get("apply"), ("graph", step, "apply"))
        )
        all_names = set(steps) | input_names
        calls: list[Call] = []
        for step, spec in steps.items():
            path = ("graph", step)
            self.check_name(step, path, "tensor")
            if step in input_names:
                self.error(
                    "MS203",
                    f"tensor name '{step}' is already an input",
                    path,
                    key=True,
                    hint="each tensor is defined once; rename the step",
                )
                continue  # its calls would shadow the input and loop onto themselves
            if not isinstance(spec, dict):
                continue
            if "op" in spec:
                call = self.op_step(step, spec, path, layers)
                if call is not None:
                    calls.append(call)
                continue
            items = self.chain_items(spec.get("apply"), (*path, "apply"))
            to = spec.get("to")
            refs = self.refs(to, (*path, "to"))
            kwargs = self.call_kwargs(spec.get("call"), (*path, "call"), len(items))
            names: tuple[str, ...] = ()
            chain: list[Call] = []
            for i, (item_path, use) in enumerate(items):
                layer = self.resolve_use(use, item_path, layers, all_names)
                out_name = step if i == len(items) - 1 else f"{step}:{i}"
                src = self.source(item_path)
                if layer is not None and i == 0 and isinstance(to, dict):
                    refs, names = self.named_inputs(to, (*path, "to"), layers[layer], len(items))
                if layer is None:
                    refs = ()
                elif refs:
                    chain.append(Call(layer, refs, out_name, step, src, kwargs, names))
                refs = (TensorRef(out_name, None, src),) if refs else ()
            # A chain cut by a layer that is not there (reported) makes no calls: its
            # step stays defined, with an unknown shape, rather than a later layer
            # reading an "undefined tensor 'step:1'", a name the spec never wrote.
            if refs:
                calls += chain
        outputs = []
        for out_name, spec in self.mapping("outputs").items():
            path = ("outputs", out_name)
            self.check_name(out_name, path, "output")
            if not isinstance(spec, dict):
                continue
            src = self.source(path, key=True)
            ref = None
            if isinstance(spec.get("from"), str):
                ref = TensorRef.parse(spec["from"], self.source((*path, "from")))
            elif "from" not in spec:
                self.error(
                    "MS208",
                    f"output '{out_name}' needs `from:`, the tensor it returns",
                    path,
                    key=True,
                )
            outputs.append(self.output(out_name, spec, ref, src))
        # (an `outputs` that is empty or not a mapping is the schema's MS104 or MS106)
        if "outputs" not in self.data and isinstance(self.doc.data, dict) and "graph" in self.data:
            self.error(
                "MS208",
                "a graph spec needs an `outputs` section",
                ("graph",),
                key=True,
                hint="name each output and the tensor it comes `from`",
            )
        self.reserved_names(inputs, layers)
        return calls, outputs

    def op_step(
        self, step: str, spec: dict[str, Any], path: tuple, layers: dict[str, Layer]
    ) -> Call | None:
        """``{op: NAME, to: ..., **keywords}``: an inline layer of type ``ops.NAME``,
        named as Keras names the operation, and its one call. Nothing, for what the
        schema refused."""
        op = OPS.get(spec["op"]) if isinstance(spec["op"], str) else None
        to = spec.get("to")
        if op is None:
            return None
        operands: list[Any] = []
        given = to if isinstance(to, list) and op.operands in ("two", "list") else [to]
        for i, value in enumerate(given):
            where = (*path, "to", i) if given is to else (*path, "to")
            if isinstance(value, str):
                operands.append(TensorRef.parse(value, self.source(where)))
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and op.numbers:
                operands.append(value)
            else:
                return None  # the schema said what is wrong with it
        refs = tuple(v for v in operands if isinstance(v, TensorRef))
        if not refs:
            self.error(
                "MS305",
                f"op `{op.name}` in step '{step}' is called on numbers only",
                (*path, "to"),
                hint="one operand at least is a tensor: the number is a constant of the model",
            )
            return None
        n = self.op_counts.get(op.keras_name, 0)
        self.op_counts[op.keras_name] = n + 1
        name = op.keras_name if n == 0 else f"{op.keras_name}_{n}"
        if name in layers or name in self.taken:
            return None  # Keras would refuse the model: reserved_names says why, at the other
        self.taken.add(name)
        # At the `op:` value, with the step's path: a schema error anywhere in the step
        # (an unknown keyword) then marks the op as not to be checked further.
        at = self.source((*path, "op"))
        src = Source(at.file, at.line, at.col, path)
        kwargs = {k: v for k, v in spec.items() if k not in ("op", "to")}
        layers[name] = Layer(name, type_name(op.name), kwargs, src, inline=True)
        return Call(name, refs, step, step, src, operands=tuple(operands))

    def reserved_names(self, inputs: tuple[Input, ...], layers: dict[str, Layer]) -> None:
        """MS203 for a layer or input named as Keras may name an op the spec calls:
        Keras names each operation itself (``subtract``, ``subtract_1``, ...) and refuses
        a model with two operations of one name."""
        if not self.op_counts:
            return
        pattern = re.compile(rf"(?:{'|'.join(map(re.escape, self.op_counts))})(?:_[0-9]+)?\Z")
        named = [(i.name, i.source, "input") for i in inputs]
        named += [(n, lay.source, "layer") for n, lay in layers.items() if not op_of(lay.type)]
        for name, src, what in named:
            if pattern.match(name) is None:
                continue
            base = next(b for b in self.op_counts if re.match(rf"{re.escape(b)}(_[0-9]+)?\Z", name))
            hint = f"rename the {what}"
            if what == "layer" and layers[name].inline:
                hint = "give the inline layer a `name:` of its own"
            self.diagnostics.append(
                Diagnostic.at(
                    ERROR,
                    "MS203",
                    f"{what} name '{name}' is one Keras gives to the spec's `{base}` ops "
                    f"({base}, {base}_1, ...); Keras refuses a model with two of one name",
                    src,
                    hint,
                )
            )

    def output(self, name: str, spec: dict[str, Any], ref: TensorRef | None, src: Source) -> Output:
        loss = spec.get("loss")
        weight = spec.get("loss_weight")
        weight = (
            float(weight)
            if isinstance(weight, (int, float)) and not isinstance(weight, bool)
            else None
        )
        metrics = (
            tuple(m for m in spec.get("metrics", ()) if isinstance(m, str))
            if isinstance(spec.get("metrics"), list)
            else ()
        )
        return Output(
            name,
            ref,
            loss if isinstance(loss, (str, dict)) else None,
            weight,
            metrics,
            src,
            has_loss_key="loss" in spec,
            null_loss="loss" in spec and loss is None,
        )

    def sequential(
        self, inputs: tuple[Input, ...], layers: dict[str, Layer]
    ) -> tuple[list[Call], list[Output]]:
        items = self.chain_items(self.data.get("sequential"), ("sequential",))
        declared = len(self.mapping("inputs"))
        if declared > 1:
            self.error(
                "MS108",
                f"`sequential` takes exactly one input; got {declared}",
                ("inputs",),
                key=True,
                hint="use `graph:` for several inputs",
            )
        elif declared == 0 and "inputs" not in self.data:
            self.error(
                "MS108", "`sequential` needs one input under `inputs:`", ("sequential",), key=True
            )
        self.inline_names(iter(items))
        all_names: set[str] = set()
        refs = (TensorRef(inputs[0].name, None, inputs[0].source),) if len(inputs) == 1 else ()
        calls: list[Call] = []
        last = None
        if not refs:
            # No usable input (reported above, or by the schema): name the layers, build
            # no calls, so nothing downstream reports the same cause again.
            for item_path, use in items:
                self.resolve_use(use, item_path, layers, all_names)
            return [], []
        for item_path, use in items:
            layer = self.resolve_use(use, item_path, layers, all_names)
            if layer is None:
                refs = ()
                continue
            if refs:
                calls.append(Call(layer, refs, layer, "sequential", self.source(item_path)))
            refs = (TensorRef(layer, None, self.source(item_path)),)
            last = layer
        outputs_spec = self.mapping("outputs")
        outputs = []
        if len(outputs_spec) > 1:
            self.error(
                "MS108",
                f"`sequential` has one output; got {len(outputs_spec)}",
                ("outputs",),
                key=True,
                hint="use `graph:` for several outputs",
            )
        for out_name, spec in list(outputs_spec.items())[:1]:
            path = ("outputs", out_name)
            self.check_name(out_name, path, "output")
            if not isinstance(spec, dict):
                continue
            if isinstance(spec.get("from"), str) and spec["from"] != last:
                self.error(
                    "MS108",
                    f"in `sequential` the output is the last layer '{last}'; got from: '{spec['from']}'",
                    (*path, "from"),
                    hint="drop `from:`, or use `graph:`",
                )
            ref = TensorRef(last, None, self.source(path, key=True)) if last else None
            outputs.append(self.output(out_name, spec, ref, self.source(path, key=True)))
        if not outputs_spec and last is not None:
            # As in keras.Sequential: the model's one output is its last layer.
            outputs.append(
                Output(
                    last,
                    TensorRef(last, None, self.source(("sequential",))),
                    None,
                    None,
                    (),
                    self.source(("sequential",), key=True),
                )
            )
        return calls, outputs


def _choice(value: Any, choices: Any, default: Any) -> Any:
    """``value`` if it is one of ``choices`` (the schema said why not), else ``default``."""
    return value if isinstance(value, str) and value in choices else default


def _listed(names: tuple[str, ...] | list[str], last: str = "and") -> str:
    """``("query", "value")`` -> "`query` and `value`"."""
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {last} {quoted[-1]}"


def parse(doc: Document) -> tuple[Spec, list[Diagnostic]]:
    """Build the IR of ``doc``; naming problems come back as diagnostics."""
    parser = _Parser(doc)
    spec = parser.parse()
    return spec, parser.diagnostics


def unused_layers(spec: Spec) -> Iterator[Diagnostic]:
    """Layers defined under ``layers:`` and never called (warning MS213)."""
    called = {c.layer for c in spec.calls}
    for layer in spec.layers.values():
        known = layer.type in LAYER_TYPES or layer.type in spec.custom
        if not layer.inline and layer.name not in called and known:
            s = layer.source
            yield Diagnostic(
                WARNING,
                "MS213",
                f"layer '{layer.name}' is defined but never called",
                "call it in `graph:` or remove it",
                s.file,
                s.line,
                s.col,
                s.path,
            )
