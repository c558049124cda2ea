"""What a spec's ``outputs``, ``compile``, ``fit`` and ``distribution`` sections may name.

Losses, metrics, optimizers and callbacks, listed as data. A spec names them by
string (``categorical_crossentropy``, ``adam``) or as ``{type: ClassName, ...}`` with
plain keyword arguments. ``tests/test_training_catalog.py`` checks every name here
against Keras's own registries, so a name we accept is one Keras resolves.
"""

from __future__ import annotations

from modelspec.catalog.base import BOOL, NUMBER, POS_INT, RATE, STRING, Kwarg, enum, nullable

# Strings ``keras.losses.get`` resolves (function names and their short aliases).
LOSS_NAMES = (
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
    "categorical_focal_crossentropy", "categorical_hinge", "circle", "cosine_similarity",
    "ctc", "dice", "hinge", "huber", "kl_divergence", "log_cosh", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error",
    "poisson", "sparse_categorical_crossentropy", "squared_hinge", "tversky",
    "bce", "kld", "mae", "mape", "mse", "msle",
)  # fmt: skip

# How a loss turns one sample's prediction into a number before Keras averages over the
# batch (its default reduction, `sum_over_batch_size`): the mean of every value
# (elementwise losses), or one value per position from the last axis, a distribution
# over classes, averaged over the other axes. One Dense(2) head under `mse` is the mean
# of two squared errors; two Dense(1) heads are the sum of two (seed 003).
ELEMENTWISE_LOSSES = frozenset({
    "mean_squared_error", "mse", "mean_absolute_error", "mae",
    "mean_absolute_percentage_error", "mape", "mean_squared_logarithmic_error", "msle",
    "binary_crossentropy", "bce", "binary_focal_crossentropy", "hinge", "squared_hinge",
    "huber", "log_cosh", "poisson",
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "BinaryCrossentropy", "BinaryFocalCrossentropy", "Hinge",
    "SquaredHinge", "Huber", "LogCosh", "Poisson",
})  # fmt: skip
CLASS_LOSSES = frozenset({
    "categorical_crossentropy", "sparse_categorical_crossentropy",
    "categorical_focal_crossentropy", "kl_divergence", "kld", "categorical_hinge",
    "cosine_similarity",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "CategoricalFocalCrossentropy",
    "KLDivergence", "CategoricalHinge", "CosineSimilarity",
})  # fmt: skip

_FROM_LOGITS = Kwarg("from_logits", BOOL, False, "Whether predictions are logits.")
_SMOOTHING = Kwarg("label_smoothing", {"type": "number", "minimum": 0, "maximum": 1}, 0.0,
                   "Label smoothing factor in [0, 1].")  # fmt: skip
_AXIS = Kwarg("axis", {"type": "integer"}, -1, "The axis along which to compute.")
_REDUCTION = Kwarg("reduction", nullable(enum("sum_over_batch_size", "sum", "mean", "none",
                   "mean_with_sample_weight")), "sum_over_batch_size", "How to reduce the loss.")  # fmt: skip

# Loss classes and the plain kwargs a spec may give them.
LOSS_CLASSES: dict[str, tuple[Kwarg, ...]] = {
    "BinaryCrossentropy": (_FROM_LOGITS, _SMOOTHING, _AXIS, _REDUCTION),
    "BinaryFocalCrossentropy": (
        Kwarg("apply_class_balancing", BOOL, False, "Weigh classes by `alpha`."),
        Kwarg("alpha", NUMBER, 0.25, "Weight of the positive class."),
        Kwarg("gamma", NUMBER, 2.0, "Focusing parameter."),
        _FROM_LOGITS, _SMOOTHING, _AXIS, _REDUCTION,
    ),
    "CategoricalCrossentropy": (_FROM_LOGITS, _SMOOTHING, _AXIS, _REDUCTION),
    "CategoricalFocalCrossentropy": (
        Kwarg("alpha", NUMBER, 0.25, "Weighting factor."),
        Kwarg("gamma", NUMBER, 2.0, "Focusing parameter."),
        _FROM_LOGITS, _SMOOTHING, _AXIS, _REDUCTION,
    ),
    "SparseCategoricalCrossentropy": (
        _FROM_LOGITS,
        Kwarg("ignore_class", nullable({"type": "integer"}), None, "A class index to ignore."),
        _REDUCTION,
    ),
    "CategoricalHinge": (_REDUCTION,),
    "CosineSimilarity": (_AXIS, _REDUCTION),
    "Hinge": (_REDUCTION,),
    "SquaredHinge": (_REDUCTION,),
    "Huber": (Kwarg("delta", NUMBER, 1.0, "Where the loss turns linear."), _REDUCTION),
    "KLDivergence": (_REDUCTION,),
    "LogCosh": (_REDUCTION,),
    "MeanAbsoluteError": (_REDUCTION,),
    "MeanAbsolutePercentageError": (_REDUCTION,),
    "MeanSquaredError": (_REDUCTION,),
    "MeanSquaredLogarithmicError": (_REDUCTION,),
    "Poisson": (_REDUCTION,),
}  # fmt: skip

