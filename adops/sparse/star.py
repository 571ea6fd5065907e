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

from .coloring import ORDERS, ColorGroups, as_pattern, color_columns


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
class StarColoring(ColorGroups):
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
    method: str = "star"  # "star" (greedy star colouring) or "distance-2" (a column colouring, also star-recoverable)
    verify: bool = True  # the hessian functions add one random check product (see ``decompress``); off for detected
    mode = "symmetric"

    @property
    def shape(self) -> tuple:
        return self.pattern.shape

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
        the graph has a triangle or a path on four vertices (two colours would alternate along it), and the size of
        the largest clique found: a closed neighbourhood {i} + N(i) that every member shares (a dense diagonal
        block), whose members all need different colours. Cliques of other shapes are not searched, so the true
        optimum may lie above this bound."""
        a = self._adjacency
        if self.colors.size == 0:
            return 0
        if a.nnz == 0:
            return 1
        deg = np.diff(a.indptr)
        rows = np.repeat(np.arange(a.shape[0]), deg)
        path4 = bool(((deg[rows] >= 2) & (deg[a.indices] >= 2)).any())
        triangle = bool((a @ a).multiply(a).nnz) if not path4 else True
        return max(3 if path4 or triangle else 2, self._block_clique)

    @cached_property
    def _block_clique(self) -> int:
        """The largest closed neighbourhood shared by all its members (each such one is a clique)."""
        a = self._adjacency
        n = a.shape[0]
        deg = np.diff(a.indptr)
        w = np.random.default_rng(0).integers(0, 2 ** 63, n, dtype=np.uint64)
        rows = np.repeat(np.arange(n), deg)
        summed = np.zeros(n, dtype=np.uint64)
        np.add.at(summed, rows, w[a.indices])
        key = summed + w  # a fingerprint of the closed neighbourhood (integer sums wrap: exact, order-free)
        same = (deg[rows] == deg[a.indices]) & (key[rows] == key[a.indices])
        shared = np.ones(n, dtype=bool)
        np.logical_and.at(shared, rows, same)
        for i in np.flatnonzero(shared & (deg == deg[shared].max()))[:1] if shared.any() else ():
            members = np.append(a.indices[a.indptr[i]:a.indptr[i + 1]], i)  # confirm the largest exactly
            block = a[members][:, members].toarray() | np.eye(members.size, dtype=bool)
            return int(members.size) if block.all() else 2
        return 1

    @property
    def ratio(self) -> float:
        """Colours over the lower bound (1.0 is optimal)."""
        return self.ncolors / max(1, self.lower_bound)

    def explain(self) -> str:
        """One paragraph: what was coloured, how well, and what it buys."""
        n = self.shape[0]
        how = ("star colouring" if self.method == "star" else
               "distance-2 (column) colouring, fewer colours than the greedy star colouring and also read directly")
        return (f"{how} of a symmetric {n} x {n} pattern with {self.pattern.nnz} nonzeros ({self.order} "
                f"greedy order): {self.ncolors} colours for {n} variables, lower bound {self.lower_bound} (a path on "
                f"four vertices or a dense block; the optimum may be higher), "
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

    def decompress(self, compressed, fn: str = "adops.sparse.StarColoring.decompress", probe=None,
                   advice: str | None = None) -> sp.csr_array:
        """The symmetric matrix as CSR from compressed products: row c of ``compressed`` (ncolors, n) is H @ seeds[c].

        Each off-diagonal pair {i, j} is read once, where it stands alone (row i of product c(j) if i has no other
        neighbour of colour c(j), else row j of product c(i)), and written to both (i, j) and (j, i), so the result
        is exactly symmetric. Then every entry of every product is re-derived from the recovered matrix and compared
        with the product (up to rounding); ``ValueError`` if any differs. That catches a pattern that misses a
        nonzero (i, k) whenever the extra term lands in a product entry the pattern explains otherwise:

        - an entry no pattern entry lands in (certainly when row i of the pattern is empty),
        - the symmetric guard: a pair {i, j} readable from both sides where the two reads disagree (one of them
          carries the missed value),
        - an entry that sums several pattern entries, whose recovered values (read elsewhere) do not add up to it.

        It cannot catch a missed value that lands only in entries read directly and nowhere cross-checked: a
        missed (i, k) between two variables of the same colour is added to the read of H[i, i] (row i of the
        product of i's own colour), and a diagonal pattern, one colour, reads row sums as the diagonal
        (H @ 1 = diag(d) @ 1 for d = H @ 1). A value below the rounding allowance (``_tolerance``) also passes.
        ``probe=(v, Hv)``, one more product with a random direction v, closes that gap: the recovered matrix must
        reproduce Hv, which a missed nonzero breaks for almost every v. The hessian functions run it for patterns
        not detected by ``hessian_sparsity`` (``verify``).
        """
        n = self.shape[0]
        b = np.asarray(compressed)
        want = (self.ncolors, n)
        if b.shape != want:
            raise ValueError(f"{fn}: compressed products have shape {b.shape}, the star colouring of a {n} x {n} "
                             f"pattern expects {want}")
        advice = advice or ("detect the pattern (sparsity='auto' or SparseHessian.detect) or pass a pattern that "
                            "covers every nonzero")
        slots, empty = self._slots
        flat = b.ravel()
        stray = flat[empty] != 0
        if stray.any():
            c, k = divmod(int(empty[np.argmax(stray)]), n)
            raise ValueError(f"{fn}: the Hessian sparsity pattern misses a nonzero: row {k} of the product with colour "
                             f"group {c} is {flat[empty[np.argmax(stray)]]:.6g} where the pattern has no entry; "
                             f"{advice}")
        p = self.pattern
        values = flat[slots].astype(np.result_type(flat, np.float32), copy=False)  # scipy.sparse has no float16
        h = sp.csr_array((values, p.indices.copy(), p.indptr.copy()), shape=(n, n))
        if h.nnz:
            rtol, atol = _tolerance(b)
            lands = self._lands  # where each entry lands in the products: row i of product c(j)
            explained = np.bincount(lands, weights=values, minlength=flat.size)
            scale = np.bincount(lands, weights=np.abs(values), minlength=flat.size) + np.abs(flat)
            bad = np.abs(flat - explained) > rtol * scale + atol
            if bad.any():
                c, i = divmod(int(np.argmax(bad)), n)
                raise ValueError(f"{fn}: the Hessian sparsity pattern misses a nonzero: row {i} of the product with "
                                 f"colour group {c} is {b[c, i]:.6g} but the pattern's entries, each read from the "
                                 f"products, explain {explained[c * n + i]:.6g}; {advice}")
        if probe is not None:
            v, hv = (np.asarray(a) for a in probe)
            rtol, atol = _tolerance(np.concatenate([b.ravel(), hv.ravel()]))
            explained = h @ v
            bad = np.abs(hv - explained) > rtol * (abs(h) @ np.abs(v) + np.abs(hv)) + atol
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"{fn}: the Hessian sparsity pattern misses a nonzero: a check product with a random "
                                 f"direction has {hv[i]:.6g} in row {i} but the recovered Hessian gives "
                                 f"{explained[i]:.6g}; {advice}")
        return h

    @cached_property
    def _slots(self) -> tuple:
        """Where each pattern entry is read in the flattened products (one read per symmetric pair), and the slots no
        entry lands in."""
        p = self.pattern
        n = p.shape[0]
        k = max(1, self.ncolors)
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(p.indptr))
        cols = p.indices.astype(np.int64)
        lo, hi = np.minimum(rows, cols), np.maximum(rows, cols)  # the pair {lo, hi}, read the same way from both sides
        c = self.colors
        seen = self._counts  # (n, k): how many neighbours of i have colour c
        alone = seen[lo, c[hi]] <= 1  # lo sees only hi in hi's colour (a diagonal entry: lo sees no other of its own)
        slots = np.where(alone | (lo == hi), c[hi] * n + lo, c[lo] * n + hi)
        covered = np.zeros(k * n, dtype=bool)
        covered[c[cols] * n + rows] = True
        return slots, np.flatnonzero(~covered)

    @cached_property
    def _lands(self) -> np.ndarray:
        p = self.pattern
        n = p.shape[0]
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(p.indptr))
        return self.colors[p.indices] * n + rows

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


def _tolerance(values) -> tuple:
    """Rounding allowed between two ways of computing one product entry: relative to the entries summed, plus a
    little of the largest product (nested derivatives cancel large intermediates)."""
    values = np.asarray(values)
    eps = np.finfo(values.dtype if np.issubdtype(values.dtype, np.floating) else np.float64).eps
    big = float(np.max(np.abs(values))) if values.size else 0.0
    return 64 * np.sqrt(eps), eps ** 0.75 * big


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
    n = p.shape[0]
    adj = p.copy()
    adj.setdiag(False)
    adj.eliminate_zeros()
    if adj.nnz == 0:  # diagonal: one product gives every entry
        return StarColoring(p, np.zeros(n, dtype=np.int64), order)
    visit = _order(adj, order, seed)
    colors = _star_greedy(adj.indptr.tolist(), adj.indices.tolist(), visit.tolist())
    star = StarColoring(p, np.asarray(colors, dtype=np.int64), order)
    # A distance-2 colouring of the pattern with its diagonal (no two columns share a row) is a star colouring too,
    # and greedy sometimes finds a smaller one (9-point stencils); it needs at least the densest row's count.
    fewest = int(np.diff(adj.indptr).max()) + 1
    if star.ncolors > fewest and star.ncolors > star.lower_bound:
        col = color_columns(p + sp.eye_array(n, dtype=bool, format="csr"), order, seed)
        if col.ncolors < star.ncolors:
            return StarColoring(p, col.colors, order, "distance-2")
    return star
