"""Benchmark: modelspec's commands against Keras, and spec-built models against hand-written.

    unset PYTHONDONTWRITEBYTECODE
    .venv/bin/python benchmarks/run.py                     # everything, 7 runs per timing
    .venv/bin/python benchmarks/run.py --quick             # 3 runs, Keras up to 2,000 layers
    .venv/bin/python benchmarks/run.py --skip-build-bench  # the per-size table only

What it does, in one run (see benchmarks/README.md):

1. generates specs of 10, 200, 2,000 and 10,000 layers (benchmarks/specgen.py) into a
   temporary folder and checks that each lints clean (no error, no warning) and that
   ``summary`` counts exactly that many layers;
2. builds the same models in Keras in fresh processes (benchmarks/keras_build.py,
   which reads the spec with PyYAML only), timing in-process after ``import keras``
   the build, ``model.to_json()`` and ``keras.models.model_from_json()`` (Keras's own
   import of a model config), and saving the JSON; a RecursionError is recorded, then
   retried with a raised recursion limit;
3. if ``modelspec import --help`` exits 0, imports each saved JSON once and checks
   the spec it writes (lint, layer and parameter counts);
4. times whole processes, interleaved round by round so drift hits every size alike:
   ``modelspec lint SPEC``, ``summary --format json SPEC``, ``build SPEC -o OUT.py``,
   ``import CONFIG.json -o SPEC.yaml`` (when available), plus baselines
   (``python -c pass``, ``modelspec --version``) and ``python -c "import keras"``;
5. profiles one in-process ``check()`` of the 10,000-layer spec (cProfile), one whole
   ``modelspec lint`` of the 200-layer spec, and ``-X importtime`` of ``modelspec lint``;
6. runs benchmarks/build_bench.py's part (``to_keras()`` against hand-written Keras,
   the training-step ratio), reusing step 4's ``modelspec build`` timings;
7. prints the tables and writes benchmarks/RESULTS.md, results.json,
   lint_vs_keras.png and the "Latest numbers" blocks of benchmarks/README.md
   (benchmarks/backend_steps.py's section of RESULTS.md is kept as it was).

Reported times are medians (min and max beside them): these machines are shared and
noisy. CPU times (user + sys of the child) are reported too; they move less with load.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import specgen  # noqa: E402
from common import (  # noqa: E402
    PSTATS_TABLE,
    Series,
    bench_env,
    fmt_s,
    fmt_series,
    loadavg,
    log,
    machine,
    parse_importtime,
    pstats_rows,
    run,
    verify,
)

SIZES = (10, 200, 2000, 10000)
TARGET_200_S = 0.3
TARGET_10K_S = 3.0
LINEAR_TOLERANCE = 1.25  # per-layer cost at 10k may be at most this times that at 2k
BUILD_SECTION = ("<!-- build-bench:start -->", "<!-- build-bench:end -->")
STEPS_SECTION = ("<!-- backend-steps:start -->", "<!-- backend-steps:end -->")


# --- running things -------------------------------------------------------------------


# --- the machine ----------------------------------------------------------------------


# --- the benchmark ----------------------------------------------------------------------


def check_imported(spec: Path, facts: dict, cli: list[str], env: dict[str, str]) -> str:
    """What ``lint`` and ``summary`` say of a spec ``modelspec import`` wrote."""
    r = run([*cli, "lint", "--format", "json", str(spec)], env, keep=True)
    try:
        payload = json.loads(r.out)
        lint = (
            "lints clean"
            if not payload["errors"] and not payload["warnings"]
            else f"lint: {len(payload['errors'])} error(s), {len(payload['warnings'])} warning(s)"
        )
    except (json.JSONDecodeError, KeyError, TypeError):
        return f"`lint --format json` gave no report (exit {r.rc}): {r.err.strip()[-200:]}"
    r = run([*cli, "summary", "--format", "json", str(spec)], env, keep=True)
    try:
        summary = json.loads(r.out)
        layers, params = len(summary["layers"]), summary["total_params"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return f"{lint}; `summary --format json` failed (exit {r.rc})"
    same = (layers, params) == (facts["layers"], facts["params"])
    return f"{lint}, {layers:,} layers and {params:,} params" + (
        "" if same else f" (**not** the {facts['layers']:,} and {facts['params']:,} of the spec)"
    )


def keras_build(
    spec: Path, env: dict[str, str], py: str, timeout: float, limit: int = 0,
    json_out: Path | None = None,
) -> dict:  # fmt: skip
    """One fresh process: ``import keras``, build, ``to_json()``, ``model_from_json()``."""
    cmd = [py, str(HERE / "keras_build.py"), str(spec)]
    if json_out:
        cmd += ["--json-out", str(json_out)]
    if limit:
        cmd += ["--recursion-limit", str(limit)]
    r = run(cmd, env, timeout=timeout)
    last = r.out.strip().splitlines()[-1] if r.out.strip() else ""
    try:
        data = json.loads(last)
    except json.JSONDecodeError:
        data = {"error": f"exit {r.rc}: {(r.err or r.out).strip()[-600:]}"}
    data["process_s"] = r.wall
    return data


def importtime(spec: Path, cli: list[str], env: dict[str, str], runs: int) -> dict:
    per_module: dict[str, dict] = {}
    totals: list[float] = []
    by_package: dict[str, list[int]] = {}
    for _ in range(runs):
        r = run([cli[0], "-X", "importtime", *cli[1:], "lint", str(spec)], env, keep=True)
        rows = parse_importtime(r.err)
        seen: set[str] = set()
        pkg_sum: dict[str, int] = {}
        for name, depth, self_us, cum_us in rows:
            if name in seen:
                continue
            seen.add(name)
            entry = per_module.setdefault(name, {"depth": depth, "self": [], "cum": []})
            entry["self"].append(self_us)
            entry["cum"].append(cum_us)
            top = name.split(".")[0]
            pkg_sum[top] = pkg_sum.get(top, 0) + self_us
        for top, us in pkg_sum.items():
            by_package.setdefault(top, []).append(us)
        totals.append(sum(s for _, _, s, _ in rows) / 1e6)
    modules = [
        {"module": name, "depth": e["depth"], "self_ms": statistics.median(e["self"]) / 1000,
         "cum_ms": statistics.median(e["cum"]) / 1000}
        for name, e in per_module.items()
    ]  # fmt: skip
    modules.sort(key=lambda m: -m["cum_ms"])
    packages = sorted(
        ({"package": k, "self_ms": statistics.median(v) / 1000} for k, v in by_package.items()),
        key=lambda p: -p["self_ms"],
    )
    return {"modules": modules, "packages": packages, "total_s": statistics.median(totals)}


def cli_profile(spec: Path, cli: list[str], env: dict[str, str], top: int) -> str:
    """cProfile of a whole ``modelspec lint`` process (imports, typer and the check).

    The import machinery's own frames are left out of the table, so what remains is
    modules' top-level code (``<module>``), typer's dispatch and the check.
    """
    with tempfile.NamedTemporaryFile(suffix=".prof", delete=False) as fh:
        prof = fh.name
    try:
        run([cli[0], "-m", "cProfile", "-o", prof, *cli[1:], "lint", str(spec)], env)
        return run([cli[0], "-c", PSTATS_TABLE, prof, str(top)], env, keep=True).out
    finally:
        os.unlink(prof)


def linearity(res: dict) -> dict:
    """Per-layer costs with the startup (the 10-layer median) subtracted, 2k against 10k."""
    lint, summ, build = res["lint"], res["summary"], res["build"]
    t10, t2k, t10k = lint[10].median, lint[2000].median, lint[10000].median
    c10, c2k, c10k = lint[10].cpu_median, lint[2000].cpu_median, lint[10000].cpu_median
    per2k = (t2k - t10) / (2000 - 10)
    per10k = (t10k - t10) / (10000 - 10)
    out = {
        "per_layer_2k_us": per2k * 1e6,
        "per_layer_10k_us": per10k * 1e6,
        "ratio": per10k / per2k,
        "slope": math.log((t10k - t10) / (t2k - t10)) / math.log((10000 - 10) / (2000 - 10)),
        "marginal_us": (t10k - t2k) / 8000 * 1e6,
        "cpu_per_layer_2k_us": (c2k - c10) / 1990 * 1e6,
        "cpu_per_layer_10k_us": (c10k - c10) / 9990 * 1e6,
        "cpu_ratio": ((c10k - c10) / 9990) / ((c2k - c10) / 1990),
    }
    for key, series in (("summary", summ), ("build", build)):
        s10, s2k, s10k = series[10].median, series[2000].median, series[10000].median
        out[f"{key}_per_layer_2k_us"] = (s2k - s10) / 1990 * 1e6
        out[f"{key}_per_layer_10k_us"] = (s10k - s10) / 9990 * 1e6
        out[f"{key}_ratio"] = ((s10k - s10) / 9990) / ((s2k - s10) / 1990)
    return out


def raw_json(o: object) -> object:
    """``json.dumps`` default for results.json."""
    if isinstance(o, Series):
        return o.to_dict()
    if isinstance(o, set):
        return sorted(o)
    return str(o)


# --- report -----------------------------------------------------------------------------


def ratio_text(a: float, b: float) -> str:
    """``a / b``, and how many times faster or slower ``a`` is."""
    r = a / b
    if r >= 1:
        return f"{r:.2f} ({r:.1f}x slower)"
    return f"{r:.3f} ({1 / r:.0f}x faster)" if r <= 0.1 else f"{r:.2f} ({1 / r:.1f}x faster)"


TABLE_NOTE = (
    "modelspec columns: whole processes (`modelspec lint SPEC`, `modelspec summary --format "
    "json SPEC`, `modelspec build SPEC -o OUT.py`, `modelspec import CONFIG.json -o SPEC.yaml` "
    "of the config Keras wrote for the same model). Keras columns: in a fresh process per run, "
    "after `import keras`: the build, and `keras.models.model_from_json()` of `model.to_json()` "
    "(Keras's own import of a model config); `import keras` + build adds the median "
    '`python -c "import keras"` process to the build.'
)


def build_report(res: dict) -> tuple[str, str]:
    """(RESULTS.md text, the short table for the README)."""
    sizes = res["sizes"]
    lint, summ, mbuild, mimport = res["lint"], res["summary"], res["build"], res["import"]
    k_import = res["keras_import"]
    kb = res["keras_build"]
    imp = res["importer"]
    rows = []
    hdr = (
        "| layers | `lint` | `summary --format json` | `build -o OUT.py` | `import CONFIG.json` "
        "| Keras build | Keras import (`model_from_json`) | `import keras` + build "
        "| lint / (`import keras` + build) | build / Keras build | import / `model_from_json` |"
        "\n|---:|---|---|---|---|---|---|---|---:|---:|---:|"
    )
    notes = []
    no_config = False
    for n in sizes:
        b = kb.get(str(n))
        build_cell = from_json_cell = total_cell = "-"
        lint_ratio = build_ratio = import_ratio = "-"
        from_json = None
        if b is not None:
            s, from_json = b["series"], b["from_json"]
            dagger = " †" if b.get("raised_limit") else ""
            if s.wall:
                build_cell = fmt_series(s) + dagger
                total = (k_import.median or 0) + s.median
                total_cell = fmt_s(total)
                lint_ratio = ratio_text(lint[n].median, total)
                build_ratio = ratio_text(mbuild[n].median, s.median)
            elif b.get("error"):
                build_cell = "failed: " + b["error"][:80]
            if from_json.wall:
                from_json_cell = fmt_series(from_json) + dagger
        elif res.get("keras_skipped"):
            build_cell = f"not run ({res['keras_skipped']})"
        if not imp["available"]:
            import_cell = "- ‡"
        elif str(n) in imp["errors"]:
            import_cell = "failed: " + imp["errors"][str(n)][:80]
        elif mimport[n].wall:
            import_cell = fmt_series(mimport[n])
            if from_json is not None and from_json.wall:
                import_ratio = ratio_text(mimport[n].median, from_json.median)
        else:
            import_cell = "- §"
            no_config = True
        rows.append(
            f"| {n:,} | {fmt_series(lint[n])} | {fmt_series(summ[n])} | {fmt_series(mbuild[n])} "
            f"| {import_cell} | {build_cell} | {from_json_cell} | {total_cell} | {lint_ratio} "
            f"| {build_ratio} | {import_ratio} |"
        )
    for n, b in kb.items():
        if b.get("default_limit_error"):
            stage = {"build": "the Keras build", "to_json": "`model.to_json()`",
                     "model_from_json": "`model_from_json()`"}.get(b.get("error_stage"), "Keras")  # fmt: skip
            notes.append(
                f"† {int(n):,} layers: at Python's default recursion limit {stage} fails with "
                f"`{b['default_limit_error'][:120]}` after {b['default_limit_failed_after_s']:.1f} s "
                f"(in `{b.get('recursing_in', '?')}`; keras-team/keras#15596). The times shown are "
                f"with `sys.setrecursionlimit({b['raised_limit']})` and a 512 MiB thread stack."
            )
    if not imp["available"]:
        notes.append(f"‡ `modelspec import` not available in this version ({imp['reason']}).")
    if no_config:
        notes.append(
            "§ No Keras config of this size to import: "
            + (
                res["keras_skipped"]
                if res.get("keras_skipped")
                else f"Keras built the models up to {res['keras_max']:,} layers (`--keras-max`)"
            )
            + "."
        )
    table = hdr + "\n" + "\n".join(rows)
    cpu_rows = "\n".join(
        f"| {n:,} | {fmt_s(lint[n].cpu_median)} | {fmt_s(summ[n].cpu_median)} "
        f"| {fmt_s(mbuild[n].cpu_median)} | {fmt_s(mimport[n].cpu_median)} |"
        for n in sizes
    )
    keras_rows = []
    for n in sizes:
        b = kb.get(str(n))
        if b is None:
            continue
        last = b.get("last")
        if not last:
            keras_rows.append(f"| {n:,} | 0 | {b.get('error', '-')[:80]} | - | - | - | - | - |")
            continue
        counts = (last["layers"], last["params"])
        same = counts == (res["facts"][n]["layers"], res["facts"][n]["params"])
        same_json = counts == (last["from_json_layers"], last["from_json_params"])
        keras_rows.append(
            f"| {n:,} | {len(b['series'].wall)} | {fmt_series(b['series'])} "
            f"| {fmt_series(b['to_json'])} | {fmt_series(b['from_json'])} "
            f"| {last['json_bytes'] / 1024:,.0f} KiB | {'yes' if same else '**NO**'} "
            f"| {'yes' if same_json else '**NO**'} |"
        )
    keras_md = (
        "| layers | runs | build | `model.to_json()` | `model_from_json()` | JSON "
        "| same layers and params as `modelspec summary` | `model_from_json()` model the same |\n"
        "|---:|---:|---|---|---|---:|---|---|\n" + "\n".join(keras_rows)
        if keras_rows
        else f"Not run ({res.get('keras_skipped', 'no size within --keras-max')})."
    )
    determinism = "; ".join(
        f"`{what}` "
        + ", ".join(
            f"{n:,}: {'yes' if len(d) == 1 else '**NO**'}"
            for n, d in res["digests"][what].items()
            if d
        )
        for what in ("build", "import")
        if any(res["digests"][what].values())
    )
    if imp["available"]:
        imp_md = (
            "`modelspec import` of the JSON that Keras's `model.to_json()` wrote for each model "
            "(the same file `model_from_json()` read), checked once before timing with "
            "`lint --format json` and `summary --format json` of the spec it wrote: "
            + ("; ".join(f"{int(n):,}: {c}" for n, c in imp["checks"].items()) or "no config")
            + "."
        )
    else:
        imp_md = (
            f"`modelspec import` is not timed: not available in this version ({imp['reason']})."
        )

    # Linearity and targets.
    lin = res["linearity"]
    t = res["targets"]
    ok = lambda b: "**met**" if b else "**NOT met**"  # noqa: E731
    targets = (
        f"- lint, 200 layers, median whole process <= {TARGET_200_S} s on 2 cores: "
        f"{fmt_s(lint[200].median)} -> {ok(t['200'])}\n"
        f"- lint, 10,000 layers <= {TARGET_10K_S:.0f} s: {fmt_s(lint[10000].median)} -> {ok(t['10k'])}\n"
        f"- linear from 2,000 to 10,000 layers (per-layer cost at 10k <= {LINEAR_TOLERANCE}x that at 2k): "
        f"{lin['ratio']:.2f}x -> {ok(t['linear'])}"
    )
    linearity = (
        f"Per-layer lint cost, startup (the 10-layer median) subtracted: "
        f"{lin['per_layer_2k_us']:.0f} µs/layer at 2,000 layers, {lin['per_layer_10k_us']:.0f} µs/layer at "
        f"10,000 (ratio {lin['ratio']:.2f}; log-log slope of (t - t10) from 2k to 10k: {lin['slope']:.2f}, "
        f"1.00 is linear). Marginal cost between 2,000 and 10,000: {lin['marginal_us']:.0f} µs/layer. "
        f"By CPU time: {lin['cpu_per_layer_2k_us']:.0f} and {lin['cpu_per_layer_10k_us']:.0f} µs/layer "
        f"(ratio {lin['cpu_ratio']:.2f})."
    )
    if "summary_ratio" in lin:
        flag = (
            " **Not linear: look for a quadratic step in `summary`.**"
            if lin["summary_ratio"] > LINEAR_TOLERANCE
            else ""
        )
        linearity += (
            f"\n\nFor comparison (no target), `summary --format json`: "
            f"{lin['summary_per_layer_2k_us']:.0f} µs/layer at 2,000 layers, "
            f"{lin['summary_per_layer_10k_us']:.0f} µs/layer at 10,000 "
            f"(ratio {lin['summary_ratio']:.2f}).{flag}"
        )
    if "build_ratio" in lin:
        linearity += (
            f" `build -o OUT.py`: {lin['build_per_layer_2k_us']:.0f} µs/layer at 2,000 layers, "
            f"{lin['build_per_layer_10k_us']:.0f} µs/layer at 10,000 "
            f"(ratio {lin['build_ratio']:.2f})."
        )

    m = res["machine"]
    machine_md = "\n".join(f"- **{k}**: {v}" for k, v in m.items())
    base = res["baselines"]
    base_md = "\n".join(
        f"| {k} | {fmt_series(s)} | {fmt_s(s.cpu_median)} |" for k, s in base.items()
    )

    prof = res["profile"]
    stages = prof.get("stages", {})
    if "error" in stages:
        stages_md = f"(stage timing failed: {stages['error']})"
    else:
        total = sum(stages.values()) or 1
        stages_md = "| stage | time | share |\n|---|---:|---:|\n" + "\n".join(
            f"| {k} | {fmt_s(v)} | {100 * v / total:.0f}% |" for k, v in stages.items()
        )
    it = res["importtime"]
    mods = "| module (indent = nesting) | cumulative | self |\n|---|---:|---:|\n" + "\n".join(
        f"| `{'· ' * m_['depth']}{m_['module']}` | {m_['cum_ms']:.1f} ms | {m_['self_ms']:.1f} ms |"
        for m_ in it["modules"][:15]
    )
    pkgs = "| top-level package | self time summed |\n|---|---:|\n" + "\n".join(
        f"| `{p['package']}` | {p['self_ms']:.1f} ms |" for p in it["packages"][:12]
    )

    results = f"""# modelspec benchmark results

