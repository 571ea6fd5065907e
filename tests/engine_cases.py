"""Cases both engine test files share: the same operator programs must differentiate right in each engine."""

from __future__ import annotations

import numpy as np

from compare import oracle

RNG = np.random.default_rng(20240611)


def close(actual, expected, tol=1e-11):
    err = oracle.relative_error(actual, expected)
    assert err < tol, f"relative error {err:.3g}\nactual:\n{actual}\nexpected:\n{expected}"


# (name, f, args): f is differentiated with respect to every argument
A23 = RNG.normal(size=(2, 3))
B23 = RNG.normal(size=(2, 3))
P23 = RNG.uniform(0.5, 2.0, size=(2, 3))
V3 = RNG.normal(size=3)
M34 = RNG.normal(size=(3, 4))
C32 = RNG.normal(size=(3, 2))
R21 = RNG.normal(size=(2, 1))
R13 = RNG.normal(size=(1, 3))

OPERATOR_CASES = [
    ("add", lambda x, y: x + y, (A23, B23)),
    ("sub", lambda x, y: x - y, (A23, B23)),
    ("mul", lambda x, y: x * y, (A23, B23)),
    ("div", lambda x, y: x / y, (A23, P23)),
    ("pow", lambda x, y: x ** y, (P23, A23)),
    ("matmul_mat_vec", lambda x, y: x @ y, (A23, V3)),
    ("matmul_mat_mat", lambda x, y: x @ y, (A23, M34)),
    ("matmul_vec_vec", lambda x, y: x @ y, (V3, V3 + 1)),
    ("broadcast_row", lambda x, y: x * y, (A23, V3)),
    ("broadcast_outer", lambda x, y: x - y, (R21, R13)),
    ("broadcast_scalar", lambda x, y: x / y, (A23, np.array(1.7))),
    ("radd", lambda x: 2.5 + x, (A23,)),
    ("rsub", lambda x: 2.5 - x, (A23,)),
    ("rmul", lambda x: 2.5 * x, (A23,)),
    ("rtruediv", lambda x: 2.5 / x, (P23,)),
    ("rpow", lambda x: 2.5 ** x, (A23,)),
    ("rmatmul", lambda x: C32 @ x, (A23,)),
    ("ndarray_radd", lambda x: B23 + x, (A23,)),
    ("ndarray_rmul", lambda x: B23 * x, (A23,)),
    ("ndarray_rdiv", lambda x: B23 / x, (P23,)),
    ("int_power", lambda x: x ** 3, (A23,)),
    ("int_mul", lambda x: 3 * x - 1, (A23,)),
    ("neg", lambda x: -x, (A23,)),
    ("pos", lambda x: +x * x, (A23,)),
    ("abs", lambda x: abs(x), (A23,)),
    ("T", lambda x: x.T @ x, (A23,)),
    ("reshape_tuple", lambda x: x.reshape((3, 2)) * x.reshape(3, 2)[::-1], (A23,)),
    ("reshape_flat", lambda x: np.sin(x.reshape(-1)), (A23,)),
    ("sum_all", lambda x: (x * x).sum(), (A23,)),
    ("sum_axis", lambda x: (x * x).sum(axis=0), (A23,)),
    ("mean_method", lambda x: np.exp(x).mean(axis=1), (A23,)),
    ("index_int", lambda x: x[1] * x[0], (A23,)),
    ("index_column", lambda x: x[:, 1] ** 2, (A23,)),
    ("index_step", lambda x: x[:, ::-2], (A23,)),
    ("index_fancy_repeats", lambda x: x[[0, 1, 1, 0], [2, 0, 0, 2]], (A23,)),
    ("index_mask", lambda x: x[x > 0] * 3.0, (A23,)),
    ("index_scalar_elements", lambda x: x[0, 0] * x[1, 2] - x[0, 1], (A23,)),
    ("iterate", lambda x: sum(row * row for row in x), (A23,)),
    ("input_used_twice", lambda x, y: x * x + y * x, (A23, B23)),
    ("np_functions", lambda x, y: np.tanh(np.dot(x, y.T)) + np.log(np.sum(y * y)), (A23, B23)),
]
