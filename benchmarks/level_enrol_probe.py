"""Would a speaker's level, enrolled, help? Each held-out corpus through the device with every
test speaker's speech brought to the models' trained level by one gain from K of their clips.

Why: the members use the absolute level (level-free cepstral members lose 2.3 points held out,
``session-24-rule.md``) and lose 7.6 points 10 dB quieter; the corpora sit at -18 to -15 dBFS
but RAVDESS at -33. A gain per speaker, taken from a few unlabelled clips (the 95th percentile
of their frame levels, as ``classify --json`` reports a file's), keeps the level differences
between one speaker's emotions and takes away the microphone's and the speaker's own. This is
a speaker statistic: it is reported beside enrolment, never as the figure without one.

For each corpus (its leave-one-corpus-out models), speakers with more than K files give K
random clips (``train.speakernorm.enrolment_clips``, seed 1, any emotion, never scored); the
rest are scored as recorded and with the speaker's gain, the same files both ways.

    python benchmarks/level_enrol_probe.py --models-pattern 'WORK/ENSEMBLE-{corpus}-int8' \
        --data ravdess:DIR ... --clips 10 --out OUT
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cv_int8 import apply_gain
from benchmarks.report import save_report
from edge.corpora import map_label
from edge.frontend import compute_bases
from edge.level import LevelMeter
from edge.manifest import load_manifest
from edge.pipeline import Pipeline
from edge.wav import read_wav
from train.crosscorpus import per_corpus
from train.datasets import CorpusSource, files_by_speaker, load_sources
from train.speakernorm import enrolment_clips

GAIN_LIMITS_DB = (-12.0, 24.0)  # a digital gain past these lifts hiss or clips speech


def fold_target(levels: Path, held_out: str) -> float:
    """The models' trained level: the median of their training corpora's speech levels
    (``benchmarks/corpus_levels.py``), the held-out corpus left out."""
    per = json.loads(levels.read_text())["per_corpus"]
    others = [r["median"] for c, r in per.items() if c != held_out]
    if len(others) == len(per):
        raise SystemExit(f"error: {levels} has no level of {held_out}")
    return float(np.median(others))


def score(source: str, models: Path, clips: int, target: float, seed: int) -> dict:
    manifest = load_manifest(models)
    pipe = Pipeline(manifest, num_threads=1)
    cfg, sr = manifest.frontend, manifest.frontend.sr
    labels = list(manifest.labels)
    ds = load_sources([CorpusSource.parse(source)], list(dict.fromkeys([*labels, "calm"])))
    name = ds.utts[0].corpus
    ids, raw, gained, truth, gains, t0 = [], [], [], {}, {}, time.time()
    for spk, files in files_by_speaker(ds.speaker_of()).items():
        if len(files) <= clips:
            continue
        enrol = enrolment_clips(files, spk, clips, seed)
        meter = LevelMeter()
        for i in enrol:
            meter.add(compute_bases(read_wav(ds.utts[i].path, sr).samples, cfg, ("rms",))["rms"])
        level = meter.level()
        gain_db = 0.0 if level is None else float(np.clip(target - level, *GAIN_LIMITS_DB))
        gains[spk] = {"level_dbfs": level, "gain_db": round(gain_db, 2)}
        for i in sorted(set(files) - set(enrol)):
            lab, _ = map_label(ds.utts[i].label, labels)
            if lab is None:
                continue
            y = read_wav(ds.utts[i].path, sr).samples
            ids.append(i)
            truth[i] = labels.index(lab)
            raw.append(np.asarray(pipe.classify_audio(y).probs, np.float64))
            gained.append(np.asarray(pipe.classify_audio(apply_gain(y, gain_db)).probs,
                                     np.float64))
    ids_a, names = np.array(ids), [name] * len(ds.utts)
    out = {}
    for tag, p in (("as recorded", raw), ("speaker's gain", gained)):
        p = np.stack(p)
        out[tag] = per_corpus(ids_a, p, p, truth, names, labels)[name]["core4_uar"]
    levels = [g["level_dbfs"] for g in gains.values() if g["level_dbfs"] is not None]
    return {"corpus": name, "files": len(ids), "speakers": len(gains), "target_dbfs": target,
            "speaker_level_dbfs": [round(min(levels), 1), round(float(np.median(levels)), 1),
                                   round(max(levels), 1)],
            "core4_uar": out, "gains": gains, "seconds": round(time.time() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models-pattern", required=True,
                    help="the held-out corpus's models, '{corpus}' replaced by its name")
    ap.add_argument("--data", action="append", required=True, help="FORMAT:PATH (repeatable)")
    ap.add_argument("--clips", type=int, default=10)
    ap.add_argument("--levels", type=Path, required=True,
                    help="benchmarks/corpus_levels.py's JSON: each fold's target level")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = []
    for source in args.data:
        corpus = CorpusSource.parse(source).fmt
        row = score(source, Path(args.models_pattern.format(corpus=corpus)), args.clips,
                    fold_target(args.levels, corpus), args.seed)
        print(f"{corpus}: {row['core4_uar']}", flush=True)
        rows.append(row)
    lines = [f"Each held-out corpus by its leave-one-corpus-out models (int8, the device), its "
             f"speakers' files other than their {args.clips} enrolment clips, core-4 UAR %: as "
             "recorded, and with one gain per speaker that brings the 95th percentile of their "
             f"enrolment clips' frame levels to the models' trained level (the median of the "
             f"training corpora's, `{args.levels}`; limits "
             f"{GAIN_LIMITS_DB[0]:+.0f}/{GAIN_LIMITS_DB[1]:+.0f} dB). A speaker statistic.", "",
             "| held-out corpus | files (speakers) | target dBFS "
             "| speakers' level dBFS min / median / max | as recorded | speaker's gain | change |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        a, b = (100 * r["core4_uar"][k] for k in ("as recorded", "speaker's gain"))
        lv = " / ".join(f"{v:.1f}" for v in r["speaker_level_dbfs"])
        lines.append(f"| {r['corpus']} | {r['files']} ({r['speakers']}) | "
                     f"{r['target_dbfs']:.1f} | {lv} | {a:.1f} | "
                     f"{b:.1f} | {b - a:+.1f} |")
    a = float(np.mean([r["core4_uar"]["as recorded"] for r in rows])) * 100
    b = float(np.mean([r["core4_uar"]["speaker's gain"] for r in rows])) * 100
    lines.append(f"| mean | | | | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
    save_report(args.out, "\n".join(lines), {"clips": args.clips, "rows": rows})


if __name__ == "__main__":
    main()
