"""``modelspec import`` of ``keras.ops`` calls: op steps, and what stays an error.

Without Keras: configs written by hand in the form Keras writes them (probed against
Keras 3: an op is a ``config.layers`` entry of module ``keras.src.ops.<module>``, its
config its keywords and ``name``, one inbound node holding its ``args``), one per
operand kind, keyword rule, constant form and subscript form, and each error at its
config path.

With Keras: every op of the catalogue called through ``keras.ops`` and imported
(:data:`CASES`, one per op), Python's operators on Keras tensors, the ops Keras records
for masks, and the ops written as layers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelspec.catalog.ops import OPS, REFUSED
from modelspec.catalog.subscript import format_index, parse_index
from modelspec.importer import ImportResult, import_config

F32 = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
       "registered_name": None}  # fmt: skip


def tensor(layer: str, shape: list | None = None, dtype: str = "float32", index: int = 0) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": dtype, "keras_history": [layer, 0, index]}}  # fmt: skip


def input_entry(name: str, shape: list, dtype: str = "float32") -> dict:
    return {"module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": [None, *shape], "dtype": dtype, "sparse": False,
                       "ragged": False, "name": name, "optional": False},
            "registered_name": None, "name": name, "inbound_nodes": []}  # fmt: skip


def op(cls: str, name: str, *args: Any, module: str = "numpy", **config: Any) -> dict:
    """An op's entry as Keras writes it: ``keras.ops.subtract(x, 1.0)`` is
    ``op("Subtract", "subtract", tensor("x"), 1.0)``."""
    return {"module": f"keras.src.ops.{module}", "class_name": cls,
            "config": {"name": name, **config}, "registered_name": cls, "name": name,
            "inbound_nodes": [{"args": list(args), "kwargs": {}}]}  # fmt: skip


def dense(name: str, units: int, source: str) -> dict:
    return {"module": "keras.layers", "class_name": "Dense",
            "config": {"name": name, "trainable": True, "dtype": F32, "units": units,
                       "activation": "linear", "use_bias": True},
            "registered_name": None, "name": name,
            "inbound_nodes": [{"args": [tensor(source)], "kwargs": {}}]}  # fmt: skip


def model(*layers: dict, inputs: Any = None, outputs: Any = None) -> dict:
    """A Functional config; by default its inputs are its InputLayers and its output the
    last layer's."""
    ins = inputs or [[e["name"], 0, 0] for e in layers if e["class_name"] == "InputLayer"]
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {"name": "m", "trainable": True, "layers": list(layers),
                       "input_layers": ins, "output_layers": outputs or [layers[-1]["name"], 0, 0]},
            "registered_name": "Functional"}  # fmt: skip


X = input_entry("x", [3, 4])


def imported(config: dict) -> ImportResult:
    result = import_config(config, file="m.json")
    assert result.ok, [d.format() for d in result.diagnostics]
    return result


def steps(config: dict) -> dict[str, Any]:
    return imported(config).doc["graph"]


def graph_text(result: ImportResult) -> str:
    """The ``graph:`` section of the written spec."""
    text = result.text or ""
    return text[text.index("graph:\n") : text.index("outputs:\n")]


def only(result: ImportResult, code: str):
    assert not result.ok and result.text is None
    assert [d.code for d in result.errors] == [code], [d.format() for d in result.diagnostics]
    return result.errors[0]


# --- one operand kind each ----------------------------------------------------------------


def test_two_operands_a_tensor_and_a_number_in_either_order():
    """On an int tensor: a float32 one with a number is a Rescaling layer (see
    test_arithmetic_a_layer_computes_exactly_is_still_that_layer)."""
    ids = tensor("ids", dtype="int32")
    config = model(
        X, input_entry("ids", [5], "int32"),
        op("Subtract", "subtract", ids, 3.0),
        op("Multiply", "multiply", 2, ids),
        op("Divide", "divide", tensor("x"), 3.0),
        outputs=[["subtract", 0, 0], ["multiply", 0, 0], ["divide", 0, 0]],
    )  # fmt: skip
    result = imported(config)
    assert result.form == "graph" and "layers" not in result.doc
    assert graph_text(result) == (
        "graph:\n"
        "  subtract: {op: subtract, to: [ids, 3.0]}\n"
        "  multiply: {op: multiply, to: [2, ids]}\n"
        "  divide:   {op: divide, to: [x, 3.0]}\n"
    )


