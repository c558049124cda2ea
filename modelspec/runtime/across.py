"""``modelspec equiv --across``: one spec, the same model on several Keras backends.

A process holds one Keras backend (Keras reads it when first imported), and each
backend draws its own numbers from a seed: one spec's ``seed:`` gives other initial
weights on TensorFlow, JAX and PyTorch. So :func:`compare_across` runs each backend in
a process of its own (:func:`child`, with ``KERAS_BACKEND`` set), which works in a
private temporary folder, removed at the end whatever happens:

1. the first backend builds the spec as ``build_model()`` does, saves its weights
   (``reference.weights.h5``), and runs one seeded batch, made as ``equiv`` makes its
   own (:func:`~modelspec.runtime.equiv.sample_inputs`), through it in inference mode;
   it saves the batch and the outputs;
2. every other backend builds the spec, notes how its own initial weights differ
   from the first's, loads the first's by layer name (as ``build_model(weights=...)``
   does: :func:`~modelspec.runtime.weights.load_weights_by_name`), and runs the same
   batch;
3. this process compares: the parameter counts are equal, and each output is within
   the tolerance of the first backend's (as :func:`numpy.allclose`:
   ``|x - first| <= atol + rtol * |first|``).

Example::

    >>> report = compare_across(spec, "spec.yaml", ["tensorflow", "jax"])  # doctest: +SKIP
    >>> report.exit_code                                                  # doctest: +SKIP
    0

# NOTE: [tolerance across backends]
Given the same weights and inputs, backends still differ in the last bits of an
output. Each runs its own kernels (Eigen and oneDNN for TensorFlow, XLA for JAX, ATen
for PyTorch), which add float32 products in their own order and fuse operations their
own way, and float32 addition is not associative: each rounding is off by up to 2**-24
(6e-8) of the value, and a layer adds hundreds of products. The defaults, ``rtol``
1e-5 and ``atol`` 1e-6 (for outputs near zero, where a relative bound says nothing),
leave room for that through a model of ordinary depth, and stay far below what a
different model gives: a weight in the wrong place, another activation or layer order
moves outputs by 1e-2 or more. A model that computes in float16 or bfloat16 rounds at
1e-3 or 1e-2, and needs a tolerance to match.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modelspec.errors import printable
from modelspec.runtime.backend import BACKENDS, BackendError
from modelspec.runtime.equiv import Check

RTOL, ATOL = 1e-5, 1e-6  # see NOTE: [tolerance across backends]
DATA_SEED = 0  # of the batch, as `equiv`'s
WEIGHTS, INPUTS = "reference.weights.h5", "inputs.npz"

# A backend's process: `-c` code puts the current folder first on the import path,
# where a stray keras.py of the user's would stand in for Keras, so it goes; the
# folder this modelspec comes from goes last, for a checkout run in place.
CHILD = (
    "import sys\n"
    "if sys.path[:1] == ['']: del sys.path[0]\n"
    "sys.path.append(sys.argv.pop(1))\n"
    "from modelspec.runtime.across import child\n"
    "sys.exit(child(sys.argv[1]))\n"
)


class BackendFailed(BackendError):
    """A backend's process stopped before it gave its outputs: what it said on stderr
    (already as the command line says it), and its exit code, passed on."""

    def __init__(self, backend: str, code: int, stderr: str):
        self.exit_code, self.stderr = code, stderr.rstrip("\n")
        super().__init__(f"the {backend} process stopped with exit code {code}")

    def text(self) -> str:
        return self.stderr or f"modelspec: error: {self.message}"


def backends_of(text: str) -> list[str]:
    """``"tensorflow,jax"`` -> ``["tensorflow", "jax"]``: two backends or more, each once."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    for i, name in enumerate(names):
        if name not in BACKENDS:
            raise BackendError(
                f"--across: unknown backend {name!r}; modelspec runs on {', '.join(BACKENDS)}"
            )
        if name in names[:i]:
            raise BackendError(f"--across names {name} twice")
    if len(names) < 2:
        raise BackendError(
            f"--across needs two backends or more, comma-separated; got {text!r}",
            "e.g. --across tensorflow,jax; --backend runs `equiv` on one",
        )
    return names


