"""Property-based and fuzz tests (hypothesis): random valid graphs, random broken specs.

- ``valid_graphs()`` draws random DAGs of catalogue layers whose shapes fit: vectors,
  sequences and token inputs, chains, shared layers, wrappers, merges and several
  outputs. Each one lints clean; ``summary``'s parameter counts equal those of a
  Keras model built here independently, layer by layer; the generated module passes
  ruff, builds, and starts from the same weights as the direct instantiation.
- ``broken_specs()`` mutates the specs in ``specs/``: a required key deleted, a value
  of the wrong type, a reference renamed, a cycle inserted. Checking never raises, and
  each mutation gives an error with a position inside the text.
- The pieces the hostile corpus leans on: the cycle finder against brute force, and
  "did you mean" among thousands of near-identical names.

``ast.literal_eval(repr(s)) == s`` for rendered literals is a property of
``tests/test_codegen_safety.py`` (``test_literal_round_trips_and_ruff_leaves_it_alone``,
``test_nested_literals_round_trip``). ``import(build(spec))`` waits for the importer.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from modelspec.check import check_text
from modelspec.errors import did_you_mean
from modelspec.passes.graph import _cyclic_components

ROOT = Path(__file__).resolve().parent.parent

# --- random valid graphs -------------------------------------------------------------------

# A tensor is ("vec", width), ("seq", steps, width) or ("tokens", steps).
T = 5  # sequence length of every sequence input


@st.composite
def valid_graphs(draw: st.DrawFn) -> dict[str, Any]:
    """A spec whose every step fits, every input is used and every loose end is an
    output: it must lint clean, without a warning."""
    counter = iter(range(10_000))

    def name(kind: str) -> str:
        return f"l{next(counter)}_{kind.lower()}"

    inputs: dict[str, Any] = {}
    tensors: dict[str, tuple] = {}
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["vec", "vec", "seq", "tokens"]))
        if kind == "vec":
            width = draw(st.sampled_from([3, 4, 6]))
            inputs[f"in{i}"], tensors[f"in{i}"] = {"shape": [width]}, ("vec", width)
        elif kind == "seq":
            width = draw(st.sampled_from([2, 4]))
            inputs[f"in{i}"], tensors[f"in{i}"] = {"shape": [T, width]}, ("seq", T, width)
        else:
            inputs[f"in{i}"] = {"shape": [T], "dtype": "int32"}
            tensors[f"in{i}"] = ("tokens", T)
    layers: dict[str, Any] = {}  # shared layers, by name
    shared_width: dict[str, int] = {}  # a shared Dense -> the width it was built on
    graph: dict[str, Any] = {}
    used: set[str] = set()

    def one_layer(shape: tuple) -> tuple[Any, tuple]:
        """A layer that takes ``shape``, and the shape it makes."""
        if shape[0] == "tokens":
            dim = draw(st.sampled_from([2, 3]))
            return {"type": "Embedding", "input_dim": 20, "output_dim": dim}, ("seq", T, dim)
        if shape[0] == "vec":
            op = draw(st.sampled_from(["Dense", "Dense", "shared", "shared", "Dropout",
                                       "BatchNormalization", "LayerNormalization", "Activation"]))  # fmt: skip
            width = shape[1]
            if op == "shared":
                fits = [n for n, w in shared_width.items() if w == width]
                if fits and draw(st.integers(0, 3)):  # mostly called again: shared weights
                    again = draw(st.sampled_from(fits))
                    return again, ("vec", layers[again]["units"])
                units = draw(st.integers(1, 5))
                shared = name("shared")
                layers[shared] = {"type": "Dense", "units": units, "use_bias": draw(st.booleans())}
                shared_width[shared] = width
                return shared, ("vec", units)
            if op == "Dense":
                units = draw(st.integers(1, 5))
                act = draw(st.sampled_from([None, "relu", "tanh"]))
                layer = {"type": "Dense", "units": units, "use_bias": draw(st.booleans())}
                if act:
                    layer["activation"] = act
                return layer, ("vec", units)
            if op == "Dropout":
                return {"type": "Dropout", "rate": draw(st.sampled_from([0.1, 0.5]))}, shape
            if op == "Activation":
                return {"type": "Activation", "activation": "relu"}, shape
            return {"type": op}, shape
        _, steps, width = shape
        op = draw(st.sampled_from(["Conv1D", "LSTM", "GRU", "pool", "TimeDistributed",
                                   "Bidirectional", "LayerNormalization"]))  # fmt: skip
        if op == "Conv1D":
            filters = draw(st.integers(1, 4))
            kernel = draw(st.integers(1, 3))
            return ({"type": "Conv1D", "filters": filters, "kernel_size": kernel, "padding": "same"},
                    ("seq", steps, filters))  # fmt: skip
        if op in ("LSTM", "GRU"):
            units, seqs = draw(st.integers(1, 4)), draw(st.booleans())
            layer = {"type": op, "units": units, "return_sequences": seqs}
            return layer, ("seq", steps, units) if seqs else ("vec", units)
        if op == "pool":
            return {
                "type": draw(st.sampled_from(["GlobalAveragePooling1D", "GlobalMaxPooling1D"]))
            }, (
                "vec",
                width,
            )
        if op == "TimeDistributed":
            units = draw(st.integers(1, 4))
            inner = {"type": "Dense", "units": units, "name": name("inner")}
            return {"type": "TimeDistributed", "layer": inner}, ("seq", steps, units)
        if op == "Bidirectional":
            units, seqs = draw(st.integers(1, 3)), draw(st.booleans())
            inner = {
                "type": "LSTM",
                "units": units,
                "return_sequences": seqs,
                "name": name("inner"),
            }
            out = ("seq", steps, 2 * units) if seqs else ("vec", 2 * units)
            return {"type": "Bidirectional", "layer": inner}, out
        return {"type": op}, shape

    def named(layer: Any) -> Any:
        if isinstance(layer, dict):
            return {**layer, "name": name(layer["type"])}
        return layer

    vector_widths = sorted({shape[1] for shape in tensors.values() if shape[0] == "vec"})
    if vector_widths and draw(st.integers(0, 3)):  # a layer to call on two branches, or more
        width = draw(st.sampled_from(vector_widths))
        layers["tower"] = {"type": "Dense", "units": width, "activation": "relu"}
        shared_width["tower"] = width

    for s in range(draw(st.integers(1, 8))):
        step = f"s{s}"
        merge = draw(st.booleans())
        groups: dict[tuple, list[str]] = {}
        for t, shape in tensors.items():
            if shape[0] != "tokens":
                groups.setdefault(shape, []).append(t)
        mergeable = [g for g in groups.values() if len(g) >= 2]
        if merge and mergeable:
            group = draw(st.sampled_from(mergeable))
            srcs = draw(st.lists(st.sampled_from(group), min_size=2, max_size=3, unique=True))
            kind = draw(st.sampled_from(["Add", "Multiply", "Average", "Maximum", "Concatenate"]))
            shape = tensors[srcs[0]]
            if kind == "Concatenate":
                shape = (*shape[:-1], shape[-1] * len(srcs))
            chain: list[Any] = [named({"type": kind})]
            to: Any = srcs
        else:
            src = draw(st.sampled_from(sorted(tensors)))
            srcs, shape, chain, to = [src], tensors[src], [], src
            reusable = [n for n, w in shared_width.items() if shape == ("vec", w)]
            if reusable and draw(st.booleans()):  # a shared layer on another branch
                again = draw(st.sampled_from(reusable))
                chain, shape = [again], ("vec", layers[again]["units"])
        for _ in range(draw(st.integers(0 if chain else 1, 3))):
            layer, shape = one_layer(shape)
            chain.append(named(layer))
        graph[step] = {"apply": chain if len(chain) > 1 else chain[0], "to": to}
        tensors[step] = shape
        used.update(srcs)
    if "tower" in layers:  # called at least twice: on two branches, or twice on one
        width = shared_width["tower"]
        fits = sorted(t for t, shape in tensors.items() if shape == ("vec", width))
        calls = sum(d["apply"] == "tower" for d in graph.values())
        for k in range(max(0, 2 - calls)):
            src = draw(st.sampled_from(fits))
            graph[f"tower{k}"] = {"apply": "tower", "to": src}
            tensors[f"tower{k}"] = ("vec", layers["tower"]["units"])
            used.add(src)
    for i, inp in enumerate(list(inputs)):
        if inp not in used:  # every input feeds an output
            layer, out = one_layer(tensors[inp])
            graph[f"u{i}"] = {"apply": named(layer), "to": inp}
            tensors[f"u{i}"] = out
            used.add(inp)
    loose = [t for t in graph if t not in used]
    outputs = {f"out_{t}": {"from": t} for t in loose}
    if draw(st.booleans()) and len(graph) > len(loose):  # an output from the middle, too
        middle = draw(st.sampled_from([t for t in graph if t in used]))
        outputs[f"out_{middle}"] = {"from": middle}
    spec = {"modelspec": 1, "name": "random", "seed": draw(st.integers(0, 2**32 - 1)),
            "inputs": inputs}  # fmt: skip
    called = {
        item
        for d in graph.values()
        for item in (d["apply"] if isinstance(d["apply"], list) else [d["apply"]])
        if isinstance(item, str)
    }
    if called:
        spec["layers"] = {n: d for n, d in layers.items() if n in called}
    spec.update({"graph": graph, "outputs": outputs})
    return spec


def _independent_keras(spec: dict[str, Any]) -> Any:
    """The spec's model written straight in Keras, without modelspec's plan."""
    import keras

    def make(d: dict[str, Any], name: str | None = None) -> Any:
        kwargs = {k: v for k, v in d.items() if k not in ("type", "name")}
        if "layer" in kwargs:
            kwargs["layer"] = make(kwargs["layer"])
        return getattr(keras.layers, d["type"])(**kwargs, name=d.get("name", name))

    shared = {n: make(d, n) for n, d in spec.get("layers", {}).items()}
    tensors = {
        n: keras.Input(shape=tuple(d["shape"]), dtype=d.get("dtype", "float32"), name=n)
        for n, d in spec["inputs"].items()
    }
    inputs = list(tensors.values())
    for step, d in spec["graph"].items():
        x = [tensors[t] for t in d["to"]] if isinstance(d["to"], list) else tensors[d["to"]]
        for item in d["apply"] if isinstance(d["apply"], list) else [d["apply"]]:
            x = (shared[item] if isinstance(item, str) else make(item))(x)
        tensors[step] = x
    outputs = {o: tensors[d["from"]] for o, d in spec["outputs"].items()}
    return keras.Model(inputs=inputs, outputs=outputs, name=spec["name"])


def _exec_module(path: Path) -> Any:
    module_spec = importlib.util.spec_from_file_location(f"fuzz_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)  # type: ignore[arg-type]
    module_spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.build_model()


def _ruff(folder: Path) -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    for args in (
        ["check", "--isolated", "--no-cache"],
        ["format", "--isolated", "--no-cache", "--check"],
    ):
        proc = subprocess.run([ruff, *args, str(folder)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


@pytest.mark.keras
def test_random_valid_graphs_lint_clean_and_match_keras(tmp_path: Path):
    keras = pytest.importorskip("keras")
    import numpy as np

    import modelspec
    from modelspec.check import check_text
    from modelspec.emit.diff import diff
    from modelspec.emit.summary import summary_json
    from modelspec.importer import import_config

    modules: list[Path] = []

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(valid_graphs())
    def check(spec: dict[str, Any]) -> None:
        n = len(modules)
        path = tmp_path / f"random_{n}.json"
        path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
        loaded = modelspec.load(path)  # raises SpecError on any error
        assert loaded.result.diagnostics == [], [d.format() for d in loaded.result.diagnostics]
        summary = summary_json(loaded.result)

        keras.backend.clear_session()
        theirs = _independent_keras(spec)
        assert theirs.count_params() == summary["total_params"], json.dumps(spec)
        for layer in summary["layers"]:
            assert theirs.get_layer(layer["name"]).count_params() == layer["params"], layer
        for out, facts in summary["outputs"].items():
            assert list(theirs.output[out].shape) == facts["shape"], out

        module = tmp_path / f"random_{n}.py"
        module.write_text(loaded.to_python(), encoding="utf-8")
        modules.append(module)
        keras.backend.clear_session()
        generated = _exec_module(module)
        keras.backend.clear_session()
        direct = loaded.to_keras(compile=False)
        assert generated.count_params() == direct.count_params() == summary["total_params"]
        assert [w.shape for w in generated.get_weights()] == [w.shape for w in direct.get_weights()]
        for a, b in zip(generated.get_weights(), direct.get_weights(), strict=True):
            assert np.array_equal(a, b)  # seeded: the same initial weights

        # import(build(spec)) is the same model: Keras's config of the built model,
        # imported as data, diffs as identical but for seeds (a Keras config has the
        # seeds the spec's `seed:` derived, as explicit values on the random layers).
        imported = import_config(json.loads(direct.to_json()), file=f"random_{n}.keras.json")
        assert imported.ok, [d.format() for d in imported.diagnostics]
        again = check_text(imported.text, f"random_{n}.imported.yaml")
        assert again.ok, [d.format() for d in again.diagnostics]
        d = diff(loaded.result, again)
        assert set(d.settings) <= {"seed"} and not (d.added or d.removed), d.text()
        assert all(set(c.changes) <= {"seed"} for c in d.changed), d.text()
        assert not d.inputs and d.a.total == d.b.total, d.text()

    check()
    assert len(modules) >= 10
    _ruff(tmp_path)


# --- random broken specs -------------------------------------------------------------------

_SPECS = sorted((ROOT / "specs").glob("*.yaml"))
# Plain specs: the mutations below know plain steps, not blocks and ${...}.
_BASES = {
    p.name: yaml.safe_load(text)
    for p in _SPECS
    if not any(
        word in (text := p.read_text(encoding="utf-8")) for word in ("blocks:", "vars:", "${")
    )
}


def _references(spec: dict[str, Any]) -> list[tuple]:
    """Paths of every tensor or layer reference (`to`, `from`, `apply` items by name)."""
    found = []
    for step, d in (spec.get("graph") or {}).items():
        to = d.get("to")
        if isinstance(to, str):
            found.append(("graph", step, "to"))
        elif isinstance(to, list):
            found += [("graph", step, "to", i) for i, t in enumerate(to) if isinstance(t, str)]
        apply = d.get("apply")
        if isinstance(apply, str):
            found.append(("graph", step, "apply"))
        elif isinstance(apply, list):
            found += [
                ("graph", step, "apply", i) for i, a in enumerate(apply) if isinstance(a, str)
            ]
    for out, d in (spec.get("outputs") or {}).items():
        if isinstance(d, dict) and isinstance(d.get("from"), str):
            found.append(("outputs", out, "from"))
    for i, item in enumerate(spec.get("sequential") or []):
        if isinstance(item, str):
            found.append(("sequential", i))
    return found


def _required(spec: dict[str, Any]) -> list[tuple]:
    """Paths of keys the spec cannot do without."""
    found: list[tuple] = [("modelspec",), ("name",), ("inputs",)]
    found += [("inputs", n, "shape") for n in spec.get("inputs", {})]
    for step in spec.get("graph") or {}:
        found += [("graph", step, "apply"), ("graph", step, "to")]
    for name, layer in (spec.get("layers") or {}).items():
        found.append(("layers", name, "type"))
        if layer.get("type") in ("Dense", "LSTM", "GRU"):
            found.append(("layers", name, "units"))
    for out, d in (spec.get("outputs") or {}).items():
        if "graph" in spec and isinstance(d, dict) and "from" in d:
            found.append(("outputs", out, "from"))
    return found


def _typed(spec: dict[str, Any]) -> list[tuple]:
    """Paths of values with one JSON type (an integer, a string name, a mapping)."""
    found: list[tuple] = [("modelspec",), ("inputs",)]
    for name, layer in (spec.get("layers") or {}).items():
        found.append(("layers", name))
        found += [("layers", name, k) for k in ("units", "filters", "type", "rate") if k in layer]
    for step in spec.get("graph") or {}:
        found.append(("graph", step))
    return found


def _get(spec: Any, path: tuple) -> Any:
    for part in path:
        spec = spec[part]
    return spec


@st.composite
def broken_specs(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """``(what was done, spec)``: a spec from specs/ with one thing broken."""
    spec = copy.deepcopy(_BASES[draw(st.sampled_from(sorted(_BASES)))])
    how = draw(st.sampled_from(["delete", "retype", "rename", "cycle"]))
    if how == "cycle":
        graph = spec.get("graph")
        assume(graph and len(graph) >= 1)
        readers: dict[str, set[str]] = {}
        for step, d in graph.items():
            for src in d["to"] if isinstance(d["to"], list) else [d["to"]]:
                readers.setdefault(src, set()).add(step)
        victim = draw(st.sampled_from(sorted(graph)))
        below, todo = {victim}, [victim]
        while todo:
            for reader in readers.get(todo.pop(), ()):
                if reader not in below:
                    below.add(reader)
                    todo.append(reader)
        to = graph[victim]["to"]
        target = draw(st.sampled_from(sorted(below)))
        if isinstance(to, list):
            to[draw(st.integers(0, len(to) - 1))] = target
        else:
            graph[victim]["to"] = target
        return f"cycle through {victim} from {target}", spec
    if how == "delete":
        path = draw(st.sampled_from(_required(spec)))
        del _get(spec, path[:-1])[path[-1]]
        return f"delete {path}", spec
    if how == "rename":
        refs = _references(spec)
        assume(refs)
        path = draw(st.sampled_from(refs))
        parent = _get(spec, path[:-1])
        parent[path[-1]] = parent[path[-1]] + draw(st.sampled_from(["_", "x", "2", ".old"]))
        return f"rename {path}", spec
    path = draw(st.sampled_from(_typed(spec)))
    value = _get(spec, path)
    wrong = draw(
        st.sampled_from(
            [v for v in ([1], "1", 1.5, True, None, {"a": 1}) if type(v) is not type(value)]
        )
    )
    _get(spec, path[:-1])[path[-1]] = wrong
    return f"retype {path} to {wrong!r}", spec


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_specs(), st.sampled_from(["yaml", "json"]))
def test_a_broken_spec_gives_an_error_with_a_position(broken: tuple[str, dict], fmt: str):
    what, spec = broken
    if fmt == "json":
        text = json.dumps(spec, indent=1)
    else:
        text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    result = check_text(text, f"broken.{fmt}")  # never raises
    assert result.errors, f"{what}: no error\n{text[:2000]}"
    lines = text.splitlines()
    for d in result.diagnostics:
        assert 1 <= d.line <= max(1, len(lines)), (what, d.format())
        assert 1 <= d.col <= len(lines[d.line - 1]) + 1 if lines else d.col == 1, (what, d.format())


# --- the pieces ----------------------------------------------------------------------------


def _on_a_cycle(graph: dict[str, set[str]]) -> set[str]:
    """Brute force: the nodes that reach themselves."""
    found = set()
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            node = todo.pop()
            if node == start:
                found.add(start)
                break
            if node not in seen:
                seen.add(node)
                todo += graph[node]
    return found


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 12).flatmap(
        lambda n: st.dictionaries(
            st.sampled_from([f"n{i}" for i in range(n)]),
            st.sets(st.sampled_from([f"n{i}" for i in range(n)]), max_size=3),
            min_size=1,
        )
    )
)
def test_cyclic_components_are_the_nodes_on_a_cycle(graph: dict[str, set[str]]):
    graph = {k: {d for d in v if d in graph} for k, v in graph.items()}
    components = _cyclic_components(graph)
    members = [n for c in components for n in c]
    assert len(members) == len(set(members))
    assert set(members) == _on_a_cycle(graph)
    for component in components:  # each one is strongly connected
        for node in component:
            reach, todo = set(), [node]
            while todo:
                for d in graph[todo.pop()]:
                    if d not in reach:
                        reach.add(d)
                        todo.append(d)
            assert set(component) <= reach


_NEAR = [f"layer_{n:05d}" for n in range(3_000)]


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(_NEAR), st.sampled_from("x_0.Lq"), st.sampled_from(["end", "start", "middle"])
)
def test_did_you_mean_among_thousands_of_near_duplicates(wanted: str, typo: str, where: str):
    """3,000 names alike (the search looks at 200): a typo at either end of a name
    still gets a suggestion as close as the unbounded search's best."""
    import difflib

    at = {"end": len(wanted) - 1, "start": 0, "middle": 5}[where]
    name = wanted[:at] + typo + wanted[at + 1 :]
    assume(name not in _NEAR)
    hint = did_you_mean(name, _NEAR)
    best = max(difflib.SequenceMatcher(None, name, c).ratio() for c in _NEAR)
    if where == "middle":  # best effort: some suggestion, or none
        return
    assert hint is not None
    suggested = hint.removeprefix("did you mean '").removesuffix("'?")
    assert difflib.SequenceMatcher(None, name, suggested).ratio() == best
