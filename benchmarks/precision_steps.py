"""Benchmark: the training step of every shipped spec in float32 and in mixed_bfloat16.

    .venv/bin/python benchmarks/precision_steps.py                      # every backend, every spec
    .venv/bin/python benchmarks/precision_steps.py --quick --markdown benchmarks/RESULTS.md
    .venv/bin/python benchmarks/precision_steps.py --backends jax --specs gpt_decoder --repeat 15

Two questions, in one run per backend:

1. does a spec with ``dtype_policy: mixed_bfloat16`` cost the same to train as the same
   model written by hand in Keras under ``keras.config.set_dtype_policy("mixed_bfloat16")``
   (the ratio spec-built / hand-written, as ``benchmarks/backend_steps.py`` measures it
   in float32)?
2. what does mixed precision gain on this device: the step time in mixed_bfloat16 over
   the step time in float32, for the spec-built and the hand-written model alike?

Each installed backend runs in a process of its own (``KERAS_BACKEND`` set), on the GPU
where the backend sees one, else on the CPU: the script runs unchanged on either. For
each spec with a hand-written twin (``hand_models.BY_SPEC``), four models: the spec
built by ``to_keras()`` as it is (float32) and with ``dtype_policy: mixed_bfloat16``
added to its text, and the hand-written one built under the global policy ``float32``
and ``mixed_bfloat16``. Each pair (spec, hand) in one precision must be the same model:
the same weights (shapes; values for a seeded spec) before training and, after the
timing, the same ``get_config()``, every computing layer's dtype policy included (not
the model's own, a nested model's or a lookup layer's, which change no number:
:func:`same_config`); a difference makes the row an error, with the first place they
differ.

The timing is ``backend_steps``'s: one fixed synthetic batch, untimed warm-up calls of
``train_on_batch`` (the first traces or compiles), then ``--repeat`` blocks of steps per
model, alternating between the four models and rotating their order every block, so that
drift hits each alike. Reported: medians of the per-step times, the ratios of the
medians, all four from the same run. With ``--markdown FILE``, the section "Train step
in mixed precision" (between ``<!-- precision-steps:start -->`` and
``<!-- precision-steps:end -->``), this run's part (CPU or GPU) replaced, the other kept.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import backend_steps as bs  # noqa: E402
import common  # noqa: E402
import hand_models  # noqa: E402
from common import log  # noqa: E402

MIXED = "mixed_bfloat16"
MODELS = ("spec_f32", "hand_f32", "spec_mixed", "hand_mixed")
SECTION = ("<!-- precision-steps:start -->", "<!-- precision-steps:end -->")
HEADING = "## Train step in mixed precision"
DEFAULT_JSON = HERE / "precision_steps.json"


def parser() -> argparse.ArgumentParser:
    ap = bs.parser()
    ap.description = __doc__.split("\n\n")[0]
    for action in ap._actions:
        if action.dest == "json":
            action.default = DEFAULT_JSON
            action.help = "every row and raw timing (default benchmarks/precision_steps.json)"
        elif action.dest == "markdown":
            action.help = f'write the section "{HEADING[3:]}" into FILE'
        elif action.dest == "control":
            action.help = argparse.SUPPRESS  # the float32 pair is the reference here
    return ap


def mixed_spec(path: Path) -> Any:
    """The spec at ``path`` with ``dtype_policy: mixed_bfloat16`` added, checked as if it
    were that file (includes and ``weights:`` found from its folder)."""
    from modelspec.api import SpecModel
    from modelspec.check import check_text
    from modelspec.errors import SpecError
    from modelspec.lower.plan import plan
    from modelspec.source.project import find_project

    text = path.read_text(encoding="utf-8")
    text = f"{text.rstrip()}\ndtype_policy: {MIXED}\n"
    result = check_text(text, str(path), project=find_project(str(path)))
    if not result.ok:
        raise SpecError(result.errors)
    return SpecModel(result, plan(result))


def hand_under(policy: str, hand: Any) -> Any:
    """The hand-written model, built as a Keras user would: under the global policy."""
    import keras

    before = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(policy)
    try:
        return hand()
    finally:
        keras.config.set_dtype_policy(before)


# Layers whose dtype policy changes no number: a nested model (its layers carry their
# own policies) and the layers whose output dtype their kwargs fix (lookups, hashing).
MODEL_CLASSES = {"Functional", "Sequential", "Model"}


def policy_free(class_name: str) -> bool:
    from modelspec.catalog.base import LAYER_TYPES
    from modelspec.catalog.precision import takes_policy

    layer_type = LAYER_TYPES.get(class_name)
    return class_name in MODEL_CLASSES or (layer_type is not None and not takes_policy(layer_type))


def without_free_policies(config: Any, top: bool = True) -> Any:
    """``config`` less the ``dtype`` of the model itself and of every layer whose policy
    changes no number (:func:`policy_free`)."""
    if isinstance(config, list):
        return [without_free_policies(c, False) for c in config]
    if not isinstance(config, dict):
        return config
    out = {k: without_free_policies(v, False) for k, v in config.items()}
    if top:
        out.pop("dtype", None)
    inner = out.get("config")
    if isinstance(inner, dict) and policy_free(str(out.get("class_name"))):
        inner.pop("dtype", None)
    return out


def same_config(a: Any, b: Any) -> str | None:
    """``backend_steps.same_config``, less the policies that change no number: under a
    global policy Keras gives one to the model itself, to a nested model and to lookup
    layers, where modelspec gives it to every layer that computes (and a lookup keeps
    float32). Every other layer's policy is compared."""
    ca, cb = (without_free_policies(bs._canonical(m.get_config())) for m in (a, b))
    where = bs.first_difference(ca, cb)
    if where:
        return f"get_config() differs at {where}"
    where = bs.first_difference(a.get_compile_config(), b.get_compile_config())
    return f"the compile config differs at {where}" if where else None


