"""Import conformance: an imported spec is the same model as the Keras model it came from.

:func:`prove_import` takes a live ``keras.Model`` through every stage of ``modelspec
import`` and checks each against Keras itself, in order (:data:`STAGES`):

1. ``export``: Keras writes the model's config (``model.to_json()``);
2. ``import``: the config becomes a spec (:func:`~modelspec.importer.import_config`);
3. ``lint``: the spec lints clean in the project (custom layers from its allowed
   modules) and reads back as the document it was written from;
4. ``summary``: ``summary`` gives Keras's parameters (total and trainable) and output
   shape per call for every layer, and Keras's total;
5. ``build``: the spec builds with Keras's parameter count, directly (``to_keras()``)
   or through the module ``modelspec build`` writes (``build_model()``);
6. ``outputs``: with Keras's weights copied by layer name, the built model gives the
   same outputs on one random batch (``atol`` 1e-5);
7. ``sequential``: a spec that is a plain chain, built as a ``keras.Sequential``,
   passes stage 6 too (a graph's proof ends at ``outputs``).

Every stage is timed. A stage that fails stops the proof: :attr:`Proof.failure` says
which stage, a short code (a diagnostic code such as ``MS613``, or what went wrong)
and the reason. The tests (``tests/test_import.py``) and the corpus script
(``benchmarks/import_corpus.py``) both prove models with it.

Example::

    >>> proof = prove_import(keras.applications.ResNet50(weights=None))  # doctest: +SKIP
    >>> proof.ok, proof.reached, round(proof.times["import"], 2)          # doctest: +SKIP
    (True, 'outputs', 0.05)

This module imports Keras and NumPy when it runs, never at import time. The second
half holds the corpus of models it is run on besides the specs and keras.applications:
the Keras Functional API guide's models.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from modelspec.catalog.ops import op_of
from modelspec.check import Result, check_text
from modelspec.emit.summary import summary_json
from modelspec.importer import ImportResult, check_imported, import_config

STAGES = ("export", "import", "lint", "summary", "build", "outputs", "sequential")
ATOL = 1e-5


class ProofFailure(AssertionError):
    """A stage of the proof failed: which one, a short code, and why.

    An ``AssertionError``, so a test that proves a model fails as an assertion would;
    an exception Keras or modelspec raised inside the stage is its ``__cause__``.
    """

    def __init__(self, stage: str, code: str, reason: str, detail: str = "") -> None:
        self.stage, self.code, self.reason, self.detail = stage, code, reason, detail
        super().__init__(f"{stage}: {code}: {reason}" + (f"\n{detail}" if detail else ""))


@dataclass
class Proof:
    """What :func:`prove_import` found: the import, the checked spec, the time per stage."""

    name: str
    config: str | None = None  # model.to_json()
    result: ImportResult | None = None
    checked: Result | None = None
    times: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    failure: ProofFailure | None = None
    layers: int = 0  # layers of the Keras model, nested models' layers included
    params: int = 0
    stage: str = STAGES[0]  # the stage under way, or the last one started

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def reached(self) -> str:
        """The last stage passed ("" if none)."""
        passed = [s for s in STAGES if s in self.times]
        if self.failure is not None and passed and passed[-1] == self.failure.stage:
            passed.pop()
        return passed[-1] if passed else ""


def _graph(model: Any) -> Any:
    """The Functional graph of a model: a Sequential keeps one inside."""
    return getattr(model, "_functional", None) or model


def count_layers(config: Any) -> int:
    """The layers of a Keras model config, nested models' layers counted, inputs not."""
    layers = config.get("config", {}).get("layers", []) if isinstance(config, dict) else []
    total = 0
    for entry in layers:
        if not isinstance(entry, dict) or entry.get("class_name") == "InputLayer":
            continue
        inner = entry.get("config", {})
        nested = isinstance(inner, dict) and isinstance(inner.get("layers"), list)
        total += count_layers(entry) if nested else 1
    return total


def class_name(layer: Any) -> str:
    """The name a saved config gives a layer's class, which the importer reads: Keras
    exports some classes only under another name (GroupedQueryAttention as
    GroupQueryAttention)."""
    from keras.src.api_export import get_name_from_symbol

    exported = get_name_from_symbol(type(layer))
    return exported.rsplit(".", 1)[-1] if exported else type(layer).__name__


