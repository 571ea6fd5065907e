"""compare: the SymPy oracle for exact derivatives, and the cost comparison of forward and reverse mode.

``oracle`` gives exact Jacobians; ``workloads`` the shared corpus of test functions; ``cost`` counts, times and
weighs each differentiation strategy; ``choose`` picks a mode and explains it; ``plots`` and ``python -m compare``
turn measurements into pictures, CSV and a Markdown summary.

>>> import numpy as np, compare
>>> compare.jacobian(lambda x: np.sum(x * x), np.array([1.0, 2.0]), mode="auto")
array([2., 4.])
"""

from . import oracle, workloads
from .choose import Choice, explain, jacobian

__all__ = ["oracle", "workloads", "jacobian", "explain", "Choice"]
