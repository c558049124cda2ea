"""Distribution on every backend: the spec's ``distribution:`` and ``--strategy``.

Lint checks a ``model_parallel`` mesh and layout against the model's weights without
Keras (MS560 - MS566), and a strategy against the backend that ``--backend`` or
``KERAS_BACKEND`` names (MS550). ``train`` runs Keras's ``DataParallel`` and
``ModelParallel`` on JAX over 2 virtual CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``), and over two processes on
localhost through ``keras.distribution.initialize``; the results are compared with
training on one device.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelspec.check import check_text
from modelspec.passes.distribution import layout_of, rule_problem
from modelspec.runtime.strategy import even_count, shard

ROOT = Path(__file__).resolve().parent.parent
JAX = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None or importlib.util.find_spec("keras") is None,
    reason="jax is not installed here",
)

MLP = """\
modelspec: 1
name: mp
seed: 1
inputs:
  x: {shape: [8]}
sequential:
  - {type: Dense, units: 16, name: d1}
  - {type: Dense, units: 1, name: d2}
outputs:
  y: {loss: mse}
fit: {batch_size: 8, epochs: 2, shuffle: false, verbose: 0}
"""
MODEL_PARALLEL = (
    MLP
    + """\
distribution:
  strategy: model_parallel
  mesh: {batch: 1, model: 2}
  layout:
    mp/d1/kernel: [null, model]
    mp/d1/bias: [model]
