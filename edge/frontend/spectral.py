"""Spectral building blocks in NumPy, numerically equivalent to librosa.

Each function names the librosa (or scipy) function it reproduces. Filterbanks, windows and
DCT matrices are built once per configuration (``functools.lru_cache`` on the frozen config)
so that the steady state is a strided view, one ``rfft`` and a few small matrix products.

Two numerical choices matter for the streaming front end (``streaming.py``), which must give
*bit-identical* frames whether a frame is computed alone or among hundreds:

* every per-frame operation is row-independent: the FFT works row by row, and the small
  projections (mel, chroma, DCT) are *stacked* matrix-vector products
  (``matmul(x[:, None, :], W)``), one identical BLAS call per frame. A plain ``x @ W`` lets
  BLAS pick a different kernel (and summation order) depending on how many frames there are.
* the FFT runs in float64: NumPy's pocketfft is about 3x faster for float64 than for float32
  on a frame matrix, and it is more accurate; the projections run in float32 (sums of
  non-negative terms, exact to ~1e-7 relative) and the DCT in float64.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from edge.errors import ConfigError
from edge.frontend.config import WINDOWS, FrontendConfig

# ---- framing geometry -----------------------------------------------------------------------

#: Base kinds computed from the (unwindowed) n_fft frames; they share one padded signal.
STFT_BASES: tuple[str, ...] = ("mfcc", "logmel", "chroma", "rms", "flatness")


@dataclass(frozen=True)
class Geometry:
    """Where the samples of frame ``t`` come from, for one group of base kinds.

    Frame ``t`` analyses ``length`` samples of the signal padded by ``left`` samples at the
    start and ``right`` at the end (``pad_mode``), starting at padded index
    ``t * hop + offset``; in signal coordinates it covers ``[start(t), start(t) + length)``.
    ``left = length // 2`` reproduces librosa's centring; ``right = length - length // 2``
    equals it for even lengths and leaves room for the last frame for odd ones.
    """

    length: int
    left: int
    right: int
    offset: int
    hop: int
    pad_mode: str

    def start(self, t: int) -> int:
        """First signal sample (may be negative: padding) of frame ``t``."""
        return t * self.hop + self.offset - self.left

    def stop(self, t: int) -> int:
        """One past the last signal sample (may exceed the signal: padding) of frame ``t``."""
        return self.start(t) + self.length


def geometry_group(base: str) -> str:
    """Bases in the same group share one padded signal (and, for STFT bases, one FFT)."""
    return "stft" if base in STFT_BASES else base


@functools.lru_cache(maxsize=64)
def geometry(cfg: FrontendConfig, group: str) -> Geometry:
    """Frame geometry of a group ("stft", "zcr", "pitch" or "shape"); see FrontendConfig's
    docstring."""
    if group == "stft":
        length, mode = cfg.n_fft, cfg.pad_mode
    elif group == "zcr":
        length, mode = cfg.win_length, "edge"  # librosa.feature.zero_crossing_rate pads edge
    elif group == "pitch":
        length, mode = cfg.f0_frame_length, cfg.pad_mode
    elif group == "shape":
        # the n_fft frame one hop earlier, then frame t itself (flux compares the two)
        n, hop = cfg.n_fft, cfg.hop_length
        offset = 0 if cfg.center else n // 2
        return Geometry(n + hop, n // 2 + hop, n - n // 2, offset, hop, cfg.pad_mode)
    else:
        raise ConfigError(f"unknown frame geometry group {group!r}")
    offset = 0 if cfg.center else cfg.n_fft // 2
    return Geometry(length, length // 2, length - length // 2, offset, cfg.hop_length, mode)


def pad(y: np.ndarray, left: int, right: int, mode: str) -> np.ndarray:
    """``np.pad`` as librosa calls it (constant pads with zeros)."""
    if left == 0 and right == 0:
        return y
    return np.pad(y, (left, right), mode=mode)  # type: ignore[call-overload]


def frame(x: np.ndarray, length: int, hop: int, n_frames: int) -> np.ndarray:
    """Read-only strided view ``(n_frames, length)``: row ``t`` is ``x[t*hop : t*hop+length]``.

    librosa.util.frame with the frame axis first, so that each frame is a contiguous row.
    """
    if n_frames <= 0:
        return np.empty((0, length), dtype=x.dtype)
    if x.shape[0] < (n_frames - 1) * hop + length:
        raise ValueError("segment too short for the requested frames")  # internal misuse
    (stride,) = x.strides
    return np.lib.stride_tricks.as_strided(
        x, shape=(n_frames, length), strides=(hop * stride, stride), writeable=False
    )


def padded_segment(y: np.ndarray, geo: Geometry, n_frames: int) -> np.ndarray:
    """The part of the padded signal that frames ``0 .. n_frames-1`` read (batch case)."""
    padded = pad(y, geo.left, geo.right, geo.pad_mode)
    return padded[geo.offset : geo.offset + (n_frames - 1) * geo.hop + geo.length]


# ---- windows ----------------------------------------------------------------------------------
def get_window(name: str, length: int) -> np.ndarray:
    """Periodic window, as ``scipy.signal.get_window(name, length, fftbins=True)`` (float64)."""
    try:
        kind = WINDOWS[name]
    except KeyError:
        raise ConfigError(f"unsupported window {name!r}") from None
    if length <= 1:
        return np.ones(max(length, 0))
    if kind == "boxcar":
        return np.ones(length)
    coefs = {"hann": (0.5, 0.5), "hamming": (0.54, 0.46), "blackman": (0.42, 0.50, 0.08)}[kind]
    # scipy's general_cosine: symmetric window of length+1 points, last point dropped
    fac = np.linspace(-np.pi, np.pi, length + 1)
    w = np.zeros(length + 1)
    for k, a in enumerate(coefs):
        w += a * np.cos(k * fac)
    return w[:-1]


@functools.lru_cache(maxsize=16)
def fft_window(cfg: FrontendConfig) -> np.ndarray:
    """The analysis window centred in ``n_fft`` samples (librosa.util.pad_center)."""
    w = get_window(cfg.window, cfg.win_length)
    lpad = (cfg.n_fft - cfg.win_length) // 2
    out = np.zeros(cfg.n_fft)
    out[lpad : lpad + cfg.win_length] = w
    out.flags.writeable = False
    return out


# ---- mel and chroma filterbanks ---------------------------------------------------------------
def hz_to_mel(f: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """librosa.hz_to_mel (Slaney's Auditory Toolbox scale, or HTK)."""
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz,
                    min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mels)


