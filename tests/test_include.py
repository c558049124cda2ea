"""``include:``: blocks from other spec files, on real file trees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelspec.check import check
from modelspec.compose.expand import expand
from modelspec.compose.scan import uses_composition
from modelspec.errors import Diagnostic, format_all
from modelspec.source import include as inc
from modelspec.source.loader import load
from modelspec.source.project import find_project

ROOT = Path(__file__).resolve().parent.parent

RES = """\
modelspec: 1
description: residual blocks
vars:
  width: 8
blocks:
  res:
    params: {filters: "${width}"}
    inputs: [x]
    outputs: [out]
    layers:
      fc: {type: Dense, units: "${filters}"}
      add: {type: Add}
    graph:
      main: {apply: fc, to: x}
      out: {apply: add, to: [x, main]}
"""


def spec(*graph: str, include: str = "[blocks/res.yaml]", extra: str = "") -> str:
    return (
        f"modelspec: 1\nname: m\ninclude: {include}\n{extra}inputs:\n  x: {{shape: [8]}}\n"
        "graph:\n" + "".join(f"  {line}\n" for line in graph) + "outputs:\n  y: {from: y}\n"
    )


def tree(base: Path, files: dict[str, str]) -> Path:
    """Write ``files`` under ``base`` (a project: it holds a pyproject.toml)."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "pyproject.toml").touch()
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return base


def codes(result) -> list[tuple[str, str, int, int]]:
    return [(d.code, Path(d.file).name, d.line, d.col) for d in result.diagnostics]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tree(tmp_path / "proj", {"blocks/res.yaml": RES})


# --- reading the included files ----------------------------------------------------------


def test_a_relative_include_gives_its_blocks_with_its_own_vars(project: Path):
    (project / "m.yaml").write_text(
        spec(
            "r: {block: res, to: x}",
            "y: {block: res, to: r, with: {filters: 8}}",
            extra="vars:\n  width: 999\n",
        )  # fmt: skip
    )
    result = check(project / "m.yaml")
    assert result.ok, format_all(result.diagnostics)
    assert "include" not in result.doc.data and "blocks" not in result.doc.data
    # The block's default sees the vars of its own file (8), not the includer's (999).
    assert result.doc.data["layers"]["r_fc"] == {"type": "Dense", "units": 8}
    assert result.groups["r_main"] == (("r", "res"),)


def test_nested_includes_reach_every_block(project: Path):
    tree(project, {
        "lib/outer.yaml": "modelspec: 1\ninclude: [../blocks/res.yaml]\nblocks:\n"
                          "  two:\n    inputs: [x]\n    outputs: [b]\n    graph:\n"
                          "      a: {block: res, to: x}\n      b: {block: res, to: a}\n",
        "m.yaml": spec("t: {block: two, to: x}", "y: {block: res, to: t}",
                       include="[lib/outer.yaml]"),
    })  # fmt: skip
    result = check(project / "m.yaml")
    assert result.ok, format_all(result.diagnostics)
    assert {"t_a_fc", "t_b_fc", "y_fc"} <= set(result.doc.data["layers"])


def test_a_diamond_reads_the_shared_file_once(project: Path, monkeypatch: pytest.MonkeyPatch):
    tree(project, {
        "left.yaml": "modelspec: 1\ninclude: [blocks/res.yaml]\n",
        "right.yaml": "modelspec: 1\ninclude: [blocks/res.yaml]\n",
        "m.yaml": spec("y: {block: res, to: x}", include="[left.yaml, right.yaml, ./blocks/res.yaml]"),
    })  # fmt: skip
    read: list[str] = []

    def counting_load(path, **kw):
        read.append(os.path.basename(path))
        return load(path, **kw)

    monkeypatch.setattr(inc, "load", counting_load)
    result = check(project / "m.yaml")
    assert result.ok, format_all(result.diagnostics)
    assert sorted(read) == ["left.yaml", "res.yaml", "right.yaml"]


def test_an_include_cycle_is_reported_with_its_chain(project: Path):
    tree(project, {
        "a.yaml": spec("y: {block: res, to: x}", include="[blocks/res.yaml, b.yaml]"),
        "b.yaml": "modelspec: 1\ninclude:\n  - a.yaml\n",
    })  # fmt: skip
    result = check(project / "a.yaml")
    assert codes(result) == [("MS716", "b.yaml", 3, 5)]
    assert result.diagnostics[0].message == "include cycle: " + " -> ".join(
        [str(project / "a.yaml"), str(project / "b.yaml"), str(project / "a.yaml")]
    )


