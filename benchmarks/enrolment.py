"""Speaker enrolment (issue 15): what it costs and what it does, on the real pipeline.

    python benchmarks/enrolment.py cost [--models DIR]
    python benchmarks/enrolment.py study CORPUS [CORPUS ...] [--k 5,10,20]
        [--prior divide:1,divide:0.5] [--auto] [--models DIR] [--out FILE.json]

``cost``: the extra time per window of ``listen --speaker`` (the normalise and vote stages
with and without a profile, under a manifest with ``features="speaker"`` and
``prior="divide"``, i.e. everything a profile can change), and the time to enrol from 30 s of
audio, on one core (and what the ``running`` fallback adds without a profile, and
``--speaker auto`` picking among 10 and 65 enrolled speakers: its per-window counting and
distances, and the profile switch when the pick changes). ``study``:
``edge-ser evaluate CORPUS --enrol K --prior ...`` for every K
and prior setting, sharing the scoring without enrolment (the same for all of them) so a
corpus is classified once plus once per setting; each entry equals that evaluate command's
JSON figures. ``--auto``: also ``--speaker auto`` among all of a corpus's enrolled speakers
(``evaluate --enrol K --speaker auto``): its UAR and how often it picked the file's speaker.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from edge.enrol import enrol, enrolment_study, study_report
from edge.manifest import EnrolmentSpec, load_manifest
from edge.models import resolve_models_dir
from edge.pipeline import FILE_BLOCK_SECONDS, Pipeline


def speech(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """Speech-like syllable runs (the bench's own generator when tests/ is absent)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fixtures"))
    from synth import silence, syllables

    return np.concatenate([silence(0.5, seed=seed, sr=sr),
                           syllables(2, seconds, seed=seed, sr=sr)])


def cost(models: Path | None, windows: int = 400,
         auto_speakers: tuple[int, ...] = (10, 65)) -> dict[str, float]:
    from edge.autospeaker import SpeakerPicker

    manifest = load_manifest(resolve_models_dir(models))
    sr = manifest.frontend.sr
    pipe = Pipeline(manifest)
    y30 = speech(30.0, sr, seed=1)
    enrol("bench", pipe, lambda: [y30])  # warm-up (imports, interpreter set-up)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        profile = enrol("bench", pipe, lambda: [y30])
        times.append(time.perf_counter() - t0)
    spec = EnrolmentSpec(features="speaker", prior="divide", prior_strength=0.5)
    m = dataclasses.replace(manifest, enrolment=spec)
    plain, withp = Pipeline(m, pipe.members), Pipeline(m, pipe.members, speaker=profile)
    # the windows listen analyses: cut once, then the stages a profile touches, timed alone
    cut = []
    stream = plain._live
    audio = speech(windows * plain.hop_seconds + 5, sr, seed=2)
    for i in range(0, audio.size, round(FILE_BLOCK_SECONDS * sr)):
        cut += [w for w in stream.feed(audio[i:i + round(FILE_BLOCK_SECONDS * sr)])]
    cut = cut[:windows]
    outs = [plain._run_members(plain._features(w[1], flags=w[3])) for w in cut[:50]]

    def stages(p: Pipeline) -> float:
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for k, w in enumerate(cut):
                p._features(w[1], w[3][-p.hop_frames:], flags=w[3])
                p._vote(outs[k % len(outs)])
            best = min(best, (time.perf_counter() - t0) / len(cut))
        return best

    def whole(p: Pipeline) -> float:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for w in cut:
                p._classify_window(w[1], w[3][-p.hop_frames:], flags=w[3])
            best = min(best, (time.perf_counter() - t0) / len(cut))
        return best

    running = Pipeline(dataclasses.replace(
        manifest, enrolment=EnrolmentSpec(features="speaker", fallback="running")), pipe.members)
    base_s, spk_s, run_s = stages(plain), stages(withp), stages(running)
    base_w, spk_w = whole(plain), whole(withp)
    voices = [profile] + [enrol(f"v{i}", pipe, lambda i=i: [speech(30.0, sr, seed=10 + i)])
                          for i in range(3)]
    auto: dict[str, float] = {}
    for n in auto_speakers:
        many = [dataclasses.replace(voices[i % len(voices)], name=f"p{i}") for i in range(n)]
        p = Pipeline(m, pipe.members,
                     speaker=SpeakerPicker(many, plain.kinds, plain.cfg.frames_per_second))
        s_auto, w_auto = stages(p), whole(p)
        auto |= {f"stages_ms_auto_{n}": 1e3 * s_auto,
                 f"stages_ms_auto_{n}_added": 1e3 * (s_auto - base_s),
                 f"window_ms_auto_{n}": 1e3 * w_auto,
                 f"window_ms_auto_{n}_added": 1e3 * (w_auto - base_w)}
    return {"windows": len(cut), "enrol_30s_seconds_median": float(np.median(times)),
            "enrol_30s_seconds_min": float(min(times)),
            "speech_seconds": profile.speech_seconds,
            "stages_ms_without": 1e3 * base_s, "stages_ms_with": 1e3 * spk_s,
            "stages_ms_added": 1e3 * (spk_s - base_s),
            "stages_ms_running_fallback": 1e3 * run_s,
            "stages_ms_running_added": 1e3 * (run_s - base_s),
            "window_ms_without": 1e3 * base_w, "window_ms_with": 1e3 * spk_w,
            "window_ms_added": 1e3 * (spk_w - base_w), **auto}


def study(corpora: list[str], ks: list[int], priors: list[tuple[str, float]],
          models: Path | None, seed: int, auto: bool = False) -> list[dict[str, object]]:
    from edge.corpora import load_corpus
    from edge.evaluation import evaluate_corpus
    from edge.wav import iter_wav_blocks

    manifest = load_manifest(resolve_models_dir(models))
    pipe = Pipeline(manifest)

    def classify(path: Path) -> object:
        return pipe.classify_blocks(iter_wav_blocks(path, FILE_BLOCK_SECONDS, pipe.cfg.sr))

    out = []
    for corpus in corpora:
        data = load_corpus(corpus, "auto")
        t0 = time.time()
        ev = evaluate_corpus(classify, data, manifest)
        print(f"{corpus}: {len(ev.outcomes)} files scored in {time.time() - t0:.0f} s",
              file=sys.stderr, flush=True)
        for k in ks:
            for prior, strength in priors:
                pipe.enrolment = dataclasses.replace(pipe.enrolment, prior=prior,
                                                     prior_strength=strength)
                t0 = time.time()
                s = enrolment_study(pipe, data, ev, k, seed, classify, auto=auto)
                record, _ = study_report(s, ev, pipe, corpus)
                record.pop("per_speaker")
                record["format"] = data.format
                record["seconds"] = round(time.time() - t0, 1)
                record["mean_enrol_speech_seconds"] = (
                    float(np.mean([r.speech_seconds for r in s.runs])) if s.runs else None)
                out.append(record)
                w, e = record.get("without", {}), record.get("with", {})
                a = (f", auto {100 * record['auto']['uar']:.1f} (picked right "
                     f"{100 * record['auto_pick_accuracy']:.1f} %)" if "auto" in record else "")
                print(f"{data.format} K={k} {prior}:{strength:g}: UAR "
                      f"{100 * w.get('uar', float('nan')):.1f} -> "
                      f"{100 * e.get('uar', float('nan')):.1f}{a} on {record['files']} files, "
                      f"{record['speakers']} speakers ({record['seconds']} s)",
                      file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cost")
    c.add_argument("--models", type=Path)
    s = sub.add_parser("study")
    s.add_argument("corpora", nargs="+")
    s.add_argument("--k", default="5,10,20")
    s.add_argument("--prior", default="divide:1,divide:0.5")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--auto", action="store_true",
                   help="also score with --speaker auto among the corpus's enrolled speakers")
    s.add_argument("--models", type=Path)
    s.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "cost":
        print(json.dumps(cost(args.models), indent=1))
        return 0
    priors = [(p.split(":")[0], float(p.split(":")[1]) if ":" in p else 1.0)
              for p in args.prior.split(",")]
    records = study(args.corpora, [int(k) for k in args.k.split(",")], priors, args.models,
                    args.seed, args.auto)
    text = json.dumps(records, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
