"""Benchmark: the training step of every shipped spec, on every Keras backend.

    .venv/bin/python benchmarks/backend_steps.py                        # every backend, every spec
    .venv/bin/python benchmarks/backend_steps.py --quick --markdown benchmarks/RESULTS.md
    .venv/bin/python benchmarks/backend_steps.py --backends jax --specs gpt_decoder --repeat 15

The target (issue "Performance (benchmark script, ratios in the same run)"): a model
built from a spec costs the same to train as the same model written by hand in Keras,
on each backend: step time of ``spec.to_keras()`` / step time of the hand-written model
(benchmarks/hand_models.py) = 1.00 +- 0.03. It is measured here, never asserted.

Each installed backend among TensorFlow, JAX and PyTorch runs in a process of its own
(``KERAS_BACKEND`` set; a process holds one backend), on the GPU where the backend sees
one, else on the CPU. A backend whose package is not installed is skipped, and said so.
In that process, for each spec (``specs/*.yaml`` and ``examples/**/*.yaml`` when there
is such a folder, or ``--specs``):

1. the spec must run there: string inputs exist on TensorFlow only (MS551, as
   ``modelspec train`` says), and a layer Keras builds with TensorFlow only is refused
   when created; either is a skipped row with the reason. A spec with no hand-written
   twin in ``hand_models.BY_SPEC`` is skipped too: the module ``modelspec build``
   generates is modelspec's own output, not an independent reference;
2. the ``to_keras()`` model, the hand-written one, and (unless ``--no-control``) a second
   copy of the hand-written one, an A/A control whose ratio to the first shows what two
   identical models differ by on this machine. The first two must be the same model:
   the same weights (and, for a seeded spec, the same initial values), checked before
   training, and the same ``get_config()`` (an axis written from either end counts as
   one) and compile config, checked after the timing (on JAX and PyTorch,
   ``get_config()`` imports TensorFlow); a difference makes the row an error;
3. one fixed batch of synthetic data drawn from the spec's inputs (the batch ``modelspec
   equiv`` draws: token ids below every ``input_dim``, open axes of 5, class ids where
   the loss takes labels), the same for every model;
4. ``train_on_batch`` on it: the first call (the trace or compile) and a few more are
   untimed; then ``--repeat`` blocks of ``--steps`` calls per model, alternating between
   the models and rotating their order every round, so that drift hits each alike.
   ``train_on_batch`` returns its logs as Python numbers, so every step waits for the
   device. Reported: the median per-step time of each, the ratio of the medians, the
   median of the per-round ratios (paired), and the control's ratio.

It prints a table per backend and writes every row to a JSON file (``--json``); with
``--markdown FILE``, the section "Train step per backend" (between
``<!-- backend-steps:start -->`` and ``<!-- backend-steps:end -->``; replaced when there,
appended otherwise; the rest of the file is kept).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402
import hand_models  # noqa: E402
from common import log  # noqa: E402

BACKENDS = ("tensorflow", "jax", "torch")
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
TARGET = 0.03  # |ratio - 1| at most this; measured, never asserted
SECTION = ("<!-- backend-steps:start -->", "<!-- backend-steps:end -->")
HEADING = "## Train step per backend"
DEFAULT_JSON = HERE / "backend_steps.json"
# Left out by --quick, with the reason the report gives.
QUICK_SKIP = {
    "resnet50": "left out by --quick: 25.6 M parameters at 224 x 224, seconds a step and "
    "minutes of compiling on a CPU; run without --quick",
}
# Settings: full run, --quick.
REPEAT = (9, 5)  # timed blocks per model
WARMUP = (10, 3)  # untimed train_on_batch calls after the first
BLOCK_S = (1.0, 0.25)  # a block's length when --steps is not given
MAX_STEPS = 50  # steps per block, at most, when calibrated


# --- specs and backends --------------------------------------------------------------------


def discover(root: Path = ROOT) -> list[Path]:
    """The shipped specs: ``specs/*.yaml``, then ``examples/**/*.yaml`` when there is one."""
    found = sorted((root / "specs").glob("*.yaml"))
    if (root / "examples").is_dir():
        found += sorted((root / "examples").rglob("*.yaml"))
    return found


def select(names: list[str] | None, root: Path = ROOT) -> list[Path]:
    """``--specs``: each a spec's name (its file name without ``.yaml``) among the shipped
    ones, or a path; none: every shipped spec."""
    shipped = discover(root)
    if not names:
        return shipped
    by_name = {p.stem: p for p in shipped}
    out = []
    for name in names:
        path = Path(name)
        if name in by_name:
            out.append(by_name[name])
        elif path.suffix in (".yaml", ".yml", ".json") and path.is_file():
            out.append(path.resolve())
        else:
            known = ", ".join(sorted(by_name))
            raise SystemExit(f"--specs: no spec {name!r} (a path, or one of: {known})")
    return out


def missing_package(backend: str) -> str | None:
    """Why ``backend`` cannot run here (a package not installed), or None."""
    for package in ("keras", PACKAGES[backend]):
        if importlib.util.find_spec(package) is None:
            return f"`{package}` is not installed"
    return None


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """What a run measures with: ``--repeat``, warm-up, block length, control."""
    q = int(bool(args.quick))
    return {
        "repeat": args.repeat or REPEAT[q],
        "warmup": WARMUP[q],
        "steps": args.steps,  # None: calibrated to fill block_s
        "block_s": BLOCK_S[q],
        "batch_size": args.batch_size,
        "control": args.control if args.control is not None else not args.quick,
        "quick": bool(args.quick),
        "torch_threads": args.torch_threads,
    }


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--backends",
        nargs="+",
        choices=BACKENDS,
        default=list(BACKENDS),
        metavar="NAME",
        help="tensorflow, jax, torch (default: all installed)",
    )
    ap.add_argument(
        "--specs",
        nargs="+",
        metavar="SPEC",
        help="spec names (file name without .yaml) or paths (default: every shipped spec)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        metavar="N",
        help=f"timed blocks per model (default {REPEAT[0]}, --quick {REPEAT[1]})",
    )
    ap.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help="train_on_batch calls per timed block (default: as many as fill "
        f"{BLOCK_S[0]:g} s, --quick {BLOCK_S[1]:g} s; 1 to {MAX_STEPS})",
    )
    ap.add_argument(
        "--batch-size", type=int, default=32, metavar="N", help="samples per batch (default 32)"
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"{REPEAT[1]} blocks, shorter blocks and warm-up, no A/A control, "
        f"and {', '.join(QUICK_SKIP)} left out",
    )
    ap.add_argument(
        "--control",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="time a second copy of the hand-written model too (default: on, off with --quick)",
    )
    ap.add_argument(
        "--torch-threads",
        type=int,
        metavar="N",
        help="PyTorch's CPU threads (torch.set_num_threads; default: PyTorch's own choice)",
    )
    ap.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="FILE",
        help="every row and raw timing (default benchmarks/backend_steps.json)",
    )
    ap.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help=f'write the section "{HEADING[3:]}" into FILE (e.g. benchmarks/RESULTS.md)',
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=3600,
        metavar="S",
        help="per backend process (default 3600)",
    )
    ap.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    return ap  # fmt: skip


# --- the backend's process -------------------------------------------------------------------


def device_of(keras: Any) -> tuple[str, str]:
    """The device the backend trains on, short ("CPU", "GPU: its name") and in detail."""
    backend = keras.backend.backend()
    cpu = f"CPU: {common.machine()['cpu']}"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name")
            gpu = f"GPU: {name or gpus[0].name}"
            return gpu, f"{gpu} ({len(gpus)} visible to TensorFlow)"
        return "CPU", cpu
    if backend == "jax":
        import jax

        dev = jax.devices()[0]
        if dev.platform != "cpu":
            gpu = f"{dev.platform.upper()}: {dev.device_kind}"
            return gpu, f"{gpu} ({len(jax.devices())} visible to JAX)"
        return "CPU", cpu
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            gpu = f"GPU: {torch.cuda.get_device_name(0)}"
            return gpu, f"{gpu} ({torch.cuda.device_count()} visible to PyTorch)"
        threads = torch.get_num_threads()
        return "CPU", f"{cpu}; PyTorch on {threads} thread{'s' if threads != 1 else ''}"
    return backend, backend


def _fresh() -> None:
    import keras

    keras.backend.clear_session()
    gc.collect()


def _canonical(config: Any) -> Any:
    """``get_config()`` with an axis counted from the end where Keras has it from the
    start (``keras.applications`` writes BatchNormalization's ``axis=3`` for images, a
    spec ``-1``: the same axis)."""
    if isinstance(config, dict):
        out = {k: _canonical(v) for k, v in config.items()}
        shape = (out.get("build_config") or {}).get("input_shape")
        inner = out.get("config")
        if isinstance(inner, dict) and isinstance(inner.get("axis"), int) and shape:
            if isinstance(shape, list) and inner["axis"] >= 0:
                inner["axis"] -= len(shape)
        return out
    if isinstance(config, (list, tuple)):
        return [_canonical(v) for v in config]
    return config


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two configs first differ: ``layers[3].config.units: 64 != 32``; None if equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            if key not in a or key not in b:
                return f"{path}.{key}: only in one" if path else f"{key}: only in one"
            found = first_difference(a[key], b[key], f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path or '(top)'}: {a!r:.60} != {b!r:.60}"


def same_weights(a: Any, b: Any, seeded: bool) -> str | None:
    """None when ``a`` and ``b`` have the same weights (shapes; values too for a seeded
    spec); else the first difference. Before training."""
    import numpy as np
    from keras import ops

    if len(a.weights) != len(b.weights):
        return f"{len(a.weights)} weights against {len(b.weights)}"
    for x, y in zip(a.weights, b.weights):
        if tuple(x.shape) != tuple(y.shape):
            return f"weight {x.path}: shape {tuple(x.shape)} against {tuple(y.shape)}"
        if seeded and not np.array_equal(ops.convert_to_numpy(x.value),
                                         ops.convert_to_numpy(y.value)):  # fmt: skip
            return f"weight {x.path}: initial values differ"
    return None


def same_config(a: Any, b: Any) -> str | None:
    """None when ``a`` and ``b`` have the same ``get_config()`` and compile config."""
    where = first_difference(_canonical(a.get_config()), _canonical(b.get_config()))
    if where:
        return f"get_config() differs at {where}"
    where = first_difference(a.get_compile_config(), b.get_compile_config())
    return f"the compile config differs at {where}" if where else None


def _step_block(model: Any, x: Any, y: Any, steps: int) -> tuple[float, float]:
    """Per-step wall and CPU time of ``steps`` train_on_batch calls."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def bench_spec(path: Path, backend: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """One spec on this process's backend: a row (see :func:`child`)."""
    import numpy as np

    import modelspec
    from modelspec.errors import SpecError
    from modelspec.runtime.backend import unsupported
    from modelspec.runtime.equiv import _targets, sample_inputs

    row: dict[str, Any] = {"spec": path.stem, "backend": backend, "status": "skipped"}
    if cfg["quick"] and path.stem in QUICK_SKIP and path.parent == ROOT / "specs":
        return {**row, "reason": QUICK_SKIP[path.stem]}
    try:
        spec = modelspec.load(path)
    except SpecError as exc:
        return {**row, "status": "error", "reason": f"does not load: {exc}"}
    refused = unsupported(spec.result, backend)
    if refused:
        return {**row, "reason": f"{refused[0].code}: {refused[0].message}"}
    hand = hand_models.BY_SPEC.get(path.stem) if path.parent == ROOT / "specs" else None
    if hand is None:
        return {**row, "reason": "no hand-written twin in benchmarks/hand_models.py (the "
                "module `modelspec build` writes is modelspec's own output, not a reference)"}  # fmt: skip

    names = ["to_keras", "hand", *(["control"] if cfg["control"] else [])]
    builders = {"to_keras": spec.to_keras, "hand": hand, "control": hand}
    models = {}
    try:
        for name in names:
            # Each in a fresh session, as each would be in a program of its own: the same
            # automatic names (the optimizer's) for all.
            _fresh()
            models[name] = builders[name]()
    except ImportError as exc:  # a layer Keras builds with TensorFlow only
        return {**row, "reason": f"Keras cannot build it on {backend}: {exc}"}
    problem = same_weights(models["to_keras"], models["hand"], spec.result.spec.seed is not None)
    if problem:
        return {**row, "status": "error", "reason": f"not the same model as its twin: {problem}"}

    rng = np.random.default_rng(0)
    batch = cfg["batch_size"]
    x = sample_inputs(spec, batch, rng)
    y = _targets(spec, models["to_keras"](x, training=False), rng)
    first, steps, wall, cpu = time_steps(models, names, x, y, cfg, f"{backend} {path.stem}")
    # After the timing: on JAX and PyTorch, get_config() imports TensorFlow (Keras looks
    # for its types), which should not be loaded while the steps are timed.
    problem = same_config(models["to_keras"], models["hand"])
    if problem:
        return {**row, "status": "error", "reason": f"not the same model as its twin: {problem}"}
    med = {n: statistics.median(wall[n]) for n in names}
    row.update({
        "status": "ok", "batch": batch, "steps": steps, "blocks": cfg["repeat"],
        "first_s": first, "wall_s": wall, "cpu_s": cpu,
        "spec_ms": med["to_keras"] * 1000, "hand_ms": med["hand"] * 1000,
        "ratio": med["to_keras"] / med["hand"],
        "paired": statistics.median(a / b for a, b in zip(wall["to_keras"], wall["hand"])),
        "cpu_ratio": statistics.median(cpu["to_keras"]) / statistics.median(cpu["hand"]),
        "control": med["control"] / med["hand"] if cfg["control"] else None,
        "params": models["hand"].count_params(),
    })  # fmt: skip
    log(f"{backend} {path.stem}: spec {row['spec_ms']:.2f} ms, hand {row['hand_ms']:.2f} ms, "
        f"ratio {row['ratio']:.3f} ({steps} steps x {cfg['repeat']} blocks)")  # fmt: skip
    del models
    _fresh()
    return row


