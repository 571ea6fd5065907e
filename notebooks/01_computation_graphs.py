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
# # 01 · Computation graphs: values left to right, derivatives right to left
#
# A neural network's cost is a long chain of small operations. Writing it as a **computation graph** (one node
# per operation, one edge per value that flows between them) makes two things easy:
#
# * the **forward pass** evaluates the nodes from left to right, from inputs to the cost;
# * the **backward pass** (backpropagation) walks the same graph from right to left and finds how the cost
#   changes when any node changes, reusing at each node what it already knows about the nodes to its right.
#
# This notebook works through the smallest example that shows both: a single linear unit with one training
# example, a classic worked example of backpropagation.
#
# $$a = w x + b, \qquad J = \tfrac12 (a - y)^2, \qquad w = 2,\; x = -2,\; b = 8,\; y = 2 .$$
#
# We compute every number by hand first, then let `revad` (fwdrev's reverse-mode engine) record the same code on a
# **tape** and draw the graph from that recording, and finally check the derivatives two independent ways: the
# exact SymPy oracle and a finite difference.

# %%
import numpy as np

import dualad
import revad
from compare import oracle

np.set_printoptions(precision=6, suppress=True)

# %% [markdown]
# ## 1. The function, written as plain NumPy
#
# Nothing in the cost function knows about differentiation. Each line is one node of the graph; we give the
# intermediate values names we keep using below: $c = wx$, $a = c + b$, $d = a - y$, $J = \tfrac12 d^2$.

# %%
def cost(w, x, b, y):
    c = w * x          # node 1: multiply
    a = c + b          # node 2: add the bias -> the unit's output
    d = a - y          # node 3: the error
    return 0.5 * d**2  # node 4: half the squared error


w, x, b, y = 2.0, -2.0, 8.0, 2.0

# %% [markdown]
# ## 2. Forward pass by hand (left to right)
#
# Each node needs only the values of the nodes feeding it, so we can fill in the graph in order.

# %%
c = w * x
a = c + b
d = a - y
J = 0.5 * d**2
print(f"c = w*x      = {w:g} * {x:g} = {c:g}")
print(f"a = c + b    = {c:g} + {b:g} = {a:g}")
print(f"d = a - y    = {a:g} - {y:g} = {d:g}")
print(f"J = d**2 / 2 = {d:g}**2 / 2 = {J:g}")
assert (c, a, d, J) == (-4.0, 4.0, 2.0, 2.0)

# %% [markdown]
# ## 3. The same pass, recorded on a tape
#
# `revad.trace(f, *args)` runs `f` once on *traced* values. Every NumPy operation they take part in is computed
# as usual **and** appended to a flat list, the tape. Printing the tape gives the *Wengert list*: one line per
# primitive, in execution order, each naming its inputs. The inputs keep the parameter names of `cost`;
# intermediate results are numbered `v4, v5, ...`.
#
# Reading it against our hand computation: `v4` is $c$, `v5` is $a$, `v6` is $d$, `v7` is $d^2$ and `v8` is $J$.
# (The tape splits $\tfrac12 d^2$ into a square and a multiplication, because those are the primitives NumPy ran.)

# %%
tape = revad.trace(cost, w, x, b, y)
print(tape)

# %% [markdown]
# `tape.draw()` lays the records out as a graph, inputs (shaded boxes) on the left, the cost on the right. Each
# node shows the value the forward pass left in it. (When Graphviz is installed, `tape.draw("graph.png")`
# writes a PNG instead; `tape.to_dot()` gives the DOT text.)

# %%
fig = tape.draw()

# %% [markdown]
# ## 4. Backward pass by hand (right to left)
#
# Backprop asks, at each node: *if this node's value moved by a tiny $\varepsilon$, how much would $J$ move?*
# The answer is the node's **adjoint**, $\partial J / \partial(\text{node})$. We start at the right, where
# $\partial J/\partial J = 1$, and move left. Each step multiplies the adjoint already known on the right by one
# *local* derivative, the chain rule $\frac{\partial J}{\partial u} = \frac{\partial J}{\partial v}\,
# \frac{\partial v}{\partial u}$:
#
# | node | local derivative | adjoint |
# |---|---|---|
# | $J = \tfrac12 d^2$ | $\partial J/\partial d = d = 2$ | $\partial J/\partial d = 2$ |
# | $d = a - y$ | $\partial d/\partial a = 1$ | $\partial J/\partial a = 2 \cdot 1 = 2$ |
# | $a = c + b$, towards $c$ | $\partial a/\partial c = 1$ | $\partial J/\partial c = 2 \cdot 1 = 2$ |
# | $a = c + b$, towards $b$ | $\partial a/\partial b = 1$ | $\partial J/\partial b = 2 \cdot 1 = 2$ |
# | $c = w x$ | $\partial c/\partial w = x = -2$ | $\partial J/\partial w = 2 \cdot (-2) = -4$ |
#
# Notice that $\partial J/\partial b$ and $\partial J/\partial w$ both reuse $\partial J/\partial a = 2$ instead of
# recomputing it: that reuse is the whole point of going right to left.

