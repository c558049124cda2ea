"""``modelspec train``: the data checks (numpy only), then real training with Keras.

The data checks run on real ``.npz`` files written with numpy and assert each
diagnostic's code, position and message. The training tests build tiny models and
train them for an epoch on a few samples; the command-line tests run the real
command in a subprocess, one of them under MirroredStrategy on a CPU split into two
logical devices.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelspec.catalog.training import STRATEGIES
from modelspec.check import check, check_text
from modelspec.cli import Strategy
from modelspec.errors import Diagnostic
from modelspec.lower.plan import plan as build_plan
from modelspec.runtime import data as data_mod
from modelspec.runtime.strategy import strategy_name
from modelspec.runtime.train import (
    FIT_DEFAULTS,
    default_out,
    final_metrics,
    fit,
    fit_settings,
    missing_packages,
    out_problem,
    prepare,
    split_problem,
)
from tests.test_no_tensorflow import MARK, WRAPPER

RNG = np.random.default_rng(0)
N = 16  # samples in every data file

# Lines 1-14; the diagnostics below point at these lines.
TWO_HEADS = """\
modelspec: 1
name: two_heads
seed: 3
inputs:
  x: {shape: [4]}
  ids: {shape: [3], dtype: int32}
layers:
  emb: {type: Embedding, input_dim: 10, output_dim: 2}
  flat: {type: Flatten}
  cat: {type: Concatenate}
  fc: {type: Dense, units: 5, activation: softmax}
  aux: {type: Dense, units: 2}
graph:
  e: {apply: [emb, flat], to: ids}
  h: {apply: cat, to: [x, e]}
  cls: {apply: fc, to: h}
  side: {apply: aux, to: h}
outputs:
  cls: {from: cls, loss: sparse_categorical_crossentropy, metrics: [accuracy]}
  side: {from: side, loss: null}
compile:
  optimizer: {type: Adam, learning_rate: 0.01}
fit: {epochs: 1, batch_size: 8}
"""
X_LINE, IDS_LINE, CLS_LINE = 5, 6, 19

TINY = """\
modelspec: 1
name: tiny
seed: 7
inputs:
  features: {shape: [4]}
sequential:
  - {type: Dense, units: 3, activation: relu}
  - {type: Dense, units: 1}
outputs:
  y: {loss: mse, metrics: [mae]}
compile:
  optimizer: {type: SGD, learning_rate: 0.01}
fit: {epochs: 1, batch_size: 4}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def good_two_heads() -> dict[str, np.ndarray]:
    return {
        "x": RNG.normal(size=(N, 4)).astype("float32"),
        "ids": RNG.integers(0, 10, size=(N, 3)),
        "cls": RNG.integers(0, 5, size=N),
    }


def good_tiny() -> dict[str, np.ndarray]:
    return {"features": RNG.normal(size=(N, 4)).astype("float32"), "y": RNG.normal(size=(N, 1))}


def problems(tmp_path: Path, spec_text: str, arrays: dict, **kw) -> list[Diagnostic]:
    """What ``prepare`` reports for ``arrays`` saved with ``numpy.savez``."""
    spec = write(tmp_path, "s.yaml", spec_text)
    data = tmp_path / "d.npz"
    np.savez(data, **arrays, **kw)
    result = check(spec)
    assert result.ok, result.diagnostics
    loaded, diags = prepare(result, build_plan(result), data)
    assert (loaded is None) == bool(diags)
    return diags


def only(diags: list[Diagnostic], code: str) -> Diagnostic:
    assert [d.code for d in diags] == [code], [d.format() for d in diags]
    return diags[0]


# === the data checks: numpy only =========================================================


def test_good_data_loads_as_the_model_reads_it(tmp_path: Path):
    spec = write(tmp_path, "s.yaml", TWO_HEADS)
    np.savez(tmp_path / "d.npz", **good_two_heads())
    result = check(spec)
    arrays, diags = prepare(result, build_plan(result), tmp_path / "d.npz")
    assert diags == []
    # The untrained output 'side' needs no array.
    assert sorted(arrays) == ["cls", "ids", "x"] and arrays["x"].shape == (N, 4)


def test_ms511_missing_array_with_did_you_mean(tmp_path: Path):
    arrays = good_two_heads()
    arrays["X"] = arrays.pop("x")
    diags = problems(tmp_path, TWO_HEADS, arrays)
    assert [d.code for d in diags] == ["MS511", "MS512"]
    missing = diags[0]
    assert (missing.file, missing.line, missing.col) == (str(tmp_path / "s.yaml"), X_LINE, 3)
    assert missing.message == (
        f"missing array 'x' for input 'x' (float32): '{tmp_path / 'd.npz'}' has no array of that name"
    )
    assert missing.hint == "did you mean 'X'?"


def test_ms511_missing_targets(tmp_path: Path):
    arrays = good_two_heads()
    del arrays["cls"]
    d = only(problems(tmp_path, TWO_HEADS, arrays), "MS511")
    assert d.line == CLS_LINE
    assert "array 'cls' for output 'cls' (loss 'sparse_categorical_crossentropy')" in d.message
    assert d.hint == f"'{tmp_path / 'd.npz'}' holds 'x', 'ids'"


