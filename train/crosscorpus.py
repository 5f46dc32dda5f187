"""Scores that measure generalisation: per corpus, its own classes, the core four, calibration.

A multi-corpus test set is scored per corpus, because a pooled figure lets the biggest corpus
hide the others. For each corpus: UAR over the classes it has (a prediction of a class it
lacks is an error), core-4 UAR (EmoBox's cross-corpus protocol: files of neutral, happy, sad
and angry, the decision taken among those four), macro-F1, confusion, and the expected
calibration error of the ensemble's confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edge.calibration import apply_temperature, expected_calibration_error
from edge.corpora import CORE_4
from edge.metrics import score


def core4_scores(truth: np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> Any | None:
    """Scores on the core-4 files, argmax restricted to the core-4 columns (None if the label
    set lacks one of them or no file is core-4)."""
    if not all(c in labels for c in CORE_4):
        return None
    cols = [list(labels).index(c) for c in CORE_4]
    keep = np.isin(truth, cols)
    if not keep.any():
        return None
    remap = {c: k for k, c in enumerate(cols)}
    t = np.array([remap[int(v)] for v in truth[keep]])
    return score(t, probs[keep][:, cols].argmax(axis=1), list(CORE_4))


def per_corpus(ids: np.ndarray, probs: np.ndarray, truth_of_file: dict[int, int],
               corpus_of_file: Sequence[str], labels: Sequence[str],
               temperature: float = 1.0) -> dict[str, dict[str, Any]]:
    """File-level scores of one model's file probabilities, corpus by corpus."""
    ids = np.asarray(ids)
    truth = np.array([truth_of_file[int(i)] for i in ids], dtype=np.int64)
    corpus = np.array([corpus_of_file[int(i)] for i in ids])
    cal = apply_temperature(probs, temperature)
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(corpus):
        sel = corpus == name
        own = score(truth[sel], probs[sel].argmax(axis=1), labels)
        c4 = core4_scores(truth[sel], probs[sel], labels)
        out[str(name)] = {
            "files": int(sel.sum()),
            "uar": own.uar, "wa": own.wa, "macro_f1": own.macro_f1,
            "core4_uar": c4.uar if c4 is not None else None,
            "core4_macro_f1": c4.macro_f1 if c4 is not None else None,
            "ece": expected_calibration_error(probs[sel], truth[sel]),
            "ece_calibrated": expected_calibration_error(cal[sel], truth[sel]),
            "confusion": own.confusion.tolist(),
        }
    return out
