"""``scipy.special`` functions and ``np.i0``, registered when scipy imports.

scipy.special's functions are ufuncs, so a traced argument reaches the same ``__array_ufunc__`` dispatch as
``np.sin``: each is one ``elementwise`` record. Each partial is written with functions registered here too (the
derivative of ``digamma`` is ``zeta(2, x)``, of ``i0`` is ``i1``), so every order is differentiated.
``scipy.special.logsumexp``/``softmax`` are Python functions that convert their input with ``np.asarray`` and cannot
be traced; the conversion error points at ``adops.nn``.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from .core import Domain, Sample
from .derive import elementwise
from .elementwise import POS, UNIT

try:
    import scipy.special as sc
except ImportError:  # pragma: no cover - scipy is a runtime dependency, but the registry works without it
    sc = None

TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _i1_slope(ans, x):
    # i1' = i0 - i1/x, with its limit 1/2 at 0
    at_zero = x == 0
    return np.where(at_zero, 0.5, np.i0(x) - ans / np.where(at_zero, 1, x))


if sc is not None:
    elementwise("i0", (np.i0,), (lambda ans, x: sc.i1(x),), lambda x: sp.besseli(0, x), flops=20,
                math="d I0 = I1 (scipy.special.i1)")
    elementwise("special.i1", (sc.i1,), (_i1_slope,), lambda x: sp.besseli(1, x), flops=20,
                math="d I1 = I0 - I1/x (1/2 at 0)")
    elementwise("special.erf", (sc.erf,), (lambda ans, x: TWO_OVER_SQRT_PI * np.exp(-x * x),), sp.erf, flops=20,
                math="d erf = 2/sqrt(pi) exp(-x^2)")
    elementwise("special.erfc", (sc.erfc,), (lambda ans, x: -TWO_OVER_SQRT_PI * np.exp(-x * x),), sp.erfc,
                flops=20, math="d erfc = -2/sqrt(pi) exp(-x^2)")
    elementwise("special.erfinv", (sc.erfinv,), (lambda ans, x: np.exp(ans * ans) / TWO_OVER_SQRT_PI,), sp.erfinv,
                domain=UNIT, flops=30, strong_zero=True, math="d erfinv = sqrt(pi)/2 exp(ans^2)")
    elementwise("special.expit", (sc.expit,), (lambda ans, x: ans * (1 - ans),), lambda x: 1 / (1 + sp.exp(-x)),
                flops=10, math="d expit = ans (1 - ans)")
    elementwise("special.logit", (sc.logit,), (lambda ans, x: 1 / (x * (1 - x)),), lambda x: sp.log(x / (1 - x)),
                domain=Domain(0.05, 0.95), flops=10, strong_zero=True, math="d logit = 1/(x (1 - x))")
    from scipy.special._ufuncs import _zeta  # the ufunc behind scipy.special.zeta(s, x)

    elementwise("special.zeta", (_zeta,), (None, lambda ans, s, x: -s * sc.zeta(s + 1, x)),
                lambda s, x: sp.zeta(s, x),
                samples=(Sample(((4,),), lambda x: sc.zeta(3.0, x + 2.5)),
                         Sample(((2, 3),), lambda x: sc.zeta(np.array([2.0, 3.0, 4.5]), x + 2.5), "orders")),
                domain=POS, flops=50, math="Hurwitz zeta(s, x): d/dx = -s zeta(s+1, x); no derivative in s")
    elementwise("special.digamma", (sc.digamma,), (lambda ans, x: sc.zeta(2.0, x),), lambda x: sp.polygamma(0, x),
                domain=POS, flops=30, math="d digamma = trigamma = zeta(2, x)")
    elementwise("special.gammaln", (sc.gammaln,), (lambda ans, x: sc.digamma(x),), sp.loggamma, domain=POS,
                flops=30, math="d log|Gamma| = digamma")
    elementwise("special.xlogy", (sc.xlogy,),
                (lambda ans, x, y: np.log(y), lambda ans, x, y: x / y),
                lambda x, y: x * sp.log(y), domain=(Domain(-2, 2), POS), strong_zero=True,
                math="x log y (0 where x = 0): d = log(y) dx + x/y dy")
    elementwise("special.xlog1py", (sc.xlog1py,),
                (lambda ans, x, y: np.log1p(y), lambda ans, x, y: x / (1 + y)),
                lambda x, y: x * sp.log(1 + y), domain=(Domain(-2, 2), POS), strong_zero=True,
                math="x log(1 + y): d = log1p(y) dx + x/(1+y) dy")
    elementwise("special.ndtr", (sc.ndtr,), (lambda ans, x: INV_SQRT_2PI * np.exp(-0.5 * x * x),),
                lambda x: (1 + sp.erf(x / sp.sqrt(2))) / 2, flops=20, math="d Phi = phi = exp(-x^2/2)/sqrt(2 pi)")
    elementwise("special.log_ndtr", (sc.log_ndtr,), (lambda ans, x: INV_SQRT_2PI * np.exp(-0.5 * x * x - ans),),
                lambda x: sp.log((1 + sp.erf(x / sp.sqrt(2))) / 2), domain=Domain(-4, 3), flops=30,
                math="d log Phi = phi/Phi = exp(-x^2/2 - ans)/sqrt(2 pi)")
    elementwise("special.ndtri", (sc.ndtri,), (lambda ans, x: np.exp(0.5 * ans * ans) / INV_SQRT_2PI,),
                lambda x: sp.sqrt(2) * sp.erfinv(2 * x - 1), domain=Domain(0.05, 0.95), flops=30, strong_zero=True,
                math="d Phi^-1 = 1/phi(ans) = sqrt(2 pi) exp(ans^2/2)")
