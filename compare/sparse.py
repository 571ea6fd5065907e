"""The comparison's sparse axis: Jacobians with few nonzeros per row and column, dense against coloured.

Dense forward mode costs one direction per input and dense reverse mode one per output, so for a discretized PDE
both grow like n. With the pattern known, forward mode needs one direction per colour of the columns and reverse
mode one per colour of the rows (``adops.sparse``): a few, whatever n is. The workloads (``SPARSE_WORKLOADS``) are
the 1-D and 2-D Bratu residuals ``u_xx (+ u_yy) + lambda exp(u)`` (second differences, zero Dirichlet boundary), a
banded map and an arrowhead map (one dense row and one dense column, which defeats both one-sided colourings and
needs ``bidirectional_jacobian``). Each takes and returns a flat vector and is written once for any NumPy-like
module (``xp``), so SciPy's grouped finite differences and ``sparsejac`` (JAX) run the very same function.

``measure`` gives, per workload and n, exact op and flop counts (``adops.count_ops``) and time for every
``STRATEGIES`` entry: dense forward and reverse, coloured forward and reverse with the colouring computed
beforehand, bidirectional, detection plus colouring, SciPy's ``approx_derivative`` with the pattern and its column
groups, and ``sparsejac``'s forward and reverse Jacobians (jitted, with the pattern supplied) where installed. A
strategy whose passes would carry more than ``max_entries`` numbers is skipped at that size, with the reason in
the row. ``explain(f, x)`` says, for one function, whether colouring would help.

>>> import numpy as np
>>> f, x = build("bratu1d", 6)
>>> J = bidirectional_jacobian(f)(x)
>>> J.shape, J.nnz
((6, 6), 16)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

import adops
import dualad
import revad
from adops.sparse import (
    BidirectionalColoring,
    Coloring,
    SparseJacobian,
    as_pattern,
    color_bidirectional,
    color_columns,
    jacobian_sparsity,
)

from .cost import time_stats

__all__ = ["SparseWorkload", "SPARSE_WORKLOADS", "STRATEGIES", "build", "bidirectional_jacobian", "colorings",
           "measure", "sweep", "explain", "bratu1d", "bratu2d", "banded", "arrowhead"]

LAMBDA = 1.0  # Bratu's parameter, below the fold (about 3.51 on the unit interval, 6.81 on the unit square)


def bratu1d(u, lam: float = LAMBDA, xp=np):
    """``u'' + lambda exp(u)`` on (0, 1) with u = 0 at both ends, second differences on n interior points.

    >>> bratu1d(np.zeros(3)).tolist()   # u = 0: only lambda exp(0) is left
    [1.0, 1.0, 1.0]
    """
    h2 = (u.shape[0] + 1.0) ** 2
    U = xp.pad(u, 1)
    return (U[2:] - 2 * u + U[:-2]) * h2 + lam * xp.exp(u)


def bratu2d(u, lam: float = LAMBDA, xp=np):
    """``u_xx + u_yy + lambda exp(u)`` on the unit square with u = 0 on the boundary, the 5-point stencil on an
    N x N interior grid; ``u`` is the grid flattened (n = N^2), and so is the result.

    >>> bratu2d(np.zeros(4)).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    N = math.isqrt(u.shape[0])
    if N * N != u.shape[0]:
        raise ValueError(f"compare.sparse.bratu2d: u has {u.shape[0]} entries, not a square grid's N^2")
    h2 = (N + 1.0) ** 2
    V = xp.reshape(u, (N, N))
    U = xp.pad(V, 1)
    r = (U[2:, 1:-1] + U[:-2, 1:-1] + U[1:-1, 2:] + U[1:-1, :-2] - 4 * V) * h2 + lam * xp.exp(V)
    return xp.reshape(r, (N * N,))


BAND = 2  # half-bandwidth of the banded map: 2 * BAND + 1 = 5 nonzeros per row


