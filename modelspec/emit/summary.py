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

from collections.abc import Mapping
from typing import Any

from modelspec.catalog.base import fmt_shape
from modelspec.catalog.ops import op_of
from modelspec.errors import printable
from modelspec.ir import Call, split_ref
from modelspec.passes.keras_order import keras_layer_order
from modelspec.passes.result import Result
from modelspec.passes.training import objective


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


def _nested_rows(result: Result, level: str | None) -> list[dict[str, Any]]:
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
                    "layers": _nested_rows(result, name),
                }
            )
            continue
        layer = spec.layers[name]
        trainable, non_trainable = shapes.params.get(name, (0, 0))
        rows.append(
            {
                "name": this.local.get(name, name),
                "type": layer.type,
                "params": trainable + non_trainable,
                "trainable_params": trainable,
                "output_shapes": [_json_shape(shapes.tensors.get(i.output)) for i in calls[name]],
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
    result: Result, *, nested: bool = True, order: list[str] | None = None
) -> dict[str, Any]:
    """The summary as JSON. A nested model is one row with its own rows under
    ``layers``; ``nested=False`` lists the layers of the flat spec instead (for
    comparing specs layer by layer, whatever they nest). ``order`` is
    :func:`keras_layer_order`'s, when the caller has it."""
    spec, shapes = result.spec, result.shapes
    assert spec is not None and shapes is not None
    layers = []
    total_t = total_n = 0
    for name, calls in _layer_calls(result, order).items():
        layer = spec.layers[name]
        trainable, non_trainable = shapes.params.get(name, (0, 0))
        # Totals count as the Keras model does (see ShapeFacts.model_params).
        model_t, model_n = shapes.model_params.get(name, (trainable, non_trainable))
        total_t += model_t
        total_n += model_n
        layers.append(
            {
                "name": name,
                "type": layer.type,
                "params": trainable + non_trainable,
                "trainable_params": trainable,
                "output_shapes": [_json_shape(shapes.tensors.get(c.output)) for c in calls],
            }
        )
    if result.nesting is not None and nested:
        layers = _nested_rows(result, None)
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


def _size(params: int) -> str:
    size = params * 4  # float32 weights, as Keras reports them
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}" if unit != "B" else f"{size} B"
        size /= 1024
    raise AssertionError  # pragma: no cover


def _nested_table_rows(result: Result) -> list[tuple[str, str, str, list[str]]]:
    """The table's rows for a spec with nested models: one row per nested model, with
    its total, as ``model.summary()`` shows it."""
    spec, nesting = result.spec, result.nesting
    assert spec is not None and nesting is not None
    by_name = {row["name"]: row for row in _nested_rows(result, None)}
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
        t, n = shapes.params.get(name, (0, 0))
        outs = [shape_text(shapes.tensors.get(c.output)) for c in calls]
        shown = outs[0] if len(set(outs)) == 1 else ", ".join(outs)
        links = [link for c in calls for link in connected(c)]
        # An op's row names Keras's class, as Keras's summary does: `sum (Sum)`.
        shown_type = op.keras_class if (op := op_of(layer.type)) else layer.type
        rows.append((f"{name} ({shown_type})", shown, f"{t + n:,}", links or ["-"]))

    if result.nesting is not None:
        rows = _nested_table_rows(result)
    headers = ("Layer (type)", "Output Shape", "Param #", "Connected to")
    widths = [
        max(len(headers[i]), *(len(r[i]) for r in rows)) if rows else len(headers[i])
        for i in range(3)
    ]
    widths.append(max([len(headers[3])] + [len(x) for r in rows for x in r[3]]))
    widths = [min(w, 60) for w in widths]

    def line(cells: tuple[str, str, str, str]) -> str:
        a, b, c, d = cells
        return f" {a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}  {d}".rstrip()

    rule = "-" * (sum(widths) + 8)
    # The model name is free text: escaped, so it cannot forge lines in a CI log.
    out = [f'Model: "{printable(spec.name)}"', rule, line(headers), "=" * len(rule)]
    more = line(("", "", "", "-"))[:-1]  # the start of a line for one more link
    for i, (a, b, c, links) in enumerate(rows):
        out.append(line((a, b, c, links[0])))
        out.extend((more + extra).rstrip() for extra in links[1:])
        if i != len(rows) - 1:
            out.append(rule)
    out.append("=" * len(rule))
    data = summary_json(result, order=listed)
    out.append(f" Total params: {data['total_params']:,} ({_size(data['total_params'])})")
    out.append(
        f" Trainable params: {data['trainable_params']:,} ({_size(data['trainable_params'])})"
    )
    out.append(
        f" Non-trainable params: {data['non_trainable_params']:,} ({_size(data['non_trainable_params'])})"
    )
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
