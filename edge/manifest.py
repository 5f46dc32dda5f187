"""The model manifest: the one contract between ``convert/`` and the device.

``manifest.json`` sits beside the member ``.tflite`` files and says everything the runtime
needs: labels, front-end config, window, per-feature normalisation (fitted on training
speakers only), and per member its file, checksum, feature kind, tensor shapes, dtypes,
quantization and voting weight. :func:`load_manifest` validates all of it and verifies
every checksum before any model is opened; nothing else is trusted.

Optional sections say how training treated the audio, so the device does the same instead of
trusting code defaults: ``speech`` (VAD thresholds, the speech gate ``min_speech_fraction``,
the no-speech policy of whole files), ``preprocessing`` (loudness, denoising, resampler; the
device refuses what it cannot reproduce) and ``training`` (corpora and speakers the members
learnt from, so ``evaluate`` can flag optimistic scores), ``calibration`` (temperature) and
``enrolment`` (how an enrolled speaker's profile is applied, :class:`EnrolmentSpec`). Absent
sections mean today's defaults,
so older manifests load unchanged. Each section is a dataclass with ``to_dict``/``from_dict``
registered in :data:`SECTIONS`: a new section is one class and one line there.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, ModelError
from edge.frontend.config import FrontendConfig
from edge.frontend.kinds import feature_dim
from edge.frontend.vad import VadConfig, speech_gate
from edge.frontend.windows import MIN_STD, WINDOW_FILLS, window_frames

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "edge-ser-manifest"
MANIFEST_VERSION = 1
VOTING_RULES = ("hard", "soft", "weighted")
TENSOR_DTYPES = ("int8", "uint8", "int16", "float32")
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # a member larger than this is not an edge model
FLOAT32_MAX = 3.4028234663852886e38
#: Decision states (edge.decisions SILENCE, UNCERTAIN): a model label cannot be one of them.
RESERVED_LABELS = ("silence", "uncertain")


@dataclass(frozen=True)
class Quantization:
    """Affine quantization ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: str
    quantization: Quantization | None = None


def check_fill(fill: str, what: str) -> None:
    """A window fill the device knows (:data:`WINDOW_FILLS`), else ModelError naming ``what``."""
    if fill not in WINDOW_FILLS:
        raise ModelError(f"{what} must be one of {', '.join(WINDOW_FILLS)}, got {fill!r}")


@dataclass(frozen=True)
class FeatureSpec:
    """A feature stream as members see it: the front end's ``kind``, its size per frame, its
    normalisation statistics and, when it differs from the manifest's window, its own ``fill``
    (None: the window's). Members name a stream by its key in ``manifest.features``, which is
    the kind itself unless one ensemble holds members that saw the same kind two ways (members
    of several runs, ``edge-ser merge``)."""

    kind: str
    dim: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    fill: str | None = None

    def to_dict(self, key: str) -> dict[str, Any]:
        return {**({"kind": self.kind} if self.kind != key else {}),
                **({"fill": self.fill} if self.fill is not None else {}),
                "dim": self.dim, "mean": list(self.mean), "std": list(self.std)}


@dataclass(frozen=True)
class WindowSpec:
    """The analysis window a member classifies, and how far it moves between decisions;
    ``fill``: what its non-speech frames hold (:data:`WINDOW_FILLS`; absent means ``none``)."""

    seconds: float
    hop_seconds: float
    frames: int
    fill: str = "none"

    def __post_init__(self) -> None:
        check_fill(self.fill, "window.fill")

    @classmethod
    def from_dict(cls, w: Any, where: str) -> WindowSpec:
        """The window as a manifest or a run folder's set.json writes it (:meth:`to_dict`)."""
        return cls(float(_req(w, "seconds", float, where)),
                   float(_req(w, "hop_seconds", float, where)),
                   int(_req(w, "frames", int, where)),
                   str(_req(w, "fill", str, where)) if "fill" in w else "none")

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "hop_seconds": self.hop_seconds, "frames": self.frames,
                **({"fill": self.fill} if self.fill != "none" else {})}


# ---- optional sections ------------------------------------------------------------------
#: How a whole file with no speech window is scored (its label is ``silence`` either way):
#: ``all_windows`` averages every window (the device's behaviour before this was recorded);
#: ``best_window`` takes the window with the most speech (what training keeps of such a file).
NO_SPEECH_POLICIES = ("all_windows", "best_window")
_VAD_FIELDS = tuple(f for f in VadConfig.__dataclass_fields__ if f != "min_speech_fraction")


