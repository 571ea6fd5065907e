"""The ``scaling`` section of both benchmark scripts: eager costs as the program grows.

- per-primitive cost of a scalar chain (sin, cos, *, +) of 600, 10,000 and 100,000 primitives, garbage collector on
  (as users run) and, for reference, off: a tape the collector keeps scanning makes long programs dearer per op;
- per-element cost of the indexing loop ``s = 0; for i in range(n): s = s + sin(x[i])`` at n = 1,000, 10,000 and
  50,000: a pullback of ``x[i]`` that builds a full-length array makes it O(n^2).

Import ``common`` before this module (thread pinning happens before numpy loads).
"""

from __future__ import annotations

import gc

import numpy as np
from common import CFG, fmt_ratio, later, resolve, table, target

CHAIN_LENGTHS = (600, 10_000, 100_000)
LOOP_SIZES = (1_000, 10_000, 50_000)
GRAD_SIZES = (1_000, 4_000)  # dualad.grad: n directions, O(n) per element


def chain_of(ops: int):
    """A scalar chain of ``ops`` primitives (a multiple of 4): sin, cos, * 1.0001, + 0.5, each on the previous."""

    def chain(x):
        for _ in range(ops // 4):
            x = np.sin(x)
            x = np.cos(x)
            x = x * 1.0001
            x = x + 0.5
        return x

    return chain


def indexing_loop(x):
    """``sum(sin(x[i]))`` one element at a time, as a loop over a vector is often first written."""
    s = 0.0
    for i in range(x.shape[0]):
        s = s + np.sin(x[i])
    return s


def _gc_off(fn):
    def run():
        gc.disable()
        try:
            return fn()
        finally:
            gc.enable()

    return run


def _few(long: bool) -> dict:
    # a call of a long program lasts long enough on its own: no calibration loop, and fewer repeats
    return {"min_time": 0, "repeats": 3 if CFG.quick else 5} if long else {}


def bench_scaling(engine: str) -> None:
    """Print per-primitive cost vs tape length and per-element cost vs n for ``engine`` ("revad" or "dualad")."""
    import dualad
    import revad

    x0 = np.array(0.3)
    if engine == "revad":
        label = "revad.value_and_grad"

        def call_chain(f):
            vg = revad.value_and_grad(f)
            return lambda: vg(x0)
    else:
        label = "dualad.jvp"

        def call_chain(f):
            v0 = np.array(1.0)
            return lambda: dualad.jvp(f, (x0,), (v0,))

    res = {}
    for ops in CHAIN_LENGTHS:
        run = call_chain(chain_of(ops))
        slow = ops >= 10_000
        res[ops] = {"on": later(run, **_few(slow)), "off": later(_gc_off(run), **_few(slow))}
    res = resolve(res)
    print(f"### Scaling: per-primitive cost vs program length ({label}, scalar chain of sin, cos, *, +)")
    print()
    base = res[CHAIN_LENGTHS[0]]["on"] / CHAIN_LENGTHS[0]
    rows = [[f"{ops:,}", f"{t['on'] / ops * 1e6:.2f}", f"{t['off'] / ops * 1e6:.2f}", fmt_ratio(t["on"] / ops / base)]
            for ops, t in res.items()]
    table(["primitives", "us per op (gc on)", "us per op (gc off)", f"gc on / gc on at {CHAIN_LENGTHS[0]}"], rows)
    long_ratio = res[CHAIN_LENGTHS[-1]]["on"] / CHAIN_LENGTHS[-1] / base
    target(f"{label}: per-op cost at {CHAIN_LENGTHS[-1]:,} ops <= 1.2x at {CHAIN_LENGTHS[0]}", long_ratio, 1.2,
           f"{long_ratio:.2f}x")

    main = "revad.grad" if engine == "revad" else "dualad.jvp"
    loops = {}
    for n in LOOP_SIZES:
        x = np.linspace(0.1, 1.0, n)
        if engine == "revad":
            loops[(main, n)] = later(lambda x=x: revad.grad(indexing_loop)(x), **_few(True))
        else:
            v = np.ones(n)
            loops[(main, n)] = later(lambda x=x, v=v: dualad.jvp(indexing_loop, (x,), (v,)), **_few(True))
    if engine == "dualad":
        for n in GRAD_SIZES:
            x = np.linspace(0.1, 1.0, n)
            loops[("dualad.grad", n)] = later(lambda x=x: dualad.grad(indexing_loop)(x), **_few(True))
    loops = resolve(loops)
    print(f"### Scaling: per-element cost of `s = s + sin(x[i])` for i in range(n) ({engine})")
    print()
    rows = []
    for name in dict.fromkeys(k[0] for k in loops):
        sizes = [n for k, n in loops if k == name]
        first = loops[(name, sizes[0])] / sizes[0]
        for n in sizes:
            per = loops[(name, n)] / n
            rows.append([name, f"{n:,}", f"{per * 1e6:.2f}", fmt_ratio(per / first)])
    table(["call", "n", "us per element", "/ the same call at its smallest n"], rows)
    ratio = (loops[(main, LOOP_SIZES[-1])] / LOOP_SIZES[-1]) / (loops[(main, LOOP_SIZES[0])] / LOOP_SIZES[0])
    target(f"{main}: indexing loop per-element cost at n = {LOOP_SIZES[-1]:,} <= 1.3x at n = {LOOP_SIZES[0]:,}",
           ratio, 1.3, f"{ratio:.2f}x")
