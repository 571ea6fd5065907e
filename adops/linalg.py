"""Linear algebra primitives (matmul, einsum, trace, diag, inv, solve, det) and composites (dot, inner, outer,
tensordot)."""

from __future__ import annotations

import string

import numpy as np
import sympy as sp

from .core import (
    Domain,
    Op,
    Sample,
    align,
    call,
    ndim,
    normalize_axis,
    register,
    reject_out,
    result_dtype,
    shape,
    sum_to,
)
from .derive import STRONG_PRODUCT, bilinear, composite, linear
from .symbolic import as_objects, matrices

# ---- matmul: vectors are promoted to matrices by the primal's rank, so batch axes pass through ------------


def _parse_matmul(a, b, out=None, **kwargs):
    if out is not None or kwargs:
        reject_out("np.matmul", out, **kwargs)
    sa, sb = shape(a), shape(b)  # (once each: a traced array computes its shape on every call)
    na, nb = len(sa), len(sb)
    if na == 0 or nb == 0:
        raise ValueError("np.matmul: operands must be at least 1-D; use * to scale by a scalar")
    ka, kb = sa[-1], sb[-2 if nb > 1 else -1]
    if ka != kb:
        raise ValueError(f"np.matmul: shapes {sa} and {sb} do not align ({ka} != {kb})")
    return (a, b), {"nd": (na, nb)}


def matmul_impl(a, b, nd):
    va, vb = nd[0] == 1, nd[1] == 1
    if not (va or vb):
        return np.matmul(a, b)
    # a vector operand with leading batch axes is a stack of rows: one matrix product instead of k small ones
    if va and vb:
        return np.matmul(b, a) if ndim(b) > 1 else np.matmul(a, b)
    if va and ndim(b) == 2:
        return np.matmul(a, b)
    if vb and ndim(a) == 2:
        return np.matmul(b, np.swapaxes(a, -1, -2)) if ndim(b) > 1 else np.matmul(a, b)
    if va:
        a = np.expand_dims(a, -2)
    if vb:
        b = np.expand_dims(b, -1)
    out = np.matmul(a, b)
    if vb:
        out = out[..., 0]
    if va:
        out = out[..., 0, :] if not vb else out[..., 0]
    return out


def _as_matrix(ct, nd):
    """The output cotangent with the vector axes matmul squeezed out put back."""
    va, vb = nd[0] == 1, nd[1] == 1
    if vb:
        ct = np.expand_dims(ct, -1)
    if va:
        ct = np.expand_dims(ct, -2)
    return ct


def _matmul_vjp_a(ct, ans, a, b, nd):
    if nd == (2, 2) and type(ct) is np.ndarray and ct.ndim == 2 and type(b) is np.ndarray:  # the common case
        return np.matmul(ct, b.T)  # (the general path's product, without its Python helpers: see _matmul_vjp_b)
    lead = ndim(ct) - ndim(ans)
    if nd == (1, 2) and ndim(b) == 2:  # vector @ matrix: ct (batch, m) @ b^T in one GEMM
        return sum_to(np.matmul(ct, np.swapaxes(b, -1, -2)), lead, shape(a))
    g = np.matmul(_as_matrix(ct, nd), np.swapaxes(b, -1, -2) if nd[1] > 1 else np.expand_dims(b, -2))
    if nd[0] == 1:
        g = g[..., 0, :]
    return sum_to(g, lead, shape(a))


def _matmul_vjp_b(ct, ans, a, b, nd):
    if nd == (2, 2) and type(ct) is np.ndarray and ct.ndim == 2 and type(a) is np.ndarray:
        # matrix @ matrix with no batch axes (every layer of a network): the general path's very product, minus
        # np.swapaxes and sum_to, Python helpers that cost 5-10 us each in a sweep, where the GEMMs before have
        # pushed them out of the caches
        return np.matmul(a.T, ct)
    lead = ndim(ct) - ndim(ans)
    if nd == (2, 1) and ndim(a) == 2:  # b_bar = ct @ A for every batch row at once
        return np.matmul(ct, a)
    g = np.matmul(np.swapaxes(a, -1, -2) if nd[0] > 1 else np.expand_dims(a, -1), _as_matrix(ct, nd))
    if nd[1] == 1:
        g = g[..., 0]
    return sum_to(g, lead, shape(b))


