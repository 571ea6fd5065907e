"""Forward-mode benchmarks: dualad against plain NumPy and the peers (autograd, torch.func, eager JAX).

Run from the repository root::

    python benchmarks/bench_forward.py            # full run
    python benchmarks/bench_forward.py --quick    # smoke run (fewer sizes and repeats)

Sections (``--only chain,jacfwd,overhead,scaling``):

- ``chain``: per-primitive overhead of a 600-op scalar chain (sin, cos, *, +) under ``dualad.jvp``.
- ``jacfwd``: the Jacobian of f(x) = W2 @ tanh(W1 @ x + b1), hidden 64, n = m in {16, 64, 256, 1024}.
- ``overhead``: the fixed cost of one call (``dualad.grad`` of ``x * x`` at a 0-d float64), and what one pass of
  ``jacfwd(chunk_size=1)`` costs against one ``jvp`` (the hidden-64 map at n = 16).
- ``scaling``: per-primitive cost vs program length (600 to 100,000 ops) and per-element cost of an indexing loop.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402,I001  (first: pins threads and the CPU before numpy loads)
from common import CFG, NOTES, fmt_ratio, fmt_time, grid, later, resolve, safe, table, target  # noqa: E402

import numpy as np  # noqa: E402

import dualad  # noqa: E402
import workloads as W  # noqa: E402
from scaling import bench_scaling  # noqa: E402


def bench_chain(found: dict) -> None:
    x0 = np.array(0.3)
    v0 = np.array(1.0)
    res = {}
    res["numpy (no derivative)"] = later(lambda: W.chain_np(x0))
    res["dualad.jvp"] = later(lambda: dualad.jvp(W.chain_np, (x0,), (v0,)))
    res["dualad.derivative"] = later(lambda: dualad.derivative(W.chain_np)(x0))
    ref = float(dualad.jvp(W.chain_np, (x0,), (v0,))[1])

    ag = found.get("autograd")
    if ag is not None:
        import autograd.numpy as anp
        from autograd import make_jvp

        chain_ag = W.make_chain(anp.sin, anp.cos)

        def run_ag():
            return make_jvp(chain_ag)(0.3)(1.0)

        got = safe("autograd make_jvp", run_ag)
        if got is not None:
            if not np.isclose(float(got[1]), ref, rtol=1e-9):
                NOTES.append(f"chain: autograd tangent {float(got[1])} != dualad {ref}")
            res["autograd make_jvp"] = later(run_ag)

    torch = found.get("torch")
    if torch is not None:
        chain_t = W.make_chain(torch.sin, torch.cos)
        xt = torch.tensor(0.3, dtype=torch.float64)
        vt = torch.tensor(1.0, dtype=torch.float64)

        def run_t():
            return torch.func.jvp(chain_t, (xt,), (vt,))

        got = safe("torch.func.jvp", run_t)
        if got is not None:
            if not np.isclose(float(got[1]), ref, rtol=1e-9):
                NOTES.append(f"chain: torch tangent {float(got[1])} != dualad {ref}")
            res["torch.func.jvp"] = later(run_t, min_time=0)

    jax = found.get("jax")
    if jax is not None:
        import jax.numpy as jnp

        chain_j = W.make_chain(jnp.sin, jnp.cos)
        xj = jnp.asarray(0.3, dtype=jnp.float64)
        vj = jnp.asarray(1.0, dtype=jnp.float64)

        def run_j():
            out = jax.jvp(chain_j, (xj,), (vj,))
            return jax.block_until_ready(out)

        got = safe("jax.jvp", run_j)
        if got is not None:
            if not np.isclose(float(got[1]), ref, rtol=1e-9):
                NOTES.append(f"chain: jax tangent {float(got[1])} != dualad {ref}")
            res["jax.jvp (eager)"] = later(run_j, min_time=0)

    res = resolve(res)
    n_ops = W.CHAIN_OPS
    mine = res["dualad.jvp"]
    print(f"### Scalar chain, forward mode: {n_ops} primitives (sin, cos, *, +) on a 0-d float64")
    print()
    rows = []
    for impl, t in res.items():
        rows.append([impl, fmt_time(t), f"{t / n_ops * 1e6:.2f}", fmt_ratio(t / res["numpy (no derivative)"]),
                     fmt_ratio(mine / t)])
    table(["implementation", "median per call", "us per op", "x numpy", "dualad.jvp / this"], rows)
    target("forward scalar chain: dualad.jvp <= 3 us/op", mine / n_ops * 1e6, 3.0, f"{mine / n_ops * 1e6:.2f} us/op")


def bench_jacfwd(found: dict, sizes: list[int]) -> None:
    res: dict[str, dict] = {}

    def put(impl, n, t):
        res.setdefault(impl, {})[n] = t

    torch = found.get("torch")
    jax = found.get("jax")
    ag = found.get("autograd")
    for n in sizes:
        w1, b1, w2, x = W.dense_params(n, n)
        f = W.make_dense(w1, b1, w2, np.tanh)
        ref = W.dense_jac_hand_fwd(w1, b1, w2, x)
        got = dualad.jacfwd(f)(x)
        if not np.allclose(got, ref, rtol=1e-10, atol=1e-12):
            NOTES.append(f"jacfwd n={n}: dualad differs from the hand-written Jacobian by "
                         f"{np.max(np.abs(got - ref)):.3g}")
        put("numpy f(x) (no derivative)", n, later(lambda: f(x)))
        put("numpy hand-batched JVP", n, later(lambda: W.dense_jac_hand_fwd(w1, b1, w2, x)))
        put("dualad.jacfwd", n, later(lambda: dualad.jacfwd(f)(x)))
        eye = np.eye(n)

        def separate():
            return np.stack([dualad.jvp(f, (x,), (eye[i],))[1] for i in range(n)], axis=-1)

        if n <= 256 or not CFG.quick:
            put("dualad: n separate jvp calls", n, later(separate, min_time=0, repeats=min(CFG.repeats, 5)))

        if torch is not None:
            tw1, tb1, tw2, tx = (torch.from_numpy(a) for a in (w1, b1, w2, x))
            ft = W.make_dense(tw1, tb1, tw2, torch.tanh)
            jt = torch.func.jacfwd(ft)
            if safe("torch.func.jacfwd", lambda: jt(tx)) is not None:
                put("torch.func.jacfwd", n, later(lambda: jt(tx)))
        if jax is not None:
            import jax.numpy as jnp

            jw1, jb1, jw2, jx = (jnp.asarray(a) for a in (w1, b1, w2, x))
            fj = W.make_dense(jw1, jb1, jw2, jnp.tanh)

            def run_j():
                return jax.block_until_ready(jax.jacfwd(fj)(jx))

            if safe("jax.jacfwd", run_j) is not None:
                put("jax.jacfwd (eager)", n, later(run_j))
        if ag is not None:
            import autograd.numpy as anp
            from autograd import jacobian

            fa = W.make_dense(w1, b1, w2, anp.tanh)
            ja = jacobian(fa)
            if safe("autograd.jacobian", lambda: ja(x)) is not None:
                put("autograd.jacobian (reverse, row by row)", n,
                    later(lambda: ja(x), min_time=0, repeats=min(CFG.repeats, 5)))
        common.run_pending()  # this size's implementations, round-robin (the closures see this n's data)

    res = resolve(res)

    grid("jacfwd of f(x) = W2 @ tanh(W1 @ x + b1), hidden 64, n = m, float64", res, sizes, lambda n: f"n=m={n}",
         ["dualad.jacfwd"])
    d = res["dualad.jacfwd"]
    if 64 in d:
        target("jacfwd: dualad <= 0.2 ms at n=m=64", d[64], 2e-4, fmt_time(d[64]))
    if 256 in d and 256 in res.get("dualad: n separate jvp calls", {}):
        speedup = res["dualad: n separate jvp calls"][256] / d[256]
        target("jacfwd: one vectorized pass >= 5x faster than 256 separate jvp calls", speedup, 5.0,
               f"{speedup:.1f}x", below=False)
    if "torch.func.jacfwd" in res:
        worst = max(d[n] / res["torch.func.jacfwd"][n] for n in sizes if n in res["torch.func.jacfwd"])
        target("jacfwd: dualad faster than torch.func.jacfwd at every n", worst, 1.0,
               f"worst ratio dualad/torch = {worst:.2f}")


def bench_overhead(found: dict) -> None:
    x0, v0 = np.array(0.7), np.array(1.0)
    sq = lambda x: x * x  # noqa: E731
    res = {}
    res["numpy x * x (no derivative)"] = later(lambda: sq(x0))
    res["hand-written (x * x, 2 * x)"] = later(lambda: (x0 * x0, 2.0 * x0))
    g = dualad.grad(sq)
    res["dualad.grad"] = later(lambda: g(x0))
    res["dualad.jvp"] = later(lambda: dualad.jvp(sq, (x0,), (v0,)))
    d = dualad.derivative(sq)
    res["dualad.derivative"] = later(lambda: d(x0))
    torch = found.get("torch")
    if torch is not None:
        xt, vt = torch.tensor(0.7, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
        if safe("torch.func.jvp", lambda: torch.func.jvp(sq, (xt,), (vt,))) is not None:
            res["torch.func.jvp"] = later(lambda: torch.func.jvp(sq, (xt,), (vt,)))
    jax = found.get("jax")
    if jax is not None:
        import jax.numpy as jnp

        xj = jnp.asarray(0.7, dtype=jnp.float64)
        gj = jax.jit(jax.jacfwd(sq))
        if safe("jax.jit(jax.jacfwd)", lambda: jax.block_until_ready(gj(xj))) is not None:
            res["jax.jit(jax.jacfwd) (compiled)"] = later(lambda: jax.block_until_ready(gj(xj)))
    if float(g(x0)) != 1.4:
        NOTES.append(f"overhead: dualad.grad gave {float(g(x0))}, expected 1.4")

    n = 16  # jacfwd(chunk_size=1): n passes of one direction, each should cost one jvp
    w1, b1, w2, x = W.dense_params(n, n)
    f = W.make_dense(w1, b1, w2, np.tanh)
    eye = np.eye(n)
    one_by_one = dualad.jacfwd(f, chunk_size=1)
    if not np.allclose(one_by_one(x), W.dense_jac_hand_fwd(w1, b1, w2, x), rtol=1e-12, atol=1e-14):
        NOTES.append("overhead: jacfwd(chunk_size=1) differs from the hand-written Jacobian")
    passes = {"dualad.jacfwd(chunk_size=1)": later(lambda: one_by_one(x)),
              f"{n} dualad.jvp calls": later(lambda: [dualad.jvp(f, (x,), (eye[i],)) for i in range(n)]),
              "dualad.jacfwd (one pass of n)": later(lambda: dualad.jacfwd(f)(x))}
    res, passes = resolve(res), resolve(passes)
    print("### Per-call overhead: forward-mode gradient of x * x at a 0-d float64")
    print()
    mine = res["dualad.grad"]
    table(["implementation", "median per call", "dualad.grad / this"],
          [[impl, fmt_time(t), fmt_ratio(mine / t)] for impl, t in res.items()])
    print(f"### jacfwd(chunk_size=1) against jvp: W2 @ tanh(W1 @ x + b1), hidden 64, n = m = {n}")
    print()
    table(["implementation", "median per call", "per pass (/ n)"],
          [[impl, fmt_time(t), fmt_time(t / n)] for impl, t in passes.items()])
    ratio = passes["dualad.jacfwd(chunk_size=1)"] / passes[f"{n} dualad.jvp calls"]
    target("overhead: dualad.grad of x * x <= 10 us per call", mine, 10e-6, fmt_time(mine))
    target("overhead: one pass of jacfwd(chunk_size=1) <= 1.1x one jvp", ratio, 1.1, f"{ratio:.2f}x")


def main() -> None:
    args = common.parse_args(__doc__.splitlines()[0])
    found = common.peers(args)
    common.header("fwdrev forward-mode benchmarks (dualad)", found)
    sizes = [16, 64, 256] if CFG.quick else [16, 64, 256, 1024]
    if common.wanted(args, "chain"):
        bench_chain(found)
    if common.wanted(args, "jacfwd"):
        bench_jacfwd(found, sizes)
    if common.wanted(args, "overhead"):
        bench_overhead(found)
    if common.wanted(args, "scaling"):
        bench_scaling("dualad")
    common.print_targets()


if __name__ == "__main__":
    main()
