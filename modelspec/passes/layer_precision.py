"""Each layer's precision as the built Keras model has it, without Keras: its dtype
policy, compute and variable dtypes, and its weights with their dtypes before and after
the plan's ``model.quantize()`` calls; and the bytes ``model.summary()`` counts.

The rules are the catalogue's (:mod:`modelspec.catalog.precision`): a weight is kept in
the variable dtype of the layer that makes it (a held layer is under its holder's
policy unless it has its own), and quantization changes the weights of the layers it
reaches as :func:`~modelspec.catalog.precision.quantized_weights` says. Which layers it
reaches is what Keras's ``model.quantize(mode, filters=...)`` does with the plan's
filters: it walks every layer of the model, held ones included, and quantizes each
layer (not a layer that holds others) that the filter lets through, by the name of the
model's layer that is or holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelspec.catalog.base import LAYER_TYPES, no_weights
from modelspec.catalog.precision import (
    DTYPE_BITS,
    FIXED_WEIGHT_DTYPES,
    QUANTIZE_MODES,
    TypedWeight,
    compute_dtype,
    held_layers,
    layer_policy,
    quantizable_parts,
    quantized_policy,
    quantized_weights,
    variable_dtype,
)

Counts = tuple[int, int]  # (trainable, non-trainable)
Sizes = tuple[float, float]  # bytes, the same


@dataclass(frozen=True, slots=True)
class LayerPrecision:
    """One layer's precision in the built (and quantized) model."""

    policy: str  # its dtype policy's name, before quantization
    keras_policy: str  # as Keras names it after quantize: "int8_from_float32"
    compute_dtype: str
    variable_dtype: str
    # The modes of the quantized layers in it, by their weights' prefix ("" itself).
    quantized: dict[str, str]
    weights_before: tuple[TypedWeight, ...] | None  # None: not known without Keras
    weights: tuple[TypedWeight, ...] | None  # after quantize
    params: Counts  # as layer.count_params() splits them, after quantize
    model_params: Counts  # as the model counts them (model.trainable_weights), after
    model_bytes: Sizes  # bytes of model_params
    model_params_before: Counts
    model_bytes_before: Sizes

    @property
    def modes(self) -> list[str]:
        return sorted(set(self.quantized.values()))


def _bytes(weights: tuple[TypedWeight, ...]) -> tuple[Counts, Sizes]:
    t = sum(w.bytes for w in weights if w.trainable)
    n = sum(w.bytes for w in weights if not w.trainable)
    ct = sum(_size(w) for w in weights if w.trainable)
    cn = sum(_size(w) for w in weights if not w.trainable)
    return (ct, cn), (t, n)


def _size(w: TypedWeight) -> int:
    out = 1
    for d in w.shape:
        out *= d
    return out


def _prefix_policies(lt: Any, kw: dict[str, Any], policy: str) -> dict[str, str]:
    """The dtype policy of each layer ``kw`` holds, by its weights' path prefix."""
    out: dict[str, str] = {}
    for held, inner, spec, sub in held_layers(lt, kw, policy):
        out[f"{held}/"] = sub
        for prefix, p in _prefix_policies(inner, spec, sub).items():
            out[f"{held}/{prefix}"] = p
    return out


def _dtype_of(path: str, policy: str, prefixes: dict[str, str]) -> str:
    best = ""
    for prefix in prefixes:
        if path.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return variable_dtype(prefixes[best] if best else policy)


def _keras_names(result: Any, planned: Any) -> dict[str, str]:
    """Each spec layer's name in the Keras model (a nested model's layers keep the names
    they have in it)."""
    names: dict[str, str] = {}
    if planned is None:
        return names
    for level in [*(m.layers for m in planned.models), planned.layers]:
        for name, layer in level.items():
            names[name] = dict(layer.ctor.kwargs).get("name", name)
    return names


def _mode_for(top: str, leaf_type: str, quantize: tuple) -> str | None:
    """The mode the plan's model.quantize() calls give a layer Keras can quantize, held
    by the model's layer ``top`` (or ``top`` itself): their filters read the first name
    of each layer's path."""
    for q in quantize:
        if q.names is not None and (top in q.names) != q.only:
            continue
        if leaf_type in QUANTIZE_MODES[q.mode]:
            return q.mode
    return None


