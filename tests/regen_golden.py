"""Regenerate the golden modules in ``tests/golden/`` from the specs in ``specs/``.

    python -m tests.regen_golden

One file per spec and form, ``<spec stem>.<form>.py``: Functional for every spec,
Sequential too where the graph is a plain stack. ``tests/test_build.py`` fails while
a golden file differs from what ``modelspec build`` writes, and builds each one.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
GOLDEN = Path(__file__).resolve().parent / "golden"


def golden_cases() -> list[tuple[Path, str, Path]]:
    """``(spec, form, golden file)`` for every spec in ``specs/`` and every form it allows."""
    import modelspec

    cases = []
    for spec in sorted(SPECS.glob("*.yaml")):
        for form in modelspec.load(spec).forms:
            cases.append((spec, form, GOLDEN / f"{spec.stem}.{form}.py"))
    return cases


def main() -> None:
    import modelspec

    GOLDEN.mkdir(exist_ok=True)
    wanted = set()
    for spec, form, golden in golden_cases():
        golden.write_text(modelspec.load(spec).to_python(form), encoding="utf-8")
        wanted.add(golden)
        print(f"wrote {golden.relative_to(ROOT)}")
    for stale in set(GOLDEN.glob("*.py")) - wanted:
        stale.unlink()
        print(f"removed {stale.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
