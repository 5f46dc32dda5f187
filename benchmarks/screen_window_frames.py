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

With ``--enrol K`` (the enrolment question: why do members lose when an enrolled speaker's
statistics replace the global ones?), every speaker gives K random clips whose speech frames
(VAD) give their statistics, training speakers included, and the rest of each held-out
speaker's files are scored; rows add the windows normalised by their speaker's statistics over
all frames (``all, speaker``), over speech-ish frames (``speech-ish, speaker``), and speech-ish
frames by the speaker's statistics with the other frames by the global ones (``all, speaker on
speech-ish``). Speakers with K files or fewer are left out.

With ``--corpus`` (why did ``corpus_norm`` members lose?), rows add each corpus's windows
normalised by that corpus's own statistics (training corpora from their training windows, the
held-out corpus from its test windows): over all frames (``all, corpus``: what ``corpus_norm``
does), and with the statistics taken over speech-ish frames only (``all, corpus of
speech-ish``; ``speech-ish, corpus of speech-ish``).

    python benchmarks/screen_window_frames.py RUN \\
        --out train/results/multicorpus/screen-window-frames
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.enrolment_loco import run_dataset, run_features
from benchmarks.report import by_setting, corpus_table, save_report
from benchmarks.screen_corpora import fit_svm
from convert.runs import load_windows
from edge.frontend.windows import fit_normalization, speaker_statistics
from train.crosscorpus import core4_scores
from train.datasets import Dataset, files_by_speaker
from train.features import normalize, normalize_by, speech_frames
from train.fit import file_labels, file_probs
from train.runs import RunInfo, SetInfo
from train.speakernorm import enrolment_clips

Stats = tuple[np.ndarray, np.ndarray]

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


def speaker_profiles(args: argparse.Namespace, run: RunInfo, ds: Dataset
                     ) -> tuple[np.ndarray, dict[str, dict[str, Stats]]]:
    """The files that may be scored (not enrolment, speaker has more than K files) and every
    speaker's statistics of each kind from K of their clips' speech frames."""
    fe, feats = run_features(run, ds, list(KINDS), args.cache)
    by = files_by_speaker(ds.speaker_of())
    enrol = {s: enrolment_clips(ids, s, args.enrol, args.seed) for s, ids in by.items()}
    scorable = np.array([i for s, ids in by.items() if len(ids) > args.enrol
                         for i in ids if i not in enrol[s]], dtype=np.int64)
    return scorable, {k: {s: speaker_statistics([speech_frames(feats[(i, 0)], fe, k)
                                                 for i in ids]) for s, ids in enrol.items()}
                      for k in KINDS}


def by_corpus(x: np.ndarray, names: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each window normalised by its corpus's statistics over the ``mask`` frames."""
    return normalize_by(x, names, {str(c): fit_normalization(x[names == c][mask[names == c]])
                                   for c in np.unique(names)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="a leave-one-corpus-out run with both kinds")
    ap.add_argument("--enrol", type=int, default=0, metavar="K",
                    help="also normalise by each speaker's statistics from K clips")
    ap.add_argument("--corpus", action="store_true",
                    help="also normalise each corpus by its own statistics")
    ap.add_argument("--cache", type=Path, default=Path("/work/cache"))
    ap.add_argument("--seed", type=int, default=7, help="picks the enrolment clips")
    ap.add_argument("--out", type=Path, default=None, help="writes OUT.md and OUT.json")
    args = ap.parse_args()
    run = RunInfo.read(args.run)
    ds = run_dataset(run)
    corpus_of = ds.corpus_of()
    speaker = np.asarray(ds.speaker_of())
    profiles = speaker_profiles(args, run, ds) if args.enrol else None
    results: dict[str, dict[str, float]] = {}
    for s in [s for s in run.sets if s.startswith("loco-")]:
        info = SetInfo.read(args.run / s)
        x: dict[str, dict[str, np.ndarray]] = {}
        meta = {}
        for split in ("train", "test"):
            w = {k: load_windows(args.run / s / "data" / f"{split}-{k}.npz") for k in KINDS}
            masks = frame_masks(w[KINDS[0]].X)
            glob = {k: normalize(w[k].X, *info.normalization[k]) for k in KINDS}
            x[split] = {name: np.concatenate([window_stats(glob[k], m) for k in KINDS], axis=1)
                        for name, m in masks.items()}
            if profiles is not None:
                who = speaker[w[KINDS[0]].file]
                own = {k: normalize_by(w[k].X, who, profiles[1][k]) for k in KINDS}
                speechy = masks["speech-ish"][..., None]
                for name, norm, m in (
                        ("all, speaker", own, masks["all"]),
                        ("speech-ish, speaker", own, masks["speech-ish"]),
                        ("all, speaker on speech-ish",
                         {k: np.where(speechy, own[k], glob[k]) for k in KINDS}, masks["all"])):
                    x[split][name] = np.concatenate([window_stats(norm[k], m) for k in KINDS],
                                                    axis=1)
            if args.corpus:
                names = corpus_of[w[KINDS[0]].file]
                for name, stats_mask, m in (
                        ("all, corpus", masks["all"], masks["all"]),
                        ("all, corpus of speech-ish", masks["speech-ish"], masks["all"]),
                        ("speech-ish, corpus of speech-ish", masks["speech-ish"],
                         masks["speech-ish"])):
                    x[split][name] = np.concatenate(
                        [window_stats(by_corpus(w[k].X, names, stats_mask), m) for k in KINDS],
                        axis=1)
            meta[split] = (w[KINDS[0]].file, w[KINDS[0]].y)
        (f_tr, y_tr), (f_te, y_te) = meta["train"], meta["test"]
        if profiles is not None:  # enrolment files are never scored
            keep = np.isin(f_te, profiles[0])
            x["test"] = {name: v[keep] for name, v in x["test"].items()}
            f_te, y_te = f_te[keep], y_te[keep]
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
