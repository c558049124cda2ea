"""The import proof stage by stage (``tests.conformance``) and the corpus script."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def keras():
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    return keras


@pytest.mark.keras
def test_a_proof_times_every_stage_of_a_chain(keras):
    from tests.conformance import STAGES, prove_import

    x = keras.Input(shape=(4,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, name="fc")(x), name="chain")
    proof = prove_import(model, via="module")
    assert proof.ok and proof.reached == "sequential", proof.failure
    assert list(proof.times) == list(STAGES)
    assert (proof.layers, proof.params) == (1, 10)


@pytest.mark.keras
def test_a_failing_stage_is_named_with_its_code(keras):
    from tests.conformance import ProofFailure, prove_import

    x = keras.Input(shape=(4,), name="x")
    model = keras.Model(x, keras.layers.Lambda(lambda t: t * 2, name="double")(x))
    proof = prove_import(model)
    assert isinstance(proof.failure, ProofFailure)
    assert (proof.failure.stage, proof.failure.code) == ("import", "MS611")
    assert proof.reached == "export" and "lint" not in proof.times
    assert str(proof.failure).startswith("import: MS611: layer 'double' is a `Lambda`")


@pytest.mark.keras
def test_the_corpus_script_prints_a_table(tmp_path: Path):
    pytest.importorskip("keras")
    out = tmp_path / "corpus.md"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "import_corpus.py"), "--only",
         "seed_001_mlp", "toy_resnet", "ops_attention", "--markdown", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    assert text.startswith("# The import corpus")
    rows = [line for line in text.splitlines() if line.startswith("| seed_001_mlp |")]
    assert len(rows) == 1 and "| proven |" in rows[0]
    assert "| toy_resnet |" in text and "3 of 3 models proven" in text
    # Op steps, through `modelspec import` as a whole process too.
    rows = [line for line in text.splitlines() if line.startswith("| ops_attention |")]
    assert len(rows) == 1 and "| proven |" in rows[0]


def corpus_module():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import import_corpus
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return import_corpus


@pytest.mark.keras
def test_the_corpus_proves_the_models_written_with_ops(keras):
    """The corpus's ops group: import writes op steps, and the spec is Keras's model
    (lint, summary, the module `modelspec build` writes, the same outputs)."""
    from tests.conformance import OPS_MODELS, prove_import

    args = argparse.Namespace(small=True, quick=True, only=None)
    entries = [e for e in corpus_module().corpus(keras, args) if e.group == "ops"]
    assert [e.name for e in entries] == list(OPS_MODELS)
    for entry in entries:
        keras.backend.clear_session()
        proof = prove_import(entry.build(keras), via="module")
        assert proof.ok, (entry.name, proof.failure)
        assert any("op" in step for step in proof.result.doc["graph"].values())


@pytest.mark.keras
def test_the_corpus_proves_the_example_specs_string_inputs_included(keras):
    """The corpus's examples group: specs built to Keras and proven back, strings fed as
    words to the models that read them, random augmentation layers included."""
    import_corpus = corpus_module()
    from tests.conformance import prove_import

    names = {"gpt_decoder", "llama_decoder", "seq2seq", "image_classifier", "text_classifier",
             "tabular_model", *import_corpus.EXAMPLE_TEST_SPECS}  # fmt: skip
    args = argparse.Namespace(small=True, quick=True, only=None)
    examples = [e for e in import_corpus.corpus(keras, args) if e.group == "examples"]
    entries = {e.name: e for e in examples}
    assert names <= set(entries) and len(entries) == len(examples)  # one name, one model
    for name in ("gpt_decoder", "seq2seq", "llama_decoder", "image_classifier",
                 "text_classifier", "tabular_model", "tabular_lookups",
                 "text_vectorization"):  # fmt: skip
        keras.backend.clear_session()
        proof = prove_import(entries[name].build(keras))
        assert proof.ok, (name, proof.failure)
