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
# # 06 · Exact answers: the SymPy oracle, finite differences, and what happens at kinks
#
# How do we know a derivative is right? Three referees, each with its own failure modes:
#
# * **Finite differences**: $\frac{f(x+h) - f(x)}{h}$. Needs nothing but $f$; but it is an approximation whose
#   error depends on $h$ in a way that cannot be made small for every function.
# * **Automatic differentiation** (`dualad`, `revad`): exact up to floating-point rounding, because each
#   primitive's derivative is applied exactly; but it differentiates *the program*, so its answer at a
#   non-differentiable point is a **convention**.
# * **The SymPy oracle** (`compare.oracle`): runs the same NumPy code on symbols, differentiates the resulting
#   expression exactly and evaluates it with 40 significant digits. Slow, but the ground truth for testing.
#
# This notebook puts all three side by side.

# %%
import warnings

import numpy as np
import matplotlib.pyplot as plt

import adops
import dualad
import revad
from compare import oracle

np.set_printoptions(precision=6, suppress=False)

# %% [markdown]
# ## 1. The oracle against both engines
#
# `oracle.check(f, *args)` computes the exact Jacobian and reports, for every engine and mode, the maximum
# relative error. With `hessians=True` it also checks the four ways of nesting the engines for a Hessian:
# forward over forward, reverse over reverse, and the two mixed ones.

# %%
rng = np.random.default_rng(0)
cases = {
    "sum(tanh(x)^2)": (lambda x: np.sum(np.tanh(x) ** 2), rng.normal(size=4)),
    "softmax(x)": (lambda x: adops.nn.softmax(x), rng.normal(size=4)),
    "logsumexp(A @ x)": (lambda x: adops.nn.logsumexp(np.arange(12.0).reshape(3, 4) / 7 @ x), rng.normal(size=4)),
    "x / norm(x)": (lambda x: x / np.sqrt(np.sum(x ** 2)), rng.normal(size=4)),
    "prod(exp(sin(x)))": (lambda x: np.prod(np.exp(np.sin(x))), rng.normal(size=4)),
}
for name, (fn, x) in cases.items():
    out_is_scalar = np.ndim(fn(x)) == 0
    report = oracle.check(fn, x, hessians=out_is_scalar)
    worst = max(report.values())
    print(f"{name:20s} {len(report):2d} modes checked, worst relative error {worst:.1e}")
    assert worst < 1e-12

# %%
print("every mode for the last case:")
for mode, err in oracle.check(cases["prod(exp(sin(x)))"][0], cases["prod(exp(sin(x)))"][1], hessians=True).items():
    print(f"   {mode:52s} {err:.1e}")

# %% [markdown]
# All of them agree with the exact answer to within a few units of the last digit ($10^{-16}$ relative).
#
# ## 2. Finite differences and the step-size trade-off
#
# The forward difference $D_h = \frac{f(x+h) - f(x)}{h}$ has two errors that pull in opposite directions:
#
# * **truncation**: Taylor's theorem gives $D_h = f'(x) + \tfrac12 f''(x)\,h + \dots$, an error $\propto h$;
# * **rounding**: $f(x+h)$ and $f(x)$ are each stored with relative error about
#   $\epsilon = 2.2\times10^{-16}$, and subtracting two nearly equal numbers keeps their absolute error, which the
#   division by $h$ then magnifies: about $\epsilon |f(x)| / h$.
#
# The total is smallest near $h \approx \sqrt{\epsilon} \approx 10^{-8}$, where about half the digits are lost. The
# central difference $\frac{f(x+h) - f(x-h)}{2h}$ has truncation error $\propto h^2$, so its best $h$ is about
# $\epsilon^{1/3}\approx 10^{-5}$ and it keeps about two thirds of the digits. AD has neither error.

# %%
f = lambda x: np.exp(np.sin(x)) * x ** 2
x0 = 1.3
exact = float(oracle.jacobian(f, x0))
hs = np.logspace(-15, -1, 141)
forward_err = np.abs((f(x0 + hs) - f(x0)) / hs - exact) / abs(exact)
central_err = np.abs((f(x0 + hs) - f(x0 - hs)) / (2 * hs) - exact) / abs(exact)
ad_err = max(abs(float(dualad.derivative(f)(x0)) - exact), abs(float(revad.grad(f)(x0)) - exact)) / abs(exact)

