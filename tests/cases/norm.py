"""Conformance cases for modelspec.catalog.norm."""

CASES: list = [
    # BatchNormalization: gamma/beta trainable, moving stats not.
    ("BatchNormalization", {}, [(None, 5)]),
    ("BatchNormalization", {}, [(None, 10, 4)]),
    ("BatchNormalization", {}, [(None, None, None, 3)]),
    ("BatchNormalization", {"axis": 1}, [(None, 3, None, None)]),
    ("BatchNormalization", {"axis": -2}, [(None, 2, 6, 4, 5)]),
    ("BatchNormalization", {"center": False}, [(None, 8)]),
    ("BatchNormalization", {"scale": False}, [(None, 8)]),
    ("BatchNormalization", {"center": False, "scale": False}, [(None, 4, 8)]),
    ("BatchNormalization", {"renorm": True}, [(None, 5)]),
    (
        "BatchNormalization",
        {"renorm": True, "renorm_clipping": {"rmax": 3.0, "rmin": 0.3, "dmax": 5.0}},
        [(None, 4, 6)],
    ),  # fmt: skip
    ("BatchNormalization", {"momentum": 0.9, "epsilon": 1e-5, "synchronized": True}, [(None, 7)]),
    ("BatchNormalization", {"trainable": False}, [(None, 5)]),
    ("BatchNormalization", {"trainable": False, "renorm": True, "center": False}, [(None, 2, 5)]),
    ("BatchNormalization", {"axis": 0}, [(8, 4)]),  # the batch axis, when known
    ("BatchNormalization", {}, [(5,)]),
    # RMSNormalization.
    ("RMSNormalization", {}, [(None, 5)]),
    ("RMSNormalization", {"epsilon": 1e-5}, [(None, None, 16)]),
    ("RMSNormalization", {"axis": 1}, [(None, 3, 5)]),
    ("RMSNormalization", {"axis": [1, 2]}, [(None, 3, 5)]),
    ("RMSNormalization", {"trainable": False}, [(None, 2, 3, 4)]),
    # LayerNormalization.
    ("LayerNormalization", {}, [(None, 5)]),
    ("LayerNormalization", {}, [(None, None, 16)]),
    ("LayerNormalization", {"axis": 1}, [(None, 3, 5)]),
    ("LayerNormalization", {"axis": [1, 2]}, [(None, 3, 5)]),
    ("LayerNormalization", {"axis": [-1, -2, -3]}, [(None, 2, 3, 4)]),
    ("LayerNormalization", {"axis": [1, -1]}, [(None, 3, 5)]),
    ("LayerNormalization", {"axis": [-1, 2]}, [(None, 3, 5)]),  # repeated axis: (5, 5)
    ("LayerNormalization", {"axis": []}, [(4, 3, 5)]),  # scalar gamma and beta
    ("LayerNormalization", {"center": False}, [(None, 6)]),
    ("LayerNormalization", {"scale": False, "epsilon": 1e-6}, [(None, 2, 6)]),
    ("LayerNormalization", {"axis": -1, "trainable": False}, [(None, 2, 3, 4, 5)]),
    ("LayerNormalization", {"axis": 0}, [(4, 3, 5)]),
    # GroupNormalization.
    ("GroupNormalization", {"groups": 4}, [(None, 8)]),
    ("GroupNormalization", {}, [(None, 16, 16, 64)]),
    ("GroupNormalization", {"groups": 2}, [(None, None, 6)]),
    ("GroupNormalization", {"groups": 3, "axis": 1}, [(None, 6, None, None)]),
    ("GroupNormalization", {"groups": -1}, [(None, 3, 5)]),
    ("GroupNormalization", {"groups": 1, "center": False}, [(None, 2, 2, 2, 7)]),
    ("GroupNormalization", {"groups": 5, "scale": False}, [(None, 3, 5)]),
    ("GroupNormalization", {"groups": 2, "trainable": False}, [(None, 4, 4)]),
    ("GroupNormalization", {"groups": 2, "axis": 0}, [(4, 3, 5)]),
    ("GroupNormalization", {"groups": 2}, [(6,)]),
    # UnitNormalization.
    ("UnitNormalization", {}, [(None, 5)]),
    ("UnitNormalization", {"axis": [1, 2]}, [(None, 3, None)]),
    ("UnitNormalization", {"axis": -3, "trainable": False}, [(None, 2, 3, 4)]),
    # Normalization: mean/variance/count weights unless the stats are given.
    ("Normalization", {}, [(None, 5)]),
    # Learned by adapt() in training: built as Keras builds it without stats.
    ("Normalization", {"mean": "adapt", "variance": "adapt"}, [(None, 5)]),
    ("Normalization", {}, [(None, None, 5)]),
    ("Normalization", {"axis": None}, [(None, None, None)]),
    ("Normalization", {"axis": [1, 2]}, [(None, 3, 5)]),
    ("Normalization", {"axis": [-1, 1]}, [(None, 3, 4, 5)]),
    ("Normalization", {"axis": 1, "invert": True}, [(None, 6, None)]),
    ("Normalization", {"trainable": False}, [(None, 3, 5)]),
    ("Normalization", {"mean": 1.0, "variance": 2.0}, [(None, 3, 5)]),
    ("Normalization", {"mean": [1.0] * 5, "variance": [2.0] * 5}, [(None, 3, 5)]),
    ("Normalization", {"mean": [1.0], "variance": [2.0]}, [(None, 3, 5)]),
    ("Normalization", {"mean": [0.0] * 5, "variance": [1.0] * 5, "axis": [1, 2]}, [(None, 3, 5)]),
    (
        "Normalization",
        {"mean": [[0.0] * 5] * 3, "variance": [[1.0] * 5] * 3, "axis": [1, 2]},
        [(None, 3, 5)],
    ),  # fmt: skip
    ("Normalization", {"mean": 0.0, "variance": 1.0, "axis": None}, [(None, 3, None)]),
    ("Normalization", {"axis": [1, 1]}, [(None, 1, 3)]),  # a repeated axis fits at size 1
]
BAD: list = [
    ("BatchNormalization", {}, [(None, None)], "MS302"),
    ("BatchNormalization", {}, [(None,)], "MS302"),
    ("BatchNormalization", {"axis": 2}, [(None, 4)], "MS304"),
    ("BatchNormalization", {"axis": -3}, [(None, 4)], "MS304"),
    ("LayerNormalization", {}, [(None, 3, None)], "MS302"),
    ("LayerNormalization", {"axis": 0}, [(None, 3, 5)], "MS302"),
    ("LayerNormalization", {"axis": [1, 2]}, [(None, None, 5)], "MS302"),
    ("LayerNormalization", {"axis": 3}, [(None, 3, 5)], "MS304"),
    ("LayerNormalization", {"axis": [1, -4]}, [(None, 3, 5)], "MS304"),
    ("RMSNormalization", {}, [(None, 3, None)], "MS302"),
    ("RMSNormalization", {"axis": 3}, [(None, 3, 5)], "MS304"),
    ("GroupNormalization", {"groups": 2}, [(None, 3, None)], "MS302"),
    ("GroupNormalization", {"groups": 2}, [(None, 3, 5)], "MS304"),
    ("GroupNormalization", {"groups": 8}, [(None, 4)], "MS304"),
    ("GroupNormalization", {}, [(None, 16, 16, 48)], "MS304"),
    ("GroupNormalization", {"groups": 2, "axis": 3}, [(None, 3, 4)], "MS304"),
    ("UnitNormalization", {"axis": 3}, [(None, 3, 5)], "MS304"),
    ("UnitNormalization", {"axis": [1, -4]}, [(None, 3, 5)], "MS304"),
    ("Normalization", {}, [(None, 3, None)], "MS302"),
    ("Normalization", {"axis": 1}, [(None, None, 5)], "MS302"),
    ("Normalization", {"mean": 1.0, "variance": 2.0}, [(None, 3, None)], "MS302"),
    ("Normalization", {"axis": 3}, [(None, 3, 5)], "MS304"),
    ("Normalization", {"axis": [1, -4]}, [(None, 3, 5)], "MS304"),
    ("Normalization", {"mean": [1.0] * 4, "variance": [2.0] * 4}, [(None, 3, 5)], "MS304"),
    (
        "Normalization",
        {"mean": [1.0] * 3, "variance": [2.0] * 3, "axis": [1, 2]},
        [(None, 3, 5)],
        "MS304",
    ),  # fmt: skip
    ("Normalization", {"mean": [1.0] * 5, "variance": [2.0] * 4}, [(None, 3, 5)], "MS304"),
    ("Normalization", {"mean": [[1.0] * 5], "variance": [[2.0] * 5]}, [(None, 3, 5)], "MS304"),
    ("Normalization", {"mean": 1.0}, [(None, 3, 5)], "MS304"),
    ("Normalization", {"mean": "adapt", "variance": [2.0] * 5}, [(None, 3, 5)], "MS304"),
    ("Normalization", {"axis": [-2, 1]}, [(None, 4, 3)], "MS304"),
]