def test_a_file_that_includes_itself(project: Path):
    (project / "m.yaml").write_text(spec("y: {apply: {type: Dense, units: 1}, to: x}",
                                         include="[m.yaml]"))  # fmt: skip
    result = check(project / "m.yaml", display="m.yaml")
    assert codes(result) == [("MS716", "m.yaml", 3, 11)]
    assert "include cycle: m.yaml -> m.yaml" in result.diagnostics[0].message


# --- what an include may read -------------------------------------------------------------


def _escape_tree(tmp_path: Path) -> tuple[Path, Path]:
    outside = tmp_path / "shared" / "res.yaml"
    outside.parent.mkdir(parents=True)
    outside.write_text(RES)
    proj = tree(tmp_path / "proj", {"m.yaml": spec("y: {block: res, to: x}",
                                                   include="[../shared/res.yaml]")})  # fmt: skip
    return proj, outside


def test_an_include_outside_the_project_is_refused_unread(tmp_path: Path, monkeypatch):
    proj, outside = _escape_tree(tmp_path)
    read: list[str] = []
    monkeypatch.setattr(inc, "load", lambda path, **kw: read.append(path) or load(path, **kw))
    result = check(proj / "m.yaml")
    assert codes(result) == [("MS715", "m.yaml", 3, 11)]
    assert "outside the project root" in result.diagnostics[0].message
    assert "include-paths" in result.diagnostics[0].hint
    assert read == []


def test_a_link_inside_the_project_to_a_file_outside_is_refused(tmp_path: Path):
    proj, outside = _escape_tree(tmp_path)
    (proj / "res.yaml").symlink_to(outside)
    (proj / "m.yaml").write_text(spec("y: {block: res, to: x}", include="[res.yaml]"))
    assert codes(check(proj / "m.yaml")) == [("MS715", "m.yaml", 3, 11)]
    # ...and a link inside the project to a file inside it is read.
    (proj / "res.yaml").unlink()
    (proj / "real").mkdir()
    (proj / "real" / "res.yaml").write_text(RES)
    (proj / "res.yaml").symlink_to(proj / "real" / "res.yaml")
    assert check(proj / "m.yaml").ok


def test_an_absolute_path_follows_the_same_rule(tmp_path: Path):
    proj, outside = _escape_tree(tmp_path)
    (proj / "m.yaml").write_text(spec("y: {block: res, to: x}", include=f"['{outside}']"))
    assert [d.code for d in check(proj / "m.yaml").diagnostics] == ["MS715"]
    (proj / "res.yaml").write_text(RES)
    (proj / "m.yaml").write_text(spec("y: {block: res, to: x}", include=f"['{proj / 'res.yaml'}']"))
    assert check(proj / "m.yaml").ok


def test_an_include_path_in_pyproject_allows_a_folder_outside(tmp_path: Path):
    proj, _ = _escape_tree(tmp_path)
    (proj / ".git").mkdir()  # the repository root's pyproject.toml is the one read
    (proj / "pyproject.toml").write_text('[tool.modelspec]\ninclude-paths = ["../shared"]\n')
    result = check(proj / "m.yaml")
    assert result.ok, format_all(result.diagnostics)
    assert result.diagnostics == []


def test_an_include_path_in_a_nested_pyproject_allows_nothing(tmp_path: Path):
    """A pull request's own pyproject.toml beside its spec cannot reach outside."""
    proj, _ = _escape_tree(tmp_path)
    (proj / ".git").mkdir()
    (proj / "specs").mkdir()
    (proj / "specs" / "m.yaml").write_text(
        spec("y: {block: res, to: x}", include="[../../shared/res.yaml]")
    )
    (proj / "specs" / "pyproject.toml").write_text('[tool.modelspec]\ninclude-paths = ["/"]\n')
    result = check(proj / "specs" / "m.yaml")
    assert [d.code for d in result.diagnostics] == ["MS021", "MS715"]


