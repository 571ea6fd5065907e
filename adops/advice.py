"""What to write instead, when a traced value is about to become a plain number or array.

NumPy turns a traced value into a plain one (``__array__``, ``__float__``) when it cannot see it: a Python list of
traced values handed to ``np.mean``/``np.array``/``np.r_``, ``np.full(shape, x)``, ``y[0] = x`` into a plain array,
``math.sin(x)``, ``scipy.special.logsumexp(x)``. NumPy's dispatch sees the list, not its elements, so no registry
record can answer these calls; the error instead names the call the stack shows and the rewrite.
"""

from __future__ import annotations

import linecache
import re
import sys

_OURS = ("adops", "dualad", "revad", "compare")
_LIBRARIES = ("numpy", "scipy")

# (library function as the stack shows it) -> (the call the user wrote, the rewrite)
_REWRITES = {
    "scipy.special.logsumexp": ("scipy.special.logsumexp(x)", "adops.nn.logsumexp(x, axis=...), which is stable "
                                "and differentiable in both engines"),
    "scipy.special.softmax": ("scipy.special.softmax(x)", "adops.nn.softmax(x, axis=...)"),
    "scipy.special.log_softmax": ("scipy.special.log_softmax(x)", "adops.nn.log_softmax(x, axis=...)"),
    "np.r_": ("np.r_[a, b]", "np.concatenate([a, b]) (np.atleast_1d each scalar first)"),
    "np.c_": ("np.c_[a, b]", "np.column_stack([a, b])"),
    "np.full": ("np.full(shape, x)", "np.broadcast_to(x, shape) (or x * np.ones(shape))"),
    "np.full_like": ("np.full_like(a, x)", "np.broadcast_to(x, np.shape(a)) (or x * np.ones_like(a))"),
    "np.vectorize": ("np.vectorize(g)(x)", "g(x) when g's NumPy operations work on whole arrays (ufuncs do; write "
                     "np.where for an if on the value), or np.stack([g(xi) for xi in x]) for one call per element"),
}


def _module(frame) -> str:
    return frame.f_globals.get("__name__", "") or ""


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _library_call(frame) -> tuple[str | None, object]:
    """The outermost NumPy/SciPy function on the stack above ``frame`` (the one the user called), and the user's frame
    that called it. A NumPy function dispatched to a traced value shows as our ``__array_function__`` frame, whose
    ``func`` names it (``np.append`` running its composite, which hands a list to ``np.ravel``)."""
    name = None
    while frame is not None:
        module, fn = _module(frame), frame.f_code.co_name
        if _top(module) in _OURS:
            if fn in ("__array_function__", "__array_ufunc__"):
                from .core import callable_name

                func = frame.f_locals.get("func", frame.f_locals.get("ufunc"))
                name = callable_name(func) if func is not None else name
        elif _top(module) in _LIBRARIES:
            if fn == "__getitem__" and "index_tricks" in module:
                owner = type(frame.f_locals.get("self")).__name__
                name = {"RClass": "np.r_", "CClass": "np.c_"}.get(owner, "np.r_")
            elif fn == "__call__" and type(frame.f_locals.get("self")).__name__ == "vectorize":
                name = "np.vectorize"
            elif not fn.startswith(("_", "<")):  # (not a private helper, a comprehension or a module body)
                public = "scipy.special" if module.startswith("scipy.special") else (
                    "np" if module.startswith("numpy") else module)
                name = f"{public}.{fn}"
        else:
            break
        frame = frame.f_back
    return name, frame


def _source(frame) -> str:
    if frame is None:
        return ""
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
    return f"`{line}` ({frame.f_code.co_filename}:{frame.f_lineno})" if line else ""


def to_array(engine: str) -> str:
    """The message for ``np.asarray`` of a traced value (``__array__``)."""
    name, user = _library_call(sys._getframe(1))
    where = _source(user)
    at = f" in {where}" if where else ""
    if name in _REWRITES:
        call, rewrite = _REWRITES[name]
        return (f"{engine}: {call}{at} converts its argument with np.asarray, which would drop the derivative; write "
                f"{rewrite}")
    if name is not None:
        return (f"{engine}: {name}(...){at} was handed a Python list (or other container) holding traced values; "
                "NumPy's dispatch sees the list, not its elements, and converts it with np.asarray, which would drop "
                f"the derivative. Build an array first: {name}(np.stack([a, b, ...]), ...) (np.concatenate to join "
                "along an existing axis)")
    return (f"{engine}: np.array/np.asarray of traced values{at} would drop their derivative; write np.stack([a, b, "
            "...]) for a list of traced values (np.concatenate to join along an existing axis), or keep the value "
            "as it is (it is already an array)")


def to_number(engine: str, what: str) -> str:
    """The message for ``float(x)``/``int(x)``/``complex(x)`` of a traced value."""
    _, user = _library_call(sys._getframe(1))
    line = linecache.getline(user.f_code.co_filename, user.f_lineno) if user is not None else ""
    where = _source(user)
    at = f" in {where}" if where else ""
    called = re.search(r"\bmath\.(\w+)\s*\(", line)
    if called:
        fn = called.group(1)
        return (f"{engine}: math.{fn}(x){at} converts x to a Python float, which would drop its derivative; write "
                f"np.{fn}(x) (NumPy's functions take traced values)")
    if re.search(r"\]\s*=[^=]", line):
        return (f"{engine}: writing a traced value into a plain NumPy array{at} would drop its derivative (NumPy "
                "reports it as 'setting an array element with a sequence'); build the array from the traced "
                "values instead: np.stack([...]) of the entries, np.where(mask, value, y) to replace entries, or "
                "np.concatenate of the pieces")
    return (f"{engine}: {what} of a traced array{at} would drop its derivative; keep it an array (np.stack builds "
            "arrays from traced values), or differentiate a function that returns it")
