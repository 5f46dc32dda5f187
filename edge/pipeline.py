"""Audio → windows → members → vote → decisions: the one core used by every device command.

A :class:`WindowStream` turns audio (any chunking) into analysis windows: the streaming front
end makes frames of the base features the members need (plus ``rms``/``zcr`` for the causal
VAD, whose thresholds come from the manifest), and every ``hop`` frames the last
``window.frames`` frames are handed out with their share of speech frames.
:meth:`Pipeline.analyse` is then the only place a window meets the speech gate (the
manifest's ``speech.min_speech_fraction``, as in training): a window that passes has each
member's kind assembled over it (deltas per window, as in training), normalised with the
manifest's statistics, classified and voted.

Live (``listen``, ``bench``): :meth:`Pipeline.push` / :meth:`Pipeline.flush` feed the stream
and turn each window into a :class:`~edge.decisions.Decision`. The loop that pulls audio from a
device lives in :mod:`edge.live`.

Whole files (``classify``, ``evaluate``): :meth:`Pipeline.classify_blocks` cuts every window
at the manifest hop from a file streamed block by block (memory does not depend on its length),
averages the ensemble over the windows with speech and names the result by the same rule as a
live decision (:func:`edge.decisions.name_result`): ``silence`` without speech. A file without
speech is scored by the manifest's ``speech.no_speech`` policy.

A speaker (:meth:`Pipeline.set_speaker`) is a fixed enrolled profile or, with ``--speaker
auto``, a :class:`~edge.autospeaker.SpeakerPicker` that picks the closest enrolled profile per
utterance (a run of windows that pass the gate; see that module); decisions and file results
then name the profile in use.

The data path holds no clock: a :class:`~edge.timing.StageTimer` passed as ``timer`` wraps the
stages (``edge-ser bench``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from edge.calibration import apply_prior, apply_temperature, prior_divisor
from edge.decisions import Decision, DecisionConfig, RecognizeEmotions, name_result
from edge.errors import AudioError, ConfigError
from edge.frontend import StreamingFrontend, assemble, base_kinds_of
from edge.frontend.config import BASE_KINDS, FrontendConfig
from edge.frontend.features import validate_audio
from edge.frontend.kinds import base_dim
from edge.frontend.vad import StreamingVad, VadConfig
from edge.frontend.windows import (
    min_samples,
    normalize,
    pad_to_window,
    speech_fill_rows,
    window_frames,
)
from edge.gate import ConditionGate
from edge.interpreter import MemberModel, load_members
from edge.level import LevelMeter, window_level
from edge.manifest import EnrolmentSpec, Manifest
from edge.vote import Voter

if TYPE_CHECKING:
    from edge.autospeaker import Pick, SpeakerPicker
    from edge.speakers import SpeakerProfile
    from edge.timing import StageTimer

VAD_BASES = ("rms", "zcr")
#: Whole recordings go through the streaming front end in blocks of this length.
FILE_BLOCK_SECONDS = 0.25

#: A window ready for analysis: (exclusive end frame, frames per base, share of speech frames,
#: the VAD's speech flag of each of its frames).
ReadyWindow = tuple[int, dict[str, np.ndarray], float, np.ndarray]


@dataclass(frozen=True)
class WindowResult:
    """One analysed window of the stream (times in seconds from the stream start)."""

    index: int
    start: float
    end: float
    speech_ratio: float
    probs: np.ndarray | None  # ensemble probabilities; None when the gate skipped the models
    decision: Decision
    rms: np.ndarray | None = field(default=None, repr=False, compare=False)  # its frames' RMS

    @property
    def level_dbfs(self) -> float | None:
        """How loud the window is (edge.level; None: digital silence), measured only when
        asked: ``listen``'s level advice asks while it listens, nothing else on the live path."""
        return None if self.rms is None else window_level(self.rms)


