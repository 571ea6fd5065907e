"""Shared benchmark helpers: one-CPU pinning, a median-of-repeats timer, optional peers and table printing.

Import this module FIRST (before numpy, torch or jax): it sets the thread environment variables that the
BLAS libraries and XLA read when they load, and pins the process to one CPU (JAX ignores its thread flags,
so the affinity mask is what actually keeps it on one core).
"""

from __future__ import annotations

import os
import sys

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                "NUMEXPR_NUM_THREADS")
for _name in _THREAD_VARS:
    os.environ[_name] = "1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
try:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
except (AttributeError, OSError):  # not Linux: the thread variables are all we can do
    pass

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

# ---- options -------------------------------------------------------------------------------------------------


class Config:
    """Timing effort; ``--quick`` shrinks it for a smoke run."""

    quick = False
    repeats = 7  # timed repeats; the median is reported
    min_time = 0.05  # each repeat runs the call enough times to last at least this long (seconds)
    warmup = 2  # untimed calls first (JIT compilation, caches, lazy imports)
    timer = time.perf_counter  # wall clock; --cpu-time switches to time.process_time
    timer_name = "time.perf_counter (wall clock)"


CFG = Config()


def parse_args(description: str, extra=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fast smoke run: fewer sizes, fewer repeats")
    parser.add_argument("--no-peers", action="store_true", help="skip torch, jax and autograd")
    parser.add_argument("--only", default="", help="comma-separated section names to run (default: all)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with time.process_time (CPU time of the process, all threads) instead of the "
                             "wall clock: steadier on a shared, loaded machine")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    if args.quick:
        CFG.quick = True
        CFG.repeats = 3
        CFG.min_time = 0.005
        CFG.warmup = 1
    if args.cpu_time:
        CFG.timer = time.process_time
        CFG.timer_name = "time.process_time (CPU time of the process)"
    return args


def wanted(args, section: str) -> bool:
    return not args.only or section in [s.strip() for s in args.only.split(",")]


# ---- timing ---------------------------------------------------------------------------------------------------


def measure(fn, *, repeats: int | None = None, min_time: float | None = None, warmup: int | None = None) -> float:
    """Median wall time of one call of ``fn()`` in seconds (time.perf_counter).

    ``warmup`` untimed calls, then ``repeats`` timed repeats; each repeat runs ``fn`` ``number`` times, with
    ``number`` chosen from the last warm-up call so that one repeat lasts at least ``min_time``. The garbage
    collector stays on (AD libraries allocate many small objects, and a user pays for collecting them) but a
    full collection is made before timing starts.
    """
    clock = CFG.timer
    repeats = CFG.repeats if repeats is None else repeats
    min_time = CFG.min_time if min_time is None else min_time
    warmup = CFG.warmup if warmup is None else warmup
    single = 0.0
    for _ in range(max(warmup, 1)):
        t0 = clock()
        fn()
        single = clock() - t0
    number = max(1, int(min_time / max(single, 1e-9)))
    gc.collect()
    times = []
    for _ in range(repeats):
        t0 = clock()
        for _ in range(number):
            fn()
        times.append((clock() - t0) / number)
    return statistics.median(times)


class Pending:
    """A measurement queued by ``later`` and taken by ``run_pending`` together with the others queued."""

    __slots__ = ("fn", "repeats", "min_time", "warmup", "number", "times", "value")

    def __init__(self, fn, repeats, min_time, warmup):
        self.fn, self.repeats, self.min_time, self.warmup = fn, repeats, min_time, warmup
        self.number, self.times, self.value = 1, [], None


_PENDING: list[Pending] = []


def later(fn, *, repeats: int | None = None, min_time: float | None = None, warmup: int | None = None) -> Pending:
    """Queue a measurement of ``fn()``; ``run_pending`` takes all queued ones round-robin.

    Interleaving the repeats of the implementations being compared (instead of timing one after the other)
    keeps their ratios fair when the machine's load changes during the run: each repeat of every
    implementation sees the same conditions. Same statistics as ``measure``: the median of the repeats.
    """
    p = Pending(fn, CFG.repeats if repeats is None else repeats, CFG.min_time if min_time is None else min_time,
                CFG.warmup if warmup is None else warmup)
    _PENDING.append(p)
    return p


def run_pending() -> None:
    """Take every queued measurement: warm-up and calibration each, then the timed repeats in round-robin."""
    clock = CFG.timer
    queue = list(_PENDING)
    _PENDING.clear()
    for p in queue:
        single = 0.0
        for _ in range(max(p.warmup, 1)):
            t0 = clock()
            p.fn()
            single = clock() - t0
        p.number = max(1, int(p.min_time / max(single, 1e-9)))
    gc.collect()
    for r in range(max((p.repeats for p in queue), default=0)):
        for p in queue:
            if r >= p.repeats:
                continue
            fn, number = p.fn, p.number
            t0 = clock()
            for _ in range(number):
                fn()
            p.times.append((clock() - t0) / number)
    for p in queue:
        p.value = statistics.median(p.times)
        p.fn = None


def resolve(obj):
    """Replace every ``Pending`` in nested dicts by its measured value (running the queue first if needed)."""
    if _PENDING:
        run_pending()
    if isinstance(obj, Pending):
        return obj.value
    if isinstance(obj, dict):
        return {k: resolve(v) for k, v in obj.items()}
    return obj


def peak_memory(fn) -> int:
    """Peak bytes traced by tracemalloc during one call of ``fn()`` (NumPy reports its buffers to tracemalloc),
    above what was allocated before the call."""
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
        del out
    finally:
        tracemalloc.stop()
    return peak - base


# ---- peers ----------------------------------------------------------------------------------------------------

NOTES: list[str] = []


def load_peer(name: str):
    """Import an optional peer (torch, jax, autograd) configured for one thread and float64, or None with a note."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken install
        NOTES.append(f"{name} is not importable ({type(exc).__name__}: {exc}); its columns are skipped")
        return None
    if name == "torch":
        mod.set_num_threads(1)
        try:
            mod.set_num_interop_threads(1)
        except RuntimeError:  # already set, or parallel work already started
            pass
        importlib.import_module("torch.func")
    elif name == "jax":
        mod.config.update("jax_enable_x64", True)
        mod.config.update("jax_platforms", "cpu")
    return mod


def peers(args) -> dict:
    if args.no_peers:
        NOTES.append("peers skipped (--no-peers)")
        return {}
    out = {}
    for name in ("autograd", "torch", "jax"):
        mod = load_peer(name)
        if mod is not None:
            out[name] = mod
    return out


def versions(found: dict) -> str:
    parts = [f"python {platform.python_version()}", f"numpy {np.__version__}"]
    for name in ("torch", "jax", "autograd"):
        mod = found.get(name)
        if mod is None:
            parts.append(f"{name} (not loaded)")
            continue
        ver = getattr(mod, "__version__", None)
        if ver is None:
            try:
                from importlib.metadata import version

                ver = version(name)
            except Exception:
                ver = "?"
        parts.append(f"{name} {ver}")
    if "jax" in found:
        try:
            import jaxlib

            parts.append(f"jaxlib {jaxlib.__version__}")
        except Exception:
            pass
    return ", ".join(parts)


def header(title: str, found: dict) -> None:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    aff = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"# {title}")
    print()
    print(f"- {versions(found)}")
    print(f"- CPU: {cpu}; pinned to CPU(s) {aff}; OMP/MKL/OPENBLAS threads = 1"
          f"{'; --quick' if CFG.quick else ''}")
    try:
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"- load average at start (1/5/15 min): {load} on {os.cpu_count()} CPUs (the machine may be shared)")
    except OSError:
        pass
    print(f"- timing: median of {CFG.repeats} repeats, each >= {CFG.min_time * 1e3:g} ms, after {CFG.warmup} "
          f"warm-up call(s), implementations interleaved round-robin; {CFG.timer_name}")
    print()
    sys.stdout.flush()


# ---- formatting -----------------------------------------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "-"
    return f"{r:.3g}x"


def fmt_bytes(b: int | None) -> str:
    if b is None:
        return "-"
    if b < 1024 ** 2:
        return f"{b / 1024:.1f} KiB"
    return f"{b / 1024 ** 2:.2f} MiB"


def table(headers: list[str], rows: list[list[str]]) -> None:
    """A Markdown table, columns padded for reading in a terminal."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
    print()
    sys.stdout.flush()


def grid(title: str, results: dict, cols: list, col_label, ours: list[str], base: str | None = None,
         unit=fmt_time) -> None:
    """Print ``results[impl][col]`` (seconds) as a table, then the ratios of each of ``ours`` to every row.

    ``ours / row`` < 1 means ours is faster than that row.
    """
    print(f"### {title}")
    print()
    impls = list(results)
    table(["implementation"] + [col_label(c) for c in cols],
          [[impl] + [unit(results[impl].get(c)) for c in cols] for impl in impls])
    for mine in ours:
        if mine not in results:
            continue
        rows = []
        for impl in impls:
            if impl == mine:
                continue
            cells = []
            for c in cols:
                a, b = results[mine].get(c), results[impl].get(c)
                cells.append(fmt_ratio(a / b) if a is not None and b else "-")
            rows.append([f"{mine} / {impl}"] + cells)
        if rows:
            print(f"Ratios (time of `{mine}` divided by the row's; < 1 means `{mine}` is faster):")
            print()
            table(["ratio"] + [col_label(c) for c in cols], rows)


TARGETS: list[tuple[str, bool | None, str]] = []


def target(label: str, value: float | None, limit: float, shown: str, *, below: bool = True) -> None:
    """Record whether ``value`` meets ``limit`` (``value <= limit`` if ``below`` else ``value >= limit``)."""
    if value is None:
        TARGETS.append((label, None, "not measured"))
        return
    ok = value <= limit if below else value >= limit
    TARGETS.append((label, ok, shown))


def print_targets() -> None:
    if TARGETS:
        print("### Targets")
        print()
        table(["target", "status", "measured"],
              [[label, "n/a" if ok is None else ("MET" if ok else "MISSED"), shown] for label, ok, shown in TARGETS])
    if NOTES:
        print("### Notes")
        print()
        for n in NOTES:
            print(f"- {n}")
        print()
    sys.stdout.flush()


def safe(label: str, fn):
    """Run a peer's setup or measurement; on failure, note it and return None instead of stopping the run."""
    try:
        return fn()
    except Exception as exc:
        NOTES.append(f"{label} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")
        return None
