"""Recording a derivative program for replay: the value-level tracer ``Rec``, the flat ``Program`` and its interpreter.

``compiled(fn)`` (``adops.compiled``) calls ``fn`` once with its array arguments wrapped in ``Rec`` values at a
level *below* every transformation ``fn`` starts. ``fn``'s own engines then run as usual (tapes, sweeps, Duals),
but every NumPy call that reaches the plain values underneath, in the primal, in the rules of the backward sweep
and in the cotangent accumulation alike, reaches a ``Rec`` instead: it runs the registry's impl and appends one
instruction to the program. Non-differentiable ops (comparisons, ``argmax``, ``floor``, ``nonzero``) are recorded
the same way, so a mask or an index computed from the inputs is re-computed at replay, never baked in.

Everything Python itself sees of a value becomes a *guard*: ``bool()`` (an ``if`` or ``while`` on a comparison),
``float()``, ``int()``, ``__index__``, ``.item()``, ``.tolist()``, ``np.asarray`` of a mask, ``round()`` and
``hash()``. A guard records the outcome; a replay whose outcome differs stops (``Stale``) and the caller records
again. Outputs whose shape may depend on values (results of non-differentiable queries such as ``np.nonzero``,
anything indexed or selected by a value-dependent mask or index) are guarded on their shape. What cannot be
recorded faithfully raises ``NotReplayable`` and ``compiled`` runs ``fn`` eagerly instead.

The program is a list of instructions over numbered slots (inputs, constants, results); the interpreter runs it on
a preallocated list of slots, ``adops.replay_source`` turns it into straight-line Python once it has been replayed
often enough.

The recording costs what eager evaluation costs plus the instructions' bookkeeping, so its hot path is short: an
operator or a ufunc call on values of the recording and plain numbers or arrays, of an op whose result's shape
follows the input shapes (``_simple``), records its one instruction in a few lines (``_operator``, ``_unary``,
``_short``); everything else goes the general way (``Rec._apply``). What only makes replays faster (dead code,
freeing large slots) waits for the first replay (``Program.optimize``).
"""

from __future__ import annotations

import copy
import math
import operator

import numpy as np

from .core import DISPATCH, INFINITE, NO_PARAMS, OPS, UFUNC_CALLS
from .frontend import Traced, _top
from .trees import as_input as _as_input

# NumPy's floating-point error state (np.errstate) as one object, when NumPy exposes it: an ``np.errstate(...
# "raise")`` inside the function makes NumPy raise where a replay, run under the caller's state, would not
_ERRSTATE = getattr(getattr(getattr(np, "_core", None), "_multiarray_umath", None), "_extobj_contextvar", None)
_errstate = _ERRSTATE.get if _ERRSTATE is not None else lambda: None  # (the hot path's check: one call)
_F64, _NDARRAY = np.float64, np.ndarray


class NotReplayable(TypeError):
    """Raised while recording when a replay could not be faithful (``compiled`` then runs the function eagerly).

    Each one is counted (``raised``), so that a recording knows of it even when the function caught it (it is a
    ``TypeError``, and ``except Exception: <another way>`` would record the other way as if it were eager's)."""

    raised = 0
    last = ""

    def __init__(self, *args):
        super().__init__(*args)
        NotReplayable.raised += 1
        NotReplayable.last = str(args[0]) if args else ""


class Stale(Exception):
    """A guard failed during a replay: the recorded program does not describe this call."""


# instruction tags
CALL, CALL_KW, CALL_DYN, GUARD, RESET, FLAG, FREE = range(7)
BIG = 4096  # results with at least this many elements are dropped after their last use (as eager sweeps do)


class SlotArray(np.ndarray):
    """A plain index array standing for a recorded slot inside an op's parameters (``x[i]`` with ``i`` computed
    from the inputs): the op runs on its values now, and on the slot's values at replay."""

    _slot = -1
    _recorder = None  # a Rec of the recording, to hand ops on plain arrays indexed by this one (adops.core.call)


def _slot_array(value, slot: int, rec) -> SlotArray:
    out = np.asarray(value).view(SlotArray)
    out._slot = slot
    out._recorder = rec
    rec._prog.slot_arrays.append(out)
    return out


