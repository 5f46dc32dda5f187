"""One training run: prepare → features → per set: normalise, fit members, score → reports.

This is what ``edge-ser train`` runs. Each fold trains a member set on its training actors,
stops on its validation actors, and is scored on its test actors only, file by file as the
device does. Everything a set needs later (models, normalisation, windows) is written into
the run folder described in :mod:`train.runs`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.calibration import apply_temperature, expected_calibration_error, fit_temperature
from edge.corpora import Corpus, Utterance
from edge.errors import ConfigError
from edge.frontend.config import FrontendConfig
from edge.manifest import WindowSpec, window_frames
from edge.metrics import score
from train import folds as folds_mod
from train.adversarial import domain_ids
from train.augment import AugmentConfig, copies_for_split
from train.config import MemberSpec, TrainConfig, sub_config
from train.crosscorpus import per_corpus
from train.datasets import CorpusSource, Dataset, files_by_speaker, load_sources, sample_weights
from train.distill import mix_targets, teacher_matrix
from train.ensemble import uar_weights, vote_files, vote_windows
from train.evaluate import FoldResult, aggregate, score_file_probs, score_windows
from train.features import (
    FeatureSettings,
    FileFeatures,
    build_windows,
    corpus_statistics,
    extract,
    fit_normalization,
    normalize,
    normalize_by,
    utterance_stats,
)
from train.fit import file_probs
from train.parallel import FitData, FitJob, Fitter
from train.preprocess import PreprocessConfig
from train.runs import (
    SET_FILE,
    RunInfo,
    SetInfo,
    finished,
    previous_run,
    read_json,
    save_windows,
    write_json,
)
from train.speakernorm import SpeakerNorm

Log = Callable[[str], None]


def _log(s: str) -> None:
    print(s, file=sys.stderr, flush=True)


def member_name(k: int, spec: MemberSpec) -> str:
    """``m1-mfcc``, ``m2-cnn-logmel``: position, architecture (unless the CNN-LSTM), feature."""
    arch = "" if spec.arch == "cnn_lstm" else f"{spec.arch}-"
    return f"m{k + 1}-{arch}{spec.feature}"


def _load(model_path: str) -> Any:
    """A saved member (the parent reads what a worker fitted), loaded once per set."""
    import tf_keras as keras

    return keras.models.load_model(model_path, compile=False)


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    return model.predict(x, batch_size=256, verbose=0)


@dataclass
class SetPlan:
    """Which files (corpus indices) train, validate and test one member set."""

    name: str
    train: list[int]
    val: list[int]
    test: list[int]
    train_actors: list[str] = field(default_factory=list)
    val_actors: list[str] = field(default_factory=list)
    test_actors: list[str] = field(default_factory=list)

    def with_val_in_train(self) -> SetPlan:
        """The validation actors moved into training (``train_on_val_actors = true``)."""
        return dataclasses.replace(self, train=self.train + self.val, val=[],
                                   train_actors=self.train_actors + self.val_actors,
                                   val_actors=[])


@dataclass
class Prepared:
    """The parsed corpora of a run; the rest of a run reads them through these views."""

    dataset: Dataset

    @property
    def corpus(self) -> Corpus:  # the first corpus (its format names committed folds)
        return self.dataset.corpora[0]

    @property
    def utts(self) -> list[Utterance]:
        return self.dataset.utts

    @property
    def y(self) -> np.ndarray:
        return self.dataset.y

    @property
    def labels(self) -> list[str]:
        return self.dataset.labels

    @property
    def label_notes(self) -> dict[str, int]:
        return self.dataset.label_notes

    @property
    def corpus_names(self) -> list[str]:
        return self.dataset.names

    @property
    def multi(self) -> bool:
        return len(self.dataset.names) > 1


def prepare(data: Path | Sequence[CorpusSource], fmt: str, cfg: TrainConfig,
            log: Log = _log) -> Prepared:
    """Parse the corpora and map their labels onto ``cfg.labels`` (dropping what has no place)."""
    sources = [CorpusSource(fmt, Path(data))] if isinstance(data, (str, Path)) else list(data)
    ds = load_sources(sources, cfg.labels, log)
    if len(sources) > 1:
        for line in ds.summary():
            log(f"  {line}")
    return Prepared(ds)


def plan_sets(prep: Prepared, cfg: TrainConfig, folds_file: Path | None, only: Sequence[str],
              final: bool) -> tuple[list[SetPlan], str]:
    """The member sets to train and the split's name for every report."""
    utts = prep.utts
    sets: list[SetPlan] = []
    if cfg.split == "loco":
        if not prep.multi:
            raise ConfigError("split = loco needs at least two corpora (--data FORMAT:PATH ...)")
        split, sets = _loco_sets(prep, cfg)
    elif cfg.split == "speaker" and prep.multi and not folds_file:
        split, sets = _multi_corpus_folds(prep, cfg)
    elif cfg.split == "random":
        split = f"speaker-DEPENDENT (random file-level {cfg.n_folds}-fold)"
        splits = folds_mod.random_file_folds(len(utts), cfg.n_folds, cfg.seed)
        for i, (tr, va, te) in enumerate(splits):
            sets.append(SetPlan(f"fold-{i + 1}", tr, va, te))
    else:
        genders = {u.speaker: u.gender for u in utts}
        if folds_file:
            plan = folds_mod.FoldPlan.load(folds_file)
        else:
            plan = folds_mod.plan_for(genders, prep.corpus.format, cfg.n_folds, cfg.n_val_actors)
        unknown = {s for f in plan.folds for s in (*f.train, *f.val, *f.test)} ^ set(genders)
        if unknown:
            raise ConfigError(f"the folds do not match the corpus speakers: {sorted(unknown)[:5]}")
        split = f"speaker-independent ({len(plan.folds)} folds of actors, {len(genders)} actors)"
        by_spk = files_by_speaker([u.speaker for u in utts])
        for f in plan.folds:
            sets.append(SetPlan(f.name, [i for s in f.train for i in by_spk[s]],
                                [i for s in f.val for i in by_spk[s]],
                                [i for s in f.test for i in by_spk[s]],
                                list(f.train), list(f.val), list(f.test)))
    if only:
        # `--only final` trains just the final set (e.g. after a cross-validation run)
        final = final or "final" in only
        wanted = set(only) - {"final"}
        missing = wanted - {s.name for s in sets}
        if missing:
            raise ConfigError(f"unknown fold(s): {', '.join(sorted(missing))}")
        sets = [s for s in sets if s.name in wanted]
    if final and cfg.corpus_norm:
        raise ConfigError("corpus_norm is a study setting (the device has no running "
                          "normaliser to match it): train with --no-final")
    if final:
        speakers = sorted({u.speaker for u in utts})
        sets.append(SetPlan("final", list(range(len(utts))), [], [], speakers, [], []))
    return sets, split


