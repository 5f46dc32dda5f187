"""YIN fundamental frequency, numerically equivalent to ``librosa.yin``.

librosa's recipe (de Cheveigné & Kawahara, 2002, as librosa implements it):

1. autocorrelation ``r`` of each frame by FFT, energy ``E(k) = sum_{m<=k} y[m]^2``;
2. difference function ``d(k) = 2 (r(0) - r(k)) - E(k-1)``, ``d(0) = 0``;
3. cumulative mean normalisation ``d'(k) = d(k) / (mean(d(1..k)) + tiny)`` for the lags
   ``floor(sr/fmax) .. min(ceil(sr/fmin), frame_length-1)``;
4. the first local minimum of ``d'`` below ``trough_threshold`` (the global minimum if none),
   refined by parabolic interpolation; ``f0 = sr / period``.

Like librosa.yin there is no voicing decision: silence and noise yield *some* value (digital
silence gives ``sr / floor(sr / fmax)``). Everything is vectorised over frames and runs in
float64; each frame is computed independently of the others (bit-identical streaming).
"""

from __future__ import annotations

import functools

import numpy as np

from edge.frontend.config import FrontendConfig


def next_fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (scipy.fft.next_fast_len for real input)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            v = p35
            while v < n:
                v *= 2
            best = min(best, v)
            p35 *= 3
        p5 *= 5
    return best


@functools.lru_cache(maxsize=16)
def yin_lags(cfg: FrontendConfig) -> tuple[int, int, int]:
    """(min_period, max_period, fft length) for the config, as librosa.yin computes them."""
    min_period = int(np.floor(cfg.sr / cfg.f0_fmax))
    max_period = min(int(np.ceil(cfg.sr / cfg.f0_fmin)), cfg.f0_frame_length - 1)
    # Lags up to max_period need no more than frame_length + max_period points to avoid
    # circular wrap-around (librosa pads to 2*frame_length-1; values agree to rounding).
    n_fft = next_fast_len(cfg.f0_frame_length + max_period + 1)
    return min_period, max_period, n_fft


def cmnd(frames: np.ndarray, min_period: int, max_period: int, n_fft: int) -> np.ndarray:
    """Cumulative mean normalised difference, rows are frames, columns lags min..max_period."""
    spec = np.fft.rfft(frames, n=n_fft, axis=-1)
    acf = np.fft.irfft(spec.real * spec.real + spec.imag * spec.imag, n=n_fft, axis=-1)
    acf = acf[:, : max_period + 1]
    energy = np.cumsum(np.square(frames[:, :max_period]), axis=-1)
    diff = 2 * (acf[:, :1] - acf[:, 1:]) - energy  # d(1..max_period)
    cumulative_mean = np.cumsum(diff, axis=-1) / np.arange(1, max_period + 1)
    num = diff[:, min_period - 1 :]  # d(min_period..max_period)
    den = cumulative_mean[:, min_period - 1 :]
    return num / (den + np.finfo(den.dtype).tiny)


def yin_from_frames(frames: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    """f0 in Hz, shape ``(T,)`` float64, of frame rows of ``f0_frame_length`` samples."""
    n = frames.shape[0]
    if n == 0:
        return np.empty(0)
    min_period, max_period, n_fft = yin_lags(cfg)
    x = cmnd(np.asarray(frames, dtype=np.float64), min_period, max_period, n_fft)
    # local minima (librosa.util.localmin along lags, with yin's first-lag rule)
    trough = np.empty(x.shape, dtype=bool)
    trough[:, 1:-1] = (x[:, 1:-1] < x[:, :-2]) & (x[:, 1:-1] <= x[:, 2:])
    trough[:, -1] = x[:, -1] < x[:, -2]
    trough[:, 0] = x[:, 0] < x[:, 1]
    below = trough & (x < cfg.trough_threshold)
    idx = np.argmax(below, axis=1)
    none = ~below.any(axis=1)
    idx[none] = np.argmin(x[none], axis=1)
    # parabolic interpolation at the chosen lag (0 at both ends, as librosa)
    rows = np.arange(n)
    inner = (idx > 0) & (idx < x.shape[1] - 1)
    ic = np.clip(idx, 1, x.shape[1] - 2)
    xm, x0, xp = x[rows, ic - 1], x[rows, ic], x[rows, ic + 1]
    a = xp + xm - 2 * x0
    b = (xp - xm) / 2
    ok = inner & (np.abs(b) < np.abs(a))
    shift = np.zeros(n)
    np.divide(-b, a, out=shift, where=ok)
    return cfg.sr / (min_period + idx + shift)

