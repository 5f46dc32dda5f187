"""Magnitude pruning of a member with tensorflow-model-optimization.

Zeroed weights do not make a .tflite smaller or faster by themselves (the file stores
dense tensors); they pay after compression (a gzipped download or image), which the
report shows. Pruning is therefore a size option, off by default in ``edge-ser convert``
(the shipped models use 50 %: 290 → 214 KiB gzipped, within the folds' spread in UAR).

The fine-tune is the delicate part, not the zeros: at 5e-4 with batch-norm statistics
re-estimated on the few clean windows, 30 % and 50 % sparsity both cost 5 UAR points on a
held-out fold; at 1e-4 with batch norm frozen, none (train/results/ravdess-20-5fold/README.md).

* ``prune_low_magnitude`` wraps the very layer objects of the model it is given, so it
  works on a clone (the original member stays untouched for the float reference).
* Conv, Dense and LSTM kernels are pruned, except the output layer: the last few hundred
  weights decide between classes and cost nothing to keep, and layers that are not trainable
  (the ``rbf`` member's, set by a closed-form fit): a member with nothing to prune is returned
  as it is, not fine-tuned.
* The polynomial schedule reaches the target after ~60 % of the fine-tune steps, with
  mask updates at steps that land exactly on its end (otherwise the final sparsity is
  never applied), and the rest of the fine-tune recovers accuracy at that sparsity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convert.tfenv import import_tf, import_tfmot
from edge.errors import ConfigError

_KERNELS = ("kernel", "recurrent_kernel", "depthwise_kernel")


@dataclass(frozen=True)
class PruneOptions:
    sparsity: float = 0.0  # 0 disables pruning (the default: see the module docstring)
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4  # 1/20 of the training rate: recover, do not retrain (5e-4
    #                             lost 5 UAR points on a held-out fold)
    max_windows: int = 4000  # fine-tune on a seeded sample of at most this many windows
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.sparsity < 1.0:
            raise ConfigError(f"--sparsity must be in [0, 1), got {self.sparsity}")
        if self.epochs < 1 or self.batch_size < 1 or self.max_windows < 1:
            raise ConfigError("pruning epochs, batch size and windows must be at least 1")

    @property
    def enabled(self) -> bool:
        return self.sparsity > 0


@dataclass
class PruneResult:
    model: Any
    layers: dict[str, float] = field(default_factory=dict)  # layer → share of zero kernel weights
    overall: float = 0.0  # over every pruned kernel
    steps: int = 0


def kernel_sparsity(model: Any,
                    layer_names: list[str] | None = None) -> tuple[dict[str, float], float]:
    """Fraction of exact zeros in each layer's kernels (and over all of them)."""
    per: dict[str, float] = {}
    zeros = total = 0
    for layer in model.layers:
        if layer_names is not None and layer.name not in layer_names:
            continue
        ws = [w for w in layer.weights if w.name.split("/")[-1].split(":")[0] in _KERNELS]
        if not ws:
            continue
        z = sum(int(np.sum(w.numpy() == 0)) for w in ws)
        n = sum(int(np.prod(w.shape)) for w in ws)
        per[layer.name] = z / n if n else 0.0
        zeros += z
        total += n
    return per, (zeros / total if total else 0.0)


def _prunable(layer: Any, output_layers: set[str]) -> bool:
    if layer.name in output_layers or not layer.trainable:
        return False
    return layer.__class__.__name__ in ("Conv1D", "Conv2D", "Dense", "LSTM", "GRU", "SimpleRNN")


def prune(model: Any, X: np.ndarray, y: np.ndarray, opts: PruneOptions) -> PruneResult:
    """A pruned, stripped copy of ``model``, fine-tuned on normalised windows ``X`` (labels y)."""
    _, keras = import_tf()
    tfmot = import_tfmot()
    sparsity = tfmot.sparsity.keras

    rng = np.random.default_rng(opts.seed)
    if len(X) > opts.max_windows:
        idx = np.sort(rng.choice(len(X), size=opts.max_windows, replace=False))
        X, y = X[idx], y[idx]
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)

    steps_per_epoch = math.ceil(len(X) / opts.batch_size)
    total = steps_per_epoch * opts.epochs
    ramp = max(1, int(0.6 * total))
    updates = min(10, ramp)
    frequency = max(1, ramp // updates)
    end_step = frequency * updates  # a mask update lands exactly on the end step
    if end_step < total:
        schedule = sparsity.PolynomialDecay(initial_sparsity=0.0, final_sparsity=opts.sparsity,
                                            begin_step=0, end_step=end_step, frequency=frequency)
    else:  # too few steps to ramp: prune to the target at once, then fine-tune
        schedule = sparsity.ConstantSparsity(opts.sparsity, begin_step=0, frequency=1)

    output_layers = set(getattr(model, "output_names", None) or [model.layers[-1].name])
    if not any(_prunable(layer, output_layers) for layer in model.layers):
        return PruneResult(model, {}, 0.0, 0)
    original = keras.models.clone_model(model)
    original.set_weights(model.get_weights())
    pruned_names: list[str] = []

    def wrap(layer: Any) -> Any:  # reuses the copy's layer objects, weights included
        if _prunable(layer, output_layers):
            pruned_names.append(layer.name)
            return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    keras.utils.set_random_seed(opts.seed)
    wrapped = keras.models.clone_model(original, clone_function=wrap)
    for layer in wrapped.layers:  # normalisation statistics stay those of the full training
        if layer.__class__.__name__ == "BatchNormalization":
            layer.trainable = False
    wrapped.compile(optimizer=keras.optimizers.Adam(opts.learning_rate),
                    loss="sparse_categorical_crossentropy")
    wrapped.fit(X, y, batch_size=opts.batch_size, epochs=opts.epochs, shuffle=True, verbose=0,
                callbacks=[sparsity.UpdatePruningStep()])
    stripped = sparsity.strip_pruning(wrapped)
    per, overall = kernel_sparsity(stripped, pruned_names)
    return PruneResult(stripped, per, overall, total)

