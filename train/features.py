"""Features for training, exactly as the device makes them, cached on disk.

Per file and copy (0 = the clean recording, 1.. = augmented copies of training files) the
front end's *base* features of the whole recording are computed once with
``edge.frontend.compute_base`` and cached under a key made of the front-end config, the
preprocessing and augmentation settings and the file's path, size and mtime; a second run with
the same settings reads them back instead of recomputing (RAVDESS: ~2 min → seconds).

Windows are then cut with ``edge.frontend.windows.frame_windows`` (deltas per window as on the
device) from the full recording, silence included, and gated like the device: a window counts
if at least ``min_speech_fraction`` of its frames are speech by the VAD; a file with no such
window keeps the one with the most speech (the window centred on the speech).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.corpora import Utterance
from edge.frontend.config import FrontendConfig
from edge.frontend.windows import fit_normalization as edge_fit_normalization
from edge.frontend.windows import normalize as edge_normalize
from edge.fsutil import atomic_write
from train.augment import AugmentConfig, augment_waveform, copy_rng
from train.preprocess import PreprocessConfig, load_audio, preprocess

if TYPE_CHECKING:
    from edge.frontend.vad import VadConfig

CACHE_VERSION = 2


def default_cache_dir() -> Path:
    """Where features are cached unless a command is told otherwise: $EDGE_SER_CACHE, else
    ~/.cache/edge-ser (training, the teacher and the screens share it)."""
    return Path(os.environ.get("EDGE_SER_CACHE", Path.home() / ".cache" / "edge-ser"))


@dataclass(frozen=True)
class FeatureSettings:
    """Everything that changes a cached file's features (and so its cache key)."""

    frontend: FrontendConfig
    bases: tuple[str, ...]
    preprocess: PreprocessConfig
    augment: AugmentConfig
    window_seconds: float

    def key(self, copy: int) -> str:
        # the bases are not in the key: one entry holds every base computed so far
        d: dict[str, Any] = {
            "v": CACHE_VERSION,
            "frontend": self.frontend.to_dict(),
            "preprocess": self.preprocess.to_dict(),
            "window_seconds": self.window_seconds,
        }
        if copy > 0:  # the clean copy does not depend on augmentation settings
            d["augment"] = self.augment.to_dict()
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class FileFeatures:
    """Base features of one recording (or augmented copy) and its per-frame speech mask."""

    bases: dict[str, np.ndarray]   # base -> [frames, dim] float32
    speech: np.ndarray             # [frames] bool
    n_samples: int

    @property
    def n_frames(self) -> int:
        return int(self.speech.shape[0])


def file_fingerprint(path: Path) -> str:
    st = os.stat(path)
    return f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}"


def cache_path(cache_dir: Path, settings: FeatureSettings, utt: Utterance, copy: int) -> Path:
    h = hashlib.sha256(f"{file_fingerprint(utt.path)}|{copy}".encode()).hexdigest()[:24]
    return cache_dir / settings.key(copy) / h[:2] / f"{h}.npz"


def speech_mask(y: np.ndarray, cfg: FrontendConfig, enabled: bool,
                vad: VadConfig | None = None) -> np.ndarray:
    """Per-frame speech flags exactly as the device's streaming VAD makes them (causal;
    ``vad``: a manifest's thresholds, default the recipe's)."""
    from edge.frontend.features import compute_bases
    from edge.frontend.vad import speech_frames

    rz = compute_bases(y, cfg, ("rms", "zcr"))
    if not enabled:
        return np.ones(rz["rms"].shape[0], dtype=bool)
    return np.asarray(speech_frames(rz["rms"], rz["zcr"], cfg, vad, causal=True), dtype=bool)