def _number_fields(raw: Any, names: tuple[str, ...], where: str) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise ModelError(f"{where} must be a JSON object")
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ModelError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(names)})")
    return {k: _finite(_req(raw, k, float, where), f"{where}.{k}") for k in raw}


@dataclass(frozen=True)
class SpeechSpec:
    """What counts as speech, as in training: the VAD's thresholds, the gate (a window is
    classified when at least ``min_speech_fraction`` of its frames are speech) and what a
    file without any such window is scored as (``no_speech``, see NO_SPEECH_POLICIES).
    ``level_dbfs``: where the training corpora's speech sits (edge.level's measure, low and
    high of the corpora's medians); ``listen`` says when the microphone is far from it."""

    vad: VadConfig = field(default_factory=VadConfig)
    no_speech: str = "all_windows"
    level_dbfs: tuple[float, float] | None = None

    @property
    def min_speech_fraction(self) -> float:
        return self.vad.min_speech_fraction

    def gate(self, speech_ratio: float) -> bool:
        """Is a window with this share of speech frames classified?"""
        return speech_gate(speech_ratio, self.vad.min_speech_fraction)

    def to_dict(self) -> dict[str, Any]:
        vad = {k: getattr(self.vad, k) for k in _VAD_FIELDS}
        out = {"min_speech_fraction": self.vad.min_speech_fraction,
               "no_speech": self.no_speech, "vad": vad}
        if self.level_dbfs is not None:
            out["level_dbfs"] = list(self.level_dbfs)
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "manifest.speech") -> SpeechSpec:
        if not isinstance(d, dict):
            raise ModelError(f"{where} must be a JSON object")
        unknown = sorted(set(d) - {"min_speech_fraction", "no_speech", "vad", "level_dbfs"})
        if unknown:
            raise ModelError(f"{where}: unknown key {unknown[0]!r}")
        vad = _number_fields(d.get("vad", {}), _VAD_FIELDS, f"{where}.vad")
        if "min_speech_fraction" in d:
            vad["min_speech_fraction"] = _finite(
                _req(d, "min_speech_fraction", float, where), f"{where}.min_speech_fraction")
        no_speech = _req(d, "no_speech", str, where) if "no_speech" in d else "all_windows"
        if no_speech not in NO_SPEECH_POLICIES:
            raise ModelError(f"{where}.no_speech must be one of {', '.join(NO_SPEECH_POLICIES)}, "
                             f"got {no_speech!r}")
        level = None
        if "level_dbfs" in d:
            raw = _req(d, "level_dbfs", list, where)
            level = tuple(_finite(v, f"{where}.level_dbfs") for v in raw)
        try:
            return cls(VadConfig(**vad), no_speech, level)  # type: ignore[arg-type]
        except ConfigError as exc:
            raise ModelError(f"{where}: {exc}") from None


#: What the device can do to its input before the front end (training must have done no more).
DEVICE_LOUDNESS = ("none",)
DEVICE_RESAMPLERS = ("edge", "librosa")  # librosa's soxr_hq and edge's are both band-limited


@dataclass(frozen=True)
class PreprocessingSpec:
    """What training did to the waveform before the front end (train/preprocess.py)."""

    loudness: str = "none"  # none | rms | peak
    target_dbfs: float | None = None
    denoise: bool = False
    resampler: str = "edge"

    def to_dict(self) -> dict[str, Any]:
        return {"loudness": self.loudness, "target_dbfs": self.target_dbfs,
                "denoise": self.denoise, "resampler": self.resampler}

    @classmethod
    def from_dict(cls, d: Any, where: str = "manifest.preprocessing") -> PreprocessingSpec:
        if not isinstance(d, dict):
            raise ModelError(f"{where} must be a JSON object")
        unknown = sorted(set(d) - {"loudness", "target_dbfs", "denoise", "resampler"})
        if unknown:
            raise ModelError(f"{where}: unknown key {unknown[0]!r}")
        target = d.get("target_dbfs")
        return cls(
            loudness=_req(d, "loudness", str, where) if "loudness" in d else "none",
            target_dbfs=None if target is None else _finite(target, f"{where}.target_dbfs"),
            denoise=_req(d, "denoise", bool, where) if "denoise" in d else False,
            resampler=_req(d, "resampler", str, where) if "resampler" in d else "edge",
        )

    def unsupported(self) -> list[str]:
        """What this runtime cannot reproduce (empty: the device input matches training)."""
        out = []
        if self.loudness not in DEVICE_LOUDNESS:
            out.append(f"loudness normalisation {self.loudness!r}")
        if self.denoise:
            out.append("denoising")
        if self.resampler not in DEVICE_RESAMPLERS:
            out.append(f"resampler {self.resampler!r}")
        return out


