"""The Whisper-encoder teacher scored leave-one-corpus-out, and on the shipped RAVDESS folds.

Why: the teacher's soft labels are only worth distilling if the teacher generalises to corpora
it never saw. Leave-one-corpus-out (train the head on the core-4 files of four corpora, score the
fifth's core-4 files) answers that, with and without per-speaker standardisation (each speaker's
statistics from up to N random clips of that speaker, any emotion). The RAVDESS 8-class run on
``train/folds/ravdess-20.json`` puts the teacher as a row of the shipped comparison.

    python benchmarks/teacher_loco.py --context whisper --out train/results/teacher
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.calibration import apply_temperature, expected_calibration_error, fit_temperature
from edge.metrics import mean_std, score
from train.folds import FoldPlan
from train.teacher import (
    ALL_CORPORA,
    ALL_LABELS,
    CORE_4,
    DEFAULT_CACHE,
    TeacherHead,
    WhisperEncoder,
    core4_view,
    load_embeddings,
    log_mel,
    speaker_standardise,
)

C_GRID = (0.001, 0.01, 0.1, 1.0)


def _held_out(x: np.ndarray, y4: np.ndarray, corpus: np.ndarray, held: str,
              c: float) -> np.ndarray:
    core = y4 >= 0
    train = core & (corpus != held)
    head = TeacherHead(c=c).fit(x[train], y4[train], corpus[train])
    return head.predict_proba(x[core & (corpus == held)])


def choose(x: np.ndarray, y4: np.ndarray, corpus: np.ndarray) -> tuple[float, float]:
    """(C, temperature) chosen by leave-one-corpus-out inside the given corpora only: C by mean
    core-4 UAR over the inner held-out corpora, the temperature by their pooled NLL."""
    names = list(dict.fromkeys(corpus[y4 >= 0].tolist()))
    best: tuple[float, float, list[np.ndarray], list[np.ndarray]] | None = None
    for c in C_GRID:
        probs = [_held_out(x, y4, corpus, n, c) for n in names]
        truth = [y4[(y4 >= 0) & (corpus == n)] for n in names]
        u = float(np.mean([score(t, p.argmax(1), list(CORE_4)).uar
                           for t, p in zip(truth, probs, strict=True)]))
        if best is None or u > best[1]:
            best = (c, u, probs, truth)
    assert best is not None
    return best[0], fit_temperature(np.concatenate(best[2]), np.concatenate(best[3]))


def loco(x: np.ndarray, y4: np.ndarray, corpus: np.ndarray, c: float | None) -> dict[str, Any]:
    """Each corpus held out in turn; the head sees the core-4 files of the other corpora. With
    ``c`` None, C and a temperature are chosen by an inner leave-one-corpus-out on those corpora
    (the held-out corpus plays no part in the choice)."""
    core = y4 >= 0
    out: dict[str, Any] = {}
    for held in dict.fromkeys(corpus.tolist()):
        test = core & (corpus == held)
        temp = 1.0
        if c is None:
            rest = corpus != held
            c_used, temp = choose(x[rest], y4[rest], corpus[rest])
        else:
            c_used = c
        p = _held_out(x, y4, corpus, held, c_used)
        s = score(y4[test], p.argmax(1), list(CORE_4))
        out[held] = {"files": int(test.sum()), "core4_uar": s.uar, "core4_macro_f1": s.macro_f1,
                     "wa": s.wa, "ece": expected_calibration_error(p, y4[test]),
                     "ece_calibrated": expected_calibration_error(apply_temperature(p, temp),
                                                                  y4[test]),
                     "c": c_used, "temperature": temp, "confusion": s.confusion.tolist()}
    out["mean"] = {k: float(np.mean([v[k] for v in out.values()]))
                   for k in ("core4_uar", "core4_macro_f1", "wa", "ece", "ece_calibrated")}
    return out


def ravdess_folds(x: np.ndarray, y: np.ndarray, speakers: np.ndarray, plan: FoldPlan,
                  n_classes: int, c: float) -> dict[str, Any]:
    """All of RAVDESS's classes on the shipped speaker folds (train + val actors train the head)."""
    folds = []
    for f in plan.folds:
        tr = np.isin(speakers, [*f.train, *f.val])
        te = np.isin(speakers, f.test)
        head = TeacherHead(c=c, n_classes=n_classes).fit(x[tr], y[tr])
        p = head.predict_proba(x[te])
        s = score(y[te], p.argmax(1), [str(i) for i in range(n_classes)])
        folds.append({"uar": s.uar, "wa": s.wa, "macro_f1": s.macro_f1,
                      "ece": expected_calibration_error(p, y[te])})
    return {k: mean_std([f[k] for f in folds]) for k in ("uar", "wa", "macro_f1", "ece")} | {
        "folds": folds}


