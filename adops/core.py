"""The op record, the dispatch table, the shared level counter and the shape helpers every rule uses."""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

NO_PARAMS: dict = {}


@dataclass(frozen=True)
class Domain:
    """Where a primitive's inputs are sampled in tests, and where it is not differentiable."""

    low: float = -2.0
    high: float = 2.0
    kinks: tuple = ()


@dataclass(frozen=True)
class Sample:
    """One test call of a primitive: input shapes and a function calling the NumPy API on them."""

    shapes: tuple
    call: Callable
    label: str = ""


@dataclass(eq=False, kw_only=True)
class Op:
    """One primitive, every field together.

    ``impl(*arrays, **params)`` is the NumPy implementation, written so that leading batch axes pass
    through. ``jvp(tangents, ans, *primals, **params)`` gets ``None`` for a zero tangent and returns the
    output tangent (or ``None``: the output is a constant). Reverse rules come in one of two declared forms:
    ``vjps[i](ct, ans, *primals, **params)`` is the cotangent of input ``i`` (the sweep calls only the rules of
    inputs that need one), or ``vjp_all(ct, ans, *primals, **params)`` returns every input's cotangent at once
    (ops taking any number of arrays, or whose inputs share most of the work). ``sympy`` evaluates the op on
    object arrays of SymPy expressions. ``cost(*shapes, **params)`` counts primal flops.

    A record with ``outputs > 1`` returns several arrays (``impl`` returns a sequence of them, ``result`` builds
    the container the user gets back, e.g. NumPy's ``EighResult._make``). Its ``jvp`` returns one tangent per
    output (``None`` for a constant one), and its rules receive ``ans`` and ``ct`` as tuples with one entry per
    output, where ``ct[j] is None`` means output j's cotangent is a symbolic zero: the rule skips its terms.
    """

    name: str
    impl: Callable
    jvp: Callable | None
    vjps: tuple = ()
    sympy: Callable | None = None
    cost: Callable | None = None
    domain: Domain | tuple = field(default_factory=Domain)
    samples: tuple = ()
    numpy: tuple = ()  # NumPy callables this record answers for (documentation and coverage)
    composite: bool = False
    math: str = ""
    strong_zero: bool = False  # a zero tangent/cotangent gives an exact zero even through an infinite partial
    # How each output element depends on the input elements (read by sparsity detection, adops.sparse.pattern):
    # "elementwise" (the broadcast input elements at the same position), "select" (at most one input element each,
    # found by running the JVP on index tangents), "scatter" (the transpose of a select, index_add: each input
    # element adds into at most one output element, found by running the VJP), "choose" (np.where: the branch the
    # condition picks), "reduce" (the elements along params["axes"]), "matmul" (the contraction of np.matmul),
    # "contraction" (np.einsum: the contraction of params["terms"] into params["out"]), "probe" (a linear op of one
    # argument: its JVP on identity tangents),
    # "scan" (a running sum along params["axis"]: the elements of the line up to its own), "constant" (none: no
    # derivative), "dense" (every input element: the safe default for anything not classified)
    sparsity: str = "dense"
    # How the output depends on the inputs to second order (read by Hessian sparsity detection,
    # adops.sparse.hessian_pattern): "linear" (no second derivatives: sums, selections, scatters), "multilinear"
    # (linear in each argument on its own: products, matmul, einsum; second derivatives only across arguments),
    # "nonlinear" (the safe default; elementwise records refine it per pair of arguments from their SymPy form)
    curvature: str = "nonlinear"
    vjp_all: Callable | None = None
    outputs: int = 1
    result: Callable = tuple
    # Optional per-input rules for the reverse sweep alone, like ``vjps`` but free to return an
    # ``adops.cotangents.IndexAdd`` (zeros with values at an index, unbuilt) that the sweep adds in place into one
    # buffer per slot: indexing in a loop stays O(n). Every other caller of a rule gets ``vjps``' dense arrays.
    scatter_vjps: tuple = ()
    # The values the reverse rules (``vjps``, ``vjp_all``, ``scatter_vjps``) may read: "ans" and the positions of
    # the inputs; None (the safe default) means all. Of any other array a rule reads at most the shape, dtype and
    # ndim, so a tape keeps a ``stand_in`` in its place and lets the array go as soon as the program is done with it
    # (x @ W before the bias is added: neither matmul's nor add's rules read it). ``tests/test_reads.py`` runs every
    # rule with a ``ShapeOnly`` (which raises on any read) for what its record declares unread.
    reads: frozenset | None = None

    def __post_init__(self):
        if not isinstance(self.vjps, tuple):
            raise TypeError(f"Op {self.name!r}: vjps must be a tuple of per-input rules; declare an all-inputs rule "
                            "as vjp_all=")
        if self.vjp_all is not None and self.vjps:
            raise TypeError(f"Op {self.name!r}: declare per-input vjps or one vjp_all, not both")
        if self.scatter_vjps and len(self.scatter_vjps) != len(self.vjps):
            raise TypeError(f"Op {self.name!r}: scatter_vjps needs one rule per entry of vjps ({len(self.vjps)}), got "
                            f"{len(self.scatter_vjps)}")
        if self.sympy is None:
            self.sympy = self.impl
        if self.cost is None:
            self.cost = _no_flops

    @property
    def differentiable(self) -> bool:
        return self.jvp is not None

    def vjp(self, ct, ans, *primals, **params) -> tuple:
        """All input cotangents at once (``None`` where the input has no derivative)."""
        if self.vjp_all is not None:
            return tuple(self.vjp_all(ct, ans, *primals, **params))
        rules = [self.vjps[i] for i in range(len(primals))]
        return tuple(None if rule is None else rule(ct, ans, *primals, **params) for rule in rules)

    def __repr__(self) -> str:
        return f"<op {self.name}>"


