"""Per-machine cost constants: what one primitive evaluation and one flop cost in seconds, in each engine.

Exact counts say how much work each mode does; they do not say what a unit of work costs here. A primitive call
costs a fixed Python overhead (larger for reverse mode, which also records a tape) plus its arithmetic, so
``time ~ evals x seconds_per_eval + flops x seconds_per_flop``. ``calibrate`` fits those constants once per
machine from medians of timed Jacobians of the dense workload (CPU time, one BLAS thread, pinned, as
``python -m compare`` runs), and caches them as JSON in the user's cache folder (``$FWDREV_CACHE_DIR``, else
``$XDG_CACHE_HOME/fwdrev``, else ``~/.cache/fwdrev``). ``compare.jacobian(mode="auto")`` and
``compare.hessian(mode="auto")`` read them; ``calibrate(force=True)`` or ``python -m compare --recalibrate``
measures again (after a hardware or library change, say; the cache is also redone automatically when Python,
NumPy or the machine type changes).

>>> from compare import calibration
>>> c = calibration.constants()
>>> c.seconds_per_eval["reverse"] > 0 and c.seconds_per_flop["forward"] > 0
True
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["Constants", "constants", "calibrate", "cache_path"]

_VERSION = 1  # bump when the model or the calibration workloads change
_SIZES = ((4, 4), (16, 16), (64, 8), (8, 64), (64, 64), (256, 16), (16, 256))


@dataclass(frozen=True)
class Constants:
    """Seconds per primitive evaluation and per flop, by engine ('forward', 'reverse'), and where they came from."""

    seconds_per_eval: dict
    seconds_per_flop: dict
    machine: str
    measured: str  # when
    source: str = "measured"  # 'measured' just now, or 'cache' (read from cache_path())

    def seconds(self, engine: str, evals: float, flops: float) -> float:
        """Predicted seconds for ``evals`` primitive evaluations doing ``flops`` flops in ``engine``.

        >>> Constants({"forward": 1e-6}, {"forward": 1e-9}, "m", "now").seconds("forward", 10, 1000)
        1.1e-05
        """
        return evals * self.seconds_per_eval[engine] + flops * self.seconds_per_flop[engine]

    def describe(self) -> str:
        """One line: the constants and their origin."""
        return ("per primitive: forward {:.2g} us, reverse {:.2g} us; per flop: forward {:.2g} ns, reverse {:.2g} ns "
                "({} on {}, {})").format(self.seconds_per_eval["forward"] * 1e6, self.seconds_per_eval["reverse"] * 1e6,
                                         self.seconds_per_flop["forward"] * 1e9, self.seconds_per_flop["reverse"] * 1e9,
                                         "calibrated" if self.source == "measured" else "cached calibration",
                                         self.machine, self.measured)


def _machine_key() -> str:
    return (f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, NumPy {np.__version__}").replace("  ", " ")


def cache_path() -> Path:
    """Where the constants are cached: ``$FWDREV_CACHE_DIR``, ``$XDG_CACHE_HOME/fwdrev`` or ``~/.cache/fwdrev``.

    >>> cache_path().name
    'calibration.json'
    """
    root = os.environ.get("FWDREV_CACHE_DIR")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                            "fwdrev")
    return Path(root) / "calibration.json"


def _fit(rows: list[tuple[float, float, float]]) -> tuple[float, float]:
    """Least squares of time = evals * a + flops * b in relative error (every row counts alike), a, b > 0."""
    A = np.array([[e / t, f / t] for e, f, t in rows])
    a, b = np.linalg.lstsq(A, np.ones(len(rows)), rcond=None)[0]
    if a <= 0 or b <= 0:  # one term explains everything: fit the other alone, keep a tiny positive floor
        a = max(a, 0.0)
        b = max(b, 0.0)
        if a == 0:
            b = float(np.median([t / f for e, f, t in rows]))
            a = 1e-9
        if b == 0:
            a = float(np.median([t / e for e, f, t in rows]))
            b = 1e-13
    return float(a), float(b)


def calibrate(force: bool = False, repeats: int = 5) -> Constants:
    """The machine's constants: read from the cache, or measured (and cached) when missing, stale or ``force``.

    Examples
    --------
    >>> calibrate().seconds_per_eval["forward"] > 0
    True
    """
    path = cache_path()
    key = _machine_key()
    if not force and path.exists():
        try:
            data = json.loads(path.read_text())
            if data.get("version") == _VERSION and data.get("machine") == key:
                return Constants(data["seconds_per_eval"], data["seconds_per_flop"], key, data["measured"], "cache")
        except (OSError, ValueError, KeyError):
            pass  # unreadable or from another version: measure again below
    from . import cost, workloads
    from .conditions import controlled

    samples: dict[str, list] = {"forward": [], "reverse": []}
    with controlled(threads=1), cost.using_clock("process"):  # CPU time: a busy machine calibrates like a quiet one
        for n, m in _SIZES:
            f, args = workloads.build("dense", n=n, m=m)
            for strategy in ("forward-vec", "reverse-vec", "forward-1", "reverse-1"):
                if strategy.endswith("-1") and max(n, m) > 64:
                    continue  # loops over many directions add time, not information
                row = cost.count(f, args, strategy)
                t = cost.time_stats(cost.jacobian_fn(f, strategy), *args, repeats=repeats, max_seconds=0.2)
                samples[row["mode"]].append((row["ops"], row["flops"], t["time_s"]))
    fitted = {mode: _fit(rows) for mode, rows in samples.items()}
    measured = time.strftime("%Y-%m-%d %H:%M")
    result = Constants({k: v[0] for k, v in fitted.items()}, {k: v[1] for k, v in fitted.items()}, key, measured)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": _VERSION, **{k: v for k, v in asdict(result).items() if k != "source"}}
        path.write_text(json.dumps(payload, indent=1))
    except OSError:
        pass  # a read-only home: the constants still serve this process
    return result


_CACHED: Constants | None = None


def constants() -> Constants:
    """The constants for this process: calibrated (or read from the cache) on first use, then kept.

    >>> constants() is constants()
    True
    """
    global _CACHED
    if _CACHED is None:
        _CACHED = calibrate()
    return _CACHED


def reset(new: Constants | None = None) -> None:
    """Forget this process's constants (the next ``constants()`` reads the cache again), or set ``new``."""
    global _CACHED
    _CACHED = new
