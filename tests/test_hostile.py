"""The hostile corpus: every spec in ``tests/hostile/`` through the real command line.

A spec may come from an untrusted pull request (``modelspec lint`` runs in CI on it).
Each case is one file in ``tests/hostile/`` with its expected outcome; see
``tests/hostile/README.md`` for the format. For each case this runs ``modelspec lint
FILE`` as a user would, in a subprocess, and checks

- the exit code (1 unless the case says otherwise) and no traceback, no internal error;
- the expected rule code, at the expected ``file:line:col``, with the expected message;
- nothing written: the folder holds the spec alone, unchanged, and an audit hook in
  the process saw no write, no process, no socket, no read outside Python's and
  modelspec's own files and the spec, and no code compiled from the spec's text;
- a finish under 2 s of CPU time (wall-clock time only bounds a hang: on a loaded
  2-core machine it says more about the neighbours than about modelspec).

Cases marked ``build: true`` also run ``modelspec build FILE -o OUT.py``: nothing is
written for a spec with errors, and for a clean one the module parses, imports
``keras`` alone and, with Keras, builds under the audit hook of
``tests/test_codegen_safety.py`` without running any of the spec's text.

The output-path refusals (``-o`` at a folder, a foreign file, a link, a read-only
place) and spec paths that are not plain files are at the end.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import modelspec as api
from modelspec.emit.keras_py import is_generated

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = Path(__file__).resolve().parent / "hostile"
CPU_LIMIT_S = 2.5  # the 2 s budget, with room for a loaded 2-core CI machine (about 1.2 s alone)
CPU_LIMIT_KERAS_S = 30.0  # a command that loads TensorFlow: about 5 s of that is its start
WALL_LIMIT_S = 30.0  # a hang, not a slow neighbour
MARKER = "PWNED"  # in every payload: text that must never become code, a file or a process

# --- the cases ------------------------------------------------------------------------------

_EXPECT_KEYS = {
    "exit", "code", "at", "message", "hint", "errors", "build", "command", "file", "allow",
}  # fmt: skip
# The memory a case may take (the address space of the process, Python's own included),
# and more for a command that loads TensorFlow (whose libraries alone map gigabytes).
MEMORY_LIMIT_MIB = 1024
MEMORY_LIMIT_KERAS_MIB = 8192
_KERAS_COMMANDS = {"train", "equiv"}


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    file: str  # the spec's file name in the case's folder (its suffix picks the format)
    data: bytes
    expect: dict[str, Any]
    # More files, for a case about what a spec may read (`include:`): path relative to
    # the spec's folder (it may lead out of it) -> text, or {link: target}.
    others: tuple[tuple[str, Any], ...] = ()

    @property
    def exit(self) -> int:
        return self.expect.get("exit", 1)

    @property
    def command(self) -> list[str]:
        """The command line, ``{spec}`` standing for the spec's file name."""
        return [
            a.replace("{spec}", self.file) for a in self.expect.get("command", ["lint", "{spec}"])
        ]

    @property
    def keras(self) -> bool:
        """Whether the command loads Keras (train, equiv, or Keras allowed to it)."""
        return self.command[0] in _KERAS_COMMANDS or "keras" in self.expect.get("allow", ())

    @property
    def memory_mib(self) -> int:
        return MEMORY_LIMIT_KERAS_MIB if self.keras else MEMORY_LIMIT_MIB


def _expectation(expect: Any, where: Path) -> dict[str, Any]:
    assert isinstance(expect, dict), f"{where}: `expect` must be a mapping"
    unknown = set(expect) - _EXPECT_KEYS
    assert not unknown, f"{where}: unknown expectation keys {sorted(unknown)}"
    if expect.get("exit", 1) in (1, 2):
        assert {"code", "at", "message"} <= set(expect), (
            f"{where}: a failing case names its code, `at` (line:col) and message"
        )
    command = expect.get("command", ["lint", "{spec}"])
    assert isinstance(command, list) and all(isinstance(a, str) for a in command), where
    assert not (expect.get("build") and "command" in expect), f"{where}: build is for lint cases"
    return expect


