"""Voting: hard (majority, ties by summed probability), soft (mean), weighted (manifest weights)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edge.errors import ModelError
from edge.vote import Voter, vote, vote_windows

P = np.array([
    [0.6, 0.3, 0.1],
    [0.2, 0.7, 0.1],
    [0.5, 0.4, 0.1],
])


def test_soft_is_the_mean() -> None:
    np.testing.assert_allclose(vote(P, "soft"), P.mean(axis=0), rtol=1e-6)


def test_weighted_uses_the_weights() -> None:
    w = [3.0, 0.0, 1.0]
    expected = (3.0 * P[0] + 1.0 * P[2]) / 4.0
    np.testing.assert_allclose(vote(P, "weighted", w), expected, rtol=1e-6)
    assert int(np.argmax(vote(P, "weighted", w))) == 0  # the heavy member wins
    assert int(np.argmax(vote(P, "soft"))) == 1  # the plain mean does not


def test_hard_is_the_majority_even_against_the_mean() -> None:
    # two members barely prefer class 1, one is sure of class 0: soft says 0, hard says 1
    p = np.array([[0.45, 0.55, 0.0], [0.45, 0.55, 0.0], [1.0, 0.0, 0.0]])
    assert int(np.argmax(vote(p, "soft"))) == 0
    h = vote(p, "hard")
    assert int(np.argmax(h)) == 1
    assert h[1] == pytest.approx(2 / 3, abs=2e-3)  # the vote share
    assert h[0] == pytest.approx(1 / 3, abs=2e-3)


def test_hard_tie_is_broken_by_summed_probabilities() -> None:
    p = np.array([[0.9, 0.1, 0.0], [0.4, 0.6, 0.0], [0.0, 0.0, 1.0], [0.0, 0.45, 0.55]])
    # votes: class 0, class 1, class 2, class 2 -> 2 is the majority
    assert int(np.argmax(vote(p, "hard"))) == 2
    tie = np.array([[0.9, 0.1], [0.4, 0.6]])  # one vote each; sums 1.3 vs 0.7
    assert int(np.argmax(vote(tie, "hard"))) == 0
    tie_other_way = np.array([[0.55, 0.45], [0.1, 0.9]])  # sums 0.65 vs 1.35
    assert int(np.argmax(vote(tie_other_way, "hard"))) == 1


def test_errors() -> None:
    with pytest.raises(ModelError, match="unknown voting rule"):
        vote(P, "median")
    with pytest.raises(ModelError, match="one weight per member"):
        vote(P, "weighted", [1.0])
    with pytest.raises(ModelError, match="positive sum"):
        vote(P, "weighted", [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="members, classes"):
        vote(np.zeros(3), "soft")
    with pytest.raises(ModelError):
        Voter("best")


def test_voter_binds_rule_and_weights() -> None:
    v = Voter("weighted", [0.0, 1.0, 0.0])
    np.testing.assert_allclose(v(P), P[1], rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 8)),
              elements=st.floats(0, 1)), st.sampled_from(["hard", "soft", "weighted"]))
def test_every_rule_returns_a_probability_vector(p: np.ndarray, rule: str) -> None:
    weights = np.linspace(1, 2, p.shape[0]).tolist()
    out = vote(p, rule, weights)
    assert out.shape == (p.shape[1],)
    assert np.all(out >= 0) and out.sum() == pytest.approx(1.0, abs=1e-5)
    if rule == "hard":
        counts = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
        assert counts[int(np.argmax(out))] == counts.max()


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(0, 7), st.integers(2, 6)),
              elements=st.floats(-0.5, 1)), st.sampled_from(["hard", "soft", "weighted"]))
def test_vote_windows_is_vote_on_every_window(p: np.ndarray, rule: str) -> None:
    """One definition: training and conversion score with vote_windows, the device with vote."""
    weights = np.linspace(0, 2, p.shape[0]).tolist() if p.shape[0] > 1 else [1.0]
    out = vote_windows(p, rule, weights)
    assert out.shape == (p.shape[1], p.shape[2]) and out.dtype == np.float32
    for i in range(p.shape[1]):
        np.testing.assert_array_equal(out[i], vote(p[:, i, :], rule, weights))
    with pytest.raises(ValueError, match="members, windows, classes"):
        vote_windows(p[0], rule, weights)
