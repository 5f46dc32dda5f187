"""Which frames should a window's statistics average: all, all but padding, or speech only?

Why: the window-statistics members average every frame of a 3 s window. Short clips are
zero-padded to one window (MFCC 0 at its floor, pitch at fmax), and the share of padding and
silence differs by corpus (0 % of emotiontts's window frames are padding, 28 % of ASED's), so
the statistics carry how a corpus was cut as well as how its speakers sound. This screen fits
the screens' SVM on each window's mean and mean absolute deviation (what a stats member
computes) over the run's own normalised windows, with three frame masks, and scores each
held-out corpus file by file (mean decision over its windows).

- ``all``: every frame (the members as built);
- ``no padding``: frames whose MFCC 0 is above the digital-silence floor;
- ``speech-ish``: of those, frames within 30 dB of the window's 95th-percentile RMS.

    python benchmarks/screen_window_frames.py RUN \\
        --out train/results/multicorpus/screen-window-frames
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import by_setting, corpus_table, save_report
from benchmarks.screen_corpora import fit_svm
from convert.runs import load_windows
from train.crosscorpus import core4_scores
from train.datasets import CorpusSource, load_sources
from train.features import normalize
from train.fit import file_labels, file_probs
from train.runs import RunInfo, SetInfo

KINDS = ("mfcc+pitch+rms", "logmel+pitch+rms")
PAD_MFCC0 = -600.0   # MFCC 0 of digital silence is about -632 with this front end
SPEECH_DB = 30.0


def window_stats(xn: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Masked mean and mean absolute deviation per coefficient, [windows, 2 * dim]."""
    m = mask[..., None].astype(np.float32)
    n = np.maximum(m.sum(1), 1.0)
    mean = (xn * m).sum(1) / n
    mad = (np.abs(xn - mean[:, None]) * m).sum(1) / n
    return np.concatenate([mean, mad], axis=1)


def frame_masks(raw_mfcc: np.ndarray) -> dict[str, np.ndarray]:
    """The three masks from un-normalised mfcc+pitch+rms windows (RMS is the last column)."""
    real = raw_mfcc[:, :, 0] > PAD_MFCC0
    level = 20.0 * np.log10(np.maximum(raw_mfcc[:, :, -1].astype(np.float32), 1e-5))
    loud = level > np.percentile(level, 95, axis=1, keepdims=True) - SPEECH_DB
    return {"all": np.ones(real.shape, bool), "no padding": real, "speech-ish": real & loud}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="a leave-one-corpus-out run with both kinds")
    ap.add_argument("--out", type=Path, default=None, help="writes OUT.md and OUT.json")
    args = ap.parse_args()
    run = RunInfo.read(args.run)
    ds = load_sources([CorpusSource(c["format"], Path(c["root"])) for c in run.corpora],
                      run.labels)
    corpus_of = ds.corpus_of()
    results: dict[str, dict[str, float]] = {}
    for s in [s for s in run.sets if s.startswith("loco-")]:
        info = SetInfo.read(args.run / s)
        x: dict[str, dict[str, np.ndarray]] = {}
        meta = {}
        for split in ("train", "test"):
            w = {k: load_windows(args.run / s / "data" / f"{split}-{k}.npz") for k in KINDS}
            masks = frame_masks(w[KINDS[0]].X)
            x[split] = {name: np.concatenate(
                [window_stats(normalize(w[k].X, *info.normalization[k]), m) for k in KINDS],
                axis=1) for name, m in masks.items()}
            meta[split] = (w[KINDS[0]].file, w[KINDS[0]].y)
        (f_tr, y_tr), (f_te, y_te) = meta["train"], meta["test"]
        held = s.removeprefix("loco-")
        row = {}
        for name in x["train"]:
            svm = fit_svm(x["train"][name], y_tr, corpus_of[f_tr], len(run.labels))
            _, fd = file_probs(svm.decide(x["test"][name]), f_te)  # mean decision per file
            p = np.exp(fd - fd.max(1, keepdims=True))
            t = file_labels(y_te, f_te)
            full = np.zeros((len(t), len(run.labels)))
            full[:, svm.classes] = p / p.sum(1, keepdims=True)
            row[name] = core4_scores(t, full, run.labels).uar
        results[held] = row
        print(held, {k: round(v, 3) for k, v in row.items()}, flush=True)
    lines = [f"Run: `{args.run.name}` windows; SVM on window mean / mean absolute deviation of "
             f"{' and '.join(KINDS)}, leave-one-corpus-out; core-4 UAR % per held-out corpus.",
             "", corpus_table("frames", by_setting(results), list(results))]
    save_report(args.out, "\n".join(lines), results)


if __name__ == "__main__":
    main()
