"""Can the screens' SVM be a device member? A probe of its exported, int8 form.

Why: on 3 s windows of ``shape+flatness+pitch`` (mean and std, voted per file) the SVM scores
49.1 % core-4 UAR with each corpus held out, above every ensemble of trained members
(``screen-member-gap.md``). A member must be a TFLite int8 model fed the window the device
builds. This fits one-vs-rest RBF SVMs (each a linear function of kernel values, so the
export is exact) on the training corpora's windows, writes them as a tf_keras model (window
mean and std, an RBF kernel, a linear layer), converts it to full int8 (the kernel's
distances from two dense layers, or directly as sums of squared differences) and to int8
weights with int16 activations, and reports, for each held-out corpus: file-level UAR of
sklearn, of the float model and of each integer model, their window agreement with sklearn,
and the sizes. Nothing here trains a
shipped member.

    python benchmarks/svm_member_probe.py --data ravdess:DIR ... --cache CACHE \\
        --hold nemo --hold urdu --out OUT
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import save_report
from benchmarks.screen_corpora import balanced_weights, load_frames, screen_arguments
from benchmarks.screen_member_gap import TEST_HOP, TRAIN_HOP, WINDOW, windows
from benchmarks.screen_statistics import mean_std
from edge.corpora import CORE_4
from edge.metrics import score
from train.fit import file_probs

KIND = "shape+flatness+pitch"


def fit_ovr(x: np.ndarray, y: np.ndarray, corpus: np.ndarray, n: int) -> list[Any]:
    """One RBF SVM per class against the rest, balanced as the screens' SVM (gamma "scale" on
    the standardised statistics, C = 1)."""
    from sklearn.svm import SVC

    w = balanced_weights(corpus, y, n)
    gamma = 1.0 / (x.shape[1] * x.var())  # sklearn's "scale", as a number the export reads
    return [SVC(C=1.0, kernel="rbf", gamma=gamma).fit(x, (y == c).astype(int), sample_weight=w)
            for c in range(n)]


def export(svms: list[Any], mu: np.ndarray, sd: np.ndarray, frames: int, dim: int,
           direct: bool = False) -> Any:
    """A tf_keras model [1, frames, dim] → [1, n] of the SVMs' decision values. The kernel's
    squared distances are 2 z·sv - |z|^2 - |sv|^2 (two dense layers), or with ``direct`` the
    sum of squares of z - sv per support vector (no cancellation of large terms)."""
    import tensorflow as tf
    import tf_keras as keras

    L = keras.layers
    # a training window that supports several classes' SVMs is one kernel column
    sv, inverse = np.unique(np.concatenate([s.support_vectors_ for s in svms]), axis=0,
                            return_inverse=True)
    coef = np.zeros((len(sv), len(svms)))
    start = 0
    for c, s in enumerate(svms):
        k = len(s.support_vectors_)
        np.add.at(coef[:, c], inverse.reshape(-1)[start:start + k], s.dual_coef_[0])
        start += k
    gamma = float(svms[0].gamma)
    inp = keras.Input((frames, dim), batch_size=1)
    mean = L.GlobalAveragePooling1D(keepdims=True)(inp)
    dev = L.Subtract()([inp, mean])
    var = L.GlobalAveragePooling1D()(L.Multiply()([dev, dev]))
    std = tf.math.sqrt(var + 1e-6)
    stats = L.Concatenate()([L.Flatten()(mean), std])
    z = L.Dense(2 * dim, name="z",
                kernel_initializer=keras.initializers.Constant(np.diag(1.0 / sd)),
                bias_initializer=keras.initializers.Constant(-mu / sd))(stats)
    if direct:
        diff = L.RepeatVector(len(sv))(z) - tf.constant(sv[None], dtype=tf.float32)
        dist = tf.reduce_sum(L.Multiply()([diff, diff]), axis=-1)
        kern = L.Activation("exponential")(L.Rescaling(-gamma)(dist))
    else:
        cross = L.Dense(len(sv), kernel_initializer=keras.initializers.Constant(2 * gamma * sv.T),
                        bias_initializer=keras.initializers.Constant(-gamma * (sv ** 2).sum(1)))(z)
        norm = L.Dense(len(sv), use_bias=False,
                       kernel_initializer=keras.initializers.Constant(
                           np.full((2 * dim, len(sv)), gamma)))(L.Multiply()([z, z]))
        kern = L.Activation("exponential")(L.Subtract()([cross, norm]))
    out = L.Dense(len(svms), kernel_initializer=keras.initializers.Constant(coef),
                  bias_initializer=keras.initializers.Constant(
                      [float(s.intercept_[0]) for s in svms]))(kern)
    return keras.Model(inp, out)


def quantised(model: Any, rep: np.ndarray, int16: bool = False) -> bytes:
    """Full-integer TFLite: int8 weights and activations, or (``int16``) int8 weights with
    int16 activations, TFLite's 16x8 mode, for sums over thousands of kernel values (its SQRT
    has no 16x8 kernel: that one op stays float)."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([r[None].astype(np.float32)] for r in rep)
    ops = tf.lite.OpsSet
    conv.target_spec.supported_ops = (
        [ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, ops.TFLITE_BUILTINS]
        if int16 else [ops.TFLITE_BUILTINS_INT8])
    return conv.convert()


