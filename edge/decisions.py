"""From per-window probabilities to decisions a person can act on.

In the spirit of TFLite Micro's ``RecognizeCommands``: results of the last few windows are
averaged (one window is noisy), a label is only claimed above a confidence threshold (below
it the answer is ``uncertain``, not a guess), and the same decision is not reported again
until a suppression time has passed. A speech gate comes first: a window without enough
speech yields ``silence`` and no emotion at all, and ends the averaging run, so an emotion
heard before a pause does not leak into the next utterance.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edge.errors import ConfigError
from edge.frontend.vad import speech_gate

SILENCE = "silence"
UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class DecisionConfig:
    """How windows become decisions.

    Attributes:
        average_windows: windows averaged (the current one and its predecessors).
        threshold: minimum averaged probability of the top class to name it.
        suppression_seconds: an unchanged emotion is reported again only after this long.
        min_speech_ratio: fraction of a window's frames the VAD must call speech.
        min_windows: speech windows needed in the run before an emotion may be claimed.
    """

    average_windows: int = 3
    threshold: float = 0.5
    suppression_seconds: float = 3.0
    min_speech_ratio: float = 0.25
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
        if not 0.0 <= self.min_speech_ratio <= 1.0:
            problems.append(f"min_speech_ratio must be in [0, 1], got {self.min_speech_ratio!r}")
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
    for silence); ``is_new`` whether this should be reported now.
    """

    time: float
    label: str
    confidence: float
    probs: np.ndarray
    speech: bool
    speech_ratio: float
    is_new: bool

    @property
    def is_emotion(self) -> bool:
        return self.label not in (SILENCE, UNCERTAIN)


class RecognizeEmotions:
    """Speech gate → averaging → threshold → suppression, one window at a time."""

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

    def process(self, probs: np.ndarray, speech_ratio: float, time: float) -> Decision:
        """Feed one window's ensemble probabilities and its speech ratio, at stream ``time`` s."""
        cfg = self.config
        speech = speech_gate(speech_ratio, cfg.min_speech_ratio)
        if not speech:
            self._history.clear()
            label, confidence = SILENCE, 0.0
            smoothed = np.zeros(len(self.labels), dtype=np.float32)
        else:
            p = np.asarray(probs, dtype=np.float32).reshape(-1)
            if p.size != len(self.labels):
                raise ValueError(f"got {p.size} probabilities for {len(self.labels)} labels")
            self._history.append(p)
            smoothed = np.mean(np.stack(self._history), axis=0).astype(np.float32)
            top = int(np.argmax(smoothed))
            confidence = float(smoothed[top])
            if len(self._history) < cfg.min_windows or confidence < cfg.threshold:
                label = UNCERTAIN
            else:
                label = self.labels[top]
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
