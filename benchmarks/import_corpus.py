"""The import corpus: every model `modelspec import` claims, taken through every stage.

    .venv/bin/python benchmarks/import_corpus.py                 # the whole corpus
    .venv/bin/python benchmarks/import_corpus.py --quick         # the CI subset
    .venv/bin/python benchmarks/import_corpus.py --only ResNet50 NASNetLarge --repeat 5
    .venv/bin/python benchmarks/import_corpus.py --markdown docs/import.md
    .venv/bin/python benchmarks/import_corpus.py --scaling --repeat 5   # time vs layers

The corpus:

- every model in ``keras.applications`` (``weights=None``; at its default input size
  and 1,000 classes, or with ``--small`` at the smallest input it takes and 10 classes,
  as tests/test_import.py builds them);
- the seeds' models: each ``specs/seed_*.yaml`` built to Keras (``to_keras()``);
- the example specs, built the same way: the other ``specs/*.yaml`` (decoders with causal
  and grouped-query attention, a seq2seq model started from its encoder's states, ...)
  and the test specs of the newer layer families (:data:`EXAMPLE_TEST_SPECS`);
- the Keras Functional API guide's models (:data:`tests.conformance.GUIDE_MODELS`);
- models that compute with ``keras.ops`` (:data:`tests.conformance.OPS_MODELS`): token
  positions counted with ``cumsum``, a siamese distance, attention written with ops.

Each model goes through :func:`tests.conformance.prove_import`, the proof the tests
run: export (``model.to_json()``), import, lint, summary equal to Keras, build
(``build_model()`` of the module ``modelspec build`` writes, or ``--via direct``:
``to_keras()``), outputs equal with Keras's weights copied by name, and the Sequential
form for chains. Between import and lint, ``modelspec import CONFIG.json -o SPEC.yaml``
runs as a whole process (interpreter start, import, lint and write; the bytecode cache
warm, as for an installed wheel: one untimed run fills it), which also reports whether TensorFlow, Keras or
NumPy were imported, and must write the same text as the in-process import. Custom
layers of keras.applications (ConvNeXt's ``LayerScale``, InceptionResNetV2's
``CustomScaleLayer``) are allowed by module, as ``--allow-module`` would.

A model that fails a stage shows the stage, the diagnostic code (or what went wrong)
and a short reason, and the run goes on with the next model; the exit code is 1 if any
model was not proven. Times are medians over
``--repeat N`` runs of every stage (a failing proof is not repeated). The Keras
session is cleared between models.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shlex
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
sys.path.insert(0, str(ROOT))

import common  # noqa: E402
from common import loadavg, log, machine  # noqa: E402

from tests.conformance import (  # noqa: E402
    CI_APPLICATIONS,
    GUIDE_MODELS,
    OPS_MODELS,
    STAGES,
    Proof,
    application_modules,
    prove_import,
)

# The smallest input each keras.applications model takes with its classifier on top;
# 32 x 32 for the rest.
SMALL_SIZES = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71, "NASNetLarge": 331}
HEAVY = ("tensorflow", "keras", "numpy")
MARKERS = ("<!-- import-corpus:start -->", "<!-- import-corpus:end -->")
COLUMNS = ("export", "import", "process", "lint", "summary", "build", "outputs", "sequential")
TITLES = {
    "export": "export",
    "import": "import",
    "process": "import (process)",
    "lint": "lint",
    "summary": "summary",
    "build": "build",
    "outputs": "outputs",
    "sequential": "Sequential",
}

# `modelspec import` as a whole process, reporting the heavy modules it imported.
WRAPPER = common.process_wrapper(HEAVY)


@dataclass
class Entry:
    """One model of the corpus: how to build it in Keras, and what to allow."""

    name: str
    group: str  # "applications", "seeds", "guide", "ops", "examples"
    build: Callable[[Any], Any]  # keras -> keras.Model
    allow_modules: tuple[str, ...] = ()


@dataclass
class Row:
    """What one model got: the proof of each repeat, and the whole-process imports."""

    entry: Entry
    keras_build: float | None = None
    proofs: list[Proof] = field(default_factory=list)
    process: list[common.Run] = field(default_factory=list)
    process_heavy: list[str] = field(default_factory=list)
    process_problem: str | None = None
    error: str | None = None  # the Keras model could not be built

    @property
    def proof(self) -> Proof | None:
        return self.proofs[0] if self.proofs else None

    def median(self, stage: str) -> float | None:
        if stage == "process":
            walls = [r.wall for r in self.process]
        else:
            walls = [p.times[stage] for p in self.proofs if stage in p.times]
        return statistics.median(walls) if walls else None

    @property
    def ok(self) -> bool:
        return self.proof is not None and self.proof.ok and self.process_problem is None

    def result(self, width: int = 90) -> str:
        if self.error is not None:
            return f"Keras could not build it: {self.error}"[:width]
        proof = self.proof
        if proof is None:
            return "not run"
        if proof.failure is not None:
            f = proof.failure
            text = f"fails at {f.stage}: {f.code} {f.reason}"
            return text if len(text) <= width else text[: width - 3] + "..."
        if self.process_problem is not None:
            return f"fails at import (process): {self.process_problem}"[:width]
        return "proven"


def fmt_s(x: float | None) -> str:
    """A time as ms below a second (one decimal below 10 ms), else as seconds."""
    if x is None:
        return "-"
    if x < 0.01:
        return f"{x * 1000:.1f} ms"
    return common.fmt_s(x)


# --- the corpus -----------------------------------------------------------------------


def application_names(keras: Any) -> list[str]:
    """Every model constructor in keras.applications."""
    return sorted(n for n in dir(keras.applications)
                  if n[:1].isupper() and callable(getattr(keras.applications, n)))  # fmt: skip


def application(name: str, small: bool) -> Entry:
    def build(keras: Any) -> Any:
        ctor = getattr(keras.applications, name)
        if small:
            size = SMALL_SIZES.get(name, 32)
            return ctor(weights=None, input_shape=(size, size, 3), classes=10)
        return ctor(weights=None)

    return Entry(name, "applications", build, application_modules(name))


# Test specs of layer families that no seed or application uses: ConvLSTM, RNN cells,
# lookups and text vectorization from raw strings.
EXAMPLE_TEST_SPECS = ("conv_lstm_video", "rnn_cells", "tabular_lookups", "text_vectorization")


def seed(path: Path, group: str = "seeds") -> Entry:
    def build(keras: Any) -> Any:
        import modelspec

        return modelspec.load(path).to_keras()

    return Entry(path.stem, group, build)


def corpus(keras: Any, args: argparse.Namespace) -> list[Entry]:
    small = args.small or args.quick
    if args.quick:
        apps = [application(name, True) for name, _ in CI_APPLICATIONS]
    else:
        apps = [application(name, small) for name in application_names(keras)]
    seeds = [seed(p) for p in sorted(ROOT.glob("specs/seed_*.yaml"))]
    guide = [Entry(name, "guide", build) for name, build in GUIDE_MODELS.items()]
    ops = [Entry(name, "ops", build) for name, build in OPS_MODELS.items()]
    examples = [
        seed(p, "examples")
        for p in sorted(ROOT.glob("specs/*.yaml"))
        if not p.name.startswith("seed_") and p.stem != "resnet50"
    ]  # an application
    examples += [seed(ROOT / "tests" / "specs" / f"{n}.yaml", "examples")
                 for n in EXAMPLE_TEST_SPECS]  # fmt: skip
    entries = [*apps, *seeds, *guide, *ops, *examples]
    if args.only:
        known = {e.name.lower(): e for e in entries}
        if not args.quick:  # --only may name an application outside the CI subset
            known.update({n.lower(): application(n, small) for n in application_names(keras)})
        missing = [n for n in args.only if n.lower() not in known]
        if missing:
            raise SystemExit(f"not in the corpus: {', '.join(missing)}")
        entries = [known[n.lower()] for n in args.only]
    return entries


# --- running one model ------------------------------------------------------------------


_WARM: list[bool] = []  # whether a whole-process import has run (see whole_process)


def whole_process(row: Row, proof: Proof, tmp: Path, env: dict[str, str], repeat: int) -> None:
    """``modelspec import CONFIG.json -o SPEC.yaml`` as a process, ``repeat`` times."""
    assert proof.config is not None and proof.result is not None
    config = tmp / f"{row.entry.name}.json"
    config.write_text(proof.config, encoding="utf-8")
    out = tmp / f"{row.entry.name}.yaml"
    allow = [a for m in row.entry.allow_modules for a in ("--allow-module", m)]
    allow += ["--ask-keras"] if allow else []
    cmd = [sys.executable, "-c", WRAPPER, "import", str(config), "-o", str(out), "--force", *allow]
    if not _WARM:  # the first import fills the bytecode cache of what `import` loads: untimed
        common.run(cmd, env, timeout=600)
        _WARM.append(True)
    for _ in range(repeat):
        r = common.run(cmd, env, timeout=600)
        marks = [line for line in r.err.splitlines() if line.startswith("MODULES-LOADED:")]
        if marks:
            row.process_heavy = json.loads(marks[-1].removeprefix("MODULES-LOADED:"))
        row.process.append(r)
        if r.rc != 0:
            linted = "lint" in proof.times and (proof.ok or proof.failure.stage != "lint")
            if linted:  # the process lints what the proof linted clean: it must pass
                first = (r.err.strip().splitlines() or [""])[0]
                row.process_problem = f"exit code {r.rc}: {first[:120]}"
            return
    if out.read_text(encoding="utf-8") != proof.result.text:
        row.process_problem = "wrote a different spec than the in-process import"


def prove(entry: Entry, keras: Any, args: argparse.Namespace, tmp: Path, env: dict) -> Row:
    from modelspec.source.project import find_project

    row = Row(entry)
    keras.backend.clear_session()
    gc.collect()
    start = time.perf_counter()
    try:
        model = entry.build(keras)
    except Exception as exc:  # noqa: BLE001 - reported in the table; the run goes on
        row.error = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
        return row
    row.keras_build = time.perf_counter() - start
    project = find_project(ROOT).widened(
        allow_modules=entry.allow_modules, ask_keras=bool(entry.allow_modules)
    )
    for i in range(args.repeat):
        proof = prove_import(model, f"{entry.name}.json", project, via=args.via)
        row.proofs.append(proof)
        if i == 0 and not args.no_process and proof.result is not None and proof.result.ok:
            whole_process(row, proof, tmp, env, args.repeat)
        if not proof.ok:
            break
        # Keep the first proof's spec; drop the later ones' models and specs.
        if i:
            proof.checked = proof.result = None
        gc.collect()
    del model
    keras.backend.clear_session()
    gc.collect()
    return row


# --- import time against layers: NASNetLarge's architecture, more or fewer cells ---------

SCALING_BLOCKS = (1, 2, 4, 6, 9, 12)  # NASNetLarge has 6


def scaling(keras: Any, repeat: int) -> str:
    """In-process import time of NASNetLarge's architecture with 1 to 12 cells per stack
    (NASNetLarge: 6), as a markdown table: is the import linear in the layers?"""
    from keras.src.applications.nasnet import NASNet

    from modelspec.importer import import_config
    from tests.conformance import count_layers

    points = []
    for blocks in SCALING_BLOCKS:
        keras.backend.clear_session()
        gc.collect()
        # NASNetLarge() is NASNet() with these arguments and num_blocks=6.
        model = NASNet(input_shape=(331, 331, 3), penultimate_filters=4032, num_blocks=blocks,
                       stem_block_filters=96, skip_reduction=True, filter_multiplier=2,
                       weights=None, default_size=331, name=f"nasnet_{blocks}")  # fmt: skip
        config = json.loads(model.to_json())
        del model
        times = []
        for _ in range(repeat):
            gc.collect()  # start each run from the same heap: Keras's objects stay around
            start = time.perf_counter()
            result = import_config(config, file=f"nasnet_{blocks}.json")
            times.append(time.perf_counter() - start)
            if not result.ok:
                raise SystemExit(f"NASNet with {blocks} blocks does not import: "
                                 f"{result.errors[0].format()}")  # fmt: skip
        points.append((blocks, count_layers(config), statistics.median(times), min(times)))
        log(f"    {blocks} blocks: {points[-1][1]:,} layers, {fmt_s(points[-1][2])}")
    lines = ["| cells per stack | layers | import (median) | fastest | per layer (median) "
             "| per layer (fastest) |", "|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for blocks, n, t, best in points:
        note = " (NASNetLarge)" if blocks == 6 else ""
        lines.append(f"| {blocks}{note} | {n:,} | {fmt_s(t)} | {fmt_s(best)} | "
                     f"{t / n * 1e6:.0f} µs | {best / n * 1e6:.0f} µs |")  # fmt: skip

    def slope(k: int) -> float:
        xs = [math.log(p[1]) for p in points]
        ys = [math.log(p[k]) for p in points]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)

    lines += ["", f"{repeat} in-process `import_config()` runs each. Log-log slope of import "
              f"time against layers (1.00 is linear): {slope(2):.2f} for the medians, "
              f"{slope(3):.2f} for the fastest runs."]  # fmt: skip
    return "\n".join(lines) + "\n"


# --- the report ---------------------------------------------------------------------------


def cell(row: Row, column: str) -> str:
    proof = row.proof
    if proof is None:
        return "-"
    if column == "sequential" and proof.ok and proof.result is not None:
        if proof.result.form != "sequential":
            return "n/a"
    t = row.median(column)
    if t is None:
        return "-"
    text = fmt_s(t)
    if proof.failure is not None and proof.failure.stage == column:
        text += " ✗"
    if column == "process" and row.process_heavy:
        text += " ‡"
    return text


def table(rows: list[Row]) -> str:
    head = ["model", "layers", "params", "result", "Keras build",
            *(TITLES[c] for c in COLUMNS)]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---:|---|" + "---:|" * (1 + len(COLUMNS))]
    group = None
    for row in rows:
        if row.entry.group != group:
            group = row.entry.group
            lines.append(f"| **{group}** |" + " |" * (len(head) - 1))
        proof = row.proof
        layers = f"{proof.layers:,}" if proof and proof.layers else "-"
        params = f"{proof.params:,}" if proof and proof.params else "-"
        result = row.result().replace("|", "\\|")
        cells = [row.entry.name, layers, params, result, fmt_s(row.keras_build),
                 *(cell(row, c) for c in COLUMNS)]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def linearity(rows: list[Row]) -> tuple[list[str], float | None]:
    """Import time per layer, model by model, and the log-log slope of time vs layers."""
    points = []
    for row in rows:
        t, proof = row.median("import"), row.proof
        if t is not None and proof is not None and proof.layers >= 20 and proof.reached != "export":
            points.append((proof.layers, t, row.entry.name))
    points.sort()
    lines = [f"{name}: {n:,} layers, {fmt_s(t)}, {t / n * 1e6:.0f} µs/layer"
             for n, t, name in points]  # fmt: skip
    slope = None
    if len(points) >= 3:
        xs = [math.log(n) for n, _, _ in points]
        ys = [math.log(t) for _, t, _ in points]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else None
    return lines, slope


def report(rows: list[Row], args: argparse.Namespace, info: dict, loads: tuple[str, str]) -> str:
    proven = sum(r.ok for r in rows)
    per_layer, slope = linearity(rows)
    heavy = sorted({m for r in rows for m in r.process_heavy})
    notes = [
        f"{proven} of {len(rows)} models proven. Times are medians of {args.repeat} "
        f"run{'s' * (args.repeat != 1)} per stage, in one process after `import keras` "
        f'("Keras build": building the model in Keras, once; "build": '
        + ("`build_model()` of the generated module" if args.via == "module" else "`to_keras()`")
        + '). "import (process)": `modelspec import CONFIG.json -o SPEC.yaml` as a whole '
        "process (import, lint and write), wall clock. ✗: the stage that failed; "
        "-: not run; n/a: not a chain, so no Sequential form.",
    ]
    if heavy:
        notes.append(f"‡ The whole-process import imported {', '.join(heavy)}: asking Keras "
                     "for a custom layer's shape or parameters during lint.")  # fmt: skip
    else:
        notes.append("No whole-process import imported TensorFlow, Keras or NumPy.")
    if slope is not None:
        notes.append(f"In-process import time against layers, over the {len(per_layer)} models "
                     f"of 20 layers or more: log-log slope {slope:.2f} (1.00 is linear).")  # fmt: skip
    command = "python benchmarks/import_corpus.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    sizes = ("at the smallest input each takes, 10 classes" if args.small or args.quick
             else "at their default input size, 1,000 classes")  # fmt: skip
    return "\n".join([
        f"`{command.strip()}`: {info['date']}, {info['cpu']}, {info['cores']}, "
        f"{info.get('memory', '?')}; {info.get('packages', '')}; commit {info.get('commit', '?')}. "
        f"Load average {loads[0]} at the start, {loads[1]} at the end. "
        f"keras.applications models {sizes}, `weights=None`.",
        "",
        table(rows),
        "",
        *notes,
        "",
    ])  # fmt: skip


def write_markdown(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, or between its markers when it has them."""
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if MARKERS[0] in old and MARKERS[1] in old:
            head, _, rest = old.partition(MARKERS[0])
            _, _, tail = rest.partition(MARKERS[1])
            path.write_text(f"{head}{MARKERS[0]}\n{text}{MARKERS[1]}{tail}", encoding="utf-8")
            return
    path.write_text(f"# The import corpus\n\n{text}", encoding="utf-8")


