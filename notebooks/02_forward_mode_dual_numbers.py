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
# # 02 · Forward mode: dual numbers and operator overloading
#
# Forward-mode automatic differentiation carries, next to every value, its **tangent**: how fast that value
# changes when the input moves in a chosen direction. Both travel together through the program, left to right,
# so the derivative is ready the moment the value is.
#
# The algebra behind it is the **dual numbers** $a + b\,\varepsilon$ with the rule $\varepsilon^2 = 0$.
# Taylor's theorem then gives, exactly, $f(a + b\,\varepsilon) = f(a) + f'(a)\,b\,\varepsilon$: evaluate $f$ on a
# dual number and the $\varepsilon$ part *is* the derivative (times $b$).
#
# This notebook
# 1. builds a 30-line dual-number class to see the idea with nothing hidden;
# 2. uses fwdrev's `dualad`, which does the same for whole NumPy programs: `jvp`, `jacfwd`, `derivative`;
# 3. shows the difference between one tangent and many (a batch of directions), and when forward mode is cheap;
# 4. breaks the toy class with *perturbation confusion* and shows how `dualad`'s levels prevent it.

# %%
import math
import time

import numpy as np
import matplotlib.pyplot as plt

import adops
import dualad
import revad
from compare import oracle

np.set_printoptions(precision=5, suppress=True)

# %% [markdown]
# ## 1. A dual number you can read in one screen
#
# **Operator overloading** is the whole trick: Python calls `__add__`, `__mul__`, ... on our objects, and each
# method applies the corresponding differentiation rule to the $\varepsilon$ part. We implement the sum,
# product and chain rules and two elementary functions.

# %%
class ToyDual:
    """value + tangent * eps, with eps**2 = 0. No tags: every ToyDual is 'the same' eps."""

    def __init__(self, value, tangent=0.0):
        self.value, self.tangent = value, tangent

    @staticmethod
    def lift(other):
        return other if isinstance(other, ToyDual) else ToyDual(other, 0.0)

    def __add__(self, other):
        other = ToyDual.lift(other)
        return ToyDual(self.value + other.value, self.tangent + other.tangent)       # sum rule

    def __mul__(self, other):
        other = ToyDual.lift(other)
        return ToyDual(self.value * other.value,
                       self.tangent * other.value + self.value * other.tangent)     # product rule

    __radd__, __rmul__ = __add__, __mul__

    def __repr__(self):
        return f"{self.value:g} + {self.tangent:g} eps"


def toy_sin(u):
    u = ToyDual.lift(u)
    return ToyDual(math.sin(u.value), math.cos(u.value) * u.tangent)                 # chain rule


def toy_exp(u):
    u = ToyDual.lift(u)
    return ToyDual(math.exp(u.value), math.exp(u.value) * u.tangent)


def toy_derivative(f):
    """d f / d x at x: seed the tangent 1 and read the eps part of the result."""
    def df(x):
        out = f(ToyDual(x, 1.0))
        return out.tangent if isinstance(out, ToyDual) else 0.0
    return df


# %% [markdown]
# Try $f(x) = x \sin(x) + e^{2x}$, whose derivative is $\sin x + x\cos x + 2e^{2x}$:

# %%
def f_toy(x):
    return x * toy_sin(x) + toy_exp(2 * x)


x0 = 0.7
print("f(0.7 + eps) =", f_toy(ToyDual(x0, 1.0)))
print("by hand      :", math.sin(x0) + x0 * math.cos(x0) + 2 * math.exp(2 * x0))

# %% [markdown]
# One evaluation gives the value *and* the exact derivative (no step size, no truncation error). The cost is a
# small constant factor over evaluating $f$: each operation does its own work plus a few multiply-adds.
#
# ## 2. The same idea for NumPy programs: `dualad`
#
# `dualad.Dual` holds a **primal** array and a **tangent** array. Instead of overloading `+` and `*` one by one,
# it implements NumPy's dispatch protocols (`__array_ufunc__`, `__array_function__`), so `np.sin`, `np.sum`,
# `@`, indexing and the rest reach fwdrev's **op registry**, which holds, for each primitive, its NumPy
# implementation and its JVP rule ("Jacobian-vector product": how a tangent passes through it). Your function
# stays plain NumPy code.
#
# `dualad.jvp(f, primals, tangents)` evaluates $f$ at `primals` and pushes `tangents` through it, returning
# $(f(x),\ J_f(x)\,v)$:

# %%
def f_np(x):
    return x * np.sin(x) + np.exp(2 * x)


out, out_dot = dualad.jvp(f_np, (x0,), (1.0,))
print("value", float(out), " derivative", float(out_dot))
print("dualad.derivative:", float(dualad.derivative(f_np)(x0)))

