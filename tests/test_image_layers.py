"""The image preprocessing layers beyond their shapes (tests/cases/image.py): what the
schema refuses before Keras would, and the seeds a spec gives the random ones."""

from __future__ import annotations

from modelspec.check import check_text
from modelspec.lower.plan import derive_seed, plan

SPEC = """modelspec: 1
name: aug
seed: 7
inputs:
  x: {shape: [16, 16, 3]}
sequential:
  - {type: RandomFlip, name: flip}
  - {type: RandomRotation, factor: %s, name: turn}
  - {type: CenterCrop, height: 8, width: 8, name: crop}
  - {type: Flatten}
  - {type: Dense, units: 2}
"""


def test_a_factor_keras_would_refuse_is_refused_at_its_line():
    # Keras raises "The `factor` argument should be a number (or a list of two numbers)
    # in the range [-1, 1]" when it builds the layer; lint says so first.
    result = check_text(SPEC % "5.0", "aug.yaml")
    assert [d.format() for d in result.errors] == [
        "aug.yaml:8:36: error MS106: `factor` must be <= 1; got 5.0"
    ]
    assert check_text(SPEC % "[-0.5, 2.0]", "aug.yaml").ok  # a range: Keras checks its ends only


def test_each_random_layer_gets_its_own_seed_and_a_crop_gets_none():
    result = check_text(SPEC % "0.1", "aug.yaml")
    assert result.ok, [d.format() for d in result.diagnostics]
    layers = {name: dict(layer.ctor.kwargs) for name, layer in plan(result).layers.items()}
    assert layers["flip"]["seed"] == derive_seed(7, "flip", "seed")
    assert layers["turn"]["seed"] == derive_seed(7, "turn", "seed")
    assert "seed" not in layers["crop"]
