"""Speaker-normalised windows for members that take an enrolled speaker's statistics.

Why: a person's usual pitch, loudness and timbre are the largest nuisance a small model meets
on a voice it never heard. With ``speaker_norm = "mixed"`` every training window is learned
twice: normalised with the training speakers' global statistics (what the device uses when
nobody enrolled) and with its own speaker's statistics from K of their clips (what
``edge-ser enrol`` gives the device). Validation and test speakers get their statistics from K
of their own clips, which are then not scored (enrolment audio is never what is judged).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.frontend.config import FrontendConfig
from edge.frontend.windows import speaker_statistics
from train.features import FileFeatures, Windows, normalize_by, speech_frames

Stats = tuple[np.ndarray, np.ndarray]


def enrolment_clips(files: Sequence[int], speaker: str, clips: int, seed: int) -> list[int]:
    """K of a speaker's files, drawn at random (fixed by the seed and the speaker's name)."""
    ids = sorted(int(i) for i in files)
    rng = np.random.default_rng([seed, zlib.crc32(speaker.encode())])
    return sorted(rng.choice(ids, size=min(clips, len(ids)), replace=False).tolist())


@dataclass
class SpeakerNorm:
    clips: int
    speaker_of: np.ndarray             # speaker id per utterance index
    enrolment: set[int]                # files whose audio gave a speaker's statistics
    stats: dict[str, dict[str, Stats]]  # kind -> speaker -> (mean, std)

    @classmethod
    def fit(cls, feats: dict[tuple[int, int], FileFeatures], speaker_of: Sequence[str],
            groups: Sequence[Sequence[int]], kinds: Sequence[str], fe: FrontendConfig,
            clips: int, seed: int) -> SpeakerNorm:
        """Statistics of every speaker in ``groups`` (a set's train, val and test files), each
        from K of their clips in their own group."""
        spk = np.asarray(speaker_of)
        enrol: dict[str, list[int]] = {}
        for files in groups:
            by: dict[str, list[int]] = {}
            for i in files:
                by.setdefault(str(spk[i]), []).append(int(i))
            for s, ids in by.items():
                enrol[s] = enrolment_clips(ids, s, clips, seed)
        stats = {kind: {s: speaker_statistics([speech_frames(feats[(i, 0)], fe, kind)
                                               for i in ids if (i, 0) in feats])
                        for s, ids in enrol.items()}
                 for kind in kinds}
        return cls(clips, spk, {i for ids in enrol.values() for i in ids}, stats)

    def normalize(self, w: Windows, kind: str) -> np.ndarray:
        """Each window normalised by its own speaker's statistics."""
        return normalize_by(w.x, self.speaker_of[w.file], self.stats[kind])

    def scored(self, file: np.ndarray) -> np.ndarray:
        """Windows of files that were not used for enrolment."""
        return ~np.isin(file, np.fromiter(self.enrolment, dtype=np.int64))