def test_one_operand_and_keywords_at_their_defaults_left_out():
    config = model(
        X,
        op("Sum", "sum", tensor("x"), axis=-1, keepdims=False),
        op("Softmax", "softmax", tensor("sum"), module="nn", axis=-1),
        op("Sqrt", "sqrt", tensor("softmax")),
    )  # fmt: skip
    assert steps(config) == {
        "sum": {"op": "sum", "to": "x", "axis": -1},
        "softmax": {"op": "softmax", "to": "sum"},
        "sqrt": {"op": "sqrt", "to": "softmax"},
    }


def test_a_list_of_tensors():
    config = model(
        X, input_entry("y", [3, 4]),
        op("Concatenate", "concatenate", [tensor("x"), tensor("y"), tensor("x")], axis=-1),
        op("Stack", "stack", [tensor("concatenate")], axis=0),
    )  # fmt: skip
    assert steps(config) == {
        "concatenate": {"op": "concatenate", "to": ["x", "y", "x"], "axis": -1},
        "stack": {"op": "stack", "to": ["concatenate"]},
    }


SLICE = {"class_name": "__slice__", "config": {"start": None, "stop": None, "step": None}}
DOTS = {"class_name": "__ellipsis__", "config": {}}


def span(start: int | None, stop: int | None, step: int | None = None) -> dict:
    return {"class_name": "__slice__", "config": {"start": start, "stop": stop, "step": step}}


@pytest.mark.parametrize(
    ("key", "index"),
    [
        ([SLICE, -1], "[:, -1]"),
        (0, "[0]"),
        ([0], "[0]"),
        ([DOTS, span(1, 3), None], "[..., 1:3, None]"),
        ([SLICE, span(None, None, 2), span(-2, None)], "[:, ::2, -2:]"),
        (span(1, None), "[1:]"),
        ([DOTS, 0], "[..., 0]"),
        (None, "[None]"),
    ],
)
def test_get_item_writes_the_subscript_as_python_writes_it(key: Any, index: str):
    config = model(X, op("GetItem", "get_item", tensor("x"), key))
    step = steps(config)["get_item"]
    assert step == {"op": "get_item", "to": "x", "index": index}
    # What the spec's text reads back is the key Keras called GetItem with (a list as
    # the tuple GetItem.call makes of it).
    want = tuple(key) if isinstance(key, list) else (key,)
    want = tuple(
        Ellipsis if k == DOTS else slice(*k["config"].values()) if isinstance(k, dict) else k
        for k in want
    )
    assert parse_index(index) == want and f"[{format_index(want)}]" == index


def test_the_subscript_is_quoted_in_the_text():
    result = imported(model(X, op("GetItem", "get_item", tensor("x"), [SLICE, -1])))
    assert 'get_item: {op: get_item, to: x, index: "[:, -1]"}' in graph_text(result)


# --- constants ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (0.5, 0.5),
        (2, 2),
        ({"class_name": "__tensor__", "config": {"value": 2.0, "dtype": "float32"}}, 2.0),
        ({"class_name": "__numpy__", "config": {"value": 3, "dtype": "int64"}}, 3),
        ({"class_name": "__numpy__", "config": {"value": 3.0, "dtype": "float64"}}, 3.0),
    ],
)
def test_a_scalar_constant_is_a_number(value: Any, written: Any):
    config = model(X, op("Power", "power", tensor("x"), value))
    step = steps(config)["power"]
    assert step == {"op": "power", "to": ["x", written]}
    assert type(step["to"][1]) is type(written)  # an int stays an int: int32 ** 2 is int32


