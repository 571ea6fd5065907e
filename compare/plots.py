"""Plots of the measurements (matplotlib figures, no pyplot state): measured points with the theory lines over them.

Every function takes rows as produced by ``compare.cost.sweep`` (plain dicts) and a path, writes one PNG and
returns the path. Theory lines are anchored at the largest measured point, so they show the predicted *shape*
of growth, not a fitted constant.

>>> from compare import plots
>>> sorted(plots.STYLE)
['forward-1', 'forward-vec', 'reverse-1', 'reverse-vec']
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def _subplots(nrows=1, ncols=1, figsize=None, layout=None, **kwargs):
    """A figure that belongs to no pyplot backend: drawing here never changes the caller's matplotlib state."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **kwargs)

__all__ = ["STYLE", "cost_vs_p", "jacobian_vs_size", "crossover_map", "vectorized_vs_loop", "memory_vs_depth",
           "hessians_vs_n"]

STYLE = {
    "forward-1": {"color": "tab:blue", "marker": "o", "linestyle": "-", "label": "forward, one tangent per pass"},
    "forward-vec": {"color": "tab:cyan", "marker": "s", "linestyle": "-", "label": "forward, vectorized"},
    "reverse-1": {"color": "tab:red", "marker": "^", "linestyle": "-", "label": "reverse, one cotangent per sweep"},
    "reverse-vec": {"color": "tab:orange", "marker": "D", "linestyle": "-", "label": "reverse, vectorized"},
}
METRIC_LABEL = {"ops": "primitive evaluations", "flops": "flops", "time_s": "wall time [s]",
                "peak_bytes": "peak memory [bytes]"}


def _time_word() -> str:
    """'wall time' or 'CPU time', after the clock the measurements were taken with (``compare.cost``)."""
    from .cost import clock_name

    return "CPU time" if clock_name() == "process" else "wall time"


def _label(metric: str) -> str:
    return f"{_time_word()} [s]" if metric == "time_s" else METRIC_LABEL[metric]


def _series(rows: Iterable[dict], strategy: str, metric: str, x: str = "x", engine: str = "fwdrev"):
    pts = sorted((r[x], r[metric]) for r in rows if r["strategy"] == strategy and r.get("engine", "fwdrev") == engine)
    return np.array([p[0] for p in pts], dtype=float), np.array([p[1] for p in pts], dtype=float)


def _fit_terms(x, y, terms):
    """Non-negative weights w of ``y ~ sum(w_i * term_i(x))``, least squares in relative error."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    A = np.stack([t(x) / y for t in terms], axis=1)
    w = np.linalg.lstsq(A, np.ones(len(y)), rcond=None)[0]
    if (w < 0).any():  # one term alone explains the points: fit the best single term
        singles = [(np.sum((A[:, i] * max(np.linalg.lstsq(A[:, [i]], np.ones(len(y)), rcond=None)[0][0], 0) - 1)
                           ** 2), i) for i in range(len(terms))]
        i = min(singles)[1]
        w = np.zeros(len(terms))
        w[i] = max(np.linalg.lstsq(A[:, [i]], np.ones(len(y)), rcond=None)[0][0], 0.0)
    return w


def _fitted_theory(ax, x, y, terms, label, color):
    """Draw the theory's form with its constants fitted to the measured points (not bent through one point)."""
    w = _fit_terms(x, y, terms)
    xs = np.geomspace(min(x), max(x), 50)
    ax.plot(xs, sum(wi * t(xs) for wi, t in zip(w, terms)), color=color, linestyle=":", linewidth=1.8,
            alpha=0.9, label=label)


def _line_style(strategy: str) -> dict:
    """STYLE, with the vectorized strategies dashed so lines on top of each other stay distinguishable."""
    style = dict(STYLE[strategy])
    if strategy.endswith("vec"):
        style.update(linestyle="--", markerfacecolor="none", markeredgewidth=1.4)
    return style


def _figure_legend(fig, axes, ncol: int = 4) -> None:
    """One legend for the whole figure, below the panels: every distinct label once."""
    handles, labels = [], []
    for ax in np.ravel(axes):
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8.5, frameon=False)


