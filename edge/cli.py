"""The ``edge-ser`` command line.

Device commands live here and import only NumPy-level code. ``train`` and ``convert`` are
resolved by name when invoked, so TensorFlow is imported only by those two, and only when
they run (their ``--help`` works without it).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from edge import __version__
from edge.deps import missing, missing_error
from edge.errors import EdgeSerError

# name -> (module:attribute, one-line help shown by `edge-ser --help` without importing)
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train.cli:train", "Train members with speaker-independent K-fold evaluation."),
    "convert": ("convert.cli:convert", "Prune and quantize a run into int8 TFLite + manifest."),
    "merge": ("convert.cli:merge", "Merge converted model folders into one ensemble."),
    "condition-gate": ("convert.cli:condition_gate",
                       "Give models a gate that weighs their votes by room and noise."),
}
# What each lazy command needs beyond the edge install (import names).
LAZY_REQUIRES: dict[str, tuple[str, ...]] = {
    "train": ("tensorflow", "tf_keras", "librosa", "sklearn"),
    "convert": ("tensorflow", "tf_keras", "tensorflow_model_optimization"),
    "merge": (),
    "condition-gate": ("scipy", "sklearn"),
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


def _load_lazy(name: str) -> click.Command:
    target, short_help = LAZY_COMMANDS[name]
    module_name, attr = target.split(":")
    absent = missing(LAZY_REQUIRES[name])
    error = missing_error(f"`edge-ser {name}`", absent or ["the training code"],
                          "pip install -r requirements-train.txt (this is an edge install)")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        settings = {"ignore_unknown_options": True}

        @click.command(name=name, help=short_help, context_settings=settings)
        @click.argument("args", nargs=-1, type=click.UNPROCESSED)
        def unavailable(args: tuple[str, ...]) -> None:
            raise error

        return unavailable
    command: click.Command = getattr(module, attr)
    if absent:
        # --help still works (the module imports no TensorFlow); anything else says what to install
        parse_args = command.parse_args

        def checked_parse_args(ctx: click.Context, args: list[str]) -> list[str]:
            if not {"-h", "--help"} & set(args):
                raise error
            return parse_args(ctx, args)

        command.parse_args = checked_parse_args  # type: ignore[method-assign]
    return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edge-ser")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Speech emotion recognition on the edge: features, int8 ensembles, live decisions."""
    if ctx.invoked_subcommand not in LAZY_COMMANDS:
        _one_blas_thread()


def _one_blas_thread() -> None:
    """Device commands run NumPy's BLAS on one thread unless the user set otherwise.

    OpenBLAS starts a thread per core when NumPy is imported; the device's matrices (one
    window's features) are far too small to share out, so those threads only cost start-up
    time and memory and compete with the interpreter. Set before NumPy is first imported
    (edge.cli itself imports no NumPy); ``train`` and ``convert`` keep the default.
    """
    if "numpy" not in sys.modules:
        import os

        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


# ---- features ----------------------------------------------------------------------------
@cli.command()
@click.argument("file", type=PATH, required=False)
@click.option("--kind", default="mfcc", show_default=True,
              help="mfcc, logmel, chroma, rms, zcr, pitch, shape (slope, alpha ratio, "
                   "Hammarberg index, centroid, entropy, flux), flatness (of the mel bands, "
                   "dB), or a combination such as mfcc_d+pitch.")
@click.option("--out", type=PATH, help="Write the matrix to this .npy file.")
@click.option("--models", type=PATH,
              help="Use this model folder's front end (default: the bundled models', i.e. what "
                   "they see).")
@click.option("--config", "config_path", type=PATH,
              help="A FrontendConfig JSON file instead of a model folder's front end.")
@click.option("--show-config", is_flag=True, help="Print the FrontendConfig JSON and exit.")
def features(file: Path | None, kind: str, out: Path | None, models: Path | None,
             config_path: Path | None, show_config: bool) -> None:
    """Compute frame-level features of a WAV file (frames × coefficients), by default with
    the front end the bundled models were trained with."""
    import numpy as np

    from edge.frontend import compute_features
    from edge.wav import read_wav

    if models is not None and config_path is not None:
        raise click.UsageError("--models and --config are exclusive (both name a front end)")
    cfg, origin = _frontend_config(models, config_path)
    if show_config:
        click.echo(cfg.to_json())
        return
    if file is None:
        raise click.UsageError("give a WAV FILE (or --show-config)")
    audio = read_wav(file, target_sr=cfg.sr)
    matrix = compute_features(audio.samples, cfg, kind)
    shape = f"{matrix.shape[0]} frames × {matrix.shape[1]} {kind}"
    if out is not None:
        _save_npy(out, matrix)
        click.echo(f"{file}: {shape} → {out} ({origin})")
        return
    click.echo(f"# {file}: {shape}, {cfg.frames_per_second:g} frames/s ({origin})")
    np.savetxt(sys.stdout, matrix, fmt="%.6g")