@pytest.mark.parametrize(
    ("value", "shown", "hint"),
    [
        ({"class_name": "__numpy__", "config": {"value": [1.0, 2.5], "dtype": "float64"}},
         "a constant array of shape (2,)", "compute the array from the inputs"),
        ({"class_name": "__tensor__", "config": {"value": [0.0, 1.0, 2.0, 3.0],
                                                 "dtype": "float32"}},
         "a constant array of shape (4,)", REFUSED["arange"]),
        ({"class_name": "__tensor__", "config": {"value": [[1.0], [2.0]], "dtype": "float32"}},
         "a constant array of shape (2, 1)", "compute the array from the inputs"),
        (True, "the boolean constant True", "1 for True"),
        ({"class_name": "__tensor__", "config": {"value": False, "dtype": "bool"}},
         "the boolean constant False", "0 for False"),
    ],
)  # fmt: skip
def test_ms612_constants_that_are_not_numbers(value: Any, shown: str, hint: str):
    config = model(X, op("Add", "add", tensor("x"), value))
    d = only(import_config(config, file="m.json"), "MS612")
    assert d.message == (
        f"op 'add' (`keras.ops.add`) takes {shown} as an operand; modelspec ops take numbers "
        "as constant operands"
    )
    assert hint in d.hint
    assert d.json_path == "$.config.layers[1].inbound_nodes[0].args[1]"


def test_ms612_matmul_takes_two_tensors():
    config = model(X, op("Matmul", "matmul", tensor("x"), 2.0))
    d = only(import_config(config), "MS612")
    assert d.message == "op 'matmul' (`keras.ops.matmul`) takes 2.0 where it takes a tensor"
    assert d.json_path == "$.config.layers[1].inbound_nodes[0].args[1]"


def test_ms612_a_subscript_of_a_tensor():
    key = [SLICE, tensor("x", [], "int32")]
    config = model(X, op("GetItem", "get_item", tensor("x"), key))
    d = only(import_config(config), "MS612")
    assert d.message.startswith("op 'get_item' (`keras.ops.get_item`) has the subscript [")
    assert "a spec's subscripts hold integers, slices, `...` and `None`" in d.message
    assert d.json_path == "$.config.layers[1].inbound_nodes[0].args[1]"


# --- keywords -------------------------------------------------------------------------------


def test_what_keras_writes_for_max_and_min_is_left_out():
    config = model(X, op("Max", "max", tensor("x"), axis=1, keepdims=False, initial=None))
    assert steps(config) == {"max": {"op": "max", "to": "x", "axis": 1}}


def test_ms614_a_keyword_the_catalogue_does_not_take():
    config = model(X, op("Max", "max", tensor("x"), axis=1, keepdims=False, initial=0.0))
    d = only(import_config(config, file="m.json"), "MS614")
    assert d.message == (
        "op 'max' (`keras.ops.max`) sets `initial: 0.0`, which the catalogue's op `max` "
        "does not take"
    )
    assert d.hint == "`max` takes: axis, keepdims"
    assert d.json_path == "$.config.layers[1].config.initial"
    config = model(X, op("Softmax", "softmax", tensor("x"), module="nn", axes=-1))
    assert only(import_config(config), "MS614").hint == "did you mean 'axis'?"


def test_keywords_follow_the_catalogue_order():
    config = model(X, op("Norm", "norm", tensor("x"), module="linalg", keepdims=True, axis=-1,
                         ord=1))  # fmt: skip
    assert list(steps(config)["norm"]) == ["op", "to", "ord", "axis", "keepdims"]


# --- ops outside the set ----------------------------------------------------------------------


def test_ms612_an_op_outside_the_set_names_it():
    config = model(X, op("Einsum", "einsum", tensor("x"), tensor("x"), subscripts="bij,bij->b"))
    d = only(import_config(config, file="m.json"), "MS612")
    assert d.format() == (
        "m.json:1:1: error MS612: 'einsum' is a call of keras.ops `Einsum`, which is not one "
        "of the ops a spec may call"
    )
    assert (
        d.hint.startswith("a spec's ops are abs, add, argmax,") and "more (docs/spec.md" in d.hint
    )
    assert d.json_path == "$.config.layers[1]"


