"""Enrolment on people no model heard: a leave-one-corpus-out run's members, scored on each
held-out corpus with and without each test speaker's enrolment (K = 5, 10, 20 clips).

Why: the issue's target is measured here, not on training speakers. For every ``loco-*`` set
of a run, each test speaker gives K random clips (any emotion, never scored); the rest of their
files are scored, the same files for every method:

- ``without``: the manifest's global statistics (nobody enrolled);
- ``features``: the speaker's statistics replace the global ones (what a manifest with
  ``enrolment.features = "speaker"`` does; members trained with ``speaker_norm = "mixed"``
  learned it, members trained without it meet it for the first time);
- ``prior s``: each window's probabilities divided by the speaker's mean enrolment
  probabilities to the power s (``enrolment.prior = "divide"``), on top of ``without`` or of
  ``features`` (``features+prior s``).

With ``--variants``, three gentler uses of the same profile (not in the manifest; measured to
decide whether they should be):

- ``shift a``: the mean moves a of the way from the global to the speaker's, the global
  spread stays;
- ``offset a``: the global statistics move by a times the speaker's departure from the
  training speakers' own speech-frame statistics (global statistics include silence and
  padding, a profile only speech frames: this compares like with like);
- ``offset+scale a``: the same for the spread, as a ratio;
- ``VARIANT 0.5+prior s``: the prior correction on top of a half-way variant.

Float (Keras) members, soft vote with the set's weights, file = mean of its windows (as the
device), core-4 UAR per held-out corpus.

    python benchmarks/enrolment_loco.py RUN [RUN...] [--clips 5,10,20] [--cache /work/cache] \
        --out OUT

Several runs (their windows of the same test files) vote as one ensemble: each run's
windows normalised by its own statistics (or the speaker's), as a merged model folder does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import save_report
from convert.runs import load_windows
from convert.tfenv import import_tf
from edge.calibration import apply_prior, prior_divisor
from edge.frontend.config import FrontendConfig
from edge.frontend.windows import speaker_statistics
from train.config import TrainConfig, load_config
from train.crosscorpus import core4_scores
from train.datasets import CorpusSource, Dataset, files_by_speaker, load_sources
from train.ensemble import vote_windows
from train.experiment import feature_settings
from train.features import FileFeatures, extract, normalize, normalize_by, speech_frames
from train.fit import file_probs
from train.runs import RunInfo, SetInfo
from train.speakernorm import enrolment_clips

STRENGTHS = (0.5, 1.0)
VARIANT_AMOUNTS = (0.5, 1.0)
REFERENCE_FILES = 3000  # training files whose speech frames give the reference statistics


Stats = tuple[np.ndarray, np.ndarray]


def moved_statistics(how: str, amount: float, glob: Stats, spk: Stats,
                     reference: Stats | None) -> Stats:
    """The normalisation statistics a ``--variants`` method gives one enrolled speaker."""
    (gm, gs), (sm, ss) = glob, spk
    if how == "shift":
        return gm + amount * (sm - gm), gs
    assert reference is not None
    rm, rs = reference
    mean = gm + amount * (sm - rm)
    return (mean, gs * (ss / rs) ** amount) if how == "offset+scale" else (mean, gs)


ROW_INFO = ("speakers", "skipped_speakers", "files")


def run_config(run: RunInfo) -> TrainConfig:
    """The configuration a run's features were extracted with (to share its feature cache)."""
    return load_config(None, [f"{k}={json.dumps(v)}" for k, v in run.config.items()
                              if k in ("labels", "vad", "loudness", "target_dbfs", "denoise",
                                       "resampler", "window_seconds", "seed")])


def run_dataset(run: RunInfo) -> Dataset:
    """The corpora a run was trained on, read with its labels (its file indices)."""
    return load_sources([CorpusSource(c["format"], Path(c["root"])) for c in run.corpora],
                        run.labels)


def run_features(run: RunInfo, ds: Dataset, kinds: list[str], cache: Path
                 ) -> tuple[FrontendConfig, dict[tuple[int, int], FileFeatures]]:
    """The run's front end and every file's clean features, through the feature cache."""
    cfg = run_config(run)
    fe = FrontendConfig.from_dict(run.frontend)
    return fe, extract(ds.utts, lambda i: [0], feature_settings(cfg, fe, kinds), cfg.seed,
                       cache, jobs=2)


