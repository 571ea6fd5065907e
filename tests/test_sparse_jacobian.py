"""Compressed Jacobians in both engines: every registry sample against the dense Jacobian, reuse of a precomputed
colouring, the automatic cache, and the errors (a pattern that misses a nonzero, mismatched shapes)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_ops import make_args
from test_sparse_pattern import SAMPLES, bratu_2d, dense_jacobian

import adops
import dualad
import revad
from adops.sparse import SparseJacobian, color_columns, jacobian_sparsity
from adops.sparse import jacobian as sparse_jacobian

ENGINES = {"forward": dualad.jacfwd, "reverse": revad.jacrev}


@pytest.mark.parametrize("name,k", SAMPLES, ids=[f"{n}-{k}" for n, k in SAMPLES])
def test_compressed_equals_dense_in_both_engines(name, k):
    op = adops.OPS[name]
    sample = op.samples[k]
    args = make_args(op, sample)
    argnums = tuple(range(len(args)))
    dense = dense_jacobian(sample.call, args)
    for mode, jac in ENGINES.items():
        J = jac(sample.call, argnums, sparsity="auto")(*args)
        assert isinstance(J, sp.csr_array)
        np.testing.assert_allclose(J.toarray(), dense, rtol=1e-12, atol=1e-12, err_msg=f"{name} {mode}")


@pytest.mark.parametrize("mode", ENGINES)
def test_bratu_with_a_reused_colouring(mode):
    u = np.random.default_rng(1).random((8, 9))
    sj = SparseJacobian.detect(bratu_2d, u)
    jac = ENGINES[mode](bratu_2d, sparsity=sj)
    for scale in (1.0, 2.0):
        np.testing.assert_allclose(jac(u * scale).toarray(), dense_jacobian(bratu_2d, (u * scale,)), atol=1e-12)
    assert sj.coloring(mode).ncolors <= 7
    assert "column" in repr(sj) or "row" in repr(sj)


@pytest.mark.parametrize("mode", ENGINES)
def test_pattern_forms_several_arguments_and_outputs(mode):
    f = lambda a, b: (a * b[:3], np.sum(b) * 2)
    a, b = np.ones(3) * 2, np.arange(1.0, 5.0)
    dense = np.vstack([np.hstack(blocks).reshape(-1, 7) for blocks in
                       (dualad.jacfwd(lambda a, b: f(a, b)[0], (0, 1))(a, b),
                        dualad.jacfwd(lambda a, b: f(a, b)[1], (0, 1))(a, b))])
    p = jacobian_sparsity(f, a, b)
    for sparsity in (p, p.toarray(), color_columns(p), "auto"):
        J = ENGINES[mode](f, (0, 1), sparsity=sparsity)(a, b)
        np.testing.assert_allclose(J.toarray(), dense)


def test_auto_detects_every_call_and_colours_each_pattern_once():
    f = lambda u: np.exp(u[1:] - u[:-1])
    first = sparse_jacobian._auto(f, (np.ones(5),), {}, (0,))
    assert sparse_jacobian._auto(f, (np.zeros(5),), {}, (0,)) is first  # same pattern: same colourings
    assert sparse_jacobian._auto(lambda u: np.exp(u[1:] - u[:-1]), (np.ones(5),), {}, (0,)) is first
    assert sparse_jacobian._auto(f, (np.ones(7),), {}, (0,)) is not first
    col = first.coloring("forward")
    dualad.jacfwd(f, sparsity="auto")(np.ones(5))
    assert first.coloring("forward") is col


def _roll(u, shift=1):
    return np.roll(u, shift) * 3.0


def _roll_keyword_only(u, *, shift):
    return np.roll(u, shift) * 3.0


def _dense_of(f, *args, argnums=0, **kwargs):
    m = int(np.prod(np.shape(f(*args, **kwargs))))
    return np.reshape(dualad.jacfwd(f, argnums)(*args, **kwargs), (m, -1))


@pytest.mark.parametrize("mode", ENGINES)
def test_auto_passes_keyword_arguments_to_detection(mode):
    x = np.arange(5.0)
    for f in (_roll, _roll_keyword_only):
        for shift in (1, 2, -1):
            J = ENGINES[mode](f, sparsity="auto")(x, shift=shift)
            np.testing.assert_array_equal(J.toarray(), _dense_of(f, x, shift=shift))
    p = jacobian_sparsity(_roll_keyword_only, x, kwargs={"shift": 2})
    assert np.array_equal(p.toarray(), _dense_of(_roll_keyword_only, x, shift=2) != 0)
    sj = SparseJacobian.detect(_roll, x, kwargs={"shift": 2})
    np.testing.assert_array_equal(ENGINES[mode](_roll, sparsity=sj)(x, shift=2).toarray(), _dense_of(_roll, x, shift=2))


@pytest.mark.parametrize("mode", ENGINES)
def test_auto_follows_what_the_call_depends_on_beyond_the_inputs(mode):
    """The reviewer's cases: a non-differentiated argument, a rebound or mutated closure constant, a Python if on
    values. Each call detects again, so each answer is right."""
    x = np.arange(1.0, 6.0)
    h = lambda u, k: np.roll(u, k) * 3
    jac = ENGINES[mode](h, 0, sparsity="auto")
    for k in (1, 2, 1):
        np.testing.assert_array_equal(jac(x, k).toarray(), _dense_of(h, x, k))
    A = np.eye(5)
    g = lambda u: A @ u
    jac = ENGINES[mode](g, sparsity="auto")
    np.testing.assert_array_equal(jac(x).toarray(), np.eye(5))
    A = np.ones((5, 5))  # rebound
    np.testing.assert_array_equal(jac(x).toarray(), np.ones((5, 5)))
    A[:] = np.tril(A)  # mutated in place
    np.testing.assert_array_equal(jac(x).toarray(), np.tril(np.ones((5, 5))))
    branchy = lambda u: u * 2 if u[0] > 0 else np.roll(u, 1) * 2
    jac = ENGINES[mode](branchy, sparsity="auto")
    for point in (x, -x, x):
        np.testing.assert_array_equal(jac(point).toarray(), _dense_of(branchy, point))


@pytest.mark.parametrize("mode", ENGINES)
def test_empty_inputs_and_outputs_give_empty_csr(mode):
    for f, x, shape in ((lambda s: s * 2, np.ones(0), (0, 0)), (lambda s: s[:0], np.ones(3), (0, 3)),
                        (lambda s: np.sum(s) * np.ones(2), np.ones(0), (2, 0))):
        J = ENGINES[mode](f, sparsity="auto")(x)
        assert isinstance(J, sp.csr_array) and J.shape == shape and J.nnz == 0
    J = ENGINES[mode](lambda s: s * 0.0 + 1.0, sparsity=np.zeros((3, 3)))(np.ones(3))  # no colours at all
    assert J.shape == (3, 3) and J.nnz == 0
    with pytest.raises(ValueError, match="4 output elements"):
        ENGINES[mode](lambda s: np.ones(4), sparsity=np.zeros((3, 3)))(np.ones(3))


def arrowhead(x):
    return np.concatenate([np.sum(x ** 2, keepdims=True), x[0] * x[1:] + x[1:] ** 2])


@pytest.mark.parametrize("mode", ENGINES)
def test_colour_seeds_are_chunked(mode, monkeypatch):
    """n colours (the arrowhead) go through in chunks of the memory budget, and any chunking gives one answer."""
    x = np.linspace(0.5, 1.5, 40)
    dense = _dense_of(arrowhead, x)
    widths = []
    engine = dualad.api.ForwardPass if mode == "forward" else revad.api.ReversePass
    one_pass = engine.__call__

    def counting(self, seeds, batch, last):
        widths.append(batch[0] if batch else 1)
        return one_pass(self, seeds, batch, last)

    monkeypatch.setattr(engine, "__call__", counting)
    monkeypatch.setattr(adops.trees, "CHUNK_BUDGET", 40 * 7)  # 7 directions of 40 entries per pass
    for chunk_size, expected in (("auto", [7] * 5 + [5]), (None, [40]), (16, [16, 16, 8])):
        widths.clear()
        J = ENGINES[mode](arrowhead, chunk_size=chunk_size, sparsity="auto")(x)
        assert widths == expected
        np.testing.assert_allclose(J.toarray(), dense, rtol=1e-14)


@pytest.mark.parametrize("mode", ENGINES)
def test_a_pattern_that_misses_a_nonzero_is_caught(mode):
    f = lambda u: u[2:] - 2 * u[1:-1] ** 2 + u[:-2]
    too_small = np.eye(4, 6, k=1, dtype=bool)
    too_small[3] = False  # the last output's row left empty: its derivatives land in no colour group
    with pytest.raises(ValueError, match="misses a nonzero"):
        ENGINES[mode](f, sparsity=too_small)(np.arange(1.0, 7.0))


@pytest.mark.parametrize("mode", ENGINES)
def test_shape_mismatches_name_the_function_and_shapes(mode):
    f = lambda u: u[1:] * u[:-1]
    name = "dualad.jacfwd" if mode == "forward" else "revad.jacrev"
    with pytest.raises(ValueError, match=rf"{name}: the sparsity pattern has 6 columns but f .* has 5 input"):
        ENGINES[mode](f, sparsity=np.eye(5, 6))(np.ones(5))
    with pytest.raises(ValueError, match=rf"{name}: the sparsity pattern is 3 x 5 but f .* has 4 output"):
        ENGINES[mode](f, sparsity=np.ones((3, 5)))(np.ones(5))
    with pytest.raises(ValueError, match="sparsity must be 'auto'"):
        ENGINES[mode](f, sparsity="yes")(np.ones(5))
    with pytest.raises(TypeError, match="has_aux"):
        ENGINES[mode](f, has_aux=True, sparsity="auto")


@pytest.mark.parametrize("mode", ENGINES)
def test_a_missed_nonzero_in_a_covered_slot_goes_unnoticed_as_documented(mode):
    """What the docstrings of jacfwd/jacrev warn about: a user pattern trusted where the check cannot see."""
    f = lambda u: np.roll(u, 1) + u ** 2 + np.roll(u, -1) + np.roll(u, 3)
    x = np.arange(1.0, 10.0)
    tridiagonal = sum(np.roll(np.eye(9, dtype=bool), k, axis=1) for k in (-1, 0, 1))  # misses np.roll(u, 3)
    assert "unnoticed" in (dualad.jacfwd.__doc__ if mode == "forward" else revad.jacrev.__doc__)
    J = ENGINES[mode](f, sparsity=tridiagonal)(x)  # no error: each missed value joins another entry's slot
    assert not np.allclose(J.toarray(), _dense_of(f, x))


@pytest.mark.parametrize("mode", ENGINES)
@pytest.mark.parametrize("chunk", ["auto", 1, None])
def test_an_inf_meeting_a_structural_zero_spoils_no_other_column(mode, chunk):
    # one colour holds all four columns; d log(u)[3] = inf meets A's zero column as 0 * inf = NaN in the
    # compressed pass, which used to land on the finite entries of columns 0..2 (and raise on the empty row 3)
    A = np.array([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    x = np.array([1.0, 2.0, 3.0, 0.0])
    with np.errstate(all="ignore"):
        J = ENGINES[mode](lambda u: A @ np.log(u), sparsity="auto", chunk_size=chunk)(x)
    np.testing.assert_array_equal(J.toarray(), np.diag([1.0, 0.5, 1 / 3, 0.0]))


@pytest.mark.parametrize("mode", ENGINES)
def test_an_inf_in_the_pattern_stays_where_the_dense_jacobian_has_it(mode):
    # reverse: the cotangent of row 0 becomes inf in log, then 0 * inf in A's zeros of row 0
    A = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]])
    x = np.array([0.0, 2.0, 3.0])
    with np.errstate(all="ignore"):
        J = ENGINES[mode](lambda u: np.log(A @ u), sparsity="auto")(x)
        dense = ENGINES[mode](lambda u: np.log(A @ u))(x)
    np.testing.assert_array_equal(J.toarray(), np.where(np.isnan(dense), 0, dense))
    assert J.toarray()[0, 0] == np.inf


@pytest.mark.parametrize("mode", ENGINES)
def test_a_missed_nonzero_on_a_redone_member_is_caught(mode):
    # the pattern (the identity, one colour) omits (0, 2); compressed, it would add unseen to (0, 0), but the inf
    # of column 3 spoils the colour, and alone, column 2's pass puts its value where the pattern has no entry
    f = lambda u: np.log(u) + u[2]  # noqa: E731
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="misses a nonzero"):
        ENGINES[mode](f, sparsity=np.eye(4, dtype=bool))(np.array([1.0, 2.0, 3.0, 0.0]))


@pytest.mark.parametrize("outer", [dualad.jacfwd, revad.jacrev])
def test_a_sparse_jacobian_under_an_outer_differentiation_says_so(outer):
    # it used to fail inside with advice about np.asarray, naming nothing the user wrote
    f = lambda u: u[1:] * u[:-1]  # noqa: E731
    for inner in (dualad.jacfwd(f, sparsity="auto"), revad.jacrev(f, sparsity="auto")):
        with pytest.raises(TypeError, match="cannot carry the derivatives of an outer differentiation"):
            outer(lambda x: inner(x).toarray())(np.arange(1.0, 5.0))  # noqa: B023


@pytest.mark.parametrize("mode", ENGINES)
def test_float16_inputs_give_a_usable_float32_csr(mode):
    # scipy.sparse stores no float16: the CSR was built, then toarray() raised "Output dtype not compatible"
    f = lambda u: np.exp(u[1:] - u[:-1])  # noqa: E731
    x = np.linspace(0, 1, 6)
    J = ENGINES[mode](f, sparsity="auto")(x.astype(np.float16))
    assert J.dtype == np.float32
    np.testing.assert_allclose(J.toarray(), ENGINES[mode](f)(x), rtol=1e-2)


def test_a_functions_own_pattern_passed_for_its_gradients_jacobian_is_named():
    from adops.sparse import SparseHessian

    f = lambda x: np.sum(x ** 3)
    x = np.ones(6)
    for jac in (dualad.jacfwd, revad.jacrev):
        with pytest.raises(ValueError, match=r"f is a gradient .* square Hessian.*1 x 6.*SparseHessian\.detect"):
            jac(revad.grad(f), sparsity=SparseJacobian.detect(f, x))(x)
        np.testing.assert_array_equal(jac(revad.grad(f), sparsity=SparseHessian.detect(f, x))(x).toarray(),
                                      np.diag(6 * x))
    g = lambda x, y: np.sum(x[:3] * y ** 2)  # the gradient in x, differentiated in y: rectangular, and allowed
    x, y = np.ones(4), np.arange(3.0)
    sj = SparseJacobian.detect(revad.grad(g), x, y, argnums=1)
    got = dualad.jacfwd(revad.grad(g), argnums=1, sparsity=sj)(x, y).toarray()
    np.testing.assert_array_equal(got, dualad.jacfwd(revad.grad(g), argnums=1)(x, y))