def _loco_sets(prep: Prepared, cfg: TrainConfig) -> tuple[str, list[SetPlan]]:
    """Leave one corpus out: train on the others, test on all of the held-out corpus.

    Validation speakers (``n_val_actors`` per training corpus, alternating genders) come from
    the training corpora, so nothing about the held-out corpus steers training."""
    by_spk = files_by_speaker([u.speaker for u in prep.utts])
    names = prep.corpus_names
    sets = []
    for held in names:
        test_spk = sorted({u.speaker for u in prep.utts if u.corpus == held})
        val_spk: list[str] = []
        for other in names:
            if other == held:
                continue
            genders = {u.speaker: u.gender for u in prep.utts if u.corpus == other}
            val_spk += folds_mod._pick_val(sorted(genders, key=folds_mod._key), list(genders),
                                           genders, min(cfg.n_val_actors, len(genders) - 1))
        train_spk = sorted(s for s in by_spk if s not in set(test_spk) | set(val_spk))
        sets.append(SetPlan(f"loco-{held}", [i for s in train_spk for i in by_spk[s]],
                            [i for s in val_spk for i in by_spk[s]],
                            [i for s in test_spk for i in by_spk[s]],
                            train_spk, sorted(val_spk), test_spk))
    split = (f"leave-one-corpus-out ({len(names)} corpora: {', '.join(names)}; each tested "
             "once by members that never heard it)")
    return split, sets


