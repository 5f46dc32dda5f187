"""Speaker-independent scores of the *device pipeline* (int8 members, NumPy front end, vote),
clean and under noise and gain, fold by fold.

Each fold's members (converted with ``edge-ser convert RUN --set fold-K``) classify that fold's
held-out actors exactly as ``edge-ser classify`` would; the figures are therefore what a user
gets on speakers the models never saw. Conditions: clean, white noise at given SNRs (measured
over the speech, located with the device's VAD), and gain changes (clipped like an int16 ADC).

    python benchmarks/cv_int8.py --data ../shared/data/ravdess-16k \
        --models 'runs/cv-int8/fold-{k}' --out train/results/default/int8-cv
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.corpora import load_corpus  # noqa: E402
from edge.frontend.vad import speech_span  # noqa: E402
from edge.manifest import load_manifest  # noqa: E402
from edge.metrics import confusion_markdown, format_pct, mean_std, score  # noqa: E402
from edge.pipeline import Pipeline  # noqa: E402
from edge.wav import read_wav  # noqa: E402


def add_noise(y: np.ndarray, snr_db: float, sr: int, cfg, seed: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """White noise at ``snr_db`` below the power of the speech part of ``y``."""
    start, end = speech_span(y, cfg)
    speech = y[start:end] if end > start else y
    power = float(np.mean(np.square(speech, dtype=np.float64))) or 1e-12
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(y.shape[0]) * np.sqrt(power / 10 ** (snr_db / 10))
    return np.clip(y + noise, -1.0, 1.0).astype(np.float32)


def apply_gain(y: np.ndarray, gain_db: float) -> np.ndarray:
    return np.clip(y * 10 ** (gain_db / 20), -1.0, 1.0).astype(np.float32)


def load_folds(path: Path) -> list[dict]:
    """Folds from a committed folds JSON, or from a training run folder's fold sets (their
    ``set.json`` names the held-out actors), so any corpus the run was made on works."""
    if path.is_dir():
        sets = sorted(path.glob("fold-*/set.json"), key=lambda p: int(p.parent.name[5:]))
        return [{"name": p.parent.name, "test": json.loads(p.read_text())["test_actors"]}
                for p in sets]
    return json.loads(path.read_text())["folds"]


def conditions(snrs: list[float], gains: list[float]) -> list[tuple[str, str, float]]:
    out = [("clean", "none", 0.0)]
    out += [(f"noise {s:g} dB SNR", "noise", s) for s in snrs]
    out += [(f"gain {g:+g} dB", "gain", g) for g in gains]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--format", default="ravdess")
    ap.add_argument("--folds", type=Path, default=REPO / "train/folds/ravdess-20.json",
                    help="folds JSON, or the cross-validation run folder")
    ap.add_argument("--models", required=True, help="model folder per fold, with {k} or {name}")
    ap.add_argument("--snr", type=float, nargs="*", default=[20.0, 10.0, 5.0])
    ap.add_argument("--gain", type=float, nargs="*", default=[-6.0, 6.0])
    ap.add_argument("--out", type=Path, help="folder for cv_int8.json and cv_int8.md")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    folds = load_folds(args.folds)
    corpus = load_corpus(args.data, args.format)
    conds = conditions(args.snr, args.gain)
    per_fold: dict[str, list[dict]] = {name: [] for name, _, _ in conds}
    clipped: dict[str, list[int]] = {name: [0, 0] for name, kind, _ in conds if kind == "gain"}
    labels: tuple[str, ...] = ()
    t0 = time.time()
    for k, fold in enumerate(folds, start=1):
        folder = Path(args.models.format(k=k, name=fold["name"]))
        manifest = load_manifest(folder)
        labels = manifest.labels
        pipe = Pipeline(manifest, num_threads=args.threads)
        cfg = manifest.frontend
        test = [u for u in corpus.utterances if u.speaker in set(fold["test"])]
        truth = [labels.index(u.label) for u in test]
        audio = [read_wav(u.path, target_sr=cfg.sr).samples for u in test]
        for name, kind, value in conds:
            preds = []
            for u, y in zip(test, audio, strict=True):
                seed = zlib.crc32(u.path.name.encode()) ^ int(value * 10)
                if kind == "noise":
                    y = add_noise(y, value, cfg.sr, cfg, seed)
                elif kind == "gain":
                    clipped[name][0] += int(np.max(np.abs(y)) * 10 ** (value / 20) > 1.0)
                    clipped[name][1] += 1
                    y = apply_gain(y, value)
                preds.append(labels.index(pipe.classify_audio(y).top))  # the best guess, as scored
            s = score(truth, preds, labels)
            per_fold[name].append(s.to_dict())
            print(f"{fold['name']} {name:>18}: WA {s.wa:.3f} UAR {s.uar:.3f} "
                  f"F1 {s.macro_f1:.3f} ({len(test)} files)", flush=True)
    wall = time.time() - t0

    rows = []
    summary = {}
    for name, _, _ in conds:
        stats = {m: mean_std([f[m] for f in per_fold[name]]) for m in ("wa", "uar", "macro_f1")}
        summary[name] = {m: {"mean": v[0], "std": v[1]} for m, v in stats.items()}
        if name in clipped:
            summary[name]["clipped_files"] = clipped[name][0] / max(1, clipped[name][1])
        rows.append(f"| {name} | " + " | ".join(format_pct(*stats[m]) for m in
                                                  ("wa", "uar", "macro_f1")) + " |")
    clean = per_fold["clean"]
    cm = np.sum([np.asarray(f["confusion"]) for f in clean], axis=0)
    recall = {lab: mean_std([f["per_class"][lab]["recall"] for f in clean])[0] for lab in labels}
    md = [
        "# int8 device pipeline, speaker-independent (actors never seen in training)",
        "",
        f"{len(folds)} folds of actors ({args.folds.name}); each fold's int8 members classify "
        "its held-out actors with the device pipeline (`edge-ser classify`). Mean ± std over "
        "folds. Noise is white, at the given SNR over the speech.",
        "",
        "| condition | WA % | UAR % | macro-F1 % |",
        "|---|---|---|---|",
        *rows,
        "",
        *(f"{name} clips {100 * summary[name]['clipped_files']:.1f} % of the files (their "
          "peaks go past full scale)." for name in clipped if summary[name]["clipped_files"]),
        "",
        "Per-class recall, clean (mean over folds): "
        + ", ".join(f"{lab} {100 * r:.1f} %" for lab, r in recall.items()),
        "",
        "Confusion matrix, clean, summed over folds (rows: truth, columns: prediction):",
        "",
        *confusion_markdown(cm, labels),
        "",
        f"Wall time {wall:.0f} s. Command: `python benchmarks/cv_int8.py "
        + " ".join(sys.argv[1:]) + "`",
    ]
    text = "\n".join(md) + "\n"
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "cv_int8.md").write_text(text)
        (args.out / "cv_int8.json").write_text(json.dumps(
            {"summary": summary, "per_fold": per_fold, "labels": list(labels),
             "confusion_clean": cm.tolist(), "wall_time_s": wall,
             "command": " ".join(sys.argv)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
