"""Rules and impls may take a shorter way for plain ndarrays (ufunc methods instead of NumPy's Python wrappers, results
written into arrays they have just created, strided views instead of np.broadcast_to). Generated from the registry:
for every record of every sample, the plain way must give bit for bit what the general way gives on the same values
(reached through a trivial ndarray subclass, which every ``type(x) is np.ndarray`` test turns away), in the same
dtype and shape, and must leave its arguments as they were (an in-place write into a primal, an ``ans`` or a
cotangent that others still read would be a silent wrong derivative)."""

from __future__ import annotations

import numpy as np
import pytest

import adops
import revad
from adops.reductions import expand_to, keep
from revad.tape import Tape
from tests.test_ops import CASES, make_args


class Other(np.ndarray):
    """An ndarray that is not ``np.ndarray`` itself: the general path."""


def _other(v):
    return v.view(Other) if type(v) is np.ndarray else v


def _same(a, b) -> bool:
    if isinstance(a, tuple | list):
        return isinstance(b, tuple | list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if a is None or b is None:
        return a is b
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def _outcome(f, *args, **kwargs):
    """f's result, or the type of what it raised (both ways must raise alike: an integer input, say)."""
    try:
        with np.errstate(all="ignore"):
            return f(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 (compared between the two ways, never swallowed)
        return type(e)


def _snapshot(values):
    return [np.array(v, copy=True) if isinstance(v, np.ndarray | np.generic) else v for v in values]


def _unchanged(values, snapshot) -> bool:
    return all(not isinstance(v, np.ndarray | np.generic) or _same(v, s) for v, s in zip(values, snapshot))


def recorded(f, *args) -> list:
    """Every call ``f`` puts on a tape, as ``(op, slots, primals, params, ans, out)`` with all its values (a tape may
    keep only the shapes of values no rule reads, ``Op.reads``): taken at ``Tape.record``, the one way onto a tape."""
    seen = []
    original = Tape.record

    def spy(self, op, slots, primals, params, ans):
        out = original(self, op, slots, primals, params, ans)
        seen.append((op, slots, primals, params, ans, getattr(out, "_slot", None)))
        return out

    Tape.record = spy
    try:
        revad.trace(f, *args)
    finally:
        Tape.record = original
    return seen


def _records(name, k, dtype):
    op = adops.OPS[name]
    sample = op.samples[k]
    args = [a.astype(dtype) for a in make_args(op, sample, "plain")]
    try:
        records = recorded(sample.call, *args)
    except (TypeError, ValueError) as e:  # a sample this dtype does not take: the float64 run covers it
        pytest.skip(f"{name}-{k} in {np.dtype(dtype).name}: {e}")
    return [r for r in records if r[0].differentiable]


PLAIN_CASES = [(n, k) for n, k in CASES if adops.OPS[n].differentiable and not adops.OPS[n].composite]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,k", PLAIN_CASES, ids=[f"{n}-{k}" for n, k in PLAIN_CASES])
def test_plain_way_is_the_general_way(name, k, dtype):
    rng = np.random.default_rng(3)
    for op, slots, primals, params, ans, out in _records(name, k, dtype):
        before = _snapshot(primals)
        plain = _outcome(op.impl, *primals, **params)
        general = _outcome(op.impl, *[_other(p) for p in primals], **params)
        assert plain is general if isinstance(plain, type) else _same(plain, general), \
            f"{op.name}: impl differs between plain and general arrays ({plain!r} against {general!r})"
        assert _unchanged(primals, before), f"{op.name}: impl wrote into its inputs"
        # the same call on integers (NumPy promotes them; a float-only shortcut must not take them)
        ints = [np.rint(3 * p).astype(np.int64) if type(p) is np.ndarray and p.dtype.kind == "f" else p
                for p in primals]
        plain_ints = _outcome(op.impl, *ints, **params)
        general_ints = _outcome(op.impl, *[_other(p) for p in ints], **params)
        assert plain_ints is general_ints if isinstance(plain_ints, type) else _same(plain_ints, general_ints), \
            f"{op.name}: impl on integers differs between plain and general arrays"
        if op.outputs != 1 or not op.vjps or isinstance(plain, type):
            continue
        ans_shape = np.shape(ans)
        # a cotangent of the output's dtype, a wider one, and a batch of two
        for ct in (rng.standard_normal(ans_shape).astype(np.result_type(ans)), rng.standard_normal(ans_shape),
                   rng.standard_normal((2, *ans_shape)).astype(np.result_type(ans))):
            for i, rule in enumerate(op.vjps):
                if rule is None or slots[i] < 0:
                    continue
                held = _snapshot((ct, ans, *primals))
                g = _outcome(rule, ct, ans, *primals, **params)
                want = _outcome(rule, _other(ct), _other(ans), *[_other(p) for p in primals], **params)
                assert g is want if isinstance(g, type) else _same(g, want), \
                    f"{op.name}: VJP {i} differs between plain and general arrays (ct {ct.shape}: {g!r}, {want!r})"
                assert _unchanged((ct, ans, *primals), held), f"{op.name}: VJP {i} wrote into an argument"


@pytest.mark.parametrize("xshape,axes,keepdims", [((256, 10), (-2, -1), False), ((3, 4), (-2,), False),
                                                  ((3, 4), (-1,), True), ((2, 3, 4), (-3, -1), False),
                                                  ((2, 3, 4), (-3, -1), True), ((5,), (-1,), False), ((), (), False),
                                                  ((3, 0), (-1,), False)])
def test_sum_pullback_view(xshape, axes, keepdims):
    """The pullback of a sum is a read-only view repeating the cotangent: plain, a NumPy scalar, batched, and a
    cotangent whose memory cannot be viewed that way (not contiguous: np.broadcast_to's way)."""
    x = np.zeros(xshape)
    reduced = np.sum(np.arange(1.0, 1.0 + x.size).reshape(xshape), axis=axes, keepdims=keepdims)
    batched = np.stack([reduced, 2 * reduced])
    strided = np.stack([reduced, reduced, 3 * reduced])[::2]  # a batch of two, not contiguous
    for ct, nb in ((reduced, 0), (np.float64(7.5), 0) if not np.ndim(reduced) else (reduced, 0), (batched, 1),
                   (strided, 1)):
        got = expand_to(ct, x, axes, keepdims)
        want = np.broadcast_to(keep(ct, axes, keepdims), np.shape(ct)[:nb] + xshape)
        assert _same(got, want) and not got.flags.writeable
