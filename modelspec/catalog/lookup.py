"""Preprocessing with state: CategoryEncoding, Hashing, HashedCrossing, Discretization,
IntegerLookup, StringLookup and TextVectorization.

They turn raw values (strings, integers, numbers) into indices or encoded vectors. None
has weights Keras counts: a lookup's vocabulary lives in a lookup table, and its
``idf_weights`` in a plain ``tf.Variable``, neither of which is in ``layer.weights``.

Their state (``STATE``: a vocabulary, ``idf_weights``, ``bin_boundaries``) is written
in one of three ways:

- inline, ``vocabulary: [a, b, c]``;
- from a file beside the spec, ``vocabulary: {file: vocab.txt}`` (one value a line, as
  Keras's vocabulary files), which :mod:`modelspec.source.state` reads and writes
  inline before any rule sees it;
- learned, ``vocabulary: adapt`` (:data:`ADAPT`): ``modelspec train`` calls the layer's
  ``adapt()`` on the training data before ``fit``.

Output dtypes follow Keras's symbolic call: ``output_mode: int`` gives int64
(Discretization: int32), the other modes the float32 compute dtype. StringLookup with
``invert: true`` gives strings when run, though Keras's symbolic output says int64: the
catalogue says string, what the model really passes on.

Shapes follow Keras's ``compute_output_shape``. The encoded modes (``one_hot``,
``multi_hot``, ``count``, ``tf_idf``) end in one axis per index: ``max_tokens`` with
``pad_to_max_tokens``, else the vocabulary's size with its mask and OOV indices, which a
vocabulary learned by ``adapt`` leaves unknown until it is learned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from modelspec.catalog.base import (
    BOOL,
    NONNEG_INT,
    NUMBER,
    POS_INT,
    STRING,
    TRAINABLE,
    Kwarg,
    LayerType,
    Shape,
    ShapeError,
    enum,
    expect_rank,
    fmt_shape,
    nullable,
)

# The value of a state kwarg that ``modelspec train`` learns with the layer's adapt().
ADAPT = "adapt"
# The kwargs of each layer type that hold state (a list, a file, or ``adapt``).
STATE: Mapping[str, tuple[str, ...]] = {
    "StringLookup": ("vocabulary", "idf_weights"),
    "IntegerLookup": ("vocabulary", "idf_weights"),
    "TextVectorization": ("vocabulary", "idf_weights"),
    "Discretization": ("bin_boundaries",),
    "Normalization": ("mean", "variance"),  # catalog/norm.py: inline or adapt, no file
}
# Which of those may be learned with ``adapt``: idf_weights are learned with the
# vocabulary, and written only beside a given one.
ADAPTABLE: Mapping[str, str] = {
    "StringLookup": "vocabulary",
    "IntegerLookup": "vocabulary",
    "TextVectorization": "vocabulary",
    "Discretization": "bin_boundaries",
    "Normalization": "mean",  # and variance, which must be `adapt` with it
}

FILE_REF = {
    "type": "object",
    "description": "A file beside the spec, one value a line (as Keras's vocabulary files).",
    "required": ["file"],
    "properties": {"file": {"type": "string", "minLength": 1}},
    "additionalProperties": False,
}
LEARNED = {"const": ADAPT, "description": "Learned from the training data by `adapt()`."}


def _state(item: Mapping[str, Any]) -> dict[str, Any]:
    """A state kwarg: a list of values, a file of them, ``adapt``, or null."""
    values = {"type": "array", "items": dict(item), "minItems": 1}
    return {"anyOf": [values, FILE_REF, LEARNED, {"type": "null"}]}


def _given(item: Mapping[str, Any]) -> dict[str, Any]:
    """State that is given, never learned on its own: a list, a file, or null."""
    values = {"type": "array", "items": dict(item), "minItems": 1}
    return {"anyOf": [values, FILE_REF, {"type": "null"}]}


ENCODED = ("one_hot", "multi_hot", "count")
MODES = ("int", *ENCODED, "tf_idf")
SALT = nullable(
    {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"},
                                       "minItems": 2, "maxItems": 2}]}
)  # fmt: skip
SPARSE = Kwarg("sparse", BOOL, False, "Give a sparse tensor (an encoded mode only).")
MAX_TOKENS = Kwarg(
    "max_tokens",
    nullable({"type": "integer", "minimum": 2}),
    None,
    "Largest vocabulary, mask and OOV indices included; None for no limit.",
)
IDF_WEIGHTS = Kwarg(
    "idf_weights",
    _given(NUMBER),
    None,
    "Inverse document frequency of each vocabulary entry (output_mode 'tf_idf' only).",
)
PAD = Kwarg(
    "pad_to_max_tokens",
    BOOL,
    False,
    "Encode to `max_tokens` indices whatever the vocabulary's size (needs `max_tokens`).",
)


# --- dtypes --------------------------------------------------------------------------


def _int64_or_float(kw: Mapping[str, Any]) -> str:
    return "int64" if kw["output_mode"] == "int" else "float32"


def _hashing_keras_dtype(config: Mapping[str, Any]) -> str:
    """Hashing and HashedCrossing set their own dtype to int64 for ``output_mode: int``."""
    return "int64" if config.get("output_mode", "int") == "int" else "float32"


def _lookup_dtype(kw: Mapping[str, Any]) -> str:
    if kw.get("invert"):
        return "int64" if "vocabulary_dtype" in kw else "string"
    return _int64_or_float(kw)


# --- checks Keras makes when it builds the layer ------------------------------------


def _refuse(message: str, hint: str | None = None) -> ShapeError:
    return ShapeError(message, code="MS304", hint=hint)


def _encoding_checks(kw: Mapping[str, Any]) -> None:
    if kw.get("sparse") and kw["output_mode"] == "int":
        raise _refuse("takes `sparse: true` only with an encoded output_mode, not 'int'")


def _special(kw: Mapping[str, Any]) -> list[Any]:
    """The mask and OOV entries Keras puts before the vocabulary's own tokens."""
    oov_start = 1 if kw["mask_token"] is not None and kw["output_mode"] == "int" else 0
    return [kw["mask_token"]] * oov_start + [kw["oov_token"]] * kw["num_oov_indices"]


