"""A long `listen`, shortened (benchmarks/long_run.py runs the hour): every window the audio
makes comes out, once and in order, nothing is dropped, and resident memory stays flat."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from fixtures.hostile import write_long_wav
from fixtures.tiny import TINY

from edge.timing import StageTimer


def long_run(*args: str) -> dict:
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "long_run.py"), "--json",
                        "--models", str(TINY), *args], cwd=REPO, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def check(r: dict, seconds: float) -> None:
    samples = round(seconds * 16000)
    frames = 1 + samples // 160
    windows = (frames - 100) // 50 + 1  # 1 s windows every 0.5 s, the last ones by the flush
    assert r["samples_in"] == r["samples_heard"] == samples and r["samples_dropped"] == 0
    assert r["windows_in"] == r["windows_out"] == windows  # count in = windows out
    assert r["window_index_errors"] == 0  # none skipped, none repeated, in order
    assert 0 < r["decisions"] == r["json_lines"] < windows
    rss = r["rss_mib"]
    # after the first minute (allocator and interpreter warm-up) memory must not grow; a list
    # of per-window timings, or frames kept per window, would add megabytes here
    assert abs(rss["growth_after_1_min"]) < 2.0, rss
    # the warm-up itself (first-use imports, FFT plans, arenas; more where Python compiles every
    # module because PYTHONDONTWRITEBYTECODE is set, as on CI) is bounded, not zero
    assert rss["growth"] < 12.0, rss
    timeline = [v for m, v in r["rss_timeline"] if m >= 1.0]
    assert max(timeline) - min(timeline) < 2.0, r["rss_timeline"]


def test_ten_simulated_minutes_lose_no_window_and_keep_memory_flat() -> None:
    r = long_run("--minutes", "10")
    check(r, 600.0)
    print(f"\n10 min: windows in {r['windows_in']} out {r['windows_out']}, RSS MiB "
          f"{r['rss_mib']['loop_start']:.1f} -> {r['rss_mib']['end']:.1f}, "
          f"{1 / r['real_time_factor']:.0f}x real time")


def test_a_long_file_source_loses_no_window(tmp_path: Path) -> None:
    path = write_long_wav(tmp_path / "five_minutes.wav", 300.0)
    r = long_run("--source", str(path))
    check(r, 300.0)


@pytest.mark.slow
def test_one_simulated_hour() -> None:
    r = long_run("--minutes", "60")
    check(r, 3600.0)


def test_stage_timer_memory_is_bounded() -> None:
    t = StageTimer(keep=100)
    for i in range(10_000):
        t.add("window", i / 1000)
        t.add("members", 0.001)
    kept = t.samples["window"]
    assert len(kept) == 100 and kept == [i / 1000 for i in range(9_900, 10_000)]
    s = t.summary()
    assert s["window"]["count"] == 10_000 and s["window"]["max_ms"] == pytest.approx(9999)
    assert s["window"]["median_ms"] == pytest.approx(9949.5)
    with pytest.raises(ValueError):
        StageTimer(keep=0)
