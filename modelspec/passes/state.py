"""State that preprocessing layers look values up in: given, or learned by ``adapt``.

A lookup (StringLookup, IntegerLookup, TextVectorization) and a Discretization need
state to mean anything: given (``vocabulary: [...]``, ``{file: ...}``) or learned from
the training data (``vocabulary: adapt``, ``bin_boundaries: adapt``; see
:mod:`modelspec.catalog.lookup`). ``modelspec train`` runs each such layer's
``adapt()`` on the array of the model input it reads, before ``fit``
(:mod:`modelspec.runtime.train`). So:

- MS316: a layer with no state, and none to learn: Keras would build it, and map every
  value to one OOV index (a lookup), or fail when it runs (a Discretization with
  ``num_bins`` only).
- MS317: a layer that learns its state must be called once, directly on a model input:
  that input's array is what it learns from. (Running the layers before it to learn
  from their outputs would train nothing and cost a pass over the data; put the
  layer first instead.)
- MS318: an encoded output (``multi_hot``, ``count``, ...) ends in one value per
  vocabulary entry; learned, that size is known only in training, after the model is
  built, so what follows could not be built. ``max_tokens`` with
  ``pad_to_max_tokens: true`` fixes it.
- MS319: an ``Embedding`` whose ``input_dim`` is below the number of indices the lookup
  feeding it gives (directly, or through layers that only move values: a ``Reshape``,
  ``Flatten``, ...). Keras builds it; when it runs, an index past ``input_dim`` fails
  on CPU and is looked up as zeros on GPU. The number is Keras's
  ``vocabulary_size()``, the vocabulary with its mask and OOV indices
  (:func:`modelspec.catalog.lookup.index_range`), or ``max_tokens`` for one learned by
  adapt; without either nothing is known, and nothing is said.
"""

from __future__ import annotations

from collections.abc import Collection

from modelspec.catalog import LAYER_TYPES
from modelspec.catalog.base import ShapeError
from modelspec.catalog.lookup import ADAPT, ADAPTABLE, IndexRange, index_range
from modelspec.errors import ERROR, Diagnostic
from modelspec.ir import Call, Spec, TensorRef
from modelspec.passes.graph import GraphFacts
from modelspec.passes.shapes import ShapeFacts


def adapted_inputs(spec: Spec, graph: GraphFacts) -> dict[str, str | None]:
    """Each layer that learns its state with adapt -> the model input it reads, or None
    when it is not called once, directly on one."""
    inputs = {i.name for i in spec.inputs}
    calls: dict[str, list] = {}
    for call in graph.order:
        calls.setdefault(call.layer, []).append(call)
    out: dict[str, str | None] = {}
    for layer in spec.layers.values():
        key = ADAPTABLE.get(layer.type)
        if key is None or layer.kwargs.get(key) != ADAPT:
            continue
        mine = calls.get(layer.name, [])
        refs = mine[0].inputs if len(mine) == 1 else ()
        ok = len(refs) == 1 and refs[0].index is None and refs[0].name in inputs
        out[layer.name] = refs[0].name if ok else None
    return out


def _tensor(name: str, graph: GraphFacts) -> str:
    """A tensor as a message names it: one inside a chain by the layer that makes it."""
    if ":" in name and name in graph.producer:
        return f"the output of '{graph.producer[name].layer}'"
    return f"'{name}'"


def check_state(
    spec: Spec, graph: GraphFacts, *, skip_layers: Collection[str] = ()
) -> tuple[list[Diagnostic], set[str]]:
    """The diagnostics, and the layers whose output size is learned (MS318)."""
    diags: list[Diagnostic] = []
    unsized: set[str] = set()
    learned = adapted_inputs(spec, graph)
    calls: dict[str, list] = {}
    for call in graph.order:
        calls.setdefault(call.layer, []).append(call)
    for layer in spec.layers.values():
        key = ADAPTABLE.get(layer.type)
        if key is None or layer.name in skip_layers:
            continue
        what = f"`{layer.type}` '{layer.name}'"
        value = layer.kwargs.get(key)
        if layer.type == "Normalization":
            pass  # without stats it is built with mean 0 and variance 1, as Keras does
        elif value is None and (layer.type != "Discretization" or layer.kwargs.get("num_bins")):
            if layer.type == "Discretization":
                message = f"{what} has `num_bins` but no `bin_boundaries`, given or learned"
                hint = "learn them from the training data with `bin_boundaries: adapt`"
            else:
                message = (
                    f"{what} has no vocabulary, given or learned: every value would map to "
                    "its out-of-vocabulary index"
                )
                hint = ("give it (`vocabulary: [a, b]` or `vocabulary: {file: vocab.txt}`), or "
                        "learn it from the training data with `vocabulary: adapt`")  # fmt: skip
            diags.append(Diagnostic.at(ERROR, "MS316", message, layer.source, hint))
            continue
        if value != ADAPT:
            continue
        mine = calls.get(layer.name, [])
        if learned.get(layer.name) is None and mine:
            reads = ", ".join(_tensor(r.name, graph) for c in mine for r in c.inputs)
            times = "" if len(mine) == 1 else f" ({len(mine)} calls)"
            diags.append(
                Diagnostic.at(
                    ERROR,
                    "MS317",
                    f"{what} learns its `{key}` with adapt from the training data of the model "
                    f"input it reads, but it reads {reads}{times}",
                    mine[-1].source,
                    "call it once, directly on a model input; `train` adapts it on that "
                    "input's array before fit",
                )
            )
        mode = layer.kwargs.get("output_mode", "int")
        if key == "vocabulary" and mode != "int" and not layer.kwargs.get("pad_to_max_tokens"):
            unsized.add(layer.name)
            diags.append(
                Diagnostic.at(
                    ERROR,
                    "MS318",
                    f"{what} gives one value per vocabulary entry (output_mode {mode!r}), and "
                    "`vocabulary: adapt` learns the vocabulary only in training, after the "
                    "model is built",
                    layer.source,
                    "set `max_tokens` and `pad_to_max_tokens: true`, so the output size is "
                    "known when the model is built",
                )
            )
    return diags, unsized


