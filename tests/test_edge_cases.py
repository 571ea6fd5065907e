"""Regressions from review: each case once gave a wrong answer, a crash or an unclear error."""

from __future__ import annotations

import numpy as np
import pytest

import dualad
import revad
from compare import oracle

rng = np.random.default_rng(11)


def test_dict_tangents_and_cotangents_match_by_key_not_order():
    f = lambda p: p["a"] * 10 + p["b"]
    _, t = dualad.jvp(f, ({"a": 1.0, "b": 2.0},), ({"b": 1.0, "a": 0.0},))
    assert float(t) == 1.0
    _, pullback = revad.vjp(lambda x: {"a": x, "b": 2 * x}, np.ones(2))
    (g,) = pullback({"b": np.ones(2), "a": np.zeros(2)})
    np.testing.assert_array_equal(g, [2.0, 2.0])
    g = revad.grad(lambda p: p["z"] * p["a"])({"z": 3.0, "a": 2.0})
    assert list(g) == ["z", "a"] and float(g["z"]) == 2.0  # the caller's key order comes back


def test_mismatched_structures_are_rejected():
    with pytest.raises(ValueError, match="structure"):
        dualad.jvp(lambda p: p["a"] * p["b"], ({"a": 1.0, "b": 2.0},), ({"a": 1.0, "c": 0.0},))
    _, pullback = revad.vjp(lambda x: {"a": x}, np.ones(2))
    with pytest.raises(ValueError, match="structure"):
        pullback({"b": np.ones(2)})


@pytest.mark.parametrize("argnums", [(0, 0), "a", 0.0, (), True])
def test_bad_argnums_are_rejected(argnums):
    a = np.ones(2)
    for transform in (revad.grad, dualad.grad, revad.jacrev, dualad.jacfwd):
        with pytest.raises((TypeError, ValueError), match="argnums"):
            transform(lambda x, y: np.sum(x * y), argnums=argnums)(a, a)


def test_non_callable_and_bad_chunk_size_fail_at_once():
    for transform in (revad.grad, dualad.grad, revad.jacrev, dualad.jacfwd, revad.value_and_grad):
        with pytest.raises(TypeError, match="function"):
            transform(3.0)
    for chunk in (0, True, 1.5):
        with pytest.raises(ValueError, match="chunk_size"):
            revad.jacrev(np.sin, chunk_size=chunk)(np.ones(2))
        with pytest.raises(ValueError, match="chunk_size"):
            dualad.jacfwd(np.sin, chunk_size=chunk)(np.ones(2))


def test_keyword_arguments_pass_through_undifferentiated():
    f = lambda x, scale=1.0: np.sum(np.sin(x)) * scale
    x = np.array([0.1, 0.2])
    np.testing.assert_allclose(revad.grad(f)(x, scale=3.0), 3 * np.cos(x))
    np.testing.assert_allclose(dualad.grad(f)(x, scale=3.0), 3 * np.cos(x))
    np.testing.assert_allclose(revad.hessian(f)(x, scale=2.0), np.diag(-2 * np.sin(x)))


def test_solve_forward_rule_with_different_ranks():
    f = lambda x: np.sum(np.linalg.solve(x.reshape(2, 2) + 3 * np.eye(2), x[:2]) ** 2)
    x = rng.normal(size=4)
    exact = oracle.hessian(f, x)
    assert oracle.relative_error(dualad.hessian(f)(x), exact) < 1e-12
    assert oracle.relative_error(dualad.hessian(f, chunk_size=2)(x), exact) < 1e-12
    B = rng.random((3, 2, 1))
    g = lambda m: np.linalg.solve(m.reshape(2, 2) + 3 * np.eye(2), B)
    assert oracle.relative_error(dualad.jacfwd(g, chunk_size=1)(x), oracle.jacobian(g, x)) < 1e-12
    A = rng.random((3, 2, 2)) + 3 * np.eye(2)
    h = lambda b: np.linalg.solve(A, b)
    assert oracle.relative_error(dualad.jacfwd(h)(x[:2]), oracle.jacobian(h, x[:2])) < 1e-12


def test_polynomial_through_x_to_the_zero_at_zero():
    f = lambda x: np.sum(np.array([1.0, 2.0, 3.0, 4.0]) * x ** np.arange(4))
    assert float(revad.grad(f)(0.0)) == 2.0
    assert float(dualad.grad(f)(0.0)) == 2.0
    assert float(oracle.jacobian(f, 0.0)) == 2.0


