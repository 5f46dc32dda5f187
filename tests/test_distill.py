"""Distillation: a teacher's soft labels mixed into the members' training targets, and for a
leave-one-corpus-out set, a teacher that never saw the held-out corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TRAIN

from edge.corpora import CORE_4
from edge.errors import ConfigError
from train.distill import mix_targets, teacher_matrix
from train.teacher import loco_soft_labels, read_soft_labels, save_soft_labels


def _npz(tmp_path: Path, paths: list[Path], probs: np.ndarray,
         loco: dict[str, np.ndarray] | None = None) -> Path:
    out = tmp_path / "soft.npz"
    save_soft_labels(out, [str(p) for p in paths], probs, np.zeros(len(paths)), {}, loco)
    return out


def test_teacher_matrix_follows_the_runs_label_order(tmp_path: Path) -> None:
    paths = [tmp_path / "a.wav", tmp_path / "b.wav"]
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]], np.float32)
    npz = _npz(tmp_path, paths[:1], probs[:1])
    labels = ["angry", "calm", *[c for c in CORE_4 if c != "angry"]]
    m = teacher_matrix(str(npz), paths, labels)
    assert m[0, 0] == pytest.approx(probs[0, CORE_4.index("angry")])
    assert m[0, 1] == 0.0  # a label the teacher does not know
    for j, name in enumerate(labels[2:], start=2):
        assert m[0, j] == pytest.approx(probs[0, CORE_4.index(name)])
    assert np.isnan(m[1]).all()  # no teacher label for b.wav


def test_mix_targets_leaves_unknown_files_and_foreign_labels_one_hot() -> None:
    labels = ["neutral", "happy", "fearful"] if "fearful" not in CORE_4 else list(CORE_4)
    teacher = np.array([[0.2, 0.8, 0.0], [np.nan] * 3, [0.5, 0.5, 0.0]], np.float32)
    y = np.array([0, 1, 2])
    t = mix_targets(y, np.array([0, 1, 2]), teacher, 0.5, labels)
    assert t[0] == pytest.approx([0.6, 0.4, 0.0])
    assert t[1] == pytest.approx([0.0, 1.0, 0.0])  # the teacher did not score file 1
    assert t[2] == pytest.approx([0.0, 0.0, 1.0])  # fearful: the teacher knows only core 4
    assert t.sum(axis=1) == pytest.approx(np.ones(3))


def test_loco_teachers_never_see_their_held_out_corpus() -> None:
    rng = np.random.default_rng(0)
    n = 160
    corpus = np.array(["a"] * 80 + ["b"] * 40 + ["c"] * 40)
    speakers = [f"{c}{i % 10}" for i, c in enumerate(corpus)]
    y4 = np.arange(n) % 4
    x = rng.standard_normal((n, 6)) + np.eye(4, 6)[y4] * 3
    loco = loco_soft_labels(x, y4, speakers, corpus, n_folds=5)
    assert sorted(loco) == ["a", "b", "c"]
    for held, p in loco.items():
        assert np.isnan(p[corpus == held]).all()
        assert np.isfinite(p[corpus != held]).all()
        assert (p[corpus != held].argmax(1) == y4[corpus != held]).mean() > 0.8


def test_a_held_out_teacher_must_exist(tmp_path: Path) -> None:
    npz = _npz(tmp_path, [tmp_path / "a.wav"], np.full((1, 4), 0.25))
    assert len(read_soft_labels(npz)) == 1
    with pytest.raises(ConfigError, match="without 'nemo'"):
        read_soft_labels(npz, "nemo")


@pytest.mark.slow
@pytest.mark.tf
def test_members_learn_what_the_teacher_says(tiny_corpus: Path, tmp_path: Path) -> None:
    """A real tiny run with a teacher that contradicts every label, at full weight: the members
    learn the teacher's targets, so on the held-out speakers they say the opposite."""
    from edge.cli import main
    from edge.corpora import load_corpus

    utts = load_corpus(tiny_corpus, "ravdess").utterances
    flip = {"neutral": "angry", "angry": "neutral"}
    probs = np.array([np.eye(4)[CORE_4.index(flip[u.label])] for u in utts], np.float32)
    npz = _npz(tmp_path, [u.path for u in utts], probs)
    out = tmp_path / "run"
    rc = main(["train", "--data", str(tiny_corpus), "--out", str(out), "--cache",
               str(tmp_path / "cache"), "--set", "members=stats:mfcc+pitch+rms:1",
               "--set", f"teacher_labels={npz}", "--set", "teacher_weight=1.0",
               "--set", "epochs=6", "--set", "mixup_alpha=0", "--set", "label_smoothing=0",
               "--set", "baselines=[]", "--no-compare", "--no-final", *TINY_TRAIN])
    assert rc == 0
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["teacher_weight"] == 1.0
    assert run["results"]["stats"]["uar"]["mean"] < 0.5
