"""Which augmentations move leave-one-corpus-out? A screen with the fast utterance-statistics
SVM (``screen_corpora.py``'s model) over one augmented copy per training file.

Why: each member run takes an hour here; this ranks augmentations in minutes, on what the
multi-corpus issue asks: room (generated impulse responses), channel (telephone band, a cheap
microphone's EQ), codec, level, speed perturbation, and the recipe's own pitch/tempo/noise
mix. Each variant adds one copy of every training file with that augmentation alone; the
held-out corpus is always scored clean, on core-4 UAR.

    python benchmarks/augment_screen.py --data ravdess:DIR --data nemo:DIR ... --cache CACHE
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.screen_corpora import fit_svm, frame_matrix, write_table
from edge.corpora import CORE_4
from train.augment import AugmentConfig
from train.config import load_config
from train.datasets import CorpusSource, load_sources
from train.experiment import augment_config, feature_settings
from train.features import default_cache_dir, extract

OFF = dict(pitch_semitones=0.0, stretch_min=1.0, stretch_max=1.0, snr_max_db=0.0, gain_db=0.0)
VARIANTS: dict[str, dict[str, float]] = {
    "recipe: pitch+tempo+noise+level": {},
    "room (generated RIR)": {**OFF, "reverb_prob": 1.0},
    "telephone band": {**OFF, "telephone_prob": 1.0},
    "cheap microphone EQ": {**OFF, "eq_prob": 1.0},
    "codec (8-bit mu-law)": {**OFF, "codec_prob": 1.0},
    "level (+-6 dB)": {**OFF, "gain_db": 6.0},
    "speed perturbation 0.9-1.1": {**OFF, "speed_prob": 1.0},
    "channel mix: room+phone+EQ+codec": {**OFF, "reverb_prob": 0.5, "telephone_prob": 0.3,
                                             "eq_prob": 0.5, "codec_prob": 0.3},
}


def utt_vectors(frames: list[np.ndarray]) -> np.ndarray:
    return np.stack([np.concatenate([f.mean(0), f.std(0)]) for f in frames])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", required=True, help="FORMAT:PATH (repeatable)")
    ap.add_argument("--cache", type=Path, default=default_cache_dir())
    ap.add_argument("--kind", default="mfcc+pitch+rms")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="write the table (.md) and JSON here")
    args = ap.parse_args()

    cfg = load_config(None, [f"labels={json.dumps(list(CORE_4))}"])
    fe = cfg.frontend_config()
    labels = list(CORE_4)
    ds = load_sources([CorpusSource.parse(d) for d in args.data], labels)
    corpus = ds.corpus_of()
    y = ds.y
    cols = [labels.index(c) for c in CORE_4]
    base = feature_settings(cfg, fe, [args.kind])
    clean = extract(ds.utts, lambda i: [0], base, cfg.seed, args.cache, jobs=args.jobs)
    x_clean = utt_vectors([frame_matrix(clean[(i, 0)], fe, args.kind) for i in range(len(y))])
    corpora = sorted(set(corpus))

    def loco(x_aug: np.ndarray | None) -> dict[str, float]:
        out = {}
        for held in corpora:
            tr, te = np.flatnonzero(corpus != held), np.flatnonzero(corpus == held)
            xs, ys, cs = [x_clean[tr]], [y[tr]], [corpus[tr]]
            if x_aug is not None:
                xs.append(x_aug[tr])
                ys.append(y[tr])
                cs.append(corpus[tr])
            svm = fit_svm(np.concatenate(xs), np.concatenate(ys), np.concatenate(cs),
                          len(labels))
            out[held] = svm.core4_uar(x_clean[te], y[te], cols)
        out["mean"] = float(np.mean([out[c] for c in corpora]))
        return out

    results = {"none (clean only)": loco(None)}
    print("none", {k: round(v, 3) for k, v in results["none (clean only)"].items()}, flush=True)
    recipe = augment_config(cfg)
    for name in args.variants.split(","):
        aug = dataclasses.replace(recipe, copies=2, **VARIANTS[name])  # copy 1 only
        settings = dataclasses.replace(base, augment=aug)
        assert isinstance(settings.augment, AugmentConfig)
        # every file's copy 1 (a training file's; the held-out corpus is never scored on it)
        feats = extract(ds.utts, lambda i: [1], settings, cfg.seed, args.cache, jobs=args.jobs)
        x_aug = utt_vectors([frame_matrix(feats[(i, 1)], fe, args.kind) for i in range(len(y))])
        results[name] = loco(x_aug)
        print(name, {k: round(v, 3) for k, v in results[name].items()}, flush=True)
    write_table("training copies", results, corpora, args.out, ref="none (clean only)")

if __name__ == "__main__":
    main()
