"""Core layers: Dense, EinsumDense, Embedding and ReversibleEmbedding, activations, dropout
and noise."""

from __future__ import annotations

import re

from modelspec.catalog.base import (
    ACTIVATION,
    ACTIVITY_REGULARIZER,
    BOOL,
    DATA_FORMAT,
    INT,
    NORM_AXIS,
    NUMBER,
    POS_INT,
    RATE,
    TRAINABLE,
    Kwarg,
    LayerType,
    ShapeError,
    activation,
    by_trainable,
    constraint,
    enum,
    expect_min_rank,
    expect_rank,
    fmt_shape,
    initializer,
    known_dim,
    nullable,
    output_shape_from_config,
    own_weights,
    prod,
    regularizer,
    weight_kwargs,
)


def _all_trainable(count, kw):
    """``(count, 0)``, or ``(0, count)`` when the layer is frozen."""
    return by_trainable(kw, count)


def _same_shape(kw, inputs):
    (shape,) = inputs
    return shape


def _require_known(shape, what):
    """Raise MS302 when a weight shape Keras would create has an unknown size."""
    if any(d is None for d in shape):
        raise ShapeError(
            f"needs fully known sizes for its {what}; got {what} shape {fmt_shape(shape)}",
            code="MS302",
            hint="give the input fixed sizes on the axes the weights use",
        )


SEED = Kwarg("seed", nullable(INT), None, "Random seed, for reproducible noise.")
NONNEG = {"type": "number", "minimum": 0}


# --- Dense ------------------------------------------------------------------------------


def _dense_shape(kw, inputs):
    (shape,) = inputs
    expect_min_rank(shape, 2)
    return (*shape[:-1], kw["units"])


def _dense_params(kw, inputs):
    (shape,) = inputs
    n_in = known_dim(shape, -1)
    count = n_in * kw["units"] + (kw["units"] if kw["use_bias"] else 0)
    return by_trainable(kw, count)


def _dense_weights(kw, inputs):
    n_in, units = known_dim(inputs[0], -1), kw["units"]
    return own_weights(
        kw, ("kernel", (n_in, units)), ("bias", (units,)) if kw["use_bias"] else None
    )


DENSE = LayerType(
    name="Dense",
    category="core",
    doc="Densely-connected layer: `activation(dot(input, kernel) + bias)` on the last axis.",
    kwargs=(
        Kwarg("units", POS_INT, description="Dimensionality of the output space."),
        activation(),
        Kwarg("use_bias", BOOL, True, "Whether the layer uses a bias vector."),
        *weight_kwargs("kernel", "bias"),
        ACTIVITY_REGULARIZER,
        TRAINABLE,
    ),
    shape=_dense_shape,
    params=_dense_params,
    weights=_dense_weights,
)


# --- EinsumDense --------------------------------------------------------------------------

