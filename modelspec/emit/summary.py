"""The ``summary`` target: a checked spec as Keras's ``model.summary()`` would show it.

Two forms:

- :func:`summary_json` -- the stable JSON that other tools read (its shape is part
  of the public interface; see ``docs/spec.md``);
- :func:`summary_table` -- a table like ``model.summary()``: layer, type, output
  shape, parameters, connected to, and totals, then the training objective.

Layers appear once per definition, in the order Keras lists them (the order of
their first call), so a shared layer's weights count once, as in Keras.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from modelspec.catalog.base import fmt_shape
from modelspec.catalog.ops import op_of
from modelspec.errors import printable
from modelspec.ir import Call, split_ref
from modelspec.passes.keras_order import keras_layer_order
from modelspec.passes.layer_precision import precision_facts
from modelspec.passes.result import Result
from modelspec.passes.training import objective

# The precision fields of a layer's JSON row, and their values for a layer facts do not
# cover (an input, a nested model's row).
_NO_PRECISION = {"dtype_policy": None, "compute_dtype": None, "variable_dtype": None,
                 "quantized": None}  # fmt: skip


def _precision_row(fact: Any) -> dict[str, Any]:
    if fact is None:
        return dict(_NO_PRECISION)
    modes = fact.modes
    return {
        "dtype_policy": fact.keras_policy,
        "compute_dtype": fact.compute_dtype,
        "variable_dtype": fact.variable_dtype,
        "quantized": "+".join(modes) if modes else None,
    }


def _json_shape(shape: Any) -> Any:
    if isinstance(shape, list):
        return [_json_shape(s) for s in shape]
    return None if shape is None else list(shape)


def _layer_calls(result: Result, order: list[str] | None = None) -> dict[str, list[Call]]:
    """Each called layer's calls (in graph order, as Keras numbers nodes), with the
    layers in the order Keras lists them (``order``, when the caller has it)."""
    assert result.graph is not None and result.spec is not None
    calls: dict[str, list[Call]] = {}
    for call in result.graph.order:
        calls.setdefault(call.layer, []).append(call)
    if order is None:
        order = keras_layer_order(result.spec, result.graph)
    listed = [name for name in order if name in calls]
    # Layers on no path to an output are not in the Keras model; keep them last so the
    # summary of a spec with warnings still shows them.
    seen = set(listed)
    listed += [name for name in calls if name not in seen]
    return {name: calls[name] for name in listed}


def _row_of(result: Result, layer: str, level: str | None) -> str | None:
    """The row ``layer`` is shown in at ``level``: itself, or the nested model that holds
    it there (its owner instance); None when it is in no model at that level."""
    nesting = result.nesting
    home = nesting.home.get(layer) if nesting is not None else None
    row = layer
    while home != level:
        if home is None:
            return None
        row = home
        parent = result.models[home].parent
        home = result.models[parent].owner if parent is not None else None
    return row


def _nested_rows(
    result: Result, level: str | None, facts: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The rows of one model of a spec with nested models: a nested model is one row,
    with its total and its own rows under ``layers``, as ``model.summary()`` shows it."""
    spec, shapes, nesting = result.spec, result.shapes, result.nesting
    assert spec is not None and shapes is not None and nesting is not None
    this = nesting.levels[level]
    calls: dict[str, list[Any]] = {}
    for item in this.items:
        calls.setdefault(item.name, []).append(item)
    rows = []
    order = [_row_of(result, name, level) for name in _layer_calls(result)]
    for name in dict.fromkeys(r for r in order if r in calls):
        if name in nesting.levels:
            sub = nesting.levels[name]
            shown = []
            for item in calls[name]:
                outs = [
                    _json_shape(_pick(shapes.tensors, o)) for o in result.models[item.model].outputs
                ]
                shown.append(outs[0] if len(outs) == 1 else outs)
            rows.append(
                {
                    "name": sub.name,
                    "type": sub.form.title(),
                    "params": sum(sub.params),
                    "trainable_params": sub.params[0],
                    "output_shapes": shown,
                    **_NO_PRECISION,
                    "layers": _nested_rows(result, name, facts),
                }
            )
            continue
        layer = spec.layers[name]
        fact = facts.get(name) if facts is not None else None
        trainable, non_trainable = fact.params if fact else shapes.params.get(name, (0, 0))
        rows.append(
            {
                "name": this.local.get(name, name),
                "type": layer.type,
                "params": trainable + non_trainable,
                "trainable_params": trainable,
                "output_shapes": [_json_shape(shapes.tensors.get(i.output)) for i in calls[name]],
                **_precision_row(fact),
            }
        )
    return rows


