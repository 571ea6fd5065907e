"""Rendering of a run's findings (``compare.findings``): ``summary.md`` and the CLI's closing verdict lines.

Nothing here judges: every number and every yes/no comes from the findings dict, so the verdict a reader sees on
the console and at the top of ``summary.md`` is the same text.

>>> from compare import report
>>> report.num(6.52e-16), report.num(0.4567), report.num(12345.0)
('0.00', '0.46', '12,345')
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .hessians import STRATEGIES as HESSIAN_STRATEGIES

__all__ = ["num", "table", "verdict_lines", "markdown"]


def num(x: Any, digits: int = 2) -> str:
    """A number for a reader: fixed decimals for small values (so 6.5e-16 reads 0.00), thousands separators
    for large ones, "n/a" for NaN; other values as ``str``."""
    if isinstance(x, (bool, np.bool_)):
        return str(x)
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if not np.isfinite(x):
            return "n/a"
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        if abs(x) >= 100:
            return f"{x:.0f}"
        return f"{x:.{digits}f}" if abs(x) >= 10 ** -digits or x == 0 else f"{0.0:.{digits}f}"
    return str(x)


def _ms(seconds: float) -> str:
    return "n/a" if not np.isfinite(seconds) else (f"{seconds * 1e3:.3g} ms")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; cells formatted with ``num``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(num(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict_lines(fd: dict[str, Any]) -> list[str]:
    """The plain answer to "which mode?" on this machine: the first lines of summary.md and the CLI's last."""
    v = fd["verdict"]
    cx = v["crossover"]
    rf, rt = cx["flops"], cx["time"]
    lines = [
        f"Jacobians of f: R^n -> R^m: forward mode wins when n < r·m and reverse mode when n > r·m. Measured on "
        f"this machine (dense map, {rt['total']} (n, m) cells, the default vectorized jacfwd/jacrev): "
        f"r = {rf['r']:.2g} in flops (the rule picks the cheaper mode in {rf['agree']} of {rf['total']} cells; one "
        f"VJP direction costs {cx['direction_flops_ratio']:.2g}x the flops of one JVP direction) and "
        f"r = {rt['r']:.2g} in time (median of the cells' estimates, quartiles {rt['low']:.2g}-{rt['high']:.2g}; "
        f"the rule picks the faster mode in {rt['agree']} of {rt['total']} cells).",
    ]
    cheap = v["cheap_gradient"]
    if cheap:
        lo = min(c["flops"] for c in cheap.values())
        hi = max(c["flops"] for c in cheap.values())
        lines.append(f"Gradients (m = 1): reverse mode, once n > r; one reverse sweep costs {lo:.2g}-{hi:.2g}x the "
                     "flops of f whatever n is, while forward mode needs n passes.")
    vec = v["vectorizing"]
    parts = []
    for mode in ("forward", "reverse"):
        d = vec[mode]
        where = "at every measured size" if d["faster_everywhere"] else f"but NOT at {d['slower_at']}"
        parts.append(f"{mode} {d['min']:.2g}-{d['max']:.2g}x faster than one direction per pass {where}")
    lines.append("Carrying all directions in one pass (vectorized, the default): " + "; ".join(parts) + ".")
    h = v["hessians"]
    if h["measured"]:
        best = HESSIAN_STRATEGIES[h["best_time"]]
        others = ", ".join(f"{HESSIAN_STRATEGIES[s].short} {_ms(d['time_s'])}" for s, d in h["at_top"].items()
                           if s != h["best_time"])
        skipped = ", ".join(f"{HESSIAN_STRATEGIES[s].short} from n = {n}" for s, n in h["skipped_from"].items())
        if len(h["tied"]) > 1:
            lead = (f"Hessians: {best.name} (`{best.call}`): at n = {h['n']} it ({_ms(h['best_time_s'])}) and "
                    f"{', '.join(HESSIAN_STRATEGIES[s].short for s in h['tied'] if s != h['best_time'])} are within "
                    f"25% in time, and it does the fewest flops ({others})")
        else:
            lead = (f"Hessians: {best.name} (`{best.call}`), fastest at n = {h['n']} ({_ms(h['best_time_s'])}; "
                    f"{others or 'no other nesting measured there'})")
        text = (f"{lead}. Forward-over-reverse and reverse-over-reverse "
                "cost n Hessian-vector products (flops ~ n·cost(f)); forward-over-forward and reverse-over-forward "
                "push n directions through an n-direction gradient (flops ~ n²·cost(f))")
        text += f" and ran out of time budget ({skipped})." if skipped else "."
        if h["peers_at_top"]:
            name, t = h["peers_at_top"][0]
            text += f" Fastest peer at n = {h['n']}: {name} {_ms(t)}."
        lines.append(text)
    lines += _sparse_verdict(v.get("sparse_hessians", {}))
    sparse_line = _sparse_jacobian_verdict(fd.get("sparse", {}))
    if sparse_line:
        lines.append(sparse_line)
    for flag in fd["flags"]:
        lines.append(f"Caution — {flag}.")
    return lines


