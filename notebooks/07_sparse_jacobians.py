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
# # 07 · Sparse Jacobians: colour the columns, compress the passes
#
# Notebook 05 measured the basic cost law for the Jacobian $J$ ($m\times n$) of $f:\mathbb R^n\to\mathbb R^m$:
# one forward pass pushes one tangent $v$ and returns one column combination $Jv$, so forward mode needs $n$ passes
# for all of $J$; one reverse sweep pulls one cotangent $u$ and returns $u^\top J$, so reverse mode needs $m$.
#
# That law assumes we learn nothing from the *structure* of $J$. The Jacobians of discretized differential
# equations, of chains of local interactions and of many simulation codes are **sparse**: each output depends on
# a handful of inputs. Then far fewer passes suffice. A tridiagonal Jacobian of any size needs **3** forward passes,
# not $n$.
#
# This notebook
# 1. builds a tridiagonal example (a discretized boundary-value problem) and shows by hand why 3 passes are enough;
# 2. explains what a **colouring** is and draws it: the pattern, the colour groups, the compressed matrix and how
#    each entry is read back;
# 3. finds the pattern automatically with `adops.sparse.jacobian_sparsity`, and shows why it is *global*;
# 4. reuses one `SparseJacobian` through a Newton iteration;
# 5. measures dense against coloured forward mode as $n$ grows;
# 6. shows the arrowhead, where colouring only columns (or only rows) cannot help.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg
from matplotlib.colors import ListedColormap
from matplotlib.patches import ConnectionPatch

import adops
import dualad
import revad
from adops.sparse import SparseJacobian, color_columns, color_rows, jacobian_sparsity

np.set_printoptions(precision=4, suppress=True, linewidth=120)
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]  # colour c of a colouring is PALETTE[c]

# %% [markdown]
# ## 1. A tridiagonal Jacobian: the 1-D Bratu problem
#
# The Bratu problem $u''(x) + \lambda e^{u(x)} = 0$ on $(0, 1)$ with $u(0) = u(1) = 0$ models, for example, heat
# released by a reaction that speeds up with temperature. Take $n$ interior grid points $x_i = i h$, $h = 1/(n+1)$,
# with unknowns $u_1, \dots, u_n$ and the boundary values $u_0 = u_{n+1} = 0$. Replacing $u''$ by the central
# difference and multiplying by $h^2$ gives $n$ equations $F(u) = 0$:
#
# $$F_i(u) = u_{i+1} - 2u_i + u_{i-1} + h^2\lambda\, e^{u_i}, \qquad i = 1, \dots, n.$$
#
# In NumPy, the boundary zeros are padded on with `np.pad`, and the stencil is three slices:

# %%
LAM = 1.0


def bratu(u, lam=LAM):
    h = 1.0 / (u.shape[0] + 1)
    v = np.pad(u, 1)                                   # v = (0, u_1, ..., u_n, 0): the boundary values
    return v[2:] - 2 * v[1:-1] + v[:-2] + h**2 * lam * np.exp(v[1:-1])


n = 10
u = np.linspace(0.1, 0.5, n) ** 2                      # any point will do for now
J = dualad.jacfwd(bratu)(u)                            # dense forward mode: n tangent directions
print(J)
print(f"{np.count_nonzero(J)} nonzeros out of {J.size}; tridiagonal:",
      np.array_equal(J != 0, np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 1))

