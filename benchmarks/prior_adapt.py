"""Unsupervised prior adaptation on a corpus no model heard: does it lift core-4 UAR?

Why: a device that lives with the same people could learn, without labels, which emotions its
ensemble over-calls there (the long-run mean of its outputs) and divide them out, as the
speaker prior of enrolment does for one person. If the cross-corpus errors were a bias
towards some classes (e.g. everything read as ``neutral``), this would remove much of it.
Scored from leave-one-corpus-out runs' members (the device's soft vote, file = mean of its
windows), per held-out corpus:

- ``corpus ÷ s``: divide every file's probabilities by the mean over all of the corpus's
  files, to the power s (an upper bound: it sees every file before deciding any);
- ``running ÷ s``: the same with the mean of the files decided so far (started from a uniform
  prior worth ``--prior-files`` files), in random orders (mean of ``--orders``).

    python benchmarks/prior_adapt.py --run RUN_A --run RUN_B \\
        --out train/results/multicorpus/screen-prior-adaptation
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loco_mix import member_window_probs
from benchmarks.report import by_setting, corpus_table, save_report
from edge.calibration import apply_prior, prior_divisor
from train.crosscorpus import core4_scores
from train.fit import file_labels, file_probs
from train.runs import RunInfo

STRENGTHS = (0.5, 1.0)


def running_divided(fp: np.ndarray, order: np.ndarray, strength: float,
                    prior_files: float) -> np.ndarray:
    """Each file divided by the mean of the files before it in ``order`` (causal)."""
    k = fp.shape[1]
    total, count = np.full(k, prior_files / k), prior_files
    out = np.empty_like(fp)
    for i in order:
        out[i] = apply_prior(fp[i:i + 1], prior_divisor(total / count, strength))[0]
        total = total + fp[i]
        count += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", required=True, type=Path,
                    help="a leave-one-corpus-out run (repeat: their members vote together)")
    ap.add_argument("--prior-files", type=float, default=20.0)
    ap.add_argument("--orders", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.json")
    args = ap.parse_args()
    first = RunInfo.read(args.run[0])
    labels = first.labels
    sets = [s for s in first.sets if s.startswith("loco-")
            and all((r / s / "set.json").is_file() for r in args.run)]
    rng = np.random.default_rng(args.seed)
    results: dict[str, dict[str, float]] = {}
    for s in sets:
        members = [v for r in args.run for v in member_window_probs(r / s, "test").values()]
        file, y = members[0][1], members[0][2]
        _, fp = file_probs(np.mean([m[0] for m in members], axis=0), file)
        t = file_labels(y, file)

        def uar(p: np.ndarray, t: np.ndarray = t) -> float:
            c4 = core4_scores(t, p, labels)
            return c4.uar if c4 is not None else float("nan")

        row = {"without": uar(fp)}
        for st in STRENGTHS:
            row[f"corpus ÷ {st:g}"] = uar(apply_prior(fp, prior_divisor(fp.mean(0), st)))
        for st in STRENGTHS:
            row[f"running ÷ {st:g}"] = float(np.mean([
                uar(running_divided(fp, rng.permutation(len(fp)), st, args.prior_files))
                for _ in range(args.orders)]))
        held = s.removeprefix("loco-")
        results[held] = row
        print(held, {k: round(v, 3) for k, v in row.items()}, flush=True)
    lines = [f"Runs: {', '.join(f'`{r.name}`' for r in args.run)} (soft vote of their members), "
             "leave-one-corpus-out; core-4 UAR % of each held-out corpus.", "",
             corpus_table("method", by_setting(results), list(results), ref="without")]
    save_report(args.out, "\n".join(lines), results)


if __name__ == "__main__":
    main()
