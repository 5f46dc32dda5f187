"""How degraded a condition gate finds each corpus, as recorded and changed.

Why: a gate (``edge-ser condition-gate``) helps only where it sends clean recordings to the clean
members and rooms and noise to the whole ensemble; this reports its mean probability of
"degraded" over the speech windows of up to ``--files`` files per corpus, clean and under each
``--condition`` (``benchmarks/audio_conditions.py``), with each corpus scored by its own
models folder (``--models CORPUS=DIR``, e.g. a leave-one-corpus-out fold's gated ensemble).

    python benchmarks/gate_rates.py --models urdu=WORK/...-urdu-int8-gated --data urdu:DIR \\
        --condition reverb --condition noise:20 --out OUT
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.audio_conditions import changed_table, condition
from benchmarks.report import save_report
from convert.gate import chosen_files, window_values
from edge.manifest import load_manifest
from edge.pipeline import Pipeline
from edge.wav import read_wav


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", action="append", required=True, metavar="CORPUS=DIR")
    ap.add_argument("--data", action="append", required=True, metavar="FORMAT:PATH")
    ap.add_argument("--condition", action="append", default=[])
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    models = {c: Path(d) for c, _, d in (m.partition("=") for m in args.models)}
    changes = {spec: condition(spec) for spec in args.condition}
    rows: dict[str, dict[str, float | None]] = {}
    for source in args.data:
        files = chosen_files([source], args.files, 1)
        corpus = files[0][0]
        pipe = Pipeline(load_manifest(models[corpus]), num_threads=1)
        if pipe.condition_gate is None:
            raise SystemExit(f"error: {models[corpus]} has no gate")
        gate = pipe.condition_gate
        sr = pipe.manifest.frontend.sr
        d: dict[str, list[float]] = {"clean": [], **{s: [] for s in changes}}
        for _, path in files:
            y = read_wav(path, sr).samples
            for name, audio in (("clean", y), *((s, f(y, sr, str(path)))
                                                for s, f in changes.items())):
                d[name] += window_values(pipe, audio, gate.degraded)
        rows[corpus] = {k: float(np.mean(v)) for k, v in d.items()}
        print(corpus, {k: round(v, 3) for k, v in rows[corpus].items()}, flush=True)
    lines = [f"Mean probability of \"degraded\" the gate gives a speech window (up to {args.files} "
             "files per corpus, each scored by its own models folder), as recorded and changed "
             "(in brackets: against as recorded, points of 100).", "",
             *changed_table("corpus", rows, list(changes))]
    save_report(args.out, "\n".join(lines), {"per_corpus": rows})


if __name__ == "__main__":
    main()
