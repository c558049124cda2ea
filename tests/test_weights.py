"""Weights by layer name: the ``weights:`` section, its lint rules, and loading.

Seed 004 asks for ``load_weights(..., new_conv1='conv1')``: train a conv model, then
reuse its conv layers under new names below a different head. The lint tests need no
Keras (lint never opens the weights file); the loading tests train a real model for
a step, save it as ``.keras`` and ``.weights.h5``, and compare weights exactly.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import modelspec
from modelspec.check import check, check_text
from modelspec.runtime.weights import WeightsWarning

BASE = """\
modelspec: 1
name: base
seed: 3
inputs:
  image: {shape: [6, 6, 1]}
layers:
  conv1: {type: Conv2D, filters: 4, kernel_size: 3, activation: relu}
  conv2: {type: Conv2D, filters: 4, kernel_size: 3, activation: relu}
sequential:
  - conv1
  - conv2
  - {type: Flatten}
  - {type: Dense, units: 3, activation: softmax, name: head}
outputs:
  label: {loss: sparse_categorical_crossentropy}
compile:
  optimizer: {type: Adam, learning_rate: 0.05}
"""

# The conv layers under new names, a different head, and `weights:` to start from.
TUNED = """\
modelspec: 1
name: tuned
seed: 4
inputs:
  image: {{shape: [6, 6, 1]}}
layers:
  new_conv1: {{type: Conv2D, filters: 4, kernel_size: 3, activation: relu}}
  new_conv2: {{type: Conv2D, filters: {filters}, kernel_size: 3, activation: relu}}
graph:
  features: {{apply: [new_conv1, new_conv2, {{type: GlobalAveragePooling2D}}], to: image}}
  out: {{apply: {{type: Dense, units: 2, name: new_head}}, to: features}}
outputs:
  out: {{from: out, loss: mse}}
