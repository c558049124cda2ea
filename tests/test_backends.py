"""Every command on every Keras backend: TensorFlow, JAX and PyTorch.

Each backend whose package this interpreter has (Keras too) trains
``specs/example_circles.yaml`` through the real command line, in a new process:
``train`` saves a ``.keras`` file, ``equiv`` proves the builds identical, ``import``
reads the file back into a spec that lints clean, and ``build_model(weights=...)``
starts from its weights. A backend that is not installed is skipped, with the reason.
Run the file in an environment with each (``KERAS_BACKEND`` names the one the rest of
the suite runs on):

    KERAS_BACKEND=jax python -m pytest tests/test_backends.py

Without a backend's package, every command that needs Keras exits 2 and names the
extra to install; these tests make that so whatever is installed (the package is
blocked in the process that runs the command). What only TensorFlow gives (a
``tf.distribute`` strategy, string inputs) is refused on the others, at the spec's
line (MS550, MS551).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modelspec.check import check_text
from modelspec.runtime import backend as backends
from modelspec.runtime.backend import BACKENDS, PACKAGES, BackendError, choose, configured

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "example_circles.yaml"
DATA = ROOT / "specs" / "data" / "circles.npz"


def installed(backend: str) -> bool:
    return all(importlib.util.find_spec(p) is not None for p in ("keras", PACKAGES[backend]))


EACH = [
    pytest.param(
        b, marks=pytest.mark.skipif(not installed(b), reason=f"{PACKAGES[b]} is not installed here")
    )
    for b in BACKENDS
]
# The command line, with the package of a backend blocked: `import jax` fails, and
# importlib finds no jax (a None entry in sys.modules), as if it were not installed.
BLOCKED = """
import sys
sys.modules[sys.argv.pop(1)] = None
from modelspec.cli import main
sys.argv = ["modelspec", *sys.argv[1:]]
main()
"""


def run(*args: str, cwd: Path, backend: str | None = None, script: str | None = None,
        timeout: int = 300) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """``modelspec *args`` in a new process, with ``KERAS_BACKEND=backend`` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MODELSPEC_DEBUG", "KERAS_BACKEND")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    command = [sys.executable, *(["-c", script] if script else ["-m", "modelspec"]), *args]
    return subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout, check=False
    )


@pytest.fixture(scope="module", params=EACH)
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """``(backend, folder, model)``: the example trained for one epoch on ``backend``,
    chosen with --backend (KERAS_BACKEND unset)."""
    backend = request.param
    folder = tmp_path_factory.mktemp(f"circles-{backend}")
    proc = run("train", str(SPEC), "--data", str(DATA), "--epochs", "1", "--backend", backend,
               "-o", "circles.keras", cwd=folder)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0] == f"training on the {backend} backend", proc.stderr
    assert proc.stderr.splitlines()[-1] == "saved circles.keras"
    assert [line.split(": ")[0] for line in proc.stdout.splitlines()[-4:]] == [
        "accuracy", "loss", "val_accuracy", "val_loss"]  # fmt: skip
    return backend, folder, folder / "circles.keras"


@pytest.mark.keras
@pytest.mark.slow
def test_train_saves_a_model_keras_reloads_on_its_backend(trained):
    backend, folder, model = trained
    check = f"""
import keras
model = keras.saving.load_model({str(model)!r})
print(keras.config.backend(), model.name, model.count_params(), type(model.optimizer).__name__)
"""
    proc = run(cwd=folder, backend=backend, script=check)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [backend, "circles", "337", "Adam"]


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize("backend", EACH)
def test_equiv_proves_every_build_identical(backend: str, tmp_path: Path):
    proc = run("equiv", str(SPEC), "--format", "json", cwd=tmp_path, backend=backend)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["identical"] and len(report["builds"]) == 4
    assert [c["name"] for c in report["checks"] if c["same"]] == [
        "parameters", "initial weights", "outputs", "after 3 steps"]  # fmt: skip


@pytest.mark.keras
@pytest.mark.slow
def test_import_reads_the_model_back_into_a_spec_that_lints_clean(trained):
    backend, folder, model = trained
    proc = run("import", str(model), "-o", "imported.yaml", cwd=folder, backend=backend)
    assert proc.returncode == 0, proc.stderr
    text = (folder / "imported.yaml").read_text()
    # PyTorch saves the optimizer under its own class: read as the public one.
    assert "  optimizer: {type: Adam, learning_rate: 0.01}\n" in text
    proc = run("lint", "imported.yaml", cwd=folder)
    assert (proc.returncode, proc.stderr) == (0, "1 file checked: clean\n")
    summaries = [
        json.loads(run("summary", "-f", "json", str(s), cwd=folder).stdout)
        for s in (SPEC, folder / "imported.yaml")
    ]
    assert summaries[0]["total_params"] == summaries[1]["total_params"] == 337
    assert [layer["type"] for layer in summaries[1]["layers"]] == ["Dense"] * 3


