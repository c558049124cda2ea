"""``modelspec equiv``: prove that every form of one spec is the same model.

A spec can be built four ways: the generated module in each form the graph allows
(Functional always, Sequential for plain stacks) and the direct instantiation in
each. A spec with nested models (``model: true``) is built with them inlined too, in
every form that allows, and a layer inside a nested model is compared with the
inlined layer of the same flat name (``ta_enc1``). :func:`compare` builds them all and
checks, in order:

1. parameters: the same counts, trainable and not, and every layer under the same
   dtype policy (``mixed_bfloat16``, ``int8_from_float32``: :func:`dtype_policies`);
2. initial weights: layer by layer (matched by name), the same dtypes, bit for bit;
3. outputs: on one random batch, in inference mode, bit for bit (in the compute
   dtype: one backend runs the same kernels on every build, bfloat16 too);
4. training: after a few steps of ``fit`` on random data (shuffling off, a fresh
   optimizer per model, deterministic ops), the weights again, bit for bit.

It stops at the first check that fails and names the first difference: which two
builds, which layer, which weight. Weights can only agree when the spec has a
``seed`` (see :mod:`modelspec.lower.plan`). Without one, each build draws its own initial
weights, so check 2 cannot hold and says so instead of failing: every build is given
the first build's weights (by layer name), and checks 3 and 4 run on those. The
verdict is then "the same model, apart from its initial weights" (exit code 4 on the
command line), not "identical". A difference in training from a layer that draws
random numbers (dropout, noise, random augmentation, a custom layer) gets a hint.

Specs without ``compile`` are trained, for this comparison only, with
``SGD(learning_rate=0.01)`` and mean squared error on every output.

It runs on Keras's backend (:mod:`modelspec.runtime.backend`), each made deterministic
its own way (:func:`deterministic_keras`, :func:`deterministic_ops`); string inputs
exist on TensorFlow only (MS551).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from typing import Any

from modelspec.api import SpecModel
from modelspec.errors import SpecError, printable
from modelspec.lower.plan import plan
from modelspec.runtime.weights import named_layers

NONE_SIZE = 5  # the size given to axes the spec leaves open (None)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    failed: bool = False  # Keras could not run this check at all


# Exit codes of `modelspec equiv`, by verdict.
EXIT_IDENTICAL, EXIT_DIFFERENT, EXIT_UNSEEDED = 0, 1, 4


@dataclass
class Report:
    spec: str
    builds: list[str]
    checks: list[Check] = field(default_factory=list)
    hint: str | None = None
    seeded: bool = True  # False: initial weights were copied, not compared
    # Training differed, and layers draw random numbers the spec does not seed.
    unseeded_randomness: bool = False

    @property
    def identical(self) -> bool:
        return self.seeded and self.same_given_weights

    @property
    def same_given_weights(self) -> bool:
        """Every check holds, the initial weights given to each build alike when the
        spec has no seed."""
        return len(self.checks) == 4 and all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        if self.identical:
            return EXIT_IDENTICAL
        return EXIT_UNSEEDED if self.same_given_weights else EXIT_DIFFERENT

    def text(self) -> str:
        name = printable(self.spec)  # free text: it cannot forge lines in a CI log
        lines = [f"model '{name}': {len(self.builds)} builds: " + ", ".join(self.builds)]
        for i, c in enumerate(self.checks, 1):
            status = "same" if c.ok else "FAILED" if c.failed else "DIFFERENT"
            if c.ok and not self.seeded and c.name == "initial weights":
                status = "copied"
            lines.append(f"  {i}. {c.name:<16} {status:<9}  {c.detail}")
        if self.identical:
            lines.append(f"verdict: identical: all {len(self.builds)} builds are the same model")
        elif self.same_given_weights:
            lines.append(
                f"verdict: the same model, apart from its initial weights: given the "
                f"same weights, all {len(self.builds)} builds give the same outputs and "
                "train the same; without a `seed:` each build starts from its own "
                "random weights"
            )
            lines.append("hint: add `seed:` to the spec for identical builds, weights included")
        else:
            n, failed = next((i, c) for i, c in enumerate(self.checks, 1) if not c.ok)
            if failed.failed:
                lines.append(f"verdict: not proven: check {n} ({failed.name}) could not run")
            elif self.unseeded_randomness:
                lines.append(
                    f"verdict: not proven from check {n} ({failed.name}) on: training "
                    "draws random numbers that the spec does not seed"
                )
            else:
                lines.append(f"verdict: different, from check {n} ({failed.name}) on")
            if self.hint:
                lines.append(f"hint: {self.hint}")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "builds": self.builds,
            "identical": self.identical,
            "seeded": self.seeded,
            "same_given_weights": self.same_given_weights,
            "checks": [
                {"name": c.name, "same": c.ok, "failed": c.failed, "detail": c.detail}
                for c in self.checks
            ],
            "hint": self.hint,
        }


def _builders(spec: SpecModel) -> dict[str, Any]:
    """``label -> () -> keras.Model`` for every build of the spec, and of the spec with
    its nested models inlined when it has any."""
    out = {}
    module_file = os.path.join(
        os.path.dirname(os.path.abspath(spec.result.file)), f"{spec.name}_model.py"
    )
    for model, how in ((spec, ""), (inlined(spec), "inlined, ")):
        if model is None:
            continue
        for form in model.forms:
            source = model.to_python(form)

            def generated(source: str = source, form: str = form) -> Any:
                # As if written beside the spec, where `build` writes it by default: a
                # `weights:` file is found from the module's folder.
                namespace: dict[str, Any] = {"__name__": f"modelspec_equiv_{form}",
                                             "__file__": module_file}  # fmt: skip
                exec(compile(source, f"<{spec.name}.{form}.py>", "exec"), namespace)  # noqa: S102 - our own output
                return namespace["build_model"]()

            out[f"{form} ({how}generated)"] = generated
        for form in model.forms:
            out[f"{form} ({how}direct)"] = lambda form=form, model=model: model.to_keras(form)
    return out


def inlined(spec: SpecModel) -> SpecModel | None:
    """``spec`` with every nested model's layers written into the model, or None when
    it has no nested model. The flat spec is the same, so are the layer names and the
    seeds drawn from them: the two are the same model (see :mod:`modelspec.lower.plan`)."""
    if spec.result.nesting is None:
        return None
    result = replace(spec.result, nesting=None)
    return SpecModel(result, plan(result))


def first_line(exc: BaseException) -> str:
    """An exception's message on one line, without the terminal colours Keras adds."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    detail = next((ln for ln in lines[1:] if not ln.startswith(("Arguments", "•"))), "")
    return f"{type(exc).__name__}: {lines[0] if lines else ''} {detail}".strip()