def compute_file(utt: Utterance, copy: int, settings: FeatureSettings, seed: int,
                 change: Callable[[np.ndarray, int, str], np.ndarray] | None = None
                 ) -> FileFeatures:
    """Read, (``change``: as a room or a line would change the recording, for benchmarks)
    preprocess, (for copy > 0) augment, pad to a window, and run the front end."""
    from edge.frontend.features import compute_bases
    from edge.frontend.windows import pad_to_window

    cfg = settings.frontend
    y = load_audio(utt.path, settings.preprocess)
    if change is not None:
        y = change(y, cfg.sr, str(utt.path))
    y, span = preprocess(y, settings.preprocess, cfg)
    if copy > 0:
        rng = copy_rng(str(utt.path.name), copy, seed)
        y, _ = augment_waveform(y, cfg.sr, settings.augment, rng, span)
    n = len(y)
    y = np.asarray(pad_to_window(y, cfg, settings.window_seconds), dtype=np.float32)
    bases = {b: np.asarray(v, dtype=np.float32)
             for b, v in compute_bases(y, cfg, settings.bases).items()}
    mask = speech_mask(y, cfg, settings.preprocess.vad)
    return FileFeatures(bases, mask, n)


def load_or_compute(utt: Utterance, copy: int, settings: FeatureSettings, seed: int,
                    cache_dir: Path | None) -> FileFeatures:
    path = cache_path(cache_dir, settings, utt, copy) if cache_dir else None
    cached: dict[str, np.ndarray] = {}
    if path is not None and path.is_file():
        try:
            with np.load(path) as z:
                cached = {k[2:]: z[k] for k in z.files if k.startswith("b_")}
                if all(b in cached for b in settings.bases):
                    return FileFeatures({b: cached[b] for b in settings.bases}, z["speech"],
                                        int(z["n_samples"]))
        except (OSError, KeyError, ValueError):
            cached = {}  # a damaged entry is recomputed
    # only the bases the entry lacks (a copy's augmentation is seeded, so its audio is the
    # same): a new base beside cached ones does not pay for pitch tracking again
    missing = tuple(b for b in settings.bases if b not in cached)
    ff = compute_file(utt, copy, replace(settings, bases=missing), seed)
    ff.bases = {b: cached[b] if b in cached else ff.bases[b] for b in settings.bases}
    if path is not None:
        everything = {**cached, **ff.bases}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda fh: np.savez(fh, speech=ff.speech, n_samples=ff.n_samples,
                                               **{f"b_{b}": v for b, v in everything.items()}))
    return ff


def extract(utts: Sequence[Utterance], copies_of: Callable[[int], list[int]],
            settings: FeatureSettings, seed: int, cache_dir: Path | None, jobs: int = 1,
            log: Callable[[str], None] | None = None) -> dict[tuple[int, int], FileFeatures]:
    """Features of every (file index, copy) asked for, from the cache where possible."""
    tasks = [(i, c) for i in range(len(utts)) for c in copies_of(i)]
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    t0 = time.time()
    out: dict[tuple[int, int], FileFeatures] = {}
    if jobs > 1 and len(tasks) > 8:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=jobs, batch_size=8)(
            delayed(load_or_compute)(utts[i], c, settings, seed, cache_dir) for i, c in tasks)
        out = dict(zip(tasks, results, strict=True))
    else:
        for k, (i, c) in enumerate(tasks):
            out[(i, c)] = load_or_compute(utts[i], c, settings, seed, cache_dir)
            if (k + 1) % 500 == 0:
                log(f"  features {k + 1}/{len(tasks)} ({time.time() - t0:.0f} s)")
    log(f"features: {len(tasks)} file copies in {time.time() - t0:.1f} s")
    return out


# ---- windows -------------------------------------------------------------------------------
def select_windows(speech: np.ndarray, window_frames: int, hop_frames: int,
                   min_speech_fraction: float) -> np.ndarray:
    """Indices (into ``window_starts``) of the windows that pass the speech gate."""
    from edge.frontend.vad import speech_gate
    from edge.frontend.windows import window_starts

    starts = np.asarray(window_starts(len(speech), window_frames, hop_frames), dtype=np.int64)
    if starts.size == 0:
        return starts
    csum = np.concatenate([[0], np.cumsum(speech.astype(np.int64))])
    ends = np.minimum(starts + window_frames, len(speech))
    frac = (csum[ends] - csum[starts]) / window_frames
    keep = np.flatnonzero([speech_gate(float(f), min_speech_fraction) for f in frac])
    if keep.size == 0:
        keep = np.array([int(np.argmax(frac))])
    return keep


