"""This afternoon's changes broken as a user would: the lean tape (Op.reads), the plain-ndarray rule paths, prod,
fmax/fmin, logaddexp at infinities, np.unique, the strong-zero flag's lifetime and the replay recording's short paths.

Each test states what a user sees; a strict xfail names a failure left for its owner."""

from __future__ import annotations

import numpy as np
import pytest

import adops
import dualad
import revad
from revad import tape as tape_module
from tests.test_ops import CASES, make_args

NESTINGS = {
    "rev-rev": lambda f: revad.jacrev(revad.grad(f)),
    "fwd-rev": lambda f: dualad.jacfwd(revad.grad(f)),
    "rev-fwd": lambda f: revad.jacrev(dualad.grad(f)),
    "fwd-fwd": lambda f: dualad.jacfwd(dualad.grad(f)),
    "revad.hessian": revad.hessian,
    "dualad.hessian": dualad.hessian,
}


def _prod_hessian(x):
    """The Hessian of prod(x) written out: entry (i, j) is the product of the entries but i and j, 0 on the
    diagonal (a limit that stays exact with an infinite entry: no division, no inf - inf)."""
    n = len(x)
    h = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                h[i, j] = np.prod([x[k] for k in range(n) if k not in (i, j)])
    return h


# ---- prod ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("x", [[np.inf, 2.0, 3.0], [-np.inf, 2.0, -1.0], [np.inf, 2.0, -1.0], [0.0, 2.0, 3.0],
                               [0.0, 0.0, 3.0], [1e200, 1e200, 1.0], [2.0, 3.0, 4.0]])
@pytest.mark.parametrize("nesting", list(NESTINGS))
def test_prod_hessian_is_the_same_in_every_nesting_at_infinities_and_zeros(nesting, x):
    # reverse-outer nestings gave nan at (0, 1), (1, 1), ... of prod([inf, 2, 3]) (an asymmetric Hessian) where the
    # forward-outer ones gave the exact values: prod's VJP multiplied a zero cotangent by an infinite product
    x = np.array(x)
    with np.errstate(all="ignore"):
        got = NESTINGS[nesting](np.prod)(x)
    np.testing.assert_array_equal(got, _prod_hessian(x))


def test_prod_jacrev_meets_a_zero_cotangent_as_jacfwd_does():
    # row 1 of the Jacobian does not reach row 0's product; its 0 cotangent times row 0's infinite 'others' was nan
    x = np.array([[np.inf, 2.0], [1.0, 2.0]])
    f = lambda x: np.prod(x, axis=1)  # noqa: E731
    want = np.array([[[2.0, np.inf], [0.0, 0.0]], [[0.0, 0.0], [2.0, 1.0]]])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(dualad.jacfwd(f)(x), want)
        np.testing.assert_array_equal(revad.jacrev(f)(x), want)
        np.testing.assert_array_equal(revad.vjp(f, x)[1](np.array([0.0, 1.0]))[0], want[1])