def _multi_corpus_folds(prep: Prepared, cfg: TrainConfig) -> tuple[str, list[SetPlan]]:
    """Speaker-independent folds inside each corpus; fold k tests chunk k of every corpus."""
    by_spk = files_by_speaker([u.speaker for u in prep.utts])
    plans = []
    for name in prep.corpus_names:
        genders = {u.speaker: u.gender for u in prep.utts if u.corpus == name}
        plans.append(folds_mod.speaker_folds(genders, cfg.n_folds, cfg.n_val_actors, name))
    sets = []
    for k in range(cfg.n_folds):
        tr = [s for p in plans for s in p.folds[k].train]
        va = [s for p in plans for s in p.folds[k].val]
        te = [s for p in plans for s in p.folds[k].test]
        sets.append(SetPlan(f"fold-{k + 1}", [i for s in tr for i in by_spk[s]],
                            [i for s in va for i in by_spk[s]], [i for s in te for i in by_spk[s]],
                            tr, va, te))
    n_spk = len(by_spk)
    split = (f"speaker-independent within each corpus ({cfg.n_folds} folds of speakers; "
             f"{len(prep.corpus_names)} corpora, {n_spk} speakers)")
    return split, sets


@dataclass
class RunOptions:
    data: Path | Sequence[CorpusSource]
    out: Path
    fmt: str = "auto"
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    cache: Path | None = None
    folds_file: Path | None = None
    only_folds: tuple[str, ...] = ()
    final: bool = False
    strategy: str = "default"
    jobs: int = 1
    command: str = ""
    skip_compare: bool = False
    force: bool = False           # replace a run already in ``out`` (else it is continued)
    quiet: bool = False           # hold TensorFlow's start-up notices back (convert.tfenv)


def feature_settings(cfg: TrainConfig, fe: FrontendConfig, kinds: Sequence[str]) -> FeatureSettings:
    from edge.frontend import base_kinds_of

    return FeatureSettings(
        frontend=fe,
        bases=tuple(base_kinds_of(list(kinds))),
        preprocess=sub_config(PreprocessConfig, cfg, sr=fe.sr),
        augment=augment_config(cfg),
        window_seconds=cfg.window_seconds,
    )


def train_window(cfg: TrainConfig, fe: FrontendConfig) -> WindowSpec:
    """The window the members learn on (and the manifest gives the device)."""
    return WindowSpec(cfg.window_seconds, cfg.hop_seconds, window_frames(fe, cfg.window_seconds),
                      cfg.window_fill)


def augment_config(cfg: TrainConfig) -> AugmentConfig:
    return sub_config(AugmentConfig, cfg, "aug_", seed=cfg.seed)


