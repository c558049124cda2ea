"""The preprocessing layers with state (catalog/lookup.py) beyond their shapes
(tests/cases/lookup.py): output dtypes against Keras, models that read raw strings
built from the generated code and directly, and an import round trip that gives the
same outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import modelspec
from modelspec.catalog import get
from modelspec.check import check_text
from modelspec.lower.plan import plan
from tests.cases import lookup as cases

ROOT = Path(__file__).resolve().parent.parent
TEXT = ROOT / "tests" / "specs" / "text_vectorization.yaml"
TABULAR = ROOT / "tests" / "specs" / "tabular_lookups.yaml"
# An input dtype each layer reads when it runs.
READS = {"StringLookup": "string", "TextVectorization": "string", "Hashing": "string",
         "HashedCrossing": "string", "IntegerLookup": "int64", "CategoryEncoding": "int64",
         "Discretization": "float32"}  # fmt: skip


@pytest.fixture
def keras_session():
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    return keras


def _run(source: str) -> Any:
    namespace: dict[str, Any] = {"__name__": "generated"}
    exec(compile(source, "<generated>", "exec"), namespace)
    return namespace["build_model"]()


def _tabular_data():
    import numpy as np
    import tensorflow as tf

    # Keras's predict takes a dict with strings as tf tensors (a NumPy object array in a
    # dict fails in its tree utilities).
    return {
        "city": tf.constant([["paris"], ["nice"], ["rome"]]),
        "rooms": np.array([[1], [3], [9]], dtype="int64"),
        "income": np.array([[10000.0], [50000.0], [90000.0]], dtype="float32"),
    }


def test_a_learned_vocabulary_is_left_out_of_the_constructor():
    text = (
        "modelspec: 1\nname: m\ninputs:\n  t: {shape: [], dtype: string}\n"
        "sequential: [{type: TextVectorization, vocabulary: adapt, max_tokens: 50, name: tv}]\n"
    )
    result = check_text(text, "m.yaml")
    assert result.ok, [d.format() for d in result.diagnostics]
    assert dict(plan(result).layers["tv"].ctor.kwargs) == {"max_tokens": 50, "name": "tv"}


def test_summary_dtypes_follow_the_output_mode():
    result = check_text(TABULAR.read_text(), "t.yaml")
    assert result.ok
    dtypes = result.shapes.dtypes
    assert dtypes["c"] == "float32" and dtypes["i"] == "float32"
    text = (
        "modelspec: 1\nname: m\ninputs:\n  city: {shape: [1], dtype: string}\n"
        "  x: {shape: [1]}\ngraph:\n"
        "  ix: {apply: {type: StringLookup, vocabulary: [a, b]}, to: city}\n"
        "  back: {apply: {type: StringLookup, vocabulary: [a, b], invert: true}, to: ix}\n"
        "  bins: {apply: {type: Discretization, bin_boundaries: [0.5]}, to: x}\n"
        "  h: {apply: {type: Hashing, num_bins: 3}, to: city}\n"
        "outputs: {ix: {from: ix}, back: {from: back}, bins: {from: bins}, h: {from: h}}\n"
    )
    result = check_text(text, "m.yaml")
    assert result.ok, [d.format() for d in result.diagnostics]
    assert result.shapes.output_dtypes == {
        "ix": "int64", "back": "string", "bins": "int32", "h": "int64",
    }  # fmt: skip


@pytest.mark.keras
@pytest.mark.parametrize("case", cases.CASES, ids=lambda c: f"{c[0]}{sorted(c[1].items())}"[:90])
def test_output_dtype_is_keras_symbolic_dtype(case, keras_session):
    from tests.keras_truth import build_layer, call_layer

    keras = keras_session
    type_name, kwargs, shapes = case
    lt = get(type_name)
    kw = lt.resolve(kwargs)
    if kw.get("invert") and type_name == "StringLookup":
        pytest.skip("Keras's symbolic output says int64; a run gives strings, as we say")
    dtype = "int64" if kw.get("invert") else READS[type_name]
    inputs = [keras.Input(batch_shape=s, dtype=dtype) for s in shapes]
    out = call_layer(build_layer(type_name, kwargs), type_name, inputs)
    assert lt.output_dtype(kw, dtype) == out.dtype


@pytest.mark.keras
def test_the_text_classifier_reads_raw_strings(keras_session):
    import numpy as np

    loaded = modelspec.load(TEXT)
    generated = _run(loaded.to_python("functional"))
    keras_session.backend.clear_session()
    direct = loaded.to_keras("functional")
    assert generated.get_config() == direct.get_config()
    # Keras reads strings from NumPy object arrays (not fixed-width '<U' ones).
    text = np.array(["A good movie, loved it!", "boring plot"], dtype=object)
    vectorize = direct.get_layer("vectorize")
    ids = np.asarray(vectorize(text))
    vocab = vectorize.get_vocabulary()
    assert vocab[:4] == ["", "[UNK]", "movie", "good"]
    # "a" is not in the vocabulary; punctuation and case are gone.
    assert ids[0][:5].tolist() == [1, vocab.index("good"), 2, vocab.index("loved"), 1]
    assert direct.predict(text, verbose=0).shape == (2, 1)


@pytest.mark.keras
def test_the_tabular_model_runs_and_imports_back_with_the_same_outputs(tmp_path, keras_session):
    import numpy as np

    from modelspec.importer import run_import

    loaded = modelspec.load(TABULAR)
    model = loaded.to_keras()
    data = _tabular_data()
    want = model.predict(data, verbose=0)
    onehot = model.get_layer("city_onehot")(data["city"])
    assert np.asarray(onehot).tolist()[2] == [1, 0, 0, 0, 0]  # rome: out of vocabulary
    model.save(tmp_path / "m.keras")
    assert run_import(tmp_path / "m.keras", tmp_path / "back.yaml") == 0
    back = modelspec.load(tmp_path / "back.yaml")
    assert back.result.spec.layers["city_onehot"].kwargs["vocabulary"] == [
        "paris",
        "lyon",
        "nice",
        "lille",
    ]
    rebuilt = back.to_keras()
    rebuilt.set_weights(model.get_weights())
    assert np.allclose(rebuilt.predict(data, verbose=0), want)


def test_the_generated_module_writes_the_vocabulary_inline():
    source = modelspec.load(TABULAR).to_python("functional")
    assert 'vocabulary=("paris", "lyon", "nice", "lille")' in source
    assert "bin_boundaries=(20000, 40000, 80000)" in source


ADAPTED = """modelspec: 1
name: adapted
inputs:
  text: {shape: [], dtype: string}
  x: {shape: [1]}
  tag: {shape: [1], dtype: string}
