"""The project a spec belongs to: its root folder, and the settings that widen what it may do.

# NOTE: [trusted settings]
A spec may come from an untrusted pull request, and so may any file beside it. Two
settings widen what a spec may do, so they come only from a file the person running
modelspec chose, never from one a pull request can slip in next to its spec:

- ``--config FILE`` on the command line, when given; otherwise
- the ``pyproject.toml`` at the root of the git repository the spec is in (the
  nearest folder above it holding ``.git``).

.. code-block:: toml

    [tool.modelspec]
    # Folders outside the project root that `include:` may read from.
    include-paths = ["../shared-blocks"]
    # Modules whose layer classes specs may use by import path (custom layers).
    allow-modules = ["mypkg.layers"]

Relative ``include-paths`` are relative to the folder of the settings file. Any other
``pyproject.toml`` with modelspec settings, between the spec and that root (or above a
spec outside any repository, up to its project root), is not read: warning MS021
says so, once. A settings
file that is a symbolic link out of its repository is not read either (MS020).

The project *root* bounds what a spec may read (``include:``, ``weights:``): the
nearest folder, from the spec's own folder upwards, that holds a ``pyproject.toml``
or a ``.git``; a spec outside any project is its own root. A file a pull request adds
can only move that root closer to the spec, never widen it.

Example::

    >>> project = find_project("specs/seed_001_mlp.yaml")       # doctest: +SKIP
    >>> project.root.name, project.config.name, project.allow_modules   # doctest: +SKIP
    ('main', 'pyproject.toml', ())
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modelspec.errors import WARNING, Diagnostic

SECTION = "tool.modelspec"
KEYS = ("include-paths", "allow-modules")
# A dotted module path: each part an identifier. Checked before anything is imported.
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_MARKERS = ("pyproject.toml", ".git")
# A settings file larger than this is not read (a pyproject.toml is a few KiB).
MAX_CONFIG_BYTES = 1024 * 1024
# Whether a pyproject.toml holds modelspec settings, without parsing it: `[tool.modelspec]`,
# `[tool."modelspec"]` or a dotted key `tool.modelspec.x = ...`.
_MENTIONS = re.compile(rb"""tool\s*\.\s*["']?modelspec\b""")


@dataclass(frozen=True, slots=True)
class Project:
    """Where a spec's project is, and what it allows."""

    root: Path
    config: Path | None = None  # the settings file read, if it has [tool.modelspec]
    include_paths: tuple[Path, ...] = ()
    allow_modules: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = field(default=())
    # Whether lint may create a custom layer with a spec's kwargs to ask Keras for its
    # shapes and parameters: only when the person running it says so (--ask-keras).
    ask_keras: bool = False

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
        ask_keras: bool = False,
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
            ask_keras=self.ask_keras or ask_keras,
        )


def _start(start: str | os.PathLike[str]) -> Path:
    here = Path(os.path.realpath(start))
    return here if here.is_dir() else here.parent


def find_root(start: str | os.PathLike[str]) -> Path:
    """The project root for a spec at ``start`` (a file or a folder)."""
    here = _start(start)
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in _MARKERS):
            return folder
    return here


def find_repository(start: str | os.PathLike[str]) -> Path | None:
    """The root of the git repository ``start`` is in (the nearest folder above it
    holding ``.git``, a folder or, in a worktree or submodule, a file), or None."""
    here = _start(start)
    return next((f for f in (here, *here.parents) if (f / ".git").exists()), None)


