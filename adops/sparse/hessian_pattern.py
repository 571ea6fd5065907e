"""Hessian sparsity detection: which pairs of inputs a scalar function's second derivative can couple.

By the chain rule the Hessian of ``f`` is a sum over the ops of the program, each op contributing its own second
derivative seen through the first-order dependence of its inputs: an op whose output is nonlinear in inputs a and b
couples every input element a's element depends on with every one b's depends on. So ``f`` runs on
``HessianPatternArray`` values — ``PatternArray`` (first-order rows, ``deps``) plus one list shared by the whole
run that collects each op's couplings — and the pattern is their union, made symmetric. What an op couples is
registry knowledge, read from its record:

- ``sparsity`` kinds ``select``, ``choose``, ``constant`` and ``curvature="linear"`` (sums, reshapes, indexing,
  scatters, ``where`` in its branches): nothing;
- ``elementwise``: for each pair of arguments (i, j) whose mixed second partial is not identically zero in the
  record's SymPy form (sin: (x, x); multiply: (x, y) only; divide: (x, y) and (y, y)), the rows of i's elements
  against the rows of j's elements at the same position (``D_i^T D_j``);
- ``curvature="multilinear"`` (matmul, einsum): only across arguments; matmul pairs row l of A's columns with row l
  of B (the contraction), anything else every dependence of one argument with every one of another;
- other nonlinear ops: ``reduce`` kinds couple each output's group, anything else every input element any traced
  argument depends on with every other one (conservative).

The pattern is global and conservative: it holds at every point where ``f`` follows the same control flow (a value-
dependent ``np.where`` keeps both branches), never misses a structural nonzero, and may contain entries that are
zero everywhere (an op whose result is never used still counts; ``abs`` counts as curved). ``local=True`` keeps only
the branch of ``np.where`` taken at this point.

>>> import numpy as np
>>> hessian_sparsity(lambda x: np.sum(np.sin(x[1:] * x[:-1])), np.ones(4)).toarray().astype(int)
array([[1, 1, 0, 0],
       [1, 1, 1, 0],
       [0, 1, 1, 1],
       [0, 0, 1, 1]])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import sympy

from .pattern import PatternArray, _csr, broadcast_map, gather, trace

LINEAR_KINDS = ("select", "choose", "constant")
_PAIRS: dict = {}  # op name -> argument pairs with a nonzero second partial (elementwise records)


def second_order_pairs(op) -> tuple:
    """The pairs (i, j), i <= j, of an elementwise record's arguments whose mixed second partial is not identically
    zero, derived once from its SymPy form; every pair when SymPy cannot evaluate the form on plain symbols.

    >>> import adops
    >>> second_order_pairs(adops.OPS["divide"])
    ((0, 1), (1, 1))
    """
    if op.name in _PAIRS:
        return _PAIRS[op.name]
    k = len(op.vjps)
    every = tuple((i, j) for i in range(k) for j in range(i, k))
    if op.curvature == "linear":
        pairs = ()
    elif op.curvature == "multilinear":
        pairs = tuple((i, j) for i, j in every if i != j)
    else:
        symbols = sympy.symbols(f"a0:{k}", real=True)
        try:
            expr = np.asarray(op.sympy(*[np.array(s, dtype=object) for s in symbols]), dtype=object).item()
            pairs = tuple((i, j) for i, j in every
                          if sympy.diff(expr, symbols[i], symbols[j]) != 0)
        except (TypeError, ValueError, AttributeError):  # a form that needs numbers (clip's branch): assume all
            pairs = every
    pairs = tuple((i, j) for i, j in pairs if op.vjps[i] is not None and op.vjps[j] is not None)
    _PAIRS[op.name] = pairs
    return pairs


class HessianPatternArray(PatternArray):
    """A ``PatternArray`` that also records, in ``couplings`` (shared by the whole run), the input pairs each op's
    second derivative couples."""

    __slots__ = ("couplings",)
    engine = "adops.sparse.hessian_sparsity"

    def __init__(self, primal, deps, level: int, local: bool, couplings: list):
        super().__init__(primal, deps, level, local)
        self.couplings = couplings

    def _result(self, op, ans, deps, arrays, ours, primals, params):
        out = HessianPatternArray(ans, deps, self._level, self.local, self.couplings)
        if op.sparsity in LINEAR_KINDS or op.curvature == "linear":
            return out
        traced = [(k, arrays[k].deps, primals[k]) for k in range(len(arrays)) if ours[k]]
        n = self.deps.shape[1]
        if op.sparsity == "elementwise":
            _elementwise(op, ans, traced, self.couplings)
        elif op.curvature == "multilinear":
            if op.sparsity == "matmul" and len(traced) == 2 and max(np.ndim(p) for p in primals) <= 2:
                _matmul(primals, traced, self.couplings)
            else:
                _across(traced, n, self.couplings)
        elif op.sparsity == "reduce":
            self.couplings.append(deps.T @ deps)  # each output couples its own group
        else:
            cols = np.unique(np.concatenate([d.indices for _, d, _ in traced]))
            self.couplings.append(_block(cols, cols, n))
        return out


def _block(rows: np.ndarray, cols: np.ndarray, n: int) -> sp.csr_array:
    """Every ``rows`` x ``cols`` pair, as an n x n pattern."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[rows + 1] = cols.size
    return _csr(np.cumsum(indptr), np.tile(cols, rows.size), (n, n))


