"""NumPy's data-movement and construction functions, as composites.

Most of them only move elements around (``rot90``, ``insert``, ``block``, ``np.pad(mode='reflect')``, ...). Rather
than re-deriving NumPy's index arithmetic for each, ``moved`` runs NumPy's own function on arrays of integer
positions and then gathers the traced values with the result: the same function by construction, and its
derivative is the gather's (a selection, transposed by a scatter-add). Functions that compute values (``kron``,
``cross``, ``linspace``, ``select``, ``piecewise``, ...) are written with primitives directly.
"""

from __future__ import annotations

import numpy as np

from .core import Sample, call, ndim, normalize_axis, reject_out, result_dtype, shape
from .derive import composite, nondifferentiable
from .queries import _query


def _leaf(x):
    while getattr(x, "_level", None) is not None and not getattr(x, "records_values", False):
        x = x.primal
    return x


def _plain(x):
    """A constant argument as an ndarray; a traced one is left as it is."""
    return x if getattr(x, "_level", None) is not None else np.asarray(x)


def _map(tree, fn):
    if isinstance(tree, np.ndarray):
        return fn(tree)
    if isinstance(tree, (list, tuple)):
        out = [_map(t, fn) for t in tree]
        return out if isinstance(tree, list) else tuple(out)
    return tree


def moved(numpy_fn, arrays, *, fill=False):
    """``numpy_fn(*arrays)`` for a function that only moves elements: NumPy's own function is run on integer
    positions, whose result is then used to gather the (traced) values. With ``fill``, position 0 stands for a zero
    (``diagflat``'s off-diagonal entries)."""
    arrays = [_plain(a) for a in arrays]
    ids, start = [], 1
    for a in arrays:
        n = int(np.prod(shape(a), dtype=np.int64))
        ids.append(np.arange(start, start + n, dtype=np.intp).reshape(shape(a)))
        start += n
    where = numpy_fn(*ids)
    dtype = np.result_type(*[result_dtype(a) for a in arrays])
    pieces = [np.ravel(a) for a in arrays]
    source = np.concatenate([np.zeros(1, dtype=dtype)] + pieces) if fill or len(pieces) > 1 else pieces[0]
    offset = 0 if source is not pieces[0] else 1
    return _map(where, lambda w: source[w - offset])


def _rot90(m, k=1, axes=(0, 1)):
    return moved(lambda i: np.rot90(i, k, axes), [m])


def _rollaxis(a, axis, start=0):
    return moved(lambda i: np.rollaxis(i, axis, start), [a])


def _atleast_3d(*arys):
    out = [moved(np.atleast_3d, [a]) for a in arys]
    return out[0] if len(out) == 1 else tuple(out)


def _sequence(fn):
    def impl(tup, *args, **kwargs):
        tup = list(tup)
        return moved(lambda *ids: fn(ids, *args, **kwargs), tup)

    return impl


def _split_like(fn):
    def impl(ary, indices_or_sections, *args, **kwargs):
        return moved(lambda i: fn(i, indices_or_sections, *args, **kwargs), [ary])

    return impl


def _block(arrays):
    leaves = []

    def collect(t):
        if isinstance(t, list):
            return [collect(s) for s in t]
        leaves.append(t)
        return len(leaves) - 1

    layout = collect(arrays)

    def rebuild(t, ids):
        return [rebuild(s, ids) for s in t] if isinstance(t, list) else ids[t]

    return moved(lambda *ids: np.block(rebuild(layout, ids)), leaves)


def _diagflat(v, k=0):
    return moved(lambda i: np.diagflat(i, k), [v], fill=True)


def _extract(condition, arr):
    return np.ravel(arr)[np.ravel(np.asarray(_leaf(condition))).astype(bool)]


def _compress(condition, a, axis=None, out=None):
    reject_out("np.compress", out)
    cond = np.asarray(_leaf(condition))
    return moved(lambda i: np.compress(cond, i, axis), [a])


def _insert(arr, obj, values, axis=None):
    if getattr(values, "_level", None) is None:  # NumPy casts the inserted values to the array's dtype
        values = np.asarray(values, dtype=result_dtype(arr))
    elif result_dtype(values) != result_dtype(arr):
        values = values.astype(result_dtype(arr))
    return moved(lambda i, v: np.insert(i, obj, v, axis), [arr, values])


