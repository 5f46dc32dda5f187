"""Members that take an enrolled speaker's statistics (``speaker_norm = "mixed"``): the
statistics as the device computes them, each window normalised by its own speaker's, and a
real run that scores the same test files with and without enrolment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TRAIN

from edge.errors import ConfigError
from edge.frontend.windows import speaker_statistics
from train.features import FileFeatures, Windows
from train.speakernorm import SpeakerNorm, enrolment_clips


def test_speaker_statistics_pool_every_recording() -> None:
    a = np.array([[0.0, 1.0], [2.0, 1.0]])
    b = np.array([[4.0, 1.0]])
    mean, std = speaker_statistics([a, b, np.zeros((0, 2))])
    assert mean == pytest.approx([2.0, 1.0])
    assert std[0] == pytest.approx(np.std([0.0, 2.0, 4.0]))
    assert std[1] == pytest.approx(1e-3)  # a constant coefficient is floored, not divided by 0
    with pytest.raises(ConfigError, match="no speech frames"):
        speaker_statistics([np.zeros((0, 2))])


def test_enrolment_clips_are_the_speakers_own_and_fixed_by_the_seed() -> None:
    ids = [7, 3, 9, 11, 5]
    pick = enrolment_clips(ids, "nemo/SM0", 3, seed=1)
    assert len(pick) == 3 and set(pick) <= set(ids)
    assert pick == enrolment_clips(list(reversed(ids)), "nemo/SM0", 3, seed=1)
    assert enrolment_clips(ids, "nemo/SM0", 10, seed=1) == sorted(ids)


def _features(offset: float, n: int = 40) -> FileFeatures:
    rng = np.random.default_rng(abs(int(offset * 10)))
    return FileFeatures({"mfcc": (offset + rng.standard_normal((n, 40))).astype(np.float32),
                         "rms": np.full((n, 1), 0.1, np.float32)},
                        np.ones(n, bool), n * 320)


def test_each_window_is_normalised_by_its_own_speaker() -> None:
    from edge.frontend.config import FrontendConfig

    speaker_of = ["a", "a", "b", "b", "c", "c"]  # training speakers a, b; test speaker c
    offsets = {"a": 0.0, "b": 50.0, "c": -30.0}
    feats = {(i, 0): _features(offsets[s] + i) for i, s in enumerate(speaker_of)}
    norm = SpeakerNorm.fit(feats, speaker_of, ([0, 1, 2, 3], [4, 5]), ["mfcc"],
                           FrontendConfig(hop_length=320), clips=1, seed=1)
    assert len(norm.enrolment) == 3  # one clip per speaker
    files = np.array([0, 1, 2, 3])
    w = Windows(np.stack([feats[(i, 0)].bases["mfcc"][:10] for i in files]),
                np.zeros(4, np.int64), files)
    out = norm.normalize(w, "mfcc")
    # speaker b sits 50 above speaker a; after their own statistics both are near 0
    assert abs(float(out[:2].mean())) < 1.5 and abs(float(out[2:].mean())) < 1.5
    assert abs(float(w.x[2:].mean()) - float(w.x[:2].mean())) > 40
    assert norm.scored(files).sum() == 2  # the enrolment clips are never scored
    assert norm.scored(np.array([4, 5])).sum() == 1


@pytest.mark.slow
@pytest.mark.tf
def test_a_mixed_run_scores_the_same_files_with_and_without_enrolment(
        tiny_corpus: Path, tmp_path: Path) -> None:
    from edge.cli import main

    out = tmp_path / "run"
    rc = main(["train", "--data", str(tiny_corpus), "--out", str(out), "--cache",
               str(tmp_path / "cache"), "--set", "members=stats:mfcc+pitch+rms:1",
               "--set", "speaker_norm=mixed", "--set", "speaker_norm_clips=1",
               "--set", "window_fill=speech",
               "--set", "baselines=[]", "--no-compare", *TINY_TRAIN])
    assert rc == 0
    fold = json.loads((out / "results" / "folds" / "fold-1.json").read_text())
    enrol = fold["enrolment"]
    assert enrol["clips"] == 1
    n_with = sum(c["files"] for c in enrol["with"].values())
    n_without = sum(c["files"] for c in enrol["without"].values())
    s = json.loads((out / "fold-1" / "set.json").read_text())
    assert s["speaker_norm"] == {"mode": "mixed", "clips": 1}
    assert s["window"]["fill"] == "speech"
    # the same files both ways: every test file but one enrolment clip per test speaker
    n_test = sum(c["files"] for c in fold["per_corpus"].values())
    assert n_with == n_without == n_test - len(s["test_actors"]) > 0
    # the manifest tells the device to take an enrolled speaker's statistics
    from edge.manifest import load_manifest

    rc = main(["convert", str(out), "--out", str(tmp_path / "models"), "--sparsity", "0",
               "--representative", "20", "--verify-windows", "20"])
    assert rc == 0
    manifest = load_manifest(tmp_path / "models")
    enrol = manifest.enrolment
    assert enrol is not None and (enrol.features, enrol.fallback) == ("speaker", "global")
    # ... and to fill windows with speech as training did; classify runs on it
    assert manifest.window.fill == "speech"
    wav = sorted(tiny_corpus.rglob("*.wav"))[0]
    assert main(["classify", str(wav), "--models", str(tmp_path / "models")]) == 0
    # what enrolment does is the converter's to say, from measurement
    rc = main(["convert", str(out), "--out", str(tmp_path / "models-prior"), "--sparsity", "0",
               "--representative", "20", "--verify-windows", "20", "--enrol-features",
               "global", "--enrol-prior", "0.5"])
    assert rc == 0
    enrol = load_manifest(tmp_path / "models-prior").enrolment
    assert enrol is not None and (enrol.features, enrol.prior, enrol.prior_strength) == (
        "global", "divide", 0.5)
