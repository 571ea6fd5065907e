"""The one Jacobian driver both engines share: which arguments are differentiated, which directions go through each
pass and how many at a time, and how the passes' results become a Jacobian.

An engine supplies a batched pass and nothing else (``BatchedPass``): forward mode runs ``f`` once per call with a
block of tangent directions on every input leaf and returns the output leaves' tangents; reverse mode records ``f``
once and sweeps a block of cotangents on the output leaves back to the input leaves, keeping its tape until the
last block. The rest lives here once:

- ``Inputs``: the chosen arguments (``argnums``, tuples/lists/dicts) as float leaves, regrouped at the end;
- a seed source (``Seeds``): unit directions built per leaf a chunk at a time (``OneHot``: the dense Jacobian and
  the gradient), or colour seeds (``adops.sparse.jacobian.ColourSeeds`` and ``adops.sparse.hessian.StarSeeds``);
- ``run``: the loop over chunks with the chunk-width policy (``chunk_size`` or ``"auto"``);
- ``OneHot.result``: the reassembly into ``out.shape + in.shape`` blocks per output leaf and argument.

Neither engine imports the other; both import this module.

>>> import numpy as np, dualad, revad
>>> f = lambda x, y: {"s": x * y, "t": np.sum(x)}
>>> fwd = dualad.jacfwd(f, argnums=(0, 1))(np.ones(2), np.arange(2.0))
>>> rev = revad.jacrev(f, argnums=(0, 1))(np.ones(2), np.arange(2.0))
>>> all(np.array_equal(fwd[k][i], rev[k][i]) for k in fwd for i in (0, 1))
True
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from . import trees
from .frontend import Traced
from .trees import (
    AUTO_ONE_PASS,
    AUTO_PROBE,
    PeakMeter,
    as_input,
    check_chunk,
    flatten,
    leaf_dtype,
    leaf_shape,
    normalize_argnums,
    one_hot,
    regroup,
    unflatten,
)


class Leaves:
    """The flat leaves of one side of a call (its differentiated inputs, or its outputs) with their shapes, sizes
    and float dtypes, each computed once.

    >>> Leaves([np.ones((2, 3)), 1.0]).sizes
    [6, 1]
    """

    __slots__ = ("leaves", "shapes", "sizes", "dtypes", "treedef", "total")

    def __init__(self, leaves: list, treedef=None):
        self.leaves = leaves
        self.treedef = treedef
        if len(leaves) == 1:  # (one loop's worth of calls saved on every gradient call)
            x = leaves[0]
            t = type(x)
            if (t is np.ndarray or t is _F64) and x.dtype.kind == "f":
                shape, dtype = x.shape, x.dtype
            else:
                shape, dtype = leaf_shape(x), leaf_dtype(x)
            self.shapes, self.dtypes = [shape], [dtype]
            self.total = size = math.prod(shape)
            self.sizes = [size]
            return
        self.shapes = shapes = [leaf_shape(x) for x in leaves]
        self.sizes = sizes = [math.prod(s) for s in shapes]
        self.dtypes = [leaf_dtype(x) for x in leaves]
        self.total = sum(sizes)


_F64 = np.float64
_ONE_LEAF = ((1, None),)  # the ``defs`` of an argument that is one array


def output_leaves(out, level: int, own: type, fn: str, floats: bool = False) -> tuple[list, list, Any]:
    """The leaves of ``f``'s output as the call at ``level`` sees them: ``(leaves, own_leaves, treedef)``.

    A leaf leaked from a finished inner call (a higher level: its perturbation is dead) is reduced to its part at
    this level. ``own_leaves[i]`` is the leaf when it is the engine's traced type ``own`` at this level, else None:
    a constant here (a plain array, as an ndarray; with ``floats``, integers as float64), zero derivative.

    >>> output_leaves((np.ones(2), 3), 0, type(None), "demo")[1]
    [None, None]
    """
    leaves, treedef = flatten(out)
    owned = []
    for i, leaf in enumerate(leaves):
        lv = getattr(leaf, "_level", None)
        if lv == level and type(leaf) is own:
            owned.append(leaf)
            continue
        while lv is not None and lv > level:
            leaf = leaf.primal  # leaked from a finished inner call: keep our part
            lv = getattr(leaf, "_level", None)
        if lv is None:
            arr = np.asarray(leaf)
            kind = arr.dtype.kind
            if kind not in "biufc":
                raise TypeError(f"{fn}: the function must return arrays or numbers (or tuples/lists/dicts of "
                                f"them), got {type(leaf).__name__}")
            leaf = arr.astype(np.float64) if floats and kind not in "fc" else arr
        leaves[i] = leaf
        owned.append(leaf if lv == level and type(leaf) is own else None)
    return leaves, owned, treedef


class Inputs(Leaves):
    """The arguments ``argnums`` of a call, flattened into float input leaves (``as_input``) in order.

    >>> inputs = Inputs((np.ones(2), {"a": 1.0, "b": np.zeros(3)}), (0, 1), "demo")
    >>> inputs.total, inputs.regroup([1, 2, 3])
    (6, (1, {'a': 2, 'b': 3}))
    """

    __slots__ = ("args", "nums", "single", "defs")

    def __init__(self, args: tuple, argnums, fn: str, copy: bool = False):
        if type(argnums) is int and 0 <= argnums < len(args):  # (normalize_argnums' common case, without the call)
            self.nums, self.single = nums, _ = (argnums,), True
        else:
            self.nums, self.single = nums, _ = normalize_argnums(argnums, len(args), fn)
        self.args = args
        self.treedef = None
        if len(nums) == 1:
            x = args[nums[0]]
            if type(x) is np.ndarray and not copy and x.dtype.kind == "f":  # the common case: one float array
                self.defs, self.leaves, self.shapes, self.dtypes = _ONE_LEAF, [x], [x.shape], [x.dtype]
                self.total = size = x.size
                self.sizes = [size]
                return
            sub, d = flatten(args[nums[0]])
            leaves = [as_input(sub[0], fn, copy)] if d is None else [as_input(x, fn, copy) for x in sub]
            self.defs = [(len(sub), d)]
        else:
            leaves, defs = [], []
            for a in nums:
                sub, d = flatten(args[a])
                leaves.extend([as_input(x, fn, copy) for x in sub])
                defs.append((len(sub), d))
            self.defs = defs
        Leaves.__init__(self, leaves)

    def call_args(self, leaves: list) -> list:
        """The call's positional arguments with the differentiated ones rebuilt from ``leaves`` (e.g. tracers)."""
        call = list(self.args)
        if self.defs is _ONE_LEAF:
            call[self.nums[0]] = leaves[0]
            return call
        pos = 0
        for a, (count, d) in zip(self.nums, self.defs):
            call[a] = leaves[pos] if d is None else unflatten(d, leaves[pos:pos + count])
            pos += count
        return call

    def regroup(self, per_leaf: list) -> Any:
        """One result per leaf, regrouped like the arguments: the structure itself for a single int ``argnums``,
        else a tuple with one structure per argument."""
        if self.single and (self.defs is _ONE_LEAF or self.defs[0][1] is None):
            leaf = per_leaf[0]  # (as trees.regroup: a value recorded for replay becomes an array on the record)
            return leaf.as_array() if getattr(leaf, "records_values", False) else leaf
        per_arg = regroup(per_leaf, self.defs)
        return per_arg[0] if self.single else tuple(per_arg)