@dataclass(frozen=True)
class TrainingCorpus:
    """One corpus the members learnt from and the speakers of it they heard (training and
    validation speakers alike: any of them makes a score optimistic)."""

    name: str  # edge.corpora format name: ravdess, tess, crema-d, ...
    speakers: tuple[str, ...]


@dataclass(frozen=True)
class TrainingSpec:
    corpora: tuple[TrainingCorpus, ...] = ()

    def speaker_set(self) -> frozenset[tuple[str, str]]:
        """``(corpus, speaker)`` pairs; speaker ids are only unique within a corpus."""
        return frozenset((c.name, s) for c in self.corpora for s in c.speakers)

    def describe(self) -> str:
        return "; ".join(f"{c.name} ({len(c.speakers)} speakers: {_span(c.speakers)})"
                         for c in self.corpora) or "not recorded"

    def to_dict(self) -> dict[str, Any]:
        return {"corpora": [{"name": c.name, "speakers": list(c.speakers)}
                            for c in self.corpora]}

    @classmethod
    def from_dict(cls, d: Any, where: str = "manifest.training") -> TrainingSpec:
        corpora = []
        for i, c in enumerate(_req(d, "corpora", list, where)):
            w = f"{where}.corpora[{i}]"
            speakers = _req(c, "speakers", list, w)
            if not all(isinstance(s, (str, int)) and not isinstance(s, bool) for s in speakers):
                raise ModelError(f"{w}.speakers must be strings")
            corpora.append(TrainingCorpus(_req(c, "name", str, w), tuple(map(str, speakers))))
        return cls(tuple(corpora))


@dataclass(frozen=True)
class CalibrationSpec:
    """Temperature scaling of each window's vote (edge.calibration): fitted on validation
    speakers so that a confidence of 0.7 is right about 70 % of the time on speakers the
    members never heard; the ``uncertain`` threshold applies to the calibrated value."""

    temperature: float = 1.0
    fitted_on: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, d: Any, where: str = "manifest.calibration") -> CalibrationSpec:
        t = _finite(_req(d, "temperature", float, where), f"{where}.temperature")
        if not 0.05 <= t <= 100.0:
            raise ModelError(f"{where}.temperature must be in [0.05, 100], got {t}")
        fitted = _req(d, "fitted_on", str, where) if "fitted_on" in d else ""
        return cls(t, fitted)


#: How members were trained to see features (EnrolmentSpec.features), what the device uses
#: without a speaker profile when they saw speaker-normalised ones (fallback), and the output
#: prior correction (prior).
ENROLMENT_FEATURES = ("global", "speaker")
ENROLMENT_FALLBACKS = ("global", "running")
ENROLMENT_PRIORS = ("none", "divide")
DEFAULT_MIN_SPEECH_SECONDS = 20.0


