"""Order statistics, NaN-ignoring reductions, covariance, signals and polynomials, and the ufunc methods beyond
``reduce``/``accumulate`` of add and multiply: all composites over the registered primitives (their derivatives come
from sort, indexing, where, sum and the arithmetic ufuncs)."""

from __future__ import annotations

import numpy as np

from .core import DISPATCH, UFUNC_CALLS, Sample, ndim, normalize_axes, normalize_axis, reject_out, result_dtype, shape
from .derive import composite

# ---- quantiles ------------------------------------------------------------------------------------------------
_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _to_last(a, axis):
    """``a`` with the reduced axes flattened into one last axis, and the axes it reduced (negative)."""
    nd = ndim(a)
    axes = normalize_axes(axis, nd, "np.quantile")
    rest = [d for d in range(-nd, 0) if d not in axes]
    moved = np.transpose(a, [nd + d for d in rest] + [nd + d for d in axes]) if nd else a
    return np.reshape(moved, tuple(shape(a)[d] for d in rest) + (-1,)), axes


def _quantile(a, q, axis=None, keepdims=False, method="linear", nan=False, fn="np.quantile", dtype=None):
    """``dtype`` is NumPy's result dtype: the input's for the methods that pick an entry, else the input's
    promoted with ``q``'s (a Python number is weak: float32 data with ``q=0.3`` stays float32)."""
    if method not in _METHODS:
        raise TypeError(f"{fn}: method={method!r} has no rule under differentiation; use one of {_METHODS}")
    x, axes = _to_last(a, axis)
    s = np.sort(x, axis=-1)  # NaN sorts last
    n = shape(s)[-1]
    count = np.sum(~np.isnan(x), axis=-1) if nan else np.full(shape(s)[:-1], n)
    qs = np.asarray(q) if getattr(q, "_level", None) is None else q
    outs = []
    for qi in (np.ravel(qs) if ndim(qs) else [qs]):
        virtual = qi * (count - 1)
        lo = np.floor(virtual).astype(np.intp)  # (floor has no derivative: a plain array)
        lo = np.clip(lo, 0, np.maximum(count - 1, 0))
        hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
        below = np.take_along_axis(s, lo[..., None], axis=-1)[..., 0]
        above = np.take_along_axis(s, hi[..., None], axis=-1)[..., 0]
        gamma = virtual - lo
        if dtype is not None and result_dtype(gamma) != dtype:
            gamma = gamma.astype(dtype)  # NumPy interpolates in the result's dtype
        if method == "lower":
            r = below
        elif method == "higher":
            r = np.take_along_axis(s, np.clip(np.ceil(virtual).astype(np.intp), 0, n - 1)[..., None], axis=-1)[..., 0]
        elif method == "midpoint":  # NumPy: the entry itself at an integer index
            r = np.where(virtual == lo, below, (below + above) / 2)
        elif method == "nearest":
            near = np.clip(np.round(virtual).astype(np.intp), 0, n - 1)  # half to even, as NumPy
            r = np.take_along_axis(s, near[..., None], axis=-1)[..., 0]
        else:  # NumPy's _lerp: from the nearer end, so the endpoints are exact
            diff = above - below
            r = np.where(gamma >= 0.5, above - diff * (1 - gamma), below + diff * gamma)
        if nan:
            r = np.where(count == 0, np.nan, r)
        if dtype is not None and result_dtype(r) != dtype:
            r = r.astype(dtype)
        outs.append(r)
    out = np.stack(outs) if ndim(qs) else outs[0]
    if ndim(qs):
        out = np.reshape(out, shape(qs) + shape(outs[0]))
    if keepdims:
        nd = ndim(a)
        out = np.reshape(out, shape(qs) + tuple(1 if d - nd in axes else shape(a)[d] for d in range(nd)))
    return out


def _quantile_dtype(a, q, method):
    if method in ("lower", "higher", "nearest"):
        return result_dtype(a)
    weak = type(q) in (int, float)
    return np.result_type(result_dtype(a), q if weak else result_dtype(q))


def _quantile_fn(scale, nan, fn):
    def impl(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *, weights=None,
             interpolation=None):
        reject_out(fn, out, weights=weights)
        method = interpolation or method
        dtype = _quantile_dtype(a, q, method)
        q = q if getattr(q, "_level", None) is not None else np.asarray(q, dtype=float)
        q = q / scale if scale != 1 else q
        return _quantile(a, q, axis, keepdims, method, nan, fn, dtype)

    return impl