def test_ms512_extra_array_is_reported_at_the_data_file(tmp_path: Path):
    d = only(problems(tmp_path, TWO_HEADS, good_two_heads(), weights=np.ones(N)), "MS512")
    assert (d.file, d.line, d.col) == (str(tmp_path / "d.npz"), 1, 1)
    assert "extra array 'weights'" in d.message
    assert "the spec has no input or trained output 'weights'" in d.message
    assert "'x', 'ids', 'cls'" in d.hint


def test_ms512_targets_for_an_untrained_output(tmp_path: Path):
    d = only(problems(tmp_path, TWO_HEADS, good_two_heads(), side=np.ones((N, 2))), "MS512")
    assert "output 'side' has no loss and no metrics, so it takes no targets" in d.message


def test_ms513_wrong_sample_shape(tmp_path: Path):
    arrays = good_two_heads()
    arrays["x"] = np.zeros((N, 5), dtype="float32")
    d = only(problems(tmp_path, TWO_HEADS, arrays), "MS513")
    assert d.line == X_LINE
    assert d.message == "array 'x' must have shape (None, 4) for input 'x' (float32); got (16, 5)"


def test_ms513_sparse_targets_drop_the_class_axis(tmp_path: Path):
    arrays = good_two_heads()
    arrays["cls"] = np.eye(5, dtype="int64")[arrays["cls"]]  # one-hot rows
    d = only(problems(tmp_path, TWO_HEADS, arrays), "MS513")
    assert d.line == CLS_LINE
    assert "must have shape (None,) or (None, 1) for output 'cls'" in d.message
    assert d.message.endswith("got (16, 5)")
    assert d.hint == "this loss takes one class index per prediction, not one-hot rows"
    # A trailing axis of 1 is fine too.
    arrays["cls"] = RNG.integers(0, 5, size=(N, 1))
    assert problems(tmp_path, TWO_HEADS, arrays) == []


ONE_HOT = TWO_HEADS.replace(
    "loss: sparse_categorical_crossentropy", "loss: categorical_crossentropy"
)
ONE_HOT_HINT = (
    "these are class indices, and 'categorical_crossentropy' takes one-hot rows: use "
    "`loss: sparse_categorical_crossentropy`, or one-hot encode the labels (keras.utils.to_categorical)"
)


@pytest.mark.parametrize(("shape", "shown"), [((N,), f"({N},)"), ((N, 1), f"({N}, 1)")])
def test_ms513_class_indices_for_a_one_hot_loss_suggest_the_sparse_one(
    tmp_path: Path, shape, shown
):
    arrays = good_two_heads()
    arrays["cls"] = RNG.integers(0, 5, size=shape)
    d = only(problems(tmp_path, ONE_HOT, arrays), "MS513")
    assert d.line == CLS_LINE
    assert d.message == (
        "array 'cls' must have shape (None, 5) for output 'cls' (loss 'categorical_crossentropy'); "
        f"got {shown}"
    )
    assert d.hint == ONE_HOT_HINT
    # Float values of that shape are not labels: no such hint.
    arrays["cls"] = RNG.normal(size=shape)
    assert only(problems(tmp_path, ONE_HOT, arrays), "MS513").hint is None
    # One-hot rows, integers or floats, are what the loss takes.
    arrays["cls"] = np.eye(5, dtype="int64")[RNG.integers(0, 5, size=N)]
    assert problems(tmp_path, ONE_HOT, arrays) == []


def test_ms513_a_scalar_has_no_sample_axis(tmp_path: Path):
    arrays = good_tiny()
    arrays["y"] = np.float64(1.0)
    d = only(problems(tmp_path, TINY, arrays), "MS513")
    assert d.message.endswith("got ()")
    assert d.hint == "the first axis of every array is the sample axis"


def test_targets_of_a_size_1_output_may_drop_that_axis(tmp_path: Path):
    arrays = good_tiny()
    arrays["y"] = arrays["y"][:, 0]
    assert problems(tmp_path, TINY, arrays) == []


def test_ms514_wrong_dtypes(tmp_path: Path):
    arrays = good_two_heads()
    arrays["ids"] = arrays["ids"].astype("float32")  # an int32 input
    arrays["cls"] = arrays["cls"].astype("float64")  # sparse labels
    diags = problems(tmp_path, TWO_HEADS, arrays)
    assert [(d.code, d.line) for d in diags] == [("MS514", IDS_LINE), ("MS514", CLS_LINE)]
    ids, cls = diags
    assert ids.message == (
        "array 'ids' must hold integers or booleans for input 'ids' (int32); got float32"
    )
    assert ids.hint == "convert it with .astype('int32')"
    assert "must hold integers (class indices) for output 'cls'" in cls.message


def test_ms514_strings_for_a_float_input_and_ints_accepted(tmp_path: Path):
    arrays = good_tiny()
    arrays["features"] = np.full((N, 4), "a")
    d = only(problems(tmp_path, TINY, arrays), "MS514")
    assert d.message == (
        "array 'features' must hold numbers for input 'features' (float32); got <U1 (strings)"
    )
    arrays["features"] = np.ones((N, 4), dtype="int16")  # ints feed a float input
    assert problems(tmp_path, TINY, arrays) == []


