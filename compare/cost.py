"""Cost accounting: what a full Jacobian (or gradient) costs under each differentiation strategy.

For a function and a point, every strategy is measured four ways: exact primitive evaluations and flops from
``adops.count_ops`` (split into primal, JVP and VJP work), wall time (median, min and max of repeats after a
warm-up, with counting off), and peak memory (``tracemalloc``). ``sweep`` repeats that over one size of a workload and
``fit_slope`` fits the log-log growth the theory predicts.

>>> from compare import cost, workloads
>>> f, args = workloads.build("dense", n=6, m=2)
>>> row = cost.count(f, args, "reverse-1")
>>> row["passes"], row["ops_jvp"]
(2, 0)
"""

from __future__ import annotations

import contextlib
import gc
import math
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

import adops
import dualad
import revad

from .workloads import dims, get

__all__ = ["Strategy", "STRATEGIES", "jacobian_fn", "count", "time_call", "time_stats", "peak_memory", "f_cost",
           "measure", "CLOCKS", "using_clock", "clock_name",
           "sweep", "fit_slope", "slopes", "cheap_gradient", "PHASES"]

PHASES = ("primal", "jvp", "vjp")

# what time_stats measures: "wall" (time.perf_counter) is what a user waits; "process" (time.process_time, CPU
# time of all the process's threads) leaves out the time other processes held the CPU, so on a busy machine
# a 5-ms call is not timed at 5 ms one repeat and 15 ms the next
CLOCKS = {"wall": time.perf_counter, "process": time.process_time}
_clock = {"name": "wall"}


@contextlib.contextmanager
def using_clock(name: str):
    """Time with clock ``name`` ("wall" or "process") inside the block.

    >>> with using_clock("process"):
    ...     clock_name()
    'process'
    """
    if name not in CLOCKS:
        raise ValueError(f"compare.cost.using_clock: clock must be one of {', '.join(CLOCKS)}, got {name!r}")
    previous = _clock["name"]
    _clock["name"] = name
    try:
        yield
    finally:
        _clock["name"] = previous


def clock_name() -> str:
    """The clock ``time_stats`` uses now: "wall" unless inside ``using_clock``."""
    return _clock["name"]


@dataclass(frozen=True)
class Strategy:
    """One way to get a full Jacobian: a mode and how many directions each pass carries (None = all)."""

    name: str
    mode: str  # "forward" or "reverse"
    chunk_size: int | None
    label: str

    @property
    def vectorized(self) -> bool:
        return self.chunk_size is None

    def passes(self, n: int, m: int) -> int:
        """Forward passes (ceil(n/chunk)) or reverse sweeps (ceil(m/chunk)) for an R^n -> R^m Jacobian."""
        k = n if self.mode == "forward" else m
        return 1 if self.chunk_size is None else max(1, math.ceil(k / self.chunk_size))


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("forward-1", "forward", 1, "forward, one tangent per pass"),
        Strategy("forward-vec", "forward", None, "forward, all tangents in one pass"),
        Strategy("reverse-1", "reverse", 1, "reverse, one cotangent per sweep"),
        Strategy("reverse-vec", "reverse", None, "reverse, all cotangents in one sweep"),
    )
}


def _strategy(s: str | Strategy) -> Strategy:
    if isinstance(s, Strategy):
        return s
    try:
        return STRATEGIES[s]
    except KeyError:
        raise KeyError(f"unknown strategy {s!r}; known: {', '.join(STRATEGIES)}") from None


def jacobian_fn(f: Callable, strategy: str | Strategy, argnums: int | tuple = 0) -> Callable:
    """The Jacobian function of ``f`` under ``strategy`` (``dualad.jacfwd`` or ``revad.jacrev``).

    Examples
    --------
    >>> jacobian_fn(np.sin, "forward-1")(np.array([0.0]))
    array([[1.]])
    """
    s = _strategy(strategy)
    engine = dualad.jacfwd if s.mode == "forward" else revad.jacrev
    return engine(f, argnums, chunk_size=s.chunk_size)


def count(f: Callable, args: tuple, strategy: str | Strategy, argnums: int | tuple = 0) -> dict[str, Any]:
    """Exact primitive evaluations and flops of one full Jacobian of ``f`` at ``args`` under ``strategy``.

    Returns a dict with ``ops_<phase>``/``flops_<phase>`` for the phases primal, jvp and vjp, their totals
    ``ops``/``flops``, the number of ``passes`` (forward passes or reverse sweeps) and the Jacobian's size
    ``n_in`` (inputs) by ``m_out`` (outputs).

    Examples
    --------
    >>> row = count(lambda x: np.sum(x * x), (np.ones(3),), "forward-1")
    >>> row["passes"], row["ops_primal"]
    (3, 6)
    """
    s = _strategy(strategy)
    n, m = dims(f, args)
    jac = jacobian_fn(f, s, argnums)
    with adops.count_ops() as counts:
        jac(*args)
    row: dict[str, Any] = {"engine": "fwdrev", "strategy": s.name, "mode": s.mode, "vectorized": s.vectorized,
                           "n_in": n, "m_out": m,
                           "passes": s.passes(n, m)}
    phases = counts.by_phase()
    for phase in PHASES:
        row[f"ops_{phase}"] = phases[phase]["ops"]
        row[f"flops_{phase}"] = phases[phase]["flops"]
    row["ops"] = sum(row[f"ops_{p}"] for p in PHASES)
    row["flops"] = sum(row[f"flops_{p}"] for p in PHASES)
    return row


