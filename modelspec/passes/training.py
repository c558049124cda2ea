"""Training checks: every output a loss can reach is given one, and fits its loss.

Loss, metric and optimizer *names* are checked by the schema against the training
catalogue; this pass checks how outputs and ``compile`` fit together, and whether an
output's final activation can give what its loss expects (MS407-MS409).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.base import ACTIVATIONS
from modelspec.errors import ERROR, WARNING, Diagnostic
from modelspec.ir import Layer, Spec

# The callback arguments `modelspec train` writes files at.
CALLBACK_PATHS = {"ModelCheckpoint": "filepath", "CSVLogger": "filename", "TensorBoard": "log_dir"}
# An absolute path in POSIX or Windows form, or one from a user's home folder.
_ANCHORED = re.compile(r"(?:[/\\~]|[A-Za-z]:)")


def check_training(spec: Spec) -> Iterator[Diagnostic]:
    """MS401 missing loss, MS402 nothing to train, MS403 a weight with no loss,
    MS404 a frozen layer that Keras trains anyway."""
    if spec.compile is not None:
        for out in spec.outputs:
            if not out.has_loss_key:
                yield Diagnostic.at(
                    ERROR,
                    "MS401",
                    f"output '{out.name}' has no loss, but `compile` asks for training",
                    out,
                    "add `loss:` to the output (or `loss: null` to leave it untrained)",
                )
        if spec.outputs and all(o.null_loss for o in spec.outputs):
            yield Diagnostic.at(
                ERROR,
                "MS402",
                "every output has `loss: null`; there is nothing to train",
                spec.outputs[0],
                "give at least one output a loss",
            )
    for layer in spec.layers.values():
        lt = LAYER_TYPES.get(layer.type)
        if lt is not None and lt.owns_sublayers and layer.kwargs.get("trainable") is False:
            s = layer.source
            yield Diagnostic(
                WARNING,
                "MS404",
                f"`trainable: false` on `{layer.type}` '{layer.name}' does not freeze it: Keras still "
                "trains the weights of the layers inside it",
                "set `trainable: false` on the wrapped layer instead"
                if lt.nested
                else "freeze it after building (layer.trainable = False), or leave it out of training",
                s.file,
                s.line,
                s.col,
                s.path,
            )
    for out in spec.outputs:
        if out.loss_weight is not None and out.loss is None:
            yield Diagnostic.at(
                WARNING,
                "MS403",
                f"output '{out.name}' has a `loss_weight` but no loss",
                out,
                "the weight scales nothing; add a loss or remove the weight",
            )


# NOTE: [losses and activations]
# A crossentropy reads probabilities, unless `from_logits: true` says the output is
# logits and the loss applies sigmoid (binary) or softmax (categorical) itself. The
# activation of the layer that makes an output fixes what it can give: softmax a
# distribution over the last axis, sigmoid a probability per unit, relu or no
# activation any value. Only the layer that makes the output tensor is read, and only
# one whose output *is* its activation (Dense, the convolutions, Activation, Softmax,
# ReLU ...): after a Dropout or a Reshape the values are not the activation's, and the
# check says nothing rather than guess.

BINARY_LOSSES = frozenset({"binary_crossentropy", "bce", "binary_focal_crossentropy",
                           "BinaryCrossentropy", "BinaryFocalCrossentropy"})  # fmt: skip
CATEGORICAL_LOSSES = frozenset({
    "categorical_crossentropy", "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy", "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy", "SparseCategoricalCrossentropy",
})  # fmt: skip
# The loss class a string name stands for, to write `from_logits: true` with.
_LOSS_CLASS = {
    "binary_crossentropy": "BinaryCrossentropy", "bce": "BinaryCrossentropy",
    "binary_focal_crossentropy": "BinaryFocalCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "categorical_focal_crossentropy": "CategoricalFocalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
}  # fmt: skip
# Activations whose every value is in [0, 1]; those whose values along the last axis
# also sum to 1. Every other activation gives values outside [0, 1].
PROBABILITY = frozenset({"sigmoid", "hard_sigmoid", "softmax", "sparsemax"})
DISTRIBUTION = frozenset({"softmax", "sparsemax"})
# Layers whose output is `activation(...)` of what they compute: Dense, EinsumDense and
# the convolutions (not the recurrent layers: an LSTM's output mixes two activations).
ACTIVATED = frozenset(
    name
    for name, t in LAYER_TYPES.items()
    if t.category in ("core", "convolution") and "activation" in t.kwarg_map
)


def final_activation(layer_type: str, kwargs: Any) -> str | None:
    """The activation an output of a ``layer_type`` layer is the result of, when it can be
    told: ``"softmax"`` for a Dense with ``activation: softmax``, ``"linear"`` for one
    with none; None after any other layer.

    >>> final_activation("Dense", {"units": 3}), final_activation("Softmax", {})
    ('linear', 'softmax')
    """
    if not isinstance(kwargs, dict):
        return None
    if layer_type in ACTIVATED or layer_type == "Activation":
        name = kwargs.get("activation", "linear" if layer_type in ACTIVATED else None)
        name = "linear" if name is None and "activation" in kwargs else name
        return name if name in ACTIVATIONS else None
    if layer_type == "Softmax":
        return "softmax" if kwargs.get("axis", -1) == -1 else None  # over the last axis
    if layer_type == "ReLU":
        cap = kwargs.get("max_value")
        return "relu" if cap is None or (isinstance(cap, (int, float)) and cap > 1) else None
    if layer_type in ("LeakyReLU", "PReLU", "ELU"):
        return {"LeakyReLU": "leaky_relu", "PReLU": "prelu", "ELU": "elu"}[layer_type]
    if layer_type == "TimeDistributed":  # the wrapped layer, on each step
        inner = kwargs.get("layer")
        if isinstance(inner, dict) and isinstance(inner.get("type"), str):
            return final_activation(inner["type"], inner)
    return None


def _where(layer: Layer, step: str) -> str:
    if not layer.inline:
        return f"`{layer.type}` '{layer.name}'"
    if step == "sequential":
        return f"the last layer, `{layer.type}`"
    return f"`{layer.type}` in step '{step}'"


def check_losses(
    spec: Spec, graph: Any, shapes: Any, *, skip_layers: Any = ()
) -> Iterator[Diagnostic]:
    """MS407 softmax into a binary crossentropy, MS408 sigmoid over several units into a
    categorical one, MS409 an activation that cannot give what the loss reads
    (NOTE: [losses and activations]). Warnings, at the output."""
    for out in spec.outputs:
        ref = out.tensor
        if out.loss is None or ref is None or ref.index is not None or ref.name in graph.broken:
            continue
        loss, options = (
            (out.loss, {}) if isinstance(out.loss, str) else (out.loss.get("type"), out.loss)
        )
        if not isinstance(loss, str):
            continue  # not a loss's name: the schema says so
        binary = loss in BINARY_LOSSES
        if not binary and loss not in CATEGORICAL_LOSSES:
            continue
        call = graph.producer.get(ref.name)
        layer = spec.layers.get(call.layer) if call is not None else None
        if layer is None or layer.name in skip_layers:
            continue
        act = final_activation(layer.type, layer.kwargs)
        if act is None:
            continue
        logits = options.get("from_logits") is True
        shape = shapes.outputs.get(out.name) if shapes is not None else None
        units = shape[-1] if isinstance(shape, tuple) and len(shape) >= 2 else None
        units = units if isinstance(units, int) else None
        where = _where(layer, call.step)
        cls = _LOSS_CLASS.get(loss, loss)
        if binary and act in DISTRIBUTION:
            if units == 1:
                yield Diagnostic.at(
                    WARNING,
                    "MS407",
                    f"{act} over a single unit is always 1.0, so `{loss}` "
                    f"cannot train output '{out.name}' ({where})",
                    out,
                    "for a yes/no output, end it with activation: sigmoid",
                )
            else:
                yield Diagnostic.at(
                    WARNING,
                    "MS407",
                    f"`{loss}` scores each unit as a yes/no probability "
                    f"of its own, but output '{out.name}' ends in {act} ({where}), whose "
                    "units compete and sum to 1",
                    out,
                    "for one class out of several, use categorical_crossentropy (one-hot "
                    "labels) or sparse_categorical_crossentropy (integer labels); for "
                    "several yes/no labels, end with activation: sigmoid",
                )
        elif (
            not binary
            and act in PROBABILITY - DISTRIBUTION
            and units is not None
            and units > 1
            and options.get("axis", -1) == -1
        ):
            yield Diagnostic.at(
                WARNING,
                "MS408",
                f"`{loss}` reads the units of an output as one "
                f"distribution that sums to 1, but output '{out.name}' ends in {act} over "
                f"{units} units ({where}), each a probability of its own",
                out,
                "for one class out of several, end with activation: softmax; for several "
                "yes/no labels, use binary_crossentropy",
            )
        elif not logits and act not in PROBABILITY:
            final = "sigmoid" if binary else "softmax"
            ends = (
                f"ends without an activation ({where}), which gives any value"
                if act == "linear"
                else f"ends in {act} ({where}), which gives values outside [0, 1]"
            )
            yield Diagnostic.at(
                WARNING,
                "MS409",
                f"`{loss}` reads probabilities in [0, 1], but output '{out.name}' {ends}",
                out,
                f"end it with activation: {final}, or keep the values as logits and write "
                f"loss: {{type: {cls}, from_logits: true}}",
            )
        elif logits and (act in DISTRIBUTION if not binary else act in PROBABILITY):
            applied = "sigmoid" if binary else "softmax"
            yield Diagnostic.at(
                WARNING,
                "MS409",
                f"`from_logits: true` makes `{cls}` apply {applied} "
                f"itself, but output '{out.name}' already ends in {act} ({where}): it "
                "would be applied twice",
                out,
                "drop `from_logits: true`, or leave the output without an activation "
                "(activation: linear)",
            )


# A placeholder Keras fills in a ModelCheckpoint path: `{epoch}`, `{batch}` or a logged
# metric, with at most a plain numeric format (`{epoch:02d}`, `{val_loss:.4f}`): zero
# padding, a width and a precision of two digits at most, a numeric type. No fill
# character, sign or grouping, so what it writes is digits, '.', '-', '+', 'e', '%',
# 'inf' or 'nan', never a '/' or a '..' of its own.
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NUMERIC_FORMAT = re.compile(r"0?[0-9]{0,2}(?:\.[0-9]{1,2})?[deEfFgG%]?\Z")
# The callbacks whose path Keras formats with `str.format` before writing.
FORMATTED_PATHS = {"ModelCheckpoint"}


def _placeholders_problem(value: str) -> tuple[str | None, str]:
    """``(problem, path)``: what is wrong with the placeholders of a formatted path (None:
    nothing), and the path with every placeholder written as a number.

    ``string.Formatter.parse`` only splits the text; nothing is formatted here, and
    Keras formats only a path that passed.
    """
    import string

    try:
        pieces = list(string.Formatter().parse(value))
    except ValueError as exc:
        return f"its braces do not parse ({exc})", value
    path = []
    for literal, field, spec, conversion in pieces:
        path.append(literal)
        if field is None:
            continue
        if not _FIELD.match(field):
            what = "an empty placeholder" if not field else f"the placeholder {{{field}}}"
            return (
                f"{what} is not a plain name (attribute access, indexing and positions are "
                "not allowed)"
            ), value
        if conversion is not None:
            return f"the placeholder {{{field}!{conversion}}} converts its value", value
        if spec and not _NUMERIC_FORMAT.match(spec):
            return (
                f"the placeholder {{{field}:{spec}}} has a format other than a plain numeric "
                "one of two digits at most (02d, .4f)"
            ), value
        path.append("1")
    return None, "".join(path)


def check_callback_paths(doc: Any, spec: Spec) -> Iterator[Diagnostic]:
    """MS405: a callback writes below the folder ``train`` runs in, nowhere else;
    MS406: a formatted path's placeholders are the plain ones Keras documents.

    A spec may come from an untrusted pull request, and ``train`` runs its callbacks:
    an absolute path or a ``..`` would let the spec choose any file to overwrite.
    Keras formats ``ModelCheckpoint``'s ``filepath`` with ``str.format`` first, so
    its placeholders are checked (a format spec could write '/' or '..'; attribute
    access runs code; a width of 10**9 allocates it), then the path they give.
    """
    fit = spec.fit if isinstance(spec.fit, dict) else {}
    callbacks = fit.get("callbacks")
    for i, callback in enumerate(callbacks if isinstance(callbacks, list) else ()):
        kind = callback.get("type") if isinstance(callback, dict) else None
        key = CALLBACK_PATHS.get(kind) if isinstance(kind, str) else None
        value = callback.get(key) if key else None
        if not isinstance(value, str):
            continue
        at = ("fit", "callbacks", i, key)
        path = value
        if kind in FORMATTED_PATHS:
            problem, path = _placeholders_problem(value)
            if problem is not None:
                yield doc.diagnostic(
                    "MS406",
                    f"`{key}` of callback `{kind}`: {problem}: {value!r}",
                    at,
                    hint="Keras fills in {epoch}, {batch} and the logged metrics ({val_loss}), "
                    "with a numeric format at most: ckpt/e{epoch:02d}-{val_loss:.4f}.keras; "
                    "write a literal brace as {{ or }}",
                )
                continue
        parts = re.split(r"[/\\]", path)
        if _ANCHORED.match(path) or ".." in parts or "\0" in path:
            yield doc.diagnostic(
                "MS405",
                f"`{key}` of callback `{kind}` must be a relative path below the "
                f"folder `modelspec train` runs in, not {value!r}",
                at,
                hint="write a relative path without '..' (logs/run1); run `train` from the "
                "folder the files belong in",
            )


def objective(spec: Spec, shapes: Mapping[str, Any] | None = None) -> str | None:
    """The training objective as a formula, with how each loss reduces its output.

    ``loss = 0.5·categorical_crossentropy(lab_1) + 0.5·categorical_crossentropy(lab_2)``
    ``loss = mse(y) (mean over 2 units)``

    Keras sums the weighted per-output losses (weight 1 when none is given); one
    output with several units averages over them inside its loss instead. ``shapes``
    (output name -> shape, batch axis first) adds that reduction to each term.
    """
    terms = []
    for out in spec.outputs:
        if out.loss is None:
            continue
        name = out.loss if isinstance(out.loss, str) else str(out.loss.get("type"))
        weight = 1.0 if out.loss_weight is None else out.loss_weight
        factor = "" if weight == 1.0 else f"{weight:g}·"
        shape = (shapes or {}).get(out.name)
        reduction = _reduction(out.loss, shape) if isinstance(shape, tuple) else None
        terms.append(f"{factor}{name}({out.name}){f' ({reduction})' if reduction else ''}")
    if not terms:
        return None
    return "loss = " + " + ".join(terms)


def _reduction(loss: Any, shape: tuple) -> str | None:
    """How ``loss`` reduces one sample of an output of ``shape`` (None: one value, or a
    loss or reduction whose rule is not listed)."""
    from modelspec.catalog.training import CLASS_LOSSES, ELEMENTWISE_LOSSES

    name = loss if isinstance(loss, str) else loss.get("type")
    if (
        not isinstance(loss, str)
        and loss.get("reduction", "sum_over_batch_size") != "sum_over_batch_size"
    ):
        return None
    dims = shape[1:]
    if not dims or any(not isinstance(d, int) for d in dims):
        return None
    values = math.prod(dims)
    if name in ELEMENTWISE_LOSSES and values > 1:
        return f"mean over {values} {'units' if len(dims) == 1 else 'values'}"
    if name in CLASS_LOSSES and len(dims) > 1 and math.prod(dims[:-1]) > 1:
        return f"mean over {math.prod(dims[:-1])} positions of {dims[-1]} classes"
    return None
