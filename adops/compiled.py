"""``compiled(fn)``: record a derivative function's whole program once, replay it on new values, never stale.

The recording and the program are ``adops.replay``; the generated straight-line code is ``adops.replay_source``.
This module holds the public wrapper: argument signatures, the bounded cache of programs, the checks on arrays the
function captures, and the fallback to eager evaluation.
"""

from __future__ import annotations

import gc
import types
import warnings
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from .core import new_level
from .counting import STATE
from .frontend import Traced
from .replay import NotReplayable, Program, Rec, Stale, const_output
from .replay_source import generate
from .trees import flatten, same_structure, unflatten

_DYNAMIC_SCALARS = (float, np.float64, np.float32, np.float16, np.int64, np.int32, np.intp, np.bool_)


class ReplayWarning(UserWarning):
    """``compiled`` could not record a function faithfully and runs it eagerly for those arguments."""


def compiled(fn: Callable, *, max_programs: int = 8, generate_after: int = 10) -> Callable:
    """``fn`` recorded once per argument signature and replayed on new values (``jax.jit`` for derivatives).

    ``fn`` is typically a derivative function: ``revad.value_and_grad(f)``, ``revad.grad(f)``, ``revad.jacrev(f)``,
    ``dualad.jvp``-style closures, ``dualad.jacfwd(f)``, ``hessian``, or any function of them. The first call for
    given argument shapes and dtypes records *everything* it runs, the primal and the backward sweep's rule calls and
    cotangent sums alike, as a flat program of registry impls; later calls run that program on the new values with
    preallocated slots: no tracers, no NumPy dispatch protocols, no argument parsing. After ``generate_after``
    replays the program becomes straight-line Python source (compiled once with ``compile``).

    **What a program depends on.** Array arguments (and Python floats and NumPy scalars) are its inputs: their
    values may change freely. Everything else among the arguments (ints, bools, strings, None, other objects)
    selects a program by value (``==`` and ``hash``), as JAX's ``static_argnums`` would; an unhashable one (a
    mutable dataclass) makes the call run eagerly with a ``ReplayWarning``, since a change to it could not be seen.
    An object hashed by identity (a model object) is followed like a bound method's object: rebinding one of its
    attributes (``model.W = W_new``) records again; changing an array attribute in place is not seen.
    Non-differentiable ops (``x > 0``, ``np.argmax``, ``np.floor``, ``np.nonzero``) are recorded and re-run, so
    masks and indices are recomputed at every call. Wherever Python itself looked at a value computed from the
    inputs, ``if``/``while`` on a comparison (``bool()``), ``float()``, ``int()``, ``len()`` of a value-dependent
    shape, ``.item()``, ``.tolist()``, ``np.asarray`` of a mask, an index used by Python, the program holds a
    *guard*; a call whose guards come out differently records again, and up to ``max_programs`` programs (least
    recently used dropped) are kept per function, so a function alternating between two branches replays both.

    **Captured arrays.** Arrays and numbers that ``fn`` reads from closures or module globals (followed through the
    functions it captures, which are checked by identity too: redefining a helper records again), in lists, tuples
    and dicts it captures (``params["W"]``; up to 128 entries, nested ones within 256 in all), and the attributes of
    the object of a bound method (``self.W`` in ``revad.grad(model.loss)``) are constants of the program, checked by
    *identity* at every call: rebinding the name, item or attribute (``W = W_new``, ``params["W"] = W_new``) records
    again. An array changed *in place* keeps its identity and is **not detected**: whatever was computed from it
    while recording (the backward rules multiply it into the seeds as plain NumPy, Python decisions on its values)
    stays as recorded, so the replay would use the old values. Pass arrays that change as arguments (they are
    inputs), or call ``.clear()`` after changing one. Comparing a copy at every call would cost as much as the
    replay itself for the benchmark maps, so it is not done. Attributes of other objects (``model.W`` read inside a
    plain function) are not followed: the same rule applies to them.

    **Pure functions.** Like ``jax.jit``, replay assumes ``fn`` depends on nothing but its arguments and what it
    captures: random numbers drawn inside it (``np.random``), the time, or files read are fixed at the recording,
    and side effects (printing, appending to a list) happen when it records (and once more when its first replay is
    checked against an eager call), not at replays. Draw random numbers outside and pass them in.

    **Types are not values.** While recording, ``fn`` sees its array and float arguments as recorded values, as
    ``jax.jit`` shows tracers: ``isinstance(s, float)``, ``isinstance(data, np.ndarray)`` and ``type(x) is ...`` are
    False there, and no guard can see such a test, so a branch on an argument's *type* is replayed as the recording
    took it even where eager evaluation takes the other (not detected when both give the same numbers at the first
    replay's point). Branch on values, or pass the choice as a static argument.

    **Faithful or eager.** What a recording cannot follow (a NumPy function without a rule applied to a value
    computed from the inputs, item assignment into such a value, ``x += y`` on an argument, a value traced by an
    outer transformation, an output that is not an array) makes ``compiled`` run ``fn`` eagerly for that signature,
    with a ``ReplayWarning`` naming the cause; inside another transformation (traced arguments) or while counting
    ops (``adops.count_ops``) ``fn`` always runs eagerly. A replay is never silently stale: it gives eager's values.

    Against ``jax.jit``: a wrapper, as ``jax.jit(jax.grad(f))``, but without abstract tracing: the recording runs
    on the real values (so Python control flow on values works, guarded, where JAX needs ``lax.cond``), and
    Python floats are inputs while ints are static (JAX traces both unless marked static).

    Examples
    --------
    >>> import numpy as np, revad
    >>> vg = compiled(revad.value_and_grad(lambda x: np.sum(np.where(x > 0, x, 0.0) ** 2)))
    >>> vg(np.array([1.0, -2.0]))
    (np.float64(1.0), array([2., 0.]))
    >>> vg(np.array([-1.0, 3.0]))  # replayed: the mask is recomputed
    (np.float64(9.0), array([0., 6.]))
    """
    if not callable(fn):
        raise TypeError(f"compiled: fn must be callable, got {type(fn).__name__}")
    if max_programs < 1:
        raise ValueError(f"compiled: max_programs must be at least 1, got {max_programs}")
    return Compiled(fn, max_programs, generate_after)


