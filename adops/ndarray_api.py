"""The rest of NumPy's array API on traced values: ufunc methods with NumPy's defaults, and the functions behind
ndarray methods and operators that the other modules do not cover (``x.conj()``, ``x.real``, ``x % y``,
``divmod``, ``x.copy()``). Each is a record like any other, so its derivative and docs come from the registry."""

from __future__ import annotations

import math

import numpy as np

from .core import Domain, Sample, reject_out
from .derive import ONE, composite, elementwise
from .elementwise import POS
from .frontend import Traced, _leaf, keep_ndarray

# ---- ufunc.reduce / ufunc.accumulate: NumPy's signature and defaults (axis=0, not all axes) ---------------------
_REDUCE_SHAPES = (((3, 4), {}), ((3, 4), {"axis": 1, "keepdims": True}), ((2, 3, 4), {"axis": (0, 2)}),
                  ((3, 4), {"axis": None}), ((5,), {"initial": 1.5}),
                  ((2, 3), {"where": np.array([True, False, True])}))


def _as_dtype(array, dtype, fn):
    if dtype is None:
        return array
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.inexact):
        raise TypeError(f"{fn}: dtype={dtype} gives a result with no derivative; leave dtype out, or cast the "
                        "result with .astype")
    return array.astype(dtype)


def _ufunc_reduce(ufunc, total, fill, has_identity):
    """``ufunc.reduce`` as ``total`` (np.sum, ...) with NumPy's defaults; ``fill`` is the identity, if any."""
    fn = f"np.{ufunc.__name__}.reduce"

    def reduce(array, axis=0, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=True):
        reject_out(fn, out)
        array = _as_dtype(array, dtype, fn)
        nd = np.ndim(array)
        if nd == 0:
            axis = None  # NumPy reduces a 0-d array to itself whatever the axis
        if initial is not np._NoValue and getattr(array, "dtype", None) is not None:
            initial = array.dtype.type(initial)  # NumPy keeps the array's dtype (a float64 initial, float32 x)
        if not has_identity and initial is not np._NoValue and 0 in _reduced_lengths(np.shape(array), axis):
            # nothing to reduce: every result is initial (NumPy); np.sum gives the shape, and a zero derivative
            return np.sum(array, axis=axis, keepdims=keepdims) + initial
        if where is not True:
            if not has_identity and initial is np._NoValue:
                raise ValueError(f"{fn}: reduction operation '{ufunc.__name__}' does not have an identity, so to use "
                                 "a where mask one has to specify 'initial' (as in NumPy)")
            # masked-out entries become constants that change nothing: the identity, or initial (combined below)
            array = np.where(where, array, fill if has_identity else initial)
        result = total(array, axis=axis, keepdims=keepdims)
        return result if initial is np._NoValue else ufunc(result, initial)

    reduce.__name__ = f"{ufunc.__name__}_reduce"
    return reduce


def _reduced_lengths(shape_: tuple, axis) -> list:
    if axis is None:
        return list(shape_)
    return [shape_[a] for a in (axis if isinstance(axis, tuple) else (axis,))]


def _ufunc_accumulate(ufunc, running):
    fn = f"np.{ufunc.__name__}.accumulate"

    def accumulate(array, axis=0, dtype=None, out=None):
        reject_out(fn, out)
        if axis is None:
            if np.ndim(array) != 1:
                raise ValueError(f"{fn}: accumulate does not allow multiple axes (axis=None on a {np.ndim(array)}-d "
                                 "array, as in NumPy); ravel first, or name one axis")
            axis = 0  # NumPy accepts axis=None for a 1-d array
        return running(_as_dtype(array, dtype, fn), axis=axis)

    return accumulate


def _reduce_samples(method):
    out = []
    for s, kw in _REDUCE_SHAPES:
        if method in (np.maximum.reduce, np.minimum.reduce) and "where" in kw:
            kw = dict(kw, initial=0.5)
        out.append(Sample((s,), lambda x, kw=kw: method(x, **kw), f"{kw}"))
    return tuple(out)


