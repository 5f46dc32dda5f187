"""How much a weighted vote of member families could add, leave-one-corpus-out.

Why: the shipped vote weighs every member the same. Whether families (CNN-LSTM, convolutional,
cepstral statistics, spectral shape...) deserve different weights can be asked of the
validation speakers (one per training corpus, what a choice may look at) or, after the fact, of
the held-out corpora (which no honest protocol allows: an upper bound on what weighting can
buy). Every weight vector of a small grid is scored both ways; the runs' members give their
file probabilities once (``--cache`` keeps them for a rerun).

    python benchmarks/loco_weights.py --run cnn_lstm=RUN_A --run shape=RUN_B ... \\
        --grid 0,1,2 --out OUT
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loco_mix import member_window_probs
from benchmarks.report import save_report
from edge.metrics import score
from train.fit import file_labels, file_probs
from train.runs import RunInfo

SPLITS = ("val", "test")


def family_probs(set_dir: Path, split: str, cache: Path | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(file ids, [files, classes] mean of the run's members' file votes, file labels)."""
    path = cache / f"{set_dir.parent.name}-{set_dir.name}-{split}.npz" if cache else None
    if path is not None and path.is_file():
        with np.load(path) as z:
            return z["ids"], z["p"], z["y"]
    members = list(member_window_probs(set_dir, split).values())
    votes = [file_probs(p, f) for p, f, _ in members]
    _, f, y = members[0]
    out = votes[0][0], np.mean([fp for _, fp in votes], axis=0), file_labels(y, f)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, ids=out[0], p=out[1], y=out[2])
    return out


def weighted_uar(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], w: tuple[float, ...],
                 labels: list[str]) -> float:
    """UAR of the weighted vote of families (each a run's members' mean) on shared files."""
    ids, _, y = parts[0]
    for other in parts[1:]:
        if not np.array_equal(other[0], ids):
            raise SystemExit("the runs disagree on the files of a set")
    p = sum(wi * pi for wi, (_, pi, _) in zip(w, parts, strict=True))
    return score(y, np.asarray(p).argmax(1), labels).uar


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--run", action="append", required=True, metavar="NAME=RUN")
    ap.add_argument("--grid", default="0,1,2", help="weights tried for each family")
    ap.add_argument("--cache", type=Path, default=None, help="keep file probabilities here")
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.json")
    args = ap.parse_args()
    runs = dict(r.split("=", 1) for r in args.run)
    names = list(runs)
    first = RunInfo.read(Path(runs[names[0]]))
    sets = [s for s in first.sets if s.startswith("loco-")]
    corpora = [s.removeprefix("loco-") for s in sets]
    parts = {(s, sp): [family_probs(Path(runs[n]) / s, sp, args.cache) for n in names]
             for s in sets for sp in SPLITS}
    grid = [float(g) for g in args.grid.split(",")]
    rows = []
    for w in itertools.product(grid, repeat=len(names)):
        if sum(w) == 0:
            continue
        val = float(np.mean([weighted_uar(parts[(s, "val")], w, first.labels) for s in sets]))
        test = [weighted_uar(parts[(s, "test")], w, first.labels) for s in sets]
        rows.append({"weights": dict(zip(names, w, strict=True)), "val_uar": val,
                     "core4": dict(zip(corpora, test, strict=True)),
                     "mean": float(np.mean(test))})
    equal = next(r for r in rows if len(set(r["weights"].values())) == 1)
    by_val = max(rows, key=lambda r: r["val_uar"])
    after = max(rows, key=lambda r: r["mean"])
    lines = ["| weights (" + ", ".join(names) + ") | chosen by | validation UAR % | "
             + " | ".join(f"{c} core-4 %" for c in corpora) + " | mean % |",
             "|---|---|---|" + "---|" * (len(corpora) + 1)]
    for how, r in (("equal (each family its members' mean)", equal),
                   ("the validation speakers (honest)", by_val),
                   ("the held-out corpora, after the fact (an upper bound)", after)):
        lines.append(f"| {', '.join(f'{v:g}' for v in r['weights'].values())} | {how} | "
                     f"{100 * r['val_uar']:.1f} | "
                     + " | ".join(f"{100 * r['core4'][c]:.1f}" for c in corpora)
                     + f" | {100 * r['mean']:.1f} |")
    top = sorted(rows, key=lambda r: -r["mean"])[:20]  # the whole grid is rerun in a minute
    save_report(args.out, "\n".join(lines), {"equal": equal, "by_validation": by_val,
                                             "after_the_fact": after, "grid": grid,
                                             "votes": len(rows), "best_20_after_the_fact": top})


if __name__ == "__main__":
    main()
