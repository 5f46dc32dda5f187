"""How loud the speech in a recording is, in dBFS, in bounded memory.

Why: the models lose 7 points of core-4 UAR when a corpus is heard 10 dB quieter and 16 when
20 dB quieter (``train/results/multicorpus/loco-device-r5-level.md``); a USB microphone across
a room is easily that much quieter than the close microphones of the training corpora. The
level ``classify --json`` reports lets a user set the capture gain before trusting a result.
"""

from __future__ import annotations

import numpy as np

from edge.frontend.vad import DIGITAL_SILENCE_DBFS, level_dbfs

STEP_DB = 0.25  # histogram resolution
#: the percentile of frame levels reported: the loud part of speech, which a recording with
#: speech in at least 1 frame of 20 reaches whatever its pauses hold
PERCENTILE = 95.0


class LevelMeter:
    """A histogram of frame levels (dBFS, from the front end's per-frame RMS); digital
    silence (zero padding, a muted input) is left out."""

    def __init__(self) -> None:
        self._edges = np.arange(DIGITAL_SILENCE_DBFS, STEP_DB / 2, STEP_DB)
        self._counts = np.zeros(self._edges.size, dtype=np.int64)

    def add(self, rms: np.ndarray) -> None:
        db = level_dbfs(rms)
        idx = np.searchsorted(self._edges, db[db > DIGITAL_SILENCE_DBFS], side="right") - 1
        np.add.at(self._counts, np.clip(idx, 0, self._edges.size - 1), 1)

    def level(self, percentile: float = PERCENTILE) -> float | None:
        """The ``percentile``-th frame level in dBFS (None before any frame)."""
        n = int(self._counts.sum())
        if n == 0:
            return None
        k = int(np.searchsorted(np.cumsum(self._counts), np.ceil(percentile / 100 * n)))
        return float(self._edges[min(k, self._edges.size - 1)])
