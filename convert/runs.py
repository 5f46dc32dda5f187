"""Read a training run (``run.json``) or a member set (``set.json``) written by ``edge-ser train``.

The files are parsed by the same types training writes them with (:mod:`train.runs`, which
needs no TensorFlow), so every problem with the folder is reported, naming the file or
member, before the slow part starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ConfigError, ModelError
from edge.frontend.windows import normalize as device_normalize
from train.runs import RUN_FILE, SET_FILE, MemberRecord, RunInfo, SetInfo, read_json


@dataclass(frozen=True)
class Windows:
    """Feature windows of one split and kind: ``X`` un-normalised ``[n, frames, dim]``."""

    X: np.ndarray
    y: np.ndarray
    file: np.ndarray


@dataclass(frozen=True)
class MemberSet:
    """A member set: its folder, what training wrote of it (``info``: labels, front end,
    window, voting, normalisation, speakers, preprocessing, calibration, speaker
    normalisation, members; one definition, :class:`train.runs.SetInfo`) and the run's record
    above it."""

    dir: Path
    name: str
    info: SetInfo
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def members(self) -> tuple[MemberRecord, ...]:
        return self.info.members

    def member_path(self, member: MemberRecord) -> Path:
        """A member's model file (set.json names it inside the set folder)."""
        return self.dir / member.file

    @property
    def has_test(self) -> bool:
        return bool(self.info.test_actors) and all(
            (self.dir / "data" / f"test-{k}.npz").is_file() for k in self.kinds)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.feature for m in self.members))

    def windows(self, split: str, kind: str) -> Windows:
        return load_windows(self.dir / "data" / f"{split}-{kind}.npz")


#: what the device does to audio before its front end (edge/: VAD gating, no loudness
#: normalisation, no denoising, its own resampler); training should have done the same
DEVICE_PREPROCESSING: dict[str, Any] = {"vad": True, "loudness": "none", "denoise": False,
                                        "resampler": "edge"}


def preprocessing_mismatches(pre: dict[str, Any]) -> list[str]:
    """How the set's training preprocessing differs from what the device does (one line each).

    The members then see audio on the device unlike what they were trained on: accuracy
    suffers silently, so the conversion says so (and ``--strict`` refuses).
    """
    out = []
    for key, device in DEVICE_PREPROCESSING.items():
        if key in pre and pre[key] != device:
            out.append(f"training used {key} = {pre[key]!r} but the device does {device!r}")
    return out


def list_sets(run_dir: Path) -> list[str]:
    """Member sets of a run folder: those run.json lists, else every subfolder with a set.json."""
    names = RunInfo.read(run_dir).sets if (run_dir / RUN_FILE).is_file() else []
    if not names:
        names = sorted(p.parent.name for p in run_dir.glob(f"*/{SET_FILE}"))
    return [n for n in names if (run_dir / n / SET_FILE).is_file()]


def resolve_set_dir(path: str | Path, set_name: str | None = None) -> Path:
    """The set folder for ``path`` (a run or a set folder) and ``--set``.

    A run folder without ``--set`` means its ``final`` set (trained on every actor: the one
    to deploy); if there is none, the user must choose, so the error lists the sets.
    """
    p = Path(path)
    if not p.is_dir():
        raise ConfigError(f"{p} is not a folder (give a run folder written by `edge-ser train`)")
    if (p / "set.json").is_file():
        if set_name and set_name != p.name:
            raise ConfigError(
                f"{p} is a member set ({p.name}); --set {set_name} needs the run folder")
        return p
    if not (p / "run.json").is_file():
        raise ConfigError(
            f"{p} is neither a training run (no run.json) nor a member set (no set.json)")
    sets = list_sets(p)
    if not sets:
        raise ModelError(f"run {p} has no member sets (no <set>/set.json): was training finished?")
    if set_name is None:
        if "final" in sets:
            return p / "final"
        raise ConfigError(f"run {p} has no 'final' set (the one to deploy; it has "
                          f"{', '.join(sets)}): train it with `{_final_command(p)}` (finished "
                          f"folds are kept), or convert a fold with --set {sets[0]}")
    if set_name not in sets:
        raise ConfigError(f"run {p} has no set {set_name!r}; its sets are {', '.join(sets)}")
    return p / set_name


def _final_command(run_dir: Path) -> str:
    """The run's own training command with ``--final`` (a rerun trains only what is missing)."""
    import shlex

    command = RunInfo.read(run_dir).command
    if command.startswith("edge-ser train ") and "(called from Python" not in command:
        return f"{command} --final"
    return f"edge-ser train --data DATA --out {shlex.quote(str(run_dir))} --final"


def load_set(set_dir: str | Path) -> MemberSet:
    """Parse and check ``set.json`` (and run.json above it, for provenance)."""
    d = Path(set_dir)
    info = SetInfo.read(d)
    run = read_json(d.parent / RUN_FILE) if (d.parent / RUN_FILE).is_file() else {}
    return MemberSet(dir=d, name=d.name, info=info, run=run)


def load_windows(path: Path) -> Windows:
    """One ``data/<split>-<kind>.npz``: X [n, frames, dim] (float16, un-normalised), y, file."""
    if not path.is_file():
        raise ConfigError(f"{path} is missing (the set's feature windows)")
    try:
        with np.load(path, allow_pickle=False) as z:
            X, y = z["X"], z["y"]
            files = z["file"] if "file" in z.files else np.arange(len(y))
    except (KeyError, ValueError, OSError) as exc:
        raise ConfigError(f"{path} is not a windows file with X, y and file: {exc}") from None
    if X.ndim != 3 or len(X) != len(y) or len(files) != len(y):
        raise ConfigError(f"{path}: X must be [n, frames, dim] with one y and file per window, "
                          f"got X {list(X.shape)}, y {list(np.shape(y))}")
    return Windows(X, np.asarray(y, dtype=np.int64), np.asarray(files, dtype=np.int64))


def normalize(X: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Normalise windows exactly as the device does, as float32."""
    return np.asarray(device_normalize(np.asarray(X, dtype=np.float32), mean, std),
                      dtype=np.float32)
