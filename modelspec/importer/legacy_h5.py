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

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MODEL_CONFIG = "model_config"
TRAINING_CONFIG = "training_config"
KERAS_VERSION = "keras_version"


def _error(code: str, message: str, file: str, hint: str | None = None) -> SourceError:
    return SourceError(Diagnostic(ERROR, code, message, hint, file, 1, 1))


def is_hdf5(path: Path) -> bool:
    """Whether ``path`` is a regular file that starts with HDF5's signature (a FIFO or a
    device is not opened)."""
    from modelspec.source.files import regular_file_problem

    if regular_file_problem(path) is not None:
        return False
    try:
        with path.open("rb") as fh:
            return fh.read(len(HDF5_MAGIC)) == HDF5_MAGIC
    except OSError:
        return False


def read_legacy(path: Path, file: str) -> dict[str, Any]:
    """The model config of the legacy HDF5 file ``path``, with its Keras version and
    training config added as Keras 2 keeps them (``keras_version``,
    ``training_config``), for :func:`modelspec.importer.keras2.normalise`;
    :class:`~modelspec.importer.source.SourceError` if it cannot be read."""
    import importlib.util

    if importlib.util.find_spec("h5py") is None:
        raise _error(
            "MS601",
            f"'{file}' is an HDF5 file (a Keras 2 model, model.save('m.h5')), and reading "
            "one needs h5py, which is not installed",
            file,
            "pip install 'modelspec[h5]' (or any backend extra: [jax], [torch], [tensorflow])",
        )
    # h5py is the runtime's to import (modelspec.runtime.keras2_weights).
    from modelspec.runtime.keras2_weights import AttributeProblem, root_text
    from modelspec.runtime.weights_file import WeightsError

    limits = {MODEL_CONFIG: MAX_BYTES, TRAINING_CONFIG: MAX_BYTES, KERAS_VERSION: 100}
    try:
        raw = root_text(path, file, limits)
    except WeightsError as exc:
        raise SourceError(*exc.diagnostics) from None
    except AttributeProblem as exc:
        raise _error(exc.code, exc.message, file, exc.hint) from None
    if raw[MODEL_CONFIG] is None:
        raise _error(
            "MS601",
            f"'{file}' holds no model config (attribute '{MODEL_CONFIG}'): it is a "
            "file of weights (model.save_weights), not a whole model",
            file,
            "import the model's JSON (model.to_json()) or a whole-model file, and "
            "name this file in the spec's `weights:`",
        )
    config = _json(raw[MODEL_CONFIG], MODEL_CONFIG, file)
    if not isinstance(config, dict):
        raise _error(
            "MS604",
            f"the '{MODEL_CONFIG}' of '{file}' is not a model config (a JSON object)",
            file,
        )
    out = dict(config)
    if raw[KERAS_VERSION] is not None:
        out.setdefault(KERAS_VERSION, raw[KERAS_VERSION].decode("utf-8", "replace"))
    keras3 = str(out.get(KERAS_VERSION, "2.")).startswith("3.")
    if raw[TRAINING_CONFIG] is not None and not keras3:
        out[TRAINING_CONFIG] = _json(raw[TRAINING_CONFIG], TRAINING_CONFIG, file)
    return out


def _json(raw: bytes, name: str, file: str) -> Any:
    try:
        return parse_json(raw, file)
    except SourceError as exc:
        d = exc.diagnostic
        message = f"attribute '{name}': {d.message}"
        raise SourceError(Diagnostic(d.level, d.code, message, d.hint, file, 1, 1)) from None