def _median_fn(nan, fn):
    def impl(a, axis=None, out=None, overwrite_input=False, keepdims=False):
        reject_out(fn, out)
        return _quantile(a, 0.5, axis, keepdims, "midpoint" if not nan else "linear", nan, fn,
                         _quantile_dtype(a, 0.5, "linear"))

    return impl


# ---- NaN-ignoring reductions -------------------------------------------------------------------------------------
def _nan_sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    return np.sum(np.where(np.isnan(a), 0, a), axis=axis, dtype=dtype, out=out, keepdims=keepdims, initial=initial,
                  where=where)


def _nan_prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    return np.prod(np.where(np.isnan(a), 1, a), axis=axis, dtype=dtype, out=out, keepdims=keepdims, initial=initial,
                   where=where)


def _nan_mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=np._NoValue):
    reject_out("np.nanmean", out, where=where)
    count = np.sum(~np.isnan(a), axis=axis, keepdims=keepdims)
    total = _nan_sum(a, axis=axis, dtype=dtype, keepdims=keepdims)
    return total / count.astype(result_dtype(total))  # an integer count must not promote float32 data


def _nan_var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=np._NoValue, mean=np._NoValue,
             correction=np._NoValue):
    reject_out("np.nanvar", out, where=where, mean=mean)
    if correction is not np._NoValue:
        ddof = correction
    valid = ~np.isnan(a)
    summed = _nan_sum(a, axis=axis, dtype=dtype, keepdims=True)
    kind = result_dtype(summed)  # integer counts must not promote float32 data
    count = np.sum(valid, axis=axis, keepdims=True).astype(kind)
    centred = np.where(valid, a - summed / count, 0)
    total = np.sum(centred * centred, axis=axis, keepdims=keepdims)
    return total / np.maximum(np.sum(valid, axis=axis, keepdims=keepdims) - ddof, 0).astype(kind)


def _nan_std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    from .reductions import _norm_root

    return _norm_root(_nan_var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, **kwargs), 2)


