"""Custom layer types (``custom:``), initializer objects and ``keras.ops`` calls as layers.

A custom layer's module is imported only when the project allows it; an audit hook
proves lint never imports one that is not allowed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modelspec.catalog import custom
from modelspec.check import check_text
from modelspec.importer import import_config
from modelspec.source.project import Project
from tests.test_import import entry, functional, input_entry, mlp, node, tensor

LAYERS = textwrap.dedent(
    """
    import keras

    class Scale(keras.layers.Layer):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    def scale_shape(kwargs, shapes):
        return shapes[0]

    def broken_shape(kwargs, shapes):
        raise RuntimeError("no")

    from os.path import join as imported_function

    class Tower(keras.Model):
        pass

    def factory(**kwargs):
        open("PWNED-factory", "w").close()
        return Scale()

    class Recorded(Scale):
        def __init__(self, **kwargs):
            open("PWNED-created", "w").close()
            super().__init__(**kwargs)

    instance = Scale()
    """
)


def spec(entry_: str, layer: str = "{type: Scale, factor: 2.0}") -> str:
    return (f"modelspec: 1\nname: m\ncustom:\n  Scale: {entry_}\ninputs:\n  x: {{shape: [8]}}\n"
            f"sequential:\n  - {{type: Dense, units: 4}}\n  - {layer}\n  - {{type: Dense, units: 2}}\n")  # fmt: skip


@pytest.fixture
def mylayers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    name = f"mylayers_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(LAYERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)  # where a class that was created would leave its PWNED file
    return Project(tmp_path, allow_modules=(name,), ask_keras=True), name


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def test_ms321_a_module_that_is_not_allowed_is_never_imported(tmp_path: Path):
    """Under an audit hook: lint of a spec naming a module imports nothing of it."""
    (tmp_path / "evil_layers.py").write_text("open('PWNED', 'w').write('x')\n")
    (tmp_path / "s.yaml").write_text(spec("{class: evil_layers.Scale, shape: evil_layers.f}"))
    script = textwrap.dedent(
        f"""
        import sys
        seen = []
        sys.addaudithook(lambda event, args: seen.append(args[0]) if event == "import" else None)
        sys.path.insert(0, {str(tmp_path)!r})
        from modelspec.check import check
        result = check({str(tmp_path / "s.yaml")!r})
        print(sorted(d.code for d in result.diagnostics))
        print([m for m in seen if "evil" in str(m)])
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    found, imported = proc.stdout.splitlines()
    assert found == "['MS321', 'MS323']"
    assert imported == "[]" and not (tmp_path / "PWNED").exists()


def test_lint_asks_keras_only_when_told(mylayers, tmp_path):
    """Without --ask-keras, lint never creates the class with the spec's kwargs: its
    shapes are unchecked (MS320) and nothing of the class runs."""
    project, name = mylayers
    quiet = Project(project.root, allow_modules=project.allow_modules)
    result = check_text(spec(f"{{class: {name}.Recorded}}", "{type: Scale}"), project=quiet)
    assert (
        codes(result) == ["MS320"]
        and "lint asks Keras only with --ask-keras" in result.diagnostics[0].message
    )
    assert "--ask-keras" in result.diagnostics[0].hint
    assert not (tmp_path / "PWNED-created").exists()


def test_allowed_module_with_declared_rules_needs_no_keras(mylayers, monkeypatch):
    project, name = mylayers
    monkeypatch.setattr(custom, "keras_available", lambda: False)
    result = check_text(spec(f"{{class: {name}.Scale, shape: same, params: 4}}"), project=project)
    assert result.ok and codes(result) == []
    assert result.shapes.params["scale"] == (4, 0)
    assert result.shapes.tensors["dense_1"] == (None, 2)
    result = check_text(
        spec(f"{{class: {name}.Scale, shape: {name}.scale_shape}}"), project=project
    )
    assert codes(result) == ["MS320"]  # parameters unknown without Keras
    assert "scale" in result.shapes.unknown_params
    result = check_text(spec(f"{{class: {name}.Scale}}"), project=project)
    assert codes(result) == ["MS320"] and "shapes are unchecked" in result.diagnostics[0].message
    assert "dense_1" not in result.shapes.tensors


