"""Training hyperparameters: one dataclass, one TOML file, ``--set key=value`` overrides.

Every number a run depends on lives in :class:`TrainConfig`, whose defaults ARE the shipped
recipe; ``train/configs/default.toml`` lists the same values with why each was chosen (a test
keeps the two equal), and a config file or preset (``configs/quick.toml``) need only name what
it changes. The whole config is written into ``run.json``, so a result can always be traced
back to the exact configuration that made it.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.corpora import LABELS_8
from edge.errors import ConfigError
from edge.frontend.config import FrontendConfig
from edge.frontend.windows import WINDOW_FILLS

CONFIGS = Path(__file__).parent / "configs"
DEFAULT_CONFIG = CONFIGS / "default.toml"
#: a small, fast run that works on a handful of speakers (``edge-ser train --quick``)
QUICK_CONFIG = CONFIGS / "quick.toml"
ARCHS = ("cnn_lstm", "cnn", "lstm", "stats", "rbf")


@dataclass(frozen=True)
class MemberSpec:
    """One ensemble member: architecture, feature kind and seed (``"cnn_lstm:mfcc:1"``)."""

    arch: str
    feature: str
    seed: int

    @classmethod
    def parse(cls, text: str) -> MemberSpec:
        parts = text.strip().split(":")
        if len(parts) != 3 or parts[0] not in ARCHS:
            raise ConfigError(f"member {text!r} must be arch:feature:seed with arch in {ARCHS}")
        try:
            return cls(parts[0], parts[1], int(parts[2]))
        except ValueError:
            raise ConfigError(f"member {text!r}: seed must be an integer") from None

    @property
    def name(self) -> str:
        return f"{self.arch}-{self.feature}-s{self.seed}"


@dataclass
class TrainConfig:
    """All hyperparameters, defaulting to the shipped recipe (default.toml says why)."""

    seed: int = 1
    labels: list[str] = field(default_factory=lambda: list(LABELS_8))
    window_seconds: float = 3.0
    hop_seconds: float = 0.5
    train_hop_seconds: float = 1.0
    min_speech_fraction: float = 0.25
    #: what a window's non-speech frames hold: "none" (as heard) or "speech" (its own speech
    #: frames repeated, edge.frontend.windows.fill_with_speech); the manifest tells the device
    window_fill: str = "none"
    split: str = "speaker"
    #: corpora to train on, ``FORMAT:PATH`` each (``--data`` adds to / replaces this list)
    corpora: list[str] = field(default_factory=list)
    #: 0: every clip weighs the same (big corpora dominate); 1: every corpus weighs the same
    corpus_balance: float = 1.0
    #: "none": every window normalised with the training speakers' global statistics;
    #: "mixed": members also learn each window normalised by its speaker's own statistics
    #: (from ``speaker_norm_clips`` of the speaker's clips, as enrolment gives the device), so
    #: that they work with an enrolled speaker's statistics and without (global statistics)
    speaker_norm: str = "none"
    speaker_norm_clips: int = 10
    #: a study setting: each corpus's windows normalised by that corpus's own statistics, a
    #: held-out corpus by its own test windows' (the limit of a device's running mean and
    #: variance). The device has no running normaliser, so a run with it trains no final set.
    corpus_norm: bool = False
    #: distillation: a teacher's soft labels (``python -m train.teacher soft-labels``, .npz)
    #: and their share of each training target (0: the labels alone)
    teacher_labels: str = ""
    teacher_weight: float = 0.0
    #: domain-adversarial training: strength of the gradient reversal (0: off) and what the
    #: adversary tries to tell apart ("corpus" or "speaker")
    adversarial_weight: float = 0.0
    adversarial_domain: str = "corpus"
    n_folds: int = 5
    n_val_actors: int = 2
    vad: bool = True
    loudness: str = "none"
    target_dbfs: float = -23.0
    denoise: bool = False
    resampler: str = "edge"
    aug_copies: int = 8
    aug_pitch_semitones: float = 2.0
    aug_stretch_min: float = 0.9
    aug_stretch_max: float = 1.1
    aug_snr_min_db: float = 5.0
    aug_snr_max_db: float = 30.0
    aug_gain_db: float = 6.0
    aug_reverb_prob: float = 0.0
    aug_speed_prob: float = 0.0
    aug_speed_min: float = 0.9
    aug_speed_max: float = 1.1
    aug_telephone_prob: float = 0.0
    aug_eq_prob: float = 0.0
    aug_codec_prob: float = 0.0
    specaug_time_masks: int = 2
    specaug_time_width: int = 25
    specaug_freq_masks: int = 2
    specaug_freq_width: int = 5
    mixup_alpha: float = 0.2
    label_smoothing: float = 0.05
    class_weights: bool = True
    members: list[str] = field(default_factory=lambda: [
        "cnn_lstm:mfcc+pitch+rms:1", "cnn_lstm:logmel+pitch+rms:2",
        "cnn_lstm:mfcc+pitch+rms:3", "cnn_lstm:logmel+pitch+rms:4"])
    compare_archs: list[str] = field(default_factory=lambda: ["cnn", "lstm"])
    baselines: list[str] = field(default_factory=lambda: ["svm", "rf"])
    bagging: bool = False
    window_cmn: bool = True
    conv_filters: list[int] = field(default_factory=lambda: [48, 64, 96])
    conv_kernel: int = 5
    pool_sizes: list[int] = field(default_factory=lambda: [3, 2, 2])
    lstm_units: list[int] = field(default_factory=lambda: [32])
    lstm_pool: int = 4
    dense_units: int = 0
    #: hidden layers of the ``stats`` member (window statistics → MLP)
    stats_units: list[int] = field(default_factory=lambda: [128, 64])
    #: the ``rbf`` member (train.rbf): the statistics' spread ("mad" or "var"), kernel centres,
    #: the logistic regression's inverse regularisation, the largest gamma·distance² kept,
    #: windows k-means sees, solver steps
    rbf_spread: str = "mad"
    rbf_centres: int = 512
    rbf_c: float = 1.0
    rbf_floor: float = 8.0
    rbf_kmeans_windows: int = 8000
    rbf_max_iter: int = 3000
    dropout: float = 0.3
    l2: float = 1e-4
    batchnorm: bool = True
    optimizer: str = "adam"
    learning_rate: float = 2e-3
    batch_size: int = 64
    epochs: int = 30
    lr_schedule: str = "cosine"
    early_stopping: bool = False
    train_on_val_actors: bool = False
    patience: int = 8
    monitor: str = "val_uar"
    voting: str = "soft"
    svm_c: float = 10.0
    rf_trees: int = 300
    #: FrontendConfig fields that differ from the front end's defaults (the ``[frontend]``
    #: table; ``--set frontend.hop_length=320``); ``edge-ser train --frontend F.json`` replaces it
    frontend: dict[str, Any] = field(default_factory=lambda: {"hop_length": 320})

    def __post_init__(self) -> None:
        problems = []
        if self.split not in ("speaker", "random", "loco"):
            problems.append(f"split must be speaker, random or loco, got {self.split!r}")
        if not 0.0 <= self.corpus_balance <= 1.0:
            problems.append("corpus_balance must be in [0, 1]")
        if self.window_fill not in WINDOW_FILLS:
            problems.append(f"window_fill must be one of {', '.join(WINDOW_FILLS)}, "
                            f"got {self.window_fill!r}")
        if self.speaker_norm not in ("none", "mixed"):
            problems.append(f"speaker_norm must be none or mixed, got {self.speaker_norm!r}")
        if self.speaker_norm_clips < 1:
            problems.append("speaker_norm_clips must be at least 1")
        if not 0.0 <= self.teacher_weight <= 1.0:
            problems.append("teacher_weight must be in [0, 1]")
        if self.adversarial_weight < 0:
            problems.append("adversarial_weight must be >= 0")
        if self.adversarial_domain not in ("corpus", "speaker"):
            problems.append("adversarial_domain must be corpus or speaker, "
                            f"got {self.adversarial_domain!r}")
        if self.teacher_weight > 0 and not self.teacher_labels:
            problems.append("teacher_weight > 0 needs teacher_labels (a soft-label .npz)")
        if self.loudness not in ("none", "rms", "peak"):
            problems.append(f"loudness must be none, rms or peak, got {self.loudness!r}")
        if self.resampler not in ("edge", "librosa"):
            problems.append(f"resampler must be edge or librosa, got {self.resampler!r}")
        if self.optimizer not in ("adam", "rmsprop"):
            problems.append(f"optimizer must be adam or rmsprop, got {self.optimizer!r}")
        if self.early_stopping and self.train_on_val_actors:
            problems.append("train_on_val_actors needs early_stopping = false (the validation "
                            "actors cannot both stop and train the members)")
        if self.lr_schedule not in ("constant", "cosine"):
            problems.append(f"lr_schedule must be constant or cosine, got {self.lr_schedule!r}")
        if self.monitor not in ("val_uar", "val_accuracy", "val_loss"):
            problems.append(
                f"monitor must be val_uar, val_accuracy or val_loss, got {self.monitor!r}")
        if self.voting not in ("hard", "soft", "weighted"):
            problems.append(f"voting must be hard, soft or weighted, got {self.voting!r}")
        if not 0 < self.hop_seconds <= self.window_seconds:
            problems.append("need 0 < hop_seconds <= window_seconds")
        if not 0 < self.train_hop_seconds <= self.window_seconds:
            problems.append("need 0 < train_hop_seconds <= window_seconds")
        if len(self.pool_sizes) != len(self.conv_filters):
            problems.append("pool_sizes needs one entry per conv_filters entry")
        if self.rbf_centres < 1 or self.rbf_kmeans_windows < 1 or self.rbf_max_iter < 1:
            problems.append("rbf_centres, rbf_kmeans_windows and rbf_max_iter must be >= 1")
        if self.rbf_spread not in ("mad", "var"):
            problems.append(f"rbf_spread must be mad or var, got {self.rbf_spread!r}")
        if self.rbf_c <= 0 or self.rbf_floor <= 0:
            problems.append("rbf_c and rbf_floor must be > 0")
        if self.n_folds < 2:
            problems.append("n_folds must be at least 2")
        if not self.members:
            problems.append("members is empty")
        if not 0 < self.aug_stretch_min <= self.aug_stretch_max:
            problems.append("need 0 < aug_stretch_min <= aug_stretch_max")
        for a in self.compare_archs:
            if a not in ARCHS:
                problems.append(f"compare_archs: unknown arch {a!r}")
        for b in self.baselines:
            if b not in ("svm", "rf"):
                problems.append(f"baselines: unknown baseline {b!r}")
        if problems:
            raise ConfigError("invalid training config: " + "; ".join(problems))
        for m in self.members:
            MemberSpec.parse(m)
        self.frontend_config()  # raises ConfigError naming a bad front-end key or value

    def frontend_config(self) -> FrontendConfig:
        """The front end this config trains with (defaults + the ``[frontend]`` table)."""
        return FrontendConfig.from_dict({**FrontendConfig().to_dict(), **self.frontend})

    @property
    def member_specs(self) -> list[MemberSpec]:
        return [MemberSpec.parse(m) for m in self.members]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


T = typing.TypeVar("T")


def sub_config(cls: type[T], cfg: TrainConfig, prefix: str = "", **given: Any) -> T:
    """A ``cls`` dataclass filled from ``cfg``'s fields named ``prefix + field`` (or ``given``).

    One place copies sub-configs (augmentation, preprocessing, SpecAugment) out of the
    training config, by name, so a field added to both can never be forgotten in between; a
    field found in neither is an error rather than a silent default.
    """
    values = dict(given)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in values:
            continue
        if not hasattr(cfg, prefix + f.name):
            raise TypeError(f"{cls.__name__}.{f.name}: TrainConfig has no {prefix + f.name}")
        values[f.name] = getattr(cfg, prefix + f.name)
    return cls(**values)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Turn a TOML/CLI value into the field's type (a scalar becomes a one-item list)."""
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        elif not isinstance(value, list):
            value = [value]
        return [_coerce(name, v, item) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a table of key = value, got {value!r}")
        return dict(value)
    try:
        if hint is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes", "on"):
                    return True
                if value.lower() in ("false", "0", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if hint is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if hint is float:
            return float(value)
        if hint is str:
            return str(value).strip()
    except (TypeError, ValueError):
        type_name = getattr(hint, "__name__", hint)
        raise ConfigError(f"{name}: {value!r} is not a valid {type_name}") from None
    return value


def from_mapping(data: dict[str, Any], base: TrainConfig | None = None) -> TrainConfig:
    """A config from a (TOML) mapping; unknown keys are an error (typos must not pass)."""
    hints = typing.get_type_hints(TrainConfig)
    base = base or TrainConfig()
    data = dict(data)
    nested = {k: data.pop(k) for k in [k for k in data if k.startswith("frontend.")]}
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ConfigError(f"unknown hyperparameter(s): {', '.join(unknown)}")
    values = {k: _coerce(k, v, hints[k]) for k, v in data.items()}
    if nested:  # --set frontend.KEY=VALUE adds to (or changes) one entry of the table
        table = dict(values.get("frontend", base.frontend))
        table.update({k.split(".", 1)[1]: v for k, v in nested.items()})
        values["frontend"] = table
    return dataclasses.replace(base, **values)


def parse_override(text: str) -> tuple[str, Any]:
    """``"lstm_units=64"`` → ``("lstm_units", 64)`` (values parsed as TOML, else a string)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value")
    key, raw = (s.strip() for s in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read training config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def load_config(path: str | Path | None = None,
                overrides: list[str] | tuple[str, ...] = (), quick: bool = False) -> TrainConfig:
    """The recipe, then ``quick.toml`` if ``quick``, then ``path``, then ``key=value`` overrides.

    A config file names only what it changes (the dataclass defaults are the recipe).
    """
    cfg = TrainConfig()
    for p in ([QUICK_CONFIG] if quick else []) + ([Path(path)] if path else []):
        cfg = from_mapping(_read_toml(p), base=cfg)
    if overrides:
        cfg = from_mapping(dict(parse_override(o) for o in overrides), base=cfg)
    return cfg