def _vocabulary_size(kw: Mapping[str, Any]) -> int | None:
    """Keras's vocabulary_size(): the tokens with the mask and OOV indices; None while the
    vocabulary is to be learned."""
    vocab = kw["vocabulary"]
    if not isinstance(vocab, list):
        return None
    special = _special(kw)
    tokens = vocab[len(special) :] if vocab[: len(special)] == special else vocab
    seen: set = set()
    repeated = [t for t in tokens if t in seen or seen.add(t)]
    if repeated:
        raise _refuse(
            f"needs a vocabulary without repeated tokens; {repeated[0]!r} is repeated",
        )
    if kw["mask_token"] is not None and kw["mask_token"] in tokens:
        raise _refuse(
            f"has its mask token {kw['mask_token']!r} inside its vocabulary",
            hint="leave the mask and OOV tokens out of the vocabulary (Keras adds them)",
        )
    size = len(special) + len(tokens)
    if kw["max_tokens"] is not None and size > kw["max_tokens"]:
        raise _refuse(
            f"has a vocabulary of {size} entries (mask and OOV included), more than "
            f"max_tokens={kw['max_tokens']}"
        )
    return size


class IndexRange(NamedTuple):
    """The indices a lookup with ``output_mode: int`` gives: 0 to ``size - 1``.

    ``mask`` and ``oov`` count the indices Keras puts before the vocabulary's own
    ``entries``; ``entries`` is None where the vocabulary is learned by adapt and
    ``max_tokens`` bounds it (``size`` is then ``max_tokens``)."""

    size: int
    entries: int | None
    mask: int
    oov: int


# The lookup inside a TextVectorization: mask token '', one OOV index.
_TEXT_LOOKUP = {"mask_token": "", "num_oov_indices": 1, "oov_token": "[UNK]"}


