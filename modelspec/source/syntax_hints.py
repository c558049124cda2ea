"""Hints for a syntax error: what the writer most likely got wrong, read from the text
around where the YAML or JSON reader stopped.

# NOTE: [syntax hints]
A reader stops at the first thing it cannot read, with a message about its own state
("did not find expected key", "Expecting ',' delimiter"). Those words name the
reader's state, not the writer's mistake, and they change: PyYAML 6.0.3 and 6.0.4
word some errors differently, and libyaml, the pure-Python reader and `json` each
have their own. So no hint depends on them. A hint comes from the text around where
the reader stopped, read with a few plain rules: what is still open there (a quote,
a bracket), the character at the stop, the indentation of the lines above it. The
reader's message stays in the diagnostic as detail, and when no rule fits a general
hint says where to look. Only a file that failed to parse is read this way, and only
up to _HINT_SCAN_CHARS characters of it, so the common path pays nothing.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from modelspec.source.document import index_position

_HINT_SCAN_CHARS = 1 << 20
_HINT_LOOKBACK_LINES = 500  # lines looked back at for the indentation rules
TAB_HINT = "YAML indents with spaces, never tabs"
_CLOSER = {"[": "]", "{": "}"}
_OPENER = {"]": "[", "}": "{"}
_KIND = {"[": "list", "{": "mapping"}
_HINT_SPECIAL = re.compile(r"""[\[\]{}"'#\\\n]""")
# A line that ends in a block scalar's indicator (`key: |`, `- >-`): the lines below it
# that are indented deeper are text.
_BLOCK_SCALAR = re.compile(r"(?:^[ \t]*|:[ \t]+|-[ \t]+)[|>][-+1-9]{0,2}[ \t]*(?:#.*)?$")
# `key:` at the start of a line's content (after its indentation and any `- `).
_KEY = re.compile(
    r"""(?:"[^"\n]*"|'[^'\n]*'|[^\s#'"\[\]{}:,-][^#\n]*?|-[^\s#\n][^#\n]*?):(?:[ \t]|$)"""
)
_NO_SPACE_KEY = re.compile(r"[A-Za-z_][\w.-]*:[^\s:/\\]")
_NO_SPACE_DASH = re.compile(r"-[A-Za-z_\"'{\[]")


@dataclass(slots=True)
class _Open:
    """What is open in a text where a reader stopped, and what never closes."""

    quote: int | None = None  # the quote whose string is open at the stop
    brackets: list[int] = field(default_factory=list)  # open at the stop, outermost first
    unclosed: set[int] = field(default_factory=set)  # never closed, or by the other kind
    # (opening, closing) of the brackets closed by their match, by where they open
    closed: list[tuple[int, int]] = field(default_factory=list)
    inner_lines: set[int] = field(default_factory=set)  # lines (1-based) that start inside
    # a quoted string, brackets or a block scalar: not lines of the block structure


def _value_start(text: str, index: int, flow: bool) -> bool:
    """Whether a quote or bracket at ``index`` starts a value, as YAML reads it: at the
    start of a line, after `key: ` or `- `, or inside brackets after `[`, `{`, `,`, `:`.
    Elsewhere (`it's`, `a[1]` in a plain value) it is text."""
    j = index - 1
    while j >= 0 and text[j] in " \t":
        j -= 1
    if j < 0 or text[j] == "\n":
        return True
    before = text[j]
    if flow:
        return before in "[{,:?"
    if before not in ":-?" or j == index - 1:
        return False
    if before == "-":  # an item's dash: only indentation or other dashes before it
        start = text.rfind("\n", 0, j) + 1
        return not text[start:j].strip(" \t-")
    return True


