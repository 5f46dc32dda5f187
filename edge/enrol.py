"""Enrolment: a speaker's profile from a few recordings of ordinary speech (no labels).

Two passes over the recordings:

1. statistics: each member kind over the recordings' speech frames, pooled into a mean and
   std per dimension by :func:`edge.frontend.windows.speaker_statistics`, the one definition
   training's speaker-normalised members (``speaker_norm``) use too;
2. prior: the recordings classified as ``classify`` does, with the new statistics applied
   when the manifest says the members expect them, and the ensemble's probabilities averaged
   over all speech windows (the output prior correction divides by this).

Only those statistics are kept (see :mod:`edge.speakers`). :func:`enrolment_study` is
``evaluate --enrol K``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.autospeaker import SpeakerPicker
from edge.corpora import CORE_4, Corpus
from edge.errors import EdgeSerError, SpeakerError
from edge.evaluation import Evaluation, FileOutcome, core4_uar
from edge.frontend import assemble, compute_bases
from edge.frontend.vad import speech_frames
from edge.frontend.windows import pad_to_window, speaker_statistics
from edge.pipeline import Pipeline
from edge.speakers import (
    FeatureStats,
    SpeakerProfile,
    check_name,
    describe_models,
    model_fingerprint,
    now_utc,
)
from edge.wav import read_wav

#: Recordings, produced afresh on each call (enrolment reads them twice).
Recordings = Callable[[], Iterable[np.ndarray]]


def speech_frames_of(pipeline: Pipeline, y: np.ndarray) -> tuple[dict[str, np.ndarray], int]:
    """One recording's speech frames per member kind, as training takes them for a speaker's
    statistics (train.features.speech_frames): the recording padded to one window when shorter
    (as ``classify`` does), each kind assembled over all of it, the frames the device's causal
    VAD (the manifest's thresholds) marks as speech. Returns them and their number."""
    cfg, m = pipeline.cfg, pipeline.manifest
    y = pad_to_window(np.asarray(y, dtype=np.float32), cfg, m.window.seconds)
    bases = compute_bases(y, cfg, pipeline.bases)
    mask = speech_frames(bases["rms"], bases["zcr"], cfg, pipeline.speech.vad, causal=True)
    return {k: assemble(bases, cfg, k)[mask] for k in pipeline.kinds}, int(mask.sum())


def enrol(name: str, pipeline: Pipeline, recordings: Recordings,
          min_speech_seconds: float | None = None) -> SpeakerProfile:
    """The profile of ``name`` from ``recordings``; SpeakerError when they hold less than
    ``min_speech_seconds`` of speech (default: the manifest's ``enrolment`` minimum; 0 turns
    the check off, as ``evaluate --enrol`` does). ``pipeline`` is left as it was."""
    check_name(name)
    manifest = pipeline.manifest
    fps = pipeline.cfg.frames_per_second
    frames: dict[str, list[np.ndarray]] = {k: [] for k in pipeline.kinds}
    n_speech = 0
    for y in recordings():  # one recording in memory at a time; only its speech frames kept
        got, n = speech_frames_of(pipeline, y)
        n_speech += n
        for k, rows in got.items():
            frames[k].append(rows)
    seconds = n_speech / fps
    need = pipeline.enrolment.min_speech_seconds if min_speech_seconds is None \
        else min_speech_seconds
    if n_speech == 0 or seconds < need:
        raise SpeakerError(
            f"only {seconds:.1f} s of speech heard, {need:g} s are needed: give about "
            f"{max(need - seconds, 0.1):.0f} s more of {name}'s ordinary speech")
    features = {}
    for kind, rows in frames.items():
        mean, std = speaker_statistics(rows)
        features[kind] = FeatureStats(tuple(float(v) for v in mean.astype(np.float32)),
                                      tuple(float(v) for v in std.astype(np.float32)))
    profile = SpeakerProfile(name, model_fingerprint(manifest), describe_models(manifest),
                             manifest.labels, now_utc(), seconds, n_speech, features, prior=())
    previous = pipeline.picker if pipeline.picker is not None else pipeline.speaker
    pipeline.set_speaker(profile)  # statistics without a prior: what the members then say
    try:
        total = np.zeros(len(manifest.labels))
        windows = 0
        for y in recordings():
            r = pipeline.classify_audio(np.asarray(y, dtype=np.float32))
            total += r.probs.astype(np.float64) * r.speech_windows
            windows += r.speech_windows
    finally:
        pipeline.set_speaker(previous)
    if windows == 0:
        raise SpeakerError(f"no window of {name}'s recordings holds enough speech to classify")
    prior = total / windows
    prior = prior / prior.sum()
    return replace(profile, prior=tuple(float(v) for v in prior.astype(np.float32)))


# ---- evaluate --enrol K ----------------------------------------------------------------------
@dataclass
class SpeakerRun:
    """One speaker of an enrolment study: enrolled from ``enrol_files``, scored on the rest
    without (``before``) and with (``after``) the profile, and with ``--speaker auto`` among
    every enrolled speaker of the study (``auto``; ``picks``: the speaker each file was
    mostly classified with, None when no window had a pick)."""

    speaker: str
    enrol_files: list[Path]
    speech_seconds: float
    before: list[FileOutcome] = field(default_factory=list)
    after: list[FileOutcome] = field(default_factory=list)
    auto: list[FileOutcome] = field(default_factory=list)
    picks: list[str | None] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = {"speaker": self.speaker, "enrol_files": [str(p) for p in self.enrol_files],
             "speech_seconds": round(self.speech_seconds, 2), "scored": len(self.after),
             "correct_without": sum(o.scored_as == o.truth for o in self.before),
             "correct_with": sum(o.scored_as == o.truth for o in self.after)}
        if self.auto:
            d["correct_auto"] = sum(o.scored_as == o.truth for o in self.auto)
            d["picked_right"] = sum(p == self.speaker for p in self.picks)
            d["picked_nobody"] = sum(p is None for p in self.picks)
        return d


@dataclass
class EnrolmentStudy:
    k: int
    seed: int
    runs: list[SpeakerRun] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # speaker -> files (fewer than K+1)
    failed: dict[str, str] = field(default_factory=dict)  # speaker -> why enrolment failed
    auto: bool = False

    def outcomes(self, enrolled: bool) -> list[FileOutcome]:
        return [o for r in self.runs for o in (r.after if enrolled else r.before)]

    def auto_outcomes(self) -> list[FileOutcome]:
        return [o for r in self.runs for o in r.auto]


def _scored(before: FileOutcome, r: Any, ev: Evaluation) -> FileOutcome:
    top = str(r.top)
    return replace(before, label=r.label, top=top, scored_as=ev.plan.prediction[top],
                   confidence=r.confidence, probs=tuple(float(v) for v in r.probs))


def enrolment_study(pipeline: Pipeline, corpus: Corpus, ev: Evaluation, k: int, seed: int,
                    classify: Callable[[Path], Any],
                    progress: Callable[[int, int], None] | None = None,
                    auto: bool = False) -> EnrolmentStudy:
    """``evaluate --enrol K``: per speaker, enrol from K of their files (random with a fixed
    seed, any label) and score their other scored files with the profile; ``ev`` (the same
    files scored without) supplies the "before". Speakers with fewer than K+1 files are
    skipped and counted. No minimum of speech is asked (K files are what was asked for).
    ``auto``: every speaker is enrolled first, then each file is also scored with
    ``--speaker auto`` picking among all of them (:mod:`edge.autospeaker`)."""
    scored = {o.path: o for o in ev.outcomes}
    unreadable = {p for p, _ in ev.failed}
    pools: dict[str, list[Path]] = {}
    for u in corpus.utterances:
        if u.path not in unreadable:
            pools.setdefault(u.speaker, []).append(u.path)
    study = EnrolmentStudy(k, seed, auto=auto)
    sr = pipeline.cfg.sr
    speakers = sorted(pools)
    enrolled: list[tuple[SpeakerRun, list[FileOutcome], SpeakerProfile]] = []
    for i, speaker in enumerate(speakers):
        if progress is not None and not auto:  # with auto, progress is the scoring's
            progress(i, len(speakers))
        pool = sorted(pools[speaker])
        if len(pool) < k + 1:
            study.skipped[speaker] = len(pool)
            continue
        chosen = random.Random(f"{seed}:{speaker}").sample(pool, k)
        rest = [scored[p] for p in pool if p not in set(chosen) and p in scored]
        if not rest:
            study.skipped[speaker] = len(pool)
            continue
        try:
            profile = enrol(f"s{i}", pipeline,
                            lambda chosen=chosen: (read_wav(p, target_sr=sr).samples
                                                   for p in chosen), min_speech_seconds=0)
        except EdgeSerError as exc:
            study.failed[speaker] = str(exc)
            continue
        run = SpeakerRun(speaker, chosen, profile.speech_seconds)
        if auto:
            enrolled.append((run, rest, profile))
        else:
            _score_run(pipeline, run, rest, profile, None, {}, ev, classify)
            study.runs.append(run)
    if auto and enrolled:
        profiles = [p for _, _, p in enrolled]
        picker = SpeakerPicker(profiles, pipeline.kinds, pipeline.cfg.frames_per_second)
        who = {p.name: run.speaker for run, _, p in enrolled}
        for j, (run, rest, profile) in enumerate(enrolled):
            if progress is not None:
                progress(j, len(enrolled))
            _score_run(pipeline, run, rest, profile, picker, who, ev, classify)
            study.runs.append(run)
    if progress is not None:
        n = len(enrolled) if auto else len(speakers)
        progress(n, n)
    return study


def _score_run(pipeline: Pipeline, run: SpeakerRun, rest: list[FileOutcome],
               profile: SpeakerProfile, picker: SpeakerPicker | None, who: dict[str, str],
               ev: Evaluation, classify: Callable[[Path], Any]) -> None:
    """Score ``rest`` with the speaker's own profile (and, given a picker, with auto)."""
    try:
        for before in rest:
            pipeline.set_speaker(profile)
            try:
                r = classify(before.path)
                a = None
                if picker is not None:
                    pipeline.set_speaker(picker)
                    a = classify(before.path)
            except EdgeSerError:
                continue  # read before, so not expected; scored on neither side
            run.before.append(before)
            run.after.append(_scored(before, r, ev))
            if a is not None:
                run.auto.append(_scored(before, a, ev))
                run.picks.append(who.get(a.speaker) if a.speaker is not None else None)
    finally:
        pipeline.set_speaker(None)


def study_report(study: EnrolmentStudy, ev: Evaluation, pipeline: Pipeline, corpus: str
                 ) -> tuple[dict[str, Any], str]:
    """``evaluate --enrol K``'s JSON record and text: UAR (and core-4 UAR when the corpus has
    other classes too) without and with enrolment on the same files, and per speaker counts."""
    labels = list(pipeline.manifest.labels)
    spec = pipeline.enrolment
    before, after = study.outcomes(False), study.outcomes(True)
    core = set(ev.plan.classes) != set(CORE_4)
    figures: dict[str, Any] = {}
    sides = [("without", before), ("with", after)]
    if study.auto:
        sides.append(("auto", study.auto_outcomes()))
    if before:
        for key, rows in sides:
            s = ev.scores(rows)
            figures[key] = {"uar": s.uar, "wa": s.wa, "macro_f1": s.macro_f1,
                            "core4_uar": core4_uar(rows, labels) if core else None}
    record = {"corpus": corpus, "enrol": study.k, "seed": study.seed,
              "enrolment": spec.to_dict(), "files": len(after),
              "speakers": len(study.runs), "skipped_speakers": study.skipped,
              "failed_speakers": study.failed,
              "training_speaker_files": sum(o.training_speaker for o in after),
              **figures, "per_speaker": [r.to_dict() for r in study.runs]}
    picks = [(p, r.speaker) for r in study.runs for p in r.picks]
    if study.auto:
        record["auto_speakers"] = len(study.runs)
        record["auto_pick_accuracy"] = (sum(p == s for p, s in picks) / len(picks)
                                        if picks else None)
        record["auto_picked_nobody"] = sum(p is None for p, _ in picks)
    lines = [f"enrolment study: {study.k} enrolment files per speaker (seed {study.seed}); "
             f"features {spec.features}, prior {spec.prior}"
             + (f" (strength {spec.prior_strength:g})" if spec.prior == "divide" else "")]
    if study.skipped:
        lines.append(f"skipped {len(study.skipped)} speaker(s) with fewer than {study.k + 1} "
                     "files: " + ", ".join(f"{k} ({v})" for k, v in study.skipped.items()))
    for speaker, why in study.failed.items():
        lines.append(f"speaker {speaker} not enrolled: {why}")
    if not before:
        lines.append("no speaker has enough files: nothing scored")
        return record, "\n".join(lines)
    n_train = record["training_speaker_files"]
    if n_train:
        lines.append(f"files from training speakers: {n_train} of {len(after)} (optimistic)")
    lines.append(f"{len(study.runs)} speakers, {len(after)} files scored both ways")
    lines.append(f"{'':<18}{'UAR %':>8}{'WA %':>8}" + (f"{'core-4 UAR %':>14}" if core else ""))
    names = {"without": "without enrolment", "with": "with enrolment", "auto": "auto-picked"}
    for key, _ in sides:
        f = figures[key]
        row = f"{names[key]:<18}{100 * f['uar']:8.1f}{100 * f['wa']:8.1f}"
        if core:
            row += f"{100 * f['core4_uar']:14.1f}" if f["core4_uar"] is not None else f"{'-':>14}"
        lines.append(row)
    if study.auto and picks:
        right = sum(p == s for p, s in picks)
        lines.append(f"auto picked the file's own speaker for {right} of {len(picks)} files "
                     f"({100 * right / len(picks):.1f} %, among {len(study.runs)} speakers; "
                     f"{record['auto_picked_nobody']} with no pick)")
    auto_cols = f"{'right auto':>11}{'picked':>8}" if study.auto else ""
    lines.append(f"{'speaker':<10}{'enrol':>6}{'speech s':>9}{'scored':>7}{'right w/o':>10}"
                 f"{'right with':>11}" + auto_cols)
    for r in study.runs:
        d = r.to_dict()
        extra = f"{d.get('correct_auto', 0):>11}{d.get('picked_right', 0):>8}" \
            if study.auto else ""
        lines.append(f"{r.speaker:<10}{len(r.enrol_files):>6}{r.speech_seconds:>9.1f}"
                     f"{d['scored']:>7}{d['correct_without']:>10}{d['correct_with']:>11}"
                     + extra)
    return record, "\n".join(lines)
