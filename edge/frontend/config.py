"""The front-end configuration shared by training, conversion and the device.

Field names are librosa's own, so a config can be handed to librosa to compute the
reference features (``librosa_kwargs``) and nobody has to translate between the two.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from edge.errors import ConfigError

#: Base feature kinds the front end computes per frame.
BASE_KINDS: tuple[str, ...] = ("mfcc", "logmel", "chroma", "rms", "zcr", "pitch", "shape",
                               "flatness")

#: Window names accepted (scipy.signal.get_window spellings, computed periodic like
#: ``fftbins=True``); the NumPy front end implements exactly these.
WINDOWS: dict[str, str] = {
    "hann": "hann", "han": "hann",
    "hamming": "hamming", "hamm": "hamming", "ham": "hamming",
    "blackman": "blackman", "black": "blackman", "blk": "blackman",
    "boxcar": "boxcar", "box": "boxcar", "ones": "boxcar", "rect": "boxcar",
    "rectangular": "boxcar",
}


@dataclass(frozen=True)
class FrontendConfig:
    """Parameters of every frame-level feature.

    Defaults are chosen for speech emotion at 16 kHz:

    * 25 ms Hann window (``win_length=400``) in a 512-point FFT, 10 ms hop: the standard
      speech framing; short enough to follow pitch and energy contours, which carry most of
      the emotional information, long enough to resolve harmonics of a low male voice.
    * 40 mel bands from 0 Hz to Nyquist, 40 MFCCs: keeping all cepstra (not only the first
      13 used for ASR) keeps the fine spectral detail (voice quality, breathiness) that
      separates e.g. angry from happy.
    * ``pad_mode="constant"`` with ``center=True``: zero padding is what a live stream can
      reproduce exactly (a reflection needs samples that have not arrived yet).
    * ``top_db=None``: librosa clips log power 80 dB below the loudest frame *of the whole
      signal*, which a stream can never know; without that clip every frame depends only on
      its own samples, so the streaming and batch front ends agree exactly.
    * Pitch (YIN) from 60 to 500 Hz over 64 ms frames: covers low male to high, excited
      female speech; the frame must hold at least two periods of ``f0_fmin``.
    * ``tuning=0``: librosa otherwise estimates tuning from the whole signal (not causal).

    Frame geometry (what makes the base kinds concatenable): every base kind yields
    :meth:`n_frames` frames and frame ``t`` of every kind is centred on the same sample,
    ``t * hop_length`` with ``center=True`` (librosa's framing, padded by half the analysis
    length with ``pad_mode``; zero-crossing rate pads with ``edge`` as librosa does). The
    analysis length is ``n_fft`` for mfcc/logmel/chroma/rms, ``win_length`` for zcr and
    ``f0_frame_length`` for pitch. With ``center=False`` frame ``t`` is centred on
    ``t * hop_length + n_fft // 2`` (the centre of librosa's uncentred STFT frame): the STFT
    kinds and rms equal librosa's uncentred output, zcr and pitch use the window of their
    own length around that centre (pitch pads with ``pad_mode`` where it sticks out). The
    spectral shape reads frame ``t``'s ``n_fft`` samples and the ``n_fft`` samples one hop
    earlier (its flux compares the two), so its analysis reaches one hop further back.
    """

    sr: int = 16000
    n_fft: int = 512
    hop_length: int = 160
    win_length: int = 400
    window: str = "hann"
    center: bool = True
    pad_mode: str = "constant"
    power: float = 2.0
    # mel filterbank
    n_mels: int = 40
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    mel_norm: str | None = "slaney"
    # log compression (librosa.power_to_db)
    amin: float = 1e-10
    ref: float = 1.0
    top_db: float | None = None
    # cepstrum
    n_mfcc: int = 40
    dct_type: int = 2
    norm: str | None = "ortho"
    lifter: float = 0.0
    # chroma
    n_chroma: int = 12
    tuning: float = 0.0
    chroma_norm: float | None = float("inf")
    # pitch (YIN)
    f0_fmin: float = 60.0
    f0_fmax: float = 500.0
    f0_frame_length: int = 1024
    trough_threshold: float = 0.1
    # deltas (librosa.feature.delta)
    delta_width: int = 9

    def __post_init__(self) -> None:
        problems = []
        if self.sr <= 0:
            problems.append(f"sr must be positive, got {self.sr}")
        if self.hop_length <= 0:
            problems.append(f"hop_length must be positive, got {self.hop_length}")
        if not 0 < self.win_length <= self.n_fft:
            problems.append(f"win_length must be in 1..n_fft={self.n_fft}, got {self.win_length}")
        if self.n_mfcc > self.n_mels:
            problems.append(f"n_mfcc={self.n_mfcc} cannot exceed n_mels={self.n_mels}")
        if self.fmax is not None and self.fmax > self.sr / 2:
            problems.append(f"fmax={self.fmax} is above Nyquist ({self.sr / 2})")
        if not 0 < self.f0_fmin < self.f0_fmax <= self.sr / 2:
            problems.append(f"need 0 < f0_fmin < f0_fmax <= sr/2, got {self.f0_fmin},"
                            f" {self.f0_fmax}")
        if self.f0_fmin > 0 and self.f0_frame_length < 2 * self.sr / self.f0_fmin:
            problems.append("f0_frame_length must hold two periods of f0_fmin")
        if self.delta_width < 3 or self.delta_width % 2 == 0:
            problems.append(f"delta_width must be odd and >= 3, got {self.delta_width}")
        if self.pad_mode not in ("constant", "edge", "reflect"):
            problems.append(f"pad_mode must be constant, edge or reflect, got {self.pad_mode!r}")
        problems += self._spectral_problems()
        if problems:
            raise ConfigError("invalid front-end config: " + "; ".join(problems))

    def _spectral_problems(self) -> list[str]:
        """Values the NumPy front end cannot compute (or librosa would refuse)."""
        problems = []
        if self.window not in WINDOWS:
            problems.append(f"window must be one of {', '.join(sorted(set(WINDOWS.values())))},"
                            f" got {self.window!r}")
        if self.n_mels < 1 or self.n_mfcc < 1 or self.n_chroma < 1:
            problems.append("n_mels, n_mfcc and n_chroma must be at least 1")
        if not self.power > 0:
            problems.append(f"power must be positive, got {self.power}")
        if not 0 <= self.fmin < (self.sr / 2 if self.fmax is None else self.fmax):
            problems.append(f"need 0 <= fmin < fmax, got fmin={self.fmin}, fmax={self.fmax}")
        if self.mel_norm not in (None, "slaney"):
            problems.append(f"mel_norm must be 'slaney' or null, got {self.mel_norm!r}")
        if self.dct_type not in (2, 3):
            problems.append(f"dct_type must be 2 or 3, got {self.dct_type}")
        if self.norm not in (None, "ortho"):
            problems.append(f"norm must be 'ortho' or null, got {self.norm!r}")
        if not self.lifter >= 0:
            problems.append(f"lifter must be >= 0, got {self.lifter}")
        if not (self.amin > 0 and self.ref > 0):
            problems.append("amin and ref must be positive")
        if self.top_db is not None and not self.top_db >= 0:
            problems.append(f"top_db must be >= 0 or null, got {self.top_db}")
        if self.chroma_norm is not None and not self.chroma_norm > 0:
            problems.append(f"chroma_norm must be positive (inf for max) or null, got "
                            f"{self.chroma_norm}")
        return problems

    # ---- serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["chroma_norm"] == float("inf"):
            d["chroma_norm"] = "inf"  # JSON has no infinity
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrontendConfig:
        if not isinstance(data, dict):
            raise ConfigError("front-end config must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown front-end config key(s): {', '.join(unknown)}")
        data = dict(data)
        if data.get("chroma_norm") == "inf":
            data["chroma_norm"] = float("inf")
        problems = _field_problems(data)
        if problems:
            raise ConfigError("invalid front-end config: " + "; ".join(problems))
        try:
            return cls(**data)
        except TypeError as exc:  # wrong types surface here as well
            raise ConfigError(f"invalid front-end config: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> FrontendConfig:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"front-end config is not valid JSON: {exc}") from None

    def replace(self, **changes: Any) -> FrontendConfig:
        return dataclasses.replace(self, **changes)

    # ---- derived values ---------------------------------------------------------
    @property
    def frames_per_second(self) -> float:
        return self.sr / self.hop_length

    def n_frames(self, n_samples: int) -> int:
        """Frames the batch front end yields for ``n_samples`` samples."""
        if self.center:
            return 1 + n_samples // self.hop_length
        return max(0, 1 + (n_samples - self.n_fft) // self.hop_length)

    # ---- librosa reference ------------------------------------------------------
    def librosa_kwargs(self, kind: str) -> dict[str, Any]:
        """Keyword arguments under which librosa computes the reference for ``kind``.

        ``librosa.feature.mfcc(y=y, **cfg.librosa_kwargs("mfcc"))`` is the reference MFCC
        (up to librosa's fixed ``top_db=80`` clip, see the class docstring).
        """
        stft = dict(
            sr=self.sr,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window,
            center=self.center,
            pad_mode=self.pad_mode,
        )
        mel = dict(n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax, htk=self.htk)
        if kind == "mfcc":
            return {
                **stft,
                **mel,
                "power": self.power,
                "mel_norm": self.mel_norm,
                "n_mfcc": self.n_mfcc,
                "dct_type": self.dct_type,
                "norm": self.norm,
                "lifter": self.lifter,
            }
        if kind in ("melspectrogram", "logmel"):
            return {**stft, **mel, "power": self.power, "norm": self.mel_norm}
        if kind == "chroma":
            return {
                **stft,
                "n_chroma": self.n_chroma,
                "tuning": self.tuning,
                "norm": self.chroma_norm,
            }
        if kind == "rms":
            return dict(frame_length=self.n_fft, hop_length=self.hop_length, center=self.center,
                        pad_mode=self.pad_mode)
        if kind == "zcr":
            return dict(frame_length=self.win_length, hop_length=self.hop_length,
                        center=self.center)
        if kind == "pitch":
            return dict(sr=self.sr, fmin=self.f0_fmin, fmax=self.f0_fmax,
                        frame_length=self.f0_frame_length, hop_length=self.hop_length,
                        trough_threshold=self.trough_threshold, center=self.center,
                        pad_mode=self.pad_mode)
        if kind == "power_to_db":
            return dict(ref=self.ref, amin=self.amin, top_db=self.top_db)
        raise ConfigError(f"no librosa reference for feature kind {kind!r}")


#: Largest values a config read from a file may hold: beyond them the front end would need
#: gigabytes (a corrupt or hostile manifest), far past any speech setting.
_LIMITS: dict[str, float] = {"sr": 384_000, "n_fft": 1 << 16, "hop_length": 1 << 16,
                             "win_length": 1 << 16, "f0_frame_length": 1 << 16, "n_mels": 1024,
                             "n_mfcc": 1024, "n_chroma": 1024, "delta_width": 1001,
                             # |STFT|**power, the lifter and the dB reference must stay
                             # within float32; the chroma norm is an order (1, 2 or inf)
                             "power": 4.0, "lifter": 1000.0, "tuning": 0.5, "amin": 1e10,
                             "ref": 1e10, "chroma_norm": 100.0}


def _field_problems(data: dict[str, Any]) -> list[str]:
    """Types and sizes of the values of a config read from JSON/TOML (the dataclass itself
    trusts its caller): an int field takes an int, a float field a finite number, and so on."""
    problems = []
    for f in dataclasses.fields(FrontendConfig):
        if f.name not in data:
            continue
        value = data[f.name]
        kinds = [t.strip() for t in str(f.type).split("|")]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ((value is None and "None" in kinds)
              or (isinstance(value, bool) and "bool" in kinds)
              or (number and isinstance(value, int) and "int" in kinds)
              or (number and "float" in kinds and value == value
                  and (abs(value) != float("inf") or f.name == "chroma_norm"))
              or (isinstance(value, str) and "str" in kinds))
        if not ok:
            problems.append(f"{f.name} must be {' or '.join(kinds)}, got {value!r}"[:200])
        elif (f.name in _LIMITS and value is not None and abs(value) > _LIMITS[f.name]
              and abs(value) != float("inf")):
            problems.append(f"{f.name}={value} is implausible (at most {_LIMITS[f.name]})"[:200])
    return problems