def logmel_stats(paths: list[str]) -> np.ndarray:
    """The no-encoder baseline: mean/std of Whisper's own log-mel over the clip's frames."""
    from edge.wav import read_wav
    from train.teacher import SAMPLE_RATE, speech_frames

    rows = []
    for p in paths:
        s = read_wav(p, SAMPLE_RATE).samples
        m = log_mel(s)[:, : speech_frames(len(s))[0]]
        rows.append(np.concatenate([m.mean(axis=1), m.std(axis=1)]))
    return np.asarray(rows, dtype=np.float32)


def timing(n: int = 10) -> dict[str, float]:
    """Seconds per 3 s clip for each context and thread count (encoder only, log-mel included)."""
    rng = np.random.default_rng(0)
    clip = (0.1 * rng.standard_normal(3 * 16000)).astype(np.float32)
    out: dict[str, float] = {}
    for context in ("whisper", "clip"):
        for threads in (1, 2):
            enc = WhisperEncoder(intra_threads=threads, context=context)  # type: ignore[arg-type]
            enc.embed(clip)
            t0 = time.perf_counter()
            for _ in range(n):
                enc.embed(clip)
            out[f"{context}, {threads} thread{'s' if threads > 1 else ''}"] = \
                (time.perf_counter() - t0) / n
    return out


def pct(v: float) -> str:
    return f"{100 * v:.1f}"


