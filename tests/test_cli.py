"""The real ``modelspec`` command, run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
TOWER = SPECS / "seed_000_shared_tower.yaml"

BAD = """\
modelspec: 1
name: bad
inputs:
  x: {shape: [8]}
layers:
  fc: {type: Dense, unitz: 4}
graph:
  y: {apply: fc, to: z}
outputs:
  y: {from: y, loss_weight: 0.5}
"""


def run(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``modelspec ARGS``; ``env`` adds to (or overrides) this process's environment."""
    env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k != "MODELSPEC_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "modelspec", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=60,
    )


@pytest.fixture
def bad_spec(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    return path


def test_lint_clean_specs_exit_0():
    proc = run("lint", "specs")
    assert proc.returncode == 0, proc.stderr
    assert "16 files checked: clean" in proc.stderr


def test_lint_reports_every_error_compiler_style(bad_spec: Path):
    proc = run("lint", str(bad_spec))
    assert proc.returncode == 1
    assert f"{bad_spec}:6:21: error MS102: unknown key 'unitz' in `Dense` 'fc'" in proc.stderr
    assert "hint: did you mean 'units'?" in proc.stderr
    assert f"{bad_spec}:6:7: error MS103:" in proc.stderr
    assert f"{bad_spec}:8:22: error MS201: undefined tensor 'z'" in proc.stderr
    assert "Traceback" not in proc.stderr
    # The offending line is shown, with a caret under the column.
    assert "      fc: {type: Dense, unitz: 4}\n                        ^" in proc.stderr


def test_lint_json_format(bad_spec: Path):
    proc = run("lint", "--format", "json", str(bad_spec))
    assert proc.returncode == 1
    payload = json.loads(proc.stdout)
    assert payload["files"] == 1 and payload["errors"] == 3
    first = payload["diagnostics"][0]
    assert set(first) == {"file", "line", "col", "level", "code", "message", "hint", "path"}
    assert {d["path"] for d in payload["diagnostics"]} >= {"$.layers.fc.unitz", "$.graph.y.to"}


def test_lint_github_annotations(bad_spec: Path):
    proc = run("lint", "--format", "github", str(bad_spec))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    expected = f"::error file={bad_spec},line=6,col=21,title=MS102::unknown key 'unitz' in `Dense` 'fc' (hint: did you mean 'units'?)"
    assert expected in lines
    assert any(line.startswith("::warning ") and "MS403" in line for line in lines)


def test_lint_strict_turns_warnings_into_errors(tmp_path: Path):
    spec = tmp_path / "warn.yaml"
    spec.write_text(
        "modelspec: 1\nname: w\ninputs:\n  x: {shape: [4]}\nlayers:\n"
        "  fc: {type: Dense, units: 2}\n  unused: {type: Dense, units: 2}\n"
        "graph:\n  y: {apply: fc, to: x}\noutputs:\n  y: {from: y}\n",
        encoding="utf-8",
    )
    relaxed = run("lint", str(spec))
    assert relaxed.returncode == 0
    assert "warning MS213: layer 'unused' is defined but never called" in relaxed.stderr
    strict = run("lint", "--strict", str(spec))
    assert strict.returncode == 1
    assert "error MS213" in strict.stderr


def test_lint_usage_errors_exit_2(tmp_path: Path):
    assert run("lint", str(tmp_path / "missing.yaml")).returncode == 2
    assert run("lint", "--format", "xml", str(TOWER)).returncode == 2
    assert run("lint").returncode == 2


def test_lint_hostile_yaml_has_no_traceback(tmp_path: Path):
    spec = tmp_path / "evil.yaml"
    spec.write_text("modelspec: !!python/object/apply:os.system ['echo pwned']\n", encoding="utf-8")
    proc = run("lint", str(spec))
    assert proc.returncode == 1
    assert "MS004" in proc.stderr and "pwned" not in proc.stdout
    assert "Traceback" not in proc.stderr


def test_lint_an_embedding_smaller_than_its_vocabulary_file(tmp_path: Path):
    (tmp_path / "words.txt").write_text("good\nbad\nplot\nacting\nmovie\n")
    spec = tmp_path / "reviews.yaml"
    spec.write_text(
        "modelspec: 1\nname: reviews\ninputs:\n  review: {shape: [], dtype: string}\n"
        "layers:\n"
        "  words: {type: TextVectorization, vocabulary: {file: words.txt}}\n"
        "  embed: {type: Embedding, input_dim: 5, output_dim: 8}\n"
        "graph:\n"
        "  ids: {apply: words, to: review}\n"
        "  vectors: {apply: embed, to: ids}\n"
        "outputs:\n  vectors: {from: vectors}\n",
        encoding="utf-8",
    )
    proc = run("lint", str(spec))
    assert proc.returncode == 1, proc.stderr
    assert (
        f"{spec}:10:20: error MS319: `Embedding` 'embed' has input_dim 5, but "
        "`TextVectorization` 'words' gives indices up to 6: an index of 5 or more fails when "
        "the model runs on CPU, and looks up zeros on GPU"
    ) in proc.stderr
    assert (
        "hint: set input_dim to at least 7 (the vocabulary's 5 words plus 2 for padding and "
        "the unknown word)"
    ) in proc.stderr
    assert "1 file checked: 1 error, 0 warnings" in proc.stderr
    fixed = spec.read_text().replace("input_dim: 5,", "input_dim: 7,")
    spec.write_text(fixed, encoding="utf-8")
    proc = run("lint", str(spec))
    assert proc.returncode == 0, proc.stderr


def test_summary_json_has_the_documented_shape():
    proc = run("summary", "--format", "json", str(TOWER))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {
        "name", "inputs", "outputs", "objective", "layers", "total_params", "trainable_params",
        "non_trainable_params", "weights", "dtype_policy", "param_bytes", "before_quantization",
    }  # fmt: skip
    assert data["weights"] is None
    assert data["inputs"]["labeled_1"] == {"shape": [None, None], "dtype": "int32"}
    assert data["outputs"]["lab_1"] == {
        "shape": [None, 5], "dtype": "float32", "loss": "categorical_crossentropy", "loss_weight": 0.5,
    }  # fmt: skip
    emb = data["layers"][0]
    assert emb == {
        "name": "emb", "type": "Embedding", "params": 50_000_000, "trainable_params": 50_000_000,
        "output_shapes": [[None, None, 500], [None, None, 500]],
        "dtype_policy": "float32", "compute_dtype": "float32", "variable_dtype": "float32",
        "quantized": None,
    }  # fmt: skip
    # The shared tower counts once: 50,000,000 + 100,200 + 40,200 + 1,005.
    assert data["total_params"] == 50_141_405
    assert data["trainable_params"] == 50_141_405 and data["non_trainable_params"] == 0
    assert data["param_bytes"] == {"total": 4 * 50_141_405, "trainable": 4 * 50_141_405,
                                   "non_trainable": 0}  # fmt: skip
    assert data["dtype_policy"] == "float32" and data["before_quantization"] is None


def test_summary_table_shows_the_objective():
    proc = run("summary", str(SPECS / "seed_003_multitask.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert " Objective: loss = mse(task_1) + mse(task_2)\n" in proc.stdout
    data = json.loads(run("summary", str(SPECS / "seed_003_multitask.yaml"), "-f", "json").stdout)
    assert data["objective"] == "loss = mse(task_1) + mse(task_2)"
    assert "shared (Dense)" in proc.stdout and "Total params: 4,762" in proc.stdout


def test_summary_of_a_bad_spec_exits_1(bad_spec: Path):
    proc = run("summary", str(bad_spec))
    assert proc.returncode == 1
    assert "MS102" in proc.stderr and proc.stdout == ""


def test_schema_prints_the_committed_schema():
    proc = run("schema")
    assert proc.returncode == 0
    assert proc.stdout == (ROOT / "schemas" / "modelspec.schema.json").read_text(encoding="utf-8")


def test_schema_output_is_written_atomically(tmp_path: Path):
    target = tmp_path / "schema.json"
    proc = run("schema", "-o", str(target))
    assert proc.returncode == 0
    assert json.loads(target.read_text(encoding="utf-8"))["title"] == "modelspec v1"
    assert [p.name for p in tmp_path.iterdir()] == ["schema.json"]  # no temporary left behind
    proc = run("schema", "-o", str(tmp_path))
    assert proc.returncode == 1 and "is a directory" in proc.stderr


def test_schema_is_sealed_and_replaces_only_a_schema_it_wrote(tmp_path: Path):
    target = tmp_path / "schema.json"
    assert run("schema", "-o", str(target)).returncode == 0
    text = target.read_text(encoding="utf-8")
    # JSON has no comments: the digest of the other lines is in a $comment.
    comment = json.loads(text)["$comment"]
    assert comment.startswith("Generated by modelspec schema; modelspec-sha256: ")
    assert run("schema", "-o", str(target)).returncode == 0  # its own: replaced
    edited = text.replace('"title": "modelspec v1"', '"title": "mine"')
    target.write_text(edited, encoding="utf-8")
    proc = run("schema", "-o", str(target))
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        f"{target}:1:1: error MS541: '{target}' was generated by modelspec schema but has "
        "changed since (its modelspec-sha256 digest no longer matches its content); "
        "refusing to overwrite it\n"
    )
    assert target.read_text(encoding="utf-8") == edited
    assert run("schema", "-o", str(target), "--force").returncode == 0
    assert target.read_text(encoding="utf-8") == text


# --- -o: what each command may replace -------------------------------------------------------

TRAINABLE = """\
modelspec: 1
name: m
inputs:
  x: {shape: [8]}
sequential: [{type: Dense, units: 2}]
outputs:
  y: {from: dense, loss: mse}
compile: {optimizer: adam}
"""

# command -> (its arguments with OUT for the output, a file name it writes well)
WRITERS = {
    "build": (["build", "m.yaml", "-o", "OUT"], "model.py"),
    "expand": (["expand", "m.yaml", "-o", "OUT"], "expanded.yaml"),
    "import": (["import", "m.json", "-o", "OUT"], "imported.yaml"),
    "schema": (["schema", "-o", "OUT"], "schema.json"),
    "graph": (["graph", "m.yaml", "-o", "OUT"], "model.dot"),
    "train": (["train", "m.yaml", "--data", "d.npz", "--out", "OUT"], "model.keras"),
}
# The commands that replace only their own output; graph redraws any regular file.
SEALED = ["build", "expand", "import", "schema", "train"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with a spec that builds and trains, and a Keras config to import."""
    from tests.test_import import mlp

    (tmp_path / "m.yaml").write_text(TRAINABLE, encoding="utf-8")
    (tmp_path / "m.json").write_text(json.dumps(mlp()), encoding="utf-8")
    return tmp_path


def _writer(command: str, out: str) -> list[str]:
    args, _ = WRITERS[command]
    return [out if a == "OUT" else a for a in args]


def _in(folder: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MODELSPEC_DEBUG"}
    return subprocess.run([sys.executable, "-m", "modelspec", *args], capture_output=True,
                          text=True, cwd=folder, env=env, timeout=timeout)  # fmt: skip


def _files(folder: Path) -> dict[str, object]:
    return {
        p.name: ("link", os.readlink(p)) if p.is_symlink()
        else p.read_bytes() if p.is_file() else "other"
        for p in folder.iterdir()
    }  # fmt: skip


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("command", list(WRITERS))
def test_every_output_refuses_a_fifo_without_opening_it(command: str, project: Path):
    name = WRITERS[command][1]
    os.mkfifo(project / name)
    try:
        proc = _in(project, *_writer(command, name), "--force", timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{command} blocked on the FIFO") from None
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(
        f"{name}:1:1: error MS544: '{name}' is not a regular file but a FIFO (named pipe); "
        "refusing to write to it\n"
    ), proc.stderr
    assert "--force does not change this" in proc.stderr and "Traceback" not in proc.stderr
    assert (project / name).is_fifo()


@pytest.mark.parametrize("command", list(WRITERS))
def test_every_output_refuses_a_device(command: str, project: Path):
    if not Path("/dev/null").is_char_device():
        pytest.skip("no /dev/null here")
    proc = _in(project, *_writer(command, "/dev/null"))
    assert proc.returncode == 1, proc.stderr
    assert "error MS544: '/dev/null' is not a regular file but a character device" in proc.stderr
    assert Path("/dev/null").is_char_device()


@pytest.mark.parametrize("command", list(WRITERS))
def test_every_output_refuses_a_link_and_a_folder(command: str, project: Path):
    name = WRITERS[command][1]
    (project / "target").write_text("keep\n")
    (project / name).symlink_to("target")
    before = _files(project)
    proc = _in(project, *_writer(command, name))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(
        f"{name}:1:1: error MS543: '{name}' is a symbolic link; refusing to replace it\n"
        "    hint: use --force to replace the link itself; its target is never written\n"
    ), proc.stderr
    (project / name).unlink()
    (project / name).mkdir()
    proc = _in(project, *_writer(command, name))
    assert (
        proc.returncode == 1 and f"{name}:1:1: error MS545: '{name}' is a directory" in proc.stderr
    )
    (project / name).rmdir()
    (project / name).symlink_to("target")
    assert _files(project) == before


@pytest.mark.parametrize("command", list(WRITERS))
def test_an_output_in_a_folder_that_does_not_exist(command: str, project: Path):
    name = "nope/" + WRITERS[command][1]
    proc = _in(project, *_writer(command, name))
    assert proc.returncode == 1, proc.stderr
    code = "MS547"
    assert f"{name}:1:1: error {code}: " in proc.stderr and "nope/" in proc.stderr
    assert sorted(p.name for p in project.iterdir()) == ["m.json", "m.yaml"]


@pytest.mark.parametrize("command", SEALED)
def test_a_sealed_output_refuses_a_foreign_file(command: str, project: Path):
    name = WRITERS[command][1]
    (project / name).write_text("# mine\n")
    before = _files(project)
    proc = _in(project, *_writer(command, name))
    assert proc.returncode == 1, proc.stderr
    source = {"build": " from m.yaml", "expand": " from m.yaml", "import": " from m.json",
              "train": " from m.yaml", "schema": ""}[command]  # fmt: skip
    assert proc.stderr.startswith(
        f"{name}:1:1: error MS540: '{name}' exists and was not generated by modelspec "
        f"{command}{source}; refusing to overwrite it\n"
    ), proc.stderr
    assert _files(project) == before


@pytest.mark.parametrize("command", ["build", "expand", "import", "schema"])
def test_a_text_output_replaces_its_own_and_keeps_an_edited_one(command: str, project: Path):
    name = WRITERS[command][1]
    assert _in(project, *_writer(command, name)).returncode == 0
    written = (project / name).read_text()
    assert "modelspec-sha256: " in "".join(written.splitlines(keepends=True)[:4])
    assert _in(project, *_writer(command, name)).returncode == 0  # its own, unchanged
    assert (project / name).read_text() == written
    (project / name).write_text(written + "# a note\n")
    proc = _in(project, *_writer(command, name))
    assert proc.returncode == 1 and f"{name}:1:1: error MS541: " in proc.stderr
    assert (project / name).read_text() == written + "# a note\n"
    assert _in(project, *_writer(command, name), "--force").returncode == 0
    assert (project / name).read_text() == written
    assert sorted(p.name for p in project.iterdir()) == sorted(["m.yaml", "m.json", name])


def test_a_diagram_may_replace_any_regular_file(project: Path):
    (project / "model.dot").write_text("# mine\n")
    proc = _in(project, "graph", "m.yaml", "-o", "model.dot")
    assert proc.returncode == 0 and (project / "model.dot").read_text().startswith("// Generated")


@pytest.mark.parametrize("command", ["build", "expand", "import", "schema", "graph"])
def test_dash_is_standard_output(command: str, project: Path):
    proc = _in(project, *_writer(command, "-"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(
        ("# Generated by modelspec", "# Expanded by modelspec", "{", "//")
    )
    assert sorted(p.name for p in project.iterdir()) == ["m.json", "m.yaml"]  # no file "-"


def test_dash_is_refused_where_standard_output_makes_no_sense(project: Path):
    proc = _in(project, *_writer("train", "-"))
    assert proc.returncode == 2
    assert proc.stderr == (
        "modelspec: error: --out -: train saves a .keras archive, which needs a file, not "
        "standard output\n"
    )
    proc = _in(project, "graph", "m.yaml", "-o", "-", "--format", "svg")
    assert proc.returncode == 2
    assert "--format svg needs --output FILE: binary data does not go to standard output" in (
        proc.stderr
    )
    assert sorted(p.name for p in project.iterdir()) == ["m.json", "m.yaml"]


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("modelspec ")


def test_shell_completion_offers_commands_and_option_values():
    # Completion keys on the program's name, so this runs the installed script.
    exe = Path(sys.executable).parent / "modelspec"

    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_MODELSPEC_COMPLETE": "complete_bash"}
        env |= {"COMP_WORDS": words, "COMP_CWORD": str(cword)}
        proc = subprocess.run([exe], capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()

    assert complete("modelspec gr", 1) == ["graph"]
    assert complete("modelspec lint specs --format ", 4) == ["text", "json", "github", "sarif"]
    assert "--no-shapes" in complete("modelspec graph specs/seed_001_mlp.yaml --", 3)
    proc = run("--show-completion", "bash")
    assert proc.returncode == 0 and "_modelspec_completion" in proc.stdout
