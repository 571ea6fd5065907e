"""The convention table at non-differentiable points, strong zeros, and numerically stable forms: the same
answer from both engines (and, where it is defined, from the SymPy oracle)."""

import numpy as np
import pytest

import adops.nn as nn
import dualad
import revad
from compare import oracle

ENGINES = {
    "forward": dict(jac=dualad.jacfwd, grad=dualad.grad, d=dualad.derivative, hessian=dualad.hessian),
    "reverse": dict(jac=revad.jacrev, grad=revad.grad, d=revad.grad, hessian=revad.hessian),
}
HESSIANS = {
    "forward-over-forward": dualad.hessian,
    "reverse-over-reverse": revad.hessian,
    "forward-over-reverse": lambda f: dualad.jacfwd(revad.grad(f)),
    "reverse-over-forward": lambda f: revad.jacrev(dualad.grad(f)),
}


def both(kind, f, *args, **kw):
    """The derivative from each engine; asserts they are identical and returns the forward one."""
    fwd = ENGINES["forward"][kind](f, **kw)(*args)
    rev = ENGINES["reverse"][kind](f, **kw)(*args)
    pairs = zip(fwd, rev) if isinstance(fwd, tuple) else [(fwd, rev)]
    for a, b in pairs:
        np.testing.assert_array_equal(a, b)
        assert np.shape(a) == np.shape(b)
    return fwd


