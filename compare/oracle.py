"""The SymPy oracle: exact derivatives of the same plain-NumPy code the engines run.

``f`` is called on ``SymArray`` values; every NumPy call goes through the registry's ``sympy`` column, so the
oracle sees exactly the primitives the engines see. Branches (comparisons, sort order, max) are decided at the
point itself, so the oracle differentiates the branch the engines take. Derivatives come from ``sympy.diff`` and
are evaluated at the point with 40 significant digits.

>>> import numpy as np
>>> from compare import oracle
>>> J = lambda w, x, b, y: (w * x + b - y) ** 2 / 2
>>> oracle.jacobian(J, 2.0, -2.0, 8.0, 2.0, argnums=(0, 2))
(array(-4.), array(2.))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import sympy

from adops.core import new_level
from adops.frontend import Traced
from adops.symbolic import POINT
from adops.trees import as_input, flatten, normalize_argnums, regroup, unflatten

DIGITS = 40


class SymArray(Traced):
    """An object array of SymPy expressions that NumPy code can run on."""

    __slots__ = ("expr", "_level")
    engine = "compare.oracle"
    mode = "symbolic"

    def __init__(self, expr, level: int):
        self.expr = np.asarray(expr, dtype=object)
        self._level = level

    @property
    def primal(self):
        return self.expr

    @property
    def dtype(self):
        return np.dtype(np.float64)

    def _apply(self, op, arrays, params):
        level = self._level
        args = [a.expr if isinstance(a, SymArray) and a._level == level else _constant(a) for a in arrays]
        out = op.sympy(*args, **params)
        if not op.differentiable:
            return out
        if op.outputs != 1:
            return op.result([SymArray(o, level) for o in out])
        return SymArray(out, level)

    def __bool__(self) -> bool:
        from adops.symbolic import numeric

        return bool(numeric(self.expr))

    def __repr__(self) -> str:
        return f"SymArray({self.expr!r})"


_FLOAT = np.frompyfunc(lambda v: sympy.Float(float(v), DIGITS), 1, 1)


def _constant(a):
    """Numeric constants become exact SymPy Floats (never NumPy floats, which overflow inside SymPy forms)."""
    if isinstance(a, (np.ndarray, np.floating, float)) and np.asarray(a).dtype.kind == "f":
        return np.asarray(_FLOAT(a), dtype=object)
    if isinstance(a, np.ndarray) and a.dtype.kind in "iu":
        return a.astype(object)
    return a


def _symbols(leaves, prefix):
    syms, point = [], {}
    for k, leaf in enumerate(leaves):
        names = [sympy.Symbol(f"{prefix}{k}_{j}", real=True) for j in range(leaf.size)]
        for s, v in zip(names, leaf.ravel()):
            point[s] = sympy.Float(float(v), DIGITS)
        syms.append(names)
    return syms, point


def _run(f, args, argnums, fn):
    """Trace ``f`` on symbols for the chosen arguments: (output exprs, symbols per leaf, point, structure)."""
    nums, single = normalize_argnums(argnums, len(args), fn)
    level = new_level()
    call_args = list(args)
    in_leaves, in_defs = [], []
    for a in nums:
        leaves, d = flatten(args[a])
        leaves = [np.asarray(as_input(leaf, fn), dtype=np.float64) for leaf in leaves]
        in_leaves.extend(leaves)
        in_defs.append((len(leaves), d))
    syms, point = _symbols(in_leaves, "a")
    sym_leaves = [SymArray(np.array(s, dtype=object).reshape(leaf.shape), level) for s, leaf in zip(syms, in_leaves)]
    pos = 0
    for a, (count, d) in zip(nums, in_defs):
        call_args[a] = unflatten(d, sym_leaves[pos:pos + count])
        pos += count
    token = POINT.set(point)
    try:
        out = f(*call_args)
    finally:
        POINT.reset(token)
    out_leaves, out_def = flatten(out)
    exprs = [leaf.expr if isinstance(leaf, SymArray) else np.asarray(leaf, dtype=object) for leaf in out_leaves]
    return exprs, syms, point, (in_leaves, in_defs, single, out_def)


def _evaluate(expr, point, exact: bool):
    value = sympy.sympify(expr).xreplace(point)
    if isinstance(value, sympy.logic.boolalg.BooleanAtom):  # a comparison's value: True or False
        return bool(value)
    value = value.evalf(DIGITS)
    if not value.is_real and value.is_number:
        value = _real_part(value)
    if exact:
        return value
    try:
        return float(value)
    except TypeError:
        raise ValueError(f"compare.oracle: the derivative is undefined at this point ({value})") from None


def _real_part(value):
    """A real number whose closed form passes through complex intermediates (the casus irreducibilis of a cubic:
    SymPy's eigenvalues of a symmetric 3x3 come back as re + 1e-42 i) keeps its real part when the imaginary part
    is rounding at the oracle's precision; a truly complex value is an error."""
    re, im = value.as_real_imag()
    re, im = sympy.N(re, DIGITS), sympy.N(im, DIGITS)
    if im.is_number and abs(im) <= sympy.Float(10) ** (10 - DIGITS) * max(1, abs(re)):
        return re
    raise ValueError(f"compare.oracle: the value is not real at this point ({value})")


def _assemble(blocks_per_out, structure):
    in_leaves, in_defs, single, out_def = structure
    per_out = []
    for blocks in blocks_per_out:
        per_arg = regroup(blocks, in_defs)
        per_out.append(per_arg[0] if single else tuple(per_arg))
    return unflatten(out_def, per_out)


def value(f: Callable, *args) -> Any:
    """``f(*args)`` evaluated exactly (through the SymPy column) and rounded to float64."""
    exprs, syms, point, structure = _run(f, args, tuple(range(len(args))), "compare.oracle.value")
    outs = [np.array([_evaluate(e, point, False) for e in np.ravel(x)], dtype=_kind(x)).reshape(np.shape(x))
            for x in exprs]
    return unflatten(structure[3], outs)


def _kind(exprs) -> type:
    """bool for an array of truth values (a comparison's output), else float64."""
    flat = [sympy.sympify(e) for e in np.ravel(exprs)]
    return bool if flat and all(isinstance(e, sympy.logic.boolalg.BooleanAtom) for e in flat) else np.float64


def jacobian(f: Callable, *args, argnums: int | tuple = 0, exact: bool = False) -> Any:
    """The exact Jacobian of ``f`` at ``args``, shaped ``out.shape + in.shape`` (float64, or SymPy Floats with
    ``exact=True``), structured like ``jacfwd``/``jacrev``.

    Examples
    --------
    >>> import numpy as np
    >>> jacobian(np.sin, np.array([0.0]))
    array([[1.]])
    """
    exprs, syms, point, structure = _run(f, args, argnums, "compare.oracle.jacobian")
    in_leaves = structure[0]
    dtype = object if exact else np.float64
    blocks_per_out = []
    for out in exprs:
        flat = np.ravel(out)
        blocks = []
        for s, leaf in zip(syms, in_leaves):
            block = np.empty((flat.size, len(s)), dtype=dtype)
            for i, e in enumerate(flat):
                e = sympy.sympify(e)
                for j, sym in enumerate(s):
                    block[i, j] = _evaluate(sympy.diff(e, sym), point, exact) if e.has(sym) else 0.0
            blocks.append(block.reshape(np.shape(out) + leaf.shape))
        blocks_per_out.append(blocks)
    return _assemble(blocks_per_out, structure)


def hessian(f: Callable, *args, argnums: int | tuple = 0, exact: bool = False) -> Any:
    """The exact Hessian of a scalar ``f``, shaped ``in.shape + in.shape`` for one array input.

    For several arguments (``argnums`` a tuple) or tuple/list/dict inputs the result nests like
    ``revad.hessian``: block ``[i][j]`` holds d^2 f / d in_i d in_j, shaped ``in_i.shape + in_j.shape``.

    Examples
    --------
    >>> import numpy as np
    >>> hessian(lambda x: x[0] * x[1] ** 2, np.array([1.0, 3.0]))
    array([[0., 6.],
           [6., 2.]])
    """
    exprs, syms, point, structure = _run(f, args, argnums, "compare.oracle.hessian")
    if len(exprs) != 1 or np.shape(exprs[0]) != ():
        raise TypeError(f"compare.oracle.hessian: f must return a scalar, got shape(s) {[np.shape(e) for e in exprs]}")
    in_leaves, in_defs, single, _ = structure
    e = sympy.sympify(np.ravel(exprs[0])[0])
    flat = [sym for leaf_syms in syms for sym in leaf_syms]
    n = len(flat)
    full = np.empty((n, n), dtype=object if exact else np.float64)
    for i in range(n):
        di = sympy.diff(e, flat[i])
        for j in range(i, n):
            full[i, j] = full[j, i] = _evaluate(sympy.diff(di, flat[j]), point, exact) if di.has(flat[j]) else 0.0
    bounds = np.cumsum([0] + [leaf.size for leaf in in_leaves])
    rows = []
    for li, leaf_i in enumerate(in_leaves):
        blocks = [full[bounds[li]:bounds[li + 1], bounds[lj]:bounds[lj + 1]].reshape(leaf_i.shape + leaf_j.shape)
                  for lj, leaf_j in enumerate(in_leaves)]
        inner = regroup(blocks, in_defs)
        rows.append(inner[0] if single else tuple(inner))
    outer = regroup(rows, in_defs)
    return outer[0] if single else tuple(outer)


def relative_error(actual: Any, expected: Any) -> float:
    """max_ij |a - e| / (|e| + floor): elementwise relative error, where entries below a millionth of the largest
    (exact zeros above all, which rounding can only approximate) are measured against ``floor = 1e-6 max|e|``
    (at least 1e-12)."""
    a_leaves, _ = flatten(actual)
    e_leaves, _ = flatten(expected)
    worst = 0.0
    for a, e in zip(a_leaves, e_leaves):
        a = np.asarray(a, dtype=np.float64)
        e = np.asarray(e, dtype=np.float64)
        if a.shape != e.shape:
            return float("inf")
        if e.size == 0:
            continue
        floor = max(1e-6 * float(np.max(np.abs(e))), 1e-12)
        with np.errstate(invalid="ignore"):
            err = np.abs(a - e) / (np.abs(e) + floor)
        err = np.where(np.isnan(err), np.inf, err)
        worst = max(worst, float(np.max(err)))
    return worst


def _engine_modes(f, args, argnums, scalar):
    import dualad
    import revad

    modes = {
        "dualad.jacfwd": lambda: dualad.jacfwd(f, argnums)(*args),
        "dualad.jacfwd(chunk_size=1)": lambda: dualad.jacfwd(f, argnums, chunk_size=1)(*args),
        "revad.jacrev": lambda: revad.jacrev(f, argnums)(*args),
        "revad.jacrev(chunk_size=1)": lambda: revad.jacrev(f, argnums, chunk_size=1)(*args),
    }
    if scalar:
        modes["dualad.grad"] = lambda: dualad.grad(f, argnums)(*args)
        modes["revad.grad"] = lambda: revad.grad(f, argnums)(*args)
    return modes


def check(f: Callable, *args, argnums: int | tuple = 0, hessians: bool = False) -> dict[str, float]:
    """Max relative error of every engine and mode against the exact Jacobian (and, with ``hessians=True`` for
    a scalar ``f``, of the four Hessian nestings).

    Examples
    --------
    >>> import numpy as np
    >>> errors = check(lambda x: np.sum(np.tanh(x) ** 2), np.array([0.3, -1.2]))
    >>> max(errors.values()) < 1e-12
    True
    """
    exact = jacobian(f, *args, argnums=argnums)
    out_leaves, _ = flatten(f(*args))
    scalar = len(out_leaves) == 1 and np.shape(out_leaves[0]) == ()
    report = {name: relative_error(run(), exact) for name, run in _engine_modes(f, args, argnums, scalar).items()}
    if hessians and scalar:
        import dualad
        import revad

        exact_h = hessian(f, *args, argnums=argnums)
        nestings = {
            "dualad.hessian (forward-over-forward)": dualad.hessian(f, argnums),
            "revad.hessian (reverse-over-reverse)": revad.hessian(f, argnums),
            "dualad.jacfwd(revad.grad) (forward-over-reverse)": dualad.jacfwd(revad.grad(f, argnums), argnums),
            "revad.jacrev(dualad.grad) (reverse-over-forward)": revad.jacrev(dualad.grad(f, argnums), argnums),
        }
        for name, h in nestings.items():
            report[name] = relative_error(h(*args), exact_h)
    return report


__all__ = ["SymArray", "jacobian", "hessian", "check", "value", "relative_error"]
