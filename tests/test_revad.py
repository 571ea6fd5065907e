"""Reverse mode (revad): operators, argument kinds, pullbacks, long tapes, memory release, threads, nesting,
checkpointing, the tape display and error messages.

Every derivative is checked against the SymPy oracle, finite differences or a hand-derived formula.
"""

import gc
import math
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from engine_cases import A23, OPERATOR_CASES

import revad
from compare import oracle

RNG = np.random.default_rng(77)


def close(actual, expected, tol=1e-11):
    err = oracle.relative_error(actual, expected)
    assert err < tol, f"relative error {err:.3g}\nactual:\n{actual}\nexpected:\n{expected}"




@pytest.mark.parametrize("name,f,args", OPERATOR_CASES, ids=[c[0] for c in OPERATOR_CASES])
def test_operators_match_oracle(name, f, args):
    argnums = tuple(range(len(args)))
    close(revad.jacrev(f, argnums=argnums)(*args), oracle.jacobian(f, *args, argnums=argnums))


@pytest.mark.parametrize("name,f,args", OPERATOR_CASES[:12], ids=[c[0] for c in OPERATOR_CASES[:12]])
def test_vjp_dot_product_identity(name, f, args):
    # <u, J v>: u^T J from the pullback, J v from a finite difference along v
    out, pullback = revad.vjp(f, *args)
    np.testing.assert_allclose(out, f(*args), rtol=1e-14)
    u = RNG.normal(size=np.shape(out))
    v = tuple(RNG.normal(size=np.shape(a)) for a in args)
    uj = pullback(u)
    assert isinstance(uj, tuple) and len(uj) == len(args)
    h = 1e-6
    jv = (f(*[a + h * d for a, d in zip(args, v)]) - f(*[a - h * d for a, d in zip(args, v)])) / (2 * h)
    lhs = sum(float(np.sum(g * d)) for g, d in zip(uj, v))
    assert math.isclose(lhs, float(np.sum(u * jv)), rel_tol=1e-6, abs_tol=1e-7)


def test_comparisons_return_plain_bool_arrays():
    seen = {}

    def f(x):
        seen["lt"] = x < 0.5
        seen["gt"] = 0.5 < x
        seen["eq"] = x == x
        seen["scalar"] = x[0] > x[1]
        return np.sum(x)

    revad.grad(f)(np.array([0.2, 0.9]))
    for key in ("lt", "gt", "eq"):
        assert type(seen[key]) is np.ndarray and seen[key].dtype == bool
    np.testing.assert_array_equal(seen["lt"], [True, False])
    np.testing.assert_array_equal(seen["gt"], [False, True])
    assert not seen["scalar"]


def test_python_control_flow_on_comparisons():
    f = lambda x: x**2 if x > 0 else -x
    assert revad.grad(f)(3.0) == 6.0
    assert revad.grad(f)(-3.0) == -1.0


def test_shape_attributes_and_len():
    seen = {}

    def f(x):
        seen.update(shape=x.shape, ndim=x.ndim, size=x.size, len=len(x), T=x.T.shape, dtype=x.dtype)
        return np.sum(x)

    revad.grad(f)(A23)
    assert seen == dict(shape=(2, 3), ndim=2, size=6, len=2, T=(3, 2), dtype=np.float64)


# ---- argument kinds -------------------------------------------------------------------------------------
def test_float_and_int_inputs():
    assert revad.grad(lambda x: x**3)(2.0) == 12.0
    g = revad.grad(lambda x: x**3)(2)
    assert g == 12.0 and np.asarray(g).dtype == np.float64
    j = revad.jacrev(np.sin)(np.arange(3))
    assert j.dtype == np.float64
    np.testing.assert_allclose(j, np.diag(np.cos(np.arange(3.0))), rtol=1e-15)


def test_value_and_grad():
    f = lambda x: np.sum(np.sin(x) * x)
    x = RNG.normal(size=4)
    value, g = revad.value_and_grad(f)(x)
    assert math.isclose(float(value), float(np.sum(np.sin(x) * x)), rel_tol=1e-15)
    close(g, oracle.jacobian(f, x))


