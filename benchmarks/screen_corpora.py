"""Leave-one-corpus-out screening of feature normalisations with a fast utterance-statistics SVM.

Why: a CNN-LSTM leave-one-corpus-out run takes an hour; this screen takes a minute and ranks
normalisation choices (global statistics, per-speaker statistics from N clips, per-corpus
statistics, i.e. a long-run running mean/variance of what one device hears) by what they do to
core-4 UAR on a corpus no model saw. Uses edge-ser's own front end through the training feature
cache (``edge-ser train`` or ``/work/runs``-style extraction fills it).

    python benchmarks/screen_corpora.py --data ravdess:DIR --data nemo:DIR ... --cache CACHE
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import corpus_table, save_report
from edge.corpora import CORE_4
from edge.frontend.config import FrontendConfig
from edge.frontend.kinds import base_columns
from edge.metrics import score
from train.config import load_config
from train.datasets import CorpusSource, Dataset, load_sources, sample_weights
from train.experiment import feature_settings
from train.features import FileFeatures, default_cache_dir, extract, speech_frames


def frame_matrix(ff: FileFeatures, fe: FrontendConfig, kind: str) -> np.ndarray:
    """An utterance's speech frames for the screens (all frames under 5 speech frames)."""
    return speech_frames(ff, fe, kind, min_speech=5).astype(np.float64)


def load_frames(data: list[str], label_list: str, kind: str, cache: Path,
                speech_only: bool = True
                ) -> tuple[Dataset, list[np.ndarray], list[str], list[int]]:
    """The corpora, each utterance's speech frames of ``kind`` (every frame, silence too,
    without ``speech_only``; edge-ser's front end through the training feature cache), the
    label set and the core-4 columns in it."""
    cfg = load_config()
    fe = cfg.frontend_config()
    labels = label_list.split(",")
    ds = load_sources([CorpusSource.parse(d) for d in data], labels)
    settings = feature_settings(cfg, fe, [kind])
    feats = extract(ds.utts, lambda i: [0], settings, cfg.seed, cache, jobs=2)
    if speech_only:
        frames = [frame_matrix(feats[(i, 0)], fe, kind) for i in range(len(ds.utts))]
    else:
        frames = [np.asarray(speech_frames(feats[(i, 0)], fe, kind, min_speech=10**9),
                             dtype=np.float64) for i in range(len(ds.utts))]
    return ds, frames, labels, [labels.index(c) for c in CORE_4]


def balanced_weights(corpus: np.ndarray, y: np.ndarray, n_labels: int) -> np.ndarray:
    """Every corpus carries the same total weight, classes balanced inside it (mean 1)."""
    return sample_weights(y, corpus, n_labels, balance=1.0)


@dataclass
class ScreenSvm:
    """The screens' one classifier: an RBF SVM on standardised utterance statistics."""

    clf: Any
    mu: np.ndarray
    sd: np.ndarray

    @property
    def classes(self) -> list[int]:
        return list(self.clf.classes_)

    def decide(self, x: np.ndarray) -> np.ndarray:
        """Decision values [n, classes] (two columns for a two-class fit)."""
        d = self.clf.decision_function((x - self.mu) / self.sd)
        return np.stack([-d, d], axis=1) if d.ndim == 1 else d

    def core4_uar(self, x: np.ndarray, y: np.ndarray, cols: list[int]) -> float:
        return core4_uar(self.decide(x), y, self.classes, cols)


def fit_svm(x: np.ndarray, y: np.ndarray, corpus: np.ndarray, n_labels: int) -> ScreenSvm:
    """Fit the screen SVM, every corpus the same total weight, classes balanced inside it."""
    from sklearn.svm import SVC

    mu, sd = x.mean(0), x.std(0) + 1e-9
    clf = SVC(C=1.0, kernel="rbf", gamma="scale", decision_function_shape="ovr")
    clf.fit((x - mu) / sd, y, sample_weight=balanced_weights(corpus, y, n_labels))
    return ScreenSvm(clf, mu, sd)


def loco_row(name: str, x: np.ndarray, y: np.ndarray, corpus: np.ndarray, n_labels: int,
             cols: list[int]) -> dict[str, float]:
    """One screen row: core-4 UAR of each corpus held out from an SVM fit on the others, and
    their mean (printed as it lands)."""
    corpora = sorted(set(corpus))
    row = {}
    for held in corpora:
        tr, te = corpus != held, corpus == held
        row[held] = fit_svm(x[tr], y[tr], corpus[tr], n_labels).core4_uar(x[te], y[te], cols)
    row["mean"] = float(np.mean([row[c] for c in corpora]))
    print(name, {k: round(v, 3) for k, v in row.items()}, flush=True)
    return row