def _pick(tensors: Mapping[str, Any], ref: str) -> Any:
    """The shape of the tensor ``ref`` names, ``name[i]`` picking one of several."""
    name, index = split_ref(ref)
    value = tensors.get(name)
    if index is None:
        return value
    return value[index] if isinstance(value, list) and index < len(value) else None


def summary_json(
    result: Result,
    *,
    nested: bool = True,
    order: list[str] | None = None,
    facts: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The summary as JSON. A nested model is one row with its own rows under
    ``layers``; ``nested=False`` lists the layers of the flat spec instead (for
    comparing specs layer by layer, whatever they nest). ``order`` is
    :func:`keras_layer_order`'s, when the caller has it; ``facts``
    :func:`~modelspec.passes.layer_precision.precision_facts`'s."""
    spec, shapes = result.spec, result.shapes
    assert spec is not None and shapes is not None
    if facts is None:
        facts = precision_facts(result)
    layers = []
    total_t = total_n = 0
    before_t = before_n = 0
    bytes_t = bytes_n = before_bt = before_bn = 0.0
    for name, calls in _layer_calls(result, order).items():
        layer = spec.layers[name]
        fact = facts.get(name)
        if fact is None:
            trainable, non_trainable = shapes.params.get(name, (0, 0))
            model = shapes.model_params.get(name, (trainable, non_trainable))
            model_before, size, size_before = model, (model[0] * 4, model[1] * 4), None
        else:
            trainable, non_trainable = fact.params
            # Totals count as the Keras model does (see ShapeFacts.model_params).
            model, model_before = fact.model_params, fact.model_params_before
            size, size_before = fact.model_bytes, fact.model_bytes_before
        total_t += model[0]
        total_n += model[1]
        before_t += model_before[0]
        before_n += model_before[1]
        bytes_t += size[0]
        bytes_n += size[1]
        size_before = size_before or size
        before_bt += size_before[0]
        before_bn += size_before[1]
        layers.append(
            {
                "name": name,
                "type": layer.type,
                "params": trainable + non_trainable,
                "trainable_params": trainable,
                "output_shapes": [_json_shape(shapes.tensors.get(c.output)) for c in calls],
                **_precision_row(fact),
            }
        )
    if result.nesting is not None and nested:
        layers = _nested_rows(result, None, facts)
    modes = sorted({m for f in facts.values() for m in f.modes})
    outputs = {}
    for out in spec.outputs:
        loss = out.loss if isinstance(out.loss, str) or out.loss is None else out.loss.get("type")
        outputs[out.name] = {
            "shape": _json_shape(shapes.outputs.get(out.name)),
            "dtype": shapes.output_dtypes.get(out.name),
            "loss": loss,
            "loss_weight": out.loss_weight,
        }
    return {
        "name": spec.name,
        "inputs": {
            i.name: {"shape": _json_shape(i.batch_shape), "dtype": i.dtype} for i in spec.inputs
        },
        "outputs": outputs,
        "objective": objective(spec, shapes.outputs),
        "layers": layers,
        "total_params": total_t + total_n,
        "trainable_params": total_t,
        "non_trainable_params": total_n,
        "dtype_policy": spec.dtype_policy,
        "param_bytes": _byte_counts(bytes_t, bytes_n),
        "before_quantization": None
        if not modes
        else {
            "modes": modes,
            "total_params": before_t + before_n,
            "trainable_params": before_t,
            "non_trainable_params": before_n,
            "param_bytes": _byte_counts(before_bt, before_bn),
        },
        "weights": None
        if spec.weights is None
        else {
            "file": spec.weights.file,
            "map": {e.new: e.old for e in spec.weights.map},
            "skip_mismatch": spec.weights.skip_mismatch,
        },
    }


def shape_text(shape: Any) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(shape_text(s) for s in shape) + "]"
    return fmt_shape(shape)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _byte_counts(trainable: float, non_trainable: float) -> dict[str, int | float]:
    return {
        "total": _number(trainable + non_trainable),
        "trainable": _number(trainable),
        "non_trainable": _number(non_trainable),
    }


def _size(size: float) -> str:
    """Bytes as Keras's summary shows them (``1.82 KB``); under 1 KB, ``100 B``."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}" if unit != "B" else f"{_number(size):g} B"
        size /= 1024
    raise AssertionError  # pragma: no cover


def _dtype_text(fact: Any) -> str:
    """A layer's Dtype cell: its policy as Keras names it, and whether layers it holds
    were quantized (``float32; int8 inside``)."""
    if fact is None:
        return "-"
    inside = sorted({mode for prefix, mode in fact.quantized.items() if prefix})
    return fact.keras_policy + (f"; {' and '.join(inside)} inside" if inside else "")


def _row_dtype(row: str, dtypes: Mapping[str, str]) -> str:
    name = row.rsplit(" (", 1)[0]
    return dtypes.get(f"{name} (", "-")


def _nested_table_rows(
    result: Result, facts: Mapping[str, Any] | None = None
) -> list[tuple[str, str, str, list[str]]]:
    """The table's rows for a spec with nested models: one row per nested model, with
    its total, as ``model.summary()`` shows it."""
    spec, nesting = result.spec, result.nesting
    assert spec is not None and nesting is not None
    by_name = {row["name"]: row for row in _nested_rows(result, None, facts)}
    top = nesting.levels[None]
    node_index: dict[str, str] = {i.name: f"{i.name}[0]" for i in spec.inputs}
    seen: dict[str, int] = {}
    links: dict[str, list[str]] = {}
    for item in top.items:
        row = nesting.levels[item.name].name if item.name in nesting.levels else item.name
        n = seen[row] = seen.get(row, -1) + 1
        node_index[item.output] = f"{row}[{n}]"
        links.setdefault(row, []).extend(
            f"{node_index.get(name, name)}[{index or 0}]" for name, index in item.refs()
        )
    rows = [(f"{i.name} (InputLayer)", shape_text(i.batch_shape), "0", ["-"]) for i in spec.inputs]
    for name, row in by_name.items():
        outs = [_tuple_shape(s) for s in row["output_shapes"]]
        texts = [shape_text(o) for o in outs]
        shown = texts[0] if len(set(texts)) == 1 else ", ".join(texts)
        rows.append(
            (f"{name} ({row['type']})", shown, f"{row['params']:,}", links.get(name) or ["-"])
        )
    return rows


def _tuple_shape(shape: Any) -> Any:
    if isinstance(shape, list) and shape and isinstance(shape[0], list):
        return [_tuple_shape(s) for s in shape]
    return None if shape is None else tuple(shape)


def _precision_lines(spec: Any, facts: Mapping[str, Any]) -> list[str]:
    """What each dtype policy of the table means (compute and weight dtypes), and the
    model's parameters and bytes by dtype: shown for a model not all in float32."""
    out = ["", f" Precision: dtype_policy {spec.dtype_policy}"]
    policies: dict[str, list[str]] = {}
    for name, fact in facts.items():
        policies.setdefault(fact.policy, []).append(name)
    for policy, names in policies.items():
        fact = facts[names[0]]
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4:,} more" if len(names) > 4 else "")
        out.append(
            f"   {policy}: computes in {fact.compute_dtype}, keeps weights in "
            f"{fact.variable_dtype} ({shown})"
        )
    by_dtype: dict[str, list[float]] = {}
    for fact in facts.values():
        for w in fact.weights or ():
            count = by_dtype.setdefault(w.dtype, [0, 0])
            count[0] += math.prod(w.shape)
            count[1] += w.bytes
    if by_dtype:
        parts = [f"{d} {n:,} ({_size(b)})" for d, (n, b) in sorted(by_dtype.items())]
        out.append(f"   weights by dtype: {', '.join(parts)}")
    return out


