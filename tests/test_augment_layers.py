"""The augmentation layers of catalog/augment.py beyond their shapes (tests/cases/augment.py):
what the schema refuses before Keras would, the seeds a spec gives them, and a model of
them through import, lint, summary and build."""

from __future__ import annotations

import pytest

from modelspec.check import check_text
from modelspec.lower.plan import derive_seed, plan

SPEC = """modelspec: 1
name: aug
seed: 7
inputs:
  x: {shape: [32, 32, 3]}
sequential:
  - {type: RandomCrop, height: 24, width: 24, name: crop}
  - {type: %s, name: aug}
  - {type: AutoContrast, name: contrast}
  - {type: GlobalAveragePooling2D}
  - {type: Dense, units: 2}
"""


def _errors(layer: str) -> list[str]:
    return [d.format() for d in check_text(SPEC % layer, "aug.yaml").errors]


@pytest.mark.parametrize(
    ("layer", "error"),
    [
        # Keras: "kernel_size must be an odd number. Received: kernel_size=4"
        ("RandomGaussianBlur, kernel_size: 4", "8:45: error MS106: `kernel_size` must be odd; got 4"),
        ("RandomGaussianBlur, kernel_size: [3, 6]",
         "8:49: error MS106: `kernel_size[1]` must be odd; got 6"),
        # Keras: "The `factor` argument should be a number (or a list of two numbers)
        # in the range [1, 8]"
        ("RandomPosterization, factor: 9", "8:41: error MS106: `factor` must be <= 8; got 9"),
        ("RandomPosterization, factor: 0", "8:41: error MS106: `factor` must be >= 1; got 0"),
        # Keras: "`factor` should be between 0 and 1"
        ("RandomGrayscale, factor: 1.5", "8:37: error MS106: `factor` must be <= 1; got 1.5"),
        ("RandomHue, factor: -0.1", "8:31: error MS106: `factor` must be >= 0; got -0.1"),
        # Solarization and RandomShear check both ends of a range.
        ("Solarization, addition_factor: [0.1, 1.5]",
         "8:49: error MS106: `addition_factor[1]` must be <= 1; got 1.5"),
        ("RandomShear, x_factor: [-0.2, 0.2]",
         "8:36: error MS106: `x_factor[0]` must be >= 0; got -0.2"),
        # Keras raises NotImplementedError for any interpolation but these two.
        ("RandomShear, interpolation: bicubic",
         "8:40: error MS105: unknown value 'bicubic' for `interpolation`"),
        ("RandAugment, factor: [0.5, 1.2]", "8:39: error MS106: `factor[1]` must be <= 1; got 1.2"),
        ("RandomPerspective, scale: 2.0", "8:38: error MS106: `scale` must be <= 1; got 2.0"),
        ("RandomElasticTransform, fill_mode: edge",
         "8:47: error MS105: unknown value 'edge' for `fill_mode`"),
    ],
)  # fmt: skip
def test_what_keras_refuses_at_construction_is_refused_at_its_line(layer, error):
    assert [e.removeprefix("aug.yaml:") for e in _errors(layer)] == [error]


def test_ranges_keras_takes_are_taken():
    for layer in (
        "RandomGaussianBlur, kernel_size: [3, 7], sigma: [0.2, 0.9]",
        "Solarization, addition_factor: [0.0, 1.0], threshold_factor: 0.5",
        "RandomColorJitter, brightness_factor: [-0.2, 0.3], hue_factor: 0.1",
        "RandomPosterization, factor: [2, 8]",
        "RandomGrayscale",
    ):
        assert _errors(layer) == [], layer


def test_random_layers_get_their_own_seed_and_the_others_none():
    result = check_text(SPEC % "RandAugment", "aug.yaml")
    assert result.ok, [d.format() for d in result.diagnostics]
    layers = {name: dict(layer.ctor.kwargs) for name, layer in plan(result).layers.items()}
    assert layers["crop"]["seed"] == derive_seed(7, "crop", "seed")
    assert layers["aug"]["seed"] == derive_seed(7, "aug", "seed")
    assert "seed" not in layers["contrast"]  # AutoContrast draws nothing and takes no seed


def test_random_crop_gives_its_size_and_checks_the_rank():
    result = check_text(SPEC % "RandomHue, factor: 0.1", "aug.yaml")
    assert result.ok
    assert result.shapes.tensors["crop"] == (None, 24, 24, 3)
    grey = SPEC.replace("[32, 32, 3]", "[32, 32, 1]") % "RandomHue, factor: 0.1"
    assert [d.format() for d in check_text(grey, "aug.yaml").errors] == [
        "aug.yaml:8:5: error MS302: `RandomHue` 'aug' works on RGB images, of 3 channels; got 1 "
        "channel: (None, 24, 24, 1)"
    ]