def _scan(text: str, stop: int, json_mode: bool) -> _Open:
    """Quotes, brackets and block scalars in ``text``, with what is open at ``stop``.

    A small state machine over the special characters alone, so it is linear however
    the quotes are arranged.
    """
    state = _Open()
    stack: list[int] = []
    quote: int | None = None
    snapped = False
    line = 1
    block_indent: int | None = None  # the indentation of an open block scalar's key
    n = len(text)
    i = 0
    while True:
        m = _HINT_SPECIAL.search(text, i)
        index = m.start() if m else n
        if not snapped and index >= stop:
            state.quote, state.brackets, snapped = quote, list(stack), True
        if m is None:
            break
        char = m.group()
        i = index + 1
        if char == "\n":
            if json_mode and quote is not None:
                quote = None  # a JSON string ends at its line (the reader stopped there)
            if quote is None and not stack and not json_mode:
                line_start = text.rfind("\n", 0, index) + 1
                content = text[line_start:index].rstrip("\r")
                if (
                    block_indent is None
                    and ("|" in content or ">" in content)
                    and _BLOCK_SCALAR.search(content)
                ):
                    block_indent = len(content) - len(content.lstrip(" "))
            line += 1
            if quote is not None or stack:
                state.inner_lines.add(line)
            elif block_indent is not None:
                # Skip the block scalar's lines: blank, or indented deeper than its key.
                while i < n:
                    end = text.find("\n", i)
                    end = n if end < 0 else end
                    body = text[i:end].rstrip("\r")
                    if body.strip() and len(body) - len(body.lstrip(" ")) <= block_indent:
                        block_indent = None
                        break
                    if not snapped and end >= stop:
                        state.quote, state.brackets, snapped = None, [], True
                    state.inner_lines.add(line)
                    if end >= n:
                        i = n
                        break
                    i, line = end + 1, line + 1
            continue
        if quote is not None:
            if text[quote] == '"':
                if char == "\\":
                    i = index + 2  # the escaped character, whatever it is
                elif char == '"':
                    quote = None
            elif char == "'":
                if text[index + 1 : index + 2] == "'":
                    i = index + 2  # '' is a quote inside a single-quoted string
                else:
                    quote = None
            continue
        if char == "#" and not json_mode and (index == 0 or text[index - 1] in " \t\n"):
            end = text.find("\n", index)
            i = n if end < 0 else end  # a comment, to the end of its line
            continue
        if char == '"' or (char == "'" and not json_mode):
            if json_mode or _value_start(text, index, bool(stack)):
                quote = index
        elif char in _CLOSER:
            if json_mode or stack or _value_start(text, index, False):
                stack.append(index)
        elif char in _OPENER:
            if stack and text[stack[-1]] == _OPENER[char]:
                state.closed.append((stack.pop(), index))
            elif stack:
                # `[1, 2}`: the list is not closed; the brace may close what is around it.
                state.unclosed.add(stack.pop())
                if stack and text[stack[-1]] == _OPENER[char]:
                    state.closed.append((stack.pop(), index))
    state.unclosed.update(stack)
    state.closed.sort()  # closed inner first: by where each opens, for bisect
    return state


def _where(text: str, index: int) -> str:
    line, col = index_position(text, index)
    return f"line {line}, column {col}"


def _spaces(n: int) -> str:
    return f"{n} space{'s' * (n != 1)}"