@pytest.mark.parametrize(
    ("cls", "module", "hint"),
    [
        ("Relu6", "nn", "did you mean 'relu'?"),
        ("Log1p", "numpy", "did you mean 'log'?"),
        ("Arange", "numpy", REFUSED["arange"]),
        ("Normal", "random", REFUSED["random.normal"]),
    ],
)
def test_ms612_says_what_to_write_instead(cls: str, module: str, hint: str):
    config = model(X, op(cls, "it", tensor("x"), module=module))
    d = only(import_config(config), "MS612")
    assert d.hint == hint


def test_true_divide_is_divide():
    """``x / y`` records ``TrueDivide``, which each backend computes by calling ``divide``."""
    config = model(X, op("TrueDivide", "true_divide", tensor("x"), 3.0))
    assert steps(config) == {"true_divide": {"op": "divide", "to": ["x", 3.0]}}


def test_an_op_class_under_another_module_is_not_the_op():
    config = model(X, op("Sum", "sum", tensor("x"), module="math"))
    assert "`Sum`, which is not one of the ops" in only(import_config(config), "MS612").message


# --- steps and names --------------------------------------------------------------------------


def test_an_op_step_never_joins_a_chain():
    config = model(
        X, dense("fc1", 4, "x"), op("Tanh", "tanh", tensor("fc1")), dense("fc2", 2, "tanh"),
        dense("fc3", 2, "fc2"),
    )  # fmt: skip
    result = imported(config)
    assert result.form == "graph"  # a chain, but with an op: never `sequential:`
    assert result.doc["graph"] == {
        "fc1": {"apply": "fc1", "to": "x"},
        "tanh": {"op": "tanh", "to": "fc1"},
        "fc3": {"apply": ["fc2", "fc3"], "to": "tanh"},
    }
    assert list(result.doc["layers"]) == ["fc1", "fc2", "fc3"]


def test_steps_are_named_as_keras_named_the_ops():
    config = model(
        input_entry("ids", [5], "int32"),
        op("Absolute", "absolute_3", tensor("ids", dtype="int32")),
        op("Negative", "negative", tensor("absolute_3", dtype="int32")),
        op("Subtract", "subtract_1", tensor("negative", dtype="int32"), 1),
    )  # fmt: skip
    assert steps(config) == {
        "absolute_3": {"op": "abs", "to": "ids"},
        "negative": {"op": "negative", "to": "absolute_3"},
        "subtract_1": {"op": "subtract", "to": ["negative", 1]},
    }


def test_an_op_on_one_of_several_outputs_reads_it_by_index():
    lstm = {"module": "keras.layers", "class_name": "LSTM",
            "config": {"name": "enc", "trainable": True, "dtype": F32, "units": 4,
                       "return_state": True},
            "registered_name": None, "name": "enc",
            "inbound_nodes": [{"args": [tensor("x")], "kwargs": {}}]}  # fmt: skip
    config = model(X, lstm, op("Add", "add", tensor("enc", index=1), tensor("enc", index=2)),
                   outputs=[["add", 0, 0], ["enc", 0, 0]])  # fmt: skip
    assert steps(config)["add"] == {"op": "add", "to": ["enc[1]", "enc[2]"]}


def test_ms605_an_op_name_a_spec_cannot_use():
    config = model(X, op("Sqrt", "sq rt", tensor("x")))
    assert (
        "op name 'sq rt' is not a valid spec name" in only(import_config(config), "MS605").message
    )


# --- ops as layers, and masks: as before ---------------------------------------------------------


