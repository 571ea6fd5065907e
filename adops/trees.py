"""Argument handling both engines share: flattening tuples/lists/dicts of arrays, and checking input leaves."""

from __future__ import annotations

import threading
import tracemalloc
from typing import Any

import numpy as np


def flatten(tree) -> tuple[list, Any]:
    """Leaves of nested tuples/lists/dicts (in order) and a description to rebuild the structure."""
    if isinstance(tree, (tuple, list)):
        leaves, defs = [], []
        for item in tree:
            sub, d = flatten(item)
            leaves.extend(sub)
            defs.append((len(sub), d))
        return leaves, (type(tree), None, defs, None)
    if isinstance(tree, dict):
        try:  # sorted keys, as JAX does: two dicts with the same keys always line up, whatever their order
            keys = sorted(tree)
        except TypeError:
            keys = list(tree)
        leaves, defs = [], []
        for k in keys:
            sub, d = flatten(tree[k])
            leaves.extend(sub)
            defs.append((len(sub), d))
        return leaves, (dict, keys, defs, tuple(tree))  # the last entry only restores the caller's key order
    return [tree], None


def unflatten(treedef, leaves):
    """Inverse of ``flatten``."""
    if treedef is None:
        (leaf,) = leaves
        return leaf
    kind, keys, defs, order = treedef
    items, start = [], 0
    for n, d in defs:
        items.append(unflatten(d, leaves[start:start + n]))
        start += n
    if kind is dict:
        by_key = dict(zip(keys, items))
        return {k: by_key[k] for k in order}
    return kind(items) if kind in (tuple, list) else kind(*items)


def same_structure(a, b) -> bool:
    """Whether two treedefs describe the same containers and dict keys (dict key order does not matter)."""
    if a is None or b is None:
        return a is b
    if a[0] is not b[0] or a[1] != b[1] or len(a[2]) != len(b[2]):
        return False
    return all(na == nb and same_structure(da, db) for (na, da), (nb, db) in zip(a[2], b[2]))


def split_aux(out, has_aux: bool, level: int, fn: str):
    """``(out, aux)`` of a function called with ``has_aux``; aux leaves lose this call's tracing (JAX's rule)."""
    if not has_aux:
        return out, None
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"{fn}: with has_aux=True the function must return a pair (output, aux), got "
                        f"{type(out).__name__}")
    value, aux = out
    leaves, treedef = flatten(aux)
    plain = []
    for leaf in leaves:
        while getattr(leaf, "_level", None) is not None and leaf._level >= level:
            leaf = leaf.primal
        plain.append(leaf)
    return value, unflatten(treedef, plain)


def regroup(leaves: list, in_defs: list) -> list:
    """Split a flat list of per-leaf results back into one structure per argument.

    ``in_defs`` holds ``(leaf count, treedef)`` for each differentiated argument, in order.
    """
    # derivatives are arrays (0-d included), never NumPy scalars; a value recorded for replay converts on the record
    leaves = [leaf.as_array() if getattr(leaf, "records_values", False) else leaf for leaf in leaves]
    per_arg, pos = [], 0
    for count, d in in_defs:
        per_arg.append(unflatten(d, leaves[pos:pos + count]))
        pos += count
    return per_arg


def as_input(x, fn: str, copy: bool = False):
    """A differentiable input leaf as a float array: ints become float64, float32 stays float32.

    A Python or NumPy scalar stays a NumPy scalar (immutable: ``x += y`` rebinds ``x``, as in NumPy and JAX); an
    ndarray, 0-d included, stays an ndarray (``x += y`` changes it, and every alias sees the change).
    """
    if type(x) is np.ndarray and x.dtype.kind == "f" and not copy:  # the common case: used as it is
        return x
    if getattr(x, "_level", None) is not None:
        convert = getattr(x, "as_input", None)  # a value being recorded for replay converts as a plain one would
        return x if convert is None else convert(fn)
    if isinstance(x, (float, int, np.generic)):
        return _as_float_array(np.asarray(x), x, fn)[()]
    return _as_float_array(np.array(x, copy=copy) if copy else np.asarray(x), x, fn)


def _as_float_array(arr: np.ndarray, x, fn: str) -> np.ndarray:
    refuse_subclass(x, fn)
    if arr.dtype == object:
        raise TypeError(f"{fn}: cannot differentiate with respect to an object array or ragged list; "
                        "pass float arrays")
    if arr.dtype == bool:
        raise TypeError(f"{fn}: cannot differentiate with respect to a boolean input; pass floats")
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{fn}: complex inputs are not supported; split them into real and imaginary parts")
    if kind != "f":
        if kind not in "iu":
            raise TypeError(f"{fn}: inputs must be numbers or arrays of numbers, got {type(x).__name__}")
        arr = arr.astype(np.float64)
    return arr