def test_ms514_a_string_input_needs_strings(tmp_path: Path):
    # `words` feeds nothing (a warning, MS212): only its data is checked here.
    text = TINY.replace(
        "  features: {shape: [4]}\n",
        "  features: {shape: [4]}\n  words: {shape: [2], dtype: string}\n",
    )
    text = text.replace("sequential:\n", "graph:\n  h: {apply: [d1, d2], to: features}\nlayers:\n")
    text = text.replace(
        "  - {type: Dense, units: 3, activation: relu}", "  d1: {type: Dense, units: 3}"
    )
    text = text.replace("  - {type: Dense, units: 1}", "  d2: {type: Dense, units: 1}")
    text = text.replace("  y: {loss", "  y: {from: h, loss")
    arrays = {**good_tiny(), "words": np.ones((N, 2))}
    d = only(problems(tmp_path, text, arrays), "MS514")
    assert d.message == "array 'words' must hold strings for input 'words' (string); got float64"
    arrays["words"] = np.full((N, 2), "token")
    assert problems(tmp_path, text, arrays) == []


def test_ms514_pickled_objects_are_refused_unread(tmp_path: Path):
    marker = tmp_path / "unpickled"

    class Boom:
        def __reduce__(self):  # unpickling this would create the marker file
            return (open, (str(marker), "w"))

    arrays = good_tiny()
    arrays["y"] = np.array([Boom()] * N, dtype=object)
    d = only(problems(tmp_path, TINY, arrays), "MS514")
    assert "holds Python objects (dtype object), which only pickle can load" in d.message
    assert "allow_pickle=False" in d.message
    assert not marker.exists()


def test_ms515_lengths_differ(tmp_path: Path):
    arrays = good_two_heads()
    arrays["cls"] = arrays["cls"][:10]
    d = only(problems(tmp_path, TWO_HEADS, arrays), "MS515")
    assert d.line == CLS_LINE
    assert "must have as many samples as array 'x' (16); got 10" in d.message


def test_ms515_no_samples(tmp_path: Path):
    arrays = {"features": np.zeros((0, 4), "float32"), "y": np.zeros((0, 1))}
    d = only(problems(tmp_path, TINY, arrays), "MS515")
    assert d.message.endswith("must hold at least one sample; got 0")


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "it is a directory"),
        (lambda p: p.write_text("x,y\n1,2\n"), "is not an .npz file (a zip of .npy arrays)"),
        (lambda p: np.save(open(p, "wb"), np.ones(3)), "is a single .npy array"),
        (lambda p: p.write_bytes(pickle.dumps({"x": [1]})), "is a pickle, not an .npz"),
        (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 40), "cannot read data file"),
    ],
    ids=["missing", "directory", "text", "npy", "pickle", "broken-zip"],
)
def test_ms516_unreadable_data_file(tmp_path: Path, make, fragment):
    spec = write(tmp_path, "s.yaml", TINY)
    data = tmp_path / "d.npz"
    make(data)
    result = check(spec)
    arrays, diags = prepare(result, build_plan(result), data)
    assert arrays is None
    d = only(diags, "MS516")  # one cause, one message: no "missing array" for each input
    assert (d.file, d.line, d.col) == (str(data), 1, 1)
    assert fragment in d.message


def test_ms516_a_member_that_is_not_an_array(tmp_path: Path):
    import zipfile

    data = tmp_path / "d.npz"
    np.savez(data, **good_tiny())
    with zipfile.ZipFile(data, "a") as zf:
        zf.writestr("notes.txt", "hello")
    spec = write(tmp_path, "s.yaml", TINY)
    result = check(spec)
    d = only(prepare(result, build_plan(result), data)[1], "MS516")
    assert "member 'notes.txt'" in d.message and "is not a .npy array" in d.message


def test_ms510_nothing_to_train(tmp_path: Path):
    text = TINY.replace("  y: {loss: mse, metrics: [mae]}\ncompile:\n", "  y: {}\ncompile:\n")
    text = text.replace("compile:\n  optimizer: {type: SGD, learning_rate: 0.01}\n", "")
    d = only(problems(tmp_path, text, good_tiny()), "MS510")
    assert d.message == "nothing to train: no output has a loss" and d.line == 10


def test_ms517_tensorboard_without_its_package(tmp_path: Path):
    text = TINY.replace(
        "fit: {epochs: 1, batch_size: 4}", "fit:\n  callbacks:\n    - {type: TensorBoard}"
    )
    result = check(write(tmp_path, "s.yaml", text))
    # As if not installed: tensorboard alone (TensorFlow 2.21), or TensorFlow too (JAX, PyTorch).
    (d,) = missing_packages(result, find_spec=lambda name: None if name == "tensorboard" else 1)
    assert (d.code, d.line, d.col) == ("MS517", 15, 7)
    assert (
        d.message
        == "callback `TensorBoard` needs the `tensorboard` package, which is not installed"
    )
    assert d.hint == "pip install tensorboard"
    (d,) = missing_packages(result, find_spec=lambda name: None)
    assert d.message == (
        "callback `TensorBoard` needs the `tensorboard` and `tensorflow` packages, which "
        "are not installed"
    )
    assert d.hint == "pip install tensorboard tensorflow"
    assert list(missing_packages(result, find_spec=lambda name: object())) == []


# === the data file as bounded data: limits from the zip's records, headers that agree ======


