"""``python -m compare``: measure both modes on the workload corpus and write PNG plots, CSV and summary.md.

The run is a fixed plan of experiments (``PLANS``) at one of three scales: ``full`` (default, a few minutes),
``quick`` (``--quick``, about a minute) and ``tiny`` (for tests, seconds). It runs under controlled conditions
(``compare.conditions``: ``--threads`` BLAS threads, default 1, pinned CPUs, recorded), turns its rows into
findings (``compare.findings``) and renders them (``compare.report``); the verdict closes the console output.
Errors in the arguments or the output folder end the run with one line on stderr and a nonzero exit status,
never a traceback.

>>> from compare import cli
>>> sorted(cli.PLANS)
['full', 'quick', 'tiny']
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import conditions, cost, findings, hessians, oracle, peers, report, sparse, workloads

__all__ = ["Plan", "PLANS", "main", "build_parser", "CLIError", "peer_notice"]

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
    hessian_sizes: tuple = ()  # n values of the Hessian-strategies sweep (Rosenbrock)
    hessian_budget: float = 1.0  # seconds one Hessian may take; beyond it a strategy's larger sizes are skipped
    sparse_hessian_sizes: tuple = ()  # n values of the dense-against-coloured sweep on local3 (pentadiagonal)
    small_table: bool = False  # per-workload table at the oracle's small sizes instead of the defaults
    sparse_sizes: tuple = ()  # n values of the sparse-Jacobian sweep (2-D Bratu at the nearest N^2)
    sparse_max_entries: float = 1e6  # a strategy whose directions x n exceed this is skipped at that n


PLANS: dict[str, Plan] = {
    "full": Plan(256, (2, 4, 8, 16, 32, 64, 128, 256), (2, 4, 8, 16, 32, 64, 128, 256, 512), 4,
                 (1, 2, 4, 8, 16, 32, 64, 128, 256), 64, (4, 8, 16, 32, 64, 128, 256, 512), 5, 3.0,
                 (8, 16, 32, 64, 128, 256, 512, 1000), 1.0, (16, 64, 256, 1024, 4096, 16384, 100_000),
                 sparse_sizes=(100, 1024, 10_000, 90_000), sparse_max_entries=1e8),
    "quick": Plan(64, (2, 4, 8, 16, 32, 64), (2, 4, 8, 16, 32, 64), 4, (1, 4, 16, 64), 32,
                  (4, 8, 16, 32, 64, 128), 3, 0.5, (8, 32, 128, 512), 0.1, (16, 128, 1024, 8192),
                  sparse_sizes=(64, 256, 1024), sparse_max_entries=1.1e6),
    "tiny": Plan(16, (2, 4, 8, 16), (2, 4, 8), 2, (1, 4, 16), 8, (2, 4, 8), 3, 0.2, (4, 8, 16), 0.2, (8, 64),
                 small_table=True, sparse_sizes=(16, 64), sparse_max_entries=1e4),
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
                   help="also time JAX, PyTorch and HIPS autograd on the dense Jacobian and the Hessian, where "
                        "importable")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="BLAS/OpenMP threads (set with threadpoolctl) and CPUs pinned for the whole run (default 1: "
                        "what a small-array AD workload should use; more threads make a busy machine's timings lie)")
    p.add_argument("--workloads", default=None, metavar="NAMES",
                   help=f"comma-separated workloads for the per-workload table and the oracle check "
                        f"(default: all of {','.join(workloads.names())})")
    p.add_argument("--repeats", type=int, default=None, metavar="N", help="timing repeats (median is reported)")
    p.add_argument("--clock", choices=sorted(cost.CLOCKS), default="process",
                   help="what a timing measures: process (default: CPU time of this process, which leaves out the "
                        "time other programs held the CPU, so a busy machine times like a quiet one) or wall "
                        "(elapsed time, what a user waits on an idle machine)")
    p.add_argument("--no-plots", action="store_true", help="write CSV and summary only")
    p.add_argument("--recalibrate", action="store_true",
                   help="measure again the machine's cost constants that mode='auto' uses (cached in the user "
                        "cache folder), print them and exit")
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
    if os.path.exists(out) and not os.path.isdir(out):
        raise CLIError(f"--out {out!r} is a file, not a folder; give a folder name (it is created if missing)")
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, ".compare-write-test")
        with open(probe, "w") as fh:
            fh.write("ok")
        os.remove(probe)
    except OSError as exc:
        raise CLIError(f"cannot write to output folder {out!r}: {exc.strerror or exc}") from None
    return os.path.normpath(out)


def peer_notice(found: dict[str, str | None]) -> str | None:
    """What ``--peers`` says on the console when some or all peers are not installed (None when all are).

    >>> peer_notice({"jax": None, "torch": "2.13.0"})
    'python -m compare: --peers: jax not installed; timing torch'
    """
    missing = [name for name, version in found.items() if version is None]
    if not missing:
        return None
    if len(missing) == len(found):
        return (f"{PROG}: --peers: none of {', '.join(found)} is installed here, so no peer is timed "
                "(pip install -e \".[peers]\" to add them)")
    present = [k for k in found if k not in missing]
    return f"{PROG}: --peers: {', '.join(missing)} not installed; timing {', '.join(present)}"


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


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the plan for parsed ``args`` under controlled conditions; returns the files written and the findings."""
    scale = args.scale or ("quick" if args.quick else "full")
    plan = PLANS[scale]
    repeats = args.repeats if args.repeats is not None else plan.repeats
    if repeats < 1:
        raise CLIError(f"--repeats must be >= 1, got {repeats}")
    if args.threads < 1:
        raise CLIError(f"--threads must be >= 1, got {args.threads}")
    chosen = _select_workloads(args.workloads)
    out = _check_out(args.out)
    if args.peers:
        conditions.prepare_peers(args.threads)  # before the availability check imports JAX
        notice = peer_notice(peers.available())
        if notice:
            print(notice, file=sys.stderr)
    t0 = time.perf_counter()
    with conditions.controlled(threads=args.threads) as cond, cost.using_clock(args.clock):
        cond.clock = args.clock
        results = _measure(args, plan, repeats, chosen, progress=_Progress(
            total=12 + (3 if args.peers else 0) + (0 if args.no_plots else 1)))
    results.update(scale=scale, plan=plan, repeats=repeats, conditions=cond, peers_requested=args.peers)
    if args.peers:
        cond.versions.update({k: v for k, v in conditions.versions(peers=True).items() if k not in cond.versions})
    fd = findings.findings(results)

    files = {"measurements": os.path.join(out, "measurements.csv"), "oracle": os.path.join(out, "oracle.csv"),
             "summary": os.path.join(out, "summary.md")}
    if not args.no_plots:
        results["progress"].step("plots")
        with cost.using_clock(args.clock):  # axis labels name the clock the times were taken with
            files.update(_plots(results, fd, out))
    results["progress"].step("CSV and summary.md")
    settings = cond.record()
    _write_csv(files["measurements"], [{**r, **settings} for r in results["rows"]])
    _write_csv(files["oracle"], results["oracle_rows"])
    seconds = time.perf_counter() - t0
    command = " ".join([PROG, *getattr(args, "argv", sys.argv[1:])])
    with open(files["summary"], "w") as fh:
        fh.write(report.markdown(fd, files, command, seconds))
    print(f"{PROG}: wrote {len(files)} files to {out}{os.sep} in {seconds:.1f} s; the verdict:", file=sys.stderr)
    for line in report.verdict_lines(fd):
        print(f"- {line}")
    return {"files": files, "findings": fd}


