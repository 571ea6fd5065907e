"""Mixed modes: the two engines nest inside each other (forward-over-reverse, reverse-over-forward), and the
forward and reverse Jacobians agree, all checked against the SymPy oracle."""

import math

import numpy as np
import pytest

import adops.nn as nn
import dualad
import revad
from compare import oracle

RNG = np.random.default_rng(5)
W34 = RNG.normal(size=(3, 4))
W43 = RNG.normal(size=(4, 3))


def close(actual, expected, tol=1e-9):
    scale = max(1.0, float(np.max(np.abs(expected))))
    err = float(np.max(np.abs(np.asarray(actual, dtype=np.float64) - expected))) / scale
    assert np.shape(actual) == np.shape(expected) and err < tol, f"error {err:.3g}\n{actual}\n{expected}"


HESSIAN_CASES = [
    ("matmul_tanh", lambda x: np.sum(np.tanh(W34 @ x) ** 2), np.array([0.3, -0.2, 0.5, 0.1])),
    ("softmax_log", lambda x: -np.log(nn.softmax(W43 @ x[:3])[1]) + 0.1 * np.sum(x**2),
     np.array([0.4, -0.6, 0.2, 0.9])),
    ("log_softmax_cross_entropy", lambda x: -np.sum(nn.log_softmax(np.reshape(x, (2, 2)), axis=1)[:, 0]),
     np.array([0.1, 0.7, -0.3, 0.5])),
    ("logsumexp_sigmoid", lambda x: nn.logsumexp(x * x) + np.sum(nn.sigmoid(x[::-1] * x)),
     np.array([0.2, -1.1, 0.6])),
    ("reductions", lambda x: np.prod(x) + np.mean(x**3) * np.max(x) + np.sum(np.cumsum(x) ** 2),
     np.array([1.2, 0.7, 1.5])),
    ("indexing", lambda x: x[0] * x[2] ** 2 + np.sum(x[[1, 1, 3]] * x[:3]) + np.exp(x[-1] * x[1]),
     np.array([0.5, -0.4, 0.8, 0.3])),
    ("matrix_input", lambda x: np.sum(np.log(1 + (x.reshape(2, 2) @ x.reshape(2, 2).T) ** 2)),
     np.array([0.5, -0.3, 0.2, 0.9])),
    ("quadratic_form", lambda x: x @ (W34.T @ W34) @ x + np.sin(x[0]) * np.cos(x[1]),
     np.array([0.1, 0.2, 0.3, 0.4])),
    ("softplus_sqrt_div", lambda x: np.sum(nn.softplus(x) / np.sqrt(1 + x * x)) + x[0] / (2 + x[1] ** 2),
     np.array([-0.5, 1.3, 0.4])),
]

NESTINGS = {
    "dualad.hessian": lambda f: dualad.hessian(f),
    "revad.hessian": lambda f: revad.hessian(f),
    "jacfwd(revad.grad)": lambda f: dualad.jacfwd(revad.grad(f)),
    "jacrev(dualad.grad)": lambda f: revad.jacrev(dualad.grad(f)),
    "jacfwd(dualad.grad)": lambda f: dualad.jacfwd(dualad.grad(f)),
    "jacrev(revad.grad)": lambda f: revad.jacrev(revad.grad(f)),
    "jacfwd(revad.grad, chunk_size=1)": lambda f: dualad.jacfwd(revad.grad(f), chunk_size=1),
    "jacrev(dualad.grad, chunk_size=2)": lambda f: revad.jacrev(dualad.grad(f), chunk_size=2),
}

_EXACT = {}


def _exact_hessian(name, f, x):
    if name not in _EXACT:
        _EXACT[name] = oracle.hessian(f, x)
    return _EXACT[name]


@pytest.mark.parametrize("nesting", list(NESTINGS))
@pytest.mark.parametrize("name,f,x", HESSIAN_CASES, ids=[c[0] for c in HESSIAN_CASES])
def test_hessians_agree_with_oracle(name, f, x, nesting):
    h = NESTINGS[nesting](f)(x)
    close(h, _exact_hessian(name, f, x))
    np.testing.assert_allclose(h, np.swapaxes(h, 0, 1), rtol=1e-10, atol=1e-12)


