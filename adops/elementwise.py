"""Elementwise primitives: one line of partial derivatives each (JVP and VJP are derived in ``derive``)."""

from __future__ import annotations

import math
import operator

import numpy as np
import sympy as sp

from .core import Domain, Sample, result_dtype
from .derive import BINARY_SHAPES, MINUS_ONE, ONE, composite, elementwise, nondifferentiable

LN2 = float(np.log(2.0))
LN10 = float(np.log(10.0))
POS = Domain(0.2, 3.0)
UNIT = Domain(-0.9, 0.9)


def mask(cond, like):
    """A boolean array as 0/1 in the dtype of ``like`` (keeps float32 float32)."""
    if getattr(cond, "records_values", False):  # a mask being recorded for replay (adops.replay) stays recorded
        return cond.astype(result_dtype(like))
    return np.asarray(cond).astype(result_dtype(like))


def recip(y):
    """1/y, inf at a Python 0 as NumPy gives (x / 0.0 and x / 0 are inf, never ZeroDivisionError)."""
    if type(y) in (int, float, bool) and y == 0:  # a Python float result keeps float32 tangents float32
        return math.copysign(math.inf, y) if type(y) is float else math.inf
    return 1 / y


def tie_share(x, y, ans):
    """d max(x, y)/dx: 1 where x wins, 1/2 at a tie (the convention table), 0 where y wins."""
    return mask(x > y, ans) + 0.5 * mask(x == y, ans)


def norm_share(x, norm):
    """x / norm, and 0 where the norm is 0: a norm's derivative at the origin is its minimum-norm subgradient, 0,
    as abs'(0) = 0 (the guarded division never forms 0/0, so nested derivatives stay 0 there too)."""
    at_zero = norm == 0
    return np.where(at_zero, 0, x / np.where(at_zero, 1, norm))


# ---- unary -------------------------------------------------------------------------------------------
elementwise("negative", (np.negative,), (MINUS_ONE,), lambda x: -x, math="d(-x) = -1")
elementwise("positive", (np.positive,), (ONE,), lambda x: x, math="d(+x) = 1")
elementwise("abs", (np.absolute, np.fabs), (lambda ans, x: np.sign(x),), sp.Abs,
            domain=Domain(-2, 2, kinks=(0.0,)), math="d|x| = sign(x); abs'(0) = 0")
elementwise("square", (np.square,), (lambda ans, x: 2 * x,), lambda x: x**2, math="d x^2 = 2x")
elementwise("sqrt", (np.sqrt,), (lambda ans, x: 0.5 / ans,), sp.sqrt, domain=POS, strong_zero=True,
            math="d sqrt = 1 / (2 ans)")
elementwise("cbrt", (np.cbrt,), (lambda ans, x: 1 / (3 * ans * ans),), sp.cbrt,
            domain=POS, strong_zero=True, math="d cbrt = 1 / (3 ans^2)")
elementwise("reciprocal", (np.reciprocal,), (lambda ans, x: -ans / x,), lambda x: 1 / x, domain=POS,
            strong_zero=True, math="d (1/x) = -ans/x = -ans^2")  # -ans/x: a nested zero cotangent stays 0
elementwise("exp", (np.exp,), (lambda ans, x: ans,), sp.exp, flops=10, math="d exp = ans")
elementwise("exp2", (np.exp2,), (lambda ans, x: ans * LN2,), lambda x: 2**x, flops=10, math="d 2^x = ans ln 2")
elementwise("expm1", (np.expm1,), (lambda ans, x: ans + 1,), lambda x: sp.exp(x) - 1, flops=10,
            math="d expm1 = ans + 1")
elementwise("log", (np.log,), (lambda ans, x: 1 / x,), sp.log, domain=POS, flops=10, strong_zero=True,
            math="d log = 1/x")
elementwise("log2", (np.log2,), (lambda ans, x: 1 / (x * LN2),), lambda x: sp.log(x, 2), domain=POS, flops=10,
            strong_zero=True, math="d log2 = 1/(x ln 2)")
