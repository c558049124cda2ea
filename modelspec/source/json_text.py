"""A ``.json`` spec by JSON's own rules.

The YAML reader gives a JSON file its positions (JSON is YAML flow syntax), but not
JSON's rules: no NaN, no trailing commas or comments, surrogate-pair escapes and raw
C1 characters allowed in strings. ``json.loads`` is the authority on those, and on
the value; :func:`json_for_yaml` makes the text one the YAML reader reads the same way,
with every position kept.

Example::

    >>> json_value("[1, NaN]", "m.json")[1][0].message
    "invalid JSON: non-finite number 'NaN' is not allowed in JSON"
"""

from __future__ import annotations

import json
import re
from typing import Any

from modelspec.errors import ERROR, Diagnostic
from modelspec.source.document import index_position
from modelspec.source.syntax_hints import syntax_hint


def json_value(text: str, file: str) -> tuple[Any, list[Diagnostic]]:
    """The JSON value by JSON's own rules, which the YAML reader does not know: no NaN,
    no trailing commas or comments; surrogate-pair escapes and raw C1 characters
    allowed in strings."""

    def constant(name: str) -> Any:
        raise ValueError(f"non-finite number '{name}' is not allowed in JSON")

    try:
        return json.loads(text, parse_constant=constant), []
    except json.JSONDecodeError as exc:
        # "Invalid control character at": the position follows in `json`'s own text.
        msg = f"invalid JSON: {exc.msg.removesuffix(' at')}"
        hint, at = syntax_hint(text, exc.pos, json_mode=True)
        line, col = (exc.lineno, exc.colno) if at is None else index_position(text, at)
        return None, [Diagnostic(ERROR, "MS003", msg, hint, file, line, col)]
    except (ValueError, RecursionError) as exc:
        return None, [Diagnostic(ERROR, "MS003", f"invalid JSON: {exc}", None, file, 1, 1)]


# In JSON text, what the YAML reader refuses or reads otherwise is replaced by text of
# the same length, so positions are kept (the values come from json.loads). Tabs
# between tokens become spaces; inside strings, raw C1 controls, line separators and
# escaped surrogates are moved to the private-use area, one to one, so that two
# different keys stay different for the duplicate-key check.
_JSON_FOR_YAML = re.compile(
    r"[\t\x7f-\x9f\u2028\u2029]|(?<!\\)((?:\\\\)*)\\u([dD][89a-fA-F][0-9a-fA-F]{2})"
)
_PRIVATE = {"\u2028": "\uf028", "\u2029": "\uf029"}


def _for_yaml(match: re.Match[str]) -> str:
    if match.group(2) is not None:  # an escaped surrogate: \ud83d -> \ue83d
        return match.group(1) + "\\u" + "e" + match.group(2)[1:]
    char = match.group(0)
    if char == "\t":
        return " "
    return _PRIVATE.get(char) or chr(0xE000 + ord(char))


def json_for_yaml(text: str) -> str:
    """JSON text as the YAML reader should see it, of the same length."""
    return _JSON_FOR_YAML.sub(_for_yaml, text)


def lone_surrogates(value: Any, text: str, file: str) -> list[Diagnostic]:
    """MS002 if a JSON value holds a lone surrogate (``"\\ud83d"`` without its pair)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        m = re.search(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}", text)
        line, col = index_position(text, m.start()) if m else (1, 1)
        msg = "a string holds half of a surrogate pair (a lone \\ud800-\\udfff escape), which is not text"
        hint = "write the character itself, or its full pair"
        return [Diagnostic(ERROR, "MS002", msg, hint, file, line, col)]
    return []