class Program:
    """One recorded call: instructions over numbered slots, its guards, and how its outputs are rebuilt.

    ``code`` holds tuples ``(tag, a, b, c, d)``: ``(CALL, fn, in_slots, None, out)``,
    ``(CALL_KW, fn, in_slots, params, out)``, ``(CALL_DYN, fn, in_slots, (params, [(key, position, slot)]), out)``,
    ``(GUARD, test, slot, expected, None)``, ``(RESET, ...)`` and ``(FLAG, expected, ...)`` (the strong-zero flag),
    ``(FREE, slots, ...)`` (large intermediates dropped after their last use).

    >>> prog = Program(level=0)
    >>> x = prog.input(None)
    >>> out = prog.emit(np.negative, (x,), None, None, None)
    >>> prog.finish([Rec(-np.ones(2), prog, out)], None)
    >>> prog.run([np.array([1.0, 2.0])])
    [array([-1., -2.])]
    """

    __slots__ = ("level", "code", "n_slots", "big", "slot_arrays", "consts", "const_values", "const_states",
                 "snapshots", "in_slots", "out_slots", "out_def", "out_fix", "out_consts", "template", "replays",
                 "verified", "fast", "optimized", "watched", "errstate", "source", "__weakref__")

    def __init__(self, level: int):
        self.level = level
        self.code: list = []
        self.n_slots = 0
        self.big: set = set()  # slots of large results, freed after their last use
        self.slot_arrays: list = []  # index arrays standing for slots (their link to the recording is cut at the end)
        self.consts: dict = {}  # id(constant) -> slot
        self.const_values: dict = {}  # slot -> constant (held here, so the ids in ``consts`` stay valid)
        self.const_states: dict = {}  # slot -> (shape, dtype, bytes) of a small array constant when it was taken
        self.snapshots: list = []  # (large array constant, its copy when it was taken), compared when recording ends
        self.in_slots: list = []
        self.out_slots: list = []
        self.out_def = None
        self.out_fix: list = []  # per output: None, "copy" (aliases a constant), "array" / "scalar" (0-d type)
        self.out_consts: list = []  # per output: (True, value) when the output is a constant, else (False, None)
        self.template: list = []
        self.replays = 0
        self.verified = False  # the first replay is checked against an eager call (adops.compiled)
        self.fast = None  # the generated function, once there is one
        self.optimized = False  # dead code dropped and large slots freed (``optimize``, at the first replay)
        self.watched: list = []  # static arguments' attributes the program depends on (adops.compiled)
        self.errstate = _errstate()  # the caller's, when recording began
        self.source = None

    # ---- recording -------------------------------------------------------------------------------------------
    def input(self, value) -> int:
        slot = self.n_slots
        self.n_slots = slot + 1
        self.in_slots.append(slot)
        return slot

    def const(self, value) -> int:
        if type(value) is list:  # (a list may change in place after this use, like an array: kept as it is now)
            slot = self.n_slots
            self.n_slots = slot + 1
            self.const_values[slot] = copy.deepcopy(value)
            return slot
        slot = self.consts.get(id(value))
        if type(value) is np.ndarray:
            return self._array_const(value, slot)
        if slot is None:
            slot = self.n_slots
            self.n_slots = slot + 1
            self.consts[id(value)] = slot
            self.const_values[slot] = value
        return slot

    def _array_const(self, value: np.ndarray, slot) -> int:
        """An array the function used, as it was at that moment: it may change in place later in the call (a buffer
        filled after a first use), where eager evaluation had used the earlier values. A small array's contents are
        noted, and a later use of changed contents is another constant (``finish`` puts the noted values back into
        the earlier one); a large one is compared with a copy when recording ends."""
        if value.size < BIG:
            state = (value.shape, value.dtype, value.tobytes())
            if slot is not None:
                if self.const_states[slot] == state:
                    return slot
                self.const_values[slot] = _rebuilt(self.const_states[slot], value)
        elif slot is not None:
            return slot
        else:
            self.snapshots.append((value, value.copy()))
            state = None
        slot = self.n_slots
        self.n_slots = slot + 1
        self.consts[id(value)] = slot
        self.const_values[slot] = value
        self.const_states[slot] = state
        return slot

    def emit(self, fn, ins: tuple, params, dyn, ans) -> int:
        out = self.n_slots
        self.n_slots = out + 1
        if type(ans) is np.ndarray and ans.size >= BIG:
            self.big.add(out)
        if dyn:
            self.code.append((CALL_DYN, fn, ins, (params, tuple(dyn)), out))
        elif params:
            self.code.append((CALL_KW, fn, ins, params, out))
        else:
            self.code.append((CALL, fn, ins, None, out))
        return out

    def guard(self, test, slot: int, expected) -> None:
        self.code.append((GUARD, test, slot, expected, None))

    # ---- finishing -----------------------------------------------------------------------------------------------
    def finish(self, out_leaves: list, out_def) -> None:
        """Fix the outputs and drop every recorded value that is not a constant (what replays need first: dead code
        goes later, ``optimize``)."""
        for value, then in self.snapshots:
            if value.shape != then.shape or not np.array_equal(value, then, equal_nan=value.dtype.kind in "fc"):
                raise NotReplayable(f"an array of shape {then.shape} that the function used was changed in place "
                                    "later in the call (a replay would use its final values throughout)")
        self.snapshots = []
        for slot, state in self.const_states.items():
            value = self.const_values[slot]
            if state is not None and (value.shape, value.dtype, value.tobytes()) != state:
                self.const_values[slot] = _rebuilt(state, value)
        consts = [c for c in self.const_values.values() if isinstance(c, np.ndarray)]
        for leaf in out_leaves:
            if type(leaf) is Rec and leaf._level == self.level:
                value = leaf.primal
                fix = None
                if leaf._slot in self.const_values or (isinstance(value, np.ndarray) and value.size
                                                 and any(np.may_share_memory(value, c) for c in consts)):
                    fix = "copy"  # the user may change it in place: never hand out the program's own constant
                elif (value.ndim if isinstance(value, (np.ndarray, np.generic)) else np.ndim(value)) == 0:
                    fix = "array" if isinstance(value, np.ndarray) else "scalar"
                self.out_slots.append(leaf._slot)
                self.out_fix.append(fix)
                self.out_consts.append((False, None))
                continue
            if isinstance(leaf, Traced):
                raise NotReplayable(f"the function returned a value traced by an outer transformation "
                                    f"({type(leaf).__name__})")
            if not (leaf is None or isinstance(leaf, (np.ndarray, np.generic, bool, int, float, complex, str))):
                raise NotReplayable(f"the function returned a {type(leaf).__name__}, which a replay cannot rebuild "
                                    "(outputs must be arrays, numbers, or tuples/lists/dicts of them)")
            self.out_slots.append(-1)
            self.out_fix.append(None)
            self.out_consts.append((True, leaf))
        self.out_def = out_def
        self.template = [None] * self.n_slots
        for s, value in self.const_values.items():
            self.template[s] = value
        self.const_values = {}
        self.const_states = {}
        self.consts = {}
        for a in self.slot_arrays:  # (the program's params may still see them: no way back to the recording)
            a._recorder = None
        self.slot_arrays = []

    def optimize(self) -> None:
        """Drop dead instructions, and each large intermediate after its last use. Done at the first replay, not at
        the recording: it only makes replays faster, and a program recorded but never replayed (a signature seen
        once) need not pay for it."""
        self._eliminate_dead_code()
        if self.big:
            self._free_large()
        self.optimized = True

    def _eliminate_dead_code(self) -> None:
        live = {s for s in self.out_slots if s >= 0}
        kept = []
        append, update = kept.append, live.update
        flagged = False  # the strong product a FLAG checks: it stays, used or not (raising the flag is its effect)
        for ins in reversed(self.code):
            tag = ins[0]
            if tag == CALL or tag == CALL_KW:
                if flagged or ins[4] in live:
                    update(ins[2])
                    append(ins)
                flagged = False
                continue
            flagged = tag == FLAG
            if tag == CALL_DYN:
                if ins[4] not in live:
                    continue
                update(ins[2])
                update(s for _, _, s in ins[3][1])
            elif tag == GUARD:
                live.add(ins[2])
            append(ins)
        kept.reverse()
        self.code = kept

    def _free_large(self) -> None:
        """Drop each large intermediate right after its last use, so a replay holds no more memory than eager."""
        keep = set(self.out_slots)
        last: dict = {}
        for i, ins in enumerate(self.code):
            tag = ins[0]
            if tag <= CALL_DYN:
                used = list(ins[2]) + ([s for _, _, s in ins[3][1]] if tag == CALL_DYN else [])
            elif tag == GUARD:
                used = [ins[2]]
            else:
                continue
            for s in used:
                if s in self.big and s not in keep:
                    last[s] = i
        after: dict = {}
        for s, i in last.items():
            after.setdefault(i, []).append(s)
        code = []
        for i, ins in enumerate(self.code):
            code.append(ins)
            if i in after:
                code.append((FREE, tuple(after[i]), None, None, None))
        self.code = code

    # ---- replay ------------------------------------------------------------------------------------------------
    def run(self, inputs: list):
        """The outputs' leaves for new input values (raises ``Stale`` when a guard fails)."""
        if self.fast is not None:
            return self.fast(*inputs)
        if not self.optimized:
            self.optimize()
        slots = self.template[:]
        for s, v in zip(self.in_slots, inputs):
            slots[s] = v
        for tag, a, b, c, d in self.code:
            if tag == CALL:
                slots[d] = a(*[slots[i] for i in b])
            elif tag == CALL_KW:
                slots[d] = a(*[slots[i] for i in b], **c)
            elif tag == GUARD:
                if not a(slots[b], c):
                    raise Stale
            elif tag == CALL_DYN:
                slots[d] = a(*[slots[i] for i in b], **fill_params(c[0], c[1], slots))
            elif tag == FREE:
                for s in a:
                    slots[s] = None
            elif tag == RESET:
                INFINITE.seen = False
            elif INFINITE.seen is not a:  # FLAG
                raise Stale
        return [fix_output(slots[s], fix) if s >= 0 else const_output(value)
                for s, fix, (_, value) in zip(self.out_slots, self.out_fix, self.out_consts)]

    def __len__(self) -> int:
        return len(self.code)


