"""Derivatives at the points users care about most: intermediates exactly 0 (residuals at a solution), ties, and
domain edges, in all four Hessian nestings and at third order, against the SymPy oracle.

The strong-zero rule masks an infinite *partial* where the tangent is zero; it must never replace the product by
a constant, or a traced tangent whose value is 0 loses its own derivative (wrong Hessians at zero residuals)."""

import numpy as np
import pytest

import dualad
import revad
from compare import oracle

NESTINGS = {
    "fwd-over-fwd": dualad.hessian,
    "rev-over-rev": revad.hessian,
    "fwd-over-rev": lambda f: dualad.jacfwd(revad.grad(f)),
    "rev-over-fwd": lambda f: revad.jacrev(dualad.grad(f)),
}


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


# (name, f, x): at x some intermediate is exactly zero
ZERO_RESIDUAL_CASES = [
    ("rosenbrock_minimum", rosen, np.array([1.0, 1.0])),
    ("rosenbrock_minimum_4", rosen, np.ones(4)),
    ("power_residual", lambda x: (x[0] * x[1] - 2.0) ** 2 + x[0] ** 2, np.array([1.0, 2.0])),
    ("power_cubed_residual", lambda x: (x[0] - x[1]) ** 3 * x[0], np.array([1.5, 1.5])),
    ("divide_residual", lambda x: ((x[0] - 1.0) / x[1]) ** 2, np.array([1.0, 2.0])),
    ("divide_by_residual_square", lambda x: x[1] / (1.0 + (x[0] - 1.0) ** 2), np.array([1.0, 0.5])),
    ("sqrt_of_square_plus", lambda x: np.sqrt(1.0 + (x[0] - x[1]) ** 2), np.array([0.3, 0.3])),
    ("log_residual", lambda x: np.log(1.0 + (x[0] * x[1] - 1.0) ** 2), np.array([2.0, 0.5])),
    ("log_ratio_squared", lambda x: np.log(x[0] / x[1]) ** 2, np.array([0.7, 0.7])),
    ("zero_factors_product", lambda x: np.prod(x) ** 2 + x[0] * x[1], np.array([0.0, 0.0, 1.5])),
    ("product_of_residuals", lambda x: (x[0] - 1) * (x[1] - 2) * (x[0] + x[1]), np.array([1.0, 2.0])),
    ("reciprocal_square", lambda x: 1.0 / (2.0 + (x[0] - x[1]) ** 2), np.array([0.4, 0.4])),
    ("exp_of_residual_square", lambda x: np.exp((x[0] ** 2 - x[1]) ** 2), np.array([1.0, 1.0])),
    ("least_squares", lambda x: np.sum((np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]) @ x
                                        - np.array([5.0, 11.0, 17.0])) ** 2 * x[0]), np.array([1.0, 2.0])),
    ("where_branch_sqrt", lambda x: np.sum(np.where(x < 1, x ** 2, np.sqrt(x))), np.array([0.0, 0.5])),
    ("where_branch_log", lambda x: np.sum(np.where(x > 0.5, np.log(x), x ** 3)), np.array([0.0, 2.0])),
]


@pytest.mark.parametrize("nesting", list(NESTINGS))
@pytest.mark.parametrize("name,f,x", ZERO_RESIDUAL_CASES, ids=[c[0] for c in ZERO_RESIDUAL_CASES])
def test_hessian_at_zero_intermediates(name, f, x, nesting):
    exact = oracle.hessian(f, x)
    h = NESTINGS[nesting](f)(x)
    assert oracle.relative_error(h, exact) < 1e-12, f"{nesting} at {name}:\n{h}\nexact:\n{exact}"


def test_rosenbrock_hessian_at_minimum_is_exact():
    expected = np.array([[802.0, -400.0], [-400.0, 200.0]])
    for nesting, hessian in NESTINGS.items():
        np.testing.assert_array_equal(hessian(rosen)(np.array([1.0, 1.0])), expected, err_msg=nesting)


THIRD_ORDER_CASES = [
    ("cube_of_residual", lambda x: (x - 1.0) ** 3, 1.0, 6.0),
    ("square_of_residual_times_x", lambda x: (x - 1.0) ** 2 * x, 1.0, 6.0),
    ("sqrt_one_plus_square", lambda x: np.sqrt(1.0 + x ** 2), 0.0, 0.0),
    ("log_one_plus_cube", lambda x: np.log(1.0 + x ** 3), 0.0, 6.0),
    ("reciprocal_of_one_plus_square", lambda x: 1.0 / (1.0 + x ** 2), 0.0, 0.0),
]


@pytest.mark.parametrize("name,f,x,expected", THIRD_ORDER_CASES, ids=[c[0] for c in THIRD_ORDER_CASES])
def test_third_derivative_at_zero_intermediates(name, f, x, expected):
    g, d = revad.grad, dualad.derivative
    for label, third in (("ggg", g(g(g(f)))), ("ddd", d(d(d(f)))), ("dgg", d(g(g(f)))), ("gdg", g(d(g(f)))),
                         ("ggd", g(g(d(f)))), ("ddg", d(d(g(f)))), ("dgd", d(g(d(f)))), ("gdd", g(d(d(f))))):
        assert float(third(x)) == pytest.approx(expected, abs=1e-12), label
