# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · What each mode costs
#
# For $f:\mathbb R^n\to\mathbb R^m$ with full Jacobian $J$ ($m\times n$):
#
# | | one pass gives | passes for all of $J$ | cost of one pass | memory |
# |---|---|---|---|---|
# | forward mode | one column $Jv$ | $n$ | a small constant times $\text{cost}(f)$ | what $f$ itself needs |
# | reverse mode | one row $u^\top J$ | $m$ | a small constant times $\text{cost}(f)$ | a tape of every intermediate |
#
# So forward mode costs about $n\cdot\text{cost}(f)$ and reverse mode about $m\cdot\text{cost}(f)$. For a scalar
# loss ($m = 1$) of $p$ parameters computed by a graph of $n$ nodes, that is the classic case for backpropagation: the
# naive, one-parameter-at-a-time way costs $O(n\cdot p)$, backprop $O(n + p)$.
#
# This notebook measures all of that with fwdrev's `compare` package:
# * `compare.workloads`: named families of test functions with a size knob (the seed graph grown to $n$ nodes and
#   $p$ parameters, dense maps $\mathbb R^n\to\mathbb R^m$, an MLP loss, a deep chain);
# * `compare.cost`: for each **strategy** (`forward-1`: one tangent per pass; `forward-vec`: all tangents in one
#   vectorized pass; `reverse-1` and `reverse-vec` likewise for cotangents) it counts primitive evaluations and
#   flops with `adops.count_ops()`, times the call (median of repeats) and measures peak memory;
# * `compare.conditions`: timings depend on the machine's state as much as on the modes, so below NumPy's BLAS
#   runs one thread, as `python -m compare` pins it (with more threads on a busy machine, small batched
#   products can get many times slower and batching looks worse than looping);
# * `compare.plots`: the measured points with the theory lines over them;
# * `compare.choose` / `compare.jacobian(..., mode="auto")`: picks a mode and explains why; `compare.hessian`
#   does the same for the four ways of nesting the modes into a Hessian.
#
# Sizes are kept small so the notebook runs in seconds; `python -m compare` runs the same experiments at larger
# sizes and writes the plots, a CSV and a summary.

# %%
import tempfile
from pathlib import Path

from IPython.display import Image, display

import compare
from compare import cost, oracle, plots, workloads

from threadpoolctl import threadpool_limits

threadpool_limits(limits=1)  # one BLAS thread for the rest of this notebook, as python -m compare measures
out = Path(tempfile.mkdtemp(prefix="fwdrev_costs_"))   # compare.plots writes PNG files; we show them from here


def show(path):
    display(Image(filename=str(path)))


def table(rows, columns):
    header = "".join(f"{c:>14s}" for c in columns)
    print(header)
    for r in rows:
        print("".join(f"{r[c]:>14.4g}" if isinstance(r[c], float) else f"{r[c]!s:>14s}" for c in columns))


# %% [markdown]
# ## 1. The gradient: $O(n\cdot p)$ against $O(n + p)$
#
# Workload `seed_graph` generalises the seed example of notebook 01 ($a = wx + b$, $J = \tfrac12(a-y)^2$ at
# $w=2, x=-2, b=8, y=2$): a chain of $n$ nodes
# $a_i = \tanh(w_{i \bmod p}\,a_{i-1} + b_i)$ into which $p$ scalar parameters feed, and the loss
# $J = \tfrac12(a_n - y)^2$. We fix $n = 64$ nodes and let $p$ grow. Forward mode, one tangent per pass, has to
# run the whole chain once per parameter; reverse mode runs it once and sweeps back once.

# %%
f, args = workloads.build("seed_graph", n=1, p=1, activation=False)
print("seed_graph at n = p = 1 is the seed example: J =", float(f(*args)))

nodes = 64
p_rows = cost.sweep("seed_graph", "p", [2, 4, 8, 16, 32, 64], {"n": nodes},
                    ["forward-1", "forward-vec", "reverse-vec"], repeats=5, memory=False, max_seconds=0.5)
table([r for r in p_rows if r["strategy"] in ("forward-1", "reverse-vec")],
      ["strategy", "x", "passes", "ops", "flops", "time_s"])