def test_arithmetic_a_layer_computes_exactly_is_still_that_layer():
    config = model(
        X, input_entry("y", [3, 4]),
        op("Add", "add", tensor("x", [None, 3, 4]), 3.0),
        op("Multiply", "multiply", tensor("add", [None, 3, 4]), tensor("y", [None, 3, 4])),
    )  # fmt: skip
    doc = imported(config).doc
    assert doc["layers"] == {"add": {"type": "Rescaling", "scale": 1.0, "offset": 3.0},
                             "multiply": {"type": "Multiply"}}  # fmt: skip


def test_an_op_as_a_layer_named_as_the_spec_names_its_ops_is_an_op_step():
    """A spec builds ``{op: multiply}`` as Keras's ``multiply``: ``x * 0.5`` written as a
    Rescaling named ``multiply_1`` could clash with it, so it is an op step too."""
    config = model(
        X, input_entry("col", [3, 1]),
        op("Multiply", "multiply", tensor("x", [None, 3, 4]), tensor("col", [None, 3, 1])),
        op("Multiply", "multiply_1", tensor("multiply", [None, 3, 4]), 0.5),
        op("Add", "add", tensor("multiply_1", [None, 3, 4]), 1.0),
    )  # fmt: skip
    doc = imported(config).doc
    assert doc["graph"] == {
        "multiply": {"op": "multiply", "to": ["x", "col"]},
        "multiply_1": {"op": "multiply", "to": ["multiply", 0.5]},
        "add": {"apply": "add", "to": "multiply_1"},  # no `add` op: still a Rescaling
    }
    assert doc["layers"] == {"add": {"type": "Rescaling", "scale": 1.0, "offset": 1.0}}


def test_ms605_a_layer_named_as_keras_names_the_spec_s_ops():
    """Keras names each op step's operation when the spec is built (``multiply``,
    ``multiply_1``, ...), so a layer or input may not have one of those names."""
    config = model(
        X, input_entry("col", [3, 1]), dense("multiply_1", 4, "x"),
        op("Multiply", "multiply", tensor("multiply_1", [None, 3, 4]), tensor("col", [None, 3, 1])),
    )  # fmt: skip
    d = only(import_config(config), "MS605")
    assert d.message == (
        "layer name 'multiply_1' is one Keras gives to the model's `multiply` ops (multiply, "
        "multiply_1, ...), which a spec builds under Keras's names"
    )
    assert d.hint == "rename the layer in Keras and save the model again"
    assert d.json_path == "$.config.layers[2].name"


def test_mask_ops_are_still_left_out_even_those_of_the_set():
    """A merge of masked tensors makes Keras record ExpandDims and Concatenate (ops of
    the set) and All for the mask: left out, as the spec propagates masks."""
    emb = {"module": "keras.layers", "class_name": "Embedding",
           "config": {"name": "emb", "trainable": True, "dtype": F32, "input_dim": 10,
                      "output_dim": 4, "mask_zero": True},
           "registered_name": None, "name": "emb",
           "inbound_nodes": [{"args": [tensor("ids", dtype="int32")], "kwargs": {}}]}  # fmt: skip
    gru = {"module": "keras.layers", "class_name": "GRU",
           "config": {"name": "rnn", "trainable": True, "dtype": F32, "units": 3},
           "registered_name": None, "name": "rnn",
           "inbound_nodes": [{"args": [tensor("emb")], "kwargs": {"mask": tensor("all")}}]}  # fmt: skip
    config = model(
        input_entry("ids", [5], "int32"), emb,
        op("NotEqual", "not_equal", tensor("ids", dtype="int32"), 0),
        op("ExpandDims", "expand_dims", tensor("not_equal", dtype="bool"), axis=0),
        op("Concatenate", "concatenate", [tensor("expand_dims", dtype="bool")], axis=0),
        op("All", "all", tensor("concatenate", dtype="bool"), axis=0, keepdims=False),
        gru,
    )  # fmt: skip
    result = imported(config)
    assert result.form == "sequential" and len(result.doc["sequential"]) == 2


# --- against Keras ---------------------------------------------------------------------------------


@pytest.fixture
def keras():
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    return keras


