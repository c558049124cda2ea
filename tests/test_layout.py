"""The package's shape: no module of ``modelspec`` imports, however indirectly, itself.

Imports are read with :mod:`ast`, at any depth (an import inside a function closes a
circle as surely as one at the top, only later), and the circles are found with
:mod:`graphlib`. A package's ``__init__`` counts only where it is named: every
``import modelspec.x`` also runs ``modelspec/__init__.py``, which would tie every
module to every other.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "modelspec"


def modules() -> dict[str, Path]:
    """``dotted name -> file`` for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            # `from a import b` imports the module a.b when there is one, else a's name b
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]  # fmt: skip
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def test_the_import_graph_has_no_circle():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def test_the_reader_sees_an_import_inside_a_function():
    known = {"modelspec.a": Path("a.py"), "modelspec.b": Path("b.py"), "modelspec.pkg": Path()}
    source = "def f():\n    from modelspec.b import x\n    from modelspec import pkg\n"
    path = PACKAGE.parent / "tests" / "_layout_probe.py"
    try:
        path.write_text(source)
        assert imports("modelspec.a", path, known) == {"modelspec.b", "modelspec.pkg"}
    finally:
        path.unlink()


# The packages a model needs at run time: only modelspec/runtime/ imports them, so that
# every other stage (lint, summary, build's code, import) runs without them.
RUNTIME_PACKAGES = {"keras", "tensorflow", "jax", "torch", "h5py", "numpy"}


def external_imports(path: Path) -> set[str]:
    """The top-level names of the packages outside modelspec that ``path`` imports."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.partition(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "quiet_import":
            out.update(a.value.partition(".")[0] for a in node.args if isinstance(a, ast.Constant))
            out.add("keras" if not node.args else "")
    return out - {""}


def test_only_the_runtime_folder_imports_keras():
    known = modules()
    outside = {
        name: sorted(external_imports(path) & RUNTIME_PACKAGES)
        for name, path in known.items()
        if not name.startswith("modelspec.runtime")
    }
    assert {name: found for name, found in outside.items() if found} == {}
    # and the reader sees each way in: `import x`, `from x import y`, quiet_import("x")
    assert external_imports(known["modelspec.runtime.train"]) >= {"keras", "tensorflow", "numpy"}
    assert "keras" in external_imports(known["modelspec.runtime.classes"])


def test_the_stages_are_folders():
    """The top of the package holds the shared pieces and the drivers; each stage is
    a folder (docs/architecture.md draws them in order)."""
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top == {"__init__", "__main__", "api", "check", "cli", "errors", "ir", "weights"}
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders == {"source", "compose", "schema", "lower", "passes", "emit", "importer",
                       "runtime", "catalog"}  # fmt: skip


def test_no_module_is_over_800_lines():
    """A module a newcomer can read: the stages are split where they grew past this."""
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > 800}  # fmt: skip
    assert long == {}