def _render(parts: list[Any], where: Path) -> bytes:
    """A recipe's parts -> the spec's bytes.

    A part is ``{text: S}`` (UTF-8), ``{text: S, times: N}`` (S repeated),
    ``{hex: "ff 00"}`` (raw bytes), or ``{each: S, count: N, start: K}``: S for every
    i in ``range(K, K + N)``, with ``{i}`` and ``{prev}`` (i - 1) replaced.
    """
    out = bytearray()
    for part in parts:
        if "each" in part:
            template, start = part["each"], part.get("start", 0)
            out += "".join(
                template.replace("{i}", str(i)).replace("{prev}", str(i - 1))
                for i in range(start, start + part["count"])
            ).encode("utf-8")
        elif "hex" in part:
            out += bytes.fromhex(part["hex"])
        elif "text" in part:
            out += part["text"].encode("utf-8") * part.get("times", 1)
        else:
            raise AssertionError(f"{where}: unknown part {part!r}")
    return bytes(out)


def load_case(path: Path) -> Case:
    """A spec file with an ``# expect: {...}`` comment, or a ``.recipe``."""
    if path.suffix == ".recipe":
        recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
        expect = _expectation(recipe["expect"], path)
        others = tuple((recipe.get("others") or {}).items())
        assert not (others and expect.get("build")), f"{path}: `others` is not for build cases"
        return Case(
            path.stem, recipe.get("file", "spec.yaml"), _render(recipe["parts"], path), expect,
            others,
        )  # fmt: skip
    data = path.read_bytes()
    found = re.search(rb"^# expect: (.*)$", data, flags=re.M)
    assert found, f"{path}: a case file needs an `# expect: {{...}}` comment"
    expect = _expectation(yaml.safe_load(found[1].decode("utf-8")), path)
    return Case(path.stem, path.name, data, expect)


def all_cases() -> list[Case]:
    paths = sorted(p for p in HOSTILE.iterdir() if p.suffix in (".yaml", ".recipe"))
    return [load_case(p) for p in paths]


CASES = all_cases()


# --- the command line, audited --------------------------------------------------------------

# Runs `modelspec.cli.main` as the `modelspec` script does, under an audit hook. What the
# hook refuses it also reports, on stderr, as `AUDIT: ...` lines (at exit, for the rest).
_AUDITED_CLI = r"""
import json, os, sys

rules = json.loads(os.environ.pop("MODELSPEC_AUDIT"))
allowed_imports = tuple(rules.get("imports", ()))
# numpy imports ctypes, which opens the running process itself (dlopen(None)) as it
# loads: allowing numpy allows that much, and no other library.
numpy_ctypes = "numpy" in allowed_imports
read_roots = tuple(os.path.realpath(p) + os.sep for p in rules["read"])
write_roots = tuple(os.path.realpath(p) + os.sep for p in rules["write"])
# A command that loads Keras may load its native libraries and read Keras's own settings.
if "keras" in rules.get("imports", ()):
    read_roots += (os.path.realpath(os.path.expanduser("~/.keras")) + os.sep,)
marker = rules["marker"]
seen = []
PROCESS = ("subprocess.Popen", "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork",
           "os.forkpty", "os.kill", "pty.spawn", "socket.", "urllib.Request", "http.client.",
           "ftplib.", "smtplib.", "webbrowser.open", "ctypes.", "os.startfile")
CHANGE = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
          "os.symlink", "os.link", "os.utime", "shutil.")
IMPORTS = ("tensorflow", "keras", "numpy", "torch", "jax", "ctypes", "requests",
           "urllib.request", "http.client")


def under(path, roots):
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return isinstance(path, str) and os.path.realpath(path).startswith(roots)


def texts(code):
    yield code.co_filename
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, str):
            yield const
        elif hasattr(const, "co_consts"):
            yield from texts(const)


def hook(event, args):
    if event == "open":
        path, mode, flags = args
        if isinstance(path, int):
            return
        writes = (mode is not None and any(c in mode for c in "wax+")) or (
            flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
        if writes and not under(path, write_roots):
            seen.append(f"write {path!r}")
        elif not writes and not under(path, read_roots + write_roots):
            seen.append(f"read {path!r}")
    elif numpy_ctypes and event == "ctypes.dlopen" and args[0] is None:
        return
    elif event.startswith("ctypes.dlopen") and "ctypes" in allowed_imports:
        pass
    elif event.startswith(PROCESS):
        seen.append(f"{event} {args!r}")
        raise RuntimeError(f"audit: {event} refused")
    elif event.startswith(CHANGE):
        if not under(args[0], write_roots):
            seen.append(f"{event} {args!r}")
    elif event == "exec" and hasattr(args[0], "co_consts") and any(
            marker in text for text in texts(args[0])):
        # (render parses the module it writes, payloads in its strings: only running
        # code that holds the spec's text counts)
        seen.append(f"exec of code holding spec text, from {args[0].co_filename!r}")
    elif event == "import" and (args[0] in IMPORTS or args[0].split(".")[0] in IMPORTS) and (
            args[0].split(".")[0] not in allowed_imports) and not (
            numpy_ctypes and args[0].split(".")[0] == "ctypes"):
        seen.append(f"import {args[0]}")


def report():
    if seen:
        os.write(2, ("\n" + "\n".join("AUDIT: " + s for s in seen) + "\n").encode())


import atexit

if "h5py" in allowed_imports:
    # h5py asks platform for the processor's name as it loads, which Python 3.11 gets
    # by running `uname -p`; asked here, before the hook, it is cached for h5py.
    import platform

    platform.processor()
atexit.register(report)
if "keras" in allowed_imports:
    # Keras and TensorFlow are trusted, and their start-up reads, writes temporary files
    # and runs `uname`: loaded before the hook, as tests/test_codegen_safety.py does.
    from modelspec.runtime.quiet import quiet_import

    quiet_import("keras")
sys.addaudithook(hook)
sys.argv = ["modelspec", *sys.argv[1:]]
from modelspec.cli import main

main()
"""


