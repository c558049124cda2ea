"""What CI pipelines use: the pre-commit hook and SARIF output for code scanning."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from modelspec.emit.sarif import sarif
from modelspec.errors import Diagnostic
from tests.test_cli import BAD
from tests.test_docs_output import anchors
from tests.test_rules import INTERNAL, _source_codes

ROOT = Path(__file__).resolve().parent.parent


def _hook() -> dict:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    return hook


def _run_hook(files: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the hook the way pre-commit does: its entry, then the matching files."""
    hook = _hook()
    matched = [f for f in files if re.search(hook["files"], f)]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([*shlex.split(hook["entry"]), *matched], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)  # fmt: skip


def test_pre_commit_hook_definition():
    hook = _hook()
    assert hook["id"] == "modelspec-lint"
    assert hook["language"] == "python"  # pre-commit installs this package, no TensorFlow
    assert hook["entry"] == "modelspec lint"


def test_pre_commit_hook_passes_the_example_specs():
    files = [p.relative_to(ROOT).as_posix() for p in sorted(ROOT.rglob("*")) if p.is_file()
             and ".venv" not in p.parts and ".git" not in p.parts]  # fmt: skip
    matched = [f for f in files if re.search(_hook()["files"], f)]
    assert "specs/seed_000_shared_tower.yaml" in matched
    assert "specs/seed_003_multitask.json" in matched
    assert not any(f.endswith(".py") or f.startswith(".github") for f in matched)
    proc = _run_hook(files, ROOT)
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"{len(matched)} files checked: (clean|0 errors)", proc.stderr)


def test_pre_commit_hook_fails_a_bad_spec(tmp_path: Path):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "bad.yaml").write_text(BAD, encoding="utf-8")
    (tmp_path / "ci.yaml").write_text("on: push\n", encoding="utf-8")  # not a spec: not matched
    proc = _run_hook(["specs/bad.yaml", "ci.yaml"], tmp_path)
    assert proc.returncode == 1
    assert "specs/bad.yaml:6:21: error MS102: unknown key 'unitz'" in proc.stderr
    assert "1 file checked" in proc.stderr


def test_lint_sarif_for_code_scanning(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text(BAD, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "modelspec", "lint", "--format", "sarif", "bad.yaml"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)  # fmt: skip
    assert proc.returncode == 1
    log = json.loads(proc.stdout)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "modelspec"
    codes = [r["ruleId"] for r in run["results"]]
    assert codes == ["MS103", "MS102", "MS201", "MS403"]  # every diagnostic, in spec order
    assert [r["id"] for r in driver["rules"]] == sorted(set(codes))
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        want = "warning" if result["ruleId"] == "MS403" else "error"
        assert result["level"] == want and result["message"]["text"]
    first = next(r for r in run["results"] if r["ruleId"] == "MS102")
    location = first["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "bad.yaml"},
                        "region": {"startLine": 6, "startColumn": 21}}  # fmt: skip
    assert "did you mean 'units'?" in first["message"]["text"]
    assert first["properties"]["jsonPath"] == "$.layers.fc.unitz"


def test_lint_sarif_of_clean_specs_has_no_results():
    proc = subprocess.run([sys.executable, "-m", "modelspec", "lint", "-f", "sarif", "specs"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["runs"][0]["results"] == []


def test_sarif_help_links_lead_to_each_code():
    """A code-scanning alert links its rule's section of docs/diagnostics.md: the anchor
    must be on that page (tests/regen_diagnostics_doc.py writes one above each heading)."""
    doc = ROOT / "docs" / "diagnostics.md"
    codes = sorted(set(re.findall(r"^### (MS\d{3})\b", doc.read_text(encoding="utf-8"), re.M))
                   | (_source_codes() - INTERNAL))  # fmt: skip
    log = sarif([Diagnostic("error", code, "message", file="s.yaml") for code in codes])
    on_page = anchors(doc)
    for rule in log["runs"][0]["tool"]["driver"]["rules"]:
        page, _, anchor = rule["helpUri"].partition("#")
        assert (ROOT / page).resolve() == doc
        assert anchor in on_page, (
            f"{rule['id']}: no #{anchor} in {page}; run python -m tests.regen_diagnostics_doc"
        )
    assert len(log["runs"][0]["tool"]["driver"]["rules"]) == len(codes) > 100
