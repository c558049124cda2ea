"""``modelspec train``: fit a spec's model on named arrays from an ``.npz`` file.

Three stages, each of which can stop the run (:func:`run_train` runs them):

1. **Check the data, with numpy only.** :func:`prepare` reads the data file's headers
   (:func:`modelspec.runtime.data.read_data`, bounded), compares them with what the
   model reads (:func:`modelspec.runtime.slots.check_data`), and reports every problem
   at once (MS510 - MS519). The spec's weights file, if any, is checked as data too
   (:func:`modelspec.runtime.weights.check_planned`, h5py only). TensorFlow is not
   imported yet; the arrays are then read, exactly the bytes each header declares.
2. **Fit**, on the Keras backend :mod:`modelspec.runtime.backend` names (TensorFlow,
   JAX or PyTorch; what the spec asks that the backend cannot give is refused before
   any data is read, MS550 - MS552). On TensorFlow a distribution strategy comes
   first (:mod:`modelspec.runtime.strategy`: MultiWorkerMirrored must exist before
   TensorFlow touches a device); :func:`fit` builds and compiles the model in its
   scope, and calls ``model.fit`` with the spec's ``fit`` settings and callbacks.
3. **Save.** :func:`save_model` writes the ``.keras`` file through a temporary file in
   the same folder and a rename, sealed (its zip comment names the spec and holds a
   digest, :mod:`modelspec.emit.outputs`) so that a later ``train --out`` can tell it from a
   file it must not replace (:func:`out_problem`).

Example::

    >>> from modelspec.api import load
    >>> spec = load("mlp.yaml")                                          # doctest: +SKIP
    >>> arrays, problems = prepare(spec.result, spec.plan, "data.npz")   # doctest: +SKIP
    >>> trained = fit(spec.plan, arrays, fit_settings(spec.plan))        # doctest: +SKIP
    >>> save_model(trained.model, "mlp.keras")                           # doctest: +SKIP

Nothing here imports numpy, Keras or a backend at module level: ``modelspec lint``
imports none of them (``tests/test_no_tensorflow.py``). TensorFlow is imported only
on its own backend, for a strategy or for string inputs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from modelspec.catalog.training import STRATEGY_BACKENDS
from modelspec.errors import ERROR, Diagnostic, format_all
from modelspec.ir import Spec
from modelspec.lower.plan import Plan
from modelspec.runtime.adapt import adapt_layers, trained_samples
from modelspec.runtime.backend import (
    BackendError,
    needs_tensorflow,
    require,
    strategy_problem,
    unsupported,
)
from modelspec.runtime.data import load, read_data
from modelspec.runtime.slots import check_data, slots
from modelspec.runtime.strategy import (
    DistributionError,
    JaxDistribution,
    even_count,
    is_chief,
    make_distribution,
    make_strategy,
    shard,
    strategy_name,
)

if TYPE_CHECKING:
    import numpy as np

# Keras's defaults for what a spec's `fit` leaves out.
FIT_DEFAULTS: Mapping[str, Any] = {
    "epochs": 1,
    "batch_size": 32,
    "validation_split": 0.0,
    "shuffle": True,
    "verbose": "auto",
}


def nothing_to_train(spec: Spec) -> Diagnostic | None:
    """MS510 when no output has a loss: ``model.fit`` would have nothing to minimise."""
    if any(o.loss is not None for o in spec.outputs):
        return None
    s = spec.outputs[0].source if spec.outputs else spec.source
    return Diagnostic(
        ERROR,
        "MS510",
        "nothing to train: no output has a loss",
        "give an output a `loss:` (and add `compile:` to choose the optimizer)",
        s.file,
        s.line,
        s.col,
        s.path,
    )


# Callbacks that need a package beyond Keras and its backend. TensorBoard: TensorFlow
# 2.21 dropped its dependency on tensorboard, without which the callback fails after the
# first epoch; and Keras 3.15 writes its logs with tf.summary on every backend, so on
# JAX or PyTorch it needs TensorFlow too.
CALLBACK_PACKAGES = {"TensorBoard": ("tensorboard", "tensorflow")}


def missing_packages(
    result: Any, find_spec: Callable[[str], Any] = importlib.util.find_spec
) -> Iterator[Diagnostic]:
    """MS517 for each ``fit`` callback whose packages are not installed (checked unimported)."""
    fit = result.spec.fit or {}
    for i, callback in enumerate(fit.get("callbacks") or ()):
        packages = CALLBACK_PACKAGES.get(callback.get("type"), ())
        missing = [p for p in packages if find_spec(p) is None]
        if missing:
            what = (
                f"the `{missing[0]}` package, which is"
                if len(missing) == 1
                else "the " + " and ".join(f"`{p}`" for p in missing) + " packages, which are"
            )
            yield result.doc.diagnostic(
                "MS517",
                f"callback `{callback['type']}` needs {what} not installed",
                ("fit", "callbacks", i),
                hint=f"pip install {' '.join(missing)}",
            )


def prepare(
    result: Any, plan: Plan, data: str | os.PathLike[str]
) -> tuple[dict[str, np.ndarray] | None, list[Diagnostic]]:
    """Check ``data`` against the spec, and the spec's weights file as data, then load
    the arrays: ``(arrays, [])``, or ``(None, problems)``. Nothing here imports TensorFlow."""
    data_name = os.fspath(data)
    problem = nothing_to_train(result.spec)
    if problem is not None:
        return None, [problem]
    infos, diags = read_data(data_name)
    diags[:0] = missing_packages(result)
    wanted = slots(result)
    if infos is not None:
        diags += check_data(wanted, infos, data_name, result.spec)
    if plan.weights is not None:
        # The spec's weights file is read as data here too (h5py, no TensorFlow), so a
        # file that cannot be loaded stops the run before TensorFlow starts.
        from modelspec.runtime.weights import check_planned

        diags += check_planned(plan.weights)
    if diags:
        return None, diags
    return load(data_name, [s.name for s in wanted])


@dataclass(frozen=True, slots=True)
class FitSettings:
    """``model.fit`` arguments: the command line's, else the spec's ``fit``, else Keras's."""

    epochs: int
    batch_size: int
    validation_split: float
    shuffle: bool
    verbose: int | str