_WORKLOAD_NAMES = {"rosenbrock": "Rosenbrock", "local3": "local3"}


def _sparse_verdict(sh: dict[str, Any]) -> list[str]:
    """When colouring a sparse Hessian pays: colours against n, the break-even sizes, the largest sizes."""
    if not sh:
        return []
    parts, large = [], []
    for workload, d in sh.items():
        name = _WORKLOAD_NAMES.get(workload, workload)
        colors = "/".join(str(c) for c in d["colors"])
        sizes = [e["n"] for e in d["per_n"] if e["colored"]]
        text = f"{name} needs {colors} colours at every n from {sizes[0]:,} to {sizes[-1]:,}"
        be, bed = d["break_even"], d["break_even_with_detection"]
        if be is None:
            text += ", and the coloured Hessian did not beat the best dense nesting at the largest n both ran"
        else:
            text += (f"; the coloured Hessian beats the best dense nesting from n = {be:,} with a precomputed "
                     "colouring and " + (f"from n = {bed:,} including detection and colouring" if bed is not None
                                         else "not yet including detection and colouring"))
        top = d["largest_both"]
        if top is not None:
            c, dn = top["colored"], top["dense"]
            text += (f" (n = {top['n']:,}: {HESSIAN_STRATEGIES[c['strategy']].short} {_ms(c['time_s'])}, "
                     f"{_ms(c['with_detection_s'])} with detection, against {HESSIAN_STRATEGIES[dn['strategy']].short} "
                     f"{_ms(dn['time_s'])}" + (f" and the fastest dense peer, {top['peer']['strategy']}, "
                                               f"{_ms(top['peer']['time_s'])}" if top["peer"] else "") + ")")
        parts.append(text)
        big = d["largest"]
        if d["dense_up_to"] is None or big["n"] > d["dense_up_to"]:
            large.append(f"{name} at n = {big['n']:,} in {_ms(big['colored']['time_s'])} "
                         f"({_ms(big['colored']['with_detection_s'])} with detection and colouring)")
    line = ("Sparse Hessians (star colouring, `sparsity=`): colouring pays once n exceeds the number of colours by "
            "enough to cover detection and the Python overhead of a pass, as a coloured forward-over-reverse or "
            "reverse-over-reverse Hessian costs one Hessian-vector product per colour instead of one per variable. "
            + "; ".join(parts) + ".")
    if large:
        line += (" Beyond what a dense Hessian can hold only the coloured one runs: " + "; ".join(large) + ".")
    return [line]


def _dur(seconds: float) -> str:
    """A duration for the sparse tables: milliseconds below a second, seconds above."""
    return f"{seconds:.3g} s" if np.isfinite(seconds) and seconds >= 1 else _ms(seconds)