compile:
  optimizer: adam
{weights}"""

WEIGHTS = "weights:\n  file: {file}\n  map: {{new_conv1: conv1, new_conv2: conv2}}\n{extra}"
MAP = {"new_conv1": "conv1", "new_conv2": "conv2"}


def tuned(filters: int = 4, file: str | None = "runs/base.keras", extra: str = "") -> str:
    weights = "" if file is None else WEIGHTS.format(file=file, extra=extra)
    return TUNED.format(filters=filters, weights=weights)


def codes(result) -> list[tuple[str, int, int]]:
    return [(d.code, d.line, d.col) for d in result.diagnostics]


# === lint: the section, without the file ==================================================


def test_weights_section_is_parsed_and_lint_is_clean_without_the_file(tmp_path: Path):
    (tmp_path / "tuned.yaml").write_text(tuned())
    result = check(tmp_path / "tuned.yaml")
    assert result.diagnostics == []  # runs/base.keras does not exist: lint never opens it
    w = result.spec.weights
    assert (w.file, w.skip_mismatch) == ("runs/base.keras", False)
    assert [(e.new, e.old) for e in w.map] == [("new_conv1", "conv1"), ("new_conv2", "conv2")]


def test_summary_says_where_the_weights_come_from(tmp_path: Path):
    from modelspec.emit.summary import summary_json, summary_table

    (tmp_path / "tuned.yaml").write_text(tuned(extra="  skip_mismatch: true\n"))
    result = check(tmp_path / "tuned.yaml")
    assert summary_json(result)["weights"] == {
        "file": "runs/base.keras",
        "map": MAP,
        "skip_mismatch": True,
    }
    assert summary_table(result).endswith(
        "\n Starts from: runs/base.keras (by layer name, 2 renamed, skipping layers that do "
        "not fit)\n"
    )
    (tmp_path / "plain.yaml").write_text(tuned(file=None))
    assert summary_json(check(tmp_path / "plain.yaml"))["weights"] is None
    assert "Starts from" not in summary_table(check(tmp_path / "plain.yaml"))


def test_weights_as_a_plain_file_name(tmp_path: Path):
    (tmp_path / "s.yaml").write_text(tuned(file=None) + "weights: base.weights.h5\n")
    result = check(tmp_path / "s.yaml")
    assert result.diagnostics == []
    assert (result.spec.weights.file, result.spec.weights.map) == ("base.weights.h5", ())


def test_ms520_map_key_is_not_a_layer_of_the_spec():
    text = tuned().replace("{new_conv1: conv1,", "{new_comv1: conv1,")
    result = check_text(text)
    (d,) = result.diagnostics
    assert (d.code, d.line, d.col) == ("MS520", 18, 9)
    assert d.message == "`weights.map` names layer 'new_comv1', which this spec does not have"
    assert d.hint == "did you mean 'new_conv1'?"


def test_ms521_map_value_is_not_a_layer_name():
    text = tuned().replace("new_conv2: conv2}", 'new_conv2: "conv/2"}')
    (d,) = check_text(text).diagnostics
    assert (d.code, d.line, d.col) == ("MS521", 18, 38)
    assert "'conv/2' is not a layer name" in d.message


def test_ms522_the_file_must_be_weights_h5_keras_or_keras2_h5():
    (d,) = check_text(tuned(file="runs/base.ckpt")).diagnostics
    assert (d.code, d.line, d.col) == ("MS522", 17, 9)
    assert (
        d.message
        == "weights file 'runs/base.ckpt' must end in .weights.h5, .keras or (Keras 2) .h5"
    )
    assert check_text(tuned(file="runs/base.h5")).diagnostics == []
    (d,) = check_text(tuned(file='"base\\0.keras"')).diagnostics  # not a crash looking it up
    assert (d.code, d.line, d.col) == ("MS522", 17, 9)
    assert d.message.endswith("'base\\x00.keras' holds a NUL character, which no file name has")


@pytest.mark.parametrize("file", ["/etc/base.keras", "../../base.keras", "~/base.keras"])
def test_ms523_the_file_must_stay_inside_the_project(tmp_path: Path, file: str):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "s.yaml").write_text(tuned(file=file))
    result = check(tmp_path / "s.yaml")
    assert codes(result) == [("MS523", 17, 9)]


def test_ms523_a_link_that_leads_out_of_the_project(tmp_path: Path):
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    (project / "pyproject.toml").write_text("")
    (project / "base.keras").symlink_to(outside / "base.keras")
    (project / "s.yaml").write_text(tuned(file="base.keras"))
    result = check(project / "s.yaml")
    assert codes(result) == [("MS523", 17, 9)]
    assert "outside the project root" in result.diagnostics[0].message


def test_ms529_a_map_entry_for_a_layer_without_weights():
    text = tuned().replace("new_conv2: conv2}", "new_conv2: conv2, global_average_pooling2d: gap}")
    (d,) = check_text(text).diagnostics
    assert (d.code, d.level) == ("MS529", "warning")
    assert "has no weights" in d.message


def test_ms104_weights_of_the_wrong_type():
    result = check_text(tuned(file=None) + "weights: 5\n")
    assert [d.code for d in result.diagnostics] == ["MS104"]


# === the file as data: links, storage, types and limits, with h5py alone ===================


def refusals(path: Path, **kw) -> list:
    """What opening ``path`` as weights reports (h5py only, nothing loaded)."""
    from modelspec.runtime.weights_file import WeightsError, open_weights

    try:
        with open_weights(path, **kw):
            return []
    except WeightsError as exc:
        return exc.diagnostics


def only_refusal(path: Path, code: str):
    found = refusals(path)
    assert [d.code for d in found] == [code], [d.format() for d in found]
    assert (found[0].file, found[0].line, found[0].col) == (str(path), 1, 1)
    return found[0]


@pytest.fixture
def builders():
    pytest.importorskip("h5py")
    return pytest.importorskip("tests.hostile.builders")


def test_a_file_as_keras_writes_it_opens(builders, tmp_path: Path):
    builders.weights(tmp_path / "w.weights.h5")
    assert refusals(tmp_path / "w.weights.h5") == []


@pytest.mark.parametrize(
    "make, message",
    [
        ("weights_external_link", "'/layers/fc/vars/2' in weights file '{}' is an external link to '/x' in the file '/etc/passwd'; modelspec reads nothing outside the weights file"),
        ("weights_soft_link", "'/layers/fc/vars/0' in weights file '{}' is a soft link to '/../../etc/passwd'; modelspec follows no links in a weights file"),
        ("weights_self_link", "'/layers/fc/vars/again' in weights file '{}' is a hard link back to '/layers/fc/vars', which holds it: a cycle"),
    ],
    ids=["external", "soft", "cycle"],
)  # fmt: skip
def test_ms530_links_are_refused_unfollowed(builders, tmp_path: Path, make: str, message: str):
    path = tmp_path / "w.weights.h5"
    getattr(builders, make)(path)
    d = only_refusal(path, "MS530")
    assert d.message == message.format(path)
    assert d.hint == "save the weights again with Keras (model.save_weights or model.save)"


def test_ms530_a_second_link_to_an_object_and_a_cycle_further_up(builders, tmp_path: Path):
    import h5py

    path = tmp_path / "w.weights.h5"
    builders.weights(path)
    with h5py.File(path, "a") as f:
        f["layers/fc/vars/alias"] = f["layers/fc/vars/0"]
        f["layers/fc/vars/up"] = f["layers"]
    found = refusals(path)
    assert [d.code for d in found] == ["MS530", "MS530"]
    assert found[0].message.startswith("'/layers/fc/vars/alias' in weights file")
    assert found[0].message.endswith("is a second link to '/layers/fc/vars/0'; modelspec reads each object of a weights file by one link only")  # fmt: skip
    assert "'/layers/fc/vars/up' in weights file" in found[1].message
    assert found[1].message.endswith("is a hard link back to '/layers', which holds it: a cycle")


@pytest.mark.parametrize(
    "make, message",
    [
        ("weights_virtual_dataset", "dataset '/layers/fc/vars/0' in weights file '{}' is a virtual dataset, whose data comes from other datasets and files"),
        ("weights_external_storage", "dataset '/layers/fc/vars/0' in weights file '{}' keeps its data in another file, '/etc/passwd'"),
    ],
    ids=["virtual", "external-storage"],
)  # fmt: skip
def test_ms531_data_outside_the_file(builders, tmp_path: Path, make: str, message: str):
    path = tmp_path / "w.weights.h5"
    getattr(builders, make)(path)
    assert only_refusal(path, "MS531").message.startswith(message.format(path))


def test_ms531_compressed_datasets_and_named_types(builders, tmp_path: Path):
    import h5py

    path = tmp_path / "w.weights.h5"
    builders.weights(path)
    with h5py.File(path, "a") as f:
        del f["layers/fc/vars/0"]
        f["layers/fc/vars"].create_dataset("0", data=np.zeros((4, 2), "f4"), compression="gzip")
        f["layers/fc/vars"].create_dataset("2", data=np.zeros(2, "f4"), shuffle=True, fletcher32=True)  # fmt: skip
        f["type"] = np.dtype("f4")
    found = refusals(path)
    assert [d.code for d in found] == ["MS531", "MS531"]
    assert found[0].message == f"'/type' in weights file '{path}' is a named datatype, not a group or a dataset"  # fmt: skip
    assert found[1].message.startswith(f"dataset '/layers/fc/vars/0' in weights file '{path}' is compressed with deflate (gzip)")  # fmt: skip


def test_ms533_datasets_that_are_not_numbers(builders, tmp_path: Path):
    import h5py

    path = tmp_path / "w.weights.h5"
    builders.weights(path)
    with h5py.File(path, "a") as f:
        own = f["layers/fc/vars"]
        own["2"] = np.array([b"ab", b"cd"])
        own.create_dataset("3", data=h5py.Empty("f4"))
        own["4"] = np.zeros(2, dtype=[("a", "f4"), ("b", "i4")])
        own["5"] = np.ones(3, dtype=bool)  # numbers: booleans, complex, float16
        own["6"] = np.ones(3, dtype="c8")
        own["7"] = np.ones(3, dtype="f2")
    found = refusals(path)
    assert [d.code for d in found] == ["MS533"] * 3
    assert found[0].message == f"dataset '/layers/fc/vars/2' in weights file '{path}' holds values of type '|S2', not numbers"  # fmt: skip
    assert found[1].message.endswith("has no shape (an empty dataspace)")
    assert "/layers/fc/vars/4" in found[2].message and "not numbers" in found[2].message


def test_bfloat16_as_keras_stores_it_is_numbers(builders, tmp_path: Path):
    import h5py

    path = tmp_path / "w.weights.h5"
    builders.weights(path)
    with h5py.File(path, "a") as f:
        f["layers/fc/vars"].create_dataset("2", data=np.zeros(3, "V2"))
    assert [d.code for d in refusals(path)] == ["MS533"]  # two opaque bytes, unmarked
    with h5py.File(path, "a") as f:
        f["layers/fc/vars/2"].attrs["dtype"] = "bfloat16"
    assert refusals(path) == []


def test_ms532_depth_fan_out_and_objects(builders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from modelspec.runtime import weights_file as weights_mod

    path = tmp_path / "w.weights.h5"
    builders.weights_deep(path, depth=40)
    d = only_refusal(path, "MS532")
    assert d.message == f"group '/layers/fc/vars/g0/g1/g2/g3/g4/g5/g6/g7/g8/g9/g10/g11/g12/g13/g14/g15/g16/g17/g18/g19/g20/g21/g22/g23/g24/g25/g26/g27/g28/g29' of weights file '{path}' is 33 levels deep; the limit is 32"  # fmt: skip
    assert d.hint == "a limit of modelspec (modelspec.runtime.weights_file.MAX_GROUP_DEPTH); if the file is genuine, raise it (see SECURITY.md)"  # fmt: skip
    builders.weights_wide(path, members=30)
    monkeypatch.setattr(weights_mod, "MAX_GROUP_MEMBERS", 29)
    assert only_refusal(path, "MS532").message == f"group '/layers/fc/vars/wide' of weights file '{path}' has 30 members; the limit is 29"  # fmt: skip
    monkeypatch.undo()
    builders.weights(path)  # /, layers, fc, vars, 0, 1
    monkeypatch.setattr(weights_mod, "MAX_OBJECTS", 5)
    assert only_refusal(path, "MS532").message == f"weights file '{path}' has more than 5 groups and datasets; the limit is 5"  # fmt: skip
    monkeypatch.setattr(weights_mod, "MAX_OBJECTS", 6)
    assert refusals(path) == []


def test_ms532_a_chunk_larger_than_its_dataset(builders, tmp_path: Path):
    import h5py

    path = tmp_path / "w.weights.h5"
    builders.weights(path)
    with h5py.File(path, "a") as f:
        f["layers/fc/vars"].create_dataset("2", shape=(3,), maxshape=(None,), chunks=(2**20,), dtype="f4")  # fmt: skip
        f["layers/fc/vars"].create_dataset("3", shape=(3,), maxshape=(None,), chunks=(1000,), dtype="f4")  # fmt: skip
    d = only_refusal(path, "MS532")
    assert d.message == f"dataset '/layers/fc/vars/2' in weights file '{path}' is read in chunks of 4,194,304 bytes, more than its 12 bytes and than the limit of 1,048,576"  # fmt: skip


def test_ms532_a_file_too_large(builders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from modelspec.runtime import weights_file as weights_mod

    builders.weights(tmp_path / "w.weights.h5")
    size = (tmp_path / "w.weights.h5").stat().st_size
    monkeypatch.setattr(weights_mod, "MAX_WEIGHTS_BYTES", size - 1)
    d = only_refusal(tmp_path / "w.weights.h5", "MS532")
    assert d.message.endswith(
        f"is too large to read: it is {size:,} bytes; the limit is {size - 1:,}"
    )


def test_keras_archives_bombs_members_and_encryption(builders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # fmt: skip
    from modelspec.source import archive

    bomb = tmp_path / "bomb.keras"
    builders.zip_bomb(bomb, gigabytes=5, others={"config.json": "{}"})
    d = only_refusal(bomb, "MS532")
    assert d.message == f"weights file '{bomb}' is too large to read: member 'model.weights.h5' is 5,368,709,120 bytes uncompressed; the limit is 4,294,967,296"  # fmt: skip
    assert "modelspec.runtime.weights_file.MAX_WEIGHTS_BYTES" in d.hint
    h5 = tmp_path / "w.weights.h5"
    builders.weights(h5)
    good = tmp_path / "good.keras"
    builders.write_zip(good, [builders.Member.stored("config.json", b"{}"),
                              builders.Member.stored("model.weights.h5", h5.read_bytes())])  # fmt: skip
    assert refusals(good) == []
    monkeypatch.setattr(archive, "MAX_MEMBERS", 1)
    assert "it has 2 members; the limit is 1" in only_refusal(good, "MS532").message
    monkeypatch.undo()
    locked = tmp_path / "locked.keras"
    builders.write_zip(
        locked, [builders.Member.stored("model.weights.h5", h5.read_bytes(), flags=1)]
    )
    (d,) = refusals(locked)
    assert (d.code, d.message) == ("MS524", f"cannot read weights file '{locked}': member 'model.weights.h5' is encrypted")  # fmt: skip


def test_ms524_a_fifo_is_refused_without_blocking(tmp_path: Path):
    os.mkfifo(tmp_path / "w.weights.h5")
    script = ("from modelspec.runtime.weights_file import open_weights, WeightsError\n"
              "try:\n    open_weights('w.weights.h5').__enter__()\n"
              "except WeightsError as exc:\n    print(exc.diagnostics[0].format())\n")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.stdout.strip() == "w.weights.h5:1:1: error MS524: cannot read weights file 'w.weights.h5': it is not a regular file (a FIFO)"  # fmt: skip


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    raises=subprocess.TimeoutExpired,
    reason="libhdf5 (1.14.6) loops forever reading a variable-length string from a global "
    "heap with an entry of size 0; only a separate process with a CPU limit would bound it",
)
def test_a_damaged_global_heap_is_refused_in_bounded_time(builders, tmp_path: Path):
    builders.weights_heap_loop(tmp_path / "w.weights.h5")
    script = ("from modelspec.runtime.weights_file import layers_by_name, open_weights, WeightsError\n"
              "try:\n    with open_weights('w.weights.h5') as h5:\n        layers_by_name(h5)\n"
              "except WeightsError as exc:\n    print(exc.diagnostics[0].code)\n")  # fmt: skip
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, timeout=20, check=False)


def test_check_planned_reports_at_the_file_from_the_current_folder(
    builders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Problems inside the file are at its line 1, named by its path from where the
    command runs; the spec's own problems (place, a missing file) at `weights:`."""
    from modelspec.lower.plan import plan
    from modelspec.runtime.weights import check_planned

    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "specs" / "runs").mkdir(parents=True)
    (tmp_path / "specs" / "s.yaml").write_text(tuned(file="runs/w.weights.h5"))
    monkeypatch.chdir(tmp_path)
    planned = plan(check(Path("specs/s.yaml"))).weights
    (d,) = check_planned(planned)
    assert (d.code, d.file, d.line, d.col) == ("MS524", "specs/s.yaml", 16, 1)
    assert d.message == "cannot read weights file 'runs/w.weights.h5': no such file"
    builders.weights_soft_link(tmp_path / "specs" / "runs" / "w.weights.h5")
    (d,) = check_planned(planned)
    assert (d.code, d.file, d.line, d.col) == ("MS530", "specs/runs/w.weights.h5", 1, 1)
    builders.weights(tmp_path / "specs" / "runs" / "w.weights.h5")
    assert check_planned(planned) == []