def time_stats(fn: Callable, *args: Any, repeats: int = 5, warmup: int = 1, max_seconds: float = 5.0,
               min_total: float = 0.02) -> dict[str, float]:
    """Time of ``fn(*args)`` over ``repeats`` calls after ``warmup`` calls: median, min and max in seconds.

    The clock is the wall clock unless a ``using_clock`` block says otherwise.

    Slow calls get fewer repeats: about ``max_seconds`` is spent in all (at least one timed call). Fast calls
    get more, up to 20 x ``repeats``, until about ``min_total`` seconds are timed: a median of a few 50-us calls
    on a shared machine is one scheduler hiccup away from a false result. The garbage collector is off while
    timing, so a collection triggered by earlier work does not land in one repeat.

    Examples
    --------
    >>> t = time_stats(np.sin, np.ones(3), repeats=3, min_total=0)
    >>> t["time_min_s"] <= t["time_s"] <= t["time_max_s"], t["time_repeats"]
    (True, 3)
    """
    clock = CLOCKS[_clock["name"]]
    first = None
    for _ in range(max(warmup, 0)):
        start = clock()
        fn(*args)
        first = clock() - start
    if first is not None and first > 0:
        wanted = max(repeats, min(20 * repeats, int(min_total / first)))
        repeats = max(1, min(wanted, int(max_seconds / first)))
    samples = []
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        for _ in range(max(repeats, 1)):
            start = clock()
            fn(*args)
            samples.append(clock() - start)
    finally:
        if gc_was_on:
            gc.enable()
    return {"time_s": float(statistics.median(samples)), "time_min_s": float(min(samples)),
            "time_max_s": float(max(samples)), "time_repeats": len(samples)}


def time_call(fn: Callable, *args: Any, repeats: int = 5, warmup: int = 1, max_seconds: float = 5.0) -> float:
    """Median wall time in seconds of ``fn(*args)``: ``time_stats`` without the spread.

    Examples
    --------
    >>> time_call(np.sin, np.ones(3), repeats=3) < 1.0
    True
    """
    return time_stats(fn, *args, repeats=repeats, warmup=warmup, max_seconds=max_seconds)["time_s"]


