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


# === one spec on several backends: equiv --across ================================================


def on(*names: str) -> object:
    """The backends ``names`` as one parameter, skipped where one is not installed."""
    missing = [PACKAGES[b] for b in names if not installed(b)]
    reason = f"{', '.join(missing)} not installed here"
    return pytest.param(list(names), id="-".join(names),
                        marks=pytest.mark.skipif(bool(missing), reason=reason))  # fmt: skip


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize("names", [on("tensorflow", "jax", "torch")])
def test_equiv_across_backends_gives_the_same_outputs_from_the_same_weights(
    names: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    work, scratch = tmp_path / "work", tmp_path / "tmp"
    work.mkdir(), scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # where the private folder goes
    proc = run("equiv", str(SPEC), "--across", ",".join(names), "-f", "json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["same_within_tolerance"] is True
    assert (report["backends"], report["reference"]) == (names, "tensorflow")
    assert (report["rtol"], report["atol"], report["seed"]) == (1e-5, 1e-6, 42)
    assert [(c["name"], c["same"]) for c in report["checks"]] == [
        ("parameters", True), ("initial weights", True), ("outputs", True)]  # fmt: skip
    assert report["parameters"] == {b: {"total": 337, "trainable": 337} for b in names}
    # Seed 42 draws other kernels on each backend; the biases start at zero everywhere.
    assert [(i["arrays"], i["different"]) for i in report["initial_weights"].values()] == [
        (6, 3), (6, 3)]  # fmt: skip
    assert all(i["max_abs_diff"] > 0.01 for i in report["initial_weights"].values())
    (out,) = report["outputs"]
    assert (out["name"], out["shape"], out["within_tolerance"]) == ("inside", [8, 1], True)
    assert sorted(out["max_abs_diff"]) == ["jax", "torch"]
    assert all(0 <= d <= 1e-6 for d in out["max_abs_diff"].values())
    assert "seed 42 draws other numbers on each backend" in report["checks"][1]["detail"]
    # Nothing written where it ran, nothing of modelspec's left in the temporary folder
    # (where PyTorch keeps a cache of its own, torchinductor_USER).
    assert list(work.iterdir()) == []
    assert [p.name for p in scratch.iterdir() if p.name.startswith("modelspec")] == []


@pytest.mark.keras
@pytest.mark.slow
@pytest.mark.parametrize("names", [on("jax", "torch")])
def test_equiv_across_a_conv_lstm_and_a_tolerance_too_tight_for_it(names, tmp_path: Path):
    spec = str(ROOT / "specs" / "seed_002_conv_lstm.yaml")
    proc = run("equiv", spec, "--across", ",".join(names), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == [
        "model 'conv_lstm': 2 backends, each in its own process: jax, torch",
        "  1. parameters       same       123,732 on every backend",
    ]
    assert lines[2] == (
        "  2. initial weights  loaded     jax's, loaded on every backend (seed 7 draws other "
        "numbers on each backend: their own differed, torch's in 7 of 12)"
    )
    assert lines[3] == (
        "  3. outputs          same       a batch of 8, in inference mode, within rtol 1e-05 "
        "and atol 1e-06"
    )
    label, diff = lines[4].rsplit(" ", 1)
    assert label == "       'next_step': max |difference| from jax's: torch"
    assert 0 < float(diff) < 1e-6, "two backends that agree to the bit prove nothing here"
    assert lines[5:] == [
        "verdict: the same model on jax and torch: given the same weights, every output "
        "agrees within rtol 1e-05 and atol 1e-06"
    ]
    # Tighter than the difference: different, exit 1, the output and the backend named.
    atol = f"{float(diff) / 4:g}"
    proc = run("equiv", spec, "--across", ",".join(names), "--rtol", "0", "--atol", atol,
               "-f", "json", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["same_within_tolerance"] is False
    outputs = report["checks"][2]
    assert (outputs["name"], outputs["same"], outputs["failed"]) == ("outputs", False, False)
    assert outputs["detail"].startswith(
        "a batch of 8, in inference mode: output 'next_step' on torch has a difference of up to "
    )
    assert outputs["detail"].endswith(f", more than rtol 0 and atol {atol} allow")
    assert report["outputs"][0]["within_tolerance"] is False
    assert report["hint"].startswith("each backend runs its own kernels")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_equiv_across_a_backend_that_is_not_installed_is_named_with_its_extra(backend, tmp_path):
    other = next(b for b in BACKENDS if b != backend)
    package = PACKAGES[backend]
    proc = run(package, "equiv", str(SPEC), "--across", f"{other},{backend}", cwd=tmp_path,
               script=BLOCKED)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"modelspec: error: Keras's {backend} backend needs the `{package}` package, "
        "which is not installed",
        f"    hint: pip install 'modelspec[{backend}]', or choose another backend with "
        "--backend or KERAS_BACKEND",
    ]
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []


def test_equiv_across_refuses_what_it_cannot_do_before_running_anything(tmp_path: Path):
    import inspect

    from modelspec import cli
    from modelspec.runtime.across import ATOL, RTOL

    refused = {
        ("--across", "tensorflow"): "--across needs two backends or more, comma-separated; "
        "got 'tensorflow'",
        ("--across", "tensorflow,numpy"): "--across: unknown backend 'numpy'; modelspec runs "
        "on tensorflow, jax, torch",
        ("--across", "jax,torch,jax"): "--across names jax twice",
        ("--across", "tensorflow,jax", "--backend", "jax"): "--across names its backends and "
        "trains nothing: no --backend",
        ("--across", "tensorflow,jax", "--steps", "3"): "--across names its backends and "
        "trains nothing: no --steps",
    }
    for args, message in refused.items():
        proc = run("equiv", str(SPEC), *args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.splitlines()[0] == f"modelspec: error: {message}"
    # A spec with errors: its diagnostics, exit 1, as equiv says them.
    (tmp_path / "bad.yaml").write_text(SPEC.read_text().replace("units: 16,", "units: -16,", 1))
    proc = run("equiv", "bad.yaml", "--across", "tensorflow,jax", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.startswith("bad.yaml:16:"), proc.stderr
    # Off TensorFlow, string inputs: at the spec's line, exit 2, nothing run.
    other = next((b for b in ("jax", "torch") if installed(b)), None)
    if other is not None:
        (tmp_path / "d.yaml").write_text(DISTRIBUTED)
        proc = run("equiv", "d.yaml", "--across", f"tensorflow,{other}", cwd=tmp_path)
        assert proc.returncode == 2 and proc.stdout == "", proc.stderr
        assert proc.stderr.startswith("d.yaml:4:29: error MS551: input 'text' has dtype string")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "d.yaml"][: 1 + bool(other)]
    defaults = inspect.signature(cli.equiv).parameters
    assert (defaults["rtol"].default, defaults["atol"].default) == (RTOL, ATOL)


def test_equiv_across_passes_on_what_a_backend_process_says_when_it_stops(tmp_path: Path):
    import modelspec
    from modelspec.runtime.across import BackendFailed, compare_across

    spec_file = tmp_path / "c.yaml"
    spec_file.write_text(SPEC.read_text())
    spec = modelspec.load(spec_file)
    # Broken after the command checked it: the first process stops, with the diagnostic.
    spec_file.write_text(SPEC.read_text().replace("units: 16,", "units: -16,", 1))
    with pytest.raises(BackendFailed) as info:
        compare_across(spec, str(spec_file), ["jax", "torch"])
    assert info.value.exit_code == 1
    assert info.value.text().startswith(f"{spec_file}:16:"), info.value.text()
    assert info.value.message == "the jax process stopped with exit code 1"
