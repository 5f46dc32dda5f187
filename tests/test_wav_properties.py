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
from edge.resample import StreamingResampler, filter_length, resample
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


# ---- headers that lie: whatever is read is a prefix of the truth --------------------------------
@st.composite
def lying_files(draw: st.DrawFn) -> tuple[bytes, np.ndarray, int]:
    """(file bytes, the true mono samples, frames really present) of a valid file whose sizes
    were then falsified or whose end was cut off."""
    encoding, bits = draw(st.sampled_from(FORMATS))
    channels = draw(st.integers(1, 3))
    frames = draw(st.integers(1, 200))
    x = np.random.default_rng(draw(st.integers(0, 2**16))).uniform(-1, 1, (frames, channels))
    raw = bytearray(write_wav_bytes(x, 8000, bits, encoding=encoding))
    data_at = raw.index(b"data") + 8
    align = channels * bits // 8
    lie = draw(st.sampled_from(["riff_size", "data_size_bigger", "data_unknown", "data_zero",
                                "cut"]))
    present = frames
    if lie == "riff_size":
        raw[4:8] = struct.pack("<I", draw(st.integers(0, 2**32 - 1)))
    elif lie == "data_size_bigger":
        raw[data_at - 4:data_at] = struct.pack("<I", draw(st.integers(frames * align + 1,
                                                                      2**32 - 2)))
    elif lie == "data_unknown":
        raw[data_at - 4:data_at] = struct.pack("<I", 0xFFFFFFFF)
    elif lie == "data_zero":
        raw[data_at - 4:data_at] = struct.pack("<I", 0)
    else:
        keep = draw(st.integers(data_at, len(raw) - 1))
        del raw[keep:]
        present = (keep - data_at) // align
    truth = expected_mono(x, encoding, bits).astype(np.float32)
    if lie.startswith("data_") and (len(raw) - data_at) // align > frames:
        # "to the end of the file": an odd-sized chunk's pad byte (0x00) is one more 8-bit
        # mono sample, -1.0; nothing tells it apart from audio
        present += 1
        truth = np.append(truth, np.float32(-1.0))
    return bytes(raw), truth, present


@FUZZ
@given(case=lying_files(), block=st.floats(0.001, 0.05), target=st.sampled_from([None, 16000]))
def test_lying_headers_read_a_prefix_of_the_truth(scratch: Path, case, block: float,
                                                  target: int | None) -> None:
    raw, truth, present = case
    scratch.write_bytes(raw)
    if present == 0:
        with pytest.raises(AudioError, match="no audio"):
            read_wav(scratch)
        return
    audio = read_wav(scratch)
    assert audio.samples.size == present  # every whole frame that is there, nothing invented
    np.testing.assert_allclose(audio.samples, truth[:present], atol=2e-7)
    streamed = np.concatenate(list(iter_wav_blocks(scratch, block, target)))
    np.testing.assert_allclose(streamed, read_wav(scratch, target_sr=target).samples, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(fmt=st.sampled_from(FORMATS), channels=st.integers(1, 3),
       sr=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]),
       seconds=st.floats(0.01, 0.6), block=st.floats(0.005, 0.4),
       target=st.sampled_from([None, 8000, 16000, 22050]), seed=st.integers(0, 2**16))
def test_blocks_equal_the_whole_file_for_any_block_and_rate(
        scratch: Path, fmt: tuple[str, int], channels: int, sr: int, seconds: float, block: float,
        target: int | None, seed: int) -> None:
    encoding, bits = fmt
    x = np.random.default_rng(seed).uniform(-1, 1, (max(1, round(seconds * sr)), channels))
    write_wav(scratch, x, sr, bits, encoding=encoding)
    whole = read_wav(scratch, target_sr=target).samples
    blocks = list(iter_wav_blocks(scratch, block, target))
    out_sr = target or sr
    size = max(1, round(block * out_sr))
    assert all(b.size == size and b.dtype == np.float32 for b in blocks[:-1])
    assert 0 < blocks[-1].size <= size
    np.testing.assert_allclose(np.concatenate(blocks), whole, atol=1e-6, rtol=0)


# ---- the resampler keeps what it must keep ------------------------------------------------------
COMMON = st.sampled_from([8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000])


@settings(max_examples=60, deadline=None)
@given(sr_in=COMMON, sr_out=COMMON, fraction=st.floats(0.05, 0.85), phase=st.floats(0, 6.3),
       amplitude=st.floats(0.01, 1.0))
def test_a_passband_tone_keeps_its_frequency_and_amplitude(sr_in: int, sr_out: int,
                                                           fraction: float, phase: float,
                                                           amplitude: float) -> None:
    """A tone below 0.85 of the lower Nyquist comes out as the same tone sampled at the new
    rate (the filter is flat to 0.90 and zero-phase)."""
    f = fraction * min(sr_in, sr_out) / 2
    n = sr_in // 5  # 0.2 s
    x = amplitude * np.sin(2 * np.pi * f * np.arange(n) / sr_in + phase)
    y = resample(x.astype(np.float32), sr_in, sr_out)
    want = amplitude * np.sin(2 * np.pi * f * np.arange(y.size) / sr_out + phase)
    edge = filter_length(sr_in, sr_out) * sr_out // sr_in + 2  # the zero-padded ends
    inner = slice(edge, y.size - edge)
    assert y[inner].size > 0.5 * y.size
    np.testing.assert_allclose(y[inner], want[inner], atol=2e-4 * amplitude + 2e-6)


@settings(max_examples=40, deadline=None)
@given(sr_in=RATE, sr_out=RATE, level=st.floats(-1, 1), n=st.integers(0, 4000))
def test_silence_stays_silent_and_dc_stays_dc(sr_in: int, sr_out: int, level: float,
                                              n: int) -> None:
    assume(sr_in <= 1000 * sr_out and n * sr_out <= 50_000 * sr_in)
    assert not resample(np.zeros(n, np.float32), sr_in, sr_out).any()
    y = resample(np.full(n, level, np.float32), sr_in, sr_out)
    edge = filter_length(sr_in, sr_out) * sr_out // sr_in + 2
    np.testing.assert_allclose(y[edge:y.size - edge], level, atol=1e-5)


def test_a_streamed_wav_whose_audio_looks_like_a_chunk_id(scratch: Path) -> None:
    """Found by the property above: data size 0 (a streamed WAV), then audio whose first four
    bytes happen to be printable ASCII ("vNJS"). It is audio, not a chunk: the size after
    those bytes (2.9 GB) does not fit in the file."""
    raw = bytearray(write_wav_bytes(np.zeros(2), 8000, 32))
    at = raw.index(b"data") + 4
    raw[at:at + 4] = b"\0\0\0\0"
    raw[at + 4:at + 12] = b"vNJS\xcd\xb1\xf5\xac"
    scratch.write_bytes(bytes(raw))
    assert read_wav(scratch).samples.size == 2
