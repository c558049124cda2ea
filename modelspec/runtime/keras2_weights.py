"""Keras 2's HDF5 weights, as data: a ``save_weights("w.h5")`` file, or the
``model_weights`` group of a legacy full-model file (``model.save("m.h5")``).

Keras 2 (and tf.keras up to TensorFlow 2.15) writes, in the group that lists the
layers (the root, or ``model_weights``)::

    attrs: layer_names = ["input", "embed", "lstm", ...]
    lstm/                       attrs: weight_names = ["lstm/lstm_cell/kernel:0",
                                                       "lstm/lstm_cell/recurrent_kernel:0",
                                                       "lstm/lstm_cell/bias:0"]
    lstm/lstm/lstm_cell/kernel:0        (a dataset, at its weight name below the layer's group)

``weight_names`` is in the layer's weight order (trainable weights first, then the
others), which for every layer a spec builds is Keras 3's ``layer.weights`` order:
:mod:`modelspec.runtime.weights` matches them by position, as Keras 2's own
``load_weights(by_name=True)`` does. A nested model is one entry of ``layer_names``
whose weights carry its layers' names (``inner1/kernel:0``): :func:`split_nested`
sorts them into the flat names of its layers (``block_inner1``).

An attribute longer than an HDF5 object header holds (64 KiB) is split by Keras 2
into ``layer_names0``, ``layer_names1``, ...: read back in order.

Everything here reads names and finds datasets; no dataset's data is read, and the
file has been checked as a whole before (:func:`modelspec.runtime.weights_file.check_file`):
no links, no external data, within the limits. h5py is the only package needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelspec.errors import printable
from modelspec.runtime.weights_file import H5_ERRORS, MAX_GROUP_MEMBERS, dtype_text

LAYER_NAMES = "layer_names"
WEIGHT_NAMES = "weight_names"
MODEL_WEIGHTS = "model_weights"  # where a full-model file keeps its weights
# Names in one list attribute: one per layer of a model, or per weight of a layer.
MAX_NAMES = MAX_GROUP_MEMBERS
# Chunks of one split attribute: Keras 2 splits at 64 KiB, so 1,000 chunks hold 64 MB
# of names, far more than MAX_NAMES of them.
MAX_CHUNKS = 1_000
# One name: a layer's name, or a weight's path below its layer.
MAX_NAME_CHARS = 1_000


class LegacyLayoutError(Exception):
    """The file is in Keras 2's layout but does not hold what Keras 2 writes there."""


def _has(oid: Any, name: str) -> bool:
    from h5py import h5a

    try:
        return bool(h5a.exists(oid.id, name.encode()))
    except H5_ERRORS:
        return False


def legacy_root(h5: Any) -> Any | None:
    """The group of ``h5`` that lists Keras 2 layers (``layer_names``): the root of a
    ``save_weights`` file, ``model_weights`` of a full-model file; None for a file in
    Keras 3's layout."""
    import h5py

    for group in (h5, h5.get(MODEL_WEIGHTS)):
        if isinstance(group, h5py.Group) and (
            _has(group, LAYER_NAMES) or _has(group, LAYER_NAMES + "0")
        ):
            return group
    return None


def names_attr(obj: Any, name: str, where: str) -> list[str]:
    """The list of names in attribute ``name`` of ``obj`` (a group), whole or from its
    chunks ``name0``, ``name1``, ...; :class:`LegacyLayoutError` if it is not a list
    of names (an opaque blob, a pickle, a number), or is too long. ``where`` names
    ``obj`` in messages. An empty list, which Keras 2 writes as an array of floats, and
    a missing attribute are ``[]``."""
    if _has(obj, name):
        return _read_names(obj, name, where, 0)
    out: list[str] = []
    for i in range(MAX_CHUNKS + 1):
        chunk = f"{name}{i}"
        if not _has(obj, chunk):
            return out
        if i == MAX_CHUNKS:
            break
        out += _read_names(obj, chunk, where, len(out))
    raise LegacyLayoutError(
        f"attribute '{name}' of {where} is split into more than {MAX_CHUNKS:,} chunks"
    )


def _read_names(obj: Any, name: str, where: str, before: int) -> list[str]:
    import numpy as np
    from h5py import h5a, h5t

    try:
        attr = h5a.open(obj.id, name.encode())
        shape = attr.shape
        if shape == (0,):
            return []  # Keras 2 writes an empty list as an empty array of floats
        if attr.get_type().get_class() != h5t.STRING:
            raise LegacyLayoutError(
                f"attribute '{name}' of {where} holds values of type '{dtype_text(attr)}', "
                "not names (Keras 2 writes names as strings)"
            )
        if len(shape) != 1:
            raise LegacyLayoutError(
                f"attribute '{name}' of {where} has shape {shape}, not a list of names"
            )
        if before + shape[0] > MAX_NAMES:
            raise LegacyLayoutError(
                f"attribute '{name}' of {where} lists more than {MAX_NAMES:,} names"
            )
        # A variable-length string's length is known only once it is read: the file's
        # size (capped by open_weights) bounds it, and each is checked after.
        values = np.empty(shape, dtype=attr.dtype)
        attr.read(values)
    except LegacyLayoutError:
        raise
    except H5_ERRORS as exc:
        raise LegacyLayoutError(f"attribute '{name}' of {where} cannot be read ({exc})") from None
    out = []
    for value in values:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if not isinstance(text, str) or not text or len(text) > MAX_NAME_CHARS:
            shown = printable(str(text)[:60])
            raise LegacyLayoutError(
                f"attribute '{name}' of {where} holds {shown!r}, which is not a name "
                f"of at most {MAX_NAME_CHARS:,} characters"
            )
        out.append(text)
    return out


