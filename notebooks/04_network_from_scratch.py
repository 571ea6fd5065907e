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
# # 04 · A neural network from scratch, trained with reverse mode
#
# Everything in this notebook is plain NumPy: dense layers, activations, losses, initializations, mini-batch
# gradient descent. The only thing we do not write by hand is the backward pass: `revad.value_and_grad`
# records the forward pass on a tape and sweeps it back (notebook 03), giving the gradient with respect to every
# weight and bias in one go.
#
# We cover
# 1. a data set made here (two interleaved half-moons), and dense layers $Z = XW + b$, $A = f(Z)$ in the
#    batched, examples-as-rows layout;
# 2. weight initialization: zero, small random, Xavier, He, and why **zero fails**;
# 3. the two standard losses, MSE and cross-entropy, and why classification prefers the latter;
# 4. training with mini-batches, a loss curve and the learned decision boundary.

# %%
import time

import numpy as np
import matplotlib.pyplot as plt

import adops
import dualad
import revad
from compare import oracle

relu, sigmoid, log_softmax, softmax = adops.nn.relu, adops.nn.sigmoid, adops.nn.log_softmax, adops.nn.softmax
np.set_printoptions(precision=4, suppress=True)

# %% [markdown]
# ## 1. Data: two moons
#
# Two noisy half-circles that interlock, so no straight line separates them: a network needs a hidden layer.

# %%
def two_moons(n, noise, rng):
    t = rng.uniform(0, np.pi, size=n)
    upper = np.column_stack([np.cos(t), np.sin(t)])
    lower = np.column_stack([1 - np.cos(t), 0.5 - np.sin(t)])
    label = rng.integers(0, 2, size=n)
    X = np.where(label[:, None] == 0, upper, lower) + noise * rng.normal(size=(n, 2))
    return (X - [0.5, 0.25]) / [1.0, 0.5], label     # roughly centred and scaled


rng = np.random.default_rng(7)
X_train, y_train = two_moons(600, 0.15, rng)
X_test, y_test = two_moons(400, 0.15, rng)
Y_train = np.eye(2)[y_train]            # one-hot labels, shape (n, 2)

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.scatter(*X_train.T, c=y_train, cmap="coolwarm", s=10)
ax.set_title(f"two moons: {len(X_train)} training points")
plt.show()

# %% [markdown]
# ## 2. Dense layers
#
# One dense layer takes a batch $X$ of shape `(batch, n_in)` to $Z = XW + b$ with $W$ of shape `(n_in, n_out)`
# and $b$ of shape `(1, n_out)` broadcast over the rows, then applies an activation elementwise. A network is a
# list of such layers; we keep the parameters in a dict so `revad.grad` hands back a dict of the same shape.

# %%
def init_params(sizes, method, rng):
    """Weights for layers sizes[0] -> sizes[1] -> ...; biases start at zero."""
    params = {}
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        if method == "zero":
            W = np.zeros((n_in, n_out))
        elif method == "constant":
            W = np.full((n_in, n_out), 0.5)
        elif method == "small random":
            W = 0.01 * rng.normal(size=(n_in, n_out))
        elif method == "xavier":
            W = rng.normal(size=(n_in, n_out)) * np.sqrt(2.0 / (n_in + n_out))
        elif method == "he":
            W = rng.normal(size=(n_in, n_out)) * np.sqrt(2.0 / n_in)
        else:
            raise ValueError(method)
        params[f"W{k}"], params[f"b{k}"] = W, np.zeros((1, n_out))
    return params


def forward(params, X, activation=relu):
    """Logits of the network: hidden layers use `activation`, the last layer is linear."""
    L = len(params) // 2
    A = X
    for k in range(1, L):
        A = activation(A @ params[f"W{k}"] + params[f"b{k}"])
    return A @ params[f"W{L}"] + params[f"b{L}"]


# %% [markdown]
# ## 3. Losses
#
# For $C$ classes the network outputs $C$ **logits** per example. Softmax turns them into probabilities, and
# the cross-entropy loss is the mean negative log-probability of the true class,
# $\mathcal L_{CE} = -\frac1n\sum_i\sum_c y_{ic}\log \hat p_{ic}$. We compute $\log\hat p$ with `log_softmax`,
# which never overflows, instead of `log(softmax(...))`.
#
# The mean squared error $\mathcal L_{MSE} = \frac1n\sum_i\sum_c(\hat p_{ic} - y_{ic})^2$ is the standard loss
# for regression; it also works on probabilities but learns slowly when the model is confidently wrong.

# %%
def cross_entropy(params, X, Y):
    return -np.mean(np.sum(Y * log_softmax(forward(params, X), axis=1), axis=1))


def mse(params, X, Y):
    return np.mean(np.sum((softmax(forward(params, X), axis=1) - Y) ** 2, axis=1))


