"""The import path generated modules load weights through::

    from modelspec.weights import load_weights_by_name

It stays put while the code moves: a module that ``modelspec build`` wrote keeps
working with a newer modelspec. The loader itself is :mod:`modelspec.runtime.weights`.
"""

from modelspec.runtime.weights import WeightsError, WeightsWarning, load_weights_by_name

__all__ = ["WeightsError", "WeightsWarning", "load_weights_by_name"]
