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