elementwise("log10", (np.log10,), (lambda ans, x: 1 / (x * LN10),), lambda x: sp.log(x, 10), domain=POS,
            flops=10, strong_zero=True, math="d log10 = 1/(x ln 10)")
elementwise("log1p", (np.log1p,), (lambda ans, x: 1 / (1 + x),), lambda x: sp.log(1 + x), domain=POS, flops=10,
            strong_zero=True, math="d log1p = 1/(1+x)")
elementwise("sin", (np.sin,), (lambda ans, x: np.cos(x),), sp.sin, flops=10, math="d sin = cos")
elementwise("cos", (np.cos,), (lambda ans, x: -np.sin(x),), sp.cos, flops=10, math="d cos = -sin")
elementwise("tan", (np.tan,), (lambda ans, x: 1 + ans * ans,), sp.tan, domain=Domain(-1.2, 1.2), flops=10,
            math="d tan = 1 + ans^2")
elementwise("arcsin", (np.arcsin,), (lambda ans, x: 1 / np.sqrt(1 - x * x),), sp.asin, domain=UNIT, flops=10,
            strong_zero=True, math="d arcsin = 1/sqrt(1-x^2)")
elementwise("arccos", (np.arccos,), (lambda ans, x: -1 / np.sqrt(1 - x * x),), sp.acos, domain=UNIT, flops=10,
            strong_zero=True, math="d arccos = -1/sqrt(1-x^2)")
elementwise("arctan", (np.arctan,), (lambda ans, x: 1 / (1 + x * x),), sp.atan, flops=10,
            math="d arctan = 1/(1+x^2)")
elementwise("sinh", (np.sinh,), (lambda ans, x: np.cosh(x),), sp.sinh, flops=10, math="d sinh = cosh")
elementwise("cosh", (np.cosh,), (lambda ans, x: np.sinh(x),), sp.cosh, flops=10, math="d cosh = sinh")
elementwise("tanh", (np.tanh,), (lambda ans, x: 1 - ans * ans,), sp.tanh, flops=10, math="d tanh = 1 - ans^2")
elementwise("arcsinh", (np.arcsinh,), (lambda ans, x: 1 / np.sqrt(x * x + 1),), sp.asinh, flops=10,
            math="d arcsinh = 1/sqrt(x^2+1)")
elementwise("arccosh", (np.arccosh,), (lambda ans, x: 1 / np.sqrt(x * x - 1),), sp.acosh,
            domain=Domain(1.2, 3.0), flops=10, strong_zero=True, math="d arccosh = 1/sqrt(x^2-1)")
elementwise("arctanh", (np.arctanh,), (lambda ans, x: 1 / (1 - x * x),), sp.atanh, domain=UNIT, flops=10,
            strong_zero=True, math="d arctanh = 1/(1-x^2)")
elementwise("deg2rad", (np.deg2rad, np.radians), (lambda ans, x: np.pi / 180,), lambda x: x * sp.pi / 180,
            math="d = pi/180")
elementwise("rad2deg", (np.rad2deg, np.degrees), (lambda ans, x: 180 / np.pi,), lambda x: x * 180 / sp.pi,
            math="d = 180/pi")

# piecewise constant: the engines return these as constants (derivative 0 everywhere, the convention at jumps)
for _name, _ufuncs in (("sign", (np.sign,)), ("floor", (np.floor,)), ("ceil", (np.ceil,)),
                       ("rint", (np.rint,)), ("trunc", (np.trunc,))):
    nondifferentiable(_name, _ufuncs, 1)

# ---- binary ------------------------------------------------------------------------------------------
# the Python operators run the same NumPy loops without the ufunc-call overhead (10x less on scalars)
elementwise("add", (np.add,), (ONE, ONE), lambda x, y: x + y, impl=operator.add, math="d(x+y) = dx + dy")
elementwise("subtract", (np.subtract,), (ONE, MINUS_ONE), lambda x, y: x - y, impl=operator.sub,
            math="d(x-y) = dx - dy")
elementwise("multiply", (np.multiply,), (lambda ans, x, y: y, lambda ans, x, y: x), lambda x, y: x * y,
            impl=operator.mul, math="d(xy) = y dx + x dy")
