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

:class:`RunInfo` (run.json) and :class:`SetInfo` (set.json) are the one definition of these
files: training writes them, ``convert/runs.py`` reads them back through the same classes
(no TensorFlow needed) and checks them. ``preprocessing`` records what training did to the
audio besides the front end (VAD, loudness, denoising, resampler, the speech share a window
needs), so the conversion can check it and hand it to the device.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ConfigError, ModelError
from edge.frontend.config import FrontendConfig
from edge.fsutil import atomic_write
from edge.manifest import VOTING_RULES, WindowSpec, window_frames

RUN_FORMAT = "edge-ser-run"
RUN_VERSION = 1
RUN_FILE = "run.json"
SET_FILE = "set.json"


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (a crashed run never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=2) + "\n")


def save_windows(path: Path, x: np.ndarray, y: np.ndarray, file: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"X": x.astype(np.float16), "y": y.astype(np.int64), "file": file.astype(np.int64)}

    def write(out: Any) -> None:
        # np.savez cannot take an array named "file" (its own first parameter): zip it here
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, arr in arrays.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, arr, allow_pickle=False)

    atomic_write(path, write)


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


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or one ConfigError line naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return data


@dataclass
class RunInfo:
    """``run.json``: what a run trained, on what, how, and its summary results."""

    config: dict[str, Any]
    corpus: dict[str, Any]
    labels: list[str]
    frontend: dict[str, Any]
    window: dict[str, Any]
    voting: str
    split: str
    sets: list[str]
    preprocessing: dict[str, Any] = field(default_factory=dict)
    #: a multi-corpus run's corpora: name, root, format, files, speakers
    corpora: list[dict[str, Any]] = field(default_factory=list)
    command: str = ""
    strategy: str = "default"
    wall_time_s: float | None = None
    results: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": RUN_FORMAT, "version": RUN_VERSION,
                             **{k: getattr(self, k) for k in self.__dataclass_fields__}}
        if d["results"] is None:
            del d["results"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = RUN_FILE) -> RunInfo:
        """Lenient about what older runs lack; strict about being a run at all."""
        if d.get("format", RUN_FORMAT) != RUN_FORMAT:
            raise ConfigError(f"{where} is not an edge-ser run (format {d.get('format')!r})")
        if d.get("version", RUN_VERSION) > RUN_VERSION:
            raise ConfigError(f"{where} is run format v{d['version']}; this edge-ser reads "
                              f"v{RUN_VERSION}: update edge-ser")
        sets = d.get("sets")
        return cls(
            config=dict(d.get("config") or {}), corpus=dict(d.get("corpus") or {}),
            labels=list(d.get("labels") or []), frontend=dict(d.get("frontend") or {}),
            window=dict(d.get("window") or {}), voting=str(d.get("voting", "")),
            split=str(d.get("split", "")),
            sets=[str(n) for n in sets] if isinstance(sets, list) else [],
            preprocessing=dict(d.get("preprocessing") or {}),
            corpora=[dict(c) for c in d.get("corpora") or []],
            command=str(d.get("command", "")),
            strategy=str(d.get("strategy", "default")), wall_time_s=d.get("wall_time_s"),
            results=d.get("results"))

    def write(self, run_dir: Path) -> None:
        write_json(run_dir / RUN_FILE, self.to_dict())

    @classmethod
    def read(cls, run_dir: Path) -> RunInfo:
        return cls.from_dict(read_json(run_dir / RUN_FILE), str(run_dir / RUN_FILE))


@dataclass(frozen=True)
class MemberRecord:
    """One member as set.json lists it; ``file`` is a plain name inside the set folder."""

    name: str
    feature: str
    file: str
    weight: float = 1.0
    arch: str = ""
    seed: int | None = None
    #: training facts kept for reports (val_uar, best_epoch, params, fit_seconds)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "feature": self.feature, "file": self.file,
                "weight": self.weight, "arch": self.arch, "seed": self.seed, **self.extra}


def _floats(value: Any, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} must be a list of numbers") from None
    if arr.ndim != 1 or not arr.size or not np.isfinite(arr).all():
        raise ConfigError(f"{where} must be a non-empty list of finite numbers")
    return arr


