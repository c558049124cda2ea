"""What a model reads in training, and whether the data file holds it.

A :class:`Slot` is one array the model reads: an input's values, or the targets of an
output with a loss or metrics, with the shapes and dtype kinds it accepts.
:func:`check_data` compares the arrays of a data file, as their headers describe them
(:func:`modelspec.runtime.data.read_data`), with the slots, and yields every problem at
once (MS511 - MS515).

Example::

    >>> from modelspec.check import check
    >>> [s.what for s in slots(check("mlp.yaml"))]                       # doctest: +SKIP
    ["input 'x' (float32)", "output 'y' (loss 'mse')"]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelspec.catalog.base import Shape, fmt_shape
from modelspec.errors import ERROR, Diagnostic, cut_list, did_you_mean
from modelspec.ir import Output, Source, Spec
from modelspec.runtime.data import ArrayInfo, at_file

# numpy dtype kinds (``dtype.kind``) an array may have, and how messages name them.
_KIND_TEXT = {
    "biu": "integers or booleans",
    "iuf": "numbers",
    "biuf": "numbers",
    "iu": "integers (class indices)",
    "SU": "strings",
}


@dataclass(frozen=True, slots=True)
class Slot:
    """An array the model reads: an input's values or an output's targets.

    ``shapes`` are the accepted shapes of one sample (no batch axis; ``None`` is any
    size); ``kinds`` the accepted numpy dtype kinds.
    """

    name: str
    role: str  # "input" or "output"
    what: str  # for messages: "input 'x' (int32)", "output 'y' (loss 'mse')"
    shapes: tuple[Shape, ...] | None  # None: the spec's shape is unknown, not checked
    kinds: str
    source: Source
    dtype: str | None = None  # an input's dtype
    loss: str | None = None  # an output's loss, by name


# Losses whose targets are labels rather than values shaped like the prediction:
# loss name -> (accepted target shapes from the output's shape, dtype kinds).
# NOTE: [targets]
# Keras squeezes or expands a target whose rank is one off from the prediction's when
# the odd axis has size 1 (`squeeze_or_expand_to_same_rank`), so a `Dense(1)` output
# takes targets of shape (n,) or (n, 1). Sparse losses take class indices: the
# prediction's shape without its class axis. Circle takes one label per sample; CTC
# one label sequence per sample, of any length.
_LABEL_TARGETS = {
    "sparse_categorical_crossentropy": lambda s: (s[:-1], (*s[:-1], 1)),
    "SparseCategoricalCrossentropy": lambda s: (s[:-1], (*s[:-1], 1)),
    "circle": lambda s: ((), (1,)),
    "ctc": lambda s: ((None,),),
}


def _loss_name(loss: Any) -> str | None:
    if isinstance(loss, Mapping):
        return str(loss.get("type"))
    return loss


def _input_kinds(dtype: str) -> str:
    if dtype == "string":
        return "SU"
    if dtype == "bool" or dtype.startswith(("int", "uint")):
        return "biu"
    return "iuf"


def needs_targets(out: Output) -> bool:
    """An output takes an array when Keras computes a loss or a metric from it."""
    return out.loss is not None or bool(out.metrics)


def slots(result: Any) -> list[Slot]:
    """The arrays a checked spec's model reads: its inputs, then its trained outputs."""
    spec: Spec = result.spec
    out: list[Slot] = []
    for inp in spec.inputs:
        shapes = None if inp.shape is None else (tuple(inp.shape),)
        what = f"input '{inp.name}' ({inp.dtype})"
        kinds = _input_kinds(inp.dtype)
        out.append(Slot(inp.name, "input", what, shapes, kinds, inp.source, inp.dtype))
    for o in spec.outputs:
        if not needs_targets(o):
            continue
        predicted = result.shapes.outputs.get(o.name) if result.shapes else None
        loss = _loss_name(o.loss)
        what = f"output '{o.name}'" + (f" (loss '{loss}')" if loss else " (metrics only)")
        rule = _LABEL_TARGETS.get(loss or "")
        if predicted is None:
            shapes = None
        elif rule is not None:
            shapes = tuple(dict.fromkeys(rule(tuple(predicted[1:]))))
        else:
            sample = tuple(predicted[1:])
            shapes = (sample, sample[:-1]) if sample and sample[-1] == 1 else (sample,)
        kinds = "iu" if rule is not None else "biuf"
        out.append(Slot(o.name, "output", what, shapes, kinds, o.source, loss=loss))
    return out


def _at(slot: Slot, code: str, message: str, hint: str | None = None) -> Diagnostic:
    s = slot.source
    return Diagnostic(ERROR, code, message, hint, s.file, s.line, s.col, s.path)


def _shape_text(shapes: Sequence[Shape]) -> str:
    return " or ".join(fmt_shape((None, *s)) for s in shapes)


def _fits(shape: tuple[int, ...], want: Shape) -> bool:
    return len(shape) == len(want) and all(w is None or w == d for d, w in zip(shape, want))


