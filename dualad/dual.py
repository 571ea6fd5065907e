"""The Dual array: a primal, a tangent (optionally with a leading batch axis of k directions) and a level."""

from __future__ import annotations

import numpy as np

from adops.core import check_real
from adops.counting import STATE, record, run_rule
from adops.frontend import Traced

_F64, _NDARRAY = np.float64, np.ndarray


class Dual(Traced):
    """A value carried with its directional derivative(s) by one forward-mode call (its ``_level``).

    ``tangent`` has shape ``primal.shape`` or ``(k,) + primal.shape``. Every NumPy call on a Dual goes to the
    registry's JVP rule for that op; nothing in this class knows any op.

    >>> import numpy as np
    >>> from adops import new_level
    >>> y = np.sin(Dual(np.array(0.0), np.array(1.0), new_level()))
    >>> float(y.tangent)
    1.0
    """

    __slots__ = ("primal", "tangent", "_level", "__weakref__")
    engine = "dualad"
    mode = "forward-mode"

    def __init__(self, primal, tangent, level: int):
        self.primal = primal
        self.tangent = tangent
        self._level = level

    def _apply(self, op, arrays, params):
        level = self._level
        n = len(arrays)
        if n == 1:
            a = arrays[0]
            if type(a) is Dual and a._level == level:
                primals, tangents = (a.primal,), (a.tangent,)
            else:
                primals, tangents = (a,), (None,)
        elif n == 2:
            a, b = arrays
            if type(a) is Dual and a._level == level:
                pa, ta = a.primal, a.tangent
            else:
                pa, ta = a, None
            if type(b) is Dual and b._level == level:
                pb, tb = b.primal, b.tangent
            else:
                pb, tb = b, None
            primals, tangents = (pa, pb), (ta, tb)
        else:
            primals = tuple([a.primal if type(a) is Dual and a._level == level else a for a in arrays])
            tangents = tuple([a.tangent if type(a) is Dual and a._level == level else None for a in arrays])
        ans = op.impl(*primals, **params) if params else op.impl(*primals)
        jvp = op.jvp
        if jvp is None:
            return ans
        t = type(ans)
        if t is not _F64 and (t is not _NDARRAY or ans.dtype.kind == "c"):
            check_real(op, "dualad", ans)
        if STATE.on:
            record(op, primals, params)
            tangent = run_rule("jvp", op, jvp, tangents, ans, primals, params)
        elif params:
            tangent = jvp(tangents, ans, *primals, **params)
        else:
            tangent = jvp(tangents, ans, *primals)
        if tangent is None:
            return ans
        if type(tangent) is not tuple:
            return Dual(ans, tangent, level)
        # a record with several outputs: one tangent per output, None where that output is a constant
        return op.result([a if t is None else Dual(a, t, level) for a, t in zip(ans, tangent)])

    def __repr__(self) -> str:
        return f"Dual(primal={self.primal!r}, tangent={self.tangent!r}, level={self._level})"
