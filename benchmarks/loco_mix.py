"""Ensembles drawn from several runs with the same sets, scored without retraining.

Why: two leave-one-corpus-out runs that differ only in their members (e.g. CNN-LSTM and
window-statistics members) share every set's speakers and windows, so the ensemble of both is
their members' soft vote: each member's file probabilities (mean over the file's windows, as the
device does) averaged over members. This scores that vote on the sets' validation speakers
(what a choice may look at) and on their held-out test files (what is reported), per corpus.

    python benchmarks/loco_mix.py --run cnn_lstm=RUN_A --run stats=RUN_B \
        --combo cnn_lstm --combo stats --combo cnn_lstm+stats --out OUT

``--probs DIR`` keeps each run's member probabilities (``DIR/NAME/SET-SPLIT.npz``: every
member's window probabilities, file ids and labels) and reads them instead of the models when
they are there: a later mix needs only the run's ``run.json`` (the committed results folder),
not its models and windows, which a new machine does not have.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import save_report
from convert.runs import load_windows
from convert.tfenv import import_tf
from edge.calibration import apply_temperature, fit_temperature
from edge.metrics import score
from train.crosscorpus import per_corpus
from train.features import normalize
from train.fit import file_probs
from train.runs import RunInfo, SetInfo

Stats = tuple[np.ndarray, np.ndarray]


def member_window_probs(set_dir: Path, split: str,
                        statistics: Callable[[str, np.ndarray, Stats], Stats] | None = None
                        ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per member: ([windows, classes], the windows' file ids, their labels) on ``split``.
    ``statistics(kind, raw windows, the set's statistics)`` may replace the set's normalisation
    statistics (a test-time normalisation); by default they are used as trained."""
    _, keras = import_tf()
    info = SetInfo.read(set_dir)
    out = {}
    for m in info.members:
        path = set_dir / "data" / f"{split}-{m.feature}.npz"
        if not path.is_file():
            continue
        w = load_windows(path)
        model = keras.models.load_model(set_dir / m.file, compile=False)
        stats = info.normalization[m.feature]
        if statistics is not None:
            stats = statistics(m.feature, w.X, stats)
        p = model.predict(normalize(w.X, *stats), batch_size=256, verbose=0)
        out[m.name] = (p, w.file, w.y)
    return out


