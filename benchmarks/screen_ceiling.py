"""How far is leave-one-corpus-out from what the same classifier reaches inside each corpus?

Why: the multi-corpus issue's target (core-4 UAR mean >= 50 %, every corpus >= 40 %, corpus
left out) needs a reference: the same utterance statistics and SVM, scored on the same files
speaker-independently *with* the corpus's other speakers in training (5 folds of whole
speakers, with and without the other four corpora). A corpus on which even in-domain training
stays near 40 % will not pass 40 % when none of its speakers, sentences or microphones is seen.

    python benchmarks/screen_ceiling.py --data ravdess:DIR --data nemo:DIR ... --cache CACHE \\
        --out train/results/multicorpus/screen-ceiling
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.screen_corpora import core4_uar, fit_svm, load_frames, screen_arguments, write_table
from edge.corpora import CORE_4

FOLDS = 5


def main() -> None:
    ap = screen_arguments(__doc__)
    ap.add_argument("--kind", default="mfcc+pitch+rms")
    ap.add_argument("--seed", type=int, default=0, help="deals the speakers into folds")
    args = ap.parse_args()
    ds, frames, labels, cols = load_frames(args.data, ",".join(CORE_4), args.kind, args.cache)
    corpus, y = ds.corpus_of(), ds.y
    speaker = np.array([f"{c}/{s}" for c, s in zip(corpus, ds.speaker_of(), strict=True)])
    x = np.stack([np.concatenate([f.mean(0), f.std(0)]) for f in frames])
    rng = np.random.default_rng(args.seed)
    corpora = sorted(set(corpus))
    protocols = ("corpus left out (no speaker of it in training)",
                 "other speakers of all five corpora",
                 "other speakers of the same corpus only")
    results: dict[str, dict[str, float]] = {p: {} for p in protocols}
    for held in corpora:
        inside = corpus == held
        tr = ~inside
        results[protocols[0]][held] = fit_svm(x[tr], y[tr], corpus[tr], len(labels)).core4_uar(
            x[inside], y[inside], cols)
        speakers = np.unique(speaker[inside])
        rng.shuffle(speakers)
        for p, own_only in ((protocols[1], False), (protocols[2], True)):
            dec = np.full((len(y), len(labels)), -1e9)  # a class no fold saw never wins
            for fold in np.array_split(speakers, FOLDS):
                te = np.isin(speaker, fold)
                tr = (inside & ~te) if own_only else ~te
                svm = fit_svm(x[tr], y[tr], corpus[tr], len(labels))
                dec[np.ix_(te, svm.classes)] = svm.decide(x[te])
            results[p][held] = core4_uar(dec[inside], y[inside], list(range(len(labels))), cols)
        print(held, {p[:30]: round(results[p][held], 3) for p in protocols}, flush=True)
    for r in results.values():
        r["mean"] = float(np.mean([r[c] for c in corpora]))
    write_table("training data (core-4 UAR of each corpus's files)", results, corpora, args.out,
                ref=protocols[0])


if __name__ == "__main__":
    main()
