"""A switchable counter of primitive evaluations and flops, split into primal, JVP and VJP work.

Off by default: the engines check one flag per primitive call. The counter is process-wide: while a ``counting()``
block is open, primitives run by other threads are counted too. When on, the primal call is counted from the
registry's ``cost``, and each JVP/VJP rule runs on ``Meter`` values so every primitive the rule actually calls is
counted too (rules are NumPy code, so nothing else is needed).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .core import OPS, shape
from .frontend import Traced

METER_LEVEL = 1 << 62  # above every engine level: a rule's inner calls reach the meter first


@dataclass
class Counts:
    """Evaluations and flops per (phase, op name); phases are 'primal', 'jvp' and 'vjp'."""

    evals: dict = field(default_factory=lambda: defaultdict(int))
    flops: dict = field(default_factory=lambda: defaultdict(int))
    rules: dict = field(default_factory=lambda: defaultdict(int))

    def total(self, phase: str | None = None, what: str = "flops") -> int:
        table = self.flops if what == "flops" else self.evals
        return int(sum(v for (p, _), v in table.items() if phase is None or p == phase))

    def by_phase(self) -> dict:
        return {p: {"ops": self.total(p, "evals"), "flops": self.total(p, "flops")} for p in ("primal", "jvp", "vjp")}

    def __repr__(self) -> str:
        parts = ", ".join(f"{p}: {v['ops']} ops / {v['flops']} flops" for p, v in self.by_phase().items())
        return f"Counts({parts})"


class _State:
    __slots__ = ("on", "phase", "counts")

    def __init__(self):
        self.on = False
        self.phase = "primal"
        self.counts = None


STATE = _State()


def _shape_of(a):
    return shape(a.value) if isinstance(a, Meter) else shape(a)


def record(op, arrays, params) -> None:
    """Count one primitive evaluation in the current phase."""
    counts = STATE.counts
    key = (STATE.phase, op.name)
    counts.evals[key] += 1
    try:
        counts.flops[key] += int(op.cost(*[_shape_of(a) for a in arrays], **params))
    except Exception:  # a cost that cannot be computed for an unusual call counts as free, never breaks AD
        pass


class Meter(Traced):
    """A value that counts every primitive applied to it while a rule runs."""

    __slots__ = ("value",)
    _level = METER_LEVEL
    engine = "adops.counting"

    def __init__(self, value):
        self.value = value

    @property
    def primal(self):
        return self.value

    def _apply(self, op, arrays, params):
        raw = [a.value if isinstance(a, Meter) else a for a in arrays]
        if not op.differentiable or op.composite:
            return op.impl(*raw, **params)
        record(op, raw, params)
        return Meter(op.impl(*raw, **params))

    def _no_rule(self, key, args, kwargs):
        # bookkeeping calls inside rules (np.zeros, np.eye, ...) are not primitives: run them uncounted
        return key(*[_unwrap(a) for a in args], **{k: _unwrap(v) for k, v in kwargs.items()})


def _unwrap(x):
    if isinstance(x, Meter):
        return x.value
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    return x


def _wrap(x):
    # np.float64 subclasses float but is an array scalar whose arithmetic must be counted: test exact types
    if x is None or type(x) in (int, float, bool, str) or isinstance(x, (np.dtype, type)):
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(_wrap(v) for v in x)
    return Meter(x)


def plain(x):
    """``x`` with any counting wrappers removed (for engine code that re-runs user functions inside a rule)."""
    return _unwrap(x)


def run_counted(fn, args):
    """Call ``fn(*args)`` on plain values; when counting, meter it as primal work."""
    if not STATE.on:
        return fn(*args)
    previous = STATE.phase
    STATE.phase = "primal"
    try:
        return _unwrap(fn(*[_wrap(a) for a in args]))
    finally:
        STATE.phase = previous


def run_rule(phase: str, op, rule, first, ans, primals, params):
    """Run a JVP or VJP rule with its array arguments metered, counting what it computes under ``phase``."""
    previous = STATE.phase
    STATE.phase = phase
    counts = STATE.counts
    counts.rules[(phase, op.name)] += 1
    try:
        out = rule(_wrap(first), _wrap(ans), *[_wrap(p) for p in primals], **params)
    finally:
        STATE.phase = previous
    return _unwrap(out)


@contextlib.contextmanager
def counting():
    """Count primitive evaluations and flops inside the block.

    >>> import numpy as np, adops
    >>> with adops.counting() as counts:
    ...     _ = np.sin(np.ones(3))  # plain NumPy is not traced, so nothing is counted
    >>> counts.total()
    0
    """
    previous = (STATE.on, STATE.counts)
    STATE.on, STATE.counts = True, Counts()
    try:
        yield STATE.counts
    finally:
        STATE.on, STATE.counts = previous


__all__ = ["counting", "Counts", "STATE", "run_rule", "run_counted", "plain", "record", "OPS"]