@dataclass(frozen=True)
class EnrolmentSpec:
    """How an enrolled speaker's profile (edge.speakers) is applied: the training side decides.

    ``features``: ``"global"`` members learnt on features normalised with the manifest's
    statistics (a profile's feature statistics are not used); ``"speaker"`` they learnt on
    features normalised with each speaker's own mean/std over speech frames
    (:func:`edge.frontend.windows.speaker_statistics`, the one definition both sides use), so a
    profile's statistics replace the manifest's. Without a profile ``fallback`` applies:
    ``"global"`` the manifest's statistics, ``"running"`` an exponential running mean/variance
    over the stream's speech frames with time constant ``running_seconds`` (of speech),
    started from the manifest's. ``prior``: ``"divide"`` divides each window's ensemble
    probabilities by the speaker's mean enrolment probabilities raised to ``prior_strength``
    and renormalises (a per-speaker prior correction); ``"none"`` leaves them. Enrolment
    refuses less than ``min_speech_seconds`` of speech.
    """

    features: str = "global"
    fallback: str = "global"
    prior: str = "none"
    prior_strength: float = 1.0
    min_speech_seconds: float = DEFAULT_MIN_SPEECH_SECONDS
    running_seconds: float = 30.0

    def __post_init__(self) -> None:
        w = "manifest.enrolment"
        for key, allowed in (("features", ENROLMENT_FEATURES), ("fallback", ENROLMENT_FALLBACKS),
                             ("prior", ENROLMENT_PRIORS)):
            if getattr(self, key) not in allowed:
                raise ModelError(f"{w}.{key} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, key)!r}")
        if not 0.0 <= self.prior_strength <= 1.0:
            raise ModelError(f"{w}.prior_strength must be in [0, 1], got {self.prior_strength}")
        if not 0.0 < self.min_speech_seconds <= 3600.0:
            raise ModelError(f"{w}.min_speech_seconds must be in (0, 3600], "
                             f"got {self.min_speech_seconds}")
        if not 0.5 <= self.running_seconds <= 86400.0:
            raise ModelError(f"{w}.running_seconds must be in [0.5, 86400], "
                             f"got {self.running_seconds}")

    def to_dict(self) -> dict[str, Any]:
        return {"features": self.features, "fallback": self.fallback, "prior": self.prior,
                "prior_strength": self.prior_strength,
                "min_speech_seconds": self.min_speech_seconds,
                "running_seconds": self.running_seconds}

    @classmethod
    def from_dict(cls, d: Any, where: str = "manifest.enrolment") -> EnrolmentSpec:
        if not isinstance(d, dict):
            raise ModelError(f"{where} must be a JSON object")
        known = cls.__dataclass_fields__
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ModelError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(known)})")
        kw: dict[str, Any] = {}
        for key in ("features", "fallback", "prior"):
            if key in d:
                kw[key] = _req(d, key, str, where)
        for key in ("prior_strength", "min_speech_seconds", "running_seconds"):
            if key in d:
                kw[key] = float(_req(d, key, float, where))
        return cls(**kw)


#: Statistics the condition gate takes of each of its streams' windows (edge.gate).
GATE_STATISTICS = ("mean", "std", "mean_abs_delta")


@dataclass(frozen=True)
class ConditionGateSpec:
    """A condition gate (edge.gate): a logistic detector of rooms and noise on the window's
    statistics. Why: the members that reach furthest across corpora on clean audio
    (``clean_members``) fail in a room or in noise, where the whole ensemble holds; the gate's
    probability that the window is degraded mixes the two votes, window by window.
    Fitted on training corpora only (``fitted_on``)."""

    streams: tuple[str, ...]
    clean_members: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    coef: tuple[float, ...]
    bias: float
    fitted_on: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"streams": list(self.streams), "clean_members": list(self.clean_members),
                "statistics": list(GATE_STATISTICS), "mean": list(self.mean),
                "std": list(self.std), "coef": list(self.coef), "bias": self.bias,
                "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, d: Any, where: str = "manifest.condition_gate"
                  ) -> ConditionGateSpec:
        if not isinstance(d, dict):
            raise ModelError(f"{where} must be a JSON object")
        stats = _req(d, "statistics", list, where)
        if tuple(stats) != GATE_STATISTICS:
            raise ModelError(f"{where}.statistics must be {list(GATE_STATISTICS)}, got {stats} "
                             "(made by a newer edge-ser?)")
        names = {k: tuple(_req(d, k, list, where)) for k in ("streams", "clean_members")}
        for k, v in names.items():
            if not v or not all(isinstance(x, str) and x for x in v):
                raise ModelError(f"{where}.{k} must be a non-empty list of names")
        nums = {}
        for k in ("mean", "std", "coef"):
            v = _req(d, k, list, where)
            nums[k] = tuple(_finite(x, f"{where}.{k}") for x in v)
        return cls(names["streams"], names["clean_members"], nums["mean"], nums["std"],
                   nums["coef"], _finite(_req(d, "bias", float, where), f"{where}.bias"),
                   _req(d, "fitted_on", str, where) if "fitted_on" in d else "")


def _span(ids: Sequence[str]) -> str:
    return ", ".join(ids) if len(ids) <= 6 else f"{ids[0]} … {ids[-1]}"


