"""A spec may come from an untrusted pull request: nothing in it may become code.

The generated module renders every spec string through ``repr`` (``pysrc.literal``),
hands out every identifier through a checked ``Namespace``, refuses non-finite
numbers, escapes spec text in comments and docstrings onto one line, and parses the
result before handing it out. These tests push hostile names and values through the
whole pipeline (check -> plan -> render) and check each module

- as text: the bytes declare no encoding but UTF-8, every comment is one escaped
  line that no tool reads as a directive, and the docstrings have as many lines as a
  harmless spec's;
- as syntax: every node is one the generator writes (calls of ``keras.*``, plain
  constants, its own variables), and every identifier is ASCII, not a keyword and
  shadows no builtin;
- with ruff's default settings, once over all of them;
- as code: built under an audit hook that sees no process, socket, foreign file,
  foreign code or import, and Keras gets the spec's names exactly.

The property tests cover the parts: ``literal`` round-trips any text and number and
ruff keeps it, ``statement`` lays out what ruff would leave alone, ``Namespace``
hands out safe, unique identifiers.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import importlib.util
import io
import json
import keyword
import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import tokenize
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelspec
from modelspec.catalog import LAYER_TYPES
from modelspec.catalog import training as tc
from modelspec.catalog.base import INITIALIZER_CLASSES
from modelspec.check import check_text
from modelspec.emit import keras_py, pysrc
from modelspec.emit.keras_py import render
from modelspec.errors import printable
from modelspec.lower.plan import Ctor, Plan
from modelspec.lower.plan import plan as make_plan

# --- the audit hook ---------------------------------------------------------------------
# An audit hook cannot be removed, so this one is installed once, when the module is
# imported, and only records (and refuses the worst) while a generated module runs.

_AUDIT: dict[str, Any] = {"on": False, "events": []}
# Events a generated module never has a reason to raise: refused on the spot, so a
# payload that got through would fail here rather than run.
_REFUSED = (
    "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty",
    "os.kill", "os.killpg", "os.startfile", "subprocess.Popen", "pty.spawn", "socket.",
    "ctypes.", "webbrowser.open", "urllib.Request", "http.client.", "ftplib.", "smtplib.",
    "os.remove", "os.unlink", "os.rmdir", "os.rename", "os.chmod", "os.chown",
    "os.truncate", "os.putenv", "os.unsetenv", "shutil.", "sys.settrace", "sys.setprofile",
)  # fmt: skip


def _audit(event: str, args: tuple) -> None:
    if _AUDIT["on"]:
        _AUDIT["events"].append((event, args))
        if event.startswith(_REFUSED):
            raise RuntimeError(f"generated code raised the audit event {event}{args!r}")


sys.addaudithook(_audit)


def _record(fn: Any) -> tuple[Any, list[tuple[str, tuple]]]:
    """``fn()`` and the audit events it raised."""
    _AUDIT["events"] = []
    _AUDIT["on"] = True
    try:
        result = fn()
    finally:
        _AUDIT["on"] = False
    return result, _AUDIT["events"]


def _library_dirs() -> tuple[str, ...]:
    """Where Python, Keras and its backend live: what Keras may open and run."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    dirs |= {
        p
        for k, p in sysconfig.get_paths().items()
        if k in ("stdlib", "platstdlib", "purelib", "platlib")
    }
    for name in ("keras", "tensorflow", "numpy"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            dirs.add(str(Path(module.__file__).resolve().parent.parent))
    return tuple(os.path.realpath(d) + os.sep for d in dirs)


# Packages Keras and TensorFlow import lazily; a spec has no business importing anything.
_LIBRARY_ROOTS = frozenset({
    "keras", "tensorflow", "tf_keras", "numpy", "ml_dtypes", "h5py", "absl", "google",
    "optree", "rich", "namex", "tensorboard", "packaging", "wrapt", "gast", "opt_einsum",
    "scipy",  # STFTSpectrogram's named windows
})  # fmt: skip


def _forbidden(events: list[tuple[str, tuple]], own_file: Path | None = None) -> list[str]:
    """The events among ``events`` that Keras building a model would not raise."""
    libs = _library_dirs()
    own = os.path.realpath(own_file) if own_file else None
    allowed_dirs = (
        *libs,
        os.path.realpath(tempfile.gettempdir()) + os.sep,
        os.path.realpath(os.path.expanduser("~/.keras")) + os.sep,
    )

    def allowed(path: object) -> bool:
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return False
        real = os.path.realpath(path)
        if own is not None and real.startswith(os.path.dirname(own) + os.sep):
            return True  # the module itself and its __pycache__
        return real.startswith(allowed_dirs)

    bad = []
    for event, args in events:
        if event.startswith(_REFUSED):
            bad.append(f"{event}{args!r}")
        elif event == "open" and not allowed(args[0]):
            bad.append(f"open{args!r}")
        elif event == "import" and args[0].split(".")[0] not in _LIBRARY_ROOTS:
            bad.append(f"import {args[0]!r}")
        elif event in ("compile", "exec"):
            # compile: (source, filename); exec: (code object,)
            filename = args[1] if event == "compile" else getattr(args[0], "co_filename", "?")
            ours = isinstance(filename, str) and os.path.realpath(filename) == own
            if not ours and not (isinstance(filename, str) and filename.startswith(libs)):
                bad.append(f"{event} of code from {filename!r}")
    return bad


def test_the_audit_hook_sees_foreign_code_sockets_and_files(tmp_path: Path):
    """The control: what the checks below must catch is caught."""
    _, events = _record(lambda: eval(compile("1 + 1", "<spec>", "eval")))
    assert any("compile of code from '<spec>'" in e for e in _forbidden(events))
    assert any("exec of code from '<spec>'" in e for e in _forbidden(events))
    with pytest.raises(RuntimeError, match="socket"):
        _record(lambda: __import__("socket").socket())
    _, events = _record(
        lambda: open("/etc/hostname" if Path("/etc/hostname").exists() else __file__, "rb").close()
    )
    assert any(e.startswith("open(") for e in _forbidden(events))
    _, events = _record(lambda: (tmp_path / "ok").write_text("fine"))
    assert _forbidden(events) == []


# --- hostile specs ----------------------------------------------------------------------

# Model names and descriptions are free strings: anything at all.
FREE_TEXT = [
    'evil"""\nimport os\n"""',
    "'''; __import__('os').system('echo pwned'); '''",
    "__import__('os').system('x')",
    '"); __import__("os").system("x"); ("',
    "\\",
    "back\\slash\\",
    '\\"',
    "\\N{BULLET} \\x41 \\u0041 \\",
    "{{ plan }}{% include 'x' %}{# c #}{%- raw %}",
    "line one\nline two\r\nthree\u2028four\x0bfive\x0c",
    "trailing newline\n",
    "ｐｒｉｎｔ('ｃｌａｓｓ')",
    "tab\tand trailing space ",
    "  ",
    "x coding: utf_7 +ACI-",
    "# noqa: E501 # type: ignore # fmt: off",
    "\x00\x1b[31mred",
    "模型" * 30,
    "é" * 100,
    "\U0001f600 f'{x}' b'' r'\\' u''",
    "-*- coding: latin-1 -*-",
    "noqa",
]

# Spec file names: they appear in comments (``# file.json:LINE``) and the header.
FILE_NAMES = [
    "x coding=utf_7 y.json",
    "-*- coding: latin-1 -*-.json",
    "vim: set fileencoding=utf-7 :.json",
    "noqa.json",
    "NOQA x.json",
    "nosec.json",
    "a # noqa: E501.json",
    "type: ignore.json",
    "pylint: disable=all.json",
    "isort: skip_file.json",
    "fmt: skip.json",
    'new\nline """.json',
    "quote'\".json",
    "back\\slash.json",
    "模型 é.json",
    "x" * 120 + ".json",
    "{{ plan }}{% raw %}.json",
    "\x00nul\x1b.json",
]

LONG = "L" * 200  # the longest name the name rule allows
LONG_STEP = "s" * 199 + "."


def functional_spec(name: str, description: str) -> dict[str, Any]:
    """A graph whose names sit at the limits of the name rule."""
    return {
        "modelspec": 1,
        "name": name,
        "description": description,
        "seed": 7,
        "inputs": {
            "print": {"shape": [4]},
            "class": {"shape": [4]},
            "a.b-c": {"shape": [4]},
            "a_b_c": {"shape": [4]},
            "a-b.c": {"shape": [4]},
            "__class__": {"shape": [5, 4]},
        },
        "layers": {
            "None": {"type": "Dense", "units": 3},  # shared: called on two inputs
            "__import__": {"type": "Concatenate"},
            "keras": {"type": "Dense", "units": 2, "activation": "relu"},
            "1st": {"type": "Dropout", "rate": 0.5},
            LONG: {"type": "LSTM", "units": 3, "return_state": True},
        },
        "graph": {
            "build_model": {"apply": "None", "to": "print"},
            "model": {"apply": "None", "to": "class"},
            "_": {
                "apply": ["__import__", "keras"],
                "to": ["build_model", "model", "a.b-c", "a_b_c", "a-b.c"],
            },
            "match": {"apply": [{"type": "Dense", "units": 2, "name": "exec"}, "1st"], "to": "_"},
            "x": {"apply": {"type": "Dense", "units": 2, "name": "x"}, "to": "_"},
            "x_2": {"apply": {"type": "Dense", "units": 2, "name": "input"}, "to": "_"},
            LONG_STEP: {"apply": LONG, "to": "__class__"},
            "print_": {
                "apply": {"type": "Dense", "units": 2, "name": "t_"},
                "to": f"{LONG_STEP}[1]",
            },
        },
        "outputs": {
            "type": {"from": "match", "loss": "mse", "metrics": ["mae"]},
            "case": {"from": "x", "loss": "mse", "loss_weight": 0.5},
            "__builtins__": {"from": "x_2", "loss": None},
            "input": {"from": f"{LONG_STEP}[2]", "loss": "mse"},
            "print_": {"from": "print_", "loss": "mse"},
        },
        "compile": {"optimizer": {"type": "Adam", "learning_rate": 0.001}},
        "fit": {
            "callbacks": [
                {"type": "CSVLogger", "filename": f"logs/{name}", "separator": '"""\n'},
                {"type": "ModelCheckpoint", "filepath": "x'); __import__('os').system('x"},
            ]
        },
    }


def sequential_spec(name: str, description: str) -> dict[str, Any]:
    """A stack of inline layers named like builtins, keywords and the module's own names."""
    return {
        "modelspec": 1,
        "name": name,
        "description": description,
        "inputs": {"keras": {"shape": [3, 4]}},
        "layers": {"build_model": {"type": "Dense", "units": 4}},
        "sequential": [
            {"type": "Dense", "units": 4, "name": "print"},
            "build_model",
            {
                "type": "TimeDistributed",
                "name": "__import__",
                "layer": {"type": "Dense", "units": 2, "name": "class"},
            },
            {"type": "Flatten", "name": "None"},
            {"type": "Dropout", "rate": 0.25, "name": "model"},
            {"type": "Dense", "units": 1, "name": "1st"},
        ],
        "outputs": {"match": {"loss": "mse"}},
        "compile": {"optimizer": "adam"},
    }


def tiny_spec(name: str, description: str) -> dict[str, Any]:
    return {
        "modelspec": 1,
        "name": name,
        "description": description,
        "inputs": {"_": {"shape": [4]}},
        "sequential": [{"type": "Dense", "units": 2, "name": "a.b-c"}],
    }


YAML_SPEC = "\n".join([
    "modelspec: 1",
    "name: |",
    '  evil"""',
    "  __import__('os').system('x')  # '''",
    "description: >-",
    "  {{ plan }} {% raw %}",
    "",
    '  # not a comment, \\ "quoted"\ttab',
    "inputs:",
    "  print: {shape: [4]}",
    "sequential:",
    "  - {type: Dense, units: 2, name: class}",
    "  - {type: Dense, units: 1, name: None}",
    "",
])  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    plan: Plan
    form: str
    text: str  # the module

    def benign(self) -> str:
        """The same module from harmless names: as many docstring lines and comments."""
        harmless = dataclasses.replace(
            self.plan,
            name="m",
            file="f.json",
            description="d" if self.plan.description else None,
        )
        return render(harmless, self.form)


def _plan(text: str, file: str) -> Plan:
    """The plan of the spec ``text``. Lint refuses a model name that is not printable
    (MS206), but the emitter must be safe with any name: such a name is put back into
    the plan of the same spec checked under a plain name."""
    result = check_text(text, file)
    name = result.doc.data.get("name") if result.doc else None
    if not result.ok and isinstance(name, str) and printable(name) != name:
        assert {d.code for d in result.errors} == {"MS206"}, result.diagnostics
        result = check_text(json.dumps({**result.doc.data, "name": "m"}), file)
        assert result.ok, result.diagnostics
        return dataclasses.replace(make_plan(result), name=name)
    assert result.ok, result.diagnostics
    return make_plan(result)


def _cases() -> list[Case]:
    kinds = [functional_spec, sequential_spec, tiny_spec]
    cases = []
    for i, text in enumerate(FREE_TEXT):
        spec = kinds[i % len(kinds)](text, f"{text}\n{text[::-1]}")
        file = FILE_NAMES[i % len(FILE_NAMES)]
        plan = _plan(json.dumps(spec), file)
        assert plan.name == text
        for form in plan.forms:
            cases.append(
                Case(
                    f"{i:02d}-{kinds[i % len(kinds)].__name__}-{form}",
                    plan,
                    form,
                    render(plan, form),
                )
            )
    # YAML's own ways to spell a string: a block scalar keeps its line breaks.
    plan = _plan(YAML_SPEC, "block scalars.yaml")
    assert plan.name == "evil\"\"\"\n__import__('os').system('x')  # '''\n"
    for form in plan.forms:
        cases.append(Case(f"yaml-{form}", plan, form, render(plan, form)))
    # Every file name, on the smallest spec.
    for j, file in enumerate(FILE_NAMES):
        result = check_text(json.dumps(tiny_spec("m", "d")), file)
        assert result.ok, result.diagnostics
        plan = make_plan(result)
        cases.append(
            Case(f"file{j:02d}-functional", plan, "functional", render(plan, "functional"))
        )
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every hostile module, written as ``modelspec build`` writes it (UTF-8)."""
    root = tmp_path_factory.mktemp("hostile")
    paths = {}
    for n, case in enumerate(CASES):
        path = root / f"hostile_{n:03d}.py"
        path.write_bytes(case.text.encode("utf-8"))
        paths[case.id] = path
    return paths


# --- the module as text ---------------------------------------------------------------------

# ruff's pragma comments: ``noqa`` and ``nosec`` lead, or one of these words, then ``:``.
_PRAGMA_WORDS = frozenset("isort type pyright pyrefly pylint flake8 ruff ty fmt mypy".split())


def _comments(text: str) -> list[str]:
    tokens = tokenize.tokenize(io.BytesIO(text.encode("utf-8")).readline)
    return [tok.string for tok in tokens if tok.type == tokenize.COMMENT]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_module_reads_as_written_and_its_comments_are_inert(case: Case):
    data = case.text.encode("utf-8")
    # Python reads the bytes: a coding declaration in the first two lines would decode
    # them as something else than what was checked.
    assert tokenize.detect_encoding(io.BytesIO(data).readline)[0] == "utf-8"
    assert ast.dump(ast.parse(data)) == ast.dump(ast.parse(case.text))
    comments = _comments(case.text)
    assert len(comments) == len(_comments(case.benign()))
    for comment in comments:
        body = comment[1:]
        assert body.isascii() and body.isprintable(), comment
        assert "#" not in body, comment  # no second comment, so no nested directive
        assert not re.search(r"coding[:=]", body), comment
        lead = body.strip()
        assert not lead.lower().startswith("noqa") and not lead.startswith("nosec"), comment
        assert lead.split(":", 1)[0] not in _PRAGMA_WORDS or ":" not in lead, comment
        assert not re.search(r"\b(pylint|isort|type|fmt|noqa|mypy|pragma):", body), comment
    # The docstrings keep their shape however many line breaks the spec's text holds.
    tree, benign = ast.parse(case.text), ast.parse(case.benign())
    for ours, theirs in [(tree, benign), (tree.body[2], benign.body[2])]:
        doc, expected = ast.get_docstring(ours, clean=False), ast.get_docstring(theirs, clean=False)  # type: ignore[arg-type]
        assert doc is not None and expected is not None
        assert len(doc.splitlines()) == len(expected.splitlines()), doc
        assert doc.isascii(), doc


# --- the module as syntax -------------------------------------------------------------------

_NODES = (
    ast.Module, ast.Expr, ast.Constant, ast.Import, ast.alias, ast.FunctionDef, ast.arguments,
    ast.Attribute, ast.Name, ast.Load, ast.Store, ast.Assign, ast.Call, ast.keyword,
    ast.List, ast.Tuple, ast.Dict, ast.Subscript, ast.Return, ast.If, ast.Compare, ast.Eq,
    ast.UnaryOp, ast.USub,
)  # fmt: skip
_CALLABLE = {
    "keras.Input", "keras.Model", "keras.Sequential", "model.add", "model.compile",
    *(f"keras.layers.{name}" for name in LAYER_TYPES),
    *(f"keras.initializers.{name}" for name in set(INITIALIZER_CLASSES.values())),
    *(f"keras.optimizers.{name}" for name in tc.OPTIMIZERS),
    *(f"keras.losses.{name}" for name in tc.LOSS_CLASSES),
}  # fmt: skip
# Builtins, and what the module binds itself: a spec name never becomes one of them.
_RESERVED = {
    *dir(builtins), *keyword.softkwlist, "keras", "build_model", "weights", "weights_map",
    "skip_mismatch",
}  # fmt: skip


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _is_identifier(name: str) -> bool:
    return name.isascii() and name.isidentifier() and not keyword.iskeyword(name)


# `build_model`'s only parameters and its only statement that is not a Keras call: the
# optional loading of weights by name. Fixed text, so no spec can change them.
_WEIGHTS_ARGS = (
    "weights: str | None=None, weights_map: dict[str, str] | None=None, skip_mismatch: bool=False"
)
_WEIGHTS_LOAD = (
    "if weights is not None:\n"
    "    from modelspec.weights import load_weights_by_name\n"
    "    load_weights_by_name(model, weights, weights_map, skip_mismatch=skip_mismatch)"
)


def _strip_weights(tree: ast.Module) -> None:
    """Check ``build_model``'s weight parameters and loading, then take them out of
    ``tree``, so that what is left is Keras calls only."""
    (func,) = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert ast.unparse(func.args) == _WEIGHTS_ARGS
    func.args = ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])
    loads = [s for s in func.body if ast.unparse(s) == _WEIGHTS_LOAD]
    assert len(loads) == 1, "build_model() loads weights exactly once"
    func.body.remove(loads[0])


def _check_build_model(func: ast.FunctionDef) -> None:
    """Only assignments of ``keras`` calls to fresh, safe names; reads of them; a return."""
    assert func.name == "build_model" and not func.decorator_list
    assert not (func.args.args or func.args.posonlyargs or func.args.kwonlyargs)
    assert func.args.vararg is None and func.args.kwarg is None
    assert _dotted(func.returns) == "keras.Model"  # type: ignore[arg-type]
    defined: set[str] = set()
    doc, *body, ret = func.body
    assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
    assert isinstance(ret, ast.Return) and _dotted(ret.value) == "model"  # type: ignore[arg-type]
    for stmt in body:
        value = stmt.value  # type: ignore[attr-defined]
        for node in ast.walk(value):
            if isinstance(node, ast.Name):
                assert node.id in defined or node.id == "keras", f"reads {node.id!r}"
            if isinstance(node, ast.Call):
                name = _dotted(node.func)
                if name is None:
                    assert isinstance(node.func, ast.Call), ast.dump(node.func)  # Layer(...)(x)
                else:
                    assert name in _CALLABLE or name in defined, f"calls {name!r}"
        if isinstance(stmt, ast.Assign):
            (target,) = stmt.targets
            assert isinstance(target, ast.Name)
            if target.id == "model":
                assert _dotted(value.func) in ("keras.Model", "keras.Sequential")
            else:
                assert target.id not in _RESERVED, f"assigns {target.id!r}"
            defined.add(target.id)
        else:
            assert isinstance(stmt, ast.Expr) and isinstance(value, ast.Call)
            assert _dotted(value.func) in ("model.add", "model.compile")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_module_is_made_of_keras_calls_and_checked_names(case: Case):
    tree = ast.parse(case.text)
    _strip_weights(tree)
    for node in ast.walk(tree):
        assert isinstance(node, _NODES), ast.dump(node)[:200]
        if isinstance(node, ast.Constant):
            assert type(node.value) in (str, int, float, bool, type(None)), node.value
            if type(node.value) is float:
                assert math.isfinite(node.value)
        if isinstance(node, ast.UnaryOp):
            assert type(node.operand) is ast.Constant and type(node.operand.value) in (int, float)
        if isinstance(node, ast.Subscript):
            assert isinstance(node.value, ast.Name) and isinstance(node.slice, ast.Constant)
            assert type(node.slice.value) is int
        if isinstance(node, ast.Name):
            assert _is_identifier(node.id), node.id
        if isinstance(node, ast.Attribute):
            assert _is_identifier(node.attr), node.attr
        if isinstance(node, ast.keyword):
            assert node.arg is not None and _is_identifier(node.arg), node.arg
        if isinstance(node, ast.Dict):
            assert all(isinstance(k, ast.Constant) and type(k.value) is str for k in node.keys)
    doc, imp, func, main = tree.body
    assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
    assert ast.unparse(imp) == "import keras"
    assert ast.unparse(main) == "if __name__ == '__main__':\n    build_model().summary()"
    assert isinstance(func, ast.FunctionDef)
    _check_build_model(func)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_spec_strings_reach_keras_as_literals_exactly(case: Case):
    plan = case.plan
    calls = [n for n in ast.walk(ast.parse(case.text)) if isinstance(n, ast.Call)]

    def names_given_to(prefix: str) -> list[Any]:
        return sorted(
            ast.literal_eval(k.value)
            for c in calls
            if (_dotted(c.func) or "").startswith(prefix)
            for k in c.keywords
            if k.arg == "name"
        )

    assert names_given_to("keras.Model") + names_given_to("keras.Sequential") == [plan.name]
    assert names_given_to("keras.Input") == sorted(i.name for i in plan.inputs)
    inner = [
        dict(value.kwargs)["name"]
        for layer in plan.layers.values()
        for _, value in layer.ctor.kwargs
        if isinstance(value, Ctor) and value.namespace == "layers"
    ]
    assert names_given_to("keras.layers.") == sorted([*plan.layers, *inner])


def test_variables_are_unique_per_spec_name():
    case = next(c for c in CASES if c.form == "functional" and "functional_spec" in c.id)
    names = keras_py._Names(case.plan)
    inputs = [names.vars[i.name] for i in case.plan.inputs]
    steps = {c.step: names.vars[c.output] for c in case.plan.calls}
    everything = [*inputs, *names.layers.values(), *steps.values()]
    assert len(set(everything)) == len(everything), everything
    # ``a.b-c``, ``a_b_c`` and ``a-b.c`` fold to one identifier: the namespace numbers them.
    assert sorted(inputs[2:5]) == ["a_b_c", "a_b_c_2", "a_b_c_3"]


# --- the module's own names ---------------------------------------------------------------

SHADOWING = Path(__file__).resolve().parent / "specs" / "shadowing_names.yaml"

# A spec with a `weights:` section, a nested model and a shared layer, every name in it
# starting with q: whatever name in its module does not is the templates' own.
NEUTRAL = """\
modelspec: 1
name: qm
seed: 1
inputs:
  qin: {shape: [4]}
weights: {file: qbase.keras}
blocks:
  qblock:
    model: true
    inputs: [qi]
    outputs: [qo]
    layers:
      qd: {type: Dense, units: 4}
    graph:
      qo: {apply: [qd, qd], to: qi}
layers:
  qshared: {type: Dense, units: 4}
graph:
  qa: {apply: qshared, to: qin}
  qt: {block: qblock, to: qa}
  qc: {apply: qshared, to: qt}
outputs:
  qout: {from: qc, loss: mse}
compile: {optimizer: adam}
"""


def _bound_and_read(tree: ast.Module) -> set[str]:
    """Every name the module binds or reads: variables, parameters, functions, imports."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


@pytest.mark.parametrize("deep", [False, True], ids=["plain", "deep"])
def test_every_name_the_templates_use_is_reserved(deep: bool, tmp_path: Path, monkeypatch):
    """The templates' names, collected from a module that uses every part of them
    (weights, a nested model, a shared layer and, deep, the recursion-limit wrapper):
    each is a builtin or in ``pysrc.MODULE_NAMES``, which no spec name becomes."""
    import modelspec.lower.plan as plan_module

    if deep:
        monkeypatch.setattr(plan_module, "DEEP_CALLS", 1)
    (tmp_path / "neutral.yaml").write_text(NEUTRAL, encoding="utf-8")
    text = modelspec.load(tmp_path / "neutral.yaml").to_python("functional")
    assert ("def _build_model(" in text) is deep and "WEIGHTS_MAP = " in text
    own = {n for n in _bound_and_read(ast.parse(text)) if not n.startswith(("q", "build_q"))}
    assert own - {"__file__", "__name__"} <= pysrc.MODULE_NAMES | set(dir(builtins)), own
    assert {"weights", "weights_map", "skip_mismatch", "keras"} <= pysrc.MODULE_NAMES


@pytest.mark.parametrize("deep", [False, True], ids=["plain", "deep"])
def test_spec_names_never_shadow_the_modules_own(deep: bool, monkeypatch):
    """Inputs, layers, steps and a nested model named after build_model()'s parameters,
    the imports and the helpers each get a variable of their own: the template's names
    are assigned only where the template assigns them."""
    import modelspec.lower.plan as plan_module

    if deep:
        monkeypatch.setattr(plan_module, "DEEP_CALLS", 1)
    tree = ast.parse(modelspec.load(SHADOWING).to_python("functional"))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert functions == {"build_tower_a", "build_model", *(["_build_model"] * deep)}
    assigned = [
        (target.id, ast.unparse(node.value))
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    ]
    reserved = pysrc.MODULE_NAMES | functions
    template = {(name, value) for name, value in assigned if name in reserved}
    assert {name for name, _ in template} <= {"model", "limit"}, template
    for name, value in template:
        expected = (
            "sys.getrecursionlimit()" if name == "limit" else ("keras.Model(", "keras.Sequential(")
        )
        assert value.startswith(expected), (name, value)
    variables = {name for name, _ in assigned}
    # Each spec name still reads as itself, with the mark of a reserved name.
    assert {"weights_", "weights_map_", "skip_mismatch_", "keras_", "build_tower_a_2"} <= variables
    params = [a.arg for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for a in f.args.args]
    assert not set(params) & variables


# --- ruff, once over every module ---------------------------------------------------------


def _ruff() -> str:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    return ruff


def _run_ruff(folder: Path, *, ignore: str = "") -> None:
    """``ruff check`` and ``ruff format --check`` with default settings over ``folder``."""
    ruff = _ruff()
    check = [ruff, *"check --isolated --no-cache --extend-select W --output-format concise".split()]
    if ignore:
        check += ["--extend-ignore", ignore]
    for args in (check, [ruff, "format", "--isolated", "--no-cache", "--check", "--diff"]):
        proc = subprocess.run(
            [*args, str(folder)], capture_output=True, text=True, encoding="utf-8"
        )
        assert proc.returncode == 0, (
            f"{' '.join(args[1:3])}:\n{proc.stdout[-6000:]}{proc.stderr[-2000:]}"
        )
        assert "warning" not in proc.stderr.lower(), proc.stderr  # e.g. an invalid noqa


def test_every_hostile_module_passes_ruff(written: dict[str, Path]):
    _run_ruff(next(iter(written.values())).parent)


# --- the module as code ---------------------------------------------------------------------


def _import_and_build(path: Path) -> Any:
    """Import the module from its file, as Python reads it (bytes), and build the model."""
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.build_model()


@pytest.fixture(scope="module")
def keras_ready() -> Any:
    """Keras imported and each form built once, so lazy imports happen before recording."""
    keras = pytest.importorskip("keras")
    for make, form in [(functional_spec, "functional"), (sequential_spec, "sequential")]:
        plan = make_plan(check_text(json.dumps(make("warm", "up")), "warm.json"))
        namespace: dict[str, Any] = {}
        exec(compile(render(plan, form), "<warm-up>", "exec"), namespace)
        namespace["build_model"]()
    keras.backend.clear_session()
    return keras


@pytest.mark.keras
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_module_builds_and_runs_no_code_of_the_specs(case, written, keras_ready):
    path = written[case.id]
    keras_ready.backend.clear_session()
    model, events = _record(lambda: _import_and_build(path))
    assert _forbidden(events, own_file=path) == []
    plan = case.plan
    assert model.name == plan.name
    layer_names = [layer.name for layer in model.layers]
    if case.form == "functional":
        assert sorted(layer_names) == sorted([*(i.name for i in plan.inputs), *plan.layers])
    else:
        assert layer_names == list(plan.layers)


@pytest.mark.keras
def test_spec_file_named_like_a_coding_declaration_cannot_inject_code(tmp_path, keras_ready):
    """The regression: ``coding=utf_7`` in the header turned ``+ACI-`` into a quote."""
    payload = "+ACI-+-__import__(+ACI-os+ACI-).system(+ACI-echo PWNED+ACI-)+-+ACI-"
    spec_file = tmp_path / "m coding=utf_7 x.json"
    spec_file.write_text(json.dumps(tiny_spec(payload, payload)), encoding="utf-8")
    text = modelspec.load(spec_file).to_python("sequential")
    assert "coding=utf_7" not in text.splitlines()[0]
    module_file = tmp_path / "utf7_model.py"
    module_file.write_bytes(text.encode("utf-8"))
    model, events = _record(lambda: _import_and_build(module_file))
    assert _forbidden(events, own_file=module_file) == []
    assert model.name == payload


def test_render_refuses_a_module_that_declares_an_encoding():
    """The last guard: were a coding declaration to slip into the header, render refuses."""
    result = check_text(json.dumps(tiny_spec("m", "d")), "x coding=latin-1 .json")
    plan = make_plan(result)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pysrc, "comment_text", lambda text: text)
        keras_py._environment.cache_clear()
        try:
            with pytest.raises(pysrc.UnsafeValue, match="encoding"):
                render(plan, "functional")
        finally:
            keras_py._environment.cache_clear()
    assert render(plan, "functional").startswith(keras_py.MARKER)