def _rebuilt(state: tuple, like: np.ndarray) -> np.ndarray:
    """A new array holding the contents ``state`` noted (in ``like``'s memory order, which BLAS results follow)."""
    shape, dtype, data = state
    value = np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    return np.asfortranarray(value) if like.flags.f_contiguous and not like.flags.c_contiguous else value


def fill_params(params: dict, dyn: tuple, slots: list) -> dict:
    """``params`` with each recorded slot reference replaced by the slot's current value."""
    params = dict(params)
    for key, pos, s in dyn:
        if pos is None:
            params[key] = slots[s]
        else:
            items = list(params[key])
            items[pos] = slots[s]
            params[key] = tuple(items)
    return params


def fix_output(value, fix):
    if fix is None:
        return value
    if fix == "copy":
        return value.copy() if isinstance(value, np.ndarray) else value
    if fix == "array":
        return value if type(value) is np.ndarray else np.asarray(value)
    if fix == "scalar":
        return value[()] if isinstance(value, np.ndarray) else value
    _, want_array, dtype = fix  # ("cast", ...): the type and dtype eager evaluation gives this output
    return np.array(value, dtype=dtype) if want_array else np.asarray(value, dtype=dtype)[()]


def const_output(value):
    return value.copy() if isinstance(value, np.ndarray) else value


# ---- guard tests: test(value now, value recorded) -> True when the recorded program still applies ----------------
def same_bool(v, expected) -> bool:
    return bool(v) is expected


def _same_number(got, expected) -> bool:
    """Equal, with the sign of a zero (1 / x, math.copysign and str tell -0.0 from 0.0) and NaN equal to NaN."""
    if got == expected:
        return not (isinstance(got, float) and got == 0) or math.copysign(1.0, got) == math.copysign(1.0, expected)
    return got != got and expected != expected


def same_float(v, expected) -> bool:
    return _same_number(float(v), expected)


def same_int(v, expected) -> bool:
    return int(v) == expected


def same_index(v, expected) -> bool:
    return operator.index(v) == expected


def same_shape(v, expected) -> bool:
    return np.shape(v) == expected


def _bits(v) -> tuple:
    a = np.asarray(v)
    return a.shape, a.dtype, a.tobytes()


def same_bits(v, expected) -> bool:
    """The very same array (np.array_equal takes -0.0 for 0.0, and a constant made of one would keep its sign)."""
    return _bits(v) == expected


def same_value(v, expected) -> bool:
    return _same_number(v, expected) if isinstance(expected, float) else v == expected


def _item(v):
    return np.asarray(v).item()


def _tolist(v):
    return np.asarray(v).tolist()


def same_item(v, expected) -> bool:
    return _same_number(_item(v), expected)




def same_hash(v, expected) -> bool:
    return hash(v) == expected


def same_round(v, expected) -> bool:
    return round(v[0], v[1]) == expected if isinstance(v, tuple) else round(v) == expected


_STRONG = OPS["strong_product"]
_KINDS: dict = {}