def _frontend_config(models: Path | None, path: Path | None) -> tuple[Any, str]:
    """The front end to use and where it came from: a JSON file, a model folder, the bundled
    models, or (an install without models) the built-in defaults."""
    from edge.errors import ConfigError, ModelError
    from edge.frontend import FrontendConfig

    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read front-end config {path}: {exc}") from None
        return FrontendConfig.from_json(text), f"front end of {path}"
    from edge.manifest import load_manifest
    from edge.models import resolve_models_dir

    try:
        folder = resolve_models_dir(models)
    except ModelError:
        if models is not None:
            raise
        return FrontendConfig(), "built-in front end: no models are installed"
    return load_manifest(folder, verify=False).frontend, f"front end of the models in {folder}"


def _save_npy(path: Path, matrix: Any) -> None:
    import numpy as np

    from edge.errors import ConfigError
    from edge.fsutil import atomic_write

    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"cannot write {path}: folder {folder} does not exist")
    try:
        atomic_write(path, lambda fh: np.save(fh, matrix))
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def _progress_line(what: str, unit: str) -> Any:
    """``progress(done, total)`` printing ``what: done/total unit (s)`` to stderr at the
    start, the end and at most every 2 s between (long work shows it is alive)."""
    import time

    started = time.monotonic()
    shown = [started]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done in (0, total) or now - shown[0] >= 2.0:
            shown[0] = now
            click.echo(f"{what}: {done}/{total} {unit} ({now - started:.0f} s)", err=True)

    return progress


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


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


#: One --speaker option for listen, serve, classify and evaluate (edge.speakers, `enrol`).
SPEAKER_OPTION = click.option(
    "--speaker", metavar="NAME|auto",
    help="Apply this enrolled speaker's profile (`edge-ser enrol`), as the models' manifest "
         "says (normalisation statistics and/or a prior correction); `auto`: per utterance "
         "the closest enrolled speaker (none for its first second of speech). Decisions "
         "then name the speaker.")


def _set_speaker(pipeline: Any, name: str | None) -> None:
    """Apply ``--speaker``: nobody, the enrolled speaker ``name`` for these models, or (auto)
    a picker among all enrolled speakers that fit them; SpeakerError otherwise."""
    if name is None:
        return
    from edge.speakers import AUTO, load_all_for, load_for

    if name != AUTO:
        pipeline.set_speaker(load_for(name, pipeline.manifest))
        return
    from edge.autospeaker import SpeakerPicker

    def warn(message: str) -> None:
        click.echo(f"edge-ser: warning: {message}", err=True)

    profiles = load_all_for(pipeline.manifest, warn=warn)
    pipeline.set_speaker(SpeakerPicker(profiles, pipeline.kinds,
                                       pipeline.cfg.frames_per_second))


@dataclass(frozen=True)
class LiveOptions:
    """What `listen` and `serve` share: where the audio comes from, how it is heard, and where
    else decisions go (MQTT)."""

    profile_name: str | None
    device: str | None
    source: str | None
    realtime: bool
    models: Path | None
    duration: float | None
    record: Path | None
    mqtt: str | None
    mqtt_ca: Path | None
    device_name: str | None
    speaker: str | None


