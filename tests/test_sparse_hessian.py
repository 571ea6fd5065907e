"""Compressed Hessians in every nesting against dense Hessians: registry samples, banded test problems at random and
special points (Rosenbrock at its minimum, where intermediates are exactly 0), reuse of a detected pattern or
colouring, the automatic cache, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_ops import make_args
from test_sparse_hessian_pattern import flat, local3, rosenbrock, scalar
from test_sparse_pattern import SAMPLES

import adops
import dualad
import revad
from adops.sparse import SparseHessian, color_star, hessian_sparsity

NESTINGS = {
    "forward-over-forward": lambda f, s: dualad.hessian(f, sparsity=s),
    "reverse-over-reverse": lambda f, s: revad.hessian(f, sparsity=s),
    "forward-over-reverse": lambda f, s: dualad.jacfwd(revad.grad(f), sparsity=s),
    "reverse-over-forward": lambda f, s: revad.jacrev(dualad.grad(f), sparsity=s),
}


@pytest.mark.parametrize("name,k", SAMPLES, ids=[f"{n}-{k}" for n, k in SAMPLES])
def test_compressed_equals_dense_on_registry_samples(name, k):
    op = adops.OPS[name]
    g, x = flat(op.samples[k].call, make_args(op, op.samples[k]))
    curved, _ = scalar(g)
    dense = revad.hessian(curved)(x)
    for nesting in ("reverse-over-reverse", "forward-over-reverse"):
        s = "auto" if nesting.startswith("reverse") else SparseHessian.detect(curved, x)
        H = NESTINGS[nesting](curved, s)(x)
        assert isinstance(H, sp.csr_array)
        np.testing.assert_allclose(H.toarray(), dense, rtol=1e-10, atol=1e-10, err_msg=f"{name} {nesting}")


POINTS = {
    "random": lambda n: np.random.default_rng(3).uniform(-1.5, 1.5, n),
    "ones": lambda n: np.ones(n),  # Rosenbrock's minimum: every residual exactly 0
    "zeros": lambda n: np.zeros(n),
}


@pytest.mark.parametrize("nesting", NESTINGS)
@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("f", [rosenbrock, local3], ids=["rosenbrock", "local3"])
def test_every_nesting_at_random_and_special_points(nesting, point, f):
    x = POINTS[point](12)
    dense = revad.hessian(f)(x)
    np.testing.assert_allclose(dualad.hessian(f)(x), dense, rtol=1e-12, atol=1e-12)  # the dense nestings agree
    sh = SparseHessian.detect(f, x)
    for s in (sh, sh.coloring(), sh.pattern, sh.pattern.toarray()):
        H = NESTINGS[nesting](f, s)(x)
        assert isinstance(H, sp.csr_array) and H.shape == (12, 12)
        np.testing.assert_allclose(H.toarray(), dense, rtol=1e-12, atol=1e-12)
        if point == "ones" and f is rosenbrock:
            assert np.array_equal(H.toarray(), dense)  # exact where intermediates are exactly 0


def test_colours_and_reuse_at_new_points():
    x = np.random.default_rng(0).random(1000)
    sh = SparseHessian.detect(rosenbrock, x)
    assert sh.coloring().ncolors == 3 and "SparseHessian" in repr(sh)
    hess = revad.hessian(rosenbrock, sparsity=sh)
    for scale in (0.5, 2.0):
        H = hess(x * scale)
        assert H.nnz == 2998
        np.testing.assert_allclose(H.toarray(), revad.hessian(rosenbrock)(x * scale), rtol=1e-12)


def test_several_arguments_stack():
    f = lambda a, b: np.sum(np.sin(a * b[:2])) + np.sum(b ** 3)
    a, b = np.array([0.3, -0.7]), np.array([1.1, 0.4, -0.2])
    dense = revad.hessian(lambda z: f(z[:2], z[2:]))(np.concatenate([a, b]))
    for hess in (dualad.hessian, revad.hessian):
        H = hess(f, (0, 1), sparsity="auto")(a, b)
        np.testing.assert_allclose(H.toarray(), dense, atol=1e-12)
    p = hessian_sparsity(f, a, b)
    assert np.array_equal(p.toarray(), dense != 0)


def test_auto_caches_colourings_by_pattern():
    from adops.sparse import hessian as sparse_hessian

    f = lambda x: np.sum(np.exp(x[1:] * x[:-1]))
    g = lambda x: np.sum(np.sin(x[1:] + x[:-1]))  # another function, the same pattern
    revad.hessian(f, sparsity="auto")(np.ones(5))
    star = sparse_hessian.known(hessian_sparsity(f, np.ones(5))).coloring()
    revad.hessian(f, sparsity="auto")(np.ones(5) * 2)
    revad.hessian(g, sparsity="auto")(np.ones(5))
    assert sparse_hessian.known(hessian_sparsity(g, np.ones(5))).coloring() is star
    revad.hessian(f, sparsity="auto")(np.ones(7))
    assert sparse_hessian.known(hessian_sparsity(f, np.ones(7))).coloring() is not star


def test_errors_name_the_function_and_the_fix():
    x = np.random.default_rng(1).random(6)
    too_small = color_star(hessian_sparsity(rosenbrock, x))  # tridiagonal; local3's Hessian is pentadiagonal
    for hess in (dualad.hessian, revad.hessian):
        with pytest.raises(ValueError, match="misses a nonzero"):
            hess(local3, sparsity=too_small)(x)
    with pytest.raises(ValueError, match="dualad.hessian.*7 x 7.*rosenbrock.*6 input"):
        dualad.hessian(rosenbrock, sparsity=np.eye(7))(x)
    with pytest.raises(ValueError, match="revad.hessian: sparsity must be 'auto'"):
        revad.hessian(rosenbrock, sparsity="yes")(x)


DENSE = {
    "forward-over-forward": lambda f: dualad.hessian(f),
    "reverse-over-reverse": lambda f: revad.hessian(f),
    "forward-over-reverse": lambda f: dualad.jacfwd(revad.grad(f)),
    "reverse-over-forward": lambda f: revad.jacrev(dualad.grad(f)),
}


@pytest.mark.parametrize("nesting", NESTINGS)
@pytest.mark.parametrize("x0", [0.0, 1.0])
def test_an_inf_meeting_a_structural_zero_is_no_missed_nonzero(nesting, x0):
    # log at 0 puts an inf in the products; A's zeros turn it into 0 * inf = NaN outside the pattern, which used to
    # raise 'misses a nonzero' on a detected pattern (or spoil the other variables of its colour)
    A = np.diag([1.0, 1.0, 1.0, 0.0])
    f = lambda u: np.sum(np.log(A @ u + np.array([0.0, 1, 1, 1])) ** 2) + np.sum(u[:3] ** 2 * u[1:])  # noqa: E731
    x = np.array([x0, 2.0, 3.0, 0.0])
    with np.errstate(all="ignore"):
        H = NESTINGS[nesting](f, "auto")(x).toarray()
        dense = np.asarray(DENSE[nesting](f)(x))
    on = hessian_sparsity(f, x).toarray()
    sure = on & np.isfinite(dense)  # the dense nestings have their own 0 * inf, on one side of the diagonal only
    np.testing.assert_array_equal(H[sure], dense[sure])
    assert np.isfinite(H[~np.eye(4, dtype=bool)]).all() and (H[0, 0] == np.inf) == (x0 == 0)
    np.testing.assert_array_equal(H, H.T)
    assert not H[~on].any()


@pytest.mark.parametrize("nesting", NESTINGS)
def test_float16_inputs_give_a_usable_float32_csr(nesting):
    H = NESTINGS[nesting](rosenbrock, "auto")(np.full(5, 0.5, dtype=np.float16))
    assert H.dtype == np.float32
    np.testing.assert_allclose(H.toarray(), revad.hessian(rosenbrock)(np.full(5, 0.5)), rtol=1e-2)