def _nan_extreme(fn, lowest):
    def impl(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
        reject_out(f"np.nan{fn.__name__}", out)
        nan = np.isnan(a)
        info = np.finfo(result_dtype(a))  # (finite, so the oracle never forms 0 * inf)
        r = fn(np.where(nan, info.min if lowest else info.max, a), axis=axis, keepdims=keepdims, initial=initial,
               where=where)
        return np.where(np.all(nan, axis=axis, keepdims=keepdims), np.nan, r)  # an all-NaN slice is NaN, as NumPy

    return impl


def _nan_cumulative(fn, fill):
    def impl(a, axis=None, dtype=None, out=None):
        return fn(np.where(np.isnan(a), fill, a), axis=axis, dtype=dtype, out=out)

    return impl


def _ptp(a, axis=None, out=None, keepdims=False):
    reject_out("np.ptp", out)
    return np.max(a, axis=axis, keepdims=keepdims) - np.min(a, axis=axis, keepdims=keepdims)


# ---- covariance ---------------------------------------------------------------------------------------------------
def _cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    reject_out("np.cov", fweights=fweights, aweights=aweights)
    x = np.atleast_2d(m)
    if not rowvar and shape(x)[0] != 1:
        x = np.transpose(x)
    if y is not None:
        y = np.atleast_2d(y)
        if not rowvar and shape(y)[0] != 1:
            y = np.transpose(y)
        x = np.concatenate([x, y], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    centred = x - np.mean(x, axis=1, keepdims=True)
    c = np.matmul(centred, np.transpose(centred)) / max(shape(x)[1] - ddof, 0)
    c = np.squeeze(c)
    return c if dtype is None else c.astype(dtype)


def _corrcoef(x, y=None, rowvar=True, *, dtype=None):
    c = _cov(x, y, rowvar, dtype=dtype)
    if ndim(c) == 0:
        return c / c
    stddev = np.sqrt(np.diagonal(c))
    c = c / stddev[:, None] / stddev[None, :]
    return np.clip(c, -1, 1)


# ---- signals, integrals, polynomials -------------------------------------------------------------------------
def _full_convolution(a, v):
    # full[k] = sum_j v[j] a[k - j]: one shifted copy of a per entry of the shorter v, O(n m) work, and each output
    # reads only the m inputs it depends on (an exact sparsity pattern: a stencil written as a convolution is banded)
    m = shape(v)[0]
    full = None
    for j in range(m):
        term = np.pad(v[j] * a, (j, m - 1 - j))  # padded after the product: its zeros depend on nothing
        full = term if full is None else full + term
    return full


def _plain(x):
    """A list or tuple operand (``np.convolve(u, [1, -2, 1])``) as the array NumPy makes of it; traced ones as
    they are."""
    return x if getattr(x, "_level", None) is not None else np.asarray(x)


def _convolve(a, v, mode="full"):
    a, v = _plain(a), _plain(v)
    if ndim(a) != 1 or ndim(v) != 1:
        raise ValueError("np.convolve: a and v must be 1-D")
    if shape(v)[0] > shape(a)[0]:
        a, v = v, a  # as NumPy: the longer one slides under the shorter
    n, m = shape(a)[0], shape(v)[0]
    full = _full_convolution(a, v)
    if mode == "full":
        return full
    if mode == "same":
        return full[(m - 1) // 2:(m - 1) // 2 + n]
    if mode == "valid":
        return full[m - 1:n]
    raise ValueError(f"np.convolve: mode must be 'full', 'same' or 'valid', got {mode!r}")


def _correlate(a, v, mode="valid"):
    a, v = _plain(a), _plain(v)
    if ndim(a) != 1 or ndim(v) != 1:
        raise ValueError("np.correlate: a and v must be 1-D")
    if shape(a)[0] < shape(v)[0]:  # as NumPy: swap so the longer slides, then reverse ('same' centres differently)
        return np.flip(_correlate(v, a, mode))
    return _convolve(a, np.flip(v), mode)  # real inputs: no conjugate


def _trapezoid(y, x=None, dx=1.0, axis=-1):
    nd = ndim(y)
    ax = normalize_axis(axis, nd, "np.trapezoid") + nd
    if x is None:
        d = dx
    else:
        d = np.diff(x, axis=-1 if ndim(x) == 1 else axis)
        if ndim(x) == 1:
            d = np.reshape(d, tuple(shape(d)[0] if i == ax else 1 for i in range(nd)))
    head = (slice(None),) * ax
    return np.sum(d * (y[head + (slice(1, None),)] + y[head + (slice(None, -1),)]) / 2.0, axis=axis)


def _polyval(p, x):
    y = np.zeros_like(x)  # (a plain array)
    for coefficient in (p if getattr(p, "_level", None) is not None else np.asarray(p)):
        y = y * x + coefficient
    return y


def _interp(x, xp, fp, left=None, right=None, period=None):
    if period is not None:
        raise TypeError("np.interp: period= has no rule under differentiation; reduce x modulo the period first "
                        "(np.remainder) and extend xp, fp by one period on each side")
    xp = xp if getattr(xp, "_level", None) is not None else np.asarray(xp, dtype=float)
    fp = fp if getattr(fp, "_level", None) is not None else np.asarray(fp, dtype=float)
    n = shape(xp)[0]
    # every segment's line at every x, kept where x falls in that segment (NumPy's searchsorted(xp, x, 'right') - 1,
    # clipped): comparisons of traced values, so the selection stays visible to sparsity detection
    xb = np.expand_dims(x, -1)
    x0, x1, f0, f1 = xp[:-1], xp[1:], fp[:-1], fp[1:]
    span = x1 - x0
    line = f0 + (f1 - f0) / np.where(span == 0, 1, span) * (xb - x0)
    line = np.where(xb == x1, f1, line)  # NumPy returns fp exactly at the sample points
    k = np.arange(n - 1)
    inside = ((xb >= x0) | (k == 0)) & ((xb < x1) | (k == n - 2))
    inside = np.sum(np.where(inside, line, 0), axis=-1)
    below = fp[0] if left is None else left
    above = fp[-1] if right is None else right
    return np.where(x < xp[0], below, np.where(x > xp[-1], above, inside))


def _gradient(f, *varargs, axis=None, edge_order=1):
    nd = ndim(f)
    axes = tuple(range(nd)) if axis is None else tuple(a % nd for a in np.atleast_1d(axis))
    if not varargs:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacings = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacings = list(varargs)
    else:
        raise TypeError("np.gradient: invalid number of arguments")
    if edge_order not in (1, 2):
        raise ValueError("np.gradient: 'edge_order' greater than 2 not supported")
    outs = []
    for ax, h in zip(axes, spacings):
        n = shape(f)[ax]
        if n < edge_order + 1:
            raise ValueError("np.gradient: shape of array too small to calculate a numerical gradient, at least "
                             "(edge_order + 1) elements are required")

        def take(sl, ax=ax):
            return f[(slice(None),) * ax + (sl,)]

        if np.ndim(h) == 0:  # uniform spacing
            h = float(h) if getattr(h, "_level", None) is None else h
            interior = (take(slice(2, None)) - take(slice(None, -2))) / (2.0 * h)
            if edge_order == 1:
                first = (take(slice(1, 2)) - take(slice(0, 1))) / h
                last = (take(slice(-1, None)) - take(slice(-2, -1))) / h
            else:
                first = (-1.5 * take(slice(0, 1)) + 2.0 * take(slice(1, 2)) - 0.5 * take(slice(2, 3))) / h
                last = (0.5 * take(slice(-3, -2)) - 2.0 * take(slice(-2, -1)) + 1.5 * take(slice(-1, None))) / h
        else:  # coordinates along the axis (constants): NumPy's second-order formula
            x = np.asarray(h, dtype=float)
            dx = np.diff(x)
            dx1, dx2 = dx[:-1], dx[1:]
            shp = [1] * nd
            shp[ax] = -1
            a = np.reshape(-dx2 / (dx1 * (dx1 + dx2)), shp)
            b = np.reshape((dx2 - dx1) / (dx1 * dx2), shp)
            c = np.reshape(dx1 / (dx2 * (dx1 + dx2)), shp)
            interior = a * take(slice(None, -2)) + b * take(slice(1, -1)) + c * take(slice(2, None))
            if edge_order == 1:
                first = (take(slice(1, 2)) - take(slice(0, 1))) / dx[0]
                last = (take(slice(-1, None)) - take(slice(-2, -1))) / dx[-1]
            else:
                d1, d2 = dx[0], dx[1]
                first = (-(2.0 * d1 + d2) / (d1 * (d1 + d2)) * take(slice(0, 1)) + (d1 + d2) / (d1 * d2)
                         * take(slice(1, 2)) - d1 / (d2 * (d1 + d2)) * take(slice(2, 3)))
                d1, d2 = dx[-2], dx[-1]
                last = (d2 / (d1 * (d1 + d2)) * take(slice(-3, -2)) - (d2 + d1) / (d1 * d2) * take(slice(-2, -1))
                        + (2.0 * d2 + d1) / (d2 * (d1 + d2)) * take(slice(-1, None)))
        outs.append(np.concatenate([first, interior, last], axis=ax))
    return outs[0] if len(outs) == 1 else tuple(outs)


# ---- ufunc methods of every differentiable binary ufunc ------------------------------------------------------------
def _running_extreme(ufunc):
    """maximum/minimum.accumulate: entry i is the extreme of the first i + 1 entries (a masked reduction, so ties
    split the derivative evenly, as the max/min reductions do)."""
    fn = f"np.{ufunc.__name__}.accumulate"
    reduce = np.max if ufunc in (np.maximum, np.fmax) else np.min

    def accumulate(array, axis=0, dtype=None, out=None):
        reject_out(fn, out, dtype=dtype)
        x = np.moveaxis(array, axis, -1)
        n = shape(x)[-1]
        upto = np.tril(np.ones((n, n), dtype=bool))
        info = np.finfo(result_dtype(x))  # (finite: the oracle never forms 0 * inf)
        fill = info.min if reduce is np.max else info.max
        return np.moveaxis(reduce(np.where(upto, np.expand_dims(x, -2), fill), axis=-1), -1, axis)

    return accumulate


def _sequential(ufunc, method):
    """ufunc.reduce / ufunc.accumulate for a binary ufunc without a reduction of its own: NumPy's left-to-right
    order, one ufunc call per step."""
    fn = f"np.{ufunc.__name__}.{method}"

    def run(array, axis=0, dtype=None, out=None, keepdims=False, **kwargs):
        reject_out(fn, out, dtype=dtype, **kwargs)
        if axis is None or (method == "reduce" and np.ndim(axis) and len(axis) != 1):
            raise TypeError(f"{fn}: only a single axis is supported under differentiation")
        ax = normalize_axis(axis if np.ndim(axis) == 0 else axis[0], ndim(array), fn)
        x = np.moveaxis(array, ax, 0)
        acc, steps = x[0], [x[0]]
        for k in range(1, shape(x)[0]):
            acc = ufunc(acc, x[k])
            steps.append(acc)
        if method == "accumulate":
            return np.moveaxis(np.stack(steps), 0, ax)
        return np.expand_dims(acc, ax) if keepdims else acc

    return run


def _reduceat(ufunc):
    fn = f"np.{ufunc.__name__}.reduceat"

    def reduceat(array, indices, axis=0, dtype=None, out=None):
        reject_out(fn, out, dtype=dtype)
        nd = ndim(array)
        ax = normalize_axis(axis, nd, fn) + nd
        n = shape(array)[ax]
        idx = [int(i) for i in np.asarray(indices).ravel()]
        head = (slice(None),) * ax
        pieces = []
        for k, i in enumerate(idx):  # NumPy: reduce a[i:j] where i < j, else a[i]
            j = idx[k + 1] if k + 1 < len(idx) else n
            if not 0 <= i < n:
                raise IndexError(f"{fn}: index {i} out-of-bounds in reduceat for an axis of size {n}")
            part = array[head + (slice(i, j),)] if i < j else array[head + (slice(i, i + 1),)]
            pieces.append(ufunc.reduce(part, axis=ax))
        return np.stack(pieces, axis=ax)

    return reduceat


_BINARY = [u for u, op in UFUNC_CALLS.items()  # NumPy's own (scipy.special's ufuncs have methods NumPy rarely calls)
           if u.nin == 2 and op.differentiable and u is not np.ldexp and getattr(np, u.__name__, None) is u]
for _u in _BINARY:
    if (_u, "accumulate") not in DISPATCH:
        _extreme = _u in (np.maximum, np.minimum, np.fmax, np.fmin)
        composite(f"{_u.__name__}.accumulate", ((_u, "accumulate"),),
                  _running_extreme(_u) if _extreme else _sequential(_u, "accumulate"),
                  samples=(Sample(((3, 4),), lambda x, u=_u: u.accumulate(x + 3)),),
                  math="running maximum/minimum, a masked reduction" if _extreme
                  else "left to right, one ufunc call per step")
    if _u in (np.power, np.float_power, np.arctan2):
        continue  # NumPy's power.reduce and arctan2.reduce do not evaluate left to right: no rule rather than a guess
    if (_u, "reduce") not in DISPATCH:
        composite(f"{_u.__name__}.reduce", ((_u, "reduce"),), _sequential(_u, "reduce"),
                  samples=(Sample(((3, 4),), lambda x, u=_u: u.reduce(x + 3, axis=1)),),
                  math="left to right, one ufunc call per step")
    composite(f"{_u.__name__}.reduceat", ((_u, "reduceat"),), _reduceat(_u),
              samples=(Sample(((5, 2),), lambda x, u=_u: u.reduceat(x + 3, [0, 3, 1])),),
              math="ufunc.reduce of each slice indices[i]:indices[i+1] (a[i] where that slice is empty)")


for _name, _fns, _impl, _samples in (
    ("median", (np.median,), _median_fn(False, "np.median"),
     ((((5,),), np.median, ""), (((3, 4),), lambda x: np.median(x, axis=1, keepdims=True), "axis=1"))),
    ("quantile", (np.quantile,), _quantile_fn(1, False, "np.quantile"),
     ((((7,),), lambda x: np.quantile(x, [0.1, 0.5, 1.0]), ""),
      (((3, 4),), lambda x: np.quantile(x, 0.3, axis=0, method="nearest"), "nearest"),
      (((6,), ()), lambda x, q: np.quantile(x, 0.2 + q / 10), "traced q"))),
    ("percentile", (np.percentile,), _quantile_fn(100, False, "np.percentile"),
     ((((2, 5),), lambda x: np.percentile(x, 35, axis=1), ""),
      (((6,),), lambda x: np.percentile(x, [20, 80], method="midpoint"), "midpoint"))),
    ("nanmedian", (np.nanmedian,), _median_fn(True, "np.nanmedian"),
     ((((6,),), lambda x: np.nanmedian(np.where(x > 1, np.nan, x)), ""),)),
    ("nanquantile", (np.nanquantile,), _quantile_fn(1, True, "np.nanquantile"),
     ((((3, 4),), lambda x: np.nanquantile(np.where(x > 1, np.nan, x), 0.4, axis=1), ""),)),
    ("nanpercentile", (np.nanpercentile,), _quantile_fn(100, True, "np.nanpercentile"),
     ((((6,),), lambda x: np.nanpercentile(np.where(x > 1, np.nan, x), 60), ""),)),
    ("nansum", (np.nansum,), _nan_sum, ((((3, 4),), lambda x: np.nansum(np.where(x > 1, np.nan, x), axis=0), ""),)),
    ("nanprod", (np.nanprod,), _nan_prod, ((((5,),), lambda x: np.nanprod(np.where(x > 1, np.nan, x)), ""),)),
    ("nanmean", (np.nanmean,), _nan_mean, ((((3, 4),), lambda x: np.nanmean(np.where(x > 1, np.nan, x), axis=1), ""),)),
    ("nanvar", (np.nanvar,), _nan_var, ((((3, 4),), lambda x: np.nanvar(np.where(x > 1, np.nan, x), axis=1), ""),)),
    ("nanstd", (np.nanstd,), _nan_std,
     ((((6,),), lambda x: np.nanstd(np.where(x > 1, np.nan, x), ddof=1), ""),)),
    ("nanmax", (np.nanmax,), _nan_extreme(np.max, True),
     ((((3, 4),), lambda x: np.nanmax(np.where(x > 1, np.nan, x), axis=0), ""),)),
    ("nanmin", (np.nanmin,), _nan_extreme(np.min, False),
     ((((3, 4),), lambda x: np.nanmin(np.where(x > 1, np.nan, x), axis=1), ""),)),
    ("nancumsum", (np.nancumsum,), _nan_cumulative(np.cumsum, 0),
     ((((5,),), lambda x: np.nancumsum(np.where(x > 1, np.nan, x)), ""),)),
    ("nancumprod", (np.nancumprod,), _nan_cumulative(np.cumprod, 1),
     ((((5,),), lambda x: np.nancumprod(np.where(x > 1, np.nan, x)), ""),)),
    ("ptp", (np.ptp,), _ptp, ((((3, 4),), lambda x: np.ptp(x, axis=1), ""),)),
    ("cov", (np.cov,), _cov, ((((3, 5),), np.cov, ""), (((5, 2), (5,)), lambda x, y: np.cov(x, y, rowvar=False), "y"),
                              (((6,),), lambda x: np.cov(x, bias=True), "1-D, bias"))),
    ("corrcoef", (np.corrcoef,), _corrcoef, ((((3, 5),), np.corrcoef, ""),)),
    ("convolve", (np.convolve,), _convolve,
     ((((5,), (3,)), np.convolve, ""), (((3,), (5,)), lambda a, v: np.convolve(a, v, "same"), "same"),
      (((5,), (2,)), lambda a, v: np.convolve(a, v, "valid"), "valid"))),
    ("correlate", (np.correlate,), _correlate,
     ((((5,), (3,)), np.correlate, ""), (((3,), (5,)), lambda a, v: np.correlate(a, v, "full"), "full"),
      (((4,), (2,)), lambda a, v: np.correlate(a, v, "same"), "same"))),
    ("trapezoid", (np.trapezoid,), _trapezoid,
     ((((5,),), np.trapezoid, ""), (((3, 4), (4,)), lambda y, x: np.trapezoid(y, np.cumsum(x * x + 0.1)), "x"),
      (((3, 4),), lambda y: np.trapezoid(y, dx=0.5, axis=0), "axis=0"))),
    ("polyval", (np.polyval,), _polyval, ((((3,), (4,)), np.polyval, ""),)),
    ("interp", (np.interp,), _interp,
     ((((6,), (4,)), lambda x, fp: np.interp(x, [-1.5, -0.2, 0.4, 1.5], fp), ""),
      (((6,), (3,), (3,)), lambda x, xp, fp: np.interp(x, np.cumsum(xp * xp + 0.2) - 1, fp), "traced xp"))),
    ("gradient", (np.gradient,), _gradient,
     ((((6,),), np.gradient, ""), (((3, 4),), lambda f: np.gradient(f, 0.5, edge_order=2)[1], "2-D, edge_order=2"),
      (((5,),), lambda f: np.gradient(f, [0.0, 0.5, 1.5, 2.0, 3.5]), "coordinates"),
      (((5,),), lambda f: np.gradient(f, [0.0, 0.5, 1.5, 2.0, 3.5], edge_order=2), "coordinates, edge_order=2"))),
):
    composite(_name, _fns, _impl, samples=tuple(Sample(s, c, label) for s, c, label in _samples))
