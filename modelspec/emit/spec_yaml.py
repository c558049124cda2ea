"""A spec document -> YAML text laid out the way ``docs/spec.md`` writes specs.

- one line per input, layer, step and output, as a flow mapping
  (``fc: {type: Dense, units: 64}``), the values of a section aligned;
- an entry too long for one line becomes a block mapping of flow values, and a
  chain too long for one line a block list;
- ``sequential`` is a block list of flow mappings; ``compile`` a block mapping.

Scalars are written plain where YAML 1.2 and YAML 1.1 read them the same way and as
the same string, and double-quoted (JSON escapes) otherwise, so the loader's strict
rules (``MS011``) never fire on generated text. The output is deterministic: the
same document gives the same bytes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

WIDTH = 100
MAX_ALIGN = 28  # a longer key is not worth padding every other line for

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
# Plain scalars a YAML 1.1 or 1.2 reader takes as something other than a string.
_RESERVED = frozenset("true false null yes no on off y n ~ nan inf".split())


def scalar(value: Any) -> str:
    """One scalar as YAML: ``null``, ``true``, ``3``, ``0.001``, ``relu``, ``"enc[1]"``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no JSON or YAML 1.2 form a spec accepts")
        text = repr(value)
        return text if ("." in text or "e" in text) else text + ".0"
    if isinstance(value, str):
        if _PLAIN.match(value) and value.lower() not in _RESERVED:
            return value
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} as a YAML scalar")


def flow(value: Any) -> str:
    """A value on one line: ``{type: Dense, units: 64}``, ``[3, 3]``."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{scalar(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value)


def _entries(section: Mapping[str, Any], indent: str, width: int = WIDTH) -> list[str]:
    """``name: {flow}`` lines, aligned; an entry that does not fit becomes a block."""
    keys = {name: scalar(name) + ":" for name in section}
    pad = max((len(k) for k in keys.values() if len(k) < MAX_ALIGN), default=0) + 1
    lines: list[str] = []
    for name, value in section.items():
        key = keys[name]
        head = f"{indent}{key.ljust(pad) if len(key) < MAX_ALIGN else key + ' '}"
        one = head + flow(value)
        if len(one) > width:
            one = f"{indent}{key} {flow(value)}"  # unaligned, rather than a block
        if len(one) <= width or not isinstance(value, Mapping) or not value:
            lines.append(one)
            continue
        lines.append(f"{indent}{key}")
        inner = indent + "  "
        for k, v in value.items():
            line = f"{inner}{scalar(k)}: {flow(v)}"
            if len(line) > width and isinstance(v, list) and v:
                lines += _wrapped(f"{inner}{scalar(k)}: ", v, width)
            else:
                lines.append(line)
    return lines


def _wrapped(prefix: str, items: list[Any], width: int) -> list[str]:
    """A flow list over several lines, continued under its first item."""
    lines: list[str] = []
    line = prefix + "["
    indent = " " * len(line)
    for i, item in enumerate(items):
        text = flow(item) + ("]" if i == len(items) - 1 else ",")
        if (
            line.strip() not in ("", "[")
            and not line.endswith("[")
            and len(line) + 1 + len(text) > width
        ):
            lines.append(line)
            line = indent + text
        else:
            line += ("" if line.endswith("[") else " ") + text
    lines.append(line)
    return lines


def _item(item: Any, width: int = WIDTH) -> list[str]:
    """One ``sequential`` item: ``- {flow}``, or a block mapping when that is too long."""
    one = f"  - {flow(item)}"
    if len(one) <= width or not isinstance(item, Mapping) or not item:
        return [one]
    return [
        f"  {'-' if i == 0 else ' '} {scalar(k)}: {flow(v)}"
        for i, (k, v) in enumerate(item.items())
    ]


SECTIONS = ("inputs", "layers", "graph", "outputs")


def render(doc: Mapping[str, Any], header: str = "") -> str:
    """The YAML text of ``doc``, a spec with its keys in the order they are written."""
    lines = [header] if header else []
    for key, value in doc.items():
        if key in SECTIONS and isinstance(value, Mapping):
            lines.append(f"{key}:")
            lines += _entries(value, "  ")
        elif key == "blocks" and isinstance(value, Mapping):
            # Each block as a spec in small: its keys, then its sections like the spec's.
            lines.append("blocks:")
            for name, block in value.items():
                lines.append(f"  {scalar(name)}:")
                for k, v in block.items():
                    if k in SECTIONS and isinstance(v, Mapping) and v:
                        lines.append(f"    {scalar(k)}:")
                        lines += _entries(v, "      ")
                    else:
                        lines.append(f"    {scalar(k)}: {flow(v)}")
        elif key == "sequential":
            lines.append("sequential:")
            for item in value:
                lines += _item(item)
        elif isinstance(value, Mapping) and value:
            lines.append(f"{key}:")
            lines += [f"  {scalar(k)}: {flow(v)}" for k, v in value.items()]
        else:
            lines.append(f"{scalar(key)}: {flow(value)}")
    return "\n".join(lines) + "\n"