def test_integer_casts_are_constants_in_every_engine():
    f = lambda x: np.sum(x.astype(np.int64) * x)
    x = np.array([1.5, 2.5])
    for g in (dualad.grad(f)(x), revad.grad(f)(x), oracle.jacobian(f, x)):
        np.testing.assert_array_equal(g, [1.0, 2.0])


def test_oracle_hessian_of_several_and_nested_inputs():
    f = lambda p: p["a"] ** 3 * p["b"]
    h = oracle.hessian(f, {"a": 1.0, "b": 2.0})
    r = revad.hessian(f)({"a": 1.0, "b": 2.0})
    for i in "ab":
        for j in "ab":
            assert float(h[i][j]) == float(r[i][j])
    g = lambda x, y: np.sum(np.tanh(x) * y ** 2)
    x, y = np.array([0.3, 0.5]), np.array([1.0, -2.0])
    report = oracle.check(g, x, y, argnums=(0, 1), hessians=True)
    assert "revad.hessian (reverse-over-reverse)" in report and max(report.values()) < 1e-12


def test_oracle_handles_clip_with_traced_bounds_and_stacked_solve():
    M0 = np.array([[0.3, -1.2], [0.7, 0.4]])
    g = lambda x: np.clip(x.reshape(2, 2) * M0, x[:2] * 0.5, 2 + x[2:].reshape(2, 1))
    x = np.array([-0.2, 0.9, 0.4, -0.5])
    exact = oracle.jacobian(g, x)
    assert oracle.relative_error(dualad.jacfwd(g)(x), exact) < 1e-12
    assert oracle.relative_error(revad.jacrev(g)(x), exact) < 1e-12
    A = rng.random((3, 2, 2)) + 3 * np.eye(2)
    s = lambda a: np.linalg.solve(a, np.ones(2))
    assert oracle.relative_error(revad.jacrev(s)(A), oracle.jacobian(s, A)) < 1e-12


def test_norm_ord_zero_counts_nonzeros_with_no_derivative():
    x = np.array([1.0, 0.0, 2.0])
    np.testing.assert_array_equal(revad.grad(lambda x: np.linalg.norm(x, 0) * np.sum(x))(x), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(dualad.grad(lambda x: np.linalg.norm(x, 0))(x), [0.0, 0.0, 0.0])


def test_float32_inputs_get_float32_gradients_even_through_float64_constants():
    x = np.ones(3, dtype=np.float32)
    c = np.arange(3.0)  # float64
    for grad in (revad.grad, dualad.grad):
        g = grad(lambda x: np.sum(x * c))(x)
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, c.astype(np.float32))


def test_in_place_operators_get_a_clear_error():
    def f(x):
        z = np.zeros(2)
        z += x
        return np.sum(z)

    for grad in (revad.grad, dualad.grad):
        with pytest.raises(TypeError, match="in-place"):
            grad(f)(np.ones(2))


def test_trace_names_must_fit_the_arguments():
    with pytest.raises(ValueError, match="names"):
        revad.trace(lambda a, b: a * b, 1.0, 2.0, names=["u"])
    with pytest.raises(ValueError, match="names"):
        revad.trace(lambda a, b: a * b, 1.0, 2.0, names=["u", "u"])


def test_has_aux_returns_the_auxiliary_output_without_tracing():
    def loss(w, x):
        pred = np.tanh(w @ x)
        return np.sum(pred ** 2), {"pred": pred, "n": 3}

    w, x = rng.normal(size=(2, 3)), rng.normal(size=3)
    exact = oracle.jacobian(lambda w: loss(w, x)[0], w)
    (value, aux), g = revad.value_and_grad(loss, has_aux=True)(w, x)
    assert oracle.relative_error(g, exact) < 1e-12
    assert type(aux["pred"]) is np.ndarray and aux["n"] == 3
    np.testing.assert_allclose(aux["pred"], np.tanh(w @ x))
    for grad in (revad.grad, dualad.grad):
        g, aux = grad(loss, has_aux=True)(w, x)
        assert oracle.relative_error(g, exact) < 1e-12 and type(aux["pred"]) is np.ndarray
    for jac in (revad.jacrev, dualad.jacfwd):
        J, aux = jac(lambda w: (np.tanh(w @ x), w.shape), has_aux=True)(w)
        assert J.shape == (2, 2, 3) and aux == (2, 3)
    with pytest.raises(TypeError, match="pair"):
        revad.grad(lambda w: np.sum(w), has_aux=True)(w)