def legacy_layers(root: Any) -> dict[str, list[tuple[str, Any]]]:
    """``layer name -> [(weight name, dataset), ...]`` for each layer with weights that
    ``root`` (see :func:`legacy_root`) lists, in Keras 2's weight order;
    :class:`LegacyLayoutError` where the file does not hold what its names say."""
    import h5py

    where = f"'{root.name}'"
    out: dict[str, list[tuple[str, Any]]] = {}
    for layer in names_attr(root, LAYER_NAMES, where):
        group = root.get(layer)
        if not isinstance(group, h5py.Group):
            raise LegacyLayoutError(
                f"layer '{printable(layer)}' is in {LAYER_NAMES} of {where}, but the file has no "
                "group of that name"
            )
        weights = []
        for weight in names_attr(group, WEIGHT_NAMES, f"'{group.name}'"):
            dataset = group.get(weight)
            if not isinstance(dataset, h5py.Dataset):
                raise LegacyLayoutError(
                    f"layer '{printable(layer)}' lists the weight '{printable(weight)}', "
                    f"which is not a dataset of its group '{group.name}'"
                )
            weights.append((weight, dataset))
        if weights:
            out.setdefault(layer, weights)
    return out


def split_nested(
    weights: Iterable[tuple[str, Any]], model: Any, prefix: str
) -> tuple[dict[str, list[tuple[str, Any]]], list[str]]:
    """The weights Keras 2 saved for the nested ``model`` (one entry of
    ``layer_names``), sorted by the layer each belongs to: ``<prefix><layer>`` ->
    its weights in the file's order, a layer of a model inside ``model`` named
    ``<prefix><model>_<layer>``. A weight belongs to the first layer of ``model``
    that a part of its name (``inner1/kernel:0``, or ``block/inner1/kernel:0``)
    names. Also returns the weights that name no layer of ``model``."""
    out: dict[str, list[tuple[str, Any]]] = {}
    unplaced: list[str] = []
    _sort(((w, d, w.split("/")) for w, d in weights), model, prefix, out, unplaced)
    return out, unplaced


def _sort(entries: Iterable[tuple[str, Any, list[str]]], model: Any, prefix: str,
          out: dict[str, list[tuple[str, Any]]], unplaced: list[str]) -> None:  # fmt: skip
    import keras

    layers = {layer.name: layer for layer in model.layers}
    inner: dict[str, list[tuple[str, Any, list[str]]]] = {}
    for weight, dataset, parts in entries:
        at = next((i for i, part in enumerate(parts[:-1]) if part in layers), None)
        if at is None:
            unplaced.append(weight)
            continue
        name = parts[at]
        if isinstance(layers[name], keras.Model):
            inner.setdefault(name, []).append((weight, dataset, parts[at + 1 :]))
        else:
            out.setdefault(prefix + name, []).append((weight, dataset))
    for name, items in inner.items():
        _sort(items, layers[name], f"{prefix}{name}_", out, unplaced)


# --- a whole-model file's config ---------------------------------------------------------


class AttributeProblem(Exception):
    """A root attribute of a Keras 2 model file that is not the text Keras writes."""

    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint


def root_text(path: Any, file: str, limits: dict[str, int]) -> dict[str, bytes | None]:
    """The root attributes ``limits`` names of the HDF5 file ``path``, each as the bytes
    of its text (None when there is none), for ``modelspec import`` of a Keras 2 model
    file. The file is opened and checked whole as a weights file is
    (:class:`~modelspec.runtime.weights_file.WeightsError`); an attribute that is not one
    string (an opaque blob, a pickle, an array) is refused unread, and one longer than
    its limit refused: unread when its type says its size (a fixed-length string), once
    read when it does not (a variable-length one, bounded by the file's size limit)
    (:class:`AttributeProblem`)."""
    from modelspec.runtime.weights_file import Where, open_weights

    with open_weights(path, display=file, where=Where(file)) as h5:
        return {name: _root_attr(h5, name, file, limit) for name, limit in limits.items()}