def _finish(fig, path: str, title: str, bottom: float = 0.0) -> str:
    fig.suptitle(title, fontsize=12)
    if fig.get_layout_engine() is None:
        fig.tight_layout(rect=(0, bottom, 1, 0.95))  # the top strip for the suptitle, the bottom for a legend
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def cost_vs_p(rows: Sequence[dict], path: str, nodes: int) -> str:
    """The gradient of the seed graph (``nodes`` fixed) against the number of parameters p: forward mode grows
    like n·p, reverse mode like n + p; in primitive evaluations, flops and wall time.

    Examples
    --------
    >>> rows = [{"strategy": s, "x": p, "ops": c * p, "flops": c * p, "time_s": 1e-3 * p}
    ...         for s, c in (("forward-1", 9), ("reverse-vec", 1)) for p in (2, 4, 8)]
    >>> import tempfile, os
    >>> os.path.exists(cost_vs_p(rows, os.path.join(tempfile.mkdtemp(), "p.png"), nodes=8))
    True
    """
    fig, axes = _subplots(1, 3, figsize=(15, 5.0))
    for ax, metric in zip(axes, ("ops", "flops", "time_s")):
        for strategy in ("forward-1", "forward-vec", "reverse-vec"):
            x, y = _series(rows, strategy, metric)
            if len(x) == 0:
                continue
            ax.plot(x, y, **_line_style(strategy))
        x, y = _series(rows, "forward-1", metric)
        if len(x):
            _fitted_theory(ax, x, y, [lambda p: nodes * p], "theory: c·n·p, c fitted", "tab:blue")
        x, y = _series(rows, "reverse-vec", metric)
        if len(x):
            _fitted_theory(ax, x, y, [lambda p: np.full_like(p, float(nodes)), lambda p: p],
                           "theory: a·n + b·p, a and b fitted", "tab:red")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("number of parameters p")
        ax.set_ylabel(_label(metric))
        ax.set_title(f"gradient cost in {_label(metric)}")
        ax.grid(True, which="both", alpha=0.3)
    _figure_legend(fig, axes)
    return _finish(fig, path, f"Gradient of the seed graph ({nodes} nodes) vs number of parameters: "
                              "forward O(n·p) against reverse O(n+p)", bottom=0.13)


def jacobian_vs_size(rows_n: Sequence[dict], rows_m: Sequence[dict], path: str, fixed_m: int, fixed_n: int) -> str:
    """Jacobian of the dense map R^n -> R^m: cost against n at fixed m and against m at fixed n.

    Theory: forward mode needs n passes and reverse mode m sweeps, each costing about one evaluation of f, so
    the flops lines are ``passes x cost(f)`` and the time lines ``passes x constant`` (small arrays: a pass costs
    its per-primitive overhead), scaled through the largest measured point.

    Examples
    --------
    >>> rows = [{"strategy": s, "x": k, "n_in": k, "m_out": 2, "f_flops": 10 * k, "flops": k * k, "time_s": 1e-3 * k}
    ...         for s in ("forward-1", "reverse-1") for k in (2, 4, 8)]
    >>> import tempfile, os
    >>> os.path.exists(jacobian_vs_size(rows, rows, os.path.join(tempfile.mkdtemp(), "j.png"), 2, 2))
    True
    """
    fig, axes = _subplots(2, 2, figsize=(12, 9.2))
    for col, (rows, vary, passes_key, other) in enumerate(((rows_n, "n", "n_in", f"m = {fixed_m}"),
                                                          (rows_m, "m", "m_out", f"n = {fixed_n}"))):
        for row_i, metric in enumerate(("flops", "time_s")):
            ax = axes[row_i][col]
            for strategy in ("forward-1", "reverse-1", "forward-vec", "reverse-vec"):
                x, y = _series(rows, strategy, metric)
                if len(x) == 0:
                    continue
                ax.plot(x, y, **_line_style(strategy))
            per_pass = "cost(f)" if metric == "flops" else "const"
            for strategy, key, color, label in (("forward-1", "n_in", "tab:blue", f"theory: n passes x {per_pass}"),
                                                ("reverse-1", "m_out", "tab:red", f"theory: m sweeps x {per_pass}")):
                # flops: each pass costs about one f; time: at these sizes a pass costs about a constant
                # (per-primitive overhead), so the time theory is proportional to the number of passes
                pts = sorted((r["x"], r[key] * (r["f_flops"] if metric == "flops" else 1), r[metric])
                             for r in rows if r["strategy"] == strategy)
                if not pts:
                    continue
                xs = np.array([p[0] for p in pts], float)
                shape = np.array([p[1] for p in pts], float)
                ys = np.array([p[2] for p in pts], float)
                ax.plot(xs, shape * ys[-1] / shape[-1], color=color, linestyle=":", linewidth=1.6, label=label)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel(f"{'inputs n' if vary == 'n' else 'outputs m'} ({other} fixed)")
            ax.set_ylabel(_label(metric))
            ax.set_title(f"full Jacobian, {_label(metric)}, vs {vary}")
            ax.grid(True, which="both", alpha=0.3)
    _figure_legend(fig, axes, ncol=3)
    return _finish(fig, path, "Jacobian of W2 @ tanh(W1 @ x + b1): forward costs ~n passes, reverse ~m sweeps",
                   bottom=0.08)


