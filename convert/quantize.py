"""Keras member → TFLite flatbuffer (int8, dynamic-range or float32).

* The model is rebuilt with the batch size fixed to 1: with a free batch dimension the
  converter cannot lower the Keras LSTM to the fused UNIDIRECTIONAL_SEQUENCE_LSTM op.
* int8 is full-integer (int8 input and output): the Pi's interpreter then runs integer
  kernels end to end and the device quantizes the normalised window itself with the input
  scale/zero point that the manifest records.
* The representative windows are normalised exactly as the device normalises them, or the
  calibrated ranges (and so every scale) would be wrong.
* ``unroll`` rebuilds recurrent layers with ``unroll=True``: the LSTM becomes plain
  FULLY_CONNECTED/elementwise ops per time step (no hidden state between invocations, larger
  file); ``benchmarks/convert_unroll.py`` measures both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from convert.tfenv import import_tf
from edge.errors import ConfigError, ModelError

MODES = ("int8", "dynamic", "float32")
#: Fused or unrolled LSTM when the user does not say; chosen by benchmarks/convert_unroll.py.
#: On the default cnn_lstm (27k params, 300×40 input, 1 thread, x86): fused 39 KB, 0.32 ms per
#: 3 s window; unrolled 139 KB (3.5×), 0.07 ms. Both are < 0.1 % of the 0.5 s hop, so size
#: decides: fused keeps a 5-member ensemble near 200 KB instead of 700 KB of the 1 MB budget.
#: Its state is reset before every window by edge.interpreter.MemberModel.predict (tested).
DEFAULT_UNROLL = False


@dataclass(frozen=True)
class QuantizeOptions:
    mode: str = "int8"
    unroll: bool = False
    representative: int = 300  # windows used to calibrate int8 ranges
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.representative < 1:
            raise ConfigError("--representative must be at least 1 window")


def input_frames_dim(model: Any, member: str) -> tuple[int, int]:
    """``(frames, dim)`` of a member's single input, or ModelError naming the member."""
    shape = model.input_shape
    if isinstance(shape, list) or len(shape) != 3 or shape[1] is None or shape[2] is None:
        raise ModelError(f"member {member!r}: input must be one [batch, frames, dim] tensor with "
                         f"fixed frames and dim, got {shape}")
    return int(shape[1]), int(shape[2])


def check_windows(windows: np.ndarray, frames: int, dim: int, member: str, what: str) -> None:
    """Refuse windows that do not fit the member (wrong kind, window length or front end)."""
    if windows.ndim != 3 or windows.shape[1:] != (frames, dim):
        raise ConfigError(
            f"member {member!r}: {what} windows are {list(windows.shape)} but the model takes "
            f"[n, {frames}, {dim}] (wrong feature kind, window length or front end?)")
    if not len(windows):
        raise ConfigError(f"member {member!r}: no {what} windows")


def fixed_batch(model: Any, unroll: bool = False) -> Any:
    """A copy of ``model`` with batch size 1 (and unrolled RNNs if asked); weights copied."""
    _, keras = import_tf()
    frames, dim = input_frames_dim(model, model.name)

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if unroll and "unroll" in config:
            config["unroll"] = True
        elif unroll and isinstance(config.get("layer"), dict) and "unroll" in config["layer"].get(
                "config", {}):  # Bidirectional / TimeDistributed wrappers
            config["layer"]["config"]["unroll"] = True
        return layer.__class__.from_config(config)

    inp = keras.Input(batch_shape=(1, frames, dim), name=model.input_names[0])
    fixed = keras.models.clone_model(model, input_tensors=inp, clone_function=clone)
    fixed.set_weights(model.get_weights())
    return fixed


def representative_sample(windows: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A seeded sample of at most ``n`` (already normalised) windows."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(windows), size=min(n, len(windows)), replace=False))
    return np.asarray(windows[idx], dtype=np.float32)


def to_tflite(model: Any, representative: np.ndarray | None, opts: QuantizeOptions) -> bytes:
    """Convert a (batch-1) Keras model; ``representative`` is needed for int8."""
    tf, _ = import_tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if opts.mode in ("int8", "dynamic"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if opts.mode == "int8":
        if representative is None or not len(representative):
            raise ConfigError("int8 conversion needs representative windows")
        sample = np.asarray(representative, dtype=np.float32)

        def windows() -> Iterator[list[np.ndarray]]:
            for w in sample:
                yield [w[None]]

        converter.representative_dataset = windows
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return bytes(converter.convert())