def keras_facts(model: Any) -> dict[str, tuple]:
    """Per layer of a Keras model: type, parameters, trainable ones, output shape per call."""
    import keras

    in_model = {id(n) for nodes in _graph(model)._nodes_by_depth.values() for n in nodes}
    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        shapes = []
        for n in layer._inbound_nodes:
            if id(n) in in_model:
                got = [[None if d is None else int(d) for d in t.shape] for t in n.outputs]
                shapes.append(got[0] if len(got) == 1 else got)
        out[layer.name] = (
            class_name(layer),
            sum(math.prod(w.shape) for w in layer.weights),
            sum(math.prod(w.shape) for w in layer.trainable_weights),
            sorted(shapes, key=repr),
        )
    return out


def op_facts(model: Any) -> dict[str, tuple[str | None, list]]:
    """Per ``keras.ops`` call of a model: the spec's op it is (None for one outside the
    set), and its output shapes."""
    import keras

    from modelspec.importer.ops import BY_CLASS

    out = {}
    for op in _graph(model).operations:
        if isinstance(op, keras.layers.Layer):
            continue
        shapes = [[None if d is None else int(d) for d in n.outputs[0].shape]
                  for n in op._inbound_nodes]  # fmt: skip
        spec_op = BY_CLASS.get((type(op).__module__, type(op).__name__))
        out[op.name] = (spec_op.name if spec_op else None, sorted(shapes, key=repr))
    return out


def random_batch(model: Any, names: list[str]) -> dict[str, Any]:
    """Two samples for each input, by the spec's input names (an open axis is 3 long)."""
    import numpy as np

    rng = np.random.default_rng(0)
    out = {}
    # Keras flattens dict inputs in sorted key order: pair them by name.
    structure = _graph(model).input
    pairs = structure.items() if isinstance(structure, dict) else zip(names, model.inputs)
    for name, t in pairs:
        shape = [2] + [3 if d is None else int(d) for d in t.shape[1:]]
        if "int" in str(t.dtype):
            out[name] = rng.integers(0, 10, size=shape).astype(str(t.dtype))
        elif "string" in str(t.dtype):
            # Words a vocabulary may or may not hold.
            words = np.array(["paris", "lyon", "good film", "bad", "unknown words"])
            out[name] = rng.choice(words, size=shape)
        else:
            out[name] = rng.random(shape, dtype="float32")
    if any(v.dtype.kind == "U" for v in out.values()):
        import keras

        # Keras takes strings as a tensor, and a call's inputs all alike.
        out = {k: keras.ops.convert_to_tensor(v) for k, v in out.items()}
    return out


def output_arrays(value: Any, names: list[str]) -> list:
    """A model's outputs as a list of arrays, in the spec's output order (through
    Keras: a PyTorch tensor that tracks gradients is not read by numpy.asarray)."""
    from keras.ops import convert_to_numpy

    if isinstance(value, dict):
        return [convert_to_numpy(value[n]) for n in names]
    if isinstance(value, (list, tuple)):
        return [convert_to_numpy(v) for v in value]
    return [convert_to_numpy(value)]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    return line if len(line) <= 200 else line[:197] + "..."


def _differences(ours: dict[str, tuple], theirs: dict[str, tuple], limit: int = 3) -> str:
    """The first layers whose facts differ: ``(type, params, trainable, shapes)`` each."""
    lines = []
    for name in [*theirs, *(n for n in ours if n not in theirs)]:
        a, b = ours.get(name), theirs.get(name)
        if a != b:
            lines.append(f"layer '{name}': spec {a}, Keras {b}")
    more = f" ... and {len(lines) - limit} more" if len(lines) > limit else ""
    return "; ".join(lines[:limit]) + more


def build_spec_model(checked: Result, form: str, via: str, *, compile: bool = True) -> Any:
    """The spec's model in ``form``: ``to_keras()`` (``via="direct"``), or ``build_model()``
    of the module ``modelspec build`` writes (``via="module"``)."""
    from modelspec.api import SpecModel
    from modelspec.lower.plan import plan

    spec = SpecModel(checked, plan(checked))
    if via == "direct":
        return spec.to_keras(form, compile=compile)
    namespace: dict[str, Any] = {"__name__": "modelspec_generated"}
    exec(spec.to_python(form), namespace)  # noqa: S102 - the code modelspec build writes
    return namespace["build_model"]()


def copy_weights(source: Any, target: Any) -> None:
    """Every layer's weights from ``source`` to the layer of the same name in ``target``."""
    for layer in source.layers:
        if layer.weights:
            target.get_layer(layer.name).set_weights(layer.get_weights())