def syntax_hint(text: str, stop: int, *, json_mode: bool) -> tuple[str, int | None]:
    """A hint for a reader that gave up at index ``stop`` of ``text``, and the index to
    point at instead, when ``stop`` is past everything but blank lines: the quote or
    bracket left open, or the end of the last line (NOTE: [syntax hints]).

    >>> syntax_hint("a: [1, 2\\n", 9, json_mode=False)
    ("the '[' at line 1, column 4 is never closed: add a ']' where the list ends", 3)
    """
    stop = min(max(stop, 0), len(text))
    char = text[stop : stop + 1]
    at_end = not text[stop:].strip()
    end = len(text.rstrip()) if at_end else None
    line_start = text.rfind("\n", 0, stop) + 1
    line_end = text.find("\n", stop)
    line = text[line_start : len(text) if line_end < 0 else line_end]
    indentation = line[: len(line) - len(line.lstrip(" \t"))]
    if not json_mode and (char == "\t" or "\t" in indentation):
        return TAB_HINT, None
    scan = _scan(text, stop, json_mode) if len(text) <= _HINT_SCAN_CHARS else None
    if scan is not None:
        if scan.quote is not None:
            q = repr(text[scan.quote])
            hint = f"the string that starts with {q} at {_where(text, scan.quote)} is never closed"
            if json_mode:
                return (
                    f"{hint}: end it with {q} on its line (a JSON string cannot span lines)",
                    None,
                )
            return f"{hint}: end it with another {q}", scan.quote if at_end else None
        if char in _OPENER:
            if not scan.brackets:
                return (
                    f"this '{char}' closes nothing: remove it, or add the '{_OPENER[char]}' "
                    "it should close"
                ), None
            top = scan.brackets[-1]
            if text[top] != _OPENER[char]:
                return (
                    f"the '{text[top]}' at {_where(text, top)} is not closed before this "
                    f"'{char}': add its '{_CLOSER[text[top]]}'"
                ), None
        if (
            char == "["
            and scan.brackets
            and stop > 0
            and (text[stop - 1].isalnum() or text[stop - 1] in "_.-")
        ):
            return 'inside {...}, quote a tensor index: to: "enc[1]"', None
        unclosed = [i for i in scan.brackets if i in scan.unclosed]
        if unclosed:
            i = unclosed[-1]
            c = text[i]
            hint = (
                f"the '{c}' at {_where(text, i)} is never closed: add a '{_CLOSER[c]}' "
                f"where the {_KIND[c]} ends"
            )
            # Brackets pair up from the inside out: when a pair inside this one spans
            # lines, its closing bracket may be the one this one lacks, and the missing
            # one that of the inner.
            k = bisect.bisect_right(scan.closed, (i, len(text)))
            inner = (p for p in scan.closed[k : k + 1000] if p[0] < stop)
            if any(text.find("\n", o, c) >= 0 for o, c in inner):
                hint += ", or where a list or mapping inside it ends"
            return hint, i if at_end else None
    if json_mode:
        hint = _json_hint(text, stop, scan)
    elif at_end:
        hint = None
    else:
        hint = _yaml_hint(text, stop, scan.inner_lines if scan is not None else set())
    if hint is None:
        hint = (
            "look at this line and the one above it: a missing or extra ',', a missing ':', "
            "or a string in single quotes (JSON strings use double quotes)"
            if json_mode
            else "YAML stops at or just after a mistake: look at this line and the one above "
            "it for the indentation, a missing ':' or '- ', or a ': ' inside a value, which "
            "needs quotes"
        )
    return hint, end


def _json_hint(text: str, stop: int, scan: _Open | None) -> str | None:
    char = text[stop : stop + 1]
    j = stop - 1
    while j >= 0 and text[j] in " \t\r\n":
        j -= 1
    before = text[j] if j >= 0 else ""
    if char in _OPENER and before == ",":
        return f"JSON allows no ',' after the last item: remove the ',' at {_where(text, j)}"
    if text.startswith(("//", "/*"), stop) or char == "#":
        return "JSON has no comments: remove it (a spec in YAML can have # comments)"
    if char == "'":
        return "JSON strings are written in double quotes"
    word = re.match(r"[A-Za-z]+", text[stop : stop + 10])
    if word and word[0] in ("True", "False", "None"):
        return "JSON writes true, false and null, in lower case"
    if char and char in '"{[-0123456789tfn' and before and before in '"}]0123456789el':
        if before == '"' and scan is not None and scan.brackets and text[scan.brackets[-1]] == "{":
            # A string right after `{` or `,` in a mapping is a key: its ':' is missing.
            k = j - 1
            while k >= 0 and (text[k] != '"' or text[k - 1 : k] == "\\"):
                k -= 1
            p = k - 1
            while p >= 0 and text[p] in " \t\r\n":
                p -= 1
            if k >= 0 and p >= 0 and text[p] in "{,":
                return f"a ':' is missing after the key {text[k : j + 1][:60]}"
        return f"a ',' is missing between two items, after {_where(text, j)}"
    return None


