"""The ``edge-ser`` command line.

Device commands live here and import only NumPy-level code. ``train`` and ``convert`` are
resolved by name when invoked, so TensorFlow is imported only by those two, and only when
they run (their ``--help`` works without it).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import click

from edge import __version__
from edge.errors import EdgeSerError, MissingDependencyError

# name -> (module:attribute, one-line help shown by `edge-ser --help` without importing)
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train.cli:train", "Train members with speaker-independent K-fold evaluation."),
    "convert": ("convert.cli:convert", "Prune and quantize a run into int8 TFLite + manifest."),
}
# What each lazy command needs beyond the edge install (import names).
LAZY_REQUIRES: dict[str, tuple[str, ...]] = {
    "train": ("tensorflow", "tf_keras", "librosa", "sklearn"),
    "convert": ("tensorflow", "tf_keras", "tensorflow_model_optimization"),
}


#: Paths are opened by edge-ser itself, which names any problem in one line and, for a batch,
#: goes on with the other files; click's own checks would abort the whole command with a usage
#: message (an unreadable file among a hundred stopped `classify` before the first one).
PATH = click.Path(path_type=Path, readable=False)


class LazyGroup(click.Group):
    """A group whose heavy subcommands are imported only when they are run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            return _load_lazy(name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS:
                rows.append((name, LAZY_COMMANDS[name][1]))
            else:
                cmd = super().get_command(ctx, name)
                if cmd is not None and not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit=80)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _missing_module(names: tuple[str, ...]) -> str | None:
    """The first of ``names`` that cannot be imported, without importing any of them."""
    import importlib.util

    for name in names:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None


def _load_lazy(name: str) -> click.Command:
    target, short_help = LAZY_COMMANDS[name]
    module_name, attr = target.split(":")
    missing = _missing_module(LAZY_REQUIRES[name])
    message = (
        f"`edge-ser {name}` needs {missing or 'the training packages'}, which is not installed "
        "here (this is an edge install): pip install -r requirements-train.txt"
    )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        settings = {"ignore_unknown_options": True}

        @click.command(name=name, help=short_help, context_settings=settings)
        @click.argument("args", nargs=-1, type=click.UNPROCESSED)
        def unavailable(args: tuple[str, ...]) -> None:
            raise MissingDependencyError(message) from None

        return unavailable
    command: click.Command = getattr(module, attr)
    if missing is not None:
        # --help still works (the module imports no TensorFlow); anything else says what to install
        parse_args = command.parse_args

        def checked_parse_args(ctx: click.Context, args: list[str]) -> list[str]:
            if not {"-h", "--help"} & set(args):
                raise MissingDependencyError(message)
            return parse_args(ctx, args)

        command.parse_args = checked_parse_args  # type: ignore[method-assign]
    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edge-ser")
def cli() -> None:
    """Speech emotion recognition on the edge: features, int8 ensembles, live decisions."""


# ---- features ----------------------------------------------------------------------------
@cli.command()
@click.argument("file", type=PATH, required=False)
@click.option("--kind", default="mfcc", show_default=True,
              help="mfcc, logmel, chroma, rms, zcr, pitch, or a combination such as mfcc_d+pitch.")
@click.option("--out", type=PATH, help="Write the matrix to this .npy file.")
@click.option("--config", "config_path", type=PATH,
              help="A FrontendConfig JSON file (default: the built-in config).")
