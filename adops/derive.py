"""Rule factories: elementwise partials, linear maps with a transpose, and bilinear products.

Each factory turns the little an op author writes (partials, or a transpose) into a full ``Op`` record with a
JVP, per-input VJPs, cost and test samples, so the batch-axis, broadcasting and strong-zero handling lives
here once instead of in every rule.
"""

from __future__ import annotations

import dis
import inspect
from collections.abc import Callable

import numpy as np

from .core import INFINITE, Domain, Op, Sample, align, batch_ndim, call, fill, register, shape, unbroadcast, zeros_for
from .symbolic import lift

ONE = "one"  # partial derivative identically 1 (add): the tangent passes through untouched
MINUS_ONE = "minus_one"

UNARY_SHAPES = ((), (5,), (2, 3))
BINARY_SHAPES = (((), ()), ((4,), (4,)), ((2, 3), (3,)), ((3,), (2, 3)), ((2, 1), (1, 3)), ((), (2, 3)),
                 ((2, 3), ()))


def _times(t, d, strong_zero: bool):
    """The derivative product t * d, with 0 * inf = 0 (strong zero) wherever an infinite factor can be present."""
    if d is ONE:
        return t
    if d is MINUS_ONE:
        return -t
    if not (strong_zero or INFINITE.seen):
        return t * d
    # A plain product is exact at every order when no infinity is around: a finite constant partial (it has no
    # derivatives of its own). A traced partial goes through the strong product, which carries the rule into every
    # nested derivative and raises the flag if an infinity appears at any order.
    if not INFINITE.seen and type(d) in _PLAIN and np.isfinite(d).all():
        return t * d
    return call(STRONG_PRODUCT, t, d)


_PLAIN = (np.ndarray, np.float64, np.float32, float, int)


def _strong_product(t, d):
    """t * d, except exactly 0 where either factor is 0 whatever the other is (0 * inf = 0)."""
    if hasattr(t, "_level") or hasattr(d, "_level"):  # traced by an outer call: it differentiates this op too
        return call(STRONG_PRODUCT, t, d)
    with np.errstate(invalid="ignore", over="ignore"):
        p = t * d
        if np.isfinite(p).all():
            return p
        p = np.where((t == 0) | (d == 0), 0, p)
    if not np.isfinite(p).all():  # an infinite derivative goes on: later products must meet it strongly too
        INFINITE.seen = True
    return p


def _strong_product_jvp(tangents, ans, t, d):
    # d(t d) = t_dot d + t d_dot, each term a strong product again: the partial is never multiplied out of a zero
    # (replacing the product by a constant would drop a traced zero's own derivative: wrong Hessians at zero
    # residuals), and a zero t keeps an infinite d_dot out (x ** 1.5 at 0 behind a where, nested)
    t_dot, d_dot = tangents
    out = None
    if t_dot is not None:
        out = _times(align(t_dot, t, ans), d, True)
    if d_dot is not None:
        term = _times(t, align(d_dot, d, ans), True)
        out = term if out is None else out + term
    return out


STRONG_PRODUCT = register(Op(
    name="strong_product",
    impl=_strong_product,
    jvp=_strong_product_jvp,
    vjps=(lambda ct, ans, t, d: unbroadcast(_times(ct, d, True), t, ans),
          lambda ct, ans, t, d: unbroadcast(_times(ct, t, True), d, ans)),
    sympy=lambda t, d: t * d,
    cost=lambda *shapes: int(np.prod(np.broadcast_shapes(*shapes), dtype=np.int64)),
    domain=Domain(),
    samples=(),
    math="internal: the derivative product t * d with 0 * inf = 0 (strong zero)",
    sparsity="elementwise"))


_NAN = np.float64(np.nan)
UNDEFINED = register(Op(
    name="undefined_derivative",
    impl=lambda x: x,
    jvp=lambda tangents, ans, x: _times(tangents[0], _NAN, True),
    vjps=(lambda ct, ans, x: _times(ct, _NAN, True),),
    sympy=lambda x: x,
    cost=lambda *shapes: 0,
    domain=Domain(),
    samples=(),
    math="internal: the value x, with no derivative (NaN in both modes): np.var with ddof >= n"))


def _partial(d, ans, primals, strong_zero: bool):
    if isinstance(d, str):
        return d
    if not strong_zero:
        return d(ans, *primals)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # infinite partials are expected here
        return d(ans, *primals)


def _reads(partials: tuple) -> frozenset | None:
    """What the VJPs built from ``partials`` read (``Op.reads``): the arguments some partial's code loads ("ans" for
    the first, input positions after it). A partial that never loads x cannot depend on x's value (tanh's
    ``1 - ans * ans``, exp's ``ans``); the VJPs around the partials look at shapes only. None when a partial's code
    cannot be read (a builtin, ``*args``)."""
    reads = set()
    for d in partials:
        if d is None or isinstance(d, str):
            continue
        code = getattr(d, "__code__", None)
        if code is None or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS):
            return None
        loaded = set(code.co_cellvars)  # (an argument captured by an inner function counts as read)
        for ins in dis.get_instructions(code):
            if "FAST" in ins.opname or "DEREF" in ins.opname:
                loaded.update(ins.argval if isinstance(ins.argval, tuple) else (ins.argval,))
        for k, arg in enumerate(code.co_varnames[:code.co_argcount]):
            if arg in loaded:
                reads.add("ans" if k == 0 else k - 1)
    return frozenset(reads)