def banded(x, xp=np):
    """``y_i = x_i * sum_k w_k tanh(x_{i+k})`` over k = -2..2 (zero beyond the ends): a band of width 5.

    >>> banded(np.zeros(4)).tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    n = x.shape[0]
    X = xp.pad(x, BAND)
    acc = 0.0
    for k in range(-BAND, BAND + 1):
        acc = acc + (1.0 + 0.1 * k) * xp.tanh(X[BAND + k:BAND + k + n])
    return x * acc


def arrowhead(x, xp=np):
    """``y_0 = sum(x^2)`` (a dense row) and ``y_i = x_i^3 / 3 + x_0 x_i`` for i >= 1 (a dense column and the
    diagonal): both one-sided colourings need n colours.

    >>> arrowhead(np.array([1.0, 3.0])).tolist()
    [10.0, 12.0]
    """
    head = xp.reshape(xp.sum(x * x), (1,))
    tail = x[1:] ** 3 / 3 + x[0] * x[1:]
    return xp.concatenate([head, tail])


@dataclass(frozen=True)
class SparseWorkload:
    """A map R^n -> R^n with a sparse Jacobian, written for any NumPy-like ``xp``; ``point(n)`` is where it is
    differentiated."""

    name: str
    fn: Callable
    about: str
    title: str  # short, for plots and tables
    square: bool = False  # n must be a perfect square (a 2-D grid)

    def point(self, n: int) -> np.ndarray:
        if self.square and math.isqrt(n) ** 2 != n:
            raise ValueError(f"compare.sparse: {self.name} needs n = N^2 (an N x N grid), got n = {n}")
        return 0.1 + 0.5 * np.random.default_rng(n).random(n)

    def f(self, xp=np) -> Callable:
        fn = self.fn
        return lambda x: fn(x, xp=xp)


SPARSE_WORKLOADS: dict[str, SparseWorkload] = {w.name: w for w in (
    SparseWorkload("bratu1d", bratu1d, "1-D Bratu residual, 3-point stencil (tridiagonal)", "1-D Bratu"),
    SparseWorkload("bratu2d", bratu2d, "2-D Bratu residual, 5-point stencil on an N x N grid", "2-D Bratu",
                   square=True),
    SparseWorkload("banded", banded, f"banded map, {2 * BAND + 1} nonzeros per row", "banded"),
    SparseWorkload("arrowhead", arrowhead, "arrowhead map: one dense row, one dense column, the diagonal",
                   "arrowhead"),
)}


def build(name: str, n: int) -> tuple[Callable, np.ndarray]:
    """``(f, x)`` of sparse workload ``name`` at size n (NumPy version).

    >>> f, x = build("arrowhead", 5)
    >>> f(x).shape
    (5,)
    """
    if name not in SPARSE_WORKLOADS:
        raise KeyError(f"compare.sparse: unknown workload {name!r}; known: {', '.join(SPARSE_WORKLOADS)}")
    w = SPARSE_WORKLOADS[name]
    return w.f(), w.point(n)


def _flat(f: Callable, shape: tuple) -> Callable:
    return lambda v: np.ravel(f(np.reshape(v, shape)))


def _forward_pass(f: Callable, x: np.ndarray, colors: np.ndarray, k: int) -> np.ndarray:
    """J S^T for the seeds of ``colors`` (-1: unseeded), as one batched forward pass of ``dualad.jacfwd``: the
    Jacobian of ``z -> f(x + z[colors])`` at z = 0 has one column per colour. Returns (k, m)."""
    slot = np.where(colors >= 0, colors, k)  # unseeded inputs read a constant zero

    def compressed(z):
        return f(x + np.concatenate([z, np.zeros(1, dtype=x.dtype)])[slot])

    return np.asarray(dualad.jacfwd(compressed, chunk_size=None)(np.zeros(k, dtype=x.dtype))).T


def _reverse_pass(f: Callable, x: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """S J for the cotangent seeds S (k, m), as one batched reverse sweep of ``revad.jacrev`` through
    ``x -> S @ f(x)``. Returns (k, n)."""
    def compressed(v):
        y = f(v)
        if np.size(y) != seeds.shape[1]:
            raise ValueError(f"compare.bidirectional_jacobian: the colouring is for {seeds.shape[1]} outputs but f "
                             f"has {np.size(y)}; colour the pattern detected for this f (sparsity='auto')")
        return seeds @ y

    return np.asarray(revad.jacrev(compressed, chunk_size=None)(x))


def _one_hot(members: np.ndarray, n: int) -> np.ndarray:
    colors = np.full(n, -1, dtype=np.int64)
    colors[members] = np.arange(members.size)
    return colors


def _unspoil(block: np.ndarray, colors: np.ndarray, lines, alone: Callable) -> np.ndarray:
    """``block`` (one compressed result per colour) with each colour holding an inf or NaN rebuilt from its members
    run ``alone`` (one result each): an inf of one member meets another's structural zero as 0 * inf = NaN, which
    would spoil the colour's other entries or look like a missed nonzero. A member's non-finite values outside its
    pattern line (``lines``: CSC for columns, CSR for rows) are such products and dropped."""
    spoiled = np.flatnonzero(~np.isfinite(block).all(axis=1))
    if not spoiled.size:
        return block
    members = np.flatnonzero(np.isin(colors, spoiled))
    block = block.copy()
    block[spoiled] = 0
    for j, column in zip(members.tolist(), alone(members)):
        outside = np.ones(column.size, dtype=bool)
        outside[lines.indices[lines.indptr[j]:lines.indptr[j + 1]]] = False
        block[colors[j]] += np.where(outside & ~np.isfinite(column), 0, column)
    return block


def bidirectional_jacobian(f: Callable, sparsity: Any = "auto") -> Callable:
    """The sparse Jacobian of ``f`` (one array in, one array out) by compressed forward passes *and* reverse
    sweeps, as CSR of shape (f(x).size, x.size).

    ``sparsity`` is ``"auto"`` (detect the pattern at every call and colour it), a pattern matrix (coloured once,
    here), or an ``adops.sparse.BidirectionalColoring`` (reused as it is, e.g. through a Newton iteration). The
    forward half is one ``dualad.jacfwd`` pass over the column colours, the reverse half one ``revad.jacrev``
    sweep over the row colours; the engines stay independent of each other and of the colouring.

    >>> import numpy as np
    >>> J = bidirectional_jacobian(arrowhead)(np.array([1.0, 2.0, 3.0, 4.0]))
    >>> J.toarray()
    array([[ 2.,  4.,  6.,  8.],
           [ 2.,  5.,  0.,  0.],
           [ 3.,  0., 10.,  0.],
           [ 4.,  0.,  0., 17.]])
    """
    fixed = None
    if isinstance(sparsity, BidirectionalColoring):
        fixed = sparsity
    elif not (isinstance(sparsity, str) and sparsity == "auto"):
        if isinstance(sparsity, str):
            raise ValueError(f"compare.bidirectional_jacobian: sparsity must be 'auto', a pattern matrix or a "
                             f"BidirectionalColoring, got {sparsity!r}")
        fixed = color_bidirectional(as_pattern(sparsity, "compare.bidirectional_jacobian"))

    def jac(x):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)  # ints promoted, as everywhere; float32 stays float32
        g = _flat(f, x.shape)
        v = x.ravel()
        b = fixed if fixed is not None else color_bidirectional(jacobian_sparsity(g, v))
        m = b.shape[0]
        if b.shape[1] != v.size:
            raise ValueError(f"compare.bidirectional_jacobian: the colouring is for {b.shape[1]} inputs but x has "
                             f"{v.size}; colour the pattern detected at this x (sparsity='auto')")
        fwd = _forward_pass(g, v, b.column_colors, b.nforward) if b.nforward else np.zeros((0, m), dtype=v.dtype)
        if fwd.shape[1] != m:
            raise ValueError(f"compare.bidirectional_jacobian: the colouring is for {m} outputs but f has "
                             f"{fwd.shape[1]}; colour the pattern detected for this f (sparsity='auto')")
        rev = (_reverse_pass(g, v, b.seeds_reverse(v.dtype)) if b.nreverse
               else np.zeros((0, v.size), dtype=v.dtype))
        p = b.pattern
        fwd = _unspoil(fwd, b.column_colors, p.tocsc(), lambda js: _forward_pass(g, v, _one_hot(js, v.size), js.size))
        rev = _unspoil(rev, b.row_colors, p, lambda rs: _reverse_pass(g, v, np.eye(m, dtype=v.dtype)[rs]))
        return b.decompress(fwd, rev, "compare.bidirectional_jacobian")

    return jac


@dataclass(frozen=True)
class Colorings:
    """A pattern with its column, row and bidirectional colourings (computed once, reused by every strategy)."""

    pattern: sp.csr_array
    sparse: SparseJacobian
    column: Coloring
    row: Coloring
    bidirectional: BidirectionalColoring

    def numbers(self) -> dict[str, int]:
        """The pattern's and the colourings' numbers, as columns of a measurement row."""
        return {"nnz": int(self.pattern.nnz), "colors_column": self.column.ncolors, "colors_row": self.row.ncolors,
                "colors_bidirectional": self.bidirectional.ncolors, "bidirectional_forward":
                self.bidirectional.nforward, "bidirectional_reverse": self.bidirectional.nreverse,
                "lower_bound_column": self.column.lower_bound, "lower_bound_row": self.row.lower_bound}


def colorings(f: Callable, x: np.ndarray) -> Colorings:
    """Detect ``f``'s pattern at x and colour it three ways.

    >>> c = colorings(*build("bratu1d", 10))
    >>> c.column.ncolors, c.row.ncolors, c.bidirectional.ncolors
    (3, 3, 3)
    """
    p = jacobian_sparsity(f, x)
    sj = SparseJacobian(p)
    return Colorings(sj.pattern, sj, sj.coloring("forward"), sj.coloring("reverse"), color_bidirectional(p))


@dataclass(frozen=True)
class Strategy:
    """One way to get the sparse Jacobian, as a row of the comparison: its name, a label for plots, and its kind:
    "fwdrev" (exact counts), "setup" (detection and colouring, timed only) or "peer" (another library)."""

    name: str
    label: str
    kind: str  # "fwdrev" (counted), "setup" (detection and colouring), "peer" (another library)


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("dense-forward", "dense forward (dualad.jacfwd)", "fwdrev"),
    Strategy("dense-reverse", "dense reverse (revad.jacrev)", "fwdrev"),
    Strategy("colored-forward", "coloured forward (jacfwd, sparsity=)", "fwdrev"),
    Strategy("colored-reverse", "coloured reverse (jacrev, sparsity=)", "fwdrev"),
    Strategy("bidirectional", "bidirectional (forward + reverse)", "fwdrev"),
    Strategy("detect+color", "detection + column colouring", "setup"),
    Strategy("scipy-fd", "SciPy grouped finite differences", "peer"),
    Strategy("sparsejac-forward", "sparsejac.jacfwd (JAX, jit)", "peer"),
    Strategy("sparsejac-reverse", "sparsejac.jacrev (JAX, jit)", "peer"),
)}


def _directions(name: str, c: Colorings, n: int, m: int) -> int:
    return {"dense-forward": n, "dense-reverse": m, "colored-forward": c.column.ncolors,
            "colored-reverse": c.row.ncolors, "bidirectional": c.bidirectional.ncolors, "detect+color": 0,
            "scipy-fd": c.column.ncolors + 1, "sparsejac-forward": c.column.ncolors,
            "sparsejac-reverse": c.row.ncolors}[name]


def _graph_edges(P: sp.csr_array, strategy: str) -> float:
    """For sparsejac, which colours through a networkx graph: an upper bound on the edges it builds (pairs of
    columns sharing a row, for forward mode; of rows sharing a column, for reverse). An arrowhead makes the graph
    complete, n^2 / 2 edges, gigabytes at n = 10,000. Zero for every other strategy."""
    if not strategy.startswith("sparsejac"):
        return 0.0
    counts = np.diff(P.indptr) if strategy.endswith("forward") else np.bincount(P.indices, minlength=P.shape[1])
    return float(np.sum(counts.astype(np.float64) * (counts - 1) / 2))


def _sparsejac(w: SparseWorkload, P: sp.csr_array, mode: str):
    """A jitted sparsejac Jacobian of the workload's JAX version, or None (with the reason) if not importable."""
    try:
        import jax
        import jax.numpy as jnp
        import sparsejac
        from jax.experimental import sparse as jsparse
    except Exception as exc:  # not installed (an optional peer): skipped with the reason
        return None, f"sparsejac not importable ({type(exc).__name__})"
    jax.config.update("jax_enable_x64", True)
    pattern = jsparse.BCOO.from_scipy_sparse(sp.coo_array(P, dtype=np.float64))
    make = sparsejac.jacfwd if mode == "forward" else sparsejac.jacrev
    jitted = jax.jit(make(w.f(jnp), sparsity=pattern))
    return (lambda x: jitted(jnp.asarray(x)).block_until_ready()), ""


