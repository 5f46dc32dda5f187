"""Fit several members at once, one process per core.

Small Keras models on a CPU use a second core poorly inside one process (batch-64 convolutions
and a 25-step LSTM leave TensorFlow's thread pool mostly waiting), while two processes with
one thread each train two members in the time of one. Each member's normalised windows are
written once to ``.npy`` files and memory-mapped by the workers, so the processes share the
page cache instead of pickling hundreds of megabytes. With ``workers=1`` (and for any
``tf.distribute`` strategy but the default) members are fitted in this process, one after
the other, exactly as before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from train.config import TrainConfig


@dataclass(frozen=True)
class FitData:
    """Where one feature kind's normalised windows are: ``<prefix>-{train,val}-{x,y,file}.npy``."""

    prefix: str

    def path(self, split: str, what: str) -> Path:
        return Path(f"{self.prefix}-{split}-{what}.npy")

    @classmethod
    def write(cls, prefix: Path, train: tuple[np.ndarray, np.ndarray, np.ndarray],
              val: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
              weights: np.ndarray | None = None, targets: np.ndarray | None = None,
              domains: np.ndarray | None = None) -> FitData:
        """``weights``: per training window (corpus and class balance); None = class weights.
        ``targets``: soft training targets [windows, classes] (distillation); None = one-hot.
        ``domains``: a domain index per training window (domain-adversarial members)."""
        prefix.parent.mkdir(parents=True, exist_ok=True)
        data = cls(str(prefix))
        if weights is not None:
            np.save(data.path("train", "w"), np.asarray(weights, np.float32))
        if targets is not None:
            np.save(data.path("train", "t"), np.asarray(targets, np.float32))
        if domains is not None:
            np.save(data.path("train", "d"), np.asarray(domains, np.int64))
        for split, arrays in (("train", train), ("val", val)):
            if arrays is None:
                continue
            for what, arr in zip(("x", "y", "file"), arrays, strict=True):
                np.save(data.path(split, what), arr)
        return data

    def load(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        if not self.path(split, "x").is_file():
            return None
        return (np.load(self.path(split, "x"), mmap_mode="r"), np.load(self.path(split, "y")),
                np.load(self.path(split, "file")))

    def weights(self) -> np.ndarray | None:
        return np.load(self.path("train", "w")) if self.path("train", "w").is_file() else None

    def targets(self) -> np.ndarray | None:
        return np.load(self.path("train", "t")) if self.path("train", "t").is_file() else None

    def domains(self) -> np.ndarray | None:
        return np.load(self.path("train", "d")) if self.path("train", "d").is_file() else None


@dataclass(frozen=True)
class FitJob:
    """One member to fit: its architecture, data, seed and where its files go."""

    name: str
    arch: str
    data: FitData
    seed: int
    folder: str
    frames: int
    n_classes: int
    bag: bool = False
    epochs: int | None = None


@dataclass
class FitSummary:
    """What the parent needs of a fitted member (the model itself is ``model_path``)."""

    name: str
    model_path: str
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    best_val: float = float("nan")
    seconds: float = 0.0
    params: int = 0
    pid: int = 0              # the process that fitted it


def _log(s: str) -> None:
    print(s, file=sys.stderr, flush=True)


def fit_job(job: FitJob, cfg: TrainConfig, strategy: str = "default",
            threads: int | None = None, log: Callable[[str], None] = _log) -> FitSummary:
    """Fit and save one member (in a worker process or in this one)."""
    if threads:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already initialised in this process: keep its pool
            pass
    from train.ensemble import bootstrap_files
    from train.fit import fit_member
    from train.members import build_member, keras_name

    train = job.data.load("train")
    if train is None:
        raise FileNotFoundError(job.data.path("train", "x"))
    x, y, file = train
    weights, targets, domains = job.data.weights(), job.data.targets(), job.data.domains()
    if job.bag:
        idx = bootstrap_files(file, job.seed)
        x, y = x[idx], y[idx]
        weights = weights[idx] if weights is not None else None
        targets = targets[idx] if targets is not None else None
        domains = domains[idx] if domains is not None else None
    val = job.data.load("val")
    dim = x.shape[-1]
    folder = Path(job.folder)
    def build() -> Any:
        return build_member(job.arch, job.frames, dim, job.n_classes, cfg,
                            name=keras_name(job.name))

    res: Any
    if job.arch == "rbf":  # a closed-form fit: no epochs, teacher or adversary
        from train.rbf import fit_rbf_member

        folder.mkdir(parents=True, exist_ok=True)
        res = fit_rbf_member(build, x, y, val, cfg, job.n_classes, job.seed, weights, log)
    else:
        res = fit_member(build, x, y, val, cfg, job.n_classes, job.seed, folder, job.name,
                         strategy=strategy, epochs=job.epochs, log=log, weights=weights,
                         targets=targets, domains=domains)
    path = folder / f"{job.name}.h5"
    res.model.save(path)
    return FitSummary(job.name, str(path), res.history, res.best_epoch, res.best_val,
                      res.seconds, int(res.model.count_params()), os.getpid())


def _worker_init() -> None:
    """Quiet like the parent (``edge-ser train`` without ``--verbose``)."""
    import warnings

    from convert.tfenv import quiet_tf_if_asked

    warnings.filterwarnings("ignore", message=".*HDF5 file.*")
    quiet_tf_if_asked()


class Fitter:
    """Runs :class:`FitJob` lists on ``workers`` processes (or in-process for 1)."""

    def __init__(self, cfg: TrainConfig, workers: int = 1, strategy: str = "default",
                 log: Callable[[str], None] = _log) -> None:
        self.cfg, self.strategy, self.log = cfg, strategy, log
        self.workers = max(1, int(workers)) if strategy == "default" else 1
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            # spawn: TensorFlow's threads do not survive a fork
            self._pool = ProcessPoolExecutor(self.workers,
                                             mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_worker_init)
        return self._pool

    def run(self, jobs: Sequence[FitJob]) -> list[FitSummary]:
        if self.workers == 1 or len(jobs) < 2:
            return [fit_job(j, self.cfg, self.strategy, log=self.log) for j in jobs]
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        pool = self._executor()
        futures = [pool.submit(fit_job, j, self.cfg, "default", threads) for j in jobs]
        return [f.result() for f in futures]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> Fitter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