elementwise("divide", (np.divide, np.true_divide), (lambda ans, x, y: recip(y), lambda ans, x, y: -ans / y),
            lambda x, y: x / y, impl=operator.truediv, domain=(Domain(-2, 2), POS), strong_zero=True,
            math="d(x/y) = dx/y - ans dy/y")
elementwise("power", (np.power, np.float_power),
            # d/dy uses log(1) where x == 0 (0^y is flat in y there), so no -inf meets a zero cotangent
            # y x^(y-1), with the exponent 1 where x == y == 0: x**0 has derivative 0 at x = 0, not 0 * inf; only
            # there, or the partial's own y-derivative (x^(y-1), the mixed second derivative) would be lost
            # (written with arithmetic rather than np.where so a Python-float y keeps float32 x float32)
            (lambda ans, x, y: y * x ** (y - 1 + 2 * mask((y == 0) & (x == 0), ans)),
             lambda ans, x, y: ans * np.log(np.where(x == 0, 1, x))),
            lambda x, y: x**y, domain=(POS, Domain(-2, 2)), flops=20, strong_zero=True,
            math="d x^y = y x^(y-1) dx + ans log(x) dy")
def nan_share(share, mine, other, ans, first: bool):
    """fmax/fmin: ``share`` where both are numbers; all of it where only the other is NaN (the result is this one),
    none where only this one is; where both are NaN the first argument takes it (as JAX)."""
    mine_nan, other_nan = np.isnan(mine), np.isnan(other)
    takes = other_nan if first else other_nan & ~mine_nan
    return share * mask(~(mine_nan | other_nan), ans) + mask(takes, ans)


elementwise("maximum", (np.maximum,),
            (lambda ans, x, y: tie_share(x, y, ans), lambda ans, x, y: tie_share(y, x, ans)),
            lambda x, y: sp.Max(x, y), domain=Domain(-2, 2, kinks=("tie",)),
            math="dx where x > y, dy where y > x, (dx+dy)/2 at a tie")
elementwise("minimum", (np.minimum,),
            (lambda ans, x, y: tie_share(y, x, ans), lambda ans, x, y: tie_share(x, y, ans)),
            lambda x, y: sp.Min(x, y), domain=Domain(-2, 2, kinks=("tie",)),
            math="dx where x < y, dy where y < x, (dx+dy)/2 at a tie")
elementwise("fmax", (np.fmax,),
            (lambda ans, x, y: nan_share(tie_share(x, y, ans), x, y, ans, True),
             lambda ans, x, y: nan_share(tie_share(y, x, ans), y, x, ans, False)),
            lambda x, y: sp.Max(x, y), domain=Domain(-2, 2, kinks=("tie",)),
            math="maximum's (a tie splits 1/2, where JAX gives it to y), ignoring a NaN: dx where y is NaN, dy where "
                 "only x is")
elementwise("fmin", (np.fmin,),
            (lambda ans, x, y: nan_share(tie_share(y, x, ans), x, y, ans, True),
             lambda ans, x, y: nan_share(tie_share(x, y, ans), y, x, ans, False)),
            lambda x, y: sp.Min(x, y), domain=Domain(-2, 2, kinks=("tie",)),
            math="minimum's (a tie splits 1/2, where JAX gives it to y), ignoring a NaN: dx where y is NaN, dy where "
                 "only x is")
def undefined_at_origin(partial, y, x):
    """``partial`` times 1, or NaN where x == y == 0: arctan2 jumps there, so no derivative of any order exists, and
    a constant NaN factor keeps every order NaN (0/0 alone gave finite or infinite higher orders, unlike JAX)."""
    return partial * np.where((x == 0) & (y == 0), np.nan, 1.0).astype(result_dtype(partial), copy=False)


elementwise("arctan2", (np.arctan2,),
            (lambda ans, y, x: undefined_at_origin(x / (x * x + y * y), y, x),
             lambda ans, y, x: undefined_at_origin(-y / (x * x + y * y), y, x)), sp.atan2,
            domain=(POS, POS), flops=20, strong_zero=True,
            math="d atan2(y,x) = (x dy - y dx)/(x^2+y^2); NaN at the origin, where it jumps")