# %% [markdown]
# To see what the function actually receives, print the argument's type inside it: a `Dual` with a primal and a
# tangent.

# %%
def peek(x):
    print("   f received:", type(x).__name__, " primal", x.primal, " tangent", x.tangent)
    y = np.tanh(x)
    print("   np.tanh gave:", type(y).__name__, " primal", np.round(y.primal, 4), " tangent", np.round(y.tangent, 4))
    return y


_ = dualad.jvp(peek, (np.array([0.0, 1.0, 2.0]),), (np.array([1.0, 0.0, 0.0]),))

# %% [markdown]
# ## 3. One tangent or many
#
# A single forward pass with tangent $v$ gives the **directional derivative** $J v$: one *column* of the Jacobian
# when $v$ is a basis vector $e_j$. For $f:\mathbb R^n\to\mathbb R^m$ the full Jacobian needs $n$ such columns.
#
# `dualad.jacfwd` gets them in one of two ways:
# * `chunk_size=1`: $n$ separate passes, one tangent each;
# * default: **one** pass where the tangent carries a leading batch axis of $n$ directions (every rule in the
#   registry accepts that extra axis), so NumPy does the $n$ columns in vectorized array operations.
#   `chunk_size=k` is in between: $\lceil n/k\rceil$ passes of $k$ directions.
#
# We count how many times the Python function runs, with a small example $f:\mathbb R^3\to\mathbb R^2$:

# %%
calls = 0


def f_vec(x):
    global calls
    calls += 1
    return np.stack([x[0] * x[1], np.sin(x[2])]) + x[:2] ** 2   # np.stack, not np.array: see below


x = np.array([1.0, 2.0, 0.5])
for chunk in (1, 2, None):
    calls = 0
    J = dualad.jacfwd(f_vec, chunk_size=chunk)(x)
    print(f"chunk_size={chunk!s:>4}: f ran {calls} time(s)\n{J}")

print("oracle:\n", oracle.jacobian(f_vec, x))

# %% [markdown]
# The Jacobian has shape `out.shape + in.shape` (JAX's convention), here $2\times3$.
#
# (Why `np.stack`? `np.array([...])` of traced values would have to turn them into plain floats and lose their
# tangents, so `dualad` refuses it with a `TypeError` that says so; `np.stack` is a registered op.)
#
# ## 4. When forward mode is cheap: few inputs, many outputs
#
# One forward pass costs a small multiple of one evaluation of $f$ and yields one column. So forward mode is
# cheap when $n$ (the number of inputs) is small, whatever $m$ is. The extreme case is a curve
# $\gamma:\mathbb R\to\mathbb R^m$: one pass gives its whole velocity vector.
#
# Reverse mode (notebook 03) works the other way round: one backward sweep gives one *row*, so for the curve it
# needs $m$ sweeps. `adops.count_ops()` counts the primitive operations and flops each engine performs, split
# into the primal evaluation and the derivative (JVP or VJP) work.

# %%
m = 2000
k = np.arange(1, m + 1)


def curve(t):
    return np.sin(k * t) / k      # R -> R^2000


def measure(run, repeats=5):
    with adops.count_ops() as counts:
        result = run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return result, counts.by_phase(), float(np.median(times))


strategies = {
    "dualad.derivative (1 forward pass)": lambda: dualad.derivative(curve)(0.3),
    "revad.jacrev(chunk_size=1) (m sweeps)": lambda: revad.jacrev(curve, chunk_size=1)(0.3),
}
results = {}
for name, run in strategies.items():
    J, phases, seconds = measure(run)
    results[name] = J
    deriv = phases["jvp"]["flops"] + phases["vjp"]["flops"]
    print(f"{name:40s} derivative flops {deriv:>11,d}   time {seconds * 1e3:8.2f} ms")
a, b = results.values()
print("same answer:", np.allclose(a, b), "  max |difference|", np.max(np.abs(a - b)))

# %% [markdown]
# And the opposite shape, a scalar function of many inputs, $\mathbb R^n\to\mathbb R$: now forward mode needs
# $n$ one-directional passes, and reverse mode needs a single sweep.

# %%
def loss(x):
    return np.sum(np.tanh(x) ** 2)


xs = np.linspace(-1, 1, 300)
strategies = {
    "dualad.grad(chunk_size=1) (n passes)": lambda: dualad.grad(loss, chunk_size=1)(xs),
    "revad.grad (1 sweep)": lambda: revad.grad(loss)(xs),
}
for name, run in strategies.items():
    g, phases, seconds = measure(run)
    total = sum(p["flops"] for p in phases.values())
    print(f"{name:40s} total flops {total:>11,d}   primal ops {phases['primal']['ops']:>4d}   "
          f"time {seconds * 1e3:8.2f} ms")

