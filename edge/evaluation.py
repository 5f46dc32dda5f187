"""Scoring the device pipeline on a labelled corpus (``edge-ser evaluate``).

Policy lives here, not in the CLI: how corpus labels meet model labels (:func:`plan_labels`:
labels the models know but the corpus lacks are scored as their nearest corpus label, e.g.
TESS has no calm, so a calm prediction counts as neutral; corpus labels the models cannot
predict, EmoDB's boredom, are left out), what is scored (the top class of each file's
averaged probabilities, as the model card's figures are made, including files ``classify``
would call ``uncertain`` or ``silence``; those are counted), and which files come from speakers
the models were trained on (the manifest's ``training`` section: their scores are optimistic,
so they are counted, flagged and, in a mix, scored apart).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.corpora import CORE_4, Corpus, Utterance, map_label
from edge.decisions import SILENCE, UNCERTAIN
from edge.errors import AudioError, ConfigError, EdgeSerError
from edge.manifest import Manifest, TrainingCorpus, TrainingSpec
from edge.metrics import Scores, score


@dataclass(frozen=True)
class LabelPlan:
    """How a corpus is scored against a model's labels."""

    classes: tuple[str, ...]  # scored classes: corpus labels first, then unmappable predictions
    truth: dict[str, str]  # corpus label -> scored class (labels absent here are left out)
    prediction: dict[str, str]  # model label -> scored class
    notes: dict[str, int]  # what was mapped, with the number of files where it counts


def plan_labels(corpus_labels: Sequence[str], model_labels: Sequence[str]) -> LabelPlan:
    """Map every corpus label and every model label onto one list of scored classes."""
    notes: dict[str, int] = {}
    truth: dict[str, str] = {}
    for lab in corpus_labels:
        mapped, _ = map_label(lab, model_labels)
        if mapped is not None:
            truth[lab] = mapped
    present = sorted(set(truth.values()), key=list(model_labels).index)
    prediction: dict[str, str] = {}
    for lab in model_labels:
        if lab in present:
            prediction[lab] = lab
            continue
        to, _ = map_label(lab, present)
        prediction[lab] = to if to is not None else lab
        notes[f"predicted {lab} scored as {to} (the corpus has no {lab})" if to is not None
              else f"predicted {lab} counts as an error (the corpus has no {lab})"] = 0
    classes = present + [lab for lab in model_labels
                         if prediction[lab] == lab and lab not in present]
    return LabelPlan(tuple(classes), truth, prediction, notes)


def training_speakers(manifest: Manifest) -> TrainingSpec | None:
    """The speakers the members learnt from: the manifest's ``training`` section, else the
    actor list older converters left in ``metadata.source`` (corpus unknown: name "")."""
    if manifest.training is not None:
        return manifest.training
    source = manifest.metadata.get("source")
    if not isinstance(source, dict):
        return None
    actors = [*(source.get("train_actors") or []), *(source.get("val_actors") or [])]
    if not actors:
        return None
    return TrainingSpec((TrainingCorpus(str(source.get("corpus") or ""),
                                        tuple(map(str, actors))),))


def is_training_speaker(u: Utterance, spec: TrainingSpec | None) -> bool:
    if spec is None or not u.speaker:
        return False
    return any((c.name in ("", u.corpus)) and u.speaker in c.speakers for c in spec.corpora)


@dataclass(frozen=True)
class FileOutcome:
    path: Path
    speaker: str
    truth: str  # scored class
    label: str  # what classify says: emotion, uncertain or silence
    top: str  # the models' top label
    scored_as: str  # the top label mapped onto the scored classes
    confidence: float
    training_speaker: bool
    probs: tuple[float, ...] = field(default=(), repr=False)  # the models' averaged output

    def to_dict(self) -> dict[str, Any]:
        return {"file": str(self.path), "speaker": self.speaker, "truth": self.truth,
                "label": self.label, "top": self.top, "scored_as": self.scored_as,
                "confidence": round(self.confidence, 4),
                "training_speaker": self.training_speaker}