@dataclass(frozen=True)
class SetInfo:
    """``<set>/set.json``: what a member set was trained on and how the device must feed it."""

    labels: tuple[str, ...]
    frontend: FrontendConfig
    window: WindowSpec
    voting: str
    normalization: dict[str, tuple[np.ndarray, np.ndarray]]
    members: tuple[MemberRecord, ...]
    train_actors: tuple[Any, ...] = ()
    val_actors: tuple[Any, ...] = ()
    test_actors: tuple[Any, ...] = ()
    preprocessing: dict[str, Any] = field(default_factory=dict)
    #: temperature scaling of the vote (``{"temperature", "fitted_on"}``); empty: none
    calibration: dict[str, Any] = field(default_factory=dict)
    #: ``{"mode": "mixed", "clips": K}``: members also learned speaker-normalised windows
    #: (they take an enrolled speaker's statistics); empty: global statistics only
    speaker_norm: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "frontend": self.frontend.to_dict(),
            "window": self.window.to_dict(),
            "voting": self.voting,
            "normalization": {k: {"mean": [float(v) for v in m], "std": [float(v) for v in s]}
                              for k, (m, s) in self.normalization.items()},
            "members": [m.to_dict() for m in self.members],
            "train_actors": list(self.train_actors),
            "val_actors": list(self.val_actors),
            "test_actors": list(self.test_actors),
            # absent: read from run.json (where training records it once for every set)
            **({"preprocessing": dict(self.preprocessing)} if self.preprocessing else {}),
            **({"calibration": dict(self.calibration)} if self.calibration else {}),
            **({"speaker_norm": dict(self.speaker_norm)} if self.speaker_norm else {}),
        }

    def write(self, set_dir: Path) -> None:
        write_json(set_dir / SET_FILE, self.to_dict())

    @classmethod
    def read(cls, set_dir: Path) -> SetInfo:
        """Parse and check ``set.json`` (labels, front end, window, voting and preprocessing may
        come from run.json above it) and that every member's file is there."""
        d = Path(set_dir)
        run = read_json(d.parent / RUN_FILE) if (d.parent / RUN_FILE).is_file() else {}
        info = cls.from_dict(read_json(d / SET_FILE), str(d / SET_FILE), run)
        for m in info.members:
            if not (d / m.file).is_file():
                raise ModelError(f"member {m.name!r}: model file {d / m.file} is missing")
        return info

    @classmethod
    def from_dict(cls, meta: dict[str, Any], where: str = SET_FILE,
                  run: dict[str, Any] | None = None) -> SetInfo:
        run = run or {}

        def need(key: str) -> Any:
            if key in meta:
                return meta[key]
            if key in run:
                return run[key]
            raise ConfigError(f"{where} lacks {key!r}")

        labels = need("labels")
        if not isinstance(labels, list) or not labels or not all(
                isinstance(x, str) for x in labels):
            raise ConfigError(f"{where}: labels must be a non-empty list of strings")
        try:
            frontend = FrontendConfig.from_dict(need("frontend"))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        try:
            window = WindowSpec.from_dict(need("window"), "window")
        except ModelError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        expected = window_frames(frontend, window.seconds)
        if window.frames != expected:
            raise ConfigError(f"{where}: window.frames is {window.frames} but {window.seconds} s "
                              f"at the front end's hop is {expected} frames")
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
                raise ConfigError(f"{where}: normalization[{kind!r}] needs mean and std of one "
                                  "length, std > 0")
            normalization[kind] = (mean, std)
        raw_members = meta.get("members")
        if not isinstance(raw_members, list) or not raw_members:
            raise ModelError(f"member set {Path(where).parent} lists no members ({where})")
        members = []
        for i, m in enumerate(raw_members):
            if not isinstance(m, dict) or not all(isinstance(m.get(k), str)
                                                  for k in ("name", "feature", "file")):
                raise ModelError(f"{where}: members[{i}] needs name, feature and file")
            name = m["name"]
            if Path(m["file"]).name != m["file"]:
                raise ModelError(
                    f"member {name!r}: file must be a plain file name, got {m['file']!r}")
            if m["feature"] not in normalization:
                raise ConfigError(f"member {name!r}: {where} has no normalization for its "
                                  f"feature {m['feature']!r}")
            weight = m.get("weight", 1.0)
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
                raise ConfigError(
                    f"member {name!r}: weight must be a number >= 0, got {weight!r}")
            known = ("name", "feature", "file", "weight", "arch", "seed")
            members.append(MemberRecord(name, m["feature"], m["file"], float(weight),
                                        str(m.get("arch") or ""), m.get("seed"),
                                        {k: v for k, v in m.items() if k not in known}))
        if len({m.name for m in members}) != len(members):
            raise ModelError(f"{where}: two members share a name")
        preprocessing = meta.get("preprocessing", run.get("preprocessing", {}))
        if not isinstance(preprocessing, dict):
            raise ConfigError(f"{where}: preprocessing must be an object")
        calibration = meta.get("calibration") or {}
        temperature = calibration.get("temperature", 1.0) if isinstance(calibration, dict) else 0
        if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) \
                or not 0.05 <= temperature <= 100:
            raise ConfigError(f"{where}: calibration must be {{\"temperature\": 0.05..100}}")
        speaker_norm = meta.get("speaker_norm") or {}
        if speaker_norm and not (isinstance(speaker_norm, dict)
                                 and speaker_norm.get("mode") == "mixed"
                                 and isinstance(speaker_norm.get("clips"), int)
                                 and speaker_norm["clips"] >= 1):
            raise ConfigError(f"{where}: speaker_norm must be {{\"mode\": \"mixed\", "
                              "\"clips\": K >= 1}")
        return cls(tuple(labels), frontend, window, voting, normalization, tuple(members),
                   tuple(meta.get("train_actors") or ()), tuple(meta.get("val_actors") or ()),
                   tuple(meta.get("test_actors") or ()), dict(preprocessing), dict(calibration),
                   dict(speaker_norm))
