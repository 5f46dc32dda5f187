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

:func:`load_set` reads a set back without TensorFlow; models are opened by the caller.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ModelError
from edge.frontend.config import FrontendConfig
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


@dataclass(frozen=True)
class SetMember:
    name: str
    feature: str
    path: Path
    weight: float
    arch: str
    seed: int
    extra: dict[str, Any]


@dataclass
class MemberSet:
    """One trained member set (a fold, or ``final``) as convert/ needs it."""

    root: Path
    name: str
    labels: tuple[str, ...]
    frontend: FrontendConfig
    window: WindowSpec
    voting: str
    normalization: dict[str, tuple[np.ndarray, np.ndarray]]
    members: tuple[SetMember, ...]
    train_actors: tuple[str, ...]
    val_actors: tuple[str, ...]
    test_actors: tuple[str, ...]

    def data_path(self, kind: str, split: str) -> Path:
        return self.root / "data" / f"{split}-{kind}.npz"

    def windows(self, kind: str, split: str = "train"
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unnormalised windows ``(X float32 [n, frames, dim], y int64, file int64)``."""
        path = self.data_path(kind, split)
        if not path.is_file():
            raise ModelError(f"set {self.name}: no {split} windows for {kind!r} ({path})")
        with np.load(path) as z:
            return z["X"].astype(np.float32), z["y"].astype(np.int64), z["file"].astype(np.int64)

    def normalized(self, kind: str, x: np.ndarray) -> np.ndarray:
        mean, std = self.normalization[kind]
        return ((x - mean) / std).astype(np.float32)


def load_set(set_dir: str | os.PathLike[str]) -> MemberSet:
    """Read ``set_dir/set.json``; check every member file exists."""
    root = Path(set_dir)
    path = root / SET_FILE
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path} is not valid JSON: {exc}") from None
    try:
        w = d["window"]
        members = tuple(
            SetMember(m["name"], m["feature"], root / m["file"], float(m.get("weight", 1.0)),
                      m.get("arch", ""), int(m.get("seed", 0)),
                      {k: v for k, v in m.items()
                       if k not in ("name", "feature", "file", "weight", "arch", "seed")})
            for m in d["members"]
        )
        ms = MemberSet(
            root=root,
            name=root.name,
            labels=tuple(d["labels"]),
            frontend=FrontendConfig.from_dict(d["frontend"]),
            window=WindowSpec(float(w["seconds"]), float(w["hop_seconds"]), int(w["frames"])),
            voting=d["voting"],
            normalization={k: (np.asarray(v["mean"], np.float32), np.asarray(v["std"], np.float32))
                           for k, v in d["normalization"].items()},
            members=members,
            train_actors=tuple(d.get("train_actors", ())),
            val_actors=tuple(d.get("val_actors", ())),
            test_actors=tuple(d.get("test_actors", ())),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path} is not a valid member set: {exc}") from None
    for m in ms.members:
        if not m.path.is_file():
            raise ModelError(f"set {ms.name}: member file {m.path} is missing")
        if m.feature not in ms.normalization:
            raise ModelError(f"set {ms.name}: no normalisation for {m.feature!r}")
    return ms


def load_run(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(run_dir) / "run.json"
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from None
    if d.get("format") != RUN_FORMAT or d.get("version") != RUN_VERSION:
        raise ModelError(f"{path} is not an {RUN_FORMAT} v{RUN_VERSION} file")
    return d


def run_sets(run_dir: str | os.PathLike[str]) -> list[MemberSet]:
    """Every member set listed in run.json, in order."""
    d = load_run(run_dir)
    return [load_set(Path(run_dir) / s) for s in d["sets"]]


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