def prove_import(
    model: Any,
    file: str = "model.json",
    project: Any = None,
    *,
    via: str = "direct",
    atol: float = ATOL,
) -> Proof:
    """Take ``model`` through every stage (see the module's docstring); never raises for
    a stage that fails: :attr:`Proof.failure` holds it.

    ``file`` is the name the config is imported as; ``project`` the project the spec
    is linted and built in (which custom layer modules it allows); ``via`` how the spec
    is built (``"direct"`` or ``"module"``).
    """
    proof = Proof(getattr(model, "name", "model"))
    try:
        _prove(proof, model, file, project, via, atol)
    except ProofFailure as failure:
        proof.failure = failure
    except Exception as exc:  # noqa: BLE001 - Keras's or modelspec's, between two timings
        proof.failure = ProofFailure(proof.stage, type(exc).__name__, _first_line(exc))
        proof.failure.__cause__ = exc
    return proof


@contextmanager
def _stage(proof: Proof, stage: str) -> Iterator[None]:
    """Time ``stage``; an exception inside it becomes its :class:`ProofFailure`."""
    proof.stage = stage
    start = time.perf_counter()
    try:
        yield
    except ProofFailure:
        proof.times[stage] = time.perf_counter() - start
        raise
    except Exception as exc:  # noqa: BLE001 - Keras's or modelspec's: the stage failed
        proof.times[stage] = time.perf_counter() - start
        failure = ProofFailure(stage, type(exc).__name__, _first_line(exc))
        raise failure from exc
    proof.times[stage] = time.perf_counter() - start


def _prove(proof: Proof, model: Any, file: str, project: Any, via: str, atol: float) -> None:
    with _stage(proof, "export"):
        proof.config = model.to_json()
    config = json.loads(proof.config)
    proof.layers, proof.params = count_layers(config), model.count_params()

    with _stage(proof, "import"):
        result = proof.result = import_config(config, file=file)
    if not result.ok:
        errors = result.errors or result.diagnostics
        first = errors[0] if errors else None
        raise ProofFailure("import", first.code if first else "failed",
                           first.message if first else "no spec",
                           "\n".join(d.format() for d in result.diagnostics))  # fmt: skip

    with _stage(proof, "lint"):
        problems = check_imported(result, "imported.yaml", project)
    if problems:
        raise ProofFailure("lint", problems[0].code, problems[0].message,
                           "\n".join(d.format() for d in problems) + "\n" + (result.text or ""))  # fmt: skip
    checked = proof.checked = check_text(result.text or "", "imported.yaml", project=project)

    with _stage(proof, "summary"):
        summary = summary_json(checked)
    ours = {
        layer["name"]: (layer["type"], layer["params"], layer["trainable_params"],
                        sorted(layer["output_shapes"], key=repr))
        for layer in summary["layers"]
    }  # fmt: skip
    # A keras.ops call is an op step, or a layer without weights under the op's name
    # (see the note on ops as layers in modelspec/importer/calls.py); the ops that
    # compute masks are left out (the spec propagates masks itself). Keras names an op
    # step's operation when the model is built, counting the ops of its session, so
    # each is matched with one of Keras's ops by what it computes, and its shapes.
    steps = {n: ours.pop(n) for n in [n for n, f in ours.items() if op_of(f[0])]}
    left = []
    for name, (spec_op, shapes) in op_facts(model).items():
        if name in ours and ours[name][1:] != (0, 0, shapes):
            raise ProofFailure("summary", "differs", f"keras.ops call '{name}': spec "
                               f"{ours[name][1:]}, Keras {(0, 0, shapes)}")  # fmt: skip
        if ours.pop(name, None) is None:
            left.append((spec_op, shapes))
    for name, (kind, params, trainable, shapes) in steps.items():
        fact = (op_of(kind).name, shapes)
        if (params, trainable) != (0, 0) or fact not in left:
            raise ProofFailure("summary", "differs", f"op step '{name}': spec {kind} "
                               f"{shapes}, no such keras.ops call in Keras")  # fmt: skip
        left.remove(fact)
    theirs = keras_facts(model)
    if ours != theirs:
        raise ProofFailure("summary", "differs", _differences(ours, theirs))
    if summary["total_params"] != model.count_params():
        raise ProofFailure("summary", "params", f"spec {summary['total_params']:,} parameters, "
                           f"Keras {model.count_params():,}")  # fmt: skip

    with _stage(proof, "build"):
        built = build_spec_model(checked, "auto", via)
    if built.count_params() != model.count_params():
        raise ProofFailure("build", "params", f"built {built.count_params():,} parameters, "
                           f"Keras {model.count_params():,}")  # fmt: skip

    proof.stage = "outputs"
    inputs = list(result.doc["inputs"]) if result.doc else []
    outputs = list(result.doc.get("outputs", {})) if result.doc else []
    batch = random_batch(model, inputs)

    def call(m: Any) -> list:
        if len(inputs) == 1:
            return output_arrays(m(batch[inputs[0]], training=False), outputs)
        by_name = isinstance(_graph(m).input, dict)
        value = m(batch if by_name else [batch[n] for n in inputs], training=False)
        return output_arrays(value, outputs)

    want: list = []

    def same_outputs(stage: str, other: Callable[[], Any]) -> None:
        import numpy as np

        with _stage(proof, stage):
            want[:] = want or call(model)  # Keras's own outputs, once
            m = other()
            copy_weights(model, m)
            got = call(m)
            if len(want) != len(got):
                raise ProofFailure(stage, "outputs", f"{len(got)} outputs, Keras {len(want)}")
            for i, (a, b) in enumerate(zip(want, got)):
                if a.shape != b.shape or not np.allclose(
                    a, b, rtol=1e-7, atol=atol, equal_nan=True
                ):
                    worst = float(np.max(np.abs(a - b))) if a.shape == b.shape else math.nan
                    raise ProofFailure(stage, "differs", f"output {i}: max |difference| "
                                       f"{worst:.3g} (atol {atol:g}), shapes {a.shape} "
                                       f"and {b.shape}")  # fmt: skip

    same_outputs("outputs", lambda: built)
    if result.form == "sequential":
        # The same proof for the chain built as a keras.Sequential (`--form sequential`).
        def stack() -> Any:
            import keras

            m = build_spec_model(checked, "sequential", via, compile=False)
            if not isinstance(m, keras.Sequential):
                raise ProofFailure("sequential", "form", f"built a {type(m).__name__}")
            return m

        same_outputs("sequential", stack)