def _delete(arr, obj, axis=None):
    return moved(lambda i: np.delete(i, obj, axis), [arr])


def _resize(a, new_shape):
    return moved(lambda i: np.resize(i, new_shape), [a])


def _broadcast_arrays(*args, subok=False):
    return tuple(moved(lambda *ids: np.broadcast_arrays(*ids), list(args)))


def _meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    return tuple(moved(lambda *ids: np.meshgrid(*ids, sparse=sparse, indexing=indexing), list(xi)))


def _choose(a, choices, out=None, mode="raise"):
    reject_out("np.choose", out)
    index = np.asarray(_leaf(a))
    if isinstance(choices, (list, tuple)):
        return moved(lambda *c: np.choose(index, c, mode=mode), list(choices))
    return moved(lambda c: np.choose(index, c, mode=mode), [choices])


def _flipud(m):
    if ndim(m) < 1:
        raise ValueError("np.flipud: input must be >= 1-d")
    return np.flip(m, axis=0)


def _fliplr(m):
    if ndim(m) < 2:
        raise ValueError("np.fliplr: input must be >= 2-d")
    return np.flip(m, axis=1)


for _name, _fn, _impl, _samples in (
    ("flipud", np.flipud, _flipud, ((((3, 2),), np.flipud, ""),)),
    ("fliplr", np.fliplr, _fliplr, ((((3, 2),), np.fliplr, ""),)),
    ("rot90", np.rot90, _rot90, ((((2, 3),), np.rot90, ""), (((2, 3, 2),), lambda x: np.rot90(x, 3, (2, 0)), "k=3"))),
    ("rollaxis", np.rollaxis, _rollaxis, ((((2, 3, 4),), lambda x: np.rollaxis(x, 2), ""),)),
    ("atleast_3d", np.atleast_3d, _atleast_3d, ((((3,),), np.atleast_3d, ""), (((2, 3),), np.atleast_3d, "2-D"))),
    ("column_stack", np.column_stack, _sequence(np.column_stack),
     ((((3,), (3, 2)), lambda a, b: np.column_stack([a, b]), ""),)),
    ("dstack", np.dstack, _sequence(np.dstack), ((((3,), (3,)), lambda a, b: np.dstack((a, b)), ""),)),
    ("block", np.block, _block, ((((2, 2), (2,), (1,)), lambda a, b, c: np.block([[a], [np.append(b, c)[:2]]]), ""),
                                 (((2, 2), (2, 1)), lambda a, b: np.block([a, b]), "side by side"))),
    ("array_split", np.array_split, _split_like(np.array_split),
     ((((7,),), lambda x: np.array_split(x, 3)[0] * 2 + np.array_split(x, 3)[2][:1], ""),)),
    ("hsplit", np.hsplit, _split_like(np.hsplit), ((((2, 4),), lambda x: np.hsplit(x, 2)[1], ""),)),
    ("vsplit", np.vsplit, _split_like(np.vsplit), ((((4, 2),), lambda x: np.vsplit(x, [1])[1], ""),)),
    ("dsplit", np.dsplit, _split_like(np.dsplit), ((((1, 2, 4),), lambda x: np.dsplit(x, 2)[0], ""),)),
    ("diagflat", np.diagflat, _diagflat, ((((3,),), np.diagflat, ""),
                                          (((2, 2),), lambda x: np.diagflat(x, -1), "k=-1"))),
    ("extract", np.extract, _extract, ((((3, 4),), lambda x: np.extract(x > 0, x), ""),)),
    ("compress", np.compress, _compress, ((((3, 4),), lambda x: np.compress([True, False, True], x, axis=1), ""),)),
    ("insert", np.insert, _insert, ((((5,),), lambda x: np.insert(x, 2, 7.5), ""),
                                   (((2, 3), (2,)), lambda x, v: np.insert(x, [0, 3], v[:, None], axis=1), "values"))),
    ("delete", np.delete, _delete, ((((5,),), lambda x: np.delete(x, [0, 3]), ""),
                                   (((3, 4),), lambda x: np.delete(x, 1, axis=0), "axis=0"))),
    ("resize", np.resize, _resize, ((((3,),), lambda x: np.resize(x, (2, 4)), ""),)),
    ("broadcast_arrays", np.broadcast_arrays, _broadcast_arrays,
     ((((3,), (2, 1)), lambda a, b: np.broadcast_arrays(a, b)[0] * np.broadcast_arrays(a, b)[1], ""),)),
    ("meshgrid", np.meshgrid, _meshgrid, ((((3,), (2,)), lambda a, b: np.meshgrid(a, b)[0] - np.meshgrid(a, b)[1], ""),
                                          (((3,), (2,)), lambda a, b: np.meshgrid(a, b, indexing="ij")[1], "ij"))),
    ("choose", np.choose, _choose, ((((4,), (4,)), lambda a, b: np.choose([0, 1, 1, 0], [a, b]), ""),)),
):
    composite(_name, (_fn,), _impl, samples=tuple(Sample(s, c, label) for s, c, label in _samples),
              math="NumPy's own data movement on integer positions, then a gather" if _impl not in
              (_flipud, _fliplr, _extract) else "built from flip / indexing")


