"""Neural-network primitives, numerically stable at |x| = 1000: relu, sigmoid, softplus, logsumexp, softmax,
log_softmax.

Each is one registry record; call them on plain arrays or on traced values of either engine::

    >>> import numpy as np, adops.nn as nn
    >>> nn.softmax(np.array([1000.0, 1000.0]))
    array([0.5, 0.5])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from .core import Domain, Op, Sample, call, ndim, normalize_axes, register
from .derive import elementwise
from .elementwise import mask
from .reductions import keep
from .symbolic import as_objects, lift

ArrayLike = Any  # an ndarray, a number, or a traced array of either engine

__all__ = ["relu", "sigmoid", "softplus", "logsumexp", "softmax", "log_softmax"]


def _stable_sigmoid(x):
    # exp(-softplus(-x)): never overflows, for either sign of x
    return np.exp(-np.logaddexp(0, -x))


RELU = elementwise("relu", (), (lambda ans, x: mask(x > 0, ans),), lambda x: sp.Piecewise((x, x > 0), (0, True)),
                   impl=lambda x: np.maximum(x, 0), domain=Domain(-2, 2, kinks=(0.0,)),
                   samples=(Sample(((5,),), lambda x: relu(x), "relu"),), math="d relu = [x > 0]; relu'(0) = 0")
SIGMOID = elementwise("sigmoid", (), (lambda ans, x: ans * (1 - ans),), lambda x: 1 / (1 + sp.exp(-x)),
                      impl=_stable_sigmoid, flops=12, samples=(Sample(((5,),), lambda x: sigmoid(x), "sigmoid"),),
                      math="d sigmoid = ans (1 - ans)")
SOFTPLUS = elementwise("softplus", (), (lambda ans, x: np.exp(x - ans),), lambda x: sp.log(1 + sp.exp(x)),
                       impl=lambda x: np.logaddexp(0, x), flops=12,
                       samples=(Sample(((5,),), lambda x: softplus(x), "softplus"),),
                       math="d softplus = sigmoid(x) = exp(x - ans)")


def relu(x: ArrayLike) -> ArrayLike:
    """max(x, 0) elementwise, with relu'(0) = 0.

    >>> relu(np.array([-1.0, 2.0]))
    array([0., 2.])
    """
    return call(RELU, x)


def sigmoid(x: ArrayLike) -> ArrayLike:
    """1 / (1 + exp(-x)), computed without overflow.

    >>> float(sigmoid(np.array(-1000.0)))
    0.0
    """
    return call(SIGMOID, x)


def softplus(x: ArrayLike) -> ArrayLike:
    """log(1 + exp(x)), computed without overflow.

    >>> float(softplus(np.array(1000.0)))
    1000.0
    """
    return call(SOFTPLUS, x)


# ---- reductions over an axis ------------------------------------------------------------------------------
def _shift(x, axes):
    # the max is a constant shift for stability; lse is invariant to it, so no derivative flows through it
    # (a value being recorded for replay is not unwrapped: the shift is recomputed at every replay, adops.replay)
    m = np.max(x if getattr(x, "records_values", False) else getattr(x, "primal", x), axis=axes, keepdims=True)
    return np.where(np.isfinite(m), m, 0)


def _lse_impl(x, axes, keepdims):
    m = _shift(x, axes)
    out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axes)


def _lse_weights(x, axes):
    # softmax over the axes, from the shifted exps: exp(x - ans) would carry ans's rounding (1e-13 at |x| = 1000)
    e = np.exp(x - _shift(x, axes))
    return e / np.sum(e, axis=axes, keepdims=True)


def _lse_jvp(tangents, ans, x, axes, keepdims):
    return np.sum(tangents[0] * _lse_weights(x, axes), axis=axes, keepdims=keepdims)


def _lse_vjp(ct, ans, x, axes, keepdims):
    return keep(ct, axes, keepdims) * _lse_weights(x, axes)


def _sym_lse(x, axes, keepdims):
    e = lift(sp.exp)(as_objects(x))
    return lift(sp.log)(np.sum(e, axis=axes, keepdims=keepdims))


def _reduce_samples(fn):
    return (Sample(((4,),), lambda x: fn(x), "vector"), Sample(((3, 4),), lambda x: fn(x, axis=0), "axis=0"),
            Sample(((2, 3),), lambda x: fn(x, axis=-1), "axis=-1"))


LOGSUMEXP = register(Op(
    name="logsumexp",
    impl=_lse_impl,
    jvp=_lse_jvp,
    vjps=(_lse_vjp,),
    sympy=_sym_lse,
    cost=lambda s, **p: 12 * int(np.prod(s, dtype=np.int64)),
    domain=Domain(),
    samples=(Sample(((4,),), lambda x: logsumexp(x)), Sample(((3, 4),), lambda x: logsumexp(x, axis=1)),
             Sample(((2, 3),), lambda x: logsumexp(x, axis=0, keepdims=True), "keepdims")),
    math="d lse = sum softmax(x) dx",
    sparsity="reduce"))


def logsumexp(x: ArrayLike, axis: int | tuple | None = None, keepdims: bool = False) -> ArrayLike:
    """log(sum(exp(x))) over ``axis`` (all axes by default), stable for large |x|.

    >>> float(logsumexp(np.array([1000.0, 1000.0])))  # 1000 + log 2
    1000.6931471805599
    """
    return call(LOGSUMEXP, x, axes=normalize_axes(axis, ndim(x), "adops.nn.logsumexp"), keepdims=bool(keepdims))


def _softmax_impl(x, axis):
    e = np.exp(x - _shift(x, (axis,)))
    return e / np.sum(e, axis=axis, keepdims=True)


def _softmax_rule(t, ans, x, axis):
    # the softmax Jacobian diag(s) - s s^T is symmetric, so one formula serves JVP and VJP
    return ans * (t - np.sum(t * ans, axis=axis, keepdims=True))


def _sym_softmax(x, axis):
    e = lift(sp.exp)(as_objects(x))
    return e / np.sum(e, axis=axis, keepdims=True)


SOFTMAX = register(Op(
    name="softmax",
    impl=_softmax_impl,
    jvp=lambda ts, ans, x, axis: _softmax_rule(ts[0], ans, x, axis),
    vjps=(_softmax_rule,),
    sympy=_sym_softmax,
    cost=lambda s, **p: 14 * int(np.prod(s, dtype=np.int64)),
    domain=Domain(),
    samples=_reduce_samples(lambda x, axis=-1: softmax(x, axis)),
    math="d s = s (dx - <s, dx>)",
    reads=frozenset(("ans",))))


def softmax(x: ArrayLike, axis: int = -1) -> ArrayLike:
    """exp(x) / sum(exp(x)) along ``axis``, stable for large |x|.

    >>> softmax(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    """
    return call(SOFTMAX, x, axis=normalize_axes(axis, ndim(x), "adops.nn.softmax")[0])


def _log_softmax_impl(x, axis):
    if type(x) is np.ndarray and x.dtype.kind == "f":  # plain floats: the operations below, in the arrays they create
        return _log_softmax_plain(x, axis)
    shifted = x - _shift(x, (axis,))
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _log_softmax_plain(x: np.ndarray, axis: int) -> np.ndarray:
    # ufunc reductions instead of np.max/np.sum (whose Python wrappers cost 10 us each in a loss, where the matmuls
    # before have pushed them out of the caches), and the shift and the normalizer subtracted in place
    m = np.maximum.reduce(x, axis=axis, keepdims=True)
    shifted = x - np.where(np.isfinite(m), m, 0)
    lse = np.add.reduce(np.exp(shifted), axis=axis, keepdims=True)
    return np.subtract(shifted, np.log(lse, out=lse), out=shifted)


def _log_softmax_jvp(tangents, ans, x, axis):
    t = tangents[0]
    return t - np.sum(np.exp(ans) * t, axis=axis, keepdims=True)


def _log_softmax_vjp(ct, ans, x, axis):
    if type(ct) is np.ndarray and type(ans) is np.ndarray and ct.shape == ans.shape and ct.dtype == ans.dtype:
        p = np.exp(ans)
        np.multiply(p, np.add.reduce(ct, axis=axis, keepdims=True), out=p)
        return np.subtract(ct, p, out=p)
    return ct - np.exp(ans) * np.sum(ct, axis=axis, keepdims=True)


def _sym_log_softmax(x, axis):
    x = as_objects(x)
    return x - lift(sp.log)(np.sum(lift(sp.exp)(x), axis=axis, keepdims=True))


LOG_SOFTMAX = register(Op(
    name="log_softmax",
    impl=_log_softmax_impl,
    jvp=_log_softmax_jvp,
    vjps=(_log_softmax_vjp,),
    sympy=_sym_log_softmax,
    cost=lambda s, **p: 14 * int(np.prod(s, dtype=np.int64)),
    domain=Domain(),
    samples=_reduce_samples(lambda x, axis=-1: log_softmax(x, axis)),
    math="d ls = dx - <softmax, dx>",
    reads=frozenset(("ans",))))


def log_softmax(x: ArrayLike, axis: int = -1) -> ArrayLike:
    """x - logsumexp(x) along ``axis``, stable for large |x|.

    >>> log_softmax(np.array([0.0, 0.0]))
    array([-0.69314718, -0.69314718])
    """
    return call(LOG_SOFTMAX, x, axis=normalize_axes(axis, ndim(x), "adops.nn.log_softmax")[0])