class BatchedPass(ABC):
    """What an engine gives the driver: one batched JVP (``mode = "forward"``) or VJP (``"reverse"``) of ``f``.

    Calling it, ``pass_(seeds, batch, last)``: ``seeds`` holds one block per seed-side leaf (forward: the input
    leaves; reverse: the output leaves), shaped ``batch + leaf.shape``, or None for an all-zero block. It returns one
    block per result-side leaf (forward: output tangents; reverse: input cotangents), shaped ``batch + leaf.shape``.
    ``batch`` is ``(k,)`` for k directions, or ``()`` for one direction carried without a batch axis (one direction
    then costs one plain JVP or VJP). ``last`` is True on the final block: reverse mode frees its tape then.

    ``outputs`` (a ``Leaves`` of the output primals, with their treedef) and ``aux`` are known once ``f`` has run:
    when recording (reverse, in the constructor) or after the first pass (forward). ``nonscalar`` names what to
    call for non-scalar outputs, for a gradient's error message.
    """

    __slots__ = ("f", "inputs", "kwargs", "has_aux", "fn", "outputs", "aux")
    mode = "forward"
    nonscalar = ""

    def __init__(self, f: Callable, inputs: Inputs, kwargs: dict | None, has_aux: bool, fn: str):
        self.f, self.inputs, self.kwargs, self.has_aux, self.fn = f, inputs, kwargs or {}, has_aux, fn
        self.outputs: Leaves | None = None
        self.aux = None

    @abstractmethod
    def __call__(self, seeds: list, batch: tuple, last: bool) -> list:
        """One batched JVP (forward) or VJP (reverse), as described above."""

    def direction_bytes(self) -> float | None:
        """Bytes one direction of a pass holds, when known before any pass runs (reverse: from the tape); None
        lets the driver measure the first pass (forward)."""
        return None

    def seed_side(self) -> Leaves:
        return self.inputs if self.mode == "forward" else self.outputs

    def result_side(self) -> Leaves:
        return self.outputs if self.mode == "forward" else self.inputs