def _measure(args, plan: Plan, repeats: int, chosen: list[str], progress: _Progress) -> dict[str, Any]:
    """Every experiment of the plan; returns their rows by experiment (and all of them under ``rows``)."""
    common = {"repeats": repeats, "max_seconds": plan.max_seconds}
    res: dict[str, Any] = {"progress": progress}

    progress.step(f"gradient of the seed graph ({plan.nodes} nodes) vs p = {list(plan.params)}")
    res["p_rows"] = cost.sweep("seed_graph", "p", plan.params, {"n": plan.nodes},
                               ["forward-1", "forward-vec", "reverse-vec"], memory=False, experiment="gradient_vs_p",
                               progress=progress.detail, **common)
    progress.step(f"dense Jacobian vs n at m = {plan.dense_fixed}")
    res["n_rows"] = cost.sweep("dense", "n", plan.dense_sizes, {"m": plan.dense_fixed}, memory=False,
                               experiment="jacobian_vs_n", progress=progress.detail, **common)
    progress.step(f"dense Jacobian vs m at n = {plan.dense_fixed}")
    res["m_rows"] = cost.sweep("dense", "m", plan.dense_sizes, {"n": plan.dense_fixed}, memory=False,
                               experiment="jacobian_vs_m", progress=progress.detail, **common)

    progress.step(f"crossover grid over n, m in {list(plan.grid)}")
    grid_rows = []
    for n in plan.grid:
        progress.detail(f"n = {n}")
        for m in plan.grid:
            f, fargs = workloads.build("dense", n=n, m=m)
            grid_rows += cost.measure(f, fargs, memory=False, extra={"experiment": "crossover", "workload": "dense",
                                                                     "size_n": n, "size_m": m}, **common)
    res["grid_rows"] = grid_rows

    progress.step(f"memory of the chain gradient vs depth (p = {plan.chain_width})")
    res["mem_rows"] = cost.sweep("chain", "n", plan.depths, {"p": plan.chain_width},
                                 ["forward-1", "forward-vec", "reverse-vec"], timing=False,
                                 experiment="memory_vs_depth", progress=progress.detail, **common)

    progress.step(f"Hessian nestings vs n = {list(plan.hessian_sizes)} (budget {plan.hessian_budget:g} s each)")
    res["hess_rows"] = hessians.measure(plan.hessian_sizes, repeats=repeats, budget=plan.hessian_budget,
                                        max_seconds=plan.max_seconds, progress=progress.detail)
    progress.step(f"sparse Hessians, dense against coloured, local3 vs n = {list(plan.sparse_hessian_sizes)}")
    res["hess_rows"] += hessians.measure(plan.sparse_hessian_sizes, workload="local3", repeats=repeats,
                                         budget=plan.hessian_budget, max_seconds=plan.max_seconds,
                                         progress=progress.detail)

    progress.step(f"sparse Jacobians, dense against coloured, n = {list(plan.sparse_sizes)}"
                  f"{' (with sparsejac)' if args.peers else ''}")
    res["sparse_rows"] = sparse.sweep(list(sparse.SPARSE_WORKLOADS), plan.sparse_sizes, repeats=repeats,
                                      max_seconds=plan.max_seconds, max_entries=plan.sparse_max_entries,
                                      peers=args.peers, progress=progress.detail)

    progress.step("cheap-gradient constants")
    res["cheap"] = {}
    for name in ("seed_graph", "mlp", "chain"):
        f, fargs = workloads.build(name)
        res["cheap"][name] = cost.cheap_gradient(f, fargs, repeats=repeats)

    progress.step(f"every strategy on each workload at its default size: {', '.join(chosen)}")
    table_rows = []
    for name in chosen:
        w = workloads.get(name)
        sizes = {**w.defaults, **w.small} if plan.small_table else w.defaults
        f, fargs = w(**sizes)
        table_rows += cost.measure(f, fargs, extra={"experiment": "workload_table", "workload": name,
                                                    **{f"size_{k}": v for k, v in sizes.items()}}, **common)
    res["table_rows"] = table_rows

    progress.step(f"oracle check of both engines at small sizes: {', '.join(chosen)}")
    oracle_rows = []
    for name in chosen:
        w = workloads.get(name)
        f, fargs = w(**w.small)
        for engine_mode, err in oracle.check(f, *fargs).items():
            oracle_rows.append({"workload": name, "sizes": " ".join(f"{k}={v}" for k, v in w.small.items()),
                                "engine_mode": engine_mode, "max_rel_error": err, "ok": err < 1e-10})
    res["oracle_rows"] = oracle_rows

    res["peer_rows"], res["peer_notes"], res["peer_hess_rows"] = [], [], []
    if args.peers:
        progress.step("peers: JAX, PyTorch, HIPS autograd on the dense Jacobian grid")
        res["peer_rows"], res["peer_notes"] = peers.measure_dense(
            [(n, m) for n in plan.grid for m in plan.grid], repeats=repeats, progress=progress.detail,
            max_seconds=plan.max_seconds, threads=args.threads)
        progress.step("peers: Hessians of Rosenbrock")
        res["peer_hess_rows"], notes = peers.measure_hessians(
            plan.hessian_sizes, repeats=repeats, budget=plan.hessian_budget, progress=progress.detail,
            max_seconds=plan.max_seconds, threads=args.threads)
        res["peer_notes"] += [n for n in notes if n not in res["peer_notes"]]
        progress.step("peers: dense Hessians of local3")
        rows, notes = peers.measure_hessians(
            plan.sparse_hessian_sizes, repeats=repeats, budget=plan.hessian_budget, progress=progress.detail,
            max_seconds=plan.max_seconds, threads=args.threads, workload="local3")
        res["peer_hess_rows"] += rows
        res["peer_notes"] += [n for n in notes if n not in res["peer_notes"]]
    res["rows"] = [*res["p_rows"], *res["n_rows"], *res["m_rows"], *grid_rows, *res["mem_rows"], *res["hess_rows"],
                   *table_rows, *res["peer_rows"], *res["peer_hess_rows"], *res["sparse_rows"]]
    return res


