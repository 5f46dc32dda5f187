"""Why do ``rbf`` members fail in a room, and which training copies make them hold?

Why: the clean rbf pair reaches furthest across corpora but loses 12.5 points in a generated
room and 5.7 at 20 dB SNR; trained on the recipe's augmented copies (R6) it holds better and
loses 2.8 points clean. Training a member leave-one-corpus-out takes 5-20 minutes; this probe
fits the member's own closed form (``train.rbf.fit_rbf``, float, NumPy) on the other corpora's
3 s windows (``screen_rbf``'s protocol) and scores every file of the held-out corpus clean and
changed as ``benchmarks/audio_conditions.py`` changes it (the device benchmarks' conditions),
in a minute per fit. Variants (``--variant``, repeatable):

- ``clean``: the training windows as they are (A's recipe);
- ``gamma:M``: the same with the kernel width's γ times M (is the kernel too narrow?);
- ``room``, ``noise``: plus one copy of every training file in a generated room (RT60
  0.2-0.7 s), or with noise at 10-30 dB SNR;
- ``room+noise``: plus both copies;
- ``room-half``: the room copy weighing half;
- ``room-cleancentres``: the room copy, standardisation and centres from the clean windows only.

Training copies use generators other than the held-out conditions'. Every figure is a held-out
corpus's, so a variant picked from this table is picked on the test corpora: a diagnosis, not
a choice (the shipping rules judge members trained by ``edge-ser train``).

    python benchmarks/rbf_augment_probe.py --data ravdess:DIR ... --hold urdu \\
        --variant clean --variant room+noise --out OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.audio_conditions import Transform, changed_table, condition
from benchmarks.report import save_report
from benchmarks.screen_corpora import (
    balanced_weights,
    frame_matrix,
    load_frames,
    screen_arguments,
)
from benchmarks.screen_member_gap import TEST_HOP, TRAIN_HOP
from benchmarks.screen_rbf import held_out_windows, normalised_windows
from benchmarks.svm_member_probe import file_uar
from edge.corpora import CORE_4
from train.config import TrainConfig, load_config
from train.datasets import Dataset

KIND = "shape+flatness+pitch"
CONDITIONS = ("reverb", "noise:20")
#: the training copies each variant adds
COPIES = {"clean": (), "room": ("room",), "noise": ("noise",), "room+noise": ("room", "noise"),
          "room-half": ("room",), "room-cleancentres": ("room",)}


def training_change(kind: str) -> Transform:
    """A training copy's change, from a generator the held-out conditions do not use."""
    from train import augment

    return augment.per_file(augment.reverb if kind == "room" else augment.noise_between(10, 30),
                            7, 20)


def changed_frames(ds: Dataset, kind: str, change: Transform) -> list[np.ndarray]:
    """Every file's speech frames of ``kind`` after ``change``, as ``load_frames`` takes them
    from clean files."""
    from joblib import Parallel, delayed

    from train.experiment import feature_settings
    from train.features import compute_file

    cfg = load_config()
    fe = cfg.frontend_config()
    settings = feature_settings(cfg, fe, [kind])

    def one(i: int) -> np.ndarray:
        return frame_matrix(compute_file(ds.utts[i], 0, settings, cfg.seed, change), fe, kind)

    return Parallel(n_jobs=2, batch_size=16)(delayed(one)(i) for i in range(len(ds.utts)))


def main() -> None:
    ap = screen_arguments(__doc__)
    ap.add_argument("--hold", action="append", required=True, help="held-out corpus (repeat)")
    ap.add_argument("--variant", action="append", required=True, help="see above (repeat)")
    ap.add_argument("--kind", default=KIND)
    args = ap.parse_args()
    for v in args.variant:
        if v not in COPIES and not v.startswith("gamma:"):
            raise SystemExit(f"error: unknown --variant {v!r} ({', '.join(COPIES)}, gamma:M)")
    from train.rbf import fit_rbf

    cfg = TrainConfig(rbf_spread="var", rbf_centres=1024)  # A's recipe
    ds, frames, _, _ = load_frames(args.data, ",".join(CORE_4), args.kind, args.cache)
    corpus, y = ds.corpus_of(), np.asarray(ds.y)
    tests = {spec: changed_frames(ds, args.kind, condition(spec)) for spec in CONDITIONS}
    needed = sorted({c for v in args.variant for c in COPIES.get(v, ())})
    copies = {c: changed_frames(ds, args.kind, training_change(c)) for c in needed}
    rows: dict[str, dict[str, float]] = {}
    for held in args.hold:
        h = held_out_windows(frames, y, corpus, held)
        te = np.flatnonzero(corpus == held)
        scored = {"clean": (h.test, h.owner)}
        scored.update({s: normalised_windows(f, te, TEST_HOP, h.mu, h.sd)
                       for s, f in tests.items()})
        for v in args.variant:
            added = [normalised_windows(copies[c], h.files, TRAIN_HOP, h.mu, h.sd)
                     for c in COPIES.get(v, ())]
            x = np.concatenate([h.x, *(a[0] for a in added)])
            labels = np.concatenate([h.y, *(y[a[1]] for a in added)])
            weights = balanced_weights(np.concatenate([h.corpus, *(corpus[a[1]] for a in added)]),
                                       labels, len(CORE_4))
            if v == "room-half":
                weights[len(h.x):] *= 0.5
            fit = fit_rbf(x, labels, len(CORE_4), cfg, cfg.seed, weights,
                          centre_rows=np.arange(len(h.x)) if v == "room-cleancentres" else None,
                          gamma_scale=float(v.split(":")[1]) if v.startswith("gamma:") else 1.0)
            rows[f"{held} {v}"] = {s: file_uar(fit.probs(xt), ot, y)
                                   for s, (xt, ot) in scored.items()}
            print(held, v, {k: round(100 * r, 1) for k, r in rows[f"{held} {v}"].items()},
                  flush=True)
    means = {f"mean {v}": {s: float(np.mean([rows[f"{h} {v}"][s] for h in args.hold]))
                           for s in ("clean", *CONDITIONS)} for v in args.variant}
    lines = [f"`rbf` fit (A's recipe: `{args.kind}`, var, 1024 centres; float) on the other "
             "corpora's 3 s windows plus each variant's training copies; file-level core-4 "
             "UAR % of the held-out corpus, clean and changed (in brackets: against clean). "
             "Picked from this table, a variant is picked on the test corpora.", "",
             *changed_table("held-out corpus, variant", {**rows, **means}, list(CONDITIONS),
                            mean=False)]
    save_report(args.out, "\n".join(lines), {"rows": rows, "means": means})


if __name__ == "__main__":
    main()
