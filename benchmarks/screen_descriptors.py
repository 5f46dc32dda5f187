"""Leave-one-corpus-out screen of more level-free frame descriptors beside the spectral shape.

Why: seven numbers per frame (``shape+pitch``) carried across corpora better than every
cepstral or mel row measured (``screen-spectral.md``). eGeMAPS, whose descriptors the shape
follows, also has band slopes below and above 500 Hz and the dynamics of loudness; spectral
flatness and roll-off are other level-free summaries of a spectrum, and pitch on a log scale is
how listeners hear it. Each is computed here from the cached log-mel, RMS and pitch of the
training feature cache, so a minute with the screens' SVM says which is worth a place in the
front end before a member is trained on it.

    python benchmarks/screen_descriptors.py --data ravdess:DIR --data nemo:DIR ... \\
        --cache CACHE --out train/results/multicorpus/screen-descriptors
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.screen_corpora import loco_row, screen_arguments, write_table
from benchmarks.screen_statistics import mean_std
from edge.corpora import CORE_4
from edge.frontend import assemble
from edge.frontend.spectral import mel_band_centres
from train.config import load_config
from train.datasets import CorpusSource, load_sources
from train.experiment import feature_settings
from train.features import extract

EXTRA = ("slope 0-500 Hz", "slope 500-1500 Hz", "flatness", "roll-off", "level change",
         "log pitch")


def band_slope(db: np.ndarray, hz: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Least-squares slope (dB per kHz) of the bands centred in [lo, hi) Hz."""
    sel = (hz >= lo) & (hz < hi)
    k = hz[sel] / 1000.0
    w = (k - k.mean()) / ((k - k.mean()) ** 2).sum()
    return db[:, sel] @ w


def descriptors(logmel: np.ndarray, rms: np.ndarray, pitch: np.ndarray,
                hz: np.ndarray) -> np.ndarray:
    """The candidates per frame, every frame of a recording (level change needs neighbours)."""
    p = 10.0 ** (logmel / 10.0)
    tiny = 1e-12
    flat = 10.0 * (np.log10(p + tiny).mean(1) - np.log10(p.mean(1) + tiny))
    cum = np.cumsum(p, axis=1) / (p.sum(1, keepdims=True) + tiny)
    rolloff = hz[np.minimum((cum < 0.85).sum(1), len(hz) - 1)] / 1000.0
    level = 20.0 * np.log10(np.maximum(rms, 1e-5))
    change = np.r_[0.0, np.diff(level)]
    semis = 12.0 * np.log2(np.maximum(pitch, 1.0) / 100.0)
    return np.stack([band_slope(logmel, hz, 0, 500), band_slope(logmel, hz, 500, 1500), flat,
                     rolloff, change, semis], axis=1)


def main() -> None:
    ap = screen_arguments(__doc__)
    args = ap.parse_args()
    cfg = load_config()
    fe = cfg.frontend_config()
    ds = load_sources([CorpusSource.parse(d) for d in args.data], list(CORE_4))
    kinds = ["logmel+pitch+rms", "shape"]
    feats = extract(ds.utts, lambda i: [0], feature_settings(cfg, fe, kinds), cfg.seed,
                    args.cache, jobs=2)
    hz = mel_band_centres(fe)
    base, extra = [], []
    for i in range(len(ds.utts)):
        ff = feats[(i, 0)]
        lm = np.asarray(assemble(ff.bases, fe, kinds[0]), dtype=np.float64)
        sh = np.asarray(assemble(ff.bases, fe, kinds[1]), dtype=np.float64)
        n = min(len(lm), len(sh))
        sp = ff.speech[:n]
        sel = sp if sp.sum() >= 5 else np.ones(n, dtype=bool)
        ex = descriptors(lm[:n, :fe.n_mels], lm[:n, fe.n_mels + 1], lm[:n, fe.n_mels], hz)
        base.append(np.c_[sh[:n], lm[:n, fe.n_mels]][sel])
        extra.append(ex[sel])
    corpus, y = ds.corpus_of(), ds.y
    cols = [list(CORE_4).index(c) for c in CORE_4]
    pitch_col = base[0].shape[1] - 1

    def row(name: str, pick: list[int], log_pitch: bool = False) -> None:
        vecs = []
        for b, e in zip(base, extra, strict=True):
            f = b.copy()
            if log_pitch:
                f[:, pitch_col] = e[:, EXTRA.index("log pitch")]
            vecs.append(mean_std(np.c_[f, e[:, pick]]) if pick else mean_std(f))
        results[name] = loco_row(name, np.stack(vecs), y, corpus, len(CORE_4), cols)

    results: dict[str, dict[str, float]] = {}
    row("shape+pitch (reference)", [])
    for k, name in enumerate(EXTRA[:-1]):
        row(f"+ {name}", [k])
    row("pitch in semitones", [], log_pitch=True)
    row("+ both band slopes", [0, 1])
    row("+ all five", [0, 1, 2, 3, 4])
    write_table("descriptors beside shape+pitch", results, sorted(set(corpus)), args.out,
                ref="shape+pitch (reference)")


if __name__ == "__main__":
    main()