def _plots(results: dict[str, Any], fd: dict[str, Any], out: str) -> dict[str, str]:
    from . import plots
    from .sparse_plots import sparse_vs_n

    plan = results["plan"]
    return {
        "cost_vs_p": plots.cost_vs_p(results["p_rows"], os.path.join(out, "cost_vs_p.png"), plan.nodes),
        "jacobian_vs_n_m": plots.jacobian_vs_size(results["n_rows"], results["m_rows"],
                                                  os.path.join(out, "jacobian_vs_n_m.png"), plan.dense_fixed,
                                                  plan.dense_fixed),
        "crossover": plots.crossover_map(results["grid_rows"], os.path.join(out, "crossover.png"),
                                         results["peer_rows"]),
        "vectorized": plots.vectorized_vs_loop(results["n_rows"], results["m_rows"],
                                               os.path.join(out, "vectorized_vs_loop.png")),
        "memory": plots.memory_vs_depth(results["mem_rows"], os.path.join(out, "memory_vs_depth.png"),
                                        plan.chain_width),
        "hessians": plots.hessians_vs_n(results["hess_rows"], os.path.join(out, "hessians.png"),
                                        results["peer_hess_rows"]),
        "sparse_hessians": plots.hessians_vs_n(results["hess_rows"], os.path.join(out, "sparse_hessians.png"),
                                               results["peer_hess_rows"], workload="local3"),
        "sparse": sparse_vs_n(results["sparse_rows"], os.path.join(out, "sparse_vs_n.png")),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m compare``; returns the exit status (0 ok, 1 failure, 2 usage error).

    >>> main(["--definitely-not-an-option"])
    2
    """
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(argv)
        args.argv = argv
        if args.recalibrate:
            from .calibration import cache_path, calibrate

            print(f"{calibrate(force=True).describe()}; cached in {cache_path()}")
            return 0
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
