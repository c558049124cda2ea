"""Learned vocabularies in a ``.keras`` archive's assets, for ``modelspec import``.

A lookup (StringLookup, IntegerLookup, TextVectorization) that learned its vocabulary
with ``adapt()`` saves it as ``assets/layers/<layer>/vocabulary.txt`` in the archive, one
token a line, and writes ``vocabulary: null`` in its config. :func:`read_vocabularies`
reads those members, bounded like ``config.json`` (:mod:`modelspec.source.archive`);
:func:`fill_vocabularies` puts each back in its layer's config, without the mask and
OOV tokens Keras writes first, so the imported spec holds the vocabulary inline and
builds a model that gives the same outputs.

Keras names a layer's folder after its class, not its name: ``string_lookup``, then
``string_lookup_1``, ... in the order of the model's layers (``saving_lib``'s
``_get_unique_name``). A learned ``idf_weights`` (``output_mode: tf_idf``) is in the
weights file, which import does not read: that is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelspec.errors import ERROR, Diagnostic
from modelspec.source.archive import ArchiveError, open_zip, read_member

# All the vocabularies of one archive together, as for state files beside a spec.
MAX_ASSET_BYTES = 16 * 1024 * 1024
_MEMBER = re.compile(r"assets/layers/([a-z0-9_]+)/vocabulary\.txt\Z")
LOOKUPS = ("StringLookup", "IntegerLookup", "TextVectorization")


def _snake(name: str) -> str:
    """Keras's ``naming.to_snake_case``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def read_vocabularies(path: Path) -> dict[str, bytes]:
    """``{layer folder: vocabulary.txt's bytes}`` of the archive at ``path``;
    :class:`ArchiveError` when a member cannot be read or they pass the limit."""
    out: dict[str, bytes] = {}
    left = MAX_ASSET_BYTES
    with open_zip(path) as archive:
        for info in archive.infolist():
            match = _MEMBER.match(info.filename)
            if match is None:
                continue
            raw = read_member(archive, info, left, f"{__name__}.MAX_ASSET_BYTES")
            left -= len(raw)
            out[match[1]] = raw
    return out


def _special(config: Mapping[str, Any], cls: str) -> list[Any]:
    if cls == "TextVectorization":
        config = {"mask_token": "", "oov_token": "[UNK]", "num_oov_indices": 1,
                  "output_mode": config.get("output_mode", "int")}  # fmt: skip
    mask, mode = config.get("mask_token"), config.get("output_mode", "int")
    oov_start = 1 if mask is not None and mode == "int" else 0
    return [mask] * oov_start + [config.get("oov_token")] * config.get("num_oov_indices", 1)


def fill_vocabularies(model: Any, assets: Mapping[str, bytes], file: str) -> list[Diagnostic]:
    """Write each learned vocabulary into its layer's config in ``model`` (in place)."""
    diags: list[Diagnostic] = []
    if not assets or not isinstance(model, Mapping):
        return diags
    entries = (
        model.get("config", {}).get("layers") if isinstance(model.get("config"), Mapping) else None
    )
    used: dict[str, int] = {}
    for i, entry in enumerate(entries if isinstance(entries, list) else ()):
        cls = entry.get("class_name") if isinstance(entry, Mapping) else None
        if not isinstance(cls, str):
            continue
        base = _snake(cls)
        used[base] = used.get(base, -1) + 1
        folder = base if used[base] == 0 else f"{base}_{used[base]}"
        config = entry.get("config")
        if cls not in LOOKUPS or not isinstance(config, dict) or folder not in assets:
            continue
        if config.get("vocabulary") is not None:
            continue
        path = ("config", "layers", i, "config", "vocabulary")
        name = config.get("name", folder)
        if config.get("output_mode") == "tf_idf":
            diags.append(Diagnostic(
                ERROR, "MS614",
                f"`{cls}` '{name}' learned its idf_weights with adapt, and they are in the "
                "weights file, which import does not read",
                "give the layer its vocabulary and idf_weights in the model, or import it "
                "without tf_idf", file, 1, 1, path,
            ))  # fmt: skip
            continue
        try:
            lines = assets[folder].decode("utf-8").splitlines()
        except UnicodeDecodeError:
            diags.append(Diagnostic(ERROR, "MS601", f"the vocabulary of `{cls}` '{name}' in "
                                    "the archive is not UTF-8 text", None, file, 1, 1, path))  # fmt: skip
            continue
        while lines and lines[-1] == "":
            lines.pop()
        special = _special(config, cls)
        if cls == "IntegerLookup":
            special = [str(t) for t in special]
        if lines[: len(special)] == special:
            lines = lines[len(special) :]
        if not lines:
            continue  # never adapted: nothing learned (lint says so, MS316)
        if cls == "IntegerLookup":
            try:
                values: list[Any] = [int(line) for line in lines]
            except ValueError:
                diags.append(Diagnostic(ERROR, "MS601", f"the vocabulary of `{cls}` '{name}' "
                                        "in the archive holds a line that is not an integer",
                                        None, file, 1, 1, path))  # fmt: skip
                continue
        else:
            values = lines
        config["vocabulary"] = values
    return diags


__all__ = ["MAX_ASSET_BYTES", "ArchiveError", "fill_vocabularies", "read_vocabularies"]
