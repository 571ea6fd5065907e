"""The tape (a Wengert list), the traced arrays that record onto it, and the single backward sweep."""

from __future__ import annotations

from collections.abc import Sequence
from gc import is_tracked as _is_tracked

import numpy as np

from adops.core import INFINITE, NO_PARAMS, check_real, is_stand_in, new_level, stand_in
from adops.cotangents import IndexAdd
from adops.counting import STATE, record, run_rule
from adops.frontend import Traced

_F64, _NDARRAY = np.float64, np.ndarray


class Tracer(Traced):
    """An array being recorded onto one tape (one reverse-mode call, its ``_level``).

    Every NumPy call on a Tracer computes the primal with the registry's impl and appends one record to the
    tape; nothing here knows any op.

    >>> import numpy as np
    >>> tape = Tape()
    >>> y = np.sin(tape.input(np.array(0.5)))
    >>> len(tape)
    1
    """

    __slots__ = ("primal", "_level", "_tape", "_slot", "__weakref__")
    engine = "revad"
    mode = "reverse-mode"

    def __init__(self, primal, tape: Tape, slot: int):
        self.primal = primal
        self._tape = tape
        self._level = tape.level
        self._slot = slot

    def _apply(self, op, arrays, params):
        level = self._level
        n = len(arrays)
        if n == 1:
            a = arrays[0]
            if type(a) is Tracer and a._level == level:
                primals, slots = (a.primal,), (a._slot,)
            else:
                primals, slots = (a,), (-1,)
        elif n == 2:
            a, b = arrays
            if type(a) is Tracer and a._level == level:
                pa, sa = a.primal, a._slot
            else:
                pa, sa = a, -1
            if type(b) is Tracer and b._level == level:
                pb, sb = b.primal, b._slot
            else:
                pb, sb = b, -1
            primals, slots = (pa, pb), (sa, sb)
        else:
            primals = tuple([a.primal if type(a) is Tracer and a._level == level else a for a in arrays])
            slots = tuple([a._slot if type(a) is Tracer and a._level == level else -1 for a in arrays])
        ans = op.impl(*primals, **params) if params else op.impl(*primals)
        if op.jvp is None:
            return ans
        t = type(ans)
        if t is not _F64 and (t is not _NDARRAY or ans.dtype.kind == "c"):
            check_real(op, "revad", ans)
        if STATE.on:
            record(op, primals, params)
        return self._tape.record(op, slots, primals, params, ans)

    def __repr__(self) -> str:
        return f"Tracer(v{self._slot}, primal={self.primal!r}, level={self._level})"


