"""Training checks: every output a loss can reach is given one.

Loss, metric and optimizer *names* are checked by the schema against the training
catalogue; this pass checks how outputs and ``compile`` fit together.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from modelspec.catalog import LAYER_TYPES
from modelspec.errors import ERROR, WARNING, Diagnostic
from modelspec.ir import Output, Spec

# The callback arguments `modelspec train` writes files at.
CALLBACK_PATHS = {"ModelCheckpoint": "filepath", "CSVLogger": "filename", "TensorBoard": "log_dir"}
# An absolute path in POSIX or Windows form, or one from a user's home folder.
_ANCHORED = re.compile(r"(?:[/\\~]|[A-Za-z]:)")


def _diag(level: str, code: str, message: str, out: Output, hint: str | None = None) -> Diagnostic:
    s = out.source
    return Diagnostic(level, code, message, hint, s.file, s.line, s.col, s.path)


def check_training(spec: Spec) -> Iterator[Diagnostic]:
    """MS401 missing loss, MS402 nothing to train, MS403 a weight with no loss,
    MS404 a frozen layer that Keras trains anyway."""
    if spec.compile is not None:
        for out in spec.outputs:
            if not out.has_loss_key:
                yield _diag(ERROR, "MS401", f"output '{out.name}' has no loss, but `compile` asks for training",
                            out, "add `loss:` to the output (or `loss: null` to leave it untrained)")  # fmt: skip
        if spec.outputs and all(o.null_loss for o in spec.outputs):
            yield _diag(ERROR, "MS402", "every output has `loss: null`; there is nothing to train",
                        spec.outputs[0], "give at least one output a loss")  # fmt: skip
    for layer in spec.layers.values():
        lt = LAYER_TYPES.get(layer.type)
        if lt is not None and lt.owns_sublayers and layer.kwargs.get("trainable") is False:
            s = layer.source
            yield Diagnostic(
                WARNING, "MS404",
                f"`trainable: false` on `{layer.type}` '{layer.name}' does not freeze it: Keras still "
                "trains the weights of the layers inside it",
                "set `trainable: false` on the wrapped layer instead" if lt.nested else
                "freeze it after building (layer.trainable = False), or leave it out of training",
                s.file, s.line, s.col, s.path,
            )  # fmt: skip
    for out in spec.outputs:
        if out.loss_weight is not None and out.loss is None:
            yield _diag(WARNING, "MS403", f"output '{out.name}' has a `loss_weight` but no loss", out,
                        "the weight scales nothing; add a loss or remove the weight")  # fmt: skip


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
            return (f"{what} is not a plain name (attribute access, indexing and positions are "
                    "not allowed)"), value  # fmt: skip
        if conversion is not None:
            return f"the placeholder {{{field}!{conversion}}} converts its value", value
        if spec and not _NUMERIC_FORMAT.match(spec):
            return (f"the placeholder {{{field}:{spec}}} has a format other than a plain numeric "
                    "one of two digits at most (02d, .4f)"), value  # fmt: skip
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
                    "MS406", f"`{key}` of callback `{kind}`: {problem}: {value!r}", at,
                    hint="Keras fills in {epoch}, {batch} and the logged metrics ({val_loss}), "
                    "with a numeric format at most: ckpt/e{epoch:02d}-{val_loss:.4f}.keras; "
                    "write a literal brace as {{ or }}",
                )  # fmt: skip
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


def objective(spec: Spec) -> str | None:
    """The training objective as a formula.

    ``loss = 0.5·categorical_crossentropy(lab_1) + 0.5·categorical_crossentropy(lab_2)``

    Keras sums the weighted per-output losses (weight 1 when none is given); one
    output with several units averages over them inside its loss instead.
    """
    terms = []
    for out in spec.outputs:
        if out.loss is None:
            continue
        name = out.loss if isinstance(out.loss, str) else str(out.loss.get("type"))
        weight = 1.0 if out.loss_weight is None else out.loss_weight
        factor = "" if weight == 1.0 else f"{weight:g}·"
        terms.append(f"{factor}{name}({out.name})")
    if not terms:
        return None
    return "loss = " + " + ".join(terms)
