"""A real (tiny) training run through `edge-ser train`, and the run-folder contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TRAIN

from edge.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = TINY_TRAIN


def test_train_help_works_without_importing_tensorflow() -> None:
    code = ("import sys\nfrom edge.cli import main\n"
            "rc = main(['train', '--help'])\n"
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'tf_keras', 'librosa', 'sklearn')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "0 []"
    assert "--set" in out.stdout


@pytest.fixture(scope="module")
def corpus(tiny_corpus: Path) -> Path:
    return tiny_corpus


@pytest.fixture(scope="module")
def run_dir(trained_run: Path) -> Path:
    return trained_run


def default_frames() -> int:
    """Frames in a 3 s window of the training config's front end."""
    from edge.frontend.windows import window_frames
    from train.config import load_config

    return window_frames(load_config().frontend_config(), 3.0)


@pytest.mark.slow
@pytest.mark.tf
def test_run_folder_contract(run_dir: Path) -> None:
    run = json.loads((run_dir / "run.json").read_text())
    assert run["format"] == "edge-ser-run" and run["version"] == 1
    assert run["sets"] == ["fold-1", "fold-2", "final"]
    assert run["labels"] == ["neutral", "angry"]
    assert run["window"] == {"seconds": 3.0, "hop_seconds": 0.5, "frames": default_frames()}
    assert run["frontend"]["hop_length"] == 320  # the [frontend] table of default.toml
    assert run["split"].startswith("speaker-independent")
    assert run["wall_time_s"] > 0 and run["config"]["seed"] == 1
    for name in ("comparison.md", "comparison.json", "confusion-ensemble_soft.png",
                 "curves-fold-1.png", "folds/fold-1.json"):
        assert (run_dir / "results" / name).is_file(), name
    md = (run_dir / "results" / "comparison.md").read_text()
    assert "speaker-independent" in md and "ensemble, soft voting" in md
    for model in ("svm", "rf", "cnn", "lstm", "cnn_lstm", "ensemble_hard", "ensemble_soft"):
        assert model in run["results"], model


@pytest.mark.slow
@pytest.mark.tf
def test_load_set_and_windows(run_dir: Path) -> None:
    import tf_keras as keras

    from convert.runs import list_sets, load_set, normalize

    assert list_sets(run_dir) == ["fold-1", "fold-2", "final"]
    s = load_set(run_dir / "fold-1")
    assert s.info.labels == ("neutral", "angry") and s.info.window.frames == default_frames()
    assert [m.name for m in s.members] == ["m1-mfcc", "m2-logmel"]
    assert set(s.info.train_actors).isdisjoint(s.info.test_actors)
    assert set(s.info.val_actors).isdisjoint(s.info.test_actors)
    w = s.windows("test", "mfcc")
    assert w.X.shape[1:] == (default_frames(), 40) and len(w.y) == len(w.file) > 0
    model = keras.models.load_model(s.member_path(s.members[0]))
    p = model.predict(normalize(w.X, *s.info.normalization["mfcc"]), verbose=0)
    assert p.shape == (len(w.X), 2)
    final = load_set(run_dir / "final")
    assert final.info.test_actors == () and not final.has_test
    assert len(final.info.train_actors) == 4


@pytest.mark.slow
@pytest.mark.tf
def test_val_and_test_windows_are_never_augmented(run_dir: Path, corpus: Path) -> None:
    """Saved val/test windows equal windows of the clean recordings, file by file."""
    from convert.runs import load_set
    from edge.corpora import load_corpus
    from edge.frontend.windows import window_frames
    from train.config import load_config
    from train.experiment import feature_settings
    from train.features import compute_file, file_windows

    s = load_set(run_dir / "fold-1")
    utts = [u for u in load_corpus(corpus).utterances if u.label in s.info.labels]
    cfg = load_config(None, TINY[1::2])
    settings = feature_settings(cfg, s.info.frontend, ["logmel", "mfcc"])
    for split in ("val", "test"):
        w = s.windows(split, "mfcc")
        x, f = w.X.astype(np.float32), w.file
        for i in np.unique(f)[:3]:
            clean = file_windows(compute_file(utts[i], 0, settings, 1), s.info.frontend, "mfcc",
                                 s.info.window.frames, window_frames(s.info.frontend, 0.5),
                                 cfg.min_speech_fraction)
            np.testing.assert_allclose(x[f == i], clean, atol=0.05, rtol=1e-2)  # float16 storage


