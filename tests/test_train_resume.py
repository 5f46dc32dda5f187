"""A first run that goes right: early one-line errors, small corpora, resumable runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import main

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--no-cache", "--no-compare", "--set", "members=cnn_lstm:mfcc:1", "--set", "epochs=1",
         "--set", "aug_copies=1", "--set", "conv_filters=8,8", "--set", "pool_sizes=3,2",
         "--set", "lstm_units=8", "--set", "labels=neutral,angry", "--set", "batch_size=16",
         "--set", "baselines=svm"]


def _corpus(root: Path, actors: int) -> Path:
    from train.synthetic import make_corpus

    make_corpus(root, actors=actors, labels=(0, 4), repeats=2)
    return root


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _corpus(tmp_path_factory.mktemp("four"), 4)


def _train_in_child(*args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`edge-ser train` in a fresh process; also returns the heavy modules it imported."""
    code = ("import sys\nfrom edge.cli import main\nrc = main(sys.argv[1:])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'tf_keras')))\nsys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, "train", *args], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    return out, out.stdout.strip().splitlines()[-1:]


@pytest.mark.parametrize("problem", ["missing", "empty", "not-audio"])
def test_a_bad_corpus_is_one_line_before_tensorflow_and_leaves_no_folder(
        problem: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    if problem != "missing":
        data.mkdir()
    if problem == "not-audio":
        (data / "notes.txt").write_text("no audio here")
    out, imported = _train_in_child("--data", str(data), "--out", str(tmp_path / "run"))
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert imported == ["[]"]  # the corpus is checked before TensorFlow is imported
    assert not (tmp_path / "run").exists()


def test_a_missing_frontend_file_is_one_line(four: Path, tmp_path: Path) -> None:
    out, imported = _train_in_child("--data", str(four), "--out", str(tmp_path / "run"),
                                    "--frontend", str(tmp_path / "nope.json"))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"edge-ser: error: cannot read --frontend {tmp_path / 'nope.json'}: "
        "No such file or directory"]
    assert imported == ["[]"] and not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.tf
def test_a_failed_start_leaves_no_run_folder(four: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    rc = main(["train", "--data", str(four), "--out", str(out), "--only", "fold-1", *SMALL,
               "--set", "members=cnn_lstm:nosuchfeature:1"])
    assert rc != 0
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.tf
def test_four_actors_in_four_folds_report_every_fold(four: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """n_folds=4 with 4 actors used to make empty folds and drop the whole report (#14.3)."""
    out = tmp_path / "run"
    rc = main(["train", "--data", str(four), "--out", str(out), "--no-final",
               "--set", "n_folds=4", "--set", "n_val_actors=1", *SMALL])
    assert rc == 0, capsys.readouterr().err
    comparison = json.loads((out / "results" / "comparison.json").read_text())
    assert set(comparison["models"]["ensemble_soft"]["folds"]) == {f"fold-{i}" for i in
                                                                  range(1, 5)}
    assert comparison["models"]["cnn_lstm"]["n_folds"] == 4


@pytest.mark.slow
@pytest.mark.tf
def test_three_speakers_train_with_the_defaults_and_convert_without_options(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's sequence on a handful of speakers: train (recipe fold counts shrink to the
    corpus, a final set by default), then convert with no --set (#14.4)."""
    data = _corpus(tmp_path / "three", 3)
    out = tmp_path / "run"
    rc = main(["train", "--data", str(data), "--out", str(out), "--quick", *SMALL])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "3 speakers: 3 folds" in err
    run = json.loads((out / "run.json").read_text())
    assert run["sets"] == ["fold-1", "fold-2", "fold-3", "final"]
    assert (run["config"]["n_folds"], run["config"]["n_val_actors"]) == (3, 1)
    rc = main(["convert", str(out), "--out", str(tmp_path / "models"),
               "--representative", "20", "--verify-windows", "20"])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "models" / "manifest.json").is_file()


@pytest.mark.slow
@pytest.mark.tf
def test_a_rerun_skips_finished_folds_and_refuses_another_setup(
        four: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A stopped run continues where it stopped (#13.8)."""
    out = tmp_path / "run"
    args = ["train", "--data", str(four), "--out", str(out), "--set", "n_folds=2", *SMALL]
    assert main([*args, "--only", "fold-1"]) == 0
    capsys.readouterr()
    model = out / "fold-1" / "m1-mfcc.h5"
    stamp = model.stat().st_mtime_ns
    # what convert says when there is no final set: the command that trains what is missing
    assert main(["convert", str(out), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert f"--out {out} --final` (finished folds are kept)" in err
    assert "edge-ser train --data" in err and len(err.splitlines()) == 1

    assert main([*args, "--final"]) == 0  # fold-2 and final are new; fold-1 is kept
    err = capsys.readouterr().err
    assert "fold-1: finished by an earlier run" in err and "== fold-1" not in err
    assert "== fold-2" in err and "== final" in err
    assert model.stat().st_mtime_ns == stamp
    run = json.loads((out / "run.json").read_text())
    assert run["sets"] == ["fold-1", "fold-2", "final"]
    comparison = json.loads((out / "results" / "comparison.json").read_text())
    assert set(comparison["models"]["cnn_lstm"]["folds"]) == {"fold-1", "fold-2"}

    assert main([*args, "--set", "epochs=2", "--only", "fold-1"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("edge-ser: error: ") and "config.epochs 1 → 2" in last
    assert "--force" in last
    assert model.stat().st_mtime_ns == stamp

    assert main([*args, "--set", "epochs=2", "--only", "fold-1", "--force"]) == 0
    assert model.stat().st_mtime_ns != stamp
    assert json.loads((out / "run.json").read_text())["sets"] == ["fold-1"]


def test_an_out_folder_that_is_not_a_run_is_never_used(four: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["train", "--data", str(four), "--out", str(tmp_path), "--force", *SMALL]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "keep me"
