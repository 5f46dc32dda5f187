"""Switchable preprocessing: speech location, loudness, denoising, resampling."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("librosa")

from edge.frontend.config import FrontendConfig
from train.preprocess import (
    PreprocessConfig,
    dbfs,
    normalize_loudness,
    preprocess,
    resample,
    spectral_subtraction,
)
from train.synthetic import tone


def clip(sr: int = 16000) -> tuple[np.ndarray, int, int]:
    rng = np.random.default_rng(0)
    y = rng.normal(0, 0.003, 3 * sr).astype(np.float32)
    sp = tone(2, 1, 1.2, sr, rng)
    start = sr
    y[start:start + len(sp)] += sp
    return y, start, start + len(sp)


def test_vad_locates_speech_without_cutting() -> None:
    y, s, e = clip()
    out, span = preprocess(y, PreprocessConfig(), FrontendConfig())
    assert len(out) == len(y) and np.array_equal(out, y)  # nothing cut, level untouched
    # the VAD adds its margin and hangover (~0.3 s) around the speech
    assert abs(span[0] - s) < 0.2 * 16000 and abs(span[1] - e) < 0.4 * 16000
    _, whole = preprocess(y, PreprocessConfig(vad=False), FrontendConfig())
    assert whole == (0, len(y))


@pytest.mark.parametrize("mode", ["rms", "peak"])
def test_loudness_to_target_over_speech(mode: str) -> None:
    y, s, e = clip()
    out = normalize_loudness(y * 0.1, (s, e), mode, -20.0)
    assert dbfs(out[s:e], mode) == pytest.approx(-20.0, abs=0.01)
    loud = normalize_loudness(y, (s, e), mode, 6.0)  # would clip: capped at 0 dBFS peak
    assert np.max(np.abs(loud)) <= 1.0 + 1e-6


def test_spectral_subtraction_lowers_noise_floor() -> None:
    y, s, e = clip()
    noisy = y + np.random.default_rng(1).normal(0, 0.02, len(y)).astype(np.float32)
    clean = spectral_subtraction(noisy)
    assert len(clean) == len(noisy)
    assert dbfs(clean[: s - 2000]) < dbfs(noisy[: s - 2000]) - 6  # silence got quieter
    assert dbfs(clean[s:e]) > dbfs(noisy[s:e]) - 3  # speech kept


def test_resample_with_librosa() -> None:
    y, _, _ = clip(22050)
    out = resample(y, 22050, 16000)
    assert abs(len(out) - round(len(y) * 16000 / 22050)) <= 1
