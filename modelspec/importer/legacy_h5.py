"""A legacy HDF5 model file (Keras 2's ``model.save("m.h5")``) as an import source.

Keras 2 keeps a whole model in one HDF5 file: the weights in the ``model_weights``
group, and, as attributes of the root, the model's config (``model_config``, the
JSON of ``model.to_json()``), its training config (``training_config``, JSON) and
the Keras version. The import reads those attributes as text and parses them as any
other config (:func:`modelspec.importer.source.parse_json`): nothing is unpickled,
deserialized or run, and no dataset is read.

The file is opened the way a weights file is (:func:`modelspec.runtime.weights_file.open_weights`):
read-only, within its size limit, and checked whole before anything is read, so a
file with links out of it, external data, compressed chunks or past the limits is
refused with the same diagnostics (MS530 - MS533) as a weights file.

A text attribute's length is known only when it is read (HDF5 keeps a
variable-length string apart from its record): the file's size limit bounds it, and
a config over the import's limit (:data:`modelspec.importer.source.MAX_BYTES`) is
refused once read. An attribute that is not text (a pickle in an opaque blob, an
array) is refused unread.

h5py is the only package this needs; Keras and TensorFlow are not imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelspec.errors import ERROR, Diagnostic
from modelspec.importer.source import MAX_BYTES, SourceError, parse_json

MODEL_CONFIG = "model_config"
TRAINING_CONFIG = "training_config"
KERAS_VERSION = "keras_version"


def _error(code: str, message: str, file: str, hint: str | None = None) -> SourceError:
    return SourceError(Diagnostic(ERROR, code, message, hint, file, 1, 1))


def read_legacy(path: Path, file: str) -> dict[str, Any]:
    """The model config of the legacy HDF5 file ``path``, with its Keras version and
    training config added as Keras 2 keeps them (``keras_version``,
    ``training_config``), for :func:`modelspec.importer.keras2.normalise`;
    :class:`~modelspec.importer.source.SourceError` if it cannot be read."""
    try:
        import h5py  # noqa: F401
    except ImportError:
        raise _error(
            "MS601",
            f"'{file}' is an HDF5 file (a Keras 2 model, model.save('m.h5')), and reading "
            "one needs h5py, which is not installed",
            file,
            "pip install 'modelspec[h5]' (or any backend extra: [jax], [torch], [tensorflow])",
        ) from None
    from modelspec.runtime.weights_file import WeightsError, Where, open_weights

    try:
        with open_weights(path, display=file, where=Where(file)) as h5:
            config = _json_attr(h5, MODEL_CONFIG, file)
            if config is None:
                raise _error(
                    "MS601",
                    f"'{file}' holds no model config (attribute '{MODEL_CONFIG}'): it is a "
                    "file of weights (model.save_weights), not a whole model",
                    file,
                    "import the model's JSON (model.to_json()) or a whole-model file, and "
                    "name this file in the spec's `weights:`",
                )
            training = _json_attr(h5, TRAINING_CONFIG, file)
            raw = _raw_attr(h5, KERAS_VERSION, file, limit=100)
            version = raw.decode("utf-8", "replace") if raw is not None else None
    except WeightsError as exc:
        raise SourceError(*exc.diagnostics) from None
    if not isinstance(config, dict):
        raise _error(
            "MS604",
            f"the '{MODEL_CONFIG}' of '{file}' is not a model config (a JSON object)",
            file,
        )
    out = dict(config)
    if version is not None:
        out.setdefault(KERAS_VERSION, version)
    if training is not None and not str(out.get(KERAS_VERSION, "2.")).startswith("3."):
        out[TRAINING_CONFIG] = training
    return out


def _json_attr(h5: Any, name: str, file: str) -> Any:
    raw = _raw_attr(h5, name, file, limit=MAX_BYTES)
    if raw is None:
        return None
    try:
        return parse_json(raw, file)
    except SourceError as exc:
        d = exc.diagnostic
        message = f"attribute '{name}': {d.message}"
        raise SourceError(Diagnostic(d.level, d.code, message, d.hint, file, 1, 1)) from None


def _raw_attr(h5: Any, name: str, file: str, *, limit: int) -> bytes | None:
    """Attribute ``name`` of the file's root as the bytes of its text, or None when there is none;
    :class:`~modelspec.importer.source.SourceError` when it is not one string, or is longer than ``limit``."""
    import numpy as np
    from h5py import h5a, h5t

    from modelspec.runtime.weights_file import H5_ERRORS

    key = name.encode()
    try:
        if not h5a.exists(h5.id, key):
            return None
        attr = h5a.open(h5.id, key)
        kind = attr.get_type()
        if kind.get_class() != h5t.STRING or attr.shape not in ((), (1,)):
            what = _describe(attr)
            raise _error(
                "MS601",
                f"attribute '{name}' of '{file}' is {what}, not text; Keras writes it as "
                "one string, and modelspec reads nothing else from it",
                file,
                "a Keras 2 model file holds its config as JSON text",
            )
        if not kind.is_variable_str() and kind.get_size() > limit:
            raise _too_long(name, file, kind.get_size(), limit)
        value = np.empty(attr.shape, dtype=attr.dtype)
        attr.read(value)
    except SourceError:
        raise
    except H5_ERRORS as exc:
        raise _error(
            "MS601", f"attribute '{name}' of '{file}' cannot be read ({exc})", file
        ) from None
    item = value.reshape(-1)[0]
    raw = item if isinstance(item, bytes) else str(item).encode("utf-8", "surrogateescape")
    if len(raw) > limit:
        raise _too_long(name, file, len(raw), limit)
    return raw.rstrip(b"\0")


def _describe(attr: Any) -> str:
    try:
        dtype = str(attr.dtype)
    except (TypeError, ValueError):
        dtype = "an HDF5 type numpy has no dtype for"
    shape = "x".join(str(n) for n in attr.shape) or "one value"
    return f"of type '{dtype[:60]}' ({shape})"


def _too_long(name: str, file: str, size: int, limit: int) -> SourceError:
    return _error(
        "MS602",
        f"attribute '{name}' of '{file}' is {size:,} bytes; the limit is {limit:,}",
        file,
        "a limit of modelspec (modelspec.importer.source.MAX_BYTES); no Keras model's config comes near it",
    )
