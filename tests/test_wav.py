"""edge.wav: every supported format against soundfile, hand-built headers, and every way a file
can be wrong (each must be one AudioError line that names the file and the problem)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from edge.errors import AudioError
from edge.resample import resample
from edge.wav import iter_wav_blocks, read_wav, wav_info, write_wav, write_wav_bytes

GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
FORMATS = [("pcm", 8, "PCM_U8"), ("pcm", 16, "PCM_16"), ("pcm", 24, "PCM_24"),
           ("pcm", 32, "PCM_32"), ("float", 32, "FLOAT"), ("float", 64, "DOUBLE")]


# -- hand-built WAV bytes (independent of edge.wav's writer) -------------------------------

def chunk(cid: bytes, body: bytes, size: int | None = None, pad: bool = True,
          endian: str = "<") -> bytes:
    n = len(body) if size is None else size
    return cid + struct.pack(endian + "I", n) + body + (b"\0" if pad and len(body) % 2 else b"")


def fmt(tag: int = 1, ch: int = 1, sr: int = 16000, bits: int = 16, align: int | None = None,
        ext: tuple[int, bytes] | None = None, endian: str = "<") -> bytes:
    """A 'fmt ' chunk; ``ext=(valid_bits, guid)`` makes it WAVE_FORMAT_EXTENSIBLE."""
    align = ch * bits // 8 if align is None else align
    body = struct.pack(endian + "HHIIHH", 0xFFFE if ext else tag, ch, sr, sr * align, align, bits)
    if ext:
        body += struct.pack(endian + "HHI", 22, ext[0], 0) + ext[1]
    return chunk(b"fmt ", body, endian=endian)


def riff(*chunks: bytes, magic: bytes = b"RIFF", form: bytes = b"WAVE",
         size: int | None = None) -> bytes:
    body = form + b"".join(chunks)
    endian = ">" if magic == b"RIFX" else "<"
    return magic + struct.pack(endian + "I", len(body) if size is None else size) + body


def pcm16(values: list[int] | np.ndarray) -> bytes:
    return np.asarray(values, "<i2").tobytes()


def put(tmp: Path, data: bytes, name: str = "x.wav") -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def fails(path: Path, *needles: str, **kwargs) -> str:
    """read_wav must raise one AudioError line naming the file and containing each needle."""
    with pytest.raises(AudioError) as err:
        read_wav(path, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    for needle in needles:
        assert needle.lower() in msg.lower(), msg
    return msg


# -- formats -------------------------------------------------------------------------------

@pytest.mark.parametrize(("encoding", "bits", "name"), FORMATS)
@pytest.mark.parametrize("extensible", [False, True])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_every_format_matches_soundfile(tmp_path: Path, encoding: str, bits: int, name: str,
                                        extensible: bool, channels: int) -> None:
    sf = pytest.importorskip("soundfile")
    x = np.random.default_rng(bits + channels).uniform(-1, 1, (3001, channels))
    path = write_wav(tmp_path / "a.wav", x, 22050, bits, encoding=encoding, extensible=extensible)
    ref, sr = sf.read(path, dtype="float64", always_2d=True)
    assert sr == 22050 and sf.info(str(path)).subtype == name
    audio = read_wav(path)
    assert audio.samples.dtype == np.float32 and audio.samples.shape == (3001,)
    assert (audio.sr, audio.source_sr, audio.channels, audio.bits, audio.format) == \
        (22050, 22050, channels, bits, name)
    assert audio.duration == pytest.approx(3001 / 22050) and audio.path == path
    np.testing.assert_allclose(audio.samples, ref.mean(axis=1), atol=1e-7)
    info = wav_info(path)
    assert (info.frames, info.format, info.extensible) == (3001, name, extensible)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("container", ["WAV", "WAVEX", "RF64"])
def test_files_written_by_libsndfile(tmp_path: Path, subtype: str, container: str) -> None:
    sf = pytest.importorskip("soundfile")
    x = np.random.default_rng(1).uniform(-0.9, 0.9, (999, 2))
    path = tmp_path / "sf.wav"
    sf.write(path, x, 44100, subtype=subtype, format=container)
    ref = sf.read(path, dtype="float64")[0].mean(axis=1)
    audio = read_wav(path)
    np.testing.assert_allclose(audio.samples, ref, atol=1e-7)
    assert wav_info(path).container == ("RF64" if container == "RF64" else "RIFF")


def test_integer_scaling_matches_the_soundfile_convention(tmp_path: Path) -> None:
    data = pcm16([-32768, -1, 0, 1, 32767])
    assert read_wav(put(tmp_path, riff(fmt(), chunk(b"data", data)))).samples.tolist() == \
        [-1.0, -1 / 32768, 0.0, 1 / 32768, 32767 / 32768]
    u8 = riff(fmt(bits=8), chunk(b"data", bytes([0, 128, 255])))
    assert read_wav(put(tmp_path, u8)).samples.tolist() == [-1.0, 0.0, 127 / 128]
    s24 = b"\x00\x00\x80" + b"\xff\xff\xff" + b"\xff\xff\x7f"
    assert read_wav(put(tmp_path, riff(fmt(bits=24), chunk(b"data", s24)))).samples.tolist() \
        == [-1.0, -1 / 2**23, (2**23 - 1) / 2**23]
    s32 = np.array([-2**31, 2**30], "<i4").tobytes()
    assert read_wav(put(tmp_path, riff(fmt(bits=32), chunk(b"data", s32)))).samples.tolist() \
        == [-1.0, 0.5]


def test_multichannel_is_averaged(tmp_path: Path) -> None:
    frames = np.array([[1000, -1000, 0, 3000, 0, 2000], [6, 0, 0, 0, 0, 0]])
    path = put(tmp_path, riff(fmt(ch=6), chunk(b"data", pcm16(frames.ravel()))))
    assert read_wav(path).samples.tolist() == pytest.approx([5000 / 6 / 32768, 1 / 32768])
    assert read_wav(path).channels == 6


def test_extensible_20_bits_in_24_and_float_subformat(tmp_path: Path) -> None:
    s24 = (np.array([2**18, -2**18]) << 4).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
    path = put(tmp_path, riff(fmt(bits=24, ext=(20, b"\x01\x00" + GUID_TAIL)),
                              chunk(b"data", s24.tobytes())))
    info = wav_info(path)
    assert info.extensible and (info.bits, info.valid_bits, info.format) == (24, 20, "PCM_24")
    assert read_wav(path).samples.tolist() == [0.5, -0.5]
    f32 = np.array([0.25, -0.75], "<f4").tobytes()
    path = put(tmp_path, riff(fmt(bits=32, ext=(32, b"\x03\x00" + GUID_TAIL)),
                              chunk(b"data", f32)))
    assert read_wav(path).samples.tolist() == [0.25, -0.75]


def test_big_endian_rifx(tmp_path: Path) -> None:
    body = np.array([16384, -8192], ">i2").tobytes()
    path = put(tmp_path, riff(fmt(endian=">"), chunk(b"data", body, endian=">"), magic=b"RIFX"))
    assert read_wav(path).samples.tolist() == [0.5, -0.25]
    s24 = bytes([0x40, 0, 0, 0xC0, 0, 0])
    path = put(tmp_path, riff(fmt(bits=24, endian=">"), chunk(b"data", s24, endian=">"),
                              magic=b"RIFX"))
    assert read_wav(path).samples.tolist() == [0.5, -0.5]
    guid = b"\x00\x00\x00\x01\x00\x00\x00\x10" + GUID_TAIL[-8:]  # GUID fields big-endian too
    path = put(tmp_path, riff(fmt(ext=(16, guid), endian=">"), chunk(b"data", body, endian=">"),
                              magic=b"RIFX"))
    assert read_wav(path).samples.tolist() == [0.5, -0.25]


def test_other_chunks_odd_padding_and_fmt_after_data(tmp_path: Path) -> None:
    audio = pcm16([100, 200, 300])
    odd = chunk(b"LIST", b"INFOISFT\x03\x00\x00\x00ab\x00")  # 15 bytes + pad byte
    for data in (riff(odd, fmt(), chunk(b"junk", b"\0" * 7), chunk(b"data", audio)),
                 riff(chunk(b"bext", b"x" * 9, pad=False), fmt(), chunk(b"data", audio)),
                 riff(chunk(b"data", audio), chunk(b"LIST", b"abc"), fmt()),
                 riff(fmt(), chunk(b"data", audio), chunk(b"LIST", b"trailing"))):
        out = read_wav(put(tmp_path, data))
        assert out.samples.tolist() == [100 / 32768, 200 / 32768, 300 / 32768]
        assert out.warnings == ()


def test_target_sr_resamples_and_max_seconds_truncates(tmp_path: Path) -> None:
    x = np.sin(2 * np.pi * 440 * np.arange(48000) / 48000) * 0.5
    path = write_wav(tmp_path / "a.wav", x, 48000, 24)
    full = read_wav(path)
    audio = read_wav(path, target_sr=16000)
    assert (audio.sr, audio.source_sr, audio.samples.size) == (16000, 48000, 16000)
    assert audio.duration == pytest.approx(1.0)
    np.testing.assert_array_equal(audio.samples, resample(full.samples, 48000, 16000))
    head = read_wav(path, max_seconds=0.25)
    np.testing.assert_array_equal(head.samples, full.samples[:12000])
    assert read_wav(path, target_sr=16000, max_seconds=0.25).samples.size == 4000
    assert read_wav(path, max_seconds=10).samples.size == 48000


@pytest.mark.parametrize(("sr", "target", "block"), [(16000, None, 0.5), (48000, 16000, 0.25),
                                                     (44100, 16000, 0.1), (8000, 16000, 0.37),
                                                     (22050, None, 10.0)])
def test_iter_wav_blocks_concatenates_to_read_wav(tmp_path: Path, sr: int, target: int | None,
                                                  block: float) -> None:
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (int(sr * 1.3), 2))
    path = write_wav(tmp_path / "a.wav", x, sr, 16)
    blocks = list(iter_wav_blocks(path, block, target))
    size = round(block * (target or sr))
    assert all(b.size == size for b in blocks[:-1]) and 0 < blocks[-1].size <= size
    assert all(b.dtype == np.float32 for b in blocks)
    np.testing.assert_allclose(np.concatenate(blocks), read_wav(path, target).samples, atol=1e-6)


def test_iter_wav_blocks_streams_ten_minutes_in_bounded_memory(tmp_path: Path) -> None:
    sr, seconds = 48000, 600
    path = tmp_path / "long.wav"
    n_bytes = sr * seconds * 2
    with open(path, "wb") as f:  # a sparse, silent 10-minute file with a 1 kHz blip at the start
        f.write(riff(fmt(sr=sr), chunk(b"data", pcm16(np.full(480, 1000)), size=n_bytes)))
        f.truncate(44 + n_bytes)
    tracemalloc.start()
    try:
        total = sum(b.size for b in iter_wav_blocks(path, 1.0, 16000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == 16000 * seconds
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"  # the file is 55 MiB


def test_iter_wav_blocks_raises_header_errors_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="does not exist"):
        iter_wav_blocks(tmp_path / "nope.wav", 1.0)
    path = write_wav(tmp_path / "a.wav", np.zeros(100), 16000)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(AudioError, match="block_seconds"):
            iter_wav_blocks(path, bad)


# -- writing -------------------------------------------------------------------------------

def test_write_wav_is_atomic_and_validates(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    path.write_bytes(b"old")
    write_wav(path, np.zeros(160), 16000)
    assert sorted(os.listdir(tmp_path)) == ["rec.wav"]  # no temporary left behind
    assert wav_info(path).frames == 160
    assert path.read_bytes() == write_wav_bytes(np.zeros(160), 16000)
    with pytest.raises(AudioError, match="does not exist"):
        write_wav(tmp_path / "missing" / "a.wav", np.zeros(10), 16000)
    with pytest.raises(AudioError, match="NaN"):
        write_wav(path, np.array([0.0, np.nan]), 16000)
    with pytest.raises(AudioError, match="12-bit"):
        write_wav(path, np.zeros(4), 16000, bits=12)
    with pytest.raises(AudioError, match="sample rate"):
        write_wav(path, np.zeros(4), 0)
    assert wav_info(path).frames == 160  # failed writes left the old file intact


def test_write_wav_clips_and_rounds() -> None:
    data = write_wav_bytes(np.array([-2.0, -1.0, 0.5, 1.0, 2.0, 1 / 65536]), 16000)
    assert np.frombuffer(data[-12:], "<i2").tolist() == [-32768, -32768, 16384, 32767, 32767, 0]


# -- errors --------------------------------------------------------------------------------

def test_missing_directory_empty(tmp_path: Path) -> None:
    fails(tmp_path / "missing.wav", "does not exist")
    fails(tmp_path, "directory")
    fails(put(tmp_path, b""), "empty", "0 bytes")
    with pytest.raises(AudioError, match="directory"):
        wav_info(tmp_path)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_wav(tmp_path / "a.wav", np.zeros(10), 16000)
    if os.name == "posix" and os.geteuid() != 0:
        path.chmod(0)
        fails(path, "permission denied")
        path.chmod(0o644)

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", deny)
    fails(path, "permission denied")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    code = ("import sys\nfrom edge.errors import AudioError\n"
            "from edge.wav import read_wav, wav_info, iter_wav_blocks\n"
            "for f in (read_wav, wav_info, lambda p: iter_wav_blocks(p, 1.0)):\n"
            "    try:\n        f(sys.argv[1])\n    except AudioError as e:\n        print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True,
                         text=True, timeout=30)
    lines = out.stdout.splitlines()
    assert out.returncode == 0 and len(lines) == 3, out.stderr
    assert all("fifo" in line.lower() and str(fifo) in line for line in lines)


@pytest.mark.parametrize(("data", "needle"), [
    (b"FORM\0\0\0\x20AIFFCOMM", "aiff"),
    (b"ID3\x04\0\0\0\0\0\x0f" + b"\0" * 30, "mp3"),
    (b"\xff\xfb\x90\x64" + b"\0" * 40, "mp3"),
    (b"fLaC\0\0\0\x22" + b"\0" * 40, "flac"),
    (b"OggS\0\x02" + b"\0" * 40, "ogg"),
    (b"hello, not audio\n", "text"),
    (b"RIFF\x10\0\0\0AVI LIST", "'AVI '"),
    (b"\x00\x01\x02\x03\x04\x05\x06\x07\x08", "00 01 02"),
])
def test_not_a_wav_says_what_it_looks_like(tmp_path: Path, data: bytes, needle: str) -> None:
    fails(put(tmp_path, data), "not a WAV", needle)


@pytest.mark.parametrize(("data", "needle"), [
    (b"RIFF\x04\0", "truncated"),
    (b"RIFF\x04\0\0\0WAV", "truncated"),
    (riff(), "no 'fmt '"),
    (riff(fmt()[:20]), "truncated"),
    (riff(chunk(b"data", pcm16([1, 2]))), "no 'fmt '"),
    (riff(fmt()), "no 'data'"),
    (riff(fmt(), chunk(b"LIST", b"x" * 8, size=1000)), "no 'data'"),
    (riff(chunk(b"fmt ", b"\x01\x00\x01\x00")), "too short"),
])
def test_truncated_or_incomplete_headers(tmp_path: Path, data: bytes, needle: str) -> None:
    fails(put(tmp_path, data), needle)


@pytest.mark.parametrize(("tag", "name"), [(2, "ADPCM"), (7, "mu-law"), (6, "A-law"),
                                           (0x55, "MP3"), (0x1234, "unknown")])
def test_unsupported_encodings(tmp_path: Path, tag: int, name: str) -> None:
    fails(put(tmp_path, riff(fmt(tag=tag, bits=8), chunk(b"data", b"\0" * 8))), "unsupported",
          name)


@pytest.mark.parametrize(("header", "needle"), [
    (fmt(ch=0, align=2), "0 channels"),
    (fmt(ch=65), "65 channels"),
    (fmt(sr=0), "0 hz"),
    (fmt(sr=2_000_000), "sample rate 2000000"),
    (fmt(bits=12, align=2), "12 bits per sample for pcm"),
    (fmt(tag=3, bits=16), "16 bits per sample for ieee float"),
    (fmt(bits=0, align=2), "0 bits"),
    (fmt(ch=2, align=2), "block_align"),
    (fmt(bits=16, ext=(24, b"\x01\x00" + GUID_TAIL)), "24 valid bits"),
    (fmt(bits=16, ext=(16, b"\x01\x00" + b"\x11" * 14)), "sub-format"),
    (chunk(b"fmt ", struct.pack("<HHIIHH", 0xFFFE, 1, 8000, 16000, 2, 16)), "too short"),
])
def test_impossible_header_values(tmp_path: Path, header: bytes, needle: str) -> None:
    fails(put(tmp_path, riff(header, chunk(b"data", b"\0" * 64))), needle)


def test_zero_frames(tmp_path: Path) -> None:
    fails(put(tmp_path, riff(fmt(), chunk(b"data", b""))), "no audio", "0 frames")
    fails(put(tmp_path, riff(fmt(), chunk(b"data", b""), chunk(b"LIST", b"abcd"))), "0 frames")
    fails(put(tmp_path, riff(fmt(ch=2), chunk(b"data", b"\1\2\3"))), "0 frames")
    assert wav_info(put(tmp_path, riff(fmt(), chunk(b"data", b"")))).frames == 0
    with pytest.raises(AudioError, match="0 frames"):
        iter_wav_blocks(tmp_path / "x.wav", 1.0)


@pytest.mark.parametrize(("value", "needle"), [(np.nan, "nan"), (np.inf, "infinite"),
                                               (-np.inf, "infinite"), (1e30, "implausible")])
@pytest.mark.parametrize("dtype", ["<f4", "<f8"])
def test_non_finite_float_samples(tmp_path: Path, value: float, needle: str, dtype: str) -> None:
    x = np.zeros(20, dtype)
    x[13] = value
    bits = 8 * x.itemsize
    path = put(tmp_path, riff(fmt(tag=3, bits=bits), chunk(b"data", x.tobytes())))
    assert "frame 13" in fails(path, needle)
    with pytest.raises(AudioError, match=f"(?i){needle}"):
        list(iter_wav_blocks(path, 0.001))


# -- lying sizes ---------------------------------------------------------------------------

def test_data_size_larger_than_the_file_reads_what_is_there(tmp_path: Path) -> None:
    data = chunk(b"data", pcm16([1, 2, 3]) + b"\x04", size=4000, pad=False)
    path = put(tmp_path, riff(fmt(), data))
    audio = read_wav(path)
    assert audio.samples.tolist() == [1 / 32768, 2 / 32768, 3 / 32768]  # partial frame dropped
    joined = " ".join(audio.warnings)
    assert "claims 4000 bytes" in joined and "partial last frame" in joined
    assert wav_info(path).frames == 3


@pytest.mark.parametrize("size", [0xFFFFFFFF, 0])
def test_streamed_wav_placeholders_read_to_the_end(tmp_path: Path, size: int) -> None:
    path = put(tmp_path, riff(fmt(), chunk(b"data", pcm16([5, -5, 7]), size=size), size=size))
    audio = read_wav(path)
    assert audio.samples.tolist() == [5 / 32768, -5 / 32768, 7 / 32768]
    assert audio.warnings == ()


def test_riff_size_is_ignored(tmp_path: Path) -> None:
    for size in (0, 4, 10**6):
        path = put(tmp_path, riff(fmt(), chunk(b"data", pcm16([9, 9])), size=size))
        assert read_wav(path).samples.size == 2


def test_rf64_with_ds64(tmp_path: Path) -> None:
    audio = pcm16([1, 2, 3, 4])
    ds64 = chunk(b"ds64", struct.pack("<QQQI", 0, len(audio), 4, 0))
    path = put(tmp_path, riff(ds64, fmt(), chunk(b"data", audio, size=0xFFFFFFFF),
                              chunk(b"LIST", b"abcd"), magic=b"RF64", size=0xFFFFFFFF))
    assert read_wav(path).samples.size == 4
    assert wav_info(path).container == "RF64"


def test_invalid_arguments_are_audio_errors(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", np.zeros(100), 16000)
    for kwargs in ({"target_sr": 0}, {"target_sr": 16000.5}, {"max_seconds": 0},
                   {"max_seconds": float("nan")}):
        with pytest.raises(AudioError):
            read_wav(path, **kwargs)
