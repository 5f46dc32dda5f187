"""Batch feature extraction: base features of a signal, deltas, and composite kinds.

All base kinds of one config yield ``cfg.n_frames(len(y))`` frames, frame ``t`` centred on
sample ``t * hop_length`` (``center=True``), so they can be concatenated column-wise. The
per-frame computations live in ``spectral.py``/``pitch.py`` and are shared with the
streaming front end, which therefore reproduces these values bit for bit.

Short input: with ``center=True`` any non-empty signal works (one sample gives one frame,
as in librosa, whose padding makes it a frame of mostly padding); empty audio raises
:class:`~edge.errors.AudioError`, as does ``center=False`` audio shorter than ``n_fft``
(librosa raises there too). Deltas need at least ``delta_width`` frames (librosa's
``mode="interp"`` requirement); fewer raise AudioError.
"""

from __future__ import annotations

import functools

import numpy as np

from edge.errors import AudioError, ConfigError
from edge.frontend import spectral
from edge.frontend.config import BASE_KINDS, FrontendConfig
from edge.frontend.kinds import base_dim, base_kinds_of, parse_kind
from edge.frontend.pitch import yin_from_frames

#: The level of speech is this percentile of its frame levels: the loud part of it, which a
#: recording or window with speech in at least 1 frame of 20 reaches whatever its pauses hold
#: (``edge.level``'s reports, ``relative_level``).
LEVEL_PERCENTILE = 95.0

#: Geometry groups in a fixed order (STFT-based bases share one padded signal and one FFT).
GROUPS: tuple[str, ...] = ("stft", "zcr", "pitch", "shape")

#: Frames processed per block. Temporaries of a few hundred kB are recycled by the allocator,
#: whereas megabyte-sized ones are fresh pages every call (about 2x slower end to end); memory
#: stays bounded for long files. Per-frame results do not depend on the blocking.
BLOCK_FRAMES = 64
#: YIN needs ~60 kB of float64 temporaries per frame (an FFT of 1296 points, the difference
#: function, its cumulative mean): smaller blocks keep its working set near 1 MB.
PITCH_BLOCK_FRAMES = 16


def validate_audio(y: object) -> np.ndarray:
    """Return ``y`` as a 1-D float64 array or raise AudioError saying what is wrong."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise AudioError(f"audio must be a 1-D array of samples (mono), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise AudioError(f"audio must be floating point samples in [-1, 1], got dtype {arr.dtype}"
                         " (divide integer PCM by its full scale, e.g. 32768 for int16)")
    if arr.size == 0:
        raise AudioError("audio is empty (0 samples)")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise AudioError("audio contains NaN or infinite samples")
    return arr


def check_bases(bases: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate base kind names; return them as a tuple (order kept)."""
    bases = tuple(bases)
    for b in bases:
        if b not in BASE_KINDS:
            raise ConfigError(f"unknown base feature {b!r} (known: {', '.join(BASE_KINDS)})")
    if len(set(bases)) != len(bases):
        raise ConfigError(f"base features listed twice: {bases}")
    return bases


def groups_of(bases: tuple[str, ...]) -> tuple[str, ...]:
    needed = {spectral.geometry_group(b) for b in bases}
    return tuple(g for g in GROUPS if g in needed)


