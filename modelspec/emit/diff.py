"""``modelspec diff``: what changes in the *model* between two checked specs.

A YAML diff shows which lines moved; a reviewer wants to know what the change does
to the architecture. :func:`diff` compares two checked specs by name and reports:

- **inputs** added, removed, or with another shape or dtype;
- **layers** added, removed, or changed: another type, the keyword arguments that
  differ (a kwarg left at Keras's default counts as that default, so writing
  ``activation: linear`` out changes nothing), and the output shapes and parameter
  counts that differ, which also lists a layer whose own definition is unchanged
  but whose input changed upstream;
- **wiring**: which tensors each call of a layer reads, named by the layer (and
  call, for shared layers) or input that makes them;
- **outputs**: another source, loss, loss weight or metrics;
- **compile**: the optimizer and other ``compile`` options;
- **settings**: the seed, ``fit``, ``distribution``, the model's ``dtype_policy`` and
  ``quantize`` (a layer's own ``dtype`` and ``quantize`` are among its kwargs);
- **total parameters**, trainable and not.

Layers are matched by name: a renamed layer is one removed and one added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.emit.summary import shape_text, summary_json
from modelspec.errors import printable
from modelspec.ir import Spec, TensorRef
from modelspec.passes.result import Result

MISSING = "(not set)"


@dataclass(slots=True)
class LayerChange:
    """One named thing that differs. ``sign``: ``+`` only in B, ``-`` only in A, ``~``
    in both; ``changes`` maps what differs to its (A, B) values, with ``None`` on the
    side that lacks the thing."""

    name: str
    type: str
    sign: str = "~"
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class Side:
    """What one spec looks like to the diff."""

    file: str
    name: str
    inputs: dict[str, dict[str, Any]]
    layers: dict[str, dict[str, Any]]  # name -> type, kwargs, params, shapes, wiring
    outputs: dict[str, dict[str, Any]]
    compile: dict[str, Any]
    objective: str | None  # the loss as a formula, with each output's reduction
    settings: dict[str, Any]  # seed, fit, distribution, dtype_policy, quantize
    total: tuple[int, int]  # (all parameters, trainable)


@dataclass(slots=True)
class Diff:
    a: Side
    b: Side
    inputs: list[LayerChange] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[LayerChange] = field(default_factory=list)
    outputs: list[LayerChange] = field(default_factory=list)
    compile: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    settings: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def objective_changed(self) -> bool:
        return self.a.objective != self.b.objective

    @property
    def identical(self) -> bool:
        return not (
            self.inputs
            or self.added
            or self.removed
            or self.changed
            or self.outputs
            or self.compile
            or self.settings
            or self.objective_changed
            or self.a.total != self.b.total
        )

    # --- output ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        def changes(items: list[LayerChange]) -> list[dict[str, Any]]:
            return [
                {
                    "name": c.name,
                    "change": {"+": "added", "-": "removed", "~": "changed"}[c.sign],
                    "changes": {k: {"a": a, "b": b} for k, (a, b) in c.changes.items()},
                }
                for c in items
            ]

        def layer(side: Side, name: str) -> dict[str, Any]:
            info = side.layers[name]
            return {
                "name": name,
                "type": info["type"],
                "params": info["params"],
                "output_shapes": info["shapes"],
            }

        return {
            "identical": self.identical,
            "a": {"file": self.a.file, "name": self.a.name},
            "b": {"file": self.b.file, "name": self.b.name},
            "inputs": changes(self.inputs),
            "layers": {
                "added": [layer(self.b, n) for n in self.added],
                "removed": [layer(self.a, n) for n in self.removed],
                "changed": changes(self.changed),
            },
            "outputs": changes(self.outputs),
            "compile": {k: {"a": a, "b": b} for k, (a, b) in self.compile.items()},
            "objective": {"a": self.a.objective, "b": self.b.objective}
            if self.objective_changed
            else None,
            "settings": {k: {"a": a, "b": b} for k, (a, b) in self.settings.items()},
            "total_params": {"a": self.a.total[0], "b": self.b.total[0]},
            "trainable_params": {"a": self.a.total[1], "b": self.b.total[1]},
        }

    def text(self) -> str:
        a, b = self.a, self.b
        na, nb = printable(a.name), printable(b.name)  # free text, escaped for logs
        out = [f"--- {printable(a.file)} ({na})", f"+++ {printable(b.file)} ({nb})"]
        if a.name != b.name:
            out.append(f"model name: {na} -> {nb}")
        if self.inputs:
            out.append("inputs:")
            out += [_change_line(c) for c in self.inputs]
        if self.added or self.removed or self.changed:
            out.append("layers:")
            width = max(
                len(n) for n in [*self.added, *self.removed, *(c.name for c in self.changed)]
            )
            for name in self.removed:
                out.append(_layer_line("-", name, a.layers[name], width))
            for name in self.added:
                out.append(_layer_line("+", name, b.layers[name], width))
            for c in self.changed:
                out.append(f"  ~ {c.name:<{width}}  {c.type}")
                for k, (x, y) in c.changes.items():
                    if k == "params":
                        out.append(f"      params: {_count(x, y)}")
                    else:
                        out.append(f"      {k}: {_show(x, k)} -> {_show(y, k)}")
        if self.outputs:
            out.append("outputs:")
            out += [_change_line(c) for c in self.outputs]
        if self.compile:
            out.append("compile:")
            out += [f"  ~ {k}: {_show(x)} -> {_show(y)}" for k, (x, y) in self.compile.items()]
        if self.objective_changed:
            out.append("objective: the training objective changed")
            out.append(f"  - {a.objective or 'none (not trained)'}")
            out.append(f"  + {b.objective or 'none (not trained)'}")
        for k, (x, y) in self.settings.items():
            out.append(f"{k}: {_show(x)} -> {_show(y)}")
        (ta, tra), (tb, trb) = a.total, b.total
        out.append(f"total params: {_count(ta, tb)}")
        if (ta - tra, tb - trb) != (0, 0):
            out.append(
                f"  trainable: {_count(tra, trb)}; non-trainable: {_count(ta - tra, tb - trb)}"
            )
        out.append("identical" if self.identical else "the models differ")
        return "\n".join(out) + "\n"


def _shapes(shapes: list[Any]) -> str:
    """A layer's output shapes, one per call: once when every call gives the same."""
    texts = [shape_text(_tuple(s)) for s in shapes]
    return texts[0] if len(set(texts)) == 1 else ", ".join(texts)


