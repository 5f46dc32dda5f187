"""The NumPy front end against librosa (the reference), kind by kind, config by config.

Every comparison uses the same parameters on both sides (``cfg.librosa_kwargs(kind)``) and the
same generated audio. Tolerances (measured worst cases in brackets, all far below anything a
model could notice):

* log-mel: max abs difference <= LOGMEL_ATOL dB (~1e-5 dB)
* MFCC: max abs difference <= MFCC_ATOL (~2e-4 with lifter 22, ~5e-5 without)
* chroma (values in [0, 1]): max abs difference <= CHROMA_ATOL (~1e-6)
* RMS: relative difference <= RMS_RTOL (~1e-7); zero-crossing rate: <= ZCR_ATOL (exact
  counts, float32 rounding only)
* pitch: |difference| <= PITCH_CENTS cents on voiced frames (~0.01 cent against librosa fed
  float64; float32 input makes librosa itself compute in float32)
* deltas: max abs difference <= DELTA_ATOL relative to the data's scale (~1e-7)
* spectral shape: max abs difference <= SHAPE_ATOL (dB, kHz, nats; ~1e-5), from librosa's
  STFT, mel filterbank and dB of each frame and of the frame a hop earlier; flatness (dB)
  against librosa's spectral_flatness of its mel power, within the same tolerance
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from benchmarks.float_path import librosa_flatness, librosa_shape
from edge.errors import AudioError, ConfigError
from edge.frontend import (
    BASE_KINDS,
    FrontendConfig,
    assemble,
    compute_base,
    compute_features,
    feature_dim,
    spectral,
)
from edge.frontend.features import compute_bases, delta
from edge.frontend.pitch import next_fast_len

librosa = pytest.importorskip("librosa")
scipy_fft = pytest.importorskip("scipy.fft")
scipy_signal = pytest.importorskip("scipy.signal")

LOGMEL_ATOL = 1e-3
MFCC_ATOL = 1e-3
CHROMA_ATOL = 1e-5
RMS_RTOL = 1e-5
ZCR_ATOL = 1e-6
PITCH_CENTS = 1.0
DELTA_ATOL = 1e-5
SHAPE_ATOL = 1e-3


# ---- generated audio --------------------------------------------------------------------------
def speech_like(sr: int, seconds: float = 1.0, f0: tuple[float, float] = (110.0, 240.0),
                seed: int = 0, noise: float = 0.002) -> np.ndarray:
    """Harmonic chirp with vibrato, syllable envelope and formant-like spectral envelope."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    f = np.geomspace(f0[0], f0[1], n) * (1 + 0.03 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    y = sum(np.sin(k * phase) / k**0.7 for k in range(1, 40) if k * f0[1] < 0.45 * sr)
    # formants: shape the spectrum with resonances at 700, 1200, 2600 Hz
    spec = np.fft.rfft(y)
    freqs = np.fft.rfftfreq(n, 1 / sr)
    shape = 0.03 + sum(1 / (1 + ((freqs - fc) / bw) ** 2)
                       for fc, bw in ((700, 90), (1200, 110), (2600, 160)))
    y = np.fft.irfft(spec * shape, n)
    env = 0.2 + 0.8 * np.abs(np.sin(np.pi * 3 * t / seconds))  # three "syllables"
    y = y * env
    y = 0.4 * y / np.max(np.abs(y)) + noise * rng.standard_normal(n)
    return y.astype(np.float32)


def white(n: int, seed: int = 1, level: float = 0.1) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def pink(n: int, seed: int = 2, level: float = 0.1) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(n)
    spec = np.fft.rfft(x)
    spec[1:] /= np.sqrt(np.arange(1, spec.size))
    spec[0] = 0
    y = np.fft.irfft(spec, n)
    return (level * y / y.std()).astype(np.float32)


def clipped(sr: int) -> np.ndarray:
    return np.clip(8 * speech_like(sr, 0.6, seed=3), -1, 1).astype(np.float32)


