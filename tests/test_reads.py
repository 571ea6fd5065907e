"""``Op.reads`` declares which values a record's reverse rules read; a tape may keep only the shape of the others.

Generated from the registry: every rule of every record of every sample, given ``ShapeOnly`` in place of each array
its record declares unread, gives bit for bit what it gives on the real arrays (plain ndarrays and the general way, a
subclass), and a rule that reads an undeclared value fails here (a mutation test)."""

from __future__ import annotations

import numpy as np
import pytest

import adops
from adops.core import ShapeOnly
from adops.cotangents import IndexAdd
from tests.test_ops import CASES, make_args
from tests.test_plain_paths import recorded

DECLARED = [(n, k) for n, k in CASES if adops.OPS[n].reads is not None and adops.OPS[n].differentiable
            and not adops.OPS[n].composite and adops.OPS[n].outputs == 1]


class Other(np.ndarray):
    """An ndarray that is not ``np.ndarray`` itself: the rules' general way."""


def _dense(g):
    return g.dense() if type(g) is IndexAdd else g


def _same(a, b) -> bool:
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if a is None or b is None:
        return a is b
    a, b = np.asarray(_dense(a)), np.asarray(_dense(b))
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def _rules(op):
    """Every reverse rule of ``op`` as (label, rule, input position or None for all inputs)."""
    out = [(f"vjps[{i}]", r, i) for i, r in enumerate(op.vjps) if r is not None]
    out += [(f"scatter_vjps[{i}]", r, i) for i, r in enumerate(op.scatter_vjps) if r is not None]
    if op.vjp_all is not None:
        out.append(("vjp_all", op.vjp_all, None))
    return out


def _check(op, slots, primals, params, ans, reads, general: bool):
    """Run every rule on the real arrays and with ShapeOnly for the unread ones; return the rules that differ."""
    wrap = (lambda v: v.view(Other) if type(v) is np.ndarray else v) if general else (lambda v: v)
    kept_ans = ans if "ans" in reads or type(ans) is not np.ndarray else ShapeOnly(ans)
    kept = [p if i in reads or type(p) is not np.ndarray else ShapeOnly(p) for i, p in enumerate(primals)]
    rng = np.random.default_rng(5)
    bad = []
    for ct in (rng.standard_normal(np.shape(ans)), rng.standard_normal((2, *np.shape(ans)))):
        for label, rule, i in _rules(op):
            if i is not None and slots[i] < 0:
                continue
            with np.errstate(all="ignore"):
                want = rule(wrap(ct), wrap(ans), *map(wrap, primals), **params)
                try:
                    got = rule(wrap(ct), kept_ans, *[k if type(k) is ShapeOnly else wrap(k) for k in kept], **params)
                except TypeError as e:
                    bad.append(f"{label}: {e}")
                    continue
            if not _same(got, want):
                bad.append(f"{label}: differs")
    return bad


@pytest.mark.parametrize("general", [False, True], ids=["plain", "general"])
@pytest.mark.parametrize("name,k", DECLARED, ids=[f"{n}-{k}" for n, k in DECLARED])
def test_rules_read_only_what_they_declare(name, k, general):
    op = adops.OPS[name]
    sample = op.samples[k]
    for rec_op, slots, primals, params, ans, out in recorded(sample.call, *make_args(op, sample, "reads")):
        if rec_op.reads is None or rec_op.outputs != 1:
            continue
        bad = _check(rec_op, slots, primals, params, ans, rec_op.reads, general)
        assert not bad, f"{rec_op.name} (declares reads={sorted(map(str, rec_op.reads))}): {bad}"


def test_an_undeclared_read_is_caught():
    """tanh's partial 1 - ans^2 reads ans: declaring nothing read must fail, declaring ans must pass."""
    op = adops.OPS["tanh"]
    (rec_op, slots, primals, params, ans, out), = recorded(np.tanh, np.array([0.3, -1.2]))
    assert rec_op is op and op.reads == frozenset({"ans"})
    assert _check(op, slots, primals, params, ans, frozenset(), general=False)
    assert not _check(op, slots, primals, params, ans, frozenset({"ans"}), general=False)


def test_shape_only_answers_shapes_and_refuses_values():
    v = ShapeOnly(np.zeros((2, 3), dtype=np.float32))
    assert (np.shape(v), np.ndim(v), v.ndim, v.dtype) == ((2, 3), 2, 2, np.float32)
    for read in (lambda: v * 2.0, lambda: np.ones((2, 3)) + v, lambda: np.asarray(v), lambda: np.sum(v),
                 lambda: np.exp(v), lambda: v > 0, lambda: v[0], lambda: float(v), lambda: bool(v)):
        with pytest.raises(TypeError):
            read()