@pytest.mark.keras
@pytest.mark.slow
def test_build_model_starts_from_the_trained_weights(trained):
    backend, folder, model = trained
    check = f"""
import keras, numpy as np
import modelspec
saved = keras.saving.load_model({str(model)!r})
loaded = modelspec.build_model({str(SPEC)!r}, weights={str(model)!r})
fresh = modelspec.build_model({str(SPEC)!r})
arrays = lambda m: [keras.ops.convert_to_numpy(w) for w in m.weights]
print(all(np.array_equal(a, b) for a, b in zip(arrays(loaded), arrays(saved))),
      any(not np.array_equal(a, b) for a, b in zip(arrays(fresh), arrays(saved))))
"""
    proc = run(cwd=folder, backend=backend, script=check)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]  # the file's weights, not the spec's seed's


NORMALIZED = """\
modelspec: 1
name: norm
seed: 3
inputs:
  x: {shape: [3]}
sequential:
  - {type: Normalization, mean: adapt, variance: adapt}
  - {type: Dense, units: 1}
outputs:
  y: {loss: mse}
"""


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize("backend", EACH)
def test_adapt_learns_from_numpy_arrays(backend: str, tmp_path: Path):
    import numpy as np

    (tmp_path / "norm.yaml").write_text(NORMALIZED)
    x = np.arange(48, dtype="float32").reshape(16, 3)
    np.savez(tmp_path / "d.npz", x=x, y=np.zeros((16, 1), dtype="float32"))
    proc = run("train", "norm.yaml", "--data", "d.npz", "--validation-split", "0.25",
               cwd=tmp_path, backend=backend)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[:3] == [
        f"training on the {backend} backend",
        "adapting 'normalization' (Normalization) on input 'x': 12 samples",
        "  'normalization' learned a mean and a variance of shape (3,)",
    ]
    check = """
import keras
layer = keras.saving.load_model("norm.keras").layers[0]
print(*keras.ops.convert_to_numpy(layer.mean).ravel())
"""
    proc = run(cwd=tmp_path, backend=backend, script=check)
    # The 12 samples fit trains on, not the 4 kept for validation: 0, 3, ... 33 (+1, +2).
    assert proc.stdout.split() == ["16.5", "17.5", "18.5"], proc.stderr


# === a backend that is not installed =======================================================


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_backend_that_is_not_installed_is_named_with_its_extra(backend: str, tmp_path: Path):
    hint = f"    hint: pip install 'modelspec[{backend}]', or choose another backend"
    package = PACKAGES[backend]
    for args in (["train", str(SPEC), "--data", str(DATA)], ["equiv", str(SPEC)]):
        proc = run(package, *args, "--backend", backend, cwd=tmp_path, script=BLOCKED)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines() == [
            f"modelspec: error: Keras's {backend} backend needs the `{package}` package, "
            "which is not installed",
            hint + " with --backend or KERAS_BACKEND",
        ]
    assert list(tmp_path.iterdir()) == []  # nothing trained, nothing saved
    # KERAS_BACKEND names it too; lint never needs it.
    proc = run(package, "equiv", str(SPEC), cwd=tmp_path, backend=backend, script=BLOCKED)
    assert proc.returncode == 2 and hint in proc.stderr, proc.stderr
    proc = run(package, "lint", "--backend", backend, str(SPEC), cwd=tmp_path, script=BLOCKED)
    assert (proc.returncode, proc.stderr) == (0, "1 file checked: clean\n")
    # The API: an ImportError that says the same.
    api = f"""
import sys
sys.modules[{package!r}] = None
import modelspec
try:
    modelspec.build_model({str(SPEC)!r})
except ImportError as exc:
    print(type(exc).__name__, exc)
"""
    proc = run(cwd=tmp_path, backend=backend, script=api)
    assert proc.stdout.startswith(f"BackendUnavailable Keras's {backend} backend needs"), proc
    assert f"pip install 'modelspec[{backend}]'" in proc.stdout


def test_without_keras_every_backend_names_its_extra(tmp_path: Path):
    proc = run("keras", "equiv", str(SPEC), "--backend", "torch", cwd=tmp_path, script=BLOCKED)
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "modelspec: error: Keras is not installed (to run on the torch backend)\n"
        "    hint: pip install 'modelspec[torch]'"
    ), proc.stderr