Generated by `benchmarks/run.py{" --quick" if res["quick"] else ""}` ({res["runs"]} run{"s" if res["runs"] != 1 else ""} per timing;
medians, with min–max in brackets). Do not edit by hand: run the benchmark again.

## Machine

{machine_md}
- **load average**: {res["load_before"]} at the start, {res["load_after"]} at the end (other jobs share this machine)
- **benchmark wall time**: {res["elapsed_s"] / 60:.1f} min

Whole-process timings run with the bytecode cache in a temporary `PYTHONPYCACHEPREFIX`
(as for an installed wheel, where pip compiles `.pyc` files); each command ran once
untimed first to fill it.

## modelspec vs Keras: lint, summary, build, import

{TABLE_NOTE}

{table}

{chr(10).join(notes)}

Whole processes ran interleaved, round by round (every command at every size, then the next
round), after one untimed warm-up each. Outputs byte-identical across runs: {determinism or "-"}.

{imp_md}

Keras import (`python -c "import keras"`, TensorFlow backend, whole process): {fmt_series(k_import)}.

![time against layer count: modelspec vs Keras](lint_vs_keras.png)

### Keras, in detail

Each run is a fresh process (`benchmarks/keras_build.py`): `import keras`, build the model the
spec describes (PyYAML and `keras.layers` only), `model.to_json()`, then
`keras.models.model_from_json()` of that text. {res["keras_runs"]} run(s) per size up to 2,000
layers, 1 above.

