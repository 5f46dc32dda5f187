"""Hyperparameter search (optuna TPE), scored ONLY on validation actors.

Each trial trains one member per fold with the trial's hyperparameters and is scored by the
mean validation-actor UAR; the folds' test actors are removed from the plan before anything
is trained, so the search cannot see them (the models are later scored on actors never used
for any choice). Trials go to ``<out>/search.json``; the best overrides are printed as
``--set`` options.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from train.config import TrainConfig
from train.runs import write_json

#: name -> (kind, low, high) or (choices,)
SPACE: dict[str, tuple[Any, ...]] = {
    "learning_rate": ("log", 3e-4, 5e-3),
    "dropout": ("float", 0.1, 0.5),
    "lstm_units": ("choice", [16, 32, 48, 64]),
    "conv_kernel": ("choice", [3, 5, 7]),
    "mixup_alpha": ("float", 0.0, 0.4),
    "label_smoothing": ("float", 0.0, 0.15),
    "specaug_time_width": ("int", 0, 40),
    "specaug_freq_width": ("int", 0, 8),
    "window_cmn": ("choice", [True, False]),
}


def _suggest(trial: Any, name: str, spec: tuple[Any, ...]) -> Any:
    kind = spec[0]
    if kind == "log":
        return trial.suggest_float(name, spec[1], spec[2], log=True)
    if kind == "float":
        return trial.suggest_float(name, spec[1], spec[2])
    if kind == "int":
        return trial.suggest_int(name, spec[1], spec[2])
    return trial.suggest_categorical(name, spec[1])


def search(cfg: TrainConfig, opts: Any, n_trials: int,
           space: dict[str, tuple[Any, ...]] | None = None) -> dict[str, Any]:
    import optuna

    from train.augment import copies_for_split
    from train.experiment import SetTrainer, feature_settings, plan_sets, prepare
    from train.features import extract

    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    space = space or SPACE
    base = cfg.replace(members=cfg.members[:1], compare_archs=[], baselines=[])
    prep = prepare(opts.data, opts.fmt, base, log)
    if getattr(opts, "quiet", False):
        from convert.tfenv import quiet_tf

        quiet_tf()
    sets, split = plan_sets(prep, base, opts.folds_file, opts.only_folds, final=False)
    sets = [dataclasses.replace(s, test=[], test_actors=[]) for s in sets]  # never look at test
    settings = feature_settings(base, opts.frontend, [base.member_specs[0].feature])
    feats = extract(prep.utts, lambda i: copies_for_split("train", settings.augment),
                    settings, base.seed, opts.cache, opts.jobs, log)
    trials: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        params = {k: _suggest(trial, k, v) for k, v in space.items()}
        if "lstm_units" in params:
            params["lstm_units"] = [params["lstm_units"]]
        tcfg = base.replace(**params)
        trainer = SetTrainer(tcfg, opts, prep, feats, log)
        uars = []
        t0 = time.time()
        try:
            for sp in sets:
                with tempfile.TemporaryDirectory() as tmp:
                    _, _, set_json = trainer.run(sp, Path(tmp))
                uars.append(set_json["members"][0]["val_uar"])
        finally:
            trainer.close()
        value = float(np.mean(uars))
        trials.append({"number": trial.number, "params": params, "val_uar": value,
                       "per_fold": uars, "seconds": round(time.time() - t0, 1)})
        write_json(opts.out / "search.json", {"split": split, "scored_on": "validation actors",
                                             "trials": trials})
        log(f"trial {trial.number}: val UAR {100 * value:.1f} {params}")
        return value

    opts.out.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=cfg.seed))
    study.optimize(objective, n_trials=n_trials)
    best = study.best_trial
    overrides = " ".join(f"--set {k}={v}" for k, v in best.params.items())
    log(f"best val UAR {100 * best.value:.1f}: {overrides}")
    result = {"split": split, "scored_on": "validation actors", "best": best.params,
              "best_val_uar": best.value, "overrides": overrides, "trials": trials}
    write_json(opts.out / "search.json", result)
    return result
