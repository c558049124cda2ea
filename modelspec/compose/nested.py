"""Block instances built as nested ``keras.Model`` s (``model:`` on a block or a block step).

# NOTE: [nested models]
A nested instance expands exactly as an inlined one: its layers are ``{instance}_{layer}``
in the flat spec, so every check (names, cycles, shapes, parameters) and every seed
(``plan.derive_seed`` reads the flat name) is the same in both forms. What changes is
how the flat spec maps to Keras: :attr:`.expand.Expanded.models` records, for each instance
built as a nested model, the model it calls (its own, or the one it shares), its
Keras name and the tensors it takes and gives. Keras scopes layer names per model,
so inside the nested model ``I`` the layer ``I_L`` is named ``L``, and a nested model
inside it, ``I_J``, is named ``J``. Only a nested instance's outputs may be read from
outside it (MS725).

:func:`finish_models` resolves what each nested model takes and gives once the whole
spec is expanded, and checks that Keras can build it (MS722, MS724, MS725).
"""

from __future__ import annotations

from typing import Any

from modelspec.compose.context import Context, Scope
from modelspec.compose.syntax import step_refs
from modelspec.errors import JsonPath
from modelspec.ir import split_ref


def set_home(cx: Context, layer: str, scope: Scope) -> None:
    """Record the nested model ``layer`` is in: the innermost of ``scope``'s chain."""
    for instance, _ in reversed(scope.chain):
        if instance in cx.models:
            cx.home.setdefault(layer, cx.models[instance].owner)
            return


def finish_models(cx: Context, out: dict[str, Any]) -> None:
    """Resolve what each nested model takes and gives, and check that Keras can build
    it: its outputs are computed inside it (MS722), nothing outside reads its inside
    (MS725), and names are unique in each model (MS724)."""
    for instance, nested in cx.models.items():
        nested.inputs = tuple((b, cx.resolve(t, nested.path)) for b, t in nested.inputs)
        nested.outputs = tuple(cx.resolve(o, nested.path) for o in cx.model_outs.get(instance, ()))
        for k, o in enumerate(nested.outputs):
            if (
                instance not in nested_chain(cx, split_ref(o)[0])
                and cx.models[nested.owner] is nested
            ):
                cx.error(
                    "MS722",
                    f"output {k} of nested model '{instance}' is '{o}', which "
                    "is not computed inside it; a nested keras.Model computes its "
                    "outputs from its inputs",
                    (*nested.path, "block"),
                    hint="inline the block (`model: false`), or give it a step "
                    "that computes the output",
                )

    def check_ref(ref: str, reader: tuple[str, ...], path: JsonPath) -> None:
        for instance in nested_chain(cx, split_ref(ref)[0]):
            if instance not in reader and ref not in cx.models[instance].outputs:
                outs = ", ".join(cx.models[instance].outputs)
                cx.error(
                    "MS725",
                    f"'{ref}' is inside nested model '{instance}'; from "
                    f"outside it only its outputs ({outs}) can be read",
                    path,
                    hint="read the instance's output, or make the tensor an output of the block",
                )
                return

    graph, outputs = out.get("graph"), out.get("outputs")
    for name, step in graph.items() if isinstance(graph, dict) else ():
        reader = nested_chain(cx, name)
        for where, ref in step_refs(step):
            check_ref(ref, reader, (*cx.step_paths[name], *where))
    for oname, spec in outputs.items() if isinstance(outputs, dict) else ():
        if isinstance(spec, dict) and isinstance(spec.get("from"), str):
            check_ref(spec["from"], (), ("outputs", oname, "from"))
    # Keras names: one namespace per model; inputs, layers and nested models share it.
    names: dict[str | None, dict[str, str]] = {None: {n: "input" for n in cx.inputs}}
    for instance, nested in cx.models.items():
        if nested.owner == instance:
            names.setdefault(instance, {}).update({b: "input" for b, _ in nested.inputs})
    for layer in cx.layers:
        home = cx.home.get(layer)
        local = layer[len(home) + 1 :] if home else layer
        taken = names.setdefault(home, {})
        if home is not None and local in taken:  # the top level: parse's MS203
            cx.error(
                "MS724",
                f"layer '{layer}' is named '{local}' in "
                f"{_model_word(home)}, which has an {taken[local]} of that name; "
                "Keras needs unique names in each model",
                cx.origin[layer],
                key=True,
                hint="rename the layer or the block's input",
            )
        taken.setdefault(local, "layer")
    for instance, nested in cx.models.items():
        if nested.owner != instance:
            continue
        home = cx.models[nested.parent].owner if nested.parent else None
        taken = names.setdefault(home, {})
        if nested.name in taken:
            cx.error(
                "MS724",
                f"nested model '{instance}' is named '{nested.name}' in "
                f"{_model_word(home)}, which has a{'n' * (taken[nested.name] == 'input')} "
                f"{taken[nested.name]} of that name; Keras needs unique names in each "
                "model",
                nested.path,
                key=True,
                hint="rename the step or the layer",
            )
        taken.setdefault(nested.name, "nested model")


def _model_word(home: str | None) -> str:
    return "the model" if home is None else f"nested model '{home}'"


def nested_chain(cx: Context, step: str) -> tuple[str, ...]:
    """The nested instances ``step`` is inside, outermost first."""
    return tuple(i for i, _ in cx.groups.get(step, ()) if i in cx.models)
