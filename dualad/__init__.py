"""dualad: forward-mode automatic differentiation with dual numbers, on plain NumPy code.

>>> import numpy as np, dualad
>>> dualad.jacfwd(lambda x: x ** 3)(np.array([1.0, 2.0]))
array([[ 3.,  0.],
       [ 0., 12.]])
"""

from adops.compiled import compiled

from .api import derivative, grad, hessian, jacfwd, jvp
from .dual import Dual

__all__ = ["Dual", "jvp", "jacfwd", "grad", "derivative", "hessian", "compiled"]
