"""Eager costs that must not grow with the program: what a long tape leaves for the garbage collector to scan, and
the indexing loop ``for i in range(n): s = s + f(x[i])`` (linear in n in both engines).

Timings here use CPU time and generous margins (the test machine is shared); the figures themselves are in
benchmarks/README.md (``--only scaling``).
"""

import gc
import time
import weakref

import numpy as np
import pytest

import dualad
import revad
from compare import oracle
from revad.tape import Tape


def _chain(x, blocks):
    for _ in range(blocks):
        x = np.sin(x)
        x = np.cos(x)
        x = x * 1.0001
        x = x + 0.5
    return x


# ---- item 1: a long tape is (almost) invisible to the cyclic garbage collector -------------------------------------
def test_long_tape_leaves_few_objects_for_the_collector():
    # A record the collector keeps tracking is walked by every full collection: the per-primitive cost would grow
    # with the tape's length. After one collection (which untracks tuples of plain values) almost none remain.
    gc.collect()
    before = len(gc.get_objects())
    tape = Tape()
    y = _chain(tape.input(np.array(0.3)), 5000)
    gc.collect()
    gc.collect()
    grown = len(gc.get_objects()) - before
    assert len(tape) == 20000
    assert grown < 200, f"recording 20000 primitives left {grown} more objects for the garbage collector to scan"
    del y


def test_lean_records_stay_invisible_to_the_collector():
    # records keep a stand-in for the arrays their rules never read (adops.core.stand_in): a plain ndarray, so the
    # record stays untracked (a tracked stand-in in every record made full collections walk the whole tape)
    gc.collect()
    before = len(gc.get_objects())
    tape = Tape()
    x = tape.input(np.linspace(0.0, 1.0, 50))
    s = 0.0
    for i in range(2000):
        s = s + np.sin(x[i % 50]) + (x + 1.0)[0]  # getitem and add keep stand-ins for x and x + 1.0
    gc.collect()
    gc.collect()
    grown = len(gc.get_objects()) - before
    assert grown < 200, f"recording {len(tape)} records left {grown} more objects for the garbage collector to scan"
    assert tape.records[1][2][0] is not x.primal  # (getitem's input is a stand-in: its rules read only its shape)


def test_records_view_reads_as_tuples():
    tape = Tape()
    x = tape.input(np.array(0.5))
    y = np.sum(x[None] * np.ones(3), axis=0)
    records = tape.records
    assert len(records) == len(tape) == 3
    names = [op.name for op, slots, primals, params, ans, out in records]
    assert names == ["getitem", "multiply", "sum"]
    op, slots, primals, params, ans, out = records[-1]
    assert out == y._slot and slots == (2,) and params["axes"] == (-1,)
    assert [r[0].name for r in reversed(records)] == names[::-1]
    assert [r[0].name for r in records[1:]] == names[1:]


def test_tape_freed_without_the_cyclic_collector():
    # no reference cycle Tracer -> Tape -> records -> ...: reference counting alone frees a tape and its tracers
    tape = revad.trace(lambda x: _chain(x, 50), 0.3)
    ref = weakref.ref(tape)
    del tape
    assert ref() is None
    refs = []

    def f(x):
        y = _chain(x, 50)
        refs.append(weakref.ref(y._tape))
        refs.append(weakref.ref(y))
        return y

    out, pullback = revad.vjp(f, np.array(0.3))
    pullback(np.ones(()))
    del out, pullback
    revad.grad(f)(np.array(0.3))
    assert all(r() is None for r in refs)


# ---- item 2: indexing in a loop: pieces added into one buffer per slot -------------------------------------------
def close(actual, expected, tol=1e-12):
    err = oracle.relative_error(actual, expected)
    assert np.shape(actual) == np.shape(expected) and err < tol, f"relative error {err:.3g}\n{actual}\n{expected}"


def loop_sum(x):
    s = 0.0
    for i in range(x.shape[0]):
        s = s + np.sin(x[i]) * x[(i + 1) % x.shape[0]]
    return s


def loop_grad_by_hand(x):
    # d/dx_i of sum_i sin(x_i) x_{i+1}: cos(x_i) x_{i+1} + sin(x_{i-1})
    return np.cos(x) * np.roll(x, -1) + np.sin(np.roll(x, 1))


