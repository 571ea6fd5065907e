"""Reverse-mode transformations with JAX's conventions: vjp, grad, value_and_grad, jacrev, hessian, checkpoint,
trace."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from adops.core import Op
from adops.counting import plain, run_counted
from adops.trees import (
    AUTO_ONE_PASS,
    as_input,
    auto_width,
    check_callable,
    check_chunk,
    chunk_width,
    flatten,
    leaf_dtype,
    leaf_shape,
    normalize_argnums,
    one_hot,
    regroup,
    same_structure,
    split_aux,
    unflatten,
)

from .tape import Tape, Tracer


def _trace_call(f, args, argnums, fn, copy=False, names=None, kwargs=None):
    """Run ``f`` with the chosen arguments as tracers on a fresh tape."""
    nums, single = normalize_argnums(argnums, len(args), fn)
    tape = Tape()
    call_args = list(args)
    in_slots, in_defs, in_leaves = [], [], []
    for a in nums:
        leaves, d = flatten(args[a])
        tracers = []
        for leaf in leaves:
            leaf = as_input(leaf, fn, copy=copy)
            name = names[a] if names and len(leaves) == 1 else None
            t = tape.input(leaf, name)
            tracers.append(t)
            in_slots.append(t._slot)
            in_leaves.append(leaf)
        in_defs.append((len(leaves), d))
        call_args[a] = unflatten(d, tracers)
    out = f(*call_args, **(kwargs or {}))
    return tape, out, (in_slots, in_defs, in_leaves, single)


def _output_leaves(out, tape, fn):
    leaves, treedef = flatten(out)
    primals, slots = [], []
    for leaf in leaves:
        while getattr(leaf, "_level", None) is not None and leaf._level > tape.level:
            leaf = leaf.primal  # leaked from a finished inner call (its perturbation is dead): keep our part
        if type(leaf) is Tracer and leaf._level == tape.level:
            primals.append(leaf.primal)
            slots.append(leaf._slot)
            continue
        if getattr(leaf, "_level", None) is None:
            arr = np.asarray(leaf)
            if arr.dtype.kind not in "biufc":
                raise TypeError(f"{fn}: the function must return arrays or numbers (or tuples/lists/dicts of "
                                f"them), got {type(leaf).__name__}")
            leaf = arr
        primals.append(leaf)
        slots.append(-1)
    return primals, slots, treedef


def _input_ct(g, x, batch):
    """One input's cotangent: zeros if nothing reached it, and always in the input's dtype (as in JAX)."""
    if g is None:
        return np.zeros(batch + leaf_shape(x), dtype=leaf_dtype(x))
    if getattr(g, "_level", None) is None and (getattr(g, "dtype", None) != leaf_dtype(x) or
                                               not isinstance(g, np.ndarray)):
        return np.asarray(g).astype(leaf_dtype(x), copy=False)  # a 0-d array, never a NumPy scalar, as dualad
    return g


def _input_cts(cts, inputs, batch=()):
    in_slots, in_defs, in_leaves, single = inputs
    grads = [_input_ct(cts.get(s), x, batch) for s, x in zip(in_slots, in_leaves)]
    return regroup(grads, in_defs), single


def _seed_dtype(primal):
    return leaf_dtype(primal)


def vjp(f: Callable, *primals) -> tuple[Any, Callable]:
    """Evaluate ``f(*primals)`` and return ``(out, pullback)``; ``pullback(ct)`` gives one cotangent per input.

    The pullback may be called many times (the tape is kept until it is garbage-collected); the inputs are
    copied, so mutating them afterwards cannot change its answers.

    Examples
    --------
    >>> import numpy as np
    >>> out, pullback = vjp(lambda x: x * x, np.array([1.0, 3.0]))
    >>> pullback(np.array([1.0, 1.0]))
    (array([2., 6.]),)
    """
    check_callable(f, "revad.vjp")
    tape, out, inputs = _trace_call(f, primals, tuple(range(len(primals))), "revad.vjp", copy=True)
    out_primals, out_slots, out_def = _output_leaves(out, tape, "revad.vjp")

    def pullback(ct):
        ct_leaves, ct_def = flatten(ct)
        if not same_structure(ct_def, out_def):
            raise ValueError("revad.vjp pullback: the cotangent's structure (containers and dict keys) does not "
                             "match the output's")
        seeds = {}
        for c, p, s in zip(ct_leaves, out_primals, out_slots):
            c = c if getattr(c, "_level", None) is not None else np.asarray(c, dtype=_seed_dtype(p))
            if leaf_shape(c) != leaf_shape(p):
                raise ValueError(f"revad.vjp pullback: cotangent shape {leaf_shape(c)} does not match output shape "
                                 f"{leaf_shape(p)}")
            if s >= 0:
                seeds[s] = c if s not in seeds else seeds[s] + c
        per_arg, _ = _input_cts(tape.sweep(seeds, keep=True), inputs)
        return tuple(per_arg)

    return unflatten(out_def, out_primals), pullback


def _scalar_seed(out_primals, out_def, fn):
    # a scalar, or any output with exactly one element ((1,), (1, 1)): its gradient, as autograd and PyTorch give
    if out_def is not None or math.prod(leaf_shape(out_primals[0])) != 1:
        shapes = [leaf_shape(p) for p in out_primals]
        raise TypeError(f"{fn}: f must return a scalar (or a one-element array), got output shape(s) "
                        f"{shapes[0] if len(shapes) == 1 else shapes}; use revad.jacrev or revad.vjp for "
                        "non-scalar outputs")


def value_and_grad(f: Callable, argnums: int | tuple = 0, has_aux: bool = False) -> Callable:
    """``(f(*args), gradient)`` of a scalar ``f`` from one forward recording and one backward sweep.

    Examples
    --------
    >>> import numpy as np
    >>> value, g = value_and_grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
    >>> float(value), g
    (5.0, array([2., 4.]))

    With ``has_aux=True``, ``f`` returns ``(value, aux)`` and the result is ``((value, aux), gradient)``.
    """

    check_callable(f, "revad.value_and_grad")

    def run(*args, **kwargs):
        tape, out, inputs = _trace_call(f, args, argnums, "revad.grad", kwargs=kwargs)
        out, aux = split_aux(out, has_aux, tape.level, "revad.grad")
        out_primals, out_slots, out_def = _output_leaves(out, tape, "revad.grad")
        _scalar_seed(out_primals, out_def, "revad.grad")
        seeds = {}
        if out_slots[0] >= 0:
            seeds[out_slots[0]] = np.ones(leaf_shape(out_primals[0]), dtype=_seed_dtype(out_primals[0]))
        cts = tape.sweep(seeds, keep=False)
        tape.release()
        per_arg, single = _input_cts(cts, inputs)
        gradient = per_arg[0] if single else tuple(per_arg)
        return ((out_primals[0], aux) if has_aux else out_primals[0]), gradient

    return run


def grad(f: Callable, argnums: int | tuple = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar ``f`` by one reverse sweep.

    Examples
    --------
    >>> import numpy as np
    >>> grad(lambda w, x: np.tanh(w @ x), argnums=(0, 1))(np.array([1.0, 0.0]), np.array([0.0, 2.0]))
    (array([0., 2.]), array([1., 0.]))
    """
    vg = value_and_grad(f, argnums, has_aux)

    def gradient(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    if not has_aux:  # sparse Jacobians of the gradient detect f's Hessian pattern (adops.sparse.jacobian.resolve)
        gradient.__fwdrev_grad__ = (f, argnums)
    return gradient


def _push_reverse(f, args, argnums, fn, kwargs):
    """One recording, then sweeps with k cotangents each: seeds (k, m) over the stacked outputs -> (k, n). The tape
    is kept for the next chunk of seeds until ``last``."""
    recorded = []

    def push(seeds, last=True):
        k, m = seeds.shape
        if not recorded:
            tape, out, inputs = _trace_call(f, args, argnums, fn, kwargs=kwargs)
            out_primals, out_slots, _ = _output_leaves(out, tape, fn)
            sizes = [math.prod(leaf_shape(p)) for p in out_primals]
            if sum(sizes) != m:
                from adops.sparse.jacobian import mismatch

                raise mismatch(fn, f, (m, sum(math.prod(leaf_shape(x)) for x in inputs[2])), sum(sizes))
            recorded.extend((tape, inputs, out_primals, out_slots, sizes))
        tape, inputs, out_primals, out_slots, sizes = recorded
        cts, offset = {}, 0
        for p, s, size in zip(out_primals, out_slots, sizes):
            if s >= 0:
                c = seeds[:, offset:offset + size].astype(_seed_dtype(p)).reshape((k,) + leaf_shape(p))
                cts[s] = c if s not in cts else cts[s] + c
            offset += size
        swept = tape.sweep(cts, keep=not last)
        if last:
            tape.release()
        in_slots, _, in_leaves, _ = inputs
        return np.concatenate([np.reshape(_input_ct(swept.get(s), x, (k,)), (k, math.prod(leaf_shape(x))))
                               for s, x in zip(in_slots, in_leaves)], axis=1)

    return push


def jacrev(f: Callable, argnums: int | tuple = 0, chunk_size: int | str | None = "auto",
           has_aux: bool = False, sparsity=None) -> Callable:
    """The Jacobian of ``f`` by reverse mode, shaped ``out.shape + in.shape``.

    ``f`` runs once; ``chunk_size`` output rows are swept back at a time (ceil(m/chunk) sweeps); ``None`` sweeps
    all m together. The default, ``"auto"``, sweeps all m together up to ``adops.trees.AUTO_ONE_PASS`` (64);
    above that, as many as keep a sweep under ``adops.trees.CHUNK_BUDGET`` float64 entries (64 MiB), counting
    per direction one cotangent for every slot of the tape and as much again for the rules' temporaries, and
    never more than keep the seed alone under it.
    With ``sparsity``, one sweep carries one cotangent per colour of the rows and the result is a
    ``scipy.sparse`` CSR matrix of shape (out.size, in.size) (several inputs: stacked columns); ``chunk_size``
    then counts colours per sweep (``"auto"``: bounded memory however many colours). ``sparsity`` may be:

    - ``"auto"``: detect the pattern (``adops.sparse.jacobian_sparsity``) at *every call*, with the call's
      positional and keyword arguments, so a changed shift, constant matrix or branch is always seen; the
      colouring of a pattern seen before is reused. Costs one detection per call (a few evaluations of ``f``).
    - a ``SparseJacobian`` (``SparseJacobian.detect(f, *args)``): detect once and reuse, e.g. through a Newton
      iteration. Reuse assumes every call runs the same program (control flow, constants, non-differentiated
      arguments) as the detection did.
    - a pattern matrix or an ``adops.sparse.Coloring``: your own pattern, trusted. A missed nonzero (i, j) goes
      into input j of the sweep for i's colour. The check raises only if the pattern's column j has no entry in
      a row of that colour (certainly when column j is empty); otherwise the missed value is added, unnoticed,
      to that entry, and the Jacobian is wrong. With a good colouring most colours occur in most columns, so
      expect a missed nonzero to go unnoticed. Prefer detected patterns (``"auto"`` or
      ``SparseJacobian.detect``).

    Of a gradient (``jacrev(dualad.grad(f))`` or ``jacrev(revad.grad(f))``, same ``argnums``), ``sparsity`` is a
    Hessian pattern: ``"auto"`` detects f's Hessian pattern, a matrix is star-coloured and verified, as in
    ``revad.hessian``. Reverse-over-forward is not for large n: the inner ``dualad.grad`` carries n directions
    through every sweep (n = 10^4: 20 s and 7.4 GB, against 4 ms for ``revad.hessian(f, sparsity=sh)``).

    Examples
    --------
    >>> import numpy as np
    >>> jacrev(lambda x: x[::-1] * 2)(np.array([1.0, 2.0]))
    array([[0., 2.],
           [2., 0.]])
    """
    fn = "revad.jacrev"
    chunk = check_chunk(chunk_size, fn)
    check_callable(f, fn)
    if sparsity is not None and has_aux:
        raise TypeError("revad.jacrev: has_aux is not supported with sparsity=; return the auxiliary data separately")

    def jac(*args, **kwargs):
        if sparsity is not None:
            from adops.sparse import jacobian as sparse

            rows = sparse.resolve(sparsity, f, args, argnums, "reverse", fn, kwargs)
            return sparse.compressed_jacobian(_push_reverse(f, args, argnums, fn, kwargs), rows, f, fn, chunk_size)
        tape, out, inputs = _trace_call(f, args, argnums, fn, kwargs=kwargs)
        out, aux = split_aux(out, has_aux, tape.level, fn)
        out_primals, out_slots, out_def = _output_leaves(out, tape, fn)
        sizes = [math.prod(leaf_shape(p)) for p in out_primals]
        m = sum(sizes)
        width_max = chunk_width(chunk, m, m)
        if chunk == "auto" and m > AUTO_ONE_PASS:  # per direction: a cotangent per slot at most, and the rules'
            width_max = auto_width(width_max, 2 * tape.cotangent_bytes())  # temporaries (about as much again)
        rows = None
        for start in range(0, max(m, 1), max(width_max, 1)):
            stop = min(m, start + width_max)
            width = stop - start
            seeds, offset = {}, 0
            for p, s, size in zip(out_primals, out_slots, sizes):
                if s >= 0 and max(start, offset) < min(stop, offset + size):
                    seed = one_hot(width, size, start, offset, _seed_dtype(p)).reshape((width,) + leaf_shape(p))
                    seeds[s] = seed if s not in seeds else seeds[s] + seed
                offset += size
            cts = tape.sweep(seeds, keep=stop < m)
            in_slots, _, in_leaves, _ = inputs
            grads = [_input_ct(cts.get(s), x, (width,)) for s, x in zip(in_slots, in_leaves)]
            if rows is None:
                rows = [[g] for g in grads]
            else:
                for r, g in zip(rows, grads):
                    r.append(g)
        tape.release()
        in_slots, in_defs, in_leaves, single = inputs
        full = [r[0] if len(r) == 1 else np.concatenate(r, axis=0) for r in rows]  # (m,) + in.shape each
        per_out, offset = [], 0
        for p, size in zip(out_primals, sizes):
            blocks = []
            for x, g in zip(in_leaves, full):
                part = g[offset:offset + size] if len(sizes) > 1 else g
                blocks.append(np.reshape(part, leaf_shape(p) + leaf_shape(x)))
            per_arg = regroup(blocks, in_defs)
            per_out.append(per_arg[0] if single else tuple(per_arg))
            offset += size
        result = unflatten(out_def, per_out)
        return (result, aux) if has_aux else result

    return jac


def hessian(f: Callable, argnums: int | tuple = 0, sparsity=None) -> Callable:
    """The Hessian of a scalar ``f`` by reverse-over-reverse, shaped ``in.shape + in.shape``.

    With ``sparsity`` (``"auto"``, a pattern, an ``adops.sparse.StarColoring`` or ``SparseHessian``), one outer
    sweep carries one cotangent per colour of a star colouring and the result is a symmetric ``scipy.sparse`` CSR
    matrix (in.size x in.size; several inputs: stacked). ``"auto"`` detects the pattern at every call (with the
    call's keyword arguments); a detected ``SparseHessian`` is reused as trusted (same program assumed); a pattern
    of your own is verified with one extra random Hessian-vector product, so a missed nonzero raises.

    Examples
    --------
    >>> import numpy as np
    >>> hessian(lambda x: x[0] * x[1] ** 2)(np.array([1.0, 3.0]))
    array([[0., 6.],
           [6., 2.]])
    """
    if sparsity is None:
        return jacrev(grad(f, argnums), argnums)
    check_callable(f, "revad.hessian")

    def hess(*args, **kwargs):
        from adops.sparse import hessian as sparse

        fn = "revad.hessian"
        star = sparse.resolve_hessian(sparsity, f, args, argnums, fn, kwargs)
        return sparse.compressed_hessian(_push_reverse(grad(f, argnums), args, argnums, fn, kwargs), star, f, fn,
                                         sparsity=sparsity)

    return hess


def _recompute(fn):
    """The all-inputs VJP of a checkpointed call: re-run ``fn`` on a fresh tape and pull the output cotangent(s)
    back to every input in one sweep (traced and counted like any call, not metered twice)."""

    def vjp_all(ct, ans, *primals):
        return _pull(fn, plain(primals), plain(ct), plain(ans))

    return vjp_all


def _pull(fn, primals, ct, ans):
    """Re-run ``fn`` on a fresh tape and pull ``ct`` (possibly with leading batch axes; a tuple with ``None`` for
    unused outputs when ``fn`` returns several arrays) back to its inputs."""
    several = isinstance(ans, tuple)
    cts, anss = (ct, ans) if several else ((ct,), (ans,))
    first, lead = next((c, a) for c, a in zip(cts, anss) if c is not None)
    batch = leaf_shape(first)[:len(leaf_shape(first)) - len(leaf_shape(lead))]
    tape, out, inputs = _trace_call(fn, primals, tuple(range(len(primals))), "revad.checkpoint")
    _, out_slots, _ = _output_leaves(out, tape, "revad.checkpoint")
    seeds = {}
    for s, c in zip(out_slots, cts):
        if s >= 0 and c is not None:
            seeds[s] = c if s not in seeds else seeds[s] + c
    per_arg, _ = _input_cts(tape.sweep(seeds, keep=False), inputs, batch)
    return tuple(per_arg)


def checkpoint(fn: Callable) -> Callable:
    """Wrap ``fn`` so reverse mode stores only its inputs and output, recomputing its inside during backward.

    Trades time for memory (gradient checkpointing): the tape keeps one record for the whole call instead of
    one per primitive. ``fn`` takes arrays and returns an array or a tuple of arrays.

    Examples
    --------
    >>> import numpy as np
    >>> block = checkpoint(lambda x: np.tanh(np.tanh(x)))
    >>> float(grad(lambda x: np.sum(block(x)))(np.array(0.0)))
    1.0
    """

    def wrapped(*args, **kwargs):
        if kwargs:
            return checkpoint(lambda *a: fn(*a, **kwargs))(*args)
        top = None
        for a in args:
            if isinstance(a, Tracer) and (top is None or a._level > top._level):
                top = a
        if top is None or any(getattr(a, "_level", -1) > top._level for a in args):
            return fn(*args)
        level, tape = top._level, top._tape
        primals = [a.primal if type(a) is Tracer and a._level == level else a for a in args]
        slots = [a._slot if type(a) is Tracer and a._level == level else -1 for a in args]
        ans = run_counted(fn, primals)
        several = isinstance(ans, tuple) and not hasattr(ans, "_level")
        for leaf in (ans if several else (ans,)):
            if getattr(leaf, "_level", None) is None and not isinstance(leaf, (np.ndarray, np.generic, float, int)):
                raise TypeError("revad.checkpoint: the wrapped function must return an array or a tuple of arrays, "
                                f"got {type(leaf).__name__}")
            if getattr(leaf, "_level", None) == level:
                raise TypeError("revad.checkpoint: the checkpointed function uses a value being differentiated "
                                "that is not one of its arguments (a closure over a traced array); pass that value "
                                "as an argument, e.g. checkpoint(lambda h, W: np.tanh(W @ h))(h, W)")
        op = Op(name=f"checkpoint({getattr(fn, '__name__', 'fn')})", impl=fn, jvp=_no_jvp, vjp_all=_recompute(fn),
                sympy=fn, outputs=len(ans) if several else 1,
                result=type(ans)._make if hasattr(ans, "_make") else tuple)
        return tape.record(op, tuple(slots), tuple(primals), {}, ans)

    wrapped.__name__ = getattr(fn, "__name__", "checkpointed")
    wrapped.__doc__ = fn.__doc__
    return wrapped


def _no_jvp(*args, **kwargs):
    raise TypeError("revad.checkpoint: a checkpointed call has no forward-mode rule of its own")


def trace(f: Callable, *args, names: list[str] | None = None) -> Tape:
    """Record ``f(*args)`` and return its ``Tape`` (a Wengert list) to print, measure, sweep and draw.

    Input slots are named after ``f``'s parameters unless ``names`` is given.

    Examples
    --------
    >>> tape = trace(lambda w, x, b, y: 0.5 * (w * x + b - y) ** 2, 2.0, -2.0, 8.0, 2.0)
    >>> adjoints = tape.backward()
    >>> adjoints["w"], adjoints["b"]
    (-4.0, 2.0)
    """
    if names is not None and (len(names) != len(args) or len(set(names)) != len(names)):
        raise ValueError(f"revad.trace: names must give each of the {len(args)} arguments its own name, got {names!r}")
    if names is None:
        try:
            params = list(inspect.signature(f).parameters)
            names = params[:len(args)] if len(params) >= len(args) else None
        except (TypeError, ValueError):
            names = None
    tape, out, inputs = _trace_call(f, args, tuple(range(len(args))), "revad.trace", copy=True, names=names)
    out_primals, out_slots, out_def = _output_leaves(out, tape, "revad.trace")
    tape.outputs = list(zip(out_slots, out_primals))
    return tape