def mel_to_hz(m: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """librosa.mel_to_hz."""
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_frequencies(n: int, fmin: float, fmax: float, htk: bool) -> np.ndarray:
    """librosa.mel_frequencies: ``n`` frequencies (Hz) evenly spaced on the mel scale."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n), htk)


@functools.lru_cache(maxsize=16)
def mel_filterbank(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float | None,
                   htk: bool, norm: str | None) -> np.ndarray:
    """librosa.filters.mel (float32, shape ``(n_mels, 1 + n_fft // 2)``), same operations."""
    if fmax is None:
        fmax = float(sr) / 2
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_frequencies(n_mels + 2, fmin, fmax, htk)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    if norm == "slaney":
        enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
        weights *= enorm[:, np.newaxis]
    elif norm is not None:
        raise ConfigError(f"unsupported mel norm {norm!r}")
    weights.flags.writeable = False
    return weights


def _normalize_columns(w: np.ndarray, norm: float | None) -> np.ndarray:
    """librosa.util.normalize(w, norm=norm, axis=0) with its default threshold/fill."""
    if norm is None:
        return w
    mag = np.abs(w)
    if np.isinf(norm):
        length = mag.max(axis=0, keepdims=True) if norm > 0 else mag.min(axis=0, keepdims=True)
    else:
        length = np.sum(mag**norm, axis=0, keepdims=True) ** (1.0 / norm)
    length = np.where(length < np.finfo(w.dtype).tiny, 1.0, length)
    return w / length


@functools.lru_cache(maxsize=16)
def chroma_filterbank(sr: float, n_fft: int, n_chroma: int, tuning: float) -> np.ndarray:
    """librosa.filters.chroma with its defaults (ctroct=5, octwidth=2, norm=2, base_c=True).

    float32, shape ``(n_chroma, 1 + n_fft // 2)``.
    """
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    a440 = 440.0 * 2.0 ** (tuning / n_chroma)
    frqbins = n_chroma * np.log2(frequencies / (float(a440) / 16))
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))
    d = np.subtract.outer(frqbins, np.arange(0, n_chroma, dtype="d")).T
    n_chroma2 = np.round(float(n_chroma) / 2)
    d = np.remainder(d + n_chroma2 + 10 * n_chroma, n_chroma) - n_chroma2
    wts = np.exp(-0.5 * (2 * d / np.tile(binwidthbins, (n_chroma, 1))) ** 2)
    wts = _normalize_columns(wts, 2.0)
    ctroct, octwidth = 5.0, 2.0
    wts *= np.tile(np.exp(-0.5 * (((frqbins / n_chroma - ctroct) / octwidth) ** 2)),
                   (n_chroma, 1))
    wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)
    out = np.ascontiguousarray(wts[:, : int(1 + n_fft / 2)], dtype=np.float32)
    out.flags.writeable = False
    return out


