"""Reverse-mode benchmarks: revad (and the mixed-mode Hessians) against plain NumPy and the peers.

Run from the repository root::

    python benchmarks/bench_reverse.py            # full run
    python benchmarks/bench_reverse.py --quick    # smoke run (fewer sizes and repeats)

Sections (``--only chain,mlp,jacrev,hessian,overhead,scaling``):

- ``chain``: value and gradient of a 600-op scalar chain (sin, cos, *, +): per-primitive overhead of the tape.
- ``mlp``: value_and_grad of a softmax cross-entropy MLP loss (batch 256, 784-512-512-10, tanh), float64 and
  float32, against the loss alone and a hand-written NumPy forward+backward; peak memory with tracemalloc.
- ``jacrev``: the Jacobian of f(x) = W2 @ tanh(W1 @ x + b1), hidden 64, n = m in {16, 64, 256, 1024}.
- ``hessian``: the dense Hessian of the n-variable Rosenbrock function, n in {10, 100, 1000}.
- ``overhead``: the fixed cost of one call, the gradient of ``x * x`` at a 0-d float64 (``--cpu-time`` on a shared
  machine).
- ``scaling``: per-primitive cost vs tape length (600 to 100,000 ops) and per-element cost of an indexing loop vs n.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402,I001  (first: pins threads and the CPU before numpy loads)
from common import (CFG, NOTES, fmt_bytes, fmt_ratio, fmt_time, grid, later, resolve, peak_memory, safe, table,  # noqa: E402
                    target)

import numpy as np  # noqa: E402

import adops.nn  # noqa: E402
import dualad  # noqa: E402
import revad  # noqa: E402
import workloads as W  # noqa: E402
from scaling import bench_scaling  # noqa: E402


# ---- (a) scalar chain ---------------------------------------------------------------------------------------------


def bench_chain(found: dict) -> None:
    x0 = np.array(0.3)
    res = {}
    res["numpy (no derivative)"] = later(lambda: W.chain_np(x0))
    vg = revad.value_and_grad(W.chain_np)
    res["revad.value_and_grad"] = later(lambda: vg(x0))
    res["revad.grad"] = later(lambda: revad.grad(W.chain_np)(x0))

    def vjp_run():
        out, pullback = revad.vjp(W.chain_np, x0)
        return out, pullback(np.ones(()))

    res["revad.vjp + pullback"] = later(vjp_run)
    ref = float(vg(x0)[1])

    ag = found.get("autograd")
    if ag is not None:
        import autograd.numpy as anp
        from autograd import value_and_grad

        run_ag = value_and_grad(W.make_chain(anp.sin, anp.cos))
        got = safe("autograd value_and_grad", lambda: run_ag(0.3))
        if got is not None:
            if not np.isclose(float(got[1]), ref, rtol=1e-9):
                NOTES.append(f"chain: autograd gradient {float(got[1])} != revad {ref}")
            res["autograd value_and_grad"] = later(lambda: run_ag(0.3))

    torch = found.get("torch")
    if torch is not None:
        chain_t = W.make_chain(torch.sin, torch.cos)

        def run_t():
            xt = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
            y = chain_t(xt)
            (g,) = torch.autograd.grad(y, xt)
            return y.detach(), g

        got = safe("torch.autograd.grad", run_t)
        if got is not None:
            if not np.isclose(float(got[1]), ref, rtol=1e-9):
                NOTES.append(f"chain: torch gradient {float(got[1])} != revad {ref}")
            res["torch.autograd.grad"] = later(run_t)

    jax = found.get("jax")
    if jax is not None:
        import jax.numpy as jnp

        vg_j = jax.value_and_grad(W.make_chain(jnp.sin, jnp.cos))
        xj = jnp.asarray(0.3, dtype=jnp.float64)

        def run_j():
            return jax.block_until_ready(vg_j(xj))

        got = safe("jax.value_and_grad", run_j)
        if got is not None:
            if not np.isclose(float(got[1]), ref, rtol=1e-9):
                NOTES.append(f"chain: jax gradient {float(got[1])} != revad {ref}")
            res["jax.value_and_grad (eager)"] = later(run_j, min_time=0)

    res = resolve(res)
    n_ops = W.CHAIN_OPS
    mine = res["revad.value_and_grad"]
    print(f"### (a) Scalar chain, value and gradient: {n_ops} primitives (sin, cos, *, +) on a 0-d float64")
    print()
    rows = [[impl, fmt_time(t), f"{t / n_ops * 1e6:.2f}", fmt_ratio(t / res["numpy (no derivative)"]),
             fmt_ratio(mine / t)] for impl, t in res.items()]
    table(["implementation", "median per call", "us per op", "x numpy", "revad.value_and_grad / this"], rows)
    target("reverse scalar chain: revad.value_and_grad <= 3 us/op", mine / n_ops * 1e6, 3.0,
           f"{mine / n_ops * 1e6:.2f} us/op")


# ---- (b) MLP loss -------------------------------------------------------------------------------------------------


def _fwdrev_loss(params, x, onehot):
    w1, b1, w2, b2, w3, b3 = params
    h1 = np.tanh(x @ w1 + b1)
    h2 = np.tanh(h1 @ w2 + b2)
    logits = h2 @ w3 + b3
    return -np.sum(onehot * adops.nn.log_softmax(logits)) * x.dtype.type(1.0 / x.shape[0])


def bench_mlp(found: dict, dtypes) -> None:
    torch = found.get("torch")
    jax = found.get("jax")
    ag = found.get("autograd")
    res: dict[str, dict] = {}
    mem: dict[str, dict] = {}

    def put(impl, key, t):
        res.setdefault(impl, {})[key] = t

    for dtype in dtypes:
        key = np.dtype(dtype).name
        params, x, onehot = W.mlp_data(dtype)
        vg = revad.value_and_grad(_fwdrev_loss)
        value, grads = vg(params, x, onehot)
        hv, hg = W.mlp_value_and_grad_hand(params, x, onehot)
        tol = 1e-10 if dtype == np.float64 else 1e-4
        err = max(float(np.max(np.abs(a - b))) for a, b in zip(grads, hg))
        if err > tol * 10 or not np.isclose(value, hv, rtol=tol):
            NOTES.append(f"mlp {key}: revad gradient differs from the hand-written one by {err:.3g}")
        bad = [g.dtype for g in grads if g.dtype != np.dtype(dtype)] + (
            [] if np.asarray(value).dtype == np.dtype(dtype) else [np.asarray(value).dtype])
        if bad:
            NOTES.append(f"mlp {key}: revad returned dtype(s) {sorted(set(map(str, bad)))}: {key} did not stay {key}")
        else:
            NOTES.append(f"mlp {key}: revad value and all 6 gradients are {key} (dtype preserved)")

        put("numpy loss alone (no derivative)", key, later(lambda: W.mlp_loss_np(params, x, onehot)))
        put("numpy hand-written forward+backward", key,
            later(lambda: W.mlp_value_and_grad_hand(params, x, onehot)))
        put("revad.value_and_grad", key, later(lambda: vg(params, x, onehot)))
        mem.setdefault("numpy hand-written forward+backward", {})[key] = peak_memory(
            lambda: W.mlp_value_and_grad_hand(params, x, onehot))
        mem.setdefault("revad.value_and_grad", {})[key] = peak_memory(lambda: vg(params, x, onehot))
        mem.setdefault("numpy loss alone (no derivative)", {})[key] = peak_memory(
            lambda: W.mlp_loss_np(params, x, onehot))

        if ag is not None:
            import autograd.numpy as anp
            from autograd import value_and_grad
            from autograd.scipy.special import logsumexp

            def ag_log_softmax(z):
                return z - logsumexp(z, axis=-1, keepdims=True)

            loss_ag = W.make_mlp_loss(anp.tanh, ag_log_softmax, anp.sum, lambda x: x.dtype.type(1.0 / x.shape[0]))
            vg_ag = value_and_grad(loss_ag)
            if safe("autograd value_and_grad (mlp)", lambda: vg_ag(params, x, onehot)) is not None:
                put("autograd value_and_grad", key, later(lambda: vg_ag(params, x, onehot)))
                mem.setdefault("autograd value_and_grad", {})[key] = peak_memory(lambda: vg_ag(params, x, onehot))
        if torch is not None:
            tp = [torch.from_numpy(p.copy()).requires_grad_(True) for p in params]
            tx, to = torch.from_numpy(x), torch.from_numpy(onehot)
            loss_t = W.make_mlp_loss(torch.tanh, lambda z: torch.log_softmax(z, dim=-1), torch.sum,
                                     lambda x: 1.0 / x.shape[0])

            def run_t():
                loss = loss_t(tp, tx, to)
                return loss.detach(), torch.autograd.grad(loss, tp)

            if safe("torch autograd (mlp)", run_t) is not None:
                put("torch.autograd.grad", key, later(run_t))
        if jax is not None:
            import jax.numpy as jnp

            jp = tuple(jnp.asarray(p) for p in params)
            jx, jo = jnp.asarray(x), jnp.asarray(onehot)
            loss_j = W.make_mlp_loss(jnp.tanh, jax.nn.log_softmax, jnp.sum, lambda x: 1.0 / x.shape[0])
            vg_j = jax.value_and_grad(loss_j)
            vg_jit = jax.jit(vg_j)

            def run_j():
                return jax.block_until_ready(vg_j(jp, jx, jo))

            def run_jit():
                return jax.block_until_ready(vg_jit(jp, jx, jo))

            if safe("jax eager (mlp)", run_j) is not None:
                put("jax.value_and_grad (eager)", key, later(run_j))
            if safe("jax.jit (mlp)", run_jit) is not None:
                put("jax.jit(value_and_grad)", key, later(run_jit))
        common.run_pending()

    res = resolve(res)

    cols = [np.dtype(d).name for d in dtypes]
    grid("(b) MLP loss value_and_grad: batch 256, 784-512-512-10, tanh, softmax cross-entropy", res, cols,
         lambda c: c, ["revad.value_and_grad"])
    print("Peak memory above the inputs (tracemalloc; NumPy buffers only, so torch/jax are not listed):")
    print()
    rows = []
    for impl, d in mem.items():
        rows.append([impl] + [fmt_bytes(d.get(c)) for c in cols] +
                    [fmt_ratio(d[c] / mem["numpy hand-written forward+backward"][c]) for c in cols])
    table(["implementation"] + cols + [f"x hand-written ({c})" for c in cols], rows)
    for c in cols:
        r = res["revad.value_and_grad"][c] / res["numpy hand-written forward+backward"][c]
        target(f"mlp {c}: revad value_and_grad <= 1.15x hand-written NumPy", r, 1.15, f"{r:.2f}x")
        rm = mem["revad.value_and_grad"][c] / mem["numpy hand-written forward+backward"][c]
        target(f"mlp {c}: revad peak memory <= 1.2x hand-written NumPy", rm, 1.2, f"{rm:.2f}x")


# ---- (c) jacrev ---------------------------------------------------------------------------------------------------


def bench_jacrev(found: dict, sizes) -> None:
    torch = found.get("torch")
    jax = found.get("jax")
    ag = found.get("autograd")
    res: dict[str, dict] = {}

    def put(impl, n, t):
        res.setdefault(impl, {})[n] = t

    for n in sizes:
        w1, b1, w2, x = W.dense_params(n, n)
        f = W.make_dense(w1, b1, w2, np.tanh)
        ref = W.dense_jac_hand_rev(w1, b1, w2, x)
        got = revad.jacrev(f)(x)
        if not np.allclose(got, ref, rtol=1e-10, atol=1e-12):
            err = np.max(np.abs(got - ref))
            NOTES.append(f"jacrev n={n}: revad differs from the hand-written Jacobian by {err:.3g}")
        put("numpy f(x) (no derivative)", n, later(lambda: f(x)))
        put("numpy hand-batched VJP", n, later(lambda: W.dense_jac_hand_rev(w1, b1, w2, x)))
        put("revad.jacrev", n, later(lambda: revad.jacrev(f)(x)))
        eye = np.eye(n)

        def separate():
            out, pullback = revad.vjp(f, x)
            return np.stack([pullback(eye[i])[0] for i in range(n)])

        if n <= 256 or not CFG.quick:
            put("revad: vjp + m pullback calls", n, later(separate, min_time=0, repeats=min(CFG.repeats, 5)))
        if torch is not None:
            tw1, tb1, tw2, tx = (torch.from_numpy(a) for a in (w1, b1, w2, x))
            jt = torch.func.jacrev(W.make_dense(tw1, tb1, tw2, torch.tanh))
            if safe("torch.func.jacrev", lambda: jt(tx)) is not None:
                put("torch.func.jacrev", n, later(lambda: jt(tx)))
        if jax is not None:
            import jax.numpy as jnp

            jw1, jb1, jw2, jx = (jnp.asarray(a) for a in (w1, b1, w2, x))
            jj = jax.jacrev(W.make_dense(jw1, jb1, jw2, jnp.tanh))

            def run_j():
                return jax.block_until_ready(jj(jx))

            if safe("jax.jacrev", run_j) is not None:
                put("jax.jacrev (eager)", n, later(run_j))
        if ag is not None:
            import autograd.numpy as anp
            from autograd import jacobian

            ja = jacobian(W.make_dense(w1, b1, w2, anp.tanh))
            if safe("autograd.jacobian", lambda: ja(x)) is not None:
                put("autograd.jacobian (row by row)", n, later(lambda: ja(x), min_time=0,
                                                                repeats=min(CFG.repeats, 5)))
        common.run_pending()

    res = resolve(res)

    grid("(c) jacrev of f(x) = W2 @ tanh(W1 @ x + b1), hidden 64, n = m, float64", res, sizes,
         lambda n: f"n=m={n}", ["revad.jacrev"])
    d = res["revad.jacrev"]
    if 64 in d:
        target("jacrev: revad <= 0.2 ms at n=m=64", d[64], 2e-4, fmt_time(d[64]))
    tj = res.get("torch.func.jacrev", {})
    big = max(sizes)
    if big in tj:
        r = d[big] / tj[big]
        target(f"jacrev: revad faster than torch.func.jacrev at n=m={big}" + (" (1024 in the full run)"
               if big != 1024 else ""), r, 1.0, f"ratio revad/torch = {r:.2f}")


# ---- (d) Rosenbrock Hessian ---------------------------------------------------------------------------------------


def bench_hessian(found: dict, sizes) -> None:
    torch = found.get("torch")
    jax = found.get("jax")
    ag = found.get("autograd")
    res: dict[str, dict] = {}

    def put(impl, n, t):
        res.setdefault(impl, {})[n] = t

    f = W.rosen_np
    for n in sizes:
        x = np.random.default_rng(n).uniform(-1.5, 1.5, n)
        ref = W.rosen_hessian_hand(x)
        put("numpy f(x) (no derivative)", n, later(lambda: f(x)))
        put("numpy hand-coded Hessian (not AD)", n, later(lambda: W.rosen_hessian_hand(x)))
        ours = {
            "revad.hessian (rev-over-rev)": revad.hessian(f),
            "dualad.jacfwd(revad.grad) (fwd-over-rev)": dualad.jacfwd(revad.grad(f)),
            # forward-over-forward and reverse-over-forward carry n x n x n numbers: 8 GB at n = 1000
            "dualad.hessian (fwd-over-fwd)": dualad.hessian(f) if n <= 200 else None,
            "revad.jacrev(dualad.grad) (rev-over-fwd)": revad.jacrev(dualad.grad(f)) if n <= 200 else None,
        }
        for name, h in ours.items():
            if h is None:
                continue
            got = safe(name, lambda h=h: h(x))
            if got is None:
                continue
            if not np.allclose(got, ref, rtol=1e-9, atol=1e-9):
                NOTES.append(f"hessian n={n}: {name} differs from the exact Hessian by {np.max(np.abs(got - ref)):.3g}")
            put(name, n, later(lambda h=h: h(x)))
        if ag is not None:
            import autograd.numpy as anp
            from autograd import hessian

            ha = hessian(W.make_rosenbrock(anp.sum))
            if safe("autograd.hessian", lambda: ha(x)) is not None:
                put("autograd.hessian", n, later(lambda: ha(x), min_time=0 if n >= 1000 else None))
        if torch is not None:
            ht = torch.func.hessian(W.make_rosenbrock(torch.sum))
            tx = torch.from_numpy(x)
            if safe("torch.func.hessian", lambda: ht(tx)) is not None:
                put("torch.func.hessian", n, later(lambda: ht(tx)))
        if jax is not None:
            import jax.numpy as jnp

            hj = jax.hessian(W.make_rosenbrock(jnp.sum))
            jx = jnp.asarray(x)

            def run_j():
                return jax.block_until_ready(hj(jx))

            if safe("jax.hessian", run_j) is not None:
                put("jax.hessian (eager)", n, later(run_j))
        common.run_pending()

    res = resolve(res)

    note = ("dualad.hessian and revad.jacrev(dualad.grad) are not run at n=1000: both carry an n x n x n "
            "second-order tangent (8 GB)")
    if max(sizes) > 200:
        NOTES.append(note)
    grid("(d) dense Hessian of the n-variable Rosenbrock function, float64", res, sizes, lambda n: f"n={n}",
         ["revad.hessian (rev-over-rev)", "dualad.jacfwd(revad.grad) (fwd-over-rev)"])
    for name in ("revad.hessian (rev-over-rev)", "dualad.jacfwd(revad.grad) (fwd-over-rev)"):
        d = res.get(name, {})
        if 100 in d:
            target(f"hessian n=100: {name} <= 3 ms", d[100], 3e-3, fmt_time(d[100]))
        if 1000 in d:
            target(f"hessian n=1000: {name} <= 60 ms", d[1000], 60e-3, fmt_time(d[1000]))


# ---- (e) per-call overhead ----------------------------------------------------------------------------------------


def bench_overhead(found: dict) -> None:
    """What one gradient call costs beyond its arithmetic: ``x * x`` at a 0-d float64, one multiply recorded."""
    x0 = np.array(0.7)
    sq = lambda x: x * x  # noqa: E731
    res = {}
    res["numpy x * x (no derivative)"] = later(lambda: sq(x0))
    res["hand-written (x * x, 2 * x)"] = later(lambda: (x0 * x0, 2.0 * x0))
    g, vg = revad.grad(sq), revad.value_and_grad(sq)
    res["revad.grad"] = later(lambda: g(x0))
    res["revad.value_and_grad"] = later(lambda: vg(x0))
    res["revad.vjp + pullback"] = later(lambda: revad.vjp(sq, x0)[1](1.0))
    ag = found.get("autograd")
    if ag is not None and safe("autograd.grad", lambda: ag.grad(sq)(0.7)) is not None:
        ga = ag.grad(sq)
        res["autograd.grad"] = later(lambda: ga(0.7))
    torch = found.get("torch")
    if torch is not None:
        xt = torch.tensor(0.7, dtype=torch.float64)
        gt = torch.func.grad(sq)
        if safe("torch.func.grad", lambda: gt(xt)) is not None:
            res["torch.func.grad"] = later(lambda: gt(xt))
    jax = found.get("jax")
    if jax is not None:
        import jax.numpy as jnp

        xj = jnp.asarray(0.7, dtype=jnp.float64)
        gj = jax.jit(jax.grad(sq))
        if safe("jax.jit(jax.grad)", lambda: jax.block_until_ready(gj(xj))) is not None:
            res["jax.jit(jax.grad) (compiled)"] = later(lambda: jax.block_until_ready(gj(xj)))
    if float(g(x0)) != 1.4:
        NOTES.append(f"overhead: revad.grad gave {float(g(x0))}, expected 1.4")
    res = resolve(res)
    print("### (e) Per-call overhead: gradient of x * x at a 0-d float64")
    print()
    mine = res["revad.grad"]
    table(["implementation", "median per call", "revad.grad / this"],
          [[impl, fmt_time(t), fmt_ratio(mine / t)] for impl, t in res.items()])
    target("overhead: revad.grad of x * x <= 8 us per call", mine, 8e-6, fmt_time(mine))


def main() -> None:
    args = common.parse_args(__doc__.splitlines()[0])
    found = common.peers(args)
    common.header("fwdrev reverse-mode benchmarks (revad)", found)
    if common.wanted(args, "chain"):
        bench_chain(found)
    if common.wanted(args, "mlp"):
        bench_mlp(found, [np.float64, np.float32])
    if common.wanted(args, "jacrev"):
        bench_jacrev(found, [16, 64, 256] if CFG.quick else [16, 64, 256, 1024])
    if common.wanted(args, "hessian"):
        bench_hessian(found, [10, 100] if CFG.quick else [10, 100, 1000])
    if common.wanted(args, "overhead"):
        bench_overhead(found)
    if common.wanted(args, "scaling"):
        bench_scaling("revad")
    common.print_targets()


if __name__ == "__main__":
    main()
