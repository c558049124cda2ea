"""benchmarks/precision_steps.py without training anything: the mixed-precision twin of
each spec, its options, and the report it writes. No timing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import precision_steps
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return precision_steps


def test_every_shipped_spec_has_a_mixed_bfloat16_twin(bench):
    for path in bench.bs.discover():
        mixed = bench.mixed_spec(path)
        assert mixed.result.spec.dtype_policy == "mixed_bfloat16", path.name


def test_options_are_backend_steps_own(bench):
    args = bench.parser().parse_args(["--quick", "--backends", "jax", "--specs", "seq2seq"])
    assert (args.backends, args.json) == (["jax"], bench.DEFAULT_JSON)
    assert bench.bs.child_argv(args) == ["--batch-size", "32", "--specs", "seq2seq", "--quick"]
    with pytest.raises(SystemExit, match="--repeat must be at least 1"):
        bench.main(["--repeat", "0"])


def _row(spec, device="CPU"):
    ms = {"spec_f32": 10.0, "hand_f32": 10.0, "spec_mixed": 6.0, "hand_mixed": 5.0}
    return {"spec": spec, "backend": "jax", "device": device, "status": "ok", "batch": 32,
            "steps": 10, "blocks": 5, "ms": ms, "ratio_f32": 1.0, "ratio_mixed": 1.2,
            "gain_spec": 0.6, "gain_hand": 0.5}  # fmt: skip


def _report(bench, device="CPU"):
    rows = [_row("seq2seq", device), {"spec": "siamese", "backend": "jax", "device": device,
            "status": "error", "reason": "spec_mixed is not hand_mixed: get_config() differs"}]  # fmt: skip
    return {
        "command": ".venv/bin/python benchmarks/precision_steps.py --quick",
        "machine": {"cpu": "Some CPU", "commit": "abc1234", "date": "2026-01-01 00:00 UTC"},
        "settings": bench.bs.settings(bench.parser().parse_args(["--quick"])),
        "load_before": "1.00", "load_after": "2.00", "elapsed_s": 90,
        "backends": [{"backend": "jax", "device_detail": f"{device}: x", "rows": rows}],
    }  # fmt: skip


def test_the_table_and_the_section(bench):
    text = bench.table(_report(bench)["backends"][0])
    lines = text.splitlines()
    assert lines[2] == ("| seq2seq | CPU | 32 | 10 x 5 | 10.0 | 10.0 | **1.000** | 6.00 | 5.00 "
                        "| **1.200** | 0.60 | 0.50 |")  # fmt: skip
    assert lines[-1] == "- siamese: error: spec_mixed is not hand_mixed: get_config() differs"
    before = "# Results\n\nOther numbers.\n"
    command = ".venv/bin/python benchmarks/precision_steps.py --quick"
    cpu = bench.write_section(before, _report(bench), command)
    assert cpu.startswith(before) and cpu.count(bench.HEADING) == 1
    assert f"### On a GPU\n\nNot measured yet: run `{command}` on a machine with a GPU" in cpu
    gpu = bench.write_section(cpu, _report(bench, "GPU: H100"), command)
    assert "Not measured yet" not in gpu and "| seq2seq | GPU: H100 |" in gpu
    assert cpu.split("precision-steps:cpu:start -->")[1].split("<!--")[0] in gpu
