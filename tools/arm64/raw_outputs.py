"""Fingerprint the raw outputs of every .tflite model in a folder (used by tools/arm64_check.sh).

Feeds each model the same 16 pseudo-random inputs (fixed seed) and prints, per model, the output
dtype, all raw output values and their SHA-256. Run it on x86 and on the emulated Pi and compare:
with QEMU_CPU pinned, int8 outputs agree bit for bit or within one int8 step (TFLite's int8 kernels
are not bit-exact across architectures, e.g. aarch64 builds use another SOFTMAX kernel,
TFLITE_SOFTMAX_USE_UINT16_LUT); gross differences mean a broken CPU emulation (the SME trap).
Needs only NumPy and ai-edge-litert (or tflite-runtime); no TensorFlow, no project code.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # 32-bit Pi OS
    from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]

RUNS = 16


def fingerprint(path: Path) -> dict[str, object]:
    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    rng = np.random.default_rng(20240601)
    digest = hashlib.sha256()
    values: list[list[float]] = []
    out_dtypes: list[str] = []
    for _ in range(RUNS):
        for d in interp.get_input_details():
            shape, dtype = tuple(d["shape"]), np.dtype(d["dtype"])
            if np.issubdtype(dtype, np.integer):
                info = np.iinfo(dtype)
                x = rng.integers(info.min, info.max + 1, size=shape, dtype=dtype)
            else:
                x = rng.standard_normal(shape).astype(dtype)
            interp.set_tensor(d["index"], x)
        interp.invoke()
        out_dtypes = []
        for d in interp.get_output_details():
            y = np.ascontiguousarray(interp.get_tensor(d["index"]))
            out_dtypes.append(str(y.dtype))
            digest.update(y.tobytes())
            values.append([float(v) for v in y.ravel()])
    return {
        "model": path.name,
        "out_dtype": ",".join(out_dtypes),
        "outputs": values,
        "sha256": digest.hexdigest(),
    }


def main() -> int:
    folder = Path(sys.argv[1])
    models = sorted(folder.glob("*.tflite"))
    if not models:
        print(f"no .tflite files in {folder}", file=sys.stderr)
        return 1
    for path in models:
        print(json.dumps(fingerprint(path), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
