"""benchmarks/backend_steps.py without training anything: its options, the specs it
finds, their hand-written twins, and the report it writes. No timing is asserted (the
numbers are measured by running the script, see benchmarks/README.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import backend_steps
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return backend_steps


def test_every_shipped_spec_is_found_and_has_a_hand_written_twin(bench):
    import hand_models

    specs = bench.discover()
    assert [p.name for p in specs] == sorted(p.name for p in (ROOT / "specs").glob("*.yaml"))
    assert {p.stem for p in specs} == set(hand_models.BY_SPEC)
    assert set(bench.QUICK_SKIP) <= set(hand_models.BY_SPEC)


def test_specs_are_chosen_by_name_or_path_and_an_unknown_one_is_named(bench, tmp_path):
    assert [p.stem for p in bench.select(["seq2seq", "siamese"])] == ["seq2seq", "siamese"]
    own = tmp_path / "mine.yaml"
    own.write_text("modelspec: 1\n", encoding="utf-8")
    assert bench.select([str(own)]) == [own.resolve()]
    with pytest.raises(
        SystemExit, match=r"no spec 'sequence2sequence' \(a path, or one of: .*seq2seq"
    ):
        bench.select(["sequence2sequence"])


def test_options_and_what_a_backend_process_is_given(bench):
    args = bench.parser().parse_args(["--quick", "--backends", "jax", "torch", "--specs",
                                      "seq2seq", "--markdown", "R.md", "--torch-threads", "1"])  # fmt: skip
    assert args.backends == ["jax", "torch"]
    cfg = bench.settings(args)
    assert (cfg["repeat"], cfg["control"], cfg["steps"]) == (bench.REPEAT[1], False, None)
    child = bench.child_argv(args)
    assert child == ["--batch-size", "32", "--specs", "seq2seq", "--quick", "--torch-threads", "1"]
    assert bench.settings(bench.parser().parse_args(child)) == cfg
    full = bench.settings(bench.parser().parse_args(["--repeat", "3", "--steps", "7"]))
    assert (full["repeat"], full["steps"], full["control"]) == (3, 7, True)
    with pytest.raises(SystemExit, match="--repeat must be at least 1"):
        bench.main(["--repeat", "0"])
    with pytest.raises(SystemExit, match="no spec 'nope'"):
        bench.main(["--specs", "nope"])


def test_a_backend_without_its_package_is_skipped_and_said_so(bench, monkeypatch):
    monkeypatch.setattr(
        bench.importlib.util, "find_spec", lambda name: None if name == "jax" else 1
    )
    assert bench.missing_package("jax") == "`jax` is not installed"
    assert bench.missing_package("torch") is None
    res = bench.run_backend("jax", [], Path("."), 1)
    assert res == {"backend": "jax", "skipped": "`jax` is not installed", "rows": []}
    assert bench.table(res) == "Not run: `jax` is not installed."


def test_configs_compare_with_an_axis_counted_from_either_end(bench):
    bn = {"class_name": "BatchNormalization", "build_config": {"input_shape": [None, 8, 8, 3]}}
    a = {"layers": [{**bn, "config": {"axis": 3, "name": "bn"}}]}
    b = {"layers": [{**bn, "config": {"axis": -1, "name": "bn"}}]}
    assert bench._canonical(a) == bench._canonical(b)
    c = {"layers": [{**bn, "config": {"axis": 2, "name": "bn"}}]}
    assert bench.first_difference(bench._canonical(c), bench._canonical(b)) == (
        "layers[0].config.axis: -2 != -1"
    )
    assert bench.first_difference({"a": 1}, {"a": 1, "b": 2}) == "b: only in one"


def _row(spec, ratio, device="CPU", **more):
    return {"spec": spec, "backend": "jax", "device": device, "status": "ok", "batch": 32,
            "steps": 10, "blocks": 5, "spec_ms": 10.0 * ratio, "hand_ms": 10.0, "ratio": ratio,
            "paired": ratio, "cpu_ratio": 1.0, "control": None,
            "wall_s": {"to_keras": [0.01 * ratio] * 5, "hand": [0.009, 0.01, 0.011]}, **more}  # fmt: skip


def _report(bench, device="CPU"):
    rows = [_row("seq2seq", 1.01, device), _row("siamese", 1.08, device, control=0.99),
            {"spec": "tabular_model", "backend": "jax", "device": device, "status": "skipped",
             "reason": "MS551: input 'plan' has dtype string"}]  # fmt: skip
    return {
        "command": ".venv/bin/python benchmarks/backend_steps.py --quick",
        "machine": {"cpu": "Some CPU", "commit": "abc1234", "date": "2026-01-01 00:00 UTC"},
        "settings": bench.settings(bench.parser().parse_args(["--quick"])),
        "load_before": "1.00 1.00 1.00", "load_after": "2.00 2.00 2.00", "elapsed_s": 90,
        "backends": [{"backend": "jax", "device": device, "device_detail": f"{device}: x",
                      "rows": rows},
                     {"backend": "torch", "skipped": "`torch` is not installed", "rows": []}],
    }  # fmt: skip


def test_the_table_has_a_row_per_spec_and_names_the_skipped_ones(bench):
    text = bench.table(_report(bench)["backends"][0])
    lines = text.splitlines()
    assert lines[0].startswith("| spec | device | batch | steps x blocks | spec-built ms/step ")
    assert lines[2] == ("| seq2seq | CPU | 32 | 10 x 5 | 10.1 (10.1–10.1) | 10.0 (9.00–11.0) "
                        "| **1.010** | 1.010 | 1.000 | - |")  # fmt: skip
    assert "| **1.080** ‡ |" in lines[3] and lines[3].endswith("| 0.990 |")
    assert lines[-1] == "- tabular_model: skipped: MS551: input 'plan' has dtype string"
    summary = bench.summary(_report(bench)["backends"][0])
    assert summary == ("- jax (CPU): median ratio 1.045, from 1.010 to 1.080; 1 of 2 specs within "
                       "1.00 +- 0.03; A/A control 0.990 to 0.990; outside: siamese 1.080 (A/A 0.990)")  # fmt: skip


def test_the_section_keeps_the_rest_of_the_file_and_the_other_devices_part(bench):
    before = "# Results\n\nOther numbers.\n"
    command = ".venv/bin/python benchmarks/backend_steps.py --quick"
    cpu = bench.write_section(before, _report(bench), command)
    assert cpu.startswith(before) and cpu.count(bench.HEADING) == 1
    assert "### On a CPU\n\nGenerated by" in cpu and "#### jax" in cpu
    assert f"### On a GPU\n\nNot measured yet: run `{command}` on a machine with a GPU" in cpu
    cpu_part = cpu.split("<!-- backend-steps:cpu:start -->")[1].split("<!-- backend-steps:cpu:end")[
        0
    ]
    gpu = bench.write_section(cpu + "\nAfter.\n", _report(bench, "GPU: H100"), command)
    assert gpu.startswith(before) and gpu.endswith("\nAfter.\n")
    assert cpu_part in gpu and "Not measured yet" not in gpu and "| siamese | GPU: H100 |" in gpu
    assert bench.write_section(gpu, _report(bench, "GPU: H100"), command) == gpu