@dataclass
class Evaluation:
    corpus: Corpus
    plan: LabelPlan
    training: TrainingSpec | None
    outcomes: list[FileOutcome] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def scores(self, outcomes: Sequence[FileOutcome] | None = None) -> Scores:
        rows = self.outcomes if outcomes is None else outcomes
        c = list(self.plan.classes)
        return score(np.array([c.index(o.truth) for o in rows], dtype=np.int64),
                     np.array([c.index(o.scored_as) for o in rows], dtype=np.int64), c)

    @property
    def training_files(self) -> int:
        return sum(o.training_speaker for o in self.outcomes)

    @property
    def held_out(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if not o.training_speaker]

    def counts(self) -> dict[str, int]:
        return {"uncertain": sum(o.label == UNCERTAIN for o in self.outcomes),
                "silence": sum(o.label == SILENCE for o in self.outcomes)}

    def mapping(self) -> list[str]:
        return [f"{k} ({v} files)" if v else k for k, v in self.plan.notes.items()]

    def training_warning(self) -> str | None:
        n = self.training_files
        if not n or self.training is None:
            return None
        return (f"{n} of {len(self.outcomes)} files are from speakers the models were trained "
                f"on ({self.training.describe()}): their scores are optimistic, not what new "
                "speakers get (the model card has the speaker-independent figures)")


def evaluate_corpus(
    classify: Callable[[Path], Any],
    corpus: Corpus,
    manifest: Manifest,
    *,
    progress: Callable[[int, int], None] | None = None,
    on_error: Callable[[Path, EdgeSerError], None] | None = None,
) -> Evaluation:
    """Classify every scorable file of ``corpus`` with ``classify`` (a path → FileResult) and
    collect what is needed to score it. Raises ConfigError when no corpus label can be scored
    and AudioError when no file could be classified."""
    plan = plan_labels(corpus.labels, manifest.labels)
    notes: dict[str, int] = {}
    todo = []
    for u in corpus.utterances:
        mapped, note = map_label(u.label, manifest.labels)
        if note:
            notes[note] = notes.get(note, 0) + 1
        if mapped is not None:
            todo.append((u, mapped))
    plan = LabelPlan(plan.classes, plan.truth, plan.prediction, {**notes, **plan.notes})
    if not todo:
        raise ConfigError(f"none of the corpus labels ({', '.join(corpus.labels)}) can be "
                          "scored against the models' labels")
    ev = Evaluation(corpus, plan, training_speakers(manifest))
    for i, (u, truth) in enumerate(todo):
        if progress is not None:
            progress(i, len(todo))
        try:
            result = classify(u.path)
        except EdgeSerError as exc:
            ev.failed.append((u.path, str(exc)))
            if on_error is not None:
                on_error(u.path, exc)
            continue
        ev.outcomes.append(FileOutcome(
            u.path, u.speaker, truth, result.label, result.top, plan.prediction[result.top],
            result.confidence, is_training_speaker(u, ev.training),
            tuple(float(v) for v in result.probs)))
    if progress is not None:
        progress(len(todo), len(todo))
    if not ev.outcomes:
        raise AudioError(f"no file of {corpus.root} could be classified")
    return ev


def core4_uar(outcomes: Sequence[FileOutcome], labels: Sequence[str]) -> float | None:
    """UAR on the files whose scored truth is one of CORE_4, the argmax taken over the models'
    core-4 probabilities only (as train.crosscorpus scores core-4): comparable across label
    sets and corpora. None when the models lack a core-4 label or no such file was scored."""
    if not all(c in labels for c in CORE_4):
        return None
    rows = [o for o in outcomes if o.truth in CORE_4 and o.probs]
    if not rows:
        return None
    cols = [list(labels).index(c) for c in CORE_4]
    truth = np.array([CORE_4.index(o.truth) for o in rows], dtype=np.int64)
    pred = np.array([np.asarray(o.probs)[cols] for o in rows]).argmax(axis=1)
    return score(truth, pred, list(CORE_4)).uar