# %% [markdown]
# $F_i$ involves only $u_{i-1}, u_i, u_{i+1}$, so row $i$ of $J$ has at most three nonzeros and $J$ is tridiagonal:
# $3n - 2$ nonzeros among $n^2$ entries. Dense forward mode computed all $n^2$ of them, mostly zeros.
#
# ## 2. Why three passes are enough
#
# A forward pass with tangent $v$ returns $Jv = \sum_j v_j\,J_{:,j}$, a weighted sum of columns. With $v = e_j$ it
# returns column $j$ alone. Now take $v = e_0 + e_3 + e_6 + e_9$: it returns $J_{:,0} + J_{:,3} + J_{:,6} +
# J_{:,9}$. Column $j$ is nonzero only in rows $j-1, j, j+1$, so these four columns occupy disjoint rows
# ($\{0,1\}$, $\{2,3,4\}$, $\{5,6,7\}$, $\{8,9\}$) and nothing in the sum overlaps: every row of the result holds
# exactly one entry of $J$, and we know which. Three such tangents, grouping the columns by $j \bmod 3$, deliver
# all of $J$.
#
# This is the observation of Curtis, Powell and Reid (1974): **columns that share no row can share a pass**. Done
# by hand with `dualad.jvp`:

# %%
groups = [np.arange(c, n, 3) for c in range(3)]        # columns j with j % 3 == c
rebuilt = np.zeros((n, n))
for c, cols in enumerate(groups):
    seed = np.zeros(n)
    seed[cols] = 1.0                                   # the sum of the unit vectors of this group
    _, Jv = dualad.jvp(bratu, (u,), (seed,))           # one forward pass: the sum of these columns
    for j in cols:
        rows = [i for i in (j - 1, j, j + 1) if 0 <= i < n]
        rebuilt[rows, j] = Jv[rows]                    # row i of Jv holds J[i, j] and nothing else
    print(f"pass {c}: seed columns {cols.tolist()}  ->  J @ seed = {Jv}")
print("three passes rebuilt J exactly:", np.array_equal(rebuilt, J))

# %% [markdown]
# Three passes for $n = 10$, and still three for $n = 10^6$: the count depends on how many nonzeros share a row,
# not on $n$.
#
# ## 3. What a colouring is
#
# Give every column a **colour** such that two columns with a nonzero in the same row never get the same colour.
# Then each colour class can share one pass. In graph terms: draw the *bipartite graph* with a node per row and a
# node per column and an edge for each nonzero $J_{ij}$. Two columns conflict when they are two edges apart
# (column–row–column), so this is a **distance-2 colouring** of the column nodes. Forward mode needs one pass per
# colour.
#
# Reverse mode is the transpose: a sweep with cotangent $u = \sum_{i\in\text{group}} e_i$ returns
# $\sum_i J_{i,:}$, a sum of rows, which can be read back if those rows share no column. So reverse mode colours
# the **rows** (rows sharing a column conflict) and needs one sweep per row colour.
#
# Neither can beat a simple **lower bound**: the nonzeros of one row all sit in different columns that pairwise
# conflict, so the columns need at least as many colours as the longest row has nonzeros (for rows: the longest
# column). Finding the fewest colours is NP-hard in general; a greedy pass that visits the columns in a good order
# and gives each the smallest colour free among its rows is fast and usually at or near the bound.
#
# `adops.sparse.color_columns` takes a pattern (any boolean matrix, dense or `scipy.sparse`) and returns a
# `Coloring` that explains itself:

# %%
pattern = sp.csr_array(J != 0)
col = color_columns(pattern)
print(col)
print("colour of each column:", col.colors)
print("groups:", [g.tolist() for g in col.groups])
print(col.explain())
col.check()                                            # raises unless no two columns of one colour share a row
rows_col = color_rows(pattern)
print("\n" + rows_col.explain())

# %% [markdown]
# The greedy colouring meets the lower bound (3 colours): it found our $j \bmod 3$ groups, numbered differently
# (which colour is called 0 does not matter). `col.seeds()` is the **seed matrix** $S$: one row per
# colour, the sum of that colour's unit vectors. The compressed passes compute $B = J S^\top$ (one column of $B$
# per colour), and `col.decompress(B, layout="matrix")` reads each entry back: $J_{ij} = B_{i,\,c(j)}$ where $c(j)$
# is the colour of column $j$ and $J_{ij}$ is in the pattern. (The engines hand over one row per pass, $B^\top$:
# that is `decompress`'s default layout.)

