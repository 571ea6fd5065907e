"""Peers: the dense Jacobian workload timed with JAX, PyTorch and HIPS autograd, where they are importable.

Each peer differentiates the very same map ``W2 @ tanh(W1 @ x + b1)`` (same arrays as ``workloads.dense``) in
float64, with the four strategies of ``compare.cost``: one direction per pass (a Python loop of JVPs or VJPs)
and all directions at once (the peer's vectorized ``jacfwd``/``jacrev``, where it has one). A peer that is not
installed is skipped with a note, never an error.

>>> from compare import peers
>>> sorted(peers.PEERS)
['autograd', 'jax', 'torch']
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .cost import fit_slope, time_stats
from .hessians import DENSE_MAX_BYTES
from .workloads import build, dense_arrays

__all__ = ["PEERS", "available", "jacobians", "measure_dense", "hessians", "measure_hessians", "set_threads"]

PEERS = ("jax", "torch", "autograd")


def available(names: Iterable[str] = PEERS) -> dict[str, str | None]:
    """``{peer: version}`` for the importable peers and ``{peer: None}`` for the others.

    Examples
    --------
    >>> available(["surely_not_an_installed_module"])
    {'surely_not_an_installed_module': None}
    """
    found: dict[str, str | None] = {}
    for name in names:
        try:
            module = importlib.import_module(name)
            found[name] = str(getattr(module, "__version__", "unknown version"))
        except Exception:  # not installed, or broken on this machine: either way, skip it
            found[name] = None
    return found


def set_threads(name: str, threads: int) -> None:
    """Give a peer the thread count the comparison runs with (PyTorch keeps its own pool; JAX reads XLA_FLAGS,
    set by ``compare.conditions.controlled`` before it loads, and the CPU affinity bounds it anyway).

    >>> set_threads("autograd", 1)   # nothing to set: autograd runs on NumPy
    """
    if name == "torch":
        import torch

        torch.set_num_threads(threads)


def _basis(k: int) -> np.ndarray:
    return np.eye(k)


def _jax(W1, b1, W2, x) -> dict[str, Callable[[], np.ndarray]]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    W1, b1, W2, xj = (jnp.asarray(a) for a in (W1, b1, W2, x))

    def f(x):
        return W2 @ jnp.tanh(W1 @ x + b1)

    jvp = jax.jit(lambda x, v: jax.jvp(f, (x,), (v,))[1])
    vjp = jax.jit(lambda x, u: jax.vjp(f, x)[1](u)[0])
    jacfwd, jacrev = jax.jit(jax.jacfwd(f)), jax.jit(jax.jacrev(f))
    n, m = W1.shape[1], W2.shape[0]
    e_in, e_out = [jnp.asarray(v) for v in _basis(n)], [jnp.asarray(u) for u in _basis(m)]
    return {
        "forward-1": lambda: np.stack([np.asarray(jvp(xj, v)) for v in e_in], axis=-1),
        "forward-vec": lambda: np.asarray(jacfwd(xj).block_until_ready()),
        "reverse-1": lambda: np.stack([np.asarray(vjp(xj, u)) for u in e_out]),
        "reverse-vec": lambda: np.asarray(jacrev(xj).block_until_ready()),
    }


def _torch(W1, b1, W2, x) -> dict[str, Callable[[], np.ndarray]]:
    import torch
    from torch import func

    W1, b1, W2, xt = (torch.as_tensor(a, dtype=torch.float64) for a in (W1, b1, W2, x))

    def f(x):
        return W2 @ torch.tanh(W1 @ x + b1)

    n, m = W1.shape[1], W2.shape[0]
    e_in, e_out = torch.eye(n, dtype=torch.float64), torch.eye(m, dtype=torch.float64)

    def forward_one():
        return torch.stack([func.jvp(f, (xt,), (v,))[1] for v in e_in], dim=-1).numpy()

    def reverse_one():
        _, pullback = func.vjp(f, xt)
        return torch.stack([pullback(u)[0] for u in e_out]).numpy()

    return {
        "forward-1": forward_one,
        "forward-vec": lambda: func.jacfwd(f)(xt).numpy(),
        "reverse-1": reverse_one,
        "reverse-vec": lambda: func.jacrev(f)(xt).numpy(),
    }


def _autograd(W1, b1, W2, x) -> dict[str, Callable[[], np.ndarray]]:
    import autograd.numpy as anp
    from autograd import jacobian, make_jvp, make_vjp

    def f(x):
        return W2 @ anp.tanh(W1 @ x + b1)

    n = W1.shape[1]
    m = W2.shape[0]

    def forward_one():
        push = make_jvp(f)(x)
        return np.stack([push(v)[1] for v in _basis(n)], axis=-1)

    def reverse_one():
        pullback, _ = make_vjp(f)(x)
        return np.stack([pullback(u) for u in _basis(m)])

    # autograd has no vectorized JVP/VJP; its jacobian() is the reverse, one-row-at-a-time loop
    return {"forward-1": forward_one, "reverse-1": reverse_one, "reverse-1 (autograd.jacobian)": lambda: jacobian(f)(x)}


_BUILDERS = {"jax": _jax, "torch": _torch, "autograd": _autograd}


def jacobians(peer: str, n: int, m: int, hidden: int = 16) -> dict[str, Callable[[], np.ndarray]]:
    """Zero-argument functions computing the dense workload's Jacobian with ``peer``, one per strategy.

    Raises ``ImportError`` when the peer is not installed and ``KeyError`` for an unknown peer.

    Examples
    --------
    >>> "jax" in PEERS
    True
    """
    if peer not in _BUILDERS:
        raise KeyError(f"unknown peer {peer!r}; known: {', '.join(PEERS)}")
    return _BUILDERS[peer](*dense_arrays(n, m, hidden))


def measure_dense(grid: Iterable[tuple[int, int]], hidden: int = 16, repeats: int = 3,
                  names: Iterable[str] = PEERS, progress: Callable[[str], None] | None = None,
                  max_seconds: float = 2.0, threads: int = 1) -> tuple[list[dict[str, Any]], list[str]]:
    """Time every importable peer on the dense workload at each ``(n, m)`` in ``grid``.

    Returns ``(rows, notes)``: CSV-ready rows (``engine`` = the peer) and one note per skipped or failing
    peer. Each peer's Jacobian is checked against NumPy's closed form before it is timed.

    Examples
    --------
    >>> rows, notes = measure_dense([(2, 2)], names=["no_such_peer"])
    Traceback (most recent call last):
    ...
    KeyError: "unknown peer 'no_such_peer'; known: jax, torch, autograd"
    """
    names = list(names)
    for name in names:
        if name not in _BUILDERS:
            raise KeyError(f"unknown peer {name!r}; known: {', '.join(PEERS)}")
    versions = available(names)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    grid = list(grid)
    for name in names:
        if versions[name] is None:
            notes.append(f"{name}: not importable here, skipped (install the 'peers' extra to include it)")
            continue
        try:
            set_threads(name, threads)
            for n, m in grid:
                if progress is not None:
                    progress(f"peer {name} n={n} m={m}")
                W1, b1, W2, x = dense_arrays(n, m, hidden)
                expected = W2 @ (((1 - np.tanh(W1 @ x + b1) ** 2))[:, None] * W1)
                for strategy, run in jacobians(name, n, m, hidden).items():
                    got = np.asarray(run(), dtype=float).reshape(m, n)
                    if not np.allclose(got, expected, rtol=1e-9, atol=1e-12):
                        raise RuntimeError(f"{strategy} gave a wrong Jacobian at n={n}, m={m}")
                    base = strategy.split(" ")[0]
                    rows.append({"experiment": "peers_dense", "workload": "dense", "engine": name,
                                 "engine_version": versions[name], "strategy": strategy,
                                 "mode": base.split("-")[0], "vectorized": base.endswith("vec"), "n_in": n,
                                 "m_out": m, "size_n": n, "size_m": m, "size_hidden": hidden,
                                 "passes": 1 if base.endswith("vec") else (n if base.startswith("forward") else m),
                                 **time_stats(run, repeats=repeats, max_seconds=max_seconds)})
        except Exception as exc:  # a peer that breaks is reported, and the others still run
            rows = [r for r in rows if r["engine"] != name]
            notes.append(f"{name} {versions[name]}: failed ({type(exc).__name__}: {exc}); left out")
    return rows, notes


# ---- Hessians -------------------------------------------------------------------------------------------------


def _objective(workload: str, xp) -> Callable:
    """The Hessian workload written once for any NumPy-like module ``xp`` (jax.numpy, torch, autograd.numpy),
    the same formula as ``compare.workloads``."""
    if workload == "rosenbrock":
        def f(x):
            head, tail = x[:-1], x[1:]
            return xp.sum(100.0 * xp.square(tail - head * head) + xp.square(1.0 - head))
    elif workload == "local3":
        def f(x):
            a, b, c = x[:-2], x[1:-1], x[2:]
            return xp.sum(xp.exp(a * b) + xp.square(xp.sin(b + c)) + a * c)
    else:
        raise KeyError(f"no peer version of the Hessian workload {workload!r}; known: {', '.join(HESSIAN_WORKLOADS)}")
    return f


HESSIAN_WORKLOADS = ("rosenbrock", "local3")


def _jax_hessians(workload: str, x: np.ndarray) -> dict[str, Callable[[], np.ndarray]]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    f = _objective(workload, jnp)
    xj = jnp.asarray(x)
    eager, jitted = jax.hessian(f), jax.jit(jax.hessian(f))
    return {"jax.hessian (eager)": lambda: np.asarray(eager(xj)),
            "jax.jit(jax.hessian)": lambda: np.asarray(jitted(xj).block_until_ready())}


def _torch_hessians(workload: str, x: np.ndarray) -> dict[str, Callable[[], np.ndarray]]:
    import torch
    from torch import func

    f = _objective(workload, torch)
    xt = torch.as_tensor(x, dtype=torch.float64)
    return {"torch.func.hessian": lambda: func.hessian(f)(xt).numpy(),
            "torch.autograd.functional.hessian(vectorize=True)":
                lambda: torch.autograd.functional.hessian(f, xt, vectorize=True).numpy()}


def _autograd_hessians(workload: str, x: np.ndarray) -> dict[str, Callable[[], np.ndarray]]:
    import autograd.numpy as anp
    from autograd import hessian

    f = _objective(workload, anp)
    return {"autograd.hessian": lambda: hessian(f)(x)}


_HESSIAN_BUILDERS = {"jax": _jax_hessians, "torch": _torch_hessians, "autograd": _autograd_hessians}


def hessians(peer: str, n: int, workload: str = "rosenbrock") -> dict[str, Callable[[], np.ndarray]]:
    """Zero-argument functions computing the dense Hessian of ``workload`` (Rosenbrock's function, or ``local3``)
    at ``workloads.build(workload, n=n)``'s point with ``peer``, one per way the peer offers.

    Raises ``ImportError`` when the peer is not installed and ``KeyError`` for an unknown peer or workload.

    Examples
    --------
    >>> hessians("no_such_peer", 3)
    Traceback (most recent call last):
    ...
    KeyError: "unknown peer 'no_such_peer'; known: jax, torch, autograd"
    """
    if peer not in _HESSIAN_BUILDERS:
        raise KeyError(f"unknown peer {peer!r}; known: {', '.join(PEERS)}")
    _objective(workload, np)  # an unknown workload fails here, before the peer is imported
    f, (x,) = build(workload, n=n)
    return _HESSIAN_BUILDERS[peer](workload, x)


def measure_hessians(sizes: Iterable[int], repeats: int = 3, names: Iterable[str] = PEERS, budget: float = 2.0,
                     progress: Callable[[str], None] | None = None, max_seconds: float = 2.0,
                     threads: int = 1, workload: str = "rosenbrock") -> tuple[list[dict[str, Any]], list[str]]:
    """Time every importable peer's dense Hessian of ``workload`` (Rosenbrock's function or ``local3``) at each n
    in ``sizes``.

    Each Hessian is checked against ``revad.hessian`` first. A way whose next size is predicted to take more
    than ``budget`` seconds is skipped there and beyond, with a row that says so; so is every size whose dense
    Hessian exceeds ``compare.hessians.DENSE_MAX_BYTES`` (the peers have no sparse Hessian). Returns
    ``(rows, notes)``.

    Examples
    --------
    >>> rows, notes = measure_hessians([4], names=["autograd"], repeats=1)
    >>> all(r["engine"] == "autograd" for r in rows) or notes != []
    True
    """
    import revad

    names, sizes = list(names), list(sizes)
    versions = available(names)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for name in names:
        if versions[name] is None:
            notes.append(f"{name}: not importable here, skipped (install the 'peers' extra to include it)")
            continue
        history: dict[str, list[tuple[int, float]]] = {}
        stopped: dict[str, str] = {}
        try:
            set_threads(name, threads)
            for n in sizes:
                f, (x,) = build(workload, n=n)
                runs = hessians(name, n, workload)
                if 8 * n * n > DENSE_MAX_BYTES:
                    for way in runs:
                        stopped.setdefault(way, f"skipped: a dense {n} x {n} Hessian takes "
                                                f"{8 * n * n / 2 ** 20:.3g} MiB")
                expected = None
                for way, run in runs.items():
                    base = {"experiment": "hessian_vs_n", "workload": workload, "engine": name,
                            "engine_version": versions[name], "strategy": way, "call": way, "x": n, "n_in": n,
                            "size_n": n}
                    past = history.setdefault(way, [])
                    if way not in stopped and past:
                        slope = fit_slope(*zip(*past[-2:])) if len(past) >= 2 else 2.0
                        guess = past[-1][1] * (n / past[-1][0]) ** max(slope if np.isfinite(slope) else 2.0, 1.0)
                        if guess > budget:
                            stopped[way] = f"skipped: predicted {guess:.3g} s > budget {budget:g} s"
                    if way in stopped:
                        rows.append({**base, "skipped": stopped[way]})
                        continue
                    if progress is not None:
                        progress(f"peer Hessian {way} n={n}")
                    if expected is None:
                        expected = revad.hessian(f)(x)
                    got = np.asarray(run(), dtype=float)
                    if not np.allclose(got, expected, rtol=1e-9, atol=1e-9):
                        raise RuntimeError(f"{way} gave a wrong Hessian at n={n}")
                    timing = time_stats(run, repeats=repeats, max_seconds=max_seconds)
                    past.append((n, timing["time_s"]))
                    rows.append({**base, **timing, "skipped": ""})
        except Exception as exc:  # a peer that breaks is reported, and the others still run
            rows = [r for r in rows if r["engine"] != name]
            notes.append(f"{name} {versions[name]}: failed ({type(exc).__name__}: {exc}); left out")
    return rows, notes