def _span(values: list[int]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"


def _sparse_jacobian_verdict(sp: dict[str, Any]) -> str:
    """The verdict line on sparse Jacobians: colours against n, where colouring starts to pay, the arrowhead."""
    if not sp.get("measured"):
        return ""
    ws = sp["workloads"]
    one_sided = {k: w for k, w in ws.items() if min(w["colors_column"], w["colors_row"]) < w["n"] / 4}
    parts = [f"{w['title']} {min(w['colors_column'], w['colors_row'])}" for w in one_sided.values()]
    top = max(w["n"] for w in ws.values())
    ratio = max((w["colors_column"] / max(1, w["lower_bound"]) for w in one_sided.values()), default=1.0)
    text = (f"Sparse Jacobians: coloured, a Jacobian takes a few passes whatever n is ({', '.join(parts)} colours at "
            f"n up to {top:,}, within {ratio:.2g}x of the lower bound) where the dense modes need n."
            if parts else "Sparse Jacobians:")
    speed = [f"{w['title']} {_dur(w['both']['colored_s'])} against {_dur(w['both']['dense_s'])} dense at n = "
             f"{w['both']['n']:,}" for w in ws.values() if w["both"]]
    if speed:
        text += " Measured: " + "; ".join(speed) + "."
    cross = [w["crossover_n"] for w in ws.values() if w["crossover_n"] is not None]
    shot = [w["one_shot_n"] for w in ws.values() if w["one_shot_n"] is not None]
    if cross:
        text += (f" Colouring is faster from n = {_span(cross)} (of the measured sizes) with the colouring reused "
                 "(SparseJacobian)")
        text += (f", and from n = {_span(shot)} with detection and colouring paid at every call."
                 if shot else ", but detection and colouring at every call did not pay at the sizes measured.")
    arrow = ws.get("arrowhead")
    if arrow:
        t = arrow["top_times"]
        text += (f" The arrowhead defeats both one-sided colourings ({arrow['colors_column']:,} colours at n = "
                 f"{arrow['n']:,}); the bidirectional split needs {arrow['colors_bidirectional']} passes"
                 + (f" ({_dur(t['bidirectional'])})" if "bidirectional" in t else "") + ".")
    return text


def _sparse_jacobian_section(sp: dict[str, Any], rows: Sequence[dict]) -> list[str]:
    if not sp.get("measured"):
        return []
    from .sparse import STRATEGIES

    out = ["## Sparse Jacobians: dense against coloured (`compare.sparse`)\n",
           "Directions per Jacobian (passes, sweeps, or f evaluations for finite differences) and median time; "
           "coloured modes reuse a colouring computed beforehand, `detect+color` is the cost of detecting and "
           "colouring once. `-`: not run at this size (over the budget of numbers per Jacobian).\n"]
    names = [s for s in STRATEGIES if any(r["strategy"] == s for r in rows)]
    body = []
    for r0 in rows:
        if r0["strategy"] != names[0]:
            continue
        at = {r["strategy"]: r for r in rows if r["workload"] == r0["workload"] and r["x"] == r0["x"]}
        body.append([sp["workloads"][r0["workload"]]["title"], r0["x"], r0["nnz"],
                     f"{r0['colors_column']:,} / {r0['colors_row']:,} / {r0['colors_bidirectional']:,} "
                     f"({r0['lower_bound_column']:,})",
                     *[("-" if at[s]["skipped"] or not np.isfinite(at[s]["time_s"]) else
                        (f"{at[s]['directions']:,}: " if s != "detect+color" else "") + _dur(at[s]["time_s"]))
                       if s in at else "-" for s in names]])
    out.append(table(["workload", "n", "nnz", "colours col / row / bidir (bound)", *names], body))
    out.append("")
    return out


_CLOCK_TEXT = {"wall": "wall clock (time.perf_counter)",
               "process": "CPU time of the process (time.process_time: all its threads, none of the time other "
                          "programs held the CPU)"}


def _conditions_lines(fd: dict[str, Any], command: str, seconds: float) -> list[str]:
    c = fd["conditions"]
    pin = (f"pinned to CPU{'s' if len(c.cpus) > 1 else ''} {', '.join(map(str, c.cpus))}" if c.pinned
           else f"not pinned (the OS does not allow it here); allowed CPUs {', '.join(map(str, c.cpus))}")
    return [
        f"- command: `{command}`, scale `{fd['scale']}`, run took {seconds:.0f} s, started {c.started}",
        f"- threads: {c.threads} (BLAS/OpenMP via threadpoolctl; PyTorch via torch.set_num_threads), {pin}, "
        f"{c.cpu_count} CPUs in the machine",
        f"- BLAS: {c.blas_text()}",
        f"- load: {c.load_text()}",
        f"- timing: {_CLOCK_TEXT[c.clock]}; one warm-up call, then the median of at least {fd['repeats']} repeats "
        f"(fast calls repeat up to {20 * fd['repeats']} times, about 20 ms in all; calls slower than the budget fewer; "
        "min, max and count in measurements.csv); garbage collector off while timing; counting off",
        f"- spread: {fd['spread']['wide']} of {fd['spread']['timed']} timed rows have max/min > 2",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in c.versions.items()),
        f"- machine: {c.machine}, Python {c.python}",
    ]