eps = np.finfo(float).eps
f2 = float(oracle.hessian(lambda v: f(v[0]), np.array([x0]))[0, 0])
fig, ax = plt.subplots(figsize=(7.5, 4.5))
ax.loglog(hs, forward_err, ".", ms=3, label="forward difference")
ax.loglog(hs, central_err, ".", ms=3, label="central difference")
ax.loglog(hs, 0.5 * abs(f2) * hs / abs(exact), "C0--", lw=1, label="truncation  |f''| h / 2")
ax.loglog(hs, eps * abs(f(x0)) / hs / abs(exact), "k:", lw=1, label="rounding  eps |f| / h")
ax.axhline(max(ad_err, eps / 2), color="C3", lw=2, label=f"dualad / revad (error {ad_err:.0e})")
ax.set_ylim(1e-17, 10)
ax.set_xlabel("step h")
ax.set_ylabel("relative error of f'(1.3)")
ax.set_title("finite differences: truncation vs rounding")
ax.legend(fontsize=8, loc="lower right")
plt.show()
print(f"best forward step {hs[np.argmin(forward_err)]:.0e} -> error {forward_err.min():.0e};   "
      f"best central step {hs[np.argmin(central_err)]:.0e} -> error {central_err.min():.0e};   AD error {ad_err:.0e}")

# %% [markdown]
# (An AD error of exactly 0 is drawn at $\epsilon/2$ so it fits on the log scale.)
#
# ### Catastrophic cases
#
# The "best" $h$ depends on $f''$ and $|f|$ at the point, which we do not know in advance. Some ordinary
# functions leave no good $h$ at all. Central differences with the textbook step $h = 10^{-6}$:

# %%
def central(fn, x, h=1e-6):
    return (fn(x + h) - fn(x - h)) / (2 * h)


catastrophes = [
    ("large offset: 1e9 + sin(x)", lambda x: 1e9 + np.sin(x), 0.5,
     "rounding error eps*|f|/h is about 0.2"),
    ("fast oscillation: sin(1e6 x)", lambda x: np.sin(1e6 * x), 0.5,
     "h spans a sixth of a wavelength and smooths the wave away"),
    ("near a domain edge: sqrt(x) at 1e-7", lambda x: np.sqrt(x), 1e-7,
     "x - h is negative: sqrt gives NaN"),
    ("near a kink: abs(x) at 1e-7", lambda x: np.abs(x), 1e-7,
     "the stencil straddles the kink"),
]
print(f"{'function':42s} {'exact':>12s} {'central h=1e-6':>16s} {'revad':>12s}")
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)      # sqrt of a negative number
    for name, fn, x, why in catastrophes:
        ex = float(oracle.jacobian(fn, x))
        print(f"{name:42s} {ex:12.6g} {central(fn, x):16.6g} {float(revad.grad(fn)(x)):12.6g}   <- {why}")

# %% [markdown]
# AD gets every row right, and it also scales: a finite-difference gradient of $f:\mathbb R^n\to\mathbb R$
# needs $n + 1$ (or $2n$) evaluations, the reverse sweep the cost of about one or two.
#
# ## 3. Kinks: one convention, both engines
#
# At a point where a function has no derivative (the corner of $|x|$, a tie in $\max$), AD still has to return
# *something*: it applies the derivative of whatever branch the program took. fwdrev fixes one table, the same
# in `dualad` and `revad`:
#
# | function at the kink | convention | why |
# |---|---|---|
# | $\lvert x\rvert$ at 0 | 0 | the subgradient of smallest size (zero is in $[-1, 1]$) |
# | $\mathrm{relu}(x)$ at 0 | 0 | the common choice of deep-learning libraries; keeps dead units dead |
# | `np.maximum(x, y)` with $x = y$ | $\tfrac12$ to each | symmetric: swapping the arguments cannot change anything |
# | `np.max(x)` with ties | split evenly among the tied entries | the same symmetry for reductions |
# | `np.clip(x, lo, hi)` at a bound | 0 | the bound acts as a constant there |
# | `sign`, `floor`, `round` | 0 everywhere | piecewise constant |
#
# Below, the table is computed live from both engines. Two more columns show what the other referees say: the
# **central difference** (which at a kink returns the *average* of the two one-sided slopes) and the **oracle**,
# which differentiates SymPy's expression for the same code (SymPy's own convention at a kink can differ, e.g. it
# takes $\frac{d}{dx}\max(0, x) = \tfrac12$ at 0; where its column differs from fwdrev's convention the row is
# marked, and an oracle that cannot handle a call says so).

