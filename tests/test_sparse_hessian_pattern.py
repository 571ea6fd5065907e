"""Hessian sparsity detection against dense Hessians (``revad.hessian``), generated from the registry: every op's
samples, wrapped into scalar functions, at random points; random programs; the curvature each record declares or
derives; exact patterns on the usual test problems."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from test_ops import make_args
from test_random_programs import programs, run
from test_sparse_pattern import SAMPLES

import adops
import revad
from adops.sparse import hessian_sparsity
from adops.sparse.hessian_pattern import second_order_pairs


def flat(call, args):
    """``call`` as a function of one vector holding all its arguments."""
    shapes = [np.shape(a) for a in args]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]

    def g(x):
        parts, offset = [], 0
        for s, k in zip(shapes, sizes):
            parts.append(np.reshape(x[offset:offset + k], s))
            offset += k
        return call(*parts)

    return g, np.concatenate([np.ravel(a) for a in args])


def scalar(call, seed=0):
    """A scalar function exercising every output element: sum(w * sin(out)) (curved) or sum(w * out) (linear)."""

    def curved(x):
        out = call(x)
        w = np.random.default_rng(seed).uniform(0.5, 1.5, np.shape(out))
        return np.sum(w * np.sin(out))

    def linear(x):
        out = call(x)
        return np.sum(np.random.default_rng(seed).uniform(0.5, 1.5, np.shape(out)) * out)

    return curved, linear


def assert_covers(p, H, what):
    assert isinstance(p, sp.csr_array) and p.dtype == bool and p.shape == H.shape
    assert (p != p.T).nnz == 0, f"{what}: pattern not symmetric"
    missed = np.argwhere((H != 0) & ~p.toarray())
    assert not missed.size, f"{what}: the Hessian pattern misses nonzeros at {missed[:5].tolist()}"


# records whose pattern, under a linear wrapper, is a strict superset of the nonzeros at any point, and why
SUPERSET = {"abs": "SymPy's Abs'' is a DiracDelta", "maximum": "Max'' is a DiracDelta", "minimum": "idem",
            "fmax": "idem", "fmin": "idem",
            "clip": "its SymPy form needs numbers: every pair assumed", "remainder": "idem", "fmod": "idem",
            "copysign": "idem", "heaviside": "idem",
            "max": "a reduction: every pair in the group", "min": "idem",
            "where": "a value-dependent condition unites both branches", "getitem": "a mask from x",
            "prod": "exact zeros"}


@pytest.mark.parametrize("name,k", SAMPLES, ids=[f"{n}-{k}" for n, k in SAMPLES])
def test_pattern_covers_the_hessian(name, k):
    op = adops.OPS[name]
    sample = op.samples[k]
    args = make_args(op, sample)
    g, x = flat(sample.call, args)
    curved, linear = scalar(g)
    assert_covers(hessian_sparsity(curved, x), revad.hessian(curved)(x), f"{name} {sample.label} curved")
    p = hessian_sparsity(linear, x)
    nonzero = np.zeros(p.shape, dtype=bool)
    for seed in ("", "second"):
        x = flat(sample.call, make_args(op, sample, seed))[1]
        H = revad.hessian(linear)(x)
        assert_covers(p, H, f"{name} {sample.label} linear")
        nonzero |= H != 0
    if op.sparsity == "elementwise" and name not in SUPERSET:
        assert np.array_equal(p.toarray(), nonzero), f"{name} {sample.label}: spurious fill"


def test_curvature_from_the_records():
    ops = adops.OPS
    assert second_order_pairs(ops["sin"]) == ((0, 0),)
    assert second_order_pairs(ops["add"]) == ()
    assert second_order_pairs(ops["multiply"]) == ((0, 1),)
    assert second_order_pairs(ops["divide"]) == ((0, 1), (1, 1))
    assert second_order_pairs(ops["power"]) == ((0, 0), (0, 1), (1, 1))
    assert ops["sum"].curvature == "linear" and ops["matmul"].curvature == "multilinear"
    assert ops["einsum"].curvature == "multilinear" and ops["exp"].curvature == "nonlinear"


def rosenbrock(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def local3(x):
    """A sum of 3-variable terms over sliding windows: pentadiagonal Hessian."""
    a, b, c = x[:-2], x[1:-1], x[2:]
    return np.sum(np.exp(a * b) + np.sin(b + c) ** 2 + a * c)


@pytest.mark.parametrize("f,band", [(rosenbrock, 1), (local3, 2)])
def test_exact_on_banded_problems(f, band):
    x = np.random.default_rng(0).random(9)
    p = hessian_sparsity(f, x).toarray()
    assert np.array_equal(p, revad.hessian(f)(x) != 0)
    assert np.array_equal(p, np.abs(np.subtract.outer(np.arange(9), np.arange(9))) <= band)


def test_linear_parts_and_constants_add_nothing():
    A = np.diag(np.arange(1.0, 5.0)) + np.diag(np.ones(3), 1)
    x = np.ones(4)
    assert hessian_sparsity(lambda x: np.sum(A @ x) + x[0] - np.sum(x[::-1]), x).nnz == 0
    assert hessian_sparsity(lambda x: np.sum((A @ x) ** 2), x).toarray().tolist() == ((A.T @ A) != 0).tolist()
    p = hessian_sparsity(lambda x, y: x @ y, np.ones(3), np.ones(3)).toarray()
    assert np.array_equal(p, np.block([[np.zeros((3, 3)), np.eye(3)], [np.eye(3), np.zeros((3, 3))]]) != 0)
    M = np.ones((2, 3))
    p = hessian_sparsity(lambda M, v: np.sum(M @ v), M, np.ones(3))
    H = revad.hessian(lambda z: np.sum(z[:6].reshape(2, 3) @ z[6:]))(np.ones(9))
    assert np.array_equal(p.toarray(), H != 0)


def test_where_is_global_unless_local():
    x = np.array([1.0, -1.0, 2.0])
    f = lambda x: np.sum(np.where(x > 0, x, x[::-1] ** 2))
    assert hessian_sparsity(f, x).nnz == 3
    g = lambda x: np.sum(np.where(x > 0, x * x[0], x))
    assert hessian_sparsity(g, x).nnz == 5 and hessian_sparsity(g, x, local=True).nnz == 5
    h = lambda x: np.sum(np.where(x > 0, x, np.exp(x[1]) * x))
    assert hessian_sparsity(h, x, local=True).nnz <= hessian_sparsity(h, x).nnz


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_random_programs_are_covered(case):
    inputs, program, constants = case
    g, x = flat(lambda *xs: run(program, constants, xs), inputs)
    curved, _ = scalar(g)
    assert_covers(hessian_sparsity(curved, x), revad.hessian(curved)(x), "random program")
