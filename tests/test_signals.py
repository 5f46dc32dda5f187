"""Stopping and losing the device: SIGTERM/SIGINT (systemd, Ctrl-C) end `listen` with exit 0,
complete JSON lines and no traceback, whatever the source is doing; a microphone that vanishes
mid-run ends the run with one clear line, or is waited for and reopened, as the profile says."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from conftest import REPO, slow_members_child
from fixtures.synth import silence, syllables
from fixtures.tiny import TINY

import edge.sources
from edge.cli import main
from edge.errors import DeviceError
from edge.sources import PacedSource
from edge.wav import write_wav

M = ["--models", str(TINY)]
SR = 16000
SPEECH = np.concatenate([silence(0.5, seed=1), syllables(4, 6.0, seed=2)])
PCM = (np.clip(SPEECH, -1, 1) * 32767).astype("<i2").tobytes()


def start(args: list[str], child: str | None = None) -> subprocess.Popen[bytes]:
    cmd = ([sys.executable, "-c", child, *args] if child
           else [sys.executable, "-m", "edge.cli", *args])
    return subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def feed_in_real_time(proc: subprocess.Popen[bytes], pcm: bytes, done: threading.Event) -> None:
    """Write 0.1 s of s16le every 0.1 s, like `arecord -t raw`, until told to stop."""
    step = SR // 10 * 2
    t0 = time.monotonic()
    for k, i in enumerate(range(0, len(pcm), step)):
        if done.is_set():
            return
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            proc.stdin.write(pcm[i:i + step])
            proc.stdin.flush()
        done.wait(max(0.0, t0 + (k + 1) * 0.1 - time.monotonic()))


def stop_with(proc: subprocess.Popen[bytes], sig: int) -> tuple[str, str, float]:
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    return out.decode(), err.decode(), time.monotonic() - t0


def assert_clean(out: str, err: str, returncode: int) -> list[dict]:
    assert returncode == 0, err
    assert "Traceback" not in err
    assert out == "" or out.endswith("\n")  # the last line is complete
    events = [json.loads(line) for line in out.splitlines()]
    assert "stopped by stop request" in err.strip().splitlines()[-1]
    return events


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_listen_on_stdin_while_audio_flows(sig: int) -> None:
    proc = start(["listen", "--source", "-", "--json", *M])
    done = threading.Event()
    writer = threading.Thread(target=feed_in_real_time, args=(proc, PCM, done), daemon=True)
    writer.start()
    try:
        first = proc.stdout.readline()  # the first decision: audio is flowing
        assert json.loads(first)["label"] == "angry"
        time.sleep(0.35)
        out, err, took = stop_with(proc, sig)
    finally:
        done.set()
        writer.join(5)
    events = assert_clean(first.decode() + out, err, proc.returncode)
    assert took < 2.0 and len(events) >= 1


def test_sigterm_while_stdin_is_quiet() -> None:
    """Nothing arrives (the microphone pipe is open but silent): still a prompt, clean stop."""
    proc = start(["listen", "--source", "-", *M])
    try:
        line = proc.stderr.readline().decode()  # "listening to stdin ..." once the models loaded
        assert line.startswith("edge-ser: listening to stdin")
        time.sleep(0.3)
        out, err, took = stop_with(proc, signal.SIGTERM)
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    assert proc.returncode == 0 and out == "" and took < 2.0
    assert "0.0 s heard, 0 windows" in err and "stopped by stop request" in err
    assert "Traceback" not in err


SLOW_CHILD = slow_members_child(0.2)  # edge-ser with members slowed by 0.2 s


def test_sigterm_during_overload_of_a_realtime_file(tmp_path: Path) -> None:
    """The consumer is busy (slow members), capture runs on its own thread: SIGTERM still ends
    both at once."""
    path = tmp_path / "speech.wav"
    write_wav(path, SPEECH, SR)
    proc = start(["listen", "--source", str(path), "--realtime", "--json", *M], SLOW_CHILD)
    try:
        first = proc.stdout.readline()
        assert json.loads(first)
        time.sleep(0.5)
        out, err, took = stop_with(proc, signal.SIGTERM)
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    assert_clean(first.decode() + out, err, proc.returncode)
    assert took < 2.0  # at most the window being classified (3 x 0.2 s) is finished


# ---- a microphone that disappears (simulated through the source interface) --------------------
class FakeMicrophone:
    """Stands in for MicrophoneSource: audio from a capture thread into a ring buffer, until
    the script says the device is unplugged (DeviceError, as the real one raises after
    ``stall_seconds`` without audio) or absent (cannot be opened)."""

    script: ClassVar[list[tuple[str, float]]] = []  # per open: (kind, seconds of audio)
    opened = 0

    def __init__(self, device=None, sample_rate: int = SR, rate=None,  # type: ignore[no-untyped-def]
                 frames_per_buffer: int = 1600, buffer_seconds: float = 10.0) -> None:
        self.sample_rate = sample_rate
        self.name = "microphone 3: USB PnP Sound Device"
        self.buffer_seconds = buffer_seconds
        self._paced: PacedSource | None = None

    def open(self) -> FakeMicrophone:
        kind, seconds = FakeMicrophone.script.pop(0)
        FakeMicrophone.opened += 1
        if kind == "absent":
            raise DeviceError("no audio input device found (is the microphone plugged in? "
                              "`edge-ser devices` lists what PortAudio sees)")

        def blocks() -> Iterator[np.ndarray]:
            n = round(seconds * SR)
            for i in range(0, n, 1600):
                yield SPEECH[i:min(i + 1600, n)]
            if kind == "unplugged":
                raise DeviceError("input device 'USB PnP Sound Device' stopped delivering audio "
                                  "(stream ended; unplugged?)")

        # 50x real time: the thread, the ring and the error hand-over are the real ones
        self._paced = PacedSource(blocks, SR * 50, self.name, self.buffer_seconds * 50)
        return self

    def __iter__(self) -> Iterator[np.ndarray]:
        assert self._paced is not None
        yield from self._paced

    def stats(self):  # type: ignore[no-untyped-def]
        return self._paced.stats() if self._paced else edge.sources.SourceStats()

    def stop(self) -> None:
        if self._paced:
            self._paced.stop()

    def close(self) -> None:
        self.stop()


def run_listen(monkeypatch: pytest.MonkeyPatch, script: list, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(edge.sources, "MicrophoneSource", FakeMicrophone)
    FakeMicrophone.script = list(script)
    FakeMicrophone.opened = 0
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["listen", "--json", *args, *M])
    return rc, out.getvalue(), err.getvalue()


def test_an_unplugged_microphone_ends_the_run_with_one_line(monkeypatch) -> None:
    rc, out, err = run_listen(monkeypatch, [("unplugged", 2.5)])  # default profile: exit
    assert rc == 5  # DeviceError: systemd (Restart=on-failure) starts it again
    assert "Traceback" not in err
    assert err.splitlines() == [
        "edge-ser: error: input device 'USB PnP Sound Device' stopped delivering audio "
        "(stream ended; unplugged?)"]
    events = [json.loads(line) for line in out.splitlines()]  # what was heard was reported
    assert events and events[0]["label"] == "angry"


def test_an_unplugged_microphone_is_waited_for_and_reopened(monkeypatch, tmp_path) -> None:
    profile = tmp_path / "usb.toml"
    profile.write_text('[input]\non_device_lost = "reconnect"\nreconnect_seconds = 0.05\n')
    script = [("unplugged", 2.5), ("absent", 0), ("absent", 0), ("audio", 3.0)]
    rc, out, err = run_listen(monkeypatch, script, "--profile", str(profile))
    assert rc == 0, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0] == ("edge-ser: input device 'USB PnP Sound Device' stopped delivering audio "
                        "(stream ended; unplugged?); reconnecting every 0.05 s")
    assert lines[1] == "edge-ser: audio input is back: microphone 3: USB PnP Sound Device"
    assert "5.5 s heard" in lines[-1] and "1 reconnect (" in lines[-1]
    assert FakeMicrophone.opened == 4 and not FakeMicrophone.script
    times = [json.loads(line)["t"] for line in out.splitlines()]
    assert times == sorted(times) and times[-1] > 2.5  # the clock goes on after the outage


def test_no_microphone_at_start_follows_the_profile_too(monkeypatch, tmp_path) -> None:
    rc, out, err = run_listen(monkeypatch, [("absent", 0)])
    assert rc == 5 and out == ""
    assert err.startswith("edge-ser: error: no audio input device found") and err.count("\n") == 1
    profile = tmp_path / "usb.toml"
    profile.write_text('[input]\non_device_lost = "reconnect"\nreconnect_seconds = 0.05\n')
    rc, out, err = run_listen(monkeypatch, [("absent", 0), ("audio", 1.5)], "--profile",
                              str(profile))
    assert rc == 0 and "retrying every 0.05 s" in err and "audio input is back" in err


def test_the_service_unit_stop_is_a_clean_exit_for_systemd() -> None:
    """Run the unit's own ExecStart arguments (audio on stdin instead of the microphone) with
    the unit's Environment, stop it with the unit's KillSignal and check what systemd would
    see: an exit it does not count as a failure (so Restart=on-failure leaves it stopped),
    within TimeoutStopSec (else systemd escalates to SIGKILL)."""
    import configparser
    import shlex

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(REPO / "firmware_config" / "edge-ser.service")
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "edge-ser"
    kill = getattr(signal, service.get("KillSignal", "SIGTERM"))  # systemd's default: SIGTERM
    timeout = float(service.get("TimeoutStopSec", "90"))
    ok_status = {0, *(int(x) for x in service.get("SuccessExitStatus", "").split() if x.isdigit())}
    env = {**os.environ}
    for assignment in shlex.split(service.get("Environment", "")):
        key, _, value = assignment.partition("=")
        env[key] = value
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", *argv[1:], "--source", "-", *M],
                            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    done = threading.Event()
    writer = threading.Thread(target=feed_in_real_time, args=(proc, PCM, done), daemon=True)
    writer.start()
    try:
        first = proc.stdout.readline()
        assert json.loads(first)["label"] == "angry"  # --json from the unit: journal lines
        out, err, took = stop_with(proc, kill)
    finally:
        done.set()
        writer.join(5)
    assert proc.returncode in ok_status, err
    assert took < timeout and "Traceback" not in err
    assert_clean(first.decode() + out, err, proc.returncode)
