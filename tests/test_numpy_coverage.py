"""The NumPy options and idioms programs ported from autograd or jax.numpy use, in both engines: values against
NumPy, derivatives against finite differences (and each other), second order where a rule is new, and the errors
that give the rewrite where no rule can exist. The functions themselves are covered record by record in
``test_ops.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sc

import adops.nn
import dualad
import revad
from compare import oracle

RNG = np.random.default_rng(12)
X34 = RNG.normal(size=(3, 4))
X234 = RNG.normal(size=(2, 3, 4))
V5 = RNG.normal(size=5)


def numeric_jacobian(f, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    out = np.asarray(f(x))
    jac = np.zeros(out.shape + x.shape)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        jac[(...,) + i] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h)
    return jac


def agrees(f, x, tol=1e-7):
    """f's value is NumPy's, and both engines' Jacobians match finite differences and each other."""
    expected = np.asarray(f(x))
    fwd, rev = dualad.jacfwd(f)(x), revad.jacrev(f)(x)
    np.testing.assert_allclose(fwd, rev, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fwd, numeric_jacobian(f, x), rtol=tol, atol=tol)
    out, _ = dualad.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("f,x", [
    (lambda x: np.diagonal(x), X234),  # NumPy's default axes 0 and 1 on 3-D input
    (lambda x: np.diagonal(x, 1, axis1=2, axis2=0), X234),
    (lambda x: np.pad(x, ((1, 2), (3, 1)), mode="reflect"), X34),
    (lambda x: np.pad(x, 2, mode="symmetric"), V5),
    (lambda x: np.pad(x, (1, 3), mode="edge"), V5),
    (lambda x: np.pad(x, 7, mode="wrap"), V5),
    (lambda x: np.reshape(x, (4, 3), order="F"), X34),
    (lambda x: x.reshape(2, 6, order="F") ** 2, X34),
    (lambda x: np.ravel(x, order="F"), X34),
    (lambda x: x.flatten("F"), X34),
    (lambda x: np.take(x, [-3, 9, 2], mode="clip"), V5),
    (lambda x: np.take(x, [-3, 9], axis=1, mode="wrap"), X34),
    (lambda x: np.diff(x, prepend=0.0, append=[1.0, 2.0]), V5),
    (lambda x: np.diff(x, axis=0, prepend=x[:1]), X34),
    (lambda x: np.sum(x, axis=1, where=np.array([True, False, True, True])), X34),
    (lambda x: np.mean(x, axis=0, where=X34 > 0), X34),
    (lambda x: np.prod(x, axis=1, initial=2.0), X34),
    (lambda x: np.max(x, axis=0, where=X34 > 0, initial=-5.0), X34),
    (lambda x: np.sum(x, dtype=np.float64, initial=1.5), X34),
    (lambda x: np.einsum(x, [0, 1], x, [2, 1], [0, 2]), X34),
    (lambda x: np.einsum(x, [Ellipsis, 1], [1, Ellipsis]), X234),
    (lambda x: np.quantile(x, [0.25, 0.9], axis=1), X34),
    (lambda x: np.maximum.accumulate(x, axis=1), X34),
    (lambda x: np.subtract.reduceat(x, [0, 2, 1, 4]), V5),
    (lambda x: np.interp(np.linspace(-2, 2, 7), [-1.5, 0.0, 0.5, 1.5], x[:4]), V5),
    (lambda x: np.interp(x, [-1.5, 0.0, 0.5, 1.5], [1.0, -1.0, 2.0, 0.5]), V5),
    (lambda x: np.gradient(x, 0.5, axis=0, edge_order=2), X34),
    (lambda x: np.linspace(x[0], x[1], 6), V5),
])
def test_options_and_functions_match_numpy_and_finite_differences(f, x):
    agrees(f, x)