_LIVE_OPTIONS = (
    click.option("--profile", "profile_name", metavar="NAME|FILE",
                 help="Device profile: default, pi3b, pi4, pi5, zero2w, or a .toml file."),
    click.option("--device", metavar="INDEX|NAME",
                 help="Input device index or name substring (see `edge-ser devices`)."),
    click.option("--source", metavar="FILE|-",
                 help="Listen to a WAV file, or '-' for raw s16le mono PCM on stdin, instead "
                      "of a microphone."),
    click.option("--realtime/--fast", default=True, show_default=True,
                 help="With --source FILE: play at real-time pace like a microphone (a slow "
                      "consumer loses the oldest audio beyond the profile's buffer_seconds, "
                      "counted), or as fast as possible (nothing is lost)."),
    click.option("--models", type=PATH, help="Model folder (default: bundled)."),
    click.option("--duration", type=click.FloatRange(min=0, min_open=True), metavar="S",
                 help="Stop after S seconds of audio."),
    click.option("--record", type=PATH, metavar="FILE",
                 help="Also save the audio heard to this WAV (nothing is written without it)."),
    click.option("--mqtt", metavar="URL",
                 help="Also publish every decision to this MQTT broker: "
                      "mqtt://[USER[:PASS]@]HOST[:PORT] or mqtts://... (needs "
                      "`pip install 'edge-ser[mqtt]'`; a password may come from "
                      "$EDGE_SER_MQTT_PASSWORD instead of the URL)."),
    click.option("--mqtt-ca", type=PATH, metavar="FILE",
                 help="CA certificate(s) for an mqtts:// broker (default: the system's)."),
    click.option("--device-name", metavar="NAME",
                 help="This device in MQTT topics and on the dashboard (default: the host "
                      "name; letters, digits, - and _ are kept)."),
    SPEAKER_OPTION,
)