@dataclass(frozen=True)
class Settings:
    """What the command line adds to the spec's project; each process checks the spec
    with them, as the command did."""

    include_paths: tuple[str, ...] = ()
    allow_modules: tuple[str, ...] = ()
    config: str | None = None
    ask_keras: bool = False

    @classmethod
    def of(cls, include_paths: Any, allow_modules: Any, config: Any, ask_keras: bool) -> Settings:
        """From the command line's options (paths, or None)."""
        return cls(tuple(map(str, include_paths or ())), tuple(allow_modules or ()),
                   None if config is None else str(config), ask_keras)  # fmt: skip


@dataclass
class Report:
    """What :func:`compare_across` found: the checks in order, up to the first that
    fails, and the numbers behind them."""

    spec: str
    backends: list[str]
    rtol: float
    atol: float
    batch_size: int
    seed: int | None
    checks: list[Check] = field(default_factory=list)
    params: dict[str, tuple[int, int]] = field(default_factory=dict)  # total, trainable
    # Each other backend's own initial weights against the first's: arrays, how many
    # differ, the largest difference.
    initial: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    hint: str | None = None

    @property
    def same(self) -> bool:
        """Equal parameter counts, and every output within the tolerance."""
        return len(self.checks) == 3 and all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.same else 1

    @property
    def tolerance(self) -> str:
        return f"rtol {self.rtol:g} and atol {self.atol:g}"

    def text(self) -> str:
        name = printable(self.spec)  # free text: it cannot forge lines in a CI log
        lines = [
            f"model '{name}': {len(self.backends)} backends, each in its own process: "
            + ", ".join(self.backends)
        ]
        for i, c in enumerate(self.checks, 1):
            status = "same" if c.ok else "FAILED" if c.failed else "DIFFERENT"
            if c.ok and c.name == "initial weights":
                status = "loaded"
            lines.append(f"  {i}. {c.name:<16} {status:<9}  {c.detail}")
            if c.name == "outputs":
                ref = self.backends[0]
                for row in self.outputs:
                    diffs = ", ".join(f"{b} {_num(d)}" for b, d in row["max_abs_diff"].items())
                    lines.append(f"       '{row['name']}': max |difference| from {ref}'s: {diffs}")
        if self.same:
            lines.append(
                f"verdict: the same model on {_and(self.backends)}: given the same weights, "
                f"every output agrees within {self.tolerance}"
            )
        elif self.checks:
            n, failed = next((i, c) for i, c in enumerate(self.checks, 1) if not c.ok)
            if failed.failed:
                lines.append(f"verdict: not proven: check {n} ({failed.name}) could not run")
            else:
                lines.append(f"verdict: different, from check {n} ({failed.name}) on")
            if self.hint:
                lines.append(f"hint: {self.hint}")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "backends": self.backends,
            "reference": self.backends[0],
            "same_within_tolerance": self.same,
            "rtol": self.rtol,
            "atol": self.atol,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "checks": [
                {"name": c.name, "same": c.ok, "failed": c.failed, "detail": c.detail}
                for c in self.checks
            ],
            "parameters": {b: {"total": t, "trainable": n} for b, (t, n) in self.params.items()},
            "initial_weights": self.initial,
            "outputs": self.outputs,
            "hint": self.hint,
        }