#: Optional manifest sections: JSON key -> (Manifest field, class with to_dict/from_dict).
SECTIONS: dict[str, type] = {
    "speech": SpeechSpec,
    "preprocessing": PreprocessingSpec,
    "training": TrainingSpec,
    "calibration": CalibrationSpec,
    "enrolment": EnrolmentSpec,
    "condition_gate": ConditionGateSpec,
}


@dataclass(frozen=True)
class Member:
    name: str
    file: str
    sha256: str
    feature: str
    input: TensorSpec
    output: TensorSpec
    weight: float = 1.0


@dataclass(frozen=True)
class Manifest:
    labels: tuple[str, ...]
    frontend: FrontendConfig
    window: WindowSpec
    features: dict[str, FeatureSpec]
    members: tuple[Member, ...]
    voting: str = "soft"
    version: int = MANIFEST_VERSION
    metadata: dict[str, Any] = field(default_factory=dict)
    root: Path | None = None  # folder the manifest was loaded from
    speech: SpeechSpec = field(default_factory=SpeechSpec)
    preprocessing: PreprocessingSpec | None = None  # None: not recorded
    training: TrainingSpec | None = None  # None: not recorded
    calibration: CalibrationSpec | None = None  # None: probabilities used as the members give them
    enrolment: EnrolmentSpec | None = None  # None: EnrolmentSpec() (global features, no prior)
    condition_gate: ConditionGateSpec | None = None  # None: the voting rule's vote alone

    def check_reproducible(self) -> None:
        """Refuse models whose training input the device cannot reproduce (ModelError)."""
        if self.preprocessing is not None and (problems := self.preprocessing.unsupported()):
            raise ModelError(f"the models were trained on audio with {', '.join(problems)}, "
                             "which this runtime does not apply to its input: results would "
                             "not mean what the model card says")

    @property
    def kinds(self) -> tuple[str, ...]:
        """The front end's feature kinds the members need, each once (streams may share one)."""
        return tuple(dict.fromkeys(self.features[mb.feature].kind for mb in self.members))

    def stream_fill(self, stream: str) -> str:
        """What the non-speech frames of ``stream``'s windows hold."""
        fill = self.features[stream].fill
        return self.window.fill if fill is None else fill

    def member_path(self, member: Member) -> Path:
        if self.root is None:
            raise ModelError("manifest was not loaded from a folder")
        return self.root / member.file

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "version": self.version,
            "labels": list(self.labels),
            "frontend": self.frontend.to_dict(),
            "window": self.window.to_dict(),
            "features": {k: f.to_dict(k) for k, f in self.features.items()},
            "members": [_member_to_dict(m) for m in self.members],
            "voting": self.voting,
            **{key: section.to_dict() for key in SECTIONS
               if (section := getattr(self, key)) is not None},
            "metadata": self.metadata,
        }

    def validate(self) -> None:
        """Check internal consistency (not the files); raise ModelError naming the problem."""
        _validate(self)


def _sha256() -> Any:
    """CPython's built-in SHA-256 where it has one: hashlib would load OpenSSL, which costs
    3.7 MB of resident memory and ~0.1 s of cold start on a Pi for one checksum per member."""
    try:
        from _sha2 import sha256  # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # Python 3.11
        except ImportError:
            from hashlib import sha256
    return sha256()


def sha256_bytes(data: bytes) -> str:
    digest = _sha256()
    digest.update(data)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = _sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- serialisation -----------------------------------------------------------------------
def _tensor_to_dict(t: TensorSpec) -> dict[str, Any]:
    d: dict[str, Any] = {"shape": list(t.shape), "dtype": t.dtype}
    if t.quantization is not None:
        d["quantization"] = {"scale": t.quantization.scale, "zero_point": t.quantization.zero_point}
    return d


def _member_to_dict(m: Member) -> dict[str, Any]:
    return {
        "name": m.name,
        "file": m.file,
        "sha256": m.sha256,
        "feature": m.feature,
        "input": _tensor_to_dict(m.input),
        "output": _tensor_to_dict(m.output),
        "weight": m.weight,
    }


