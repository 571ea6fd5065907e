"""The sparse axis drawn: passes, flops and time of dense and coloured Jacobians against n, one column per workload.

Rows as produced by ``compare.sparse.measure``. The top row is exact and needs no run (directions per Jacobian:
n for dense forward, m for dense reverse, the colours for coloured modes), so strategies skipped at large n (over
the budget) still show there; the flops and time rows show what was measured.

>>> from compare import sparse, sparse_plots
>>> import os, tempfile
>>> rows = sparse.measure("bratu1d", [8, 16], repeats=1, max_seconds=0.1)
>>> os.path.exists(sparse_plots.sparse_vs_n(rows, os.path.join(tempfile.mkdtemp(), "s.png")))
True
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

__all__ = ["SPARSE_STYLE", "sparse_vs_n"]

SPARSE_STYLE = {
    "dense-forward": {"color": "tab:blue", "marker": "o", "linestyle": "-"},
    "dense-reverse": {"color": "tab:red", "marker": "^", "linestyle": "-"},
    "colored-forward": {"color": "tab:cyan", "marker": "s", "linestyle": "--", "markerfacecolor": "none"},
    "colored-reverse": {"color": "tab:orange", "marker": "D", "linestyle": "--", "markerfacecolor": "none"},
    "bidirectional": {"color": "tab:green", "marker": "*", "linestyle": "-", "markersize": 9},
    "detect+color": {"color": "0.35", "marker": "x", "linestyle": ":"},
    "scipy-fd": {"color": "tab:purple", "marker": "v", "linestyle": "-."},
    "sparsejac-forward": {"color": "tab:brown", "marker": "<", "linestyle": ":"},
    "sparsejac-reverse": {"color": "tab:pink", "marker": ">", "linestyle": ":"},
}
_METRICS = (("directions", "directions per Jacobian"), ("flops", "exact flops"),
            ("time_s", None))


def _time_word() -> str:
    from .cost import clock_name

    return "CPU time" if clock_name() == "process" else "wall time"


def sparse_vs_n(rows: Sequence[dict], path: str) -> str:
    """Write the sparse comparison plot (PNG) to ``path`` and return ``path``."""
    from .sparse import SPARSE_WORKLOADS, STRATEGIES

    names = [w for w in SPARSE_WORKLOADS if any(r["workload"] == w for r in rows)]
    fig = Figure(figsize=(4.2 * max(1, len(names)), 11.0))
    axes = np.asarray(fig.subplots(3, max(1, len(names)), squeeze=False))
    for col, name in enumerate(names):
        mine = [r for r in rows if r["workload"] == name]
        for row, (metric, label) in enumerate(_METRICS):
            ax = axes[row, col]
            for s in STRATEGIES:
                pts = sorted((r["x"], r[metric]) for r in mine if r["strategy"] == s
                             and (metric == "directions" or not r["skipped"]) and np.isfinite(r[metric])
                             and r[metric] > 0)
                if not pts:
                    continue
                ax.plot([p[0] for p in pts], [p[1] for p in pts], label=STRATEGIES[s].label, linewidth=1.4,
                        **SPARSE_STYLE[s])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
            if col == 0:
                ax.set_ylabel(label or f"{_time_word()} [s], median")
            if row == 2:
                ax.set_xlabel("n (inputs = outputs)")
        big = max(r["x"] for r in mine)
        top = next(r for r in mine if r["x"] == big)
        axes[0, col].set_title(f"{SPARSE_WORKLOADS[name].title}: colours at n = {big:,}\n{top['colors_column']:,} "
                               f"columns, {top['colors_row']:,} rows, {top['colors_bidirectional']:,} bidirectional",
                               fontsize=9.5)
    handles, labels = [], []
    for ax in axes.ravel():
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=8.5, frameon=False)
    skipped = sorted({r["strategy"] for r in rows if r["skipped"]}, key=list(STRATEGIES).index)
    if skipped:  # the top row shows their directions; the flops and time rows end where they were not run
        fig.text(0.5, 0.075, "Not run where a Jacobian would carry too many numbers (or, for sparsejac, its colouring "
                 "graph too many edges): " + ", ".join(skipped) + " at the larger sizes; summary.md lists where.",
                 ha="center", fontsize=8.5, color="0.3")
    fig.suptitle("Sparse Jacobians: dense modes need n directions, coloured ones a few (the arrowhead needs "
                 "the bidirectional split)", fontsize=12)
    fig.tight_layout(rect=(0, 0.085, 1, 0.96))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
