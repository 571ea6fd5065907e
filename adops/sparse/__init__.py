"""Sparse Jacobians: colouring a pattern, and compressed passes seeded by the colours.

>>> import numpy as np
>>> from adops.sparse import color_columns
>>> color_columns(np.eye(3)).ncolors
1
"""

from .bidirectional import BidirectionalColoring, color_bidirectional
from .coloring import Coloring, as_pattern, color_columns, color_rows, coloring
from .hessian import SparseHessian
from .hessian_pattern import hessian_sparsity
from .jacobian import SparseJacobian
from .pattern import PatternArray, Varying, jacobian_sparsity
from .star import StarColoring, color_star

__all__ = ["SparseJacobian", "Coloring", "as_pattern", "color_columns", "color_rows", "coloring", "jacobian_sparsity",
           "PatternArray", "Varying", "StarColoring", "color_star",
           "hessian_sparsity", "SparseHessian", "BidirectionalColoring", "color_bidirectional"]
