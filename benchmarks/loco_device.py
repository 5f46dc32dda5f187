"""Leave-one-corpus-out through the device: each set's members converted (int8, and float32 for
the same path without quantization), merged across runs, and the held-out corpus classified
file by file by the device pipeline.

Why: ``loco_mix`` scores the Keras members on cached windows; what ships is int8 TFLite behind
the NumPy front end, the speech gate and the vote. Float32 through the same pipeline separates
what int8 costs from what the device path changes; both should match the Keras figure.

    python benchmarks/loco_device.py --run A=RUN_A --run B=RUN_B --data nemo:DIR ... \
        --work WORK --keras mix.json --keras-combo a+b --out loco-device

``--work`` keeps every converted folder and score (a rerun reuses them). ``--condition``
(repeatable; ``benchmarks/audio_conditions.py``) also scores the int8 ensemble on changed
audio, as a microphone or room would change it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.audio_conditions import Transform, changed_table, condition  # noqa: E402
from benchmarks.crosscorpus_eval import heard_corpora, score_corpus  # noqa: E402
from benchmarks.report import save_report  # noqa: E402
from convert.merge import MergeSource, merge  # noqa: E402
from edge.errors import EdgeSerError  # noqa: E402
from edge.manifest import load_manifest  # noqa: E402
from edge.pipeline import Pipeline  # noqa: E402
from train.datasets import CorpusSource  # noqa: E402

MODES = ("int8", "float32")


def converted(run: Path, set_name: str, mode: str, out: Path) -> Path:
    """``edge-ser convert RUN --set SET --mode MODE`` into ``out``, unless already there."""
    if not (out / "manifest.json").is_file():
        r = subprocess.run([sys.executable, "-m", "edge.cli", "convert", str(run), "--set",
                            set_name, "--mode", mode, "--out", str(out), "--force"],
                           cwd=REPO, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"error: converting {run} {set_name}: "
                             f"{(r.stderr.strip().splitlines() or ['?'])[-1]}")
    return out


def fold_name(run: str, corpus: str, mode: str) -> str:
    """The work folder of one run's set for a held-out corpus, converted in ``mode``."""
    return f"{run}-{corpus}-{mode}"


def ensemble(runs: dict[str, Path], corpus: str, mode: str, work: Path) -> Path:
    """The set ``loco-CORPUS`` of every run, converted and (several runs) merged."""
    folders = [converted(run, f"loco-{corpus}", mode, work / fold_name(name, corpus, mode))
               for name, run in runs.items()]
    if len(folders) == 1:
        return folders[0]
    out = work / f"{'+'.join(runs)}-{corpus}-{mode}"
    if not (out / "manifest.json").is_file():
        merge([MergeSource(f) for f in folders], out, force=True, temperature=1.0)
    return out


@dataclass(frozen=True)
class GatePlan:
    """A condition gate (``edge-ser gate``) for every fold: its clean members are those of the
    runs named, fitted on the fold's training corpora among ``data`` (never the held-out one)."""

    clean_runs: tuple[str, ...]
    streams: tuple[str, ...]
    data: tuple[str, ...]
    files_per_corpus: int


def gated(models: Path, corpus: str, mode: str, plan: GatePlan) -> Path:
    """``models`` with the fold's gate, unless already there."""
    from convert.gate import GateFitConfig, fit_gate, write_gated

    out = models.with_name(models.name + "-gated")
    if (out / "manifest.json").is_file():
        return out
    sources = load_manifest(models).metadata["sources"]
    wanted = {fold_name(run, corpus, mode) for run in plan.clean_runs}
    clean = tuple(name for src in sources for name in src["members"]
                  if Path(src["models"]).name in wanted)
    train = [d for d in plan.data if CorpusSource.parse(d).fmt != corpus]
    if len(train) == len(plan.data) or not clean:
        raise SystemExit(f"error: the gate for {corpus} needs --gate-data with {corpus} among "
                         "them (it is left out) and --gate-clean naming runs of --run")
    spec = fit_gate(models, train, GateFitConfig(clean, plan.streams,
                                                 files_per_corpus=plan.files_per_corpus))
    write_gated(models, out, spec, force=True)
    return out


