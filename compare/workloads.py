"""The workload corpus: named families of functions with a size knob, shared by tests, oracle checks and plots.

Every workload is built from its sizes with fixed random seeds and returns ``(f, args)``; derivatives are always
taken with respect to ``args[0]`` (which may be a list or dict of arrays, a "pytree"). Plain NumPy code only, so
both engines and the SymPy oracle run the very same function.

>>> from compare import workloads
>>> f, args = workloads.build("seed_graph", n=1, p=1, activation=False)
>>> float(f(*args))   # seed 002: w=2, x=-2, b=8, y=2 gives J = 2
2.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import adops.nn as nn

__all__ = ["Workload", "WORKLOADS", "get", "build", "names", "dims", "seed_example", "dense_arrays", "rosenbrock",
           "local3"]


@dataclass(frozen=True)
class Workload:
    """A named family of functions: ``builder(**sizes) -> (f, args)``; differentiate with respect to ``args[0]``.

    ``defaults`` are moderate sizes for measurements, ``small`` sizes the oracle can check in well under a
    second. ``scalar`` says whether ``f`` returns a scalar loss (then reverse mode needs one sweep).
    """

    name: str
    description: str
    builder: Callable[..., tuple[Callable, tuple]]
    defaults: dict = field(default_factory=dict)
    small: dict = field(default_factory=dict)
    scalar: bool = False
    jacobian_shape: str = "dense"

    def __call__(self, **sizes: Any) -> tuple[Callable, tuple]:
        unknown = set(sizes) - set(self.defaults)
        if unknown:
            raise TypeError(f"workload {self.name!r}: unknown size(s) {sorted(unknown)}; "
                            f"it takes {sorted(self.defaults)}")
        return self.builder(**{**self.defaults, **sizes})


def _leaf_size(tree) -> int:
    if isinstance(tree, dict):
        return sum(_leaf_size(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(_leaf_size(v) for v in tree)
    return int(np.size(tree))


def dims(f: Callable, args: tuple) -> tuple[int, int]:
    """``(n, m)``: the number of scalar inputs in ``args[0]`` and of scalar outputs of ``f(*args)``.

    Examples
    --------
    >>> dims(lambda x: x[:2] * 2, (np.ones(5),))
    (5, 2)
    """
    return _leaf_size(args[0]), _leaf_size(f(*args))


# ---- the seed graph, generalised ----------------------------------------------------------------------------
def seed_graph(n: int = 64, p: int = 8, activation: bool = True) -> tuple[Callable, tuple]:
    """A chain of ``n`` nodes into which ``p`` scalar parameters feed, with a squared-error loss (seed 002).

    Node i computes ``a_i = tanh(w_{i mod p} * a_{i-1} + b_i)`` from ``a_0 = x``; the loss is
    ``J = (a_n - y)^2 / 2``. With ``n = p = 1`` and ``activation=False`` this is exactly seed 002's graph
    ``a = w*x + b``, ``J = (a - y)^2 / 2`` at ``w=2, x=-2, b=8, y=2``. The parameters are a list of ``p``
    one-element arrays, so the gradient is a list too; each node costs 3 primitives (multiply, add, tanh).

    Examples
    --------
    >>> f, (w, x, b, y) = seed_graph(n=5, p=2)
    >>> len(w), np.shape(f(w, x, b, y))
    (2, ())
    """
    if n < 1 or p < 1:
        raise ValueError(f"seed_graph: n and p must be >= 1, got n={n}, p={p}")
    rng = np.random.default_rng(2)
    if n == 1 and p == 1 and not activation:
        w, x, b, y = [np.array([2.0])], np.array([-2.0]), np.array([8.0]), np.array([2.0])
    else:
        w = [np.array([v]) for v in rng.uniform(0.6, 1.4, size=p)]
        x = np.array([-2.0])
        b = rng.normal(0.0, 0.5, size=n)
        y = np.array([2.0])

    def f(w, x, b, y):
        a = x
        for i in range(n):
            a = w[i % p] * a + b[i:i + 1]
            if activation:
                a = np.tanh(a)
        return 0.5 * np.sum(np.square(a - y))

    f.__name__ = f"seed_graph_n{n}_p{p}"
    return f, (w, x, b, y)


def seed_example() -> tuple[Callable, tuple]:
    """Seed 002's graph exactly, on scalars: ``J(w, x, b, y) = (w*x + b - y)^2 / 2`` at ``(2, -2, 8, 2)``.

    Examples
    --------
    >>> f, args = seed_example()
    >>> float(f(*args))
    2.0
    """

    def J(w, x, b, y):
        c = w * x
        a = c + b
        d = a - y
        return 0.5 * np.square(d)

    return J, (2.0, -2.0, 8.0, 2.0)


# ---- dense maps R^n -> R^m ----------------------------------------------------------------------------------
def dense(n: int = 16, m: int = 16, hidden: int = 16) -> tuple[Callable, tuple]:
    """``f(x) = W2 @ tanh(W1 @ x + b1)``: a dense map from R^n to R^m through ``hidden`` units.

    Examples
    --------
    >>> f, (x,) = dense(n=4, m=3)
    >>> f(x).shape
    (3,)
    """
    W1, b1, W2, x = dense_arrays(n, m, hidden)

    def f(x):
        return W2 @ np.tanh(W1 @ x + b1)

    f.__name__ = f"dense_{n}_to_{m}"
    return f, (x,)


def dense_arrays(n: int, m: int, hidden: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed-seed ``(W1, b1, W2, x)`` behind ``dense``, so other libraries can time the same map.

    >>> [a.shape for a in dense_arrays(4, 3, 2)]
    [(2, 4), (2,), (3, 2), (4,)]
    """
    rng = np.random.default_rng(5)
    W1 = rng.normal(0.0, 1.0 / np.sqrt(n), size=(hidden, n))
    b1 = rng.normal(0.0, 0.1, size=hidden)
    W2 = rng.normal(0.0, 1.0 / np.sqrt(hidden), size=(m, hidden))
    x = rng.normal(0.0, 1.0, size=n)
    return W1, b1, W2, x