{keras_md}

### CPU time (user + sys of the child process, medians)

| layers | `lint` | `summary --format json` | `build` | `import` |
|---:|---:|---:|---:|---:|
{cpu_rows}

### Baselines

| command | wall | CPU |
|---|---|---:|
{base_md}

## Targets

{targets}

{linearity}

## Where the time goes: one in-process `check()` of the 10,000-layer spec

Unprofiled, stage by stage with warm caches (`check_document`'s steps; the first `check()` in the
process took {fmt_s(prof.get("profiled_s"))} under cProfile, a second one {fmt_s(prof.get("warm_check_s"))} without):

{stages_md}

cProfile, top 15 by cumulative time:

```
{pstats_rows(prof.get("tables", {}).get("cumulative", ""))}
```

cProfile, top 15 by own time:

```
{pstats_rows(prof.get("tables", {}).get("tottime", ""))}
```

## Where the time goes: a whole `modelspec lint` of the 200-layer spec

cProfile of the process, top 25 by cumulative time; the import machinery's frames are\nleft out, `<module>` rows are the top-level code of a module (its import):

```
{pstats_rows(res["cli_profile"])}
```

## `modelspec lint` startup: `-X importtime`

Median over {res["importtime_runs"]} runs of `python -X importtime .venv/bin/modelspec lint` (10 layers);
imports add up to {fmt_s(it["total_s"])} of self time. Top 15 modules by cumulative time:

