"""Reductions over axes (sum, mean, prod, max, min, cumsum) and the composites built on them (var, std, norm)."""

from __future__ import annotations

import warnings

import numpy as np

from .core import (
    Domain,
    Op,
    Sample,
    call,
    ndim,
    normalize_axes,
    normalize_axis,
    register,
    reject_out,
    result_dtype,
    shape,
)
from .derive import STRONG_PRODUCT, UNDEFINED, composite, linear
from .elementwise import mask
from .symbolic import as_objects, select_ties

AXIS_SAMPLES = (((3, 4), {}), ((3, 4), {"axis": 0}), ((3, 4), {"axis": -1, "keepdims": True}),
                ((2, 3, 4), {"axis": (0, 2)}), ((5,), {}), ((), {}))


def _samples(fn):
    options = ({"where": np.array([True, False, True, True])}, {"axis": 1, "initial": 0.5},
               {"axis": 0, "dtype": np.float64})
    if fn in (np.max, np.min):
        options = ({"where": np.array([True, False, True, True]), "initial": 0.5},) + options[1:2]
    if fn is np.mean:
        options = (options[0], options[2])
    return tuple(Sample((s,), (lambda x, kw=kw: fn(x, **kw)), f"{fn.__name__}{kw}")
                 for s, kw in AXIS_SAMPLES + tuple(((3, 4), kw) for kw in options))


def _size(xshape, axes):
    return int(np.prod([xshape[a] for a in axes], dtype=np.int64))


def _given(v) -> bool:
    return v is not None and v is not np._NoValue