# ---- functions that compute values --------------------------------------------------------------------------------
def _kron(a, b):
    sa, sb = shape(a), shape(b)
    nd = max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    a = np.reshape(a, tuple(v for n in sa for v in (n, 1)))
    b = np.reshape(b, tuple(v for n in sb for v in (1, n)))
    return np.reshape(a * b, tuple(m * n for m, n in zip(sa, sb)))


def _cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a = np.moveaxis(a, axisa, -1)
    b = np.moveaxis(b, axisb, -1)
    if shape(a)[-1] != 3 or shape(b)[-1] != 3:
        raise ValueError(f"np.cross: only 3-component vectors are supported under differentiation (got "
                         f"{shape(a)[-1]} and {shape(b)[-1]}; NumPy deprecates 2-component ones); append a zero "
                         "component with np.concatenate and take the last component of the result")
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    c = np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return np.moveaxis(c, -1, axisc)


def _select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ValueError("np.select: list of cases must be same length as list of conditions")
    out = default
    for cond, choice in zip(reversed(condlist), reversed(choicelist)):  # the first true condition wins
        out = np.where(np.asarray(_leaf(cond)).astype(bool), choice, out)
    if not hasattr(out, "_level") and np.ndim(out) == 0 and not condlist:
        raise ValueError("np.select: select with an empty condition list is not possible")
    return out


def _piecewise(x, condlist, funclist, *args, **kw):
    xs = shape(x)
    # (masks being recorded for replay, adops.replay, stand for the arrays NumPy would see)
    recorded = getattr(condlist, "records_values", False)
    first = condlist[0] if not np.isscalar(condlist) else None
    arrayish = isinstance(first, (list, np.ndarray)) or (getattr(first, "records_values", False) and not recorded)
    if np.isscalar(condlist) or (not (arrayish or recorded and condlist.ndim > 1) and len(xs) != 0):
        condlist = [condlist]
    # (asanyarray and a ufunc keep a mask computed from traced values visible to sparsity detection)
    conds = [(c.astype(bool) if getattr(c, "records_values", False) else np.asanyarray(c, dtype=bool))
             | np.zeros(xs, dtype=bool) for c in condlist]
    if len(funclist) == len(conds) + 1:  # the last function covers where no condition holds
        otherwise = ~conds[0]
        for c in conds[1:]:
            otherwise = otherwise & ~c
        conds.append(otherwise)
    elif len(funclist) != len(conds):
        raise ValueError(f"np.piecewise: with {len(conds)} condition(s), either {len(conds)} or {len(conds) + 1} "
                         "functions are needed")
    out = np.zeros(xs, dtype=result_dtype(x))
    for cond, fn in zip(conds, funclist):
        if callable(fn):
            # evaluated on all of x (NumPy passes x[cond]: the same values for the elementwise functions piecewise is
            # written with), so the derivative's structure does not depend on which entries are selected here
            with np.errstate(all="ignore"):
                fn = fn(x, *args, **kw)
        out = np.where(cond, fn, out)
    return out