def fit_settings(
    plan: Plan,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    validation_split: float | None = None,
) -> FitSettings:
    given = {"epochs": epochs, "batch_size": batch_size, "validation_split": validation_split}
    values = {
        key: given.get(key) if given.get(key) is not None else plan.fit.get(key, default)
        for key, default in FIT_DEFAULTS.items()
    }
    return FitSettings(**values)


def split_problem(samples: int, validation_split: float) -> str | None:
    """Why Keras would refuse ``validation_split`` for ``samples`` samples, or None.

    Keras keeps the first ``floor(samples * (1 - split))`` samples for training.
    """
    if validation_split <= 0:
        return None
    keep = math.floor(samples * (1.0 - validation_split))
    if keep == 0 or keep == samples:
        side = "training" if keep == 0 else "validation"
        return f"validation_split {validation_split:g} of {samples} samples leaves none for {side}"
    return None


def default_out(plan: Plan) -> Path:
    """``<name>.keras`` in the current folder; odd characters of the name become ``_``.

    >>> default_out(type("P", (), {"name": "../my model"})())
    PosixPath('my_model.keras')
    """
    stem = re.sub(r"[^A-Za-z0-9_.\-]", "_", plan.name.replace("\\", "/").rsplit("/", 1)[-1])
    stem = stem.lstrip(".") or "model"
    return Path(f"{stem}.keras")


def trained_head(spec_file: str) -> str:
    """The seal's first part on a ``.keras`` file ``train`` saves from ``spec_file``."""
    from modelspec.errors import printable

    return f"Generated by modelspec train from {printable(spec_file)}"


