"""dualad: forward-mode automatic differentiation with dual numbers, on plain NumPy code.

>>> import numpy as np, dualad
>>> dualad.jacfwd(np.sin)(np.array([0.0, np.pi]))
array([[ 1.,  0.],
       [ 0., -1.]])
"""

from .api import derivative, grad, hessian, jacfwd, jvp
from .dual import Dual

__all__ = ["Dual", "jvp", "jacfwd", "grad", "derivative", "hessian"]