def _params_loss(p):
    return np.sum(np.tanh(p["W"] @ p["x"] + p["b"]) ** 2)


def test_dict_of_arrays():
    p = {"W": RNG.normal(size=(2, 3)), "x": RNG.normal(size=3), "b": RNG.normal(size=2)}
    g = revad.grad(_params_loss)(p)
    assert isinstance(g, dict) and list(g) == ["W", "x", "b"]
    close(g, oracle.jacobian(_params_loss, p))


@pytest.mark.parametrize("kind", [tuple, list])
def test_tuple_and_list_of_arrays(kind):
    def f(pair):
        a, b = pair
        return np.sin(a) * b[:, None]

    pair = kind([RNG.normal(size=(3,)), RNG.normal(size=(2,))])
    j = revad.jacrev(f)(pair)
    assert type(j) is kind and j[0].shape == (2, 3, 3) and j[1].shape == (2, 3, 2)
    close(j, oracle.jacobian(f, pair))


def test_argnums_tuple_and_negative():
    def f(a, b, c):
        return np.sum(a * b**2 * np.exp(c))

    a, b, c = RNG.normal(size=2), RNG.normal(size=2), 0.3
    ga, gc_ = revad.grad(f, argnums=(0, 2))(a, b, c)
    ea, ec = oracle.jacobian(f, a, b, c, argnums=(0, 2))
    close(ga, ea)
    close(gc_, ec)
    close(revad.grad(f, argnums=-2)(a, b, c), oracle.jacobian(f, a, b, c, argnums=1))
    with pytest.raises(ValueError):
        revad.grad(f, argnums=5)(a, b, c)


def test_multiple_outputs_jacrev_and_vjp():
    def f(x):
        return {"s": np.sum(x**2), "v": (np.sin(x), x[0] * 2.0)}

    x = RNG.normal(size=3)
    close(revad.jacrev(f)(x), oracle.jacobian(f, x))
    for k in (1, 2, 3, 5):
        close(revad.jacrev(f, chunk_size=k)(x), oracle.jacobian(f, x))
    out, pullback = revad.vjp(f, x)
    (g,) = pullback({"s": 1.0, "v": (np.zeros(3), 0.0)})
    close(g, 2 * x)
    (g,) = pullback({"s": 0.0, "v": (np.ones(3), 1.0)})
    close(g, np.cos(x) + np.array([2.0, 0, 0]))


def test_output_independent_of_input_gives_zeros():
    np.testing.assert_array_equal(revad.jacrev(lambda x: np.ones(2))(np.ones(3)), np.zeros((2, 3)))
    assert revad.grad(lambda x: 5.0)(1.0) == 0.0
    assert revad.grad(lambda x, y: np.sum(y * 2), argnums=0)(np.ones(2), np.ones(2)).tolist() == [0.0, 0.0]


def test_float32_in_float32_out():
    x32 = np.array([0.3, -1.2, 2.0], dtype=np.float32)

    def f(x):
        return np.tanh(x) * 2.0 + x**2 / 3 - 1

    out, pullback = revad.vjp(f, x32)
    assert out.dtype == np.float32
    assert pullback(np.ones(3, dtype=np.float32))[0].dtype == np.float32
    j = revad.jacrev(f)(x32)
    assert j.dtype == np.float32
    value, g = revad.value_and_grad(lambda x: np.sum(f(x)))(x32)
    assert np.asarray(value).dtype == np.float32 and g.dtype == np.float32
    x64 = x32.astype(np.float64)
    np.testing.assert_allclose(j, oracle.jacobian(f, x64), rtol=1e-6, atol=1e-6)
    h = revad.hessian(lambda x: np.sum(f(x)))(x32)
    assert h.dtype == np.float32
    np.testing.assert_allclose(h, oracle.hessian(lambda x: np.sum(f(x)), x64), rtol=1e-5, atol=1e-6)


W57 = RNG.normal(size=(7, 5))


