"""The distribution a run trains under, and which worker writes files.

``--strategy`` names it, else the spec's ``distribution.strategy``, else ``none``
(:func:`strategy_name`). Each strategy runs on one backend
(:data:`modelspec.catalog.training.STRATEGY_BACKENDS`):

- TensorFlow: :func:`make_strategy` creates the ``tf.distribute`` strategy before
  anything else uses TensorFlow; MultiWorkerMirrored gets a ``reduce`` that Keras 3
  can use (NOTE: [multi-worker reduce]).
- JAX: :func:`make_distribution` creates Keras's ``DataParallel`` or ``ModelParallel``
  (``keras.distribution``) over the devices of every process; several processes join
  first through ``keras.distribution.initialize`` when ``KERAS_DISTRIBUTION_*`` name
  them (:func:`processes`). :func:`shard` gives each process its part of the arrays,
  cut so that every batch splits evenly over the devices (JAX splits evenly only).

Example::

    >>> strategy = make_strategy("mirrored")                             # doctest: +SKIP
    >>> strategy.num_replicas_in_sync                                    # doctest: +SKIP
    2
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from modelspec.catalog.training import STRATEGIES
from modelspec.ir import Spec


def strategy_name(spec: Spec, override: str | None = None) -> str:
    """``--strategy``, else the spec's ``distribution.strategy``, else ``"none"``."""
    if override is not None:
        return override
    dist = spec.distribution or {}
    return str(dist.get("strategy", "none"))


def make_strategy(name: str) -> Any:
    """The ``tf.distribute`` strategy ``name`` names; the default (no-op) one for ``"none"``.

    Call it before anything else uses TensorFlow: MultiWorkerMirroredStrategy must
    be created before the runtime initialises its devices.
    """
    from modelspec.runtime.quiet import quiet_import

    tf = quiet_import("tensorflow")

    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # MirroredStrategy() alone takes every GPU, or a single CPU: with no GPU, mirror
        # over every logical CPU device instead, so a split CPU gives several replicas.
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    if name == "multi_worker_mirrored":
        return _multi_worker_mirrored()
    raise ValueError(f"unknown strategy {name!r}; expected none or one of {', '.join(STRATEGIES)}")


def _multi_worker_mirrored() -> Any:
    """``tf.distribute.MultiWorkerMirroredStrategy``, with a ``reduce`` that Keras 3 can use.

    # NOTE: [multi-worker reduce]
    With several workers, Keras 3's TensorFlow trainer (3.15, with TensorFlow 2.21)
    calls ``strategy.reduce`` in two ways that the collective strategy refuses:
    on a nest, ``(x, y)`` of the first batch (``_maybe_symbolic_build``; TensorFlow's
    ``reduce`` has "TODO: support `value` being a nest"), and with ``axis=0`` on the
    scalar loss and metrics of each step (``reduce_per_replica``, "Invalid reduction
    dimension 0 for input with 0 dimensions"). See keras-team/keras#20585 and
    tensorflow/tensorflow#72388. This subclass reduces each leaf of a nest on its
    own, and a scalar across replicas only. Calls that already worked are unchanged,
    and with one worker neither path is taken.
    """
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op: Any, value: Any, axis: Any) -> Any:
            base = super().reduce

            def one(v: Any) -> Any:
                local = v.values[0] if isinstance(v, tf.distribute.DistributedValues) else v
                scalar = getattr(local, "shape", None) is not None and local.shape.rank == 0
                return base(reduce_op, v, None if scalar else axis)

            return tf.nest.map_structure(one, value)

    return MultiWorkerMirroredStrategy()


def is_chief(strategy: Any) -> bool:
    """Multi-worker: the chief, or worker 0 when the cluster has no chief, writes files;
    with ``keras.distribution``, process 0."""
    if isinstance(strategy, JaxDistribution):
        return strategy.process == 0
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type is None or task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and resolver.task_id == 0 and not has_chief


# The environment variables keras.distribution.initialize() reads (Keras documents
# them: "keras.distribution.initialize"), and the variable of TensorFlow's.
PROCESS_VARIABLES = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)


class DistributionError(ValueError):
    """The machine cannot run the distribution the spec asks (its devices, processes)."""


@dataclass
class JaxDistribution:
    """A ``keras.distribution`` Distribution and what training needs to know of it."""

    distribution: Any
    replicas: int  # devices (over every process) each batch is split between
    processes: int
    process: int
    devices: list[str]

    def scope(self) -> Any:
        return self.distribution.scope()

    def describe(self) -> str:
        kind = type(self.distribution).__name__
        mesh = self.distribution.device_mesh
        axes = " x ".join(f"{n} {a}" for a, n in zip(mesh.axis_names, mesh.shape))
        where = f", {self.processes} processes" if self.processes > 1 else ""
        n = len(self.devices)
        return (f"training with {kind}: {n} device{'s' * (n != 1)} (mesh {axes}){where}, "
                f"each batch split over {self.replicas} of them")  # fmt: skip


