"""Automatic mode choice: forward or reverse, picked from a cost model and explained in numbers.

A full Jacobian of ``f: R^n -> R^m`` costs one primal evaluation plus n JVP directions (forward mode) or m VJP
directions (reverse mode). ``choose`` measures the per-direction cost of each (one counted JVP and one counted
VJP of a random direction, a few evaluations of ``f``) and compares ``n * jvp`` with ``m * vjp``.

>>> import numpy as np
>>> from compare import choose
>>> choose.choose(lambda x: np.sum(np.sin(x)), np.ones(50)).mode
'reverse'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import adops
import dualad
import revad
from adops.trees import flatten, unflatten

__all__ = ["Choice", "choose", "explain", "jacobian", "MODES"]

MODES = ("auto", "forward", "reverse")
# textbook constants used when the per-pass cost is estimated instead of measured: one JVP direction adds about
# one f of work, one VJP direction about two (and reverse mode also keeps a tape)
JVP_PER_F = 1.0
VJP_PER_F = 2.0


@dataclass(frozen=True)
class Choice:
    """The mode picked for a Jacobian and the numbers behind it (costs in flops, or in f-evaluations when
    ``measured`` is False)."""

    mode: str
    n: int
    m: int
    primal: float
    jvp: float
    vjp: float
    measured: bool

    @property
    def forward_cost(self) -> float:
        """Estimated cost of the full Jacobian by forward mode: primal + n JVP directions."""
        return self.primal + self.n * self.jvp

    @property
    def reverse_cost(self) -> float:
        """Estimated cost of the full Jacobian by reverse mode: primal + m VJP directions."""
        return self.primal + self.m * self.vjp

    @property
    def ratio(self) -> float:
        """How many times cheaper the chosen mode is than the other (>= 1)."""
        hi, lo = max(self.forward_cost, self.reverse_cost), min(self.forward_cost, self.reverse_cost)
        return hi / lo if lo > 0 else 1.0

    def explain(self) -> str:
        """One paragraph saying which mode was picked and why, with the numbers."""
        unit = "flops" if self.measured else "f-evaluations"
        how = ("measured by one counted JVP and one counted VJP of a random direction" if self.measured else
               f"estimated with the textbook constants (a JVP direction ~{JVP_PER_F:g} f, a VJP direction "
               f"~{VJP_PER_F:g} f)")
        fwd, rev = self.forward_cost, self.reverse_cost
        if self.mode == "forward":
            verdict = ("forward mode (dualad.jacfwd)" + (f", about {self.ratio:.3g}x cheaper" if fwd < rev else
                                                          ", as both cost the same and forward mode keeps no tape"))
        else:
            verdict = f"reverse mode (revad.jacrev), about {self.ratio:.3g}x cheaper"
        return (f"f maps R^{self.n} to R^{self.m}, so its full Jacobian needs n = {self.n} forward directions "
                f"(JVPs) or m = {self.m} reverse directions (VJPs). One evaluation of f costs {_fmt(self.primal)} "
                f"{unit}; one JVP direction adds {_fmt(self.jvp)} and one VJP direction adds {_fmt(self.vjp)} "
                f"({how}). Forward mode: {_fmt(self.primal)} + {self.n} x {_fmt(self.jvp)} = {_fmt(fwd)} {unit}; "
                f"reverse mode: {_fmt(self.primal)} + {self.m} x {_fmt(self.vjp)} = {_fmt(rev)} {unit}. "
                f"Chose {verdict}.")


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:.3g}"


def _argnums_tuple(argnums, nargs):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    return tuple(a % nargs if nargs else a for a in nums)


def _size(tree) -> int:
    leaves, _ = flatten(tree)
    return int(sum(np.size(leaf) for leaf in leaves))


def _random_like(tree, rng):
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [rng.standard_normal(np.shape(leaf)) for leaf in leaves])


def choose(f: Callable, *args: Any, argnums: int | tuple = 0, measure: bool = True) -> Choice:
    """Pick the cheaper mode for the full Jacobian of ``f`` at ``args`` with respect to ``argnums``.

    With ``measure=True`` (default) one JVP and one VJP along random directions run under ``adops.count_ops``
    to get the primal, per-JVP and per-VJP flops; otherwise ``f`` runs once (for m) and textbook constants are
    used. Ties go to forward mode (no tape to keep).

    Examples
    --------
    >>> import numpy as np
    >>> choose(lambda x: np.outer(x, x).ravel(), np.ones(2)).mode   # R^2 -> R^4
    'forward'
    """
    if not args:
        raise TypeError("compare.choose: f needs at least one argument to differentiate")
    nums = _argnums_tuple(argnums, len(args))
    n = sum(_size(args[a]) for a in nums)
    if not measure:
        m = _size(f(*args))
        return Choice("reverse" if m < n else "forward", n, m, 1.0, JVP_PER_F, VJP_PER_F, False)
    rng = np.random.default_rng(0)

    def restricted(*chosen):
        full = list(args)
        for a, value in zip(nums, chosen):
            full[a] = value
        return f(*full)

    chosen = tuple(args[a] for a in nums)
    tangents = tuple(_random_like(c, rng) for c in chosen)
    with adops.count_ops() as fwd:
        out, _ = dualad.jvp(restricted, chosen, tangents)
    m = _size(out)
    with adops.count_ops() as rev:
        out, pullback = revad.vjp(restricted, *chosen)
        pullback(_random_like(out, rng))
    primal = float(fwd.total("primal", "flops"))
    jvp = float(fwd.total("jvp", "flops"))
    vjp = float(rev.total("vjp", "flops"))
    fwd_cost, rev_cost = primal + n * jvp, primal + m * vjp
    mode = "reverse" if rev_cost < fwd_cost else "forward"
    return Choice(mode, n, m, primal, jvp, vjp, True)


def explain(f: Callable, *args: Any, argnums: int | tuple = 0, measure: bool = True) -> str:
    """A readable paragraph saying which mode ``jacobian(..., mode="auto")`` would use and why.

    Examples
    --------
    >>> import numpy as np
    >>> text = explain(lambda x: np.sum(x ** 2), np.ones(10))
    >>> "R^10 to R^1" in text and "Chose reverse mode" in text
    True
    """
    return choose(f, *args, argnums=argnums, measure=measure).explain()


def jacobian(f: Callable, *args: Any, mode: str = "auto", argnums: int | tuple = 0,
             chunk_size: int | None = None) -> Any:
    """The Jacobian of ``f`` at ``args``: ``mode`` is "forward", "reverse" or "auto" (pick the cheaper one).

    Shaped ``out.shape + in.shape`` like ``dualad.jacfwd`` and ``revad.jacrev``; ``chunk_size`` is passed on.

    Examples
    --------
    >>> import numpy as np
    >>> jacobian(lambda x: x ** 2, np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    >>> jacobian(np.sin, np.zeros(1), mode="sideways")
    Traceback (most recent call last):
    ...
    ValueError: compare.jacobian: mode must be one of 'auto', 'forward', 'reverse'; got 'sideways'
    """
    if mode not in MODES:
        raise ValueError(f"compare.jacobian: mode must be one of {', '.join(repr(m) for m in MODES)}; got {mode!r}")
    if mode == "auto":
        mode = choose(f, *args, argnums=argnums).mode
    engine = dualad.jacfwd if mode == "forward" else revad.jacrev
    return engine(f, argnums, chunk_size=chunk_size)(*args)
