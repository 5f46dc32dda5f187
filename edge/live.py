"""The live loop: pull audio from a source through the pipeline until it ends or is stopped.

Kept apart from :mod:`edge.pipeline` (audio → decisions) because this is about devices: a
consumer slower than real time loses audio (counted and reported with the next line), and a
microphone that disappears ends the run or is reopened.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.decisions import Decision
from edge.errors import DeviceError
from edge.level import LevelAdvice
from edge.outputs import Drops
from edge.pipeline import Pipeline, WindowResult

if TYPE_CHECKING:
    from edge.sources import AudioSource, WavRecorder
    from edge.stop_signals import StopRequest

#: Audio dropped since the last line is reported at most this often (seconds of wall time).
DROP_REPORT_SECONDS = 1.0
#: ``listen`` judges the speech level after this much speech (edge.level.LevelAdvice), and
#: suspects a microphone too quiet for its VAD after this much audio without speech.
ADVICE_SPEECH_SECONDS = 10.0
ADVICE_QUIET_SECONDS = 60.0


@dataclass
class StreamSummary:
    seconds: float = 0.0  # audio heard
    windows: int = 0
    events: int = 0
    dropped: int = 0
    overflows: int = 0
    reconnects: int = 0
    stopped_by: str = "end of input"


def run_stream(
    pipeline: Pipeline,
    open_source: Callable[[], AudioSource],
    emit: Callable[[Decision, Drops], None],
    *,
    stop: threading.Event | StopRequest | None = None,
    duration: float | None = None,
    recorder: WavRecorder | None = None,
    on_device_lost: str = "exit",
    reconnect_seconds: float = 2.0,
    warn: Callable[[str], None] | None = None,
) -> StreamSummary:
    """Pull audio from a source through the pipeline until it ends, ``duration`` seconds of
    audio were heard, or ``stop`` is set; call ``emit`` for every decision worth reporting.

    Every line carries the audio dropped so far (a consumer slower than real time loses the
    oldest audio in the source's ring buffer); a loss is reported with the next decision even
    if that decision is unchanged, at most once per ``DROP_REPORT_SECONDS``.

    A lost device (DeviceError while reading) ends the run with ``on_device_lost="exit"``
    (the service manager restarts it), or is reopened every ``reconnect_seconds`` with
    ``"reconnect"`` (a USB microphone unplugged and plugged back in).
    """
    from edge.sources import SourceStats

    stop = stop or threading.Event()
    warn = warn or (lambda _msg: None)
    summary = StreamSummary()
    lost_before = SourceStats()  # counters of sources that were replaced

    def drops(src: AudioSource | None) -> Drops:
        s = src.stats() if src is not None else SourceStats()
        return Drops(lost_before.dropped + s.dropped, lost_before.overflows + s.overflows)

    reported = {"dropped": 0, "at": -math.inf}
    vad = pipeline.speech.vad
    advice = LevelAdvice(pipeline.speech.level_dbfs,
                         speech_windows=max(1, round(ADVICE_SPEECH_SECONDS / pipeline.hop_seconds)),
                         quiet_windows=max(1, round(ADVICE_QUIET_SECONDS / pipeline.hop_seconds)),
                         vad_floor_dbfs=vad.min_level_dbfs)

    def report(result: WindowResult, src: AudioSource) -> None:
        summary.windows += 1
        if advice.listening and (said := advice.add(pipeline.speech.gate(result.speech_ratio),
                                                     result.level_dbfs)) is not None:
            warn(said)
        lost = drops(src)
        news = result.decision.is_new
        # audio lost since the last line is reported with the next decision, even an unchanged
        # one (at most once per DROP_REPORT_SECONDS of wall time), so it shows when it happens
        now = time.monotonic()
        late = (lost.samples > reported["dropped"]
                and now - reported["at"] >= DROP_REPORT_SECONDS)
        if news:
            summary.events += 1
        if news or late:
            emit(result.decision, lost)
            reported.update(dropped=lost.samples, at=now)

    source: AudioSource | None = None
    waiting = False  # in an outage: say so once, not at every retry
    try:
        while not stop.is_set():
            try:
                source = open_source()
            except DeviceError as exc:
                if on_device_lost != "reconnect":
                    raise
                if not waiting:
                    warn(f"{exc}; retrying every {reconnect_seconds:g} s")
                    waiting = True
                if stop.wait(reconnect_seconds):
                    break
                continue
            if waiting:
                warn(f"audio input is back: {source.name}")
                waiting = False
            ended = False
            try:
                for chunk in source:
                    if duration is not None:
                        left = round((duration - pipeline.stream_seconds) * pipeline.cfg.sr)
                        chunk = chunk[: max(0, left)]
                    if recorder is not None and chunk.size:
                        recorder.write(chunk)
                    for result in pipeline.push(chunk):
                        report(result, source)
                    if duration is not None and pipeline.stream_seconds >= duration - 1e-9:
                        summary.stopped_by = f"--duration {duration:g}"
                        stop.set()
                    if stop.is_set():
                        break
                else:
                    ended = True
            except DeviceError as exc:
                s = source.stats()
                lost_before = SourceStats(lost_before.captured + s.captured,
                                          lost_before.dropped + s.dropped,
                                          lost_before.overflows + s.overflows)
                source.close()
                source = None
                if on_device_lost != "reconnect" or stop.is_set():
                    raise
                summary.reconnects += 1
                warn(f"{exc}; reconnecting every {reconnect_seconds:g} s")
                waiting = True
                pipeline.reset(time_offset=pipeline.stream_seconds)
                if stop.wait(reconnect_seconds):
                    break
                continue
            if ended and not stop.is_set():
                # the input is over: its last frames are known, padded like the batch front end
                for result in pipeline.flush():
                    report(result, source)
            break
        if stop.is_set() and summary.stopped_by == "end of input":
            summary.stopped_by = "stop request"
        final = drops(source)
        summary.dropped, summary.overflows = final.samples, final.overflows
        summary.seconds = pipeline.stream_seconds
    finally:
        if source is not None:  # also on Ctrl-C or a bad file: release the device
            source.close()
    return summary