def _kind(op) -> int:
    """0: the output's shape follows the input shapes alone (ufuncs, elementwise records); 1: it may follow the values
    of discrete inputs (indexing, selections); 2: it may follow any input's values (non-differentiable queries)."""
    if isinstance(op.impl, np.ufunc) or op.sparsity in ("elementwise", "choose"):  # (broadcasting: np.where too)
        kind = 0
    elif op.differentiable:
        kind = 1
    else:
        kind = 2
    _KINDS[op] = kind
    return kind


def _rec(primal, prog: Program, slot: int) -> Rec:
    """``Rec(primal, prog, slot)`` without the call of ``__init__`` (the hot path makes one per instruction)."""
    r = _new(Rec)
    r.primal = primal
    r._prog = prog
    r._level = prog.level
    r._slot = slot
    return r


_new = object.__new__
_SIMPLE: dict = {}  # op -> its impl where a call without params takes the recording's short path, else None


def _simple(op):
    """``op.impl`` when a call of ``op`` without params can take the short path (one result, whose shape follows the
    input shapes alone; not the strong product, which carries a flag), else None."""
    kind = _KINDS.get(op)
    if kind is None:
        kind = _kind(op)
    impl = op.impl if kind == 0 and op.outputs == 1 and op is not _STRONG else None
    _SIMPLE[op] = impl
    return impl


# operand types the short path takes as constants: immutable numbers (the same object is the same constant) and
# arrays (``Program.const`` notes their contents)
_NUMBERS = (float, int, np.float64)
_SLOW = object()  # "not the short path": the caller goes the general way


def _short(rec, name: str, impl, a, b):
    """``impl(a, b)`` recorded by the shortest path, for the common case of the recording's hot loop: ``rec`` and a
    value of its own recording or a plain number or array, a simple op (``_simple``), a NumPy result; ``_SLOW`` for
    anything else (the general path then gives it its full treatment)."""
    prog = rec._prog
    level = rec._level
    t = type(a)
    if t is Rec and a._level == level:
        pa, sa = a.primal, a._slot
    elif t in _NUMBERS:
        pa = a
        sa = prog.consts.get(id(a))
        if sa is None:
            sa = prog.const(a)
    elif t is _NDARRAY:
        pa, sa = a, prog.const(a)
    else:
        return _SLOW
    t = type(b)
    if t is Rec and b._level == level:
        pb, sb = b.primal, b._slot
    elif t in _NUMBERS:
        pb = b
        sb = prog.consts.get(id(b))
        if sb is None:
            sb = prog.const(b)
    elif t is _NDARRAY:
        pb, sb = b, prog.const(b)
    else:
        return _SLOW
    if _errstate() is not prog.errstate:
        _errstate_changed(prog)
    ans = impl(pa, pb)
    out = prog.n_slots
    prog.n_slots = out + 1
    prog.code.append((CALL, impl, (sa, sb), None, out))
    t = type(ans)
    if t is _F64 or (t is _NDARRAY and ans.size < BIG):
        return _rec(ans, prog, out)
    return _result(rec, ans, out, name)


def _result(rec, ans, out: int, name: str):
    """The short path's result when it is not a float64 or a small array."""
    prog = rec._prog
    if type(ans) is _NDARRAY:
        prog.big.add(out)  # (a large array: freed after its last use at replay)
    elif not isinstance(ans, np.generic) and type(ans) is not float:
        # (a Python float, an operator's answer on Python float arguments, is a value like a NumPy scalar: a guard
        # would record again at every new argument)
        return rec._wrap(ans, out, False, name=name)
    return Rec(ans, prog, out)


def _unary(name: str):
    """Rec's ``__neg__`` and the like: the short path (as ``_short``), else ``Traced``'s way."""
    op = OPS[name]
    impl = _SIMPLE[op] if op in _SIMPLE else _simple(op)
    if impl is None:
        def slow(self):
            return self._apply(op, (self,), NO_PARAMS)

        return slow

    def method(self):
        prog = self._prog
        if _errstate() is not prog.errstate:
            _errstate_changed(prog)
        ans = impl(self.primal)
        out = prog.n_slots
        prog.n_slots = out + 1
        prog.code.append((CALL, impl, (self._slot,), None, out))
        t = type(ans)
        if t is _F64 or (t is _NDARRAY and ans.size < BIG):
            r = _new(Rec)  # (_rec, inlined)
            r.primal = ans
            r._prog = prog
            r._level = self._level
            r._slot = out
            return r
        return _result(self, ans, out, name)

    return method


def _operator(name: str, reflected: bool):
    """Rec's ``__add__`` (or ``__radd__``, ``reflected``) and the like: the short path (as ``_short``, inlined: this
    is the recording's hottest code), else ``Traced``'s way."""
    op = OPS[name]
    impl = _SIMPLE[op] if op in _SIMPLE else _simple(op)
    if impl is None:
        def slow(self, other):
            return self._binary(name, other, self) if reflected else self._binary(name, self, other)

        return slow

    def method(self, other):
        prog = self._prog
        t = type(other)
        if t is Rec and other._level == self._level:
            po, so = other.primal, other._slot
        elif t in _NUMBERS:
            po = other
            so = prog.consts.get(id(other))
            if so is None:
                so = prog.const(other)
        elif t is _NDARRAY:
            po, so = other, prog.const(other)
        else:
            return self._binary(name, other, self) if reflected else self._binary(name, self, other)
        if _errstate() is not prog.errstate:
            _errstate_changed(prog)
        if reflected:
            ans = impl(po, self.primal)
            ins = (so, self._slot)
        else:
            ans = impl(self.primal, po)
            ins = (self._slot, so)
        out = prog.n_slots
        prog.n_slots = out + 1
        prog.code.append((CALL, impl, ins, None, out))
        t = type(ans)
        if t is _F64 or (t is _NDARRAY and ans.size < BIG):
            r = _new(Rec)  # (_rec, inlined)
            r.primal = ans
            r._prog = prog
            r._level = self._level
            r._slot = out
            return r
        return _result(self, ans, out, name)

    return method