def _warning(code: str, config: Path, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(WARNING, code, message, hint, _display(config), 1, 1, ())


def _display(path: Path) -> str:
    """``path`` as a diagnostic names it: relative to the current folder when below it."""
    try:
        return os.path.relpath(path) if path.is_relative_to(os.getcwd()) else str(path)
    except (OSError, ValueError):  # no current folder, or another drive
        return str(path)


def _read(config: Path, repository: Path | None) -> tuple[bytes | None, Diagnostic | None]:
    """The bytes of a settings file, or why it is not read (MS020). The repository
    root's file must not be a link out of ``repository``; one named by ``--config``
    (``repository`` None) may be anywhere."""
    try:
        if repository is not None and config.is_symlink():
            if not Path(os.path.realpath(config)).is_relative_to(repository):
                return None, _warning(
                    "MS020",
                    config,
                    f"{config.name} is a symbolic link out of "
                    "its repository; its settings are not read",
                )
        st = config.stat()
        if not stat.S_ISREG(st.st_mode):
            return None, _warning(
                "MS020", config, f"{config.name} is not a regular file; its settings are not read"
            )
        if st.st_size > MAX_CONFIG_BYTES:
            return None, _warning(
                "MS020",
                config,
                f"{config.name} is over {MAX_CONFIG_BYTES // 2**20} MiB; its settings are not read",
            )
        with open(config, "rb") as fh:
            return fh.read(MAX_CONFIG_BYTES + 1), None
    except OSError as err:
        return None, _warning("MS020", config, f"cannot read {config.name}: {err.strerror or err}")


def _ignored(here: Path, top: Path, trusted: Path | None, in_repository: bool) -> list[Diagnostic]:
    """MS021 for each pyproject.toml with modelspec settings from ``here`` up to ``top``
    (the repository root, or the project root outside a repository) that is not the
    trusted one."""
    out = []
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate != trusted and candidate.is_file() and not candidate.is_symlink():
            try:
                with open(candidate, "rb") as fh:
                    mentions = _MENTIONS.search(fh.read(MAX_CONFIG_BYTES)) is not None
            except OSError:
                mentions = False
            if mentions:
                where = (
                    "only the repository root's pyproject.toml (or --config FILE) is read"
                    if in_repository
                    else "the spec is in no git repository, so only --config FILE gives settings"
                )
                out.append(
                    _warning(
                        "MS021",
                        candidate,
                        f"the [{SECTION}] settings in this {candidate.name} are not read: {where}",
                        "a pull request could add such a file beside its spec; move the settings "
                        "to the repository root's pyproject.toml, or pass --config",
                    )
                )
        if folder == top:
            break
    return out


def find_project(
    start: str | os.PathLike[str], *, config: str | os.PathLike[str] | None = None
) -> Project:
    """The project of the spec at ``start``: its root, and the settings of ``config``
    (given by the person running modelspec), else of the repository root's
    ``pyproject.toml`` (see NOTE: [trusted settings]).

    A broken setting is a warning (MS020) in :attr:`Project.diagnostics`, and the
    setting is ignored: an unreadable config never widens what a spec may do.
    """
    root = find_root(start)
    repository = find_repository(start)
    if config is not None:
        trusted: Path | None = Path(os.path.abspath(config))
    else:
        trusted = None if repository is None else repository / "pyproject.toml"
    ignored = _ignored(_start(start), repository or root, trusted, repository is not None)
    if trusted is None or (config is None and not os.path.lexists(trusted)):
        return Project(root, diagnostics=tuple(ignored))
    raw, problem = _read(trusted, repository if config is None else None)
    if raw is None:
        return Project(root, trusted, diagnostics=(problem, *ignored))  # type: ignore[arg-type]
    # Most projects have no [tool.modelspec]: then the TOML parser (about 10 ms to
    # import, on every pre-commit lint) is not needed.
    if b"modelspec" not in raw:
        return Project(root, diagnostics=tuple(ignored))
    settings = _settings(trusted, raw)
    return replace(settings, root=root, diagnostics=(*settings.diagnostics, *ignored))


def _settings(config: Path, raw: bytes) -> Project:
    """``[tool.modelspec]`` of ``config``, whose bytes are ``raw``; every problem MS020."""
    try:  # Python 3.11+
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    empty = Path(".")
    try:
        table: Any = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        return Project(
            empty,
            config,
            diagnostics=(_warning("MS020", config, f"cannot read {config.name}: {err}"),),
        )
    except RecursionError:  # tomllib recurses into nested arrays and tables
        return Project(
            empty,
            config,
            diagnostics=(
                _warning("MS020", config, f"cannot read {config.name}: it nests too deeply"),
            ),
        )
    for part in SECTION.split("."):
        table = table.get(part) if isinstance(table, dict) else None
    if table is None:
        return Project(empty)
    diags: list[Diagnostic] = []
    if not isinstance(table, dict):
        return Project(
            empty, config, diagnostics=(_warning("MS020", config, f"[{SECTION}] must be a table"),)
        )
    for key in table:
        if key not in KEYS:
            diags.append(
                _warning(
                    "MS020",
                    config,
                    f"unknown setting '{key}' in [{SECTION}]",
                    f"the settings are {', '.join(KEYS)}",
                )
            )

    def strings(key: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            diags.append(
                _warning("MS020", config, f"`{key}` in [{SECTION}] must be a list of strings")
            )
            return []
        if any("\0" in v for v in value):
            diags.append(_warning("MS020", config, f"`{key}` in [{SECTION}] holds a NUL character"))
            return []
        return value

    paths = tuple(Path(os.path.realpath(config.parent / p)) for p in strings("include-paths"))
    modules = []
    for m in strings("allow-modules"):
        if MODULE.match(m):
            modules.append(m)
        else:
            diags.append(
                _warning(
                    "MS020",
                    config,
                    f"`allow-modules` in [{SECTION}]: {m!r} is not a module path",
                    "write a dotted module path such as mypkg.layers",
                )
            )
    return Project(empty, config, paths, tuple(modules), tuple(diags))
