"""What README.md and docs/ show a command printing is what it prints.

The pages mark what is checked (docs/development.md, "Shown output is real output"):

- **A session** is a fenced block whose first line starts with ``$ ``. Each ``$ modelspec
  ...`` (or ``$ python FILE.py``) line is run in a scratch folder that holds a copy of
  ``specs/`` (and, for docs/import.md, of the Keras 2 files in ``tests/fixtures/keras2/``
  as ``keras2/``), and what it prints, stdout and stderr as a terminal shows them, must be the
  lines after it, up to the next ``$ `` line or the end of the block. A line that is only
  ``...`` stands for any number of lines.
- **A file** is a fenced block whose first line is ``# NAME`` (``.yaml``, ``.yml`` or
  ``.py``). A file of the repository (``# specs/resnet50.yaml``) must be the block, less
  its own leading comment lines; any other is written into the scratch folder before
  the page's sessions run, so a page shows the files its commands read.
- **An exception** is said in an HTML comment on the line above the session, with its
  reason: ``<!-- output not checked: ... -->``, or ``<!-- output checked without
  numbers: ... -->`` where timings and metrics vary (every number and duration is
  masked on both sides).

Sessions that run ``equiv``, ``train``, Python, or lint with a layer from Keras are marked
``keras``; the others never import TensorFlow, here or in the command.
A session of ``equiv --across`` is skipped where a backend it names is not installed.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from modelspec.runtime.quiet import drop_startup_log

ROOT = Path(__file__).resolve().parent.parent
# docs/diagnostics.md is left out: tests/regen_diagnostics_doc.py writes its outputs, and
# tests/test_rules.py::test_docs_examples_give_the_output_shown checks them.
PAGES = sorted(
    {ROOT / "README.md", ROOT / "SECURITY.md", *(ROOT / "docs").glob("*.md")}
    - {ROOT / "docs" / "diagnostics.md"}
)
KERAS_COMMANDS = {"equiv", "train"}
# Sessions skipped although their page does not say so, by page and first command line,
# with the reason. The page should carry the mark (or the file name) instead.
UNMARKED: dict[tuple[str, str], str] = {}

FENCE = re.compile(r"^( *)(`{3,})([\w+-]*)\s*$")
FILE_NAME = re.compile(r"^# ([\w./-]+\.(?:ya?ml|py))$")
EXCEPTION = re.compile(r"^\s*<!-- output (not checked|checked without numbers): (.+?) -->\s*$")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
DURATION = re.compile(r"\d+(?:\.\d+)?(?:ms|us|µs|s)(?:/step)?\b")
NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the first line inside the fence, 1-based
    lines: tuple[str, ...]
    note: tuple[str, str] | None  # (kind, reason) of an exception above the fence

    @property
    def where(self) -> str:
        return f"{_name(self.page)}:{self.line}"


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix() if page.is_relative_to(ROOT) else page.name


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, its content unindented as far as its fence."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        indent, ticks = len(opened[1]), opened[2]
        above = EXCEPTION.match(lines[i - 1]) if i else None
        end = i + 1
        while end < len(lines) and lines[end].strip() not in {ticks, ticks + "`"}:
            end += 1
        body = tuple(_unindent(line, indent) for line in lines[i + 1 : end])
        note = (above[1], above[2]) if above else None
        if body and (reason := UNMARKED.get((_name(page), body[0]))):
            note = ("not checked", reason)
        found.append(Block(page, i + 2, body, note))
        i = end + 1
    return found


def _unindent(line: str, indent: int) -> str:
    """``line`` less the fence's indentation (a list item's block is indented with it)."""
    return line[min(indent, len(line) - len(line.lstrip(" "))) :]


def sessions(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.lines and b.lines[0].startswith("$ ")]


def files(page: Path) -> dict[str, Block]:
    return {m[1]: b for b in blocks(page) if b.lines and (m := FILE_NAME.match(b.lines[0]))}


def commands(block: Block) -> list[tuple[list[str], list[str]]]:
    """``[(argv, shown output lines)]`` of a session."""
    steps: list[tuple[list[str], list[str]]] = []
    for line in block.lines:
        if line.startswith("$ "):
            steps.append((shlex.split(line[2:]), []))
        else:
            steps[-1][1].append(line)
    return steps


def all_sessions() -> list[Block]:
    return [b for page in PAGES for b in sessions(page)]


def needs_keras(argv: list[str]) -> bool:
    """Python runs the page's code; a custom layer from Keras's own modules imports it."""
    if argv[0] == "python" or (len(argv) > 1 and argv[1] in KERAS_COMMANDS):
        return True
    allowed = [v for k, v in zip(argv, argv[1:]) if k == "--allow-module"]
    return "--ask-keras" in argv or any(m.split(".")[0] == "keras" for m in allowed)


def missing_backends(argv: list[str]) -> list[str]:
    """The packages of the backends an ``equiv --across`` names that are not installed."""
    import importlib.util

    from modelspec.runtime.backend import PACKAGES

    names = [n for k, v in zip(argv, argv[1:]) if k == "--across" for n in v.split(",")]
    return [p for p in (PACKAGES.get(n, n) for n in names) if importlib.util.find_spec(p) is None]


def _param(block: Block):
    keras = any(needs_keras(argv) for argv, _ in commands(block))
    return pytest.param(block, id=block.where, marks=[pytest.mark.keras] if keras else [])


# --- running a session ------------------------------------------------------------------


def terminal(data: bytes) -> list[str]:
    """The lines a terminal shows for ``data``: a carriage return starts its line again
    (Keras's progress bar redraws itself), colours and backspaces are dropped."""
    text = drop_startup_log(data).decode("utf-8")
    shown = [ANSI.sub("", line.rsplit("\r", 1)[-1]).replace("\b", "") for line in text.split("\n")]
    if shown and shown[-1] == "":
        shown.pop()
    return shown


def run_in(folder: Path, argv: list[str]) -> tuple[int, list[str]]:
    program, *args = argv
    if program == "modelspec":
        command = [sys.executable, "-m", "modelspec", *args]
    elif program == "python":
        command = [sys.executable, *args]
    else:
        raise AssertionError(f"a session runs modelspec or python, not {program!r}")
    env = {k: v for k, v in os.environ.items() if k != "MODELSPEC_DEBUG"}
    # The scratch folder is not the repository: import this checkout's modelspec.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"  # stdout and stderr in the order a terminal shows them
    proc = subprocess.run(
        command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=600
    )
    lines = [line.replace(f"{folder}{os.sep}", "") for line in terminal(proc.stdout)]
    return proc.returncode, lines


def matches(shown: list[str], real: list[str]) -> bool:
    """``shown`` is ``real``, where a line ``...`` in ``shown`` stands for any lines."""

    @cache
    def at(i: int, j: int) -> bool:
        if i == len(shown):
            return j == len(real)
        if shown[i].strip() == "...":
            return at(i + 1, j) or (j < len(real) and at(i, j + 1))
        return j < len(real) and shown[i] == real[j] and at(i + 1, j + 1)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * (len(shown) + len(real)) + 1000))
    return at(0, 0)