def _elementwise_cost(flops: float) -> Callable:
    def cost(*shapes, **params):
        return flops * int(np.prod(np.broadcast_shapes(*shapes), dtype=np.int64))

    return cost


def elementwise(name: str, ufuncs: tuple, partials: tuple, sympy_fn: Callable, *, domain=Domain(),
                flops: float = 1, strong_zero: bool = False, math: str = "", impl: Callable | None = None,
                samples: tuple | None = None, parse: Callable | None = None) -> Op:
    """Register an elementwise op from one partial-derivative function per argument.

    ``partials[i](ans, *primals)`` is d ans / d primals[i] (broadcastable to ans), ``ONE``/``MINUS_ONE``,
    or ``None`` for an argument with no derivative. JVP and VJP both come from these.
    """
    nargs = len(partials)
    impl = impl or ufuncs[0]

    if nargs == 1:
        (d,) = partials
        if isinstance(d, str) or strong_zero:

            def jvp(tangents, ans, x, **params):
                return _times(tangents[0], _partial(d, ans, (x,), strong_zero), strong_zero)

        else:  # the hot path: one multiply, no helpers

            def jvp(tangents, ans, x, **params):
                return tangents[0] * d(ans, x) if not INFINITE.seen else _times(tangents[0], d(ans, x), False)

    else:

        def jvp(tangents, ans, *primals, **params):
            out = None
            ashape = ans.shape
            for t, d, x in zip(tangents, partials, primals):
                if t is None or d is None:
                    continue
                if x.shape != ashape:  # x was broadcast: align its tangent's batch axes first
                    return _broadcasting_jvp(tangents, ans, primals)
                if d is ONE:
                    term = t
                elif d is MINUS_ONE:
                    term = -t
                elif strong_zero:
                    term = _times(t, _partial(d, ans, primals, True), True)
                else:
                    term = _times(t, d(ans, *primals), False)
                out = term if out is None else out + term
            return out

        def _broadcasting_jvp(tangents, ans, primals):
            out = None
            batch = ()
            for t, d, x in zip(tangents, partials, primals):
                if t is None or d is None:
                    continue
                batch = shape(t)[:batch_ndim(t, x)]
                t = align(t, x, ans)
                term = _times(t, _partial(d, ans, primals, strong_zero), strong_zero)
                out = term if out is None else out + term
            return None if out is None else fill(out, batch, ans)

    def make_vjp(i: int, d) -> Callable | None:
        if d is None:
            return None
        if nargs == 1 and not strong_zero and not isinstance(d, str):

            def vjp(ct, ans, x, **params):
                return ct * d(ans, x) if not INFINITE.seen else _times(ct, d(ans, x), False)

            return vjp

        if d is ONE:
            def vjp(ct, ans, *primals, **params):
                x = primals[i]
                return ct if getattr(x, "shape", None) == ans.shape else unbroadcast(ct, x, ans)

            return vjp
        if nargs == 2 and not strong_zero and not isinstance(d, str):  # the hot path of binary ops

            def vjp(ct, ans, x, y, **params):
                g = ct * d(ans, x, y) if not INFINITE.seen else _times(ct, d(ans, x, y), False)
                own = y if i else x
                return g if getattr(own, "shape", None) == ans.shape else unbroadcast(g, own, ans)

            return vjp
        if not strong_zero and not isinstance(d, str):
            def vjp(ct, ans, *primals, **params):
                g = _times(ct, d(ans, *primals), False)
                x = primals[i]
                return g if getattr(x, "shape", None) == ans.shape else unbroadcast(g, x, ans)

            return vjp

        def vjp(ct, ans, *primals, **params):
            g = _times(ct, _partial(d, ans, primals, strong_zero), strong_zero)
            x = primals[i]
            return g if getattr(x, "shape", None) == ans.shape else unbroadcast(g, x, ans)

        return vjp

    vjps = tuple(make_vjp(i, d) for i, d in enumerate(partials))
    if samples is None:
        shapes = UNARY_SHAPES if nargs == 1 else BINARY_SHAPES
        call = ufuncs[0]
        samples = tuple(Sample((s,) if nargs == 1 else s, call) for s in shapes)
    op = Op(
        name=name,
        impl=impl,
        jvp=jvp,
        vjps=vjps,
        sympy=lift(sympy_fn, nargs),
        cost=_elementwise_cost(flops),
        domain=domain,
        samples=samples,
        math=math,
        strong_zero=strong_zero,
        sparsity="elementwise",
        reads=_reads(partials))
    return register(op, *ufuncs, parse=parse)