def _show(value: Any, what: str = "") -> str:
    """A value as a spec would write it (flow style), shapes as Keras prints them."""
    if what in ("shape", "output shape") and value is not None:
        return _shapes(value) if what == "output shape" else shape_text(_tuple(value))
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _count(a: int, b: int) -> str:
    if a == b:
        return f"{a:,} (unchanged)"
    return f"{a:,} -> {b:,} ({b - a:+,})"


def _change_line(c: LayerChange) -> str:
    if c.sign == "~":
        what = "; ".join(f"{k}: {_show(x, k)} -> {_show(y, k)}" for k, (x, y) in c.changes.items())
    else:
        what = "; ".join(
            f"{k}: {_show(x if c.sign == '-' else y, k)}" for k, (x, y) in c.changes.items()
        )
    return f"  {c.sign} {c.name}  {what}"


def _layer_line(sign: str, name: str, info: dict[str, Any], width: int) -> str:
    shapes = _shapes(info["shapes"])
    return f"  {sign} {name:<{width}}  {info['type']}  {shapes}  {info['params']:,} params"


# --- building a side ------------------------------------------------------------------


def _wiring(spec: Spec, result: Result) -> dict[str, list[list[str]]]:
    """Per layer, per call: what it reads, by the layer (or input) that makes it.

    Tensor names come from graph steps, which a change may rename freely; the layer
    that makes a tensor is what matters. A shared layer's calls are compared as a
    sorted list: which call Keras numbers first depends on the order the spec writes
    its steps in, not on the model.
    """
    assert result.graph is not None

    def source(ref: TensorRef) -> str:
        call = result.graph.producer.get(ref.name) if result.graph else None
        base = call.layer if call is not None else f"input {ref.name}"
        return base if ref.index is None else f"{base}[{ref.index}]"

    wiring: dict[str, list[list[str]]] = {}
    for call in result.graph.order:
        reads = [source(r) for r in call.inputs]
        for kw in sorted(call.kwargs, key=lambda k: k.name):
            refs = kw.refs()
            shown = ", ".join(source(r) for r in refs) if refs else str(kw.value).lower()
            reads.append(f"{kw.name}={shown}")
        wiring.setdefault(call.layer, []).append(reads)
    for calls in wiring.values():
        calls.sort()
    for out in spec.outputs:
        if out.tensor is not None:
            wiring[f"output {out.name}"] = [[source(out.tensor)]]
    return wiring


