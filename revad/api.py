"""Reverse-mode transformations with JAX's conventions: vjp, grad, value_and_grad, jacrev, hessian, checkpoint,
trace."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from adops.core import INFINITE, Op, call_traced
from adops.counting import plain, run_counted
from adops.jacobians import BatchedPass, Inputs, Leaves, jacobian, output_leaves
from adops.jacobians import gradient as sweep_gradient
from adops.trees import (
    check_callable,
    check_chunk,
    flatten,
    leaf_shape,
    same_structure,
    split_aux,
    unflatten,
)

from .tape import Tape, Tracer, writable


class ReversePass(BatchedPass):
    """``f`` recorded once on a fresh tape (in the constructor), then one reverse sweep per call with a block of
    cotangents on the output leaves; the tape is kept until the ``last`` block (the driver in ``adops.jacobians``
    chooses the cotangents and assembles the Jacobian)."""

    __slots__ = ("tape", "slots")
    mode = "reverse"
    nonscalar = "revad.jacrev or revad.vjp"

    def __init__(self, f, inputs, kwargs, has_aux, fn, names=None, recorded=None, keep_values=False):
        self.f, self.inputs, self.kwargs, self.has_aux, self.fn, self.aux = f, inputs, kwargs, has_aux, fn, None
        if recorded is not None:  # f has run already, on this tape (``_one_sweep``): take its output from there
            self.tape, out = recorded
            self._take(out)
            return
        tape = self.tape = Tape(lean=not keep_values)
        if names:  # an argument's name goes to its input slot when the argument is one array
            names = [names[a] if count == 1 else None for a, (count, _) in zip(inputs.nums, inputs.defs)
                     for _ in range(count)]
            tracers = [tape.input(x, name) for x, name in zip(inputs.leaves, names)]
        elif len(inputs.leaves) == 1:
            tracers = [tape.input(inputs.leaves[0])]
        else:
            tracers = [tape.input(x) for x in inputs.leaves]
        args = inputs.call_args(tracers)
        self._take(call_traced(f, args, kwargs))

    def _take(self, out) -> None:
        """The output leaves of ``f`` (and its aux): their primals and slots."""
        level = self.tape.level
        self.tape.infinite = INFINITE.seen  # what the sweeps start from, whenever they run (a vjp pullback)
        if self.has_aux:
            out, self.aux = split_aux(out, True, level, self.fn)
        if type(out) is Tracer and out._level == level:  # one traced output: nothing to look through
            self.slots = [out._slot]
            self.outputs = Leaves([out.primal])
            return
        primals, owned, treedef = output_leaves(out, level, Tracer, self.fn)
        self.slots = [-1 if t is None else t._slot for t in owned]
        self.outputs = Leaves([p if t is None else t.primal for p, t in zip(primals, owned)], treedef)

    def __call__(self, seeds, batch, last):
        slots = self.slots
        if len(slots) == 1:
            s, c = slots[0], seeds[0]
            cts = {s: c} if s >= 0 and c is not None else {}
        else:
            cts = {}
            for s, c in zip(slots, seeds):
                if s >= 0 and c is not None:
                    cts[s] = c if s not in cts else cts[s] + c
        tape = self.tape
        swept = tape._sweep(cts, not last, None)  # (cts is this call's own dict)
        if last:
            tape.release()
        inputs = self.inputs
        if len(inputs.leaves) == 1:  # input slot 0
            return [_input_ct(swept.get(0), batch, inputs.shapes[0], inputs.dtypes[0])]
        return [_input_ct(swept.get(s), batch, shape, dtype)  # input slots are 0, 1, ... in order
                for s, shape, dtype in zip(range(len(inputs.leaves)), inputs.shapes, inputs.dtypes)]

    def direction_bytes(self):
        # a cotangent per slot at most, and the rules' temporaries (about as much again)
        return 2 * self.tape.cotangent_bytes()


_F64, _F64_DTYPE = np.float64, np.dtype(np.float64)


def _input_ct(g, batch, shape, dtype):
    """One input's cotangent: zeros if nothing reached it, and always in the input's dtype (as in JAX)."""
    t = type(g)
    if t is np.ndarray:
        if g.dtype != dtype:
            return g.astype(dtype)
        return writable(g)
    if t is _F64 and dtype is _F64_DTYPE:  # the one-element gradient's case: (np.array is the cheapest way)
        return np.array(g)
    if g is None:
        return np.zeros(batch + shape, dtype=dtype)
    if getattr(g, "_level", None) is None:
        return np.asarray(g).astype(dtype, copy=False)  # a 0-d array, never a NumPy scalar, as dualad
    if t is Tracer and not g._tape.inputs and not INFINITE.depth:
        # (a released tape, and no transformation running that could still take it apart: adops.jacobians'
        # output_leaves peels a finished inner call's value for an outer one, ForwardDiff.jl's issue 443)
        raise TypeError("revad: the gradient is a traced value of a revad call that has already returned: a traced "
                        "intermediate was kept past the end of its call (in a list, a global or an attribute) and "
                        "used in this one, as JAX's UnexpectedTracerError; keep its plain value (.primal) instead, "
                        "or compute it inside this call")
    return g if g.dtype == dtype else g.astype(dtype)  # traced (an outer derivative): the input's dtype too


def _one_sweep(f, args: tuple, argnums, kwargs: dict):
    """The commonest gradient call, one float ndarray argument and one float element out, without the driver's
    objects (``Inputs``, ``Leaves``, ``ReversePass``; a third of a small call's cost): ``(value, gradient)``.

    None when the argument is not one float ndarray (nothing has run); when ``f``'s output is anything else, f has
    run, and the ``ReversePass`` of that recording is returned for the driver to go on with (its checks and errors).
    """
    if type(argnums) is not int or not 0 <= argnums < len(args):
        return None
    x = args[argnums]
    if type(x) is not np.ndarray or x.dtype.kind != "f":
        return None
    shape, dtype = x.shape, x.dtype  # as the driver's Inputs: before f runs (f may set x.shape in place)
    tape = Tape()
    call = list(args)
    call[argnums] = tape.input(x)
    out = call_traced(f, call, kwargs)
    if type(out) is Tracer and out._level == tape.level:
        value = out.primal
        t = type(value)
        if t is _F64 or ((t is np.ndarray or t is np.float32) and value.size == 1 and value.dtype.kind == "f"):
            seed = np.array(1, value.dtype)
            cts = tape._sweep({out._slot: seed.reshape(value.shape) if t is np.ndarray else seed}, False, None)
            tape.release()
            return value, _input_ct(cts.get(0), (), shape, dtype)
    inputs = Inputs(args, argnums, "revad.grad")
    inputs.shapes, inputs.dtypes = [shape], [dtype]
    return ReversePass(f, inputs, kwargs, False, "revad.grad", recorded=(tape, out))


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
    rev = ReversePass(f, Inputs(primals, tuple(range(len(primals))), "revad.vjp", copy=True), None, False,
                      "revad.vjp")
    outputs = rev.outputs

    def pullback(ct):
        ct_leaves, ct_def = flatten(ct)
        if not same_structure(ct_def, outputs.treedef):
            raise ValueError("revad.vjp pullback: the cotangent's structure (containers and dict keys) does not "
                             "match the output's")
        seeds = []
        for c, shape, dtype in zip(ct_leaves, outputs.shapes, outputs.dtypes):
            c = c if getattr(c, "_level", None) is not None else np.asarray(c, dtype=dtype)
            if leaf_shape(c) != shape:
                raise ValueError(f"revad.vjp pullback: cotangent shape {leaf_shape(c)} does not match output shape "
                                 f"{shape}")
            seeds.append(c)
        return rev.inputs.regroup(rev(seeds, (), last=False))

    return unflatten(outputs.treedef, outputs.leaves), pullback


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
        rev = _one_sweep(f, args, argnums, kwargs) if not has_aux else None
        if type(rev) is tuple:
            return rev
        if rev is None:
            rev = ReversePass(f, Inputs(args, argnums, "revad.grad"), kwargs, has_aux, "revad.grad")
        g = sweep_gradient(rev)
        value = rev.outputs.leaves[0]
        return ((value, rev.aux) if has_aux else value), g

    return run


def grad(f: Callable, argnums: int | tuple = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar ``f`` by one reverse sweep.

    Examples
    --------
    >>> import numpy as np
    >>> grad(lambda w, x: np.tanh(w @ x), argnums=(0, 1))(np.array([1.0, 0.0]), np.array([0.0, 2.0]))
    (array([0., 2.]), array([1., 0.]))
    """
    check_callable(f, "revad.grad")

    def gradient(*args, **kwargs):
        rev = _one_sweep(f, args, argnums, kwargs) if not has_aux else None
        if type(rev) is tuple:
            return rev[1]
        if rev is None:
            rev = ReversePass(f, Inputs(args, argnums, "revad.grad"), kwargs, has_aux, "revad.grad")
        g = sweep_gradient(rev)
        return (g, rev.aux) if has_aux else g

    if not has_aux:  # sparse Jacobians of the gradient detect f's Hessian pattern (adops.sparse.jacobian.resolve)
        gradient.__fwdrev_grad__ = (f, argnums)
    return gradient


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
        return jacobian(ReversePass, f, args, kwargs, argnums, chunk, fn, has_aux=has_aux, sparsity=sparsity)

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
        from adops.sparse.hessian import StarSeeds

        fn = "revad.hessian"
        seeds = StarSeeds.resolve(sparsity, f, args, argnums, fn, kwargs)
        return jacobian(ReversePass, grad(f, argnums), args, kwargs, argnums, None, fn, sparsity=seeds)

    return hess


def _recompute(fn):
    """The all-inputs VJP of a checkpointed call: re-run ``fn`` on a fresh tape and pull the output cotangent(s)
    back to every input in one sweep (traced and counted like any call, not metered twice)."""

    def vjp_all(ct, ans, *primals):  # (a transformation inside the sweep: an inner one, see adops.core.INFINITE)
        return call_traced(_pull, (fn, plain(primals), plain(ct), plain(ans)))

    return vjp_all


def _pull(fn, primals, ct, ans):
    """Re-run ``fn`` on a fresh tape and pull ``ct`` (possibly with leading batch axes; a tuple with ``None`` for
    unused outputs when ``fn`` returns several arrays) back to its inputs."""
    several = isinstance(ans, tuple)
    cts, anss = (ct, ans) if several else ((ct,), (ans,))
    first, lead = next((c, a) for c, a in zip(cts, anss) if c is not None)
    batch = leaf_shape(first)[:len(leaf_shape(first)) - len(leaf_shape(lead))]
    rev = ReversePass(fn, Inputs(primals, tuple(range(len(primals))), "revad.checkpoint"), None, False,
                      "revad.checkpoint")
    return rev.inputs.regroup(rev(list(cts), batch, last=True))


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
    rev = ReversePass(f, Inputs(args, tuple(range(len(args))), "revad.trace", copy=True), None, False, "revad.trace",
                      names=names, keep_values=True)
    rev.tape.outputs = list(zip(rev.slots, rev.outputs.leaves))
    return rev.tape
