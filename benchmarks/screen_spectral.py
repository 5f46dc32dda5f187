"""Leave-one-corpus-out screen of spectral-shape statistics beside the recipe's.

Why: the cross-corpus literature (eGeMAPS) finds spectral balance (slope, alpha ratio,
Hammarberg index) and spectral change carry emotion across languages and microphones better than
raw cepstra. The front end's ``shape`` base computes six such level-free descriptors per frame
(``edge.frontend.spectral.shape_from_logmel``); the screens' SVM (a minute per variant) asks
whether they move core-4 UAR on a corpus no model saw, beside or instead of the recipe's MFCCs.

    python benchmarks/screen_spectral.py --data ravdess:DIR --data nemo:DIR ... \\
        --cache CACHE --out train/results/multicorpus/screen-spectral
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.screen_corpora import load_frames, loco_row, screen_arguments, write_table
from benchmarks.screen_statistics import mean_std, rich
from edge.corpora import CORE_4

RECIPE = "mfcc+pitch+rms"
SHAPE = "shape+pitch"


def main() -> None:
    ap = screen_arguments(__doc__)
    args = ap.parse_args()
    labels_csv = ",".join(CORE_4)
    ds, rec, labels, cols = load_frames(args.data, labels_csv, RECIPE, args.cache)
    _, shape, _, _ = load_frames(args.data, labels_csv, SHAPE, args.cache)
    corpus, y = ds.corpus_of(), ds.y
    corpora = sorted(set(corpus))
    vectors: dict[str, Callable[[int], np.ndarray]] = {
        "mfcc+pitch+rms, mean/std (recipe)": lambda i: mean_std(rec[i]),
        "recipe + shape": lambda i: np.r_[mean_std(rec[i]), mean_std(shape[i][:, :6])],
        "shape+pitch, mean/std": lambda i: mean_std(shape[i]),
        "shape+pitch, rich": lambda i: rich(shape[i]),
    }
    results: dict[str, dict[str, float]] = {}
    for name, vector in vectors.items():
        x = np.stack([vector(i) for i in range(len(rec))])
        results[name] = loco_row(name, x, y, corpus, len(labels), cols)
    write_table("utterance statistics", results, corpora, args.out,
                ref="mfcc+pitch+rms, mean/std (recipe)")


if __name__ == "__main__":
    main()