def _root_attr(h5: Any, name: str, file: str, limit: int) -> bytes | None:
    import numpy as np
    from h5py import h5a, h5t

    key = name.encode()
    try:
        if not h5a.exists(h5.id, key):
            return None
        attr = h5a.open(h5.id, key)
        kind = attr.get_type()
        if kind.get_class() != h5t.STRING or attr.shape not in ((), (1,)):
            raise AttributeProblem(
                "MS601",
                f"attribute '{name}' of '{file}' is {_describe(attr)}, not text; Keras writes "
                "it as one string, and modelspec reads nothing else from it",
                "a Keras 2 model file holds its config as JSON text",
            )
        if not kind.is_variable_str() and kind.get_size() > limit:
            raise _too_long(name, file, kind.get_size(), limit)
        value = np.empty(attr.shape, dtype=attr.dtype)
        attr.read(value)
    except AttributeProblem:
        raise
    except H5_ERRORS as exc:
        raise AttributeProblem(
            "MS601", f"attribute '{name}' of '{file}' cannot be read ({exc})"
        ) from None
    item = value.reshape(-1)[0]
    raw = item if isinstance(item, bytes) else str(item).encode("utf-8", "surrogateescape")
    if len(raw) > limit:
        raise _too_long(name, file, len(raw), limit)
    return raw.rstrip(b"\0")


def _describe(attr: Any) -> str:
    shape = "x".join(str(n) for n in attr.shape) or "one value"
    return f"of type '{dtype_text(attr)}' ({shape})"


def _too_long(name: str, file: str, size: int, limit: int) -> AttributeProblem:
    return AttributeProblem(
        "MS602",
        f"attribute '{name}' of '{file}' is {size:,} bytes; the limit is {limit:,}",
        "a limit of modelspec (modelspec.importer.source.MAX_BYTES); no Keras model's "
        "config comes near it",
    )


# --- Keras 2's cuDNN layers -------------------------------------------------------------
#
# CuDNNLSTM and CuDNNGRU keep their weights as one kernel, one recurrent kernel and one
# bias holding the input and the recurrent biases, each gate's block laid out as cuDNN
# reads it. Keras 2 converts them when it loads them into an LSTM or a GRU
# (tf_keras/src/saving/legacy/hdf5_format.py, _convert_rnn_weights), and so does this,
# in the same way: per gate block, the kernel's block k of shape (in, units) becomes
# k.T.reshape(k.shape, order="F"), the recurrent kernel's becomes its transpose; an
# LSTM's two biases are added, a GRU's are its two rows (reset_after=True). The gates
# are in the same order (LSTM i, f, c, o; GRU z, r, h). A cuDNN layer is known, as
# Keras 2 knows it, by the size of its bias: two biases per gate.


class Converted:
    """A weight of the file as Keras 3 takes it: ``dataset``, converted when read."""

    def __init__(self, dataset: Any, shape: tuple[int, ...], convert: Any):
        self.dataset = dataset
        self.shape = shape
        self.name = dataset.name
        self._convert = convert

    def __getitem__(self, key: Any) -> Any:
        return self._convert(self.dataset[key])


def _role(weight: str) -> str:
    """``clstm/recurrent_kernel:0`` -> ``recurrent_kernel``."""
    return weight.rsplit("/", 1)[-1].split(":", 1)[0]


def from_cudnn(weights: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """``weights`` (one layer's, in the file's order) with each cuDNN kernel, recurrent
    kernel and bias converted to what Keras 3's LSTM or GRU holds; others as they are."""
    out = list(weights)
    i = 0
    while i + 3 <= len(out):
        (kn, k), (rn, r), (bn, b) = out[i : i + 3]
        gates = _cudnn_gates(k.shape, r.shape, b.shape)
        if gates and (_role(kn), _role(rn), _role(bn)) == ("kernel", "recurrent_kernel", "bias"):
            units = r.shape[0]
            bias_shape = (gates * units,) if gates == 4 else (2, gates * units)
            out[i : i + 3] = [
                (kn, Converted(k, tuple(k.shape), lambda a, g=gates: _blocks(a, g, _input_block))),
                (rn, Converted(r, tuple(r.shape), lambda a, g=gates: _blocks(a, g, _transpose))),
                (bn, Converted(b, bias_shape, _lstm_bias if gates == 4 else _gru_bias)),
            ]
            i += 3
        else:
            i += 1
    return out


def _cudnn_gates(kernel: tuple[int, ...], recurrent: tuple[int, ...], bias: tuple[int, ...]) -> int:
    """4 (CuDNNLSTM) or 3 (CuDNNGRU) when the shapes are a cuDNN layer's, else 0."""
    if len(kernel) != 2 or len(recurrent) != 2 or len(bias) != 1:
        return 0
    units = recurrent[0]
    for gates in (4, 3):
        if units and recurrent[1] == kernel[1] == gates * units and bias[0] == 2 * gates * units:
            return gates
    return 0


def _blocks(array: Any, gates: int, convert: Any) -> Any:
    import numpy as np

    return np.hstack([convert(block) for block in np.hsplit(array, gates)])


def _input_block(block: Any) -> Any:
    return block.T.reshape(block.shape, order="F")


def _transpose(block: Any) -> Any:
    return block.T


def _lstm_bias(bias: Any) -> Any:
    half = bias.shape[0] // 2
    return bias[:half] + bias[half:]


def _gru_bias(bias: Any) -> Any:
    return bias.reshape(2, -1)
