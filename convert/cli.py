"""The ``edge-ser convert`` command.

Imports nothing heavy at module level: ``edge-ser convert --help`` must work on a machine
without TensorFlow, and TensorFlow's start-up noise is held back unless ``--verbose``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from edge.errors import EdgeSerError, MissingDependencyError

INSTALL_HINT = "`edge-ser convert` needs TensorFlow: pip install -r requirements-train.txt"


@click.command(name="convert")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", "-o", "out", type=click.Path(path_type=Path), required=True,
              help="MODELS_DIR to write (.tflite members, manifest.json, conversion report).")
@click.option("--set", "set_name", metavar="NAME",
              help="Member set of a run folder (default: final). Not needed for a set folder.")
@click.option("--mode", type=click.Choice(["int8", "dynamic", "float32"]), default="int8",
              show_default=True, help="int8: full-integer; the others are for comparison.")
@click.option("--sparsity", type=float, default=0.0, show_default=True,
              help="Magnitude-pruning target per pruned layer, e.g. 0.5 (0: no pruning). "
                   "Shrinks the gzipped size only; the report shows what it costs.")
@click.option("--prune-epochs", type=int, default=3, show_default=True,
              help="Fine-tune epochs while pruning.")
@click.option("--unroll/--fused", "unroll", default=None,
              help="Unrolled LSTM (no state, larger) or the fused LSTM op (default: see "
                   "benchmarks/convert_unroll.py).")
@click.option("--representative", type=int, default=300, show_default=True,
              help="Training windows that calibrate int8 ranges.")
@click.option("--verify-set", metavar="FOLD",
              help="Also convert this fold's members the same way and verify them on its "
                   "held-out actors (for a final set, which has none).")
@click.option("--verify-windows", type=int, default=1000, show_default=True,
              help="Training windows scored when the set has no held-out actors.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace MODELS_DIR if it exists (atomically).")
@click.option("--strict", is_flag=True,
              help="Fail, writing nothing, if the UAR, size or op-support target is missed.")
@click.option("--temperature", type=click.FloatRange(0.05, 100), default=None,
              help="Calibration temperature for the manifest (default: the set's own, fitted on "
                   "its validation speakers; a final set has none: give the folds' figure).")
@click.option("--enrol-features", type=click.Choice(("auto", "global", "speaker")),
              default="auto", show_default=True,
              help="Whether an enrolled speaker's statistics replace the manifest's (auto: if "
                   "the members learnt speaker-normalised windows, speaker_norm = mixed).")
@click.option("--enrol-prior", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              metavar="S",
              help="Divide the vote by an enrolled speaker's prior at strength S (0: never).")
@click.option("--verbose", "-v", is_flag=True, help="Show TensorFlow's own log output.")
def convert(run_dir: Path, out: Path, set_name: str | None, mode: str, sparsity: float,
            prune_epochs: int, unroll: bool | None, representative: int, verify_set: str | None,
            verify_windows: int, seed: int, force: bool, strict: bool, temperature: float | None,
            enrol_features: str, enrol_prior: float, verbose: bool) -> None:
    """Prune and quantize RUN_DIR's members into MODELS_DIR, verified against Keras.

    RUN_DIR is a run folder written by `edge-ser train` (its `final` set unless --set) or
    one member set folder inside it.
    """
    from convert.tfenv import held_stderr

    try:
        from convert.pipeline import ConvertOptions
        from convert.pipeline import convert as run
        from convert.prune import PruneOptions
        from convert.quantize import DEFAULT_UNROLL, QuantizeOptions
    except ImportError as exc:  # numpy-level modules are always there; TF may not be
        raise MissingDependencyError(INSTALL_HINT) from exc
    opts = ConvertOptions(
        source=run_dir, out=out, set_name=set_name,
        quant=QuantizeOptions(mode=mode, unroll=DEFAULT_UNROLL if unroll is None else unroll,
                              representative=representative, seed=seed),
        prune=PruneOptions(sparsity=sparsity, epochs=prune_epochs, seed=seed),
        verify_set=verify_set, verify_windows=verify_windows, force=force, strict=strict,
        temperature=temperature, enrol_features=enrol_features, enrol_prior=enrol_prior)

    def say(line: str) -> None:
        click.echo(line)

    log: list[str] = []
    try:
        with held_stderr(enabled=not verbose) as log:
            result = run(opts, say)
    except (EdgeSerError, KeyboardInterrupt):
        raise  # one line from edge-ser's main; TensorFlow's chatter is not the user's business
    except Exception:
        sys.stderr.write("".join(log))  # a bug: TensorFlow's own output helps to find it
        raise
    _print_summary(result.report, result.out)


def _print_summary(report: dict[str, Any], out: Path) -> None:
    from convert.pipeline import REPORT_MD

    e, t = report["ensemble"], report["targets"]
    ok = {True: "ok", False: "MISSED"}
    fl, tl = (100 * e[k]["windows"]["uar"] for k in ("float", "tflite"))
    click.echo(
        f"ensemble UAR {fl:.1f} % float → {tl:.1f} % TFLite ({e['uar_drop_points']:+.2f} points, "
        f"{ok[t['uar_ok']]}); agreement {100 * e['int8_vs_float']['agreement']:.1f} %; "
        f"{e['bytes'] / 1024:.1f} KiB ({e['gzip_bytes'] / 1024:.1f} KiB gzipped, "
        f"{ok[t['size_ok']]}); tflite-runtime 2.14 {ok[t['tflite_runtime_2_14_ok']]}")
    if not t["uar_ok"]:
        hint = ("compare the pruned float row with the float one; try --sparsity 0 or more "
                "--prune-epochs" if "pruned" in e else "see which member loses most")
        click.echo(f"warning: the UAR target is missed ({hint}): {out / REPORT_MD}")
    if "proxy" in report:
        p = report["proxy"]["ensemble"]
        pf, pt = (100 * p[k]["windows"]["uar"] for k in ("float", "tflite"))
        click.echo(f"held-out proxy ({report['proxy']['data']['set']}): UAR {pf:.1f} → {pt:.1f} % "
                   f"({p['uar_drop_points']:+.2f} points)")
    click.echo(f"wrote {out} (report: {out / REPORT_MD})")


@click.command(name="merge")
@click.argument("sources", nargs=-1, required=True, metavar="MODELS_DIR[:MEMBER,...]...")
@click.option("--out", "-o", "out", type=click.Path(path_type=Path), required=True,
              help="MODELS_DIR to write.")
@click.option("--temperature", type=click.FloatRange(0.05, 100), default=None,
              help="Calibration temperature of the merged vote (needed when the folders' "
                   "differ; default: theirs).")
@click.option("--speech-level", default=None, metavar="LOW:HIGH",
              help="Where the training corpora's speech sits, dBFS (e.g. -18:-15; "
                   "benchmarks/corpus_levels.py measures it): listen says when a microphone "
                   "is far from it.")
@click.option("--force", is_flag=True, help="Replace --out if it exists (atomically).")
def merge(sources: tuple[str, ...], out: Path, temperature: float | None,
          speech_level: str | None, force: bool) -> None:
    """Merge converted model folders into one ensemble that votes over all their members.

    Each SOURCE is a folder written by `edge-ser convert` (or by merge), optionally with the
    members to take from it: `models-a:m5-mfcc+pitch+rms,m6-logmel+pitch+rms`. The folders
    must share labels, front end, window length, speech gate and voting; each member keeps
    its own window fill and normalisation statistics. The first folder's enrolment and
    calibration are kept. Needs no TensorFlow.
    """
    from convert.merge import MergeSource
    from convert.merge import merge as run

    level = None
    if speech_level is not None:
        try:
            low, high = (float(v) for v in speech_level.split(":"))
        except ValueError:
            raise click.BadParameter(f"{speech_level!r} is not LOW:HIGH in dBFS, e.g. -18:-15",
                                     param_hint="--speech-level") from None
        level = (low, high)
    result = run([MergeSource.parse(s) for s in sources], out, force=force,
                 temperature=temperature, speech_level=level)
    m = result.manifest
    click.echo(f"wrote {result.out}: {len(m.members)} members, "
               f"{len(m.features)} feature streams ({', '.join(m.features)})")


@click.command(name="condition-gate")
@click.argument("models", type=click.Path(path_type=Path))
@click.option("--data", "data", multiple=True, required=True, metavar="FORMAT:PATH",
              help="Training corpus the gate learns rooms and noise over (repeatable).")
@click.option("--clean", "clean", multiple=True, required=True, metavar="MEMBER",
              help="Member that votes alone on clean windows (repeatable).")
@click.option("--stream", "streams", multiple=True, metavar="STREAM",
              help="Feature stream the gate reads (repeatable; default: the clean members').")
@click.option("--files-per-corpus", type=click.IntRange(10), default=None,
              help="Files drawn from each corpus (default 300).")
@click.option("--out", "-o", "out", type=click.Path(path_type=Path), required=True,
              help="MODELS_DIR to write (the models with the gate).")
@click.option("--force", is_flag=True, help="Replace --out if it exists (atomically).")
def condition_gate(models: Path, data: tuple[str, ...], clean: tuple[str, ...],
                   streams: tuple[str, ...], files_per_corpus: int | None, out: Path,
                   force: bool) -> None:
    """Give MODELS a condition gate: the CLEAN members vote alone on windows that sound
    clean, all members on windows that sound like a room or noise.

    The gate is a logistic detector fitted on the device pipeline's own windows of the --data
    corpora, as recorded and in generated rooms and noise (no emotion labels). Give only
    corpora the models were trained on. Needs scipy and scikit-learn (the training install).
    """
    from convert.gate import GateFitConfig, fit_gate, write_gated

    cfg = GateFitConfig(tuple(clean), tuple(streams))
    if files_per_corpus is not None:
        cfg = replace(cfg, files_per_corpus=files_per_corpus)
    spec = fit_gate(models, data, cfg, log=click.echo)
    write_gated(models, out, spec, force=force)
    click.echo(f"wrote {out}: gate on {', '.join(spec.streams)} for "
               f"{', '.join(spec.clean_members)} ({spec.fitted_on})")