def fmt_diff(a: Any, b: Any) -> str:
    import numpy as np

    if a.shape != b.shape:
        return f"shapes {a.shape} and {b.shape}"
    diff = np.max(np.abs(a.astype("float64") - b.astype("float64"))) if a.size else 0.0
    return f"max |difference| {diff:.3g}"


def weight_arrays(model: Any) -> dict[str, list[tuple[str, Any]]]:
    """Layer name -> [(weight path, array)], for layers that have weights; a layer of a
    nested model by its flat name, ``<model>_<layer>``, as the inlined build names it."""
    from keras import ops

    out = {}
    for name, layer in named_layers(model).items():
        pairs = [(w.path, ops.convert_to_numpy(w)) for w in layer.weights]
        if pairs:
            out[name] = pairs
    return out


def dtype_policies(model: Any) -> dict[str, Any]:
    """Layer name -> the layer's dtype policy as its config saves it (``{"class_name":
    "DTypePolicy", "config": {"name": "mixed_bfloat16"}}``, a quantized policy with its
    mode and source), for every layer but the inputs (a Sequential model holds none);
    a nested model's by its flat name."""
    from keras.layers import InputLayer
    from keras.saving import serialize_keras_object

    return {
        name: serialize_keras_object(layer.dtype_policy)
        for name, layer in named_layers(model).items()
        if not isinstance(layer, InputLayer) and getattr(layer, "dtype_policy", None) is not None
    }