def _call(name: str, w: SparseWorkload, f: Callable, x: np.ndarray, c: Colorings):
    """The zero-argument call that computes the Jacobian under strategy ``name`` (or None and a reason)."""
    if name == "dense-forward":
        jac = dualad.jacfwd(f)
    elif name == "dense-reverse":
        jac = revad.jacrev(f)
    elif name == "colored-forward":
        jac = dualad.jacfwd(f, sparsity=c.sparse)
    elif name == "colored-reverse":
        jac = revad.jacrev(f, sparsity=c.sparse)
    elif name == "bidirectional":
        jac = bidirectional_jacobian(f, c.bidirectional)
    elif name == "detect+color":
        def jac(x):
            return color_columns(jacobian_sparsity(f, x))
    elif name == "scipy-fd":
        from scipy.optimize._numdiff import approx_derivative

        groups = c.column.colors

        def jac(x):
            return approx_derivative(f, x, method="2-point", sparsity=(c.pattern, groups))
    else:
        jac, why = _sparsejac(w, c.pattern, name.split("-")[1])
        if jac is None:
            return None, why
    return (lambda: jac(x)), ""


def measure(name: str, sizes: Iterable[int], *, repeats: int = 3, max_seconds: float = 2.0,
            max_entries: float = 2e7, peers: bool = False, timing: bool = True,
            progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Rows for sparse workload ``name`` at each n in ``sizes``: one per strategy, with the colourings' numbers,
    exact counts (fwdrev strategies; f's own for SciPy, which calls plain f), and median time.

    A strategy whose directions times max(n, m) exceed ``max_entries`` is skipped there (its row says why):
    dense modes at large n, one-sided colourings of the arrowhead. ``peers`` adds ``sparsejac`` where importable,
    skipped where its networkx colouring graph would exceed ``max_entries / 10`` edges.

    >>> rows = measure("bratu1d", [8], timing=False)
    >>> {r["strategy"]: r["directions"] for r in rows if r["strategy"].startswith("colored")}
    {'colored-forward': 3, 'colored-reverse': 3}
    """
    w = SPARSE_WORKLOADS[name]
    f = w.f()
    names = [s for s, st in STRATEGIES.items() if peers or not s.startswith("sparsejac")]
    rows = []
    for n in sizes:
        x = w.point(n)
        if progress is not None:
            progress(f"{name} n = {n}")
        c = colorings(f, x)
        m = c.pattern.shape[0]
        with adops.count_ops() as counts:
            revad.trace(f, x)
        f_flops, f_ops = counts.total("primal", "flops"), counts.total("primal", "evals")
        base = {"experiment": "sparse", "workload": name, "x": n, "n_in": n, "m_out": m, **c.numbers(),
                "f_ops": f_ops, "f_flops": f_flops,
                "f_time_s": time_stats(f, x, repeats=max(repeats, 5), max_seconds=0.5)["time_s"] if timing
                else float("nan")}
        for s in names:
            d = _directions(s, c, n, m)
            row = {**base, "strategy": s, "label": STRATEGIES[s].label, "engine": "fwdrev" if
                   STRATEGIES[s].kind != "peer" else s.split("-")[0], "directions": d, "skipped": "",
                   "ops": float("nan"), "flops": float("nan"), "time_s": float("nan"), "time_min_s": float("nan"),
                   "time_max_s": float("nan"), "time_repeats": 0}
            edges = _graph_edges(c.pattern, s)
            if edges > max_entries / 10:
                row["skipped"] = (f"sparsejac colours with networkx on the graph of columns (rows) that share a row "
                                  f"(column): about {edges:.1e} edges, over {max_entries / 10:.0e}")
                rows.append(row)
                continue
            if d * max(n, m) > max_entries:
                row["skipped"] = (f"{d:,} directions x {max(n, m):,} = {d * max(n, m):.1e} numbers per Jacobian, "
                                  f"over the {max_entries:.0e} budget")
                rows.append(row)
                continue
            call, why = _call(s, w, f, x, c)
            if call is None:
                row["skipped"] = why
                rows.append(row)
                continue
            if STRATEGIES[s].kind == "fwdrev":
                with adops.count_ops() as counts:
                    call()
                row["ops"], row["flops"] = counts.total(None, "evals"), counts.total(None, "flops")
            elif s == "scipy-fd":  # plain f, d + 1 times: its own counts, scaled
                row["ops"], row["flops"] = d * f_ops, d * f_flops
            if timing:
                row.update(time_stats(call, repeats=repeats, max_seconds=max_seconds))
            rows.append(row)
    return rows


def sweep(names: Iterable[str], sizes: Iterable[int], **kwargs) -> list[dict[str, Any]]:
    """``measure`` each workload in ``names`` at ``sizes`` (2-D Bratu at the nearest squares N^2).

    >>> sorted({r["x"] for r in sweep(["bratu2d"], [10, 30], timing=False)})
    [9, 25]
    """
    rows = []
    for name in names:
        ns = sorted({round(math.sqrt(n)) ** 2 for n in sizes}) if SPARSE_WORKLOADS[name].square else list(sizes)
        rows += measure(name, ns, **kwargs)
    return rows


def explain(f: Callable, x, *, count: bool = True) -> str:
    """Whether colouring would help for the Jacobian of ``f`` at x: colours against n and m and their lower
    bounds, what a bidirectional split buys, and (``count=True``) the exact flops of one dense and one coloured
    Jacobian.

    >>> text = explain(*build("bratu1d", 50))
    >>> "3 forward passes instead of 50" in text
    True
    """
    x = np.asarray(x, dtype=np.float64)
    g, v = _flat(f, x.shape), x.ravel()
    c = colorings(g, v)
    m, n = c.pattern.shape
    b = c.bidirectional
    best_one = min(c.column.ncolors, c.row.ncolors)
    lines = [f"The Jacobian of f is {m} x {n} with {c.pattern.nnz} nonzeros "
             f"({c.pattern.nnz / max(1, m * n):.2%} of its entries)."]
    lines.append(f"Column colouring: {c.column.ncolors} forward passes instead of {n} (lower bound "
                 f"{c.column.lower_bound}, the most nonzeros in one row); row colouring: {c.row.ncolors} reverse "
                 f"sweeps instead of {m} (lower bound {c.row.lower_bound}, the most nonzeros in one column).")
    if b.ncolors < best_one:
        lines.append(f"Neither one-sided colouring helps much, but a bidirectional split does: {b.nforward} forward "
                     f"+ {b.nreverse} reverse = {b.ncolors} passes (compare.sparse.bidirectional_jacobian).")
    dense = min(n, m)
    best = min(best_one, b.ncolors)
    if best >= dense:
        lines.append("Colouring saves no passes here: use the dense Jacobian (compare.jacobian).")
    else:
        lines.append(f"Colouring pays in directions: {best} passes against {dense} for the cheaper dense mode "
                     f"({dense / best:.3g}x fewer). The colours depend on the pattern's structure, not on n (a stencil "
                     "keeps its colours as the grid grows), so the saving grows like n; the crossover is where the "
                     "colours reach min(n, m). In time, compressed passes also pay for decompression, and detection "
                     "plus colouring cost a few evaluations of f once (reuse them: adops.sparse.SparseJacobian), so "
                     "at small n dense can be as fast; python -m compare measures where it turns.")
    if count and m * n <= 1e7:  # the dense Jacobians are run to be counted
        if b.ncolors < best_one:
            colored = ("bidirectional", bidirectional_jacobian(g, b))
        elif c.column.ncolors <= c.row.ncolors:
            colored = ("coloured forward", dualad.jacfwd(g, sparsity=c.sparse))
        else:
            colored = ("coloured reverse", revad.jacrev(g, sparsity=c.sparse))
        flops = {}
        for name, jac in (("dense forward", dualad.jacfwd(g)), ("dense reverse", revad.jacrev(g)), colored):
            with adops.count_ops() as counts:
                jac(v)
            flops[name] = counts.total()
        lines.append("Exact flops of one Jacobian: " + ", ".join(f"{k} {v:,}" for k, v in flops.items()) + ".")
    return " ".join(lines)


def _timed(rows: Iterable[dict], n: int, names: Iterable[str]) -> dict[str, float]:
    return {r["strategy"]: r["time_s"] for r in rows if r["x"] == n and r["strategy"] in names and not r["skipped"]
            and np.isfinite(r["time_s"])}


DENSE = ("dense-forward", "dense-reverse")
COLORED = ("colored-forward", "colored-reverse", "bidirectional")


def summarize(rows: Iterable[dict]) -> dict[str, Any]:
    """What the sparse rows show, per workload, as plain numbers (``compare.findings`` keeps it, ``compare.report``
    renders it): the colours at the largest n, the fastest dense and coloured times where both ran, the smallest
    measured n from which colouring is faster with the colouring reused (``crossover_n``) and with detection and
    colouring paid at every call (``one_shot_n``), and how many evaluations amortize detection and colouring.

    >>> summarize([])["measured"]
    False
    """
    rows = list(rows)
    out: dict[str, Any] = {"measured": bool(rows), "workloads": {}}
    for name in [w for w in SPARSE_WORKLOADS if any(r["workload"] == w for r in rows)]:
        mine = [r for r in rows if r["workload"] == name]
        sizes = sorted({r["x"] for r in mine})
        top = next(r for r in mine if r["x"] == sizes[-1])
        both, crossover, one_shot = None, None, None
        for n in sizes:
            dense, colored = _timed(mine, n, DENSE), _timed(mine, n, COLORED)
            setup = _timed(mine, n, ("detect+color",)).get("detect+color", float("nan"))
            if dense and colored:
                d, c = min(dense.values()), min(colored.values())
                both = {"n": n, "dense": min(dense, key=dense.get), "dense_s": d,
                        "colored": min(colored, key=colored.get), "colored_s": c, "setup_s": setup,
                        "breakeven": setup / (d - c) if d > c else float("inf")}
                if crossover is None and c < d:
                    crossover = n
                if one_shot is None and c + setup < d:
                    one_shot = n
        at_top = _timed(mine, sizes[-1], COLORED + ("detect+color",))
        out["workloads"][name] = {
            "title": SPARSE_WORKLOADS[name].title, "n": sizes[-1], "nnz": top["nnz"],
            "colors_column": top["colors_column"], "colors_row": top["colors_row"],
            "colors_bidirectional": top["colors_bidirectional"], "lower_bound": top["lower_bound_column"],
            "lower_bound_row": top["lower_bound_row"], "both": both, "crossover_n": crossover,
            "one_shot_n": one_shot, "top_times": at_top, "sizes": sizes,
            "dense_skipped_from": min((r["x"] for r in mine if r["strategy"] in DENSE and r["skipped"]),
                                      default=None)}
    return out
