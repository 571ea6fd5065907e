"""Sparsity detection against dense Jacobians, generated from the registry: every op's samples at random points.
The detected pattern must cover every nonzero of ``dualad.jacfwd``'s Jacobian; for the exact kinds it must equal
the structural pattern (here: the union of the nonzeros at three random points)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_ops import CASES, make_args

import adops
import dualad
from adops.sparse import Varying, jacobian_sparsity

SAMPLES = [(n, k) for n, k in CASES if adops.OPS[n].differentiable or adops.OPS[n].composite]
EXACT_KINDS = {"elementwise", "select", "reduce", "matmul", "choose", "contraction", "probe"}
# exact kinds whose global pattern is a strict superset of the nonzeros at any one point, and why
GLOBAL_SUPERSET = {
    "maximum": "either argument can win", "minimum": "either argument can win", "clip": "a bound can win",
    "fmax": "either argument can win", "fmin": "either argument can win",
    "relu": "zero slope for x < 0", "remainder": "d/dy = -floor(x/y) is 0 where x/y lies in [0, 1)",
    "fmod": "d/dy = -trunc(x/y) is 0 where |x/y| < 1", "copysign": "no derivative in y (its sign)",
    "heaviside": "no derivative in x; d/dh0 only where x == 0",
    "max": "every element can win", "min": "every element can win",
    "where": "a value-dependent condition unites both branches", "prod": "an exact zero factor",
    "matmul": "stacked (3-D and up) operands fall back to dense",
    "getitem": "a boolean mask from x selects different elements at each point",
}


def dense_jacobian(call, args) -> np.ndarray:
    m = int(np.prod(np.shape(call(*args)), dtype=np.int64))
    blocks = dualad.jacfwd(call, tuple(range(len(args))))(*args)
    return np.hstack([np.reshape(b, (m, -1)) for b in blocks])


@pytest.mark.parametrize("name,k", SAMPLES, ids=[f"{n}-{k}" for n, k in SAMPLES])
def test_pattern_covers_the_jacobian(name, k):
    op = adops.OPS[name]
    sample = op.samples[k]
    patterns, nonzeros = [], []
    for seed in ("", "second", "third"):
        args = make_args(op, sample, seed)
        p = jacobian_sparsity(sample.call, *args)
        assert isinstance(p, sp.csr_array) and p.dtype == bool
        nz = dense_jacobian(sample.call, args) != 0
        assert p.shape == nz.shape
        missed = np.argwhere(nz & ~p.toarray())
        assert not missed.size, f"{name} {sample.label}: the pattern misses nonzeros at {missed[:5].tolist()}"
        patterns.append(p.toarray())
        nonzeros.append(nz)
    if op.sparsity in EXACT_KINDS and name not in GLOBAL_SUPERSET and not op.composite:
        assert np.array_equal(patterns[0], np.logical_or.reduce(nonzeros)), f"{name} {sample.label}: spurious fill"


def _composite_exact():
    """Composites built only from exact kinds give exact patterns too."""
    return [(n, k) for n, k in SAMPLES if adops.OPS[n].composite
            and n in ("ravel", "swapaxes", "moveaxis", "expand_dims", "squeeze", "hstack", "vstack", "split", "tile",
                      "repeat", "diff", "roll", "take", "triu", "tril", "append", "take_along_axis", "var",
                      "convolve", "correlate", "dot", "inner", "tensordot", "vdot", "outer")]


@pytest.mark.parametrize("name,k", _composite_exact(), ids=[f"{n}-{k}" for n, k in _composite_exact()])
def test_composites_of_exact_kinds_are_exact(name, k):
    op = adops.OPS[name]
    args = make_args(op, op.samples[k])
    p = jacobian_sparsity(op.samples[k].call, *args).toarray()
    assert np.array_equal(p, dense_jacobian(op.samples[k].call, args) != 0)


def laplacian_1d(u):
    return u[2:] - 2 * u[1:-1] + u[:-2]


def bratu_2d(u, lam=1.0):
    U = np.pad(u, 1)
    return U[2:, 1:-1] + U[:-2, 1:-1] + U[1:-1, 2:] + U[1:-1, :-2] - 4 * u + lam * np.exp(u)


def test_stencils_have_no_spurious_fill():
    u = np.random.default_rng(0).standard_normal((6, 7))
    p = jacobian_sparsity(bratu_2d, u)
    assert np.array_equal(p.toarray(), dense_jacobian(bratu_2d, (u,)) != 0)
    assert p.nnz == 5 * 42 - 2 * (6 + 7)
    v = np.linspace(0, 1, 8)
    assert np.array_equal(jacobian_sparsity(laplacian_1d, v).toarray(), dense_jacobian(laplacian_1d, (v,)) != 0)
    g = lambda v: np.roll(v, 1) - 3 * v + np.flip(v)[::2].sum()
    assert np.array_equal(jacobian_sparsity(g, v).toarray(), dense_jacobian(g, (v,)) != 0)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_a_stencil_written_as_a_convolution_is_banded(mode):
    # the kernel as NumPy takes it too, a list; the pattern used to be dense (a (n + m - 1) x n product)
    v = np.linspace(0.5, 1.5, 9)
    for f in (lambda u: np.convolve(u, [1.0, -2.0, 1.0], mode), lambda u: np.correlate(u, (1, 3, 2), mode),
              lambda u: np.convolve([1.0, -2.0, 1.0], u, mode)):
        p = jacobian_sparsity(f, v).toarray()
        assert np.array_equal(p, dense_jacobian(f, (v,)) != 0)
        assert p.sum(axis=1).max() <= 3
    np.testing.assert_allclose(dualad.jacfwd(lambda u: np.convolve(u, [1.0, -2.0, 1.0], mode))(v),
                               dualad.jacfwd(lambda u: np.convolve(u, np.array([1.0, -2.0, 1.0]), mode))(v))


@pytest.mark.parametrize("shape,axis", [((7,), 0), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), -2), ((3, 4), None)])
def test_a_running_sum_is_a_triangle_per_line(shape, axis):
    # cumsum along an axis used to be dense (every output on every input): 144 entries for a 3 x 4 grid, not 24
    u = np.random.default_rng(1).standard_normal(shape)
    f = lambda v: np.exp(np.cumsum(v, axis=axis))  # noqa: E731
    p = jacobian_sparsity(f, u).toarray()
    assert np.array_equal(p, dense_jacobian(f, (u,)) != 0)
    line = u.size if axis is None else shape[axis]
    assert p.sum() == u.size // line * line * (line + 1) // 2


def test_value_dependent_condition_unites_both_branches_unless_local():
    x = np.array([1.0, -1.0, 2.0])
    y = np.array([3.0, 4.0, 5.0])
    f = lambda x, y: np.where(x > 0, x, y)
    glob = jacobian_sparsity(f, x, y).toarray()
    loc = jacobian_sparsity(f, x, y, local=True).toarray()
    assert np.array_equal(glob, np.hstack([np.eye(3), np.eye(3)]).astype(bool))
    assert np.array_equal(loc, dense_jacobian(f, (x, y)) != 0)
    # a constant mask is exact in both
    g = lambda x, y: np.where(np.array([True, False, True]), x, y)
    assert np.array_equal(jacobian_sparsity(g, x, y).toarray(), dense_jacobian(g, (x, y)) != 0)
    # combined masks stay visible
    h = lambda x, y: np.where((x > 0) & ~(x > 1.5), x, y)
    assert jacobian_sparsity(h, x, y).nnz == 6


PIECEWISE = {
    "relu": lambda u: np.maximum(u, 0.0),
    "maximum": lambda u: np.maximum(u[:4], u[4:]),
    "minimum": lambda u: np.minimum(u, np.roll(u, 1)),
    "clip": lambda u: np.clip(u, -0.5, 0.5),
    "clip by arrays": lambda u: np.clip(u[:4], u[4:], 1.0),
    "abs": lambda u: np.abs(u) * np.roll(u, 1),
    "max along an axis": lambda u: np.max(u.reshape(2, 4), axis=1) * u[:2],
    "min, keepdims": lambda u: np.min(u.reshape(2, 4), axis=0, keepdims=True) * u.reshape(2, 4),
    "max of all": lambda u: np.max(u) * u,
}


@pytest.mark.parametrize("name", PIECEWISE)
@pytest.mark.parametrize("x", [[0.3, -1.2, 2.0, -0.1, 0.7, 1.1, -2.0, 0.4], [1.0, 1.0, -1.0, 0.0, 1.0, 1.0, 0.0, -1.0],
                               [0.0] * 8], ids=["random", "ties", "zeros"])
def test_a_local_pattern_keeps_the_piece_taken(name, x):
    # local=True used to narrow np.where only; relu, maximum, clip, abs and max kept every argument they read
    f, x = PIECEWISE[name], np.array(x)
    dense = dense_jacobian(f, (x,)) != 0
    loc = jacobian_sparsity(f, x, local=True).toarray()
    assert not (dense & ~loc).any()  # never misses a nonzero at this point
    assert loc.sum() <= jacobian_sparsity(f, x).nnz
    if name != "abs" and not (x == 0).all():  # (abs at 0 and full ties: a zero partial can sit inside a piece)
        assert loc.sum() < jacobian_sparsity(f, x).nnz
    np.testing.assert_array_equal(dualad.jacfwd(f, sparsity=loc)(x).toarray(), dense_jacobian(f, (x,)))


def test_comparisons_are_visible():
    seen = []
    jacobian_sparsity(lambda x: seen.append(x > 0) or x, np.ones(3))
    assert isinstance(seen[0], Varying) and seen[0].dtype == bool


def test_matmul_with_a_constant_uses_its_pattern():
    A = np.diag(np.arange(1.0, 5.0)) + np.diag(np.ones(3), 1)
    x = np.ones(4)
    assert np.array_equal(jacobian_sparsity(lambda x: A @ x, x).toarray(), A != 0)
    assert np.array_equal(jacobian_sparsity(lambda x: x @ A, x).toarray(), (A != 0).T)
    X = np.ones((4, 2))
    assert np.array_equal(jacobian_sparsity(lambda X: A @ X, X).toarray(), dense_jacobian(lambda X: A @ X, (X,)) != 0)


def test_several_arguments_stack_columns_and_outputs_stack_rows():
    a, b = np.ones(2), np.ones(3)
    p = jacobian_sparsity(lambda a, b: (a * 2, b[:2] + a), a, b)
    expected = np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0, 1, 0, 1, 0]], dtype=bool)
    assert np.array_equal(p.toarray(), expected)
    assert jacobian_sparsity(lambda a, b: a * b[0], a, b, argnums=1).shape == (2, 3)
    assert jacobian_sparsity(lambda a: np.zeros(4), a).nnz == 0


# ----- review findings: what a pattern must never miss --------------------------------------------------------------
def _covers_everywhere(f, x, points, engines=True):
    """The pattern detected at ``x`` covers the Jacobian at every point, and both engines, reusing it, agree with
    the dense Jacobian there."""
    import revad
    from adops.sparse import SparseJacobian

    sj = SparseJacobian(jacobian_sparsity(f, x))
    p = sj.pattern.toarray()
    for point in points:
        dense = dense_jacobian(f, (point,))
        missed = np.argwhere((dense != 0) & ~p)
        assert not missed.size, f"misses {missed[:4].tolist()} at {point}"
        if engines:
            for jac in (dualad.jacfwd, revad.jacrev):
                np.testing.assert_allclose(jac(f, sparsity=sj)(point).toarray(), dense, rtol=1e-13, atol=0)
    return p


def _permutations(x, k=4):
    rng = np.random.default_rng(5)
    return [rng.permutation(x.ravel()).reshape(x.shape) for _ in range(k)] + [-x]


def test_value_dependent_indices_select_along_their_axes():
    x = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    assert _covers_everywhere(lambda x: x[np.argsort(x)] * 2, x, _permutations(x)).all()
    assert _covers_everywhere(lambda x: x[np.argmax(x)] * 2, x, _permutations(x)).all()
    assert _covers_everywhere(lambda x: x[np.argsort(x)[0]] * 2, x, _permutations(x)).all()
    assert _covers_everywhere(lambda x: np.take(x, np.argsort(x)[:2]) * 2, x, _permutations(x)).all()
    X = np.random.default_rng(2).standard_normal((3, 4))
    p = _covers_everywhere(lambda X: np.take_along_axis(X, np.argsort(X, axis=1), axis=1) * 2, X, _permutations(X))
    assert np.array_equal(p, np.kron(np.eye(3), np.ones((4, 4))).astype(bool))  # dense along rows only
    p = _covers_everywhere(lambda X: X[np.argmax(X, axis=0), np.arange(4)] * 2, X, _permutations(X))
    assert np.array_equal(p, np.kron(np.ones((1, 3)), np.eye(4)).astype(bool))  # dense along columns only
    # a value-dependent mask as an index (same count of True at every point here)
    y = np.array([1.0, -1.0, 2.0, -2.0])
    p = _covers_everywhere(lambda y: y[y > 0] * 2, y, [y[::-1], -y], engines=False)
    assert p.all()


def test_a_traced_condition_in_where_is_value_dependent():
    f = lambda x: np.where(x, x, np.roll(x, 1)) * 3.0
    x = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    p = _covers_everywhere(f, x, [1 - x, np.zeros(5), np.ones(5)])
    assert np.array_equal(p, np.eye(5, dtype=bool) | np.roll(np.eye(5, dtype=bool), 1, axis=0))
    assert jacobian_sparsity(f, x, local=True).nnz == 5


def _copy_into_buffer(x):
    buffer = np.zeros(x.shape, dtype=bool)
    buffer[:] = x > 0
    return buffer


@pytest.mark.parametrize("make_mask", [
    lambda x: np.asarray(x > 0), lambda x: np.array(x > 0), lambda x: np.array((x > 0).tolist()),
    lambda x: np.array(x > 0, dtype=float), _copy_into_buffer, lambda x: np.isin(np.argsort(x), [0, 1]),
    lambda x: np.logical_not(np.copy(x <= 0)), lambda x: np.concatenate([x[:2] > 0, x[2:] > 0]),
], ids=["asarray", "array", "tolist", "array-float", "buffer", "isin", "copy-not", "concatenate"])
def test_masks_stay_value_dependent_through_numpy_and_copies(make_mask):
    f = lambda x: np.where(make_mask(x), x, np.roll(x, 1)) * 3.0
    x = np.array([1.0, 2.0, 3.0, 4.0])
    _covers_everywhere(f, x, [-x, np.array([1.0, -2.0, 3.0, -4.0])])


def test_value_dependent_indices_stay_value_dependent_through_copies():
    x = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    for f in (lambda x: x[np.asarray(np.argsort(x))], lambda x: x[np.argsort(x).tolist()],
              lambda x: x[np.array(np.argsort(x)[:3])]):
        assert _covers_everywhere(f, x, _permutations(x)).all()


def test_a_value_dependent_constant_in_a_matrix_product_counts_as_nonzero():
    y = np.arange(1.0, 5.0)
    f = lambda x: np.diag((x > 0).astype(float)) @ np.roll(x, 1) + x
    _covers_everywhere(f, y * np.array([1, -1, 1, -1]), [y, -y])


def test_selections_read_indices_exactly_through_narrow_dtypes():
    from adops.sparse.pattern import _numbered

    for n, dtype in ((3000, np.float16), (5000, np.float16)):
        f = lambda x: x.astype(dtype)[::-1]
        assert (jacobian_sparsity(f, np.ones(n)) != jacobian_sparsity(lambda x: x[::-1], np.ones(n))).nnz == 0
    # the digits on their own: a rule computing in float16 with a constant (0) in the middle
    size = 5000
    got = _numbered(lambda t: np.concatenate([t[::-1], [0.0], t]).astype(np.float16), size)
    want = np.concatenate([np.arange(size, 0, -1), [0], np.arange(1, size + 1)])
    assert np.array_equal(got, want)


def test_patterns_of_gradients_are_not_dense():
    import revad

    f = lambda x: np.sum(x[1:] * x[:-1]) + np.sum(np.sqrt(x) ** 3) + np.sum(x[np.array([0, 2, 2, 4])] ** 2)
    x = np.linspace(0.5, 2.0, 6)
    p = jacobian_sparsity(revad.grad(f), x).toarray()
    hess = dualad.jacfwd(revad.grad(f))(x)
    assert np.array_equal(p, hess != 0)  # tridiagonal: exact
    assert not np.argwhere((dualad.jacfwd(revad.grad(f))(x * 3) != 0) & ~p).size


@pytest.mark.parametrize("spec,shapes", [("ij->j", [(3, 4)]), ("ij->", [(3, 4)]), ("ii->i", [(3, 3)]),
                                         ("ij,ij->i", [(2, 3), (2, 3)]), ("ij,jk->ik", [(2, 3), (3, 4)]),
                                         ("i,j->ij", [(3,), (2,)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
                                         ("iij,j", [(3, 3, 2), (2,)]), ("...j,jk->...k", [(2, 2, 3), (3, 4)])])
def test_einsum_patterns_are_exact(spec, shapes):
    # (they were dense: a column sum 'ij->j' gave 48 entries where 12 are nonzero)
    rng = np.random.default_rng(5)
    args = [rng.normal(size=s) for s in shapes]
    f = lambda *a: np.einsum(spec, *a)
    p = jacobian_sparsity(f, *args, argnums=tuple(range(len(args)))).toarray()
    assert np.array_equal(p, dense_jacobian(f, args) != 0)


def test_einsum_with_a_constant_uses_its_zeros_unless_they_are_value_dependent():
    B = np.zeros((4, 5))
    B[1, 2], B[3, 0] = 1.0, 2.0
    x = np.ones((3, 4))
    p = jacobian_sparsity(lambda a: np.einsum("ij,jk->ik", a, B), x).toarray()
    assert p.sum() == 6 and np.array_equal(p, dense_jacobian(lambda a: np.einsum("ij,jk->ik", a, B), (x,)) != 0)
    # a mask computed from x is zero here but not at other points: it counts as nonzero everywhere
    f = lambda a: np.einsum("ij,j->i", a, (a[0] > 5).astype(float))
    p = jacobian_sparsity(f, x).toarray()
    assert p.sum() == 12 and np.array_equal(p, dense_jacobian(f, (10 * x,)) != 0)  # where the mask is all True


def test_trace_pattern_is_its_diagonal():
    x = np.arange(1.0, 13.0).reshape(3, 4)
    for f in (np.trace, lambda a: np.trace(a, offset=-1), lambda a: np.trace(a.reshape(2, 2, 3), axis1=0, axis2=1)):
        assert np.array_equal(jacobian_sparsity(f, x).toarray(), dense_jacobian(f, (x,)) != 0)