LOOPS = [
    ("scalar pieces, each position twice", loop_sum, np.linspace(-1.3, 1.1, 7)),
    ("x read whole as well as by piece", lambda x: np.sum(x ** 2) + sum(x[i] * x[i] for i in range(4)) + x[2],
     np.array([0.5, -0.2, 0.0, 1.5])),
    ("rows of a matrix", lambda x: sum(np.tanh(x[i]) @ x[(i + 1) % 3] for i in range(3)),
     np.arange(12.0).reshape(3, 4) / 10 - 0.5),
    ("x[i, j], slices, negative steps", lambda x: sum(x[i, j] * x[j, i] for i in range(3) for j in range(3))
     + np.sum(x[1:, ::-1] ** 3) + np.sum(np.exp(x[:, 1])), np.arange(9.0).reshape(3, 3) / 8 - 0.4),
    ("integer arrays with repeats, masks", lambda x: sum(np.sum(x[np.array([i, i, 0])] ** 2) for i in range(4))
     + np.sum(x[x > 0] * 3.0), np.array([0.7, -0.3, 0.0, 1.2])),
    ("an intermediate indexed in a loop", lambda x: sum(np.cos(y[i]) for y in [x * x + 1.0] for i in range(5)),
     np.linspace(-1.0, 1.0, 5)),
    ("separated advanced indices", lambda x: sum(np.sum(x[np.array([0, i]), :, np.array([1, 3])]) * x[i, 0, i]
                                               for i in range(2)), np.arange(24.0).reshape(2, 3, 4) / 24),
]


@pytest.mark.parametrize("name,f,x", LOOPS, ids=[c[0] for c in LOOPS])
def test_indexing_loops_against_the_oracle(name, f, x):
    expected = oracle.jacobian(f, x)
    close(revad.grad(f)(x), expected)
    close(dualad.grad(f)(x), expected)
    v = np.linspace(0.3, -0.7, x.size).reshape(x.shape)
    close(dualad.jvp(f, (x,), (v,))[1], np.sum(expected * v))
    # the tape's in-place sum must not depend on the order pieces arrive in: every way to a gradient agrees
    out, pullback = revad.vjp(f, x)
    close(pullback(np.ones(()))[0], expected)
    close(pullback(np.ones(()))[0], expected)  # a second sweep starts from fresh buffers


def test_indexing_loop_gradient_dense_answer_and_special_points():
    x = np.array([0.0, np.pi / 2, -np.pi, 1e-300, 0.0, 2.0])
    np.testing.assert_allclose(revad.grad(loop_sum)(x), loop_grad_by_hand(x), rtol=1e-14, atol=1e-300)
    # strong zero through indexing: sqrt at 0 with a zero cotangent contributes 0, not NaN
    g = revad.grad(lambda x: sum(np.where(x[i] > 0, np.sqrt(np.abs(x[i])), x[i]) for i in range(3)))(
        np.array([0.0, 4.0, -1.0]))
    np.testing.assert_array_equal(g, [1.0, 0.25, 1.0])


