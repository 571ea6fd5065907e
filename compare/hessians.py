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

Each nesting also runs *coloured* (``...-colored``): given the Hessian's sparsity pattern and a star colouring
of it (``adops.sparse.SparseHessian``, detected once and reused), its outer pass carries one direction per colour
instead of one per variable, and the result is ``scipy.sparse`` CSR. A tridiagonal Hessian (Rosenbrock) needs 3
colours at every n, so forward-over-reverse and reverse-over-reverse need 3 Hessian-vector products instead of n;
forward-over-forward and reverse-over-forward still carry the inner gradient's n directions (n x colours).
Detection and colouring are timed separately (``detect_s``, ``color_s``): a Newton loop pays them once.

``measure`` runs them at growing n with a time budget per strategy and size: a strategy whose next size is
predicted to exceed its budget is skipped there (and at every larger size) and the row says so; a dense Hessian
larger than ``DENSE_MAX_BYTES`` is not attempted.

>>> from compare import hessians
>>> list(hessians.DENSE)
['forward-over-forward', 'forward-over-reverse', 'reverse-over-forward', 'reverse-over-reverse']
>>> hessians.STRATEGIES["forward-over-reverse-colored"].short
'fwd-over-rev coloured'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

import adops
import dualad
import revad
from adops.sparse import SparseHessian, color_star, hessian_sparsity

from .cost import PHASES, peak_memory, time_stats
from .workloads import get

__all__ = ["HessianStrategy", "STRATEGIES", "DENSE", "COLORED", "DENSE_MAX_BYTES", "hessian_fn", "count", "measure"]

COLORED_SUFFIX = "-colored"
DENSE_MAX_BYTES = 2 ** 24  # dense Hessians (ours and the peers') beyond 16 MiB are not attempted: n > 1448


@dataclass(frozen=True)
class HessianStrategy:
    """One nesting, dense or coloured: its name, the call that builds it, and the growth of its cost in n (times
    the cost of f).

    ``make(f)`` builds a dense nesting; ``make(f, sparsity)`` a coloured one, where ``sparsity`` is what the
    engines take (``"auto"``, a ``SparseHessian``, ...).
    """

    name: str
    call: str  # what a user writes
    make: Callable[..., Callable]
    order: int  # number of directions ~ n^order: 1 for n Hessian-vector products, 2 for n^2 directions
    colored: bool = False

    @property
    def nesting(self) -> str:
        """The nesting without the colouring: 'forward-over-reverse' for 'forward-over-reverse-colored'."""
        return self.name.removesuffix(COLORED_SUFFIX)

    @property
    def short(self) -> str:
        """'fwd-over-rev' (or 'fwd-over-rev coloured') and so on, for plot legends and tables."""
        outer, inner = self.nesting.split("-over-")
        return f"{_SHORT[outer]}-over-{_SHORT[inner]}" + (" coloured" if self.colored else "")

    def build(self, f: Callable, sparsity: Any = "auto") -> Callable:
        """The Hessian function of ``f``; a coloured nesting uses ``sparsity`` ("auto": detect at every call)."""
        return self.make(f, sparsity) if self.colored else self.make(f)


_SHORT = {"forward": "fwd", "reverse": "rev"}


