"""Helpers for the registry's SymPy column: elementwise lifting and numeric values at the oracle's point."""

from __future__ import annotations

import contextvars
from collections.abc import Callable

import numpy as np
import sympy

# The point the oracle is evaluating at ({symbol: exact value}); ops whose result depends on the ordering of
# values (sort, max, comparisons) read it to choose the branch the engines take.
POINT: contextvars.ContextVar[dict] = contextvars.ContextVar("adops_symbolic_point", default={})


def lift(fn: Callable, nargs: int = 1) -> Callable:
    """Apply a scalar SymPy function elementwise to object arrays (with NumPy broadcasting)."""
    ufunc = np.frompyfunc(fn, nargs, 1)

    def apply(*args, **params):
        # SymPy's own float arithmetic may raise the FPU overflow flag, which NumPy would report after the loop
        with np.errstate(all="ignore"):
            out = ufunc(*args)
        return out if isinstance(out, np.ndarray) else np.asarray(out, dtype=object)[()]

    apply.__name__ = getattr(fn, "__name__", "sympy_fn")
    return apply


def as_objects(x) -> np.ndarray:
    return np.asarray(x, dtype=object)


def numeric(x, digits: int = 30) -> np.ndarray:
    """Float values of an object array of SymPy expressions at the oracle's current point."""
    point = POINT.get()
    flat = [float(sympy.sympify(e).xreplace(point).evalf(digits)) for e in np.ravel(as_objects(x))]
    return np.array(flat, dtype=float).reshape(np.shape(x))


def select_ties(x, axes: tuple, keepdims: bool, pick: Callable):
    """Max/min reduction on SymPy arrays: the extreme entries at the point, ties sharing equally."""
    values = numeric(x)
    best = pick(values, axis=axes, keepdims=True)
    mask = (values == best).astype(int).astype(object)
    count = np.sum(mask, axis=axes, keepdims=True)
    out = np.sum(as_objects(x) * mask / count, axis=axes, keepdims=keepdims)
    return out


def matrices(fn: Callable) -> Callable:
    """Apply a SymPy Matrix function to every matrix of a stacked object array."""

    def apply(a, *rest):
        a = as_objects(a)
        stack = a.shape[:-2]
        outs = []
        for idx in np.ndindex(*stack):
            outs.append(fn(sympy.Matrix(a[idx].tolist()), *[as_objects(r)[idx] if np.ndim(r) > 2 else r
                                                              for r in rest]))
        if not stack:
            return outs[0]
        first = np.asarray(outs[0], dtype=object)
        return np.array(outs, dtype=object).reshape(stack + first.shape)

    return apply
