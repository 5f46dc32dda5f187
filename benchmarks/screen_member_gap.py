"""Leave-one-corpus-out screen of why the shape members trail the screens' SVM on the same frames.

Why: on shape+pitch, the screens' SVM (utterance mean/std, RBF) scores 46.5 % core-4 UAR with
each corpus held out, the ``stats`` members on the same frames 42.3 %. They differ in four ways:
the statistic (mean/std against the member's mean/mean absolute deviation), what it is taken
over (the whole utterance against 3 s windows, voted per file), the classifier (RBF SVM
against a small MLP) and training (augmentation, speaker statistics). This screen changes one
at a time on the cached frames (minutes, not an hour), so the next member is built on the
difference that matters.

    python benchmarks/screen_member_gap.py --data ravdess:DIR --data nemo:DIR ... \\
        --cache CACHE --out train/results/multicorpus/screen-member-gap
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.screen_corpora import (
    balanced_weights,
    core4_uar,
    fit_svm,
    load_frames,
    screen_arguments,
    write_table,
)
from benchmarks.screen_statistics import mean_std
from edge.corpora import CORE_4

KIND = "shape+pitch"
WINDOW = 150          # frames: 3 s at the recipe's 20 ms hop
TRAIN_HOP = 50        # 1 s, as training windows
TEST_HOP = 25         # 0.5 s, as classify


def mean_mad(f: np.ndarray) -> np.ndarray:
    """The member's statistics: mean and half the mean absolute deviation (mean of relu(d))."""
    m = f.mean(0)
    return np.concatenate([m, np.maximum(f - m, 0.0).mean(0)])


def mean_var(f: np.ndarray) -> np.ndarray:
    """Mean and variance: a spread the int8 builtins compute (SUB, MUL, MEAN), no square root."""
    return np.concatenate([f.mean(0), f.var(0)])


def windows(f: np.ndarray, hop: int, fill: bool = False) -> list[np.ndarray]:
    """3 s windows over an utterance's speech frames; a shorter utterance is one shorter
    window, or with ``fill`` its frames repeated to a full one (as the device's speech fill)."""
    if len(f) <= WINDOW:
        return [np.resize(f, (WINDOW, f.shape[1])) if fill else f]
    return [f[s:s + WINDOW] for s in range(0, len(f) - WINDOW + 1, hop)]


Fit = Callable[[np.ndarray, np.ndarray, np.ndarray, int], Callable[[np.ndarray], np.ndarray]]


def svm(x: np.ndarray, y: np.ndarray, corpus: np.ndarray, n: int
        ) -> Callable[[np.ndarray], np.ndarray]:
    model = fit_svm(x, y, corpus, n)
    order = [model.classes.index(c) for c in range(n)]
    return lambda z: model.decide(z)[:, order]


def mlp(x: np.ndarray, y: np.ndarray, corpus: np.ndarray, n: int, epochs: int = 20,
        units: tuple[int, ...] = (128, 64), dropout: float = 0.3
        ) -> Callable[[np.ndarray], np.ndarray]:
    """The ``stats`` member's head (BN, 128, 64, dropout 0.3, l2 1e-4, Adam 2e-3 cosine, label
    smoothing 0.05), corpus- and class-balanced like training."""
    import tensorflow as tf
    import tf_keras as keras

    tf.random.set_seed(1)
    reg = keras.regularizers.l2(1e-4)
    inp = keras.Input(shape=(x.shape[1],))
    h = keras.layers.BatchNormalization()(inp)
    for u in units:
        h = keras.layers.Dense(u, activation="relu", kernel_regularizer=reg)(h)
        h = keras.layers.Dropout(dropout)(h)
    model = keras.Model(inp, keras.layers.Dense(n, activation="softmax")(h))
    return fit_keras(model, x, y, corpus, n, epochs)


def fit_keras(model: Any, x: np.ndarray, y: np.ndarray, corpus: np.ndarray, n: int,
              epochs: int) -> Callable[[np.ndarray], np.ndarray]:
    """Train a head as the members train (Adam 2e-3, cosine decay, label smoothing 0.05,
    batches of 64, corpus- and class-balanced) on standardised ``x``; its predictor."""
    import tf_keras as keras

    mu, sd = x.mean(0), x.std(0) + 1e-9
    steps = epochs * int(np.ceil(len(x) / 64))
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)),
                  keras.losses.CategoricalCrossentropy(label_smoothing=0.05))
    model.fit((x - mu) / sd, np.eye(n)[y], sample_weight=balanced_weights(corpus, y, n),
              batch_size=64, epochs=epochs, verbose=0, shuffle=True)
    return lambda z: model.predict((z - mu) / sd, batch_size=1024, verbose=0)