def _req(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict):
        raise ModelError(f"{where} must be a JSON object")
    if key not in obj:
        raise ModelError(f"{where} lacks {key!r}")
    value = obj[key]
    if kind is float:
        kind = (int, float)
    if isinstance(value, bool) and kind is not bool:
        raise ModelError(f"{where}.{key} has the wrong type")
    if not isinstance(value, kind):
        raise ModelError(f"{where}.{key} has the wrong type ({type(value).__name__})")
    if kind == (int, float):
        _finite(value, f"{where}.{key}")
    return value


def _finite(value: Any, where: str) -> float:
    """A JSON number as a finite float (JSON allows 1e999 and Python's reader NaN/Infinity)."""
    try:
        x = float(value)
    except (OverflowError, TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x):
        raise ModelError(f"{where} must be a finite number, got {str(value)[:40]}")
    return x


def _tensor_from_dict(d: Any, where: str) -> TensorSpec:
    shape = _req(d, "shape", list, where)
    if not shape or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise ModelError(f"{where}.shape must be a list of positive integers, got {shape}")
    dtype = _req(d, "dtype", str, where)
    q = None
    if "quantization" in d and d["quantization"] is not None:
        qd = d["quantization"]
        q = Quantization(
            float(_req(qd, "scale", float, f"{where}.quantization")),
            int(_req(qd, "zero_point", int, f"{where}.quantization")),
        )
    return TensorSpec(tuple(shape), dtype, q)


#: The manifest's own keys besides its optional SECTIONS.
_TOP_KEYS = ("format", "version", "labels", "frontend", "window", "features", "members",
             "voting", "metadata")


def manifest_from_dict(data: Any, root: Path | None = None) -> Manifest:
    """Parse (and validate) a manifest from its JSON object."""
    if not isinstance(data, dict):
        raise ModelError("manifest must be a JSON object")
    if data.get("format") != MANIFEST_FORMAT:
        raise ModelError(f"not an edge-ser manifest (format is {data.get('format')!r})")
    version = data.get("version")
    if version != MANIFEST_VERSION:
        raise ModelError(
            f"manifest version {version!r} is not supported (this edge-ser reads version "
            f"{MANIFEST_VERSION}); convert the models again or upgrade edge-ser"
        )
    unknown = sorted(set(data) - set(_TOP_KEYS) - set(SECTIONS))
    if unknown:  # a section this runtime would ignore could change what the models mean
        raise ModelError(f"manifest has an unknown section {unknown[0]!r} (made by a newer "
                         "edge-ser? upgrade edge-ser or convert the models again)")
    labels = _req(data, "labels", list, "manifest")
    try:
        frontend = FrontendConfig.from_dict(_req(data, "frontend", dict, "manifest"))
    except ConfigError as exc:
        raise ModelError(f"manifest frontend: {exc}") from None
    window = WindowSpec.from_dict(_req(data, "window", dict, "manifest"), "manifest.window")
    features = {}
    for key, fd in _req(data, "features", dict, "manifest").items():
        where = f"manifest.features[{key!r}]"
        mean = _req(fd, "mean", list, where)
        std = _req(fd, "std", list, where)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in mean + std):
            raise ModelError(f"{where} mean/std must be numbers")
        features[key] = FeatureSpec(
            str(_req(fd, "kind", str, where)) if "kind" in fd else key,
            int(_req(fd, "dim", int, where)),
            tuple(_finite(v, f"{where}.mean") for v in mean),
            tuple(_finite(v, f"{where}.std") for v in std),
            str(_req(fd, "fill", str, where)) if "fill" in fd else None,
        )
    members = []
    for i, md in enumerate(_req(data, "members", list, "manifest")):
        where = f"manifest.members[{i}]"
        members.append(
            Member(
                name=_req(md, "name", str, where),
                file=_req(md, "file", str, where),
                sha256=_req(md, "sha256", str, where),
                feature=_req(md, "feature", str, where),
                input=_tensor_from_dict(_req(md, "input", dict, where), f"{where}.input"),
                output=_tensor_from_dict(_req(md, "output", dict, where), f"{where}.output"),
                weight=float(_req(md, "weight", float, where)) if "weight" in md else 1.0,
            )
        )
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelError("manifest.metadata must be a JSON object")
    sections = {key: cls.from_dict(data[key], f"manifest.{key}")  # type: ignore[attr-defined]
                for key, cls in SECTIONS.items() if data.get(key) is not None}
    manifest = Manifest(
        labels=tuple(labels),
        frontend=frontend,
        window=window,
        features=features,
        members=tuple(members),
        voting=_req(data, "voting", str, "manifest"),
        version=version,
        metadata=metadata,
        root=root,
        **sections,
    )
    manifest.validate()
    return manifest


