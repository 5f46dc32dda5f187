"""The shipped vote plus the screens' SVM as one more voter, leave-one-corpus-out.

Why: on utterance statistics of ``shape+flatness+pitch`` the screens' RBF SVM (50.0 % core-4
UAR with each corpus held out) beats every ensemble of window members measured (at most
48.1 %). Before a member over the whole utterance is built (the device would pool a speech
segment's statistics, which no manifest can say yet), this measures what it would add: the
SVM, fitted on the training corpora of each set and sigmoid-calibrated, votes beside the runs'
members with the weight of ``--weight`` members, file by file.

    python benchmarks/mix_svm.py --data ravdess:DIR ... --cache CACHE \\
        --run cnn_lstm=RUN_A ... --probs PROBS --out OUT
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loco_weights import family_probs
from benchmarks.report import save_report
from edge.corpora import CORE_4
from edge.metrics import score
from train.runs import RunInfo, SetInfo
from train.teacher import SvmHead, load_statistics


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--data", action="append", required=True, help="FORMAT:PATH, as the runs")
    ap.add_argument("--cache", type=Path, required=True, help="the training feature cache")
    ap.add_argument("--kind", default="shape+flatness+pitch")
    ap.add_argument("--run", action="append", required=True, metavar="NAME=RUN")
    ap.add_argument("--probs", type=Path, default=None, help="loco_weights' probability cache")
    ap.add_argument("--weight", default="1,2,4", help="the SVM's weight, in members")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    runs = dict(r.split("=", 1) for r in args.run)
    ds, x = load_statistics(args.data, args.kind, args.cache, labels=CORE_4)
    corpus, y = ds.corpus_of(), np.asarray(ds.y)
    first = RunInfo.read(Path(next(iter(runs.values()))))
    if list(first.labels) != list(CORE_4):
        raise SystemExit(f"the runs' labels {first.labels} are not the core four")
    weights = [float(w) for w in args.weight.split(",")]
    rows: dict[str, dict[str, float]] = {"members": {}, "SVM alone": {}}
    rows.update({f"members + SVM as {w:g} member(s)": {} for w in weights})
    corpora = []
    for s in (s for s in first.sets if s.startswith("loco-")):
        held = s.removeprefix("loco-")
        corpora.append(held)
        votes, n_members = [], 0
        for d in runs.values():
            ids, p, fy = family_probs(Path(d) / s, "test", args.probs)
            k = len(SetInfo.read(Path(d) / s).members)
            votes.append(k * p)
            n_members += k
        if not np.array_equal(fy, y[ids]) or set(corpus[ids]) != {held}:
            raise SystemExit(f"{s}: the runs' file ids are not this dataset's files")
        members = np.sum(votes, axis=0) / n_members
        train = corpus != held
        svm = SvmHead().fit(x[train], y[train], corpus[train]).predict_proba(x[ids])
        for name, p in (("members", members), ("SVM alone", svm)):
            rows[name][held] = score(fy, p.argmax(1), list(CORE_4)).uar
        for w in weights:
            mixed = (n_members * members + w * svm) / (n_members + w)
            rows[f"members + SVM as {w:g} member(s)"][held] = score(
                fy, mixed.argmax(1), list(CORE_4)).uar
        print(held, {k: round(v[held], 3) for k, v in rows.items()}, flush=True)
    lines = ["| vote | " + " | ".join(f"{c} core-4 %" for c in corpora) + " | mean % |",
             "|---|" + "---|" * (len(corpora) + 1)]
    for name, r in rows.items():
        r["mean"] = float(np.mean([r[c] for c in corpora]))
        lines.append(f"| {name} | " + " | ".join(f"{100 * r[c]:.1f}" for c in corpora)
                     + f" | {100 * r['mean']:.1f} |")
    save_report(args.out, "\n".join(lines), rows)


if __name__ == "__main__":
    main()