class Compiled:
    """The callable ``compiled`` returns; ``stats`` counts records, replays, guard failures and eager calls."""

    def __init__(self, fn: Callable, max_programs: int, generate_after: int):
        self.fn = fn
        self.max_programs = max_programs
        self.generate_after = generate_after
        self.programs: dict = {}  # signature -> [Program], most recently used first
        self.lru: OrderedDict = OrderedDict()  # Program -> signature, least recently used first
        self.eager: dict = {}  # signature -> why it runs eagerly
        self.captured: list = []
        self.stats = {"records": 0, "replays": 0, "stale": 0, "eager": 0, "generated": 0}
        self.__wrapped__ = fn
        self.__name__ = getattr(fn, "__name__", "compiled")
        self.__doc__ = getattr(fn, "__doc__", None)

    def __call__(self, *args, **kwargs):
        if STATE.on:
            return self.fn(*args, **kwargs)
        sig, inputs = _signature(args, kwargs)
        if sig is None:  # traced arguments: inside another transformation, or an argument replay cannot key on
            if inputs is not None:
                self.stats["eager"] += 1
                warnings.warn(f"compiled({self.__name__}): {inputs}; running it eagerly", ReplayWarning,
                              stacklevel=2)
            return self.fn(*args, **kwargs)
        if self.captured and not _same_captured(self.captured):
            self.clear()
        for prog in list(self.programs.get(sig, ())):
            if prog.watched and not _same_attributes(prog.watched):
                self._drop(prog, sig)  # an attribute of a static argument was rebound (model.W = W_new)
                continue
            fast = prog.fast
            try:
                out = prog.run(inputs)
            except Stale:
                self.stats["stale"] += 1
                continue
            except Exception:  # NumPy raised inside the replay: let eager evaluation say what this call gives
                self._drop(prog, sig)
                self.stats["eager"] += 1
                return self.fn(*args, **kwargs)
            if not prog.verified:
                return self._verify(prog, sig, out, args, kwargs)
            self._used(prog, sig)
            return out if fast is not None else unflatten(prog.out_def, out)
        if sig in self.eager:
            self.stats["eager"] += 1
            return self.fn(*args, **kwargs)
        return self._record(sig, args, kwargs, inputs)

    def __get__(self, obj, objtype=None):
        # ``@compiled`` on a method: the instance is a static argument (its attributes followed, as a model's are)
        return self if obj is None else types.MethodType(self, obj)

    def _verify(self, prog: Program, sig, leaves: list, args, kwargs):
        """The first replay of a program, checked against an eager call: the values must agree to the last bit, and
        each output takes the type and dtype eager gives it (engines convert plain gradients to 0-d arrays in the
        input's dtype, but leave recorded values as they are)."""
        expected = self.fn(*args, **kwargs)
        e_leaves, e_def = flatten(expected)
        ok = same_structure(e_def, prog.out_def) and len(e_leaves) == len(leaves)
        fixes = list(prog.out_fix)
        for i, (got, want) in enumerate(zip(leaves, e_leaves) if ok else ()):
            if isinstance(want, (np.ndarray, np.generic)):
                nan = want.dtype.kind in "fc"
                if not (np.shape(got) == np.shape(want) and np.array_equal(got, want, equal_nan=nan)):
                    ok = False
                    break
                if type(got) is not type(want) or got.dtype != want.dtype:
                    fixes[i] = ("cast", type(want) is np.ndarray, want.dtype)
            elif not (got is want or got == want):
                ok = False
                break
        if not ok:
            self._run_eagerly(sig, "its replay disagreed with eager evaluation")
            for p in list(self.programs.get(sig, [])):
                self._drop(p, sig)
            warnings.warn(f"compiled({self.__name__}): a replay disagreed with eager evaluation: the function is "
                          "not pure (random numbers drawn inside it, state it changes or reads besides its arguments "
                          "and captured arrays), or this is a bug in replay (please report it); running it eagerly "
                          "for these argument shapes", ReplayWarning, stacklevel=3)
            return expected
        prog.out_fix = fixes
        prog.verified = True
        self._used(prog, sig)
        return expected

    def _run_eagerly(self, sig, why: str) -> None:
        # bounded like the programs: each entry holds the static arguments of its signature
        self.eager[sig] = why
        while len(self.eager) > 8 * self.max_programs:
            del self.eager[next(iter(self.eager))]

    def _drop(self, prog: Program, sig) -> None:
        self.lru.pop(prog, None)
        progs = self.programs.get(sig, [])
        if prog in progs:
            progs.remove(prog)
        if not progs:
            self.programs.pop(sig, None)

    def clear(self) -> None:
        """Forget every recorded program."""
        self.programs.clear()
        self.lru.clear()
        self.eager.clear()
        self.captured = []

    def _used(self, prog: Program, sig) -> None:
        self.stats["replays"] += 1
        self.lru.move_to_end(prog)
        progs = self.programs[sig]
        if progs[0] is not prog:
            progs.remove(prog)
            progs.insert(0, prog)
        prog.replays += 1
        if prog.replays == self.generate_after and prog.fast is None:
            prog.fast = generate(prog)
            self.stats["generated"] += 1

    def _record(self, sig, args, kwargs, inputs: list):
        prog = Program(new_level())
        if not kwargs and len(inputs) == len(args) and all(a is b for a, b in zip(args, inputs)):
            leaves = inputs  # (the common case: every argument an array or a number, no containers to rebuild)
            rargs, rkwargs = tuple([Rec(a, prog, prog.input(a)) for a in args]), {}
        else:
            leaves, treedef = flatten((args, kwargs))
            recs = [Rec(leaf, prog, prog.input(leaf)) if _dynamic(leaf) else leaf for leaf in leaves]
            rargs, rkwargs = unflatten(treedef, recs)
        collecting = gc.isenabled()
        # the cyclic collector would scan the growing program at every generation-0 collection (2 us per
        # instruction); the recording is one bounded call, so it runs without automatic collections
        gc.disable()
        refused = NotReplayable.raised
        try:
            out = self.fn(*rargs, **rkwargs)
            if NotReplayable.raised != refused:
                raise NotReplayable(f"{NotReplayable.last}, raised inside the function and caught there")
            out_leaves, out_def = flatten(out)
            prog.finish(out_leaves, out_def)
        except NotReplayable as err:
            self._run_eagerly(sig, str(err))
            warnings.warn(f"compiled({self.__name__}): cannot replay ({err}); running it eagerly for these argument "
                          "shapes", ReplayWarning, stacklevel=3)
            self.stats["eager"] += 1
            if collecting:
                gc.enable()
            return self.fn(*args, **kwargs)
        finally:
            if collecting:
                gc.enable()
        self.stats["records"] += 1
        prog.watched = _attributes(leaves)
        if not self.captured:
            self.captured = _captured(self.fn)
        self.programs.setdefault(sig, []).insert(0, prog)
        self.lru[prog] = sig
        while len(self.lru) > self.max_programs:
            old = next(iter(self.lru))
            self._drop(old, self.lru[old])
        values = []
        for leaf, fix in zip(out_leaves, prog.out_fix):
            if type(leaf) is Rec:
                value = leaf.primal
                values.append(value.copy() if fix == "copy" and isinstance(value, np.ndarray) else value)
            else:
                values.append(const_output(leaf))
        return unflatten(out_def, values)

    def __repr__(self) -> str:
        return f"<compiled {self.__name__}: {len(self.lru)} program(s), {self.stats}>"


