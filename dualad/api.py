"""Forward-mode transformations with JAX's conventions: jvp, jacfwd, grad, derivative, hessian."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from adops.core import call_traced, new_level
from adops.jacobians import BatchedPass, Inputs, Leaves, jacobian, output_leaves
from adops.trees import (
    as_input,
    check_callable,
    flatten,
    leaf_dtype,
    leaf_shape,
    same_structure,
    split_aux,
    unflatten,
)

from .dual import Dual


def _split_output(out, level: int, batch: tuple, fn: str):
    """Primal and tangent of each output leaf (a zero tangent where the output does not depend on the input)."""
    primals, owned, treedef = output_leaves(out, level, Dual, fn, floats=True)
    tangents = []
    for i, t in enumerate(owned):
        if t is not None:
            primals[i] = t.primal
            tangents.append(t.tangent)
        else:
            p = primals[i]
            tangents.append(np.zeros(batch + leaf_shape(p), dtype=leaf_dtype(p)))
    return primals, tangents, treedef


def jvp(f: Callable, primals: tuple | list, tangents: tuple | list) -> tuple[Any, Any]:
    """Evaluate ``f(*primals)`` and its directional derivative along ``tangents`` in one forward pass.

    Parameters
    ----------
    f : function of NumPy arrays (or tuples/lists/dicts of arrays)
    primals, tangents : tuples of the same structure; each tangent has its primal's shape.

    Returns
    -------
    (out, out_tangent)

    Examples
    --------
    >>> import numpy as np
    >>> out, t = jvp(np.sin, (0.0,), (1.0,))
    >>> float(out), float(t)
    (0.0, 1.0)
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("dualad.jvp: primals and tangents must be tuples (one entry per argument of f), e.g. "
                        "jvp(f, (x,), (v,))")
    if len(primals) != len(tangents):
        raise ValueError(f"dualad.jvp: {len(primals)} primals but {len(tangents)} tangents")
    level = new_level()
    args = []
    for i, (p, t) in enumerate(zip(primals, tangents)):
        p_leaves, p_def = flatten(p)
        t_leaves, t_def = flatten(t)
        if not same_structure(p_def, t_def):
            raise ValueError(f"dualad.jvp: argument {i}: the tangent's structure (containers and dict keys) does "
                             "not match the primal's")
        duals = []
        for pl, tl in zip(p_leaves, t_leaves):
            pl = as_input(pl, "dualad.jvp")
            tl = np.asarray(tl, dtype=leaf_dtype(pl)) if getattr(tl, "_level", None) is None else tl
            if leaf_shape(tl) != leaf_shape(pl):
                raise ValueError(f"dualad.jvp: argument {i}: tangent shape {leaf_shape(tl)} does not match primal "
                                 f"shape {leaf_shape(pl)}")
            duals.append(Dual(pl, tl, level))
        args.append(unflatten(p_def, duals))
    out_primals, out_tangents, treedef = _split_output(call_traced(f, args), level, (), "dualad.jvp")
    return unflatten(treedef, out_primals), unflatten(treedef, out_tangents)


class ForwardPass(BatchedPass):
    """One forward pass of ``f`` per call, carrying a block of tangent directions on every input leaf (the driver in
    ``adops.jacobians`` chooses the directions and assembles the Jacobian)."""

    __slots__ = ()
    mode = "forward"
    nonscalar = "dualad.jacfwd"

    def __call__(self, seeds, batch, last):
        inputs, fn = self.inputs, self.fn
        level = new_level()
        if len(seeds) == 1 and seeds[0] is not None:
            duals = [Dual(inputs.leaves[0], seeds[0], level)]
        else:
            duals = [Dual(leaf, seed if seed is not None else np.zeros(batch + shape, dtype), level)
                     for leaf, seed, shape, dtype in zip(inputs.leaves, seeds, inputs.shapes, inputs.dtypes)]
        out = call_traced(self.f, inputs.call_args(duals), self.kwargs)
        if self.has_aux:
            out, aux = split_aux(out, True, level, fn)
        primals, tangents, treedef = _split_output(out, level, batch, fn)
        if self.outputs is None:
            self.outputs = Leaves(primals, treedef)
            if self.has_aux:
                self.aux = aux
        return tangents


