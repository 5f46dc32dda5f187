"""Does the ``rbf`` member survive int8 on held-out corpora? Float fit against its .tflite.

Why: the SVM exported as a member lost ~5 points in int8 (``svm-member-probe.md``); split in
two, its statistics survived int8 (96 % window agreement) and its head did not (44 %). The rbf
member replaces the head (few k-means centres, clipped distances, a regularised logistic
regression). For each held-out corpus this fits it on the other corpora's windows
(benchmarks/screen_rbf.py's protocol), builds it with ``build_member("rbf")``, converts it with
convert's int8 path (300 representative training windows) and runs it on the device
interpreter (edge.interpreter.MemberModel) over every test window: file-level core-4 UAR of the
float fit and of int8, their window agreement and the model's size, for each ``--variant``
(rbf settings, e.g. ``rbf_c=10``: large C means large weights whose differences int8 loses).

    python benchmarks/rbf_member_probe.py --data ravdess:DIR ... --hold nemo \
        --variant rbf_c=1 --variant rbf_c=10 --out OUT
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import save_report
from benchmarks.screen_corpora import balanced_weights, load_frames, screen_arguments
from benchmarks.screen_member_gap import WINDOW
from benchmarks.screen_rbf import held_out_windows
from benchmarks.svm_member_probe import file_uar
from edge.corpora import CORE_4
from train.config import TrainConfig, from_mapping, parse_override

KIND = "shape+flatness+pitch"


def main() -> None:
    ap = screen_arguments(__doc__)
    ap.add_argument("--hold", action="append", required=True, help="held-out corpus (repeat)")
    ap.add_argument("--kind", default=KIND)
    ap.add_argument("--variant", action="append", default=None,
                    help="rbf settings KEY=VALUE[;KEY=VALUE] (repeat; default: the recipe's)")
    args = ap.parse_args()
    from convert.quantize import QuantizeOptions, fixed_batch, representative_sample, to_tflite
    from edge.interpreter import MemberModel
    from train.members import build_member
    from train.rbf import fit_rbf, set_rbf_weights

    base = TrainConfig()
    ds, frames, _, _ = load_frames(args.data, ",".join(CORE_4), args.kind, args.cache)
    corpus, y = ds.corpus_of(), np.asarray(ds.y)
    rows: dict[str, dict[str, float]] = {}
    for held in args.hold:
        h = held_out_windows(frames, y, corpus, held)
        for variant in args.variant or [""]:
            cfg = from_mapping(dict(parse_override(o) for o in variant.split(";") if o),
                               base=base)
            fit = fit_rbf(h.x, h.y, len(CORE_4), cfg, cfg.seed,
                          weights=balanced_weights(h.corpus, h.y, len(CORE_4)))
            ref = fit.probs(h.test)
            model = build_member("rbf", WINDOW, h.test.shape[2], len(CORE_4), cfg)
            set_rbf_weights(model, fit)
            blob = to_tflite(fixed_batch(model), representative_sample(h.x, 300, 0),
                             QuantizeOptions(mode="int8"))
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "m.tflite"
                path.write_bytes(blob)
                member = MemberModel(path)
                q = np.stack([member.predict(w) for w in h.test])
            key = f"{held} {variant or 'recipe'}"
            rows[key] = {"float_uar": file_uar(ref, h.owner, y),
                         "int8_uar": file_uar(q, h.owner, y),
                         "window_agreement": float((q.argmax(1) == ref.argmax(1)).mean()),
                         "max_prob_diff": float(np.abs(q - ref).max()),
                         "coef_abs_max": float(np.abs(fit.coef).max()),
                         "int8_bytes": float(len(blob))}
            print(key, {k: round(v, 4) for k, v in rows[key].items()}, flush=True)
    keys = list(next(iter(rows.values())))
    lines = [f"`rbf` member on `{args.kind}` (recipe: {base.rbf_spread}, {base.rbf_centres} "
             f"centres, C={base.rbf_c:g}): float fit against int8 .tflite on every window of "
             "the held-out corpus (file-level core-4 UAR).", "",
             "| held-out corpus, variant | " + " | ".join(keys) + " |",
             "|---|" + "---|" * len(keys)]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{r[k]:.4g}" for k in keys) + " |")
    save_report(args.out, "\n".join(lines), rows)


if __name__ == "__main__":
    main()