for _ufunc, _total, _fill, _has_identity in ((np.add, np.sum, 0.0, True), (np.multiply, np.prod, 1.0, True),
                                             (np.maximum, np.max, None, False), (np.minimum, np.min, None, False)):
    composite(f"{_ufunc.__name__}.reduce", ((_ufunc, "reduce"),), _ufunc_reduce(_ufunc, _total, _fill, _has_identity),
              samples=_reduce_samples(_ufunc.reduce),
              math=f"np.{_total.__name__} over axis=0 by default (NumPy's ufunc.reduce), then initial")

for _ufunc, _running in ((np.add, np.cumsum), (np.multiply, np.cumprod)):
    composite(f"{_ufunc.__name__}.accumulate", ((_ufunc, "accumulate"),), _ufunc_accumulate(_ufunc, _running),
              samples=(Sample(((3, 4),), _ufunc.accumulate), Sample(((3, 4),), lambda x, u=_ufunc: u.accumulate(x, 1),
                                                                    "axis=1")),
              math=f"np.{_running.__name__} along axis=0 by default (NumPy's ufunc.accumulate)")


def _logaddexp_reduce(array, axis=0, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=True):
    fn = "np.logaddexp.reduce"
    reject_out(fn, out)
    if where is not True:
        raise TypeError(f"{fn}: where= is not supported under differentiation; write "
                        f"{fn}(np.where(mask, x, -np.inf), ...)")
    from .nn import logsumexp

    array = _as_dtype(array, dtype, fn)
    result = logsumexp(array, axis=None if np.ndim(array) == 0 else axis, keepdims=keepdims)
    return result if initial is np._NoValue else np.logaddexp(result, array.dtype.type(initial))


composite("logaddexp.reduce", ((np.logaddexp, "reduce"),), _logaddexp_reduce,
          samples=(Sample(((3, 4),), np.logaddexp.reduce), Sample(((3, 4),), lambda x: np.logaddexp.reduce(x, 1),
                                                                   "axis=1")),
          math="adops.nn.logsumexp over axis=0 by default (NumPy's ufunc.reduce), then initial")


# ---- ndarray methods and operators ---------------------------------------------------------------------------
elementwise("conjugate", (np.conjugate,), (ONE,), lambda x: x, math="real inputs only: conj x = x, d = 1")
def _sym_remainder(x, y):
    """x mod y on SymPy scalars: x - y q with the quotient q = floor(x / y) taken at the oracle's point."""
    from .symbolic import numeric

    return x - y * math.floor(float(numeric(x)) / float(numeric(y)))


elementwise("remainder", (np.remainder,), (ONE, lambda ans, x, y: -np.floor_divide(x, y)), _sym_remainder,
            domain=(Domain(-2, 2), POS), math="x mod y = x - y floor(x/y): d = dx - floor(x/y) dy")


def _divmod(x1, x2, out=None, **kwargs):
    reject_out("np.divmod", out, **kwargs)
    return np.floor_divide(x1, x2), np.remainder(x1, x2)


def _real(val):
    return val  # traced values are real (complex values are refused): x.real is x itself, a view of all of it


def _imag(val):
    return np.zeros_like(val)  # the imaginary part of a real array: zeros, no derivative


def _copy(a, order="K", subok=False):
    out = np.positive(a)  # a new array with the same values (never the same object: x.copy() += 1 leaves x)
    return keep_ndarray(out) if isinstance(out, Traced) and isinstance(_leaf(a), np.ndarray) else out


composite("divmod", (np.divmod,), _divmod, samples=(Sample(((4,), ()), lambda x, y: np.divmod(x, y + 3)[1]),),
          math="(floor_divide, remainder)")
composite("real", (np.real,), _real, samples=(Sample(((3,),), np.real),), math="real inputs: the array itself")
composite("imag", (np.imag,), _imag, samples=(Sample(((3,),), lambda x: np.imag(x) + x),),
          math="real inputs: zeros")
composite("copy", (np.copy,), _copy, samples=(Sample(((2, 3),), np.copy),), math="a new array: np.positive")
