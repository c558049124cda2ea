"""Binary files for the hostile corpus: HDF5 weights, ``.keras`` archives and ``.npz`` data.

A case names one in its ``others`` as ``{make: NAME, ...}``; ``tests/test_hostile.py``
calls ``NAME(path, **rest)``. Each builder writes a file as an attacker would commit
it: small on disk and quick to write, however much it claims to hold. The weights
files have the layout Keras writes for the cases' model (``layers/fc/vars/0`` and
``1``, named ``fc``) plus the attack, so that the attack is the only thing wrong.

Zip archives are written by hand (:func:`write_zip`): zipfile will not write a
member flagged as encrypted, nor take a deflate stream made elsewhere. A bomb's
stream is one deflated block of zeros repeated: after a full flush a deflate block
refers to nothing before it, so copies of it in a row are a valid stream.

Example::

    >>> zip_bomb(Path("model.keras"), gigabytes=5)    # doctest: +SKIP  (5 MB on disk)
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

# The model of the weights cases: Dense(2) named `fc` on an input of 4.
FC_LAYERS = {"fc": [(4, 2), (2,)]}


# --- HDF5 weights ----------------------------------------------------------------------


def _keras_layout(f: h5py.File, layers: dict[str, list[Any]] | None = None) -> None:
    """Groups and datasets as Keras's ``save_weights`` writes them."""
    for name, shapes in (layers or FC_LAYERS).items():
        own = f.create_group(f"layers/{name}/vars")
        own.attrs["name"] = name
        for i, shape in enumerate(shapes):
            own.create_dataset(str(i), data=np.zeros(shape, dtype="float32"))


def weights(path: Path) -> None:
    """A clean weights file for the cases' model."""
    with h5py.File(path, "w") as f:
        _keras_layout(f)


def weights_external_link(path: Path, file: str = "/etc/passwd", target: str = "/x") -> None:
    """The layer's variables group holds an external link: HDF5 would open ``file``."""
    with h5py.File(path, "w") as f:
        _keras_layout(f)
        f["layers/fc/vars/2"] = h5py.ExternalLink(file, target)


def weights_soft_link(path: Path, target: str = "/../../etc/passwd") -> None:
    """The layer's first variable is a soft link."""
    with h5py.File(path, "w") as f:
        _keras_layout(f)
        del f["layers/fc/vars/0"]
        f["layers/fc/vars/0"] = h5py.SoftLink(target)


def weights_self_link(path: Path) -> None:
    """The layer's variables group holds a hard link to itself: a walk never ends."""
    with h5py.File(path, "w") as f:
        _keras_layout(f)
        f["layers/fc/vars/again"] = f["layers/fc/vars"]


def weights_virtual_dataset(path: Path, source: str = "/etc/passwd") -> None:
    """The layer's kernel is a virtual dataset that reads ``source``."""
    with h5py.File(path, "w") as f:
        _keras_layout(f)
        del f["layers/fc/vars/0"]
        layout = h5py.VirtualLayout(shape=(4, 2), dtype="float32")
        layout[:] = h5py.VirtualSource(source, "data", shape=(4, 2))
        f["layers/fc/vars"].create_virtual_dataset("0", layout)


def weights_external_storage(path: Path, raw: str = "/etc/passwd") -> None:
    """The layer's kernel keeps its bytes in the file ``raw``."""
    with h5py.File(path, "w") as f:
        _keras_layout(f)
        del f["layers/fc/vars/0"]
        f["layers/fc/vars"].create_dataset("0", shape=(4, 2), dtype="float32", external=[(raw, 0, 32)])  # fmt: skip


def weights_deep(path: Path, depth: int = 40) -> None:
    """Groups inside groups, ``depth`` levels below the layer's variables."""
    with h5py.File(path, "w") as f:
        _keras_layout(f)
        f.create_group("layers/fc/vars/" + "/".join(f"g{i}" for i in range(depth)))