def bases_from_segments(segments: dict[str, np.ndarray], cfg: FrontendConfig,
                        bases: tuple[str, ...], n_frames: int) -> dict[str, np.ndarray]:
    """Frames ``0 .. n_frames-1`` of each base from the padded segments of their groups.

    ``segments[group]`` holds the (padded) samples of frame 0 onwards: frame ``k`` of the
    group reads ``seg[k*hop : k*hop + length]``. This is the one code path both the batch
    and the streaming front end use.
    """
    out = {b: np.empty((n_frames, base_dim(cfg, b)), dtype=np.float32) for b in bases}
    hop = cfg.hop_length
    for group in groups_of(bases):
        geo = spectral.geometry(cfg, group)
        seg = segments[group]
        if group == "zcr":
            out["zcr"][:] = spectral.zcr_from_segment(seg, geo.length, hop, n_frames)
            continue
        frames = spectral.frame(seg, geo.length, hop, n_frames)
        wanted = tuple(b for b in bases if spectral.geometry_group(b) == group)
        # top_db clips against the loudest value of *all* frames: clip after the blocks
        clip = group == "stft" and cfg.top_db is not None and ("mfcc" in wanted
                                                               or "logmel" in wanted)
        if clip:
            wanted = (*(b for b in wanted if b not in ("mfcc", "logmel")), "logmel")
            logmel = np.empty((n_frames, cfg.n_mels), dtype=np.float32)
        step = PITCH_BLOCK_FRAMES if group == "pitch" else BLOCK_FRAMES
        for s in range(0, n_frames, step):
            block = frames[s : s + step]
            if group == "shape":
                out["shape"][s : s + step] = spectral.shape_from_frames(block, cfg)
            elif group == "stft":
                for b, v in spectral.stft_bases_from_frames(block, cfg, wanted,
                                                            top_db=None).items():
                    (logmel if b == "logmel" and clip else out[b])[s : s + step] = v
            else:
                out["pitch"][s : s + step, 0] = yin_from_frames(block, cfg)
        if clip:
            logmel = np.maximum(logmel, logmel.max() - np.float32(cfg.top_db))
            if "logmel" in out:
                out["logmel"][:] = logmel
            if "mfcc" in out:
                out["mfcc"][:] = spectral.mfcc_from_logmel(logmel, cfg)
    return out