@click.option("--show-config", is_flag=True, help="Print the FrontendConfig JSON and exit.")
def features(file: Path | None, kind: str, out: Path | None, config_path: Path | None,
             show_config: bool) -> None:
    """Compute frame-level features of a WAV file (frames × coefficients)."""
    import numpy as np

    from edge.frontend import compute_features
    from edge.wav import read_wav

    cfg = _load_frontend_config(config_path)
    if show_config:
        click.echo(cfg.to_json())
        return
    if file is None:
        raise click.UsageError("give a WAV FILE (or --show-config)")
    audio = read_wav(file, target_sr=cfg.sr)
    matrix = compute_features(audio.samples, cfg, kind)
    if out is not None:
        _save_npy_atomic(out, matrix)
        click.echo(f"{file}: {matrix.shape[0]} frames × {matrix.shape[1]} {kind} → {out}")
        return
    click.echo(f"# {file}: {matrix.shape[0]} frames × {matrix.shape[1]} {kind}, "
               f"{cfg.frames_per_second:g} frames/s")
    np.savetxt(sys.stdout, matrix, fmt="%.6g")


def _load_frontend_config(path: Path | None) -> Any:
    from edge.errors import ConfigError
    from edge.frontend import FrontendConfig

    if path is None:
        return FrontendConfig()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read front-end config {path}: {exc}") from None
    return FrontendConfig.from_json(text)


