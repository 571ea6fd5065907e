"""Bidirectional colouring on its own (no engine): valid splits of random and structured patterns, exact round
trips through the compressed products, never worse than a one-sided colouring, the arrowhead in 3 passes at any n,
and the errors for a bad colouring, a missed nonzero and mismatched shapes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from adops.sparse import BidirectionalColoring, color_bidirectional, color_columns, color_rows


def arrowhead(n: int) -> sp.csr_array:
    a = sp.lil_array((n, n), dtype=bool)
    a.setdiag(True)
    a[0, :] = True
    a[:, 0] = True
    return a.tocsr()


def random_case(seed: int):
    rng = np.random.default_rng(seed)
    m, n = rng.integers(1, 40, 2)
    P = rng.random((m, n)) < rng.random() * 0.4
    for _ in range(rng.integers(0, 3)):  # a few dense rows and columns: where the split pays
        P[rng.integers(m), :] = True
        P[:, rng.integers(n)] = True
    return P, np.where(P, rng.standard_normal((m, n)), 0.0)


def roundtrip(b: BidirectionalColoring, J: np.ndarray) -> np.ndarray:
    """The Jacobian read back from exact compressed products J S_F^T and S_R J."""
    return b.decompress(b.seeds_forward() @ J.T, b.seeds_reverse() @ J).toarray()


@pytest.mark.parametrize("seed", range(60))
def test_random_patterns_split_validly_and_round_trip(seed):
    P, J = random_case(seed)
    b = color_bidirectional(P)
    b.check()
    np.testing.assert_array_equal(roundtrip(b, J), J)
    assert b.ncolors <= min(color_columns(P).ncolors, color_rows(P).ncolors)
    assert b.one_sided == (color_columns(P).ncolors, color_rows(P).ncolors)


@pytest.mark.parametrize("n", [4, 10, 10_000])
def test_arrowhead_needs_three_passes_at_any_n(n):
    P = arrowhead(n)
    b = color_bidirectional(P)
    b.check()
    assert (b.nforward, b.nreverse) == (2, 1)
    assert b.one_sided == (n, n)  # both one-sided colourings need n: every pair of columns (rows) meets
    if n <= 10:
        J = np.where(P.toarray(), np.arange(1.0, n * n + 1).reshape(n, n), 0.0)
        np.testing.assert_array_equal(roundtrip(b, J), J)
    assert "3, against" in b.explain()


def test_transposed_arrowhead_and_column_split():
    # two dense columns and a diagonal: a column colouring needs 3, rows need n; no split is needed
    n = 12
    P = np.eye(n, dtype=bool)
    P[:, :2] = True
    b = color_bidirectional(P)
    assert b.split == "forward" and b.ncolors == 3
    # dense columns plus one dense row: forward takes the dense columns, reverse the rest
    P[5, :] = True
    b = color_bidirectional(P)
    b.check()
    assert b.ncolors <= 4 < n


def test_one_sided_patterns_stay_one_sided():
    tridiagonal = sp.diags_array([np.ones(9), np.ones(10), np.ones(9)], offsets=[-1, 0, 1]).astype(bool)
    b = color_bidirectional(tridiagonal)
    assert b.split == "forward" and (b.nforward, b.nreverse) == (3, 0)
    assert color_bidirectional(np.ones((1, 6))).split == "reverse"  # a gradient: one sweep


def test_empty_pattern():
    b = color_bidirectional(sp.csr_array((3, 4), dtype=bool))
    assert b.ncolors == 0
    assert b.decompress(np.zeros((0, 3)), np.zeros((0, 4))).nnz == 0


def test_check_rejects_a_clash():
    P = arrowhead(5)
    good = color_bidirectional(P)
    bad = BidirectionalColoring(good.pattern, np.zeros(5, dtype=np.int64), good.row_colors, good.forward_entries,
                                good.split)
    with pytest.raises(AssertionError, match="forward entry shares its row"):
        bad.check()
    unseeded = BidirectionalColoring(good.pattern, good.column_colors, np.full(5, -1), good.forward_entries)
    with pytest.raises(AssertionError, match="reverse entry is not seeded"):
        unseeded.check()


def test_missed_nonzero_is_caught_and_shapes_are_checked():
    P = np.eye(4, dtype=bool)
    P[2, 2] = False  # output 2 has no entry, so anything arriving there is a nonzero the pattern missed
    b = color_bidirectional(P)
    J = np.eye(4)
    J[2, 1] = 2.0
    with pytest.raises(ValueError, match="misses a nonzero: output 2"):
        b.decompress(b.seeds_forward() @ J.T, b.seeds_reverse() @ J)
    b = color_bidirectional(arrowhead(6))
    with pytest.raises(ValueError, match=r"expects \(2, 6\) and \(1, 6\)"):
        b.decompress(np.zeros((2, 5)), np.zeros((1, 6)))
