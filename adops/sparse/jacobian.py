"""Compressed Jacobians: one batched pass over the colour seeds, decompressed into CSR.

The engines' Jacobians take ``ColourSeeds`` as the seed source of the one Jacobian driver (``adops.jacobians``):
one batched JVP or VJP per chunk of colours, checked and decompressed here. ``SparseJacobian`` holds a pattern and
its colourings so that many evaluations (a Newton iteration) reuse them.

>>> import numpy as np
>>> import dualad
>>> J = dualad.jacfwd(lambda u: u[2:] - 2 * u[1:-1] + u[:-2], sparsity="auto")(np.ones(6))
>>> J.shape, J.nnz
((4, 6), 12)
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ..jacobians import Inputs, Seeds, UnitSeeds, split_rows, stack_rows
from ..trees import normalize_argnums
from .coloring import Coloring, as_pattern, coloring
from .hessian import SparseHessian, StarSeeds, advice, mismatch, resolve_hessian
from .pattern import jacobian_sparsity
from .star import StarColoring

MODES = {"forward": "column", "reverse": "row"}
DENSE_WARN = 64  # a gradient's Jacobian detected fully dense at this many inputs or more is worth a warning


class SparseJacobian:
    """A Jacobian's sparsity pattern with its column colouring (forward mode) and row colouring (reverse mode),
    each computed once, when first asked for. Pass it as ``sparsity=`` to ``dualad.jacfwd`` or ``revad.jacrev``.

    This is the way to reuse a pattern across calls (a Newton iteration), and reuse is a promise the caller makes:
    every later call runs the *same program* as the detection did — the same control flow (Python ``if`` on
    values), the same non-differentiated and keyword arguments and closure constants wherever they shape the
    pattern (an index, a shift, a constant matrix's zeros). If the program changes, detect again (or pass
    ``sparsity="auto"``, which detects at every call). A changed program is caught only when one of its
    derivatives lands where the pattern has no entry of that colour (see ``Coloring.decompress``).

    >>> import numpy as np
    >>> sj = SparseJacobian.detect(lambda u: np.exp(u[1:] - u[:-1]), np.ones(5))
    >>> sj.coloring("forward").ncolors, sj.coloring("reverse").ncolors
    (2, 2)
    """

    def __init__(self, pattern):
        self.pattern = as_pattern(pattern, "adops.sparse.SparseJacobian")
        self._colorings: dict = {}

    @classmethod
    def detect(cls, f: Callable, *args, argnums: int | tuple = 0, local: bool = False,
               kwargs: dict | None = None) -> SparseJacobian:
        """Detect the pattern of ``f(*args, **kwargs)`` (see ``jacobian_sparsity``)."""
        return cls(jacobian_sparsity(f, *args, argnums=argnums, local=local, kwargs=kwargs))

    @property
    def shape(self) -> tuple:
        return self.pattern.shape

    def coloring(self, mode: str) -> Coloring:
        """The colouring for ``mode`` ("forward": columns, "reverse": rows), computed on first use."""
        kind = MODES.get(mode, mode)
        if kind not in self._colorings:
            self._colorings[kind] = coloring(self.pattern, kind)
        return self._colorings[kind]

    def __repr__(self) -> str:
        m, n = self.shape
        return f"SparseJacobian({m}x{n}, nnz={self.pattern.nnz}, colored={sorted(self._colorings)})"


AUTO_CACHE = 32  # colourings kept by "auto", looked up by the detected pattern (most recently used first)
_COLORED: OrderedDict = OrderedDict()  # (shape, nnz, digest of the pattern) -> SparseJacobian


def _auto(f, args, kwargs, nums) -> SparseJacobian:
    """Detect the pattern at this call, and reuse the colourings of an identical pattern seen before.

    Detection runs at every call: a pattern may change with anything the call depends on — non-differentiated
    arguments, keyword arguments, closure constants, globals, the branch a Python ``if`` takes — and nothing short
    of running ``f`` sees them all. Colouring is the costlier step and depends only on the pattern, so it is cached
    by the pattern itself (compared entry for entry, never by a key that could collide)."""
    return known(jacobian_sparsity(f, *args, argnums=nums, kwargs=kwargs))


def known(pattern: sp.csr_array) -> SparseJacobian:
    """The cached ``SparseJacobian`` of exactly this pattern, or a new one (then cached)."""
    pattern = as_pattern(pattern)
    indptr, indices = pattern.indptr.astype(np.int64), pattern.indices.astype(np.int64)
    digest = hashlib.blake2b(indptr.tobytes() + indices.tobytes(), digest_size=16).digest()
    key = (pattern.shape, pattern.nnz, digest)
    sj = _COLORED.get(key)
    if sj is not None and np.array_equal(sj.pattern.indptr, indptr) and np.array_equal(sj.pattern.indices, indices):
        _COLORED.move_to_end(key)
        return sj
    sj = SparseJacobian(pattern)
    _COLORED[key] = sj
    while len(_COLORED) > AUTO_CACHE:
        _COLORED.popitem(last=False)
    return sj


def resolve(sparsity, f: Callable, args: tuple, argnums, mode: str, fn: str, kwargs: dict | None = None) -> Coloring:
    """The colouring to use for ``sparsity``: a pattern (any 2-D sparse or dense matrix), a ``Coloring``, a
    ``SparseJacobian`` or ``"auto"``: detect the pattern at these arguments (``kwargs`` included) at every call,
    and colour it, reusing the colouring of an identical pattern detected before (see ``_auto``); a
    ``StarColoring`` or ``SparseHessian`` when ``f`` is a gradient (its Jacobian is a symmetric Hessian).

    When ``f`` is ``dualad.grad(g)`` or ``revad.grad(g)`` with the same ``argnums`` (its Jacobian is g's
    Hessian), anything but a ``SparseJacobian`` or ``Coloring`` is taken as a Hessian pattern
    (``resolve_hessian``): ``"auto"`` detects g's Hessian pattern, which is exact, where detecting through the
    gradient's own program may give a dense pattern (``dualad.grad`` carries n directions); a pattern matrix is
    star-coloured and verified like one passed to ``revad.hessian``."""
    nums, _ = normalize_argnums(argnums, len(args), fn)
    kind = MODES[mode]
    inner = getattr(f, "__fwdrev_grad__", None)  # f = grad(g, inner argnums): its Jacobian is g's Hessian
    if isinstance(sparsity, (StarColoring, SparseHessian)) or (
            inner is not None and normalize_argnums(inner[1], len(args), fn)[0] == nums
            and not isinstance(sparsity, (SparseJacobian, Coloring))):  # symmetric: star colouring, verified
        return resolve_hessian(sparsity, inner[0] if inner is not None else f, args, nums, fn, kwargs)
    if isinstance(sparsity, str):
        if sparsity != "auto":
            raise ValueError(f"{fn}: sparsity must be 'auto', a pattern matrix, a Coloring or a SparseJacobian, got "
                             f"{sparsity!r}")
        sj = _auto(f, args, kwargs, nums)
        if inner is not None and sj.pattern.nnz == sj.shape[0] * sj.shape[1] and sj.shape[1] >= DENSE_WARN:
            warnings.warn(f"{fn}: the Jacobian of the gradient of {_name(inner[0])} with respect to other arguments "
                          f"than the gradient's was detected fully dense ({sj.shape[0]} x {sj.shape[1]}): the "
                          "compressed pass costs as much as a dense one. For a sparse Hessian call "
                          "revad.hessian(f, argnums=<all of them>, sparsity='auto') and take the block",
                          UserWarning, stacklevel=6)  # the user's call, past the driver
        result = sj.coloring(mode)
    elif isinstance(sparsity, SparseJacobian):
        if (inner is not None and sparsity.shape[0] != sparsity.shape[1]  # a Hessian is square: g's own pattern?
                and normalize_argnums(inner[1], len(args), fn)[0] == nums):
            raise ValueError(f"{fn}: f is a gradient (of {_name(inner[0])}), so its Jacobian is a square Hessian, but "
                             f"the SparseJacobian passed is {sparsity.shape[0]} x {sparsity.shape[1]} (the pattern of "
                             "the function itself?); pass sparsity='auto' or a SparseHessian.detect(g, x) of the "
                             "function whose gradient this is")
        result = sparsity.coloring(mode)
    elif isinstance(sparsity, Coloring):
        result = sparsity if sparsity.mode == kind else coloring(sparsity.pattern, kind)
    else:
        result = coloring(as_pattern(sparsity, fn), kind)
    n = Inputs(args, nums, fn).total
    if result.shape[1] != n:
        raise ValueError(f"{fn}: the sparsity pattern has {result.shape[1]} columns but {_name(f)} has {n} input "
                         f"elements (pattern shape {result.shape}); detect it for these arguments, e.g. with "
                         "sparsity='auto'")
    return result


def _name(f) -> str:
    return f"f ({getattr(f, '__qualname__', type(f).__name__)})"


def seeds_for(sparsity, f: Callable, args: tuple, argnums, mode: str, fn: str, kwargs: dict | None = None) -> Seeds:
    """The colour seeds for ``sparsity`` (see ``resolve``): a column or row colouring's ``ColourSeeds``, or, for the
    Jacobian of a gradient, a star colouring's ``StarSeeds``."""
    col = resolve(sparsity, f, args, argnums, mode, fn, kwargs)
    return ColourSeeds(col, f, fn) if isinstance(col, Coloring) else StarSeeds(col, f, fn, advice(None))