def _ratio_grid(rows: Sequence[dict], fwd: str, rev: str, metric: str, engine: str = "fwdrev"):
    table: dict[tuple[int, int], dict[str, float]] = {}
    for r in rows:
        if r.get("engine", "fwdrev") != engine or r["strategy"] not in (fwd, rev):
            continue
        table.setdefault((r["n_in"], r["m_out"]), {})[r["strategy"]] = r[metric]
    ns = sorted({k[0] for k in table})
    ms = sorted({k[1] for k in table})
    grid = np.full((len(ms), len(ns)), np.nan)
    for (n, m), v in table.items():
        if fwd in v and rev in v and v[rev] > 0:
            grid[ms.index(m), ns.index(n)] = v[fwd] / v[rev]
    return ns, ms, grid


def _draw_ratio(ax, ns, ms, grid, title, norm, fontsize):
    logs = np.log2(grid)
    image = ax.imshow(logs, origin="lower", cmap="RdBu", norm=norm, aspect="auto")
    for i in range(len(ms)):
        for j in range(len(ns)):
            r = grid[i, j]
            if np.isfinite(r):
                factor = 1 / r if r < 1 else r
                short = f"{factor:.1f}" if factor < 10 else f"{factor:.0f}"
                text = "tie" if abs(logs[i, j]) < 0.03 else f"{'F' if r < 1 else 'R'}{short}"
                ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                        color="white" if abs(logs[i, j]) > 0.6 * norm.vmax else "black")
    ax.set_xticks(range(len(ns)), [str(n) for n in ns])
    ax.set_yticks(range(len(ms)), [str(m) for m in ms])
    # the theory's crossover n = m: outline those cells instead of drawing a line through their labels
    for j, n in enumerate(ns):
        if n in ms:
            i = ms.index(n)
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.3))
    ax.set_xlabel("inputs n")
    ax.set_ylabel("outputs m")
    ax.set_title(title, fontsize=10)
    return image


