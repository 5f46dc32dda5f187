"""Device profiles: one TOML file per kind of board (``firmware_config/*.toml``).

A profile says how to capture (device, rate, buffer), how hard to work (threads, hop) and how
to decide (smoothing, thresholds). It cannot change what the models were trained on: the
window must equal the manifest's, and the hop must be a whole number of front-end frames.
Unknown keys are refused, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.decisions import DecisionConfig
from edge.errors import ConfigError

if TYPE_CHECKING:
    from edge.manifest import Manifest

PROFILE_PACKAGE = "firmware_config"
DEVICE_LOST_ACTIONS = ("exit", "reconnect")
#: [decisions] keys older profiles had, now read from the manifest.
MOVED_TO_MANIFEST = ("min_speech_ratio", "min_speech_fraction")


@dataclass(frozen=True)
class InputConfig:
    device: str | int | None = None  # index, name substring, or None for the default input
    rate: int = 16000  # capture rate asked of the device (resampled if it must differ)
    frames_per_buffer: int = 1600  # samples per PortAudio callback (100 ms at 16 kHz)
    buffer_seconds: float = 10.0  # ring buffer between capture and the models
    on_device_lost: str = "exit"
    reconnect_seconds: float = 2.0


@dataclass(frozen=True)
class RuntimeConfig:
    num_threads: int = 1
    backend: str = "auto"
    use_xnnpack: bool = True


@dataclass(frozen=True)
class WindowConfig:
    seconds: float | None = None  # None: the manifest's window (the only allowed value)
    hop_seconds: float | None = None  # None: the manifest's hop


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    input: InputConfig = field(default_factory=InputConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    decisions: DecisionConfig = field(default_factory=DecisionConfig)

    def hop_seconds(self, manifest: Manifest) -> float:
        """The hop to run at, checked against the manifest (raises ConfigError)."""
        return check_window(self, manifest)


_SECTIONS: dict[str, type] = {
    "input": InputConfig,
    "runtime": RuntimeConfig,
    "window": WindowConfig,
    "decisions": DecisionConfig,
}
_TOP_KEYS = ("description",)


def _profile_dir() -> Path:
    """The shipped profiles' folder (a plain path: importlib.resources would pull zipfile,
    tempfile and compression modules, ~1.5 MB resident, into every `classify`)."""
    import firmware_config

    return Path(firmware_config.__file__).resolve().parent


def available_profiles() -> list[str]:
    """Names of the profiles shipped in firmware_config."""
    return sorted(p.name[:-5] for p in _profile_dir().iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_file: str | Path | None = None) -> Profile:
    """A shipped profile by name (``pi4``), or a TOML file by path; ``default`` if None."""
    spec = "default" if name_or_file is None else str(name_or_file)
    path = Path(spec)
    if spec.endswith(".toml") or path.parent != Path(".") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"profile file {path} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read profile {path}: {exc}") from None
        return parse_profile(text, name=path.stem, where=str(path))
    resource = _profile_dir() / f"{spec}.toml"
    if not resource.is_file():
        raise ConfigError(
            f"no profile named {spec!r} (shipped: {', '.join(available_profiles())}; "
            "or give a .toml file)"
        )
    return parse_profile(resource.read_text(encoding="utf-8"), name=spec, where=f"profile {spec}")


def parse_profile(text: str, name: str = "custom", where: str = "profile") -> Profile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from None
    unknown = [k for k in data if k not in _SECTIONS and k not in _TOP_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: "
                          f"{', '.join([*_TOP_KEYS, *_SECTIONS])})")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}: description must be a string")
    sections = {sec: _section(cls, data.get(sec, {}), f"{where}: [{sec}]")
                for sec, cls in _SECTIONS.items()}
    profile = Profile(name=name, description=description, **sections)
    _check_profile(profile, where)
    return profile


def _section(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in raw.items():
        if cls is DecisionConfig and key in MOVED_TO_MANIFEST:
            raise ConfigError(f"{where}: {key} is no longer a profile setting: the speech gate is "
                              "part of what the models were trained on, so it comes from their "
                              "manifest (speech.min_speech_fraction, see `edge-ser info`); "
                              "remove the line")
        if key not in fields:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(fields)})")
        _check_type(key, value, fields[key].type, where)
    kwargs = dict(raw)
    if cls is InputConfig and kwargs.get("device") == "":
        kwargs["device"] = None  # TOML has no null: "" means the default input
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _check_type(key: str, value: Any, annotation: Any, where: str) -> None:
    text = str(annotation)
    ok = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
    }
    allowed = [t.strip() for t in text.split("|") if t.strip() != "None"]
    if not any(ok[t](value) for t in allowed if t in ok):
        raise ConfigError(f"{where}: {key} must be {' or '.join(allowed)}, got {value!r}")


def _check_profile(p: Profile, where: str) -> None:
    i, r, w = p.input, p.runtime, p.window
    problems = []
    if i.rate <= 0:
        problems.append(f"[input] rate must be positive, got {i.rate}")
    if not 16 <= i.frames_per_buffer <= 65536:
        problems.append(
            f"[input] frames_per_buffer must be in 16..65536, got {i.frames_per_buffer}")
    if not i.buffer_seconds > 0:
        problems.append(f"[input] buffer_seconds must be positive, got {i.buffer_seconds}")
    if i.on_device_lost not in DEVICE_LOST_ACTIONS:
        problems.append(
            f"[input] on_device_lost must be exit or reconnect, got {i.on_device_lost!r}")
    if not i.reconnect_seconds > 0:
        problems.append("[input] reconnect_seconds must be positive")
    if isinstance(i.device, int) and i.device < 0:
        problems.append(f"[input] device index must be >= 0, got {i.device}")
    if r.num_threads < 1:
        problems.append(f"[runtime] num_threads must be >= 1, got {r.num_threads}")
    if r.backend not in ("auto", "ai_edge_litert", "tflite_runtime"):
        problems.append(f"[runtime] backend must be auto, ai_edge_litert or tflite_runtime, "
                        f"got {r.backend!r}")
    if w.seconds is not None and not w.seconds > 0:
        problems.append(f"[window] seconds must be positive, got {w.seconds}")
    if w.hop_seconds is not None and not w.hop_seconds > 0:
        problems.append(f"[window] hop_seconds must be positive, got {w.hop_seconds}")
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))


def check_window(profile: Profile, manifest: Manifest) -> float:
    """Refuse a window the models were not trained on; return the hop in seconds."""
    w, fe = profile.window, manifest.frontend
    if w.seconds is not None and not math.isclose(w.seconds, manifest.window.seconds,
                                                  rel_tol=0, abs_tol=1e-9):
        raise ConfigError(
            f"profile {profile.name!r} asks for a {w.seconds:g} s window but the models were "
            f"trained on {manifest.window.seconds:g} s windows; remove [window] seconds or set "
            f"it to {manifest.window.seconds:g}"
        )
    hop = manifest.window.hop_seconds if w.hop_seconds is None else w.hop_seconds
    frames = hop * fe.sr / fe.hop_length
    if abs(frames - round(frames)) > 1e-6 or round(frames) < 1:
        step = fe.hop_length / fe.sr
        raise ConfigError(
            f"profile {profile.name!r}: hop_seconds {hop:g} is not a multiple of the front-end "
            f"hop ({step:g} s)"
        )
    if hop > manifest.window.seconds + 1e-9:
        raise ConfigError(
            f"profile {profile.name!r}: hop_seconds {hop:g} is longer than the "
            f"{manifest.window.seconds:g} s window (audio between windows would be ignored)"
        )
    return hop