def _dtype_text(dtype: Any) -> str:
    if dtype.kind in "SU":
        return f"{dtype.str} (strings)"
    if dtype.hasobject:
        return "object (Python objects)"
    return dtype.name


def check_data(
    wanted: Sequence[Slot], infos: Mapping[str, ArrayInfo | None], data: str, spec: Spec
) -> Iterator[Diagnostic]:
    """MS511 - MS515: every way the arrays in ``infos`` do not fit what the model reads.

    Problems with one array are reported at the spec line of its input or output;
    an array the spec does not name, at the data file.
    """
    by_name = {s.name: s for s in wanted}
    present = [n for n in infos if n not in by_name]
    for slot in wanted:
        if slot.name not in infos:
            hint = did_you_mean(slot.name, present)
            if hint is None:
                held = cut_list([f"'{n}'" for n in infos]) if infos else "no arrays"
                hint = f"'{data}' holds {held}"
            yield _at(
                slot,
                "MS511",
                f"missing array '{slot.name}' for {slot.what}: '{data}' has no array of that name",
                hint,
            )
    untrained = {o.name for o in spec.outputs if not needs_targets(o)}
    for name in present:
        if name in untrained:
            yield at_file(
                data,
                "MS512",
                f"extra array '{name}' in '{data}': output '{name}' has no loss and no metrics, so it takes no targets",
                "remove the array, or give the output a `loss:`",
            )
            continue
        missing = [s.name for s in wanted if s.name not in infos]
        hint = did_you_mean(name, missing or list(by_name))
        if hint is None:
            names = cut_list([f"'{s.name}'" for s in wanted])
            hint = f"arrays are named after the spec's inputs and trained outputs: {names}"
        yield at_file(
            data,
            "MS512",
            f"extra array '{name}' in '{data}': the spec has no input or trained output '{name}'",
            hint,
        )
    lengths: list[tuple[Slot, int]] = []
    for slot in wanted:
        info = infos.get(slot.name)
        if info is None:
            continue
        if info.dtype.hasobject:
            yield _at(
                slot,
                "MS514",
                f"array '{slot.name}' for {slot.what} holds Python objects (dtype object), which only pickle can load; modelspec loads data with allow_pickle=False",
                f"save {_KIND_TEXT[slot.kinds]} instead",
            )
        elif info.dtype.kind not in slot.kinds:
            hint = None
            if slot.dtype not in (None, "string") and info.dtype.kind in "biuf":
                hint = f"convert it with .astype('{slot.dtype}')"
            elif slot.kinds == "iu":
                hint = "this loss takes integer class indices: convert with .astype('int64')"
            yield _at(
                slot,
                "MS514",
                f"array '{slot.name}' must hold {_KIND_TEXT[slot.kinds]} for {slot.what}; got {_dtype_text(info.dtype)}",
                hint,
            )
        fits = bool(info.shape) and any(_fits(info.shape[1:], s) for s in slot.shapes or ())
        if slot.shapes is not None and not fits:
            hint = None
            if not info.shape:
                hint = "the first axis of every array is the sample axis"
            elif slot.kinds == "iu" and slot.role == "output":
                hint = "this loss takes one class index per prediction, not one-hot rows"
            elif _class_indices_for_one_hot(slot, info):
                sparse = _SPARSE[slot.loss or ""]
                hint = (
                    f"these are class indices, and '{slot.loss}' takes one-hot rows: use "
                    f"`loss: {sparse}`, or one-hot encode the labels (keras.utils.to_categorical)"
                )
            yield _at(
                slot,
                "MS513",
                f"array '{slot.name}' must have shape {_shape_text(slot.shapes)} for {slot.what}; got {fmt_shape(info.shape)}",
                hint,
            )
        if info.shape:
            lengths.append((slot, info.shape[0]))
    if lengths:
        first, n = lengths[0]
        for slot, m in lengths[1:]:
            if m != n:
                yield _at(
                    slot,
                    "MS515",
                    f"array '{slot.name}' for {slot.what} must have as many samples as array '{first.name}' ({n}); got {m}",
                    "the first axis of every array is the sample axis",
                )
        if all(m == 0 for _, m in lengths):
            yield _at(
                first,
                "MS515",
                f"array '{first.name}' for {first.what} must hold at least one sample; got 0",
            )


# The one-hot losses, and their twins that take class indices instead.
_SPARSE = {
    "categorical_crossentropy": "sparse_categorical_crossentropy",
    "CategoricalCrossentropy": "SparseCategoricalCrossentropy",
}


def _class_indices_for_one_hot(slot: Slot, info: ArrayInfo) -> bool:
    """Integer targets of the prediction's shape without its class axis (or with a class
    axis of 1), for a loss that takes one-hot rows: labels for the sparse loss."""
    if slot.loss not in _SPARSE or info.dtype.kind not in "iu" or not slot.shapes:
        return False
    predicted = slot.shapes[0]
    if not predicted or predicted[-1] in (None, 1):
        return False
    return any(_fits(info.shape[1:], s) for s in (predicted[:-1], (*predicted[:-1], 1)))