def _num(value: float | None) -> str:
    return "shapes differ" if value is None else f"{value:.3g}"


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def compare_across(
    spec: Any,
    spec_file: str,
    backends: list[str],
    settings: Settings = Settings(),  # noqa: B008 - frozen, never changed
    *,
    batch_size: int = 8,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> Report:
    """Run the checked ``spec`` (a :class:`~modelspec.api.SpecModel`, read from
    ``spec_file``) on each of ``backends``, the first's weights in all, and compare
    (see the module docstring). Raises :class:`BackendFailed` when a process stops
    before it answers (its words and exit code are the command's)."""
    report = Report(spec.name, list(backends), rtol, atol, batch_size, spec.plan.seed)
    ref, *others = backends
    with tempfile.TemporaryDirectory(prefix="modelspec-across-") as folder:
        job = {"spec": spec_file, "settings": asdict(settings), "folder": folder,
               "batch_size": batch_size}  # fmt: skip
        runs = {}
        for backend in backends:
            runs[backend] = run = _run(backend, {**job, "reference": backend == ref})
            if run.get("error"):
                what = f"Keras cannot build or run the model on {backend}: {run['error']}"
                report.checks.append(Check("build and run", False, what, failed=True))
                return report
        _compare(report, runs, Path(folder))
    return report


def _run(backend: str, job: dict[str, Any]) -> dict[str, Any]:
    """Run ``job`` in a process of its own on ``backend``; what it wrote back."""
    folder = Path(job["folder"])
    (folder / f"{backend}.job.json").write_text(json.dumps(job), encoding="utf-8")
    root = str(Path(__file__).resolve().parents[2])
    proc = subprocess.run(  # noqa: S603 - this interpreter, our own code, no shell
        [sys.executable, "-c", CHILD, root, str(folder / f"{backend}.job.json")],
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BackendFailed(backend, proc.returncode, proc.stderr)
    return json.loads((folder / f"{backend}.json").read_text(encoding="utf-8"))


def _compare(report: Report, runs: dict[str, dict[str, Any]], folder: Path) -> None:
    """The checks, in order, up to the first that fails."""
    ref, *others = report.backends
    report.params = {b: tuple(r["params"]) for b, r in runs.items()}
    counts = report.params[ref]
    for b in others:
        if report.params[b] != counts:
            total, trainable = report.params[b]
            report.checks.append(Check("parameters", False,
                f"{b} has {total:,} parameters ({trainable:,} trainable), "
                f"{ref} has {counts[0]:,} ({counts[1]:,})"))  # fmt: skip
            return
    report.checks.append(Check("parameters", True, f"{counts[0]:,} on every backend"))
    report.initial = {b: runs[b]["initial"] for b in others}
    report.checks.append(_initial(report))
    report.checks.append(_outputs(report, folder))


def _initial(report: Report) -> Check:
    """Not a check: why the first backend's weights were given to all."""
    ref = report.backends[0]
    own = ", ".join(
        f"{b}'s in {i['different']} of {i['arrays']}" for b, i in report.initial.items()
    )
    if not any(i["different"] for i in report.initial.values()):
        why = "each backend's own were the same already"
    elif report.seed is None:
        why = f"without a seed, each backend drew its own: they differed, {own}"
    else:
        why = f"seed {report.seed} draws other numbers on each backend: their own differed, {own}"
    return Check("initial weights", True, f"{ref}'s, loaded on every backend ({why})")


def _outputs(report: Report, folder: Path) -> Check:
    """Each output of each backend against the first's, within the tolerance."""
    import numpy as np

    def load(name: str) -> dict[str, Any]:
        with np.load(folder / f"{name}.npz", allow_pickle=False) as data:
            return {k.partition(".")[2]: data[k] for k in data.files}

    ref, *others = report.backends
    want, got = load(ref), {b: load(b) for b in others}
    over = []  # (difference, backend, output): outside the tolerance; inf: another shape
    for name, a in want.items():
        diffs: dict[str, float | None] = {}
        for b in others:
            x = got[b].get(name)
            if x is None or x.shape != a.shape:
                diffs[b] = None
                over.append((np.inf, b, name))
                continue
            diffs[b] = _max_abs_diff(a, x)
            x64, a64 = x.astype("float64"), a.astype("float64")  # bool outputs too
            if not np.allclose(x64, a64, rtol=report.rtol, atol=report.atol, equal_nan=True):
                over.append((diffs[b], b, name))
        report.outputs.append({"name": name, "shape": list(a.shape), "max_abs_diff": diffs,
                               "within_tolerance": not any(o[2] == name for o in over)})  # fmt: skip
    batch = f"a batch of {report.batch_size}, in inference mode"
    if not over:
        return Check("outputs", True, f"{batch}, within {report.tolerance}")
    diff, b, name = max(over)
    shown = "another shape" if diff == np.inf else f"a difference of up to {diff:.3g}"
    report.hint = (
        "each backend runs its own kernels, which round float32 sums in their own order "
        "(see docs/cli.md): for differences of that size alone, widen --rtol and --atol"
    )
    return Check("outputs", False, f"{batch}: output '{name}' on {b} has {shown} from "
                 f"{ref}'s, more than {report.tolerance} allow")  # fmt: skip


def _max_abs_diff(a: Any, b: Any) -> float:
    """The largest ``|a - b|``, NaN against NaN counting as equal, against a number as
    infinite."""
    import numpy as np

    if not a.size:
        return 0.0
    diff = np.abs(a.astype("float64") - b.astype("float64"))
    both = np.isnan(a.astype("float64")) & np.isnan(b.astype("float64"))
    return float(np.max(np.where(both, 0.0, np.nan_to_num(diff, nan=np.inf))))


# --- a backend's process -------------------------------------------------------------


def child(job_file: str) -> int:
    """A backend's process: do the job written to ``job_file``, write what it found
    beside it; exit codes and messages as the command line's."""
    from modelspec.errors import ModelspecError, format_all

    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    try:
        found = _work(job)
    except Exception as exc:
        if os.environ.get("MODELSPEC_DEBUG"):
            raise
        if isinstance(exc, BackendError):
            print(exc.text(), file=sys.stderr)
            return exc.exit_code
        if isinstance(exc, ModelspecError):
            print(format_all(exc.diagnostics), file=sys.stderr)
            return 1
        print(f"modelspec: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    folder = Path(job["folder"])
    (folder / f"{found['backend']}.json").write_text(json.dumps(found), encoding="utf-8")
    return 0


def _load(job: dict[str, Any]) -> Any:
    """The job's spec, checked as the command checked it."""
    from modelspec.api import SpecModel
    from modelspec.check import check
    from modelspec.errors import SpecError
    from modelspec.lower.plan import plan
    from modelspec.source.project import find_project

    settings = Settings(**job["settings"])
    project = find_project(job["spec"], config=settings.config).widened(
        include_paths=tuple(settings.include_paths),
        allow_modules=tuple(settings.allow_modules),
        ask_keras=settings.ask_keras,
    )
    result = check(job["spec"], project=project)
    if not result.ok:  # changed since the command checked it
        raise SpecError(result.errors)
    return SpecModel(result, plan(result))


def _work(job: dict[str, Any]) -> dict[str, Any]:
    """Build, load or save the weights, run the batch (see the module docstring)."""
    import numpy as np

    from modelspec.errors import ModelspecError
    from modelspec.runtime.backend import needs_tensorflow
    from modelspec.runtime.equiv import (
        deterministic_keras,
        first_line,
        outputs_of,
        sample_inputs,
        weight_arrays,
    )
    from modelspec.runtime.weights import load_weights_by_name

    spec = _load(job)
    keras = deterministic_keras()
    backend = keras.config.backend()
    folder = Path(job["folder"])
    try:
        model = spec.to_keras(compile=False)
        own = weight_arrays(model)
        initial = None
        if job["reference"]:
            model.save_weights(folder / WEIGHTS)
            x = sample_inputs(spec, job["batch_size"], np.random.default_rng(DATA_SEED))
            arrays = x if isinstance(x, dict) else {spec.plan.inputs[0].name: x}
            np.savez(folder / INPUTS, **{f"in.{k}": v for k, v in arrays.items()})
        else:
            load_weights_by_name(model, folder / WEIGHTS, {}, warn=False)
            initial = _differences(own, weight_arrays(model))
            with np.load(folder / INPUTS, allow_pickle=False) as data:
                arrays = {k.partition(".")[2]: data[k] for k in data.files}
            x = arrays if len(arrays) > 1 else next(iter(arrays.values()))
        y = outputs_of(model, x)
    except ImportError as exc:  # Keras needs TensorFlow for a layer (StringLookup, ...)
        if isinstance(exc, BackendError) or backend == "tensorflow":
            raise
        raise needs_tensorflow(exc, backend) from None
    except ModelspecError:
        raise
    except Exception as exc:  # noqa: BLE001 - Keras's own failure, reported as such
        return {"backend": backend, "error": first_line(exc)}
    # One output comes unnamed: it is the spec's only one.
    named = {k or spec.plan.outputs[0].name: v for k, v in y.items()}
    # NumPy has no bfloat16 of its own: such outputs travel as float32.
    np.savez(folder / f"{backend}.npz",
             **{f"out.{k}": v if v.dtype.kind in "biufc" else v.astype("float32")
                for k, v in named.items()})  # fmt: skip
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {"backend": backend, "params": [model.count_params(), trainable], "initial": initial}


def _differences(own: dict[str, Any], loaded: dict[str, Any]) -> dict[str, Any]:
    """How a model's own initial weights differ from those it loaded: ``arrays``,
    how many are ``different``, the ``max_abs_diff``."""
    import numpy as np

    pairs = [(x, y) for layer, ws in own.items() for (_, x), (_, y) in zip(ws, loaded[layer])]
    different = [(x, y) for x, y in pairs if x.shape != y.shape or not np.array_equal(x, y)]
    largest = max((_max_abs_diff(x, y) for x, y in different if x.shape == y.shape), default=0.0)
    return {"arrays": len(pairs), "different": len(different), "max_abs_diff": largest}
