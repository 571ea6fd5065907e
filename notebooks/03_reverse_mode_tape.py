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
# # 03 · Reverse mode: the tape, adjoints and backpropagation
#
# Reverse mode splits differentiation into two phases:
#
# 1. **Record.** Run the function once on traced values; every primitive operation appends one record to a flat
#    list, the **tape** or *Wengert list*: which op, which inputs, what it produced, and whatever its derivative
#    rule will need later.
# 2. **Sweep.** Walk the tape once, last record first, carrying for every value its **adjoint**
#    $\bar v = \partial(\text{output})/\partial v$. Each record turns the adjoint of its output into
#    contributions to the adjoints of its inputs: a *vector-Jacobian product* (VJP).
#
# One sweep yields the derivative of one output with respect to **every** input, which is why training a network
# with millions of weights and one scalar loss needs only about as much work as a couple of evaluations.
#
# Contents: the tape printed and drawn; adjoints that accumulate where a value is used twice; the chain rule as
# the backprop equations of a dense layer, checked against `revad`; `vjp`, `grad`,
# `jacrev`; and gradient checkpointing, which trades time for memory.

# %%
import time
import tracemalloc

import numpy as np
import matplotlib.pyplot as plt

import adops
import dualad
import revad
from compare import oracle

np.set_printoptions(precision=5, suppress=True)

# %% [markdown]
# ## 1. A tape, printed and drawn
#
# Take $f(x, y) = x y + \sin x - \log y$. The variable $x$ is used **twice** (in $xy$ and in $\sin x$), which is
# what makes adjoints interesting.

# %%
def f(x, y):
    return x * y + np.sin(x) - np.log(y)


tape = revad.trace(f, 1.5, 2.0)
print(tape)

# %% [markdown]
# Each line is one record: `v2 = multiply(x, y)` means "slot 2 holds the product of slots `x` and `y`". The
# tape is just this list plus the arrays each record needs for its VJP (here, tiny scalars: see
# "bytes held" in the header).

# %%
fig = tape.draw()

# %% [markdown]
# ## 2. The backward sweep and adjoint accumulation
#
# Going from the last record to the first:
#
# | record | VJP: what it adds to its inputs' adjoints |
# |---|---|
# | `v6 = v4 - v5` | $\bar v_4 \mathrel{+}= \bar v_6$, $\bar v_5 \mathrel{+}= -\bar v_6$ |
# | `v5 = log(y)` | $\bar y \mathrel{+}= \bar v_5 / y$ |
# | `v4 = v2 + v3` | $\bar v_2 \mathrel{+}= \bar v_4$, $\bar v_3 \mathrel{+}= \bar v_4$ |
# | `v3 = sin(x)` | $\bar x \mathrel{+}= \bar v_3 \cos x$ |
# | `v2 = x * y` | $\bar x \mathrel{+}= \bar v_2\, y$, $\bar y \mathrel{+}= \bar v_2\, x$ |
#
# The `+=` is the point: $x$ feeds two records, so its adjoint is the **sum** of what flows back along both
# edges, $\bar x = y + \cos x$. This is the multivariable chain rule,
# $\frac{\partial f}{\partial x} = \sum_{\text{uses } u \text{ of } x}
# \frac{\partial f}{\partial u}\frac{\partial u}{\partial x}$.
# By hand:

# %%
x, y = 1.5, 2.0
bar = {"v6": 1.0}
bar["v4"], bar["v5"] = bar["v6"], -bar["v6"]
bar["y"] = bar["v5"] / y
bar["v2"], bar["v3"] = bar["v4"], bar["v4"]
bar["x"] = bar["v3"] * np.cos(x)          # first contribution to x
bar["x"] += bar["v2"] * y                 # second contribution: accumulate
bar["y"] += bar["v2"] * x
print("by hand :", {k: round(float(bar[k]), 6) for k in ("x", "y")})

adjoints = tape.backward()
print("tape    :", {k: round(v, 6) for k, v in adjoints.items()})
print("oracle  :", [round(float(v), 6) for v in oracle.jacobian(f, x, y, argnums=(0, 1))])
assert np.allclose([bar["x"], bar["y"]], [adjoints["x"], adjoints["y"]])

# %%
fig = tape.draw()

# %% [markdown]
# ## 3. The chain rule as the backprop equations of a dense layer
#
# A common way to write one layer of a network puts the examples in the **columns** of
# $A^{[l-1]}$ (shape $n_{l-1}\times m$), as
#
# $$Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}, \qquad A^{[l]} = g(Z^{[l]}),$$
#
# and its backward step, given the adjoint $dA^{[l]} = \partial\mathcal L/\partial A^{[l]}$ arriving from the
# right, as
#
# $$dZ^{[l]} = dA^{[l]} \odot g'(Z^{[l]}), \quad dW^{[l]} = dZ^{[l]} A^{[l-1]\top}, \quad
#   db^{[l]} = \textstyle\sum_{\text{examples}} dZ^{[l]}, \quad dA^{[l-1]} = W^{[l]\top} dZ^{[l]} .$$
#
# (Some texts put a $1/m$ into $dW$ and $db$; here it lives in the loss, so it is already inside $dA$.)
#
# These are exactly the VJPs of the layer's three primitives: `tanh` (elementwise, so its VJP multiplies by
# $g'$), `add` (which sums $dZ$ over the broadcast example axis to get $db$), and `matmul` (whose VJP multiplies
# by the other factor transposed). `revad.vjp` gives us the layer's pullback; we feed it a random $dA$ and compare
# with the formulas.