def precision_facts(result: Any) -> dict[str, LayerPrecision]:
    """Every called layer's :class:`LayerPrecision`, by its name in the (expanded) spec."""
    spec, shapes, graph = result.spec, result.shapes, result.graph
    assert spec is not None and shapes is not None and graph is not None
    quantizes = spec.quantize is not None or any(
        isinstance(layer.quantize, str) for layer in spec.layers.values()
    )
    planned = None
    if quantizes:
        from modelspec.lower.plan import plan

        try:
            planned = plan(result)
        except Exception:  # noqa: BLE001 - a spec that cannot be built: no quantization
            planned = None
    keras_names = _keras_names(result, planned)
    calls = planned.quantize if planned is not None else ()
    first_inputs: dict[str, list] = {}
    for call in graph.order:
        if call.output in shapes.call_inputs:
            first_inputs.setdefault(call.layer, shapes.call_inputs[call.output])
    out: dict[str, LayerPrecision] = {}
    for call in graph.order:
        name = call.layer
        if name in out or name not in spec.layers:
            continue
        layer = spec.layers[name]
        policy = layer_policy(spec, layer)
        lt = LAYER_TYPES.get(layer.type)
        counts = shapes.params.get(name, (0, 0))
        model_counts = shapes.model_params.get(name, counts)
        before: tuple[TypedWeight, ...] | None = None
        after: tuple[TypedWeight, ...] | None = None
        quantized: dict[str, str] = {}
        if lt is not None and (lt.weights is no_weights or name in first_inputs):
            kw = lt.resolve(lt.with_held_names(layer.kwargs, dict(layer.inner)))
            inputs = first_inputs.get(name, [])
            try:
                raw = lt.weights(kw, inputs) if lt.weights is not no_weights else []
            except Exception:  # noqa: BLE001 - a rule that cannot list them: unknown
                raw = None
            if raw is not None:
                prefixes = _prefix_policies(lt, kw, policy)
                fixed = FIXED_WEIGHT_DTYPES.get(layer.type, {})
                before = tuple(
                    TypedWeight(
                        w.path,
                        w.shape,
                        fixed.get(w.path) or _dtype_of(w.path, policy, prefixes),
                        w.trainable,
                    )
                    for w in raw
                )
                after = before
                if calls:
                    own = keras_names.get(name, name)
                    try:
                        parts = quantizable_parts(layer.type, kw, inputs, own, policy)
                        after, quantized = _quantize(before, parts, calls, kw, own)
                    except ValueError:
                        after, quantized = None, {}
        if before is not None and after is not None:
            model_params_before, bytes_before = _bytes(before)
            model_params, model_bytes = _bytes(after)
            if model_params_before != model_counts:
                # The catalogue's weights and its counts disagree (a rule's quirk): keep
                # the counts, each in the layer's variable dtype.
                size = DTYPE_BITS[variable_dtype(policy)] / 8
                model_params_before = model_params = model_counts
                bytes_before = model_bytes = (model_counts[0] * size, model_counts[1] * size)
            total = sum(model_params)
            frozen = counts[0] == 0 and sum(counts) > 0
            params = (0, total) if frozen else model_params
        else:
            size = DTYPE_BITS[variable_dtype(policy)] / 8
            model_params_before = model_params = model_counts
            bytes_before = model_bytes = (model_counts[0] * size, model_counts[1] * size)
            params = counts
        own_mode = quantized.get("")
        out[name] = LayerPrecision(
            policy=policy,
            keras_policy=quantized_policy(own_mode, policy) if own_mode else policy,
            compute_dtype=compute_dtype(policy),
            variable_dtype=variable_dtype(policy),
            quantized=quantized,
            weights_before=before,
            weights=after,
            params=params,
            model_params=model_params,
            model_bytes=model_bytes,
            model_params_before=model_params_before,
            model_bytes_before=bytes_before,
        )
    return out


def _quantize(
    weights: tuple[TypedWeight, ...], parts: list, calls: tuple, kw: dict, top: str
) -> tuple[tuple[TypedWeight, ...], dict[str, str]]:
    """The weights after quantize, and the modes of the parts it quantized; ``top`` is
    the layer's name in the Keras model."""
    quantized: dict[str, str] = {}
    out = list(weights)
    for part in parts:
        mode = _mode_for(top, part.type, calls)
        if mode is None:
            continue
        if part.prefix:
            mine = [w for w in out if w.path.startswith(part.prefix)]
            local = [w._replace(path=w.path[len(part.prefix) :]) for w in mine]
        else:
            mine = [w for w in out if "/" not in w.path]
            local = mine
        sub_kw = _part_kwargs(part, kw, local)
        new = quantized_weights(part.type, sub_kw, local, mode, equation=part.equation)
        new = [w._replace(path=part.prefix + w.path) for w in new]
        where = out.index(mine[0]) if mine else len(out)
        rest = [w for w in out if w not in mine]
        out = rest[:where] + new + rest[where:]
        quantized[part.prefix.rstrip("/")] = mode
    return tuple(out), quantized


def _part_kwargs(part: Any, kw: dict, local: list[TypedWeight]) -> dict[str, Any]:
    """The kwargs :func:`quantized_weights` reads for a quantizable part: the layer's own
    for itself; for a held or built one, what its weights say (units, input_dim)."""
    if not part.prefix:
        return kw
    kernel = next((w for w in local if w.path in ("kernel", "embeddings")), None)
    shape = kernel.shape if kernel is not None else ()
    sub: dict[str, Any] = {"trainable": kw.get("trainable", True)}
    if part.type == "Dense" and shape:
        sub["units"] = shape[-1]
    if part.type == "Embedding" and shape:
        sub["input_dim"] = shape[0]
    if part.equation is not None:
        sub["equation"] = part.equation
    return sub