def device_score(models: Path, source: str, cache: Path,
                 transform: Transform | None = None) -> dict:
    if cache.is_file():
        return json.loads(cache.read_text())
    manifest = load_manifest(models)
    _, row = score_corpus(Pipeline(manifest, num_threads=1), source, heard_corpora(manifest),
                          transform)
    if row["seen_in_training"]:
        raise SystemExit(f"error: {models} was trained on the corpus it is scored on")
    if row["core4_uar"] is None:
        raise SystemExit(f"error: {source} has none of the core-4 classes to score")
    cache.write_text(json.dumps(row))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", required=True, metavar="NAME=RUN")
    ap.add_argument("--data", action="append", required=True, help="FORMAT:PATH (repeatable)")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--keras", type=Path, help="loco_mix JSON with the Keras figures")
    ap.add_argument("--keras-combo", help="the ensemble's name in --keras")
    ap.add_argument("--condition", action="append", default=[],
                    help="also score int8 on changed audio (repeatable; see above)")
    ap.add_argument("--int8-only", action="store_true", help="skip the float32 conversion")
    ap.add_argument("--gate-clean", action="append", default=[], metavar="RUN",
                    help="give every fold a condition gate whose clean members are RUN's "
                         "(repeatable; see edge-ser gate)")
    ap.add_argument("--gate-stream", action="append", default=[], metavar="STREAM",
                    help="a stream the gate reads (repeatable; default: the clean members')")
    ap.add_argument("--gate-data", action="append", default=[], metavar="FORMAT:PATH",
                    help="the corpora the gates are fitted on (all of them: each fold leaves "
                         "its own out)")
    ap.add_argument("--gate-files", type=int, default=300, help="files per corpus for a gate")
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.md and OUT.json")
    args = ap.parse_args()
    plan = GatePlan(tuple(args.gate_clean), tuple(args.gate_stream), tuple(args.gate_data),
                    args.gate_files) if args.gate_clean else None
    changes = {spec: condition(spec) for spec in args.condition}
    modes = ("int8",) if args.int8_only else MODES
    runs = {n: Path(d) for n, _, d in (r.partition("=") for r in args.run)}
    keras = {}
    if args.keras:
        keras = {c: r["core4_uar"] for c, r in
                 json.loads(args.keras.read_text())[args.keras_combo]["per_corpus"].items()}
    args.work.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}
    try:
        for source in args.data:
            corpus = CorpusSource.parse(source).fmt  # names the set (loco-CORPUS)
            if corpus == "auto":
                raise SystemExit(f"error: {source}: give the format (FORMAT:PATH)")
            rows[corpus] = {}
            for mode in modes:
                models = ensemble(runs, corpus, mode, args.work)
                if plan is not None:
                    models = gated(models, corpus, mode, plan)
                row = device_score(models, source, args.work / f"score-{models.name}.json")
                rows[corpus][mode] = row["core4_uar"]
                print(f"{corpus} {mode}: core-4 {100 * row['core4_uar']:.1f}", flush=True)
            if corpus in keras:
                rows[corpus]["keras"] = keras[corpus]
            for spec, change in changes.items():
                models = ensemble(runs, corpus, "int8", args.work)
                if plan is not None:
                    models = gated(models, corpus, "int8", plan)
                tag = spec.replace(":", "")
                row = device_score(models, source, args.work / f"score-{models.name}-{tag}.json",
                                   change)
                rows[corpus][spec] = row["core4_uar"]
                print(f"{corpus} int8 {spec}: core-4 {100 * row['core4_uar']:.1f}", flush=True)
    except EdgeSerError as e:
        raise SystemExit(f"error: {e}") from None
    cols = ["keras", *modes] if keras else list(modes)
    both = "float32" in modes
    lines = [f"Runs {', '.join(f'{n} (`{d}`)' for n, d in runs.items())}: each held-out "
             "corpus, core-4 UAR % file by file, by that corpus's leave-one-corpus-out set "
             "(the runs' members voting, soft" + (f"; a condition gate per fold with "
             f"{'+'.join(plan.clean_runs)} as its clean members, fitted on the fold's "
             "training corpora" if plan else "") + ").", "",
             "| held-out corpus | " + " | ".join(
                 {"keras": "Keras (loco_mix)", "int8": "int8, device",
                  "float32": "float32, device"}[c] for c in cols)
             + (" | int8 − float32 |" if both else " |"),
             "|---|" + "---|" * (len(cols) + both)]

    def gap(r: dict[str, float]) -> str:
        return f" | {100 * (r['int8'] - r['float32']):+.1f} |" if both else " |"

    for corpus, r in rows.items():
        lines.append(f"| {corpus} | " + " | ".join(f"{100 * r[c]:.1f}" for c in cols) + gap(r))
    means = {c: float(np.mean([r[c] for r in rows.values()])) for c in cols}
    lines.append("| mean | " + " | ".join(f"{100 * means[c]:.1f}" for c in cols) + gap(means))
    if changes:
        lines += ["", "The int8 ensemble on changed audio (core-4 UAR %; in brackets the change "
                  "against clean int8, points):", "",
                  *changed_table("held-out corpus", {
                      corpus: {"clean": r["int8"], **{c: r[c] for c in changes}}
                      for corpus, r in rows.items()}, list(changes))]
        means.update({c: float(np.mean([r[c] for r in rows.values()])) for c in changes})
    save_report(args.out, "\n".join(lines), {"per_corpus": rows, "mean": means})


if __name__ == "__main__":
    main()
