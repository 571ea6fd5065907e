"""Linear algebra with several outputs (eigh, svd, qr, eig: one record each) and the functions they unlock
(eigvalsh, pinv, lstsq, matrix norms, cond, ...), plus matrix_power, multi_dot, vecdot and the tensor solvers.

The records' SymPy columns are high-precision numeric references (``symbolic.numeric_function``): mpmath computes
the decomposition at 110 digits with NumPy's sign conventions fixed at the oracle's point, and derivatives come by
central differences at that precision. Derivatives where eigenvalues or singular values repeat follow JAX: the
values' own derivatives stay finite (an unused output's cotangent is a symbolic zero, so its 1/(w_j - w_i) terms
are never formed); the vectors' derivatives are not defined there (inf/NaN).
"""

from __future__ import annotations

import functools

import numpy as np

from .core import Op, Sample, call, ndim, normalize_axes, normalize_axis, register, result_dtype, shape
from .derive import composite, nondifferentiable
from .linalg import WELL_CONDITIONED, _mT, _square, eye_like
from .symbolic import as_objects, numeric, numeric_function

EighResult = type(np.linalg.eigh(np.eye(1)))
EigResult = type(np.linalg.eig(np.eye(1)))
SVDResult = type(np.linalg.svd(np.eye(1)))
QRResult = type(np.linalg.qr(np.eye(1)))


def _joined(result):
    """Every output of a decomposition in one flat array (registry samples: tests generated from them take one)."""
    return np.concatenate([np.ravel(o) for o in result])


def _eye(k: int, like):
    return np.eye(k, dtype=result_dtype(like))


def _diag_matrix(d, like):
    """diag(d) for d shaped (..., k), in like's dtype."""
    return np.expand_dims(d, -1) * _eye(shape(d)[-1], like)


def _gaps_inv(x):
    """F[i, j] = 1 / (x_j - x_i) off the diagonal, 0 on it (inf where two entries are equal, as in JAX)."""
    eye = _eye(shape(x)[-1], x)
    with np.errstate(divide="ignore"):
        return 1 / (np.expand_dims(x, -2) - np.expand_dims(x, -1) + eye) - eye


def _point(x):
    """The plain float value of a possibly traced (or symbolic) array at the current point."""
    while getattr(x, "_level", None) is not None and not getattr(x, "records_values", False):
        x = x.primal
    x = np.asarray(x)  # (a value being recorded for replay: a guard on its values, adops.replay)
    return numeric(x) if x.dtype == object else x


def _stacked(one):
    """Apply ``one(matrix) -> tuple of object arrays`` to every matrix of a stacked object array."""

    def apply(a, **params):
        a = as_objects(a)
        stack = a.shape[:-2]
        outs = [one(a[idx], **params) for idx in np.ndindex(*stack)]
        return tuple(np.array([o[j] for o in outs], dtype=object).reshape(stack + np.shape(outs[0][j]))
                     for j in range(len(outs[0])))

    return apply


def _signs(cols):
    """Pivot row (largest entry) and sign of each column: the sign convention NumPy chose at this point."""
    pivots = tuple(int(p) for p in np.argmax(np.abs(cols), axis=0))
    signs = tuple(1 if cols[p, j] >= 0 else -1 for j, p in enumerate(pivots))
    return pivots, signs


def _fix(col, pivot, sign):
    return [-c for c in col] if (col[pivot] >= 0) != (sign > 0) else list(col)