# === loading: seed 004 ====================================================================

keras_only = pytest.mark.keras


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """The base model, trained for two steps and saved both ways, and its weights."""
    pytest.importorskip("keras")
    folder = tmp_path_factory.mktemp("project")
    (folder / "pyproject.toml").write_text("")
    (folder / "base.yaml").write_text(BASE)
    (folder / "runs").mkdir()
    model = modelspec.build_model(folder / "base.yaml")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 6, 6, 1)).astype("float32"), rng.integers(0, 3, size=8)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    model.save(folder / "runs" / "base.keras")
    model.save_weights(folder / "runs" / "base.weights.h5")
    fresh = modelspec.load(folder / "base.yaml").to_keras()
    assert not np.array_equal(fresh.get_layer("conv1").kernel, model.get_layer("conv1").kernel)
    return {
        "folder": folder,
        "weights": {layer.name: [w.numpy() for w in layer.weights] for layer in model.layers},
    }


def _same(layer, arrays) -> bool:
    return len(layer.weights) == len(arrays) and all(
        np.array_equal(w.numpy(), a) for w, a in zip(layer.weights, arrays, strict=True)
    )


def _fresh_head(spec: Path):
    return modelspec.load(spec).to_keras(weights=False).get_layer("new_head").weights


@keras_only
def test_seed_004_conv_layers_reused_under_new_names_from_the_spec(trained):
    spec = trained["folder"] / "tuned.yaml"
    spec.write_text(tuned())
    with pytest.warns(WeightsWarning, match="MS527.*new_head"):
        model = modelspec.build_model(spec)
    assert _same(model.get_layer("new_conv1"), trained["weights"]["conv1"])
    assert _same(model.get_layer("new_conv2"), trained["weights"]["conv2"])
    # The head is new, and starts where a build without weights starts (seeded).
    head = [w.numpy() for w in _fresh_head(spec)]
    assert _same(model.get_layer("new_head"), head)


