"""What the benchmark scripts share: running a command as a whole process and timing
it (:func:`run`, :class:`Series`), the machine it ran on, and the checks of what a
modelspec process loaded (:data:`HEAVY`, :func:`process_wrapper`).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The packages whose versions a report names.
PACKAGES = ("modelspec", "PyYAML", "jsonschema", "referencing", "typer", "pydantic", "rich",
            "keras", "tensorflow-cpu", "tensorflow", "jax", "jaxlib", "torch", "numpy",
            "matplotlib")  # fmt: skip

# Modules a whole-process run of modelspec should not load (lint, build and import
# never need them), and the wrapper that reports which ones it did load.
HEAVY = ("tensorflow", "keras", "numpy", "jax", "torch")


def process_wrapper(heavy: tuple[str, ...] = HEAVY) -> str:
    """Python source that runs the modelspec CLI on its arguments, then prints
    ``MODULES-LOADED: [...]``, the ``heavy`` modules it imported, on stderr."""
    return f"""
import json, sys
from modelspec.cli import main
sys.argv = ["modelspec", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
print("MODULES-LOADED:" + json.dumps(heavy), file=sys.stderr)
sys.exit(code)
"""


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Run:
    __slots__ = ("wall", "cpu", "rc", "out", "err")

    def __init__(self, wall: float, cpu: float, rc: int, out: str, err: str):
        self.wall, self.cpu, self.rc, self.out, self.err = wall, cpu, rc, out, err


def run(cmd: list[str], env: dict[str, str], *, timeout: float = 900, keep: bool = False) -> Run:
    """Run ``cmd`` to completion: wall time, CPU time of the child, exit code, output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        p = subprocess.run(
            cmd,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            text=True,
        )
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as exc:
        rc = 124
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = f"timed out after {timeout} s"
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if not keep:
        out, err = out[-4000:], err[-4000:]
    return Run(wall, cpu, rc, out, err)


class Series:
    """Repeated measurements of one thing."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def add(self, wall: float, cpu: float | None = None) -> None:
        self.wall.append(wall)
        if cpu is not None:
            self.cpu.append(cpu)

    @property
    def median(self) -> float | None:
        return statistics.median(self.wall) if self.wall else None

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu else None

    def to_dict(self) -> dict:
        return {"wall": self.wall, "cpu": self.cpu, "median": self.median,
                "cpu_median": self.cpu_median}  # fmt: skip


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    if x < 1:
        return f"{x * 1000:.0f} ms"
    return f"{x:.2f} s"


def fmt_series(s: Series) -> str:
    if not s.wall:
        return "-"
    if len(s.wall) == 1:
        return f"{fmt_s(s.median)} (1 run)"
    return f"{fmt_s(s.median)} ({fmt_s(min(s.wall))}–{fmt_s(max(s.wall))})"


def machine() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
        info["cpu"] = models[0] if models else platform.processor() or "?"
        mhz = re.findall(r"^cpu MHz\s*:\s*(.+)$", cpuinfo, re.M)
        cache = re.findall(r"^cache size\s*:\s*(.+)$", cpuinfo, re.M)
        if mhz:
            info["cpu"] += f" @ {float(mhz[0]):.0f} MHz"
        if cache:
            info["cpu"] += f", {cache[0]} cache"
    except OSError:
        info["cpu"] = platform.processor() or "?"
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    info["cores"] = f"{os.cpu_count()} logical" + (
        f" ({affinity} usable by this process)" if affinity else ""
    )
    try:
        mem = re.search(r"MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text())
        info["memory"] = f"{int(mem[1]) / 2**20:.1f} GiB" if mem else "?"
    except OSError:
        pass
    info["os"] = platform.platform()
    # The interpreter, not its path: results are committed, and a path names a machine.
    venv = " (virtual environment)" if sys.prefix != sys.base_prefix else ""
    info["python"] = f"{platform.python_implementation()} {platform.python_version()}{venv}"
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {_md.version(name)}")
        except _md.PackageNotFoundError:
            pass
    info["packages"] = ", ".join(versions)
    try:
        import yaml

        info["packages"] += f"; libyaml: {'yes' if yaml.__with_libyaml__ else 'no'}"
    except ImportError:
        pass
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "modelspec"], cwd=ROOT,
                               text=True, capture_output=True).stdout.strip()  # fmt: skip
        info["commit"] = head + (" (modelspec/ has uncommitted changes)" if dirty else "")
    except OSError:
        pass
    info["date"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return info


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def bench_env(tmp: Path) -> dict[str, str]:
    """Bytecode cached outside the tree, as for an installed wheel; quiet TensorFlow."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    env["KERAS_BACKEND"] = "tensorflow"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env.pop("MODELSPEC_DEBUG", None)
    return env


def verify(spec: Path, n: int, cli: list[str], env: dict[str, str]) -> dict:
    r = run([*cli, "lint", "--format", "json", str(spec)], env)
    if r.rc != 0:
        raise SystemExit(f"{spec.name} does not lint clean (rc {r.rc}):\n{r.out}\n{r.err}")
    payload = json.loads(r.out)
    if payload["errors"] or payload["warnings"]:
        raise SystemExit(f"{spec.name} has diagnostics:\n{json.dumps(payload, indent=2)[:3000]}")
    r = run([*cli, "summary", "--format", "json", str(spec)], env, keep=True)
    if r.rc != 0:
        raise SystemExit(f"summary of {spec.name} failed (rc {r.rc}):\n{r.err}")
    summary = json.loads(r.out)
    if len(summary["layers"]) != n:
        raise SystemExit(f"{spec.name}: summary lists {len(summary['layers'])} layers, not {n}")
    return {"layers": len(summary["layers"]), "params": summary["total_params"]}


def parse_importtime(stderr: str) -> list[tuple[str, int, int, int]]:
    """``-X importtime`` lines -> (module, depth, self us, cumulative us)."""
    out = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            out.append((m[4], len(m[3]) // 2, int(m[1]), int(m[2])))
    return out


PSTATS_TABLE = """
import pstats, sys
from pathlib import Path
stats = pstats.Stats(sys.argv[1]).stats
rows = []
for (file, line, func), (cc, nc, tt, ct, _callers) in stats.items():
    if file.startswith("<frozen") or func in ("<built-in method builtins.exec>",
            "<built-in method builtins.__import__>", "<built-in method _imp.exec_dynamic>",
            "<built-in method _imp.create_dynamic>"):
        continue
    where = "/".join(Path(file).parts[-2:]) if file != "~" else ""
    calls = str(nc) if nc == cc else f"{nc}/{cc}"
    rows.append((ct, tt, calls, f"{where}:{line}({func})" if where else func))
rows.sort(key=lambda r: -r[0])
print(f"{'ncalls':>12} {'tottime':>8} {'cumtime':>8}  function (<module>: the import of that file)")
for ct, tt, calls, name in rows[: int(sys.argv[2])]:
    print(f"{calls:>12} {tt:8.3f} {ct:8.3f}  {name}")
"""


def pstats_rows(text: str) -> str:
    """Just the header and rows of a pstats table."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("ncalls"):
            return "\n".join(lines[i:]).rstrip()
    return text.rstrip()
