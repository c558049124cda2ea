"""Where the shipped data files are: ``schemas/`` and ``templates/``.

The repository keeps them at its top level. A wheel carries them inside the package
as ``modelspec/_data/`` (see ``[tool.hatch.build.targets.wheel.force-include]`` in
``pyproject.toml``); an editable install or a source checkout reads them from the
repository. Both layouts are tried, packaged first.
"""

from __future__ import annotations

from pathlib import Path

# modelspec/, the package folder (this module is in modelspec/emit/).
_PACKAGE = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """``schemas`` or ``templates``, wherever this installation keeps it."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"modelspec's '{name}' folder is missing from this installation")


def schema_path() -> Path:
    """The JSON Schema file (``schemas/modelspec.schema.json``)."""
    return data_dir("schemas") / "modelspec.schema.json"


def template_dir() -> Path:
    return data_dir("templates")