def _dense(x):
    return np.tanh(W57 @ x) * np.cumsum(np.concatenate([x, x[:2]])) + np.prod(x[:3])


def test_chunked_equals_unchunked_every_chunk_size():
    x = RNG.normal(size=5)
    full = revad.jacrev(_dense)(x)
    close(full, oracle.jacobian(_dense, x))
    for k in range(1, 9):
        np.testing.assert_allclose(revad.jacrev(_dense, chunk_size=k)(x), full, rtol=1e-13, atol=1e-15)


# ---- pullbacks -------------------------------------------------------------------------------------------
def test_pullback_callable_twice_gives_same_answer():
    f = lambda x, y: np.tanh(x @ y) * x[:, 0]
    x, y = RNG.normal(size=(3, 2)), RNG.normal(size=(2, 3))
    out, pullback = revad.vjp(f, x, y)
    ct = RNG.normal(size=out.shape)
    first = pullback(ct)
    second = pullback(ct)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    # a different cotangent in between does not disturb later answers
    pullback(np.ones(out.shape))
    for a, b in zip(first, pullback(ct)):
        np.testing.assert_array_equal(a, b)
    full = oracle.jacobian(f, x, y, argnums=(0, 1))
    close(first[0], np.tensordot(ct, full[0], axes=2))
    close(first[1], np.tensordot(ct, full[1], axes=2))


def test_mutating_input_after_vjp_does_not_change_pullback():
    x = np.array([1.0, 2.0, 3.0])
    out, pullback = revad.vjp(lambda x: x * x * np.sin(x), x)
    expected = 2 * x * np.sin(x) + x * x * np.cos(x)
    x[:] = 100.0
    np.testing.assert_allclose(pullback(np.ones(3))[0], expected, rtol=1e-15)
    np.testing.assert_allclose(out, np.array([1.0, 4.0, 9.0]) * np.sin([1.0, 2.0, 3.0]), rtol=1e-15)


# ---- long tapes, wide fan-in ---------------------------------------------------------------------------------
def test_100000_op_chain():
    n = 100_000

    def chain(x):
        for _ in range(n):
            x = np.sin(x)
        return x

    x, slope = 0.5, 1.0
    for _ in range(n):
        slope *= math.cos(x)
        x = math.sin(x)
    assert math.isclose(float(revad.grad(chain)(0.5)), slope, rel_tol=1e-9)


def test_100000_way_fan_in():
    # one input used by 100000 separate products, summed: dJ/dx = sum_i c_i
    n = 100_000
    c = np.linspace(-1.0, 2.0, n)

    def f(x):
        return sum(x * float(ci) for ci in c)

    assert math.isclose(float(revad.grad(f)(2.0)), float(np.sum(c)), rel_tol=1e-9)


def test_100000_separate_scalar_products():
    # 100000 scalar inputs (a list), J = sum_i x_i x_{i+1}: dJ/dx_i = x_{i-1} + x_{i+1}
    n = 100_000

    def f(xs):
        total = xs[0] * xs[1]
        for i in range(1, n - 1):
            total = total + xs[i] * xs[i + 1]
        return total

    x = np.linspace(0.0, 1.0, n)
    g = revad.grad(f)(list(x))
    assert isinstance(g, list) and len(g) == n
    expected = np.zeros(n)
    expected[:-1] += x[1:]
    expected[1:] += x[:-1]
    np.testing.assert_allclose(np.array(g), expected, rtol=1e-14, atol=0)


def test_stack_fan_in_sweep_is_linear():
    def sweep_seconds(n):
        tape = revad.trace(lambda x: np.sum(np.stack([x * float(i % 7) for i in range(n)])), 2.0)
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()  # CPU time: other processes on a loaded machine do not count
            adj = tape.backward()
            seconds = time.process_time() - start
        finally:
            gc.enable()
        assert adj["x"] == sum(i % 7 for i in range(n))
        return seconds

    small = min(sweep_seconds(2000) for _ in range(3))
    large = min(sweep_seconds(8000) for _ in range(2))
    # 4x the fan-in: about 4x the time if linear, 16x if quadratic
    assert large < 8 * small + 0.05, f"fan-in 2000: {small:.3f}s, fan-in 8000: {large:.3f}s"


