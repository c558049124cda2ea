"""What checking a spec gives: :class:`Result`, the one typed record every stage writes
into. The passes of :mod:`modelspec.passes.pipeline` each add their facts to it; the
commands and the emitters read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelspec.errors import Diagnostic
from modelspec.ir import Spec
from modelspec.passes.graph import GraphFacts
from modelspec.passes.shapes import ShapeFacts
from modelspec.source.document import Document
from modelspec.source.project import Project


@dataclass(slots=True)
class Result:
    file: str
    doc: Document | None = None
    spec: Spec | None = None
    graph: GraphFacts | None = None
    shapes: ShapeFacts | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # From composition: each step a block instance made -> ((instance, block), ...),
    # outermost first; and each shared instance -> the instance it shares.
    groups: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    shares: dict[str, str] = field(default_factory=dict)
    # Block instances built as nested keras.Models -> how (compose.context.Nested); the nested
    # pass's facts: what each level of the model calls, in order.
    models: dict[str, Any] = field(default_factory=dict)
    nesting: Any = None
    # The project the spec was checked in: what `include:` may read, which custom
    # layer modules may be imported.
    project: Project | None = None
    # A block library (blocks for other specs to include): checked, but no model.
    library: bool = False
    # Layers whose definitions have errors: the passes give them no shape (guessing
    # would only add noise).
    skip_layers: frozenset[str] = frozenset()

    def not_a_model(self) -> Diagnostic | None:
        """MS727 for a block library given where a model is needed (build, summary ...)."""
        if not self.library or self.doc is None:
            return None
        return self.doc.diagnostic(
            "MS727",
            "this file is a block library, not a model: it has `blocks:` but no "
            "`name`, `inputs` or graph",
            hint="include it from a spec (`include: [path]`) and build that spec",
        )

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors
