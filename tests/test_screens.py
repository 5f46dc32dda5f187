"""The measurement helpers behind the multi-corpus and enrolment screens (benchmarks/)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

pytest.importorskip("sklearn")
sys.path.insert(0, str(REPO))

from benchmarks.enrolment_loco import moved_statistics, render
from benchmarks.prior_adapt import running_divided
from benchmarks.screen_corpora import fit_svm
from benchmarks.screen_statistics import level_free, rich
from edge.frontend.config import FrontendConfig
from edge.frontend.kinds import base_columns


def _blobs(seed: int, n: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(4), n)
    x = rng.normal(size=(len(y), 6)) + 4.0 * np.eye(4, 6)[y]
    corpus = np.array(["a", "b"] * (len(y) // 2))
    return x, y, corpus


def test_screen_svm_separates_what_is_separable_and_not_what_is_not() -> None:
    x, y, corpus = _blobs(0)
    xt, yt, _ = _blobs(1)
    cols = list(range(4))
    svm = fit_svm(x, y, corpus, 4)
    assert svm.classes == cols
    assert svm.decide(xt).shape == (len(yt), 4)
    assert svm.core4_uar(xt, yt, cols) > 0.95
    shuffled = np.random.default_rng(2).permutation(yt)
    assert svm.core4_uar(xt, shuffled, cols) < 0.5


def test_level_free_statistics_ignore_the_microphone_gain() -> None:
    fe = FrontendConfig()
    col = base_columns(fe, "mfcc+pitch+rms")
    assert col == {"mfcc": 0, "pitch": fe.n_mfcc, "rms": fe.n_mfcc + 1}
    rng = np.random.default_rng(3)
    f = rng.normal(size=(80, fe.n_mfcc + 2))
    f[:, col["pitch"]] = rng.uniform(80, 300, 80)
    f[:, col["rms"]] = rng.uniform(0.001, 0.1, 80)
    louder = f.copy()
    louder[:, col["rms"]] *= 10.0          # +20 dB
    louder[:, col["mfcc"]] += 46.0         # MFCC 0 moves with the log energy
    np.testing.assert_allclose(level_free(louder, col), level_free(f, col), atol=1e-9)
    assert not np.allclose(louder, f)
    octave = f.copy()
    octave[:, col["pitch"]] *= 2.0
    np.testing.assert_allclose(level_free(octave, col)[:, col["pitch"]],
                               level_free(f, col)[:, col["pitch"]] + 12.0)
    assert rich(f).shape == (f.shape[1] * 6,)


def test_moved_statistics() -> None:
    g = (np.array([0.0, 10.0]), np.array([1.0, 2.0]))
    s = (np.array([2.0, 14.0]), np.array([2.0, 1.0]))
    m, sd = moved_statistics("shift", 0.5, g, s, None)
    np.testing.assert_allclose(m, [1.0, 12.0])
    np.testing.assert_array_equal(sd, g[1])
    # a speaker exactly like the reference speakers leaves the global statistics alone
    for how in ("offset", "offset+scale"):
        m, sd = moved_statistics(how, 1.0, g, s, s)
        np.testing.assert_allclose(m, g[0])
        np.testing.assert_allclose(sd, g[1])
    m, sd = moved_statistics("offset+scale", 1.0, g, s, (np.zeros(2), np.ones(2)))
    np.testing.assert_allclose(m, [2.0, 24.0])
    np.testing.assert_allclose(sd, [2.0, 2.0])


def test_running_prior_removes_a_bias_the_corpus_prior_would() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 4, 400)
    p = np.full((400, 4), 0.1) + 0.3 * np.eye(4)[y]
    p[:, 0] += 0.5                          # a model that over-calls class 0
    p /= p.sum(1, keepdims=True)
    assert (p.argmax(1) == 0).all()
    order = rng.permutation(400)
    out = running_divided(p, order, 1.0, prior_files=20.0)
    np.testing.assert_allclose(out[order[0]], p[order[0]])  # the first file: uniform prior
    late = order[100:]
    assert (out[late].argmax(1) == y[late]).mean() > 0.95
    np.testing.assert_allclose(running_divided(p, order, 0.0, 20.0), p)


def test_enrolment_table_has_an_upper_bound_row() -> None:
    per = {"x": {"speakers": 2, "skipped_speakers": 0, "files": 10, "without": 0.3,
                 "features": 0.5, "prior 1": 0.2},
           "z": {"speakers": 2, "skipped_speakers": 1, "files": 8, "without": 0.4,
                 "features": 0.3, "prior 1": 0.6}}
    text = render({"5": per}, "title")
    best = [line for line in text.splitlines() if "best per corpus" in line]
    assert best and "*50.0* | *60.0* | *55.0* | *+20.0*" in best[0]
    assert "| features | 50.0 | 30.0 | 40.0 | +5.0 |" in text
    assert "Speakers with 5 files or fewer are left out: z (1)." in text


def test_best_of_reads_held_out_uar_rows_only(tmp_path) -> None:
    from benchmarks.best_of import table_rows

    md = tmp_path / "r.md"
    md.write_text(
        "### core-4 UAR %\n\n"
        "| model | validation UAR % | ravdess | nemo | ased | urdu | emotiontts | mean |\n"
        "|---|---|---|---|---|---|---|---|\n"
        "| a | 90.0 | 51.0 | 30.0 | 40.0 | 35.0 | 31.0 | 37.4 |\n"
        "| other speakers of all five corpora | – | 0.9 | 0.9 | 0.9 | 0.9 | 0.9 | 0.9 |\n"
        "| b | – | 0.400 | 0.350 | 0.300 | 0.250 | – | – |\n\n"
        "### ECE %\n\n"
        "| model | ravdess | nemo | ased | urdu | emotiontts |\n|---|---|---|---|---|---|\n"
        "| a | 99 | 99 | 99 | 99 | 99 |\n", encoding="utf-8")
    rows = dict(table_rows(md))
    assert set(rows) == {"a", "b"}
    assert rows["a"] == {"ravdess": 51.0, "nemo": 30.0, "ased": 40.0, "urdu": 35.0,
                         "emotiontts": 31.0}
    assert rows["b"] == pytest.approx({"ravdess": 40.0, "nemo": 35.0, "ased": 30.0,
                                       "urdu": 25.0})


def test_window_statistics_leave_out_padding() -> None:
    from benchmarks.screen_window_frames import PAD_MFCC0, frame_masks, window_stats

    rng = np.random.default_rng(5)
    raw = rng.normal(size=(3, 150, 42)).astype(np.float32)
    raw[:, :, 0] = -200.0
    raw[:, :, -1] = 0.05
    raw[:, 100:, 0] = PAD_MFCC0 - 32.0      # the last third is zero padding
    raw[:, 100:, -1] = 0.0
    masks = frame_masks(raw)
    assert masks["all"].all()
    assert masks["no padding"][:, :100].all() and not masks["no padding"][:, 100:].any()
    assert (masks["speech-ish"] == masks["no padding"]).all()
    full = window_stats(raw, masks["all"])
    np.testing.assert_allclose(full[:, :42], raw.mean(1), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(full[:, 42:], np.abs(raw - raw.mean(1, keepdims=True)).mean(1),
                               rtol=1e-5, atol=1e-4)
    real = window_stats(raw, masks["no padding"])
    np.testing.assert_allclose(real[:, :42], raw[:, :100].mean(1), rtol=1e-5, atol=1e-4)


def test_label_check_finds_a_swap_and_leaves_agreement_alone() -> None:
    from benchmarks.label_check import best_relabelling

    agree = np.array([[0.6, 0.2, 0.1, 0.1], [0.2, 0.5, 0.2, 0.1],
                      [0.2, 0.1, 0.5, 0.2], [0.1, 0.2, 0.1, 0.6]])
    perm, score, ident = best_relabelling(agree)
    assert perm == (0, 1, 2, 3) and score == pytest.approx(ident)
    swapped = agree[:, [0, 1, 3, 2]]       # the corpus's sad and angry exchanged
    perm, score, ident = best_relabelling(swapped)
    assert perm == (0, 1, 3, 2)
    assert score == pytest.approx(0.55) and ident == pytest.approx(0.35)


def _speakers_with_offsets(seed: int) -> dict:
    """Generated utterance moments: each speaker a voice offset, each class an emotion offset;
    speaker ``skewed`` speaks one emotion only (as URDU's talk-show speakers do)."""
    rng = np.random.default_rng(seed)
    dim, n_lab = 5, 4
    emotion = rng.normal(scale=2.0, size=(n_lab, dim))
    emotion -= emotion.mean(0)
    voices = {f"s{k}": rng.normal(scale=3.0, size=dim) for k in range(6)}
    voices["skewed"] = rng.normal(scale=3.0, size=dim)
    u, y, spk = [], [], []
    for s, v in voices.items():
        classes = [3] * 8 if s == "skewed" else list(range(n_lab)) * 2
        for c in classes:
            u.append(v + emotion[c] + rng.normal(scale=0.05, size=dim))
            y.append(c)
            spk.append(s)
    return {"u": np.array(u), "y": np.array(y), "spk": np.array(spk), "voices": voices,
            "emotion": emotion}


def test_compensation_recovers_a_voice_that_plain_statistics_confuse_with_its_emotion() -> None:
    from benchmarks.enrolment_screen import class_offsets, compensated

    d = _speakers_with_offsets(4)
    u, y, spk = d["u"], d["y"], d["spk"]
    ls = np.zeros_like(u)
    enrol = {s: list(np.flatnonzero(spk == s)) for s in d["voices"]}
    pooled = {s: (u[ids].mean(0), np.ones(u.shape[1])) for s, ids in enrol.items()}
    corpus = np.array(["a"] * len(y))
    delta, rho = class_offsets(u, ls, y, corpus, spk, enrol, pooled, 4)
    np.testing.assert_allclose(delta, d["emotion"], atol=0.3)
    np.testing.assert_allclose(rho, 0.0, atol=1e-9)
    skewed = enrol["skewed"]
    truth = np.eye(4)[y[skewed]]
    mean, std = compensated(pooled["skewed"], truth, delta, rho)
    assert np.abs(mean - d["voices"]["skewed"]).max() < 0.3      # the voice, not the anger
    plain_error = np.abs(pooled["skewed"][0] - d["voices"]["skewed"]).max()
    assert plain_error > 1.0                                      # plain statistics hold the anger
    np.testing.assert_allclose(std, 1.0)
    uniform = np.full((len(skewed), 4), 0.25)                     # no idea of the emotions:
    np.testing.assert_allclose(compensated(pooled["skewed"], uniform, delta, rho)[0],
                               pooled["skewed"][0])               # plain statistics


def test_projection_keeps_only_the_departure_along_the_emotions() -> None:
    from benchmarks.enrolment_screen import projected

    delta = np.zeros((4, 6))
    delta[:, 0] = [1.0, -1.0, 2.0, -2.0]                 # the emotions move coefficient 0 only
    rho = np.zeros((4, 6))
    rho[:, 1] = [1.0, -1.0, 0.5, -0.5]                   # and the spread of coefficient 1
    centre = (np.zeros(6), np.ones(6))
    scale = np.ones(6)
    voice = np.array([3.0, 0.0, -2.0, 1.0, 0.0, 5.0])
    spread = np.exp(np.array([0.0, 0.7, 0.3, 0.0, 0.0, 0.0]))
    mean, std = projected((voice, spread), centre, scale, delta, rho)
    # what normalisation takes away: the voice's departure, but not along the emotions
    np.testing.assert_allclose(mean, [0, 0, -2.0, 1.0, 0, 5.0], atol=1e-9)
    np.testing.assert_allclose(np.log(std), [0, 0, 0.3, 0, 0, 0], atol=1e-9)


def test_half_way_statistics_sit_between_the_trained_and_the_corpus_own() -> None:
    from benchmarks.corpus_norm_loco import half_way

    mean, std = half_way((np.array([0.0, 2.0]), np.array([1.0, 4.0])),
                         (np.array([2.0, -2.0]), np.array([4.0, 1.0])))
    np.testing.assert_allclose(mean, [1.0, 0.0])
    np.testing.assert_allclose(std, [2.0, 2.0])      # half way in log: the geometric mean


def test_guided_enrolments_take_the_emotions_they_ask_for() -> None:
    from benchmarks.enrolment_screen import guided_clips

    y = np.array([0, 0, 0, 1, 1, 2, 2, 3, 3, 3] + [3] * 10)   # speaker "one": all four
    corpus = np.array(["c"] * 20)
    by = {"one": list(range(10)), "angry-only": list(range(10, 20))}
    picked = guided_clips(by, corpus, y, "c", 4, [0, 1, 2, 3], 0, seed=3)
    assert sorted(y[picked["balanced"]["one"]]) == [0, 1, 2, 3]   # one of each
    assert "angry-only" not in picked["balanced"]                # cannot give the others
    assert "one" not in picked["neutral"]                        # 3 neutral clips < K = 4
    picked = guided_clips(by, corpus, y, "c", 2, [0, 1, 2, 3], 0, seed=3)
    assert set(y[picked["neutral"]["one"]]) == {0} and len(picked["neutral"]["one"]) == 2
    assert guided_clips(by, corpus, y, "elsewhere", 2, [0, 1, 2, 3], 0, 3) == \
        {"neutral": {}, "balanced": {}}


def test_corpus_statistics_over_speech_frames_ignore_how_much_silence_a_corpus_keeps() -> None:
    from benchmarks.screen_window_frames import by_corpus

    rng = np.random.default_rng(6)
    speech = rng.normal(5.0, 1.0, size=(200, 30, 2))
    padded = speech.copy()
    padded[:, :10] = -60.0                               # corpus b: a third of each window pads
    x = np.concatenate([speech, padded]).astype(np.float32)
    names = np.array(["a"] * 200 + ["b"] * 200)
    mask = np.ones(x.shape[:2], bool)
    mask[200:, :10] = False                              # the padding is not speech-ish
    whole = by_corpus(x, names, np.ones_like(mask))
    speechy = by_corpus(x, names, mask)
    # the same speech frames: placed alike only when the statistics skip the padding
    assert np.abs(speechy[200:, 10:] - speechy[:200, 10:]).mean() < 0.05
    assert np.abs(whole[200:, 10:] - whole[:200, 10:]).mean() > 0.5


def test_enrolled_speakers_take_their_own_statistics_the_rest_the_global_ones() -> None:
    from benchmarks.enrolment_loco import enrolled_normalisation

    x = np.array([[[10.0]], [[20.0]], [[30.0]]], np.float32)
    who = np.array(["ann", "bob", "cy"])
    out = enrolled_normalisation(x, who, (np.array([0.0]), np.array([10.0])),
                                 {"ann": (np.array([10.0]), np.array([1.0])),
                                  "cy": (np.array([20.0]), np.array([5.0]))})
    np.testing.assert_allclose(out.ravel(), [0.0, 2.0, 2.0])   # ann own, bob global, cy own


def test_file_vote_equals_the_window_vote_and_keeps_files_every_member_decides() -> None:
    from benchmarks.loco_mix import file_vote
    from train.fit import file_probs

    rng = np.random.default_rng(0)
    file = np.array([0, 0, 0, 1, 1, 2])
    a, b = rng.dirichlet(np.ones(4), size=6), rng.dirichlet(np.ones(4), size=6)
    ids, fp = file_vote([(a, file, file), (b, file, file)])
    want_ids, want = file_probs((a + b) / 2, file)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(fp, want, atol=1e-12)
    # other windows (a longer window: one per file, file 2 not decided): files both have
    longer = np.array([0, 1])
    c = rng.dirichlet(np.ones(4), size=2)
    ids, fp = file_vote([(a, file, file), (c, longer, longer)])
    np.testing.assert_array_equal(ids, [0, 1])
    np.testing.assert_allclose(fp[1], (a[3:5].mean(0) + c[1]) / 2, atol=1e-12)


def test_band_slope_and_member_statistics_of_the_screens() -> None:
    from benchmarks.screen_descriptors import band_slope
    from benchmarks.screen_member_gap import mean_mad, windows

    hz = np.linspace(100, 4000, 40)
    db = np.tile(-3.0 * hz / 1000.0 + 7.0, (2, 1))
    np.testing.assert_allclose(band_slope(db, hz, 0, 1500), -3.0, atol=1e-9)
    f = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]])
    np.testing.assert_allclose(mean_mad(f), [2.0, 1.0, 2.0 / 3.0, 0.0])
    assert [len(w) for w in windows(np.zeros((400, 2)), 50)] == [150] * 6
    assert len(windows(np.zeros((90, 2)), 50)) == 1


