"""How loud the speech in a recording is, in dBFS, in bounded memory.

Why: the bundled models lose 8 points of core-4 UAR when a corpus is heard 10 dB quieter and 17
when 20 dB quieter (``train/results/multicorpus/loco-device-w10-microphones.md``; the level is
also an emotion cue, so it cannot simply be taken out: ``session-24-rule.md``); a USB
microphone across a room is easily that much quieter than the close microphones of the training
corpora. The level ``classify --json`` reports lets a user set the capture gain before trusting
a result.
"""

from __future__ import annotations

import numpy as np

from edge.frontend.features import LEVEL_PERCENTILE
from edge.frontend.vad import DIGITAL_SILENCE_DBFS, level_dbfs

STEP_DB = 0.25  # histogram resolution


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

    def level(self, percentile: float = LEVEL_PERCENTILE) -> float | None:
        """The ``percentile``-th frame level in dBFS (None before any frame)."""
        n = int(self._counts.sum())
        if n == 0:
            return None
        k = int(np.searchsorted(np.cumsum(self._counts), np.ceil(percentile / 100 * n)))
        return float(self._edges[min(k, self._edges.size - 1)])


def window_level(rms: np.ndarray, percentile: float = LEVEL_PERCENTILE) -> float | None:
    """:meth:`LevelMeter.level` of one window's frames, exactly (no histogram)."""
    db = level_dbfs(rms)
    db = db[db > DIGITAL_SILENCE_DBFS]
    return float(np.percentile(db, percentile, method="inverted_cdf")) if db.size else None


class LevelAdvice:
    """Says once, in ``listen``, when speech reaches the microphone far from the level the
    models were trained on (the manifest's ``speech.level_dbfs``), or seems not to reach it
    at all: a wrong capture gain is the cheapest accuracy to lose and the easiest to fix."""

    def __init__(self, trained: tuple[float, float] | None, *, margin_db: float = 6.0,
                 speech_windows: int = 20, quiet_windows: int = 120,
                 vad_floor_dbfs: float = -50.0) -> None:
        self.trained = trained
        self.margin_db = margin_db
        self.speech_windows = speech_windows
        self.quiet_windows = quiet_windows
        self.vad_floor_dbfs = vad_floor_dbfs
        self._speech: list[float] = []
        self._loudest = -np.inf
        self._windows = 0
        self.said = False

    @property
    def listening(self) -> bool:
        """Whether a window can still change what it says (callers skip measuring otherwise)."""
        return self.trained is not None and not self.said

    def add(self, speech: bool, level: float | None) -> str | None:
        """One window (is it speech, its level); the advice, the first time there is one."""
        if not self.listening:
            return None
        self._windows += 1
        if level is not None:
            self._loudest = max(self._loudest, level)
            if speech:
                self._speech.append(level)
        low, high = self.trained
        where = f"these models were trained on speech at {low:.0f} to {high:.0f} dBFS"
        fix = "adjust the microphone's capture gain (alsamixer) or its distance"
        if len(self._speech) >= self.speech_windows:
            heard = float(np.median(self._speech))
            self.said = True
            if heard < low - self.margin_db:
                return (f"speech reaches the microphone at {heard:.0f} dBFS, {low - heard:.0f} dB "
                        f"quieter than {where}, and accuracy drops with it: {fix}")
            if heard > high + self.margin_db:
                return (f"speech reaches the microphone at {heard:.0f} dBFS, {heard - high:.0f} dB "
                        f"louder than {where}, and accuracy drops with it: {fix}")
            return None
        if not self._speech and self._windows >= self.quiet_windows \
                and self._loudest < self.vad_floor_dbfs:
            self.said = True
            return (f"no speech heard yet and nothing louder than {self._loudest:.0f} dBFS: "
                    f"if someone spoke, the microphone is too quiet ({where}); {fix}")
        return None