def stored_probs(run_dir: Path, name: str, set_name: str, split: str, store: Path | None
                 ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``member_window_probs`` of a set, through the ``--probs`` store when there is one."""
    path = store / name / f"{set_name}-{split}.npz" if store else None
    if path is not None and path.is_file():
        with np.load(path) as z:
            members = sorted({k.rsplit("/", 1)[0] for k in z.files})
            return {m: (z[f"{m}/p"], z[f"{m}/file"], z[f"{m}/y"]) for m in members}
    out = member_window_probs(run_dir / set_name, split)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"{m}/{k}": a for m, v in out.items()
                  for k, a in zip(("p", "file", "y"), v, strict=True)}
        np.savez_compressed(path, **arrays)
    return out


def has_set(run_dir: Path, name: str, set_name: str, store: Path | None) -> bool:
    return (run_dir / set_name / "set.json").is_file() or (
        store is not None and (store / name / f"{set_name}-test.npz").is_file())


def file_vote(members: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
              ) -> tuple[np.ndarray, np.ndarray]:
    """Members on different windows: each member's mean over a file's windows, then the mean
    over members, on the files every member has windows of (equal to the window-level vote
    when the windows are the same)."""
    votes = [dict(zip(*file_probs(p, f), strict=True)) for p, f, _ in members]
    ids = np.array(sorted(set.intersection(*(set(v) for v in votes))))
    return ids, np.stack([np.mean([v[i] for v in votes], axis=0) for i in ids])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", required=True, metavar="NAME=RUN[:M1,M2]",
                    help="a run, optionally only some of its members (by name prefix)")
    ap.add_argument("--combo", action="append", required=True, metavar="NAME+NAME")
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.json")
    ap.add_argument("--probs", type=Path, default=None, metavar="DIR",
                    help="keep and reuse the runs' member probabilities here")
    args = ap.parse_args()
    runs, only = {}, {}
    for r in args.run:
        name, _, rest = r.partition("=")
        runs[name], _, picked = rest.partition(":")
        only[name] = tuple(picked.split(",")) if picked else ()
    infos = {n: RunInfo.read(Path(d)) for n, d in runs.items()}
    first = next(iter(infos.values()))
    labels = first.labels
    sets = [s for s in first.sets if s != "final"
            and all(has_set(Path(runs[n]), n, s, args.probs) for n in runs)]
    results: dict[str, dict] = {c: {"val_uar": [], "per_corpus": {}} for c in args.combo}
    for s in sets:
        probs = {n: {sp: {m: v for m, v in stored_probs(Path(runs[n]), n, s, sp,
                                                         args.probs).items()
                          if not only[n] or m.startswith(only[n])} for sp in ("val", "test")}
                 for n in runs}
        truth: dict[str, dict[int, int]] = {}  # file → label, from the windows just read
        for sp in ("val", "test"):
            _, file, y = next(iter(next(iter(probs.values()))[sp].values()))
            truth[sp] = {int(f): int(t) for f, t in zip(file, y, strict=True)}
        held = s.removeprefix("loco-")
        for combo in args.combo:
            parts = combo.split("+")
            temperature = 1.0
            for sp in ("val", "test"):  # val first: its temperature calibrates test
                members = [v for n in parts for v in probs[n][sp].values()]
                file = members[0][1]
                win: np.ndarray | None = None
                if all(np.array_equal(m[1], file) for m in members):
                    win = np.mean([m[0] for m in members], axis=0)  # the device's soft vote
                    ids, fp = file_probs(win, file)
                else:  # runs with other windows (a study): file by file, no temperature
                    ids, fp = file_vote(members)
                if sp == "val":
                    if win is not None:
                        wt = np.array([truth["val"][int(i)] for i in file])
                        temperature = fit_temperature(win, wt, min_temperature=1.0)
                    t = np.array([truth["val"][int(i)] for i in ids])
                    results[combo]["val_uar"].append(score(t, fp.argmax(1), labels).uar)
                    results[combo].setdefault("temperature", []).append(temperature)
                else:
                    fp_cal = fp if win is None else file_probs(
                        apply_temperature(win, temperature), file)[1]
                    pc = per_corpus(ids, fp, fp_cal, truth["test"],
                                    [held] * (int(ids.max()) + 1), labels)
                    results[combo]["per_corpus"][held] = pc[held]
        print(s, {c: round(r["per_corpus"][held]["core4_uar"], 3) for c, r in results.items()},
              flush=True)
    corpora = [s.removeprefix("loco-") for s in sets]
    lines = ["| ensemble | validation speakers UAR % (mean over sets) | "
             + " | ".join(f"{c} core-4 %" for c in corpora) + " | mean core-4 % | "
             "ECE % raw → calibrated (mean) | temperatures |",
             "|---|---|" + "---|" * (len(corpora) + 3)]
    for combo, r in results.items():
        c4 = [r["per_corpus"][c]["core4_uar"] for c in corpora]
        r["val_uar_mean"] = float(np.mean(r["val_uar"]))
        r["core4_mean"] = float(np.mean(c4))
        ece = np.mean([r["per_corpus"][c]["ece"] for c in corpora])
        ece_cal = np.mean([r["per_corpus"][c]["ece_calibrated"] for c in corpora])
        temps = ", ".join(f"{t:.2f}" for t in r["temperature"])
        lines.append(f"| {combo} | {100 * r['val_uar_mean']:.1f} | "
                     + " | ".join(f"{100 * v:.1f}" for v in c4) + f" | {100 * np.mean(c4):.1f} | "
                     f"{100 * ece:.1f} → {100 * ece_cal:.1f} | {temps} |")
    save_report(args.out, "\n".join(lines), results)


if __name__ == "__main__":
    main()