def live_options(command: Any) -> Any:
    """The options every live command takes (one definition: `serve` takes all of `listen`'s),
    passed to the command as one :class:`LiveOptions` named ``live``."""
    import functools
    import inspect

    fields = inspect.signature(LiveOptions).parameters

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        live = LiveOptions(**{k: kwargs.pop(k) for k in fields})
        return command(live=live, **kwargs)

    for option in reversed(_LIVE_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


@dataclass
class _Live:
    """A live run, set up and checked before any audio is read."""

    options: LiveOptions
    profile: Any
    manifest: Any
    pipeline: Any
    device_name: str
    mqtt: Any = None  # edge.mqtt.MqttPublisher
    stop: Any = None  # edge.stop_signals.StopRequest
    sources: list[Any] = field(default_factory=list)
    summary: Any = None  # edge.live.StreamSummary, once the stream has ended

    def labels(self) -> tuple[str, ...]:
        return tuple(self.manifest.labels)


def _prepare_live(opts: LiveOptions, named: bool = False) -> _Live:
    """Check every option (bad input is one line), then load profile, models, MQTT client.
    The host name is asked for only when a device name is needed (``named``, or --mqtt):
    plain `listen` makes no socket call at all (tests/test_privacy.py)."""
    from edge.manifest import load_manifest
    from edge.models import resolve_models_dir
    from edge.mqtt import MqttPublisher, device_topic_name, parse_broker_url
    from edge.pipeline import Pipeline
    from edge.profiles import check_window, load_profile
    from edge.stop_signals import StopRequest

    if opts.source is not None and opts.device is not None:
        raise click.UsageError("--device and --source are exclusive (--source replaces the "
                               "microphone)")
    if opts.mqtt_ca is not None and opts.mqtt is None:
        raise click.UsageError("--mqtt-ca goes with --mqtt mqtts://...")
    needs_name = named or opts.mqtt is not None or opts.device_name is not None
    device_name = device_topic_name(opts.device_name) if needs_name else ""
    broker = parse_broker_url(opts.mqtt, opts.mqtt_ca) if opts.mqtt is not None else None
    mqtt = MqttPublisher(broker, device_name) if broker is not None else None
    profile = load_profile(opts.profile_name)
    manifest = load_manifest(resolve_models_dir(opts.models))
    hop = check_window(profile, manifest)
    rt = profile.runtime
    pipeline = Pipeline(manifest, hop_seconds=hop, decisions=profile.decisions,
                        num_threads=rt.num_threads, backend=rt.backend, use_xnnpack=rt.use_xnnpack)
    _set_speaker(pipeline, opts.speaker)
    return _Live(opts, profile, manifest, pipeline, device_name, mqtt, StopRequest())


def _stopped_by_signals(live: _Live) -> contextlib.AbstractContextManager[None]:
    """SIGINT/SIGTERM set ``live.stop`` and stop the sources without taking a lock in the
    handler (edge.stop_signals); a second Ctrl-C stops at once."""
    from edge.stop_signals import stop_on_signals

    def stop_sources() -> None:
        for src in list(live.sources):
            src.stop()

    return stop_on_signals(live.stop, stop_sources)


Sink = Callable[[dict[str, Any]], None]


def _run_live(live: _Live, sinks: list[Sink], line: Any = None, banner: bool = True) -> Any:
    """Listen until the input ends, ``--duration`` or a stop; every decision goes to ``line``
    (a LiveLine) and, as the JSON record of ``listen --json``, to every sink (and MQTT).
    Prints the summary line and returns the StreamSummary."""
    from edge.live import run_stream
    from edge.outputs import JsonLines
    from edge.recorder import WavRecorder
    from edge.sources import AudioSource, open_source

    opts, manifest, pipeline = live.options, live.manifest, live.pipeline
    inp, sr = live.profile.input, manifest.frontend.sr
    records = JsonLines(manifest.labels, source=opts.source, speaker=opts.speaker is not None)
    if live.mqtt is not None:
        sinks = [*sinks, live.mqtt.publish]
        if not live.mqtt.running:
            live.mqtt.start()

    def emit(decision: Any, drops: Any) -> None:
        if line is not None:
            line.emit(decision, drops)
        if sinks:
            record = records.record(decision, drops)
            for sink in sinks:
                sink(record)

    def opened() -> AudioSource:
        src = open_source(opts.source, sr, inp, device=opts.device, realtime=opts.realtime)
        if banner and not live.sources:
            click.echo(f"edge-ser: listening to {src.name} ({len(manifest.members)} members, "
                       f"window {manifest.window.seconds:g} s, hop {pipeline.hop_seconds:g} s, "
                       f"profile {live.profile.name}); Ctrl-C stops", err=True)
        live.sources[:] = [src]
        return src

    def warn(msg: str) -> None:
        click.echo(f"edge-ser: {msg}", err=True)

    recorder = WavRecorder(opts.record, sr) if opts.record is not None else None
    try:
        summary = run_stream(
            pipeline, opened, emit, stop=live.stop, duration=opts.duration, recorder=recorder,
            on_device_lost=inp.on_device_lost if opts.source is None else "exit",
            reconnect_seconds=inp.reconnect_seconds, warn=warn)
    finally:
        if recorder is not None:
            recorder.close()
    live.summary = summary
    lost = f", {_plural(summary.dropped, 'sample')} dropped" if summary.dropped else ""
    over = f", {_plural(summary.overflows, 'device overflow')}" if summary.overflows else ""
    again = f", {_plural(summary.reconnects, 'reconnect')}" if summary.reconnects else ""
    click.echo(f"edge-ser: {summary.seconds:.1f} s heard, {_plural(summary.windows, 'window')}, "
               f"{_plural(summary.events, 'decision')}{lost}{over}{again} "
               f"(stopped by {summary.stopped_by})", err=True)
    if recorder is not None:
        click.echo(f"edge-ser: recorded {recorder.samples / sr:.1f} s to {opts.record}", err=True)
    return summary


def _close_mqtt(live: _Live) -> None:
    """Say offline and disconnect; one line with what was (not) delivered."""
    if live.mqtt is None:
        return
    s = live.mqtt.close()
    click.echo(f"edge-ser: MQTT {live.mqtt.broker.address}: {_plural(s.sent, 'decision')} "
               f"sent, {s.undelivered} not delivered", err=True)


@cli.command()
@live_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of live lines.")
def listen(live: LiveOptions, as_json: bool) -> int:
    """Listen to a microphone (or file, or stdin) and print emotions live.

    One line per new decision: an emotion, `uncertain` (below the confidence threshold) or
    `silence` (no speech in the window). Ctrl-C or SIGTERM stops after flushing the output.
    With --mqtt every decision is also published (see README: serve and MQTT).
    """
    from edge.outputs import LiveLine, write_json_line

    run = _prepare_live(live)
    with _stopped_by_signals(run):
        try:
            if as_json:
                _run_live(run, [write_json_line], banner=False)
            else:
                _run_live(run, [], line=LiveLine(run.labels(),
                                                 speaker=live.speaker is not None))
        finally:
            _close_mqtt(run)
    return 0


@cli.command()
@live_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to serve on. Anything but loopback needs a token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="TCP port (0: any free one, printed).")
@click.option("--token", envvar="EDGE_SER_TOKEN", metavar="TOKEN",
              help="Require this token on every request (Bearer header or ?token=); off "
                   "loopback one is generated and printed once if not given. Also read from "
                   "$EDGE_SER_TOKEN.")