@keras_only
def test_seed_004_from_a_weights_h5_given_to_the_api(trained):
    spec = trained["folder"] / "plain.yaml"
    spec.write_text(tuned(file=None))
    model = modelspec.load(spec).to_keras(
        weights=trained["folder"] / "runs" / "base.weights.h5", weights_map=MAP
    )
    assert _same(model.get_layer("new_conv1"), trained["weights"]["conv1"])
    assert _same(model.get_layer("new_conv2"), trained["weights"]["conv2"])


@keras_only
def test_seed_004_through_the_generated_module(trained, tmp_path: Path):
    folder = trained["folder"]
    (folder / "tuned.yaml").write_text(tuned())
    out = folder / "gen" / "tuned_model.py"
    out.parent.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "modelspec", "build", "tuned.yaml", "-o", str(out)],
                   cwd=folder, check=True, capture_output=True)  # fmt: skip
    text = out.read_text()
    assert 'WEIGHTS = os.path.join(os.path.dirname(__file__), "../runs/base.keras")' in text
    module_spec = importlib.util.spec_from_file_location("tuned_model", out)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_default = module.build_model()  # the spec's weights, found from the module's folder
        given = module.build_model(weights=str(folder / "runs" / "base.weights.h5"),
                                   weights_map=MAP)  # fmt: skip
        fresh = module.build_model(weights=None)
    for model in (by_default, given):
        assert _same(model.get_layer("new_conv1"), trained["weights"]["conv1"])
        assert _same(model.get_layer("new_conv2"), trained["weights"]["conv2"])
    assert not _same(fresh.get_layer("new_conv1"), trained["weights"]["conv1"])
    # The generated module and the direct build load the same weights.
    direct = modelspec.load(folder / "tuned.yaml").to_keras(weights=folder / "runs" / "base.keras")
    for a, b in zip(by_default.weights, direct.weights, strict=True):
        assert np.array_equal(a.numpy(), b.numpy())