{mods}

By top-level package (self time of all its modules):

{pkgs}
"""
    readme_table = (
        f"{res['machine'].get('date', '')}, {res['machine'].get('cpu', '')}, "
        f"{res['machine'].get('cores', '')}; {res['runs']} run{'s' if res['runs'] != 1 else ''}, "
        f"medians (min–max). "
        f"Load average {res['load_before']} at the start, {res['load_after']} at the end. "
        f"Full details: [RESULTS.md](RESULTS.md).\n\n{TABLE_NOTE}\n\n{table}\n\n"
        f"{chr(10).join(notes)}\n\n{targets}\n\n{linearity}\n"
    )
    return results, readme_table


def plot(res: dict, path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot (pip install matplotlib)"
    sizes = res["sizes"]
    fig, ax = plt.subplots(figsize=(8.5, 6), dpi=120)

    def line(series_list, label, style, **kw):
        pts = [(x, s) for x, s in zip(sizes, series_list) if s is not None and s.wall]
        if not pts:
            return
        x = [p[0] for p in pts]
        y = [p[1].median for p in pts]
        lo = [p[1].median - min(p[1].wall) for p in pts]
        hi = [max(p[1].wall) - p[1].median for p in pts]
        ax.errorbar(x, y, yerr=[lo, hi], fmt=style, capsize=3, label=label, **kw)

    line([res["lint"][n] for n in sizes], "modelspec lint", "o-", color="C0", lw=2)
    line([res["summary"][n] for n in sizes], "modelspec summary --format json", "s--",
         color="C2", alpha=0.6)  # fmt: skip
    line([res["build"][n] for n in sizes], "modelspec build -o OUT.py", "D-", color="C4")
    if res["importer"]["available"]:
        line([res["import"][n] for n in sizes], "modelspec import CONFIG.json", "P-", color="C5")
    kb = res["keras_build"]
    build = [kb[str(n)]["series"] if str(n) in kb else None for n in sizes]
    line(build, "Keras build (in-process, after import keras)", "^-", color="C3", lw=2)
    line([kb[str(n)]["from_json"] if str(n) in kb else None for n in sizes],
         "Keras model_from_json (in-process)", "x--", color="C6")  # fmt: skip
    ki = res["keras_import"]
    if ki.wall:
        totals = []
        for s in build:
            if s is None or not s.wall:
                totals.append(None)
                continue
            t = Series()
            t.wall = [w + ki.median for w in s.wall]
            totals.append(t)
        line(totals, "import keras (process) + Keras build", "v:", color="C1")
    for n in sizes:
        b = kb.get(str(n))
        if b and b.get("raised_limit") and b["series"].wall:
            ax.annotate("raised recursion limit", (n, b["series"].median), textcoords="offset points",
                        xytext=(-110, 8), fontsize=8, color="C3")  # fmt: skip
    ax.scatter([200, 10000], [TARGET_200_S, TARGET_10K_S], marker="*", s=90, color="k", zorder=5,
               label="lint targets (0.3 s @ 200, 3 s @ 10k)")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("layers in the spec")
    ax.set_ylabel("seconds (median; bars: min–max)")
    ax.set_title("modelspec (whole process) vs Keras: time against layer count")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None


def keep_section(path: Path, new_text: str, markers: tuple[str, str]) -> str:
    """``new_text`` plus the section between ``markers`` in the old file, if any: what
    another script wrote there (build_bench.py, backend_steps.py)."""
    start, end = markers
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if start not in old or end not in old:
        return new_text
    section = start + old.split(start, 1)[1].split(end, 1)[0] + end
    return f"{new_text.rstrip()}\n\n{section}\n"


def update_readme(readme: Path, section: str) -> None:
    start, end = "<!-- latest-results:start -->", "<!-- latest-results:end -->"
    if not readme.exists():
        return
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        return
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    readme.write_text(f"{before}{start}\n{section}{end}{after}", encoding="utf-8")


# --- main -------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="3 runs each; Keras up to 2,000 layers; build_bench.py --quick")  # fmt: skip
    ap.add_argument("--runs", type=int, help="runs per timing (default 7, --quick 3)")
    ap.add_argument("--keras-max", type=int,
                    help="largest spec to build in Keras (default 10000, --quick 2000); 0: no Keras")  # fmt: skip
    ap.add_argument("--keras-timeout", type=float, default=900,
                    help="seconds per Keras process (build, to_json, model_from_json)")  # fmt: skip
    ap.add_argument("--skip-build-bench", action="store_true",
                    help="leave out build_bench.py's part (instantiation, training step); "
                         "RESULTS.md keeps the section it had")  # fmt: skip
    ap.add_argument("--out", type=Path, default=HERE, help="where RESULTS.md and the PNG go")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder of specs")
    args = ap.parse_args()
    runs = args.runs or (3 if args.quick else 7)
    keras_max = args.keras_max if args.keras_max is not None else (2000 if args.quick else 10000)

    started = time.perf_counter()
    py = str(Path(sys.executable))
    script = Path(py).parent / "modelspec"
    cli = [py, str(script)] if script.exists() else [py, "-m", "modelspec.cli"]
    if not script.exists():
        # ``python -m modelspec.cli`` does not call main(); go through a tiny shim.
        cli = [
            py,
            "-c",
            "import sys; from modelspec.cli import main; sys.argv[0]='modelspec'; main()",
        ]
    tmp = Path(tempfile.mkdtemp(prefix="modelspec-bench-"))
    env = bench_env(tmp)
    res: dict = {"quick": args.quick, "runs": runs, "sizes": list(SIZES), "load_before": loadavg(),
                 "keras_max": keras_max}  # fmt: skip
    res["machine"] = machine()
    log(f"machine: {res['machine']['cpu']}, {res['machine']['cores']}; load {res['load_before']}")
    log(f"specs and bytecode cache in {tmp}")
    try:
        # 1. Specs, checked.
        specs: dict[int, Path] = {}
        facts: dict[int, dict] = {}
        for n in SIZES:
            specs[n] = specgen.write(tmp, n)
            facts[n] = verify(specs[n], n, cli, env)
            log(f"{specs[n].name}: lints clean, {facts[n]['layers']} layers, "
                f"{facts[n]['params']:,} params, {specs[n].stat().st_size / 1024:.0f} KiB")  # fmt: skip
        res["facts"] = facts

        # 2. Keras builds, first: they write the configs that `modelspec import` reads.
        have_keras = run([py, "-c", "import keras"], env).rc == 0  # also warms the cache
        if not have_keras:
            res["keras_skipped"] = "keras is not importable in this Python"
        elif keras_max <= 0:
            res["keras_skipped"] = "--keras-max 0"
        kb: dict[str, dict] = {}
        configs: dict[int, Path] = {}
        cross = []
        res["keras_runs"] = runs
        if have_keras and keras_max > 0:
            for n in SIZES:
                if n > keras_max:
                    continue
                entry: dict = {"series": Series(), "to_json": Series(), "from_json": Series()}
                kb[str(n)] = entry
                reps = runs if n <= 2000 else 1
                limit = 0
                config = tmp / f"keras_{n}.json"
                for i in range(reps):
                    log(
                        f"Keras build, to_json, model_from_json: {n} layers, run {i + 1}/{reps}"
                        + (f" (recursion limit {limit})" if limit else "")
                    )
                    d = keras_build(specs[n], env, py, args.keras_timeout, limit, config)
                    if "error" in d and "RecursionError" in d["error"] and not limit:
                        entry["default_limit_error"] = d["error"]
                        entry["default_limit_failed_after_s"] = d.get(
                            "failed_after_s", d["process_s"]
                        )
                        entry["error_stage"] = d.get("error_stage", "build")
                        entry["recursing_in"] = d.get("recursing_in", "?")
                        limit = 200_000
                        entry["raised_limit"] = limit
                        log(
                            f"  RecursionError in {entry['error_stage']} after "
                            f"{entry['default_limit_failed_after_s']:.1f} s; retrying with a raised limit"
                        )
                        d = keras_build(specs[n], env, py, args.keras_timeout, limit, config)
                    if "error" in d:
                        entry["error"] = d["error"]
                        log(f"  failed: {d['error'][:200]}")
                        break
                    entry["series"].add(d["build_s"])
                    entry["to_json"].add(d["to_json_s"])
                    entry["from_json"].add(d["from_json_s"])
                    entry["last"] = d
                    log(f"  build {d['build_s']:.2f} s, to_json {d['to_json_s']:.2f} s, "
                        f"model_from_json {d['from_json_s']:.2f} s "
                        f"(import in-process {d['import_s']:.2f} s)")  # fmt: skip
                last = entry.get("last")
                if last:
                    configs[n] = config
                    same = (
                        last["layers"] == facts[n]["layers"]
                        and last["params"] == facts[n]["params"]
                    )
                    cross.append(
                        f"{n:,}: {'yes' if same else 'NO'} ({last['layers']:,} layers, {last['params']:,} params)"
                    )
        res["keras_build"] = kb
        res["keras_crosscheck"] = "; ".join(cross) if cross else "not checked"

        # 3. `modelspec import`, when this version has it: checked once on every config.
        x = run([*cli, "import", "--help"], env)
        importer: dict = {"available": x.rc == 0, "errors": {}, "checks": {}}
        if x.rc != 0:
            importer["reason"] = f"`modelspec import --help` exited {x.rc}"
        imported = {n: tmp / f"imported_{n}.yaml" for n in SIZES}
        if importer["available"]:
            for n, config in configs.items():
                imported[n].unlink(missing_ok=True)
                x = run([*cli, "import", str(config), "-o", str(imported[n])], env)
                if x.rc != 0 or not imported[n].exists():
                    importer["errors"][str(n)] = f"exit {x.rc}: {(x.err or x.out).strip()[-300:]}"
                    log(f"modelspec import of the {n}-layer config failed: {x.err.strip()[-300:]}")
                    continue
                importer["checks"][str(n)] = check_imported(imported[n], facts[n], cli, env)
                log(f"modelspec import, {n} layers: {importer['checks'][str(n)]}")
        res["importer"] = importer

        # 4. Whole-process timings, interleaved.
        baselines = {
            "`python -c pass` (interpreter start)": [py, "-c", "pass"],
            "`python -c 'import modelspec'`": [py, "-c", "import modelspec"],
            "`modelspec --version`": [*cli, "--version"],
        }
        nocache_env = dict(env)
        nocache_env.pop("PYTHONPYCACHEPREFIX")
        nocache_env["PYTHONDONTWRITEBYTECODE"] = "1"
        has_pycache = (ROOT / "modelspec" / "__pycache__").exists()
        nocache_label = (
            "`modelspec lint` 200 layers, PYTHONDONTWRITEBYTECODE=1 and no cache prefix, as this dev "
            "env runs it (modelspec/__pycache__ "
            + ("exists" if has_pycache else "absent: modelspec's modules compile on every run")
            + ")"
        )
        for cmd in baselines.values():
            run(cmd, env)
        lint = {n: Series() for n in SIZES}
        summ = {n: Series() for n in SIZES}
        mbuild = {n: Series() for n in SIZES}
        mimport = {n: Series() for n in SIZES}
        outputs = {n: tmp / f"bench_{n}.py" for n in SIZES}  # the name build_bench reads
        digests: dict[str, dict[int, set[str]]] = {
            "build": {n: set() for n in SIZES},
            "import": {n: set() for n in SIZES},
        }
        base = {k: Series() for k in baselines}
        base[nocache_label] = Series()
        k_import = Series()
        for r in range(runs):
            log(f"round {r + 1}/{runs}: lint, summary, build"
                + (", import" if importer["available"] and configs else "") + ", baselines"
                + (", import keras" if have_keras else ""))  # fmt: skip
            for n in SIZES:
                timed = [
                    ([*cli, "lint", str(specs[n])], lint[n], None),
                    ([*cli, "summary", "--format", "json", str(specs[n])], summ[n], None),
                    ([*cli, "build", str(specs[n]), "-o", str(outputs[n])], mbuild[n], "build"),
                ]
                if importer["available"] and n in configs and str(n) not in importer["errors"]:
                    cmd = [*cli, "import", str(configs[n]), "-o", str(imported[n])]
                    timed.append((cmd, mimport[n], "import"))
                for cmd, series, output in timed:
                    out = imported[n] if output == "import" else outputs[n]
                    if r == 0:
                        out.unlink(missing_ok=True)
                        run(cmd, env)  # untimed warm-up
                    if output == "import":
                        out.unlink(missing_ok=True)  # so that no --force is needed
                    x = run(cmd, env)
                    if x.rc != 0 and output == "import":
                        # A new command: report it in the table rather than stop the run.
                        importer["errors"][str(n)] = f"exit {x.rc}: {x.err.strip()[-300:]}"
                        series.wall.clear()
                        series.cpu.clear()
                        digests["import"][n].clear()
                        log(f"modelspec import, {n} layers, failed: {x.err.strip()[-300:]}")
                        continue
                    if x.rc != 0:
                        raise SystemExit(f"{cmd} failed (rc {x.rc}): {x.err}")
                    series.add(x.wall, x.cpu)
                    if output:
                        digests[output][n].add(hashlib.sha256(out.read_bytes()).hexdigest())
            for label, cmd in baselines.items():
                x = run(cmd, env)
                base[label].add(x.wall, x.cpu)
            x = run([*cli, "lint", str(specs[200])], nocache_env)
            base[nocache_label].add(x.wall, x.cpu)
            if have_keras:
                x = run([py, "-c", "import keras"], env)
                if x.rc == 0:
                    k_import.add(x.wall, x.cpu)
        base['`python -c "import keras"`'] = k_import
        res.update(lint=lint, summary=summ, build=mbuild, baselines=base, keras_import=k_import)
        res["import"] = mimport
        res["digests"] = digests

        # 5. Profiles.
        log("cProfile of check() on 10,000 layers")
        r = run(
            [py, str(HERE / "profile_check.py"), str(specs[10000]), "--top", "15"], env, keep=True
        )
        try:
            res["profile"] = json.loads(r.out.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            res["profile"] = {"stages": {"error": (r.err or r.out)[-500:]}}
        log("cProfile of a whole `modelspec lint`, 200 layers")
        res["cli_profile"] = cli_profile(specs[200], cli, env, 25)
        res["importtime_runs"] = min(runs, 5)
        log("-X importtime of `modelspec lint`")
        res["importtime"] = importtime(specs[10], cli, env, res["importtime_runs"])

        # 6. Analysis.
        res["linearity"] = linearity(res)
        t10k, per = lint[10000].median, res["linearity"]
        res["targets"] = {
            "200": lint[200].median <= TARGET_200_S,
            "10k": t10k <= TARGET_10K_S,
            "linear": per["ratio"] <= LINEAR_TOLERANCE,
        }
        res["load_after"] = loadavg()

        # 7. build_bench.py's part: direct instantiation against hand-written Keras, and the
        # training step. It imports Keras into this process, so it comes last.
        build_body = build_readme = None
        if args.skip_build_bench:
            log("--skip-build-bench: RESULTS.md keeps its old 'Building models' section")
        else:
            # build_bench does `import run`: let that be this module, not a second copy.
            sys.modules.setdefault("run", sys.modules[__name__])
            import build_bench

            parts = {"cli", "instantiate", "train"} if have_keras else {"cli"}
            bres, bv = build_bench.measure(
                tmp, quick=args.quick, runs=7 if args.quick else 20,
                train_rounds=4 if args.quick else 14, cli_runs=runs, parts=parts,
                cli_timed={"runs": runs, "digests": digests["build"],
                           "series": {**{(n, "build"): mbuild[n] for n in SIZES},
                                      **{(n, "lint"): lint[n] for n in SIZES}}},
            )  # fmt: skip
            build_body, build_readme = build_bench.build_section(bres, bv)
            res["build_bench"] = bres
        res["elapsed_s"] = time.perf_counter() - started

        results_md, readme_section = build_report(res)
        args.out.mkdir(parents=True, exist_ok=True)
        results_path = args.out / "RESULTS.md"
        if build_body is None:
            results_md = keep_section(results_path, results_md, BUILD_SECTION)
        else:
            results_md = (
                f"{results_md.rstrip()}\n\n{BUILD_SECTION[0]}\n{build_body}{BUILD_SECTION[1]}\n"
            )
        # backend_steps.py's section: run.py does not measure it, so it is carried over.
        results_md = keep_section(results_path, results_md, STEPS_SECTION)
        results_path.write_text(results_md, encoding="utf-8")
        raw = {k: v for k, v in res.items() if k not in ("keras_build", "build_bench", "digests")}
        raw["keras_build"] = {n: {k: v for k, v in e.items()} for n, e in kb.items()}
        raw["digests"] = {w: {n: sorted(d) for n, d in by.items()} for w, by in digests.items()}
        if "build_bench" in res:
            raw["build_bench"] = res["build_bench"]
        (args.out / "results.json").write_text(
            json.dumps(raw, indent=1, default=raw_json), encoding="utf-8"
        )
        problem = plot(res, args.out / "lint_vs_keras.png")
        if problem:
            log(problem)
        if args.out.resolve() == HERE:
            update_readme(HERE / "README.md", readme_section)
            if build_readme is not None:
                build_bench.update_readme(HERE / "README.md", build_readme)

        # 8. The console.
        print()
        print(readme_section)
        if build_body is not None:
            print(build_body)
        print("\nProfile of check(), 10,000 layers, top 15 by cumulative time:")
        print(pstats_rows(res["profile"].get("tables", {}).get("cumulative", "")))
        print("\nStages:", json.dumps(res["profile"].get("stages"), indent=1))
        print("\n-X importtime of `modelspec lint`, top 15 by cumulative time:")
        for m in res["importtime"]["modules"][:15]:
            print(
                f"  {m['cum_ms']:8.1f} ms  {m['self_ms']:7.1f} ms self  {'  ' * m['depth']}{m['module']}"
            )
        print(f"\nWrote {results_path}, {args.out / 'results.json'}, {args.out / 'lint_vs_keras.png'}"
              f" in {res['elapsed_s'] / 60:.1f} min")  # fmt: skip
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
