"""Colouring a Jacobian's sparsity pattern so that one compressed pass recovers many columns (or rows) at once.

Columns that share no row may be summed into one forward direction: their derivatives land in different rows, so
each can be read back (Curtis, Powell and Reid). A *column colouring* (distance-2 colouring of the bipartite graph
of rows and columns) gives those groups: forward mode needs one pass per colour instead of one per column. A *row
colouring* is the same thing for the transpose: reverse mode needs one sweep per colour of the rows.

Pure NumPy and ``scipy.sparse``; no engine is imported. The greedy loop visits each column once and keeps, per row,
the set of colours already used there as one Python integer (a bit mask), so a column's free colours are the
complement of the OR of its rows' masks: O(nnz) work with no explicit column-intersection graph.

>>> import numpy as np, scipy.sparse as sp
>>> tridiagonal = sp.diags_array([np.ones(5), np.ones(6), np.ones(5)], offsets=[-1, 0, 1]).astype(bool)
>>> c = color_columns(tridiagonal)
>>> c.ncolors, c.lower_bound
(3, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

ORDERS = ("largest_first", "natural", "random")


def as_pattern(pattern, fn: str = "adops.sparse") -> sp.csr_array:
    """A boolean CSR copy of a sparsity pattern (any scipy.sparse matrix or array, or a dense 2-D array)."""
    if sp.issparse(pattern):
        p = sp.csr_array(pattern, dtype=bool)
    else:
        a = np.asarray(pattern)
        if a.ndim != 2:
            raise ValueError(f"{fn}: a sparsity pattern is a 2-D matrix (outputs x inputs), got shape {a.shape}")
        p = sp.csr_array(a != 0)
    p.eliminate_zeros()
    p.sum_duplicates()
    p.sort_indices()
    return p


def _greedy(rows_of_ptr: np.ndarray, rows_of: np.ndarray, nrows: int, order: np.ndarray) -> np.ndarray:
    """Greedy distance-2 colouring: each vertex (column) in ``order`` takes the smallest colour not yet used in any
    of its rows. ``rows_of[rows_of_ptr[j]:rows_of_ptr[j+1]]`` are the rows of column j (CSC layout)."""
    ptr = rows_of_ptr.tolist()
    idx = rows_of.tolist()
    used = [0] * nrows  # bit c set: colour c is taken by a column in this row
    colors = [0] * len(ptr[:-1])
    for j in order.tolist():
        rows = idx[ptr[j]:ptr[j + 1]]
        taken = 0
        for r in rows:
            taken |= used[r]
        bit = ~taken & (taken + 1)  # the lowest zero bit: the smallest free colour
        colors[j] = bit.bit_length() - 1
        for r in rows:
            used[r] |= bit
    return np.asarray(colors, dtype=np.int64)


def _order(csc: sp.csc_array, row_counts: np.ndarray, order: str, seed: int) -> np.ndarray:
    n = csc.shape[1]
    if order == "natural":
        return np.arange(n)
    if order == "random":
        return np.random.default_rng(seed).permutation(n)
    # largest first: by how many other columns a column can meet (sum over its rows of the row's length), ties in
    # natural order (a stencil's interior then goes row by row, which colours grids well)
    counts = np.diff(csc.indptr)
    degree = np.zeros(n, dtype=np.int64)
    has = counts > 0
    if csc.nnz:
        degree[has] = np.add.reduceat(row_counts[csc.indices], csc.indptr[:-1][has])
    return np.argsort(-degree, kind="stable")


class ColorGroups:
    """What every colouring derives from its ``colors`` array: how many colours, and the members of each."""

    colors: np.ndarray

    @property
    def ncolors(self) -> int:
        """The number of compressed passes this colouring needs."""
        return int(self.colors.max()) + 1 if self.colors.size else 0

    @property
    def groups(self) -> list:
        """The members (columns, rows or variables) of each colour, as index arrays."""
        order = np.argsort(self.colors, kind="stable")
        return np.split(order, np.cumsum(np.bincount(self.colors, minlength=self.ncolors))[:-1])


@dataclass(frozen=True, eq=False)
class Coloring(ColorGroups):
    """A colouring of a sparsity pattern, ready to seed compressed passes and to decompress their results.

    ``mode`` is ``"column"`` (forward mode: one JVP per colour of the columns) or ``"row"`` (reverse mode: one VJP
    per colour of the rows). ``colors[k]`` is the colour of column (or row) k; ``groups[c]`` the columns (rows) of
    colour c. No two members of a group share a row (column), so their derivatives never overlap.

    >>> import numpy as np
    >>> c = color_columns(np.eye(4, dtype=bool))
    >>> c.ncolors, c.seeds().shape
    (1, (1, 4))
    """

    pattern: sp.csr_array
    mode: str
    colors: np.ndarray
    order: str = "largest_first"

    @property
    def shape(self) -> tuple:
        """The Jacobian's shape (outputs, inputs)."""
        return self.pattern.shape

    @property
    def lower_bound(self) -> int:
        """No colouring can use fewer colours: the most nonzeros in one row (column mode) or column (row mode)."""
        p = self.pattern
        counts = np.diff(p.indptr) if self.mode == "column" else np.bincount(p.indices, minlength=p.shape[1])
        return int(counts.max()) if counts.size else 0

    @property
    def ratio(self) -> float:
        """Colours over the lower bound (1.0 is optimal)."""
        return self.ncolors / max(1, self.lower_bound)

    @property
    def passes_saved(self) -> int:
        """Dense passes minus compressed passes."""
        return (self.shape[1] if self.mode == "column" else self.shape[0]) - self.ncolors

    def explain(self) -> str:
        """One paragraph: what was coloured, how well, and what it buys."""
        m, n = self.shape
        what = "columns" if self.mode == "column" else "rows"
        engine = "forward (JVP) passes" if self.mode == "column" else "reverse (VJP) sweeps"
        dense = n if self.mode == "column" else m
        buys = (f"a Jacobian costs {self.ncolors} {engine} instead of {dense}" if self.passes_saved > 0 else
                f"a Jacobian costs {self.ncolors} {engine}, as many as the dense one (colouring saves nothing here)")
        return (f"{self.mode} colouring of a {m} x {n} pattern with {self.pattern.nnz} nonzeros "
                f"({self.order} greedy order): {self.ncolors} colours for {dense} {what}, lower bound "
                f"{self.lower_bound} (most nonzeros in one {'row' if self.mode == 'column' else 'column'}), "
                f"ratio {self.ratio:.2f}; {buys}.")

    def __repr__(self) -> str:
        m, n = self.shape
        return (f"Coloring({self.mode}, {m}x{n}, nnz={self.pattern.nnz}, colors={self.ncolors}, "
                f"lower_bound={self.lower_bound})")

    def seeds(self, dtype=np.float64, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The seed matrix, one row per colour: row c is the sum of the unit vectors of colour c's members.

        Column mode: shape (ncolors, n), the tangents of the compressed forward passes. Row mode: (ncolors, m), the
        cotangents of the compressed reverse sweeps. ``start``/``stop`` give the rows of colours start..stop-1 only
        (a chunk of the passes).
        """
        stop = self.ncolors if stop is None else stop
        members = np.flatnonzero((self.colors >= start) & (self.colors < stop))
        s = np.zeros((stop - start, self.colors.size), dtype=dtype)
        s[self.colors[members] - start, members] = 1
        return s

    def decompress(self, compressed, fn: str = "adops.sparse.Coloring.decompress", layout: str = "passes"
                   ) -> sp.csr_array:
        """The Jacobian as CSR from the compressed passes' results.

        ``layout="passes"`` (default): one row per colour. Column mode: ``compressed`` has shape (ncolors, m), row
        c is J @ seeds[c]; row mode: (ncolors, n), row c is seeds[c] @ J. ``layout="matrix"``: the compressed
        matrix as the maths writes it, B = J S^T (m x ncolors) in column mode, B = S J (ncolors x n) in row mode,
        with S = ``seeds()``.

        Raises ``ValueError`` if a compressed result is nonzero where the pattern has no entry of that colour: the
        pattern misses a nonzero (detect it again, or pass a superset). A missed nonzero is caught only where it
        lands in such an empty slot; one that lands in a slot the pattern covers is added, unseen, to that entry —
        so prefer detected patterns (``jacobian_sparsity``) to hand-written ones.
        """
        if layout not in ("passes", "matrix"):
            raise ValueError(f"{fn}: layout must be 'passes' (one row per colour) or 'matrix' (B = J S^T in column "
                             f"mode, S J in row mode), got {layout!r}")
        m, n = self.shape
        b = np.asarray(compressed)
        if layout == "matrix" and self.mode == "column":
            if b.shape != (m, self.ncolors):
                raise ValueError(f"{fn}: B = J S^T has shape {b.shape}, the column colouring of a {m} x {n} pattern "
                                 f"expects {(m, self.ncolors)}")
            b = b.T
        want = (self.ncolors, m if self.mode == "column" else n)
        if b.shape != want:
            raise ValueError(f"{fn}: compressed results have shape {b.shape}, the {self.mode} colouring of a {m} x {n}"
                             f" pattern expects {want}")
        return self.assemble([self.recover(b, 0, fn)])

    def recover(self, block, start: int, fn: str = "adops.sparse.Coloring.recover") -> tuple:
        """The pattern entries of colours ``start .. start + len(block) - 1`` read from one chunk of compressed
        results (one row per colour, as ``decompress``), after checking that nothing landed outside the pattern.
        Returns ``(entries, values)``: which pattern entries (a slice or index array) and their values, for
        ``assemble``."""
        k, width = block.shape
        entries, slots = self._chunk(start, k, width)
        flat = block.ravel()
        stray = flat != 0
        stray[slots] = False
        if stray.any():
            c, r = divmod(int(np.argmax(stray)), width)
            where = f"output {r}" if self.mode == "column" else f"input {r}"
            raise ValueError(f"{fn}: the sparsity pattern misses a nonzero: {where} received a derivative in colour "
                             f"group {start + c}, where the pattern has no entry; detect the pattern again (at this "
                             "point, or globally) or pass a pattern that covers every nonzero")
        return entries, flat[slots]

    def assemble(self, recovered: list) -> sp.csr_array:
        """The CSR Jacobian from the ``recover`` results of every chunk."""
        p = self.pattern
        # scipy.sparse stores no float16 (toarray and arithmetic refuse it): float32 at least, as the
        # bidirectional colouring does
        dtype = np.result_type(*[v for _, v in recovered], np.float32) if recovered else np.float64
        if len(recovered) == 1 and isinstance(recovered[0][0], slice):
            data = recovered[0][1].astype(dtype, copy=False)
        else:
            data = np.zeros(p.nnz, dtype=dtype)
            for entries, values in recovered:
                data[entries] = values
        return sp.csr_array((data, p.indices.copy(), p.indptr.copy()), shape=p.shape)

    def _chunk(self, start: int, k: int, width: int) -> tuple:
        """The entries of colours start..start+k-1 and where each sits in that chunk's flattened results (cached:
        O(nnz) over all chunks)."""
        key = (start, k, width)
        if key not in self._chunks:
            order, ptr, pos = self._slots
            if start == 0 and k == self.ncolors:
                entries = slice(None)  # every entry, in the pattern's order: no reordering on assembly
                slots = self._entry_colors * width + pos
            else:
                entries = order[ptr[start]:ptr[start + k]]
                slots = (self._entry_colors[entries] - start) * width + pos[entries]
            self._chunks[key] = (entries, slots)
        return self._chunks[key]

    @cached_property
    def _chunks(self) -> dict:
        return {}

    @cached_property
    def _entry_colors(self) -> np.ndarray:
        """The colour of each pattern entry (of its column in column mode, of its row in row mode)."""
        p = self.pattern
        if self.mode == "column":
            return self.colors[p.indices.astype(np.int64)]
        return np.repeat(self.colors, np.diff(p.indptr))

    @cached_property
    def _slots(self) -> tuple:
        """The pattern entries sorted by colour, where each colour's entries start, and each entry's position in its
        colour's compressed result (its row in column mode, its column in row mode)."""
        p = self.pattern
        order = np.argsort(self._entry_colors, kind="stable")
        ptr = np.zeros(self.ncolors + 1, dtype=np.int64)
        np.cumsum(np.bincount(self._entry_colors, minlength=self.ncolors), out=ptr[1:])
        if self.mode == "column":
            pos = np.repeat(np.arange(p.shape[0], dtype=np.int64), np.diff(p.indptr))
        else:
            pos = p.indices.astype(np.int64)
        return order, ptr, pos

    def check(self) -> None:
        """Raise ``AssertionError`` unless no two members of one colour share a row (column mode) or column."""
        p = self.pattern if self.mode == "column" else self.pattern.T.tocsr()
        rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
        pairs = rows.astype(np.int64) * max(1, self.ncolors) + self.colors[p.indices]
        if np.unique(pairs).size != pairs.size:
            raise AssertionError(f"invalid {self.mode} colouring: two members of one colour share a "
                                 f"{'row' if self.mode == 'column' else 'column'}")


