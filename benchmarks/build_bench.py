"""Benchmark: building models from specs, against the same models written by hand in Keras.

    .venv/bin/python benchmarks/build_bench.py            # about 10 minutes on 2 cores
    .venv/bin/python benchmarks/build_bench.py --quick    # fewer rounds, about 5 minutes

Three targets (issue "Performance (benchmark script, ratios in the same run)"):

1. **Instantiation.** ``spec.to_keras()`` (spec loaded, plan made) takes at most 1.10x
   the time of building the same model with hand-written Keras code
   (benchmarks/hand_models.py). Also timed, for the record: the module that
   ``modelspec build`` generates (its ``build_model()``, exec'd once), and
   ``modelspec.load(path).to_keras()`` end to end. Every build starts after
   ``keras.backend.clear_session()`` and ``gc.collect()`` (untimed, the same for all),
   the builds of one model are interleaved (the order rotates every round), after one
   untimed warm-up each; medians. First, each model is checked to be the same: equal
   ``get_config()`` and compile config, and equal initial weights for seeded specs.
   A model whose ratio is over the target is profiled (cProfile, one build of each).
2. **Training step.** ``train_on_batch`` step time of the ``to_keras()`` model over
   the hand-written one's: 1.00 +- 0.03. Same data, same batch; the first calls (the
   trace) are excluded; blocks of N steps alternate between the two models; medians
   of the per-step time of each block.
3. **``modelspec build`` of a 200-layer spec** (benchmarks/specgen.py): under 0.5 s as a
   whole process, next to ``modelspec lint`` of the same spec, interleaved, after a
   warm-up, with the bytecode cache on (as benchmarks/run.py does). A wrapper
   process checks that no TensorFlow, Keras or NumPy ends up in ``sys.modules``, and
   ``-X importtime`` shows what ``build`` imports beyond ``lint``.

Writes the "Building models" section of benchmarks/RESULTS.md (between
``<!-- build-bench:start -->`` and ``<!-- build-bench:end -->``; run.py keeps it) and the
matching block of benchmarks/README.md, and prints the tables.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import hashlib
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402
import hand_models  # noqa: E402
import specgen  # noqa: E402
from common import Series, loadavg, log, machine  # noqa: E402

TARGET_INSTANTIATE = 1.10
TARGET_TRAIN = 0.03  # |ratio - 1| at most this
TARGET_BUILD_S = 0.5
BUILD_LAYERS = 200
CHAIN_LAYERS = 200
WARMUP_STEPS = 10  # train_on_batch calls after the first (the trace), untimed
HEAVY = common.HEAVY
SECTION = ("<!-- build-bench:start -->", "<!-- build-bench:end -->")
README_SECTION = ("<!-- build-bench-latest:start -->", "<!-- build-bench-latest:end -->")


def fmt_t(x: float | None) -> str:
    """Seconds, with the digits that matter at each scale."""
    if x is None:
        return "-"
    if x >= 1:
        return f"{x:.2f} s"
    ms = x * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def fmt_series(s: Series) -> str:
    if not s.wall:
        return "-"
    return f"{fmt_t(s.median)} ({fmt_t(min(s.wall))}–{fmt_t(max(s.wall))})"


def paired_ratio(a: Series, b: Series) -> float:
    """The median of the per-round ratios a/b (the rounds are interleaved)."""
    return statistics.median(x / y for x, y in zip(a.wall, b.wall))


def ratios(a: Series, b: Series) -> tuple[float, float, float]:
    """a/b: of the medians (the headline), paired per round, and of the CPU-time medians."""
    return a.median / b.median, paired_ratio(a, b), a.cpu_median / b.cpu_median


# --- 3. `modelspec build` as a whole process -------------------------------------------------

WRAPPER = common.process_wrapper(HEAVY)


def package_import_times(cmd: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    """``-X importtime`` of ``cmd``: median self time (ms) per top-level package."""
    per: dict[str, list[float]] = {}
    for _ in range(runs):
        r = common.run([cmd[0], "-X", "importtime", *cmd[1:]], env, keep=True)
        sums: dict[str, float] = {}
        seen: set[str] = set()
        for name, _depth, self_us, _cum in common.parse_importtime(r.err):
            if name not in seen:
                seen.add(name)
                top = name.split(".")[0]
                sums[top] = sums.get(top, 0.0) + self_us / 1000
        for top, ms in sums.items():
            per.setdefault(top, []).append(ms)
    return {k: statistics.median(v) for k, v in per.items()}


def bench_cli(tmp: Path, runs: int, timed: dict | None = None) -> dict:
    """``modelspec build`` and ``lint`` of specgen specs as whole processes.

    ``timed``: the timings benchmarks/run.py already took in its own interleaved rounds
    (``{"runs": N, "series": {(layers, "build"|"lint"): Series}, "digests": {layers:
    set of sha256}}``, the outputs in ``tmp/bench_LAYERS.py``); only the import checks
    are then run here, so that one run reports one number for each thing.
    """
    py = sys.executable
    script = Path(py).parent / "modelspec"
    cli = [py, str(script)] if script.exists() else [py, "-m", "modelspec"]
    env = common.bench_env(tmp)
    sizes = (BUILD_LAYERS, 2000)
    specs = {n: specgen.write(tmp, n) for n in sizes}
    cmds = {
        (n, what): (
            [*cli, "build", str(specs[n]), "-o", str(tmp / f"bench_{n}.py")]
            if what == "build"
            else [*cli, "lint", str(specs[n])]
        )
        for n in sizes
        for what in ("build", "lint")
    }
    if timed is not None:
        runs = timed["runs"]
        series = {key: timed["series"][key] for key in cmds}
        digests: dict[int, set[str]] = {n: timed["digests"][n] for n in sizes}
    else:
        for n in sizes:
            common.verify(specs[n], n, cli, env)
        series = {key: Series() for key in cmds}
        digests = {n: set() for n in sizes}
        for cmd in cmds.values():  # warm-up: fills the bytecode cache
            common.run(cmd, env)
        for r in range(runs):
            log(f"CLI round {r + 1}/{runs}")
            for (n, what), cmd in cmds.items():
                x = common.run(cmd, env)
                if x.rc != 0:
                    raise SystemExit(f"{' '.join(cmd)} failed (rc {x.rc}):\n{x.err}")
                series[(n, what)].add(x.wall, x.cpu)
                if what == "build":
                    digests[n].add(hashlib.sha256((tmp / f"bench_{n}.py").read_bytes()).hexdigest())
    out200 = tmp / f"bench_{BUILD_LAYERS}.py"
    generated = out200.read_text(encoding="utf-8")
    compile(generated, str(out200), "exec")

    # What a build imports: the wrapper's sys.modules, and -X importtime.
    x = common.run([py, "-c", WRAPPER, "build", str(specs[BUILD_LAYERS]), "-o",
                        str(tmp / "heavy.py")], env, keep=True)  # fmt: skip
    marks = [ln for ln in x.err.splitlines() if ln.startswith("MODULES-LOADED:")]
    if x.rc != 0 or not marks:
        raise SystemExit(f"the sys.modules check of `modelspec build` failed:\n{x.err}")
    heavy = json.loads(marks[-1].removeprefix("MODULES-LOADED:"))
    it_runs = min(runs, 5)
    build_pkgs = package_import_times(cmds[(BUILD_LAYERS, "build")], env, it_runs)
    lint_pkgs = package_import_times(cmds[(BUILD_LAYERS, "lint")], env, it_runs)
    heavy_importtime = sorted(p for p in build_pkgs if p in HEAVY)
    return {
        "runs": runs,
        "series": {f"{n}/{w}": s for (n, w), s in series.items()},
        "layers": list(sizes),
        "deterministic": {n: len(d) == 1 for n, d in digests.items()},
        "generated_lines": generated.count("\n"),
        "heavy_sys_modules": heavy,
        "heavy_importtime": heavy_importtime,
        "importtime_runs": it_runs,
        "build_import_ms": sum(build_pkgs.values()),
        "lint_import_ms": sum(lint_pkgs.values()),
        "build_only_packages": sorted(
            ((p, ms) for p, ms in build_pkgs.items() if p not in lint_pkgs), key=lambda t: -t[1]
        ),
    }


# --- 1. instantiation ------------------------------------------------------------------------


@dataclass
class Case:
    key: str
    title: str
    spec: Path
    form: str
    hands: dict[str, Callable[[], Any]]  # label -> builder; the first is the main reference
    weight: float = 1.0  # share of the rounds (slow builds run fewer)
    end_to_end: bool = True
    seeded: bool = True


def cases(tmp: Path, n: int = CHAIN_LAYERS) -> list[Case]:
    chain = tmp / f"dense_chain_{n}.yaml"
    chain.write_text(specgen.dense_chain(n), encoding="utf-8")
    seq_list, seq_add = "`Sequential([...])`", "`model.add()` loop"
    chain_list, chain_add, chain_functional = (
        functools.partial(f, n)
        for f in (hand_models.dense_chain_list, hand_models.dense_chain_add,
                  hand_models.dense_chain_functional)
    )  # fmt: skip
    return [
        Case("mlp", "seed_001_mlp (Sequential, 4 layers)", ROOT / "specs/seed_001_mlp.yaml",
             "auto", {seq_list: hand_models.mlp_list, seq_add: hand_models.mlp_add}, weight=1.5),
        Case("conv_lstm", "seed_002_conv_lstm (Sequential, 7 layers)",
             ROOT / "specs/seed_002_conv_lstm.yaml", "auto",
             {seq_list: hand_models.conv_lstm_list, seq_add: hand_models.conv_lstm_add},
             weight=1.5),
        Case("shared_tower", "seed_000_shared_tower (Functional, 7 shared layers, 50 M params)",
             ROOT / "specs/seed_000_shared_tower.yaml", "auto",
             {"Functional": hand_models.shared_tower}, weight=0.75),
        Case("chain_functional", f"Dense chain, {n} layers (Functional)", chain,
             "functional", {"Functional loop": chain_functional},
             weight=0.75, seeded=False),
        # By hand with model.add(), ~10 s a build at 200 layers (Keras rebuilds the model
        # after every add), so fewer rounds.
        Case("chain_sequential", f"Dense chain, {n} layers (Sequential)", chain,
             "sequential", {seq_list: chain_list, seq_add: chain_add},
             weight=0.4, seeded=False),
    ]  # fmt: skip


def _fresh() -> None:
    import keras

    keras.backend.clear_session()
    gc.collect()


def same_model(builders: dict[str, Callable[[], Any]], seeded: bool) -> str | None:
    """None if every builder gives the same config, compile config (and seeded weights)."""
    import numpy as np

    ref_name, ref = None, None
    for name, build in builders.items():
        _fresh()
        m = build()
        facts = (m.get_config(), m.get_compile_config(),
                 [(w.shape, w.numpy() if seeded else None) for w in m.weights])  # fmt: skip
        if ref is None:
            ref_name, ref = name, facts
            continue
        if facts[0] != ref[0]:
            return f"{name}: get_config() differs from {ref_name}'s"
        if facts[1] != ref[1]:
            return f"{name}: compile config differs from {ref_name}'s"
        if len(facts[2]) != len(ref[2]) or any(
            a[0] != b[0] or (seeded and not np.array_equal(a[1], b[1]))
            for a, b in zip(facts[2], ref[2])
        ):
            return f"{name}: weights differ from {ref_name}'s"
    return None


def bench_instantiate(case_list: list[Case], runs: int) -> dict:
    import modelspec

    out: dict[str, dict] = {}
    for case in case_list:
        spec = modelspec.load(case.spec)
        namespace: dict[str, Any] = {}
        exec(compile(spec.to_python(case.form), f"<generated {case.spec.name}>", "exec"), namespace)
        variants: dict[str, Callable[[], Any]] = {
            "to_keras": lambda spec=spec, case=case: spec.to_keras(case.form),
            "generated": namespace["build_model"],
        }
        if case.end_to_end:
            variants["load_to_keras"] = lambda case=case: modelspec.load(case.spec).to_keras(
                case.form
            )
        for label, fn in case.hands.items():
            variants[f"hand:{label}"] = fn
        # Also the untimed warm-up: one build of each (first-use imports and caches).
        log(f"{case.key}: checking that every build gives the same model")
        problem = same_model(variants, case.seeded)
        if problem:
            raise SystemExit(f"{case.title}: not the same model: {problem}")
        rounds = max(2, round(runs * case.weight))
        series = {name: Series() for name in variants}
        names = list(variants)
        for r in range(rounds):
            log(f"{case.key}: round {r + 1}/{rounds}")
            k = r % len(names)
            for name in names[k:] + names[:k]:
                _fresh()
                t0 = time.perf_counter()
                c0 = time.process_time()
                model = variants[name]()
                series[name].add(time.perf_counter() - t0, time.process_time() - c0)
                del model
        _fresh()
        load = Series()
        for _ in range(5):
            t0 = time.perf_counter()
            modelspec.load(case.spec)
            load.add(time.perf_counter() - t0)
        out[case.key] = {"title": case.title, "rounds": rounds, "series": series, "load": load,
                         "hands": list(case.hands), "layers": len(spec.plan.layers)}  # fmt: skip
    return out


def _stats_of(fn: Callable[[], Any]) -> tuple[pstats.Stats, float]:
    _fresh()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    fn()
    prof.disable()
    return pstats.Stats(prof), time.perf_counter() - t0


def _calls(stats: pstats.Stats, file_end: str, func: str) -> int:
    return sum(v[1] for (f, _line, fn), v in stats.stats.items()
               if f.replace("\\", "/").endswith(file_end) and fn == func)  # fmt: skip


def profile_case(case: Case, reference: str) -> dict:
    """cProfile of one ``to_keras()`` and one hand-written build of ``case``."""
    import modelspec

    spec = modelspec.load(case.spec)
    result: dict[str, Any] = {"reference": reference}
    for side, fn in (("to_keras", lambda: spec.to_keras(case.form)),
                     ("hand", case.hands[reference])):  # fmt: skip
        stats, wall = _stats_of(fn)
        own = [(f"{Path(f).name}:{line}({fn_})", v[1], v[2], v[3])
               for (f, line, fn_), v in stats.stats.items()
               if "/modelspec/" in f.replace("\\", "/")]  # fmt: skip
        own.sort(key=lambda t: -t[3])
        result[side] = {
            "profiled_s": wall,
            "layer_calls": _calls(stats, "keras/src/layers/layer.py", "__call__"),
            "sequential_rebuilds": _calls(stats, "keras/src/models/sequential.py", "build"),
            "modelspec_own_s": sum(t[2] for t in own),
            "modelspec_frames": own[:8],
        }
        buf = io.StringIO()
        stats.stream = buf
        stats.strip_dirs().sort_stats("cumulative").print_stats(14)
        result[side]["table"] = common.pstats_rows(buf.getvalue())
    return result


# --- 2. training step --------------------------------------------------------------------------


@dataclass
class TrainCase:
    key: str
    title: str
    spec: Path
    form: str
    hand: Callable[[], Any]
    batch: int
    steps: int  # train_on_batch calls per timed block
    data: Callable[[Any, int], tuple[Any, Any]]
    weight: float = 1.0
    extra: dict = field(default_factory=dict)


def train_cases(tmp: Path, n: int = CHAIN_LAYERS) -> list[TrainCase]:
    chain = tmp / f"dense_chain_{n}.yaml"  # written by cases()

    def mlp(rng, b):
        return rng.random((b, 4096), dtype="float32"), rng.random((b, 200), dtype="float32")

    def conv_lstm(rng, b):
        return rng.random((b, 30, 2), dtype="float32"), rng.random((b, 1, 2), dtype="float32")

    def tower(rng, b):
        import numpy as np

        x = {k: rng.integers(1, 100_000, (b, 20)).astype("int32")
             for k in ("labeled_1", "labeled_2")}  # fmt: skip
        y = {k: np.eye(5, dtype="float32")[rng.integers(0, 5, b)] for k in ("lab_1", "lab_2")}
        return x, y

    def dense_chain(rng, b):
        return rng.random((b, 64), dtype="float32"), rng.integers(0, 10, (b,)).astype("int32")

    return [
        TrainCase("mlp", "seed_001_mlp", ROOT / "specs/seed_001_mlp.yaml", "auto",
                  hand_models.mlp_list, 32, 20, mlp, weight=1.5),
        TrainCase("conv_lstm", "seed_002_conv_lstm", ROOT / "specs/seed_002_conv_lstm.yaml",
                  "auto", hand_models.conv_lstm_list, 32, 20, conv_lstm, weight=1.5),
        TrainCase("shared_tower", "seed_000_shared_tower (sequences of 20 tokens)",
                  ROOT / "specs/seed_000_shared_tower.yaml", "auto", hand_models.shared_tower,
                  256, 3, tower, weight=0.5),
        TrainCase("chain_functional", f"Dense chain, {n} layers (Functional)", chain,
                  "functional", functools.partial(hand_models.dense_chain_functional, n), 32, 20,
                  dense_chain),
    ]  # fmt: skip


def bench_train(case_list: list[TrainCase], runs: int) -> dict:
    import numpy as np

    import modelspec

    out: dict[str, dict] = {}
    for case in case_list:
        _fresh()
        # "control": the hand-written model once more, an A/A pair that shows the noise floor.
        models = {
            "to_keras": modelspec.load(case.spec).to_keras(case.form),
            "hand": case.hand(),
            "control": case.hand(),
        }
        x, y = case.data(np.random.default_rng(0), case.batch)
        first: dict[str, float] = {}
        for name, m in models.items():
            log(f"train {case.key}: warm-up of {name} (trace)")
            t0 = time.perf_counter()
            m.train_on_batch(x, y)
            first[name] = time.perf_counter() - t0
            for _ in range(WARMUP_STEPS):
                m.train_on_batch(x, y)
        rounds = max(3, round(runs * case.weight))
        series = {name: Series() for name in models}
        names = list(models)
        for r in range(rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                m = models[name]
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(case.steps):
                    m.train_on_batch(x, y)
                series[name].add((time.perf_counter() - t0) / case.steps,
                                 (time.process_time() - c0) / case.steps)  # fmt: skip
        out[case.key] = {
            "title": case.title, "batch": case.batch, "steps": case.steps, "rounds": rounds,
            "series": series, "first_call_s": first,
            "jit_compile": {name: bool(models[name].jit_compile) for name in ("to_keras", "hand")},
        }  # fmt: skip
        log(f"train {case.key}: to_keras {fmt_t(series['to_keras'].median)}/step, "
            f"hand {fmt_t(series['hand'].median)}/step")  # fmt: skip
        del models
    _fresh()
    return out


# --- report ---------------------------------------------------------------------------------------


def ok(b: bool) -> str:
    return "**met**" if b else "**NOT met**"


def analyse(res: dict) -> dict:
    """Ratios and verdicts."""
    verdicts: dict[str, Any] = {}
    inst = res.get("instantiate")
    if inst:
        worst = []
        for key, c in inst.items():
            s = c["series"]
            c["ratios"] = {}
            for label in c["hands"]:
                h = s[f"hand:{label}"]
                c["ratios"][label] = {
                    v: ratios(s[v], h) for v in ("to_keras", "generated", "load_to_keras") if v in s
                }
            fastest = min(c["hands"], key=lambda lb: s[f"hand:{lb}"].median)
            c["fastest_hand"] = fastest
            worst.append((c["ratios"][fastest]["to_keras"][0], key, fastest))
        verdicts["instantiate"] = {
            "by_case": {k: r <= TARGET_INSTANTIATE for r, k, _ in worst},
            "worst": max(worst),
            "met": all(r <= TARGET_INSTANTIATE for r, _, _ in worst),
        }
    train = res.get("train")
    if train:
        for c in train.values():
            s = c["series"]
            c["ratio"], c["paired"], c["cpu_ratio"] = ratios(s["to_keras"], s["hand"])
            c["control"] = ratios(s["control"], s["hand"])
        verdicts["train"] = {
            "by_case": {k: abs(c["ratio"] - 1) <= TARGET_TRAIN for k, c in train.items()},
        }
        verdicts["train"]["met"] = all(verdicts["train"]["by_case"].values())
    cli = res.get("cli")
    if cli:
        b = cli["series"][f"{BUILD_LAYERS}/build"].median
        verdicts["build"] = {
            "time": b <= TARGET_BUILD_S,
            "no_tf": not cli["heavy_sys_modules"] and not cli["heavy_importtime"],
        }
        verdicts["build"]["met"] = verdicts["build"]["time"] and verdicts["build"]["no_tf"]
    return verdicts


def tables(res: dict, v: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    inst = res.get("instantiate")
    if inst:
        rows = [
            "| model | hand-written reference | hand-written | `to_keras()` | ratio | generated "
            "`build_model()` | ratio | `load()` + `to_keras()` | ratio |",
            "|---|---|---|---|---:|---|---:|---|---:|",
        ]

        def cell(r: dict, v_: str) -> str:
            return f"**{r[v_][0]:.2f}** ({r[v_][1]:.2f}; {r[v_][2]:.2f})" if v_ in r else "-"

        for c in inst.values():
            s = c["series"]
            for label in c["hands"]:
                r = c["ratios"][label]
                mark = " (fastest)" if len(c["hands"]) > 1 and label == c["fastest_hand"] else ""
                rows.append(
                    f"| {c['title']}, {c['rounds']} rounds | {label}{mark} "
                    f"| {fmt_series(s[f'hand:{label}'])} | {fmt_series(s['to_keras'])} "
                    f"| {cell(r, 'to_keras')} | {fmt_series(s['generated'])} | {cell(r, 'generated')} "
                    f"| {fmt_series(s['load_to_keras']) if 'load_to_keras' in s else '-'} "
                    f"| {cell(r, 'load_to_keras')} |"
                )
        out["instantiate"] = "\n".join(rows)
    train = res.get("train")
    if train:
        rows = [
            "| model | batch | steps per block x blocks | hand-written step | `to_keras()` step "
            "| ratio | paired | CPU | A/A control | first call (trace), to_keras / hand | XLA |",
            "|---|---:|---|---|---|---:|---:|---:|---|---|---|",
        ]
        for c in train.values():
            s = c["series"]
            jit = c["jit_compile"]
            rows.append(
                f"| {c['title']} | {c['batch']} | {c['steps']} x {c['rounds']} "
                f"| {fmt_series(s['hand'])} | {fmt_series(s['to_keras'])} | **{c['ratio']:.3f}** "
                f"| {c['paired']:.3f} | {c['cpu_ratio']:.3f} | {c['control'][0]:.3f} "
                f"({c['control'][1]:.3f}; {c['control'][2]:.3f}) "
                f"| {fmt_t(c['first_call_s']['to_keras'])} / "
                f"{fmt_t(c['first_call_s']['hand'])} "
                f"| {'on' if jit['to_keras'] else 'off'} / {'on' if jit['hand'] else 'off'} |"
            )
        out["train"] = "\n".join(rows)
    cli = res.get("cli")
    if cli:
        rows = [
            "| spec | `modelspec build SPEC -o OUT.py` | CPU | `modelspec lint SPEC` | CPU "
            "| build - lint |",
            "|---|---|---:|---|---:|---:|",
        ]
        for n in cli["layers"]:
            b, li = cli["series"][f"{n}/build"], cli["series"][f"{n}/lint"]
            rows.append(
                f"| {n:,} layers (specgen) | {fmt_series(b)} | {fmt_t(b.cpu_median)} "
                f"| {fmt_series(li)} | {fmt_t(li.cpu_median)} | {fmt_t(b.median - li.median)} |"
            )
        out["cli"] = "\n".join(rows)
    return out


def verdict_lines(res: dict, v: dict) -> str:
    lines = []
    if "instantiate" in v:
        r, key, label = v["instantiate"]["worst"]
        inst = res["instantiate"]
        per = "; ".join(
            f"{k} {r_[0]:.2f} (paired {r_[1]:.2f})"
            for k, c in inst.items()
            for r_ in [c["ratios"][c["fastest_hand"]]["to_keras"]]
        )
        lines.append(
            f"- `to_keras()` / hand-written <= {TARGET_INSTANTIATE:.2f} for every model, against "
            f"the fastest hand-written way ({per}): worst {r:.2f} ({key}, {label}) -> "
            f"{ok(v['instantiate']['met'])}"
        )
    if "train" in v:
        per = "; ".join(
            f"{k} {c['ratio']:.3f} (paired {c['paired']:.3f}, CPU {c['cpu_ratio']:.3f})"
            for k, c in res["train"].items()
        )
        control = "; ".join(
            f"{k} {c['control'][0]:.3f} (paired {c['control'][1]:.3f})"
            for k, c in res["train"].items()
        )
        lines.append(
            f"- training step, `to_keras()` / hand-written = 1.00 +- {TARGET_TRAIN:.2f}, ratio of "
            f"the medians ({per}) -> {ok(v['train']['met'])}; A/A control, the hand-written "
            f"model against a second copy of itself: {control}"
        )
    if "build" in v:
        cli = res["cli"]
        b = cli["series"][f"{BUILD_LAYERS}/build"].median
        lines.append(
            f"- `modelspec build` of {BUILD_LAYERS} layers < {TARGET_BUILD_S} s, whole process: "
            f"{fmt_t(b)} -> {ok(v['build']['time'])}; imports no TensorFlow/Keras/NumPy "
            f"(sys.modules: {cli['heavy_sys_modules'] or 'none'}; -X importtime: "
            f"{cli['heavy_importtime'] or 'none'}) -> {ok(v['build']['no_tf'])}"
        )
    return "\n".join(lines)


def profile_md(profiles: dict, res: dict) -> str:
    if not profiles:
        return "No model is over the target: nothing profiled."
    parts = []
    for key, p in profiles.items():
        tk, hd = p["to_keras"], p["hand"]
        frames = "\n".join(
            f"| `{name}` | {calls} | {fmt_t(tt)} | {fmt_t(ct)} |"
            for name, calls, tt, ct in tk["modelspec_frames"]
        )
        parts.append(
            f"### {res['instantiate'][key]['title']}: `to_keras()` vs hand-written "
            f"{p['reference']}\n\n"
            f"| | `to_keras()` | hand-written |\n|---|---:|---:|\n"
            f"| wall time under cProfile | {fmt_t(tk['profiled_s'])} | {fmt_t(hd['profiled_s'])} |\n"
            f"| Keras `Layer.__call__` calls | {tk['layer_calls']:,} | {hd['layer_calls']:,} |\n"
            f"| `Sequential.build` calls (rebuilds) | {tk['sequential_rebuilds']:,} "
            f"| {hd['sequential_rebuilds']:,} |\n"
            f"| own time of modelspec's functions | {fmt_t(tk['modelspec_own_s'])} | - |\n\n"
            f"modelspec's functions in the `to_keras()` profile, by cumulative time:\n\n"
            f"| function | calls | own | cumulative |\n|---|---:|---:|---:|\n{frames}\n\n"
            f"`to_keras()`, top 14 by cumulative time:\n\n```\n{tk['table']}\n```\n"
        )
    return "\n".join(parts)


def build_section(res: dict, v: dict) -> tuple[str, str]:
    t = tables(res, v)
    m = res["machine"]
    machine_md = "\n".join(f"- **{k}**: {val}" for k, val in m.items())
    cli = res.get("cli", {})
    inst_note = ""
    if "instantiate" in res:
        loads = "; ".join(f"{k} {fmt_t(c['load'].median)}" for k, c in res["instantiate"].items())
        inst_note = (
            f"Ratios are of wall-time medians; in brackets, the median of the per-round ratios "
            f"(the builds alternate, so each round pairs them), then the ratio of the CPU-time "
            f"medians (process time, which moves less when other jobs share the machine). "
            f"The target is checked against the fastest hand-written way (the lowest median). "
            f"`modelspec.load()` alone (check + "
            f"plan): {loads}. Keras import in this process: {fmt_t(res.get('keras_import_s'))}. "
            f"Each model was checked first: every build gives the same `get_config()` and "
            f"compile config, and for the seeded specs the same initial weights."
        )
    cli_note = ""
    if cli:
        det = ", ".join(f"{n:,}: {'yes' if d else 'NO'}" for n, d in cli["deterministic"].items())
        extra = ", ".join(f"`{p}` {ms:.1f} ms" for p, ms in cli["build_only_packages"][:8])
        cli_note = (
            f"{cli['runs']} interleaved runs after a warm-up, bytecode cached in a temporary "
            f"`PYTHONPYCACHEPREFIX` (PYTHONDONTWRITEBYTECODE unset). The generated module "
            f"({cli['generated_lines']:,} lines for {BUILD_LAYERS} layers) compiles, and is "
            f"byte-identical across runs ({det}).\n\n"
            f"Imports, by `-X importtime` (median of {cli['importtime_runs']}; self times summed): "
            f"`build` {cli['build_import_ms']:.0f} ms, `lint` {cli['lint_import_ms']:.0f} ms. "
            f"Packages `build` imports and `lint` does not: {extra or 'none'}. "
            f"In `sys.modules` after a `build` (a wrapper calling `modelspec.cli.main`): "
            f"{', '.join(cli['heavy_sys_modules']) or 'no tensorflow, keras, numpy, jax or torch'}."
        )
    verdicts = verdict_lines(res, v)
    quick = " --quick" if res["quick"] else ""
    if res.get("combined"):
        origin = f"Generated by `benchmarks/run.py{quick}`, in the same run as the tables above"
        machine_md = "The machine is described at the top of this file."
        reused = (
            " The `modelspec build` rows below are the 200- and 2,000-layer timings of the "
            "table above."
        )
    else:
        origin = f"Generated by `benchmarks/build_bench.py{quick}`"
        reused = ""
    body = f"""## Building models: spec -> Keras, against hand-written Keras

