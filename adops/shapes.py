"""Shape and indexing primitives (all linear: JVP = impl, VJP = a hand-written transpose) and their composites."""

from __future__ import annotations

import numpy as np

from .core import (
    Domain,
    Op,
    Sample,
    call,
    ndim,
    normalize_axes,
    normalize_axis,
    recorder,
    register,
    reject_out,
    result_dtype,
    shape,
    sum_to,
)
from .cotangents import IndexAdd
from .derive import composite, linear, nondifferentiable
from .symbolic import as_objects


def _lead(x, nd):
    return ndim(x) - nd


# ---- reshape -------------------------------------------------------------------------------------------
def _parse_reshape(a, shape_=None, order="C", *, newshape=None, shape=None, copy=None):
    target = shape_ if shape_ is not None else (shape if shape is not None else newshape)
    if order not in ("C", "F", "A"):
        raise ValueError(f"np.reshape: order must be one of 'C', 'F', 'A', got {order!r}")
    target = (target,) if isinstance(target, (int, np.integer)) else tuple(int(s) for s in target)
    size = int(np.prod(_shape(a), dtype=np.int64))
    if target.count(-1) == 1:
        known = int(np.prod([s for s in target if s != -1], dtype=np.int64))
        target = tuple(size // known if s == -1 else s for s in target)
    if int(np.prod(target, dtype=np.int64)) != size:
        raise ValueError(f"np.reshape: cannot reshape an array of shape {_shape(a)} into shape {target}")
    if order == "A":  # Fortran order for a Fortran-contiguous primal, as NumPy
        order = "F" if _fortran(a) else "C"
    if order == "F":  # column-major: the transposes of a row-major reshape (then an identity reshape)
        a = np.transpose(np.reshape(np.transpose(a), target[::-1]))
    return (a,), {"shape": target, "nd": ndim(a)}


def _fortran(a):
    leaf = a
    while getattr(leaf, "_level", None) is not None:
        leaf = leaf.primal
    flags = np.asarray(leaf).flags
    return bool(flags.f_contiguous and not flags.c_contiguous)


def _shape(x):
    return shape(x)


def reshape_impl(x, shape, nd):
    if type(x) is np.ndarray or isinstance(x, np.generic):  # (the method: np.reshape's argument parsing costs 1 us)
        lead = x.ndim - nd
        return x.reshape((x.shape[:lead] + shape) if lead else shape)
    lead = _lead(x, nd)
    return np.reshape(x, (_shape(x)[:lead] + shape) if lead else shape)


RESHAPE = linear("reshape", (np.reshape,), reshape_impl,
                 (lambda ct, ans, x, shape, nd: reshape_impl(ct, _shape(x), len(shape)),), parse=_parse_reshape,
                 samples=(Sample(((2, 3),), lambda x: np.reshape(x, (3, 2))),
                          Sample(((2, 3),), lambda x: x.reshape(-1), "x.reshape(-1)"),
                          Sample(((2, 3, 2),), lambda x: np.reshape(x, (3, -1), order="F"), "order='F'"),
                          Sample(((6,),), lambda x: np.reshape(x, (1, 2, 3)))),
                 sympy_fn=lambda x, shape, nd: np.reshape(as_objects(x), shape), math="linear; transpose reshapes back",
                 sparsity="select")


# ---- transpose -----------------------------------------------------------------------------------------
def _parse_transpose(a, axes=None):
    nd = ndim(a)
    if axes is None:
        perm = tuple(range(-1, -nd - 1, -1))
    else:
        perm = tuple(normalize_axis(p, nd, "np.transpose") for p in axes)
        if sorted(perm) != list(range(-nd, 0)):
            raise ValueError(f"np.transpose: axes {axes!r} is not a permutation of {nd} axes")
    return (a,), {"perm": perm}


def transpose_impl(x, perm):
    nd = len(perm)
    lead = _lead(x, nd)
    return np.transpose(x, tuple(range(lead)) + tuple(lead + nd + p for p in perm))


def _inverse(perm):
    nd = len(perm)
    return tuple(int(i) - nd for i in np.argsort([p + nd for p in perm]))


TRANSPOSE = linear("transpose", (np.transpose, np.permute_dims) if hasattr(np, "permute_dims") else (np.transpose,),
                   transpose_impl, (lambda ct, ans, x, perm: transpose_impl(ct, _inverse(perm)),),
                   parse=_parse_transpose,
                   samples=(Sample(((2, 3),), np.transpose), Sample(((2, 3, 4),), lambda x: np.transpose(x, (1, 2, 0))),
                            Sample(((2, 3),), lambda x: x.T, "x.T")),
                   sympy_fn=lambda x, perm: np.transpose(as_objects(x), [p + len(perm) for p in perm]),
                   math="linear; transpose applies the inverse permutation", sparsity="select")


# ---- broadcast_to --------------------------------------------------------------------------------------
def _parse_broadcast_to(array, shape, subok=False):
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    try:
        np.broadcast_shapes(_shape(array), shape)
    except ValueError:
        raise ValueError(f"np.broadcast_to: cannot broadcast shape {_shape(array)} to {shape}") from None
    return (array,), {"shape": shape, "nd": ndim(array)}


def broadcast_to_impl(x, shape, nd):
    lead = _lead(x, nd)
    if not lead:
        return np.broadcast_to(x, shape)
    xs = _shape(x)
    x = np.reshape(x, xs[:lead] + (1,) * (len(shape) - nd) + xs[lead:])
    return np.broadcast_to(x, xs[:lead] + shape)


BROADCAST_TO = linear("broadcast_to", (np.broadcast_to,), broadcast_to_impl,
                      (lambda ct, ans, x, shape, nd: sum_to(ct, ndim(ct) - len(shape), _shape(x)),),
                      parse=_parse_broadcast_to,
                      samples=(Sample(((3,),), lambda x: np.broadcast_to(x, (2, 3))),
                               Sample(((2, 1),), lambda x: np.broadcast_to(x, (4, 2, 5)))),
                      sympy_fn=lambda x, shape, nd: np.broadcast_to(as_objects(x), shape),
                      math="linear; transpose sums over the broadcast axes", sparsity="select")


# ---- indexing: getitem and its transpose, a scatter-add ---------------------------------------------
def _is_array_index(i):
    return isinstance(i, np.ndarray) and i.dtype != object


def _parse_getitem(x, index):
    nd = ndim(x)
    items = index if isinstance(index, tuple) else (index,)
    if any(getattr(i, "records_values", False) for i in items):  # an index computed from values being recorded
        items = tuple(j for i in items for j in (i.as_index() if getattr(i, "records_values", False) else (i,)))
    parts = []
    for i in items:
        if getattr(i, "_level", None) is not None:
            raise TypeError("indexing: an index may not be a traced value; index with a plain integer or "
                            "boolean array (for example computed from the primal values)")
        if isinstance(i, list):
            i = np.asarray(i)
        if isinstance(i, np.ndarray) and i.dtype == bool:
            parts.append(("bool", i))
        elif isinstance(i, np.ndarray) and np.issubdtype(i.dtype, np.integer):
            parts.append(("int", i))
        elif isinstance(i, np.ndarray) and i.ndim == 0 and np.issubdtype(i.dtype, np.integer):
            parts.append(("int", i))
        elif isinstance(i, (slice, int, np.integer)) or i is None or i is Ellipsis:
            parts.append(("basic", i))
        else:
            raise TypeError(f"indexing: unsupported index {i!r}; use ints, slices, None, Ellipsis, or integer/"
                            "boolean arrays")
    consumed = sum(p[1].ndim if p[0] == "bool" else (0 if p[1] is None or p[1] is Ellipsis else 1) for p in parts)
    if consumed > nd:
        raise IndexError(f"indexing: too many indices ({consumed}) for an array of ndim {nd}")
    full = []
    seen_ellipsis = False
    for kind, i in parts:
        if i is Ellipsis and kind == "basic":
            if seen_ellipsis:
                raise IndexError("indexing: an index can only have a single ellipsis ('...')")
            seen_ellipsis = True
            full.extend([slice(None)] * (nd - consumed))
        elif kind == "bool":
            full.extend(np.nonzero(i))  # a mask is the integer arrays of its True positions (np.nonzero keeps a
            # value-dependent mask's marker class, see adops.sparse.Varying)
        else:
            full.append(i)
    if not seen_ellipsis:
        full.extend([slice(None)] * (nd - consumed))
    full = tuple(full)
    arrays = [k for k, i in enumerate(full) if _is_array_index(i)]
    front = 0
    if arrays:
        advanced = [k for k, i in enumerate(full) if _is_array_index(i) or isinstance(i, (int, np.integer))]
        if advanced != list(range(advanced[0], advanced[-1] + 1)):
            front = np.broadcast(*[full[k] for k in arrays]).ndim if len(arrays) > 1 else full[arrays[0]].ndim
    out_nd = len(np.empty(_shape(x), dtype=np.bool_)[full].shape) if arrays else None
    if out_nd is None:
        out_nd = sum(1 for i in full if isinstance(i, slice) or i is None)
    return (x,), {"index": full, "nd": nd, "front": front, "out_nd": out_nd}


def getitem_impl(x, index, nd, front, out_nd):
    if getattr(x, "_level", None) is None and recorder(index) is not None:  # (adops.replay: a recorded index)
        return call(GETITEM, x, index=index, nd=nd, front=front, out_nd=out_nd)
    lead = _lead(x, nd)
    if not lead:
        return x[index]
    out = x[(slice(None),) * lead + index]
    if front:
        out = np.moveaxis(out, tuple(range(front, front + lead)), tuple(range(lead)))
    return out


def index_add_impl(ct, index, nd, front, out_nd, xshape):
    """Zeros of the indexed array's shape with ``ct`` added at ``index`` (repeated positions accumulate)."""
    if getattr(ct, "_level", None) is not None or recorder(index) is not None:
        return call(INDEX_ADD, ct, index=index, nd=nd, front=front, out_nd=out_nd, xshape=xshape)
    return _index_add(ct, index, front, out_nd, xshape).dense()


def _index_add(ct, index, front, out_nd, xshape) -> IndexAdd:
    """The same, unbuilt: leading batch axes of ``ct`` go where indexing put them (``front``) and get full slices."""
    lead = np.ndim(ct) - out_nd
    shape = tuple(xshape)
    if lead:
        shape = np.shape(ct)[:lead] + shape
        if front:
            ct = np.moveaxis(ct, tuple(range(lead)), tuple(range(front, front + lead)))
        index = (slice(None),) * lead + index
    return IndexAdd(shape, result_dtype(ct), index, ct, any([_is_array_index(i) for i in index]))


def _getitem_vjp(ct, ans, x, index, nd, front, out_nd):
    return index_add_impl(ct, index, nd, front, out_nd, _shape(x))


def _getitem_scatter_vjp(ct, ans, x, index, nd, front, out_nd):
    # for the reverse sweep: left unbuilt, so a loop over x[i] adds into one buffer (adops.cotangents)
    if getattr(ct, "_level", None) is not None or recorder(index) is not None:
        # a traced cotangent (higher order) or an index being recorded for replay: the recorded index_add
        return index_add_impl(ct, index, nd, front, out_nd, _shape(x))
    return _index_add(ct, index, front, out_nd, _shape(x))


def _sym_getitem(x, index, nd, front, out_nd):
    return as_objects(x)[index]


GETITEM = linear("getitem", ("x[index]",), getitem_impl, (_getitem_vjp,), parse=_parse_getitem,
                 samples=(Sample(((5,),), lambda x: x[1:4], "x[1:4]"), Sample(((3, 4),), lambda x: x[1], "x[1]"),
                          Sample(((3, 4),), lambda x: x[:, ::-2], "x[:, ::-2]"),
                          Sample(((3, 4),), lambda x: x[None, ..., 2], "x[None, ..., 2]"),
                          Sample(((5,),), lambda x: x[np.array([0, 2, 2, 4])], "x[[0, 2, 2, 4]] (repeats add)"),
                          Sample(((3, 4),), lambda x: x[x > 0], "x[x > 0]"),
                          Sample(((2, 3, 4),), lambda x: x[np.array([0, 1]), :, np.array([1, 3])],
                                 "separated advanced indices")),
                 sympy_fn=_sym_getitem, math="linear; transpose scatters (adds) the cotangent back", sparsity="select",
                 scatter_vjps=(_getitem_scatter_vjp,))


def _index_add_vjp(ct, ans, c, index, nd, front, out_nd, xshape):
    return getitem_impl(ct, index, nd, front, out_nd)


INDEX_ADD = register(Op(
    name="index_add",
    impl=index_add_impl,
    jvp=lambda ts, ans, c, **p: index_add_impl(ts[0], **p),
    vjps=(_index_add_vjp,),
    sympy=lambda c, index, nd, front, out_nd, xshape: _sym_index_add(c, index, xshape),
    cost=lambda *s, **p: int(np.prod(s[0], dtype=np.int64)),
    domain=Domain(),
    samples=(),
    math="internal: the transpose of indexing; its own transpose is indexing",
    curvature="linear",
    sparsity="scatter"))


def _sym_index_add(c, index, xshape):
    out = np.zeros(xshape, dtype=object)
    out[...] = 0
    np.add.at(out, index, as_objects(c))
    return out


# ---- concatenate / stack -------------------------------------------------------------------------------
def _parse_concatenate(arrays, axis=0, out=None, dtype=None, casting=None):
    reject_out("np.concatenate", out, dtype=dtype, casting=casting)
    arrays = tuple(arrays)
    if not arrays:
        raise ValueError("np.concatenate: need at least one array to concatenate")
    if axis is None:
        arrays = tuple(np.ravel(a) for a in arrays)
        axis = 0
    nd = ndim(arrays[0])
    if any(ndim(a) != nd for a in arrays):
        raise ValueError(f"np.concatenate: all inputs need the same ndim, got {[ndim(a) for a in arrays]}")
    return arrays, {"axis": normalize_axis(axis, nd, "np.concatenate")}


def _concatenate_piece(ct, x, start, axis):
    nd = ndim(x)
    index = (slice(None),) * (nd + axis) + (slice(start, start + _shape(x)[axis]),)
    index = index + (slice(None),) * (nd - len(index))
    return getitem_impl(ct, index, nd, 0, nd)


def _concatenate_vjp_all(ct, ans, *xs, axis):
    pieces, start = [], 0
    for x in xs:
        pieces.append(_concatenate_piece(ct, x, start, axis))
        start += _shape(x)[axis]
    return pieces


linear("concatenate", (np.concatenate,), lambda *xs, axis: np.concatenate(xs, axis=axis),
       (), vjp_all=_concatenate_vjp_all,
       parse=_parse_concatenate,
       samples=(Sample(((2,), (3,)), lambda a, b: np.concatenate([a, b])),
                Sample(((2, 3), (2, 1), (2, 2)), lambda a, b, c: np.concatenate((a, b, c), axis=1))),
       sympy_fn=lambda *xs, axis: np.concatenate([as_objects(x) for x in xs], axis=axis),
       math="linear; transpose slices the cotangent", sparsity="select")


def _parse_stack(arrays, axis=0, out=None, dtype=None, casting=None):
    reject_out("np.stack", out, dtype=dtype, casting=casting)
    arrays = tuple(arrays)
    if not arrays:
        raise ValueError("np.stack: need at least one array to stack")
    shapes = {_shape(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"np.stack: all input arrays must have the same shape, got {sorted(shapes)}")
    return arrays, {"axis": normalize_axis(axis, ndim(arrays[0]) + 1, "np.stack")}


def _stack_piece(ct, x, i, axis):
    nd = ndim(x) + 1
    index = (slice(None),) * (nd + axis) + (i,) + (slice(None),) * (-axis - 1)
    return getitem_impl(ct, index, nd, 0, nd - 1)


def _stack_vjp_all(ct, ans, *xs, axis):
    return [_stack_piece(ct, x, i, axis) for i, x in enumerate(xs)]


linear("stack", (np.stack,), lambda *xs, axis: np.stack(xs, axis=axis), (), vjp_all=_stack_vjp_all,
       parse=_parse_stack,
       samples=(Sample(((3,), (3,)), lambda a, b: np.stack([a, b])),
                Sample(((2, 3), (2, 3)), lambda a, b: np.stack([a, b], axis=-1))),
       sympy_fn=lambda *xs, axis: np.stack([as_objects(x) for x in xs], axis=axis),
       math="linear; transpose picks each slice", sparsity="select")


# ---- flip, pad, astype ----------------------------------------------------------------------------------
def _parse_flip(m, axis=None):
    return (m,), {"axes": normalize_axes(axis, ndim(m), "np.flip")}


def _flip_impl(x, axes):
    return np.flip(x, axis=axes)


linear("flip", (np.flip,), _flip_impl, (lambda ct, ans, x, axes: _flip_impl(ct, axes),), parse=_parse_flip,
       samples=(Sample(((4,),), np.flip), Sample(((2, 3),), lambda x: np.flip(x, axis=1))),
       sympy_fn=lambda x, axes: np.flip(as_objects(x), axis=axes), math="linear; its own transpose", sparsity="select")


_MOVING_PADS = ("edge", "reflect", "symmetric", "wrap")


def _odd_reflection(array, pad_width, mode, nd):
    """``reflect_type='odd'`` pads with 2 * edge - mirror image: linear, not a copy. NumPy pads one axis after the
    other, so each axis gets its own small matrix (NumPy's pad of an identity matrix along that axis) applied as a
    product with the constant matrix."""
    widths = np.broadcast_to(np.asarray(pad_width), (nd, 2))
    for axis in range(nd):
        before, after = (int(v) for v in widths[axis])
        if before == 0 and after == 0:
            continue
        length = shape(array)[axis]
        basis = np.eye(length, dtype=result_dtype(array))
        lift = np.pad(basis, ((before, after), (0, 0)), mode=mode, reflect_type="odd")
        moved_axis = np.moveaxis(array, axis, 0)
        rest = shape(moved_axis)[1:]
        flat = np.reshape(moved_axis, (length, -1))
        array = np.moveaxis(np.reshape(lift @ flat, (lift.shape[0],) + rest), 0, axis)
    return array


def _parse_pad(array, pad_width, mode="constant", **kwargs):
    nd = ndim(array)
    if mode in ("reflect", "symmetric") and kwargs.get("reflect_type", "even") == "odd":
        return (_odd_reflection(array, pad_width, mode, nd),), {"widths": ((0, 0),) * nd, "value": 0}
    if mode in _MOVING_PADS:  # only copies of entries: NumPy's own pad of their positions, then a gather
        from .arrays import moved

        array = moved(lambda ids: np.pad(ids, pad_width, mode=mode, **kwargs), [array])
        return (array,), {"widths": ((0, 0),) * nd, "value": 0}
    if mode != "constant":
        raise TypeError(f"np.pad: mode={mode!r} has no rule under differentiation; supported: 'constant', "
                        f"{', '.join(repr(m) for m in _MOVING_PADS)}")
    value = kwargs.pop("constant_values", 0)
    if kwargs or np.ndim(value) != 0:
        raise TypeError("np.pad: only a scalar constant_values is supported under differentiation")
    widths = tuple(tuple(int(v) for v in row) for row in np.broadcast_to(np.asarray(pad_width), (nd, 2)))
    return (array,), {"widths": widths, "value": value}


def _pad_impl(x, widths, value):
    lead = _lead(x, len(widths))
    return np.pad(x, ((0, 0),) * lead + widths, constant_values=value)


def _pad_vjp(ct, ans, x, widths, value):
    index = tuple(slice(b, b + s) for (b, _), s in zip(widths, _shape(x)))
    return getitem_impl(ct, index, len(widths), 0, len(widths))


linear("pad", (np.pad,), _pad_impl, (_pad_vjp,), parse=_parse_pad,
       jvp=lambda ts, ans, x, widths, value: _pad_impl(ts[0], widths, 0),
       samples=(Sample(((3,),), lambda x: np.pad(x, 2)),
                Sample(((2, 3),), lambda x: np.pad(x, ((1, 0), (0, 2)), constant_values=1.5)),
                Sample(((2, 3),), lambda x: np.pad(x, ((1, 2), (2, 1)), mode="reflect"), "reflect"),
                Sample(((3,),), lambda x: np.pad(x, (4, 1), mode="symmetric"), "symmetric"),
                Sample(((2, 3),), lambda x: np.pad(x, 1, mode="edge"), "edge"),
                Sample(((3,),), lambda x: np.pad(x, 4, mode="wrap"), "wrap"),
                Sample(((3, 4),), lambda x: np.pad(x, ((2, 5), (1, 2)), mode="reflect", reflect_type="odd"),
                       "reflect odd"),
                Sample(((3,),), lambda x: np.pad(x, (4, 2), mode="symmetric", reflect_type="odd"), "symmetric odd")),
       sympy_fn=lambda x, widths, value: np.pad(as_objects(x), widths, constant_values=value),
       math="affine; transpose crops the cotangent (reflect/symmetric/edge/wrap: a gather first)", sparsity="select")


def _astype_jvp(tangents, ans, x, dtype):
    return tangents[0].astype(dtype) if np.issubdtype(dtype, np.inexact) else None


ASTYPE = register(Op(
    name="astype",
    impl=lambda x, dtype: x.astype(dtype),
    jvp=_astype_jvp,
    vjps=(lambda ct, ans, x, dtype: ct.astype(result_dtype(x)),),
    sympy=lambda x, dtype: as_objects(x),
    cost=lambda *s, **p: 0,
    domain=Domain(),
    samples=(Sample(((3,),), lambda x: x.astype(np.float64) * 2, "x.astype(float64)"),),
    math="identity on values; casts tangents",
    sparsity="select"))
ASTYPE.numpy = ("x.astype",)
nondifferentiable("astype_discrete", (), 1, impl=lambda x, dtype: x.astype(dtype),
                  samples=(Sample(((3,),), lambda x: x.astype(np.int64), "x.astype(int64)"),),
                  math="a cast to integers or booleans: no derivative")


# ---- sort, via gather/scatter with the primal's ordering ---------------------------------------------
def _parse_sort(a, axis=-1, kind=None, order=None, stable=None):
    if order is not None:
        raise TypeError("np.sort: order= (structured arrays) is not supported under differentiation")
    if axis is None:
        a = np.ravel(a)
        axis = -1
    return (a,), {"axis": normalize_axis(axis, ndim(a), "np.sort")}


def along_axis_index(order, axis):
    """The full integer index that gathers ``x`` along ``axis`` in the given ``order``."""
    nd = np.ndim(order)
    grids = []
    for d in range(-nd, 0):
        if d == axis:
            grids.append(order)
        else:
            n = np.shape(order)[d]
            grids.append(np.arange(n).reshape((n,) + (1,) * (-d - 1)))
    return tuple(grids)


def _sort_index(x, axis):
    return along_axis_index(np.argsort(x, axis=axis, kind="stable"), axis)


def _sort_jvp(tangents, ans, x, axis):
    nd = ndim(x)
    return getitem_impl(tangents[0], _sort_index(x, axis), nd, 0, nd)


def _sort_vjp(ct, ans, x, axis):
    nd = ndim(x)
    return index_add_impl(ct, _sort_index(x, axis), nd, 0, nd, _shape(x))


def _sym_sort(x, axis):
    from .symbolic import numeric

    return as_objects(x)[along_axis_index(np.argsort(numeric(x), axis=axis, kind="stable"), axis)]


register(Op(
    name="sort",
    impl=lambda x, axis: np.sort(x, axis=axis),
    jvp=_sort_jvp,
    vjps=(_sort_vjp,),
    sympy=_sym_sort,
    cost=lambda *s, **p: int(np.prod(s[0], dtype=np.int64)) * max(1, int(np.log2(max(2, s[0][p["axis"]])))
                                                                  if s[0] else 1),
    domain=Domain(kinks=("tie",)),
    samples=(Sample(((5,),), np.sort), Sample(((3, 4),), lambda x: np.sort(x, axis=0))),
    math="a permutation: tangents are gathered, cotangents scattered"),
         np.sort, parse=_parse_sort)


# ---- composites -----------------------------------------------------------------------------------------
def _ravel(a, order="C"):
    if order in ("A", "K") and ndim(a) > 1:  # memory order: read it from the primal NumPy computed
        leaf = a
        while getattr(leaf, "_level", None) is not None:
            leaf = leaf.primal
        flags = np.asarray(leaf).flags
        if order == "K" and not (flags.c_contiguous or flags.f_contiguous):
            raise TypeError("np.ravel: order='K' of a non-contiguous traced array is not supported; use order='C' "
                            "or 'F'")
        order = "F" if flags.f_contiguous and not flags.c_contiguous else "C"
    if order == "F":  # column-major: the transpose read row by row
        return np.reshape(np.transpose(a), (-1,))
    return np.reshape(a, (-1,), order=order)


def _swapaxes(a, axis1, axis2):
    perm = list(range(ndim(a)))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return np.transpose(a, perm)


def _moveaxis(a, source, destination):
    nd = ndim(a)
    source = [source] if np.ndim(source) == 0 else list(source)
    destination = [destination] if np.ndim(destination) == 0 else list(destination)
    src = [normalize_axis(s, nd, "np.moveaxis") + nd for s in source]
    dst = [normalize_axis(d, nd, "np.moveaxis") + nd for d in destination]
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return np.transpose(a, order)


def _expand_dims(a, axis):
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    out_nd = ndim(a) + len(axes)
    positions = {normalize_axis(ax, out_nd, "np.expand_dims") + out_nd for ax in axes}
    it = iter(_shape(a))
    return np.reshape(a, tuple(1 if d in positions else next(it) for d in range(out_nd)))


def _squeeze(a, axis=None):
    s = _shape(a)
    if axis is None:
        return np.reshape(a, tuple(n for n in s if n != 1))
    axes = {normalize_axis(ax, len(s), "np.squeeze") + len(s) for ax in ((axis,) if np.ndim(axis) == 0 else axis)}
    if any(s[d] != 1 for d in axes):
        raise ValueError(f"np.squeeze: cannot select an axis to squeeze out which has size not equal to one "
                         f"(shape {s}, axis {axis})")
    return np.reshape(a, tuple(n for d, n in enumerate(s) if d not in axes))


def _atleast(a, n):
    s = _shape(a)
    if len(s) >= n:
        return a
    if n == 2 and len(s) == 1:
        return np.reshape(a, (1,) + s)
    return np.reshape(a, (1,) * (n - len(s)) + s)


def _hstack(tup, **kwargs):
    arrays = [_atleast(a, 1) for a in tup]
    return np.concatenate(arrays, axis=0 if ndim(arrays[0]) == 1 else 1, **kwargs)


def _vstack(tup, **kwargs):
    return np.concatenate([_atleast(a, 2) for a in tup], axis=0, **kwargs)


def _split(ary, indices_or_sections, axis=0):
    n = _shape(ary)[axis]
    if np.ndim(indices_or_sections) == 0:
        sections = int(indices_or_sections)
        if n % sections:
            raise ValueError(f"np.split: array of size {n} along axis {axis} does not divide into {sections} "
                             "equal sections; use np.array_split")
        cuts = list(range(0, n + 1, n // sections))
    else:
        cuts = [0] + [int(i) for i in indices_or_sections] + [n]
    nd = ndim(ary)
    ax = normalize_axis(axis, nd, "np.split") + nd
    return [ary[(slice(None),) * ax + (slice(lo, hi),)] for lo, hi in zip(cuts[:-1], cuts[1:])]


def _tile(A, reps):
    reps = (int(reps),) if np.ndim(reps) == 0 else tuple(int(r) for r in reps)
    s = _shape(A)
    d = max(len(s), len(reps))
    s = (1,) * (d - len(s)) + s
    reps = (1,) * (d - len(reps)) + reps
    x = np.reshape(A, tuple(v for n in s for v in (1, n)))
    x = np.broadcast_to(x, tuple(v for r, n in zip(reps, s) for v in (r, n)))
    return np.reshape(x, tuple(r * n for r, n in zip(reps, s)))


def _repeat(a, repeats, axis=None):
    if axis is None:
        a = np.ravel(a)
        axis = 0
    nd = ndim(a)
    ax = normalize_axis(axis, nd, "np.repeat") + nd
    n = _shape(a)[ax]
    index = np.repeat(np.arange(n), np.broadcast_to(np.asarray(repeats), (n,)))
    return a[(slice(None),) * ax + (index,)]


def _take_along_axis(arr, indices, axis=-1):
    if axis is None:
        arr = np.ravel(arr)
        axis = -1
    nd = ndim(arr)
    if not getattr(indices, "records_values", False):  # (recorded for replay: stays recorded, adops.replay)
        indices = np.asanyarray(indices)  # (a value-dependent index keeps its marker class for sparsity detection)
    return arr[along_axis_index(indices, normalize_axis(axis, nd, "np.take_along_axis"))]


def _diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    nd = ndim(a)
    ax = normalize_axis(axis, nd, "np.diff") + nd
    ends = []
    for value, first in ((prepend, True), (append, False)):
        if value is np._NoValue:
            continue
        if getattr(value, "_level", None) is None:
            value = np.asarray(value)
        if ndim(value) == 0:  # a scalar is broadcast to one slice along the axis, as NumPy
            value = np.broadcast_to(value, tuple(1 if d == ax else s for d, s in enumerate(_shape(a))))
        ends.append((value, first))
    if ends:
        parts = [v for v, first in ends if first] + [a] + [v for v, first in ends if not first]
        a = np.concatenate(parts, axis=ax)
    for _ in range(n):
        head = (slice(None),) * ax
        a = a[head + (slice(1, None),)] - a[head + (slice(None, -1),)]
    return a


def _roll(a, shift, axis=None):
    if np.ndim(shift) or np.ndim(axis):  # several axes: one roll after another
        shifts, axes = np.broadcast_arrays(np.asarray(shift), np.asarray(axis))
        for s, ax in zip(shifts.ravel(), axes.ravel()):
            a = _roll(a, int(s), int(ax))
        return a
    if axis is None:
        return np.reshape(_roll(np.ravel(a), shift, 0), _shape(a))
    nd = ndim(a)
    ax = normalize_axis(axis, nd, "np.roll") + nd
    n = _shape(a)[ax]
    index = (np.arange(n) - int(shift)) % max(n, 1)
    return a[(slice(None),) * ax + (index,)]


def _take(a, indices, axis=None, out=None, mode="raise"):
    reject_out("np.take", out)
    if not getattr(indices, "records_values", False):  # (recorded for replay: stays recorded, adops.replay)
        indices = np.asanyarray(indices)  # (an index computed from traced values stays visible to sparsity detection)
    if axis is None:
        a, axis = np.ravel(a), 0
    nd = ndim(a)
    ax = normalize_axis(axis, nd, "np.take") + nd
    if mode in ("clip", "wrap"):
        n = _shape(a)[ax]
        indices = np.clip(indices, 0, n - 1) if mode == "clip" else np.mod(indices, n)
    elif mode != "raise":
        raise ValueError(f"np.take: clipmode must be one of 'clip', 'raise', or 'wrap', got {mode!r}")
    return a[(slice(None),) * ax + (indices,)]


def _triangle(keep):
    def tri(m, k=0):
        s = _shape(m)
        if len(s) < 2:
            raise ValueError(f"np.triu/np.tril: need at least 2 axes, got shape {s}")
        mask = keep(np.ones(s[-2:], dtype=bool), k)
        return np.where(mask, m, 0)

    return tri


def _atleast_1d(*arys):
    out = [_atleast(a, 1) for a in arys]
    return out[0] if len(out) == 1 else out


def _atleast_2d(*arys):
    out = [_atleast(a, 2) for a in arys]
    return out[0] if len(out) == 1 else out


def _append(arr, values, axis=None):
    if axis is None:
        return np.concatenate([np.ravel(arr), np.ravel(values)])
    return np.concatenate([arr, values], axis=axis)


def _average(a, axis=None, weights=None, returned=False, keepdims=False):
    if returned:
        raise TypeError("np.average: returned=True is not supported under differentiation")
    if weights is None:
        return np.mean(a, axis=axis, keepdims=keepdims)
    if axis is None and _shape(weights) != _shape(a):
        raise ValueError("np.average: weights must have a's shape when axis is None")
    if axis is not None and ndim(weights) == 1:
        nd = ndim(a)
        ax = normalize_axis(axis, nd, "np.average") + nd
        weights = np.reshape(weights, tuple(_shape(a)[ax] if d == ax else 1 for d in range(nd)))
    total = np.sum(a * weights, axis=axis, keepdims=keepdims)
    return total / np.sum(np.broadcast_to(weights, _shape(a)), axis=axis, keepdims=keepdims)


def _diagonal_free_samples(*shapes_calls):
    return tuple(Sample(s, c, label) for s, c, label in shapes_calls)


for _name, _fns, _impl, _samples in (
    ("ravel", (np.ravel,), _ravel, ((((2, 3),), np.ravel, ""),)),
    ("swapaxes", (np.swapaxes,), _swapaxes, ((((2, 3, 4),), lambda x: np.swapaxes(x, 0, 2), ""),)),
    ("moveaxis", (np.moveaxis,), _moveaxis, ((((2, 3, 4),), lambda x: np.moveaxis(x, 0, -1), ""),
                                            (((2, 3, 4),), lambda x: np.moveaxis(x, [0, 1], [2, 0]), "two axes"))),
    ("expand_dims", (np.expand_dims,), _expand_dims, ((((2, 3),), lambda x: np.expand_dims(x, 1), ""),
                                                     (((3,),), lambda x: np.expand_dims(x, (0, -1)), "tuple"))),
    ("squeeze", (np.squeeze,), _squeeze, ((((1, 3, 1),), np.squeeze, ""),
                                         (((1, 3, 1),), lambda x: np.squeeze(x, axis=0), "axis=0"))),
    ("hstack", (np.hstack,), _hstack, ((((2,), (3,)), lambda a, b: np.hstack([a, b]), ""),
                                      (((2, 1), (2, 3)), lambda a, b: np.hstack((a, b)), "2-D"))),
    ("vstack", (np.vstack,), _vstack, ((((3,), (3,)), lambda a, b: np.vstack([a, b]), ""),
                                      (((1, 3), (2, 3)), lambda a, b: np.vstack((a, b)), "2-D"))),
    ("split", (np.split,), _split, ((((6,),), lambda x: np.split(x, 3)[1] * np.split(x, 3)[2], ""),
                                   (((2, 5),), lambda x: np.split(x, [1, 3], axis=1)[2], "at indices"))),
    ("tile", (np.tile,), _tile, ((((3,),), lambda x: np.tile(x, 2), ""), (((2, 1),), lambda x: np.tile(x, (2, 1, 3)),
                                                                          "more reps than axes"))),
    ("repeat", (np.repeat,), _repeat, ((((3,),), lambda x: np.repeat(x, 2), ""),
                                      (((2, 3),), lambda x: np.repeat(x, [1, 0, 2], axis=1), "per-element counts"))),
    ("diff", (np.diff,), _diff, ((((5,),), np.diff, ""), (((3, 4),), lambda x: np.diff(x, n=2, axis=0), "n=2"),
                                 (((3, 4), (3,)), lambda x, p: np.diff(x, prepend=p[:, None], append=0.5),
                                  "prepend, append"))),
    ("roll", (np.roll,), _roll, ((((5,),), lambda x: np.roll(x, 2), ""),
                                 (((2, 3, 2),), lambda x: np.roll(x, (1, -1), axis=(0, 2)), "two axes"),
                                 (((3, 4),), lambda x: np.roll(x, -1, axis=1), "axis=1"),
                                 (((2, 3),), lambda x: np.roll(x, 4), "flattened"))),
    ("take", (np.take,), _take, ((((5,),), lambda x: np.take(x, [4, 0, 0]), ""),
                                 (((3, 4),), lambda x: np.take(x, [[1, 2]], axis=1), "axis=1"),
                                 (((5,),), lambda x: np.take(x, [-2, 7, 1], mode="clip"), "clip"),
                                 (((2, 3),), lambda x: np.take(x, [-2, 7], axis=1, mode="wrap"), "wrap"))),
    ("triu", (np.triu,), _triangle(np.triu), ((((3, 3),), np.triu, ""),
                                              (((2, 3, 4),), lambda x: np.triu(x, 1), "k=1"))),
    ("tril", (np.tril,), _triangle(np.tril), ((((3, 3),), np.tril, ""),
                                              (((3, 4),), lambda x: np.tril(x, -1), "k=-1"))),
    ("atleast_1d", (np.atleast_1d,), _atleast_1d, ((((),), np.atleast_1d, ""),)),
    ("atleast_2d", (np.atleast_2d,), _atleast_2d, ((((3,),), np.atleast_2d, ""),)),
    ("append", (np.append,), _append, ((((3,), (2,)), np.append, ""),
                                       (((2, 2), (1, 2)), lambda a, b: np.append(a, b, axis=0), "axis=0"))),
    ("average", (np.average,), _average, ((((3, 4),), lambda x: np.average(x, axis=1), ""),
                                          (((3, 4), (4,)), lambda x, w: np.average(x, axis=1, weights=w + 3),
                                           "weighted"),
                                          (((5,), (5,)), lambda x, w: np.average(x, weights=w + 3), "weighted, all"))),
    ("take_along_axis", (np.take_along_axis,), _take_along_axis,
     ((((3, 4),), lambda x: np.take_along_axis(x, np.array([[3, 0], [1, 1], [2, 0]]), axis=1), ""),)),
):
    composite(_name, _fns, _impl, samples=_diagonal_free_samples(*_samples))

__all__ = ["GETITEM", "INDEX_ADD", "RESHAPE", "TRANSPOSE", "BROADCAST_TO", "ASTYPE"]
