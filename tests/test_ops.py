"""Every registry op, generated from the registry itself: fields complete, and each op's JVP and VJP (through both
engines, unbatched and with a batch axis) against the exact SymPy Jacobian at points drawn from its domain."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import adops
import dualad
import revad
from adops.core import Domain
from compare import oracle

TOL = 1e-9
CASES = [(name, k) for name, op in adops.OPS.items() for k in range(len(op.samples))]
DIFFERENTIABLE = [(n, k) for n, k in CASES if adops.OPS[n].differentiable or adops.OPS[n].composite]
CONSTANT = [(n, k) for n, k in CASES if not (adops.OPS[n].differentiable or adops.OPS[n].composite)]


def _domain(op, i):
    d = op.domain
    if isinstance(d, tuple):
        return d[i] if i < len(d) else Domain()
    return d


def make_args(op, sample, seed_text=""):
    rng = np.random.default_rng(zlib.crc32(f"{op.name}/{sample.label}/{sample.shapes}/{seed_text}".encode()))
    args = []
    for i, shape in enumerate(sample.shapes):
        d = _domain(op, i)
        x = rng.uniform(d.low, d.high, size=shape)
        for kink in d.kinks:  # keep clear of points where the op is not differentiable
            if isinstance(kink, float):
                x = np.where(np.abs(x - kink) < 0.05, x + 0.1, x)
        args.append(x)
    return args


def engine_errors(op, sample, seed_text=""):
    """Max relative error of each engine path against the oracle for one sample call."""
    args = make_args(op, sample, seed_text)
    argnums = tuple(range(len(args)))
    f = sample.call
    exact = oracle.jacobian(f, *args, argnums=argnums)
    rng = np.random.default_rng(7)
    out = f(*args)
    tangents = tuple(rng.standard_normal(np.shape(a)) for a in args)
    ct = rng.standard_normal(np.shape(out))
    jv_exact = sum(np.tensordot(J, v, axes=np.ndim(v)) for J, v in zip(exact, tangents))
    ujac_exact = tuple(np.tensordot(ct, J, axes=np.ndim(ct)) for J in exact)

    _, jv = dualad.jvp(f, tuple(args), tangents)
    _, pullback = revad.vjp(f, *args)
    ujac = pullback(ct)
    return {
        "dualad.jacfwd (batched JVP)": oracle.relative_error(dualad.jacfwd(f, argnums)(*args), exact),
        "revad.jacrev (batched VJP)": oracle.relative_error(revad.jacrev(f, argnums)(*args), exact),
        "dualad.jvp": oracle.relative_error(jv, jv_exact),
        "revad.vjp": oracle.relative_error(ujac, ujac_exact),
        # <u, J v> by the JVP and by the VJP must agree
        "dot-product identity": abs(float(np.sum(ct * jv)) - sum(float(np.sum(g * v)) for g, v in zip(ujac, tangents)))
        / (1e-12 + abs(float(np.sum(ct * jv_exact)))),
    }


@pytest.mark.parametrize("name,k", DIFFERENTIABLE, ids=[f"{n}-{k}" for n, k in DIFFERENTIABLE])
def test_op_against_oracle(name, k):
    op = adops.OPS[name]
    errors = engine_errors(op, op.samples[k])
    bad = {mode: err for mode, err in errors.items() if not err < TOL}
    assert not bad, f"{name} sample {op.samples[k].label or k}: {bad}"


@pytest.mark.parametrize("name,k", CONSTANT, ids=[f"{n}-{k}" for n, k in CONSTANT])
def test_piecewise_constant_ops_have_zero_derivative(name, k):
    op = adops.OPS[name]
    sample = op.samples[k]
    args = make_args(op, sample)
    plain = sample.call(*args)

    def first_float(*xs):
        out = sample.call(*xs)
        return np.asarray(out, dtype=np.float64) if not hasattr(out, "_level") else out

    if not np.issubdtype(np.asarray(plain).dtype, np.number):
        return
    jac = dualad.jacfwd(first_float)(*args)
    assert np.all(np.asarray(jac) == 0)
    jac = revad.jacrev(first_float)(*args)
    assert np.all(np.asarray(jac) == 0)


def test_every_record_has_every_field():
    for name, op in adops.OPS.items():
        assert op.name == name
        assert callable(op.impl) and callable(op.sympy) and callable(op.cost), name
        assert op.math, f"{name} has no math note"
        if op.composite:
            assert op.samples, f"composite {name} has no test samples"
            continue
        if op.differentiable:
            assert callable(op.jvp), name
            assert op.vjps is not None, name
        internal = not op.numpy
        assert op.samples or internal, f"{name} has no test samples"
        assert isinstance(op.domain, (Domain, tuple)), name


def test_at_least_75_numpy_callables_are_covered():
    names = adops.covered_callables()
    assert len(names) >= 75, names
    differentiable = {adops.callable_name(fn) for op in adops.OPS.values() if op.differentiable or op.composite
                      for fn in op.numpy}
    assert len(differentiable) >= 75


def test_each_sample_is_exercised_with_a_batch_axis_in_both_engines():
    # jacfwd/jacrev above run every rule with a leading batch axis; make sure batched tangents really are used
    f = adops.OPS["tanh"].samples[1].call
    x = np.linspace(-1, 1, 5)
    counts_one, counts_batched = {}, {}
    with adops.counting() as counts:
        dualad.jacfwd(f)(x)
    counts_batched = counts.by_phase()
    with adops.counting() as counts:
        dualad.jacfwd(f, chunk_size=1)(x)
    counts_one = counts.by_phase()
    assert counts_batched["jvp"]["ops"] * 5 == counts_one["jvp"]["ops"]


def test_a_rule_off_by_a_tenth_of_a_percent_fails_the_check(monkeypatch):
    op = adops.OPS["sin"]
    sample = op.samples[1]
    assert max(engine_errors(op, sample).values()) < TOL
    monkeypatch.setattr(op, "jvp", lambda tangents, ans, x: tangents[0] * np.cos(x) * 1.001)
    monkeypatch.setattr(op, "vjps", (lambda ct, ans, x: ct * np.cos(x) * 1.001,))
    errors = engine_errors(op, sample)
    assert errors["dualad.jacfwd (batched JVP)"] > 5e-4
    assert errors["revad.jacrev (batched VJP)"] > 5e-4


def test_a_wrong_broadcast_rule_fails_the_check(monkeypatch):
    op = adops.OPS["multiply"]
    sample = next(s for s in op.samples if s.shapes == ((2, 3), (3,)))
    original = op.vjps
    # forget to unbroadcast: hand back the full-shape cotangent's first row
    monkeypatch.setattr(op, "vjps", (original[0], lambda ct, ans, x, y: (ct * x)[..., 0, :] * 2))
    errors = engine_errors(op, sample)
    assert errors["revad.jacrev (batched VJP)"] > 1e-3


def test_ops_page_matches_the_registry():
    from pathlib import Path

    from adops.catalog import render

    page = Path(__file__).resolve().parents[1] / "docs" / "ops.md"
    assert page.read_text() == render(), "docs/ops.md is stale: run `python -m adops.catalog > docs/ops.md`"


@pytest.mark.parametrize("name,k", DIFFERENTIABLE, ids=[f"{n}-{k}" for n, k in DIFFERENTIABLE])
def test_float32_stays_float32(name, k):
    op = adops.OPS[name]
    sample = op.samples[k]
    args64 = make_args(op, sample)
    args32 = [a.astype(np.float32) for a in args64]
    argnums = tuple(range(len(args32)))
    out = sample.call(*args32)
    if np.asarray(out).dtype != np.float32:
        pytest.skip("NumPy itself promotes this call's output")
    for jac in (dualad.jacfwd, revad.jacrev):
        blocks32 = jac(sample.call, argnums)(*args32)
        blocks64 = jac(sample.call, argnums)(*[a.astype(np.float64) for a in args32])
        for b32, b64 in zip(blocks32, blocks64):
            assert np.asarray(b32).dtype == np.float32, f"{jac.__module__}: {name} gave {np.asarray(b32).dtype}"
            np.testing.assert_allclose(b32, b64, rtol=2e-3, atol=2e-3 * (1 + np.max(np.abs(b64))))
