"""How loud each corpus's speech is, as ``edge-ser classify --json`` reports it (``level_dbfs``:
the 95th percentile of frame levels, ``edge.level``).

Why: the models lose 3 points of core-4 UAR at 6 dB quieter and 16 at 20 dB quieter
(``loco-device-r5-level.md``); the levels they were trained on tell a user where to set the
capture gain.

    python benchmarks/corpus_levels.py --data ravdess:DIR ... --files 100 --out OUT
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import save_report
from convert.gate import chosen_files
from edge.manifest import load_manifest
from edge.pipeline import FILE_BLOCK_SECONDS, Pipeline
from edge.wav import iter_wav_blocks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", required=True, metavar="FORMAT:PATH")
    ap.add_argument("--models", type=Path, default=Path("edge/models/default"))
    ap.add_argument("--files", type=int, default=100, help="files drawn per corpus")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    pipe = Pipeline(load_manifest(args.models), num_threads=1)
    sr = pipe.manifest.frontend.sr
    rows: dict[str, dict[str, float]] = {}
    for source in args.data:
        files = chosen_files([source], args.files, 2)
        results = [pipe.classify_blocks(iter_wav_blocks(path, FILE_BLOCK_SECONDS, sr))
                   for _, path in files]
        levels = [r.level_dbfs for r in results if r.level_dbfs is not None]
        q10, q50, q90 = np.percentile(levels, [10, 50, 90])
        rows[files[0][0]] = {"files": len(levels), "p10": q10, "median": q50, "p90": q90}
        print(files[0][0], {k: round(v, 1) for k, v in rows[files[0][0]].items()}, flush=True)
    lines = [f"Speech level of up to {args.files} files per corpus (drawn with seed 2), dBFS "
             "as `edge-ser classify --json` reports it (`level_dbfs`).", "",
             "| corpus | files | 10th percentile | median | 90th percentile |",
             "|---|---|---|---|---|",
             *(f"| {c} | {r['files']:.0f} | {r['p10']:.1f} | {r['median']:.1f} | {r['p90']:.1f} |"
               for c, r in rows.items())]
    save_report(args.out, "\n".join(lines), {"per_corpus": rows})


if __name__ == "__main__":
    main()
