"""Real capture: PortAudio → ALSA `pulse` plugin → a PulseAudio null sink used as a virtual
microphone (docs: TESTBEDS.md). A generated clip is played into it with paplay and
`edge-ser listen --device pulse` must hear it and decide on it, end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from fixtures.synth import silence, syllables
from fixtures.tiny import TINY

from edge.wav import write_wav

pytestmark = [
    pytest.mark.audio,
    pytest.mark.skipif(shutil.which("pulseaudio") is None or shutil.which("paplay") is None
                       or shutil.which("pactl") is None,
                       reason="needs pulseaudio and pulseaudio-utils (paplay, pactl): "
                              "apt install pulseaudio pulseaudio-utils libasound2-plugins"),
]


class VirtualMic:
    """A private PulseAudio daemon (own HOME/XDG_RUNTIME_DIR) with a 16 kHz mono null sink."""

    def __init__(self, root: Path) -> None:
        run = root / "run"
        run.mkdir(mode=0o700)
        (root / "client.conf").write_text("autospawn = no\n")
        self.env = {**os.environ, "HOME": str(root), "XDG_RUNTIME_DIR": str(run),
                    "PULSE_CLIENTCONFIG": str(root / "client.conf")}
        self.env.pop("PULSE_SERVER", None)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
             "-L", "module-native-protocol-unix",
             "-L", "module-null-sink sink_name=vmic rate=16000 channels=1"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"pulseaudio exited with {self.proc.returncode}")
            if self.pactl("info").returncode == 0:
                break
            time.sleep(0.05)
        else:
            pytest.fail("pulseaudio did not come up within 10 s")
        assert self.pactl("set-default-sink", "vmic").returncode == 0
        assert self.pactl("set-default-source", "vmic.monitor").returncode == 0

    def pactl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True,
                              timeout=10)

    def play(self, wav: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["paplay", "--device=vmic", str(wav)], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def vmic() -> Iterator[VirtualMic]:
    root = Path(tempfile.mkdtemp(prefix="edge-ser-pulse-"))
    mic = VirtualMic(root)
    try:
        mic.start()
        yield mic
    finally:
        mic.kill()  # always, whatever the test did
        shutil.rmtree(root, ignore_errors=True)


def listen(mic: VirtualMic, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "listen", "--models", str(TINY), *args],
        cwd=REPO, env=mic.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_microphone_source_hears_the_played_clip(vmic: VirtualMic, tmp_path: Path) -> None:
    code = """
import sys, time, numpy as np
from edge.sources import MicrophoneSource
src = MicrophoneSource("pulse", 16000, frames_per_buffer=800).open()
print("rate", src.capture_rate, flush=True)
got, t0 = [], None
for c in src:
    got.append(c)
    if t0 is None:
        t0 = time.monotonic()
        print("audio", flush=True)  # PulseAudio takes ~1 s to start delivering
    if time.monotonic() - t0 > float(sys.argv[1]):
        break
src.close()
np.save(sys.argv[2], np.concatenate(got))
print("stats", src.stats().captured, src.stats().dropped)
"""
    y = np.concatenate([silence(0.3), syllables(5, 1.5, seed=1), silence(0.3)])
    wav = tmp_path / "clip.wav"
    write_wav(wav, y, 16000)
    out = tmp_path / "heard.npy"
    proc = subprocess.Popen([sys.executable, "-c", code, "3.0", str(out)], cwd=REPO,
                            env=vmic.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "rate 16000"
    assert proc.stdout.readline().strip() == "audio"
    vmic.play(wav).wait(10)
    _stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert stderr == ""  # no ALSA/JACK/PortAudio chatter
    heard = np.load(out)
    assert heard.size > 2 * 16000
    # find the clip in what was captured: a 16 kHz mono sink is a sample-exact copy
    ref = y[int(0.3 * 16000):int(1.8 * 16000)]
    corr = np.correlate(heard, ref[:4000], mode="valid")
    k = int(np.argmax(np.abs(corr)))
    seg = heard[k:k + ref.size]
    r = np.corrcoef(seg, ref[:seg.size])[0, 1]
    assert r > 0.95, f"captured audio does not match the played clip (r={r:.3f})"


@pytest.mark.slow
def test_listen_on_the_virtual_microphone(vmic: VirtualMic, tmp_path: Path) -> None:
    y = np.concatenate([silence(0.5), syllables(4, 3.0, seed=2), silence(0.5)])
    wav = tmp_path / "angry.wav"
    write_wav(wav, y, 16000)
    proc = listen(vmic, "--device", "pulse", "--duration", "7", "--json")
    first = json.loads(proc.stdout.readline())  # capture is running: nobody speaks yet
    assert first["label"] == "silence" and first["speech"] is False and first["t"] == 1.0
    player = vmic.play(wav)
    out, err = proc.communicate(timeout=60)
    player.wait(10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "ALSA lib" not in err and "jack" not in err.lower()
    events = [json.loads(x) for x in out.splitlines()]
    speech = [e for e in events if e["speech"]]
    assert speech and speech[0]["label"] == "angry", events
    assert speech[0]["confidence"] >= 0.5 and speech[0]["t"] > 1.0
    assert all(e["dropped"]["samples"] == 0 for e in events)
    assert "7.0 s heard" in err and "stopped by --duration 7" in err


def test_unknown_device_name_is_one_line(vmic: VirtualMic) -> None:
    proc = listen(vmic, "--device", "no-such-mic", "--duration", "1")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 5 and out == ""
    assert err.strip().splitlines() == [
        "edge-ser: error: no input device matches 'no-such-mic' (inputs: 0: pulse, 1: default)"]


def test_device_disappearing_mid_run(vmic: VirtualMic) -> None:
    proc = listen(vmic, "--device", "pulse", "--duration", "30", "--json")
    time.sleep(2.5)
    vmic.kill()  # the "microphone" goes away
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 5
    errors = [ln for ln in err.splitlines() if ln.strip()]
    assert errors == ["edge-ser: error: input device 'pulse' stopped delivering audio "
                      "(stream ended; unplugged?)"], err
