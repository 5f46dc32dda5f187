"""Fit one member: cross-entropy, Adam/RMSprop, early stopping on the validation actors' UAR.

BASELINE.md: validation *loss* rises while accuracy still climbs (the model grows confident),
so stopping on it ends training at epoch 1-13; stopping on the validation actors' file-level
UAR (windows averaged per file, as the device does) gave about +6 points. The best epoch's
weights are restored and checkpointed; the history goes to a CSV. Training batches get
SpecAugment masks, mixup and class weights; validation data is never augmented.

With ``early_stopping = false`` the member trains for exactly ``epochs`` epochs and keeps the
last weights; a ``cosine`` learning-rate schedule makes those last weights a settled point
rather than one draw from a noisy trajectory. Validation data, if given, is then only scored
(its UAR per epoch goes to the history, and the last epoch's is the member's ``best_val``).

The model is built and fitted under a ``tf.distribute`` strategy picked by name: ``default``,
``mirrored`` (all local devices) or ``multi_worker`` (cluster from ``TF_CONFIG``).
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.metrics import confusion_matrix, mean_by_group, uar
from train.augment import SpecAugmentConfig, mixup, spec_augment
from train.config import TrainConfig, sub_config

STRATEGIES = ("default", "mirrored", "multi_worker")


@functools.cache
def get_strategy(name: str) -> Any:
    """The process's one strategy of that name (a MultiWorkerMirroredStrategy configures the
    process's collective ops and can be made only once)."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    from edge.errors import ConfigError

    raise ConfigError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")


