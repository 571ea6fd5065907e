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
| comparisons, `argmax`, `argsort`, `*_like`, shape queries | no derivative: plain arrays |

**Strong zero.** A tangent or cotangent that is exactly 0 contributes exactly 0, even through an infinite
partial. The ops whose kind says *strong zero* below apply this, so `np.where(x < 1, x, np.sqrt(x))` at `x = 0` has
derivative 1 (not NaN) in both engines: the untaken `sqrt` branch receives a zero cotangent, and
`0 * inf` is never formed.

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