def _yaml_hint(text: str, stop: int, inner: set[int]) -> str | None:
    """The block-structure rules: indentation, a list beside keys, `key:value`, a missing
    ':', a ': ' inside a plain value."""
    lines = text.split("\n")
    at, _ = index_position(text, stop)  # 1-based line of the stop
    first = max(1, at - _HINT_LOOKBACK_LINES)

    def content(n: int) -> str | None:
        """Line ``n``'s text if it is a line of the block structure, else None."""
        if n in inner or not 1 <= n <= len(lines):
            return None
        s = lines[n - 1].rstrip("\r")
        stripped = s.strip()
        return None if not stripped or stripped.startswith("#") else s

    here = content(at)
    if here is None:
        return None
    char = text[stop]
    line_start = text.rfind("\n", 0, stop) + 1
    if char in "@`" and (_value_start(text, stop, True) or _value_start(text, stop, False)):
        return f"'{char}' cannot start a plain value in YAML: put the value in quotes"
    before = text[line_start:stop].rstrip(" \t")
    if char not in ",:#]}" and before and before[-1] in "\"']}" and len(before) < stop - line_start:
        what = "quoted string" if before[-1] in "\"'" else _KIND[_OPENER[before[-1]]]
        return (
            f"a value ends with the {what} that closes at column {len(before)}: only a "
            "comment may follow it on its line; put the whole value in quotes, or remove "
            "the rest"
        )
    above = [n for n in range(at - 1, first - 1, -1) if content(n) is not None]
    indent = _indent(here)
    # Where a line may start, from the lines above: the indentation of each enclosing
    # key or item, and deeper when the line just above opens a block (`key:`).
    allowed: set[int] = set()
    limit: int | None = None
    for n in above:
        s = lines[n - 1]
        ind = _indent(s)
        if limit is not None and ind >= limit:
            continue
        if not _is_key(s) and not _is_item(s):
            continue  # a scalar's continuation, or a line with its own mistake
        allowed.add(ind)
        allowed.update(_item_columns(s))
        limit = ind
        if ind == 0:
            break
    prev = above[0] if above else None
    prev_text = lines[prev - 1] if prev else ""
    if prev and allowed and indent not in allowed and (_is_key(prev_text) or _is_item(prev_text)):
        if not (indent > _indent(prev_text) and _opens_block(prev_text)):
            choices = sorted(a for a in allowed if a != indent)
            shown = ", ".join(str(a) for a in choices[:-1]) + (" or " if len(choices) > 1 else "")
            shown += _spaces(choices[-1])
            if indent > _indent(prev_text):
                return (
                    f"line {at} is indented {_spaces(indent)}, deeper than line {prev}, which "
                    "already has its value (nothing can nest under it): indent line "
                    f"{at} like the key or item it belongs beside, {shown}"
                )
            return (
                f"line {at} is indented {_spaces(indent)}, like no key or item above it: "
                f"indent it like the one it belongs beside, {shown}"
            )
    sibling = next((n for n in above if _indent(lines[n - 1]) <= indent), None)
    if sibling is not None and _indent(lines[sibling - 1]) == indent:
        s = lines[sibling - 1]
        if _is_item(here) and _is_key(s) and not _is_item(s) and not _opens_block(s):
            return (
                f"line {at} starts a list item ('- '), but line {sibling}, at the same "
                "indentation, is a key: one mapping cannot hold both. Put the list under a "
                f"key of its own, or write line {at} as key: value"
            )
        if _is_key(here) and not _is_item(here) and _is_item(s):
            hint = (
                f"line {at} is a key, but line {sibling}, at the same indentation, is a list "
                f"item ('- '), and a list cannot hold keys: start line {at} with '- ' for "
                "an item of its own"
            )
            keys = sorted(c for c in _item_columns(s) if _KEY.match(s, c))
            if keys:
                hint += f", or indent it {_spaces(keys[-1])} to add it to the item's keys"
            return hint
    col = stop - line_start
    key = _key_at(here)
    if char == ":" and key is not None and key.end() < col:
        value = here[key.end() :].strip()
        name = here[key.start() : key.end()].rstrip(" \t").rstrip(":")
        example = f'{name}: "{value}"' if '"' not in value and len(value) <= 60 else ""
        return "a value that holds ': ' needs quotes" + (f": {example}" if example else "")
    for n in [at, *above[:1]]:
        s = lines[n - 1]
        body = s.lstrip(" ")
        rest = body.lstrip("- ") if _is_item(s) else body
        m = _NO_SPACE_KEY.match(rest)
        if m and not _is_key(s):
            word = rest.split()[0] if rest.split() else rest
            k, _, v = word.partition(":")
            return f"line {n} has no space after the ':' of '{word[:40]}': write {k}: {v}"
        if _NO_SPACE_DASH.match(body):
            return f"line {n} has no space after its '-': a list item is written - {body[1:41]}"
    if prev and _indent(prev_text) == indent and not _is_key(prev_text) and not _is_item(prev_text):
        stripped = prev_text.strip()
        if ":" not in stripped and stripped[0] not in "[{\"'|>":
            return (
                f"line {prev} ({stripped[:40]}) has no ':': each line of a mapping is "
                "key: value, or key: with the value indented below it"
            )
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_item(line: str) -> bool:
    body = line.lstrip(" ")
    return body == "-" or body.startswith(("- ", "-\t")) or body.rstrip("\r") == "-"