@keras_only
def test_mismatch_is_reported_by_name_before_anything_is_loaded(trained):
    from modelspec.runtime.weights import WeightsError, load_weights_by_name

    spec = trained["folder"] / "wide.yaml"
    spec.write_text(tuned(filters=8, file=None))
    model = modelspec.load(spec).to_keras()
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(WeightsError) as err:
        load_weights_by_name(model, trained["folder"] / "runs" / "base.keras", MAP)
    (d,) = err.value.diagnostics
    assert d.code == "MS525"
    assert d.message == (
        "layer 'new_conv2' (from 'conv2') does not fit the weights in the file: "
        "kernel (vars/0) is (3, 3, 4, 8) in the model, (3, 3, 4, 4) in the file; "
        "bias (vars/1) is (8,) in the model, (4,) in the file"
    )
    # Nothing was assigned, not even new_conv1, which fits.
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights, strict=True))

    with pytest.warns(WeightsWarning, match="MS525.*new_conv2.*skipped"):
        report = load_weights_by_name(
            model, trained["folder"] / "runs" / "base.keras", MAP, skip_mismatch=True
        )
    assert [d.code for d in report.diagnostics] == ["MS525", "MS527"]
    assert report.loaded == (("new_conv1", "conv1"),)
    assert (report.skipped, report.fresh) == (("new_conv2",), ("new_head",))
    assert _same(model.get_layer("new_conv1"), trained["weights"]["conv1"])
    assert all(np.array_equal(a, w.numpy()) for a, w in
               zip(before[2:], model.get_layer("new_conv2").weights, strict=False))  # fmt: skip


@keras_only
def test_mismatch_from_the_spec_points_at_the_map_entry(trained):
    from modelspec.runtime.weights import WeightsError

    spec = trained["folder"] / "wide_spec.yaml"
    spec.write_text(tuned(filters=8))
    with pytest.raises(WeightsError) as err:
        modelspec.build_model(spec)
    (d,) = err.value.diagnostics
    assert (d.code, d.file, d.line, d.col) == ("MS525", str(spec), 18, 27)
    spec.write_text(tuned(filters=8, extra="  skip_mismatch: true\n"))
    with pytest.warns(WeightsWarning, match="MS525"):
        model = modelspec.build_model(spec)
    assert _same(model.get_layer("new_conv1"), trained["weights"]["conv1"])