elementwise("hypot", (np.hypot,), (lambda ans, x, y: norm_share(x, ans), lambda ans, x, y: norm_share(y, ans)),
            lambda x, y: sp.sqrt(x**2 + y**2), domain=(POS, POS), flops=5,
            math="d hypot = (x dx + y dy)/ans; 0 at the origin, as for every norm")
def exp_share(x, y, ans, exp, log_half):
    """x's share of logaddexp(x, y), ``exp(x - ans)``, with its limits where ``ans`` is infinite (inf - inf would be
    NaN): 1 for the side that is the infinity, 1/2 each at a tie of infinities (as at every tie)."""
    return exp(np.where(x == ans, log_half * mask(y == ans, ans), x - ans))


elementwise("logaddexp", (np.logaddexp,),
            (lambda ans, x, y: exp_share(x, y, ans, np.exp, -math.log(2)),
             lambda ans, x, y: exp_share(y, x, ans, np.exp, -math.log(2))),
            lambda x, y: sp.log(sp.exp(x) + sp.exp(y)), flops=20,
            math="d = exp(x-ans) dx + exp(y-ans) dy; at x = inf, dx = 1")
elementwise("logaddexp2", (np.logaddexp2,),
            (lambda ans, x, y: exp_share(x, y, ans, np.exp2, -1.0),
             lambda ans, x, y: exp_share(y, x, ans, np.exp2, -1.0)),
            lambda x, y: sp.log(2**x + 2**y, 2), flops=20, math="d = 2^(x-ans) dx + 2^(y-ans) dy; at x = inf, dx = 1")


def _sym_clip(x, lo, hi):
    """clip of SymPy scalars: the branch taken at the oracle's point (a bound wins a tie, as above)."""
    from .symbolic import numeric

    xv, lov, hiv = float(numeric(x)), float(numeric(lo)), float(numeric(hi))
    return hi if max(xv, lov) >= hiv else (lo if xv <= lov else x)


def _parse_clip(a, a_min=None, a_max=None, out=None, **kwargs):
    from .core import reject_out

    reject_out("np.clip", out)
    # the keyword spellings of NumPy 2.1+ (min=, max=) are accepted too
    a_min = kwargs.pop("min", a_min)
    a_max = kwargs.pop("max", a_max)
    if kwargs:
        raise TypeError(f"np.clip: unsupported argument(s) {sorted(kwargs)} under differentiation")
    return (a, -np.inf if a_min is None else a_min, np.inf if a_max is None else a_max), {}


elementwise("clip", (np.clip,),
            # NumPy's clip is min(max(x, lo), hi): hi wins wherever max(x, lo) >= hi (also when lo > hi, and at
            # x == lo == hi), so the three partials always sum to 1
            (lambda ans, x, lo, hi: mask((x > lo) & (x < hi), ans),
             lambda ans, x, lo, hi: mask((x <= lo) & (lo < hi), ans),
             lambda ans, x, lo, hi: mask(np.maximum(x, lo) >= hi, ans)),
            lambda x, lo, hi: _sym_clip(x, lo, hi),
            impl=lambda x, lo, hi: np.clip(x, lo, hi),
            domain=(Domain(-2, 2, kinks=(-0.5, 0.5)), Domain(-3, -1), Domain(1, 3)), parse=_parse_clip,
            samples=(Sample(((5,),), lambda x: np.clip(x, -0.5, 0.5), "clip(x, -0.5, 0.5)"),
                     Sample(((2, 3), (3,), ()), np.clip, "clip(x, lo, hi)")),
            math="dx strictly inside the bounds, d bound where clipped (hi where max(x, lo) >= hi); 0 at the bounds")


