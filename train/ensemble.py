"""Ensembles: members differ by feature kind, seed and (optionally) bootstrap sample.

Voting reuses the device's own rules (``edge.vote``) so training reports exactly what the
device will do: the members vote per window (hard, soft or weighted soft), then the file's
result is the mean of the voted window vectors over its speech windows. Weighted voting
weights each member by its validation actors' UAR (never by test results).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.vote import vote_windows
from train.fit import file_probs


def bootstrap_files(files: np.ndarray, seed: int) -> np.ndarray:
    """Window indices of a bootstrap sample of *files* (bagging must not split a file's
    windows, or near-identical windows leak between in-bag and out-of-bag)."""
    ids = np.unique(files)
    rng = np.random.default_rng(seed)
    drawn = rng.choice(ids, size=len(ids), replace=True)
    counts = np.bincount(np.searchsorted(ids, drawn), minlength=len(ids))
    pos = np.searchsorted(ids, files)
    return np.repeat(np.arange(len(files)), counts[pos])


def vote_files(member_probs: Sequence[np.ndarray], file: np.ndarray, rule: str,
               weights: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(file ids, [n_files, classes]): windows voted, then averaged per file like the device."""
    return file_probs(vote_windows(member_probs, rule, weights), file)


def uar_weights(val_uars: Sequence[float]) -> list[float]:
    """Weights proportional to validation UAR above chance-free zero (all equal if unknown)."""
    w = np.asarray(val_uars, dtype=np.float64)
    if not np.all(np.isfinite(w)) or w.sum() <= 0:
        return [1.0] * len(w)
    return [float(v) for v in w / w.sum() * len(w)]