def raw(rows: list[Row]) -> list[dict]:
    out = []
    for row in rows:
        proof = row.proof
        out.append({
            "name": row.entry.name,
            "group": row.entry.group,
            "allow_modules": list(row.entry.allow_modules),
            "layers": proof.layers if proof else None,
            "params": proof.params if proof else None,
            "result": row.result(width=10_000),
            "proven": row.ok,
            "keras_build_s": row.keras_build,
            "times_s": {s: [p.times[s] for p in row.proofs if s in p.times] for s in STAGES},
            "process_s": [r.wall for r in row.process],
            "process_cpu_s": [r.cpu for r in row.process],
            "process_heavy_modules": row.process_heavy,
        })  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", metavar="NAME", help="these models only (any case)")
    ap.add_argument("--quick", action="store_true",
                    help="the CI subset: the applications tests/test_import.py runs by "
                         "default (small inputs), the seeds and the guide's models")  # fmt: skip
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="runs of every stage per model; times are medians (default 1)")  # fmt: skip
    ap.add_argument("--small", action="store_true",
                    help="keras.applications at the smallest input each takes, 10 classes")  # fmt: skip
    ap.add_argument("--via", choices=("module", "direct"), default="module",
                    help="build through the generated module (default) or to_keras()")  # fmt: skip
    ap.add_argument("--no-process", action="store_true",
                    help="leave out the whole-process `modelspec import`")  # fmt: skip
    ap.add_argument("--markdown", type=Path, metavar="FILE",
                    help="write the table here (between the import-corpus markers if the "
                         "file has them)")  # fmt: skip
    ap.add_argument("--json", type=Path, metavar="FILE", help="write every raw timing here")
    ap.add_argument("--scaling", action="store_true",
                    help="instead of the corpus: import time of NASNetLarge's architecture "
                         "with 1 to 12 cells per stack, against its layers")  # fmt: skip
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    from modelspec.runtime.quiet import quiet_tensorflow

    quiet_tensorflow()
    import keras

    if args.scaling:
        print(scaling(keras, args.repeat))
        return

    entries = corpus(keras, args)
    unfinished: list[str] = []
    info, load_start = machine(), loadavg()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="modelspec-corpus-") as name:
        tmp = Path(name)
        env = common.bench_env(tmp)
        for i, entry in enumerate(entries, 1):
            log(f"{i}/{len(entries)} {entry.name}")
            try:
                row = prove(entry, keras, args, tmp, env)
            except KeyboardInterrupt:  # report what finished (`timeout -s INT` ends a run)
                log(f"interrupted: {len(rows)} of {len(entries)} models done")
                unfinished = [e.name for e in entries[len(rows) :]]
                break
            rows.append(row)
            proof = row.proof
            stages = ", ".join(f"{c} {fmt_s(row.median(c))}" for c in COLUMNS
                               if row.median(c) is not None)  # fmt: skip
            log(f"    {row.result()} ({stages})")
            if proof is not None and proof.failure is not None and os.environ.get("VERBOSE"):
                log(str(proof.failure))
    text = report(rows, args, info, (load_start, loadavg()))
    if unfinished:
        text += f"\nInterrupted before these models finished: {', '.join(unfinished)}.\n"
    print(text)
    per_layer, _ = linearity(rows)
    if per_layer:
        print("Import time per layer:\n  " + "\n  ".join(per_layer))
    if args.markdown:
        write_markdown(args.markdown, text)
        log(f"wrote {args.markdown}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "models": raw(rows)}, indent=1))
        log(f"wrote {args.json}")
    if unfinished or not all(r.ok for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
