"""The four ways to get a Hessian by nesting the two modes, measured: exact counts, time and memory against n.

A Hessian is the Jacobian of the gradient, so each of its two derivatives can be taken forward or in reverse:

- forward-over-forward ``dualad.hessian(f)``: the inner gradient carries n tangents, the outer pass another n
  (chunked): about n^2 second-order directions, each about one f.
- forward-over-reverse ``dualad.jacfwd(revad.grad(f))``: n tangents pushed through one gradient evaluation —
  n Hessian-vector products, each a small constant times f. The usual best choice.
- reverse-over-forward ``revad.jacrev(dualad.grad(f))``: a tape of a forward-mode gradient that itself carries
  n tangents, swept by n cotangents: about n^2 f, and the tape holds n copies of every value.
- reverse-over-reverse ``revad.hessian(f)``: a tape of the reverse sweep, swept n times: n products like
  forward-over-reverse, plus a second tape to record and keep.

``measure`` runs them at growing n with a time budget per strategy and size: a strategy whose next size is
predicted to exceed its budget is skipped there (and at every larger size) and the row says so.

>>> from compare import hessians
>>> list(hessians.STRATEGIES)
['forward-over-forward', 'forward-over-reverse', 'reverse-over-forward', 'reverse-over-reverse']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

import adops
import dualad
import revad

from .cost import PHASES, peak_memory, time_stats
from .workloads import get

__all__ = ["HessianStrategy", "STRATEGIES", "hessian_fn", "count", "measure"]


@dataclass(frozen=True)
class HessianStrategy:
    """One nesting: its name, the call that builds it, and the growth of its cost in n (times the cost of f)."""

    name: str
    call: str  # what a user writes
    build: Callable[[Callable], Callable]
    order: int  # cost ~ n^order x cost(f): 1 for n Hessian-vector products, 2 for n^2 directions

    @property
    def short(self) -> str:
        """'fwd-over-rev' and so on, for plot legends and tables."""
        outer, inner = self.name.split("-over-")
        return f"{_SHORT[outer]}-over-{_SHORT[inner]}"


_SHORT = {"forward": "fwd", "reverse": "rev"}


STRATEGIES: dict[str, HessianStrategy] = {
    s.name: s
    for s in (
        HessianStrategy("forward-over-forward", "dualad.hessian(f)", dualad.hessian, 2),
        HessianStrategy("forward-over-reverse", "dualad.jacfwd(revad.grad(f))",
                        lambda f: dualad.jacfwd(revad.grad(f)), 1),
        HessianStrategy("reverse-over-forward", "revad.jacrev(dualad.grad(f))",
                        lambda f: revad.jacrev(dualad.grad(f)), 2),
        HessianStrategy("reverse-over-reverse", "revad.hessian(f)", revad.hessian, 1),
    )
}


def _strategy(name: str) -> HessianStrategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise KeyError(f"unknown Hessian strategy {name!r}; known: {', '.join(STRATEGIES)}") from None


def hessian_fn(f: Callable, strategy: str) -> Callable:
    """The Hessian function of a scalar ``f`` under one nesting.

    Examples
    --------
    >>> hessian_fn(lambda x: np.sum(x ** 3), "forward-over-reverse")(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return _strategy(strategy).build(f)


def count(f: Callable, x: np.ndarray, strategy: str) -> dict[str, Any]:
    """Exact primitive evaluations and flops, by phase, of one full Hessian of ``f`` at ``x`` under ``strategy``.

    Examples
    --------
    >>> row = count(lambda x: np.sum(x * x), np.ones(3), "reverse-over-reverse")
    >>> row["ops_primal"] > 0, row["flops"] >= row["flops_primal"]
    (True, True)
    """
    s = _strategy(strategy)
    with adops.count_ops() as counts:
        s.build(f)(x)
    row: dict[str, Any] = {"engine": "fwdrev", "strategy": s.name, "call": s.call, "n_in": int(np.size(x))}
    for phase, v in counts.by_phase().items():
        row[f"ops_{phase}"], row[f"flops_{phase}"] = v["ops"], v["flops"]
    row["ops"] = sum(row[f"ops_{p}"] for p in PHASES)
    row["flops"] = sum(row[f"flops_{p}"] for p in PHASES)
    return row


def _predicted(history: list[tuple[int, float]], n: int, order: int) -> float:
    """Time at size n extrapolated from the strategy's last measured size along its theory's growth.

    The theory (n^order directions, each costing about one f, which grows like n) bounds the growth from above
    once overheads stop dominating; a slope fitted to two noisy timings on a loaded machine can be anything.
    """
    if not history:
        return 0.0
    last_n, last_t = history[-1]
    return last_t * (n / last_n) ** (order + 1)


def measure(sizes: Iterable[int], strategies: Iterable[str] = tuple(STRATEGIES), *, workload: str = "rosenbrock",
            repeats: int = 3, budget: float = 2.0, memory: bool = True, max_seconds: float = 2.0,
            progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Rows of counts, time (median, min, max) and peak memory per strategy at each size ``n`` of ``workload``.

    ``budget`` is the most seconds one Hessian may take: once a strategy's time at the next size is predicted
    (from its last time along its theory's growth) to exceed it, that size and all larger ones get a row
    with ``skipped`` set and no numbers. Counting and memory are measured only where the timing ran, as they
    cost more than a timed call.

    Examples
    --------
    >>> rows = measure([4, 8], ["forward-over-reverse"], repeats=1, memory=False)
    >>> [(r["x"], r["skipped"]) for r in rows]
    [(4, ''), (8, '')]
    """
    w = get(workload)
    rows: list[dict[str, Any]] = []
    history: dict[str, list[tuple[int, float]]] = {s: [] for s in strategies}
    stopped: dict[str, str] = {}
    for n in sizes:
        f, (x,) = w(n=n)
        exact = None
        for name in history:
            s = _strategy(name)
            base = {"experiment": "hessian_vs_n", "workload": workload, "engine": "fwdrev", "strategy": name,
                    "call": s.call, "x": n, "n_in": n, "size_n": n}
            guess = _predicted(history[name], n, s.order)
            if name not in stopped and guess > budget:
                stopped[name] = (f"skipped: predicted {guess:.3g} s > budget {budget:g} s "
                                 f"(from n = {history[name][-1][0]})")
            if name in stopped:
                rows.append({**base, "skipped": stopped[name]})
                continue
            if progress is not None:
                progress(f"Hessian {s.short} n={n}")
            hess = s.build(f)
            H = hess(x)  # also the warm-up call
            if exact is None:
                exact = H
            elif not np.allclose(H, exact, rtol=1e-9, atol=1e-9):  # all four nestings must agree
                raise RuntimeError(f"compare.hessians: {name} disagrees with the other nestings at n = {n}")
            timing = time_stats(hess, x, repeats=repeats, warmup=0, max_seconds=max_seconds)
            history[name].append((n, timing["time_s"]))
            row = {**base, **count(f, x, name), **timing, "skipped": ""}
            row["peak_bytes"] = peak_memory(hess, x) if memory else -1
            rows.append(row)
    return rows