# %%
def fd_grad(fn, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (fn(x + e) - fn(x - e)) / (2 * h)
    return g


def oracle_grad(fn, x):
    try:
        return np.asarray(oracle.jacobian(fn, x), dtype=float)
    except Exception as err:                         # report, don't hide
        return f"error: {type(err).__name__}"


kinks = [
    ("abs(x) at 0", np.abs, 0.0, 0.0),
    ("relu(x) at 0", adops.nn.relu, 0.0, 0.0),
    ("maximum(x, 1) at x = 1", lambda x: np.maximum(x, 1.0), 1.0, 0.5),
    ("maximum(x[0], x[1]) at (2, 2)", lambda x: np.maximum(x[0], x[1]), np.array([2.0, 2.0]), np.array([0.5, 0.5])),
    ("max(x) at (3, 1, 3)", np.max, np.array([3.0, 1.0, 3.0]), np.array([0.5, 0.0, 0.5])),
    ("min(x) at (1, 1, 1)", np.min, np.array([1.0, 1.0, 1.0]), np.array([1, 1, 1]) / 3),
    ("sum(clip(x, 0, 1)) at (0, .5, 1)", lambda x: np.sum(np.clip(x, 0.0, 1.0)), np.array([0.0, 0.5, 1.0]),
     np.array([0.0, 1.0, 0.0])),
    ("sign(x) at 0", np.sign, 0.0, 0.0),
    ("floor(x) at 2", np.floor, 2.0, 0.0),
]

fmt = lambda v: v if isinstance(v, str) else np.array2string(np.round(np.asarray(v, dtype=float), 2),
                                                              separator=",")
print(f"{'function':33s} {'convention':>17s} {'dualad':>17s} {'revad':>17s} {'central diff':>17s} {'oracle':>17s}")
for name, fn, x, expected in kinks:
    fwd = dualad.grad(fn)(x) if np.ndim(x) else dualad.derivative(fn)(x)
    rev = revad.grad(fn)(x)
    assert np.array_equal(np.asarray(fwd), expected) and np.array_equal(np.asarray(rev), expected), name
    orc = oracle_grad(fn, x)
    mark = "" if not isinstance(orc, str) and np.allclose(orc, expected) else "  <- differs"
    print(f"{name:33s} {fmt(expected):>17s} {fmt(fwd):>17s} {fmt(rev):>17s} {fmt(fd_grad(fn, x)):>17s} "
          f"{fmt(orc):>17s}{mark}")

# %% [markdown]
# Both engines follow the table exactly (the cell asserts it). The central difference gives the average of the
# two sides (0.5 for relu at 0, 0.5 at the maximum tie), and blows up at the jumps of `sign` and `floor`. None of
# these answers is "the" derivative, because none exists: what matters is that the choice is documented and the
# same in forward and reverse mode, so the two engines can be tested against each other everywhere.
#
# ## 4. Strong zero: why `where(x < 1, x, sqrt(x))` has gradient 1 at 0, not NaN
#
# `np.where` evaluates **both** branches everywhere and then selects. At $x = 0$ the selected branch is $x$
# (slope 1); the discarded one is $\sqrt x$, whose slope $\frac{1}{2\sqrt x}$ is $+\infty$ at 0.
#
# In the backward sweep, `where` sends cotangent 1 to the branch it picked and **0** to the other. The `sqrt`
# record then multiplies that 0 by its partial derivative, $\infty$, and IEEE arithmetic says $0 \cdot \infty =
# \mathrm{NaN}$. Add that NaN to $\bar x$, and the gradient is NaN, although the function near 0 is just $x$:

# %%
x = 0.0
with np.errstate(divide="ignore", invalid="ignore"):
    ct_to_identity_branch = 1.0                            # where(x < 1, ...) picked the first branch
    ct_to_sqrt_branch = 0.0
    naive = ct_to_identity_branch * 1.0 + ct_to_sqrt_branch * (0.5 / np.sqrt(x))
print("naive sweep: 1 * 1 + 0 * inf =", naive)

# %% [markdown]
# fwdrev's registry applies a **strong zero** to every op whose partial can be infinite (sqrt, log, power,
# arcsin, ...): a tangent or cotangent that is exactly 0 contributes exactly 0, whatever the partial is. The same
# holds for the forward engine, where the tangent flowing into the unused branch gets multiplied by the partial.

# %%
g = lambda x: np.where(x < 1, x, np.sqrt(x))
with np.errstate(invalid="ignore"):                          # the central difference evaluates sqrt(-1e-6)
    print("revad.grad         :", float(revad.grad(g)(0.0)))
    print("dualad.derivative  :", float(dualad.derivative(g)(0.0)))
    print("oracle             :", float(oracle.jacobian(g, 0.0)))
    print("central difference :", central(g, 0.0, 1e-6))
xs = np.array([0.0, 0.5, 1.0, 4.0])
print("elementwise, x =", xs, "->", revad.grad(lambda v: np.sum(g(v)))(xs))

# %% [markdown]
# The strong zero never hides a genuine infinity: when the `sqrt` branch is the one selected, its infinite slope
# comes through, as it should.

# %%
print("d/dx sqrt(x) at 0, revad :", float(revad.grad(np.sqrt)(0.0)))
print("d/dx sqrt(x) at 0, dualad:", float(dualad.derivative(np.sqrt)(0.0)))

# %% [markdown]
# **Summary**
#
# * The oracle confirms both engines, and every Hessian nesting, to rounding.
# * Finite differences lose half (forward) or a third (central) of the digits at best, and at a bad point or with
#   a bad step, all of them. They remain a useful independent check, used with care.
# * At kinks AD returns a convention; fwdrev uses one table for both engines.
# * Strong zeros keep a discarded branch's infinite slope from turning a perfectly good gradient into NaN.