{origin} (medians, min–max in brackets). Do not edit by hand: run it again. The
hand-written models are in `benchmarks/hand_models.py`.{reused}

### Machine

{machine_md}
- **load average**: {res["load_before"]} at the start, {res["load_after"]} at the end
- **wall time of this part**: {res["elapsed_s"] / 60:.1f} min

### Targets

{verdicts}

### Instantiation: one model build, in-process after `import keras`

Each build follows `keras.backend.clear_session()` and `gc.collect()` (untimed); the builds
of one model are interleaved, the order rotating each round, after one untimed warm-up each.
`to_keras()` uses a spec already loaded (the plan made); "generated" is the `build_model()`
of `spec.to_python()`, exec'd once.

{t.get("instantiate", "(not run)")}

{inst_note}

### Training step (`train_on_batch`, after the trace)

The `to_keras()` model, the hand-written one (`Sequential([...])` / Functional) and, as an
A/A control, a second copy of the hand-written one train side by side on the same batch,
after {WARMUP_STEPS} more untimed steps each; blocks of steps rotate between the three; per-step
medians. Paired: the median of the per-round ratios; CPU: the ratio of the CPU-time medians
(every thread of the process). The control column is the second copy over the first (ratio,
then paired and CPU): what two identical models differ by on this machine.