def bench_spec(path: Path, backend: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """One spec on this process's backend, its four models: a row."""
    import numpy as np

    import modelspec
    from modelspec.errors import SpecError
    from modelspec.runtime.backend import unsupported
    from modelspec.runtime.equiv import _targets, sample_inputs

    row: dict[str, Any] = {"spec": path.stem, "backend": backend, "status": "skipped"}
    if cfg["quick"] and path.stem in bs.QUICK_SKIP and path.parent == ROOT / "specs":
        return {**row, "reason": bs.QUICK_SKIP[path.stem]}
    try:
        spec = modelspec.load(path)
        mixed = mixed_spec(path)
    except SpecError as exc:
        return {**row, "status": "error", "reason": f"does not load: {exc}"}
    refused = unsupported(spec.result, backend)
    if refused:
        return {**row, "reason": f"{refused[0].code}: {refused[0].message}"}
    hand = hand_models.BY_SPEC.get(path.stem) if path.parent == ROOT / "specs" else None
    if hand is None:
        return {**row, "reason": "no hand-written twin in benchmarks/hand_models.py"}
    builders = {
        "spec_f32": spec.to_keras,
        "hand_f32": lambda: hand_under("float32", hand),
        "spec_mixed": mixed.to_keras,
        "hand_mixed": lambda: hand_under(MIXED, hand),
    }
    models = {}
    try:
        for name in MODELS:
            bs._fresh()
            models[name] = builders[name]()
    except ImportError as exc:  # a layer Keras builds with TensorFlow only
        return {**row, "reason": f"Keras cannot build it on {backend}: {exc}"}
    seeded = spec.result.spec.seed is not None
    for a, b in (("spec_f32", "hand_f32"), ("spec_mixed", "hand_mixed")):
        problem = bs.same_weights(models[a], models[b], seeded)
        if problem:
            return {**row, "status": "error", "reason": f"{a} is not {b}: {problem}"}

    rng = np.random.default_rng(0)
    batch = cfg["batch_size"]
    x = sample_inputs(spec, batch, rng)
    y = _targets(spec, models["spec_f32"](x, training=False), rng)
    first, steps, wall, _ = bs.time_steps(models, list(MODELS), x, y, cfg, f"{backend} {path.stem}")
    for a, b in (("spec_f32", "hand_f32"), ("spec_mixed", "hand_mixed")):
        problem = same_config(models[a], models[b])
        if problem:
            return {**row, "status": "error", "reason": f"{a} is not {b}: {problem}"}
    med = {n: statistics.median(wall[n]) for n in MODELS}
    row.update({
        "status": "ok", "batch": batch, "steps": steps, "blocks": cfg["repeat"],
        "first_s": first, "wall_s": wall, "ms": {n: med[n] * 1000 for n in MODELS},
        "ratio_f32": med["spec_f32"] / med["hand_f32"],
        "ratio_mixed": med["spec_mixed"] / med["hand_mixed"],
        "gain_spec": med["spec_mixed"] / med["spec_f32"],
        "gain_hand": med["hand_mixed"] / med["hand_f32"],
        "params": models["hand_f32"].count_params(),
    })  # fmt: skip
    log(f"{backend} {path.stem}: float32 {row['ms']['spec_f32']:.2f} ms (ratio "
        f"{row['ratio_f32']:.3f}), {MIXED} {row['ms']['spec_mixed']:.2f} ms (ratio "
        f"{row['ratio_mixed']:.3f}); mixed / float32 {row['gain_spec']:.3f}")  # fmt: skip
    del models
    bs._fresh()
    return row


def child(args: argparse.Namespace) -> None:
    """In the backend's own process: every spec, rows to ``--child-out``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from modelspec.runtime.quiet import quiet_import

    keras = quiet_import("keras")
    backend = keras.backend.backend()
    if backend != args.child:
        raise SystemExit(f"Keras runs on {backend}, not {args.child}")
    if backend == "torch" and args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    cfg = bs.settings(args)
    device, detail = bs.device_of(keras)
    out: dict[str, Any] = {"backend": backend, "device": device, "device_detail": detail,
                           "rows": []}  # fmt: skip
    log(f"{backend}: {detail}")
    started = time.perf_counter()
    for path in bs.select(args.specs):
        try:
            row = bench_spec(path, backend, cfg)
        except Exception as exc:  # one spec's failure is a row; the run goes on
            row = {"spec": path.stem, "backend": backend, "status": "error",
                   "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}  # fmt: skip
            bs._fresh()
        row["device"] = device
        out["rows"].append(row)
        args.child_out.write_text(json.dumps(out), encoding="utf-8")
    out["elapsed_s"] = time.perf_counter() - started
    args.child_out.write_text(json.dumps(out), encoding="utf-8")


def table(res: dict[str, Any]) -> str:
    """One backend's rows as a markdown table, then its skipped specs."""
    if res.get("skipped"):
        return f"Not run: {res['skipped']}."
    rows = [r for r in res["rows"] if r["status"] == "ok"]
    lines = []
    if rows:
        lines += [
            "| spec | device | batch | steps x blocks | float32 spec ms | float32 hand ms "
            f"| spec / hand | {MIXED} spec ms | {MIXED} hand ms | spec / hand "
            "| mixed / float32, spec | mixed / float32, hand |",
            "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            ms = r["ms"]
            lines.append(
                f"| {r['spec']} | {r['device']} | {r['batch']} | {r['steps']} x {r['blocks']} "
                f"| {bs.fmt_ms(ms['spec_f32'])} | {bs.fmt_ms(ms['hand_f32'])} "
                f"| **{r['ratio_f32']:.3f}** | {bs.fmt_ms(ms['spec_mixed'])} "
                f"| {bs.fmt_ms(ms['hand_mixed'])} | **{r['ratio_mixed']:.3f}** "
                f"| {r['gain_spec']:.2f} | {r['gain_hand']:.2f} |"
            )
    others = [r for r in res["rows"] if r["status"] != "ok"]
    if others:
        lines += ["", *(f"- {r['spec']}: {r['status']}: {r['reason']}" for r in others)]
    if res.get("failed"):
        lines += ["", f"The {res['backend']} process stopped early: {res['failed']}."]
    return "\n".join(lines).strip() or "No spec ran."


def summary(res: dict[str, Any]) -> str:
    rows = [r for r in res["rows"] if r["status"] == "ok"]
    if not rows:
        return f"- {res['backend']}: {res.get('skipped') or 'no spec ran'}"

    def span(key: str) -> str:
        values = [r[key] for r in rows]
        return (f"median {statistics.median(values):.3f} ({min(values):.3f} to "
                f"{max(values):.3f})")  # fmt: skip

    return (f"- {res['backend']} ({rows[0]['device']}, {len(rows)} specs): spec / hand in "
            f"float32 {span('ratio_f32')}, in {MIXED} {span('ratio_mixed')}; "
            f"{MIXED} / float32 step time {span('gain_spec')} built from the spec, "
            f"{span('gain_hand')} by hand")  # fmt: skip


def command_line(argv: list[str]) -> str:
    import shlex

    return shlex.join([".venv/bin/python", "benchmarks/precision_steps.py", *argv])


def markers(kind: str) -> tuple[str, str]:
    return f"<!-- precision-steps:{kind}:start -->", f"<!-- precision-steps:{kind}:end -->"


def run_block(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["settings"]
    per_backend = "\n\n".join(
        f"#### {res['backend']}\n\n{bs._device_line(res)}{table(res)}" for res in report["backends"]
    )
    steps = (f"{s['steps']} calls" if s["steps"] else
             f"as many calls as fill {s['block_s']:g} s (at the warm-up's pace, 1 to "
             f"{bs.MAX_STEPS})")  # fmt: skip
    other = "a GPU" if bs.kind_of(report) == "cpu" else "a CPU only"
    return f"""### {bs.KINDS[bs.kind_of(report)]}

Generated by `{report["command"]}` ({report["elapsed_s"] / 60:.1f} min). Do not edit by
hand: run it again. The same command on a machine with {other} fills in the other part.

- **machine**: {m.get("cpu", "?")}, {m.get("cores", "?")}, {m.get("memory", "?")}
- **packages**: {m.get("packages", "?")}
- **commit**: {m.get("commit", "?")}
- **date**: {m.get("date", "?")}
- **load average**: {report["load_before"]} at the start, {report["load_after"]} at the end

{chr(10).join(summary(res) for res in report["backends"])}

One fixed batch of {s["batch_size"]}; the first call and {s["warmup"]} more untimed; then
{s["repeat"]} blocks of {steps} per model, the four models alternating, the order
rotating every block.

{per_backend}
"""


def placeholder(kind: str, command: str) -> str:
    where = "with a GPU" if kind == "gpu" else "without one"
    return f"""### {bs.KINDS[kind]}

Not measured yet: run `{command}` on a machine {where} (each backend trains on the GPU
when it sees one).
"""


INTRO = f"""{HEADING}

Generated by `benchmarks/precision_steps.py`: the training step of every shipped spec
in float32 and with `dtype_policy: {MIXED}` added, built by `spec.to_keras()`, against
the same model written by hand in Keras (`benchmarks/hand_models.py`) built under
`keras.config.set_dtype_policy(...)`, on every installed backend, each in a process of
its own. Each pair is checked to be the same model (weights, `get_config()` with every
computing layer's dtype policy; the model's own, a nested model's and a lookup layer's,
which change no number, are left out). ms/step: medians over the blocks; spec / hand: the ratio of the medians
in one precision (target 1.00 +- 0.03, as in float32); mixed / float32: the step time in
{MIXED} over float32 (below 1: mixed precision is faster). All four models are timed
in the same run, alternating. Measured, never asserted by a test.
"""


def write_section(text: str, report: dict[str, Any], command: str) -> str:
    return bs.write_section(text, report, command, sys.modules[__name__])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    if args.child:
        child(args)
        return
    for flag, value in {"--repeat": args.repeat, "--steps": args.steps,
                        "--batch-size": args.batch_size}.items():  # fmt: skip
        if value is not None and value < 1:
            raise SystemExit(f"{flag} must be at least 1")
    bs.select(args.specs)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "command": command_line(argv), "machine": common.machine(),
        "settings": bs.settings(args), "load_before": common.loadavg(), "backends": [],
    }  # fmt: skip
    script = Path(__file__).resolve()
    with tempfile.TemporaryDirectory(prefix="modelspec-precision-steps-") as tmp:
        for backend in args.backends:
            res = run_backend(script, backend, bs.child_argv(args), Path(tmp), args.timeout)
            report["backends"].append(res)
            print(f"\n{backend}\n\n{table(res)}\n", flush=True)
    report["load_after"] = common.loadavg()
    report["elapsed_s"] = time.perf_counter() - started
    report["kind"] = bs.kind_of(report)
    print("\n".join(summary(res) for res in report["backends"]))
    args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    log(f"wrote {args.json}")
    if args.markdown:
        text = args.markdown.read_text(encoding="utf-8") if args.markdown.exists() else ""
        args.markdown.write_text(write_section(text, report, report["command"]), encoding="utf-8")
        log(f"wrote the section into {args.markdown}")


def run_backend(script: Path, backend: str, argv: list[str], tmp: Path, timeout: float) -> dict:
    """``backend``'s process, running this script: its rows, or why there are none."""
    import subprocess

    reason = bs.missing_package(backend)
    if reason:
        log(f"{backend}: skipped, {reason}")
        return {"backend": backend, "skipped": reason, "rows": []}
    out_file = tmp / f"{backend}.json"
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, str(script), *argv, "--child", backend, "--child-out", str(out_file)]
    log(f"{backend}: a process of its own")
    try:
        rc = subprocess.run(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                            timeout=timeout).returncode  # fmt: skip
    except subprocess.TimeoutExpired:
        rc = 124
    res = json.loads(out_file.read_text(encoding="utf-8")) if out_file.exists() else {
        "backend": backend, "rows": []}  # fmt: skip
    if rc != 0:
        res["failed"] = f"the process exited with code {rc}" + (" (timed out)" if rc == 124 else "")
    return res


if __name__ == "__main__":
    main()