def test_include_path_on_the_command_line_allows_a_folder_outside(tmp_path: Path):
    proj, outside = _escape_tree(tmp_path)
    refused = _cli("lint", "m.yaml", cwd=proj)
    assert refused.returncode == 1 and "MS715" in refused.stderr
    allowed = _cli("lint", "m.yaml", "--include-path", str(outside.parent), cwd=proj)
    assert allowed.returncode == 0, allowed.stderr
    widened = find_project(proj).widened(include_paths=(outside.parent,))
    assert check(proj / "m.yaml", project=widened).ok


# --- malformed entries and unreadable files -----------------------------------------------


@pytest.mark.parametrize(
    ("include", "message", "col"),
    [
        ("blocks/res.yaml", "`include` must be a list of file paths", 10),
        ("[3]", "an `include` entry must be a file path, not 3", 11),
        ('[""]', "an `include` entry must be a file path", 11),
        ("['https://example.com/res.yaml']", "`include` reads local files", 11),
        ("['//server/share/res.yaml']", "`include` reads local files", 11),
        ("['file:res.yaml']", "`include` reads local files", 11),
        ("[blocks/res.txt]", "`include` reads spec files (.yaml, .yml, .json)", 11),
        # The OS refuses to look up such a path (an internal error, once).
        ('["blocks/res\\0.yaml"]', "an `include` path cannot hold a NUL character", 11),
        ('["\\0"]', "an `include` path cannot hold a NUL character: '\\x00'", 11),
    ],
)
def test_a_malformed_include_is_ms713(project: Path, include: str, message: str, col: int):
    (project / "m.yaml").write_text(spec("y: {block: res, to: x}", include=include))
    result = check(project / "m.yaml")
    assert codes(result) == [("MS713", "m.yaml", 3, col)]
    assert message in result.diagnostics[0].message


def test_a_missing_or_unreadable_include_is_ms714(project: Path):
    (project / "dir.yaml").mkdir()
    (project / "m.yaml").write_text(spec("y: {block: res, to: x}",
                                         include="[nope.yaml, dir.yaml, blocks/res.yaml]"))  # fmt: skip
    result = check(project / "m.yaml")
    assert codes(result) == [("MS714", "m.yaml", 3, 11), ("MS714", "m.yaml", 3, 22)]
    assert "no such file" in result.diagnostics[0].message
    assert "is a directory" in result.diagnostics[1].message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_an_include_of_a_fifo_is_refused_without_blocking(project: Path):
    os.mkfifo(project / "pipe.yaml")
    (project / "m.yaml").write_text(spec("y: {block: res, to: x}", include="[pipe.yaml]"))
    result = check(project / "m.yaml")
    assert [d.code for d in result.diagnostics] == ["MS714"]
    assert "not a regular file" in result.diagnostics[0].message


def test_an_included_file_with_errors_reports_them_in_that_file(project: Path):
    tree(project, {"bad.yaml": "modelspec: 1\nblocks:\n  a: 1\n  a: 2\n",
                   "m.yaml": spec("y: {block: res, to: x}", include="[bad.yaml]")})  # fmt: skip
    result = check(project / "m.yaml")
    assert codes(result) == [("MS714", "m.yaml", 3, 11), ("MS008", "bad.yaml", 4, 3)]


def test_an_included_file_that_is_not_a_spec_is_ms719(project: Path):
    tree(project, {"ci.yaml": "on: push\njobs: {}\n",
                   "m.yaml": spec("y: {block: res, to: x}", include="[ci.yaml]")})  # fmt: skip
    result = check(project / "m.yaml")
    assert codes(result) == [("MS719", "m.yaml", 3, 11)]


def test_the_limits_on_includes(project: Path, monkeypatch: pytest.MonkeyPatch):
    chain = {f"l{i}.yaml": f"modelspec: 1\ninclude: [l{i + 1}.yaml]\n" for i in range(5)}
    chain["l5.yaml"] = "modelspec: 1\n"
    tree(project, {**chain, "m.yaml": spec("y: {apply: {type: Dense, units: 1}, to: x}",
                                           include="[l0.yaml]")})  # fmt: skip
    assert check(project / "m.yaml").ok
    monkeypatch.setattr(inc, "MAX_INCLUDE_DEPTH", 3)
    result = check(project / "m.yaml")
    assert codes(result) == [("MS718", "l2.yaml", 2, 11)]
    assert "more than 3 files deep" in result.diagnostics[0].message
    monkeypatch.setattr(inc, "MAX_INCLUDE_DEPTH", 16)
    monkeypatch.setattr(inc, "MAX_INCLUDES", 4)
    result = check(project / "m.yaml")
    assert [d.code for d in result.diagnostics] == ["MS718"]
    assert "at most 4 files" in result.diagnostics[0].message
    monkeypatch.setattr(inc, "MAX_INCLUDES", 64)
    monkeypatch.setattr(inc, "MAX_INCLUDE_BYTES", 60)
    result = check(project / "m.yaml")
    assert [d.code for d in result.diagnostics] == ["MS718"]
    assert (
        "over the 0 MiB limit" in result.diagnostics[0].message
        or "MiB" in result.diagnostics[0].message
    )