class ColourSeeds(Seeds):
    """Seeds of the driver (``adops.jacobians.run``) for a compressed Jacobian: one direction per colour (column
    colouring: forward tangents; row colouring: reverse cotangents). Each pass's results are checked against the
    pattern's shape and reduced to the pattern's entries at once (``Coloring.recover``), so a chunk's memory is
    freed as it goes; the result is the CSR Jacobian (``Coloring.assemble``).

    >>> import numpy as np, revad
    >>> J = revad.jacrev(lambda u: u[1:] * u[:-1], sparsity=np.eye(2, 3) + np.eye(2, 3, k=1))(np.ones(3))
    >>> J.toarray()
    array([[1., 1., 0.],
           [0., 1., 1.]])
    """

    def __init__(self, col: Coloring, f: Callable, fn: str):
        self.col, self.f, self.fn = col, f, fn
        self.recovered: list = []
        self.spoiled: list = []  # colours whose compressed result holds an inf or NaN: redone member by member

    def start(self, p):
        if p.outputs is not None:  # reverse: the outputs are the seed side, known from the recording
            self._check(p.outputs.total)
        return self.col.ncolors

    def _check(self, outputs: int) -> None:
        if outputs != self.col.shape[0]:
            raise mismatch(self.fn, self.f, self.col.shape, outputs)

    def seeds(self, side, start, stop, batch):
        return split_rows(self.col.seeds(np.float64, start, stop), side, batch)

    def keep(self, p, start, stop, results, batch):
        if p.mode == "forward":
            self._check(p.outputs.total)
        block = stack_rows(results, p.result_side(), stop - start)
        # An inf in one member's direction (d log at 0) meets a structural zero of another's (a constant matrix's
        # zero) as 0 * inf = NaN, spoiling every entry of the colour; alone, each member's pass keeps it apart.
        spoiled = np.flatnonzero(~np.isfinite(block).all(axis=1))
        if spoiled.size:
            self.spoiled.extend((start + spoiled).tolist())
            block = block.copy()
            block[spoiled] = 0  # placeholders, overwritten by ``redo``
        self.recovered.append(self.col.recover(block, start, self.fn))

    def result(self, p):
        return self.col.assemble(self.recovered)

    def redo(self) -> np.ndarray:
        """The members (columns in forward mode, rows in reverse mode) of the spoiled colours, to be run again one
        at a time (``Members``); empty when every compressed result was finite."""
        if not self.spoiled:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(np.isin(self.col.colors, self.spoiled))

    def refine(self, members: np.ndarray, jac: sp.csr_array) -> Members:
        """The seeds that run ``members`` one at a time and put their entries into ``jac``."""
        return Members(self.col, members, jac, self.fn)