def file_windows(ff: FileFeatures, cfg: FrontendConfig, kind: str, window_frames: int,
                 hop_frames: int, min_speech_fraction: float, fill: str = "none"
                 ) -> np.ndarray:
    """The gated windows of one file: [n, window_frames, dim] float32 (``fill``: see
    edge.frontend.windows.WINDOW_FILLS)."""
    from edge.frontend.windows import fill_with_speech, frame_windows, window_starts

    wins = np.asarray(frame_windows(ff.bases, cfg, kind, window_frames, hop_frames))
    keep = select_windows(ff.speech, window_frames, hop_frames, min_speech_fraction)
    out = wins[keep].astype(np.float32)
    if fill == "speech":
        starts = window_starts(len(ff.speech), window_frames, hop_frames)
        for j, k in enumerate(keep):
            out[j] = fill_with_speech(out[j], ff.speech[starts[k]:starts[k] + window_frames])
    return out


@dataclass
class Windows:
    """Windows of a list of files: X [n, frames, dim], label y [n], file index [n]."""

    x: np.ndarray
    y: np.ndarray
    file: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])


def build_windows(feats: dict[tuple[int, int], FileFeatures], files: Sequence[int],
                  copies: Sequence[int], labels: Sequence[int], cfg: FrontendConfig, kind: str,
                  window_frames: int, hop_frames: int, min_speech_fraction: float,
                  dtype: Any = np.float32, fill: str = "none") -> Windows:
    """Stack the gated windows of ``files`` × ``copies`` (file index = corpus index)."""
    xs, ys, fs = [], [], []
    for i in files:
        for c in copies:
            if (i, c) not in feats:
                continue
            w = file_windows(feats[(i, c)], cfg, kind, window_frames, hop_frames,
                             min_speech_fraction, fill)
            xs.append(w.astype(dtype))
            ys.append(np.full(len(w), labels[i], dtype=np.int64))
            fs.append(np.full(len(w), i, dtype=np.int64))
    if not xs:
        from edge.frontend import feature_dim

        d = feature_dim(cfg, kind)
        return Windows(np.zeros((0, window_frames, d), dtype), np.zeros(0, np.int64),
                       np.zeros(0, np.int64))
    return Windows(np.concatenate(xs), np.concatenate(ys), np.concatenate(fs))


# ---- normalisation -------------------------------------------------------------------------
def fit_normalization(x: np.ndarray, min_std: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """The edge statistics (edge.frontend.windows) over training-actor windows, as float32.

    The 1e-3 floor keeps a near-constant coefficient from being blown up to unit variance.
    """
    mean, std = edge_fit_normalization(x, min_std)
    return mean.astype(np.float32), std.astype(np.float32)


def normalize(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The device's normalisation (edge.frontend.windows.normalize), as float32."""
    return np.asarray(edge_normalize(x.astype(np.float32), mean, std), dtype=np.float32)


def corpus_statistics(w: Windows, corpus_of: np.ndarray
                      ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Normalisation statistics of each corpus's windows (``corpus_norm``)."""
    names = np.asarray(corpus_of)[w.file]
    return {str(c): fit_normalization(w.x[names == c]) for c in np.unique(names)}


def normalize_by(x: np.ndarray, groups: np.ndarray,
                 stats: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Each window normalised by its own group's statistics (``groups``: a corpus or speaker
    name per window, keys of ``stats``)."""
    out = np.empty(x.shape, np.float32)
    for g in np.unique(groups):
        sel = groups == g
        out[sel] = normalize(x[sel], *stats[str(g)])
    return out


def speech_frames(ff: FileFeatures, cfg: FrontendConfig, kind: str,
                  min_speech: int = 1) -> np.ndarray:
    """``kind`` assembled over a whole recording, its speech frames (all frames if it has
    fewer than ``min_speech`` of them)."""
    from edge.frontend import assemble

    m = np.asarray(assemble(ff.bases, cfg, kind), dtype=np.float32)
    sp = ff.speech[: len(m)]
    return m[sp] if sp.sum() >= min_speech else m


# ---- utterance statistics (baselines) ------------------------------------------------------
def utterance_stats(ff: FileFeatures, cfg: FrontendConfig, kind: str) -> np.ndarray:
    """Mean and std of ``kind`` over the speech frames of a whole recording."""
    sel = speech_frames(ff, cfg, kind)
    return np.concatenate([sel.mean(axis=0), sel.std(axis=0)])