# Inputs the cases read: h (3, 4), col (3, 1), w (4, 2), all float32, and ids (5,) int32.
INPUTS = {"h": ((3, 4), "float32"), "col": ((3, 1), "float32"), "w": ((4, 2), "float32"),
          "ids": ((5,), "int32")}  # fmt: skip

# One call of each op (what a Keras user writes), and the step import writes for it.
# The arithmetic ops take an int tensor or a broadcast: a float32 tensor with a number,
# or two of one shape, is written as a layer (see the note on ops as layers).
CASES: dict[str, tuple[Any, dict[str, Any]]] = {
    "add": (lambda o, t: o.add(t["ids"], 2), {"to": ["ids", 2]}),
    "subtract": (lambda o, t: o.subtract(1.0, t["ids"]), {"to": [1.0, "ids"]}),
    "multiply": (lambda o, t: o.multiply(t["h"], t["col"]), {"to": ["h", "col"]}),
    "divide": (lambda o, t: o.divide(t["h"], 3.0), {"to": ["h", 3.0]}),
    "power": (lambda o, t: o.power(t["h"], 3), {"to": ["h", 3]}),
    "maximum": (lambda o, t: o.maximum(t["h"], 0.0), {"to": ["h", 0.0]}),
    "minimum": (lambda o, t: o.minimum(6, t["ids"]), {"to": [6, "ids"]}),
    "matmul": (lambda o, t: o.matmul(t["h"], t["w"]), {"to": ["h", "w"]}),
    **{
        name: (lambda o, t, name=name: getattr(o, name)(t["h"]), {"to": "h"})
        for name in ("negative", "abs", "square", "sqrt", "rsqrt", "reciprocal", "exp", "log",
                     "sin", "cos", "tanh", "erf", "sigmoid", "relu", "silu", "softplus",
                     "log_softmax")
    },  # fmt: skip
    "gelu": (lambda o, t: o.gelu(t["h"], approximate=False), {"to": "h", "approximate": False}),
    "softmax": (lambda o, t: o.softmax(t["h"], axis=1), {"to": "h", "axis": 1}),
    "clip": (lambda o, t: o.clip(t["h"], -1.0, 1.0), {"to": "h", "x_min": -1.0, "x_max": 1.0}),
    "tril": (lambda o, t: o.tril(t["h"], k=-1), {"to": "h", "k": -1}),
    "triu": (lambda o, t: o.triu(t["h"]), {"to": "h"}),
    "sum": (lambda o, t: o.sum(t["h"], axis=-1, keepdims=True),
            {"to": "h", "axis": -1, "keepdims": True}),
    "mean": (lambda o, t: o.mean(t["h"], axis=[1, 2]), {"to": "h", "axis": [1, 2]}),
    "max": (lambda o, t: o.max(t["h"], axis=1), {"to": "h", "axis": 1}),
    "min": (lambda o, t: o.min(t["h"]), {"to": "h"}),
    "argmax": (lambda o, t: o.argmax(t["h"], axis=-1), {"to": "h", "axis": -1}),
    "logsumexp": (lambda o, t: o.logsumexp(t["h"], axis=1, keepdims=True),
                  {"to": "h", "axis": 1, "keepdims": True}),
    "norm": (lambda o, t: o.norm(t["h"], ord=1, axis=-1), {"to": "h", "ord": 1, "axis": -1}),
    "cumsum": (lambda o, t: o.cumsum(t["ids"], axis=1), {"to": "ids", "axis": 1}),
    "reshape": (lambda o, t: o.reshape(t["h"], (-1, 12)), {"to": "h", "newshape": [-1, 12]}),
    "transpose": (lambda o, t: o.transpose(t["h"], (0, 2, 1)), {"to": "h", "axes": [0, 2, 1]}),
    "expand_dims": (lambda o, t: o.expand_dims(t["h"], 1), {"to": "h", "axis": 1}),
    "squeeze": (lambda o, t: o.squeeze(t["col"], axis=-1), {"to": "col", "axis": -1}),
    "concatenate": (lambda o, t: o.concatenate([t["h"], t["h"]], axis=-1),
                    {"to": ["h", "h"], "axis": -1}),
    "stack": (lambda o, t: o.stack([t["h"], t["h"]], axis=1), {"to": ["h", "h"], "axis": 1}),
    "get_item": (lambda o, t: t["h"][:, 1:3, ::2], {"to": "h", "index": "[:, 1:3, ::2]"}),
    "cast": (lambda o, t: o.cast(t["ids"], "float32"), {"to": "ids", "dtype": "float32"}),
    "ones_like": (lambda o, t: o.ones_like(t["h"], dtype="int32"), {"to": "h", "dtype": "int32"}),
    "zeros_like": (lambda o, t: o.zeros_like(t["ids"]), {"to": "ids"}),
}  # fmt: skip


