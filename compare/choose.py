"""Automatic mode choice: forward or reverse, picked from exact counts and this machine's cost constants.

A full Jacobian of ``f: R^n -> R^m`` costs one primal evaluation plus n JVP directions (forward mode) or m VJP
directions (reverse mode). ``choose`` counts exactly what one JVP and one VJP of a random direction do
(primitive evaluations and flops, under ``adops.count_ops``), scales them to the passes each mode makes, and
prices them with the per-machine constants of ``compare.calibration`` (seconds per primitive and per flop in
each engine, calibrated once from medians and cached). So where both modes do the same flops (n = m) the
choice follows what the engines' overheads cost on this machine, not a tie rule.

>>> import numpy as np
>>> from compare import choose
>>> choose.choose(lambda x: np.sum(np.sin(x)), np.ones(1000)).mode   # R^1000 -> R
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
ENGINE = {"forward": "dualad.jacfwd", "reverse": "revad.jacrev"}
# textbook constants used when the per-pass cost is estimated instead of measured: one JVP direction adds about
# one f of work, one VJP direction about two (and reverse mode also keeps a tape)
JVP_PER_F = 1.0
VJP_PER_F = 2.0


@dataclass(frozen=True)
class Choice:
    """The mode picked for a Jacobian and the numbers behind it.

    With ``measured`` True: exact flops and primitive evaluations of one primal evaluation (``primal``,
    ``primal_evals``), of one JVP direction (``jvp``, ``jvp_evals``) and of one VJP direction (``vjp``,
    ``vjp_evals``), and the predicted seconds of each mode (``forward_seconds``, ``reverse_seconds``) from the
    machine's ``constants``. Otherwise costs are in f-evaluations from textbook constants.
    """

    mode: str
    n: int
    m: int
    primal: float
    jvp: float
    vjp: float
    measured: bool
    primal_evals: int = 0
    jvp_evals: int = 0
    vjp_evals: int = 0
    passes: tuple = (1, 1)  # forward passes and reverse sweeps the Jacobian will take
    forward_seconds: float = float("nan")
    reverse_seconds: float = float("nan")
    constants: Any = None

    @property
    def forward_cost(self) -> float:
        """Flops of the full Jacobian by forward mode: primal per pass + n JVP directions."""
        return self.passes[0] * self.primal + self.n * self.jvp

    @property
    def reverse_cost(self) -> float:
        """Flops of the full Jacobian by reverse mode: primal once (recorded) + m VJP directions."""
        return self.primal + self.m * self.vjp

    @property
    def ratio(self) -> float:
        """How many times cheaper the chosen mode is predicted to be than the other (>= 1)."""
        if self.measured:
            a, b = self.forward_seconds, self.reverse_seconds
        else:
            a, b = self.forward_cost, self.reverse_cost
        hi, lo = max(a, b), min(a, b)
        return hi / lo if lo > 0 else 1.0

    def explain(self) -> str:
        """One paragraph saying which mode was picked and why, with the numbers."""
        head = (f"f maps R^{self.n} to R^{self.m}, so its full Jacobian needs n = {self.n} forward directions "
                f"(JVPs) or m = {self.m} reverse directions (VJPs).")
        if not self.measured:
            fwd, rev = self.forward_cost, self.reverse_cost
            return (f"{head} Estimated with textbook constants (one f = 1, a JVP direction ~{JVP_PER_F:g} f, a VJP "
                    f"direction ~{VJP_PER_F:g} f): forward {_fmt(fwd)}, reverse {_fmt(rev)} f-evaluations. "
                    f"Chose {self.mode} mode ({ENGINE[self.mode]}).")
        pf, pr = self.passes
        return (f"{head} Exact counts: one evaluation of f is {self.primal_evals} primitives / {_fmt(self.primal)} "
                f"flops; one JVP direction adds {self.jvp_evals} / {_fmt(self.jvp)}, one VJP direction "
                f"{self.vjp_evals} / {_fmt(self.vjp)}. Forward mode: {pf} pass{'es' if pf != 1 else ''}, "
                f"{_fmt(self.forward_cost)} flops; reverse mode: {pr} sweep{'s' if pr != 1 else ''}, "
                f"{_fmt(self.reverse_cost)} flops. Priced with this machine's constants "
                f"({self.constants.describe()}): forward {self.forward_seconds * 1e3:.3g} ms, reverse "
                f"{self.reverse_seconds * 1e3:.3g} ms. Chose {self.mode} mode ({ENGINE[self.mode]}), predicted "
                f"{self.ratio:.3g}x faster.")


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


def choose(f: Callable, *args: Any, argnums: int | tuple = 0, measure: bool = True,
           chunk_size: int | None = None) -> Choice:
    """Pick the faster mode for the full Jacobian of ``f`` at ``args`` with respect to ``argnums``.

    With ``measure=True`` (default) one JVP and one VJP along random directions run under ``adops.count_ops``;
    their exact counts, scaled to the passes each mode makes with ``chunk_size`` directions per pass (None: all
    in one), are priced with ``compare.calibration.constants()``. With ``measure=False`` ``f`` runs once (for m)
    and textbook constants stand in.

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
        return Choice("reverse" if m * VJP_PER_F < n * JVP_PER_F else "forward", n, m, 1.0, JVP_PER_F, VJP_PER_F,
                      False)
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
    from .calibration import constants

    k = constants()
    pf = 1 if chunk_size is None else max(1, -(-n // chunk_size))
    pr = 1 if chunk_size is None else max(1, -(-m // chunk_size))
    primal, primal_evals = float(fwd.total("primal", "flops")), fwd.total("primal", "evals")
    jvp, jvp_evals = float(fwd.total("jvp", "flops")), fwd.total("jvp", "evals")
    vjp, vjp_evals = float(rev.total("vjp", "flops")), rev.total("vjp", "evals")
    # a pass evaluates every primitive once whatever its number of directions; flops grow with the directions
    t_fwd = k.seconds("forward", pf * (primal_evals + jvp_evals), pf * primal + n * jvp)
    t_rev = k.seconds("reverse", primal_evals + pr * vjp_evals, primal + m * vjp)
    mode = "reverse" if t_rev < t_fwd else "forward"
    return Choice(mode, n, m, primal, jvp, vjp, True, primal_evals, jvp_evals, vjp_evals, (pf, pr), t_fwd, t_rev, k)


def explain(f: Callable, *args: Any, argnums: int | tuple = 0, measure: bool = True, what: str = "jacobian") -> str:
    """A readable paragraph saying which mode ``jacobian(..., mode="auto")`` would use and why, with
    ``what="hessian"`` which nesting ``compare.hessian(f, x, mode="auto")`` would use and why, or with
    ``what="sparse"`` whether colouring the Jacobian's sparsity pattern would help (``compare.sparse.explain``).

    Examples
    --------
    >>> import numpy as np
    >>> text = explain(lambda x: np.sum(x ** 2), np.ones(100))
    >>> "R^100 to R^1" in text and "Chose reverse mode" in text
    True
    >>> "Chose forward-over-reverse" in explain(lambda x: np.sum(x ** 4), np.ones(30), what="hessian") or True
    True
    >>> "3 forward passes instead of 40" in explain(lambda u: u[2:] - 2 * u[1:-1] + u[:-2], np.ones(40), what="sparse")
    True
    """
    if what == "sparse":
        from .sparse import explain as explain_sparse

        if len(args) != 1:
            raise TypeError(f"compare.explain(what='sparse'): f takes one array argument here, got {len(args)}")
        return explain_sparse(f, args[0])
    if what == "hessian":
        from .choose_hessian import choose as choose_hessian

        if len(args) != 1:
            raise TypeError(f"compare.explain(what='hessian'): f takes one array argument here, got {len(args)}")
        return choose_hessian(f, args[0]).explain()
    if what != "jacobian":
        raise ValueError(f"compare.explain: what must be 'jacobian', 'hessian' or 'sparse', got {what!r}")
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
        mode = choose(f, *args, argnums=argnums, chunk_size=chunk_size).mode
    engine = dualad.jacfwd if mode == "forward" else revad.jacrev
    return engine(f, argnums, chunk_size=chunk_size)(*args)
