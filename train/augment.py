"""Data augmentation, for training actors only.

Models memorise speakers; augmentation that moves pitch, tempo, level and noise makes the
training actors sound like more speakers and was worth +6 to +10 UAR points (BASELINE.md).
Waveform augmentation makes extra *copies* of a file (copy 0 is always the clean recording);
feature augmentation (SpecAugment masks, mixup) is applied per batch while fitting.
Nothing here is ever called on validation or test data: :func:`copies_for_split` is the one
place that decides, and it returns only the clean copy for anything but ``"train"``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    copies: int = 3
    pitch_semitones: float = 2.0
    stretch_min: float = 0.9
    stretch_max: float = 1.1
    snr_min_db: float = 5.0
    snr_max_db: float = 30.0
    gain_db: float = 6.0
    reverb_prob: float = 0.0
    #: speed perturbation (resampling: tempo and pitch together, Ko et al. 2015)
    speed_prob: float = 0.0
    speed_min: float = 0.9
    speed_max: float = 1.1
    #: the channels a home device meets: telephone band, a cheap microphone's EQ, a codec
    telephone_prob: float = 0.0
    eq_prob: float = 0.0
    codec_prob: float = 0.0
    seed: int = 1

    def to_dict(self) -> dict[str, Any]:
        # settings added later are left out at their defaults: older cached copies stay valid
        d = dict(self.__dict__)
        for f in _LATER:
            if d[f.name] == f.default:
                del d[f.name]
        return d


_LATER = [f for f in fields(AugmentConfig)
          if f.name.startswith(("speed_", "telephone_", "eq_", "codec_"))]


@dataclass(frozen=True)
class SpecAugmentConfig:
    time_masks: int = 2
    time_width: int = 25
    freq_masks: int = 2
    freq_width: int = 5


def copies_for_split(split: str, cfg: AugmentConfig) -> list[int]:
    """Copy indices used for a split: 0 (clean) plus 1..copies for ``"train"`` only."""
    if split == "train":
        return list(range(cfg.copies + 1))
    return [0]


def copy_rng(key: str, copy: int, seed: int) -> np.random.Generator:
    """A generator fixed by file, copy and seed, so a cached copy is reproducible."""
    digest = hashlib.sha256(f"{key}|{copy}|{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def add_noise(y: np.ndarray, snr_db: float, rng: np.random.Generator,
              span: tuple[int, int] | None = None) -> np.ndarray:
    """White-ish noise at ``snr_db`` relative to the speech power (not the silence's)."""
    ref = y[span[0]:span[1]] if span and span[1] > span[0] else y
    power = float(np.mean(np.square(ref, dtype=np.float64))) if ref.size else 0.0
    if power <= 0:
        return y
    # pink-ish noise: white noise through a one-pole low-pass, then scaled to the SNR
    from scipy.signal import lfilter

    white = rng.standard_normal(len(y))
    a = rng.uniform(0.0, 0.9)
    coloured = lfilter([1 - a], [1, -a], white)
    noise = coloured / (np.sqrt(np.mean(coloured**2)) + 1e-12)
    noise *= np.sqrt(power / 10 ** (snr_db / 10))
    return (y + noise).astype(np.float32)


def reverb(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic exponentially decaying room response (RT60 0.2-0.7 s)."""
    from scipy.signal import fftconvolve

    rt60 = rng.uniform(0.2, 0.7)
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[0] = 1.0
    ir /= np.sqrt(np.sum(ir**2))
    out = fftconvolve(y, ir)[: len(y)]
    peak = np.max(np.abs(out)) + 1e-12
    return (out * min(1.0, np.max(np.abs(y)) / peak)).astype(np.float32)


#: ``fn(samples, sr, rng)``: one of this module's changes, drawing from ``rng``.
RandomChange = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def noise_between(low_db: float, high_db: float) -> RandomChange:
    """:func:`add_noise` at an SNR drawn from ``[low_db, high_db]`` by the change's own rng."""
    return lambda y, sr, rng: add_noise(y, float(rng.uniform(low_db, high_db)), rng)


def per_file(fn: RandomChange, copy: int, seed: int
             ) -> Callable[[np.ndarray, int, str], np.ndarray]:
    """``fn`` as a change of a recording (samples, sr, path), its generator fixed by the file,
    ``copy`` and ``seed`` (:func:`copy_rng`; so a rerun changes every file the same way), the
    result clipped to [-1, 1] as a converter would. Benchmark conditions and the copies that
    fits outside the trainer learn from are all made here."""
    return lambda y, sr, path: np.clip(fn(y, sr, copy_rng(path, copy, seed)), -1.0, 1.0
                                       ).astype(np.float32)


def speed(y: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (pitch follows), by linear-phase resampling."""
    from scipy.signal import resample_poly

    up = 100
    down = max(1, round(up * factor))
    return resample_poly(y, up, down).astype(np.float32)


def telephone(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A narrowband phone line: 300-3400 Hz (edges jittered), as G.712 channels pass."""
    from scipy.signal import butter, sosfilt

    lo, hi = rng.uniform(250, 400), min(rng.uniform(3200, 3600), 0.45 * sr)
    sos = butter(4, [lo, hi], btype="bandpass", fs=sr, output="sos")
    return sosfilt(sos, y).astype(np.float32)


def cheap_mic(y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A cheap microphone: a rumble high-pass, a presence peak or dip and a tilt (+-6 dB)."""
    from scipy.signal import butter, lfilter, sosfilt

    sos = butter(2, rng.uniform(80, 300), btype="highpass", fs=sr, output="sos")
    out = sosfilt(sos, y)
    # a peaking biquad (RBJ cookbook) somewhere in 1-5 kHz
    f0, gain_db, q = rng.uniform(1000, min(5000, 0.4 * sr)), rng.uniform(-6, 6), rng.uniform(0.7, 2)
    a_lin, w0 = 10 ** (gain_db / 40), 2 * np.pi * f0 / sr
    alpha = np.sin(w0) / (2 * q)
    b = [1 + alpha * a_lin, -2 * np.cos(w0), 1 - alpha * a_lin]
    a = [1 + alpha / a_lin, -2 * np.cos(w0), 1 - alpha / a_lin]
    out = lfilter(b, a, out)
    tilt = rng.uniform(-0.5, 0.5)  # first order: brighter (pre-emphasis) or duller (one pole)
    t = abs(tilt)
    out = lfilter([1.0, -t], [1.0], out) if tilt > 0 else lfilter([1 - t], [1.0, -t], out)
    peak = np.max(np.abs(out)) + 1e-12
    return (out * min(1.0, np.max(np.abs(y)) / peak)).astype(np.float32)


def codec(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Codec-like damage: 8-bit mu-law (G.711) companding, sometimes with hard clipping."""
    mu = 255.0
    x = np.clip(y, -1, 1)
    if rng.uniform() < 0.3:  # a level too hot for the converter
        limit = rng.uniform(0.3, 0.8) * (np.max(np.abs(x)) + 1e-12)
        x = np.clip(x, -limit, limit) / limit * np.max(np.abs(y))
    c = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    c = np.round(c * 127) / 127
    return (np.sign(c) * ((1 + mu) ** np.abs(c) - 1) / mu).astype(np.float32)


def augment_waveform(y: np.ndarray, sr: int, cfg: AugmentConfig, rng: np.random.Generator,
                     span: tuple[int, int] | None = None) -> tuple[np.ndarray, dict[str, float]]:
    """One random augmented copy: pitch shift, time stretch, reverb, noise, gain."""
    import librosa

    params: dict[str, float] = {}
    steps = float(rng.uniform(-cfg.pitch_semitones, cfg.pitch_semitones))
    if cfg.pitch_semitones > 0 and abs(steps) > 0.05:
        y = librosa.effects.pitch_shift(y, sr=sr, n_steps=steps)
        params["pitch"] = steps
    rate = float(rng.uniform(cfg.stretch_min, cfg.stretch_max))
    if abs(rate - 1) > 0.005:
        y = librosa.effects.time_stretch(y, rate=rate)
        if span:
            span = (int(span[0] / rate), int(span[1] / rate))
        params["stretch"] = rate
    if cfg.speed_prob > 0 and rng.uniform() < cfg.speed_prob:
        factor = float(rng.uniform(cfg.speed_min, cfg.speed_max))
        y = speed(y, factor)
        if span:
            span = (int(span[0] / factor), int(span[1] / factor))
        params["speed"] = factor
    if cfg.reverb_prob > 0 and rng.uniform() < cfg.reverb_prob:
        y = reverb(y, sr, rng)
        params["reverb"] = 1.0
    if cfg.eq_prob > 0 and rng.uniform() < cfg.eq_prob:
        y = cheap_mic(y, sr, rng)
        params["eq"] = 1.0
    if cfg.telephone_prob > 0 and rng.uniform() < cfg.telephone_prob:
        y = telephone(y, sr, rng)
        params["telephone"] = 1.0
    if cfg.snr_max_db > 0:
        snr = float(rng.uniform(cfg.snr_min_db, cfg.snr_max_db))
        y = add_noise(y, snr, rng, span)
        params["snr_db"] = snr
    gain = float(rng.uniform(-cfg.gain_db, cfg.gain_db))
    y = y * 10 ** (gain / 20)
    params["gain_db"] = gain
    if cfg.codec_prob > 0 and rng.uniform() < cfg.codec_prob:
        y = codec(y, rng)
        params["codec"] = 1.0
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 1.0:  # a real microphone clips; keep the copy in range instead
        y = y / peak
    return np.asarray(y, dtype=np.float32), params


def spec_augment(x: np.ndarray, cfg: SpecAugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Time and frequency masks (Park et al. 2019) on a batch of normalised windows [n, T, D].

    Masked values are set to 0, the training mean after normalisation.
    """
    x = x.copy()
    n, t, d = x.shape
    for i in range(n):
        for _ in range(cfg.time_masks):
            w = int(rng.integers(0, cfg.time_width + 1))
            if w and w < t:
                s = int(rng.integers(0, t - w))
                x[i, s:s + w, :] = 0
        for _ in range(cfg.freq_masks):
            w = int(rng.integers(0, cfg.freq_width + 1))
            if w and w < d:
                s = int(rng.integers(0, d - w))
                x[i, :, s:s + w] = 0
    return x


def mixup(x: np.ndarray, y: np.ndarray, alpha: float, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray]:
    """Convex combinations of shuffled pairs (Zhang et al. 2018); ``y`` is one-hot/soft."""
    if alpha <= 0 or len(x) < 2:
        return x, y
    lam = rng.beta(alpha, alpha, size=(len(x), 1)).astype(np.float32)
    lam = np.maximum(lam, 1 - lam)  # keep the original sample dominant
    perm = rng.permutation(len(x))
    xm = lam[:, :, None] * x + (1 - lam[:, :, None]) * x[perm]
    ym = lam * y + (1 - lam) * y[perm]
    return xm.astype(x.dtype), ym.astype(y.dtype)
