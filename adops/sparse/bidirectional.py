"""Bidirectional colouring: some nonzeros of a Jacobian from compressed forward passes, the rest from compressed
reverse sweeps.

A one-sided colouring is defeated by a pattern with both a dense row and a dense column (an arrowhead): every
column meets every other in the dense row, every row meets every other in the dense column, so column and row
colourings both need n colours. Split the entries instead. Send the dense rows to reverse mode (one sweep per
colour of those rows, each row read whole) and colour the columns of the remaining rows for forward mode; the
forward passes also land in the dense rows, but those values are not read there. Or, the other way round, send the
dense columns to forward mode and colour the rows of the rest for reverse mode. An arrowhead then costs 2 forward
passes and 1 reverse sweep at any n.

This is a simple member of the bicolouring family (Coleman and Verma's bi-colouring; Gebremedhin, Manne and
Pothen, "What Color Is Your Jacobian?", section 6): the split is by whole rows or whole columns, chosen greedily
by density, and every entry is read directly (no substitution). ``color_bidirectional`` tries the one-sided
colourings and a few density thresholds in each direction and keeps the cheapest; it is never worse than the
better one-sided colouring.

Pure NumPy and ``scipy.sparse``: the passes themselves are the engines' business. ``seeds_forward`` and
``seeds_reverse`` give the directions, ``decompress`` reads the Jacobian back from the two compressed results
(``compare.sparse.bidirectional_jacobian`` runs them with ``dualad`` and ``revad``).

>>> import numpy as np
>>> n = 8
>>> arrow = np.eye(n, dtype=bool); arrow[0, :] = True; arrow[:, 0] = True
>>> b = color_bidirectional(arrow)
>>> b.nforward, b.nreverse, b.one_sided
(2, 1, (8, 8))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .coloring import as_pattern, color_columns, color_rows

__all__ = ["BidirectionalColoring", "color_bidirectional"]

LEVELS = 8  # density thresholds tried per direction: dense rows (columns) are the few at the top of the counts


def _compact(colors: np.ndarray, seeded: np.ndarray) -> np.ndarray:
    """Colours renumbered 0..k-1 over the seeded members, -1 for the others (not seeded in any pass)."""
    out = np.full(colors.size, -1, dtype=np.int64)
    if seeded.any():
        out[seeded] = np.unique(colors[seeded], return_inverse=True)[1]
    return out


@dataclass(frozen=True, eq=False)
class BidirectionalColoring:
    """A split of a pattern's nonzeros between compressed forward passes and compressed reverse sweeps.

    ``column_colors[j]`` is column j's colour in the forward passes (-1: not seeded), ``row_colors[i]`` row i's
    colour in the reverse sweeps (-1: not seeded), and ``forward_entries[e]`` says whether the pattern's e-th
    nonzero (CSR order) is read from the forward results (else from the reverse ones). ``split`` says how the
    entries were divided ("forward", "reverse", "rows" or "columns"); ``one_sided`` holds the colours a column and
    a row colouring need, for comparison.

    >>> import numpy as np
    >>> b = color_bidirectional(np.eye(3))
    >>> b.ncolors, b.seeds_forward().shape, b.seeds_reverse().shape
    (1, (1, 3), (0, 3))
    """

    pattern: sp.csr_array
    column_colors: np.ndarray
    row_colors: np.ndarray
    forward_entries: np.ndarray
    split: str = "forward"
    one_sided: tuple = (0, 0)

    @property
    def shape(self) -> tuple:
        """The Jacobian's shape (outputs, inputs)."""
        return self.pattern.shape

    @property
    def nforward(self) -> int:
        """Forward passes (JVP directions)."""
        return int(self.column_colors.max()) + 1 if self.column_colors.size else 0

    @property
    def nreverse(self) -> int:
        """Reverse sweeps (VJP directions)."""
        return int(self.row_colors.max()) + 1 if self.row_colors.size else 0

    @property
    def ncolors(self) -> int:
        """All compressed passes, both directions."""
        return self.nforward + self.nreverse

    def _entries(self) -> tuple:
        p = self.pattern
        return np.repeat(np.arange(p.shape[0], dtype=np.int64), np.diff(p.indptr)), p.indices.astype(np.int64)

    def seeds_forward(self, dtype=np.float64) -> np.ndarray:
        """Tangents of the forward passes, shape (nforward, n): row c sums the unit vectors of colour c's columns."""
        s = np.zeros((self.nforward, self.shape[1]), dtype=dtype)
        on = np.flatnonzero(self.column_colors >= 0)
        s[self.column_colors[on], on] = 1
        return s

    def seeds_reverse(self, dtype=np.float64) -> np.ndarray:
        """Cotangents of the reverse sweeps, shape (nreverse, m): row c sums the unit vectors of colour c's rows."""
        s = np.zeros((self.nreverse, self.shape[0]), dtype=dtype)
        on = np.flatnonzero(self.row_colors >= 0)
        s[self.row_colors[on], on] = 1
        return s

    def decompress(self, forward, reverse, fn: str = "adops.sparse.BidirectionalColoring.decompress"
                   ) -> sp.csr_array:
        """The Jacobian as CSR from the forward results, shape (nforward, m) (row c is J @ seeds_forward()[c]), and
        the reverse results, shape (nreverse, n) (row c is seeds_reverse()[c] @ J).

        Raises ``ValueError`` if a result is nonzero where no pattern entry of that colour can put anything: the
        pattern misses a nonzero (a missed nonzero landing on a covered slot is not seen; prefer detected
        patterns).
        """
        m, n = self.shape
        fwd, rev = np.asarray(forward), np.asarray(reverse)
        if fwd.shape != (self.nforward, m) or rev.shape != (self.nreverse, n):
            raise ValueError(f"{fn}: compressed results have shapes {fwd.shape} (forward) and {rev.shape} (reverse); "
                             f"this bidirectional colouring of a {m} x {n} pattern expects {(self.nforward, m)} and "
                             f"{(self.nreverse, n)}")
        rows, cols = self._entries()
        cf, cr = self.column_colors[cols], self.row_colors[rows]
        self._strays(fwd, cf, rows, fn, "forward pass", "output")
        self._strays(rev, cr, cols, fn, "reverse sweep", "input")
        data = np.zeros(rows.size, dtype=np.result_type(fwd, rev, np.float32))  # float32 results stay float32
        f = self.forward_entries
        data[f] = fwd[cf[f], rows[f]]
        data[~f] = rev[cr[~f], cols[~f]]
        return sp.csr_array((data, self.pattern.indices.copy(), self.pattern.indptr.copy()), shape=self.shape)

    @staticmethod
    def _strays(block, colors, where, fn, what, name) -> None:
        covered = np.zeros(block.shape, dtype=bool)
        on = colors >= 0
        covered[colors[on], where[on]] = True
        stray = (block != 0) & ~covered
        if stray.any():
            c, r = np.argwhere(stray)[0]
            raise ValueError(f"{fn}: the sparsity pattern misses a nonzero: {name} {r} received a derivative in "
                             f"{what} {c}, where the pattern has no entry of that colour; detect the pattern again "
                             "or pass a pattern that covers every nonzero")

    def check(self) -> None:
        """Raise ``AssertionError`` unless every entry is read cleanly: a forward entry (i, j) shares row i with no
        other seeded column of j's colour, a reverse entry shares column j with no other seeded row of i's."""
        rows, cols = self._entries()
        for f, mine, other, k, what in ((self.forward_entries, self.column_colors[cols], rows, self.nforward,
                                         "forward"),
                                        (~self.forward_entries, self.row_colors[rows], cols, self.nreverse,
                                         "reverse")):
            if (mine[f] < 0).any():
                raise AssertionError(f"invalid bidirectional colouring: a {what} entry is not seeded")
            on = mine >= 0
            key = other[on] * max(k, 1) + mine[on]
            uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
            clash = np.zeros(rows.size, dtype=np.int64)
            clash[on] = counts[inverse]
            if (clash[f] > 1).any():
                raise AssertionError(f"invalid bidirectional colouring: a {what} entry shares its "
                                     f"{'row' if what == 'forward' else 'column'} with another member of its colour")

    def explain(self) -> str:
        """One paragraph: how the entries were split and what it costs against the one-sided colourings."""
        m, n = self.shape
        nf = int(self.forward_entries.sum())
        how = {"forward": "all entries by forward passes (a column colouring)",
               "reverse": "all entries by reverse sweeps (a row colouring)",
               "rows": f"{_count(self.row_colors >= 0, 'densest row')} by reverse sweeps, the other rows' entries by "
                       "forward passes",
               "columns": f"{_count(self.column_colors >= 0, 'densest column')} by forward passes, the other "
                          "columns' entries by reverse sweeps"}[self.split]
        cols, rows = self.one_sided
        return (f"bidirectional colouring of a {m} x {n} pattern with {self.pattern.nnz} nonzeros: {how}; "
                f"{self.nforward} forward pass{'es' if self.nforward != 1 else ''} ({nf} entries) + {self.nreverse} "
                f"reverse sweep{'s' if self.nreverse != 1 else ''} ({self.pattern.nnz - nf} entries) = "
                f"{self.ncolors}, against {cols} for a column colouring and {rows} for a row colouring.")

    def __repr__(self) -> str:
        m, n = self.shape
        return (f"BidirectionalColoring({m}x{n}, nnz={self.pattern.nnz}, split={self.split}, "
                f"forward={self.nforward}, reverse={self.nreverse})")


