"""The spectral-shape and flatness base features: what each descriptor measures, and that gain
cannot move it.

Their agreement with librosa's STFT and mel filterbank is in test_frontend_parity.py, its
streaming equality in test_streaming.py (both run every base kind).
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.frontend import FrontendConfig, compute_base, compute_features, feature_dim
from edge.frontend.spectral import (
    SHAPE_NAMES,
    flatness_from_logmel,
    mel_band_centres,
    shape_from_logmel,
)

CFG = FrontendConfig()
COL = {name: i for i, name in enumerate(SHAPE_NAMES)}


def one_frame(db: np.ndarray, prev: np.ndarray | None = None) -> dict[str, float]:
    cur = db[None, :].astype(np.float32)
    before = cur if prev is None else prev[None, :].astype(np.float32)
    row = shape_from_logmel(before, cur, CFG)[0]
    return {name: float(row[i]) for name, i in COL.items()}


def test_a_flat_spectrum_has_no_slope_and_the_most_entropy() -> None:
    hz = mel_band_centres(CFG)
    got = one_frame(np.full(CFG.n_mels, -20.0))
    assert got["slope"] == pytest.approx(0.0, abs=1e-6)
    assert got["hammarberg"] == pytest.approx(0.0, abs=1e-6)
    assert got["entropy"] == pytest.approx(np.log(CFG.n_mels), rel=1e-5)
    assert got["centroid"] == pytest.approx(hz.mean() / 1000.0, rel=1e-5)
    lo, mid = (hz < 1000).sum(), ((hz >= 1000) & (hz < 5000)).sum()
    assert got["alpha_ratio"] == pytest.approx(10 * np.log10(lo / mid), abs=1e-4)
    assert got["flux"] == pytest.approx(0.0, abs=1e-6)


def test_slope_is_the_db_per_khz_of_a_tilted_spectrum_below_5_khz() -> None:
    hz = mel_band_centres(CFG)
    tilted = -6.0 * hz / 1000.0  # -6 dB per kHz everywhere
    got = one_frame(tilted)
    assert got["slope"] == pytest.approx(-6.0, rel=1e-4)
    # energy falls with frequency: more of it below 1 kHz, a lower centroid than flat
    flat = one_frame(np.zeros(CFG.n_mels))
    assert got["alpha_ratio"] > flat["alpha_ratio"]
    assert got["centroid"] < flat["centroid"]
    assert got["hammarberg"] > 0


def test_a_peak_lowers_entropy_and_flux_measures_change_not_level() -> None:
    peak = np.full(CFG.n_mels, -60.0)
    peak[10] = 0.0
    assert one_frame(peak)["entropy"] < 0.1
    base = np.linspace(-10, -40, CFG.n_mels)
    assert one_frame(base, prev=base + 12.0)["flux"] == pytest.approx(0.0, abs=1e-5)
    moved = base.copy()
    moved[:5] += 8.0
    expected = np.abs((moved - moved.mean()) - (base - base.mean())).mean()
    assert one_frame(moved, prev=base)["flux"] == pytest.approx(expected, rel=1e-5)


def test_gain_does_not_move_the_shape_of_speech() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(CFG.sr) / CFG.sr
    y = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t))
         + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
    loud = compute_base(y, CFG, "shape")
    quiet = compute_base(y * np.float32(0.05), CFG, "shape")
    np.testing.assert_allclose(quiet, loud, atol=2e-3)
    # and it is not constant: the tone's spectrum differs from white noise's
    noise = compute_base((0.1 * rng.standard_normal(CFG.sr)).astype(np.float32), CFG, "shape")
    assert abs(np.median(noise[:, COL["slope"]]) - np.median(loud[:, COL["slope"]])) > 1.0


def test_shape_joins_composite_kinds_with_deltas() -> None:
    y = (0.1 * np.random.default_rng(0).standard_normal(CFG.sr)).astype(np.float32)
    kind = "shape_d+pitch"
    x = compute_features(y, CFG, kind)
    assert x.shape == (CFG.n_frames(y.size), feature_dim(CFG, kind)) == (x.shape[0], 13)
    np.testing.assert_array_equal(x[:, :6], compute_base(y, CFG, "shape"))


def test_flatness_is_zero_for_a_flat_spectrum_and_low_for_harmonics() -> None:
    flat = flatness_from_logmel(np.full((1, CFG.n_mels), -30.0, dtype=np.float32))
    assert flat.shape == (1, 1) and flat[0, 0] == pytest.approx(0.0, abs=1e-5)
    # one band 40 dB above the rest: the geometric mean falls far below the arithmetic one
    peaked = np.full((1, CFG.n_mels), -60.0, dtype=np.float32)
    peaked[0, 5] = -20.0
    n = CFG.n_mels
    expected = (-60.0 * (n - 1) - 20.0) / n - 10 * np.log10(((n - 1) * 1e-6 + 1e-2) / n)
    assert expected < -20.0
    assert flatness_from_logmel(peaked)[0, 0] == pytest.approx(expected, abs=1e-4)
    # a voice-like harmonic tone against noise, at two gains
    rng = np.random.default_rng(4)
    t = np.arange(CFG.sr) / CFG.sr
    tone = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8)).astype(np.float32)
    noise = (0.1 * rng.standard_normal(t.size)).astype(np.float32)
    voice = 0.1 * tone + 0.01 * noise  # a noise floor, as any microphone has, above amin
    f_voice = compute_base(voice, CFG, "flatness")[5:-5, 0]
    f_noise = compute_base(noise, CFG, "flatness")[5:-5, 0]
    assert np.median(f_noise) > np.median(f_voice) + 10.0
    assert (f_voice <= 0).all() and (f_noise <= 0).all()
    np.testing.assert_allclose(compute_base(0.05 * voice, CFG, "flatness")[5:-5, 0], f_voice,
                               atol=2e-3)


def test_flatness_joins_composite_kinds_beside_the_shape() -> None:
    y = (0.1 * np.random.default_rng(0).standard_normal(CFG.sr)).astype(np.float32)
    x = compute_features(y, CFG, "shape_d+flatness_d+pitch_d")
    assert x.shape[1] == feature_dim(CFG, "shape_d+flatness_d+pitch_d") == 16
    np.testing.assert_array_equal(x[:, 12:13], compute_base(y, CFG, "flatness"))