def _matmul_cost(sa, sb, **params):
    a2 = sa if len(sa) > 1 else (1,) + sa
    b2 = sb if len(sb) > 1 else sb + (1,)
    stack = np.broadcast_shapes(a2[:-2], b2[:-2])
    return 2 * int(np.prod(stack, dtype=np.int64)) * a2[-2] * a2[-1] * b2[-1]


def _sym_matmul(a, b, nd):
    return np.matmul(as_objects(a), as_objects(b))


MATMUL = bilinear("matmul", (np.matmul,), matmul_impl, (_matmul_vjp_a, _matmul_vjp_b), parse=_parse_matmul,
                  cost=_matmul_cost, sympy_fn=_sym_matmul,
                  samples=(Sample(((3, 4), (4, 2)), np.matmul), Sample(((3, 4), (4,)), np.matmul, "matrix @ vector"),
                           Sample(((4,), (4, 2)), np.matmul, "vector @ matrix"),
                           Sample(((4,), (4,)), np.matmul, "vector @ vector"),
                           Sample(((2, 3, 4), (4, 2)), np.matmul, "stacked @ matrix"),
                           Sample(((4,), (2, 4, 3)), np.matmul, "vector @ stacked"),
                           Sample(((2, 1, 3, 4), (3, 4, 2)), np.matmul, "broadcast stacks")),
                  math="d(AB) = dA B + A dB; A_bar = C_bar B^T, B_bar = A^T C_bar", sparsity="matmul")


# ---- einsum: multilinear; batch axes get letters the user did not use ---------------------------------------
def _parse_einsum(subscripts, *operands, out=None, optimize=None, **kwargs):
    reject_out("np.einsum", out, **kwargs)
    if not isinstance(subscripts, str):  # the interleaved form: einsum(a, [0, 1], b, [1, 2], [0, 2])
        subscripts, operands = _interleaved(subscripts, operands)
    spec = subscripts.replace(" ", "")
    lhs, arrow, rhs = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"np.einsum: {len(terms)} subscript terms for {len(operands)} operands")
    used = set(spec) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    # expand '...' into explicit letters, right-aligned across operands as NumPy broadcasts them
    ell_nd = max((ndim(op) - len(t.replace("...", "")) for t, op in zip(terms, operands) if "..." in t), default=0)
    ell = "".join(spare[:ell_nd])
    spare = spare[ell_nd:]
    expanded = []
    for t, op in zip(terms, operands):
        if "..." in t:
            k = ndim(op) - len(t.replace("...", ""))
            t = t.replace("...", ell[ell_nd - k:] if k else "")
        if len(t) != ndim(op):
            raise ValueError(f"np.einsum: term {t!r} does not match an operand of shape {shape(op)}")
        expanded.append(t)
    if arrow:
        out_t = rhs.replace("...", ell)
    else:
        counts = {c: "".join(expanded).count(c) for c in set("".join(expanded))}
        out_t = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    # a repeated index within one operand (a diagonal, 'ii->i') becomes two indices tied by an identity operand
    # ('ij,ij->i' with eye): every term then has distinct indices, which the rules below rely on
    operands = list(operands)
    for k, t in enumerate(list(expanded)):
        while len(set(t)) != len(t):
            c = next(ch for ch in t if t.count(ch) > 1)
            fresh = spare.pop(0)
            second = t.index(c, t.index(c) + 1)
            n = shape(operands[k])[second]
            t = t[:second] + fresh + t[second + 1:]
            expanded.append(c + fresh)
            operands.append(np.eye(n, dtype=result_dtype(operands[k])))
        expanded[k] = t
    return tuple(operands), {"terms": tuple(expanded), "out": out_t, "spare": "".join(spare[:8])}


def _interleaved(first, rest):
    """NumPy's interleaved einsum arguments (operand, sublist, operand, sublist, ..., [output sublist]) as the
    subscript string and the operands."""
    args = (first,) + tuple(rest)
    operands, lists = list(args[0::2]), list(args[1::2])
    output = None
    if len(operands) > len(lists):  # an odd count: the last item is the output sublist
        output = operands.pop()

    def letters(sub):
        out = ""
        for k in sub:
            if k is Ellipsis:
                out += "..."
            elif isinstance(k, (int, np.integer)) and 0 <= k < 52:
                out += string.ascii_letters[int(k)]
            else:
                raise ValueError(f"np.einsum: subscript {k!r} in the interleaved form must be an integer in [0, 52) "
                                 "or Ellipsis")
        return out

    spec = ",".join(letters(sub) for sub in lists)
    if output is not None:
        spec += "->" + letters(output)
    return spec, operands


