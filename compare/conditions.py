"""The conditions a measurement runs under: set them (BLAS/OpenMP threads, CPU affinity) and record them.

Wall times depend on the machine as much as on the modes: on a busy 2-core machine a BLAS library left at its
default thread count can make one Jacobian 40x slower than with one thread, and batching then looks slower than
looping. So everything that times (``python -m compare``, ``compare.calibrate``) runs inside ``controlled``:
threads are set with ``threadpoolctl`` (which works after NumPy has loaded, unlike environment variables), the
process is pinned to as many CPUs as threads where the OS allows it, and what was set, what was found (BLAS
vendor, library versions, load of the machine at start and end) is kept in a ``Conditions`` record that the
summary and the CSV print.

>>> from compare import conditions
>>> with conditions.controlled(threads=1) as cond:
...     pass
>>> cond.threads, cond.blas_threads_ok
(1, True)
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Conditions", "controlled", "versions", "load_average", "prepare_peers", "HIGH_SPREAD"]

# a timed row whose slowest repeat took more than this many times its fastest is "spread" (noisy)
HIGH_SPREAD = 2.0
_LIBRARIES = ("numpy", "scipy", "sympy", "matplotlib", "threadpoolctl")
_PEER_LIBRARIES = ("jax", "torch", "autograd")


@dataclass
class Conditions:
    """What a timed run was set to and what it found: see ``controlled``."""

    threads: int
    cpus: list[int]  # the CPUs the process was allowed to run on while measuring
    pinned: bool  # True when the affinity was set by us (Linux), False when the OS does not allow it
    cpu_count: int
    blas: list[dict[str, Any]]  # one entry per thread pool found by threadpoolctl: api, vendor, version, threads
    versions: dict[str, str]
    load_start: tuple[float, float, float] | None
    load_end: tuple[float, float, float] | None = None
    started: str = ""
    clock: str = "wall"  # what the timings measured: "wall" or "process" (CPU time), see compare.cost.CLOCKS
    python: str = field(default_factory=platform.python_version)
    machine: str = field(default_factory=lambda: f"{platform.platform()}, {platform.processor() or platform.machine()}")

    @property
    def blas_threads_ok(self) -> bool:
        """True when every BLAS/OpenMP pool found runs at most ``threads`` threads."""
        return all(p["num_threads"] <= self.threads for p in self.blas)

    @property
    def high_load(self) -> bool:
        """True when the 1-minute load at start or end left fewer free CPUs than the run uses.

        Load counts runnable processes, our own included once the run is going; with ``cpu_count`` CPUs and
        ``threads`` threads of ours, more than ``cpu_count - threads + 0.5`` others means we shared a CPU.
        """
        loads = [ld[0] for ld in (self.load_start, self.load_end) if ld is not None]
        return bool(loads) and max(loads) > self.cpu_count - self.threads + 0.5

    def blas_text(self) -> str:
        """The thread pools in one line, e.g. 'openblas 0.3.31 (blas, 1 thread)'."""
        if not self.blas:
            return "no BLAS/OpenMP thread pool found by threadpoolctl"
        return "; ".join(f"{p['internal_api']} {p.get('version') or ''} ({p['user_api']}, {p['num_threads']} "
                         f"thread{'s' if p['num_threads'] != 1 else ''})".replace("  ", " ") for p in self.blas)

    def load_text(self) -> str:
        """Load averages at start and end, e.g. '0.52 -> 1.96 (1, 5, 15 min: ...)'."""
        def one(ld):
            return "n/a" if ld is None else ", ".join(f"{v:.2f}" for v in ld)
        return f"start {one(self.load_start)}; end {one(self.load_end)} (1, 5, 15-minute averages)"

    def record(self) -> dict[str, Any]:
        """Flat columns for the CSV: the same settings on every measurement row."""
        return {"threads": self.threads, "clock": self.clock, "cpus": " ".join(map(str, self.cpus)),
                "pinned": self.pinned,
                "blas": self.blas_text(), "load_start_1min": None if self.load_start is None else self.load_start[0],
                "load_end_1min": None if self.load_end is None else self.load_end[0],
                **{f"version_{k}": v for k, v in self.versions.items()}}


def load_average() -> tuple[float, float, float] | None:
    """The 1, 5 and 15-minute load averages, or None where the OS has none (Windows).

    >>> ld = load_average()
    >>> ld is None or len(ld) == 3
    True
    """
    try:
        return tuple(round(v, 2) for v in os.getloadavg())  # type: ignore[return-value]
    except (AttributeError, OSError):
        return None


def versions(peers: bool = False) -> dict[str, str]:
    """Python and library versions; ``peers=True`` adds JAX, PyTorch and autograd where importable.

    >>> versions()["python"] == platform.python_version()
    True
    """
    found = {"python": platform.python_version()}
    for name in _LIBRARIES + (_PEER_LIBRARIES if peers else ()):
        try:
            module = importlib.import_module(name)
        except Exception:  # not installed here: recorded as such
            found[name] = "not installed"
            continue
        try:
            found[name] = str(getattr(module, "__version__", None) or importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


def _allowed_cpus() -> list[int] | None:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def _cpu_busy(cpus: list[int], seconds: float = 0.2) -> dict[int, float]:
    """Busy fraction of each CPU over ``seconds`` (from /proc/stat); empty where there is no /proc/stat."""
    def sample():
        out = {}
        with open("/proc/stat") as fh:
            for line in fh:
                name, *fields = line.split()
                if name.startswith("cpu") and name != "cpu":
                    values = [int(v) for v in fields]
                    out[int(name[3:])] = (values[3] + values[4], sum(values))  # idle + iowait, total
        return out
    try:
        first = sample()
        time.sleep(seconds)
        second = sample()
    except (OSError, ValueError):
        return {}
    busy = {}
    for cpu in cpus:
        if cpu in first and cpu in second:
            idle = second[cpu][0] - first[cpu][0]
            total = second[cpu][1] - first[cpu][1]
            busy[cpu] = 1.0 - idle / total if total > 0 else 0.0
    return busy


def _pick_cpus(allowed: list[int], threads: int) -> list[int]:
    # the least busy CPUs right now: a fixed choice would put every concurrent run (and their other work) on the
    # same CPU; ties go to the highest-numbered ones, as CPU 0 takes most interrupts
    busy = _cpu_busy(allowed)
    ranked = sorted(allowed, key=lambda c: (round(busy.get(c, 0.0), 1), -c))
    return sorted(ranked[:threads])


def prepare_peers(threads: int) -> None:
    """Give JAX (which reads its thread flags when it loads) and PyTorch (its own pool) ``threads`` threads."""
    if "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags and threads == 1:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def controlled(threads: int = 1, pin: bool = True) -> Iterator[Conditions]:
    """Run the block with ``threads`` BLAS/OpenMP threads, pinned to ``threads`` CPUs where the OS allows it.

    Yields a ``Conditions`` record; its ``load_end`` is filled in when the block ends. The previous thread
    limits and affinity are restored afterwards.

    Examples
    --------
    >>> import numpy as np
    >>> with controlled(threads=1) as cond:
    ...     _ = np.ones((50, 50)) @ np.ones((50, 50))
    >>> cond.load_end is None or len(cond.load_end) == 3
    True
    """
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"compare.conditions.controlled: threads must be a positive integer, got {threads!r}")
    from threadpoolctl import threadpool_info, threadpool_limits

    prepare_peers(threads)
    allowed = _allowed_cpus()
    pinned = False
    if pin and allowed is not None:
        chosen = _pick_cpus(allowed, threads) if threads < len(allowed) else allowed
        try:
            os.sched_setaffinity(0, set(chosen))
            pinned = True
        except OSError:
            pinned = False
    with threadpool_limits(limits=threads):
        cond = Conditions(threads=threads, cpus=_allowed_cpus() or list(range(os.cpu_count() or 1)), pinned=pinned,
                          cpu_count=os.cpu_count() or 1,
                          blas=[{k: p.get(k) for k in ("user_api", "internal_api", "version", "num_threads")}
                                for p in threadpool_info()],
                          versions=versions(), load_start=load_average(),
                          started=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
        try:
            yield cond
        finally:
            cond.load_end = load_average()
            if pinned and allowed is not None:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(0, set(allowed))
