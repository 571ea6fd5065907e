"""Sparsity detection: a third interpretation of the registry, beside the engines and the SymPy oracle.

``f`` runs on ``PatternArray`` values. Each carries its primal (so shapes, indexing and control flow behave as in
NumPy) and a boolean ``scipy.sparse`` matrix ``deps`` with one row per element (C order) and one column per input
element: which inputs the element may depend on. Every op's rows come from what its record declares
(``Op.sparsity``), vectorized over all elements at once, never element by element:

- ``elementwise``: the broadcast rows of each traced input at the same position, united;
- ``select`` (reshape, transpose, indexing and slicing, concatenate, stack, flip, pad, ...): the record's JVP runs
  on *index tangents* (input element k carries the number k + 1), so the output tells which input element, if any,
  each output element copies: a row map, with no op-specific code here;
- ``reduce``: the union of the rows along ``params["axes"]``;
- ``scan`` (``np.cumsum``): the union of the rows along ``params["axis"]`` up to the element's own;
- ``matmul``: the contraction's pattern (a constant operand contributes its nonzero pattern);
- ``contraction`` (``np.einsum``): the same for any subscripts, from an einsum of the operands' nonzero masks;
- ``probe`` (``np.trace``): a linear op's JVP run on identity tangents, its Jacobian's nonzeros;
- ``choose`` (``np.where``): the branch the condition picks when the condition is a constant; both branches when it
  was computed from traced values (a *global* pattern, valid at every point), unless ``local=True``;
- ``constant``: no dependence; anything else (``dense``): every output element depends on every input element any
  traced argument depends on — conservative, never missing a nonzero.

Comparisons, ``argmax``, ``argsort`` and every other piecewise-constant op on traced values return a ``Varying``
array (an ndarray subclass): what is computed from it with ufuncs (``&``, ``|``, ``~``, ``astype``), NumPy functions
(``np.isin``, ``np.diag``, ``np.nonzero``, ...) or indexing stays ``Varying``, so ``np.where`` can tell a
value-dependent mask from a constant one, and indexing can tell a value-dependent index (``x[np.argsort(x)]``)
from a fixed one. A value-dependent condition unites both branches; a value-dependent index makes the selection
depend on every element along the axes it indexes; a value-dependent constant in a matrix product counts as
nonzero everywhere.

Copies that drop the subclass (``np.asarray``, ``np.array``, ``.tolist()`` and back, copying into a
preallocated buffer) are recognized by *content*: each ``Varying`` array made while ``f`` runs is remembered by a
digest of its values, and a plain mask or index with the same values is treated as value-dependent too (which can
only add entries to the pattern). What is *computed* from such a copy with plain NumPy (``~np.array(x > 0)``,
``np.array(x > 0) & m``) has new values and is not recognized, nor is a Python number taken from a ``Varying``
value (``int(np.argmax(x))``, ``.item()``): such masks and indices act as constants, valid at points where they
have the same values. Keep masks and indices as the arrays the comparisons return.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ..core import call_traced, new_level
from ..frontend import Traced
from ..trees import as_input, flatten, leaf_shape, normalize_argnums, unflatten


class Varying(np.ndarray):
    """An array computed from traced values by piecewise-constant ops (a mask, an index): its entries may differ at
    other points. NumPy functions, ufuncs and indexing applied to it return ``Varying`` arrays too."""

    def __array_function__(self, func, types, args, kwargs):
        return _mark(super().__array_function__(func, types, args, kwargs))

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        return _mark(super().__array_wrap__(obj, context, False))

    def __getitem__(self, index):
        return _mark(super().__getitem__(index))


def _mark(out):
    """``out`` (an array, a NumPy scalar, or a tuple/list of them) as ``Varying``, remembered by its values."""
    if out is NotImplemented or out is None:
        return out
    if isinstance(out, (tuple, list)):
        return type(out)(_mark(o) for o in out)
    if isinstance(out, (np.ndarray, np.generic)) and out.dtype.kind in "biuf":
        out = np.asanyarray(out)
        if type(out) is not Varying:
            out = out.view(Varying)
        for seen in _ACTIVE:
            seen.update(_digests(out))
        return out
    return out


_ACTIVE: list = []  # one set of digests per running jacobian_sparsity call


def _digest(a: np.ndarray, dtype) -> bytes:
    a = np.ascontiguousarray(np.asarray(a).astype(dtype, copy=False))
    return hashlib.blake2b(a.tobytes() + repr(a.shape).encode() + a.dtype.str.encode(), digest_size=16).digest()


def _digests(a: np.ndarray) -> tuple:
    """How a ``Varying`` array is recognized later: as a mask (its truth values), and as an index (its integers)."""
    plain = np.asarray(a)
    out = [_digest(plain, bool)]
    if plain.dtype.kind in "iub" and plain.size <= _MAX_NONZERO_DIGEST:
        out.append(_digest(plain, np.int64))
    if plain.dtype == bool and plain.ndim:  # a mask used to index becomes the integer arrays of its True positions
        out.extend(_digest(i, np.int64) for i in np.nonzero(plain))
    return tuple(out)


_MAX_NONZERO_DIGEST = 1 << 26


def varying(a, as_index: bool = False) -> bool:
    """Whether ``a`` (a condition, or an integer index) was computed from traced values: a ``Varying`` array, or a
    plain array with the values of one made in this detection (a copy that lost the subclass)."""
    if isinstance(a, Varying):
        return True
    if not isinstance(a, (np.ndarray, np.generic)) or not _ACTIVE:
        return False
    d = _digest(a, np.int64 if as_index else bool)
    return any(d in seen for seen in _ACTIVE)


class PatternArray(Traced):
    """A value with the sparsity pattern of its dependence on the inputs (``deps``: elements x inputs, boolean)."""

    __slots__ = ("primal", "deps", "_level", "local")
    engine = "adops.sparse.jacobian_sparsity"
    mode = "sparsity"

    def __init__(self, primal, deps: sp.csr_array, level: int, local: bool = False):
        self.primal = primal
        self.deps = deps
        self._level = level
        self.local = local

    def _apply(self, op, arrays, params):
        level = self._level
        ours = [isinstance(a, PatternArray) and a._level == level for a in arrays]
        primals = tuple(a.primal if o else a for a, o in zip(arrays, ours))
        ans = op.impl(*primals, **params)
        if not op.differentiable:
            # piecewise constant: no derivative, but a value computed from the inputs (a mask stays visible)
            return _mark(np.asarray(ans) if isinstance(ans, bool) else ans)
        if op.outputs != 1:  # several outputs (eigh, svd, ...): each depends on every input element
            return op.result([self._result(op, a, _dense(op, a, arrays, ours, primals, params, self), arrays, ours,
                                           primals, params) for a in ans])
        rule = RULES.get(op.sparsity, _dense)
        deps = rule(op, ans, arrays, ours, primals, params, self)
        return self._result(op, ans, deps, arrays, ours, primals, params)

    def _result(self, op, ans, deps, arrays, ours, primals, params):
        """The traced output (a subclass may record more about the op here: Hessian detection does)."""
        return PatternArray(ans, deps, self._level, self.local)

    def __bool__(self) -> bool:
        return bool(self.primal)

    def __repr__(self) -> str:
        return f"PatternArray(shape={self.shape}, nnz={self.deps.nnz})"


# ----- row operations on CSR patterns (all vectorized) -------------------------------------------------------------
def _size(x) -> int:
    return int(np.prod(np.shape(x), dtype=np.int64))


def _csr(indptr, indices, shape) -> sp.csr_array:
    p = sp.csr_array((np.ones(indices.size, dtype=bool), indices, indptr), shape=shape)
    p.has_sorted_indices = True
    return p


def empty(rows: int, n: int) -> sp.csr_array:
    return _csr(np.zeros(rows + 1, dtype=np.int64), np.zeros(0, dtype=np.int64), (rows, n))


def gather(deps: sp.csr_array, rowmap: np.ndarray) -> sp.csr_array:
    """Rows ``deps[rowmap[i]]`` (an empty row where ``rowmap[i] < 0``)."""
    ptr, idx = deps.indptr, deps.indices
    rowmap = np.asarray(rowmap, dtype=np.int64).ravel()
    valid = rowmap >= 0
    r = np.where(valid, rowmap, 0)
    start = ptr[r]
    lens = np.where(valid, ptr[r + 1] - start, 0)
    newptr = np.zeros(rowmap.size + 1, dtype=np.int64)
    np.cumsum(lens, out=newptr[1:])
    pos = np.repeat(start - newptr[:-1], lens) + np.arange(newptr[-1])
    return _csr(newptr, idx[pos], (rowmap.size, deps.shape[1]))


def union(patterns: list, rows: int, n: int) -> sp.csr_array:
    if not patterns:
        return empty(rows, n)
    out = patterns[0]
    for p in patterns[1:]:
        out = out + p
    return out


def broadcast_map(x_shape: tuple, out_shape: tuple) -> np.ndarray:
    """For each element of an array broadcast to ``out_shape``, the flat index of its source element."""
    return np.broadcast_to(np.arange(_size_of(x_shape)).reshape(x_shape), out_shape).ravel()


def _size_of(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


# ----- the rules, one per kind -----------------------------------------------------------------------------------
def _kinked(op) -> bool:
    """Whether the record declares points where it is not differentiable (``Domain.kinks``): a piecewise op
    (max, min, abs, clip, relu), whose local pattern keeps only what the piece taken at this point reads."""
    return any(d.kinks for d in (op.domain if isinstance(op.domain, tuple) else (op.domain,)))


def _local_elementwise(op, ans, arrays, ours, primals, params, tracer):
    # the JVP with a tangent of ones on one argument is its partial at this point: zero off the piece taken
    shape = np.shape(ans)
    parts = []
    for k, (a, p, o) in enumerate(zip(arrays, primals, ours)):
        if not o:
            continue
        tangents = tuple(np.ones(np.shape(p)) if j == k else None for j in range(len(primals)))
        partial = np.broadcast_to(np.asarray(op.jvp(tangents, ans, *primals, **params)), shape).ravel()
        rowmap = np.where(partial != 0, broadcast_map(np.shape(p), shape), -1)
        parts.append(gather(a.deps, rowmap))
    return union(parts, _size_of(shape), tracer.deps.shape[1])


def _elementwise(op, ans, arrays, ours, primals, params, tracer):
    if tracer.local and _kinked(op):
        return _local_elementwise(op, ans, arrays, ours, primals, params, tracer)
    shape = np.shape(ans)
    traced = [(a, p) for a, p, o in zip(arrays, primals, ours) if o]
    if len(traced) == 1 and np.shape(traced[0][1]) == shape:
        return traced[0][0].deps  # same rows, shared (patterns are never modified in place)
    parts = [a.deps if np.shape(p) == shape else gather(a.deps, broadcast_map(np.shape(p), shape))
             for a, p in traced]
    return union(parts, _size_of(shape), tracer.deps.shape[1])


def _choose(op, ans, arrays, ours, primals, params, tracer):
    cond = arrays[0]
    shape = np.shape(ans)
    both = varying(cond) and not tracer.local
    picks = np.broadcast_to(np.asarray(cond, dtype=bool), shape).ravel()
    parts = []
    for k, keep in ((1, picks), (2, ~picks)):
        if not ours[k]:
            continue
        rowmap = broadcast_map(np.shape(primals[k]), shape)
        if not both:
            rowmap = np.where(keep, rowmap, -1)
        parts.append(gather(arrays[k].deps, rowmap))
    return union(parts, _size_of(shape), tracer.deps.shape[1])


def _select(op, ans, arrays, ours, primals, params, tracer):
    # the JVP of a selection, run on tangents numbering the traced inputs' elements 1, 2, ...: the output tangent
    # names the input element each output element copies (0: a constant, e.g. padding)
    if _varying_params(params) and "index" not in params:
        return _dense(op, ans, arrays, ours, primals, params, tracer)
    sizes = [_size(p) if o else 0 for p, o in zip(primals, ours)]
    stacked = [_lines(a.deps, np.shape(p), params) for a, p, o in zip(arrays, primals, ours) if o]
    deps = stacked[0] if len(stacked) == 1 else sp.vstack(stacked, format="csr")

    def run(numbers):
        tangents, offset = [], 0
        for p, o, size in zip(primals, ours, sizes):
            tangents.append(numbers[offset:offset + size].reshape(np.shape(p)) if o else None)
            offset += size
        return np.asarray(op.jvp(tuple(tangents), ans, *primals, **params))

    return gather(deps, _numbered(run, sum(sizes)) - 1)


def _scatter(op, ans, arrays, ours, primals, params, tracer):
    # the transpose of a selection (index_add: ``ans`` is zeros with the input added at an index, repeats adding):
    # its VJP is the selection, so running it on the output's element numbers names each input element's target
    (k,) = [i for i, o in enumerate(ours) if o]
    if _varying_params(params) and "index" not in params:
        return _dense(op, ans, arrays, ours, primals, params, tracer)
    m = _size(ans)
    target = _numbered(lambda numbers: np.asarray(op.vjps[k](numbers.reshape(np.shape(ans)), ans, *primals,
                                                             **params)), m) - 1
    valid = target >= 0
    scatter = sp.csr_array((np.ones(int(valid.sum()), dtype=bool), (target[valid], np.flatnonzero(valid))),
                           shape=(m, target.size))
    out = sp.csr_array(scatter @ arrays[k].deps)
    return _lines(out, np.shape(ans), params)


def _numbered(run: Callable, size: int) -> np.ndarray:
    """``run(numbers)`` for numbers 1..size, read back as exact integers whatever dtype the rule computes in
    (``astype(float16)`` holds integers exactly only up to 2048): when the result's dtype is too narrow, the
    numbers go through in base-b digits, one run per digit."""
    numbers = np.arange(1, size + 1, dtype=np.float64)
    out = run(numbers)
    dtype = out.dtype if out.dtype.kind == "f" else np.dtype(np.float64)
    exact = 2 ** (np.finfo(dtype).nmant + 1)
    if size <= exact:
        return np.rint(out).astype(np.int64).ravel()
    base = exact // 2
    index = np.arange(size, dtype=np.int64)
    result, scale = np.zeros(out.size, dtype=np.int64), 1
    while scale < size:
        digit = run((index // scale % base + 1).astype(np.float64))  # 1..base: 0 still means "no input"
        digit = np.rint(digit).astype(np.int64).ravel()
        result += np.maximum(digit - 1, 0) * scale
        scale *= base
    return np.where(digit > 0, result + 1, 0)


def _varying_params(params) -> bool:
    return any(varying(v, as_index=True) for v in _param_arrays(params))


def _param_arrays(params):
    for v in params.values():
        for w in (v if isinstance(v, tuple) else (v,)):
            if isinstance(w, (np.ndarray, np.generic)):
                yield w


def _lines(deps: sp.csr_array, xshape: tuple, params) -> sp.csr_array:
    """``deps`` of an array of ``xshape`` indexed by ``params["index"]``, with every element given the union of its
    line along each axis a value-dependent index addresses (the element it picks may be any on that line)."""
    index = params.get("index")
    if not isinstance(index, tuple):
        return deps
    nd = len(xshape)
    axes, axis = [], 0
    for i in index:
        if i is None:
            continue
        if axis < nd and isinstance(i, (np.ndarray, np.generic)) and varying(i, as_index=True):
            axes.append(axis)
        axis += 1
    if not axes:
        return deps
    kept = tuple(1 if d in axes else s for d, s in enumerate(xshape))
    group = np.broadcast_to(np.arange(_size_of(kept)).reshape(kept), xshape).ravel()
    to_group = sp.csr_array((np.ones(group.size, dtype=bool), (group, np.arange(group.size))),
                            shape=(_size_of(kept), group.size))
    return gather(sp.csr_array(to_group @ deps), group)


def _reduce(op, ans, arrays, ours, primals, params, tracer):
    x = primals[0]
    xshape = np.shape(x)
    nd = len(xshape)
    axes = {a % nd for a in params["axes"]} if nd else set()
    kept = tuple(1 if d in axes else s for d, s in enumerate(xshape))
    target = np.broadcast_to(np.arange(_size_of(kept)).reshape(kept), xshape).ravel()  # output of each input
    m = _size(ans)
    reads = np.ones(target.size, dtype=bool)
    if tracer.local and _kinked(op) and op.vjps[0] is not None:  # max/min: the VJP of ones shares among the winners
        reads = np.asarray(op.vjps[0](np.ones(np.shape(ans)), ans, x, **params)).ravel() != 0
    gather_matrix = sp.csr_array((np.ones(int(reads.sum()), dtype=bool), (target[reads], np.flatnonzero(reads))),
                                 shape=(m, target.size))
    return sp.csr_array(gather_matrix @ arrays[0].deps)


def _scan(op, ans, arrays, ours, primals, params, tracer):
    xshape = np.shape(primals[0])
    if not xshape:
        return arrays[0].deps
    axis = params["axis"] % len(xshape)
    length = xshape[axis]
    # element (line, k) of the output sums elements (line, 0..k) of the input: a lower triangle per line
    flat = np.moveaxis(np.arange(_size_of(xshape)).reshape(xshape), axis, -1).ravel()  # C-order index, line-major
    tri_rows, tri_cols = np.tril_indices(length)
    lines = flat.size // max(length, 1)
    base = (np.arange(lines) * length)[:, None]
    rows = flat[(base + tri_rows).ravel()]
    cols = flat[(base + tri_cols).ravel()]
    scan = sp.csr_array((np.ones(rows.size, dtype=bool), (rows, cols)), shape=(flat.size, flat.size))
    return sp.csr_array(scan @ arrays[0].deps)


def _matmul(op, ans, arrays, ours, primals, params, tracer):
    a, b = primals
    if np.ndim(a) > 2 or np.ndim(b) > 2:
        return _dense(op, ans, arrays, ours, primals, params, tracer)
    n = tracer.deps.shape[1]
    parts = []
    for k in (0, 1):
        if not ours[k]:
            continue
        other = primals[1 - k]
        mask = (np.ones(np.shape(other), dtype=bool) if ours[1 - k] or varying(other) or varying(other, True)
                else np.asarray(other) != 0)
        mask = sp.csr_array(np.atleast_2d(mask if np.ndim(mask) == 2 or k == 1 else mask[:, None]))
        if k == 1:  # out = A @ X: out[i, j] <- X[l, j] where A[i, l] != 0
            cols = np.shape(b)[1] if np.ndim(b) == 2 else 1
            local = sp.kron(mask, sp.eye_array(cols, dtype=bool), format="csr")
        else:  # out = X @ B: out[i, j] <- X[i, l] where B[l, j] != 0
            rows = np.shape(a)[0] if np.ndim(a) == 2 else 1
            local = sp.kron(sp.eye_array(rows, dtype=bool), mask.T, format="csr")
        parts.append(sp.csr_array(local.astype(bool) @ arrays[k].deps))
    return union(parts, _size(ans), n)


def _contraction(op, ans, arrays, ours, primals, params, tracer):
    """einsum: out[o] reads element e of a traced operand k where o and e agree on their shared letters and some
    assignment of the summed letters meets a nonzero in every other operand (a traced or value-dependent operand is
    nonzero everywhere, a constant by its values). The einsum of the operands' masks over the letters of ``out``
    and operand k gives it exactly, at most ``_CONTRACTION_BUDGET`` entries (else ``_dense``)."""
    terms, out = params["terms"], params["out"]
    if any(np.ndim(p) != len(t) for p, t in zip(primals, terms)):  # batch axes: not met in detection
        return _dense(op, ans, arrays, ours, primals, params, tracer)
    sizes = {c: d for p, t in zip(primals, terms) for c, d in zip(t, np.shape(p))}
    masks = [np.ones(np.shape(p)) if o or varying(p) or varying(p, True) else (np.asarray(p) != 0).astype(float)
             for p, o in zip(primals, ours)]
    n, m = tracer.deps.shape[1], _size(ans)
    parts = []
    for k, term in enumerate(terms):
        if not ours[k]:
            continue
        letters = out + "".join(dict.fromkeys(c for c in term if c not in out))
        if _size_of(tuple(sizes[c] for c in letters)) > _CONTRACTION_BUDGET:
            return _dense(op, ans, arrays, ours, primals, params, tracer)
        others = [(t, mk) for j, (t, mk) in enumerate(zip(terms, masks)) if j != k]
        spec = ",".join([term] + [t for t, _ in others]) + "->" + letters
        reach = np.einsum(spec, np.ones(np.shape(primals[k])), *[mk for _, mk in others]) > 0
        coords = np.nonzero(reach)
        where = dict(zip(letters, coords))
        rows = (np.ravel_multi_index(tuple(where[c] for c in out), np.shape(ans)) if out else
                np.zeros(coords[0].size if coords else int(reach), dtype=np.int64))
        cols = (np.ravel_multi_index(tuple(where[c] for c in term), np.shape(primals[k])) if term else
                np.zeros_like(rows))
        local = sp.csr_array((np.ones(rows.size, dtype=bool), (rows, cols)), shape=(m, _size(primals[k])))
        parts.append(sp.csr_array(local @ arrays[k].deps))
    return union(parts, m, n)


_CONTRACTION_BUDGET = 1 << 24  # entries of one operand's reach tensor (128 MiB of float64)


def _probe(op, ans, arrays, ours, primals, params, tracer):
    """A linear op of one argument (``np.trace``): its JVP on the identity tangents is its Jacobian, whose nonzero
    coefficients are the pattern (with at most ``_CONTRACTION_BUDGET`` entries, else ``_dense``)."""
    size, m = _size(primals[0]), _size(ans)
    if len(primals) != 1 or size * m > _CONTRACTION_BUDGET:
        return _dense(op, ans, arrays, ours, primals, params, tracer)
    eye = np.eye(size).reshape((size,) + np.shape(primals[0]))
    jac = np.reshape(op.jvp((eye,), ans, primals[0], **params), (size, m))
    return sp.csr_array(sp.csr_array(jac.T != 0) @ arrays[0].deps)


def _dense(op, ans, arrays, ours, primals, params, tracer):
    cols = np.unique(np.concatenate([a.deps.indices for a, o in zip(arrays, ours) if o]))
    m = _size(ans)
    return _csr(np.arange(m + 1, dtype=np.int64) * cols.size, np.tile(cols, m), (m, tracer.deps.shape[1]))


RULES: dict[str, Callable] = {"elementwise": _elementwise, "choose": _choose, "select": _select, "scatter": _scatter,
                              "reduce": _reduce, "scan": _scan, "matmul": _matmul, "contraction": _contraction,
                              "probe": _probe, "dense": _dense}


# ----- the public function ---------------------------------------------------------------------------------------
def jacobian_sparsity(f: Callable, *args, argnums: int | tuple | None = None, local: bool = False,
                      kwargs: dict | None = None) -> sp.csr_array:
    """The sparsity pattern of the Jacobian of ``f(*args, **kwargs)``, as a boolean CSR matrix (m x n).

    Rows are the output elements in C order (several outputs, e.g. a tuple, stacked one after another); columns are
    the input elements in C order, the chosen arguments' leaves stacked one after another. ``argnums=None`` (the
    default) takes every argument. The pattern is *global* by default: valid at every point where ``f`` follows
    the same control flow, and conservative (an entry may be structurally nonzero yet zero at a point, never the
    reverse). ``local=True`` takes the branch of ``np.where`` its condition picks at this point, and of a piecewise
    op (``np.maximum``/``minimum``/``clip``/``abs``, relu, ``np.max``/``min``) the piece it takes (both at a tie).

    "The same control flow" is the caveat: the pattern describes the program this call ran. A Python ``if`` on
    values, a non-differentiated or keyword argument, a closure constant or global (a shift, an index, a constant
    matrix's zeros) may give another program elsewhere; detect again when they change. Masks and indices computed
    from the inputs are followed as described in the module docstring (``Varying``): copies of them are recognized
    by their values, but a Python number taken from one (``int(np.argmax(x))``, ``.item()``) or a new array
    computed from a plain copy acts as a constant.

    >>> import numpy as np
    >>> u = np.ones(5)
    >>> jacobian_sparsity(lambda u: u[2:] - 2 * u[1:-1] + u[:-2], u).toarray().astype(int)
    array([[1, 1, 1, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 1, 1, 1]])
    """
    fn = "adops.sparse.jacobian_sparsity"
    out_leaves, level, n = trace(f, args, argnums, fn, lambda leaf, eye, level: PatternArray(leaf, eye, level, local),
                                 kwargs)
    blocks = []
    for leaf in out_leaves:
        if isinstance(leaf, PatternArray) and leaf._level == level:
            blocks.append(leaf.deps)
        else:
            blocks.append(empty(_size(leaf), n))
    out = blocks[0] if len(blocks) == 1 else sp.vstack(blocks, format="csr")
    out = sp.csr_array(out, dtype=bool)
    out.sort_indices()
    return out


def trace(f: Callable, args: tuple, argnums, fn: str, make: Callable, kwargs: dict | None = None
          ) -> tuple[list, int, int]:
    """Run ``f(*args, **kwargs)`` with the chosen arguments' leaves replaced by ``make(leaf, rows, level)``
    (``rows``: the leaf's identity rows among all n input elements). Returns f's output leaves, the level and n."""
    if not callable(f):
        raise TypeError(f"{fn}: f must be callable, got {type(f).__name__}")
    nums, _ = normalize_argnums(tuple(range(len(args))) if argnums is None else argnums, len(args), fn)
    leaves_per_arg = []
    n = 0
    for a in nums:
        leaves, treedef = flatten(args[a])
        leaves = [as_input(leaf, fn) for leaf in leaves]
        leaves_per_arg.append((leaves, treedef))
        n += sum(_size_of(leaf_shape(leaf)) for leaf in leaves)
    level = new_level()
    call_args, offset = list(args), 0
    for a, (leaves, treedef) in zip(nums, leaves_per_arg):
        traced = []
        for leaf in leaves:
            size = _size_of(leaf_shape(leaf))
            eye = _csr(np.arange(size + 1, dtype=np.int64), np.arange(offset, offset + size, dtype=np.int64), (size, n))
            traced.append(make(leaf, eye, level))
            offset += size
        call_args[a] = unflatten(treedef, traced)
    seen: set = set()
    _ACTIVE.append(seen)
    try:
        out_leaves, _ = flatten(call_traced(f, call_args, kwargs))
    finally:
        _ACTIVE.remove(seen)
    for leaf in out_leaves:
        if getattr(leaf, "_level", None) not in (None, level):
            raise TypeError(f"{fn}: f returned a value traced by another transformation ({type(leaf).__name__})")
    return out_leaves, level, n