def index_range(type_name: str, kw: Mapping[str, Any]) -> IndexRange | None:
    """How many indices a StringLookup, IntegerLookup or TextVectorization gives, as
    Keras's ``vocabulary_size()`` counts them, for ``kw`` with its defaults resolved;
    None for any other layer, an encoded ``output_mode``, ``invert``, or a vocabulary
    learned by adapt without ``max_tokens``. A vocabulary Keras refuses raises
    :class:`ShapeError`, as the shape rule does.

    >>> index_range("TextVectorization", {"vocabulary": ["a", "b"], "max_tokens": None,
    ...                                   "output_mode": "int"})
    IndexRange(size=4, entries=2, mask=1, oov=1)
    """
    if type_name == "TextVectorization":
        kw = {**kw, **_TEXT_LOOKUP}
    elif type_name not in ("StringLookup", "IntegerLookup"):
        return None
    if kw["output_mode"] != "int" or kw.get("invert"):
        return None
    mask, oov = int(kw["mask_token"] is not None), kw["num_oov_indices"]
    if isinstance(kw["vocabulary"], list):
        size = _vocabulary_size(kw)
        return IndexRange(size, size - mask - oov, mask, oov)
    if kw["max_tokens"] is not None:
        return IndexRange(kw["max_tokens"], None, mask, oov)
    return None


def _lookup_checks(kw: Mapping[str, Any]) -> None:
    """What IndexLookup's __init__ and set_vocabulary refuse."""
    mode = kw["output_mode"]
    _encoding_checks(kw)
    if kw["pad_to_max_tokens"] and kw["max_tokens"] is None:
        raise _refuse("takes `pad_to_max_tokens: true` only with `max_tokens`")
    if kw.get("invert") and mode != "int":
        raise _refuse(f"takes `invert: true` only with output_mode 'int', not {mode!r}")
    idf, vocab = kw["idf_weights"], kw["vocabulary"]
    if idf is not None and mode != "tf_idf":
        raise _refuse(f"takes `idf_weights` only with output_mode 'tf_idf', not {mode!r}")
    if isinstance(vocab, list) and mode == "tf_idf":
        if not isinstance(idf, list):
            raise _refuse(
                "needs `idf_weights` beside its vocabulary with output_mode 'tf_idf'",
                hint="give idf_weights, or learn both with `vocabulary: adapt`",
            )
        if len(idf) != len(vocab):
            raise _refuse(
                f"needs one idf weight per vocabulary entry; got {len(idf)} for {len(vocab)}"
            )
    if idf is not None and not isinstance(vocab, list):
        raise _refuse(
            "takes `idf_weights` only beside a vocabulary it is given",
            hint="`vocabulary: adapt` learns the idf weights with the vocabulary",
        )
    salt = kw.get("salt")
    if salt is not None and "vocabulary_dtype" in kw and kw["oov_method"] != "farmhash":
        raise _refuse("takes `salt` only with oov_method 'farmhash'")


# --- shapes --------------------------------------------------------------------------


def _depth(kw: Mapping[str, Any]) -> int | None:
    if kw["pad_to_max_tokens"]:
        return kw["max_tokens"]
    return _vocabulary_size(kw)


def _encoded(shape: Shape, mode: str, depth: int | None) -> Shape:
    """IndexLookup's compute_output_shape for an encoded mode."""
    if mode == "one_hot":
        if len(shape) > 1 and shape[-1] == 1:
            return (*shape[:-1], depth)
        return (*shape, depth)
    return (*shape[:-1], depth)


def _lookup_shape(kw, inputs):
    (shape,) = inputs
    _lookup_checks(kw)
    depth = _depth(kw)  # checks the vocabulary in every mode
    if kw["output_mode"] == "int":
        return shape
    return _encoded(shape, kw["output_mode"], depth)


def _category_encoding_shape(kw, inputs):
    (shape,) = inputs
    n = kw["num_tokens"]
    if kw["output_mode"] == "one_hot" and shape[-1] == 1 and len(shape) > 1:
        return (*shape[:-1], n)
    if kw["output_mode"] == "one_hot":
        return (*shape, n)
    return (*shape[:-1], n)


def _hashing_shape(kw, inputs):
    (shape,) = inputs
    _encoding_checks(kw)
    if kw["output_mode"] == "int":
        return shape
    return (*shape[:-1], kw["num_bins"])