def without_numbers(lines: list[str]) -> list[str]:
    return [NUMBER.sub("#", DURATION.sub("T", line)) for line in lines]


def scratch(tmp_path: Path, page: Path) -> Path:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    if page.name == "import.md":  # the Keras 2 model files its migration example reads
        shutil.copytree(ROOT / "tests" / "fixtures" / "keras2", tmp_path / "keras2")
    for name, block in files(page).items():
        if not (ROOT / name).is_file():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(block.lines) + "\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("block", [_param(b) for b in all_sessions()])
def test_shown_output_is_the_real_output(block: Block, tmp_path: Path):
    kind = block.note[0] if block.note else "checked"
    if kind == "not checked":
        pytest.skip(f"{block.where}: {block.note[1]}")
    missing = sorted({p for argv, _ in commands(block) for p in missing_backends(argv)})
    if missing:
        pytest.skip(f"{block.where}: needs {', '.join(missing)}, which is not installed here")
    folder = scratch(tmp_path, block.page)
    for argv, shown in commands(block):
        code, real = run_in(folder, argv)
        assert code != 0 or "Traceback (most recent call last):" not in real
        if kind == "checked without numbers":
            shown, real = without_numbers(shown), without_numbers(real)
        if not matches(shown, real):
            diff = "\n".join(difflib.unified_diff(shown, real, "shown", "real", lineterm=""))
            pytest.fail(f"{block.where}: `{shlex.join(argv)}` prints otherwise:\n{diff}")