# --- blocks from several files ------------------------------------------------------------


def test_a_local_block_with_the_name_of_an_included_one_is_a_clash(project: Path):
    local = "blocks:\n  res:\n    inputs: [x]\n    outputs: [y]\n    graph:\n      y: {apply: {type: Dense, units: 8}, to: x}\n"
    (project / "m.yaml").write_text(spec("y: {block: res, to: x}", extra=local))
    result = check(project / "m.yaml")
    assert codes(result) == [("MS717", "m.yaml", 5, 3)]
    assert result.diagnostics[0].message == (
        f"block 'res' is defined twice: here and at {project / 'blocks' / 'res.yaml'}:6:3"
    )


def test_two_included_blocks_of_one_name_are_a_clash(project: Path):
    tree(project, {"other.yaml": RES.replace("description: residual blocks", "description: again"),
                   "m.yaml": spec("y: {block: res, to: x}",
                                  include="[blocks/res.yaml, other.yaml]")})  # fmt: skip
    result = check(project / "m.yaml", display="m.yaml")
    assert codes(result) == [("MS717", "other.yaml", 6, 3)]
    assert "here and at blocks/res.yaml:6:3" in result.diagnostics[0].message


def test_an_included_block_sees_only_the_blocks_its_own_file_reaches(project: Path):
    lib = ("modelspec: 1\nblocks:\n  outer:\n    inputs: [x]\n    outputs: [y]\n    graph:\n"
           "      y: {block: mine, to: x}\n")  # fmt: skip
    mine = "blocks:\n  mine:\n    inputs: [x]\n    outputs: [y]\n    graph:\n      y: {apply: {type: Dense, units: 8}, to: x}\n"
    tree(project, {"lib.yaml": lib,
                   "m.yaml": spec("y: {block: outer, to: x}", include="[lib.yaml]", extra=mine)})  # fmt: skip
    result = check(project / "m.yaml", display="m.yaml")
    assert codes(result) == [("MS703", "lib.yaml", 7, 18)]
    assert result.diagnostics[0].message == "undefined block 'mine' in lib.yaml"
    assert "which lib.yaml does not include" in result.diagnostics[0].hint


# --- diagnostics point into the file they are about ---------------------------------------


def test_an_error_in_an_included_block_is_at_its_line_with_the_instance(project: Path):
    (project / "m.yaml").write_text(spec("r: {block: res, to: x}",
                                         "y: {block: res, to: r, with: {filters: 4}}"))  # fmt: skip
    result = check(project / "m.yaml", display="m.yaml")
    assert codes(result) == [("MS303", "res.yaml", 15, 20)]
    d = result.diagnostics[0]
    assert d.file == "blocks/res.yaml"
    assert d.message.endswith("[in instance 'y' of block 'res', line 8 of m.yaml]")
    # The source line shown is the included file's, not the spec's line 15.
    text = format_all(result.diagnostics, source=result.doc.texts)
    assert "          out: {apply: add, to: [x, main]}" in text.splitlines()
    assert format_all(result.diagnostics, source={"m.yaml": "x\n" * 20}).count("\n") == 1


def test_schema_errors_in_an_included_block_are_in_that_file(project: Path):
    tree(project, {"blocks/res.yaml": RES.replace("units:", "unitz:")})
    (project / "m.yaml").write_text(spec("y: {block: res, to: x}"))
    result = check(project / "m.yaml", display="m.yaml")
    found = {(d.code, d.file, d.line) for d in result.errors}
    assert ("MS102", "blocks/res.yaml", 11) in found, result.diagnostics
    assert all(d.file == "blocks/res.yaml" for d in result.errors)
    assert all(
        "[in instance 'y' of block 'res', line 7 of m.yaml]" in d.message for d in result.errors
    )