@keras_only
def test_map_entries_the_file_or_the_model_lacks(trained):
    from modelspec.runtime.weights import WeightsError, load_weights_by_name

    spec = trained["folder"] / "plain.yaml"
    spec.write_text(tuned(file=None))
    model = modelspec.load(spec).to_keras()
    with pytest.raises(WeightsError) as err:
        load_weights_by_name(model, trained["folder"] / "runs" / "base.keras",
                             {"new_conv1": "conv_1", "nope": "conv2"})  # fmt: skip
    assert [(d.code, d.message) for d in err.value.diagnostics] == [
        ("MS526", "`weights_map` names layer 'nope', which the model does not have"),
        ("MS526", "layer 'new_conv1' is mapped to 'conv_1', which "
                  f"'{trained['folder'] / 'runs' / 'base.keras'}' does not have"),
    ]  # fmt: skip
    assert err.value.diagnostics[1].hint == "did you mean 'conv1'?"
    with pytest.raises(WeightsError) as err:
        load_weights_by_name(model, trained["folder"] / "runs" / "base.keras")
    assert [d.code for d in err.value.diagnostics] == ["MS528"]


@keras_only
def test_ms524_files_that_are_not_weights(trained, tmp_path: Path):
    from modelspec.runtime.weights import WeightsError, load_weights_by_name

    model = modelspec.load(trained["folder"] / "base.yaml").to_keras()
    (tmp_path / "junk.weights.h5").write_text("not hdf5")
    (tmp_path / "junk.keras").write_text("not a zip")
    cases = {
        "missing.keras": "no such file",
        "junk.weights.h5": "it is not an HDF5 file of weights",
        "junk.keras": "it is not a zip file",
    }
    for name, why in cases.items():
        with pytest.raises(WeightsError) as err:
            load_weights_by_name(model, tmp_path / name)
        (d,) = err.value.diagnostics
        assert d.code == "MS524" and why in d.message


@keras_only
def test_ms523_checked_again_when_loading(trained, tmp_path: Path):
    from modelspec.runtime.weights import WeightsError

    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "pyproject.toml").write_text("")
    (folder / "s.yaml").write_text(tuned(file="base.keras"))
    spec = modelspec.load(folder / "s.yaml")  # clean: the file is not there yet
    (folder / "base.keras").symlink_to(trained["folder"] / "runs" / "base.keras")
    with pytest.raises(WeightsError) as err:
        spec.to_keras()
    assert [d.code for d in err.value.diagnostics] == ["MS523"]


@keras_only
def test_layers_with_sub_objects_load_by_name(tmp_path: Path):
    """Bidirectional(LSTM), MultiHeadAttention and BatchNormalization's moving
    statistics: the variables below each layer follow Keras's own save walk."""
    import keras

    from modelspec.runtime.weights import load_weights_by_name

    def model(prefix: str, head: int):
        x = keras.Input((5, 4))
        h = keras.layers.BatchNormalization(name=f"{prefix}bn")(x)
        h = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True),
                                       name=f"{prefix}bi")(h)  # fmt: skip
        h = keras.layers.MultiHeadAttention(2, 3, name=f"{prefix}mha")(h, h)
        h = keras.layers.GlobalAveragePooling1D()(h)
        return keras.Model(x, keras.layers.Dense(head, name=f"{prefix}head")(h))

    old = model("", 2)
    old.compile("adam", "mse")
    old.fit(np.ones((4, 5, 4)), np.ones((4, 2)), verbose=0)  # moving statistics change
    old.save(tmp_path / "old.keras")
    new = model("new_", 7)
    mapping = {f"new_{n}": n for n in ("bn", "bi", "mha", "head")}
    with pytest.warns(WeightsWarning, match="MS525.*new_head"):
        report = load_weights_by_name(new, tmp_path / "old.keras", mapping, skip_mismatch=True)
    assert report.skipped == ("new_head",)
    for name in ("bn", "bi", "mha"):
        assert _same(new.get_layer(f"new_{name}"), [w.numpy() for w in old.get_layer(name).weights])


@keras_only
def test_files_keras_writes_pass_the_checks_bfloat16_included(trained, tmp_path: Path):
    import keras

    from modelspec.runtime.weights_file import layers_by_name, open_weights

    for name in ("base.keras", "base.weights.h5"):
        with open_weights(trained["folder"] / "runs" / name) as h5:
            assert {"conv1", "conv2", "head"} <= set(layers_by_name(h5))
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(2, dtype="bfloat16", name="d")(x))
    model.save_weights(tmp_path / "bf.weights.h5")
    with open_weights(tmp_path / "bf.weights.h5") as h5:
        assert layers_by_name(h5)["d"]["vars/0"].attrs["dtype"] == "bfloat16"
    fresh = keras.Model(x, keras.layers.Dense(2, dtype="bfloat16", name="d")(x))
    load_weights = modelspec.load_weights_by_name
    assert load_weights(fresh, tmp_path / "bf.weights.h5").loaded == (("d", "d"),)
    assert _same(fresh.get_layer("d"), [w.numpy() for w in model.get_layer("d").weights])


