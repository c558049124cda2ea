"""``include:``: blocks from other spec files.

A spec's top-level ``include: [path, ...]`` names spec files (YAML or JSON) whose
``blocks:`` it may use. :func:`gather` reads them, and the files they include in
turn; :func:`merge` puts their blocks under the including spec's ``blocks:``, so
that :mod:`modelspec.compose.expand` expands them like its own. The rules (``docs/spec.md``,
"Includes", has the user's view):

1. A path is relative to the folder of the file that names it; an absolute path is
   itself. Only ``.yaml``, ``.yml`` and ``.json`` files are read, never a URL.
2. The file, links followed, must be inside the project root or an allowed include
   path (:meth:`modelspec.source.project.Project.allows_path`); otherwise it is refused
   before anything opens it.
3. Each file is read once, however many files include it (a diamond), through
   :func:`modelspec.source.loader.load` with all its limits. A file that includes itself,
   directly or not, is an error naming the chain.
4. Every block of every file reached is available to the including spec; a block of
   an included file sees its own file's ``vars`` and the blocks its own file reaches
   (hygiene: an include never changes the meaning of the included blocks).
5. Two definitions of one block name, local or included, are an error naming both.

# NOTE: [positions across files]
The merged document keeps one position table: an included block's positions are
copied under ``("blocks", name)``, where no other block can be (names are unique
after rule 5), and ``Document.files`` maps that path to the file it came from.
``Document.diagnostic`` looks a path's file up there, so every later stage reports
the included file's line without knowing about includes; a spec without ``include``
has an empty map and pays nothing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from modelspec.errors import Diagnostic, JsonPath
from modelspec.source.document import Document
from modelspec.source.loader import load
from modelspec.source.project import Project

MAX_INCLUDES = 64  # files one spec includes, directly or not
MAX_INCLUDE_DEPTH = 16  # files including files including ...
# All included files together: as much as one spec may be (loader.MAX_BYTES), so a
# spec with includes costs lint no more than one written out in full.
MAX_INCLUDE_BYTES = 8 * 1024 * 1024
SUFFIXES = (".yaml", ".yml", ".json")
# `http://`, `file:`, `s3://`, ... and `//host/share`, `\\host\share`: include reads
# local files, and nothing that could make modelspec open a connection.
_REMOTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:|//|\\\\")


@dataclass(slots=True)
class Library:
    """One included file."""

    file: str  # its name in diagnostics: the path joined to its includer's folder
    doc: Document
    blocks: tuple[str, ...]  # the blocks it defines
    visible: frozenset[str]  # those, and the blocks of the files it reaches


@dataclass(slots=True)
class Included:
    """Every file a spec reaches through ``include:``, in the order first read."""

    libraries: list[Library] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # every file read -> its text


class _Gatherer:
    def __init__(self, project: Project):
        self.project = project
        self.diagnostics: list[Diagnostic] = []
        self.read: dict[str, Library | None] = {}  # real path -> library (None: failed)
        self.libraries: list[Library] = []
        self.sources: dict[str, str] = {}
        self.bytes = 0

    def includes(self, doc: Document, chain: list[tuple[str, str]]) -> set[str]:
        """Read the files ``doc`` includes; the names of the blocks they reach."""
        raw = doc.data.get("include") if isinstance(doc.data, dict) else None
        if raw is None:
            return set()
        if not isinstance(raw, list):
            self.error(
                doc,
                "MS713",
                "`include` must be a list of file paths",
                ("include",),
                hint="write include: [blocks/common.yaml]",
            )
            return set()
        visible: set[str] = set()
        for i, entry in enumerate(raw):
            lib = self.one(doc, entry, ("include", i), chain)
            if lib is not None:
                visible |= lib.visible
        return visible

    def error(self, doc: Document, code: str, message: str, path: JsonPath,
              hint: str | None = None) -> None:  # fmt: skip
        self.diagnostics.append(doc.diagnostic(code, message, path, hint=hint))

    def one(
        self, doc: Document, entry: object, path: JsonPath, chain: list[tuple[str, str]]
    ) -> Library | None:
        if not isinstance(entry, str) or not entry.strip():
            self.error(doc, "MS713", f"an `include` entry must be a file path, not {entry!r}", path)
            return None
        if "\0" in entry:  # no file name holds one, and the OS refuses to look it up
            self.error(
                doc,
                "MS713",
                f"an `include` path cannot hold a NUL character: {entry!r}",
                path,
                hint="write the file's path as it is on disk",
            )
            return None
        if _REMOTE.match(entry):
            self.error(
                doc,
                "MS713",
                f"`include` reads local files, not {entry!r}",
                path,
                hint="copy the file into the project and include it by its path",
            )
            return None
        if not entry.endswith(SUFFIXES):
            self.error(
                doc,
                "MS713",
                f"`include` reads spec files (.yaml, .yml, .json), not {entry!r}",
                path,
            )
            return None
        includer_real, includer = chain[-1]
        real = os.path.realpath(os.path.join(os.path.dirname(includer_real), entry))
        display = (
            entry
            if os.path.isabs(entry)
            else os.path.normpath(os.path.join(os.path.dirname(includer), entry))
        )
        if not self.project.allows_path(real):
            # Checked on the real path, before the file is opened: a link inside the
            # project to a file outside it is refused the same way.
            self.error(
                doc,
                "MS715",
                f"'{entry}' is outside the project root; not read",
                path,
                hint="a spec reads only files inside its project; to allow a folder, add it "
                "to `include-paths` under [tool.modelspec] in pyproject.toml, or pass "
                "--include-path DIR",
            )
            return None
        reals = [r for r, _ in chain]
        if real in reals:
            names = [name for _, name in chain[reals.index(real) :]]
            self.error(
                doc,
                "MS716",
                f"include cycle: {' -> '.join([*names, display])}",
                path,
                hint="a file cannot include itself, directly or through others",
            )
            return None
        if real in self.read:  # a diamond: read once
            return self.read[real]
        self.read[real] = None
        if len(chain) > MAX_INCLUDE_DEPTH:
            self.error(
                doc,
                "MS718",
                f"includes nest more than {MAX_INCLUDE_DEPTH} files deep",
                path,
                hint="include the innermost files from the spec itself",
            )
            return None
        if len(self.read) > MAX_INCLUDES:
            self.error(doc, "MS718", f"a spec may include at most {MAX_INCLUDES} files", path)
            return None
        try:
            size = os.stat(real).st_size
        except OSError:
            size = 0  # the loader says what is wrong
        if self.bytes + size > MAX_INCLUDE_BYTES:
            self.error(
                doc,
                "MS718",
                f"the included files together are over the {MAX_INCLUDE_BYTES // 2**20} MiB limit",
                path,
            )
            return None
        self.bytes += size
        if not os.path.lexists(real):
            self.error(
                doc,
                "MS714",
                f"cannot include '{entry}': no such file",
                path,
                hint=f"the path is relative to the folder of {includer}",
            )
            return None
        # The real path, so the loader's own rule on links (relative to the current
        # folder) does not apply: the project root, checked above, is the rule here.
        lib_doc, diags = load(real, display=display)
        if lib_doc is None and all(d.code == "MS001" for d in diags):
            # The file itself cannot be read (a folder, a FIFO, too large): say so at
            # the entry, since the file has no line to point at.
            why = diags[0].message if diags else "unreadable"
            self.error(doc, "MS714", f"cannot include '{entry}': {why}", path)
            return None
        if lib_doc is not None:
            self.sources[display] = lib_doc.text
        if lib_doc is None or diags:
            self.diagnostics += diags
            self.error(
                doc,
                "MS714",
                f"cannot include '{entry}': it has errors",
                path,
                hint=f"see the errors in {display}",
            )
            return None
        data = lib_doc.data
        if not isinstance(data, dict) or data.get("modelspec") != 1:
            self.error(
                doc,
                "MS719",
                f"'{entry}' is not a modelspec file: it has no `modelspec: 1`",
                path,
                hint="an included file is a spec, or a library of blocks: "
                "modelspec: 1, and any of vars, blocks, include, description",
            )
            return None
        blocks = data.get("blocks")
        own = tuple(blocks) if isinstance(blocks, dict) else ()
        reached = self.includes(lib_doc, [*chain, (real, display)])
        lib = Library(display, lib_doc, own, frozenset(reached | set(own)))
        self.read[real] = lib
        self.libraries.append(lib)
        return lib


def gather(
    doc: Document, project: Project, origin: str | os.PathLike[str] | None = None
) -> tuple[Included, list[Diagnostic]]:
    """Every file ``doc`` reaches through ``include:``; ``origin`` is its path on disk
    (by default ``doc.file``), which relative paths start from."""
    g = _Gatherer(project)
    real = os.path.realpath(origin if origin is not None else doc.file)
    g.includes(doc, [(real, doc.file)])
    return Included(g.libraries, g.sources), g.diagnostics


def merge(
    doc: Document, included: Included
) -> tuple[Document, dict[str, Library], list[Diagnostic]]:
    """``doc`` with every included block under its ``blocks:``, with the positions and
    files to match; and which library each included block came from."""
    data = doc.data
    local = data.get("blocks")
    if local is not None and not isinstance(local, dict):
        return doc, {}, []  # compose reports the broken `blocks:`
    blocks = dict(local or {})
    positions, key_positions = dict(doc.positions), dict(doc.key_positions)
    files: dict[JsonPath, str] = dict(doc.files)
    sources = dict(doc.sources)
    owner: dict[str, Library] = {}
    diags: list[Diagnostic] = []
    for lib in included.libraries:
        sources[lib.file] = lib.doc.text
        raw = lib.doc.data.get("blocks")
        if raw is None:
            continue
        if not isinstance(raw, dict):
            diags.append(
                lib.doc.diagnostic(
                    "MS704", "`blocks` must be a mapping of names to block definitions", ("blocks",)
                )
            )
            continue
        taken = []
        for name in raw:
            if name in blocks:
                # Reported at the later definition, naming the earlier: an included
                # block is earlier than a local one (it is read first).
                if name in owner:
                    first, here = owner[name].doc, lib.doc
                else:
                    first, here = lib.doc, doc
                line, col = first.position(("blocks", name), key=True)
                diags.append(
                    here.diagnostic(
                        "MS717",
                        f"block '{name}' is defined twice: here and at {first.file}:{line}:{col}",
                        ("blocks", name),
                        key=True,
                        hint="rename one of them: a block name means one block in a spec and "
                        "everything it includes",
                    )
                )
                continue
            blocks[name] = raw[name]
            owner[name] = lib
            files[("blocks", name)] = lib.file
            taken.append(name)
        wanted = set(taken)
        for table, out in ((lib.doc.positions, positions), (lib.doc.key_positions, key_positions)):
            for path, pos in table.items():
                if len(path) >= 2 and path[0] == "blocks" and path[1] in wanted:
                    out[path] = pos
    merged = Document(
        doc.file, doc.text, {**data, "blocks": blocks}, positions, key_positions, files, sources
    )
    return merged, owner, diags