# --- values the plan must never carry into code -------------------------------------------------


def _tiny_plan() -> Plan:
    return make_plan(check_text(json.dumps(tiny_spec("m", "d")), "t.json"))


def _with_layer_kwargs(plan: Plan, **kwargs: Any) -> Plan:
    (name,) = plan.layers
    layer = plan.layers[name]
    ctor = Ctor("layers", layer.ctor.cls, (*layer.ctor.kwargs, *kwargs.items()))
    return dataclasses.replace(plan, layers={name: dataclasses.replace(layer, ctor=ctor)})


@pytest.mark.parametrize(
    "bad",
    [math.inf, -math.inf, math.nan, [1.0, math.inf], (0.5, (math.nan,)), {"k": -math.inf}],
    ids=["inf", "-inf", "nan", "in-list", "in-tuple", "in-dict"],
)
@pytest.mark.parametrize("form", ["functional", "sequential"])
def test_non_finite_numbers_are_refused_not_written(bad: Any, form: str):
    plan = _with_layer_kwargs(_tiny_plan(), bias=bad)
    with pytest.raises(pysrc.UnsafeValue, match="non-finite"):
        render(plan, form)
    compiled = dataclasses.replace(
        _tiny_plan(), compile=(("optimizer", "adam"), ("loss_weights", bad))
    )
    with pytest.raises(pysrc.UnsafeValue, match="non-finite"):
        render(compiled, form)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_the_loader_refuses_non_finite_numbers(number: str):
    text = json.dumps(tiny_spec("m", "d")).replace('"units": 2', f'"units": {number}')
    result = check_text(text, "t.json")
    assert not result.ok