def jacfwd(f: Callable, argnums: int | tuple = 0, chunk_size: int | str | None = "auto",
           has_aux: bool = False, sparsity=None) -> Callable:
    """The Jacobian of ``f`` by forward mode, shaped ``out.shape + in.shape``.

    ``chunk_size=k`` uses ceil(n/k) passes of k input directions; ``None`` puts all n through ``f`` in one
    vectorized pass (n times the memory of one evaluation). The default, ``"auto"``, bounds each pass: up to
    ``adops.trees.AUTO_ONE_PASS`` (64) directions go through one pass; above that, a first pass of ``AUTO_PROBE``
    directions is measured with ``tracemalloc`` (read without resetting if you are tracing already) and the other
    passes take as many directions as keep a pass under ``adops.trees.CHUNK_BUDGET`` float64 entries (64 MiB),
    and never more than keep the seed alone under it. Memory is then a bounded multiple of one evaluation and
    the budget, apart from the result, at any n.
    With ``sparsity``, one pass carries one tangent direction per colour of the columns and the result is a
    ``scipy.sparse`` CSR matrix of shape (out.size, in.size) (several inputs: stacked columns); ``chunk_size``
    then counts colours per pass (``"auto"``: bounded memory however many colours). ``sparsity`` may be:

    - ``"auto"``: detect the pattern (``adops.sparse.jacobian_sparsity``) at *every call*, with the call's
      positional and keyword arguments, so a changed shift, constant matrix or branch is always seen; the
      colouring of a pattern seen before is reused. Costs one detection per call (a few evaluations of ``f``).
    - a ``SparseJacobian`` (``SparseJacobian.detect(f, *args)``): detect once and reuse, e.g. through a Newton
      iteration. Reuse assumes every call runs the same program (control flow, constants, non-differentiated
      arguments) as the detection did.
    - a pattern matrix or an ``adops.sparse.Coloring``: your own pattern, trusted. A missed nonzero (i, j) goes
      into output i of the pass for j's colour. The check raises only if the pattern's row i has no entry in a
      column of that colour (certainly when row i is empty); otherwise the missed value is added, unnoticed, to
      that entry, and the Jacobian is wrong. With a good colouring most colours occur in most rows (a
      tridiagonal pattern: every colour in every interior row), so expect a missed nonzero to go unnoticed.
      Prefer detected patterns (``"auto"`` or ``SparseJacobian.detect``).

    Of a gradient (``jacfwd(revad.grad(f))``, same ``argnums``), ``sparsity`` is a Hessian pattern: ``"auto"``
    detects f's Hessian pattern, a matrix is star-coloured and verified, as in ``revad.hessian``.

    Examples
    --------
    >>> import numpy as np
    >>> jacfwd(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """

    check_callable(f, "dualad.jacfwd")
    if sparsity is not None and has_aux:
        raise TypeError("dualad.jacfwd: has_aux is not supported with sparsity=; return the auxiliary data separately")

    def jac(*args, **kwargs):
        return jacobian(ForwardPass, f, args, kwargs, argnums, chunk_size, "dualad.jacfwd", has_aux=has_aux,
                        sparsity=sparsity)

    return jac