# ---- signatures ----------------------------------------------------------------------------------------------------
def _dynamic(leaf) -> bool:
    return type(leaf) is np.ndarray or type(leaf) in _DYNAMIC_SCALARS or isinstance(leaf, np.generic)


def _signature(args: tuple, kwargs: dict):
    """(hashable signature, the dynamic leaves in order); (None, None) when an argument is traced, (None, why) when
    an argument cannot select a program."""
    if not kwargs:  # the common case: a flat list of arrays and numbers
        sig, inputs = [], []
        for a in args:
            t = type(a)
            if t is np.ndarray:
                f = a.flags  # (memory order and writability reach a few decisions: reshape order='A', x += y)
                sig.append((a.shape, a.dtype, f.c_contiguous, f.f_contiguous, f.writeable))
                inputs.append(a)
            elif t in _DYNAMIC_SCALARS:
                sig.append(t)
                inputs.append(a)
            else:
                break
        else:
            return tuple(sig), inputs
    leaves, treedef = flatten((args, kwargs))
    sig, inputs = [_freeze(treedef)], []
    for leaf in leaves:
        if isinstance(leaf, Traced):
            return None, None
        if _dynamic(leaf):
            if type(leaf) is np.ndarray:
                f = leaf.flags
                sig.append((leaf.shape, leaf.dtype, f.c_contiguous, f.f_contiguous, f.writeable))
            else:
                sig.append(type(leaf))
            inputs.append(leaf)
        elif isinstance(leaf, np.ndarray):  # another ndarray subclass: its meaning is its own; run eagerly
            return None, None
        else:
            try:
                hash(leaf)
            except TypeError:
                # keyed by identity, a program would outlive changes made to the object in place and be found again
                # by a new object at the same address: neither can be seen, so such a call is not replayed
                return None, (f"an argument of type {type(leaf).__name__} is unhashable, so a replay could not tell "
                              "when it changes (pass its numbers as arrays or floats, or make it hashable, e.g. a "
                              "frozen dataclass)")
            sig.append(("static", type(leaf), leaf))
    return tuple(sig), inputs