# ---- kinks -----------------------------------------------------------------------------------------------
def test_abs_and_relu_at_zero():
    x = np.array([-1.5, 0.0, 0.7])
    np.testing.assert_array_equal(both("jac", np.abs, x), np.diag([-1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(both("jac", lambda x: abs(x), x), np.diag([-1.0, 0.0, 1.0]))
    np.testing.assert_array_equal(both("jac", nn.relu, x), np.diag([0.0, 0.0, 1.0]))
    assert both("d", np.abs, 0.0) == 0.0
    assert both("d", nn.relu, 0.0) == 0.0


@pytest.mark.parametrize("fn", [np.sign, np.floor, np.ceil, np.round, np.rint, np.trunc, np.around],
                         ids=lambda f: f.__name__)
def test_piecewise_constant_have_zero_derivative(fn):
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.3, 2.0])
    j = both("jac", lambda x: fn(x) * x, x)
    # d(fn(x) x) = fn(x): the piecewise-constant factor contributes nothing, even at its jumps
    np.testing.assert_array_equal(j, np.diag(fn(x)))
    assert both("d", fn, 0.5) == 0.0


@pytest.mark.parametrize("fn", [np.maximum, np.fmax, np.minimum, np.fmin], ids=lambda f: f.__name__)
def test_binary_max_min_tie_split(fn):
    gx, gy = both("grad", lambda x, y: fn(x, y), 1.0, 1.0, argnums=(0, 1))
    assert (gx, gy) == (0.5, 0.5)
    gx, gy = both("grad", lambda x, y: fn(x, y), 2.0, 1.0, argnums=(0, 1))
    assert (gx, gy) == ((1.0, 0.0) if fn in (np.maximum, np.fmax) else (0.0, 1.0))
    # against a constant: the traced side keeps its half
    assert both("d", lambda x: fn(x, 0.0), 0.0) == 0.5
    # elementwise with broadcasting: ties only where equal
    x, y = np.array([1.0, 2.0, 3.0]), np.array(2.0)
    jx, jy = both("jac", lambda x, y: fn(x, y), x, y, argnums=(0, 1))
    win = (x > y) if fn in (np.maximum, np.fmax) else (x < y)
    share = win + 0.5 * (x == y)
    np.testing.assert_array_equal(jx, np.diag(share))
    np.testing.assert_array_equal(jy, 1.0 - share)


@pytest.mark.parametrize("reduce", [np.max, np.amax, lambda x, **k: x.max(**k), np.min, np.amin,
                                    lambda x, **k: x.min(**k)], ids=["max", "amax", "max_method", "min", "amin",
                                                                       "min_method"])
def test_reductions_split_evenly_among_ties(reduce):
    x = np.array([1.0, 3.0, 3.0, 2.0, 3.0])
    x = x if reduce(np.array([1.0, 2.0])) == 2.0 else -x
    g = both("grad", lambda x: reduce(x), x)
    np.testing.assert_array_equal(g, np.array([0, 1, 1, 0, 1]) / 3)
    np.testing.assert_array_equal(both("grad", lambda x: reduce(x), np.full(4, 2.0)), np.full(4, 0.25))
    X = np.array([[1.0, 2.0, 2.0], [3.0, 3.0, 3.0]])
    X = X if reduce(np.array([1.0, 2.0])) == 2.0 else -X
    J = both("jac", lambda X: reduce(X, axis=1), X)
    expected = np.zeros((2, 2, 3))
    expected[0, 0, 1:] = 0.5
    expected[1, 1, :] = 1 / 3
    np.testing.assert_array_equal(J, expected)
    Jk = both("jac", lambda X: reduce(X, axis=0, keepdims=True), X)
    assert Jk.shape == (1, 3, 2, 3)
    np.testing.assert_array_equal(Jk[0, 0], [[0, 0, 0], [1, 0, 0]])
    # the oracle applies the same table
    np.testing.assert_allclose(oracle.jacobian(lambda X: reduce(X, axis=1), X), expected, rtol=1e-15)


def test_maximum_reduce_ufunc_method():
    x = np.array([2.0, 5.0, 5.0])
    np.testing.assert_array_equal(both("grad", lambda x: np.maximum.reduce(x), x), [0, 0.5, 0.5])


def test_clip_zero_at_bounds():
    x = np.array([-1.0, 0.0, 1.0, 2.0, -3.0])
    np.testing.assert_array_equal(both("jac", lambda x: np.clip(x, -1.0, 1.0), x), np.diag([0, 1.0, 0, 0, 0]))
    np.testing.assert_array_equal(both("jac", lambda x: x.clip(-1.0, 1.0), x), np.diag([0, 1.0, 0, 0, 0]))
    np.testing.assert_array_equal(both("jac", lambda x: np.clip(x, None, 1.0), x), np.diag([1.0, 1, 0, 0, 1]))
    # with respect to the bounds: d/dx + d/dlo + d/dhi = 1 everywhere (clip(x+t, lo+t, hi+t) = clip(x, lo, hi) + t),
    # so at a tie with a bound the derivative x does not get goes to the bound
    lo, hi = np.full(5, -1.0), np.full(5, 1.0)
    jx, jlo, jhi = both("jac", np.clip, x, lo, hi, argnums=(0, 1, 2))
    np.testing.assert_array_equal(np.diag(jx), [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(jx + jlo + jhi, np.eye(5))
    exact = oracle.jacobian(np.clip, x, lo, hi, argnums=(0, 1, 2))
    for got, e in zip((jx, jlo, jhi), exact):
        np.testing.assert_array_equal(got, e)
    glo, ghi = both("grad", lambda lo, hi: np.sum(np.clip(x, lo, hi)), -1.0, 1.0, argnums=(0, 1))
    assert glo + ghi + 1.0 == 5.0  # the one interior point moves with x only


def test_conventions_in_second_derivatives():
    # the second derivative of |x| at 0 and of relu at 0 is 0; a tie in max gives each side half of the Hessian
    for h in HESSIANS.values():
        np.testing.assert_array_equal(h(lambda x: np.sum(np.abs(x) * x))(np.array([0.0, 2.0])),
                                      np.diag([0.0, 2.0]))
        np.testing.assert_array_equal(h(lambda x: np.max(x) ** 2)(np.array([1.0, 1.0])),
                                      np.full((2, 2), 0.5))


# ---- strong zero -----------------------------------------------------------------------------------------
# (function, a point where its partial derivative is infinite)
SINGULAR = {
    "sqrt": (np.sqrt, 0.0),
    "cbrt": (np.cbrt, 0.0),
    "log": (np.log, 0.0),
    "log2": (np.log2, 0.0),
    "log10": (np.log10, 0.0),
    "log1p": (np.log1p, -1.0),
    "reciprocal": (np.reciprocal, 0.0),
    "divide": (lambda x: 1.0 / x, 0.0),
    "power_half": (lambda x: x**0.5, 0.0),
    "power_1.5": (lambda x: x**1.5 * 2.0, 0.0),
    "arcsin": (np.arcsin, 1.0),
    "arccos": (np.arccos, 1.0),
    "arctanh": (np.arctanh, 1.0),
    "arccosh": (np.arccosh, 1.0),
    "hypot": (lambda x: np.hypot(x, 0.0), 0.0),
}


def _regular(name, p):
    """A point near p inside the function's domain."""
    return p - 0.5 if name in ("arcsin", "arccos", "arctanh") else p + 0.5


def _behind_where(f, p):
    return lambda x: np.where(x == p, x, f(x))


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("name", list(SINGULAR))
def test_strong_zero_behind_where(name, engine):
    f, p = SINGULAR[name]
    g = _behind_where(f, p)
    e = ENGINES[engine]
    with np.errstate(all="ignore"):  # the unused branch is evaluated at its singular point
        assert e["d"](g)(np.float64(p)) == 1.0
        j = e["jac"](g)(np.array([p, _regular(name, p)]))
    assert j[0, 0] == 1.0 and j[0, 1] == 0.0 and j[1, 0] == 0.0
    regular = oracle.jacobian(f, np.array([_regular(name, p)]))
    np.testing.assert_allclose(j[1, 1], regular[0, 0], rtol=1e-13)


@pytest.mark.parametrize("nesting", list(HESSIANS))
@pytest.mark.parametrize("name", list(SINGULAR))
def test_strong_zero_in_second_derivatives(name, nesting):
    f, p = SINGULAR[name]
    g = _behind_where(f, p)
    with np.errstate(all="ignore"):
        h = HESSIANS[nesting](lambda x: np.sum(g(x)))(np.array([p, _regular(name, p)]))
    assert h[0, 0] == 0.0 and h[0, 1] == 0.0 and h[1, 0] == 0.0
    exact = oracle.hessian(lambda x: np.sum(f(x)), np.array([_regular(name, p)]))
    np.testing.assert_allclose(h[1, 1], exact[0, 0], rtol=1e-12)


@pytest.mark.parametrize("nesting", list(HESSIANS))
def test_strong_zero_power_with_traced_exponent(nesting):
    # d/dx and d/dy of where(x == 0, x + y, x ** y) at (0, 1.5) are 1 and 1; the Hessian is 0
    f = lambda v: np.where(v[0] == 0, v[0] + v[1], v[0] ** v[1])
    v = np.array([0.0, 1.5])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(dualad.grad(f)(v), [1.0, 1.0])
        np.testing.assert_array_equal(revad.grad(f)(v), [1.0, 1.0])
        h = HESSIANS[nesting](f)(v)
    np.testing.assert_array_equal(h, np.zeros((2, 2)))


@pytest.mark.parametrize("name", ["sqrt", "cbrt", "power_half", "arcsin", "arccos", "arccosh", "log", "reciprocal"])
def test_forward_zero_tangent_through_infinite_partial(name):
    # d/dy [f(x) y] = f(x): the x tangent is exactly 0, so f'(p) = inf must contribute 0, not NaN
    f, p = SINGULAR[name]
    with np.errstate(all="ignore"):
        _, t = dualad.jvp(lambda x, y: f(x) * y, (np.float64(p), 2.0), (0.0, 1.0))
        expected = f(np.float64(p))
    assert t == expected
    # reverse: the cotangent of f(x) is exactly 0 when f(x) is multiplied by a zero constant
    with np.errstate(all="ignore"):
        assert revad.grad(lambda x: f(x) * 0.0 + x)(np.float64(p)) == 1.0


def test_seed_strong_zero_example():
    g = lambda x: np.where(x < 1, x, np.sqrt(x))
    assert dualad.derivative(g)(0.0) == 1.0
    assert revad.grad(g)(0.0) == 1.0


# ---- numerically stable forms at |x| = 1000 -----------------------------------------------------------------
X_BIG = np.array([1000.0, -1000.0, 999.0, 0.5])
STABLE = {
    "logsumexp": lambda x: nn.logsumexp(x),
    "logsumexp_axis": lambda x: nn.logsumexp(x.reshape(2, 2), axis=0),
    "softmax": lambda x: nn.softmax(x),
    "log_softmax": lambda x: nn.log_softmax(x),
    "log_softmax_axis0": lambda x: nn.log_softmax(x.reshape(2, 2), axis=0),
    "sigmoid": lambda x: nn.sigmoid(x),
    "softplus": lambda x: nn.softplus(x),
    "logaddexp": lambda x: np.logaddexp(x, x[::-1]),
    "logaddexp_const": lambda x: np.logaddexp(x, 1000.0),
    "logaddexp2": lambda x: np.logaddexp2(x, 0.5 * x[::-1]),
}


@pytest.mark.parametrize("name", list(STABLE))
def test_stable_forms_at_magnitude_1000(name):
    f = STABLE[name]
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # (underflow to 0 is fine)
        value = f(X_BIG)
        jf = dualad.jacfwd(f)(X_BIG)
        jr = revad.jacrev(f)(X_BIG)
        out, t = dualad.jvp(f, (X_BIG,), (np.ones(4),))
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(jf)) and np.all(np.isfinite(jr))
    np.testing.assert_allclose(value, oracle.value(f, X_BIG), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(out, value, rtol=1e-15)
    exact = oracle.jacobian(f, X_BIG)
    np.testing.assert_allclose(jf, exact, rtol=1e-12, atol=1e-30)  # (the oracle has ~40 digits)
    np.testing.assert_allclose(jr, exact, rtol=1e-12, atol=1e-30)


@pytest.mark.parametrize("name", ["logsumexp", "softmax", "log_softmax", "sigmoid", "softplus", "logaddexp"])
def test_stable_forms_second_derivatives_at_magnitude_1000(name):
    f = STABLE[name]
    scalar = lambda x: np.sum(f(x) * np.array([1.0, -2.0, 0.5, 3.0])[: np.size(f(x))].reshape(np.shape(f(x))))
    exact = oracle.hessian(scalar, X_BIG)
    for nesting, h in HESSIANS.items():
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            got = h(scalar)(X_BIG)
        np.testing.assert_allclose(got, exact, rtol=1e-10, atol=1e-13, err_msg=nesting)


def test_stable_forms_float32():
    x = X_BIG.astype(np.float32)
    for name, f in STABLE.items():
        with np.errstate(over="raise", invalid="raise"):
            value, j = f(x), revad.jacrev(f)(x)
            jf = dualad.jacfwd(f)(x)
        assert value.dtype == np.float32 and j.dtype == np.float32 and jf.dtype == np.float32, name
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(j)) and np.all(np.isfinite(jf)), name


# ---- domain edges: one convention, both engines, every nesting ------------------------------------------
# (first derivative, second derivative) at the edge: the one-sided limit of the formula, which is what the
# registry's partials give; a product of an infinite derivative and an exact zero is 0 (strong zero), whichever
# op forms it, so forward and reverse agree
EDGES = {
    "sqrt at 0": (np.sqrt, 0.0, np.inf, -np.inf),
    "x ** 0.5 at 0": (lambda x: x ** 0.5, 0.0, np.inf, -np.inf),
    "x ** 1.5 at 0": (lambda x: x ** 1.5, 0.0, 0.0, np.inf),
    "log at 0": (np.log, 0.0, np.inf, -np.inf),
    "log2 at 0": (np.log2, 0.0, np.inf, -np.inf),
    "log10 at 0": (np.log10, 0.0, np.inf, -np.inf),
    "log1p at -1": (np.log1p, -1.0, np.inf, -np.inf),
    "reciprocal at 0": (np.reciprocal, 0.0, -np.inf, np.inf),
    "1 / x at 0": (lambda x: 1.0 / x, 0.0, -np.inf, np.inf),
    "arcsin at 1": (np.arcsin, 1.0, np.inf, np.inf),
    "arcsin at -1": (np.arcsin, -1.0, np.inf, -np.inf),
    "arccos at 1": (np.arccos, 1.0, -np.inf, -np.inf),
    "arccos at -1": (np.arccos, -1.0, -np.inf, np.inf),
    "arctanh at 1": (np.arctanh, 1.0, np.inf, np.inf),
    "arctanh at -1": (np.arctanh, -1.0, np.inf, -np.inf),
    "arccosh at 1": (np.arccosh, 1.0, np.inf, -np.inf),
    "cbrt at 0": (np.cbrt, 0.0, np.inf, 0.0),
    "hypot(x, 0) at 0": (lambda x: np.hypot(x, 0.0), 0.0, 0.0, 0.0),
    "norm at 0": (lambda x: np.linalg.norm(np.stack([x, 2 * x])), 0.0, 0.0, 0.0),
    "3-norm at 0": (lambda x: np.linalg.norm(np.stack([x, 2 * x]), ord=3), 0.0, 0.0, 0.0),
    "std of equal entries": (lambda x: np.std(np.stack([x, np.float64(1.0)])), 1.0, 0.0, 0.0),
    "sqrt(x * x) at 0": (lambda x: np.sqrt(x * x), 0.0, 0.0, np.inf),
    "x * log(x) at 0": (lambda x: x * np.log(x), 0.0, -np.inf, np.inf),
}
FIRST = {"forward": dualad.derivative, "reverse": revad.grad}
SECOND = {"forward-over-forward": lambda f: dualad.derivative(dualad.derivative(f)),
          "reverse-over-reverse": lambda f: revad.grad(revad.grad(f)),
          "forward-over-reverse": lambda f: dualad.derivative(revad.grad(f)),
          "reverse-over-forward": lambda f: revad.grad(dualad.derivative(f))}


@pytest.mark.parametrize("order,how", [(1, k) for k in FIRST] + [(2, k) for k in SECOND])
@pytest.mark.parametrize("edge", list(EDGES))
def test_domain_edges_follow_one_convention(edge, order, how):
    f, p, first, second = EDGES[edge]
    derivative = FIRST[how](f) if order == 1 else SECOND[how](f)
    with np.errstate(all="ignore"):
        got = float(derivative(np.float64(p)))
    assert got == (first if order == 1 else second), f"{edge}, {how}: {got}"


@pytest.mark.parametrize("engine", list(ENGINES))
def test_norms_and_std_at_zero_in_arrays(engine):
    # the minimum-norm subgradient (0) where the norm is 0, the usual gradient elsewhere, row by row
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    g = ENGINES[engine]["grad"](lambda x: np.sum(np.linalg.norm(x, axis=1)))(x)
    np.testing.assert_allclose(g, [[0.0, 0.0], [0.6, 0.8]], rtol=1e-15, atol=0)
    g = ENGINES[engine]["grad"](lambda x: np.sum(np.std(x, axis=1)))(np.array([[2.0, 2.0], [1.0, 3.0]]))
    np.testing.assert_allclose(g, [[0.0, 0.0], [-0.5, 0.5]], rtol=1e-15, atol=0)


def test_log_of_sum_of_underflowed_exps_agrees_across_modes():
    # NumPy's value is -inf (exp underflows to 0); both modes give the same gradient, 0 (0 * inf = 0). The stable
    # forms nn.logsumexp and np.logaddexp.reduce give the true gradient, 1/2 each.
    x = np.array([-1000.0, -1000.0])
    with np.errstate(all="ignore"):
        g = both("grad", lambda x: np.log(np.sum(np.exp(x))), x)
    np.testing.assert_array_equal(g, [0.0, 0.0])
    np.testing.assert_array_equal(both("grad", nn.logsumexp, x), [0.5, 0.5])


def test_an_infinity_inside_a_nested_derivative_meets_zeros_strongly():
    # the inner gradient's infinity is formed at the outer level too: every nesting must see it the same way
    f = lambda x: np.sqrt(x * x)
    with np.errstate(all="ignore"):
        assert float(revad.grad(f)(0.0)) == 0.0
        assert float(dualad.jvp(revad.grad(f), (0.0,), (1.0,))[0]) == 0.0
        assert float(revad.vjp(revad.grad(f), 0.0)[0]) == 0.0
        assert float(revad.vjp(dualad.derivative(lambda x: x * np.sqrt(x)), 0.0)[0]) == 0.0
        g = lambda x: np.sqrt(x[0] * x[0]) + np.sum(np.sqrt(x[1:] * x[1:])) + x[1] ** 2
        x = np.array([0.0, 1.0, 0.0])
        expected = np.array([[np.inf, 0, 0], [0, 2, 0], [0, 0, np.inf]])
        for nesting, hessian in HESSIANS.items():
            np.testing.assert_array_equal(hessian(g)(x), expected, err_msg=nesting)


@pytest.mark.parametrize("inner", ["revad.grad", "dualad.grad", "revad.checkpoint"])
def test_an_unrelated_inner_call_keeps_the_outer_infinity(inner):
    # sqrt's infinite derivative at 0 meets the zero partial of `s * 0.0` after an inner transformation ran; the inner
    # call used to clear the strong-zero flag, so forward mode gave 0 * inf = nan where reverse mode gave 4
    run = {"revad.grad": lambda: revad.grad(lambda y: y * y)(np.array(2.0)),
           "dualad.grad": lambda: dualad.grad(lambda y: y * y)(np.array(2.0)),
           "revad.checkpoint": lambda: revad.checkpoint(lambda y: y * y)(np.array(2.0))}[inner]

    def f(x):
        s = np.sqrt(x)
        inner = run()  # (between the infinity and the product that meets it)
        return s * 0.0 + x * inner

    with np.errstate(all="ignore"):
        for engine in (revad, dualad):
            assert float(engine.grad(f)(np.array(0.0))) == 4.0, engine.__name__
        for nesting, hessian in HESSIANS.items():
            assert float(hessian(f)(np.array(0.0))) == 0.0, nesting