def _hashed_crossing_shape(kw, inputs):
    if len(inputs) != 2:
        raise ShapeError(
            f"takes exactly 2 inputs; got {len(inputs)}",
            code="MS305",
            hint="cross two features at a time, and cross the result with the next",
        )
    first, second = inputs
    if first[-1] != second[-1]:
        raise ShapeError(
            "needs two inputs of one shape; got {0} and {1}", code="MS303", operands=(0, 1)
        )
    # Keras's symbolic build checks only the last axis; a run refuses the rest.
    for shape in inputs:
        expect_rank(shape, 1, 2, layout="(batch,) or (batch, 1)")
        if len(shape) == 2 and shape[-1] not in (1, None):
            raise ShapeError(
                f"takes inputs of shape (batch,) or (batch, 1); got {fmt_shape(shape)}",
                code="MS302",
            )
    if first != second:
        raise ShapeError(
            "needs two inputs of one shape; got {0} and {1}", code="MS303", operands=(0, 1)
        )
    if kw["output_mode"] == "int":
        return first
    if first[-1] != 1:
        return (*first, kw["num_bins"])
    return (*first[:-1], kw["num_bins"])


def _discretization_shape(kw, inputs):
    (shape,) = inputs
    bounds, bins = kw["bin_boundaries"], kw["num_bins"]
    _encoding_checks(kw)
    if bounds is None and bins is None:
        raise _refuse(
            "needs `bin_boundaries` or `num_bins`",
            hint="give bin_boundaries, or num_bins with `bin_boundaries: adapt`",
        )
    if isinstance(bounds, list) and bins is not None:
        raise _refuse("takes `bin_boundaries` or `num_bins`, not both")
    if bounds == ADAPT and bins is None:
        raise _refuse("needs `num_bins` to learn its bin boundaries with adapt")
    if isinstance(bounds, list) and any(b > a for a, b in zip(bounds[1:], bounds)):
        raise _refuse("needs `bin_boundaries` in increasing order")
    mode = kw["output_mode"]
    if mode == "int":
        return shape
    depth = len(bounds) + 1 if isinstance(bounds, list) else bins
    if mode == "one_hot":
        if len(shape) > 1 and shape[-1] == 1:
            return (*shape[:-1], depth)
        return (*shape, depth)
    if len(shape) >= 2:
        return (shape[0], *shape[2:], depth)
    return (depth,)


def _text_vectorization_shape(kw, inputs):
    (shape,) = inputs
    mode = kw["output_mode"]
    if kw["output_sequence_length"] is not None and mode != "int":
        raise _refuse(f"takes `output_sequence_length` only with output_mode 'int', not {mode!r}")
    if kw["ragged"] and mode != "int":
        raise _refuse(f"takes `ragged: true` only with output_mode 'int', not {mode!r}")
    lookup = {**kw, **_TEXT_LOOKUP}
    _lookup_checks(lookup)
    depth = _depth(lookup)
    # Keras's symbolic build checks no rank; these are the inputs a run takes with the
    # shape the symbolic build claims.
    if kw["split"] is not None:
        expect_rank(shape, 1, 2, layout="(batch,) or (batch, 1): one string to split each")
        if len(shape) == 2 and shape[-1] not in (1, None):
            raise ShapeError(
                f"splits one string per example: takes (batch,) or (batch, 1); got "
                f"{fmt_shape(shape)}",
                code="MS302",
            )
        if mode == "int":
            return (shape[0], kw["output_sequence_length"])
        if len(shape) == 2:
            raise ShapeError(
                f"with output_mode {mode!r} gives one more axis in Keras's symbolic build "
                f"than when it runs for input {fmt_shape(shape)}",
                code="MS301",
                hint="give the input the shape [] (one string per example)",
            )
        return _encoded((*shape, None), mode, depth)
    if mode == "int":
        if len(shape) < 2:
            raise ShapeError(
                f"without `split` takes tokens of rank 2 (batch, tokens); got {fmt_shape(shape)}",
                code="MS301",
            )
        return (shape[0], kw["output_sequence_length"])
    if len(shape) <= 1:
        shape = (*shape, 1)
    return _encoded(shape, mode, depth)


