"""Voice-activity detection on generated scenes: tone bursts in noise, fricatives, silence."""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import ConfigError
from edge.frontend import FrontendConfig
from edge.frontend.features import compute_bases
from edge.frontend.vad import (
    StreamingVad,
    VadConfig,
    is_speech_window,
    level_dbfs,
    speech_frames,
    speech_span,
)

SR = 16000
CFG = FrontendConfig()
BURSTS = ((0.5, 0.9), (1.6, 2.0), (2.8, 3.3))  # seconds


def noise(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    return 10 ** (dbfs / 20) * np.random.default_rng(seed).standard_normal(int(SR * seconds))


def tone_bursts(noise_dbfs: float = -50.0, tone_amp: float = 0.1, seed: int = 0) -> np.ndarray:
    y = noise(4.0, noise_dbfs, seed)
    t = np.arange(y.size) / SR
    for a, b in BURSTS:
        m = (t >= a) & (t < b)
        y[m] += tone_amp * np.sin(2 * np.pi * 180 * t[m]) * (1 + 0.3 * np.sin(2 * np.pi * 900
                                                                               * t[m]))
    return y.astype(np.float32)


def feats(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = compute_bases(y, CFG, ("rms", "zcr"))
    return f["rms"], f["zcr"]


def frame_times(n: int) -> np.ndarray:
    return np.arange(n) * CFG.hop_length / SR


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize(("noise_dbfs", "tone_amp"), [(-50.0, 0.1), (-35.0, 0.1), (-60.0, 0.01)])
def test_tone_bursts_in_noise_are_found(causal: bool, noise_dbfs: float, tone_amp: float) -> None:
    rms, zcr = feats(tone_bursts(noise_dbfs, tone_amp))
    mask = speech_frames(rms, zcr, CFG, causal=causal)
    t = frame_times(mask.size)
    hang = VadConfig().hangover_ms / 1000
    for a, b in BURSTS:
        inside = (t >= a + 0.05) & (t <= b - 0.05)
        assert mask[inside].all(), (a, b)
    outside = np.ones(mask.size, bool)
    for a, b in BURSTS:
        outside &= (t < a - 0.04) | (t > b + hang + 0.04)
    assert not mask[outside].any()


@pytest.mark.parametrize("causal", [False, True])
def test_silence_and_stationary_noise_are_not_speech(causal: bool) -> None:
    scenes = {
        "digital silence": np.zeros(SR * 2, np.float32),
        "faint hiss": noise(2, -70).astype(np.float32),
        "loud white noise": noise(2, -15).astype(np.float32),
        "hum": (0.2 * np.sin(2 * np.pi * 50 * np.arange(2 * SR) / SR)).astype(np.float32),
    }
    for name, y in scenes.items():
        rms, zcr = feats(y)
        assert not speech_frames(rms, zcr, CFG, causal=causal).any(), name
        if not causal:
            assert speech_span(y, CFG) == (0, 0), name


def test_loud_tone_above_a_silent_floor_needs_the_absolute_level() -> None:
    """A -60 dBFS tone over -90 dBFS hiss is 30 dB above the floor but below -50 dBFS."""
    rms, zcr = feats(tone_bursts(-90.0, 10 ** (-57 / 20)))
    assert not speech_frames(rms, zcr, CFG).any()
    assert speech_frames(rms, zcr, CFG, VadConfig(min_level_dbfs=-70.0)).any()


def test_weak_fricative_counts_through_its_zero_crossing_rate() -> None:
    base = noise(2.0, -55, seed=3)
    hiss = np.diff(noise(0.4, -40, seed=4), prepend=0.0)  # high-passed: a /s/, zcr ~0.6
    hiss *= 10 ** (-48 / 20) / hiss.std()
    hum = 10 ** (-48 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 120 * np.arange(hiss.size) / SR)
    # both ~7.8 dB above the floor: over fricative_threshold_db, under threshold_db
    a = base.copy()
    a[SR // 2 : SR // 2 + hiss.size] += hiss
    b = base.copy()
    b[SR // 2 : SR // 2 + hum.size] += hum
    fricative = speech_frames(*feats(a.astype(np.float32)), CFG)
    voiced_weak = speech_frames(*feats(b.astype(np.float32)), CFG)
    assert fricative.sum() > 30  # ~0.4 s of 10 ms frames
    assert voiced_weak.sum() == 0  # low zcr: needs the full threshold_db


def test_causal_detector_is_the_same_frame_by_frame_and_recovers_after_muting() -> None:
    y = np.concatenate([noise(1.0, -40, 5), np.zeros(SR), noise(1.0, -40, 6),
                        tone_bursts(-40.0, 0.2, seed=7)]).astype(np.float32)
    rms, zcr = feats(y)
    whole = speech_frames(rms, zcr, CFG, causal=True)
    vad = StreamingVad(CFG)
    parts = [vad.update(rms[i : i + 7], zcr[i : i + 7]) for i in range(0, rms.shape[0], 7)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    t = frame_times(whole.size)
    assert not whole[t < 3.0].any()  # noise, muted input (zeros), noise again: no speech
    assert whole[t >= 3.0].sum() > 100  # the bursts after it are found
    assert vad.noise_floor_dbfs is not None and -45 < vad.noise_floor_dbfs < -40


def test_speech_span_brackets_the_bursts() -> None:
    y = tone_bursts()
    start, end = speech_span(y, CFG)
    reach = CFG.n_fft // 2 + 0.1 * SR  # half a frame + margin_ms
    first, last = BURSTS[0][0] * SR, BURSTS[-1][1] * SR
    hang = VadConfig().hangover_ms / 1000 * SR
    assert first - reach - 2 * CFG.hop_length <= start <= first - reach + 2 * CFG.hop_length
    assert last + reach <= end <= last + hang + reach + 2 * CFG.hop_length
    # trimming keeps every burst
    assert 0 < start < end < y.size


def test_window_gate_and_levels() -> None:
    assert not is_speech_window(np.zeros(100, bool))
    assert not is_speech_window(np.r_[np.ones(10, bool), np.zeros(90, bool)])
    assert is_speech_window(np.r_[np.ones(30, bool), np.zeros(70, bool)])
    assert not is_speech_window(np.zeros(0, bool))
    np.testing.assert_allclose(level_dbfs(np.array([1.0, 0.1, 0.0])), [0.0, -20.0, -120.0])
    with pytest.raises(ConfigError, match="disagree"):
        speech_frames(np.ones(5), np.ones(4), CFG)


@pytest.mark.parametrize("bad", [dict(threshold_db=3.0, fricative_threshold_db=5.0),
                                 dict(fricative_zcr=1.5), dict(min_level_dbfs=5.0),
                                 dict(floor_window_s=0.0), dict(hangover_ms=-1.0),
                                 dict(min_speech_fraction=2.0)])
def test_vad_config_refuses_nonsense(bad: dict) -> None:
    with pytest.raises(ConfigError):
        VadConfig(**bad)
