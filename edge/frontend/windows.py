"""The model's view of audio: fixed-length windows of frames, shared by training and device.

A model classifies ``window_frames`` consecutive frames; successive windows start every
``hop_frames`` frames. Training cuts its examples with :func:`frame_windows` and the device
assembles the same windows from streamed frames, so both see identical inputs: base features
are computed once over the whole signal (frames do not depend on the window), while deltas
are computed per window (:func:`~edge.frontend.features.assemble`), because on the device a
window is all there is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.errors import ConfigError
from edge.frontend.config import FrontendConfig
from edge.frontend.features import assemble, validate_audio
from edge.frontend.kinds import feature_dim, parse_kind


def window_frames(cfg: FrontendConfig, seconds: float) -> int:
    """Frames in a window (or hop) of ``seconds``: the model's time axis, and the manifest's
    ``window.frames`` (``edge.manifest`` re-exports this one definition)."""
    return round(seconds * cfg.sr / cfg.hop_length)


def window_starts(n_frames: int, window_frames: int, hop_frames: int) -> list[int]:
    """First frame of every complete window: ``0, hop, 2*hop, ...``.

    Only windows that fit entirely are returned (a tail shorter than one hop is dropped, as
    the device would still be waiting for it); ``[]`` if the signal is shorter than one
    window (use :func:`pad_to_window` first).
    """
    if window_frames < 1 or hop_frames < 1:
        raise ConfigError(f"window_frames and hop_frames must be >= 1, got {window_frames},"
                          f" {hop_frames}")
    if n_frames < window_frames:
        return []
    return list(range(0, n_frames - window_frames + 1, hop_frames))


def frame_windows(bases: dict[str, np.ndarray], cfg: FrontendConfig, kind: str,
                  window_frames: int, hop_frames: int) -> np.ndarray:
    """Stack the windows of ``kind``: ``[n_windows, window_frames, feature_dim]`` float32.

    ``bases`` are whole-signal base features (``compute_bases``); each window is assembled
    separately so its deltas only see its own frames.
    """
    needed = {p.base for p in parse_kind(kind)}
    missing = sorted(needed - set(bases))
    if missing:
        raise ConfigError(f"feature kind {kind!r} needs base feature(s) {', '.join(missing)}")
    lengths = {bases[b].shape[0] for b in needed}
    if len(lengths) != 1:
        raise ConfigError(f"base features disagree on the number of frames: {sorted(lengths)}")
    starts = window_starts(lengths.pop(), window_frames, hop_frames)
    dim = feature_dim(cfg, kind)
    out = np.empty((len(starts), window_frames, dim), dtype=np.float32)
    for i, s in enumerate(starts):
        out[i] = assemble({b: bases[b][s : s + window_frames] for b in needed}, cfg, kind)
    return out


#: What a window's non-speech frames hold: ``none`` (the frames as heard: silence, and the zero
#: padding of short clips) or ``speech`` (the window's own speech frames, repeated in order).
WINDOW_FILLS = ("none", "speech")


def fill_with_speech(x: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """The window ``x`` (``[frames, dim]``) with its non-speech frames replaced by its speech
    frames, in order and repeated to the window's length (unchanged if all or none are speech).

    Why: statistics over a window are statistics of how much silence and padding it holds as
    much as of the voice (28 % of one corpus's window frames are padding), and an enrolled
    speaker's statistics, taken over speech, fit speech frames only. Filling keeps the
    members' fixed input shape while every frame they see is speech.
    """
    flags = np.asarray(flags, dtype=bool)
    if flags.shape != (x.shape[0],):
        raise ConfigError(f"need one speech flag per frame: {flags.shape} for {x.shape[0]} frames")
    rows = speech_fill_rows(flags)
    return x if rows is None else x[rows]


def speech_fill_rows(flags: np.ndarray) -> np.ndarray | None:
    """The rows :func:`fill_with_speech` takes from a window with these speech flags (None:
    the window stays as it is), so that a window's feature kinds share one computation."""
    idx = np.flatnonzero(flags)
    if idx.size in (0, len(flags)):
        return None
    return idx[np.arange(len(flags)) % idx.size]


def normalize(x: np.ndarray, mean: np.ndarray | list[float] | tuple[float, ...],
              std: np.ndarray | list[float] | tuple[float, ...]) -> np.ndarray:
    """``(x - mean) / std`` per feature (last axis), float32.

    The statistics come from the manifest (fitted on training speakers only). A std that is
    not positive (a constant feature) is treated as 1, as scikit-learn's StandardScaler does.
    """
    m = np.asarray(mean, dtype=np.float32)
    s = np.asarray(std, dtype=np.float32)
    x = np.asarray(x, dtype=np.float32)
    if m.shape != (x.shape[-1],) or s.shape != (x.shape[-1],):
        raise ConfigError(f"mean/std must have {x.shape[-1]} values, got {m.shape}, {s.shape}")
    s = np.where(s > 0, s, np.float32(1.0))
    return ((x - m) / s).astype(np.float32)


#: The smallest standard deviation statistics may have: a smaller one divides a feature's
#: ordinary values past float32 (the manifest refuses it, fitting floors at it).
MIN_STD = 1e-6


def fit_normalization(x: np.ndarray, min_std: float = MIN_STD) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std over every frame of ``x`` (``[..., dim]``), float64.

    ``std`` is floored at ``min_std`` so that it is never below what the manifest accepts.
    """
    flat = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
    if flat.shape[0] == 0:
        raise ConfigError("cannot fit normalisation statistics on zero frames")
    return flat.mean(axis=0), np.maximum(flat.std(axis=0), min_std)


#: A speaker's statistics keep a coefficient that barely moves from being blown up.
SPEAKER_MIN_STD = 1e-3


def speaker_statistics(speech_frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A speaker's normalisation statistics: the mean and std of a feature kind over the speech
    frames of several recordings of them, pooled (each ``[frames, dim]``, the kind assembled
    over its whole recording, VAD speech frames only). Enrolment on the device and training
    (``speaker_norm = "mixed"``) both compute them here."""
    frames = [np.asarray(f) for f in speech_frames if len(f)]
    if not frames:
        raise ConfigError("no speech frames to compute a speaker's statistics from")
    return fit_normalization(np.concatenate(frames), SPEAKER_MIN_STD)


def min_samples(cfg: FrontendConfig, n_frames: int) -> int:
    """Fewest samples for which the front end yields at least ``n_frames`` frames."""
    if cfg.center:
        return (n_frames - 1) * cfg.hop_length
    return (n_frames - 1) * cfg.hop_length + cfg.n_fft


def pad_to_window(y: np.ndarray, cfg: FrontendConfig, seconds: float) -> np.ndarray:
    """Zero-pad audio shorter than one window symmetrically so that exactly one window fits.

    Why: a model needs a full window, and many training clips (and short live utterances)
    are shorter than it. Zeros are digital silence, which the features represent the same
    way everywhere (log power at ``amin``); padding both sides keeps the speech in the middle
    of the window, where it sits in longer examples too. Longer audio is returned unchanged;
    the dtype is kept (float32 and float64 give identical features).
    """
    frames = window_frames(cfg, seconds)
    if frames < 1:
        raise ConfigError(f"a window of {seconds} s holds no frame")
    y = np.asarray(y)
    if y.size:
        validate_audio(y)  # raises AudioError on bad input
    else:  # empty audio is allowed here: it becomes one window of silence
        y = np.zeros(0, dtype=y.dtype if np.issubdtype(y.dtype, np.floating) else np.float32)
    need = max(1, min_samples(cfg, frames))
    if y.shape[0] >= need:
        return y
    total = need - y.shape[0]
    left = total // 2
    return np.pad(y, (left, total - left))