def serve(live: LiveOptions, host: str, port: int, token: str | None) -> int:
    """Listen like `listen` and serve a live dashboard: the page at /, JSON at /api/state,
    /api/history?seconds=N and /api/info, and /events (server-sent events, the objects of
    `listen --json`).

    Serving goes on after a --source file or --duration ends, until Ctrl-C or SIGTERM. No audio
    is ever served.
    """
    import platform

    from edge.hub import Hub
    from edge.webserver import Dashboard, DashboardServer, ServeConfig, resolve_token

    required, generated = resolve_token(host, token)
    run = _prepare_live(live, named=True)
    m = run.manifest
    info = {"device": run.device_name, "version": __version__,
            "source": live.source or (f"microphone {live.device}" if live.device
                                      else "default microphone"),
            "profile": run.profile.name, "models": str(m.root), "labels": list(m.labels),
            "members": len(m.members),
            "window": f"{m.window.seconds:g} s, hop {run.pipeline.hop_seconds:g} s",
            "voting": m.voting, "machine": f"{platform.machine()}, Python "
                                           f"{platform.python_version()}"}
    if live.speaker is not None:
        info["speaker"] = live.speaker

    def status() -> dict[str, Any]:
        s = run.summary
        return {"listening": s is None, "stopped_by": s.stopped_by if s else None,
                "heard": round(run.pipeline.stream_seconds, 2),  # the latest decision holds
                "mqtt": run.mqtt.snapshot() if run.mqtt is not None else None}

    hub = Hub()
    server = DashboardServer(ServeConfig(host, port, required), Dashboard(hub, info, status))
    server.start()
    try:
        if generated:
            click.echo(f"edge-ser: serving on {server.url(required)} (token generated, shown "
                       "only now)", err=True)
        else:
            how = "token required" if required else "loopback only"
            click.echo(f"edge-ser: serving on {server.url()} ({how})", err=True)
        with _stopped_by_signals(run):
            try:
                _run_live(run, [hub.publish])
                if not run.stop.is_set():
                    click.echo("edge-ser: the input has ended; still serving (Ctrl-C stops)",
                               err=True)
                while not run.stop.wait(0.5):
                    pass
            finally:
                _close_mqtt(run)
    finally:
        server.stop()
    click.echo(f"edge-ser: stopped serving ({_plural(hub.dropped_clients, 'slow client')} "
               f"dropped, {_plural(hub.refused_clients + server.refused, 'client')} refused)",
               err=True)
    return 0

def _classify_file(pipeline: Any, path: Path) -> Any:
    """One file through the pipeline, streamed: memory stays flat however long the file is."""
    from edge.pipeline import FILE_BLOCK_SECONDS
    from edge.wav import iter_wav_blocks

    return pipeline.classify_blocks(iter_wav_blocks(path, FILE_BLOCK_SECONDS, pipeline.cfg.sr))


def _open_pipeline(models: Path | None, threads: int, use_xnnpack: bool = True,
                   profile_name: str | None = None, speaker: str | None = None) -> Any:
    """The pipeline for whole files; the profile's [decisions] name results as in `listen`."""
    from edge.manifest import load_manifest
    from edge.models import resolve_models_dir
    from edge.pipeline import Pipeline

    decisions = None  # DecisionConfig's defaults are the default profile's (test_profiles)
    if profile_name is not None:  # tomllib only when asked: `classify` stays lean
        from edge.profiles import load_profile

        decisions = load_profile(profile_name).decisions
    manifest = load_manifest(resolve_models_dir(models))
    pipeline = Pipeline(manifest, num_threads=threads, use_xnnpack=use_xnnpack,
                        decisions=decisions)
    _set_speaker(pipeline, speaker)
    return pipeline


def _expand_files(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; a folder stands for the WAV files under it (recursively, sorted)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            from edge.corpora import AUDIO_EXTENSIONS  # only for a folder: csv & co. cost RSS

            found = sorted(f for f in p.rglob("*")
                           if f.suffix.lower() in AUDIO_EXTENSIONS and f.is_file())
            out += found or [p]  # no .wav under it: reading it says what is wrong
        else:
            out.append(p)
    return out


PROFILE_OPTION = click.option(
    "--profile", "profile_name", metavar="NAME|FILE",
    help="Device profile whose [decisions] threshold and min_windows name a result, as in "
         "`listen` (default: default).")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=PATH)
