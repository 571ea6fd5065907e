"""Forward mode (dualad): operators, argument kinds, dtypes, chunking, long chains, nesting and error messages.

Every derivative is checked against the SymPy oracle, finite differences or a hand-derived formula, never
against a number computed the same way as the engine.
"""

import math

import numpy as np
import pytest
from engine_cases import A23, OPERATOR_CASES

import dualad
from compare import oracle

D = dualad.derivative
RNG = np.random.default_rng(20240611)


def close(actual, expected, tol=1e-11):
    err = oracle.relative_error(actual, expected)
    assert err < tol, f"relative error {err:.3g}\nactual:\n{actual}\nexpected:\n{expected}"


def fd_jvp(f, x, v, h=1e-6):
    """Central finite difference of f at x along v."""
    return (np.asarray(f(x + h * v)) - np.asarray(f(x - h * v))) / (2 * h)




@pytest.mark.parametrize("name,f,args", OPERATOR_CASES, ids=[c[0] for c in OPERATOR_CASES])
def test_operators_match_oracle(name, f, args):
    argnums = tuple(range(len(args)))
    close(dualad.jacfwd(f, argnums=argnums)(*args), oracle.jacobian(f, *args, argnums=argnums))


@pytest.mark.parametrize("name,f,args", OPERATOR_CASES[:12], ids=[c[0] for c in OPERATOR_CASES[:12]])
def test_jvp_matches_finite_differences(name, f, args):
    # <u, J v> with J from one jvp against a finite difference along v (the dot-product identity, forward side)
    v = tuple(RNG.normal(size=np.shape(a)) for a in args)
    out, t = dualad.jvp(f, args, v)
    np.testing.assert_allclose(out, f(*args), rtol=1e-14)
    h = 1e-6
    plus = f(*[a + h * d for a, d in zip(args, v)])
    minus = f(*[a - h * d for a, d in zip(args, v)])
    np.testing.assert_allclose(t, (plus - minus) / (2 * h), rtol=1e-6, atol=1e-7)


def test_comparisons_return_plain_bool_arrays():
    seen = {}

    def f(x, y):
        seen["lt"] = x < y
        seen["le"] = x <= 0.5
        seen["gt"] = 0.5 > x  # reflected
        seen["ge"] = x >= y
        seen["eq"] = x == x
        seen["ne"] = x != y
        seen["scalar"] = x[0] > x[1]
        return x * y

    x, y = np.array([0.2, 0.9, 0.5]), np.array([0.3, 0.1, 0.5])
    dualad.jvp(f, (x, y), (np.ones(3), np.ones(3)))
    for key in ("lt", "le", "gt", "ge", "eq", "ne"):
        assert type(seen[key]) is np.ndarray and seen[key].dtype == bool, key
    np.testing.assert_array_equal(seen["lt"], [True, False, False])
    np.testing.assert_array_equal(seen["le"], [True, False, True])
    np.testing.assert_array_equal(seen["gt"], [True, False, False])
    np.testing.assert_array_equal(seen["ge"], [False, True, True])
    assert seen["eq"].all() and list(seen["ne"]) == [True, True, False]
    assert isinstance(seen["scalar"], (bool, np.bool_)) and not seen["scalar"]


def test_python_control_flow_on_comparisons():
    def f(x):
        return x**2 if x > 0 else -x

    assert D(f)(3.0) == 6.0
    assert D(f)(-3.0) == -1.0


def test_shape_attributes_and_len():
    seen = {}

    def f(x):
        seen.update(shape=x.shape, ndim=x.ndim, size=x.size, len=len(x), T=x.T.shape, dtype=x.dtype,
                    r=x.reshape(6).shape, rows=[r.shape for r in x])
        return x

    dualad.jvp(f, (A23,), (np.ones((2, 3)),))
    assert seen == dict(shape=(2, 3), ndim=2, size=6, len=2, T=(3, 2), dtype=np.float64, r=(6,),
                        rows=[(3,), (3,)])
    with pytest.raises(TypeError):
        dualad.jvp(lambda x: len(x), (1.0,), (1.0,))