class SetTrainer:
    """Trains and scores one member set; holds what its windows need."""

    def __init__(self, cfg: TrainConfig, opts: RunOptions, prep: Prepared,
                 feats: dict[tuple[int, int], FileFeatures], log: Log) -> None:
        self.cfg, self.opts, self.prep, self.feats, self.log = cfg, opts, prep, feats, log
        fe = opts.frontend
        self.fe = fe
        self.window = train_window(cfg, fe)
        self.hop = max(1, round(cfg.hop_seconds * fe.sr / fe.hop_length))
        self.train_hop = max(1, round(cfg.train_hop_seconds * fe.sr / fe.hop_length))
        self.aug = augment_config(cfg)
        self.fitter = Fitter(cfg, opts.jobs, opts.strategy, log)
        self.corpus_of = prep.dataset.corpus_of()
        self.speaker_of = prep.dataset.speaker_of()

    def close(self) -> None:
        self.fitter.close()

    def windows(self, files: Sequence[int], kind: str, split: str, augmented: bool = False,
                hop: int | None = None) -> Any:
        copies = copies_for_split(split, self.aug) if augmented else [0]
        return build_windows(self.feats, files, copies, self.prep.y, self.fe, kind,
                             self.window.frames, hop or self.hop, self.cfg.min_speech_fraction,
                             fill=self.window.fill)

    def run(self, sp: SetPlan, out_dir: Path, epochs: int | None = None
            ) -> tuple[FoldResult, dict[str, dict[str, list[float]]], dict[str, Any]]:
        cfg, labels = self.cfg, self.prep.labels
        n_classes = len(labels)
        specs = cfg.member_specs
        kinds = sorted({m.feature for m in specs})
        truth = {int(i): int(self.prep.y[i]) for i in sp.test}
        norm: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        data: dict[str, dict[str, Any]] = {}
        t_set = time.time()
        by_corpus: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}

        def scale(w: Any, kind: str) -> np.ndarray:
            """Windows normalised as the run's setting says (global or per corpus)."""
            if not cfg.corpus_norm:
                return normalize(w.x, *norm[kind])
            return normalize_by(w.x, self.corpus_of[w.file], by_corpus[kind])

        for kind in kinds:
            clean = self.windows(sp.train, kind, "train", hop=self.train_hop)
            norm[kind] = fit_normalization(clean.x)
            val = self.windows(sp.val, kind, "val")
            test = self.windows(sp.test, kind, "test")
            if cfg.corpus_norm:  # training corpora from their training windows, others their own
                by_corpus[kind] = corpus_statistics(clean, self.corpus_of)
                for c, st in corpus_statistics(test, self.corpus_of).items():
                    by_corpus[kind].setdefault(c, st)
            train_aug = self.windows(sp.train, kind, "train", augmented=True, hop=self.train_hop)
            for split_name, w in (("train", clean), ("val", val), ("test", test)):
                if len(w) or split_name == "train":
                    save_windows(out_dir / "data" / f"{split_name}-{kind}.npz", w.x, w.y, w.file)
            data[kind] = {"train": train_aug, "val": val, "test": test}
            self.log(f"[{sp.name}] {kind}: {len(train_aug)} training windows "
                     f"({len(clean)} clean), {len(val)} val, {len(test)} test")
        result = FoldResult(sp.name)
        histories: dict[str, dict[str, list[float]]] = {}
        scratch = out_dir / "fit-data"
        fit_data = {}
        teacher = None
        if cfg.teacher_weight > 0:  # a LOCO set distils a teacher that never heard its corpus
            held = sp.name.removeprefix("loco-") if sp.name.startswith("loco-") else None
            teacher = teacher_matrix(cfg.teacher_labels, [u.path for u in self.prep.utts],
                                     labels, held)
        spk = None
        if cfg.speaker_norm == "mixed":
            spk = SpeakerNorm.fit(self.feats, self.speaker_of,
                                  (sp.train, sp.val, sp.test), kinds, self.fe,
                                  cfg.speaker_norm_clips, cfg.seed)
        for kind in kinds:
            d = data[kind]
            tr = (scale(d["train"], kind), d["train"].y, d["train"].file)
            val = ((scale(d["val"], kind), d["val"].y, d["val"].file)
                   if len(d["val"]) else None)
            if spk is not None:  # every window twice: global and its speaker's statistics
                tr = (np.concatenate([tr[0], spk.normalize(d["train"], kind)]),
                      np.concatenate([tr[1], tr[1]]), np.concatenate([tr[2], tr[2]]))
                if val is not None:
                    val = (np.concatenate([val[0], spk.normalize(d["val"], kind)]),
                           np.concatenate([val[1], val[1]]), np.concatenate([val[2], val[2]]))
            weights = None
            if self.prep.multi:  # corpora (and classes inside each) weighted per the config
                weights = sample_weights(tr[1], self.corpus_of[tr[2]], n_classes,
                                         cfg.corpus_balance, cfg.class_weights)
            targets = (mix_targets(tr[1], tr[2], teacher, cfg.teacher_weight, labels)
                       if teacher is not None else None)
            domains = None
            if cfg.adversarial_weight > 0:  # the domain the adversary must not tell apart
                names = (self.corpus_of if cfg.adversarial_domain == "corpus"
                         else self.speaker_of)[tr[2]]
                domains = domain_ids(names)[0]
            fit_data[kind] = FitData.write(scratch / kind, tr, val, weights, targets, domains)
            del tr, targets, domains
            d["train"] = None  # the workers read the normalised copy on disk
        frames = self.window.frames
        names = [member_name(k, spec) for k, spec in enumerate(specs)]
        jobs = [FitJob(name, spec.arch, fit_data[spec.feature], spec.seed, str(out_dir), frames,
                       n_classes, cfg.bagging, epochs)
                for name, spec in zip(names, specs, strict=True)]
        compare = []
        if sp.test and not self.opts.skip_compare:
            first = specs[0]
            compare = [FitJob(f"compare-{arch}-{first.feature}", arch, fit_data[first.feature],
                              first.seed, str(out_dir / "compare"), frames, n_classes, False,
                              epochs)
                       for arch in cfg.compare_archs if arch != first.arch]
        try:
            fitted = self.fitter.run(jobs + compare)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        members_json, test_probs, val_uars = [], [], []
        enrolled_probs = []  # test windows normalised by their speaker's enrolment statistics
        test_file = None
        models = [_load(res.model_path) for res in fitted[:len(specs)]] if sp.test or sp.val \
            else []
        for k, (spec, res) in enumerate(zip(specs, fitted, strict=False)):
            histories[res.name] = res.history
            val_uars.append(res.best_val)
            members_json.append({"name": res.name, "feature": spec.feature,
                                 "file": f"{res.name}.h5", "weight": 1.0, "arch": spec.arch,
                                 "seed": spec.seed, "val_uar": res.best_val,
                                 "best_epoch": res.best_epoch, "params": res.params,
                                 "fit_seconds": round(res.seconds, 1)})
            if sp.test:
                te = data[spec.feature]["test"]
                p = _predict(models[k], scale(te, spec.feature))
                test_probs.append(p)
                if spk is not None:
                    enrolled_probs.append(_predict(models[k], spk.normalize(te, spec.feature)))
                test_file = te.file
                member_scores = score_windows(p, te.file, truth, labels)
                if k == 0:
                    result.scores["cnn_lstm" if spec.arch == "cnn_lstm" else spec.arch] = \
                        member_scores
                result.extra.setdefault("members", {})[res.name] = member_scores.to_dict()
        weights = uar_weights(val_uars)
        for mj, w in zip(members_json, weights, strict=True):
            mj["weight"] = round(w, 4)
        temperature = 1.0
        if sp.val:
            result.extra["val"] = self._val_scores(sp, specs, fitted, models, data, scale)
            temperature = result.extra["val"].pop("temperature")
        if sp.test and test_file is not None:
            for rule in ("hard", "soft", "weighted"):
                ids, fp = vote_files(test_probs, test_file, rule, weights)
                truth_arr = np.array([truth[int(i)] for i in ids])
                result.scores[f"ensemble_{rule}"] = score(truth_arr, fp.argmax(1), labels)
                if rule == cfg.voting:  # calibrated per window, averaged per file: the device
                    cal = apply_temperature(vote_windows(test_probs, rule, weights), temperature)
                    _, fp_cal = file_probs(cal, test_file)
                    result.extra["per_corpus"] = per_corpus(ids, fp, fp_cal, truth,
                                                            self.corpus_of, labels)
                    result.extra["temperature"] = temperature
            if spk is not None:
                result.extra["enrolment"] = self._enrolment_scores(
                    spk, test_probs, enrolled_probs, test_file, weights, truth)
            if not self.opts.skip_compare:
                te = data[specs[0].feature]["test"]
                for job, res in zip(compare, fitted[len(jobs):], strict=True):
                    histories[res.name] = res.history
                    p = _predict(_load(res.model_path), scale(te, specs[0].feature))
                    result.scores[job.arch] = score_windows(p, te.file, truth, labels)
                self._baselines(sp, specs[0].feature, result)
        set_json = {
            "labels": labels,
            "frontend": self.fe.to_dict(),
            "window": self.window.to_dict(),
            "voting": cfg.voting,
            "normalization": {k: {"mean": [float(v) for v in m], "std": [float(v) for v in s]}
                              for k, (m, s) in norm.items()},
            "members": members_json,
            "calibration": {"temperature": temperature,
                            "fitted_on": "validation speakers" if sp.val else "none"},
            "train_actors": sp.train_actors,
            "val_actors": sp.val_actors,
            "test_actors": sp.test_actors,
            **({"speaker_norm": {"mode": cfg.speaker_norm, "clips": cfg.speaker_norm_clips}}
               if spk is not None else {}),
        }
        SetInfo.from_dict(set_json, str(out_dir / SET_FILE)).write(out_dir)  # checked as read
        result.extra["seconds"] = round(time.time() - t_set, 1)
        if result.scores:
            self.log(f"[{sp.name}] " + ", ".join(f"{k} UAR {100 * s.uar:.1f}"
                                                 for k, s in result.scores.items())
                     + f" ({result.extra['seconds']:.0f} s)")
        return result, histories, set_json

    def _val_scores(self, sp: SetPlan, specs: Sequence[MemberSpec], fitted: Sequence[Any],
                    models: Sequence[Any], data: dict[str, dict[str, Any]],
                    scale: Callable[[Any, str], np.ndarray]) -> dict[str, Any]:
        """File-level UAR of each member and of their soft vote on the validation actors (for
        choosing recipes; with early stopping the members' figures are the chosen epochs')."""
        truth = {int(i): int(self.prep.y[i]) for i in sp.val}
        probs, file = [], None
        members = {}
        for spec, res, model in zip(specs, fitted, models, strict=False):
            va = data[spec.feature]["val"]
            probs.append(_predict(model, scale(va, spec.feature)))
            file = va.file
            members[res.name] = score_windows(probs[-1], file, truth, self.prep.labels).uar
        ids, fp = vote_files(probs, file, "soft")
        ens = score_file_probs(ids, fp, truth, self.prep.labels)
        # the temperature is fitted on windows: the device calibrates each window's vote
        win = vote_windows(probs, "soft")
        win_truth = np.array([truth[int(i)] for i in file])
        temperature = fit_temperature(win, win_truth, min_temperature=1.0)
        t = np.array([truth[int(i)] for i in ids])
        _, fp_cal = file_probs(apply_temperature(win, temperature), file)
        return {"actors": sp.val_actors, "members_uar": members, "ensemble_soft_uar": ens.uar,
                "temperature": temperature, "ece": expected_calibration_error(fp, t),
                "ece_calibrated": expected_calibration_error(fp_cal, t)}

    def _enrolment_scores(self, spk: SpeakerNorm, plain: Sequence[np.ndarray],
                          enrolled: Sequence[np.ndarray], file: np.ndarray,
                          weights: Sequence[float], truth: dict[int, int]) -> dict[str, Any]:
        """Per corpus, the same test files (not those enrolment used) without enrolment
        (global statistics) and with each speaker's statistics from K of their clips."""
        keep = spk.scored(file)
        out: dict[str, Any] = {"clips": spk.clips}
        for name, probs in (("without", plain), ("with", enrolled)):
            ids, fp = vote_files([p[keep] for p in probs], file[keep], self.cfg.voting,
                                 weights)
            out[name] = per_corpus(ids, fp, fp, truth, self.corpus_of, self.prep.labels)
        return out

    def _baselines(self, sp: SetPlan, kind: str, result: FoldResult) -> None:
        from train.baselines import fit_predict

        if not self.cfg.baselines:
            return
        stats = {i: utterance_stats(self.feats[(i, 0)], self.fe, kind)
                 for i in (*sp.train, *sp.test)}
        xtr = np.stack([stats[i] for i in sp.train])
        ytr = self.prep.y[sp.train]
        xte = np.stack([stats[i] for i in sp.test])
        yte = self.prep.y[sp.test]
        for b in self.cfg.baselines:
            t0 = time.time()
            pred = fit_predict(b, self.cfg, self.cfg.seed, xtr, ytr, xte)
            result.scores[b] = score(yte, pred, self.prep.labels)
            self.log(f"[{sp.name}] {b}: UAR {100 * result.scores[b].uar:.1f} "
                     f"({time.time() - t0:.1f} s)")