def nondifferentiable(name: str, ufuncs: tuple, nargs: int, *, samples: tuple | None = None,
                      math: str = "derivative 0 (piecewise constant)", impl: Callable | None = None,
                      parse: Callable | None = None) -> Op:
    """Register an op whose output is piecewise constant: engines return it as a constant (zero derivative)."""
    impl = impl or ufuncs[0]

    def sympy_const(*args, **params):
        from .symbolic import numeric

        return impl(*[numeric(a) if isinstance(a, np.ndarray) and a.dtype == object else a for a in args], **params)

    if samples is None:
        shapes = UNARY_SHAPES if nargs == 1 else BINARY_SHAPES
        samples = tuple(Sample((s,) if nargs == 1 else s, ufuncs[0]) for s in shapes)
    op = Op(
        name=name,
        impl=impl,
        jvp=None,
        vjps=(None,) * nargs,
        sympy=sympy_const,
        cost=_elementwise_cost(1),
        domain=Domain(),
        samples=samples,
        math=math,
        sparsity="constant",
        curvature="linear")
    return register(op, *ufuncs, parse=parse)


def linear(name: str, callables: tuple, impl: Callable, transposes: tuple, *, parse: Callable | None,
           samples: tuple, sympy_fn: Callable | None = None, cost: Callable | None = None, math: str = "",
           jvp: Callable | None = None, vjp_all: Callable | None = None, sparsity: str = "dense",
           scatter_vjps: tuple = (), reads: frozenset | None = frozenset()) -> Op:
    """Register an op linear in its array arguments: the JVP is the impl applied to the tangents, and
    ``transposes[i](ct, ans, *primals, **params)`` hand-writes the VJP for input i (or, for any number of inputs,
    ``vjp_all(ct, ans, *primals, **params)`` all of them in one call). ``sparsity="select"`` declares
    that each output element is one input element or a constant (reshape, indexing, ...); ``"reduce"`` a sum over
    ``params["axes"]``. ``scatter_vjps`` are the transposes as the reverse sweep may take them, unbuilt
    (``Op.scatter_vjps``). A transpose needs the inputs' shapes, not their values (``reads``, ``Op.reads``: none by
    default)."""
    if jvp is None:
        if len(transposes) == 1:

            def jvp(tangents, ans, x, **params):
                return impl(tangents[0], **params)

        else:

            def jvp(tangents, ans, *primals, **params):
                batch = next(shape(t)[:batch_ndim(t, x)] for t, x in zip(tangents, primals) if t is not None)
                filled = [zeros_for(x, batch, ans) if t is None else t for t, x in zip(tangents, primals)]
                return impl(*filled, **params)

    op = Op(
        name=name,
        impl=impl,
        jvp=jvp,
        vjps=transposes,
        vjp_all=vjp_all,
        sympy=sympy_fn or impl,
        cost=cost or _free,
        domain=Domain(),
        samples=samples,
        math=math,
        sparsity=sparsity,
        curvature="linear",
        scatter_vjps=scatter_vjps,
        reads=reads)
    return register(op, *callables, parse=parse)


def _free(*shapes, **params):
    """Data movement only: no flops."""
    return 0


def bilinear(name: str, callables: tuple, impl: Callable, transposes: tuple, *, parse: Callable | None,
             samples: tuple, cost: Callable, sympy_fn: Callable | None = None, math: str = "",
             sparsity: str = "dense") -> Op:
    """Register a product linear in each of two arguments: JVP = impl(ta, b) + impl(a, tb). Each transpose reads the
    other factor, never the product (``Op.reads``)."""

    def jvp(tangents, ans, a, b, **params):
        ta, tb = tangents
        out = None
        if ta is not None:
            out = impl(align(ta, a, ans), b, **params)
        if tb is not None:
            term = impl(a, align(tb, b, ans), **params)
            out = term if out is None else out + term
        return out

    op = Op(
        name=name,
        impl=impl,
        jvp=jvp,
        vjps=tuple(transposes),
        sympy=sympy_fn or impl,
        cost=cost,
        domain=Domain(),
        samples=samples,
        math=math,
        sparsity=sparsity,
        curvature="multilinear",
        reads=frozenset((0, 1)))
    return register(op, *callables, parse=parse)


def composite(name: str, callables: tuple, impl: Callable, *, samples: tuple, math: str = "",
              domain=Domain()) -> Op:
    """Register a NumPy function built from primitives: engines run ``impl`` itself on traced values, so its
    derivative comes from the primitives it calls. Its SymPy form is the same code on SymPy arrays."""
    op = Op(
        name=name,
        impl=impl,
        jvp=None,
        vjps=(),
        sympy=impl,
        cost=_free,
        domain=domain,
        samples=samples,
        composite=True,
        math=math or "built from primitives")
    return register(op, *callables, parse=None)