def _linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    num = int(num)
    if num < 0:
        raise ValueError(f"np.linspace: number of samples, {num}, must be non-negative")
    div = (num - 1) if endpoint else num
    start, stop = start * 1.0, stop * 1.0
    delta = stop - start
    nd = max(ndim(start), ndim(stop))
    steps = np.arange(num, dtype=result_dtype(start)).reshape((num,) + (1,) * nd)
    if div > 0:
        step = delta / div
        y = steps * step + start
    else:
        step = np.nan * delta
        y = steps * delta + start
    if endpoint and num > 1:
        last = np.arange(num).reshape((num,) + (1,) * nd) == num - 1
        y = np.where(last, stop, y)
    if axis != 0:
        y = np.moveaxis(y, 0, axis)
    if dtype is not None:
        y = y.astype(dtype)
    return (y, step) if retstep else y


def _logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    y = np.power(base, _linspace(start, stop, num=num, endpoint=endpoint, axis=axis))
    return y if dtype is None else y.astype(dtype)


def _geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    sign = np.sign(start)  # (a plain array: sign has no derivative)
    if np.any(np.equal(start, 0)) or np.any(np.equal(stop, 0)):
        raise ValueError("np.geomspace: geometric sequence cannot include zero")
    if np.any(np.sign(stop) != sign):
        raise TypeError("np.geomspace: start and stop of opposite signs give complex values, which are not supported "
                        "under differentiation")
    y = sign * _logspace(np.log10(start * sign), np.log10(stop * sign), num=num, endpoint=endpoint, axis=0)
    num = int(num)
    index = np.arange(num).reshape((num,) + (1,) * (ndim(y) - 1))
    if num > 0:  # NumPy makes the endpoints exact
        y = np.where(index == 0, start * 1.0, y)
        if endpoint and num > 1:
            y = np.where(index == num - 1, stop * 1.0, y)
    if axis != 0:
        y = np.moveaxis(y, 0, axis)
    return y if dtype is None else y.astype(dtype)


def _ediff1d(ary, to_end=None, to_begin=None):
    flat = np.ravel(ary)
    parts = [flat[1:] - flat[:-1]]
    if to_begin is not None:
        parts.insert(0, np.ravel(_plain(to_begin)))
    if to_end is not None:
        parts.append(np.ravel(_plain(to_end)))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _partition_order(x, kth, axis):
    """The permutation NumPy's partition applies along ``axis``: the stable sort of its result matches the stable
    sort of the input, entry by entry."""
    sorted_in = np.argsort(x, axis=axis, kind="stable")
    rank = np.argsort(np.argsort(np.partition(x, kth, axis=axis), axis=axis, kind="stable"), axis=axis, kind="stable")
    return np.take_along_axis(sorted_in, rank, axis=axis)


PARTITION_ORDER = nondifferentiable("partition_order", (), 1, impl=_partition_order, samples=(),
                                    math="internal: the permutation np.partition applies (no derivative)")


def _partition(a, kth, axis=-1, kind="introselect", order=None):
    if order is not None:
        raise TypeError("np.partition: order= (structured arrays) is not supported under differentiation")
    if axis is None:
        a, axis = np.ravel(a), -1
    ax = normalize_axis(axis, ndim(a), "np.partition")
    return np.take_along_axis(a, call(PARTITION_ORDER, a, kth=kth, axis=ax), axis=ax)


composite("kron", (np.kron,), _kron,
          samples=(Sample(((2, 2), (3, 2)), np.kron), Sample(((3,), (2, 2)), np.kron, "1-D, 2-D")),
          math="outer product of interleaved axes, reshaped")
composite("cross", (np.cross,), _cross,
          samples=(Sample(((3,), (3,)), np.cross),
                   Sample(((2, 3), (3, 2)), lambda a, b: np.cross(a, b, axisb=0), "axisb")),
          math="a x b from products of components")
composite("select", (np.select,), _select,
          samples=(Sample(((5,), (5,)), lambda x, y: np.select([x < -0.5, x < 0.5], [x * y, np.sin(x)], y), ""),),
          math="nested np.where: the first true condition wins")
composite("piecewise", (np.piecewise,), _piecewise,
          samples=(Sample(((6,),), lambda x: np.piecewise(x, [x < 0, x >= 0], [lambda v: v * v, np.sin]), ""),
                   Sample(((6,),), lambda x: np.piecewise(x, [x < -1, x > 1], [-1.0, np.exp, lambda v: v ** 3]),
                          "otherwise")),
          math="each function on x, chosen entry by entry with np.where (NumPy: on x[cond])")