@pytest.mark.parametrize(
    "name,block",
    [
        pytest.param(name, block, id=f"{block.where}:{name}")
        for page in PAGES
        for name, block in files(page).items()
        if (ROOT / name).is_file()
    ],
)
def test_a_shown_repository_file_is_the_file(name: str, block: Block):
    text = (ROOT / name).read_text(encoding="utf-8").splitlines()
    while text and (text[0].startswith("#") or not text[0].strip()):
        text.pop(0)
    assert list(block.lines[1:]) == text, f"{block.where} shows {name} otherwise"


# --- links ---------------------------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?)\s*#*$", flags=re.M)
HTML_ANCHOR = re.compile(r"<a (?:id|name)=\"([^\"]+)\"")


def unfenced(text: str) -> str:
    return re.sub(r"^( *)(`{3,}).*?^\1\2`*\s*$", "", text, flags=re.M | re.S)


def prose(text: str) -> str:
    """``text`` without its fenced blocks and code spans, where links are not links."""
    return re.sub(r"`[^`\n]*`", "", unfenced(text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as ``-``.

    >>> slug("`modelspec diff`: what a change does to the model")
    'modelspec-diff-what-a-change-does-to-the-model'
    """
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", re.sub(r"<[^>]+>", "", heading))
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = unfenced(page.read_text(encoding="utf-8"))
    found = set(HTML_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for heading in HEADING.findall(text):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(f"{base}-{n}" if n else base)
    return found


LINKED_PAGES = [*PAGES, ROOT / "docs" / "diagnostics.md", ROOT / "benchmarks" / "README.md"]


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_lead_somewhere(page: Path):
    """Every relative link names a file of the repository, and a heading or anchor in it."""
    broken = []
    for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading or anchor #{anchor}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


# --- the conventions themselves -----------------------------------------------------------


def test_every_page_with_commands_is_found():
    counts = {p.relative_to(ROOT).as_posix(): len(sessions(p)) for p in PAGES}
    assert counts["README.md"] >= 4
    assert counts["docs/cli.md"] >= 8
    assert counts["docs/seeds.md"] >= 5


def test_exceptions_are_few_and_give_their_reason():
    noted = [b for b in all_sessions() if b.note]
    for block in noted:
        assert len(block.note[1]) > 10, f"{block.where}: say why the output is not checked"
    unchecked = [b.where for b in noted if b.note[0] == "not checked"]
    assert len(unchecked) <= len(all_sessions()) // 3, unchecked


def test_sessions_files_and_exceptions_are_found(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- output not checked: the timings vary between runs -->\n"
        "```\n$ modelspec lint specs/\n10 files checked: clean\n```\n\n"
        "text\n\n```\n$ modelspec summary x.yaml\n```\n\n"
        "  ```yaml\n  # a.yaml\n  modelspec: 1\n  ```\n",
        encoding="utf-8",
    )
    first, second = sessions(page)
    assert first.note == ("not checked", "the timings vary between runs")
    assert first.line == 3 and second.note is None
    assert commands(first) == [(["modelspec", "lint", "specs/"], ["10 files checked: clean"])]
    assert files(page)["a.yaml"].lines == ("# a.yaml", "modelspec: 1")


def test_an_elision_stands_for_any_lines_and_nothing_else():
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "  ...", "b"], ["a", "b"])
    assert not matches(["a", "...", "d"], ["a", "b", "c"])
    assert not matches(["a", "b"], ["a", "b", "c"])
    assert without_numbers(["12/12 ━━ 1s 28ms/step - loss: 0.6291"]) == ["#/# ━━ T T - loss: #"]


def test_the_terminal_shows_the_last_redraw_of_a_line():
    data = (
        b"Epoch 1/1\n\r\x1b[1m 1/12\x1b[0m loss: 0.7\x08\x08\r\x1b[1m12/12\x1b[0m loss: 0.6\nok\n"
    )
    assert terminal(data) == ["Epoch 1/1", "12/12 loss: 0.6", "ok"]
