"""Cotangents the reverse sweep may accumulate in place instead of materializing: ``IndexAdd``, zeros of a shape with
values added at an index (the transpose of indexing).

A loop ``for i in range(n): s = s + f(x[i])`` pulls n cotangents back to ``x``. As dense arrays that is n
full-length zero arrays and n full-length additions: O(n^2). As ``IndexAdd``s, the sweep allocates one buffer for
``x``'s slot and adds each piece at its index: O(n). Only the sweep sees this type (through a record's
``scatter_vjps``); every other caller of a rule gets dense arrays.
"""

from __future__ import annotations

import numpy as np


class IndexAdd:
    """``zeros(shape, dtype)`` with ``values`` added at ``index``, not yet built.

    ``repeats`` says that ``index`` holds integer arrays, which may name a position more than once (their
    contributions add, as ``np.add.at`` does); a basic index (ints and slices) never repeats a position.

    >>> import numpy as np
    >>> piece = IndexAdd((4,), np.dtype(np.float64), (1,), np.array(2.5), repeats=False)
    >>> piece.dense()
    array([0. , 2.5, 0. , 0. ])
    >>> buffer = piece.dense()
    >>> IndexAdd((4,), np.dtype(np.float64), (np.array([3, 3]),), np.array([1.0, 1.0]), repeats=True).add_to(buffer)
    True
    >>> buffer
    array([0. , 2.5, 0. , 2. ])
    """

    __slots__ = ("shape", "dtype", "index", "values", "repeats")

    def __init__(self, shape: tuple, dtype: np.dtype, index: tuple, values, repeats: bool):
        self.shape = shape
        self.dtype = dtype
        self.index = index
        self.values = values
        self.repeats = repeats

    def dense(self) -> np.ndarray:
        """A new array (the caller owns it): zeros with the values added at the index."""
        out = np.zeros(self.shape, dtype=self.dtype)
        if self.repeats:
            np.add.at(out, self.index, self.values)
        else:
            out[self.index] = self.values
        return out

    def add_to(self, buffer: np.ndarray) -> bool:
        """Add this cotangent into ``buffer`` in place, if that gives the numbers of ``buffer + self.dense()``: the
        same shape, and a dtype the sum keeps. Returns False (and leaves ``buffer`` alone) otherwise.

        Only ever call it on a buffer the caller owns: it writes into it. A basic index touches only its positions;
        an index that may repeat adds the built array (``np.add.at`` into the buffer would sum the repeated
        positions in another order, and a replay that recorded the dense sum would differ in the last bit).
        """
        dtype = buffer.dtype
        if buffer.shape != self.shape or (dtype != self.dtype and np.result_type(dtype, self.dtype) != dtype):
            return False
        if self.repeats:
            np.add(buffer, self.dense(), out=buffer)
        else:
            buffer[self.index] += self.values
        return True

    def __repr__(self) -> str:
        return f"IndexAdd(shape={self.shape}, dtype={self.dtype}, index={self.index!r})"
