"""benchmarks/audio_conditions.py: each named change alters audio the way its name says, the
same way for the same file every time, and a wrong name is one line."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.audio_conditions import condition

SR = 16000


def tones(*freqs: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.2 * sum(np.sin(2 * np.pi * f * t) for f in freqs)).astype(np.float32)


def power_at(y: np.ndarray, freq: float) -> float:
    spec = np.abs(np.fft.rfft(y)) ** 2
    return float(spec[round(freq * len(y) / SR)])


@pytest.mark.parametrize("spec", ["telephone", "cheap_mic", "reverb", "noise:20", "gain:-6"])
def test_each_condition_changes_audio_reproducibly(spec: str) -> None:
    y = tones(440.0)
    change = condition(spec)
    out = change(y, SR, "a.wav")
    assert out.dtype == np.float32 and out.shape == y.shape
    assert np.all(np.abs(out) <= 1.0) and not np.allclose(out, y, atol=1e-3)
    np.testing.assert_array_equal(out, change(y, SR, "a.wav"))


def test_what_the_names_say() -> None:
    y = tones(100.0, 1000.0)
    phone = condition("telephone")(y, SR, "a.wav")
    # the band keeps 1 kHz and takes 100 Hz away
    assert power_at(phone, 100.0) < 0.01 * power_at(y, 100.0)
    assert power_at(phone, 1000.0) > 0.5 * power_at(y, 1000.0)
    quiet = condition("gain:-6")(y, SR, "a.wav")
    np.testing.assert_allclose(quiet, y * 10 ** (-6 / 20), rtol=1e-5, atol=1e-7)
    noisy = condition("noise:20")(y, SR, "a.wav")
    snr = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean((noisy - y) ** 2.0))
    assert 19.0 < snr < 21.0
    # files get their own noise, rooms and microphones
    assert not np.allclose(noisy, condition("noise:20")(y, SR, "b.wav"))


@pytest.mark.parametrize("spec", ["hum", "noise", "noise:loud", "telephone:3"])
def test_a_wrong_condition_is_one_line(spec: str) -> None:
    with pytest.raises(SystemExit, match="error: "):
        condition(spec)


def test_the_changed_table_has_each_change_and_the_mean() -> None:
    from benchmarks.audio_conditions import changed_table

    rows = {"a": {"clean": 0.5, "room": 0.4}, "b": {"clean": 0.3, "room": 0.3}}
    lines = changed_table("corpus", rows, ["room"])
    assert lines[0] == "| corpus | clean | room |"
    assert lines[2:] == ["| a | 50.0 | 40.0 (-10.0) |", "| b | 30.0 | 30.0 (+0.0) |",
                         "| mean | 40.0 | 35.0 (-5.0) |"]