# --- the corpus: the Keras Functional API guide's models ----------------------------------


def ticket_classifier(keras: Any) -> Any:
    """The Functional API guide's ticket classifier: three inputs, two weighted heads."""
    layers = keras.layers
    num_tags, num_words, num_departments = 12, 10000, 4
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")
    title_features = layers.Embedding(num_words, 64)(title_input)
    body_features = layers.Embedding(num_words, 64)(body_input)
    title_features = layers.LSTM(128)(title_features)
    body_features = layers.LSTM(32)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    model = keras.Model(
        inputs=[title_input, body_input, tags_input], outputs=[priority_pred, department_pred]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[
            keras.losses.BinaryCrossentropy(from_logits=True),
            keras.losses.CategoricalCrossentropy(from_logits=True),
        ],
        loss_weights=[1.0, 0.2],
    )
    return model


def toy_resnet(keras: Any) -> Any:
    """The Functional API guide's toy ResNet for CIFAR10."""
    layers = keras.layers
    inputs = keras.Input(shape=(32, 32, 3), name="img")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])
    x = layers.Conv2D(64, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs, outputs, name="toy_resnet")
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["acc"],
    )
    return model


def siamese(keras: Any) -> Any:
    """Shared layers, as in the guide: one embedding and one encoder for two inputs."""
    layers = keras.layers
    left = keras.Input(shape=(None,), dtype="int32")
    right = keras.Input(shape=(None,), dtype="int32")
    embed, encode = layers.Embedding(1000, 16), layers.LSTM(8)
    similarity = layers.Dot(axes=1, normalize=True)([encode(embed(left)), encode(embed(right))])
    return keras.Model([left, right], layers.Dense(1, activation="sigmoid")(similarity))


def autoencoder(keras: Any) -> Any:
    """The Functional API guide's autoencoder: an encoder and a decoder, each a nested
    Functional model, and autoencoder = decoder(encoder(x))."""
    layers = keras.layers
    encoder_input = keras.Input(shape=(28, 28, 1), name="original_img")
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    encoder_output = layers.GlobalMaxPooling2D()(x)
    encoder = keras.Model(encoder_input, encoder_output, name="encoder")
    decoder_input = keras.Input(shape=(16,), name="encoded_img")
    x = layers.Reshape((4, 4, 1))(decoder_input)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    decoder_output = layers.Conv2DTranspose(1, 3, activation="relu")(x)
    decoder = keras.Model(decoder_input, decoder_output, name="decoder")
    autoencoder_input = keras.Input(shape=(28, 28, 1), name="img")
    decoded_img = decoder(encoder(autoencoder_input))
    return keras.Model(autoencoder_input, decoded_img, name="autoencoder")