class Seeds(ABC):
    """A choice of directions for the passes: how many (``start``), the seed blocks of directions
    ``start .. stop`` (``seeds``), what to keep of each pass's results (``keep``) and the answer (``result``)."""

    @abstractmethod
    def start(self, p: BatchedPass) -> int:
        """The number of directions; checks what can be checked before the first pass."""

    @abstractmethod
    def seeds(self, side: Leaves, start: int, stop: int, batch: tuple) -> list:
        """One block per leaf of ``side`` (``batch + leaf.shape``, or None for zeros) for directions start..stop."""

    @abstractmethod
    def keep(self, p: BatchedPass, start: int, stop: int, results: list, batch: tuple) -> None:
        """Take what is needed from the results of the pass over directions start..stop."""

    @abstractmethod
    def result(self, p: BatchedPass) -> Any:
        """The answer, once every direction has been through a pass."""


class UnitSeeds(Seeds):
    """One unit direction per entry of ``self.members`` (stacked positions on the seed side): the colours whose
    compressed pass was spoiled, run again one member at a time (``adops.sparse``)."""

    members: np.ndarray

    def start(self, p):
        return self.members.size

    def seeds(self, side, start, stop, batch):
        s = np.zeros((stop - start, side.total))
        s[np.arange(stop - start), self.members[start:stop]] = 1
        return split_rows(s, side, batch)


def run(p: BatchedPass, source: Seeds, chunk) -> Any:
    """Feed ``source``'s directions through the pass ``p``, a chunk at a time, and return ``source.result(p)``.

    ``chunk``: a positive int, None (all directions in one pass) or ``"auto"``: each seed under
    ``adops.trees.CHUNK_BUDGET`` entries and, above ``AUTO_ONE_PASS`` directions, each pass too, from the engine's
    estimate (``direction_bytes``) or a ``tracemalloc`` measurement of a first pass of ``AUTO_PROBE`` directions.
    Always at least one pass: with no directions it still checks the shapes of ``f``'s outputs.
    """
    k = source.start(p)
    side = p.seed_side()
    if k == 1:  # one direction (a gradient, most often): one plain pass, no policy to apply
        source.keep(p, 0, 1, p(source.seeds(side, 0, 1, ()), (), True), ())
        return source.result(p)
    width = trees.chunk_width(chunk, k, side.total)
    meter = None
    if chunk == "auto" and k > AUTO_ONE_PASS:
        per_direction = p.direction_bytes()
        if per_direction is not None:
            width = trees.auto_width(width, per_direction)
        else:
            meter = PeakMeter.start()
            if meter is not None:
                seed_width, width = width, min(width, AUTO_PROBE)
    start = 0
    try:
        while True:
            stop = min(k, start + width)
            batch = () if stop - start == 1 else (stop - start,)
            results = p(source.seeds(side, start, stop, batch), batch, stop >= k)
            if meter is not None:
                peak = meter.stop()
                meter = None
                if peak is not None:
                    width = trees.auto_width(seed_width, peak / max(stop - start, 1))
            source.keep(p, start, stop, results, batch)
            if stop >= k:
                return source.result(p)
            start = stop
    finally:
        if meter is not None:
            meter.stop()


