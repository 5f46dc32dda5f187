"""Leave-one-corpus-out screen of what the utterance statistics are computed over and of.

Why: the window-statistics members average every frame of a window, silence and padding
included, and see MFCC 0 and RMS (the recording level) and pitch in Hz. Corpora differ in all
three for reasons that are not emotion (clip trimming, microphone gain, speakers' registers).
This screen asks, with the screens' SVM (a minute per variant), whether statistics over speech
frames only, level-free energy and log pitch, or richer statistics (percentiles, mean absolute
frame-to-frame change) carry better to a corpus no model saw.

    python benchmarks/screen_statistics.py --data ravdess:DIR --data nemo:DIR ... \\
        --cache CACHE --out train/results/multicorpus/screen-statistics
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.screen_corpora import load_frames, loco_row, screen_arguments, write_table
from edge.corpora import CORE_4
from edge.frontend.kinds import base_columns

KIND = "mfcc+pitch+rms"


def level_free(f: np.ndarray, col: dict[str, int]) -> np.ndarray:
    """RMS in dB and MFCC 0 relative to the utterance's median (the level a microphone and its
    gain set), pitch in semitones re 100 Hz."""
    g = f.copy()
    r = 20.0 * np.log10(np.maximum(g[:, col["rms"]], 1e-5))
    g[:, col["rms"]] = r - np.median(r)
    g[:, col["mfcc"]] -= np.median(g[:, col["mfcc"]])
    g[:, col["pitch"]] = 12.0 * np.log2(np.maximum(g[:, col["pitch"]], 1.0) / 100.0)
    return g


def mean_std(f: np.ndarray) -> np.ndarray:
    return np.concatenate([f.mean(0), f.std(0)])


def rich(f: np.ndarray) -> np.ndarray:
    """Mean, std, 10/50/90th percentiles and mean absolute frame-to-frame change."""
    d = np.abs(np.diff(f, axis=0)).mean(0) if len(f) > 1 else np.zeros(f.shape[1])
    return np.concatenate([mean_std(f), np.percentile(f, [10, 50, 90], axis=0).ravel(), d])


def variants(col: dict[str, int]) -> dict[str, tuple[bool, Callable[[np.ndarray], np.ndarray]]]:
    """name → (speech frames only?, utterance vector of a frame matrix)."""
    return {
        "speech frames, mean/std (recipe)": (True, mean_std),
        "all frames, mean/std": (False, mean_std),
        "speech frames, level-free, log pitch": (True, lambda f: mean_std(level_free(f, col))),
        "speech frames, rich statistics": (True, rich),
        "speech frames, level-free, rich": (True, lambda f: rich(level_free(f, col))),
    }


def main() -> None:
    ap = screen_arguments(__doc__)
    args = ap.parse_args()
    from train.config import load_config

    col = base_columns(load_config().frontend_config(), KIND)
    frames = {}
    for speech_only in (True, False):
        ds, frames[speech_only], labels, cols = load_frames(
            args.data, ",".join(CORE_4), KIND, args.cache, speech_only=speech_only)
    corpus, y = ds.corpus_of(), ds.y
    corpora = sorted(set(corpus))
    results: dict[str, dict[str, float]] = {}
    for name, (speech_only, vector) in variants(col).items():
        x = np.stack([vector(f) for f in frames[speech_only]])
        results[name] = loco_row(name, x, y, corpus, len(labels), cols)
    write_table("utterance statistics", results, corpora, args.out,
                ref="speech frames, mean/std (recipe)")


if __name__ == "__main__":
    main()