def prepared(tmp_path: Path, data: Path, text: str = TINY) -> list[Diagnostic]:
    result = check(write(tmp_path, "s.yaml", text))
    arrays, diags = prepare(result, build_plan(result), data)
    assert (arrays is None) == bool(diags)
    return diags


def test_ms518_a_decompression_bomb_is_refused_from_the_zips_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A 5 GiB array in 5 MB: refused before a byte is inflated, whatever the limit."""
    builders = pytest.importorskip("tests.hostile.builders")
    data = tmp_path / "d.npz"
    builders.npz_bomb(data, name="features", gigabytes=5, arrays={"y": [[N, 1], "float64"]})
    d = only(prepared(tmp_path, data), "MS518")
    assert (d.file, d.line, d.col) == (str(data), 1, 1)
    assert (
        "holds 5,368,709,504 bytes of arrays uncompressed; the limit is 4,294,967,296" in d.message
    )
    assert "modelspec.runtime.data.MAX_DATA_BYTES" in d.hint
    # The limit is read at each check: a small one refuses a small file.
    np.savez(data, **good_tiny())
    assert prepared(tmp_path, data) == []
    monkeypatch.setattr(data_mod, "MAX_DATA_BYTES", 300)
    assert "the limit is 300" in only(prepared(tmp_path, data), "MS518").message


def test_ms518_too_many_members(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from modelspec.source import archive

    data = tmp_path / "d.npz"
    np.savez(data, **good_tiny(), extra=np.zeros(N))
    monkeypatch.setattr(archive, "MAX_MEMBERS", 2)
    d = only(prepared(tmp_path, data), "MS518")
    assert d.message == f"cannot read data file '{data}': it has 3 members; the limit is 2"
    assert "modelspec.source.archive.MAX_MEMBERS" in d.hint


def test_ms519_an_encrypted_member(tmp_path: Path):
    builders = pytest.importorskip("tests.hostile.builders")
    data = tmp_path / "d.npz"
    builders.npz_encrypted(data, {"features": [[N, 4], "float32"], "y": [[N, 1], "float64"]}, "y")
    d = only(prepared(tmp_path, data), "MS519")  # one message: not "missing array 'y'" too
    assert d.message == f"cannot read array 'y' of '{data}': member 'y.npy' is encrypted"
    assert d.hint.startswith("save the arrays with numpy.savez")


def test_ms519_a_bzip2_member(tmp_path: Path):
    import zipfile

    data = tmp_path / "d.npz"
    with zipfile.ZipFile(data, "w", zipfile.ZIP_BZIP2) as zf:
        for name, array in good_tiny().items():
            buffer = __import__("io").BytesIO()
            np.save(buffer, array)
            zf.writestr(f"{name}.npy", buffer.getvalue())
    d = prepared(tmp_path, data)
    assert [x.code for x in d] == ["MS519", "MS519"]
    assert "member 'features.npy' is compressed with bzip2" in d[0].message


def _npz_with_member(path: Path, name: str, raw: bytes) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        buffer = __import__("io").BytesIO()
        np.save(buffer, np.zeros((N, 4), "float32"))
        zf.writestr("features.npy", buffer.getvalue())
        zf.writestr(f"{name}.npy", raw)


def test_ms519_a_header_that_disagrees_with_its_member(tmp_path: Path):
    """A header may not claim a billion floats in a member of a few bytes (numpy would
    allocate them first), nor a few floats in a larger member."""
    import io

    from tests.hostile.builders import _npy_header

    data = tmp_path / "d.npz"
    _npz_with_member(data, "y", _npy_header(10**9, "float64") + bytes(8 * N))
    d = only(prepared(tmp_path, data), "MS519")
    assert d.message == (f"cannot read array 'y' of '{data}': its member is 256 bytes uncompressed, "
                         "but its .npy header ((1000000000,), <f8) makes 8,000,000,128")  # fmt: skip
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(N))
    _npz_with_member(data, "y", buffer.getvalue() + b"trailing")
    assert "its member is 264 bytes uncompressed" in only(prepared(tmp_path, data), "MS519").message


def test_ms519_a_version_3_header_and_ms516_an_oversized_one(tmp_path: Path):
    import io

    data = tmp_path / "d.npz"
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(N))
    raw = buffer.getvalue()
    _npz_with_member(data, "y", raw[:6] + b"\x03\x00" + raw[8:])
    assert "its .npy header is version 3.0" in only(prepared(tmp_path, data), "MS519").message
    huge = b"{'descr': '<f8', 'fortran_order': False, 'shape': (16,), }" + b" " * 20_000 + b"\n"
    _npz_with_member(data, "y", b"\x93NUMPY\x02\x00" + len(huge).to_bytes(4, "little") + huge)
    assert "Header info length" in only(prepared(tmp_path, data), "MS516").message


def test_arrays_load_as_numpy_saved_them(tmp_path: Path):
    """The reader reads exactly the bytes each header declares: Fortran order, another
    byte order and compressed members load as numpy.load loads them."""
    arrays = {
        "features": np.asfortranarray(RNG.normal(size=(N, 4))).astype(">f4"),
        "y": RNG.normal(size=(N, 1)),
    }
    data = tmp_path / "d.npz"
    for save in (np.savez, np.savez_compressed):
        save(data, **arrays)
        result = check(write(tmp_path, "s.yaml", TINY))
        loaded, diags = prepare(result, build_plan(result), data)
        assert diags == []
        with np.load(data) as expected:
            for name in arrays:
                assert loaded[name].dtype == expected[name].dtype
                assert np.array_equal(loaded[name], expected[name])
        assert loaded["features"].flags.f_contiguous


def test_ms516_a_fifo_is_refused_without_blocking(tmp_path: Path):
    write(tmp_path, "s.yaml", TINY)
    os.mkfifo(tmp_path / "d.npz")
    proc = run("train", "s.yaml", "--data", "d.npz", cwd=tmp_path, script=WRAPPER)
    assert proc.returncode == 1, proc.stderr
    assert "d.npz:1:1: error MS516: cannot read data file 'd.npz': it is not a regular file (a FIFO)" in proc.stderr  # fmt: skip


def test_the_spec_weights_file_is_checked_before_tensorflow(tmp_path: Path):
    """A weights file that cannot be loaded stops `train` with numpy and h5py only, and
    the data's problems are reported with it."""
    builders = pytest.importorskip("tests.hostile.builders")
    (tmp_path / "pyproject.toml").write_text("")
    write(tmp_path, "s.yaml", TINY.replace("sequential:\n  - {type: Dense, units: 3, activation: relu}",
                                           "sequential:\n  - {type: Dense, units: 3, activation: relu, name: fc}")
          + "weights: runs/w.weights.h5\n")  # fmt: skip
    (tmp_path / "runs").mkdir()
    builders.weights_self_link(tmp_path / "runs" / "w.weights.h5")
    np.savez(tmp_path / "d.npz", **good_tiny(), extra=np.zeros(N))
    proc = run("train", "s.yaml", "--data", "d.npz", cwd=tmp_path, script=WRAPPER)
    assert proc.returncode == 1, proc.stderr
    heavy = json.loads(proc.stderr.splitlines()[-1].removeprefix(MARK))
    assert not {"tensorflow", "keras"} & set(heavy)
    lines = [line for line in proc.stderr.splitlines() if ": error MS" in line]
    assert [line.split(": error ")[0] for line in lines] == ["d.npz:1:1", "runs/w.weights.h5:1:1"]
    assert "error MS530: '/layers/fc/vars/again' in weights file 'runs/w.weights.h5' is a hard link back to" in lines[1]  # fmt: skip
    # A clean file passes here; its shapes are compared once the model is built.
    builders.weights(tmp_path / "runs" / "w.weights.h5")
    np.savez(tmp_path / "d.npz", **good_tiny())
    result = check(tmp_path / "s.yaml")
    assert prepare(result, build_plan(result), tmp_path / "d.npz")[1] == []


