"""Image preprocessing and augmentation: crops, resizing, the Random* layers."""

CASES: list = [
    # CenterCrop and Resizing: batches, one image (rank 3), channels first.
    ("CenterCrop", {"height": 8, "width": 6}, [(None, 16, 16, 3)]),
    ("CenterCrop", {"height": 8, "width": 6}, [(16, 16, 3)]),
    ("CenterCrop", {"height": 4, "width": 4, "data_format": "channels_first"}, [(None, 3, 8, 8)]),
    ("CenterCrop", {"height": 32, "width": 32}, [(None, None, None, 1)]),
    ("Resizing", {"height": 64, "width": 48}, [(None, 32, 32, 3)]),
    ("Resizing", {"height": 10, "width": 12, "interpolation": "nearest"}, [(20, 20, 1)]),
    ("Resizing", {"height": 5, "width": 7, "data_format": "channels_first",
                  "crop_to_aspect_ratio": True}, [(None, 3, 9, 9)]),
    ("Resizing", {"height": 8, "width": 8, "pad_to_aspect_ratio": True, "fill_value": 1.0,
                  "antialias": True}, [(None, None, None, 3)]),
    # Augmentation keeps the shape.
    ("RandomFlip", {}, [(None, 16, 16, 3)]),
    ("RandomFlip", {"mode": "horizontal", "seed": 3}, [(8, 8, 1)]),
    ("RandomRotation", {"factor": 0.1}, [(None, 16, 16, 3)]),
    ("RandomRotation", {"factor": [-0.2, 0.3], "fill_mode": "constant", "fill_value": 1.0,
                        "interpolation": "nearest", "seed": 1}, [(None, 8, 8, 1)]),
    ("RandomZoom", {"height_factor": 0.2}, [(None, 16, 16, 3)]),
    ("RandomZoom", {"height_factor": [-0.3, 0.1], "width_factor": 0.1, "fill_mode": "nearest"},
     [(None, 3, 16, 16)]),
    ("RandomTranslation", {"height_factor": 0.1, "width_factor": 0.2}, [(None, 16, 16, 3)]),
    ("RandomTranslation", {"height_factor": [-0.1, 0.2], "width_factor": 0.0, "seed": 2,
                           "fill_mode": "wrap"}, [(12, 12, 3)]),
    ("RandomContrast", {"factor": 0.2}, [(None, 16, 16, 3)]),
    ("RandomContrast", {"factor": [0.1, 0.4], "value_range": [0, 1], "seed": 5}, [(None, 8, 8, 1)]),
    ("RandomBrightness", {"factor": 0.2}, [(None, 16, 16, 3)]),
    ("RandomBrightness", {"factor": [-0.1, 0.3], "value_range": [0.0, 1.0]}, [(4, 4, 3)]),
    # Keras checks no rank for these when the model is built.
    ("Resizing", {"height": 8, "width": 6}, [(None, 2, 16, 16, 3)]),
    ("Resizing", {"height": 8, "width": 6}, [(None, 16)]),
    ("RandomFlip", {}, [(None, 16)]),
]  # fmt: skip

BAD: list = [
    ("CenterCrop", {"height": 8, "width": 8}, [(None, 16)], "MS301"),
    ("CenterCrop", {"height": 8, "width": 8}, [(None, 2, 16, 16, 3)], "MS301"),
]