def _where_jvp(tangents, ans, cond, x, y):
    from .core import align, batch_ndim, fill, shape

    _, tx, ty = tangents
    t_any = tx if tx is not None else ty
    if t_any is None:
        return None
    batch = shape(t_any)[:batch_ndim(t_any, x if tx is not None else y)]
    tx = 0 if tx is None else align(tx, x, ans)
    ty = 0 if ty is None else align(ty, y, ans)
    return fill(np.where(cond, tx, ty), batch, ans)


def _parse_where(condition, x=None, y=None):
    if x is None or y is None:
        raise TypeError("np.where(condition) with one argument returns indices and has no derivative; "
                        "call np.nonzero on a plain array, or pass np.where(condition, x, y)")
    if getattr(condition, "_level", None) is not None:
        # a traced condition is read as NumPy reads it (nonzero is true) through a comparison its own engine answers:
        # a plain mask, or under sparsity detection a value-dependent one (taking .primal would make it a constant)
        condition = condition != 0
        while getattr(condition, "_level", None) is not None and not getattr(condition, "records_values", False):
            condition = condition.primal  # (a mask being recorded for replay stays recorded: adops.replay)
        if getattr(condition, "_level", None) is not None:
            return (condition, x, y), {}
    # asanyarray: a mask computed from traced values keeps its marker class (sparsity detection must see it)
    return (np.asanyarray(condition, dtype=bool), x, y), {}


def _where_register():
    from .core import Op, register, unbroadcast
    from .derive import _elementwise_cost

    def vjp_x(ct, ans, cond, x, y):
        return unbroadcast(np.where(cond, ct, 0), x, ans)

    def vjp_y(ct, ans, cond, x, y):
        return unbroadcast(np.where(cond, 0, ct), y, ans)

    samples = (Sample(((5,), (5,)), lambda x, y: np.where(x > y, x, y), "where(x > y, x, y)"),
               Sample(((2, 3), (3,)), lambda x, y: np.where(x > 0, x, y), "where(x > 0, x, y)"),
               Sample(((4,),), lambda x: np.where(x < 1, x, np.sqrt(np.abs(x))), "where(x < 1, x, sqrt|x|)"))
    op = Op(
        name="where",
        impl=np.where,
        jvp=_where_jvp,
        vjps=(None, vjp_x, vjp_y),
        sympy=lambda c, x, y: np.where(c, x, y),
        cost=_elementwise_cost(1),
        domain=Domain(),
        samples=samples,
        math="the chosen branch's derivative; the other gets 0",
        sparsity="choose")
    register(op, np.where, parse=_parse_where)


_where_register()

# comparisons and predicates: boolean results, never traced
for _name, _ufuncs, _n in (("less", (np.less,), 2), ("less_equal", (np.less_equal,), 2),
                           ("greater", (np.greater,), 2), ("greater_equal", (np.greater_equal,), 2),
                           ("equal", (np.equal,), 2), ("not_equal", (np.not_equal,), 2),
                           ("isfinite", (np.isfinite,), 1), ("isnan", (np.isnan,), 1), ("isinf", (np.isinf,), 1),
                           ("signbit", (np.signbit,), 1), ("floor_divide", (np.floor_divide,), 2)):
    nondifferentiable(_name, _ufuncs, _n, math="boolean or integer valued: no derivative")


# ---- more of NumPy's elementwise functions ----------------------------------------------------------------------
def _at_point(fn):
    """A SymPy form that takes a piecewise-constant factor (a quotient's integer part, a sign) at the oracle's point."""
    def sym(*args):
        from .symbolic import numeric

        return fn(*args, *[float(numeric(a)) for a in args])

    return sym


elementwise("fmod", (np.fmod,), (ONE, lambda ans, x, y: -np.trunc(x / y)),
            _at_point(lambda x, y, xv, yv: x - y * math.trunc(xv / yv)), domain=(Domain(-2, 2), POS),
            math="fmod(x, y) = x - y trunc(x/y): d = dx - trunc(x/y) dy")
elementwise("copysign", (np.copysign,), (lambda ans, x, y: np.sign(x) * np.copysign(np.ones_like(ans), y), None),
            _at_point(lambda x, y, xv, yv: sp.Abs(x) * math.copysign(1, yv)), domain=Domain(-2, 2, kinks=(0.0,)),
            math="|x| sign(y): d = sign(x) sign(y) dx (0 at x = 0, as abs); no derivative in y")