# %%
S = col.seeds()
B = J @ S.T                                            # what the 3 compressed forward passes return, side by side
print("seed matrix S (colours x columns):\n", S.astype(int))
print("compressed B = J S^T, shape", B.shape)
recovered = col.decompress(B, layout="matrix")         # scipy.sparse CSR
print("decompressed equals J:", np.allclose(recovered.toarray(), J))

# %% [markdown]
# ### The picture
#
# Left: the sparsity pattern (a *spy plot*: a square for each structural nonzero). Middle: the same pattern with
# each column painted in its colour; no row holds a colour twice, and every full row needs all three (the lower
# bound). Right: the seed matrix, transposed so that each column is the tangent of one pass: the sum of the unit
# vectors of one colour's columns.

# %%
cmap = ListedColormap(PALETTE[:col.ncolors])
dense_pattern = pattern.toarray()
painted = np.where(dense_pattern, col.colors[None, :], np.nan)  # entry (i, j) painted with the colour of column j
ticks = dict(labelsize=7, labeltop=False, labelbottom=True, top=False)

fig, axes = plt.subplots(1, 3, figsize=(11, 4.4), gridspec_kw={"width_ratios": [n, n, 3 * 1.4]})
axes[0].spy(pattern, markersize=9, color="0.2")
axes[0].set_title(f"pattern: {pattern.nnz} nonzeros in {n} x {n}")
axes[1].imshow(painted, cmap=cmap, vmin=-0.5, vmax=col.ncolors - 0.5)
axes[1].set_title(f"columns coloured: {col.ncolors} colours")
axes[1].set_xticks(range(n), [f"{j}" for j in range(n)])
for j, label in enumerate(axes[1].get_xticklabels()):
    label.set_color(PALETTE[col.colors[j]])
    label.set_fontweight("bold")
axes[2].imshow(np.where(S.T == 1, np.arange(col.ncolors)[None, :], np.nan), cmap=cmap, vmin=-0.5,
               vmax=col.ncolors - 0.5, aspect=0.55)
for j, c in enumerate(col.colors):
    axes[2].text(c, j, "1", ha="center", va="center", color="white", fontweight="bold")
axes[2].set_title("seeds S$^T$")
axes[2].set_xticks(range(col.ncolors), [f"pass {c}" for c in range(col.ncolors)])
for ax in axes:
    ax.set_yticks(range(n))
    ax.tick_params(**ticks)
axes[0].set_xticks(range(n))
axes[2].set_ylabel("input j")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### The compressed matrix and decompression, entry by entry
#
# The pass for colour $c$ returns column $c$ of $B = J S^\top$, the sum of the columns of group $c$. Its row $i$ is
# $\sum_{j \in \text{group } c} J_{ij}$, and by construction at most one of those $J_{ij}$ is in the pattern. So
# $J_{ij} = B_{i,c(j)}$: decompression is a gather, with no arithmetic. Below, $J$ at a point where its diagonal
# varies more (left), and $B$ (right) with the entry of $J$ each cell holds; the arrows follow three entries.

# %%
u_show = np.linspace(0.0, 4.0, n)
J_show = dualad.jacfwd(bratu)(u_show)
B_show = np.stack([dualad.jvp(bratu, (u_show,), (seed,))[1] for seed in S], axis=1)  # the 3 compressed passes
assert np.allclose(B_show, J_show @ S.T) and np.allclose(col.decompress(B_show, layout="matrix").toarray(), J_show)
B_painted = np.where(B_show != 0, np.arange(col.ncolors)[None, :], np.nan)

fig, (axJ, axB) = plt.subplots(1, 2, figsize=(10, 4.8), gridspec_kw={"width_ratios": [n, 3 * 2.0]})
axJ.imshow(painted, cmap=cmap, vmin=-0.5, vmax=col.ncolors - 0.5, alpha=0.4)
for i, j in zip(*np.nonzero(dense_pattern)):
    axJ.text(j, i, f"{J_show[i, j]:.2f}", ha="center", va="center", fontsize=6.5)