# ---- memory ----------------------------------------------------------------------------------------------
def _capture(refs):
    def f(x):
        y = np.sin(x) * x
        refs.append(weakref.ref(y))
        refs.append(weakref.ref(y._tape))
        return np.sum(y * y)

    return f


@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jacrev", "hessian", "vjp"])
def test_tape_released_after_use(transform):
    refs = []
    f = _capture(refs)
    x = np.array([0.3, 1.2, -0.4])
    if transform == "vjp":
        out, pullback = revad.vjp(f, x)
        pullback(1.0)
        del out, pullback
    else:
        getattr(revad, transform)(f)(x)
    gc.collect()
    assert refs and all(r() is None for r in refs), "a Tracer or Tape outlived the call"


def test_tape_released_when_f_raises():
    refs = []

    def f(x):
        y = np.sin(x)
        refs.append(weakref.ref(y._tape))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        revad.grad(f)(1.0)
    gc.collect()
    assert refs[0]() is None


# ---- threads ---------------------------------------------------------------------------------------------
def test_concurrent_grads_in_threads():
    funcs = [
        lambda x: np.sum(np.sin(x * 1.5) ** 2),
        lambda x: np.prod(x[:3]) + np.sum(x),
        lambda x: np.log(np.sum(np.exp(x))),
        lambda x: np.sum(np.tanh(np.outer(x, x))),
        lambda x: x[0] ** 3 * x[1] - np.sum(np.sqrt(x * x + 1)),
        lambda x: np.sum((x[:, None] - x[None, :]) ** 2),
    ]
    points = [np.linspace(-0.8, 0.9, 5) + 0.1 * k for k in range(len(funcs))]
    expected = [oracle.jacobian(f, x) for f, x in zip(funcs, points)]
    nested_expected = [oracle.hessian(f, x) for f, x in zip(funcs, points)]

    def err(a, e):
        return float(np.max(np.abs(a - e)) / max(1.0, float(np.max(np.abs(e)))))

    def work(k):
        worst = 0.0
        for _ in range(25):
            worst = max(worst, err(revad.grad(funcs[k])(points[k]), expected[k]))
        return max(worst, err(revad.hessian(funcs[k])(points[k]), nested_expected[k]))

    with ThreadPoolExecutor(max_workers=4) as pool:
        errors = list(pool.map(work, list(range(len(funcs))) * 3))
    assert max(errors) < 1e-13, errors


# ---- nesting ---------------------------------------------------------------------------------------------
def test_grad_of_grad():
    f = lambda x: x**3 * np.sin(x)
    x = 0.8
    # (x^3 sin x)'' = 6x sin x + 6x^2 cos x - x^3 sin x
    expected = 6 * x * math.sin(x) + 6 * x * x * math.cos(x) - x**3 * math.sin(x)
    assert math.isclose(float(revad.grad(revad.grad(f))(x)), expected, rel_tol=1e-13)


def test_third_derivative():
    f = lambda x: np.exp(2 * x) * np.cos(x)
    x = 0.4
    # third derivative of e^{2x} cos x: e^{2x} (2 cos x - 11 sin x)
    expected = math.exp(2 * x) * (2 * math.cos(x) - 11 * math.sin(x))
    assert math.isclose(float(revad.grad(revad.grad(revad.grad(f)))(x)), expected, rel_tol=1e-12)


def test_hessian_of_vector_function_matches_oracle():
    def f(x):
        return np.sum(np.tanh(x[:2] @ np.ones((2, 3)) * x[1:]) ** 2) + np.log(np.sum(x**2))

    x = np.array([0.3, -0.7, 1.1, 0.4])
    close(revad.hessian(f)(x), oracle.hessian(f, x), tol=1e-10)