def _save_npy_atomic(path: Path, matrix: Any) -> None:
    import os
    import tempfile

    import numpy as np

    from edge.errors import EdgeSerError

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise EdgeSerError(f"cannot write {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npy.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, matrix)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise EdgeSerError(f"cannot write {path}: {exc.strerror}") from None


# ---- info --------------------------------------------------------------------------------
@cli.command()
@click.option("--models", type=PATH, help="Model folder (default: bundled).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def info(models: Path | None, as_json: bool) -> None:
    """Show a model folder's manifest: labels, front end, window, members, voting."""
    import json

    from edge.manifest import load_manifest
    from edge.models import resolve_models_dir

    folder = resolve_models_dir(models)
    manifest = load_manifest(folder)
    if as_json:
        click.echo(json.dumps(manifest.to_dict(), indent=2))
        return
    from edge.models import describe_manifest

    click.echo(describe_manifest(manifest))


# ---- runtime commands ----------------------------------------------------------------------
# Imports stay inside the command bodies: `edge-ser --help` must not pay for NumPy or TFLite.
def _named(path: Path, exc: EdgeSerError) -> str:
    text = str(exc)
    return text if str(path) in text else f"{path}: {text}"


@cli.command()
@click.option("--profile", "profile_name", metavar="NAME|FILE",
              help="Device profile: default, pi3b, pi4, pi5, zero2w, or a .toml file.")
@click.option("--device", metavar="INDEX|NAME",
              help="Input device index or name substring (see `edge-ser devices`).")
@click.option("--source", metavar="FILE|-",
              help="Listen to a WAV file, or '-' for raw s16le mono PCM on stdin, instead of a "
                   "microphone.")
@click.option("--realtime/--fast", default=True, show_default=True,
              help="With --source FILE: play at real-time pace like a microphone (a slow "
                   "consumer loses the oldest audio beyond the profile's buffer_seconds, "
                   "counted), or as fast as possible (nothing is lost).")
@click.option("--models", type=PATH, help="Model folder (default: bundled).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of live lines.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Stop after S seconds of audio.")
@click.option("--record", type=PATH, metavar="FILE",
              help="Also save the audio heard to this WAV (nothing is written without it).")
def listen(profile_name: str | None, device: str | None, source: str | None, realtime: bool,
           models: Path | None, as_json: bool, duration: float | None, record: Path | None) -> int:
    """Listen to a microphone (or file, or stdin) and print emotions live.

    One line per new decision: an emotion, `uncertain` (below the confidence threshold) or
    `silence` (no speech in the window). Ctrl-C or SIGTERM stops after flushing the output.
    """
    import signal
    import threading

    from edge.manifest import load_manifest
    from edge.models import resolve_models_dir
    from edge.outputs import JsonLines, LiveLine
    from edge.pipeline import Pipeline, run_stream
    from edge.profiles import check_window, load_profile
    from edge.sources import FileSource, MicrophoneSource, StdinSource, WavRecorder

    if source is not None and device is not None:
        raise click.UsageError("--device and --source are exclusive (--source replaces the "
                               "microphone)")
    profile = load_profile(profile_name)
    manifest = load_manifest(resolve_models_dir(models))
    hop = check_window(profile, manifest)
    rt, inp = profile.runtime, profile.input
    pipeline = Pipeline(manifest, hop_seconds=hop, decisions=profile.decisions,
                        num_threads=rt.num_threads, backend=rt.backend, use_xnnpack=rt.use_xnnpack)
    sr = manifest.frontend.sr
    current: list[Any] = []

    def open_source() -> Any:
        if source == "-":
            src: Any = StdinSource(sr)
        elif source is not None:
            src = FileSource(source, sr, realtime=realtime, buffer_seconds=inp.buffer_seconds)
        else:
            src = MicrophoneSource(device if device is not None else inp.device, sr,
                                   rate=inp.rate, frames_per_buffer=inp.frames_per_buffer,
                                   buffer_seconds=inp.buffer_seconds).open()
        if not as_json and not current:
            click.echo(f"edge-ser: listening to {src.name} ({len(manifest.members)} members, "
                       f"window {manifest.window.seconds:g} s, hop {pipeline.hop_seconds:g} s, "
                       f"profile {profile.name}); Ctrl-C stops", err=True)
        current[:] = [src]
        return src

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop right now
        stop.set()
        for src in current:
            src.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    label_of = source if source is not None else None
    out = (JsonLines(manifest.labels, source=label_of) if as_json else LiveLine(manifest.labels))
    recorder = WavRecorder(record, sr) if record is not None else None

    def warn(msg: str) -> None:
        click.echo(f"edge-ser: {msg}", err=True)

    try:
        summary = run_stream(
            pipeline, open_source, out.emit, stop=stop, duration=duration, recorder=recorder,
            on_device_lost=inp.on_device_lost if source is None else "exit",
            reconnect_seconds=inp.reconnect_seconds, warn=warn)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if recorder is not None:
            recorder.close()
    lost = f", {summary.dropped} samples dropped" if summary.dropped else ""
    over = f", {summary.overflows} device overflows" if summary.overflows else ""
    again = f", {summary.reconnects} reconnects" if summary.reconnects else ""
    click.echo(f"edge-ser: {summary.seconds:.1f} s heard, {summary.windows} windows, "
               f"{summary.events} decisions{lost}{over}{again} (stopped by {summary.stopped_by})",
               err=True)
    if recorder is not None:
        click.echo(f"edge-ser: recorded {recorder.samples / sr:.1f} s to {record}", err=True)
    return 0


def _classify_file(pipeline: Any, path: Path) -> Any:
    """One file through the pipeline, streamed: memory stays flat however long the file is."""
    from edge.pipeline import FILE_BLOCK_SECONDS
    from edge.wav import iter_wav_blocks

    return pipeline.classify_blocks(iter_wav_blocks(path, FILE_BLOCK_SECONDS, pipeline.cfg.sr))


def _open_pipeline(models: Path | None, threads: int, use_xnnpack: bool = True) -> Any:
    from edge.manifest import load_manifest
    from edge.models import resolve_models_dir
    from edge.pipeline import Pipeline

    return Pipeline(load_manifest(resolve_models_dir(models)), num_threads=threads,
                    use_xnnpack=use_xnnpack)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=PATH)
@click.option("--models", type=PATH, help="Model folder (default: bundled).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Interpreter threads per member.")
@click.option("--xnnpack/--no-xnnpack", default=False, show_default=True,
              help="Use the interpreter's XNNPACK delegate (a one-shot run does not repay its "
                   "~1 MB and set-up; `listen` follows the profile's [runtime] use_xnnpack).")
def classify(files: tuple[Path, ...], models: Path | None, as_json: bool, threads: int,
             xnnpack: bool) -> int:
    """Classify WAV files, one result per file.

    Every window of the file is classified and the ensemble is averaged over the windows with
    speech; files are streamed, so memory stays flat whatever their length. A file that cannot
    be read gets an error line on stderr; the others still run and the exit status is non-zero.
    """
    from edge.outputs import format_file_result, write_json_line

    pipeline = _open_pipeline(models, threads, use_xnnpack=xnnpack)
    labels = pipeline.manifest.labels
    status = 0
    for path in files:
        try:
            result = _classify_file(pipeline, path)
        except EdgeSerError as exc:
            click.echo(f"edge-ser: error: {_named(path, exc)}", err=True)
            status = status or exc.exit_code
            continue
        if as_json:
            write_json_line({
                "file": str(path), "label": result.label,
                "confidence": round(result.confidence, 4),
                "probabilities": {k: round(float(p), 4) for k, p in zip(labels, result.probs,
                                                                        strict=True)},
                "windows": result.windows, "speech_windows": result.speech_windows,
                "seconds": round(result.seconds, 3)})
        else:
            line = format_file_result(str(path), result.label, result.confidence, labels,
                                      result.probs)
            if result.speech_windows == 0:
                line += "  [no speech detected]"
            click.echo(line)
    return status


CORPUS_FORMATS = ("ravdess", "tess", "cremad", "crema-d", "savee", "emodb", "folders", "csv")


@cli.command()
@click.argument("corpus", type=PATH)
@click.option("--format", "fmt", type=click.Choice(CORPUS_FORMATS), required=True,
              help="How labels are read: from file names (ravdess, tess, cremad, savee, emodb), "
                   "from label folders (folders), or from a path,label CSV (csv).")
@click.option("--models", type=PATH, help="Model folder (default: bundled).")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as one JSON object.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Interpreter threads per member.")
def evaluate(corpus: Path, fmt: str, models: Path | None, as_json: bool, threads: int) -> int:
    """Run the device pipeline on a labelled corpus and print WA, UAR, F1, confusion.

    Labels the models know but the corpus lacks are mapped (e.g. TESS has no calm: calm
    predictions are scored as neutral) and the mapping is printed; corpus labels the models
    cannot predict (EmoDB's boredom) are left out.
    """
    import json

    import numpy as np

    from edge.corpora import load_corpus, map_label
    from edge.metrics import score

    pipeline = _open_pipeline(models, threads)
    labels = pipeline.manifest.labels
    data = load_corpus(corpus, "crema-d" if fmt == "cremad" else fmt)
    notes: dict[str, int] = {}
    truth: list[tuple[Path, str]] = []
    for u in data.utterances:
        mapped, note = map_label(u.label, labels)
        if note:
            notes[note] = notes.get(note, 0) + 1
        if mapped is not None:
            truth.append((u.path, mapped))
    if not truth:
        raise click.ClickException(f"none of the corpus labels ({', '.join(data.labels)}) "
                                   f"can be scored against the models' labels")
    present = sorted({t for _, t in truth}, key=labels.index)
    # predictions the corpus cannot contain are scored as their nearest corpus label
    pred_map: dict[str, str] = {}
    for lab in labels:
        if lab in present:
            pred_map[lab] = lab
            continue
        to, _ = map_label(lab, present)
        pred_map[lab] = to if to is not None else lab
        if to is not None:
            notes[f"predicted {lab} scored as {to} (the corpus has no {lab})"] = 0
        else:
            notes[f"predicted {lab} counts as an error (the corpus has no {lab})"] = 0
    classes = present + [lab for lab in labels if pred_map[lab] == lab and lab not in present]
    y_true, y_pred, failed = [], [], []
    for path, lab in truth:
        try:
            result = _classify_file(pipeline, path)
        except EdgeSerError as exc:
            click.echo(f"edge-ser: error: {_named(path, exc)}", err=True)
            failed.append(str(path))
            continue
        y_true.append(classes.index(lab))
        y_pred.append(classes.index(pred_map[result.label]))
    if not y_true:
        raise click.ClickException(f"no file of {corpus} could be classified")
    scores = score(np.asarray(y_true), np.asarray(y_pred), classes)
    mapping = [f"{k} ({v} files)" if v else k for k, v in notes.items()]
    if as_json:
        click.echo(json.dumps({"corpus": str(corpus), "format": data.format,
                               "files": len(y_true), "failed": failed,
                               "skipped": len(data.skipped), "mapping": mapping,
                               "labels": classes, **scores.to_dict()}))
        return 0
    click.echo(data.summary())
    for line in mapping:
        click.echo(f"mapping: {line}")
    click.echo(f"files scored: {len(y_true)}" + (f" ({len(failed)} unreadable)" if failed else ""))
    click.echo(f"WA {100 * scores.wa:.1f} %   UAR {100 * scores.uar:.1f} %   "
               f"macro-F1 {100 * scores.macro_f1:.1f} %")
    width = max(len(c) for c in classes)
    click.echo(f"{'class':<{width}}  recall  precision     F1  support")
    for i, c in enumerate(classes):
        click.echo(f"{c:<{width}}  {100 * scores.recall[i]:5.1f}  {100 * scores.precision[i]:9.1f}"
                   f"  {100 * scores.f1[i]:5.1f}  {int(scores.support[i]):7d}")
    click.echo("confusion (rows: truth, columns: predicted)")
    short = [c[:5] for c in classes]
    click.echo(" " * (width + 1) + " ".join(f"{s:>5}" for s in short))
    for i, c in enumerate(classes):
        click.echo(f"{c:<{width}} " + " ".join(f"{int(v):5d}" for v in scores.confusion[i]))
    return 0


@cli.command()
@click.option("--models", type=PATH, help="Model folder (default: bundled).")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=3.0, show_default=True,
              help="Time spent in the per-window loop (at least 200 windows).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Interpreter threads per member.")