def test_every_op_has_a_case():
    assert sorted(CASES) == sorted(OPS)


def case_model(keras: Any, name: str) -> Any:
    """A model of one call of op ``name`` (:data:`CASES`), on the inputs it reads."""
    inputs = {n: keras.Input(shape, dtype=dtype, name=n) for n, (shape, dtype) in INPUTS.items()}
    out = CASES[name][0](keras.ops, inputs)
    used = [inputs[n] for n in INPUTS if f"'{n}'" in repr(CASES[name][1]["to"])]
    return keras.Model(used[0] if len(used) == 1 else used, out, name=f"op_{name}")


@pytest.mark.keras
@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_imports_from_keras(keras, name: str):
    """The step written, and the proof that it is Keras's model: it lints, its summary
    is Keras's, it builds, and it gives Keras's outputs."""
    from tests.conformance import prove_import

    built = case_model(keras, name)
    graph = steps(json.loads(built.to_json()))
    (step,) = graph.values()
    assert step == {"op": name, **CASES[name][1]}
    assert list(graph) == [OPS[name].keras_name]  # Keras names the op as the spec does
    proof = prove_import(built)
    assert proof.ok, proof.failure


@pytest.mark.keras
def test_python_operators_record_the_same_ops(keras):
    ids = keras.Input((5,), dtype="int32", name="ids")
    h = keras.Input((3, 4), name="h")
    col = keras.Input((3, 1), name="col")
    w = keras.Input((4, 2), name="w")
    outs = {"plus": ids + 1, "times": 2 * ids, "neg": -h, "squared": h**2, "at": h @ w,
            "first": h[:, 0], "bcast": h + col, "ratio": h / 3.0, "size": abs(h)}  # fmt: skip
    built = keras.Model([ids, h, col, w], outs)
    result = imported(json.loads(built.to_json()))
    graph = result.doc["graph"]
    got = {out: graph[spec["from"]] for out, spec in result.doc["outputs"].items()}
    assert got == {
        "plus": {"op": "add", "to": ["ids", 1]},
        "times": {"op": "multiply", "to": [2, "ids"]},
        "neg": {"op": "negative", "to": "h"},
        "squared": {"op": "power", "to": ["h", 2]},
        "at": {"op": "matmul", "to": ["h", "w"]},
        "first": {"op": "get_item", "to": "h", "index": "[:, 0]"},
        "bcast": {"op": "add", "to": ["h", "col"]},
        "ratio": {"op": "divide", "to": ["h", 3.0]},
        "size": {"op": "abs", "to": "h"},
    }
    from tests.conformance import prove_import

    proof = prove_import(built)
    assert proof.ok, proof.failure