def test_ms322_ms323_ms324_ms305(mylayers):
    project, name = mylayers
    dense = spec(f"{{class: {name}.Dense}}", "{type: Dense, units: 1}").replace("Scale:", "Dense:")
    assert codes(check_text(dense, project=project)) == ["MS322"]
    assert "MS323" in codes(
        check_text(spec(f"{{class: {name}.Scale, shape: other.f}}"), project=project)
    )
    result = check_text(
        spec(f"{{class: {name}.Scale, shape: {name}.broken_shape}}"), project=project
    )
    assert "MS324" in codes(result) and "RuntimeError: no" in result.errors[0].message
    result = check_text(spec(f"{{class: {name}.Scale, inputs: 2, shape: same}}"), project=project)
    assert "MS305" in codes(result)


@pytest.mark.parametrize(
    "rule, problem",
    [
        ("imported_function", "is a function imported from 'posixpath'"),
        ("Scale", "is a type, not a function defined in module"),
        ("instance", "is a Scale, not a function"),
        ("missing", "is nothing, not a function"),
    ],
)
def test_ms323_a_shape_rule_is_a_function_of_its_module(mylayers, rule, problem):
    project, name = mylayers
    result = check_text(spec(f"{{class: {name}.Scale, shape: {name}.{rule}, params: 4}}"),
                        project=project)  # fmt: skip
    assert codes(result) == ["MS323"] and problem in result.errors[0].message


def test_ms325_a_class_path_with_a_keyword(mylayers):
    """`mypkg.class.Scale` cannot be imported, nor written in the generated module."""
    project, name = mylayers
    result = check_text(spec("{class: mypkg.class.Scale, shape: same, params: 4}"), project=project)
    assert codes(result) == ["MS325"] and "'class' is a Python keyword" in result.errors[0].message
    result = check_text(spec(f"{{class: {name}.Scale, shape: {name}.import.f}}"), project=project)
    assert codes(result) == ["MS325"]


@pytest.mark.keras
@pytest.mark.parametrize(
    "cls, problem",
    [
        ("factory", "it is a function, not a class"),
        ("scale_shape", "it is a function, not a class"),
        ("instance", "it is a Scale, not a class"),
        ("Tower", "it is a keras.Model"),
        ("imported_function", "it is a function, not a class"),
        ("Project", "module '{name}' has no attribute 'Project'"),
    ],
)
def test_ms326_only_layer_classes_are_ever_called(mylayers, tmp_path, cls, problem):
    """Functions and model factories in an allowed module are refused before anything
    calls them: in lint (asking Keras), in the direct build and in equiv."""
    from modelspec.api import SpecModel
    from modelspec.errors import SpecError
    from modelspec.lower.plan import plan
    from modelspec.runtime.equiv import compare

    project, name = mylayers
    problem = problem.format(name=name)
    result = check_text(spec(f"{{class: {name}.{cls}}}", "{type: Scale}"), project=project)
    assert codes(result) == ["MS326"] and problem in result.errors[0].message
    quiet = Project(project.root, allow_modules=project.allow_modules)  # without --ask-keras
    declared = check_text(spec(f"{{class: {name}.{cls}, shape: same, params: 4}}", "{type: Scale}"),
                          project=quiet)  # fmt: skip
    assert declared.ok  # lint imports nothing when the spec declares the rules...
    model = SpecModel(declared, plan(declared))
    for build in (lambda: model.to_keras(), lambda: compare(model, steps=1)):
        with pytest.raises(SpecError) as caught:  # ...the builds check before they call
            build()
        assert [d.code for d in caught.value.diagnostics] == ["MS326"]
    assert not list(tmp_path.glob("PWNED*"))


@pytest.mark.keras
def test_keras_is_asked_and_the_build_imports_the_class(mylayers):
    project, name = mylayers
    from modelspec.api import SpecModel
    from modelspec.emit.keras_py import render
    from modelspec.lower.plan import plan

    result = check_text(
        spec(f"{{class: {name}.Scale}}", "{type: Scale, factor: 2.0}"), project=project
    )
    assert result.ok and result.shapes.params["scale"] == (4, 0)
    assert result.shapes.tensors["scale"] == (None, 4)
    bad = check_text(spec(f"{{class: {name}.Scale}}", "{type: Scale, factr: 2.0}"), project=project)
    assert codes(bad) == ["MS324"]
    built = plan(result)
    text = render(built, "sequential")
    assert f"import {name}\n" in text and f'{name}.Scale(factor=2.0, name="scale")' in text
    model = SpecModel(result, built).to_keras(compile=False)
    assert model.get_layer("scale").factor == 2.0 and model.count_params() == 36 + 4 + 10


