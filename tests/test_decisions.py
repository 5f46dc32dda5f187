"""RecognizeEmotions: gated windows, averaging, threshold (uncertain), suppression; and the
one naming rule shared with whole files (name_result)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.decisions import SILENCE, UNCERTAIN, DecisionConfig, RecognizeEmotions, name_result
from edge.errors import ConfigError

LABELS = ("neutral", "happy", "angry")


def onehot(i: int, p: float = 0.9) -> np.ndarray:
    v = np.full(3, (1 - p) / 2, dtype=np.float32)
    v[i] = p
    return v


def test_silence_yields_no_emotion_and_ends_the_run() -> None:
    r = RecognizeEmotions(LABELS, DecisionConfig(average_windows=3, threshold=0.5))
    d = r.process(None, speech_ratio=0.1, time=0.5)  # None: the speech gate rejected it
    assert d.label == SILENCE and not d.speech and d.confidence == 0.0 and not d.is_emotion
    assert np.all(d.probs == 0) and d.speech_ratio == pytest.approx(0.1)
    assert r.process(onehot(2), 0.9, 1.0).label == "angry"
    r.process(None, 0.0, 1.5)  # a pause clears the history...
    d = r.process(onehot(1), 0.9, 2.0)  # ...so the next utterance starts fresh
    assert d.label == "happy" and d.probs[1] == pytest.approx(0.9)


def test_averages_the_last_n_windows() -> None:
    r = RecognizeEmotions(LABELS, DecisionConfig(average_windows=3, threshold=0.0))
    r.process(onehot(0, 0.9), 1.0, 0.5)
    r.process(onehot(2, 0.9), 1.0, 1.0)
    d = r.process(onehot(2, 0.9), 1.0, 1.5)
    np.testing.assert_allclose(d.probs, (onehot(0) + 2 * onehot(2)) / 3, rtol=1e-6)
    assert d.label == "angry" and d.confidence == pytest.approx((0.05 + 1.8) / 3)
    d = r.process(onehot(1, 0.9), 1.0, 2.0)  # the first window has left the average
    np.testing.assert_allclose(d.probs, (2 * onehot(2) + onehot(1)) / 3, rtol=1e-6)


def test_below_threshold_is_uncertain_not_a_guess() -> None:
    r = RecognizeEmotions(LABELS, DecisionConfig(average_windows=1, threshold=0.6))
    d = r.process(np.array([0.3, 0.45, 0.25]), 1.0, 0.5)
    assert d.label == UNCERTAIN and d.confidence == pytest.approx(0.45) and d.speech
    assert r.process(np.array([0.1, 0.65, 0.25]), 1.0, 1.0).label == "happy"


def test_min_windows_before_claiming() -> None:
    r = RecognizeEmotions(LABELS, DecisionConfig(average_windows=3, min_windows=2, threshold=0.5))
    assert r.process(onehot(2), 1.0, 0.5).label == UNCERTAIN
    assert r.process(onehot(2), 1.0, 1.0).label == "angry"


def test_suppression() -> None:
    r = RecognizeEmotions(LABELS, DecisionConfig(average_windows=1, threshold=0.5,
                                                 suppression_seconds=2.0))
    times_new = [(t, r.process(onehot(2), 1.0, t).is_new) for t in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)]
    # reported at 0.5, reminded once 2 s have passed (2.5), not in between
    assert [t for t, new in times_new if new] == [0.5, 2.5]
    assert r.process(onehot(1), 1.0, 3.5).is_new  # a change is news at once
    assert r.process(onehot(2), 1.0, 4.0).is_new
    s1 = r.process(None, 0.0, 4.5)
    s2 = r.process(None, 0.0, 9.0)
    assert s1.is_new and not s2.is_new  # silence is reported once, however long it lasts
    u1 = r.process(np.array([0.34, 0.33, 0.33]), 1.0, 9.5)
    u2 = r.process(np.array([0.34, 0.33, 0.33]), 1.0, 20.0)
    assert u1.label == UNCERTAIN and u1.is_new and not u2.is_new


def test_reset_forgets_what_was_reported() -> None:
    r = RecognizeEmotions(LABELS, DecisionConfig(average_windows=1))
    assert r.process(onehot(2), 1.0, 0.5).is_new
    assert not r.process(onehot(2), 1.0, 1.0).is_new
    r.reset()
    assert r.process(onehot(2), 1.0, 1.5).is_new


def test_config_is_validated() -> None:
    for bad in (dict(average_windows=0), dict(threshold=1.5), dict(suppression_seconds=-1),
                dict(min_windows=4, average_windows=3)):
        with pytest.raises(ConfigError, match="invalid decision config"):
            DecisionConfig(**bad)
    with pytest.raises(ConfigError, match="clash"):
        RecognizeEmotions(("angry", "silence"))
    with pytest.raises(ValueError, match="3 labels"):
        RecognizeEmotions(LABELS).process(np.ones(4) / 4, 1.0, 0.0)


def test_name_result_is_the_rule_of_live_decisions_for_whole_files() -> None:
    cfg = DecisionConfig(threshold=0.5, min_windows=2, average_windows=3)
    p = np.array([0.2, 0.31, 0.49], dtype=np.float32)
    assert name_result(LABELS, p, 0, cfg) == (SILENCE, 0.0)  # no speech is not an emotion
    assert name_result(LABELS, p, 3, cfg) == (UNCERTAIN, pytest.approx(0.49))
    assert name_result(LABELS, onehot(2), 1, cfg) == (UNCERTAIN, pytest.approx(0.9))
    assert name_result(LABELS, onehot(2), 2, cfg) == ("angry", pytest.approx(0.9))
    # a live run of windows with the same average names it the same way
    r = RecognizeEmotions(LABELS, cfg)
    r.process(p, 1.0, 0.5)
    assert r.process(p, 1.0, 1.0).label == name_result(LABELS, p, 2, cfg)[0] == UNCERTAIN
