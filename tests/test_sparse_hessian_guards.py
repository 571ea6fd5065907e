"""Regression tests for the sparse-Hessian review: missed nonzeros are caught (a random check product for patterns
not detected, the symmetric guard and explained products for every pattern), invalid colourings refused, "auto"
detects at every call with the call's arguments, gradient wrappers detect the Hessian pattern, empty inputs,
errors naming the function called, chunking, and colouring quality."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from test_sparse_hessian import NESTINGS
from test_sparse_hessian_pattern import rosenbrock

import dualad
import revad
from adops.sparse import SparseHessian, SparseJacobian, StarColoring, color_columns, color_star, hessian_sparsity
from adops.sparse import hessian as sparse_hessian

HESSIANS = {"dualad.hessian": dualad.hessian, "revad.hessian": revad.hessian}
X3 = np.array([0.3, -0.5, 1.2])


@pytest.mark.parametrize("nesting", NESTINGS)
def test_a_diagonal_pattern_for_rosenbrock_is_caught(nesting):
    with pytest.raises(ValueError, match="misses a nonzero.*random direction.*sparsity='auto'"):
        NESTINGS[nesting](rosenbrock, np.eye(3, dtype=bool))(X3)
    with pytest.raises(ValueError, match="misses a nonzero"):  # a hand-built SparseHessian is verified too
        NESTINGS[nesting](rosenbrock, SparseHessian(np.eye(3, dtype=bool)))(X3)


def test_an_invalid_star_colouring_is_refused():
    p = color_star(np.ones((3, 3))).pattern
    for name, hess in HESSIANS.items():
        with pytest.raises(ValueError, match=f"{name}: the StarColoring .* not a valid star colouring"):
            hess(rosenbrock, sparsity=StarColoring(p, np.zeros(3, dtype=np.int64)))(X3)


def test_symmetric_guard_and_explained_products_without_the_check_product():
    tri = sp.diags_array([np.ones(7), np.ones(8), np.ones(7)], offsets=[-1, 0, 1]).astype(bool)
    star = color_star(tri)
    assert star.colors.tolist() == [2, 0, 1, 0, 2, 0, 1, 0]
    h = np.diag(np.full(8, 3.0)) + np.diag(np.ones(7), 1) + np.diag(np.ones(7), -1)
    np.testing.assert_array_equal(star.decompress(star.seeds() @ h).toarray(), h)
    for (i, j), why in (((2, 4), "where the pattern has no entry"), ((3, 6), "explain")):
        missed = h.copy()
        missed[i, j] = missed[j, i] = 0.5
        with pytest.raises(ValueError, match=f"misses a nonzero.*{why}"):
            star.decompress(star.seeds() @ missed)
    # the documented blind spots: a missed entry between variables of one colour lands on a diagonal read, and a
    # diagonal pattern reads row sums; only the random check product (verify) sees them
    missed = h.copy()
    missed[3, 5] = missed[5, 3] = 0.5
    assert star.decompress(star.seeds() @ missed)[3, 3] == 3.5
    with pytest.raises(ValueError, match="random direction"):
        v = np.linspace(0.5, 1.5, 8)
        star.decompress(star.seeds() @ missed, probe=(v, missed @ v))
    diag = color_star(np.eye(8, dtype=bool))
    assert diag.decompress(diag.seeds() @ h).nnz == 8


def test_auto_detects_at_every_call_with_the_calls_arguments():
    x = np.arange(1.0, 5.0)
    q = lambda x, A: x @ A @ x
    for A in (np.eye(4), np.ones((4, 4)), np.diag(np.ones(3), 1)):
        for hess in HESSIANS.values():
            np.testing.assert_allclose(hess(q, sparsity="auto")(x, A).toarray(), A + A.T)

    def kw(x, *, extra):
        return np.sum(x ** 3) + (x[0] * x[-1] if extra else 0)

    for extra in (True, False, True):
        for hess in HESSIANS.values():
            np.testing.assert_allclose(hess(kw, sparsity="auto")(x, extra=extra).toarray(),
                                       revad.hessian(kw)(x, extra=extra), atol=1e-12)
    shift = [1]
    closure = lambda x: np.sum(x[shift[0]:] * x[:-shift[0]] ** 2)  # a closure constant that changes between calls
    for shift[0] in (1, 2, 3):
        np.testing.assert_allclose(revad.hessian(closure, sparsity="auto")(x).toarray(), revad.hessian(closure)(x))
    for g in (lambda x: x[np.argmax(x)] * x[0], lambda x: np.sum(x[x > 0.5] ** 2 * x[0]),
              lambda x: np.sum(x[np.flatnonzero(x > 0.5)] ** 3)):
        for point in (np.array([0.1, 0.9, 0.3, 0.7]), np.array([0.9, 0.1, 0.7, 0.3])):
            np.testing.assert_allclose(revad.hessian(g, sparsity="auto")(point).toarray(),
                                       revad.hessian(g)(point), atol=1e-12)


@pytest.mark.parametrize("nesting", ["forward-over-reverse", "reverse-over-forward"])
def test_auto_through_a_gradient_detects_the_hessian_pattern(nesting):
    x = np.random.default_rng(0).random(200)
    H = NESTINGS[nesting](rosenbrock, "auto")(x)
    assert H.nnz == 598
    np.testing.assert_allclose(H.toarray(), revad.hessian(rosenbrock)(x), rtol=1e-12)
    assert sparse_hessian.known(hessian_sparsity(rosenbrock, x)).coloring().ncolors == 3


def test_a_dense_gradient_jacobian_warns():
    f = lambda x, y: np.sum(x) * np.sum(y ** 2)
    with pytest.warns(UserWarning, match="detected fully dense.*revad.hessian"):
        dualad.jacfwd(revad.grad(f), argnums=1, sparsity="auto")(np.ones(70), np.ones(70))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dualad.jacfwd(revad.grad(f), argnums=1, sparsity="auto")(np.ones(5), np.ones(5))  # small: no warning


@pytest.mark.parametrize("nesting", NESTINGS)
def test_empty_input_gives_an_empty_csr(nesting):
    for s in ("auto", np.zeros((0, 0))):
        H = NESTINGS[nesting](rosenbrock, s)(np.zeros(0))
        assert isinstance(H, sp.csr_array) and H.shape == (0, 0)


def test_errors_name_the_hessian_function_and_fit_the_sparsity_given():
    for name, hess in HESSIANS.items():
        with pytest.raises(ValueError, match=f"^{name}: .*7 x 7.*rosenbrock.*3 input"):
            hess(rosenbrock, sparsity=np.eye(7))(X3)
        for wrong in (SparseJacobian(np.eye(3)), SparseJacobian(np.eye(3)).coloring("forward"),
                      color_columns(np.eye(3))):
            with pytest.raises(TypeError, match=f"{name}: sparsity is a .*made for a Jacobian.*SparseHessian"):
                hess(rosenbrock, sparsity=wrong)(X3)
    assert "sparsity='auto'" not in sparse_hessian.advice("auto") and "report" in sparse_hessian.advice("auto")
    assert "sparsity='auto'" in sparse_hessian.advice(np.eye(3))


def test_dualad_hessian_honours_chunk_size():
    calls = []

    def f(x):
        calls.append(1)
        return rosenbrock(x)

    x = np.random.default_rng(1).random(10)
    sh = SparseHessian.detect(rosenbrock, x)  # detected: no check product, 3 colours
    dense = revad.hessian(rosenbrock)(x)
    for chunk, passes in ((None, 1), (1, 3), (2, 2), (3, 1)):
        calls.clear()
        np.testing.assert_allclose(dualad.hessian(f, chunk_size=chunk, sparsity=sh)(x).toarray(), dense, rtol=1e-12)
        assert len(calls) == passes


def stencil9(k):
    g = sp.diags_array([np.ones(k - 1), np.ones(k), np.ones(k - 1)], offsets=[-1, 0, 1])
    return sp.csr_array(sp.kron(g, g), dtype=bool)


def test_colouring_quality():
    s9 = color_star(stencil9(40))
    s9.check()
    assert s9.ncolors <= color_columns(stencil9(40)).ncolors == 9 and "distance-2" in s9.explain()
    blocks = color_star(sp.block_diag([np.ones((7, 7))] * 6).astype(bool))
    assert (blocks.ncolors, blocks.lower_bound, blocks.ratio) == (7, 7, 1.0)
    arrow = np.eye(6, dtype=bool)
    arrow[0] = arrow[:, 0] = True
    assert color_star(arrow).lower_bound == 2
    diag = color_star(sp.eye_array(200_000, format="csr", dtype=bool))
    assert diag.ncolors == 1 and diag.lower_bound == 1