def test_custom_layers_are_imported_as_data():
    config = mlp()
    config["config"]["layers"][1] = entry("Scale", "fc", node(tensor("x", shape=[None, 8])),
                                          module="mypkg.layers", factor=2.0)  # fmt: skip
    config["config"]["layers"][2]["inbound_nodes"] = [node(tensor("fc", shape=[None, 8]))]
    result = import_config(config)
    assert result.doc["custom"] == {"Scale": {"class": "mypkg.layers.Scale", "shape": "same"}}
    assert result.doc["sequential"][0] == {"type": "Scale", "factor": 2.0, "name": "fc"}
    config["config"]["layers"][1]["config"]["init"] = {"class_name": "Ones", "config": {}}
    assert [d.code for d in import_config(config).errors] == ["MS630"]


def test_ms631_custom_class_with_two_arities():
    layers = [input_entry("a", [3]), input_entry("b", [3]),
              entry("Join", "j1", node(tensor("a")), module="mypkg"),
              entry("Join", "j2", node(tensor("j1"), tensor("b")), module="mypkg")]  # fmt: skip
    result = import_config(functional(layers, [["a", 0, 0], ["b", 0, 0]], ["j2", 0, 0]))
    assert [d.code for d in result.errors] == ["MS631"]


def test_initializer_objects_are_checked_and_seeded():
    from modelspec.lower.plan import plan

    text = ("modelspec: 1\nname: m\nseed: 3\ninputs:\n  x: {shape: [8]}\nsequential:\n"
            "  - {type: Dense, units: 4, kernel_initializer: {type: VarianceScaling, scale: 2.0, "
            "mode: fan_out}}\n")  # fmt: skip
    result = check_text(text)
    assert result.ok
    ctor = dict(plan(result).layers["dense"].ctor.kwargs)["kernel_initializer"]
    assert (ctor.namespace, ctor.cls) == ("initializers", "VarianceScaling")
    assert dict(ctor.kwargs) == {"scale": 2.0, "mode": "fan_out", "seed": dict(ctor.kwargs)["seed"]}
    bad = check_text(
        text.replace("mode: fan_out", "seed: 1").replace("VarianceScaling", "VarianceScaling")
    )
    assert codes(bad) == ["MS102"]
    typo = check_text(text.replace("type: VarianceScaling", "type: VarianceScalin"))
    assert (
        codes(typo) == ["MS105"]
        and typo.errors[0].message == "unknown initializer type 'VarianceScalin'"
    )


def test_arithmetic_ops_become_layers():
    def op(cls: str, *args) -> dict:
        return entry(
            cls, cls.lower(), {"args": list(args), "kwargs": {}}, module="keras.src.ops.numpy"
        )

    x = tensor("x", shape=[None, 8])
    layers = [input_entry("x", [8]), op("Add", x, 3.0),
              op("Multiply", tensor("add", shape=[None, 8]), 1 / 6),
              op("Subtract", 1.0, tensor("multiply", shape=[None, 8]))]  # fmt: skip
    result = import_config(functional(layers, ["x", 0, 0], ["subtract", 0, 0]))
    assert result.doc["sequential"] == [
        {"type": "Rescaling", "scale": 1.0, "offset": 3.0, "name": "add"},
        {"type": "Rescaling", "scale": 1 / 6, "name": "multiply"},
        {"type": "Rescaling", "scale": -1.0, "offset": 1.0, "name": "subtract"},
    ]


@pytest.mark.keras
def test_ops_as_layers_give_the_same_outputs():
    import keras

    from tests.test_import import assert_imports

    keras.backend.clear_session()
    x = keras.Input(shape=(8,), name="x")
    h = keras.layers.Dense(8, name="fc")(x)
    y = keras.layers.ReLU(6.0)(h + 3.0) * (1.0 / 6.0)
    z = keras.layers.Dense(2, name="out")(h * y - 0.5)
    checked = assert_imports(keras.Model(x, z))
    assert checked.doc.data["layers"]["multiply_1"] == {"type": "Multiply"}


