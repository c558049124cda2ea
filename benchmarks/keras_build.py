"""Build the Keras model a (generated) spec describes, independently of modelspec.

Run as a script, in a fresh process: it imports Keras (TensorFlow backend), then
builds the model from the spec file and prints one JSON line with the timings::

    python benchmarks/keras_build.py SPEC [--json-out CONFIG.json] [--recursion-limit N]

``import_s`` is ``import keras`` inside this process; ``build_s`` is everything after
it: reading the YAML, creating the layers, calling them on symbolic tensors and
``keras.Model(...)``. Then, on the model built, ``to_json_s`` times ``model.to_json()``
and ``from_json_s`` times ``keras.models.model_from_json(text)``: Keras's own import
of a model config (deserializing every layer and rebuilding the graph), the counterpart
of ``modelspec import``. ``--json-out`` saves that JSON text, for ``modelspec import``
to read the same config. A ``RecursionError`` (deep graphs, keras-team/keras#15596)
is reported in the JSON with the stage it happened in, not raised.

It reads the spec with PyYAML alone and understands only what a spec holds: inputs,
``layers:``, ``graph:`` steps (``apply`` a layer name, an inline layer or a chain of
them; ``to`` one tensor or a list), ``sequential:`` and ``outputs``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path


def build(spec_text: str):
    import keras
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(spec_text, Loader=loader)

    def make(d):
        kwargs = {k: v for k, v in d.items() if k != "type"}
        return getattr(keras.layers, d["type"])(**kwargs)

    inputs = {
        name: keras.Input(shape=tuple(i["shape"]), dtype=i.get("dtype", "float32"), name=name)
        for name, i in spec["inputs"].items()
    }
    tensors = dict(inputs)
    layers = {name: make(d) for name, d in (spec.get("layers") or {}).items()}

    def tensor(ref):
        if ref.endswith("]") and "[" in ref:
            base, index = ref[:-1].split("[")
            return tensors[base][int(index)]
        return tensors[ref]

    def layer_of(use):
        return layers[use] if isinstance(use, str) else make(use)

    if "sequential" in spec:
        x = next(iter(inputs.values()))
        for use in spec["sequential"]:
            x = layer_of(use)(x)
        outputs = [x]
    else:
        for step, s in spec["graph"].items():
            to = s["to"]
            x = [tensor(t) for t in to] if isinstance(to, list) else tensor(to)
            chain = s["apply"] if isinstance(s["apply"], list) else [s["apply"]]
            for use in chain:
                x = layer_of(use)(x)
            tensors[step] = x
        outputs = [tensor(o["from"]) for o in spec["outputs"].values()]
    model = keras.Model(
        inputs=list(inputs.values()),
        outputs=outputs[0] if len(outputs) == 1 else outputs,
        name=spec.get("name", "model"),
    )
    return model


def _recursing_in(exc: BaseException) -> str:
    """The function that recursed: the most frequent frame of the traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    counts = collections.Counter(
        f"{'/'.join(Path(f.filename).parts[-3:])}:{f.name}" for f in frames
    )
    return counts.most_common(1)[0][0] if counts else "?"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument(
        "--recursion-limit",
        type=int,
        default=0,
        help="raise sys.setrecursionlimit (and run in a thread with a 512 MiB stack)",
    )
    ap.add_argument("--json-out", help="write model.to_json() to this file")
    args = ap.parse_args()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.perf_counter()
    import keras  # noqa: F401

    import_s = time.perf_counter() - t0
    with open(args.spec, encoding="utf-8") as fh:
        text = fh.read()
    out: dict = {
        "import_s": import_s,
        "backend": keras.backend.backend(),
        "recursion_limit": sys.getrecursionlimit(),
    }

    def job():
        stage = "build"
        t1 = time.perf_counter()
        try:
            model = build(text)
            out["build_s"] = time.perf_counter() - t1
            out["layers"] = len(model.layers) - len(model.inputs)
            out["params"] = int(model.count_params())
            stage = "to_json"
            t1 = time.perf_counter()
            config = model.to_json()
            out["to_json_s"] = time.perf_counter() - t1
            stage = "model_from_json"
            t1 = time.perf_counter()
            again = keras.models.model_from_json(config)
            out["from_json_s"] = time.perf_counter() - t1
        except RecursionError as exc:
            out["failed_after_s"] = time.perf_counter() - t1
            out["error"] = f"RecursionError: {exc}"
            out["error_stage"] = stage
            out["recursing_in"] = _recursing_in(exc)
            return
        out["from_json_layers"] = len(again.layers) - len(again.inputs)
        out["from_json_params"] = int(again.count_params())
        out["json_bytes"] = len(config.encode())
        if args.json_out:
            with open(args.json_out, "w", encoding="utf-8") as fh:
                fh.write(config)

    if args.recursion_limit:
        sys.setrecursionlimit(args.recursion_limit)
        out["recursion_limit"] = args.recursion_limit
        threading.stack_size(512 * 1024 * 1024)
        t = threading.Thread(target=job)
        t.start()
        t.join()
    else:
        job()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