def _library_roots() -> list[str]:
    """Where Python, the installed packages and modelspec's own files live."""
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots |= {
        p
        for k, p in sysconfig.get_paths().items()
        if k in ("stdlib", "platstdlib", "purelib", "platlib")
    }
    roots |= {str(ROOT / "modelspec"), str(ROOT / "schemas"), str(ROOT / "templates")}
    return sorted(roots)


@dataclasses.dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    cpu_s: float
    wall_s: float


def _memory_limit(mib: int) -> Any:
    """A ``preexec_fn`` that caps the child's address space at ``mib`` MiB."""

    def limit() -> None:
        size = mib * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return limit


def modelspec(
    *args: str,
    cwd: Path,
    write: tuple[Path, ...] = (),
    imports: tuple[str, ...] = (),
    memory_mib: int = MEMORY_LIMIT_MIB,
) -> Run:
    """``modelspec ARGS`` in ``cwd``, under the audit hook and a memory limit; CPU time
    from the OS. ``imports``: packages (numpy, h5py) the command may load."""
    rules = {"read": [*_library_roots(), str(cwd)], "write": [str(p) for p in write],
             "marker": MARKER, "imports": list(imports)}  # fmt: skip
    # (no bytecode cache: importing an allowed module of the case would write one)
    env = {**os.environ, "MODELSPEC_AUDIT": json.dumps(rules), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("MODELSPEC_DEBUG", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _AUDITED_CLI, *args], cwd=cwd, env=env, capture_output=True,
        timeout=WALL_LIMIT_S * 4, preexec_fn=_memory_limit(memory_mib),
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    decode = lambda b: b.decode("utf-8", "replace")  # noqa: E731
    return Run(proc.returncode, decode(proc.stdout), decode(proc.stderr), cpu, wall)


_DIAGNOSTIC = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<level>error|warning) (?P<code>MS\d{3}): (?P<message>.*)$"
)


@dataclasses.dataclass
class Printed:
    file: str
    at: str
    level: str
    code: str
    message: str
    hint: str | None


def diagnostics(stderr: str) -> list[Printed]:
    """The diagnostics ``lint`` printed, each with the hint printed under it."""
    out: list[Printed] = []
    for line in stderr.splitlines():
        m = None if line.startswith(" ") else _DIAGNOSTIC.match(line)
        if m:
            at = f"{m['line']}:{m['col']}"
            out.append(Printed(m["file"], at, m["level"], m["code"], m["message"], None))
        elif line.startswith("    hint: ") and out:
            out[-1].hint = line.removeprefix("    hint: ")
    return out


