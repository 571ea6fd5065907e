"""Automatic choice among the four Hessian nestings, from exact counts of one direction each, explained.

Each nesting (``compare.hessians``) is probed once along random directions under ``adops.count_ops``: one
Hessian-vector product by forward-over-reverse and by reverse-over-reverse, one second directional derivative
by forward-over-forward and by reverse-over-forward. Those exact counts are scaled to the full Hessian the way
each nesting runs (n directions in one pass for the n-products nestings; n x n direction pairs for the two whose
inner gradient is forward mode), and priced with the machine's constants (``compare.calibration``).

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


@dataclass(frozen=True)
class HessianChoice:
    """The nesting picked for a Hessian, with each nesting's predicted evaluations, flops and seconds."""

    strategy: str
    n: int
    predicted: dict  # strategy -> {"evals", "flops", "seconds"}
    constants: Any

    def explain(self) -> str:
        """One paragraph: which nesting, why, with the numbers."""
        s = STRATEGIES[self.strategy]
        ranked = sorted(self.predicted.items(), key=lambda kv: kv[1]["seconds"])
        parts = "; ".join(f"{STRATEGIES[k].short} ({STRATEGIES[k].call}) {_fmt(v['flops'])} flops in "
                          f"{_fmt(v['evals'])} primitive calls, {v['seconds'] * 1e3:.3g} ms" for k, v in ranked)
        runner_up = ranked[1][1]["seconds"] / ranked[0][1]["seconds"] if len(ranked) > 1 else 1.0
        return (f"f maps R^{self.n} to R, so its Hessian is n x n = {self.n} x {self.n}. Forward-over-reverse and "
                f"reverse-over-reverse get it from n Hessian-vector products (each a small multiple of f); "
                f"forward-over-forward and reverse-over-forward push n directions through a forward-mode gradient "
                f"that itself carries n, so their work grows like n^2 times f. Predicted from exact counts of one "
                f"direction each, scaled to n, priced with this machine's constants "
                f"({self.constants.describe()}): {parts}. Chose {s.name} ({s.call}), predicted {runner_up:.3g}x "
                f"faster than the next.")


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


def _counted(fn: Callable, *args) -> tuple[int, int]:
    with adops.count_ops() as counts:
        fn(*args)
    return counts.total(None, "evals"), counts.total(None, "flops")


def choose(f: Callable, x: Any) -> HessianChoice:
    """Pick the nesting predicted fastest for the Hessian of a scalar ``f`` at the array ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> c = choose(lambda x: np.sum(np.sin(x)) ** 2, np.ones(20))
    >>> sorted(c.predicted) == sorted(STRATEGIES)
    True
    """
    from .calibration import constants

    x = np.asarray(x, dtype=float) if not isinstance(x, np.ndarray) else x
    n = int(np.size(x))
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(np.shape(x)), rng.standard_normal(np.shape(x))
    grad_evals, grad_flops = _counted(revad.grad(f), x)
    f_evals, f_flops = _counted(lambda x: revad.trace(f, x), x)

    def hvp_fwd_rev(x):  # one column of H: forward over the reverse-mode gradient
        return dualad.jvp(revad.grad(f), (x,), (v,))

    def hvp_rev_rev(x):
        _, pullback = revad.vjp(revad.grad(f), x)
        return pullback(v)

    def pair_fwd_fwd(x):  # one entry u^T H v: forward over forward
        return dualad.jvp(lambda y: dualad.jvp(f, (y,), (u,))[1], (x,), (v,))

    def pair_rev_fwd(x):
        return revad.grad(lambda y: dualad.jvp(f, (y,), (u,))[1])(x)

    probes = {"forward-over-reverse": hvp_fwd_rev, "reverse-over-reverse": hvp_rev_rev,
              "forward-over-forward": pair_fwd_fwd, "reverse-over-forward": pair_rev_fwd}
    k = constants()
    predicted = {}
    for name, probe in probes.items():
        evals, flops = _counted(probe, x)
        if STRATEGIES[name].order == 1:
            # one pass carrying n directions: every primitive once, the gradient's own work once, the rest n times
            total_flops = grad_flops + n * max(flops - grad_flops, 0)
        else:
            # n x n direction pairs over f's primal work
            total_flops = f_flops + n * n * max(flops - f_flops, 0)
        engine = "forward" if name.startswith("forward") else "reverse"
        predicted[name] = {"evals": evals, "flops": total_flops,
                           "seconds": k.seconds(engine, evals, total_flops)}
    best = min(predicted, key=lambda s: predicted[s]["seconds"])
    return HessianChoice(best, n, predicted, k)


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