composite("linspace", (np.linspace,), _linspace,
          samples=(Sample(((), ()), lambda a, b: np.linspace(a, b, 5)),
                   Sample(((2,), ()), lambda a, b: np.linspace(a, b, 4, endpoint=False, axis=1), "arrays, axis=1")),
          math="start + k * (stop - start) / div, endpoint exact")
composite("logspace", (np.logspace,), _logspace, samples=(Sample(((), ()), lambda a, b: np.logspace(a, b, 4)),),
          math="base ** linspace")
composite("geomspace", (np.geomspace,), _geomspace,
          samples=(Sample(((), ()), lambda a, b: np.geomspace(a + 3, b + 3, 5)),),
          math="sign * 10 ** linspace(log10 |start|, log10 |stop|), endpoints exact")
composite("ediff1d", (np.ediff1d,), _ediff1d,
          samples=(Sample(((2, 3),), np.ediff1d),
                   Sample(((4,),), lambda x: np.ediff1d(x, to_end=[1.0, 2.0]), "to_end")),
          math="differences of the flattened array, with ends concatenated")
composite("partition", (np.partition,), _partition,
          samples=(Sample(((6,),), lambda x: np.partition(x, 2)),
                   Sample(((3, 4),), lambda x: np.partition(x, 1, axis=0), "axis=0")),
          math="a permutation (NumPy's), read off the primal: a gather")

_parse, _impl = _query(np.argpartition)
nondifferentiable("argpartition", (np.argpartition,), 1, impl=_impl, parse=_parse,
                  samples=(Sample(((5,),), lambda x: np.argpartition(x, 2)),),
                  math="answered from the primal; no derivative")


def _unique_query(x, part, axis, equal_nan, sorted):
    """One of np.unique's integer results ("index": each unique value's first occurrence, "inverse", "counts")."""
    kw = {"sorted": sorted} if _UNIQUE_SORTED else {}
    index, inverse, counts = np.unique(x, return_index=True, return_inverse=True, return_counts=True, axis=axis,
                                       equal_nan=equal_nan, **kw)[1:]
    return {"index": index, "inverse": inverse, "counts": counts}[part]


_UNIQUE_SORTED = "sorted" in __import__("inspect").signature(np.unique).parameters  # (NumPy 2.3 and later)
UNIQUE_QUERY = nondifferentiable("unique_query", (), 1, impl=_unique_query, samples=(),
                                 math="internal: np.unique's first-occurrence index, inverse or counts (no derivative)")


def _unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *, equal_nan=True,
            sorted=True):
    if axis is not None:
        axis = normalize_axis(axis, ndim(ar), "np.unique")
    params = {"axis": axis, "equal_nan": equal_nan, "sorted": sorted}
    index = call(UNIQUE_QUERY, ar, part="index", **params)
    # the unique values are elements of ar (a gather): each carries the derivative of its first occurrence
    values = np.ravel(ar)[index] if axis is None else np.take(ar, index, axis=axis)
    out = [values]
    if return_index:
        out.append(index)
    if return_inverse:
        out.append(call(UNIQUE_QUERY, ar, part="inverse", **params))
    if return_counts:
        out.append(call(UNIQUE_QUERY, ar, part="counts", **params))
    return values if len(out) == 1 else tuple(out)


composite("unique", (np.unique,), _unique,
          samples=(Sample(((2, 3),), np.unique),
                   Sample(((5,),), lambda x: np.unique(np.concatenate([x, x[1:3]]), return_counts=True)[0] * 2.0,
                          "repeated values"),
                   Sample(((3, 2),), lambda x: np.unique(np.concatenate([x, x[:1]]), axis=0), "rows, axis=0")),
          math="a gather of each unique value's first occurrence (index, inverse and counts read off the primal)")

for _fn, _call in ((np.digitize, lambda x: np.digitize(x, [-1.0, 0.0, 1.0])),
                  (np.flatnonzero, lambda x: np.flatnonzero(x > 0)), (np.argwhere, lambda x: np.argwhere(x > 0))):
    _parse, _impl = _query(_fn)
    nondifferentiable(_fn.__name__, (_fn,), 1, impl=_impl, parse=_parse, samples=(Sample(((2, 3),), _call),),
                      math="answered from the primal; no derivative")
