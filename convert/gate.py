"""Fit a condition gate (``edge.gate``) for a model folder, on training corpora only.

Why: the gate must learn what a room and noise do to the very windows the device votes on, so
it is fitted on the device pipeline's own normalised streams (``Pipeline.feature_tap``), from
recordings of the given corpora as they are (label 0) and their copies in a generated room
(RT60 0.2-0.7 s) and in noise at 10-30 dB SNR (label 1), drawn with generators of their own
(the benchmarks' ``--condition`` changes draw others). No emotion label is used.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from edge.corpora import load_corpus
from edge.errors import ConfigError
from edge.gate import gate_inputs
from edge.manifest import ConditionGateSpec, Manifest, load_manifest, write_manifest
from edge.pipeline import Pipeline
from edge.wav import read_wav
from train.datasets import CorpusSource

#: a copy's change: (samples, sample rate, path) -> samples
Change = Callable[[np.ndarray, int, str], np.ndarray]
ROOM_COPY, NOISE_COPY = 7, 8  # copy_rng streams the gate's copies draw from
T = TypeVar("T")


@dataclass(frozen=True)
class GateFitConfig:
    """What ``edge-ser condition-gate`` fits (one definition of its defaults)."""

    clean_members: tuple[str, ...]
    streams: tuple[str, ...] = ()  # empty: the clean members' streams
    files_per_corpus: int = 300
    snr_db: tuple[float, float] = (10.0, 30.0)
    l2: float = 1.0  # inverse regularisation strength (scikit-learn's C)
    seed: int = 0


def copy_changes(cfg: GateFitConfig) -> dict[str, Change]:
    """The degraded copies the gate learns from, each drawn per file."""
    from train import augment

    return {"room": augment.per_file(augment.reverb, ROOM_COPY, cfg.seed),
            "noise": augment.per_file(augment.noise_between(*cfg.snr_db), NOISE_COPY, cfg.seed)}


def gate_streams(manifest: Manifest, cfg: GateFitConfig) -> tuple[str, ...]:
    names = {mb.name: mb for mb in manifest.members}
    missing = [n for n in cfg.clean_members if n not in names]
    if missing:
        raise ConfigError(f"no member {missing[0]!r} in the models (members: "
                          f"{', '.join(names)})")
    read = {mb.feature for mb in manifest.members}
    unknown = [s for s in cfg.streams if s not in read]
    if unknown:
        raise ConfigError(f"no member reads stream {unknown[0]!r} (streams: {', '.join(read)})")
    return cfg.streams or tuple(dict.fromkeys(names[n].feature for n in cfg.clean_members))


def window_values(pipe: Pipeline, samples: np.ndarray,
                  of: Callable[[dict[str, np.ndarray]], T]) -> list[T]:
    """``of`` each window's normalised streams, for every window the device classifies in
    ``samples`` (``Pipeline.feature_tap``)."""
    out: list[T] = []
    pipe.feature_tap = lambda feats: out.append(of(feats))
    try:
        pipe.classify_audio(samples)
    finally:
        pipe.feature_tap = None
    return out


def window_rows(pipe: Pipeline, samples: np.ndarray, streams: tuple[str, ...]) -> list[np.ndarray]:
    """The gate's input of every window the device classifies in ``samples``."""
    return window_values(pipe, samples, lambda feats: gate_inputs(feats, streams))


def chosen_files(sources: Sequence[str], per_corpus: int, seed: int
                 ) -> list[tuple[str, Path]]:
    """Up to ``per_corpus`` files of each corpus, drawn with ``seed``: (corpus, path)."""
    rng = np.random.default_rng(seed)
    out: list[tuple[str, Path]] = []
    for source in sources:
        src = CorpusSource.parse(source)
        corpus = load_corpus(src.path, src.fmt)
        paths = sorted({u.path for u in corpus.utterances})
        take = rng.permutation(len(paths))[:per_corpus]
        out += [(corpus.format, paths[i]) for i in sorted(take)]
    return out


def fit_gate(models: Path, sources: Sequence[str], cfg: GateFitConfig,
             log: Callable[[str], None] = lambda _: None) -> ConditionGateSpec:
    """The gate for ``models``, fitted on ``sources`` (``FORMAT:PATH``, training corpora)."""
    from sklearn.linear_model import LogisticRegression

    manifest = load_manifest(models)
    streams = gate_streams(manifest, cfg)
    pipe = Pipeline(manifest, num_threads=1)
    files = chosen_files(sources, cfg.files_per_corpus, cfg.seed)
    changes = copy_changes(cfg)
    sr = manifest.frontend.sr
    x: list[np.ndarray] = []
    y: list[int] = []
    w: list[float] = []
    for k, (_, path) in enumerate(files):
        clean = read_wav(path, sr).samples
        versions = [(0, 1.0, clean)] + [(1, 1.0 / len(changes), change(clean, sr, str(path)))
                                        for change in changes.values()]
        for label, weight, samples in versions:
            rows = window_rows(pipe, samples, streams)
            x += rows
            y += [label] * len(rows)
            w += [weight / max(1, len(rows))] * len(rows)  # each file weighs the same
        if (k + 1) % 200 == 0:
            log(f"{k + 1}/{len(files)} files")
    if len(set(y)) < 2:
        raise ConfigError("no speech windows to fit the gate on")
    xa = np.stack(x)
    mean, std = xa.mean(axis=0), xa.std(axis=0)
    std = np.where(std > 1e-6, std, 1.0)
    lr = LogisticRegression(C=cfg.l2, max_iter=2000)
    lr.fit((xa - mean) / std, np.array(y), sample_weight=np.array(w) / np.mean(w))
    corpora = sorted({c for c, _ in files})
    return ConditionGateSpec(streams, tuple(cfg.clean_members), tuple(map(float, mean)),
                    tuple(map(float, std)), tuple(map(float, lr.coef_[0])),
                    float(lr.intercept_[0]),
                    f"{len(files)} files of {', '.join(corpora)}, each as recorded and in a "
                    f"generated room and in noise at {cfg.snr_db[0]:g}-{cfg.snr_db[1]:g} dB SNR")


def write_gated(models: Path, out: Path, gate: ConditionGateSpec, *, force: bool = False
                ) -> Manifest:
    """``models`` copied to ``out`` with ``gate`` in its manifest, all at once."""
    from convert.package import check_target, staged

    check_target(out, force)
    manifest = replace(load_manifest(models), condition_gate=gate, root=None)
    with staged(out, force) as stage:
        for item in Path(models).iterdir():
            if item.name == "manifest.json":
                continue
            (shutil.copytree if item.is_dir() else shutil.copyfile)(item, stage / item.name)
        write_manifest(manifest, stage)
        load_manifest(stage)
    return replace(manifest, root=out)
