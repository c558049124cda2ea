"""The ``tf.distribute`` strategy a run trains under, and which worker writes files.

``--strategy`` names it, else the spec's ``distribution.strategy``, else ``none``
(:func:`strategy_name`). :func:`make_strategy` creates it before anything else uses
TensorFlow; MultiWorkerMirrored gets a ``reduce`` that Keras 3 can use (NOTE:
[multi-worker reduce]).

Example::

    >>> strategy = make_strategy("mirrored")                             # doctest: +SKIP
    >>> strategy.num_replicas_in_sync                                    # doctest: +SKIP
    2
"""

from __future__ import annotations

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
    """Multi-worker: the chief, or worker 0 when the cluster has no chief, writes files."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type is None or task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and resolver.task_id == 0 and not has_chief
