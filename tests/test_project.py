"""Project settings: the root a spec belongs to and ``[tool.modelspec]``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modelspec.check import check
from modelspec.source.project import Project, find_project, find_root

SPEC = (
    "modelspec: 1\nname: m\ninputs:\n  x: {shape: [4]}\nsequential:\n  - {type: Dense, units: 2}\n"
)


def _tree(tmp_path: Path, pyproject: str | None, *, repository: bool = True) -> Path:
    """``proj/specs/m.yaml``; ``proj`` is a git repository's root (``.git``) unless not
    ``repository``, with ``pyproject`` as its pyproject.toml."""
    (tmp_path / "proj" / "specs").mkdir(parents=True)
    if repository:
        (tmp_path / "proj" / ".git").mkdir()
    if pyproject is not None:
        (tmp_path / "proj" / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    spec = tmp_path / "proj" / "specs" / "m.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    return spec


def test_root_is_the_nearest_folder_with_pyproject_or_git(tmp_path):
    spec = _tree(tmp_path, "[project]\nname = 'p'\n", repository=False)
    assert find_root(spec) == (tmp_path / "proj").resolve()
    (tmp_path / "proj" / "specs" / ".git").mkdir()
    assert find_root(spec) == (tmp_path / "proj" / "specs").resolve()


def test_a_spec_outside_any_project_is_its_own_root(tmp_path):
    spec = _tree(tmp_path, None)
    # tmp_path has no marker above it up to / in a clean temp folder; if one exists
    # above, the root is that folder, which still holds the spec.
    root = find_root(spec)
    assert spec.resolve().is_relative_to(root)


def test_settings_are_read_and_widen_nothing_else(tmp_path):
    spec = _tree(
        tmp_path,
        '[tool.modelspec]\ninclude-paths = ["../shared"]\nallow-modules = ["mypkg.layers"]\n',
    )
    project = find_project(spec)
    assert project.diagnostics == ()
    assert project.include_paths == ((tmp_path / "shared").resolve(),)
    assert project.allows_module("mypkg.layers")
    assert project.allows_module("mypkg.layers.conv")
    assert not project.allows_module("mypkg")
    assert not project.allows_module("mypkg.layersx")
    assert project.allows_path(tmp_path / "shared" / "b.yaml")
    assert project.allows_path(spec)
    assert not project.allows_path(tmp_path / "elsewhere.yaml")


def test_a_link_out_of_the_root_is_outside_it(tmp_path):
    spec = _tree(tmp_path, "")
    outside = tmp_path / "secret.yaml"
    outside.write_text("x: 1\n", encoding="utf-8")
    link = spec.parent / "blocks.yaml"
    link.symlink_to(outside)
    assert not find_project(spec).allows_path(link)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tool.modelspec\n", "cannot read pyproject.toml"),
        ("[tool.modelspec]\nallow-module = ['x']\n", "unknown setting 'allow-module'"),
        ("[tool.modelspec]\ninclude-paths = 'x'\n", "must be a list of strings"),
        ("[tool.modelspec]\nallow-modules = ['os; rm']\n", "is not a module path"),
        ("[tool]\nmodelspec = 3\n", "must be a table"),
        ('[tool.modelspec]\ninclude-paths = ["a\\u0000b"]\n', "holds a NUL character"),
    ],
)
def test_a_broken_setting_is_a_warning_and_is_ignored(tmp_path, text, message):
    spec = _tree(tmp_path, text)
    project = find_project(spec)
    assert [d.code for d in project.diagnostics] == ["MS020"]
    assert message in project.diagnostics[0].message
    assert not project.diagnostics[0].is_error
    assert project.allow_modules == () and project.include_paths == ()
    result = check(spec)
    assert result.ok and [d.code for d in result.diagnostics] == ["MS020"]
    assert result.diagnostics[0].file.endswith("pyproject.toml")


def test_widened_adds_and_refuses_a_non_module(tmp_path):
    project = Project(tmp_path.resolve())
    wide = project.widened(include_paths=(tmp_path / "a",), allow_modules=("pkg.mod",))
    assert wide.allows_module("pkg.mod") and wide.allows_path(tmp_path / "a" / "x")
    with pytest.raises(ValueError):
        project.widened(allow_modules=("import os",))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelspec.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_lint_reports_a_broken_setting_once(tmp_path):
    spec = _tree(tmp_path, "[tool.modelspec]\nallow-module = ['x']\n")
    (spec.parent / "n.yaml").write_text(SPEC, encoding="utf-8")
    run = _cli("lint", "specs", cwd=tmp_path / "proj")
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("MS020") == 1
    assert "2 files checked: 0 errors, 1 warning" in run.stderr


def test_allow_module_must_be_a_module_path(tmp_path):
    _tree(tmp_path, "")
    run = _cli("summary", "specs/m.yaml", "--allow-module", "os;x", cwd=tmp_path / "proj")
    assert run.returncode == 2
    assert "--allow-module: not a module path: 'os;x'" in run.stderr
    assert "Traceback" not in run.stderr


# --- which settings file is trusted (NOTE: [trusted settings]) ------------------------------

WIDE = '[tool.modelspec]\nallow-modules = ["evil"]\ninclude-paths = ["/"]\n'


def test_a_pyproject_beside_the_spec_widens_nothing_and_says_so(tmp_path):
    """A pull request can add specs/pyproject.toml next to its spec: it makes that folder
    the root (narrower), and its settings are not read."""
    spec = _tree(tmp_path, "[tool.modelspec]\nallow-modules = ['mypkg.layers']\n")
    nested = spec.parent / "pyproject.toml"
    nested.write_text(WIDE, encoding="utf-8")
    project = find_project(spec)
    assert project.root == spec.parent.resolve()  # narrower, never wider
    assert project.allow_modules == ("mypkg.layers",)  # the repository root's
    assert project.config == (tmp_path / "proj" / "pyproject.toml").resolve()
    assert not project.allows_module("evil") and not project.allows_path("/etc/passwd")
    ((code, file, message),) = [(d.code, d.file, d.message) for d in project.diagnostics]
    assert code == "MS021" and file == str(nested.resolve())
    assert "are not read: only the repository root's pyproject.toml (or --config FILE)" in message


def test_outside_a_repository_no_pyproject_is_trusted(tmp_path):
    spec = _tree(tmp_path, WIDE, repository=False)
    project = find_project(spec)
    assert project.allow_modules == () and project.include_paths == ()
    assert [d.code for d in project.diagnostics] == ["MS021"]
    assert (
        "in no git repository, so only --config FILE gives settings"
        in project.diagnostics[0].message
    )
    # A pyproject.toml that says nothing of modelspec is no news.
    (tmp_path / "proj" / "pyproject.toml").write_text("[project]\nname = 'modelspec-user'\n")
    assert find_project(spec).diagnostics == ()


def test_config_names_the_one_file_read(tmp_path):
    spec = _tree(tmp_path, WIDE)
    chosen = tmp_path / "ci.toml"
    chosen.write_text('[tool.modelspec]\nallow-modules = ["mypkg.layers"]\n', encoding="utf-8")
    project = find_project(spec, config=chosen)
    assert project.allow_modules == ("mypkg.layers",) and project.config == chosen
    # The repository root's file is not read when --config says otherwise.
    assert [d.code for d in project.diagnostics] == ["MS021"]


def test_a_pyproject_linked_out_of_the_repository_is_not_read(tmp_path):
    outside = tmp_path / "outside.toml"
    outside.write_text(WIDE, encoding="utf-8")
    spec = _tree(tmp_path, None)
    (tmp_path / "proj" / "pyproject.toml").symlink_to(outside)
    project = find_project(spec)
    assert project.allow_modules == ()
    assert [d.code for d in project.diagnostics] == ["MS020"]
    assert "symbolic link out of its repository" in project.diagnostics[0].message


def test_a_deeply_nested_pyproject_is_a_warning_not_a_crash(tmp_path):
    deep = "[tool.modelspec]\nallow-modules = " + "[" * 50_000 + "]" * 50_000 + "\n"
    spec = _tree(tmp_path, deep)
    project = find_project(spec)
    assert [d.code for d in project.diagnostics] == ["MS020"] and project.allow_modules == ()
    run = _cli("lint", "specs/m.yaml", cwd=tmp_path / "proj")
    assert run.returncode == 0 and "Traceback" not in run.stderr and "MS020" in run.stderr


def test_cli_config_and_nested_settings(tmp_path):
    spec = _tree(tmp_path, None)
    (spec.parent / "pyproject.toml").write_text(WIDE, encoding="utf-8")
    (spec.parent / "n.yaml").write_text(SPEC, encoding="utf-8")
    run = _cli("lint", "specs", cwd=tmp_path / "proj")
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("warning MS021") == 1  # once, not once per spec
    assert "2 files checked: 0 errors, 1 warning" in run.stderr
    missing = _cli("lint", "specs", "--config", "nowhere.toml", cwd=tmp_path / "proj")
    assert missing.returncode == 2 and "nowhere.toml" in missing.stderr
    assert "Traceback" not in missing.stderr
