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
- ``matmul``: the contraction's pattern (a constant operand contributes its nonzero pattern);
- ``choose`` (``np.where``): the branch the condition picks when the condition is a constant; both branches when it
  was computed from traced values (a *global* pattern, valid at every point), unless ``local=True``;
- ``constant``: no dependence; anything else (``dense``): every output element depends on every input element any
  traced argument depends on — conservative, never missing a nonzero.

Comparisons of traced values return a ``Varying`` boolean array (an ndarray subclass that survives ``&``, ``|``,
``~`` and ``astype``), so ``np.where`` can tell a value-dependent mask from a constant one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ..core import new_level
from ..frontend import Traced
from ..trees import as_input, flatten, leaf_shape, normalize_argnums, unflatten


class Varying(np.ndarray):
    """A boolean (or derived) array computed from traced values: its entries may differ at other points."""


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
            return np.asanyarray(ans).view(Varying) if isinstance(ans, (np.ndarray, np.generic, bool)) else ans
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
def _elementwise(op, ans, arrays, ours, primals, params, tracer):
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
    both = isinstance(cond, Varying) and not tracer.local
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
    tangents, stacked, offset = [], [], 0
    for a, p, o in zip(arrays, primals, ours):
        if o:
            size = _size(p)
            tangents.append(np.arange(offset + 1, offset + size + 1, dtype=np.float64).reshape(np.shape(p)))
            stacked.append(a.deps)
            offset += size
        else:
            tangents.append(None)
    index = op.jvp(tuple(tangents), ans, *primals, **params)
    rowmap = np.rint(np.asarray(index)).astype(np.int64).ravel() - 1
    deps = stacked[0] if len(stacked) == 1 else sp.vstack(stacked, format="csr")
    return gather(deps, rowmap)


def _reduce(op, ans, arrays, ours, primals, params, tracer):
    x = primals[0]
    xshape = np.shape(x)
    nd = len(xshape)
    axes = {a % nd for a in params["axes"]} if nd else set()
    kept = tuple(1 if d in axes else s for d, s in enumerate(xshape))
    target = np.broadcast_to(np.arange(_size_of(kept)).reshape(kept), xshape).ravel()  # output of each input
    m = _size(ans)
    gather_matrix = sp.csr_array((np.ones(target.size, dtype=bool), (target, np.arange(target.size))),
                                 shape=(m, target.size))
    return sp.csr_array(gather_matrix @ arrays[0].deps)


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
        mask = np.ones(np.shape(other), dtype=bool) if ours[1 - k] else np.asarray(other) != 0
        mask = sp.csr_array(np.atleast_2d(mask if np.ndim(mask) == 2 or k == 1 else mask[:, None]))
        if k == 1:  # out = A @ X: out[i, j] <- X[l, j] where A[i, l] != 0
            cols = np.shape(b)[1] if np.ndim(b) == 2 else 1
            local = sp.kron(mask, sp.eye_array(cols, dtype=bool), format="csr")
        else:  # out = X @ B: out[i, j] <- X[i, l] where B[l, j] != 0
            rows = np.shape(a)[0] if np.ndim(a) == 2 else 1
            local = sp.kron(sp.eye_array(rows, dtype=bool), mask.T, format="csr")
        parts.append(sp.csr_array(local.astype(bool) @ arrays[k].deps))
    return union(parts, _size(ans), n)


def _dense(op, ans, arrays, ours, primals, params, tracer):
    cols = np.unique(np.concatenate([a.deps.indices for a, o in zip(arrays, ours) if o]))
    m = _size(ans)
    return _csr(np.arange(m + 1, dtype=np.int64) * cols.size, np.tile(cols, m), (m, tracer.deps.shape[1]))


RULES: dict[str, Callable] = {"elementwise": _elementwise, "choose": _choose, "select": _select, "reduce": _reduce,
                              "matmul": _matmul, "dense": _dense}


# ----- the public function ---------------------------------------------------------------------------------------
def jacobian_sparsity(f: Callable, *args, argnums: int | tuple | None = None, local: bool = False) -> sp.csr_array:
    """The sparsity pattern of the Jacobian of ``f`` at ``args``, as a boolean CSR matrix (m x n).

    Rows are the output elements in C order (several outputs, e.g. a tuple, stacked one after another); columns are
    the input elements in C order, the chosen arguments' leaves stacked one after another. ``argnums=None`` (the
    default) takes every argument. The pattern is *global* by default: valid at every point where ``f`` follows
    the same control flow, and conservative (an entry may be structurally nonzero yet zero at a point, never the
    reverse). ``local=True`` takes the branch of ``np.where`` its condition picks at this point.

    >>> import numpy as np
    >>> u = np.ones(5)
    >>> jacobian_sparsity(lambda u: u[2:] - 2 * u[1:-1] + u[:-2], u).toarray().astype(int)
    array([[1, 1, 1, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 1, 1, 1]])
    """
    fn = "adops.sparse.jacobian_sparsity"
    out_leaves, level, n = trace(f, args, argnums, fn, lambda leaf, eye, level: PatternArray(leaf, eye, level, local))
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


def trace(f: Callable, args: tuple, argnums, fn: str, make: Callable) -> tuple[list, int, int]:
    """Run ``f`` with the chosen arguments' leaves replaced by ``make(leaf, rows, level)`` (``rows``: the leaf's
    identity rows among all n input elements). Returns f's output leaves, the level and n."""
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
    out_leaves, _ = flatten(f(*call_args))
    for leaf in out_leaves:
        if getattr(leaf, "_level", None) not in (None, level):
            raise TypeError(f"{fn}: f returned a value traced by another transformation ({type(leaf).__name__})")
    return out_leaves, level, n
