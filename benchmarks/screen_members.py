"""Screen a training recipe on validation actors only (never on test actors).

Runs the real training code (``train.experiment.SetTrainer``: the same features, cache,
augmentation, members and fitting as ``edge-ser train``) on every fold with the fold's test
actors removed before anything is computed, trains on the fold's training actors and scores
the members and their soft vote on the fold's validation actors. This is how every recipe
change in ``train/results/ravdess-20-5fold/tuning.md`` was chosen.

    python benchmarks/screen_members.py --data ../shared/data/ravdess-16k --cache CACHE \\
        --name wide --set 'conv_filters=[48,64,96]' --jobs 2 --out screen.jsonl

With ``early_stopping = false`` (a fixed schedule) the validation actors are held out here
and scored at the last epoch; in a real run they would join the training actors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.augment import copies_for_split
from train.config import load_config
from train.experiment import (
    RunOptions,
    SetTrainer,
    feature_settings,
    plan_sets,
    prepare,
)
from train.features import extract


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--name", default="screen")
    ap.add_argument("--folds", default="", help="e.g. fold-1,fold-3 (default: every fold)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="append the result (JSON line)")
    args = ap.parse_args()

    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    cfg = load_config(args.config, args.overrides)
    cfg = cfg.replace(compare_archs=[], baselines=[])
    opts = RunOptions(data=args.data, out=Path(tempfile.mkdtemp(prefix="screen-")),
                      frontend=cfg.frontend_config(), cache=args.cache, jobs=args.jobs,
                      skip_compare=True,
                      only_folds=tuple(f for f in args.folds.split(",") if f))
    t0 = time.time()
    prep = prepare(opts.data, opts.fmt, cfg, log)
    sets, split = plan_sets(prep, cfg, opts.folds_file, opts.only_folds, final=False)
    sets = [dataclasses.replace(s, test=[], test_actors=[]) for s in sets]  # never look at test
    settings = feature_settings(cfg, opts.frontend, sorted({m.feature for m in cfg.member_specs}))
    train_files = {i for s in sets for i in s.train}
    feats = extract(prep.utts, lambda i: copies_for_split("train", settings.augment)
                    if i in train_files else [0], settings, cfg.seed, opts.cache, opts.jobs, log)
    trainer = SetTrainer(cfg, opts, prep, feats, log)
    per_fold = {}
    try:
        for sp in sets:
            with tempfile.TemporaryDirectory() as tmp:
                res, _, _ = trainer.run(sp, Path(tmp))
            per_fold[sp.name] = res.extra["val"]
            v = res.extra["val"]
            log(f"{args.name} {sp.name} (val {', '.join(v['actors'])}): ensemble "
                f"{100 * v['ensemble_soft_uar']:.1f}, members "
                + " ".join(f"{100 * u:.1f}" for u in v["members_uar"].values()))
    finally:
        trainer.close()
    ens = [v["ensemble_soft_uar"] for v in per_fold.values()]
    mem = [u for v in per_fold.values() for u in v["members_uar"].values()]
    result = {"name": args.name, "overrides": args.overrides, "split": split,
              "scored_on": "validation actors", "val_ensemble_soft_uar": float(np.mean(ens)),
              "val_member_uar": float(np.mean(mem)), "folds": per_fold,
              "seconds": round(time.time() - t0)}
    print(f"{args.name}: validation-actor UAR, soft vote of {len(cfg.members)} members "
          f"{100 * np.mean(ens):.1f} (folds {' '.join(f'{100 * u:.1f}' for u in ens)}); "
          f"mean member {100 * np.mean(mem):.1f}; {result['seconds']} s")
    if args.out:
        with args.out.open("a") as fh:
            fh.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