@keras_only
def test_a_dataset_larger_than_its_layer_is_never_read(trained, tmp_path: Path):
    """A kernel that declares 57 GB (and stores nothing): shapes are compared first,
    so the mismatch is reported and nothing is read."""
    import shutil

    import h5py

    from modelspec.runtime.weights import WeightsError, layers_by_name, load_weights_by_name

    path = tmp_path / "big.weights.h5"
    shutil.copy(trained["folder"] / "runs" / "base.weights.h5", path)
    with h5py.File(path, "a") as f:
        own = layers_by_name(f)["conv1"]["vars"]
        del own["0"]
        own.create_dataset("0", shape=(30_000, 30_000, 4, 4), chunks=(64, 64, 4, 4), dtype="f4")
    model = modelspec.load(trained["folder"] / "base.yaml").to_keras()
    with pytest.raises(WeightsError) as err:
        load_weights_by_name(model, path)
    (d,) = err.value.diagnostics
    assert d.code == "MS525"
    assert "kernel (vars/0) is (3, 3, 1, 4) in the model, (30000, 30000, 4, 4) in the file" in d.message  # fmt: skip


# === modelspec train fine-tunes from `weights:` ===========================================


@keras_only
def test_train_starts_from_the_spec_weights(trained):
    folder = trained["folder"]
    (folder / "tuned.yaml").write_text(tuned())
    rng = np.random.default_rng(1)
    np.savez(folder / "d.npz", image=rng.normal(size=(4, 6, 6, 1)).astype("float32"),
             out=rng.normal(size=(4, 2)).astype("float32"))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "MODELSPEC_DEBUG"}
    ok = subprocess.run([sys.executable, "-m", "modelspec", "train", "tuned.yaml", "--data", "d.npz",
                         "--out", "tuned.keras"], cwd=folder, capture_output=True, text=True, env=env)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "warning MS527: 1 layer found no weights" in ok.stderr
    (folder / "wide.yaml").write_text(tuned(filters=8))
    bad = subprocess.run([sys.executable, "-m", "modelspec", "train", "wide.yaml", "--data", "d.npz",
                          "--out", "wide.keras"], cwd=folder, capture_output=True, text=True, env=env)  # fmt: skip
    assert bad.returncode == 1
    assert "wide.yaml:18:27: error MS525: layer 'new_conv2' (from 'conv2')" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not (folder / "wide.keras").exists()


# === nested models: one name for a layer inside one, flat or nested ======================

# Seed 004 with a nested tower: instances `ta` and `tb` share one tower model, and the
# tower's layers are `ta_enc1` and `ta_enc2` in the spec (`enc1` inside the model `ta`).
FLAT = """\
modelspec: 1
name: flat
seed: 3
inputs:
  x: {shape: [6]}
layers:
  enc1: {type: Dense, units: 8, activation: relu}
  enc2: {type: Dense, units: 4}
  head: {type: Dense, units: 1}
sequential: [enc1, enc2, head]
outputs:
  y: {loss: mse}
compile:
  optimizer: adam
WEIGHTS"""

PAIR = (Path(__file__).resolve().parent / "specs" / "nested_pair.yaml").read_text()

TO_NESTED = "weights:\n  file: runs/flat.keras\n  map: {ta_enc1: enc1, ta_enc2: enc2}\n"


def pair(model: str = "true", weights: str = "") -> str:
    return PAIR.replace("model: true", f"model: {model}", 1) + weights


def _by_name(model) -> dict:
    from modelspec.runtime.weights import named_layers

    return {name: [w.numpy() for w in layer.weights] for name, layer in named_layers(model).items()}


@pytest.fixture(scope="module")
def flat_and_nested(tmp_path_factory) -> dict:
    """The flat model and the nested pair, each trained for a step and saved."""
    pytest.importorskip("keras")
    folder = tmp_path_factory.mktemp("nested")
    (folder / "pyproject.toml").write_text("")
    (folder / "runs").mkdir()
    rng = np.random.default_rng(0)
    (folder / "flat.yaml").write_text(FLAT.replace("WEIGHTS", ""))
    flat = modelspec.build_model(folder / "flat.yaml")
    flat.fit(rng.normal(size=(4, 6)), rng.normal(size=(4, 1)), epochs=1, verbose=0)
    flat.save(folder / "runs" / "flat.keras")
    (folder / "pair.yaml").write_text(pair())
    nested = modelspec.build_model(folder / "pair.yaml")
    x = {"a": rng.normal(size=(4, 6)), "b": rng.normal(size=(4, 6))}
    nested.fit(x, rng.normal(size=(4, 1)), epochs=1, verbose=0)
    nested.save(folder / "runs" / "pair.keras")
    nested.save_weights(folder / "runs" / "pair.weights.h5")
    return {"folder": folder, "flat": _by_name(flat), "pair": _by_name(nested)}


