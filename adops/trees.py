"""Argument handling both engines share: flattening tuples/lists/dicts of arrays, and checking input leaves."""

from __future__ import annotations

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
        return leaves, (type(tree), None, defs)
    if isinstance(tree, dict):
        keys = list(tree)
        leaves, defs = [], []
        for k in keys:
            sub, d = flatten(tree[k])
            leaves.extend(sub)
            defs.append((len(sub), d))
        return leaves, (dict, keys, defs)
    return [tree], None


def unflatten(treedef, leaves):
    """Inverse of ``flatten``."""
    if treedef is None:
        (leaf,) = leaves
        return leaf
    kind, keys, defs = treedef
    items, start = [], 0
    for n, d in defs:
        items.append(unflatten(d, leaves[start:start + n]))
        start += n
    if kind is dict:
        return dict(zip(keys, items))
    return kind(items) if kind in (tuple, list) else kind(*items)


def regroup(leaves: list, in_defs: list) -> list:
    """Split a flat list of per-leaf results back into one structure per argument.

    ``in_defs`` holds ``(leaf count, treedef)`` for each differentiated argument, in order.
    """
    per_arg, pos = [], 0
    for count, d in in_defs:
        per_arg.append(unflatten(d, leaves[pos:pos + count]))
        pos += count
    return per_arg


def as_input(x, fn: str, copy: bool = False) -> np.ndarray:
    """A differentiable input leaf as a float array: ints become float64, float32 stays float32."""
    if getattr(x, "_level", None) is not None:
        return x
    arr = np.array(x, copy=copy) if copy else np.asarray(x)
    if arr.dtype == object:
        raise TypeError(f"{fn}: cannot differentiate with respect to an object array or ragged list; "
                        "pass float arrays")
    if arr.dtype == bool:
        raise TypeError(f"{fn}: cannot differentiate with respect to a boolean input; pass floats")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{fn}: complex inputs are not supported; split them into real and imaginary parts")
    if not np.issubdtype(arr.dtype, np.floating):
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{fn}: inputs must be numbers or arrays of numbers, got {type(x).__name__}")
        arr = arr.astype(np.float64)
    return arr


def normalize_argnums(argnums, nargs: int, fn: str) -> tuple[tuple, bool]:
    """(argnums as a tuple, whether the caller asked for a single int)."""
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{fn}: argnums {argnums!r} is out of range for a function called with {nargs} "
                             "positional argument(s)")
    return tuple(a % nargs for a in nums), single


def leaf_shape(x) -> tuple:
    return tuple(getattr(x, "shape", np.shape(x)))


def leaf_dtype(x):
    dt = getattr(x, "dtype", None)
    return dt if dt is not None and np.issubdtype(dt, np.floating) else np.dtype(np.float64)