class Tape:
    """The flat record of one reverse-mode call: ``(op, input slots, primals, params, ans, output slot)``.

    Input slots come first; each record's output slot is the next free number. ``trace`` returns one of
    these to look at: print it as a Wengert list, ask its length, flops and bytes held, or draw it.
    """

    # The records live in two parallel lists, ``_ops`` (each record's Op) and ``_rows`` (the rest but params,
    # ``(slots, primals, ans, out)``), and ``_params`` maps a record's index to its params where it has any (as a
    # flat tuple where the dict would stay tracked by the garbage collector, see ``_flat``). A row then holds only
    # tuples, ints, arrays and floats, so the collector stops tracking it within two collections. A tuple holding
    # an Op or a dict stays tracked for good, and every full collection would walk the whole tape: a per-primitive
    # cost growing with the tape's length (a list of references to the few Op objects is cheap to walk).
    __slots__ = ("level", "_ops", "_params", "_rows", "n_slots", "inputs", "_names", "outputs", "adjoints",
                 "infinite", "lean", "__weakref__")

    def __init__(self, lean: bool = True):
        self.level = new_level()
        # a record keeps a stand-in (adops.core.stand_in) for a float array its op's rules never read (Op.reads):
        # x @ W before the bias, for one, is then freed as soon as f lets go of it. ``trace`` keeps every value, to
        # print and draw them
        self.lean = lean
        self._ops: list = []
        self._params: dict = {}
        self._rows: list = []
        self.n_slots = 0
        self.inputs: list = []  # (slot, value)
        self._names: list = []  # a name given to each input, or None
        self.outputs: list = []  # (slot, value) of the traced function's outputs
        self.adjoints: dict | None = None
        # the strong-zero flag (adops.core.INFINITE) when recording ended, if a sweep may run later: an outermost
        # sweep starts from it, so a pullback gives the same answer whatever ran in between
        self.infinite: bool | None = None

    def input(self, value, name: str | None = None) -> Tracer:
        """A new input slot holding ``value``."""
        slot = self.n_slots
        self.n_slots += 1
        self.inputs.append((slot, value))
        self._names.append(name)
        return Tracer(value, self, slot)

    @property
    def input_names(self) -> list:
        """Each input's name: the one it was given, else ``x0``, ``x1``, ... by position. The list itself, so an
        input can be renamed (``tape.input_names[0] = "w"``) for printing, drawing and ``backward``'s keys.

        >>> tape = Tape()
        >>> _ = tape.input(np.ones(2)), tape.input(np.ones(2), "y")
        >>> tape.input_names
        ['x0', 'y']
        """
        names = self._names
        if not all(names):  # the default names are made here, on first use (most tapes are never asked)
            names[:] = [name or f"x{i}" for i, name in enumerate(names)]
        return names

    @input_names.setter
    def input_names(self, names: list) -> None:
        self._names = list(names)

    def record(self, op, slots: tuple, primals: tuple, params: dict, ans):
        """Append one call of ``op`` and return its traced output(s): the one way onto the tape.

        ``slots[i]`` is input i's slot (-1 for a constant). Each output gets the next free slot; a record with
        several outputs (``op.outputs > 1``) stores the tuple of their slots and returns ``op.result`` of their
        tracers, e.g. NumPy's ``EighResult``.

        >>> import numpy as np, adops
        >>> tape = Tape()
        >>> x = tape.input(np.array(0.5))
        >>> y = tape.record(adops.OPS["sin"], (x._slot,), (x.primal,), {}, np.sin(0.5))
        >>> len(tape), y._slot
        (1, 1)
        """
        slot = self.n_slots
        n = op.outputs
        rows = self._rows
        if params:
            self._params[len(rows)] = _flat(params) if _is_tracked(params) else params
        self._ops.append(op)
        if n == 1:
            self.n_slots = slot + 1
            reads = op.reads
            if reads is None or not self.lean:
                rows.append((slots, primals, ans, slot))
            elif type(ans) is _NDARRAY:  # keep only the arrays the rules read; the rest can go with f's frame
                rows.append((slots, _lean(primals, reads),
                             ans if "ans" in reads or ans.dtype.kind != "f" else stand_in(ans), slot))
            elif type(primals[0]) is _NDARRAY or (len(primals) == 2 and type(primals[1]) is _NDARRAY) or \
                    len(primals) > 2:
                rows.append((slots, _lean(primals, reads), ans, slot))
            else:  # (numbers only: nothing to drop)
                rows.append((slots, primals, ans, slot))
            return Tracer(ans, self, slot)
        outs = tuple(range(slot, slot + n))
        self.n_slots = slot + n
        rows.append((slots, primals, ans, outs))
        return op.result([Tracer(a, self, s) for a, s in zip(ans, outs)])

    @property
    def records(self) -> Records:
        """The records in execution order, each ``(op, slots, primals, params, ans, out)`` (a read-only view)."""
        return Records(self._ops, self._params, self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def sweep(self, seeds: dict, keep: bool = True, all_adjoints: bool = False) -> dict:
        """One reverse sweep from ``seeds`` ({slot: cotangent}); returns the cotangents of the input slots.

        Cotangents of intermediate slots are dropped as soon as they have been pulled back (and, with
        ``keep=False``, each record is released as it is passed), so memory shrinks during the sweep.
        """
        return self._sweep(dict(seeds), keep, {} if all_adjoints else None)

    def _sweep(self, cts: dict, keep: bool, seen: dict | None) -> dict:
        """``sweep`` on ``cts`` itself (the caller's own dict, consumed); ``seen`` collects every slot's adjoint."""
        # slot -> an IndexAdd (one piece, unbuilt) or an array this sweep allocated and so may add into. Once a slot
        # has an entry here, all its cotangent lives here (none in cts): every contribution is added in the order it
        # arrives, giving the very numbers the dense path gives (a replay records that path: adops.replay)
        acc = {}
        ops, rows, pmap = self._ops, self._rows, self._params
        if self.infinite is not None and not INFINITE.depth:
            INFINITE.seen = self.infinite
        counting = STATE.on
        pop = cts.pop
        get = cts.get
        no_params = NO_PARAMS
        try:
            for index in range(len(rows) - 1, -1, -1):
                slots, primals, ans, out = rows[index]
                if not keep:
                    rows[index] = None  # release the arrays it holds (the lists are cleared at the end)
                if type(out) is int:
                    ct = pop(out, None)
                    if acc and out in acc:
                        ct = _built(acc.pop(out))
                    if ct is None:
                        continue
                    if seen is not None:
                        seen[out] = ct
                else:  # several outputs: one cotangent each, None (a symbolic zero) for those nothing reached
                    ct = tuple([pop(s, None) for s in out])
                    if acc:
                        ct = tuple([_built(acc.pop(s)) if s in acc else c for s, c in zip(out, ct)])
                    if all(c is None for c in ct):
                        continue
                    if seen is not None:
                        seen.update((s, c) for s, c in zip(out, ct) if c is not None)
                op = ops[index]
                if pmap:
                    params = pmap.get(index, no_params)
                    if type(params) is tuple:
                        params = _unflat(params)
                    # scatter rules take an index: only records with params may have them
                    scatter = op.scatter_vjps if params else ()
                else:
                    params = no_params
                pull_all = op.vjp_all
                if pull_all is not None:  # one call pulls back to every input
                    if counting:
                        gs = run_rule("vjp", op, pull_all, ct, ans, primals, params)
                    elif params:
                        gs = pull_all(ct, ans, *primals, **params)
                    else:
                        gs = pull_all(ct, ans, *primals)
                    for s, g in zip(slots, gs):
                        if s >= 0 and g is not None:
                            if acc and s in acc:
                                _add_dense(cts, acc, s, g)
                                continue
                            prev = get(s)
                            cts[s] = g if prev is None else prev + g
                    continue
                vjps = op.vjps
                for i, s in enumerate(slots):
                    if s < 0:
                        continue
                    rule = vjps[i]
                    if rule is None:
                        continue
                    if counting:  # the registry's dense rules: counts are those of the rules as written
                        g = run_rule("vjp", op, rule, ct, ans, primals, params)
                    elif params:
                        if scatter:
                            g = scatter[i](ct, ans, *primals, **params)
                            if type(g) is IndexAdd:
                                _add_piece(cts, acc, s, g)
                                continue
                        else:
                            g = rule(ct, ans, *primals, **params)
                    else:
                        g = rule(ct, ans, *primals)
                    if g is None:
                        continue
                    if acc and s in acc:
                        _add_dense(cts, acc, s, g)
                        continue
                    prev = get(s)
                    cts[s] = g if prev is None else prev + g
        finally:
            if not keep:
                self._release_records()
        for s, held in acc.items():  # input slots (and slots no record reads) that got index-add pieces
            cts[s] = _built(held)
        if seen is not None:
            seen.update(cts)
            self.adjoints = seen
        return cts

    def backward(self, ct=None) -> dict:
        """Sweep back from the traced output and return ``{input name: adjoint}``; the tape is kept, and every
        slot's adjoint is stored for ``to_dot``/``draw``.

        ``ct`` defaults to 1 for a scalar output; pass an array of the output's shape otherwise.
        """
        if len(self.outputs) != 1:
            raise TypeError(f"Tape.backward: the traced function returned {len(self.outputs)} outputs; backward "
                            "needs one")
        slot, value = self.outputs[0]
        if ct is None:
            if np.ndim(value) != 0:
                raise TypeError(f"Tape.backward: the output has shape {np.shape(value)}; pass ct of that shape")
            ct = np.ones((), dtype=getattr(value, "dtype", np.float64))
        elif np.shape(ct) != np.shape(value):
            raise ValueError(f"Tape.backward: ct shape {np.shape(ct)} does not match output shape {np.shape(value)}")
        cts = self.sweep({slot: ct} if slot >= 0 else {}, keep=True, all_adjoints=True)
        result = {}
        for (s, value), name in zip(self.inputs, self.input_names):
            g = cts.get(s)
            if g is None:
                g = np.zeros_like(value)
            elif type(g) is np.ndarray:
                g = writable(g)
            result[name] = float(g) if np.ndim(g) == 0 else g
        return result

    # ---- looking at a tape --------------------------------------------------------------------------------
    def slot_name(self, slot: int) -> str:
        for (s, _), name in zip(self.inputs, self.input_names):
            if s == slot:
                return name
        return f"v{slot}"

    @property
    def flops(self) -> int:
        """Primal flops of the recorded calls, from the registry's cost column."""
        total = 0
        for op, slots, primals, params, ans, out in self.records:
            try:
                total += int(op.cost(*[np.shape(getattr(p, "primal", p)) for p in primals], **params))
            except Exception:
                pass
        return total

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays and NumPy scalars the tape keeps alive (each counted once; a stand-in for a value no
        rule reads holds one number)."""
        seen, total = set(), 0
        for _, _, primals, _, ans, _ in self.records:
            for value in (*primals, *(ans if isinstance(ans, tuple) else (ans,))):
                if isinstance(value, (np.ndarray, np.generic)) and id(value) not in seen and not is_stand_in(value):
                    seen.add(id(value))
                    total += value.nbytes
        return total

    def cotangent_bytes(self) -> int:
        """Bytes of one cotangent for every slot (inputs and records): what one direction of a sweep holds at most
        (cotangents are dropped as the sweep passes them), before the rules' temporaries."""
        total = 0
        for _, value in self.inputs:
            total += _nbytes(value)
        for row in self._rows:
            total += _nbytes(row[2])
        return total

    def __str__(self) -> str:
        from .draw import wengert

        return wengert(self)

    def __repr__(self) -> str:
        return f"<Tape level={self.level}: {len(self.inputs)} inputs, {len(self.records)} records, {self.nbytes} bytes>"

    def to_dot(self) -> str:
        """The computation graph as Graphviz DOT text, with forward values and (after ``backward``) adjoints."""
        from .draw import to_dot

        return to_dot(self)

    def draw(self, path: str | None = None, backend: str = "auto"):
        """Draw the graph: a PNG through Graphviz when ``dot`` is installed, else with matplotlib.

        Returns the path written (or the matplotlib figure when ``path`` is None and matplotlib draws).
        """
        from .draw import draw

        return draw(self, path, backend)

    def release(self) -> None:
        """Drop every record (and the arrays they keep alive)."""
        if self._rows:  # (a sweep with keep=False has released them already)
            self._release_records()
        self.inputs.clear()

    def _release_records(self) -> None:
        self._ops.clear()
        self._params.clear()
        self._rows.clear()


class Records(Sequence):
    """A read-only view of a tape's records as ``(op, slots, primals, params, ans, out)`` tuples.

    >>> import numpy as np
    >>> tape = Tape()
    >>> y = np.sin(tape.input(np.array(0.5)))
    >>> [(op.name, out) for op, slots, primals, params, ans, out in tape.records]
    [('sin', 1)]
    """

    __slots__ = ("_ops", "_params", "_rows")

    def __init__(self, ops: list, params: dict, rows: list):
        self._ops, self._params, self._rows = ops, params, rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._rows)))]
        if index < 0:
            index += len(self._rows)
        slots, primals, ans, out = self._rows[index]
        params = self._params.get(index, NO_PARAMS)
        return self._ops[index], slots, primals, _unflat(params) if type(params) is tuple else params, ans, out

    def __iter__(self):
        for index in range(len(self._rows)):
            yield self[index]

    def __reversed__(self):
        for index in range(len(self._rows) - 1, -1, -1):
            yield self[index]


