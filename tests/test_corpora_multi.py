"""The four extra corpora in their authors' layouts, several corpora as one set, and the splits
that measure generalisation (leave-one-corpus-out, folds inside each corpus)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edge.calibration import apply_temperature, expected_calibration_error, fit_temperature
from edge.corpora import CORE_4, FORMATS, CorpusError, detect_format, load_corpus
from train.crosscorpus import core4_scores, per_corpus
from train.datasets import CorpusSource, load_sources, sample_weights


def touch(root: Path, *names: str) -> None:
    for n in names:
        p = root / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


def make_nemo(root: Path) -> None:
    rows = [("SM0_anger_1.wav", "anger", "SM0", "male"),
            ("SM0_sadness_2.wav", "sadness", "SM0", "male"),
            ("EB0_happiness_3.wav", "happiness", "EB0", "female"),
            ("EB0_neutral_4.wav", "neutral", "EB0", "female"),
            ("EB0_surprised_5.wav", "surprised", "EB0", "female")]
    lines = ["file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage"]
    for f, e, s, g in rows:
        touch(root, f"samples/{f}")
        lines.append(f"{f}\t{e}\tTekst.\ttekst\t        {s}\t{g}\t30")
    (root / "data.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_ased(root: Path) -> None:
    touch(root, "01Neutral/n1-01-01-01-01.wav", "05Angry/a5-03-01-02-50.wav",
          "04Sad/S4-04-02-01-29.wav", "03Happy/h3-02-02-02-07.wav",
          "05Angry/h3-02-02-02-08.wav")  # a happy name in the angry folder: rejected


def make_urdu(root: Path) -> None:
    touch(root, "Angry/SM1_F19_A019.wav", "Happy/SF1_F02_H001.wav", "Neutral/SM12_F01_N050.wav",
          "Sad/SM1_F20_S003.wav")


def make_emotiontts(root: Path) -> None:
    base = "Dataset/SpeechCorpus/Emotional"
    touch(root, f"{base}/emotional-to-emotional/neo/wav/neo00001.wav",
          f"{base}/emotional-to-emotional/neo/wav/neo00150.wav",
          f"{base}/plain-to-emotional/ema/wav/ema00201.wav",
          f"{base}/plain-to-emotional/ema/wav/ema00400.wav",
          f"{base}/plain-to-emotional/ema/wav/neo00301.wav")  # name disagrees with folder


def test_nemo_reads_data_tsv(tmp_path: Path) -> None:
    make_nemo(tmp_path)
    c = load_corpus(tmp_path)
    assert c.format == "nemo"
    by = {u.path.name: u for u in c.utterances}
    assert by["SM0_anger_1.wav"].label == "angry"
    assert by["SM0_sadness_2.wav"].gender == "male"
    assert by["EB0_happiness_3.wav"].label == "happy"
    assert by["EB0_surprised_5.wav"].label == "surprised"
    assert c.speakers == ["EB0", "SM0"]


def test_nemo_row_disagreeing_with_name_is_skipped(tmp_path: Path) -> None:
    make_nemo(tmp_path)
    tsv = tmp_path / "data.tsv"
    tsv.write_text(tsv.read_text().replace("SM0_anger_1.wav\tanger", "SM0_anger_1.wav\tfear"))
    c = load_corpus(tmp_path, "nemo")
    assert "SM0_anger_1.wav" in {p.name for p, _ in c.skipped}


def test_ased_names_folders_and_genders(tmp_path: Path) -> None:
    make_ased(tmp_path)
    assert detect_format(tmp_path) == "ased"
    c = load_corpus(tmp_path)
    by = {u.path.name: u for u in c.utterances}
    assert by["a5-03-01-02-50.wav"].label == "angry"
    assert by["a5-03-01-02-50.wav"].gender == "male"
    assert by["a5-03-01-02-50.wav"].speaker == "50"
    assert by["n1-01-01-01-01.wav"].gender == "female"
    assert by["S4-04-02-01-29.wav"].label == "sad"  # the one upper-case name in the corpus
    assert [p.name for p, _ in c.skipped] == ["h3-02-02-02-08.wav"]


def test_urdu_speaker_keeps_gender(tmp_path: Path) -> None:
    make_urdu(tmp_path)
    c = load_corpus(tmp_path)
    assert c.format == "urdu"
    by = {u.path.name: u for u in c.utterances}
    assert by["SM1_F19_A019.wav"].speaker == "M1"
    assert by["SF1_F02_H001.wav"].speaker == "F1"  # not the same person as M1
    assert by["SF1_F02_H001.wav"].gender == "female"
    assert {u.label for u in c.utterances} == set(CORE_4)


def test_emotiontts_number_blocks(tmp_path: Path) -> None:
    make_emotiontts(tmp_path)
    c = load_corpus(tmp_path)
    assert c.format == "emotiontts"
    labels = {u.path.name: u.label for u in c.utterances}
    # 201-300 sad, 301-400 angry: what the recordings' own scripts say, not the README
    assert labels == {"neo00001.wav": "neutral", "neo00150.wav": "happy",
                      "ema00201.wav": "sad", "ema00400.wav": "angry"}
    assert {u.speaker: u.gender for u in c.utterances} == {"neo": "male", "ema": "female"}
    assert len(c.skipped) == 1


def test_symlinked_corpus_folder_is_followed_and_cycles_end(tmp_path: Path) -> None:
    real = tmp_path / "real"
    make_urdu(real)
    linked = tmp_path / "linked"
    linked.mkdir()
    os.symlink(real / "Angry", linked / "Angry")
    os.symlink(linked, linked / "Angry2")  # a cycle back to the top
    c = load_corpus(linked, "urdu")
    assert [u.path.name for u in c.utterances] == ["SM1_F19_A019.wav"]


def test_evaluate_accepts_every_corpus_format() -> None:
    from edge.cli import CORPUS_FORMATS

    assert set(FORMATS) <= set(CORPUS_FORMATS)


def test_sources_parse_format_prefix(tmp_path: Path) -> None:
    assert CorpusSource.parse(f"nemo:{tmp_path}") == CorpusSource("nemo", tmp_path)
    assert CorpusSource.parse(str(tmp_path)) == CorpusSource("auto", tmp_path)
    assert CorpusSource.parse(str(tmp_path), "urdu").fmt == "urdu"


def test_load_sources_harmonises_labels_and_namespaces_speakers(tmp_path: Path) -> None:
    make_nemo(tmp_path / "nemo")
    make_urdu(tmp_path / "urdu")
    touch(tmp_path / "rav", "Actor_01/03-01-02-01-01-01-01.wav",  # calm
          "Actor_01/03-01-07-01-01-01-01.wav")                       # disgust
    ds = load_sources([CorpusSource.parse(f"nemo:{tmp_path / 'nemo'}"),
                       CorpusSource.parse(f"urdu:{tmp_path / 'urdu'}"),
                       CorpusSource.parse(f"ravdess:{tmp_path / 'rav'}")], list(CORE_4))
    labels = [ds.labels[k] for k in ds.y]
    assert "surprised" not in labels
    assert {u.speaker for u in ds.utts} == {"nemo/SM0", "nemo/EB0", "urdu/M1", "urdu/F1",
                                            "urdu/M12", "ravdess/01"}
    rav = [lab for u, lab in zip(ds.utts, labels, strict=True) if u.corpus == "ravdess"]
    assert rav == ["neutral"]  # calm → neutral; disgust dropped
    assert any("disgust" in k for k in ds.label_notes)
    with pytest.raises(CorpusError, match="twice"):
        load_sources([CorpusSource("urdu", tmp_path / "urdu")] * 2, list(CORE_4))


def test_sample_weights_balance_corpora() -> None:
    y = np.array([0, 1] * 50 + [0, 1] * 5)
    corpus = np.array(["big"] * 100 + ["small"] * 10)
    w = sample_weights(y, corpus, 2, balance=1.0)
    assert w[corpus == "big"].sum() == pytest.approx(w[corpus == "small"].sum())
    w0 = sample_weights(y, corpus, 2, balance=0.0)
    assert w0[corpus == "big"].sum() == pytest.approx(10 * w0[corpus == "small"].sum())
    skew = np.array([0] * 90 + [1] * 10)
    wc = sample_weights(skew, np.array(["a"] * 100), 2, balance=1.0)
    assert wc[skew == 0].sum() == pytest.approx(wc[skew == 1].sum())


def _dataset(tmp_path: Path):
    from train.config import load_config
    from train.experiment import prepare

    make_nemo(tmp_path / "nemo")
    make_urdu(tmp_path / "urdu")
    make_emotiontts(tmp_path / "tts")
    srcs = [CorpusSource("nemo", tmp_path / "nemo"), CorpusSource("urdu", tmp_path / "urdu"),
            CorpusSource("emotiontts", tmp_path / "tts")]
    return srcs, load_config, prepare


def test_leave_one_corpus_out_sets(tmp_path: Path) -> None:
    from train.experiment import plan_sets

    srcs, load_config, prepare = _dataset(tmp_path)
    cfg = load_config(None, ["split=loco", 'labels=["neutral","happy","sad","angry"]',
                             "n_val_actors=1"])
    prep = prepare(srcs, "auto", cfg, log=lambda s: None)
    sets, split = plan_sets(prep, cfg, None, (), False)
    assert "leave-one-corpus-out" in split
    assert [s.name for s in sets] == ["loco-nemo", "loco-urdu", "loco-emotiontts"]
    for sp in sets:
        held = sp.name.removeprefix("loco-")
        assert {prep.utts[i].corpus for i in sp.test} == {held}
        assert held not in {prep.utts[i].corpus for i in (*sp.train, *sp.val)}
        assert not set(sp.train_actors) & set(sp.val_actors)
        assert sorted(sp.test) == [i for i, u in enumerate(prep.utts) if u.corpus == held]


def test_loco_needs_two_corpora(tmp_path: Path) -> None:
    from edge.errors import ConfigError
    from train.experiment import plan_sets

    srcs, load_config, prepare = _dataset(tmp_path)
    cfg = load_config(None, ["split=loco"])
    prep = prepare(srcs[:1], "auto", cfg, log=lambda s: None)
    with pytest.raises(ConfigError, match="two corpora"):
        plan_sets(prep, cfg, None, (), False)


def test_temperature_recovers_overconfidence() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 4)) * 2.0
    truth = np.array([rng.choice(4, p=np.exp(r) / np.exp(r).sum()) for r in logits])
    over = np.exp(3 * logits)
    over /= over.sum(1, keepdims=True)  # the true model, made 3x over-confident
    t = fit_temperature(over, truth)
    assert 2.5 < t < 3.5
    cal = apply_temperature(over, t)
    assert expected_calibration_error(cal, truth) < 0.5 * expected_calibration_error(over, truth)
    assert (cal.argmax(1) == over.argmax(1)).all()
    under = np.exp(0.5 * logits)
    under /= under.sum(1, keepdims=True)  # under-confident: only a T < 1 would sharpen it
    assert fit_temperature(under, truth) < 0.7
    assert fit_temperature(under, truth, min_temperature=1.0) == pytest.approx(1.0)


def test_per_corpus_scores_core4_restricted_to_core_columns() -> None:
    labels = ["neutral", "happy", "sad", "angry", "fearful"]
    probs = np.array([[0.3, 0.1, 0.1, 0.1, 0.4],   # neutral file: fearful wins overall ...
                      [0.1, 0.6, 0.1, 0.1, 0.1],   # happy, right
                      [0.1, 0.1, 0.1, 0.1, 0.6]])  # a fearful file: not core-4
    truth = {0: 0, 1: 1, 2: 4}
    out = per_corpus(np.array([0, 1, 2]), probs, probs, truth, ["x", "x", "x"], labels)
    assert out["x"]["files"] == 3
    assert out["x"]["uar"] == pytest.approx((0 + 1 + 1) / 3)
    assert out["x"]["core4_uar"] == pytest.approx(1.0)  # ... but neutral among the core four
    assert core4_scores(np.array([0]), probs[:1], ["a", "b"]) is None


def test_each_corpus_is_normalised_by_its_own_statistics() -> None:
    from train.features import Windows, corpus_statistics, normalize_by

    rng = np.random.default_rng(5)
    a = rng.normal(size=(6, 20, 3)).astype(np.float32)
    x = np.concatenate([a, 3.0 * a + 40.0])          # corpus b: a louder, brighter copy of a
    corpus_of = np.array(["a"] * 6 + ["b"] * 6)
    w = Windows(x, np.zeros(12, np.int64), np.arange(12))
    stats = corpus_statistics(w, corpus_of)
    assert sorted(stats) == ["a", "b"]
    out = normalize_by(x, corpus_of, stats)
    np.testing.assert_allclose(out[6:], out[:6], atol=1e-4)   # the offset and gain are gone
    assert abs(float(x[6:].mean()) - float(x[:6].mean())) > 30


def test_corpus_norm_trains_no_final_set(tmp_path: Path) -> None:
    from edge.errors import ConfigError
    from train.experiment import plan_sets

    srcs, load_config, prepare = _dataset(tmp_path)
    cfg = load_config(None, ["split=loco", "corpus_norm=true", "n_val_actors=1",
                             'labels=["neutral","happy","sad","angry"]'])
    prep = prepare(srcs, "auto", cfg, log=lambda s: None)
    sets = plan_sets(prep, cfg, None, (), False)[0]
    assert [s.name for s in sets] == ["loco-nemo", "loco-urdu", "loco-emotiontts"]
    with pytest.raises(ConfigError, match="--no-final"):
        plan_sets(prep, cfg, None, (), True)


@pytest.mark.slow
@pytest.mark.tf
def test_a_corpus_normalised_loco_run_scores_each_held_out_corpus(tmp_path: Path) -> None:
    """Two generated corpora, one recorded 12 dB quieter: a real leave-one-corpus-out run with
    per-corpus statistics trains, scores both, and keeps the setting in its record; asking it
    for a final set is a one-line refusal."""
    from conftest import TINY_TRAIN

    from edge.cli import main
    from train.synthetic import make_corpus, make_nemo_corpus

    make_corpus(tmp_path / "a", actors=3, repeats=2, seed=1)
    # the second corpus in nEMO's layout: the same kind of voices, 12 dB quieter
    nemo = make_nemo_corpus(tmp_path / "b", actors=3, repeats=2, seed=2, gain=0.25)
    out = tmp_path / "run"
    args = ["train", "--data", f"ravdess:{tmp_path / 'a'}", "--data", f"nemo:{nemo}",
            "--out", str(out), "--cache", str(tmp_path / "cache"),
            "--set", "members=stats:mfcc+pitch+rms:1", "--set", "corpus_norm=true",
            "--set", "split=loco", "--set", "baselines=[]", "--no-compare", *TINY_TRAIN]
    assert main([*args, "--no-final"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["corpus_norm"] is True
    assert run["sets"] == ["loco-ravdess", "loco-nemo"]
    for held in ("ravdess", "nemo"):
        fold = json.loads((out / "results" / "folds" / f"loco-{held}.json").read_text())
        assert set(fold["per_corpus"]) == {held}
        assert 0.0 <= fold["per_corpus"][held]["uar"] <= 1.0
    rc = main([*args, "--out", str(tmp_path / "run2"), "--final"])
    assert rc != 0