def peak_memory(fn: Callable, *args: Any) -> int:
    """Peak bytes allocated (``tracemalloc``) while ``fn(*args)`` runs, above what was held before it.

    Examples
    --------
    >>> peak_memory(np.ones, 10_000) >= 80_000
    True
    """
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        fn(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return int(max(peak - base, 0))


def f_cost(f: Callable, args: tuple, repeats: int = 5) -> dict[str, Any]:
    """The cost of ``f`` itself: its primitives and flops (one recorded evaluation), and its plain-NumPy time.

    Examples
    --------
    >>> f_cost(lambda x: np.sum(np.sin(x)), (np.ones(4),))["f_flops"]   # 4 sines at 10 flops each, 4 for the sum
    44
    """
    with adops.count_ops() as counts:
        revad.trace(f, *args)
    return {"f_ops": counts.total("primal", "evals"), "f_flops": counts.total("primal", "flops"),
            "f_time_s": time_call(f, *args, repeats=max(repeats, 5), max_seconds=1.0)}


def measure(f: Callable, args: tuple, strategies: Iterable[str] = tuple(STRATEGIES), *, repeats: int = 5,
            timing: bool = True, memory: bool = True, max_seconds: float = 5.0,
            extra: dict | None = None) -> list[dict[str, Any]]:
    """One row per strategy: op counts and flops by phase, median time and peak memory of a full Jacobian.

    ``extra`` entries (workload name, sizes, ...) are copied into every row; ``f``'s own cost (``f_ops``,
    ``f_flops``, ``f_time_s``) is added too, so ratios to ``f`` can be read off each row.

    Examples
    --------
    >>> rows = measure(lambda x: np.sum(x * x), (np.ones(3),), ["reverse-vec"], repeats=1)
    >>> rows[0]["strategy"], rows[0]["flops_primal"] > 0, rows[0]["time_s"] > 0
    ('reverse-vec', True, True)
    """
    base = f_cost(f, args, repeats) if timing else f_cost_counts_only(f, args)
    rows = []
    for name in strategies:
        s = _strategy(name)
        row = {**(extra or {}), **count(f, args, s), **base}
        jac = jacobian_fn(f, s)
        if timing:
            row.update(time_stats(jac, *args, repeats=repeats, max_seconds=max_seconds))
        else:
            row.update(time_s=float("nan"), time_min_s=float("nan"), time_max_s=float("nan"), time_repeats=0)
        row["peak_bytes"] = peak_memory(jac, *args) if memory else -1
        rows.append(row)
    return rows


def f_cost_counts_only(f: Callable, args: tuple) -> dict[str, Any]:
    """``f_cost`` without the timing (``f_time_s`` is NaN).

    >>> f_cost_counts_only(lambda x: x * 2, (np.ones(2),))["f_ops"]
    1
    """
    with adops.count_ops() as counts:
        revad.trace(f, *args)
    return {"f_ops": counts.total("primal", "evals"), "f_flops": counts.total("primal", "flops"),
            "f_time_s": float("nan")}


def sweep(workload: str, vary: str, values: Iterable[int], fixed: dict | None = None,
          strategies: Iterable[str] = tuple(STRATEGIES), *, repeats: int = 5, timing: bool = True,
          memory: bool = True, max_seconds: float = 5.0, experiment: str = "",
          progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """``measure`` a workload at each value of one size, the other sizes held at ``fixed``.

    Every row carries ``experiment``, ``workload``, the sizes, and ``x`` (the varied size's value).

    Examples
    --------
    >>> rows = sweep("chain", "p", [2, 4], {"n": 3}, ["reverse-vec"], timing=False, memory=False)
    >>> [r["size_p"] for r in rows], [r["n_in"] for r in rows]
    ([2, 4], [2, 4])
    """
    w = get(workload)
    strategies = list(strategies)
    rows = []
    for v in values:
        sizes = {**(fixed or {}), vary: v}
        f, args = w(**sizes)
        if progress is not None:
            progress(f"{workload} {vary}={v}")
        extra = {"experiment": experiment or f"{workload}_vs_{vary}", "workload": workload, "vary": vary, "x": v,
                 **{f"size_{k}": val for k, val in sizes.items()}}
        rows.extend(measure(f, args, strategies, repeats=repeats, timing=timing, memory=memory,
                            max_seconds=max_seconds, extra=extra))
    return rows


def fit_slope(x: Iterable[float], y: Iterable[float]) -> float:
    """Least-squares slope of log(y) against log(x): the exponent k in y ~ x^k.

    Examples
    --------
    >>> round(fit_slope([1, 2, 4, 8], [3, 6, 12, 24]), 6)
    1.0
    """
    x = np.asarray(list(x), dtype=float)
    y = np.asarray(list(y), dtype=float)
    keep = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


def slopes(rows: Iterable[dict], metric: str = "flops", x: str = "x") -> dict[str, float]:
    """Fitted log-log slope of ``metric`` against ``x`` for each strategy (and engine) in ``rows``.

    Examples
    --------
    >>> rows = [{"strategy": "forward-1", "x": p, "flops": 10 * p} for p in (2, 4, 8)]
    >>> round(slopes(rows)["forward-1"], 6)
    1.0
    """
    groups: dict[str, list] = {}
    for r in rows:
        key = r["strategy"] if r.get("engine", "fwdrev") == "fwdrev" else f"{r['engine']} {r['strategy']}"
        groups.setdefault(key, []).append((r[x], r[metric]))
    return {k: fit_slope([a for a, _ in v], [b for _, b in v]) for k, v in groups.items()}


def cheap_gradient(f: Callable, args: tuple, repeats: int = 5) -> dict[str, float]:
    """The cheap-gradient constant of a scalar ``f``: cost of value-and-gradient by one reverse sweep over the
    cost of ``f`` alone.

    Returns ratios in ``flops`` and ``ops`` (exact counts: (primal + VJP) / primal), ``time_vs_numpy`` (the
    gradient's time over plain NumPy ``f``) and ``time_vs_recording`` (over recording ``f`` on a tape, the
    same engine's forward cost).

    Examples
    --------
    >>> c = cheap_gradient(lambda x: np.sum(np.tanh(x) ** 2), (np.ones(5),), repeats=1)
    >>> 1.0 < c["flops"] < 5.0
    True
    """
    with adops.count_ops() as counts:
        revad.value_and_grad(f)(*args)
    primal_flops = counts.total("primal", "flops")
    primal_ops = counts.total("primal", "evals")
    t_grad = time_call(revad.value_and_grad(f), *args, repeats=repeats)
    t_plain = time_call(f, *args, repeats=max(repeats, 5))
    t_record = time_call(revad.trace, f, *args, repeats=repeats)
    return {
        "flops": (primal_flops + counts.total("vjp", "flops")) / max(primal_flops, 1),
        "ops": (primal_ops + counts.total("vjp", "evals")) / max(primal_ops, 1),
        "time_vs_numpy": t_grad / t_plain,
        "time_vs_recording": t_grad / t_record,
    }
