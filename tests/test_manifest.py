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
        (lambda d: d["features"]["mfcc"]["std"].__setitem__(0, 0.0), "std finite and positive"),
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