# ---- argument kinds -------------------------------------------------------------------------------------
def test_float_input():
    assert D(lambda x: x**3)(2.0) == 12.0
    g = dualad.grad(lambda x: np.sin(x) * x)(0.7)
    assert np.shape(g) == ()
    assert math.isclose(float(g), math.cos(0.7) * 0.7 + math.sin(0.7), rel_tol=1e-14)
    j = dualad.jacfwd(lambda x: np.stack([x, x**2]))(3.0)
    np.testing.assert_allclose(j, [1.0, 6.0])


def test_int_inputs_promote_to_float64():
    d = D(lambda x: x**3)(2)
    assert d == 12.0 and np.asarray(d).dtype == np.float64
    j = dualad.jacfwd(np.sin)(np.arange(3))
    assert j.dtype == np.float64
    np.testing.assert_allclose(j, np.diag(np.cos(np.arange(3.0))), rtol=1e-15)
    out, t = dualad.jvp(lambda x: x / 2, (np.array([1, 3]),), (np.array([1, 1]),))
    assert out.dtype == t.dtype == np.float64
    np.testing.assert_array_equal(out, [0.5, 1.5])
    np.testing.assert_array_equal(t, [0.5, 0.5])


def _params_loss(p):
    return np.sum(np.tanh(p["W"] @ p["x"] + p["b"]) ** 2)


def test_dict_of_arrays():
    p = {"W": RNG.normal(size=(2, 3)), "x": RNG.normal(size=3), "b": RNG.normal(size=2)}
    g = dualad.grad(_params_loss)(p)
    assert isinstance(g, dict) and list(g) == ["W", "x", "b"]
    expected = oracle.jacobian(_params_loss, p)
    for k in p:
        assert g[k].shape == p[k].shape
        close(g[k], expected[k])


@pytest.mark.parametrize("kind", [tuple, list])
def test_tuple_and_list_of_arrays(kind):
    def f(pair):
        a, b = pair
        return np.sin(a) * b[:, None]

    pair = kind([RNG.normal(size=(3,)), RNG.normal(size=(2,))])
    j = dualad.jacfwd(f)(pair)
    assert type(j) is kind and j[0].shape == (2, 3, 3) and j[1].shape == (2, 3, 2)
    close(j, oracle.jacobian(f, pair))


def test_argnums_tuple_and_negative():
    def f(a, b, c):
        return np.sum(a * b**2 * np.exp(c))

    a, b, c = RNG.normal(size=2), RNG.normal(size=2), 0.3
    ga, gc = dualad.grad(f, argnums=(0, 2))(a, b, c)
    ea, ec = oracle.jacobian(f, a, b, c, argnums=(0, 2))
    close(ga, ea)
    close(gc, ec)
    close(dualad.grad(f, argnums=-2)(a, b, c), oracle.jacobian(f, a, b, c, argnums=1))
    with pytest.raises(ValueError):
        dualad.grad(f, argnums=3)(a, b, c)


def test_jvp_with_structured_primals():
    def f(p, s):
        return p["u"] * s[0] + np.sum(p["v"]) * s[1]

    p = {"u": np.array([1.0, 2.0]), "v": np.array([3.0, 4.0, 5.0])}
    s = (2.0, -1.0)
    tp = {"u": np.array([1.0, 0.0]), "v": np.array([0.0, 1.0, 0.0])}
    ts = (0.5, 2.0)
    out, t = dualad.jvp(f, (p, s), (tp, ts))
    np.testing.assert_allclose(out, [2.0 - 12.0, 4.0 - 12.0])
    # d = du * s0 + u * ds0 + sum(dv) * s1 + sum(v) * ds1
    np.testing.assert_allclose(t, np.array([1.0, 0.0]) * 2 + p["u"] * 0.5 - 1.0 + 12.0 * 2.0)