# %% [markdown]
# Why cross-entropy for classification: look at one example with true label $y = 1$ and predicted probability
# $\hat y$. Both losses and their derivatives (one forward pass of `dualad` over the whole grid of $\hat y$ values
# gives the derivative curve; the losses are elementwise, so a tangent of ones yields every slope at once):

# %%
y_hat = np.linspace(0.01, 0.99, 99)
bce = lambda p: -np.log(p)              # cross-entropy for y = 1
sq = lambda p: (1 - p) ** 2             # squared error for y = 1
(bce_val, bce_slope), (sq_val, sq_slope) = [dualad.jvp(fn, (y_hat,), (np.ones_like(y_hat),)) for fn in (bce, sq)]

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
axes[0].plot(y_hat, bce_val, label="cross-entropy  -log p")
axes[0].plot(y_hat, sq_val, label="squared error  (1 - p)^2")
axes[0].set_title("loss for a true label 1")
axes[1].plot(y_hat, bce_slope, label="d CE / dp = -1/p")
axes[1].plot(y_hat, sq_slope, label="d SE / dp = -2(1 - p)")
axes[1].set_ylim(-20, 1)
axes[1].set_title("gradient")
for ax in axes:
    ax.set_xlabel("predicted probability p of the true class")
    ax.legend()
plt.show()

# %% [markdown]
# When the prediction is badly wrong ($p \to 0$), the cross-entropy gradient grows without bound while the
# squared error's stays at most 2 in size (and, measured at the logits through a sigmoid or softmax, it even
# *vanishes*, since the output unit saturates). Cross-entropy pushes hardest exactly when the model is most wrong.
#
# Before training, one sanity check of the machinery: the reverse-mode gradient of the cross-entropy loss of a
# tiny network against the exact SymPy oracle, for every parameter.

# %%
tiny = init_params([2, 3, 2], "he", np.random.default_rng(1))
errors = oracle.check(cross_entropy, tiny, X_train[:5], Y_train[:5])
print({k: f"{v:.1e}" for k, v in errors.items()})
assert max(errors.values()) < 1e-10

# %% [markdown]
# ## 4. Initialization, and why zero fails
#
# If every weight starts at the same value, every hidden unit in a layer computes the same function of the input,
# receives the same gradient, and takes the same step, forever: the layer behaves like a single unit, however
# wide it is. Zero is the extreme case: with $W = 0$ the hidden activations are $\mathrm{relu}(0) = 0$, so
# $dW^{[1]} = X^\top\big(dZ^{[2]} W^{[2]\top} \odot \mathbf 1[Z^{[1]}>0]\big)$ is exactly zero and so is
# $dW^{[2]} = A^{[1]\top} dZ^{[2]}$: only the biases ever move.
#
# Look at the gradients `revad` returns at the first step for a 2-8-2 network:

# %%
sizes = [2, 8, 2]
for method in ("zero", "constant", "he"):
    p0 = init_params(sizes, method, np.random.default_rng(0))
    g0 = revad.grad(cross_entropy)(p0, X_train, Y_train)
    # hidden unit j owns column j of W1 and row j of W2
    same = np.allclose(g0["W1"], g0["W1"][:, :1]) and np.allclose(g0["W2"], g0["W2"][:1, :])
    print(f"{method:9s} max|dW1| = {np.abs(g0['W1']).max():.2e}   max|dW2| = {np.abs(g0['W2']).max():.2e}   "
          f"every hidden unit gets the same gradient: {same}")

# %% [markdown]
# With constant weights the gradient is not zero, but it is the *same* for every hidden unit, so they stay
# copies of each other. (Here the first layer's gradient also happens to vanish at the first step, because the
# two output units are symmetric too; after one step they no longer are.)
#
# Train each (the `train` function below), and count how many **distinct** hidden units the trained first layer
# has: zero and constant initializations end with one, however many units there are.

# %%
def train(params, loss, X, Y, lr=0.5, epochs=150, batch_size=32, seed=0):
    """Mini-batch gradient descent; returns the trained params and the full-data loss after each epoch."""
    params = {k: v.copy() for k, v in params.items()}
    value_and_grad = revad.value_and_grad(loss)
    order_rng = np.random.default_rng(seed)
    history = []
    n = len(X)
    for _ in range(epochs):
        order = order_rng.permutation(n)                      # a fresh shuffle each epoch
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            _, grads = value_and_grad(params, X[idx], Y[idx])
            for k in params:
                params[k] -= lr * grads[k]                    # the update rule: w <- w - lr * dL/dw
        history.append(float(loss(params, X, Y)))
    return params, history


def accuracy(params, X, y):
    return float(np.mean(np.argmax(forward(params, X), axis=1) == y))


