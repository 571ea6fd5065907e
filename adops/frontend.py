"""The NumPy face shared by every traced array: protocol hooks, operators and methods, all routed to the registry.

An engine subclasses ``Traced``, gives its objects ``primal`` and ``_level`` and implements ``_apply(op, arrays,
params)``. Whichever object NumPy asks, the call goes to the argument with the highest level (its engine call is
the innermost), which treats lower-level values as constants: one shared rule, no perturbation confusion, and
forward-over-reverse with neither engine importing the other.
"""

from __future__ import annotations

import weakref

import numpy as np

from . import advice
from .core import DISPATCH, NO_PARAMS, OPS, UFUNC_CALLS, callable_name, ndim, reject_out, shape
from .trees import refuse_subclass

SUBCLASSES = (np.ma.MaskedArray, np.matrix)  # ndarray subclasses that change what NumPy code means
_SAFE_TYPES = {float, int, bool, np.float64, np.float32, np.ndarray}  # checked once per type; grows as types are seen


def _check_subclass(a, engine: str, fn) -> None:
    """Refuse np.ma/np.matrix operands; remember any other type as safe (the hot path is one set lookup)."""
    if isinstance(a, SUBCLASSES):
        refuse_subclass(a, f"{engine}: {callable_name(fn) if not isinstance(fn, str) else fn}")
    _SAFE_TYPES.add(type(a))


def _top(self, arrays):
    top = self
    level = self._level
    for a in arrays:
        if isinstance(a, Traced) and a._level > level:
            top, level = a, a._level
    return top


