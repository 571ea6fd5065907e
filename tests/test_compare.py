"""Tests of compare/: workloads, exact op counts, slopes, the oracle on every workload, mode choice, the CLI."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import adops
import dualad
import revad
from compare import choose, cost, hessians, oracle, workloads
from compare import jacobian as compare_jacobian

# ---- the seed example: w = 2, x = -2, b = 8, y = 2 gives J = 2 ------------------------------------------------


def seed_J(w, x, b, y):
    c = w * x  # multiply
    a = c + b  # add
    d = a - y  # subtract
    return 0.5 * np.square(d)  # square, multiply


SEED = (2.0, -2.0, 8.0, 2.0)


def seed_arrays():
    # one-element arrays, so every intermediate stays an ndarray (see test_seed_counts_on_0d_scalars)
    return tuple(np.array([v]) for v in SEED)


def phase_counts(counts):
    return {phase: (v["ops"], v["flops"]) for phase, v in counts.by_phase().items()}


def test_seed_values_and_gradients():
    f, args = workloads.seed_example()
    assert float(f(*args)) == 2.0
    g = revad.grad(f, argnums=(0, 1, 2, 3))(*args)
    assert [float(v) for v in g] == [-4.0, 4.0, 2.0, -2.0]
    g = dualad.grad(f, argnums=(0, 2))(*args)
    assert [float(v) for v in g] == [-4.0, 2.0]
    # the workload family reproduces the seed at n = p = 1 without activation
    f, args = workloads.build("seed_graph", n=1, p=1, activation=False)
    assert float(f(*args)) == 2.0
    assert float(revad.grad(f)(*args)[0][0]) == -4.0


def test_seed_counts_exact_forward():
    """Hand count. Primal: multiply, add, subtract, square, multiply = 5 evals of 1 flop each (one element).

    JVP with a tangent on every input: w*x -> t_w*x, t_x*w and their sum (3); c+b -> one add (1);
    a-y -> negate t_y and add (2); square -> partial 2d and t*2d (2); 0.5*s -> t*0.5 (1): 9 evals, 9 flops.
    With a tangent on w alone: t_w*x (1), add and subtract pass the tangent through (0), square (2), 0.5*s (1): 4.
    """
    args = seed_arrays()
    ones = tuple(np.ones(1) for _ in args)
    with adops.count_ops() as counts:
        out, t = dualad.jvp(seed_J, args, ones)
    assert float(out[0]) == 2.0 and float(t[0]) == (-4.0 + 4.0 + 2.0 - 2.0)
    assert phase_counts(counts) == {"primal": (5, 5), "jvp": (9, 9), "vjp": (0, 0)}
    assert counts.evals[("jvp", "multiply")] == 5 and counts.evals[("jvp", "add")] == 3
    assert counts.evals[("jvp", "negative")] == 1

    w, x, b, y = args
    with adops.count_ops() as counts:
        _, t = dualad.jvp(lambda w: seed_J(w, x, b, y), (w,), (np.ones(1),))
    assert float(t[0]) == -4.0
    assert phase_counts(counts) == {"primal": (5, 5), "jvp": (4, 4), "vjp": (0, 0)}


def test_seed_counts_exact_forward_passes():
    """One tangent per pass over 4 inputs: 4 passes of 5 primal + 9 JVP evals. The passes differ in which
    input carries the tangent, but every input is a Dual in every pass, so each pass does the full 9 JVP evals."""
    args = seed_arrays()
    with adops.count_ops() as counts:
        jac = dualad.jacfwd(seed_J, argnums=(0, 1, 2, 3), chunk_size=1)(*args)
    assert [float(j[0, 0]) for j in jac] == [-4.0, 4.0, 2.0, -2.0]
    assert phase_counts(counts) == {"primal": (20, 20), "jvp": (36, 36), "vjp": (0, 0)}
    # vectorized: one pass, the same 9 JVP evals, each on 4 directions at once
    with adops.count_ops() as counts:
        dualad.jacfwd(seed_J, argnums=(0, 1, 2, 3))(*args)
    # partial 2d of square is computed once on the primal (1 flop); the other 8 evals act on 4 directions
    assert phase_counts(counts) == {"primal": (5, 5), "jvp": (9, 8 * 4 + 1), "vjp": (0, 0)}


def test_seed_counts_exact_reverse():
    """Hand count of the sweep from J back to all four inputs (cotangent 1):
    0.5*s -> ct*0.5 (1); square -> partial 2d and ct*2d (2); a-y -> ct passes to a, -ct to y (1);
    c+b -> passes to both (0); w*x -> ct*x and ct*w (2): 6 evals, 6 flops; the primal is recorded once (5)."""
    args = seed_arrays()
    with adops.count_ops() as counts:
        out, pullback = revad.vjp(seed_J, *args)
        cts = pullback(np.ones(1))
    assert [float(c[0]) for c in cts] == [-4.0, 4.0, 2.0, -2.0]
    assert phase_counts(counts) == {"primal": (5, 5), "jvp": (0, 0), "vjp": (6, 6)}
    assert counts.evals[("vjp", "multiply")] == 5 and counts.evals[("vjp", "negative")] == 1


def test_seed_counts_on_0d_scalars():
    w, x, b, y = SEED
    with adops.count_ops() as counts:
        revad.grad(seed_J, argnums=(0, 1, 2, 3))(w, x, b, y)
    assert counts.by_phase()["vjp"]["ops"] == 6


# ---- strategies, passes and slopes -----------------------------------------------------------------------------


def test_passes_and_primal_counts_per_strategy():
    f, args = workloads.build("dense", n=6, m=3)
    f_ops = cost.f_cost_counts_only(f, args)["f_ops"]
    rows = {s: cost.count(f, args, s) for s in cost.STRATEGIES}
    assert [rows[s]["passes"] for s in cost.STRATEGIES] == [6, 1, 3, 1]
    assert rows["forward-1"]["ops_primal"] == 6 * f_ops
    assert rows["forward-vec"]["ops_primal"] == f_ops
    assert rows["reverse-1"]["ops_primal"] == f_ops  # recorded once, swept 3 times
    assert rows["reverse-1"]["ops_vjp"] == 3 * rows["reverse-vec"]["ops_vjp"]
    assert rows["forward-1"]["ops_vjp"] == 0 and rows["reverse-vec"]["ops_jvp"] == 0


def test_slopes_in_p_meet_the_acceptance_criteria():
    rows = cost.sweep("seed_graph", "p", [2, 4, 8, 16, 32], {"n": 32}, ["forward-1", "forward-vec", "reverse-vec"],
                      timing=False, memory=False)
    for metric in ("flops", "ops"):
        s = cost.slopes(rows, metric)
        assert abs(s["forward-1"] - 1) <= 0.15, (metric, s)
        assert s["reverse-vec"] < 0.3, (metric, s)
    assert cost.slopes(rows, "flops")["forward-vec"] > 0.5  # vectorized: fewer evals, but flops still grow


def test_fit_slope():
    assert cost.fit_slope([1, 10, 100], [5, 50, 500]) == pytest.approx(1.0)
    assert cost.fit_slope([1, 10, 100], [7, 7, 7]) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(cost.fit_slope([1], [1]))


def test_cheap_gradient_constant_is_small():
    f, args = workloads.build("mlp", width=4)
    c = cost.cheap_gradient(f, args, repeats=1)
    assert 1.0 < c["flops"] <= 5.0 and 1.0 < c["ops"] <= 5.0


def test_memory_grows_with_depth_in_reverse_mode_only():
    rows = cost.sweep("chain", "n", [4, 32], {"p": 16}, ["forward-vec", "reverse-vec"], timing=False)
    mem = {(r["strategy"], r["x"]): r["peak_bytes"] for r in rows}
    assert mem[("reverse-vec", 32)] > 3 * mem[("reverse-vec", 4)]
    assert mem[("forward-vec", 32)] < 1.5 * mem[("forward-vec", 4)]


# ---- the corpus against the oracle ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", workloads.names())
def test_oracle_check_of_every_workload(name):
    w = workloads.get(name)
    f, args = w(**w.small)
    errors = oracle.check(f, *args)
    assert any(k.startswith("dualad") for k in errors) and any(k.startswith("revad") for k in errors)
    assert max(errors.values()) < 1e-10, errors


def test_workload_errors():
    with pytest.raises(KeyError, match="known workloads"):
        workloads.get("nope")
    with pytest.raises(TypeError, match="unknown size"):
        workloads.build("dense", depth=3)
    assert workloads.dims(*workloads.build("dense", n=5, m=2)) == (5, 2)
    assert workloads.dims(*workloads.build("mlp", width=3, features=2, classes=2)) == (3 * 3 + 2 * 4, 1)


# ---- automatic mode choice ------------------------------------------------------------------------------------


def test_choose_reverse_for_many_inputs_and_forward_for_many_outputs():
    # 512 to 2 (and back): far enough from the diagonal that per-call constants measured on a busy machine cannot
    # tip the choice (at 64 to 2 a pass's fixed cost is most of it, and a loaded calibration decided it)
    f, args = workloads.build("dense", n=512, m=2)
    c = choose.choose(f, *args)
    assert c.mode == "reverse" and (c.n, c.m) == (512, 2) and c.forward_cost / c.reverse_cost > 5
    f, args = workloads.build("dense", n=2, m=512)
    assert choose.choose(f, *args).mode == "forward"
    assert choose.choose(f, *args, measure=False).mode == "forward"
    text = choose.explain(f, *args)
    assert "R^2 to R^512" in text and "forward mode" in text and "flops" in text and "\n" not in text


def test_auto_decides_the_diagonal_by_priced_counts_not_a_tie_rule():
    f, args = workloads.build("dense", n=32, m=32)
    c = choose.choose(f, *args)
    assert c.forward_cost == pytest.approx(c.reverse_cost, rel=0.2)  # about equal flops on the diagonal
    assert c.forward_seconds != c.reverse_seconds
    assert c.mode == ("forward" if c.forward_seconds < c.reverse_seconds else "reverse")
    assert "this machine's constants" in c.explain() and "ms" in c.explain()


def test_calibration_is_cached_and_can_be_redone(tmp_path, monkeypatch):
    from compare import calibration

    monkeypatch.setenv("FWDREV_CACHE_DIR", str(tmp_path))
    fresh = calibration.calibrate(force=True, repeats=1)
    assert fresh.source == "measured" and (tmp_path / "calibration.json").exists()
    cached = calibration.calibrate()
    assert cached.source == "cache" and cached.seconds_per_eval == fresh.seconds_per_eval
    assert all(v > 0 for v in [*cached.seconds_per_eval.values(), *cached.seconds_per_flop.values()])


def test_compare_hessian_auto_picks_a_linear_nesting_and_says_why():
    import compare

    f, (x,) = workloads.build("rosenbrock", n=40)
    exact = revad.hessian(f)(x)
    np.testing.assert_allclose(compare.hessian(f, x), exact, rtol=1e-12)
    for mode in hessians.STRATEGIES:
        np.testing.assert_allclose(compare.hessian(f, x, mode=mode), exact, rtol=1e-12)
    c = compare.choose_hessian.choose(f, x)
    assert c.strategy in ("forward-over-reverse", "reverse-over-reverse")
    pred = c.predicted
    assert pred["forward-over-forward"]["flops"] > 5 * pred["forward-over-reverse"]["flops"]
    text = compare.explain(f, x, what="hessian")
    assert f"Chose {c.strategy}" in text and all(hessians.STRATEGIES[s].short in text for s in c.predicted)
    assert set(hessians.DENSE) <= set(c.predicted)  # coloured ones too where the pattern was detected
    with pytest.raises(ValueError, match="mode must be 'auto' or one of"):
        compare.hessian(f, x, mode="backward")
    np.testing.assert_allclose(compare.hessian(f, x[:3]), oracle.hessian(f, x[:3]), rtol=1e-12)


def test_compare_jacobian_modes_agree():
    f, args = workloads.build("dense", n=5, m=3)
    auto = compare_jacobian(f, *args)
    fwd = compare_jacobian(f, *args, mode="forward")
    rev = compare_jacobian(f, *args, mode="reverse", chunk_size=2)
    np.testing.assert_allclose(auto, oracle.jacobian(f, *args), rtol=1e-12)
    np.testing.assert_allclose(fwd, rev, rtol=1e-12)
    with pytest.raises(ValueError, match="mode must be one of"):
        compare_jacobian(f, *args, mode="backward")


def test_compare_jacobian_with_argnums_and_dicts():
    f, args = workloads.build("mlp", width=2, features=2, classes=2, batch=3)
    grads = compare_jacobian(f, *args)
    big, big_args = workloads.build("mlp", width=64)
    assert choose.choose(big, *big_args).mode == "reverse"  # 515 inputs, one output
    exact = oracle.jacobian(f, *args)
    for k in grads:
        np.testing.assert_allclose(grads[k], exact[k], rtol=1e-10, atol=1e-14)
    J = compare_jacobian(lambda a, b: a * b, np.ones(2), np.arange(2.0), argnums=1)
    np.testing.assert_allclose(J, np.eye(2))


# ---- the command line -------------------------------------------------------------------------------------------


def run_cli(*argv, timeout=120):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "compare", *argv], capture_output=True, text=True, timeout=timeout,
                          env=env)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    # about 10 s on a quiet 2-core machine; the timeout leaves room for a machine busy with other work
    proc = run_cli("--quick", "--repeats", "1", "--workloads", "dense,rosenbrock", "--out", str(out) + os.sep,
                   timeout=600)
    return proc, out


def test_cli_quick_run_writes_everything(quick_run):
    proc, out = quick_run
    assert proc.returncode == 0, proc.stderr
    for name in ("cost_vs_p.png", "jacobian_vs_n_m.png", "crossover.png", "vectorized_vs_loop.png",
                 "memory_vs_depth.png", "hessians.png", "sparse_hessians.png", "sparse_vs_n.png", "measurements.csv",
                 "oracle.csv",
                 "summary.md"):
        path = out / name
        assert path.exists() and path.stat().st_size > 0, name
    assert (out / "cost_vs_p.png").read_bytes()[:4] == b"\x89PNG"
    assert "[" in proc.stderr  # progress lines
    assert f"to {out}{os.sep} in" in proc.stderr and f"{out}{os.sep}{os.sep}" not in proc.stderr


def test_cli_quick_run_opens_with_the_verdict(quick_run):
    proc, out = quick_run
    summary = (out / "summary.md").read_text()
    sections = [line for line in summary.splitlines() if line.startswith("## ")]
    assert sections[:2] == ["## Verdict", "## Conditions"]
    verdict = summary.split("## Verdict")[1].split("## Conditions")[0]
    assert "forward mode wins when n < r·m" in verdict and "in flops" in verdict and "in time" in verdict
    assert "Hessians:" in verdict and "Gradients (m = 1)" in verdict and "vectorized" in verdict
    assert "Sparse Jacobians: coloured" in verdict and "bidirectional split needs 3 passes" in verdict
    assert "## Sparse Jacobians: dense against coloured" in summary
    assert "PASS" not in summary and "Acceptance" not in summary
    assert not re.search(r"\de-\d", summary.split("## Oracle")[0])  # near-zero slopes print as 0.00
    # the console's last lines are the same verdict
    printed = [line[2:] for line in proc.stdout.strip().splitlines()]
    assert printed and all(line in verdict for line in printed)


def test_cli_quick_run_records_its_settings(quick_run):
    proc, out = quick_run
    summary = (out / "summary.md").read_text()
    conditions = summary.split("## Conditions")[1].split("\n## ")[0]
    for needle in ("threads: 1", "BLAS:", "load: start", "versions: python", "numpy", "threadpoolctl", "CPU time",
                   "--quick", "median of at least 1 repeats"):
        assert needle in conditions, needle
    rows = list(csv.DictReader(open(out / "measurements.csv")))
    timed = [r for r in rows if r["time_s"] not in ("", "nan")]
    assert timed and all(r["threads"] == "1" and r["clock"] == "process" and r["blas"] and r["load_start_1min"] != ""
                         for r in rows)
    assert all(float(r["time_min_s"]) <= float(r["time_s"]) <= float(r["time_max_s"]) for r in timed)
    hess = [r for r in rows if r["experiment"] == "hessian_vs_n"]
    assert {r["strategy"] for r in hess} == set(hessians.STRATEGIES)
    assert any(r["skipped"] for r in hess) and all(r["skipped"] or int(r["flops"]) > 0 for r in hess)


@pytest.mark.parametrize("argv, needle", [
    (("--bogus-option",), "unrecognized arguments"),
    (("--scale", "huge"), "invalid choice"),
    (("--workloads", "dense,nope"), "unknown workload 'nope'"),
    (("--repeats", "0"), "--repeats"),
    (("--threads", "0"), "--threads must be >= 1"),
])
def test_cli_bad_input_is_one_line(argv, needle, tmp_path):
    proc = run_cli(*argv, "--out", str(tmp_path / "r"))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_unwritable_folder_is_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = run_cli("--scale", "tiny", "--out", str(blocker / "results"))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write to output folder" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_out_pointing_at_a_file_says_so(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = run_cli("--scale", "tiny", "--out", str(blocker))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "is a file, not a folder" in lines[0], proc.stderr


def test_peers_notice_when_none_is_installed():
    from compare import cli

    text = cli.peer_notice({"jax": None, "torch": None, "autograd": None})
    assert "none of jax, torch, autograd is installed" in text
    assert "autograd not installed" in cli.peer_notice({"jax": "0.4", "torch": "2.13.0", "autograd": None})
    assert cli.peer_notice({"jax": "0.4"}) is None


# ---- findings, apart from any run --------------------------------------------------------------------------------


def synthetic_results(load=(0.1, 0.1, 0.1)):
    """Rows as a run would make them, for a machine where a VJP direction costs 2 JVP directions."""
    from compare import cli
    from compare.conditions import Conditions

    def row(strategy, n, m, **extra):
        mode, kind = strategy.split("-")
        directions = n if mode == "forward" else m
        per = 1.0 if mode == "forward" else 2.0
        passes = 1 if kind == "vec" else directions
        value = 10.0 + directions * per * (1.0 if kind == "vec" else 3.0)
        return {"strategy": strategy, "engine": "fwdrev", "n_in": n, "m_out": m, "flops": value, "flops_primal": 10,
                "ops": value, "time_s": value * 1e-6, "time_min_s": value * 1e-6, "time_max_s": value * 1.1e-6,
                "time_repeats": 3, "f_flops": 10, "passes": passes, "peak_bytes": 1000, **extra}

    grid = [row(s, n, m) for s in cost.STRATEGIES for n in (1, 4, 16) for m in (1, 4, 16)]
    n_rows = [row(s, k, 4, x=k) for s in cost.STRATEGIES for k in (2, 8)]
    m_rows = [row(s, 4, k, x=k) for s in cost.STRATEGIES for k in (2, 8)]
    p_rows = [row(s, p, 1, x=p) for s in ("forward-1", "forward-vec", "reverse-vec") for p in (2, 8)]
    hess = [{"strategy": s, "call": hessians.STRATEGIES[s].call, "x": n, "flops": n ** (2 + (s[0] == s[-7])),
             "ops": 10, "time_s": 1e-5 * n ** (1 + (s.startswith("forward-over-f"))), "peak_bytes": 10 * n,
             "skipped": ""} for s in hessians.DENSE for n in (4, 8)]
    hess.append({"strategy": "forward-over-forward", "x": 16, "skipped": "skipped: predicted 9 s > budget 1 s"})
    return {"p_rows": p_rows, "n_rows": n_rows, "m_rows": m_rows, "grid_rows": grid,
            "mem_rows": [{"strategy": s, "x": d, "peak_bytes": d * 100} for s in ("forward-1", "forward-vec",
                                                                                 "reverse-vec") for d in (2, 4)],
            "table_rows": [], "oracle_rows": [], "peer_rows": [], "peer_notes": [], "hess_rows": hess,
            "peer_hess_rows": [], "cheap": {"mlp": {"flops": 2.0, "ops": 2.5, "time_vs_recording": 1.5,
                                                    "time_vs_numpy": 9.0}},
            "conditions": Conditions(threads=1, cpus=[1], pinned=True, cpu_count=2, blas=[], versions={},
                                     load_start=load, load_end=load),
            "plan": cli.PLANS["tiny"], "scale": "tiny", "repeats": 3, "peers_requested": False}


def test_findings_measure_the_crossover_ratio_and_pick_the_hessian_nesting():
    from compare import findings, report

    fd = findings.findings(synthetic_results())
    cx = fd["verdict"]["crossover"]
    assert cx["direction_flops_ratio"] == pytest.approx(2.0)
    assert cx["flops"]["r"] == pytest.approx(2.0, rel=0.5) and cx["flops"]["agree"] == cx["flops"]["total"]
    vec = fd["verdict"]["vectorizing"]
    assert vec["forward"]["faster_everywhere"] and vec["reverse"]["faster_everywhere"]
    h = fd["verdict"]["hessians"]
    assert h["n"] == 8 and h["skipped_from"] == {"forward-over-forward": 16}
    assert h["best_time"] in ("forward-over-reverse", "reverse-over-reverse")
    assert fd["flags"] == []
    lines = report.verdict_lines(fd)
    assert lines[0].startswith("Jacobians of f: R^n -> R^m: forward mode wins when n < r·m")
    assert "fwd-over-fwd from n = 16" in lines[3]


def test_findings_flag_a_loaded_machine():
    from compare import findings

    fd = findings.findings(synthetic_results(load=(3.5, 3.0, 2.0)))
    assert len(fd["flags"]) == 1 and fd["flags"][0].startswith("high load")


def test_report_numbers_read_as_numbers():
    from compare import report

    assert report.num(6.52e-16) == "0.00" and report.num(-3e-9) == "0.00"
    assert report.num(0.987) == "0.99" and report.num(1234567) == "1,234,567" and report.num(float("nan")) == "n/a"
