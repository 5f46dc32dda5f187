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

Float (Keras) members, soft vote with the set's weights, file = mean of its windows (as the
device), core-4 UAR per held-out corpus.

    python benchmarks/enrolment_loco.py RUN [--clips 5,10,20] [--cache /work/cache] --out OUT
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
from train.config import load_config
from train.crosscorpus import core4_scores
from train.datasets import CorpusSource, load_sources
from train.ensemble import vote_windows
from train.experiment import feature_settings
from train.features import extract, normalize, speech_frames
from train.fit import file_probs
from train.runs import RunInfo, SetInfo
from train.speakernorm import enrolment_clips

STRENGTHS = (0.5, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--clips", default="5,10,20")
    ap.add_argument("--cache", type=Path, default=Path("/work/cache"))
    ap.add_argument("--seed", type=int, default=7, help="picks the enrolment clips")
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.json")
    args = ap.parse_args()
    _, keras = import_tf()
    run = RunInfo.read(args.run)
    cfg = load_config(None, [f"{k}={json.dumps(v)}" for k, v in run.config.items()
                             if k in ("labels", "vad", "loudness", "target_dbfs", "denoise",
                                      "resampler", "window_seconds", "seed")])
    fe = FrontendConfig.from_dict(run.frontend)
    labels = run.labels
    ds = load_sources([CorpusSource(c["format"], Path(c["root"])) for c in run.corpora], labels)
    speaker = ds.speaker_of()
    sets = [s for s in run.sets if s.startswith("loco-")]
    kinds = sorted({m.feature for s in sets for m in SetInfo.read(args.run / s).members})
    feats = extract(ds.utts, lambda i: [0], feature_settings(cfg, fe, kinds), cfg.seed,
                    args.cache, jobs=2)
    results: dict[str, dict] = {}
    for s in sets:
        held = s.removeprefix("loco-")
        info = SetInfo.read(args.run / s)
        windows = {k: load_windows(args.run / s / "data" / f"test-{k}.npz") for k in kinds
                   if (args.run / s / "data" / f"test-{k}.npz").is_file()}
        file = next(iter(windows.values())).file
        truth = {int(f): int(t) for f, t in zip(file, next(iter(windows.values())).y,
                                                strict=True)}
        models = [keras.models.load_model(args.run / s / m.file, compile=False)
                  for m in info.members]
        weights = [m.weight for m in info.members]

        def vote(norm_of: dict[str, np.ndarray], models=models, info=info,
                 weights=weights) -> np.ndarray:
            return vote_windows([mdl.predict(norm_of[m.feature], batch_size=256, verbose=0)
                                 for mdl, m in zip(models, info.members, strict=True)],
                                run.voting, weights)

        plain = vote({k: normalize(w.X, *info.normalization[k]) for k, w in windows.items()})
        by_spk: dict[str, list[int]] = {}
        for f in np.unique(file):
            by_spk.setdefault(str(speaker[f]), []).append(int(f))
        for k in [int(c) for c in args.clips.split(",")]:
            enrol = {sp: enrolment_clips(ids, sp, k, args.seed)
                     for sp, ids in by_spk.items() if len(ids) > k}
            stats = {kind: {sp: speaker_statistics([speech_frames(feats[(i, 0)], fe, kind)
                                                    for i in ids])
                            for sp, ids in enrol.items()} for kind in windows}
            enrolled = np.isin(file, [i for ids in enrol.values() for i in ids])
            scored = np.isin(speaker[file], list(enrol)) & ~enrolled
            spk_norm = {}
            for kind, w in windows.items():
                x = normalize(w.X, *info.normalization[kind])
                for sp in enrol:
                    sel = speaker[file] == sp
                    x[sel] = normalize(w.X[sel], *stats[kind][sp])
                spk_norm[kind] = x
            with_feats = vote(spk_norm)
            methods = {"without": plain, "features": with_feats}
            for base_name, base in (("without", plain), ("features", with_feats)):
                for strength in STRENGTHS:
                    out = base.copy()
                    for sp, ids in enrol.items():
                        mine = speaker[file] == sp
                        divisor = prior_divisor(base[np.isin(file, ids)].mean(axis=0), strength)
                        out[mine] = apply_prior(base[mine], divisor)
                    name = f"prior {strength:g}" if base_name == "without" \
                        else f"features+prior {strength:g}"
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
    names = ["without", "features", *[f"prior {s:g}" for s in STRENGTHS],
             *[f"features+prior {s:g}" for s in STRENGTHS]]
    lines = [f"Run: `{args.run.name}` ({run.config.get('speaker_norm', 'none')} speaker "
             f"normalisation in training), leave-one-corpus-out; core-4 UAR % of each held-out "
             "corpus's files that enrolment did not use."]
    for k, per in results.items():
        corpora = [c for c in per if per[c]["files"]]
        lines += ["", f"### {k} enrolment clips per test speaker", "",
                  "| method | " + " | ".join(f"{c} ({per[c]['files']} files, "
                                             f"{per[c]['speakers']} speakers)" for c in corpora)
                  + " | mean | vs without |", "|---|" + "---|" * (len(corpora) + 2)]
        base = np.mean([per[c]["without"] for c in corpora])
        for name in names:
            vals = [per[c][name] for c in corpora]
            lines.append(f"| {name} | " + " | ".join(f"{100 * v:.1f}" for v in vals)
                         + f" | {100 * np.mean(vals):.1f} | {100 * (np.mean(vals) - base):+.1f} |")
        gone = [f"{c} ({per[c]['skipped_speakers']})" for c in per if per[c]["skipped_speakers"]]
        if gone:
            lines.append(f"\nSpeakers with {k} files or fewer are left out: {', '.join(gone)}.")
    save_report(args.out, "\n".join(lines), results)


if __name__ == "__main__":
    main()
