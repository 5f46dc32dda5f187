"""Scores that measure generalisation: per corpus, its own classes, the core four, calibration.

A multi-corpus test set is scored per corpus, because a pooled figure lets the biggest corpus
hide the others. For each corpus: UAR over the classes it has (a prediction of a class it
lacks is an error), core-4 UAR (EmoBox's cross-corpus protocol: files of neutral, happy, sad
and angry, the decision taken among those four), macro-F1, confusion, and the expected
calibration error of the ensemble's confidence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge.calibration import expected_calibration_error
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


def per_corpus(ids: np.ndarray, probs: np.ndarray, calibrated: np.ndarray,
               truth_of_file: dict[int, int], corpus_of_file: Sequence[str],
               labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """File-level scores of one model's file probabilities (and their calibrated version, for
    the calibration error), corpus by corpus."""
    ids = np.asarray(ids)
    truth = np.array([truth_of_file[int(i)] for i in ids], dtype=np.int64)
    corpus = np.array([corpus_of_file[int(i)] for i in ids])
    cal = np.asarray(calibrated)
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


def report(run_dir: Path) -> str:
    """The per-corpus table of a multi-corpus run (from ``results/folds/*.json``), written to
    ``results/crosscorpus.md`` and ``.json``; returns the markdown."""
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    folds = sorted((run_dir / "results" / "folds").glob("*.json"))
    rows: dict[str, dict[str, Any]] = {}
    for f in folds:
        d = json.loads(f.read_text(encoding="utf-8"))
        for name, r in d.get("per_corpus", {}).items():
            entry = rows.setdefault(name, {"sets": [], "per_set": []})
            entry["sets"].append(d["set"])
            t = d.get("temperature", 1.0)
            if t < 1.0:  # runs before the T >= 1 rule (edge.calibration): the device keeps T = 1
                r = {**r, "ece_calibrated": r["ece"]}
            entry["per_set"].append({**r, "temperature": max(1.0, t),
                                     "svm_uar": d.get("models", {}).get("svm", {}).get("uar")
                                     if len(d.get("per_corpus", {})) == 1 else None})
    if not rows:
        raise ValueError(f"{run_dir} has no per-corpus results (a multi-corpus run writes them)")

    def mean(entry: dict[str, Any], key: str) -> float | None:
        vals = [r[key] for r in entry["per_set"] if r.get(key) is not None]
        return float(np.mean(vals)) if vals else None

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{100 * v:.1f}"

    with_svm = any(r.get("svm_uar") is not None for e in rows.values() for r in e["per_set"])
    lines = [f"Split: {run.get('split', '?')}. Labels: {', '.join(run.get('labels', []))}. "
             f"Ensemble ({run.get('voting', 'soft')} vote, {len(run['config']['members'])} "
             "members), file-level, as `edge-ser classify` decides.", "",
             "| test corpus | files | UAR own classes % | core-4 UAR % | macro-F1 % | "
             "ECE % raw → calibrated |" + (" SVM baseline UAR % |" if with_svm else ""),
             "|---|---|---|---|---|---|" + ("---|" if with_svm else "")]
    summary: dict[str, Any] = {"split": run.get("split"), "corpora": {}}
    for name, entry in rows.items():
        files = sum(r["files"] for r in entry["per_set"]) // max(1, len(entry["per_set"]))
        vals = {k: mean(entry, k) for k in ("uar", "core4_uar", "macro_f1", "ece",
                                             "ece_calibrated", "svm_uar")}
        summary["corpora"][name] = {"files": files, "sets": entry["sets"], **vals}
        lines.append(f"| {name} | {files} | {pct(vals['uar'])} | {pct(vals['core4_uar'])} | "
                     f"{pct(vals['macro_f1'])} | {pct(vals['ece'])} → "
                     f"{pct(vals['ece_calibrated'])} |"
                     + (f" {pct(vals['svm_uar'])} |" if with_svm else ""))
    c4 = [v["core4_uar"] for v in summary["corpora"].values() if v["core4_uar"] is not None]
    if c4:
        summary["core4_uar_mean"] = float(np.mean(c4))
        summary["core4_uar_min"] = float(np.min(c4))
        lines += ["", f"Mean core-4 UAR over corpora: **{pct(float(np.mean(c4)))} %** "
                  f"(lowest {pct(float(np.min(c4)))} %)."]
    text = "\n".join(lines) + "\n"
    out = run_dir / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "crosscorpus.md").write_text(text, encoding="utf-8")
    (out / "crosscorpus.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return text


if __name__ == "__main__":
    import sys

    print(report(Path(sys.argv[1])), end="")
