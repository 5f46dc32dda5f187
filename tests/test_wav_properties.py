"""Property tests: no byte string makes edge.wav raise anything but AudioError, valid files
round-trip, and the resampler keeps its length and chunking invariants."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edge.errors import AudioError
from edge.resample import StreamingResampler, resample
from edge.wav import iter_wav_blocks, read_wav, wav_info, write_wav, write_wav_bytes

FORMATS = [("pcm", 8), ("pcm", 16), ("pcm", 24), ("pcm", 32), ("float", 32), ("float", 64)]
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "f.wav"


def only_audio_errors(path: Path, target_sr: int | None) -> None:
    """Every entry point either works or raises AudioError, for whatever is in ``path``."""
    for call in (lambda: wav_info(path),
                 lambda: read_wav(path, target_sr=target_sr),
                 lambda: read_wav(path, max_seconds=0.01),
                 lambda: list(iter_wav_blocks(path, 0.003, target_sr))):
        try:
            call()
        except AudioError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)


@FUZZ
@given(data=st.binary(max_size=300), target=st.sampled_from([None, 16000]))
def test_arbitrary_bytes_raise_only_audio_errors(scratch: Path, data: bytes,
                                                 target: int | None) -> None:
    scratch.write_bytes(data)
    only_audio_errors(scratch, target)


def small_wav(encoding: str, bits: int, channels: int, sr: int, frames: int,
              extensible: bool) -> bytes:
    x = np.sin(np.arange(frames * channels)).reshape(frames, channels) * 0.9
    return write_wav_bytes(x, sr, bits, encoding=encoding, extensible=extensible)


@st.composite
def mutated_wavs(draw: st.DrawFn) -> bytes:
    """A valid file with header fields, sizes and bytes corrupted: reaches deep code paths."""
    encoding, bits = draw(st.sampled_from(FORMATS))
    data = bytearray(small_wav(encoding, bits, draw(st.integers(1, 3)),
                               draw(st.sampled_from([8000, 16000, 44100])),
                               draw(st.integers(0, 40)), draw(st.booleans())))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        kind = draw(st.sampled_from(["byte", "u16", "u32", "cut", "insert"]))
        pos = draw(st.integers(0, max(0, min(len(data), 80) - 1)) | st.integers(8, 79))
        pos = min(pos, len(data) - 1)
        if kind == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "u16":
            data[pos:pos + 2] = struct.pack("<H", draw(st.sampled_from(
                [0, 1, 2, 3, 7, 8, 12, 16, 24, 32, 64, 65, 0xFFFE, 0xFFFF])))
        elif kind == "u32":
            data[pos:pos + 4] = struct.pack("<I", draw(st.sampled_from(
                [0, 1, 7, 8, 16, 40, 1000, 16000, 2**31, 0xFFFFFFFE, 0xFFFFFFFF])))
        elif kind == "cut":
            del data[draw(st.integers(0, len(data))):]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=12))
    return bytes(data)


@FUZZ
@given(data=mutated_wavs(), target=st.sampled_from([None, 16000]))
def test_corrupted_wavs_raise_only_audio_errors(scratch: Path, data: bytes,
                                                target: int | None) -> None:
    scratch.write_bytes(data)
    only_audio_errors(scratch, target)


def expected_mono(x: np.ndarray, encoding: str, bits: int) -> np.ndarray:
    if encoding == "float":
        q = x.astype(np.float32 if bits == 32 else np.float64).astype(np.float64)
    else:
        full = 2.0 ** (bits - 1)
        q = np.clip(np.round(x * full), -full, full - 1) / full
    return q.mean(axis=1)


@settings(max_examples=120, deadline=None)
@given(fmt=st.sampled_from(FORMATS), channels=st.integers(1, 8),
       sr=st.one_of(st.sampled_from([8000, 16000, 22050, 44100, 48000]), st.integers(1, 192000)),
       frames=st.integers(1, 300), extensible=st.booleans(), seed=st.integers(0, 2**16))
def test_valid_files_round_trip(scratch: Path, fmt: tuple[str, int], channels: int, sr: int,
                                frames: int, extensible: bool, seed: int) -> None:
    encoding, bits = fmt
    x = np.random.default_rng(seed).uniform(-1.1, 1.1, (frames, channels))
    write_wav(scratch, x, sr, bits, encoding=encoding, extensible=extensible)
    audio = read_wav(scratch)
    assert (audio.sr, audio.source_sr, audio.channels, audio.bits) == (sr, sr, channels, bits)
    assert audio.samples.dtype == np.float32 and audio.warnings == ()
    np.testing.assert_allclose(audio.samples, expected_mono(x, encoding, bits), atol=2e-7)
    info = wav_info(scratch)
    assert (info.frames, info.extensible) == (frames, extensible)
    np.testing.assert_allclose(np.concatenate(list(iter_wav_blocks(scratch, 0.37))),
                               audio.samples, atol=1e-7)


# Rates: common ones, round ones (moderate up/down factors) and tiny ones (huge ratios).
# Downsampling by more than 1000× is left out only because its filters are huge (slow to build).
RATE = st.one_of(st.sampled_from([8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000]),
                 st.integers(1, 480).map(lambda k: k * 100), st.integers(1, 40))


@settings(max_examples=150, deadline=None)
@given(n=st.integers(0, 3000), sr_in=RATE, sr_out=RATE)
def test_resample_length(n: int, sr_in: int, sr_out: int) -> None:
    assume(sr_in <= 1000 * sr_out)
    if n * sr_out > 50_000 * sr_in:
        n = 50_000 * sr_in // sr_out  # keep huge upsampling ratios cheap
    y = resample(np.ones(n, np.float32), sr_in, sr_out)
    assert y.dtype == np.float32 and y.size == -(-n * sr_out // sr_in)
    assert np.isfinite(y).all()


@settings(max_examples=120, deadline=None)
@given(sr_in=RATE, sr_out=RATE, n=st.integers(0, 2000), seed=st.integers(0, 2**16),
       cuts=st.lists(st.integers(0, 2000), max_size=12))
def test_streaming_equals_batch(sr_in: int, sr_out: int, n: int, seed: int,
                                cuts: list[int]) -> None:
    assume(sr_in <= 1000 * sr_out)
    if n * sr_out > 50_000 * sr_in:
        n = 50_000 * sr_in // sr_out
    x = np.random.default_rng(seed).uniform(-1, 1, n).astype(np.float32)
    s = StreamingResampler(sr_in, sr_out)
    parts = [s.process(p) for p in np.split(x, sorted(min(c, n) for c in cuts))]
    y = np.concatenate([*parts, s.flush()])
    np.testing.assert_allclose(y, resample(x, sr_in, sr_out), atol=1e-6, rtol=0)
