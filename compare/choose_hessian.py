"""Automatic choice among the Hessian nestings, dense or coloured, from exact counts of one direction each, explained.

Up to ``EXACT_UP_TO`` variables every nesting (``compare.hessians``) is counted exactly on the full Hessian
under ``adops.count_ops`` (a few milliseconds). Beyond that each is probed once along random directions: one
Hessian-vector product by forward-over-reverse and by reverse-over-reverse, one second directional derivative by
forward-over-forward and by reverse-over-forward; the exact counts of each phase of the probe are scaled to the
full Hessian the way the nesting runs it (the outer mode's phase n times, or n^2 times where the inner gradient
is forward mode and carries n directions itself; the rest once). Either way the counts are priced with the
machine's constants (``compare.calibration``).

Colouring is considered too: the Hessian's sparsity pattern is detected and star-coloured
(``adops.sparse.SparseHessian``), and each coloured nesting is priced the same way with its outer pass carrying
one direction per colour instead of n, plus the measured seconds detection and colouring took. A sparse Hessian
(Rosenbrock's is tridiagonal: 3 colours at any n) makes the coloured nestings win once n is large enough to
repay the detection; a dense one (n colours) never does.

>>> import numpy as np
>>> from compare import choose_hessian
>>> choose_hessian.choose(lambda x: np.sum(x ** 4), np.ones(30)).strategy in ("forward-over-reverse",
...                                                                           "reverse-over-reverse")
True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

import adops
import dualad
import revad
from adops.sparse import SparseHessian

from .hessians import COLORED, DENSE, STRATEGIES

__all__ = ["HessianChoice", "choose", "hessian", "MODES", "DENSE_LIMIT_BYTES"]

MODES = ("auto", *STRATEGIES)
EXACT_UP_TO = 64  # count the full Hessians exactly up to this many variables
DENSE_LIMIT_BYTES = 2 ** 31  # compare.hessian refuses to expand a Hessian larger than this into a dense array
DETECT_GRADIENTS = 10  # detecting a Hessian pattern and star-colouring it costs about this many gradients of f
DECOMPRESS_SECONDS_PER_NONZERO = 2e-8  # unpacking the compressed products: a few NumPy passes over the nonzeros


@dataclass(frozen=True)
class HessianChoice:
    """The nesting picked for a Hessian, with each nesting's predicted evaluations, flops and seconds.

    ``pattern`` describes the detected Hessian pattern (``nnz``, ``ncolors``, ``lower_bound``, ``seconds`` to detect
    and colour it) and ``sparsity`` is the ``SparseHessian`` itself, reused by ``compare.hessian``; both are None
    when colouring was not considered, and ``note`` says why.
    """

    strategy: str
    n: int
    predicted: dict  # strategy -> {"evals", "flops", "seconds"}
    constants: Any
    exact: bool = False  # True: counts of the full Hessians; False: probes scaled to n
    pattern: dict | None = None
    sparsity: SparseHessian | None = field(default=None, repr=False, compare=False)
    note: str = ""

    @property
    def colored(self) -> bool:
        """Whether the chosen strategy is a coloured one (its result is computed as ``scipy.sparse`` CSR)."""
        return STRATEGIES[self.strategy].colored

    def explain(self) -> str:
        """One paragraph: which nesting, why, with the numbers."""
        s = STRATEGIES[self.strategy]
        ranked = sorted(self.predicted.items(), key=lambda kv: kv[1]["seconds"])
        parts = "; ".join(f"{STRATEGIES[k].short} ({STRATEGIES[k].call}) {_fmt(v['flops'])} flops in "
                          f"{_fmt(v['evals'])} primitive calls, {v['seconds'] * 1e3:.3g} ms" for k, v in ranked)
        runner_up = ranked[1][1]["seconds"] / ranked[0][1]["seconds"] if len(ranked) > 1 else 1.0
        how = "Exact counts of each full Hessian" if self.exact else "Exact counts of one direction each, scaled to n"
        if self.pattern is not None:
            p = self.pattern
            density = p["nnz"] / max(1, self.n * self.n)
            coloring = (f"The Hessian's pattern has {p['nnz']:,} nonzeros ({density:.2%} of n x n) and a star "
                        f"colouring with {p['ncolors']} colours (lower bound {p['lower_bound']}), found in "
                        f"{p['seconds'] * 1e3:.3g} ms (already spent, so not counted against colouring): ")
            coloring += (f"a coloured nesting's outer pass carries {p['ncolors']} directions instead of {self.n}. "
                         if not self.note else f"{self.note} ")
        else:
            coloring = f"Colouring was not tried: {self.note} "
        result = (" (computed as scipy.sparse CSR; compare.hessian expands it to a dense array unless "
                  "sparse=True)") if s.colored else ""
        return (f"f maps R^{self.n} to R, so its Hessian is n x n = {self.n} x {self.n}. Forward-over-reverse and "
                f"reverse-over-reverse get it from n Hessian-vector products (each a small multiple of f); "
                f"forward-over-forward and reverse-over-forward push n directions through a forward-mode gradient "
                f"that itself carries n, so their work grows like n^2 times f. {coloring}"
                f"{how}, priced with this machine's constants "
                f"({self.constants.describe()}): {parts}. Chose {s.name} ({s.call}){result}, predicted "
                f"{runner_up:.3g}x faster than the next.")


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


def _phases(fn: Callable, *args) -> dict:
    with adops.count_ops() as counts:
        fn(*args)
    return {"evals": counts.total(None, "evals"), **{p: counts.total(p, "flops") for p in ("primal", "jvp", "vjp")}}


def _probe_phases(f: Callable, x: np.ndarray) -> dict[str, dict]:
    """Counted phases of one direction through each nesting, and of one gradient."""
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(np.shape(x)), rng.standard_normal(np.shape(x))
    return {
        "grad": _phases(revad.grad(f), x),
        "fr": _phases(lambda x: dualad.jvp(revad.grad(f), (x,), (v,)), x),
        "rr": _phases(lambda x: revad.vjp(revad.grad(f), x)[1](v), x),
        "ff": _phases(lambda x: dualad.jvp(lambda y: dualad.jvp(f, (y,), (u,))[1], (x,), (v,)), x),
        "rf": _phases(lambda x: revad.grad(lambda y: dualad.jvp(f, (y,), (u,))[1])(x), x),
    }


def _scaled(p: dict[str, dict], n: int, k: int, suffix: str = "") -> dict[str, dict]:
    """Each nesting's predicted evaluations and flops for the full Hessian with ``k`` outer directions (n dense,
    the number of colours coloured), from the probes ``p``."""
    grad, fr, rr, ff, rf = (p[key] for key in ("grad", "fr", "rr", "ff", "rf"))
    return {
        # one pass of k tangents through the gradient: its tangent work k times, the gradient itself once
        "forward-over-reverse" + suffix: {"evals": fr["evals"], "flops": fr["primal"] + fr["vjp"] + k * fr["jvp"]},
        # one sweep of k cotangents over the gradient's tape: the gradient once, the outer sweep's share k times
        "reverse-over-reverse" + suffix: {"evals": rr["evals"],
                                          "flops": rr["primal"] + grad["vjp"] + k * max(rr["vjp"] - grad["vjp"], 0)},
        # a nested dual carries (u, v, uv) parts; with n x k directions the second-order part dominates
        "forward-over-forward" + suffix: {"evals": ff["evals"], "flops": ff["primal"] + n * k * ff["jvp"] / 4},
        # the inner gradient's n tangents, swept back by k cotangents: JVP work n times, its sweep n k times
        "reverse-over-forward" + suffix: {"evals": rf["evals"],
                                          "flops": rf["primal"] + n * rf["jvp"] + n * k * rf["vjp"]},
    }


def _exact(f: Callable, x: np.ndarray, names: tuple, sh: SparseHessian | None = None) -> dict[str, dict]:
    out = {}
    for name in names:
        c = _phases(STRATEGIES[name].build(f, sh), x)
        out[name] = {"evals": c["evals"], "flops": c["primal"] + c["jvp"] + c["vjp"]}
    return out


def _detect(f: Callable, x: np.ndarray) -> tuple[SparseHessian | None, dict | None, str]:
    """The Hessian's pattern and star colouring, what they are and what finding them took; or why not."""
    start = time.perf_counter()
    try:
        sh = SparseHessian.detect(f, x)
        star = sh.coloring()
    except (TypeError, ValueError) as exc:  # f does something the pattern tracer refuses: dense nestings only
        return None, None, f"detecting the Hessian's sparsity pattern failed ({exc})."
    seconds = time.perf_counter() - start
    return sh, {"nnz": int(sh.pattern.nnz), "ncolors": int(star.ncolors), "lower_bound": int(star.lower_bound),
                "seconds": seconds}, ""


