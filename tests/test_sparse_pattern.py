"""Sparsity detection against dense Jacobians, generated from the registry: every op's samples at random points.
The detected pattern must cover every nonzero of ``dualad.jacfwd``'s Jacobian; for the exact kinds it must equal
the structural pattern (here: the union of the nonzeros at three random points)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_ops import CASES, make_args

import adops
import dualad
from adops.sparse import Varying, jacobian_sparsity

SAMPLES = [(n, k) for n, k in CASES if adops.OPS[n].differentiable or adops.OPS[n].composite]
EXACT_KINDS = {"elementwise", "select", "reduce", "matmul", "choose"}
# exact kinds whose global pattern is a strict superset of the nonzeros at any one point, and why
GLOBAL_SUPERSET = {
    "maximum": "either argument can win", "minimum": "either argument can win", "clip": "a bound can win",
    "relu": "zero slope for x < 0", "remainder": "d/dy = -floor(x/y) is 0 where x/y lies in [0, 1)",
    "max": "every element can win", "min": "every element can win",
    "where": "a value-dependent condition unites both branches", "prod": "an exact zero factor",
    "matmul": "stacked (3-D and up) operands fall back to dense",
    "getitem": "a boolean mask from x selects different elements at each point",
}


def dense_jacobian(call, args) -> np.ndarray:
    m = int(np.prod(np.shape(call(*args)), dtype=np.int64))
    blocks = dualad.jacfwd(call, tuple(range(len(args))))(*args)
    return np.hstack([np.reshape(b, (m, -1)) for b in blocks])


@pytest.mark.parametrize("name,k", SAMPLES, ids=[f"{n}-{k}" for n, k in SAMPLES])
def test_pattern_covers_the_jacobian(name, k):
    op = adops.OPS[name]
    sample = op.samples[k]
    patterns, nonzeros = [], []
    for seed in ("", "second", "third"):
        args = make_args(op, sample, seed)
        p = jacobian_sparsity(sample.call, *args)
        assert isinstance(p, sp.csr_array) and p.dtype == bool
        nz = dense_jacobian(sample.call, args) != 0
        assert p.shape == nz.shape
        missed = np.argwhere(nz & ~p.toarray())
        assert not missed.size, f"{name} {sample.label}: the pattern misses nonzeros at {missed[:5].tolist()}"
        patterns.append(p.toarray())
        nonzeros.append(nz)
    if op.sparsity in EXACT_KINDS and name not in GLOBAL_SUPERSET and not op.composite:
        assert np.array_equal(patterns[0], np.logical_or.reduce(nonzeros)), f"{name} {sample.label}: spurious fill"


def _composite_exact():
    """Composites built only from exact kinds give exact patterns too."""
    return [(n, k) for n, k in SAMPLES if adops.OPS[n].composite
            and n in ("ravel", "swapaxes", "moveaxis", "expand_dims", "squeeze", "hstack", "vstack", "split", "tile",
                      "repeat", "diff", "roll", "take", "triu", "tril", "append", "take_along_axis", "var")]


@pytest.mark.parametrize("name,k", _composite_exact(), ids=[f"{n}-{k}" for n, k in _composite_exact()])
def test_composites_of_exact_kinds_are_exact(name, k):
    op = adops.OPS[name]
    args = make_args(op, op.samples[k])
    p = jacobian_sparsity(op.samples[k].call, *args).toarray()
    assert np.array_equal(p, dense_jacobian(op.samples[k].call, args) != 0)


def laplacian_1d(u):
    return u[2:] - 2 * u[1:-1] + u[:-2]


def bratu_2d(u, lam=1.0):
    U = np.pad(u, 1)
    return U[2:, 1:-1] + U[:-2, 1:-1] + U[1:-1, 2:] + U[1:-1, :-2] - 4 * u + lam * np.exp(u)


def test_stencils_have_no_spurious_fill():
    u = np.random.default_rng(0).standard_normal((6, 7))
    p = jacobian_sparsity(bratu_2d, u)
    assert np.array_equal(p.toarray(), dense_jacobian(bratu_2d, (u,)) != 0)
    assert p.nnz == 5 * 42 - 2 * (6 + 7)
    v = np.linspace(0, 1, 8)
    assert np.array_equal(jacobian_sparsity(laplacian_1d, v).toarray(), dense_jacobian(laplacian_1d, (v,)) != 0)
    g = lambda v: np.roll(v, 1) - 3 * v + np.flip(v)[::2].sum()
    assert np.array_equal(jacobian_sparsity(g, v).toarray(), dense_jacobian(g, (v,)) != 0)


def test_value_dependent_condition_unites_both_branches_unless_local():
    x = np.array([1.0, -1.0, 2.0])
    y = np.array([3.0, 4.0, 5.0])
    f = lambda x, y: np.where(x > 0, x, y)
    glob = jacobian_sparsity(f, x, y).toarray()
    loc = jacobian_sparsity(f, x, y, local=True).toarray()
    assert np.array_equal(glob, np.hstack([np.eye(3), np.eye(3)]).astype(bool))
    assert np.array_equal(loc, dense_jacobian(f, (x, y)) != 0)
    # a constant mask is exact in both
    g = lambda x, y: np.where(np.array([True, False, True]), x, y)
    assert np.array_equal(jacobian_sparsity(g, x, y).toarray(), dense_jacobian(g, (x, y)) != 0)
    # combined masks stay visible
    h = lambda x, y: np.where((x > 0) & ~(x > 1.5), x, y)
    assert jacobian_sparsity(h, x, y).nnz == 6


def test_comparisons_are_visible():
    seen = []
    jacobian_sparsity(lambda x: seen.append(x > 0) or x, np.ones(3))
    assert isinstance(seen[0], Varying) and seen[0].dtype == bool


def test_matmul_with_a_constant_uses_its_pattern():
    A = np.diag(np.arange(1.0, 5.0)) + np.diag(np.ones(3), 1)
    x = np.ones(4)
    assert np.array_equal(jacobian_sparsity(lambda x: A @ x, x).toarray(), A != 0)
    assert np.array_equal(jacobian_sparsity(lambda x: x @ A, x).toarray(), (A != 0).T)
    X = np.ones((4, 2))
    assert np.array_equal(jacobian_sparsity(lambda X: A @ X, X).toarray(), dense_jacobian(lambda X: A @ X, (X,)) != 0)


def test_several_arguments_stack_columns_and_outputs_stack_rows():
    a, b = np.ones(2), np.ones(3)
    p = jacobian_sparsity(lambda a, b: (a * 2, b[:2] + a), a, b)
    expected = np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0, 1, 0, 1, 0]], dtype=bool)
    assert np.array_equal(p.toarray(), expected)
    assert jacobian_sparsity(lambda a, b: a * b[0], a, b, argnums=1).shape == (2, 3)
    assert jacobian_sparsity(lambda a: np.zeros(4), a).nnz == 0
