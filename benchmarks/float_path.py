"""The float reference path for ``edge-ser bench --compare-float``: librosa + Keras.

What the device would cost without edge-ser's work: librosa features computed from scratch
for every window, normalised, and the float Keras members (``<models>/float/<member>.h5`` or
``.keras``, kept beside the int8 files by training/fixtures) called one window at a time.
Runs in its own process (the bench starts it), so its memory is measured alone and TensorFlow
never enters the device's process. Prints one JSON object (``--json``) or a short summary.

    python benchmarks/float_path.py --models tests/fixtures/models/tiny --wav clip.wav
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def peak_rss_kib() -> int:
    """This process's own peak RSS (VmHWM): ru_maxrss would include the parent's size, which
    Linux carries across fork + exec."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _fail(message: str, code: int = 1) -> None:
    print(f"edge-ser: error: {message}", file=sys.stderr)
    sys.exit(code)


def librosa_shape(y: np.ndarray, cfg: Any, librosa: Any) -> np.ndarray:
    """``[frames, 6]`` spectral shape with librosa's STFT, mel filterbank and dB: each frame's
    log-mel spectrum and the one a hop earlier, from the signal padded as the front end pads
    it (then ``edge.frontend.spectral.shape_from_logmel``, the descriptors' one definition)."""
    from edge.frontend.spectral import shape_from_logmel

    n, hop = cfg.n_fft, cfg.hop_length
    left = (n // 2 if cfg.center else 0) + hop
    padded = np.pad(y, (left, n - n // 2), mode=cfg.pad_mode)
    mel = librosa.feature.melspectrogram(
        y=padded, sr=cfg.sr, n_fft=n, hop_length=hop, win_length=cfg.win_length,
        window=cfg.window, center=False, power=cfg.power, n_mels=cfg.n_mels, fmin=cfg.fmin,
        fmax=cfg.fmax, htk=cfg.htk, norm=cfg.mel_norm)
    db = librosa.power_to_db(mel, ref=cfg.ref, amin=cfg.amin, top_db=None).T
    t = cfg.n_frames(len(y))
    return shape_from_logmel(db[:t], db[1 : t + 1], cfg)


def librosa_flatness(y: np.ndarray, cfg: Any, librosa: Any) -> np.ndarray:
    """``[frames, 1]`` flatness in dB: ``librosa.feature.spectral_flatness`` of librosa's mel
    power (floored at ``amin`` as its dB is; ``ref`` cancels in the ratio)."""
    mel = librosa.feature.melspectrogram(
        y=y, sr=cfg.sr, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
        window=cfg.window, center=cfg.center, pad_mode=cfg.pad_mode, power=cfg.power,
        n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax, htk=cfg.htk, norm=cfg.mel_norm)
    ratio = librosa.feature.spectral_flatness(S=mel, amin=cfg.amin, power=1.0)
    return 10.0 * np.log10(ratio.T)


def librosa_kind(y: np.ndarray, cfg: Any, kind: str, librosa: Any, frames: int) -> np.ndarray:
    """``[frames, dim]`` of ``kind`` from librosa, parameters taken from the FrontendConfig."""
    from edge.frontend.features import relative_level
    from edge.frontend.kinds import parse_kind

    stft = dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
                window=cfg.window, center=cfg.center, pad_mode=cfg.pad_mode)
    cache: dict[str, np.ndarray] = {}

    def log_mel() -> np.ndarray:
        if "logmel" not in cache:
            mel = librosa.feature.melspectrogram(
                y=y, sr=cfg.sr, power=cfg.power, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax,
                htk=cfg.htk, norm=cfg.mel_norm, **stft)
            cache["logmel"] = librosa.power_to_db(mel, ref=cfg.ref, amin=cfg.amin,
                                                  top_db=cfg.top_db)
        return cache["logmel"]

    def base(name: str) -> np.ndarray:  # (dim, frames)
        if name == "logmel":
            return log_mel()
        if name == "mfcc":
            return librosa.feature.mfcc(S=log_mel(), n_mfcc=cfg.n_mfcc, dct_type=cfg.dct_type,
                                        norm=cfg.norm, lifter=cfg.lifter)
        if name == "chroma":
            return librosa.feature.chroma_stft(y=y, sr=cfg.sr, n_chroma=cfg.n_chroma,
                                               tuning=cfg.tuning, norm=cfg.chroma_norm, **stft)
        if name == "rms":
            return librosa.feature.rms(y=y, frame_length=cfg.n_fft, hop_length=cfg.hop_length,
                                       center=cfg.center, pad_mode=cfg.pad_mode)
        if name == "zcr":
            return librosa.feature.zero_crossing_rate(y, frame_length=cfg.win_length,
                                                      hop_length=cfg.hop_length, center=cfg.center)
        if name == "shape":
            return librosa_shape(y, cfg, librosa).T
        if name == "flatness":
            return librosa_flatness(y, cfg, librosa).T
        if name == "pitch":
            return librosa.yin(y, fmin=cfg.f0_fmin, fmax=cfg.f0_fmax, sr=cfg.sr,
                               frame_length=cfg.f0_frame_length, hop_length=cfg.hop_length,
                               trough_threshold=cfg.trough_threshold, center=cfg.center,
                               pad_mode=cfg.pad_mode)[None, :]
        raise ValueError(f"no librosa recipe for {name!r}")

    cols = []
    for part in parse_kind(kind):
        x = np.atleast_2d(base(part.base))[:, :frames]
        if part.relative:
            x = relative_level(x.T, part.base).T
        cols.append(x)
        for order in range(1, part.delta_order + 1):
            cols.append(librosa.feature.delta(x, width=cfg.delta_width, order=order, axis=-1))
    return np.concatenate(cols, axis=0).T.astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="librosa + Keras float path (for edge-ser bench)")
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--wav", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=3.0, help="time budget of the window loop")
    ap.add_argument("--hop", type=float, default=None, help="hop seconds (default: manifest)")
    ap.add_argument("--min-windows", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    try:
        import librosa
        import tensorflow as tf
        import tf_keras as keras
    except ImportError as exc:
        _fail(f"--compare-float needs librosa, tensorflow and tf_keras ({exc.name} is missing): "
              "pip install -r requirements-train.txt", 6)
    from edge.frontend.features import compute_bases
    from edge.frontend.windows import fill_with_speech, normalize
    from edge.manifest import load_manifest
    from edge.pipeline import Pipeline
    from edge.wav import read_wav
    from train.features import speech_mask

    manifest = load_manifest(args.models)
    cfg, sr = manifest.frontend, manifest.frontend.sr
    t0 = time.perf_counter()
    models = []
    for mb in manifest.members:
        path = next((p for p in (args.models / "float" / f"{mb.name}{ext}" for ext in
                                 (".h5", ".keras")) if p.is_file()), None)
        if path is None:
            _fail(f"no float Keras model for member {mb.name!r} in {args.models / 'float'}", 4)
        models.append(keras.models.load_model(path, compile=False))
    load_s = time.perf_counter() - t0
    y = read_wav(args.wav, target_sr=sr).samples.astype(np.float32)
    n_win = round(manifest.window.seconds * sr)
    if y.size < n_win:
        y = np.pad(y, (0, n_win - y.size))
    hop = round((args.hop or manifest.window.hop_seconds) * sr)
    starts = list(range(0, y.size - n_win + 1, hop)) or [0]
    frames = manifest.window.frames
    streams = list(dict.fromkeys(mb.feature for mb in manifest.members))
    kinds = list(dict.fromkeys(manifest.features[s].kind for s in streams))
    filled = {s for s in streams if manifest.stream_fill(s) == "speech"}
    stats = {s: (np.asarray(f.mean), np.asarray(f.std)) for s, f in manifest.features.items()}
    edge = Pipeline(manifest)

    def speech_flags(seg: np.ndarray) -> np.ndarray | None:
        """The window's speech flags (the device's causal VAD over the window alone), for
        streams that fill its silence with its speech; the same flags go to the int8 path."""
        if not filled:
            return None
        return speech_mask(seg.astype(np.float64), cfg, True, manifest.speech.vad)[:frames]

    feat_t, member_t, total_t, agree = [], [], [], []
    deadline = time.perf_counter() + args.seconds
    i = 0
    while time.perf_counter() < deadline or i < args.min_windows:
        seg = y[starts[i % len(starts)]:][:n_win]
        ta = time.perf_counter()
        flags = speech_flags(seg)
        raw = {k: librosa_kind(seg, cfg, k, librosa, frames) for k in kinds}
        feats = {s: normalize(fill_with_speech(raw[manifest.features[s].kind], flags)
                              if s in filled else raw[manifest.features[s].kind], *stats[s])
                 for s in streams}
        tb = time.perf_counter()
        probs = [m(feats[mb.feature][None], training=False).numpy()[0]
                 for mb, m in zip(manifest.members, models, strict=True)]
        tc = time.perf_counter()
        feat_t.append(tb - ta)
        member_t.append(tc - tb)
        total_t.append(tc - ta)
        if i < len(starts):  # the int8 ensemble on the same window (edge front end)
            bases = compute_bases(seg.astype(np.float64), cfg, edge.bases)
            window = {b: v[:frames] for b, v in bases.items()}
            agree.append(int(np.argmax(edge._classify_window(window, flags=flags)) == np.argmax(
                np.mean(probs, axis=0))))
        i += 1

    def stat(v: list[float]) -> dict[str, float]:
        a = np.asarray(v) * 1e3
        return {"median": float(np.median(a)), "p95": float(np.percentile(a, 95)),
                "count": int(a.size)}

    result = {
        "librosa": librosa.__version__,
        "tensorflow": tf.__version__,
        "windows": i,
        "features_ms": stat(feat_t),
        "members_ms": stat(member_t),
        "window_ms": stat(total_t),
        "load_s": load_s,
        "agreement": round(float(np.mean(agree)), 3) if agree else None,
        "peak_rss_mb": peak_rss_kib() / 1024,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"float path: {result['window_ms']['median']:.2f} ms per window, "
              f"peak RSS {result['peak_rss_mb']:.0f} MB, agreement {result['agreement']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
