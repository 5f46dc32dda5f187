"""Waveform preprocessing before the front end, each step switchable in the config.

The device sees raw microphone audio, so by default training changes the recording as little
as the device can reproduce: speech is only *located* (to place windows), never cut out, and
loudness is left alone (gain augmentation and per-window mean removal cover level changes).
Loudness normalisation and spectral-subtraction denoising are here for corpora that need them
(noisy or badly levelled recordings); switching them on for training means the device input
should get the same treatment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import ConfigError
from edge.frontend.config import FrontendConfig


@dataclass(frozen=True)
class PreprocessConfig:
    sr: int = 16000
    vad: bool = True
    loudness: str = "none"   # none | rms | peak
    target_dbfs: float = -23.0
    denoise: bool = False
    resampler: str = "edge"  # edge | librosa

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def load_audio(path: str | Path, cfg: PreprocessConfig) -> np.ndarray:
    """Mono float32 samples at ``cfg.sr``, resampled by edge's resampler or librosa's."""
    if cfg.resampler == "librosa":
        import librosa

        y, _ = librosa.load(str(path), sr=cfg.sr, mono=True)
        return y.astype(np.float32)
    from edge.wav import read_wav

    return np.asarray(read_wav(path, cfg.sr).samples, dtype=np.float32)


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """librosa's band-limited resampling (soxr_hq)."""
    if orig_sr == target_sr:
        return y
    import librosa

    return librosa.resample(y, orig_sr=orig_sr, target_sr=target_sr).astype(np.float32)


def speech_span(y: np.ndarray, fe: FrontendConfig) -> tuple[int, int]:
    """(start, end) sample of the speech found by the device's VAD; whole signal if none."""
    from edge.frontend.vad import speech_span as vad_span

    start, end = vad_span(y, fe)
    if end <= start:
        return 0, len(y)
    return int(start), int(end)


def dbfs(x: np.ndarray, mode: str = "rms") -> float:
    if x.size == 0:
        return -np.inf
    level = np.sqrt(np.mean(np.square(x, dtype=np.float64))) if mode == "rms" else np.max(np.abs(x))
    return float(20 * np.log10(max(level, 1e-10)))


def normalize_loudness(y: np.ndarray, span: tuple[int, int], mode: str, target_dbfs: float
                       ) -> np.ndarray:
    """Scale so the speech part has RMS (or peak) ``target_dbfs``; clip-safe at 0 dBFS peak."""
    if mode == "none":
        return y
    if mode not in ("rms", "peak"):
        raise ConfigError(f"loudness must be none, rms or peak, got {mode!r}")
    level = dbfs(y[span[0]:span[1]], mode)
    if not np.isfinite(level) or level < -90:
        return y
    gain = 10 ** ((target_dbfs - level) / 20)
    peak = float(np.max(np.abs(y))) * gain
    if peak > 1.0:
        gain /= peak
    return (y * gain).astype(np.float32)


def spectral_subtraction(y: np.ndarray, n_fft: int = 512, hop: int = 128, over: float = 1.5,
                         floor: float = 0.05, noise_quantile: float = 0.1) -> np.ndarray:
    """Magnitude spectral subtraction (Boll 1979) with the noise taken from the quietest frames.

    The quietest ``noise_quantile`` of frames estimate the stationary noise; ``over``
    over-subtracts to suppress musical noise and ``floor`` keeps a little of the original
    spectrum so pauses do not become digital silence.
    """
    import librosa

    if len(y) < n_fft:
        return y
    spec = librosa.stft(y, n_fft=n_fft, hop_length=hop)
    mag, phase = np.abs(spec), np.angle(spec)
    energy = mag.sum(axis=0)
    quiet = energy <= np.quantile(energy, noise_quantile)
    noise = mag[:, quiet].mean(axis=1, keepdims=True)
    clean = np.maximum(mag - over * noise, floor * mag)
    out = librosa.istft(clean * np.exp(1j * phase), hop_length=hop, length=len(y))
    return out.astype(np.float32)


def preprocess(y: np.ndarray, cfg: PreprocessConfig, fe: FrontendConfig
               ) -> tuple[np.ndarray, tuple[int, int]]:
    """Apply the enabled steps; return the samples and the speech span (samples)."""
    if cfg.denoise:
        y = spectral_subtraction(y)
    span = speech_span(y, fe) if cfg.vad else (0, len(y))
    y = normalize_loudness(y, span, cfg.loudness, cfg.target_dbfs)
    return y, span