def siamese_tower(keras: Any) -> Any:
    """Two inputs through one nested ``Sequential`` tower (shared), as the guide shares
    models; the outer model has a ``dense`` of its own (Keras scopes names per model)."""
    layers = keras.layers
    tower = keras.Sequential(
        [keras.Input(shape=(12, 12, 1)), layers.Conv2D(4, 3, activation="relu", name="conv"),
         layers.GlobalAveragePooling2D(name="pool"), layers.Dense(8, name="dense")],
        name="tower",
    )  # fmt: skip
    left = keras.Input(shape=(12, 12, 1), name="left")
    right = keras.Input(shape=(12, 12, 1), name="right")
    diff = layers.Subtract(name="difference")([tower(left), tower(right)])
    out = layers.Dense(1, activation="sigmoid", name="dense")(diff)
    return keras.Model([left, right], out, name="siamese")


# --- the corpus: models that compute with keras.ops -------------------------------------


def token_positions(keras: Any) -> Any:
    """Token and position embeddings, the positions counted from the tokens:
    ``cumsum(ones_like(tokens), axis=1) - 1`` (``keras.ops.arange`` would be a constant,
    and its Embedding left out of the model)."""
    layers, ops = keras.layers, keras.ops
    tokens = keras.Input(shape=(12,), dtype="int32", name="tokens")
    positions = ops.cumsum(ops.ones_like(tokens), axis=1) - 1
    x = layers.Add(name="embedded")([layers.Embedding(100, 16, name="token_embedding")(tokens),
                                     layers.Embedding(12, 16, name="position_embedding")(positions)])  # fmt: skip
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(tokens, layers.Dense(2, name="logits")(x), name="token_positions")


def siamese_distance(keras: Any) -> Any:
    """One tower for two inputs, and the Euclidean distance of their embeddings:
    ``sqrt(sum(square(a - b), axis=-1, keepdims=True))``."""
    layers, ops = keras.layers, keras.ops
    tower = [layers.Dense(16, activation="relu", name="hidden"), layers.Dense(8, name="embed")]
    left = keras.Input(shape=(10,), name="left")
    right = keras.Input(shape=(10,), name="right")
    a, b = left, right
    for layer in tower:
        a, b = layer(a), layer(b)
    distance = ops.sqrt(ops.sum(ops.square(a - b), axis=-1, keepdims=True))
    score = layers.Dense(1, activation="sigmoid", name="score")(ops.exp(-distance))
    return keras.Model([left, right], score, name="siamese_distance")


def ops_attention(keras: Any) -> Any:
    """Self-attention written with ops: ``softmax(q @ k^T / sqrt(d)) @ v``, a residual
    add, and the first position's vector (``h[:, 0]``) to a classifier."""
    import math

    layers, ops = keras.layers, keras.ops
    x = keras.Input(shape=(10, 12), name="sequence")
    q, k, v = (layers.Dense(12, name=n)(x) for n in ("query", "key", "value"))
    scores = ops.matmul(q, ops.transpose(k, (0, 2, 1))) / math.sqrt(12)
    attended = ops.matmul(ops.softmax(scores, axis=-1), v)
    h = layers.LayerNormalization(name="norm")(x + attended)
    return keras.Model(x, layers.Dense(3, name="classes")(h[:, 0]), name="ops_attention")


OPS_MODELS: dict[str, Callable[[Any], Any]] = {
    "token_positions": token_positions,
    "siamese_distance": siamese_distance,
    "ops_attention": ops_attention,
}

GUIDE_MODELS: dict[str, Callable[[Any], Any]] = {
    "ticket_classifier": ticket_classifier,
    "toy_resnet": toy_resnet,
    "siamese": siamese,
    "autoencoder": autoencoder,
    "siamese_tower": siamese_tower,
}

# The keras.applications models tests/test_import.py proves by default (the CI subset),
# each at the smallest input it takes: five families, each built twice in seconds.
CI_APPLICATIONS = (("VGG16", 32), ("MobileNet", 32), ("MobileNetV2", 32), ("ResNet50", 32),
                   ("Xception", 71))  # fmt: skip

# The modules of keras.applications' custom layer classes, by model-name prefix: what a
# user allows (`--allow-module`) to import these models.
APPLICATION_MODULES = {
    "ConvNeXt": ("keras.src.applications.convnext",),
    "InceptionResNetV2": ("keras.src.applications.inception_resnet_v2",),
}


def application_modules(name: str) -> tuple[str, ...]:
    """The modules to allow for the keras.applications model ``name``."""
    return next((m for p, m in APPLICATION_MODULES.items() if name.startswith(p)), ())
