"""A long `listen`, simulated faster than real time: does memory stay flat, is any window lost?

The device runs for days; this runs the live loop (:func:`edge.live.run_stream`, the code
behind ``edge-ser listen``) over an hour of audio in well under a minute and reports resident
memory along the way and the window accounting:

* windows in: what the audio fed in must produce (``window_starts`` over the frames of every
  sample, the last ones completed by the end-of-input flush);
* windows out: what the pipeline produced, with indices checked to be 0, 1, 2, ... (none
  skipped, none repeated), and every sample heard (none dropped).

The source is generated (speech-like syllable runs and pauses from ``edge.bench``, cycled) or
a WAV file (``--source``, read as fast as possible). Decisions go through the real JSON-lines
output into a sink that only counts them.

    python benchmarks/long_run.py                    # 60 simulated minutes, fixture models
    python benchmarks/long_run.py --minutes 10 --json
    python benchmarks/long_run.py --source long.wav --models MODELS
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.bench import bench_audio  # noqa: E402
from edge.frontend.windows import window_starts  # noqa: E402
from edge.live import run_stream  # noqa: E402
from edge.manifest import load_manifest  # noqa: E402
from edge.outputs import JsonLines  # noqa: E402
from edge.pipeline import Pipeline  # noqa: E402
from edge.sources import FileSource, SourceStats  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "models" / "tiny"


def rss_mib() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MiB."""
    values = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line[:5]] = int(line.split()[1]) / 1024
    return values["VmRSS"], values["VmHWM"]


class GeneratedSource:
    """``seconds`` of speech-like audio with pauses, as 0.1 s chunks (an AudioSource)."""

    def __init__(self, seconds: float, sample_rate: int = 16000, chunk_seconds: float = 0.1
                 ) -> None:
        self.name = "generated speech and pauses"
        self.sample_rate = sample_rate
        self.total = round(seconds * sample_rate)
        self.chunk = round(chunk_seconds * sample_rate)
        rng = np.random.default_rng(7)
        pause = (10 ** (-65 / 20) * rng.standard_normal(8 * sample_rate)).astype(np.float32)
        talk = [bench_audio(3.0, sample_rate, seed=s) for s in range(5)]  # 15 s, in pieces
        self.pattern = np.concatenate([*talk[:3], pause, *talk[3:], pause[:3 * sample_rate]])
        self._captured = 0
        self._stopped = False

    def __iter__(self) -> Iterator[np.ndarray]:
        pos = 0
        while self._captured < self.total and not self._stopped:
            n = min(self.chunk, self.total - self._captured)
            if pos + n > self.pattern.size:
                pos = 0
            self._captured += n
            yield self.pattern[pos:pos + n]
            pos += n

    def stats(self) -> SourceStats:
        return SourceStats(self._captured, 0, 0)

    def stop(self) -> None:
        self._stopped = True

    def close(self) -> None:
        self.stop()


class CountingSink:
    """A text stream that keeps only the number of lines and bytes written to it."""

    def __init__(self) -> None:
        self.lines = self.bytes = 0

    def write(self, text: str) -> int:
        self.lines += text.count("\n")
        self.bytes += len(text)
        return len(text)

    def flush(self) -> None:
        pass


def run(minutes: float, models: Path, source: Path | None = None,
        sample_every_s: float = 60.0) -> dict:
    rss_start, _ = rss_mib()
    manifest = load_manifest(models)
    pipeline = Pipeline(manifest)
    sr = manifest.frontend.sr
    rss_loaded, _ = rss_mib()
    src = (FileSource(source, sr, realtime=False) if source is not None
           else GeneratedSource(minutes * 60, sr))
    rss_ready, _ = rss_mib()  # the generator's pattern is in memory too: growth counts from here
    samples: list[tuple[float, float]] = []  # (audio minutes, RSS MiB)
    indices = {"next": 0, "bad": 0}
    push, flush = pipeline.push, pipeline.flush

    def checked(results: list) -> list:
        for r in results:  # every window exactly once, in order
            indices["bad"] += r.index != indices["next"]
            indices["next"] = r.index + 1
        return results

    next_sample = [0.0]

    def push_and_sample(chunk: np.ndarray) -> list:
        out = checked(push(chunk))
        if pipeline.stream_seconds >= next_sample[0]:
            samples.append((pipeline.stream_seconds / 60, rss_mib()[0]))
            next_sample[0] += sample_every_s
        return out

    pipeline.push = push_and_sample  # type: ignore[method-assign]
    pipeline.flush = lambda: checked(flush())  # type: ignore[method-assign]
    sink = CountingSink()
    out = JsonLines(manifest.labels, stream=sink)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    summary = run_stream(pipeline, lambda: src, out.emit)
    wall = time.perf_counter() - t0
    rss_end, hwm = rss_mib()
    samples.append((pipeline.stream_seconds / 60, rss_end))
    heard = src.stats().captured
    n_frames = manifest.frontend.n_frames(heard)
    expected = len(window_starts(n_frames, pipeline.window_frames, pipeline.hop_frames))
    warm = next((r for m, r in samples if m >= 1.0), samples[0][1])
    return {
        "models": str(models),
        "source": str(source) if source else "generated",
        "audio_minutes": heard / sr / 60,
        "wall_seconds": wall,
        "real_time_factor": wall / (heard / sr),
        "samples_in": heard,
        "samples_heard": round(summary.seconds * sr),
        "samples_dropped": summary.dropped,
        "windows_in": expected,
        "windows_out": summary.windows,
        "window_index_errors": indices["bad"],
        "decisions": summary.events,
        "json_lines": sink.lines,
        "rss_mib": {"process_start": rss_start, "models_loaded": rss_loaded,
                    "loop_start": rss_ready, "after_1_min": warm, "end": rss_end, "peak": hwm,
                    "growth": rss_end - rss_ready, "growth_after_1_min": rss_end - warm},
        "rss_timeline": [[round(m, 2), round(r, 2)] for m, r in samples],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="simulated audio (generated)")
    ap.add_argument("--models", type=Path, default=FIXTURE, help="model folder")
    ap.add_argument("--source", type=Path, help="a WAV file instead of generated audio")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    r = run(args.minutes, args.models, args.source)
    if args.json:
        print(json.dumps(r))
        return 0
    m = r["rss_mib"]
    ok = r["windows_in"] == r["windows_out"] and not r["window_index_errors"]
    print(f"long run: {r['audio_minutes']:.1f} min of {r['source']} audio in "
          f"{r['wall_seconds']:.1f} s ({1 / r['real_time_factor']:.0f}x real time)")
    print(f"  windows   in {r['windows_in']}  out {r['windows_out']}  index errors "
          f"{r['window_index_errors']}  -> {'no window lost' if ok else 'WINDOWS LOST'}")
    print(f"  samples   in {r['samples_in']}  heard {r['samples_heard']}  dropped "
          f"{r['samples_dropped']};  decisions {r['decisions']} (JSON lines {r['json_lines']})")
    print(f"  RSS MiB   process start {m['process_start']:.1f}  models loaded "
          f"{m['models_loaded']:.1f}  loop start {m['loop_start']:.1f}  after 1 min "
          f"{m['after_1_min']:.1f}  end {m['end']:.1f}  peak {m['peak']:.1f}")
    print(f"            growth over the run {m['growth']:+.2f}, after the first minute "
          f"{m['growth_after_1_min']:+.2f}")
    step = max(1, len(r["rss_timeline"]) // 8)
    print("  RSS over time (min: MiB): " + "  ".join(
        f"{t:g}: {v:.1f}" for t, v in r["rss_timeline"][::step]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
