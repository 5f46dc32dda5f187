"""Band-limited sample-rate conversion in NumPy only (the Pi has no scipy/soxr).

The filter is a Kaiser-windowed sinc evaluated at the exact rational phases of the conversion
(``sr_out / sr_in = up / down`` after dividing by the gcd), so there is no phase-table
interpolation error for ordinary rates. Design, relative to the lower of the two Nyquist
frequencies: flat (ripple ≤ 1e-5) to 0.90, −6 dB at 0.95, stopband (≥ 100 dB) from 1.00, so
nothing above the new Nyquist aliases into the output. The filter is zero-phase: output sample
``n`` is the signal at input time ``n * sr_in / sr_out``, like soxr and resampy, and the signal
is taken as zero outside the input. Output length is ``ceil(len * sr_out / sr_in)``, as in
``librosa.resample``.

Speed comes from BLAS matrix products: the input is cut into rows of ``B`` samples, each row is
multiplied by a precomputed ``B × (A·P)`` matrix holding every filter phase, and the ``A``
partial sums that belong to one output are added along a diagonal (48 kHz → 16 kHz: ~580
multiply-adds per output, no Python loop per sample). Rates whose
phase count makes that matrix too large (e.g. 44 056 Hz, or a prime rate) fall back to a gather
per output, slower but in bounded memory. :class:`StreamingResampler` runs the very same per-row
arithmetic on a sliding buffer, so its concatenated output equals :func:`resample` for any
chunking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["MAX_RATE", "StreamingResampler", "filter_length", "resample"]

ROLLOFF = 0.95  # −6 dB cutoff, fraction of the lower Nyquist
TRANSITION = 0.10  # full transition width, fraction of the lower Nyquist (0.90 … 1.00)
ATTENUATION_DB = 100.0  # stopband attenuation and passband ripple target (Kaiser δ)
MAX_RATE = 10_000_000  # Hz; beyond this a "rate" is surely garbage

_MATRIX_LIMIT = 1 << 21  # max entries of the row matrix (8 MB float32) before the gather path
_BANK_LIMIT = 1 << 21  # max entries of an exact phase bank in the gather path
_TABLE_PER_ZERO = 1024  # kernel table points per sinc zero crossing when phases are too many
_CHUNK_ENTRIES = 1 << 18  # work-array entries per block (keeps temporaries in cache)
# Multiply-adds per BLAS call. OpenBLAS runs GEMMs above 2^18 multiply-adds on all cores; when
# the cores are busy (audio capture and inference on the Pi, parallel tests on CI) its threads
# wait for each other and a 1 ms product takes 10-300 ms. Calls this small stay on one core.
_GEMM_MACS = 1 << 18


@dataclass(frozen=True)
class _Kernel:
    """Precomputed filter for one reduced ratio ``up / down``; shared by batch and streaming."""

    up: int  # L: output samples per period
    down: int  # M: input samples per period
    half: int  # K: half-width of the filter in input samples (2K taps per output)
    # Matrix path (None when the gather path is used).
    block: int = 0  # B: input samples per row (c·M)
    per_row: int = 0  # P: outputs per row (c·L)
    n_blocks: int = 0  # A: rows spanned by one output's taps
    matrix: np.ndarray | None = field(default=None, repr=False)  # (B, A·P) float32
    # Gather path: exact bank (L, 2K) or a fine table of the continuous kernel.
    bank: np.ndarray | None = field(default=None, repr=False)
    table: np.ndarray | None = field(default=None, repr=False)
    table_density: int = 0  # table points per input sample

    # -- streaming bookkeeping -------------------------------------------------------------
    def ready(self, n_in: int) -> int:
        """How many outputs are fully determined by the first ``n_in`` input samples."""
        if self.matrix is not None:
            rows = (n_in + self.half - 1) // self.block - self.n_blocks + 1
            return max(0, rows) * self.per_row
        num = (n_in - self.half) * self.up - 1
        return max(0, num // self.down + 1) if num >= 0 else 0

    def input_start(self, n: int) -> int:
        """First input index that output ``n`` (and every later one) needs."""
        if self.matrix is not None:
            return (n // self.per_row) * self.block - (self.half - 1)
        return (n * self.down) // self.up - self.half + 1

    # -- computation -----------------------------------------------------------------------
    def compute(self, seg: np.ndarray, seg_start: int, n0: int, n1: int) -> np.ndarray:
        """Outputs ``n0 … n1-1`` from ``seg`` = input[seg_start:…], zero elsewhere."""
        if n1 <= n0:
            return np.zeros(0, np.float32)
        if self.matrix is not None:
            return self._compute_rows(seg, seg_start, n0, n1)
        return self._compute_gather(seg, seg_start, n0, n1)

    def _compute_rows(self, seg: np.ndarray, seg_start: int, n0: int, n1: int) -> np.ndarray:
        assert self.matrix is not None
        b, p, a_n = self.block, self.per_row, self.n_blocks
        q0, q1 = n0 // p, -(-n1 // p)
        out = np.empty((q1 - q0) * p, np.float32)
        step = max(a_n, _CHUNK_ENTRIES // (a_n * p))
        gemm_rows = max(1, _GEMM_MACS // self.matrix.size)
        for qa in range(q0, q1, step):
            qb = min(q1, qa + step)
            rows = qb - qa
            lo = qa * b - (self.half - 1)
            xs = _window(seg, seg_start, lo, lo + (rows + a_n - 1) * b).reshape(-1, b)
            z = np.empty((xs.shape[0], a_n * p), np.float32)
            for i in range(0, xs.shape[0], gemm_rows):
                np.matmul(xs[i:i + gemm_rows], self.matrix, out=z[i:i + gemm_rows])
            z = z.reshape(-1, a_n, p)
            acc = z[0:rows, 0, :].copy()
            for a in range(1, a_n):
                acc += z[a:a + rows, a, :]
            out[(qa - q0) * p:(qb - q0) * p] = acc.ravel()
        return out[n0 - q0 * p:n1 - q0 * p]

    def _compute_gather(self, seg: np.ndarray, seg_start: int, n0: int, n1: int) -> np.ndarray:
        taps = 2 * self.half
        out = np.empty(n1 - n0, np.float32)
        step = max(1, _CHUNK_ENTRIES // taps)
        for na in range(n0, n1, step):
            nb = min(n1, na + step)
            pos = np.arange(na, nb, dtype=np.int64) * self.down
            base, phase = np.divmod(pos, self.up)
            starts = base - self.half + 1
            lo = int(starts[0])
            win = _window(seg, seg_start, lo, int(starts[-1]) + taps)
            frames = sliding_window_view(win, taps)[starts - lo]
            out[na - n0:nb - n0] = np.einsum("ij,ij->i", frames, self._weights(phase))
        return out

    def _weights(self, phase: np.ndarray) -> np.ndarray:
        """Per-output tap weights (rows sum to 1) for the given phases."""
        if self.bank is not None:
            return self.bank[phase]
        assert self.table is not None
        d = self.table_density
        j = np.arange(2 * self.half)
        # Kernel argument t = phase/L + K-1-j, stored at table index (t + K)·d.
        u = (phase[:, None] / self.up + (2 * self.half - 1 - j)[None, :]) * d
        i = np.minimum(u.astype(np.int64), self.table.size - 2)
        f = u - i
        w = self.table[i] * (1 - f) + self.table[i + 1] * f
        w /= w.sum(axis=1, keepdims=True)
        return w.astype(np.float32)


def _window(seg: np.ndarray, seg_start: int, lo: int, hi: int) -> np.ndarray:
    """``input[lo:hi]`` with zeros wherever ``seg`` (input[seg_start:…]) does not reach."""
    a, b = lo - seg_start, hi - seg_start
    if a >= 0 and b <= seg.size:
        return seg[a:b]
    out = np.zeros(hi - lo, np.float32)
    s, e = max(a, 0), min(b, seg.size)
    if e > s:
        out[s - a:e - a] = seg[s:e]
    return out


@lru_cache(maxsize=4)
def _kaiser_table(beta: float) -> tuple[np.ndarray, np.ndarray]:
    """The Kaiser window sampled finely as a function of s = (t/half)².

    ``I0(beta·sqrt(1 - s))`` is an entire function of s, so linear interpolation on 2^16
    intervals is accurate to ~1e-9, and np.interp is ~20× faster than np.i0 on big banks.
    """
    s = np.linspace(0.0, 1.0, (1 << 16) + 1)
    return s, np.i0(beta * np.sqrt(1.0 - s)) / np.i0(beta)


def _kaiser_sinc(t: np.ndarray, rho: float, half: int, beta: float) -> np.ndarray:
    """Continuous kernel: band-limited sinc times a Kaiser window spanning ``|t| < half``."""
    s = (t / half) ** 2
    win = np.interp(s, *_kaiser_table(beta), right=0.0)
    return rho * np.sinc(rho * t) * np.where(s < 1.0, win, 0.0)


def _check_rate(name: str, sr: int) -> int:
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {sr!r}")
    if not 0 < int(sr) <= MAX_RATE:
        raise ValueError(f"{name} must be in 1 … {MAX_RATE} Hz, got {sr}")
    return int(sr)


@lru_cache(maxsize=8)  # each ≤ 8 MB
def _kernel(up: int, down: int) -> _Kernel:
    rho = ROLLOFF * min(up, down) / down
    zeros = (ATTENUATION_DB - 7.95) * ROLLOFF / (14.36 * TRANSITION)  # Kaiser's length formula
    half = math.ceil(zeros / rho)
    beta = 0.1102 * (ATTENUATION_DB - 8.7)
    taps = 2 * half
    j = np.arange(taps)

    def bank_rows(phases: np.ndarray, dtype: type = np.float64) -> np.ndarray:
        # row by row blocks: the float64 temporaries of one block stay ~1 MB, where a whole
        # bank at once (e.g. 16 000 phases for 16 001 Hz → 16 kHz) peaked above 100 MB
        out = np.empty((phases.size, taps), dtype)
        step = max(1, (1 << 17) // taps)
        for i in range(0, phases.size, step):
            t = phases[i:i + step, None] / up + (half - 1 - j)[None, :]
            h = _kaiser_sinc(t, rho, half, beta)
            out[i:i + step] = h / h.sum(axis=1, keepdims=True)  # unity gain at DC, every phase
        return out

    # Matrix path: rows of B = c·M inputs, c·L outputs; B ≈ K/2 balances GEMM vs diagonal sums.
    # Both the matrix and a block of partial sums (≥ A rows of A·P) must stay small.
    c = max(1, (half // 2) // down)
    while c >= 1:
        block, per_row = c * down, c * up
        n_blocks = (block + taps - 2) // block + 1
        if block * n_blocks * per_row <= _MATRIX_LIMIT and \
                2 * n_blocks * n_blocks * per_row <= 4 * _CHUNK_ENTRIES:
            break
        c //= 2
    if c >= 1:
        r = np.arange(per_row, dtype=np.int64)
        first, phase = np.divmod(r * down, up)
        flat = np.zeros((n_blocks * block, per_row))
        flat[first[:, None] + j[None, :], r[:, None]] = bank_rows(np.arange(up))[phase]
        matrix = flat.reshape(n_blocks, block, per_row).transpose(1, 0, 2).reshape(block, -1)
        return _Kernel(up, down, half, block=block, per_row=per_row,
                       n_blocks=n_blocks, matrix=np.ascontiguousarray(matrix, np.float32))
    if up * taps <= _BANK_LIMIT:
        bank = bank_rows(np.arange(up), np.float32)
        return _Kernel(up, down, half, bank=bank)
    density = max(1, math.ceil(_TABLE_PER_ZERO * rho))
    grid = np.arange(taps * density + 1) / density - half
    return _Kernel(up, down, half, table=_kaiser_sinc(grid, rho, half, beta),
                   table_density=density)


def _reduce(sr_in: int, sr_out: int) -> tuple[int, int]:
    g = math.gcd(sr_in, sr_out)
    return sr_out // g, sr_in // g


def filter_length(sr_in: int, sr_out: int) -> int:
    """Taps per output sample (input samples the filter spans); useful for latency estimates."""
    up, down = _reduce(_check_rate("sr_in", sr_in), _check_rate("sr_out", sr_out))
    return 0 if up == down else 2 * _kernel(up, down).half


def _as_mono_f32(y: np.ndarray) -> np.ndarray:
    x = np.asarray(y)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D signal, got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=np.float32)


def resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample a 1-D signal; returns float32 of length ``ceil(len(y) * sr_out / sr_in)``."""
    x = _as_mono_f32(y)
    up, down = _reduce(_check_rate("sr_in", sr_in), _check_rate("sr_out", sr_out))
    if up == down:
        return x.copy()
    n_out = -(-x.size * up // down)
    return _kernel(up, down).compute(x, 0, 0, n_out)


class StreamingResampler:
    """Chunk-by-chunk :func:`resample` in bounded memory.

    ``process`` returns every output sample that the input seen so far fully determines;
    ``flush`` returns the rest (the tail that needs the zero padding after the end) and resets
    the object for a new stream. The concatenation equals ``resample(whole, sr_in, sr_out)``.
    Latency is about ``filter_length(sr_in, sr_out) / 2`` input samples plus one row.
    """

    def __init__(self, sr_in: int, sr_out: int) -> None:
        self.sr_in = _check_rate("sr_in", sr_in)
        self.sr_out = _check_rate("sr_out", sr_out)
        self._up, self._down = _reduce(self.sr_in, self.sr_out)
        self._kernel = None if self._up == self._down else _kernel(self._up, self._down)
        self._reset()

    def _reset(self) -> None:
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # input index of _buf[0]
        self._n_in = 0
        self._n_out = 0

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Feed the next input samples; return the outputs they complete (maybe none)."""
        x = _as_mono_f32(chunk)
        k = self._kernel
        if k is None:
            return x.copy()
        self._buf = np.concatenate((self._buf, x)) if self._buf.size else x.copy()
        self._n_in += x.size
        n_ready = k.ready(self._n_in)
        y = k.compute(self._buf, self._buf_start, self._n_out, n_ready)
        self._n_out = max(self._n_out, n_ready)
        drop = k.input_start(self._n_out) - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        return y

    def flush(self) -> np.ndarray:
        """Return the remaining outputs (input is over) and reset for a new stream."""
        k = self._kernel
        y = np.zeros(0, np.float32)
        if k is not None:
            n_total = -(-self._n_in * self._up // self._down)
            y = k.compute(self._buf, self._buf_start, self._n_out, n_total)
        self._reset()
        return y
