"""Several corpora as one training set: one label set, speakers kept apart, corpora weighted.

A corpus is named on the command line as ``FORMAT:PATH`` (``nemo:~/corpora/nemo``) or just
``PATH`` (format detected). Each corpus's labels are mapped onto the run's label set with
:func:`edge.corpora.map_label` (``calm`` → ``neutral`` when the set has no calm; a class the set
lacks is dropped and counted; a class a corpus lacks is simply absent). Speaker ids are
namespaced by corpus (``nemo/SM0``), so two corpora's speaker ``01`` are never one person and
no split can put one speaker on both sides.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edge.corpora import FORMATS, Corpus, CorpusError, Utterance, load_corpus, map_label
from edge.errors import ConfigError
from train.fit import class_weights

Log = Callable[[str], None]


@dataclass(frozen=True)
class CorpusSource:
    """One corpus to read: its format (or ``auto``) and where it is."""

    fmt: str
    path: Path

    @classmethod
    def parse(cls, text: str, default_fmt: str = "auto") -> CorpusSource:
        """``FORMAT:PATH`` or ``PATH``; a Windows-like ``C:\\`` or an existing path is a path."""
        head, sep, tail = text.partition(":")
        if sep and head.lower() in (*FORMATS, "auto", "crema") and tail:
            return cls(head.lower(), Path(os.path.expanduser(tail)))
        return cls(default_fmt, Path(os.path.expanduser(text)))

    def __str__(self) -> str:
        return f"{self.fmt}:{self.path}"


def files_by_speaker(speakers: Sequence[str]) -> dict[str, list[int]]:
    """File indices of each speaker, in file order (``speakers``: one id per file)."""
    out: dict[str, list[int]] = {}
    for i, s in enumerate(speakers):
        out.setdefault(str(s), []).append(i)
    return out


@dataclass
class Dataset:
    """The utterances of every corpus, labels as indices into ``labels``."""

    utts: list[Utterance]
    y: np.ndarray
    labels: list[str]
    corpora: list[Corpus]
    names: list[str]  # each corpus's name in reports and speaker ids, as ``corpora``
    label_notes: dict[str, int] = field(default_factory=dict)

    def corpus_of(self) -> np.ndarray:
        return np.array([u.corpus for u in self.utts])

    def speaker_of(self) -> np.ndarray:
        return np.array([u.speaker for u in self.utts])

    def summary(self) -> list[str]:
        lines = []
        for name in dict.fromkeys(u.corpus for u in self.utts):
            idx = [i for i, u in enumerate(self.utts) if u.corpus == name]
            counts = Counter(self.labels[self.y[i]] for i in idx)
            spk = len({self.utts[i].speaker for i in idx})
            lines.append(f"{name}: {len(idx)} files, {spk} speakers, "
                         + ", ".join(f"{k}={counts[k]}" for k in self.labels if counts[k]))
        return lines


def load_sources(sources: Sequence[CorpusSource], labels: Sequence[str],
                 log: Log | None = None) -> Dataset:
    """Parse every corpus and map its labels onto ``labels``; speakers get a corpus prefix
    when there is more than one corpus (one corpus keeps its own ids, e.g. RAVDESS ``01``)."""
    if not sources:
        raise ConfigError("no corpus given (--data FORMAT:PATH)")
    labels = list(labels)
    corpora: list[Corpus] = []
    utts: list[Utterance] = []
    ys: list[int] = []
    notes: dict[str, int] = {}
    names: dict[str, None] = {}  # ordered, as the corpora were given
    for src in sources:
        corpus = load_corpus(src.path, src.fmt)
        if log:
            log(corpus.summary())
        name = corpus.format if corpus.format not in ("folders", "csv") else corpus.root.stem
        if name in names:
            raise CorpusError(f"corpus {name} is given twice")
        names[name] = None
        corpora.append(corpus)
        kept = 0
        for u in corpus.utterances:
            lab, note = map_label(u.label, labels)
            if note:
                key = f"{name}: {note}"
                notes[key] = notes.get(key, 0) + 1
            if lab is None:
                continue
            spk = f"{name}/{u.speaker}" if len(sources) > 1 else u.speaker
            utts.append(replace(u, speaker=spk, corpus=name))
            ys.append(labels.index(lab))
            kept += 1
        if not kept:
            raise ConfigError(f"no file of {src.path} has a label among {labels}")
    if log:
        for note, n in notes.items():
            log(f"labels: {note} ({n} files)")
    return Dataset(utts, np.asarray(ys, dtype=np.int64), labels, corpora, list(names), notes)


def sample_weights(y: np.ndarray, corpus: np.ndarray, n_classes: int, balance: float,
                   class_balance: bool = True) -> np.ndarray:
    """Per-example weights, mean 1: classes balanced inside each corpus, and corpora weighted
    by ``n_c ** -balance`` per example (0: by size, nEMO's 4,481 clips dominate; 1: every
    corpus carries the same total weight, URDU's 400 clips as much as nEMO)."""
    w = np.ones(len(y), dtype=np.float64)
    for c in np.unique(corpus):
        sel = corpus == c
        n_c = int(sel.sum())
        if class_balance:
            w[sel] = class_weights(y[sel], n_classes)[y[sel]]
        w[sel] *= float(n_c) ** (-balance)  # a corpus weighs n_c ** (1 - balance) in all
    return (w * len(w) / w.sum()).astype(np.float32)