def assert_well_behaved(
    run: Run, expected_exit: int, what: str, cpu_limit_s: float = CPU_LIMIT_S
) -> None:
    """The promises every run keeps, whatever the spec."""
    assert run.returncode == expected_exit, f"{what}: exit {run.returncode}\n{run.stderr[-3000:]}"
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr[-3000:]
    audit = [line for line in run.stderr.splitlines() if line.startswith("AUDIT: ")]
    assert audit == [], f"{what}: the audit hook saw\n" + "\n".join(audit)
    for stream in (run.stdout, run.stderr):
        # GitHub Actions runs a line that starts with "::" (after spaces), or holds
        # "##[", as a workflow command; escapes and bidirectional overrides make a log
        # show something else than it holds.
        commands = [ln for ln in stream.splitlines() if ln.lstrip().startswith("::") or "##[" in ln]
        assert commands == [], commands[:5]
        assert not re.search("[\x1b\u202e\u2066-\u2069]", stream), stream[-3000:]
    assert run.cpu_s < cpu_limit_s, f"{what}: {run.cpu_s:.2f} s of CPU time"
    assert run.wall_s < WALL_LIMIT_S, f"{what}: {run.wall_s:.1f} s"


def _snapshot(folder: Path) -> dict[str, Any]:
    """Every path below ``folder`` (links not followed): its bytes, or where it links."""
    out: dict[str, Any] = {}
    for p in sorted(folder.rglob("*")):
        name = str(p.relative_to(folder))
        if p.is_symlink():
            out[name] = ("link", os.readlink(p))
        elif p.is_fifo():
            out[name] = ("fifo",)
        elif p.is_file():
            out[name] = p.read_bytes()
        else:
            out[name] = ("folder",)
    return out


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "case"
    folder.mkdir()
    return folder


def _write_others(case: Case, case_dir: Path) -> None:
    """A case's other files: text, ``{link: TARGET}``, ``{fifo: true}`` (a named pipe),
    ``{hex: "..."}``, ``{parts: [...]}`` (as a recipe's), or ``{make: NAME, ...}``, written
    by ``NAME(path, **rest)`` of ``tests/hostile/builders.py`` (binary files: HDF5, zip,
    npz)."""
    for name, content in case.others:
        path = case_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict) and "link" in content:
            path.symlink_to(content["link"])
        elif isinstance(content, dict) and content.get("fifo"):
            if not hasattr(os, "mkfifo"):
                pytest.skip("no FIFOs here")
            os.mkfifo(path)
        elif isinstance(content, dict) and "hex" in content:
            path.write_bytes(bytes.fromhex(content["hex"]))
        elif isinstance(content, dict) and "parts" in content:
            path.write_bytes(_render(content["parts"], path))
        elif isinstance(content, dict) and "make" in content:
            builders = pytest.importorskip("tests.hostile.builders")
            rest = {k: v for k, v in content.items() if k != "make"}
            getattr(builders, content["make"])(path, **rest)
        else:
            path.write_text(content, encoding="utf-8")


def _marks(case: Case) -> list[Any]:
    return [pytest.mark.keras] if case.keras else []


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=_marks(c)) for c in CASES])
def test_hostile_spec_is_refused_at_its_place_and_nothing_happens(case: Case, case_dir: Path):
    (case_dir / case.file).parent.mkdir(parents=True, exist_ok=True)
    (case_dir / case.file).write_bytes(case.data)
    _write_others(case, case_dir)
    before = _snapshot(case_dir)
    command = " ".join(case.command)
    run = modelspec(*case.command, cwd=case_dir, imports=tuple(case.expect.get("allow", ())),
                    memory_mib=case.memory_mib)  # fmt: skip
    cpu = CPU_LIMIT_KERAS_S if case.keras else CPU_LIMIT_S
    assert_well_behaved(run, case.exit, f"{command} ({case.name})", cpu)
    assert _snapshot(case_dir) == before, f"{command} wrote or changed a file"
    printed = diagnostics(run.stderr)
    named = case.expect.get("file", case.file)
    # Every diagnostic names a file of the case by its path from where the command ran.
    assert all(d.file in (case.file, named) or (case_dir / d.file).is_file()
               for d in printed), [d.file for d in printed]  # fmt: skip
    expect = case.expect
    if case.exit == 0:
        assert not [d for d in printed if d.level == "error"], run.stderr[-3000:]
        if "code" not in expect:
            return
    matching = [
        d for d in printed
        if d.code == expect["code"] and d.at == expect["at"] and expect["message"] in d.message
        and d.file == named
    ]  # fmt: skip
    assert matching, (
        f"no {expect['code']} at {named}:{expect['at']} with {expect['message']!r}; {command} printed\n"
        + "\n".join(f"{d.at} {d.code} {d.message[:200]}" for d in printed[:20])
    )
    if "hint" in expect:
        assert any(expect["hint"] in (d.hint or "") for d in matching), [d.hint for d in matching]
    if "errors" in expect:
        summary = re.search(r"1 file checked: (\d+) errors?", run.stderr)
        assert summary and int(summary[1]) == expect["errors"], run.stderr[-300:]


