"""``python -m compare``: measure both modes on the workload corpus and write PNG plots, CSV and summary.md.

The run is a fixed plan of experiments (``PLANS``) at one of three scales: ``full`` (default, a few minutes),
``quick`` (``--quick``, about a minute) and ``tiny`` (for tests, seconds). Errors in the arguments or the
output folder end the run with one line on stderr and a nonzero exit status, never a traceback.

>>> from compare import cli
>>> sorted(cli.PLANS)
['full', 'quick', 'tiny']
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import cost, oracle, peers, workloads

__all__ = ["Plan", "PLANS", "main", "build_parser", "CLIError"]

PROG = "python -m compare"


@dataclass(frozen=True)
class Plan:
    """The sizes of one run: the sweep behind each plot and the number of timing repeats."""

    nodes: int  # seed graph depth for the cost-vs-p plot
    params: tuple  # p values for that plot
    dense_sizes: tuple  # n (at m = dense_fixed) and m (at n = dense_fixed) values
    dense_fixed: int
    grid: tuple  # n and m values of the crossover map
    chain_width: int
    depths: tuple  # chain depths for the memory plot
    repeats: int
    max_seconds: float  # timing budget per measured call
    small_table: bool = False  # per-workload table at the oracle's small sizes instead of the defaults


PLANS: dict[str, Plan] = {
    "full": Plan(256, (2, 4, 8, 16, 32, 64, 128, 256), (2, 4, 8, 16, 32, 64, 128, 256, 512), 4,
                 (1, 2, 4, 8, 16, 32, 64, 128, 256), 64, (4, 8, 16, 32, 64, 128, 256, 512), 5, 3.0),
    "quick": Plan(128, (2, 4, 8, 16, 32, 64, 128), (2, 4, 8, 16, 32, 64, 128), 4, (1, 4, 16, 64), 32,
                  (4, 8, 16, 32, 64, 128), 3, 1.0),
    "tiny": Plan(16, (2, 4, 8, 16), (2, 4, 8), 2, (1, 4, 16), 8, (2, 4, 8), 1, 0.2, small_table=True),
}


class CLIError(Exception):
    """A user error: reported as one line on stderr."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block
        raise CLIError(f"{message} (see {PROG} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m compare``.

    >>> build_parser().parse_args(["--quick"]).quick
    True
    """
    p = _Parser(prog=PROG, description="Measure forward- and reverse-mode AD on the workload corpus; write PNG plots, "
                                       "measurements.csv, oracle.csv and summary.md into --out.")
    p.add_argument("--out", default="results", metavar="DIR", help="output folder (default: results/)")
    p.add_argument("--quick", action="store_true", help="smaller sizes: finishes in about a minute")
    p.add_argument("--scale", choices=sorted(PLANS), default=None,
                   help="run size: full (default), quick (same as --quick) or tiny (seconds; for tests)")
    p.add_argument("--peers", action="store_true",
                   help="also time JAX, PyTorch and HIPS autograd on the dense Jacobian, where importable")
    p.add_argument("--workloads", default=None, metavar="NAMES",
                   help=f"comma-separated workloads for the per-workload table and the oracle check "
                        f"(default: all of {','.join(workloads.names())})")
    p.add_argument("--repeats", type=int, default=None, metavar="N", help="timing repeats (median is reported)")
    p.add_argument("--no-plots", action="store_true", help="write CSV and summary only")
    return p


class _Progress:
    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.done, self.start, self.stream = total, 0, time.perf_counter(), stream

    def step(self, what: str) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        print(f"[{self.done:2d}/{self.total}] {elapsed:6.1f}s  {what}", file=self.stream, flush=True)

    def detail(self, what: str) -> None:
        print(f"         ... {what}", file=self.stream, flush=True)


def _check_out(out: str) -> str:
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, ".compare-write-test")
        with open(probe, "w") as fh:
            fh.write("ok")
        os.remove(probe)
    except OSError as exc:
        raise CLIError(f"cannot write to output folder {out!r}: {exc.strerror or exc}") from None
    return out


def _select_workloads(spec: str | None) -> list[str]:
    if spec is None:
        return workloads.names()
    chosen = [s.strip() for s in spec.split(",") if s.strip()]
    if not chosen:
        raise CLIError("--workloads needs at least one name")
    for name in chosen:
        if name not in workloads.WORKLOADS:
            raise CLIError(f"unknown workload {name!r}; known workloads: {', '.join(workloads.names())}")
    return chosen


def _write_csv(path: str, rows: Sequence[dict]) -> None:
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k, "") for k in keys})


def _fmt(x: Any, digits: int = 3) -> str:
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if isinstance(x, float):
        if not np.isfinite(x):
            return "n/a"
        return f"{x:.{digits}g}"
    return str(x)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _normalized_slope(rows: Sequence[dict], strategy: str, metric: str) -> float:
    pts = [(r["x"], r[metric] / r["f_flops"]) for r in rows if r["strategy"] == strategy and r["f_flops"]]
    return cost.fit_slope([p[0] for p in pts], [p[1] for p in pts])


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the plan for parsed ``args``; returns the paths written and the headline numbers."""
    scale = args.scale or ("quick" if args.quick else "full")
    plan = PLANS[scale]
    repeats = args.repeats if args.repeats is not None else plan.repeats
    if repeats < 1:
        raise CLIError(f"--repeats must be >= 1, got {repeats}")
    chosen = _select_workloads(args.workloads)
    out = _check_out(args.out)
    t0 = time.perf_counter()
    progress = _Progress(total=9 + (1 if args.peers else 0) + (0 if args.no_plots else 1))
    rows: list[dict] = []
    common = {"repeats": repeats, "max_seconds": plan.max_seconds}

    progress.step(f"gradient of the seed graph ({plan.nodes} nodes) vs p = {list(plan.params)}")
    p_rows = cost.sweep("seed_graph", "p", plan.params, {"n": plan.nodes}, ["forward-1", "forward-vec", "reverse-vec"],
                        memory=False, experiment="gradient_vs_p", progress=progress.detail, **common)
    rows += p_rows

    progress.step(f"dense Jacobian vs n at m = {plan.dense_fixed}")
    n_rows = cost.sweep("dense", "n", plan.dense_sizes, {"m": plan.dense_fixed}, memory=False,
                        experiment="jacobian_vs_n", progress=progress.detail, **common)
    rows += n_rows
    progress.step(f"dense Jacobian vs m at n = {plan.dense_fixed}")
    m_rows = cost.sweep("dense", "m", plan.dense_sizes, {"n": plan.dense_fixed}, memory=False,
                        experiment="jacobian_vs_m", progress=progress.detail, **common)
    rows += m_rows

    progress.step(f"crossover grid over n, m in {list(plan.grid)}")
    grid_rows = []
    for n in plan.grid:
        progress.detail(f"n = {n}")
        for m in plan.grid:
            f, fargs = workloads.build("dense", n=n, m=m)
            grid_rows += cost.measure(f, fargs, memory=False,
                                      extra={"experiment": "crossover", "workload": "dense", "size_n": n,
                                             "size_m": m}, **common)
    rows += grid_rows

    progress.step(f"memory of the chain gradient vs depth (p = {plan.chain_width})")
    mem_rows = cost.sweep("chain", "n", plan.depths, {"p": plan.chain_width}, ["forward-1", "forward-vec",
                                                                                "reverse-vec"],
                          timing=False, experiment="memory_vs_depth", progress=progress.detail, **common)
    rows += mem_rows

    progress.step("cheap-gradient constants")
    cheap = {}
    for name in ("seed_graph", "mlp", "chain"):
        f, fargs = workloads.build(name)
        cheap[name] = cost.cheap_gradient(f, fargs, repeats=repeats)

    progress.step(f"every strategy on each workload at its default size: {', '.join(chosen)}")
    table_rows = []
    for name in chosen:
        w = workloads.get(name)
        sizes = {**w.defaults, **w.small} if plan.small_table else w.defaults
        f, fargs = w(**sizes)
        table_rows += cost.measure(f, fargs, extra={"experiment": "workload_table", "workload": name,
                                                    **{f"size_{k}": v for k, v in sizes.items()}}, **common)
    rows += table_rows

    progress.step(f"oracle check of both engines at small sizes: {', '.join(chosen)}")
    oracle_rows = []
    for name in chosen:
        w = workloads.get(name)
        f, fargs = w(**w.small)
        for engine_mode, err in oracle.check(f, *fargs).items():
            oracle_rows.append({"workload": name, "sizes": " ".join(f"{k}={v}" for k, v in w.small.items()),
                                "engine_mode": engine_mode, "max_rel_error": err, "ok": err < 1e-10})

    peer_rows, peer_notes = [], []
    if args.peers:
        progress.step("peers: JAX, PyTorch, HIPS autograd on the dense Jacobian grid")
        peer_rows, peer_notes = peers.measure_dense([(n, m) for n in plan.grid for m in plan.grid],
                                                    repeats=repeats, progress=progress.detail,
                                                    max_seconds=plan.max_seconds)
        rows += peer_rows

    files = {"measurements": os.path.join(out, "measurements.csv"), "oracle": os.path.join(out, "oracle.csv"),
             "summary": os.path.join(out, "summary.md")}
    if not args.no_plots:
        progress.step("plots")
        from . import plots

        files["cost_vs_p"] = plots.cost_vs_p(p_rows, os.path.join(out, "cost_vs_p.png"), plan.nodes)
        files["jacobian_vs_n_m"] = plots.jacobian_vs_size(n_rows, m_rows, os.path.join(out, "jacobian_vs_n_m.png"),
                                                          plan.dense_fixed, plan.dense_fixed)
        files["crossover"] = plots.crossover_map(grid_rows, os.path.join(out, "crossover.png"), peer_rows)
        files["vectorized"] = plots.vectorized_vs_loop(n_rows, m_rows, os.path.join(out, "vectorized_vs_loop.png"))
        files["memory"] = plots.memory_vs_depth(mem_rows, os.path.join(out, "memory_vs_depth.png"),
                                                plan.chain_width)

    progress.step("CSV and summary.md")
    _write_csv(files["measurements"], rows)
    _write_csv(files["oracle"], oracle_rows)
    headline = _summary(files, scale, plan, repeats, p_rows, n_rows, m_rows, grid_rows, mem_rows, cheap,
                        table_rows, oracle_rows, peer_rows, peer_notes, args, time.perf_counter() - t0)
    print(f"{PROG}: wrote {len(files)} files to {out}/ in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return {"files": files, **headline}


def _summary(files, scale, plan, repeats, p_rows, n_rows, m_rows, grid_rows, mem_rows, cheap, table_rows,
             oracle_rows, peer_rows, peer_notes, args, seconds) -> dict[str, Any]:
    lines: list[str] = []
    add = lines.append
    add("# fwdrev: forward mode against reverse mode, measured\n")
    add(f"Scale `{scale}`, timing = median of up to {repeats} repeats after one warm-up, counting off; op counts "
        "and flops are exact, from `adops.count_ops` (primal, JVP and VJP work). "
        f"Run took {seconds:.0f} s on {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}.\n")

    # --- acceptance: slopes in p
    slope = {m: cost.slopes(p_rows, m) for m in ("ops", "flops", "time_s")}
    fwd_ok = abs(slope["flops"]["forward-1"] - 1) <= 0.15 and abs(slope["ops"]["forward-1"] - 1) <= 0.15
    rev_ok = slope["flops"]["reverse-vec"] < 0.3 and slope["ops"]["reverse-vec"] < 0.3
    add(f"## Gradient cost against the number of parameters p (seed graph, n = {plan.nodes} nodes)\n")
    add("Log-log slopes of cost against p at fixed n. Theory: forward mode needs p passes over n nodes, O(n·p), "
        "slope 1; reverse mode one sweep, O(n + p), slope ~0 while p <= n.\n")
    add(_table(["strategy", "slope (primitive evals)", "slope (flops)", "slope (time)", "theory"],
               [[s, slope["ops"][s], slope["flops"][s], slope["time_s"][s],
                 {"forward-1": "1 (O(n·p))", "forward-vec": "1 in flops, 0 in evals (one pass)",
                  "reverse-vec": "~0 (O(n+p))"}[s]] for s in ("forward-1", "forward-vec", "reverse-vec")]))
    add(f"\n**Acceptance**: forward slope 1 ± 0.15 in op counts: {'PASS' if fwd_ok else 'FAIL'} "
        f"(flops {slope['flops']['forward-1']:.3f}, evals {slope['ops']['forward-1']:.3f}); reverse slope < 0.3: "
        f"{'PASS' if rev_ok else 'FAIL'} (flops {slope['flops']['reverse-vec']:.3f}, "
        f"evals {slope['ops']['reverse-vec']:.3f}).\n")
    big = max(p_rows, key=lambda r: (r["x"], r["strategy"] == "forward-1"))
    at_p = {r["strategy"]: r for r in p_rows if r["x"] == big["x"]}
    add(f"At p = {big['x']}: forward one-at-a-time {at_p['forward-1']['flops']:,} flops in "
        f"{at_p['forward-1']['time_s'] * 1e3:.1f} ms; reverse {at_p['reverse-vec']['flops']:,} flops in "
        f"{at_p['reverse-vec']['time_s'] * 1e3:.1f} ms "
        f"({at_p['forward-1']['flops'] / at_p['reverse-vec']['flops']:.0f}x fewer flops).\n")

    # --- Jacobian vs n and m
    add("## Jacobian of R^n -> R^m (dense map) against n and m\n")
    add("Cost divided by the cost of one evaluation of f, log-log slope: forward needs n passes (slope 1 in n, 0 in "
        "m), reverse m sweeps (slope 0 in n, 1 in m).\n")
    add(_table(["strategy", "slope vs n (flops / f)", "slope vs m (flops / f)", "theory"],
               [[s, _normalized_slope(n_rows, s, "flops"), _normalized_slope(m_rows, s, "flops"),
                 "n: 1, m: 0" if s.startswith("forward") else "n: 0, m: 1"]
                for s in ("forward-1", "forward-vec", "reverse-1", "reverse-vec")]))
    add("")

    # --- crossover
    agree, total, cells = 0, 0, []
    by_cell: dict = {}
    for r in grid_rows:
        by_cell.setdefault((r["n_in"], r["m_out"]), {})[r["strategy"]] = r
    for (n, m), d in sorted(by_cell.items()):
        ratio = d["forward-vec"]["flops"] / d["reverse-vec"]["flops"]
        t_ratio = d["forward-1"]["time_s"] / d["reverse-1"]["time_s"]
        if n != m:
            total += 1
            agree += (ratio > 1) == (n > m)
        cells.append((n, m, ratio, t_ratio))
    add("## Crossover\n")
    add(f"Over the (n, m) grid {list(plan.grid)}², the mode with fewer flops is the one theory predicts "
        f"(reverse when n > m, forward when n < m) in {agree} of {total} off-diagonal cells. ")
    extreme = [c for c in cells if c[0] == max(plan.grid) and c[1] == min(plan.grid)]
    if extreme:
        n, m, ratio, t_ratio = extreme[0]
        add(f"At n = {n}, m = {m} reverse mode does {ratio:.1f}x fewer flops and is {t_ratio:.1f}x faster "
            "(one direction per pass); ")
    extreme = [c for c in cells if c[0] == min(plan.grid) and c[1] == max(plan.grid)]
    if extreme:
        n, m, ratio, t_ratio = extreme[0]
        add(f"at n = {n}, m = {m} forward mode does {1 / ratio:.1f}x fewer flops and is {1 / t_ratio:.1f}x faster.")
    add("\n")

    # --- cheap gradient
    add("## Cheap-gradient constant\n")
    add("Cost of value-and-gradient by one reverse sweep over the cost of f alone. Theory (Baur-Strassen / "
        "Griewank): a small constant, at most about 3-5 in operation counts, independent of the number of inputs.\n")
    add(_table(["workload (default size)", "flops ratio", "primitive-evals ratio", "time / recording f",
                "time / plain NumPy f"],
               [[k, v["flops"], v["ops"], v["time_vs_recording"], v["time_vs_numpy"]] for k, v in cheap.items()]))
    add("\nThe time against plain NumPy also contains the per-primitive Python overhead of taping small arrays; "
        "against recording the same f on a tape, the backward sweep adds about the constant in the first column.\n")

    # --- vectorized vs loop
    add("## Vectorized against one direction per pass (dense map, largest size)\n")
    vec_lines = []
    for rws, pair in ((n_rows, ("forward-1", "forward-vec")), (m_rows, ("reverse-1", "reverse-vec"))):
        top = max(r["x"] for r in rws)
        t = {r["strategy"]: r["time_s"] for r in rws if r["x"] == top}
        vec_lines.append([pair[0].split("-")[0], top, t[pair[0]], t[pair[1]], t[pair[0]] / t[pair[1]]])
    add(_table(["mode", "directions", "loop time [s]", "vectorized time [s]", "speed-up"], vec_lines))
    add("")

    # --- memory
    mem_slope = {s: cost.fit_slope([r["x"] for r in mem_rows if r["strategy"] == s],
                                   [r["peak_bytes"] for r in mem_rows if r["strategy"] == s])
                 for s in ("forward-1", "forward-vec", "reverse-vec")}
    add(f"## Memory against depth (chain over a p = {plan.chain_width} vector)\n")
    add("Log-log slope of peak memory (tracemalloc) against depth: " + ", ".join(
        f"{k} {v:.2f}" for k, v in mem_slope.items()) + ". Theory: reverse 1 (the tape keeps every node), "
        "forward 0.\n")

    # --- per-workload table
    add("## Every strategy on each workload (default sizes)\n")
    add(_table(["workload", "strategy", "n x m", "passes", "evals primal/jvp/vjp", "flops", "time [ms]",
                "peak [KiB]"],
               [[r["workload"], r["strategy"], f"{r['n_in']} x {r['m_out']}", r["passes"],
                 f"{r['ops_primal']}/{r['ops_jvp']}/{r['ops_vjp']}", r["flops"], r["time_s"] * 1e3,
                 r["peak_bytes"] / 1024] for r in table_rows]))
    add("")

    # --- oracle
    worst = max((r["max_rel_error"] for r in oracle_rows), default=0.0)
    add("## Oracle check (exact SymPy derivatives, small sizes)\n")
    add(f"Every workload's Jacobian from both engines in every mode against `compare.oracle`: worst relative "
        f"error {worst:.2e} ({'all OK' if all(r['ok'] for r in oracle_rows) else 'SOME FAILED'}).\n")
    modes = sorted({r["engine_mode"] for r in oracle_rows})
    by_w: dict = {}
    for r in oracle_rows:
        by_w.setdefault((r["workload"], r["sizes"]), {})[r["engine_mode"]] = r["max_rel_error"]
    add(_table(["workload", "sizes", *modes],
               [[w, s, *[f"{d[mo]:.1e}" if mo in d else "-" for mo in modes]] for (w, s), d in by_w.items()]))
    add("")

    # --- peers
    add("## Peers\n")
    if not args.peers:
        add("Not run (add `--peers`).\n")
    else:
        for note in peer_notes:
            add(f"- {note}")
        engines = sorted({r["engine"] for r in peer_rows})
        if engines:
            add("\nDense Jacobian, wall time of the largest grid corners [ms] (one direction per pass / "
                "vectorized):\n")
            lo, hi = min(plan.grid), max(plan.grid)
            body = []
            for e in engines:
                for n, m in ((hi, lo), (lo, hi)):
                    t = {r["strategy"]: r["time_s"] for r in peer_rows if r["engine"] == e and r["n_in"] == n
                         and r["m_out"] == m}
                    body.append([e, f"{n} x {m}", *[t.get(s, float("nan")) * 1e3 for s in
                                                    ("forward-1", "reverse-1", "forward-vec", "reverse-vec")]])
            for n, m in ((hi, lo), (lo, hi)):
                t = {r["strategy"]: r["time_s"] for r in grid_rows if r["n_in"] == n and r["m_out"] == m}
                body.append(["fwdrev", f"{n} x {m}", *[t[s] * 1e3 for s in
                                                        ("forward-1", "reverse-1", "forward-vec", "reverse-vec")]])
            add(_table(["engine", "n x m", "forward-1", "reverse-1", "forward-vec", "reverse-vec"], body))
        add("")

    # --- environment and files
    import matplotlib
    import sympy

    add("## Environment\n")
    add(f"- Python {platform.python_version()} ({platform.python_implementation()}), NumPy {np.__version__}, "
        f"SymPy {sympy.__version__}, matplotlib {matplotlib.__version__}")
    add(f"- {platform.platform()}, {os.cpu_count()} CPUs, processor {platform.processor() or platform.machine()}")
    add(f"- command: `{PROG} {' '.join(sys.argv[1:])}`\n")
    add("## Files\n")
    for key, path in files.items():
        add(f"- `{os.path.basename(path)}` ({key})")
    with open(files["summary"], "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return {"slopes": slope, "acceptance": fwd_ok and rev_ok, "cheap_gradient": cheap, "oracle_worst": worst}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m compare``; returns the exit status (0 ok, 1 failure, 2 usage error).

    >>> main(["--definitely-not-an-option"])
    2
    """
    try:
        args = build_parser().parse_args(argv)
        run(args)
    except CLIError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback: one line that says what broke
        print(f"{PROG}: error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    return 0