def _freeze(treedef):
    if treedef is None:
        return None
    kind, keys, defs, order = treedef
    return (kind, None if keys is None else tuple(keys), tuple((n, _freeze(d)) for n, d in defs),
            None if order is None else tuple(order))


# ---- captured arrays: checked by identity at every call -------------------------------------------------------------
_LIBRARY = ("adops", "revad", "dualad", "numpy", "scipy", "compare")
_WATCHED = (np.ndarray, np.generic, float, int, complex, bool)
_CONTAINERS = (list, tuple, dict)
_MAX_CONTENTS = 256  # what is compared of a captured container (more would cost as much as a replay)


def _captured(fn, depth: int = 6) -> list:
    """(holder, name, object, contents) for every array, number or container ``fn`` reads from a closure cell or a
    module global, and for the attributes of the object of a bound method, followed through captured functions;
    library functions are followed through their closures only (that is where the user's function sits in
    ``revad.grad(f)``). ``contents`` is None for an array or number, and for a list, tuple or dict (``params["w"]``,
    ``[(W1, b1), (W2, b2)]``) everything in it, nested, to compare by identity: rebinding an item is rebinding."""
    found, seen = [], set()

    def watch(holder, name, value):
        if isinstance(value, _WATCHED):
            found.append((holder, name, value, None))
            return True
        if type(value) in _CONTAINERS or type(value) is types.SimpleNamespace:
            contents = _contents(value)
            if contents is not None:
                found.append((holder, name, value, contents))
            for item in contents or ():
                if callable(item):
                    walk(item, depth - 1)
            return True
        return False

    def walk(obj, depth):
        if depth < 0 or id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, (Compiled,)):
            walk(obj.fn, depth - 1)
            return
        func = getattr(obj, "__func__", obj)  # bound methods
        if hasattr(obj, "func") and hasattr(obj, "args"):  # functools.partial
            walk(obj.func, depth - 1)
            for a in (*obj.args, *obj.keywords.values()):
                if callable(a):
                    walk(a, depth - 1)
            return
        if not isinstance(func, types.FunctionType):
            return
        owner = getattr(obj, "__self__", None)  # self.W of a bound method
        if func is not obj and owner is not None and type(getattr(owner, "__dict__", None)) is dict:
            if (func.__module__ or "").split(".")[0] not in _LIBRARY:
                contents = _contents(owner.__dict__)
                if contents is not None:
                    found.append((owner, "__dict__", owner.__dict__, contents))
        for cell in func.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if not watch(cell, None, value):
                found.append((cell, None, value, None))  # a function rebound (nonlocal h; h = g) is a new program
                if callable(value):
                    walk(value, depth - 1)
        library = (func.__module__ or "").split(".")[0] in _LIBRARY
        if library:
            return
        g = func.__globals__
        for name in _names(func.__code__):
            if name in g:
                value = g[name]
                if not watch(g, name, value):
                    found.append((g, name, value, None))  # a helper redefined (a notebook cell run again)
                    if isinstance(value, types.FunctionType) or hasattr(value, "__func__"):
                        walk(value, depth - 1)
        for value in (*(func.__defaults__ or ()), *(func.__kwdefaults__ or {}).values()):
            if callable(value):
                walk(value, depth - 1)

    walk(fn, depth)
    return found


