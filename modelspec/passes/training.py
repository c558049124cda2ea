"""Training checks: every output a loss can reach is given one.

Loss, metric and optimizer *names* are checked by the schema against the training
catalogue; this pass checks how outputs and ``compile`` fit together.
"""

from __future__ import annotations

from collections.abc import Iterator

from modelspec.catalog import LAYER_TYPES
from modelspec.errors import ERROR, WARNING, Diagnostic
from modelspec.ir import Output, Spec


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