def _count(mask: np.ndarray, what: str) -> str:
    k = int(mask.sum())
    return f"the {what}" if k == 1 else f"the {k} {what}s"


def _candidate(p, rows, cols, forward_mask, split, order) -> tuple:
    """Colour the forward entries' columns and the reverse entries' rows, each on its own sub-pattern."""
    m, n = p.shape
    ones = np.ones(rows.size, dtype=bool)

    def sub(keep):
        return sp.csr_array((ones[keep], (rows[keep], cols[keep])), shape=(m, n))

    col_seeded = np.zeros(n, dtype=bool)
    col_seeded[cols[forward_mask]] = True
    row_seeded = np.zeros(m, dtype=bool)
    row_seeded[rows[~forward_mask]] = True
    cc = color_columns(sub(forward_mask), order).colors if forward_mask.any() else np.zeros(n, dtype=np.int64)
    rc = color_rows(sub(~forward_mask), order).colors if (~forward_mask).any() else np.zeros(m, dtype=np.int64)
    return _compact(cc, col_seeded), _compact(rc, row_seeded), split


def color_bidirectional(pattern, order: str = "largest_first") -> BidirectionalColoring:
    """Split ``pattern``'s nonzeros between compressed forward passes and reverse sweeps, as few in all as the
    heuristic finds.

    Candidates: all entries forward (a column colouring), all reverse (a row colouring), and for each of the
    ``LEVELS`` largest row counts t, the rows with at least t nonzeros to reverse mode and the rest forward (and the
    same with columns to forward mode). A candidate whose lower bound (most nonzeros of a forward row plus most of a
    reverse column) cannot beat the best so far is not coloured. Ties keep the earlier candidate, so one-sided
    colourings win when the split buys nothing.

    >>> import numpy as np
    >>> color_bidirectional(np.eye(4)).split
    'forward'
    """
    p = as_pattern(pattern, "adops.sparse.color_bidirectional")
    m, n = p.shape
    rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(p.indptr))
    cols = p.indices.astype(np.int64)
    col_only, row_only = color_columns(p, order), color_rows(p, order)
    everything = np.ones(rows.size, dtype=bool)
    row_counts, col_counts = np.diff(p.indptr), np.bincount(cols, minlength=n)
    unseeded_rows, unseeded_cols = np.full(m, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    # an empty column (row) needs no seed: an empty pattern then costs no pass at all
    forward_only = (_compact(col_only.colors, col_counts > 0), unseeded_rows, "forward")
    reverse_only = (unseeded_cols, _compact(row_only.colors, row_counts > 0), "reverse")
    best = (int(forward_only[0].max(initial=-1)) + 1, forward_only, everything)
    if row_only.ncolors < best[0]:
        best = (int(reverse_only[1].max(initial=-1)) + 1, reverse_only, ~everything)
    for split, counts, of_entry, size in (("rows", row_counts, rows, m), ("columns", col_counts, cols, n)):
        for t in np.unique(counts)[::-1][:LEVELS]:
            moved = counts >= t
            if not 0 < moved.sum() < size:
                continue
            # rows split: moved rows go to reverse mode; columns split: moved columns go to forward mode
            forward_mask = ~moved[of_entry] if split == "rows" else moved[of_entry]
            bound = (np.bincount(rows[forward_mask], minlength=m).max(initial=0)
                     + np.bincount(cols[~forward_mask], minlength=n).max(initial=0))
            if bound >= best[0]:
                continue
            cc, rc, _ = cand = _candidate(p, rows, cols, forward_mask, split, order)
            total = (cc.max(initial=-1) + 1) + (rc.max(initial=-1) + 1)
            if total < best[0]:
                best = (int(total), cand, forward_mask)
    _, (cc, rc, split), forward_mask = best
    return BidirectionalColoring(p, cc, rc, forward_mask, split, (col_only.ncolors, row_only.ncolors))
