"""Eager costs that must not grow with the program: what a long tape leaves for the garbage collector to scan, and
the indexing loop ``for i in range(n): s = s + f(x[i])`` (linear in n in both engines).

Timings here use CPU time and generous margins (the test machine is shared); the figures themselves are in
benchmarks/README.md (``--only scaling``).
"""

import gc
import weakref

import numpy as np

import revad
from revad.tape import Tape


def _chain(x, blocks):
    for _ in range(blocks):
        x = np.sin(x)
        x = np.cos(x)
        x = x * 1.0001
        x = x + 0.5
    return x


# ---- item 1: a long tape is (almost) invisible to the cyclic garbage collector -------------------------------------
def test_long_tape_leaves_few_objects_for_the_collector():
    # A record the collector keeps tracking is walked by every full collection: the per-primitive cost would grow
    # with the tape's length. After one collection (which untracks tuples of plain values) almost none remain.
    gc.collect()
    before = len(gc.get_objects())
    tape = Tape()
    y = _chain(tape.input(np.array(0.3)), 5000)
    gc.collect()
    gc.collect()
    grown = len(gc.get_objects()) - before
    assert len(tape) == 20000
    assert grown < 200, f"recording 20000 primitives left {grown} more objects for the garbage collector to scan"
    del y


def test_records_view_reads_as_tuples():
    tape = Tape()
    x = tape.input(np.array(0.5))
    y = np.sum(x[None] * np.ones(3), axis=0)
    records = tape.records
    assert len(records) == len(tape) == 3
    names = [op.name for op, slots, primals, params, ans, out in records]
    assert names == ["getitem", "multiply", "sum"]
    op, slots, primals, params, ans, out = records[-1]
    assert out == y._slot and slots == (2,) and params["axes"] == (-1,)
    assert [r[0].name for r in reversed(records)] == names[::-1]
    assert [r[0].name for r in records[1:]] == names[1:]


def test_tape_freed_without_the_cyclic_collector():
    # no reference cycle Tracer -> Tape -> records -> ...: reference counting alone frees a tape and its tracers
    tape = revad.trace(lambda x: _chain(x, 50), 0.3)
    ref = weakref.ref(tape)
    del tape
    assert ref() is None
    refs = []

    def f(x):
        y = _chain(x, 50)
        refs.append(weakref.ref(y._tape))
        refs.append(weakref.ref(y))
        return y

    out, pullback = revad.vjp(f, np.array(0.3))
    pullback(np.ones(()))
    del out, pullback
    revad.grad(f)(np.array(0.3))
    assert all(r() is None for r in refs)
