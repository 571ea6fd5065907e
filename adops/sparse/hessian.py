"""Compressed Hessians: a Hessian's pattern with its star colouring, reused across evaluations, and the choice of
colouring for ``dualad.hessian`` / ``revad.hessian`` (and for ``jacfwd``/``jacrev`` of a gradient).

A Hessian costs one batched pass of Hessian-vector products, one direction per colour, in whichever nesting the
caller runs (forward-over-forward, reverse-over-reverse, forward-over-reverse, reverse-over-forward): the compressed
products of a symmetric matrix are the same in both outer modes, so the outer ``jacfwd``/``jacrev`` takes the star
colouring as its ``sparsity`` and decompresses symmetrically (``StarColoring.decompress``).

>>> import numpy as np
>>> import revad
>>> H = revad.hessian(lambda x: np.sum(x[1:] * x[:-1] ** 2), sparsity="auto")(np.ones(5))
>>> H.shape, H.nnz
((5, 5), 12)
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from ..jacobians import Inputs, Seeds, UnitSeeds, split_rows, stack_rows
from ..trees import normalize_argnums
from .hessian_pattern import hessian_sparsity
from .star import StarColoring, as_symmetric, color_star


class SparseHessian:
    """A Hessian's symmetric sparsity pattern and its star colouring (computed once, when first asked for). Pass it
    as ``sparsity=`` to ``dualad.hessian``, ``revad.hessian``, or ``jacfwd``/``jacrev`` of a gradient.

    This is the way to reuse a pattern across calls (a Newton iteration), and reuse is a promise the caller makes:
    every later call runs the *same program* as the detection did — the same control flow (Python ``if`` on
    values), the same non-differentiated and keyword arguments and closure constants wherever they shape the
    pattern (an index picked by ``argmax``, a constant matrix's zeros). If the program changes, detect again (or
    pass ``sparsity="auto"``, which detects at every call). A pattern made by ``detect`` is trusted: a changed
    program is caught only where the products cross-check each other (see ``StarColoring.decompress``). A pattern
    you build yourself (``SparseHessian(matrix)``) is verified at every call with one extra random product.

    >>> import numpy as np
    >>> sh = SparseHessian.detect(lambda x: np.sum((x[1:] - x[:-1]) ** 2), np.ones(6))
    >>> sh.coloring().ncolors
    3
    """

    def __init__(self, pattern, verify: bool = True):
        self.pattern = as_symmetric(pattern, "adops.sparse.SparseHessian")
        self.verify = verify
        self._star: StarColoring | None = None

    @classmethod
    def detect(cls, f: Callable, *args, argnums: int | tuple | None = None, local: bool = False,
               kwargs: dict | None = None) -> SparseHessian:
        """Detect the Hessian pattern of ``f(*args, **kwargs)`` (see ``hessian_sparsity``)."""
        return cls(hessian_sparsity(f, *args, argnums=argnums, local=local, kwargs=kwargs), verify=False)

    @property
    def shape(self) -> tuple:
        return self.pattern.shape

    def coloring(self, mode: str = "symmetric") -> StarColoring:
        """The star colouring (the same for every mode), computed on first use."""
        if self._star is None:
            self._star = replace(color_star(self.pattern), verify=self.verify)
        return self._star

    def __repr__(self) -> str:
        n = self.shape[0]
        return f"SparseHessian({n}x{n}, nnz={self.pattern.nnz}, colored={self._star is not None})"


AUTO_CACHE = 32  # star colourings kept by "auto", looked up by the detected pattern (most recently used first)
_COLORED: OrderedDict = OrderedDict()  # (shape, nnz, digest of the pattern) -> SparseHessian


def known(pattern: sp.csr_array) -> SparseHessian:
    """The cached (detected) ``SparseHessian`` of exactly this pattern, or a new one (then cached)."""
    indptr, indices = pattern.indptr.astype(np.int64), pattern.indices.astype(np.int64)
    digest = hashlib.blake2b(indptr.tobytes() + indices.tobytes(), digest_size=16).digest()
    key = (pattern.shape, pattern.nnz, digest)
    sh = _COLORED.get(key)
    if sh is not None and np.array_equal(sh.pattern.indptr, indptr) and np.array_equal(sh.pattern.indices, indices):
        _COLORED.move_to_end(key)
        return sh
    sh = SparseHessian(pattern, verify=False)
    _COLORED[key] = sh
    while len(_COLORED) > AUTO_CACHE:
        _COLORED.popitem(last=False)
    return sh


def resolve_hessian(sparsity, f: Callable, args: tuple, argnums, fn: str, kwargs: dict | None = None
                    ) -> StarColoring:
    """The star colouring for ``sparsity``:

    - ``"auto"``: detect the pattern of ``f(*args, **kwargs)`` at *every call* (a pattern may change with
      non-differentiated or keyword arguments, closures, a Python branch, a value-dependent index), and colour it,
      reusing the colouring of an identical pattern seen before (cached by the pattern itself);
    - a ``SparseHessian``: its colouring (trusted if detected, verified with a random product if built by hand);
    - a ``StarColoring``: checked (``check()``), verified unless it came from detection;
    - a pattern matrix: symmetrized, coloured, verified with a random product at every call.

    A ``SparseJacobian`` or a column/row ``Coloring`` is refused: a Hessian's pattern is symmetric and recovered
    symmetrically."""
    from .coloring import Coloring

    nums, _ = normalize_argnums(argnums, len(args), fn)
    if isinstance(sparsity, str):
        if sparsity != "auto":
            raise ValueError(f"{fn}: sparsity must be 'auto', a pattern matrix, a StarColoring or a SparseHessian, "
                             f"got {sparsity!r}")
        star = known(hessian_sparsity(f, *args, argnums=nums, kwargs=kwargs)).coloring()
    elif isinstance(sparsity, SparseHessian):
        star = sparsity.coloring()
    elif isinstance(sparsity, StarColoring):
        try:
            sparsity.check()
        except AssertionError as e:
            raise ValueError(f"{fn}: the StarColoring passed as sparsity is not a valid star colouring ({e}); use "
                             "adops.sparse.color_star(pattern) or sparsity='auto'") from None
        star = sparsity
    elif type(sparsity).__name__ == "SparseJacobian" or isinstance(sparsity, Coloring):
        raise TypeError(f"{fn}: sparsity is a {type(sparsity).__name__}, made for a Jacobian; a Hessian needs a "
                        "symmetric pattern and a star colouring: pass sparsity='auto', a SparseHessian "
                        "(SparseHessian.detect(f, x)), a StarColoring (color_star(pattern)) or the pattern matrix")
    else:
        star = color_star(as_symmetric(sparsity, fn))
    n = Inputs(args, nums, fn).total
    if star.shape[0] != n:
        raise ValueError(f"{fn}: the Hessian sparsity pattern is {star.shape[0]} x {star.shape[1]} but "
                         f"{_name(f)} has {n} input elements; detect it for these arguments, e.g. with "
                         "sparsity='auto'")
    return star


def _name(f) -> str:
    return f"f ({getattr(f, '__qualname__', type(f).__name__)})"


def advice(sparsity) -> str:
    """What to do when the products contradict the pattern."""
    if isinstance(sparsity, str):
        return ("the detected pattern missed a derivative: this is a bug in adops.sparse.hessian_sparsity, please "
                "report it; meanwhile call without sparsity")
    return ("detect the pattern (sparsity='auto', or SparseHessian.detect at these arguments if the program "
            "changed since detection) or pass a pattern that covers every nonzero")


class StarSeeds(Seeds):
    """Seeds of the driver (``adops.jacobians.run``) for a compressed Hessian: one Hessian-vector product per colour
    of a star colouring, plus one in a random direction when ``star.verify``; decompressed symmetrically
    (``StarColoring.decompress``), the random product checking a pattern that was not detected.

    >>> import numpy as np, revad
    >>> star = color_star(np.eye(3))
    >>> revad.hessian(lambda x: np.sum(x ** 3), sparsity=star)(np.ones(3)).toarray()
    array([[6., 0., 0.],
           [0., 6., 0.],
           [0., 0., 6.]])
    """

    def __init__(self, star: StarColoring, f: Callable, fn: str, advice: str):
        self.star, self.f, self.fn, self.advice = star, f, fn, advice
        self.products: list = []
        self._seeds = None
        self.spoiled = np.zeros(0, dtype=np.int64)  # colours whose product holds an inf or NaN (see ``redo``)

    @classmethod
    def resolve(cls, sparsity, f: Callable, args: tuple, argnums, fn: str, kwargs: dict | None = None) -> StarSeeds:
        """The seeds of ``resolve_hessian(sparsity, ...)``, with what to advise if the products contradict it."""
        return cls(resolve_hessian(sparsity, f, args, argnums, fn, kwargs), f, fn, advice(sparsity))

    def start(self, p):
        n = self.star.shape[0]
        if p.outputs is not None and p.outputs.total != n:  # reverse: the gradient's outputs are the seed side
            raise mismatch(self.fn, self.f, (n, p.inputs.total), p.outputs.total)
        seeds = self.star.seeds(np.float64)
        if self.star.verify and n:
            v = np.random.default_rng(0).uniform(0.5, 1.5, n) * np.where(np.arange(n) % 2, 1, -1)
            seeds = np.vstack([seeds, v])
        self._seeds = seeds
        return seeds.shape[0]

    def seeds(self, side, start, stop, batch):
        return split_rows(self._seeds[start:stop], side, batch)

    def keep(self, p, start, stop, results, batch):
        side, n = p.result_side(), self.star.shape[0]
        if side.total != n:
            raise ValueError(f"{self.fn}: the Hessian-vector products of {_name(self.f)} have shape "
                             f"{(stop - start, side.total)}, expected "
                             f"{(stop - start, n)} for a {n} x {n} Hessian pattern; detect the pattern for this "
                             "function and these arguments (sparsity='auto')")
        self.products.append(stack_rows(results, side, stop - start))

    def result(self, p):
        n = self.star.shape[0]
        if n == 0:
            return sp.csr_array((0, 0), dtype=np.float64)
        products = np.concatenate(self.products) if len(self.products) > 1 else self.products[0]
        self.spoiled = np.flatnonzero(~np.isfinite(products[:self.star.ncolors]).all(axis=1))
        if self.spoiled.size:  # decompressed once ``refine`` has rebuilt the spoiled products
            return products
        return self._decompress(products)

    def _decompress(self, products: np.ndarray) -> sp.csr_array:
        probe = (self._seeds[-1], products[-1]) if self.star.verify else None
        return self.star.decompress(products[:self.star.ncolors], self.fn, probe=probe, advice=self.advice)

    def redo(self) -> np.ndarray:
        """The variables of the colours whose product holds an inf or NaN: an inf in one variable's column (d^2 log
        at 0) meets a structural zero of another's as 0 * inf = NaN, spoiling the product and, through the checks,
        raising a false 'misses a nonzero'. ``refine`` runs them one at a time."""
        return np.flatnonzero(np.isin(self.star.colors, self.spoiled))

    def refine(self, members: np.ndarray, products: np.ndarray) -> Seeds:
        """The seeds that run ``members`` one at a time and decompress the products rebuilt from their columns."""
        return _StarMembers(self, members, products)


class _StarMembers(UnitSeeds):
    """One Hessian-vector product per member of the spoiled colours (a column of the Hessian, as the dense one
    has it). Each spoiled product is rebuilt as the sum of its members' columns on the pattern, where a non-finite
    value outside the pattern is a structural zero times an inf and dropped; then decompressed as usual."""

    def __init__(self, seeds: StarSeeds, members: np.ndarray, products: np.ndarray):
        self.owner, self.members = seeds, members
        self.products = products.copy()
        self.products[seeds.spoiled] = 0

    def keep(self, p, start, stop, results, batch):
        block = stack_rows(results, p.result_side(), stop - start)
        star, pattern = self.owner.star, self.owner.star.pattern
        for r, j in enumerate(self.members[start:stop].tolist()):
            column = block[r]
            outside = np.ones(column.size, dtype=bool)
            outside[pattern.indices[pattern.indptr[j]:pattern.indptr[j + 1]]] = False  # symmetric: row j = column j
            column = np.where(outside & ~np.isfinite(column), 0, column)
            self.products[star.colors[j]] += column

    def result(self, p):
        return self.owner._decompress(self.products)


def mismatch(fn: str, f: Callable, shape: tuple, outputs) -> ValueError:
    """The error for a pattern whose row count is not f's number of output elements (Jacobians' and Hessians')."""
    m, n = shape
    return ValueError(f"{fn}: the sparsity pattern is {m} x {n} but {_name(f)} has {outputs} output elements; "
                      "detect the pattern for this function and these arguments (sparsity='auto')")
