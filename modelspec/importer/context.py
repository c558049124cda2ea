"""What one import of a Keras model config works on: the layers and calls read so far,
the tensors they pass, and the diagnostics.

A :class:`LayerInfo` is one entry of ``config.layers``, a :class:`Node` one of its
calls, and a :data:`Ref` a tensor, named as Keras names it (``keras_history``). A
:class:`Context` collects the diagnostics of one model config (a nested model gets
its own, merged into its parent's), the initializer seeds left behind, and the
``custom:`` types the layers need.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelspec.errors import ERROR, Diagnostic
from modelspec.ir import MAX_NAME, NAME

Ref = tuple[str, int, int]  # keras_history: layer name, node index, tensor index


@dataclass(slots=True)
class Node:
    """One call of a layer: its inputs (tensors), how they are passed, and its masks."""

    layer: LayerInfo
    index: int
    inputs: list[Ref]
    shapes: list[Any]  # the input shapes Keras recorded, batch axis first
    masks: list[Ref]
    path: tuple
    # The call's arguments a spec writes in `call:`: a Ref, a list of Refs (None for a
    # left-out mask), or a constant.
    kwargs: dict[str, Any] = field(default_factory=dict)
    # The keyword of each input, when the call passed them all by keyword (attention's
    # query, value and key); empty for positional inputs.
    names: list[str] = field(default_factory=list)
    # An op step's operands in call order, each a Ref or a number (``inputs`` are its
    # tensors), and its keywords; a keras.ops call's ``args`` and ``kwargs`` as the
    # config has them, read once it is known to be the model's own computation
    # (see calls.py).
    operands: list[Any] = field(default_factory=list)
    keywords: dict[str, Any] = field(default_factory=dict)  # an op step's
    raw: tuple[Any, Any] | None = None

    def arg_refs(self) -> list[Ref]:
        """The tensors of the call's arguments, in ``kwargs`` order."""
        out: list[Ref] = []
        for value in self.kwargs.values():
            if isinstance(value, tuple):
                out.append(value)
            elif isinstance(value, list):
                out += [v for v in value if v is not None]
        return out

    def reads(self) -> list[Ref]:
        """Every tensor the call reads: its inputs and its arguments' tensors."""
        return [*self.inputs, *self.arg_refs()] if self.kwargs else self.inputs


@dataclass(slots=True)
class LayerInfo:
    """One entry of ``config.layers``: what it is, and (for layers) its spec kwargs."""

    position: int
    name: str
    cls: str
    # "input", "layer", "model", "op" (a keras.ops call not read yet), "opstep" (one
    # read as an op step: ``type`` is ``ops.NAME``) or "bad" (reported, kept for the graph)
    kind: str
    path: tuple
    type: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    input: dict[str, Any] | None = None
    nodes: list[Node] = field(default_factory=list)
    block: dict[str, Any] | None = None  # a nested model, as a block definition
    inner: tuple[str, ...] = ()  # a nested model's layer names
    module: str = ""  # the entry's ``module``
    config: Mapping[str, Any] | None = None  # a keras.ops call's config: its keywords


NestedReader = Callable[["Context", LayerInfo, Mapping[str, Any], tuple], None]


@dataclass(slots=True, eq=False)
class Context:
    """One model config being read, and what reading it found.

    ``nested`` reads a nested model's entry into ``LayerInfo.block``; the driver
    (:mod:`modelspec.importer.keras3`) gives it, as it reads the nested model as a
    model of its own.
    """

    model: Any
    file: str
    nested: NestedReader | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    seeded: int = 0  # initializers whose seed a spec cannot carry
    custom: dict[str, dict[str, Any]] = field(default_factory=dict)  # `custom:`, by type
    within: bool = False  # a nested model's config, read for its parent
    policy: str = "float32"  # the model's dtype policy, once its layers are read

    def error(self, code: str, message: str, path: tuple = (), hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(ERROR, code, message, hint, self.file, 1, 1, path))

    @property
    def failed(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def check_name(self, name: str, what: str, path: tuple) -> None:
        if not NAME.match(name) or len(name) > MAX_NAME:
            shown = name if len(name) <= 60 else name[:57] + "..."
            self.error(
                "MS605",
                f"{what} name {shown!r} is not a valid spec name",
                path,
                "spec names use letters, digits, '_', '.' and '-', start with a letter, "
                f"a digit or '_', and have at most {MAX_NAME} characters; rename it in "
                "Keras and save again",
            )


def layer_word(info: LayerInfo) -> str:
    return f"layer '{info.name}' (`{info.cls}`)"


def is_tensor(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("class_name") == "__keras_tensor__"


def history(value: Any) -> Ref | None:
    """A serialized tensor's ``keras_history``."""
    config = value.get("config") if isinstance(value, Mapping) else None
    hist = config.get("keras_history") if isinstance(config, Mapping) else None
    if (
        isinstance(hist, list)
        and len(hist) == 3
        and isinstance(hist[0], str)
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in hist[1:])
    ):
        return (hist[0], hist[1], hist[2])
    return None


def shape_of(value: Any) -> tuple | None:
    """A serialized tensor's shape, batch axis first."""
    config = value.get("config") if isinstance(value, Mapping) else None
    shape = config.get("shape") if isinstance(config, Mapping) else None
    if isinstance(shape, list) and all(d is None or isinstance(d, int) for d in shape):
        return tuple(shape)
    return None


def tensors_in(value: Any) -> list[Any]:
    """Every serialized tensor inside ``value`` (args of a ``keras.ops`` call)."""
    out, stack = [], [value]
    while stack:
        item = stack.pop()
        if is_tensor(item):
            out.append(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out
