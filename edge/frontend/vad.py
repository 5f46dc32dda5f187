"""Energy + zero-crossing voice-activity detection on front-end frames (NumPy only).

Used twice: training trims leading/trailing silence with :func:`speech_span`; the device
gates decisions with :class:`StreamingVad` (no speech in a window, no emotion).

A frame is speech when its level (RMS in dBFS: ``20 log10(rms)``, full-scale sine = -3 dBFS)

* is above an absolute floor ``min_level_dbfs`` (digital silence and faint hiss never count),
* and is ``threshold_db`` above the noise floor, or only ``fricative_threshold_db`` above it
  with a zero-crossing rate above ``fricative_zcr`` (unvoiced consonants such as /s/ are weak
  but noisy; Rabiner & Sambur's classic use of the ZCR).

The noise floor adapts: on a stream (``causal=True``, the device) it is the minimum level over
the last ``floor_window_s`` seconds ("minimum statistics": speech has pauses, noise does not,
so the minimum tracks noise and follows a louder noise within that window; dips only a frame
or three wide are bridged first, they are frames half in muted input, not noise); for a whole
clip (``causal=False``, training) it is the ``floor_percentile`` percentile of all frame
levels. Digital silence is left out of both (see DIGITAL_SILENCE_DBFS). A stream must start
with some non-speech for the causal floor to settle (the device starts listening before
anyone speaks). Runs shorter than ``min_speech_ms`` are dropped and speech is held for
``hangover_ms`` after it ends, so word-internal dips do not chop an utterance.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edge.errors import ConfigError
from edge.frontend.config import FrontendConfig
from edge.frontend.features import compute_bases

#: Levels are clamped here so that digital silence (rms 0) has a finite level.
SILENCE_DBFS = -120.0

#: Frames below this are digital silence (zeros, muted input, zero padding): never speech, and
#: left out of the noise-floor estimate, which would otherwise collapse to -120 dBFS and make
#: the first noise after a muted stretch look like speech.
DIGITAL_SILENCE_DBFS = -100.0


@dataclass(frozen=True)
class VadConfig:
    """Thresholds of the detector (dB relative to the noise floor unless marked dBFS)."""

    threshold_db: float = 10.0
    fricative_threshold_db: float = 5.0
    fricative_zcr: float = 0.25
    min_level_dbfs: float = -50.0
    floor_window_s: float = 2.0
    floor_percentile: float = 10.0
    min_speech_ms: float = 30.0
    hangover_ms: float = 200.0
    margin_ms: float = 100.0
    min_speech_fraction: float = 0.25

    def __post_init__(self) -> None:
        if not self.threshold_db >= self.fricative_threshold_db >= 0:
            raise ConfigError("need threshold_db >= fricative_threshold_db >= 0")
        if not 0 < self.fricative_zcr < 1:
            raise ConfigError("fricative_zcr must be in (0, 1)")
        if not SILENCE_DBFS < self.min_level_dbfs <= 0:
            raise ConfigError(f"min_level_dbfs must be in ({SILENCE_DBFS}, 0]")
        if not 0 <= self.floor_percentile <= 100:
            raise ConfigError("floor_percentile must be in [0, 100]")
        if not self.floor_window_s > 0:
            raise ConfigError("floor_window_s must be positive")
        if min(self.min_speech_ms, self.hangover_ms, self.margin_ms) < 0:
            raise ConfigError("min_speech_ms, hangover_ms and margin_ms must be >= 0")
        if not 0 <= self.min_speech_fraction <= 1:
            raise ConfigError("min_speech_fraction must be in [0, 1]")


def level_dbfs(rms: np.ndarray) -> np.ndarray:
    """Frame RMS in dBFS (float64), clamped at SILENCE_DBFS."""
    r = np.asarray(rms, dtype=np.float64).reshape(-1)
    return np.maximum(20.0 * np.log10(np.maximum(r, 1e-300)), SILENCE_DBFS)


def _ms_to_frames(ms: float, cfg: FrontendConfig) -> int:
    return round(ms * 1e-3 * cfg.frames_per_second)


def _raw_decision(level: np.ndarray, zcr: np.ndarray, floor: np.ndarray | float,
                  vad: VadConfig) -> np.ndarray:
    above = level - floor
    loud = above > vad.threshold_db
    fricative = (above > vad.fricative_threshold_db) & (zcr > vad.fricative_zcr)
    return (level > vad.min_level_dbfs) & (loud | fricative)


class StreamingVad:
    """Causal detector: feed frames as they come, get one decision per frame."""

    def __init__(self, cfg: FrontendConfig, vad: VadConfig | None = None) -> None:
        self.cfg = cfg
        self.vad = vad or VadConfig()
        self._window = max(1, _ms_to_frames(1000 * self.vad.floor_window_s, cfg))
        self._min_run = max(1, _ms_to_frames(self.vad.min_speech_ms, cfg))
        self._hang = _ms_to_frames(self.vad.hangover_ms, cfg)
        # frames whose analysis window can straddle one instant, plus one: dips narrower than
        # this (frames half in muted input, clicks) are bridged before the minimum is taken
        self._span = -(-cfg.n_fft // cfg.hop_length) + 1
        self.reset()

    def reset(self) -> None:
        self._t = 0
        self._recent: deque[float] = deque(maxlen=self._span)  # last audible levels
        self._mins: deque[tuple[int, float]] = deque()  # (frame, level), increasing levels
        self._run = 0
        self._hold = 0

    @property
    def noise_floor_dbfs(self) -> float | None:
        return self._mins[0][1] if self._mins else None

    def update(self, rms: np.ndarray, zcr: np.ndarray) -> np.ndarray:
        """Decisions for the next frames (``rms`` and ``zcr`` of shape (n,) or (n, 1))."""
        level = level_dbfs(rms)
        z = np.asarray(zcr, dtype=np.float64).reshape(-1)
        if z.shape != level.shape:
            raise ConfigError(f"rms and zcr disagree on the number of frames: "
                              f"{level.shape[0]} vs {z.shape[0]}")
        out = np.zeros(level.shape[0], dtype=bool)
        for i, (lv, zc) in enumerate(zip(level.tolist(), z.tolist(), strict=True)):
            # floor = sliding minimum (monotonic deque) over `window` frames of the running
            # maximum over `span` consecutive audible frames; digital silence breaks a run
            if lv > DIGITAL_SILENCE_DBFS:
                self._recent.append(lv)
                if len(self._recent) == self._span:
                    bridged = max(self._recent)
                    while self._mins and self._mins[-1][1] >= bridged:
                        self._mins.pop()
                    self._mins.append((self._t, bridged))
            else:
                self._recent.clear()
            while self._mins and self._mins[0][0] <= self._t - self._window:
                self._mins.popleft()
            floor = self._mins[0][1] if self._mins else lv
            raw = bool(_raw_decision(np.float64(lv), np.float64(zc), floor, self.vad))
            self._run = self._run + 1 if raw else 0
            if self._run >= self._min_run:
                self._hold = self._hang
                out[i] = True
            elif self._hold > 0:
                self._hold -= 1
                out[i] = True
            self._t += 1
        return out


def speech_frames(rms: np.ndarray, zcr: np.ndarray, cfg: FrontendConfig,
                  vad: VadConfig | None = None, causal: bool = False) -> np.ndarray:
    """Boolean speech mask, one value per frame, from the front end's rms and zcr bases.

    ``causal=True`` gives exactly what :class:`StreamingVad` gives frame by frame; the
    default uses the whole clip (percentile noise floor, runs judged whole).
    """
    vad = vad or VadConfig()
    if causal:
        return StreamingVad(cfg, vad).update(rms, zcr)
    level = level_dbfs(rms)
    z = np.asarray(zcr, dtype=np.float64).reshape(-1)
    if z.shape != level.shape:
        raise ConfigError(f"rms and zcr disagree on the number of frames: "
                          f"{level.shape[0]} vs {z.shape[0]}")
    audible = level[level > DIGITAL_SILENCE_DBFS]
    if audible.size == 0:
        return np.zeros(level.shape[0], dtype=bool)
    floor = float(np.percentile(audible, vad.floor_percentile))
    raw = _raw_decision(level, z, floor, vad)
    min_run = max(1, _ms_to_frames(vad.min_speech_ms, cfg))
    hang = _ms_to_frames(vad.hangover_ms, cfg)
    mask = np.zeros_like(raw)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], raw.astype(np.int8), [0]))))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start >= min_run:
            mask[start : min(stop + hang, raw.size)] = True
    return mask


def speech_gate(ratio: float, min_fraction: float) -> bool:
    """The one speech gate (device, file scoring, training windows): a window is classified
    when at least ``min_fraction`` of its frames are speech, and never when none is."""
    return ratio > 0.0 and ratio >= min_fraction


def is_speech_window(mask: np.ndarray, vad: VadConfig | None = None) -> bool:
    """The device gate: does a window's mask hold enough speech to classify it?"""
    vad = vad or VadConfig()
    m = np.asarray(mask, dtype=bool)
    return bool(m.size) and speech_gate(float(m.mean()), vad.min_speech_fraction)


def speech_span(y: np.ndarray, cfg: FrontendConfig,
                vad: VadConfig | None = None) -> tuple[int, int]:
    """``(start, end)`` sample range holding the speech of a clip, for trimming silence.

    The range runs from half an analysis window plus ``margin_ms`` before the first speech
    frame's centre to the same after the last one (clipped to the clip). ``(0, 0)`` means
    no speech was found; the caller decides whether to keep or drop such a clip.
    """
    vad = vad or VadConfig()
    feats = compute_bases(y, cfg, ("rms", "zcr"))
    mask = speech_frames(feats["rms"], feats["zcr"], cfg, vad)
    if not mask.any():
        return 0, 0
    hits = np.flatnonzero(mask)
    offset = 0 if cfg.center else cfg.n_fft // 2
    reach = cfg.n_fft // 2 + round(vad.margin_ms * 1e-3 * cfg.sr)
    n = np.asarray(y).shape[0]
    start = max(0, int(hits[0]) * cfg.hop_length + offset - reach)
    end = min(n, int(hits[-1]) * cfg.hop_length + offset + reach)
    return start, end
