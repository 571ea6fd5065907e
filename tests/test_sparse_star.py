"""Star colouring on its own: valid on random and structured symmetric patterns in every order, exact symmetric
recovery from compressed products, colours against the bounds, and bad colourings or stray products caught."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_sparse_coloring import ORDERS, banded, stencil_2d

from adops.sparse import StarColoring, color_columns, color_star


def random_symmetric(n, density, seed):
    p = sp.random_array((n, n), density=density, rng=np.random.default_rng(seed), format="csr").astype(bool)
    return sp.csr_array(p + p.T)


def arrowhead(n):
    a = np.eye(n, dtype=bool)
    a[0] = a[:, 0] = True
    return sp.csr_array(a)


PATTERNS = {
    "tridiagonal": banded(30, 1, 1),
    "pentadiagonal": banded(40, 2, 2),
    "stencil 9x9": stencil_2d(9),
    "arrowhead 20": arrowhead(20),
    "diagonal": sp.eye_array(7, format="csr", dtype=bool),
    "empty": sp.csr_array((4, 4), dtype=bool),
    "dense 6": sp.csr_array(np.ones((6, 6), dtype=bool)),
    **{f"random {s}": random_symmetric(12 + 7 * s, 0.04 + 0.06 * s, s) for s in range(6)},
}


def random_values(pattern, seed=0):
    """A symmetric matrix with the pattern's nonzeros, random values."""
    h = sp.csr_array(pattern, dtype=np.float64)
    h.data = np.random.default_rng(seed).standard_normal(h.nnz)
    return (h + h.T).toarray()


@pytest.mark.parametrize("name", PATTERNS)
@pytest.mark.parametrize("order", ORDERS)
def test_star_colouring_is_valid_and_recovers_the_matrix(name, order):
    c = color_star(PATTERNS[name], order)
    c.check()
    assert c.lower_bound <= c.ncolors
    assert sum(len(g) for g in c.groups) == c.colors.size and all(len(g) for g in c.groups)
    H = random_values(c.pattern)
    recovered = c.decompress(c.seeds() @ H)
    assert isinstance(recovered, sp.csr_array)
    np.testing.assert_array_equal(recovered.toarray(), H)


def test_known_colour_counts():
    assert color_star(banded(1000, 1, 1)).ncolors == 3  # tridiagonal: 3 (the lower bound)
    assert color_star(banded(1000, 1, 1)).ratio == 1.0
    c = color_star(arrowhead(50))
    assert c.ncolors == 2 and c.row_bound == 50  # where symmetry pays: a column colouring needs 50
    assert color_columns(arrowhead(50)).ncolors == 50
    assert color_star(sp.eye_array(5, format="csr")).ncolors == 1
    assert color_star(banded(100, 2, 2)).ncolors <= 5
    assert "star colouring" in c.explain() and "StarColoring" in repr(c)


def test_one_sided_patterns_are_mirrored():
    upper = sp.csr_array(np.triu(np.ones((4, 4), dtype=bool)) & ~np.triu(np.ones((4, 4), dtype=bool), 2))
    c = color_star(upper)
    assert np.array_equal(c.pattern.toarray(), banded(4, 1, 1).toarray())
    with pytest.raises(ValueError, match="square"):
        color_star(np.ones((2, 3)))


def test_check_rejects_bad_colourings():
    p = banded(6, 1, 1)
    with pytest.raises(AssertionError, match="neighbours share"):
        StarColoring(p, np.zeros(6, dtype=np.int64)).check()
    with pytest.raises(AssertionError, match="four vertices"):
        StarColoring(p, np.array([0, 1, 0, 1, 0, 1])).check()  # a valid distance-1 colouring, not a star one


def test_decompress_catches_a_missing_nonzero_and_bad_shapes():
    c = color_star(banded(6, 1, 1))
    H = random_values(banded(6, 2, 2))  # has entries two off the diagonal the pattern lacks
    with pytest.raises(ValueError, match="misses a nonzero"):
        c.decompress(c.seeds() @ H)
    with pytest.raises(ValueError, match="expects"):
        c.decompress(np.zeros((2, 6)))