def writable(g: np.ndarray) -> np.ndarray:
    """A gradient handed to the user: ``g``, or a copy of it where it is a read-only view (a sum's pullback
    broadcasts its cotangent), since users expect an array they can write into.

    >>> writable(np.broadcast_to(np.ones(1), (3,))).flags.writeable
    True
    """
    return g if g.flags.writeable else g.copy()


def _lean(primals: tuple, reads: frozenset) -> tuple:
    """``primals`` with a stand-in for each float array the rules do not read (numbers are kept: they cost nothing)."""
    if len(primals) == 1:
        p = primals[0]
        return (stand_in(p),) if type(p) is _NDARRAY and 0 not in reads and p.dtype.kind == "f" else primals
    if len(primals) == 2:
        a, b = primals
        if (type(a) is not _NDARRAY or 0 in reads) and (type(b) is not _NDARRAY or 1 in reads):
            return primals
    return tuple([stand_in(p) if type(p) is _NDARRAY and i not in reads and p.dtype.kind == "f" else p
                  for i, p in enumerate(primals)])


def _flat(params: dict) -> tuple:
    """A params dict as ``(key0, value0, key1, value1, ...)``. A dict holding a tuple (an index, axes) stays tracked
    by the garbage collector until a full collection; this tuple is untracked at the second collection it meets (a
    tuple of tuples of plain values: each level of nesting costs one), before it reaches the oldest generation."""
    return tuple([item for pair in params.items() for item in pair])


