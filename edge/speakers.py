"""Enrolled speakers: what the device keeps about a voice it lives with, and where.

A :class:`SpeakerProfile` holds *statistics only*: per feature kind the mean and standard
deviation over the speaker's speech frames (one number per feature dimension), the ensemble's
mean probabilities over the enrolment speech windows (one per label), how much speech they
came from, and the fingerprint of the models they were made for. Never audio and never
frame-level features: nothing from which speech could be reconstructed. The file's size does
not depend on how long the enrolment audio was (tests/test_speakers.py checks both).

Files live in ``$XDG_DATA_HOME/edge-ser/speakers/<name>.json`` (default
``~/.local/share/edge-ser/speakers``), the folder 0700 and each file 0600, written with the
project's one atomic writer. Loading validates everything and refuses, in one line
(:class:`~edge.errors.SpeakerError`), a file that is corrupt, truncated, foreign, of another
version or made for other models.

How a profile changes the pipeline is the manifest's ``enrolment`` section
(:class:`~edge.manifest.EnrolmentSpec`); :mod:`edge.enrol` makes profiles.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import SpeakerError
from edge.frontend.windows import MIN_STD as STATS_MIN_STD
from edge.frontend.windows import SPEAKER_MIN_STD
from edge.manifest import Manifest, sha256_bytes

SPEAKER_FORMAT = "edge-ser-speaker"
SPEAKER_VERSION = 1
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: ``--speaker auto`` picks among the enrolled speakers (edge.autospeaker): not a name.
AUTO = "auto"
#: A speaker file is a few kB; anything larger is not one.
MAX_FILE_BYTES = 256 * 1024
#: Longest statistics vector accepted (feature dims are tens to a few hundred).
MAX_DIM = 4096
#: The running fallback floors its standard deviations as speaker_statistics does.
MIN_STD = SPEAKER_MIN_STD


# ---- the models a profile is made for ------------------------------------------------------
def model_fingerprint(manifest: Manifest) -> str:
    """sha256 over what makes a profile's numbers mean something: the labels (order of the
    prior), the front end, the feature kinds with their sizes, and every member's checksum."""
    key = {"labels": list(manifest.labels), "frontend": manifest.frontend.to_dict(),
           "features": {f.kind: f.dim for _, f in sorted(manifest.features.items())},
           "members": [mb.sha256 for mb in manifest.members]}
    return sha256_bytes(json.dumps(key, sort_keys=True).encode("utf-8"))


def describe_models(manifest: Manifest) -> str:
    where = str(manifest.root) if manifest.root is not None else "models"
    return f"{where} ({model_fingerprint(manifest)[:12]})"


# ---- statistics over speech frames ------------------------------------------------------------
def new_speech_rows(x: np.ndarray, new_flags: np.ndarray) -> np.ndarray:
    """The rows of a window's assembled kind ``x`` that the window adds (its last
    ``len(new_flags)`` frames) and the VAD marks as speech (``new_flags``): each speech frame
    of a stream counted once, for the ``running`` fallback (a live stream has no whole
    recording; enrolment and training use edge.frontend.windows.speaker_statistics)."""
    flags = np.asarray(new_flags, dtype=bool)
    return x[x.shape[0] - flags.shape[0]:][flags]


class RunningMoments:
    """Exponential running mean and variance per kind over speech frames (the ``running``
    fallback): time constant ``tau_frames`` frames of speech, started from the manifest's
    statistics so the first windows are normalised as without it."""

    def __init__(self, start: Mapping[str, tuple[np.ndarray, np.ndarray]], tau_frames: float
                 ) -> None:
        self.alpha = 1.0 - math.exp(-1.0 / max(tau_frames, 1.0))
        self.start = {k: (np.asarray(m, np.float64), np.asarray(s, np.float64))
                      for k, (m, s) in start.items()}
        self.reset()

    def reset(self) -> None:
        self.m1 = {k: m.copy() for k, (m, _) in self.start.items()}
        self.m2 = {k: s * s + m * m for k, (m, s) in self.start.items()}
        self._stats = {k: (np.asarray(m, np.float32), np.asarray(s, np.float32))
                       for k, (m, s) in self.start.items()}

    def add(self, kind: str, rows: np.ndarray) -> None:
        n = rows.shape[0]
        if n == 0:
            return
        a = self.alpha
        w = a * (1.0 - a) ** np.arange(n - 1, -1, -1, dtype=np.float64)  # newest weighs most
        keep = (1.0 - a) ** n
        x = np.asarray(rows, dtype=np.float64)
        m1 = keep * self.m1[kind] + w @ x
        m2 = keep * self.m2[kind] + w @ (x * x)
        self.m1[kind], self.m2[kind] = m1, m2
        std = np.maximum(np.sqrt(np.maximum(m2 - m1 * m1, 0.0)), MIN_STD)
        self._stats[kind] = (m1.astype(np.float32), std.astype(np.float32))

    def stats(self, kind: str) -> tuple[np.ndarray, np.ndarray]:
        return self._stats[kind]