def _priced(counts: dict[str, dict], k: Any) -> dict[str, dict]:
    return {name: {**c, "seconds": k.seconds("forward" if name.startswith("forward") else "reverse", c["evals"],
                                             c["flops"])} for name, c in counts.items()}


def choose(f: Callable, x: Any, colored: bool = True) -> HessianChoice:
    """Pick the strategy predicted fastest for the Hessian of a scalar ``f`` at the array ``x``: one of the four
    nestings, dense or (``colored``, the default) with a star colouring of the detected pattern.

    The dense nestings are priced first. Detecting the pattern and colouring it costs about
    ``DETECT_GRADIENTS`` gradients of f; when the best dense nesting is predicted cheaper than that, colouring
    cannot pay and is not tried. Otherwise the pattern is detected and coloured, and the coloured nestings are
    priced like the dense ones with one outer direction per colour, plus ``DECOMPRESS_SECONDS_PER_NONZERO`` to
    unpack each stored entry. Detection is not counted against them: it is already done when they are compared
    (the time it took is in ``pattern["seconds"]`` and in the explanation). A pattern needing n colours (a
    dense Hessian) leaves the coloured nestings out.

    Examples
    --------
    >>> import numpy as np
    >>> c = choose(lambda x: np.sum(np.sin(x)) ** 2, np.ones(20))
    >>> sorted(c.predicted) == sorted(DENSE), c.exact, c.colored
    (True, True, False)
    >>> choose(lambda x: np.sum(x[1:] * x[:-1] ** 2), np.ones(2000)).colored   # tridiagonal: 3 colours
    True
    """
    from .calibration import constants

    x = np.asarray(x, dtype=float) if not isinstance(x, np.ndarray) else x
    n = int(np.size(x))
    exact = n <= EXACT_UP_TO
    k = constants()
    probes = None if exact else _probe_phases(f, x)
    predicted = _priced(_exact(f, x, DENSE) if exact else _scaled(probes, n, n), k)
    best_dense = min(predicted[s]["seconds"] for s in DENSE)
    sh, pattern, note = None, None, "not asked for (colored=False)."
    if colored:
        g = _phases(revad.grad(f), x) if exact else probes["grad"]
        detect_guess = DETECT_GRADIENTS * k.seconds("reverse", g["evals"], g["primal"] + g["jvp"] + g["vjp"])
        if best_dense <= detect_guess:
            note = (f"the best dense nesting is predicted to take {best_dense * 1e3:.3g} ms, less than detecting and "
                    f"colouring the pattern would (about {DETECT_GRADIENTS} gradients, {detect_guess * 1e3:.3g} ms).")
        else:
            sh, pattern, note = _detect(f, x)
    if pattern is not None and pattern["ncolors"] < n:
        c = pattern["ncolors"]
        colored_counts = _exact(f, x, COLORED, sh) if exact else _scaled(probes, n, c, "-colored")
        for name, row in _priced(colored_counts, k).items():
            row["seconds"] += DECOMPRESS_SECONDS_PER_NONZERO * pattern["nnz"]
            predicted[name] = row
    elif pattern is not None:
        note = f"the pattern needs {pattern['ncolors']} colours for {n} variables, so colouring saves nothing."
    best = min(predicted, key=lambda s: predicted[s]["seconds"])
    return HessianChoice(best, n, predicted, k, exact, pattern, sh, note)


