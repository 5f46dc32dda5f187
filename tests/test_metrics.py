"""Metrics on known confusion matrices, compared with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from edge.metrics import (
    accuracy,
    confusion_matrix,
    macro_f1,
    mean_std,
    per_class,
    score,
    summarize_folds,
    uar,
)

sk = pytest.importorskip("sklearn.metrics")


def test_known_matrix() -> None:
    cm = np.array([[5, 1, 0], [2, 2, 0], [0, 0, 0]])
    assert accuracy(cm) == pytest.approx(7 / 10)
    assert uar(cm) == pytest.approx((5 / 6 + 2 / 4) / 2)  # class 2 absent from the truth
    pc = per_class(cm)
    assert pc["precision"][2] == 0 and pc["f1"][2] == 0  # never predicted: 0, no warning
    assert pc["precision"][0] == pytest.approx(5 / 7)


@pytest.mark.parametrize("seed", range(8))
def test_against_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 9))
    t = rng.integers(0, k, 200)
    p = np.where(rng.uniform(size=200) < 0.5, t, rng.integers(0, k, 200))
    p[p == k - 1] = 0  # one class never predicted
    labels = list(range(k))
    cm = confusion_matrix(t, p, k)
    np.testing.assert_array_equal(cm, sk.confusion_matrix(t, p, labels=labels))
    assert accuracy(cm) == pytest.approx(sk.accuracy_score(t, p))
    assert uar(cm) == pytest.approx(sk.balanced_accuracy_score(t, p))
    assert macro_f1(cm) == pytest.approx(sk.f1_score(t, p, average="macro", zero_division=0))
    pc = per_class(cm)
    kw = {"labels": labels, "average": None, "zero_division": 0}
    np.testing.assert_allclose(pc["precision"], sk.precision_score(t, p, **kw))
    np.testing.assert_allclose(pc["recall"], sk.recall_score(t, p, **kw))
    np.testing.assert_allclose(pc["f1"], sk.f1_score(t, p, **kw))


def test_scores_and_folds() -> None:
    labels = ["a", "b"]
    s1 = score([0, 0, 1, 1], [0, 1, 1, 1], labels)
    s2 = score([0, 0, 1, 1], [0, 0, 1, 1], labels)
    agg = summarize_folds([s1, s2])
    assert agg["uar"]["mean"] == pytest.approx((0.75 + 1.0) / 2)
    assert agg["uar"]["std"] == pytest.approx(0.125)
    assert agg["per_class"]["a"]["recall"]["mean"] == pytest.approx(0.75)
    assert s1.to_dict()["confusion"] == [[1, 1], [0, 2]]
    assert mean_std([]) != mean_std([])  # nan


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        confusion_matrix([0, 1], [0], 2)
    with pytest.raises(ValueError):
        confusion_matrix([0, 3], [0, 1], 2)