def test_multiple_outputs_tuple_and_dict():
    def f(x):
        return {"s": np.sum(x**2), "v": (np.sin(x), x[0] * 2.0)}

    x = RNG.normal(size=3)
    j = dualad.jacfwd(f)(x)
    e = oracle.jacobian(f, x)
    assert set(j) == {"s", "v"} and isinstance(j["v"], tuple)
    close(j, e)


def test_output_independent_of_input_gives_zeros():
    j = dualad.jacfwd(lambda x: np.ones(2))(np.ones(3))
    np.testing.assert_array_equal(j, np.zeros((2, 3)))
    assert D(lambda x: 5.0)(1.0) == 0.0


# ---- dtypes ----------------------------------------------------------------------------------------------
def test_float32_in_float32_out():
    x32 = np.array([0.3, -1.2, 2.0], dtype=np.float32)

    def f(x):
        return np.tanh(x) * 2.0 + x**2 / 3 - 1

    out, t = dualad.jvp(f, (x32,), (np.ones(3, dtype=np.float32),))
    assert out.dtype == np.float32 and t.dtype == np.float32
    j = dualad.jacfwd(f)(x32)
    assert j.dtype == np.float32
    g = dualad.grad(lambda x: np.sum(f(x)))(x32)
    assert g.dtype == np.float32
    d = D(lambda x: x**3)(np.float32(2.0))
    assert np.asarray(d).dtype == np.float32 and d == 12
    x64 = x32.astype(np.float64)
    np.testing.assert_allclose(j, oracle.jacobian(f, x64), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out, f(x64), rtol=1e-6)
    h = dualad.hessian(lambda x: np.sum(f(x)))(x32)
    assert h.dtype == np.float32
    np.testing.assert_allclose(h, oracle.hessian(lambda x: np.sum(f(x)), x64), rtol=1e-5, atol=1e-6)


# ---- chunking --------------------------------------------------------------------------------------------
W57 = RNG.normal(size=(5, 7))


def _dense(x):
    return np.tanh(W57 @ x) * np.cumsum(x)[:5] + np.prod(x[:3])


def test_chunked_equals_unchunked_every_chunk_size():
    x = RNG.normal(size=7)
    full = dualad.jacfwd(_dense)(x)
    close(full, oracle.jacobian(_dense, x))
    for k in range(1, 9):
        np.testing.assert_allclose(dualad.jacfwd(_dense, chunk_size=k)(x), full, rtol=1e-13, atol=1e-15)


def test_chunks_spanning_several_arguments():
    def f(a, B, c):
        return np.sin(a @ B) * c

    a, B, c = RNG.normal(size=3), RNG.normal(size=(3, 2)), 1.5
    argnums = (0, 1, 2)
    expected = oracle.jacobian(f, a, B, c, argnums=argnums)
    n = 3 + 6 + 1
    for k in range(1, n + 1):
        close(dualad.jacfwd(f, argnums=argnums, chunk_size=k)(a, B, c), expected)
    scalar = lambda a, B, c: np.sum(f(a, B, c))
    expected_g = oracle.jacobian(scalar, a, B, c, argnums=argnums)
    for k in (1, 4, 10):
        close(dualad.grad(scalar, argnums=argnums, chunk_size=k)(a, B, c), expected_g)


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_bad_chunk_size(bad):
    with pytest.raises(ValueError, match="chunk_size"):
        dualad.jacfwd(np.sin, chunk_size=bad)(np.ones(3))


# ---- long chains -----------------------------------------------------------------------------------------
def test_100000_op_chain():
    n = 100_000

    def chain(x):
        for _ in range(n):
            x = np.sin(x)
        return x

    # the chain rule by hand: product of cos along the trajectory
    x, slope = 0.5, 1.0
    for _ in range(n):
        slope *= math.cos(x)
        x = math.sin(x)
    d = D(chain)(0.5)
    assert math.isclose(float(d), slope, rel_tol=1e-9)


# ---- nesting and perturbation confusion --------------------------------------------------------------------
def test_perturbation_confusion_classic():
    # ForwardDiff.jl issue 83: the inner function closes over the outer variable
    assert D(lambda x: x * D(lambda y: x + y)(1.0))(1.0) == 1.0
    # d/dx [x * d/dy (x y)] = d/dx x^2 = 2x
    assert D(lambda x: x * D(lambda y: x * y)(1.0))(4.0) == 8.0