# %% [markdown]
# The fitted log-log slopes say how each cost grows with $p$: about 1 for forward mode (linear in $p$, since each
# of the $p$ passes costs the same), and close to 0 for reverse mode (with $n = 64$ fixed, $n + p$ barely moves).

# %%
for metric in ("ops", "flops", "time_s"):
    s = cost.slopes(p_rows, metric)
    print(f"{metric:7s} slope in p:  " + "   ".join(f"{k} {v:5.2f}" for k, v in s.items()))

show(plots.cost_vs_p(p_rows, out / "cost_vs_p.png", nodes=nodes))

# %% [markdown]
# `forward-vec` carries all $p$ tangents through one pass: the *number of primitive calls* stays that of one
# pass, but each call works on $p$ tangents, so its flops still grow with $p$ (the slope approaches 1 once the
# tangent work dominates the primal). Vectorizing does save arithmetic — the primal now runs once instead of $p$
# times — but the tangent work, which grows with $p$, remains; most of the time saved is Python overhead.
#
# The **cheap gradient principle** says reverse mode delivers the whole gradient for a small constant multiple of
# the cost of $f$, independent of $p$. `cost.cheap_gradient` measures that constant (value and gradient over $f$
# alone) for three scalar workloads:

# %%
for name in ("seed_graph", "mlp", "chain"):
    f, args = workloads.build(name)
    c = cost.cheap_gradient(f, args, repeats=3)
    print(f"{name:11s} flops ratio {c['flops']:4.2f}   ops ratio {c['ops']:4.2f}   "
          f"time vs recording f on a tape {c['time_vs_recording']:4.2f}   "
          f"time vs plain NumPy f {c['time_vs_numpy']:6.1f}")

# %% [markdown]
# In flops, value and gradient together cost a small constant multiple of $f$ (the ratios printed above, all
# below 3), whatever the number of parameters. The time against *plain NumPy* is larger: on these small arrays
# most of the time is the Python overhead of recording every primitive on the tape, which the ratio to
# recording alone factors out.
#
# ## 2. Full Jacobians: columns against rows
#
# Workload `dense` is $f(x) = W_2\tanh(W_1x + b_1)$, $\mathbb R^n\to\mathbb R^m$ through 16 hidden units. With
# one direction per pass, forward mode needs $n$ passes and reverse mode $m$ sweeps. Vary $n$ at $m = 4$, then $m$
# at $n = 4$:

# %%
sizes = [2, 4, 8, 16, 32, 64]
n_rows = cost.sweep("dense", "n", sizes, {"m": 4}, repeats=3, memory=False, max_seconds=0.3)
m_rows = cost.sweep("dense", "m", sizes, {"n": 4}, repeats=3, memory=False, max_seconds=0.3)
print("vary n (m = 4):")
table([r for r in n_rows if r["strategy"].endswith("-1")], ["strategy", "n_in", "m_out", "passes", "flops", "time_s"])
show(plots.jacobian_vs_size(n_rows, m_rows, out / "jacobian_vs_n_m.png", fixed_m=4, fixed_n=4))

# %% [markdown]
# Over a grid of shapes the winner flips along the diagonal $n \approx m$. Each cell of the map below is
# $\log_2(\text{forward cost}/\text{reverse cost})$: red where forward mode wins ($n < m$, tall Jacobians), blue
# where reverse mode wins ($n > m$, wide ones), with the factor written in.

# %%
grid_rows = []
for n in (1, 4, 16, 64):
    for m in (1, 4, 16, 64):
        f, args = workloads.build("dense", n=n, m=m)
        grid_rows += cost.measure(f, args, repeats=3, memory=False, max_seconds=0.2,
                                  extra={"size_n": n, "size_m": m})
show(plots.crossover_map(grid_rows, out / "crossover.png"))

# %% [markdown]
# Carrying all directions in one vectorized pass (`forward-vec`, `reverse-vec`) does the same tangent arithmetic
# (and the primal only once) in far fewer, larger NumPy calls. With one BLAS thread it is faster than looping over
# directions at every size measured, for both modes, and the gain grows with the number of directions; the
# pinned `python -m compare` run finds the same up to 512 directions, on a quiet machine and on one whose cores
# are all busy:

# %%
for rows, mode in ((n_rows, "forward"), (m_rows, "reverse")):
    t = {(r["x"], r["strategy"]): r["time_s"] for r in rows}
    print(f"{mode}: loop time / vectorized time at", {x: round(t[(x, f"{mode}-1")] / t[(x, f"{mode}-vec")], 1)
                                                      for x in sizes})
show(plots.vectorized_vs_loop(n_rows, m_rows, out / "vectorized_vs_loop.png"))

# %% [markdown]
# ## 3. Memory: reverse mode keeps a tape
#
# The price of reverse mode is memory: every intermediate value stays on the tape until the sweep reaches it,
# so memory grows with the depth of the computation. Forward mode holds only the current values and their
# tangents. Workload `chain` is a depth-$n$ chain of $\tanh$ nodes over a 32-vector; peak memory of the gradient
# against depth (measured with `tracemalloc`):

# %%
mem_rows = cost.sweep("chain", "n", [4, 8, 16, 32, 64, 128], {"p": 32},
                      ["forward-1", "forward-vec", "reverse-vec"], timing=False)
for strategy in ("forward-vec", "reverse-vec"):
    print(f"{strategy:12s} peak bytes:", [r["peak_bytes"] for r in mem_rows if r["strategy"] == strategy])
show(plots.memory_vs_depth(mem_rows, out / "memory_vs_depth.png", width=32))

# %% [markdown]
# (Notebook 03 shows the remedy, `revad.checkpoint`, which stores one value per block and recomputes the rest.)
#
# ## 4. Choosing automatically, and saying why
#
# `compare.jacobian(f, x, mode="auto")` decides per call. It runs one JVP and one VJP along random directions
# under `adops.count_ops()`, which gives the exact primitive calls and flops of one evaluation of $f$, of one
# forward direction and of one reverse direction; it scales them to the passes each mode makes and prices them
# with this machine's cost constants (seconds per primitive call and per flop in each engine, calibrated once
# from medians and cached; `compare.calibrate(force=True)` measures them again). `compare.explain` prints the
# reasoning with the numbers.

# %%
examples = {
    "scalar MLP loss": workloads.build("mlp"),
    "dense R^4 -> R^64": workloads.build("dense", n=4, m=64),
    "dense R^64 -> R^4": workloads.build("dense", n=64, m=4),
    "elementwise R^32 -> R^32": workloads.build("elementwise", n=32),
}
for name, (f, args) in examples.items():
    choice = compare.choose.choose(f, *args)
    print(f"{name}: {choice.mode} mode")
    print("   " + choice.explain() + "\n")

# %% [markdown]
# The choice is about cost only; the answer is the same whichever mode runs. Checked against the exact oracle on
# a small dense map in both orientations:

# %%
for n, m in [(3, 12), (12, 3)]:
    f, (x,) = workloads.build("dense", n=n, m=m, hidden=4)
    J_auto = compare.jacobian(f, x, mode="auto")
    err = oracle.relative_error(J_auto, oracle.jacobian(f, x))
    print(f"R^{n} -> R^{m}: auto chose {compare.choose.choose(f, x).mode:7s}  Jacobian shape {J_auto.shape}, "
          f"max relative error against the oracle {err:.1e}")
    assert err < 1e-12

# %% [markdown]
# Two remarks on the model. For an elementwise function ($\mathbb R^n\to\mathbb R^n$, diagonal Jacobian) both
# modes need $n$ directions and the model calls it nearly even (the factor printed above is close to 1), though
# a single forward pass with a tangent of ones already gives the whole diagonal (notebook 02 used that trick).
# Where both modes do the same flops the priced overheads decide, not a rule.
#
# **Summary**
#
# * Forward mode: about $n$ evaluations of $f$ for a Jacobian, no tape. Reverse mode: about $m$, plus a tape.
# * For a scalar loss of $p$ parameters that is $O(n\cdot p)$ against $O(n + p)$: measured slopes about
#   1 and about 0 in $p$.
# * The crossover sits near $n = m$; vectorizing over directions saves the repeated primal work and, above all,
#   time — it does not change which mode wins.
# * `compare.jacobian(..., mode="auto")` picks from exact per-direction counts priced for this machine, and can
#   say why; `compare.hessian(f, x)` picks among the four nestings the same way, and colours a sparse Hessian
#   when that is cheaper.
