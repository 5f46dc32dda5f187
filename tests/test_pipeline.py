"""Windows → decisions on the real fixture ensemble: window counts, streaming = batch, the
speech gate, whole-file classification, and the live loop (duration, device loss)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from fixtures.synth import LABELS, silence, syllables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.decisions import SILENCE, DecisionConfig
from edge.errors import ConfigError, DeviceError
from edge.frontend.features import compute_bases
from edge.frontend.windows import window_starts
from edge.live import run_stream
from edge.pipeline import Pipeline
from edge.sources import FileSource, SourceStats
from edge.timing import StageTimer


def stream(pipe: Pipeline, y: np.ndarray, chunks: list[int] | None = None, flush: bool = True
           ) -> list:
    out, pos, i = [], 0, 0
    sizes = chunks or [1600]
    while pos < y.size:
        n = sizes[i % len(sizes)]
        out += pipe.push(y[pos:pos + n])
        pos, i = pos + n, i + 1
    if flush:
        out += pipe.flush()
    return out


def test_window_count_for_n_seconds(manifest, members) -> None:
    pipe = Pipeline(manifest, members)
    y = syllables(4, 5.0, seed=1)
    results = stream(pipe, y)
    # 5 s -> 501 frames; 1 s windows (100 frames) every 0.5 s (50 frames) -> 9 windows
    assert len(results) == 9 == len(window_starts(501, 100, 50))
    assert [r.index for r in results] == list(range(9))
    assert [r.start for r in results] == pytest.approx([0.5 * k for k in range(9)])
    assert results[-1].end == pytest.approx(5.0)
    pipe = Pipeline(manifest, members, hop_seconds=0.25)
    assert len(stream(pipe, y)) == 1 + (501 - 100) // 25


def test_streaming_equals_batch_whatever_the_chunking(manifest, members) -> None:
    y = np.concatenate([silence(0.3), syllables(6, 3.2, seed=2)])
    runs = []
    for chunks in ([1600], [123, 4001, 7, 999], [16000]):
        pipe = Pipeline(manifest, members, run_on_silence=True)
        runs.append(np.stack([r.probs for r in stream(pipe, y, chunks)]))
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[0], runs[2])
    # and each window equals the batch front end's window through the same members
    pipe = Pipeline(manifest, members)
    bases = compute_bases(y.astype(np.float64), manifest.frontend, pipe.bases)
    for k, s in enumerate(window_starts(bases["mfcc"].shape[0], 100, 50)):
        window = {b: v[s:s + 100] for b, v in bases.items()}
        np.testing.assert_array_equal(pipe._classify_window(window), runs[0][k])


def test_a_speech_fill_manifest_fills_streamed_and_file_windows_alike(manifest, members) -> None:
    import dataclasses

    from edge.frontend.windows import fill_with_speech

    filled = dataclasses.replace(manifest, window=dataclasses.replace(manifest.window,
                                                                      fill="speech"))
    y = np.concatenate([silence(0.6), syllables(3, 1.2, seed=2), silence(0.8)])
    plain = np.stack([r.probs for r in stream(Pipeline(manifest, members, run_on_silence=True),
                                              y)])
    runs = [np.stack([r.probs for r in stream(Pipeline(filled, members, run_on_silence=True), y,
                                              chunks)]) for chunks in ([1600], [777])]
    pipe = Pipeline(filled, members)
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], plain)
    # each window is the plain pipeline's window with its non-speech frames filled
    ref = Pipeline(manifest, members)
    for k, (_, window, _, flags) in enumerate(ref._live.feed(y) + ref._live.feed(None)):
        feats = {kind: fill_with_speech(x, flags) for kind, x in ref._features(window).items()}
        np.testing.assert_array_equal(pipe._features(window, flags=flags)["mfcc"],
                                      feats["mfcc"])
        np.testing.assert_array_equal(ref._vote(ref._run_members(feats)), runs[0][k])
    # a file is classified from the same filled windows
    assert pipe.classify_audio(y).probs is not None
    # what learns from the stream's new speech frames (the running fallback) sees them as
    # heard, not where the fill moved them
    from edge.manifest import EnrolmentSpec

    running = EnrolmentSpec(features="speaker", fallback="running")
    moments = []
    for m in (manifest, filled):
        p = Pipeline(dataclasses.replace(m, enrolment=running), members)
        stream(p, y)
        moments.append(p._running.stats("mfcc"))
    np.testing.assert_array_equal(moments[0][0], moments[1][0])
    np.testing.assert_array_equal(moments[0][1], moments[1][1])
    with pytest.raises(ConfigError, match="pass the speech flags"):
        pipe._features(window)


def test_silence_yields_no_emotion_and_skips_the_models(manifest, members) -> None:
    pipe = Pipeline(manifest, members, timer=StageTimer())
    results = stream(pipe, silence(3.0, seed=4))
    assert results and all(r.decision.label == SILENCE and r.probs is None for r in results)
    assert [r.decision.is_new for r in results] == [True] + [False] * (len(results) - 1)
    assert "members" not in pipe.timer.summary()  # the gate kept the models idle


def test_speech_then_pause_then_speech(manifest, members) -> None:
    pipe = Pipeline(manifest, members, decisions=DecisionConfig(average_windows=2))
    y = np.concatenate([syllables(4, 3.0, seed=5), silence(2.0, seed=6), syllables(1, 3.0, seed=7)])
    reported = [(r.end, r.decision.label) for r in stream(pipe, y) if r.decision.is_new]
    labels = [lab for _, lab in reported]
    assert labels[0] == "angry" and SILENCE in labels and labels[-1] == "calm"
    assert labels.index(SILENCE) < len(labels) - 1
    silence_at = reported[labels.index(SILENCE)][0]
    assert 3.0 < silence_at <= 5.0


def test_stage_timers(manifest, members) -> None:
    assert Pipeline(manifest, members).timer is None  # no timer given: no clock in the path
    pipe = Pipeline(manifest, members, timer=StageTimer())
    n = len(stream(pipe, syllables(2, 3.0, seed=8)))
    s = pipe.timer.summary()
    assert s["window"]["count"] == n == s["frontend"]["count"]
    for mb in manifest.members:
        assert s[f"member:{mb.name}"]["count"] == s["members"]["count"] > 0
    for stage in ("frontend", "members", "vote", "window"):
        assert 0 < s[stage]["median_ms"] <= s[stage]["p95_ms"] <= s[stage]["p99_ms"]


@pytest.mark.parametrize("c", range(len(LABELS)))
def test_classify_audio_names_each_class(manifest, members, c: int) -> None:
    pipe = Pipeline(manifest, members)
    r = pipe.classify_audio(np.concatenate([silence(0.4, seed=c), syllables(c, 2.2, seed=900 + c)]))
    assert r.label == LABELS[c] and r.confidence > 0.6
    assert r.windows == len(window_starts(1 + int(2.6 * 16000) // 160, 100, 50))
    assert 0 < r.speech_windows <= r.windows and r.seconds == pytest.approx(2.6)


def test_classify_audio_short_silent_and_empty(manifest, members) -> None:
    pipe = Pipeline(manifest, members)
    short = pipe.classify_audio(syllables(4, 0.5, seed=3))
    assert short.windows == 1 and short.seconds == pytest.approx(0.5)
    quiet = pipe.classify_audio(silence(2.0))
    assert quiet.speech_windows == 0 and quiet.windows == 3  # all windows averaged
    # no speech is not an emotion: the label is silence, as in `listen`
    assert quiet.label == SILENCE and quiet.confidence == 0.0
    assert quiet.top in LABELS and quiet.probs.sum() == pytest.approx(1.0, abs=0.02)
    empty = pipe.classify_audio(np.zeros(0, dtype=np.float32))
    assert empty.windows == 1 and empty.speech_windows == 0


# ---- the live loop ---------------------------------------------------------------------------
def test_run_stream_until_duration(manifest, members, tmp_path) -> None:
    from edge.wav import write_wav

    wav = tmp_path / "a.wav"
    write_wav(wav, syllables(4, 6.0, seed=9), 16000)
    pipe = Pipeline(manifest, members)
    events = []
    summary = run_stream(pipe, lambda: FileSource(wav, 16000, realtime=False),
                         lambda d, drops: events.append((d, drops)), duration=2.5)
    assert summary.seconds == pytest.approx(2.5) and summary.stopped_by == "--duration 2.5"
    # frames need 32 ms of look-ahead (pitch), so 2.5 s of a live stream complete the windows
    # ending at 1.0, 1.5 and 2.0 s; the one ending at 2.5 s would need audio past the stop
    assert summary.windows == 3 and events and events[0][0].label == "angry"
    full = run_stream(Pipeline(manifest, members), lambda: FileSource(wav, 16000, realtime=False),
                      lambda d, drops: None)
    assert full.stopped_by == "end of input" and full.windows == 11  # flushed at the end


class FlakySource:
    """Delivers audio, then 'loses the device' once."""

    def __init__(self, y: np.ndarray, fail_after: int | None) -> None:
        self.y, self.fail_after, self.name, self.sample_rate = y, fail_after, "flaky", 16000
        self.closed = False

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(0, self.y.size, 1600):
            if self.fail_after is not None and i >= self.fail_after:
                raise DeviceError("input device 'flaky' stopped delivering audio")
            yield self.y[i:i + 1600]

    def stats(self) -> SourceStats:
        return SourceStats(0, 160, 1)

    def stop(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_device_loss_exits_or_reconnects(manifest, members) -> None:
    y = syllables(4, 3.0, seed=10)
    first = FlakySource(y, fail_after=16000)
    with pytest.raises(DeviceError, match="stopped delivering"):
        run_stream(Pipeline(manifest, members), lambda: first, lambda d, drops: None)
    assert first.closed

    sources = iter([FlakySource(y, fail_after=16000), FlakySource(y, fail_after=None)])
    warnings: list[str] = []
    events = []
    summary = run_stream(Pipeline(manifest, members), lambda: next(sources),
                         lambda d, drops: events.append((d, drops)), on_device_lost="reconnect",
                         reconnect_seconds=0.01, warn=warnings.append)
    assert summary.reconnects == 1 and any("reconnecting" in w for w in warnings)
    assert summary.seconds == pytest.approx(4.0)  # 1 s before the loss, 3 s after
    times = [d.time for d, _ in events]
    assert times == sorted(times) and times[-1] > 1.0  # time keeps going after a reconnect
    assert summary.dropped == 320 and summary.overflows == 2  # both sources counted


def test_stop_event_ends_a_realtime_stream(manifest, members, tmp_path) -> None:
    from edge.wav import write_wav

    wav = tmp_path / "long.wav"
    write_wav(wav, syllables(3, 30.0, seed=11), 16000)
    stop = threading.Event()
    current = []

    def open_source() -> FileSource:
        current.append(FileSource(wav, 16000, realtime=True))
        return current[-1]

    timer = threading.Timer(0.6, lambda: (stop.set(), current[0].stop()))
    timer.start()
    summary = run_stream(Pipeline(manifest, members), open_source, lambda d, drops: None,
                         stop=stop)
    timer.join()
    assert summary.stopped_by == "stop request" and summary.seconds < 2.0


# ---- chunking never changes a decision (property) ---------------------------------------------
PROPERTY = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def _clip(kind: int, seconds: float, seed: int) -> np.ndarray:
    if kind < 0:
        return silence(seconds, seed=seed)
    return np.concatenate([silence(0.3, seed=seed), syllables(kind, seconds, seed=seed)])


@PROPERTY
@given(kind=st.integers(-1, 7), seconds=st.floats(0.01, 4.0), seed=st.integers(0, 50),
       sizes=st.lists(st.integers(1, 9000), min_size=1, max_size=6))
def test_classify_blocks_equals_classify_audio_for_any_blocking(manifest, members, kind: int,
                                                                 seconds: float, seed: int,
                                                                 sizes: list[int]) -> None:
    y = _clip(kind, seconds, seed)
    whole = Pipeline(manifest, members).classify_audio(y)
    cuts, pos, i = [], 0, 0
    while pos < y.size:
        cuts.append(y[pos:pos + sizes[i % len(sizes)]])
        pos += sizes[i % len(sizes)]
        i += 1
    streamed = Pipeline(manifest, members).classify_blocks(iter(cuts))
    assert (streamed.label, streamed.windows, streamed.speech_windows) == \
        (whole.label, whole.windows, whole.speech_windows)
    assert np.array_equal(streamed.probs, whole.probs)
    assert streamed.seconds == pytest.approx(whole.seconds)


@PROPERTY
@given(kind=st.integers(0, 7), seed=st.integers(0, 50),
       sizes=st.lists(st.integers(1, 12000), min_size=1, max_size=6))
def test_live_windows_and_decisions_do_not_depend_on_chunking(manifest, members, kind: int,
                                                              seed: int,
                                                              sizes: list[int]) -> None:
    y = _clip(kind, 3.0, seed)
    reference = stream(Pipeline(manifest, members, run_on_silence=True), y, [1600])
    chunked = stream(Pipeline(manifest, members, run_on_silence=True), y, sizes)
    assert [r.index for r in chunked] == list(range(len(reference)))
    for a, b in zip(reference, chunked, strict=True):
        assert (a.start, a.end, a.speech_ratio) == (b.start, b.end, b.speech_ratio)
        assert np.array_equal(a.probs, b.probs)
        assert (a.decision.label, a.decision.is_new) == (b.decision.label, b.decision.is_new)


# ---- the manifest's speech section drives the gate, the VAD and the no-speech policy ----------
def _with_speech(manifest, **speech):  # type: ignore[no-untyped-def]
    import dataclasses

    from edge.frontend.vad import VadConfig
    from edge.manifest import SpeechSpec

    no_speech = speech.pop("no_speech", "all_windows")
    return dataclasses.replace(manifest, speech=SpeechSpec(VadConfig(**speech), no_speech))


def test_the_gate_and_vad_come_from_the_manifest(manifest, members) -> None:
    y = np.concatenate([silence(1.6, seed=1), syllables(4, 1.0, seed=2), silence(1.0, seed=3)])
    base = stream(Pipeline(manifest, members), y)
    ratios = [r.speech_ratio for r in base]
    assert any(0 < r < 0.9 for r in ratios)  # windows with some speech pass the default gate
    strict = stream(Pipeline(_with_speech(manifest, min_speech_fraction=0.9), members), y)
    assert all(r.decision.label == SILENCE for r in strict if r.speech_ratio < 0.9)
    assert any(r.decision.label != SILENCE for r in base if 0 < r.speech_ratio < 0.9)
    deaf = stream(Pipeline(_with_speech(manifest, min_level_dbfs=-1.0), members), y)
    assert all(r.speech_ratio == 0 and r.decision.label == SILENCE for r in deaf)
    whole = Pipeline(_with_speech(manifest, min_level_dbfs=-1.0), members).classify_audio(y)
    assert whole.speech_windows == 0 and whole.label == SILENCE


def test_no_speech_policy_all_windows_or_best_window(manifest, members) -> None:
    # a VAD that hears nothing: every window fails the gate, so the policy decides the probs
    y = np.concatenate([syllables(4, 1.0, seed=5), silence(2.0, seed=6)])
    deaf = dict(min_speech_fraction=1.0, hangover_ms=0.0)
    avg = Pipeline(_with_speech(manifest, **deaf), members, run_on_silence=True)
    wins = stream(avg, y)
    all_probs = np.stack([w.probs for w in wins])
    best = max(range(len(wins)), key=lambda i: (wins[i].speech_ratio, -i))
    r_all = Pipeline(_with_speech(manifest, **deaf), members).classify_audio(y)
    r_best = Pipeline(_with_speech(manifest, no_speech="best_window", **deaf),
                      members).classify_audio(y)
    assert r_all.speech_windows == r_best.speech_windows == 0
    assert r_all.label == r_best.label == SILENCE
    np.testing.assert_allclose(r_all.probs, all_probs.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(r_best.probs, all_probs[best], atol=1e-6)
