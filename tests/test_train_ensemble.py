"""Ensemble voting (the device's rules), bagging by file, file-level scoring."""

from __future__ import annotations

import numpy as np

from edge.vote import vote
from train.ensemble import bootstrap_files, uar_weights, vote_files, vote_windows
from train.fit import class_weights, file_probs


def test_soft_and_hard_match_edge_vote() -> None:
    rng = np.random.default_rng(0)
    members = [rng.dirichlet(np.ones(4), size=6) for _ in range(3)]
    for rule, w in (("soft", None), ("hard", None), ("weighted", [0.2, 0.5, 0.3])):
        got = vote_windows(members, rule, w)
        for i in range(6):
            np.testing.assert_allclose(got[i], vote(np.stack([m[i] for m in members]), rule, w),
                                       atol=1e-6)


def test_file_average_like_the_device() -> None:
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    file = np.array([5, 5, 7, 7])
    ids, fp = file_probs(p, file)
    assert list(ids) == [5, 7]
    np.testing.assert_allclose(fp, [[0.55, 0.45], [0.35, 0.65]])
    _, fp2 = vote_files([p, p], file, "soft")
    np.testing.assert_allclose(fp2, fp)


def test_bootstrap_keeps_files_whole() -> None:
    file = np.repeat(np.arange(10), 3)
    idx = bootstrap_files(file, seed=1)
    counts = np.bincount(file[idx], minlength=10)
    assert len(idx) == len(file) and set(counts) <= {0, 3, 6, 9, 12, 15}
    assert (counts == 0).any()  # some files out of bag


def test_weights() -> None:
    assert uar_weights([0.5, 0.5]) == [1.0, 1.0]
    assert uar_weights([float("nan"), 0.3]) == [1.0, 1.0]
    w = class_weights(np.array([0, 0, 0, 1]), 3)
    assert w[2] == 0 and w[1] == 3 * w[0]
