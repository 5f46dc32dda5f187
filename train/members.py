"""Ensemble member architectures (tf_keras), every number from the config.

All three use only layers the TFLite int8 converter handles (Conv1D, BatchNormalization —
folded into the convolution at conversion —, MaxPool1D, AveragePooling1D, LSTM, Dense,
Dropout, GlobalAveragePooling1D, Subtract), and build with a fixed batch size of 1 for export.

* ``cnn_lstm`` (the paper's model): Conv1D blocks whose pooling shortens 300 frames to ~25
  before a small LSTM, so the recurrent part (slow on a Pi core) runs few steps.
* ``cnn``: the same conv blocks, then global average pooling over time.
* ``lstm``: average-pool time by ``lstm_pool``, then the LSTM layers.
* ``stats``: per-coefficient mean and spread over the window into a small MLP.
* ``rbf``: the same statistics into Gaussian kernels and a logistic regression, fitted in closed
  form by train.rbf (its weighted layers are not trainable: pruning and training leave them
  alone).

``window_cmn`` subtracts each window's own mean per coefficient inside the model (mean over
time): cepstral mean normalisation that removes the channel and much of the speaker, at no
cost to the device contract (the device still feeds globally normalised windows).
"""

from __future__ import annotations

import re
from typing import Any

from train.config import TrainConfig

#: z² enters the rbf member's distance layer as z·(z/4)
RBF_SQUARE_SCALE = 0.25


