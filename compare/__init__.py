"""compare: the SymPy oracle for exact derivatives, and the cost comparison of forward and reverse mode.

``oracle`` gives exact Jacobians; ``workloads`` the shared corpus of test functions; ``cost`` and ``hessians``
count, time and weigh each differentiation strategy; ``choose`` and ``choose_hessian`` pick a mode (or a nesting)
from exact counts and the machine's calibrated constants (``calibration``) and explain it; ``python -m compare``
measures under controlled ``conditions`` and turns the ``findings`` into pictures, CSV and a Markdown ``report``.
``sparse`` adds the sparse axis: dense against coloured Jacobians, and ``bidirectional_jacobian`` (forward passes
and reverse sweeps together, for patterns such as the arrowhead that defeat one-sided colourings).

>>> import numpy as np, compare
>>> compare.jacobian(lambda x: np.sum(x * x), np.array([1.0, 2.0]), mode="auto")
array([2., 4.])
>>> compare.hessian(lambda x: np.sum(x ** 3), np.array([1.0, 2.0]))
array([[ 6.,  0.],
       [ 0., 12.]])
"""

from . import oracle, workloads
from .calibration import calibrate
from .choose import Choice, explain, jacobian
from .choose_hessian import HessianChoice, hessian
from .sparse import bidirectional_jacobian

__all__ = ["oracle", "workloads", "jacobian", "hessian", "explain", "calibrate", "Choice", "HessianChoice",
           "bidirectional_jacobian"]