def _parse_reduce(name):
    fn = f"np.{name}"

    def parse(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
        reject_out(fn, out)
        if dtype is not None:
            if not np.issubdtype(np.dtype(dtype), np.inexact):
                raise TypeError(f"{fn}: dtype={np.dtype(dtype)} gives a result with no derivative; leave dtype out, "
                                "or cast the result with .astype")
            a = a.astype(dtype) if hasattr(a, "astype") else np.asarray(a, dtype=dtype)
        axes = normalize_axes(axis, ndim(a), fn)
        # where= and initial= become a change of the input the reduction then sees whole (exact, and differentiable)
        if where is not True and _given(where):
            # (a mask recorded for replay stays recorded, adops.replay)
            where = np.broadcast_to(where.astype(bool) if getattr(where, "records_values", False)
                                    else np.asarray(where, dtype=bool), shape(a))
            if name == "mean":  # the mean of the kept entries: scale them up by (entries / kept entries)
                kept = np.sum(where, axis=axes, keepdims=True)
                with np.errstate(divide="ignore", invalid="ignore"):
                    a = np.where(where, a, 0) * (_size(shape(a), axes) / kept)
            elif name in ("max", "min"):
                if not _given(initial):
                    raise ValueError(f"{fn}: reduction operation '{'maximum' if name == 'max' else 'minimum'}' does "
                                     "not have an identity, so to use a where mask one has to specify 'initial'")
                # masked-out entries must never tie with kept ones (ties share the derivative): the dtype's extreme,
                # finite so the oracle never forms 0 * inf; initial is combined below
                info = np.finfo(result_dtype(a))
                a = np.where(where, a, info.min if name == "max" else info.max)
            else:
                a = np.where(where, a, 0 if name == "sum" else 1)
        if _given(initial):
            if name in ("max", "min"):
                # max(max(kept), initial): ties among the kept entries share, and a tie with initial is the
                # ufunc's; the record then reduces this over axes of length 1 (the identity)
                a = (np.maximum if name == "max" else np.minimum)(
                    (np.max if name == "max" else np.min)(a, axis=axes, keepdims=True), initial)
            elif _size(shape(a), axes):  # combined with the first entry of each reduced slice
                first = np.zeros(shape(a), dtype=bool)
                first[tuple(0 if d - ndim(a) in axes else slice(None) for d in range(ndim(a)))] = True
                a = np.where(first, a + initial if name == "sum" else a * initial, a)
        return (a,), {"axes": axes, "keepdims": bool(keepdims)}

    return parse


def keep(ct, axes, keepdims):
    """Put the reduced axes back (as size 1) into a reduction's cotangent or output."""
    if keepdims or not axes:
        return ct
    return np.expand_dims(ct, axes)


def expand_to(ct, x, axes, keepdims):
    """The transpose of summing over ``axes``: broadcast the cotangent back over them (a read-only view)."""
    if type(ct) is np.ndarray or isinstance(ct, np.generic):
        view = _repeated(np.asarray(ct), shape(x), axes, keepdims)
        if view is not None:
            return view
    nb = ndim(ct) - (ndim(x) if keepdims else ndim(x) - len(axes))
    return np.broadcast_to(keep(ct, axes, keepdims), shape(ct)[:nb] + shape(x))


def _repeated(a: np.ndarray, xshape: tuple, axes: tuple, keepdims: bool) -> np.ndarray | None:
    """``np.broadcast_to(keep(a, axes, keepdims), batch + xshape)`` built as a strided view of ``a`` (stride 0 along
    ``axes``), or None where ``a``'s memory cannot be viewed that way (not contiguous, object dtype).

    In a reverse sweep this runs right after large matmuls have pushed NumPy's Python helpers out of the caches:
    np.expand_dims and np.broadcast_to (an nditer) then cost about 50 us together, this about 10 (a loss's
    ``np.sum`` pulls back through here once per gradient).
    """
    if a.dtype.hasobject:  # (a view of a buffer of object pointers would not own references to them)
        return None
    nx = len(xshape)
    nb = a.ndim - (nx if keepdims else nx - len(axes))
    strides = list(a.strides[:nb])
    inner = iter(a.strides[nb:])
    for i in range(-nx, 0):
        if i in axes:
            strides.append(0)
            if keepdims:
                next(inner)
        else:
            strides.append(next(inner))
    try:
        view = np.ndarray(a.shape[:nb] + tuple(xshape), a.dtype, a, 0, tuple(strides))
    except (TypeError, ValueError, BufferError):
        return None
    view.flags.writeable = False  # as np.broadcast_to's: every entry along an axis is one memory location
    return view


def _sum_impl(x, axes, keepdims):
    if type(x) is np.ndarray:  # the ufunc np.sum calls, without its Python wrapper
        return np.add.reduce(x, axis=axes, keepdims=keepdims)
    return np.sum(x, axis=axes, keepdims=keepdims)


def _reduce_cost(*shapes, **params):
    return int(np.prod(shapes[0], dtype=np.int64))


linear("sum", (np.sum,), _sum_impl,
       (lambda ct, ans, x, axes, keepdims: expand_to(ct, x, axes, keepdims),),
       parse=_parse_reduce("sum"), samples=_samples(np.sum), cost=_reduce_cost,
       sympy_fn=lambda x, axes, keepdims: np.sum(as_objects(x), axis=axes, keepdims=keepdims),
       math="linear; transpose broadcasts back", sparsity="reduce")


def _mean_impl(x, axes, keepdims):
    return np.mean(x, axis=axes, keepdims=keepdims)


linear("mean", (np.mean,), _mean_impl,
       (lambda ct, ans, x, axes, keepdims: expand_to(ct, x, axes, keepdims) / _size(shape(x), axes),),
       parse=_parse_reduce("mean"), samples=_samples(np.mean), cost=_reduce_cost,
       sympy_fn=lambda x, axes, keepdims: np.sum(as_objects(x), axis=axes, keepdims=keepdims)
       / _size(np.shape(x), axes), math="linear: sum / count", sparsity="reduce")


_DIVIDE_ABOVE = 8  # reduced entries from which d prod / d x_i is ans / x_i, O(n) (the exact masked way is O(n^2))


def _others_product(x, ans, axes, keepdims):
    """d prod / d x_i = product of the other entries; exact with zeros, infinities and overflow (no division)."""
    n = _size(shape(x), axes)
    if n > _DIVIDE_ABOVE and np.all(np.isfinite(ans) & (ans != 0)):
        return keep(ans, axes, keepdims) / x  # (a finite nonzero product: no zero, no infinity, no overflow)
    # (up to _DIVIDE_ABOVE entries the masked products cost little and are exact at every order: the derivative
    # of ans / x_i in x_i cancels to rounding noise, -4e183 for prod([1e200, 3]) where 0 is exact)
    # move the reduced axes last, flatten them, and form each exclusive product with a mask (O(n^2))
    nd = ndim(x)
    rest = [a for a in range(-nd, 0) if a not in axes]
    moved = np.transpose(x, [nd + a for a in rest] + [nd + a for a in axes])
    flat = np.reshape(moved, shape(moved)[:len(rest)] + (n,))
    eye = np.eye(n, dtype=bool)
    others = np.prod(np.where(eye, 1, np.expand_dims(flat, -2)), axis=-1)
    back = np.reshape(others, shape(moved))
    inverse = np.argsort([nd + a for a in rest] + [nd + a for a in axes])
    return np.transpose(back, inverse)


def _prod_jvp(tangents, ans, x, axes, keepdims):
    others = _others_product(x, ans, axes, keepdims)
    # an infinite product of the others meets the zero tangents of the other directions: 0 * inf = 0 there, as the
    # reverse rule gives (it never multiplies the two)
    t = tangents[0]
    terms = t * others if np.all(np.isfinite(others)) else call(STRONG_PRODUCT, t, others)
    return np.sum(terms, axis=axes, keepdims=keepdims)


def _prod_vjp(ct, ans, x, axes, keepdims):
    others = _others_product(x, ans, axes, keepdims)
    ct = expand_to(ct, x, axes, keepdims)
    # a zero cotangent (a jacrev row that does not reach this product) meets an infinite product of the others:
    # 0 * inf = 0, as the JVP gives
    return ct * others if np.all(np.isfinite(others)) else call(STRONG_PRODUCT, ct, others)


register(Op(
    name="prod",
    impl=lambda x, axes, keepdims: np.prod(x, axis=axes, keepdims=keepdims),
    jvp=_prod_jvp,
    vjps=(_prod_vjp,),
    sympy=lambda x, axes, keepdims: np.prod(as_objects(x), axis=axes, keepdims=keepdims),
    cost=_reduce_cost,
    domain=Domain(0.5, 1.5),
    samples=_samples(np.prod) + (Sample(((3,),), lambda x: np.prod(x * np.array([1, 0, 1], dtype=x.dtype)),
                                        "prod with a zero"),),
    math="d prod = sum_i (prod_{j!=i} x_j) dx_i",
    sparsity="reduce"),
         np.prod, parse=_parse_reduce("prod"))


def _extreme(name, fn, pick):
    def share(x, ans, axes, keepdims):
        # the winners split the derivative evenly (the convention table: ties share)
        hit = mask(x == keep(ans, axes, keepdims), ans)
        return hit / np.sum(hit, axis=axes, keepdims=True)

    def jvp(tangents, ans, x, axes, keepdims):
        return np.sum(tangents[0] * share(x, ans, axes, keepdims), axis=axes, keepdims=keepdims)

    def vjp(ct, ans, x, axes, keepdims):
        return expand_to(ct, x, axes, keepdims) * share(x, ans, axes, keepdims)

    register(Op(
        name=name,
        impl=lambda x, axes, keepdims: fn(x, axis=axes, keepdims=keepdims),
        jvp=jvp,
        vjps=(vjp,),
        sympy=lambda x, axes, keepdims: select_ties(x, axes, keepdims, pick),
        cost=_reduce_cost,
        domain=Domain(kinks=("tie",)),
        samples=_samples(fn) + (Sample(((4,),), lambda x: fn(x * 0 + 1.5), "all tied"),),
        math="the winners share the derivative equally",
        sparsity="reduce"),
             fn, *((np.amax,) if fn is np.max else (np.amin,)), parse=_parse_reduce(name))


_extreme("max", np.max, np.max)
_extreme("min", np.min, np.min)


def _parse_cumsum(a, axis=None, dtype=None, out=None):
    reject_out("np.cumsum", out, dtype=dtype)
    if axis is None:
        a = np.ravel(a)
        axis = 0
    return (a,), {"axis": normalize_axis(axis, ndim(a), "np.cumsum")}


linear("cumsum", (np.cumsum,), lambda x, axis: np.cumsum(x, axis=axis),
       (lambda ct, ans, x, axis: np.flip(np.cumsum(np.flip(ct, axis), axis=axis), axis),),
       parse=_parse_cumsum, cost=_reduce_cost,
       samples=(Sample(((5,),), np.cumsum), Sample(((3, 4),), lambda x: np.cumsum(x, axis=0), "axis=0"),
                Sample(((2, 3),), lambda x: np.cumsum(x), "flattened")),
       sympy_fn=lambda x, axis: np.cumsum(as_objects(x), axis=axis), math="linear; transpose = reversed cumsum",
       sparsity="scan")


# ---- composites: their derivatives come from the primitives they call -----------------------------------
def _var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None, correction=None,
         fn="np.var"):
    reject_out(fn, out, dtype=dtype, where=where)
    if correction is not None and correction is not np._NoValue:
        if ddof != 0:
            raise ValueError(f"{fn}: ddof and correction can't be provided simultaneously")
        ddof = correction
    axes = normalize_axes(axis, ndim(a), fn)
    centred = a - (np.mean(a, axis=axis, keepdims=True) if mean is None or mean is np._NoValue else mean)
    count = _size(shape(a), axes) - ddof
    if count <= 0:  # as NumPy: divide by max(n - ddof, 0), giving inf or nan, with its warning
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=4)
        # inf (or nan) all around the point: no derivative, NaN in both modes (as JAX gives in reverse)
        return call(UNDEFINED, np.sum(centred * centred, axis=axis, keepdims=keepdims) / 0)
    return np.sum(centred * centred, axis=axis, keepdims=keepdims) / count


