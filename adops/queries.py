"""NumPy functions with no derivative (shape queries, arg-reductions, rounding, ``*_like`` constructors): the
engines answer them from the primal values and return plain arrays."""

from __future__ import annotations

import numpy as np

from .core import Sample
from .derive import nondifferentiable


def _query(fn, nargs=1):
    def parse(*args, **kwargs):
        return tuple(args[:nargs]), {"rest": tuple(args[nargs:]), "kw": kwargs}

    def impl(*arrays, rest=(), kw=None):
        return fn(*arrays, *rest, **(kw or {}))

    return parse, impl


_CALLS = {np.full_like: lambda x: np.full_like(x, 2.0), np.searchsorted: lambda a, v: np.searchsorted(np.sort(a), v),
          np.isclose: lambda a, b: np.isclose(a, b), np.allclose: lambda a, b: np.allclose(a, b)}

for _fn, _n in ((np.shape, 1), (np.ndim, 1), (np.size, 1), (np.argmax, 1), (np.argmin, 1), (np.argsort, 1),
                (np.zeros_like, 1), (np.ones_like, 1), (np.empty_like, 1), (np.full_like, 1), (np.nonzero, 1),
                (np.count_nonzero, 1), (np.any, 1), (np.all, 1), (np.round, 1), (np.around, 1), (np.isclose, 2),
                (np.allclose, 2), (np.array_equal, 2), (np.searchsorted, 2), (np.sign, 1)):
    if _fn is np.sign:
        continue  # a ufunc, registered with the elementwise ops
    _parse, _impl = _query(_fn, _n)
    _shapes = ((3,),) * _n if _fn is np.searchsorted else ((2, 3),) * _n
    nondifferentiable(_fn.__name__, (_fn,), _n, impl=_impl, parse=_parse,
                      samples=(Sample(_shapes, _CALLS.get(_fn, _fn)),),
                      math="answered from the primal; no derivative")