"""
)


def codes(text: str) -> list[tuple[str, int, int]]:
    result = check_text(text, "s.yaml")
    return [(d.code, d.line, d.col) for d in result.diagnostics]


def messages(text: str, code: str) -> list[str]:
    return [d.message for d in check_text(text, "s.yaml").diagnostics if d.code == code]


# === layout rules: what may run on every weight's path ========================================


@pytest.mark.parametrize(
    "rule",
    [
        "d1/kernel",
        ".*dense.*kernel",
        ".*/(query|key|value)/kernel",
        "block_[0-9]+/attention_output/kernel",
        "(enc|dec)_.*/kernel",
        "a{2,5}b",
        ".*x.*y.*",
    ],
)
def test_usual_rules_are_allowed(rule: str):
    assert rule_problem(rule) is None


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("(a+)+b", "repeats a part that repeats itself"),
        ("(a*)*", "repeats a part that repeats itself"),
        ("(a|aa)*b", "repeats a choice between alternatives"),
        ("(?:x|.*)+", "repeats a choice between alternatives"),
        (r"(a)\1", "uses a back-reference"),
        ("(?=d)d1/kernel", "uses a lookahead or lookbehind"),
        ("(?<!x)kernel", "uses a lookahead or lookbehind"),
        ("(a)?(?(1)b|c)", "uses a conditional group"),
        (".*a.*b.*c.*d", "has 4 unbounded repeats; at most 3 are allowed"),
        ("[", "is not a regular expression"),
        ("a{2", None),  # a literal '{' in Python's re: allowed
    ],
)
def test_rules_that_could_take_exponential_time_are_refused(rule: str, why: str | None):
    problem = rule_problem(rule)
    if why is None:
        assert problem is None
    else:
        assert problem is not None and why in problem, problem


def test_a_weight_takes_its_exact_rule_before_patterns():
    # As Keras's LayoutMap: an exact key wins, else every rule matching the whole path.
    assert layout_of(["d1/kernel", ".*kernel"], "d1/kernel") == ["d1/kernel"]
    assert layout_of([".*kernel", "d.*"], "d2/kernel") == [".*kernel", "d.*"]
    assert layout_of(["kernel"], "d1/kernel") == []  # the whole path, not a part


# === what train cuts and shards ===============================================================


def test_even_count_keeps_every_batch_divisible():
    assert even_count(37, 8, 2) == 36  # 4 batches of 8, then 5 -> 4
    assert even_count(36, 8, 2) == 36
    assert even_count(33, 8, 4) == 32  # the last batch of 1 goes
    assert even_count(35, 8, 4) == 35 - 3


@given(
    st.integers(1, 4).flatmap(
        lambda p: st.tuples(st.just(p), st.integers(1, 6).map(lambda k: k * p), st.integers(0, 9))
    )
)
def test_shards_fed_together_are_the_global_batches(args):
    processes, batch, batches = args
    import numpy as np

    samples = batch * batches
    data = {"x": np.arange(samples)}
    parts = [shard(data, i, processes)["x"] for i in range(processes)]
    local = batch // processes
    for k in range(batches):
        fed = np.concatenate([p[k * local : (k + 1) * local] for p in parts])
        assert sorted(fed) == list(range(k * batch, (k + 1) * batch))


# === lint: the section ========================================================================


def test_a_clean_model_parallel_spec_lints_clean():
    assert codes(MODEL_PARALLEL) == []


def test_ms560_mesh_and_layout_belong_to_model_parallel():
    text = MLP + "distribution:\n  strategy: data_parallel\n  mesh: {batch: 2}\n"
    assert codes(text) == [("MS560", 14, 3)]
    assert messages(text, "MS560") == [
        "`distribution.mesh` is read by the model_parallel strategy only; this spec's "
        "strategy is data_parallel"
    ]
    text = MLP + "distribution:\n  strategy: model_parallel\n"
    assert codes(text) == [("MS560", 13, 13)]
    assert "needs `mesh` and `layout`" in messages(text, "MS560")[0]


def test_ms561_an_axis_the_mesh_does_not_have():
    text = MODEL_PARALLEL.replace("[null, model]", "[null, modle]").replace(
        "d1/bias: [model]", "d1/bias: [model]\n  batch_axis: data"
    )
    found = check_text(text, "s.yaml").diagnostics
    assert [(d.code, d.line, d.col) for d in found] == [("MS561", 16, 26), ("MS561", 18, 15)]
    assert found[0].message == "mesh axis 'modle' is not in the mesh, which has 'batch', 'model'"
    assert found[0].hint == "did you mean 'model'?"
    text = MODEL_PARALLEL.replace("[null, model]", "[model, model]")
    assert messages(text, "MS561") == [
        "layout rule 'mp/d1/kernel' splits two dimensions over mesh axis 'model'; an axis "
        "splits one dimension at most"
    ]


def test_ms562_a_rule_that_is_not_safe_to_match():
    text = MODEL_PARALLEL.replace("mp/d1/bias:", "'(d+)+1/bias':")
    assert codes(text) == [("MS562", 17, 5)]
    assert messages(text, "MS562") == [
        "layout rule '(d+)+1/bias' repeats a part that repeats itself"
    ]


def test_ms566_the_batch_splits_over_the_batch_axis():
    text = MODEL_PARALLEL.replace("{batch: 1, model: 2}", "{batch: 2, model: 1}")
    text = text.replace("batch_size: 8", "batch_size: 7")
    assert codes(text) == [("MS566", 11, 19)]
    assert messages(text, "MS566") == [
        "batch size 7 does not split over the 2 devices of mesh axis 'batch'"
    ]


# === the backend a strategy needs (MS550) =====================================================


def lint(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "XLA_FLAGS")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "modelspec", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip


@pytest.mark.parametrize(
    ("strategy", "backend", "hint"),
    [
        ("mirrored", "jax", "train with --backend tensorflow, or use data_parallel"),
        ("data_parallel", "tensorflow", "train with --backend jax, or use mirrored"),
        ("model_parallel", "torch", "Keras has no distribution for PyTorch: train on one device"),
        ("multi_worker_mirrored", "torch", "or on several with --backend jax (data_parallel"),
    ],
)
def test_lint_with_a_backend_reports_a_strategy_it_cannot_run(strategy, backend, hint, tmp_path):
    text = MODEL_PARALLEL if strategy == "model_parallel" else (
        MLP + f"distribution: {{strategy: {strategy}}}\n")  # fmt: skip
    (tmp_path / "s.yaml").write_text(text)
    proc = lint("lint", "s.yaml", "--backend", backend, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert re.match(r"s\.yaml:1[23]:(13|26): error MS550: `distribution.strategy: ", first), first
    assert first.endswith(f"; this run is on {backend}")
    assert hint in proc.stderr
    # KERAS_BACKEND names it too; without either, lint does not know the backend.
    proc = lint("lint", "s.yaml", cwd=tmp_path, env={"KERAS_BACKEND": backend})
    assert proc.returncode == 1 and "MS550" in proc.stderr
    proc = lint("lint", "s.yaml", cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (0, "1 file checked: clean\n")
    right = "tensorflow" if "mirrored" in strategy else "jax"
    proc = lint("lint", "s.yaml", "--backend", right, cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (0, "1 file checked: clean\n")


# === training on JAX over 2 devices ===========================================================

TWO_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "KERAS_BACKEND": "jax"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import numpy as np

    folder = tmp_path_factory.mktemp("distributed")
    (folder / "mlp.yaml").write_text(MLP)
    (folder / "mp.yaml").write_text(MODEL_PARALLEL)
    rng = np.random.default_rng(0)
    x = rng.random((36, 8)).astype("float32")
    np.savez(folder / "d.npz", x=x, y=x.sum(axis=1, keepdims=True))
    return folder


WEIGHTS = """
import sys, keras, numpy as np
model = keras.saving.load_model(sys.argv[1])
np.savez(sys.argv[2], *[keras.ops.convert_to_numpy(w) for w in model.weights])
"""


def weights(model: Path, cwd: Path) -> list:
    import numpy as np

    out = model.with_suffix(".npz")
    proc = subprocess.run([sys.executable, "-c", WEIGHTS, str(model), str(out)], cwd=cwd,
                          env={**os.environ, "KERAS_BACKEND": "jax"}, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as data:
        return [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[1]))]


def metrics(stdout: str) -> dict[str, float]:
    return {k: float(v) for k, v in (line.split(": ") for line in stdout.splitlines())}


@pytest.fixture(scope="module")
def one_device(project: Path) -> tuple[dict[str, float], list]:
    """The spec trained on one device, the reference for the distributed runs."""
    proc = lint("train", "mlp.yaml", "--data", "d.npz", "-o", "one.keras", cwd=project,
                env={"KERAS_BACKEND": "jax"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return metrics(proc.stdout), weights(project / "one.keras", project)


@JAX
@pytest.mark.keras
@pytest.mark.slow
def test_data_parallel_over_two_devices_trains_as_one_device_does(project, one_device):
    import numpy as np

    proc = lint("train", "mlp.yaml", "--data", "d.npz", "--strategy", "data_parallel",
                "-o", "dp.keras", cwd=project, env=TWO_DEVICES)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "training on the jax backend",
        "training with DataParallel: 2 devices (mesh 2 batch), each batch split over 2 of them",
        "saved dp.keras",
    ]
    # Each device takes half of every batch; the gradients are averaged: the same steps.
    got, want = weights(project / "dp.keras", project), one_device[1]
    assert [w.shape for w in got] == [w.shape for w in want]
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(got, want))
    assert metrics(proc.stdout) == pytest.approx(one_device[0], rel=1e-4)
    # 27 samples train (the last batch of 3 loses one), 9 validate (the last of 1 goes).
    proc = lint("train", "mlp.yaml", "--data", "d.npz", "--strategy", "data_parallel",
                "--validation-split", "0.25", "-o", "dpv.keras", cwd=project, env=TWO_DEVICES)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[2:4] == [
        "leaving out the last 1 training sample, so that every batch splits evenly over 2 devices",
        "leaving out the last 1 validation sample, so that every batch splits evenly over 2 "
        "devices",
    ]
    assert set(metrics(proc.stdout)) == {"loss", "val_loss"}


@JAX
@pytest.mark.keras
@pytest.mark.slow
def test_model_parallel_splits_the_weights_the_layout_names(project, one_device):
    import numpy as np

    proc = lint("train", "mp.yaml", "--data", "d.npz", "-o", "mp.keras", cwd=project,
                env=TWO_DEVICES)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[:2] == [
        "training on the jax backend",
        "training with ModelParallel: 2 devices (mesh 1 batch x 2 model), each batch split "
        "over 1 of them",
    ]
    # The batch is not split: every sample trains, as on one device.
    got = weights(project / "mp.keras", project)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(got, one_device[1]))
    assert metrics(proc.stdout) == pytest.approx(one_device[0], rel=1e-4)
    # Where the weights live while training: d1's split over the model axis.
    check = textwrap.dedent("""
        from modelspec.api import load
        from modelspec.lower.plan import plan
        from modelspec.runtime.strategy import make_distribution
        from modelspec.runtime.instantiate import to_keras
        spec = load("mp.yaml")
        dist = make_distribution("model_parallel", spec.result.spec.distribution)
        with dist.scope():
            model = to_keras(plan(spec.result), "auto", compile=True, weights=False)
        for w in model.weights:
            print(w.path, tuple(w.value.sharding.spec))
    """)
    proc = subprocess.run([sys.executable, "-c", check], cwd=project, capture_output=True,
                          text=True, env={**os.environ, **TWO_DEVICES,
                          "PYTHONPATH": str(ROOT)}, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "mp/d1/kernel (None, 'model')",
        "mp/d1/bias ('model',)",
        "mp/d2/kernel (None, None)",
        "mp/d2/bias (None,)",
    ]


@JAX
@pytest.mark.keras
@pytest.mark.slow
def test_what_the_machine_lacks_is_said_before_training(project):
    big = MODEL_PARALLEL.replace("{batch: 1, model: 2}", "{batch: 2, model: 2}")
    (project / "big.yaml").write_text(big)
    proc = lint("train", "big.yaml", "--data", "d.npz", "-o", "big.keras", cwd=project,
                env=TWO_DEVICES)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (
        "modelspec: error: the mesh (2 batch x 2 model) spans 4 devices; this run has 2 "
        "(cpu:0, cpu:1)"
    )
    proc = lint("train", "mlp.yaml", "--data", "d.npz", "--strategy", "data_parallel",
                "--batch-size", "7", "-o", "odd.keras", cwd=project, env=TWO_DEVICES)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].startswith(
        "modelspec: error: batch size 7 does not split over the 2 devices"
    )
    proc = lint("train", "mlp.yaml", "--data", "d.npz", "--strategy", "model_parallel",
                "-o", "x.keras", cwd=project, env=TWO_DEVICES)  # fmt: skip
    assert proc.returncode == 2
    assert "needs the spec's distribution.mesh and layout" in proc.stderr
    assert not any((project / n).exists() for n in ("big.keras", "odd.keras", "x.keras"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@JAX
@pytest.mark.keras
@pytest.mark.slow
def test_two_processes_on_localhost_train_together(project, tmp_path):
    import numpy as np

    port = free_port()
    env = {"KERAS_BACKEND": "jax", "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{port}",
           "KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}  # fmt: skip
    environ = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS",)}
    environ["PYTHONPATH"] = str(ROOT)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelspec",
                "train",
                str(project / "mlp.yaml"),
                "--data",
                str(project / "d.npz"),
                "--strategy",
                "data_parallel",
                "-o",
                "two.keras",
            ],
            cwd=tmp_path,
            env={**environ, **env, "KERAS_DISTRIBUTION_PROCESS_ID": str(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "training with DataParallel: 2 devices (mesh 2 batch), 2 processes" in err
    assert metrics(outs[0][0]) == metrics(outs[1][0])  # both saw the same global batches
    assert "saved two.keras" in outs[0][1] and "saved" not in outs[1][1]  # process 0 writes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.keras"]
    # As on one process with two devices.
    proc = lint("train", "mlp.yaml", "--data", "d.npz", "--strategy", "data_parallel",
                "-o", "dp2.keras", cwd=project, env=TWO_DEVICES)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got, want = weights(tmp_path / "two.keras", tmp_path), weights(project / "dp2.keras", project)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(got, want))
    assert metrics(outs[0][0]) == pytest.approx(metrics(proc.stdout), rel=1e-4)


# === lint: the layout against the model's weights =============================================

GRAPH = """\
modelspec: 1
name: g
inputs:
  x: {shape: [6, 8]}
