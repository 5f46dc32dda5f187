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