def markdown(res: dict[str, Any]) -> str:
    lines = ["# Teacher: Whisper tiny.en encoder + logistic head", "",
             f"Encoder context: **{res['context']}** ({res['context_note']}). Features: mean and "
             "std of the 384 encoder outputs over the 20 ms frames that cover the clip (768 "
             "values), standardised; head: multinomial logistic regression, classes balanced "
             "within each corpus and every corpus the same total weight; "
             + ("C chosen without the held-out corpus (inner leave-one-corpus-out), "
                f"C = {res['c_fixed']} on the RAVDESS folds." if res.get("choose_c") else
                f"C = {res['c_fixed']}, fixed beforehand (not tuned on the test corpora)."), "",
             ]
    corpora = [k for k in res["loco"].get("global", {}) if k != "mean"]
    if corpora:
        lines += ["## Leave-one-corpus-out, core four", "", f"Split: **{res['split']}**", ""]
    metrics = [("core4_uar", "core-4 UAR %"), ("core4_macro_f1", "core-4 macro-F1 %"),
               ("ece", "ECE %")]
    if res.get("choose_c"):
        metrics.append(("ece_calibrated", "ECE % after the inner-LOCO temperature"))
    for metric, name in metrics if corpora else ():
        lines += [f"### {name}", "",
                  "| features | " + " | ".join(f"{c} held out" for c in corpora) + " | mean |",
                  "|---" * (len(corpora) + 2) + "|"]
        for mode, label in res["mode_labels"].items():
            r = res["loco"][mode]
            lines.append(f"| {label} | " + " | ".join(pct(r[c][metric]) for c in corpora)
                         + f" | {pct(r['mean'][metric])} |")
        lines.append("")
    if corpora and res.get("choose_c"):
        lines += ["C chosen per held-out corpus by inner leave-one-corpus-out on the other four "
                  f"(grid {list(C_GRID)}, mean core-4 UAR), with the temperature (pooled NLL):", "",
                  "| features | " + " | ".join(corpora) + " |", "|---" * (len(corpora) + 1) + "|"]
        for mode, label in res["mode_labels"].items():
            r = res["loco"][mode]
            lines.append(f"| {label} | " + " | ".join(
                f"C {r[c]['c']:g}, T {r[c]['temperature']:.2f}" for c in corpora) + " |")
        lines.append("")
    if corpora:
        files = res["loco"]["global"]
        lines += ["Core-4 files per held-out corpus: "
                  + ", ".join(f"{c} {files[c]['files']}" for c in corpora) + ".", ""]
    if res.get("ravdess"):
        rv = res["ravdess"]
        lines += ["## Row for the shipped comparison (RAVDESS, 8 classes)", "",
                  "Split: **speaker-independent (5 folds of actors, 20 actors)**, the folds of "
                  "`train/folds/ravdess-20.json` (train + val actors fit the head). Mean ± std "
                  "over folds.", "",
                  "| model | WA % | UAR % | macro-F1 % | ECE % |", "|---|---|---|---|---|"]
        for mode, label in res["mode_labels"].items():
            if mode in rv:
                r = rv[mode]
                lines.append(f"| logistic head on {label} | "
                             + " | ".join(f"{100 * r[k][0]:.1f} ± {100 * r[k][1]:.1f}"
                                          for k in ("wa", "uar", "macro_f1", "ece")) + " |")
        lines.append("")
    if res.get("timing"):
        lines += ["## Encoder time per 3 s clip (this workstation, shared with training)", "",
                  "| context, threads | s / clip |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in res["timing"].items()]
        lines.append("")
    if res.get("one_class_speakers"):
        lines += ["Per-speaker standardisation assumes a speaker's clips span several emotions. "
                  "Speakers whose core-4 clips are all one emotion (their statistics are that "
                  "emotion, so standardising erases it): "
                  + ", ".join(f"{c} {n[0]} of {n[1]}" for c, n in res["one_class_speakers"].items())
                  + ".", ""]
    lines += [f"Command: `{res['command']}`", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", help="FORMAT:PATH (repeatable; default: 5 corpora)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--context", choices=("whisper", "clip"), default="whisper")
    ap.add_argument("--clips", type=int, default=20, help="clips per speaker for its statistics")
    ap.add_argument("--c", type=float, default=0.1)
    ap.add_argument("--choose-c", action="store_true",
                    help="LOCO only: choose C (and a temperature) by inner leave-one-corpus-out")
    ap.add_argument("--folds", type=Path,
                    default=Path(__file__).resolve().parents[1] / "train/folds/ravdess-20.json")
    ap.add_argument("--logmel-baseline", action="store_true",
                    help="also score the same head on Whisper's log-mel mean/std (no encoder)")
    ap.add_argument("--timing", action="store_true", help="also time the encoder")
    ap.add_argument("--timing-only", action="store_true", help="only time the encoder (no data)")
    ap.add_argument("--out", type=Path, default=None, help="folder for NAME.md / NAME.json")
    ap.add_argument("--name", default="loco")
    args = ap.parse_args()
    if args.timing_only:
        print(json.dumps(timing(), indent=1))
        return

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    data = args.data or list(ALL_CORPORA)
    ds, x = load_embeddings(data, args.cache, context=args.context, labels=ALL_LABELS, log=log)
    _, y4 = core4_view(ds)
    corpus = ds.corpus_of()
    speakers = ds.speaker_of()
    feats = {"global": x, "speaker": speaker_standardise(x, speakers, n_clips=args.clips)}
    labels = {"global": "encoder mean/std",
              "speaker": f"encoder mean/std, per-speaker standardised ({args.clips} clips)"}
    if args.logmel_baseline:
        lm = logmel_stats([str(u.path) for u in ds.utts])
        feats["logmel"] = lm
        feats["logmel_speaker"] = speaker_standardise(lm, speakers, n_clips=args.clips)
        labels["logmel"] = "log-mel mean/std (no encoder)"
        labels["logmel_speaker"] = "log-mel mean/std, per-speaker standardised"
    one_class: dict[str, list[int]] = {}
    for c in dict.fromkeys(corpus.tolist()):
        spk_c = sorted(set(speakers[(corpus == c) & (y4 >= 0)].tolist()))
        single = sum(len(set(y4[(speakers == s) & (y4 >= 0)].tolist())) == 1 for s in spk_c)
        one_class[c] = [int(single), len(spk_c)]
    res: dict[str, Any] = {
        "one_class_speakers": one_class,
        "context": args.context,
        "context_note": "log-mel padded to Whisper's 30 s window, as trained"
        if args.context == "whisper" else "only the clip's own frames fed to the encoder",
        "c_fixed": args.c, "choose_c": args.choose_c,
        "labels": list(CORE_4), "mode_labels": labels,
        "split": "leave-one-corpus-out: the head is fitted on the core-4 files of 4 corpora and "
                 "scored on the core-4 files of the 5th; speaker statistics come from the held-"
                 "out speaker's own clips (unlabelled use)",
        "command": "python " + " ".join([sys.argv[0].split("/wt-teacher/")[-1], *sys.argv[1:]]),
        "loco": {m: loco(f, y4, corpus, None if args.choose_c else args.c)
                 for m, f in feats.items()}
        if len(set(corpus.tolist())) > 1 else {},
    }
    for m, r in res["loco"].items():
        log(f"{labels[m]}: mean core-4 UAR {pct(r['mean']['core4_uar'])} % ("
            + ", ".join(f"{k} {pct(v['core4_uar'])}" for k, v in r.items() if k != "mean") + ")")
    rv = corpus == "ravdess"
    if rv.any() and args.folds.is_file():
        plan = FoldPlan.load(args.folds)
        spk = np.array([s.split("/")[-1] for s in speakers[rv]])
        names = [ds.labels[int(i)] for i in ds.y[rv]]
        classes = list(dict.fromkeys(n for n in ALL_LABELS if n in names))
        y8 = np.array([classes.index(n) for n in names])
        res["ravdess"] = {m: ravdess_folds(f[rv], y8, spk, plan, len(classes), args.c)
                          for m, f in feats.items()}
        res["ravdess_classes"] = classes
        for m, r in res["ravdess"].items():
            log(f"RAVDESS 8-class folds, {labels[m]}: UAR {pct(r['uar'][0])} ± {pct(r['uar'][1])}")
    if args.timing:
        res["timing"] = timing()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = args.name
        (args.out / f"{stem}.json").write_text(json.dumps(res, indent=1) + "\n")
        (args.out / f"{stem}.md").write_text(markdown(res))
        log(f"wrote {args.out / stem}.md and .json")


if __name__ == "__main__":
    main()
