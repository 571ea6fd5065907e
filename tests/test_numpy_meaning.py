"""A traced function computes what the same NumPy code computes (values, shapes, defaults, aliasing), or refuses
with a clear error: each construct of issue 10 in both engines, against NumPy's value, the oracle and finite
differences, and under nesting where it is a derivative question."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.special

import adops.trees
import dualad
import revad
from compare import oracle

A = np.array([[1.0, 2.0], [3.0, 4.0]])
rng = np.random.default_rng(10)
X34 = rng.normal(size=(3, 4))
P34 = rng.uniform(0.5, 1.5, size=(3, 4))
V5 = rng.normal(size=5)
SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])


def fd_jacobian(f, x, h=1e-6):
    """Central differences, column by column: out.shape + x.shape."""
    x = np.asarray(x, dtype=float)
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        e = e.reshape(x.shape)
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    out_shape = np.shape(cols[0])
    return np.moveaxis(np.array(cols), 0, -1).reshape(out_shape + x.shape)


def agree(f, x, tol=1e-9, fd_tol=1e-6, hessians=False, use_oracle=True):
    """NumPy's value and shape in both engines; both Jacobians equal to the oracle's and to finite differences."""
    expected = np.asarray(f(x.copy()))
    for out in (dualad.jvp(f, (x.copy(),), (np.ones_like(x),))[0], revad.vjp(f, x.copy())[0]):
        assert np.shape(out) == expected.shape
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13)
    numeric = fd_jacobian(f, x)
    exact = oracle.jacobian(f, x) if use_oracle else numeric
    np.testing.assert_allclose(numeric, exact, rtol=fd_tol, atol=fd_tol)
    for jac in (dualad.jacfwd(f)(x.copy()), revad.jacrev(f)(x.copy())):
        assert oracle.relative_error(jac, exact) < (tol if use_oracle else fd_tol)
    if hessians:
        s = lambda x: np.sum(np.sin(f(x)))
        H = oracle.hessian(s, x)
        for h in (dualad.hessian(s)(x), revad.hessian(s)(x), dualad.jacfwd(revad.grad(s))(x),
                  revad.jacrev(dualad.grad(s))(x)):
            assert oracle.relative_error(h, H) < tol


def both_grads(f, x):
    return dualad.grad(f)(x.copy()), revad.grad(f)(x.copy())


# ---- ufunc methods follow NumPy's defaults ------------------------------------------------------------------------
def test_issue_example_add_reduce_is_axis_0():
    f = lambda x: np.sum(np.add.reduce(x) ** 2)
    assert f(A) == 52.0
    for g in both_grads(f, A):
        np.testing.assert_array_equal(g, [[8.0, 12.0], [8.0, 12.0]])


UFUNC_METHODS = [
    ("add.reduce", lambda x: np.add.reduce(x)),
    ("add.reduce axis=1 keepdims", lambda x: np.add.reduce(x, axis=1, keepdims=True)),
    ("add.reduce axis=None", lambda x: np.add.reduce(x, axis=None)),
    ("add.reduce initial", lambda x: np.add.reduce(x, initial=2.5)),
    ("add.reduce where", lambda x: np.add.reduce(x, axis=1, where=np.array([True, False, True, True]))),
    ("add.reduce dtype", lambda x: np.add.reduce(x, dtype=np.float64)),
    ("multiply.reduce", lambda x: np.multiply.reduce(x)),
    ("multiply.reduce initial where", lambda x: np.multiply.reduce(x, 1, initial=2.0,
                                                                   where=np.array([True, False, True, True]))),
    ("maximum.reduce", lambda x: np.maximum.reduce(x)),
    ("maximum.reduce where initial", lambda x: np.maximum.reduce(x, axis=0, initial=-0.1,
                                                                 where=np.array([[True], [False], [True]]))),
    ("minimum.reduce axis=1", lambda x: np.minimum.reduce(x, axis=1)),
    ("add.accumulate", lambda x: np.add.accumulate(x)),
    ("add.accumulate axis=1", lambda x: np.add.accumulate(x, axis=1)),
    ("multiply.accumulate", lambda x: np.multiply.accumulate(x)),
    ("add.outer", lambda x: np.add.outer(x[0], x[1:])),
    ("multiply.outer", lambda x: np.multiply.outer(x[:, 0], x)),
    ("subtract.outer", lambda x: np.subtract.outer(x[0], 1.5)),
]


@pytest.mark.parametrize("name,f", UFUNC_METHODS, ids=[c[0] for c in UFUNC_METHODS])
def test_ufunc_methods_match_numpy(name, f):
    agree(f, P34)


def test_ufunc_methods_nested():
    agree(lambda x: np.multiply.reduce(x) * np.add.accumulate(x)[-1], P34, hessians=True)


EMPTY_AND_0D = [
    ("maximum.reduce empty initial", lambda x: np.maximum.reduce(x[:0], initial=2.0) * x[0]),
    ("minimum.reduce empty initial", lambda x: np.minimum.reduce(x[:0], initial=-2.0) * x[0]),
    ("maximum.reduce axis=1 empty initial", lambda x: np.maximum.reduce(x[:, :0], axis=1, initial=0.5) + x[:, 0]),
    ("minimum.reduce empty axis kept", lambda x: np.minimum.reduce(x[:0], axis=1, initial=0.5, keepdims=True)),
    ("add.accumulate axis=None 1-d", lambda x: np.add.accumulate(x[0], axis=None)),
    ("add.reduce 0-d", lambda x: np.add.reduce(x[0, 0]) * x),
    ("multiply.reduce 0-d axis=None", lambda x: np.multiply.reduce(np.sum(x), axis=None)),
    ("maximum.reduce 0-d", lambda x: np.maximum.reduce(np.reshape(x[1, 1], ()))),
]


@pytest.mark.parametrize("name,f", EMPTY_AND_0D, ids=[c[0] for c in EMPTY_AND_0D])
def test_ufunc_methods_empty_and_0d_match_numpy(name, f):
    agree(f, P34, use_oracle=False)


@pytest.mark.parametrize("ufunc", [np.add, np.multiply, np.maximum, np.minimum])
def test_ufunc_reduce_initial_keeps_the_array_dtype(ufunc):
    x32 = P34.astype(np.float32)
    for kw in ({"initial": np.float64(1.0)}, {"initial": np.float64(1.0), "where": np.array([True, False, True, True])},
               {"initial": 1.0, "axis": 1}):
        f = lambda x: ufunc.reduce(x, **kw)
        expected = f(x32)
        assert expected.dtype == np.float32
        for out in (dualad.jvp(f, (x32,), (np.ones_like(x32),))[0], revad.vjp(f, x32)[0]):
            assert out.dtype == np.float32
            np.testing.assert_allclose(out, expected, rtol=1e-6)  # (initial comes last: rounding may differ)
        for g in both_grads(lambda x: np.sum(f(x)), x32):
            assert g.dtype == np.float32


@pytest.mark.parametrize("call,match", [
    (lambda x: np.power.reduceat(x, [0, 2]), "np.power.reduceat"),
    (lambda x: np.add.at(x, [0, 1], 1.0), r"np.add.at\(a, indices, b\) writes into a in place"),
    (lambda x: np.arctan2.reduce(x), "np.arctan2.reduce has no"),
    (lambda x: np.maximum.reduce(x, where=np.array([True, False, True, True])), "initial"),
    (lambda x: np.add.reduce(x, dtype=np.int64), "dtype=int64"),
    (lambda x: np.add.reduce(x, out=np.zeros(4)), "out="),
])
def test_ufunc_methods_refused_clearly(call, match):
    for transform in (dualad.grad, revad.grad):
        with pytest.raises((TypeError, ValueError), match=match):
            transform(lambda x: np.sum(call(x)))(P34.copy())


# ---- bools in an index --------------------------------------------------------------------------------------------
BOOL_INDICES = [True, False, np.array(True), np.array(False), np.True_, (Ellipsis, True), (Ellipsis, False),
                ([0, 2], True), (True, [1, 2]), (0, True, 1), (slice(None), True, [1, 2]), (True, True),
                (None, True), (True, 0), (X34 > 0, True)]


@pytest.mark.parametrize("index", BOOL_INDICES, ids=[repr(i) for i in range(len(BOOL_INDICES))])
def test_bool_scalars_in_an_index(index):
    agree(lambda x: x[index] * x[index], X34)


@pytest.mark.parametrize("index", [True, False, np.array(True), (Ellipsis, True), (None, False)])
def test_bool_scalars_index_0d(index):
    x = np.array(1.5)
    agree(lambda x: x[index] ** 3, x)
    g = [np.sum(x[index]) * 0 + 3 * 1.5**2 if np.size(x[index]) else 0.0]
    for grad in both_grads(lambda x: np.sum(x[index] ** 3), x):
        assert np.shape(grad) == () and float(grad) == g[0]


def test_issue_example_bool_gradient_shape():
    for g in both_grads(lambda v: np.sum(v[True] ** 2), A):
        np.testing.assert_array_equal(g, 2 * A)
    np.testing.assert_array_equal(revad.jacrev(lambda v: v[True])(A), dualad.jacfwd(lambda v: v[True])(A))
    assert revad.jacrev(lambda v: v[True])(A).shape == (1, 2, 2, 2, 2)


# ---- complex values are refused -----------------------------------------------------------------------------------
@pytest.mark.parametrize("f", [lambda x: np.abs(x * (1 + 2j)) ** 2, lambda x: np.abs(x * (1 + 1j)),
                               lambda x: np.sum(np.abs(np.exp(1j * x))), lambda x: np.abs(x + np.array([1j]))],
                         ids=["mul", "abs", "exp", "array"])
def test_complex_constants_are_refused(f):
    for transform in (dualad.grad, revad.grad, dualad.derivative):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no ComplexWarning on the way: the error comes first
            with pytest.raises(TypeError, match="complex"):
                transform(f)(1.0)


# ---- in-place operators: NumPy's aliasing -------------------------------------------------------------------------
def test_issue_example_alias_sees_in_place_change():
    def f(x):
        y = x
        y += 1
        return np.sum(x * x)

    x = np.array([1.0, 2.0, 3.0])
    assert f(x.copy()) == 29.0
    agree(f, x, hessians=True)
    for g in both_grads(f, x):
        np.testing.assert_allclose(g, 2 * (x + 1))


IN_PLACE = [
    ("all operators", lambda x: _chain(x)),
    ("accumulator loop", lambda x: _accumulate(x)),
    ("scalar rebinds", lambda x: _scalar_alias(x)),
    ("0-d array aliases", lambda x: _zero_d_alias(x)),
    ("copy is independent", lambda x: _copy_independent(x)),
    ("+x is a copy", lambda x: _pos_independent(x)),
    ("matmul", lambda x: _imatmul(x)),
]


def _chain(x):
    y = x * 1.0
    z = y
    y += x
    y -= 0.5
    y *= x
    y /= 2.0
    y **= 2
    y %= 3.0
    return z + x


def _accumulate(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += np.sin(x[i])
    return s


def _scalar_alias(x):
    s = np.sum(x)  # a NumPy scalar: immutable, so += rebinds and t keeps the old value
    t = s
    s += 1.0
    return s * t


def _zero_d_alias(x):
    s = np.reshape(np.sum(x), ())  # a 0-d array (not a scalar): += changes the array, so t sees it
    t = s
    s += x[0]
    return s * t


def _copy_independent(x):
    y = x.copy()
    y += 1
    z = np.copy(x)
    z *= 2
    return x + y + z


def _pos_independent(x):
    y = +x
    y += 1
    return x * y


def _imatmul(x):
    m = np.reshape(x[:4], (2, 2)) * 1.0
    m @= np.array([[1.0, 2.0], [0.5, -1.0]])
    return m


@pytest.mark.parametrize("name,f", IN_PLACE, ids=[c[0] for c in IN_PLACE])
def test_in_place_operators(name, f):
    # the oracle holds every value as an array, so it cannot tell NumPy scalars (rebound by +=) from 0-d arrays
    agree(f, V5 + 3.0, use_oracle="0-d" not in name and "scalar" not in name)


def _loop_accumulate(x):
    s = x
    for _ in range(3):
        s += x ** 2
    return s


def _alias_then_use(x):
    y = x
    y += 1
    return x * y


def _scalar_derivatives(f, x):
    """Value, first and second derivative of f at x in every engine and nesting."""
    yield "jvp", dualad.jvp(f, (x,), (1.0,))[0], dualad.derivative(f)(x), dualad.hessian(f)(x)
    value, g = revad.value_and_grad(f)(x)
    yield "value_and_grad", value, g, revad.hessian(f)(x)
    yield "fwd-over-rev", revad.vjp(f, x)[0], dualad.grad(f)(x), dualad.jacfwd(revad.grad(f))(x)
    yield "rev-over-fwd", f(x) if not isinstance(x, np.ndarray) else f(x.copy()), revad.grad(f)(x), \
        revad.jacrev(dualad.grad(f))(x)


@pytest.mark.parametrize("f", [_loop_accumulate, _alias_then_use])
@pytest.mark.parametrize("x", [2.0, 2, np.float64(2.0), np.float32(2.0)], ids=["float", "int", "f64", "f32"])
def test_in_place_on_scalar_inputs_rebinds(f, x):
    # a Python or NumPy scalar is immutable: s += ... rebinds s, as in NumPy and JAX (14 and 13 for the loop)
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    expected = f(x)
    d1 = float(jax.grad(f)(float(x)))
    d2 = float(jax.grad(jax.grad(f))(float(x)))
    assert (expected, d1) in ((14.0, 13.0), (6.0, 5.0))
    for name, value, g, h in _scalar_derivatives(f, x):
        assert float(value) == expected, name
        assert float(g) == d1 and float(h) == d2, name


@pytest.mark.parametrize("f,value,d1", [(_loop_accumulate, 1806.0, 5525.0), (_alias_then_use, 9.0, 6.0)])
def test_in_place_on_0d_array_inputs_mutates(f, value, d1):
    # a 0-d ndarray is mutable: s += ... changes x itself (every alias sees it), at every repetition, as in NumPy
    x = np.array(2.0)
    assert f(x.copy()) == value
    d2 = (fd := lambda h: (f(np.array(2.0 + h)) - 2 * f(np.array(2.0)) + f(np.array(2.0 - h))) / h**2)(1e-4)
    for name, v, g, h in _scalar_derivatives(f, x):
        assert float(v) == value and float(g) == d1, name
        np.testing.assert_allclose(float(h), d2, rtol=1e-5, err_msg=name)
        assert x == 2.0  # the engines never write into the caller's array
    assert fd(1e-4) == d2


def test_in_place_0d_array_stays_an_array():
    def f(x):
        s = np.copy(x)  # a 0-d array (np.reshape(x * 1.0, ()) would be a NumPy scalar)
        t = s
        for _ in range(3):
            s += x  # each update is seen by t: s stays the same 0-d array
        return t

    assert f(np.array(1.0)) == 4.0
    for out in (dualad.jvp(f, (np.array(1.0),), (np.array(1.0),))[0], revad.vjp(f, np.array(1.0))[0]):
        assert float(out) == 4.0 and isinstance(out, np.ndarray)
    for g in both_grads(f, np.array(1.0)):
        assert g == 4.0


def _astype_no_copy(x):
    y = x.astype(np.float64, copy=False)  # the same array in NumPy: += on y changes x
    y += 1.0
    z = x.astype(np.float64)  # a copy: += on z leaves x
    z *= 3.0
    return x * z


def test_astype_copy_false_is_the_array_itself():
    agree(_astype_no_copy, V5, use_oracle=False)
    for transform in (dualad.jacfwd, revad.jacrev):
        with pytest.raises(TypeError, match="according to the rule 'safe'"):
            transform(lambda x: x.astype(np.float32, casting="safe"))(V5)


def test_in_place_keeps_dtype_and_shape():
    x32 = np.array([1.0, 2.0], dtype=np.float32)

    def f(x):
        y = x * 1
        y += np.float64(0.5) * np.ones(2)
        return y

    assert dualad.jvp(f, (x32,), (np.ones(2, np.float32),))[0].dtype == np.float32
    assert revad.vjp(f, x32)[0].dtype == np.float32

    def grow(x):
        y = x * 1
        y += np.ones((2, 2))
        return y

    for transform in (dualad.jacfwd, revad.jacrev):
        with pytest.raises(ValueError, match="non-broadcastable output operand"):
            transform(grow)(np.ones(2))


@pytest.mark.parametrize("f", [
    lambda x: (lambda v: (v.__iadd__(1.0), x)[1])(x[0]),  # a view changed in place would change x
    lambda x: (lambda v: (x.__imul__(2.0), v)[1])(x[0]),  # x changed in place would change its view
    lambda x: (lambda v: (v.__isub__(1.0), x)[1])(x.T),
    lambda x: (lambda v: (v.__iadd__(1.0), x)[1])(np.reshape(x, -1)),
], ids=["view", "base", "transpose", "reshape"])
def test_in_place_on_views_is_refused(f):
    x = X34.copy()
    for transform in (dualad.jacfwd, revad.jacrev):
        with pytest.raises(TypeError, match="shares memory"):
            transform(f)(x)


def _temporary_view_times_two(x):
    m = x[0] * 2  # the view x[0] is gone once m is computed
    x += m
    return x


def _discarded_ravel_f(x):
    _ = np.ravel(x, order="F")
    x += 1
    return x * x


def _discarded_transpose(x):
    x.T  # noqa: B018 (computed and dropped)
    x += 1
    return x


def _view_deleted(x):
    v = x[1:]
    s = np.sum(v)
    del v
    x *= s
    return x


@pytest.mark.parametrize("f", [_temporary_view_times_two, _discarded_ravel_f, _discarded_transpose, _view_deleted])
def test_in_place_after_a_view_is_gone(f):
    agree(f, X34, use_oracle=False)


@pytest.mark.parametrize("f", [
    lambda x: (lambda v: (v.__iadd__(1.0), x)[1])(np.broadcast_to(x, (2, 3, 4))),
    lambda x: (lambda v: (v.__iadd__(1.0), x)[1])(np.diagonal(x)),
], ids=["broadcast_to", "diagonal"])
def test_in_place_on_read_only_views_is_numpys_error(f):
    with pytest.raises(ValueError, match="output array is read-only"):
        f(X34.copy())
    for transform in (dualad.jacfwd, revad.jacrev):
        with pytest.raises(ValueError, match="output array is read-only"):
            transform(f)(X34.copy())


def test_item_assignment_still_refused():
    def f(x):
        x[0] = 1.0
        return x

    def g(x):
        x[1] += 1.0
        return x

    for transform in (dualad.jacfwd, revad.jacrev):
        with pytest.raises(TypeError, match="item assignment"):
            transform(f)(V5)
        with pytest.raises(TypeError, match="item assignment"):
            transform(g)(V5)
        with pytest.raises(TypeError, match="item assignment|shares memory"):
            transform(g)(X34)


# ---- masked arrays and np.matrix ----------------------------------------------------------------------------------
@pytest.mark.parametrize("f,x", [
    (lambda x: np.sum(x * x), np.ma.array([1.0, 2.0, 3.0], mask=[False, True, False])),
    (lambda x: np.sum(x * x), np.matrix([[1.0, 2.0], [3.0, 4.0]])),
    (lambda x: np.sum(x * np.ma.array([1.0, 2.0], mask=[False, True])), np.ones(2)),
    (lambda x: np.sum(np.ma.array([1.0, 2.0], mask=[False, True]) * x), np.ones(2)),
    (lambda x: np.sum(np.add(x, np.ma.array([1.0, 2.0], mask=[False, True]))), np.ones(2)),
    (lambda x: np.sum(np.matrix([[1.0, 2.0], [3.0, 4.0]]) * x), np.ones((2, 2))),
    (lambda x: np.sum(x * np.matrix([[1.0, 2.0], [3.0, 4.0]])), np.ones((2, 2))),
    (lambda x: np.sum(np.concatenate([x, np.matrix([[1.0, 2.0]])])), np.ones((1, 2))),
], ids=["ma input", "matrix input", "ma const", "ma const left", "ma const add", "matrix const left",
        "matrix const", "matrix concatenate"])
def test_masked_and_matrix_refused(f, x):
    for transform in (dualad.grad, revad.grad):
        with pytest.raises(TypeError, match=r"np\.ma|np\.matrix"):
            transform(f)(x)


# ---- crashes where NumPy has an answer ----------------------------------------------------------------------------
@pytest.mark.parametrize("f", [lambda x: x / 0.0, lambda x: x / 0, lambda x: x / -0.0, lambda x: np.divide(x, 0)],
                         ids=["0.0", "0", "-0.0", "np.divide"])
def test_division_by_zero_is_inf(f):
    x = np.array([1.0, -2.0])
    with np.errstate(divide="ignore"):
        expected = f(x)
        for jac in (dualad.jacfwd(f)(x), revad.jacrev(f)(x)):
            np.testing.assert_array_equal(np.diag(jac), expected / x)  # d(x/0)/dx = 1/0: inf, signed
            np.testing.assert_array_equal(jac[0, 1], 0.0)
        np.testing.assert_array_equal(dualad.jvp(f, (x,), (np.ones(2),))[0], expected)


@pytest.mark.parametrize("fn", [np.var, np.std])
@pytest.mark.parametrize("ddof", [2, 3, 2.5])
def test_var_std_ddof_at_least_n(fn, ddof):
    x = np.array([1.0, 2.0])
    with pytest.warns(RuntimeWarning, match="Degrees of freedom"):
        expected = fn(x, ddof=ddof)
    for transform in (lambda f: dualad.jvp(f, (x,), (np.ones(2),))[0], lambda f: revad.vjp(f, x)[0]):
        with pytest.warns(RuntimeWarning, match="Degrees of freedom"), np.errstate(divide="ignore"):
            np.testing.assert_array_equal(transform(lambda x: fn(x, ddof=ddof)), expected)
    with pytest.warns(RuntimeWarning), np.errstate(all="ignore"):
        for g in both_grads(lambda x: fn(x, ddof=ddof), x):  # the function is +inf all around the point
            assert g.shape == (2,) and (fn is np.std or not np.isfinite(g).any())


@pytest.mark.parametrize("f", [lambda x: np.var(x, ddof=2), lambda x: np.var(x, ddof=3),
                               lambda x: np.var(x, ddof=2) * x],
                         ids=["var ddof=n", "var ddof>n", "var ddof=n times x"])
def test_modes_agree_where_the_derivative_does_not_exist(f):
    x = np.array([1.0, 2.0])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        jacs = [dualad.jacfwd(f)(x), revad.jacrev(f)(x)]
        s = lambda x: np.sum(f(x))
        grads = [dualad.grad(s)(x), revad.grad(s)(x), revad.vjp(s, x)[1](1.0)[0]]
        hessians = [dualad.hessian(s)(x), revad.hessian(s)(x), dualad.jacfwd(revad.grad(s))(x),
                    revad.jacrev(dualad.grad(s))(x)]
    for group in (jacs, grads, hessians):
        for other in group[1:]:
            np.testing.assert_array_equal(other, group[0])  # NaN where f's value is NaN or inf all around
    assert np.isnan(grads[0]).all()


def test_var_std_keywords_named_and_supported():
    x = V5
    agree(lambda x: np.std(x, mean=np.mean(x, keepdims=True)), x)
    agree(lambda x: np.var(x, correction=1), x)
    assert abs(revad.grad(lambda x: np.var(x, correction=1))(x) - 2 * (x - x.mean()) / 4).max() < 1e-14
    for transform in (dualad.grad, revad.grad):
        with pytest.raises(TypeError, match="np.std: argument"):
            transform(lambda x: np.std(x, where=x > 0))(x)


def test_det_gradient_at_a_singular_matrix_is_the_cofactor_matrix():
    for g in both_grads(np.linalg.det, SINGULAR):
        np.testing.assert_allclose(g, [[4.0, -2.0], [-2.0, 1.0]], atol=1e-15)
    B = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 1.0, 1.0]])
    cof = np.array([[-2.0, 4.0, -2.0], [1.0, -2.0, 1.0], [0.0, 0.0, 0.0]])  # (JAX gives the same)
    for g in both_grads(np.linalg.det, B):
        np.testing.assert_allclose(g, cof, atol=1e-14)
    np.testing.assert_allclose(oracle.jacobian(np.linalg.det, B), cof, atol=1e-14)
    H = oracle.hessian(np.linalg.det, SINGULAR)  # det is quadratic for 2x2: [[0,0,0,1],[0,0,-1,0],...]
    for h in (dualad.hessian(np.linalg.det)(SINGULAR), revad.hessian(np.linalg.det)(SINGULAR),
              dualad.jacfwd(revad.grad(np.linalg.det))(SINGULAR),
              revad.jacrev(dualad.grad(np.linalg.det))(SINGULAR)):
        np.testing.assert_allclose(h, H, atol=1e-14)
    stack = np.stack([SINGULAR, A])
    for jac in (dualad.jacfwd(np.linalg.det)(stack), revad.jacrev(np.linalg.det)(stack)):
        np.testing.assert_allclose(jac[0, 0], [[4.0, -2.0], [-2.0, 1.0]], atol=1e-15)
        np.testing.assert_allclose(jac[1, 1], [[4.0, -3.0], [-2.0, 1.0]], atol=1e-14)


def test_slogdet_at_a_singular_matrix():
    sign, logdet = np.linalg.slogdet(SINGULAR)
    f = lambda a: np.linalg.slogdet(a)[1]
    for out in (dualad.jvp(f, (SINGULAR,), (np.ones((2, 2)),))[0], revad.vjp(f, SINGULAR)[0]):
        assert out == logdet == -np.inf
    for g in both_grads(f, SINGULAR):  # C / det: signed infinities, as JAX gives
        np.testing.assert_array_equal(g, [[np.inf, -np.inf], [-np.inf, np.inf]])


# ---- bounded memory by default ------------------------------------------------------------------------------------
def test_forward_gradient_is_chunked_by_a_budget(monkeypatch):
    import tracemalloc

    n = 3000
    x = rng.normal(size=n)
    passes = []

    def f(x):
        passes.append(1)
        return np.sum(x * x)

    monkeypatch.setattr(adops.trees, "CHUNK_BUDGET", 1 << 16)  # 64 directions per pass at n = 3000 (0.5 MiB)
    tracemalloc.start()
    g = dualad.grad(f)(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(g, 2 * x, rtol=1e-15)
    assert len(passes) >= -(-n // ((1 << 16) // n))  # the seed rule, narrowed by the measured pass memory
    assert peak < 16 * 2**20  # one pass of all n directions would hold 72 MiB per tangent
    passes.clear()
    dualad.grad(f, chunk_size=None)(x[:100])  # None still means every direction in one pass (the comparison's)
    assert len(passes) == 1
    J = revad.jacrev(lambda x: x * x)(x[:600])
    np.testing.assert_allclose(np.diag(J), 2 * x[:600])


def test_auto_chunks_bound_the_pass_not_only_the_seed(monkeypatch):
    # the seed rule alone puts all 300 directions through one pass here: 300 x the n^2 intermediate (~600 MiB)
    import tracemalloc

    import revad.tape

    n = 300
    v = rng.normal(size=n)
    calls = []
    sweep = revad.tape.Tape._sweep  # (what every sweep of the driver's passes runs)
    monkeypatch.setattr(revad.tape.Tape, "_sweep", lambda *a, **k: (calls.append(1), sweep(*a, **k))[1])

    def f(v):
        calls.append(1)
        return np.sum(np.outer(v, v) ** 2)

    def g(v):
        calls.append(1)
        return np.outer(v, v)[0] * np.sum(v)

    tracemalloc.start()
    f(v)
    one_eval = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    monkeypatch.setattr(adops.trees, "CHUNK_BUDGET", 1 << 18)  # 2 MiB
    expected_grad = 4 * v * np.sum(v * v)
    expected_jac = np.diag(v[0] * np.full(n, np.sum(v))) + np.outer(v[0] * v, np.ones(n))
    expected_jac[:, 0] += v * np.sum(v)
    for call, expected in ((lambda: dualad.grad(f)(v), expected_grad), (lambda: revad.jacrev(g)(v), expected_jac),
                           (lambda: dualad.jacfwd(g)(v), expected_jac)):
        # the user measuring with tracemalloc: its counters are read (never reset), and the peak stays bounded
        tracemalloc.start()
        try:
            calls.clear()
            result = call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)
        assert peak < 16 * one_eval + 2 * 2**21, (peak, one_eval)
        passes = len(calls)
        assert passes > 10
        calls.clear()  # not measuring: the engine runs tracemalloc for its first pass only, and stops it
        np.testing.assert_allclose(call(), expected, rtol=1e-12, atol=1e-12)
        assert not tracemalloc.is_tracing() and abs(len(calls) - passes) <= passes // 4
    calls.clear()
    monkeypatch.setattr(adops.trees, "CHUNK_BUDGET", 1 << 23)  # small n: one pass, nothing measured
    dualad.grad(f)(v[:adops.trees.AUTO_ONE_PASS])
    assert len(calls) == 1


# ---- ndarray methods: mapped to NumPy functions, or refused naming the alternative ---------------------------------
METHODS = [
    ("real", lambda x: x.real * x), ("imag", lambda x: x.imag + x), ("conj", lambda x: x.conj() * x),
    ("conjugate", lambda x: np.conjugate(x) + x.conjugate()), ("cumprod", lambda x: x.cumprod()),
    ("cumprod axis", lambda x: x.cumprod(axis=1)), ("trace", lambda x: x.trace()),
    ("trace offset", lambda x: x.trace(1)), ("diagonal", lambda x: x.diagonal()),
    ("take", lambda x: x.take([0, 5, 5])), ("take axis", lambda x: x.take([1, 0], axis=1)),
    ("repeat", lambda x: x.repeat(2)), ("repeat axis", lambda x: x.repeat([1, 0, 2], axis=0)),
    ("flatten F", lambda x: x.flatten("F")), ("ravel F", lambda x: x.ravel("F")), ("flatten", lambda x: x.flatten()),
    ("ravel A of transpose", lambda x: x.T.ravel("A")), ("ravel K of transpose", lambda x: x.T.ravel("K")),
    ("view", lambda x: x.view() * 2), ("remainder", lambda x: x % 0.7), ("rmod", lambda x: 5.0 % x),
    ("divmod", lambda x: divmod(x, 0.7)[1] + divmod(x, 0.7)[0]), ("np.divmod", lambda x: np.divmod(x, 0.6)[1]),
    ("rdivmod", lambda x: divmod(2.0, x)[1]), ("nonzero", lambda x: x[x.nonzero()] * 2),
    ("nbytes", lambda x: x * x.nbytes), ("itemsize", lambda x: x * x.itemsize),
    ("argmax keepdims", lambda x: x * x.argmax(1, keepdims=True)),
    ("all", lambda x: x * (x.all() * 1.0)), ("any axis", lambda x: x * (x.any(axis=0) * 1.0)),
    ("mT", lambda x: x.mT * 2),
    ("searchsorted", lambda x: x * x.ravel().searchsorted(1.0)),
    ("logaddexp.reduce", lambda x: np.logaddexp.reduce(x)),
    ("logaddexp.reduce axis initial", lambda x: np.logaddexp.reduce(x, axis=1, initial=0.5, keepdims=True)),
]


@pytest.mark.parametrize("name,f", METHODS, ids=[c[0] for c in METHODS])
def test_ndarray_methods_match_numpy(name, f):
    agree(f, P34)


@pytest.mark.parametrize("call,match", [
    (lambda x: x.flat[0], r"x\.flat .* x\.ravel\(\)"),
    (lambda x: x.view(np.int64), r"x\.view\(dtype or type\) .* x\.astype"),
    (lambda x: round(x), r"round\(\) of an array .* np\.round"),
    (lambda x: x[:, ::2].ravel("K"), "order='K'"),
    (lambda x: x.sort(), r"x\.sort\(\) changes x in place.*x = np\.sort\(x\)"),
    (lambda x: x.fill(0.0), r"x\.fill\(value\) changes x in place"),
    (lambda x: x.put([0], [1.0]), r"x\.put\(indices, values\) changes x in place.*np\.where"),
    (lambda x: x.partition(1), r"x\.partition\(kth\) changes x in place.*np\.sort"),
    (lambda x: x.argpartition(1), r"x\.argpartition has no rule.*np\.argsort"),
    (lambda x: x.compress([True, False]), r"x\.compress has no rule"),
    (lambda x: x.strides, r"x\.strides describes"), (lambda x: x.flags, r"x\.flags describes"),
    (lambda x: x.base, r"x\.base describes"), (lambda x: x.__array_namespace__(), "array API"),
    (lambda x: _plain_accumulator(x), r"plain NumPy array .*s = 0\.0"),
])
def test_ndarray_methods_refused_clearly(call, match):
    for transform in (dualad.jacfwd, revad.jacrev):
        with pytest.raises(TypeError, match=match):
            transform(lambda x: call(x) * 1.0)(P34.copy())


def _plain_accumulator(x):
    s = np.zeros(4)
    for i in range(3):
        s += np.sin(x[i])
    return s


def test_round_of_a_numpy_scalar_is_its_value():
    for transform in (dualad.grad, revad.grad):  # round(np.float64) is a Python int in NumPy: a constant here
        assert transform(lambda x: np.sum(x) * round(np.sum(x)))(np.array([0.4, 0.9])).tolist() == [1.0, 1.0]


def test_errors_name_the_callable_written():
    for transform in (dualad.grad, revad.grad):
        with pytest.raises(TypeError, match=r"^scipy\.special\.gamma has no"):
            transform(lambda x: np.sum(scipy.special.gamma(x)))(V5)
        with pytest.raises(TypeError, match=r"np\.std: argument\(s\) where"):
            transform(lambda x: np.std(x, where=x > 0))(V5)


F32 = np.array([1.0, np.nan, 3.0, 4.5], dtype=np.float32)


@pytest.mark.parametrize("f", [
    lambda x: np.nanmean(x), lambda x: np.nanvar(x, ddof=1), lambda x: np.nanstd(x), lambda x: np.nanmedian(x),
    lambda x: np.median(np.nan_to_num(x)), lambda x: np.percentile(np.nan_to_num(x), 30),
    lambda x: np.quantile(np.nan_to_num(x), np.array([0.3, 0.5])), lambda x: np.nanquantile(x, np.float32(0.3)),
    lambda x: np.quantile(np.nan_to_num(x), 0.3, method="midpoint"), lambda x: np.insert(x, 1, 2.0),
    lambda x: np.copysign(x, -1.0), lambda x: np.copysign(x, np.array([1.0, -1.0, 1.0, -1.0])),
    lambda x: np.pad(np.nan_to_num(x), 3, mode="reflect", reflect_type="odd"),
])
def test_float32_results_keep_numpys_dtype(f):
    want = np.asarray(f(F32))
    out, tangent = dualad.jvp(f, (F32,), (np.ones(4, np.float32),))
    value, _ = revad.vjp(f, F32)
    for got in (out, tangent, value):
        assert np.asarray(got).dtype == want.dtype
    np.testing.assert_allclose(value, want, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("shape, widths, mode", [
    ((4,), 3, "reflect"), ((4,), (9, 2), "reflect"), ((3, 4), ((2, 5), (1, 2)), "reflect"),
    ((3,), (4, 2), "symmetric"), ((1,), 2, "symmetric"), ((2, 3, 2), 1, "reflect"),
])
def test_pad_odd_reflection_is_numpys(shape, widths, mode):
    x = np.random.default_rng(3).standard_normal(shape)
    f = lambda v: np.pad(v, widths, mode=mode, reflect_type="odd")
    want = f(x)
    np.testing.assert_allclose(revad.vjp(f, x)[0], want, rtol=0, atol=1e-14)  # repeated mirrors: within an ulp
    J = revad.jacrev(f)(x).reshape(want.size, x.size)
    np.testing.assert_array_equal(J, dualad.jacfwd(f)(x).reshape(want.size, x.size))
    np.testing.assert_allclose(J @ x.ravel(), want.ravel(), atol=1e-14)  # linear: J x is the padded array
