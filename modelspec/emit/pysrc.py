"""Safe Python source for generated modules: literals, identifiers, and line layout.

Nothing from a spec reaches generated code except through this module:

- :func:`literal` renders a plain value (``str``, ``int``, ``float``, ``bool``,
  ``None``, tuples and lists of them) as a Python literal. Strings go through
  ``repr``, then take the quotes ``ruff format`` prefers; non-finite floats are
  refused.
- :class:`Namespace` hands out identifiers: ASCII only, never a keyword, a soft
  keyword, a builtin or a name the module itself uses (:data:`MODULE_NAMES`), and
  unique.
- :func:`comment_text` escapes text onto one ASCII line, for comments and docstrings.
- :func:`statement` lays out one statement the way ``ruff format`` (default settings,
  88 columns, counted as ruff counts them) would: on one line when it fits, comment
  included, otherwise exploded one argument per line with a trailing comma, which
  ruff keeps as written.

Expressions are a tiny tree (:class:`Call`, :class:`Seq`, :class:`Index`,
:class:`Atom`) rather than strings, so layout can split them where ruff would.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LINE_LENGTH = 88
INDENT = "    "


class UnsafeValue(ValueError):
    """A value that cannot be rendered as a plain Python literal."""


def _quote(text: str) -> str:
    """``repr(text)`` with ruff's quote preference: double quotes unless they need more escapes."""
    r = repr(text)
    if r[0] == '"':
        return r  # repr chose double quotes: the text has a ' and no "
    body = r[1:-1]
    # ruff (as black) switches to double quotes unless that adds escapes.
    if text.count('"') <= body.count("\\'"):
        body = body.replace("\\'", "'").replace('"', '\\"')
        return f'"{body}"'
    return r