def _equal(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@keras_only
def test_a_flat_models_weights_into_a_nested_one_by_name(flat_and_nested):
    folder, flat = flat_and_nested["folder"], flat_and_nested["flat"]
    (folder / "to_nested.yaml").write_text(pair(weights=TO_NESTED))
    model = modelspec.build_model(folder / "to_nested.yaml")  # the head loads by its own name
    assert model.get_layer("ta").get_layer("enc1").name == "enc1"  # Keras's names inside
    got = _by_name(model)
    assert sorted(n for n in got if got[n]) == ["head", "ta_enc1", "ta_enc2"]
    assert _equal(got["ta_enc1"], flat["enc1"]) and _equal(got["ta_enc2"], flat["enc2"])
    assert _equal(got["head"], flat["head"])
    # Inlined, the same spec loads the same weights into the same names.
    (folder / "to_inlined.yaml").write_text(pair("false", TO_NESTED))
    inlined = _by_name(modelspec.build_model(folder / "to_inlined.yaml"))
    assert all(_equal(inlined[n], got[n]) for n in ("ta_enc1", "ta_enc2", "head"))


@keras_only
@pytest.mark.parametrize("file", ["runs/pair.keras", "runs/pair.weights.h5"])
def test_a_nested_models_weights_into_a_flat_or_inlined_one(flat_and_nested, file: str):
    folder, saved = flat_and_nested["folder"], flat_and_nested["pair"]
    # Into the flat model: its layers mapped to the nested names.
    weights = f"weights:\n  file: {file}\n  map: {{enc1: ta_enc1, enc2: ta_enc2}}\n"
    (folder / "from_nested.yaml").write_text(FLAT.replace("WEIGHTS", weights))
    got = _by_name(modelspec.build_model(folder / "from_nested.yaml"))
    assert _equal(got["enc1"], saved["ta_enc1"]) and _equal(got["enc2"], saved["ta_enc2"])
    assert _equal(got["head"], saved["head"])
    # Into the inlined pair and back into a nested one: the same names, no map.
    for form in ("false", "true"):
        (folder / "same.yaml").write_text(pair(form, f"weights: {file}\n"))
        got = _by_name(modelspec.build_model(folder / "same.yaml"))
        assert all(_equal(got[n], saved[n]) for n in ("ta_enc1", "ta_enc2", "head")), form


@keras_only
def test_a_nested_mismatch_is_reported_by_its_flat_name(flat_and_nested):
    from modelspec.runtime.weights import WeightsError

    folder = flat_and_nested["folder"]
    (folder / "wrong.yaml").write_text(pair(weights=TO_NESTED.replace("ta_enc2: enc2", "ta_enc2: enc1")))  # fmt: skip
    with pytest.raises(WeightsError) as info:
        modelspec.build_model(folder / "wrong.yaml")
    (d,) = info.value.diagnostics
    assert d.code == "MS525" and (d.line, d.col) == (32, 24)  # at its map key
    assert "layer 'ta_enc2' (from 'enc1') does not fit" in d.message
    assert "kernel (vars/0) is (8, 4) in the model, (6, 8) in the file" in d.message


@keras_only
def test_train_loads_a_flat_file_into_nested_towers(flat_and_nested):
    folder = flat_and_nested["folder"]
    (folder / "to_nested.yaml").write_text(pair(weights=TO_NESTED))
    rng = np.random.default_rng(2)
    np.savez(folder / "pair.npz", a=rng.normal(size=(4, 6)).astype("float32"),
             b=rng.normal(size=(4, 6)).astype("float32"), y=rng.normal(size=(4, 1)).astype("float32"))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "MODELSPEC_DEBUG"}
    proc = subprocess.run([sys.executable, "-m", "modelspec", "train", "to_nested.yaml", "--data", "pair.npz",
                           "--epochs", "1", "--out", "tuned.keras"], cwd=folder, capture_output=True, text=True, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "MS52" not in proc.stderr and "Traceback" not in proc.stderr
    assert (folder / "tuned.keras").exists()


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("ta/enc1", "a layer inside a nested model is named `<model>_<layer>`: write 'ta_enc1'"),
        ("ta.enc1", "a layer inside a nested model is named `<model>_<layer>`: write 'ta_enc1'"),
        (
            "enc1",
            "a layer of a block instance is named `<instance>_<layer>`: did you mean 'ta_enc1'?",
        ),  # fmt: skip
    ],
)
def test_ms520_a_nested_layer_written_as_a_path_or_its_own_name(key: str, hint: str):
    text = pair(weights=f"weights:\n  file: runs/flat.keras\n  map: {{'{key}': enc1}}\n")
    result = check_text(text, "pair.yaml")
    (d,) = result.diagnostics
    assert (d.code, d.line, d.col, d.hint) == ("MS520", 32, 9, hint)
    assert d.message == f"`weights.map` names layer '{key}', which this spec does not have"


def test_ms521_a_file_layer_written_as_a_path():
    result = check_text(pair(weights="weights:\n  file: runs/flat.keras\n  map: {ta_enc1: ta/enc1}\n"), "p.yaml")  # fmt: skip
    (d,) = result.diagnostics
    assert d.code == "MS521"
    assert (
        d.hint
        == "a layer inside a nested model of the file is named `<model>_<layer>`: write 'ta_enc1'"
    )


def test_a_map_of_nested_names_lints_clean_in_either_form():
    for form in ("true", "false"):
        result = check_text(pair(form, TO_NESTED), "p.yaml")
        assert result.ok and not result.diagnostics, [d.format() for d in result.diagnostics]


def test_lint_points_a_path_in_the_map_at_the_flat_name(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "pair.yaml").write_text(pair(weights="weights:\n  file: runs/flat.keras\n  map: {ta/enc1: enc1}\n"))  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "modelspec", "lint", "pair.yaml"],
                          cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr + proc.stdout
    out = proc.stdout + proc.stderr
    assert "pair.yaml:32:9: error MS520: `weights.map` names layer 'ta/enc1', which this spec does not have" in out  # fmt: skip
    assert "hint: a layer inside a nested model is named `<model>_<layer>`: write 'ta_enc1'" in out
