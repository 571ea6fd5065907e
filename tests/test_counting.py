"""The op counter: its per-thread scope, its safety while other threads differentiate, and its names."""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest

import adops
import dualad
import revad


def f(x):
    return np.sum(np.tanh(x) * np.sin(x))


def test_blocks_in_one_thread_never_break_uncounted_calls_in_others():
    """Regression: closing a block used to reset a process-wide counter under threads that were mid-call
    ('NoneType' object has no attribute 'evals')."""
    x = np.linspace(-1.0, 1.0, 5)
    g, H = revad.grad(f)(x), revad.hessian(f)(x)
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker(fn, expected):
        try:
            while not stop.is_set():
                np.testing.assert_allclose(np.reshape(fn(x), expected.shape), expected, rtol=1e-12)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    jobs = [(dualad.grad(f), g), (revad.grad(f), g), (dualad.jacfwd(f), g), (revad.jacrev(f), g),
            (dualad.jacfwd(revad.grad(f)), H)]
    workers = [threading.Thread(target=worker, args=job) for job in jobs]
    for t in workers:
        t.start()
    try:
        totals = []
        for i in range(60):
            with adops.count_ops() as counts:
                time.sleep(0.001 * (i % 2))  # let the other threads run inside the block, and across its exit
            totals.append(counts.total())
        with adops.count_ops() as counts:
            revad.grad(f)(x)
        assert counts.by_phase()["vjp"]["ops"] > 0
    finally:
        stop.set()
        for t in workers:
            t.join(timeout=30)
    assert not errors, errors[0]
    assert totals == [0] * len(totals)  # the other threads' work is theirs, not this block's


def test_each_thread_counts_its_own_work():
    x = np.ones(4)
    with adops.count_ops() as alone:
        dualad.jacfwd(f)(x)
    results: dict = {}

    def counted(name):
        with adops.count_ops() as counts:
            dualad.jacfwd(f)(x)
        results[name] = counts.by_phase()

    threads = [threading.Thread(target=counted, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == alone.by_phase() for r in results.values()), (results, alone)


def test_blocks_nest():
    x = np.ones(3)
    with adops.count_ops() as outer:
        revad.grad(f)(x)
        with adops.count_ops() as inner:
            revad.grad(f)(x)
        revad.grad(f)(x)
    assert outer.total() == 2 * inner.total() > 0


def test_counting_is_the_module_and_calling_it_is_deprecated():
    from adops import counting

    assert counting.count_ops is adops.count_ops and hasattr(counting, "STATE")
    with pytest.warns(DeprecationWarning, match=r"use adops\.count_ops\(\)"):
        block = adops.counting()
    with block as counts:
        revad.grad(f)(np.ones(2))
    assert counts.total() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with adops.count_ops():  # the new name does not warn
            pass
