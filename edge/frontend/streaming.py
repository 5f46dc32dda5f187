"""Streaming front end: the batch features, frame by frame, as audio arrives.

Everything pushed and then flushed gives exactly (``np.array_equal``) what
:func:`~edge.frontend.features.compute_base` gives on the concatenated audio, for every base
kind and pad mode: frames are computed by the same function from the same samples, and every
per-frame operation is independent of how many frames are computed together.

Frame ``t`` is emitted (for all bases at once, in lockstep) as soon as every base has the
samples it reads: the longest analysis window decides (pitch: ``f0_frame_length // 2``
samples after the frame centre, 32 ms by default). Left padding is reproduced from the first
samples (``reflect`` needs ``length // 2 + 1`` of them); right padding is only known at the
end, so the last frames come from :meth:`StreamingFrontend.flush`. Only the samples that
unfinished frames still need are kept, so memory is bounded whatever the stream length.

``top_db`` clips relative to the loudest frame of the whole signal, which a stream cannot
know: configs with ``top_db`` set are refused for mfcc/logmel.
"""

from __future__ import annotations

import numpy as np

from edge.errors import AudioError, ConfigError
from edge.frontend import spectral
from edge.frontend.config import FrontendConfig
from edge.frontend.features import bases_from_segments, check_bases, compute_bases, groups_of
from edge.frontend.kinds import base_dim


class StreamingFrontend:
    """Incremental base features; see the module docstring for the guarantees."""

    def __init__(self, cfg: FrontendConfig, bases: tuple[str, ...]) -> None:
        self.cfg = cfg
        self.bases = check_bases(bases)
        if not self.bases:
            raise ConfigError("StreamingFrontend needs at least one base feature")
        if cfg.top_db is not None and {"mfcc", "logmel"} & set(self.bases):
            raise ConfigError("top_db clips against the loudest frame of the whole signal, "
                              "which a stream cannot know; use top_db=None for streaming")
        self._groups = groups_of(self.bases)
        self._geo = {g: spectral.geometry(cfg, g) for g in self._groups}
        # samples that must stay available before the next frame and at the end (reflect/edge)
        self._tail_keep = max(geo.right for geo in self._geo.values()) + 1
        self._dims = {b: base_dim(cfg, b) for b in self.bases}
        self.reset()

    # ---- public API ------------------------------------------------------------------
    @property
    def frames_emitted(self) -> int:
        """Frames emitted so far (per base; all bases are in lockstep)."""
        return self._next

    @property
    def samples_pushed(self) -> int:
        return self._n

    def reset(self) -> None:
        """Forget everything: the next push starts a new signal."""
        self._base_cap = max(4096, 4 * max(geo.length for geo in self._geo.values()))
        self._buf = np.zeros(self._base_cap, dtype=np.float64)
        self._buf_start = 0  # absolute index of self._buf[0]
        self._buf_len = 0
        self._n = 0  # samples pushed
        self._next = 0  # next frame index to emit
        self._finished = False

    def push(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        """Add samples; return the frames completed by them (possibly 0 rows per base)."""
        if self._finished:
            raise RuntimeError("stream was flushed; call reset() before pushing again")
        x = np.asarray(chunk)
        if x.ndim != 1 or not np.issubdtype(x.dtype, np.floating):
            raise AudioError(f"chunk must be a 1-D float array, got shape {x.shape}, {x.dtype}")
        if x.size and not np.isfinite(x).all():
            raise AudioError("audio chunk contains NaN or infinite samples")
        self._append(x.astype(np.float64, copy=False))
        stop = self._ready_until()
        out = self._compute(self._next, stop) if stop > self._next else self._empty()
        self._next = max(self._next, stop)
        self._trim()
        return out

    def flush(self) -> dict[str, np.ndarray]:
        """End of signal: the remaining frames, padded at the end as the batch front end does.

        After flush() the stream is finished; reset() starts a new one. Flushing a stream
        that received no samples (or, with ``center=False``, fewer than ``n_fft``) returns no
        frames where the batch front end would raise AudioError.
        """
        if self._finished:
            return self._empty()
        self._finished = True
        total = self.cfg.n_frames(self._n)
        if self._n == 0 or total <= self._next:
            return self._empty()
        if self._buf_start == 0:
            # the whole signal is still here: literally the batch computation
            full = compute_bases(self._buf[: self._buf_len], self.cfg, self.bases)
            out = {b: full[b][self._next :] for b in self.bases}
        else:
            out = self._compute(self._next, total, final=True)
        self._next = total
        return out

    # ---- internals -------------------------------------------------------------------
    def _empty(self) -> dict[str, np.ndarray]:
        return {b: np.empty((0, d), dtype=np.float32) for b, d in self._dims.items()}

    def _append(self, x: np.ndarray) -> None:
        m = x.shape[0]
        if self._buf_len + m > self._buf.shape[0]:
            cap = max(2 * self._buf.shape[0], self._buf_len + m)
            grown = np.empty(cap, dtype=np.float64)
            grown[: self._buf_len] = self._buf[: self._buf_len]
            self._buf = grown
        self._buf[self._buf_len : self._buf_len + m] = x
        self._buf_len += m
        self._n += m

    def _ready_until(self) -> int:
        """One past the last frame whose samples (and left padding) are all known."""
        n = self._n
        stop = self.cfg.n_frames(n)
        for geo in self._geo.values():
            # frame t is complete when geo.stop(t) <= n
            stop = min(stop, max(0, (n - geo.stop(0)) // geo.hop + 1))
            if geo.pad_mode == "reflect":
                # reflecting k samples of left padding needs samples 1..k
                first = geo.start(self._next)
                if first < 0 and n < 1 - first:
                    return self._next
        return stop

    def _segment(self, geo: spectral.Geometry, t0: int, t1: int, final: bool) -> np.ndarray:
        """Padded samples read by frames t0..t1-1 of one group (same values as batch)."""
        a, e = geo.start(t0), geo.stop(t1 - 1)
        data = self._buf[: self._buf_len]
        b0 = self._buf_start
        if not final:
            if a >= 0:
                return data[a - b0 : e - b0]
            # left padding (nothing has been dropped yet): pad enough real samples
            assert b0 == 0
            avail = data[: max(e, 1 - a)]
            return spectral.pad(avail, -a, 0, geo.pad_mode)[: e - a]
        # end of signal with samples dropped (a > 0): pad the retained tail on the right
        right = max(0, e - self._n)
        return spectral.pad(data, 0, right, geo.pad_mode)[a - b0 : e - b0]

    def _compute(self, t0: int, t1: int, final: bool = False) -> dict[str, np.ndarray]:
        segs = {g: self._segment(geo, t0, t1, final) for g, geo in self._geo.items()}
        return bases_from_segments(segs, self.cfg, self.bases, t1 - t0)

    def _trim(self) -> None:
        """Drop samples no future frame reads (keeping enough for end padding)."""
        keep_from = min(geo.start(self._next) for geo in self._geo.values())
        keep_from = min(keep_from, self._n - self._tail_keep)
        drop = keep_from - self._buf_start
        if drop <= 0 or drop < self._buf.shape[0] // 2:
            return  # move data only when it frees at least half the buffer
        keep = self._buf_len - drop
        if self._buf.shape[0] > 4 * self._base_cap and keep <= self._base_cap // 2:
            # after a huge chunk: give the memory back
            small = np.empty(self._base_cap, dtype=np.float64)
            small[:keep] = self._buf[drop : self._buf_len]
            self._buf = small
        else:
            self._buf[:keep] = self._buf[drop : self._buf_len]
        self._buf_len = keep
        self._buf_start = keep_from
