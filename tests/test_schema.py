"""The JSON Schema: generated from the catalogue, committed, and usable by editors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from modelspec.catalog import LAYER_TYPES
from modelspec.emit.resources import schema_path
from modelspec.schema.build import SCHEMA_ID, build_schema
from modelspec.schema.editor import editor_schema, schema_text
from modelspec.source.loader import load

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


def test_committed_schema_is_generated_from_the_catalogue():
    committed = (ROOT / "schemas" / "modelspec.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "schemas/modelspec.schema.json is stale: run `modelspec schema -o schemas/modelspec.schema.json`"
    )


def test_installed_schema_path_is_the_committed_file():
    assert schema_path().read_text(encoding="utf-8") == schema_text()


def test_schema_is_valid_draft_2020_12_with_an_id():
    for schema in (build_schema(), editor_schema()):
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == SCHEMA_ID


def test_every_layer_type_and_kwarg_is_described_for_editors():
    defs = build_schema()["$defs"]
    for name, layer_type in LAYER_TYPES.items():
        props = defs[f"layer.{name}"]["properties"]
        for kwarg in layer_type.kwargs:
            assert props[kwarg.name].get("description"), f"{name}.{kwarg.name} has no description"
            if not kwarg.required:
                assert props[kwarg.name]["default"] == kwarg.default


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_example_specs_validate_with_plain_jsonschema(spec):
    """What an editor sees: the committed schema, a stock validator, no modelspec code.

    The spec as written (vars, blocks, ``${...}``) against the committed editor schema;
    and the spec it expands to against the plain schema that lint uses.
    """
    from modelspec.compose.expand import expand
    from modelspec.compose.scan import uses_composition

    doc, diags = load(spec)
    assert not diags
    schema = json.loads((ROOT / "schemas" / "modelspec.schema.json").read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc.data))
    assert errors == []
    if uses_composition(doc.data):
        expanded, diags = expand(doc)
        assert expanded is not None and not diags
        doc = expanded.doc
    errors = list(jsonschema.Draft202012Validator(build_schema()).iter_errors(doc.data))
    assert errors == []


def test_editor_schema_takes_composition_and_still_flags_mistakes():
    validator = jsonschema.Draft202012Validator(editor_schema())
    spec = {
        "modelspec": 1,
        "name": "m",
        "vars": {"width": 8},
        "include": ["blocks/lib.yaml"],
        "inputs": {"x": {"shape": ["${width}"]}},
        "blocks": {
            "fc": {
                "params": {"units": 4},
                "inputs": ["t"],
                "outputs": ["out"],
                "model": True,
                "layers": {"d": {"type": "Dense", "units": "${units * 2}"}},
                "graph": {"out": {"apply": "d", "to": "t", "repeat": "${2}"}},
            }
        },
        "graph": {
            "a": {"block": "fc", "to": "x", "with": {"units": 3}, "repeat": 2},
            "b": {"apply": {"type": "Dense", "units": "${width}"}, "to": "a", "when": True},
        },
        "outputs": {"y": {"from": "b", "loss_weight": "${0.5}"}},
    }
    assert list(validator.iter_errors(spec)) == []
    library = {"modelspec": 1, "blocks": spec["blocks"]}
    assert list(validator.iter_errors(library)) == []
    mistakes = [
        ("layers", {"d": {"type": "Dense", "units": "four"}}),  # not a number, not ${...}
        ("layers", {"d": {"type": "Dense", "units": 4, "filters": 2}}),  # another type's kwarg
        ("graph", {"a": {"block": "fc", "to": "x", "wiht": {}}}),  # unknown block-step key
        ("blocks", {"fc": {"inputs": ["t"], "outputs": ["o"]}}),  # a block without a graph
    ]
    for key, value in mistakes:
        broken = {**spec, key: value}
        if key == "layers":
            broken = {**spec, "layers": value, "graph": {"b": {"apply": "d", "to": "x"}}}
        assert list(validator.iter_errors(broken)), (key, value)
    assert list(validator.iter_errors({"modelspec": 1, "inputs": {}}))  # neither name nor blocks


def test_editor_schema_dispatches_on_layer_type():
    """The `if`/`then` per type makes an editor flag a kwarg of the wrong layer."""
    schema = build_schema()
    validator = jsonschema.Draft202012Validator(schema)
    spec = {
        "modelspec": 1,
        "name": "m",
        "inputs": {"x": {"shape": [4]}},
        "layers": {"fc": {"type": "Dense", "units": 3, "filters": 2}},
        "graph": {"y": {"apply": "fc", "to": "x"}},
        "outputs": {"y": {"from": "y"}},
    }
    messages = [e.message for e in validator.iter_errors(spec)]
    assert any("filters" in m for m in messages)


def test_yaml_language_server_modeline_points_at_the_schema():
    for spec in SPECS:
        first = spec.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/modelspec.schema.json"


# --- the fast accept agrees with jsonschema --------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from modelspec.schema.accept import document_accepted  # noqa: E402
from modelspec.schema.validate import _validate  # noqa: E402
from modelspec.source.loader import loads  # noqa: E402

_BASES = [load(p)[0].data for p in SPECS] + [
    load(p)[0].data for p in sorted((ROOT / "tests" / "specs").glob("*.yaml"))
]
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 300),
    st.floats(-2, 2, allow_nan=False),
    st.sampled_from(["relu", "Dense", "x", "same", "mse", "adam", "Adamm", "float31", "", "t1"]),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["type", "units", "to", "apply", "shape", "rate", "zz"]),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=6,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def _mutate(data, path, how, new):
    data = json.loads(json.dumps(data))
    if not path:
        return new if how == "replace" else data
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "replace":
        parent[last] = new
    elif how == "delete":
        del parent[last]
    elif how == "add" and isinstance(parent[last], dict):
        parent[last]["zz_extra" if not isinstance(new, str) or not new else new] = new
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fast_accept_agrees_with_jsonschema(data):
    base = data.draw(st.sampled_from(_BASES))
    path = data.draw(st.sampled_from(list(_paths(base))))
    how = data.draw(st.sampled_from(["replace", "delete", "add"]))
    spec = _mutate(base, path, how, data.draw(_VALUES))
    doc, diags = loads(json.dumps(spec), "mutated.json")
    assert not diags
    assert document_accepted(doc.data) == (not _validate(doc)), (path, how, spec)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_valid_specs_never_import_jsonschema(spec):
    import subprocess
    import sys

    code = (
        "import sys; from modelspec.check import check; "
        f"assert check({str(spec)!r}).ok; print('jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_yaml_and_json_specs_are_the_same_document():
    """specs/seed_003_multitask.json is the YAML spec's twin: same data, same summary."""
    from modelspec.check import check
    from modelspec.emit.summary import summary_json

    yaml_result = check(ROOT / "specs" / "seed_003_multitask.yaml")
    json_result = check(ROOT / "specs" / "seed_003_multitask.json")
    assert yaml_result.ok and json_result.ok
    json_data = dict(json_result.doc.data)
    assert json_data.pop("$schema") == "../schemas/modelspec.schema.json"
    assert json_data == yaml_result.doc.data
    assert summary_json(json_result) == summary_json(yaml_result)
