"""Do a corpus's labels mean what its documentation says? A leave-one-corpus-out check.

Why: emotiontts's README gives 201-300 angry and 301-400 sad; its recordings are the other
way round, and for three sessions every model trained on it learned the swap. What exposed it
was this: a classifier trained on the *other* corpora (the screens' SVM on utterance
statistics) read the corpus's "angry" files as neutral or sad and its "sad" files as angry.
For each corpus this prints that confusion (rows: the corpus's label, columns: the decision,
share of the row) and the relabelling of the corpus's classes that would agree best with the
other corpora. A permutation that gains a lot over the labels as given is worth a look at the
corpus's own transcripts or scripts; it is not proof (a corpus's style can differ honestly).

    python benchmarks/label_check.py --data ravdess:DIR --data emotiontts:DIR ... [--cache C] \\
        [--out train/results/multicorpus/label-check]   # writes OUT.txt
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.screen_corpora import fit_svm, load_frames, screen_arguments
from edge.corpora import CORE_4

#: a relabelling must beat the labels as given by this much mean recall to be flagged (the
#: swapped emotiontts labels gained 0.05 with this weak classifier; the members' own vote
#: showed it far more clearly, see train/results/multicorpus/README.md)
FLAG_GAIN = 0.05


def best_relabelling(confusion: np.ndarray) -> tuple[tuple[int, ...], float, float]:
    """(permutation p: the class given as i is read as p[i], its mean recall, the identity's)
    over a row-normalised square confusion matrix (exhaustive: 4! = 24)."""
    k = len(confusion)
    ident = float(np.mean(np.diag(confusion)))
    best, score = tuple(range(k)), ident
    for p in itertools.permutations(range(k)):
        s = float(np.mean([confusion[i, p[i]] for i in range(k)]))
        if s > score + 1e-12:
            best, score = p, s
    return best, score, ident


def main() -> None:
    ap = screen_arguments(__doc__)
    args = ap.parse_args()
    labels = list(CORE_4)
    ds, frames, labels, _ = load_frames(args.data, ",".join(labels), "mfcc+pitch+rms",
                                        args.cache)
    corpus, y = ds.corpus_of(), ds.y
    x = np.stack([np.concatenate([f.mean(0), f.std(0)]) for f in frames])
    flagged = 0
    out: list[str] = []

    def say(line: str) -> None:
        print(line)
        out.append(line)

    for held in sorted(set(corpus)):
        tr, te = corpus != held, corpus == held
        svm = fit_svm(x[tr], y[tr], corpus[tr], len(labels))
        pred = np.array(svm.classes)[svm.decide(x[te]).argmax(1)]
        present = [c for c in range(len(labels)) if (y[te] == c).any()]
        conf = np.array([[np.mean(pred[y[te] == a] == b) for b in present] for a in present])
        perm, score, ident = best_relabelling(conf)
        say(f"{held}: rows = its label, columns = what the other corpora read (share)")
        say("  " + " " * 9 + " ".join(f"{labels[b]:>8s}" for b in present))
        for i, a in enumerate(present):
            say(f"  {labels[a]:>8s} " + " ".join(f"{v:8.2f}" for v in conf[i]))
        moved = [f"{labels[present[i]]} → {labels[present[j]]}" for i, j in enumerate(perm)
                 if i != j]
        if moved and score - ident >= FLAG_GAIN:
            flagged += 1
            say(f"  CHECK: reading {', '.join(moved)} agrees better with the other corpora "
                  f"(mean recall {ident:.2f} → {score:.2f})")
        elif moved:
            say(f"  ok: the best relabelling ({', '.join(moved)}) gains only "
                  f"{score - ident:.2f} (as given {ident:.2f})")
        else:
            say(f"  ok: the labels as given agree best (mean recall {ident:.2f})")
    say(f"{flagged} corpus(es) to check")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".txt").write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