BUILD_CASES = [c for c in CASES if c.expect.get("build")]


def _check_module(text: str) -> None:
    """A generated module: it parses, imports ``keras`` alone (and, only when asked to
    load weights by name, modelspec's loader), and the payloads in the spec stay inside
    string literals and comments."""
    tree = ast.parse(text)
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [ast.unparse(n) for n in imports] == [
        "import keras",
        "from modelspec.weights import load_weights_by_name",
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            assert MARKER not in node.id and node.id not in ("eval", "exec", "__import__", "open")
        elif isinstance(node, ast.Attribute):
            assert MARKER not in node.attr and node.attr != "system"
    # A payload is only ever text: in a literal, or escaped in a comment or docstring.
    code = [tok for tok in re.split(r"(\"(?:[^\"\\]|\\.)*\"|#.*)", text)[::2]]
    assert MARKER not in "".join(code)


@pytest.mark.parametrize("case", BUILD_CASES, ids=lambda c: c.name)
def test_build_of_a_hostile_spec_writes_nothing_or_safe_code(case: Case, case_dir: Path):
    (case_dir / case.file).write_bytes(case.data)
    before = _snapshot(case_dir)
    run = modelspec("build", case.file, "-o", "model.py", cwd=case_dir, write=(case_dir,))
    assert_well_behaved(run, case.exit, f"build {case.name}")
    after = _snapshot(case_dir)
    if case.exit != 0:
        assert after == before, "build left a file behind"
        printed = diagnostics(run.stderr)
        assert any(d.code == case.expect["code"] and d.at == case.expect["at"] for d in printed)
        return
    assert set(after) == {case.file, "model.py"}, sorted(after)  # no temporary left
    text = after["model.py"].decode("utf-8")
    assert is_generated(text)
    _check_module(text)


@pytest.mark.keras
@pytest.mark.parametrize("case", [c for c in BUILD_CASES if c.exit == 0], ids=lambda c: c.name)
def test_generated_module_of_a_hostile_spec_builds_and_runs_no_spec_code(
    case: Case, case_dir: Path
):
    """Under the audit hook of tests/test_codegen_safety.py: no process, socket, foreign
    file or code, no import beyond Keras's own while ``build_model()`` runs."""
    safety = pytest.importorskip("tests.test_codegen_safety")
    keras = pytest.importorskip("keras")
    (case_dir / case.file).write_bytes(case.data)
    run = modelspec("build", case.file, "-o", "model.py", cwd=case_dir, write=(case_dir,))
    assert_well_behaved(run, 0, f"build {case.name}")
    module = case_dir / "model.py"
    safety._import_and_build(module)  # Keras's own lazy imports happen here, unrecorded
    keras.backend.clear_session()
    model, events = safety._record(lambda: safety._import_and_build(module))
    assert safety._forbidden(events, own_file=module) == []
    assert not (case_dir / "pwned.txt").exists()
    direct = api.load(case_dir / case.file).to_keras()
    assert model.name == direct.name and model.count_params() == direct.count_params()


def test_the_audit_hook_sees_what_it_must(case_dir: Path):
    """The control: the hook in `modelspec()` reports what the cases must not do."""
    evil = (
        "import os\n"
        "open('/etc/passwd').close()\n"
        "open('written.txt', 'w').close()\n"
        "exec(compile('x = \"" + MARKER + "\"', '<spec>', 'exec'))\n"
        "try:\n    os.system('true')\nexcept RuntimeError:\n    pass\n"
        "try:\n    import ctypes\nexcept RuntimeError:\n    pass\n"
    )
    script = _AUDITED_CLI.replace("from modelspec.cli import main\n\nmain()", evil)
    assert script != _AUDITED_CLI
    rules = {"read": _library_roots(), "write": [], "marker": MARKER}
    env = {**os.environ, "MODELSPEC_AUDIT": json.dumps(rules)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=case_dir, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    audit = "\n".join(line for line in proc.stderr.splitlines() if line.startswith("AUDIT: "))
    for seen in ("read '/etc/passwd'", "write 'written.txt'", "exec of code holding spec text",
                 "import ctypes", "os.system"):  # fmt: skip
        assert seen in audit, proc.stderr[-2000:]


# --- -o: what is there stays as it was ------------------------------------------------------

CLEAN = "modelspec: 1\nname: m\ninputs:\n  x: {shape: [4]}\nsequential: [{type: Dense, units: 2}]\n"
BAD = CLEAN.replace("units: 2", "units: two")


def _output_cases(tmp: Path) -> dict[str, tuple[str, Path, str]]:
    """name -> (spec text, -o path, a fragment of the message), set up under ``tmp``."""
    (tmp / "folder").mkdir()
    (tmp / "folder" / "keep.py").write_text("keep = 1\n")
    (tmp / "foreign.py").write_text("handwritten = True\n")
    (tmp / "link_to_foreign.py").symlink_to(tmp / "foreign.py")
    generated = tmp / "generated.py"
    generated.write_text(
        api.load(_spec_dir(tmp, CLEAN) / "spec.yaml").to_python(), encoding="utf-8"
    )
    (tmp / "link_to_generated.py").symlink_to(generated)
    (tmp / "dangling.py").symlink_to(tmp / "nowhere" / "target.py")
    (tmp / "link_to_folder").symlink_to(tmp / "folder", target_is_directory=True)
    return {
        "a folder": (CLEAN, tmp / "folder", "is a directory"),
        "a foreign file": (CLEAN, tmp / "foreign.py", "was not generated by modelspec"),
        "a link to a foreign file": (CLEAN, tmp / "link_to_foreign.py", "is a symbolic link"),
        "a link to a generated file": (CLEAN, tmp / "link_to_generated.py", "is a symbolic link"),
        "a dangling link": (CLEAN, tmp / "dangling.py", "is a symbolic link"),
        "a link to a folder": (CLEAN, tmp / "link_to_folder", "is a symbolic link"),
        "a folder that does not exist": (CLEAN, tmp / "missing" / "model.py", "cannot write"),
        "a read-only place": (CLEAN, Path("/proc/modelspec-hostile.py"), "cannot write"),
        "a device": (CLEAN, Path("/dev/null"), "is not a regular file"),
        "a generated file, from a bad spec": (BAD, generated, "MS104"),
    }


def _spec_dir(tmp: Path, text: str) -> Path:
    folder = tmp / "spec"
    folder.mkdir(exist_ok=True)
    (folder / "spec.yaml").write_text(text, encoding="utf-8")
    return folder


def _state(tmp: Path) -> dict[str, Any]:
    """Every path under ``tmp`` (links not followed): kind, target or bytes."""
    out: dict[str, Any] = {}
    for path in sorted(tmp.rglob("*")):
        if path.is_symlink():
            out[str(path)] = ("link", os.readlink(path))
        elif path.is_file():
            out[str(path)] = ("file", path.read_bytes(), path.stat().st_mtime_ns)
        else:
            out[str(path)] = ("folder",)
    return out


OUTPUT_CASES = [
    "a folder", "a foreign file", "a link to a foreign file", "a link to a generated file",
    "a dangling link", "a link to a folder", "a folder that does not exist", "a read-only place",
    "a device", "a generated file, from a bad spec",
]  # fmt: skip


@pytest.mark.parametrize("name", OUTPUT_CASES)
def test_build_output_that_is_not_ours_stays_as_it_was(name: str, tmp_path: Path):
    """Some of these are in tests/test_build.py too; here every one keeps what is there,
    byte for byte, and leaves no temporary behind."""
    cases = _output_cases(tmp_path)
    assert sorted(cases) == sorted(OUTPUT_CASES)
    text, output, fragment = cases[name]
    if not output.parent.exists() and str(output).startswith("/proc"):
        pytest.skip("no /proc here")
    cwd = _spec_dir(tmp_path, text)
    before = _state(tmp_path)
    device = output.stat().st_mtime_ns if output.exists() and output.is_char_device() else None
    # The user named the output: modelspec may look there, and try to write next to it.
    write = (tmp_path, output.parent)
    run = modelspec("build", "spec.yaml", "-o", str(output), cwd=cwd, write=write)
    assert_well_behaved(run, 1, f"build -o {name}")
    assert fragment in run.stderr, run.stderr
    assert _state(tmp_path) == before
    assert not Path("/proc/modelspec-hostile.py").exists()
    if device is not None:
        assert output.is_char_device() and output.stat().st_mtime_ns == device


def test_build_output_at_a_fifo_is_refused_without_blocking(tmp_path: Path):
    fifo = tmp_path / "model.py"
    os.mkfifo(fifo)
    try:
        run = subprocess.run(
            [sys.executable, "-m", "modelspec", "build", "spec.yaml", "-o", str(fifo)],
            cwd=_spec_dir(tmp_path, CLEAN), capture_output=True, text=True, timeout=6,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise AssertionError("build blocked on the FIFO") from None
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "is not a regular file" in run.stderr
    assert fifo.is_fifo()


# --- the spec path: what lint reads --------------------------------------------------------


SECRET = "AWS_SECRET_ACCESS_KEY=" + MARKER + "-do-not-print"


def test_a_spec_linked_to_a_file_outside_the_folder_is_not_read(tmp_path: Path):
    """A pull request can commit `specs/x.yaml -> ~/.aws/credentials`: lint would print
    the start of that file in a public CI log."""
    secret = tmp_path / "outside" / "credentials"
    secret.parent.mkdir()
    secret.write_text(SECRET + "\n")
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    (repo / "specs" / "ok.yaml").write_text(CLEAN)
    (repo / "specs" / "inside.yaml").symlink_to(repo / "specs" / "ok.yaml")
    (repo / "specs" / "evil.yaml").symlink_to(secret)
    run = modelspec("lint", "specs", cwd=repo)
    # (the audit hook would also report the read: the secret is outside the read roots)
    assert_well_behaved(run, 1, "lint specs/")
    assert MARKER not in run.stdout + run.stderr
    printed = diagnostics(run.stderr)
    assert [(d.file, d.at, d.code) for d in printed] == [("specs/evil.yaml", "1:1", "MS001")]
    assert "symbolic link to a file outside the current folder" in printed[0].message
    assert "3 files checked: 1 error" in run.stderr  # a link inside the folder is read


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "/dev/urandom"])
def test_a_spec_that_is_not_a_regular_file_is_refused_without_reading(special: str, tmp_path: Path):
    if special == "fifo":
        path = tmp_path / "spec.yaml"
        os.mkfifo(path)
    else:
        path = Path(special)
        if not path.exists():
            pytest.skip(f"no {special} here")
    run = modelspec("lint", str(path), cwd=tmp_path)
    assert_well_behaved(run, 1, f"lint {special}")
    assert [(d.at, d.code) for d in diagnostics(run.stderr)] == [("1:1", "MS001")]
    assert "is not a regular file" in run.stderr


def test_a_spec_file_named_like_a_workflow_command(tmp_path: Path):
    """File names come from the pull request too (with `lint specs/`)."""
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "x\n::error file=README.md::PWNED.yaml").write_text(BAD)
    (folder / "##[add-mask]y.yaml").write_text(BAD)
    run = modelspec("lint", "specs", cwd=tmp_path)
    assert_well_behaved(run, 1, "lint specs/")
    files = sorted(d.file for d in diagnostics(run.stderr))
    assert files == ["specs/#\\x23[add-mask]y.yaml", "specs/x\\n::error file=README.md::PWNED.yaml"]