# ---- an MLP loss over its parameters --------------------------------------------------------------------------
def mlp(width: int = 16, features: int = 4, classes: int = 3, batch: int = 8) -> tuple[Callable, tuple]:
    """Mean cross-entropy of a one-hidden-layer MLP (softplus units, log-softmax output) over its parameters.

    ``args[0]`` is a dict ``{"W1", "b1", "W2", "b2"}`` with ``p = width*(features+1) + classes*(width+1)``
    entries; the data ``X`` (batch x features) and one-hot labels ``Y`` are fixed.

    Examples
    --------
    >>> f, (params, X, Y) = mlp(width=3)
    >>> sorted(params), np.shape(f(params, X, Y))
    (['W1', 'W2', 'b1', 'b2'], ())
    """
    rng = np.random.default_rng(7)
    params = {
        "W1": rng.normal(0.0, 1.0 / np.sqrt(features), size=(features, width)),
        "b1": rng.normal(0.0, 0.1, size=width),
        "W2": rng.normal(0.0, 1.0 / np.sqrt(width), size=(width, classes)),
        "b2": np.zeros(classes),
    }
    X = rng.normal(size=(batch, features))
    Y = np.eye(classes)[rng.integers(0, classes, size=batch)]

    def f(params, X, Y):
        hidden = nn.softplus(X @ params["W1"] + params["b1"])
        logits = hidden @ params["W2"] + params["b2"]
        return -np.sum(Y * nn.log_softmax(logits, axis=-1)) / batch

    f.__name__ = f"mlp_width{width}"
    return f, (params, X, Y)


# ---- elementwise maps (diagonal Jacobian) ---------------------------------------------------------------------
def elementwise(n: int = 32) -> tuple[Callable, tuple]:
    """``f(x) = sin(x) * exp(-x^2 / 2) + sigmoid(x)`` elementwise: R^n -> R^n with a diagonal Jacobian.

    Examples
    --------
    >>> f, (x,) = elementwise(n=4)
    >>> f(x).shape
    (4,)
    """
    rng = np.random.default_rng(11)
    x = rng.uniform(-2.0, 2.0, size=n)

    def f(x):
        return np.sin(x) * np.exp(-0.5 * x * x) + nn.sigmoid(x)

    f.__name__ = f"elementwise_{n}"
    return f, (x,)


# ---- a chain of n nodes over a p-vector -----------------------------------------------------------------------
def chain(n: int = 16, p: int = 16) -> tuple[Callable, tuple]:
    """A depth-``n`` chain of elementwise nodes ``h <- tanh(a_i * h + c_i)`` over a p-vector, then ``sum(h^2)/2``.

    The gradient costs p forward passes or one reverse sweep; reverse mode must keep every node's value,
    so its memory grows with the depth ``n`` while forward mode's does not.

    Examples
    --------
    >>> f, (x,) = chain(n=3, p=5)
    >>> np.shape(f(x))
    ()
    """
    rng = np.random.default_rng(13)
    scales = rng.uniform(0.5, 1.5, size=(n, p))
    shifts = rng.normal(0.0, 0.3, size=(n, p))
    x = rng.normal(0.0, 1.0, size=p)

    def f(x):
        h = x
        for i in range(n):
            h = np.tanh(scales[i] * h + shifts[i])
        return 0.5 * np.sum(np.square(h))

    f.__name__ = f"chain_n{n}_p{p}"
    return f, (x,)