def test_an_option_without_a_rule_says_which_options_have_one():
    for call, needle in ((lambda x: np.pad(x, 1, mode="mean"), "'constant', 'edge'"),
                         (lambda x: np.percentile(x, 50, method="weibull"), "method='weibull'"),
                         (lambda x: np.sum(x, dtype=np.int64), "no derivative"),
                         (lambda x: np.cross(x[:2], x[2:4]), "3-component"),
                         (lambda x: np.interp(x, [0.0, 1.0], [0.0, 1.0], period=1.0), "period")):
        for engine in (dualad.jacfwd, revad.jacrev):
            with pytest.raises((TypeError, ValueError), match=needle):
                engine(call)(V5)


@pytest.mark.parametrize("f,x", [
    (np.sinc, np.array([1e-3, 0.4, -1.7])),  # the Taylor branch near 0 is exact at second order
    (sc.erf, V5), (sc.erfinv, np.array([-0.5, 0.0, 0.3])), (sc.gammaln, np.array([0.5, 2.0, 7.5])),
    (sc.digamma, np.array([0.5, 2.0])), (sc.log_ndtr, np.array([-3.0, 0.0, 2.0])),
    (np.i0, np.array([0.0, 0.7, -2.0])), (sc.i1, np.array([0.0, 0.7, -2.0])),
    (lambda x: sc.xlogy(x, x * x + 1), V5), (lambda x: np.median(x * x), V5),
    (lambda x: np.cov(np.reshape(x, (2, 3)))[0, 1], RNG.normal(size=6)),
    (lambda x: np.convolve(x, x[:3], "same"), V5),
])
def test_second_derivatives_in_all_four_nestings_match_the_oracle(f, x):
    def total(v):
        return np.sum(f(v))

    exact = oracle.hessian(total, x)
    for hess in (revad.hessian(total), dualad.hessian(total), dualad.jacfwd(revad.grad(total)),
                 revad.jacrev(dualad.grad(total))):
        np.testing.assert_allclose(hess(x), exact, rtol=1e-9, atol=1e-9)


def test_sinc_at_zero_has_its_limits():
    for hess in (revad.hessian(lambda v: np.sum(np.sinc(v))), dualad.hessian(lambda v: np.sum(np.sinc(v)))):
        np.testing.assert_allclose(hess(np.zeros(1)), [[-np.pi ** 2 / 3]], rtol=1e-14)
    assert revad.grad(lambda v: np.sum(np.sinc(v)))(np.zeros(1))[0] == 0


def test_new_functions_keep_float32():
    x = V5.astype(np.float32)
    for f in (np.median, lambda v: np.sum(np.sinc(v)), lambda v: np.sum(np.pad(v, 2, mode="reflect")),
              lambda v: np.sum(sc.erf(v)), lambda v: np.trapezoid(v), lambda v: np.nanmean(v)):
        for grad in (revad.grad, dualad.grad):
            assert grad(f)(x).dtype == np.float32


@pytest.mark.parametrize("grad", [revad.grad, dualad.grad])
@pytest.mark.parametrize("shape", [(1,), (1, 1)])
def test_grad_of_a_one_element_output_is_the_gradient(grad, shape):
    x = np.array([0.3, -1.2, 2.0])

    def f(v):
        return np.reshape(np.sum(np.sin(v) * v), shape)

    np.testing.assert_allclose(grad(f)(x), np.sin(x) + x * np.cos(x), rtol=1e-14)
    with pytest.raises(TypeError, match=r"scalar \(or a one-element array\), got output shape\(s\) \(3,\)"):
        grad(lambda v: v * 2)(x)


def test_hessian_of_a_one_element_output():
    def f(v):
        return np.sum(v ** 3, keepdims=True)

    x = np.array([1.0, -2.0])
    np.testing.assert_allclose(revad.hessian(f)(x), np.diag(6 * x))
    np.testing.assert_allclose(dualad.hessian(f)(x), np.diag(6 * x))