# === settings ============================================================================


def test_fit_settings_flag_then_spec_then_keras():
    result = check_text(TWO_HEADS)
    p = build_plan(result)
    assert fit_settings(p).epochs == 1 and fit_settings(p).batch_size == 8
    assert fit_settings(p, epochs=3, validation_split=0.5).epochs == 3
    assert fit_settings(p, batch_size=2).batch_size == 2
    bare = build_plan(check_text(TWO_HEADS.replace("fit: {epochs: 1, batch_size: 8}\n", "")))
    s = fit_settings(bare)
    assert (s.epochs, s.batch_size, s.validation_split, s.shuffle, s.verbose) == tuple(
        FIT_DEFAULTS.values()
    )


def test_split_problem_as_keras_splits():
    # Keras trains on the first floor(n * (1 - split)) samples.
    assert split_problem(16, 0.25) is None and split_problem(16, 0.0) is None
    assert split_problem(8, 0.1) is None  # 7 and 1
    assert split_problem(1, 0.5) == "validation_split 0.5 of 1 samples leaves none for training"
    assert split_problem(10, 1e-17) == (
        "validation_split 1e-17 of 10 samples leaves none for validation"
    )


def test_default_out_and_what_out_refuses(tmp_path: Path):
    assert default_out(build_plan(check_text(TINY))) == Path("tiny.keras")
    named = build_plan(check_text(TINY.replace("name: tiny", "name: ..\\a b\\c d")))
    assert default_out(named) == Path("c_d.keras")
    problem = out_problem(tmp_path)
    assert (problem.code, problem.message) == ("MS545", f"'{tmp_path}' is a directory")
    assert (problem.file, problem.line, problem.col) == (str(tmp_path), 1, 1)
    problem = out_problem(tmp_path / "m.h5")
    assert problem.code == "MS548" and "does not end in .keras" in problem.message
    problem = out_problem(tmp_path / "nope" / "m.keras")
    assert problem.code == "MS547" and "does not exist" in problem.message
    assert out_problem(tmp_path / "m.keras") is None
    # A file there: the default replaces none; --out one that train saved from this spec.
    (tmp_path / "m.keras").write_bytes(b"mine")
    assert out_problem(tmp_path / "m.keras", "s.yaml", named=False).code == "MS546"
    assert out_problem(tmp_path / "m.keras", "s.yaml").code == "MS540"
    assert out_problem(tmp_path / "m.keras", "s.yaml", named=False, force=True) is None
    assert out_problem(tmp_path / "m.keras", "s.yaml", force=True) is None


