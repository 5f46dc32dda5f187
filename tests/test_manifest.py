"""The manifest is the contract between convert/ and the device: it must refuse anything off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.errors import ModelError
from edge.frontend import FrontendConfig
from edge.manifest import (
    MANIFEST_NAME,
    Manifest,
    Quantization,
    TensorSpec,
    WindowSpec,
    feature_spec,
    load_manifest,
    make_member,
    window_frames,
    write_manifest,
)

LABELS = ("neutral", "happy", "sad", "angry")


def build(folder: Path, n_members: int = 2, voting: str = "soft") -> Manifest:
    cfg = FrontendConfig()
    frames = window_frames(cfg, 1.0)
    members = []
    for i in range(n_members):
        path = folder / f"member-{i}.tflite"
        path.write_bytes(bytes([i]) * (100 + i))
        members.append(
            make_member(
                f"m{i}",
                path,
                "mfcc",
                TensorSpec((1, frames, cfg.n_mfcc), "int8", Quantization(0.05, -3)),
                TensorSpec((1, len(LABELS)), "int8", Quantization(1 / 256, -128)),
                weight=0.5 + i,
            )
        )
    m = Manifest(
        labels=LABELS,
        frontend=cfg,
        window=WindowSpec(1.0, 0.5, frames),
        features={"mfcc": feature_spec("mfcc", [0.0] * cfg.n_mfcc, [1.0] * cfg.n_mfcc)},
        members=tuple(members),
        voting=voting,
        metadata={"note": "test"},
    )
    write_manifest(m, folder)
    return m


def edit(folder: Path, fn) -> None:
    path = folder / MANIFEST_NAME
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def test_round_trip(tmp_path: Path) -> None:
    original = build(tmp_path)
    loaded = load_manifest(tmp_path)
    assert loaded.labels == LABELS
    assert loaded.frontend == original.frontend
    assert loaded.members == original.members
    assert loaded.members[1].input.quantization == Quantization(0.05, -3)
    assert loaded.member_path(loaded.members[0]) == tmp_path / "member-0.tflite"
    assert loaded.to_dict()["members"] == original.to_dict()["members"]


def test_window_fill_round_trips_and_is_absent_from_older_manifests(tmp_path: Path) -> None:
    build(tmp_path)
    assert load_manifest(tmp_path).window.fill == "none"
    assert "fill" not in json.loads((tmp_path / MANIFEST_NAME).read_text())["window"]
    edit(tmp_path, lambda d: d["window"].update(fill="speech"))
    loaded = load_manifest(tmp_path)
    assert loaded.window.fill == "speech" and loaded.to_dict()["window"]["fill"] == "speech"


def test_flipped_byte_is_refused_naming_the_file(tmp_path: Path) -> None:
    build(tmp_path)
    p = tmp_path / "member-1.tflite"
    raw = bytearray(p.read_bytes())
    raw[10] ^= 0x01
    p.write_bytes(bytes(raw))
    with pytest.raises(ModelError, match=r"member-1\.tflite fails its checksum"):
        load_manifest(tmp_path)


def test_missing_member_file(tmp_path: Path) -> None:
    build(tmp_path)
    (tmp_path / "member-0.tflite").unlink()
    with pytest.raises(ModelError, match="is missing"):
        load_manifest(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(version=99), "version 99 is not supported"),
        (lambda d: d.update(format="something"), "not an edge-ser manifest"),
        (lambda d: d.update(labels=["a", "a", "b", "c"]), "duplicates"),
        (lambda d: d.update(labels=[]), "non-empty"),
        (lambda d: d.update(voting="majority"), "voting must be one of"),
        (lambda d: d["window"].update(fill="noise"), "window.fill must be one of"),
        (lambda d: d["window"].update(fill=1), r"window\.fill has the wrong type"),
        (
            lambda d: d["members"][0]["input"].update(shape=[1, 100, 13]),
            "does not match the front end",
        ),
        (lambda d: d["members"][0]["output"].update(shape=[1, 8]), "does not match 4 labels"),
        (lambda d: d["members"][0]["input"].update(dtype="int4"), "dtype 'int4'"),
        (lambda d: d["members"][0]["input"].pop("quantization"), "no quantization"),
        (
            lambda d: d["members"][0]["input"]["quantization"].update(scale=0),
            "scale must be positive",
        ),
        (lambda d: d["members"][0]["input"]["quantization"].update(zero_point=300), "outside int8"),
        (lambda d: d["members"][0].update(file="../evil.tflite"), "plain file name"),
        (lambda d: d["members"][0].update(sha256="abc"), "64 lowercase hex"),
        (lambda d: d["members"][0].update(feature="logmel"), "not described"),
        (lambda d: d["members"][0].update(weight="heavy"), "wrong type"),
        (lambda d: d["members"][1].update(name="m0"), "same name"),
        (lambda d: d.update(members=[]), "no members"),
        (lambda d: d["window"].update(frames=77), "frames is 77"),
        (lambda d: d["features"]["mfcc"].update(dim=13), "dim 13"),
        (lambda d: d["features"]["mfcc"].update(fill="noise"), "'mfcc': fill must be one of"),
        (lambda d: d["features"]["mfcc"].update(kind="mfcc_zz"), "unknown"),
        (lambda d: d["features"]["mfcc"].update(kind="mfcc+pitch"), "the front end gives"),
        (lambda d: d["features"]["mfcc"]["std"].__setitem__(0, 0.0), "std finite and at least"),
        # found by the fuzz test: a float32-tiny std divides ordinary features past float32
        (lambda d: d["features"]["mfcc"]["std"].__setitem__(0, 1.1754943508222875e-38),
         "std finite and at least"),
        (lambda d: d.update(gates={}), "unknown section 'gates'"),
        (lambda d: d["frontend"].update(n_mfcc=13), "the front end gives 13"),
        (lambda d: d["frontend"].update(bogus=1), "unknown front-end config key"),
        (lambda d: d.pop("labels"), "lacks 'labels'"),
    ],
)
def test_invalid_manifests_are_refused_with_a_reason(tmp_path: Path, change, message: str) -> None:
    build(tmp_path)
    edit(tmp_path, change)
    with pytest.raises(ModelError, match=message):
        load_manifest(tmp_path)


def test_not_json_and_not_a_folder(tmp_path: Path) -> None:
    build(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_manifest(tmp_path)
    with pytest.raises(ModelError, match="does not exist"):
        load_manifest(tmp_path / "nope")
    with pytest.raises(ModelError, match="not a folder"):
        load_manifest(tmp_path / "member-0.tflite")
    with pytest.raises(ModelError, match=r"has no manifest\.json"):
        load_manifest(tmp_path.parent)


def test_write_refuses_an_invalid_manifest(tmp_path: Path) -> None:
    m = build(tmp_path)
    bad = Manifest(
        labels=m.labels,
        frontend=m.frontend,
        window=m.window,
        features=m.features,
        members=m.members,
        voting="plurality",
    )
    with pytest.raises(ModelError):
        write_manifest(bad, tmp_path / "other")
    assert not (tmp_path / "other" / MANIFEST_NAME).exists()


# ---- optional sections: speech, preprocessing, training (issue #14) ---------------------------
def test_sections_round_trip_and_default_to_todays_behaviour(tmp_path: Path) -> None:
    import dataclasses

    from edge.frontend.vad import VadConfig
    from edge.manifest import (
        PreprocessingSpec,
        SpeechSpec,
        TrainingCorpus,
        TrainingSpec,
        manifest_from_dict,
    )

    m = build(tmp_path)
    plain = load_manifest(tmp_path)
    assert plain.speech == SpeechSpec() and plain.speech.vad == VadConfig()  # absent: defaults
    assert plain.speech.no_speech == "all_windows" and plain.speech.min_speech_fraction == 0.25
    assert plain.preprocessing is None and plain.training is None
    legacy = {k: v for k, v in m.to_dict().items() if k != "speech"}  # an older converter's
    assert manifest_from_dict(legacy).speech == SpeechSpec()
    full = dataclasses.replace(
        m, speech=SpeechSpec(VadConfig(threshold_db=12.0, min_speech_fraction=0.4),
                             "best_window"),
        preprocessing=PreprocessingSpec("none", None, False, "librosa"),
        training=TrainingSpec((TrainingCorpus("ravdess", ("01", "02")),)))
    write_manifest(full, tmp_path)
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert data["speech"] == {"min_speech_fraction": 0.4, "no_speech": "best_window",
                              "vad": {**{k: v for k, v in dataclasses.asdict(VadConfig()).items()
                                         if k != "min_speech_fraction"}, "threshold_db": 12.0}}
    assert "min_speech_ratio" not in json.dumps(data)  # one name for the gate
    loaded = load_manifest(tmp_path)
    assert (loaded.speech, loaded.preprocessing, loaded.training) == \
        (full.speech, full.preprocessing, full.training)
    assert loaded.training.speaker_set() == {("ravdess", "01"), ("ravdess", "02")}


@pytest.mark.parametrize(("section", "value", "message"), [
    ("speech", {"no_speech": "guess"}, "no_speech must be one of"),
    ("speech", {"min_speech_fraction": 1.5}, "min_speech_fraction"),
    ("speech", {"vad": {"threshold_db": "loud"}}, "wrong type"),
    ("speech", {"vad": {"treshold_db": 3}}, "unknown key 'treshold_db'"),
    ("speech", {"gate": 0.2}, "unknown key 'gate'"),
    ("preprocessing", {"denoise": "yes"}, "wrong type"),
    ("training", {"corpora": [{"name": "ravdess"}]}, "lacks 'speakers'"),
])
def test_bad_sections_are_refused_by_name(tmp_path: Path, section: str, value: object,
                                          message: str) -> None:
    build(tmp_path)
    edit(tmp_path, lambda d: d.__setitem__(section, value))
    with pytest.raises(ModelError, match=message):
        load_manifest(tmp_path)


def test_the_device_refuses_preprocessing_it_cannot_reproduce(tmp_path: Path) -> None:
    build(tmp_path)
    edit(tmp_path, lambda d: d.__setitem__("preprocessing", {"resampler": "edge"}))
    load_manifest(tmp_path).check_reproducible()  # nothing the device does not do
    edit(tmp_path, lambda d: d.__setitem__("preprocessing", {"loudness": "rms",
                                                             "target_dbfs": -23}))
    m = load_manifest(tmp_path)  # `info` can still show it...
    with pytest.raises(ModelError, match="loudness normalisation 'rms'"):
        m.check_reproducible()  # ...but the pipeline refuses to run it
    from edge.pipeline import Pipeline

    with pytest.raises(ModelError, match="loudness"):
        Pipeline(m, members=[])


def test_write_manifest_respects_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o027)
    try:
        build(tmp_path)
    finally:
        os.umask(old)
    assert ((tmp_path / MANIFEST_NAME).stat().st_mode & 0o777) == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