@click.option("--compare-float", is_flag=True,
              help="Also run librosa + the Keras float members on the same audio (needs "
                   "TensorFlow and librosa) and print the ratios.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def bench(models: Path | None, seconds: float, threads: int, compare_float: bool,
          as_json: bool) -> int:
    """Measure latency per stage, real-time factor, cold start and peak memory."""
    import json

    from edge.bench import format_report, run_bench
    from edge.models import resolve_models_dir

    def progress(message: str) -> None:
        click.echo(f"bench: {message}", err=True)

    report = run_bench(resolve_models_dir(models), seconds=seconds, threads=threads,
                       compare_float=compare_float, progress=None if as_json else progress)
    click.echo(json.dumps(report) if as_json else format_report(report))
    return 0


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per device.")
def devices(as_json: bool) -> None:
    """List audio input devices (index, name, channels, default rate)."""
    import dataclasses
    import json

    from edge.errors import DeviceError
    from edge.sources import list_input_devices

    found = list_input_devices()
    if not found:
        raise DeviceError("no audio input device found (plug in the USB microphone; on a "
                          "desktop check that PulseAudio/PipeWire is running)")
    for d in found:
        if as_json:
            click.echo(json.dumps(dataclasses.asdict(d)))
        else:
            mark = "*" if d.is_default else " "
            click.echo(f"{mark}{d.index:3d}  {d.name}  ({d.channels} ch, {d.default_rate} Hz, "
                       f"{d.host_api})")
    if not as_json:
        click.echo("(* default input; choose with --device INDEX or a name substring)")


# ---- entry point -------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors become one line on stderr and a non-zero exit status."""
    try:
        rv = cli.main(args=argv, prog_name="edge-ser", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("edge-ser: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except EdgeSerError as exc:
        click.echo(f"edge-ser: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): silence the final flush and stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return rv if isinstance(rv, int) else 0

if __name__ == "__main__":
    sys.exit(main())