def split_at_z(model: Any) -> tuple[Any, Any]:
    """The export as two models: window → standardised statistics z, and z → decisions (the
    head), so that each can be quantised alone."""
    import tf_keras as keras

    zl = model.get_layer("z")
    zin = keras.Input(zl.output.shape[1:], batch_size=1)
    made = {id(zl.output): zin}
    for layer in model.layers[model.layers.index(zl) + 1:]:
        ins = layer.input if isinstance(layer.input, list) else [layer.input]
        if all(id(t) in made for t in ins):
            args = [made[id(t)] for t in ins]
            made[id(layer.output)] = layer(args if len(args) > 1 else args[0])
    return keras.Model(model.input, zl.output), keras.Model(zin, made[id(model.output)])


def run_tflite(blob: bytes, windows: np.ndarray) -> np.ndarray:
    """Decision values of every window (float input and output; the graph inside is integer)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=blob)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    out = []
    for w in windows:
        it.set_tensor(i["index"], w[None].astype(np.float32))
        it.invoke()
        out.append(it.get_tensor(o["index"])[0].copy())
    return np.array(out)


def file_uar(dec: np.ndarray, owner: np.ndarray, y: np.ndarray) -> float:
    """Each file decided by its windows' mean decision values."""
    files, votes = file_probs(dec, owner)
    return score(y[files], votes.argmax(1), list(CORE_4)).uar