def time_steps(models: dict[str, Any], names: list[str], x: Any, y: Any, cfg: dict[str, Any],
               label: str) -> tuple[dict[str, float], int, dict[str, list], dict[str, list]]:  # fmt: skip
    """Each model's first train step (trace or compile), its warm-up, then ``repeat``
    blocks of ``steps`` steps each, the models taking turns in a rotating order:
    ``(first step s, steps per block, wall s per block, CPU s per block)``."""
    first: dict[str, float] = {}
    warm: dict[str, float] = {}
    for name in names:
        log(f"{label}: {name}: first step (trace/compile), {cfg['warmup']} more")
        t0 = time.perf_counter()
        models[name].train_on_batch(x, y)
        first[name] = time.perf_counter() - t0
        warm[name] = _step_block(models[name], x, y, cfg["warmup"])[0] if cfg["warmup"] else 0.0
    steps = cfg["steps"] or max(1, min(MAX_STEPS, round(cfg["block_s"] / max(warm.values()))))
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for r in range(cfg["repeat"]):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            w, c = _step_block(models[name], x, y, steps)
            wall[name].append(w)
            cpu[name].append(c)
    return first, steps, wall, cpu


def child(args: argparse.Namespace) -> None:
    """In the backend's own process: every spec, rows to ``--child-out``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from modelspec.runtime.quiet import quiet_import

    t0 = time.perf_counter()
    keras = quiet_import("keras")
    import_s = time.perf_counter() - t0
    backend = keras.backend.backend()
    if backend != args.child:
        raise SystemExit(f"Keras runs on {backend}, not {args.child}")
    if backend == "torch" and args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    cfg = settings(args)
    device, detail = device_of(keras)
    out: dict[str, Any] = {"backend": backend, "device": device, "device_detail": detail,
                           "keras_import_s": import_s, "rows": []}  # fmt: skip
    log(f"{backend}: {detail}")
    started = time.perf_counter()
    for path in select(args.specs):
        try:
            row = bench_spec(path, backend, cfg)
        except Exception as exc:  # one spec's failure is a row; the run goes on
            row = {"spec": path.stem, "backend": backend, "status": "error",
                   "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}  # fmt: skip
            _fresh()
        row["device"] = out["device"]
        out["rows"].append(row)
        args.child_out.write_text(json.dumps(out), encoding="utf-8")  # what finished, so far
    out["elapsed_s"] = time.perf_counter() - started
    args.child_out.write_text(json.dumps(out), encoding="utf-8")


# --- the parent: one process per backend, the report -----------------------------------------


def run_backend(backend: str, argv: list[str], tmp: Path, timeout: float) -> dict[str, Any]:
    """``backend``'s process: its rows, or one row saying why there are none."""
    reason = missing_package(backend)
    if reason:
        log(f"{backend}: skipped, {reason}")
        return {"backend": backend, "skipped": reason, "rows": []}
    out_file = tmp / f"{backend}.json"
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--child", backend,
           "--child-out", str(out_file)]  # fmt: skip
    log(f"{backend}: a process of its own")
    t0 = time.perf_counter()
    try:
        rc = subprocess.run(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                            timeout=timeout).returncode  # fmt: skip
    except subprocess.TimeoutExpired:
        rc = 124
    res = json.loads(out_file.read_text(encoding="utf-8")) if out_file.exists() else {
        "backend": backend, "rows": []}  # fmt: skip
    res["wall_s"] = time.perf_counter() - t0
    if rc != 0:
        res["failed"] = f"the process exited with code {rc}" + (" (timed out)" if rc == 124 else "")
    return res


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def _spread(row: dict[str, Any], name: str) -> str:
    w = row.get("wall_s", {}).get(name) or []
    return f" ({fmt_ms(min(w) * 1000)}–{fmt_ms(max(w) * 1000)})" if len(w) > 1 else ""