# ---- eigh: w, V of the symmetric matrix NumPy reads from one triangle -------------------------------------------
def _parse_eigh(a, UPLO="L"):
    _square("np.linalg.eigh", a)
    if UPLO not in ("L", "U", "l", "u"):
        raise ValueError(f"np.linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return (a,), {"upper": UPLO in ("U", "u")}


def _read(t, upper):
    """The symmetric matrix NumPy sees when it reads one triangle of t."""
    return np.triu(t) + _mT(np.triu(t, 1)) if upper else np.tril(t) + _mT(np.tril(t, -1))


def _read_t(g, upper):
    """Transpose of ``_read``: where a cotangent on the symmetric matrix lands in the input."""
    return np.triu(g) + np.triu(_mT(g), 1) if upper else np.tril(g) + np.tril(_mT(g), -1)


def _eigh_jvp(tangents, ans, a, upper):
    w, v = ans
    s = _mT(v) @ _read(tangents[0], upper) @ v  # S = V^T dA V
    return np.diagonal(s, 0, -2, -1), v @ (_gaps_inv(w) * s)  # dw = diag S, dV = V (F o S)


def _eigh_vjp(ct, ans, a, upper):
    (wb, vb), (w, v) = ct, ans
    inner = _diag_matrix(wb, v) if wb is not None else 0
    if vb is not None:  # skipped for an unused V: finite at repeated eigenvalues
        inner = inner + _gaps_inv(w) * (_mT(v) @ vb)
    return _read_t(v @ inner @ _mT(v), upper)  # A_bar = V (diag(w_bar) + F o V^T V_bar) V^T, read back


def _mp_eigh(n, pivots, signs):
    def fn(xs):
        import mpmath

        it = iter(xs)
        m = mpmath.matrix(n, n)
        for i in range(n):
            for j in range(i + 1):
                m[i, j] = m[j, i] = next(it)
        e, q = mpmath.eigsy(m)
        order = sorted(range(n), key=lambda k: e[k])
        cols = [_fix([q[i, k] for i in range(n)], pivots[j], signs[j]) for j, k in enumerate(order)]
        return [e[k] for k in order] + [cols[j][i] for i in range(n) for j in range(n)]

    return fn


def _sym_eigh_one(m, upper):
    n = m.shape[-1]
    args = [m[j, i] if upper else m[i, j] for i in range(n) for j in range(i + 1)]
    full = np.empty((n, n), dtype=object)
    for i in range(n):
        for j in range(n):
            full[i, j] = m[min(i, j), max(i, j)] if upper else m[max(i, j), min(i, j)]
    _, v = np.linalg.eigh(numeric(full))
    pivots, signs = _signs(v)
    make = numeric_function(f"eigh{n}_p{'_'.join(map(str, pivots))}_s{'_'.join(map(str, signs))}",
                            _mp_eigh(n, pivots, signs))
    w_sym = np.array([make(j, *args) for j in range(n)], dtype=object)
    v_sym = np.array([[make(n + i * n + j, *args) for j in range(n)] for i in range(n)], dtype=object)
    return w_sym, v_sym


def _cubed(s, **p):
    return 9 * s[-1] ** 3 * int(np.prod(s[:-2], dtype=np.int64))


EIGH = register(Op(
    name="linalg.eigh", impl=lambda a, upper: np.linalg.eigh(a, UPLO="U" if upper else "L"), jvp=_eigh_jvp,
    vjps=(_eigh_vjp,), sympy=_stacked(_sym_eigh_one), cost=_cubed, outputs=2, result=EighResult._make,
    domain=WELL_CONDITIONED,
    samples=(Sample(((3, 3),), lambda a: _joined(np.linalg.eigh(a)), "lower triangle read"),
             Sample(((2, 2),), lambda a: _joined(np.linalg.eigh(a, UPLO="U")), "UPLO='U'"),
             Sample(((2, 2, 2),), lambda a: np.linalg.eigh(a).eigenvectors ** 2, "stacked, V**2 (sign-free)")),
    math="dw = diag(V^T dA V), dV = V (F o V^T dA V), F_ij = 1/(w_j - w_i); A_bar = V (diag(w_bar) + F o V^T V_bar) "
         "V^T read back into the triangle NumPy reads; oracle: mpmath eigsy at 110 digits, derivatives by central "
         "differences"), np.linalg.eigh, parse=_parse_eigh)


def _eigvalsh(a, UPLO="L"):
    return np.linalg.eigh(a, UPLO=UPLO).eigenvalues


composite("linalg.eigvalsh", (np.linalg.eigvalsh,), _eigvalsh,
          samples=(Sample(((3, 3),), np.linalg.eigvalsh), Sample(((2, 3, 3),), np.linalg.eigvalsh, "stacked")),
          math="eigh's eigenvalues; V's cotangent is a symbolic zero, so the gradient is finite at repeated "
               "eigenvalues")


# ---- svd (reduced): U, s, Vh -------------------------------------------------------------------------------------
def _svd_jvp(tangents, ans, a):
    u, s, vh = ans
    da = tangents[0]
    v = _mT(vh)
    ds = _mT(u) @ da @ v  # dS = U^T dA V
    f = _gaps_inv(s * s)  # F_ij = 1 / (s_j^2 - s_i^2)
    row, col = np.expand_dims(s, -2), np.expand_dims(s, -1)
    dss, sds = ds * row, col * ds  # dS diag(s), diag(s) dS
    du = u @ (f * (dss + _mT(dss)))
    dv = v @ (f * (sds + _mT(sds)))
    m, n = shape(a)[-2:]
    if m > n:  # the part of dA V outside span(U)
        dav = da @ v
        du = du + (dav - u @ (_mT(u) @ dav)) / row
    if n > m:
        dau = _mT(da) @ u
        dv = dv + (dau - v @ (_mT(v) @ dau)) / row
    return du, np.diagonal(ds, 0, -2, -1), _mT(dv)


def _svd_vjp(ct, ans, a):
    (ub, sb, vhb), (u, s, vh) = ct, ans
    m, n = shape(a)[-2:]
    row, col = np.expand_dims(s, -2), np.expand_dims(s, -1)
    inner = _diag_matrix(sb, u) if sb is not None else 0
    extra = 0
    if ub is not None or vhb is not None:
        f = _gaps_inv(s * s)
    if ub is not None:  # (J + J^T) diag(s), J = F o U^T U_bar
        j = f * (_mT(u) @ ub)
        inner = inner + (j + _mT(j)) * row
        if m > n:
            extra = ((ub - u @ (_mT(u) @ ub)) / row) @ vh
    if vhb is not None:  # diag(s) (K + K^T), K = F o V^T V_bar
        vb, v = _mT(vhb), _mT(vh)
        k = f * (_mT(v) @ vb)
        inner = inner + col * (k + _mT(k))
        if n > m:
            extra = extra + u @ _mT((vb - v @ (_mT(v) @ vb)) / row)
    return u @ inner @ vh + extra


def _mp_svd(m, n, pivots, signs):
    k = min(m, n)

    def fn(xs):
        import mpmath

        a = mpmath.matrix(m, n)
        for i in range(m):
            for j in range(n):
                a[i, j] = xs[i * n + j]
        u, s, vh = mpmath.svd_r(a, full_matrices=False)
        order = sorted(range(k), key=lambda c: -s[c])
        us, vs = [], []
        for j, c in enumerate(order):
            col = [u[i, c] for i in range(m)]
            flip = (col[pivots[j]] >= 0) != (signs[j] > 0)
            us.append([-x for x in col] if flip else col)
            vs.append([-vh[c, i] if flip else vh[c, i] for i in range(n)])
        return ([us[j][i] for i in range(m) for j in range(k)] + [s[c] for c in order]
                + [vs[j][i] for j in range(k) for i in range(n)])

    return fn


def _sym_svd_one(a):
    m, n = a.shape
    k = min(m, n)
    u, _, _ = np.linalg.svd(numeric(a), full_matrices=False)
    pivots, signs = _signs(u)
    make = numeric_function(f"svd{m}x{n}_p{'_'.join(map(str, pivots))}_s{'_'.join(map(str, signs))}",
                            _mp_svd(m, n, pivots, signs))
    args = list(a.ravel())
    u_sym = np.array([[make(i * k + j, *args) for j in range(k)] for i in range(m)], dtype=object)
    s_sym = np.array([make(m * k + j, *args) for j in range(k)], dtype=object)
    vh_sym = np.array([[make(m * k + k + j * n + i, *args) for i in range(n)] for j in range(k)], dtype=object)
    return u_sym, s_sym, vh_sym


def _svd_cost(s, **p):
    m, n = s[-2:]
    return 4 * m * n * min(m, n) + 8 * min(m, n) ** 3


SVD = register(Op(
    name="svd", impl=lambda a: np.linalg.svd(a, full_matrices=False), jvp=_svd_jvp, vjps=(_svd_vjp,),
    sympy=_stacked(_sym_svd_one), cost=_svd_cost, outputs=3, result=SVDResult._make, domain=WELL_CONDITIONED,
    math="dS = U^T dA V: ds = diag dS, dU = U (F o (dS S + S dS^T)) + (I - U U^T) dA V S^-1, dV likewise, "
         "F_ij = 1/(s_j^2 - s_i^2); the VJP transposes each term and skips those of unused outputs; oracle: mpmath "
         "svd_r at 110 digits, derivatives by central differences"))


def _svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    if ndim(a) < 2:
        raise ValueError(f"np.linalg.svd: needs a matrix (shape (..., m, n)), got shape {shape(a)}")
    if hermitian:
        raise TypeError("np.linalg.svd: hermitian=True has no rule; call it without (same values) or use "
                        "np.linalg.eigh for a symmetric matrix")
    m, n = shape(a)[-2:]
    if compute_uv and full_matrices and m != n:
        raise ValueError(f"np.linalg.svd: full_matrices=True on a {m}x{n} matrix adds singular vectors that are not "
                         "unique, so they have no derivative; pass full_matrices=False (or compute_uv=False)")
    out = call(SVD, a)
    return out if compute_uv else out.S


def _svdvals(x):
    return _svd(x, compute_uv=False)


composite("linalg.svd", (np.linalg.svd,), _svd,
          samples=(Sample(((3, 2),), lambda a: _joined(np.linalg.svd(a, full_matrices=False)), "tall"),
                   Sample(((2, 3),), lambda a: _joined(np.linalg.svd(a, full_matrices=False)), "wide"),
                   Sample(((2, 2),), lambda a: _joined(np.linalg.svd(a)), "square, full_matrices=True"),
                   Sample(((2, 3, 2),), lambda a: np.linalg.svd(a, compute_uv=False),
                          "stacked, compute_uv=False")),
          math="the svd record (reduced); compute_uv=False keeps s, so U and Vh get symbolic-zero cotangents; "
               "full_matrices=True only for square matrices")
composite("linalg.svdvals", (np.linalg.svdvals,), _svdvals, samples=(Sample(((3, 3),), np.linalg.svdvals),),
          math="svd(x, compute_uv=False)")


# ---- qr (reduced): Q, R -------------------------------------------------------------------------------------------
def _parse_qr(a, mode="reduced"):
    if ndim(a) < 2:
        raise ValueError(f"np.linalg.qr: needs a matrix (shape (..., m, n)), got shape {shape(a)}")
    if mode != "reduced":
        raise TypeError(f"np.linalg.qr: mode={mode!r} has no rule; use mode='reduced' (the default)")
    return (a,), {}


def _qr_tall_jvp(da, q, r):
    x = _mT(np.linalg.solve(_mT(r), _mT(da)))  # X = dA R^-1
    c = _mT(q) @ x
    low = np.tril(c, -1)
    omega = low - _mT(low)  # skew-symmetric
    return q @ (omega - c) + x, (c - omega) @ r


def _qr_jvp(tangents, ans, a):
    q, r = ans
    da = tangents[0]
    m, n = shape(a)[-2:]
    if m >= n:
        return _qr_tall_jvp(da, q, r)
    # wide: A = Q [R1 R2] with A1 = Q R1 square, R2 = Q^T A2
    dq, dr1 = _qr_tall_jvp(da[..., :m], q, r[..., :m])
    dr2 = _mT(dq) @ a[..., m:] + _mT(q) @ da[..., m:]
    return dq, np.concatenate([dr1, dr2], axis=-1)


def _qr_tall_vjp(qb, rb, q, r):
    p = _mT(q) @ qb if qb is not None else 0
    if rb is not None:
        p = p - rb @ _mT(r)
    y = q @ (np.tril(p - _mT(p), -1) - p)
    if qb is not None:
        y = y + qb
    return _mT(np.linalg.solve(r, _mT(y)))  # A_bar = (Q_bar + Q B) R^-T


def _qr_vjp(ct, ans, a):
    (qb, rb), (q, r) = ct, ans
    m, n = shape(a)[-2:]
    if m >= n:
        return _qr_tall_vjp(qb, rb, q, r)
    if rb is None:  # Q depends on the square block only
        g1 = _qr_tall_vjp(qb, None, q, r[..., :m])
        return np.concatenate([g1, np.zeros(shape(g1)[:-1] + (n - m,), dtype=result_dtype(g1))], axis=-1)
    rb2 = rb[..., m:]
    qb2 = a[..., m:] @ _mT(rb2)
    qb = qb2 if qb is None else qb + qb2
    return np.concatenate([_qr_tall_vjp(qb, rb[..., :m], q, r[..., :m]), q @ rb2], axis=-1)


def _mp_qr(m, n, signs):
    k = min(m, n)

    def fn(xs):
        import mpmath

        cols = [[xs[i * n + j] for i in range(m)] for j in range(n)]
        qs, r = [], [[mpmath.mpf(0)] * n for _ in range(k)]
        for j in range(n):  # Gram-Schmidt, twice for accuracy; columns past k only project
            v = list(cols[j])
            for _ in range(2):
                for i, qi in enumerate(qs):
                    d = mpmath.fsum(a * b for a, b in zip(qi, v))
                    r[i][j] += d
                    v = [x - d * y for x, y in zip(v, qi)]
            if j < k:
                norm = mpmath.sqrt(mpmath.fsum(x * x for x in v))
                r[j][j] = norm
                qs.append([x / norm for x in v])
        for j in range(k):  # NumPy's signs: R's diagonal keeps the sign LAPACK gave it at this point
            if signs[j] < 0:
                qs[j] = [-x for x in qs[j]]
                r[j] = [-x for x in r[j]]
        return [qs[j][i] for i in range(m) for j in range(k)] + [r[i][j] for i in range(k) for j in range(n)]

    return fn


def _sym_qr_one(a):
    m, n = a.shape
    k = min(m, n)
    _, r = np.linalg.qr(numeric(a))
    signs = tuple(1 if r[j, j] >= 0 else -1 for j in range(k))
    make = numeric_function(f"qr{m}x{n}_s{'_'.join(map(str, signs))}", _mp_qr(m, n, signs))
    args = list(a.ravel())
    q_sym = np.array([[make(i * k + j, *args) for j in range(k)] for i in range(m)], dtype=object)
    r_sym = np.array([[make(m * k + i * n + j, *args) for j in range(n)] for i in range(k)], dtype=object)
    return q_sym, r_sym


register(Op(
    name="linalg.qr", impl=np.linalg.qr, jvp=_qr_jvp, vjps=(_qr_vjp,), sympy=_stacked(_sym_qr_one),
    cost=lambda s, **p: 4 * s[-2] * s[-1] * min(s[-2:]), outputs=2, result=QRResult._make, domain=WELL_CONDITIONED,
    samples=(Sample(((3, 2),), lambda a: _joined(np.linalg.qr(a)), "tall"),
             Sample(((3, 3),), lambda a: np.linalg.qr(a).R, "square, R"),
             Sample(((2, 3),), lambda a: _joined(np.linalg.qr(a)), "wide"),
             Sample(((2, 3, 2),), lambda a: np.linalg.qr(a).Q[..., 0, :], "stacked, Q row")),
    math="X = dA R^-1, C = Q^T X, O = tril(C,-1) - tril(C,-1)^T: dQ = Q (O - C) + X, dR = (C - O) R; wide: the "
         "square block, then dR2 = dQ^T A2 + Q^T dA2; oracle: Gram-Schmidt in mpmath at 110 digits, LAPACK's signs"),
    np.linalg.qr, parse=_parse_qr)


# ---- eig: real matrices with real, distinct eigenvalues ---------------------------------------------------------
def _eig_impl(a):
    w, v = np.linalg.eig(a)
    if np.dtype(getattr(w, "dtype", np.float64)).kind == "c":
        raise ValueError("np.linalg.eig: this matrix has complex eigenvalues; differentiation supports real matrices "
                         "with real, distinct eigenvalues (use np.linalg.eigh for a symmetric matrix)")
    wp = _point(w)
    if np.any(np.diff(np.sort(wp, axis=-1), axis=-1) == 0):
        raise ValueError(f"np.linalg.eig: repeated eigenvalues {wp}; the eigenvectors have no derivative there "
                         "(use np.linalg.eigh for a symmetric matrix)")
    return EigResult(w, v)


def _eig_jvp(tangents, ans, a):
    w, v = ans
    s = np.linalg.inv(v) @ tangents[0] @ v  # S = V^-1 dA V
    dv = v @ (_gaps_inv(w) * s)
    return np.diagonal(s, 0, -2, -1), dv - v * np.sum(v * dv, axis=-2, keepdims=True)  # keep unit columns


def _eig_vjp(ct, ans, a):
    (wb, vb), (w, v) = ct, ans
    inner = _diag_matrix(wb, v) if wb is not None else 0
    if vb is not None:
        g = vb - v * np.sum(v * vb, axis=-2, keepdims=True)
        inner = inner + _gaps_inv(w) * (_mT(v) @ g)
    return _mT(np.linalg.inv(v)) @ inner @ _mT(v)  # A_bar = V^-T (diag(w_bar) + F o V^T G) V^T


def _mp_eig(n, ranks, pivots, signs):
    def fn(xs):
        import mpmath

        a = mpmath.matrix(n, n)
        for i in range(n):
            for j in range(n):
                a[i, j] = xs[i * n + j]
        e, er = mpmath.eig(a)
        order = sorted(range(n), key=lambda c: mpmath.re(e[c]))
        ws, cols = [], []
        for j in range(n):
            c = order[ranks[j]]
            col = [mpmath.re(er[i, c]) for i in range(n)]
            norm = mpmath.sqrt(mpmath.fsum(x * x for x in col))
            ws.append(mpmath.re(e[c]))
            cols.append(_fix([x / norm for x in col], pivots[j], signs[j]))
        return ws + [cols[j][i] for i in range(n) for j in range(n)]

    return fn


def _sym_eig_one(a):
    n = a.shape[-1]
    w, v = np.linalg.eig(numeric(a))
    ranks = tuple(int(r) for r in np.argsort(np.argsort(w)))
    pivots, signs = _signs(v)
    make = numeric_function(f"eig{n}_r{'_'.join(map(str, ranks))}_p{'_'.join(map(str, pivots))}_s"
                            f"{'_'.join(map(str, signs))}", _mp_eig(n, ranks, pivots, signs))
    args = list(a.ravel())
    return (np.array([make(j, *args) for j in range(n)], dtype=object),
            np.array([[make(n + i * n + j, *args) for j in range(n)] for i in range(n)], dtype=object))


def _parse_eig(a):
    _square("np.linalg.eig", a)
    return (a,), {}


def _sym_matrix_sample(fn):
    """Samples with real, well separated eigenvalues: a small matrix plus diag(0, 2, 4, ...)."""
    return lambda a: fn(0.5 * a + np.asarray(np.diag(2.0 * np.arange(shape(a)[-1])), dtype=result_dtype(a)))


register(Op(
    name="linalg.eig", impl=_eig_impl, jvp=_eig_jvp, vjps=(_eig_vjp,), sympy=_stacked(_sym_eig_one), cost=_cubed,
    outputs=2, result=EigResult._make, domain=WELL_CONDITIONED,
    samples=(Sample(((3, 3),), _sym_matrix_sample(lambda b: _joined(np.linalg.eig(b))),
                    "real eigenvalues"),
             Sample(((2, 2, 2),), _sym_matrix_sample(lambda b: np.linalg.eig(b).eigenvalues), "stacked, values")),
    math="S = V^-1 dA V: dw = diag S, dV = V (F o S) renormalized to unit columns, F_ij = 1/(w_j - w_i); complex "
         "or repeated eigenvalues raise; oracle: mpmath eig at 110 digits, NumPy's order and signs"),
    np.linalg.eig, parse=_parse_eig)
composite("linalg.eigvals", (np.linalg.eigvals,), lambda a: np.linalg.eig(a).eigenvalues,
          samples=(Sample(((3, 3),), _sym_matrix_sample(np.linalg.eigvals)),), math="eig's eigenvalues")


# ---- composites --------------------------------------------------------------------------------------------------
def _cutoff(a, rcond, rtol):
    m, n = shape(a)[-2:]
    tol = rtol if rtol is not None else rcond
    if tol is None:
        tol = max(m, n) * np.finfo(result_dtype(a)).eps
    return tol


def _pinv(a, rcond=None, hermitian=False, *, rtol=None):
    if ndim(a) < 2:
        raise ValueError(f"np.linalg.pinv: needs a matrix (shape (..., m, n)), got shape {shape(a)}")
    m, n = shape(a)[-2:]
    s = np.linalg.svd(_point(a), compute_uv=False)
    tol = np.asarray(_cutoff(a, rcond, rtol))[..., None] * np.max(s, axis=-1, keepdims=True)
    if np.all(s > tol):  # full rank: R^-1 Q^T from a reduced QR, smooth wherever the rank stays full (the normal
        # equations would square the condition number: a Vandermonde fit at cond 1e11 came out entirely wrong)
        if m >= n:
            q, r = np.linalg.qr(a)
            return np.linalg.solve(r, _mT(q))
        q, r = np.linalg.qr(_mT(a))
        return _mT(np.linalg.solve(r, _mT(q)))
    u, sv, vh = np.linalg.svd(a, full_matrices=False)  # rank-deficient: truncated SVD (distinct singular values)
    keep = s > tol
    inv = np.where(keep, 1 / np.where(keep, sv, 1), 0)
    return _mT(vh) @ (np.expand_dims(inv, -1) * _mT(u))


composite("linalg.pinv", (np.linalg.pinv,), _pinv,
          samples=(Sample(((3, 2),), np.linalg.pinv, "tall"),
                   Sample(((2, 3),), np.linalg.pinv, "wide"), Sample(((2, 2),), np.linalg.pinv, "square")),
          math="full rank: R^-1 Q^T from a reduced QR (of A^T when wide); rank-deficient: truncated SVD")


def _lstsq(a, b, rcond=None):
    if ndim(a) != 2 or ndim(b) not in (1, 2):
        raise ValueError(f"np.linalg.lstsq: needs a 2-D a and a 1-D or 2-D b, got shapes {shape(a)} and {shape(b)}")
    m, n = shape(a)
    rank = np.linalg.matrix_rank(_point(a), tol=None if rcond is None else rcond * np.max(
        np.linalg.svd(_point(a), compute_uv=False)))
    if rank == min(m, n):  # full rank: solve through a reduced QR, backward stable (pinv(a) @ b is not)
        if m >= n:
            q, r = np.linalg.qr(a)
            x = np.linalg.solve(r, _mT(q) @ b)
        else:  # the minimum-norm solution q r^-T b
            q, r = np.linalg.qr(_mT(a))
            x = q @ np.linalg.solve(_mT(r), b)
    else:  # truncated SVD at lstsq's own cutoff (eps * max(m, n) by default), applied to b factor by factor:
        # forming pinv(a) first and then pinv(a) @ b loses the residual (3.6e-4 instead of 5e-15 on a Vandermonde fit)
        cut = rcond if rcond is not None and rcond >= 0 else np.finfo(result_dtype(a)).eps * max(m, n)
        u, sv, vh = np.linalg.svd(a, full_matrices=False)
        keep = _point(sv) > cut * np.max(_point(sv))
        inv = np.where(keep, 1 / np.where(keep, sv, 1), 0)
        coef = _mT(u) @ b
        x = _mT(vh) @ ((inv[:, None] if ndim(b) == 2 else inv) * coef)
    if rank == n and m > n:
        r = b - a @ x
        res = np.sum(r * r, axis=0)
        res = np.reshape(res, (1,)) if ndim(b) == 1 else res
    else:
        res = np.zeros((0,), dtype=result_dtype(a))
    return x, res, rank, _svd(a, compute_uv=False)


composite("linalg.lstsq", (np.linalg.lstsq,), _lstsq,
          samples=(Sample(((3, 2), (3,)), lambda a, b: np.linalg.lstsq(a, b)[0], "x, tall"),
                   Sample(((3, 2), (3, 2)), lambda a, b: np.linalg.lstsq(a, b)[1], "residuals"),
                   Sample(((2, 3), (2,)), lambda a, b: np.linalg.lstsq(a, b)[0], "x, wide (minimum norm)")),
          math="full rank: x from a reduced QR (minimum norm when wide), else a truncated SVD applied to b; "
               "residuals = sum((b - a x)^2) when m > n = rank; rank is a constant; s = svdvals")


def _matrix_power(a, n):
    _square("np.linalg.matrix_power", a)
    n = int(n)
    if n == 0:
        return np.broadcast_to(eye_like(_point(a)), shape(a)).copy()
    if n < 0:
        a, n = np.linalg.inv(a), -n
    result, base = None, a
    while n:  # binary powering: O(log n) matmuls
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result


composite("linalg.matrix_power", (np.linalg.matrix_power,), _matrix_power,
          samples=(Sample(((3, 3),), lambda a: np.linalg.matrix_power(a, 5), "n=5"),
                   Sample(((2, 2, 2),), lambda a: np.linalg.matrix_power(a + 3 * eye_like(a), -2), "stacked, n=-2")),
          math="repeated squaring through matmul; n < 0 through inv")


def _multi_dot(arrays, *, out=None):
    if out is not None:
        raise TypeError("np.linalg.multi_dot: out= has no rule; use the returned value")
    if len(arrays) < 2:
        raise ValueError("np.linalg.multi_dot: needs at least two arrays")
    return functools.reduce(np.matmul, arrays)


composite("linalg.multi_dot", (np.linalg.multi_dot,), _multi_dot,
          samples=(Sample(((3,), (3, 4), (4, 2), (2,)), lambda a, b, c, d: np.linalg.multi_dot([a, b, c, d])),),
          math="a chain of matmul (left to right)")


def _vecdot(x1, x2, /, *, axis=-1, **unused):
    return np.sum(x1 * x2, axis=axis)


composite("linalg.vecdot", (np.linalg.vecdot, np.vecdot), _vecdot,
          samples=(Sample(((2, 3), (3,)), np.linalg.vecdot),
                   Sample(((3, 2), (3, 2)), lambda a, b: np.vecdot(a, b, axis=0), "np.vecdot, axis=0")),
          math="sum(x1 * x2, axis) (real arrays)")


def matrix_norm(x, ord, axes: tuple, keepdims: bool):
    """Matrix norms ord = 2, -2, 'nuc', 1, -1, inf, -inf over two axes (the Frobenius norm lives with the vector
    norms): through singular values or through abs, sum and max/min."""
    nd = ndim(x)
    r, c = (normalize_axis(ax, nd, "np.linalg.norm") for ax in axes)
    if r == c:
        raise ValueError("np.linalg.norm: the two axes must differ")
    y = np.moveaxis(x, (r, c), (-2, -1))
    if ord in (2, -2, "nuc"):
        s = _svd(y, compute_uv=False)
        out = np.max(s, axis=-1) if ord == 2 else np.min(s, axis=-1) if ord == -2 else np.sum(s, axis=-1)
    elif ord in (1, -1):
        sums = np.sum(np.abs(y), axis=-2)
        out = np.max(sums, axis=-1) if ord == 1 else np.min(sums, axis=-1)
    elif ord in (np.inf, -np.inf):
        sums = np.sum(np.abs(y), axis=-1)
        out = np.max(sums, axis=-1) if ord == np.inf else np.min(sums, axis=-1)
    else:
        raise ValueError(f"np.linalg.norm: invalid norm order {ord!r} for matrices")
    return np.expand_dims(out, tuple(sorted((r % nd, c % nd)))) if keepdims else out


def _vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    nd = ndim(x)
    if axis is None:
        out = np.linalg.norm(np.ravel(x), ord=ord)
        return np.reshape(out, (1,) * nd) if keepdims else out
    axes = normalize_axes(axis, nd, "np.linalg.vector_norm")
    if len(axes) == 1:
        return np.linalg.norm(x, ord=ord, axis=axes[0], keepdims=keepdims)
    moved = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
    out = np.linalg.norm(np.reshape(moved, shape(moved)[:nd - len(axes)] + (-1,)), ord=ord, axis=-1)
    return np.expand_dims(out, tuple(a % nd for a in axes)) if keepdims else out


def _matrix_norm(x, /, *, keepdims=False, ord="fro"):
    return np.linalg.norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


composite("linalg.vector_norm", (np.linalg.vector_norm,), _vector_norm,
          samples=(Sample(((2, 3),), np.linalg.vector_norm, "flattened"),
                   Sample(((2, 3),), lambda x: np.linalg.vector_norm(x, axis=(0, 1), ord=3, keepdims=True), "axes")),
          math="np.linalg.norm over the axes, flattened")
composite("linalg.matrix_norm", (np.linalg.matrix_norm,), _matrix_norm,
          samples=(Sample(((3, 3),), np.linalg.matrix_norm, "fro"),
                   Sample(((2, 3, 2),), lambda x: np.linalg.matrix_norm(x, ord="nuc"), "stacked, nuclear")),
          math="np.linalg.norm over the last two axes")


def _cond(x, p=None):
    if p is None or p in (2, -2):
        s = _svd(x, compute_uv=False)
        return s[..., 0] / s[..., -1] if p != -2 else s[..., -1] / s[..., 0]
    return np.linalg.norm(x, ord=p, axis=(-2, -1)) * np.linalg.norm(np.linalg.inv(x), ord=p, axis=(-2, -1))


composite("linalg.cond", (np.linalg.cond,), _cond,
          samples=(Sample(((3, 3),), np.linalg.cond), Sample(((3, 3),), lambda x: np.linalg.cond(x, "fro"), "fro"),
                   Sample(((3, 3),), lambda x: np.linalg.cond(x + 3 * eye_like(x), 1), "p=1")),
          math="s_max / s_min from svdvals; other p: norm(x) norm(inv(x))")


def _tensorinv(a, ind=2):
    old = shape(a)
    rows = int(np.prod(old[:ind], dtype=np.int64))
    inv = np.linalg.inv(np.reshape(a, (rows, -1)))
    return np.reshape(inv, old[ind:] + old[:ind])


def _tensorsolve(a, b, axes=None):
    nd = ndim(a)
    if axes is not None:
        rest = [k for k in range(nd) if k not in [ax % nd for ax in axes]]
        a = np.transpose(a, rest + [ax % nd for ax in axes])
    old = shape(a)[-(nd - ndim(b)):]
    size = int(np.prod(old, dtype=np.int64))
    x = np.linalg.solve(np.reshape(a, (size, size)), np.ravel(b))
    return np.reshape(x, old)


composite("linalg.tensorinv", (np.linalg.tensorinv,), _tensorinv,
          samples=(Sample(((2, 1, 2),), lambda a: np.linalg.tensorinv(a + 3 * np.eye(2).reshape(2, 1, 2), ind=2)),),
          math="inv of the matricized tensor, reshaped")
composite("linalg.tensorsolve", (np.linalg.tensorsolve,), _tensorsolve,
          samples=(Sample(((2, 1, 2), (2, 1)), lambda a, b: np.linalg.tensorsolve(a + 3 * np.eye(2).reshape(2, 1, 2),
                                                                                  b)),),
          math="solve with the matricized tensor, reshaped")


def _parse_matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    return (A,), {"tol": tol, "hermitian": hermitian, "rtol": rtol}


nondifferentiable("linalg.matrix_rank", (np.linalg.matrix_rank,), 1,
                  impl=lambda a, tol, hermitian, rtol: np.linalg.matrix_rank(a, tol, hermitian, rtol=rtol),
                  parse=_parse_matrix_rank,
                  samples=(Sample(((3, 3),), np.linalg.matrix_rank),
                           Sample(((3, 3),), lambda a: np.linalg.matrix_rank(a[:, :1] * a[:1, :]), "rank 1")),
                  math="an integer query: no derivative")

__all__ = ["EIGH", "SVD", "matrix_norm", "EighResult", "SVDResult", "QRResult", "EigResult"]
