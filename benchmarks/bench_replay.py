"""Replay benchmarks: eager fwdrev, ``compiled`` replay (interpreted and generated) and ``jax.jit`` side by side.

Run from the repository root::

    python benchmarks/bench_replay.py --cpu-time          # full run
    python benchmarks/bench_replay.py --quick --no-peers  # smoke run

Sections (``--only chain,square,dense,mlp``), each with the per-call median and the first-call cost (recording, or
JAX's tracing and compiling), so a reader sees after how many calls replay or jit pays off:

- ``chain``: value and gradient of the 600-op scalar chain (sin, cos, *, +) on a 0-d float64.
- ``square``: the gradient of ``x * x`` on a 0-d array (``revad.grad`` and ``dualad.grad``).
- ``dense``: ``jacrev`` and ``jacfwd`` of ``W2 @ tanh(W1 @ x + b1)``, hidden 64, n = m = 16.
- ``mlp``: value_and_grad of the softmax cross-entropy MLP loss (batch 256, 784-512-512-10, tanh), float64.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402,I001  (first: pins threads and the CPU before numpy loads)
from common import CFG, NOTES, fmt_ratio, fmt_time, later, resolve, safe, table, target  # noqa: E402

import statistics  # noqa: E402

import numpy as np  # noqa: E402

import adops.nn  # noqa: E402
import dualad  # noqa: E402
import revad  # noqa: E402
import workloads as W  # noqa: E402
from adops.compiled import compiled  # noqa: E402
from adops.replay_source import generate  # noqa: E402

INTERPRETED = 10 ** 9  # generate_after for the interpreted tier (never generates)


def first_call(make, args, times: int = 5) -> float:
    """Median time of the first call of a freshly made callable (a recording, or a jit compilation)."""
    clock = CFG.timer
    out = []
    for _ in range(1 if CFG.quick else times):
        fn = make()
        t0 = clock()
        fn(*args)
        out.append(clock() - t0)
    return statistics.median(out)


def generation_cost(make, args) -> float:
    """Time to generate and compile straight-line source for a recorded program (tier two)."""
    c = make()
    c(*args)
    prog = next(iter(c.lru))
    clock = CFG.timer
    t0 = clock()
    generate(prog)
    return clock() - t0


def compare(title: str, eager, make_fn, args, hand=None, jax_make=None, jax_args=None, n_ops=None, check=None):
    """Time eager, replay (both tiers), hand-written NumPy and jax.jit on ``args``; print one table."""
    interp = compiled(make_fn(), generate_after=INTERPRETED)
    gen = compiled(make_fn(), generate_after=1)
    for _ in range(3):
        interp(*args)
        gen(*args)
    assert gen.stats["generated"] == 1 and interp.stats["replays"] >= 2, (gen.stats, interp.stats)
    ref = eager(*args)
    for got in (interp(*args), gen(*args)):
        if check is not None:
            check(got, ref)
    rows = {"fwdrev eager": (later(lambda: eager(*args)), None),
            "compiled, interpreted": (later(lambda: interp(*args)),
                                      first_call(lambda: compiled(make_fn()), args)),
            "compiled, generated": (later(lambda: gen(*args)), generation_cost(lambda: compiled(make_fn()), args))}
    if hand is not None:
        rows["hand-written NumPy"] = (later(lambda: hand(*args)), None)
    if jax_make is not None:
        import jax

        jitted = safe(f"jax.jit ({title})", lambda: jax_make())
        if jitted is not None and safe(f"jax.jit run ({title})",
                                      lambda: jax.block_until_ready(jitted(*jax_args))) is not None:
            rows["jax.jit"] = (later(lambda: jax.block_until_ready(jitted(*jax_args))),
                               first_call(lambda: _fresh_jit(jax_make), jax_args, times=3))
    times = resolve({k: v[0] for k, v in rows.items()})
    eager_t = times["fwdrev eager"]
    print(f"### {title}")
    print()
    headers = ["implementation", "per call"] + (["us per op"] if n_ops else []) + \
        ["x eager", "x hand-written", "first call / extra cost", "calls to pay off vs eager"]
    out = []
    for name, (_, first) in rows.items():
        t = times[name]
        base = times.get("hand-written NumPy")
        payoff = "-"
        if first is not None and t < eager_t:
            extra = first - (eager_t if name != "compiled, generated" else 0.0)
            payoff = f"{max(extra, 0.0) / (eager_t - t):.1f}"
        out.append([name, fmt_time(t)] + ([f"{t / n_ops * 1e6:.2f}"] if n_ops else []) +
                   [fmt_ratio(t / eager_t), fmt_ratio(t / base) if base else "-",
                    fmt_time(first) + (" (generation)" if name == "compiled, generated" else "") if first else "-",
                    payoff])
    table(headers, out)
    return times, {k: v[1] for k, v in rows.items()}


def _fresh_jit(jax_make):
    return jax_make()


def _close(a, b):
    la, lb = adops.trees.flatten(a)[0], adops.trees.flatten(b)[0]
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def bench_chain(found):
    x0 = np.array(0.3)
    vg = revad.value_and_grad(W.chain_np)
    jax = found.get("jax")
    jax_make = jax_args = None
    if jax is not None:
        import jax.numpy as jnp

        def jax_make():
            return jax.jit(jax.value_and_grad(W.make_chain(jnp.sin, jnp.cos)))

        jax_args = (jnp.asarray(0.3, dtype=jnp.float64),)
    times, firsts = compare(f"(a) Scalar chain, value and gradient: {W.CHAIN_OPS} primitives", vg,
                            lambda: revad.value_and_grad(W.chain_np), (x0,), hand=None, jax_make=jax_make,
                            jax_args=jax_args, n_ops=W.CHAIN_OPS, check=_close)
    per_op = times["compiled, generated"] / W.CHAIN_OPS * 1e6
    target("chain: replayed <= 0.6 us per primitive", per_op, 0.6, f"{per_op:.2f} us/op")
    ratio = firsts["compiled, interpreted"] / times["fwdrev eager"]
    target("chain: first call (recording) <= 2x an eager call", ratio, 2.0, f"{ratio:.2f}x")


def bench_square(found):
    x = np.array(1.5)
    sq = lambda v: v * v  # noqa: E731
    jax = found.get("jax")
    jax_make = jax_args = None
    if jax is not None:
        import jax.numpy as jnp

        def jax_make():
            return jax.jit(jax.grad(lambda v: v * v))

        jax_args = (jnp.asarray(1.5, dtype=jnp.float64),)
    hand = lambda v: 2.0 * v  # noqa: E731
    times, _ = compare("(b) Gradient of x * x on a 0-d array: revad.grad", revad.grad(sq), lambda: revad.grad(sq),
                       (x,), hand=hand, jax_make=jax_make, jax_args=jax_args, check=_close)
    t = times["compiled, generated"]
    target("x * x: revad.grad replayed <= 4 us per call", t, 4e-6, fmt_time(t))
    times, _ = compare("(b') Gradient of x * x on a 0-d array: dualad.grad", dualad.grad(sq),
                       lambda: dualad.grad(sq), (x,), hand=hand, check=_close)
    t = times["compiled, generated"]
    target("x * x: dualad.grad replayed <= 4 us per call", t, 4e-6, fmt_time(t))


def bench_dense(found):
    n = m = 16
    w1, b1, w2, x = W.dense_params(n, m)
    f = W.make_dense(w1, b1, w2, np.tanh)
    jax = found.get("jax")
    for name, transform, hand, jax_name in (("revad.jacrev", revad.jacrev, W.dense_jac_hand_rev, "jacrev"),
                                            ("dualad.jacfwd", dualad.jacfwd, W.dense_jac_hand_fwd, "jacfwd")):
        jax_make = jax_args = None
        if jax is not None:
            import jax.numpy as jnp

            jw1, jb1, jw2 = jnp.asarray(w1), jnp.asarray(b1), jnp.asarray(w2)

            def jax_make(jax_name=jax_name, jw1=jw1, jb1=jb1, jw2=jw2):
                return jax.jit(getattr(jax, jax_name)(W.make_dense(jw1, jb1, jw2, jnp.tanh)))

            jax_args = (jnp.asarray(x),)
        times, _ = compare(f"(c) {name} of W2 @ tanh(W1 @ x + b1), hidden 64, n = m = {n}", transform(f),
                           lambda transform=transform: transform(f), (x,),
                           hand=lambda v, hand=hand: hand(w1, b1, w2, v), jax_make=jax_make, jax_args=jax_args,
                           check=_close)
        r = times["compiled, generated"] / times["hand-written NumPy"]
        target(f"dense n=m=16: {name} replayed <= 2x hand-batched NumPy", r, 2.0, f"{r:.2f}x")


def _fwdrev_loss(params, x, onehot):
    return W.make_mlp_loss(np.tanh, adops.nn.log_softmax, np.sum, lambda x: 1.0 / x.shape[0])(params, x, onehot)


def bench_mlp(found):
    params, x, onehot = W.mlp_data()
    jax = found.get("jax")
    jax_make = jax_args = None
    if jax is not None:
        import jax.numpy as jnp

        def jax_make():
            loss = W.make_mlp_loss(jnp.tanh, jax.nn.log_softmax, jnp.sum, lambda x: 1.0 / x.shape[0])
            return jax.jit(jax.value_and_grad(loss))

        jax_args = (tuple(jnp.asarray(p) for p in params), jnp.asarray(x), jnp.asarray(onehot))

    def check(got, ref):
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-13)

    times, _ = compare("(d) MLP loss value_and_grad: batch 256, 784-512-512-10, tanh, float64",
                       revad.value_and_grad(_fwdrev_loss), lambda: revad.value_and_grad(_fwdrev_loss),
                       (params, x, onehot), hand=W.mlp_value_and_grad_hand, jax_make=jax_make, jax_args=jax_args,
                       check=check)
    for name in ("fwdrev eager", "compiled, generated"):
        r = times[name] / times["hand-written NumPy"]
        target(f"mlp: {name} <= 1.05x hand-written NumPy", r, 1.05, f"{r:.3f}x")


def main() -> None:
    args = common.parse_args(__doc__.splitlines()[0])
    found = {k: v for k, v in common.peers(args).items() if k == "jax"}
    common.header("fwdrev replay benchmarks (compiled)", found)
    print("Columns: per-call median; 'first call' is the recording (compiled) or tracing + XLA compilation "
          "(jax.jit) of a fresh function, and for the generated tier the extra cost of generating its source; "
          "'calls to pay off' is that extra cost divided by the per-call saving against eager fwdrev.")
    print()
    if common.wanted(args, "chain"):
        bench_chain(found)
    if common.wanted(args, "square"):
        bench_square(found)
    if common.wanted(args, "dense"):
        bench_dense(found)
    if common.wanted(args, "mlp"):
        bench_mlp(found)
    if not found:
        NOTES.append("jax.jit columns need jax (pip install jax)")
    common.print_targets()


if __name__ == "__main__":
    main()