@pytest.mark.parametrize(
    "key", ["units=1)or __import__('os').system('x')#", "a b", "class", "ｐｒｉｎｔ", "", "x\n"]
)
def test_keyword_names_are_checked_identifiers(key: str):
    plan = _with_layer_kwargs(_tiny_plan(), **{key: 1})
    with pytest.raises(pysrc.UnsafeValue, match="keyword argument"):
        render(plan, "functional")


def test_a_seed_that_is_not_an_int_is_refused():
    plan = dataclasses.replace(_tiny_plan(), seed='1)\n"""\n__import__("os")')  # type: ignore[arg-type]
    with pytest.raises(pysrc.UnsafeValue, match="seed"):
        render(plan, "functional")


def test_only_catalogue_classes_can_be_constructed():
    with pytest.raises(ValueError, match="catalogue"):
        Ctor("layers", "Lambda", (("function", "__import__('os')"),))
    with pytest.raises(ValueError, match="catalogue"):
        Ctor("__builtins__", "eval", ())


# --- literal: any text, any finite number ----------------------------------------------------

_QUOTES_AND_ESCAPES = st.text(
    alphabet=st.sampled_from(list("\"'\\\n\r\t{}#xé模\x00\x7f\u2028\u200b \U0001f600")), max_size=16
)
_TEXT = st.one_of(st.text(), _QUOTES_AND_ESCAPES)
_FINITE = st.floats(allow_nan=False, allow_infinity=False)
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), _FINITE, _TEXT)
_NESTED = st.recursive(
    _SCALARS,
    lambda c: st.one_of(st.lists(c, max_size=4), st.lists(c, max_size=4).map(tuple)),
    max_leaves=12,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down, and -0.0 apart from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


def test_literal_round_trips_and_ruff_leaves_it_alone(tmp_path: Path):
    lines: list[str] = []

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.one_of(_TEXT, st.integers(), _FINITE))
    def scalars(value: Any) -> None:
        source = pysrc.literal(value)
        assert "\n" not in source and "\r" not in source
        assert _same(ast.literal_eval(source), value)
        lines.append(f"x = {source}")

    scalars()
    (tmp_path / "literals.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _run_ruff(tmp_path)


@settings(max_examples=150, deadline=None)
@given(_NESTED)
def test_nested_literals_round_trip(value: Any):
    assert _same(ast.literal_eval(pysrc.literal(value)), value)


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.one_of(_SCALARS, st.sampled_from([math.inf, -math.inf, math.nan])),
        lambda c: st.one_of(st.lists(c, max_size=3), st.lists(c, max_size=3).map(tuple)),
        max_leaves=8,
    )
)
def test_literal_refuses_every_non_finite_number(value: Any):
    def finite(v: Any) -> bool:
        if isinstance(v, (list, tuple)):
            return all(finite(x) for x in v)
        return not isinstance(v, float) or math.isfinite(v)

    if finite(value):
        assert _same(ast.literal_eval(pysrc.literal(value)), value)
    else:
        with pytest.raises(pysrc.UnsafeValue, match="non-finite"):
            pysrc.literal(value)