# %%
rng = np.random.default_rng(0)
n_prev, n_l, m = 4, 3, 5
W = rng.normal(size=(n_l, n_prev))
b = rng.normal(size=(n_l, 1))
A_prev = rng.normal(size=(n_prev, m))
dA = rng.normal(size=(n_l, m))          # adjoint arriving from the layers to the right


def layer(W, b, A_prev):
    return np.tanh(W @ A_prev + b)


A, pullback = revad.vjp(layer, W, b, A_prev)
dW_rev, db_rev, dA_prev_rev = pullback(dA)

Z = W @ A_prev + b
dZ = dA * (1 - np.tanh(Z) ** 2)          # g = tanh, g'(z) = 1 - tanh(z)^2
dW = dZ @ A_prev.T
db = dZ.sum(axis=1, keepdims=True)
dA_prev = W.T @ dZ

for name, hand, rev in [("dW", dW, dW_rev), ("db", db, db_rev), ("dA_prev", dA_prev, dA_prev_rev)]:
    print(f"{name:8s} shape {hand.shape!s:8s} max |hand - revad| = {np.max(np.abs(hand - rev)):.1e}")
    assert np.allclose(hand, rev, rtol=1e-13, atol=1e-13)

# %% [markdown]
# ### A whole two-layer network
#
# Stack two layers (tanh hidden, sigmoid output) under the binary cross-entropy cost
# $\mathcal L = -\frac1m\sum_i \big[y_i\log a_i + (1-y_i)\log(1-a_i)\big]$. Its adjoint at the output is
#
# $$dA^{[2]} = \frac1m\Big(-\frac{y}{a} + \frac{1-y}{1-a}\Big),$$
#
# (a sign slip here, $-(\tfrac ya + \tfrac{1-y}{1-a})$, is a common mistake; the check below shows the difference), and
# through the sigmoid it collapses to the famous $dZ^{[2]} = (a - y)/m$. Then the same four equations, layer by
# layer, right to left:

# %%
n0, n1, m = 2, 4, 8
X = rng.normal(size=(n0, m))
Y = (rng.random((1, m)) < 0.5).astype(float)
params = {"W1": rng.normal(size=(n1, n0)), "b1": np.zeros((n1, 1)),
          "W2": rng.normal(size=(1, n1)), "b2": np.zeros((1, 1))}


def bce_cost(p):
    A1 = np.tanh(p["W1"] @ X + p["b1"])
    A2 = adops.nn.sigmoid(p["W2"] @ A1 + p["b2"])
    return -np.mean(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))


# forward pass, keeping the cache
A1 = np.tanh(params["W1"] @ X + params["b1"])
A2 = 1 / (1 + np.exp(-(params["W2"] @ A1 + params["b2"])))
# backward pass, the four equations above
dA2 = (-Y / A2 + (1 - Y) / (1 - A2)) / m
dZ2 = dA2 * A2 * (1 - A2)
assert np.allclose(dZ2, (A2 - Y) / m)
by_hand = {"W2": dZ2 @ A1.T, "b2": dZ2.sum(axis=1, keepdims=True)}
dA1 = params["W2"].T @ dZ2
dZ1 = dA1 * (1 - A1 ** 2)
by_hand.update({"W1": dZ1 @ X.T, "b1": dZ1.sum(axis=1, keepdims=True)})

grads = revad.grad(bce_cost)(params)      # a dict in, a dict of gradients out
for k in params:
    print(f"d{k}: max |hand - revad| = {np.max(np.abs(by_hand[k] - grads[k])):.1e}")
    assert np.allclose(by_hand[k], grads[k], rtol=1e-12, atol=1e-14)
wrong_sign = (-(Y / A2 + (1 - Y) / (1 - A2)) / m) * A2 * (1 - A2)
print("with the slipped sign, dZ2 would differ by", np.max(np.abs(wrong_sign - dZ2)).round(3))

# %% [markdown]
# ## 4. `vjp`, `grad` and `jacrev`
#
# * `revad.vjp(f, *primals)` returns `(out, pullback)`; `pullback(u)` is $u^\top J$: one sweep, seeded with $u$.
#   The pullback can be called again with another $u$, reusing the same recording.
# * `revad.grad(f)` is the special case of a scalar output with $u = 1$.
# * `revad.jacrev(f)` builds the full Jacobian row by row, seeding $u = e_i$ for each output $i$: by default all
#   $m$ seeds go in one vectorized sweep (a leading batch axis on the cotangents), or `chunk_size` at a time.
#
# For $g:\mathbb R^3\to\mathbb R^2$, all three routes (and forward mode, and the oracle) agree:

# %%
def g(v):
    return np.stack([v[0] * v[1] * v[2], np.exp(v[0]) - v[2] ** 2])


v = np.array([0.5, -1.0, 2.0])
out, pull = revad.vjp(g, v)
rows = [pull(e)[0] for e in np.eye(2)]
print("rows from two pullback calls:\n", np.array(rows))
print("revad.jacrev:\n", revad.jacrev(g)(v))
print("dualad.jacfwd:\n", dualad.jacfwd(g)(v))
print("oracle max relative error of each mode:", {k: f"{e:.0e}" for k, e in oracle.check(g, v).items()})

# %% [markdown]
# ## 5. Memory, and checkpointing to save it
#
# The tape must keep every intermediate array until the sweep reaches it, so reverse mode's memory grows with
# the **length** of the computation. `tape.nbytes` reports how many bytes of arrays a tape holds. For a deep
# stack of blocks, each with a few elementwise operations on a $200\times200$ array:

# %%
def block(h):
    return np.tanh(h) * 0.9 + 0.1 * np.sin(h)     # 5 primitives, 5 stored results


def make_net(blk, depth=24):
    def net(x):
        h = x
        for _ in range(depth):
            h = blk(h)
        return np.sum(h ** 2)
    return net


x_big = rng.normal(size=(200, 200))
plain = make_net(block)
ckpt = make_net(revad.checkpoint(block))

for name, fn in [("plain", plain), ("checkpointed", ckpt)]:
    t = revad.trace(fn, x_big)
    print(f"{name:13s}: {len(t):4d} records, tape holds {t.nbytes / 1e6:6.2f} MB")

# %% [markdown]
# `revad.checkpoint(block)` wraps the block so that, while recording, it runs on plain arrays and puts **one**
# record on the tape that keeps only the block's input and output. During the backward sweep that record
# re-runs the block on a fresh, short tape to get the inner adjoints, then throws that tape away. Memory drops
# from "every intermediate" to "one array per block", at the price of evaluating each block twice.
#
# We measure both with `tracemalloc` (NumPy reports its array allocations to it): the peak memory of one
# `revad.grad` call, and the median time of a few calls.

# %%
def peak_and_time(fn, x, repeats=5):
    revad.grad(fn)(x)                      # warm up
    tracemalloc.start()
    g = revad.grad(fn)(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        revad.grad(fn)(x)
        times.append(time.perf_counter() - start)
    return g, peak, float(np.median(times))


g_plain, peak_plain, t_plain = peak_and_time(plain, x_big)
g_ckpt, peak_ckpt, t_ckpt = peak_and_time(ckpt, x_big)
print(f"plain        : peak {peak_plain / 1e6:6.2f} MB   time {t_plain * 1e3:7.1f} ms")
print(f"checkpointed : peak {peak_ckpt / 1e6:6.2f} MB   time {t_ckpt * 1e3:7.1f} ms")
print("same gradient:", np.allclose(g_plain, g_ckpt, rtol=1e-12, atol=1e-12))
assert peak_ckpt < peak_plain

# %% [markdown]
# The gradient is identical and the peak memory is about four times smaller. In exchange every block's
# forward pass runs twice, so the arithmetic grows by roughly one extra evaluation. How much of that shows up as
# wall time depends on the machine and the array sizes: allocating and touching less memory is itself cheaper,
# which can hide part (or all) of the recomputation. The trade pays off when memory is the binding constraint,
# which is what lets real networks fit long sequences or deep stacks into a limited GPU.
#
# How the memory grows with depth, for both versions:

# %%
depths = [4, 8, 16, 32, 48]
mem = {"plain": [], "checkpointed": []}
for d in depths:
    for name, blk in [("plain", block), ("checkpointed", revad.checkpoint(block))]:
        mem[name].append(revad.trace(make_net(blk, d), x_big).nbytes / 1e6)

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, values in mem.items():
    ax.plot(depths, values, "o-", label=name)
ax.set_xlabel("number of blocks")
ax.set_ylabel("bytes held by the tape (MB)")
ax.set_title("tape memory grows linearly with depth; checkpointing cuts the slope")
ax.legend()
plt.show()

# %% [markdown]
# **Summary**
#
# * The tape is the computation graph recorded as a list; the backward sweep visits it once in reverse.
# * Every record's VJP multiplies the incoming adjoint by its local derivative; adjoints of values used more
#   than once are **summed**.
# * For a dense layer the VJPs are the textbook backprop equations $dZ = dA\odot g'(Z)$, $dW = dZ\,A^\top$,
#   $db = \sum dZ$, $dA_{prev} = W^\top dZ$, and `revad` reproduces them to rounding.
# * Memory is reverse mode's price; checkpointing stores less and recomputes more.