def _elementwise(op, ans, traced, couplings):
    shape = np.shape(ans)
    rows = {k: d if np.shape(p) == shape else gather(d, broadcast_map(np.shape(p), shape)) for k, d, p in traced}
    for i, j in second_order_pairs(op):
        if i in rows and j in rows:
            couplings.append(rows[i].T @ rows[j])


def _matmul(primals, traced, couplings):
    (_, da, a), (_, db, b) = traced
    q = np.shape(a)[-1]
    if np.ndim(a) == 2:  # contraction index of element (i, l) of A is l
        p = np.shape(a)[0]
        da = _csr(np.arange(0, p * q + 1, p), np.arange(p * q).reshape(p, q).T.ravel(), (q, p * q)) @ da
    if np.ndim(b) == 2:  # of element (l, j) of B: l
        r = np.shape(b)[1]
        db = _csr(np.arange(0, q * r + 1, r), np.arange(q * r), (q, q * r)) @ db
    couplings.append(da.T @ db)


def _across(traced, n, couplings):
    cols = [np.unique(d.indices) for _, d, _ in traced]
    for i in range(len(cols)):
        for j in range(i + 1, len(cols)):
            couplings.append(_block(cols[i], cols[j], n))


def hessian_sparsity(f: Callable, *args, argnums: int | tuple | None = None, local: bool = False,
                     kwargs: dict | None = None) -> sp.csr_array:
    """The sparsity pattern of the Hessian of a scalar ``f(*args, **kwargs)``: a symmetric boolean CSR matrix (n x n).

    Rows and columns are the input elements in C order, the chosen arguments' leaves stacked (``argnums=None``, the
    default: every argument). Global and conservative (see the module notes); ``local=True`` keeps only the branches
    of ``np.where`` taken at this point. For a non-scalar ``f``, the union over its output elements.

    >>> import numpy as np
    >>> hessian_sparsity(lambda x, y: np.sum(x * y) + np.sum(np.exp(y)), np.ones(2), np.ones(2)).toarray().astype(int)
    array([[0, 0, 1, 0],
           [0, 0, 0, 1],
           [1, 0, 1, 0],
           [0, 1, 0, 1]])
    """
    fn = "adops.sparse.hessian_sparsity"
    couplings: list = []
    _, _, n = trace(f, args, argnums, fn, lambda leaf, eye, level: HessianPatternArray(leaf, eye, level, local,
                                                                                       couplings), kwargs)
    out = sp.csr_array((n, n), dtype=bool)
    for c in couplings:  # (CSR + CSR of booleans: a union in one merge of sorted rows)
        out = out + sp.csr_array(c, dtype=bool)
    out = sp.csr_array(out + out.T, dtype=bool)
    out.sort_indices()
    return out