layers:
  att: {type: MultiHeadAttention, num_heads: 2, key_dim: 4}
  d1: {type: Dense, units: 6}
graph:
  a: {apply: att, to: [x, x]}
  h: {apply: d1, to: a}
outputs:
  y: {from: h, loss: mse}
distribution:
  strategy: model_parallel
  mesh: {batch: 1, model: 2}
  layout:
"""


def test_a_functional_models_weights_are_named_by_their_layer():
    text = GRAPH + (
        "    .*/(query|key|value)/kernel: [null, model, null]\n"
        "    att/attention_output/kernel: [model, null, null]\n"
        "    d1/kernel: [null, model]\n"
    )
    assert codes(text) == []


def test_ms563_a_rule_that_matches_no_weight():
    text = GRAPH + "    dense/kernel: [null, model]\n    d1: [model]\n"
    found = check_text(text, "s.yaml").diagnostics
    assert [(d.code, d.line, d.col, d.level) for d in found] == [
        ("MS563", 17, 5, "error"), ("MS563", 18, 5, "error")]  # fmt: skip
    assert found[0].message == "layout rule 'dense/kernel' matches no weight"
    assert found[0].hint.endswith("such as 'd1/kernel' or 'att/key/kernel'")
    # A layer whose weights lint cannot list (a custom layer) makes it a warning.
    from modelspec.passes.distribution import check_distribution

    result = check_text(text, "s.yaml")
    (d, _) = check_distribution(result, [], ["scale"])
    assert (d.code, d.level) == ("MS563", "warning")
    assert d.message == (
        "layout rule 'dense/kernel' matches no weight lint can list (it cannot list those "
        "of 'scale')"
    )


def test_ms564_a_weight_two_rules_match():
    text = GRAPH + "    .*kernel: [null, model]\n    d1/.*: [null, model]\n"
    found = [d for d in check_text(text, "s.yaml").diagnostics if d.code == "MS564"]
    assert [(d.line, d.col) for d in found] == [(18, 5)]
    assert found[0].message == (
        "weight 'd1/kernel' matches 2 layout rules: '.*kernel', 'd1/.*'; Keras allows one"
    )
    # An exact path wins over the patterns, as in Keras's LayoutMap.
    text = GRAPH + "    .*kernel: [null, model, null]\n    d1/kernel: [null, model]\n"
    assert [c for c, *_ in codes(text)] == []


def test_ms565_a_rule_that_does_not_fit_a_weight():
    text = GRAPH + "    d1/kernel: [null, null, model]\n"
    assert messages(text, "MS565") == [
        "layout rule 'd1/kernel': weight 'd1/kernel' has 2 dimensions [8, 6], and the rule "
        "gives 3 axes"
    ]
    text = GRAPH.replace("model: 2", "model: 4") + "    d1/kernel: [null, model]\n"
    assert messages(text, "MS565") == [
        "layout rule 'd1/kernel': dimension 1 of weight 'd1/kernel' [8, 6] has size 6, which "
        "the 4 devices of mesh axis 'model' do not divide"
    ]
    assert codes(text) == [("MS565", 17, 5)]


def test_the_process_count_comes_from_keras_distribution_num_processes():
    from modelspec.runtime.strategy import DistributionError, processes

    assert processes({}) == 1
    assert processes({"KERAS_DISTRIBUTION_NUM_PROCESSES": " 4 "}) == 4
    for bad in ("two", "0", "-1"):
        with pytest.raises(DistributionError, match="must be a whole number of processes"):
            processes({"KERAS_DISTRIBUTION_NUM_PROCESSES": bad})