def compute_bases(y: np.ndarray, cfg: FrontendConfig,
                  bases: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
    """Several base features of a whole signal at once (shared padding and FFT)."""
    bases = check_bases(bases)
    y = validate_audio(y)
    n = cfg.n_frames(y.shape[0])
    if n <= 0:
        raise AudioError(f"audio of {y.shape[0]} samples is shorter than one frame "
                         f"(n_fft={cfg.n_fft} with center=False)")
    segments = {g: spectral.padded_segment(y, spectral.geometry(cfg, g), n)
                for g in groups_of(bases)}
    return bases_from_segments(segments, cfg, bases, n)


def compute_base(y: np.ndarray, cfg: FrontendConfig, base: str) -> np.ndarray:
    """One base feature of a whole signal: ``(cfg.n_frames(len(y)), dim)`` float32."""
    return compute_bases(y, cfg, (base,))[base]


@functools.lru_cache(maxsize=16)
def delta_coefficients(width: int, order: int) -> np.ndarray:
    """Savitzky-Golay weights of the ``order``-th derivative of a degree-``order`` fit.

    scipy.signal.savgol_coeffs(width, order, deriv=order, use="dot"): ``w @ x[t-h : t+h+1]``.
    Closed forms of its least-squares fit (the lags are symmetric, so the normal equations
    decouple): no LAPACK call, whose pages would cost the device about 0.9 MB of RSS.
    """
    if width < 3 or width % 2 == 0 or order not in (1, 2):
        raise ConfigError(f"delta needs an odd width >= 3 and order 1 or 2, got {width}, {order}")
    x = np.arange(-(width // 2), width // 2 + 1, dtype=np.float64)
    if order == 1:
        coeffs = x / (x @ x)
    else:
        d = x * x - (x * x).mean()
        coeffs = 2.0 * d / (d @ d)
    coeffs.flags.writeable = False
    return coeffs


def delta(frames: np.ndarray, width: int = 9, order: int = 1) -> np.ndarray:
    """librosa.feature.delta(frames.T, width=width, order=order, mode="interp").T, float32.

    Along time (axis 0). With librosa's ``polyorder = order``, ``mode="interp"`` fits a
    polynomial of degree ``order`` to the first/last ``width`` frames; its ``order``-th
    derivative is a constant equal to the interior filter at that window's centre, so the
    edges simply repeat the first/last interior value.
    """
    x = np.asarray(frames, dtype=np.float64)
    if width < 3 or width % 2 == 0:
        raise ConfigError(f"delta width must be an odd integer >= 3, got {width}")
    if order not in (1, 2):
        raise ConfigError(f"delta order must be 1 or 2, got {order}")
    n = x.shape[0]
    if n < width:
        raise AudioError(f"deltas need at least {width} frames, got {n}")
    c = delta_coefficients(width, order)
    half = width // 2
    inner = c[0] * x[: n - 2 * half]
    for j in range(1, width):
        inner = inner + c[j] * x[j : n - 2 * half + j]
    out = np.empty_like(x)
    out[half : n - half] = inner
    out[:half] = inner[0]
    out[n - half :] = inner[-1]
    return out.astype(np.float32)


def assemble(bases: dict[str, np.ndarray], cfg: FrontendConfig, kind: str) -> np.ndarray:
    """Columns of ``kind`` from its base features: ``(frames, feature_dim(cfg, kind))``.

    Parts come in the kind's order; ``X_d`` is ``[X, delta(X)]``, ``X_dd`` is
    ``[X, delta(X), delta(X, order=2)]``. Deltas are computed over exactly the frames given,
    so calling this per model window gives the same values as the device does per window.
    """
    cols: list[np.ndarray] = []
    n_frames: int | None = None
    for part in parse_kind(kind):
        if part.base not in bases:
            raise ConfigError(f"feature kind {kind!r} needs base feature {part.base!r},"
                              " which was not computed")
        x = np.asarray(bases[part.base], dtype=np.float32)
        dim = base_dim(cfg, part.base)
        if x.ndim != 2 or x.shape[1] != dim:
            raise ConfigError(f"base feature {part.base!r} must have shape (frames, {dim}),"
                              f" got {x.shape}")
        if n_frames is None:
            n_frames = x.shape[0]
        elif x.shape[0] != n_frames:
            raise ConfigError(f"base features disagree on the number of frames "
                              f"({n_frames} vs {x.shape[0]} for {part.base!r})")
        if part.relative:
            x = relative_level(x, part.base)
        cols.append(x)
        for order in range(1, part.delta_order + 1):
            cols.append(delta(x, cfg.delta_width, order))
    return np.ascontiguousarray(np.concatenate(cols, axis=1), dtype=np.float32)


def relative_level(x: np.ndarray, base: str) -> np.ndarray:
    """``x`` (a level base's frames, ``[frames, dim]``) with the frames' own level taken out:
    the ``LEVEL_PERCENTILE``-th percentile of their frame levels, subtracted in dB (``mfcc``:
    c0, the only coefficient a gain moves; ``logmel``: every band by the frames' mean band)
    or divided out (``rms``). A gain then changes nothing but what falls under the dB floor.

    Why: cepstral members on the absolute level lose 6-7 points of core-4 UAR 10 dB quieter,
    on these kinds 1.2; they also lose the loudness cue, 2.3 points on held-out corpora, so the
    bundled members do not use them (``train/results/multicorpus/session-24-rule.md``): for
    far-field microphones. A high percentile is the loud part of the window's speech however
    many of its frames are pauses or padding. Per window (as deltas are): on the device a
    window is all there is.
    """
    x = np.array(x, dtype=np.float32)
    if x.shape[0] == 0:
        return x
    if base == "mfcc":
        x[:, 0] -= np.float32(np.percentile(x[:, 0], LEVEL_PERCENTILE))
    elif base == "logmel":
        x -= np.float32(np.percentile(x.mean(axis=1), LEVEL_PERCENTILE))
    elif base == "rms":
        ref = np.float32(np.percentile(x[:, 0], LEVEL_PERCENTILE))
        x /= max(ref, np.finfo(np.float32).tiny)
    else:
        raise ConfigError(f"base feature {base!r} carries no level to take out")
    return x


def compute_features(y: np.ndarray, cfg: FrontendConfig, kind: str) -> np.ndarray:
    """Frame-level features of a whole signal for ``kind``: ``(frames, dim)`` float32."""
    return assemble(compute_bases(y, cfg, base_kinds_of([kind])), cfg, kind)