@pytest.mark.parametrize(
    "value", [object(), {1, 2}, b"bytes", 1j, {"a": 1}, type("S", (str,), {})("s")]
)
def test_literal_refuses_what_is_not_a_plain_value(value: Any):
    if isinstance(value, str):  # a str subclass is rendered as the plain str it holds
        assert pysrc.literal(value) == '"s"'
        return
    with pytest.raises(pysrc.UnsafeValue):
        pysrc.literal(value)


# --- comment_text ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_comment_text_is_one_inert_ascii_line(text: str):
    line = pysrc.comment_text(text)
    assert line.isascii() and line.isprintable()
    assert '"' not in line.replace('\\"', "") and "#" not in line
    assert not line.endswith(" ")
    assert not re.search(r"coding[:=]", line)
    assert not line.lstrip().lower().startswith(("noqa", "nosec"))
    # In a docstring it reads back as an escaped form of the text, on one line.
    assert "\n" not in ast.literal_eval(f'"""{line}"""')


# --- layout: statement() is what ruff would leave alone ---------------------------------------

_NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,59}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s)
)
_DOTTED = st.lists(_NAME, min_size=1, max_size=3).map(".".join)
# Strings in the layout: ASCII, and characters ruff counts as two columns or none. (A
# few hundred rare ones, such as Hangul jamo, count differently in ruff's newer Unicode.)
_LAYOUT_TEXT = st.text(
    alphabet=st.one_of(st.characters(max_codepoint=0x7E), st.sampled_from("é模型ｐ😀\u0301\u20dd")),
    max_size=50,
)
_LEAF = st.one_of(
    st.builds(
        pysrc.value, st.one_of(st.none(), st.booleans(), st.integers(), _FINITE, _LAYOUT_TEXT)
    ),
    st.builds(pysrc.Atom, _NAME),
    st.builds(pysrc.Index, _NAME, st.integers(0, 12)),
    st.builds(pysrc.value, st.lists(st.integers(), max_size=8)),
    st.builds(pysrc.value, st.tuples(st.integers())),
)