def side(result: Result) -> Side:
    """The facts of one checked spec (``result.ok``) that :func:`diff` compares."""
    spec = result.spec
    assert spec is not None and result.ok
    # Layer by layer, as the flat spec has them, whether or not blocks are nested.
    summary = summary_json(result, nested=False)
    wiring = _wiring(spec, result)
    layers: dict[str, dict[str, Any]] = {}
    for entry in summary["layers"]:
        name = entry["name"]
        layer = spec.layers[name]
        kwargs = _resolved({"type": layer.type, **layer.kwargs})
        kwargs.pop("type")
        if kwargs.get("dtype") == spec.dtype_policy:
            del kwargs["dtype"]  # the model's policy, written out: the same layer
        if isinstance(layer.quantize, str):  # its own mode (the model's is a setting)
            kwargs["quantize"] = layer.quantize
        layers[name] = {
            "type": layer.type,
            "kwargs": kwargs,
            "params": entry["params"],
            "trainable": entry["trainable_params"],
            "shapes": entry["output_shapes"],
            "wiring": wiring.get(name, []),
        }
    inputs = {
        i.name: {"shape": summary["inputs"][i.name]["shape"], "dtype": i.dtype} for i in spec.inputs
    }
    outputs = {}
    for out in spec.outputs:
        outputs[out.name] = {
            "from": wiring.get(f"output {out.name}", [[None]])[0][0],
            "loss": out.loss if isinstance(out.loss, str | None) else dict(out.loss),
            "loss_weight": out.loss_weight,
            "metrics": list(out.metrics),
            "shape": summary["outputs"][out.name]["shape"],
        }
    return Side(
        file=result.file,
        name=spec.name,
        inputs=inputs,
        layers=layers,
        outputs=outputs,
        compile=_resolved_compile(spec.compile or {}),
        objective=summary["objective"],
        settings={
            "seed": spec.seed,
            "fit": spec.fit,
            "distribution": spec.distribution,
            "dtype_policy": spec.dtype_policy,
            "quantize": spec.quantize,
        },
        total=(summary["total_params"], summary["trainable_params"]),
    )


def _resolved(layer: dict[str, Any]) -> dict[str, Any]:
    """A layer's kwargs with Keras's defaults filled in, inside wrappers too."""
    ltype = LAYER_TYPES.get(layer.get("type"))  # type: ignore[arg-type]
    if ltype is None:
        return dict(layer)
    out = {"type": layer["type"], **ltype.resolve({k: v for k, v in layer.items() if k != "type"})}
    for kwarg in ltype.nested:
        inner = out.get(kwarg)
        if isinstance(inner, dict) and isinstance(inner.get("type"), str):
            out[kwarg] = _resolved(inner)
        elif isinstance(inner, list):  # StackedRNNCells's cells, a Pipeline's layers
            out[kwarg] = [_resolved(i) if isinstance(i, dict) else i for i in inner]
    return out