@pytest.mark.slow
@pytest.mark.tf
def test_augmentation_touches_only_training_actors(corpus: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from train import features

    seen: list[str] = []
    real = features.augment_waveform

    def spy(y, sr, cfg, rng, span=None):  # type: ignore[no-untyped-def]
        seen.append(features._current_speaker)  # set below
        return real(y, sr, cfg, rng, span)

    real_compute = features.compute_file

    def compute(utt, copy, settings, seed):  # type: ignore[no-untyped-def]
        features._current_speaker = utt.speaker
        return real_compute(utt, copy, settings, seed)

    monkeypatch.setattr(features, "augment_waveform", spy)
    monkeypatch.setattr(features, "compute_file", compute)
    rc = main(["train", "--data", str(corpus), "--out", str(tmp_path / "r"), "--no-cache",
               "--only", "fold-1", "--no-compare", "--set", "members=cnn_lstm:mfcc:1",
               "--set", "epochs=1", *TINY[2:]])
    assert rc == 0
    from convert.runs import load_set

    s = load_set(tmp_path / "r" / "fold-1")
    assert seen and set(seen) <= set(s.info.train_actors)
    assert not set(seen) & (set(s.info.val_actors) | set(s.info.test_actors))


@pytest.mark.slow
@pytest.mark.tf
def test_mirrored_strategy_path(corpus: Path, tmp_path: Path) -> None:
    rc = main(["train", "--data", str(corpus), "--out", str(tmp_path / "m"),
               "--cache", str(tmp_path / "c"), "--only", "fold-2", "--no-compare",
               "--strategy", "mirrored", "--set", "members=cnn:mfcc:3", "--set", "epochs=1",
               "--set", "baselines=", *TINY[2:]])
    assert rc == 0
    run = json.loads((tmp_path / "m" / "run.json").read_text())
    assert run["strategy"] == "mirrored" and "cnn" in run["results"]


def test_bad_override_is_a_one_line_error(corpus: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rc = main(["train", "--data", str(corpus), "--out", str(tmp_path), "--set", "nope=1"])
    assert rc == 2
    assert "unknown hyperparameter" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.tf
def test_search_scores_on_validation_actors_only(corpus: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from train import experiment

    seen_test: list[int] = []
    real_run = experiment.SetTrainer.run

    def spy(self, sp, out_dir, epochs=None):  # type: ignore[no-untyped-def]
        seen_test.extend(sp.test)
        return real_run(self, sp, out_dir, epochs)

    monkeypatch.setattr(experiment.SetTrainer, "run", spy)
    rc = main(["train", "--data", str(corpus), "--out", str(tmp_path / "s"), "--no-cache",
               "--search", "1", "--only", "fold-1", "--set", "epochs=1", *TINY[2:]])
    assert rc == 0
    result = json.loads((tmp_path / "s" / "search.json").read_text())
    assert result["scored_on"] == "validation actors" and len(result["trials"]) == 1
    assert seen_test == []


@pytest.mark.slow
@pytest.mark.tf
def test_members_fit_in_parallel_worker_processes(corpus: Path, tmp_path: Path) -> None:
    """--jobs 2 fits the members in two spawned workers; the run folder is the same shape."""
    import os

    from train.config import load_config
    from train.parallel import FitData, FitJob, Fitter

    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 300, 4)).astype(np.float32)
    y = np.arange(24) % 2
    file = np.arange(24) // 2
    data = FitData.write(tmp_path / "d" / "k", (x, y, file), (x[:8], y[:8], file[:8]))
    cfg = load_config(None, [*TINY[1::2], "members=cnn:mfcc:1"])
    jobs = [FitJob(f"m{s}", "cnn", data, s, str(tmp_path / "out"), 300, 2) for s in (1, 2)]
    with Fitter(cfg, workers=2) as fitter:
        done = fitter.run(jobs)
    assert [d.name for d in done] == ["m1", "m2"]
    assert all(Path(d.model_path).is_file() and d.params > 0 for d in done)
    assert all(len(d.history["loss"]) == 2 and 1 <= d.best_epoch <= 2 for d in done)
    assert os.getpid() not in {d.pid for d in done}  # fitted in the workers, not here
    rc = main(["train", "--data", str(corpus), "--out", str(tmp_path / "r"), "--no-cache",
               "--only", "fold-1", "--jobs", "2", "--set", "baselines=",
               "--set", "members=cnn_lstm:mfcc:1,cnn:logmel:2", *TINY])
    assert rc == 0
    s = json.loads((tmp_path / "r" / "fold-1" / "set.json").read_text())
    assert [m["name"] for m in s["members"]] == ["m1-mfcc", "m2-cnn-logmel"]
    assert all((tmp_path / "r" / "fold-1" / m["file"]).is_file() for m in s["members"])
    assert not (tmp_path / "r" / "fold-1" / "fit-data").exists()  # scratch arrays removed
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert {"cnn", "lstm", "ensemble_soft"} <= set(run["results"])


@pytest.mark.slow
@pytest.mark.tf
def test_fixed_schedule_can_train_on_the_validation_actors(corpus: Path, tmp_path: Path) -> None:
    """train_on_val_actors: every non-test actor trains, for exactly `epochs` epochs."""
    rc = main(["train", "--data", str(corpus), "--out", str(tmp_path / "r"), "--no-cache",
               "--only", "fold-1", "--no-compare", "--set", "members=cnn_lstm:mfcc:1",
               "--set", "early_stopping=false", "--set", "train_on_val_actors=true",
               "--set", "lr_schedule=cosine", *TINY])
    assert rc == 0
    s = json.loads((tmp_path / "r" / "fold-1" / "set.json").read_text())
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["config"]["early_stopping"] is False
    assert s["val_actors"] == []
    assert not set(s["train_actors"]) & set(s["test_actors"])
    assert len(s["train_actors"]) + len(s["test_actors"]) == 4  # all 4 actors of the corpus
    (member,) = s["members"]
    assert member["best_epoch"] == 2  # TINY sets epochs=2: no early stop, last weights
    hist = (tmp_path / "r" / "fold-1" / "m1-mfcc.history.csv").read_text().splitlines()
    assert len(hist) == 3  # header + 2 epochs


@pytest.mark.tf
def test_cosine_schedule_ends_near_zero_learning_rate(tmp_path: Path) -> None:
    from train.config import load_config
    from train.fit import fit_member
    from train.members import build_member

    cfg = load_config(None, [*TINY[1::2], "lr_schedule=cosine", "early_stopping=false"])
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 300, 4)).astype(np.float32)
    y = np.arange(32) % 2
    res = fit_member(lambda: build_member("cnn", 300, 4, 2, cfg), x, y, None, cfg, 2, 1,
                     tmp_path, "m")
    opt = res.model.optimizer
    lr_end = float(opt.learning_rate)  # the rate of the last update
    assert int(opt.iterations) == 2 * 2  # 2 epochs of 2 batches of 16
    # step 3 of 4 of a cosine decay: (1 + cos(3π/4)) / 2 = 0.146 of the peak (constant: 1.0)
    assert lr_end == pytest.approx(0.1464 * cfg.learning_rate, rel=1e-3)