def _einsum_spec(terms, out, lead_letters=""):
    return ",".join(terms) + "->" + lead_letters + out


def einsum_impl(*ops, terms, out, spare):
    batched = [ndim(op) - len(t) for op, t in zip(ops, terms)]
    lead = max(batched)
    if lead:
        terms = tuple(spare[:b] + t for b, t in zip(batched, terms))
    return np.einsum(_einsum_spec(terms, out, spare[:lead]), *ops, optimize=len(ops) > 2 or lead > 0)


def _einsum_jvp(tangents, ans, *ops, terms, out, spare):
    total = None
    for i, t in enumerate(tangents):
        if t is None:
            continue
        args = list(ops)
        args[i] = t
        term = einsum_impl(*args, terms=terms, out=out, spare=spare)
        total = term if total is None else total + term
    return total


def _einsum_vjp(i, ct, ans, *ops, terms, out, spare):
    lead = ndim(ct) - len(out)
    others = [t for k, t in enumerate(terms) if k != i]
    present = set(out).union(*others) if others else set(out)
    kept = "".join(c for c in terms[i] if c in present)
    spec_terms = (spare[:lead] + out,) + tuple(others)
    args = (ct,) + tuple(op for k, op in enumerate(ops) if k != i)
    g = np.einsum(",".join(spec_terms) + "->" + spare[:lead] + kept, *args, optimize=len(args) > 1)
    if kept != terms[i]:  # an index summed only within operand i: its cotangent is constant along it
        g = np.reshape(g, shape(g)[:lead] + tuple(shape(g)[lead + kept.index(c)] if c in kept else 1
                                                  for c in terms[i]))
    # size-1 axes of operand i that einsum broadcast against the others: sum them back
    return sum_to(np.broadcast_to(g, shape(g)[:lead] + np.broadcast_shapes(shape(g)[lead:], shape(ops[i]))), lead,
                  shape(ops[i]))


def _einsum_cost(*shapes, terms, out, spare):
    sizes = {}
    for t, s in zip(terms, shapes):
        sizes.update(zip(t, s))
    return max(1, len(shapes) - 1) * 2 * int(np.prod(list(sizes.values()), dtype=np.int64))


def _einsum_vjp_all(ct, ans, *ops, **params):
    return [_einsum_vjp(i, ct, ans, *ops, **params) for i in range(len(ops))]


register(Op(
    name="einsum",
    impl=einsum_impl,
    jvp=_einsum_jvp,
    vjp_all=_einsum_vjp_all,
    sympy=lambda *ops, terms, out, spare: np.einsum(_einsum_spec(terms, out), *[as_objects(o) for o in ops]),
    cost=_einsum_cost,
    domain=Domain(),
    samples=(Sample(((2, 3), (3, 4)), lambda a, b: np.einsum("ij,jk->ik", a, b)),
             Sample(((2, 3), (2, 3)), lambda a, b: np.einsum("ij,ij->i", a, b), "row dots"),
             Sample(((3, 4),), lambda a: np.einsum("ij->j", a), "column sums"),
             Sample(((2, 3), (3,), (3, 2)), lambda a, b, c: np.einsum("ij,j,jk", a, b, c), "three operands"),
             Sample(((2, 2, 3), (3, 4)), lambda a, b: np.einsum("...j,jk->...k", a, b), "ellipsis"),
             Sample(((3, 3),), lambda a: np.einsum("ii->i", a), "diagonal"),
             Sample(((3, 3, 2), (2,)), lambda a, b: np.einsum("iij,j", a, b), "repeated index, implicit output"),
             Sample(((2, 3), (3, 4)), lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [2, 0]), "interleaved"),
             Sample(((2, 3, 3),), lambda a: np.einsum(a, [Ellipsis, 1, 1]), "interleaved, ellipsis")),
    math="multilinear: one term per operand's tangent; each cotangent is an einsum of the others",
    curvature="multilinear", sparsity="contraction"),
         np.einsum, parse=_parse_einsum)


