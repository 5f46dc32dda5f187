"""Distillation targets: a teacher's soft labels mixed into each training window's target.

Why: the Whisper-encoder teacher (``train/teacher.py``) hears emotion across languages better
than the small members; its probabilities carry what the one-hot labels cannot ("this angry
clip sounds half neutral"). The device never runs the teacher: only the members' targets change.
A leave-one-corpus-out set takes the labels of a teacher that never saw the held-out corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge.corpora import CORE_4


def teacher_matrix(path: str, paths: Sequence[str | Path], labels: Sequence[str],
                   held_out: str | None = None) -> np.ndarray:
    """``[files, labels]``: each file's teacher probabilities in the run's label order (a label
    outside the core four gets 0); NaN rows where the teacher gave none."""
    from train.teacher import read_soft_labels

    soft = read_soft_labels(path, held_out)
    out = np.full((len(paths), len(labels)), np.nan, np.float32)
    cols = [(j, CORE_4.index(name)) for j, name in enumerate(labels) if name in CORE_4]
    for i, p in enumerate(paths):
        q = soft.get(str(Path(p).resolve()))
        if q is not None:
            out[i] = 0.0
            for j, k in cols:
                out[i, j] = q[k]
    return out


def mix_targets(y: np.ndarray, file: np.ndarray, teacher: np.ndarray, weight: float,
                labels: Sequence[str]) -> np.ndarray:
    """``(1 - weight) * one-hot + weight * teacher`` per window; windows of files the teacher
    did not score, or whose label is not one of the core four it knows, stay one-hot."""
    onehot = np.eye(len(labels), dtype=np.float32)[y]
    t = teacher[file]
    core = np.isin(y, [j for j, name in enumerate(labels) if name in CORE_4])
    ok = np.isfinite(t).all(axis=1) & core
    out = onehot.copy()
    out[ok] = (1.0 - weight) * onehot[ok] + weight * t[ok]
    return out