# ---- DCT and lifter ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def dct_matrix(n_in: int, n_out: int, dct_type: int = 2, norm: str | None = "ortho") -> np.ndarray:
    """Rows of scipy.fft.dct(x, type=dct_type, norm=norm) as a matrix: ``dct(x)[:n_out] = D @ x``.

    float64, shape ``(n_out, n_in)``; types 2 and 3, norm None or "ortho".
    """
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    if dct_type == 2:
        d = 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * n_in))
        if norm == "ortho":
            d[0] *= np.sqrt(1.0 / (4 * n_in))
            d[1:] *= np.sqrt(1.0 / (2 * n_in))
    elif dct_type == 3:
        d = 2.0 * np.cos(np.pi * n * (2 * k + 1) / (2 * n_in))
        if norm == "ortho":
            d[:, 0] *= np.sqrt(1.0 / (4 * n_in))
            d[:, 1:] *= np.sqrt(1.0 / (2 * n_in))
        else:
            d[:, 0] = 1.0
    else:
        raise ConfigError(f"unsupported dct_type {dct_type}")
    if norm not in (None, "ortho"):
        raise ConfigError(f"unsupported DCT norm {norm!r}")
    d.flags.writeable = False
    return d


def lifter_weights(n_mfcc: int, lifter: float) -> np.ndarray:
    """librosa.feature.mfcc's cepstral lifter ``1 + (L/2) sin(pi (k+1) / L)`` (1 if L == 0)."""
    if lifter == 0:
        return np.ones(n_mfcc)
    return 1 + (lifter / 2) * np.sin(np.pi * np.arange(1, 1 + n_mfcc) / lifter)


@functools.lru_cache(maxsize=16)
def _mel_t(cfg: FrontendConfig) -> np.ndarray:
    fb = mel_filterbank(cfg.sr, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax, cfg.htk, cfg.mel_norm)
    return _frozen(np.ascontiguousarray(fb.T))


@functools.lru_cache(maxsize=16)
def _chroma_t(cfg: FrontendConfig) -> np.ndarray:
    fb = chroma_filterbank(cfg.sr, cfg.n_fft, cfg.n_chroma, cfg.tuning)
    return _frozen(np.ascontiguousarray(fb.T))