def _tree(children: st.SearchStrategy) -> st.SearchStrategy:
    args = st.lists(children, max_size=4)
    kwargs = st.dictionaries(_NAME, children, max_size=4)
    plain = st.builds(lambda f, a, k: pysrc.call(f, *a, **k), _DOTTED, args, kwargs)
    return st.one_of(
        plain,
        # ``Layer(...)(x)``: a call of a call, as the emitter writes layer calls.
        st.builds(lambda ctor, a: pysrc.call(ctor, *a), plain, args),
        st.builds(lambda items: pysrc.Seq("list", tuple(items)), args),
        st.builds(lambda items: pysrc.Seq("tuple", tuple(items)), args),
        st.builds(
            lambda d: pysrc.Seq(
                "dict", tuple((pysrc.Atom(pysrc.literal(k)), v) for k, v in d.items())
            ),
            st.dictionaries(_NAME, children, max_size=4),
        ),
    )


_EXPR = st.recursive(_LEAF, _tree, max_leaves=10)
# A statement with a target takes a call or a sequence that ruff can split (ruff wraps a
# long atom or ``f()`` on the right of ``=`` in parentheses, a layout statement() does not
# write: the emitter's calls always have arguments); one without a target takes a call.
_TARGETED = _EXPR.filter(lambda e: isinstance(e, (pysrc.Call, pysrc.Seq)) and pysrc._splittable(e))
_CALLS = _EXPR.filter(lambda e: isinstance(e, pysrc.Call))


