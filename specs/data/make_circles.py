"""Make ``circles.npz``, the data of ``specs/example_circles.yaml``.

    python specs/data/make_circles.py

512 points drawn uniformly from the square [-1.5, 1.5]^2, labelled 1 inside the unit
circle and 0 outside. Arrays are keyed by the spec's input (``point``) and output
(``inside``) names, as ``modelspec train`` expects. The seed is fixed, so the file is
the same every time.
"""

from pathlib import Path

import numpy as np

rng = np.random.default_rng(0)
point = rng.uniform(-1.5, 1.5, size=(512, 2)).astype("float32")
inside = (np.linalg.norm(point, axis=1, keepdims=True) < 1.0).astype("float32")
np.savez_compressed(Path(__file__).with_name("circles.npz"), point=point, inside=inside)