def weights_wide(path: Path, members: int = 10_001) -> None:
    """A group of ``members`` links (hard links to one dataset: quick to write)."""
    with h5py.File(path, "w") as f:
        _keras_layout(f)
        wide = f.create_group("layers/fc/vars/wide")
        target = f["layers/fc/vars/1"]
        for i in range(members):
            wide[f"m{i}"] = target


def fifo(path: Path) -> None:
    """A named pipe: opening it to read blocks until something writes to it."""
    os.mkfifo(path)


def weights_heap_loop(path: Path) -> None:
    """A clean weights file whose global heap (where the layer names, variable-length
    strings, live) ends in a free-space entry that points into its own zeros: a heap
    entry of size 0 that libhdf5 1.14's reader steps over forever."""
    weights(path)
    data = bytearray(path.read_bytes())
    heap = data.index(b"GCOL")
    end = heap + struct.unpack_from("<Q", data, heap + 8)[0]
    at = heap + 16
    while struct.unpack_from("<H", data, at)[0] != 0:  # entries up to the free space
        at += 16 + (struct.unpack_from("<Q", data, at + 8)[0] + 7) // 8 * 8
    free = end - at
    assert free > 128 and not any(data[at + 16 : end]), "a heap with zeros at its end"
    struct.pack_into("<Q", data, at + 8, free - 104)  # the next entry lands in the zeros
    path.write_bytes(bytes(data))


# --- Keras 2 HDF5 files (save_weights("w.h5"), model.save("m.h5")) ---------------------

# The cases' model as Keras 2 writes it: a Sequential Dense(2) named `fc` on an input of 4.
KERAS2_CONFIG = {
    "class_name": "Sequential",
    "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32",
                                                "name": "x"}},
        {"class_name": "Dense", "config": {"name": "fc", "trainable": True, "dtype": "float32",
                                           "units": 2, "activation": "linear", "use_bias": True}},
    ]},
    "keras_version": "2.15.0",
    "backend": "tensorflow",
}  # fmt: skip


def _keras2_layout(group: h5py.Group, names: Any = None) -> None:
    """Keras 2's weights layout: ``layer_names``, and ``fc/fc/kernel:0`` listed in the
    group's ``weight_names``."""
    group.attrs["layer_names"] = np.array([b"x", b"fc"]) if names is None else names
    group.create_group("x").attrs["weight_names"] = np.array([], dtype="float64")
    fc = group.create_group("fc")
    fc.attrs["weight_names"] = np.array([b"fc/kernel:0", b"fc/bias:0"])
    fc.create_dataset("fc/kernel:0", data=np.zeros((4, 2), dtype="float32"))
    fc.create_dataset("fc/bias:0", data=np.zeros((2,), dtype="float32"))


def keras2_weights_pickled_names(path: Path, command: str = "touch pwned") -> None:
    """A Keras 2 weights file whose ``layer_names`` is a pickle (as opaque bytes) that
    runs ``command`` when unpickled, where a list of names belongs."""
    import pickle

    with h5py.File(path, "w") as f:
        _keras2_layout(f, np.void(pickle.dumps(_Command(command))))


def keras2_model(path: Path, config: Any = None, lambda_layer: bool = False) -> None:
    """A legacy whole-model file: ``model_config`` (the cases' model, or ``config``;
    with ``lambda_layer``, a Lambda of marshalled bytecode after ``fc``) and weights."""
    import json

    config = json.loads(json.dumps(config or KERAS2_CONFIG))
    if lambda_layer:
        config["config"]["layers"].append({"class_name": "Lambda", "config": {
            "name": "run", "function": ["4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMEAAAAfABTACkB", None, None],
            "function_type": "lambda", "module": "__main__", "output_shape": None}})  # fmt: skip
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.15.0"
        _keras2_layout(f.create_group("model_weights"))