def signals(sr: int) -> dict[str, np.ndarray]:
    return {
        "speech": speech_like(sr),
        "white": white(sr // 2),
        "pink": pink(sr // 2),
        "silence": np.zeros(sr // 4, dtype=np.float32),
        "clipped": clipped(sr),
    }


CONFIGS = {
    "default": FrontendConfig(),
    "htk64_lifter": FrontendConfig(htk=True, n_mels=64, n_mfcc=30, lifter=22.0, fmin=20.0,
                                   fmax=7600.0),
    "reflect": FrontendConfig(pad_mode="reflect"),
    "edge_hamming": FrontendConfig(pad_mode="edge", window="hamming", power=1.0),
    "sr8k": FrontendConfig(sr=8000, n_fft=256, win_length=200, hop_length=80, n_mels=32,
                           n_mfcc=20, f0_frame_length=512, f0_fmax=400.0),
    "sr22k": FrontendConfig(sr=22050, n_fft=1024, win_length=551, hop_length=220, n_mels=64,
                            n_mfcc=20, f0_frame_length=2048, norm=None, dct_type=3),
    "uncentred": FrontendConfig(center=False),
}


def ref_logmel(y: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    s = librosa.feature.melspectrogram(y=y, **cfg.librosa_kwargs("logmel"))
    return librosa.power_to_db(s, **cfg.librosa_kwargs("power_to_db")).T


def ref_mfcc(y: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    kw = cfg.librosa_kwargs("mfcc")
    s = ref_logmel(y, cfg).T
    return librosa.feature.mfcc(S=s, n_mfcc=kw["n_mfcc"], dct_type=kw["dct_type"],
                                norm=kw["norm"], lifter=kw["lifter"]).T


def ref_base(y: np.ndarray, cfg: FrontendConfig, base: str) -> np.ndarray:
    if base == "logmel":
        return ref_logmel(y, cfg)
    if base == "mfcc":
        return ref_mfcc(y, cfg)
    if base == "chroma":
        return librosa.feature.chroma_stft(y=y, **cfg.librosa_kwargs("chroma")).T
    if base == "rms":
        return librosa.feature.rms(y=y, **cfg.librosa_kwargs("rms")).T
    if base == "zcr":
        return librosa.feature.zero_crossing_rate(y, **cfg.librosa_kwargs("zcr")).T
    if base == "pitch":
        return librosa.yin(y.astype(np.float64), **cfg.librosa_kwargs("pitch"))[:, None]
    if base == "shape":
        return librosa_shape(y.astype(np.float64), cfg, librosa)
    if base == "flatness":
        return librosa_flatness(y.astype(np.float64), cfg, librosa)
    raise AssertionError(base)


def check_close(base: str, ours: np.ndarray, ref: np.ndarray, voiced: np.ndarray | None = None,
                ) -> None:
    assert ours.dtype == np.float32
    assert ours.shape == ref.shape, (base, ours.shape, ref.shape)
    if base in ("logmel",):
        np.testing.assert_allclose(ours, ref, rtol=0, atol=LOGMEL_ATOL)
    elif base == "mfcc":
        np.testing.assert_allclose(ours, ref, rtol=0, atol=MFCC_ATOL)
    elif base == "chroma":
        np.testing.assert_allclose(ours, ref, rtol=0, atol=CHROMA_ATOL)
    elif base == "rms":
        np.testing.assert_allclose(ours, ref, rtol=RMS_RTOL, atol=1e-12)
    elif base == "zcr":
        np.testing.assert_allclose(ours, ref, rtol=0, atol=ZCR_ATOL)
    elif base in ("shape", "flatness"):
        np.testing.assert_allclose(ours, ref, rtol=0, atol=SHAPE_ATOL)
    elif base == "pitch":
        mask = np.ones(ours.shape[0], bool) if voiced is None else voiced
        cents = 1200 * np.abs(np.log2(ours[mask, 0] / ref[mask, 0]))
        assert cents.size == 0 or cents.max() <= PITCH_CENTS, cents.max()


# ---- base kinds vs librosa --------------------------------------------------------------------
@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_every_base_kind_matches_librosa(cfg_name: str) -> None:
    cfg = CONFIGS[cfg_name]
    for sig_name, y in signals(cfg.sr).items():
        ours = compute_bases(y, cfg, BASE_KINDS)
        for base in BASE_KINDS:
            if not cfg.center and base in ("zcr", "pitch"):
                continue  # frames are centred differently: see the uncentred test below
            ref = ref_base(y, cfg, base)
            voiced = None
            if base == "pitch" and sig_name in ("speech", "clipped"):
                # voiced frames: where the YIN trough is deep (librosa and we agree anyway)
                voiced = compute_base(y, cfg, "rms")[:, 0] > 0.05
            try:
                check_close(base, ours[base], ref, voiced)
            except AssertionError as exc:
                raise AssertionError(f"{cfg_name}/{sig_name}/{base}: {exc}") from None


def test_float32_and_float64_input_agree_and_match_librosa_float32() -> None:
    cfg = FrontendConfig()
    y32 = speech_like(cfg.sr, seed=5)
    a = compute_bases(y32, cfg, BASE_KINDS)
    b = compute_bases(y32.astype(np.float64), cfg, BASE_KINDS)
    for base in BASE_KINDS:
        np.testing.assert_array_equal(a[base], b[base])
    # librosa on float32 computes its STFT in float32: still within the tolerances
    check_close("mfcc", a["mfcc"], ref_mfcc(y32, cfg))
    voiced = a["rms"][:, 0] > 0.05
    p32 = librosa.yin(y32, **cfg.librosa_kwargs("pitch"))[:, None]
    check_close("pitch", a["pitch"], p32, voiced)


@pytest.mark.parametrize("cfg_name", ["default", "htk64_lifter", "sr22k", "reflect"])
def test_mfcc_literally_equals_librosa_mfcc_when_top_db_does_not_bite(cfg_name: str) -> None:
    cfg = CONFIGS[cfg_name]
    y = speech_like(cfg.sr, seed=7, noise=0.01)
    ours = compute_base(y, cfg, "mfcc")
    logmel = compute_base(y, cfg, "logmel")
    assert logmel.max() - logmel.min() < 80, "precondition: librosa's top_db=80 must not clip"
    ref = librosa.feature.mfcc(y=y, **cfg.librosa_kwargs("mfcc")).T
    check_close("mfcc", ours, ref)


def test_top_db_is_applied_over_the_whole_signal_like_librosa() -> None:
    cfg = FrontendConfig(top_db=40.0)
    y = speech_like(cfg.sr, seconds=2.0)
    y[8000:20000] *= 1e-4  # a quiet stretch far below the 40 dB window
    check_close("logmel", compute_base(y, cfg, "logmel"), ref_logmel(y, cfg))
    check_close("mfcc", compute_base(y, cfg, "mfcc"), ref_mfcc(y, cfg))
    lm = compute_base(y, cfg, "logmel")
    assert np.isclose(lm.max() - lm.min(), 40.0, atol=1e-3)
    kw = FrontendConfig(top_db=80.0)
    ref = librosa.feature.mfcc(y=y, **kw.librosa_kwargs("mfcc")).T
    check_close("mfcc", compute_base(y, kw, "mfcc"), ref)


@pytest.mark.parametrize("n", [1, 2, 100, 159, 160, 161, 300, 511, 512, 513, 1023, 1025])
@pytest.mark.parametrize("pad_mode", ["constant", "edge", "reflect"])
def test_very_short_input(n: int, pad_mode: str) -> None:
    cfg = FrontendConfig(pad_mode=pad_mode)
    y = white(n, seed=n, level=0.3)
    ours = compute_bases(y, cfg, BASE_KINDS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa: "n_fft is too large for input signal"
        for base in BASE_KINDS:
            assert ours[base].shape[0] == cfg.n_frames(n) == 1 + n // cfg.hop_length
            if base == "pitch" and n < 100:
                # a few samples in zeros: d'(k) is flat up to FFT round-off, so the chosen
                # lag is round-off noise (librosa pads its FFT differently); check the range
                lo, hi = cfg.f0_fmin / 2, cfg.sr / np.floor(cfg.sr / cfg.f0_fmax)
                assert np.all((ours[base] >= lo) & (ours[base] <= hi + 1e-3))
                continue
            check_close(base, ours[base], ref_base(y, cfg, base))


def test_uncentred_zcr_and_pitch_are_librosas_around_the_stft_frame_centre() -> None:
    """center=False: frame t of every kind is centred on t*hop + n_fft//2 (see config)."""
    cfg = CONFIGS["uncentred"]
    y = speech_like(cfg.sr, seed=11)
    n = cfg.n_frames(y.size)
    ours = compute_bases(y, cfg, BASE_KINDS)
    assert all(v.shape[0] == n for v in ours.values())
    shift = cfg.n_fft // 2 - cfg.win_length // 2
    ref = librosa.feature.zero_crossing_rate(y[shift:], frame_length=cfg.win_length,
                                             hop_length=cfg.hop_length, center=False).T[:n]
    check_close("zcr", ours["zcr"], ref)
    # pitch: librosa's centred frames of the signal advanced by n_fft//2 samples, compared
    # where neither side touches padding
    kw = cfg.librosa_kwargs("pitch") | {"center": True}
    ref = librosa.yin(y[cfg.n_fft // 2 :].astype(np.float64), **kw)[:, None]
    half = cfg.f0_frame_length // 2
    lo = -(-(half - cfg.n_fft // 2) // cfg.hop_length)
    hi = (y.size - cfg.n_fft // 2 - half) // cfg.hop_length
    check_close("pitch", ours["pitch"][lo:hi], ref[lo:hi])


def test_uncentred_input_shorter_than_n_fft_is_refused() -> None:
    with pytest.raises(AudioError, match="shorter than one frame"):
        compute_base(np.zeros(511, np.float32), FrontendConfig(center=False), "mfcc")
    assert compute_base(np.zeros(512, np.float32), FrontendConfig(center=False), "rms").shape == (
        1, 1)


# ---- pitch ------------------------------------------------------------------------------------
def test_pitch_tracks_a_known_f0_sweep() -> None:
    cfg = FrontendConfig()
    sr, n = cfg.sr, cfg.sr * 2
    t = np.arange(n) / sr
    f0 = 90.0 + 160.0 * t / t[-1]  # 90 -> 250 Hz
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 12)).astype(np.float32) * 0.2
    est = compute_base(y, cfg, "pitch")[:, 0]
    frames = np.arange(est.size)
    inner = (frames * cfg.hop_length >= 512) & (frames * cfg.hop_length < n - 512)
    truth = f0[np.minimum(frames * cfg.hop_length, n - 1)]
    cents = 1200 * np.abs(np.log2(est[inner] / truth[inner]))
    assert np.median(cents) < 5 and cents.max() < 30, (np.median(cents), cents.max())


def test_pitch_of_a_pure_tone_and_of_silence() -> None:
    cfg = FrontendConfig()
    t = np.arange(cfg.sr) / cfg.sr
    tone = (0.5 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    est = compute_base(tone, cfg, "pitch")
    # YIN with parabolic interpolation is biased by a few cents (librosa's too)
    assert np.all(np.abs(1200 * np.log2(est[5:-5, 0] / 220.0)) < 10)
    check_close("pitch", est, ref_base(tone, cfg, "pitch"))
    # digital silence: no trough anywhere, librosa's fallback gives sr / floor(sr / fmax)
    est = compute_base(np.zeros(4000, np.float32), cfg, "pitch")
    np.testing.assert_array_equal(est, cfg.sr / np.floor(cfg.sr / cfg.f0_fmax))


def test_next_fast_len_matches_scipy() -> None:
    for n in [1, 2, 7, 97, 1291, 2047, 4099, 10007]:
        assert next_fast_len(n) == scipy_fft.next_fast_len(n, real=True)


# ---- building blocks against librosa/scipy ----------------------------------------------------
@pytest.mark.parametrize("name", ["hann", "hamming", "blackman", "boxcar", "rectangular"])
@pytest.mark.parametrize("length", [1, 2, 7, 400, 401])
def test_windows_are_scipys_periodic_windows(name: str, length: int) -> None:
    ref = scipy_signal.get_window(name if name != "rectangular" else "boxcar", length,
                                  fftbins=True)
    np.testing.assert_allclose(spectral.get_window(name, length), ref, rtol=0, atol=1e-15)


@pytest.mark.parametrize("kw", [
    dict(sr=16000, n_fft=512, n_mels=40, fmin=0.0, fmax=None, htk=False, norm="slaney"),
    dict(sr=16000, n_fft=512, n_mels=64, fmin=20.0, fmax=7600.0, htk=True, norm="slaney"),
    dict(sr=8000, n_fft=256, n_mels=32, fmin=0.0, fmax=None, htk=False, norm=None),
    dict(sr=22050, n_fft=1024, n_mels=128, fmin=50.0, fmax=11025.0, htk=False, norm="slaney"),
])
def test_mel_filterbank_is_librosas(kw: dict) -> None:
    ours = spectral.mel_filterbank(**kw)
    ref = librosa.filters.mel(**kw)
    assert ours.dtype == ref.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(("sr", "n_fft", "n_chroma", "tuning"),
                         [(16000, 512, 12, 0.0), (22050, 2048, 24, 0.25), (8000, 256, 12, -0.1)])
def test_chroma_filterbank_is_librosas(sr: int, n_fft: int, n_chroma: int, tuning: float) -> None:
    ours = spectral.chroma_filterbank(sr, n_fft, n_chroma, tuning)
    ref = librosa.filters.chroma(sr=sr, n_fft=n_fft, n_chroma=n_chroma, tuning=tuning)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dct_type", [2, 3])
@pytest.mark.parametrize("norm", ["ortho", None])
def test_dct_matrix_is_scipys_dct(dct_type: int, norm: str | None) -> None:
    x = np.random.default_rng(0).standard_normal((5, 40))
    ref = scipy_fft.dct(x, type=dct_type, norm=norm, axis=-1)[:, :13]
    ours = x @ spectral.dct_matrix(40, 13, dct_type, norm).T
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


def test_power_to_db_is_librosas() -> None:
    s = np.abs(np.random.default_rng(0).standard_normal(1000)) ** 4 * 1e-6
    s[:10] = 0
    for kw in (dict(ref=1.0, amin=1e-10, top_db=None), dict(ref=3.0, amin=1e-5, top_db=40.0)):
        np.testing.assert_allclose(spectral.power_to_db(s, **kw), librosa.power_to_db(s, **kw),
                                   rtol=0, atol=1e-9)


def test_filterbanks_are_cached_per_config() -> None:
    cfg = FrontendConfig(n_mels=48)
    y = white(4000)
    compute_base(y, cfg, "mfcc")
    before = spectral._mel_t.cache_info().hits
    compute_base(y, cfg, "mfcc")
    assert spectral._mel_t.cache_info().hits > before


# ---- deltas -----------------------------------------------------------------------------------
@pytest.mark.parametrize("width", [3, 5, 9])
@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("n_frames", [9, 10, 57])
def test_delta_matches_librosa(width: int, order: int, n_frames: int) -> None:
    x = np.random.default_rng(width * order).standard_normal((n_frames, 13)).astype(np.float32)
    x = np.cumsum(x, axis=0)  # smooth-ish trajectories, as features are
    ref = librosa.feature.delta(x.T, width=width, order=order, mode="interp").T
    ours = delta(x, width, order)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=0, atol=DELTA_ATOL * np.abs(x).max())


def test_delta_needs_width_frames() -> None:
    with pytest.raises(AudioError, match="at least 9 frames"):
        delta(np.zeros((8, 3), np.float32), 9, 1)
    with pytest.raises(ConfigError):
        delta(np.zeros((20, 3), np.float32), 4, 1)


def test_assemble_orders_parts_and_appends_deltas() -> None:
    cfg = FrontendConfig()
    y = speech_like(cfg.sr, 0.5)
    kind = "mfcc_dd+chroma+pitch_d+rms"
    bases = compute_bases(y, cfg, ("mfcc", "chroma", "pitch", "rms"))
    x = assemble(bases, cfg, kind)
    assert x.shape == (cfg.n_frames(y.size), feature_dim(cfg, kind)) and x.dtype == np.float32
    m = bases["mfcc"]
    np.testing.assert_array_equal(x[:, :40], m)
    np.testing.assert_array_equal(x[:, 40:80], delta(m, 9, 1))
    np.testing.assert_array_equal(x[:, 80:120], delta(m, 9, 2))
    np.testing.assert_array_equal(x[:, 120:132], bases["chroma"])
    np.testing.assert_array_equal(x[:, 132:133], bases["pitch"])
    np.testing.assert_array_equal(x[:, 133:134], delta(bases["pitch"], 9, 1))
    np.testing.assert_array_equal(x[:, 134:], bases["rms"])
    np.testing.assert_array_equal(compute_features(y, cfg, kind), x)
    ref = librosa.feature.delta(m.T, width=9, order=2).T
    np.testing.assert_allclose(x[:, 80:120], ref, atol=1e-4)
    with pytest.raises(ConfigError, match="needs base feature 'zcr'"):
        assemble(bases, cfg, "zcr")


# ---- geometry and input validation ------------------------------------------------------------
@pytest.mark.parametrize("cfg_name", list(CONFIGS))
def test_all_bases_have_the_same_frames_centred_on_t_times_hop(cfg_name: str) -> None:
    cfg = CONFIGS[cfg_name]
    rng = np.random.default_rng(0)
    for n in [cfg.n_fft, cfg.n_fft + 1, *rng.integers(cfg.n_fft, 3 * cfg.sr, 5)]:
        out = compute_bases(white(int(n)), cfg, BASE_KINDS)
        assert {v.shape[0] for v in out.values()} == {cfg.n_frames(int(n))}
    # an impulse at sample t0*hop (+ n_fft//2 uncentred) peaks in frame t0 of the
    # energy-like features
    t0 = 7
    y = np.zeros(cfg.sr // 2, np.float32)
    y[t0 * cfg.hop_length + (0 if cfg.center else cfg.n_fft // 2)] = 1.0
    out = compute_bases(y, cfg.replace(window="hann"), ("rms", "logmel"))
    assert np.argmax(out["logmel"].sum(axis=1)) == t0


@pytest.mark.parametrize(("y", "message"), [
    (np.zeros(0, np.float32), "empty"),
    (np.zeros((2, 100), np.float32), "1-D"),
    (np.zeros(100, np.int16), "floating point"),
    (np.array([0.0, np.nan, 0.0]), "NaN"),
    (np.array([0.0, np.inf]), "NaN or infinite"),
])
def test_bad_audio_is_refused_with_a_clear_message(y: np.ndarray, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        compute_features(y, FrontendConfig(), "mfcc")


def test_unknown_kinds_and_bad_configs_are_refused() -> None:
    with pytest.raises(ConfigError):
        compute_features(white(1000), FrontendConfig(), "mfcc+spectrogram")
    for bad in (dict(window="kaiser"), dict(dct_type=1), dict(mel_norm="l2"), dict(power=0.0),
                dict(chroma_norm=0.0), dict(top_db=-1.0), dict(lifter=-1.0)):
        with pytest.raises(ConfigError):
            FrontendConfig(**bad)


def test_frontend_is_local_in_time_without_top_db() -> None:
    """A frame depends only on its own samples: what streaming relies on."""
    cfg = FrontendConfig()
    y = speech_like(cfg.sr)
    a = compute_bases(y, cfg, BASE_KINDS)
    z = y.copy()
    z[12000:] = 0.9  # change the second quarter onwards
    b = compute_bases(z, cfg, BASE_KINDS)
    last_untouched = (12000 - cfg.f0_frame_length // 2) // cfg.hop_length
    for base in BASE_KINDS:
        np.testing.assert_array_equal(a[base][:last_untouched], b[base][:last_untouched])
