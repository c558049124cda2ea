"""Very deep specs: Keras cannot build a chain of about 990 layers at Python's default
recursion limit (keras-team/keras#15596), and modelspec must still build one of 3,000.

A plan deeper than ``DEEP_CALLS`` carries the recursion limit its build needs; the
generated ``build_model()`` and the direct build raise Python's limit to it while the
model is built, and put it back afterwards (the note on deep models in
``modelspec/lower/plan.py``). The Keras tests build a 3,000-layer Dense chain twice, once
per form and once per target: each build takes a while on two cores.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import modelspec
from benchmarks.specgen import dense_chain
from modelspec.check import check, check_text
from modelspec.emit.summary import summary_json
from modelspec.lower.plan import DEEP_CALLS, plan
from modelspec.runtime.instantiate import recursion_limit
from tests.test_no_tensorflow import run_cli

ROOT = Path(__file__).resolve().parent.parent


def _plan(n_layers: int, units: int = 8):
    result = check_text(dense_chain(n_layers, units=units), f"chain_{n_layers}.yaml")
    assert result.ok, result.diagnostics[:3]
    return plan(result)


def _load(tmp_path: Path, n_layers: int, units: int = 8) -> Any:
    path = tmp_path / f"chain_{n_layers}.yaml"
    path.write_text(dense_chain(n_layers, units=units), encoding="utf-8")
    return modelspec.load(path)


# --- without TensorFlow ----------------------------------------------------------------------


def test_only_deep_plans_raise_the_recursion_limit():
    assert _plan(DEEP_CALLS).recursion_limit is None
    assert _plan(DEEP_CALLS + 1).recursion_limit == 3_000  # 2,000 of headroom, rounded up
    assert _plan(3_000).recursion_limit == 6_000


def test_small_models_are_written_as_before():
    text = modelspec.load(ROOT / "specs" / "seed_001_mlp.yaml").to_python()
    assert "import sys" not in text and "recursionlimit" not in text


@pytest.mark.parametrize("form", ["functional", "sequential"])
def test_a_deep_module_raises_the_limit_only_while_it_builds(tmp_path: Path, form):
    text = _load(tmp_path, 600).to_python(form)
    assert "\nimport sys\n\nimport keras\n" in text
    assert (
        "    limit = sys.getrecursionlimit()\n"
        "    sys.setrecursionlimit(max(limit, 3_000))\n"
        "    try:\n"
        "        return _build_model(weights, weights_map, skip_mismatch)\n"
        "    finally:\n"
        "        sys.setrecursionlimit(limit)\n"
        "\n\n"
        "def _build_model(\n"
    ) in text
    tree = ast.parse(text)
    assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == [
        "build_model",
        "_build_model",
    ]
    out = tmp_path / f"deep_{form}.py"
    out.write_text(text, encoding="utf-8")
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if Path(ruff).exists():
        for args in (["check", "--isolated"], ["format", "--isolated", "--check"]):
            proc = subprocess.run([ruff, *args, str(out)], capture_output=True, text=True)
            assert proc.returncode == 0, proc.stdout + proc.stderr


def test_recursion_limit_is_restored_even_on_failure():
    before = sys.getrecursionlimit()
    with recursion_limit(before + 5_000):
        assert sys.getrecursionlimit() == before + 5_000
    assert sys.getrecursionlimit() == before
    with pytest.raises(ValueError), recursion_limit(before + 5_000):
        raise ValueError("the build failed")
    assert sys.getrecursionlimit() == before
    with recursion_limit(None), recursion_limit(10):  # never lowered
        assert sys.getrecursionlimit() == before


def test_a_10000_layer_spec_is_checked_counted_and_written_without_tensorflow(tmp_path: Path):
    spec = tmp_path / "chain_10000.yaml"
    spec.write_text(dense_chain(10_000, units=8), encoding="utf-8")
    result = check(spec)
    assert result.ok and not result.diagnostics
    counted = summary_json(result)
    assert len(counted["layers"]) == 10_000
    assert counted["total_params"] == 9_999 * (8 * 8 + 8) + (8 * 10 + 10)
    out = tmp_path / "chain_10000.py"
    code, _, heavy = run_cli("build", str(spec), "-o", str(out))
    assert (code, heavy) == (0, [])
    text = out.read_text(encoding="utf-8")
    assert "sys.setrecursionlimit(max(limit, 13_000))" in text
    assert text.count("keras.layers.Dense(") == 10_000


# --- with Keras: chains past Keras's limit -----------------------------------------------------
# Building costs about 8 ms a layer on two cores (Keras creating variables; linear), so
# the full 3,000 layers are built once, by the generated module, and the direct build
# takes 1,500 layers, past the ~990 where Keras alone fails.


def _check_deep_model(model: Any, n_layers: int, form: str, limit_before: int) -> None:
    import keras
    import numpy as np

    assert sys.getrecursionlimit() == limit_before  # put back after the build
    assert isinstance(model, keras.Sequential) == (form == "sequential")
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(dense) == n_layers
    assert model.count_params() == (n_layers - 1) * (8 * 8 + 8) + (8 * 10 + 10)
    # The model runs (eagerly) at the default limit: building is what recurses.
    out = model(np.ones((2, 8), "float32"))
    assert tuple(out.shape) == (2, 10)
    assert np.allclose(np.sum(out, axis=-1), 1.0, atol=1e-5)


@pytest.mark.keras
def test_a_3000_layer_chain_builds_from_the_generated_module(tmp_path: Path):
    import keras

    source = _load(tmp_path, 3_000).to_python("functional")
    namespace: dict[str, Any] = {"__name__": "deep_generated"}
    exec(compile(source, "<generated>", "exec"), namespace)
    keras.backend.clear_session()
    before = sys.getrecursionlimit()
    model = namespace["build_model"]()
    _check_deep_model(model, 3_000, "functional", before)


@pytest.mark.keras
def test_a_1500_layer_chain_builds_directly(tmp_path: Path):
    import keras

    loaded = _load(tmp_path, 1_500)
    keras.backend.clear_session()
    before = sys.getrecursionlimit()
    model = loaded.to_keras("sequential")
    _check_deep_model(model, 1_500, "sequential", before)
