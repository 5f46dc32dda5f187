"""Read a training run (``run.json``) or a member set (``set.json``) written by ``edge-ser train``.

Reads the files directly (no TensorFlow, no ``train`` import) so that every problem with
the folder is reported, naming the file or member, before the slow part starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ConfigError, ModelError
from edge.frontend.config import FrontendConfig
from edge.frontend.windows import normalize as device_normalize
from edge.manifest import VOTING_RULES, WindowSpec, window_frames


@dataclass(frozen=True)
class MemberSource:
    """One trained member as the set lists it."""

    name: str
    feature: str
    path: Path
    weight: float = 1.0
    arch: str = ""
    seed: int | None = None


@dataclass(frozen=True)
class Windows:
    """Feature windows of one split and kind: ``X`` un-normalised ``[n, frames, dim]``."""

    X: np.ndarray
    y: np.ndarray
    file: np.ndarray


@dataclass(frozen=True)
class MemberSet:
    """A member set: what the members were trained on and how the device must feed them."""

    dir: Path
    name: str
    labels: tuple[str, ...]
    frontend: FrontendConfig
    window: WindowSpec
    voting: str
    normalization: dict[str, tuple[np.ndarray, np.ndarray]]
    members: tuple[MemberSource, ...]
    train_actors: tuple[Any, ...] = ()
    val_actors: tuple[Any, ...] = ()
    test_actors: tuple[Any, ...] = ()
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def has_test(self) -> bool:
        return bool(self.test_actors) and all(
            (self.dir / "data" / f"test-{k}.npz").is_file() for k in self.kinds)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.feature for m in self.members))

    def windows(self, split: str, kind: str) -> Windows:
        return load_windows(self.dir / "data" / f"{split}-{kind}.npz")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return data


def list_sets(run_dir: Path) -> list[str]:
    """Member sets of a run folder: those run.json lists, else every subfolder with a set.json."""
    run = _read_json(run_dir / "run.json") if (run_dir / "run.json").is_file() else {}
    names = run.get("sets")
    if not isinstance(names, list) or not names:
        names = sorted(p.parent.name for p in run_dir.glob("*/set.json"))
    return [str(n) for n in names if (run_dir / str(n) / "set.json").is_file()]


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

    command = str(_read_json(run_dir / "run.json").get("command", ""))
    if command.startswith("edge-ser train ") and "(called from Python" not in command:
        return f"{command} --final"
    return f"edge-ser train --data DATA --out {shlex.quote(str(run_dir))} --final"


def _floats(value: Any, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a list of numbers") from None
    if arr.ndim != 1 or not arr.size or not np.isfinite(arr).all():
        raise ConfigError(f"{where} must be a non-empty list of finite numbers")
    return arr


def load_set(set_dir: str | Path) -> MemberSet:
    """Parse and check ``set.json`` (and run.json above it, for provenance)."""
    d = Path(set_dir)
    meta = _read_json(d / "set.json")
    where = f"{d / 'set.json'}"
    run = _read_json(d.parent / "run.json") if (d.parent / "run.json").is_file() else {}

    def need(key: str) -> Any:
        if key in meta:
            return meta[key]
        if key in run:  # labels, frontend, window and voting may live only in run.json
            return run[key]
        raise ConfigError(f"{where} lacks {key!r}")

    labels = need("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ConfigError(f"{where}: labels must be a non-empty list of strings")
    try:
        frontend = FrontendConfig.from_dict(need("frontend"))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    w = need("window")
    try:
        window = WindowSpec(float(w["seconds"]), float(w["hop_seconds"]), int(w["frames"]))
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"{where}: window needs seconds, hop_seconds and frames") from None
    expected = window_frames(frontend, window.seconds)
    if window.frames != expected:
        raise ConfigError(f"{where}: window.frames is {window.frames} but {window.seconds} s at "
                          f"the front end's hop is {expected} frames")
    voting = need("voting")
    if voting not in VOTING_RULES:
        raise ConfigError(
            f"{where}: voting must be one of {', '.join(VOTING_RULES)}, got {voting!r}")
    norm_raw = meta.get("normalization")
    if not isinstance(norm_raw, dict):
        raise ConfigError(f"{where} lacks 'normalization' (mean/std per feature kind)")
    normalization = {}
    for kind, stats in norm_raw.items():
        if not isinstance(stats, dict):
            raise ConfigError(
                f"{where}: normalization[{kind!r}] must be an object with mean and std")
        mean = _floats(stats.get("mean"), f"{where}: normalization[{kind!r}].mean")
        std = _floats(stats.get("std"), f"{where}: normalization[{kind!r}].std")
        if mean.shape != std.shape or (std <= 0).any():
            raise ConfigError(f"{where}: normalization[{kind!r}] needs mean and std of one length, "
                              "std > 0")
        normalization[kind] = (mean, std)
    raw_members = meta.get("members")
    if not isinstance(raw_members, list) or not raw_members:
        raise ModelError(f"member set {d} lists no members ({where})")
    members = []
    for i, m in enumerate(raw_members):
        if not isinstance(m, dict) or not all(isinstance(m.get(k), str) for k in ("name", "feature",
                                                                                  "file")):
            raise ModelError(f"{where}: members[{i}] needs name, feature and file")
        name = m["name"]
        path = d / m["file"]
        if Path(m["file"]).name != m["file"]:
            raise ModelError(f"member {name!r}: file must be a plain file name, got {m['file']!r}")
        if not path.is_file():
            raise ModelError(f"member {name!r}: model file {path} is missing")
        if m["feature"] not in normalization:
            raise ConfigError(f"member {name!r}: {where} has no normalization for its feature "
                              f"{m['feature']!r}")
        weight = m.get("weight", 1.0)
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
            raise ConfigError(f"member {name!r}: weight must be a number >= 0, got {weight!r}")
        members.append(MemberSource(name, m["feature"], path, float(weight), str(m.get("arch", "")),
                                    m.get("seed")))
    if len({m.name for m in members}) != len(members):
        raise ModelError(f"{where}: two members share a name")
    return MemberSet(
        dir=d, name=d.name, labels=tuple(labels), frontend=frontend, window=window,
        voting=voting, normalization=normalization, members=tuple(members),
        train_actors=tuple(meta.get("train_actors") or ()),
        val_actors=tuple(meta.get("val_actors") or ()),
        test_actors=tuple(meta.get("test_actors") or ()), run=run,
    )


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