def _sparse_section(fd: dict[str, Any], add) -> None:
    """Dense against coloured Hessians, per workload and n, then every coloured row."""
    sh = fd["verdict"].get("sparse_hessians", {})
    if not sh:
        return
    add("## Sparse Hessians: dense against coloured\n")
    add("A star colouring of the Hessian's pattern (`adops.sparse.SparseHessian`, detected once) lets one batched "
        "pass carry one direction per colour instead of one per variable; the result is `scipy.sparse` CSR. "
        "Best dense nesting against best coloured nesting (precomputed colouring), the time to detect the pattern "
        "and colour it (paid once per pattern), and the fastest peer's dense Hessian. A dense Hessian over 16 MiB "
        "is not attempted.\n")
    body = []
    for workload, d in sh.items():
        for e in d["per_n"]:
            dense, col, peer = e["dense"], e["colored"], e["peer"]
            body.append([_WORKLOAD_NAMES.get(workload, workload), e["n"],
                         f"{e['ncolors']} ({e['lower_bound']})" if col else "-", e.get("nnz", "-"),
                         f"{HESSIAN_STRATEGIES[dense['strategy']].short} {_ms(dense['time_s'])}" if dense else "-",
                         f"{HESSIAN_STRATEGIES[col['strategy']].short} {_ms(col['time_s'])}" if col else "-",
                         _ms(e["detect_s"] + e["color_s"]) if col else "-",
                         f"{e['speedup']:.3g}x / {e['speedup_with_detection']:.3g}x" if "speedup" in e else "-",
                         f"{peer['strategy']} {_ms(peer['time_s'])}" if peer else "-"])
        be, bed = d["break_even"], d["break_even_with_detection"]
        add(f"- {_WORKLOAD_NAMES.get(workload, workload)}, break-even: with a precomputed colouring "
            + (f"from n = {be:,}" if be else "not at the sizes measured") + "; including detection and colouring "
            + (f"from n = {bed:,}" if bed else "not at the sizes measured") + ".")
    add("")
    add(table(["workload", "n", "colours (lower bound)", "nnz", "best dense", "best coloured",
               "detection + colouring", "speed-up (precomputed / with detection)", "fastest dense peer"], body))
    add("\nEvery coloured row (exact flops and evaluations of the evaluation with a precomputed colouring):\n")
    crows = []
    for r in fd["hessian_rows"]:
        s = HESSIAN_STRATEGIES[r["strategy"]]
        if s.colored:
            crows.append([_WORKLOAD_NAMES.get(r.get("workload", "rosenbrock"), r.get("workload")), r["x"], s.short,
                          f"`{s.call}`", *(["-", "-", r["skipped"], "-"] if r.get("skipped") else
                                           [r["flops"], r["ops"], _ms(r["time_s"]),
                                            f"{r['peak_bytes'] / 2 ** 20:.2f}" if r["peak_bytes"] >= 0 else "-"])])
    add(table(["workload", "n", "nesting", "call", "flops", "evals", "time", "peak [MiB]"], crows))
    peer_l = [r for r in fd["peers"]["hessian_rows"] if r.get("workload", "rosenbrock") != "rosenbrock"]
    if peer_l:
        add("\nPeers (dense Hessians) on the other workloads:\n")
        add(table(["workload", "n", "peer", "time"], [[r["workload"], r["x"], r["strategy"],
                                                       r["skipped"] or _ms(r["time_s"])] for r in peer_l]))
    add("")


