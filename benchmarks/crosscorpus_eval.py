"""A models folder through the device pipeline on whole corpora: per corpus UAR on its own
classes, core-4 UAR (decided among neutral, happy, sad, angry), macro-F1, ECE.

Why: `edge-ser evaluate` scores one corpus on the model's full label set; the cross-corpus
question is how the shipped int8 ensemble does on corpora it never heard, in the protocol the
multi-corpus training reports use (train/crosscorpus.py), so the figures compare. Corpora
the models were trained on are flagged from the manifest's `training` section (their figures
are optimistic) and left out of the mean.

    python benchmarks/crosscorpus_eval.py --models edge/models/default \
        --data nemo:DIR --data ased:DIR ... --out train/results/X/device-crosscorpus
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.audio_conditions import Transform, changed_table, condition
from benchmarks.report import save_report
from edge.corpora import map_label
from edge.manifest import Manifest, load_manifest
from edge.pipeline import FILE_BLOCK_SECONDS, Pipeline
from edge.wav import iter_wav_blocks, read_wav
from train.crosscorpus import per_corpus
from train.datasets import CorpusSource, load_sources


def score_corpus(pipe: Pipeline, source: str, heard: set[str],
                 transform: Transform | None = None) -> tuple[str, dict]:
    """One corpus (``FORMAT:PATH``) through ``pipe`` file by file, as ``classify`` decides:
    its name and per_corpus row, flagged if the models were trained on it. ``transform(y,
    sr, path)`` changes each file's audio first (a channel or noise condition)."""
    labels = list(pipe.manifest.labels)
    # every label the models can score (calm is read, then scored as neutral if need be)
    ds = load_sources([CorpusSource.parse(source)], list(dict.fromkeys([*labels, "calm"])))
    name = ds.utts[0].corpus
    ids, probs, truth, skipped = [], [], {}, 0
    sr = pipe.manifest.frontend.sr
    t0 = time.time()
    for i, u in enumerate(ds.utts):
        lab, _ = map_label(u.label, labels)
        if lab is None:
            skipped += 1
            continue
        if transform is None:
            res = pipe.classify_blocks(iter_wav_blocks(u.path, FILE_BLOCK_SECONDS, sr))
        else:
            res = pipe.classify_audio(transform(read_wav(u.path, sr).samples, sr, str(u.path)))
        ids.append(i)
        probs.append(np.asarray(res.probs, dtype=np.float64))
        truth[i] = labels.index(lab)
    ids_a, p = np.array(ids), np.stack(probs)
    r = per_corpus(ids_a, p, p, truth, [name] * len(ds.utts), labels)[name]
    r.update(seen_in_training=name in heard, seconds=round(time.time() - t0, 1),
             skipped_labels=skipped)
    return name, r


def heard_corpora(manifest: Manifest) -> set[str]:
    return {c.name for c in manifest.training.corpora} if manifest.training else {"ravdess"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=Path, default=Path("edge/models/default"))
    ap.add_argument("--data", action="append", required=True, help="FORMAT:PATH (repeatable)")
    ap.add_argument("--condition", action="append", default=[],
                    help="also score on changed audio (repeatable; benchmarks/audio_conditions.py)")
    ap.add_argument("--out", type=Path, default=None, help="write OUT.md and OUT.json")
    args = ap.parse_args()
    changes = {spec: condition(spec) for spec in args.condition}
    manifest = load_manifest(args.models)
    labels = list(manifest.labels)
    pipe = Pipeline(manifest, num_threads=1)
    heard = heard_corpora(manifest)
    rows: dict[str, dict] = {}
    for src in args.data:
        name, r = score_corpus(pipe, src, heard)
        rows[name] = r
        print(f"{name}: {r['files']} files, UAR {100 * r['uar']:.1f}, core-4 "
              f"{100 * (r['core4_uar'] or 0):.1f}, ECE {100 * r['ece']:.1f}"
              + (" (trained on it)" if r["seen_in_training"] else ""), flush=True)
        for spec, change in changes.items():
            r.setdefault("conditions", {})[spec] = score_corpus(pipe, src, heard, change)[1]
            print(f"{name} {spec}: UAR {100 * r['conditions'][spec]['uar']:.1f}", flush=True)
    unseen = [r["core4_uar"] for r in rows.values()
              if not r["seen_in_training"] and r["core4_uar"] is not None]
    lines = [f"Models: `{args.models}` ({len(manifest.members)} members, labels "
             f"{', '.join(labels)}), int8 through the device pipeline (`classify`).", "",
             "| corpus | files | trained on it | UAR own classes % | core-4 UAR % | "
             "macro-F1 % | ECE % |", "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        c4 = "–" if r["core4_uar"] is None else f"{100 * r['core4_uar']:.1f}"
        lines.append(f"| {name} | {r['files']} | {'yes' if r['seen_in_training'] else 'no'} | "
                     f"{100 * r['uar']:.1f} | {c4} | {100 * r['macro_f1']:.1f} | "
                     f"{100 * r['ece']:.1f} |")
    if unseen:
        lines += ["", f"Mean core-4 UAR over corpora the models never heard: "
                  f"**{100 * float(np.mean(unseen)):.1f} %**."]
    if changes:
        changed = {name: {"clean": r["uar"], **{c: r["conditions"][c]["uar"] for c in changes}}
                   for name, r in rows.items()}
        lines += ["", "On changed audio (UAR on each corpus's own classes %; in brackets the "
                  "change against clean, points):", "",
                  *changed_table("corpus", changed, list(changes))]
    save_report(args.out, "\n".join(lines), rows)


if __name__ == "__main__":
    main()