class OneHot(Seeds):
    """The unit directions over the stacked seed-side leaves, built per leaf and per chunk (never the whole
    identity), and the dense Jacobian assembled from the results: ``out.shape + in.shape`` per output leaf and input
    leaf, regrouped like the arguments and the outputs.

    ``scalar``: a gradient (``f`` returns one element): each block has the input's shape and dtype.
    """

    def __init__(self, scalar: bool = False):
        self.scalar = scalar
        self.blocks: list = []  # (results, batch) of each pass

    def start(self, p):
        if self.scalar and p.outputs is not None:
            _check_scalar(p)
        return p.seed_side().total

    def seeds(self, side, start, stop, batch):
        blocks, offset = [], 0
        width = stop - start
        for shape, size, dtype in zip(side.shapes, side.sizes, side.dtypes):
            if offset < stop and start < offset + size:
                if batch:
                    blocks.append(one_hot(width, size, start, offset, dtype).reshape(batch + shape))
                elif size == 1:
                    one = np.array(1, dtype)  # (np.ones costs five times as much for one element)
                    blocks.append(one if not shape else one.reshape(shape))
                else:
                    seed = np.zeros(size, dtype)
                    seed[start - offset] = 1
                    blocks.append(seed.reshape(shape))
            else:
                blocks.append(None)
            offset += size
        return blocks

    def keep(self, p, start, stop, results, batch):
        if self.scalar and start == 0 and p.mode == "forward":
            _check_scalar(p)
        self.blocks.append((results, batch))

    def result(self, p):
        inputs, outputs = p.inputs, p.outputs
        forward = p.mode == "forward"
        blocks = self.blocks
        n_in, n_out = len(inputs.leaves), len(outputs.leaves)
        if n_in == 1 and n_out == 1 and len(blocks) == 1 and not blocks[0][1]:  # one leaf each way, one direction
            block = blocks[0][0][0]
            want = (() if self.scalar else outputs.shapes[0]) + inputs.shapes[0]
            block = np.reshape(block, want)
            if isinstance(block, np.generic):
                block = np.asarray(block)  # a 0-d array, never a NumPy scalar (as the gradients)
            if self.scalar and forward:
                block = as_dtype(block, inputs.dtypes[0])
            jac = inputs.regroup([block])
            return jac if self.scalar or outputs.treedef is None else unflatten(outputs.treedef, [jac])
        side = p.result_side()
        # one direction in all, carried without a batch axis, to one seed leaf: its blocks need only a reshape
        one = len(blocks) == 1 and not blocks[0][1] and (n_in if forward else n_out) == 1
        full = []  # per result-side leaf: every direction's block, (k,) + leaf.shape ((1,) dropped when ``one``)
        for j, shape in enumerate(side.shapes):
            if one or (len(blocks) == 1 and blocks[0][1]):
                full.append(blocks[0][0][j])
            else:
                full.append(np.concatenate([r[j] if b else np.reshape(r[j], (1,) + shape) for r, b in blocks]))
        per_out = []
        offset = 0
        for o in range(n_out):
            oshape = () if self.scalar else outputs.shapes[o]
            osize = outputs.sizes[o]
            jac = []
            for i in range(n_in):
                ishape = inputs.shapes[i]
                if forward:  # full[o] is (n,) + out.shape: input i's directions, moved behind the output's axes
                    part = full[o]
                    if n_in > 1 and not one:
                        part = part[offset:offset + inputs.sizes[i]]
                        offset += inputs.sizes[i]
                    if len(oshape) and not one:
                        part = np.moveaxis(part, 0, -1)
                else:  # full[i] is (m,) + in.shape: output o's rows
                    part = full[i]
                    if n_out > 1 and not one:
                        part = part[offset:offset + osize]
                want = oshape + ishape
                block = np.reshape(part, want)
                if isinstance(block, np.generic):
                    block = np.asarray(block)  # a 0-d array, never a NumPy scalar (as the gradients)
                if self.scalar and forward:
                    block = as_dtype(block, inputs.dtypes[i])
                jac.append(block)
            if forward:
                offset = 0
            else:
                offset += osize
            per_out.append(inputs.regroup(jac))
        if self.scalar:
            return per_out[0]
        return per_out[0] if outputs.treedef is None else unflatten(outputs.treedef, per_out)


