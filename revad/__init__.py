"""revad: reverse-mode automatic differentiation with a tape (Wengert list), on plain NumPy code.

>>> import numpy as np, revad
>>> revad.grad(lambda x: np.sum(np.sin(x)))(np.array([0.0, np.pi]))
array([ 1., -1.])
"""

from adops.compiled import compiled

from .api import checkpoint, grad, hessian, jacrev, trace, value_and_grad, vjp
from .tape import Tape, Tracer

__all__ = ["Tape", "Tracer", "vjp", "grad", "value_and_grad", "jacrev", "hessian", "checkpoint", "trace", "compiled"]