def test_distribution_key_and_strategy_flag():
    spec = check_text(TINY + "distribution: {strategy: mirrored}\n")
    assert spec.ok and spec.spec.distribution == {"strategy": "mirrored"}
    assert strategy_name(spec.spec) == "mirrored"
    assert strategy_name(spec.spec, "none") == "none"  # the flag wins
    assert strategy_name(check_text(TINY).spec) == "none"
    assert [s.value for s in Strategy] == ["none", *STRATEGIES]
    bad = check_text(TINY + "distribution: {strategy: mirored}\n", "s.yaml")
    (d,) = bad.errors
    assert (d.code, d.line, d.hint) == ("MS105", 14, "did you mean 'mirrored'?")


def test_final_metrics_one_line_each_from_the_last_epoch():
    history = {"loss": [1.0, 0.25], "mae": [0.5, 0.00012]}
    assert final_metrics(history) == ["loss: 0.2500", "mae: 1.2000e-04"]


# === the command line: data problems stop it before TensorFlow ===========================


def run(*args: str, cwd: Path, script: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MODELSPEC_DEBUG"}
    command = [sys.executable, "-c", script, *args] if script else [sys.executable, "-m", "modelspec", *args]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, env=env, timeout=120, check=False
    )


def test_cli_reports_every_data_problem_at_once_without_tensorflow(tmp_path: Path):
    write(tmp_path, "s.yaml", TWO_HEADS)
    np.savez(
        tmp_path / "d.npz",
        x=np.zeros((N, 5)),
        ids=np.zeros((N, 3)),
        cls=np.zeros(N - 1, dtype="int64"),
        extra=np.zeros(N),
    )
    proc = run("train", "s.yaml", "--data", "d.npz", cwd=tmp_path, script=WRAPPER)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    heavy = json.loads(proc.stderr.splitlines()[-1].removeprefix(MARK))
    assert not {"tensorflow", "keras"} & set(heavy)  # stopped before TensorFlow (numpy: yes)
    lines = [line for line in proc.stderr.splitlines() if ": error MS" in line]
    assert [line.split(": error ")[0] for line in lines] == [
        "d.npz:1:1",
        f"s.yaml:{X_LINE}:3",
        f"s.yaml:{IDS_LINE}:3",
        f"s.yaml:{CLS_LINE}:3",
    ]
    assert [line.split(": error ")[1][:5] for line in lines] == ["MS512", "MS513", "MS514", "MS515"]
    # The spec line is shown under its diagnostic; the data file has no lines to show.
    assert "      x: {shape: [4]}\n      ^" in proc.stderr
    assert not (tmp_path / "two_heads.keras").exists()