axJ.set_title("J, columns coloured")
axB.imshow(B_painted, cmap=cmap, vmin=-0.5, vmax=col.ncolors - 0.5, alpha=0.4, aspect=0.6)
for i in range(n):
    for c in range(col.ncolors):
        members = col.groups[c][dense_pattern[i, col.groups[c]]]   # the pattern entries of row i in group c
        assert len(members) <= 1                                   # what makes the colouring valid
        if len(members):
            axB.text(c, i, f"J[{i},{members[0]}]  {B_show[i, c]:.2f}", ha="center", va="center", fontsize=7)
axB.set_title("B = J S$^T$: each cell holds one entry of J")
axB.set_xticks(range(col.ncolors), [f"pass {c}" for c in range(col.ncolors)])
for i, j in [(1, 2), (4, 4), (8, 9)]:
    c = int(col.colors[j])
    assert B_show[i, c] == J_show[i, j]                            # the gather is exact
    axJ.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec=PALETTE[c], lw=2))
    axB.add_patch(plt.Rectangle((c - 0.5, i - 0.5), 1, 1, fill=False, ec=PALETTE[c], lw=2))
    fig.add_artist(ConnectionPatch(xyA=(j + 0.5, i - 0.5), coordsA=axJ.transData, xyB=(c - 0.5, i - 0.5),
                                   coordsB=axB.transData, arrowstyle="-|>", color=PALETTE[c], lw=1.6,
                                   connectionstyle="arc3,rad=-0.12"))
for ax in (axJ, axB):
    ax.set_yticks(range(n))
    ax.tick_params(**ticks)
axJ.set_xticks(range(n))
plt.tight_layout()
plt.show()

# %% [markdown]
# The engines do all of this for you: `dualad.jacfwd(f, sparsity=...)` runs the compressed forward passes as one
# batched pass with one tangent per colour, and `revad.jacrev(f, sparsity=...)` one batched reverse sweep with one
# cotangent per row colour (chunked, like the dense Jacobians, when there are many colours). `sparsity` may be a
# pattern, a `Coloring`, a `SparseJacobian` (section 5) or `"auto"`: detect the pattern at *every call* (the call's
# other arguments, a constant the function closes over, or the branch a Python `if` takes can change it, and only
# running `f` sees them all), reusing the colouring of any identical pattern found before. The result is a
# `scipy.sparse` CSR matrix:

# %%
for name, jac in (("dualad.jacfwd", dualad.jacfwd), ("revad.jacrev", revad.jacrev)):
    Js = jac(bratu, sparsity="auto")(u)
    print(f"{name}(bratu, sparsity='auto'): {type(Js).__name__} {Js.shape}, nnz {Js.nnz}, "
          f"equals dense J: {np.allclose(Js.toarray(), J)}")

# %% [markdown]
# ## 4. Finding the pattern: `jacobian_sparsity`
#
# Above we read the pattern off the dense Jacobian, which defeats the purpose. `jacobian_sparsity(f, *args)` finds
# it without computing any derivative: it runs `f` on values that carry, for each element, the set of inputs it
# may depend on (a boolean sparse matrix, elements × inputs). Each op in the registry says how those sets flow
# through it: an elementwise op keeps each element's set; a slice, `np.pad` or a reshape moves sets around; a sum
# unites them; a matrix product with a constant matrix follows that matrix's nonzeros. The work is vectorized over
# whole arrays, so detection costs a few sparse-matrix operations per op, not one Python step per element.

# %%
P = jacobian_sparsity(bratu, u)
print(type(P).__name__, P.shape, P.dtype, "nnz", P.nnz)
print("same pattern as the dense Jacobian's nonzeros:", np.array_equal(P.toarray(), J != 0))
big = np.zeros(100_000)
t0 = time.perf_counter()
P_big = jacobian_sparsity(bratu, big)
t_detect = time.perf_counter() - t0
print(f"n = 100,000: {P_big.nnz} nonzeros found in {t_detect * 1e3:.0f} ms "
      f"(a dense Jacobian would hold {big.size**2 * 8 / 1e9:.0f} GB)")
