"""Automatic choice among the four Hessian nestings, from exact counts of one direction each, explained.

Up to ``EXACT_UP_TO`` variables every nesting (``compare.hessians``) is counted exactly on the full Hessian
under ``adops.count_ops`` (a few milliseconds). Beyond that each is probed once along random directions: one
Hessian-vector product by forward-over-reverse and by reverse-over-reverse, one second directional derivative by
forward-over-forward and by reverse-over-forward; the exact counts of each phase of the probe are scaled to the
full Hessian the way the nesting runs it (the outer mode's phase n times, or n^2 times where the inner gradient
is forward mode and carries n directions itself; the rest once). Either way the counts are priced with the
machine's constants (``compare.calibration``).

>>> import numpy as np
>>> from compare import choose_hessian
>>> choose_hessian.choose(lambda x: np.sum(x ** 4), np.ones(30)).strategy in ("forward-over-reverse",
...                                                                           "reverse-over-reverse")
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import adops
import dualad
import revad

from .hessians import STRATEGIES

__all__ = ["HessianChoice", "choose", "hessian", "MODES"]

MODES = ("auto", *STRATEGIES)
EXACT_UP_TO = 64  # count the full Hessians exactly up to this many variables


@dataclass(frozen=True)
class HessianChoice:
    """The nesting picked for a Hessian, with each nesting's predicted evaluations, flops and seconds."""

    strategy: str
    n: int
    predicted: dict  # strategy -> {"evals", "flops", "seconds"}
    constants: Any
    exact: bool = False  # True: counts of the full Hessians; False: probes scaled to n

    def explain(self) -> str:
        """One paragraph: which nesting, why, with the numbers."""
        s = STRATEGIES[self.strategy]
        ranked = sorted(self.predicted.items(), key=lambda kv: kv[1]["seconds"])
        parts = "; ".join(f"{STRATEGIES[k].short} ({STRATEGIES[k].call}) {_fmt(v['flops'])} flops in "
                          f"{_fmt(v['evals'])} primitive calls, {v['seconds'] * 1e3:.3g} ms" for k, v in ranked)
        runner_up = ranked[1][1]["seconds"] / ranked[0][1]["seconds"] if len(ranked) > 1 else 1.0
        how = "Exact counts of each full Hessian" if self.exact else "Exact counts of one direction each, scaled to n"
        return (f"f maps R^{self.n} to R, so its Hessian is n x n = {self.n} x {self.n}. Forward-over-reverse and "
                f"reverse-over-reverse get it from n Hessian-vector products (each a small multiple of f); "
                f"forward-over-forward and reverse-over-forward push n directions through a forward-mode gradient "
                f"that itself carries n, so their work grows like n^2 times f. "
                f"{how}, priced with this machine's constants "
                f"({self.constants.describe()}): {parts}. Chose {s.name} ({s.call}), predicted {runner_up:.3g}x "
                f"faster than the next.")


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


def _phases(fn: Callable, *args) -> dict:
    with adops.count_ops() as counts:
        fn(*args)
    return {"evals": counts.total(None, "evals"), **{p: counts.total(p, "flops") for p in ("primal", "jvp", "vjp")}}


def _probes(f: Callable, x: np.ndarray) -> dict[str, dict]:
    """Each nesting's predicted evaluations and flops for the full Hessian, from one counted direction."""
    n = int(np.size(x))
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(np.shape(x)), rng.standard_normal(np.shape(x))
    grad = _phases(revad.grad(f), x)
    fr = _phases(lambda x: dualad.jvp(revad.grad(f), (x,), (v,)), x)
    rr = _phases(lambda x: revad.vjp(revad.grad(f), x)[1](v), x)
    ff = _phases(lambda x: dualad.jvp(lambda y: dualad.jvp(f, (y,), (u,))[1], (x,), (v,)), x)
    rf = _phases(lambda x: revad.grad(lambda y: dualad.jvp(f, (y,), (u,))[1])(x), x)
    return {
        # one pass of n tangents through the gradient: its tangent work n times, the gradient itself once
        "forward-over-reverse": {"evals": fr["evals"], "flops": fr["primal"] + fr["vjp"] + n * fr["jvp"]},
        # one sweep of n cotangents over the gradient's tape: the gradient once, the outer sweep's share n times
        "reverse-over-reverse": {"evals": rr["evals"],
                                 "flops": rr["primal"] + grad["vjp"] + n * max(rr["vjp"] - grad["vjp"], 0)},
        # a nested dual carries (u, v, uv) parts; with n x n directions the second-order part dominates
        "forward-over-forward": {"evals": ff["evals"], "flops": ff["primal"] + n * n * ff["jvp"] / 4},
        # the inner gradient's n tangents, swept back by n cotangents: JVP work n times, its sweep n^2 times
        "reverse-over-forward": {"evals": rf["evals"], "flops": rf["primal"] + n * rf["jvp"] + n * n * rf["vjp"]},
    }


def _exact(f: Callable, x: np.ndarray) -> dict[str, dict]:
    out = {}
    for name, s in STRATEGIES.items():
        c = _phases(s.build(f), x)
        out[name] = {"evals": c["evals"], "flops": c["primal"] + c["jvp"] + c["vjp"]}
    return out


def choose(f: Callable, x: Any) -> HessianChoice:
    """Pick the nesting predicted fastest for the Hessian of a scalar ``f`` at the array ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> c = choose(lambda x: np.sum(np.sin(x)) ** 2, np.ones(20))
    >>> sorted(c.predicted) == sorted(STRATEGIES), c.exact
    (True, True)
    """
    from .calibration import constants

    x = np.asarray(x, dtype=float) if not isinstance(x, np.ndarray) else x
    n = int(np.size(x))
    exact = n <= EXACT_UP_TO
    counts = _exact(f, x) if exact else _probes(f, x)
    k = constants()
    predicted = {}
    for name, c in counts.items():
        engine = "forward" if name.startswith("forward") else "reverse"
        predicted[name] = {**c, "seconds": k.seconds(engine, c["evals"], c["flops"])}
    best = min(predicted, key=lambda s: predicted[s]["seconds"])
    return HessianChoice(best, n, predicted, k, exact)


def hessian(f: Callable, x: Any, mode: str = "auto") -> np.ndarray:
    """The Hessian of a scalar ``f`` at ``x`` (shape ``x.shape + x.shape``) by one nesting of the two modes.

    ``mode`` is "auto" (the nesting predicted fastest, see ``choose``; ``compare.explain(f, x, what="hessian")``
    says why) or one of "forward-over-forward", "forward-over-reverse", "reverse-over-forward",
    "reverse-over-reverse".

    Examples
    --------
    >>> import numpy as np
    >>> hessian(lambda x: x[0] * x[1] ** 2, np.array([1.0, 3.0]))
    array([[0., 6.],
           [6., 2.]])
    >>> hessian(np.sum, np.ones(2), mode="sideways")
    Traceback (most recent call last):
    ...
    ValueError: compare.hessian: mode must be 'auto' or one of 'forward-over-forward', 'forward-over-reverse', \
'reverse-over-forward', 'reverse-over-reverse'; got 'sideways'
    """
    if mode not in MODES:
        raise ValueError(f"compare.hessian: mode must be 'auto' or one of "
                         f"{', '.join(repr(m) for m in STRATEGIES)}; got {mode!r}")
    if mode == "auto":
        mode = choose(f, x).strategy
    return STRATEGIES[mode].build(f)(x)