def test_cli_class_indices_for_categorical_crossentropy(tmp_path: Path):
    write(tmp_path, "s.yaml", ONE_HOT)
    arrays = good_two_heads()
    np.savez(tmp_path / "d.npz", **arrays)
    proc = run("train", "s.yaml", "--data", "d.npz", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(
        f"s.yaml:{CLS_LINE}:3: error MS513: array 'cls' must have shape (None, 5)"
    )
    assert f"    hint: {ONE_HOT_HINT}\n" in proc.stderr
    assert not (tmp_path / "two_heads.keras").exists()


def _sealed_zip(path: Path, spec_file: str) -> None:
    """A zip sealed as `train` seals the .keras files it saves from ``spec_file``."""
    import zipfile

    from modelspec.emit.outputs import seal_zip
    from modelspec.runtime.train import trained_head

    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("model.weights.h5", b"HDF5 weights")
    seal_zip(path, trained_head(spec_file))


def test_cli_never_replaces_a_file_at_the_default_out(tmp_path: Path):
    """Without --out, `<name>.keras` in the current folder is written only when nothing
    is there: checked before the data is read, before TensorFlow is imported."""
    write(tmp_path, "s.yaml", TINY)
    (tmp_path / "tiny.keras").write_bytes(b"a model trained for a week")
    proc = run("train", "s.yaml", "--data", "d.npz", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (
        "tiny.keras:1:1: error MS546: 'tiny.keras' exists; train without --out never "
        "replaces a file\n"
        "    hint: name the file with --out (it replaces a model that train saved from the "
        "same spec), or use --force to replace 'tiny.keras'\n"
    )
    # Even one that train saved from this very spec.
    _sealed_zip(tmp_path / "tiny.keras", "s.yaml")
    before = (tmp_path / "tiny.keras").read_bytes()
    proc = run("train", "s.yaml", "--data", "d.npz", cwd=tmp_path)
    assert proc.returncode == 1 and "error MS546" in proc.stderr
    assert (tmp_path / "tiny.keras").read_bytes() == before


def test_cli_out_replaces_only_a_model_train_saved_from_this_spec(tmp_path: Path):
    write(tmp_path, "s.yaml", TINY)
    out = tmp_path / "m.keras"
    _sealed_zip(out, "other.yaml")
    proc = run("train", "s.yaml", "--data", "d.npz", "--out", "m.keras", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        "m.keras:1:1: error MS542: 'm.keras' was generated by modelspec train from other.yaml, "
        "not from s.yaml; refusing to overwrite it\n"
    ), proc.stderr
    _sealed_zip(out, "s.yaml")
    with out.open("r+b") as fh:  # a byte of the weights changed: not the file train saved
        data = fh.read()
        fh.seek(data.index(b"HDF5 weights"))
        fh.write(b"h")
    proc = run("train", "s.yaml", "--data", "d.npz", "--out", "m.keras", cwd=tmp_path)
    assert proc.returncode == 1
    assert (
        "m.keras:1:1: error MS541: 'm.keras' was generated by modelspec train from s.yaml but "
        in (proc.stderr)
    )
    assert "hint: keep it under another name, or use --force to replace it" in proc.stderr
    # Its own, unchanged: past the check, to the data (which is missing here).
    _sealed_zip(out, "s.yaml")
    proc = run("train", "s.yaml", "--data", "d.npz", "--out", "m.keras", cwd=tmp_path)
    assert proc.returncode == 1 and "error MS516" in proc.stderr and "MS54" not in proc.stderr


def test_cli_refuses_a_directory_for_out_and_a_bad_split(tmp_path: Path):
    write(tmp_path, "s.yaml", TINY)
    np.savez(tmp_path / "d.npz", **good_tiny())
    (tmp_path / "m.keras").mkdir()
    proc = run("train", "s.yaml", "--data", "d.npz", "--out", "m.keras", cwd=tmp_path)
    assert proc.returncode == 1 and "'m.keras' is a directory" in proc.stderr
    proc = run("train", "s.yaml", "--data", "d.npz", "--validation-split", "1", cwd=tmp_path)
    assert proc.returncode == 2 and "--validation-split must be below 1" in proc.stderr
    proc = run("train", "s.yaml", "--data", "d.npz", "--validation-split", "0.99", cwd=tmp_path)
    assert proc.returncode == 1
    assert "validation_split 0.99 of 16 samples leaves none for training" in proc.stderr


# === training with Keras =================================================================


def trained_in_process(tmp_path: Path, text: str, arrays: dict, **settings):
    spec = write(tmp_path, "s.yaml", text)
    np.savez(tmp_path / "d.npz", **arrays)
    result = check(spec)
    p = build_plan(result)
    loaded, diags = prepare(result, p, tmp_path / "d.npz")
    assert diags == []
    return fit(p, loaded, fit_settings(p, **settings))


@pytest.mark.keras
def test_two_inputs_two_outputs_one_untrained(tmp_path: Path):
    pytest.importorskip("keras")
    trained = trained_in_process(tmp_path, TWO_HEADS, good_two_heads(), validation_split=0.25)
    assert set(trained.history) >= {"loss", "val_loss", "cls_accuracy", "val_cls_accuracy"}
    assert trained.chief


@pytest.mark.keras
def test_a_seeded_spec_trains_the_same_way_every_run(tmp_path: Path):
    pytest.importorskip("keras")
    data = good_tiny()
    runs = [trained_in_process(tmp_path, TINY, data, epochs=3) for _ in range(2)]
    assert runs[0].history == runs[1].history  # shuffled, but by the spec's seed


@pytest.mark.keras
def test_validation_split(tmp_path: Path):
    pytest.importorskip("keras")
    trained = trained_in_process(tmp_path, TINY, good_tiny(), validation_split=0.25, epochs=2)
    assert list(trained.history) == ["loss", "mae", "val_loss", "val_mae"]
    assert all(len(v) == 2 for v in trained.history.values())


CALLBACKS = {
    "EarlyStopping": "{type: EarlyStopping, monitor: loss, min_delta: 1000, patience: 0}",
    "ModelCheckpoint": "{type: ModelCheckpoint, filepath: 'out/ckpt.keras', monitor: loss}",
    "ReduceLROnPlateau": "{type: ReduceLROnPlateau, monitor: loss, patience: 0, factor: 0.5, min_delta: 1000}",
    "CSVLogger": "{type: CSVLogger, filename: log.csv}",
    "TensorBoard": "{type: TensorBoard, log_dir: 'out/tb'}",
}  # fmt: skip


@pytest.mark.keras
@pytest.mark.parametrize("name", list(CALLBACKS))
def test_each_callback_of_fit_works(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch):
    keras = pytest.importorskip("keras")
    if name == "TensorBoard":
        pytest.importorskip("tensorboard")  # TensorFlow 2.21 does not install it (MS517)
    # Callback paths are relative to the folder `train` runs in (MS405).
    monkeypatch.chdir(tmp_path)
    callback = CALLBACKS[name]
    text = TINY.replace("fit: {epochs: 1, batch_size: 4}", f"fit:\n  callbacks:\n    - {callback}")
    trained = trained_in_process(tmp_path, text, good_tiny(), epochs=3)
    epochs_run = len(trained.history["loss"])
    if name == "EarlyStopping":
        assert epochs_run == 2  # no epoch after the first improves the loss by 1000
    else:
        assert epochs_run == 3
    if name == "ModelCheckpoint":
        restored = keras.saving.load_model(tmp_path / "out" / "ckpt.keras")
        assert restored.count_params() == trained.model.count_params()
    if name == "ReduceLROnPlateau":
        rates = trained.history["learning_rate"]
        assert rates[-1] < rates[0]  # no epoch after the first improves the loss by 1000
    if name == "CSVLogger":
        rows = (tmp_path / "log.csv").read_text().splitlines()
        assert rows[0].split(",")[:2] == ["epoch", "loss"] and len(rows) == 4
    if name == "TensorBoard":
        assert list((tmp_path / "out" / "tb").rglob("events.out.tfevents.*"))


@pytest.mark.keras
def test_cli_trains_saves_atomically_and_the_model_reloads(tmp_path: Path):
    keras = pytest.importorskip("keras")
    write(tmp_path, "s.yaml", TINY)
    arrays = good_tiny()
    np.savez(tmp_path / "d.npz", **arrays)
    (tmp_path / "out").mkdir()
    proc = run("train", "s.yaml", "--data", "d.npz", "--epochs", "2", "--batch-size", "8",
               "--validation-split", "0.25", "--out", "out/m.keras", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Epoch 2/2" in proc.stdout  # Keras's progress bar
    finals = proc.stdout.splitlines()[-4:]
    assert [line.split(": ")[0] for line in finals] == ["loss", "mae", "val_loss", "val_mae"]
    assert all(float(line.split(": ")[1]) >= 0 for line in finals)
    assert proc.stderr.splitlines()[-1] == "saved out/m.keras"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["m.keras"]  # no temporary left
    model = keras.saving.load_model(tmp_path / "out" / "m.keras")
    assert model.name == "tiny"
    assert model.predict(arrays["features"], verbose=0).shape == (N, 1)


@pytest.mark.keras
def test_cli_retrains_into_its_own_model_and_force_replaces_the_default(tmp_path: Path):
    import zipfile

    keras = pytest.importorskip("keras")
    write(tmp_path, "s.yaml", TINY)
    np.savez(tmp_path / "d.npz", **good_tiny())
    for _ in range(2):  # the second run replaces the model the first one saved
        proc = run("train", "s.yaml", "--data", "d.npz", "--out", "m.keras", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    comment = zipfile.ZipFile(tmp_path / "m.keras").comment.decode()
    assert comment.startswith("Generated by modelspec train from s.yaml; modelspec-sha256: ")
    assert keras.saving.load_model(tmp_path / "m.keras").name == "tiny"  # Keras ignores it
    (tmp_path / "tiny.keras").write_bytes(b"mine")
    proc = run("train", "s.yaml", "--data", "d.npz", "--force", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert keras.saving.load_model(tmp_path / "tiny.keras").name == "tiny"


# tf.distribute: the TensorFlow backend only (MS550 elsewhere, tests/test_backends.py).
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
TF_ONLY = pytest.mark.skipif(
    BACKEND != "tensorflow", reason=f"tf.distribute needs the TensorFlow backend, not {BACKEND}"
)

# Configures the CPU as two logical devices before TensorFlow starts, then runs the CLI.
TWO_CPUS = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from modelspec.cli import main
sys.argv = ["modelspec", *sys.argv[1:]]
main()
"""


@pytest.mark.keras
@TF_ONLY
def test_cli_trains_under_mirrored_strategy_on_two_logical_cpus(tmp_path: Path):
    keras = pytest.importorskip("keras")
    write(tmp_path, "s.yaml", TINY + "distribution: {strategy: mirrored}\n")
    np.savez(tmp_path / "d.npz", **good_tiny())
    proc = run("train", "s.yaml", "--data", "d.npz", cwd=tmp_path, script=TWO_CPUS)
    assert proc.returncode == 0, proc.stderr
    assert "training with MirroredStrategy: 2 replicas in sync" in proc.stderr
    assert [line.split(": ")[0] for line in proc.stdout.splitlines()[-2:]] == ["loss", "mae"]
    model = keras.saving.load_model(tmp_path / "tiny.keras")
    assert model.count_params() == 4 * 3 + 3 + 3 + 1
    weights = json.dumps([w.tolist() for w in model.get_weights()])
    assert "NaN" not in weights


def _free_ports(n: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.keras
@TF_ONLY
def test_cli_trains_under_multi_worker_mirrored_strategy_with_two_workers(tmp_path: Path):
    """Two local workers, as two machines would run it: see the note on multi-worker reduce."""
    keras = pytest.importorskip("keras")
    write(tmp_path, "s.yaml", TINY)
    np.savez(tmp_path / "d.npz", **good_tiny())
    cluster = {"worker": [f"localhost:{port}" for port in _free_ports(2)]}
    workers = []
    for index in range(2):
        env = {k: v for k, v in os.environ.items() if k != "MODELSPEC_DEBUG"}
        env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})  # fmt: skip
        command = [sys.executable, "-m", "modelspec", "train", "s.yaml", "--data", "d.npz",
                   "--strategy", "multi_worker_mirrored", "--out", "m.keras"]  # fmt: skip
        workers.append(subprocess.Popen(command, cwd=tmp_path, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE))  # fmt: skip
    outputs = [worker.communicate(timeout=120) for worker in workers]
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
        assert "training with MultiWorkerMirroredStrategy: 2 replicas in sync" in err
    (out_0, err_0), (out_1, err_1) = outputs
    # One model trained together: both workers end on the same metrics; the chief saves it.
    assert out_0.splitlines()[-2:] == out_1.splitlines()[-2:]
    assert "saved m.keras" in err_0 and "saved" not in err_1
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".keras"] == ["m.keras"]
    assert keras.saving.load_model(tmp_path / "m.keras").name == "tiny"
