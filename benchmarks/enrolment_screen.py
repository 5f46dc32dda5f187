"""Does enrolment help on people no model heard? A leave-one-corpus-out screen of speaker
statistics with the fast utterance-statistics SVM (``screen_corpora.py``'s model).

Why: enrolment (``edge-ser enrol``) gives the device a few unlabelled clips of each speaker.
Before training members for it, this screen measures on each held-out corpus, for K enrolment
clips per test speaker (drawn at random, any emotion, never scored), on the same scored files:

- ``global``: frames normalised with the training speakers' global statistics (no enrolment);
- ``global+prior``: the same model, each window's probabilities divided by the speaker's mean
  probabilities over the K enrolment clips (an output prior correction);
- ``speaker``: trained on frames normalised by each training speaker's statistics (from K of
  its clips, as enrolment would give), tested with the K enrolment clips' statistics;
- ``speaker, none``: the same model when nobody enrolled (global statistics instead);
- ``mixed``: trained on both normalisations, tested with enrolment and without (``mixed, none``).

    python benchmarks/enrolment_screen.py --data ravdess:DIR --data nemo:DIR ... --cache CACHE
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import save_report
from benchmarks.screen_corpora import core4_uar, fit_svm, load_frames
from edge.corpora import CORE_4
from edge.frontend.windows import speaker_statistics as stats_of
from train.speakernorm import enrolment_clips

Stats = tuple[np.ndarray, np.ndarray]


def utt_vector(f: np.ndarray, st: Stats) -> np.ndarray:
    g = (f - st[0]) / st[1]
    return np.concatenate([g.mean(0), g.std(0)])


def log_softmax(d: np.ndarray) -> np.ndarray:
    d = d - d.max(1, keepdims=True)
    return d - np.log(np.exp(d).sum(1, keepdims=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", required=True, help="FORMAT:PATH (repeatable)")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "edge-ser")
    ap.add_argument("--kind", default="mfcc+pitch+rms")
    ap.add_argument("--clips", default="5,10,20", help="enrolment clips per test speaker")
    ap.add_argument("--labels", default=",".join(CORE_4))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="write the table (.md) and JSON here")
    args = ap.parse_args()

    ds, frames, labels, cols = load_frames(args.data, args.labels, args.kind, args.cache)
    corpus = ds.corpus_of()
    speaker = ds.speaker_of()
    y = ds.y
    by_speaker: dict[str, list[int]] = {}
    for i, s in enumerate(speaker):
        by_speaker.setdefault(str(s), []).append(i)

    results: dict[str, dict] = {}
    for k in [int(c) for c in args.clips.split(",")]:
        results[str(k)] = {}
        for held in sorted(set(corpus)):
            tr = np.flatnonzero(corpus != held)
            glob = stats_of([frames[i] for i in tr])
            # the same enrolment clips and scored files for every method
            enrol: dict[str, list[int]] = {}
            scored: list[int] = []
            skipped = 0
            for s, ids in by_speaker.items():
                if corpus[ids[0]] != held:
                    continue
                if len(ids) <= k:
                    skipped += 1
                    continue
                enrol[s] = enrolment_clips(ids, s, k, args.seed)
                scored += [i for i in ids if i not in enrol[s]]
            row: dict[str, float | int] = {"speakers": len(enrol), "skipped_speakers": skipped,
                                           "files": len(scored)}
            if not scored:
                results[str(k)][held] = row
                continue
            te = np.array(scored)
            spk_stats = {s: stats_of([frames[i] for i in ids]) for s, ids in enrol.items()}
            train_spk = {}  # every training speaker's statistics from K of its clips
            for s, ids in by_speaker.items():
                if corpus[ids[0]] != held:
                    train_spk[s] = stats_of([frames[i] for i in
                                             enrolment_clips(ids, s, k, args.seed)])
            x_glob = np.stack([utt_vector(frames[i], glob) for i in tr])
            x_spk = np.stack([utt_vector(frames[i], train_spk[str(speaker[i])]) for i in tr])
            t_glob = np.stack([utt_vector(frames[i], glob) for i in te])
            t_spk = np.stack([utt_vector(frames[i], spk_stats[str(speaker[i])]) for i in te])
            yt = y[te]

            n = len(labels)
            m_glob = fit_svm(x_glob, y[tr], corpus[tr], n)
            d = m_glob.decide(t_glob)
            row["global"] = core4_uar(d, yt, m_glob.classes, cols)
            enrol_logp = {s: log_softmax(m_glob.decide(np.stack(
                [utt_vector(frames[i], glob) for i in ids]))).mean(0) for s, ids in enrol.items()}
            prior = np.stack([enrol_logp[str(speaker[i])] for i in te])
            row["global+prior"] = core4_uar(log_softmax(d) - prior, yt, m_glob.classes, cols)
            m_spk = fit_svm(x_spk, y[tr], corpus[tr], n)
            row["speaker"] = m_spk.core4_uar(t_spk, yt, cols)
            row["speaker, none"] = m_spk.core4_uar(t_glob, yt, cols)
            m_mix = fit_svm(np.concatenate([x_glob, x_spk]), np.concatenate([y[tr], y[tr]]),
                            np.concatenate([corpus[tr], corpus[tr]]), n)
            row["mixed"] = m_mix.core4_uar(t_spk, yt, cols)
            row["mixed, none"] = m_mix.core4_uar(t_glob, yt, cols)
            results[str(k)][held] = row
            print(k, held, {a: (round(b, 3) if isinstance(b, float) else b)
                            for a, b in row.items()}, flush=True)
    methods = ["global", "global+prior", "speaker", "speaker, none", "mixed", "mixed, none"]
    lines = []
    for k, per in results.items():
        corpora = [c for c in sorted(per) if "global" in per[c]]
        lines += [f"\n### {k} enrolment clips per test speaker (core-4 UAR of the other clips)\n",
                  "| method | " + " | ".join(f"{c} ({per[c]['files']} files)" for c in corpora)
                  + " | mean |", "|---|" + "---|" * (len(corpora) + 1)]
        for m in methods:
            vals = [per[c][m] for c in corpora]
            lines.append(f"| {m} | " + " | ".join(f"{v:.3f}" for v in vals)
                         + f" | {np.mean(vals):.3f} |")
        gone = [f"{c} ({per[c]['skipped_speakers']} speakers)" for c in sorted(per)
                if per[c]["skipped_speakers"]]
        if gone:
            lines.append(f"\nSpeakers with {k} clips or fewer are left out: {', '.join(gone)}.")
    save_report(args.out, "\n".join(lines), results)


if __name__ == "__main__":
    main()
