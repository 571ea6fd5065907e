"""Star colouring a symmetric pattern, so that compressed Hessian-vector products recover the whole Hessian.

A Hessian H is symmetric: H[i, j] may be read from the product with the seed of j's colour (row i) *or* from the
product with the seed of i's colour (row j). A *star colouring* of the adjacency graph (vertices: variables; edges:
off-diagonal nonzeros) makes one of the two always clean: neighbours get different colours, and every path on four
vertices uses at least three colours (every two-coloured piece of the graph is a star). Then for each nonzero
H[i, j], i has no other neighbour coloured like j, or j has no other neighbour coloured like i, and H[i, j] is read
directly, no substitution (Gebremedhin, Manne and Pothen, "What color is your Jacobian? Graph coloring for computing
derivatives", SIAM Review 47(4), 2005, section 4). A tridiagonal Hessian needs 3 colours where a column colouring
of an arrowhead needs n and a star colouring 2.

The greedy loop visits each vertex once. It keeps, per vertex, bit masks (Python integers) of the colours among its
coloured neighbours (``seen``), of those met at least twice (``twice``), and, per coloured vertex w, ``bad[w]``: the
colours c(x) of its coloured neighbours x that already have two neighbours coloured like w. A vertex v may not take
a colour seen next to it, a colour in ``bad[w]`` of a neighbour w (it would make the path v - w - x - y two-coloured),
nor, for a neighbour w whose colour v already sees twice, any colour w sees (v would be the centre of a two-coloured
star touching another one). Work per vertex is proportional to its degree, plus rare rescans.

>>> import numpy as np, scipy.sparse as sp
>>> tridiagonal = sp.diags_array([np.ones(5), np.ones(6), np.ones(5)], offsets=[-1, 0, 1]).astype(bool)
>>> c = color_star(tridiagonal)
>>> c.ncolors, c.row_bound
(3, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from .coloring import ORDERS, as_pattern


def as_symmetric(pattern, fn: str = "adops.sparse.color_star") -> sp.csr_array:
    """A boolean, square, symmetric CSR pattern: ``pattern | pattern.T`` (a one-sided entry is kept, mirrored)."""
    p = as_pattern(pattern, fn)
    if p.shape[0] != p.shape[1]:
        raise ValueError(f"{fn}: a Hessian pattern is square (inputs x inputs), got shape {p.shape}")
    s = as_pattern(p + p.T, fn)
    return s


def _star_greedy(ptr: list, idx: list, order: list) -> list:
    """Greedy star colouring of the graph with neighbour lists ``idx[ptr[v]:ptr[v+1]]`` (no self loops)."""
    n = len(ptr) - 1
    color = [-1] * n
    seen = [0] * n  # bit c: some coloured neighbour has colour c
    twice = [0] * n  # bit c: at least two coloured neighbours have colour c
    bad = [0] * n
    for v in order:
        nbrs = idx[ptr[v]:ptr[v + 1]]
        forbid = seen[v]
        tw = twice[v]
        for w in nbrs:
            cw = color[w]
            if cw >= 0:
                forbid |= bad[w]
                if tw >> cw & 1:
                    forbid |= seen[w]
        bit = ~forbid & (forbid + 1)
        b = bit.bit_length() - 1
        color[v] = b
        for u in nbrs:
            su = seen[u]
            if su & bit:  # u now sees colour b at least twice
                cu = color[u]
                if cu >= 0:
                    ubit = 1 << cu
                    bad[v] |= ubit
                    if not twice[u] & bit:  # exactly twice: the other b-neighbour of u learns it too
                        for w in idx[ptr[u]:ptr[u + 1]]:
                            if color[w] == b and w != v:
                                bad[w] |= ubit
                twice[u] |= bit
            else:
                seen[u] = su | bit
        if tw:
            for w in nbrs:
                cw = color[w]
                if cw >= 0 and tw >> cw & 1:
                    bad[w] |= bit
    return color


def _order(adj: sp.csr_array, order: str, seed: int) -> np.ndarray:
    n = adj.shape[0]
    if order == "natural":
        return np.arange(n)
    if order == "random":
        return np.random.default_rng(seed).permutation(n)
    return np.argsort(-np.diff(adj.indptr), kind="stable")  # largest degree first, ties in natural order


@dataclass(frozen=True, eq=False)
class StarColoring:
    """A star colouring of a symmetric pattern (a Hessian's), ready to seed compressed Hessian-vector products and to
    recover the symmetric matrix from them.

    ``colors[k]`` is the colour of variable k, ``groups[c]`` the variables of colour c; ``seeds()`` has one row per
    colour. Pass it as ``sparsity=`` to ``dualad.hessian`` / ``revad.hessian``, or to ``dualad.jacfwd`` /
    ``revad.jacrev`` of a gradient (the compressed products of a symmetric matrix are the same in both modes).

    >>> import numpy as np
    >>> c = color_star(np.eye(3, dtype=bool) | np.eye(3, k=1, dtype=bool))
    >>> c.ncolors, c.seeds().shape
    (2, (2, 3))
    """

    pattern: sp.csr_array
    colors: np.ndarray
    order: str = "largest_first"
    mode = "symmetric"

    @property
    def shape(self) -> tuple:
        return self.pattern.shape

    @property
    def ncolors(self) -> int:
        """The number of Hessian-vector products a Hessian costs."""
        return int(self.colors.max()) + 1 if self.colors.size else 0

    @property
    def groups(self) -> list:
        """The variables of each colour, as index arrays."""
        order = np.argsort(self.colors, kind="stable")
        return np.split(order, np.cumsum(np.bincount(self.colors, minlength=self.ncolors))[:-1])

    @cached_property
    def _adjacency(self) -> sp.csr_array:
        a = self.pattern.copy()
        a.setdiag(False)
        a.eliminate_zeros()
        return a

    @property
    def row_bound(self) -> int:
        """The most nonzeros in one row: the fewest colours a column colouring (no symmetry used) could need. A star
        colouring may beat it where one row is much denser than the others (an arrowhead: 2 colours)."""
        counts = np.diff(self.pattern.indptr)
        return int(counts.max()) if counts.size else 0

    @cached_property
    def lower_bound(self) -> int:
        """No star colouring uses fewer colours: 1 for a diagonal pattern, 2 with an off-diagonal nonzero, 3 when
        the graph has a triangle or a path on four vertices (two colours would alternate along it)."""
        a = self._adjacency
        if self.colors.size == 0:
            return 0
        if a.nnz == 0:
            return 1
        deg = np.diff(a.indptr)
        rows = np.repeat(np.arange(a.shape[0]), deg)
        path4 = bool(((deg[rows] >= 2) & (deg[a.indices] >= 2)).any())
        triangle = bool((a @ a).multiply(a).nnz) if not path4 else True
        return 3 if path4 or triangle else 2

    @property
    def ratio(self) -> float:
        """Colours over the lower bound (1.0 is optimal)."""
        return self.ncolors / max(1, self.lower_bound)

    def explain(self) -> str:
        """One paragraph: what was coloured, how well, and what it buys."""
        n = self.shape[0]
        return (f"star colouring of a symmetric {n} x {n} pattern with {self.pattern.nnz} nonzeros ({self.order} "
                f"greedy order): {self.ncolors} colours for {n} variables, lower bound {self.lower_bound}, "
                f"{self.row_bound} nonzeros in the densest row (what a column colouring would need at least); a "
                f"Hessian costs {self.ncolors} Hessian-vector products instead of {n}, each entry read directly.")

    def __repr__(self) -> str:
        n = self.shape[0]
        return (f"StarColoring({n}x{n}, nnz={self.pattern.nnz}, colors={self.ncolors}, "
                f"lower_bound={self.lower_bound}, row_bound={self.row_bound})")

    def seeds(self, dtype=np.float64) -> np.ndarray:
        """The seed matrix (ncolors, n), read-only: row c is the sum of the unit vectors of colour c's variables."""
        s = self._seeds
        return s if s.dtype == dtype else s.astype(dtype)

    @cached_property
    def _seeds(self) -> np.ndarray:
        n = self.colors.size
        s = np.zeros((self.ncolors, n))
        s[self.colors, np.arange(n)] = 1
        s.flags.writeable = False
        return s

    def decompress(self, compressed, fn: str = "adops.sparse.StarColoring.decompress") -> sp.csr_array:
        """The symmetric matrix as CSR from compressed products: row c of ``compressed`` (ncolors, n) is H @ seeds[c].

        Each nonzero H[i, j] is read where it stands alone: row i of product c(j) if i has no other neighbour of
        colour c(j), else row j of product c(i). Raises ``ValueError`` if a product is nonzero where no entry of the
        pattern can land: the pattern misses a nonzero.
        """
        n = self.shape[0]
        b = np.asarray(compressed)
        want = (self.ncolors, n)
        if b.shape != want:
            raise ValueError(f"{fn}: compressed products have shape {b.shape}, the star colouring of a {n} x {n} "
                             f"pattern expects {want}")
        slots, empty = self._slots
        flat = b.ravel()
        stray = flat[empty] != 0
        if stray.any():
            c, k = divmod(int(empty[np.argmax(stray)]), n)
            raise ValueError(f"{fn}: the Hessian sparsity pattern misses a nonzero: row {k} of the product with colour "
                             f"group {c} is nonzero where the pattern has no entry; detect the pattern again (e.g. "
                             "sparsity='auto') or pass a pattern that covers every nonzero")
        p = self.pattern
        return sp.csr_array((flat[slots], p.indices.copy(), p.indptr.copy()), shape=(n, n))

    @cached_property
    def _slots(self) -> tuple:
        """Where each pattern entry is read in the flattened products, and the slots no entry lands in."""
        p = self.pattern
        n = p.shape[0]
        k = max(1, self.ncolors)
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(p.indptr))
        cols = p.indices.astype(np.int64)
        c = self.colors
        seen = self._counts  # (n, k): how many neighbours of i have colour c
        alone = seen[rows, c[cols]] <= 1  # i sees only j in j's colour (a diagonal entry: i sees no other of its own)
        slots = np.where(alone | (rows == cols), c[cols] * n + rows, c[rows] * n + cols)
        covered = np.zeros(k * n, dtype=bool)
        covered[c[cols] * n + rows] = True
        return slots, np.flatnonzero(~covered)

    @cached_property
    def _counts(self) -> np.ndarray:
        a = self._adjacency
        n = a.shape[0]
        k = max(1, self.ncolors)
        onehot = sp.csr_array((np.ones(n, dtype=np.int64), self.colors, np.arange(n + 1)), shape=(n, k))
        return (sp.csr_array(a, dtype=np.int64) @ onehot).toarray()

    def check(self) -> None:
        """Raise ``AssertionError`` unless neighbours differ in colour and no path on four vertices is two-coloured
        (no edge i - j where i has two neighbours coloured like j and j two coloured like i)."""
        a = self._adjacency
        rows = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
        cols = a.indices
        c = self.colors
        if (c[rows] == c[cols]).any():
            raise AssertionError("invalid star colouring: two neighbours share a colour")
        seen = self._counts
        if ((seen[rows, c[cols]] >= 2) & (seen[cols, c[rows]] >= 2)).any():
            raise AssertionError("invalid star colouring: a path on four vertices uses only two colours")


def color_star(pattern, order: str = "largest_first", seed: int = 0) -> StarColoring:
    """Star-colour a symmetric pattern (n x n; a one-sided entry counts for both sides) for compressed Hessians.

    ``order`` is the greedy visiting order: ``"largest_first"`` (default: by degree), ``"natural"`` or ``"random"``.

    >>> import numpy as np
    >>> arrow = np.eye(5, dtype=bool); arrow[0] = arrow[:, 0] = True
    >>> color_star(arrow).ncolors
    2
    """
    fn = "adops.sparse.color_star"
    if order not in ORDERS:
        raise ValueError(f"{fn}: unknown order {order!r}; use one of {ORDERS}")
    p = as_symmetric(pattern, fn)
    adj = p.copy()
    adj.setdiag(False)
    adj.eliminate_zeros()
    visit = _order(adj, order, seed)
    colors = _star_greedy(adj.indptr.tolist(), adj.indices.tolist(), visit.tolist())
    return StarColoring(p, np.asarray(colors, dtype=np.int64), order)