# ---- trace and diag --------------------------------------------------------------------------------------
def _parse_trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    reject_out("np.trace", out, dtype=dtype)
    nd = ndim(a)
    if nd < 2:
        raise ValueError(f"np.trace: needs an array with at least 2 axes, got shape {shape(a)}")
    return (a,), {"offset": int(offset), "axes": (normalize_axis(axis1, nd, "np.trace"),
                                                  normalize_axis(axis2, nd, "np.trace")), "nd": nd}


def _trace_impl(x, offset, axes, nd):
    return np.trace(x, offset=offset, axis1=axes[0] + ndim(x), axis2=axes[1] + ndim(x))


def _trace_vjp(ct, ans, x, offset, axes, nd):
    a1, a2 = axes
    n1, n2 = shape(x)[a1], shape(x)[a2]
    eye = np.eye(n1, n2, k=offset, dtype=getattr(ct, "dtype", float))
    if a1 > a2:
        eye = eye.T
    full = [1] * nd
    full[a1], full[a2] = n1, n2
    return np.expand_dims(ct, (min(a1, a2), max(a1, a2))) * np.reshape(eye, full)


linear("trace", (np.trace,), _trace_impl, (_trace_vjp,), parse=_parse_trace,
       cost=lambda *s, **p: min(s[0][p["axes"][0]], s[0][p["axes"][1]]),
       samples=(Sample(((3, 3),), np.trace), Sample(((3, 4),), lambda x: np.trace(x, offset=1), "offset 1"),
                Sample(((2, 3, 3),), lambda x: np.trace(x, axis1=1, axis2=2), "stacked")),
       sympy_fn=lambda x, offset, axes, nd: np.trace(as_objects(x), offset, axes[0] + nd, axes[1] + nd),
       math="linear; transpose places the cotangent on the diagonal", sparsity="probe")


def _parse_diag(v, k=0):
    nd = ndim(v)
    if nd not in (1, 2):
        raise ValueError(f"np.diag: input must be 1-D or 2-D, got shape {shape(v)}")
    return (v,), {"k": int(k), "nd": nd}


def diag_impl(x, k, nd):
    if nd == 2:
        return np.diagonal(x, offset=k, axis1=-2, axis2=-1)
    n = shape(x)[-1]
    size = n + abs(k)
    if k >= 0:
        block = np.expand_dims(x, -1) * np.eye(n, size, k=k, dtype=getattr(x, "dtype", float))
        widths = ((0, k), (0, 0))
    else:
        block = np.expand_dims(x, -2) * np.eye(size, n, k=k, dtype=getattr(x, "dtype", float))
        widths = ((0, 0), (0, -k))
    return np.pad(block, ((0, 0),) * (ndim(x) - 1) + widths) if k else block


def _diag_vjp(ct, ans, x, k, nd):
    if nd == 1:
        return diag_impl(ct, k, 2)
    m, n = shape(x)[-2:]
    full = diag_impl(ct, k, 1)  # square, of side len(diagonal) + |k|
    side = shape(full)[-1]
    lead = ndim(full) - 2
    if side > m or side > n:
        full = full[(...,) + (slice(0, min(side, m)), slice(0, min(side, n)))]
    rows, cols = shape(full)[-2:]
    if rows < m or cols < n:
        full = np.pad(full, ((0, 0),) * lead + ((0, m - rows), (0, n - cols)))
    return full


DIAGONAL = register(Op(
    name="diagonal",
    impl=lambda x, offset: np.diagonal(x, offset=offset, axis1=-2, axis2=-1),
    jvp=lambda ts, ans, x, offset: np.diagonal(ts[0], offset=offset, axis1=-2, axis2=-1),
    vjps=(lambda ct, ans, x, offset: _diag_vjp(ct, ans, x, offset, 2),),
    sympy=lambda x, offset: np.diagonal(as_objects(x), offset, -2, -1),
    cost=lambda *s, **p: 0,
    domain=Domain(),
    samples=(Sample(((3, 4),), lambda x: np.diagonal(x)),
             Sample(((2, 3, 3),), lambda x: np.diagonal(x, 1, -2, -1), "stacked, offset 1"),
             Sample(((3, 2, 4),), np.diagonal, "3-D, NumPy's default axes 0 and 1"),
             Sample(((3, 2, 4),), lambda x: np.diagonal(x, -1, 2, 0), "axes 2 and 0, offset -1")),
    math="linear; transpose places the cotangent on the diagonal",
    sparsity="select"),
                    np.diagonal, parse=lambda a, offset=0, axis1=0, axis2=1: _parse_diagonal(a, offset, axis1, axis2))


