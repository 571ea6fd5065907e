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

import weakref
from collections.abc import Callable

from ..trees import flatten, leaf_dtype, leaf_shape, normalize_argnums
from .hessian_pattern import hessian_sparsity
from .star import StarColoring, as_symmetric, color_star


class SparseHessian:
    """A Hessian's symmetric sparsity pattern and its star colouring (computed once, when first asked for). Pass it
    as ``sparsity=`` to ``dualad.hessian``, ``revad.hessian``, or ``jacfwd``/``jacrev`` of a gradient.

    >>> import numpy as np
    >>> sh = SparseHessian.detect(lambda x: np.sum((x[1:] - x[:-1]) ** 2), np.ones(6))
    >>> sh.coloring().ncolors
    3
    """

    def __init__(self, pattern):
        self.pattern = as_symmetric(pattern, "adops.sparse.SparseHessian")
        self._star: StarColoring | None = None

    @classmethod
    def detect(cls, f: Callable, *args, argnums: int | tuple | None = None, local: bool = False) -> SparseHessian:
        """Detect the Hessian pattern of ``f`` at ``args`` (see ``hessian_sparsity``)."""
        return cls(hessian_sparsity(f, *args, argnums=argnums, local=local))

    @property
    def shape(self) -> tuple:
        return self.pattern.shape

    def coloring(self, mode: str = "symmetric") -> StarColoring:
        """The star colouring (the same for every mode), computed on first use."""
        if self._star is None:
            self._star = color_star(self.pattern)
        return self._star

    def __repr__(self) -> str:
        n = self.shape[0]
        return f"SparseHessian({n}x{n}, nnz={self.pattern.nnz}, colored={self._star is not None})"


_AUTO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # f -> {(argnums, input shapes and dtypes): SH}


def resolve_hessian(sparsity, f: Callable, args: tuple, argnums, fn: str) -> StarColoring:
    """The star colouring for ``sparsity``: ``"auto"`` (detect at these arguments, colour, cache per function and
    input shapes), a ``SparseHessian``, a ``StarColoring``, or a pattern matrix (symmetrized, then coloured)."""
    nums, _ = normalize_argnums(argnums, len(args), fn)
    if isinstance(sparsity, str):
        if sparsity != "auto":
            raise ValueError(f"{fn}: sparsity must be 'auto', a pattern matrix, a StarColoring or a SparseHessian, "
                             f"got {sparsity!r}")
        key = (nums, tuple((leaf_shape(leaf), str(leaf_dtype(leaf))) for a in nums for leaf in flatten(args[a])[0]))
        try:
            cache = _AUTO.setdefault(f, {})
        except TypeError:  # f cannot be weakly referenced: detect every time
            cache = {}
        if key not in cache:
            cache[key] = SparseHessian.detect(f, *args, argnums=nums)
        return cache[key].coloring()
    if isinstance(sparsity, SparseHessian):
        return sparsity.coloring()
    if isinstance(sparsity, StarColoring):
        return sparsity
    return color_star(as_symmetric(getattr(sparsity, "pattern", sparsity), fn))
