"""The intermediate representation: a spec as plain, frozen data.

A small, fixed set of node kinds:

- :class:`Input` -- a named model input (``keras.Input``).
- :class:`Layer` -- a layer *definition*: one Keras layer, one set of weights.
- :class:`Call` -- one *call* of a layer on tensors (a Keras node). A shared layer
  is one ``Layer`` with several ``Call`` s. An op step (``{op: sum, ...}``) is an
  inline ``Layer`` of type ``ops.sum`` (:mod:`modelspec.catalog.ops`), named as Keras
  names the operation, and one ``Call`` with its ``operands``.
- :class:`TensorRef` -- a reference to a tensor by name, ``name[i]`` picking one of
  several outputs (an LSTM with ``return_state``).
- :class:`Output` -- a named model output, with its loss, weight and metrics.
- :class:`Spec` -- all of the above, plus ``compile``, ``fit``, ``distribution``,
  ``weights`` (:class:`Weights`) and ``seed``.

Every node carries the :class:`Source` it came from. Passes never mutate nodes;
they return facts (order, shapes, parameter counts) in their own objects.

Tensors are named after graph steps. A chain ``t1: {apply: [emb, fc], to: x}``
produces ``t1:0`` (from ``emb``) and then ``t1`` (from ``fc``): the last call of a
step takes the step's name, earlier ones ``step:i`` (``:`` cannot appear in a
spec name, so these never clash).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from modelspec.catalog.base import Shape
from modelspec.errors import JsonPath

# What a name of a spec (an input, layer, step or output) may be. Keras refuses "/"
# in names; "[", "]" and ":" are ours (tensor indices, chain tensors); the rest keeps
# names usable as file names and in generated code.
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class Source:
    """Where a node was written: file, 1-based line and column, and JSON path."""

    file: str
    line: int
    col: int
    path: JsonPath = ()

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Input:
    name: str
    shape: Shape | None  # without the batch axis, as keras.Input(shape=...); None if invalid
    dtype: str
    source: Source

    @property
    def batch_shape(self) -> Shape | None:
        return None if self.shape is None else (None, *self.shape)


@dataclass(frozen=True, slots=True)
class Layer:
    """A layer definition. ``inline`` layers were written inside a chain."""

    name: str
    type: str
    kwargs: Mapping[str, Any]
    source: Source
    inline: bool = False
    # Names of the layers a wrapper holds, by kwarg path: ``(("layer", "lstm"),)``, and
    # ``"layer.layer"`` for a wrapper inside a wrapper. Keras names an unnamed inner
    # layer itself; the spec records the name it gets.
    inner: tuple[tuple[str, str], ...] = ()
    # ``quantize:``: a mode (``int8``), None where the spec does not say, or ``False``
    # for ``quantize: null`` (this layer is not quantized whatever the model's mode).
    # A layer's ``dtype:`` (its dtype policy) is a kwarg: Keras's constructor takes it.
    quantize: str | bool | None = None


_REF = re.compile(r"(?P<name>.+)\[(?P<index>[0-9]+)\]\Z")


def split_ref(text: str) -> tuple[str, int | None]:
    """A tensor reference as written: ``"enc[1]"`` -> ``("enc", 1)``; ``"x"`` -> ``("x", None)``."""
    m = _REF.match(text)
    return (m["name"], int(m["index"])) if m else (text, None)


@dataclass(frozen=True, slots=True)
class TensorRef:
    name: str
    index: int | None
    source: Source

    @classmethod
    def parse(cls, text: str, source: Source) -> TensorRef:
        """``"enc[1]"`` -> ``TensorRef("enc", 1)``; ``"x"`` -> ``TensorRef("x", None)``."""
        return cls(*split_ref(text), source)

    def __str__(self) -> str:
        return self.name if self.index is None else f"{self.name}[{self.index}]"


class TensorArg(NamedTuple):
    """A tensor given as a call argument, as the plan and the emitters hold it."""

    name: str
    index: int | None


def tensor_args(value: Any) -> tuple[TensorArg, ...]:
    """The tensors in a call argument's plain value (see :meth:`CallKwarg.plain`)."""
    if isinstance(value, TensorArg):
        return (value,)
    if isinstance(value, tuple):
        return tuple(v for v in value if isinstance(v, TensorArg))
    return ()


