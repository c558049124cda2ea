"""Conformance cases for modelspec.catalog.reshape."""

CF = {"data_format": "channels_first"}

CASES: list = [
    # Flatten
    ("Flatten", {}, [(None, 28, 28)]),
    ("Flatten", {}, [(None, 7, 7, 64)]),
    ("Flatten", {}, [(None, None, 8)]),
    ("Flatten", CF, [(None, 3, 4, 5)]),
    ("Flatten", {}, [(None, 10)]),
    ("Flatten", {}, [(None,)]),  # a batch of scalars becomes (batch, 1)
    ("Flatten", {"trainable": False}, [(16, 2, 3)]),
    # Reshape
    ("Reshape", {"target_shape": [28, 28]}, [(None, 784)]),
    ("Reshape", {"target_shape": [-1, 4]}, [(None, 6, 2)]),
    ("Reshape", {"target_shape": [2, -1, 3]}, [(None, 12)]),
    ("Reshape", {"target_shape": [-1]}, [(None, None, 3)]),
    ("Reshape", {"target_shape": [5, 4]}, [(None, None, 4)]),  # size unchecked
    ("Reshape", {"target_shape": [1, 1, 12]}, [(8, 3, 4)]),
    # Permute
    ("Permute", {"dims": [2, 1]}, [(None, 3, 4)]),
    ("Permute", {"dims": [3, 1, 2]}, [(None, 2, None, 5)]),
    ("Permute", {"dims": [1]}, [(None, 7)]),
    ("Permute", {"dims": [1, 3, 2, 4]}, [(4, 2, 3, 5, 6)]),
    # RepeatVector
    ("RepeatVector", {"n": 3}, [(None, 32)]),
    ("RepeatVector", {"n": 1}, [(None, None)]),
    ("RepeatVector", {"n": 10}, [(8, 5)]),
    # Cropping1D
    ("Cropping1D", {}, [(None, 10, 4)]),
    ("Cropping1D", {"cropping": 3}, [(None, 10, 4)]),
    ("Cropping1D", {"cropping": [0, 2]}, [(None, 10, 4)]),
    ("Cropping1D", {"cropping": [4, 5]}, [(None, None, 4)]),
    # Cropping2D
    ("Cropping2D", {}, [(None, 28, 28, 3)]),
    ("Cropping2D", {"cropping": 2}, [(None, 28, 20, 3)]),
    ("Cropping2D", {"cropping": [1, 3]}, [(None, 28, 20, 3)]),
    ("Cropping2D", {"cropping": [[1, 2], [3, 4]]}, [(None, 28, None, 3)]),
    ("Cropping2D", {"cropping": [2, [0, 1]], **CF}, [(None, 3, 10, 12)]),
    # Cropping3D
    ("Cropping3D", {}, [(None, 8, 8, 8, 2)]),
    ("Cropping3D", {"cropping": 2}, [(None, 8, 9, 10, 2)]),
    ("Cropping3D", {"cropping": [1, 0, 2]}, [(None, 8, None, 10, 2)]),
    ("Cropping3D", {"cropping": [[0, 1], [2, 0], [1, 1]], **CF}, [(None, 2, 5, 6, 7)]),
    # ZeroPadding1D
    ("ZeroPadding1D", {}, [(None, 10, 4)]),
    ("ZeroPadding1D", {"padding": [2, 0]}, [(None, 10, 4)]),
    ("ZeroPadding1D", {"padding": 3}, [(None, None, 4)]),
    ("ZeroPadding1D", {"padding": [1, 2], **CF}, [(None, 4, 10)]),
    # ZeroPadding2D
    ("ZeroPadding2D", {}, [(None, 28, 28, 3)]),
    ("ZeroPadding2D", {"padding": 2}, [(None, 5, None, 3)]),
    ("ZeroPadding2D", {"padding": [1, 0]}, [(None, 5, 6, 3)]),
    ("ZeroPadding2D", {"padding": [[1, 2], [3, 4]], **CF}, [(None, 3, 5, 6)]),
    # ZeroPadding3D
    ("ZeroPadding3D", {}, [(None, 4, 4, 4, 1)]),
    ("ZeroPadding3D", {"padding": 2}, [(None, 4, None, 4, 1)]),
    ("ZeroPadding3D", {"padding": [1, [0, 2], 3]}, [(None, 4, 5, 6, 1)]),
    ("ZeroPadding3D", {"padding": [[0, 1], [1, 0], [2, 2]], **CF}, [(None, 1, 4, 5, 6)]),
    # UpSampling1D
    ("UpSampling1D", {}, [(None, 10, 4)]),
    ("UpSampling1D", {"size": 3}, [(None, 10, 4)]),
    ("UpSampling1D", {"size": 4}, [(2, None, 4)]),
    # UpSampling2D
    ("UpSampling2D", {}, [(None, 14, 14, 8)]),
    ("UpSampling2D", {"size": 3}, [(None, 14, None, 8)]),
    ("UpSampling2D", {"size": [1, 2], "interpolation": "bilinear"}, [(None, 5, 6, 8)]),
    ("UpSampling2D", {"size": [2, 3], **CF}, [(None, 8, 5, 6)]),
    ("UpSampling2D", {"interpolation": "bicubic", **CF}, [(None, 8, None, 6)]),
    # UpSampling3D
    ("UpSampling3D", {}, [(None, 4, 4, 4, 2)]),
    ("UpSampling3D", {"size": 3}, [(None, 4, None, 4, 2)]),
    ("UpSampling3D", {"size": [1, 2, 3], **CF}, [(None, 2, 4, 5, 6)]),
]

BAD: list = [
    ("Reshape", {"target_shape": [27, 28]}, [(None, 784)], "MS304"),
    ("Reshape", {"target_shape": [-1, 5]}, [(None, 12)], "MS304"),
    ("Reshape", {"target_shape": [-1, -1]}, [(None, 12)], "MS304"),
    ("Permute", {"dims": [1, 3]}, [(None, 3, 4)], "MS304"),
    ("Permute", {"dims": [0, 1]}, [(None, 3, 4)], "MS304"),
    ("Permute", {"dims": [2, 1]}, [(None, 3, 4, 5)], "MS301"),
    ("RepeatVector", {"n": 3}, [(None, 4, 5)], "MS301"),
    ("Cropping1D", {"cropping": [5, 5]}, [(None, 10, 4)], "MS304"),
    ("Cropping1D", {}, [(None, 10)], "MS301"),
    ("Cropping2D", {"cropping": [[0, 0], [3, 3]]}, [(None, 10, 6, 3)], "MS304"),
    ("Cropping2D", {"cropping": 2, **CF}, [(None, 3, 4, 10)], "MS304"),
    ("Cropping2D", {}, [(None, 10, 3)], "MS301"),
    ("Cropping3D", {"cropping": [0, 0, 4]}, [(None, 8, 8, 8, 2)], "MS304"),
    ("Cropping3D", {}, [(None, 8, 8, 2)], "MS301"),
    ("ZeroPadding1D", {}, [(None, 10, 4, 1)], "MS301"),
    ("ZeroPadding2D", {}, [(None, 10, 4)], "MS301"),
    ("ZeroPadding3D", {}, [(None, 10, 4, 4)], "MS301"),
    ("UpSampling1D", {}, [(None, 10)], "MS301"),
    ("UpSampling2D", {}, [(None, 10, 4)], "MS301"),
    ("UpSampling3D", {}, [(None, 4, 4, 4)], "MS301"),
]
