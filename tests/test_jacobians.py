"""The one Jacobian driver (adops/jacobians.py): dense, chunked and coloured seeds give one answer in both engines, on
pytrees, several argnums, several outputs, float32 and has_aux, and that answer is the oracle's."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

import dualad
import revad
from adops.jacobians import Inputs, OneHot, gradient, jacobian
from adops.trees import flatten
from compare import oracle

ENGINES = {"forward": dualad.jacfwd, "reverse": revad.jacrev}
PASSES = {"forward": dualad.api.ForwardPass, "reverse": revad.api.ReversePass}
rng = np.random.default_rng(7)


def tree_fn(p, y):
    """Two arguments (a dict of arrays, an array), three output leaves (an array, a dict of a scalar and a matrix);
    output "unused" does not depend on the inputs, and p["c"] reaches no output."""
    a, b = p["a"], p["b"]
    v = np.concatenate([np.sin(a) * y[0], np.sqrt(y * y + 1.0)])  # (5,)
    return v, {"s": np.sum(b @ b) * a[1], "m": b * y, "unused": np.ones(2)}


def tree_args(dtype=np.float64):
    p = {"a": rng.uniform(-1, 1, 3).astype(dtype), "b": rng.uniform(-1, 1, (2, 2)).astype(dtype),
         "c": np.array(0.5, dtype=dtype)}
    return p, rng.uniform(-1, 1, 2).astype(dtype)


def as_matrix(jac, f, args, argnums) -> np.ndarray:
    """A structured Jacobian (per output leaf, per argument, per input leaf) as one (m, n) matrix."""
    outs, _ = flatten(f(*args))
    nums = (argnums,) if isinstance(argnums, int) else argnums
    ins = [leaf for a in nums for leaf in flatten(args[a])[0]]
    per_out, _ = flatten(jac)  # leaves in the order (output leaf, argument, input leaf)
    rows, k = [], 0
    for o in outs:
        row = []
        for x in ins:
            row.append(np.reshape(per_out[k], (np.size(o), np.size(x))))
            k += 1
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1, 0)])
@pytest.mark.parametrize("mode", ENGINES)
def test_dense_chunked_and_coloured_seeds_agree_with_the_oracle(mode, argnums):
    args = tree_args()
    exact = as_matrix(oracle.jacobian(tree_fn, *args, argnums=argnums), tree_fn, args, argnums)
    n = exact.shape[1]
    nums = (argnums,) if isinstance(argnums, int) else argnums
    c_column = None if 0 not in nums else (2 if nums[0] == 1 else 0) + 7  # p["c"]: after a (3) and b (4)
    for chunk in (None, "auto", 1, 2, 3, n - 1, n + 5):
        jac = ENGINES[mode](tree_fn, argnums=argnums, chunk_size=chunk)(*args)
        got = as_matrix(jac, tree_fn, args, argnums)
        np.testing.assert_allclose(got, exact, rtol=1e-13, atol=1e-14)
        assert isinstance(jac, tuple) and isinstance(jac[1], dict) and set(jac[1]) == {"s", "m", "unused"}
        assert np.shape(flatten(jac[1]["m"])[0][0])[:2] == (2, 2)  # out.shape first, then the input's shape
        assert not any(np.any(leaf) for leaf in flatten(jac[1]["unused"])[0])  # a constant output: exact zeros
        if c_column is not None:
            assert not got[:, c_column].any()  # an input no output depends on: exact zeros
    pattern = exact != 0
    for chunk in (None, "auto", 1, 2):
        for sparsity in (pattern, "auto"):
            J = ENGINES[mode](tree_fn, argnums=argnums, chunk_size=chunk, sparsity=sparsity)(*args)
            assert isinstance(J, sp.csr_array) and J.shape == exact.shape
            np.testing.assert_allclose(J.toarray(), exact, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("mode", ENGINES)
def test_float32_stays_float32_and_has_aux_through_every_chunking(mode):
    args64 = tree_args()
    args = tuple({k: v.astype(np.float32) for k, v in a.items()} if isinstance(a, dict) else a.astype(np.float32)
                 for a in args64)

    def f(p, y):
        v = tree_fn(p, y)[0]
        return v, {"v_sum": np.sum(v), "first": v[0]}

    reference = as_matrix(ENGINES[mode](lambda p, y: tree_fn(p, y)[0], argnums=(0, 1))(*args64),
                          lambda p, y: tree_fn(p, y)[0], args64, (0, 1))
    for chunk in (None, 1, 4):
        jac, aux = ENGINES[mode](f, argnums=(0, 1), chunk_size=chunk, has_aux=True)(*args)
        assert all(leaf.dtype == np.float32 for leaf in flatten(jac)[0])
        np.testing.assert_allclose(as_matrix(jac, lambda p, y: f(p, y)[0], args, (0, 1)), reference, rtol=2e-6,
                                   atol=1e-6)
        for leaf in aux.values():  # aux leaves are plain values (no tracers), with f's value
            assert getattr(leaf, "_level", None) is None and np.asarray(leaf).dtype == np.float32
        assert float(aux["v_sum"]) == pytest.approx(float(np.sum(tree_fn(*args)[0])), rel=1e-6)


@pytest.mark.parametrize("grad", [dualad.grad, revad.grad])
def test_gradients_have_the_inputs_structure_and_dtypes(grad):
    p, y = tree_args(np.float32)
    f = lambda p, y: np.sum(tree_fn(p, y)[1]["m"]) + np.sum(p["a"] ** 2)
    g = grad(f, argnums=(0, 1))(p, y)
    exact = oracle.jacobian(f, p, y, argnums=(0, 1))
    assert set(g[0]) == {"a", "b", "c"}
    for got, want, x in zip(flatten(g)[0], flatten(exact)[0], flatten((p, y))[0]):
        assert got.dtype == np.float32 and got.shape == x.shape
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert not g[0]["c"].any()  # an unused input: exact zero, float32
    # one-element outputs of shape (1,) and (1, 1): the gradient, shaped like the input
    for shape in ((1,), (1, 1)):
        h = grad(lambda x: np.reshape(np.sum(x ** 3), shape))(np.array([1.0, 2.0]))
        np.testing.assert_array_equal(h, [3.0, 12.0])
    with pytest.raises(TypeError, match=r"f must return a scalar .* got output shape\(s\) \(2,\)"):
        grad(lambda x: x * 2)(np.ones(2))


@pytest.mark.parametrize("mode", ENGINES)
def test_passes_and_batch_axes(mode, monkeypatch):
    """ceil(k/chunk) passes, the last one marked, and a pass of one direction carries no batch axis."""
    seen = []
    Pass = PASSES[mode]
    one_pass = Pass.__call__

    def spy(self, seeds, batch, last):
        seen.append((batch, last, [None if s is None else np.shape(s) for s in seeds]))
        return one_pass(self, seeds, batch, last)

    monkeypatch.setattr(Pass, "__call__", spy)
    x, y = np.linspace(0.1, 0.9, 5), np.arange(1.0, 4.0)
    f = lambda x, y: (np.outer(x, y), np.sum(x) * y[:2])  # n = 8 inputs, m = 15 + 2 outputs
    exact = as_matrix(oracle.jacobian(f, x, y, argnums=(0, 1)), f, (x, y), (0, 1))
    k = 8 if mode == "forward" else 17
    for chunk in (1, 3, None):
        seen.clear()
        jac = ENGINES[mode](f, argnums=(0, 1), chunk_size=chunk)(x, y)
        np.testing.assert_allclose(as_matrix(jac, f, (x, y), (0, 1)), exact, rtol=1e-14)
        widths = [batch[0] if batch else 1 for batch, _, _ in seen]
        assert widths == [min(chunk or k, k - i) for i in range(0, k, chunk or k)]
        assert [last for _, last, _ in seen] == [False] * (len(seen) - 1) + [True]
        if chunk == 1:
            assert all(batch == () for batch, _, _ in seen)  # one direction: a plain JVP or VJP
            # seeds are built per leaf: a leaf outside the direction's range gets None (no zeros) in reverse mode
            if mode == "reverse":
                assert seen[0][2] == [(5, 3), None]


def test_one_hot_seeds_are_built_per_leaf_never_as_the_identity():
    inputs = Inputs((np.ones((2, 3)), np.ones(4)), (0, 1), "demo")
    seeds = OneHot().seeds(inputs, 5, 8, (3,))  # directions 5, 6, 7: the first leaf's last, the second's first two
    assert seeds[0].shape == (3, 2, 3) and seeds[1].shape == (3, 4)
    assert seeds[0].reshape(3, 6)[0, 5] == 1 and seeds[0].sum() == 1
    np.testing.assert_array_equal(seeds[1], [[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    assert OneHot().seeds(inputs, 6, 8, (2,))[0] is None  # a leaf with none of the directions: no block at all
    single = OneHot().seeds(inputs, 7, 8, ())
    assert single[0] is None and single[1].shape == (4,) and single[1][1] == 1


def test_the_driver_is_the_engines_entry_point():
    x = np.array([0.5, -1.0, 2.0])
    f = lambda x: np.tanh(x) * x[0]
    exact = oracle.jacobian(f, x)
    for Pass in PASSES.values():
        for chunk in (None, 1, 2):
            np.testing.assert_allclose(jacobian(Pass, f, (x,), None, 0, chunk, "demo"), exact, rtol=1e-14)
        g = gradient(Pass(lambda x: np.sum(f(x)), Inputs((x,), 0, "demo"), None, False, "demo"))
        np.testing.assert_allclose(g, exact.sum(axis=0), rtol=1e-14)


@pytest.mark.parametrize("n", [1, 2, 7])
def test_special_points_and_kinks_through_every_seed_kind(n):
    """At zeros, ties and kinks (abs'(0) = 0, maximum's tie 1/2, sqrt's strong zero) every seed kind agrees."""
    x = np.zeros(n)
    f = lambda x: np.concatenate([np.abs(x), np.maximum(x, 0.0), np.where(x < 1, x, np.sqrt(x))])
    exact = np.vstack([np.zeros((n, n)), 0.5 * np.eye(n), np.eye(n)])
    for mode, jac in ENGINES.items():
        for chunk in (None, 1, max(1, n // 2)):
            np.testing.assert_array_equal(jac(f, chunk_size=chunk)(x), exact)
        J = jac(f, sparsity=np.vstack([np.eye(n)] * 3))(x)
        np.testing.assert_array_equal(J.toarray(), exact)
    assert math.isclose(float(revad.grad(lambda x: np.sum(np.abs(x)))(0.0)), 0.0)
    assert math.isclose(float(dualad.grad(lambda x: np.sum(np.abs(x)))(0.0)), 0.0)


@pytest.mark.parametrize("mode", ENGINES)
def test_auto_chunks_of_many_colours_follow_the_same_policy_as_dense(mode, monkeypatch):
    """Above AUTO_ONE_PASS colours, "auto" bounds each pass as for dense Jacobians: forward measures a first pass of
    AUTO_PROBE colours, reverse uses the tape's cotangent bytes; every chunking gives the dense answer."""
    import adops.trees

    n = 200
    x = np.linspace(0.5, 1.5, n)
    f = lambda x: np.concatenate([np.sum(x ** 2, keepdims=True), x[0] * x[1:] + x[1:] ** 2])  # arrowhead: n colours
    dense = ENGINES[mode](f)(x)
    widths = []
    Pass = PASSES[mode]
    one_pass = Pass.__call__
    monkeypatch.setattr(Pass, "__call__", lambda self, seeds, batch, last: (
        widths.append(batch[0] if batch else 1), one_pass(self, seeds, batch, last))[1])
    monkeypatch.setattr(adops.trees, "CHUNK_BUDGET", 1 << 12)  # the seed rule alone: 4096 // 200 = 20 colours
    J = ENGINES[mode](f, sparsity="auto")(x)
    np.testing.assert_allclose(J.toarray(), dense, rtol=1e-14)
    assert sum(widths) == n and max(widths) <= 20 and len(widths) >= n // 20
    if mode == "forward":
        assert widths[0] == adops.trees.AUTO_PROBE
    else:
        tape_bound = revad.api.ReversePass(f, Inputs((x,), 0, "t"), None, False, "t").direction_bytes()
        assert max(widths) <= adops.trees.auto_width(20, tape_bound)


def test_hessians_of_a_promoting_f_keep_the_inputs_dtype_in_every_nesting():
    # f promotes (float32 x times an int64 constant), but a gradient has its input's dtype at every order, as in JAX:
    # the outer pass of a Hessian sees float32 whichever engine runs inside
    c = np.arange(1, 4)
    f = lambda x: np.sum((x * c) ** 2 * x)
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    want = np.diag(6 * c ** 2 * x.astype(np.float64))
    for h in (dualad.hessian(f), revad.hessian(f), dualad.jacfwd(revad.grad(f)), revad.jacrev(dualad.grad(f)),
              dualad.jacfwd(dualad.grad(f)), revad.jacrev(revad.grad(f))):
        H = h(x)
        assert H.dtype == np.float32
        np.testing.assert_allclose(H, want, rtol=1e-6)