@functools.lru_cache(maxsize=16)
def _cepstrum_t(cfg: FrontendConfig) -> np.ndarray:
    """DCT rows times lifter, transposed: ``mfcc = logmel @ C`` (float64)."""
    d = dct_matrix(cfg.n_mels, cfg.n_mfcc, cfg.dct_type, cfg.norm)
    return _frozen(np.ascontiguousarray((d * lifter_weights(cfg.n_mfcc, cfg.lifter)[:, None]).T))


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def rowwise_matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` computed as one identical matrix-vector product per row.

    The result of each row does not depend on how many rows there are (a plain ``x @ w``
    may change BLAS kernel, and rounding, with the row count); streaming relies on this.
    """
    x = np.ascontiguousarray(x)
    return np.matmul(x[:, None, :], w)[:, 0, :]


# ---- log compression --------------------------------------------------------------------------
def power_to_db(s: np.ndarray, ref: float = 1.0, amin: float = 1e-10,
                top_db: float | None = 80.0) -> np.ndarray:
    """librosa.power_to_db for a fixed (non-callable) ``ref``; top_db is over all of ``s``."""
    if amin <= 0:
        raise ConfigError("amin must be strictly positive")
    log_spec = 10.0 * np.log10(np.maximum(amin, s))
    log_spec -= 10.0 * np.log10(np.maximum(amin, abs(ref)))
    if top_db is not None:
        if top_db < 0:
            raise ConfigError("top_db must be non-negative")
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec


# ---- per-frame features from frame matrices ---------------------------------------------------
def spectra(frames: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    """Complex STFT rows ``(T, 1 + n_fft // 2)`` of the n_fft frames (librosa.stft, transposed)."""
    return np.fft.rfft(frames * fft_window(cfg), axis=-1)


def power_spectrum(spec: np.ndarray, power: float) -> np.ndarray:
    """``np.abs(X) ** power`` (float64) as librosa computes it, squaring in place."""
    p = np.abs(spec)
    if power == 2.0:
        np.multiply(p, p, out=p)
    elif power != 1.0:
        np.power(p, power, out=p)
    return p


def logmel_from_power(p: np.ndarray, cfg: FrontendConfig,
                      top_db: float | None = None) -> np.ndarray:
    """power_to_db(melspectrogram, top_db=top_db), rows are frames, float32.

    ``top_db`` clips relative to the loudest value of the frames given (librosa does so over
    the whole signal, so callers pass ``cfg.top_db`` only with all frames at hand).
    """
    mel = rowwise_matmul(p.astype(np.float32), _mel_t(cfg))
    return power_to_db(mel, ref=cfg.ref, amin=cfg.amin, top_db=top_db)


def mfcc_from_logmel(logmel: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    """librosa.feature.mfcc(S=logmel) with lifter, float32 (DCT in float64)."""
    return rowwise_matmul(logmel.astype(np.float64), _cepstrum_t(cfg)).astype(np.float32)


def chroma_from_power(p2: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    """librosa.feature.chroma_stft(S=|X|^2, tuning=cfg.tuning, norm=cfg.chroma_norm), float32."""
    raw = rowwise_matmul(p2.astype(np.float32), _chroma_t(cfg))
    norm = cfg.chroma_norm
    if norm is None:
        return raw
    mag = np.abs(raw).astype(np.float64)  # librosa.util.normalize measures in float64
    if math.isinf(norm):
        length = mag.max(axis=1, keepdims=True)
    else:
        length = np.sum(mag**norm, axis=1, keepdims=True) ** (1.0 / norm)
    # librosa leaves columns below the dtype's tiny un-normalised (silence stays 0)
    length = np.where(length < np.finfo(np.float32).tiny, np.float32(1.0), length)
    return (raw / length).astype(np.float32)


def rms_from_frames(frames: np.ndarray) -> np.ndarray:
    """librosa.feature.rms(y=...) of the raw (unwindowed) n_fft frames, shape ``(T, 1)``."""
    power = np.einsum("ij,ij->i", frames, frames) / frames.shape[1]
    return np.sqrt(power).astype(np.float32)[:, None]


def zcr_from_segment(seg: np.ndarray, length: int, hop: int, n_frames: int,
                     threshold: float = 1e-10) -> np.ndarray:
    """librosa.feature.zero_crossing_rate over frames of ``seg`` (already edge padded).

    librosa: samples with ``|x| <= threshold`` count as 0, a crossing is a change of sign bit
    (zero counts as positive), the first sample of a frame never counts, and the rate is
    crossings / frame length. Counts come from an integer cumulative sum (exact, so any
    segmentation of the signal gives the same numbers).
    """
    if n_frames <= 0:
        return np.empty((0, 1), dtype=np.float32)
    neg = seg < -threshold
    cross = np.zeros(seg.shape[0], dtype=np.int64)
    np.not_equal(neg[1:], neg[:-1], out=cross[1:], casting="unsafe")
    csum = np.cumsum(cross)
    starts = np.arange(n_frames) * hop
    counts = csum[starts + length - 1] - csum[starts]
    return (counts / length).astype(np.float32)[:, None]


def stft_bases_from_frames(frames: np.ndarray, cfg: FrontendConfig, wanted: tuple[str, ...],
                           top_db: float | None = None) -> dict[str, np.ndarray]:
    """mfcc/logmel/chroma/rms/flatness of n_fft frame rows (one FFT shared by the spectral
    ones).

    ``top_db`` is applied over these frames only (see :func:`logmel_from_power`); flatness
    reads the unclipped log-mel, so it stays a property of its own frame.
    """
    out: dict[str, np.ndarray] = {}
    if "rms" in wanted:
        out["rms"] = rms_from_frames(frames)
    spectral = [b for b in wanted if b in ("mfcc", "logmel", "chroma", "flatness")]
    if not spectral:
        return out
    spec = spectra(frames, cfg)
    p = power_spectrum(spec, cfg.power)
    logmel = logmel_from_power(p, cfg, top_db) if "mfcc" in wanted or "logmel" in wanted else None
    if "flatness" in wanted:
        raw = logmel if logmel is not None and top_db is None else logmel_from_power(p, cfg)
        out["flatness"] = flatness_from_logmel(raw)
    if logmel is not None:
        if "logmel" in wanted:
            out["logmel"] = logmel
        if "mfcc" in wanted:
            out["mfcc"] = mfcc_from_logmel(logmel, cfg)
    if "chroma" in wanted:
        p2 = p if cfg.power == 2.0 else power_spectrum(spec, 2.0)
        out["chroma"] = chroma_from_power(p2, cfg)
    return out



def flatness_from_logmel(db: np.ndarray) -> np.ndarray:
    """Spectral flatness of each frame's mel bands in dB (geometric over arithmetic mean of the
    band powers: 0 for a flat spectrum, very negative for a few strong harmonics), float32
    ``[frames, 1]``; ``librosa.feature.spectral_flatness`` of the mel power, in dB.

    Breathy or noisy voice (sad, tired) is flatter than tense, harmonic-rich voice (angry,
    happy), and a microphone's gain cannot move it: beside the spectral shape it raised the
    screens' leave-one-corpus-out UAR from 46.5 to 50.0 % (``screen-descriptors.md``).
    """
    d = db.astype(np.float64)
    top = d.max(axis=1, keepdims=True)  # factored out: 10 ** (dB / 10) of -100 dB is tiny
    mean_power_db = 10.0 * np.log10(np.mean(10.0 ** ((d - top) / 10.0), axis=1)) + top[:, 0]
    return (d.mean(axis=1) - mean_power_db)[:, None].astype(np.float32)


# ---- spectral shape ---------------------------------------------------------------------------
#: What each of the six ``shape`` values is, in column order.
SHAPE_NAMES: tuple[str, ...] = ("slope", "alpha_ratio", "hammarberg", "centroid", "entropy",
                                "flux")


@functools.lru_cache(maxsize=16)
def mel_band_centres(cfg: FrontendConfig) -> np.ndarray:
    """Centre frequencies (Hz) of the mel bands (librosa.mel_frequencies(n_mels + 2)[1:-1])."""
    fmax = float(cfg.sr) / 2 if cfg.fmax is None else cfg.fmax
    return _frozen(mel_frequencies(cfg.n_mels + 2, cfg.fmin, fmax, cfg.htk)[1:-1].copy())


@dataclass(frozen=True)
class _ShapeBands:
    """Which mel bands each descriptor reads, and its weights, for one config."""

    below_1k: np.ndarray  # 0/1 weights
    from_1k_to_5k: np.ndarray  # 0/1 weights
    khz: np.ndarray  # band centres
    slope: np.ndarray  # least-squares dB-per-kHz weights below 5 kHz (sum to 0)
    below_2k: np.ndarray  # bool
    from_2k_to_5k: np.ndarray  # bool


@functools.lru_cache(maxsize=16)
def _shape_bands(cfg: FrontendConfig) -> _ShapeBands:
    hz = mel_band_centres(cfg)
    inside = hz < 5000.0
    khz = hz / 1000.0
    kc = np.where(inside, khz - (khz[inside].mean() if inside.any() else 0.0), 0.0)
    return _ShapeBands(*(_frozen(np.asarray(a)) for a in (
        (hz < 1000.0).astype(np.float64), ((hz >= 1000.0) & inside).astype(np.float64), khz,
        kc / (kc @ kc if kc @ kc > 0 else 1.0), hz < 2000.0, (hz >= 2000.0) & inside)))


def shape_from_logmel(prev_db: np.ndarray, cur_db: np.ndarray,
                      cfg: FrontendConfig) -> np.ndarray:
    """Six level-free descriptors of each frame's mel spectrum (eGeMAPS-like), float32:

    slope (dB per kHz, bands below 5 kHz), alpha ratio (dB, energy below 1 kHz over 1-5 kHz),
    Hammarberg index (dB, strongest band below 2 kHz over the strongest in 2-5 kHz), centroid
    (kHz), entropy of the band energies (nats), and flux (mean absolute change of the
    mean-removed dB spectrum from the frame one hop earlier, ``prev_db``).

    A microphone's gain adds the same dB to every band, so none of them moves with it: that,
    and their few dimensions, is why they carry across corpora where cepstra do not
    (``train/results/multicorpus/screen-spectral.md``). Bands a config lacks give 0.
    """
    bands = _shape_bands(cfg)
    cur = cur_db.astype(np.float64)
    p = 10.0 ** (cur / 10.0)
    # every sum is a reduction along its own row: a frame's values never depend on how many
    # frames are computed with it, so streaming equals batch
    total = p.sum(axis=1)
    low, mid = (p * bands.below_1k).sum(axis=1), (p * bands.from_1k_to_5k).sum(axis=1)
    tiny = np.finfo(np.float64).tiny
    alpha = 10.0 * (np.log10(low + tiny) - np.log10(mid + tiny))
    alpha[(low <= 0) | (mid <= 0)] = 0.0
    if bands.below_2k.any() and bands.from_2k_to_5k.any():
        hamm = cur[:, bands.below_2k].max(1) - cur[:, bands.from_2k_to_5k].max(1)
    else:
        hamm = np.zeros(len(cur))
    slope = (cur * bands.slope).sum(axis=1)
    centroid = (p * bands.khz).sum(axis=1) / (total + tiny)
    q = p / (total[:, None] + tiny)
    entropy = -(q * np.log(q + tiny)).sum(axis=1)
    prev = prev_db.astype(np.float64)
    change = np.abs((cur - cur.mean(axis=1, keepdims=True))
                    - (prev - prev.mean(axis=1, keepdims=True)))
    flux = change.mean(axis=1)
    return np.stack([slope, alpha, hamm, centroid, entropy, flux], axis=1).astype(np.float32)


def shape_from_frames(frames: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    """``shape`` of frames of the "shape" geometry (n_fft + hop samples: the frame one hop
    earlier, then the frame itself)."""
    n, hop = cfg.n_fft, cfg.hop_length
    # row k's earlier frame is row k-1's own frame: one FFT per frame, plus the first's
    rows = np.concatenate([frames[:1, :n], frames[:, hop : hop + n]])
    db = logmel_from_power(power_spectrum(spectra(rows, cfg), cfg.power), cfg)
    return shape_from_logmel(db[:-1], db[1:], cfg)