def _policy_name(policy: Any) -> str:
    """``mixed_bfloat16``, ``int8_from_float32``: a serialized policy's name."""
    config = policy.get("config", {}) if isinstance(policy, dict) else {}
    if "mode" in config:
        return f"{config['mode']}_from_{config.get('source_name', '?')}"
    return str(config.get("name", policy))


def _policy_difference(ref: str, other: str, a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """Where two builds' layers compute or store under other dtype policies, or None."""
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name), b.get(name)
        if x != y:
            shown = [_policy_name(p) if p is not None else "none" for p in (x, y)]
            if shown[0] == shown[1]:
                shown = [str(x), str(y)]
            return (
                f"{other} vs {ref}: layer '{name}' has dtype policy {shown[1]}, {ref}'s has "
                f"{shown[0]}"
            )
    return None


def _policies_said(policies: dict[str, Any]) -> str:
    """``, dtype policies alike: mixed_bfloat16 (3 layers), float32 (1)``; nothing when
    every layer is float32."""
    counts: dict[str, int] = {}
    for policy in policies.values():
        name = _policy_name(policy)
        counts[name] = counts.get(name, 0) + 1
    if set(counts) <= {"float32"}:
        return ""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [
        f"{n} ({c} layer{'s' * (c != 1)})" if i == 0 else f"{n} ({c})"
        for i, (n, c) in enumerate(ranked)
    ]
    return ", dtype policies alike: " + ", ".join(shown)


def _compare_weights(ref: str, other: str, a: Any, b: Any) -> tuple[bool, str]:
    import numpy as np

    wa, wb = weight_arrays(a), weight_arrays(b)
    if sorted(wa) != sorted(wb):
        missing = sorted(set(wa) ^ set(wb))
        return False, f"{other} vs {ref}: layers with weights differ: {missing[:5]}"
    count = 0
    for layer, pairs in wa.items():
        for (path, x), (_, y) in zip(pairs, wb[layer]):
            count += 1
            if x.dtype != y.dtype:
                return False, (
                    f"{other} vs {ref}: layer '{layer}', weight '{path}': dtypes {x.dtype} "
                    f"and {y.dtype}"
                )
            if x.shape != y.shape or not np.array_equal(x, y, equal_nan=True):
                return False, (
                    f"{other} vs {ref}: layer '{layer}', weight '{path}': {fmt_diff(x, y)}"
                )
    return True, f"{count} arrays in {len(wa)} layers"


def sample_inputs(spec: SpecModel, batch: int, rng: Any) -> Any:
    """A random batch for the model's inputs: valid token ids for integer inputs, words
    for string inputs."""

    bounds = [
        v
        for layer in spec.plan.layers.values()
        for k, v in layer.ctor.kwargs
        if k in ("input_dim", "num_tokens") and isinstance(v, int)
    ]
    high = max(1, min([1000, *bounds]))
    words = ["unseen"] + sorted({
        w for layer in spec.plan.layers.values() for k, v in layer.ctor.kwargs
        if k == "vocabulary" and isinstance(v, tuple) for w in v[:20] if isinstance(w, str)
    })  # fmt: skip
    arrays = {}
    for inp in spec.plan.inputs:
        shape = (batch, *(NONE_SIZE if d is None else d for d in inp.shape))
        if inp.dtype == "string":
            # Words of the spec's vocabularies and one of none, as a tensor: Keras
            # refuses NumPy arrays of strings.
            import tensorflow as tf

            arrays[inp.name] = tf.constant(rng.choice(words, shape))
        elif inp.dtype == "bool":
            arrays[inp.name] = rng.integers(0, 2, shape).astype(bool)
        elif inp.dtype.startswith(("int", "uint")):
            arrays[inp.name] = rng.integers(0, high, shape).astype(inp.dtype)
        else:
            arrays[inp.name] = rng.random(shape).astype(inp.dtype)
    if any(inp.dtype == "string" for inp in spec.plan.inputs):
        import tensorflow as tf

        # A model call takes tensors or arrays, not a mix of both.
        arrays = {k: tf.convert_to_tensor(v) for k, v in arrays.items()}
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    return arrays


