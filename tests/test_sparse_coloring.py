"""The colouring layer on its own: valid colourings of random and structured patterns, colours against the lower
bound, seeds and decompression round-trips, and a missing nonzero caught on recovery."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from adops.sparse import Coloring, color_columns, color_rows, coloring


def stencil_2d(N: int) -> sp.csr_array:
    """The 5-point Laplacian's pattern on an N x N grid."""
    t = sp.diags_array([np.ones(N - 1), np.ones(N), np.ones(N - 1)], offsets=[-1, 0, 1])
    eye = sp.eye_array(N)
    return sp.csr_array(sp.kron(t, eye) + sp.kron(eye, t), dtype=bool)


def banded(n: int, lower: int, upper: int) -> sp.csr_array:
    return sp.csr_array(sp.diags_array([np.ones(n - abs(k)) for k in range(-lower, upper + 1)],
                                       offsets=list(range(-lower, upper + 1))), dtype=bool)


def random_pattern(m, n, density, seed):
    return sp.random_array((m, n), density=density, rng=np.random.default_rng(seed), format="csr").astype(bool)


PATTERNS = {
    "tridiagonal": banded(30, 1, 1),
    "band(2,3)": banded(40, 2, 3),
    "stencil 12x12": stencil_2d(12),
    "random 40x30": random_pattern(40, 30, 0.1, 1),
    "random 25x60": random_pattern(25, 60, 0.05, 2),
    "dense 5x7": sp.csr_array(np.ones((5, 7), dtype=bool)),
    "empty 4x3": sp.csr_array((4, 3), dtype=bool),
    "arrowhead 20": sp.csr_array(np.eye(20, dtype=bool) | (np.arange(20) == 0)[:, None] | (np.arange(20) == 0)),
}
ORDERS = ("largest_first", "natural", "random")


@pytest.mark.parametrize("name", PATTERNS)
@pytest.mark.parametrize("mode", ["column", "row"])
@pytest.mark.parametrize("order", ORDERS)
def test_colouring_is_valid_and_at_least_the_bound(name, mode, order):
    c = coloring(PATTERNS[name], mode, order)
    c.check()
    assert c.ncolors >= c.lower_bound
    groups = c.groups
    assert sum(len(g) for g in groups) == c.colors.size
    assert all(len(g) for g in groups)  # colours are 0..k-1 with no gaps


def test_check_rejects_a_bad_colouring():
    p = banded(6, 1, 1)
    bad = Coloring(p, "column", np.zeros(6, dtype=np.int64))
    with pytest.raises(AssertionError, match="share a row"):
        bad.check()


@pytest.mark.parametrize("name,expected", [("tridiagonal", 3), ("band(2,3)", 6)])
def test_banded_patterns_are_optimal(name, expected):
    assert color_columns(PATTERNS[name]).ncolors == expected
    assert color_rows(PATTERNS[name]).ncolors == expected


def test_stencil_within_one_and_a_half_of_the_bound():
    c = color_columns(stencil_2d(60))
    assert c.lower_bound == 5 and c.ncolors <= 7


def test_arrowhead_defeats_one_sided_colouring():
    c = color_columns(PATTERNS["arrowhead 20"])
    assert c.ncolors == 20 == color_rows(PATTERNS["arrowhead 20"]).ncolors


@pytest.mark.parametrize("name", PATTERNS)
@pytest.mark.parametrize("mode", ["column", "row"])
def test_seeds_and_decompression_round_trip(name, mode):
    p = PATTERNS[name]
    rng = np.random.default_rng(0)
    J = np.where(p.toarray(), rng.standard_normal(p.shape), 0.0)
    c = coloring(p, mode)
    s = c.seeds()
    assert s.shape == (c.ncolors, p.shape[1] if mode == "column" else p.shape[0])
    assert np.all(s.sum(axis=0) == 1)  # every column (row) is in exactly one group
    compressed = (J @ s.T).T if mode == "column" else s @ J
    out = c.decompress(compressed)
    assert isinstance(out, sp.csr_array)
    np.testing.assert_array_equal(out.toarray(), J)


@pytest.mark.parametrize("mode", ["column", "row"])
def test_a_missing_nonzero_is_caught_on_recovery(mode):
    p = banded(10, 1, 1)
    J = banded(10, 2, 2).toarray() * 1.0  # one more band than the pattern says
    c = coloring(p, mode)
    compressed = (J @ c.seeds().T).T if mode == "column" else c.seeds() @ J
    with pytest.raises(ValueError, match="misses a nonzero"):
        c.decompress(compressed)


def test_shape_mismatch_and_bad_arguments_are_explained():
    c = color_columns(banded(5, 1, 1))
    with pytest.raises(ValueError, match=r"expects \(3, 5\)"):
        c.decompress(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="unknown order"):
        color_columns(np.eye(3), order="smallest")
    with pytest.raises(ValueError, match="mode must be"):
        coloring(np.eye(3), "both")
    with pytest.raises(ValueError, match="2-D"):
        color_columns(np.ones(3))


def test_explain_names_the_numbers():
    c = color_columns(banded(30, 1, 1))
    text = c.explain()
    assert "3 colours for 30 columns" in text and "lower bound 3" in text and "ratio 1.00" in text
    assert "colors=3" in repr(c)


def test_explain_says_when_nothing_is_saved():
    text = color_columns(PATTERNS["arrowhead 20"]).explain()
    assert "20 forward (JVP) passes, as many as the dense one" in text and "instead of" not in text


@pytest.mark.parametrize("mode", ["column", "row"])
def test_decompress_reads_the_compressed_matrix_as_written(mode):
    p = PATTERNS["band(2,3)"]
    J = np.where(p.toarray(), np.random.default_rng(3).standard_normal(p.shape), 0.0)
    c = coloring(p, mode)
    S = c.seeds()
    B = J @ S.T if mode == "column" else S @ J  # the maths: B = J S^T (forward), B = S J (reverse)
    np.testing.assert_array_equal(c.decompress(B, layout="matrix").toarray(), J)
    with pytest.raises(ValueError, match="layout must be"):
        c.decompress(B, layout="columns")


@pytest.mark.parametrize("mode", ["column", "row"])
def test_chunked_recovery_equals_one_block(mode):
    p = PATTERNS["stencil 12x12"]
    J = np.where(p.toarray(), np.random.default_rng(4).standard_normal(p.shape), 0.0)
    c = coloring(p, mode)
    B = (J @ c.seeds().T).T if mode == "column" else c.seeds() @ J
    parts = [c.recover(B[start:start + 2], start) for start in range(0, c.ncolors, 2)]
    np.testing.assert_array_equal(c.assemble(parts).toarray(), J)
    np.testing.assert_array_equal(np.vstack([c.seeds(start=s, stop=min(s + 2, c.ncolors))
                                             for s in range(0, c.ncolors, 2)]), c.seeds())
