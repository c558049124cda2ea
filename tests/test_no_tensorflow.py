"""``lint`` and ``summary`` run without TensorFlow, Keras or NumPy.

Each command runs in a fresh interpreter (the venv's, ``sys.executable``) through
a small wrapper that calls ``modelspec.cli.main`` and then reports which heavy
modules ended up in ``sys.modules``: an import anywhere in the pipeline, even an
unused one, shows up here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "keras", "numpy", "jax", "torch")
MARK = "MODULES-LOADED:"

WRAPPER = f"""
import json
import sys
from modelspec.cli import main

sys.argv = ["modelspec", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
sys.stdout.flush()
print({MARK!r} + json.dumps(heavy), file=sys.stderr)
sys.exit(code)
"""


def run_cli(*args: str) -> tuple[int, str, list[str]]:
    """``(exit code, stdout, heavy modules imported)`` of ``modelspec *args``."""
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith(MARK)]
    assert lines, f"the wrapper did not report; stderr:\n{proc.stderr}"
    heavy = json.loads(lines[-1].removeprefix(MARK))
    return proc.returncode, proc.stdout, heavy


@pytest.mark.parametrize(
    "args",
    [
        ("lint", "specs/"),
        ("lint", "--format", "json", "specs/"),
        ("summary", "--format", "json", "specs/seed_000_shared_tower.yaml"),
        ("summary", "specs/seed_004_branches.yaml"),
    ],
    ids=" ".join,
)
def test_cli_imports_no_tensorflow_keras_or_numpy(args):
    code, stdout, heavy = run_cli(*args)
    assert code == 0, stdout
    assert heavy == [], f"`modelspec {' '.join(args)}` imported {heavy}"


def test_summary_json_is_the_real_output():
    """The wrapper really ran the command: its JSON is the seed's summary."""
    code, stdout, _ = run_cli("summary", "--format", "json", "specs/seed_000_shared_tower.yaml")
    assert code == 0
    data = json.loads(stdout)
    assert data["name"] == "shared_tower"
    assert data["total_params"] == 50_141_405