def _augmenting_model(keras):
    """A classifier behind most of the augmentation layers, as a Keras user writes it."""
    layers = keras.layers
    inputs = keras.Input((32, 32, 3), name="image")
    x = layers.RandomCrop(24, 24, seed=1, name="crop")(inputs)
    for layer in (
        layers.RandomFlip(seed=5),
        layers.RandomRotation(0.1),
        layers.RandomGrayscale(factor=0.2),
        layers.RandomHue(0.1, value_range=(0, 1), seed=2),
        layers.RandomSaturation([0.2, 0.6], seed=3),
        layers.RandomColorDegeneration(0.3),
        layers.RandomSharpness(0.4, seed=4),
        layers.RandomInvert(0.5),
        layers.RandomPosterization(4),
        layers.Solarization(addition_factor=0.1, threshold_factor=[0.2, 0.6]),
        layers.AutoContrast(value_range=(0, 1)),
        layers.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(4, 4)),
        layers.RandomGaussianBlur(kernel_size=5, sigma=0.5),
        layers.RandomErasing(scale=(0.1, 0.2), fill_value=0.0),
        layers.RandomShear(x_factor=0.2, fill_mode="constant"),
        layers.RandomPerspective(scale=0.5, interpolation="nearest"),
        layers.RandomElasticTransform(scale=0.3, fill_mode="mirror"),
        layers.RandomColorJitter(brightness_factor=0.1, hue_factor=0.2),
        layers.RandAugment(num_ops=1, factor=0.2),
        layers.AugMix(num_chains=2, chain_depth=2, all_ops=False),
        layers.CutMix(0.5),
        layers.MixUp(alpha=0.3),
        layers.MaxNumBoundingBoxes(max_number=5),
    ):
        x = layer(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs, name="augmented")


@pytest.mark.keras
def test_a_model_of_augmentation_layers_imports_lints_summarizes_and_builds():
    keras = pytest.importorskip("keras")
    from tests.conformance import prove_import

    keras.backend.clear_session()
    proof = prove_import(_augmenting_model(keras), "augmented.json")
    assert proof.failure is None, proof.failure
    assert proof.reached == "sequential"  # a plain chain: proven as a Sequential too
    spec = proof.result.text
    # What Keras saved comes back as a person writes it: a factor `f` (saved as the range
    # it stands for), a kernel size (saved as a pair), a seed given to the layer.
    assert "{type: RandomCrop, height: 24, width: 24, seed: 1" in spec
    assert "{type: RandomHue, factor: 0.1, value_range: [0, 1], seed: 2" in spec
    assert "{type: RandomGaussianBlur, kernel_size: 5, sigma: 0.5" in spec
    assert "{type: RandomShear, x_factor: 0.2, fill_mode: constant" in spec
    assert "{type: RandomInvert, factor: 0.5" in spec
    assert "{type: Solarization, addition_factor: 0.1, threshold_factor: [0.2, 0.6]" in spec


@pytest.mark.keras
def test_random_crop_crops_in_training_and_passes_the_image_on_outside(tmp_path):
    """Keras's RandomCrop makes its crop in training only: the spec's shape is the
    training one, as is Keras's own symbolic shape."""
    pytest.importorskip("keras")
    import numpy as np

    import modelspec

    path = tmp_path / "crop.yaml"
    path.write_text(
        "modelspec: 1\nname: crop\nseed: 7\ninputs:\n  x: {shape: [32, 32, 3]}\n"
        "sequential:\n  - {type: RandomCrop, height: 24, width: 20}\n"
    )
    model = modelspec.load(path).to_keras()
    batch = np.zeros((2, 32, 32, 3), "float32")
    assert tuple(model(batch, training=True).shape) == (2, 24, 20, 3)
    assert tuple(model(batch, training=False).shape) == (2, 32, 32, 3)
    assert model.predict(batch, verbose=0).shape == (2, 32, 32, 3)


def test_equalization_is_refused_with_keras_s_reason():
    errors = _errors("Equalization")
    assert len(errors) == 1 and errors[0].startswith(
        "aug.yaml:8:12: error MS105: unsupported layer type 'Equalization' in "
    )
    assert "part of a cycle" in errors[0]


