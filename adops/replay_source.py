"""Straight-line Python for a recorded ``adops.replay.Program``: the second tier of ``compiled``.

The interpreter pays a tuple unpack, a tag test and a list of slots per instruction. The generated function has one
line per instruction, its slots are local variables, and the impls, rule functions and constants are bound as
arguments of a factory (closure cells), so a call is the NumPy work and little else. Generating and compiling costs
about 20 us per instruction, so ``compiled`` generates only after a program has been replayed a few times.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .core import INFINITE
from .replay import CALL, CALL_DYN, CALL_KW, FLAG, FREE, GUARD, RESET, Program, Stale, const_output, fix_output


def generate(prog: Program) -> Callable:
    """A function of the program's inputs returning its outputs, rebuilt in their containers (as ``unflatten``).

    >>> import numpy as np, revad
    >>> from adops.compiled import compiled
    >>> g = compiled(revad.grad(lambda x: x * x), generate_after=1)
    >>> _ = g(np.array(1.0)); _ = g(np.array(2.0))  # recorded, then replayed once: generated
    >>> print(g.lru.popitem()[0].source.splitlines()[0])
    def replay(s0):
    """
    if not prog.optimized:
        prog.optimize()
    names: dict = {}  # id(object) -> name in the factory
    bound: list = []

    def bind(obj, prefix: str) -> str:
        name = names.get(id(obj))
        if name is None:
            name = f"{prefix}{len(bound)}"
            names[id(obj)] = name
            bound.append((name, obj))
        return name

    consts = {s for s, v in enumerate(prog.template) if v is not None}
    for s in consts:
        names[("slot", s)] = bind(prog.template[s], "c")

    def slot(s: int) -> str:
        return names[("slot", s)] if s in consts else f"s{s}"

    def param(key, value, dyn_here) -> str:
        if not dyn_here:
            return bind(value, "p")
        if dyn_here[0][0] is None:
            return slot(dyn_here[0][1])
        items = []
        for pos, item in enumerate(value):
            ref = next((s for p, s in dyn_here if p == pos), None)
            items.append(slot(ref) if ref is not None else bind(item, "p"))
        return "(" + "".join(f"{i}, " for i in items) + ")"

    lines = [f"def replay({', '.join(slot(s) for s in prog.in_slots)}):"]
    for tag, a, b, c, d in prog.code:
        if tag in (CALL, CALL_KW, CALL_DYN):
            args = [slot(s) for s in b]
            params, dyn = (c if tag == CALL_DYN else (c, ())) if tag != CALL else ({}, ())
            for key, value in params.items():
                here = [(pos, s) for k, pos, s in dyn if k == key]
                expr = param(key, value, here)
                args.append(f"{key}={expr}" if key.isidentifier() else f"**{{{key!r}: {expr}}}")
            lines.append(f"    s{d} = {bind(a, 'f')}({', '.join(args)})")
        elif tag == GUARD:
            lines.append(f"    if not {bind(a, 'g')}({slot(b)}, {bind(c, 'e')}): raise _Stale")
        elif tag == FREE:
            lines.append(f"    del {', '.join(slot(s) for s in a)}")
        elif tag == RESET:
            lines.append("    _INF.seen = False")
        elif tag == FLAG:
            lines.append(f"    if _INF.seen is not {a!r}: raise _Stale")
        else:  # pragma: no cover
            raise AssertionError(tag)
    outs = []
    for s, fix, (_, value) in zip(prog.out_slots, prog.out_fix, prog.out_consts):
        if s < 0:
            outs.append(f"_const({bind(value, 'o')})" if isinstance(value, np.ndarray) else bind(value, "o"))
        elif fix is None:
            outs.append(slot(s))
        else:
            outs.append(f"_fix({slot(s)}, {bind(fix, 'x')})")
    lines.append(f"    return {_rebuild(prog.out_def, outs, bind)}")
    body = "\n".join("    " + line for line in lines)
    params = ", ".join(name for name, _ in bound)
    source = f"def factory({params}):\n{body}\n    return replay\n"
    namespace = {"_Stale": Stale, "_INF": INFINITE, "_fix": fix_output, "_const": const_output}
    exec(compile(source, f"<replay of {len(prog.code)} instructions>", "exec"), namespace)
    prog.source = "\n".join(lines)
    return namespace["factory"](*[obj for _, obj in bound])


def _rebuild(treedef, leaves: list, bind) -> str:
    """A Python expression building the output containers (``adops.trees.unflatten`` written out)."""
    if treedef is None:
        return leaves[0]
    kind, keys, defs, order = treedef
    items, start = [], 0
    for n, d in defs:
        items.append(_rebuild(d, leaves[start:start + n], bind))
        start += n
    if kind is tuple:
        return "(" + "".join(f"{i}, " for i in items) + ")"
    if kind is list:
        return "[" + ", ".join(items) + "]"
    if kind is dict:
        by_key = dict(zip(keys, items))
        return "{" + ", ".join(f"{bind(k, 'k')}: {by_key[k]}" for k in order) + "}"
    return f"{bind(kind, 't')}({', '.join(items)})"
