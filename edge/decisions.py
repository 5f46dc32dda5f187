"""From per-window probabilities to decisions a person can act on.

In the spirit of TFLite Micro's ``RecognizeCommands``: results of the last few windows are
averaged (one window is noisy), a label is only claimed above a confidence threshold (below
it the answer is ``uncertain``, not a guess), and the same decision is not reported again
until a suppression time has passed. A window without enough speech (the manifest's speech
gate, applied once by the pipeline) yields ``silence`` and no emotion at all, and ends the
averaging run, so an emotion heard before a pause does not leak into the next utterance.

A whole file (``classify``) is named by the same rule, :func:`name_result`: ``silence`` when
no window had speech, ``uncertain`` below the threshold, else the emotion. One meaning of a
result for every command, in human and JSON output alike.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edge.errors import ConfigError

SILENCE = "silence"
UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class DecisionConfig:
    """How windows become decisions.

    Attributes:
        average_windows: windows averaged (the current one and its predecessors).
        threshold: minimum averaged probability of the top class to name it.
        suppression_seconds: an unchanged emotion is reported again only after this long.
        min_windows: speech windows needed in the run before an emotion may be claimed.

    The speech gate is not here: it is part of what the models were trained on, so it comes
    from the manifest (``speech.min_speech_fraction``).
    """

    average_windows: int = 3
    threshold: float = 0.5
    suppression_seconds: float = 3.0
    min_windows: int = 1

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.average_windows, int) or self.average_windows < 1:
            problems.append(
                f"average_windows must be an integer >= 1, got {self.average_windows!r}")
        if not 0.0 <= self.threshold <= 1.0:
            problems.append(f"threshold must be in [0, 1], got {self.threshold!r}")
        if not self.suppression_seconds >= 0.0:
            problems.append(f"suppression_seconds must be >= 0, got {self.suppression_seconds!r}")
        n_avg = self.average_windows
        if not isinstance(self.min_windows, int) or not 1 <= self.min_windows <= n_avg:
            problems.append(f"min_windows must be an integer in 1..average_windows, "
                            f"got {self.min_windows!r}")
        if problems:
            raise ConfigError("invalid decision config: " + "; ".join(problems))


@dataclass(frozen=True)
class Decision:
    """The state after one window.

    ``label`` is an emotion, ``uncertain`` or ``silence``; ``probs`` the averaged vector (zeros
    for silence); ``is_new`` whether this should be reported now; ``speaker`` the enrolled
    profile in use (set by the pipeline with ``--speaker``; None: nobody).
    """

    time: float
    label: str
    confidence: float
    probs: np.ndarray
    speech: bool
    speech_ratio: float
    is_new: bool
    speaker: str | None = None

    @property
    def is_emotion(self) -> bool:
        return self.label not in (SILENCE, UNCERTAIN)


def name_result(labels: tuple[str, ...], probs: np.ndarray | None, speech_windows: int,
                config: DecisionConfig) -> tuple[str, float]:
    """``(label, confidence)`` of averaged probabilities over ``speech_windows`` windows with
    speech: ``silence`` (confidence 0) without any, ``uncertain`` with fewer than
    ``min_windows`` or a top probability below ``threshold``, else the top emotion."""
    if speech_windows <= 0 or probs is None:
        return SILENCE, 0.0
    top = int(np.argmax(probs))
    confidence = float(probs[top])
    if speech_windows < config.min_windows or confidence < config.threshold:
        return UNCERTAIN, confidence
    return labels[top], confidence


class RecognizeEmotions:
    """Averaging → threshold → suppression, one window at a time (gated windows: silence)."""

    def __init__(self, labels: tuple[str, ...] | list[str],
                 config: DecisionConfig | None = None) -> None:
        self.labels = tuple(labels)
        clash = {SILENCE, UNCERTAIN} & set(self.labels)
        if clash:
            raise ConfigError(f"model label(s) {sorted(clash)} clash with decision states")
        self.config = config or DecisionConfig()
        self._history: deque[np.ndarray] = deque(maxlen=self.config.average_windows)
        self._last_label: str | None = None
        self._last_time = -np.inf

    def reset(self) -> None:
        self._history.clear()
        self._last_label = None
        self._last_time = -np.inf

    def process(self, probs: np.ndarray | None, speech_ratio: float, time: float) -> Decision:
        """Feed one window at stream ``time`` s: its ensemble probabilities, or None when the
        speech gate rejected it, and its share of speech frames (reported as is)."""
        speech = probs is not None
        if probs is None:
            self._history.clear()
            smoothed = np.zeros(len(self.labels), dtype=np.float32)
        else:
            p = np.asarray(probs, dtype=np.float32).reshape(-1)
            if p.size != len(self.labels):
                raise ValueError(f"got {p.size} probabilities for {len(self.labels)} labels")
            self._history.append(p)
            smoothed = np.mean(np.stack(self._history), axis=0).astype(np.float32)
        label, confidence = name_result(self.labels, smoothed if speech else None,
                                        len(self._history), self.config)
        is_new = self._should_report(label, time)
        if is_new:
            self._last_label, self._last_time = label, time
        return Decision(time, label, confidence, smoothed, speech, float(speech_ratio), is_new)

    def _should_report(self, label: str, time: float) -> bool:
        if label != self._last_label:
            return True
        # a repeated emotion is a reminder after the suppression time; a repeated state
        # (silence, uncertain) is never news
        return label not in (SILENCE, UNCERTAIN) and (
            time - self._last_time >= self.config.suppression_seconds
        )