layers:
  vec: {type: TextVectorization, vocabulary: adapt, max_tokens: 50, output_sequence_length: 6}
  bins: {type: Discretization, num_bins: 3, bin_boundaries: adapt, output_mode: one_hot}
  ids: {type: StringLookup, vocabulary: adapt, output_mode: multi_hot, max_tokens: 12,
        pad_to_max_tokens: true}
  norm: {type: Normalization, mean: adapt, variance: adapt}
graph:
  a: {apply: [vec, {type: Embedding, input_dim: 50, output_dim: 4},
              {type: GlobalAveragePooling1D}], to: text}
  b: {apply: bins, to: x}
  w: {apply: ids, to: tag}
  n: {apply: norm, to: x}
  c: {apply: [{type: Concatenate}, {type: Dense, units: 1, activation: sigmoid}], to: [a, b, w, n]}
outputs:
  y: {from: c, loss: binary_crossentropy}
"""


def test_the_plan_names_each_layer_to_adapt_with_its_input():
    result = check_text(ADAPTED, "a.yaml")
    assert result.ok, [d.format() for d in result.diagnostics]
    assert plan(result).adapt == (("vec", "text"), ("bins", "x"), ("ids", "tag"), ("norm", "x"))
    # The generated module says which layers to adapt, on which input.
    from modelspec.api import SpecModel

    source = SpecModel(result, plan(result)).to_python("functional")
    assert "    'vec' on input 'text';\n" in source and "    'norm' on input 'x'.\n" in source


@pytest.mark.keras
def test_train_adapts_before_fit_and_import_gives_the_same_outputs(tmp_path, keras_session):
    """train learns each vocabulary and the bins from the trained part of the data (not
    the validation part), saves them in the .keras file, and import writes them inline."""
    import io

    import numpy as np

    from modelspec.importer import run_import
    from modelspec.runtime.train import run_train

    spec = tmp_path / "adapted.yaml"
    spec.write_text(ADAPTED)
    words = ["good movie", "bad movie", "great plot", "boring acting"] * 5 + ["unseen"] * 4
    np.savez(tmp_path / "data.npz", text=np.array(words), y=np.ones((24, 1), "float32"),
             x=np.arange(24, dtype="float32")[:, None],
             tag=np.array([["a"], ["b"], ["a"]] * 8))  # fmt: skip
    err = io.StringIO()
    code = run_train(modelspec.load(spec).result, tmp_path / "data.npz", out=tmp_path / "m.keras",
                     validation_split=1 / 6, stdout=io.StringIO(), stderr=err)  # fmt: skip
    assert code == 0, err.getvalue()
    log = err.getvalue()
    assert "adapting 'vec' (TextVectorization) on input 'text': 20 samples" in log
    assert "'bins' learned 2 bin boundaries" in log
    assert "'norm' learned a mean and a variance of shape (1,)" in log
    assert run_import(tmp_path / "m.keras", tmp_path / "back.yaml", stderr=err) == 0, err.getvalue()
    back = modelspec.load(tmp_path / "back.yaml").result.spec.layers
    # Learned from the first 20 samples only: 'unseen' is in the validation part.
    assert sorted(back["vec"].kwargs["vocabulary"]) == sorted(
        ["good", "movie", "bad", "great", "plot", "boring", "acting"]
    )
    truth = keras_session.layers.Discretization(num_bins=3)
    truth.adapt(np.arange(20, dtype="float32")[:, None])
    assert back["bins"].kwargs["bin_boundaries"] == pytest.approx(truth.bin_boundaries)
    model = keras_session.saving.load_model(tmp_path / "m.keras")
    rebuilt = modelspec.load(tmp_path / "back.yaml").to_keras()
    rebuilt.set_weights(model.get_weights())
    # Normalization's learned stats are weights; Keras computes what it uses from them
    # when it loads a file (load_own_variables), not in set_weights.
    rebuilt.get_layer("norm").finalize_state()
    import tensorflow as tf

    data = {"text": tf.constant(["good plot", "unseen acting"]), "x": np.array([[3.0], [30.0]]),
            "tag": tf.constant([["a"], ["c"]])}  # fmt: skip
    assert back["ids"].kwargs["vocabulary"] == ["a", "b"]
    assert np.allclose(rebuilt.predict(data, verbose=0), model.predict(data, verbose=0))


def test_learned_vocabularies_go_back_to_their_layers_by_keras_folder_names():
    """Keras names an asset folder after the layer's class, counted in the model's order,
    and writes the mask and OOV tokens first; a learned tf_idf is refused."""
    from modelspec.importer.assets import fill_vocabularies

    def entry(cls, **config):
        return {"class_name": cls, "config": {"vocabulary": None, **config}}

    model = {"config": {"layers": [
        entry("InputLayer"),
        entry("IntegerLookup", name="a", mask_token=0, oov_token=-1, num_oov_indices=1),
        entry("IntegerLookup", name="b", vocabulary=[7], oov_token=-1, num_oov_indices=1),
        entry("IntegerLookup", name="c", mask_token=None, oov_token=-1, num_oov_indices=2,
              output_mode="count"),
        entry("StringLookup", name="d", oov_token="[UNK]", output_mode="tf_idf"),
    ]}}  # fmt: skip
    assets = {
        "integer_lookup": b"0\n-1\n5\n9\n",
        "integer_lookup_1": b"-1\n7\n",
        "integer_lookup_2": b"-1\n-1\n3\n\n",
        "string_lookup": b"[UNK]\nx\n",
    }
    diags = fill_vocabularies(model, assets, "m.keras")
    layers = [e["config"] for e in model["config"]["layers"]]
    assert layers[1]["vocabulary"] == [5, 9]
    assert layers[2]["vocabulary"] == [7]  # given in the config: kept
    assert layers[3]["vocabulary"] == [3]
    assert layers[4]["vocabulary"] is None
    assert [d.code for d in diags] == ["MS614"] and "idf_weights" in diags[0].message


@pytest.mark.keras
@pytest.mark.parametrize("path", [TEXT, TABULAR], ids=lambda p: p.stem)
def test_equiv_feeds_string_inputs_words(path, keras_session):
    """equiv's random batch holds words (of the spec's vocabularies) for string inputs."""
    from modelspec.runtime.equiv import compare

    report = compare(modelspec.load(path), steps=2)
    assert all(c.ok and not c.failed for c in report.checks[2:]), report.text()


# --- the indices a lookup gives an Embedding (MS319) ----------------------------------

# Lookups beyond tests/cases/lookup.py's, for the indices they give.
INDEX_CASES = [
    ("StringLookup", {"vocabulary": cases.V, "num_oov_indices": 0}),
    ("StringLookup", {"vocabulary": ["", "[UNK]", *cases.V], "mask_token": ""}),
    ("IntegerLookup", {"vocabulary": [3, 4], "mask_token": 0, "num_oov_indices": 3}),
    ("IntegerLookup", {"vocabulary": [3, 4], "num_oov_indices": 0}),
    ("TextVectorization", {"vocabulary": ["", "[UNK]", *cases.V]}),
    ("TextVectorization", {"vocabulary": cases.V, "max_tokens": 9}),
]


def _given(case) -> bool:
    type_name, kwargs = case[0], case[1]
    return type_name in ("StringLookup", "IntegerLookup", "TextVectorization") and isinstance(
        kwargs.get("vocabulary"), list
    )


@pytest.mark.keras
@pytest.mark.parametrize(
    "case",
    [c for c in cases.CASES if _given(c)] + INDEX_CASES,
    ids=lambda c: f"{c[0]}{sorted(c[1].items())}"[:90],
)
def test_the_indices_a_lookup_gives_are_keras_vocabulary_size(case, keras_session):
    from modelspec.catalog.lookup import index_range
    from tests.keras_truth import build_layer

    type_name, kwargs = case[0], case[1]
    lt = get(type_name)
    found = index_range(type_name, lt.resolve(kwargs))
    size = build_layer(type_name, kwargs).vocabulary_size()
    if lt.resolve(kwargs)["output_mode"] != "int" or kwargs.get("invert"):
        assert found is None  # an encoding or strings: no indices
    else:
        assert (found.size, found.entries + found.mask + found.oov) == (size, size)


@pytest.mark.keras
@pytest.mark.parametrize(
    ("type_name", "kwargs"),
    [
        ("TextVectorization", {"max_tokens": 6}),
        ("StringLookup", {"max_tokens": 6, "mask_token": "", "num_oov_indices": 2}),
        ("IntegerLookup", {"max_tokens": 6}),
    ],
)
def test_max_tokens_bounds_the_indices_of_a_learned_vocabulary(type_name, kwargs, keras_session):
    """Adapted on more distinct values than max_tokens, a lookup's vocabulary_size() is
    max_tokens, the mask and OOV indices included; on fewer, less."""
    import numpy as np

    from modelspec.catalog.lookup import index_range
    from tests.keras_truth import build_layer

    found = index_range(type_name, get(type_name).resolve({"vocabulary": "adapt", **kwargs}))
    assert (found.size, found.entries) == (6, None)
    many = [str(i) for i in range(20)] if type_name != "IntegerLookup" else list(range(1, 21))
    for data, size in ((many, 6), (many[:2], 2 + found.mask + found.oov)):
        layer = build_layer(type_name, kwargs)
        layer.adapt(np.array(data, dtype=object if type_name != "IntegerLookup" else "int64"))
        assert layer.vocabulary_size() == size


@pytest.mark.keras
def test_an_embedding_smaller_than_the_vocabulary_fails_when_it_runs(tmp_path, keras_session):
    """What MS319 says, from Keras on CPU: the model builds with input_dim one short of
    vocabulary_size(), and fails on the vocabulary's last word; with it, it runs."""
    import shutil

    import numpy as np

    from modelspec.check import check

    keras = keras_session
    vocabulary = (ROOT / "specs" / "data" / "review_vocab.txt").read_text().splitlines()
    shutil.copytree(ROOT / "specs" / "data", tmp_path / "data")
    text = (ROOT / "specs" / "text_classifier.yaml").read_text()
    (tmp_path / "short.yaml").write_text(text.replace("input_dim: 42 ", "input_dim: 41 "))
    short = check(tmp_path / "short.yaml")
    assert [(d.code, d.hint) for d in short.diagnostics] == [("MS319", (
        "set input_dim to at least 42 (the vocabulary's 40 words plus 2 for padding and the "
        "unknown word)"))]  # fmt: skip

    def model(input_dim: int):
        review = keras.Input(shape=(), dtype="string")
        words = keras.layers.TextVectorization(vocabulary=vocabulary)
        assert words.vocabulary_size() == 42
        return keras.Model(review, keras.layers.Embedding(input_dim, 4)(words(review)))

    last = np.array([vocabulary[-1]], dtype=object)
    assert model(42).predict(last, verbose=0).shape == (1, 1, 4)
    with pytest.raises(Exception, match="41 is not in"):
        model(41).predict(last, verbose=0)