def grad(f: Callable, argnums: int | tuple = 0, chunk_size: int | str | None = "auto",
         has_aux: bool = False) -> Callable:
    """The gradient of a scalar ``f`` computed by forward passes (n directions; for comparison with reverse mode).

    ``chunk_size`` as for ``jacfwd``: by default the passes are chunked to keep memory bounded.

    Examples
    --------
    >>> import numpy as np
    >>> grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
    array([2., 4.])
    """

    check_callable(f, "dualad.grad")

    def gradient(*args, **kwargs):
        return jacobian(ForwardPass, f, args, kwargs, argnums, chunk_size, "dualad.grad", scalar=True,
                        has_aux=has_aux)

    if not has_aux:  # sparse Jacobians of the gradient detect f's Hessian pattern (adops.sparse.jacobian.resolve)
        gradient.__fwdrev_grad__ = (f, argnums)
    return gradient


def derivative(f: Callable) -> Callable:
    """d f / d x for a scalar input ``x`` (the output may have any shape).

    Examples
    --------
    >>> float(derivative(lambda x: x ** 3)(2.0))
    12.0
    """

    check_callable(f, "dualad.derivative")

    def deriv(x, **kwargs):
        x = as_input(x, "dualad.derivative")
        if leaf_shape(x) != ():
            raise ValueError(f"dualad.derivative: the input must be a scalar, got shape {leaf_shape(x)}; use "
                             "dualad.jacfwd for array inputs")
        d = jvp(lambda x: f(x, **kwargs), (x,), (np.ones((), dtype=leaf_dtype(x)),))[1]
        return np.asarray(d) if isinstance(d, np.generic) else d

    return deriv


HESSIAN_BUDGET = 1 << 23  # tangent entries per pass of the outer jacfwd (64 MiB of float64)


def hessian(f: Callable, argnums: int | tuple = 0, chunk_size: int | None = None, sparsity=None) -> Callable:
    """The Hessian of a scalar ``f`` by forward-over-forward, shaped ``in.shape + in.shape``.

    The inner gradient carries n directions, and each outer pass multiplies that by its own directions, so a
    fully vectorized outer pass would hold n^3 numbers; by default the outer passes are chunked to keep each
    under ``HESSIAN_BUDGET`` entries. Pass ``chunk_size`` to choose yourself.
    With ``sparsity`` (``"auto"``, a pattern, an ``adops.sparse.StarColoring`` or ``SparseHessian``), one outer
    pass carries one direction per colour of a star colouring and the result is a symmetric ``scipy.sparse`` CSR
    matrix (in.size x in.size; several inputs: stacked); ``chunk_size`` then counts colours per pass (default:
    ``HESSIAN_BUDGET`` tangent entries). ``"auto"`` detects at every call; a detected ``SparseHessian`` is reused
    as trusted; your own pattern is verified with one extra random product (see ``adops.sparse.resolve_hessian``).
    Not for large n: the inner forward gradient still carries n directions per colour (n = 10^4: 11 s and 7.4 GB,
    against 4 ms for ``revad.hessian(f, sparsity=sh)``); prefer ``revad.hessian`` or
    ``dualad.jacfwd(revad.grad(f), sparsity=...)``.

    Examples
    --------
    >>> import numpy as np
    >>> hessian(lambda x: x[0] * x[1] ** 2)(np.array([1.0, 3.0]))
    array([[0., 6.],
           [6., 2.]])
    """

    check_callable(f, "dualad.hessian")

    def hess(*args, **kwargs):
        fn = "dualad.hessian"
        if sparsity is not None:
            from adops.sparse.hessian import StarSeeds

            seeds = StarSeeds.resolve(sparsity, f, args, argnums, fn, kwargs)
            n = seeds.star.shape[0]
            chunk = chunk_size or max(1, HESSIAN_BUDGET // max(1, n * n))
            return jacobian(ForwardPass, grad(f, argnums), args, kwargs, argnums, chunk, fn, sparsity=seeds)
        n = Inputs(args, argnums, fn).total
        chunk = chunk_size or max(1, min(n, HESSIAN_BUDGET // max(1, n * n)))
        return jacfwd(grad(f, argnums), argnums, chunk_size=chunk)(*args, **kwargs)

    return hess


__all__ = ["jvp", "jacfwd", "grad", "derivative", "hessian"]
