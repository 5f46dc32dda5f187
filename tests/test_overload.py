"""A consumer slower than real time: capture (a paced producer thread feeding the ring buffer,
as PortAudio's callback does) never waits for it; the oldest audio is dropped, counted,
reported in the JSON stream, and the run goes on to the end."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, slow_members_child
from fixtures.synth import syllables
from fixtures.tiny import TINY

from edge.interpreter import load_members
from edge.live import run_stream
from edge.outputs import JsonLines
from edge.pipeline import Pipeline
from edge.sources import FileSource, PacedSource
from edge.wav import write_wav

SR = 16000


class SlowMember:
    """A real member that takes ``delay`` seconds longer per window (a Pi 3 on a big model)."""

    def __init__(self, member, delay: float) -> None:  # type: ignore[no-untyped-def]
        self.member, self.delay = member, delay

    def predict(self, x: np.ndarray) -> np.ndarray:
        time.sleep(self.delay)
        return self.member.predict(x)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return syllables(4, 3.0, seed=21)  # speech throughout: every window runs the members


def slow_pipeline(manifest) -> Pipeline:  # type: ignore[no-untyped-def]
    """0.3 s of work for every 0.1 s of audio: 3x slower than real time."""
    members = [SlowMember(m, 0.1) for m in load_members(manifest)]
    return Pipeline(manifest, members, hop_seconds=0.1, run_on_silence=True)


def paced(y: np.ndarray, buffer_seconds: float) -> PacedSource:
    """Generated audio played in real time by a capture thread into a ring buffer."""
    return PacedSource(lambda: (y[i:i + 1600] for i in range(0, y.size, 1600)), SR,
                       "paced generator", buffer_seconds=buffer_seconds)


def test_a_slow_consumer_loses_the_oldest_audio_counted_and_reported(manifest, speech) -> None:
    pipeline = slow_pipeline(manifest)
    src = paced(speech, buffer_seconds=0.5)
    sink = io.StringIO()
    out = JsonLines(manifest.labels, stream=sink)
    t0 = time.monotonic()
    summary = run_stream(pipeline, lambda: src, out.emit)
    elapsed = time.monotonic() - t0
    stats = src.stats()

    assert summary.stopped_by == "end of input"  # it kept running to the end
    assert stats.captured == speech.size  # capture delivered everything, on schedule ...
    assert src.max_lateness < 0.05, src.max_lateness  # ... never waiting for the consumer
    assert summary.dropped == stats.dropped > SR // 2  # what the consumer could not take
    heard = pipeline.samples_pushed
    assert heard + summary.dropped == speech.size  # every sample is accounted for
    # the lag never exceeds the buffer: the audio, then at most the buffer's (and the last
    # window's) worth of work at 3x real time
    assert elapsed < 3.0 + 3 * (0.5 + 0.5) + 0.5, elapsed
    events = [json.loads(line) for line in sink.getvalue().splitlines()]
    reported = [e["dropped"]["samples"] for e in events]
    assert reported == sorted(reported) and 0 < reported[-1] <= summary.dropped
    # the loss is reported as it happens, not only with the next change of emotion: a line
    # repeats an unchanged decision to say that audio was dropped
    assert any(b["label"] == a["label"] and b["dropped"]["samples"] > a["dropped"]["samples"]
               for a, b in pairwise(events)), events


def test_a_fast_consumer_loses_nothing(manifest, speech) -> None:
    y = speech[:2 * SR]
    src = paced(y, buffer_seconds=0.5)
    pipeline = Pipeline(manifest)
    summary = run_stream(pipeline, lambda: src, lambda d, drops: None)
    assert summary.dropped == 0 and pipeline.samples_pushed == y.size
    assert summary.windows == 3 and summary.stopped_by == "end of input"  # 2 s, 0.5 s hop


def test_a_realtime_file_is_a_microphone_with_a_ring_buffer(manifest, speech,
                                                            tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    write_wav(path, speech, SR)
    pipeline = slow_pipeline(manifest)
    src = FileSource(path, SR, realtime=True, buffer_seconds=0.5)
    summary = run_stream(pipeline, lambda: src, lambda d, drops: None)
    assert summary.stopped_by == "end of input" and summary.dropped > 0
    assert src.stats().captured == speech.size
    assert pipeline.samples_pushed + summary.dropped == speech.size


SLOW_CHILD = slow_members_child(0.3)  # edge-ser with members slowed by 0.3 s


@pytest.mark.slow
def test_listen_reports_drops_in_its_json_and_keeps_going(speech, tmp_path: Path) -> None:
    """End to end: `edge-ser listen --source F --realtime --json` with slowed members and a
    profile with a 1 s buffer."""
    path = tmp_path / "speech.wav"
    write_wav(path, speech, SR)
    profile = tmp_path / "tight.toml"
    profile.write_text("[input]\nbuffer_seconds = 1.0\n")
    r = subprocess.run([sys.executable, "-c", SLOW_CHILD, "listen", "--source", str(path),
                        "--realtime", "--json", "--profile", str(profile), "--models", str(TINY)],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    drops = [e["dropped"]["samples"] for e in events]
    assert drops == sorted(drops) and drops[-1] > 0
    summary = r.stderr.strip().splitlines()[-1]
    assert "samples dropped" in summary and "stopped by end of input" in summary
    assert "3.0 s heard" not in summary  # what was dropped was never heard