@pytest.mark.slow
@pytest.mark.tf
def test_validation_actor_scores_are_reported_per_fold(run_dir: Path) -> None:
    for fold in ("fold-1", "fold-2"):
        res = json.loads((run_dir / "results" / "folds" / f"{fold}.json").read_text())
        s = json.loads((run_dir / fold / "set.json").read_text())
        val = res["val"]
        assert val["actors"] == s["val_actors"] and len(val["actors"]) == 1
        assert set(val["members_uar"]) == {m["name"] for m in s["members"]}
        assert 0.0 <= val["ensemble_soft_uar"] <= 1.0
        # with early stopping the member's recorded val UAR is its restored epoch's
        for m in s["members"]:
            assert val["members_uar"][m["name"]] == pytest.approx(m["val_uar"], abs=1e-6)


@pytest.mark.slow
@pytest.mark.tf
def test_fixed_schedule_scores_the_validation_actors_every_epoch(corpus: Path,
                                                                 tmp_path: Path) -> None:
    """The default: no early stopping, last weights kept, validation actors held out and scored."""
    rc = main(["train", "--data", str(corpus), "--out", str(tmp_path / "r"), "--no-cache",
               "--only", "fold-2", "--no-compare", "--set", "members=cnn_lstm:mfcc:1",
               "--set", "early_stopping=false", "--set", "epochs=3", *TINY[2:]])
    assert rc == 0
    s = json.loads((tmp_path / "r" / "fold-2" / "set.json").read_text())
    assert len(s["val_actors"]) == 1 and not set(s["val_actors"]) & set(s["train_actors"])
    (member,) = s["members"]
    assert member["best_epoch"] == 3  # all epochs ran, whatever the validation curve did
    import csv

    with open(tmp_path / "r" / "fold-2" / "m1-mfcc.history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and all("val_uar" in r for r in rows)
    assert member["val_uar"] == pytest.approx(float(rows[-1]["val_uar"]))  # the last epoch's