@dataclass(frozen=True, slots=True)
class CallKwarg:
    """One argument of a step's ``call:``: ``value`` is a :class:`TensorRef`, a tuple of
    them (None for a left-out mask), or a constant (``use_causal_mask: true``)."""

    name: str
    value: Any
    source: Source  # of the value
    key_source: Source

    def plain(self) -> tuple[str, Any]:
        """``(name, value)`` with each tensor a :class:`TensorArg`: what the plan holds."""
        value = self.value
        if isinstance(value, TensorRef):
            return self.name, TensorArg(value.name, value.index)
        if isinstance(value, tuple):
            return self.name, tuple(
                None if t is None else TensorArg(t.name, t.index) for t in value
            )
        return self.name, value

    def refs(self) -> tuple[TensorRef, ...]:
        """The tensors the argument reads."""
        if isinstance(self.value, TensorRef):
            return (self.value,)
        if isinstance(self.value, tuple):
            return tuple(v for v in self.value if isinstance(v, TensorRef))
        return ()


@dataclass(frozen=True, slots=True)
class Call:
    """One call of ``layer`` on ``inputs``, producing the tensor ``output``, with the
    call arguments ``kwargs`` (a graph step's ``call:``).

    ``inputs`` are in the order the layer's call takes them. ``names``, when not empty,
    are the keywords they are passed by, one each: ``to: {query: q, value: v}`` on a
    ``MultiHeadAttention`` is ``mha(query=q, value=v)``. A layer whose call takes its
    inputs as one list (``Attention``) gets them in that list, in the same order, and no
    names: Keras's call has no keyword for them.
    """

    layer: str
    inputs: tuple[TensorRef, ...]
    output: str
    step: str
    source: Source
    kwargs: tuple[CallKwarg, ...] = ()
    names: tuple[str, ...] = ()
    # An op's operands in call order (``keras.ops.subtract(x, 1.0)``): each a TensorRef
    # or a number; ``inputs`` are its tensors. Empty for a layer's call.
    operands: tuple[Any, ...] = ()

    def refs(self) -> tuple[TensorRef, ...]:
        """Every tensor the call reads in the order Keras lists them (its node's
        parents): the positional inputs, then every tensor passed by keyword, by its
        keyword (``attention_mask``, ``key``, ``query``, ``value``)."""
        if not self.kwargs and not self.names:
            return self.inputs
        keyed = [(k.name, k.refs()) for k in self.kwargs]
        positional = self.inputs
        if self.names:
            positional = ()
            keyed += [(name, (ref,)) for name, ref in zip(self.names, self.inputs, strict=True)]
        return positional + tuple(r for _, refs in sorted(keyed, key=lambda k: k[0]) for r in refs)


@dataclass(frozen=True, slots=True)
class Output:
    name: str
    tensor: TensorRef | None
    loss: str | Mapping[str, Any] | None
    loss_weight: float | None
    metrics: tuple[str, ...]
    source: Source
    has_loss_key: bool = False
    null_loss: bool = False  # written as `loss: null`: deliberately not trained


@dataclass(frozen=True, slots=True)
class WeightsMapEntry:
    """``new: old`` in ``weights.map``: layer ``new`` of this model loads ``old``'s weights."""

    new: str
    old: str
    source: Source  # of the key, ``new``
    value_source: Source  # of the value, ``old``


@dataclass(frozen=True, slots=True)
class Weights:
    """The ``weights:`` section: a file to start from, loaded by layer name.

    ``file`` is as written (relative to the spec's folder); nothing here reads it.
    """

    file: str
    map: tuple[WeightsMapEntry, ...]
    skip_mismatch: bool
    source: Source  # of the section
    file_source: Source  # of the file name


@dataclass(frozen=True, slots=True)
class Spec:
    """A whole spec. ``layers`` keeps spec order; ``calls`` too."""

    name: str
    file: str
    inputs: tuple[Input, ...]
    layers: Mapping[str, Layer]
    calls: tuple[Call, ...]
    outputs: tuple[Output, ...]
    seed: int | None = None
    compile: Mapping[str, Any] | None = None
    fit: Mapping[str, Any] | None = None
    # How `modelspec train` spreads training over devices: {"strategy": "mirrored"}.
    distribution: Mapping[str, Any] | None = None
    weights: Weights | None = None
    sequential: bool = False
    steps: tuple[str, ...] = ()  # every graph step named in the spec, well-formed or not
    # Layer types declared under `custom:`, by name (modelspec.catalog.custom.CustomType).
    custom: Mapping[str, Any] = field(default_factory=dict)
    source: Source = field(default=Source("<spec>", 1, 1))
    # Precision (modelspec.catalog.precision): every layer's dtype policy, unless its own
    # `dtype:` says otherwise, and the quantization mode of every layer Keras can quantize.
    dtype_policy: str = "float32"
    quantize: str | None = None

    @property
    def input_map(self) -> dict[str, Input]:
        return {i.name: i for i in self.inputs}
