"""What a comparison run found: numbers and judgements computed from its rows, with no formatting.

``python -m compare`` collects rows (``cost.sweep``, ``hessians.measure``, ``peers``) into one ``results`` dict;
``findings(results)`` turns them into the verdict (which mode wins where on this machine, the crossover ratio
r in flops and in time, the best Hessian nesting), the evidence behind it, and flags about the conditions.
``compare.report`` renders the same dict as Markdown and as the CLI's last lines; tests check this one.

>>> from compare import findings
>>> findings.crossover_ratio([(4, 1, 4.0, 1.0), (1, 4, 1.0, 4.0)])["r"]   # forward n, reverse m: r = 1
1.0
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from . import cost, sparse
from .conditions import HIGH_SPREAD

__all__ = ["findings", "crossover_ratio", "verdict_strategy"]

TIE = 1.25  # times within this factor of the fastest are reported as tied
# the strategies a user gets by default: dualad.jacfwd / revad.jacrev carry all directions in one pass
verdict_strategy = {"forward": "forward-vec", "reverse": "reverse-vec"}


def crossover_ratio(cells: Iterable[tuple[int, int, float, float]]) -> dict[str, Any]:
    """The crossover ratio r of "forward wins when n < r·m, reverse when n > r·m", measured.

    ``cells`` are ``(n, m, forward_cost, reverse_cost)``. If forward mode costs n directions of u each and
    reverse mode m directions of v each, forward wins exactly when n < (v/u)·m, so each cell gives the estimate
    ``(n/m) · reverse_cost / forward_cost`` of r = v/u; r is their median (``low``/``high``: the quartiles).
    ``agree`` of ``total`` cells have the winner the rule predicts (cells on the line n = r·m are left out).

    Examples
    --------
    >>> c = crossover_ratio([(8, 1, 8.0, 2.0), (1, 8, 1.0, 16.0), (2, 2, 2.0, 4.0)])
    >>> c["r"], c["agree"], c["total"]
    (2.0, 3, 3)
    """
    cells = [c for c in cells if c[2] > 0 and c[3] > 0]
    if not cells:
        return {"r": float("nan"), "low": float("nan"), "high": float("nan"), "agree": 0, "total": 0}
    estimates = [(n / m) * rev / fwd for n, m, fwd, rev in cells]
    r = float(np.median(estimates))
    low, high = (float(q) for q in np.quantile(estimates, [0.25, 0.75]))
    decided = [(n, m, fwd, rev) for n, m, fwd, rev in cells if not math.isclose(n, r * m) and fwd != rev]
    agree = sum((n < r * m) == (fwd < rev) for n, m, fwd, rev in decided)
    return {"r": r, "low": low, "high": high, "agree": agree, "total": len(decided)}


def _by_cell(rows: Sequence[dict]) -> dict[tuple[int, int], dict[str, dict]]:
    table: dict[tuple[int, int], dict[str, dict]] = {}
    for r in rows:
        table.setdefault((r["n_in"], r["m_out"]), {})[r["strategy"]] = r
    return table


def _direction_flops_ratio(cells: dict) -> float:
    """Median over cells of (flops per VJP direction) / (flops per JVP direction), vectorized strategies."""
    ratios = []
    for (n, m), d in cells.items():
        fwd, rev = d.get("forward-vec"), d.get("reverse-vec")
        if fwd is None or rev is None:
            continue
        per_jvp = (fwd["flops"] - fwd["flops_primal"]) / n
        per_vjp = (rev["flops"] - rev["flops_primal"]) / m
        if per_jvp > 0:
            ratios.append(per_vjp / per_jvp)
    return float(statistics.median(ratios)) if ratios else float("nan")


def _crossover(grid_rows: Sequence[dict]) -> dict[str, Any]:
    cells = _by_cell(grid_rows)
    out: dict[str, Any] = {}
    fwd_s, rev_s = verdict_strategy["forward"], verdict_strategy["reverse"]
    for metric, key in (("flops", "flops"), ("time_s", "time")):
        costs = [(n, m, d[fwd_s][metric], d[rev_s][metric]) for (n, m), d in cells.items()
                 if fwd_s in d and rev_s in d and np.isfinite(d[fwd_s][metric]) and np.isfinite(d[rev_s][metric])]
        out[key] = crossover_ratio(costs)
        out[key]["winners"] = [(n, m, "forward" if f < r else "reverse") for n, m, f, r in costs]
    out["direction_flops_ratio"] = _direction_flops_ratio(cells)
    extremes = {}
    if cells:
        ns, ms = sorted({k[0] for k in cells}), sorted({k[1] for k in cells})
        for name, (n, m) in (("many_inputs", (ns[-1], ms[0])), ("many_outputs", (ns[0], ms[-1]))):
            d = cells.get((n, m), {})
            if "forward-vec" in d and "reverse-vec" in d:
                extremes[name] = {"n": n, "m": m, "flops": d["forward-vec"]["flops"] / d["reverse-vec"]["flops"],
                                  "time": d["forward-vec"]["time_s"] / d["reverse-vec"]["time_s"]}
    out["extremes"] = extremes
    return out


def _vectorizing(n_rows: Sequence[dict], m_rows: Sequence[dict]) -> dict[str, Any]:
    """Loop time over vectorized time at every measured size, forward (against n) and reverse (against m)."""
    out = {}
    for mode, rows in (("forward", n_rows), ("reverse", m_rows)):
        t = {(r["x"], r["strategy"]): r["time_s"] for r in rows}
        sizes = sorted({r["x"] for r in rows})
        speedups = [(x, t[(x, f"{mode}-1")] / t[(x, f"{mode}-vec")]) for x in sizes
                    if (x, f"{mode}-1") in t and (x, f"{mode}-vec") in t and t[(x, f"{mode}-vec")] > 0]
        out[mode] = {"speedups": speedups, "min": min((s for _, s in speedups), default=float("nan")),
                     "max": max((s for _, s in speedups), default=float("nan")),
                     # with one direction both strategies make the same single pass: no speed-up is expected there
                     "faster_everywhere": bool(speedups) and all(s > 1 for x, s in speedups if x > 1),
                     "slower_at": [x for x, s in speedups if s <= 1 and x > 1]}
    return out


def _dense_rosenbrock(rows: Sequence[dict]) -> list[dict]:
    """The rows of the four dense nestings on Rosenbrock's function (the nesting verdict's evidence)."""
    from .hessians import STRATEGIES

    return [r for r in rows if r.get("workload", "rosenbrock") == "rosenbrock"
            and not STRATEGIES[r["strategy"]].colored]


def _break_even(points: Sequence[tuple[int, float, float]]) -> int | None:
    """The smallest measured n from which the coloured time beats the dense one at every larger measured n
    (``points``: (n, dense, coloured) where both ran); None if it never does at the largest.

    >>> _break_even([(8, 1.0, 2.0), (32, 1.0, 0.5), (128, 4.0, 0.5)])
    32
    """
    first = None
    for n, dense, colored in sorted(points):
        if colored < dense:
            first = n if first is None else first
        else:
            first = None
    return first


def _sparse_hessians(rows: Sequence[dict], peer_rows: Sequence[dict]) -> dict[str, Any]:
    """Per workload, dense against coloured at each n: colours, nnz, the best of each, detection and colouring,
    the fastest dense peer, and the break-even sizes (with a precomputed colouring, and including detection)."""
    from .hessians import STRATEGIES

    out: dict[str, Any] = {}
    for workload in dict.fromkeys(r.get("workload", "rosenbrock") for r in rows):
        done = [r for r in rows if r.get("workload", "rosenbrock") == workload and not r.get("skipped")]
        colored = [r for r in done if STRATEGIES[r["strategy"]].colored]
        if not colored:
            continue
        per_n = []
        for n in sorted({r["x"] for r in done}):
            at = [r for r in done if r["x"] == n]
            dense = min((r for r in at if not STRATEGIES[r["strategy"]].colored), key=lambda r: r["time_s"],
                        default=None)
            col = min((r for r in at if STRATEGIES[r["strategy"]].colored), key=lambda r: r["time_s"], default=None)
            peers = [r for r in peer_rows if r.get("workload", "rosenbrock") == workload and r["x"] == n
                     and not r.get("skipped")]
            peer = min(peers, key=lambda r: r["time_s"], default=None)
            entry: dict[str, Any] = {"n": n, "dense": None, "colored": None, "peer": None}
            if dense is not None:
                entry["dense"] = {"strategy": dense["strategy"], "time_s": dense["time_s"], "flops": dense["flops"]}
            if col is not None:
                entry["colored"] = {"strategy": col["strategy"], "time_s": col["time_s"], "flops": col["flops"],
                                    "with_detection_s": col["time_s"] + col["detect_s"] + col["color_s"]}
                entry.update(ncolors=col["ncolors"], lower_bound=col["lower_bound"], nnz=col["nnz"],
                             detect_s=col["detect_s"], color_s=col["color_s"])
            if peer is not None:
                entry["peer"] = {"strategy": peer["strategy"], "time_s": peer["time_s"]}
            if dense is not None and col is not None:
                entry["speedup"] = dense["time_s"] / col["time_s"]
                entry["speedup_with_detection"] = dense["time_s"] / entry["colored"]["with_detection_s"]
            per_n.append(entry)
        both = [e for e in per_n if e["dense"] and e["colored"]]
        colors = sorted({e["ncolors"] for e in per_n if e["colored"]})
        out[workload] = {
            "per_n": per_n, "colors": colors,
            "break_even": _break_even([(e["n"], e["dense"]["time_s"], e["colored"]["time_s"]) for e in both]),
            "break_even_with_detection": _break_even([(e["n"], e["dense"]["time_s"],
                                                       e["colored"]["with_detection_s"]) for e in both]),
            "largest_both": both[-1] if both else None,
            "largest": max((e for e in per_n if e["colored"]), key=lambda e: e["n"]),
            "dense_up_to": max((e["n"] for e in per_n if e["dense"]), default=None),
        }
    return out


def _hessians(rows: Sequence[dict], peer_rows: Sequence[dict]) -> dict[str, Any]:
    rows = _dense_rosenbrock(rows)
    peer_rows = [r for r in peer_rows if r.get("workload", "rosenbrock") == "rosenbrock"]
    done = [r for r in rows if not r.get("skipped")]
    if not done:
        return {"measured": False}
    top = max(r["x"] for r in done)
    at_top = {r["strategy"]: r for r in done if r["x"] == top}
    fastest = min(at_top.values(), key=lambda r: r["time_s"])
    # nestings within 25% of the fastest are tied within the noise of a shared machine: of those, recommend the
    # one doing the least work (exact flops), which does not change from run to run
    tied = [r for r in at_top.values() if r["time_s"] <= TIE * fastest["time_s"]]
    best_time = min(tied, key=lambda r: r["flops"])
    best_flops = min(at_top.values(), key=lambda r: r["flops"])
    slopes = {s: cost.fit_slope([r["x"] for r in done if r["strategy"] == s],
                                [r["flops"] for r in done if r["strategy"] == s])
              for s in sorted({r["strategy"] for r in done})}
    skipped = {}
    for r in rows:
        if r.get("skipped") and r["strategy"] not in skipped:
            skipped[r["strategy"]] = r["x"]
    peers_at_top = sorted(((r["strategy"], r["time_s"]) for r in peer_rows
                           if not r.get("skipped") and r["x"] == top), key=lambda p: p[1])
    return {"measured": True, "n": top, "best_time": best_time["strategy"], "tied": [r["strategy"] for r in tied],
            "best_call": best_time["call"],
            "best_time_s": best_time["time_s"], "best_flops": best_flops["strategy"],
            "at_top": {s: {"time_s": r["time_s"], "flops": r["flops"], "peak_bytes": r["peak_bytes"]}
                       for s, r in at_top.items()},
            "flops_slopes": slopes, "skipped_from": skipped, "peers_at_top": peers_at_top}


def _spread(rows: Iterable[dict]) -> dict[str, Any]:
    timed = [r for r in rows if r.get("time_repeats", 0) and r.get("time_repeats", 0) > 1
             and r.get("time_min_s", 0) > 0]
    wide = [r for r in timed if r["time_max_s"] / r["time_min_s"] > HIGH_SPREAD]
    return {"timed": len(timed), "wide": len(wide), "fraction": len(wide) / len(timed) if timed else 0.0}


def findings(results: dict[str, Any]) -> dict[str, Any]:
    """The verdict and the evidence of one run, as plain numbers and strings (see the module docstring).

    ``results`` holds the run's rows under ``p_rows``, ``n_rows``, ``m_rows``, ``grid_rows``, ``mem_rows``,
    ``table_rows``, ``oracle_rows``, ``peer_rows``, ``hess_rows``, ``peer_hess_rows``, ``sparse_rows`` (optional:
    ``compare.sparse`` rows); ``cheap`` (cheap-gradient
    constants), ``conditions`` (a ``compare.conditions.Conditions``), ``plan``, ``scale``, ``repeats``,
    ``peer_notes``, ``peers_requested``.
    """
    p_rows, n_rows, m_rows = results["p_rows"], results["n_rows"], results["m_rows"]
    slope_p = {m: cost.slopes(p_rows, m) for m in ("ops", "flops", "time_s")}
    jac_slopes = {s: {"n": _normalized_slope(n_rows, s), "m": _normalized_slope(m_rows, s)}
                  for s in cost.STRATEGIES}
    big = max(r["x"] for r in p_rows)
    at_p = {r["strategy"]: r for r in p_rows if r["x"] == big}
    mem_rows = results["mem_rows"]
    mem_slopes = {s: cost.fit_slope([r["x"] for r in mem_rows if r["strategy"] == s],
                                    [r["peak_bytes"] for r in mem_rows if r["strategy"] == s])
                  for s in ("forward-1", "forward-vec", "reverse-vec")}
    oracle_rows = results["oracle_rows"]
    cond = results["conditions"]
    all_timed = [*p_rows, *n_rows, *m_rows, *results["grid_rows"], *results["table_rows"], *results["hess_rows"]]
    spread = _spread(all_timed)
    crossover = _crossover(results["grid_rows"])
    vectorizing = _vectorizing(n_rows, m_rows)
    flags = []
    if cond.high_load:
        flags.append(f"high load: the 1-minute load average was {cond.load_text()} on {cond.cpu_count} CPUs, "
                     f"so this run shared its CPU{'s' if cond.threads > 1 else ''} with other work; times are "
                     "inflated and noisier, ratios less so")
    if spread["fraction"] > 0.1:
        flags.append(f"high spread: in {spread['wide']} of {spread['timed']} timed rows the slowest repeat took "
                     f"more than {HIGH_SPREAD:g}x the fastest (see time_min_s/time_max_s in measurements.csv)")
    if not cond.blas_threads_ok:
        flags.append(f"BLAS threads not limited as asked: {cond.blas_text()}")
    return {
        "scale": results["scale"], "repeats": results["repeats"], "plan": results["plan"],
        "verdict": {"crossover": crossover, "vectorizing": vectorizing,
                    "cheap_gradient": results["cheap"], "hessians": _hessians(results["hess_rows"],
                                                                              results["peer_hess_rows"]),
                    "sparse_hessians": _sparse_hessians(results["hess_rows"], results["peer_hess_rows"])},
        "gradient_vs_p": {"nodes": results["plan"].nodes, "slopes": slope_p, "p": big,
                          "forward_flops": at_p["forward-1"]["flops"], "reverse_flops": at_p["reverse-vec"]["flops"],
                          "forward_time": at_p["forward-1"]["time_s"], "reverse_time": at_p["reverse-vec"]["time_s"]},
        "jacobian_slopes": jac_slopes,
        "memory_slopes": mem_slopes,
        "table_rows": results["table_rows"],
        "oracle": {"worst": max((r["max_rel_error"] for r in oracle_rows), default=0.0),
                   "all_ok": all(r["ok"] for r in oracle_rows), "rows": oracle_rows},
        "peers": {"requested": results["peers_requested"], "notes": results["peer_notes"],
                  "rows": results["peer_rows"], "hessian_rows": results["peer_hess_rows"]},
        "hessian_rows": results["hess_rows"],
        "grid_rows": results["grid_rows"],
        "sparse": sparse.summarize(results.get("sparse_rows", [])),
        "sparse_rows": results.get("sparse_rows", []),
        "conditions": cond, "spread": spread, "flags": flags,
    }


def _normalized_slope(rows: Sequence[dict], strategy: str, metric: str = "flops") -> float:
    pts = [(r["x"], r[metric] / r["f_flops"]) for r in rows if r["strategy"] == strategy and r["f_flops"]]
    return cost.fit_slope([p[0] for p in pts], [p[1] for p in pts])