class ShapeOnly:
    """What a record may keep of an array its reverse rules never read (``Op.reads``): the shape and the dtype.
    Anything else raises, so a rule that reads a value its record declares unread fails loudly, never silently.

    >>> v = ShapeOnly(np.zeros((2, 3), dtype=np.float32))
    >>> v.shape, v.ndim, v.dtype
    ((2, 3), 2, dtype('float32'))
    """

    __slots__ = ("shape", "dtype")
    __array_ufunc__ = None  # NumPy's operators and ufuncs refuse it (TypeError)

    def __init__(self, value):
        self.shape = value.shape
        self.dtype = value.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def _refuse(self, *args, **kwargs):
        raise TypeError(f"a reverse rule read the values of an array of shape {self.shape} that its record declares "
                        "unread (Op.reads): add it to the op's reads")

    def __array_function__(self, func, types, args, kwargs):
        if func is np.shape:  # shape queries are answered; every other NumPy function refuses
            return self.shape
        if func is np.ndim:
            return len(self.shape)
        self._refuse()

    __array__ = __bool__ = __float__ = __int__ = __index__ = __len__ = __iter__ = _refuse
    __getitem__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __hash__ = None

    def __repr__(self) -> str:
        return f"ShapeOnly(shape={self.shape}, dtype={self.dtype})"


_STAND_INS: dict = {}  # (shape, dtype) -> a stand-in, shared: they are read-only
_NANS: dict = {}  # dtype -> the one read-only NaN every stand-in of that dtype views (never cleared: is_stand_in)


def stand_in(value: np.ndarray) -> np.ndarray:
    """What a tape keeps of a float array its rules never read (``Op.reads``): a read-only view of one NaN with the
    array's shape and dtype, shared by every array of that shape. Unlike a ``ShapeOnly`` (which the tests give the
    rules, to prove they read nothing more) it is a plain ndarray, which the garbage collector does not track, so a
    long tape of records holding them stays untracked (a tracked object in each record made the collector walk the
    whole tape: an indexing loop's per-element cost grew 1.3x from n = 1,000 to 50,000). A rule that read it anyway
    would give NaN.

    >>> s = stand_in(np.ones((2, 3)))
    >>> s.shape, s.dtype, bool(np.isnan(s).all()), s.flags.writeable
    ((2, 3), dtype('float64'), True, False)
    """
    key = (value.shape, value.dtype)
    held = _STAND_INS.get(key)
    if held is None:
        if len(_STAND_INS) >= 1024:
            _STAND_INS.clear()
        nan = _NANS.get(value.dtype)
        if nan is None:
            nan = _NANS[value.dtype] = np.full(1, np.nan, dtype=value.dtype)
            nan.flags.writeable = False
        held = _STAND_INS[key] = np.ndarray(value.shape, value.dtype, buffer=nan, strides=(0,) * value.ndim)
    return held


def is_stand_in(value) -> bool:
    """Whether ``value`` is a ``stand_in``: what a tape shows as '(not kept)' and does not count as held.

    >>> is_stand_in(stand_in(np.ones(3))), is_stand_in(np.full(3, np.nan))
    (True, False)
    """
    return type(value) is np.ndarray and value.base is not None and value.base is _NANS.get(value.dtype)


def _no_flops(*shapes, **params) -> int:
    """Data movement only: no flops."""
    return 0


OPS: dict[str, Op] = {}
# NumPy callable (a ufunc, (ufunc, method), or an array function) -> (op, parse). ``parse(*args, **kwargs)``
# turns a NumPy call into (arrays, params) with axes made negative; ``None`` means a plain ufunc call.
DISPATCH: dict[Any, tuple[Op, Callable | None]] = {}
UFUNC_CALLS: dict[np.ufunc, Op] = {}