@dataclass(frozen=True)
class FileResult:
    """A whole recording: one result for all of it.

    ``label`` means what a live decision's label means: an emotion, ``uncertain`` (top
    probability below the threshold) or ``silence`` (no window with speech; confidence 0).
    ``probs`` are the ensemble averaged over the speech windows (without any: over the windows
    the manifest's no-speech policy picks) and ``top`` their top label, what ``evaluate`` scores.
    """

    label: str
    confidence: float
    probs: np.ndarray
    top: str
    windows: int
    speech_windows: int
    seconds: float
    speaker: str | None = None  # the profile most speech windows were classified with
    level_dbfs: float | None = None  # the loud part of its frames (edge.level); None: silent


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

    def ready(self) -> list[ReadyWindow]:
        """``(end frame, frames per base, speech ratio, speech flags)`` of every window now
        complete."""
        out = []
        wf = self.window_frames
        while self.next_end <= self.n_frames:
            lo = self.next_end - wf - self.start
            window = {b: v[lo:lo + wf] for b, v in self.frames.items()}
            flags = self.speech[lo:lo + wf]
            out.append((self.next_end, window, float(flags.mean()), flags))
            self.next_end += self.hop_frames
        drop = self.next_end - wf - self.start
        if drop > 0:
            for b in self.dims:
                self.frames[b] = self.frames[b][drop:]
            self.speech = self.speech[drop:]
            self.start += drop
        return out


class WindowStream:
    """Audio in any chunking → the windows it completes: front end, causal VAD, frame buffer."""

    def __init__(self, cfg: FrontendConfig, bases: tuple[str, ...], vad: VadConfig,
                 window_frames: int, hop_frames: int) -> None:
        self.frontend = StreamingFrontend(cfg, bases)
        self.vad = StreamingVad(cfg, vad)
        self.windows = FrameWindows({b: base_dim(cfg, b) for b in bases}, window_frames,
                                    hop_frames)
        self._first = bases[0]

    def reset(self) -> None:
        self.frontend.reset()
        self.vad.reset()
        self.windows.reset()

    @property
    def samples_pushed(self) -> int:
        return self.frontend.samples_pushed

    def feed(self, chunk: np.ndarray | None) -> list[ReadyWindow]:
        """Push samples (None: end of stream, the last frames zero-padded like the batch front
        end); return the windows now complete."""
        frames = self.frontend.flush() if chunk is None else self.frontend.push(chunk)
        if frames[self._first].shape[0]:
            self.windows.add(frames, self.vad.update(frames["rms"], frames["zcr"]))
        return self.windows.ready()