# ---- validation ----------------------------------------------------------------------------
def _validate(m: Manifest) -> None:
    if not m.labels or not all(isinstance(x, str) and x for x in m.labels):
        raise ModelError("manifest.labels must be a non-empty list of non-empty strings")
    if len(set(m.labels)) != len(m.labels):
        raise ModelError("manifest.labels has duplicates")
    clash = sorted(set(RESERVED_LABELS) & set(m.labels))
    if clash:
        raise ModelError(f"manifest.labels may not contain {', '.join(map(repr, clash))}: "
                         "those are the decision states")
    if m.voting not in VOTING_RULES:
        raise ModelError(
            f"manifest.voting must be one of {', '.join(VOTING_RULES)}, got {m.voting!r}"
        )
    w = m.window
    if not (0 < w.hop_seconds <= w.seconds <= 3600):
        raise ModelError(f"manifest.window needs 0 < hop_seconds <= seconds <= 3600, got {w}")
    expected = window_frames(m.frontend, w.seconds)
    if w.frames != expected:
        raise ModelError(
            f"manifest.window.frames is {w.frames} but {w.seconds} s at hop "
            f"{m.frontend.hop_length}/{m.frontend.sr} Hz is {expected} frames"
        )
    for kind, f in m.features.items():
        try:
            dim = feature_dim(m.frontend, f.kind)
        except ConfigError as exc:
            raise ModelError(f"manifest.features: {exc}") from None
        if f.fill is not None:
            check_fill(f.fill, f"feature {kind!r}: fill")
        if f.dim != dim:
            raise ModelError(
                f"feature {kind!r} has dim {f.dim} in the manifest, the front end gives {dim}"
            )
        if len(f.mean) != dim or len(f.std) != dim:
            raise ModelError(f"feature {kind!r}: mean/std must have {dim} values")
        if not all(abs(v) <= FLOAT32_MAX for v in f.mean) or not all(
            MIN_STD <= v <= FLOAT32_MAX for v in f.std
        ):
            raise ModelError(f"feature {kind!r}: mean must be finite and std finite and at least "
                             f"{MIN_STD:g} (as float32: the device normalises in float32)")
    if not m.members:
        raise ModelError("manifest lists no members")
    names = [mb.name for mb in m.members]
    if len(set(names)) != len(names):
        raise ModelError("manifest has two members with the same name")
    for mb in m.members:
        _validate_member(m, mb)
    level = m.speech.level_dbfs
    if level is not None and (len(level) != 2 or not -100.0 <= level[0] <= level[1] <= 0.0):
        raise ModelError("manifest.speech.level_dbfs must be [low, high] with "
                         f"-100 <= low <= high <= 0, got {list(level)}")
    if m.condition_gate is not None:
        _validate_condition_gate(m, m.condition_gate)


def _validate_condition_gate(m: Manifest, g: ConditionGateSpec) -> None:
    used = {mb.feature for mb in m.members}
    for stream in g.streams:
        if stream not in used:
            raise ModelError(f"manifest.condition_gate: stream {stream!r} is not read by any "
                             "member")
    names = {mb.name for mb in m.members}
    for name in g.clean_members:
        if name not in names:
            raise ModelError(f"manifest.condition_gate: clean member {name!r} is not in "
                             "manifest.members")
    n = len(GATE_STATISTICS) * sum(m.features[s].dim for s in g.streams)
    if not len(g.mean) == len(g.std) == len(g.coef) == n:
        raise ModelError(f"manifest.condition_gate: mean, std and coef need {n} values each "
                         f"({len(GATE_STATISTICS)} statistics of {', '.join(g.streams)})")
    if not all(MIN_STD <= v <= FLOAT32_MAX for v in g.std):
        raise ModelError(f"manifest.condition_gate: std must be at least {MIN_STD:g}")