def core4_uar(dec: np.ndarray, y: np.ndarray, classes: list[int], cols: list[int]) -> float:
    """UAR of the core-4 files, each decided among the core four columns of ``dec``."""
    if dec.ndim == 1:
        dec = np.stack([-dec, dec], axis=1)
    core = np.isin(y, cols)
    sub = dec[core][:, [classes.index(c) for c in cols]]
    truth = np.array([cols.index(int(t)) for t in y[core]])
    return score(truth, sub.argmax(1), list(CORE_4)).uar


def write_table(first: str, results: dict[str, dict[str, float]], corpora: list[str],
                out: Path | None, ref: str | None = None) -> None:
    """Print (and with ``out`` write as .md and .json) one row per setting, a column per
    held-out corpus, the mean, and with ``ref`` the mean's change against that row."""
    save_report(out, corpus_table(first, results, corpora, ref, percent=False,
                                  ref_header="ref"), results)


def screen_arguments(doc: str | None) -> argparse.ArgumentParser:
    """The arguments every screen takes: the corpora, the feature cache, where to write."""
    ap = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    ap.add_argument("--data", action="append", required=True, help="FORMAT:PATH (repeatable)")
    ap.add_argument("--cache", type=Path, default=default_cache_dir())
    ap.add_argument("--out", type=Path, default=None, help="write the table (.md) and JSON here")
    return ap


def main() -> None:
    ap = screen_arguments(__doc__)
    ap.add_argument("--kind", default="mfcc+pitch+rms")
    ap.add_argument("--clips", type=int, default=20, help="clips per speaker for its statistics")
    ap.add_argument("--labels", default=",".join(CORE_4),
                    help="training label set (scored on the core four either way)")
    ap.add_argument("--modes", default="global,corpus,speaker,speaker-mean",
                    help="also: utterance-cmn (each utterance's own cepstral mean removed)")
    args = ap.parse_args()
    ds, frames, labels, cols = load_frames(args.data, args.labels, args.kind, args.cache)
    cfg = load_config()
    corpus = ds.corpus_of()
    speaker = ds.speaker_of()
    y = ds.y
    rng = np.random.default_rng(cfg.seed)

    def stats_of(idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
        f = np.concatenate([frames[i] for i in idx])
        return f.mean(0), np.maximum(f.std(0), 1e-3)

    groups: dict[str, dict[str, list[int]]] = {"speaker": {}, "corpus": {}}
    for i in range(len(y)):
        groups["speaker"].setdefault(speaker[i], []).append(i)
        groups["corpus"].setdefault(corpus[i], []).append(i)
    norms: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {"speaker": {}, "corpus": {}}
    for g, members in groups["speaker"].items():
        pick = rng.choice(members, size=min(args.clips, len(members)), replace=False)
        norms["speaker"][g] = stats_of(list(pick))
    for g, members in groups["corpus"].items():
        pick = rng.choice(members, size=min(400, len(members)), replace=False)
        norms["corpus"][g] = stats_of(list(pick))

    def utt_stats(i: int, mode: str) -> np.ndarray:
        f = frames[i]
        if mode == "speaker":
            m, s = norms["speaker"][speaker[i]]
            f = (f - m) / s
        elif mode == "speaker-mean":
            f = f - norms["speaker"][speaker[i]][0]
        elif mode == "corpus":
            m, s = norms["corpus"][corpus[i]]
            f = (f - m) / s
        elif mode == "utterance-cmn":  # the channel: each utterance's own cepstral mean
            f = f.copy()
            f[:, cep] -= f[:, cep].mean(0)
            return np.concatenate([f[:, ~cep].mean(0), f.std(0)])
        return np.concatenate([f.mean(0), f.std(0)])

    fe = cfg.frontend_config()
    cep = np.zeros(frames[0].shape[1], dtype=bool)  # MFCC columns but c0 (the level)
    if "mfcc" in (cols_of := base_columns(fe, args.kind)):
        cep[cols_of["mfcc"] + 1:cols_of["mfcc"] + fe.n_mfcc] = True
    corpora = sorted(set(corpus))
    results: dict[str, dict[str, float]] = {}
    for mode in args.modes.split(","):
        x = np.stack([utt_stats(i, mode) for i in range(len(y))])
        results[mode] = loco_row(mode, x, y, corpus, len(labels), cols)
    write_table("normalisation", results, corpora, args.out)

if __name__ == "__main__":
    main()
