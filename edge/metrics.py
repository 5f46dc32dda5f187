"""Classification metrics for emotion recognition (NumPy only).

WA (weighted accuracy, i.e. plain accuracy) rewards the majority classes; UAR (unweighted
average recall) is the field's headline number because emotional corpora are unbalanced
(RAVDESS has half as many neutral files). UAR averages recall over the classes present in the
truth only, so a class absent from a fold's test speakers neither counts as 0 nor as 1.
Zero divisions (a class never predicted) give 0 for that class's precision and F1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                     n_classes: int | None = None) -> np.ndarray:
    """Counts ``[true, predicted]`` (rows: truth), shape ``(n_classes, n_classes)``."""
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} items but y_pred has {p.size}")
    if n_classes is None:
        n_classes = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    if t.size and (t.min() < 0 or p.min() < 0 or t.max() >= n_classes or p.max() >= n_classes):
        raise ValueError(f"class indices must be in 0..{n_classes - 1}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a, dtype=np.float64)
    np.divide(a, b, out=out, where=b > 0)
    return out


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class (0 where undefined)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = _div(tp, predicted)
    recall = _div(tp, support)
    f1 = _div(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def accuracy(cm: np.ndarray) -> float:
    """WA: correct / all."""
    total = cm.sum()
    return float(np.trace(cm) / total) if total else 0.0


def uar(cm: np.ndarray) -> float:
    """Mean recall over the classes present in the truth."""
    pc = per_class(cm)
    present = pc["support"] > 0
    return float(pc["recall"][present].mean()) if present.any() else 0.0


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over classes present in the truth or the predictions (sklearn's convention)."""
    cm = np.asarray(cm)
    pc = per_class(cm)
    used = (cm.sum(axis=1) > 0) | (cm.sum(axis=0) > 0)
    return float(pc["f1"][used].mean()) if used.any() else 0.0


@dataclass(frozen=True)
class Scores:
    """Every metric of one evaluation, with the confusion matrix it came from."""

    labels: tuple[str, ...]
    confusion: np.ndarray
    wa: float
    uar: float
    macro_f1: float
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "wa": self.wa,
            "uar": self.uar,
            "macro_f1": self.macro_f1,
            "n": int(self.confusion.sum()),
            "per_class": {
                lab: {"precision": float(self.precision[i]), "recall": float(self.recall[i]),
                      "f1": float(self.f1[i]), "support": int(self.support[i])}
                for i, lab in enumerate(self.labels)
            },
            "confusion": self.confusion.tolist(),
        }


def scores_from_confusion(cm: np.ndarray, labels: Sequence[str]) -> Scores:
    cm = np.asarray(cm, dtype=np.int64)
    if cm.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix {cm.shape} does not match {len(labels)} labels")
    pc = per_class(cm)
    return Scores(tuple(labels), cm, accuracy(cm), uar(cm), macro_f1(cm),
                  pc["precision"], pc["recall"], pc["f1"], pc["support"])


def score(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
          labels: Sequence[str]) -> Scores:
    """All metrics for integer predictions against integer truth over ``labels``."""
    return scores_from_confusion(confusion_matrix(y_true, y_pred, len(labels)), labels)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population std (ddof=0) over folds; (nan, nan) for no values."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return float("nan"), float("nan")
    return float(a.mean()), float(a.std())


def summarize_folds(folds: Sequence[Scores | Mapping[str, Any]]) -> dict[str, Any]:
    """Mean ± std over folds of WA, UAR, macro-F1 and per-class P/R/F1."""
    dicts = [f.to_dict() if isinstance(f, Scores) else dict(f) for f in folds]
    out: dict[str, Any] = {"n_folds": len(dicts)}
    for key in ("wa", "uar", "macro_f1"):
        m, s = mean_std([d[key] for d in dicts])
        out[key] = {"mean": m, "std": s}
    labels = list(dicts[0]["per_class"]) if dicts else []
    out["per_class"] = {
        lab: {
            k: dict(zip(("mean", "std"),
                        mean_std([d["per_class"][lab][k] for d in dicts
                                  if d["per_class"][lab]["support"] > 0]), strict=True))
            for k in ("precision", "recall", "f1")
        }
        for lab in labels
    }
    return out


def format_pct(mean: float, std: float) -> str:
    """``"61.2 ± 4.3"`` (percent)."""
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def confusion_markdown(cm: np.ndarray | Sequence[Sequence[int]], labels: Sequence[str],
                       corner: str = "truth \\ predicted") -> list[str]:
    """A confusion matrix as Markdown table rows (rows: truth, columns: prediction)."""
    m = np.asarray(cm, dtype=np.int64)
    return [
        f"| {corner} | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
        *[f"| {lab} | " + " | ".join(str(int(v)) for v in m[i]) + " |"
          for i, lab in enumerate(labels)],
    ]


def mean_by_group(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted group ids, mean row of ``values`` per group): window scores → file scores,
    as the device averages a file's windows."""
    ids, inv = np.unique(groups, return_inverse=True)
    sums = np.zeros((len(ids), values.shape[1]), dtype=np.float64)
    np.add.at(sums, inv, values)
    return ids, sums / np.bincount(inv, minlength=len(ids))[:, None]