def register(op: Op, *callables, parse: Callable | None = None) -> Op:
    """Add ``op`` to the registry, answering for each NumPy callable in ``callables``."""
    if op.name in OPS:
        raise ValueError(f"register: an op named {op.name!r} is already registered")
    OPS[op.name] = op
    for fn in callables:
        add_callable(op, fn, parse)
    return op


def add_callable(op: Op, fn, parse: Callable | None = None) -> None:
    DISPATCH[fn] = (op, parse)
    if isinstance(fn, np.ufunc) and parse is None and not op.composite:  # (a composite runs its impl, traced)
        UFUNC_CALLS[fn] = op
    op.numpy = op.numpy + (fn,)


def callable_name(fn) -> str:
    """A readable name for a registry key: ``np.sin``, ``np.add.reduce``, ``np.linalg.inv``, ``x[index]``."""
    if isinstance(fn, tuple):
        return f"{callable_name(fn[0])}.{fn[1]}"
    if isinstance(fn, str):
        return fn
    module = getattr(fn, "__module__", "") or ""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn))
    if isinstance(fn, np.ufunc):
        return _ufunc_name(fn)
    if module == "numpy" or module.startswith("numpy._core"):
        return f"np.{fn.__name__}"
    if module.startswith("numpy.linalg"):
        return f"np.linalg.{name}"
    if module.startswith("numpy"):
        return f"{module.replace('numpy', 'np')}.{name}"
    return name


def _ufunc_name(fn: np.ufunc) -> str:
    """Where a ufunc lives: ``np.sin``, ``scipy.special.erf`` (ufuncs carry no module of their own)."""
    if getattr(np, fn.__name__, None) is fn:
        return f"np.{fn.__name__}"
    for module in ("scipy.special", "numpy.special"):
        mod = sys.modules.get(module)
        if mod is not None and getattr(mod, fn.__name__, None) is fn:
            return f"{module}.{fn.__name__}"
    return f"the ufunc {fn.__name__!r}"


def check_real(op: Op, engine: str, ans) -> None:
    """Refuse a complex ``ans`` (the engines call this only for results that are not float64 scalars or real
    ndarrays, which they check inline: the hot path pays one ``type`` test)."""
    dt = getattr(ans, "dtype", None)
    if (dt is not None and dt.kind == "c") or isinstance(ans, complex):
        reject_complex(op, engine, ans)


def reject_complex(op: Op, engine: str, ans) -> None:
    """Complex numbers are not supported: a complex value reaching a real rule would silently give wrong derivatives."""
    what = callable_name(op.numpy[0]) if op.numpy else op.name
    dtype = getattr(ans, "dtype", np.result_type(ans) if isinstance(ans, complex) else None)
    raise TypeError(f"{engine}: {what} produced a complex value (dtype {dtype}); complex numbers are not "
                    "supported under differentiation (a complex constant would pass silently through real "
                    "rules); carry the real and imaginary parts as two real arrays")


# ----- levels: one counter shared by every engine (JAX's trace stack, flattened) -----
_levels = itertools.count(1)


class _Infinities(threading.local):
    """Set when a rule has produced an infinite derivative (sqrt, log, ... at a domain edge) since the outermost
    transformation running in this thread began. Until then every derivative product is a plain ``*``; after it,
    products treat 0 * inf as 0, so an infinite derivative meets a zero partial the same way in both modes whichever
    op forms the product. ``depth`` counts the transformations running (evaluating ``f``, or sweeping back): a
    transformation started inside one (an inner ``grad``, a checkpoint re-run) keeps the flag, which an outer
    forward pass still needs after the inner call returns."""

    seen = False
    depth = 0


INFINITE = _Infinities()


def new_level() -> int:
    """A fresh level, higher than every level handed out before (the strong-zero flag starts clear in an outermost
    transformation)."""
    if not INFINITE.depth:
        INFINITE.seen = False
    return next(_levels)


def call_traced(f: Callable, args, kwargs: dict | None = None):
    """``f(*args, **kwargs)`` run by a transformation: transformations ``f`` starts are inner ones (``INFINITE``).

    >>> call_traced(max, (1, 2))
    2
    """
    INFINITE.depth += 1
    try:
        return f(*args, **kwargs) if kwargs else f(*args)
    finally:
        INFINITE.depth -= 1


# ----- shape helpers that work on ndarrays, Python scalars and traced values alike -----
def ndim(x) -> int:
    try:
        return x.ndim
    except AttributeError:
        return np.ndim(x)


def shape(x) -> tuple:
    try:
        return x.shape
    except AttributeError:
        return np.shape(x)


def batch_ndim(t, x) -> int:
    """How many leading batch axes tangent/cotangent ``t`` carries beyond primal ``x``."""
    return ndim(t) - ndim(x)