def test_grad_inside_grad_closing_over_outer():
    assert revad.grad(lambda x: x * revad.grad(lambda y: x * y)(1.0))(4.0) == 8.0
    assert revad.grad(lambda x: x * revad.grad(lambda y: x + y)(1.0))(1.0) == 1.0
    # gradient of sum(v) * d/dy (y |v|) = |v| + sum(v) v / |v|
    v = np.array([1.0, -2.0, 0.5])
    nv = np.linalg.norm(v)
    g = revad.grad(lambda v: np.sum(v) * revad.grad(lambda y: y * np.linalg.norm(v))(1.0))(v)
    np.testing.assert_allclose(g, nv + np.sum(v) * v / nv, rtol=1e-14)


def test_sibling_and_closure_nesting():
    G = revad.grad
    assert G(lambda x: G(lambda y: x * y)(2.0) * G(lambda y: x * y * y)(3.0))(1.5) == 18.0
    make = lambda x: (lambda y: x * y)
    assert G(lambda x: G(make(x))(2.0))(3.0) == 1.0
    assert G(lambda x: G(lambda y: x * y**2)(x))(3.0) == 12.0


def test_inner_grad_mutating_captured_outer_variable():
    # the reverse-mode version of ForwardDiff.jl issue 443: the outer value is x * 1 * 1, derivative 1
    def outer(x):
        cell = [x]

        def f(y):
            cell[0] = cell[0] * y
            return cell[0]

        revad.grad(f)(1.0)
        return revad.grad(f)(1.0)

    assert revad.grad(outer)(1.0) == 1.0
    assert revad.grad(outer)(5.0) == 1.0


# ---- checkpoint ------------------------------------------------------------------------------------------
def _block(x):
    for _ in range(6):
        x = np.tanh(x * 1.1 + 0.1)
    return x


def test_checkpoint_same_gradient_fewer_records_and_bytes():
    block = revad.checkpoint(_block)
    plain = lambda x: np.sum(_block(_block(x)) ** 2)
    ckpt = lambda x: np.sum(block(block(x)) ** 2)
    x = RNG.normal(size=40)
    g_plain, g_ckpt = revad.grad(plain)(x), revad.grad(ckpt)(x)
    np.testing.assert_allclose(g_ckpt, g_plain, rtol=1e-14, atol=1e-16)
    t_plain, t_ckpt = revad.trace(plain, x), revad.trace(ckpt, x)
    assert len(t_ckpt) < len(t_plain)
    assert t_ckpt.nbytes < t_plain.nbytes
    assert t_ckpt.backward()["x"] == pytest.approx(g_plain, rel=1e-14, abs=1e-16)


def test_checkpoint_against_oracle_and_in_nested_modes():
    block = revad.checkpoint(_block)
    f = lambda x: np.sum(block(x) * x)
    x = np.array([0.2, -0.5, 0.9])
    close(revad.grad(f)(x), oracle.jacobian(f, x), tol=1e-10)
    close(revad.jacrev(block)(x), oracle.jacobian(_block, x), tol=1e-10)
    close(revad.jacrev(block, chunk_size=2)(x), oracle.jacobian(_block, x), tol=1e-10)
    close(revad.hessian(f)(x), oracle.hessian(lambda x: np.sum(_block(x) * x), x), tol=1e-9)


def test_checkpoint_several_arguments():
    layer = revad.checkpoint(lambda W, v: np.tanh(W @ v))
    W, v = RNG.normal(size=(3, 4)), RNG.normal(size=4)
    loss_ck = lambda W, v: np.sum(layer(W, v) ** 2)
    loss = lambda W, v: np.sum(np.tanh(W @ v) ** 2)
    close(revad.grad(loss_ck, argnums=(0, 1))(W, v), oracle.jacobian(loss, W, v, argnums=(0, 1)), tol=1e-10)
    # only the second argument traced: the first is a constant for this tape
    close(revad.grad(loss_ck, argnums=1)(W, v), oracle.jacobian(loss, W, v, argnums=1), tol=1e-10)


def test_checkpoint_outside_reverse_mode_is_the_plain_function():
    block = revad.checkpoint(_block)
    x = np.array([0.1, 0.2])
    np.testing.assert_array_equal(block(x), _block(x))


