"""A wheel carries schemas/ and templates/ and works on its own, in a clean venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from modelspec.schema.editor import schema_text

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=600, **kw)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling")
    out = tmp_path_factory.mktemp("dist")
    # Build from a copy so the checkout stays untouched.
    src = tmp_path_factory.mktemp("src") / "modelspec"
    shutil.copytree(
        ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info")
    )
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            ".",
        ],
        src,
    )
    (whl,) = out.glob("modelspec-*.whl")
    return whl


def test_wheel_contains_schemas_and_templates(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    assert "modelspec/_data/schemas/modelspec.schema.json" in names
    assert "modelspec/_data/templates/README.md" in names
    for form in ("functional", "sequential"):
        assert f"modelspec/_data/templates/{form}.py.j2" in names
    assert not any(n.startswith(("tests/", "specs/")) for n in names)


def test_wheel_in_a_fresh_venv_lints_and_builds_an_example(wheel: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    _run([str(bindir / "python"), "-m", "pip", "install", "-q", str(wheel)], tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "specs" / "seed_004_branches.yaml", work / "spec.yaml")
    lint = _run([str(bindir / "modelspec"), "lint", "spec.yaml"], work)
    assert "1 file checked: clean" in lint.stderr
    where = _run([str(bindir / "modelspec"), "schema", "--path"], work).stdout.strip()
    assert Path(where).is_relative_to(venv)
    assert Path(where).read_text(encoding="utf-8") == schema_text()
    # `build` renders the packaged templates, without TensorFlow in the venv.
    build = _run([str(bindir / "modelspec"), "build", "spec.yaml", "-o", "model.py"], work)
    assert "wrote model.py" in build.stderr
    import modelspec

    text = (work / "model.py").read_text(encoding="utf-8")
    assert text == modelspec.load(work / "spec.yaml").to_python()