def unbroadcast(g, x, ans):
    """Sum ``g`` (shaped batch + ans.shape) down to batch + x.shape: the one place broadcasting is undone."""
    return sum_to(g, ndim(g) - ndim(ans), shape(x))


def sum_to(g, nb: int, xshape: tuple):
    """Sum ``g``, which has ``nb`` leading batch axes, down to batch + ``xshape``."""
    target = shape(g)[:nb] + tuple(xshape)
    gshape = shape(g)
    if gshape == target:
        return g
    lead = len(gshape) - len(target)
    axes = tuple(range(nb, nb + lead)) + tuple(
        nb + lead + i for i, s in enumerate(xshape) if s == 1 and gshape[nb + lead + i] != 1
    )
    if type(g) is np.ndarray:  # the ufunc and the method: np.sum's and np.reshape's Python wrappers cost 5 us each
        if axes:
            g = np.add.reduce(g, axis=axes)
        return g.reshape(target) if g.shape != target else g
    if axes:
        g = np.sum(g, axis=axes)
    return np.reshape(g, target) if shape(g) != target else g


def align(t, x, ans):
    """View tangent ``t`` of ``x`` with its batch axes in front of ans's rank, so it broadcasts correctly."""
    nb = ndim(t) - ndim(x)
    gap = ndim(ans) - ndim(x)
    if nb and gap > 0:
        ts = shape(t)
        return np.reshape(t, ts[:nb] + (1,) * gap + ts[nb:])
    return t


def fill(t, batch: tuple, ans):
    """Broadcast an output tangent up to its full shape batch + ans.shape."""
    target = batch + shape(ans)
    return t if shape(t) == target else np.broadcast_to(t, target)


def zeros_for(x, batch: tuple, like=None):
    """Zeros shaped batch + x.shape, in the dtype of ``like`` (or of x)."""
    return np.zeros(batch + shape(x), dtype=result_dtype(like if like is not None else x))


def result_dtype(x):
    dt = getattr(x, "dtype", None)
    if dt is None:
        return np.float64
    return dt if dt.kind in "fc" else np.float64


def normalize_axes(axis, nd: int, fn: str) -> tuple:
    """Axis argument -> sorted tuple of negative axes, with a clear error for a bad axis."""
    if axis is None:
        return tuple(range(-nd, 0))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -nd <= a < nd:
            raise ValueError(f"{fn}: axis {a} is out of bounds for an array of ndim {nd}")
        out.append(a - nd if a >= 0 else a)
    if len(set(out)) != len(out):
        raise ValueError(f"{fn}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def normalize_axis(axis, nd: int, fn: str) -> int:
    return normalize_axes(axis, nd, fn)[0]


def reject_out(fn: str, out=None, **unused) -> None:
    if out is not None:
        raise TypeError(f"{fn}: out= (or an in-place operator such as +=) writes into an existing array, which AD "
                        "cannot follow; use the returned value instead (y = x + 1, not x += 1)")
    bad = [k for k, v in unused.items() if v is not None and v is not np._NoValue]
    if bad:
        hints = [_KEYWORD_HINTS[k] for k in bad if k in _KEYWORD_HINTS]
        raise TypeError(f"{fn}: argument(s) {', '.join(bad)} are not supported under differentiation"
                        + (f"; {'; '.join(hints)}" if hints else ""))


_KEYWORD_HINTS = {
    "where": "for where=mask write the masked array with np.where(mask, x, identity) (np.sum(np.where(mask, x, 0)), "
             "np.mean: that sum / np.sum(mask)), or np.add.reduce(x, axis, where=mask, initial=...)",
    "initial": "for initial= combine it with the result (np.sum(x) + initial, np.maximum(np.max(x), initial))",
    "dtype": "for dtype= cast the input or the result with .astype(dtype)",
}


def call(op: Op, *arrays, **params):
    """Apply ``op`` to ``arrays``, handing the call to the highest-level traced argument if there is one.

    Rules use this for internal primitives that have no NumPy callable of their own (e.g. the scatter that
    transposes indexing), so those calls are differentiated like any other.
    """
    top = None
    for a in arrays:
        lvl = getattr(a, "_level", None)
        if lvl is not None and (top is None or lvl > top._level):
            top = a
    if top is None:
        top = recorder(params.get("index", ()))
        if top is None:
            return op.impl(*arrays, **params)
    return top._apply(op, arrays, params)


def recorder(index):
    """The replay recording an index refers to (an ``adops.replay.SlotArray`` or a recorded value in it), or None: an
    op indexing plain arrays (a seed, a one-hot tangent) with an index computed from recorded values is recorded too."""
    if type(index) is tuple:
        for i in index:
            rec = getattr(i, "_recorder", None)
            if rec is not None:
                return rec
            if getattr(i, "records_values", False):  # the recorded value itself (np.argsort of one, for np.sort)
                return i
    return None