def gradient(p: BatchedPass, chunk="auto") -> Any:
    """The gradient of ``f``'s one-element output, shaped and typed like the inputs.

    When one direction gives it (reverse mode: the output's; forward mode: an input of one element), it is one
    plain pass with none of ``run``'s chunking: this is the fixed cost of every ``grad`` call. Otherwise (forward
    mode over n input elements) ``run`` with ``OneHot``.

    >>> import numpy as np, revad
    >>> gradient(revad.api.ReversePass(lambda x: x * x, Inputs((np.array(3.0),), 0, "demo"), None, False, "demo"))
    array(6.)
    """
    forward = p.mode == "forward"
    side = p.inputs if forward else p.outputs
    if forward and (side.total != 1 or len(side.leaves) != 1):
        return run(p, OneHot(scalar=True), chunk)
    if not forward and (side.treedef is not None or side.sizes[0] != 1):
        _check_scalar(p)
    shape = side.shapes[0]
    one = np.array(1, side.dtypes[0])  # (np.ones costs five times as much for one element)
    results = p([one.reshape(shape) if shape else one], (), True)
    if not forward:  # the engine gives cotangents in the inputs' shapes and dtypes
        return p.inputs.regroup(results)
    _check_scalar(p)
    g = results[0]
    if getattr(g, "_level", None) is None:
        g = np.asarray(g).astype(side.dtypes[0], copy=False)  # as in JAX: the input's dtype
        g = g if g.shape == shape else g.reshape(shape)
    else:
        g = as_dtype(np.reshape(g, shape), side.dtypes[0])  # (traced: recorded on the outer call's tape or program)
    return p.inputs.regroup([g])


def as_dtype(g, dtype):
    """A gradient in its input's dtype, as in JAX, at every order: a traced gradient too, so a Hessian's outer pass
    sees float32 where the input is float32 even when ``f`` promoted (a float32 ``x`` times an int64 constant).

    >>> as_dtype(np.float64(2.0), np.dtype(np.float32)).dtype
    dtype('float32')
    """
    if getattr(g, "_level", None) is None:
        return np.asarray(g).astype(dtype, copy=False)
    return g if g.dtype == dtype else g.astype(dtype)


def split_rows(seeds: np.ndarray, side: Leaves, batch: tuple) -> list:
    """A (k, size) seed matrix over the stacked leaves of ``side`` (colour seeds) as one ``batch + leaf.shape`` block
    per leaf, in the leaf's dtype.

    >>> [b.shape for b in split_rows(np.eye(3)[:2], Leaves([np.ones(1), np.ones(2)]), (2,))]
    [(2, 1), (2, 2)]
    """
    blocks, offset = [], 0
    for shape, size, dtype in zip(side.shapes, side.sizes, side.dtypes):
        blocks.append(seeds[:, offset:offset + size].astype(dtype).reshape(batch + shape))
        offset += size
    return blocks


