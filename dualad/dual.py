"""The Dual array: a primal, a tangent (optionally with a leading batch axis of k directions) and a level."""

from __future__ import annotations

from adops.counting import STATE, record, run_rule
from adops.frontend import Traced


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
        primals = []
        tangents = []
        for a in arrays:
            if type(a) is Dual and a._level == level:
                primals.append(a.primal)
                tangents.append(a.tangent)
            else:
                primals.append(a)
                tangents.append(None)
        ans = op.impl(*primals, **params)
        if op.jvp is None:
            return ans
        if STATE.on:
            record(op, primals, params)
            tangent = run_rule("jvp", op, op.jvp, tangents, ans, primals, params)
        else:
            tangent = op.jvp(tangents, ans, *primals, **params)
        if tangent is None:
            return ans
        return Dual(ans, tangent, level)

    def __repr__(self) -> str:
        return f"Dual(primal={self.primal!r}, tangent={self.tangent!r}, level={self._level})"
