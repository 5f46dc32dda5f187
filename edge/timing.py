"""Per-stage wall times for ``edge-ser bench``, injected around the pipeline's stages.

The pipeline's data path has no clock calls: :meth:`StageTimer.instrument` replaces its stage
methods with timed wrappers, only when a timer is given. Each analysed window then gets one
value per stage (``frontend``: its share of the streaming front end plus assembling and
normalising its features; ``member:<name>``, ``members``, ``vote``, ``decide``) and ``window``,
their sum.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable
from functools import wraps
from typing import Any

import numpy as np


class StageTimer:
    """Wall time per stage and per window, in seconds: the last ``keep`` values of each stage.

    Values live in a fixed ring of doubles per stage, so a listener that runs for weeks keeps
    the same few hundred kilobytes (a list of Python floats grew by ~1 MB per hour of audio).
    """

    def __init__(self, keep: int = 4096, clock: Callable[[], float] = time.perf_counter) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.keep = keep
        self.clock = clock
        self._rings: dict[str, array] = {}
        self._counts: dict[str, int] = {}
        self._current: dict[str, float] = {}  # stages of the window being analysed
        self._pending = 0.0  # front-end time not yet charged to a window
        self._shares: list[float] = []  # front-end shares of windows already cut

    # ---- recording -------------------------------------------------------------------------
    def add(self, stage: str, seconds: float) -> None:
        ring = self._rings.get(stage)
        if ring is None:
            ring = self._rings[stage] = array("d")
            self._counts[stage] = 0
        n = self._counts[stage]
        if n < self.keep:
            ring.append(seconds)
        else:
            ring[n % self.keep] = seconds
        self._counts[stage] = n + 1

    def reset(self) -> None:
        self._rings.clear()
        self._counts.clear()

    def timed(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn``, its time added to ``stage`` of the current window."""
        clock, current = self.clock, self._current

        @wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                current[stage] = current.get(stage, 0.0) + clock() - t0
        return run

    def timed_source(self, fn: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
        """``fn`` returns the windows a chunk completed: its time is shared among them (and
        carried over to later windows when it completed none)."""
        clock = self.clock

        @wraps(fn)
        def run(*args: Any, **kwargs: Any) -> list[Any]:
            t0 = clock()
            out = fn(*args, **kwargs)
            self._pending += clock() - t0
            if out:
                share = self._pending / len(out)
                self._shares.extend([share] * len(out))
                self._pending = 0.0
            return out
        return run

    def timed_window(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` analyses one window: its stages (and the window's front-end share) are
        recorded once it returns, with their sum as ``window``."""
        clock, current = self.clock, self._current

        @wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            current.clear()
            current["frontend"] = self._shares.pop(0) if self._shares else 0.0
            t0 = clock()
            out = fn(*args, **kwargs)
            total = clock() - t0 + current["frontend"]
            for stage, seconds in current.items():
                self.add(stage, seconds)
            self.add("window", total)
            current.clear()
            return out
        return run

    # ---- reading ---------------------------------------------------------------------------
    @property
    def samples(self) -> dict[str, list[float]]:
        """The kept values per stage, oldest first."""
        out = {}
        for stage, ring in self._rings.items():
            start = self._counts[stage] % len(ring) if len(ring) == self.keep else 0
            out[stage] = ring[start:].tolist() + ring[:start].tolist()
        return out

    def summary(self) -> dict[str, dict[str, float]]:
        """Per stage: count, median, p95, p99, mean and max, in milliseconds (of the kept values;
        ``count`` is every value ever added)."""
        out = {}
        for stage, ring in self._rings.items():
            if not ring:
                continue
            v = np.frombuffer(ring, dtype=np.float64) * 1e3
            out[stage] = {
                "count": int(self._counts[stage]),
                "median_ms": float(np.median(v)),
                "p95_ms": float(np.percentile(v, 95)),
                "p99_ms": float(np.percentile(v, 99)),
                "mean_ms": float(v.mean()),
                "max_ms": float(v.max()),
            }
        return out
