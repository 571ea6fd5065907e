"""Tests of compare.sparse and compare.sparse_plots: the sparse workloads against exact and dense Jacobians, the
bidirectional Jacobian through both engines, counts that behave as claimed (coloured passes = colours), skips over
the budget, the findings and the plot."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import adops
import dualad
import revad
from adops.sparse import color_bidirectional
from compare import oracle
from compare import sparse as S
from compare.sparse_plots import sparse_vs_n

NAMES = list(S.SPARSE_WORKLOADS)


@pytest.mark.parametrize("name", NAMES)
def test_workload_jacobians_against_the_oracle_and_dense(name):
    f, x = S.build(name, 9)
    exact = oracle.jacobian(f, x)
    c = S.colorings(f, x)
    np.testing.assert_array_equal(c.pattern.toarray(), exact != 0)  # detection: exact, no spurious fill here
    for J in (dualad.jacfwd(f, sparsity=c.sparse)(x), revad.jacrev(f, sparsity=c.sparse)(x),
              S.bidirectional_jacobian(f, c.bidirectional)(x), S.bidirectional_jacobian(f)(x)):
        assert sp.issparse(J)
        np.testing.assert_allclose(J.toarray(), exact, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dualad.jacfwd(f)(x), exact, rtol=1e-13, atol=1e-13)


def test_bratu_residuals_are_the_pdes():
    # u = sin(pi x) (sin(pi y)): u'' = -pi^2 u, so the residual is u (lambda exp(u)/u - pi^2 d), d = 1 or 2
    n = 199
    t = np.arange(1, n + 1) / (n + 1)
    u = np.sin(np.pi * t)
    np.testing.assert_allclose(S.bratu1d(u), -np.pi ** 2 * u + np.exp(u), atol=1e-3)
    N = 99
    t = np.arange(1, N + 1) / (N + 1)
    U = np.outer(np.sin(np.pi * t), np.sin(np.pi * t))
    np.testing.assert_allclose(S.bratu2d(U.ravel()), (-2 * np.pi ** 2 * U + np.exp(U)).ravel(), atol=5e-3)
    with pytest.raises(ValueError, match="not a square grid"):
        S.bratu2d(np.ones(10))


@pytest.mark.parametrize("name", ["bratu1d", "bratu2d", "banded"])
def test_colored_passes_cost_as_many_directions_as_colours(name):
    """The JVP work of a Jacobian is affine in its directions; a coloured one costs exactly k = colours."""
    f, x = S.build(name, 64)
    n = x.size
    c = S.colorings(f, x)
    k = c.column.ncolors
    with adops.count_ops() as one:
        dualad.jvp(f, (x,), (np.ones(n),))
    with adops.count_ops() as dense:
        dualad.jacfwd(f, chunk_size=None)(x)
    with adops.count_ops() as colored:
        dualad.jacfwd(f, sparsity=c.sparse)(x)
    a1, an, ak = (cnt.total("jvp") for cnt in (one, dense, colored))
    per_direction = (an - a1) / (n - 1)
    assert per_direction > 0 and ak == a1 + (k - 1) * per_direction
    assert colored.total("jvp", "evals") == dense.total("jvp", "evals")  # one pass either way
    rows = {r["strategy"]: r for r in S.measure(name, [x.size], timing=False)}
    assert rows["colored-forward"]["directions"] == rows["colored-forward"]["colors_column"] == k
    assert rows["colored-reverse"]["directions"] == rows["colored-reverse"]["colors_row"]
    assert rows["dense-forward"]["directions"] == n and rows["scipy-fd"]["directions"] == k + 1
    assert rows["colored-forward"]["flops"] < rows["dense-forward"]["flops"] / 4


def test_arrowhead_at_ten_thousand_takes_three_passes():
    n = 10_000
    f, x = S.build("arrowhead", n)
    c = S.colorings(f, x)
    assert (c.column.ncolors, c.row.ncolors, c.bidirectional.ncolors) == (n, n, 3)
    J = S.bidirectional_jacobian(f, c.bidirectional)(x)
    exact = sp.lil_array((n, n))
    exact[0, :] = 2 * x
    exact[1:, 0] = x[1:]
    exact.setdiag(np.concatenate([[2 * x[0]], x[1:] ** 2 + x[0]]))
    assert abs(J - exact.tocsr()).max() < 1e-12
    with adops.count_ops() as counts:
        S.bidirectional_jacobian(f, c.bidirectional)(x)
    with adops.count_ops() as f_only:
        revad.trace(f, x)
    # two forward passes and one reverse sweep: a few evaluations of f, not n
    assert counts.total() < 20 * f_only.total()


def test_scipy_finite_differences_agree():
    f, x = S.build("bratu2d", 49)
    rows = {r["strategy"]: r for r in S.measure("bratu2d", [49], repeats=1, max_seconds=0.05)}
    assert rows["scipy-fd"]["time_s"] > 0 and not rows["scipy-fd"]["skipped"]
    from scipy.optimize._numdiff import approx_derivative

    c = S.colorings(f, x)
    fd = approx_derivative(f, x, method="2-point", sparsity=(c.pattern, c.column.colors))
    exact = dualad.jacfwd(f, sparsity=c.sparse)(x)
    assert abs(fd - exact).max() / abs(exact).max() < 1e-5


def test_strategies_over_the_budget_are_skipped_with_the_reason():
    rows = S.measure("arrowhead", [40], timing=False, max_entries=500)
    by = {r["strategy"]: r for r in rows}
    for s in ("dense-forward", "dense-reverse", "colored-forward", "colored-reverse", "scipy-fd"):
        assert "over the 5e+02 budget" in by[s]["skipped"] and np.isnan(by[s]["flops"])
    assert not by["bidirectional"]["skipped"] and by["bidirectional"]["flops"] > 0


def test_sparsejac_where_installed():
    pytest.importorskip("sparsejac")
    f, x = S.build("bratu1d", 20)
    c = S.colorings(f, x)
    exact = dualad.jacfwd(f, sparsity=c.sparse)(x).toarray()
    for mode in ("forward", "reverse"):
        jac, why = S._sparsejac(S.SPARSE_WORKLOADS["bratu1d"], c.pattern, mode)
        assert why == ""
        out = jac(x)
        np.testing.assert_allclose(np.asarray(out.todense()), exact, rtol=1e-12, atol=1e-12)


def test_bidirectional_jacobian_keeps_float32_and_promotes_ints():
    f, x = S.build("arrowhead", 8)
    J32 = S.bidirectional_jacobian(f)(x.astype(np.float32))
    assert J32.dtype == np.float32
    np.testing.assert_allclose(J32.toarray(), dualad.jacfwd(f)(x), rtol=1e-5)
    assert S.bidirectional_jacobian(f)(np.arange(8)).dtype == np.float64


def test_bidirectional_jacobian_errors():
    f, x = S.build("arrowhead", 6)
    b = color_bidirectional(S.colorings(f, x).pattern)
    with pytest.raises(ValueError, match="colouring is for 6 inputs but x has 7"):
        S.bidirectional_jacobian(f, b)(np.ones(7))
    with pytest.raises(ValueError, match="colouring is for 6 outputs but f has 5"):
        S.bidirectional_jacobian(lambda v: f(v)[1:], b)(x)
    gradient_like = color_bidirectional(np.ones((1, 6)))  # reverse only: the reverse sweep checks the size
    with pytest.raises(ValueError, match="colouring is for 1 outputs but f has 6"):
        S.bidirectional_jacobian(f, gradient_like)(x)
    with pytest.raises(ValueError, match="sparsity must be 'auto'"):
        S.bidirectional_jacobian(f, "sometimes")
    # a pattern matrix is coloured once and used as it is
    J = S.bidirectional_jacobian(f, S.colorings(f, x).pattern)(x)
    np.testing.assert_allclose(J.toarray(), dualad.jacfwd(f)(x), rtol=1e-14)


def test_explain_says_when_colouring_helps():
    text = S.explain(*S.build("bratu2d", 100))
    assert "100 x 100" in text and "7 forward passes instead of 100" in text and "lower bound 5" in text
    assert "Exact flops of one Jacobian" in text
    arrow = S.explain(*S.build("arrowhead", 50))
    assert "bidirectional split does: 2 forward + 1 reverse = 3 passes" in arrow
    dense = S.explain(lambda x: np.sum(x) * x, np.ones(5), count=False)
    assert "Colouring saves no passes here" in dense


def test_summary_finds_the_crossover():
    def row(n, s, t, skipped=""):
        return {"workload": "bratu1d", "x": n, "strategy": s, "time_s": t, "skipped": skipped, "nnz": 3 * n,
                "colors_column": 3, "colors_row": 3, "colors_bidirectional": 3, "lower_bound_column": 3,
                "lower_bound_row": 3}

    rows = [row(n, s, t) for n, ts in ((10, (1.0, 2.0, 5.0)), (100, (10.0, 2.0, 5.0)), (1000, (100.0, 2.0, 5.0)))
            for s, t in zip(("dense-forward", "colored-forward", "detect+color"), ts)]
    rows.append(row(10_000, "dense-forward", float("nan"), skipped="over budget"))
    w = S.summarize(rows)["workloads"]["bratu1d"]
    assert (w["crossover_n"], w["one_shot_n"], w["dense_skipped_from"]) == (100, 100, 10_000)
    assert w["both"]["n"] == 1000 and w["both"]["breakeven"] == pytest.approx(5 / 98)


def test_plot_writes_a_png(tmp_path):
    rows = S.sweep(["bratu2d", "arrowhead"], [16, 36], repeats=1, max_seconds=0.05, max_entries=300)
    path = sparse_vs_n(rows, str(tmp_path / "sparse.png"))
    data = open(path, "rb").read()
    assert data[:4] == b"\x89PNG" and len(data) > 10_000


@pytest.mark.parametrize("x", [[0.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 0.0]])
def test_an_inf_meeting_a_structural_zero_is_no_missed_nonzero(x):
    # d log at 0 is inf; A's zero row 3 makes 0 * inf = NaN in a compressed pass, outside the pattern: it used to
    # raise 'misses a nonzero' on the detected pattern
    A = np.diag([1.0, 1.0, 1.0, 0.0])
    x = np.array(x)
    for f in (lambda u: A @ np.log(u), lambda u: np.log(A @ u + np.array([0.0, 1, 1, 1]))):
        with np.errstate(all="ignore"):
            J = S.bidirectional_jacobian(f)(x).toarray()
            one_sided = dualad.jacfwd(f, sparsity="auto")(x).toarray()
        np.testing.assert_array_equal(J, one_sided)
