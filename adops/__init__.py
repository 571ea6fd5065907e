"""adops: the op registry shared by fwdrev's engines.

Every primitive is one ``Op`` record: NumPy implementation, JVP rule, per-input VJP rules, SymPy form, flop cost
and test domain. ``OPS`` maps names to records; ``DISPATCH`` maps NumPy callables to them.

>>> import adops
>>> adops.OPS["tanh"].math
'd tanh = 1 - ans^2'
"""

# registration happens on import; ``counting`` is the counter's module (calling it still works, with a warning)
from . import (  # noqa: F401
    arrays,
    counting,
    decompositions,
    elementwise,
    linalg,
    ndarray_api,
    nn,
    queries,
    reductions,
    shapes,
    special,
    statistics,
)
from .core import DISPATCH, OPS, Domain, Op, Sample, call, callable_name, new_level
from .counting import Counts, count_ops
from .frontend import Traced

__all__ = ["OPS", "DISPATCH", "Op", "Domain", "Sample", "Traced", "call", "callable_name", "new_level", "count_ops",
           "counting", "Counts", "nn", "covered_callables"]


def covered_callables() -> list[str]:
    """Names of every NumPy callable (and operator) the registry answers for."""
    names = set()
    for op in OPS.values():
        for fn in op.numpy:
            names.add(callable_name(fn))
    for name in ("relu", "sigmoid", "softplus", "logsumexp", "softmax", "log_softmax"):
        names.add(f"adops.nn.{name}")
    return sorted(names)
