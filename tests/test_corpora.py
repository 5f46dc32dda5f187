"""Corpus label parsers on generated (empty) files with the real naming schemes."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.corpora import (
    LABELS_8,
    CorpusError,
    canonical_label,
    detect_format,
    load_corpus,
    map_label,
    parse_ravdess,
)
from edge.errors import ConfigError, EdgeSerError


def touch(root: Path, *names: str) -> None:
    for n in names:
        p = root / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")


def test_labels_8_is_ravdess_order() -> None:
    assert LABELS_8 == ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust",
                        "surprised")


def test_ravdess_speech_and_song(tmp_path: Path) -> None:
    touch(tmp_path, "Actor_01/03-01-01-01-01-01-01.wav", "Actor_12/03-01-05-02-01-01-12.wav",
          "Actor_12/03-02-08-02-02-02-12.wav", "Actor_12/notes.txt", "Actor_12/readme.wav",
          "Actor_12/03-01-09-01-01-01-12.wav")
    c = load_corpus(tmp_path)
    assert c.format == "ravdess"
    by = {u.path.name: u for u in c.utterances}
    a = by["03-01-01-01-01-01-01.wav"]
    assert (a.label, a.speaker, a.gender, a.corpus) == ("neutral", "01", "male", "ravdess")
    b = by["03-01-05-02-01-01-12.wav"]
    assert (b.label, b.speaker, b.gender) == ("angry", "12", "female")
    assert b.meta["intensity"] == "strong" and b.meta["vocal_channel"] == "speech"
    assert by["03-02-08-02-02-02-12.wav"].meta["vocal_channel"] == "song"
    assert by["03-02-08-02-02-02-12.wav"].label == "surprised"
    skipped = sorted(p.name for p, _ in c.skipped)
    assert skipped == ["03-01-09-01-01-01-12.wav", "readme.wav"]
    assert "skipped 2" in c.summary()


def test_tess(tmp_path: Path) -> None:
    touch(tmp_path, "OAF_angry/OAF_back_angry.wav", "YAF_pleasant_surprised/YAF_dog_ps.wav",
          "OAF_Fear/OAF_bite_fear.wav", "OAF_angry/OAF_back_sad.wav")
    c = load_corpus(tmp_path, "tess")
    by = {u.path.name: u for u in c.utterances}
    assert by["OAF_back_angry.wav"].label == "angry"
    assert by["YAF_dog_ps.wav"].label == "surprised"
    assert by["OAF_bite_fear.wav"].label == "fearful"
    assert all(u.gender == "female" for u in c.utterances)
    assert [p.name for p, _ in c.skipped] == ["OAF_back_sad.wav"]  # folder disagrees


def test_crema_d_with_demographics(tmp_path: Path) -> None:
    touch(tmp_path, "1001_DFA_ANG_XX.wav", "1002_IEO_HAP_HI.wav", "1091_TIE_NEU_XX.wav",
          "0999_DFA_ANG_XX.wav", "1001_DFA_XYZ_XX.wav")
    (tmp_path / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
        "1002,21,Female,Caucasian,Not Hispanic\n")
    c = load_corpus(tmp_path)
    assert c.format == "crema-d"
    by = {u.path.name: u for u in c.utterances}
    assert (by["1001_DFA_ANG_XX.wav"].label, by["1001_DFA_ANG_XX.wav"].gender) == ("angry", "male")
    assert by["1002_IEO_HAP_HI.wav"].gender == "female"
    assert by["1091_TIE_NEU_XX.wav"].gender is None and by["1091_TIE_NEU_XX.wav"].label == "neutral"
    assert len(c.skipped) == 2


def test_savee_both_layouts(tmp_path: Path) -> None:
    touch(tmp_path, "DC_a01.wav", "JE_sa15.wav", "KL/su03.wav", "JK/n30.wav", "DC_x01.wav")
    c = load_corpus(tmp_path, "savee")
    got = {(u.speaker, u.label) for u in c.utterances}
    assert got == {("DC", "angry"), ("JE", "sad"), ("KL", "surprised"), ("JK", "neutral")}
    assert all(u.gender == "male" for u in c.utterances)
    assert len(c.skipped) == 1


def test_emodb(tmp_path: Path) -> None:
    touch(tmp_path, "wav/03a01Fa.wav", "wav/08b02Lb.wav", "wav/16a05Wc.wav", "wav/10a07Ta.wav")
    c = load_corpus(tmp_path)
    assert c.format == "emodb"
    by = {u.path.name: u for u in c.utterances}
    assert (by["03a01Fa.wav"].label, by["03a01Fa.wav"].gender) == ("happy", "male")
    assert (by["08b02Lb.wav"].label, by["08b02Lb.wav"].gender) == ("boredom", "female")
    assert by["16a05Wc.wav"].label == "angry"
    assert by["10a07Ta.wav"].label == "sad"


def test_folders_and_csv(tmp_path: Path) -> None:
    touch(tmp_path, "corpus/Happy/a.wav", "corpus/sadness/b.wav", "corpus/loose.wav")
    c = load_corpus(tmp_path / "corpus", "folders")
    assert sorted(u.label for u in c.utterances) == ["happy", "sad"]
    assert len(c.skipped) == 1
    csvp = tmp_path / "corpus" / "list.csv"
    csvp.write_text("path,label,speaker\nHappy/a.wav,happy,s1\nsadness/b.wav,sad,s2\nmissing.wav,sad,s3\n")
    c2 = load_corpus(csvp)
    assert c2.format == "csv"
    assert [(u.label, u.speaker) for u in c2.utterances] == [("happy", "s1"), ("sad", "s2")]
    assert len(c2.skipped) == 1
    csvp.write_text("Happy/a.wav,angry\n")  # no header
    assert load_corpus(csvp, "csv").utterances[0].label == "angry"


def test_errors_are_edge_ser_errors(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no"):
        load_corpus(tmp_path / "empty", "ravdess")
    touch(tmp_path, "bad/hello.wav")
    with pytest.raises(CorpusError, match="none of the 1 files"):
        load_corpus(tmp_path / "bad", "ravdess")
    with pytest.raises(CorpusError, match="unknown corpus format"):
        load_corpus(tmp_path / "bad", "mp3zoo")
    assert issubclass(CorpusError, ConfigError) and issubclass(CorpusError, EdgeSerError)


def test_detect_format(tmp_path: Path) -> None:
    touch(tmp_path, "a/03-01-01-01-01-01-01.wav")
    assert detect_format(tmp_path) == "ravdess"


def test_map_label() -> None:
    assert map_label("angry", LABELS_8) == ("angry", "")
    assert map_label("fear", LABELS_8)[0] == "fearful"
    assert map_label("ps", LABELS_8)[0] == "surprised"
    six = ("neutral", "happy", "sad", "angry", "fearful", "disgust")
    label, note = map_label("calm", six)
    assert label == "neutral" and "calm" in note
    assert map_label("calm", LABELS_8) == ("calm", "")
    label, note = map_label("boredom", LABELS_8)
    assert label is None and "dropped" in note
    assert map_label("surprised", six)[0] is None
    assert canonical_label("ANG") == "angry"


def test_parse_ravdess_rejects_wrong_names() -> None:
    with pytest.raises(ValueError):
        parse_ravdess(Path("03-01-01-01-01-01.wav"))