_SHORT_UFUNCS: dict = {}  # ufunc -> the impl of its op when the short path applies, else None


def _short_ufunc(ufunc):
    op = UFUNC_CALLS.get(ufunc)
    impl = _SHORT_UFUNCS[ufunc] = None if op is None else (_SIMPLE[op] if op in _SIMPLE else _simple(op))
    return impl


def _constant(a, op):
    if isinstance(a, Traced):
        raise NotReplayable(f"{op.name} received a value of an outer transformation ({type(a).__name__}): replay would "
                            "freeze it")
    return a


# ---- the recording tracer ------------------------------------------------------------------------------------------
class Rec(Traced):
    """A value being recorded into a ``Program`` (one ``compiled`` recording, its ``_level``).

    Below every differentiating level: engines hand it their primal work and their rules, and it runs each op's
    impl and appends one instruction. It is never a derivative carrier; what Python sees of it is guarded.

    >>> from adops.core import new_level
    >>> prog = Program(new_level())
    >>> x = Rec(np.array([0.5, -1.0]), prog, prog.input(None))
    >>> y = np.where(x > 0, np.sin(x), 0.0)
    >>> [getattr(ins[1], "__name__", "") for ins in prog.code]  # the mask is an instruction, not a constant
    ['greater', 'sin', 'not_equal', 'where']
    """

    __slots__ = ("primal", "_level", "_prog", "_slot", "__weakref__")
    engine = "compiled"
    mode = "replay-recording"
    records_values = True  # engine helpers that read plain values through traced layers stop here

    def __init__(self, primal, prog: Program, slot: int):
        self.primal = primal
        self._prog = prog
        self._level = prog.level
        self._slot = slot

    def _apply(self, op, arrays, params):
        prog = self._prog
        level = self._level
        if _errstate() is not prog.errstate:
            _errstate_changed(prog)
        if len(arrays) == 1:  # the common cases first (this is the recording's hot path)
            a = arrays[0]
            if type(a) is Rec and a._level == level:
                primals, ins = (a.primal,), (a._slot,)
            else:
                primals, ins = (_constant(a, op),), (prog.const(a),)
        elif len(arrays) == 2:
            a, b = arrays
            if type(a) is Rec and a._level == level:
                pa, sa = a.primal, a._slot
            else:
                pa, sa = _constant(a, op), prog.const(a)
            if type(b) is Rec and b._level == level:
                pb, sb = b.primal, b._slot
            else:
                pb, sb = _constant(b, op), prog.const(b)
            primals, ins = (pa, pb), (sa, sb)
        else:
            primals = tuple([a.primal if type(a) is Rec and a._level == level else _constant(a, op) for a in arrays])
            ins = tuple([a._slot if type(a) is Rec and a._level == level else prog.const(a) for a in arrays])
        kind = _KINDS.get(op)
        if kind is None:
            kind = _kind(op)
        dyn = None
        if params:
            params, dyn = self._params(params)
        if op is _STRONG and not INFINITE.seen:  # strong zero: products after an infinity switch kind
            return self._strong(op, primals, ins)
        ans = op.impl(*primals, **params) if params else op.impl(*primals)
        out = prog.n_slots
        prog.n_slots = out + 1
        if dyn is not None:
            prog.code.append((CALL_DYN, op.impl, ins, (params, tuple(dyn)), out))
        elif params:
            prog.code.append((CALL_KW, op.impl, ins, params, out))
        else:
            prog.code.append((CALL, op.impl, ins, None, out))
        if type(ans) is np.ndarray and ans.size >= BIG:
            prog.big.add(out)
        if kind == 0 and dyn is None and op.outputs == 1 and isinstance(ans, (np.ndarray, np.generic)):
            return Rec(ans, prog, out)
        # the output's shape may follow the values: a query (np.nonzero), or a mask or an index among the inputs
        shaped = kind == 2 or dyn is not None or (kind == 1 and any(
            getattr(getattr(p, "dtype", None), "kind", "f") in "biu" for p in primals))
        return self._wrap(ans, out, shaped, op.outputs, op.result, op.name)

    def _strong(self, op, primals, ins):
        """A strong product recorded with its flag: replay resets it, runs the product, and checks the flag comes out
        as it did here (an infinity appearing, or not, where it did not changes which products follow)."""
        prog = self._prog
        ans = op.impl(*primals)
        prog.code.append((RESET, None, None, None, None))
        out = prog.emit(op.impl, ins, None, None, ans)
        prog.code.append((FLAG, INFINITE.seen, None, None, None))
        return self._wrap(ans, out, False)

    def _params(self, params):
        """Params with recorded values in them: the values now, and (key, position, slot) to refill at replay.

        Plain arrays among them (an index) are copied: the function may change one in place after this op used it,
        and the program must keep what the op saw."""
        level = self._level
        dyn = []
        fixed = None
        for key, v in params.items():
            if type(v) is np.ndarray:
                fixed = dict(params) if fixed is None else fixed
                fixed[key] = v.copy(order="K")
                continue
            if type(v) is tuple:
                for pos, w in enumerate(v):
                    if type(w) is np.ndarray:
                        fixed = dict(params) if fixed is None else fixed
                        items = list(fixed[key])
                        items[pos] = w.copy(order="K")
                        fixed[key] = tuple(items)
                        continue
                    s = self._param_slot(w, level)
                    if s is not None:
                        dyn.append((key, pos, s))
                        fixed = dict(params) if fixed is None else fixed
                        items = list(fixed[key])
                        items[pos] = w.primal if type(w) is Rec else w.view(np.ndarray)
                        fixed[key] = tuple(items)
            else:
                s = self._param_slot(v, level)
                if s is not None:
                    dyn.append((key, None, s))
                    fixed = dict(params) if fixed is None else fixed
                    fixed[key] = v.primal if type(v) is Rec else v.view(np.ndarray)
        return (fixed if fixed is not None else params), (dyn or None)

    @staticmethod
    def _param_slot(w, level):
        if type(w) is SlotArray:
            return w._slot
        if type(w) is Rec and w._level == level:
            return w._slot
        if isinstance(w, Traced):
            raise NotReplayable(f"a parameter traced by an outer transformation ({type(w).__name__})")
        return None

    def _wrap(self, ans, out, shaped, outputs=1, result=tuple, name=""):
        prog = self._prog
        if outputs > 1:
            return result([self._wrap(a, prog.emit(operator.itemgetter(j), (out,), None, None, a), shaped)
                           for j, a in enumerate(ans)])
        if isinstance(ans, (np.ndarray, np.generic)):
            if shaped:
                prog.guard(same_shape, out, np.shape(ans))
            return Rec(ans, prog, out)
        if type(ans) is tuple and all(isinstance(a, np.ndarray) for a in ans):  # np.nonzero and the like
            return tuple(self._wrap(a, prog.emit(operator.itemgetter(j), (out,), None, None, a), True)
                         for j, a in enumerate(ans))
        # a Python value (np.allclose's bool, np.shape's tuple): Python sees it, so it is a guard
        try:
            hash(ans)
        except TypeError as err:
            raise NotReplayable(f"{name} returned a {type(ans).__name__}, which a replay cannot check") from err
        prog.guard(same_value, out, ans)
        return ans

    def _guard(self, test, expected):
        self._prog.guard(test, self._slot, expected)
        return expected

    # ---- the hot path: operators and ufunc calls on values of this recording and plain numbers ----------------------
    __add__ = _operator("add", False)
    __radd__ = _operator("add", True)
    __sub__ = _operator("subtract", False)
    __rsub__ = _operator("subtract", True)
    __mul__ = _operator("multiply", False)
    __rmul__ = _operator("multiply", True)
    __truediv__ = _operator("divide", False)
    __rtruediv__ = _operator("divide", True)
    __pow__ = _operator("power", False)
    __rpow__ = _operator("power", True)
    __lt__ = _operator("less", False)
    __le__ = _operator("less_equal", False)
    __gt__ = _operator("greater", False)
    __ge__ = _operator("greater_equal", False)
    __eq__ = _operator("equal", False)
    __ne__ = _operator("not_equal", False)

    __neg__ = _unary("negative")

    @property
    def shape(self) -> tuple:  # (read by the engines' rules and checks on every value: the short way first)
        try:
            return self.primal.shape
        except AttributeError:
            return np.shape(self.primal)

    @property
    def dtype(self):
        try:
            return self.primal.dtype
        except AttributeError:
            return np.result_type(self.primal)

    @property
    def size(self) -> int:
        try:
            return self.primal.size
        except AttributeError:
            return np.size(self.primal)

    # ---- NumPy calls with no registry record: no derivative can pass through a Rec, so any pure call is recorded --
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and not kwargs:
            impl = _SHORT_UFUNCS.get(ufunc, _SLOW)
            if impl is _SLOW:
                impl = _short_ufunc(ufunc)
            if impl is not None:
                if len(inputs) == 1:  # (then the one input is this value) the short path, inlined as in _unary
                    prog = self._prog
                    if _errstate() is not prog.errstate:
                        _errstate_changed(prog)
                    ans = impl(self.primal)
                    out = prog.n_slots
                    prog.n_slots = out + 1
                    prog.code.append((CALL, impl, (self._slot,), None, out))
                    t = type(ans)
                    if t is _F64 or (t is _NDARRAY and ans.size < BIG):
                        r = _new(Rec)  # (_rec, inlined)
                        r.primal = ans
                        r._prog = prog
                        r._level = self._level
                        r._slot = out
                        return r
                    return _result(self, ans, out, ufunc.__name__)
                if len(inputs) == 2:
                    out = _short(self, ufunc.__name__, impl, *inputs)
                    if out is not _SLOW:
                        return out
            op = UFUNC_CALLS.get(ufunc)
            if op is not None:
                return _top(self, inputs)._apply(op, inputs, NO_PARAMS)
        outer = any(isinstance(a, Traced) and a._level > self._level for a in inputs)
        out = kwargs.get("out")
        if out is not None and not outer and not any(isinstance(o, Traced) for o in
                                                     (out if type(out) is tuple else (out,))):
            # eager evaluation writes into the plain array; the program would not (its later uses are constants)
            raise NotReplayable(f"np.{ufunc.__name__}(..., out=) writing into a plain array")
        if outer or out is not None:
            return super().__array_ufunc__(ufunc, method, *inputs, **kwargs)
        if method == "__call__":
            if not kwargs:
                op = UFUNC_CALLS.get(ufunc)
                if op is not None:
                    return self._apply(op, inputs, NO_PARAMS)
            if ufunc in DISPATCH:
                return super().__array_ufunc__(ufunc, method, *inputs, **kwargs)
            return self._generic(ufunc, inputs, kwargs, False)
        if (ufunc, method) in DISPATCH:
            return super().__array_ufunc__(ufunc, method, *inputs, **kwargs)
        return self._generic(getattr(ufunc, method), inputs, kwargs, True)

    def _dispatch(self, key, args, kwargs):
        entry = DISPATCH.get(key)
        if entry is not None and entry[0].composite:
            # a composite that runs NumPy's own function on plain positions (np.delete(x, np.argmax(x)) moves
            # elements by ``adops.arrays.moved``) calls it again with this value among its parameters, and the
            # positions it computes are used as plain indices: no faithful program (it recursed without end)
            if key in _IN_COMPOSITE:
                from .core import callable_name

                raise NotReplayable(f"{callable_name(key)} with a parameter computed from the inputs")
            _IN_COMPOSITE.add(key)
            try:
                return super()._dispatch(key, args, kwargs)
            finally:
                _IN_COMPOSITE.discard(key)
        try:
            return super()._dispatch(key, args, kwargs)
        except NotReplayable:
            raise
        except TypeError:
            # the registry refuses a call on values nothing differentiates (np.sum(mask, dtype=int)); eager NumPy
            # would answer it on plain arrays, so it is recorded as it is
            fn = getattr(key[0], key[1]) if isinstance(key, tuple) else key
            if isinstance(fn, str) or _outer(args, kwargs, self._level):
                raise
            out = kwargs.get("out")
            if out is not None:
                if isinstance(out, Traced):
                    raise
                raise NotReplayable(f"{getattr(fn, '__name__', fn)}(..., out=) writing into a plain array") from None
            return self._generic(fn, args, kwargs, True)

    def _no_rule(self, key, args, kwargs):
        fn = getattr(key[0], key[1]) if isinstance(key, tuple) else key
        if callable(fn) and not isinstance(fn, str) and kwargs.get("out") is None:
            return self._generic(fn, args, kwargs, True)
        from .core import callable_name

        raise NotReplayable(f"{callable_name(key)} has no rule in the registry")

    def _generic(self, fn, args, kwargs, shaped):
        """Record ``fn(*args, **kwargs)`` as it is (values of this recording in the arguments, or one level down in
        lists and tuples, become slots)."""
        prog = self._prog
        level = self._level
        ins, spec, values = [], [], []

        def take(a):
            if type(a) is Rec and a._level == level:
                ins.append(a._slot)
                return a.primal, len(ins) - 1
            if isinstance(a, Traced):
                raise NotReplayable(f"{getattr(fn, '__name__', fn)} received a value of an outer transformation")
            return a, None

        for a in args:
            if type(a) in (list, tuple):
                parts = [take(b) for b in a]
                values.append(type(a)(p for p, _ in parts))
                spec.append((type(a), tuple(k for _, k in parts)))
            else:
                v, k = take(a)
                values.append(v)
                spec.append((None, k))
        kw_spec = {}
        kw_values = {}
        for key, a in kwargs.items():
            kw_values[key], kw_spec[key] = take(a)
        if _errstate() is not prog.errstate:
            _errstate_changed(prog)
        ans = fn(*values, **kw_values)
        if ans is None:  # np.copyto, np.put, np.place, np.putmask, np.add.at: it wrote into an array in place
            raise NotReplayable(f"{getattr(fn, '__name__', fn)} writing into an array in place (the program would "
                                "keep that array's values as they are now)")
        # (plain arrays among the arguments are copied: the function may change them in place after this call)
        values = [v.copy(order="K") if type(v) is np.ndarray else v for v in values]
        kw_values = {k: v.copy(order="K") if type(v) is np.ndarray else v for k, v in kw_values.items()}
        call = _rebuilt_call(fn, tuple(spec), values, kw_spec, kw_values)
        out = prog.emit(call, tuple(ins), None, None, ans)
        return self._wrap(ans, out, shaped, name=getattr(fn, "__name__", "a NumPy function"))

    # ---- operators NumPy answers for arrays and the registry has no record of (masks: &, |, ^, ~) -------------------
    def __and__(self, other): return np.bitwise_and(self, other)
    def __rand__(self, other): return np.bitwise_and(other, self)
    def __or__(self, other): return np.bitwise_or(self, other)
    def __ror__(self, other): return np.bitwise_or(other, self)
    def __xor__(self, other): return np.bitwise_xor(self, other)
    def __rxor__(self, other): return np.bitwise_xor(other, self)
    def __invert__(self): return np.invert(self)
    def __lshift__(self, other): return np.left_shift(self, other)
    def __rshift__(self, other): return np.right_shift(self, other)

    # ---- what Python sees: guards ----------------------------------------------------------------------------------
    def __bool__(self) -> bool:
        return self._guard(same_bool, bool(self.primal))

    def __float__(self) -> float:
        return self._guard(same_float, float(self.primal))

    def __int__(self) -> int:
        return self._guard(same_int, int(self.primal))

    def __index__(self) -> int:
        return self._guard(same_index, operator.index(self.primal))

    def __complex__(self) -> complex:
        raise NotReplayable("complex() of a recorded value")

    def __hash__(self):
        if isinstance(self.primal, np.ndarray):
            raise TypeError("unhashable type: 'numpy.ndarray'")
        return self._guard(same_hash, hash(self.primal))

    def __round__(self, ndigits=None):
        if isinstance(self.primal, np.ndarray):
            raise TypeError("type numpy.ndarray doesn't define __round__ method")
        value = round(self.primal, ndigits)
        if ndigits is None:
            return self._guard(_same_round0, value)
        self._prog.guard(_same_round_digits(ndigits), self._slot, value)
        return value

    def __str__(self) -> str:
        # str() and format() show the values to Python (a key, a branch on the text): guarded like float()
        return self._guard(same_str, str(self.primal))

    def __format__(self, spec: str) -> str:
        value = format(self.primal, spec)
        self._prog.guard(_same_format(spec), self._slot, value)
        return value

    def item(self, *args):
        if args:
            raise NotReplayable(".item(index) of a recorded value")
        value = _item(self.primal)
        self._prog.guard(same_item, self._slot, value)
        return value

    def tolist(self):
        self._prog.guard(same_bits, self._slot, _bits(self.primal))
        return _tolist(self.primal)

    def __array__(self, dtype=None, copy=None):
        # np.asarray / np.array of a value computed from the inputs: the plain copy would be a constant of the program,
        # so the replay checks that the values are still the same
        value = np.array(self.primal, copy=True)
        self._prog.guard(same_bits, self._slot, _bits(value))
        return value if dtype is None else value.astype(dtype)

    def as_index(self) -> tuple:
        """The recorded value as index arrays (``x[i]``, ``x[mask]``): a mask is the integer arrays of its True
        positions (recorded ``np.nonzero``, guarded on their count)."""
        value = self.primal
        dt = getattr(value, "dtype", None)
        if dt is None or dt.kind not in "biu":
            raise NotReplayable("an index computed from the inputs that is not an integer or boolean array")
        if dt.kind == "b":
            if np.ndim(value) == 0:
                raise NotReplayable("a boolean scalar computed from the inputs used as an index")
            parts = np.nonzero(value)
            out = self._prog.emit(np.nonzero, (self._slot,), None, None, parts)
            result = []
            for j, part in enumerate(parts):
                s = self._prog.emit(operator.itemgetter(j), (out,), None, None, part)
                self._prog.guard(same_shape, s, part.shape)
                result.append(_slot_array(part, s, self))
            return tuple(result)
        return (_slot_array(value, self._slot, self),)

    def as_array(self):
        """This value as an ndarray (a NumPy scalar becomes a 0-d array, recorded), as engines hand derivatives back."""
        if isinstance(self.primal, np.ndarray):
            return self
        value = np.asarray(self.primal)
        return Rec(value, self._prog, self._prog.emit(np.asarray, (self._slot,), None, None, value))

    def as_input(self, fn: str):
        """A differentiated argument, converted as the engines convert plain inputs (ints to float64, a scalar to a
        NumPy scalar): the conversion is recorded too."""
        value = _as_input(self.primal, fn)
        if value is self.primal:
            return self
        out = self._prog.emit(_input_converter(fn), (self._slot,), None, None, value)
        return Rec(value, self._prog, out)

    # ---- what the recorded program cannot follow: run the function eagerly instead -------------------------------
    def __setitem__(self, index, value):
        raise NotReplayable("item assignment into an array computed from the inputs")

    def _inplace(self, symbol, new):
        if self._slot in self._prog.in_slots:
            raise NotReplayable(f"x {symbol}= y on an argument changes the caller's array")
        return super()._inplace(symbol, new)

    def _in_place_method(self, what, instead):
        raise NotReplayable(f"x.{what} on a recorded value")

    def _no_memory_layout(self, what):
        raise NotReplayable(f"x.{what} of a recorded value")

    strides = property(lambda self: self._no_memory_layout("strides"))
    flags = property(lambda self: self._no_memory_layout("flags"))
    base = property(lambda self: self._no_memory_layout("base"))

    def view(self, dtype=None, type=None):
        if dtype is None and type is None:
            return self
        raise NotReplayable("x.view(dtype) of a recorded value")

    @property
    def flat(self):
        raise NotReplayable("x.flat of a recorded value")

    def __getattr__(self, name):
        # an ndarray attribute no engine has (x.tobytes(), x.ctypes, x.setflags, x.resize): eager evaluation would
        # answer it on a plain argument, so the call runs eagerly rather than failing
        if not name.startswith("_") and hasattr(np.ndarray, name):
            raise NotReplayable(f"x.{name} of a recorded value")
        raise AttributeError(f"'Rec' object has no attribute '{name}'")

    def __copy__(self):  # a copy holds the same values: the same slot (no in-place change reaches a recorded value)
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce_ex__(self, protocol):
        raise NotReplayable("pickling a recorded value")

    def __bytes__(self):
        raise NotReplayable("bytes() of a recorded value")

    def __buffer__(self, flags):  # (Python 3.12 and later: memoryview() and other buffer users)
        raise NotReplayable("the buffer of a recorded value")

    def __repr__(self) -> str:
        return f"Rec(s{self._slot}, primal={self.primal!r})"


