"""Speaker-independent folds: disjoint, gender-balanced, reproducible from the committed file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from edge.errors import ConfigError
from train.folds import (
    FoldPlan,
    check_disjoint,
    committed_folds_path,
    plan_for,
    random_file_folds,
    speaker_folds,
)

RAVDESS_20 = {f"{i:02d}": "male" if i % 2 else "female" for i in range(1, 21)}


def test_committed_ravdess_folds_are_reproducible() -> None:
    path = committed_folds_path("ravdess", 20)
    assert path.is_file()
    committed = FoldPlan.load(path)
    assert committed == speaker_folds(RAVDESS_20, 5, 2, "ravdess")
    assert plan_for(RAVDESS_20, "ravdess", 5, 2) == committed
    assert committed.folds[0].test == ("01", "02", "03", "04")  # BASELINE.md folds


@pytest.mark.parametrize("n_actors,n_folds", [(20, 5), (24, 5), (24, 4), (10, 5), (13, 3)])
def test_no_actor_in_two_roles_and_gender_balance(n_actors: int, n_folds: int) -> None:
    genders = {f"{i:02d}": "male" if i % 2 else "female" for i in range(1, n_actors + 1)}
    plan = speaker_folds(genders, n_folds, 2)
    check_disjoint(plan)
    tested = Counter(s for f in plan.folds for s in f.test)
    assert set(tested) == set(genders) and set(tested.values()) == {1}
    for f in plan.folds:
        assert set(f.train) | set(f.val) | set(f.test) == set(genders)
        tr, va, te = set(f.train), set(f.val), set(f.test)
        assert not (tr & te or va & te or tr & va)
        men = sum(genders[s] == "male" for s in f.test)
        assert abs(men - (len(f.test) - men)) <= 1
        assert {genders[s] for s in f.val} == {"male", "female"}


def test_too_few_speakers_and_missing_speakers() -> None:
    with pytest.raises(ConfigError):
        speaker_folds({"a": "male", "b": "female"}, 5, 2)
    with pytest.raises(ConfigError, match="no speaker"):
        speaker_folds({"": None, "x": None, "y": None}, 2, 0)


def test_overlap_is_rejected(tmp_path: Path) -> None:
    plan = speaker_folds(RAVDESS_20, 5, 2)
    d = plan.to_dict()
    d["folds"][0]["val"] = [d["folds"][0]["test"][0]]
    with pytest.raises(ConfigError):
        FoldPlan.from_dict(d)


def test_random_split_is_file_level() -> None:
    folds = random_file_folds(100, 5, seed=1)
    tests = [i for _, _, te in folds for i in te]
    assert sorted(tests) == list(range(100))
    for tr, va, te in folds:
        assert not (set(tr) & set(te) or set(va) & set(te) or set(tr) & set(va))


@pytest.mark.parametrize("n_actors,n_folds", [(4, 4), (3, 3), (6, 4), (5, 5), (7, 3)])
def test_no_fold_is_ever_without_test_speakers(n_actors: int, n_folds: int) -> None:
    """4 actors, 4 folds used to give two folds with no test actor (#14.3)."""
    genders = {f"{i:02d}": "male" if i % 2 else "female" for i in range(1, n_actors + 1)}
    plan = speaker_folds(genders, n_folds, 1)
    assert len(plan.folds) == n_folds and all(f.test and f.train for f in plan.folds)
    assert sorted(s for f in plan.folds for s in f.test) == sorted(genders)


def test_a_folds_file_with_an_empty_fold_is_refused() -> None:
    d = speaker_folds(RAVDESS_20, 5, 2).to_dict()
    d["folds"][1]["train"] += d["folds"][1]["test"]
    d["folds"][1]["test"] = []
    d["folds"][0]["test"] = d["folds"][0]["test"]
    with pytest.raises(ConfigError, match="fold-2: no test speakers"):
        FoldPlan.from_dict(d)


def test_fold_counts_fit_a_handful_of_speakers() -> None:
    from train.folds import fit_fold_counts

    assert fit_fold_counts(20, 5, 2) == (5, 2)
    assert fit_fold_counts(3, 5, 2) == (3, 1)
    assert fit_fold_counts(2, 5, 2) == (2, 0)
    for n in range(2, 12):
        k, v = fit_fold_counts(n, 5, 2)
        genders = {f"s{i}": "male" if i % 2 else "female" for i in range(n)}
        plan = speaker_folds(genders, k, v)
        assert all(f.train and f.test for f in plan.folds)
    with pytest.raises(ConfigError, match="at least 2"):
        fit_fold_counts(1, 5, 2)


def test_aggregate_covers_every_fold_and_model() -> None:
    """A first fold without scores used to discard the whole report (#14.3)."""
    import numpy as np

    from edge.metrics import score
    from train.evaluate import FoldResult, aggregate

    labels = ["a", "b"]
    f1 = FoldResult("fold-1")
    f2 = FoldResult("fold-2", {"cnn_lstm": score([0, 1], [0, 1], labels)})
    f3 = FoldResult("fold-3", {"cnn_lstm": score([0, 1], [1, 1], labels),
                               "svm": score([0, 1], [0, 0], labels)})
    summary = aggregate([f1, f2, f3])
    assert set(summary) == {"cnn_lstm", "svm"}
    assert set(summary["cnn_lstm"]["folds"]) == {"fold-2", "fold-3"}
    assert summary["cnn_lstm"]["uar"]["mean"] == pytest.approx(0.75)
    back = FoldResult.from_dict(f3.to_dict())
    assert np.array_equal(back.scores["svm"].confusion, f3.scores["svm"].confusion)