def _parse_diagonal(a, offset, axis1, axis2):
    nd = ndim(a)
    if nd < 2:
        raise ValueError("np.diagonal: diag requires an array of at least two dimensions")
    first, second = normalize_axis(axis1, nd, "np.diagonal"), normalize_axis(axis2, nd, "np.diagonal")
    if first == second:
        raise ValueError("np.diagonal: axis1 and axis2 cannot be the same")
    if (first, second) != (-2, -1):  # NumPy keeps the other axes in order and appends the diagonal: move them last
        a = np.moveaxis(a, (first, second), (-2, -1))
    return (a,), {"offset": int(offset)}


linear("diag", (np.diag,), diag_impl, (_diag_vjp,), parse=_parse_diag,
       samples=(Sample(((3,),), np.diag), Sample(((3,),), lambda x: np.diag(x, k=1), "k=1"),
                Sample(((3,),), lambda x: np.diag(x, k=-2), "k=-2"), Sample(((3, 4),), np.diag, "extract"),
                Sample(((4, 3),), lambda x: np.diag(x, -1), "extract k=-1")),
       sympy_fn=lambda x, k, nd: np.diag(as_objects(x), k), math="linear; builds or reads a diagonal",
       sparsity="select")


# ---- inv, solve, det ------------------------------------------------------------------------------------
def _square(fn, a):
    s = shape(a)
    if len(s) < 2 or s[-1] != s[-2]:
        raise ValueError(f"{fn}: needs square matrices (shape (..., n, n)), got shape {s}")


def _parse_inv(a):
    _square("np.linalg.inv", a)
    return (a,), {}


def _mT(x):
    return np.swapaxes(x, -1, -2)


WELL_CONDITIONED = Domain(-1.0, 1.0)


def eye_like(a, scale: float = 1.0):
    """scale * I matching a's last axis, in a's float dtype (a float64 identity would promote float32 samples)."""
    return np.asarray(scale * np.eye(shape(a)[-1]), dtype=result_dtype(a))


def _spd_call(fn):
    """Samples use I*3 + x so the random matrices are safely invertible."""
    return lambda a, *rest: fn(a + eye_like(a, 3), *rest)


register(Op(
    name="linalg.inv",
    impl=np.linalg.inv,
    jvp=lambda ts, ans, a: -(ans @ ts[0] @ ans),
    vjps=(lambda ct, ans, a: -(_mT(ans) @ ct @ _mT(ans)),),
    sympy=matrices(lambda m: np.array(m.inv().tolist(), dtype=object)),
    cost=lambda s, **p: 2 * s[-1] ** 3 *
    int(np.prod(s[:-2], dtype=np.int64)),
    domain=WELL_CONDITIONED,
    samples=(Sample(((3, 3),), _spd_call(np.linalg.inv)), Sample(((2, 2, 2),), _spd_call(np.linalg.inv), "stacked")),
    math="d inv = -ans dA ans; A_bar = -ans^T C_bar ans^T"),
         np.linalg.inv, parse=_parse_inv)


def _parse_solve(a, b):
    _square("np.linalg.solve", a)
    vector = ndim(b) == 1
    n = shape(a)[-1]
    if shape(b)[-1 if vector else -2] != n:
        raise ValueError(f"np.linalg.solve: a of shape {shape(a)} and b of shape {shape(b)} do not align")
    return (a, b), {"vector": vector}


def solve_impl(a, b, vector):
    if vector:
        return np.linalg.solve(a, np.expand_dims(b, -1))[..., 0]
    return np.linalg.solve(a, b)


def _solve_jvp(tangents, ans, a, b, vector):
    ta, tb = tangents
    rhs = 0
    if tb is not None:
        rhs = align(tb, b, ans)
    if ta is not None:
        # line the batch axes of dA up in front of ans's stack axes (ans may have more of them than A)
        lead = ndim(ta) - ndim(a)
        gap = (ndim(ans) - (1 if vector else 2)) - (ndim(a) - 2)
        if lead and gap > 0:
            ta = np.reshape(ta, shape(ta)[:lead] + (1,) * gap + shape(ta)[lead:])
        prod = (ta @ np.expand_dims(ans, -1))[..., 0] if vector else ta @ ans
        rhs = rhs - prod
    return solve_impl(a, rhs, vector)