assert P_big.nnz == 3 * big.size - 2

# %% [markdown]
# ### Why the pattern is global
#
# A pattern is useful only if it stays valid when we reuse it at other points (section 5 evaluates the Jacobian
# at every Newton step). So by default `jacobian_sparsity` returns a **global** pattern: every entry that can be
# nonzero for this control flow, at any point. The interesting case is `np.where` with a condition computed from
# the inputs: at this point it picks one branch per element, but at another point it may pick the other. During
# detection a comparison of traced values returns a mask marked as *varying*, and `np.where` on a varying mask
# unites the patterns of both branches. `local=True` instead takes the branch chosen at this point. (The same
# marker makes an index computed from the inputs, as in `u[np.argsort(u)]`, select along its whole axis; a copy
# such as `np.array(u > 0)` is recognized by its values. A Python number taken from one, `int(np.argmax(u))`, is
# not: keep masks and indices as arrays.)
#
# Take $g(u) = $ `np.where(u > 0, u**2, u[::-1])`: each output is $u_i^2$ or the mirrored input $u_{n-1-i}$,
# depending on the sign of $u_i$.

# %%
def g(u):
    return np.where(u > 0, u**2, u[::-1])


x = np.array([1.0, -2.0, 3.0, -4.0, 5.0])
P_global = jacobian_sparsity(g, x)
P_local = jacobian_sparsity(g, x, local=True)
print("global pattern (both branches):\n", P_global.toarray().astype(int))
print("local pattern at x = (1, -2, 3, -4, 5):\n", P_local.toarray().astype(int))

# %% [markdown]
# The local pattern is a permutation matrix, so one colour covers every column and one pass gives $J$ at $x$.
# It is right at $x$ (the check below passes there). At $-x$ every sign flips and four of the five nonzeros of the
# true Jacobian sit where the local pattern has none. A compressed pass cannot tell: each of those derivatives
# lands in a slot that the pattern assigns to another entry of the same row. The global pattern is right at both
# points.

# %%
for point, name in ((x, "x"), (-x, "-x")):
    dense = dualad.jacfwd(g)(point)
    with_local = dualad.jacfwd(g, sparsity=P_local)(point).toarray()
    with_global = dualad.jacfwd(g, sparsity=P_global)(point).toarray()
    print(f"at {name:2s}: local pattern gives the right J: {np.allclose(with_local, dense)!s:5s}   "
          f"global pattern: {np.allclose(with_global, dense)}")
    assert np.allclose(with_global, dense)
print(f"colours: local {color_columns(P_local).ncolors}, global {color_columns(P_global).ncolors}")

# %% [markdown]
# That silent error is why global is the default and `local=True` is for one-off Jacobians at the point where
# the pattern was found. (When a missed derivative lands in a slot no pattern entry covers, `decompress` does
# notice and raises, naming the output; here it could not.)
#
# ## 5. Detect once, evaluate many times: Newton's method
#
# Newton's method for $F(u) = 0$ repeats $J(u_k)\,\delta = -F(u_k)$, $u_{k+1} = u_k + \delta$. The Jacobian changes
# every step, its pattern never does. `SparseJacobian.detect(f, u)` finds the pattern once and colours it on first
# use; passing it as `sparsity=` reuses both, and the CSR result goes straight into `scipy.sparse.linalg.spsolve`.
# Reuse is a promise: every step runs the same program as the detection did (here it does: no branches, no
# changing constants). `sparsity="auto"` would also be right, at the cost of one detection per step.
#
# For $\lambda = 1$ the continuous problem has the exact solution
# $u(x) = -2\ln\!\big(\cosh(\theta(x - \tfrac12)/2) / \cosh(\theta/4)\big)$ where $\theta$ solves
# $\theta = \sqrt{2\lambda}\,\cosh(\theta/4)$ (the smaller root), which lets us check the answer too.