def processes(environ: Mapping[str, str] = os.environ) -> int:
    """How many processes ``KERAS_DISTRIBUTION_NUM_PROCESSES`` names (1 without it)."""
    value = environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "").strip()
    if not value:
        return 1
    if not value.isdigit() or int(value) < 1:
        raise DistributionError(
            f"KERAS_DISTRIBUTION_NUM_PROCESSES must be a whole number of processes; got {value!r}"
        )
    return int(value)


def make_distribution(name: str, spec: Mapping[str, Any] | None = None) -> JaxDistribution:
    """Keras's ``DataParallel`` (``data_parallel``) or ``ModelParallel``
    (``model_parallel``, with the spec's ``mesh``, ``layout`` and ``batch_axis``), on
    the JAX backend, over the devices of every process.

    Call it before the model is built. A :class:`DistributionError` says what this
    machine lacks: a mesh of more devices than it has, a bad process setting.
    """
    from modelspec.runtime.quiet import quiet_import

    keras = quiet_import("keras")
    count = processes()
    if count > 1:
        if "KERAS_DISTRIBUTION_JOB_ADDRESSES" not in os.environ:
            raise DistributionError(
                "KERAS_DISTRIBUTION_NUM_PROCESSES is set but KERAS_DISTRIBUTION_JOB_ADDRESSES "
                "is not: name the coordinator's host:port"
            )
        try:
            with _stdout_to_stderr():  # Gloo's notes go to stdout, which holds the metrics
                keras.distribution.initialize()
                import jax

                jax.device_count()  # the processes join here: wait for every one
        except (RuntimeError, ValueError) as exc:
            raise DistributionError(f"the processes could not join: {exc}") from None
    import jax

    devices = keras.distribution.list_devices()
    process = jax.process_index()
    if name == "data_parallel":
        dist = keras.distribution.DataParallel(auto_shard_dataset=False)
        return JaxDistribution(dist, len(devices), count, process, devices)
    if name != "model_parallel":
        raise ValueError(f"{name!r} is not a keras.distribution strategy")
    spec = spec or {}
    mesh: Mapping[str, int] = spec.get("mesh") or {}
    if not mesh:
        raise DistributionError(
            "--strategy model_parallel needs the spec's distribution.mesh and layout"
        )
    wanted = math.prod(mesh.values())
    if wanted != len(devices):
        shape = " x ".join(f"{n} {a}" for a, n in mesh.items())
        raise DistributionError(
            f"the mesh ({shape}) spans {wanted} devices; this run has {len(devices)} "
            f"({', '.join(devices[:8])}{', ...' if len(devices) > 8 else ''})"
        )
    device_mesh = keras.distribution.DeviceMesh(
        shape=tuple(mesh.values()), axis_names=list(mesh), devices=devices
    )
    layout = keras.distribution.LayoutMap(device_mesh)
    for rule, axes in (spec.get("layout") or {}).items():
        layout[rule] = tuple(axes)
    batch_axis = spec.get("batch_axis") or next(iter(mesh))
    replicas = mesh[batch_axis]
    if count > 1 and replicas % count:
        raise DistributionError(
            f"mesh axis '{batch_axis}' has {replicas} devices, which {count} processes "
            "cannot share: each process feeds its own part of every batch"
        )
    dist = keras.distribution.ModelParallel(
        layout_map=layout, batch_dim_name=batch_axis, auto_shard_dataset=False
    )
    return JaxDistribution(dist, replicas, count, process, devices)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """File descriptor 1 writes to descriptor 2 inside the block (native code too)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def even_count(samples: int, batch_size: int, replicas: int) -> int:
    """How many of ``samples`` to keep so that each batch of ``batch_size``, the last
    one too, splits evenly over ``replicas`` devices (``batch_size`` is a multiple)."""
    return samples - (samples % batch_size) % replicas


def shard(arrays: Mapping[str, Any], process: int, processes: int) -> dict[str, Any]:
    """Process ``process``'s part of ``arrays``: every ``processes``-th sample.

    With each process's batches ``batch_size / processes`` long, the samples the
    processes feed together at step ``k`` are exactly the global batch ``k`` of one
    process over the whole arrays (when not shuffled).
    """
    return {name: array[process::processes] for name, array in arrays.items()}