# --- only plain values reach a Keras constructor ------------------------------------------


def _accepts_mapping(schema: Any) -> list[dict[str, Any]]:
    """The object schemas ``schema`` accepts (through anyOf, oneOf and list items)."""
    if not isinstance(schema, dict):
        return []
    found = []
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, ()):
            found += _accepts_mapping(sub)
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "object" in kinds or (
        kinds == [None] and not {"enum", "const", "anyOf", "oneOf"} & set(schema)
    ):
        found.append(schema)
    if "array" in kinds:
        found += _accepts_mapping(schema.get("items", {}))
    return found


# What Keras's deserialize_keras_object reads from a dict: it must never get one.
_DESERIALIZER_KEYS = {
    "class_name",
    "config",
    "module",
    "registered_name",
    "function",
    "build_config",
}


def test_no_layer_kwarg_takes_a_mapping_keras_would_deserialize():
    """A kwarg that takes a mapping is a wrapped layer (checked by its own type's schema,
    built by modelspec from the catalogue) or a closed record of plain numbers."""
    from modelspec.catalog import LAYER_TYPES
    from modelspec.schema.accept import schemas

    per_type = schemas()[2]
    for type_name, schema in per_type.items():
        for kwarg, kwarg_schema in schema["properties"].items():
            for mapping in _accepts_mapping(kwarg_schema):
                where = f"{type_name}.{kwarg}"
                if kwarg in LAYER_TYPES[type_name].nested:
                    continue
                if "allOf" in mapping:  # the head of `{type: Class, ...}`: classes we list
                    from modelspec.catalog.base import INITIALIZER_OBJECTS

                    assert kwarg.endswith("_initializer"), where
                    assert set(mapping["properties"]["type"]["enum"]) <= set(INITIALIZER_OBJECTS)
                    assert all("then" in branch for branch in mapping["allOf"]), where
                    continue
                if "then" in mapping:  # `{type: Class, ...}`: one closed record per class
                    assert kwarg.endswith("_initializer"), where
                    mapping = mapping["then"]
                    assert "const" in mapping["properties"]["type"], where
                assert mapping.get("additionalProperties") is False, where
                props = mapping.get("properties", {})
                assert not _DESERIALIZER_KEYS & set(props), where
                for sub in props.values():
                    plain = sub.get("type") in ("number", "integer", "boolean", "string")
                    assert plain or isinstance(sub.get("const"), str), where


