"""The project a spec belongs to: its root folder and its ``[tool.modelspec]`` settings.

A spec's project root is the nearest folder, from the spec's own folder upwards, that
holds a ``pyproject.toml`` or a ``.git``; a spec outside any project is its own root
(its folder). Two settings widen what a spec may do, and only the project or the
command line can give them, never a spec (which may come from an untrusted pull
request):

.. code-block:: toml

    [tool.modelspec]
    # Folders outside the project root that `include:` may read from.
    include-paths = ["../shared-blocks"]
    # Modules whose layer classes specs may use by import path (custom layers).
    allow-modules = ["mypkg.layers"]

Relative ``include-paths`` are relative to the folder of ``pyproject.toml``.

Example::

    >>> project = find_project("specs/seed_001_mlp.yaml")       # doctest: +SKIP
    >>> project.root.name, project.allow_modules                 # doctest: +SKIP
    ('main', ())
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modelspec.errors import WARNING, Diagnostic

SECTION = "tool.modelspec"
KEYS = ("include-paths", "allow-modules")
# A dotted module path: each part an identifier. Checked before anything is imported.
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_MARKERS = ("pyproject.toml", ".git")


@dataclass(frozen=True, slots=True)
class Project:
    """Where a spec's project is, and what it allows."""

    root: Path
    config: Path | None = None  # the pyproject.toml read, if it has [tool.modelspec]
    include_paths: tuple[Path, ...] = ()
    allow_modules: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    def allows_path(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` (resolved, links followed) is inside the root or an
        allowed include path."""
        if "\0" in os.fspath(path):  # no file is there, and the OS refuses to look
            return False
        real = Path(os.path.realpath(path))
        return any(real.is_relative_to(base) for base in (self.root, *self.include_paths))

    def allows_module(self, module: str) -> bool:
        """Whether classes from ``module`` (or a module below an allowed one) may be
        imported."""
        return any(module == m or module.startswith(m + ".") for m in self.allow_modules)

    def widened(
        self,
        *,
        include_paths: tuple[str | os.PathLike[str], ...] = (),
        allow_modules: tuple[str, ...] = (),
    ) -> Project:
        """This project with what the command line allows on top."""
        bad = [m for m in allow_modules if not MODULE.match(m)]
        if bad:
            raise ValueError(f"not a module path: {bad[0]!r}")
        return replace(
            self,
            include_paths=(
                *self.include_paths,
                *(Path(os.path.realpath(p)) for p in include_paths),
            ),
            allow_modules=(*self.allow_modules, *allow_modules),
        )


def find_root(start: str | os.PathLike[str]) -> Path:
    """The project root for a spec at ``start`` (a file or a folder)."""
    here = Path(os.path.realpath(start))
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in _MARKERS):
            return folder
    return here


def _error(config: Path, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(WARNING, "MS020", message, hint, str(config), 1, 1, ())


def find_project(start: str | os.PathLike[str]) -> Project:
    """The project of the spec at ``start``: its root and ``[tool.modelspec]``.

    A broken setting is a warning (MS020) in :attr:`Project.diagnostics`, and the
    setting is ignored: an unreadable config never widens what a spec may do.
    """
    root = find_root(start)
    config = root / "pyproject.toml"
    if not config.is_file():
        return Project(root)
    try:
        raw = config.read_bytes()
    except OSError as err:
        return Project(
            root, config, diagnostics=(_error(config, f"cannot read {config.name}: {err}"),)
        )
    # Most projects have no [tool.modelspec]: then the TOML parser (about 10 ms to
    # import, on every pre-commit lint) is not needed.
    if b"modelspec" not in raw:
        return Project(root)
    try:  # Python 3.11+
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        table: Any = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        return Project(
            root, config, diagnostics=(_error(config, f"cannot read {config.name}: {err}"),)
        )
    for part in SECTION.split("."):
        table = table.get(part) if isinstance(table, dict) else None
    if table is None:
        return Project(root)
    diags: list[Diagnostic] = []
    if not isinstance(table, dict):
        return Project(root, config, diagnostics=(_error(config, f"[{SECTION}] must be a table"),))
    for key in table:
        if key not in KEYS:
            diags.append(_error(config, f"unknown setting '{key}' in [{SECTION}]",
                                f"the settings are {', '.join(KEYS)}"))  # fmt: skip

    def strings(key: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            diags.append(_error(config, f"`{key}` in [{SECTION}] must be a list of strings"))
            return []
        if any("\0" in v for v in value):
            diags.append(_error(config, f"`{key}` in [{SECTION}] holds a NUL character"))
            return []
        return value

    paths = tuple(Path(os.path.realpath(root / p)) for p in strings("include-paths"))
    modules = []
    for m in strings("allow-modules"):
        if MODULE.match(m):
            modules.append(m)
        else:
            diags.append(_error(config, f"`allow-modules` in [{SECTION}]: {m!r} is not a module path",
                                "write a dotted module path such as mypkg.layers"))  # fmt: skip
    return Project(root, config, paths, tuple(modules), tuple(diags))