def _solve_vjp_b(ct, ans, a, b, vector):
    lead = ndim(ct) - ndim(ans)
    return sum_to(solve_impl(_mT(a), ct, vector), lead, shape(b))


def _solve_vjp_a(ct, ans, a, b, vector):
    lead = ndim(ct) - ndim(ans)
    gb = solve_impl(_mT(a), ct, vector)
    g = -(np.expand_dims(gb, -1) * np.expand_dims(ans, -2)) if vector else -(gb @ _mT(ans))
    return sum_to(g, lead, shape(a))


def _sym_solve(a, b, vector):
    a, b = as_objects(a), as_objects(b)
    if vector:
        b = b[..., None]
    stack = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, stack + a.shape[-2:])
    b = np.broadcast_to(b, stack + b.shape[-2:])
    out = np.empty(stack + b.shape[-2:], dtype=object)
    for idx in np.ndindex(*stack):
        out[idx] = np.array(sp.Matrix(a[idx].tolist()).LUsolve(sp.Matrix(b[idx].tolist())).tolist(), dtype=object)
    return out[..., 0] if vector else out


register(Op(
    name="linalg.solve",
    impl=solve_impl,
    jvp=_solve_jvp,
    vjps=(_solve_vjp_a, _solve_vjp_b),
    sympy=_sym_solve,
    cost=lambda sa, sb, **p: 2 * sa[-1] ** 3 // 3 + 2 * sa[-1] ** 2 * (1 if p["vector"] else sb[-1]),
    domain=WELL_CONDITIONED,
    samples=(Sample(((3, 3), (3,)), _spd_call(np.linalg.solve)), Sample(((3, 3), (3, 2)), _spd_call(np.linalg.solve),
                                                                        "matrix right side")),
    math="d x = A^-1 (db - dA x); b_bar = A^-T x_bar, A_bar = -b_bar x^T"),
         np.linalg.solve, parse=_parse_solve)


def _parse_det(a):
    _square("np.linalg.det", a)
    return (a,), {}


def cofactors(a, det=None):
    """C = det(A) A^-T, the gradient of det; from the minors where A is singular (C exists there, A^-1 does not)."""
    try:
        inv = np.linalg.inv(a)
    except np.linalg.LinAlgError:
        n = shape(a)[-1]
        if n == 1:
            return np.ones(shape(a))
        keep = np.array([[j for j in range(n) if j != i] for i in range(n)])  # (n, n-1): the other indices
        minors = a[..., keep[:, None, :, None], keep[None, :, None, :]]  # (..., n, n, n-1, n-1)
        return np.linalg.det(minors) * (-1.0) ** np.add.outer(np.arange(n), np.arange(n))
    return np.expand_dims(np.linalg.det(a) if det is None else det, (-2, -1)) * _mT(inv)


def inverse_transpose(a):
    """A^-T, the gradient of log|det A|; C / det where A is singular (infinite there, as log|det| falls to -inf)."""
    try:
        return _mT(np.linalg.inv(a))
    except np.linalg.LinAlgError:
        with np.errstate(divide="ignore", invalid="ignore"):
            return cofactors(a) / np.expand_dims(np.linalg.det(a), (-2, -1))


def _det_jvp(tangents, ans, a):
    # d det = tr(adj(A) dA) = sum(C * dA), C = det A^-T the cofactor matrix
    return np.sum(cofactors(a, ans) * tangents[0], axis=(-2, -1))


def _det_vjp(ct, ans, a):
    return np.expand_dims(ct, (-2, -1)) * cofactors(a, ans)


register(Op(
    name="linalg.det",
    impl=np.linalg.det,
    jvp=_det_jvp,
    vjps=(_det_vjp,),
    sympy=matrices(lambda m: m.det()),
    cost=lambda s, **p: 2 * s[-1] ** 3 // 3 * int(np.prod(s[:-2], dtype=np.int64)),
    domain=WELL_CONDITIONED,
    samples=(Sample(((3, 3),), _spd_call(np.linalg.det)), Sample(((2, 2, 2),), _spd_call(np.linalg.det), "stacked")),
    math="d det = tr(adj(A) dA); A_bar = c C, C = det A^-T the cofactors (minors if singular)"),
         np.linalg.det, parse=_parse_det)