def _errstate_changed(prog: Program) -> None:
    """The function changed NumPy's error state while recording: a state that raises cannot be replayed (the replay
    runs under the caller's state, and the function may catch the error to take another branch); another state only
    changes which warnings are shown."""
    state = np.geterr()
    if "raise" in state.values() or "call" in state.values():
        raise NotReplayable("np.errstate(...='raise') inside the function (a replay would not raise where eager "
                            "evaluation does)")
    prog.errstate = _ERRSTATE.get()


_IN_COMPOSITE: set = set()  # the composites whose implementation is running on recorded values


def same_str(v, expected) -> bool:
    return str(v) == expected


def _same_format(spec: str):
    def test(v, expected) -> bool:
        return format(v, spec) == expected

    return test


def _same_round0(v, expected) -> bool:
    return round(v) == expected


def _same_round_digits(ndigits: int):
    def test(v, expected) -> bool:
        return _same_number(round(v, ndigits), expected)

    return test


def _outer(args, kwargs, level: int) -> bool:
    """Whether a value of another transformation is among the arguments (one level into lists and tuples)."""
    for a in (*args, *kwargs.values()):
        for b in (a if type(a) in (list, tuple) else (a,)):
            if isinstance(b, Traced) and b._level != level:
                return True
    return False


def _rebuilt_call(fn, spec: tuple, values: list, kw_spec: dict, kw_values: dict):
    """``fn`` called with the recorded arguments, the recorded slots' values put back in their places."""

    def call(*slots):
        args = []
        for (kind, k), v in zip(spec, values):
            if kind is None:
                args.append(v if k is None else slots[k])
            else:
                args.append(kind(w if j is None else slots[j] for w, j in zip(v, k)))
        kw = {key: (kw_values[key] if j is None else slots[j]) for key, j in kw_spec.items()}
        return fn(*args, **kw)

    call.__name__ = getattr(fn, "__name__", "call")
    return call


_CONVERTERS: dict = {}


def _input_converter(fn: str):
    conv = _CONVERTERS.get(fn)
    if conv is None:
        def conv(x, fn=fn):
            return _as_input(x, fn)

        _CONVERTERS[fn] = conv
    return conv