@st.composite
def _statements(draw: st.DrawFn) -> tuple[str, str, int]:
    """``(statement, flat statement, indent)``."""
    indent = draw(st.integers(0, 2))
    comment = draw(st.one_of(st.just(""), st.text(max_size=100)))
    if draw(st.booleans()):
        target, expr = draw(_NAME), draw(_TARGETED)
    else:
        target, expr = "", draw(_CALLS)
    text = pysrc.statement(expr, target=target, comment=comment, indent=indent)
    flat = f"{target} = {expr.flat()}" if target else expr.flat()
    return text, flat, indent


def _in_block(line_or_lines: str, indent: int, n: int) -> str:
    """The statement where its indentation is legal: module level, a function, an ``if``."""
    if indent == 0:
        return line_or_lines
    if indent == 1:
        return f"def f{n}():\n{line_or_lines}"
    return f"def f{n}():\n    if c:\n{line_or_lines}"


def test_statement_layout_is_what_ruff_leaves_alone(tmp_path: Path):
    blocks: list[str] = []

    @settings(
        max_examples=250,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(_statements())
    def layout(example: tuple[str, str, int]) -> None:
        text, flat, indent = example
        n = len(blocks)
        # Laid out or flat, it is the same code.
        pad = pysrc.INDENT * indent
        assert ast.dump(ast.parse(_in_block(text, indent, 0))) == ast.dump(
            ast.parse(_in_block(pad + flat, indent, 0))
        )
        blocks.append(_in_block(text, indent, n))

    layout()
    module = "\n\n\n".join(["c = 0", *blocks]) + "\n"
    (tmp_path / "layout.py").write_text(module, encoding="utf-8")
    # The names are random: undefined ones, and locals nothing reads, are expected.
    _run_ruff(tmp_path, ignore="F821,F823,F841,F811")


# Layouts ruff disagreed with, kept as they were found.
REGRESSIONS = {
    # A subscript that does not fit is split at its brackets (a 200-character step name
    # read as ``step[1]``).
    "index": pysrc.statement(
        pysrc.call(
            pysrc.call("keras.layers.Dense", units=pysrc.value(2)), pysrc.Index("s" * 90, 1)
        ),
        target="h",
        comment="spec.json:3",
    ),
    # ``f()`` has nothing to split, however long the line.
    "empty-call": pysrc.statement(pysrc.call("f" * 90), comment="c"),
    # Wide characters take two columns in ruff's count: 66 characters, 90 columns.
    "wide": pysrc.statement(
        pysrc.call("keras.Model", inputs=pysrc.Atom("x"), name=pysrc.value("模型" * 12)),
        target="model",
    ),
    # A trailing space in a docstring line or a comment is stripped by ruff.
    "trailing-space": pysrc.statement(pysrc.call("f"), comment="spec "),
    # A file named like a pragma: ruff measures a pragma's line without it.
    "pragma": pysrc.statement(
        pysrc.call("keras.layers.Dense", units=pysrc.value(1), name=pysrc.value("n" * 40)),
        target="x",
        comment="noqa.json:12",
    ),
    # ``x = f(  # comment`` too wide: ruff moves the call into parentheses, where it
    # fits (here on one line).
    "parenthesized": pysrc.statement(
        pysrc.call(pysrc.call("keras.layers.Dense", units=pysrc.value(2)), pysrc.Atom("x")),
        target="t" * 20,
        comment="c" * 39,
    ),
    # ruff writes an exponent without its ``+``.
    "exponent": pysrc.statement(pysrc.call("f", pysrc.value(1e16), pysrc.value(-2.5e-300))),
}


def test_layout_regressions_pass_ruff(tmp_path: Path):
    body = "\n".join(REGRESSIONS.values())
    (tmp_path / "regressions.py").write_text(f"def f():\n{body}\n", encoding="utf-8")
    _run_ruff(tmp_path, ignore="F821,F841")
    assert REGRESSIONS["index"].splitlines()[-5:] == [
        "    )(",
        "        " + "s" * 90 + "[",
        "            1",
        "        ],",
        "    )",
    ]
    assert REGRESSIONS["empty-call"] == "    " + "f" * 90 + "()  # c"
    assert REGRESSIONS["wide"].splitlines()[0] == "    model = keras.Model("
    assert REGRESSIONS["trailing-space"] == "    f()  # spec\\\\x20"
    assert REGRESSIONS["pragma"].splitlines()[0].endswith("  # \\\\x6eoqa.json:12")
    assert REGRESSIONS["parenthesized"].splitlines() == [
        "    " + "t" * 20 + " = (",
        "        keras.layers.Dense(units=2)(x)  # " + "c" * 39,
        "    )",
    ]
    assert REGRESSIONS["exponent"] == "    f(1e16, -2.5e-300)"


# --- Namespace ---------------------------------------------------------------------------

_HOSTILE_NAMES = [
    *keyword.kwlist, *keyword.softkwlist, "type", "print", "input", "exec", "eval", "open",
    "__import__", "__builtins__", "__name__", "__class__", "__", "_", "", "keras",
    "build_model", "model", "1st", "0", "a.b-c", "a_b_c", "a-b.c", "print_", "print__2",
    "t_", "t_2", "x", "x_2", "ｐｒｉｎｔ", "ｃｌａｓｓ", "ＮＯＮＥ", "𝐩𝐫𝐢𝐧𝐭", "ﬁle", "é", "模型",
    "a\nb", "a b", "a\x00",
]  # fmt: skip
_BUILTINS = set(dir(builtins))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(_HOSTILE_NAMES),
            st.text(max_size=20),
            st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,30}", fullmatch=True),
        ),
        max_size=40,
    ),
    st.lists(_NAME, max_size=5),
)
def test_namespace_hands_out_unique_safe_identifiers(names: list[str], taken: list[str]):
    ns = pysrc.Namespace(taken)
    idents = [ns.create(name) for name in names]
    assert len(set(idents)) == len(idents)
    assert not set(idents) & set(taken)
    for ident in idents:
        assert ident.isascii() and ident.isidentifier(), ident
        assert not keyword.iskeyword(ident) and not keyword.issoftkeyword(ident), ident
        assert ident not in _BUILTINS and ident not in ("keras", "build_model", "model"), ident
        assert not ident.startswith("__"), ident


@pytest.mark.parametrize(
    "names, idents",
    [
        (["a.b-c", "a_b_c", "a-b.c"], ["a_b_c", "a_b_c_2", "a_b_c_3"]),
        (["ｐｒｉｎｔ", "print", "print_"], ["t_", "print_", "print__2"]),
        (["class", "None", "match", "_", "__import__"], ["class_", "None_", "match_", "t_", "import_"]),
        (["1st", "::0", "__", "keras", "model", "build_model"], ["t_1st", "t_0_", "t_", "keras_", "model_", "build_model_"]),
    ],
)  # fmt: skip
def test_namespace_examples(names: list[str], idents: list[str]):
    ns = pysrc.Namespace()
    assert [ns.create(name) for name in names] == idents