def _targets(spec: SpecModel, outputs: Any, rng: Any) -> Any:
    """Random targets shaped like the model's outputs; class ids where the loss takes
    labels, shaped as ``modelspec train`` accepts them (:func:`modelspec.runtime.slots.slots`)."""
    from modelspec.runtime.slots import slots

    labels = {
        s.name: s.shapes[0]
        for s in slots(spec.result)
        if s.role == "output" and s.kinds == "iu" and s.shapes
    }
    names = [o.name for o in spec.plan.outputs]
    values = outputs if isinstance(outputs, dict) else {names[0]: outputs}
    from keras import ops

    out = {}
    for name, pred in values.items():
        pred = ops.convert_to_numpy(pred)
        if name in labels:
            shape = (len(pred), *(NONE_SIZE if d is None else d for d in labels[name]))
            out[name] = rng.integers(0, pred.shape[-1], shape)
        else:
            out[name] = rng.random(pred.shape).astype("float32")
    return out if isinstance(outputs, dict) else out[names[0]]


def outputs_of(model: Any, x: Any) -> dict[str, Any]:
    # convert_to_numpy, not numpy.asarray: a PyTorch tensor that tracks gradients
    # refuses to be read as an array.
    from keras.ops import convert_to_numpy

    y = model(x, training=False)
    if isinstance(y, dict):
        return {k: convert_to_numpy(v) for k, v in y.items()}
    if isinstance(y, (list, tuple)):
        return {str(i): convert_to_numpy(v) for i, v in enumerate(y)}
    return {"": convert_to_numpy(y)}


