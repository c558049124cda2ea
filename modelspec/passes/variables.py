"""Every weight variable of a spec's model, as Keras names it, without Keras.

:func:`model_variables` lists what ``[(v.path, tuple(v.shape), v.trainable) for v in
model.weights]`` gives for the model ``modelspec build`` makes: each layer's weights come
from its catalogue rule (``LayerType.weights``), on the input shapes of its first call,
under the path Keras gives them. It runs only when asked (rules that name variables,
such as a distribution's layout, read it); no lint runs it by itself.

# NOTE: [variable paths]
Keras sets ``variable.path`` once, when the variable is created: the name scopes open
at that moment, then the variable's name. A layer opens its scope (its name) when it
builds, under the scopes open when it was first called (``Layer._parent_path``). So:

- a layer of a Functional model is built when the model is made, outside any scope:
  ``dense/kernel``. A nested Functional model is made before the model that calls it,
  so its layers too have bare paths (under their names in that model: ``enc1``, not
  ``ta_enc1``), however deep it is;
- a Sequential model builds its layers inside its own build: ``model/dense/kernel``,
  for the whole model built as a Sequential and for a nested Sequential model alike.
  A nested model in its stack was built before, and keeps its own paths;
- a layer that holds layers builds them in its scope: ``bi/forward_lstm/lstm_cell/kernel``,
  ``mha/query/kernel``, ``pipe/dense/kernel``. Those the plan creates are named by it
  (:attr:`modelspec.ir.Layer.inner`); those Keras creates have fixed names (``lstm_cell``).

A shared layer, or a shared nested model, has its variables once. Paths need not be
unique: two instances of one block built as Functional models, not shared, both hold
``enc1/kernel``, as does a layer ``enc1`` of the model itself. Keras's ``model.weights``
leaves out random seeds, metrics and a stateful RNN's states, and so does this list.

Example::

    >>> result = check_text("...")                       # doctest: +SKIP
    >>> found, unknown = model_variables(result)         # doctest: +SKIP
    >>> [(v.path, v.shape) for v in found][:2], unknown  # doctest: +SKIP
    ([('d1/kernel', (8, 16)), ('d1/bias', (16,))], [])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelspec.catalog.base import LAYER_TYPES, no_weights


@dataclass(frozen=True, slots=True)
class Variable:
    """One weight variable of the built model."""

    path: str  # Keras's variable.path, e.g. "enc/lstm_cell/kernel"
    shape: tuple[int, ...]
    layer: str  # the spec's layer it belongs to, by its name in the expanded spec
    trainable: bool  # Keras's variable.trainable: whether fit() updates it


def model_variables(result: Any, form: str = "auto") -> tuple[list[Variable], list[str]]:
    """The variables of the model a checked spec builds in ``form`` (``auto``,
    ``functional`` or ``sequential``, as ``modelspec build --form``); and the layers
    whose weights cannot be listed without building them: a custom layer with weights
    (or whose parameters are unknown), and a layer with weights after one whose output
    shape is unknown.

    The variables come nested models first, then each model's layers in the order the
    spec calls them: not the order of Keras's ``model.weights``, which follows its own
    ``model.layers``. ``result`` is what :func:`modelspec.check.check` gives, with no
    errors (``ValueError`` otherwise, as for :func:`modelspec.lower.plan.plan`); a form
    the spec cannot be built in raises :class:`modelspec.lower.plan.NotAChain`.
    """
    from modelspec.lower.plan import plan

    built = plan(result)
    form = built.choose_form(form)
    spec, shapes = result.spec, result.shapes
    # Nested models are built first, each on its own (see NOTE: [variable paths]).
    levels = [(m.layers, m.keras_name if m.form == "sequential" else None) for m in built.models]
    levels.append((built.layers, built.name if form == "sequential" else None))
    first_inputs: dict[str, list] = {}
    for call in result.graph.order:
        if call.output in shapes.call_inputs:
            first_inputs.setdefault(call.layer, shapes.call_inputs[call.output])
    # Quantization changes the weights of the layers it reaches (an int8 kernel and its
    # scale): those layers' weights are the ones after it.
    after: dict[str, Any] = {}
    if built.quantize:
        from modelspec.passes.layer_precision import precision_facts

        after = {name: fact.weights for name, fact in precision_facts(result).items()}
    found: list[Variable] = []
    unknown: list[str] = []
    for layers, scope in levels:
        for name, planned in layers.items():
            layer = spec.layers[name]
            lt = LAYER_TYPES.get(layer.type)
            if lt is None:  # an op, which has no weights, or a custom layer
                if layer.type in spec.custom and shapes.model_params.get(name) != (0, 0):
                    unknown.append(name)
                continue
            if lt.weights is no_weights:
                continue
            if name not in first_inputs:
                unknown.append(name)
                continue
            kw = lt.resolve(lt.with_held_names(layer.kwargs, dict(layer.inner)))
            where = dict(planned.ctor.kwargs)["name"]
            if scope is not None:
                where = f"{scope}/{where}"
            weights = after.get(name) or lt.weights(kw, first_inputs[name])
            for w in weights:
                found.append(Variable(f"{where}/{w.path}", w.shape, name, w.trainable))
    return found, unknown
