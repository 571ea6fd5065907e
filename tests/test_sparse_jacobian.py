"""Compressed Jacobians in both engines: every registry sample against the dense Jacobian, reuse of a precomputed
colouring, the automatic cache, and the errors (a pattern that misses a nonzero, mismatched shapes)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_ops import make_args
from test_sparse_pattern import SAMPLES, bratu_2d, dense_jacobian

import adops
import dualad
import revad
from adops.sparse import SparseJacobian, color_columns, jacobian_sparsity
from adops.sparse import jacobian as sparse_jacobian

ENGINES = {"forward": dualad.jacfwd, "reverse": revad.jacrev}


@pytest.mark.parametrize("name,k", SAMPLES, ids=[f"{n}-{k}" for n, k in SAMPLES])
def test_compressed_equals_dense_in_both_engines(name, k):
    op = adops.OPS[name]
    sample = op.samples[k]
    args = make_args(op, sample)
    argnums = tuple(range(len(args)))
    dense = dense_jacobian(sample.call, args)
    for mode, jac in ENGINES.items():
        J = jac(sample.call, argnums, sparsity="auto")(*args)
        assert isinstance(J, sp.csr_array)
        np.testing.assert_allclose(J.toarray(), dense, rtol=1e-12, atol=1e-12, err_msg=f"{name} {mode}")


@pytest.mark.parametrize("mode", ENGINES)
def test_bratu_with_a_reused_colouring(mode):
    u = np.random.default_rng(1).random((8, 9))
    sj = SparseJacobian.detect(bratu_2d, u)
    jac = ENGINES[mode](bratu_2d, sparsity=sj)
    for scale in (1.0, 2.0):
        np.testing.assert_allclose(jac(u * scale).toarray(), dense_jacobian(bratu_2d, (u * scale,)), atol=1e-12)
    assert sj.coloring(mode).ncolors <= 7
    assert "column" in repr(sj) or "row" in repr(sj)


@pytest.mark.parametrize("mode", ENGINES)
def test_pattern_forms_several_arguments_and_outputs(mode):
    f = lambda a, b: (a * b[:3], np.sum(b) * 2)
    a, b = np.ones(3) * 2, np.arange(1.0, 5.0)
    dense = np.vstack([np.hstack(blocks).reshape(-1, 7) for blocks in
                       (dualad.jacfwd(lambda a, b: f(a, b)[0], (0, 1))(a, b),
                        dualad.jacfwd(lambda a, b: f(a, b)[1], (0, 1))(a, b))])
    p = jacobian_sparsity(f, a, b)
    for sparsity in (p, p.toarray(), color_columns(p), "auto"):
        J = ENGINES[mode](f, (0, 1), sparsity=sparsity)(a, b)
        np.testing.assert_allclose(J.toarray(), dense)


def test_auto_detects_once_per_function_and_shape():
    f = lambda u: np.exp(u[1:] - u[:-1])
    dualad.jacfwd(f, sparsity="auto")(np.ones(5))
    dualad.jacfwd(f, sparsity="auto")(np.zeros(5))
    revad.jacrev(f, sparsity="auto")(np.ones(5))
    dualad.jacfwd(f, sparsity="auto")(np.ones(7))
    assert len(sparse_jacobian._AUTO[f]) == 2


@pytest.mark.parametrize("mode", ENGINES)
def test_a_pattern_that_misses_a_nonzero_is_caught(mode):
    f = lambda u: u[2:] - 2 * u[1:-1] ** 2 + u[:-2]
    too_small = np.eye(4, 6, k=1, dtype=bool)
    too_small[3] = False  # the last output's row left empty: its derivatives land in no colour group
    with pytest.raises(ValueError, match="misses a nonzero"):
        ENGINES[mode](f, sparsity=too_small)(np.arange(1.0, 7.0))


@pytest.mark.parametrize("mode", ENGINES)
def test_shape_mismatches_name_the_function_and_shapes(mode):
    f = lambda u: u[1:] * u[:-1]
    name = "dualad.jacfwd" if mode == "forward" else "revad.jacrev"
    with pytest.raises(ValueError, match=rf"{name}: the sparsity pattern has 6 columns but f .* has 5 input"):
        ENGINES[mode](f, sparsity=np.eye(5, 6))(np.ones(5))
    with pytest.raises(ValueError, match=rf"{name}: the sparsity pattern is 3 x 5 but f .* has 4 output"):
        ENGINES[mode](f, sparsity=np.ones((3, 5)))(np.ones(5))
    with pytest.raises(ValueError, match="sparsity must be 'auto'"):
        ENGINES[mode](f, sparsity="yes")(np.ones(5))
    with pytest.raises(TypeError, match="has_aux"):
        ENGINES[mode](f, has_aux=True, sparsity="auto")
