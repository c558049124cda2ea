from __future__ import annotations

import os

from hypothesis import settings

# Keep TensorFlow quiet and on the CPU for the tests that use it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

# In CI the property tests replay the same examples, so a landing never depends on a
# lucky draw; on a developer's machine they explore new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