# %% [markdown]
# The rule of thumb: **forward mode costs about one evaluation per input, reverse mode about one per output.**
# Notebook 05 measures the crossover carefully.
#
# ## 5. Perturbation confusion, and why `dualad` tags its tangents
#
# Derivatives of functions that themselves take derivatives come up constantly (Hessians, meta-learning,
# differentiating a solver). Consider
#
# $$ \frac{d}{dx}\Big[\, x \cdot \frac{d}{dy}(x + y)\Big|_{y=1} \Big]_{x=1}. $$
#
# The inner derivative is $1$ for every $x$, so the whole thing is $\frac{d}{dx}[x] = 1$.
# Our toy class says otherwise:

# %%
naive = toy_derivative(lambda x: x * toy_derivative(lambda y: x + y)(1.0))(1.0)
print("ToyDual answer:", naive, "  (correct: 1)")

# %% [markdown]
# What went wrong: the outer call makes $x = 1 + 1\varepsilon$, the inner call makes $y = 1 + 1\varepsilon$ with
# **the same** $\varepsilon$. Then $x + y = 2 + 2\varepsilon$, and the inner derivative reads off $2$: the outer
# perturbation of $x$ leaked into the inner derivative. The two calls needed two *different* infinitesimals
# $\varepsilon_1, \varepsilon_2$ that never mix.
#
# `dualad` does exactly that. Every `jvp` call (and so every `derivative`, `jacfwd`, ...) takes a fresh **level**
# from a counter shared by all of fwdrev's engines and stamps it on its Duals. When an operation meets Duals of
# different levels, the highest level handles it and treats the others as constants, so each call only ever
# reads its own tangents. (`_level` is a private attribute; we print it only to look.)

# %%
def outer(x):
    def inner(y):
        print(f"   inside inner: x has level {x._level}, y has level {y._level}")
        return x + y
    return x * dualad.derivative(inner)(1.0)


print("dualad answer:", float(dualad.derivative(outer)(1.0)))
assert float(dualad.derivative(lambda x: x * dualad.derivative(lambda y: x + y)(1.0))(1.0)) == 1.0

# %% [markdown]
# Levels are also what make higher derivatives free: `derivative(derivative(f))` is forward over forward, each
# pass with its own level. The second derivative of $x\sin x + e^{2x}$ is $2\cos x - x\sin x + 4e^{2x}$:

# %%
d2 = dualad.derivative(dualad.derivative(f_np))(x0)
print("forward over forward:", float(d2))
print("by hand             :", 2 * math.cos(x0) - x0 * math.sin(x0) + 4 * math.exp(2 * x0))
print("dualad.hessian of a 2-variable function:\n",
      dualad.hessian(lambda v: v[0] ** 2 * v[1] + np.sin(v[1]))(np.array([1.0, 0.5])))

# %% [markdown]
# ## 6. A picture: the tangent is the slope of the graph
#
# A forward pass with tangent 1 at each point $x$ gives $f'(x)$ there; vectorizing over an array of points gives
# the whole derivative curve in one call (the function is elementwise, so the Jacobian is diagonal and the
# tangent of `ones` is exactly its diagonal).

# %%
xs = np.linspace(-1.5, 1.0, 200)
value, slope = dualad.jvp(f_np, (xs,), (np.ones_like(xs),))
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(xs, value, label="f(x) = x sin x + exp(2x)")
ax.plot(xs, slope, label="f'(x) from one forward pass")
for x_t in (-1.0, 0.0, 0.6):
    v, s = dualad.jvp(f_np, (x_t,), (1.0,))
    ax.plot(xs, float(v) + float(s) * (xs - x_t), "k:", lw=1)
    ax.plot([x_t], [float(v)], "ko", ms=4)
ax.set_ylim(-1, 8)
ax.legend()
ax.set_title("dotted lines: tangent lines built from (primal, tangent)")
plt.show()

# %% [markdown]
# **Summary**
#
# * Dual numbers $a + b\varepsilon$, $\varepsilon^2 = 0$, carry the exact derivative with the value; operator
#   overloading (or NumPy's dispatch protocols) applies each op's rule automatically.
# * One forward pass = one Jacobian column ($Jv$). `jacfwd` gets all $n$ columns in one vectorized pass or in
#   $\lceil n/k\rceil$ chunked ones. Forward mode is cheap when inputs are few.
# * Untagged dual numbers confuse nested perturbations; `dualad` gives each call its own level, so nested
#   derivatives and Hessians come out right.