def _unflat(flat: tuple) -> dict:
    pairs = iter(flat)
    return dict(zip(pairs, pairs))


def _add_piece(cts: dict, acc: dict, slot: int, piece: IndexAdd) -> None:
    """Add an index-add cotangent to ``slot``: kept unbuilt while it is the slot's only contribution; with a second,
    one array is built (the sum the dense path makes, so the sweep owns it) and later pieces are added into it."""
    held = acc.pop(slot, None)
    if held is None:
        prev = cts.pop(slot, None)
        if prev is None:
            acc[slot] = piece
            return
        total = prev + piece.dense()
    else:
        if type(held) is IndexAdd:
            held = held.dense()
        if piece.add_to(held):
            acc[slot] = held
            return
        total = held + piece.dense()  # another shape or a wider dtype: out of place, as dense cotangents add
    _keep(cts, acc, slot, total)


def _add_dense(cts: dict, acc: dict, slot: int, g) -> None:
    """Add a dense cotangent to a slot whose cotangent lives in ``acc``: in place when that gives ``held + g``."""
    held = acc.pop(slot)
    if type(held) is IndexAdd:
        held = held.dense()
    dtype = held.dtype
    if type(g) is _NDARRAY and g.shape == held.shape and (g.dtype == dtype or np.result_type(held, g) == dtype):
        np.add(held, g, out=held)  # held is the sweep's own array; g (a rule's output) is only read
        acc[slot] = held
        return
    _keep(cts, acc, slot, held + g)


def _keep(cts: dict, acc: dict, slot: int, total) -> None:
    # a new plain array is the sweep's own, to add into; anything else (a traced sum) goes on the dense way
    if type(total) is _NDARRAY:
        acc[slot] = total
    else:
        cts[slot] = total


def _built(held):
    return held.dense() if type(held) is IndexAdd else held


def _nbytes(value) -> int:
    size = 1
    for d in getattr(value, "shape", ()):
        size *= d
    dtype = getattr(value, "dtype", None)
    return size * (dtype.itemsize if dtype is not None else 8)