# The three forms Keras's ``_analyze_einsum_string`` accepts, tried in this order on the
# equation with "..." replaced by "0". Keras uses ``re.match``, so only a prefix has to
# match: trailing text ("ab,bc->ac...") is silently ignored, and we ignore it too.
_EINSUM_FORMS = (
    (re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"), False),
    (re.compile(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)"), True),
    (re.compile(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0"), False),
)
# The schema is stricter than Keras: it asks for the whole string to be one of the forms.
_EQUATION = {
    "type": "string",
    "pattern": r"^([a-zA-Z]+,[a-zA-Z]+->[a-zA-Z]+"
    r"|\.\.\.[a-zA-Z]+,[a-zA-Z]+->\.\.\.[a-zA-Z]+"
    r"|[a-zA-Z]{2,}\.\.\.,[a-zA-Z]+->[a-zA-Z]+\.\.\.)$",
}


def _parse_equation(equation):
    """``((input, weight, output), left_elided)``, or None when Keras refuses it."""
    replaced = equation.replace("...", "0")
    for pattern, left_elided in _EINSUM_FORMS:
        match = pattern.match(replaced)
        if match:
            return match.groups(), left_elided
    return None


def _einsum(kw, shape):
    """``(output_shape, kernel_shape, bias_shape)`` as Keras's ``_analyze_einsum_string``.

    This follows Keras step by step, quirks included, because Keras only checks
    the equation against the *symbolic* input here:

    - an input of higher rank than the equation's input spec is accepted; without
      an ellipsis the extra trailing axes are appended to the output (and the
      kernel ignores them);
    - axes the output shares with the input are not filled in from the input: a
      ``None`` in ``output_shape`` stays ``None`` in the output shape;
    - a left ellipsis over several axes lists them in reverse order in the output
      shape (Keras inserts each at position 1); the running layer does not;
    - with a left ellipsis and nothing elided, the first letter lands on the batch
      axis: ``"...b,bc->...c"`` on ``(128,)`` gives ``(128, 64)`` and a
      ``(128, 128)`` kernel.
    """
    equation = kw["equation"]
    bias_axes = kw["bias_axes"]
    parsed = _parse_equation(equation)
    if parsed is None:
        raise ShapeError(
            "needs an equation of the form `ab,bc->ac`, `...ab,bc->...ac` or "
            f"`ab...,bc->ac...`; got '{equation}'",
            code="MS304",
        )
    (input_spec, weight_spec, output_spec), left_elided = parsed
    if len(shape) < len(input_spec):
        raise ShapeError(
            f"expects input of rank at least {len(input_spec)} for equation "
            f"'{equation}'; got rank {len(shape)}: {fmt_shape(shape)}",
            code="MS301",
        )
    elided = len(shape) - len(input_spec)

    partial = kw["output_shape"]
    out = [partial] if isinstance(partial, int) else list(partial)
    out.insert(0, shape[0])
    if elided > 0 and left_elided:
        for i in range(1, elided):
            out.insert(1, shape[i])  # reverses the elided axes, as Keras does
    elif elided > 0:
        out.extend(shape[len(shape) - elided :])

    offset = elided if left_elided else 0
    if left_elided:
        in_map = {d: i + elided - len(shape) for i, d in enumerate(input_spec)}
    else:
        in_map = {d: i for i, d in enumerate(input_spec)}
    out_map = {d: i + offset for i, d in enumerate(output_spec)}

    # Every output letter is looked up in `out` (Keras raises IndexError otherwise).
    if len(output_spec) + offset > len(out):
        raise ShapeError(
            f"needs `output_shape` to cover the output '{output_spec}' of equation "
            f"'{equation}'; got output_shape={partial!r} for input {fmt_shape(shape)}",
            code="MS304",
        )
    for d in input_spec:
        size_in, size_out = shape[in_map[d]], (out[out_map[d]] if d in out_map else None)
        if size_out is not None and size_out != size_in:
            raise ShapeError(
                f"needs `output_shape` to match the input on shared axis '{d}'; "
                f"got {size_out} in output_shape, {size_in} in input {fmt_shape(shape)}",
                code="MS304",
            )
    for d in output_spec:
        if d not in input_spec and d not in weight_spec:
            raise ShapeError(
                f"needs every output axis of the equation in the input or the weight; "
                f"got '{d}' in '{equation}'",
                code="MS304",
            )
    kernel = []
    for d in weight_spec:
        if d in out_map:
            kernel.append(out[out_map[d]])
        elif d in in_map:
            kernel.append(shape[in_map[d]])
        else:
            raise ShapeError(
                f"needs every weight axis of the equation in the input or the output; "
                f"got '{d}' in '{equation}'",
                code="MS304",
            )

    bias = None
    if bias_axes is not None:
        idx = {c: out[i + offset] for i, c in enumerate(output_spec)}
        missing = [c for c in bias_axes if c not in output_spec]
        if missing or not bias_axes:
            raise ShapeError(
                f"needs `bias_axes` to be output axes of the equation '{equation}'; "
                f"got bias_axes='{bias_axes}'",
                code="MS304",
            )
        first = min(output_spec.find(c) for c in bias_axes)
        bias = [idx[c] if c in bias_axes else 1 for c in output_spec[first:]]
        if not left_elided:
            bias += [1] * max(elided, 0)
    return tuple(out), tuple(kernel), None if bias is None else tuple(bias)


def einsum_kernel_shape(kw, shape) -> tuple:
    """The shape of the kernel an EinsumDense with kwargs ``kw`` makes for an input of
    ``shape`` (None where the input leaves a size unknown)."""
    return _einsum(kw, shape)[1]


def _einsum_shape(kw, inputs):
    (shape,) = inputs
    return _einsum(kw, shape)[0]


def _einsum_params(kw, inputs):
    (shape,) = inputs
    _, kernel, bias = _einsum(kw, shape)
    _require_known(kernel, "kernel")
    count = prod(kernel)
    if bias is not None:
        _require_known(bias, "bias")
        count += prod(bias)
    return _all_trainable(count, kw)


def _einsum_weights(kw, inputs):
    _, kernel, bias = _einsum(kw, inputs[0])
    return own_weights(kw, ("kernel", kernel), None if bias is None else ("bias", bias))


EINSUM_DENSE = LayerType(
    name="EinsumDense",
    category="core",
    doc="A dense layer written as an einsum between the input and a kernel of any rank.",
    kwargs=(
        Kwarg(
            "equation",
            _EQUATION,
            description="Einsum equation, e.g. `ab,bc->ac` or `...b,bc->...c`.",
        ),
        Kwarg(
            "output_shape",
            {"anyOf": [POS_INT, {"type": "array", "items": nullable(POS_INT)}]},
            description="Output shape without the batch and elided axes; None where unknown.",
        ),
        activation(None),
        Kwarg(
            "bias_axes",
            nullable({"type": "string", "pattern": "^[a-zA-Z]+$"}),
            None,
            "Output axes (letters of the equation's output) that get a bias; None for no bias.",
        ),
        *weight_kwargs("kernel", "bias"),
        ACTIVITY_REGULARIZER,
        TRAINABLE,
    ),
    shape=_einsum_shape,
    params=_einsum_params,
    weights=_einsum_weights,
    from_config=output_shape_from_config,
)


# --- Embedding ----------------------------------------------------------------------------


def _embedding_shape(kw, inputs):
    (shape,) = inputs
    return (*shape, kw["output_dim"])


def _embedding_params(kw, inputs):
    return _all_trainable(kw["input_dim"] * kw["output_dim"], kw)


def _embedding_weights(kw, inputs):
    return own_weights(kw, ("embeddings", (kw["input_dim"], kw["output_dim"])))


_EMBEDDING_SIZES = (
    Kwarg("input_dim", POS_INT, description="Size of the vocabulary: largest index + 1."),
    Kwarg("output_dim", POS_INT, description="Dimension of the dense embedding."),
)
_EMBEDDING_WEIGHTS = (
    initializer("embeddings_initializer", "uniform"),  # Keras's alias of RandomUniform
    regularizer("embeddings_regularizer"),
    ACTIVITY_REGULARIZER,
    constraint("embeddings_constraint"),
    Kwarg("mask_zero", BOOL, False, "Whether index 0 is padding to be masked out."),
)

EMBEDDING = LayerType(
    name="Embedding",
    category="core",
    doc="Turns integer indices into dense vectors of size `output_dim`.",
    kwargs=(*_EMBEDDING_SIZES, *_EMBEDDING_WEIGHTS, TRAINABLE),
    shape=_embedding_shape,
    params=_embedding_params,
    weights=_embedding_weights,
)


def _reversible_embedding_params(kw, inputs):
    # Untied, the reverse projection has a (output_dim, input_dim) matrix of its own,
    # made with the embeddings' initializer.
    count = kw["input_dim"] * kw["output_dim"] * (1 if kw["tie_weights"] else 2)
    return _all_trainable(count, kw)


def _reversible_embedding_weights(kw, inputs):
    untied = ("reverse_embeddings", (kw["output_dim"], kw["input_dim"]))
    return _embedding_weights(kw, inputs) + own_weights(kw, None if kw["tie_weights"] else untied)


# The dtypes Keras can compute the reverse projection's matmul in.
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")

# A spec calls it forwards only: `layer(ids)`. The reverse call, `layer(x, reverse=True)`,
# projects the last axis (output_dim) back to input_dim with the transposed embeddings
# (or reverse_embeddings when untied), casts to reverse_dtype and soft-caps the logits.
REVERSIBLE_EMBEDDING = LayerType(
    name="ReversibleEmbedding",
    category="core",
    doc=(
        "An Embedding that can also be called in reverse, to project vectors of size "
        "`output_dim` back to `input_dim` logits (a spec calls it forwards)."
    ),
    kwargs=(
        *_EMBEDDING_SIZES,
        Kwarg(
            "tie_weights",
            BOOL,
            True,
            "Whether the reverse projection uses the transposed embeddings; false gives it "
            "a trainable (output_dim, input_dim) matrix of its own.",
        ),
        *_EMBEDDING_WEIGHTS,
        Kwarg(
            "reverse_dtype",
            nullable(enum(*FLOAT_DTYPES)),
            None,
            "The dtype the reverse projection computes in; None: the layer's compute dtype.",
        ),
        Kwarg(
            "logit_soft_cap",
            nullable({"type": "number", "exclusiveMinimum": 0}),
            None,
            "Soft cap of the reverse projection's logits: tanh(logits / cap) * cap; None: no cap.",
        ),
        TRAINABLE,
    ),
    shape=_embedding_shape,
    params=_reversible_embedding_params,
    weights=_reversible_embedding_weights,
)


# --- Activations --------------------------------------------------------------------------

ACTIVATION_LAYER = LayerType(
    name="Activation",
    category="activation",
    doc="Applies an activation function elementwise.",
    kwargs=(
        Kwarg("activation", ACTIVATION, description="Activation function, by name."),
        TRAINABLE,
    ),
    shape=_same_shape,
)

RELU = LayerType(
    name="ReLU",
    category="activation",
    doc="Rectified linear unit, with optional cap, threshold and negative slope.",
    kwargs=(
        Kwarg("max_value", nullable(NONNEG), None, "Largest output value; None for no cap."),
        Kwarg("negative_slope", NONNEG, 0.0, "Slope for values below the threshold."),
        Kwarg("threshold", NONNEG, 0.0, "Values below this are damped by `negative_slope`."),
        TRAINABLE,
    ),
    shape=_same_shape,
)

LEAKY_RELU = LayerType(
    name="LeakyReLU",
    category="activation",
    doc="Leaky ReLU: `x` for `x >= 0`, `negative_slope * x` otherwise.",
    kwargs=(
        Kwarg("negative_slope", NONNEG, 0.3, "Slope for negative inputs."),
        TRAINABLE,
    ),
    shape=_same_shape,
)


def _prelu_alpha(kw, shape):
    """Keras's alpha shape: the input's non-batch axes, 1 on each shared axis.

    Keras writes ``param_shape[i - 1] = 1`` for each shared axis ``i``, a plain
    list index: so axis 0 (or a negative axis) lands on a wrapped-around entry
    instead of being refused. We mirror the indexing exactly.
    """
    alpha = list(shape[1:])
    shared = kw["shared_axes"]
    if shared is not None:
        for i in [shared] if isinstance(shared, int) else shared:
            if not -len(alpha) <= i - 1 < len(alpha):
                raise ShapeError(
                    f"needs `shared_axes` within 1..{len(shape) - 1} for input of rank "
                    f"{len(shape)}; got shared_axes={shared!r}: {fmt_shape(shape)}",
                    code="MS304",
                )
            alpha[i - 1] = 1
    return tuple(alpha)


def _prelu_shape(kw, inputs):
    (shape,) = inputs
    _prelu_alpha(kw, shape)
    return shape


def _prelu_params(kw, inputs):
    (shape,) = inputs
    alpha = _prelu_alpha(kw, shape)
    _require_known(alpha, "alpha")
    return _all_trainable(prod(alpha), kw)


def _prelu_weights(kw, inputs):
    return own_weights(kw, ("alpha", _prelu_alpha(kw, inputs[0])))


PRELU = LayerType(
    name="PReLU",
    category="activation",
    doc="Parametric ReLU: a learned slope `alpha` for negative inputs.",
    kwargs=(
        # Keras spells the default "Zeros"; "zeros" resolves to the same initializer.
        initializer("alpha_initializer", "zeros"),
        regularizer("alpha_regularizer"),
        constraint("alpha_constraint"),
        Kwarg(
            "shared_axes",
            nullable({"anyOf": [POS_INT, {"type": "array", "items": POS_INT}]}),
            None,
            "Axes (1 = first after batch) along which alpha is shared, e.g. the spatial axes.",
        ),
        TRAINABLE,
    ),
    shape=_prelu_shape,
    params=_prelu_params,
    weights=_prelu_weights,
)

ELU = LayerType(
    name="ELU",
    category="activation",
    doc="Exponential linear unit: `alpha * (exp(x) - 1)` for negative inputs.",
    kwargs=(
        Kwarg("alpha", NUMBER, 1.0, "Scale of the negative part."),
        TRAINABLE,
    ),
    shape=_same_shape,
)

# Keras does not check `axis` against the input here (compute_output_shape returns
# the input shape), so an out-of-range axis builds and only fails when run. We trust
# Keras and accept it.
SOFTMAX = LayerType(
    name="Softmax",
    category="activation",
    doc="Softmax over `axis`.",
    kwargs=(
        NORM_AXIS,
        TRAINABLE,
    ),
    shape=_same_shape,
)


# --- Dropout and noise --------------------------------------------------------------------
#
# These return their input unchanged at inference (and refuse non-float inputs in
# training), so their output dtype is the input's: an int input stays int when the
# model runs. Keras's symbolic KerasTensor says float32 instead, only because
# compute_output_shape is overridden and Layer.compute_output_spec then uses the
# compute dtype; we follow what the running model does.

DROP_RATE = Kwarg("rate", RATE, description="Fraction of the input units to drop, in [0, 1).")
NOISE_SHAPE = Kwarg(
    "noise_shape",
    nullable({"type": "array", "items": nullable(POS_INT)}),
    None,
    "Shape of the binary dropout mask, broadcast against the input; None for the input's.",
)


def _dropout(name: str, doc: str) -> LayerType:
    """A dropout layer: a rate, a mask shape and a seed; the input's shape."""
    kwargs = (DROP_RATE, NOISE_SHAPE, SEED, TRAINABLE)
    return LayerType(
        name=name, category="regularization", doc=doc, kwargs=kwargs, shape=_same_shape
    )


DROPOUT = _dropout(
    "Dropout",
    "Sets a fraction `rate` of inputs to 0 in training, scaling the rest by 1/(1 - rate).",
)


def _spatial_dropout(name, rank, layout, with_format):
    def shape(kw, inputs):
        (s,) = inputs
        expect_rank(s, rank, layout=layout)
        return s

    # Spatial dropouts take no **kwargs in Keras (only rate, data_format, seed, name,
    # dtype): `trainable=...` raises TypeError, so they get no TRAINABLE kwarg.
    return LayerType(
        name=name,
        category="regularization",
        doc=f"Dropout of whole feature maps (channels) of a rank-{rank} input.",
        kwargs=(
            Kwarg("rate", RATE, description="Fraction of the channels to drop, in [0, 1)."),
            *((DATA_FORMAT,) if with_format else ()),
            SEED,
        ),
        shape=shape,
    )


SPATIAL_DROPOUT_1D = _spatial_dropout("SpatialDropout1D", 3, "(batch, steps, channels)", False)
SPATIAL_DROPOUT_2D = _spatial_dropout("SpatialDropout2D", 4, "(batch, rows, cols, channels)", True)
SPATIAL_DROPOUT_3D = _spatial_dropout(
    "SpatialDropout3D", 5, "(batch, dim1, dim2, dim3, channels)", True
)

GAUSSIAN_NOISE = LayerType(
    name="GaussianNoise",
    category="regularization",
    doc="Adds zero-centred Gaussian noise in training.",
    kwargs=(
        # Keras refuses stddev outside [0, 1].
        Kwarg(
            "stddev",
            {"type": "number", "minimum": 0, "maximum": 1},
            description="Standard deviation of the noise, in [0, 1].",
        ),
        SEED,
        TRAINABLE,
    ),
    shape=_same_shape,
)

GAUSSIAN_DROPOUT = LayerType(
    name="GaussianDropout",
    category="regularization",
    doc="Multiplies inputs by 1-centred Gaussian noise in training.",
    kwargs=(
        Kwarg("rate", RATE, description="Drop probability, as for Dropout, in [0, 1)."),
        SEED,
        TRAINABLE,
    ),
    shape=_same_shape,
)


ALPHA_DROPOUT = _dropout(
    "AlphaDropout", "Dropout that keeps the mean and variance of its inputs, for SELU networks."
)

ACTIVITY_REGULARIZATION = LayerType(
    name="ActivityRegularization",
    category="regularization",
    doc="Passes its input through and adds an L1/L2 penalty on it to the loss.",
    kwargs=(
        Kwarg("l1", {"type": "number", "minimum": 0}, 0.0, "L1 factor of the penalty."),
        Kwarg("l2", {"type": "number", "minimum": 0}, 0.0, "L2 factor of the penalty."),
        TRAINABLE,
    ),
    shape=_same_shape,
)

# --- Masking and Rescaling ----------------------------------------------------------------

# Masking zeroes masked timesteps with `where(mask, inputs, 0)`: the dtype stays the
# input's (see the dropout note on Keras's symbolic float32).
MASKING = LayerType(
    name="Masking",
    category="core",
    doc="Masks timesteps whose features all equal `mask_value`.",
    kwargs=(
        Kwarg("mask_value", NUMBER, 0.0, "Timesteps whose features all equal this are masked."),
        TRAINABLE,
    ),
    shape=_same_shape,
)

RESCALING = LayerType(
    name="Rescaling",
    category="preprocessing",
    doc="Computes `inputs * scale + offset`, cast to float.",
    kwargs=(
        Kwarg("scale", NUMBER, description="Factor the inputs are multiplied by."),
        Kwarg("offset", NUMBER, 0.0, "Value added after scaling."),
        TRAINABLE,
    ),
    shape=_same_shape,
)

LAYERS = (
    DENSE,
    EINSUM_DENSE,
    EMBEDDING,
    REVERSIBLE_EMBEDDING,
    ACTIVATION_LAYER,
    RELU,
    LEAKY_RELU,
    PRELU,
    ELU,
    SOFTMAX,
    DROPOUT,
    ALPHA_DROPOUT,
    ACTIVITY_REGULARIZATION,
    SPATIAL_DROPOUT_1D,
    SPATIAL_DROPOUT_2D,
    SPATIAL_DROPOUT_3D,
    GAUSSIAN_NOISE,
    GAUSSIAN_DROPOUT,
    MASKING,
    RESCALING,
)