# %%
n = 400
x_grid = np.arange(1, n + 1) / (n + 1)
u = np.zeros(n)
sj = SparseJacobian.detect(bratu, u)
jac = dualad.jacfwd(bratu, sparsity=sj)
print(sj)

norms = [np.linalg.norm(bratu(u))]
print(f"start:  |F(u)| = {norms[0]:.2e}")
for step in range(5):
    u = u + scipy.sparse.linalg.spsolve(jac(u).tocsc(), -bratu(u))
    norms.append(np.linalg.norm(bratu(u)))
    print(f"step {step + 1}: |F(u)| = {norms[-1]:.2e}")
print(sj, "- coloured once, reused at every step")
assert norms[-1] < 1e-13 and norms[2] < 1e-3 * norms[0]

theta = np.sqrt(2 * LAM)
for _ in range(100):                                   # fixed point; converges for the smaller root at lam = 1
    theta = np.sqrt(2 * LAM) * np.cosh(theta / 4)
exact = -2 * np.log(np.cosh(theta * (x_grid - 0.5) / 2) / np.cosh(theta / 4))
err = np.max(np.abs(u - exact))
print(f"max |u - exact| = {err:.1e}, below h^2 = {(1 / (n + 1)) ** 2:.1e}")
assert err < (1 / (n + 1)) ** 2

# %% [markdown]
# The residual falls quadratically — the exponent roughly doubles each step — until it reaches rounding level
# (a few $10^{-16}$) after three steps; the remaining difference from the exact solution is the discretization
# error of the difference scheme, not the solver's.

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
ax1.semilogy(range(len(norms)), np.maximum(norms, 1e-300), "o-")
ax1.set_xlabel("Newton step")
ax1.set_ylabel("|F(u)|")
ax1.set_title("residual (Jacobian: 3 coloured passes per step)")
ax2.plot(x_grid, u, label="Newton, n = 400")
ax2.plot(x_grid[::25], exact[::25], "k.", label="exact")
ax2.set_xlabel("x")
ax2.set_ylabel("u(x)")
ax2.set_title(r"solution of $u'' + e^u = 0$, $u(0) = u(1) = 0$")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Measured: dense against coloured forward mode
#
# For growing $n$, dense `dualad.jacfwd(bratu)` against `dualad.jacfwd(bratu, sparsity=sj)` with a detected and
# coloured `SparseJacobian` (detection and colouring done once, outside the timing, as in a Newton loop). Two
# exact counts and one measurement:
# * **directions**: tangent vectors pushed through `bratu` (`jacfwd` carries them all in one batched pass): $n$
#   dense, the number of colours when compressed;
# * **JVP flops**: the derivative arithmetic, counted by `adops.count_ops()`; it is the flops of one direction
#   times the number of directions;
# * **time**: median of a few repeats (`time.perf_counter`), which also includes writing the $n^2$ dense entries
#   or the $3n - 2$ sparse ones.

