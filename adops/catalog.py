"""Writes docs/ops.md from the registry: every op, the NumPy callables it answers for, its rule, and the
conventions. Run ``python -m adops.catalog > docs/ops.md``; a test keeps the page in step with the registry."""

from __future__ import annotations

from . import OPS, callable_name, covered_callables

CONVENTIONS = """\
## Conventions at non-differentiable points (both engines, and the oracle)

| where | derivative used |
|---|---|
| `abs` at 0 | 0 |
| `adops.nn.relu` at 0 | 0 |
| `maximum(x, y)` / `minimum(x, y)` at a tie | 1/2 to each argument |
| `max` / `min` reductions with ties | split evenly among the tied entries |
| `sign`, `floor`, `ceil`, `round`/`rint`, `trunc` | 0 everywhere (returned as constants) |
| `clip(x, lo, hi)` at `x == lo` or `x == hi` | 0 (strictly inside the bounds: 1) |
| `sort` with equal entries | the stable order's permutation |
| comparisons, `argmax`, `argsort`, `*_like`, shape queries, `matrix_rank` | no derivative: plain arrays |
| `eigh`, `svd` at repeated eigen/singular values | values: finite first derivatives; vectors: inf/NaN (as JAX) |
| second derivatives through repeated eigen/singular values | NaN where the vectors' derivative enters (as JAX) |
| eigenvector, singular-vector and `qr` signs | NumPy's at the point, kept locally by the derivatives |
| `eig` (complex or repeated), `svd(full_matrices=True)` non-square | a clear error |

## Conventions at domain edges (both engines, every nesting)

At the edge of an op's domain the derivative is the one-sided limit of its formula, which is what the registry's
partials give; `tests/test_conventions.py` pins every entry in the four Hessian nestings.

| where | first derivative | second derivative |
|---|---|---|
| `sqrt`, `x ** 0.5` at 0 | +inf | -inf |
| `x ** 1.5` at 0 | 0 | +inf |
| `cbrt` at 0 | +inf | 0 (two-sided limits differ; 0 * inf = 0 below) |
| `log`, `log2`, `log10` at 0; `log1p` at -1 | +inf | -inf |
| `reciprocal`, `1 / x`, `x ** -1` at 0 | -inf | +inf |
| `arcsin` at 1 / -1 | +inf | +inf / -inf |
| `arccos` at 1 / -1 | -inf | -inf / +inf |
| `arctanh` at 1 / -1 | +inf | +inf / -inf |
| `arccosh` at 1 | +inf | -inf |
| `np.linalg.norm` (every vector p-norm and Frobenius), `np.hypot`, `np.std` where the value is 0 | 0 | 0 |
| `np.sqrt(x * x)` at 0 (a norm written by hand) | 0 | +inf |
| `x * np.log(x)` at 0 | -inf | +inf |
| `log(sum(exp(x)))` where every `exp` underflows | 0 (`nn.logsumexp` gives the true 1/2 each) | 0 or NaN |
| `np.arctan2(y, x)` at the origin | NaN (it jumps there) | 0 along each axis, NaN mixed |

Norms at 0 take their minimum-norm subgradient, 0, as `abs'(0) = 0` does; PyTorch does the same for `norm`.

**Strong zero.** A tangent or cotangent that is exactly 0 contributes exactly 0, even through an infinite
partial. The ops whose kind says *strong zero* below apply this, so `np.where(x < 1, x, np.sqrt(x))` at `x = 0` has
derivative 1 (not NaN) in both engines: the untaken `sqrt` branch receives a zero cotangent, and
`0 * inf` is never formed. The *partial* is masked, never the product, so the rule holds under nesting: a traced
zero keeps its own derivative (the Hessian of a least-squares objective at a zero residual is exact in all four
nestings). Once a rule has produced an infinite derivative, every later derivative product treats 0 * inf as 0
too, whichever op forms it, so the two modes meet an infinity and a zero the same way (`sqrt(x * x)` and
`x * log(x)` at 0 above). Inside a contraction (`matmul`, `einsum`, `dot`) an infinity meeting a zero still gives
NaN.

## Where fwdrev differs from JAX on purpose

| where | fwdrev | JAX |
|---|---|---|
| `abs'(0)`, `relu'(0)` | 0 | 1 (abs), 0 (relu) |
| `maximum`/`minimum` at a tie | 1/2 to each argument | 1/2 to each argument |
| `max`/`min` reductions with ties | split evenly among the tied entries | split evenly |
| `norm`, `std` where the value is 0 | 0 | NaN |
| `hypot(x, y)` at the origin | 0 | 1/2 to each argument |
| `np.where(x < 1, x, np.sqrt(x))` at 0 | 1 | NaN in reverse mode |
| `np.sqrt(x * x)`, `x * np.log(x)` at 0 | 0, -inf | NaN |
| `norm(x, ord=1)`, `norm(x, ord=inf)` gradient at 0 | 0 | 1 each, 1/n each |
| `clip(x, lo, hi)` at `x == hi` | 0 (hi takes it) | 1/2 |
| `cbrt''(0)` | 0 | -inf |
| derivatives of `x ** y` at `x == y == 0` | 0 at every order | 0 first, NaN second |
| `arctan2` second derivative at the origin | 0 along each axis, NaN mixed | NaN |
| `hypot` Hessian where `|x| == |y|` | the exact value | 0 (a JAX error) |

**Stable forms.** `adops.nn.sigmoid`, `softplus`, `logsumexp`, `softmax`, `log_softmax` and `np.logaddexp`
are finite and correct at |x| = 1000 (they shift by the max, or use `logaddexp`).
"""


def _kind(op) -> str:
    if op.composite:
        return "composite"
    if not op.differentiable:
        return "no derivative"
    if not op.numpy:
        return "internal primitive"
    return "primitive, strong zero" if op.strong_zero else "primitive"


def render() -> str:
    """The Markdown page."""
    lines = ["# Registered ops", "",
             "Generated from the registry by `python -m adops.catalog`; do not edit by hand.", "",
             f"{len(covered_callables())} NumPy callables (and operators) are covered by {len(OPS)} records. "
             "*Primitives* have their own JVP and VJP rules; *composites* are written with primitives and "
             "differentiated through them; *no derivative* ops return plain arrays (constants).", "",
             CONVENTIONS, "## The ops", "",
             "| op | answers for | kind | rule |", "|---|---|---|---|"]
    for name in sorted(OPS):
        op = OPS[name]
        names = ", ".join(dict.fromkeys(f"`{callable_name(fn)}`" for fn in op.numpy)) or (
            f"`adops.nn.{name}`" if name in ("relu", "sigmoid", "softplus", "logsumexp", "softmax", "log_softmax")
            else "(used by other rules)")
        math = op.math.replace("|", "\\|")
        lines.append(f"| `{name}` | {names} | {_kind(op)} | {math} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