def out_problem(
    out: Path, spec_file: str = "", *, named: bool = True, force: bool = False
) -> Diagnostic | None:
    """Why the model cannot be saved at ``out``, checked before training starts and
    again before it is saved (MS543 - MS548, at ``out``).

    ``named``: ``--out`` names the file. It may replace a ``.keras`` file that ``train``
    saved from a spec named ``spec_file`` and that is unchanged since; the default file
    (``named=False``) replaces nothing. ``force`` replaces any regular file, and a
    link itself.
    """
    from modelspec.emit.outputs import TRAINED, default_refusal, diagnostic, place_refusal, refusal

    problem, _ = place_refusal(out, force=force, stdout=False)
    if problem is not None:
        return problem
    if out.suffix != ".keras":
        return diagnostic(
            out,
            "MS548",
            f"'{out}' does not end in .keras (keras.saving.load_model reads .keras files)",
            "name a file such as model.keras",
        )
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        return diagnostic(
            out,
            "MS547",
            f"cannot save to '{out}': the folder '{folder}' does not exist",
            "create it first, or save elsewhere",
        )
    if not named:
        return default_refusal(out, force=force)
    return refusal(out, TRAINED, trained_head(spec_file), force=force, stdout=False)


@dataclass(frozen=True, slots=True)
class Trained:
    model: Any  # keras.Model
    history: Mapping[str, list[float]]
    chief: bool  # whether this process writes the model (multi-worker: only one does)


def model_data(plan: Plan, arrays: Mapping[str, Any], samples: int) -> tuple[Any, Any]:
    """``(x, y)`` for ``model.fit``: a plain array for one input (output), else a dict.

    The model ``instantiate.to_keras`` builds takes a plain tensor when it has one
    input (output) and a dict keyed by name when it has several.
    """
    import numpy as np

    names = [i.name for i in plan.inputs]
    x = arrays[names[0]] if len(names) == 1 else {n: arrays[n] for n in names}
    if len(plan.outputs) == 1:
        return x, arrays[plan.outputs[0].name]
    y = {o.name: arrays[o.name] for o in plan.outputs if o.name in arrays}
    # NOTE: [untrained outputs]
    # With metrics, Keras's CompileMetrics looks up the targets of *every* output by
    # name (keras/src/trainers/compile_utils.py, `_flatten_y`), even those it has
    # no metric for. An output with no loss and no metrics gets zeros it never reads.
    if "metrics" in dict(plan.compile or ()):
        for o in plan.outputs:
            if o.name not in y:
                y[o.name] = np.zeros((samples, 1), dtype="float32")
    return x, y