# ---- Rosenbrock: the classic test of Hessians ------------------------------------------------------------------
def rosenbrock(n: int = 32) -> tuple[Callable, tuple]:
    """``f(x) = sum(100 (x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2)``: R^n -> R, cost O(n), Hessian n x n.

    The Hessian workload of ``compare.hessians``: every nesting of the two modes computes it, at costs that
    grow like n (one Hessian-vector product) times n (directions) or faster.

    Examples
    --------
    >>> f, (x,) = rosenbrock(n=3)
    >>> float(f(np.ones(3)))
    0.0
    """
    x = np.random.default_rng(5).uniform(-1.5, 1.5, size=n)

    def f(x):
        head, tail = x[:-1], x[1:]
        return np.sum(100.0 * np.square(tail - head * head) + np.square(1.0 - head))

    f.__name__ = f"rosenbrock_{n}"
    return f, (x,)


def local3(n: int = 32) -> tuple[Callable, tuple]:
    """``f(x) = sum(exp(a b) + sin(b + c)^2 + a c)`` over the sliding windows ``(a, b, c) = (x[i], x[i+1], x[i+2])``.

    A partially separable objective (a sum of terms of 3 neighbouring variables each): its Hessian is pentadiagonal,
    n x n with about 5n nonzeros, so a star colouring needs 5 colours whatever n is (the sparse-Hessian workload of
    ``compare.hessians``; its peers compute the dense Hessian).

    Examples
    --------
    >>> f, (x,) = local3(n=4)
    >>> round(float(f(np.zeros(4))), 6)
    2.0
    """
    x = np.random.default_rng(6).uniform(-1.0, 1.0, size=n)

    def f(x):
        a, b, c = x[:-2], x[1:-1], x[2:]
        return np.sum(np.exp(a * b) + np.square(np.sin(b + c)) + a * c)

    f.__name__ = f"local3_{n}"
    return f, (x,)


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("seed_graph", "the seed example's a = w*x + b, J = (a-y)^2/2 grown to n tanh nodes fed by p"
                 " parameters",
                 seed_graph, {"n": 64, "p": 8, "activation": True}, {"n": 6, "p": 3}, scalar=True),
        Workload("dense", "W2 @ tanh(W1 @ x + b1): R^n -> R^m", dense, {"n": 16, "m": 16, "hidden": 16},
                 {"n": 3, "m": 2, "hidden": 3}),
        Workload("mlp", "mean cross-entropy of a softplus MLP over its parameters (dict of arrays)", mlp,
                 {"width": 16, "features": 4, "classes": 3, "batch": 8}, {"width": 2, "features": 2, "classes": 2,
                                                                          "batch": 3}, scalar=True),
        Workload("elementwise", "sin(x) exp(-x^2/2) + sigmoid(x): R^n -> R^n, diagonal Jacobian", elementwise,
                 {"n": 32}, {"n": 4}, jacobian_shape="diagonal"),
        Workload("chain", "depth-n chain of tanh nodes over a p-vector, sum-of-squares loss", chain,
                 {"n": 16, "p": 16}, {"n": 3, "p": 3}, scalar=True),
        Workload("rosenbrock", "Rosenbrock's function of n variables (the Hessian workload)", rosenbrock,
                 {"n": 32}, {"n": 4}, scalar=True),
        Workload("local3", "sum of exp(a b) + sin(b + c)^2 + a c over sliding windows of 3 variables (pentadiagonal "
                 "Hessian)", local3, {"n": 32}, {"n": 4}, scalar=True),
    )
}


def names() -> list[str]:
    """The workload names, in corpus order.

    >>> names()[:2]
    ['seed_graph', 'dense']
    """
    return list(WORKLOADS)


def get(name: str) -> Workload:
    """The workload called ``name``; an unknown name raises ``KeyError`` listing the known ones.

    >>> get("dense").name
    'dense'
    """
    try:
        return WORKLOADS[name]
    except KeyError:
        raise KeyError(f"unknown workload {name!r}; known workloads: {', '.join(WORKLOADS)}") from None


def build(name: str, **sizes: Any) -> tuple[Callable, tuple]:
    """Build workload ``name`` at ``sizes`` (defaults for the rest): ``(f, args)``.

    >>> f, args = build("elementwise", n=3)
    >>> f(*args).shape
    (3,)
    """
    return get(name)(**sizes)
