"""The speech level a file result reports (edge.level): dBFS of the loud part of its frames,
following the gain, blind to zero padding, absent for digital silence, in classify's JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import harmonic_chirp, run_cli, write_pcm16
from fixtures.tiny import TINY

from edge.level import LevelMeter
from edge.manifest import load_manifest
from edge.pipeline import Pipeline


def sine(amplitude: float, seconds: float = 2.0, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_the_meter_reads_a_sine_at_its_rms_level() -> None:
    meter = LevelMeter()
    assert meter.level() is None
    meter.add(np.full(100, 0.1 / np.sqrt(2)))  # a 0.1 sine's frame RMS
    meter.add(np.zeros(400))                    # padding: not counted
    assert meter.level() == pytest.approx(-23.0, abs=0.3)


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return Pipeline(load_manifest(TINY))


def test_a_file_level_follows_the_gain_and_ignores_padding(pipe: Pipeline) -> None:
    y = harmonic_chirp(seconds=2.5)
    loud = pipe.classify_audio(y).level_dbfs
    quiet = pipe.classify_audio(y * 0.1).level_dbfs
    assert loud is not None and quiet is not None
    assert loud - quiet == pytest.approx(20.0, abs=0.5)
    assert pipe.classify_audio(sine(0.1)).level_dbfs == pytest.approx(-23.0, abs=0.5)
    # shorter than a window: zero-padded to one, the padding does not lower the level
    short = pipe.classify_audio(sine(0.1, seconds=0.3)).level_dbfs
    assert short == pytest.approx(-23.0, abs=0.5)
    assert pipe.classify_audio(np.zeros(32000, np.float32)).level_dbfs is None


def test_classify_json_reports_the_level(tmp_path: Path) -> None:
    a = write_pcm16(tmp_path / "a.wav", sine(0.1), 16000)
    b = write_pcm16(tmp_path / "b.wav", np.zeros(16000, np.float32), 16000)
    r = run_cli("classify", "--models", str(TINY), "--json", str(a), str(b))
    assert r.returncode == 0, r.stderr
    got = {Path(d["file"]).name: d for d in map(json.loads, r.stdout.splitlines())}
    assert got["a.wav"]["level_dbfs"] == pytest.approx(-23.0, abs=0.5)
    assert got["b.wav"]["level_dbfs"] is None


def test_advice_speaks_once_when_speech_is_far_from_the_trained_level() -> None:
    from edge.level import LevelAdvice

    quiet = LevelAdvice((-18.0, -15.0), speech_windows=3)
    said = [quiet.add(True, -40.0) for _ in range(5)]
    assert said[:2] == [None, None] and said[3:] == [None, None]
    assert said[2] is not None and "at -40 dBFS, 22 dB quieter" in said[2]
    loud = LevelAdvice((-18.0, -15.0), speech_windows=2)
    assert [loud.add(True, -3.0), loud.add(False, -60.0), loud.add(True, -3.0)][2] is not None
    fine = LevelAdvice((-18.0, -15.0), speech_windows=2)
    assert [fine.add(True, -20.0) for _ in range(4)] == [None] * 4
    deaf = LevelAdvice((-18.0, -15.0), quiet_windows=3, vad_floor_dbfs=-50.0)
    said = [deaf.add(False, -70.0), deaf.add(False, None), deaf.add(False, -65.0)]
    assert said[:2] == [None, None] and "nothing louder than -65 dBFS" in str(said[2])
    assert LevelAdvice(None, speech_windows=1).add(True, -80.0) is None  # models without it


def test_a_window_reports_its_level(pipe: Pipeline) -> None:
    results = pipe.push(sine(0.1, seconds=3.0)) + pipe.flush()
    assert results and all(r.level_dbfs == pytest.approx(-23.0, abs=0.5) for r in results)


def with_level(tmp_path: Path, level: list[float]) -> Path:
    from fixtures.tiny import copy_tiny

    folder = copy_tiny(tmp_path)
    data = json.loads((folder / "manifest.json").read_text())
    data.setdefault("speech", {})["level_dbfs"] = level
    (folder / "manifest.json").write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize("gain, warned", [(0.01, True), (0.3, False)])
def test_listen_says_when_the_microphone_is_far_from_the_trained_level(
        tmp_path: Path, gain: float, warned: bool) -> None:
    folder = with_level(tmp_path, [-20.0, -12.0])
    voice = np.concatenate([harmonic_chirp(seconds=1.5, seed=i) / 0.3 * gain
                            for i in range(10)])
    wav = write_pcm16(tmp_path / "v.wav", voice, 16000)
    r = run_cli("listen", "--source", str(wav), "--fast", "--models", str(folder))
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "trained on speech at -20 to -12 dBFS" in ln]
    assert len(lines) == (1 if warned else 0), r.stderr
    if warned:
        assert "quieter" in lines[0] and "capture gain" in lines[0]


def test_a_bad_trained_level_is_refused_in_one_line(tmp_path: Path) -> None:
    folder = with_level(tmp_path, [-5.0, -20.0])
    r = run_cli("info", "--models", str(folder))
    assert r.returncode != 0 and "level_dbfs must be [low, high]" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_merge_records_the_trained_level(tmp_path: Path) -> None:
    from fixtures.tiny import renamed_copy

    (tmp_path / "b").mkdir()
    other = renamed_copy(tmp_path / "b", fill=None, mfcc_shift=0.0)
    out = tmp_path / "merged"
    r = run_cli("merge", str(TINY), str(other), "--speech-level", "-18:-15", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert load_manifest(out).speech.level_dbfs == (-18.0, -15.0)
    r = run_cli("merge", str(TINY), str(other), "--speech-level", "loud", "--out",
                str(tmp_path / "x"))
    assert r.returncode != 0 and "LOW:HIGH" in r.stderr


def test_info_shows_the_trained_level(tmp_path: Path) -> None:
    r = run_cli("info", "--models", str(with_level(tmp_path, [-18.0, -15.0])))
    assert r.returncode == 0 and "trained on speech at -18 to -15 dBFS" in r.stdout


def test_the_level_probe_brings_each_speaker_to_the_trained_level(tiny_corpus: Path,
                                                                   tmp_path: Path) -> None:
    """benchmarks/level_enrol_probe.py: one gain per speaker from its enrolment clips, the
    fold's target the median of the other corpora's levels."""
    import sys

    from benchmarks import level_enrol_probe as probe

    levels = tmp_path / "levels.json"
    levels.write_text(json.dumps({"per_corpus": {
        "ravdess": {"median": -40.0}, "a": {"median": -20.0}, "b": {"median": -16.0},
        "c": {"median": -10.0}}}))
    assert probe.fold_target(levels, "ravdess") == -16.0  # its own -40 left out
    with pytest.raises(SystemExit, match="no level of nemo"):
        probe.fold_target(levels, "nemo")
    out = tmp_path / "probe"
    argv = ["level_enrol_probe", "--models-pattern", str(TINY), "--data",
            f"ravdess:{tiny_corpus}", "--clips", "1", "--levels", str(levels), "--out", str(out)]
    old, sys.argv = sys.argv, argv
    try:
        probe.main()
    finally:
        sys.argv = old
    row = json.loads(out.with_suffix(".json").read_text())["rows"][0]
    assert row["speakers"] == 4 and row["files"] == 12  # one clip of each of 4 actors enrols
    for g in row["gains"].values():
        lo, hi = probe.GAIN_LIMITS_DB
        assert g["level_dbfs"] + g["gain_db"] == pytest.approx(-16.0, abs=0.01) or \
            g["gain_db"] in (lo, hi)
    assert set(row["core4_uar"]) == {"as recorded", "speaker's gain"}
    assert "| ravdess | 12 (4) | -16.0 |" in out.with_suffix(".md").read_text()