# --- indices into an embedding (MS319) ---------------------------------------------

# Layers whose output holds their input's values, moved or repeated: an index that
# passes through one is still the index the layer before gave.
_KEEP_VALUES = frozenset(
    {"Reshape", "Flatten", "Permute", "RepeatVector", "Cropping1D", "Cropping2D", "Cropping3D"}
)
_EMBEDDINGS = frozenset({"Embedding", "ReversibleEmbedding"})
# How the hint names a lookup's entries, its mask index and its one OOV index.
_WORDS = {
    "TextVectorization": ("word", "padding", "the unknown word"),
    "StringLookup": ("token", "the mask token", "an unknown token"),
    "IntegerLookup": ("value", "the mask token", "an unknown value"),
}


def _lookup_feeding(
    ref: TensorRef, spec: Spec, graph: GraphFacts, shapes: ShapeFacts
) -> tuple[Call, list[str]] | None:
    """The call whose indices ``ref`` holds, and the layers they passed through since;
    None unless it is a lookup whose call was checked (its vocabulary is valid)."""
    through: list[str] = []
    while ref.index is None:
        call = graph.producer.get(ref.name)
        layer = spec.layers.get(call.layer) if call is not None else None
        if layer is None or call.output not in shapes.tensors:
            return None
        if layer.type in _KEEP_VALUES and len(call.inputs) == 1:
            through.append(layer.name)
            ref = call.inputs[0]
            continue
        return (call, through[::-1]) if layer.type in _WORDS else None
    return None


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _index_hint(type_name: str, found: IndexRange) -> str:
    """``set input_dim to at least 42 (the vocabulary's 40 words plus 2 for padding and
    the unknown word)``."""
    word, mask, unknown = _WORDS[type_name]
    extra = [mask] * found.mask
    if found.oov == 1:
        extra.append(unknown)
    elif found.oov > 1:
        extra.append(f"{found.oov} out-of-vocabulary indices")
    if found.entries is None:
        why = f"`max_tokens`: the vocabulary adapt learns has at most {found.size} entries"
        why += f", {' and '.join(extra)} included" if extra else ""
    else:
        why = f"the vocabulary's {_count(found.entries, word)}"
        if extra:
            why += f" plus {found.mask + found.oov} for {' and '.join(extra)}"
    return f"set input_dim to at least {found.size} ({why})"


def check_index_ranges(
    spec: Spec, graph: GraphFacts, shapes: ShapeFacts, *, skip_layers: Collection[str] = ()
) -> list[Diagnostic]:
    """MS319 at each call of an embedding fed indices past its ``input_dim``."""
    diags: list[Diagnostic] = []
    for call in graph.order:
        layer = spec.layers.get(call.layer)
        if layer is None or layer.type not in _EMBEDDINGS or layer.name in skip_layers:
            continue
        dim = layer.kwargs.get("input_dim")
        reverse = any(k.name == "reverse" and k.value is True for k in call.kwargs)
        if len(call.inputs) != 1 or not isinstance(dim, int) or reverse:
            continue  # a reverse call reads vectors, not indices
        fed = _lookup_feeding(call.inputs[0], spec, graph, shapes)
        if fed is None:
            continue
        lookup = spec.layers[fed[0].layer]
        try:
            found = index_range(lookup.type, LAYER_TYPES[lookup.type].resolve(lookup.kwargs))
        except ShapeError:  # a vocabulary Keras refuses: the shape rule said so
            continue
        if found is None or dim >= found.size:
            continue
        via = f" (through {', '.join(repr(n) for n in fed[1])})" if fed[1] else ""
        gives = "may give" if found.entries is None else "gives"
        diags.append(
            Diagnostic.at(
                ERROR,
                "MS319",
                f"`{layer.type}` '{layer.name}' has input_dim {dim}, but `{lookup.type}` "
                f"'{lookup.name}'{via} {gives} indices up to {found.size - 1}: an index of "
                f"{dim} or more fails when the model runs on CPU, and looks up zeros on GPU",
                call.source,
                _index_hint(lookup.type, found),
            )
        )
    return diags
