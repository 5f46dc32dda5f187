"""Where audio comes from: a microphone, a WAV file played as one, or raw PCM on stdin.

Every source is an iterator of float32 mono chunks at the models' sample rate, plus counters
(samples captured, dropped, device overflows), so the pipeline never knows which it has.
The microphone's PortAudio callback only copies into a :class:`~edge.ringbuffer.RingBuffer`;
all work happens in the consumer, and if it falls behind the oldest audio is dropped, counted
and reported, never blocking capture.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edge.deps import require
from edge.errors import AudioError, DeviceError
from edge.native_stderr import NativeStderrMute, install_native_silencers, quiet_stderr
from edge.ringbuffer import RingBuffer

if TYPE_CHECKING:
    from edge.profiles import InputConfig


@dataclass(frozen=True)
class SourceStats:
    """Counters since the source started (samples at the capture rate)."""

    captured: int = 0  # samples delivered by the device / file / pipe
    dropped: int = 0  # samples lost because the consumer fell behind
    overflows: int = 0  # input overflows reported by the device itself


class AudioSource(Protocol):
    """An iterator of float32 mono chunks at ``sample_rate``; ``stop`` ends it from any thread."""

    name: str
    sample_rate: int

    def __iter__(self) -> Iterator[np.ndarray]: ...

    def stats(self) -> SourceStats: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


def _pyaudio() -> Any:
    return require("pyaudio", "microphone input",
                   "sudo apt install portaudio19-dev && pip install pyaudio "
                   "(or use --source FILE / --source -)")


def _open_portaudio() -> tuple[Any, Any]:
    pyaudio = _pyaudio()
    install_native_silencers()
    with quiet_stderr():
        pa = pyaudio.PyAudio()
    return pyaudio, pa


# ---- devices --------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    default_rate: int
    host_api: str
    is_default: bool


def _input_devices(pa: Any) -> list[InputDevice]:
    try:
        default = pa.get_default_input_device_info()["index"]
    except OSError:
        default = None
    devices = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        if int(info.get("maxInputChannels", 0)) <= 0:
            continue
        try:
            api = pa.get_host_api_info_by_index(info["hostApi"])["name"]
        except (OSError, KeyError):
            api = "?"
        devices.append(InputDevice(i, str(info["name"]), int(info["maxInputChannels"]),
                                   int(info["defaultSampleRate"]), api, i == default))
    return devices


def list_input_devices() -> list[InputDevice]:
    """Every device PortAudio can capture from (what ``edge-ser devices`` prints)."""
    _, pa = _open_portaudio()
    try:
        return _input_devices(pa)
    finally:
        with quiet_stderr():
            pa.terminate()


def select_device(devices: list[InputDevice], device: str | int | None) -> InputDevice:
    """An index, a case-insensitive name substring (exact name preferred), or the default."""
    if not devices:
        raise DeviceError("no audio input device found (is the microphone plugged in? "
                          "`edge-ser devices` lists what PortAudio sees)")
    if device is None:
        for d in devices:
            if d.is_default:
                return d
        raise DeviceError("there is no default input device; choose one with --device "
                          "(see `edge-ser devices`)")
    if isinstance(device, int) or (isinstance(device, str) and device.strip().isdigit()):
        index = int(device)
        for d in devices:
            if d.index == index:
                return d
        raise DeviceError(f"input device {index} does not exist or cannot capture "
                          f"(inputs: {_names(devices)})")
    wanted = device.strip().lower()
    exact = [d for d in devices if d.name.lower() == wanted]
    if exact:
        return exact[0]
    matches = [d for d in devices if wanted in d.name.lower()]
    if not matches:
        raise DeviceError(f"no input device matches {device!r} (inputs: {_names(devices)})")
    return matches[0]


def _names(devices: list[InputDevice]) -> str:
    return ", ".join(f"{d.index}: {d.name}" for d in devices) or "none"


# ---- microphone -------------------------------------------------------------------------
class _RingFedSource:
    """A source filled by a capture callback or thread through a ring buffer."""

    _stop: threading.Event
    _ring: RingBuffer | None

    def stop(self) -> None:
        """End iteration (safe from a signal handler or another thread)."""
        self._stop.set()
        if self._ring is not None:
            self._ring.close()


class MicrophoneSource(_RingFedSource):
    """Live capture with PyAudio: int16 at ``rate`` (or the device's own rate, resampled).

    Args:
        device: index, name substring, or None for the default input.
        sample_rate: the rate chunks are delivered at (the models' rate).
        rate: the rate asked of the device; if it refuses, its default rate is used and
            resampled to ``sample_rate``.
        frames_per_buffer: samples per callback.
        buffer_seconds: ring-buffer size; beyond it the oldest audio is dropped.
        stall_seconds: no audio for this long means the device is gone (DeviceError).
        start_seconds: the same before the first audio (PulseAudio takes ~1 s to start).
    """

    def __init__(self, device: str | int | None = None, sample_rate: int = 16000,
                 rate: int | None = None, frames_per_buffer: int = 1600,
                 buffer_seconds: float = 10.0, stall_seconds: float = 2.0,
                 start_seconds: float = 5.0) -> None:
        self.device = device
        self.sample_rate = sample_rate
        self.requested_rate = rate or sample_rate
        self.frames_per_buffer = frames_per_buffer
        self.buffer_seconds = buffer_seconds
        self.stall_seconds = stall_seconds
        self.start_seconds = start_seconds
        self.name = "microphone"
        self.device_info: InputDevice | None = None
        self.capture_rate = self.requested_rate
        self._pyaudio: Any = None
        self._pa: Any = None
        self._stream: Any = None
        self._ring: RingBuffer | None = None
        self._channels = 1
        self._overflows = 0
        self._captured = 0
        self._stop = threading.Event()
        self._resampler: Any = None
        self._mute = NativeStderrMute()

    # ---- lifecycle ------------------------------------------------------------------
    def open(self) -> MicrophoneSource:
        """Find the device and start capturing (idempotent)."""
        if self._stream is not None:
            return self
        self._pyaudio, self._pa = _open_portaudio()
        self._mute.start()
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        pyaudio, pa = self._pyaudio, self._pa
        info = select_device(_input_devices(pa), self.device)
        self.device_info = info
        self.name = f"microphone {info.index}: {info.name}"
        self._channels = 1
        rate = self._supported_rate(info)
        self.capture_rate = rate
        self._ring = RingBuffer(max(int(self.buffer_seconds * rate), self.frames_per_buffer * 2))
        frames = max(16, round(self.frames_per_buffer * rate / self.sample_rate))
        last: Exception | None = None
        for channels in sorted({1, min(2, info.channels)}):
            try:
                with quiet_stderr():
                    self._stream = pa.open(
                        format=pyaudio.paInt16, channels=channels, rate=rate, input=True,
                        input_device_index=info.index, frames_per_buffer=frames,
                        stream_callback=self._callback, start=False)
                self._channels = channels
                break
            except (OSError, ValueError) as exc:
                last = exc
        if self._stream is None:
            raise _device_error(info, last)
        if rate != self.sample_rate:
            from edge.resample import StreamingResampler

            self._resampler = StreamingResampler(rate, self.sample_rate)
        try:
            with quiet_stderr():
                self._stream.start_stream()
        except OSError as exc:
            raise _device_error(info, exc) from None

    def _supported_rate(self, info: InputDevice) -> int:
        for rate in (self.requested_rate, info.default_rate):
            try:
                with quiet_stderr():
                    ok = self._pa.is_format_supported(
                        rate, input_device=info.index, input_channels=1,
                        input_format=self._pyaudio.paInt16)
                if ok:
                    return int(rate)
            except ValueError:
                continue
        return int(info.default_rate)

    def _callback(self, in_data: bytes | None, frame_count: int, time_info: Any,
                  status: int) -> tuple[None, int]:
        # the audio thread: copy and return, nothing else
        if status & self._pyaudio.paInputOverflow:
            self._overflows += 1
        if in_data:
            data = np.frombuffer(in_data, dtype=np.int16)
            if self._channels > 1:
                data = data[:: self._channels]
            self._ring.write(data)
            self._captured += data.size
        return None, (self._pyaudio.paComplete if self._stop.is_set() else self._pyaudio.paContinue)

    def close(self) -> None:
        self.stop()
        with quiet_stderr():
            if self._stream is not None:
                with contextlib.suppress(OSError, IOError):
                    self._stream.stop_stream()
                with contextlib.suppress(OSError, IOError):
                    self._stream.close()
                self._stream = None
            if self._pa is not None:
                self._pa.terminate()
                self._pa = None
        self._mute.stop()

    def __enter__(self) -> MicrophoneSource:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- consumer -------------------------------------------------------------------
    def __iter__(self) -> Iterator[np.ndarray]:
        self.open()
        ring = self._ring
        assert ring is not None
        block = max(self.frames_per_buffer, 160)
        last_audio = time.monotonic()
        limit = max(self.start_seconds, self.stall_seconds)
        while not self._stop.is_set():
            data = ring.read(block, timeout=0.1)
            now = time.monotonic()
            if data.size == 0:
                if self._stop.is_set():
                    break
                active = self._stream is not None and self._stream.is_active()
                if not active or now - last_audio > limit:
                    name = self.device_info.name if self.device_info else "?"
                    raise DeviceError(
                        f"input device {name!r} stopped delivering audio "
                        f"({'stream ended' if not active else f'nothing for {limit:g} s'}"
                        "; unplugged?)")
                continue
            last_audio, limit = now, self.stall_seconds
            chunk = data.astype(np.float32) * np.float32(1 / 32768)
            if self._resampler is not None:
                chunk = self._resampler.process(chunk)
            if chunk.size:
                yield chunk

    def stats(self) -> SourceStats:
        r = self._ring.stats() if self._ring is not None else None
        return SourceStats(self._captured, r.dropped if r else 0, self._overflows)


def _device_error(info: InputDevice, exc: BaseException | None) -> DeviceError:
    text = str(exc) if exc else "unknown error"
    code = exc.args[1] if isinstance(exc, OSError) and len(exc.args) > 1 else None
    low = text.lower()
    if code == -9985 or "unavailable" in low or "busy" in low:
        return DeviceError(f"input device {info.index} ({info.name}) is busy or unavailable: "
                           f"is another program using it? ({text})")
    if code == -9997 or "sample rate" in low:
        return DeviceError(f"input device {info.index} ({info.name}) refuses {info.default_rate} "
                           f"Hz mono capture ({text})")
    return DeviceError(f"cannot open input device {info.index} ({info.name}): {text}")


# ---- paced capture -------------------------------------------------------------------------
class PacedSource(_RingFedSource):
    """Blocks of audio delivered in real time by a capture thread, exactly as a microphone does.

    The thread plays PortAudio's part: it hands each block over once its last sample "has been
    spoken" (``sent / sample_rate`` seconds after the start) by writing it into a
    :class:`~edge.ringbuffer.RingBuffer`, and it never waits for the consumer. A consumer slower
    than real time therefore loses the *oldest* audio beyond ``buffer_seconds``; the loss is
    counted in :meth:`stats` (and reported in every decision), and capture keeps its schedule.
    ``max_lateness`` is the most the capture thread ever fell behind that schedule.

    Args:
        make_blocks: called once per iteration, on the consumer's thread (so a bad file fails
            at once); the iterator it returns is drained on the capture thread. An exception
            it raises part-way (a corrupt sample, a device that vanished) reaches the consumer
            after the audio captured before it.
        sample_rate: rate of the blocks (and of the chunks delivered).
        buffer_seconds: ring-buffer size.
        read_seconds: most audio handed to the consumer per chunk.
    """

    def __init__(self, make_blocks: Callable[[], Iterable[np.ndarray]], sample_rate: int = 16000,
                 name: str = "paced source", buffer_seconds: float = 10.0,
                 read_seconds: float = 0.1) -> None:
        self.make_blocks = make_blocks
        self.sample_rate = sample_rate
        self.name = name
        self.capacity = max(1, int(buffer_seconds * sample_rate))
        self.read_samples = max(1, int(read_seconds * sample_rate))
        self.max_lateness = 0.0
        self._captured = 0
        self._ring: RingBuffer | None = None
        self._stop = threading.Event()

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._stop.is_set():
            return
        blocks = iter(self.make_blocks())
        ring = RingBuffer(self.capacity, dtype=np.float32)
        self._ring = ring
        failure: list[BaseException] = []
        thread = threading.Thread(target=self._capture, args=(blocks, ring, failure),
                                  name="edge-ser capture", daemon=True)
        thread.start()
        try:
            while not self._stop.is_set():
                data = ring.read(self.read_samples, timeout=0.1)
                if data.size:
                    yield data
                elif ring.closed and len(ring) == 0:  # capture ended and everything was read
                    break
            if not self._stop.is_set():
                thread.join()  # the ring is closed: the capture thread has finished
                if failure:
                    raise failure[0]
        finally:  # also when the consumer stops iterating early
            self._stop.set()
            ring.close()
            thread.join(timeout=2.0)

    def _capture(self, blocks: Iterator[np.ndarray], ring: RingBuffer,
                 failure: list[BaseException]) -> None:
        t0 = time.monotonic()
        sent = 0
        try:
            for block in blocks:
                sent += block.size
                due = t0 + sent / self.sample_rate
                while not self._stop.is_set() and (delay := due - time.monotonic()) > 0:
                    self._stop.wait(delay)
                if self._stop.is_set():
                    return
                self.max_lateness = max(self.max_lateness, time.monotonic() - due)
                ring.write(block)  # never blocks: drops the oldest when the consumer lags
                self._captured += block.size
        except BaseException as exc:  # handed to the consumer's thread
            failure.append(exc)
        finally:
            close = getattr(blocks, "close", None)
            if close is not None:
                close()
            ring.close()

    def stats(self) -> SourceStats:
        dropped = self._ring.stats().dropped if self._ring is not None else 0
        return SourceStats(self._captured, dropped, 0)

    def close(self) -> None:
        self.stop()


# ---- file ---------------------------------------------------------------------------------
class FileSource:
    """A WAV file delivered like a microphone: in real time, or as fast as it can be read.

    Read in blocks (bounded memory whatever the file's length) and resampled to
    ``sample_rate`` by :func:`edge.wav.iter_wav_blocks`. In real time the file is played by a
    :class:`PacedSource`: a capture thread and a ring buffer of ``buffer_seconds``, so a slow
    consumer loses (and counts) the oldest audio, as with a microphone. As fast as possible,
    nothing is ever dropped: the reader simply waits for the consumer.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int = 16000,
                 realtime: bool = True, block_seconds: float = 0.1,
                 buffer_seconds: float = 10.0) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.realtime = realtime
        self.block_seconds = block_seconds
        self.buffer_seconds = buffer_seconds
        self.name = f"file {self.path}"
        self._captured = 0
        self._paced: PacedSource | None = None
        self._stop = threading.Event()

    def __iter__(self) -> Iterator[np.ndarray]:
        from edge.wav import iter_wav_blocks

        def blocks() -> Iterator[np.ndarray]:  # a bad file raises here, naming the problem
            return iter_wav_blocks(self.path, self.block_seconds, self.sample_rate)

        if self.realtime:
            self._paced = PacedSource(blocks, self.sample_rate, self.name,
                                      buffer_seconds=self.buffer_seconds,
                                      read_seconds=self.block_seconds)
            if self._stop.is_set():
                return
            yield from self._paced
            return
        for block in blocks():
            if self._stop.is_set():
                return
            self._captured += block.size
            yield np.asarray(block, dtype=np.float32)

    def stats(self) -> SourceStats:
        if self._paced is not None:
            return self._paced.stats()
        return SourceStats(self._captured, 0, 0)

    def stop(self) -> None:
        self._stop.set()
        if self._paced is not None:
            self._paced.stop()

    def close(self) -> None:
        self.stop()


# ---- stdin --------------------------------------------------------------------------------
class StdinSource:
    """Raw PCM, signed 16-bit little-endian mono at ``sample_rate``, from a pipe (``--source -``).

    e.g. ``arecord -f S16_LE -r 16000 -c 1 -t raw | edge-ser listen --source -``. Reads with a
    timeout so a stop request is honoured even while the pipe is quiet.
    """

    def __init__(self, sample_rate: int = 16000, block_seconds: float = 0.1,
                 fd: int | None = None) -> None:
        self.sample_rate = sample_rate
        self.block_bytes = max(2, int(block_seconds * sample_rate) * 2)
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.name = "stdin (s16le mono)"
        self._captured = 0
        self._stop = threading.Event()

    def __iter__(self) -> Iterator[np.ndarray]:
        pending = b""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
            except (OSError, ValueError):  # not selectable (e.g. some files): block instead
                ready = [self.fd]
            if not ready:
                continue
            try:
                data = os.read(self.fd, self.block_bytes)
            except OSError as exc:
                raise AudioError(f"cannot read audio from stdin: {exc.strerror}") from None
            if not data:
                break
            data = pending + data
            usable = len(data) - len(data) % 2
            pending = data[usable:]
            if usable:
                pcm = np.frombuffer(data[:usable], dtype="<i2")
                self._captured += pcm.size
                yield pcm.astype(np.float32) * np.float32(1 / 32768)

    def stats(self) -> SourceStats:
        return SourceStats(self._captured, 0, 0)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.stop()


# ---- choosing a source ---------------------------------------------------------------------
def open_source(spec: str | None, sample_rate: int, input_config: InputConfig, *,
                device: str | int | None = None, realtime: bool = True) -> AudioSource:
    """The source ``listen`` options name: ``spec`` None is the microphone (``device``, else
    the profile's), ``"-"`` raw s16le mono PCM on stdin, anything else a WAV file (played in
    real time unless ``realtime`` is False). A microphone is opened here (DeviceError if it
    cannot be), so a reconnect loop can simply call this again."""
    if spec == "-":
        return StdinSource(sample_rate)
    if spec is not None:
        return FileSource(spec, sample_rate, realtime=realtime,
                          buffer_seconds=input_config.buffer_seconds)
    return MicrophoneSource(device if device is not None else input_config.device, sample_rate,
                            rate=input_config.rate,
                            frames_per_buffer=input_config.frames_per_buffer,
                            buffer_seconds=input_config.buffer_seconds).open()
