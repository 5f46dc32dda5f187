"""Reports of a run: comparison table (Markdown + JSON), confusion matrix and curve PNGs.

Every table names its split ("speaker-independent, 5 folds of actors" or, for a random file
split, "speaker-DEPENDENT"), because the two differ by 20+ points on emotional speech and a
number without its split cannot be compared with anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge.metrics import format_pct
from train.runs import write_json

#: Row order and the description of each model in the comparison table.
DESCRIPTIONS: dict[str, str] = {
    "svm": "SVM (RBF) on mean+std over speech frames",
    "rf": "Random Forest on mean+std over speech frames",
    "cnn": "CNN-only member",
    "lstm": "LSTM-only member",
    "cnn_lstm": "one CNN-LSTM member (members[0])",
    "ensemble_hard": "ensemble, hard voting",
    "ensemble_soft": "ensemble, soft voting",
    "ensemble_weighted": "ensemble, weighted soft voting (val-actor UAR)",
}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def comparison_markdown(summary: Mapping[str, Mapping[str, Any]], split: str, labels: Sequence[str],
                        title: str = "Comparison", notes: Sequence[str] = ()) -> str:
    rows = [f"# {title}", "", f"Split: **{split}**. File-level scores (window probabilities "
            "averaged over each file's speech windows, as the device does); mean ± std over folds.",
            "", "| model | WA % | UAR % | macro-F1 % |", "|---|---|---|---|"]
    order = [k for k in DESCRIPTIONS if k in summary]
    order += [k for k in summary if k not in DESCRIPTIONS]
    for k in order:
        s = summary[k]
        desc = DESCRIPTIONS.get(k, k)
        rows.append(f"| {desc} | {format_pct(s['wa']['mean'], s['wa']['std'])} | "
                    f"{format_pct(s['uar']['mean'], s['uar']['std'])} | "
                    f"{format_pct(s['macro_f1']['mean'], s['macro_f1']['std'])} |")
    best = "ensemble_soft" if "ensemble_soft" in summary else order[-1] if order else None
    if best:
        rows += ["", f"Per-class recall / F1 of {DESCRIPTIONS.get(best, best)} (mean over folds):",
                 "", "| class | precision % | recall % | F1 % |", "|---|---|---|---|"]
        for lab in labels:
            pc = summary[best]["per_class"].get(lab)
            if pc is None or not np.isfinite(pc["recall"]["mean"]):
                continue
            rows.append(f"| {lab} | {100 * pc['precision']['mean']:.1f} | "
                        f"{100 * pc['recall']['mean']:.1f} | {100 * pc['f1']['mean']:.1f} |")
    if notes:
        rows += ["", *notes]
    return "\n".join(rows) + "\n"


def per_fold_markdown(summary: Mapping[str, Mapping[str, Any]]) -> str:
    folds = sorted({f for s in summary.values() for f in s["folds"]},
                   key=lambda n: (len(n), n))
    rows = ["| model | " + " | ".join(f"{f} UAR %" for f in folds) + " |",
            "|---|" + "---|" * len(folds)]
    for k, s in summary.items():
        cells = [f"{100 * s['folds'][f]['uar']:.1f}" if f in s["folds"] else "" for f in folds]
        rows.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def plot_confusion(cm: np.ndarray, labels: Sequence[str], path: Path, title: str) -> None:
    """Row-normalised confusion matrix (recall per true class) with counts."""
    plt = _plt()
    cm = np.asarray(cm, dtype=np.float64)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1 + 0.7 * len(labels), 0.8 + 0.6 * len(labels)), dpi=100)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{100 * norm[i, j]:.0f}\n({int(cm[i, j])})", ha="center", va="center",
                    fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], path: Path,
                title: str) -> None:
    """Training loss/accuracy and validation-actor loss/UAR per member, one line each."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    for name, h in histories.items():
        ep = np.arange(1, len(h.get("loss", [])) + 1)
        if not len(ep):
            continue
        (line,) = axes[0].plot(ep, h["loss"], label=f"{name} train")
        if "val_loss" in h:
            axes[0].plot(ep, h["val_loss"], "--", color=line.get_color(), label=f"{name} val")
        axes[1].plot(ep, h.get("accuracy", []), color=line.get_color(), label=f"{name} train acc")
        if "val_uar" in h:
            axes[1].plot(ep, h["val_uar"], "--", color=line.get_color(), label=f"{name} val UAR")
    axes[0].set_title("loss (train: augmented, smoothed; val: windows)", fontsize=9)
    axes[1].set_title("train accuracy / validation-actor file UAR", fontsize=9)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=6, ncol=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_reports(results_dir: Path, summary: Mapping[str, Mapping[str, Any]], split: str,
                  labels: Sequence[str], histories: Mapping[str, Mapping[str, Mapping[str, Any]]],
                  meta: Mapping[str, Any], notes: Sequence[str] = ()) -> None:
    """comparison.md/.json, per-fold table, confusion PNGs, curves PNG per set."""
    results_dir.mkdir(parents=True, exist_ok=True)
    md = comparison_markdown(summary, split, labels, notes=notes)
    md += "\n## Per fold (UAR %)\n\n" + per_fold_markdown(summary)
    md += "\n## Run\n\n" + "\n".join(f"- {k}: `{v}`" for k, v in meta.items()) + "\n"
    (results_dir / "comparison.md").write_text(md, encoding="utf-8")
    write_json(results_dir / "comparison.json", {"split": split, "labels": list(labels),
                                                 "meta": dict(meta), "models": summary})
    for key in ("ensemble_soft", "cnn_lstm", "svm"):
        if key in summary:
            cm = np.asarray(summary[key]["pooled"]["confusion"])
            plot_confusion(cm, labels, results_dir / f"confusion-{key}.png",
                           f"{DESCRIPTIONS.get(key, key)}\n{split}, pooled over folds")
    for set_name, h in histories.items():
        if h:
            plot_curves(h, results_dir / f"curves-{set_name}.png", f"{set_name}: training curves")
