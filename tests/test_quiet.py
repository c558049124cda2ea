"""TensorFlow starts quietly: ``train``, ``equiv`` and the API print none of its C++
start-up log (see NOTE: [quiet start-up] in modelspec/runtime/quiet.py), and nothing is
switched off to get there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from modelspec.runtime.quiet import drop_startup_log

ROOT = Path(__file__).resolve().parent.parent
# What TensorFlow 2.21 prints before its logging is set up, whatever TF_CPP_MIN_LOG_LEVEL.
STARTUP = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    b"I0000 00:00:1796407095.727048    3068 port.cc:153] oneDNN custom operations are on. "
    b"You may see slightly different numerical results due to floating-point round-off errors "
    b"from different computation orders. To turn them off, set the environment variable "
    b"`TF_ENABLE_ONEDNN_OPTS=0`.\n"
    b"W1204 17:54:38.217759    3125 cpu_feature_guard.cc:227] a warning\n"
)
_CPP_RECORD = re.compile(r"^[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] ", re.M)


def test_the_startup_records_are_dropped_and_the_rest_kept():
    error = b"E0000 00:00:1796407095.727048    3068 port.cc:9] a real error\n"
    python = b"/x/y.py:3: UserWarning: careful\n  warnings.warn('careful')\n"
    assert drop_startup_log(STARTUP) == b""
    assert drop_startup_log(STARTUP + error + python + STARTUP) == error + python
    # Only whole records at the start of a line: text that mentions one is kept.
    said = b"the log said: I0000 00:00:1.2 3 port.cc:153] x\n"
    assert drop_startup_log(said) == said


def _quiet_env() -> dict[str, str]:
    """Without the tests' own TF_CPP_MIN_LOG_LEVEL, and with oneDNN asked for by name,
    which makes TensorFlow 2.21 announce it on any processor."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["TF_ENABLE_ONEDNN_OPTS"] = "1"
    return env


def _assert_quiet(stderr: str) -> None:
    assert "absl::InitializeLog" not in stderr, stderr[-2000:]
    assert not _CPP_RECORD.search(stderr), stderr[-2000:]


@pytest.mark.keras
def test_equiv_and_the_api_start_quietly_with_onednn_on(tmp_path: Path):
    pytest.importorskip("keras")
    equiv = subprocess.run(
        [sys.executable, "-m", "modelspec", "equiv", "specs/seed_001_mlp.yaml", "--steps", "1"],
        cwd=ROOT, env=_quiet_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert equiv.returncode == 0, equiv.stderr
    _assert_quiet(equiv.stderr)
    script = (
        "import os, modelspec\n"
        "model = modelspec.load('specs/seed_001_mlp.yaml').to_keras()\n"
        "print(model.count_params(), os.environ['TF_ENABLE_ONEDNN_OPTS'])\n"
    )
    api = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_quiet_env(),
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert api.returncode == 0, api.stderr
    _assert_quiet(api.stderr)
    # oneDNN stays as asked: the log is filtered, nothing is switched off.
    assert api.stdout.split()[1] == "1"


@pytest.mark.keras
def test_train_starts_quietly_with_onednn_on(tmp_path: Path):
    np = pytest.importorskip("numpy")
    pytest.importorskip("keras")
    (tmp_path / "s.yaml").write_text(
        "modelspec: 1\nname: tiny\nseed: 1\ninputs:\n  x: {shape: [4]}\n"
        "sequential: [{type: Dense, units: 1}]\noutputs:\n  y: {from: dense, loss: mse}\n"
        "compile: {optimizer: adam}\n",
        encoding="utf-8",
    )
    np.savez(tmp_path / "d.npz", x=np.zeros((8, 4), "float32"), y=np.zeros((8, 1), "float32"))
    proc = subprocess.run(
        [sys.executable, "-m", "modelspec", "train", "s.yaml", "--data", "d.npz"],
        cwd=tmp_path, env=_quiet_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    _assert_quiet(proc.stderr)
    assert proc.stderr.splitlines()[-1] == "saved tiny.keras"