# ---- trace: the Wengert list, DOT and PNG -----------------------------------------------------------------
def _seed(w, x, b, y):
    return (w * x + b - y) ** 2 / 2


def test_trace_seed_example():
    tape = revad.trace(_seed, 2.0, -2.0, 8.0, 2.0)
    text = str(tape)
    for name in ("w", "x", "b", "y"):
        assert any(line.split("=")[0].strip() == name for line in text.splitlines()), name
    assert tape.outputs and float(tape.outputs[0][1]) == 2.0  # J = (2*-2 + 8 - 2)^2 / 2 = 2
    assert text.rstrip().splitlines()[-1].rstrip().endswith("value 2")  # the last record computes J
    assert len(tape) >= 4
    assert tape.flops > 0 and tape.nbytes >= 0
    adj = tape.backward()
    assert adj["w"] == -4.0 and adj["b"] == 2.0
    assert adj["x"] == 4.0 and adj["y"] == -2.0  # dJ/dx = r w, dJ/dy = -r with r = 2
    expected = oracle.jacobian(_seed, 2.0, -2.0, 8.0, 2.0, argnums=(0, 1, 2, 3))
    assert [adj[k] for k in "wxby"] == [float(e) for e in expected]
    assert adj == tape.backward()  # the tape is kept: backward again gives the same