{t.get("train", "(not run)")}

### `modelspec build`, whole process

{t.get("cli", "(not run)")}

{cli_note}

### Profiles of the models over the instantiation target

{profile_md(res.get("profiles", {}), res)}
"""
    readme = (
        f"{m.get('date', '')}, {m.get('cpu', '')}, {m.get('cores', '')}"
        f"{', --quick' if res['quick'] else ''}. Full details: [RESULTS.md](RESULTS.md).\n\n"
        f"{verdicts}\n"
    )
    return body, readme


def replace_section(text: str, markers: tuple[str, str], body: str, *, append: bool) -> str:
    start, end = markers
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        return f"{before}{start}\n{body}{end}{after}"
    return f"{text.rstrip()}\n\n{start}\n{body}{end}\n" if append else text


# --- main ------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds (about half the time)")
    ap.add_argument("--runs", type=int, help="instantiation rounds (default 20, --quick 7)")
    ap.add_argument("--train-rounds", type=int, help="blocks per model (default 14, --quick 4)")
    ap.add_argument("--cli-runs", type=int, help="whole-process runs (default 15, --quick 5)")
    ap.add_argument("--only", choices=("cli", "instantiate", "train"), action="append",
                    help="run only this part (repeatable); nothing is written")  # fmt: skip
    ap.add_argument("--chain-layers", type=int, default=CHAIN_LAYERS,
                    help=f"layers of the Dense chain (default {CHAIN_LAYERS})")  # fmt: skip
    ap.add_argument("--case", action="append", metavar="KEY",
                    help="only this model (repeatable: mlp, conv_lstm, shared_tower, "
                         "chain_functional, chain_sequential); nothing is written")  # fmt: skip
    ap.add_argument("--json", type=Path, help="also write every raw timing to this file")
    args = ap.parse_args()
    runs = args.runs or (7 if args.quick else 20)
    train_rounds = args.train_rounds or (4 if args.quick else 14)
    cli_runs = args.cli_runs or (5 if args.quick else 15)
    parts = set(args.only or ("cli", "instantiate", "train"))

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="modelspec-build-bench-") as tmp_name:
        res, v = measure(Path(tmp_name), quick=args.quick, runs=runs, train_rounds=train_rounds,
                         cli_runs=cli_runs, parts=parts, chain_layers=args.chain_layers,
                         case_keys=args.case)  # fmt: skip
    res["elapsed_s"] = time.perf_counter() - started
    body, readme = build_section(res, v)
    print(body)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=to_json), encoding="utf-8")
    if args.only or args.case:
        log("--only or --case: RESULTS.md and README.md left as they are")
        return
    results = HERE / "RESULTS.md"
    text = (
        results.read_text(encoding="utf-8")
        if results.exists()
        else "# modelspec benchmark results\n"
    )
    results.write_text(replace_section(text, SECTION, body, append=True), encoding="utf-8")
    update_readme(HERE / "README.md", readme)
    log(f"wrote {results} and the README block in {res['elapsed_s'] / 60:.1f} min")


def measure(
    tmp: Path,
    *,
    quick: bool,
    runs: int,
    train_rounds: int,
    cli_runs: int,
    parts: set[str],
    chain_layers: int = CHAIN_LAYERS,
    case_keys: list[str] | None = None,
    cli_timed: dict | None = None,
) -> tuple[dict[str, Any], dict]:
    """Run the parts asked for; (raw results, verdicts). benchmarks/run.py calls this too.

    ``cli_timed``: see ``bench_cli``. The instantiation and training parts import Keras
    into this process, so they run last.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    started = time.perf_counter()
    res: dict[str, Any] = {"quick": quick, "load_before": loadavg(), "machine": machine(),
                           "combined": cli_timed is not None}  # fmt: skip
    log(f"machine: {res['machine']['cpu']}, {res['machine']['cores']}; load {res['load_before']}")
    if "cli" in parts:  # first, before this process imports TensorFlow
        res["cli"] = bench_cli(tmp, cli_runs, cli_timed)
    case_list = [c for c in cases(tmp, chain_layers) if not case_keys or c.key in case_keys]
    if parts & {"instantiate", "train"}:
        t0 = time.perf_counter()
        import keras

        res["keras_import_s"] = time.perf_counter() - t0
        res["keras_backend"] = keras.backend.backend()
    if "instantiate" in parts:
        res["instantiate"] = bench_instantiate(case_list, runs)
    if "train" in parts:
        res["train"] = bench_train(
            [c for c in train_cases(tmp, chain_layers) if not case_keys or c.key in case_keys],
            train_rounds,
        )
    v = analyse(res)
    res["profiles"] = {}
    for case in case_list:
        c = res.get("instantiate", {}).get(case.key)
        if c and c["ratios"][c["fastest_hand"]]["to_keras"][0] > TARGET_INSTANTIATE:
            log(f"{case.key} is over the target: cProfile of to_keras() and by hand")
            res["profiles"][case.key] = profile_case(case, c["fastest_hand"])
    res["load_after"] = loadavg()
    res["elapsed_s"] = time.perf_counter() - started
    return res, v


def to_json(o: object) -> object:
    """``json.dumps`` default for the raw results."""
    return o.to_dict() if isinstance(o, Series) else sorted(o) if isinstance(o, set) else str(o)


def update_readme(readme: Path, block: str) -> None:
    """Replace the "Latest numbers" block of the build benchmark in benchmarks/README.md."""
    if readme.exists():
        text = readme.read_text(encoding="utf-8")
        readme.write_text(replace_section(text, README_SECTION, block, append=False),
                          encoding="utf-8")  # fmt: skip


if __name__ == "__main__":
    main()
