"""Sparse Jacobians: the 2-D Bratu residual on a 300 x 300 grid (n = m = 90,000), one pinned thread.

Times, as medians of repeats in one run: f itself, pattern detection, column and row colouring, and the compressed
Jacobian with a precomputed colouring in each engine; checks the targets of issue 14.

    python benchmarks/bench_sparse.py [--grid 300] [--repeats 7] [--cpu-time]
"""

from __future__ import annotations

import argparse  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import common  # noqa: F401  (first: pins the CPU and the BLAS threads)
import numpy as np  # noqa: E402
import scipy  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import dualad  # noqa: E402
import revad  # noqa: E402
from adops.sparse import SparseJacobian, color_columns, color_rows, jacobian_sparsity  # noqa: E402


def bratu(u, lam=1.0):
    """u_xx + u_yy + lambda exp(u) on a unit-spacing grid with zero boundary values, written with slices."""
    U = np.pad(u, 1)
    return U[2:, 1:-1] + U[:-2, 1:-1] + U[1:-1, 2:] + U[1:-1, :-2] - 4 * u + lam * np.exp(u)


CLOCK = time.perf_counter


def timed(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = CLOCK()
        fn()
        times.append(CLOCK() - t)
    return statistics.median(times), min(times), max(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--grid", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cpu-time", action="store_true", help="time.process_time (steadier on a shared machine)")
    opts = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if opts.cpu_time else time.perf_counter
    N = opts.grid
    u = np.random.default_rng(0).random((N, N))
    with threadpool_limits(1):
        P = jacobian_sparsity(bratu, u)
        sj = SparseJacobian(P)
        cols, rows = sj.coloring("forward"), sj.coloring("reverse")
        fwd, rev = dualad.jacfwd(bratu, sparsity=sj), revad.jacrev(bratu, sparsity=sj)
        Jf, Jr = fwd(u), rev(u)
        assert abs(Jf - Jr).max() < 1e-12 and Jf.nnz == P.nnz
        rows_out = [
            ("f (NumPy)", timed(lambda: bratu(u), opts.repeats)),
            ("detection: jacobian_sparsity", timed(lambda: jacobian_sparsity(bratu, u), opts.repeats)),
            ("column colouring", timed(lambda: color_columns(P), opts.repeats)),
            ("row colouring", timed(lambda: color_rows(P), opts.repeats)),
            ("detection + column colouring", timed(lambda: color_columns(jacobian_sparsity(bratu, u)),
                                                   opts.repeats)),
            ("dualad.jacfwd, precomputed colouring", timed(lambda: fwd(u), opts.repeats)),
            ("revad.jacrev, precomputed colouring", timed(lambda: rev(u), opts.repeats)),
        ]
    med = {name: t[0] for name, t in rows_out}
    print(f"command: python {' '.join(sys.argv)}")
    print(f"conditions: affinity {sorted(os.sched_getaffinity(0))}, threadpool_limits(1), Python "
          f"{platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}, "
          f"load {os.getloadavg()[0]:.1f}, {opts.repeats} repeats, {'CPU' if opts.cpu_time else 'wall'} time")
    print(f"\n2-D Bratu, {N} x {N} grid: n = m = {N * N}, nnz = {P.nnz}\n")
    print("| step | median ms | min ms | max ms |\n|---|---:|---:|---:|")
    for name, (m, lo, hi) in rows_out:
        print(f"| {name} | {m * 1e3:.1f} | {lo * 1e3:.1f} | {hi * 1e3:.1f} |")
    lb = cols.lower_bound
    checks = [
        ("compressed forward <= 40 ms", med["dualad.jacfwd, precomputed colouring"] <= 0.040),
        ("compressed reverse <= 40 ms", med["revad.jacrev, precomputed colouring"] <= 0.040),
        ("detection + colouring <= 0.5 s", med["detection + column colouring"] <= 0.5),
        (f"detection <= 100x f (is {med['detection: jacobian_sparsity'] / med['f (NumPy)']:.0f}x)",
         med["detection: jacobian_sparsity"] <= 100 * med["f (NumPy)"]),
        (f"colours <= 1.5x lower bound (columns {cols.ncolors}, rows {rows.ncolors}, bound {lb})",
         max(cols.ncolors, rows.ncolors) <= 1.5 * lb),
    ]
    print("\n| target | met |\n|---|---|")
    for name, ok in checks:
        print(f"| {name} | {'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
