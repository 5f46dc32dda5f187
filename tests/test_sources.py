"""Audio sources: a WAV paced like a microphone or as fast as possible, raw PCM on stdin,
device selection and the errors a user meets when there is no (usable) microphone."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures.synth import syllables

from edge.errors import AudioError, DeviceError
from edge.recorder import WavRecorder
from edge.sources import (
    FileSource,
    InputDevice,
    MicrophoneSource,
    StdinSource,
    _device_error,
    open_source,
    select_device,
)
from edge.wav import read_wav, write_wav

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("src") / "one.wav"
    write_wav(path, syllables(3, 1.0, seed=1), 16000)
    return path


def test_file_source_fast_delivers_the_file(wav: Path) -> None:
    src = FileSource(wav, 16000, realtime=False, block_seconds=0.1)
    t0 = time.monotonic()
    chunks = list(src)
    elapsed = time.monotonic() - t0
    y = np.concatenate(chunks)
    np.testing.assert_array_equal(y, read_wav(wav).samples)
    assert {c.size for c in chunks[:-1]} == {1600} and chunks[0].dtype == np.float32
    assert src.stats().captured == 16000 and src.stats().dropped == 0
    assert elapsed < 0.5  # 1 s of audio, not paced


def test_file_source_realtime_is_paced_like_a_microphone(wav: Path) -> None:
    src = FileSource(wav, 16000, realtime=True, block_seconds=0.1)
    t0 = time.monotonic()
    arrivals = [(time.monotonic() - t0, c.size) for c in src]
    # block k arrives once its last sample "has been spoken": after (k+1) * 0.1 s
    assert arrivals[0][0] >= 0.09 and arrivals[-1][0] >= 0.98
    assert arrivals[-1][0] < 1.6
    assert sum(n for _, n in arrivals) == 16000


def test_file_source_stops_on_request_and_reports_missing_files(wav: Path, tmp_path: Path) -> None:
    src = FileSource(wav, 16000, realtime=True)
    threading.Timer(0.25, src.stop).start()
    t0 = time.monotonic()
    n = sum(c.size for c in src)
    assert time.monotonic() - t0 < 0.6 and n < 16000
    with pytest.raises(AudioError, match="file does not exist"):
        list(FileSource(tmp_path / "nope.wav", 16000))


def test_file_source_resamples(tmp_path: Path) -> None:
    path = tmp_path / "44k.wav"
    write_wav(path, syllables(3, 1.0, seed=2, sr=44100), 44100)
    y = np.concatenate(list(FileSource(path, 16000, realtime=False)))
    assert abs(y.size - 16000) <= 1


def test_stdin_source_reads_s16le_across_odd_reads() -> None:
    pcm = (np.arange(-5000, 5000, 7, dtype=np.int16)).astype("<i2").tobytes()
    r, w = os.pipe()

    def writer() -> None:
        for i in range(0, len(pcm), 333):  # odd-sized writes split samples between reads
            os.write(w, pcm[i:i + 333])
            time.sleep(0.001)
        os.close(w)

    threading.Thread(target=writer).start()
    src = StdinSource(16000, fd=r)
    y = np.concatenate(list(src))
    os.close(r)
    expected = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    np.testing.assert_array_equal(y, expected)
    assert src.stats().captured == expected.size


def test_stdin_source_in_a_real_process() -> None:
    code = ("import numpy as np\nfrom edge.sources import StdinSource\n"
            "y = np.concatenate(list(StdinSource(16000)))\n"
            "print(y.size, round(float(y.max()), 4))")
    pcm = (np.full(4801, 16384, dtype="<i2")).tobytes() + b"\x01"  # a trailing half sample
    out = subprocess.run([sys.executable, "-c", code], input=pcm, capture_output=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().split() == ["4801", "0.5"]


def test_stdin_source_stop_while_the_pipe_is_quiet() -> None:
    r, w = os.pipe()
    src = StdinSource(16000, fd=r)
    threading.Timer(0.2, src.stop).start()
    t0 = time.monotonic()
    assert list(src) == []
    assert time.monotonic() - t0 < 1.0
    os.close(r)
    os.close(w)


# ---- devices -------------------------------------------------------------------------------
DEVICES = [
    InputDevice(0, "HDA Intel PCH: ALC257 Analog (hw:0,0)", 2, 44100, "ALSA", False),
    InputDevice(3, "USB PnP Sound Device: Audio (hw:2,0)", 1, 48000, "ALSA", False),
    InputDevice(7, "pulse", 32, 44100, "ALSA", False),
    InputDevice(8, "default", 32, 44100, "ALSA", True),
]


def test_select_device_by_index_name_or_default() -> None:
    assert select_device(DEVICES, None).index == 8
    assert select_device(DEVICES, 3).index == 3
    assert select_device(DEVICES, "7").index == 7
    assert select_device(DEVICES, "usb").index == 3  # case-insensitive substring
    assert select_device(DEVICES, "default").index == 8  # an exact name beats substrings


def test_select_device_errors_are_one_clear_line() -> None:
    with pytest.raises(DeviceError, match="no audio input device found"):
        select_device([], None)
    with pytest.raises(DeviceError, match=r"input device 5 does not exist.*3: USB PnP"):
        select_device(DEVICES, 5)
    with pytest.raises(DeviceError, match=r"no input device matches 'blue yeti'"):
        select_device(DEVICES, "blue yeti")
    with pytest.raises(DeviceError, match="no default input device"):
        select_device(DEVICES[:2], None)


def test_portaudio_errors_become_device_errors() -> None:
    usb = DEVICES[1]
    busy = _device_error(usb, OSError("[Errno -9985] Device unavailable", -9985))
    assert "busy or unavailable" in str(busy) and "USB PnP" in str(busy)
    rate = _device_error(usb, OSError("[Errno -9997] Invalid sample rate", -9997))
    assert "refuses" in str(rate)
    other = _device_error(usb, OSError("[Errno -9999] Unanticipated host error", -9999))
    assert str(other).startswith("cannot open input device 3")


def _isolated_audio_env(tmp_path: Path) -> dict[str, str]:
    """No sound card, no PulseAudio: what a headless box without a microphone looks like."""
    (tmp_path / "run").mkdir(mode=0o700)
    conf = tmp_path / "client.conf"
    conf.write_text("autospawn = no\n")
    return {**os.environ, "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "run"),
            "PULSE_CLIENTCONFIG": str(conf), "PULSE_SERVER": f"unix:{tmp_path}/none"}


def test_no_microphone_is_a_device_error_without_chatter(tmp_path: Path) -> None:
    code = ("from edge.sources import MicrophoneSource, list_input_devices\n"
            "from edge.errors import DeviceError\n"
            "print(len(list_input_devices()))\n"
            "try:\n    MicrophoneSource().open()\nexcept DeviceError as e:\n    print('ERR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env=_isolated_audio_env(tmp_path), timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    if lines[0] != "0":
        pytest.skip("this machine has a real capture device")
    assert lines[1].startswith("ERR no audio input device found")
    assert out.stderr == ""  # PortAudio's ALSA/JACK start-up chatter is silenced


def test_quiet_stderr_and_native_mute(tmp_path: Path) -> None:
    code = ("import os, sys\nfrom edge.native_stderr import quiet_stderr, NativeStderrMute\n"
            "with quiet_stderr():\n    os.write(2, b'native-1\\n')\n"
            "m = NativeStderrMute(); m.start()\n"
            "os.write(2, b'native-2\\n'); print('python-visible', file=sys.stderr)\n"
            "m.stop(); os.write(2, b'native-3\\n')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         timeout=60)
    assert out.returncode == 0
    assert out.stderr.splitlines() == ["python-visible", "native-3"]


def test_microphone_source_defaults() -> None:
    mic = MicrophoneSource("usb", 16000, frames_per_buffer=800)
    assert mic.requested_rate == 16000 and mic.stats().captured == 0 and mic.name == "microphone"
    mic.close()  # closing an unopened source is harmless


def test_recorder_writes_what_was_heard(tmp_path: Path) -> None:
    rec = WavRecorder(tmp_path / "heard.wav", 16000)
    y = syllables(2, 0.5, seed=3)
    rec.write(y[:3000])
    rec.write(y[3000:])
    rec.close()
    back = read_wav(tmp_path / "heard.wav")
    assert back.sr == 16000 and rec.samples == y.size
    np.testing.assert_allclose(back.samples, y, atol=1 / 32768)
    with pytest.raises(AudioError, match="cannot record"):
        WavRecorder(tmp_path / "missing" / "x.wav", 16000)


def test_open_source_picks_what_the_options_name(tmp_path: Path) -> None:
    from edge.profiles import InputConfig

    wav = write_wav(tmp_path / "a.wav", syllables(1, 0.5), 16000)
    inp = InputConfig(buffer_seconds=3.0)
    src = open_source(str(wav), 16000, inp, realtime=False)
    assert isinstance(src, FileSource) and not src.realtime and src.buffer_seconds == 3.0
    assert sum(c.size for c in src) == 8000