def test_weighted_vote_scores_the_families_it_weighs() -> None:
    from benchmarks.loco_weights import weighted_uar

    y = np.array([0, 1, 2, 3])
    ids = np.arange(4)
    right, wrong = np.eye(4)[y], np.eye(4)[(y + 1) % 4]
    parts = [(ids, right, y), (ids, 0.9 * wrong, y)]
    labels = ["neutral", "happy", "sad", "angry"]
    assert weighted_uar(parts, (1.0, 0.0), labels) == 1.0
    assert weighted_uar(parts, (0.0, 1.0), labels) == 0.0
    assert weighted_uar(parts, (1.0, 1.0), labels) == 1.0  # 1 beats 0.9
    assert weighted_uar(parts, (1.0, 2.0), labels) == 0.0
    with pytest.raises(SystemExit):
        weighted_uar([(ids, right, y), (ids[::-1], right, y)], (1.0, 1.0), labels)


def test_loco_mix_keeps_member_probabilities_and_reads_them_back(tmp_path: Path,
                                                                  monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """--probs: the first read evaluates the set and stores it, later ones need no models."""
    import benchmarks.loco_mix as mix

    rng = np.random.default_rng(0)
    want = {"m1-rbf-shape+flatness+pitch": (rng.dirichlet(np.ones(4), 5).astype(np.float32),
                                            np.array([0, 0, 1, 2, 2]), np.array([1, 1, 0, 3, 3])),
            "m2-mfcc+pitch+rms/2": (rng.dirichlet(np.ones(4), 5).astype(np.float32),
                                    np.array([0, 0, 1, 2, 2]), np.array([1, 1, 0, 3, 3]))}
    calls: list[Path] = []

    def evaluate(set_dir: Path, split: str):  # type: ignore[no-untyped-def]
        calls.append(set_dir)
        return want

    monkeypatch.setattr(mix, "member_window_probs", evaluate)
    store = tmp_path / "probs"
    assert not mix.has_set(tmp_path / "gone", "r", "loco-nemo", store)
    first = mix.stored_probs(tmp_path / "run", "r", "loco-nemo", "test", store)
    again = mix.stored_probs(tmp_path / "gone", "r", "loco-nemo", "test", store)
    assert len(calls) == 1 and mix.has_set(tmp_path / "gone", "r", "loco-nemo", store)
    for got in (first, again):
        assert sorted(got) == sorted(want)
        for m, arrays in want.items():
            for a, b in zip(got[m], arrays, strict=True):
                np.testing.assert_array_equal(a, b)


def test_held_out_windows_keep_the_held_out_corpus_out_of_training_and_statistics() -> None:
    from benchmarks.screen_member_gap import WINDOW
    from benchmarks.screen_rbf import held_out_windows

    rng = np.random.default_rng(0)
    frames = [rng.normal(0.0, 1.0, (200, 2)), rng.normal(0.0, 1.0, (60, 2)),
              rng.normal(100.0, 1.0, (300, 2))]     # the held-out corpus sits far away
    y, corpus = np.array([0, 1, 2]), np.array(["a", "a", "b"])
    h = held_out_windows(frames, y, corpus, "b")
    assert set(h.corpus) == {"a"} and set(h.y) == {0, 1} and set(h.owner) == {2}
    assert h.x.shape[1:] == (WINDOW, 2) and h.test.shape[1:] == (WINDOW, 2)
    assert abs(float(h.x.mean())) < 0.5 and float(h.test.mean()) > 50  # training statistics only
    assert (h.y == 1).sum() == 1  # a short clip is one window filled with its own frames