def keras_name(name: str) -> str:
    """A member name as Keras accepts it for a model (letters, digits, ``_`` and ``.``)."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)


def _keras() -> Any:
    import tf_keras as keras

    return keras


def build_member(arch: str, frames: int, dim: int, n_classes: int, cfg: TrainConfig,
                 batch_size: int | None = None, name: str | None = None) -> Any:
    """A compiled-free tf_keras Model mapping [batch, frames, dim] → softmax [batch, classes]."""
    keras = _keras()
    layers = keras.layers
    reg = keras.regularizers.l2(cfg.l2) if cfg.l2 > 0 else None
    inp = keras.Input(shape=(frames, dim), batch_size=batch_size, name="features")
    x = inp
    if arch == "stats":
        return _stats_member(keras, inp, n_classes, cfg, reg, name)
    if arch == "rbf":
        return _rbf_member(keras, inp, n_classes, cfg, name)
    if cfg.window_cmn:
        mean = layers.GlobalAveragePooling1D(keepdims=True, name="window_mean")(x)
        x = layers.Subtract(name="window_cmn")([x, mean])
    if arch in ("cnn_lstm", "cnn"):
        for i, (filters, pool) in enumerate(zip(cfg.conv_filters, cfg.pool_sizes, strict=True)):
            x = layers.Conv1D(filters, cfg.conv_kernel, padding="same", use_bias=not cfg.batchnorm,
                              kernel_regularizer=reg, name=f"conv{i + 1}")(x)
            if cfg.batchnorm:
                x = layers.BatchNormalization(name=f"bn{i + 1}")(x)
            x = layers.Activation("relu", name=f"relu{i + 1}")(x)
            if pool > 1:
                x = layers.MaxPool1D(pool, name=f"pool{i + 1}")(x)
            if cfg.dropout > 0:
                x = layers.Dropout(cfg.dropout / 2, name=f"drop{i + 1}")(x)
    elif arch == "lstm":
        if cfg.lstm_pool > 1:
            x = layers.AveragePooling1D(cfg.lstm_pool, name="time_pool")(x)
    else:
        raise ValueError(f"unknown arch {arch!r}")
    if arch in ("cnn_lstm", "lstm"):
        for j, units in enumerate(cfg.lstm_units):
            last = j == len(cfg.lstm_units) - 1
            x = layers.LSTM(units, return_sequences=not last, kernel_regularizer=reg,
                            name=f"lstm{j + 1}")(x)
    else:
        x = layers.GlobalAveragePooling1D(name="time_mean")(x)
    if cfg.dropout > 0:
        x = layers.Dropout(cfg.dropout, name="drop_out")(x)
    if cfg.dense_units > 0:
        x = layers.Dense(cfg.dense_units, activation="relu", kernel_regularizer=reg,
                         name="dense")(x)
    out = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name=name or arch)


def _stats_member(keras: Any, inp: Any, n_classes: int, cfg: TrainConfig, reg: Any,
                  name: str | None) -> Any:
    """Utterance statistics of the window (per-coefficient mean and mean absolute deviation
    over time) into a small MLP: the shape of the SVM baseline that held up best across
    corpora, as a member the device runs like any other (MEAN, SUB, RELU, FULLY_CONNECTED are
    int8 builtins; no square root)."""
    layers = keras.layers
    x = _window_statistics(layers, inp)
    if cfg.batchnorm:
        x = layers.BatchNormalization(name="bn_stats")(x)
    for j, units in enumerate(cfg.stats_units):
        x = layers.Dense(units, activation="relu", kernel_regularizer=reg, name=f"dense{j + 1}")(x)
        if cfg.dropout > 0:
            x = layers.Dropout(cfg.dropout, name=f"drop{j + 1}")(x)
    out = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name=name or "stats")


def _window_statistics(layers: Any, inp: Any, spread: str = "mad") -> Any:
    """[frames, dim] → [2·dim]: each coefficient's mean and its spread, half the mean absolute
    deviation (``mad``) or the variance (``var``) (train.rbf.window_statistics is the NumPy
    twin). No square root: tflite-runtime 2.14 has no int8 SQRT."""
    mean = layers.GlobalAveragePooling1D(keepdims=True, name="window_mean")(inp)
    dev = layers.Subtract(name="centred")([inp, mean])
    if spread == "var":
        dev = layers.Multiply(name="squared_dev")([dev, dev])
    else:
        # deviations about the mean sum to zero, so mean(relu(d)) is half the mean |d|: the
        # spread without an ABS op or a Lambda layer (which .h5 files do not carry well)
        dev = layers.ReLU(name="pos_dev")(dev)
    spread = layers.GlobalAveragePooling1D(name=f"window_{spread}")(dev)
    return layers.Concatenate(name="stats")([layers.Flatten(name="mean_flat")(mean), spread])


def _rbf_member(keras: Any, inp: Any, n_classes: int, cfg: TrainConfig,
                name: str | None) -> Any:
    """Window statistics → standardised → gamma·|z - c|² for every centre, from z² and z in one
    dense layer whose fused ReLU6 clips at the floor (scaled to 6) → exp(-·) → softmax of a
    linear layer. z² is scaled by 1/4 so that it and z share an int8 range in the
    concatenation. Weights come from train.rbf.set_rbf_weights."""
    layers = keras.layers
    x = _window_statistics(layers, inp, cfg.rbf_spread)
    z = layers.Dense(x.shape[-1], trainable=False, name="rbf_standardise")(x)
    zz = layers.Multiply(name="rbf_square")([z, layers.Rescaling(RBF_SQUARE_SCALE,
                                                                 name="rbf_quarter")(z)])
    terms = layers.Concatenate(name="rbf_terms")([zz, z])
    d = layers.Dense(cfg.rbf_centres, activation="relu6", trainable=False,
                     name="rbf_distance")(terms)
    k = layers.Activation("exponential", name="rbf_kernel")(
        layers.Rescaling(-cfg.rbf_floor / 6.0, name="rbf_negate")(d))
    out = layers.Dense(n_classes, activation="softmax", trainable=False, name="probs")(k)
    return keras.Model(inp, out, name=name or "rbf")


def with_batch_size(model: Any, arch: str, cfg: TrainConfig, batch_size: int = 1) -> Any:
    """The same member rebuilt with a fixed batch size (for TFLite export), weights copied."""
    _, frames, dim = model.input_shape
    n_classes = model.output_shape[-1]
    fixed = build_member(arch, frames, dim, n_classes, cfg, batch_size=batch_size, name=model.name)
    fixed.set_weights(model.get_weights())
    return fixed


def count_params(model: Any) -> int:
    return int(model.count_params())
