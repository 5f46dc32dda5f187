"""The run folder: the contract between ``train/`` and ``convert/``.

::

    RUN_DIR/run.json         format "edge-ser-run" v1: config, corpus, labels, frontend, window,
                             voting, sets, command, wall_time_s
    RUN_DIR/results/         reports (tables md/json, PNGs, per-fold metrics)
    RUN_DIR/<set>/set.json   labels, frontend, window, voting, normalization {kind: {mean, std}}
                             (training actors only), members [{name, feature, file, weight, arch,
                             seed}], train_actors, val_actors, test_actors
    RUN_DIR/<set>/<member>.h5            tf_keras model, input (None|1, frames, dim) normalised
    RUN_DIR/<set>/data/<split>-<kind>.npz  X float16 [n, frames, dim] unnormalised, y, file
                             (split: train, val, test; no augmentation)

``convert/runs.py`` reads a set back (without TensorFlow or ``train``) and checks it.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edge.manifest import WindowSpec

RUN_FORMAT = "edge-ser-run"
RUN_VERSION = 1
SET_FILE = "set.json"


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (a crashed run never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def window_dict(w: WindowSpec) -> dict[str, Any]:
    return {"seconds": w.seconds, "hop_seconds": w.hop_seconds, "frames": w.frames}


def save_windows(path: Path, x: np.ndarray, y: np.ndarray, file: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"X": x.astype(np.float16), "y": y.astype(np.int64), "file": file.astype(np.int64)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    os.close(fd)
    # np.savez cannot take an array named "file" (its own first parameter): write the zip here
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, arr, allow_pickle=False)
    os.replace(tmp, path)
