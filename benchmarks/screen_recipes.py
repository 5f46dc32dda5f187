"""Fast screening of member recipes on validation actors: dump features once, fit per fold.

``dump`` runs the training feature pipeline (``train.features.compute_file``: preprocessing,
augmented copies, the edge front end) on every file of a corpus once and keeps the base
features in a folder. ``fit`` then trains one member per fold with ``train.members`` and
``train.fit`` (the code ``edge-ser train`` runs) on the fold's training actors and scores it on
the fold's validation actors after every epoch; the test actors are never loaded. ``ensemble``
soft-votes saved members' validation probabilities. Every figure in
``train/results/ravdess-20-5fold/tuning.md`` was made with these three commands.

    python benchmarks/screen_recipes.py dump --data ../shared/data/ravdess-16k --out DUMP \\
        --copies 8 --set frontend.hop_length=320
    python benchmarks/screen_recipes.py fit --dump DUMP --name NAME --copies 8 \\
        --set members=cnn_lstm:mfcc+pitch+rms:1 --set lr_schedule=cosine ...
    python benchmarks/screen_recipes.py ensemble --results RESULTS NAME1 NAME2 ...

The figure of merit is the file-level UAR of the validation actors at the last epoch and the
mean over the last five epochs (less noisy), averaged over the folds. With ``--es-actors``
the member trains on 12 actors and stops early on 2 more (1 man, 1 woman) of the fold's
training actors, and is then scored on the validation actors: early stopping's own test.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.metrics import confusion_matrix, uar
from train.config import TrainConfig, load_config

REPO = Path(__file__).resolve().parents[1]


def dump(args: argparse.Namespace) -> None:
    from joblib import Parallel, delayed

    from train.experiment import feature_settings, prepare
    from train.features import compute_file

    cfg = load_config(args.config, args.overrides)
    prep = prepare(args.data, "auto", cfg)
    fe = cfg.frontend_config()
    settings = feature_settings(cfg, fe, ["mfcc+logmel+chroma+rms+zcr+pitch"])
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    meta = {"frontend": fe.to_dict(), "overrides": args.overrides,
            "files": [{"path": str(u.path), "speaker": u.speaker, "gender": u.gender,
                       "label": int(prep.y[i])} for i, u in enumerate(prep.utts)]}
    (out / "meta.json").write_text(json.dumps(meta))

    def one(i: int, c: int) -> dict[str, np.ndarray]:
        ff = compute_file(prep.utts[i], c, settings, cfg.seed)
        return {**{k: v.astype(np.float16 if v.shape[1] > 1 else np.float32)
                   for k, v in ff.bases.items()}, "speech": ff.speech}

    for c in range(args.copies + 1):
        path = out / f"copy{c}.pkl"
        if path.exists():
            continue
        t0 = time.time()
        feats = Parallel(n_jobs=args.jobs, batch_size=16)(
            delayed(one)(i, c) for i in range(len(prep.utts)))
        with path.open("wb") as fh:
            pickle.dump(feats, fh)
        print(f"copy {c}: {time.time() - t0:.0f} s", flush=True)


class Dump:
    def __init__(self, root: Path, copies: int) -> None:
        from edge.frontend.config import FrontendConfig

        meta = json.loads((root / "meta.json").read_text())
        self.fe = FrontendConfig.from_dict(meta["frontend"])
        self.files = meta["files"]
        self.speaker = np.array([f["speaker"] for f in self.files])
        self.label = np.array([f["label"] for f in self.files])
        self.copies = {}
        for c in range(copies + 1):
            with (root / f"copy{c}.pkl").open("rb") as fh:
                self.copies[c] = pickle.load(fh)

    def windows(self, files: np.ndarray, copies: range | list[int], kind: str, frames: int,
                hop: int, min_speech: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from train.features import FileFeatures, file_windows

        xs, ys, fs = [], [], []
        for i in files:
            for c in copies:
                d = self.copies[c][i]
                bases = {k: v.astype(np.float32) for k, v in d.items() if k != "speech"}
                w = file_windows(FileFeatures(bases, d["speech"], 0), self.fe, kind, frames, hop,
                                 min_speech)
                xs.append(w)
                ys.append(np.full(len(w), self.label[i]))
                fs.append(np.full(len(w), i))
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(fs)


def _file_uar(p: np.ndarray, y: np.ndarray, f: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    from edge.metrics import mean_by_group

    ids, fp = mean_by_group(p, f)
    _, first = np.unique(f, return_index=True)
    return uar(confusion_matrix(y[first], fp.argmax(1), fp.shape[1])), fp, ids


def fit(args: argparse.Namespace) -> None:
    from edge.frontend.windows import window_frames
    from train.features import fit_normalization, normalize
    from train.fit import fit_member
    from train.folds import FoldPlan
    from train.members import build_member

    cfg: TrainConfig = load_config(args.config, args.overrides)
    (spec,) = cfg.member_specs[:1]
    data = Dump(args.dump, cfg.aug_copies)
    fe = data.fe
    frames = window_frames(fe, cfg.window_seconds)
    train_hop = max(1, round(cfg.train_hop_seconds * fe.sr / fe.hop_length))
    hop = max(1, round(cfg.hop_seconds * fe.sr / fe.hop_length))
    plan = FoldPlan.load(args.folds_file)
    gender = {f["speaker"]: f["gender"] for f in data.files}
    results: dict[str, Any] = {"name": args.name, "overrides": args.overrides,
                               "scored_on": "validation actors", "folds": {}}
    out = args.results / f"{args.name}.json"
    args.results.mkdir(parents=True, exist_ok=True)
    wanted = [f for f in plan.folds if not args.folds or f.name in args.folds.split(",")]
    for fold in wanted:
        train_actors, es = list(fold.train), None
        if args.es_actors:
            es = [next((s for s in train_actors if gender[s] == g), None)
                  for g in ("male", "female")]
            if None in es or len(train_actors) < 4:
                raise SystemExit(f"{fold.name}: --es-actors needs a man and a woman to spare")
            train_actors = [s for s in train_actors if s not in es]
        tr = np.flatnonzero(np.isin(data.speaker, train_actors))
        va = np.flatnonzero(np.isin(data.speaker, list(fold.val)))
        clean, _, _ = data.windows(tr, [0], spec.feature, frames, train_hop,
                                   cfg.min_speech_fraction)
        mean, std = fit_normalization(clean)
        x, y, _ = data.windows(tr, range(cfg.aug_copies + 1), spec.feature, frames, train_hop,
                               cfg.min_speech_fraction)
        x = normalize(x, mean, std)
        xv, yv, fv = data.windows(va, [0], spec.feature, frames, hop, cfg.min_speech_fraction)
        xv = normalize(xv, mean, std)
        stop = None
        fit_cfg = cfg
        if es is not None:
            xe, ye, fe_ = data.windows(np.flatnonzero(np.isin(data.speaker, es)), [0],
                                       spec.feature, frames, hop, cfg.min_speech_fraction)
            stop = (normalize(xe, mean, std), ye, fe_)
            fit_cfg = cfg.replace(early_stopping=True, train_on_val_actors=False)
        n_classes, dim = len(cfg.labels), x.shape[-1]

        def build(dim: int = dim, n_classes: int = n_classes) -> Any:
            return build_member(spec.arch, frames, dim, n_classes, cfg)

        with tempfile.TemporaryDirectory() as tmp:
            res = fit_member(build, x, y, stop if stop is not None else (xv, yv, fv), fit_cfg,
                             n_classes, spec.seed, Path(tmp), "m", log=lambda s: None)
        u, fp, ids = _file_uar(res.model.predict(xv, batch_size=512, verbose=0), yv, fv)
        curve = res.history.get("val_uar", []) if stop is None else []
        results["folds"][fold.name] = {
            "val_actors": list(fold.val), "es_actors": es, "val_uar": u, "curve": curve,
            "last5": float(np.mean(curve[-5:])) if curve else u, "best_epoch": res.best_epoch,
            "params": int(res.model.count_params()), "seconds": round(res.seconds, 1),
            "val_probs": fp.tolist(), "val_files": ids.tolist()}
        print(f"{args.name} {fold.name}: val UAR {u:.3f} (last-5 mean "
              f"{results['folds'][fold.name]['last5']:.3f}, epoch {res.best_epoch}, "
              f"{res.seconds:.0f} s)", flush=True)
        out.write_text(json.dumps(results))
    f = results["folds"].values()
    results["val_uar"] = float(np.mean([v["val_uar"] for v in f]))
    results["last5"] = float(np.mean([v["last5"] for v in f]))
    out.write_text(json.dumps(results))
    print(f"{args.name}: validation-actor UAR {results['val_uar']:.3f}, last-5 mean "
          f"{results['last5']:.3f} over {len(results['folds'])} folds")


def ensemble(args: argparse.Namespace) -> None:
    runs = [json.loads((args.results / f"{n}.json").read_text()) for n in args.names]
    labels = None
    per_fold = []
    for fold in runs[0]["folds"]:
        members = [r["folds"][fold] for r in runs if fold in r["folds"]]
        files = np.array(members[0]["val_files"])
        if any(m["val_files"] != members[0]["val_files"] for m in members):
            raise SystemExit(f"{fold}: the results were scored on different files")
        if labels is None:
            meta = json.loads((args.dump / "meta.json").read_text())
            labels = np.array([f["label"] for f in meta["files"]])
        p = np.mean([np.array(m["val_probs"]) for m in members], axis=0)
        per_fold.append(uar(confusion_matrix(labels[files], p.argmax(1), p.shape[1])))
    print(f"soft vote of {' + '.join(args.names)}: validation-actor UAR "
          f"{np.mean(per_fold):.3f} (folds {' '.join(f'{u:.3f}' for u in per_fold)})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--data", type=Path, required=True)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--copies", type=int, default=8)
    d.add_argument("--jobs", type=int, default=2)
    f = sub.add_parser("fit")
    f.add_argument("--dump", type=Path, required=True)
    f.add_argument("--name", required=True)
    f.add_argument("--folds", default="", help="e.g. fold-1,fold-3 (default: all)")
    f.add_argument("--folds-file", type=Path, default=REPO / "train" / "folds" / "ravdess-20.json")
    f.add_argument("--es-actors", action="store_true")
    e = sub.add_parser("ensemble")
    e.add_argument("--dump", type=Path, required=True)
    e.add_argument("names", nargs="+")
    for p in (d, f, e):
        p.add_argument("--config", type=Path, default=None)
        p.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE")
        p.add_argument("--results", type=Path, default=Path("screen-results"))
    args = ap.parse_args()
    {"dump": dump, "fit": fit, "ensemble": ensemble}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