elementwise("heaviside", (np.heaviside,), (None, lambda ans, x, h: mask(x == 0, ans)),
            _at_point(lambda x, h, xv, hv: h if xv == 0 else sp.Integer(int(xv > 0))),
            math="0, h0 or 1: derivative 0 in x; dh0 where x == 0")
_PI2 = math.pi ** 2


def _sinc_slope(ans, x):
    # (cos(pi x) - sinc x) / x, and its Taylor series near 0 (exact there at every order, no 0/0)
    small = np.abs(x) < 1e-2
    xs = np.where(small, 1.0, x)
    series = x * (-_PI2 / 3 + x * x * (_PI2 * _PI2 / 30 - x * x * _PI2 ** 3 / 840))
    return np.where(small, series, (np.cos(np.pi * xs) - ans) / xs)


elementwise("sinc", (np.sinc,), (_sinc_slope,), lambda x: sp.sinc(sp.pi * x), flops=20,
            math="sin(pi x)/(pi x): d = (cos(pi x) - sinc x)/x, its Taylor series near 0")
elementwise("ldexp", (np.ldexp,), (lambda ans, x, e: np.ldexp(np.ones_like(ans), e), None),
            lambda x, e: x * sp.Integer(2) ** e,
            samples=(Sample(((5,),), lambda x: np.ldexp(x, np.array([1, -2, 3, 0, 1]))),
                     Sample(((2, 3),), lambda x: np.ldexp(x, 2), "scalar exponent")),
            math="x 2^e: d = 2^e dx (e is an integer: no derivative)")

FREXP_EXPONENT = nondifferentiable("frexp_exponent", (), 1, impl=lambda x: np.frexp(x)[1], samples=(),
                                   math="internal: the exponent of np.frexp (an integer: no derivative)")


def _frexp(x, out=None, **kwargs):
    from .core import call, reject_out

    reject_out("np.frexp", out, **kwargs)
    e = call(FREXP_EXPONENT, x)
    return np.ldexp(x, -e), e


def _modf(x, out=None, **kwargs):
    from .core import reject_out

    reject_out("np.modf", out, **kwargs)
    whole = np.trunc(x)
    return x - whole, whole


def _nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    info = np.finfo(result_dtype(x))
    x = np.where(np.isnan(x), nan, x)
    x = np.where(np.isposinf(x), info.max if posinf is None else posinf, x)
    return np.where(np.isneginf(x), info.min if neginf is None else neginf, x)


composite("frexp", (np.frexp,), _frexp, samples=(Sample(((5,),), lambda x: np.frexp(x * 3)[0]),),
          math="(ldexp(x, -e), e), e read off the primal: d mantissa = 2^-e dx")
composite("modf", (np.modf,), _modf, samples=(Sample(((5,),), lambda x: np.modf(x * 3)[0]),),
          math="(x - trunc x, trunc x): d = dx and 0")
composite("nan_to_num", (np.nan_to_num,), _nan_to_num,
          samples=(Sample(((6,),), lambda x: np.nan_to_num(np.where(x > 0.5, np.nan, np.where(x < -1, -np.inf, x)))),
                   Sample(((6,),), lambda x: np.nan_to_num(np.where(x > 1, np.inf, x), posinf=9.0), "posinf=9")),
          math="np.where over isnan / isposinf / isneginf")
nondifferentiable("angle", (np.angle,), 1, impl=lambda z, deg=False: np.angle(z, deg),
                  parse=lambda z, deg=False: ((z,), {"deg": deg}),
                  samples=(Sample(((5,),), np.angle),), math="real input: 0 or pi, piecewise constant")
for _name, _ufuncs in (("isposinf", (np.isposinf,)), ("isneginf", (np.isneginf,))):
    nondifferentiable(_name, _ufuncs, 1, math="boolean valued: no derivative")

__all__ = ["mask", "tie_share", "BINARY_SHAPES"]