# --- SECURITY.md states the limits the code has ---------------------------------------------


def _stated_limits() -> list[tuple[str, int, str]]:
    """``(module.CONSTANT, value, row)`` for each row of SECURITY.md's table of limits."""
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    rows = []
    for row in re.findall(r"^\|[^|\n]+\| ([^|\n]+) \| ([^|\n]*`modelspec\.[^|\n]+) \|", text, re.M):
        value_text, where = row
        number = re.match(r"(2\*\*63 - 1|[\d,]+)( MiB)?", value_text)
        assert number, row
        value = 2**63 - 1 if number[1].startswith("2**") else int(number[1].replace(",", ""))
        value *= 2**20 if number[2] else 1
        for constant in re.findall(r"`(modelspec\.[\w.]+)`", where):
            rows.append((constant, value, " | ".join(row)))
    return rows


def test_security_md_states_the_limits_in_the_code():
    import importlib
    import importlib.util

    stated = _stated_limits()
    assert len(stated) >= 15
    for constant, value, row in stated:
        module, _, name = constant.rpartition(".")
        if importlib.util.find_spec(module) is None:
            continue  # a module not in this checkout
        assert getattr(importlib.import_module(module), name) == value, row
    # ...and every limit of the loader is in the table.
    from modelspec.source import loader

    limits = {n for n in dir(loader) if n.startswith("MAX_")}
    assert {f"modelspec.source.loader.{n}" for n in limits} <= {c for c, _, _ in stated}


