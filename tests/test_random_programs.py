"""Random programs: Hypothesis builds random compositions of registry ops (elementwise unary and binary with
broadcasting, reductions over axes, matmul, reshape/transpose, indexing, stacking, where) on random shapes,
and both engines' Jacobians are checked against the SymPy oracle.

A program is a list of instructions over a growing pool of values; each instruction records the shapes it
produces, so every draw is valid by construction. Inputs of log, sqrt, divide and power are made positive
inside the instruction (x*x + 1, exp(...)), so every program stays inside every op's domain.
"""

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import adops.nn as nn
import dualad
import revad
from compare import oracle

# name -> function of one value; all are smooth on the whole real line
UNARY = {
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "arctan": np.arctan,
    "arcsinh": np.arcsinh,
    "sigmoid": nn.sigmoid,
    "softplus": nn.softplus,
    "exp_tanh": lambda v: np.exp(np.tanh(v)),
    "log_sq1": lambda v: np.log(v * v + 1),
    "log1p_sq": lambda v: np.log1p(np.square(v)),
    "sqrt_sq1": lambda v: np.sqrt(v**2 + 1),
    "recip_sq1": lambda v: np.reciprocal(v * v + 1),
    "cube": lambda v: v**3 / 4,
    "neg_scale": lambda v: -1.5 * v + 0.25,
    "expm1_sin": lambda v: np.expm1(np.sin(v)),
}

# name -> function of two broadcastable values
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div_pos": lambda a, b: a / (b * b + 1),
    "pow_pos": lambda a, b: (a * a + 1) ** np.tanh(b),
    "arctan2_pos": lambda a, b: np.arctan2(a, np.exp(b)),
    "hypot1": lambda a, b: np.hypot(a, b * 0.5 + 2),
    "logaddexp": np.logaddexp,
    "where": lambda a, b: np.where(a > 0.1, a, b),
    "maximum_soft": lambda a, b: np.maximum(a, b + 0.3),
}

REDUCTIONS = {
    "sum": np.sum,
    "mean": np.mean,
    "prod": lambda v, axis=None, keepdims=False: np.prod(np.tanh(v) + 1.5, axis=axis, keepdims=keepdims),
    "max": np.max,
    "min": np.min,
    "logsumexp": nn.logsumexp,
}


def _reduce(name, v, axis, keepdims):
    return REDUCTIONS[name](v, axis=axis, keepdims=keepdims)


def _broadcastable(s, t):
    try:
        np.broadcast_shapes(s, t)
        return True
    except ValueError:
        return False


INPUT_SHAPES = [(3,), (2, 3), (3, 1), (2, 2), (4,), (), (1, 3), (3, 2)]


# Values that make intermediates hit exact zeros (x - x, 0 * y, x @ 0) and ties (where(a > 0.1), maximum(a, b + 0.3),
# max over equal entries): -0.3 + 0.3 is exactly 0.0 in float64
SPECIAL = (-1.0, -0.5, -0.3, 0.0, 0.1, 0.5, 1.0)


def _values(draw, size, low, high, special):
    if special:
        return draw(st.lists(st.sampled_from(SPECIAL), min_size=size, max_size=size))
    return draw(st.lists(st.floats(low, high, allow_nan=False, allow_subnormal=False), min_size=size, max_size=size))