def test_perturbation_confusion_inner_not_closing_over_outer():
    assert D(lambda x: x * D(lambda y: y**2)(1.0))(1.0) == 2.0
    z = 3
    assert math.isclose(float(D(lambda x: x / D(lambda y: y**z)(1.0))(1.0)), 1 / 3, rel_tol=1e-15)


def test_perturbation_confusion_gradient_of_norm():
    # gradient(v -> sum(v) * D(y -> y * norm(v), 1)) = norm(v) + sum(v) v / norm(v)
    def f(v):
        return np.sum(v) * D(lambda y: y * np.linalg.norm(v))(1.0)

    np.testing.assert_allclose(dualad.grad(f)(np.array([1.0])), [2.0])
    v = np.array([1.0, -2.0, 0.5])
    nv = np.linalg.norm(v)
    np.testing.assert_allclose(dualad.grad(f)(v), nv + np.sum(v) * v / nv, rtol=1e-14)


def test_sibling_inner_derivatives():
    # two inner derivative calls in one outer call: D_y(x y) = x and D_y(x y^2)|_{y=3} = 6x, product 6x^2
    def f(x):
        return D(lambda y: x * y)(2.0) * D(lambda y: x * y * y)(3.0)

    assert D(f)(1.5) == 18.0
    # the same inner function object called for two different outer values
    inner = lambda a: D(lambda y: a * np.sin(y))(0.0)
    assert D(lambda x: inner(x) * inner(2 * x))(3.0) == 12.0


def test_derivative_of_function_returning_closure():
    make = lambda x: (lambda y: x * y)
    assert D(lambda x: D(make(x))(2.0))(3.0) == 1.0
    # mixed partial of sin(x y): cos(xy) - xy sin(xy)
    g = lambda x: (lambda y: np.sin(x * y))
    got = D(lambda y: D(lambda x: g(x)(y))(0.5))(2.0)
    assert math.isclose(float(got), math.cos(1.0) - math.sin(1.0), rel_tol=1e-14)
    # the inner derivative evaluated at the outer variable itself: d/dx [d/dy (x y^2)]_{y=x} = d/dx 2x^2 = 4x
    assert D(lambda x: D(lambda y: x * y**2)(x))(3.0) == 12.0


def test_perturbation_confusion_state_mutated_by_inner_calls():
    # ForwardDiff.jl issue 443: the inner function rebinds the captured outer variable (x = x * y) and is
    # differentiated twice; the outer function's value is x * 1 * 1 = x, so the answer is 1
    def outer(x):
        cell = [x]

        def f(y):
            cell[0] = cell[0] * y
            return cell[0]

        D(f)(1.0)
        return D(f)(1.0)

    assert D(outer)(1.0) == 1.0
    assert D(outer)(5.0) == 1.0


def test_third_derivative_by_nesting():
    got = D(D(D(lambda x: np.sin(x) * x)))(0.3)
    # (x sin x)''' = -3 sin x - x cos x
    assert math.isclose(float(got), -3 * math.sin(0.3) - 0.3 * math.cos(0.3), rel_tol=1e-13)


def test_hessian_matches_oracle():
    def f(x):
        return np.sum(np.tanh(x[:2] @ np.ones((2, 3)) * x[1:]) ** 2) + np.log(np.sum(x**2))

    x = np.array([0.3, -0.7, 1.1, 0.4])
    close(dualad.hessian(f)(x), oracle.hessian(f, x), tol=1e-10)


def test_hessian_2d_input_shape():
    f = lambda X: np.sum(X[0] * X[1] ** 2)
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    h = dualad.hessian(f)(X)
    assert h.shape == (2, 2, 2, 2)
    close(h.reshape(4, 4), oracle.hessian(lambda v: f(v.reshape(2, 2)), X.ravel()))