def enrolled_normalisation(x: np.ndarray, who: np.ndarray, glob: Stats,
                           per_speaker: dict[str, Stats]) -> np.ndarray:
    """Windows normalised by the global statistics, an enrolled speaker's by their own."""
    out = normalize(x, *glob)
    sel = np.isin(who, list(per_speaker))
    out[sel] = normalize_by(x[sel], who[sel], per_speaker)
    return out


def render(results: dict[str, dict[str, dict]], title: str) -> str:
    """One table per K: a row per method, a column per held-out corpus, the mean and its
    change; last, the best method of each corpus chosen on its own scored files (an upper
    bound no honest choice reaches: it looks at the test files)."""
    lines = [title]
    for k, per in results.items():
        corpora = [c for c in per if per[c]["files"]]
        names = [n for n in per[corpora[0]] if n not in ROW_INFO]
        lines += ["", f"### {k} enrolment clips per test speaker", "",
                  "| method | " + " | ".join(f"{c} ({per[c]['files']} files, "
                                             f"{per[c]['speakers']} speakers)" for c in corpora)
                  + " | mean | vs without |", "|---|" + "---|" * (len(corpora) + 2)]
        base = np.mean([per[c]["without"] for c in corpora])
        for name in names:
            vals = [per[c][name] for c in corpora]
            lines.append(f"| {name} | " + " | ".join(f"{100 * v:.1f}" for v in vals)
                         + f" | {100 * np.mean(vals):.1f} | {100 * (np.mean(vals) - base):+.1f} |")
        best = [max(per[c][n] for n in names) for c in corpora]
        lines.append("| *best per corpus, chosen on its test files* | "
                     + " | ".join(f"*{100 * v:.1f}*" for v in best)
                     + f" | *{100 * np.mean(best):.1f}* | *{100 * (np.mean(best) - base):+.1f}* |")
        gone = [f"{c} ({per[c]['skipped_speakers']})" for c in per if per[c]["skipped_speakers"]]
        if gone:
            lines.append(f"\nSpeakers with {k} files or fewer are left out: {', '.join(gone)}.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, nargs="*",
                    help="leave-one-corpus-out runs: their members vote together")
    ap.add_argument("--clips", default="5,10,20")
    ap.add_argument("--cache", type=Path, default=Path("/work/cache"))
    ap.add_argument("--seed", type=int, default=7, help="picks the enrolment clips")
    ap.add_argument("--variants", action="store_true",
                    help="also score the shift / offset / offset+scale uses of a profile")
    ap.add_argument("--from-json", type=Path, default=None, metavar="JSON",
                    help="only render OUT.md again from an earlier OUT.json (no scoring)")
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.json")
    args = ap.parse_args()
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
        first = args.out.with_suffix(".md").read_text().splitlines()[0] \
            if args.out.with_suffix(".md").is_file() else f"From `{args.from_json.name}`."
        save_report(args.out, render(results, first), results)
        return
    if not args.run:
        ap.error("give a run (or --from-json)")
    _, keras = import_tf()
    runs = [RunInfo.read(r) for r in args.run]
    if len(runs) > 1 and args.variants:
        ap.error("--variants takes one run")
    run = runs[0]
    labels = run.labels
    ds = run_dataset(run)
    speaker = ds.speaker_of()
    sets = [s for s in run.sets if s.startswith("loco-")]
    parts = []  # per run: its front end and features, per set its members and windows
    for path, r in zip(args.run, runs, strict=True):
        if r.labels != labels or [s for s in r.sets if s.startswith("loco-")] != sets:
            sys.exit(f"{path}: its labels or leave-one-corpus-out sets differ from {args.run[0]}")
        kinds = sorted({m.feature for s in sets for m in SetInfo.read(path / s).members})
        parts.append((path, *run_features(r, ds, kinds, args.cache)))
    results: dict[str, dict] = {}
    for s in sets:
        held = s.removeprefix("loco-")
        sides = []  # per run: (set info, its windows per kind, its models)
        for path, _, _ in parts:
            info = SetInfo.read(path / s)
            kinds = sorted({m.feature for m in info.members})
            windows = {k: load_windows(path / s / "data" / f"test-{k}.npz") for k in kinds}
            sides.append((info, windows, [keras.models.load_model(path / s / m.file,
                                                                  compile=False)
                                          for m in info.members]))
        first = next(iter(sides[0][1].values()))
        file = first.file
        if any(not np.array_equal(w.file, file) for _, ws, _ in sides for w in ws.values()):
            sys.exit(f"{s}: the runs' test windows are not the same windows of the same files")
        truth = {int(f): int(t) for f, t in zip(file, first.y, strict=True)}
        weights = [m.weight for info, _, _ in sides for m in info.members]

        def vote(norm_of, sides=sides, weights=weights) -> np.ndarray:  # type: ignore[no-untyped-def]
            """The soft vote of every run's members, each run's windows normalised by
            ``norm_of(run index, kind, windows, global statistics)``."""
            outs = [mdl.predict(norm_of(r, m.feature, ws[m.feature].X,
                                        info.normalization[m.feature]),
                                batch_size=256, verbose=0)
                    for r, (info, ws, models) in enumerate(sides)
                    for mdl, m in zip(models, info.members, strict=True)]
            return vote_windows(outs, run.voting, weights)

        plain = vote(lambda r, kind, x, glob: normalize(x, *glob))
        corpus = ds.corpus_of()
        pool = np.flatnonzero(corpus != held)
        pool = np.random.default_rng(args.seed).choice(
            pool, size=min(REFERENCE_FILES, len(pool)), replace=False)
        _, fe, feats = parts[0]
        kinds = sorted(sides[0][1])
        reference = {kind: speaker_statistics([speech_frames(feats[(int(i), 0)], fe, kind)
                                               for i in pool]) for kind in kinds} \
            if args.variants else {}
        tested = np.unique(file)
        by_spk = {sp: [int(tested[i]) for i in ids]
                  for sp, ids in files_by_speaker(speaker[tested]).items()}
        for k in [int(c) for c in args.clips.split(",")]:
            enrol = {sp: enrolment_clips(ids, sp, k, args.seed)
                     for sp, ids in by_spk.items() if len(ids) > k}
            stats = [{kind: {sp: speaker_statistics([speech_frames(rf[(i, 0)], rfe, kind)
                                                     for i in ids])
                             for sp, ids in enrol.items()} for kind in ws}
                     for (_, rfe, rf), (_, ws, _) in zip(parts, sides, strict=True)]
            enrolled = np.isin(file, [i for ids in enrol.values() for i in ids])
            scored = np.isin(speaker[file], list(enrol)) & ~enrolled
            who = speaker[file]
            with_feats = vote(lambda r, kind, x, glob, who=who, stats=stats:
                              enrolled_normalisation(x, who, glob, stats[r][kind]))
            methods = {"without": plain, "features": with_feats}
            bases = [("without", plain), ("features", with_feats)]  # the prior goes on these
            for name, how, a in [(f"{how} {a:g}", how, a) for how in
                                 (("shift", "offset", "offset+scale") if args.variants else ())
                                 for a in VARIANT_AMOUNTS]:
                def moved(r, kind, x, glob, how=how, a=a, who=who, stats=stats,  # type: ignore[no-untyped-def]
                          reference=reference):
                    gm, gs = (np.asarray(v, dtype=np.float32) for v in glob)
                    return enrolled_normalisation(x, who, (gm, gs), {
                        sp: moved_statistics(how, a, (gm, gs), st, reference.get(kind))
                        for sp, st in stats[r][kind].items()})

                methods[name] = vote(moved)
                if a == 0.5:  # the half-way variants, with the prior on top too
                    bases.append((name, methods[name]))
            for base_name, base in bases:
                for strength in STRENGTHS:
                    out = base.copy()
                    for sp, ids in enrol.items():
                        mine = speaker[file] == sp
                        divisor = prior_divisor(base[np.isin(file, ids)].mean(axis=0), strength)
                        out[mine] = apply_prior(base[mine], divisor)
                    name = f"prior {strength:g}" if base_name == "without" \
                        else f"{base_name}+prior {strength:g}"
                    methods[name] = out
            row: dict[str, float | int] = {"speakers": len(enrol),
                                           "skipped_speakers": len(by_spk) - len(enrol),
                                           "files": len(np.unique(file[scored]))}
            for name, probs in methods.items():
                ids, fp = file_probs(probs[scored], file[scored])
                t = np.array([truth[int(i)] for i in ids])
                c4 = core4_scores(t, fp, labels)
                row[name] = c4.uar if c4 is not None else float("nan")
            results.setdefault(str(k), {})[held] = row
            print(k, held, {a: (round(b, 3) if isinstance(b, float) else b)
                            for a, b in row.items()}, flush=True)
    title = ("Runs: " + ", ".join(f"`{p.name}` ({r.config.get('speaker_norm', 'none')} "
                                  "speaker normalisation in training)"
                                  for p, r in zip(args.run, runs, strict=True))
             + ", their members voting together; leave-one-corpus-out; core-4 UAR % of each "
             "held-out corpus's files that enrolment did not use.")
    save_report(args.out, render(results, title), results)


if __name__ == "__main__":
    main()
