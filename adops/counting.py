"""A switchable counter of primitive evaluations and flops, split into primal, JVP and VJP work.

Off by default: the engines check one flag per primitive call. When on, the primal call is counted from the
registry's ``cost``, and each JVP/VJP rule runs on ``Meter`` values so every primitive the rule actually calls is
counted too (rules are NumPy code, so nothing else is needed).

Scope: **per thread**. A ``count_ops()`` block counts the work of the thread that opened it, and only that;
other threads keep running uncounted (and unharmed) while blocks open and close, and a thread started inside a
block is not counted by it. Blocks nest: an inner block gets its own ``Counts`` and the outer one resumes after it.

This module is ``adops.counting``; the context manager is ``adops.count_ops``. Calling the module,
``adops.count_ops()``, still works (it was the old name of the context manager) but warns.

>>> import numpy as np, adops, revad
>>> with adops.count_ops() as counts:
...     _ = revad.grad(lambda x: np.sum(np.sin(x)))(np.ones(3))
>>> counts.by_phase()["vjp"]["ops"] > 0
True
"""

from __future__ import annotations

import contextlib
import sys
import threading
import types
import warnings
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
    uncosted: dict = field(default_factory=lambda: defaultdict(int))  # evals whose flop cost could not be computed

    def total(self, phase: str | None = None, what: str = "flops") -> int:
        table = self.flops if what == "flops" else self.evals
        return int(sum(v for (p, _), v in table.items() if phase is None or p == phase))

    def by_phase(self) -> dict:
        return {p: {"ops": self.total(p, "evals"), "flops": self.total(p, "flops")} for p in ("primal", "jvp", "vjp")}

    def __repr__(self) -> str:
        parts = ", ".join(f"{p}: {v['ops']} ops / {v['flops']} flops" for p, v in self.by_phase().items())
        return f"Counts({parts})"


class _ThreadCounts(threading.local):
    """What one thread is counting: its open ``Counts`` (None when it counts nothing) and the current phase."""

    def __init__(self):
        self.counts = None
        self.phase = "primal"


class _State:
    """The engines' fast check: ``on`` is the number of open counting blocks in the whole process.

    The engines test ``STATE.on`` once per primitive (one attribute read when nobody counts); ``record``,
    ``run_rule`` and ``run_counted`` then consult the calling thread's own counts, so a block opened or closed
    in one thread can never break a primitive running in another.
    """

    __slots__ = ("on", "_lock")

    def __init__(self):
        self.on = 0
        self._lock = threading.Lock()

    @property
    def counts(self):
        """The calling thread's open ``Counts``, or None."""
        return _LOCAL.counts

    @property
    def phase(self) -> str:
        """The calling thread's current phase: 'primal', 'jvp' or 'vjp'."""
        return _LOCAL.phase

    def _open(self, delta: int) -> None:
        with self._lock:
            self.on += delta


_LOCAL = _ThreadCounts()
STATE = _State()


def _shape_of(a):
    return shape(a.value) if isinstance(a, Meter) else shape(a)


def record(op, arrays, params) -> None:
    """Count one primitive evaluation in the current phase (a no-op in a thread that is not counting)."""
    counts = _LOCAL.counts
    if counts is None:  # another thread is counting, not this one
        return
    key = (_LOCAL.phase, op.name)
    counts.evals[key] += 1
    try:
        counts.flops[key] += int(op.cost(*[_shape_of(a) for a in arrays], **params))
    except Exception:  # a cost that cannot be computed never breaks AD: it is kept apart, so reports can say so
        counts.uncosted[key] += 1


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
        out = op.impl(*raw, **params)
        return Meter(out) if op.outputs == 1 else op.result([Meter(o) for o in out])

    def _no_rule(self, key, args, kwargs):
        # bookkeeping calls inside rules (np.zeros, np.eye, ...) are not primitives: run them uncounted
        return key(*[_unwrap(a) for a in args], **{k: _unwrap(v) for k, v in kwargs.items()})


def _unwrap(x):
    if isinstance(x, Meter):
        return x.value
    if isinstance(x, (list, tuple)):
        return _rebuild(x, [_unwrap(v) for v in x])
    return x


def _rebuild(x, items):
    """A list or tuple like ``x`` (NumPy's result namedtuples too) holding ``items``."""
    make = getattr(x, "_make", None)
    return make(items) if make is not None else type(x)(items)


def _wrap(x):
    # np.float64 subclasses float but is an array scalar whose arithmetic must be counted: test exact types
    if x is None or type(x) in (int, float, bool, str) or isinstance(x, (np.dtype, type)):
        return x
    if isinstance(x, (list, tuple)):
        return _rebuild(x, [_wrap(v) for v in x])
    return Meter(x)


def plain(x):
    """``x`` with any counting wrappers removed (for engine code that re-runs user functions inside a rule)."""
    return _unwrap(x)


def run_counted(fn, args):
    """Call ``fn(*args)`` on plain values; when counting, meter it as primal work."""
    if not STATE.on or _LOCAL.counts is None:
        return fn(*args)
    previous = _LOCAL.phase
    _LOCAL.phase = "primal"
    try:
        return _unwrap(fn(*[_wrap(a) for a in args]))
    finally:
        _LOCAL.phase = previous


def run_rule(phase: str, op, rule, first, ans, primals, params):
    """Run a JVP or VJP rule with its array arguments metered, counting what it computes under ``phase``."""
    counts = _LOCAL.counts
    if counts is None:  # another thread is counting, not this one: run the rule as the uncounted path does
        return rule(first, ans, *primals, **params)
    previous = _LOCAL.phase
    _LOCAL.phase = phase
    counts.rules[(phase, op.name)] += 1
    try:
        out = rule(_wrap(first), _wrap(ans), *[_wrap(p) for p in primals], **params)
    finally:
        _LOCAL.phase = previous
    return _unwrap(out)


@contextlib.contextmanager
def count_ops():
    """Count the primitive evaluations and flops this thread performs inside the block.

    Yields a ``Counts``: evaluations and flops per (phase, op), phases 'primal', 'jvp' and 'vjp'. Only the
    calling thread's work is counted (see the module docstring).

    Examples
    --------
    >>> import numpy as np, adops, dualad
    >>> with adops.count_ops() as counts:
    ...     _ = np.sin(np.ones(3))  # plain NumPy is not traced, so nothing is counted
    >>> counts.total()
    0
    >>> with adops.count_ops() as counts:
    ...     _ = dualad.derivative(np.sin)(0.0)
    >>> counts.by_phase()["primal"]
    {'ops': 1, 'flops': 10}
    """
    previous = _LOCAL.counts
    _LOCAL.counts = Counts()
    STATE._open(+1)
    try:
        yield _LOCAL.counts
    finally:
        _LOCAL.counts = previous
        STATE._open(-1)


_DEPRECATED = "adops.count_ops() is deprecated: use adops.count_ops() (adops.counting is the counter's module)"


def counting():
    """Deprecated name of ``count_ops()``; warns and returns ``count_ops()``."""
    warnings.warn(_DEPRECATED, DeprecationWarning, stacklevel=2)
    return count_ops()


class _CallableModule(types.ModuleType):
    # ``adops.counting`` used to be the context manager and hid this module; it is the module now, and calling
    # it keeps old code working for a while, with a warning that names the new function
    def __call__(self):
        warnings.warn(_DEPRECATED, DeprecationWarning, stacklevel=2)
        return count_ops()


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["count_ops", "Counts", "STATE", "run_rule", "run_counted", "plain", "record", "OPS"]