def color_columns(pattern, order: str = "largest_first", seed: int = 0) -> Coloring:
    """Colour the columns of ``pattern`` (outputs x inputs) for compressed forward mode.

    Columns of one colour share no row. ``order`` is the greedy visiting order: ``"largest_first"`` (default),
    ``"natural"`` or ``"random"`` (with ``seed``).

    >>> import numpy as np
    >>> color_columns(np.array([[1, 1, 0], [0, 1, 1]])).colors
    array([1, 0, 1])
    """
    p = as_pattern(pattern, "adops.sparse.color_columns")
    return _color(p, p.tocsc(), "column", order, seed)


def color_rows(pattern, order: str = "largest_first", seed: int = 0) -> Coloring:
    """Colour the rows of ``pattern`` (outputs x inputs) for compressed reverse mode: rows of one colour share no
    column.

    >>> import numpy as np
    >>> color_rows(np.array([[1, 0], [1, 1], [0, 1]])).ncolors
    2
    """
    p = as_pattern(pattern, "adops.sparse.color_rows")
    t = sp.csc_array((p.data, p.indices, p.indptr), shape=p.shape[::-1])  # P^T in CSC without copying
    return _color(p, t, "row", order, seed)


def _color(p: sp.csr_array, csc: sp.csc_array, mode: str, order: str, seed: int) -> Coloring:
    if order not in ORDERS:
        raise ValueError(f"adops.sparse.color_{mode}s: unknown order {order!r}; use one of {ORDERS}")
    nrows = csc.shape[0]
    row_counts = np.bincount(csc.indices, minlength=nrows) if csc.nnz else np.zeros(nrows, dtype=np.int64)
    visit = _order(csc, row_counts, order, seed)
    colors = _greedy(csc.indptr, csc.indices, nrows, visit)
    return Coloring(p, mode, colors, order)


def coloring(pattern, mode: str = "column", order: str = "largest_first") -> Coloring:
    """``color_columns`` for ``mode="column"`` (forward), ``color_rows`` for ``mode="row"`` (reverse).

    >>> import numpy as np
    >>> coloring(np.eye(3), "row").ncolors
    1
    """
    if mode == "column":
        return color_columns(pattern, order)
    if mode == "row":
        return color_rows(pattern, order)
    raise ValueError(f"adops.sparse.coloring: mode must be 'column' (forward) or 'row' (reverse), got {mode!r}")