def test_trace_wengert_list_lines():
    tape = revad.trace(_seed, 2.0, -2.0, 8.0, 2.0)
    lines = [line for line in str(tape).splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 4 + len(tape)  # one line per input and one per record
    assert "multiply" in str(tape) or "mul" in str(tape)


def test_trace_to_dot_shows_values_and_adjoints():
    tape = revad.trace(_seed, 2.0, -2.0, 8.0, 2.0)
    before = tape.to_dot()
    assert before.lstrip().startswith("digraph") and before.rstrip().endswith("}")
    assert "-4" in before  # the forward value w*x
    tape.backward()
    dot = tape.to_dot()
    assert "adjoint" in dot and "adjoint" not in before
    assert "adjoint -4" in dot and "adjoint 2" in dot  # dJ/dw and dJ/db
    assert dot.count("->") >= len(tape)


def test_trace_draw_png(tmp_path):
    tape = revad.trace(_seed, 2.0, -2.0, 8.0, 2.0)
    tape.backward()
    for backend in ("auto", "matplotlib"):
        path = tmp_path / f"graph_{backend}.png"
        tape.draw(str(path), backend=backend)
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    with pytest.raises(ValueError):
        tape.draw(str(tmp_path / "x.png"), backend="nope")


def test_trace_array_inputs_and_names():
    tape = revad.trace(lambda a, b: np.sum(np.tanh(a @ b)), RNG.normal(size=(2, 3)), RNG.normal(size=3))
    assert "a" in tape.input_names and "b" in tape.input_names
    adj = tape.backward()
    a_grad = adj["a"]
    assert a_grad.shape == (2, 3)
    tape2 = revad.trace(lambda a, b: a * b, 1.0, 2.0, names=["p", "q"])
    assert tape2.backward() == {"p": 2.0, "q": 1.0}
    with pytest.raises(TypeError, match=r"\(3,\)"):
        revad.trace(lambda x: x * 2, np.ones(3)).backward()


# ---- errors ----------------------------------------------------------------------------------------------
def test_grad_of_non_scalar_shows_shape():
    with pytest.raises((TypeError, ValueError), match=r"\(2, 3\)"):
        revad.grad(lambda x: x * 2)(np.ones((2, 3)))
    with pytest.raises((TypeError, ValueError)):
        revad.value_and_grad(lambda x: (x, x))(1.0)


def test_unknown_numpy_function_raises_type_error():
    with pytest.raises(TypeError, match=r"(?s)fft.*revad"):
        revad.grad(lambda x: np.sum(np.fft.fft(x)))(np.ones(4))


def test_item_assignment_raises_type_error():
    def f(x):
        x[0] = 1.0
        return np.sum(x)

    with pytest.raises(TypeError, match="assignment"):
        revad.grad(f)(np.ones(3))


def test_conversions_raise_type_error():
    with pytest.raises(TypeError):
        revad.grad(lambda x: float(x))(1.0)
    with pytest.raises(TypeError, match="np.stack"):
        revad.jacrev(lambda x: np.array([x[0], x[1]]))(np.ones(2))


def test_pullback_wrong_cotangent_shape_names_both_shapes():
    out, pullback = revad.vjp(lambda x: x[:, None] * x, np.ones(3))
    with pytest.raises(ValueError) as info:
        pullback(np.ones(3))
    assert "(3, 3)" in str(info.value) and "(3,)" in str(info.value)


def test_bad_inputs_and_chunk_size():
    with pytest.raises(TypeError):
        revad.grad(lambda x: np.sum(x))(np.array([True]))
    with pytest.raises(ValueError, match="chunk_size"):
        revad.jacrev(np.sin, chunk_size=0)(np.ones(2))


# ---- the one-sweep path of grad/value_and_grad (one float ndarray argument, one float element out) -------------
ONE_SWEEP_CASES = [
    ("0-d, x*x", lambda x: x * x, np.array(1.5)),
    ("0-d float32", lambda x: np.sin(x) * 3, np.array(0.25, dtype=np.float32)),
    ("float32 promoted by a float64 constant", lambda x: x * np.float64(2.0), np.array(0.5, dtype=np.float32)),
    ("vector sum", lambda x: np.sum(np.tanh(x) ** 2), np.array([0.3, -1.2, 2.0])),
    ("output of shape (1, 1)", lambda x: np.reshape(np.sum(x * x), (1, 1)), np.array([1.0, 2.0])),
    ("0-d array output", lambda x: np.reshape(x, ()) * 1.0, np.array([2.5])),
    ("returns x itself", lambda x: x, np.array(3.0)),
    ("an exact zero", lambda x: x - x, np.array(2.0)),
    ("a constant output", lambda x: np.float64(4.0), np.array(2.0)),
    ("input unused but traced through an int op", lambda x: np.sum(x > 0) * 1.0, np.array([1.0, -1.0])),
]


@pytest.mark.parametrize("name,f,x", ONE_SWEEP_CASES, ids=[c[0] for c in ONE_SWEEP_CASES])
def test_one_sweep_path_matches_the_driver(name, f, x):
    # argnums=(0,) takes the driver's general path; argnums=0 the one-sweep path: the same values, types, dtypes
    g = revad.grad(f)(x)
    (g_general,) = revad.grad(f, argnums=(0,))(x)
    value, g2 = revad.value_and_grad(f)(x)
    value_general, (g2_general,) = revad.value_and_grad(f, argnums=(0,))(x)
    for got, want in ((g, g_general), (g2, g2_general)):
        assert type(got) is type(want) is np.ndarray
        assert got.dtype == want.dtype == x.dtype and got.shape == x.shape
        np.testing.assert_array_equal(got, want)
    assert type(value) is type(value_general) and np.array_equal(value, value_general)
    np.testing.assert_allclose(g, oracle.jacobian(f, x).reshape(x.shape), rtol=1e-6)


def test_one_sweep_path_falls_back_with_the_drivers_errors():
    x = np.array([1.0, 2.0])
    with pytest.raises(TypeError, match=r"output shape\(s\) \(2,\)"):
        revad.grad(lambda x: x * 2)(x)
    with pytest.raises(TypeError, match="must return a scalar"):
        revad.grad(lambda x: (np.sum(x), np.sum(x)))(x)
    calls = []

    def f(x):
        calls.append(1)
        return x * 2

    with pytest.raises(TypeError):
        revad.value_and_grad(f)(x)
    assert calls == [1]  # f ran once: the fallback goes on from its recording
    # an argument of another kind takes the driver's path from the start
    assert revad.grad(lambda x: x * x)(1.5) == 3.0
    np.testing.assert_array_equal(revad.grad(lambda a, b: np.sum(a * b), argnums=-1)(x, np.ones(2)), x)