def _validate_member(m: Manifest, mb: Member) -> None:
    who = f"member {mb.name!r}"
    if not mb.file or Path(mb.file).name != mb.file or mb.file in (".", ".."):
        raise ModelError(
            f"{who}: file must be a plain file name in the model folder, got {mb.file!r}"
        )
    if len(mb.sha256) != 64 or any(c not in "0123456789abcdef" for c in mb.sha256):
        raise ModelError(f"{who}: sha256 must be 64 lowercase hex digits")
    if mb.feature not in m.features:
        raise ModelError(f"{who}: feature {mb.feature!r} is not described in manifest.features")
    if not (math.isfinite(mb.weight) and mb.weight >= 0):
        raise ModelError(f"{who}: weight must be a finite number >= 0")
    want_in = (1, m.window.frames, m.features[mb.feature].dim)
    if mb.input.shape != want_in:
        raise ModelError(
            f"{who}: input shape {list(mb.input.shape)} does not match the front end "
            f"(window of {m.window.frames} frames × {m.features[mb.feature].dim} "
            f"{mb.feature!r} values → {list(want_in)})"
        )
    if mb.output.shape != (1, len(m.labels)):
        raise ModelError(
            f"{who}: output shape {list(mb.output.shape)} does not match {len(m.labels)} labels"
        )
    for role, t in (("input", mb.input), ("output", mb.output)):
        if t.dtype not in TENSOR_DTYPES:
            raise ModelError(
                f"{who}: {role} dtype {t.dtype!r} is not one of {', '.join(TENSOR_DTYPES)}"
            )
        if t.dtype != "float32":
            q = t.quantization
            if q is None:
                raise ModelError(f"{who}: {role} is {t.dtype} but has no quantization parameters")
            if not (math.isfinite(q.scale) and q.scale > 0):
                raise ModelError(f"{who}: {role} quantization scale must be positive")
            lo, hi = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}[t.dtype]
            if not lo <= q.zero_point <= hi:
                raise ModelError(f"{who}: {role} zero point {q.zero_point} is outside {t.dtype}")


# ---- files ------------------------------------------------------------------------------------
def load_manifest(folder: str | os.PathLike[str], verify: bool = True) -> Manifest:
    """Load ``folder/manifest.json``; with ``verify``, check every member file's sha256."""
    root = Path(folder)
    if not root.exists():
        raise ModelError(f"model folder {root} does not exist")
    if not root.is_dir():
        raise ModelError(f"{root} is not a folder (give the folder that holds {MANIFEST_NAME})")
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise ModelError(f"{root} has no {MANIFEST_NAME}")
    try:
        raw = path.read_bytes()
        if len(raw) > 16 * 1024 * 1024:
            raise ModelError(f"{path} is implausibly large ({len(raw)} bytes)")
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ModelError(f"{path} is not a manifest: JSON nested too deeply") from None
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror}") from None
    manifest = manifest_from_dict(data, root=root)
    if verify:
        verify_members(manifest)
    return manifest


def verify_members(manifest: Manifest) -> None:
    """Check every member file exists, is a regular file and matches its sha256."""
    for mb in manifest.members:
        p = manifest.member_path(mb)
        if not p.is_file():
            raise ModelError(f"member {mb.name!r}: file {p} is missing")
        if p.stat().st_size > MAX_MEMBER_BYTES:
            raise ModelError(f"member {mb.name!r}: file {p} is implausibly large")
        actual = sha256_file(p)
        if actual != mb.sha256:
            raise ModelError(
                f"member {mb.name!r}: {p.name} fails its checksum (sha256 {actual[:12]}…, "
                f"manifest says {mb.sha256[:12]}…): the file was changed or corrupted"
            )


def write_manifest(manifest: Manifest, folder: str | os.PathLike[str]) -> Path:
    """Validate and write ``manifest.json`` atomically into ``folder``."""
    manifest.validate()
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    from edge.fsutil import atomic_write  # only convert/ writes manifests

    # a normal umask-governed mode: the service user must be able to read models others wrote
    return atomic_write(root / MANIFEST_NAME, json.dumps(manifest.to_dict(), indent=2) + "\n")


def make_member(
    name: str,
    path: Path,
    feature: str,
    input_spec: TensorSpec,
    output_spec: TensorSpec,
    weight: float = 1.0,
) -> Member:
    """A Member entry for a file that already exists (its checksum is computed here)."""
    return Member(name, path.name, sha256_file(path), feature, input_spec, output_spec, weight)


def feature_spec(kind: str, mean: Sequence[float], std: Sequence[float]) -> FeatureSpec:
    return FeatureSpec(kind, len(mean), tuple(float(v) for v in mean), tuple(float(v) for v in std))