def _key_at(line: str) -> re.Match[str] | None:
    """The `key:` that line's content starts with (after any `- `), if any."""
    body = line.lstrip(" ")
    start = len(line) - len(body)
    while body.startswith("- "):
        stripped = body[2:].lstrip(" ")
        start += len(body) - len(stripped)
        body = stripped
    return _KEY.match(line, start)


def _is_key(line: str) -> bool:
    return _key_at(line) is not None


def _opens_block(line: str) -> bool:
    """Whether the lines below ``line`` may be indented deeper: it ends in `key:` or a
    lone `-`, or starts a block scalar."""
    body = _strip_comment(line).rstrip()
    return body.endswith(":") or body.endswith("-") or bool(_BLOCK_SCALAR.search(body))


def _strip_comment(line: str) -> str:
    m = re.search(r"(?:^|[ \t])#", line)
    if m is None or any(q in line[: m.start()] for q in "\"'"):
        return line  # a '#' after a quote may be inside a string: leave the line alone
    return line[: m.start()]


def _item_columns(line: str) -> set[int]:
    """Columns where a sibling of what a `- ` line holds may start: each inner item's
    dash, and the key of a mapping item (`- a: 1` lets `  b: 2` follow)."""
    cols: set[int] = set()
    m = re.match(r" *((?:- +)+)", line)
    if m is None:
        return cols
    pos = len(line) - len(line.lstrip(" "))
    for dash in re.finditer(r"- +", m.group(1)):
        if dash.start() > 0:
            cols.add(pos + dash.start())
    after = m.end()
    if _KEY.match(line, after):
        cols.add(after)
    return cols


def long_key_before(text: str, index: int) -> bool:
    """Whether the text before ``index`` ends, on its line, with a key of over 1024
    characters: YAML's limit on a key (which JSON does not have), where the reader
    stops with a message about something else.

    Conservative: a key with an escaped quote or a space inside counts shorter.
    """
    before = text[text.rfind("\n", 0, index) + 1 : index].rstrip(" ")
    if len(before) <= 1024:
        return False
    if before[-1] in "\"'":
        start = before.rfind(before[-1], 0, len(before) - 1)
        return start >= 0 and len(before) - start > 1024
    plain = len(before) - len(before.rstrip("".join(set(before[-1025:]) - set(" \t,[]{}"))))
    return plain > 1024