def _lower_half(x):
    """Phi(X): the lower triangle of X with its diagonal halved."""
    n = shape(x)[-1]
    return np.tril(x) - 0.5 * x * np.eye(n, dtype=getattr(x, "dtype", float))


def _parse_cholesky(a, upper=False):
    _square("np.linalg.cholesky", a)
    return (a,), {"upper": bool(upper)}


def _cholesky_jvp(tangents, ans, a, upper):
    # upper=True reads the upper triangle and returns R = L^T with L the lower factor of A^T: transpose in and out
    if upper:
        return _mT(_cholesky_jvp((_mT(tangents[0]),), _mT(ans), a, False))
    # NumPy reads only the lower triangle of A, so dA acts as tril(dA) + tril(dA, -1)^T;
    # then dL = L Phi(L^-1 dA L^-T)
    t = tangents[0]
    t = np.tril(t) + _mT(np.tril(t, -1))
    inv_l = np.linalg.inv(ans)
    return ans @ _lower_half(inv_l @ t @ _mT(inv_l))


def _cholesky_vjp(ct, ans, a, upper):
    if upper:
        return _mT(_cholesky_vjp(_mT(ct), _mT(ans), a, False))
    # the transpose of the JVP, step by step: A_bar = tril(S) + tril(S^T, -1), S = L^-T Phi(L^T L_bar) L^-1
    inv_l = np.linalg.inv(ans)
    s = _mT(inv_l) @ _lower_half(_mT(ans) @ ct) @ inv_l
    return np.tril(s) + np.tril(_mT(s), -1)


def _sym_cholesky(a, upper):
    if upper:
        return np.swapaxes(_sym_cholesky(np.swapaxes(as_objects(a), -1, -2), False), -1, -2)

    def factor(m):
        lower = m.lower_triangular()
        return np.array((lower + lower.T - sp.diag(*m.diagonal())).cholesky(hermitian=False).tolist(), dtype=object)

    return matrices(factor)(a)


register(Op(
    name="linalg.cholesky",
    impl=lambda a, upper: np.linalg.cholesky(a, upper=upper),
    jvp=_cholesky_jvp,
    vjps=(_cholesky_vjp,),
    sympy=_sym_cholesky,
    cost=lambda s, **p: s[-1] ** 3 // 3 * int(np.prod(s[:-2], dtype=np.int64)),
    domain=WELL_CONDITIONED,
    samples=(Sample(((3, 3),), lambda a: np.linalg.cholesky(0.5 * a + eye_like(a, 3)), "lower triangle read"),
             Sample(((3, 3),), lambda a: np.linalg.cholesky(a @ a.T + eye_like(a)), "a a^T + I"),
             Sample(((2, 2, 2),), lambda a: np.linalg.cholesky(0.5 * a + eye_like(a, 3)), "stacked"),
             Sample(((3, 3),), lambda a: np.linalg.cholesky(0.5 * a + eye_like(a, 3), upper=True), "upper=True")),
    math="dL = L Phi(L^-1 dA L^-T), dA read from the lower triangle; Phi = tril with halved diagonal; upper=True: "
         "the same on the transposes"),
         np.linalg.cholesky, parse=_parse_cholesky)


def _strong(t, g):
    """t * g, with an exact 0 where t is 0 even if g is infinite (a singular A: A^-T = C / 0)."""
    return t * g if np.isfinite(_leaf(g)).all() else call(STRONG_PRODUCT, t, g)


def _leaf(x):
    while getattr(x, "_level", None) is not None and not getattr(x, "records_values", False):
        x = x.primal
    return x


def _logabsdet_jvp(tangents, ans, a):
    # d log|det A| = tr(A^-1 dA)
    return np.sum(_strong(tangents[0], inverse_transpose(a)), axis=(-2, -1))


def _logabsdet_vjp(ct, ans, a):
    return _strong(np.expand_dims(ct, (-2, -1)), inverse_transpose(a))