def file_probs(probs: np.ndarray, file: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean window probability per file: (file ids sorted, [n_files, classes])."""
    return mean_by_group(probs, file)


def file_labels(y: np.ndarray, file: np.ndarray) -> np.ndarray:
    _, first = np.unique(file, return_index=True)
    return y[first]


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced weights n / (k · count), so every class carries the same total weight."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.zeros(n_classes)
    present = counts > 0
    w[present] = counts[present].sum() / (present.sum() * counts[present])
    return w.astype(np.float32)


def _batches(keras: Any) -> type:
    class TrainBatches(keras.utils.Sequence):
        """Shuffled batches with SpecAugment, mixup and per-sample class weights."""

        def __init__(self, x: np.ndarray, y: np.ndarray, cfg: TrainConfig, n_classes: int,
                     seed: int, weights: np.ndarray | None = None,
                     targets: np.ndarray | None = None,
                     domains: np.ndarray | None = None) -> None:
            super().__init__()
            self.x, self.y, self.cfg = x, y, cfg
            # a domain-adversarial member also gets each window's domain, one-hot
            self.domains = domains
            # soft targets (a teacher's, distilled) or the labels one-hot
            self.onehot = (np.asarray(targets, np.float32) if targets is not None
                           else np.eye(n_classes, dtype=np.float32)[y])
            if weights is not None:  # corpus and class balance, computed by the caller
                self.weights = np.asarray(weights, np.float32)
            else:
                self.weights = (class_weights(y, n_classes)[y] if cfg.class_weights
                                else np.ones(len(y), np.float32))
            self.rng = np.random.default_rng(seed)
            self.spec = sub_config(SpecAugmentConfig, cfg, "specaug_")
            self.order = self.rng.permutation(len(y))

        def __len__(self) -> int:
            return math.ceil(len(self.y) / self.cfg.batch_size)

        def __getitem__(self, i: int) -> tuple[Any, Any, Any]:
            idx = self.order[i * self.cfg.batch_size:(i + 1) * self.cfg.batch_size]
            xb = self.x[idx].astype(np.float32)
            yb = self.onehot[idx]
            if self.spec.time_masks or self.spec.freq_masks:
                xb = spec_augment(xb, self.spec, self.rng)
            if self.domains is None:
                xb, yb = mixup(xb, yb, self.cfg.mixup_alpha, self.rng)
                return xb, yb, self.weights[idx]
            # one mixup for both targets: a mixed window is mixed in label and in domain
            n = yb.shape[1]
            xb, both = mixup(xb, np.concatenate([yb, self.domains[idx]], axis=1),
                             self.cfg.mixup_alpha, self.rng)
            w = self.weights[idx]
            return xb, (both[:, :n], both[:, n:]), (w, w)

        def on_epoch_end(self) -> None:
            self.order = self.rng.permutation(len(self.y))

    return TrainBatches


def _val_callback(keras: Any, x: np.ndarray, y: np.ndarray, file: np.ndarray, n_classes: int,
                  log: Callable[[str], None], name: str, epochs: int) -> Any:
    class ValidationActors(keras.callbacks.Callback):
        """File-level UAR/accuracy and window-level loss on the validation actors."""

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.t0 = time.time()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs if logs is not None else {}
            if len(y):
                p = self.model.predict(x, batch_size=256, verbose=0)
                if isinstance(p, list):  # a domain-adversarial model: emotions come first
                    p = p[0]
                _, fp = file_probs(p, file)
                cm = confusion_matrix(file_labels(y, file), fp.argmax(1), n_classes)
                logs["val_uar"] = uar(cm)
                logs["val_accuracy"] = float(np.trace(cm) / cm.sum())
                p_true = np.clip(p[np.arange(len(y)), y], 1e-7, 1)
                logs["val_loss"] = float(-np.mean(np.log(p_true)))
            nan = float("nan")
            acc = logs.get("accuracy", logs.get("probs_accuracy", nan))
            dom = (f" domain_loss {logs['domain_loss']:.3f}" if "domain_loss" in logs else "")
            log(f"  {name} epoch {epoch + 1}/{epochs}: loss {logs.get('loss', nan):.3f} "
                f"acc {acc:.3f}{dom} val_uar {logs.get('val_uar', nan):.3f} "
                f"val_loss {logs.get('val_loss', nan):.3f} ({time.time() - self.t0:.1f} s)")

    return ValidationActors()


@dataclass
class FitResult:
    model: Any
    history: dict[str, list[float]]
    best_epoch: int           # 1-based
    best_val: float
    seconds: float


def fit_member(build: Callable[[], Any], x_train: np.ndarray, y_train: np.ndarray,
               val: tuple[np.ndarray, np.ndarray, np.ndarray] | None, cfg: TrainConfig,
               n_classes: int, seed: int, out_dir: Path, name: str, strategy: str = "default",
               epochs: int | None = None, log: Callable[[str], None] | None = None,
               weights: np.ndarray | None = None, targets: np.ndarray | None = None,
               domains: np.ndarray | None = None) -> FitResult:
    """Build (inside the strategy's scope) and fit one member on normalised windows.

    ``val`` = (X, y, file) of the validation actors; without it (the ``final`` set) training
    runs ``epochs`` epochs and keeps the last weights. ``domains`` (an index per training
    window) with ``cfg.adversarial_weight > 0`` trains through a gradient-reversed domain head
    (train.adversarial); the member returned has only its emotion output.
    """
    import tensorflow as tf
    import tf_keras as keras

    strat = get_strategy(strategy)  # first: a multi-worker strategy must precede any TF op
    scope = strat.scope()
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    if strat.num_replicas_in_sync > 1:
        log(f"  {name}: {strat.num_replicas_in_sync} replicas in sync ({strategy} strategy)")
    tf.get_logger().setLevel("ERROR")  # retracing notices: one model per member is intended
    keras.utils.set_random_seed(seed)
    epochs = epochs or cfg.epochs
    out_dir.mkdir(parents=True, exist_ok=True)
    adversarial = domains is not None and cfg.adversarial_weight > 0
    domain_targets = (np.eye(int(domains.max()) + 1, dtype=np.float32)[domains]
                      if adversarial else None)
    with scope:
        model = build()
        trained = model
        if domain_targets is not None:
            from train.adversarial import with_domain_head

            trained = with_domain_head(keras, model, domain_targets.shape[1],
                                       cfg.adversarial_weight)
        lr: Any = cfg.learning_rate
        if cfg.lr_schedule == "cosine":
            steps = max(1, epochs * math.ceil(len(y_train) / cfg.batch_size))
            lr = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, steps)
        opt = (keras.optimizers.Adam(lr) if cfg.optimizer == "adam"
               else keras.optimizers.RMSprop(lr))
        emotion_loss = keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing)
        accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
        if adversarial:
            trained.compile(optimizer=opt,
                            loss=[emotion_loss, keras.losses.CategoricalCrossentropy()],
                            metrics=[[accuracy], []])
        else:
            trained.compile(optimizer=opt, loss=emotion_loss, metrics=[accuracy])
    data = _batches(keras)(x_train, y_train, cfg, n_classes, seed, weights, targets,
                           domain_targets)
    has_val = val is not None and len(val[1]) > 0
    if not has_val:  # the callback still logs progress and writes the history's columns
        val = (np.zeros((0,)), np.zeros(0, np.int64), np.zeros(0, np.int64))
    callbacks: list[Any] = [_val_callback(keras, *val, n_classes, log, name, epochs)]
    stopping = has_val and cfg.early_stopping
    if stopping:
        mode = "min" if cfg.monitor == "val_loss" else "max"
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=cfg.monitor, mode=mode, patience=cfg.patience, restore_best_weights=True))
        callbacks.append(keras.callbacks.ModelCheckpoint(
            str(out_dir / f"{name}.best.h5"), monitor=cfg.monitor, mode=mode, save_best_only=True))
    callbacks.append(keras.callbacks.CSVLogger(str(out_dir / f"{name}.history.csv")))
    t0 = time.time()
    hist = trained.fit(data, epochs=epochs, callbacks=callbacks, verbose=0, shuffle=False)
    seconds = time.time() - t0
    history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    if adversarial:  # the emotion head's figures under the usual names; the rest kept beside
        history["total_loss"] = history.pop("loss")
        history["loss"] = history.pop("probs_loss")
        history["accuracy"] = history.pop("probs_accuracy")
    if stopping and cfg.monitor in history:
        series = history[cfg.monitor]
        best = int(np.argmin(series) if cfg.monitor == "val_loss" else np.argmax(series))
        best_epoch = best + 1
        # the member's validation UAR at the kept epoch (what weighted voting uses)
        best_val = float(history["val_uar"][best]) if "val_uar" in history else float(series[best])
    else:  # the last weights are kept: report the last epoch
        best_epoch = len(history.get("loss", []))
        best_val = float(history["val_uar"][-1]) if history.get("val_uar") else float("nan")
    # the restored (best) model is saved by the caller; the checkpoint was for crashes
    (out_dir / f"{name}.best.h5").unlink(missing_ok=True)
    return FitResult(model, history, best_epoch, best_val, seconds)
