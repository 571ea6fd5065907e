"""The SymPy oracle itself: the seed example exactly, Hessians, branches decided at the point, and errors."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from compare import oracle


def seed_loss(w, x, b, y):
    a = w * x + b
    return (a - y) ** 2 / 2


def test_seed_example_is_reproduced_exactly():
    assert oracle.value(seed_loss, 2.0, -2.0, 8.0, 2.0) == 2.0
    dw, dx, db, dy = oracle.jacobian(seed_loss, 2.0, -2.0, 8.0, 2.0, argnums=(0, 1, 2, 3), exact=True)
    dw, dx, db, dy = (d[()] for d in (dw, dx, db, dy))  # 0-d object arrays of SymPy Floats
    assert isinstance(dw, sympy.Float)
    assert (dw - (-4), db - 2, dx - 4, dy - (-2)) == (0, 0, 0, 0)  # exactly, at 40 digits


def test_jacobian_shapes_follow_out_then_in():
    A = np.arange(6.0).reshape(2, 3)
    J = oracle.jacobian(lambda x: A @ x, np.ones(3))
    np.testing.assert_array_equal(J, A)
    J = oracle.jacobian(lambda X: X.T, np.ones((2, 3)))
    assert J.shape == (3, 2, 2, 3)
    assert J[2, 1, 1, 2] == 1 and J[2, 1, 0, 2] == 0


def test_hessian_is_exact_beyond_float64():
    H = oracle.hessian(lambda x: np.exp(x[0]) * np.sin(x[1]), np.array([0.1, 0.7]), exact=True)
    expected = sympy.exp(sympy.Float("0.1", 50)) * -sympy.sin(sympy.Float("0.7", 50))
    # x values are the float64 numbers nearest 0.1 and 0.7, so compare at float64 precision of the inputs
    assert abs(float(H[1, 1]) - float(expected)) < 1e-15
    assert H[0, 1] == H[1, 0]


def test_branches_are_decided_at_the_point():
    f = lambda x: np.where(x < 1, x ** 2, np.sqrt(x))
    J = oracle.jacobian(f, np.array([0.5, 4.0]))
    np.testing.assert_allclose(np.diag(J), [1.0, 0.25])
    J = oracle.jacobian(np.sort, np.array([3.0, 1.0, 2.0]))
    np.testing.assert_array_equal(J, [[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    J = oracle.jacobian(lambda x: np.max(x), np.array([1.0, 5.0, 5.0]))
    np.testing.assert_array_equal(J, [0, 0.5, 0.5])  # ties split evenly, as in both engines


def test_check_reports_every_engine_and_mode():
    report = oracle.check(lambda x: np.sum(np.tanh(x) ** 2), np.array([0.3, -1.2]), hessians=True)
    assert {"dualad.jacfwd", "revad.jacrev", "dualad.grad", "revad.grad",
            "dualad.jacfwd(revad.grad) (forward-over-reverse)"} <= set(report)
    assert max(report.values()) < 1e-12
    report = oracle.check(lambda x: np.tanh(x)[::-1], np.array([0.3, -1.2]))
    assert "revad.grad" not in report and max(report.values()) < 1e-12


def test_relative_error_sees_small_mistakes():
    exact = np.array([[1.0, 0.0], [2.0, -3.0]])
    assert oracle.relative_error(exact, exact) == 0
    assert oracle.relative_error(exact * 1.001, exact) > 5e-4
    assert oracle.relative_error(exact + np.array([[0, 1e-6], [0, 0]]), exact) > 1e-7
    assert oracle.relative_error(np.zeros(3), np.zeros(2)) == np.inf


def test_oracle_errors_are_clear():
    with pytest.raises(TypeError, match="scalar"):
        oracle.hessian(lambda x: x * 2, np.ones(2))
    with pytest.raises(TypeError, match="np.fft.fft"):
        oracle.jacobian(np.fft.fft, np.ones(2))
    with pytest.raises(ValueError, match="undefined|not real"):
        oracle.jacobian(np.sqrt, np.array([-1.0]))
