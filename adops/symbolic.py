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


# ---- numeric SymPy functions: a high-precision reference where no closed form is practical -----------------
WORK_DIGITS = 110  # mpmath precision of numeric references; central-difference steps of 1e-25 leave ~50 digits
_STEP_DIGITS = 25
_NUMERIC: dict[str, Callable] = {}
_CLASSES: dict[tuple, type] = {}
_CACHE: dict[tuple, list] = {}


class NumericFunction(sympy.Function):
    """Output ``out`` of a registered mpmath function of real arguments, as a SymPy expression.

    ``evalf`` computes it with mpmath at ``WORK_DIGITS``; ``sympy.diff`` gives another such function whose value is
    the partial derivative by central differences at that precision (nested for higher orders), so the oracle
    differentiates it like any closed form. Subclasses are made by ``numeric_function``.
    """

    key: str = ""
    out: int = 0
    partials: tuple = ()
    is_real = True

    @classmethod
    def eval(cls, *args):
        return None  # never evaluated symbolically

    def fdiff(self, argindex=1):
        return _numeric_class(self.key, self.out, tuple(sorted(self.partials + (argindex - 1,))))(*self.args)

    def _eval_evalf(self, prec):
        import mpmath

        with mpmath.workdps(WORK_DIGITS):
            xs = []
            for a in self.args:
                v = sympy.N(a, WORK_DIGITS)
                if not v.is_number:
                    return None
                xs.append(mpmath.mpf(sympy.re(v)._to_mpmath(mpmath.mp.prec)))
            value = _partial_value(self.key, self.out, self.partials, tuple(xs))
        return sympy.Float(value, max(15, mpmath.libmp.prec_to_dps(prec)))


def _numeric_class(key: str, out: int, partials: tuple) -> type:
    name = (key, out, partials)
    cls = _CLASSES.get(name)
    if cls is None:
        suffix = "_d" + "_".join(map(str, partials)) if partials else ""
        cls = type(f"{key}_{out}{suffix}", (NumericFunction,), {"key": key, "out": out, "partials": partials})
        _CLASSES[name] = cls
    return cls


def _values(key: str, xs: tuple) -> list:
    hit = _CACHE.get((key, xs))
    if hit is None:
        if len(_CACHE) > 200_000:
            _CACHE.clear()
        hit = _CACHE[(key, xs)] = list(_NUMERIC[key](list(xs)))
    return hit


def _partial_value(key: str, out: int, partials: tuple, xs: tuple):
    import mpmath

    if not partials:
        return _values(key, xs)[out]
    k, rest = partials[0], partials[1:]
    h = mpmath.mpf(10) ** -_STEP_DIGITS
    up = xs[:k] + (xs[k] + h,) + xs[k + 1:]
    down = xs[:k] + (xs[k] - h,) + xs[k + 1:]
    return (_partial_value(key, out, rest, up) - _partial_value(key, out, rest, down)) / (2 * h)


def numeric_function(key: str, fn: Callable) -> Callable:
    """Register ``fn(xs: list of mpmath mpf) -> list of mpf`` under ``key`` (which must name every parameter that
    changes the function, e.g. sign choices) and return ``make(out, *args)``: SymPy expressions for output ``out``
    at ``args``.

    >>> import mpmath, sympy
    >>> make = numeric_function("demo_sqrt2", lambda xs: [mpmath.sqrt(xs[0]), 2 * xs[0]])
    >>> x = sympy.Symbol("x", real=True)
    >>> round(float(sympy.diff(make(0, x), x).subs(x, 4).evalf()), 12)
    0.25
    """
    _NUMERIC[key] = fn

    def make(out: int, *args):
        return _numeric_class(key, out, ())(*args)

    return make