class Traced:
    """Mixin giving a traced value the NumPy API. Subclasses set ``engine`` and ``mode`` for error messages."""

    __slots__ = ("_aliased",)  # weak references to the traced arrays that share this one's memory (views)
    __array_priority__ = 1000.0
    engine = "adops"
    mode = "differentiation"

    # ---- protocol hooks -------------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        for a in inputs:
            if type(a) not in _SAFE_TYPES:
                _check_subclass(a, self.engine, ufunc)
        if method == "__call__" and not kwargs:
            op = UFUNC_CALLS.get(ufunc)
            if op is not None:
                return _top(self, inputs)._apply(op, inputs, NO_PARAMS)
        out = kwargs.get("out")
        if out is not None and not any(isinstance(o, Traced) for o in out):
            raise TypeError(f"{callable_name(ufunc)}: an in-place write of a traced result into a plain NumPy array "
                            "(out=, or s += y where s = np.zeros(...)) would drop its derivative; start an "
                            "accumulator from a number (s = 0.0 broadcasts), or write s = s + y for a new array")
        if method == "outer":
            return _outer(ufunc, inputs, kwargs)
        if method == "at" or (method == "reduceat" and (ufunc, method) not in DISPATCH):
            _refuse_method(ufunc, method)
        return self._dispatch(ufunc if method == "__call__" else (ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        for a in args:  # (np.matrix and np.ma do not always show in ``types``: look at the arguments, and in lists)
            for b in (a if type(a) in (list, tuple) else (a,)):
                if type(b) not in _SAFE_TYPES:
                    _check_subclass(b, self.engine, func)
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
        out = _top(self, arrays)._apply(op, arrays, params)
        if isinstance(out, Traced):
            _mark_views(out, arrays)
        return out

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
        if type(b if a is self else a) not in _SAFE_TYPES:
            _check_subclass(b if a is self else a, self.engine, f"np.{OPS[name].name}")
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
    def __pos__(self): return np.positive(self)  # a new array, as NumPy's +x
    def __abs__(self): return self._apply(OPS["abs"], (self,), NO_PARAMS)
    def __lt__(self, other): return self._binary("less", self, other)
    def __le__(self, other): return self._binary("less_equal", self, other)
    def __gt__(self, other): return self._binary("greater", self, other)
    def __ge__(self, other): return self._binary("greater_equal", self, other)
    def __eq__(self, other): return self._binary("equal", self, other)
    def __ne__(self, other): return self._binary("not_equal", self, other)
    __hash__ = None

    def __getitem__(self, index):
        if _has_bool_scalar(index):  # NumPy: a bool is a 0-d mask, a new axis of length 1 (True) or 0 (False)
            shape_, index = expand_bool_scalars(self.shape, index)
            return np.reshape(self, shape_)[index]
        return self._dispatch("x[index]", (self, index), NO_PARAMS)

    # ---- in-place operators: NumPy's aliasing (every name bound to this array sees its new value) -------------
    def _inplace(self, symbol, new):
        """``self <symbol>= other`` given ``new = self <symbol> other``: this object takes the new value."""
        leaf = self.primal
        while isinstance(leaf, Traced):
            leaf = leaf.primal
        if not isinstance(leaf, np.ndarray):
            return new  # a NumPy scalar is immutable: x += y rebinds x (as NumPy does), aliases keep the old value
        if not leaf.flags.writeable:
            raise ValueError(f"{self.engine}: x {symbol}= y: output array is read-only (as in NumPy: x is a read-only "
                             f"view, e.g. of np.broadcast_to or np.diagonal); write x = x {symbol} y for a new array")
        refs = getattr(self, "_aliased", None)
        if refs and any(r() is not None for r in refs):
            raise TypeError(f"{self.engine}: x {symbol}= y on a traced array that shares memory with another one (a "
                            "view such as x[i], x.T or x.reshape(...), or an array such a view was taken from) "
                            "would change both in NumPy, which the engines do not follow; write x = x "
                            f"{symbol} y for a new array (and build arrays with np.where or np.concatenate "
                            "instead of item assignment)")
        if shape(new) != self.shape:
            raise ValueError(f"{self.engine}: x {symbol}= y: non-broadcastable output operand with shape "
                             f"{self.shape} doesn't match the broadcast shape {shape(new)} (as in NumPy); write "
                             f"x = x {symbol} y for a new array of the broadcast shape")
        if not isinstance(new, Traced) or type(new) is not type(self) or new._level != self._level:
            why = ("has no derivative (a piecewise constant)" if not isinstance(new, Traced) else
                   "belongs to an inner differentiation call")
            raise TypeError(f"{self.engine}: x {symbol}= y cannot update x in place: the result {why}; write "
                            f"x = x {symbol} y instead")
        if new.dtype != self.dtype:
            new = new.astype(self.dtype)  # NumPy keeps x's dtype (same-kind casting)
        keep_ndarray(new)  # a 0-d array stays a 0-d array (NumPy's ufuncs would hand back a scalar)
        for name in _state_slots(type(self)):
            setattr(self, name, getattr(new, name))
        self._aliased = None  # a new value in new memory: the views taken before (all gone) are not views of it
        return self

    def __iadd__(self, other): return self._inplace("+", self + other)
    def __isub__(self, other): return self._inplace("-", self - other)
    def __imul__(self, other): return self._inplace("*", self * other)
    def __itruediv__(self, other): return self._inplace("/", self / other)
    def __ipow__(self, other): return self._inplace("**", self ** other)
    def __ifloordiv__(self, other): return self._inplace("//", self // other)
    def __imod__(self, other): return self._inplace("%", self % other)
    def __imatmul__(self, other): return self._inplace("@", self @ other)

    def __setitem__(self, index, value):
        raise TypeError(f"{self.engine}: item assignment into a traced array would bypass the derivative; build "
                        "the new array instead, e.g. with np.where(mask, value, x) or np.concatenate")

    # ---- conversions that would silently drop the derivative ---------------------------------------------
    def _drop(self, what):
        raise TypeError(f"{self.engine}: {what} of a traced array would drop its derivative; keep it an array "
                        "(use np.stack to build arrays from traced values), or differentiate a function that "
                        "returns it")

    def __float__(self): raise TypeError(advice.to_number(self.engine, "float()"))
    def __int__(self): raise TypeError(advice.to_number(self.engine, "int()"))
    def __complex__(self): raise TypeError(advice.to_number(self.engine, "complex()"))
    def __index__(self): self._drop("using as an index")

    def __array__(self, dtype=None, copy=None):
        raise TypeError(advice.to_array(self.engine))

    def __bool__(self) -> bool:
        return bool(self.primal)

    # ---- ndarray methods, as calls of the NumPy functions ----------------------------------------------------
    def reshape(self, *shape, order="C"):
        return np.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)

    def transpose(self, *axes):
        return np.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        dtype = np.dtype(dtype)
        if not np.can_cast(self.dtype, dtype, casting):
            raise TypeError(f"{self.engine}: x.astype: cannot cast array data from {self.dtype!r} to {dtype!r} "
                            f"according to the rule '{casting}' (as in NumPy)")
        if not copy and dtype == self.dtype:
            return self  # NumPy returns the array itself: aliasing (and in-place operators) follow
        # a cast to integers or booleans is piecewise constant: no derivative flows through it
        return self._op("astype" if np.issubdtype(dtype, np.inexact) else "astype_discrete", self, dtype=dtype)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
        return np.sum(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kw)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
        return np.mean(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kw)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
        return np.prod(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kw)

    def max(self, axis=None, out=None, keepdims=False, **kw):
        return np.max(self, axis=axis, out=out, keepdims=keepdims, **kw)

    def min(self, axis=None, out=None, keepdims=False, **kw):
        return np.min(self, axis=axis, out=out, keepdims=keepdims, **kw)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
        return np.var(self, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, **kw)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
        return np.std(self, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, **kw)

    def cumsum(self, axis=None, dtype=None, out=None): return np.cumsum(self, axis=axis, dtype=dtype, out=out)
    def cumprod(self, axis=None, dtype=None, out=None): return np.cumprod(self, axis=axis, dtype=dtype, out=out)
    def swapaxes(self, axis1, axis2): return np.swapaxes(self, axis1, axis2)
    def ravel(self, order="C"): return np.ravel(self, order)
    def flatten(self, order="C"): return np.ravel(self, order).copy()  # a copy, as NumPy's flatten
    def squeeze(self, axis=None): return np.squeeze(self, axis=axis)
    def dot(self, b, out=None): return np.dot(self, b, out)
    def clip(self, min=None, max=None, out=None, **kw): return np.clip(self, min, max, out=out, **kw)
    def copy(self, order="C"): return np.copy(self, order)
    def round(self, decimals=0, out=None): return np.round(self, decimals, out)
    def trace(self, offset=0, axis1=0, axis2=1, dtype=None, out=None):
        return np.trace(self, offset, axis1, axis2, dtype, out)

    def diagonal(self, offset=0, axis1=0, axis2=1): return np.diagonal(self, offset, axis1, axis2)
    def take(self, indices, axis=None, out=None, mode="raise"): return np.take(self, indices, axis, out, mode)
    def repeat(self, repeats, axis=None): return np.repeat(self, repeats, axis)
    def conj(self): return np.conjugate(self)
    def conjugate(self): return np.conjugate(self)
    def nonzero(self): return np.nonzero(self)
    def __mod__(self, other): return np.remainder(self, other)
    def __rmod__(self, other): return np.remainder(other, self)
    def __divmod__(self, other): return np.divmod(self, other)
    def __rdivmod__(self, other): return np.divmod(other, self)
    def argmax(self, axis=None, out=None, keepdims=False): return np.argmax(self, axis, out, keepdims=keepdims)
    def argmin(self, axis=None, out=None, keepdims=False): return np.argmin(self, axis, out, keepdims=keepdims)
    def argsort(self, axis=-1, kind=None, order=None): return np.argsort(self, axis, kind, order)
    def item(self): self._drop(".item()")
    def tolist(self): self._drop(".tolist()")

    @property
    def real(self):
        return np.real(self)

    @property
    def imag(self):
        return np.imag(self)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def view(self, dtype=None, type=None):
        if dtype is None and type is None:
            return self  # the same data under another name: in-place changes show through both, as in NumPy
        raise TypeError(f"{self.engine}: x.view(dtype or type) reinterprets the array's memory, which has no "
                        "derivative; use x.astype(dtype) to convert values, or x.view() for another name")

    def all(self, axis=None, out=None, keepdims=False, **kw): return np.all(self, axis, out, keepdims, **kw)
    def any(self, axis=None, out=None, keepdims=False, **kw): return np.any(self, axis, out, keepdims, **kw)
    def searchsorted(self, v, side="left", sorter=None): return np.searchsorted(self, v, side, sorter)

    @property
    def mT(self):
        if self.ndim < 2:
            raise ValueError("matrix transpose with ndim < 2 is undefined")
        return np.swapaxes(self, -1, -2)

    def _in_place_method(self, what, instead):
        raise TypeError(f"{self.engine}: x.{what} changes x in place, which differentiation cannot follow; write "
                        f"{instead}")

    def sort(self, axis=-1, kind=None, order=None): self._in_place_method("sort()", "x = np.sort(x)")
    def fill(self, value): self._in_place_method("fill(value)", "x = np.full_like(x, value) (no derivative)")
    def put(self, indices, values, mode="raise"):
        self._in_place_method("put(indices, values)", "x = np.where(mask, values, x) with a boolean mask")

    def compress(self, condition, axis=None, out=None):
        raise TypeError(f"{self.engine}: x.compress has no rule; write x[np.asarray(condition, bool)] (axis=None: "
                        "x.ravel()[...]), or np.take(x, np.flatnonzero(condition), axis)")

    def partition(self, kth, axis=-1, kind="introselect", order=None):
        self._in_place_method("partition(kth)", "x = np.sort(x, axis) (a full sort is a valid partition)")

    def argpartition(self, kth, axis=-1, kind="introselect", order=None):
        raise TypeError(f"{self.engine}: x.argpartition has no rule; write np.argsort(x, axis) (a full sort is a "
                        "valid partition)")

    def _no_memory_layout(self, what):
        raise TypeError(f"{self.engine}: x.{what} describes an ndarray's memory, which traced arrays do not expose; "
                        "use x.shape, x.dtype or x.ndim")

    strides = property(lambda self: self._no_memory_layout("strides"))
    flags = property(lambda self: self._no_memory_layout("flags"))
    base = property(lambda self: self._no_memory_layout("base"))

    def __array_namespace__(self, api_version=None):
        raise TypeError(f"{self.engine}: traced arrays do not implement the array API standard namespace; call "
                        "NumPy functions (np.*) on them directly")

    @property
    def flat(self):
        raise TypeError(f"{self.engine}: x.flat (a flat iterator) is not supported on traced arrays; use x.ravel() "
                        "(x.ravel()[i] to read, iteration over x.ravel() to loop)")

    def __round__(self, ndigits=None):
        leaf = self.primal
        while isinstance(leaf, Traced) and not getattr(leaf, "records_values", False):
            leaf = leaf.primal
        if isinstance(leaf, Traced):  # a value being recorded for replay: round() of it is a guard (adops.replay)
            return round(leaf, ndigits)
        if isinstance(leaf, np.ndarray):  # NumPy arrays, 0-d included, have no round(); their scalars do
            raise TypeError(f"{self.engine}: round() of an array is a TypeError in NumPy (ndarray doesn't define "
                            "__round__); use np.round(x, decimals)")
        return round(leaf, ndigits)  # rounding is piecewise constant: the value with no derivative


# ---- NumPy semantics the protocol hooks need, independent of any op --------------------------------------------
_STATE_SLOTS: dict = {}


def _state_slots(cls) -> tuple:
    """The slots that hold a traced object's value (what an in-place operator replaces)."""
    names = _STATE_SLOTS.get(cls)
    if names is None:
        names = tuple(n for c in cls.__mro__ for n in getattr(c, "__slots__", ())
                      if n not in ("__weakref__", "__dict__", "_aliased"))
        _STATE_SLOTS[cls] = names
    return names


def keep_ndarray(new):
    """Make a fresh traced result whose value is a NumPy scalar hold a 0-d ndarray instead (where NumPy gives an
    array: ``np.copy`` of a 0-d array, a 0-d array after ``+=``). Only for objects no one else holds yet."""
    inner = new
    while isinstance(inner.primal, Traced):
        inner = inner.primal
    if not isinstance(inner.primal, np.ndarray):
        inner.primal = np.asarray(inner.primal)
    return new


def _leaf(x):
    while isinstance(x, Traced):
        x = x.primal
    return x


def _mark_views(out, arrays) -> None:
    """Flag ``out`` and the traced inputs whose memory it shares (NumPy views), so in-place operators on either,
    which NumPy would show through both, are refused instead of silently changing only one."""
    leaf = _leaf(out)
    if type(leaf) is not np.ndarray or leaf.base is None:  # (NumPy scalars share no memory)
        return
    for a in arrays:
        if isinstance(a, Traced):
            other = _leaf(a)
            if isinstance(other, np.ndarray) and np.may_share_memory(leaf, other):
                _add_alias(out, a)
                _add_alias(a, out)


def _add_alias(x, other) -> None:
    """Remember that ``x`` shares memory with ``other`` for as long as ``other`` lives (a weak reference), so an
    in-place operator on ``x`` is refused only while the view (or its base) can still be seen."""
    try:
        ref = weakref.ref(other)
    except TypeError:  # a traced kind without weak references: shared for good
        ref = _ALWAYS
    refs = getattr(x, "_aliased", None)
    if refs is None:
        x._aliased = [ref]
    else:
        refs[:] = [r for r in refs if r() is not None]
        refs.append(ref)


def _ALWAYS():
    return True


def _outer(ufunc, inputs, kwargs):
    """``ufunc.outer(a, b)``: every pair, i.e. ``ufunc(a[..., None, ..., None], b)`` with one new axis per axis of b."""
    name = f"{callable_name(ufunc)}.outer"
    if len(inputs) != 2:
        raise TypeError(f"{name}: takes exactly two arrays, got {len(inputs)}")
    reject_out(name, **kwargs)
    a, b = inputs
    return ufunc(np.reshape(a, shape(a) + (1,) * ndim(b)), b)


def _refuse_method(ufunc, method):
    name = f"{callable_name(ufunc)}.{method}"
    if method == "at":
        raise TypeError(f"{name}(a, indices, b) writes into a in place, which differentiation cannot follow; build "
                        "the result as a new array instead (e.g. a + a sum of one-hot terms, or np.where)")
    raise TypeError(f"{name} has no rule under differentiation; reduce each slice with "
                    f"{callable_name(ufunc)}.reduce (e.g. {callable_name(ufunc)}.reduce(x[i:j])) and np.stack "
                    "the results")


def _is_bool_scalar(i) -> bool:
    return isinstance(i, (bool, np.bool_)) or (isinstance(i, np.ndarray) and i.ndim == 0 and i.dtype == np.bool_)


def _has_bool_scalar(index) -> bool:
    if type(index) is tuple:
        return any(_is_bool_scalar(i) for i in index)
    return _is_bool_scalar(index)


def expand_bool_scalars(xshape: tuple, index) -> tuple:
    """Rewrite an index holding Python/0-d bools as NumPy reads it: each bool adds an axis of length 1 where it
    stands, indexed by the integer array ``[0]`` (True) or ``[]`` (False). Returns (reshaped shape, new index)."""
    items = index if isinstance(index, tuple) else (index,)

    def consumed(i):
        if i is None or i is Ellipsis or _is_bool_scalar(i):
            return 0
        if isinstance(i, (np.ndarray, list)) and np.asarray(i).dtype == np.bool_:
            return np.ndim(i)
        return 1

    used = sum(consumed(i) for i in items)
    new_shape, new_index, axis = list(xshape), [], 0
    for i in items:
        if _is_bool_scalar(i):
            new_shape.insert(axis, 1)
            new_index.append(np.zeros(1 if i else 0, dtype=np.intp))
            axis += 1
            continue
        new_index.append(i)
        axis += (len(xshape) - used) if i is Ellipsis else consumed(i)
    return tuple(new_shape), tuple(new_index)