def main() -> None:
    ap = screen_arguments(__doc__)
    ap.add_argument("--hold", action="append", required=True, help="held-out corpus (repeat)")
    ap.add_argument("--max-train", type=int, default=8000, help="training windows sampled")
    ap.add_argument("--ranges", action="store_true",
                    help="also: int8 agreement on training windows, and with ranges calibrated "
                         "on held-out windows (is clipping the loss?)")
    ap.add_argument("--stages", action="store_true",
                    help="also: the statistics and the head quantised apart (which one loses?)")
    args = ap.parse_args()
    ds, frames, labels, _ = load_frames(args.data, ",".join(CORE_4), KIND, args.cache)
    corpus, y = ds.corpus_of(), np.asarray(ds.y)
    rng = np.random.default_rng(0)
    rows: dict[str, dict[str, float]] = {}
    for held in args.hold:
        tr, te = np.flatnonzero(corpus != held), np.flatnonzero(corpus == held)
        # the member's input: frames normalised by the training corpora's global statistics
        cat = np.concatenate([frames[i] for i in tr])
        fmu, fsd = cat.mean(0), cat.std(0) + 1e-6
        wins, wy, wc = [], [], []
        for i in tr:
            for w in windows(frames[i], TRAIN_HOP, fill=True):
                wins.append((w - fmu) / fsd)
                wy.append(y[i])
                wc.append(corpus[i])
        pick = rng.choice(len(wins), size=min(args.max_train, len(wins)), replace=False)
        xw = np.stack([mean_std(wins[k]) for k in pick])
        mu, sd = xw.mean(0), xw.std(0) + 1e-9
        svms = fit_ovr((xw - mu) / sd, np.array(wy)[pick], np.array(wc)[pick], len(labels))
        test = [(i, (w - fmu) / fsd) for i in te for w in windows(frames[i], TEST_HOP, fill=True)]
        tw = np.stack([w for _, w in test]).astype(np.float32)
        owner = np.array([i for i, _ in test])
        ref = np.stack([s.decision_function((np.stack([mean_std(w) for w in tw]) - mu) / sd)
                        for s in svms], axis=1)
        model = export(svms, mu, sd, WINDOW, tw.shape[2])
        flt = model.predict(tw, batch_size=1, verbose=0)
        rep = np.stack([wins[k] for k in pick[:300]])
        direct = export(svms, mu, sd, WINDOW, tw.shape[2], direct=True)
        int8, int16 = quantised(model, rep), quantised(model, rep, int16=True)
        int8_direct = quantised(direct, rep)
        q8, q16, qd = run_tflite(int8, tw), run_tflite(int16, tw), run_tflite(int8_direct, tw)
        rows[held] = {
            "kernel_columns": float(model.layers[-1].get_weights()[0].shape[0]),
            "sklearn_uar": file_uar(ref, owner, y),
            "float_uar": file_uar(flt, owner, y),
            "float_max_abs_diff": float(np.abs(flt - ref).max()),
            "int8_uar": file_uar(q8, owner, y),
            "int8_agreement": float((q8.argmax(1) == ref.argmax(1)).mean()),
            "int16x8_uar (sqrt float)": file_uar(q16, owner, y),
            "int16x8_agreement": float((q16.argmax(1) == ref.argmax(1)).mean()),
            "int8_direct_uar": file_uar(qd, owner, y),
            "int8_direct_agreement": float((qd.argmax(1) == ref.argmax(1)).mean()),
            "int8_bytes": float(len(int8)),
            "int8_direct_bytes": float(len(int8_direct)),
        }
        if args.ranges:
            # is it the calibration ranges? the same int8 model on training windows, and one
            # calibrated on held-out windows (an oracle: a study, never a device recipe)
            seen = np.stack([wins[k] for k in pick[:1000]]).astype(np.float32)
            seen_ref = np.stack([s.decision_function(
                (np.stack([mean_std(w) for w in seen]) - mu) / sd) for s in svms], axis=1)
            oracle = run_tflite(quantised(model, tw[rng.choice(len(tw), 300, replace=False)]),
                                tw)
            rows[held].update({
                "int8_agreement_training_windows": float(
                    (run_tflite(int8, seen).argmax(1) == seen_ref.argmax(1)).mean()),
                "int8_heldout_calibrated_uar": file_uar(oracle, owner, y),
                "int8_heldout_calibrated_agreement": float(
                    (oracle.argmax(1) == ref.argmax(1)).mean()),
            })
        if args.stages:
            stats, head = split_at_z(model)
            zf = stats.predict(tw, batch_size=64, verbose=0)
            zq = run_tflite(quantised(stats, rep), tw)
            qhead = quantised(head, stats.predict(rep, batch_size=64, verbose=0))
            for name, dec in (("int8 statistics, float head", head.predict(zq, verbose=0)),
                              ("float statistics, int8 head", run_tflite(qhead, zf))):
                rows[held][f"{name}: uar"] = file_uar(dec, owner, y)
                rows[held][f"{name}: agreement"] = float((dec.argmax(1) == ref.argmax(1)).mean())
        print(held, {k: round(v, 4) for k, v in rows[held].items()}, flush=True)
    keys = list(next(iter(rows.values())))
    lines = ["| held-out corpus | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for held, r in rows.items():
        lines.append(f"| {held} | " + " | ".join(f"{r[k]:.4g}" for k in keys) + " |")
    save_report(args.out, "\n".join(lines), rows)


if __name__ == "__main__":
    main()
