"""benchmarks/loco_device.py on a real leave-one-corpus-out run of two generated corpora:
each set converted (int8 and float32), the runs merged, each held-out corpus classified by the
device pipeline, a changed-audio condition scored, and a rerun served from its work folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, TINY_TRAIN

pytestmark = [pytest.mark.slow, pytest.mark.tf]


def two_corpora(root: Path) -> tuple[str, str]:
    """A RAVDESS-layout corpus and one in nEMO's layout (other voices, 12 dB quieter)."""
    from train.synthetic import make_corpus, make_nemo_corpus

    four = (0, 2, 3, 4)  # neutral, happy, sad, angry: core-4 is defined
    make_corpus(root / "a", actors=3, labels=four, repeats=1, seed=1)
    nemo = make_nemo_corpus(root / "b", actors=3, labels=four, repeats=1, seed=2, gain=0.25)
    return f"ravdess:{root / 'a'}", f"nemo:{nemo}"


def test_leave_one_corpus_out_through_the_device(tmp_path: Path) -> None:
    from edge.cli import main

    data = two_corpora(tmp_path)
    runs = {}
    for name, member in (("A", "rbf:mfcc:1"), ("B", "stats:mfcc:1")):
        runs[name] = tmp_path / f"run-{name}"
        assert main(["train", "--data", data[0], "--data", data[1], "--out", str(runs[name]),
                     "--cache", str(tmp_path / "cache"), "--set", f"members={member}",
                     "--set", "rbf_centres=8", "--set", "split=loco", "--set", "baselines=[]",
                     "--no-compare", "--no-final", *TINY_TRAIN,
                     "--set", "labels=neutral,happy,sad,angry"]) == 0
    cmd = [sys.executable, str(REPO / "benchmarks/loco_device.py"),
           "--run", f"A={runs['A']}", "--run", f"B={runs['B']}",
           "--data", data[0], "--data", data[1], "--work", str(tmp_path / "work"),
           "--condition", "gain:-6", "--out", str(tmp_path / "device")]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads((tmp_path / "device.json").read_text())["per_corpus"]
    assert set(got) == {"ravdess", "nemo"}
    for corpus, row in got.items():
        assert set(row) == {"int8", "float32", "gain:-6"}
        assert all(0.0 <= v <= 1.0 for v in row.values())
        # both members of the merged ensemble, both runs' set for this held-out corpus
        merged = json.loads((tmp_path / "work" / f"A+B-{corpus}-int8" / "manifest.json")
                            .read_text())
        assert [m["name"] for m in merged["members"]] == ["m1-rbf-mfcc", "m1-stats-mfcc"]
        assert {c["name"] for c in merged["training"]["corpora"]} == {"ravdess", "nemo"} - {corpus}
    table = (tmp_path / "device.md").read_text()
    assert "| held-out corpus | int8, device | float32, device | int8 − float32 |" in table
    assert "gain:-6" in table
    # a rerun reads every score from the work folder, and a wrong condition is one line
    scores = sorted((tmp_path / "work").glob("score-*.json"))
    assert len(scores) == 6
    stamp = [p.stat().st_mtime_ns for p in scores]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0 and [p.stat().st_mtime_ns for p in scores] == stamp
    r = subprocess.run([*cmd[:-2], "--condition", "hum", "--out", str(tmp_path / "x")],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode != 0 and "unknown --condition 'hum'" in r.stderr
    assert "Traceback" not in r.stderr
    # a condition gate per fold: A's member votes alone on clean windows, fitted on the
    # fold's training corpus only
    r = subprocess.run([*cmd[:-2], "--int8-only", "--gate-clean", "A", "--gate-data", data[0],
                        "--gate-data", data[1], "--gate-files", "10",
                        "--out", str(tmp_path / "gated")],
                       capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    for corpus, other in (("ravdess", "nemo"), ("nemo", "ravdess")):
        gate = json.loads((tmp_path / "work" / f"A+B-{corpus}-int8-gated" / "manifest.json")
                          .read_text())["condition_gate"]
        assert gate["clean_members"] == ["m1-rbf-mfcc"] and gate["streams"] == ["mfcc"]
        assert f"files of {other}," in gate["fitted_on"]
    assert "condition gate per fold with A" in (tmp_path / "gated.md").read_text()