def keras2_model_external_link(path: Path, file: str = "/etc/passwd", target: str = "/x") -> None:
    """A legacy whole-model file whose weights hold an external link to ``file``."""
    keras2_model(path)
    with h5py.File(path, "a") as f:
        f["model_weights/fc/fc/kernel:0"].attrs["note"] = "next to a link"
        f["model_weights/fc/extra"] = h5py.ExternalLink(file, target)


def keras2_model_pickled_config(path: Path, command: str = "touch pwned") -> None:
    """A legacy whole-model file whose ``model_config`` is a pickle, as opaque bytes."""
    import pickle

    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = np.void(pickle.dumps(_Command(command)))


def keras2_model_huge_config(path: Path, megabytes: int = 65) -> None:
    """A legacy whole-model file whose ``model_config`` is one fixed-length string of
    ``megabytes`` MiB (HDF5 keeps an attribute that large in dense storage)."""
    with h5py.File(path, "w", libver="latest") as f:
        size = megabytes * 2**20
        f.attrs.create("model_config", np.zeros((), dtype=f"S{size}"))


# --- zip archives, by hand ---------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A zip member as it goes on disk: its (compressed) ``chunks``, written in order,
    and what the headers say about it."""

    name: str
    chunks: tuple[bytes, ...] | list[bytes]
    size: int  # uncompressed
    crc: int
    method: int = 0  # 0 stored, 8 deflated
    flags: int = 0  # bit 0: encrypted

    @classmethod
    def stored(cls, name: str, data: bytes, flags: int = 0) -> Member:
        return cls(name, (data,), len(data), zlib.crc32(data), 0, flags)


_U32 = 0xFFFFFFFF


def write_zip(path: Path, members: list[Member]) -> None:
    """A zip of ``members``, with ZIP64 sizes for a member of 4 GiB or more."""
    directory = []
    with open(path, "wb") as fh:
        for m in members:
            offset = fh.tell()
            name = m.name.encode()
            compressed = sum(len(c) for c in m.chunks)
            big = m.size >= _U32 or compressed >= _U32
            extra = struct.pack("<HHQQ", 1, 16, m.size, compressed) if big else b""
            sizes = (_U32, _U32) if big else (compressed, m.size)
            fh.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 45 if big else 20, m.flags, m.method,
                                 0, 0x21, m.crc, *sizes, len(name), len(extra)) + name + extra)  # fmt: skip
            for chunk in m.chunks:
                fh.write(chunk)
            extra = struct.pack("<HHQQ", 1, 16, m.size, compressed) if big else b""
            directory.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 45 if big else 20, 45 if big else 20,
                                         m.flags, m.method, 0, 0x21, m.crc, *sizes, len(name), len(extra),
                                         0, 0, 0, 0, offset) + name + extra)  # fmt: skip
        start = fh.tell()
        fh.write(b"".join(directory))
        size = fh.tell() - start
        fh.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), size, start, 0))  # fmt: skip


def crc32_of_zeros(count: int, start: int = 0) -> int:
    """``zlib.crc32(bytes(count), start)`` without making ``count`` bytes: a zero byte
    maps the CRC register linearly, so ``count`` of them are that map to the power
    ``count``, by squaring (as zlib's ``crc32_combine`` does)."""

    def apply(matrix: list[int], vector: int) -> int:
        out, i = 0, 0
        while vector:
            if vector & 1:
                out ^= matrix[i]
            vector >>= 1
            i += 1
        return out

    # The register after one zero byte, for each register bit alone (zlib inverts the
    # register before and after, so undo that to get the linear map).
    step = [~zlib.crc32(b"\0", ~(1 << i) & _U32) & _U32 for i in range(32)]
    register = ~start & _U32
    while count:
        if count & 1:
            register = apply(step, register)
        step = [apply(step, column) for column in step]
        count >>= 1
    return ~register & _U32


def deflated_zeros(name: str, head: bytes, zeros: int) -> Member:
    """A deflated member of ``head`` and then ``zeros`` zero bytes, made in a moment
    and about 1/1000 of its size."""
    block_size = 2**20
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = co.compress(head) + co.flush(zlib.Z_FULL_FLUSH)
    block = co.compress(bytes(block_size)) + co.flush(zlib.Z_FULL_FLUSH)
    full, rest = divmod(zeros, block_size)
    last = co.compress(bytes(rest)) + co.flush(zlib.Z_FINISH)
    chunks = [first, *([block] * full), last]
    crc = crc32_of_zeros(zeros, zlib.crc32(head))
    return Member(name, chunks, len(head) + zeros, crc, method=8)


def zip_bomb(path: Path, member: str = "model.weights.h5", gigabytes: float = 5,
             others: dict[str, str] | None = None) -> None:  # fmt: skip
    """A zip (a ``.keras``) whose ``member`` inflates to ``gigabytes`` GiB of zeros;
    ``others``: more members, by name, with their text."""
    members = [Member.stored(n, text.encode()) for n, text in (others or {}).items()]
    members.append(deflated_zeros(member, b"", int(gigabytes * 2**30)))
    write_zip(path, members)


def zip_many(path: Path, members: int = 2_000) -> None:
    """A ``.keras`` of ``members`` tiny members, ``config.json`` first."""
    names = ["config.json", *(f"assets/{i}.txt" for i in range(members - 1))]
    write_zip(path, [Member.stored(n, b"{}") for n in names])


# --- .npz data ---------------------------------------------------------------------------


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=array.dtype.hasobject)
    return buffer.getvalue()


