"""Test-time corpus normalisation: what a device's long-run running mean and variance would do
to members that never heard the corpus.

Why: a device that stays in one home hears one microphone, one room and one language for
months; a running mean/variance of its features converges to the statistics of what it hears.
Its limit, measured here without retraining, is each held-out corpus's windows normalised by
the statistics of all of that corpus's windows (no labels, no speaker ids) instead of the
training corpora's pooled statistics the members were trained with:

- ``global``: the statistics as trained (what ships);
- ``corpus``: mean and std of the held-out corpus's own windows;
- ``corpus mean``: its mean, the trained std (a running mean alone);
- ``half way``: the mean and log std half way from the trained ones to the corpus's.

Members of leave-one-corpus-out runs, soft vote per combination as ``loco_mix.py``, file =
mean of its windows; core-4 UAR per held-out corpus.

    python benchmarks/corpus_norm_loco.py --run stats=RUN_A --run cnn_lstm=RUN_B \\
        --combo stats --combo cnn_lstm+stats --out OUT
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loco_mix import Stats, member_window_probs
from benchmarks.report import corpus_table, save_report
from edge.frontend.windows import fit_normalization
from train.crosscorpus import core4_scores
from train.fit import file_probs
from train.runs import RunInfo


def half_way(trained: Stats, own: Stats) -> Stats:
    """Mean and log std half way between the trained statistics and the corpus's own."""
    return (trained[0] + own[0]) / 2.0, np.sqrt(trained[1] * own[1])


METHODS: dict[str, Callable[[str, np.ndarray, Stats], Stats] | None] = {
    "global": None,
    "corpus": lambda kind, x, st: fit_normalization(x),
    "corpus mean": lambda kind, x, st: (fit_normalization(x)[0], st[1]),
    "half way": lambda kind, x, st: half_way(st, fit_normalization(x)),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", required=True, metavar="NAME=RUN")
    ap.add_argument("--combo", action="append", required=True, metavar="NAME+NAME")
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.json")
    args = ap.parse_args()
    runs = dict(r.split("=", 1) for r in args.run)
    first = RunInfo.read(Path(next(iter(runs.values()))))
    labels = first.labels
    sets = [s for s in first.sets if s.startswith("loco-")]
    results: dict[str, dict[str, dict[str, float]]] = {}
    for s in sets:
        held = s.removeprefix("loco-")
        for method, statistics in METHODS.items():
            probs = {n: member_window_probs(Path(d) / s, "test", statistics)
                     for n, d in runs.items()}
            for combo in args.combo:
                members = [v for n in combo.split("+") for v in probs[n].values()]
                file, y = members[0][1], members[0][2]
                ids, fp = file_probs(np.mean([m[0] for m in members], axis=0), file)
                truth = {int(f): int(t) for f, t in zip(file, y, strict=True)}
                c4 = core4_scores(np.array([truth[int(i)] for i in ids]), fp, labels)
                results.setdefault(combo, {}).setdefault(method, {})[held] = \
                    c4.uar if c4 is not None else float("nan")
        print(held, {c: {m: round(r[m][held], 3) for m in r} for c, r in results.items()},
              flush=True)
    corpora = [s.removeprefix("loco-") for s in sets]
    lines = ["Leave-one-corpus-out members, each held-out corpus normalised at test time as "
             "named (no retraining); core-4 UAR % of the held-out corpus."]
    for combo, rows in results.items():
        lines += ["", f"### {combo}", "", corpus_table("normalisation", rows, corpora, "global")]
    save_report(args.out, "\n".join(lines), results)


if __name__ == "__main__":
    main()
