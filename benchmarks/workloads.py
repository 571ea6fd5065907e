"""The benchmark functions, written once per array library (NumPy, autograd.numpy, torch, jax.numpy).

Import ``common`` before this module so thread pinning happens before numpy loads.
"""

from __future__ import annotations

import numpy as np

CHAIN_BLOCKS = 150  # 4 primitives per block: 600 ops
CHAIN_OPS = 4 * CHAIN_BLOCKS
HIDDEN = 64


def make_chain(sin, cos):
    """A 600-op scalar chain alternating sin, cos, multiply, add (every op depends on the previous one)."""

    def chain(x):
        for _ in range(CHAIN_BLOCKS):
            x = sin(x)
            x = cos(x)
            x = x * 1.0001
            x = x + 0.5
        return x

    return chain


chain_np = make_chain(np.sin, np.cos)


# ---- the dense map f(x) = W2 @ tanh(W1 @ x + b1) ----------------------------------------------------------------


def dense_params(n: int, m: int, hidden: int = HIDDEN, seed: int = 0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((hidden, n)) / np.sqrt(n)).astype(dtype)
    b1 = (0.1 * rng.standard_normal(hidden)).astype(dtype)
    w2 = (rng.standard_normal((m, hidden)) / np.sqrt(hidden)).astype(dtype)
    x = rng.standard_normal(n).astype(dtype)
    return w1, b1, w2, x


def make_dense(w1, b1, w2, tanh):
    def f(x):
        return w2 @ tanh(w1 @ x + b1)

    return f


def dense_jac_hand_fwd(w1, b1, w2, x):
    """Hand-batched forward-mode Jacobian in NumPy: push the identity through the JVP, W2 @ ((1-h^2) * (W1 @ I))."""
    h = np.tanh(w1 @ x + b1)
    seed = np.eye(x.shape[0], dtype=x.dtype)
    return w2 @ ((1 - h * h)[:, None] * (w1 @ seed))


def dense_jac_hand_rev(w1, b1, w2, x):
    """Hand-batched reverse-mode Jacobian in NumPy: pull the identity back, ((I @ W2) * (1-h^2)) @ W1."""
    h = np.tanh(w1 @ x + b1)
    seed = np.eye(w2.shape[0], dtype=x.dtype)
    return ((seed @ w2) * (1 - h * h)) @ w1


# ---- MLP loss: batch 256, 784-512-512-10, tanh, softmax cross-entropy -------------------------------------------

MLP_SIZES = (784, 512, 512, 10)
MLP_BATCH = 256


def mlp_data(dtype=np.float64, seed: int = 0, batch: int = MLP_BATCH, sizes=MLP_SIZES):
    rng = np.random.default_rng(seed)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params.append((rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype))
        params.append(np.zeros(b, dtype=dtype))
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    labels = rng.integers(0, sizes[-1], size=batch)
    onehot = np.zeros((batch, sizes[-1]), dtype=dtype)
    onehot[np.arange(batch), labels] = 1
    return tuple(params), x, onehot


def make_mlp_loss(tanh, log_softmax, xsum, mean_factor):
    """Mean softmax cross-entropy of a tanh MLP; ``params = (W1, b1, W2, b2, W3, b3)``."""

    def loss(params, x, onehot):
        w1, b1, w2, b2, w3, b3 = params
        h1 = tanh(x @ w1 + b1)
        h2 = tanh(h1 @ w2 + b2)
        logits = h2 @ w3 + b3
        return -xsum(onehot * log_softmax(logits)) * mean_factor(x)

    return loss


def np_log_softmax(z):
    z = z - np.max(z, axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def mlp_loss_np(params, x, onehot):
    """Plain NumPy loss (no AD), the "loss alone" baseline."""
    w1, b1, w2, b2, w3, b3 = params
    h1 = np.tanh(x @ w1 + b1)
    h2 = np.tanh(h1 @ w2 + b2)
    logits = h2 @ w3 + b3
    return -np.sum(onehot * np_log_softmax(logits)) * x.dtype.type(1.0 / x.shape[0])


def mlp_value_and_grad_hand(params, x, onehot):
    """Hand-written NumPy forward + backward of the same loss: the speed and memory floor for reverse mode."""
    w1, b1, w2, b2, w3, b3 = params
    scale = x.dtype.type(1.0 / x.shape[0])
    h1 = np.tanh(x @ w1 + b1)
    h2 = np.tanh(h1 @ w2 + b2)
    z = h2 @ w3 + b3
    z = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    s = np.sum(e, axis=-1, keepdims=True)
    logp = z - np.log(s)
    value = -np.sum(onehot * logp) * scale
    # backward
    dz = (e / s - onehot) * scale  # d loss / d logits (rows of onehot sum to 1)
    gw3 = h2.T @ dz
    gb3 = dz.sum(axis=0)
    dh2 = dz @ w3.T
    dh2 *= 1 - h2 * h2
    gw2 = h1.T @ dh2
    gb2 = dh2.sum(axis=0)
    dh1 = dh2 @ w2.T
    dh1 *= 1 - h1 * h1
    gw1 = x.T @ dh1
    gb1 = dh1.sum(axis=0)
    return value, (gw1, gb1, gw2, gb2, gw3, gb3)


# ---- Rosenbrock ---------------------------------------------------------------------------------------------------


def make_rosenbrock(xsum):
    def rosen(x):
        a = x[:-1]
        b = x[1:]
        return xsum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2)

    return rosen


rosen_np = make_rosenbrock(np.sum)


def rosen_hessian_hand(x):
    """The exact tridiagonal Hessian of the Rosenbrock sum, assembled densely in NumPy (a floor, not AD)."""
    n = x.shape[0]
    h = np.zeros((n, n), dtype=x.dtype)
    a = x[:-1]
    diag = np.zeros(n, dtype=x.dtype)
    diag[:-1] += 1200.0 * a * a - 400.0 * x[1:] + 2.0
    diag[1:] += 200.0
    off = -400.0 * a
    idx = np.arange(n - 1)
    h[idx, idx + 1] = off
    h[idx + 1, idx] = off
    h[np.arange(n), np.arange(n)] = diag
    return h