sizes = [2, 16, 16, 2]
runs = {}
start = time.perf_counter()
for method in ("zero", "constant", "small random", "xavier", "he"):
    p0 = init_params(sizes, method, np.random.default_rng(0))
    runs[method] = train(p0, cross_entropy, X_train, Y_train, epochs=60)
    W1 = runs[method][0]["W1"]
    distinct = np.unique(W1.round(8), axis=1).shape[1]
    print(f"{method:13s} final loss {runs[method][1][-1]:.4f}   test accuracy "
          f"{accuracy(runs[method][0], X_test, y_test):.3f}   distinct hidden units in layer 1: {distinct}/16")
print(f"({time.perf_counter() - start:.1f} s for 5 x 60 epochs)")

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.8))
for method, (_, hist) in runs.items():
    ax.plot(range(1, len(hist) + 1), hist, label=method)
ax.set_xlabel("epoch")
ax.set_ylabel("training cross-entropy")
ax.set_yscale("log")
ax.set_title("the same network and data, five initializations")
ax.legend()
plt.show()

# %% [markdown]
# *Small random* weights break the symmetry, but in a deeper network they shrink the signal layer after layer
# (and with it the gradients). Xavier ($\sigma = \sqrt{2/(n_{in}+n_{out})}$) and He ($\sigma = \sqrt{2/n_{in}}$)
# choose the scale so the activations keep roughly the same size through the layers; He's extra factor
# compensates for ReLU zeroing half its inputs. A ten-layer, 100-unit ReLU stack makes that visible:

# %%
deep_sizes = [100] * 11
x_probe = np.random.default_rng(3).normal(size=(500, 100))
fig, ax = plt.subplots(figsize=(6.5, 3.5))
for method in ("small random", "xavier", "he"):
    p = init_params(deep_sizes, method, np.random.default_rng(0))
    A, stds = x_probe, []
    for k in range(1, 11):
        A = relu(A @ p[f"W{k}"] + p[f"b{k}"])
        stds.append(A.std())
    ax.plot(range(1, 11), stds, "o-", label=method)
ax.set_yscale("log")
ax.set_xlabel("layer")
ax.set_ylabel("std of activations")
ax.set_title("ReLU stack: how the signal's size changes with depth")
ax.legend()
plt.show()

# %% [markdown]
# ## 5. Mini-batches and the final model
#
# Each step above used a **mini-batch** of 32 examples: the gradient of the loss on a random subset, an unbiased
# but noisy estimate of the full gradient at a fraction of its cost. In short: batch size
# 1 gives many noisy updates, the full batch few accurate ones, and 32 to 256 is the usual compromise.
#
# We train the He-initialized network longer, once with cross-entropy and once with MSE, and record the loss per
# epoch.

# %%
p_he = init_params(sizes, "he", np.random.default_rng(0))
start = time.perf_counter()
model_ce, hist_ce = train(p_he, cross_entropy, X_train, Y_train, epochs=150)
model_mse, hist_mse = train(p_he, mse, X_train, Y_train, epochs=150)
print(f"training time {time.perf_counter() - start:.1f} s")
for name, model in [("cross-entropy", model_ce), ("MSE", model_mse)]:
    print(f"{name:14s} train acc {accuracy(model, X_train, y_train):.3f}   "
          f"test acc {accuracy(model, X_test, y_test):.3f}")

fig, ax = plt.subplots(figsize=(6.5, 3.5))
ax.plot(hist_ce, label="cross-entropy loss")
ax.plot(hist_mse, label="MSE loss")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_title("loss curves (He initialization, batch 32, lr 0.5)")
ax.legend()
plt.show()

# %% [markdown]
# The decision boundary of the cross-entropy model: the predicted probability of the red class on a grid, with
# the test points on top.

# %%
xx, yy = np.meshgrid(np.linspace(-2.2, 2.2, 200), np.linspace(-2.0, 2.0, 200))
grid = np.column_stack([xx.ravel(), yy.ravel()])
prob = softmax(forward(model_ce, grid), axis=1)[:, 1].reshape(xx.shape)

fig, ax = plt.subplots(figsize=(6, 4.5))
ax.contourf(xx, yy, prob, levels=20, cmap="coolwarm", alpha=0.6)
ax.contour(xx, yy, prob, levels=[0.5], colors="k")
ax.scatter(*X_test.T, c=y_test, cmap="coolwarm", s=10, edgecolors="k", linewidths=0.3)
ax.set_title(f"decision boundary, test accuracy {accuracy(model_ce, X_test, y_test):.3f}")
plt.show()

# %% [markdown]
# **Summary**
#
# * A dense network is a few lines of NumPy; `revad.value_and_grad` supplies every gradient from one recorded
#   forward pass and one backward sweep.
# * Identical initial weights (zero in particular) make hidden units identical forever; random scales chosen
#   by Xavier or He keep the signal alive through depth.
# * Cross-entropy gives strong gradients exactly where the model is confidently wrong.
