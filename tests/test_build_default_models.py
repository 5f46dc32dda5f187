"""The one command that rebuilds the shipped models runs end to end (on a tiny synthetic corpus)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.slow


def test_build_default_models_script_end_to_end(tmp_path: Path) -> None:
    from train.synthetic import make_corpus

    make_corpus(tmp_path / "data", actors=6, labels=(0, 2, 4, 5), repeats=2)
    env = {**os.environ, "PYTHON": sys.executable, "MODELS_OUT": str(tmp_path / "models"),
           "TRAIN_ARGS": "--set n_folds=3 --set epochs=2 --set aug_copies=0 --set baselines= "
                         "--set members=cnn_lstm:mfcc:1,cnn_lstm:logmel:2 --no-compare"}
    out = subprocess.run(["bash", "tools/build_default_models.sh", str(tmp_path / "data"),
                          str(tmp_path / "work")], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    models = tmp_path / "models"
    manifest = json.loads((models / "manifest.json").read_text())
    assert [m["name"] for m in manifest["members"]] == ["m1-mfcc", "m2-logmel"]
    report = json.loads((models / "conversion-report.json").read_text())
    assert report["header"]["pruning"].startswith("50 %")  # the shipped recipe prunes
    card = (models / "MODEL_CARD.md").read_text()
    assert "Speaker-independent results" in card and "Robustness" in card
    folds = json.loads((tmp_path / "work" / "cv-int8" / "cv_int8.json").read_text())
    assert len(folds["per_fold"]["clean"]) == 3  # every fold's int8 models scored
    classify = subprocess.run([sys.executable, "-m", "edge.cli", "classify", "--models",
                               str(models), "--json", str(REPO / "examples" / "hello.wav")],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
    assert classify.returncode == 0, classify.stderr
    result = json.loads(classify.stdout)
    assert result["top"] in manifest["labels"]
    assert result["label"] in (result["top"], "uncertain")