def test_indexing_loop_keeps_float32_and_never_writes_into_user_arrays():
    x = np.linspace(0.1, 1.0, 6, dtype=np.float32)
    g = revad.grad(loop_sum)(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, loop_grad_by_hand(x.astype(np.float64)), rtol=1e-5)
    # a float32 piece meeting a float64 one in the same slot: the sum widens, as a dense `+` does
    g = revad.grad(lambda x: x[0] * x[1] + np.float64(2.0) * x.astype(np.float64)[1])(x)
    np.testing.assert_allclose(g, [x[1], x[0] + 2.0, 0, 0, 0, 0], rtol=1e-6)
    # cotangents the user passes in, or the rules return, are read and never added into
    seed = np.ones(3)
    before = seed.copy()
    out, pullback = revad.vjp(lambda x: np.stack([x[i] * 2.0 for i in range(3)]) + x[::-1], np.arange(3.0))
    np.testing.assert_array_equal(pullback(seed)[0], [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(seed, before)
    # `x + x[0]`: add's rule hands back the seed itself as x's dense part, then x[0]'s piece meets it in x's slot
    out, pullback = revad.vjp(lambda x: x + x[0], np.arange(3.0))
    for _ in range(2):
        np.testing.assert_array_equal(pullback(seed)[0], [4.0, 1.0, 1.0])
        np.testing.assert_array_equal(seed, before)


def test_indexing_loop_jacobians_batched():
    f = lambda x: np.stack([np.sin(x[i]) * x[-1 - i] for i in range(x.shape[0])])  # noqa: E731
    x = np.linspace(-0.8, 0.9, 5)
    expected = oracle.jacobian(f, x)
    for chunk in (1, 2, None):
        close(revad.jacrev(f, chunk_size=chunk)(x), expected)
    close(dualad.jacfwd(f)(x), expected)
    # batched cotangents through separated advanced indices (the batch axes sit in the middle of the result)
    g = lambda x: np.stack([x[np.array([0, 1]), :, np.array([1, 3])] * x[i, 0, i] for i in range(2)])  # noqa: E731
    x = np.arange(24.0).reshape(2, 3, 4) / 24 - 0.3
    expected = oracle.jacobian(g, x)
    for chunk in (1, 5, None):
        close(revad.jacrev(g, chunk_size=chunk)(x), expected)


HESSIANS = [
    ("revad.hessian", revad.hessian),
    ("jacfwd(revad.grad)", lambda f: dualad.jacfwd(revad.grad(f))),
    ("jacrev(dualad.grad)", lambda f: revad.jacrev(dualad.grad(f))),
    ("dualad.hessian", dualad.hessian),
    ("jacrev(revad.grad)", lambda f: revad.jacrev(revad.grad(f))),
]


@pytest.mark.parametrize("name,hess", HESSIANS, ids=[h[0] for h in HESSIANS])
def test_indexing_loop_hessians_in_every_nesting(name, hess):
    for _, f, x in (LOOPS[0], LOOPS[2], LOOPS[4]):
        close(hess(f)(x), oracle.hessian(f, x), tol=1e-11)


def test_indexing_loop_third_order():
    # f = sum_i x_i^3 x_{i+1}: third derivatives 6 x_{i+1} at (i,i,i) and 6 x_i at the permutations of (i,i,i+1)
    def f(x):
        return sum(x[i] ** 3 * x[(i + 1) % 4] for i in range(4))

    x = np.array([0.5, -1.0, 2.0, 0.3])
    expected = np.zeros((4, 4, 4))
    for i in range(4):
        j = (i + 1) % 4
        expected[i, i, i] += 6 * x[j]
        for idx in ((i, i, j), (i, j, i), (j, i, i)):
            expected[idx] += 6 * x[i]
    close(revad.jacrev(revad.hessian(f))(x), expected)
    close(dualad.jacfwd(revad.jacrev(revad.grad(f)))(x), expected)
    close(revad.jacrev(dualad.jacfwd(revad.grad(f)))(x), expected)


def _per_element_seconds(run, n, repeats):
    best = float("inf")
    for _ in range(repeats):
        prepared = run(np.linspace(0.1, 1.0, n))
        gc.collect()
        gc.disable()  # the collector's own cost is another matter (the first tests): time the algorithm
        try:
            start = time.process_time()  # CPU time: other processes on a loaded machine do not count
            prepared()
            best = min(best, time.process_time() - start)
        finally:
            gc.enable()
    return best / n


def test_indexing_loop_sweep_is_linear_in_n():
    # one full-length zeros array per x[i] made the reverse sweep O(n^2) (2.3x per element from n = 2000 to 32000
    # then); now every piece is added into one buffer per slot, and the per-element cost stays flat
    def prepare(x):
        return revad.trace(loop_sum, x).backward

    small = _per_element_seconds(prepare, 2000, 3)
    large = _per_element_seconds(prepare, 32000, 2)
    assert large < 1.5 * small, f"{small * 1e6:.1f} us per element at n=2000, {large * 1e6:.1f} at 32000"


def test_indexing_loop_forward_is_linear_in_n():
    # forward mode carries one scalar tangent per x[i]: no full-length work per element (dualad.grad seeds n
    # directions, so each x[i] carries an n-vector: O(n) per element, inherently)
    def prepare(x):
        return lambda: dualad.jvp(loop_sum, (x,), (np.ones_like(x),))

    small = _per_element_seconds(prepare, 2000, 3)
    large = _per_element_seconds(prepare, 16000, 2)
    assert large < 1.5 * small, f"{small * 1e6:.1f} us per element at n=2000, {large * 1e6:.1f} at 16000"


def test_counted_sweep_takes_the_dense_rules_and_agrees():
    import adops

    x = np.linspace(-1.0, 1.0, 6)
    with adops.count_ops() as counts:
        g = revad.grad(loop_sum)(x)
    np.testing.assert_allclose(g, loop_grad_by_hand(x), rtol=1e-14)
    assert counts.rules[("vjp", "getitem")] == 2 * x.size  # every x[i] pulled back by the registry's own rule


def test_scatter_vjps_must_match_vjps():
    from adops import Op

    with pytest.raises(TypeError, match="scatter_vjps needs one rule per entry of vjps"):
        Op(name="bad", impl=lambda x: x, jvp=None, vjps=(None,), scatter_vjps=(None, None))


def test_indexing_loops_replay_to_the_last_bit():
    # a replay records the dense path (its cotangents are recorded values); the eager sweep adds every contribution
    # in the order it arrives, so both give the same bits, dense and index-add pieces interleaved on one slot
    import warnings

    from adops.compiled import ReplayWarning, compiled

    rng = np.random.default_rng(3)
    for f in (LOOPS[1][1], LOOPS[4][1], lambda x: np.sum(np.exp(x) * x[::-1]) + sum(x[i] * x[0] for i in range(4))):
        c = compiled(revad.grad(f))
        for _ in range(3):
            x = rng.standard_normal(4)
            with warnings.catch_warnings():
                warnings.simplefilter("error", ReplayWarning)
                np.testing.assert_array_equal(c(x), revad.grad(f)(x))