def table(res: dict[str, Any]) -> str:
    """One backend's rows as a markdown table, then its skipped specs."""
    if res.get("skipped"):
        return f"Not run: {res['skipped']}."
    rows = [r for r in res["rows"] if r["status"] == "ok"]
    lines = []
    if rows:
        lines += [
            "| spec | device | batch | steps x blocks | spec-built ms/step | hand-written ms/step "
            "| ratio | paired | CPU | A/A control |",
            "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            control = "-" if r.get("control") is None else f"{r['control']:.3f}"
            flag = "" if abs(r["ratio"] - 1) <= TARGET else " ‡"
            lines.append(
                f"| {r['spec']} | {r['device']} | {r['batch']} | {r['steps']} x {r['blocks']} "
                f"| {fmt_ms(r['spec_ms'])}{_spread(r, 'to_keras')} "
                f"| {fmt_ms(r['hand_ms'])}{_spread(r, 'hand')} | **{r['ratio']:.3f}**{flag} "
                f"| {r['paired']:.3f} | {r['cpu_ratio']:.3f} | {control} |"
            )
    others = [r for r in res["rows"] if r["status"] != "ok"]
    if others:
        lines += ["", *(f"- {r['spec']}: {r['status']}: {r['reason']}" for r in others)]
    if res.get("failed"):
        lines += ["", f"The {res['backend']} process stopped early: {res['failed']}."]
    return "\n".join(lines).strip() or "No spec ran."


def _device_line(res: dict[str, Any]) -> str:
    return f"Device: {res['device_detail']}.\n\n" if res.get("device_detail") else ""


def summary(res: dict[str, Any]) -> str:
    """One line per backend: the ratios, how many are within the target, and the ones
    outside it beside their A/A control (a control as far off says: noise)."""
    rows = [r for r in res["rows"] if r["status"] == "ok"]
    if not rows:
        return f"- {res['backend']}: {res.get('skipped') or 'no spec ran'}"
    ratios = [r["ratio"] for r in rows]
    within = sum(abs(x - 1) <= TARGET for x in ratios)
    outside = [
        f"{r['spec']} {r['ratio']:.3f}"
        + ("" if r.get("control") is None else f" (A/A {r['control']:.3f})")
        for r in rows
        if abs(r["ratio"] - 1) > TARGET
    ]
    controls = [r["control"] for r in rows if r.get("control") is not None]
    control = f"; A/A control {min(controls):.3f} to {max(controls):.3f}" if controls else ""
    return (f"- {res['backend']} ({rows[0]['device']}): median ratio "
            f"{statistics.median(ratios):.3f}, from {min(ratios):.3f} to {max(ratios):.3f}; "
            f"{within} of {len(rows)} specs within 1.00 +- {TARGET:.2f}{control}"
            + (f"; outside: {', '.join(outside)}" if outside else ""))  # fmt: skip


def command_line(argv: list[str]) -> str:
    return shlex.join([".venv/bin/python", "benchmarks/backend_steps.py", *argv])


def kind_of(report: dict[str, Any]) -> str:
    """``"gpu"`` when a backend of this run trained on a GPU, else ``"cpu"``."""
    on_gpu = any(r["status"] == "ok" and not r["device"].startswith("CPU")
                 for res in report["backends"] for r in res["rows"])  # fmt: skip
    return "gpu" if on_gpu else "cpu"


KINDS = {"cpu": "On a CPU", "gpu": "On a GPU"}


def markers(kind: str) -> tuple[str, str]:
    return f"<!-- backend-steps:{kind}:start -->", f"<!-- backend-steps:{kind}:end -->"


def run_block(report: dict[str, Any]) -> str:
    """One run, under "On a CPU" or "On a GPU"."""
    m = report["machine"]
    s = report["settings"]
    per_backend = "\n\n".join(
        f"#### {res['backend']}\n\n{_device_line(res)}{table(res)}" for res in report["backends"]
    )
    if s["steps"]:
        steps = f"{s['steps']} calls"
    else:
        steps = (
            f"as many calls as fill {s['block_s']:g} s (at the warm-up's pace, 1 to {MAX_STEPS})"
        )
    threads = f" PyTorch's CPU threads: {s['torch_threads']} (`--torch-threads`)." if s.get(
        "torch_threads") else ""  # fmt: skip
    other = "a GPU" if kind_of(report) == "cpu" else "a CPU only"
    return f"""### {KINDS[kind_of(report)]}

Generated by `{report["command"]}` ({report["elapsed_s"] / 60:.1f} min). Do not edit by
hand: run it again. The same command on a machine with {other} fills in the other part.

- **machine**: {m.get("cpu", "?")}, {m.get("cores", "?")}, {m.get("memory", "?")}
- **packages**: {m.get("packages", "?")}
- **python**: {m.get("python", "?")}
- **commit**: {m.get("commit", "?")}
- **date**: {m.get("date", "?")}
- **load average**: {report["load_before"]} at the start, {report["load_after"]} at the end

{chr(10).join(summary(res) for res in report["backends"])}

One fixed batch of {s["batch_size"]}; the first call and {s["warmup"]} more untimed; then
{s["repeat"]} blocks of {steps} per model, alternating, the order rotating every
block. A/A control {"timed" if s["control"] else "not timed (`--quick` or `--no-control`)"}.{threads}

{per_backend}
"""


def placeholder(kind: str, command: str) -> str:
    return f"""### {KINDS[kind]}

Not measured yet: run `{command}` on a machine {"with a GPU" if kind == "gpu" else "without one"}
(each backend trains on the GPU when it sees one).
"""


INTRO = f"""{HEADING}

Generated by `benchmarks/backend_steps.py`: the training step of every shipped spec,
built by `spec.to_keras()`, against the same model written by hand in Keras
(`benchmarks/hand_models.py`, `BY_SPEC`), on every installed Keras backend, each in a
process of its own. Target: spec-built / hand-written step time = 1.00 +- {TARGET:.2f} on
every backend (‡: outside). Measured, never asserted by a test.

`train_on_batch` on one fixed synthetic batch drawn from the spec's inputs (as `modelspec
equiv` draws it), the same for every model, after untimed warm-up calls (the first one
traces or compiles); then timed blocks of steps, alternating between the models, the
order rotating every block. ms/step: the median over the blocks (min–max). Ratio: of the
medians; paired: the median of the per-block ratios; CPU: of the process-time medians
(every thread); A/A control: a second copy of the hand-written model over the first,
what two identical models differ by on the same machine. A spec is skipped, with the
reason, where the backend cannot run it.
"""


def write_section(text: str, report: dict[str, Any], command: str, page: Any = None) -> str:
    """``text`` with this run's block in the section of ``page`` (a module with
    ``SECTION``, ``INTRO``, ``markers``, ``run_block`` and ``placeholder``: this one by
    default, or precision_steps), the blocks of the other device kinds kept as they were."""
    page = page or sys.modules[__name__]
    start, end = page.SECTION
    old = ""
    if start in text and end in text:
        before, rest = text.split(start, 1)
        old, after = rest.split(end, 1)
    else:
        before, after = (f"{text.rstrip()}\n\n" if text.strip() else ""), "\n"
    this = kind_of(report)
    parts = []
    for kind in KINDS:
        m_start, m_end = page.markers(kind)
        if kind == this:
            body = page.run_block(report)
        elif m_start in old and m_end in old:
            body = old.split(m_start, 1)[1].split(m_end, 1)[0].lstrip("\n")
        else:
            body = page.placeholder(kind, command)
        parts.append(f"{m_start}\n{body}{m_end}\n")
    return f"{before}{start}\n{page.INTRO}\n{chr(10).join(parts)}{end}{after}"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    if args.child:
        child(args)
        return
    numbers = {"--repeat": args.repeat, "--steps": args.steps, "--batch-size": args.batch_size,
               "--torch-threads": args.torch_threads}  # fmt: skip
    for flag, value in numbers.items():
        if value is not None and value < 1:
            raise SystemExit(f"{flag} must be at least 1")
    select(args.specs)  # unknown names stop the run here, before any backend starts
    started = time.perf_counter()
    report: dict[str, Any] = {
        "command": command_line(argv), "machine": common.machine(), "settings": settings(args),
        "load_before": common.loadavg(), "backends": [],
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="modelspec-backend-steps-") as tmp:
        for backend in args.backends:
            res = run_backend(backend, child_argv(args), Path(tmp), args.timeout)
            report["backends"].append(res)
            print(f"\n{backend}\n\n{table(res)}\n", flush=True)
    report["load_after"] = common.loadavg()
    report["elapsed_s"] = time.perf_counter() - started
    report["kind"] = kind_of(report)
    print("\n".join(summary(res) for res in report["backends"]))
    args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    log(f"wrote {args.json}")
    if args.markdown:
        text = args.markdown.read_text(encoding="utf-8") if args.markdown.exists() else ""
        text = write_section(text, report, report["command"])
        args.markdown.write_text(text, encoding="utf-8")
        log(f"wrote the section into {args.markdown}")


def child_argv(args: argparse.Namespace) -> list[str]:
    """The options a backend's process measures with (not the outputs, not the backends)."""
    out = ["--batch-size", str(args.batch_size)]
    if args.specs:
        out += ["--specs", *args.specs]
    if args.repeat:
        out += ["--repeat", str(args.repeat)]
    if args.steps:
        out += ["--steps", str(args.steps)]
    if args.quick:
        out.append("--quick")
    if args.control is not None:
        out.append("--control" if args.control else "--no-control")
    if args.torch_threads:
        out += ["--torch-threads", str(args.torch_threads)]
    return out


if __name__ == "__main__":
    main()
