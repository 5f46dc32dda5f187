"""Level-free feature kinds (``_r``): a window's own level is taken out of c0, the log-mel bands
and the RMS, so that a member on them gives the same answer however loud the microphone is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import harmonic_chirp

from edge.errors import ConfigError
from edge.frontend import (
    FrontendConfig,
    StreamingFrontend,
    assemble,
    compute_bases,
    compute_features,
    feature_dim,
)
from edge.frontend.features import LEVEL_PERCENTILE, relative_level
from edge.frontend.kinds import KindPart, base_kinds_of, parse_kind
from edge.frontend.windows import frame_windows, window_starts


def test_the_suffix_names_the_level_bases_only() -> None:
    assert parse_kind("mfcc_r_d+pitch+rms_r") == (KindPart("mfcc", 1, True),
                                                  KindPart("pitch", 0, False),
                                                  KindPart("rms", 0, True))
    assert parse_kind("logmel_r_dd")[0] == KindPart("logmel", 2, True)
    cfg = FrontendConfig()
    assert feature_dim(cfg, "mfcc_r_d+rms_r") == feature_dim(cfg, "mfcc_d+rms")
    assert base_kinds_of(["mfcc_r+rms_r", "logmel_r"]) == ("mfcc", "logmel", "rms")
    for bad in ("pitch_r", "shape_r", "mfcc_r_r", "mfcc_d_r", "mfcc+mfcc_r"):
        with pytest.raises(ConfigError):
            parse_kind(bad)
    with pytest.raises(ConfigError, match="no level"):
        relative_level(np.ones((5, 1), np.float32), "pitch")


@pytest.mark.parametrize("gain_db", [-20.0, -10.0, 6.0])
def test_a_gain_changes_nothing_on_level_free_kinds(gain_db: float) -> None:
    y, cfg = harmonic_chirp(seconds=3.0), FrontendConfig()
    g = np.float32(10 ** (gain_db / 20))
    for kind in ("mfcc_r_d+pitch+rms_r", "logmel_r+rms_r"):
        ref, quiet = compute_features(y, cfg, kind), compute_features(y * g, cfg, kind)
        # the frames above the dB floor are unchanged (the faint noise keeps every frame
        # above it); float32 rounding of the dB values only
        np.testing.assert_allclose(quiet, ref, atol=2e-3, rtol=1e-4)
        absolute = kind.replace("_r", "")
        moved = np.abs(compute_features(y * g, cfg, absolute)
                       - compute_features(y, cfg, absolute)).max()
        assert moved > 0.5 * abs(gain_db) * min(1.0, 10 ** (gain_db / 20))  # absolute kinds move


def test_what_is_taken_out() -> None:
    cfg = FrontendConfig()
    bases = compute_bases(harmonic_chirp(seconds=3.0), cfg, ("mfcc", "logmel", "rms"))
    m = relative_level(bases["mfcc"], "mfcc")
    assert np.percentile(m[:, 0], LEVEL_PERCENTILE) == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_array_equal(m[:, 1:], bases["mfcc"][:, 1:])  # only c0 carries the level
    lm = relative_level(bases["logmel"], "logmel")
    shift = bases["logmel"] - lm
    assert np.ptp(shift) < 1e-3  # one number for every band and frame: the shape is kept
    assert np.percentile(lm.mean(axis=1), LEVEL_PERCENTILE) == pytest.approx(0.0, abs=1e-3)
    r = relative_level(bases["rms"], "rms")
    assert np.percentile(r, LEVEL_PERCENTILE) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(r * np.percentile(bases["rms"], LEVEL_PERCENTILE), bases["rms"],
                               rtol=1e-5)
    silent = relative_level(np.zeros((4, 1), np.float32), "rms")
    assert np.isfinite(silent).all() and not silent.any()  # digital silence stays 0, no NaN
    assert relative_level(np.zeros((0, 40), np.float32), "mfcc").shape == (0, 40)
    # the input is not changed in place
    assert np.percentile(bases["mfcc"][:, 0], LEVEL_PERCENTILE) < -1.0


def test_the_level_is_the_windows_own_and_deltas_follow_it() -> None:
    cfg = FrontendConfig()
    # a loud half, a quiet half
    y = np.concatenate([harmonic_chirp(seconds=1.5), 0.1 * harmonic_chirp(seconds=1.5, seed=1)])
    kind = "mfcc_r_d+rms_r"
    bases = compute_bases(y, cfg, ("mfcc", "rms"))
    wins = frame_windows(bases, cfg, kind, 60, 60)
    first, last = wins[0], wins[-1]
    for w in (first, last):  # each window's loud part is its own reference
        assert np.percentile(w[:, 0], LEVEL_PERCENTILE) == pytest.approx(0.0, abs=1e-3)
        assert np.percentile(w[:, -1], LEVEL_PERCENTILE) == pytest.approx(1.0, rel=1e-5)
    # over the whole signal the quiet half sits far below the loud half's reference
    whole = assemble(bases, cfg, kind)
    assert whole[-60:, 0].max() < -20
    np.testing.assert_allclose(whole[:, 40:80], assemble(bases, cfg, "mfcc_d")[:, 40:80],
                               atol=1e-4)  # a constant shift leaves c0's delta as it was


def test_streamed_level_free_windows_equal_training_windows() -> None:
    """The device assembles ``_r`` per streamed window exactly as training cut them."""
    cfg = FrontendConfig()
    kind = "logmel_r_d+pitch+rms_r"
    y = harmonic_chirp(seconds=3.0, seed=3)
    window, hop = 100, 50
    fe = StreamingFrontend(cfg, base_kinds_of([kind]))
    frames: dict[str, list[np.ndarray]] = {b: [] for b in fe.bases}
    for i in range(0, y.size, 333):
        for b, v in fe.push(y[i : i + 333]).items():
            frames[b].append(v)
    streamed = {b: np.concatenate(v) for b, v in frames.items()}
    starts = window_starts(fe.frames_emitted, window, hop)
    device = np.stack([assemble({b: v[s : s + window] for b, v in streamed.items()}, cfg, kind)
                       for s in starts])
    training = frame_windows(compute_bases(y, cfg, fe.bases), cfg, kind, window, hop)
    assert len(starts) >= 4
    np.testing.assert_array_equal(device, training[: len(starts)])


def test_librosa_reference_takes_the_same_level_out() -> None:
    librosa = pytest.importorskip("librosa")
    from benchmarks.float_path import librosa_kind

    cfg = FrontendConfig()
    y = harmonic_chirp(seconds=1.0)
    ours = compute_features(y, FrontendConfig(), "mfcc_r+rms_r")
    ref = librosa_kind(y, cfg, "mfcc_r+rms_r", librosa, ours.shape[0])
    np.testing.assert_allclose(ref[:, 0], ours[:, 0], atol=5e-3)
    np.testing.assert_allclose(ref[:, -1], ours[:, -1], rtol=1e-4, atol=1e-6)


@pytest.mark.slow
@pytest.mark.tf
def test_a_level_free_member_answers_the_same_at_another_gain(
        tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Real training, int8 conversion and the device: a member on ``_r`` kinds gives the same
    probabilities for a file played 12 dB quieter, one on the absolute kinds does not."""
    pytest.importorskip("tensorflow_model_optimization")
    from conftest import TINY_TRAIN

    from edge.cli import main
    from edge.wav import read_wav, write_wav

    wav = sorted(tiny_corpus.rglob("*.wav"))[0]
    other = next(p for p in sorted(tiny_corpus.rglob("*.wav")) if p.name[6:8] != wav.name[6:8])
    audio = read_wav(wav)
    quiet = tmp_path / "quiet.wav"
    write_wav(quiet, (audio.samples * 10 ** (-12 / 20)).astype(np.float32), audio.sr)
    probs = {}
    for name, member in (("rel", "stats:mfcc_r+pitch+rms_r:1"), ("abs", "stats:mfcc+pitch+rms:1")):
        run, models = tmp_path / f"run-{name}", tmp_path / f"models-{name}"
        rc = main(["train", "--data", str(tiny_corpus), "--out", str(run), "--no-cache",
                   "--only", "final", "--no-compare", "--set", f"members={member}",
                   "--set", "baselines=", "--set", "window_fill=speech", *TINY_TRAIN])
        assert rc == 0, capsys.readouterr().err
        rc = main(["convert", str(run), "--out", str(models), "--representative", "40",
                   "--verify-windows", "40"])
        assert rc == 0, capsys.readouterr().err
        capsys.readouterr()
        out = []
        for f in (wav, quiet, other):
            assert main(["classify", "--models", str(models), "--json", str(f)]) == 0
            out.append(json.loads(capsys.readouterr().out.splitlines()[-1])["probabilities"])
        probs[name] = np.array([[o[k] for k in sorted(o)] for o in out])
    rel, absolute = probs["rel"], probs["abs"]
    assert np.abs(rel[0] - rel[1]).max() < 0.02  # int8: one quantisation step at most
    assert np.abs(rel[0] - rel[2]).max() > 0.05  # while another emotion moves it
    assert np.abs(absolute[0] - absolute[1]).max() > np.abs(rel[0] - rel[1]).max()