def test_oracle_check_reports_all_four_nestings():
    f = HESSIAN_CASES[0][1]
    report = oracle.check(f, HESSIAN_CASES[0][2], hessians=True)
    assert len(report) >= 10
    assert max(report.values()) < 1e-9, report


def test_hessian_of_matrix_argument_shape():
    f = lambda X: np.sum(np.tanh(X @ X.T))
    X = np.array([[0.2, -0.4], [0.7, 0.1], [0.3, 0.5]])
    exact = oracle.hessian(lambda v: f(v.reshape(3, 2)), X.ravel()).reshape(3, 2, 3, 2)
    for h in (dualad.jacfwd(revad.grad(f))(X), revad.jacrev(dualad.grad(f))(X), revad.hessian(f)(X),
              dualad.hessian(f)(X)):
        assert h.shape == (3, 2, 3, 2)
        close(h, exact)


def test_third_derivatives_across_engines():
    f = lambda x: np.exp(2 * x) * np.cos(x)
    x = 0.4
    expected = math.exp(2 * x) * (2 * math.cos(x) - 11 * math.sin(x))
    g = revad.grad
    d = dualad.derivative
    for third in (d(g(g(f))), g(d(g(f))), g(g(d(f))), d(d(g(f))), g(d(d(f)))):
        assert math.isclose(float(third(x)), expected, rel_tol=1e-12)


def test_perturbations_across_engines_do_not_mix():
    g = revad.grad
    d = dualad.derivative
    # d/dx [x * d/dy (x y)] = 2x whichever engine runs which level
    assert g(lambda x: x * d(lambda y: x * y)(1.0))(4.0) == 8.0
    assert d(lambda x: x * g(lambda y: x * y)(1.0))(4.0) == 8.0
    assert g(lambda x: x * d(lambda y: x + y)(1.0))(1.0) == 1.0
    assert d(lambda x: x * g(lambda y: x + y)(1.0))(1.0) == 1.0


def test_hessian_vector_product_forward_over_reverse():
    f = HESSIAN_CASES[1][1]
    x = HESSIAN_CASES[1][2]
    v = RNG.normal(size=x.shape)
    _, hv = dualad.jvp(revad.grad(f), (x,), (v,))
    close(hv, _exact_hessian(HESSIAN_CASES[1][0], f, x) @ v)


# ---- forward Jacobian == reverse Jacobian on random maps --------------------------------------------------
def _random_map(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    W1, W2 = rng.normal(size=(4, n)), rng.normal(size=(m, 4))
    b = rng.normal(size=4)

    def f(x):
        h = np.tanh(W1 @ x + b)
        return W2 @ (h * nn.softplus(h)) + np.sin(x[:1]) * np.sum(x**2)

    return f, rng.normal(size=n)


@pytest.mark.parametrize("seed", range(8))
def test_jacrev_equals_jacfwd_random_maps(seed):
    f, x = _random_map(seed)
    jf, jr = dualad.jacfwd(f)(x), revad.jacrev(f)(x)
    np.testing.assert_allclose(jr, jf, rtol=1e-12, atol=1e-14)
    close(jf, oracle.jacobian(f, x), tol=1e-11)
    for k in (1, 2):
        np.testing.assert_allclose(revad.jacrev(f, chunk_size=k)(x), jf, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(dualad.jacfwd(f, chunk_size=k)(x), jf, rtol=1e-12, atol=1e-14)


def test_jacrev_equals_jacfwd_several_arguments():
    def f(W, x, scale):
        return nn.log_softmax(W @ x * scale) + x[:3] ** 2

    W, x, s = RNG.normal(size=(3, 4)), RNG.normal(size=4), 1.3
    argnums = (0, 1, 2)
    jf = dualad.jacfwd(f, argnums=argnums)(W, x, s)
    jr = revad.jacrev(f, argnums=argnums)(W, x, s)
    exact = oracle.jacobian(f, W, x, s, argnums=argnums)
    for a, b, e in zip(jf, jr, exact):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
        close(a, e, tol=1e-11)