def literal(value: object) -> str:
    """A Python literal for a plain value; :class:`UnsafeValue` for anything else.

    >>> literal(["same", 3, 0.5, None])
    '["same", 3, 0.5, None]'
    >>> literal((3,))
    '(3,)'
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))  # an int subclass could override __repr__
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeValue(f"non-finite number {value!r}")
        return repr(float(value)).replace("e+", "e")  # ruff writes 1e16, not 1e+16
    if isinstance(value, str):
        return _quote(str(value))
    if isinstance(value, tuple):
        items = [literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, list):
        return f"[{', '.join(literal(v) for v in value)}]"
    raise UnsafeValue(f"{type(value).__name__} is not a plain value")


# NOTE: [directives in comments] Some comments are not just text. In the first two
# lines, ``coding:`` or ``coding=`` is a PEP 263 declaration: Python decodes the file
# with it, so a spec file named ``x coding=utf_7.yaml`` in the header comment turned
# ``+ACI-`` inside a string literal into a closing quote, and the spec's text into code.
# Tools obey comments too (noqa, nosec, type-ignore, fmt-skip, pylint-disable: a word,
# then a colon), and ruff measures a line without its pragma. So spec text in a comment
# never carries a ``#``, a ``:`` or ``=`` right after one of these words, or a leading
# noqa or nosec.
_DIRECTIVE = re.compile(
    r"(coding|(?<![A-Za-z0-9_])(?:noqa|nosec|type|pyright|pyrefly|pylint|flake8|ruff|ty"
    r"|isort|fmt|yapf|mypy|pragma))(\s*)([:=])",
    re.IGNORECASE,
)
_LEADING_PRAGMA = re.compile(r"\A( *)(noqa|nosec)", re.IGNORECASE)


def _hex(ch: str) -> str:
    return f"\\\\x{ord(ch):02x}"


def comment_text(text: str) -> str:
    """``text`` on one line of printable ASCII, safe in a comment or a docstring.

    Backslashes, line breaks, non-ASCII characters and ``"`` are escaped, so the text
    can neither end the comment nor close a docstring; ``#``, a trailing space and
    directives (see the note above) are escaped too: ``'a "b"\\n'`` becomes
    ``a \\"b\\"\\\\x0a``, ``x.yaml coding: y`` becomes ``x.yaml coding\\\\x3a y``.
    """
    escaped = text.encode("ascii", "backslashreplace").decode("ascii")
    escaped = escaped.replace("\\", "\\\\")
    out = []
    for ch in escaped:
        if ch == '"':
            out.append('\\"')
        elif ch == "#":
            out.append(_hex(ch))
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(_hex(ch))
    line = "".join(out)
    line = _DIRECTIVE.sub(lambda m: f"{m[1]}{m[2]}{_hex(m[3])}", line)
    line = _LEADING_PRAGMA.sub(lambda m: f"{m[1]}{_hex(m[2][0])}{m[2][1:]}", line, count=1)
    if line.endswith(" "):  # ruff strips trailing spaces in comments and docstrings
        line = line[:-1] + _hex(" ")
    return line


# --- identifiers ----------------------------------------------------------------------

# The names the templates bind or read themselves (templates/*.j2): the module's
# imports and constants, build_model()'s parameters and helpers. A spec name that is one
# of them would shadow it: an input named `weights` would replace the weights file that
# build_model() loads. tests/test_codegen_safety.py collects the names of a module that
# uses every part of the templates and checks that each is here.
MODULE_NAMES = frozenset({
    "keras", "os", "sys", "WEIGHTS", "WEIGHTS_MAP", "build_model", "_build_model", "model",
    "weights", "weights_map", "skip_mismatch", "limit", "load_weights_by_name",
})  # fmt: skip

_RESERVED = frozenset({*keyword.kwlist, *keyword.softkwlist, *dir(builtins), *MODULE_NAMES})


def _base_identifier(name: str) -> str:
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if ident in _RESERVED or ident.startswith("__"):
        core = ident.strip("_")
        ident = f"{core}_" if core else "t_"
    if not ident or ident[0].isdigit():  # after the strip: ``__0`` is ``0_`` by then
        ident = f"t_{ident}"
    while ident in _RESERVED:
        ident += "_"
    return ident


class Namespace:
    """Hands out unique, safe identifiers for spec names (as torch.fx's ``_Namespace``).

    >>> ns = Namespace()
    >>> ns.create("conv-1"), ns.create("conv_1"), ns.create("print"), ns.create("class")
    ('conv_1', 'conv_1_2', 'print_', 'class_')
    """

    def __init__(self, taken: Iterable[str] = ()):
        self._used: set[str] = set(taken)

    def create(self, name: str) -> str:
        base = _base_identifier(name)
        ident, n = base, 1
        while ident in self._used:
            n += 1
            ident = f"{base}_{n}"
        assert ident.isascii() and ident.isidentifier() and not keyword.iskeyword(ident)
        self._used.add(ident)
        return ident


# --- expressions and layout --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Atom:
    """Source text that is never split: a name or a rendered literal."""

    text: str

    def flat(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Index:
    """``value[index]``: ruff splits even this, as ``value[``, ``index``, ``]``."""

    value: str
    index: int

    def flat(self) -> str:
        return f"{self.value}[{self.index}]"


@dataclass(frozen=True, slots=True)
class Call:
    """``func(arg, key=value, ...)``; ``func`` is a dotted name or another call."""

    func: Atom | Call
    args: tuple[tuple[str | None, Expr], ...]

    def flat(self) -> str:
        return f"{self.func.flat()}({_flat_args(self.args)})"


@dataclass(frozen=True, slots=True)
class Seq:
    """A list ``[...]``, a tuple ``(...)`` or a dict ``{...}`` (items as ``(key, value)``).

    ``comments`` (a list's only) puts a trailing comment on each item, which forces
    the list onto one line per item.
    """

    kind: str  # "list", "tuple" or "dict"
    items: tuple[Expr | tuple[Expr, Expr], ...]
    comments: tuple[str, ...] = ()

    def flat(self) -> str:
        if self.kind == "dict":
            body = ", ".join(f"{k.flat()}: {v.flat()}" for k, v in self.items)  # type: ignore[misc]
            return f"{{{body}}}"
        body = ", ".join(i.flat() for i in self.items)  # type: ignore[union-attr]
        if self.kind == "tuple":
            return f"({body},)" if len(self.items) == 1 else f"({body})"
        return f"[{body}]"


Expr = Atom | Index | Call | Seq


def _flat_args(args: Sequence[tuple[str | None, Expr]]) -> str:
    return ", ".join(v.flat() if k is None else f"{k}={v.flat()}" for k, v in args)


def _width(text: str) -> int:
    """Columns ``text`` takes as ruff counts them: East Asian wide and fullwidth
    characters two, combining marks none, anything else one.

    ruff's tables follow a newer Unicode than ``unicodedata``: a few hundred rare
    characters (Hangul jamo, some vowel signs, hexagram symbols) count differently.
    """
    if text.isascii():
        return len(text)
    return sum(
        0
        if unicodedata.category(ch) in ("Mn", "Me")
        else 2
        if unicodedata.east_asian_width(ch) in ("W", "F")
        else 1
        for ch in text
    )


def _fits(line: str, comment: str) -> bool:
    full = f"{line}  # {comment}" if comment else line
    return _width(full) <= LINE_LENGTH


def _split(expr: Expr, indent: str, head: str, tail: str, comment: str) -> list[str]:
    """Lines for ``head + expr + tail`` at ``indent``: flat when it fits, else exploded."""
    line = f"{indent}{head}{expr.flat()}{tail}"
    if (_fits(line, comment) and not _commented(expr)) or not _splittable(expr):
        return [_with_comment(line, comment)]
    inner = indent + INDENT
    if isinstance(expr, Index):
        opening = _with_comment(f"{indent}{head}{expr.value}[", comment)
        return [opening, f"{inner}{expr.index}", f"{indent}]{tail}"]
    if isinstance(expr, Call):
        if isinstance(expr.func, Call) and expr.func.args:
            # ``Layer(...)(x)``: explode the constructor, comment on its first line, and
            # keep the call of it on the closing ``)`` while that fits.
            ctor = expr.func
            lines = [_with_comment(f"{indent}{head}{ctor.func.flat()}(", comment)]
            lines += [ln for k, v in ctor.args for ln in _split(v, inner, _key(k), ",", "")]
            applied = f"{indent})({_flat_args(expr.args)}){tail}"
            if _fits(applied, "") or not expr.args:
                return [*lines, applied]
            body = [ln for k, v in expr.args for ln in _split(v, inner, _key(k), ",", "")]
            return [*lines, f"{indent})(", *body, f"{indent}){tail}"]
        opening = f"{indent}{head}{expr.func.flat()}("
        body = [ln for k, v in expr.args for ln in _split(v, inner, _key(k), ",", "")]
        return [_with_comment(opening, comment), *body, f"{indent}){tail}"]
    opening, closing = {"list": "[]", "tuple": "()", "dict": "{}"}[expr.kind]
    body = []
    for i, item in enumerate(expr.items):
        if expr.kind == "dict":
            k, v = item  # type: ignore[misc]
            body += _split(v, inner, f"{k.flat()}: ", ",", "")
        else:
            note = comment_text(expr.comments[i]) if expr.comments else ""
            body += _split(item, inner, "", ",", note)  # type: ignore[arg-type]
    return [_with_comment(f"{indent}{head}{opening}", comment), *body, f"{indent}{closing}{tail}"]


def _commented(expr: Expr) -> bool:
    """Whether ``expr`` holds a list with item comments, which cannot be written flat."""
    if isinstance(expr, Seq):
        return any(expr.comments) or any(
            _commented(i[1] if isinstance(i, tuple) else i) for i in expr.items
        )
    if isinstance(expr, Call):
        return _commented(expr.func) or any(_commented(v) for _, v in expr.args)
    return False


def _splittable(expr: Expr) -> bool:
    """Whether ruff can split ``expr``: an atom, ``[]`` and ``f()`` have nothing to split."""
    if isinstance(expr, Atom):
        return False
    if isinstance(expr, Seq):
        return bool(expr.items)
    if isinstance(expr, Call):
        return bool(expr.args) or (isinstance(expr.func, Call) and _splittable(expr.func))
    return True


def _key(k: str | None) -> str:
    return "" if k is None else f"{k}="


def _with_comment(line: str, comment: str) -> str:
    return f"{line}  # {comment}" if comment else line


def statement(expr: Expr, *, target: str = "", comment: str = "", indent: int = 1) -> str:
    """One statement, ``target = expr  # comment``, laid out as ``ruff format`` would.

    With a target, ``expr`` is one ruff can split (a call with arguments, a sequence
    with items): ruff wraps a long atom or ``f()`` after ``=`` in parentheses instead,
    a layout this does not write.
    """
    head = f"{target} = " if target else ""
    pad, note = INDENT * indent, comment_text(comment)
    lines = _split(expr, pad, head, "", note)
    opening = f"{pad}{head}("
    if target and isinstance(expr, Call) and _splittable(expr) and not _fits(lines[0], ""):
        # ruff moves a call after ``=`` into parentheses when that is what makes its
        # first line (``func(  # comment``) fit: a long target, a long comment.
        inner = _split(expr, pad + INDENT, "", "", note)
        if _fits(opening, "") and _fits(inner[0], ""):
            return "\n".join([opening, *inner, f"{pad})"])
    return "\n".join(lines)


def _identifier(name: str, what: str) -> str:
    if not (name.isascii() and name.isidentifier() and not keyword.iskeyword(name)):
        raise UnsafeValue(f"{what} must be an ASCII identifier and not a keyword: {name!r}")
    return name


def call(func: str | Call, *args: Expr, **kwargs: Expr) -> Call:
    """A :class:`Call` from Python arguments; ``kwargs`` keep their order.

    ``func`` (a dotted name) and the keywords are checked: they are written as code.
    """
    if isinstance(func, str):
        for part in func.split("."):
            _identifier(part, "a called name")
    for key in kwargs:
        _identifier(key, "a keyword argument")
    f = Atom(func) if isinstance(func, str) else func
    return Call(f, (*((None, a) for a in args), *kwargs.items()))


def value(v: object) -> Expr:
    """A plain value as an expression; lists and tuples become splittable sequences."""
    if isinstance(v, (list, tuple)) and v:
        kind = "list" if isinstance(v, list) else "tuple"
        return Seq(kind, tuple(value(i) for i in v))
    return Atom(literal(v))