def test_an_unknown_backend_is_a_usage_error(tmp_path: Path):
    proc = run("equiv", str(SPEC), "--backend", "numpy", cwd=tmp_path)
    assert proc.returncode == 2 and "'numpy' is not one of" in proc.stderr, proc.stderr


# === what the backend is ===================================================================


def test_the_backend_is_keras_backend_else_keras_json_else_tensorflow(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "keras", raising=False)  # as if not imported yet
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_BACKEND")
    assert configured() == "tensorflow"
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "torch", "floatx": "float32"}))
    assert configured() == "torch"
    monkeypatch.setenv("KERAS_BACKEND", "")  # Keras ignores an empty value
    assert configured() == "torch"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert configured() == "jax"
    choose("tensorflow")  # what --backend does
    assert os.environ["KERAS_BACKEND"] == configured() == "tensorflow"


def test_the_backend_cannot_change_once_keras_is_loaded(monkeypatch):
    class Keras:  # what choose() reads of a loaded Keras
        class config:
            @staticmethod
            def backend() -> str:
                return "tensorflow"

    monkeypatch.setitem(sys.modules, "keras", Keras)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    choose("tensorflow")  # the same one: nothing to change
    with pytest.raises(BackendError, match="already loaded on the tensorflow backend") as info:
        choose("jax")
    assert info.value.hint == "run the command in a new process"
    assert os.environ["KERAS_BACKEND"] == "tensorflow"
    with pytest.raises(BackendError, match="unknown backend 'numpy'"):
        choose("numpy")


# === what only TensorFlow gives ===============================================================

DISTRIBUTED = """\
modelspec: 1
name: d
inputs:
  text: {shape: [1], dtype: string}
sequential:
  - {type: StringLookup, vocabulary: [a, b]}
  - {type: Dense, units: 1}
outputs:
  y: {loss: mse}
distribution: {strategy: mirrored}
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_ms550_ms551_a_strategy_and_string_inputs_need_tensorflow(backend: str):
    result = check_text(DISTRIBUTED, "d.yaml")
    assert result.ok, result.diagnostics
    problems = backends.unsupported(result, backend)
    assert [(d.code, d.line, d.col) for d in problems] == [("MS550", 10, 26), ("MS551", 4, 29)]
    assert problems[0].message == (
        "`distribution.strategy: mirrored` is a tf.distribute strategy, which needs Keras's "
        f"TensorFlow backend; this run is on {backend}"
    )
    assert problems[1].message.startswith("input 'text' has dtype string, which only Keras's")
    # --strategy overrides the spec's: only the input is left.
    assert [d.code for d in backends.unsupported(result, backend, strategy=False)] == ["MS551"]
    assert backends.unsupported(result, "tensorflow") == []


@pytest.mark.parametrize("backend", [b for b in ("jax", "torch") if installed(b)] or [
    pytest.param("jax", marks=pytest.mark.skip(reason="neither jax nor torch is installed here"))
])  # fmt: skip
def test_train_refuses_what_only_tensorflow_gives_before_reading_the_data(backend, tmp_path):
    (tmp_path / "d.yaml").write_text(DISTRIBUTED)
    proc = run("train", "d.yaml", "--data", "missing.npz", cwd=tmp_path, backend=backend)
    assert proc.returncode == 2, proc.stderr
    assert [line.split(": ")[1] for line in proc.stderr.splitlines() if ": error" in line] == [
        "error MS550", "error MS551"]  # fmt: skip
    proc = run("train", "d.yaml", "--data", "missing.npz", "--strategy", "mirrored",
               cwd=tmp_path, backend=backend)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "modelspec: error: --strategy mirrored is a tf.distribute strategy, which needs "
        f"Keras's TensorFlow backend; this run is on {backend}\n"
    ), proc.stderr
    proc = run("equiv", "d.yaml", cwd=tmp_path, backend=backend)
    assert proc.returncode == 2 and "error MS551" in proc.stderr and "MS550" not in proc.stderr
    # A layer Keras makes only with TensorFlow, from Keras's own words.
    (tmp_path / "h.yaml").write_text(
        textwrap.dedent("""\
        modelspec: 1
        name: h
        inputs:
          ids: {shape: [1], dtype: int64}
        sequential:
          - {type: Hashing, num_bins: 4}
          - {type: Embedding, input_dim: 4, output_dim: 2}
        outputs:
          y: {loss: mse}
    """)
    )
    if importlib.util.find_spec("tensorflow") is None:
        proc = run("equiv", "h.yaml", cwd=tmp_path, backend=backend)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(
            f"modelspec: error: Keras cannot build or train this model on the {backend} "
            "backend: Layer Hashing requires TensorFlow."
        ), proc.stderr
