"""Refresh the lint output shown under each example in docs/diagnostics.md.

    python -m tests.regen_diagnostics_doc

Each ``### MSnnn`` section's first ``yaml``/``json`` example is linted, and the
``text`` block after it is replaced by what lint prints for that code. The prose is
left alone; ``tests/test_rules.py::test_docs_examples_give_the_output_shown`` fails
while the shown output is stale. Each heading gets an ``<a id="msnnn"></a>`` line
above it, where SARIF's ``helpUri`` links the code.
"""

from __future__ import annotations

import re
from pathlib import Path

from modelspec.check import check_text
from modelspec.errors import format_all

DOC = Path(__file__).resolve().parent.parent / "docs" / "diagnostics.md"
FENCE = "`" * 3


def regenerate(text: str) -> str:
    parts = re.split(r"(^### MS\d{3}\b.*$)", text, flags=re.M)
    for i in range(1, len(parts), 2):
        code = re.search(r"MS\d{3}", parts[i])[0]
        body = parts[i + 1]
        example = re.search(rf"^{FENCE}(yaml|json)\n(.*?)^{FENCE}", body, flags=re.M | re.S)
        if example is None:
            continue
        result = check_text(example[2], f"s.{example[1]}")
        printed = [format_all([d]) for d in result.diagnostics if d.code == code]
        if not printed:
            raise SystemExit(f"{code}: its example no longer gives {code}")
        shown = re.compile(rf"(^{FENCE}text\n)(.*?)(^{FENCE})", flags=re.M | re.S)
        tail = body[example.end() :]
        new = printed[0]
        tail = shown.sub(lambda m, new=new: m[1] + new + "\n" + m[3], tail, count=1)
        parts[i + 1] = body[: example.end()] + tail
    return "".join(parts)


def anchored(text: str) -> str:
    r"""An ``<a id="msnnn"></a>`` line above each ``### MSnnn`` heading.

    GitHub's own anchor of a heading holds its title (``#ms407-softmax-...``), which a
    link made from the code alone cannot know; ``modelspec/emit/sarif.py`` links
    ``docs/diagnostics.md#ms407``.

    >>> anchored("### MS407 title\n")
    '<a id="ms407"></a>\n### MS407 title\n'
    >>> anchored(anchored("### MS407 title\n")) == anchored("### MS407 title\n")
    True
    """
    return re.sub(
        r'^(?:<a id="ms\d{3}"></a>\n)?(### (MS\d{3})\b)',
        lambda m: f'<a id="{m[2].lower()}"></a>\n{m[1]}',
        text,
        flags=re.M,
    )


if __name__ == "__main__":
    text = DOC.read_text(encoding="utf-8")
    DOC.write_text(anchored(regenerate(text)), encoding="utf-8")
    print(f"updated {DOC}")