def _std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    return _norm_root(_var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, fn="np.std", **kwargs),
                      2)


def _norm_root(s, p):
    """s ** (1/p) with derivative 0 where s == 0: a norm (or std) at 0 takes the minimum-norm subgradient, 0, as
    abs'(0) = 0 does, in both modes and every nesting (the bare root's infinite slope met a zero partial there and
    gave 0 forward but NaN reverse). The guarded root never sees 0, so no infinity is created."""
    at_zero = s == 0
    safe = np.where(at_zero, 1, s)
    return np.where(at_zero, 0, np.sqrt(safe) if p == 2 else safe ** (1.0 / p))


def _norm(x, ord=None, axis=None, keepdims=False):
    nd = ndim(x)
    if ord is None or ord == "fro" or (ord == 2 and (nd == 1 or isinstance(axis, int))):
        if ord == "fro" and (axis is None and nd != 2 or axis is not None and np.ndim(axis) != 1):
            raise ValueError("np.linalg.norm: ord='fro' needs a matrix (2 axes)")
        return _norm_root(np.sum(x * x, axis=axis, keepdims=keepdims), 2)
    if axis is None and nd == 2 or axis is not None and np.ndim(axis) == 1 and len(axis) == 2:
        from .decompositions import matrix_norm  # 2, -2, 'nuc' through singular values; 1, inf, -1, -inf

        return matrix_norm(x, ord, (-2, -1) if axis is None else tuple(axis), keepdims)
    if axis is None and nd != 1 or axis is not None and not isinstance(axis, (int, np.integer)):
        raise TypeError(f"np.linalg.norm: ord={ord!r} over axis={axis!r} of an array of ndim {nd} has no rule; "
                        "give one axis (a vector norm) or two (a matrix norm)")
    if ord == 0:  # the number of nonzero entries: piecewise constant, so no derivative
        return np.sum(np.not_equal(x, 0), axis=axis, keepdims=keepdims).astype(np.float64)
    if ord == np.inf:
        return np.max(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(np.abs(x), axis=axis, keepdims=keepdims)
    if ord == 1:
        return np.sum(np.abs(x), axis=axis, keepdims=keepdims)
    return _norm_root(np.sum(np.abs(x) ** ord, axis=axis, keepdims=keepdims), ord)


def _cumprod(a, axis=None, dtype=None, out=None):
    reject_out("np.cumprod", out, dtype=dtype)
    if axis is None:
        a = np.ravel(a)
        axis = 0
    nd = ndim(a)
    ax = normalize_axis(axis, nd, "np.cumprod")
    x = np.moveaxis(a, ax, -1)
    n = shape(x)[-1]
    # entry i is the product of x[..., :i+1]: a masked prod, exact with zeros (O(n^2) memory along the axis)
    upto = np.tril(np.ones((n, n), dtype=bool))
    out = np.prod(np.where(upto, np.expand_dims(x, -2), 1), axis=-1)
    return np.moveaxis(out, -1, ax)


composite("cumprod", (np.cumprod,), _cumprod,
          samples=(Sample(((4,),), np.cumprod), Sample(((3, 4),), lambda x: np.cumprod(x, axis=0), "axis=0"),
                   Sample(((4,),), lambda x: np.cumprod(x * np.array([1, 0, 1, 1], dtype=x.dtype)), "with a zero")),
          math="products of leading slices, through prod")
composite("var", (np.var,), _var, samples=(Sample(((6,),), np.var), Sample(((3, 4),), lambda x: np.var(x, axis=0,
                                                                                                     ddof=1))),
          math="sum((x - mean)^2) / (n - ddof)")
composite("std", (np.std,), _std, samples=(Sample(((6,),), np.std),
                                           Sample(((3, 4),), lambda x: np.std(x, axis=-1, keepdims=True))),
          math="sqrt(var)")
composite("linalg.norm", (np.linalg.norm,), _norm,
          samples=(Sample(((5,),), np.linalg.norm), Sample(((3, 4),), np.linalg.norm, "frobenius"),
                   Sample(((3, 4),), lambda x: np.linalg.norm(x, ord=1, axis=1), "ord=1"),
                   Sample(((5,),), lambda x: np.linalg.norm(x, ord=3), "ord=3"),
                   Sample(((5,),), lambda x: np.linalg.norm(x, ord=np.inf), "ord=inf"),
                   Sample(((3, 2),), lambda x: np.linalg.norm(x, ord=2), "matrix ord=2"),
                   Sample(((2, 3),), lambda x: np.linalg.norm(x, ord=-2), "matrix ord=-2"),
                   Sample(((3, 3),), lambda x: np.linalg.norm(x, ord="nuc"), "nuclear"),
                   Sample(((3, 2),), lambda x: np.linalg.norm(x, ord=1), "matrix ord=1"),
                   Sample(((3, 2),), lambda x: np.linalg.norm(x, ord=-np.inf), "matrix ord=-inf"),
                   Sample(((2, 3, 2),), lambda x: np.linalg.norm(x, ord=np.inf, axis=(2, 0), keepdims=True),
                          "matrix ord=inf, axes (2, 0), keepdims"),
                   Sample(((3, 2),), lambda x: np.linalg.norm(x, ord=-1, axis=(0, 1)), "matrix ord=-1")),
          math="vector p-norms and Frobenius from sum/abs/sqrt/max; matrix 2, -2, nuc from singular values; matrix 1, "
               "inf, -1, -inf from abs/sum/max/min")