def hessian(f: Callable, x: Any, mode: str = "auto", sparse: bool = False) -> np.ndarray | sp.csr_array:
    """The Hessian of a scalar ``f`` at ``x`` by one nesting of the two modes, dense or coloured.

    ``mode`` is "auto" (the strategy predicted fastest, see ``choose``; ``compare.explain(f, x, what="hessian")``
    says why), one of the dense nestings "forward-over-forward", "forward-over-reverse", "reverse-over-forward",
    "reverse-over-reverse", or a coloured one (the same names ending in "-colored": the pattern is detected and
    star-coloured first).

    The result is a dense ndarray of shape ``x.shape + x.shape`` whichever strategy ran, so what you get does not
    depend on the choice: a coloured strategy's ``scipy.sparse`` result is expanded. With ``sparse=True`` it is a
    ``scipy.sparse.csr_array`` of shape (n, n) instead, also whichever strategy ran, storing the detected
    pattern's entries when there is one (structural zeros included) and else the nonzeros: ask for that when n is
    large (a dense Hessian over 2 GiB is refused with that advice).

    Examples
    --------
    >>> import numpy as np
    >>> hessian(lambda x: x[0] * x[1] ** 2, np.array([1.0, 3.0]))
    array([[0., 6.],
           [6., 2.]])
    >>> H = hessian(lambda x: np.sum(x[1:] * x[:-1] ** 2), np.ones(4), sparse=True)
    >>> H.format, H.nnz
    ('csr', 9)
    >>> hessian(np.sum, np.ones(2), mode="sideways")
    Traceback (most recent call last):
    ...
    ValueError: compare.hessian: mode must be 'auto' or one of 'forward-over-forward', 'forward-over-reverse', \
'reverse-over-forward', 'reverse-over-reverse', 'forward-over-forward-colored', 'forward-over-reverse-colored', \
'reverse-over-forward-colored', 'reverse-over-reverse-colored'; got 'sideways'
    """
    if mode not in MODES:
        raise ValueError(f"compare.hessian: mode must be 'auto' or one of "
                         f"{', '.join(repr(m) for m in STRATEGIES)}; got {mode!r}")
    x = np.asarray(x, dtype=float) if not isinstance(x, np.ndarray) else x
    n = int(np.size(x))
    if not sparse and 8 * n * n > DENSE_LIMIT_BYTES:
        raise ValueError(f"compare.hessian: the dense Hessian of f at n = {n:,} variables would take "
                         f"{8 * n * n / 2 ** 30:,.1f} GiB; pass sparse=True for a scipy.sparse CSR result")
    sparsity: Any = "auto"
    if mode == "auto":
        choice = choose(f, x)
        mode, sparsity = choice.strategy, choice.sparsity
    H = STRATEGIES[mode].build(f, sparsity)(x)
    if sparse:
        if sp.issparse(H):
            return H.tocsr()
        H = np.reshape(H, (n, n))
        if isinstance(sparsity, SparseHessian):  # the same stored entries a coloured strategy would give
            P = sparsity.pattern
            rows = np.repeat(np.arange(n), np.diff(P.indptr))
            return sp.csr_array((H[rows, P.indices], P.indices.copy(), P.indptr.copy()), shape=(n, n))
        return sp.csr_array(H)
    return np.reshape(H.toarray(), x.shape + x.shape) if sp.issparse(H) else H
