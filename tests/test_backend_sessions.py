"""The Keras tests of the API, weights, equiv, build and import, on JAX and PyTorch.

The suite runs on one backend (TensorFlow: ``conftest.py``), and Keras takes its backend
once per process. So for each other installed backend, the ``keras``-marked tests of
these files run again in a pytest of their own, with ``KERAS_BACKEND`` set: a per-backend
session. A test that a backend cannot run skips there with the reason (string inputs
off TensorFlow, for one). ``tests/test_backends.py`` runs ``train`` and the other
commands on each backend through the command line.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = [
    "tests/test_build.py",  # build_model(), to_keras(), the generated module
    "tests/test_weights.py",  # weights by name, from .keras and .weights.h5
    "tests/test_equiv.py",  # every form of a spec, the same model
    "tests/test_import.py",  # .keras and Keras configs back into specs
    "tests/test_nested.py",  # nested models
]


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(b, marks=pytest.mark.skipif(
            importlib.util.find_spec(b) is None, reason=f"{b} is not installed here"))
        for b in ("jax", "torch")
    ],
)  # fmt: skip
def test_the_keras_tests_pass_on_the_backend(backend: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["KERAS_BACKEND"] = backend
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "keras", "-p", "no:cacheprovider",
         "--basetemp", str(tmp_path / "t"), "-W", "ignore", *FILES],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000, check=False,
    )  # fmt: skip
    tail = "\n".join(proc.stdout.splitlines()[-40:])
    assert proc.returncode == 0, f"on {backend}:\n{tail}\n{proc.stderr[-2000:]}"
    assert " passed" in proc.stdout.splitlines()[-1], tail
