"""Model windows: starts, per-window assembly (deltas see only their window), normalisation,
padding of short audio."""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import ConfigError
from edge.frontend import FrontendConfig, feature_dim
from edge.frontend.features import assemble, compute_bases, delta
from edge.frontend.windows import (
    fill_with_speech,
    fit_normalization,
    frame_windows,
    min_samples,
    normalize,
    pad_to_window,
    window_frames,
    window_starts,
)


def audio(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.2 * np.sin(2 * np.pi * 150 * t) + 0.01 * rng.standard_normal(t.size)).astype(
        np.float32)


def test_window_starts() -> None:
    assert window_starts(10, 4, 2) == [0, 2, 4, 6]
    assert window_starts(11, 4, 2) == [0, 2, 4, 6]  # a tail shorter than a hop is dropped
    assert window_starts(4, 4, 3) == [0]
    assert window_starts(3, 4, 1) == []
    assert window_starts(301, 300, 50) == [0]
    with pytest.raises(ConfigError):
        window_starts(10, 0, 1)
    with pytest.raises(ConfigError):
        window_starts(10, 4, 0)


def test_window_frames_matches_the_manifest_rule() -> None:
    manifest = pytest.importorskip("edge.manifest")
    for cfg in (FrontendConfig(), FrontendConfig(sr=8000, n_fft=256, win_length=200,
                                                 hop_length=80, f0_frame_length=512)):
        for seconds in (0.5, 1.0, 2.5, 3.0, 3.0049):
            assert window_frames(cfg, seconds) == manifest.window_frames(cfg, seconds)


def test_frame_windows_assembles_each_window_separately() -> None:
    cfg = FrontendConfig()
    kind = "mfcc_d+rms"
    bases = compute_bases(audio(2.0), cfg, ("mfcc", "rms", "zcr"))
    w, hop = 50, 30
    x = frame_windows(bases, cfg, kind, w, hop)
    starts = window_starts(bases["mfcc"].shape[0], w, hop)
    assert x.shape == (len(starts), w, feature_dim(cfg, kind)) and x.dtype == np.float32
    for i, s in enumerate(starts):
        want = assemble({b: v[s : s + w] for b, v in bases.items()}, cfg, kind)
        np.testing.assert_array_equal(x[i], want)
    # base columns are plain slices; delta columns are per window, so they differ from the
    # whole-signal deltas at the window edges (but not in the middle)
    s = starts[1]
    np.testing.assert_array_equal(x[1, :, :40], bases["mfcc"][s : s + w])
    whole = delta(bases["mfcc"], cfg.delta_width, 1)[s : s + w]
    h = cfg.delta_width // 2
    np.testing.assert_array_equal(x[1, h:-h, 40:80], whole[h:-h])
    assert not np.allclose(x[1, :h, 40:80], whole[:h])
    with pytest.raises(ConfigError, match="pitch"):
        frame_windows(bases, cfg, "pitch", w, hop)


def test_frame_windows_of_too_short_features_is_empty() -> None:
    cfg = FrontendConfig()
    bases = compute_bases(audio(0.2), cfg, ("mfcc",))
    x = frame_windows(bases, cfg, "mfcc", 100, 50)
    assert x.shape == (0, 100, 40)


def test_normalize() -> None:
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    out = normalize(x, [1.0, 2.0, 3.0], [2.0, 0.0, 4.0])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0], (x[:, 0] - 1) / 2)
    np.testing.assert_allclose(out[:, 1], x[:, 1] - 2)  # std 0: a constant feature, kept
    np.testing.assert_allclose(out[:, 2], (x[:, 2] - 3) / 4)
    with pytest.raises(ConfigError, match="3 values"):
        normalize(x, [0.0, 1.0], [1.0, 1.0])
    windows = np.random.default_rng(0).normal(5.0, 3.0, size=(20, 50, 3))
    windows[..., 2] = 7.0
    mean, std = fit_normalization(windows)
    flat = windows.reshape(-1, 3)
    np.testing.assert_allclose(mean, flat.mean(axis=0))
    np.testing.assert_allclose(std[:2], flat.std(axis=0)[:2])
    assert std[2] == 1e-6  # floored: the manifest requires positive std
    z = normalize(windows, mean, std)
    np.testing.assert_allclose(z.reshape(-1, 3).mean(axis=0), 0, atol=1e-5)


@pytest.mark.parametrize("center", [True, False])
def test_pad_to_window_centres_short_audio_in_exactly_one_window(center: bool) -> None:
    cfg = FrontendConfig(center=center)
    seconds = 1.0
    frames = window_frames(cfg, seconds)
    for n in (0, 1, 1601, 15000, min_samples(cfg, frames) - 1):
        y = audio(n / 16000, seed=n)[:n] + 0.5  # offset marks the original samples
        padded = pad_to_window(y, cfg, seconds)
        assert padded.dtype == np.float32
        assert padded.shape[0] == min_samples(cfg, frames)
        assert cfg.n_frames(padded.shape[0]) == frames
        left = int(np.argmax(padded != 0)) if n else padded.shape[0] // 2
        right = padded.shape[0] - n - left
        assert abs(left - right) <= 1  # symmetric
        np.testing.assert_array_equal(padded[left : left + n], y)
        assert not padded[:left].any() and not padded[left + n :].any()
        bases = compute_bases(padded, cfg, ("mfcc",))
        assert frame_windows(bases, cfg, "mfcc", frames, frames).shape[0] == 1
    long = audio(1.5)
    np.testing.assert_array_equal(pad_to_window(long, cfg, seconds), long)


def test_fill_with_speech_leaves_only_speech_frames_in_order() -> None:
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    flags = np.array([0, 0, 1, 1, 1, 0, 0, 1, 0, 0], bool)
    out = fill_with_speech(x, flags)
    assert out.shape == x.shape
    np.testing.assert_array_equal(out[:, 0] // 2, [2, 3, 4, 7, 2, 3, 4, 7, 2, 3])
    # the window's statistics become those of its speech (up to the repeat's remainder)
    assert set(out[:, 0] // 2) == {2, 3, 4, 7}
    for flags in (np.zeros(10, bool), np.ones(10, bool)):  # nothing to fill from / to
        assert fill_with_speech(x, flags) is x
    with pytest.raises(ConfigError, match="one speech flag per frame"):
        fill_with_speech(x, flags[:5])