STRATEGIES: dict[str, HessianStrategy] = {
    s.name: s
    for s in (
        HessianStrategy("forward-over-forward", "dualad.hessian(f)", lambda f: dualad.hessian(f), 2),
        HessianStrategy("forward-over-reverse", "dualad.jacfwd(revad.grad(f))",
                        lambda f: dualad.jacfwd(revad.grad(f)), 1),
        HessianStrategy("reverse-over-forward", "revad.jacrev(dualad.grad(f))",
                        lambda f: revad.jacrev(dualad.grad(f)), 2),
        HessianStrategy("reverse-over-reverse", "revad.hessian(f)", lambda f: revad.hessian(f), 1),
        # coloured: the outer pass carries one direction per colour; an inner forward gradient still carries n
        HessianStrategy("forward-over-forward-colored", "dualad.hessian(f, sparsity=sh)",
                        lambda f, sh: dualad.hessian(f, sparsity=sh), 1, True),
        HessianStrategy("forward-over-reverse-colored", "dualad.jacfwd(revad.grad(f), sparsity=sh)",
                        lambda f, sh: dualad.jacfwd(revad.grad(f), sparsity=sh), 0, True),
        HessianStrategy("reverse-over-forward-colored", "revad.jacrev(dualad.grad(f), sparsity=sh)",
                        lambda f, sh: revad.jacrev(dualad.grad(f), sparsity=sh), 1, True),
        HessianStrategy("reverse-over-reverse-colored", "revad.hessian(f, sparsity=sh)",
                        lambda f, sh: revad.hessian(f, sparsity=sh), 0, True),
    )
}
DENSE = tuple(name for name, s in STRATEGIES.items() if not s.colored)
COLORED = tuple(name for name, s in STRATEGIES.items() if s.colored)


def _strategy(name: str) -> HessianStrategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise KeyError(f"unknown Hessian strategy {name!r}; known: {', '.join(STRATEGIES)}") from None