@pytest.mark.keras
def test_keras_builds_no_model_that_holds_equalization():
    """The reason Equalization is left out of the catalogue: when this fails, Keras has
    fixed it, and the layer can join catalog/augment.py."""
    keras = pytest.importorskip("keras")

    inputs = keras.Input((16, 16, 3))
    assert keras.layers.Equalization()(inputs) is inputs
    with pytest.raises(ValueError, match="part of a cycle"):
        keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Equalization()])


# (type, kwargs): Keras's constructor and the schema both take these, or both refuse them.
CONSTRUCTION = [
    ("RandomGrayscale", {"factor": -0.1}),
    ("RandomGrayscale", {"factor": 1.0}),
    ("RandomHue", {"factor": 1.2}),
    ("RandomHue", {"factor": [0.2, 1.5]}),
    ("RandomSaturation", {"factor": -0.5}),
    ("RandomSaturation", {"factor": -1.5}),
    ("RandomColorDegeneration", {"factor": [0.1, 0.2, 0.3]}),
    ("RandomSharpness", {"factor": 0.0}),
    ("RandomInvert", {"factor": 1.01}),
    ("RandomPosterization", {"factor": 8}),
    ("RandomPosterization", {"factor": 0.5}),
    ("Solarization", {"addition_factor": [0.2, 1.2]}),
    ("Solarization", {"threshold_factor": 1.0}),
    ("RandomGaussianBlur", {"kernel_size": 2}),
    ("RandomGaussianBlur", {"kernel_size": [5, 3]}),
    ("RandomGaussianBlur", {"sigma": 1.5}),
    ("RandomGaussianBlur", {"sigma": [0.5, 3.0]}),  # a range's upper end is not bounded
    ("RandomErasing", {"scale": 1.2}),
    ("RandomShear", {"x_factor": -0.2}),
    ("RandomShear", {"y_factor": [0.0, 1.0]}),
    ("RandomShear", {"interpolation": "bicubic"}),
    ("RandomShear", {"fill_mode": "mirror"}),
    ("RandomPerspective", {"scale": -0.1}),
    ("RandomPerspective", {"interpolation": "area"}),
    ("RandomElasticTransform", {"fill_mode": "mirror"}),
    ("RandomElasticTransform", {"scale": 2.0}),
    ("RandomColorJitter", {"hue_factor": 1.5}),
    ("RandomColorJitter", {"contrast_factor": -0.2}),
    ("RandomColorJitter", {"brightness_factor": -0.2}),
    ("RandAugment", {"factor": [0.2, 1.0]}),
    ("RandAugment", {"factor": [-0.1, 0.5]}),
    ("RandAugment", {"interpolation": "bicubic"}),
    ("AugMix", {"factor": 1.1}),
    ("AugMix", {"factor": [0.0, 0.4]}),
    ("CutMix", {"factor": -0.5}),
]


@pytest.mark.keras
@pytest.mark.parametrize(("type_name", "kwargs"), CONSTRUCTION, ids=str)
def test_the_schema_refuses_what_keras_s_constructor_refuses(type_name, kwargs):
    pytest.importorskip("keras")
    from tests.keras_truth import build_layer

    line = ", ".join(f"{k}: {v}" for k, v in kwargs.items())
    refused = bool(_errors(f"{type_name}, {line}"))
    try:
        build_layer(type_name, kwargs)
        keras_refuses = False
    except (ValueError, TypeError, NotImplementedError):
        keras_refuses = True
    assert refused == keras_refuses


@pytest.mark.keras
def test_a_pipeline_imports_with_its_layers_and_their_weights():
    keras = pytest.importorskip("keras")
    from tests.conformance import prove_import

    keras.backend.clear_session()
    layers = keras.layers
    inputs = keras.Input((16, 16, 3), name="image")
    augment = layers.Pipeline(
        [
            layers.RandomFlip(seed=1),
            layers.Pipeline([layers.RandomCrop(8, 8, seed=2), layers.AutoContrast()]),
            layers.Conv2D(4, 3, name="mixer"),
        ],
        name="augment",
    )
    x = layers.GlobalAveragePooling2D()(augment(inputs))
    model = keras.Model(inputs, layers.Dense(2)(x))
    proof = prove_import(model, "piped.json")
    assert proof.failure is None, proof.failure
    spec = proof.result.text
    assert "type: Pipeline" in spec and "{type: Conv2D, filters: 4, kernel_size: 3" in spec
    assert "{type: RandomCrop, height: 8, width: 8, seed: 2}" in spec
