"""The NumPy face shared by every traced array: protocol hooks, operators and methods, all routed to the registry.

An engine subclasses ``Traced``, gives its objects ``primal`` and ``_level`` and implements ``_apply(op, arrays,
params)``. Whichever object NumPy asks, the call goes to the argument with the highest level (its engine call is
the innermost), which treats lower-level values as constants: one shared rule, no perturbation confusion, and
forward-over-reverse with neither engine importing the other.
"""

from __future__ import annotations

import numpy as np

from .core import DISPATCH, NO_PARAMS, OPS, UFUNC_CALLS, callable_name, reject_out


def _top(self, arrays):
    top = self
    level = self._level
    for a in arrays:
        if isinstance(a, Traced) and a._level > level:
            top, level = a, a._level
    return top


class Traced:
    """Mixin giving a traced value the NumPy API. Subclasses set ``engine`` and ``mode`` for error messages."""

    __slots__ = ()
    __array_priority__ = 1000.0
    engine = "adops"
    mode = "differentiation"

    # ---- protocol hooks -------------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and not kwargs:
            op = UFUNC_CALLS.get(ufunc)
            if op is not None:
                return _top(self, inputs)._apply(op, inputs, NO_PARAMS)
        return self._dispatch(ufunc if method == "__call__" else (ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return self._dispatch(func, args, kwargs)

    def _dispatch(self, key, args, kwargs):
        entry = DISPATCH.get(key)
        if entry is None:
            return self._no_rule(key, args, kwargs)
        op, parse = entry
        if op.composite:
            return op.impl(*args, **kwargs)
        if parse is None:
            reject_out(callable_name(key), **kwargs)
            arrays, params = args, NO_PARAMS
        else:
            arrays, params = parse(*args, **kwargs)
        return _top(self, arrays)._apply(op, arrays, params)

    def _no_rule(self, key, args, kwargs):
        raise TypeError(f"{callable_name(key)} has no {self.mode} rule in {self.engine}; write it with registered "
                        "NumPy functions (listed in docs/ops.md) or add a record to the adops registry")

    def _op(self, name, *arrays, **params):
        return _top(self, arrays)._apply(OPS[name], arrays, params)

    # ---- array attributes, read from the primal ----------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return np.shape(self.primal) if not hasattr(self.primal, "shape") else self.primal.shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def dtype(self):
        dt = getattr(self.primal, "dtype", None)  # (a getattr default would call np.result_type on a nested Dual)
        return dt if dt is not None else np.result_type(self.primal)

    @property
    def T(self):
        return np.transpose(self)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # ---- operators ------------------------------------------------------------------------------------
    def _binary(self, name, a, b):
        top = self
        if isinstance(b, Traced) and b._level > self._level:
            top = b
        elif isinstance(a, Traced) and a._level > self._level:
            top = a
        return top._apply(OPS[name], (a, b), NO_PARAMS)

    def __add__(self, other): return self._binary("add", self, other)
    def __radd__(self, other): return self._binary("add", other, self)
    def __sub__(self, other): return self._binary("subtract", self, other)
    def __rsub__(self, other): return self._binary("subtract", other, self)
    def __mul__(self, other): return self._binary("multiply", self, other)
    def __rmul__(self, other): return self._binary("multiply", other, self)
    def __truediv__(self, other): return self._binary("divide", self, other)
    def __rtruediv__(self, other): return self._binary("divide", other, self)
    def __pow__(self, other): return self._binary("power", self, other)
    def __rpow__(self, other): return self._binary("power", other, self)
    def __floordiv__(self, other): return self._binary("floor_divide", self, other)
    def __rfloordiv__(self, other): return self._binary("floor_divide", other, self)
    def __matmul__(self, other): return np.matmul(self, other)
    def __rmatmul__(self, other): return np.matmul(other, self)
    def __neg__(self): return self._apply(OPS["negative"], (self,), NO_PARAMS)
    def __pos__(self): return self
    def __abs__(self): return self._apply(OPS["abs"], (self,), NO_PARAMS)
    def __lt__(self, other): return self._binary("less", self, other)
    def __le__(self, other): return self._binary("less_equal", self, other)
    def __gt__(self, other): return self._binary("greater", self, other)
    def __ge__(self, other): return self._binary("greater_equal", self, other)
    def __eq__(self, other): return self._binary("equal", self, other)
    def __ne__(self, other): return self._binary("not_equal", self, other)
    __hash__ = None

    def __getitem__(self, index):
        return self._dispatch("x[index]", (self, index), NO_PARAMS)

    def __setitem__(self, index, value):
        raise TypeError(f"{self.engine}: item assignment into a traced array would bypass the derivative; build "
                        "the new array instead, e.g. with np.where(mask, value, x) or np.concatenate")

    # ---- conversions that would silently drop the derivative ---------------------------------------------
    def _drop(self, what):
        raise TypeError(f"{self.engine}: {what} of a traced array would drop its derivative; keep it an array "
                        "(use np.stack to build arrays from traced values), or differentiate a function that "
                        "returns it")

    def __float__(self): self._drop("float()")
    def __int__(self): self._drop("int()")
    def __complex__(self): self._drop("complex()")
    def __index__(self): self._drop("using as an index")

    def __array__(self, dtype=None, copy=None):
        self._drop("np.asarray()/np.array()")

    def __bool__(self) -> bool:
        return bool(self.primal)

    # ---- ndarray methods, as calls of the NumPy functions ----------------------------------------------------
    def reshape(self, *shape, order="C"):
        return np.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)

    def transpose(self, *axes):
        return np.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)

    def astype(self, dtype, **unused):
        dtype = np.dtype(dtype)
        # a cast to integers or booleans is piecewise constant: no derivative flows through it
        return self._op("astype" if np.issubdtype(dtype, np.inexact) else "astype_discrete", self, dtype=dtype)

    def sum(self, axis=None, keepdims=False, **kw): return np.sum(self, axis=axis, keepdims=keepdims, **kw)
    def mean(self, axis=None, keepdims=False, **kw): return np.mean(self, axis=axis, keepdims=keepdims, **kw)
    def prod(self, axis=None, keepdims=False, **kw): return np.prod(self, axis=axis, keepdims=keepdims, **kw)
    def max(self, axis=None, keepdims=False, **kw): return np.max(self, axis=axis, keepdims=keepdims, **kw)
    def min(self, axis=None, keepdims=False, **kw): return np.min(self, axis=axis, keepdims=keepdims, **kw)
    def var(self, axis=None, **kw): return np.var(self, axis=axis, **kw)
    def std(self, axis=None, **kw): return np.std(self, axis=axis, **kw)
    def cumsum(self, axis=None): return np.cumsum(self, axis=axis)
    def swapaxes(self, a, b): return np.swapaxes(self, a, b)
    def ravel(self): return np.ravel(self)
    def flatten(self): return np.ravel(self)
    def squeeze(self, axis=None): return np.squeeze(self, axis=axis)
    def dot(self, other): return np.dot(self, other)
    def clip(self, min=None, max=None): return np.clip(self, min, max)
    def copy(self): return self
    def round(self, decimals=0): return np.round(self, decimals)
    def __mod__(self, other): return np.remainder(self, other)
    def __rmod__(self, other): return np.remainder(other, self)
    def argmax(self, axis=None): return np.argmax(self.primal, axis=axis)
    def argmin(self, axis=None): return np.argmin(self.primal, axis=axis)
    def argsort(self, axis=-1): return np.argsort(self.primal, axis=axis)
    def item(self): self._drop(".item()")
    def tolist(self): self._drop(".tolist()")