def markdown(fd: dict[str, Any], files: dict[str, str], command: str, seconds: float) -> str:
    """The whole ``summary.md``: verdict first, then the conditions, then the evidence section by section."""
    out: list[str] = []
    add = out.append
    add("# fwdrev: which mode, measured\n")
    add("## Verdict\n")
    for line in verdict_lines(fd):
        add(f"- {line}")
    add("")
    add("## Conditions\n")
    out.extend(_conditions_lines(fd, command, seconds))
    add("")

    g = fd["gradient_vs_p"]
    s = g["slopes"]
    add(f"## Gradient cost against the number of parameters p (seed graph, n = {g['nodes']} nodes)\n")
    add("Log-log slopes of cost against p at fixed n. Theory: forward mode needs p passes over n nodes, O(n·p), "
        "slope 1; reverse mode one sweep, O(n + p), slope about 0 while p <= n.\n")
    add(table(["strategy", "slope (primitive evals)", "slope (flops)", "slope (time)", "theory"],
              [[k, s["ops"][k], s["flops"][k], s["time_s"][k],
                {"forward-1": "1 (O(n·p))", "forward-vec": "1 in flops, 0 in evals (one pass)",
                 "reverse-vec": "about 0 (O(n+p))"}[k]] for k in ("forward-1", "forward-vec", "reverse-vec")]))
    add(f"\nAt p = {g['p']}: forward one-at-a-time {num(g['forward_flops'])} flops in {_ms(g['forward_time'])}; "
        f"reverse {num(g['reverse_flops'])} flops in {_ms(g['reverse_time'])} "
        f"({g['forward_flops'] / g['reverse_flops']:.0f}x fewer flops).\n")

    add("## Jacobian of R^n -> R^m (dense map) against n and m\n")
    add("Cost divided by the cost of one evaluation of f, log-log slope: forward needs n passes (slope 1 in n, 0 in "
        "m), reverse m sweeps (slope 0 in n, 1 in m).\n")
    add(table(["strategy", "slope vs n (flops / f)", "slope vs m (flops / f)", "theory"],
              [[k, d["n"], d["m"], "n: 1, m: 0" if k.startswith("forward") else "n: 0, m: 1"]
               for k, d in fd["jacobian_slopes"].items()]))
    add("")

    cx = fd["verdict"]["crossover"]
    add("## Crossover\n")
    add("Winner per (n, m) cell, vectorized strategies (F = forward, R = reverse), in flops / in time:\n")
    cells = {(n, m): w for n, m, w in cx["flops"]["winners"]}
    times = {(n, m): w for n, m, w in cx["time"]["winners"]}
    ns = sorted({k[0] for k in cells})
    ms = sorted({k[1] for k in cells})
    add(table(["m \\ n", *map(str, ns)],
              [[str(m), *[f"{cells.get((n, m), '-')[0].upper()} / {times.get((n, m), '-')[0].upper()}"
                          for n in ns]] for m in reversed(ms)]))
    for name, label in (("many_inputs", "many inputs"), ("many_outputs", "many outputs")):
        e = cx["extremes"].get(name)
        if e:
            add(f"\n{label.capitalize()} (n = {e['n']}, m = {e['m']}): forward / reverse = {e['flops']:.3g} in flops, "
                f"{e['time']:.3g} in time.")
    add("")

    add("## Vectorized against one direction per pass (dense map)\n")
    vec = fd["verdict"]["vectorizing"]
    rows = [[mode, x, s] for mode in ("forward", "reverse") for x, s in vec[mode]["speedups"]]
    add(table(["mode", "directions (n or m)", "speed-up of vectorizing (loop time / vectorized time)"], rows))
    add("")

    add("## Cheap-gradient constant\n")
    add("Cost of value-and-gradient by one reverse sweep over the cost of f alone. Theory (Baur-Strassen, "
        "Griewank): a small constant, at most about 3-5 in operation counts, independent of the number of inputs.\n")
    add(table(["workload (default size)", "flops ratio", "primitive-evals ratio", "time / recording f",
               "time / plain NumPy f"],
              [[k, v["flops"], v["ops"], v["time_vs_recording"], v["time_vs_numpy"]]
               for k, v in fd["verdict"]["cheap_gradient"].items()]))
    add("\nAgainst plain NumPy the time also holds the per-primitive Python overhead of taping small arrays.\n")

    add("## Hessians: the four nestings against n (Rosenbrock)\n")
    add("Exact flops and primitive evaluations, median time, peak memory (tracemalloc); a strategy predicted to "
        "exceed its time budget at a size is skipped there and beyond.\n")
    hrows = []
    for r in fd["hessian_rows"]:
        s = HESSIAN_STRATEGIES[r["strategy"]]
        if s.colored or r.get("workload", "rosenbrock") != "rosenbrock":
            continue  # in the sparse section
        if r.get("skipped"):
            hrows.append([r["x"], s.short, f"`{s.call}`", "-", "-", r["skipped"], "-"])
        else:
            hrows.append([r["x"], s.short, f"`{s.call}`", r["flops"], r["ops"], _ms(r["time_s"]),
                          f"{r['peak_bytes'] / 2 ** 20:.2f}" if r["peak_bytes"] >= 0 else "-"])
    add(table(["n", "nesting", "call", "flops", "evals", "time", "peak [MiB]"], hrows))
    h = fd["verdict"]["hessians"]
    if h["measured"]:
        add("\nLog-log slope of flops against n: " + ", ".join(
            f"{HESSIAN_STRATEGIES[k].short} {num(v)}" for k, v in h["flops_slopes"].items()) +
            " (theory: 2 for the n-products nestings, as cost(f) grows like n; 3 for the other two).")
    peer_h = [r for r in fd["peers"]["hessian_rows"] if r.get("workload", "rosenbrock") == "rosenbrock"]
    if peer_h:
        add("\nPeers on the same Hessian:\n")
        add(table(["n", "peer", "time"], [[r["x"], r["strategy"], r["skipped"] or _ms(r["time_s"])]
                                          for r in peer_h]))
    add("")
    _sparse_section(fd, add)

    add(f"## Memory against depth (chain over a p = {fd['plan'].chain_width} vector)\n")
    add("Log-log slope of peak memory (tracemalloc) against depth: " + ", ".join(
        f"{k} {num(v)}" for k, v in fd["memory_slopes"].items()) + ". Theory: reverse 1 (the tape keeps every "
        "node), forward 0.\n")

    add("## Every strategy on each workload\n")
    add(table(["workload", "strategy", "n x m", "passes", "evals primal/jvp/vjp", "flops", "time [ms]",
               "peak [KiB]"],
              [[r["workload"], r["strategy"], f"{r['n_in']} x {r['m_out']}", r["passes"],
                f"{r['ops_primal']}/{r['ops_jvp']}/{r['ops_vjp']}", r["flops"], r["time_s"] * 1e3,
                r["peak_bytes"] / 1024] for r in fd["table_rows"]]))
    add("")

    o = fd["oracle"]
    add("## Oracle check (exact SymPy derivatives, small sizes)\n")
    add(f"Every workload's Jacobian from both engines in every mode against `compare.oracle`: worst relative "
        f"error {o['worst']:.1e} ({'all below 1e-10' if o['all_ok'] else 'SOME ABOVE 1e-10'}).\n")
    modes = sorted({r["engine_mode"] for r in o["rows"]})
    by_w: dict = {}
    for r in o["rows"]:
        by_w.setdefault((r["workload"], r["sizes"]), {})[r["engine_mode"]] = r["max_rel_error"]
    add(table(["workload", "sizes", *modes],
              [[w, sz, *[f"{d[mo]:.1e}" if mo in d else "-" for mo in modes]] for (w, sz), d in by_w.items()]))
    add("")

    out.extend(_sparse_jacobian_section(fd.get("sparse", {}), fd.get("sparse_rows", [])))

    p = fd["peers"]
    add("## Peers\n")
    if not p["requested"]:
        add("Not run (add `--peers`).\n")
    else:
        for note in p["notes"]:
            add(f"- {note}")
        engines = sorted({r["engine"] for r in p["rows"]})
        if engines:
            add("\nDense Jacobian, time at the grid's corners [ms]:\n")
            grid_rows = fd["grid_rows"]
            ns = sorted({r["n_in"] for r in grid_rows})
            corners = ((ns[-1], ns[0]), (ns[0], ns[-1]))
            body = []
            for e, rows_e in [(e, [r for r in p["rows"] if r["engine"] == e]) for e in engines] + [("fwdrev",
                                                                                                   grid_rows)]:
                for n, m in corners:
                    t = {r["strategy"]: r["time_s"] for r in rows_e if r["n_in"] == n and r["m_out"] == m}
                    body.append([e, f"{n} x {m}", *[t.get(s, float("nan")) * 1e3 for s in
                                                    ("forward-1", "reverse-1", "forward-vec", "reverse-vec")]])
            add(table(["engine", "n x m", "forward-1", "reverse-1", "forward-vec", "reverse-vec"], body))
        add("")

    add("## Files\n")
    for key, path in files.items():
        add(f"- `{os.path.basename(path)}` ({key})")
    return "\n".join(out) + "\n"