class Pipeline:
    """The device pipeline for one manifest.

    Args:
        manifest: a loaded (and verified) manifest.
        members: opened members; by default :func:`load_members` opens them.
        hop_seconds: time between live windows (default: the manifest's); a whole number of
            front-end hops (:func:`edge.profiles.check_window` checks a profile's value).
        decisions: smoothing / threshold / suppression.
        run_on_silence: run the members on windows the gate rejects too (costs CPU; their
            probabilities then appear in the results, the decision is still ``silence``).
        timer: record per-stage wall times here (``edge-ser bench``); None: no clock at all.
        speaker: an enrolled speaker's profile (edge.speakers), applied as the manifest's
            ``enrolment`` section says, or a SpeakerPicker (``--speaker auto``)
            (:meth:`set_speaker`).
    """

    def __init__(
        self,
        manifest: Manifest,
        members: list[MemberModel] | None = None,
        *,
        hop_seconds: float | None = None,
        decisions: DecisionConfig | None = None,
        num_threads: int = 1,
        backend: str = "auto",
        use_xnnpack: bool = True,
        run_on_silence: bool = False,
        timer: StageTimer | None = None,
        speaker: SpeakerProfile | SpeakerPicker | None = None,
    ) -> None:
        manifest.check_reproducible()
        self.manifest = manifest
        self.cfg = manifest.frontend
        self.speech = manifest.speech
        self.members = members if members is not None else load_members(
            manifest, num_threads=num_threads, backend=backend, use_xnnpack=use_xnnpack)
        if len(self.members) != len(manifest.members):
            raise ValueError("one MemberModel per manifest member is needed")
        # a stream is what a member reads (manifest.features): a kind, its fill, its statistics
        self._stream_kind = {mb.feature: manifest.features[mb.feature].kind
                             for mb in manifest.members}
        self._filled = frozenset(s for s in self._stream_kind
                                 if manifest.stream_fill(s) == "speech")
        self.kinds = manifest.kinds
        needed = set(base_kinds_of(self.kinds)) | set(VAD_BASES)
        self.bases = tuple(b for b in BASE_KINDS if b in needed)
        self.window_frames = manifest.window.frames
        hop = manifest.window.hop_seconds if hop_seconds is None else hop_seconds
        self.hop_frames = max(1, window_frames(self.cfg, hop))
        self._file_hop_frames = max(1, window_frames(self.cfg, manifest.window.hop_seconds))
        self.hop_seconds = self.hop_frames * self.cfg.hop_length / self.cfg.sr
        self.decision_config = decisions or DecisionConfig()
        self.run_on_silence = run_on_silence
        self._global_stats = {
            s: (np.asarray(f.mean, np.float32), np.asarray(f.std, np.float32))
            for s, f in manifest.features.items() if s in self._stream_kind
        }
        self.enrolment = manifest.enrolment or EnrolmentSpec()
        self._member_streams = [mb.feature for mb in manifest.members]
        self._predicts = [model.predict for model in self.members]
        self.voter = Voter(manifest.voting, [mb.weight for mb in manifest.members])
        self.condition_gate = (ConditionGate(manifest, manifest.condition_gate)
                               if manifest.condition_gate else None)
        #: called with each classified window's normalised streams (``edge-ser condition-gate``)
        self.feature_tap: Callable[[dict[str, np.ndarray]], None] | None = None
        cal = manifest.calibration
        self._temperature = cal.temperature if cal is not None else 1.0
        self.recognizer = RecognizeEmotions(manifest.labels, self.decision_config)
        self._live = WindowStream(self.cfg, self.bases, self.speech.vad, self.window_frames,
                                  self.hop_frames)
        self._file: WindowStream | None = None
        self.timer = timer
        if timer is not None:
            self._instrument(timer)
        self.set_speaker(speaker)
        self.reset()

    def set_speaker(self, profile: SpeakerProfile | SpeakerPicker | None) -> None:
        """Apply an enrolled speaker's profile (None: nobody), as the manifest says; a
        :class:`SpeakerPicker` applies, per utterance, the profile it picks (none until it
        has heard enough, and between utterances).

        ``enrolment.features == "speaker"``: the profile's mean/std replace the manifest's in
        the normalise step (without a profile: the ``fallback``, the manifest's statistics or
        a running estimate over the stream's speech frames). ``enrolment.prior == "divide"``:
        each window's vote is divided by the profile's prior. Raises SpeakerError when the
        profile was made for other models. Nothing else changes, so the cost is nil or one
        division per window.
        """
        spec = self.enrolment
        picker = None
        if profile is not None:  # imported only with a speaker: classify stays lean
            from edge.autospeaker import SpeakerPicker

            picker = profile if isinstance(profile, SpeakerPicker) else None
        fixed = None if picker is not None else profile
        profiles = picker.profiles if picker is not None else (fixed,) if fixed else ()
        for p in profiles:
            p.check_fits(self.manifest)
        self.speaker, self.picker = fixed, picker
        self.last_pick: Pick | None = None
        self._running = None
        if fixed is None and spec.features == "speaker" and spec.fallback == "running":
            # only then: classify stays lean (and the window loop imports nothing)
            from edge.speakers import RunningMoments, new_speech_rows

            self._new_rows = new_speech_rows
            start = {}  # per kind, from the first stream of that kind
            for stream, kind in self._stream_kind.items():
                start.setdefault(kind, self._global_stats[stream])
            self._running = RunningMoments(start,
                                           spec.running_seconds * self.cfg.frames_per_second)
        self._apply(fixed)

    def _apply(self, profile: SpeakerProfile | None) -> None:
        """Use ``profile`` (None: the fallback) from the next window on."""
        spec = self.enrolment
        self.applied = profile
        own = profile is not None and spec.features == "speaker"
        if own:  # a profile holds statistics per kind: every stream of the kind takes them
            by_kind = profile.stats()
            self._stats = {s: by_kind[k] for s, k in self._stream_kind.items()}
        else:
            self._stats = self._global_stats
        self._prior = (prior_divisor(profile.prior, spec.prior_strength)
                       if profile is not None and profile.prior and spec.prior == "divide"
                       else None)

    def _pick(self, feats: dict[str, np.ndarray] | None, new_speech: np.ndarray | None
              ) -> None:
        """``--speaker auto``: count a speech window's new frames (``feats``) and apply the
        pick, or (None) end the utterance and apply nobody."""
        picker = self.picker
        assert picker is not None
        if feats is None:
            if picker.n:
                picker.reset()
            chosen = None
        else:
            if new_speech is not None:
                picker.add(feats, new_speech)
            self.last_pick = picker.pick()
            chosen = self.last_pick.profile
        if chosen is not self.applied:
            self._apply(chosen)

    def _instrument(self, timer: StageTimer) -> None:
        """Wrap the stages in timed versions (the data path itself never reads a clock)."""
        self._feed_live = timer.timed_source(self._feed_live)  # type: ignore[method-assign]
        self._window = timer.timed_window(self._window)  # type: ignore[method-assign]
        self._features = timer.timed("frontend", self._features)  # type: ignore[method-assign]
        self._predicts = [timer.timed(f"member:{mb.name}", p)
                          for mb, p in zip(self.manifest.members, self._predicts, strict=True)]
        self._run_members = timer.timed("members", self._run_members)  # type: ignore[method-assign]
        self._vote = timer.timed("vote", self._vote)  # type: ignore[method-assign]
        self._decide = timer.timed("decide", self._decide)  # type: ignore[method-assign]

    # ---- the core: one window ---------------------------------------------------------------
    def _features(self, window: dict[str, np.ndarray], new_speech: np.ndarray | None = None,
                  speech: bool = True, flags: np.ndarray | None = None
                  ) -> dict[str, np.ndarray]:
        """Each member stream assembled over the window and normalised, once per stream
        (each kind assembled once).

        ``flags``: the window's speech flags; in a stream whose fill is ``speech`` (the
        manifest's ``window.fill``, or the stream's own) the window's non-speech frames are
        replaced by its speech frames, as in training.

        With the ``running`` fallback, ``new_speech`` (the speech flags of the frames this
        window adds) first updates the running statistics, which then normalise the window.
        With a picker (``--speaker auto``) a ``speech`` window's new speech frames first go to
        the picker, whose pick then normalises the window (and divides its vote)."""
        raw = {kind: assemble(window, self.cfg, kind) for kind in self.kinds}
        if self.picker is not None and speech:
            self._pick(raw, new_speech)  # the frames as heard: new_speech indexes them
        running = self._running if self.applied is None else None
        if running is not None and new_speech is not None:
            for kind, x in raw.items():
                running.add(kind, self._new_rows(x, new_speech))
        rows = None
        if self._filled:
            if flags is None:
                raise ConfigError("these models fill windows with speech: pass the speech flags")
            rows = speech_fill_rows(flags)  # once per window, for every filled stream
        out = {}
        for stream, kind in self._stream_kind.items():
            x = raw[kind]
            if rows is not None and stream in self._filled:
                x = x[rows]
            out[stream] = normalize(x, *(self._stats[stream] if running is None
                                         else running.stats(kind)))
        return out

    def _run_members(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        return np.stack([predict(feats[stream])
                         for stream, predict in zip(self._member_streams, self._predicts,
                                                    strict=True)])

    def _vote(self, outs: np.ndarray, feats: dict[str, np.ndarray] | None = None
              ) -> np.ndarray:
        probs = self.voter(outs)
        gate = self.condition_gate
        if gate is not None and feats is not None:
            probs = gate.mix(outs, probs, gate.degraded(feats))
        if self._temperature != 1.0:
            probs = apply_temperature(probs, self._temperature).astype(probs.dtype)
        if self._prior is not None:
            probs = apply_prior(probs, self._prior)
        return probs

    def _classify_window(self, window: dict[str, np.ndarray],
                         new_speech: np.ndarray | None = None, speech: bool = True,
                         flags: np.ndarray | None = None) -> np.ndarray:
        """The ensemble's probabilities for one window of base frames."""
        feats = self._features(window, new_speech, speech, flags)
        if self.feature_tap is not None:
            self.feature_tap(feats)
        return self._vote(self._run_members(feats), feats)

    def analyse(self, window: dict[str, np.ndarray], ratio: float, *, always: bool = False,
                new_speech: np.ndarray | None = None, flags: np.ndarray | None = None
                ) -> tuple[bool, np.ndarray | None]:
        """``(speech, probabilities)`` of one window: the one place the speech gate is
        checked. The members run only on speech windows, unless ``always``. ``new_speech``:
        the speech flags of the frames the window adds (for the running fallback); ``flags``:
        all of the window's (for a speech fill)."""
        speech = self.speech.gate(ratio)
        if not speech and self.picker is not None:
            self._pick(None, None)  # the utterance is over
        return speech, (self._classify_window(window, new_speech, speech, flags)
                        if speech or always else None)

    def new_frames(self, end: int, hop_frames: int) -> int:
        """Frames the window ending at ``end`` adds to the stream: all of the first window's,
        then one hop's."""
        return self.window_frames if end <= self.window_frames else hop_frames

    # ---- live -------------------------------------------------------------------------------
    def reset(self, time_offset: float = 0.0) -> None:
        """Start a new stream (between files, or after a device reconnect: then pass the
        time already heard as ``time_offset`` so reported times keep increasing)."""
        self._t_offset = float(time_offset)
        self._live.reset()
        self._new_stream()
        self.recognizer.reset()
        self._windows = 0

    def _new_stream(self) -> None:
        if self._running is not None:
            self._running.reset()
        if self.picker is not None:
            self._pick(None, None)
            self.last_pick = None
        self._told: str | None = None  # the speaker the last reported decision named

    @property
    def windows_done(self) -> int:
        return self._windows

    @property
    def samples_pushed(self) -> int:
        """Samples pushed since the last :meth:`reset`."""
        return self._live.samples_pushed

    @property
    def stream_seconds(self) -> float:
        """Audio time pushed so far (plus the offset given to :meth:`reset`)."""
        return self._t_offset + self._live.samples_pushed / self.cfg.sr

    def push(self, chunk: np.ndarray) -> list[WindowResult]:
        """Feed samples at the manifest's rate; return the windows they complete."""
        return [self._window(*w) for w in self._feed_live(np.asarray(chunk, dtype=np.float32))]

    def flush(self) -> list[WindowResult]:
        """End of stream: the last frames (zero-padded like the batch front end)."""
        return [self._window(*w) for w in self._feed_live(None)]

    def _feed_live(self, chunk: np.ndarray | None) -> list[ReadyWindow]:
        return self._live.feed(chunk)

    def _decide(self, probs: np.ndarray | None, ratio: float, time: float) -> Decision:
        return self.recognizer.process(probs, ratio, time)

    def _window(self, end: int, window: dict[str, np.ndarray], ratio: float,
                flags: np.ndarray) -> WindowResult:
        start_s = self._t_offset + (end - self.window_frames) * self.cfg.hop_length / self.cfg.sr
        end_s = start_s + self.manifest.window.seconds
        new = flags[-self.new_frames(end, self.hop_frames):]
        speech, probs = self.analyse(window, ratio, always=self.run_on_silence, new_speech=new,
                                     flags=flags)
        decision = self._decide(probs if speech else None, ratio, end_s)
        if self.speaker is not None or self.picker is not None:
            decision = self._name_speaker(decision)
        self._windows += 1
        return WindowResult(self._windows - 1, start_s, end_s, ratio, probs, decision,
                            window["rms"])

    def _name_speaker(self, decision: Decision) -> Decision:
        """The decision names the profile in use; with ``auto`` a new pick is news (the
        pick usually comes a window or two into an utterance, under an unchanged label)."""
        name = self.applied.name if self.applied is not None else None
        news = decision.is_new or (self.picker is not None and name != self._told)
        if news:
            self._told = name
        return replace(decision, speaker=name, is_new=news)

    # ---- whole files ----------------------------------------------------------------------
    def classify_audio(self, samples: np.ndarray) -> FileResult:
        """One result for a whole recording (float samples at the manifest's rate).

        Every window at the manifest hop (short audio is zero-padded to one window), the
        ensemble averaged over the speech windows (see :class:`FileResult`).
        """
        y = np.asarray(samples)
        if y.size:
            validate_audio(y)  # raises AudioError on bad input
        block = max(1, round(FILE_BLOCK_SECONDS * self.cfg.sr))
        return self.classify_blocks(y[i:i + block] for i in range(0, y.shape[0], block))

    def classify_blocks(self, blocks: Iterable[np.ndarray]) -> FileResult:
        """:meth:`classify_audio` of the concatenated blocks, in bounded memory.

        For long recordings (``edge.wav.iter_wav_blocks``): the blocks go through the same
        window stream and window analysis as the live path, and only running sums of the
        ensemble output are kept, so memory is one block plus one window whatever the length.
        The result equals :meth:`classify_audio` on the whole signal.
        """
        cfg = self.cfg
        need = max(1, min_samples(cfg, self.window_frames))  # fewer: pad to one window
        if self._file is None:
            self._file = WindowStream(cfg, self.bases, self.speech.vad, self.window_frames,
                                      self._file_hop_frames)
        stream = self._file
        stream.reset()
        self._new_stream()  # each file is its own stream
        totals = _FileTotals(len(self.manifest.labels), self.speech.no_speech)
        hop = self._file_hop_frames
        meter = LevelMeter()

        def feed(x: np.ndarray | None) -> None:
            for end, window, ratio, flags in stream.feed(x):
                n_new = self.new_frames(end, hop)
                new = flags[-n_new:]
                meter.add(window["rms"][-n_new:])
                totals.add(ratio, *self.analyse(window, ratio, always=True, new_speech=new,
                                                flags=flags),
                           speaker=self.applied.name if self.applied is not None else None)

        head: list[np.ndarray] | None = []  # held until there is one window's worth
        n_total = 0
        for block in blocks:
            x = np.asarray(block)
            if x.ndim != 1:
                raise AudioError(f"audio blocks must be 1-D (mono), got shape {x.shape}")
            n_total += x.shape[0]
            if head is None:
                feed(x)
                continue
            head.append(x)
            if n_total >= need:  # long enough: no padding, so push what was held
                for h in head:  # block by block: the front end's working memory stays small
                    feed(h)
                head = None
        if head is not None:  # shorter than one window: zero-padded to exactly one
            y = np.concatenate(head) if head else np.zeros(0, np.float32)
            y = pad_to_window(y, cfg, self.manifest.window.seconds)
            step = max(1, round(FILE_BLOCK_SECONDS * cfg.sr))
            for i in range(0, y.shape[0], step):
                feed(y[i:i + step])
        feed(None)
        probs = totals.probs()
        labels = self.manifest.labels
        label, confidence = name_result(labels, probs, totals.n_speech, self.decision_config)
        return FileResult(label, confidence, probs, labels[int(np.argmax(probs))], totals.n,
                          totals.n_speech, n_total / cfg.sr, totals.speaker(), meter.level())


class _FileTotals:
    """Running sums of a file's window probabilities (speech windows, all windows, and the
    window with the most speech) for :meth:`Pipeline.classify_blocks`."""

    def __init__(self, n_labels: int, no_speech: str) -> None:
        self.no_speech = no_speech
        self.speech_sum = np.zeros(n_labels)
        self.all_sum = np.zeros(n_labels)
        self.n = self.n_speech = 0
        self.best_ratio = -1.0
        self.best: np.ndarray | None = None
        self.speakers: dict[str | None, int] = {}  # speech windows per profile in use

    def add(self, ratio: float, speech: bool, probs: np.ndarray | None,
            speaker: str | None = None) -> None:
        assert probs is not None  # files always run the members (the no-speech policy)
        self.n += 1
        self.all_sum += probs
        if speech:
            self.speakers[speaker] = self.speakers.get(speaker, 0) + 1
            self.speech_sum += probs
            self.n_speech += 1
        if ratio > self.best_ratio:  # the first window with the most speech, as in training
            self.best_ratio, self.best = ratio, probs

    def speaker(self) -> str | None:
        """The profile most speech windows were classified with (ties: the first heard);
        a name wins over nobody (``auto`` uses none for an utterance's first second)."""
        named = {k: v for k, v in self.speakers.items() if k is not None}
        return max(named, key=named.__getitem__) if named else None

    def probs(self) -> np.ndarray:
        if self.n_speech:
            mean = self.speech_sum / self.n_speech
        elif self.no_speech == "best_window" and self.best is not None:
            mean = self.best.astype(np.float64)
        else:
            mean = self.all_sum / max(self.n, 1)
        return mean.astype(np.float32)
