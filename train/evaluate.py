"""Scoring a fold like the device: one decision per file from its speech windows.

A model's window probabilities are averaged per file (the device's ``classify`` on a file),
the argmax is the file's prediction, and WA/UAR/F1 come from ``edge.metrics`` so training
and ``edge-ser evaluate`` report the same numbers in the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.metrics import Scores, score, scores_from_confusion, summarize_folds
from train.fit import file_probs


@dataclass
class FoldResult:
    """Per-model file-level scores of one fold (or set)."""

    name: str
    scores: dict[str, Scores] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"set": self.name, "models": {k: s.to_dict() for k, s in self.scores.items()},
                **self.extra}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FoldResult:
        """A fold's result as :meth:`to_dict` wrote it (``results/folds/<fold>.json``)."""
        scores = {}
        for model, s in d["models"].items():
            labels = list(s["per_class"])
            scores[model] = scores_from_confusion(np.asarray(s["confusion"]), labels)
        extra = {k: v for k, v in d.items() if k not in ("set", "models")}
        return cls(d["set"], scores, extra)


def score_windows(probs: np.ndarray, file: np.ndarray, truth_of_file: Mapping[int, int],
                  labels: Sequence[str]) -> Scores:
    """File-level scores from window probabilities [n, C] and their file ids."""
    ids, fp = file_probs(probs, file)
    truth = np.array([truth_of_file[int(i)] for i in ids], dtype=np.int64)
    return score(truth, fp.argmax(axis=1), labels)


def score_file_probs(ids: np.ndarray, fp: np.ndarray, truth_of_file: Mapping[int, int],
                     labels: Sequence[str]) -> Scores:
    truth = np.array([truth_of_file[int(i)] for i in ids], dtype=np.int64)
    return score(truth, fp.argmax(axis=1), labels)


def aggregate(folds: Sequence[FoldResult]) -> dict[str, dict[str, Any]]:
    """Per model: mean ± std over the folds that scored it, and the summed confusion matrix.

    Models are collected from every fold (in order of first appearance), so a fold that
    scored nothing, or not every model, never hides the others' results.
    """
    models = list(dict.fromkeys(m for f in folds for m in f.scores))
    out = {}
    for m in models:
        per = [f.scores[m] for f in folds if m in f.scores]
        summary = summarize_folds(per)
        cm = np.sum([s.confusion for s in per], axis=0)
        summary["pooled"] = scores_from_confusion(cm, per[0].labels).to_dict()
        summary["folds"] = {f.name: f.scores[m].to_dict() for f in folds if m in f.scores}
        out[m] = summary
    return out