# %%
def median_time(fn, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def jvp_flops(fn):
    with adops.count_ops() as counts:
        fn()
    return counts.total("jvp")


sizes = [25, 50, 100, 200, 400, 800]
rows = []
print(f"{'n':>6s} {'dense dirs':>11s} {'col. dirs':>10s} {'dense JVP flops':>16s} {'col. JVP flops':>15s} "
      f"{'dense ms':>9s} {'col. ms':>8s}")
for n in sizes:
    u = np.random.default_rng(0).random(n)
    sj = SparseJacobian.detect(bratu, u)
    dense_jac, sparse_jac = dualad.jacfwd(bratu), dualad.jacfwd(bratu, sparsity=sj)
    assert np.allclose(sparse_jac(u).toarray(), dense_jac(u))
    one = jvp_flops(lambda: dualad.jvp(bratu, (u,), (np.ones(n),)))      # one direction
    r = {"n": n, "dense_dirs": n, "col_dirs": sj.coloring("forward").ncolors,
         "dense_flops": jvp_flops(lambda: dense_jac(u)), "col_flops": jvp_flops(lambda: sparse_jac(u)),
         "dense_s": median_time(lambda: dense_jac(u)),
         "col_s": median_time(lambda: sparse_jac(u))}
    assert r["dense_flops"] == n * one and r["col_flops"] == r["col_dirs"] * one
    rows.append(r)
    print(f"{n:6d} {n:11d} {r['col_dirs']:10d} {r['dense_flops']:16d} {r['col_flops']:15d} "
          f"{r['dense_s'] * 1e3:9.2f} {r['col_s'] * 1e3:8.3f}")

# %%
ns = np.array(sizes)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
ax1.loglog(ns, [r["dense_dirs"] for r in rows], "o-", color=PALETTE[3], label="dense: n directions")
ax1.loglog(ns, [r["col_dirs"] for r in rows], "s-", color=PALETTE[0], label="coloured: 3 directions")
ax1.set_xlabel("n")
ax1.set_ylabel("tangent directions (exact)")
ax1.legend()
ax1.set_title("passes needed")
ax2.loglog(ns, [r["dense_s"] for r in rows], "o-", color=PALETTE[3], label="dense jacfwd")
ax2.loglog(ns, [r["col_s"] for r in rows], "s-", color=PALETTE[0], label="coloured jacfwd")
ax2.set_xlabel("n")
ax2.set_ylabel("seconds (median)")
ax2.legend()
ax2.set_title("time per Jacobian")
for ax in (ax1, ax2):
    ax.set_xticks(ns, [str(v) for v in sizes])
    ax.set_xticks([], minor=True)
plt.tight_layout()
plt.show()

grow = {key: rows[-1][key] / rows[2][key] for key in ("dense_s", "col_s")}
speedup = rows[-1]["dense_s"] / rows[-1]["col_s"]
print(f"from n = {sizes[2]} to {sizes[-1]} ({sizes[-1] // sizes[2]}x): dense time x{grow['dense_s']:.0f}, coloured "
      f"time x{grow['col_s']:.1f}; at n = {sizes[-1]} the coloured Jacobian is {speedup:.0f}x faster")
assert all(r["col_dirs"] == 3 for r in rows) and speedup > 10

# %% [markdown]
# The direction counts are exact: $n$ against 3 at every size, and the JVP flops follow them exactly (the assert
# checks dense flops $= n \times$ one direction, coloured $= 3 \times$). Time tells the same story with noise. At
# the smallest sizes both take about the same: a fixed per-call overhead dominates. Then dense time climbs
# steeply: its $n$ directions are each $n$-vectors, so its work and memory grow like $n^2$ (from $n = 100$ to
# $800$, $n^2$ grows 64-fold; the measured factor is printed above, and on a busy machine large fresh arrays can
# make it larger still). The coloured Jacobian does $O(n)$ work and
# stays nearly flat over these sizes, still dominated by the per-call overhead.
#
# ## 7. Where one-sided colouring cannot help: the arrowhead
#
# Take $a(x)_0 = \sum_j x_j^2$ and $a(x)_i = x_0 x_i + x_i^2$ for $i \ge 1$. Its Jacobian is an **arrowhead**: a
# dense first row, a dense first column and the diagonal.

# %%
def arrowhead(x):
    return np.concatenate([np.sum(x**2, keepdims=True), x[0] * x[1:] + x[1:] ** 2])


n = 12
x = np.linspace(0.5, 1.5, n)
P_arrow = jacobian_sparsity(arrowhead, x)
by_cols, by_rows = color_columns(P_arrow), color_rows(P_arrow)
print(by_cols.explain())
print(by_rows.explain())

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
axes[0].spy(P_arrow, markersize=6, color="0.2")
axes[0].set_title(f"arrowhead pattern, n = {n}")
split = np.where(P_arrow.toarray(), np.where(np.arange(n)[:, None] == 0, 0, 1 + (np.arange(n)[None, :] > 0)),
                 np.nan)
axes[1].imshow(split, cmap=ListedColormap(PALETTE[3:6]), vmin=-0.5, vmax=2.5)
axes[1].set_title("1 reverse sweep (row 0)\n+ 2 forward passes (the rest)")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()

# %% [markdown]
# The dense row puts every column in one row, so all $n$ columns conflict and column colouring needs $n$ colours:
# no better than dense forward mode. The dense column does the same to the rows. Both colourings meet their lower
# bound ($n$): this is not a weak greedy order, it is the limit of colouring one side.
#
# Using **both** modes gets around it (bidirectional colouring): one reverse sweep with cotangent $e_0$ gives the
# dense row, and the remaining rows $1, \dots, n-1$ form a pattern whose column colouring needs only 2 colours
# (column 0, and all the diagonal columns together). Three passes in all, at any $n$ (right panel above: the red
# row from the reverse sweep, the purple and brown columns from the two forward passes). Done with the pieces of
# this notebook:

# %%
rest = color_columns(P_arrow[1:])                       # the pattern without the dense row
_, pullback = revad.vjp(arrowhead, x)
(row0,) = pullback(np.eye(n)[0])                        # one reverse sweep: row 0 of J
compressed = [dualad.jvp(arrowhead, (x,), (seed,))[1][1:] for seed in rest.seeds()]  # 2 forward passes
J_rest = rest.decompress(np.array(compressed))          # rows 1..n-1
J_both = np.vstack([row0, J_rest.toarray()])
print(f"column colouring of rows 1..{n - 1}: {rest.ncolors} colours; passes: 1 reverse + {rest.ncolors} forward "
      f"instead of {by_cols.ncolors}")
print("bidirectional result equals dense J:", np.allclose(J_both, dualad.jacfwd(arrowhead)(x)))

# %% [markdown]
# The library finds this split by itself: `adops.sparse.color_bidirectional` tries the one-sided colourings and
# splits off dense rows (to reverse sweeps) or dense columns (to forward passes), keeping the cheapest, and
# `compare.bidirectional_jacobian` runs both halves with the two engines and returns CSR.

# %%
from adops.sparse import color_bidirectional
from compare import bidirectional_jacobian

split = color_bidirectional(P_arrow)
print(split.explain())
print("equals dense J:", np.allclose(bidirectional_jacobian(arrowhead)(x).toarray(), dualad.jacfwd(arrowhead)(x)))

# %% [markdown]
# **Summary**
#
# * Forward mode needs one pass per **colour of the columns**, reverse mode one sweep per **colour of the rows**,
#   where columns (rows) of one colour share no row (column): Curtis–Powell–Reid compression. A tridiagonal
#   Jacobian needs 3 passes at any $n$.
# * A colouring is a distance-2 colouring of the bipartite row–column graph; no colouring beats the most
#   nonzeros in one row (column). The seed matrix sums each colour's unit vectors; decompression reads
#   $J_{ij} = B_{i,c(j)}$ back with no arithmetic.
# * `jacobian_sparsity` finds the pattern through the op registry, globally by default: a value-dependent
#   `np.where` contributes both branches, so the pattern holds at every point; `local=True` gives the pattern at
#   this point only.
# * `sparsity="auto"` detects at every call (always right for the program that call runs) and reuses colourings;
#   `SparseJacobian` detects and colours once, and `dualad.jacfwd(f, sparsity=sj)` / `revad.jacrev(f,
#   sparsity=sj)` then return CSR Jacobians ready for `scipy.sparse.linalg`, as in the Newton solve above, as long
#   as `f` keeps running the same program.
# * A dense row and a dense column (the arrowhead) defeat both one-sided colourings; combining one reverse sweep
#   with a few forward passes handles it.