def crossover_map(rows: Sequence[dict], path: str, peer_rows: Sequence[dict] = ()) -> str:
    """Which mode wins over a grid of (n, m) for the dense Jacobian, and by how much.

    Colour is log2(forward cost / reverse cost) on one scale shared by every panel: blue cells favour reverse
    mode (R), red cells forward mode (F); each cell says the winner and its factor; the n = m cells are outlined.
    Every panel compares the vectorized strategies (all directions in one pass, the default of ``jacfwd`` and
    ``jacrev``), ours in flops and in time, each peer in time; a peer without vectorized JVPs (HIPS autograd)
    is shown with one direction per pass, and its panel title says so.

    Examples
    --------
    >>> rows = [{"strategy": s, "n_in": n, "m_out": m, "flops": (n if s[0] == "f" else m) * 10.0,
    ...          "time_s": (n if s[0] == "f" else m) * 1e-3}
    ...         for s in ("forward-vec", "reverse-vec", "forward-1", "reverse-1") for n in (2, 8) for m in (2, 8)]
    >>> import tempfile, os
    >>> os.path.exists(crossover_map(rows, os.path.join(tempfile.mkdtemp(), "x.png")))
    True
    """
    panels: list[tuple[str, str, str, str, str]] = [
        ("fwdrev", "forward-vec", "reverse-vec", "flops", "fwdrev, flops"),
        ("fwdrev", "forward-vec", "reverse-vec", "time_s", f"fwdrev, {_time_word()}"),
    ]
    engines: dict[str, set] = {}
    for r in peer_rows:
        engines.setdefault(r["engine"], set()).add(r["strategy"])
    for e, strategies in engines.items():
        if {"forward-vec", "reverse-vec"} <= strategies:
            panels.append((e, "forward-vec", "reverse-vec", "time_s", f"{e}, {_time_word()}"))
        else:
            panels.append((e, "forward-1", "reverse-1", "time_s", f"{e}, {_time_word()} (one direction per pass:\n"
                                                                  "it has no vectorized JVP/VJP)"))
    all_rows = list(rows) + list(peer_rows)
    grids = [(p, *_ratio_grid(all_rows, p[1], p[2], p[3], p[0])) for p in panels]
    grids = [g for g in grids if g[3].size]
    logs = [np.abs(np.log2(g[3][np.isfinite(g[3])])) for g in grids]
    bound = max([1.0] + [float(v.max()) for v in logs if v.size])
    norm = TwoSlopeNorm(0.0, -bound, bound)
    cols = min(len(grids), 2)
    nrows = max(1, (len(grids) + cols - 1) // cols)
    size = max((len(g[1]) for g in grids), default=4)
    fontsize = 8 if size <= 6 else 7
    fig, axes = _subplots(nrows, cols, figsize=(5.4 * cols + 1.4, 4.9 * nrows + 1.0), squeeze=False,
                          layout="constrained")
    image = None
    for ax, ((engine, fwd, rev, metric, title), ns, ms, grid) in zip(axes.flat, grids):
        image = _draw_ratio(ax, ns, ms, grid, title, norm, fontsize)
    for ax in list(axes.flat)[len(grids):]:
        ax.axis("off")
    if image is not None:
        bar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.85)
        bar.set_label("log2(forward cost / reverse cost)\n> 0: reverse wins (blue), < 0: forward wins (red)")
    fig.legend(handles=[Rectangle((0, 0), 1, 1, fill=False, edgecolor="black", linewidth=1.3)],
               labels=["n = m, where theory puts the crossover"], loc="outside lower center", fontsize=9,
               frameon=False)
    fig.suptitle("Which mode wins for the Jacobian of W2 @ tanh(W1 @ x + b1): R^n -> R^m\n"
                 "vectorized jacfwd against jacrev; F = forward wins, R = reverse wins, by the factor shown",
                 fontsize=11)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def vectorized_vs_loop(rows_n: Sequence[dict], rows_m: Sequence[dict], path: str) -> str:
    """Wall time of one direction per pass against all directions in one vectorized pass: forward mode against
    the number of inputs n, reverse mode against the number of outputs m.

    Examples
    --------
    >>> rows = [{"strategy": s, "x": k, "time_s": k * (1e-3 if s.endswith("1") else 1e-4), "flops": 10 * k}
    ...         for s in ("forward-1", "forward-vec", "reverse-1", "reverse-vec") for k in (2, 4)]
    >>> import tempfile, os
    >>> os.path.exists(vectorized_vs_loop(rows, rows, os.path.join(tempfile.mkdtemp(), "v.png")))
    True
    """
    fig, axes = _subplots(1, 3, figsize=(15, 5.0))
    for ax, rows, pair, xlabel in ((axes[0], rows_n, ("forward-1", "forward-vec"), "inputs n"),
                                   (axes[1], rows_m, ("reverse-1", "reverse-vec"), "outputs m")):
        for strategy in pair:
            x, y = _series(rows, strategy, "time_s")
            if len(x):
                ax.plot(x, y, **_line_style(strategy))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(_label("time_s"))
        ax.set_title(f"{pair[0].split('-')[0]} mode: full Jacobian time")
        ax.grid(True, which="both", alpha=0.3)
    ax = axes[2]
    for rows, pair in ((rows_n, ("forward-1", "forward-vec")), (rows_m, ("reverse-1", "reverse-vec"))):
        x1, y1 = _series(rows, pair[0], "time_s")
        xv, yv = _series(rows, pair[1], "time_s")
        if len(x1) and len(x1) == len(xv):
            ax.plot(x1, y1 / yv, color=STYLE[pair[0]]["color"], marker=STYLE[pair[0]]["marker"], linestyle="-.",
                    label=f"{pair[0].split('-')[0]}: loop time / vectorized time")
    ax.axhline(1.0, color="gray", linewidth=1, label="no speed-up")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("directions (n for forward, m for reverse)")
    ax.set_ylabel("speed-up of vectorizing")
    ax.set_title("speed-up from carrying all directions at once")
    ax.grid(True, which="both", alpha=0.3)
    _figure_legend(fig, axes, ncol=4)
    return _finish(fig, path, "Vectorized (batched) directions against one direction per pass", bottom=0.12)