def stack_rows(results: list, side: Leaves, k: int) -> np.ndarray:
    """The per-leaf results of a pass of ``k`` directions (``batch + leaf.shape`` each) as one (k, size) matrix over
    the stacked leaves of ``side``: the inverse of ``split_rows``.

    >>> stack_rows([np.ones((2, 1)), np.zeros((2, 2))], Leaves([np.ones(1), np.ones(2)]), 2)
    array([[1., 0., 0.],
           [1., 0., 0.]])
    """
    if not results:
        return np.zeros((k, 0))
    return np.concatenate([np.reshape(np.asarray(r), (k, size)) for r, size in zip(results, side.sizes)], axis=1)


def _check_scalar(p: BatchedPass) -> None:
    # a scalar, or any output with exactly one element ((1,), (1, 1)): its gradient, as autograd and PyTorch give
    outputs = p.outputs
    if outputs.treedef is not None or outputs.sizes[0] != 1:
        got = outputs.shapes[0] if len(outputs.shapes) == 1 else outputs.shapes
        raise TypeError(f"{p.fn}: f must return a scalar (or a one-element array), got output shape(s) {got}; use "
                        f"{p.nonscalar} for non-scalar outputs")


def jacobian(Pass: type, f: Callable, args: tuple, kwargs: dict | None, argnums, chunk_size, fn: str, *,
             scalar: bool = False, has_aux: bool = False, sparsity=None) -> Any:
    """The Jacobian of ``f`` at ``args`` by the engine's batched pass ``Pass`` (a ``BatchedPass`` subclass).

    ``sparsity=None``: dense, ``out.shape + in.shape`` per output leaf and argument (``scalar``: the gradient of a
    one-element output, shaped like the inputs). Otherwise colour seeds and a ``scipy.sparse`` CSR result:
    ``sparsity`` is what ``jacfwd``/``jacrev`` accept (resolved by ``adops.sparse.jacobian.seeds_for``) or a
    ready ``Seeds`` (a Hessian's ``adops.sparse.hessian.StarSeeds``). With ``has_aux``: ``(jacobian, aux)``.

    >>> import numpy as np, dualad
    >>> jacobian(dualad.api.ForwardPass, lambda x: x ** 2, (np.array([1.0, 2.0]),), None, 0, 1, "demo")
    array([[2., 0.],
           [0., 4.]])
    """
    chunk = check_chunk(chunk_size, fn)
    inputs = Inputs(args, argnums, fn)
    if sparsity is None:
        source = None if scalar else OneHot()
    else:
        if any(isinstance(leaf, Traced) for leaf in inputs.leaves):
            raise TypeError(f"{fn}: sparsity= returns a scipy.sparse matrix, which cannot carry the derivatives of an "
                            "outer differentiation; differentiate the dense Jacobian (sparsity=None), or take the "
                            "sparse one of the composed function")
        if isinstance(sparsity, Seeds):
            source = sparsity
        else:
            from .sparse.jacobian import seeds_for

            source = seeds_for(sparsity, f, args, argnums, Pass.mode, fn, kwargs)
    p = Pass(f, inputs, kwargs, has_aux, fn)
    result = gradient(p, chunk) if source is None else run(p, source, chunk)
    redo = getattr(source, "redo", None)
    members = redo() if redo is not None else ()
    if len(members):  # colours spoiled by inf/NaN: their members again, one at a time (one more evaluation of f)
        result = run(Pass(f, Inputs(args, argnums, fn), kwargs, has_aux, fn), source.refine(members, result), chunk)
    return (result, p.aux) if has_aux else result


__all__ = ["Leaves", "output_leaves", "Inputs", "BatchedPass", "Seeds", "OneHot", "run", "gradient", "jacobian",
           "split_rows", "stack_rows"]