# Strings ``keras.metrics.get`` resolves, and metric classes that need no argument.
METRIC_NAMES = (
    "accuracy", "acc", "auc", "binary_accuracy", "binary_crossentropy", "categorical_accuracy",
    "categorical_crossentropy", "categorical_hinge", "cosine_similarity", "f1_score", "hinge",
    "kl_divergence", "log_cosh_error", "mae", "mape", "mean_absolute_error",
    "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error",
    "mse", "msle", "pearson_correlation", "concordance_correlation", "poisson", "precision",
    "r2_score", "recall", "root_mean_squared_error", "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy", "sparse_top_k_categorical_accuracy", "squared_hinge",
    "top_k_categorical_accuracy", "false_negatives", "false_positives", "true_negatives",
    "true_positives",
    "AUC", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "F1Score", "MeanAbsoluteError",
    "MeanSquaredError", "Precision", "R2Score", "Recall", "RootMeanSquaredError",
    "SparseCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy",
)  # fmt: skip

_COMMON_OPT = (
    Kwarg("weight_decay", nullable(NUMBER), None, "Weight decay, if set."),
    Kwarg("clipnorm", nullable(NUMBER), None, "Clip each gradient's norm to this value."),
    Kwarg("clipvalue", nullable(NUMBER), None, "Clip each gradient to this absolute value."),
    Kwarg("global_clipnorm", nullable(NUMBER), None, "Clip the global gradient norm."),
    Kwarg("use_ema", BOOL, False, "Keep an exponential moving average of the weights."),
    Kwarg("ema_momentum", NUMBER, 0.99, "Momentum of the weight EMA."),
    Kwarg("ema_overwrite_frequency", nullable(POS_INT), None, "Steps between EMA overwrites."),
    Kwarg("loss_scale_factor", nullable(NUMBER), None, "Scale the loss by this factor."),
    Kwarg("gradient_accumulation_steps", nullable(POS_INT), None, "Accumulate gradients."),
)


def _lr(default: float = 0.001) -> Kwarg:
    return Kwarg("learning_rate", {"type": "number", "exclusiveMinimum": 0}, default,
                 "The learning rate.")  # fmt: skip


def _n(name: str, default: float, doc: str) -> Kwarg:
    return Kwarg(name, NUMBER, default, doc)


_BETA_1 = _n("beta_1", 0.9, "Decay rate of the first moment estimates.")
_BETA_2 = _n("beta_2", 0.999, "Decay rate of the second moment estimates.")
_EPS = _n("epsilon", 1e-07, "Small constant for numerical stability.")
_AMSGRAD = Kwarg("amsgrad", BOOL, False, "Use the AMSGrad variant.")

# Optimizer classes and their plain kwargs; ``OPTIMIZER_NAMES`` are the strings.
OPTIMIZERS: dict[str, tuple[Kwarg, ...]] = {
    "Adadelta": (_lr(), _n("rho", 0.95, "Decay rate."), _EPS, *_COMMON_OPT),
    "Adafactor": (
        _lr(), _n("beta_2_decay", -0.8, "Decay rate of the second moment."),
        _n("epsilon_1", 1e-30, "Regulariser constant for the squared gradient."),
        _n("epsilon_2", 0.001, "Regulariser constant for the parameter scale."),
        _n("clip_threshold", 1.0, "Threshold of the root mean square of the update."),
        Kwarg("relative_step", BOOL, True, "Scale the learning rate by the step."),
        *_COMMON_OPT,
    ),
    "Adagrad": (_lr(), _n("initial_accumulator_value", 0.1, "Starting accumulator value."),
                _EPS, *_COMMON_OPT),
    "Adam": (_lr(), _BETA_1, _BETA_2, _EPS, _AMSGRAD, *_COMMON_OPT),
    "Adamax": (_lr(), _BETA_1, _BETA_2, _EPS, *_COMMON_OPT),
    "AdamW": (_lr(), _BETA_1, _BETA_2, _EPS, _AMSGRAD,
              *(k if k.name != "weight_decay" else Kwarg("weight_decay", NUMBER, 0.004, k.description)
                for k in _COMMON_OPT)),
    "Ftrl": (
        _lr(), _n("learning_rate_power", -0.5, "Power of the learning rate decay."),
        _n("initial_accumulator_value", 0.1, "Starting accumulator value."),
        _n("l1_regularization_strength", 0.0, "L1 regularisation strength."),
        _n("l2_regularization_strength", 0.0, "L2 regularisation strength."),
        _n("l2_shrinkage_regularization_strength", 0.0, "L2 shrinkage strength."),
        _n("beta", 0.0, "Beta value."), *_COMMON_OPT,
    ),
    "Lion": (_lr(), _BETA_1, _n("beta_2", 0.99, "Decay rate of the momentum."), *_COMMON_OPT),
    "Nadam": (_lr(), _BETA_1, _BETA_2, _EPS, *_COMMON_OPT),
    "RMSprop": (_lr(), _n("rho", 0.9, "Discounting factor."), _n("momentum", 0.0, "Momentum."),
                _EPS, Kwarg("centered", BOOL, False, "Normalise by the gradient's variance."),
                *_COMMON_OPT),
    "SGD": (_lr(0.01), _n("momentum", 0.0, "Momentum."),
            Kwarg("nesterov", BOOL, False, "Use Nesterov momentum."), *_COMMON_OPT),
}  # fmt: skip
OPTIMIZER_NAMES = tuple(name.lower() for name in OPTIMIZERS)