@pytest.mark.keras
def test_a_custom_layer_inside_a_nested_model(mylayers, tmp_path):
    """The nested model's layers are built like the top level's: the generated module
    imports the custom class, and it gives the model that direct building gives."""
    import numpy as np

    from modelspec.api import SpecModel
    from modelspec.emit.keras_py import render
    from modelspec.lower.plan import plan

    project, name = mylayers
    text = (
        f"modelspec: 1\nname: m\ncustom:\n  Scale: {{class: {name}.Scale, shape: same, params: 8}}\n"
        "inputs:\n  x: {shape: [8]}\n"
        "blocks:\n  tower:\n    model: true\n    inputs: [t]\n    outputs: [out]\n"
        "    graph:\n      out: {apply: [{type: Scale, factor: 3.0}, {type: Dense, units: 2}], to: t}\n"
        "graph:\n  a: {block: tower, to: x}\noutputs:\n  y: {from: a}\n"
    )
    result = check_text(text, project=project)
    assert result.ok, result.diagnostics
    built = plan(result)
    source = render(built, "functional")
    assert f"import {name}\n" in source and f"{name}.Scale(factor=3.0" in source
    namespace: dict = {}
    exec(compile(source, str(tmp_path / "m.py"), "exec"), namespace)
    generated = namespace["build_model"]()
    direct = SpecModel(result, built).to_keras(compile=False)
    assert generated.count_params() == direct.count_params() == 8 + 18
    assert [type(layer).__name__ for layer in generated.layers] == ["InputLayer", "Sequential"]
    generated.set_weights(direct.get_weights())
    x = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    np.testing.assert_allclose(generated(x), direct(x), atol=1e-6)


@pytest.mark.keras
def test_a_nested_model_holding_a_custom_layer_imports(mylayers):
    """A nested Sequential with a custom layer in it: the block keeps the layer, the
    spec declares its class, and the model built from the spec is Keras's."""
    import importlib
    import json

    import keras
    import numpy as np

    from modelspec.api import SpecModel
    from modelspec.importer import check_imported
    from modelspec.lower.plan import plan

    project, name = mylayers
    Scale = importlib.import_module(name).Scale
    inner = keras.Sequential(
        [keras.Input((8,)), Scale(factor=2.0, name="scale"), keras.layers.Dense(3, name="fc")],
        name="tower",
    )
    x = keras.Input((8,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, name="head")(inner(x)), name="m")
    imported = import_config(json.loads(model.to_json()))
    assert imported.ok, imported.diagnostics
    assert f"class: {name}.Scale" in imported.text and "model: true" in imported.text
    assert check_imported(imported, "m.yaml", project) == []
    result = check_text(imported.text, "m.yaml", project=project)
    rebuilt = SpecModel(result, plan(result)).to_keras(compile=False)
    assert rebuilt.count_params() == model.count_params()
    for layer in model.layers:
        if layer.weights:
            rebuilt.get_layer(layer.name).set_weights(layer.get_weights())
    data = np.random.default_rng(1).normal(size=(4, 8)).astype("float32")
    np.testing.assert_allclose(rebuilt(data), model(data), atol=1e-5)


@pytest.mark.keras
def test_an_imported_config_naming_a_function_is_refused_like_a_spec(mylayers, tmp_path):
    """A Keras config whose "layer" is a function of an allowed module (a model factory,
    say): the import is data, and the class check refuses it before anything calls it."""
    from modelspec.importer import check_imported

    project, name = mylayers
    config = mlp()
    config["config"]["layers"][1] = entry("factory", "fc", node(tensor("x", shape=[None, 8])),
                                          module=name, path="/etc/passwd")  # fmt: skip
    config["config"]["layers"][2]["inbound_nodes"] = [node(tensor("fc", shape=[None, 8]))]
    imported = import_config(config)
    assert imported.ok and f"class: {name}.factory" in imported.text
    problems = check_imported(imported, "m.yaml", project)
    assert [d.code for d in problems][:1] == ["MS326"], problems
    assert "it is a function, not a class" in problems[0].message
    assert not list(tmp_path.glob("PWNED*"))
