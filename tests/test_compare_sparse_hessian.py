"""Sparse Hessians in the comparison: coloured strategies, compare.hessian(mode="auto") choosing colouring, the
findings and report that say when it pays, the peers on the sparse workload."""

import numpy as np
import pytest
import scipy.sparse as sp

import compare
import revad
from compare import choose_hessian, findings, hessians, oracle, peers, report, workloads


def quadratic_form(n):
    A = np.random.default_rng(3).standard_normal((n, n))
    A = A @ A.T

    def f(x):
        return 0.5 * x @ (A @ x)

    return f, A


# ---- the strategies ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workload", ["rosenbrock", "local3"])
@pytest.mark.parametrize("point", ["random", "ones", "zeros"])
def test_every_colored_nesting_matches_the_oracle(workload, point):
    f, (x,) = workloads.build(workload, n=6)
    x = {"random": x, "ones": np.ones(6), "zeros": np.zeros(6)}[point]  # the minimum and a saddle-like point
    exact = np.array(oracle.hessian(f, x), dtype=float)
    for name in hessians.COLORED:
        H = hessians.hessian_fn(f, name)(x)
        assert sp.issparse(H) and H.shape == (6, 6), name
        np.testing.assert_allclose(H.toarray(), exact, rtol=1e-12, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(compare.hessian(f, x, mode=name), exact, rtol=1e-12, atol=1e-12, err_msg=name)


def test_strategy_names_and_orders():
    assert len(hessians.STRATEGIES) == 8 and len(hessians.DENSE) == len(hessians.COLORED) == 4
    for name in hessians.COLORED:
        s = hessians.STRATEGIES[name]
        dense = hessians.STRATEGIES[s.nesting]
        assert s.colored and not dense.colored and s.short == dense.short + " coloured"
        assert s.order == dense.order - 1  # colours instead of n outer directions
        assert "sparsity=sh" in s.call


def test_measure_gives_colored_rows_with_the_pattern_and_skips_large_dense_hessians(monkeypatch):
    monkeypatch.setattr(hessians, "DENSE_MAX_BYTES", 8 * 40 * 40)
    rows = hessians.measure([16, 64], ["reverse-over-reverse", "forward-over-reverse-colored"], workload="local3",
                            repeats=1, memory=False, max_seconds=0.05)
    by = {(r["x"], r["strategy"]): r for r in rows}
    col = by[(64, "forward-over-reverse-colored")]
    assert col["skipped"] == "" and col["ncolors"] == 5 and col["nnz"] == 5 * 64 - 6
    assert col["detect_s"] > 0 and col["color_s"] > 0 and col["lower_bound"] <= col["ncolors"]
    assert by[(16, "reverse-over-reverse")]["skipped"] == ""
    assert by[(64, "reverse-over-reverse")]["skipped"].startswith("skipped: a dense 64 x 64 Hessian takes")
    # exact counts: 5 colours do a fraction of the dense nesting's flops already at n = 16
    assert by[(16, "forward-over-reverse-colored")]["flops"] < by[(16, "reverse-over-reverse")]["flops"]


# ---- compare.hessian(mode="auto") ------------------------------------------------------------------------------


def test_auto_colors_rosenbrock_at_large_n_and_returns_the_dense_hessian():
    f, (x,) = workloads.build("rosenbrock", n=2000)
    c = choose_hessian.choose(f, x)
    assert c.colored and c.strategy in ("forward-over-reverse-colored", "reverse-over-reverse-colored")
    assert c.pattern["ncolors"] == 3 and c.pattern["nnz"] == 3 * 2000 - 2
    best_dense = min(c.predicted[s]["seconds"] for s in hessians.DENSE)
    assert c.predicted[c.strategy]["seconds"] < best_dense
    text = c.explain()
    assert "3 colours" in text and f"Chose {c.strategy}" in text and "sparse=True" in text
    exact = revad.hessian(f)(x)
    H = compare.hessian(f, x)
    assert isinstance(H, np.ndarray) and H.shape == (2000, 2000)
    np.testing.assert_allclose(H, exact, rtol=1e-12, atol=1e-12)
    S = compare.hessian(f, x, sparse=True)
    assert sp.issparse(S) and S.format == "csr" and S.nnz == 3 * 2000 - 2
    np.testing.assert_allclose(S.toarray(), exact, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [30, 300])
def test_auto_does_not_color_a_dense_quadratic_form(n):
    f, A = quadratic_form(n)
    x = np.random.default_rng(4).standard_normal(n)
    c = choose_hessian.choose(f, x)
    assert not c.colored and c.strategy in hessians.DENSE
    assert "Colouring was not tried" in c.explain() or "saves nothing" in c.explain()
    if c.pattern is not None:  # detected: every variable couples with every other, n colours
        assert c.pattern["ncolors"] == n and not any(s in c.predicted for s in hessians.COLORED)
    np.testing.assert_allclose(compare.hessian(f, x), A, rtol=1e-10, atol=1e-10)


def test_colored_false_and_small_problems_skip_detection():
    f, (x,) = workloads.build("rosenbrock", n=2000)
    c = choose_hessian.choose(f, x, colored=False)
    assert c.pattern is None and not c.colored and "colored=False" in c.explain()
    f, (x,) = workloads.build("rosenbrock", n=5)
    c = choose_hessian.choose(f, x)
    assert c.pattern is None and "less than detecting" in c.note  # a 5 x 5 Hessian is cheaper than detection
    np.testing.assert_allclose(compare.hessian(f, x), np.array(oracle.hessian(f, x), dtype=float), rtol=1e-12)


def test_auto_result_shapes_for_a_matrix_argument():
    def f(X):
        return np.sum(np.sin(X[:, 1:] * X[:, :-1]))

    X = np.random.default_rng(0).standard_normal((3, 4))
    exact = revad.hessian(f)(X)
    for mode in ("auto", "reverse-over-reverse-colored", "forward-over-reverse"):
        np.testing.assert_allclose(compare.hessian(f, X, mode=mode), exact, rtol=1e-12, err_msg=mode)
        S = compare.hessian(f, X, mode=mode, sparse=True)
        assert sp.issparse(S) and S.shape == (12, 12)
        np.testing.assert_allclose(S.toarray(), exact.reshape(12, 12), rtol=1e-12, err_msg=mode)


def test_a_dense_result_too_large_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setattr(choose_hessian, "DENSE_LIMIT_BYTES", 8 * 10 * 10)
    f, (x,) = workloads.build("local3", n=20)
    with pytest.raises(ValueError, match=r"compare.hessian: the dense Hessian of f at n = 20 .*sparse=True"):
        compare.hessian(f, x)
    S = compare.hessian(f, x, sparse=True)
    np.testing.assert_allclose(S.toarray(), revad.hessian(f)(x), rtol=1e-12)


# ---- findings, report, peers ------------------------------------------------------------------------------------


def synthetic_rows():
    """Dense nestings cost n x 1 us, coloured ones c x 1 us + 20 us; detection 0.21 ms; local3 has 5 colours."""
    rows = []
    for workload, c in (("rosenbrock", 3), ("local3", 5)):
        for n in (4, 64, 1024, 100_000):
            for name, s in hessians.STRATEGIES.items():
                base = {"workload": workload, "strategy": name, "call": s.call, "x": n, "n_in": n, "flops": n,
                        "ops": 10, "peak_bytes": 1}
                if not s.colored and n > 1024:
                    rows.append({**base, "skipped": "skipped: a dense Hessian over 16 MiB"})
                elif s.colored:
                    rows.append({**base, "skipped": "", "time_s": c * 1e-6 + 2e-5 + (s.order * 1e-5),
                                 "ncolors": c, "lower_bound": 3, "nnz": c * n, "detect_s": 2e-4, "color_s": 1e-5})
                else:
                    rows.append({**base, "skipped": "", "time_s": n * 1e-6 * s.order})
    return rows


def test_findings_say_when_colouring_pays():
    rows = synthetic_rows()
    peer = [{"workload": "local3", "strategy": "jax.jit(jax.hessian)", "x": 1024, "time_s": 3e-4, "skipped": ""}]
    sh = findings._sparse_hessians(rows, peer)
    assert set(sh) == {"rosenbrock", "local3"}
    r = sh["rosenbrock"]
    assert r["colors"] == [3] and r["dense_up_to"] == 1024 and r["largest"]["n"] == 100_000
    assert r["break_even"] == 64 and r["break_even_with_detection"] == 1024  # 23 < 64 us; 0.24 ms > 64 us, < 1 ms
    top = sh["local3"]["largest_both"]
    assert top["n"] == 1024 and top["peer"]["time_s"] == 3e-4 and top["speedup"] == pytest.approx(1024e-6 / 25e-6)
    assert findings._break_even([(8, 1.0, 0.5), (16, 1.0, 2.0)]) is None  # won once, then lost: no break-even
    line = report._sparse_verdict(sh)[0]
    assert "Rosenbrock needs 3 colours" in line and "local3 needs 5 colours" in line
    assert "from n = 64 with a precomputed colouring" in line and "from n = 1,024 including detection" in line
    assert "only the coloured one runs: Rosenbrock at n = 100,000" in line
    out = []
    report._sparse_section({"verdict": {"sparse_hessians": sh}, "hessian_rows": rows,
                            "peers": {"hessian_rows": peer}}, out.append)
    text = "\n".join(out)
    assert "## Sparse Hessians: dense against coloured" in text and "| local3 | 1,024 | 5 (3) |" in text
    assert "break-even: with a precomputed colouring from n = 64" in text


def test_the_nesting_verdict_ignores_colored_and_other_workload_rows():
    rows = synthetic_rows()
    h = findings._hessians(rows, [])
    assert h["n"] == 1024 and set(h["at_top"]) <= set(hessians.DENSE)


@pytest.mark.skipif(peers.available(["autograd"])["autograd"] is None, reason="autograd not installed")
def test_peers_compute_the_dense_hessian_of_local3(monkeypatch):
    monkeypatch.setattr(peers, "DENSE_MAX_BYTES", 8 * 10 * 10)
    rows, notes = peers.measure_hessians([6, 12], names=["autograd"], repeats=1, workload="local3",
                                         max_seconds=0.05)
    assert notes == [] and all(r["workload"] == "local3" for r in rows)
    assert rows[0]["x"] == 6 and rows[0]["skipped"] == "" and rows[0]["time_s"] > 0  # checked against revad first
    assert rows[1]["x"] == 12 and rows[1]["skipped"].startswith("skipped: a dense 12 x 12 Hessian")
    with pytest.raises(KeyError, match="no peer version of the Hessian workload 'dense'"):
        peers.hessians("autograd", 4, workload="dense")