def test_a_limit_is_raised_by_setting_it(monkeypatch: pytest.MonkeyPatch):
    """SECURITY.md's way to raise a limit: the constants are read at each check."""
    from modelspec.check import check_text
    from modelspec.source import loader

    text = CLEAN.replace("units: 2}]", "units: 2}" + ", {type: Dense, units: 2}" * 20 + "]")
    monkeypatch.setattr(loader, "MAX_NODES", 50)
    assert [d.code for d in check_text(text, "s.yaml").errors] == ["MS001"]
    monkeypatch.setattr(loader, "MAX_NODES", 150)
    assert check_text(text, "s.yaml").ok
    monkeypatch.setattr(loader, "MAX_DEPTH", 2)
    assert [d.code for d in check_text(text, "s.yaml").errors] == ["MS010"]


def test_a_model_name_cannot_forge_log_lines_in_summary_or_diff(tmp_path: Path):
    spec = tmp_path / "evil.yaml"
    spec.write_text(
        'modelspec: 1\nname: "m\\n::error file=x::pwned\\n##[set-output name=a]b"\n'
        "inputs:\n  x: {shape: [4]}\nsequential:\n  - {type: Dense, units: 2}\n"
    )
    # Lint refuses the name (MS206); the diagnostic that quotes it is escaped too.
    for args, code in ((["summary", str(spec)], 1), (["diff", str(spec), str(spec)], 2)):
        proc = subprocess.run(
            [sys.executable, "-m", "modelspec", *args], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == code and "error MS206: invalid model name" in proc.stderr
        for line in (proc.stdout + proc.stderr).splitlines():
            assert not line.lstrip().startswith("::") and "##[" not in line, line
