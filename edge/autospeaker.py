"""``--speaker auto``: per utterance, the enrolled speaker whose statistics the voice fits best.

*Utterance*: a run of windows that pass the manifest's speech gate; a window the gate rejects
ends it (as it ends the decisions' averaging run). Over an utterance the speech frames each
window adds (each frame once: :func:`edge.speakers.new_speech_rows` of the kinds the pipeline
assembles anyway) are kept as a count and a running sum per kind, so a window costs
O(hop frames x dims + speakers x dims) and nothing is stored per frame.

*Closeness*: the standardised distance of the utterance's mean to each profile's mean,
``z2[p] = mean_d ((xbar_d - mu_pd) / sigma_pd)^2`` over the dimensions of the kinds that hold
MFCCs (all kinds when none does), the smallest wins. On RAVDESS clips (20 actors enrolled
from 10 files each; benchmarks/results/enrolment-auto.md) this mean distance on the MFCC kind
picked the right actor for 53 % of the clips where a diagonal-Gaussian frame log-likelihood
over all kinds picked 24 %: pitch, loudness and log-mel energies move with the emotion as
much as with the speaker; MFCCs (timbre) are the speaker-identification feature.

Until ``min_speech_seconds`` of the utterance's speech has been heard no profile is used;
with ``max_z2`` set, a best profile farther than that is refused too ("nobody"): the
manifest's fallback applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edge.errors import SpeakerError
from edge.frontend.kinds import parse_kind
from edge.speakers import SpeakerProfile, new_speech_rows

#: Speech an utterance needs before a profile is picked (seconds of VAD speech frames).
AUTO_MIN_SPEECH_SECONDS = 1.0


@dataclass(frozen=True)
class Pick:
    """The picker's verdict after a window: the profile (None: nobody yet or nobody close),
    the seconds of speech it came from and ``z2`` per profile (empty before enough speech)."""

    profile: SpeakerProfile | None
    seconds: float
    z2: np.ndarray


def distance_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """The kinds closeness is measured on: those holding MFCCs, else all."""
    with_mfcc = tuple(k for k in kinds if any(p.base == "mfcc" for p in parse_kind(k)))
    return with_mfcc or tuple(kinds)


class SpeakerPicker:
    """Picks the closest of ``profiles`` for the current utterance (see the module docstring).

    ``kinds``: the feature kinds the pipeline assembles (every profile holds statistics of
    each); ``frames_per_second`` turns frames into seconds of speech."""

    def __init__(self, profiles: Sequence[SpeakerProfile], kinds: Sequence[str],
                 frames_per_second: float,
                 min_speech_seconds: float = AUTO_MIN_SPEECH_SECONDS,
                 max_z2: float | None = None) -> None:
        if not profiles:
            raise SpeakerError("--speaker auto needs at least one enrolled speaker")
        self.kinds = distance_kinds(kinds)
        missing = [(p.name, k) for p in profiles for k in self.kinds if k not in p.features]
        if missing:
            raise SpeakerError(f"speaker {missing[0][0]!r} has no statistics of feature kind "
                               f"{missing[0][1]!r}: enrol them again with these models")
        self.profiles = tuple(profiles)
        self.min_frames = max(1, round(min_speech_seconds * frames_per_second))
        self.fps = float(frames_per_second)
        self.max_z2 = max_z2
        # per kind [profiles, dim]: the means and 1/sigma^2
        self._mu = {k: np.array([p.features[k].mean for p in profiles], np.float64)
                    for k in self.kinds}
        self._w = {k: 1.0 / np.square(np.array([p.features[k].std for p in profiles],
                                                np.float64)) for k in self.kinds}
        self.dims = sum(m.shape[1] for m in self._mu.values())
        self.reset()

    def reset(self) -> None:
        """The utterance is over: forget its sums."""
        self.n = 0
        self._sum = {k: np.zeros(m.shape[1]) for k, m in self._mu.items()}

    def add(self, feats: Mapping[str, np.ndarray], new_flags: np.ndarray) -> None:
        """Count the speech frames a window adds (``feats``: each kind assembled over the
        window, un-normalised; ``new_flags``: the VAD flags of the frames it adds)."""
        n = 0
        for k in self.kinds:
            rows = new_speech_rows(feats[k], new_flags)
            n = rows.shape[0]
            if n:
                self._sum[k] += rows.sum(axis=0, dtype=np.float64)
        self.n += n

    def distances(self) -> np.ndarray:
        """``z2`` per profile for the utterance so far (needs at least one frame)."""
        z2 = np.zeros(len(self.profiles))
        for k in self.kinds:
            d = self._sum[k] / self.n - self._mu[k]
            z2 += (d * d * self._w[k]).sum(axis=1)
        return z2 / self.dims

    def pick(self) -> Pick:
        seconds = self.n / self.fps
        if self.n < self.min_frames:
            return Pick(None, seconds, np.zeros(0))
        z2 = self.distances()
        best = int(np.argmin(z2))
        if self.max_z2 is not None and z2[best] > self.max_z2:
            return Pick(None, seconds, z2)
        return Pick(self.profiles[best], seconds, z2)
