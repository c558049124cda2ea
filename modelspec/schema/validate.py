"""Validation of a spec against its JSON Schema: every error, as diagnostics.

:func:`validate` first asks the fast check (:mod:`modelspec.schema.accept`), which
needs no jsonschema; only a spec that fails it pays for importing jsonschema, whose
errors :mod:`modelspec.schema.explain` turns into diagnostics. Layers are validated
one by one, each against its own type's schema, and a definition repeated in the spec
is validated once.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from modelspec.catalog.ops import OPS
from modelspec.errors import Diagnostic
from modelspec.schema.accept import (
    custom_names,
    document_accepted,
    held_layers,
    layer_dicts,
    nested_kwargs,
    op_key,
    plain_step,
    schema_key,
    schemas,
)
from modelspec.schema.explain import (
    describe,
    json_type,
    show,
    translate,
    unknown_op,
    unknown_type,
)
from modelspec.source.document import Document

# Every error past this many is counted, not explained: a spec with 100,000 bad
# layers should still get its answer in well under a second.
MAX_SCHEMA_ERRORS = 200


def _is_int(checker: Any, instance: Any) -> bool:
    # JSON Schema counts 2.0 as an integer and jsonschema follows; Keras does not
    # (Dense(units=2.0) fails deep inside), so neither do we.
    return isinstance(instance, int) and not isinstance(instance, bool)


@functools.lru_cache(maxsize=1)
def _validators() -> tuple[Any, Any, dict[str, Any]]:
    """jsonschema validators for :func:`schemas`, imported only to explain errors."""
    import jsonschema

    validator_class = jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_int),
    )
    root, step, per_type = schemas()
    return (
        validator_class(root),
        validator_class(step),
        {name: validator_class(schema) for name, schema in per_type.items()},
    )


def validate(doc: Document) -> list[Diagnostic]:
    """Every schema error of ``doc``, capped at :data:`MAX_SCHEMA_ERRORS`.

    At the cap, one more diagnostic (MS109) says the check stopped there.
    """
    if document_accepted(doc.data):
        return []
    out = _validate(doc)
    if len(out) >= MAX_SCHEMA_ERRORS:
        out = out[:MAX_SCHEMA_ERRORS]
        out.append(
            doc.diagnostic(
                "MS109",
                f"stopped after {MAX_SCHEMA_ERRORS} schema errors",
                (),
                hint="fix these and run again to see the rest",
            )
        )
    return out


def _validate(doc: Document) -> list[Diagnostic]:
    root, step_validator, per_type = _validators()
    out: list[Diagnostic] = []
    for error in root.iter_errors(doc.data):
        out.extend(translate(doc, error, ()))
        if len(out) >= MAX_SCHEMA_ERRORS:
            return out
    if not isinstance(doc.data, dict):
        return out
    for section in ("layers", "graph"):
        entries = doc.data.get(section)
        for name, entry in entries.items() if isinstance(entries, dict) else ():
            if not isinstance(entry, dict):
                out.append(
                    doc.diagnostic(
                        "MS104",
                        f"{describe((section, name))} must be a mapping; got {show(entry)} "
                        f"({json_type(entry)})",
                        (section, name),
                    )
                )
            elif section == "layers" and "type" not in entry:
                out.append(
                    doc.diagnostic(
                        "MS103",
                        f"layer '{name}' is missing the required key 'type'",
                        (section, name),
                    )
                )
        if len(out) >= MAX_SCHEMA_ERRORS:
            return out
    graph = doc.data.get("graph")
    if isinstance(graph, dict):
        for name, step in graph.items():
            if isinstance(step, dict) and not plain_step(step):
                op = step.get("op")
                if isinstance(op, str) and op not in OPS:
                    out.extend(unknown_op(doc, ("graph", name), op))
                    continue
                for error in step_validator.iter_errors(step):
                    out.extend(translate(doc, error, ("graph", name)))
                if isinstance(op, str):  # each op's keywords, by a dict lookup
                    for error in per_type[op_key(op)].iter_errors(step):
                        out.extend(translate(doc, error, ("graph", name)))
                if len(out) >= MAX_SCHEMA_ERRORS:
                    return out
    stack = list(layer_dicts(doc.data))
    stack.reverse()
    # Real specs repeat layers ("Dense, 64 units, relu" many times): validate each
    # distinct definition once. The key is exact JSON, so 1 and 1.0 stay apart.
    valid: set[str] = set()
    customs = custom_names(doc.data)
    while stack:
        if len(out) >= MAX_SCHEMA_ERRORS:  # 20,000 unknown types: each asks did_you_mean
            return out
        path, layer = stack.pop()
        type_name = layer.get("type")
        validator = (
            per_type.get(schema_key(type_name, customs)) if isinstance(type_name, str) else None
        )
        if validator is None:
            if isinstance(type_name, str):
                out.extend(unknown_type(doc, path, type_name))
            elif "type" in layer:
                out.append(
                    doc.diagnostic(
                        "MS104",
                        f"layer `type` must be a string; got {show(type_name)}",
                        (*path, "type"),
                    )
                )
            elif not (len(path) == 2 and path[0] == "layers"):  # under `layers:` reported above
                what = _held(path)
                out.append(
                    doc.diagnostic("MS103", f"{what} is missing the required key 'type'", path)
                )
            continue
        key = json.dumps(layer, sort_keys=True)
        if key in valid:
            continue
        before = len(out)
        for error in validator.iter_errors(layer):
            out.extend(translate(doc, error, path, layer_type=type_name))
            if len(out) >= MAX_SCHEMA_ERRORS:
                return out
        if len(out) == before and not nested_kwargs(type_name):
            valid.add(key)
        # Wrappers hold a layer in a kwarg: validate it by its own type too.
        for keys, inner in held_layers(type_name, layer):
            stack.append(((*path, *keys), inner))
    return out


def _held(path: tuple) -> str:
    """What a layer at ``path`` is, for messages: "the `cell` of layer 'rnn'"."""
    if path and path[-1] in ("layer", "backward_layer", "cell"):
        return f"the `{path[-1]}` of {_held(path[:-1])}"
    if len(path) > 2 and path[-2] == "cells" and isinstance(path[-1], int):
        return f"cell {path[-1]} in the `cells` of {_held(path[:-2])}"
    return describe(path)