def test_an_expression_error_in_an_included_file_points_at_its_column(project: Path):
    tree(project, {"blocks/res.yaml": RES.replace('"${filters}"', '"${filters + nope}"')})
    (project / "m.yaml").write_text(spec("y: {block: res, to: x}"))
    result = check(project / "m.yaml", display="m.yaml")
    assert codes(result) == [("MS702", "res.yaml", 11, 45)]
    assert result.diagnostics[0].file == "blocks/res.yaml"


def test_vars_of_an_included_file_are_checked_there(project: Path):
    tree(project, {"blocks/res.yaml": RES.replace("width: 8", 'width: "${1 + true}"')})
    (project / "m.yaml").write_text(spec("y: {block: res, to: x}"))
    result = check(project / "m.yaml", display="m.yaml")
    assert [(d.code, d.file, d.line) for d in result.diagnostics] == [
        ("MS702", "blocks/res.yaml", 4)
    ]


def test_format_all_shows_a_line_only_from_the_diagnostics_own_file():
    d = Diagnostic("error", "MS201", "m", file="lib.yaml", line=2, col=1)
    assert format_all([d], source={"lib.yaml": "a\nbb\n"}).splitlines()[1:] == ["    bb", "    ^"]
    assert format_all([d], source={"other.yaml": "a\nbb\n"}) == d.format()
    assert format_all([d], source="a\nbb\n").splitlines()[1] == "    bb"  # one text: as before


def test_uses_composition_sees_include():
    assert uses_composition({"modelspec": 1, "include": ["a.yaml"]})


# --- the command line ---------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MODELSPEC_DEBUG"}
    return subprocess.run([sys.executable, "-m", "modelspec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_lint_expand_and_build_of_a_spec_with_includes(project: Path):
    (project / "m.yaml").write_text(spec("r: {block: res, to: x}", "y: {block: res, to: r}"))
    lint = _cli("lint", "m.yaml", cwd=project)
    assert lint.returncode == 0 and "1 file checked: clean" in lint.stderr, lint.stderr
    out = _cli("expand", "m.yaml", cwd=project)
    assert out.returncode == 0, out.stderr
    assert "include" not in out.stdout and "blocks" not in out.stdout.split("\n", 2)[2]
    assert "r_fc:" in out.stdout and "y_add:" in out.stdout
    build = _cli("build", "m.yaml", cwd=project)
    assert build.returncode == 0, build.stderr
    assert 'name="y_fc"' in build.stdout
    # Each line of the module names where it was written: the included file for a
    # block's layers, the spec for its own.
    fc = next(line for line in build.stdout.splitlines() if "keras.layers.Dense(" in line)
    assert fc.rstrip().endswith("# blocks/res.yaml:" + fc.rsplit(":", 1)[1]), fc
    inp = next(line for line in build.stdout.splitlines() if "keras.Input(" in line)
    assert "# m.yaml:" in inp, inp


def test_lint_shows_the_included_files_line(project: Path):
    (project / "m.yaml").write_text(spec("r: {block: res, to: x}",
                                         "y: {block: res, to: r, with: {filters: 4}}"))  # fmt: skip
    lint = _cli("lint", "m.yaml", cwd=project)
    assert lint.returncode == 1
    lines = lint.stderr.splitlines()
    at = next(
        i for i, ln in enumerate(lines) if ln.startswith("blocks/res.yaml:15:20: error MS303")
    )
    assert lines[at + 1] == "          out: {apply: add, to: [x, main]}"
    assert "Traceback" not in lint.stderr


# --- the example, and a property ----------------------------------------------------------


def test_the_include_example_is_the_inline_spec():
    example = ROOT / "tests" / "specs" / "include" / "tiny_resnet.yaml"
    result = check(example)
    assert result.ok, format_all(result.diagnostics)
    assert result.doc.file_at(("layers", "conv2_block1_1_conv")).endswith(
        os.path.join("blocks", "bottleneck.yaml")
    )
    lib, _ = load(example.parent / "blocks" / "bottleneck.yaml")
    doc, _ = load(example)
    inline = {k: v for k, v in doc.data.items() if k != "include"}
    inline["blocks"] = lib.data["blocks"]
    doc.data = inline
    plain, diags = expand(doc)
    assert plain is not None and plain.doc.data == result.doc.data


BLOCK = ("  b{i}:\n    params: {{units: {u}}}\n    inputs: [x]\n    outputs: [y]\n    layers:\n"
         "      fc: {{type: Dense, units: \"${{units}}\"}}\n    graph:\n      y: {{apply: fc, to: x}}\n")  # fmt: skip


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    homes=st.lists(st.sampled_from(["m", "a", "b"]), min_size=1, max_size=5),
    uses=st.lists(st.integers(0, 4), min_size=1, max_size=6),
)
def test_moving_blocks_into_included_files_changes_only_where_they_point(
    tmp_path_factory: pytest.TempPathFactory, homes: list[str], uses: list[int]
):
    """The rule: a spec expands to the same plain spec wherever its blocks are defined,
    and each instance's layers point at the file that defines its block."""
    base = tree(tmp_path_factory.mktemp("p"), {})
    uses = [u % len(homes) for u in uses]
    blocks = {h: "".join(BLOCK.format(i=i, u=i + 2) for i, home in enumerate(homes) if home == h)
              for h in "mab"}  # fmt: skip
    steps = [
        f"s{k}: {{block: b{u}, to: {'x' if k == 0 else f's{k - 1}'}}}" for k, u in enumerate(uses)
    ]
    steps.append(f"y: {{apply: {{type: Dense, units: 1}}, to: s{len(uses) - 1}}}")
    section = lambda text: f"blocks:\n{text}" if text else ""  # noqa: E731
    (base / "a.yaml").write_text(f"modelspec: 1\ninclude: [b.yaml]\n{section(blocks['a'])}")
    (base / "b.yaml").write_text(f"modelspec: 1\n{section(blocks['b'])}")
    (base / "m.yaml").write_text(spec(*steps, include="[a.yaml]", extra=section(blocks["m"])))
    (base / "all.yaml").write_text(
        spec(*steps, include="[]", extra=section("".join(blocks.values())))
    )
    split, whole = check(base / "m.yaml", display="m.yaml"), check(base / "all.yaml")
    assert split.ok and whole.ok, format_all(split.diagnostics + whole.diagnostics)
    assert split.doc.data == whole.doc.data
    for k, u in enumerate(uses):
        want = {"m": "m.yaml", "a": "a.yaml", "b": "b.yaml"}[homes[u]]
        assert split.doc.file_at(("layers", f"s{k}_fc")) == want
        assert split.spec.layers[f"s{k}_fc"].source.file == want


# --- block libraries ------------------------------------------------------------------


def test_a_block_library_lints_clean_on_its_own():
    library = ROOT / "tests" / "specs" / "include" / "blocks" / "bottleneck.yaml"
    result = check(library)
    assert result.library and result.ok and result.diagnostics == []
    run = _cli("lint", str(library), cwd=ROOT)
    assert run.returncode == 0 and "1 file checked: clean" in run.stderr, run.stderr


def test_a_block_library_is_checked_but_is_not_a_model(tmp_path: Path):
    lib = tmp_path / "lib.yaml"
    lib.write_text(
        "modelspec: 2\nsequentail: []\nblocks:\n  b:\n    inputs: [x]\n    graph: {}\n",
        encoding="utf-8",
    )
    result = check(lib)
    assert result.library
    got = [(d.code, d.line, d.col) for d in result.diagnostics]
    assert got == [("MS106", 1, 12), ("MS102", 2, 1), ("MS704", 4, 3)], got
    lib.write_text("blocks:\n  b:\n    inputs: [x]\n    outputs: [y]\n    graph:\n"
                   "      y: {apply: {type: Dense, units: 2}, to: x}\n", encoding="utf-8")  # fmt: skip
    assert [d.code for d in check(lib).diagnostics] == ["MS103"]
    lib.write_text("modelspec: 1\n" + lib.read_text(encoding="utf-8"), encoding="utf-8")
    assert check(lib).ok
    build = _cli("build", "lib.yaml", cwd=tmp_path)
    assert build.returncode == 1 and "error MS727: this file is a block library" in build.stderr
    assert "Traceback" not in build.stderr
    import modelspec
    from modelspec.errors import SpecError

    with pytest.raises(SpecError) as err:
        modelspec.load(lib)
    assert [d.code for d in err.value.diagnostics] == ["MS727"]