def fit(
    plan: Plan,
    arrays: Mapping[str, Any],
    settings: FitSettings,
    *,
    strategy: Any = None,
    on_weights: Callable[[Sequence[Diagnostic]], None] | None = None,
    on_adapt: Callable[[str], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> Trained:
    """Build ``plan`` in ``strategy``'s scope and fit it on ``arrays``, as :func:`prepare`
    returns them. ``strategy``: a ``tf.distribute`` strategy (:func:`make_strategy`,
    TensorFlow), a :class:`~modelspec.runtime.strategy.JaxDistribution`
    (:func:`make_distribution`: the arrays are cut so every batch splits evenly over its
    devices, ``on_note`` says how many samples that leaves out, and each process feeds
    its part), or None.

    A spec with ``weights:`` is fine-tuned: training starts from those weights, loaded
    by layer name (:mod:`modelspec.runtime.weights`; a :class:`~modelspec.runtime.weights.WeightsError`
    before any training). ``on_weights`` gets the loader's warnings before ``fit`` runs.
    Layers that learn their state (``vocabulary: adapt``) run ``adapt()`` on their input's
    array first (:mod:`modelspec.runtime.adapt`); ``on_adapt`` gets its progress lines.
    """
    from modelspec.runtime.instantiate import compile_model, make, quantize, to_keras
    from modelspec.runtime.quiet import quiet_import

    keras = quiet_import("keras")
    backend = keras.config.backend()
    spread = isinstance(strategy, JaxDistribution)  # keras.distribution, on JAX
    if strategy is not None and not spread and backend != "tensorflow":
        raise ValueError(
            f"tf.distribute strategies need Keras's TensorFlow backend; this run is on {backend}"
        )
    # keras.distribution holds for building, adapting and fitting; tf.distribute's
    # scope only for building (Keras's fit finds the strategy from the model).
    outer = strategy.scope() if spread else contextlib.nullcontext()
    inner = contextlib.nullcontext() if strategy is None or spread else strategy.scope()
    with outer:
        with inner:
            # Weights first, then quantization (a float file does not load into int8
            # kernels; a quantized model's file loads once this one is quantized: NOTE:
            # [quantized weights] in modelspec.runtime.weights), then compile.
            model = to_keras(plan, "auto", compile=False, weights=False, quantized=False)
            quantized = False
            if plan.weights is not None:
                from modelspec.runtime.weights import load_planned

                report = load_planned(
                    model,
                    plan.weights,
                    warn=on_weights is None,
                    quantize=(lambda m: quantize(m, plan)) if plan.quantize else None,
                )
                quantized = report is not None and report.quantized
                if on_weights is not None and report is not None and report.diagnostics:
                    on_weights(report.diagnostics)
            if not quantized:
                quantize(model, plan)
            compile_model(model, plan)
        if plan.seed is not None:
            # A seeded spec trains the same way every run: the shuffle order (and anything
            # else drawn from the global generators) follows the spec's seed too.
            keras.utils.set_random_seed(plan.seed)
        batch_size, validation_split = settings.batch_size, settings.validation_split
        held_out, validation = None, None
        if spread:
            arrays, held_out = split_evenly(arrays, settings, strategy.replicas, say=on_note)
            validation_split = 0.0
        adapt_layers(model, plan, arrays, validation_split=validation_split,
                     batch_size=batch_size, say=on_adapt)  # fmt: skip
        if spread and strategy.processes > 1:
            # Each process feeds its part of every batch (module docstring of strategy).
            arrays = shard(arrays, strategy.process, strategy.processes)
            held_out = held_out and shard(held_out, strategy.process, strategy.processes)
            batch_size //= strategy.processes
        x, y = model_data(plan, arrays, len(next(iter(arrays.values()))))
        if spread and held_out:
            validation = model_data(plan, held_out, len(next(iter(held_out.values()))))
        # Keras reads strings from tensors: a NumPy array of strings ('<U', 'S') is refused.
        # Only TensorFlow has them (MS551 refuses string inputs on the other backends).
        x = _strings_as_tensors(x) if backend == "tensorflow" else x
        history = model.fit(
            x,
            y,
            epochs=settings.epochs,
            batch_size=batch_size,
            validation_split=validation_split,
            validation_data=validation,
            shuffle=settings.shuffle,
            verbose=settings.verbose,
            callbacks=[make(c) for c in plan.callbacks],
        )
    return Trained(model, history.history, strategy is None or is_chief(strategy))


def split_evenly(
    arrays: Mapping[str, Any],
    settings: FitSettings,
    replicas: int,
    say: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(training, validation)`` arrays, split as Keras's ``validation_split`` splits
    (the first ``floor(n * (1 - split))`` samples train), each cut at its end so that its
    last batch too splits evenly over ``replicas`` devices: JAX shards a batch in equal
    parts only. ``say`` gets a line when samples are left out."""
    samples = len(next(iter(arrays.values())))
    keep = trained_samples(samples, settings.validation_split)
    parts = {"training": (0, keep), "validation": (keep, samples)}
    out: dict[str, dict[str, Any]] = {}
    for part, (start, stop) in parts.items():
        if stop == start:
            continue
        even = even_count(stop - start, settings.batch_size, replicas)
        if even < stop - start and say is not None:
            left = stop - start - even
            say(f"leaving out the last {left} {part} sample{'s' * (left != 1)}, so that "
                f"every batch splits evenly over {replicas} devices")  # fmt: skip
        out[part] = {name: array[start : start + even] for name, array in arrays.items()}
    return out["training"], out.get("validation")


def _strings_as_tensors(x: Any) -> Any:
    def one(array: Any) -> Any:
        kind = getattr(getattr(array, "dtype", None), "kind", "")
        if kind not in ("U", "S"):
            return array
        import tensorflow as tf

        return tf.constant(array)

    return {k: one(v) for k, v in x.items()} if isinstance(x, dict) else one(x)


def save_model(model: Any, path: str | os.PathLike[str], head: str | None = None) -> None:
    """``model.save`` to a temporary ``.keras`` file in the target's folder, then a rename.

    Readers see the old model or the new one, never half a zip. ``head``: seal the file
    with it (:func:`modelspec.emit.outputs.seal_zip`) before the rename.
    """
    from modelspec.emit.outputs import seal_zip
    from modelspec.source.files import atomic_path

    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
        if head is not None:
            seal_zip(tmp, head)


def save_trained(trained: Trained, path: str | os.PathLike[str], spec_file: str = "") -> bool:
    """Save where the chief should; other workers save to a temporary folder and drop it.

    Every worker calls ``save`` (TensorFlow's multi-worker guide: saving may need
    all of them), but only one writes ``path``, sealed as saved from ``spec_file``.
    True when this process wrote it.
    """
    if trained.chief:
        save_model(trained.model, path, trained_head(spec_file))
        return True
    with tempfile.TemporaryDirectory() as scratch:
        save_model(trained.model, Path(scratch) / Path(path).name)
    return False


def _number(value: float) -> str:
    # As Keras's progress bar prints a value.
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"


def final_metrics(history: Mapping[str, Sequence[float]]) -> list[str]:
    """One ``name: value`` line per metric, from the last epoch."""
    return [f"{name}: {_number(float(values[-1]))}" for name, values in history.items() if values]


def _say(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")
    stream.flush()


def _show_data_problems(diagnostics: list[Diagnostic], result: Any, err: TextIO) -> None:
    """The data file's own problems first, then those at spec lines, with the line shown."""
    spec_file = result.spec.file
    on_data = [d for d in diagnostics if d.file != spec_file]
    in_spec = sorted(
        (d for d in diagnostics if d.file == spec_file), key=lambda d: (d.line, d.col, d.code)
    )
    if on_data:
        _say(err, format_all(on_data))
    if in_spec:
        _say(err, format_all(in_spec, source=result.doc.texts if result.doc else None))


def _distribution(name: str, spec: Spec, settings: FitSettings) -> Any:
    """The strategy ``name`` on this run's backend, or None for ``none``."""
    if name == "none":
        return None
    if STRATEGY_BACKENDS[name] == "tensorflow":
        return make_strategy(name)
    dist = spec.distribution if (spec.distribution or {}).get("strategy") == name else None
    made = make_distribution(name, dist)
    if settings.batch_size % made.replicas:
        raise DistributionError(
            f"batch size {settings.batch_size} does not split over the {made.replicas} "
            f"devices each batch is shared by; use a multiple of {made.replicas} "
            "(--batch-size, or the spec's fit.batch_size)"
        )
    return made


def _described(strategy: Any) -> str:
    if isinstance(strategy, JaxDistribution):
        return strategy.describe()
    n = strategy.num_replicas_in_sync
    return f"training with {type(strategy).__name__}: {n} replica{'s' * (n != 1)} in sync"


def run_train(
    result: Any,
    data: str | os.PathLike[str],
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    validation_split: float | None = None,
    out: Path | None = None,
    force: bool = False,
    strategy: str | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``modelspec train`` on a checked spec ``result``; returns the exit code.

    ``out`` None saves to :func:`default_out`, which must not exist yet. The save is
    checked before training and again before writing. Metrics go to ``stdout``;
    diagnostics and progress to ``stderr``. Exit codes: 0 trained and saved, 1 the data,
    the output or the training failed, 2 the backend cannot train it: its package is
    missing, or the spec asks what the backend cannot give (MS550 - MS552, or a
    ``strategy`` other than none), or Keras needs TensorFlow for one of its layers.
    """
    from modelspec.emit.outputs import cannot_write
    from modelspec.lower.plan import plan as build_plan
    from modelspec.runtime.weights import WeightsError

    std, err = stdout or sys.stdout, stderr or sys.stderr
    the_plan = build_plan(result)
    target = default_out(the_plan) if out is None else out

    def target_problem() -> Diagnostic | None:
        return out_problem(target, the_plan.file, named=out is not None, force=force)

    problem = target_problem()
    if problem is not None:
        _say(err, format_all([problem]))
        return 1
    try:
        backend = require()
    except BackendError as exc:
        _say(err, exc.text())
        return 2
    problem = None if strategy is None else strategy_problem(strategy, backend)
    if problem is not None:
        _say(err, BackendError(f"--strategy {strategy} is {problem[0]}", problem[1]).text())
        return 2
    unfit = unsupported(result, backend, strategy=strategy is None)
    if unfit:
        _say(err, format_all(unfit, source=result.doc.texts if result.doc else None))
        return 2
    # Every check of the data runs here, with numpy only: TensorFlow is not imported yet.
    arrays, diagnostics = prepare(result, the_plan, data)
    if arrays is None:
        _show_data_problems(diagnostics, result, err)
        return 1
    settings = fit_settings(
        the_plan, epochs=epochs, batch_size=batch_size, validation_split=validation_split
    )
    samples = len(next(iter(arrays.values())))
    split = split_problem(samples, settings.validation_split)
    if split is not None:
        _say(err, f"modelspec: error: {split}")
        return 1
    name = strategy_name(result.spec, strategy)

    def show_weights(diagnostics: Sequence[Diagnostic]) -> None:
        source = result.doc.texts if result.doc else None
        _say(err, format_all(list(diagnostics), source=source))

    _say(err, f"training on the {backend} backend")
    try:
        strat = _distribution(name, result.spec, settings)
        if strat is not None:
            _say(err, _described(strat))
        trained = fit(the_plan, arrays, settings, strategy=strat, on_weights=show_weights,
                      on_adapt=lambda line: _say(err, line),
                      on_note=lambda line: _say(err, line))  # fmt: skip
    except DistributionError as exc:  # the machine's devices or processes do not fit
        _say(err, f"modelspec: error: {exc}")
        return 2
    except WeightsError as exc:  # the spec's `weights:`: reported before any training
        show_weights(exc.diagnostics)
        return 1
    except BackendError as exc:  # a backend installed, but broken
        _say(err, exc.text())
        return 2
    except ImportError as exc:  # Keras needs TensorFlow for a layer (StringLookup, ...)
        if os.environ.get("MODELSPEC_DEBUG") or backend == "tensorflow":
            raise
        _say(err, needs_tensorflow(exc, backend).text())
        return 2
    except (ValueError, OSError) as exc:  # Keras's word for a bad argument or callback
        if os.environ.get("MODELSPEC_DEBUG"):
            raise
        _say(err, f"modelspec: error: training failed: {exc}")
        return 1
    for line in final_metrics(trained.history):
        _say(std, line)
    if trained.chief:  # again, where it writes: training takes a while
        problem = target_problem()
        if problem is not None:
            _say(err, format_all([problem]))
            return 1
    try:
        wrote = save_trained(trained, target, the_plan.file)
    except OSError as exc:
        _say(err, format_all([cannot_write(target, exc)]))
        return 1
    if wrote:
        _say(err, f"saved {target}")
    return 0
