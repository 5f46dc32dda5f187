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
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ConfigError
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


#: run.json entries a rerun into the same folder must share to reuse its finished sets
RESUME_KEYS = ("config", "corpus", "labels", "frontend", "window")


def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in dict.fromkeys([*old, *new])
                for d in _differences(old.get(k), new.get(k), f"{where}.{k}" if where else k)]
    return [] if old == new else [f"{where} {old!r} → {new!r}"]


def previous_run(out: Path, run_json: dict[str, Any], force: bool) -> dict[str, Any]:
    """The run.json already in ``out`` if this run continues it, else ``{}`` (a fresh run).

    A rerun with the same ``--out`` continues a stopped run (its finished sets are kept) only
    if it trains the same thing: same config, corpus, labels, front end and window. Anything
    else would mix two experiments in one report, so it is refused unless ``force`` (which
    deletes the old run first). A folder that is not a run folder is never deleted.
    """
    path = out / "run.json"
    if not path.is_file():
        if out.is_dir() and any(out.iterdir()):
            raise ConfigError(f"{out} exists and is not a run folder (no run.json); choose a "
                              "fresh --out")
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} is a file, not a folder")
        return {}
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        old = None
    if force:
        shutil.rmtree(out)
        return {}
    if not isinstance(old, dict) or old.get("format") != RUN_FORMAT:
        raise ConfigError(f"{path} is not an edge-ser run; use --force to replace the run or "
                          "choose a fresh --out")
    diff = [d for k in RESUME_KEYS for d in _differences(old.get(k), run_json.get(k), k)]
    if diff:
        shown = "; ".join(diff[:3]) + (f"; and {len(diff) - 3} more" if len(diff) > 3 else "")
        raise ConfigError(f"{out} holds a run with a different setup ({shown}): use --force to "
                          "start it again, or a fresh --out")
    return old


def finished(out: Path, set_name: str, scored: bool) -> bool:
    """Whether ``set_name`` was completed by an earlier run into ``out``.

    A set is finished once its set.json exists (written after its members) and, for a set
    that is scored on held-out actors, its ``results/folds/<set>.json`` (written last).
    """
    return (out / set_name / SET_FILE).is_file() and (
        not scored or (out / "results" / "folds" / f"{set_name}.json").is_file())
