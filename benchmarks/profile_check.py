"""Profile one in-process ``modelspec.check()`` of a spec, and time its stages.

    python benchmarks/profile_check.py SPEC [--top 15]

Imports modelspec first (import time is measured separately, with ``-X importtime``),
then:

1. runs ``check(SPEC)`` once under cProfile, first, so that it starts as cold as a
   ``modelspec lint`` process does (the schema validators are built on first use);
2. runs ``check(SPEC)`` again without the profiler, then each stage of the pipeline
   once (load, schema, parse, graph, shapes, training), the way ``check_document``
   chains them, with every cache already warm (the cold costs are in the profile).
   The stage timings use modelspec's internal modules and are skipped (reported as
   an error) if the pipeline's shape changes.

Prints a JSON object on the last line (stages, totals) after the human-readable
pstats tables.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()

    t0 = time.perf_counter()
    from modelspec.check import check

    import_s = time.perf_counter() - t0

    # 1. cProfile of a cold check() (the validators' lru_cache is empty, as in the CLI).
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    result = check(args.spec)
    prof.disable()
    profiled_s = time.perf_counter() - t0
    assert result.ok, [d.format() for d in result.diagnostics[:5]]
    tables = {}
    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(args.top)
        tables[key] = buf.getvalue()

    # 2. Unprofiled timings: a whole check() again (warm caches), and stage by stage.
    t0 = time.perf_counter()
    check(args.spec)
    warm_s = time.perf_counter() - t0
    stages: dict[str, float] = {}
    try:
        from modelspec.lower.parse import parse, unused_layers
        from modelspec.passes.graph import check_graph
        from modelspec.passes.shapes import infer_shapes
        from modelspec.passes.training import check_training
        from modelspec.schema import validate as _schema
        from modelspec.source.loader import load

        t = time.perf_counter()
        doc, _ = load(args.spec)
        stages["load (YAML events -> data + positions)"] = time.perf_counter() - t
        t = time.perf_counter()
        _schema.validate(doc)
        stages["schema: validate"] = time.perf_counter() - t
        t = time.perf_counter()
        spec, _ = parse(doc)
        list(unused_layers(spec))
        stages["parse (IR, names)"] = time.perf_counter() - t
        t = time.perf_counter()
        graph, _ = check_graph(spec)
        stages["graph"] = time.perf_counter() - t
        t = time.perf_counter()
        infer_shapes(spec, graph)
        stages["shapes"] = time.perf_counter() - t
        t = time.perf_counter()
        check_training(spec)
        stages["training"] = time.perf_counter() - t
    except Exception as exc:  # the pipeline moved on: keep the rest of the benchmark
        stages = {"error": f"{type(exc).__name__}: {exc}"}  # type: ignore[dict-item]

    print("== cProfile, by cumulative time ==")
    print(tables["cumulative"])
    print("== cProfile, by own time ==")
    print(tables["tottime"])
    print(
        json.dumps(
            {
                "import_s": import_s,
                "profiled_s": profiled_s,
                "warm_check_s": warm_s,
                "stages": stages,
                "tables": tables,
            }
        )
    )


if __name__ == "__main__":
    main()
