"""Screen member recipes fast on a cross-validation run's cached fold windows.

Trains one member per fold and seed on the fold's *clean* training windows (no waveform
augmentation, so ~30 s per fit on one core) and reports the validation actors' file-level UAR,
averaged over folds and seeds: a cheap, validation-only way to rank recipe changes before a full
run. Test-actor UAR is printed too, for the record, and must not be used to choose.

    python benchmarks/screen_members.py /work/runs/ravdess-full --name wide \
        --set 'conv_filters=[32,48,64]' --set 'lstm_units=[64]'
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edge.metrics import confusion_matrix, uar
from train.config import load_config, parse_override
from train.features import normalize
from train.fit import file_labels, file_probs, fit_member
from train.members import build_member


def _file_uar(probs: np.ndarray, y: np.ndarray, file: np.ndarray) -> float:
    return uar(confusion_matrix(file_labels(y, file), probs.argmax(1), probs.shape[1]))


def _windows(fold: Path, split: str, kind: str, norm: dict) -> tuple[np.ndarray, ...]:
    """Normalised windows of ``kind``; a composite kind the run did not cache (e.g.
    ``mfcc+logmel``) is joined from its cached parts, each normalised with its own statistics."""
    parts = [kind] if (fold / "data" / f"{split}-{kind}.npz").is_file() else kind.split("+")
    xs = []
    for part in parts:
        z = np.load(fold / "data" / f"{split}-{part}.npz")
        mean, std = (np.array(norm[part][k], np.float32) for k in ("mean", "std"))
        xs.append(normalize(z["X"], mean, std))
    return np.concatenate(xs, axis=-1), z["y"], z["file"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a cross-validation run folder (edge-ser train --out)")
    ap.add_argument("--name", default="screen")
    ap.add_argument("--feature", default="mfcc", help="feature kind cached in the run")
    ap.add_argument("--arch", default="cnn_lstm")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--folds", default="", help="e.g. 1,3 (default: every fold-K in the run)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", type=Path, default=None, help="append the summary line here")
    args = ap.parse_args()

    cfg = load_config(None)
    if args.overrides:
        cfg = cfg.replace(**dict(parse_override(o) for o in args.overrides))
    folds = ([args.run / f"fold-{k}" for k in args.folds.split(",")] if args.folds
             else sorted(args.run.glob("fold-*")))
    seeds = [int(s) for s in args.seeds.split(",")]
    member_val, member_test, ens_val, ens_test = [], [], [], []
    for fold in folds:
        norm = json.loads((fold / "set.json").read_text())["normalization"]
        data = {split: _windows(fold, split, args.feature, norm)
                for split in ("train", "val", "test")}
        x, y, _ = data["train"]
        n_classes = len(cfg.labels)
        probs: dict[str, list[np.ndarray]] = {"val": [], "test": []}
        shape = x.shape

        def build(shape: tuple[int, ...] = shape, n_classes: int = n_classes) -> object:
            return build_member(args.arch, shape[1], shape[2], n_classes, cfg)

        for seed in seeds:
            res = fit_member(build, x, y, data["val"], cfg, n_classes, seed,
                             Path(f"/tmp/screen-{args.name}"), f"s{seed}", log=lambda s: None)
            for split in probs:
                p = res.model.predict(data[split][0], batch_size=256, verbose=0)
                probs[split].append(file_probs(p, data[split][2])[1])
            member_val.append(res.best_val)
            member_test.append(_file_uar(probs["test"][-1], *data["test"][1:]))
            print(f"{fold.name} seed {seed}: val {res.best_val:.3f} (epoch {res.best_epoch}) "
                  f"test {member_test[-1]:.3f}", flush=True)
        ens_val.append(_file_uar(np.mean(probs["val"], 0), *data["val"][1:]))
        ens_test.append(_file_uar(np.mean(probs["test"], 0), *data["test"][1:]))
    line = (f"{args.name} {args.feature} {' '.join(args.overrides) or '(defaults)'}: "
            f"member val {np.mean(member_val):.3f} | seed-ensemble val {np.mean(ens_val):.3f} "
            f"|| not for choosing: member test {np.mean(member_test):.3f}, "
            f"seed-ensemble test {np.mean(ens_test):.3f}")
    print(line)
    if args.out:
        with args.out.open("a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