# %%
dJ_dJ = 1.0
dJ_dd = dJ_dJ * d          # d(d^2/2)/dd = d
dJ_da = dJ_dd * 1.0        # d = a - y
dJ_dc = dJ_da * 1.0        # a = c + b
dJ_db = dJ_da * 1.0
dJ_dw = dJ_dc * x          # c = w * x
dJ_dx = dJ_dc * w
dJ_dy = dJ_dd * -1.0
by_hand = {"w": dJ_dw, "x": dJ_dx, "b": dJ_db, "y": dJ_dy}
print(by_hand)
assert (J, dJ_dw, dJ_db) == (2.0, -4.0, 2.0)

# %% [markdown]
# ## 5. The same sweep, done by the tape
#
# `tape.backward()` performs exactly that sweep over the recorded list, last record first. Each record's VJP
# rule (its "local derivative times incoming adjoint") comes from fwdrev's op registry. It returns the adjoint of
# every input, and it also remembers the adjoint of every intermediate slot, so drawing the tape again shows
# both numbers in each node: value (computed left to right) and adjoint (computed right to left).

# %%
adjoints = tape.backward()
print(adjoints)
assert adjoints == by_hand

# %%
fig = tape.draw()

# %% [markdown]
# In everyday use you do not look at the tape at all: `revad.grad` records, sweeps and throws the tape away.

# %%
dJ_dw_rev, dJ_db_rev = revad.grad(cost, argnums=(0, 2))(w, x, b, y)
print("revad.grad:  dJ/dw =", dJ_dw_rev, "  dJ/db =", dJ_db_rev)

# %% [markdown]
# ## 6. Checking the answer two independent ways
#
# **Finite differences**, the check one can do by hand: nudge $w$ from 2 to 2.001 and watch $J$ go from 2 to about
# 1.996, a change of about $-4 \times 0.001$. Likewise nudging $d$ from 2 to 2.001 moves $J$ to about 2.002.

# %%
eps = 1e-3
print(f"J(w=2)     = {cost(w, x, b, y):.6f}")
print(f"J(w=2.001) = {cost(w + eps, x, b, y):.6f}")
print(f"slope      = {(cost(w + eps, x, b, y) - cost(w, x, b, y)) / eps:.4f}   (adjoint of w: {adjoints['w']:g})")
J_d = 0.5 * (d + eps) ** 2
print(f"J(d=2.001) = {J_d:.6f}   slope {(J_d - 0.5 * d**2) / eps:.4f}   (adjoint of d: 2)")

# %% [markdown]
# A one-sided difference is only approximately right (its error here is exactly $\tfrac12 x^2\varepsilon$;
# notebook 06 studies this). The **oracle** `compare.oracle` is exact: it runs the *same* `cost` function on
# SymPy symbols, differentiates the resulting expression symbolically and evaluates it with 40 significant digits.

# %%
exact = oracle.jacobian(cost, w, x, b, y, argnums=(0, 1, 2, 3))
for name, value in zip("wxby", exact):
    central = (cost(*[v + (1e-6 if n == name else 0.0) for n, v in zip("wxby", (w, x, b, y))])
               - cost(*[v - (1e-6 if n == name else 0.0) for n, v in zip("wxby", (w, x, b, y))])) / 2e-6
    print(f"dJ/d{name}:  tape {adjoints[name]:+g}   oracle {float(value):+g}   central difference {central:+.9f}")
    assert adjoints[name] == float(value)
    assert abs(central - float(value)) < 1e-6

# %% [markdown]
# ## 7. Why right to left? A preview of the cost argument
#
# We could also have gone **left to right** with derivatives: pick *one* input, say $w$, push
# "$w$ moves by $\varepsilon$" forward through every node, and read off how much $J$ moved. That is forward-mode
# differentiation (notebook 02), and `dualad.jvp` does it. But one forward pass answers for *one* input only: to
# get all four derivatives we need four passes, each touching every node.

# %%
for k, name in enumerate("wxby"):
    direction = tuple(1.0 if i == k else 0.0 for i in range(4))
    _, dJ = dualad.jvp(cost, (w, x, b, y), direction)
    print(f"forward pass {k + 1}: seed {name} -> dJ/d{name} = {float(dJ):+g}")

# %% [markdown]
# With $n$ nodes and $p$ parameters, one forward pass per parameter costs about $n \cdot p$ node visits; the single
# backward sweep costs about $n + p$. For a network with millions of parameters and one scalar cost, that is the
# difference between feasible and not. Notebook 05 measures it.
#
# **Summary**
#
# * A computation graph breaks a cost into primitives; the tape is that graph, recorded as a flat list.
# * Forward: values, left to right. Backward: adjoints, right to left, each one the adjoint to its right times a
#   local derivative, so nothing is computed twice.
# * For the seed example: $J = 2$, $\partial J/\partial w = -4$, $\partial J/\partial b = 2$, confirmed by the
#   exact oracle and by finite differences.