def rbf(x: np.ndarray, y: np.ndarray, corpus: np.ndarray, n: int, epochs: int = 20,
        centres: int = 256) -> Callable[[np.ndarray], np.ndarray]:
    """A Gaussian-kernel head trained by gradient descent: exp(-gamma |x - c|^2) to ``centres``
    training points (learnable), then softmax; only FULLY_CONNECTED, MUL and EXP on a device."""
    import tensorflow as tf
    import tf_keras as keras

    tf.random.set_seed(1)
    rng = np.random.default_rng(1)
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    c = z[rng.choice(len(z), size=min(centres, len(z)), replace=False)]
    gamma = 1.0 / z.shape[1]  # sklearn's "scale" on standardised inputs
    inp = keras.Input(shape=(z.shape[1],))
    sq = keras.layers.Multiply()([inp, inp])
    norm = keras.layers.Dense(len(c), use_bias=False, trainable=False,
                              kernel_initializer="ones")(sq)           # |x|^2, K copies
    cross = keras.layers.Dense(len(c), kernel_initializer=keras.initializers.Constant(2 * c.T),
                               bias_initializer=keras.initializers.Constant(-(c ** 2).sum(1)))(inp)
    d = keras.layers.Subtract()([cross, norm])                          # -|x - c|^2
    k = keras.layers.Activation("exponential")(keras.layers.Rescaling(gamma)(d))
    h = keras.layers.Dropout(0.3)(k)
    out = keras.layers.Dense(n, activation="softmax",
                             kernel_regularizer=keras.regularizers.l2(1e-4))(h)
    return fit_keras(keras.Model(inp, out), x, y, corpus, n, epochs)


def loco(name: str, frames: list[np.ndarray], y: np.ndarray, corpus: np.ndarray, n: int,
         cols: list[int], stat: Callable[[np.ndarray], np.ndarray], windowed: bool,
         fit: Fit) -> dict[str, float]:
    """Core-4 UAR per held-out corpus; windowed rows train on windows and decide each file by
    the mean of its windows' outputs, as ``classify`` soft-votes."""
    corpora = sorted(set(corpus))
    row: dict[str, float] = {}
    for held in corpora:
        tr = np.flatnonzero(corpus != held)
        te = np.flatnonzero(corpus == held)
        if windowed:
            xs, ys, cs = [], [], []
            for i in tr:
                for w in windows(frames[i], TRAIN_HOP):
                    xs.append(stat(w))
                    ys.append(y[i])
                    cs.append(corpus[i])
            model = fit(np.stack(xs), np.array(ys), np.array(cs), n)
            dec = np.stack([model(np.stack([stat(w) for w in windows(frames[i], TEST_HOP)]))
                            .mean(0) for i in te])
        else:
            x = np.stack([stat(f) for f in frames])
            model = fit(x[tr], y[tr], corpus[tr], n)
            dec = model(x[te])
        row[held] = core4_uar(dec, y[te], list(range(n)), cols)
    row["mean"] = float(np.mean([row[c] for c in corpora]))
    print(name, {k: round(v, 3) for k, v in row.items()}, flush=True)
    return row


def main() -> None:
    ap = screen_arguments(__doc__)
    ap.add_argument("--only", default="", help="comma-separated row numbers to run (1-based)")
    ap.add_argument("--kind", default=KIND)
    args = ap.parse_args()
    ds, frames, labels, cols = load_frames(args.data, ",".join(CORE_4), args.kind, args.cache)
    corpus, y = ds.corpus_of(), ds.y
    rows: list[tuple[str, Callable[[np.ndarray], np.ndarray], bool, Fit]] = [
        ("utterance, mean/std, SVM (the screens')", mean_std, False, svm),
        ("utterance, mean/MAD, SVM", mean_mad, False, svm),
        ("3 s windows, mean/MAD, SVM", mean_mad, True, svm),
        ("utterance, mean/MAD, member MLP", mean_mad, False, mlp),
        ("3 s windows, mean/MAD, member MLP", mean_mad, True, mlp),
        ("utterance, mean/std, member MLP", mean_std, False, mlp),
        ("utterance, mean/variance, SVM", mean_var, False, svm),
        ("utterance, mean/variance, member MLP", mean_var, False, mlp),
        ("utterance, mean/std, MLP 64, dropout 0.5", mean_std, False,
         partial(mlp, units=(64,), dropout=0.5)),
        ("utterance, mean/std, member MLP, 8 epochs", mean_std, False, partial(mlp, epochs=8)),
        ("utterance, mean/std, MLP 256-128, dropout 0.5", mean_std, False,
         partial(mlp, units=(256, 128), dropout=0.5)),
        ("utterance, mean/std, Gaussian-kernel head (256 centres)", mean_std, False, rbf),
        ("utterance, mean/std, Gaussian-kernel head (1024 centres)", mean_std, False,
         partial(rbf, centres=1024)),
        ("3 s windows, mean/std, Gaussian-kernel head (256 centres)", mean_std, True, rbf),
        ("3 s windows, mean/std, SVM", mean_std, True, svm),
    ]
    keep = {int(k) for k in args.only.split(",") if k} or set(range(1, len(rows) + 1))
    results = {name: loco(name, frames, y, corpus, len(labels), cols, stat, windowed, fit)
               for k, (name, stat, windowed, fit) in enumerate(rows, 1) if k in keep}
    write_table("what differs", results, sorted(set(corpus)), args.out,
                ref=rows[0][0] if 1 in keep else None)


if __name__ == "__main__":
    main()