@st.composite
def programs(draw, special=False):
    """(input shapes, instructions, constants). Instruction: (kind, operand indices, params). With ``special``,
    every input and constant is drawn from ``SPECIAL``."""
    n_inputs = draw(st.integers(1, 2))
    in_shapes = [draw(st.sampled_from(INPUT_SHAPES)) for _ in range(n_inputs)]
    shapes = list(in_shapes)
    program = []
    constants = []
    n_steps = draw(st.integers(2, 7))
    for _ in range(n_steps):
        i = draw(st.integers(0, len(shapes) - 1))
        s = shapes[i]
        kinds = ["unary", "binary", "binary_const"]
        if len(s) >= 1:
            kinds += ["reduce", "matmul", "index", "reshape", "softmax"]
        if len(s) >= 2:
            kinds += ["transpose"]
        kinds += ["stack"]
        kind = draw(st.sampled_from(kinds))
        if kind == "unary":
            name = draw(st.sampled_from(sorted(UNARY)))
            program.append(("unary", (i,), {"name": name}))
            shapes.append(s)
        elif kind == "binary":
            partners = [j for j, t in enumerate(shapes) if _broadcastable(s, t)]
            j = draw(st.sampled_from(partners))
            name = draw(st.sampled_from(sorted(BINARY)))
            if draw(st.booleans()):
                i, j = j, i
            program.append(("binary", (i, j), {"name": name}))
            shapes.append(np.broadcast_shapes(shapes[i], shapes[j]))
        elif kind == "binary_const":
            # a constant whose shape broadcasts against s: a suffix of s with some axes set to 1
            k = draw(st.integers(0, len(s)))
            cshape = tuple(d if draw(st.booleans()) else 1 for d in s[len(s) - k:])
            values = _values(draw, int(np.prod(cshape, dtype=int)), -2, 2, special)
            constants.append(np.array(values, dtype=float).reshape(cshape))
            name = draw(st.sampled_from(sorted(BINARY)))
            left = draw(st.booleans())
            program.append(("binary_const", (i,), {"name": name, "c": len(constants) - 1, "left": left}))
            shapes.append(np.broadcast_shapes(s, cshape))
        elif kind == "reduce":
            name = draw(st.sampled_from(sorted(REDUCTIONS)))
            axis = draw(st.one_of(st.none(), st.integers(-len(s), len(s) - 1)))
            keepdims = draw(st.booleans())
            program.append(("reduce", (i,), {"name": name, "axis": axis, "keepdims": keepdims}))
            shapes.append(np.sum(np.zeros(s), axis=axis, keepdims=keepdims).shape)
        elif kind == "matmul":
            k = s[-1]
            partners = [j for j, t in enumerate(shapes) if len(t) in (1, 2) and t[0] == k]
            if partners and draw(st.booleans()):
                j = draw(st.sampled_from(partners))
                program.append(("matmul", (i, j), {}))
                shapes.append(np.matmul(np.zeros(s), np.zeros(shapes[j])).shape)
            else:
                m = draw(st.integers(1, 3))
                values = _values(draw, k * m, -1.5, 1.5, special)
                constants.append(np.array(values, dtype=float).reshape(k, m))
                program.append(("matmul_const", (i,), {"c": len(constants) - 1}))
                shapes.append(s[:-1] + (m,))
        elif kind == "index":
            how = draw(st.sampled_from(["int", "slice", "fancy", "reverse_last"]))
            if how == "int":
                params = {"index": draw(st.integers(-s[0], s[0] - 1))}
            elif how == "slice":
                params = {"index": slice(draw(st.integers(0, s[0] - 1)), None)}
            elif how == "fancy":
                params = {"index": draw(st.lists(st.integers(0, s[0] - 1), min_size=1, max_size=4))}
            else:
                params = {"index": (Ellipsis, slice(None, None, -1))}
            program.append(("index", (i,), params))
            shapes.append(np.zeros(s)[params["index"]].shape)
        elif kind == "reshape":
            size = int(np.prod(s))
            divisors = [d for d in range(1, size + 1) if size % d == 0]
            d = draw(st.sampled_from(divisors))
            new = draw(st.sampled_from([(size,), (d, size // d), (size // d, 1, d)]))
            program.append(("reshape", (i,), {"shape": new}))
            shapes.append(new)
        elif kind == "transpose":
            perm = tuple(draw(st.permutations(range(len(s)))))
            program.append(("transpose", (i,), {"perm": perm}))
            shapes.append(tuple(s[p] for p in perm))
        elif kind == "softmax":
            name = draw(st.sampled_from(["softmax", "log_softmax"]))
            axis = draw(st.integers(-len(s), len(s) - 1))
            program.append(("softmax", (i,), {"name": name, "axis": axis}))
            shapes.append(s)
        elif kind == "stack":
            same = [j for j, t in enumerate(shapes) if t == s]
            j = draw(st.sampled_from(same))
            axis = draw(st.integers(-len(s) - 1, len(s)))
            program.append(("stack", (i, j), {"axis": axis}))
            shapes.append(np.stack([np.zeros(s), np.zeros(s)], axis=axis).shape)
    # keep outputs small: big outputs are reduced
    if int(np.prod(shapes[-1])) > 12:
        program.append(("reduce", (len(shapes) - 1,), {"name": "sum", "axis": 0, "keepdims": False}))
        shapes.append(shapes[-1][1:])
    if int(np.prod(shapes[-1])) > 12:
        program.append(("reduce", (len(shapes) - 1,), {"name": "sum", "axis": None, "keepdims": False}))
        shapes.append(())
    values = [np.array(_values(draw, int(np.prod(s)), -1.5, 1.5, special), dtype=float).reshape(s) for s in in_shapes]
    return values, program, constants


def run(program, constants, inputs):
    pool = list(inputs)
    for kind, ops, p in program:
        a = pool[ops[0]]
        if kind == "unary":
            out = UNARY[p["name"]](a)
        elif kind == "binary":
            out = BINARY[p["name"]](a, pool[ops[1]])
        elif kind == "binary_const":
            c = constants[p["c"]]
            out = BINARY[p["name"]](c, a) if p["left"] else BINARY[p["name"]](a, c)
        elif kind == "reduce":
            out = _reduce(p["name"], a, p["axis"], p["keepdims"])
        elif kind == "matmul":
            out = a @ pool[ops[1]]
        elif kind == "matmul_const":
            out = a @ constants[p["c"]]
        elif kind == "index":
            out = a[p["index"]]
        elif kind == "reshape":
            out = a.reshape(p["shape"])
        elif kind == "transpose":
            out = np.transpose(a, p["perm"])
        elif kind == "softmax":
            out = getattr(nn, p["name"])(a, axis=p["axis"])
        elif kind == "stack":
            out = np.stack([a, pool[ops[1]]], axis=p["axis"])
        else:  # pragma: no cover
            raise AssertionError(kind)
        pool.append(out)
    return pool[-1]


def _assert_close(actual, expected, what):
    for a, e in zip(actual if isinstance(actual, tuple) else (actual,),
                    expected if isinstance(expected, tuple) else (expected,)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, (what, a.shape, e.shape)
        scale = max(1.0, float(np.max(np.abs(e)))) if e.size else 1.0
        err = float(np.max(np.abs(a - e))) / scale if e.size else 0.0
        assert err < 1e-9, f"{what}: error {err:.3g}\n{a}\n{e}"


SETTINGS = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(programs())
def test_random_programs_match_oracle(case):
    inputs, program, constants = case
    f = lambda *xs: run(program, constants, xs)
    argnums = tuple(range(len(inputs)))
    value = f(*inputs)
    assert np.all(np.isfinite(value))
    exact = oracle.jacobian(f, *inputs, argnums=argnums)
    _assert_close(dualad.jacfwd(f, argnums=argnums)(*inputs), exact, "jacfwd")
    _assert_close(revad.jacrev(f, argnums=argnums)(*inputs), exact, "jacrev")
    # values agree too
    out, _ = dualad.jvp(f, tuple(inputs), tuple(np.ones_like(x) for x in inputs))
    np.testing.assert_allclose(out, value, rtol=1e-13, atol=1e-15)
    out, _ = revad.vjp(f, *inputs)
    np.testing.assert_allclose(out, value, rtol=1e-13, atol=1e-15)


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), st.integers(1, 3))
def test_random_programs_chunked_and_gradients(case, chunk):
    inputs, program, constants = case
    f = lambda *xs: np.sum(np.sin(run(program, constants, xs)))
    argnums = tuple(range(len(inputs)))
    exact = oracle.jacobian(f, *inputs, argnums=argnums)
    _assert_close(revad.grad(f, argnums=argnums)(*inputs), exact, "revad.grad")
    _assert_close(dualad.grad(f, argnums=argnums, chunk_size=chunk)(*inputs), exact, "dualad.grad chunked")
    g = lambda *xs: run(program, constants, xs)
    _assert_close(revad.jacrev(g, argnums=argnums, chunk_size=chunk)(*inputs),
                  dualad.jacfwd(g, argnums=argnums, chunk_size=chunk)(*inputs), "jacrev vs jacfwd chunked")


# ---- special points: exact zeros and ties everywhere, first and second order, every nesting -----------------
NESTINGS = {
    "fwd-over-fwd": dualad.hessian,
    "rev-over-rev": revad.hessian,
    "fwd-over-rev": lambda f, argnums: dualad.jacfwd(revad.grad(f, argnums), argnums),
    "rev-over-fwd": lambda f, argnums: revad.jacrev(dualad.grad(f, argnums), argnums),
}


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(special=True))
def test_random_programs_at_special_points(case):
    """Inputs and constants from a few values, so intermediates are exactly 0 and max/maximum/where sit on their
    ties: both engines follow the convention table there, as the oracle does."""
    inputs, program, constants = case
    f = lambda *xs: run(program, constants, xs)
    argnums = tuple(range(len(inputs)))
    exact = oracle.jacobian(f, *inputs, argnums=argnums)
    _assert_close(dualad.jacfwd(f, argnums=argnums)(*inputs), exact, "jacfwd")
    _assert_close(revad.jacrev(f, argnums=argnums)(*inputs), exact, "jacrev")


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(special=True))
def test_random_program_hessians_at_special_points(case):
    inputs, program, constants = case
    x = np.concatenate([np.ravel(v) for v in inputs])
    shapes = [np.shape(v) for v in inputs]
    assume(x.size <= 8)  # the oracle's Hessian is quadratic in the inputs; larger draws add time, not coverage

    def f(v):
        parts, start = [], 0
        for s in shapes:
            size = int(np.prod(s, dtype=int))
            parts.append(np.reshape(v[start:start + size], s))
            start += size
        return np.sum(np.sin(run(program, constants, parts)))

    exact = oracle.hessian(f, x)
    for name, nesting in NESTINGS.items():
        _assert_close(nesting(f, 0)(x), exact, name)