def _zeros(arrays: dict[str, Any]) -> dict[str, np.ndarray]:
    """``{name: [shape, dtype]}`` -> arrays of zeros."""
    return {name: np.zeros(tuple(shape), dtype=dtype) for name, (shape, dtype) in arrays.items()}


def npz(path: Path, arrays: dict[str, Any]) -> None:
    """A clean ``.npz`` of zeros: ``arrays`` is ``{name: [shape, dtype]}``."""
    with open(path, "wb") as fh:
        np.savez(fh, **_zeros(arrays))


def npz_bomb(path: Path, name: str = "x", gigabytes: float = 5, dtype: str = "float32",
             arrays: dict[str, Any] | None = None) -> None:  # fmt: skip
    """An ``.npz`` whose array ``name`` inflates to ``gigabytes`` GiB of zeros, its
    ``.npy`` header saying as much; ``arrays``: clean arrays besides."""
    count = int(gigabytes * 2**30) // np.dtype(dtype).itemsize
    header = _npy_header(count, dtype)
    members = [Member.stored(f"{n}.npy", _npy(a)) for n, a in _zeros(arrays or {}).items()]
    members.append(deflated_zeros(f"{name}.npy", header, count * np.dtype(dtype).itemsize))
    write_zip(path, members)


def _npy_header(count: int, dtype: str) -> bytes:
    """The ``.npy`` header of ``count`` values of ``dtype``, magic string included."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": (count,)}
    )
    return buffer.getvalue()


def npz_encrypted(path: Path, arrays: dict[str, Any], encrypted: str) -> None:
    """An ``.npz`` whose member ``encrypted`` (an array's name) is flagged as
    encrypted in both its headers, as a zip tool with a password writes it."""
    members = [Member.stored(f"{n}.npy", _npy(a), flags=1 if n == encrypted else 0)
               for n, a in _zeros(arrays).items()]  # fmt: skip
    write_zip(path, members)


class _Command:
    """Unpickling this runs ``command`` in a shell."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))


def npz_pickled(path: Path, arrays: dict[str, Any], pickled: str, command: str) -> None:
    """An ``.npz`` whose array ``pickled`` is an object array: its pickle runs ``command``."""
    data = _zeros(arrays)
    n = len(next(iter(data.values()))) if data else 1
    objects = np.empty(n, dtype=object)
    objects[:] = [_Command(command)] * n
    with open(path, "wb") as fh:
        np.savez(fh, **data, **{pickled: objects})
