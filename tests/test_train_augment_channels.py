"""Channel, codec and speed augmentations: each does what its name says to a signal, only
when asked, and older cached copies keep their keys."""

from __future__ import annotations

import numpy as np
import pytest

from train.augment import AugmentConfig, augment_waveform, cheap_mic, codec, speed, telephone

SR = 16000


def tone(freq: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def power(y: np.ndarray) -> float:
    return float(np.mean(np.square(y[SR // 10:])))


def test_telephone_passes_speech_band_and_stops_the_rest() -> None:
    rng = np.random.default_rng(0)
    assert power(telephone(tone(1000), SR, rng)) > 0.5 * power(tone(1000))
    assert power(telephone(tone(100), SR, rng)) < 0.05 * power(tone(100))
    assert power(telephone(tone(6000), SR, rng)) < 0.05 * power(tone(6000))


def test_cheap_mic_cuts_rumble_and_keeps_level() -> None:
    rng = np.random.default_rng(1)
    low = cheap_mic(tone(30), SR, rng)
    assert power(low) < 0.2 * power(tone(30))
    mid = cheap_mic(tone(1000), SR, np.random.default_rng(2))
    assert np.max(np.abs(mid)) <= np.max(np.abs(tone(1000))) + 1e-6


def test_speed_changes_length_and_pitch_together() -> None:
    y = speed(tone(440), 1.1)
    assert len(y) == pytest.approx(SR / 1.1, rel=0.01)
    f = np.argmax(np.abs(np.fft.rfft(y))) * SR / len(y)
    assert f == pytest.approx(440 * 1.1, rel=0.01)


def test_codec_quantises_like_8_bit_mu_law() -> None:
    y = codec(tone(440), np.random.default_rng(5))
    assert len(np.unique(np.round(y, 6))) <= 256  # 8 bits
    assert np.corrcoef(y, tone(440))[0, 1] > 0.95


def test_new_augmentations_run_only_when_asked_and_keep_old_cache_keys() -> None:
    base = AugmentConfig(pitch_semitones=0, stretch_min=1, stretch_max=1, snr_max_db=0,
                         gain_db=0)
    assert "speed_prob" not in base.to_dict()  # an older copy's key is unchanged
    y = tone(440)
    same, params = augment_waveform(y, SR, base, np.random.default_rng(0))
    assert params == {"gain_db": 0.0} and np.allclose(same, y)
    every = AugmentConfig(pitch_semitones=0, stretch_min=1, stretch_max=1, snr_max_db=0,
                          gain_db=0, speed_prob=1, telephone_prob=1, eq_prob=1, codec_prob=1)
    assert every.to_dict()["speed_prob"] == 1
    _, params = augment_waveform(y, SR, every, np.random.default_rng(0))
    assert {"speed", "telephone", "eq", "codec"} <= set(params)