def refuse_subclass(x, fn: str) -> None:
    """Masked arrays and np.matrix change what NumPy code means (masks, * as a matrix product); refuse them."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{fn}: masked arrays (np.ma) are not supported: their mask would be silently dropped; pass "
                        "x.filled(value) or x.compressed(), or carry the mask as a boolean array and use np.where")
    if isinstance(x, np.matrix):
        raise TypeError(f"{fn}: np.matrix is not supported (its * is a matrix product, which traced arrays do not "
                        "follow); pass np.asarray(m) and write matrix products with @")


def normalize_argnums(argnums, nargs: int, fn: str) -> tuple[tuple, bool]:
    """(argnums as a tuple, whether the caller asked for a single int)."""
    if type(argnums) is int and 0 <= argnums < nargs:  # the common case, checked in one step
        return (argnums,), True
    single = isinstance(argnums, (int, np.integer)) and not isinstance(argnums, bool)
    items = (argnums,) if single else argnums
    if not single and (not isinstance(argnums, (tuple, list)) or not all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in argnums)):
        raise TypeError(f"{fn}: argnums must be an int or a tuple of ints, got {argnums!r}")
    nums = tuple(int(a) for a in items)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{fn}: argnums {argnums!r} is out of range for a function called with {nargs} "
                             "positional argument(s)")
    nums = tuple(a % nargs for a in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"{fn}: argnums {argnums!r} names the same argument twice")
    if not nums:
        raise ValueError(f"{fn}: argnums is empty; name at least one argument to differentiate")
    return nums, single


def check_callable(f, fn: str) -> None:
    if not callable(f):
        raise TypeError(f"{fn}: expected a function to differentiate, got {type(f).__name__}")


CHUNK_BUDGET = 1 << 23  # entries per pass of a default ("auto") Jacobian: 64 MiB of float64 (see ``auto_width``)
AUTO_ONE_PASS = 64  # up to this many directions, "auto" puts them all through one pass without measuring
AUTO_PROBE = 4  # above it, dualad measures a first pass of this many directions, then sizes the others


def check_chunk(chunk_size, fn: str) -> int | str | None:
    """A positive chunk size, None for all directions in one pass, or "auto" (see ``chunk_width``)."""
    if chunk_size is None or (isinstance(chunk_size, str) and chunk_size == "auto"):
        return chunk_size
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"{fn}: chunk_size must be a positive integer, None (one pass) or 'auto', got "
                         f"{chunk_size!r}")
    return int(chunk_size)


def chunk_width(chunk, k: int, size: int) -> int:
    """Directions per pass for ``k`` directions over inputs (forward) or outputs (reverse) of ``size`` entries.

    "auto" here is the seed rule: each pass's seed under ``CHUNK_BUDGET`` entries. Above ``AUTO_ONE_PASS``
    directions the engines narrow it further with ``auto_width`` from a measured pass, so that a whole pass (not
    only its seed) stays under the budget; None is all k at once.
    """
    if chunk is None:
        return k
    if chunk == "auto":
        return max(1, min(k, CHUNK_BUDGET // max(size, 1)))
    return min(chunk, k)


def auto_width(seed_width: int, bytes_per_direction: float) -> int:
    """Directions per pass of an "auto" Jacobian once one direction's memory in a pass is known: as many as keep a
    pass under ``CHUNK_BUDGET`` float64 entries (in bytes), never more than the seed rule allows, one at least."""
    return max(1, min(seed_width, int(CHUNK_BUDGET * 8 // max(bytes_per_direction, 1.0))))


class PeakMeter:
    """The peak bytes allocated (``tracemalloc``) between ``start`` and ``stop``.

    If tracemalloc is not running, it runs just for this (one thread at a time; ``start`` gives None while another
    thread measures). If it is already running (the user is measuring), its counters are read, never reset: the
    peak is known only if the measured code raised the running peak, else ``stop`` gives None.

    >>> meter = PeakMeter.start()
    >>> peak = meter.stop() if meter is not None else None
    """

    __slots__ = ("owner", "current", "peak")
    _lock = threading.Lock()

    @classmethod
    def start(cls) -> PeakMeter | None:
        meter = cls()
        meter.owner, meter.current, meter.peak = False, 0, 0
        if tracemalloc.is_tracing():
            meter.current, meter.peak = tracemalloc.get_traced_memory()
            return meter
        if not cls._lock.acquire(blocking=False):
            return None
        meter.owner = True
        tracemalloc.start()
        return meter

    def stop(self) -> int | None:
        """Stop measuring; the peak in bytes above the starting point, or None if it is not known."""
        if not self.owner:
            _, peak = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
            return peak - self.current if peak > self.peak else None
        try:
            peak = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else 0
            tracemalloc.stop()
        finally:
            self._lock.release()
        return peak or None


def one_hot(width: int, size: int, start: int, offset: int, dtype) -> np.ndarray:
    """Rows ``start .. start+width`` of the identity, restricted to the columns of one leaf at ``offset``.

    Seeds the tangents (forward) or cotangents (reverse) of one chunk of a full Jacobian.
    """
    seed = np.zeros((width, size), dtype=dtype)
    lo, hi = max(start, offset), min(start + width, offset + size)
    if lo < hi:
        seed[np.arange(lo - start, hi - start), np.arange(lo - offset, hi - offset)] = 1
    return seed


def leaf_shape(x) -> tuple:
    s = getattr(x, "shape", None)
    if s is None:
        return np.shape(x)
    return s if type(s) is tuple else tuple(s)


def leaf_dtype(x):
    dt = getattr(x, "dtype", None)
    return dt if dt is not None and dt.kind == "f" else _F64


_F64 = np.dtype(np.float64)
