"""Feature cache, device-like windows, and augmentation confined to training actors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("librosa")

from edge.corpora import load_corpus
from edge.frontend.config import FrontendConfig
from train import features as feat
from train.augment import (
    AugmentConfig,
    SpecAugmentConfig,
    augment_waveform,
    copies_for_split,
    mixup,
    spec_augment,
)
from train.config import TrainConfig
from train.experiment import feature_settings
from train.synthetic import make_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("syn")
    make_corpus(root, actors=4, labels=(0, 4), repeats=1)
    return load_corpus(root)


def settings(copies: int = 1):
    cfg = TrainConfig(aug_copies=copies)
    return feature_settings(cfg, FrontendConfig(), ["mfcc", "logmel"])


def test_cache_hit_on_second_call(corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings()
    utts = corpus.utterances[:3]
    first = feat.extract(utts, lambda i: [0, 1], s, 1, tmp_path, log=lambda _: None)
    calls = []
    real = feat.compute_file
    monkeypatch.setattr(feat, "compute_file", lambda *a: calls.append(a) or real(*a))
    second = feat.extract(utts, lambda i: [0, 1], s, 1, tmp_path, log=lambda _: None)
    assert calls == []
    for k in first:
        np.testing.assert_array_equal(first[k].bases["mfcc"], second[k].bases["mfcc"])
        np.testing.assert_array_equal(first[k].speech, second[k].speech)
    # other settings (augmentation) → a different key for copies, same key for the clean copy
    s2 = settings(copies=2)
    assert s2.key(0) == s.key(0) and s2.key(1) != s.key(1)
    # a touched file is recomputed
    st = os.stat(utts[0].path)
    os.utime(utts[0].path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    feat.extract(utts[:1], lambda i: [0], s, 1, tmp_path, log=lambda _: None)
    assert len(calls) == 1


def test_a_new_base_is_computed_alone_and_equals_a_fresh_extraction(
        corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    utts = corpus.utterances[:2]
    feat.extract(utts, lambda i: [0, 1], settings(copies=1), 1, tmp_path, log=lambda _: None)
    wider = feature_settings(TrainConfig(aug_copies=1), FrontendConfig(),
                             ["mfcc", "logmel", "flatness"])
    asked: list[tuple[str, ...]] = []
    real = feat.compute_file
    monkeypatch.setattr(feat, "compute_file",
                        lambda u, c, s, seed: asked.append(s.bases) or real(u, c, s, seed))
    got = feat.extract(utts, lambda i: [0, 1], wider, 1, tmp_path, log=lambda _: None)
    assert asked == [("flatness",)] * 4  # two files, clean and augmented copy
    monkeypatch.undo()
    fresh = feat.extract(utts, lambda i: [0, 1], wider, 1, None, log=lambda _: None)
    for k, ff in fresh.items():
        assert list(got[k].bases) == ["mfcc", "logmel", "flatness"]
        for b, v in ff.bases.items():
            np.testing.assert_array_equal(got[k].bases[b], v)
        np.testing.assert_array_equal(got[k].speech, ff.speech)


def test_windows_are_what_the_device_sees(corpus) -> None:
    from edge.frontend import compute_features

    s = settings()
    u = corpus.utterances[0]
    ff = feat.compute_file(u, 0, s, 1)
    cfg = s.frontend
    wf, hf = 300, 50
    w = feat.file_windows(ff, cfg, "mfcc", wf, hf, 0.25)
    assert w.shape[1:] == (wf, cfg.n_mfcc) and len(w) >= 1
    # the windows come from the whole recording (silence included), not trimmed speech
    from train.preprocess import PreprocessConfig, load_audio

    y = load_audio(u.path, PreprocessConfig())
    full = compute_features(y, cfg, "mfcc")
    starts = [s for s in range(0, len(full) - wf + 1, hf)]
    keep = feat.select_windows(ff.speech, wf, hf, 0.25)
    np.testing.assert_allclose(w[0], full[starts[keep[0]]:starts[keep[0]] + wf], atol=1e-4)
    assert not ff.speech.all() and ff.speech.any()  # the recording has silence around speech


def test_speech_filled_windows_are_the_device_fill_of_the_same_windows(corpus) -> None:
    from edge.frontend.windows import fill_with_speech, window_starts

    s = settings()
    ff = feat.compute_file(corpus.utterances[0], 0, s, 1)
    wf, hf = 300, 50
    plain = feat.file_windows(ff, s.frontend, "mfcc", wf, hf, 0.25)
    filled = feat.file_windows(ff, s.frontend, "mfcc", wf, hf, 0.25, fill="speech")
    starts = window_starts(len(ff.speech), wf, hf)
    keep = feat.select_windows(ff.speech, wf, hf, 0.25)
    assert filled.shape == plain.shape and not np.array_equal(filled, plain)
    for j, k in enumerate(keep):
        flags = ff.speech[starts[k]:starts[k] + wf]
        np.testing.assert_array_equal(filled[j], fill_with_speech(plain[j], flags))
        speech_rows = {r.tobytes() for r in plain[j][flags]}
        assert all(r.tobytes() in speech_rows for r in filled[j])


def test_gate_keeps_best_window_when_nothing_passes() -> None:
    speech = np.zeros(500, bool)
    speech[420:440] = True
    keep = feat.select_windows(speech, 300, 50, 0.25)
    assert list(keep) == [3]  # the first window (start 150) that holds all the speech


def test_copies_only_for_training() -> None:
    cfg = AugmentConfig(copies=3)
    assert copies_for_split("train", cfg) == [0, 1, 2, 3]
    assert copies_for_split("val", cfg) == [0]
    assert copies_for_split("test", cfg) == [0]


def test_augment_waveform_changes_signal_reproducibly() -> None:
    sr = 16000
    t = np.arange(sr) / sr
    y = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    cfg = AugmentConfig()
    a, pa = augment_waveform(y, sr, cfg, np.random.default_rng(3))
    b, pb = augment_waveform(y, sr, cfg, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert pa == pb and {"snr_db", "gain_db"} <= set(pa)
    assert np.max(np.abs(a)) <= 1.0


def test_spec_augment_and_mixup() -> None:
    rng = np.random.default_rng(0)
    x = np.ones((4, 50, 10), np.float32)
    m = spec_augment(x, SpecAugmentConfig(1, 10, 1, 3), rng)
    assert (m == 0).any() and x.all()  # input untouched
    y = np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]
    _, ym = mixup(x, y, 0.4, rng)
    np.testing.assert_allclose(ym.sum(1), 1, rtol=1e-6)
    assert (ym.max(1) >= 0.5).all()


def test_one_default_feature_cache_honours_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_SER_CACHE", str(tmp_path / "c"))
    assert feat.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("EDGE_SER_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert feat.default_cache_dir() == tmp_path / ".cache" / "edge-ser"


def test_compute_file_applies_a_change_before_the_front_end(corpus) -> None:
    """Benchmarks score changed recordings (a room, a line) through the training features:
    the change must reach the front end, and no change must leave the file as it was."""
    s = settings()
    u = corpus.utterances[0]
    plain = feat.compute_file(u, 0, s, 1)
    same = feat.compute_file(u, 0, s, 1, lambda y, sr, path: y)
    quiet = feat.compute_file(u, 0, s, 1, lambda y, sr, path: np.zeros_like(y))
    for b in plain.bases:
        np.testing.assert_array_equal(same.bases[b], plain.bases[b])
    assert plain.speech.any() and not quiet.speech.any()