_MONITOR = Kwarg("monitor", STRING, "val_loss", "Quantity to monitor.")
_MODE = Kwarg(
    "mode", enum("auto", "min", "max"), "auto", "Whether the monitored value should go down or up."
)
_VERBOSE = Kwarg("verbose", {"type": "integer", "minimum": 0, "maximum": 2}, 0, "Verbosity.")

CALLBACKS: dict[str, tuple[Kwarg, ...]] = {
    "EarlyStopping": (
        _MONITOR, _n("min_delta", 0, "Smallest change that counts as improvement."),
        Kwarg("patience", {"type": "integer", "minimum": 0}, 0, "Epochs with no improvement before stopping."),
        _VERBOSE, _MODE, Kwarg("baseline", nullable(NUMBER), None, "Baseline value to beat."),
        Kwarg("restore_best_weights", BOOL, False, "Restore the best epoch's weights."),
        Kwarg("start_from_epoch", {"type": "integer", "minimum": 0}, 0, "Epochs to wait first."),
    ),
    "ModelCheckpoint": (
        Kwarg("filepath", STRING, description="Where to save (`.keras` or `.weights.h5`)."),
        _MONITOR, _VERBOSE,
        Kwarg("save_best_only", BOOL, False, "Save only the best model."),
        Kwarg("save_weights_only", BOOL, False, "Save only the weights."), _MODE,
        Kwarg("save_freq", {"anyOf": [{"const": "epoch"}, POS_INT]}, "epoch", "When to save."),
        Kwarg("initial_value_threshold", nullable(NUMBER), None, "Value to beat before saving."),
    ),
    "ReduceLROnPlateau": (
        _MONITOR, Kwarg("factor", RATE, 0.1, "Factor to reduce the learning rate by."),
        Kwarg("patience", {"type": "integer", "minimum": 0}, 10, "Epochs with no improvement first."),
        _VERBOSE, _MODE, _n("min_delta", 0.0001, "Smallest change that counts."),
        Kwarg("cooldown", {"type": "integer", "minimum": 0}, 0, "Epochs to wait after a reduction."),
        _n("min_lr", 0.0, "Lower bound on the learning rate."),
    ),
    "CSVLogger": (
        Kwarg("filename", STRING, description="CSV file to write."),
        Kwarg("separator", STRING, ",", "Column separator."),
        Kwarg("append", BOOL, False, "Append to an existing file."),
    ),
    "TensorBoard": (
        Kwarg("log_dir", STRING, "logs", "Directory for the logs."),
        Kwarg("histogram_freq", {"type": "integer", "minimum": 0}, 0, "Epochs between histograms."),
        Kwarg("write_graph", BOOL, True, "Write the graph."),
        Kwarg("write_images", BOOL, False, "Write weights as images."),
        Kwarg("write_steps_per_second", BOOL, False, "Log steps per second."),
        Kwarg("update_freq", {"anyOf": [enum("epoch", "batch"), POS_INT]}, "epoch", "When to write."),
        Kwarg("profile_batch", {"type": "integer", "minimum": 0}, 0, "Batch to profile (0: none)."),
        Kwarg("embeddings_freq", {"type": "integer", "minimum": 0}, 0, "Epochs between embedding dumps."),
    ),
}  # fmt: skip

# `distribution.strategy` values and what `modelspec train` builds for each
# (`--strategy none` builds none), and the backend each runs on: TensorFlow's
# tf.distribute, or Keras's own distribution API (keras.distribution), which Keras 3
# implements on JAX only. PyTorch has neither.
STRATEGIES = {
    "mirrored": "tf.distribute.MirroredStrategy: one machine, every GPU (every logical CPU "
    "device when there is no GPU).",
    "multi_worker_mirrored": "tf.distribute.MultiWorkerMirroredStrategy: the machines that "
    "the TF_CONFIG environment variable names.",
    "data_parallel": "keras.distribution.DataParallel (JAX): the model copied on every "
    "device, each batch split between them.",
    "model_parallel": "keras.distribution.ModelParallel (JAX): weights split over a device "
    "`mesh` by the `layout` rules, each batch split over the `batch_axis`.",
}
STRATEGY_BACKENDS = {
    "mirrored": "tensorflow",
    "multi_worker_mirrored": "tensorflow",
    "data_parallel": "jax",
    "model_parallel": "jax",
}
# Bounds on a `model_parallel` mesh and layout (a spec is untrusted: each rule is a
# regular expression matched against every weight's path, by lint and by Keras).
MAX_MESH_AXES = 8
MAX_LAYOUT_RULES = 64
MAX_RULE_LENGTH = 200