def fit_fold_counts(cfg: TrainConfig, prep: Prepared, opts: RunOptions, log: Log = _log
                    ) -> TrainConfig:
    """``cfg`` with fold counts the corpus's speakers can make (a handful of speakers cannot
    make the recipe's 5 folds with 2 validation actors); a folds file is taken as it is."""
    if cfg.split != "speaker" or opts.folds_file:
        return cfg
    speakers = {u.speaker for u in prep.utts}
    n_folds, n_val = folds_mod.fit_fold_counts(len(speakers), cfg.n_folds, cfg.n_val_actors)
    if (n_folds, n_val) != (cfg.n_folds, cfg.n_val_actors):
        log(f"{len(speakers)} speakers: {n_folds} folds (n_folds = {cfg.n_folds} asked), "
            f"{n_val} validation actor(s) (n_val_actors = {cfg.n_val_actors} asked)")
    return cfg.replace(n_folds=n_folds, n_val_actors=n_val)


def _remove_new_run(out: Path, existed: bool) -> None:
    """Undo a failed start: a run folder this run created, with nothing finished in it."""
    if not existed:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in out.iterdir():  # an empty folder the user made: leave it empty
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def run(cfg: TrainConfig, opts: RunOptions, log: Log = _log) -> dict[str, Any]:
    """Train every set, write the run folder and reports; return run.json's content.

    The corpus is read before anything is written, so a wrong ``--data`` leaves no folder. A
    rerun into the same ``--out`` keeps the sets an earlier (stopped) run finished and trains
    the rest (:func:`train.runs.previous_run` says when that is allowed); a run that fails
    before finishing any set removes the folder it created.
    """
    import warnings

    from train.reports import write_reports

    warnings.filterwarnings("ignore", message=".*HDF5 file.*")  # .h5 is the run-folder contract
    t0 = time.time()
    out = opts.out
    prep = prepare(opts.data, opts.fmt, cfg, log)
    cfg = fit_fold_counts(cfg, prep, opts, log)
    sets, split = plan_sets(prep, cfg, opts.folds_file, opts.only_folds, opts.final)
    if cfg.train_on_val_actors:  # a fixed schedule needs no validation actors: they may train
        sets = [s.with_val_in_train() for s in sets]
    window = train_window(cfg, opts.frontend)
    corpus_roots = ", ".join(
        str(c.root) for c in prep.dataset.corpora)
    info = RunInfo(
        config=cfg.to_dict(),
        corpus={"root": corpus_roots, "format": prep.corpus.format,
                "files": len(prep.utts), "skipped": len(prep.corpus.skipped),
                "label_notes": prep.label_notes},
        corpora=[{"name": n, "root": str(c.root), "format": c.format,
                  "files": sum(u.corpus == n for u in prep.utts),
                  "speakers": len({u.speaker for u in prep.utts if u.corpus == n})}
                 for n, c in zip(prep.corpus_names, prep.dataset.corpora, strict=True)],
        labels=prep.labels, frontend=opts.frontend.to_dict(), window=window.to_dict(),
        voting=cfg.voting, split=split, sets=[s.name for s in sets],
        preprocessing=preprocessing_record(cfg, opts.frontend), command=opts.command,
        strategy=opts.strategy)
    existed = out.exists()
    previous = previous_run(out, info.to_dict(), opts.force)
    done = {s.name for s in sets if previous and finished(out, s.name, bool(s.test))}
    for name in sorted(done):
        log(f"{name}: finished by an earlier run into {out}, skipped (--force to redo)")
    if previous:  # the report covers every set of the folder, earlier ones included
        names = list(dict.fromkeys([*previous.get("sets", []), *info.sets]))
        info.sets = [n for n in names if n != "final"] + ["final"] * ("final" in names)
    todo = [s for s in sets if s.name not in done]
    histories: dict[str, dict[str, dict[str, list[float]]]] = {}
    finished_now = 0
    info.write(out)
    try:
        if todo and opts.quiet:
            from convert.tfenv import quiet_tf

            quiet_tf()
        if todo:
            kinds = sorted({m.feature for m in cfg.member_specs})
            settings = feature_settings(cfg, opts.frontend, kinds)
            aug = settings.augment
            train_files = {i for s in todo for i in s.train}
            feats = extract(prep.utts,
                            lambda i: copies_for_split("train", aug) if i in train_files else [0],
                            settings, cfg.seed, opts.cache, opts.jobs, log)
            trainer = SetTrainer(cfg, opts, prep, feats, log)
            try:
                for sp in todo:
                    if sp.name == "final":
                        continue
                    log(f"== {sp.name}: train {len(sp.train_actors) or len(sp.train)} / val "
                        f"{len(sp.val_actors) or len(sp.val)} / test "
                        f"{sp.test_actors or len(sp.test)}")
                    shutil.rmtree(out / sp.name, ignore_errors=True)  # a stopped run's leftovers
                    res, hist, _ = trainer.run(sp, out / sp.name)
                    histories[sp.name] = hist
                    write_json(out / "results" / "folds" / f"{sp.name}.json", res.to_dict())
                    finished_now += 1
                final = next((s for s in todo if s.name == "final"), None)
                if final is not None:
                    best_epochs = [m.extra["best_epoch"] for name in info.sets
                                   if name != "final" and finished(out, name, False)
                                   for m in SetInfo.read(out / name).members]
                    if cfg.early_stopping and best_epochs:
                        epochs = int(np.median(best_epochs))
                        why = "the median best epoch of the folds"
                    else:
                        epochs, why = cfg.epochs, "the fixed schedule"
                    log(f"== final: all {len(prep.utts)} files, {epochs} epochs ({why})")
                    shutil.rmtree(out / "final", ignore_errors=True)
                    _, hist, _ = trainer.run(final, out / "final", epochs=max(1, epochs))
                    histories["final"] = hist
                    finished_now += 1
            finally:
                trainer.close()
    except BaseException:
        if not previous and not finished_now:
            _remove_new_run(out, existed)
        raise
    wall = time.time() - t0
    info.wall_time_s = round(wall + (previous.get("wall_time_s") or 0), 1)
    results = [FoldResult.from_dict(read_json(out / "results" / "folds" / f"{name}.json"))
               for name in info.sets
               if (out / "results" / "folds" / f"{name}.json").is_file()]
    summary = aggregate(results)
    if summary:
        meta = {"command": opts.command, "wall_time_s": info.wall_time_s,
                "corpus": corpus_roots, "members": ", ".join(cfg.members),
                "cpus": os.cpu_count()}
        write_reports(out / "results", summary, split, prep.labels, histories, meta)
        info.results = {k: {m: v[m] for m in ("wa", "uar", "macro_f1")}
                        for k, v in summary.items()}
    elif any(s.test for s in sets):
        raise ConfigError(f"no fold of {out} produced test scores: nothing to report")
    info.write(out)
    if prep.multi and summary:
        from train.crosscorpus import report

        log(report(out))
    log(f"run finished in {wall / 60:.1f} min → {out}")
    return info.to_dict()


def preprocessing_record(cfg: TrainConfig, fe: FrontendConfig) -> dict[str, Any]:
    """What training did to the audio besides the front end, for run.json and the manifest:
    the preprocessing steps and the share of speech a window needs to be used."""
    return {**dataclasses.asdict(sub_config(PreprocessConfig, cfg, sr=fe.sr)),
            "min_speech_fraction": cfg.min_speech_fraction}