def memory_vs_depth(rows: Sequence[dict], path: str, width: int) -> str:
    """Peak memory of the gradient of a depth-n chain over a p-vector: reverse mode keeps every node's value on
    its tape (grows like n), forward mode keeps only the current ones (flat in n).

    Examples
    --------
    >>> rows = [{"strategy": s, "x": n, "peak_bytes": (n if s[0] == "r" else 1) * 1000}
    ...         for s in ("forward-vec", "reverse-vec") for n in (2, 4, 8)]
    >>> import tempfile, os
    >>> os.path.exists(memory_vs_depth(rows, os.path.join(tempfile.mkdtemp(), "m.png"), width=4))
    True
    """
    fig, ax = _subplots(figsize=(7.5, 5))
    for strategy in ("forward-1", "forward-vec", "reverse-vec"):
        x, y = _series(rows, strategy, "peak_bytes")
        if len(x):
            ax.plot(x, y, **_line_style(strategy))
    x, y = _series(rows, "reverse-vec", "peak_bytes")
    if len(x):
        _fitted_theory(ax, x, y, [np.ones_like, lambda n: n], "theory: reverse a + b·depth (a, b fitted)", "tab:red")
    x, y = _series(rows, "forward-vec", "peak_bytes")
    if len(x):
        ax.plot(x, np.full(len(x), y[-1]), color="tab:blue", linestyle=":", linewidth=1.6,
                label="theory: forward O(1) in depth")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("depth n (nodes in the chain)")
    ax.set_ylabel("peak memory [bytes] (tracemalloc)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _finish(fig, path, f"Memory of the gradient vs depth (p = {width}): reverse keeps a tape, forward does not")



HESSIAN_STYLE = {
    "forward-over-forward": {"color": "tab:blue", "marker": "o", "linestyle": "-"},
    "forward-over-reverse": {"color": "tab:purple", "marker": "s", "linestyle": "-"},
    "reverse-over-forward": {"color": "tab:green", "marker": "^", "linestyle": "--"},
    "reverse-over-reverse": {"color": "tab:red", "marker": "D", "linestyle": "--"},
}
# a coloured nesting: its dense nesting's colour and marker, hollow, on a dotted line
HESSIAN_STYLE.update({f"{name}-colored": {**style, "linestyle": ":", "markerfacecolor": "white", "linewidth": 2}
                      for name, style in list(HESSIAN_STYLE.items())})
_PEER_MARKERS = ("x", "+", "1", "*", "v", "P")
_HESSIAN_TITLES = {"rosenbrock": "Rosenbrock's function (tridiagonal Hessian)",
                   "local3": "local3, a sum of 3-variable terms over sliding windows (pentadiagonal Hessian)"}


def hessians_vs_n(rows: Sequence[dict], path: str, peer_rows: Sequence[dict] = (),
                  workload: str = "rosenbrock") -> str:
    """The four nestings of the two modes computing a Hessian, dense and coloured, against n: exact flops, time
    and peak memory, for the rows of one ``workload``.

    Coloured nestings (hollow markers, dotted) are drawn in their dense nesting's colour; the time to detect the
    pattern and colour it (paid once per pattern) is the black dashed line. Sizes a strategy skipped (over its
    time budget, or a dense Hessian too large to hold) are marked on the time panel's bottom edge; peers' dense
    Hessians (grey, dotted) share the time panel.

    Examples
    --------
    >>> rows = [{"strategy": s, "x": n, "flops": n * n, "time_s": 1e-4 * n, "peak_bytes": 100 * n, "skipped": ""}
    ...         for s in HESSIAN_STYLE for n in (4, 8)]
    >>> import tempfile, os
    >>> os.path.exists(hessians_vs_n(rows, os.path.join(tempfile.mkdtemp(), "h.png")))
    True
    """
    from .hessians import STRATEGIES

    rows = [r for r in rows if r.get("workload", "rosenbrock") == workload]
    peer_rows = [r for r in peer_rows if r.get("workload", "rosenbrock") == workload]
    fig, axes = _subplots(1, 3, figsize=(16, 5.6), width_ratios=(1, 1.5, 1))
    done = [r for r in rows if not r.get("skipped")]
    for ax, metric in zip(axes, ("flops", "time_s", "peak_bytes")):
        for name, style in HESSIAN_STYLE.items():
            x, y = _series(done, name, metric)
            if len(x):
                ax.plot(x, y, label=f"{STRATEGIES[name].short}: {STRATEGIES[name].call}", **style)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        sizes = sorted({r["x"] for r in rows})
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes], rotation=30 if len(sizes) > 6 else 0)
        ax.minorticks_off()
        ax.set_xlabel("n (variables)")
        ax.set_ylabel(_label(metric))
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_title("exact flops")
    axes[1].set_title(f"{_time_word()} (median)")
    axes[2].set_title("peak memory (tracemalloc)")
    ax = axes[1]
    found = sorted({r["x"]: r["detect_s"] + r["color_s"] for r in done if "detect_s" in r}.items())
    if found:
        ax.plot([p[0] for p in found], [p[1] for p in found], color="black", linestyle="--", linewidth=1.2,
                label="detection + star colouring (once per pattern)")
    engines = []
    for r in peer_rows:
        if not r.get("skipped") and r["strategy"] not in engines:
            engines.append(r["strategy"])
    for i, way in enumerate(engines):
        pts = sorted((r["x"], r["time_s"]) for r in peer_rows if r["strategy"] == way and not r.get("skipped"))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color="0.45", linestyle=":",
                marker=_PEER_MARKERS[i % len(_PEER_MARKERS)], label=f"{way} (dense)")
    skipped = [r for r in rows if r.get("skipped")]
    if skipped:
        order = list(HESSIAN_STYLE)
        for r in skipped:  # side by side, so strategies skipped at one size all show
            shift = 1.05 ** (order.index(r["strategy"]) - (len(order) - 1) / 2)
            ax.plot([r["x"] * shift], [0.0], marker="|", markersize=14, markeredgewidth=2.2,
                    color=HESSIAN_STYLE[r["strategy"]]["color"], transform=ax.get_xaxis_transform(), clip_on=False,
                    linestyle="none")
        ax.plot([], [], marker="|", color="black", linestyle="none",
                label="skipped: over the time budget, or a dense Hessian over 16 MiB")
    handles, labels = [], []
    for a in axes:
        for h, lab in zip(*a.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"{_HESSIAN_TITLES.get(workload, workload)}: the four nestings of forward and reverse mode, "
                 "dense and with a star colouring", fontsize=12)
    legend_rows = -(-len(labels) // 3)
    fig.tight_layout(rect=(0, min(0.5, 0.04 + 0.033 * legend_rows), 1, 0.95))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