# ---- strong zero -----------------------------------------------------------------------------------------
def test_strong_zero_where():
    assert D(lambda x: np.where(x < 1, x, np.sqrt(x)))(0.0) == 1.0
    j = dualad.jacfwd(lambda x: np.where(x < 1, x, np.sqrt(x)))(np.array([0.0, 4.0]))
    np.testing.assert_array_equal(j, [[1.0, 0.0], [0.0, 0.25]])


def test_strong_zero_zero_tangent_through_infinite_partial():
    # d/dy [sqrt(x) y] at x = 0 is sqrt(0) = 0; the x tangent is exactly 0, so sqrt'(0) = inf must not give NaN
    out, t = dualad.jvp(lambda x, y: np.sqrt(x) * y, (0.0, 2.0), (0.0, 1.0))
    assert t == 0.0
    j = dualad.jacfwd(lambda v: np.sqrt(v[0]) * v[1])(np.array([0.0, 2.0]))
    assert j[1] == 0.0 and j[0] == np.inf


# ---- errors ----------------------------------------------------------------------------------------------
def test_unknown_numpy_function_raises_type_error():
    with pytest.raises(TypeError, match=r"(?s)fft.*dualad"):
        dualad.jacfwd(lambda x: np.fft.fft(x))(np.ones(4))


def test_tangent_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)|\(3,\).*\(2,\)") as info:
        dualad.jvp(np.sin, (np.ones(3),), (np.ones(2),))
    assert "(2,)" in str(info.value) and "(3,)" in str(info.value)


def test_jvp_argument_errors():
    with pytest.raises(TypeError):
        dualad.jvp(np.sin, np.ones(3), np.ones(3))
    with pytest.raises(ValueError):
        dualad.jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))


def test_item_assignment_raises_type_error():
    def f(x):
        x[0] = 1.0
        return x

    with pytest.raises(TypeError, match="assignment"):
        dualad.jacfwd(f)(np.ones(3))


def test_float_of_dual_raises_type_error():
    with pytest.raises(TypeError):
        D(lambda x: float(x))(1.0)
    with pytest.raises(TypeError):
        D(lambda x: math.sin(x))(1.0)


def test_np_array_of_duals_points_to_stack():
    with pytest.raises(TypeError, match="np.stack"):
        dualad.jacfwd(lambda x: np.array([x[0], x[1]]))(np.ones(2))
    # and the suggested fix works
    np.testing.assert_array_equal(dualad.jacfwd(lambda x: np.stack([x[1], x[0]]))(np.ones(2)), [[0, 1], [1, 0]])


def test_grad_of_non_scalar_raises():
    with pytest.raises((TypeError, ValueError), match=r"\(3,\)"):
        dualad.grad(lambda x: x * 2)(np.ones(3))


def test_derivative_needs_scalar_input():
    with pytest.raises(ValueError):
        D(np.sin)(np.ones(2))


def test_bad_inputs():
    with pytest.raises(TypeError):
        dualad.jacfwd(np.sin)(np.array([True, False]))
    with pytest.raises(TypeError):
        dualad.jacfwd(np.sin)(np.array([1 + 1j]))
    with pytest.raises(TypeError):
        dualad.jacfwd(lambda x: "text")(1.0)


def test_out_argument_rejected():
    with pytest.raises(TypeError, match="out"):
        dualad.jacfwd(lambda x: np.sin(x, out=np.empty(2)))(np.ones(2))


def test_fd_dot_product_identity_random_map():
    W = RNG.normal(size=(4, 5))

    def f(x):
        return np.log1p(np.exp(W @ np.tanh(x))) * x[:4]

    x, v, u = RNG.normal(size=5), RNG.normal(size=5), RNG.normal(size=4)
    _, jv = dualad.jvp(f, (x,), (v,))
    assert math.isclose(float(u @ jv), float(u @ fd_jvp(f, x, v)), rel_tol=1e-7, abs_tol=1e-8)
    close(u @ dualad.jacfwd(f)(x) @ v, u @ jv, tol=1e-12)
