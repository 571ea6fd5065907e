"""Every registry op, generated from the registry itself: fields complete, and each op's JVP and VJP (through both
engines, unbatched and with a batch axis) against the exact SymPy Jacobian at points drawn from its domain."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import sympy

import adops
import adops.symbolic
import adops.trees
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
    out_leaves, out_def = adops.trees.flatten(f(*args))  # a record with several outputs returns a tuple
    exact_leaves = adops.trees.flatten(exact)[0]
    per_out = [exact_leaves[k * len(args):(k + 1) * len(args)] for k in range(len(out_leaves))]
    tangents = tuple(rng.standard_normal(np.shape(a)) for a in args)
    cts = [rng.standard_normal(np.shape(o)) for o in out_leaves]
    jv_exact = [sum(np.tensordot(J, v, axes=np.ndim(v)) for J, v in zip(js, tangents)) for js in per_out]
    ujac_exact = tuple(sum(np.tensordot(c, js[i], axes=np.ndim(c)) for c, js in zip(cts, per_out))
                       for i in range(len(args)))

    _, jv = dualad.jvp(f, tuple(args), tangents)
    _, pullback = revad.vjp(f, *args)
    ujac = pullback(adops.trees.unflatten(out_def, cts))
    jv_leaves = adops.trees.flatten(jv)[0]
    ujv = sum(float(np.sum(c * t)) for c, t in zip(cts, jv_leaves))
    ujv_exact = sum(float(np.sum(c * t)) for c, t in zip(cts, jv_exact))
    return {
        "dualad.jacfwd (batched JVP)": oracle.relative_error(dualad.jacfwd(f, argnums)(*args), exact),
        "revad.jacrev (batched VJP)": oracle.relative_error(revad.jacrev(f, argnums)(*args), exact),
        "dualad.jvp": oracle.relative_error(jv_leaves, jv_exact),
        "revad.vjp": oracle.relative_error(ujac, ujac_exact),
        # <u, J v> by the JVP and by the VJP must agree
        "dot-product identity": abs(ujv - sum(float(np.sum(g * v)) for g, v in zip(ujac, tangents)))
        / (1e-12 + abs(ujv_exact)),
    }


@pytest.mark.parametrize("name,k", DIFFERENTIABLE, ids=[f"{n}-{k}" for n, k in DIFFERENTIABLE])
def test_op_against_oracle(name, k):
    op = adops.OPS[name]
    errors = engine_errors(op, op.samples[k])
    bad = {mode: err for mode, err in errors.items() if not err < TOL}
    assert not bad, f"{name} sample {op.samples[k].label or k}: {bad}"


def _traced_output(engine, call, args):
    """What ``call`` returns when its arguments are traced by ``engine`` (the transform itself differentiates the
    identity, so any output kind is allowed)."""
    seen = []

    def f(*xs):
        seen.append(call(*xs))
        return xs[0]

    if engine == "dualad":
        dualad.jvp(f, tuple(args), tuple(np.ones_like(a) for a in args))
    else:
        revad.vjp(f, *args)
    return seen[0]


@pytest.mark.parametrize("name,k", CONSTANT, ids=[f"{n}-{k}" for n, k in CONSTANT])
def test_piecewise_constant_ops_have_zero_derivative(name, k):
    op = adops.OPS[name]
    sample = op.samples[k]
    args = make_args(op, sample)
    plain = np.asarray(sample.call(*args))
    for engine in ("dualad", "revad"):  # the engines hand back NumPy's own value, untraced (a constant)
        out = _traced_output(engine, sample.call, args)
        assert not hasattr(out, "_level"), f"{engine}: {name} returned a traced value"
        np.testing.assert_array_equal(np.asarray(out), plain, err_msg=f"{engine}: {name}")
        if name != "empty_like":  # its values are whatever the memory held
            assert np.asarray(out).dtype == plain.dtype, f"{engine}: {name}"
    if not np.issubdtype(plain.dtype, np.number):
        return  # a boolean or other non-numeric output has no Jacobian to check; its value was checked above

    def first_float(*xs):
        out = sample.call(*xs)
        return np.asarray(out, dtype=np.float64) if not hasattr(out, "_level") else out

    jac = dualad.jacfwd(first_float)(*args)
    assert np.all(np.asarray(jac) == 0)
    jac = revad.jacrev(first_float)(*args)
    assert np.all(np.asarray(jac) == 0)


@pytest.mark.parametrize("name,k", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_sympy_form_computes_numpys_value(name, k):
    """The oracle's column must be the same *function* as the NumPy impl, or a wrong rule paired with a matching
    wrong SymPy form would pass every derivative test."""
    op = adops.OPS[name]
    sample = op.samples[k]
    args = make_args(op, sample)
    with np.errstate(all="ignore"):
        expected = sample.call(*args)
    got = oracle.value(sample.call, *args)
    exp_leaves, _ = adops.trees.flatten(expected)
    got_leaves, _ = adops.trees.flatten(got)
    assert len(exp_leaves) == len(got_leaves)
    for e, g in zip(exp_leaves, got_leaves):
        e, g = np.asarray(e), np.asarray(g)
        assert e.shape == g.shape, f"{name}: oracle shape {g.shape}, NumPy {e.shape}"
        if name == "empty_like":  # NumPy leaves the values unspecified: shape and dtype are the function
            continue
        if e.dtype == bool:
            np.testing.assert_array_equal(g, e, err_msg=name)
        else:
            np.testing.assert_allclose(g, e.astype(np.float64), rtol=1e-12, atol=1e-14, err_msg=name)


def test_a_wrong_sympy_form_fails_the_value_check(monkeypatch):
    # log2 with the natural log as its SymPy form: a rule written to match would pass every derivative test
    monkeypatch.setattr(adops.OPS["log2"], "sympy", adops.symbolic.lift(sympy.log))
    with pytest.raises(AssertionError):
        test_sympy_form_computes_numpys_value("log2", 1)