@pytest.mark.keras
def test_constants_keras_writes(keras):
    import numpy as np

    x = keras.Input((4,), name="x")
    ops = keras.ops
    outs = [ops.minimum(x, np.float32(3.0)), ops.maximum(x, ops.convert_to_tensor(2.0)),
            ops.power(x, np.int64(3))]  # fmt: skip
    graph = steps(json.loads(keras.Model(x, outs).to_json()))
    assert sorted(graph.values(), key=str) == [
        {"op": "maximum", "to": ["x", 2.0]}, {"op": "minimum", "to": ["x", 3.0]},
        {"op": "power", "to": ["x", 3]},
    ]  # fmt: skip
    from tests.conformance import prove_import

    proof = prove_import(keras.Model(x, outs))
    assert proof.ok, proof.failure
    for bad, shown in ((x + np.arange(4.0), "a constant array of shape (4,)"),
                       (x + ops.arange(4, dtype="float32"), "a constant array of shape (4,)"),
                       (x * True, "the boolean constant True")):  # fmt: skip
        d = only(import_config(json.loads(keras.Model(x, bad).to_json())), "MS612")
        assert f"takes {shown} as an operand" in d.message


@pytest.mark.keras
def test_an_op_as_a_layer_that_would_clash_from_keras(keras):
    from tests.conformance import prove_import

    x = keras.Input((3, 4), name="x")
    col = keras.Input((3, 1), name="col")
    built = keras.Model([x, col], (x * col) * 0.5 + 1.0)
    proof = prove_import(built)
    assert proof.ok, proof.failure
    assert proof.result.doc["layers"] == {"add": {"type": "Rescaling", "scale": 1.0,
                                                  "offset": 1.0}}  # fmt: skip
    assert [s.get("op") for s in proof.result.doc["graph"].values()] == [
        "multiply", "multiply", None
    ]  # fmt: skip


@pytest.mark.keras
def test_ops_outside_the_set_from_keras(keras):
    x = keras.Input((4,), name="x")
    ops = keras.ops
    for out, cls in ((ops.einsum("bi,bi->b", x, x), "Einsum"), (x // 2, "FloorDivide"),
                     (ops.where(x > 0.0, x, 0.0), "Greater")):  # fmt: skip
        result = import_config(json.loads(keras.Model(x, out).to_json()))
        assert not result.ok
        assert f"is a call of keras.ops `{cls}`, which is not one of the ops" in (
            result.errors[0].message
        )


@pytest.mark.keras
def test_mask_ops_from_keras_are_left_out(keras):
    """A Concatenate layer of masked tensors: Keras records the mask's ops, ops of the set
    among them (ExpandDims, ZerosLike, Concatenate); the spec propagates masks and
    writes none of them."""
    ids = keras.Input((5,), dtype="int32", name="ids")
    emb = keras.layers.Embedding(10, 4, mask_zero=True, name="emb")(ids)
    both = keras.layers.Concatenate(name="both")([emb, emb])
    out = keras.layers.GRU(3, name="rnn")(both)
    config = json.loads(keras.Model(ids, out).to_json())
    recorded = {e["class_name"] for e in config["config"]["layers"] if ".ops." in e["module"]}
    assert {"ExpandDims", "ZerosLike", "Concatenate"} <= recorded
    doc = imported(config).doc
    assert all("op" not in step for step in doc["graph"].values())
    assert list(doc["layers"]) == ["emb", "both", "rnn"]


@pytest.mark.keras
def test_a_nested_model_of_ops_is_a_block_with_op_steps(keras):
    from tests.conformance import prove_import

    ops = keras.ops
    v = keras.Input((6,), name="v")
    h = keras.layers.Dense(4, name="proj")(v)
    length = keras.Model(v, ops.sqrt(ops.sum(ops.square(h), axis=-1, keepdims=True)),
                         name="length")  # fmt: skip
    decay = keras.Model(v, ops.exp(-v), name="decay")  # ops only: a block without layers
    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    both = keras.layers.Concatenate(name="both")([length(a), length(decay(b))])
    proof = prove_import(keras.Model([a, b], both, name="outer"))
    assert proof.ok, proof.failure
    blocks = proof.result.doc["blocks"]
    assert blocks["length"]["graph"]["sum"] == {"op": "sum", "to": "square", "axis": -1,
                                                "keepdims": True}  # fmt: skip
    assert "layers" not in blocks["decay"]
    assert blocks["decay"]["graph"] == {"negative": {"op": "negative", "to": "v"},
                                        "exp": {"op": "exp", "to": "negative"}}  # fmt: skip