# --- layer types ---------------------------------------------------------------------


# Keras writes the vocabulary's size (with the special tokens) beside it.
SIZE = frozenset({"vocabulary_size"})


def _discretization_from_config(kw: dict[str, Any]) -> None:
    """An adapted Discretization writes its learned boundaries beside `num_bins`."""
    if kw.get("bin_boundaries") is not None and kw.get("num_bins") is not None:
        del kw["num_bins"]


def _mode(*modes: str, default: str = "int") -> Kwarg:
    return Kwarg("output_mode", enum(*modes), default, "What the layer gives: " +
                 ", ".join(repr(m) for m in modes) + ".")  # fmt: skip


def _lookup_kwargs(token: Mapping[str, Any], oov: Any, *extra: Kwarg) -> tuple[Kwarg, ...]:
    return (
        MAX_TOKENS,
        Kwarg("num_oov_indices", NONNEG_INT, 1, "Number of indices for tokens not in the vocabulary."),
        Kwarg("mask_token", nullable(token), None, "The token that is masked (index 0); None for none."),
        Kwarg("oov_token", token, oov, "The token an out-of-vocabulary index maps back to (invert)."),
        Kwarg("vocabulary", _state(token), None,
              "The vocabulary: a list, a file, or `adapt` to learn it in training."),
        *extra,
        IDF_WEIGHTS,
        Kwarg("invert", BOOL, False, "Map indices back to tokens."),
        _mode(*MODES),
        SPARSE,
        PAD,
        Kwarg("oov_method", enum("floormod", "farmhash"), "floormod",
              "How out-of-vocabulary tokens are spread over the OOV indices."),
        Kwarg("salt", SALT, None, "Salt of the hash of out-of-vocabulary tokens."),
        # No `trainable`: IndexLookup drops it (it has nothing to train) and saves none.
    )  # fmt: skip


CATEGORY_ENCODING = LayerType(
    name="CategoryEncoding",
    category="preprocessing",
    doc="Encodes integer indices below `num_tokens` as one-hot, multi-hot or count vectors.",
    kwargs=(
        Kwarg(
            "num_tokens", POS_INT, description="Number of indices; inputs are in [0, num_tokens)."
        ),
        _mode(*ENCODED, default="multi_hot"),
        # Keras's get_config leaves `sparse` out: a saved model loads back dense.
        SPARSE,
        TRAINABLE,
    ),  # fmt: skip
    shape=_category_encoding_shape,
)

HASHING = LayerType(
    name="Hashing",
    category="preprocessing",
    doc="Hashes strings or numbers into `num_bins` bins.",
    kwargs=(
        Kwarg("num_bins", POS_INT, description="Number of bins, the mask bin included."),
        Kwarg(
            "mask_value",
            nullable({"type": ["string", "number"]}),
            None,
            "A value hashed to bin 0, which no other value gets.",
        ),
        Kwarg("salt", SALT, None, "Key of a strong (SipHash) hash; None for the fast one."),
        _mode(*("int", *ENCODED)),
        SPARSE,
        TRAINABLE,
    ),  # fmt: skip
    shape=_hashing_shape,
    dtype=_int64_or_float,
    keras_dtype=_hashing_keras_dtype,
    takes="any",
)

HASHED_CROSSING = LayerType(
    name="HashedCrossing",
    category="preprocessing",
    doc="Hashes the pairs of two integer or string features into `num_bins` bins.",
    kwargs=(
        Kwarg("num_bins", POS_INT, description="Number of bins."),
        _mode("int", "one_hot"),
        SPARSE,
    ),
    shape=_hashed_crossing_shape,
    min_inputs=2,
    max_inputs=2,
    dtype=_int64_or_float,
    keras_dtype=_hashing_keras_dtype,
    takes="ints_or_strings",
)

