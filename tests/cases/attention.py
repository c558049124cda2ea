"""Conformance cases for modelspec.catalog.attention."""

MHA = {"num_heads": 2, "key_dim": 4}
GQA = {"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 2}

CASES: list = [
    # MultiHeadAttention: query, value[, key]
    ("MultiHeadAttention", MHA, [(None, 5, 8), (None, 7, 6)]),
    ("MultiHeadAttention", MHA, [(None, 5, 8), (None, 7, 6), (None, 7, 3)]),
    ("MultiHeadAttention", MHA, [(None, None, 8), (None, None, 6), (None, None, 3)]),
    ("MultiHeadAttention", {**MHA, "value_dim": 6}, [(None, 5, 8), (None, 7, 6)]),
    ("MultiHeadAttention", {**MHA, "output_shape": 3}, [(None, 5, 8), (None, 7, 6)]),
    ("MultiHeadAttention", {**MHA, "output_shape": [3, 5], "use_bias": False},
     [(None, 5, 8), (None, 7, 6)]),
    ("MultiHeadAttention", {**MHA, "attention_axes": [2]},
     [(None, 5, 3, 8), (None, 5, 4, 6)]),
    ("MultiHeadAttention", {**MHA, "attention_axes": [1, 2], "value_dim": 3},
     [(None, 5, 3, 8), (None, 7, 2, 6)]),
    ("MultiHeadAttention", {**MHA, "attention_axes": -2},
     [(None, 5, 3, 8), (None, 5, 4, 6), (None, 5, 4, 2)]),
    ("MultiHeadAttention", {**MHA, "use_gate": True, "dropout": 0.1, "seed": 1},
     [(None, 5, 8), (None, 7, 6)]),
    ("MultiHeadAttention", {"num_heads": 3, "key_dim": 2, "trainable": False,
                            "sliding_window": 2, "kernel_regularizer": "l2"},
     [(4, 5, 8), (4, 5, 8)]),
    # GroupQueryAttention: query, value[, key]; query and value of one size.
    ("GroupQueryAttention", GQA, [(None, 5, 8), (None, 7, 8)]),
    ("GroupQueryAttention", GQA, [(None, 5, 8), (None, 7, 8), (None, 7, 3)]),
    ("GroupQueryAttention", GQA, [(None, None, 8), (None, None, 8), (None, None, 8)]),
    ("GroupQueryAttention", {**GQA, "num_key_value_heads": 1, "use_bias": False},
     [(None, 5, 8), (None, 7, 8)]),
    ("GroupQueryAttention", {**GQA, "num_key_value_heads": 4, "use_gate": True},
     [(2, 5, 6), (2, 3, 6), (2, 3, 2)]),
    ("GroupQueryAttention", {**GQA, "dropout": 0.1, "seed": 3, "sliding_window": 2,
                             "kernel_initializer": "he_normal", "bias_regularizer": "l2"},
     [(None, 5, 8), (None, 7, 8)]),
    ("GroupQueryAttention", {**GQA, "trainable": False, "use_gate": True,
                             "kernel_constraint": "max_norm", "bias_initializer": "ones"},
     [(None, 5, 8), (None, 7, 8)]),
    # Attention: [query, value] or [query, value, key]
    ("Attention", {}, [(None, 5, 8), (None, 7, 8)]),
    ("Attention", {}, [(None, 5, 8), (None, 7, 3), (None, 7, 8)]),
    ("Attention", {"use_scale": True}, [(None, None, 8), (None, None, 8)]),
    ("Attention", {"score_mode": "concat"}, [(None, 5, 8), (None, 7, 3), (None, 7, 8)]),
    ("Attention", {"use_scale": True, "score_mode": "concat", "trainable": False},
     [(None, 5, 8), (None, 7, 8)]),
    ("Attention", {"dropout": 0.2, "seed": 4}, [(2, 3, 5, 8), (2, 3, 7, 8)]),
    # AdditiveAttention: a learnt scale vector the size of the query's last axis.
    ("AdditiveAttention", {}, [(None, 5, 8), (None, 7, 8)]),
    ("AdditiveAttention", {}, [(None, 5, 8), (None, 7, 3), (None, 7, 8)]),
    ("AdditiveAttention", {"use_scale": False}, [(None, 5, None), (None, 7, None)]),
    ("AdditiveAttention", {"trainable": False}, [(None, None, 8), (None, None, 8)]),
    ("AdditiveAttention", {"dropout": 0.1, "seed": 2}, [(None, 5, 1), (None, 7, 8)]),
]  # fmt: skip

BAD: list = [
    ("MultiHeadAttention", MHA, [(None, 5, 8)], "MS305"),
    # Keras compares value and key as tuples: a None against a size is refused too.
    ("MultiHeadAttention", MHA, [(None, 5, 8), (None, 7, 6), (None, 6, 3)], "MS303"),
    ("MultiHeadAttention", MHA, [(None, 5, 8), (None, 7, 6), (None, None, 3)], "MS303"),
    ("MultiHeadAttention", MHA, [(None, 5, None), (None, 7, 6)], "MS302"),
    ("MultiHeadAttention", {**MHA, "output_shape": 3}, [(None, 5, 8), (None, 7, None)],
     "MS302"),
    ("MultiHeadAttention", {**MHA, "attention_axes": 6}, [(None, 5, 3, 8), (None, 5, 4, 6)],
     "MS304"),
    ("MultiHeadAttention", {**MHA, "dropout": 0.1, "flash_attention": True},
     [(None, 5, 8), (None, 7, 6)], "MS304"),
    ("GroupQueryAttention", GQA, [(None, 5, 8)], "MS305"),
    ("GroupQueryAttention", GQA, [(None, 8), (None, 8)], "MS301"),
    ("GroupQueryAttention", GQA, [(None, 5, 8), (None, 7, 6)], "MS303"),
    ("GroupQueryAttention", GQA, [(None, 5, 8), (None, 7, None)], "MS303"),
    ("GroupQueryAttention", GQA, [(None, 5, 8), (None, 7, 8), (None, 6, 3)], "MS303"),
    ("GroupQueryAttention", GQA, [(None, 5, 8), (None, 7, 8), (None, None, 3)], "MS303"),
    ("GroupQueryAttention", GQA, [(None, 5, None), (None, 7, None)], "MS302"),
    ("GroupQueryAttention", GQA, [(None, 5, 8), (None, 7, 8), (None, 7, None)], "MS302"),
    ("GroupQueryAttention", {**GQA, "num_query_heads": 3}, [(None, 5, 8), (None, 7, 8)],
     "MS304"),
    ("GroupQueryAttention", {**GQA, "dropout": 0.1, "flash_attention": True},
     [(None, 5, 8), (None, 7, 8)], "MS304"),
    ("Attention", {}, [(None, 5, 8)], "MS305"),
    ("Attention", {}, [(None, 5, 8)] * 4, "MS305"),
    ("AdditiveAttention", {}, [(None, 5, 8)], "MS305"),
    ("AdditiveAttention", {}, [(None, 5, None), (None, 7, 8)], "MS302"),
]  # fmt: skip

# Keras infers a shape for these without running the call, but the first call fails
# (checked by hand with real tensors); the catalogue refuses them on purpose.
DIVERGENT: list = [
    ("MultiHeadAttention", MHA, [(None, 8), (None, 6)], "MS301"),
    ("MultiHeadAttention", MHA, [(None, 5, 8), (None, 7, 3, 6)], "MS303"),
    ("MultiHeadAttention", MHA, [(1, 5, 8), (2, 7, 6)], "MS303"),
    ("MultiHeadAttention", MHA, [(2, 5, 8), (1, 7, 6), (2, 7, 3)], "MS303"),
    ("MultiHeadAttention", {**MHA, "attention_axes": 2}, [(2, 5, 3, 8), (2, 6, 4, 6)], "MS303"),
    ("GroupQueryAttention", GQA, [(None, 5, 3, 8), (None, 5, 3, 8)], "MS301"),
    ("GroupQueryAttention", GQA, [(None, 5, 8), (None, 5, 3, 8)], "MS301"),
    ("GroupQueryAttention", GQA, [(1, 5, 8), (2, 7, 8)], "MS303"),
    ("GroupQueryAttention", GQA, [(2, 5, 8), (2, 7, 8), (1, 7, 3)], "MS303"),
    ("GroupQueryAttention", {**GQA, "dropout": 0.2}, [(1, 5, 8), (2, 7, 8)], "MS303"),
    ("Attention", {}, [(None, 5, 8), (None, 7, 3)], "MS303"),
    ("Attention", {}, [(None, 5, 8), (None, 7, 3), (None, 6, 8)], "MS303"),
    ("Attention", {"score_mode": "concat"}, [(None, 5, 4), (None, 7, 3), (None, 7, 8)], "MS303"),
    ("AdditiveAttention", {}, [(None, 5, 8), (None, 7, 3), (None, 7, 4)], "MS303"),
]  # fmt: skip