def summary_table(result: Result) -> str:
    """A ``model.summary()``-like table, then totals and the objective."""
    spec, shapes, graph = result.spec, result.shapes, result.graph
    assert spec is not None and shapes is not None and graph is not None
    listed = keras_layer_order(spec, graph)  # once: it walks the whole graph
    calls_by_layer = _layer_calls(result, listed)
    node_index: dict[str, str] = {}  # tensor -> Keras's "layer[node][index]"
    for name, calls in calls_by_layer.items():
        for i, call in enumerate(calls):
            node_index[call.output] = f"{name}[{i}]"
    for inp in spec.inputs:
        node_index[inp.name] = f"{inp.name}[0]"

    def connected(call: Call) -> list[str]:
        out = []
        for ref in call.refs():
            base = node_index.get(ref.name, ref.name)
            out.append(f"{base}[{ref.index or 0}]")
        return out

    facts = precision_facts(result)
    dtypes: dict[str, str] = {}  # row name's start -> its Dtype cell
    rows: list[tuple[str, str, str, list[str]]] = []
    inputs = spec.input_map
    order = list(listed)
    seen = set(order)
    order += [name for name in calls_by_layer if name not in seen]
    texts: dict[Any, str] = {}  # shape -> its text: inputs are often many, alike
    for name in order:
        if name in inputs:
            inp = inputs[name]
            text = texts.get(inp.batch_shape)
            if text is None:
                text = texts[inp.batch_shape] = shape_text(inp.batch_shape)
            rows.append((f"{inp.name} (InputLayer)", text, "0", ["-"]))
            continue
        calls = calls_by_layer[name]
        layer = spec.layers[name]
        fact = facts.get(name)
        t, n = fact.params if fact is not None else shapes.params.get(name, (0, 0))
        dtypes[f"{name} ("] = _dtype_text(fact)
        outs = [shape_text(shapes.tensors.get(c.output)) for c in calls]
        shown = outs[0] if len(set(outs)) == 1 else ", ".join(outs)
        links = [link for c in calls for link in connected(c)]
        # An op's row names Keras's class, as Keras's summary does: `sum (Sum)`.
        shown_type = op.keras_class if (op := op_of(layer.type)) else layer.type
        rows.append((f"{name} ({shown_type})", shown, f"{t + n:,}", links or ["-"]))

    if result.nesting is not None:
        rows = _nested_table_rows(result, facts)
    # A model not all in float32, or quantized, shows each layer's dtype policy as Keras
    # names it (int8_from_float32 for a quantized layer); an all-float32 one does not.
    shown_dtypes = any(f.policy != "float32" or f.quantized for f in facts.values())
    headers = ("Layer (type)", "Output Shape", "Param #", "Connected to")
    cells = [(a, b, c) + ((_row_dtype(a, dtypes),) if shown_dtypes else ()) for a, b, c, _ in rows]
    if shown_dtypes:
        headers = ("Layer (type)", "Output Shape", "Param #", "Dtype", "Connected to")
    n_cells = len(headers) - 1
    widths = [
        max(len(headers[i]), *(len(r[i]) for r in cells)) if cells else len(headers[i])
        for i in range(n_cells)
    ]
    widths.append(max([len(headers[-1])] + [len(x) for r in rows for x in r[3]]))
    widths = [min(w, 60) for w in widths]

    def line(row: tuple[str, ...]) -> str:
        a, b, c = row[:3]
        text = f" {a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}"
        if shown_dtypes:
            text += f"  {row[3]:<{widths[3]}}"
        return f"{text}  {row[-1]}".rstrip()

    rule = "-" * (sum(widths) + 2 * len(widths))
    # The model name is free text: escaped, so it cannot forge lines in a CI log.
    out = [f'Model: "{printable(spec.name)}"', rule, line(headers), "=" * len(rule)]
    more = line(("",) * n_cells + ("-",))[:-1]  # the start of a line for one more link
    for i, ((*_, links), row) in enumerate(zip(rows, cells, strict=True)):
        out.append(line((*row, links[0])))
        out.extend((more + extra).rstrip() for extra in links[1:])
        if i != len(rows) - 1:
            out.append(rule)
    out.append("=" * len(rule))
    data = summary_json(result, order=listed, facts=facts)
    size = data["param_bytes"]
    total = f" Total params: {data['total_params']:,} ({_size(size['total'])})"
    before = data["before_quantization"]
    if before is not None:
        modes = " and ".join(before["modes"])
        total += (
            f"; before quantization to {modes}: {before['total_params']:,} "
            f"({_size(before['param_bytes']['total'])})"
        )
    out.append(total)
    out.append(f" Trainable params: {data['trainable_params']:,} ({_size(size['trainable'])})")
    out.append(
        f" Non-trainable params: {data['non_trainable_params']:,} ({_size(size['non_trainable'])})"
    )
    if shown_dtypes:
        out += _precision_lines(spec, facts)
    if spec.outputs:
        out.append("")
        out.append(" Outputs:")
        for o in spec.outputs:
            info = data["outputs"][o.name]
            loss = f", loss {info['loss']}" if info["loss"] else ""
            weight = f" x {o.loss_weight:g}" if o.loss_weight is not None else ""
            out.append(
                f"   {o.name}: {shape_text(shapes.outputs.get(o.name))} {info['dtype'] or '?'}{loss}{weight}"
            )
    formula = objective(spec, shapes.outputs)
    if formula:
        out.append("")
        out.append(f" Objective: {formula}")
    if spec.weights is not None:
        w = spec.weights
        renamed = f", {len(w.map)} renamed" if w.map else ""
        skip = ", skipping layers that do not fit" if w.skip_mismatch else ""
        out.append("")
        out.append(f" Starts from: {printable(w.file)} (by layer name{renamed}{skip})")
    return "\n".join(out) + "\n"