@click.option("--models", type=PATH, help="Model folder (default: bundled).")
@PROFILE_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Interpreter threads per member.")
@click.option("--xnnpack/--no-xnnpack", default=False, show_default=True,
              help="Use the interpreter's XNNPACK delegate (a one-shot run does not repay its "
                   "~1 MB and set-up; `listen` follows the profile's [runtime] use_xnnpack).")
@SPEAKER_OPTION
def classify(files: tuple[Path, ...], models: Path | None, profile_name: str | None,
             as_json: bool, threads: int, xnnpack: bool, speaker: str | None) -> int:
    """Classify WAV files (a folder: every .wav under it), one result per file.

    Every window of the file is classified and the ensemble is averaged over the windows with
    speech. A result means what it means in `listen`: an emotion, `uncertain` (the top
    probability is below the profile's threshold) or `silence` (no window with speech).
    Files are streamed, so memory stays flat whatever their length. A file that cannot be
    read gets an error line on stderr; the others still run and the exit status is non-zero.
    """
    from edge.outputs import file_result_record, format_file_result, write_json_line

    pipeline = _open_pipeline(models, threads, use_xnnpack=xnnpack, profile_name=profile_name,
                              speaker=speaker)
    labels = pipeline.manifest.labels
    status = 0
    for path in _expand_files(files):
        try:
            result = _classify_file(pipeline, path)
        except EdgeSerError as exc:
            click.echo(f"edge-ser: error: {_named(path, exc)}", err=True)
            status = status or exc.exit_code
            continue
        if as_json:
            write_json_line(file_result_record(str(path), result, labels,
                                               speaker=speaker is not None))
        else:
            click.echo(format_file_result(str(path), result, labels,
                                          speaker=speaker is not None))
    return status


CORPUS_FORMATS = ("auto", "ravdess", "tess", "cremad", "crema-d", "savee", "emodb", "nemo", "ased",
                  "urdu", "emotiontts", "folders", "csv")  # edge.corpora.FORMATS (+ aliases)


@cli.command()
@click.argument("corpus", type=PATH)
@click.option("--format", "fmt", type=click.Choice(CORPUS_FORMATS), default="auto",
              show_default=True,
              help="How labels are read: from file names (ravdess, tess, cremad, savee, emodb), "
                   "from label folders (folders), from a path,label CSV (csv), or guessed from "
                   "the file names (auto).")
@click.option("--models", type=PATH, help="Model folder (default: bundled).")
@PROFILE_OPTION
@click.option("--json", "as_json", is_flag=True,
              help="Print the scores and every file's prediction as one JSON object.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Interpreter threads per member.")
@SPEAKER_OPTION
@click.option("--enrol", "enrol_k", type=click.IntRange(min=1), metavar="K",
              help="Per speaker: enrol from K of their files (random, any emotion) and score "
                   "the rest with and without the profile (with --speaker auto also with "
                   "the closest of all the corpus's profiles, and how often it is theirs).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Which files --enrol picks.")
@click.option("--prior", type=click.Choice(("none", "divide")),
              help="Override the manifest's enrolment prior correction (an experiment).")
@click.option("--prior-strength", type=click.FloatRange(0, 1), metavar="S",
              help="Override the manifest's enrolment prior_strength (0..1).")
