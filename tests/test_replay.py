"""Replay (``compiled``): every registry op and the random-program corpus recorded at one point and replayed at
another, against eager evaluation there; value-dependent control flow, masks, argmax and nonzero indexing, float
conversions, float32, pytrees, several argnums; the guard cache bound; captured arrays; forward mode."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from test_ops import CASES, make_args
from test_random_programs import programs, run

import adops
import dualad
import revad
from adops.compiled import ReplayWarning, compiled

# a replay that disagrees with eager evaluation warns (and runs eagerly): here that is a failure
pytestmark = pytest.mark.filterwarnings("error::adops.compiled.ReplayWarning")

DIFFERENTIABLE = [(n, k) for n, k in CASES if adops.OPS[n].differentiable or adops.OPS[n].composite]
CONSTANT = [(n, k) for n, k in CASES if not (adops.OPS[n].differentiable or adops.OPS[n].composite)]


def same(got, expected, what=""):
    """Replay must give eager's answer: the same structure, shapes and dtypes, and values to the last bit (NaN where
    eager has NaN)."""
    g_leaves, g_def = adops.trees.flatten(got)
    e_leaves, e_def = adops.trees.flatten(expected)
    assert adops.trees.same_structure(g_def, e_def), what
    for g, e in zip(g_leaves, e_leaves):
        assert np.shape(g) == np.shape(e), (what, np.shape(g), np.shape(e))
        assert type(g) is type(e), (what, type(g), type(e))  # a 0-d array stays one, a NumPy scalar too
        assert np.asarray(g).dtype == np.asarray(e).dtype, (what, np.asarray(g).dtype, np.asarray(e).dtype)
        np.testing.assert_array_equal(np.asarray(g), np.asarray(e), err_msg=what)


def replayed(fn, *points):
    """Call ``compiled(fn)`` at each point (the first records) and check each result against eager ``fn``; returns the
    compiled function (its ``stats`` say what happened)."""
    c = compiled(fn)
    for args in points:
        with np.errstate(all="ignore"):
            expected = fn(*args)
            got = c(*args)
        same(got, expected, getattr(fn, "__name__", "fn"))
    return c


def _points(op, sample):
    return [make_args(op, sample), make_args(op, sample, "second point"), make_args(op, sample)]


@pytest.mark.parametrize("name,k", DIFFERENTIABLE, ids=[f"{n}-{k}" for n, k in DIFFERENTIABLE])
def test_every_op_replays_its_jacobians(name, k):
    op = adops.OPS[name]
    sample = op.samples[k]
    points = _points(op, sample)
    argnums = tuple(range(len(points[0])))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReplayWarning)  # every op can be recorded
        rev = replayed(revad.jacrev(sample.call, argnums), *points)
        fwd = replayed(dualad.jacfwd(sample.call, argnums), *points)
    for c in (rev, fwd):
        assert c.stats["records"] + c.stats["replays"] == 3, c.stats


@pytest.mark.parametrize("name,k", CONSTANT, ids=[f"{n}-{k}" for n, k in CONSTANT])
def test_every_piecewise_constant_op_is_recomputed(name, k):
    op = adops.OPS[name]
    sample = op.samples[k]
    if name == "empty_like":
        pytest.skip("np.empty_like's values are whatever the memory held")
    points = _points(op, sample)

    def f(*xs):  # the op on a value computed from the inputs, beside a gradient that does not depend on it
        return sample.call(*[x * 1.0 for x in xs]), revad.grad(lambda v: np.sum(v * v))(xs[0])

    with warnings.catch_warnings():
        warnings.simplefilter("error", ReplayWarning)
        c = replayed(f, *points)
    assert c.stats["records"] + c.stats["replays"] == 3, c.stats


RANDOM = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@RANDOM
@given(programs(), programs(special=True))
def test_random_programs_replay_at_a_second_point(case, special):
    inputs, program, constants = case
    f = lambda *xs: run(program, constants, xs)
    argnums = tuple(range(len(inputs)))
    rng = np.random.default_rng(len(program))
    second = [x + rng.uniform(-1, 1, size=np.shape(x)) for x in inputs]
    values = np.concatenate([np.ravel(v) for v in special[0]])  # exact zeros and ties, as the corpus draws them
    special_point = [np.resize(values, np.shape(x)) for x in inputs]
    for transform in (revad.jacrev(f, argnums), dualad.jacfwd(f, argnums),
                      revad.value_and_grad(lambda *xs: np.sum(np.sin(f(*xs))), argnums)):
        c = replayed(transform, inputs, second, special_point, inputs)
        assert c.stats["eager"] == 0, c.stats


# ---- value-dependent programs ------------------------------------------------------------------------------------
def branchy(x):
    if x.sum() > 0:
        return np.sum(np.sin(x) * x)
    return np.sum(x ** 3)


def test_value_dependent_branch_takes_both_sides():
    points = [(np.array([1.0, 2.0]),), (np.array([-1.0, -2.0]),), (np.array([3.0, 0.5]),), (np.array([-3.0, 1.0]),)]
    c = replayed(revad.value_and_grad(branchy), *points * 3)
    assert c.stats["records"] == 2 and c.stats["replays"] == 10, c.stats


def test_masks_are_recomputed_not_baked():
    f = lambda x: np.sum(np.where(x > 0, x, 0.0) ** 2 + np.abs(x) * (x < 0.5))
    points = [(np.array([1.0, -2.0, 0.3]),), (np.array([-1.0, 3.0, 0.7]),), (np.array([0.2, 0.1, -4.0]),)]
    c = replayed(revad.value_and_grad(f), *points)
    assert c.stats == {**c.stats, "records": 1, "replays": 2}
    replayed(dualad.jacfwd(lambda x: np.where(x > 0, np.sin(x), x * x)), *points)


def test_argmax_indexing_follows_the_argmax():
    f = lambda x: x[np.argmax(x)] ** 2 + 3 * x[np.argmin(x)]
    points = [(np.array([1.0, -2.0, 3.0]),), (np.array([5.0, 2.0, -3.0]),), (np.array([0.0, 7.0, 1.0]),)]
    c = replayed(revad.grad(f), *points)
    assert c.stats["records"] == 1, c.stats  # the index is an input of the program, not a guard
    replayed(dualad.grad(f), *points)


def test_while_loop_on_values():
    def newton_sqrt(a):
        y = a * 1.0
        while np.abs(y * y - a) > 1e-10:
            y = 0.5 * (y + a / y)
        return y

    points = [(np.array(2.0),), (np.array(9.0),), (np.array(2.0),), (np.array(1e4),), (np.array(2.5),)]
    c = replayed(revad.value_and_grad(newton_sqrt), *points)
    assert c.stats["replays"] >= 1, c.stats


def test_float_and_int_conversions_are_guards():
    def f(x, data):
        k = int(np.sum(data > 0))  # a count Python uses
        scale = float(np.max(data))
        return np.sum(x[:k] ** 2) * scale

    x = np.arange(1.0, 5.0)
    points = [(x, np.array([1.0, 2.0, -1.0, 0.5])), (x + 1, np.array([1.0, 2.0, -1.0, 0.5])),
              (x, np.array([1.0, -2.0, -1.0, 0.5])), (x, np.array([3.0, 2.0, -1.0, 0.5]))]
    c = replayed(revad.grad(f), *points)
    assert c.stats["records"] == 3 and c.stats["replays"] == 1, c.stats


@pytest.mark.parametrize("engine", ["revad", "dualad"])
def test_boolean_mask_indexing_with_a_changing_count(engine):
    f = lambda x: np.sum(np.sin(x[x > 0])) + np.sum(x[np.nonzero(x < -1)] ** 2)
    grad = revad.grad if engine == "revad" else dualad.grad
    points = [(np.array([1.0, -2.0, 3.0, 0.5]),), (np.array([-1.0, 2.0, 3.0, -0.5]),),
              (np.array([2.0, 1.0, -3.0, 0.5]),), (np.array([-1.0, -2.0, -3.0, -0.5]),),
              (np.array([1.5, -2.5, 3.5, 0.2]),)]
    c = replayed(grad(f), *points)
    assert c.stats["replays"] >= 1, c.stats


def test_float32_stays_float32():
    f = lambda x, w: np.sum(np.tanh(w @ x) ** 2)
    rng = np.random.default_rng(0)
    pts = [(rng.standard_normal(4).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32))
           for _ in range(3)]
    replayed(revad.value_and_grad(f, argnums=(0, 1)), *pts)
    replayed(dualad.jacfwd(lambda x, w: np.tanh(w @ x), argnums=1), *pts)


def test_pytrees_and_several_argnums():
    def loss(params, x, scale):
        h = np.tanh(x @ params["w"] + params["b"])
        return np.sum(h ** 2) * scale + np.sum(params["extra"][0] * params["extra"][1])

    rng = np.random.default_rng(1)

    def point():
        return ({"w": rng.standard_normal((3, 2)), "b": rng.standard_normal(2),
                 "extra": [rng.standard_normal(2), rng.standard_normal(2)]},
                rng.standard_normal((4, 3)), float(rng.uniform(1, 2)))

    c = replayed(revad.value_and_grad(loss, argnums=(0, 1)), point(), point(), point())
    assert c.stats["replays"] == 2, c.stats
    replayed(revad.jacrev(lambda p, x: np.tanh(x @ p["w"]), argnums=(0, 1)), point()[:2], point()[:2])


def test_static_arguments_select_a_program():
    f = lambda x, n, mode: np.sum(x[:n] ** 2) if mode == "sq" else np.sum(np.sin(x[:n]))
    x = np.linspace(0, 1, 5)
    c = replayed(revad.grad(f), (x, 2, "sq"), (x + 1, 2, "sq"), (x, 3, "sq"), (x, 3, "sin"), (x * 2, 3, "sin"))
    assert c.stats["records"] == 3 and c.stats["replays"] == 2, c.stats


def test_generated_code_matches_the_interpreter():
    rng = np.random.default_rng(2)
    f = lambda x: np.sum(np.where(x > 0, np.log1p(x * x), np.exp(x)) * np.cos(x[::-1]))
    points = [(rng.standard_normal(6),) for _ in range(15)]
    c = replayed(revad.value_and_grad(f), *points)
    assert c.stats["generated"] == 1 and c.stats["replays"] == 14, c.stats


def test_the_cache_is_bounded():
    f = lambda x: np.sum(x[: int(np.argmax(x)) + 1] ** 2)  # one program per position of the maximum
    c = compiled(revad.grad(f), max_programs=3)
    for i in range(6):
        x = np.zeros(6)
        x[i] = 1.0
        same(c(x), revad.grad(f)(x))
    assert len(c.lru) == 3 and c.stats["records"] == 6


def test_a_rebound_captured_array_is_seen():
    w = np.array([1.0, 2.0])
    f = lambda x: np.sum(w * x ** 2)
    g = compiled(revad.grad(f))
    x = np.array([1.0, 1.0])
    same(g(x), np.array([2.0, 4.0]))
    w = np.array([5.0, 7.0])  # noqa: F841  (rebinding the closure cell f reads)
    same(g(x), np.array([10.0, 14.0]))
    assert g.stats["records"] == 2, g.stats


W_GLOBAL = np.array([1.0, 2.0])


def _uses_global(x):
    return np.sum(W_GLOBAL * x ** 2)


def test_a_rebound_global_array_is_seen():
    global W_GLOBAL
    g = compiled(revad.grad(_uses_global))
    x = np.array([1.0, 1.0])
    same(g(x), np.array([2.0, 4.0]))
    saved = W_GLOBAL
    try:
        W_GLOBAL = np.array([3.0, 0.0])
        same(g(x), np.array([6.0, 0.0]))
    finally:
        W_GLOBAL = saved


def test_an_array_changed_in_place_needs_clear_or_an_argument():
    w = np.array([1.0, 2.0])
    g = compiled(revad.grad(lambda x: np.sum(w * x ** 2)))
    x = np.array([1.0, 1.0])
    same(g(x), np.array([2.0, 4.0]))
    w[:] = [3.0, 4.0]  # documented as not detected (the rules multiplied w into constants while recording)
    g.clear()
    same(g(x), np.array([6.0, 8.0]))
    h = compiled(revad.grad(lambda x, w: np.sum(w * x ** 2)))  # the remedy: an argument is an input
    same(h(x, w), np.array([6.0, 8.0]))
    w[:] = [5.0, 0.0]
    same(h(x, w), np.array([10.0, 0.0]))
    assert h.stats["replays"] == 1


def test_outputs_are_never_the_programs_own_constants():
    g = compiled(revad.grad(lambda x: np.sum(x)))
    first = g(np.ones(3))
    first += 100  # the caller owns what it gets
    second = g(np.ones(3) * 2)
    same(second, np.ones(3))


def test_what_cannot_be_recorded_runs_eagerly():
    def f(x, data):
        data = data.copy()
        data[0] = 0.0  # item assignment into a recorded value: eager semantics, no replay
        return np.sum(x * data)

    x, data = np.ones(3), np.arange(3.0)
    c = compiled(revad.grad(f))
    with pytest.warns(ReplayWarning, match="item assignment"):
        same(c(x, data), revad.grad(f)(x, data))
    same(c(x, data + 1), revad.grad(f)(x, data + 1))
    assert c.stats["eager"] == 2 and c.stats["records"] == 0


def test_traced_arguments_and_counting_run_eagerly():
    g = compiled(revad.grad(lambda x: np.sum(np.sin(x) ** 2)))
    x = np.array([0.3, -0.4])
    hess = dualad.jacfwd(g)(x)  # compiled inside a transformation: eager
    same(hess, dualad.jacfwd(revad.grad(lambda x: np.sum(np.sin(x) ** 2)))(x))
    with adops.count_ops() as counts:
        g(x)
    assert counts.by_phase()["vjp"]["ops"] > 0


def test_strong_zero_infinities_are_guarded():
    f = lambda x: np.sum(np.sqrt(x * x) + x)  # sqrt'(0) is infinite: the strong-zero products switch kind
    points = [(np.array([1.0, 2.0]),), (np.array([0.0, 2.0]),), (np.array([3.0, 0.0]),), (np.array([1.0, 2.0]),)]
    replayed(revad.grad(f), *points)
    replayed(dualad.grad(f), *points)


@pytest.mark.parametrize("make", [lambda f: dualad.jacfwd(f), lambda f: revad.jacrev(f),
                                  lambda f: dualad.hessian(lambda x: np.sum(f(x))),
                                  lambda f: revad.hessian(lambda x: np.sum(f(x)))])
def test_forward_mode_and_nestings_replay(make):
    rng = np.random.default_rng(3)
    w1, b1, w2 = rng.standard_normal((8, 4)), rng.standard_normal(8), rng.standard_normal((3, 8))
    f = lambda x: w2 @ np.tanh(w1 @ x + b1)
    c = replayed(make(f), *[(rng.standard_normal(4),) for _ in range(4)])
    assert c.stats["replays"] == 3, c.stats


def test_jvp_closure_replays():
    f = lambda x: np.sin(x) * np.exp(-x)
    jvp = lambda x, v: dualad.jvp(f, (x,), (v,))
    rng = np.random.default_rng(4)
    c = replayed(jvp, *[(rng.standard_normal(3), rng.standard_normal(3)) for _ in range(3)])
    assert c.stats["replays"] == 2, c.stats


def test_the_first_replay_is_checked_against_eager():
    f = revad.grad(lambda x: np.sum(np.sin(x) * 3.0))
    c = compiled(f)
    x = np.array([0.1, 0.2])
    same(c(x), f(x))
    prog = next(iter(c.lru))
    (k,) = [i for i, ins in enumerate(prog.code) if ins[1] is np.cos]
    prog.code[k] = (prog.code[k][0], np.sin) + prog.code[k][2:]  # a wrong program, as a bug in replay would make
    with pytest.warns(ReplayWarning, match="disagreed with eager"):
        same(c(x + 1), f(x + 1))
    same(c(x + 2), f(x + 2))  # eager from now on for this signature
    assert c.stats["eager"] == 1 and not c.lru


def test_sorts_and_gathers_replay_without_value_guards():
    # np.sort's rules index a constant seed with np.argsort of a recorded value: recorded, not a guard on the values
    f = lambda x: np.sum(np.sort(x) * np.arange(5.0)) + np.sum(np.take_along_axis(x, np.argsort(-x), 0)[:2] ** 2)
    rng = np.random.default_rng(5)
    for transform in (revad.grad(f), dualad.grad(f)):
        c = replayed(transform, *[(rng.standard_normal(5),) for _ in range(4)])
        assert c.stats["records"] == 1, c.stats


def test_take_and_where_masks_replay_without_value_guards():
    f = lambda x: np.sum(np.take(x, np.argsort(x)[-2:]) ** 2) + np.sum(x ** 3, where=x > 0) + np.mean(x, where=x < 1)
    rng = np.random.default_rng(6)
    for transform in (revad.grad(f), dualad.grad(f)):
        c = replayed(transform, *[(rng.standard_normal(5),) for _ in range(4)])
        assert c.stats["records"] == 1, c.stats


def test_an_error_inside_a_replay_is_eagers_to_give():
    f = revad.grad(lambda a: np.sum(np.linalg.inv(a)))
    c = compiled(f)
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    same(c(a), f(a))
    with pytest.raises(np.linalg.LinAlgError):  # singular: eager raises, and so does the compiled function
        c(np.zeros((2, 2)))
    same(c(a * 2), f(a * 2))


def test_numpy_calls_the_registry_refuses_on_masks_are_recorded_as_they_are():
    def f(x):
        count = np.sum(x > 0, dtype=np.int64)  # eager NumPy on a plain mask; the registry refuses dtype=int
        share = np.add(x > 0, 0, dtype=float)
        return np.sum(x ** 2 * share) * count

    rng = np.random.default_rng(7)
    c = replayed(revad.grad(f), *[(rng.standard_normal(5),) for _ in range(4)])
    assert c.stats["eager"] == 0, c.stats


def test_an_unhashable_argument_runs_eagerly():
    # keyed by identity, a mutable config changed in place (or a new one at a freed one's address) replayed stale
    from dataclasses import dataclass

    @dataclass
    class Config:
        p: int

    f = lambda x, cfg: np.sum(np.sin(x)) if cfg.p == 2 else np.sum(np.cos(x))
    x = np.array([1.0, 2.0, 3.0])
    c = compiled(revad.grad(f))
    cfg = Config(2)
    with pytest.warns(ReplayWarning, match="Config is unhashable"):
        for p in (2, 2, 2, 3, 4):
            cfg.p = p
            same(c(x, cfg), revad.grad(f)(x, cfg))
    assert c.stats["records"] == 0 and c.stats["eager"] == 5, c.stats


PARAMS = {"w": np.array([1.0, 2.0])}


def test_a_rebound_item_of_a_captured_container_is_seen():
    # params["w"] = new: the dict keeps its identity, so only its contents show the change
    g = compiled(revad.grad(lambda x: np.sum(PARAMS["w"] * x ** 2)))
    layers = [(np.array([1.0, 1.0]), 0.5)]
    h = compiled(revad.grad(lambda x: np.sum(layers[0][0] * x) * layers[0][1]))
    x = np.array([1.0, 1.0])
    saved = PARAMS["w"]
    try:
        a, b, c = np.array([1.0, 2.0]), np.array([3.0, 0.0]), np.array([0.0, 5.0])
        for w in (a, a, b, b, c):
            PARAMS["w"] = w
            same(g(x), 2 * w * x)
    finally:
        PARAMS["w"] = saved
    pairs = [(layers[0][0], scale) for scale in (0.5, 2.0, 3.0)]
    for pair in (pairs[0], pairs[0], pairs[1], pairs[1], pairs[2]):
        layers[0] = pair  # a list of (W, b) pairs, as autograd's examples keep them
        same(h(x), np.array([pair[1], pair[1]]))
    assert g.stats["records"] == 3 and h.stats["records"] == 3, (g.stats, h.stats)


def test_a_rebound_attribute_of_a_bound_methods_object_is_seen():
    class Model:
        def __init__(self):
            self.w = np.array([1.0, 2.0])

        def loss(self, x):
            return np.sum(self.w * x ** 2)

    model = Model()
    g = compiled(revad.grad(model.loss))
    x = np.array([1.0, 1.0])
    a, b = np.array([1.0, 2.0]), np.array([3.0, 0.0])
    for w in (a, a, b, b):
        model.w = w
        same(g(x), 2 * w)
    assert g.stats["records"] == 2, g.stats


def test_a_buffer_changed_in_place_after_its_use_keeps_the_value_it_had():
    # the program took constants by identity: a buffer filled after a first use replayed its final values there
    # (silently, when the first replay's point hid the difference)
    def f(x):
        buf = np.zeros(3)
        y = np.sum(np.maximum(x, 0.0) * buf)
        buf[:] = 1.0
        return y + np.sum(x * x * buf)

    replayed(revad.value_and_grad(f), (np.array([1.0, 2.0, 3.0]),), (np.array([-1.0, -2.0, -3.0]),),
             (np.array([1.0, 2.0, 3.0]),), (np.array([0.5, -2.0, 3.0]),))

    def g(x):  # a large one is not copied at every use: recording it refuses instead
        buf = np.zeros(5000)
        y = np.sum(x * buf)
        buf += 1.0
        return y + np.sum(x * buf)

    c = compiled(revad.grad(g))
    with pytest.warns(ReplayWarning, match="changed in place"):
        same(c(np.ones(5000)), revad.grad(g)(np.ones(5000)))
    assert c.stats["records"] == 0 and c.stats["eager"] == 1, c.stats


def test_an_index_changed_in_place_after_its_use_keeps_the_value_it_had():
    # ops' params (an index) and the arguments of NumPy calls without a rule were held by reference
    def f(x):
        idx = np.array([0, 1])
        y = np.sum(np.maximum(x[idx], 0.0) ** 2) + np.sum(np.interp(x, np.array([0.0, 1.0]), idx * 1.0))
        idx[0] = 3
        return y + np.sum(x[idx] ** 3)

    replayed(revad.value_and_grad(f), (np.array([1.0, 2.0, 3.0, 4.0]),), (np.array([-1.0, -2.0, 3.0, 4.0]),),
             (np.array([1.0, 2.0, 3.0, -4.0]),), (np.array([0.5, -2.0, 3.0, 0.25]),))


def _helper(x):
    return np.sin(x)


def test_a_redefined_helper_is_seen():
    # a helper redefined (a notebook cell run again) or a function in a closure rebound replayed the old one
    global _helper
    f = lambda x: np.sum(_helper(x) ** 2)
    c = compiled(revad.grad(f))
    x = np.array([0.3, 0.7])
    saved = _helper
    try:
        for helper in (np.sin, np.sin, np.cos, np.cos, np.tanh):
            _helper = helper
            same(c(x), revad.grad(f)(x))
    finally:
        _helper = saved
    assert c.stats["records"] == 3, c.stats


def test_random_numbers_drawn_inside_are_named_when_the_replay_disagrees():
    rng = np.random.default_rng(0)
    c = compiled(revad.grad(lambda x: np.sum(x * rng.normal(size=2))))
    c(np.ones(2))
    with pytest.warns(ReplayWarning, match="not pure"):
        c(np.ones(2))
    assert c.stats["eager"] == 0 and c.stats["records"] == 1 and len(c.lru) == 0, c.stats


def test_the_signatures_that_run_eagerly_are_bounded_too():
    c = compiled(lambda x, k: np.sum(x) + complex(x[0]).real * k, max_programs=2)  # complex(): not replayable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReplayWarning)
        for k in range(100):
            assert c(np.ones(3), k) == 3.0 + k
    assert len(c.eager) <= 16 and c.stats["eager"] == 100, (len(c.eager), c.stats)


def test_a_composite_given_a_recorded_parameter_runs_eagerly():
    # np.delete / np.insert at a position computed from the inputs recursed without end while recording
    for f in (lambda x: np.sum(np.delete(x, np.argmax(x)) ** 2),
              lambda x: np.sum(np.insert(x, np.argmin(x), x[0]) ** 2)):
        c = compiled(revad.grad(f))
        x = np.array([1.0, 3.0, 2.0])
        with pytest.warns(ReplayWarning, match="computed from the inputs"):
            same(c(x), revad.grad(f)(x))
        same(c(x[::-1].copy()), revad.grad(f)(x[::-1].copy()))  # (eager, without a second warning)
        assert c.stats["records"] == 0 and c.stats["eager"] == 2, c.stats


def test_an_errstate_that_raises_inside_the_function_runs_eagerly():
    # a replay runs under the caller's error state: the except branch eager evaluation takes was never taken
    def f(x):
        with np.errstate(divide="raise", invalid="raise"):
            try:
                y = np.log(x)
            except FloatingPointError:
                y = x * 0.0
        return np.sum(y * x)

    c = compiled(revad.grad(f))
    with pytest.warns(ReplayWarning, match="errstate"):
        same(c(np.array([1.0, 2.0])), revad.grad(f)(np.array([1.0, 2.0])))
    for x in ([2.0, 3.0], [0.0, 1.0], [-1.0, 1.0]):
        same(c(np.array(x)), revad.grad(f)(np.array(x)))
    g = compiled(revad.grad(lambda x: np.sum(x * np.log(x))))  # the caller's state applies to replays as to eager
    g(np.array([1.0, 2.0]))
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        g(np.array([0.0, 2.0]))


def test_a_refusal_the_function_catches_still_runs_it_eagerly():
    # NotReplayable is a TypeError: caught by the function, the recording went on down the other branch and even
    # the first call returned that branch's numbers
    def f(x, data):
        try:
            d = data.copy()
            d[0] = 0.0
        except Exception:
            d = data
        return np.sum(x * d)

    c = compiled(revad.grad(f))
    with pytest.warns(ReplayWarning, match="caught there"):
        same(c(np.ones(2), np.array([1.0, 2.0])), np.array([0.0, 2.0]))
    same(c(np.ones(2), np.array([3.0, 2.0])), np.array([0.0, 2.0]))
    assert c.stats["records"] == 0, c.stats


@pytest.mark.parametrize("use", [lambda d: len(d.tobytes()), lambda d: d.ctypes.data > 0, lambda d: len(bytes(d)),
                                 lambda d: d.copy().setflags(write=False) is None, lambda d: d.nbytes],
                         ids=["tobytes", "ctypes", "bytes", "setflags", "nbytes"])
def test_ndarray_attributes_without_a_recording_run_eagerly(use):
    # a non-differentiated argument is a recorded value: an ndarray attribute it lacks raised AttributeError where
    # eager evaluation answers
    f = lambda x, data: np.sum(x ** 2) * float(use(data))
    c = compiled(revad.grad(f))
    x, data = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReplayWarning)
        for _ in range(3):
            same(c(x, data), revad.grad(f)(x, data))


def test_str_and_format_of_a_recorded_value_are_guards():
    # str() gave the recording's repr and format() raised: the first call took the wrong branch
    f = lambda x, d: np.sum(x ** 2) * (2.0 if str(d) == "[1. 2.]" else 1.0) + len(f"{d[0]:.1f}")
    x = np.ones(2)
    c = replayed(revad.grad(f), (x, np.array([1.0, 2.0])), (x, np.array([1.0, 2.0])), (x, np.array([1.0, 3.0])),
                 (x, np.array([10.0, 2.0])), (x, np.array([1.0, 2.0])))
    assert c.stats["records"] == 3, c.stats


def test_a_bound_methods_object_with_a_large_attribute_is_still_followed():
    class Model:
        def __init__(self):
            self.w = np.array([1.0, 2.0])
            self.data = list(range(1000))  # (too much to compare: it must not hide self.w)

        def loss(self, x):
            return np.sum(self.w * x ** 2)

    model = Model()
    g = compiled(revad.grad(model.loss))
    x = np.array([1.0, 1.0])
    g(x)
    model.w = np.array([3.0, 0.0])
    same(g(x), np.array([6.0, 0.0]))


def _fill(write):
    def f(x, d):
        buf = np.zeros(2)
        write(buf, d)
        return np.sum(x ** 2 * buf)

    return f


@pytest.mark.parametrize("write", [lambda b, d: np.copyto(b, d), lambda b, d: np.put(b, [0], d[0]),
                                   lambda b, d: np.place(b, [True, False], d[0]),
                                   lambda b, d: np.putmask(b, [True, False], d[0]),
                                   lambda b, d: np.add.at(b, [0, 0], d[0]),
                                   lambda b, d: np.multiply(d, 2.0, out=b), lambda b, d: np.cumsum(d, out=b)],
                         ids=["copyto", "put", "place", "putmask", "add.at", "ufunc out=", "cumsum out="])
def test_numpy_writing_a_recorded_value_into_a_plain_array_runs_eagerly(write):
    # the write happened at the recording only: the plain array's later uses were constants (silently stale)
    f = _fill(write)
    c = compiled(revad.grad(f))
    x = np.array([1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReplayWarning)
        for d in (x, x, 2 * x, 3 * x):
            same(c(x, d), revad.grad(f)(x, d))
    assert c.stats["records"] == 0, c.stats


def test_guards_tell_a_negative_zero_from_zero():
    # float(), .item(), .tolist() and np.asarray compared with ==, so -0.0 passed a guard recorded at 0.0
    import math

    f = lambda x, d: np.sum(x ** 2) * (math.copysign(1.0, d.item()) + math.copysign(2.0, d.tolist())
                                       + math.copysign(4.0, float(d)) + np.arctan2(np.asarray(d), -1.0))
    x, zero, nan = np.array([1.0, 2.0]), np.array(0.0), np.array(np.nan)
    c = replayed(revad.grad(f), (x, zero), (x, zero), (x, -zero), (x, zero), (x, nan), (x, nan))
    assert c.stats["records"] == 3 and c.stats["replays"] == 3, c.stats


def test_copies_of_a_recorded_value_replay_and_pickling_runs_eagerly():
    # copy.deepcopy and pickle raised TypeError (the recording's program is not picklable) where eager answers
    import copy
    import pickle

    x = np.array([1.0, 2.0])
    for copier in (copy.copy, copy.deepcopy):
        f = lambda x, d, copier=copier: np.sum(x ** 2 * copier(d))
        c = replayed(revad.grad(f), (x, x), (x, x), (x, 2 * x))
        assert c.stats["records"] == 1, c.stats
    f = lambda x, d: np.sum(x ** 2 * pickle.loads(pickle.dumps(d)))
    c = compiled(revad.grad(f))
    with pytest.warns(ReplayWarning, match="pickling"):
        same(c(x, x), revad.grad(f)(x, x))


def test_a_rebound_attribute_of_a_static_argument_is_seen():
    # a model object passed as an argument is static (hashed by identity): its attributes were constants, silently
    class Model:
        def __init__(self):
            self.w = np.array([1.0, 2.0])
            self.p = 2

    loss = lambda x, model: np.sum(model.w * x ** model.p)
    model, x = Model(), np.array([1.0, 2.0])
    c = compiled(revad.grad(loss))
    for step in range(8):
        same(c(x, model), revad.grad(loss)(x, model))
        if step % 3 == 2:
            model.w = model.w * 2.0
        if step == 6:
            model.p = 3
    assert c.stats["records"] == 4 and len(c.lru) == 1, (c.stats, len(c.lru))


def test_compiled_decorates_a_method():
    # the instance was not passed: TypeError, missing an argument
    class Model:
        def __init__(self, w):
            self.w = w

        @compiled
        def grad(self, x):
            return revad.grad(lambda x: np.sum(self.w * x ** 2))(x)

    model, x = Model(np.array([1.0, 2.0])), np.array([1.0, 1.0])
    for w in ([1.0, 2.0], [1.0, 2.0], [3.0, 0.0]):
        if w != model.w.tolist():
            model.w = np.array(w)
        same(model.grad(x), 2 * model.w * x)
    same(Model(np.array([5.0, 5.0])).grad(x), np.array([10.0, 10.0]))
    assert Model.grad.stats["records"] == 3, Model.grad.stats


def test_a_list_changed_in_place_after_its_use_keeps_the_value_it_had():
    def f(x):
        w = [[0.0, 0.0]]
        y = np.sum(np.maximum(x, 0.0) * w)
        w[0][0] = 1.0
        return y + np.sum(x * w)

    replayed(revad.value_and_grad(f), (np.array([1.0, 2.0]),), (np.array([-1.0, -2.0]),), (np.array([1.0, 2.0]),),
             (np.array([3.0, 2.0]),))


# ---- what the cheap recording changed: optimizing at the first replay, the short path, Rec's own attributes ----------
def test_dead_code_is_dropped_at_the_first_replay_not_while_recording():
    def f(x):
        np.exp(x) * 3.0  # computed and never used: recorded, then dead
        return np.sum(np.sin(x) * x)

    x = np.array([0.5, 1.0])
    c = compiled(revad.value_and_grad(f))
    same(c(x), revad.value_and_grad(f)(x))
    (prog,) = c.lru
    n = len(prog)
    assert not prog.optimized and any(ins[1] is np.exp for ins in prog.code)
    same(c(x + 1.0), revad.value_and_grad(f)(x + 1.0))
    assert prog.optimized and len(prog) < n and not any(ins[1] is np.exp for ins in prog.code)
    same(c(x - 1.0), revad.value_and_grad(f)(x - 1.0))


def test_large_intermediates_are_freed_from_the_first_replay_on():
    from adops.replay import BIG, FREE

    def f(x):
        return np.sum(np.tanh(x * 2.0) ** 2)

    x = np.linspace(-1.0, 1.0, BIG + 10)
    c = compiled(revad.grad(f), generate_after=2)
    c(x)
    (prog,) = c.lru
    assert prog.big and not any(ins[0] == FREE for ins in prog.code)
    for k in range(3):  # the first replay (checked against eager), an interpreted one, the generated code
        same(c(x * (0.5 + k)), revad.grad(f)(x * (0.5 + k)))
    assert any(ins[0] == FREE for ins in prog.code) and c.stats["generated"] == 1, c.stats


@pytest.mark.parametrize("other", [True, 2, 0.5, np.float32(1.5), [1.0, 2.0], np.array([1, 2]), np.array(0.25)],
                         ids=["bool", "int", "float", "float32", "list", "int-array", "0d-array"])
def test_operands_on_and_off_the_short_path_give_eagers_answers(other):
    # Python numbers and arrays are the short path's constants; a bool, a list or a NumPy float32 go the general way
    def f(x):
        return np.sum(x * other + (other - x) / (x + 2.0) - np.cos(x) ** 2 + np.negative(x) * (x > other))

    replayed(revad.value_and_grad(f), (np.array([0.5, 3.0]),), (np.array([2.5, -1.0]),), (np.array([0.5, 3.0]),))
    replayed(dualad.grad(f), (np.array([0.5, 3.0]),), (np.array([2.5, -1.0]),))


def test_a_recorded_values_shape_size_and_dtype_are_its_primals():
    from adops.core import new_level
    from adops.replay import Program, Rec

    prog = Program(new_level())
    number = Rec(2.5, prog, prog.input(2.5))  # (a Python float argument)
    assert (number.shape, number.size, number.dtype) == ((), 1, np.dtype(np.float64))
    array = Rec(np.ones((2, 3), np.float32), prog, prog.input(None))
    assert (array.shape, array.size, array.dtype, array.ndim) == ((2, 3), 6, np.dtype(np.float32), 2)
    assert (np.sin(array).shape, (array * 2.0).dtype, (-array).size) == ((2, 3), np.dtype(np.float32), 6)


def test_a_float_argument_is_an_input_of_the_short_path():
    def f(x, s):
        return revad.grad(lambda v: np.sum(v * s + s / v - s))(x)

    c = replayed(f, (np.array([1.0, 2.0]), 0.5), (np.array([3.0, 2.0]), 1.5), (np.array([1.0, 4.0]), -2.0))
    assert c.stats["records"] == 1 and c.stats["replays"] == 2, c.stats


def test_arithmetic_on_float_arguments_is_recorded_not_guarded():
    # s * s on a Python float is a Python float: it was guarded as a value Python sees, so every new s recorded again
    def f(x, s):
        r = s * s - 1.0 / s
        return revad.value_and_grad(lambda v: np.sum(np.sin(v) * r) + r)(x), r, s * 2.0

    points = [(np.array([1.0, 2.0]), 0.5), (np.array([3.0, 2.0]), 1.5), (np.array([1.0, 4.0]), -2.0)]
    c = replayed(f, *points)
    assert c.stats["records"] == 1 and c.stats["replays"] == 2, c.stats
    g = replayed(lambda x, s: revad.grad(lambda v: np.sum(v * v) * (1.0 if s * s > 1.0 else -1.0))(x), *points)
    assert g.stats["records"] == 2 and g.stats["stale"] == 1, g.stats  # (a branch on it is still a guard)
