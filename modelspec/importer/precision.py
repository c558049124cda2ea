"""The dtype policies and quantization of a model's layers -> ``dtype_policy:``,
``dtype:`` and ``quantize:``.

:func:`~modelspec.importer.layers.read_kwargs` reads each layer's saved policy into its
kwargs as ``dtype`` (the policy, a quantized one's source) and ``quantize`` (the mode
Keras quantized it in). Here the model's policy is chosen, and only what differs from
it is kept:

- the model's ``dtype_policy`` is a Sequential's own ``dtype``, else the policy most of
  its layers have (float32 where it ties);
- a layer keeps ``dtype:`` when its policy is not the model's, a held layer (a
  wrapper's) when its policy is not its holder's;
- ``quantize:`` is the model's mode (the most common one) when most of the layers
  Keras quantizes in that mode are quantized in it, each layer in another mode (or
  none: ``quantize: null``) saying so; else each quantized layer has its own. Keras's ``model.quantize`` also quantizes the
  layers a wrapper holds, and the spec's filters name only the layers it lists: a held
  layer is quantized with the model's mode or not at all.

A nested model's layers keep float32 and no quantization: a block is built under the
model's policy, and a spec cannot yet say otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.precision import DEFAULT_POLICY, QUANTIZE_MODES
from modelspec.importer.context import Context, LayerInfo

QUANTIZABLE = frozenset().union(*QUANTIZE_MODES.values())


def _held(spec: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The layer dicts a layer's kwargs hold (a wrapper's ``layer``, a list of cells)."""
    lt = LAYER_TYPES.get(spec.get("type", ""))
    if lt is None:
        return
    for key in lt.nested:
        value = spec.get(key)
        items = value if isinstance(value, list) else [value]
        yield from (v for v in items if isinstance(v, dict) and "type" in v)


def _settle_held(spec: dict[str, Any], holder: str, leaves: list) -> None:
    """Held layers' ``dtype`` kept only where it is not their holder's, and their
    quantization collected into ``leaves``."""
    for held in _held(spec):
        own = held.pop("dtype", None)
        mode = held.pop("quantize", None)
        if own is not None and own != holder:
            held["dtype"] = own
        if held["type"] in QUANTIZABLE:
            leaves.append((held, mode, True))
        _settle_held(held, own or holder, leaves)


def read_precision(
    ctx: Context, layers: Mapping[str, LayerInfo], model_policy: str | None
) -> str | None:
    """Settle the layers' ``dtype`` and ``quantize`` kwargs (see the module's note); set
    ``ctx.policy``; return the model's quantization mode (None: not the whole model)."""
    infos = [i for i in layers.values() if i.kind == "layer" and "dtype" in i.kwargs]
    if model_policy is None:
        counts = Counter(i.kwargs["dtype"] for i in infos)
        most = max(counts.values(), default=0)
        tied = [p for p, c in counts.items() if c == most]
        model_policy = DEFAULT_POLICY if not tied or DEFAULT_POLICY in tied else tied[0]
    if ctx.within and model_policy != DEFAULT_POLICY:
        ctx.error(
            "MS614",
            f"the nested model computes under {model_policy}; a nested model's layers are "
            "imported in float32 only",
            ("config", "dtype"),
            "rebuild the model with the nested model's layers inline",
        )
        return None
    nested = [i for i in layers.values() if i.kind == "model"]
    if nested and model_policy != DEFAULT_POLICY:
        ctx.error(
            "MS614",
            f"the model computes under {model_policy} and holds the nested model "
            f"'{nested[0].name}'; a nested model is imported in float32 only",
            nested[0].path,
            "rebuild the model with the nested model's layers inline",
        )
        return None
    ctx.policy = model_policy
    # (layer spec or LayerInfo, mode or None, held)
    leaves: list[tuple[Any, str | None, bool]] = []
    for info in (i for i in layers.values() if i.kind == "layer"):
        # A layer whose config has no policy (a Pipeline's) holds layers under the model's.
        own = info.kwargs.pop("dtype", model_policy)
        mode = info.kwargs.pop("quantize", None)
        if own != model_policy:
            info.kwargs["dtype"] = own
        if info.type in QUANTIZABLE:
            leaves.append((info, mode, False))
        _settle_held({"type": info.type, **info.kwargs}, own, leaves)
    modes = Counter(mode for _, mode, _ in leaves if mode is not None)
    if not modes:
        return None
    if ctx.within:
        ctx.error(
            "MS614",
            "the nested model's layers are quantized; a nested model is imported without "
            "quantization",
            (),
            "rebuild the model with the nested model's layers inline",
        )
        return None
    chosen = modes.most_common(1)[0][0]
    eligible = [(where, mode, held) for where, mode, held in leaves if _type(where) in
                QUANTIZE_MODES[chosen]]  # fmt: skip
    held_quantized = any(held and mode is not None for _, mode, held in leaves)
    # The model's mode when most layers it would quantize are quantized in it (a held
    # layer can be quantized only so); the others then say what they are.
    inside = sum(mode == chosen for _, mode, _ in eligible)
    whole = held_quantized or 2 * inside > len(eligible)
    for where, mode, held in leaves:
        expected = chosen if whole and _type(where) in QUANTIZE_MODES[chosen] else None
        if held and mode != expected:
            what = f"the `{where['type']}` '{where.get('name', '?')}' a layer holds"
            now = f"quantized to {mode}" if mode else "not quantized"
            ctx.error(
                "MS614",
                f"{what} is {now}, and a spec quantizes a held layer only with the whole "
                f"model ({f'`quantize: {expected}`' if expected else 'no `quantize:`'} here)",
                _path_of(layers, where),
                "quantize the model with one mode, wrappers' layers included",
            )
        elif not held and mode != expected:
            where.kwargs["quantize"] = mode
    return chosen if whole else None


def _type(where: Any) -> str:
    return where["type"] if isinstance(where, dict) else where.type


def _path_of(layers: Mapping[str, LayerInfo], held: Mapping[str, Any]) -> tuple:
    for info in layers.values():
        if info.kind == "layer" and any(h is held for h in _all_held(info.kwargs, info.type)):
            return info.path
    return ()


def _all_held(kwargs: Mapping[str, Any], type_name: Any) -> Iterator[dict[str, Any]]:
    for held in _held({"type": type_name, **kwargs}):
        yield held
        yield from _all_held(held, held["type"])