def deterministic_keras() -> Any:
    """Keras, imported on a backend that can give the same bits for the same ops in
    the same order: for JAX, XLA's deterministic GPU ops (a flag read when JAX
    starts, so set before Keras is first imported; JAX on a CPU is deterministic
    already), for PyTorch's cuBLAS a fixed workspace. :func:`deterministic_ops` does
    the rest, once nothing can stop the comparison."""
    from modelspec.runtime.backend import configured
    from modelspec.runtime.quiet import quiet_import

    if sys.modules.get("keras") is None:
        backend = configured()
        if backend == "jax":
            flags = os.environ.get("XLA_FLAGS", "")
            if "xla_gpu_deterministic_ops" not in flags:
                os.environ["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()
        elif backend == "torch":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return quiet_import("keras")


def deterministic_ops(backend: str) -> None:
    """The same ops in the same order give the same bits: TensorFlow's op determinism,
    PyTorch's deterministic algorithms. For the rest of the process: after it, an
    unseeded random op of TensorFlow is an error."""
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        # warn_only: an op with no deterministic kernel warns instead of failing; a
        # difference it makes shows as one.
        torch.use_deterministic_algorithms(True, warn_only=True)


def compare(spec: SpecModel, *, steps: int = 3, batch_size: int = 8, data_seed: int = 0) -> Report:
    """Build every form of ``spec`` and compare them (see the module docstring)."""
    from modelspec.runtime.backend import unsupported
    from modelspec.runtime.instantiate import verify_custom

    keras = deterministic_keras()
    backend = keras.config.backend()
    problems = unsupported(spec.result, backend, strategy=False)
    if problems:  # string inputs, off TensorFlow
        raise SpecError(problems)
    verify_custom(spec.plan)  # before the generated module creates any of them
    deterministic_ops(backend)
    import numpy as np

    builders = _builders(spec)
    report = Report(spec.name, list(builders))
    models = {}
    for label, build in builders.items():
        # No global seed here: a build gets what build_model() gives a user, so
        # weights agree only through the spec's seed.
        keras.backend.clear_session()
        models[label] = build()
        if spec.plan.compile is None:
            models[label].compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")
    (ref, first), *others = models.items()

    counts = {
        label: (m.count_params(), sum(int(np.prod(w.shape)) for w in m.trainable_weights))
        for label, m in models.items()
    }
    for label, _ in others:
        if counts[label] != counts[ref]:
            report.checks.append(
                Check(
                    "parameters",
                    False,
                    f"{label} has {counts[label][0]:,} parameters ({counts[label][1]:,} trainable), "
                    f"{ref} has {counts[ref][0]:,} ({counts[ref][1]:,})",
                )
            )
            return report
    policies = {label: dtype_policies(m) for label, m in models.items()}
    for label, _ in others:
        problem = _policy_difference(ref, label, policies[ref], policies[label])
        if problem is not None:
            report.checks.append(Check("parameters", False, problem))
            return report
    said = _policies_said(policies[ref])
    report.checks.append(Check("parameters", True, f"{counts[ref][0]:,} in every build{said}"))

    if spec.plan.seed is None:
        # Nothing to compare: each build drew its own weights. Give every build the
        # first one's, by layer name, and compare what the model does with them.
        report.seeded = False
        for _, model in others:
            _copy_weights(first, model)
        detail = (
            f"not comparable without a seed: {ref}'s, given to every build "
            f"({_compare_weights(ref, ref, first, first)[1]})"
        )
    for label, model in others:
        ok, detail = _compare_weights(ref, label, first, model) if report.seeded else (True, detail)
        if not ok:
            report.checks.append(Check("initial weights", False, detail))
            return report
    report.checks.append(Check("initial weights", True, detail))

    rng = np.random.default_rng(data_seed)
    x = sample_inputs(spec, batch_size, rng)
    expected = outputs_of(first, x)
    for label, model in others:
        got = outputs_of(model, x)
        for key, want in expected.items():
            same = key in got and got[key].shape == want.shape
            if not same or not np.array_equal(got[key], want, equal_nan=want.dtype.kind == "f"):
                where = f"output '{key}'" if key else "the output"
                shown = fmt_diff(want, got[key]) if key in got else "missing"
                report.checks.append(Check("outputs", False, f"{label} vs {ref}: {where}: {shown}"))
                return report
    report.checks.append(Check("outputs", True, f"a batch of {batch_size}, bit for bit"))

    xs = sample_inputs(spec, batch_size * steps, rng)
    ys = _targets(
        spec, outputs_of(first, xs) if len(expected) > 1 else first(xs, training=False), rng
    )
    for label, model in models.items():
        keras.utils.set_random_seed(data_seed)
        try:
            model.fit(xs, ys, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        except Exception as exc:  # noqa: BLE001 - Keras's own failure, reported as such
            report.checks.append(
                Check(
                    f"after {steps} steps",
                    False,
                    f"{label}: Keras cannot train it: {first_line(exc)}",
                    failed=True,
                )
            )
            return report
    for label, model in others:
        ok, detail = _compare_weights(ref, label, first, model)
        if not ok:
            report.checks.append(Check(f"after {steps} steps", False, detail))
            report.hint = _random_hint(spec)
            report.unseeded_randomness = report.hint is not None and spec.plan.seed is None
            return report
    report.checks.append(Check(f"after {steps} steps", True, detail))
    return report


def _copy_weights(source: Any, target: Any) -> None:
    """``source``'s weights into ``target``, layer by layer, matched by (flat) name."""
    theirs = named_layers(target)
    for name, layer in named_layers(source).items():
        if layer.weights:
            theirs[name].set_weights(layer.get_weights())


# Layers that draw random numbers while training: with a seed they draw the same ones
# in every build (plan gives each a seed from the spec's), without one they do not.
RANDOM_LAYERS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                 "GaussianDropout", "GaussianNoise", "AlphaDropout")  # fmt: skip


def _random_hint(spec: SpecModel) -> str | None:
    """Why training may differ between builds: the layers that draw random numbers."""
    from modelspec.lower.plan import CUSTOM

    found = [
        f"'{layer.name}' ({layer.ctor.cls.rpartition('.')[2]})"
        for layer in spec.plan.layers.values()
        if layer.ctor.namespace == CUSTOM
        or layer.ctor.cls in RANDOM_LAYERS
        or layer.ctor.cls.startswith("Random")
    ]
    if not found:
        return None
    shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    if spec.plan.seed is None:
        return (
            f"{shown} may draw random numbers while training, and the spec has no "
            "`seed:`: add one, and each such layer gets a seed of its own"
        )
    return (
        f"{shown} may draw random numbers while training: give a custom layer a seed "
        "kwarg of its own, or leave it out of the comparison"
    )