@pytest.mark.parametrize("engine", [revad.grad, dualad.grad])
@pytest.mark.parametrize("f,called,rewrite", [
    (lambda x: np.mean([x[0], x[1]]), "np.mean(...)", "np.mean(np.stack("),
    (lambda x: np.sum([x[0], x[1]]), "np.sum(...)", "np.sum(np.stack("),
    (lambda x: np.sum(np.array([x[0], x[1]])), "np.array", "np.stack(["),
    (lambda x: np.sum(np.r_[x, x]), "np.r_[a, b]", "np.concatenate([a, b])"),
    (lambda x: np.sum(np.c_[x, x]), "np.c_[a, b]", "np.column_stack([a, b])"),
    (lambda x: np.sum(np.append([x[0], x[1]], x)), "np.append(...)", "np.append(np.stack("),
    (lambda x: np.sum(np.full(3, x[0])), "np.full(shape, x)", "np.broadcast_to(x, shape)"),
    (lambda x: sc.logsumexp(x), "scipy.special.logsumexp(x)", "adops.nn.logsumexp"),
    (lambda x: sc.softmax(x)[0], "scipy.special.softmax(x)", "adops.nn.softmax"),
    (lambda x: math.sin(x[0]), "math.sin(x)", "np.sin(x)"),
    (lambda x: np.sum(np.vectorize(lambda a: 2 * a)(x)), "np.vectorize(g)(x)", "np.stack([g(xi) for xi in x])"),
])
def test_conversions_name_the_call_and_give_the_rewrite(engine, f, called, rewrite):
    with pytest.raises(TypeError) as info:
        engine(f)(np.array([0.5, 1.5]))
    message = str(info.value)
    assert called in message and rewrite in message, message
    assert "test_numpy_coverage.py" in message  # the user's line


@pytest.mark.parametrize("engine", [revad.grad, dualad.grad])
def test_writing_into_a_plain_array_says_what_to_write(engine):
    def f(x):
        y = np.zeros(3)
        y[0] = x[0]
        return np.sum(y)

    # NumPy replaces the error of the float conversion with its own; ours is its cause, printed above it
    with pytest.raises(ValueError, match="setting an array element") as info:
        engine(f)(np.array([0.5, 1.5]))
    assert "np.where(mask, value, y)" in str(info.value.__cause__)


def test_the_rewrites_work():
    x = np.array([0.5, 1.5])
    np.testing.assert_allclose(revad.grad(lambda v: np.mean(np.stack([v[0], v[1]])))(x), [0.5, 0.5])
    np.testing.assert_allclose(dualad.grad(lambda v: np.sum(np.broadcast_to(v[0], (3,))))(x), [3.0, 0.0])
    np.testing.assert_allclose(revad.grad(lambda v: adops.nn.logsumexp(v))(x), sc.softmax(x))


def test_ufunc_methods_without_a_rule_say_so():
    with pytest.raises(TypeError, match="np.power.reduce"):
        revad.grad(lambda v: np.power.reduce(v))(V5)
    with pytest.raises(TypeError, match="in place"):
        revad.grad(lambda v: np.add.at(v, [0], 1.0))(V5)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("la,lv", [(2, 3), (2, 6), (4, 5), (4, 6), (5, 4), (3, 3), (1, 4)])
def test_correlate_windows_match_numpy_whichever_operand_is_longer(la, lv, mode):
    # NumPy swaps the operands when v is longer and reverses the result, so 'same' is centred differently
    rng = np.random.default_rng(la * 10 + lv)
    a, v = rng.normal(size=la), rng.normal(size=lv)
    expected = np.correlate(a, v, mode)
    for jac in (dualad.jacfwd, revad.jacrev):
        value, _ = dualad.jvp(lambda a: np.correlate(a, v, mode), (a,), (np.ones(la),))
        np.testing.assert_allclose(value, expected, rtol=1e-13)
        J = jac(lambda a: np.correlate(a, v, mode))(a)
        fd = np.stack([np.correlate(e, v, mode) for e in np.eye(la)], axis=1)  # linear in a
        np.testing.assert_allclose(J, fd, rtol=1e-13, atol=1e-15)