def evaluate(corpus: Path, fmt: str, models: Path | None, profile_name: str | None,
             as_json: bool, threads: int, speaker: str | None, enrol_k: int | None, seed: int,
             prior: str | None, prior_strength: float | None) -> int:
    """Run the device pipeline on a labelled corpus and print WA, UAR, F1, confusion.

    Each file is scored by the top class of its averaged probabilities. Labels the models know
    but the corpus lacks are mapped (e.g. TESS has no calm: calm predictions are scored as
    neutral) and the mapping is printed; corpus labels the models cannot predict (EmoDB's
    boredom) are left out. Files from speakers the models were trained on are counted and
    flagged: their scores are optimistic. Progress goes to stderr.
    """
    import json

    from edge.corpora import load_corpus
    from edge.evaluation import evaluate_corpus
    from edge.speakers import AUTO

    auto_study = enrol_k is not None and speaker == AUTO
    if enrol_k is not None and speaker is not None and not auto_study:
        raise click.UsageError(f"--enrol and --speaker NAME are exclusive (--enrol enrols "
                               f"each speaker of the corpus; --speaker {AUTO} picks among them)")
    pipeline = _open_pipeline(models, threads, profile_name=profile_name)
    if prior is not None or prior_strength is not None:
        import dataclasses

        spec = pipeline.enrolment
        pipeline.enrolment = dataclasses.replace(
            spec, prior=prior or spec.prior,
            prior_strength=spec.prior_strength if prior_strength is None else prior_strength)
    if not auto_study:  # with --enrol, auto picks among the study's profiles
        _set_speaker(pipeline, speaker)
    data = load_corpus(corpus, "crema-d" if fmt == "cremad" else fmt)
    progress = _progress_line("evaluate", "files")

    def failed(path: Path, exc: EdgeSerError) -> None:
        click.echo(f"edge-ser: error: {_named(path, exc)}", err=True)

    ev = evaluate_corpus(lambda p: _classify_file(pipeline, p), data, pipeline.manifest,
                         progress=progress, on_error=failed)
    warning = ev.training_warning()
    if warning:
        click.echo(f"edge-ser: warning: {warning}", err=True)
    if enrol_k is not None:
        from edge.enrol import enrolment_study, study_report

        study = enrolment_study(pipeline, data, ev, enrol_k, seed,
                                lambda p: _classify_file(pipeline, p),
                                progress=_progress_line("enrol", "speakers"),
                                auto=auto_study)
        record, text = study_report(study, ev, pipeline, str(corpus))
        click.echo(json.dumps(record) if as_json else text)
        return 0
    scores = ev.scores()
    held_out = ev.held_out if 0 < ev.training_files < len(ev.outcomes) else None
    if as_json:
        record = {"corpus": str(corpus), "format": data.format, "files": len(ev.outcomes),
                  "failed": [str(p) for p, _ in ev.failed], "skipped": len(data.skipped),
                  "mapping": ev.mapping(), "labels": list(ev.plan.classes),
                  "training_speaker_files": ev.training_files,
                  "trained_on": ev.training.to_dict() if ev.training else None,
                  **ev.counts(), **scores.to_dict(),
                  "predictions": [o.to_dict() for o in ev.outcomes]}
        if held_out is not None:
            record["held_out"] = ev.scores(held_out).to_dict()
        click.echo(json.dumps(record))
        return 0
    click.echo(data.summary())
    for line in ev.mapping():
        click.echo(f"mapping: {line}")
    unreadable = f" ({len(ev.failed)} unreadable)" if ev.failed else ""
    counts = ev.counts()
    click.echo(f"files scored: {len(ev.outcomes)}{unreadable}; {counts['uncertain']} uncertain "
               f"and {counts['silence']} silence by `classify` (scored by their top class)")
    if ev.training_files:
        click.echo(f"files from training speakers: {ev.training_files} of {len(ev.outcomes)} "
                   "(optimistic: the models heard these speakers)")
    click.echo(f"WA {100 * scores.wa:.1f} %   UAR {100 * scores.uar:.1f} %   "
               f"macro-F1 {100 * scores.macro_f1:.1f} %")
    if held_out is not None:
        h = ev.scores(held_out)
        click.echo(f"unseen speakers only ({len(held_out)} files): WA {100 * h.wa:.1f} %   "
                   f"UAR {100 * h.uar:.1f} %   macro-F1 {100 * h.macro_f1:.1f} %")
    classes = ev.plan.classes
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


# ---- speakers ----------------------------------------------------------------------------
@cli.command()
@click.argument("name")
@click.argument("files", nargs=-1, type=PATH)
@click.option("--record", "record_seconds", type=click.FloatRange(min=1, max=600),
              metavar="SECONDS", help="Record this long from the microphone instead of FILEs.")
@click.option("--device", metavar="INDEX|NAME",
              help="With --record: input device index or name substring.")
@click.option("--source", metavar="FILE|-",
              help="With --record: read a WAV file, or '-' for raw s16le mono PCM on stdin, "
                   "instead of a microphone.")
@click.option("--profile", "profile_name", metavar="NAME|FILE",
              help="Device profile whose [input] settings open the microphone.")
