"""Fused vs unrolled LSTM in an int8 member: latency per window and file size.

Why: the fused UNIDIRECTIONAL_SEQUENCE_LSTM op keeps state between invocations (the
runtime must reset it before every window) and runs its time steps in one kernel; the
unrolled LSTM is stateless plain ops, one set per time step, in a larger file. Which one
``edge-ser convert`` uses by default (``convert.quantize.DEFAULT_UNROLL``) is decided here.

    python benchmarks/convert_unroll.py                      # the default cnn_lstm member
    python benchmarks/convert_unroll.py --member run/final/m1.h5 --windows 300

Without ``--member`` it builds the training code's default ``cnn_lstm`` (train/members.py,
default config: 3 s windows of 300 frames × 40 MFCC, 8 classes) with random weights:
latency and size do not depend on what the weights learned. Times are for one interpreter
thread, as on the device, with and without the XNNPACK delegate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _member(args: argparse.Namespace, keras: Any) -> Any:
    if args.member:
        return keras.models.load_model(args.member, compile=False)
    from train.config import TrainConfig
    from train.members import build_member

    return build_member("cnn_lstm", args.frames, args.dim, 8, TrainConfig())


def _time(runner: Any, windows: np.ndarray, repeats: int) -> dict[str, float]:
    for w in windows[:5]:
        runner.predict(w)  # warm-up
    per: list[float] = []
    for _ in range(repeats):
        for w in windows:
            t0 = time.perf_counter()
            runner.predict(w)
            per.append(time.perf_counter() - t0)
    per.sort()
    return {"median_ms": 1e3 * statistics.median(per), "p90_ms": 1e3 * per[int(0.9 * len(per))]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--member", type=Path, help="a trained member (.h5); default: built here")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--dim", type=int, default=40)
    ap.add_argument("--windows", type=int, default=100, help="windows timed per repeat")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from convert.quantize import QuantizeOptions, fixed_batch, to_tflite
    from convert.tfenv import held_stderr, import_tf
    from convert.tflite_ops import read_ops, unsupported
    from convert.verify import gzip_size
    from edge.interpreter import MemberModel

    with held_stderr():
        _, keras = import_tf()
        model = _member(args, keras)
    _, frames, dim = model.input_shape
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(args.windows, frames, dim)).astype(np.float32)
    results: dict[str, Any] = {"member": str(args.member or "train.members cnn_lstm (default)"),
                               "input": [1, frames, dim], "params": int(model.count_params())}
    probs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for unroll in (False, True):
            key = "unrolled" if unroll else "fused"
            t0 = time.perf_counter()
            with held_stderr():
                data = to_tflite(fixed_batch(model, unroll=unroll), windows,
                                 QuantizeOptions(unroll=unroll))
            convert_s = time.perf_counter() - t0
            path = Path(tmp) / f"{key}.tflite"
            path.write_bytes(data)
            ops = read_ops(data)
            entry: dict[str, Any] = {
                "bytes": len(data), "gzip_bytes": gzip_size(data), "convert_s": round(convert_s, 1),
                "nodes": sum(u.count for u in ops), "tflite_runtime_2_14": unsupported(ops) or "ok"}
            for xnn in (True, False):
                runner = MemberModel(path, num_threads=1, use_xnnpack=xnn)
                entry["xnnpack" if xnn else "builtin"] = _time(runner, windows, args.repeats)
            probs[key] = np.stack([runner.predict(w) for w in windows])
            results[key] = entry
            print(f"{key}: {json.dumps(entry)}", file=sys.stderr)
    results["agreement_fused_vs_unrolled"] = float(
        np.mean(probs["fused"].argmax(1) == probs["unrolled"].argmax(1)))
    f, u = results["fused"], results["unrolled"]
    results["size_ratio_unrolled_over_fused"] = round(u["bytes"] / f["bytes"], 2)
    speedup = f["xnnpack"]["median_ms"] / u["xnnpack"]["median_ms"]
    results["speedup_unrolled_xnnpack"] = round(speedup, 2)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
