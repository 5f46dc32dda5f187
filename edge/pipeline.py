"""Audio → windows → members → vote → decisions: the one path used by every device command.

Streaming (``listen``, ``bench``): the streaming front end turns each chunk into new frames of
the base features the members need (plus ``rms``/``zcr`` for the VAD); the last
``window.frames`` frames are kept, and every ``hop`` frames each member's kind is assembled
over the window (so deltas are per window, exactly as in training), normalised with the
manifest's statistics, classified, and the members' outputs voted. A causal VAD marks speech
frame by frame; windows with too little speech skip the models and report ``silence``.

Whole files (``classify``, ``evaluate``): :meth:`Pipeline.classify_blocks` streams a file
block by block through the same front end (frames identical to the batch front end), cuts every
window at the manifest hop, and averages the ensemble over the speech windows; memory does not
depend on the file's length. :meth:`Pipeline.classify_audio` does the same for samples in
memory.

Per-stage wall times are kept in :class:`StageTimer` for ``edge-ser bench``.
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge.decisions import Decision, DecisionConfig, RecognizeEmotions
from edge.errors import AudioError, DeviceError
from edge.frontend import StreamingFrontend, assemble, base_kinds_of
from edge.frontend.config import BASE_KINDS
from edge.frontend.features import validate_audio
from edge.frontend.kinds import base_dim
from edge.frontend.vad import StreamingVad, VadConfig, speech_gate
from edge.frontend.windows import min_samples, normalize, pad_to_window, window_frames
from edge.interpreter import MemberModel, load_members
from edge.manifest import Manifest
from edge.outputs import Drops
from edge.vote import Voter

if TYPE_CHECKING:
    from edge.sources import AudioSource, WavRecorder

VAD_BASES = ("rms", "zcr")
#: Whole recordings go through the streaming front end in blocks of this length.
FILE_BLOCK_SECONDS = 0.25


class StageTimer:
    """Wall time per stage and per window, in seconds: the last ``keep`` values of each stage.

    Values live in a fixed ring of doubles per stage, so a listener that runs for weeks keeps
    the same few hundred kilobytes (a list of Python floats grew by ~1 MB per hour of audio).
    """

    def __init__(self, keep: int = 4096) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.keep = keep
        self._rings: dict[str, array] = {}
        self._counts: dict[str, int] = {}

    def add(self, stage: str, seconds: float) -> None:
        ring = self._rings.get(stage)
        if ring is None:
            ring = self._rings[stage] = array("d")
            self._counts[stage] = 0
        n = self._counts[stage]
        if n < self.keep:
            ring.append(seconds)
        else:
            ring[n % self.keep] = seconds
        self._counts[stage] = n + 1

    def reset(self) -> None:
        self._rings.clear()
        self._counts.clear()

    @property
    def samples(self) -> dict[str, list[float]]:
        """The kept values per stage, oldest first."""
        out = {}
        for stage, ring in self._rings.items():
            start = self._counts[stage] % len(ring) if len(ring) == self.keep else 0
            out[stage] = ring[start:].tolist() + ring[:start].tolist()
        return out

    def summary(self) -> dict[str, dict[str, float]]:
        """Per stage: count, median, p95, p99, mean and max, in milliseconds (of the kept values;
        ``count`` is every value ever added)."""
        out = {}
        for stage, ring in self._rings.items():
            if not ring:
                continue
            v = np.frombuffer(ring, dtype=np.float64) * 1e3
            out[stage] = {
                "count": int(self._counts[stage]),
                "median_ms": float(np.median(v)),
                "p95_ms": float(np.percentile(v, 95)),
                "p99_ms": float(np.percentile(v, 99)),
                "mean_ms": float(v.mean()),
                "max_ms": float(v.max()),
            }
        return out


@dataclass(frozen=True)
class WindowResult:
    """One analysed window of the stream (times in seconds from the stream start)."""

    index: int
    start: float
    end: float
    speech_ratio: float
    probs: np.ndarray | None  # ensemble probabilities; None when the gate skipped the models
    decision: Decision


@dataclass(frozen=True)
class FileResult:
    """A whole recording: one label for all of it."""

    label: str
    confidence: float
    probs: np.ndarray
    windows: int
    speech_windows: int
    seconds: float


class FrameWindows:
    """The last frames of a stream and the windows they complete (live and file modes alike).

    Frames (per base feature) and their speech flags are appended as the front end yields
    them; :meth:`ready` hands out each completed window once, at ``hop_frames`` spacing, and
    then drops the frames no later window needs, so memory is one window whatever the length.
    """

    def __init__(self, dims: dict[str, int], window_frames: int, hop_frames: int) -> None:
        self.dims = dims
        self.window_frames = window_frames
        self.hop_frames = hop_frames
        self.reset()

    def reset(self) -> None:
        self.frames = {b: np.zeros((0, d), np.float32) for b, d in self.dims.items()}
        self.speech = np.zeros(0, dtype=bool)
        self.start = 0  # absolute frame index of the buffers' first row
        self.n_frames = 0
        self.next_end = self.window_frames  # exclusive end frame of the next window

    def add(self, frames: dict[str, np.ndarray], speech: np.ndarray) -> None:
        for b in self.dims:
            self.frames[b] = np.concatenate((self.frames[b], frames[b]))
        self.speech = np.concatenate((self.speech, speech))
        self.n_frames += speech.shape[0]

    def ready(self) -> list[tuple[int, dict[str, np.ndarray], float]]:
        """``(end frame, frames per base, speech ratio)`` of every window now complete."""
        out = []
        wf = self.window_frames
        while self.next_end <= self.n_frames:
            lo = self.next_end - wf - self.start
            window = {b: v[lo:lo + wf] for b, v in self.frames.items()}
            out.append((self.next_end, window, float(self.speech[lo:lo + wf].mean())))
            self.next_end += self.hop_frames
        drop = self.next_end - wf - self.start
        if drop > 0:
            for b in self.dims:
                self.frames[b] = self.frames[b][drop:]
            self.speech = self.speech[drop:]
            self.start += drop
        return out


class Pipeline:
    """The device pipeline for one manifest.

    Args:
        manifest: a loaded (and verified) manifest.
        members: opened members; by default :func:`load_members` opens them.
        hop_seconds: time between windows (default: the manifest's); a whole number of
            front-end hops (:func:`edge.profiles.check_window` checks a profile's value).
        decisions: smoothing / threshold / suppression / speech gate.
        vad: the voice-activity detector's thresholds.
        run_on_silence: run the members on windows the gate rejects too (costs CPU; their
            probabilities then appear in the results, the decision is still ``silence``).
    """

    def __init__(
        self,
        manifest: Manifest,
        members: list[MemberModel] | None = None,
        *,
        hop_seconds: float | None = None,
        decisions: DecisionConfig | None = None,
        vad: VadConfig | None = None,
        num_threads: int = 1,
        backend: str = "auto",
        use_xnnpack: bool = True,
        run_on_silence: bool = False,
    ) -> None:
        self.manifest = manifest
        self.cfg = manifest.frontend
        self.members = members if members is not None else load_members(
            manifest, num_threads=num_threads, backend=backend, use_xnnpack=use_xnnpack)
        if len(self.members) != len(manifest.members):
            raise ValueError("one MemberModel per manifest member is needed")
        self.kinds = tuple(dict.fromkeys(mb.feature for mb in manifest.members))
        needed = set(base_kinds_of(self.kinds)) | set(VAD_BASES)
        self.bases = tuple(b for b in BASE_KINDS if b in needed)
        self.window_frames = manifest.window.frames
        hop = manifest.window.hop_seconds if hop_seconds is None else hop_seconds
        self.hop_frames = max(1, window_frames(self.cfg, hop))
        self._file_hop_frames = max(1, window_frames(self.cfg, manifest.window.hop_seconds))
        self.hop_seconds = self.hop_frames * self.cfg.hop_length / self.cfg.sr
        self.vad_config = vad or VadConfig()
        self.decision_config = decisions or DecisionConfig()
        self.run_on_silence = run_on_silence
        self._stats = {
            k: (np.asarray(f.mean, np.float32), np.asarray(f.std, np.float32))
            for k, f in manifest.features.items()
        }
        self.voter = Voter(manifest.voting, [mb.weight for mb in manifest.members])
        self.timer = StageTimer()
        self.frontend = StreamingFrontend(self.cfg, self.bases)
        self._file_frontend: StreamingFrontend | None = None
        self.vad = StreamingVad(self.cfg, self.vad_config)
        self.recognizer = RecognizeEmotions(manifest.labels, self.decision_config)
        self._dims = {b: base_dim(self.cfg, b) for b in self.bases}
        self._live = FrameWindows(self._dims, self.window_frames, self.hop_frames)
        self.reset()

    # ---- streaming ----------------------------------------------------------------------
    def reset(self, time_offset: float = 0.0) -> None:
        """Start a new stream (between files, or after a device reconnect: then pass the
        time already heard as ``time_offset`` so reported times keep increasing)."""
        self._t_offset = float(time_offset)
        self.frontend.reset()
        self.vad.reset()
        self.recognizer.reset()
        self._live.reset()
        self._windows = 0
        self._pending_frontend = 0.0  # front-end time not yet charged to a window

    @property
    def windows_done(self) -> int:
        return self._windows

    @property
    def stream_seconds(self) -> float:
        """Audio time pushed so far (plus the offset given to :meth:`reset`)."""
        return self._t_offset + self.frontend.samples_pushed / self.cfg.sr

    def push(self, chunk: np.ndarray) -> list[WindowResult]:
        """Feed samples at the manifest's rate; return the windows they complete."""
        t0 = time.perf_counter()
        frames = self.frontend.push(np.asarray(chunk, dtype=np.float32))
        return self._consume(frames, time.perf_counter() - t0)

    def flush(self) -> list[WindowResult]:
        """End of stream: the last frames (zero-padded like the batch front end)."""
        t0 = time.perf_counter()
        frames = self.frontend.flush()
        return self._consume(frames, time.perf_counter() - t0)

    def _consume(self, frames: dict[str, np.ndarray], frontend_s: float) -> list[WindowResult]:
        t0 = time.perf_counter()
        if frames[self.bases[0]].shape[0]:
            self._live.add(frames, self.vad.update(frames["rms"], frames["zcr"]))
        ready = self._live.ready()
        self._pending_frontend += frontend_s + (time.perf_counter() - t0)
        results = []
        for i, (end, window, ratio) in enumerate(ready):
            share = self._pending_frontend / (len(ready) - i)
            self._pending_frontend -= share
            results.append(self._window(end, window, ratio, share))
        return results

    def _window(self, end: int, window: dict[str, np.ndarray], ratio: float,
                frontend_share: float) -> WindowResult:
        t0 = time.perf_counter()
        sr, hop = self.cfg.sr, self.cfg.hop_length
        start_s = self._t_offset + (end - self.window_frames) * hop / sr
        end_s = start_s + self.manifest.window.seconds
        gate_open = speech_gate(ratio, self.decision_config.min_speech_ratio)
        probs = None
        if gate_open or self.run_on_silence:
            spent = frontend_share + time.perf_counter() - t0
            probs = self._classify_window(window, frontend_s=spent)
        else:
            self.timer.add("frontend", frontend_share + time.perf_counter() - t0)
        t1 = time.perf_counter()
        decision = self.recognizer.process(
            probs if probs is not None else np.zeros(len(self.manifest.labels), np.float32),
            ratio, end_s)
        t2 = time.perf_counter()
        self.timer.add("decide", t2 - t1)
        self.timer.add("window", frontend_share + (t2 - t0))
        self._windows += 1
        return WindowResult(self._windows - 1, start_s, end_s, ratio, probs, decision)

    def _classify_window(self, window: dict[str, np.ndarray], frontend_s: float = 0.0
                         ) -> np.ndarray:
        """Assemble + normalise each kind once, run every member, vote (timed per stage)."""
        t0 = time.perf_counter()
        feats = {}
        for kind in self.kinds:
            mean, std = self._stats[kind]
            feats[kind] = normalize(assemble(window, self.cfg, kind), mean, std)
        t1 = time.perf_counter()
        self.timer.add("frontend", frontend_s + (t1 - t0))
        outs = []
        for mb, model in zip(self.manifest.members, self.members, strict=True):
            ta = time.perf_counter()
            outs.append(model.predict(feats[mb.feature]))
            self.timer.add(f"member:{mb.name}", time.perf_counter() - ta)
        t2 = time.perf_counter()
        self.timer.add("members", t2 - t1)
        probs = self.voter(np.stack(outs))
        self.timer.add("vote", time.perf_counter() - t2)
        return probs

    # ---- whole files ----------------------------------------------------------------------
    def classify_audio(self, samples: np.ndarray) -> FileResult:
        """One label for a whole recording (float samples at the manifest's rate).

        Every window at the manifest hop (short audio is zero-padded to one window), the
        ensemble averaged over the speech windows, or over all windows if none is speech.
        """
        y = np.asarray(samples)
        if y.size:
            validate_audio(y)  # raises AudioError on bad input
        block = max(1, round(FILE_BLOCK_SECONDS * self.cfg.sr))
        return self.classify_blocks(y[i:i + block] for i in range(0, y.shape[0], block))

    def classify_blocks(self, blocks: Iterable[np.ndarray]) -> FileResult:
        """:meth:`classify_audio` of the concatenated blocks, in bounded memory.

        For long recordings (``edge.wav.iter_wav_blocks``): the blocks go through the streaming
        front end (frames identical to the batch front end for any blocking), the causal VAD
        (the one gate of the live stream and of training, train/features.py) and the members
        window by window, and only running sums of the ensemble output are kept, so memory is
        one block plus one window whatever the length. The result equals
        :meth:`classify_audio` on the whole signal.
        """
        cfg, wf, hop = self.cfg, self.window_frames, self._file_hop_frames
        need = max(1, min_samples(cfg, wf))  # fewer samples than this: pad to one window
        if self._file_frontend is None:
            self._file_frontend = StreamingFrontend(self.cfg, self.bases)
        fe = self._file_frontend
        fe.reset()
        vad = StreamingVad(cfg, self.vad_config)
        n_labels = len(self.manifest.labels)
        acc = {"all": np.zeros(n_labels), "speech": np.zeros(n_labels), "n": 0, "n_speech": 0}
        windows = FrameWindows(self._dims, wf, hop)
        state = {"frontend_s": 0.0}

        def consume(frames: dict[str, np.ndarray]) -> None:
            if frames[self.bases[0]].shape[0]:
                windows.add(frames, vad.update(frames["rms"], frames["zcr"]))
            for _, window, ratio in windows.ready():
                probs = self._classify_window(window)
                acc["all"] += probs
                acc["n"] += 1
                if speech_gate(ratio, self.decision_config.min_speech_ratio):
                    acc["speech"] += probs
                    acc["n_speech"] += 1

        def push(x: np.ndarray) -> None:
            t0 = time.perf_counter()
            frames = fe.push(x)
            state["frontend_s"] += time.perf_counter() - t0
            consume(frames)

        head: list[np.ndarray] | None = []  # held until there is one window's worth
        n_total = 0
        for block in blocks:
            x = np.asarray(block)
            if x.ndim != 1:
                raise AudioError(f"audio blocks must be 1-D (mono), got shape {x.shape}")
            n_total += x.shape[0]
            if head is None:
                push(x)
                continue
            head.append(x)
            if n_total >= need:  # long enough: no padding, so push what was held
                for h in head:  # block by block: the front end's working memory stays small
                    push(h)
                head = None
        if head is not None:  # shorter than one window: zero-padded to exactly one
            y = np.concatenate(head) if head else np.zeros(0, np.float32)
            y = pad_to_window(y, cfg, self.manifest.window.seconds)
            step = max(1, round(FILE_BLOCK_SECONDS * cfg.sr))
            for i in range(0, y.shape[0], step):
                push(y[i:i + step])
        t0 = time.perf_counter()
        frames = fe.flush()
        state["frontend_s"] += time.perf_counter() - t0
        consume(frames)
        self.timer.add("file_frontend", state["frontend_s"])
        chosen = acc["n_speech"] > 0
        mean = (acc["speech"] / acc["n_speech"] if chosen else acc["all"] / max(acc["n"], 1))
        mean = mean.astype(np.float32)
        top = int(np.argmax(mean))
        return FileResult(self.manifest.labels[top], float(mean[top]), mean, acc["n"],
                          acc["n_speech"], n_total / cfg.sr)


# ---- the live loop ---------------------------------------------------------------------------
#: Audio dropped since the last line is reported at most this often (seconds of wall time).
DROP_REPORT_SECONDS = 1.0


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
    stop: threading.Event | None = None,
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

    def report(result: WindowResult, src: AudioSource) -> None:
        summary.windows += 1
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
