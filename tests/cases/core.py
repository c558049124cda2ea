"""Conformance cases for modelspec.catalog.core."""

CASES: list = [
    ("Dense", {"units": 8}, [(None, 4)]),
    ("Dense", {"units": 3, "use_bias": False}, [(None, 5, 7)]),
    ("Dense", {"units": 2, "trainable": False}, [(None, 6)]),
    # EinsumDense: plain, ellipsis on either side, several kernel/bias layouts.
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 64, "bias_axes": "c"}, [(None, 32)]),
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": [16]}, [(4, 32)]),
    (
        "EinsumDense",
        {"equation": "abc,cd->abd", "output_shape": [None, 64], "bias_axes": "d"},
        [(None, 32, 128)],
    ),  # fmt: skip
    (
        "EinsumDense",
        {"equation": "abc,cd->abd", "output_shape": [32, 64], "bias_axes": "bd"},
        [(None, 32, 128)],
    ),  # fmt: skip
    (
        "EinsumDense",
        {"equation": "abc,cde->abde", "output_shape": [None, 4, 8], "bias_axes": "de"},
        [(None, None, 16)],
    ),  # fmt: skip
    (
        "EinsumDense",
        {"equation": "abcd,cde->abe", "output_shape": [None, 10], "bias_axes": "e"},
        [(None, 7, 4, 8)],
    ),  # fmt: skip
    (
        "EinsumDense",
        {"equation": "abc,bcd->ad", "output_shape": 10, "bias_axes": "d"},
        [(None, 3, 4)],
    ),  # fmt: skip
    (
        "EinsumDense",
        {"equation": "...b,bc->...c", "output_shape": 64, "bias_axes": "c"},
        [(None, 32, 128)],
    ),  # fmt: skip
    ("EinsumDense", {"equation": "...b,bc->...c", "output_shape": 64}, [(None, 128)]),
    (
        "EinsumDense",
        {"equation": "...ab,bc->...ac", "output_shape": [None, 64], "bias_axes": "c"},
        [(None, 3, 128)],
    ),  # fmt: skip
    (
        "EinsumDense",
        {"equation": "ab...,bc->ac...", "output_shape": 64, "bias_axes": "c"},
        [(None, 128, 3, 4)],
    ),  # fmt: skip
    (
        "EinsumDense",
        {"equation": "ab,bcx->acx", "output_shape": [64, 2], "bias_axes": "cx"},
        [(None, 128)],
    ),  # fmt: skip
    ("EinsumDense", {"equation": "ab,b->a", "output_shape": []}, [(None, 128)]),
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 8, "trainable": False}, [(None, 5)]),
    # Keras quirks, pinned: a left ellipsis over several axes lists them reversed in
    # the symbolic shape; extra axes on a non-ellipsis equation are appended.
    ("EinsumDense", {"equation": "...b,bc->...c", "output_shape": 64}, [(None, 2, 3, 128)]),
    (
        "EinsumDense",
        {"equation": "ab,bc->ac", "output_shape": 64, "bias_axes": "c"},
        [(None, 5, 7)],
    ),  # fmt: skip
    ("EinsumDense", {"equation": "ab,bc->ac...", "output_shape": 64}, [(None, 128)]),
    ("EinsumDense", {"equation": "...b,bc->...c", "output_shape": 64, "bias_axes": "c"}, [(128,)]),
    # Embedding: any input rank, the table does not depend on it.
    ("Embedding", {"input_dim": 1000, "output_dim": 64}, [(None, 10)]),
    ("Embedding", {"input_dim": 10, "output_dim": 3}, [(None,)]),
    ("Embedding", {"input_dim": 50, "output_dim": 8, "mask_zero": True}, [(None, None)]),
    ("Embedding", {"input_dim": 10, "output_dim": 3, "trainable": False}, [(None, None, 2)]),
    ("Embedding", {"input_dim": 7, "output_dim": 5}, [(4, 2, 3, 6)]),
    # ReversibleEmbedding, called forwards: an Embedding, plus a reverse matrix if untied.
    ("ReversibleEmbedding", {"input_dim": 1000, "output_dim": 64}, [(None, 10)]),
    ("ReversibleEmbedding", {"input_dim": 10, "output_dim": 3, "tie_weights": False}, [(None,)]),
    (
        "ReversibleEmbedding",
        {
            "input_dim": 50,
            "output_dim": 8,
            "mask_zero": True,
            "reverse_dtype": "bfloat16",
            "logit_soft_cap": 30.0,
        },
        [(None, None)],
    ),
    (
        "ReversibleEmbedding",
        {
            "input_dim": 10,
            "output_dim": 3,
            "tie_weights": False,
            "trainable": False,
            "embeddings_initializer": "he_normal",
        },
        [(None, None, 2)],
    ),
    (
        "ReversibleEmbedding",
        {
            "input_dim": 7,
            "output_dim": 5,
            "embeddings_regularizer": "l2",
            "embeddings_constraint": "unit_norm",
        },
        [(4, 2, 3, 6)],
    ),
    # Activations.
    ("Activation", {"activation": "relu"}, [(None, 4)]),
    ("Activation", {"activation": "softmax"}, [(None, None, 8)]),
    ("Activation", {"activation": None, "trainable": False}, [(None, 3, 4, 5)]),
    ("ReLU", {}, [(None, 4)]),
    ("ReLU", {"max_value": 6.0, "negative_slope": 0.1, "threshold": 0.5}, [(None, 3, None)]),
    ("ReLU", {"max_value": 0}, [(None, 2, 3, 4, 5)]),
    ("LeakyReLU", {}, [(None, 8)]),
    ("LeakyReLU", {"negative_slope": 0.01}, [(None, None, 3)]),
    ("PReLU", {}, [(None, 4)]),
    ("PReLU", {}, [(None, 4, 3)]),
    ("PReLU", {}, [(None,)]),  # rank 1: a scalar alpha
    ("PReLU", {"shared_axes": [1, 2]}, [(None, 8, 8, 3)]),
    ("PReLU", {"shared_axes": [1, 2]}, [(None, None, None, 3)]),
    ("PReLU", {"shared_axes": 2}, [(None, 4, None)]),
    ("PReLU", {"shared_axes": [1, 2, 3]}, [(None, 2, 3, 4, 5)]),
    ("PReLU", {"shared_axes": [3]}, [(None, 2, 3, 4)]),
    ("PReLU", {"trainable": False}, [(None, 4, 3)]),
    ("PReLU", {"shared_axes": 0}, [(None, 4, 3)]),  # Keras: index -1, shares the last axis
    ("ELU", {}, [(None, 4)]),
    ("ELU", {"alpha": 0.5}, [(None, 2, 3, 4)]),
    ("Softmax", {}, [(None, 10)]),
    ("Softmax", {"axis": 1}, [(None, 5, 3)]),
    ("Softmax", {"axis": [1, 2]}, [(None, 4, 3)]),
    ("Softmax", {"axis": 5}, [(None, 4)]),  # Keras does not check the axis when building
    # Dropout and noise.
    ("Dropout", {"rate": 0.5}, [(None, 4)]),
    ("Dropout", {"rate": 0.0, "seed": 3}, [(None, None, 8)]),
    ("Dropout", {"rate": 0.2, "noise_shape": [None, 1, 8]}, [(None, 5, 8)]),
    ("Dropout", {"rate": 0.3, "trainable": False}, [(None, 2, 3, 4, 5)]),
    ("SpatialDropout1D", {"rate": 0.5}, [(None, 10, 4)]),
    ("SpatialDropout1D", {"rate": 0.1, "seed": 1}, [(None, None, None)]),
    ("SpatialDropout2D", {"rate": 0.5}, [(None, 8, 8, 3)]),
    ("SpatialDropout2D", {"rate": 0.5, "data_format": "channels_first"}, [(None, 3, None, 8)]),
    ("SpatialDropout3D", {"rate": 0.5}, [(None, 4, 4, 4, 2)]),
    (
        "SpatialDropout3D",
        {"rate": 0.2, "data_format": "channels_first", "seed": 7},
        [(None, 2, None, None, None)],
    ),  # fmt: skip
    ("AlphaDropout", {"rate": 0.5}, [(None, 4)]),
    ("AlphaDropout", {"rate": 0.1, "seed": 1, "noise_shape": [None, 1, 8]}, [(None, 5, 8)]),
    ("ActivityRegularization", {}, [(None, 4)]),
    ("ActivityRegularization", {"l1": 0.01, "l2": 0.001}, [(None, None, 3)]),
    ("GaussianNoise", {"stddev": 0.1}, [(None, 4)]),
    ("GaussianNoise", {"stddev": 1.0, "seed": 2}, [(None, None, 3)]),
    ("GaussianNoise", {"stddev": 0.0, "trainable": False}, [(None, 2, 3, 4)]),
    ("GaussianDropout", {"rate": 0.1}, [(None, 4)]),
    ("GaussianDropout", {"rate": 0.5, "seed": 0}, [(None, 2, None, 4, 5)]),
    # Masking and Rescaling.
    ("Masking", {}, [(None, 10, 4)]),
    ("Masking", {"mask_value": -1.0}, [(None, None, 8)]),
    ("Masking", {"trainable": False}, [(None,)]),
    ("Rescaling", {"scale": 1 / 255}, [(None, 32, 32, 3)]),
    ("Rescaling", {"scale": 2, "offset": -1}, [(None, 4)]),
    ("Rescaling", {"scale": 0.5, "offset": 0.25}, [(None, None, None, None, 1)]),
]
BAD: list = [
    ("Dense", {"units": 8}, [(None,)], "MS301"),
    ("Dense", {"units": 8}, [(None, None)], "MS302"),
    # EinsumDense.
    ("EinsumDense", {"equation": "ab,bc", "output_shape": 64}, [(None, 128)], "MS304"),
    ("EinsumDense", {"equation": "a b,bc->ac", "output_shape": 64}, [(None, 128)], "MS304"),
    ("EinsumDense", {"equation": "a...b,bc->ac", "output_shape": 64}, [(None, 128)], "MS304"),
    ("EinsumDense", {"equation": "a...,bc->ac...", "output_shape": 64}, [(None, 128)], "MS304"),
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 64}, [(None,)], "MS301"),
    (
        "EinsumDense",
        {"equation": "...ab,bc->...ac", "output_shape": [None, 64]},
        [(None,)],
        "MS301",
    ),  # fmt: skip
    (
        "EinsumDense",
        {"equation": "abc,cd->abd", "output_shape": [7, 64]},
        [(None, 32, 128)],
        "MS304",
    ),  # fmt: skip
    (
        "EinsumDense",
        {"equation": "abc,cd->abd", "output_shape": [64]},
        [(None, 32, 128)],
        "MS304",
    ),  # fmt: skip
    (
        "EinsumDense",
        {"equation": "abc,cd->abd", "output_shape": [32, 64]},
        [(None, None, 128)],
        "MS304",
    ),  # fmt: skip
    ("EinsumDense", {"equation": "ab,bc->acx", "output_shape": [64, 2]}, [(None, 128)], "MS304"),
    ("EinsumDense", {"equation": "ab,bcq->ac", "output_shape": 64}, [(None, 128)], "MS304"),
    (
        "EinsumDense",
        {"equation": "ab,bc->ac", "output_shape": 64, "bias_axes": "q"},
        [(None, 128)],
        "MS304",
    ),  # fmt: skip
    (
        "EinsumDense",
        {"equation": "ab,bc->ac", "output_shape": 64, "bias_axes": ""},
        [(None, 128)],
        "MS304",
    ),  # fmt: skip
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 64}, [(None, None)], "MS302"),
    (
        "EinsumDense",
        {"equation": "abc,cd->abd", "output_shape": [None, None]},
        [(None, 32, 128)],
        "MS302",
    ),  # fmt: skip
    (
        "EinsumDense",
        {"equation": "...ab,bc->...ac", "output_shape": [None, 64], "bias_axes": "ac"},
        [(None, 4, 3, 128)],
        "MS302",
    ),  # fmt: skip
    (
        "EinsumDense",
        {"equation": "...ab,bc->...ac", "output_shape": [None, 64]},
        [(None, 128)],
        "MS302",
    ),  # fmt: skip
    # PReLU.
    ("PReLU", {}, [(None, 4, None)], "MS302"),
    ("PReLU", {"shared_axes": [1]}, [(None, None, None, 3)], "MS302"),
    ("PReLU", {"shared_axes": 3}, [(None, 4, 3)], "MS304"),
    # Spatial dropouts need their exact rank.
    ("SpatialDropout1D", {"rate": 0.5}, [(None, 4)], "MS301"),
    ("SpatialDropout1D", {"rate": 0.5}, [(None, 4, 4, 3)], "MS301"),
    ("SpatialDropout2D", {"rate": 0.5}, [(None, 4, 3)], "MS301"),
    ("SpatialDropout2D", {"rate": 0.5}, [(None, 2, 4, 4, 3)], "MS301"),
    ("SpatialDropout3D", {"rate": 0.5}, [(None, 4, 4, 3)], "MS301"),
]