@click.option("--models", type=PATH, help="Model folder (default: bundled).")
@click.option("--json", "as_json", is_flag=True, help="Print the saved profile's summary as JSON.")
def enrol(name: str, files: tuple[Path, ...], record_seconds: float | None, device: str | None,
          source: str | None, profile_name: str | None, models: Path | None,
          as_json: bool) -> int:
    """Enrol a speaker from about 30 s of their ordinary speech (any emotion, no labels).

    Keeps statistics only (per feature its mean and spread over the speech frames, and how
    the models read this voice on average), never audio, in
    $XDG_DATA_HOME/edge-ser/speakers/NAME.json (mode 0600). Use it with --speaker NAME.
    """
    import json

    import numpy as np

    from edge.enrol import enrol as make_profile
    from edge.manifest import load_manifest
    from edge.models import resolve_models_dir
    from edge.pipeline import Pipeline
    from edge.speakers import check_name, save_profile, speaker_path

    check_name(name)
    if record_seconds is None and not files:
        raise click.UsageError("give the speaker's WAV FILEs, or --record SECONDS")
    if record_seconds is not None and files:
        raise click.UsageError("give FILEs or --record, not both")
    if record_seconds is None and (device is not None or source is not None):
        raise click.UsageError("--device and --source go with --record")
    if device is not None and source is not None:
        raise click.UsageError("--device and --source are exclusive")
    manifest = load_manifest(resolve_models_dir(models))
    pipeline = Pipeline(manifest)
    sr = pipeline.cfg.sr
    if record_seconds is not None:
        from edge.profiles import load_profile
        from edge.sources import open_source

        src = open_source(source, sr, load_profile(profile_name).input, device=device,
                          realtime=False)
        click.echo(f"enrol: recording {record_seconds:g} s from {src.name}: {name}, please "
                   "speak as you usually do", err=True)
        need = round(record_seconds * sr)
        got: list[Any] = []
        heard = 0
        try:
            for chunk in src:
                got.append(chunk)
                heard += chunk.shape[0]
                if heard >= need:
                    break
        finally:
            src.close()
        audio = np.concatenate(got)[:need] if got else np.zeros(0, np.float32)
        if audio.size == 0:
            from edge.errors import AudioError

            raise AudioError(f"no audio was heard from {src.name}")
        recordings: Any = lambda: [audio]  # noqa: E731
        what = f"{audio.size / sr:.1f} s recorded"
    else:
        from edge.wav import read_wav

        paths = _expand_files(files)
        recordings = lambda: (read_wav(p, target_sr=sr).samples for p in paths)  # noqa: E731
        what = _plural(len(paths), "file")
    existed = speaker_path(name).exists()
    profile = make_profile(name, pipeline, recordings)
    path = save_profile(profile)
    if as_json:
        click.echo(json.dumps({"name": name, "path": str(path), "speech_seconds":
                               round(profile.speech_seconds, 2), "created": profile.created,
                               "models": profile.models, "replaced": existed}))
    else:
        again = " (replaced the earlier enrolment)" if existed else ""
        click.echo(f"enrolled {name}: {profile.speech_seconds:.1f} s of speech from {what} "
                   f"→ {path}{again}")
    return 0


@cli.command()
@click.option("--remove", metavar="NAME", help="Delete this speaker's file completely.")
@click.option("--models", type=PATH,
              help="Model folder whose fit is shown (default: bundled).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per speaker.")
def speakers(remove: str | None, models: Path | None, as_json: bool) -> int:
    """List enrolled speakers (name, seconds of speech, created, whether they fit the models),
    or remove one."""
    import json

    from edge.errors import SpeakerError
    from edge.manifest import load_manifest
    from edge.models import resolve_models_dir
    from edge.speakers import list_names, load_profile, remove_profile, speakers_dir

    if remove is not None:
        path = remove_profile(remove)
        if as_json:
            click.echo(json.dumps({"removed": remove, "path": str(path)}))
        else:
            click.echo(f"removed {remove} ({path})")
        return 0
    manifest = load_manifest(resolve_models_dir(models), verify=False)
    names = list_names()
    if not names and not as_json:
        click.echo(f"no speakers enrolled (in {speakers_dir()}); `edge-ser enrol NAME FILE...` "
                   "enrols one")
    status = 0
    for name in names:
        try:
            p = load_profile(name)
        except SpeakerError as exc:
            status = exc.exit_code
            if as_json:
                click.echo(json.dumps({"name": name, "error": str(exc)}))
            else:
                click.echo(f"{name:<20} unreadable: {exc}")
            continue
        fits = p.fits(manifest)
        if as_json:
            click.echo(json.dumps({"name": name, "speech_seconds": round(p.speech_seconds, 2),
                                   "created": p.created, "fits": fits, "models": p.models}))
        else:
            click.echo(f"{name:<20} {p.speech_seconds:6.1f} s  {p.created}  "
                       + ("fits these models" if fits else f"made for other models ({p.models})"))
    return status


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
