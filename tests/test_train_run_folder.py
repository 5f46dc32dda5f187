"""The run folder is one type (train.runs.RunInfo / SetInfo) that training writes and the
conversion reads, and it carries training's preprocessing to the manifest (#14.10)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge.cli import main

PREPROCESSING_KEYS = {"sr", "vad", "loudness", "target_dbfs", "denoise", "resampler",
                      "min_speech_fraction"}


@pytest.mark.slow
@pytest.mark.tf
def test_what_training_writes_reads_back_through_the_same_types(trained_run: Path) -> None:
    from train.runs import RunInfo, SetInfo

    raw = json.loads((trained_run / "run.json").read_text())
    assert RunInfo.read(trained_run).to_dict() == raw
    assert set(raw["preprocessing"]) == PREPROCESSING_KEYS
    assert raw["preprocessing"]["min_speech_fraction"] == raw["config"]["min_speech_fraction"]
    for name in raw["sets"]:
        info = SetInfo.read(trained_run / name)
        written = info.to_dict()
        del written["preprocessing"]
        assert written == json.loads((trained_run / name / "set.json").read_text())
        assert info.preprocessing == raw["preprocessing"]  # recorded once, in run.json
        assert all("best_epoch" in m.extra for m in info.members)


@pytest.mark.slow
@pytest.mark.tf
def test_convert_carries_training_preprocessing_into_the_manifest(
        trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "models"
    rc = main(["convert", str(trained_run), "--out", str(out), "--representative", "20",
               "--verify-windows", "20", "--temperature", "1.5"])
    assert rc == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    training = manifest["metadata"]["training"]
    run = json.loads((trained_run / "run.json").read_text())
    assert training == {"preprocessing": run["preprocessing"], "mismatches": []}
    # the contract's own sections: what the device must reproduce of training
    assert manifest["speech"]["min_speech_fraction"] == run["preprocessing"][
        "min_speech_fraction"]
    assert manifest["speech"]["no_speech"] == "best_window"  # what training keeps
    assert manifest["preprocessing"]["loudness"] == run["preprocessing"]["loudness"]
    final = json.loads((trained_run / "final" / "set.json").read_text())
    heard = {s for c in manifest["training"]["corpora"] for s in c["speakers"]}
    assert heard == {str(s) for s in (*final["train_actors"], *final["val_actors"])}
    assert [c["name"] for c in manifest["training"]["corpora"]] == ["ravdess"]
    assert manifest["calibration"]["temperature"] == 1.5
    from edge.manifest import load_manifest

    m = load_manifest(out)
    assert m.calibration is not None and m.calibration.temperature == 1.5
    assert m.speech.no_speech == "best_window"


@pytest.mark.slow
@pytest.mark.tf
def test_preprocessing_the_device_does_not_do_is_named_and_strict_refuses(
        trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from convert.runs import preprocessing_mismatches

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    meta = json.loads((run / "run.json").read_text())
    meta["preprocessing"].update(loudness="rms", denoise=True)
    (run / "run.json").write_text(json.dumps(meta))
    assert preprocessing_mismatches(meta["preprocessing"]) == [
        "training used loudness = 'rms' but the device does 'none'",
        "training used denoise = True but the device does False"]
    rc = main(["convert", str(run), "--out", str(tmp_path / "models"), "--strict"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "loudness = 'rms'" in err[0] and "--strict" in err[0]
    assert not (tmp_path / "models").exists()
