"""A tiny synthetic corpus in RAVDESS naming, for tests and smoke runs (no real data needed).

Each "utterance" is a harmonic tone whose pitch, brightness and tremolo depend on the label
(and a little on the actor), between stretches of quiet noise like a real recording's silence,
so the VAD, the windows and a tiny model all have something learnable to work on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.corpora import LABELS_8


def tone(label_index: int, actor: int, seconds: float, sr: int, rng: np.random.Generator
         ) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    f0 = 110.0 * 2 ** (label_index / 4) * (1.0 + 0.03 * (actor % 3)) * rng.uniform(0.97, 1.03)
    n_harm = 3 + 2 * (label_index % 4)
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, n_harm + 1))
    trem = 1.0 + 0.5 * np.sin(2 * np.pi * (2 + 3 * label_index) * t)
    env = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)
    return (0.3 * y * trem * env / n_harm).astype(np.float32)


def make_corpus(root: Path, actors: int = 4, labels: tuple[int, ...] = (0, 4), repeats: int = 2,
                sr: int = 16000, seconds: float = 3.6, seed: int = 0) -> list[Path]:
    """Write ``Actor_XX/03-01-EE-01-SS-RR-XX.wav`` files; return their paths.

    ``labels`` are RAVDESS emotion indices (0 = neutral, 4 = angry, ...). Speech lasts about
    half the file, after ~0.6 s of low noise.
    """
    from edge.wav import write_wav

    rng = np.random.default_rng(seed)
    paths = []
    for a in range(1, actors + 1):
        for li in labels:
            for r in range(repeats):
                y = rng.normal(0, 0.002, int(seconds * sr)).astype(np.float32)
                start = int(rng.uniform(0.5, 0.8) * sr)
                sp = tone(li, a, rng.uniform(1.6, 2.2), sr, rng)
                y[start:start + len(sp)] += sp[: len(y) - start]
                name = f"03-01-{li + 1:02d}-01-{r % 2 + 1:02d}-{r // 2 + 1:02d}-{a:02d}.wav"
                p = root / f"Actor_{a:02d}" / name
                p.parent.mkdir(parents=True, exist_ok=True)
                write_wav(p, np.clip(y, -1, 1), sr)
                paths.append(p)
    return paths


#: nEMO's emotion words for RAVDESS label indices (nEMO has no calm and no disgust)
NEMO_WORDS = {0: "neutral", 2: "happiness", 3: "sadness", 4: "anger", 5: "fear", 7: "surprised"}


def make_nemo_corpus(root: Path, actors: int = 3, labels: tuple[int, ...] = (0, 4),
                     repeats: int = 2, seed: int = 0, gain: float = 1.0) -> Path:
    """A second generated corpus in nEMO's layout (``samples/SP1_anger_….wav`` and
    ``data.tsv``), ``gain`` times as loud: other voices for leave-one-corpus-out tests. The
    RAVDESS-named sources are written beside it, in ``ROOT-src``; returns ``root``."""
    from edge.wav import read_wav, write_wav

    lines = ["file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage"]
    (root / "samples").mkdir(parents=True, exist_ok=True)
    src = root.with_name(f"{root.name}-src")
    for path in make_corpus(src, actors=actors, labels=labels, repeats=repeats, seed=seed):
        audio = read_wav(path)
        spk, emo = f"SP{path.stem[-1]}", NEMO_WORDS[int(path.stem.split("-")[2]) - 1]
        name = f"{spk}_{emo}_{path.stem.replace('-', '')}.wav"
        write_wav(root / "samples" / name, (gain * audio.samples).astype(np.float32), audio.sr)
        lines.append(f"{name}\t{emo}\tTekst.\ttekst\t{spk}\tmale\t30")
    (root / "data.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


__all__ = ["LABELS_8", "NEMO_WORDS", "make_corpus", "make_nemo_corpus", "tone"]
