"""Compressed Jacobians: one batched pass over the colour seeds, decompressed into CSR.

Both engines call ``compressed_jacobian`` with their own batched pass (``push``: a JVP with k tangent directions in
forward mode, a VJP sweep with k cotangents in reverse mode); the colouring, the seeds, the checks and the
decompression live here once. ``SparseJacobian`` holds a pattern and its colourings so that many evaluations (a
Newton iteration) reuse them.

>>> import numpy as np
>>> import dualad
>>> J = dualad.jacfwd(lambda u: u[2:] - 2 * u[1:-1] + u[:-2], sparsity="auto")(np.ones(6))
>>> J.shape, J.nnz
((4, 6), 12)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from ..trees import as_input, flatten, leaf_dtype, leaf_shape, normalize_argnums
from .coloring import Coloring, as_pattern, coloring
from .hessian import SparseHessian
from .pattern import jacobian_sparsity
from .star import StarColoring

MODES = {"forward": "column", "reverse": "row"}


class SparseJacobian:
    """A Jacobian's sparsity pattern with its column colouring (forward mode) and row colouring (reverse mode),
    each computed once, when first asked for. Pass it as ``sparsity=`` to ``dualad.jacfwd`` or ``revad.jacrev``.

    >>> import numpy as np
    >>> sj = SparseJacobian.detect(lambda u: np.exp(u[1:] - u[:-1]), np.ones(5))
    >>> sj.coloring("forward").ncolors, sj.coloring("reverse").ncolors
    (2, 2)
    """

    def __init__(self, pattern):
        self.pattern = as_pattern(pattern, "adops.sparse.SparseJacobian")
        self._colorings: dict = {}

    @classmethod
    def detect(cls, f: Callable, *args, argnums: int | tuple = 0, local: bool = False) -> SparseJacobian:
        """Detect the pattern of ``f`` at ``args`` (see ``jacobian_sparsity``)."""
        return cls(jacobian_sparsity(f, *args, argnums=argnums, local=local))

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


_AUTO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # f -> {(argnums, input shapes and dtypes): SJ}


def _auto(f, args, nums) -> SparseJacobian:
    key = (nums, tuple((leaf_shape(leaf), str(leaf_dtype(leaf))) for a in nums for leaf in flatten(args[a])[0]))
    try:
        cache = _AUTO.setdefault(f, {})
    except TypeError:  # f cannot be weakly referenced: detect every time
        cache = {}
    if key not in cache:
        cache[key] = SparseJacobian.detect(f, *args, argnums=nums)
    return cache[key]


def input_size(args, nums, fn: str) -> int:
    return sum(int(np.prod(leaf_shape(as_input(leaf, fn)), dtype=np.int64)) for a in nums
               for leaf in flatten(args[a])[0])


def resolve(sparsity, f: Callable, args: tuple, argnums, mode: str, fn: str) -> Coloring:
    """The colouring to use for ``sparsity``: a pattern (any 2-D sparse or dense matrix), a ``Coloring``, a
    ``SparseJacobian`` or ``"auto"`` (detect at these arguments, colour, and cache per function and input shapes);
    a ``StarColoring`` or ``SparseHessian`` when ``f`` is a gradient (its Jacobian is a symmetric Hessian)."""
    nums, _ = normalize_argnums(argnums, len(args), fn)
    kind = MODES[mode]
    if isinstance(sparsity, str):
        if sparsity != "auto":
            raise ValueError(f"{fn}: sparsity must be 'auto', a pattern matrix, a Coloring or a SparseJacobian, got "
                             f"{sparsity!r}")
        result = _auto(f, args, nums).coloring(mode)
    elif isinstance(sparsity, (StarColoring, SparseHessian)):  # a Hessian (the Jacobian of a gradient): symmetric
        result = sparsity if isinstance(sparsity, StarColoring) else sparsity.coloring()
    elif isinstance(sparsity, SparseJacobian):
        result = sparsity.coloring(mode)
    elif isinstance(sparsity, Coloring):
        result = sparsity if sparsity.mode == kind else coloring(sparsity.pattern, kind)
    else:
        result = coloring(as_pattern(sparsity, fn), kind)
    n = input_size(args, nums, fn)
    if result.shape[1] != n:
        raise ValueError(f"{fn}: the sparsity pattern has {result.shape[1]} columns but {_name(f)} has {n} input "
                         f"elements (pattern shape {result.shape}); detect it for these arguments, e.g. with "
                         "sparsity='auto'")
    return result


def _name(f) -> str:
    return f"f ({getattr(f, '__qualname__', type(f).__name__)})"


def compressed_jacobian(push: Callable, col: Coloring, f: Callable, fn: str, dtype=np.float64) -> sp.csr_array:
    """Run ``push(seeds)`` once with all colour seeds as one batch, check the result's shape, and decompress.

    Forward (column colouring): ``push`` maps input tangents (k, n) to output tangents (k, m). Reverse (row
    colouring): output cotangents (k, m) to input cotangents (k, n).
    """
    m, n = col.shape
    compressed = np.asarray(push(col.seeds(dtype)))
    got = compressed.shape[1] if compressed.ndim == 2 else None
    want = m if col.mode == "column" else n
    if got != want:
        raise mismatch(fn, f, col.shape, got)
    return col.decompress(compressed, fn)


def mismatch(fn: str, f: Callable, shape: tuple, outputs) -> ValueError:
    """The error for a pattern whose row count is not f's number of output elements."""
    m, n = shape
    return ValueError(f"{fn}: the sparsity pattern is {m} x {n} but {_name(f)} has {outputs} output elements; "
                      "detect the pattern for this function and these arguments (sparsity='auto')")