# ---- the profile ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeatureStats:
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class SpeakerProfile:
    """One enrolled speaker: statistics only (see the module docstring)."""

    name: str
    fingerprint: str  # model_fingerprint() of the models it was made for
    models: str  # describe_models() at enrolment, for messages
    labels: tuple[str, ...]
    created: str  # UTC ISO 8601
    speech_seconds: float
    speech_frames: int
    features: dict[str, FeatureStats]
    prior: tuple[float, ...]  # the ensemble's mean probabilities over the speech windows
    version: int = SPEAKER_VERSION

    def fits(self, manifest: Manifest) -> bool:
        return self.fingerprint == model_fingerprint(manifest)

    def check_fits(self, manifest: Manifest) -> None:
        if not self.fits(manifest):
            raise SpeakerError(
                f"speaker {self.name!r} was enrolled with other models ({self.models}), not "
                f"with {describe_models(manifest)}: enrol again with these models")

    def stats(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {k: (np.asarray(f.mean, np.float32), np.asarray(f.std, np.float32))
                for k, f in self.features.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"format": SPEAKER_FORMAT, "version": self.version, "name": self.name,
                "created": self.created,
                "models": {"fingerprint": self.fingerprint, "described": self.models,
                           "labels": list(self.labels)},
                "speech_seconds": round(self.speech_seconds, 3),
                "speech_frames": self.speech_frames,
                "features": {k: {"mean": [_f32(v) for v in f.mean],
                                 "std": [_f32(v) for v in f.std]}
                             for k, f in self.features.items()},
                "prior": [_f32(v) for v in self.prior]}


def _f32(v: float) -> float:
    """A float32 value as the shortest JSON number that reads back as the same float32."""
    return float(np.format_float_positional(np.float32(v), unique=True, trim="-"))


def now_utc() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def profile_from_dict(d: Any, name: str) -> SpeakerProfile:
    """Parse and validate a speaker file's JSON; raise SpeakerError naming the problem."""
    def bad(why: str) -> SpeakerError:
        return SpeakerError(f"speaker file for {name!r} is invalid: {why}")

    if not isinstance(d, dict) or d.get("format") != SPEAKER_FORMAT:
        raise SpeakerError(f"speaker file for {name!r} is not an edge-ser speaker file")
    if d.get("version") != SPEAKER_VERSION:
        raise SpeakerError(f"speaker file for {name!r} has version {d.get('version')!r}; this "
                           f"edge-ser reads version {SPEAKER_VERSION}: enrol {name!r} again")
    if d.get("name") != name:
        raise bad(f"it names speaker {d.get('name')!r}")
    models = d.get("models")
    if not isinstance(models, dict):
        raise bad("no models section")
    fp, described, labels = (models.get(k) for k in ("fingerprint", "described", "labels"))
    if not (isinstance(fp, str) and re.fullmatch(r"[0-9a-f]{64}", fp)):
        raise bad("models.fingerprint is not a sha256")
    if not isinstance(described, str) or len(described) > 4096:
        raise bad("models.described is not a string")
    if (not isinstance(labels, list) or not 0 < len(labels) <= MAX_DIM
            or not all(isinstance(x, str) and x for x in labels)):
        raise bad("models.labels is not a list of names")
    created = d.get("created")
    try:
        datetime.fromisoformat(str(created).replace("Z", "+00:00"))
    except ValueError:
        raise bad("created is not an ISO date") from None
    seconds, frames = d.get("speech_seconds"), d.get("speech_frames")
    if not _number(seconds) or not 0 < seconds < 1e7:
        raise bad("speech_seconds must be a positive number")
    if not isinstance(frames, int) or isinstance(frames, bool) or not 0 < frames < 10**10:
        raise bad("speech_frames must be a positive integer")
    feats = d.get("features")
    if not isinstance(feats, dict) or not feats:
        raise bad("no feature statistics")
    features = {}
    for kind, fd in feats.items():
        if not isinstance(fd, dict):
            raise bad(f"features[{kind!r}] is not an object")
        mean, std = _vector(fd.get("mean")), _vector(fd.get("std"))
        if mean is None or std is None or len(mean) != len(std):
            raise bad(f"features[{kind!r}] needs mean and std of equal length, finite numbers")
        if not all(s >= STATS_MIN_STD for s in std):
            raise bad(f"features[{kind!r}].std must be positive (at least {STATS_MIN_STD:g})")
        features[str(kind)] = FeatureStats(mean, std)
    prior = _vector(d.get("prior"))
    if prior is None or len(prior) != len(labels) or min(prior) < 0 or not (
            0.99 <= sum(prior) <= 1.01):
        raise bad("prior must be one probability per label, summing to 1")
    return SpeakerProfile(name, fp, described, tuple(labels), str(created), float(seconds),
                          frames, features, prior)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _vector(v: Any) -> tuple[float, ...] | None:
    if (not isinstance(v, list) or not 0 < len(v) <= MAX_DIM
            or not all(_number(x) and abs(x) <= 3.4e38 for x in v)):
        return None
    return tuple(float(x) for x in v)


# ---- storage ------------------------------------------------------------------------------------
def speakers_dir() -> Path:
    """``$XDG_DATA_HOME/edge-ser/speakers`` (an unset or relative XDG_DATA_HOME is ignored, as
    the XDG spec says), else ``~/.local/share/edge-ser/speakers``."""
    base = os.environ.get("XDG_DATA_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "share"
    return root / "edge-ser" / "speakers"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise SpeakerError(f"speaker name {name!r} is not allowed: use 1-64 letters, digits, "
                           "'_', '.' or '-', starting with a letter or digit")
    if name == AUTO:
        raise SpeakerError(f"speaker name {AUTO!r} is reserved for `--speaker {AUTO}`: "
                           "choose another name")
    return name


def speaker_path(name: str, folder: Path | None = None) -> Path:
    return (folder or speakers_dir()) / f"{check_name(name)}.json"


def save_profile(profile: SpeakerProfile, folder: Path | None = None) -> Path:
    """Write ``<name>.json`` (0600) atomically into the speakers folder (created 0700)."""
    from edge.fsutil import atomic_write

    path = speaker_path(profile.name, folder)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)  # also when it existed with a looser mode
        return atomic_write(path, json.dumps(profile.to_dict(), indent=1) + "\n", 0o600)
    except OSError as exc:
        raise SpeakerError(f"cannot write {path}: {exc.strerror or exc}") from None


def load_profile(name: str, folder: Path | None = None) -> SpeakerProfile:
    """Read and validate one speaker's file (SpeakerError: missing, corrupt, foreign, ...)."""
    path = speaker_path(name, folder)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SpeakerError(f"{path} is too large to be a speaker file")
        raw = path.read_bytes()
    except FileNotFoundError:
        known = list_names(path.parent)
        hint = f" (enrolled: {', '.join(known)})" if known else " (nobody is enrolled)"
        raise SpeakerError(f"no speaker named {name!r}{hint}: "
                           f"`edge-ser enrol {name} FILE...` enrols one") from None
    except OSError as exc:
        raise SpeakerError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise SpeakerError(f"{path} is corrupt or truncated (not valid JSON): enrol {name!r} "
                           "again or remove it") from None
    return profile_from_dict(data, name)


def load_for(name: str, manifest: Manifest, folder: Path | None = None) -> SpeakerProfile:
    """A speaker's profile, refused unless it was made for these models."""
    profile = load_profile(name, folder)
    profile.check_fits(manifest)
    return profile


def load_all_for(manifest: Manifest, folder: Path | None = None,
                 warn: Callable[[str], None] | None = None) -> list[SpeakerProfile]:
    """Every enrolled profile made for these models (``--speaker auto`` picks among them).
    Profiles of other models are left out; an unreadable file is left out with a ``warn``.
    SpeakerError when none is left."""
    folder = folder or speakers_dir()
    fitting, other = [], []
    for name in list_names(folder):
        try:
            p = load_profile(name, folder)
        except SpeakerError as exc:
            if warn is not None:
                warn(f"--speaker {AUTO} leaves out {name}: {exc}")
            continue
        (fitting if p.fits(manifest) else other).append(p)
    if not fitting:
        why = (f"{', '.join(p.name for p in other)} were enrolled with other models"
               if other else f"nobody is enrolled (in {folder})")
        raise SpeakerError(f"--speaker {AUTO}: no enrolled speaker fits "
                           f"{describe_models(manifest)}: {why}; `edge-ser enrol NAME FILE...` "
                           "enrols one with these models")
    return fitting


def list_names(folder: Path | None = None) -> list[str]:
    folder = folder or speakers_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if NAME_RE.fullmatch(p.stem))


def remove_profile(name: str, folder: Path | None = None) -> Path:
    """Delete a speaker's file and any temporary file a crashed write left beside it."""
    path = speaker_path(name, folder)
    if not path.exists():
        load_profile(name, folder)  # raises the "no speaker named" error
    leftovers = list(path.parent.glob(f".{path.name}.*.tmp"))
    try:
        for p in [path, *leftovers]:
            p.unlink(missing_ok=True)
    except OSError as exc:
        raise SpeakerError(f"cannot remove {path}: {exc.strerror or exc}") from None
    return path