DISCRETIZATION = LayerType(
    name="Discretization",
    category="preprocessing",
    doc="Buckets numbers by `bin_boundaries`, given or learned with `adapt()`.",
    kwargs=(
        Kwarg(
            "bin_boundaries",
            _state(NUMBER),
            None,
            "Increasing boundaries of the bins: a list, a file, or `adapt` (with num_bins).",
        ),
        Kwarg("num_bins", nullable(NONNEG_INT), None, "Number of bins to learn with adapt."),
        Kwarg("epsilon", NUMBER, 0.01, "Error tolerance of the learned boundaries."),
        _mode("int", *ENCODED),
        SPARSE,
    ),
    shape=_discretization_shape,
    dtype=lambda kw: "int32" if kw["output_mode"] == "int" else "float32",
    from_config=_discretization_from_config,
)

INTEGER_LOOKUP = LayerType(
    name="IntegerLookup",
    category="preprocessing",
    doc="Maps integers to indices in a vocabulary, given or learned with `adapt()`.",
    kwargs=_lookup_kwargs(
        {"type": "integer"},
        -1,
        Kwarg("vocabulary_dtype", enum("int64"), "int64", "The dtype of the vocabulary."),
    ),
    shape=_lookup_shape,
    dtype=_lookup_dtype,
    takes="numbers",
    derived=SIZE,
)

STRING_LOOKUP = LayerType(
    name="StringLookup",
    category="preprocessing",
    doc="Maps strings to indices in a vocabulary, given or learned with `adapt()`.",
    kwargs=(
        *_lookup_kwargs(STRING, "[UNK]"),
        Kwarg("encoding", STRING, "utf-8", "Text encoding of the strings."),
    ),
    shape=_lookup_shape,
    dtype=_lookup_dtype,
    takes=lambda kw: "numbers" if kw.get("invert") else "strings",
    derived=SIZE,
)

TEXT_VECTORIZATION = LayerType(
    name="TextVectorization",
    category="preprocessing",
    doc="Splits strings into tokens and maps them to indices or encoded vectors.",
    kwargs=(
        MAX_TOKENS,
        Kwarg(
            "standardize",
            nullable(enum("lower_and_strip_punctuation", "lower", "strip_punctuation")),
            "lower_and_strip_punctuation",
            "How the text is standardized first, by name; None for not at all.",
        ),
        Kwarg(
            "split",
            nullable(enum("whitespace", "character")),
            "whitespace",
            "How the text is split into tokens, by name; None when it already is.",
        ),
        Kwarg(
            "ngrams",
            nullable({"anyOf": [POS_INT, {"type": "array", "items": POS_INT, "minItems": 1}]}),
            None,
            "Also make n-grams: n for 1..n, or a list of sizes.",
        ),
        _mode(*MODES),
        Kwarg(
            "output_sequence_length",
            nullable(POS_INT),
            None,
            "Pad or cut the indices to this length (output_mode 'int'); None: the longest.",
        ),
        PAD,
        Kwarg(
            "vocabulary",
            _state(STRING),
            None,
            "The vocabulary: a list, a file, or `adapt` to learn it in training.",
        ),
        IDF_WEIGHTS,
        SPARSE,
        Kwarg("ragged", BOOL, False, "Give a ragged tensor (output_mode 'int')."),
        Kwarg("encoding", STRING, "utf-8", "Text encoding of the strings."),
        TRAINABLE,
    ),  # fmt: skip
    shape=_text_vectorization_shape,
    dtype=_int64_or_float,
    takes="strings",
    derived=SIZE,
)

LAYERS = (
    CATEGORY_ENCODING,
    HASHING,
    HASHED_CROSSING,
    DISCRETIZATION,
    INTEGER_LOOKUP,
    STRING_LOOKUP,
    TEXT_VECTORIZATION,
)


def is_adapted(type_name: str, kw: Mapping[str, Any]) -> bool:
    """Whether a layer of this type, with these kwargs, learns its state with adapt()."""
    key = ADAPTABLE.get(type_name)
    return key is not None and kw.get(key) == ADAPT


def keras_value(type_name: str, key: str, value: Any) -> Any:
    """A state kwarg as Keras's constructor takes it: ``adapt`` is Keras's None."""
    if value == ADAPT and key in STATE.get(type_name, ()):
        return None
    return value


__all__: Sequence[str] = (
    "ADAPT",
    "LAYERS",
    "STATE",
    "IndexRange",
    "index_range",
    "is_adapted",
    "keras_value",
)