LOGABSDET = register(Op(
    name="logabsdet",
    impl=lambda a: np.linalg.slogdet(a)[1],
    jvp=_logabsdet_jvp,
    vjps=(_logabsdet_vjp,),
    sympy=matrices(lambda m: sp.log(sp.Abs(m.det()))),
    cost=lambda s, **p: 2 * s[-1] ** 3 // 3 * int(np.prod(s[:-2], dtype=np.int64)),
    domain=WELL_CONDITIONED,
    samples=(Sample(((3, 3),), lambda a: np.linalg.slogdet(a + eye_like(a, 3))[1], "slogdet(a)[1]"),
             Sample(((2, 2, 2),), lambda a: np.linalg.slogdet(a - eye_like(a, 3))[1], "stacked, det < 0")),
    math="d log|det A| = tr(A^-1 dA); A_bar = c A^-T"))


SlogdetResult = type(np.linalg.slogdet(np.eye(1)))


def _slogdet(a):
    _square("np.linalg.slogdet", a)
    # the sign is piecewise constant; only log|det| carries a derivative
    return SlogdetResult(np.sign(np.linalg.det(a)), call(LOGABSDET, a))


# ---- composites over matmul and einsum ---------------------------------------------------------------------
def _dot(a, b, out=None):
    reject_out("np.dot", out)
    na, nb = ndim(a), ndim(b)
    if na == 0 or nb == 0:
        return a * b
    if nb <= 2:
        return np.matmul(a, b)
    return np.tensordot(a, b, axes=([-1], [-2]))


def _tensordot(a, b, axes=2):
    na, nb = ndim(a), ndim(b)
    if np.ndim(axes) == 0:
        k = int(axes)
        axes_a, axes_b = list(range(na - k, na)), list(range(k))
    else:
        axes_a, axes_b = ([axes[0]] if np.ndim(axes[0]) == 0 else list(axes[0]),
                          [axes[1]] if np.ndim(axes[1]) == 0 else list(axes[1]))
    axes_a = [normalize_axis(x, na, "np.tensordot") + na for x in axes_a]
    axes_b = [normalize_axis(x, nb, "np.tensordot") + nb for x in axes_b]
    letters = iter(string.ascii_letters)
    ta = [next(letters) for _ in range(na)]
    tb = [next(letters) for _ in range(nb)]
    for i, j in zip(axes_a, axes_b):
        tb[j] = ta[i]
    out = [c for i, c in enumerate(ta) if i not in axes_a] + [c for j, c in enumerate(tb) if j not in axes_b]
    return np.einsum("".join(ta) + "," + "".join(tb) + "->" + "".join(out), a, b)


def _inner(a, b):
    if ndim(a) == 0 or ndim(b) == 0:
        return a * b
    return _tensordot(a, b, axes=([-1], [-1]))


def _outer(a, b, out=None):
    reject_out("np.outer", out)
    return np.multiply(np.reshape(a, (-1, 1)), np.reshape(b, (1, -1)))


def _vdot(a, b):
    return np.sum(np.ravel(a) * np.ravel(b))


composite("dot", (np.dot,), _dot, samples=(Sample(((3, 4), (4,)), np.dot), Sample(((4,), (4,)), np.dot, "1-D"),
                                           Sample(((2, 3), (2, 3, 2)), np.dot, "N-D")),
          math="matmul for 1-D/2-D, tensordot beyond")
composite("tensordot", (np.tensordot,), _tensordot,
          samples=(Sample(((2, 3, 4), (3, 4, 2)), np.tensordot),
                   Sample(((2, 3), (3, 2)), lambda a, b: np.tensordot(a, b, axes=([0], [1])), "axes pairs")),
          math="einsum")
composite("inner", (np.inner,), _inner, samples=(Sample(((4,), (4,)), np.inner), Sample(((2, 4), (3, 4)), np.inner,
                                                                                       "2-D")),
          math="einsum over the last axes")
composite("outer", (np.outer,), _outer, samples=(Sample(((3,), (4,)), np.outer),), math="broadcast multiply")
composite("linalg.slogdet", (np.linalg.slogdet,), _slogdet,
          samples=(Sample(((3, 3),), _spd_call(lambda a: np.linalg.slogdet(a)[1])),),
          math="(sign, log|det|): the sign is constant, log|det| is the logabsdet primitive")
composite("vdot", (np.vdot,), _vdot, samples=(Sample(((2, 3), (6,)), np.vdot),), math="sum of products")

__all__ = ["MATMUL", "matmul_impl", "DIAGONAL"]