def test_einsum_cotangent_sums_over_broadcast_axes():
    B = np.arange(24.0).reshape(4, 3, 2)
    for f, a in ((lambda a: np.sum(np.einsum("...i,...i->...", a, np.ones((4, 3)))), np.ones((1, 3))),
                 (lambda a: np.sum(np.einsum("ij,ij->ij", a, np.ones((4, 3))) ** 2), rng.normal(size=(1, 3)))):
        g = revad.grad(f)(a)
        assert g.shape == a.shape
        assert oracle.relative_error(g, oracle.jacobian(f, a)) < 1e-12
    f = lambda a: np.einsum("...ij,...jk->...ik", a, B)
    a = rng.normal(size=(1, 2, 3))
    assert oracle.relative_error(revad.jacrev(f)(a), dualad.jacfwd(f)(a)) < 1e-12


def test_checkpoint_over_a_closure_asks_for_the_value_as_an_argument():
    x = np.array([0.3, -0.5])
    with pytest.raises(TypeError, match="argument"):
        revad.grad(lambda x: np.sum(revad.checkpoint(lambda z: z * x)(x)))(x)
    g = revad.grad(lambda x: np.sum(revad.checkpoint(lambda z, w: z * w)(x, x)))(x)
    np.testing.assert_allclose(g, 2 * x)
    g = revad.grad(lambda x: np.sum(revad.checkpoint(lambda z, k=2.0: z * k)(x, k=3.0)))(x)
    np.testing.assert_allclose(g, [3.0, 3.0])


def test_small_api_corners():
    assert float(dualad.derivative(lambda x, s=1.0: x ** 3 * s)(2.0, s=3.0)) == 36.0
    assert isinstance(dualad.derivative(lambda x: x ** 3)(2.0), np.ndarray)
    f = lambda x: np.roll(x, (1, -1), axis=(0, 2))
    x = rng.normal(size=(2, 3, 2))
    assert oracle.relative_error(revad.jacrev(f)(x), oracle.jacobian(f, x)) < 1e-12
    np.testing.assert_array_equal(revad.grad(lambda x: np.sum(x.round() * x))(np.array([0.4, 1.6])), [0.0, 2.0])
    np.testing.assert_array_equal(revad.grad(lambda x: np.sum(x % 2.0))(np.ones(2)), [1.0, 1.0])


def test_unique_values_carry_their_first_occurrences_derivative():
    # np.unique was answered from the primal with no derivative: sum(unique(x) * w) had gradient 0 (JAX gives 0 too)
    x = np.array([2.0, 1.0, 2.0, 3.0, 1.0])
    w = np.array([1.0, 2.0, 3.0])
    f = lambda x: np.sum(np.unique(x) * w)
    expected = np.array([2.0, 1.0, 0.0, 3.0, 0.0])  # the first 1.0 and the first 2.0 carry the values
    for engine in (revad, dualad):
        np.testing.assert_array_equal(engine.grad(f)(x), expected)
    h = 1e-6  # away from ties, finite differences agree
    y = np.array([0.3, -1.2, 2.5])
    fd = [(f(y + h * e) - f(y - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(revad.grad(f)(y), fd, rtol=1e-8)
    # the integer results are NumPy's, and axis= gathers whole rows
    got = revad.value_and_grad(lambda x: np.sum(np.unique(x, return_index=True, return_inverse=True,
                                                           return_counts=True)[0]))(x)
    assert got[0] == 6.0
    values, index, inverse, counts = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    seen = []
    revad.grad(lambda x: seen.append(np.unique(x, return_index=True, return_inverse=True, return_counts=True)[1:])
                or np.sum(x))(x)
    for a, b in zip(seen[0], (index, inverse, counts)):
        np.testing.assert_array_equal(a, b)
    rows = np.array([[1.0, 2.0], [0.5, 0.1], [1.0, 2.0]])
    g = revad.grad(lambda r: np.sum(np.unique(r, axis=0) * np.array([[1.0], [10.0]])))(rows)
    np.testing.assert_array_equal(g, [[10.0, 10.0], [1.0, 1.0], [0.0, 0.0]])