def _contents(container, depth: int = 4):
    """Everything in a list, tuple, dict or namespace, nested, in order (keys too); None when it holds too much. A
    nested container beyond the budget is compared by identity only."""
    if type(container) is types.SimpleNamespace:
        container = vars(container)
    if len(container) > _MAX_CONTENTS // 2:
        return None
    out = []

    def add(c, depth):
        if type(c) is types.SimpleNamespace:
            c = vars(c)
        items = list(c.items()) if type(c) is dict else [(None, v) for v in c]
        for k, v in items:
            out.append(k)
            out.append(v)
        for _, v in items:
            if depth and (type(v) in _CONTAINERS or type(v) is types.SimpleNamespace) and \
                    len(out) + 2 * len(v) <= _MAX_CONTENTS:
                add(v, depth - 1)

    add(container, depth)
    return out


def _attributes(leaves: list) -> list:
    """(object, its attributes' contents) for each static argument hashed by identity (a model object): a program
    read its attributes as constants, so rebinding one (``model.W = W_new``) must record again."""
    found = []
    for leaf in leaves:
        if _dynamic(leaf) or type(leaf).__hash__ is not object.__hash__:
            continue
        attrs = getattr(leaf, "__dict__", None)
        if type(attrs) is dict:
            contents = _contents(attrs)
            if contents is not None:
                found.append((leaf, contents))
    return found


def _same_attributes(watched: list) -> bool:
    for obj, contents in watched:
        again = _contents(obj.__dict__)
        if again is None or len(again) != len(contents) or any(a is not b for a, b in zip(again, contents)):
            return False
    return True


def _names(code) -> set:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _names(c)
    return names


def _same_captured(captured: list) -> bool:
    for holder, name, value, contents in captured:
        if name is None:
            now = holder.cell_contents
        elif name == "__dict__":
            now = holder.__dict__
        else:
            now = holder.get(name)
        if now is not value:
            return False
        if contents is not None:
            again = _contents(value)
            if again is None or len(again) != len(contents) or any(a is not b for a, b in zip(again, contents)):
                return False
    return True