def hessian_fn(f: Callable, strategy: str, sparsity: Any = "auto") -> Callable:
    """The Hessian function of a scalar ``f`` under one nesting: a dense ndarray, or for a coloured nesting
    ``scipy.sparse`` CSR (``sparsity``: a precomputed ``SparseHessian``, or "auto" to detect at every call).

    Examples
    --------
    >>> hessian_fn(lambda x: np.sum(x ** 3), "forward-over-reverse")(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    >>> hessian_fn(lambda x: np.sum(x ** 3), "reverse-over-reverse-colored")(np.array([1.0, 2.0])).toarray()
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return _strategy(strategy).build(f, sparsity)


def count(f: Callable, x: np.ndarray, strategy: str, sparsity: Any = None) -> dict[str, Any]:
    """Exact primitive evaluations and flops, by phase, of one full Hessian of ``f`` at ``x`` under ``strategy``.

    A coloured strategy counts the evaluation with a precomputed colouring: ``sparsity`` (a ``SparseHessian``),
    detected here, uncounted, when not given.

    Examples
    --------
    >>> row = count(lambda x: np.sum(x * x), np.ones(3), "reverse-over-reverse")
    >>> row["ops_primal"] > 0, row["flops"] >= row["flops_primal"]
    (True, True)
    """
    s = _strategy(strategy)
    if s.colored and sparsity is None:
        sparsity = SparseHessian.detect(f, x)
        sparsity.coloring()
    hess = s.build(f, sparsity)
    with adops.count_ops() as counts:
        hess(x)
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


def _agree(a: Any, b: Any) -> bool:
    """Two Hessians, dense or CSR, equal to rounding."""
    if sp.issparse(a) or sp.issparse(b):
        if not sp.issparse(a) or not sp.issparse(b):
            a, b = (m.toarray() if sp.issparse(m) else m for m in (a, b))
        else:
            scale = max(abs(a).max(), abs(b).max(), 1.0)
            return a.shape == b.shape and (abs(a - b).max() if (a - b).nnz else 0.0) <= 1e-9 * scale
    return bool(np.allclose(a, b, rtol=1e-9, atol=1e-9))


def _pattern_row(f: Callable, x: np.ndarray, repeats: int, max_seconds: float) -> tuple[SparseHessian, dict]:
    """The precomputed ``SparseHessian`` the coloured nestings share, and what finding it cost."""
    pattern = hessian_sparsity(f, x)
    detect = time_stats(hessian_sparsity, f, x, repeats=repeats, max_seconds=max_seconds)
    color = time_stats(color_star, pattern, repeats=repeats, max_seconds=max_seconds)
    sh = SparseHessian.detect(f, x)
    star = sh.coloring()
    return sh, {"nnz": int(sh.pattern.nnz), "ncolors": int(star.ncolors), "lower_bound": int(star.lower_bound),
                "detect_s": detect["time_s"], "color_s": color["time_s"]}


def measure(sizes: Iterable[int], strategies: Iterable[str] = tuple(STRATEGIES), *, workload: str = "rosenbrock",
            repeats: int = 3, budget: float = 2.0, memory: bool = True, max_seconds: float = 2.0,
            progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Rows of counts, time (median, min, max) and peak memory per strategy at each size ``n`` of ``workload``.

    ``budget`` is the most seconds one Hessian may take: once a strategy's time at the next size is predicted
    (from its last time along its theory's growth) to exceed it, that size and all larger ones get a row
    with ``skipped`` set and no numbers; so does a dense strategy whose result would exceed ``DENSE_MAX_BYTES``.
    Counting and memory are measured only where the timing ran, as they cost more than a timed call. Coloured
    strategies share one precomputed ``SparseHessian`` per size; their rows also hold the pattern's ``nnz``, its
    ``ncolors`` (and ``lower_bound``), and the time to detect it (``detect_s``) and to colour it (``color_s``).
    Every result is checked against the others at the same size.

    Examples
    --------
    >>> rows = measure([4, 8], ["forward-over-reverse", "reverse-over-reverse-colored"], repeats=1, memory=False)
    >>> [(r["x"], r["strategy"], r.get("ncolors")) for r in rows]
    [(4, 'forward-over-reverse', None), (4, 'reverse-over-reverse-colored', 3), \
(8, 'forward-over-reverse', None), (8, 'reverse-over-reverse-colored', 3)]
    """
    w = get(workload)
    rows: list[dict[str, Any]] = []
    history: dict[str, list[tuple[int, float]]] = {s: [] for s in strategies}
    stopped: dict[str, str] = {}
    for n in sizes:
        f, (x,) = w(n=n)
        exact = None
        pattern = None  # (SparseHessian, its row fields), found once per size when a coloured strategy runs
        for name in history:
            s = _strategy(name)
            base = {"experiment": "hessian_vs_n", "workload": workload, "engine": "fwdrev", "strategy": name,
                    "call": s.call, "x": n, "n_in": n, "size_n": n}
            guess = _predicted(history[name], n, s.order)
            if name not in stopped and guess > budget:
                stopped[name] = (f"skipped: predicted {guess:.3g} s > budget {budget:g} s "
                                 f"(from n = {history[name][-1][0]})")
            if name not in stopped and not s.colored and 8 * n * n > DENSE_MAX_BYTES:
                stopped[name] = f"skipped: a dense {n} x {n} Hessian takes {8 * n * n / 2 ** 20:.3g} MiB"
            if name in stopped:
                rows.append({**base, "skipped": stopped[name]})
                continue
            extra: dict[str, Any] = {}
            sh = None
            if s.colored:
                if pattern is None:
                    if progress is not None:
                        progress(f"Hessian pattern and star colouring n={n}")
                    pattern = _pattern_row(f, x, repeats, max_seconds)
                sh, extra = pattern
            if progress is not None:
                progress(f"Hessian {s.short} n={n}")
            hess = s.build(f, sh)
            H = hess(x)  # also the warm-up call
            if exact is None:
                exact = H
            elif not _agree(H, exact):  # every nesting, dense or coloured, must agree
                raise RuntimeError(f"compare.hessians: {name} disagrees with the other strategies at n = {n}")
            timing = time_stats(hess, x, repeats=repeats, warmup=0, max_seconds=max_seconds)
            history[name].append((n, timing["time_s"]))
            row = {**base, **count(f, x, name, sh), **timing, **extra, "skipped": ""}
            row["peak_bytes"] = peak_memory(hess, x) if memory else -1
            rows.append(row)
    return rows