def _resolved_compile(compile_: Any) -> dict[str, Any]:
    """``compile`` with the optimizer's defaults filled in: ``Adam`` and ``{type: Adam,
    learning_rate: 0.001}`` are the same optimizer."""
    from modelspec.catalog.training import OPTIMIZERS

    out = dict(compile_)
    opt = out.get("optimizer")
    if isinstance(opt, str):
        opt = {"type": opt}
    if isinstance(opt, dict) and opt.get("type") in OPTIMIZERS:
        kwargs = OPTIMIZERS[opt["type"]]
        resolved = {k.name: k.default for k in kwargs if not k.required}
        out["optimizer"] = {"type": opt["type"], **resolved, **opt}
    return out


def _tuple(shape: Any) -> Any:
    """JSON shapes back to tuples (several outputs stay a list), as ``shape_text`` takes."""
    if shape is None:
        return None
    if shape and isinstance(shape[0], list):
        return [tuple(s) for s in shape]
    return tuple(shape)


def _differences(a: dict[str, Any], b: dict[str, Any], keys: list[str]) -> dict[str, tuple]:
    return {k: (a.get(k, MISSING), b.get(k, MISSING)) for k in keys if a.get(k) != b.get(k)}


def _union(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys([*a, *b]))


def _compare(
    a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]], kind: str, keys: list[str]
) -> list[LayerChange]:
    """Inputs or outputs, matched by name: added, removed, or with other ``keys``."""
    out = []
    for name in _union(a, b):
        if name not in a:
            out.append(LayerChange(name, kind, "+", {k: (None, b[name][k]) for k in keys}))
        elif name not in b:
            out.append(LayerChange(name, kind, "-", {k: (a[name][k], None) for k in keys}))
        elif changes := _differences(a[name], b[name], keys):
            out.append(LayerChange(name, kind, "~", changes))
    return out


def diff(a: Result, b: Result) -> Diff:
    """Compare two checked specs; ``a`` is the old one."""
    sa, sb = side(a), side(b)
    d = Diff(sa, sb)
    d.inputs = _compare(sa.inputs, sb.inputs, "Input", ["shape", "dtype"])
    d.removed = [n for n in sa.layers if n not in sb.layers]
    d.added = [n for n in sb.layers if n not in sa.layers]
    for name, lb in sb.layers.items():
        la = sa.layers.get(name)
        if la is None:
            continue
        change = LayerChange(name, lb["type"])
        if la["type"] != lb["type"]:
            change.changes["type"] = (la["type"], lb["type"])
        change.changes.update(
            _differences(la["kwargs"], lb["kwargs"], _union(la["kwargs"], lb["kwargs"]))
        )
        if la["wiring"] != lb["wiring"]:
            change.changes["inputs"] = (_wiring_text(la["wiring"]), _wiring_text(lb["wiring"]))
        if la["shapes"] != lb["shapes"]:
            change.changes["output shape"] = (la["shapes"], lb["shapes"])
        if la["params"] != lb["params"]:
            change.changes["params"] = (la["params"], lb["params"])
        if change.changes:
            d.changed.append(change)
    d.outputs = _compare(
        sa.outputs, sb.outputs, "output", ["from", "shape", "loss", "loss_weight", "metrics"]
    )
    d.compile = _differences(sa.compile, sb.compile, _union(sa.compile, sb.compile))
    d.settings = _differences(sa.settings, sb.settings, list(sa.settings))
    return d


def _wiring_text(calls: list[list[str]]) -> str:
    """``a`` for one call of one input; ``[a, b]`` for a merge; ``a | b`` between calls."""
    parts = [ins[0] if len(ins) == 1 else "[" + ", ".join(ins) + "]" for ins in calls]
    return " | ".join(parts) if parts else "(not called)"