class Members(UnitSeeds):
    """One-hot seeds for some members of a colouring (``ColourSeeds.redo``), whose entries replace the ones of
    ``jac`` (the compressed result, CSR in the pattern's order): each entry then holds what the dense Jacobian
    holds there, inf and NaN included. A non-finite value outside the pattern is dropped, as a structural zero
    times an inf (the dense forward Jacobian of ``A @ np.log(u)`` at ``u[j] = 0`` has NaN in column j wherever
    ``A`` has a zero); a finite nonzero one still means the pattern misses a nonzero."""

    def __init__(self, col: Coloring, members: np.ndarray, jac: sp.csr_array, fn: str):
        self.col, self.members, self.jac, self.fn = col, members, jac, fn
        p = col.pattern
        if col.mode == "column":  # member j's entries: column j of the pattern, read at their rows
            self.entries = [np.flatnonzero(p.indices == j) for j in members.tolist()]
            rows = np.repeat(np.arange(p.shape[0], dtype=np.int64), np.diff(p.indptr))
            self.pos = [rows[e] for e in self.entries]
        else:  # member i's entries: row i of the pattern, read at their columns
            self.entries = [np.arange(p.indptr[i], p.indptr[i + 1]) for i in members.tolist()]
            self.pos = [p.indices[e].astype(np.int64) for e in self.entries]

    def keep(self, p, start, stop, results, batch):
        block = stack_rows(results, p.result_side(), stop - start)
        data = self.jac.data
        if block.dtype.kind == "c" or np.result_type(data, block) != data.dtype:
            self.jac.data = data = data.astype(np.result_type(data, block))
        for r in range(stop - start):
            entries, pos = self.entries[start + r], self.pos[start + r]
            row = block[r]
            stray = np.isfinite(row) & (row != 0)
            stray[pos] = False
            if stray.any():
                where = "output" if self.col.mode == "column" else "input"
                raise ValueError(f"{self.fn}: the sparsity pattern misses a nonzero: {where} "
                                 f"{int(np.argmax(stray))} received a derivative from member "
                                 f"{int(self.members[start + r])} alone, where the pattern has no entry; detect the "
                                 "pattern again (at this point, or globally) or pass a pattern that covers every "
                                 "nonzero")
            data[entries] = row[pos]

    def result(self, p):
        return self.jac
