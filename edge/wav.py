"""Read and write WAV files with the stdlib and NumPy only (it runs on the Pi).

The stdlib ``wave`` module is not used: it reads neither IEEE float nor WAVE_FORMAT_EXTENSIBLE
and believes whatever sizes a header claims. Here the chunks are walked by hand.

Read: RIFF (and big-endian RIFX, and RF64 for files over 4 GiB) holding PCM 8-bit unsigned,
16/24/32-bit signed, IEEE float 32/64, plain or WAVE_FORMAT_EXTENSIBLE with a PCM/float
sub-format; any channel count up to 64 (mixed to mono by averaging, like ``librosa.to_mono``);
any rate up to 1 MHz (resampled with :mod:`edge.resample`). Integers scale to [-1, 1) as
``int16 / 32768`` (the soundfile/librosa convention).

Headers that lie are common, so the policy is "read what is really there", as libsndfile and
ffmpeg do:

* the RIFF size is ignored (many writers get it wrong or leave a placeholder);
* a data size larger than the file (a truncated copy, a recording that was cut off) reads the
  whole frames that are present, with a warning (in ``.warnings`` and on the ``edge.wav``
  logger); a partial last frame is dropped, with a warning;
* a data size of 0xFFFFFFFF, or of 0 followed by audio rather than by another chunk, is the
  placeholder of a streamed WAV (ffmpeg/arecord to a pipe) and means "to the end of the file"
  (normal, so logged at INFO only);
* a missing pad byte after an odd-sized chunk is tolerated; 'fmt ' after 'data' is accepted.

Everything else that is wrong (not a regular file, not WAV, unsupported encoding, impossible
values, no frames, float samples that are NaN, infinite or beyond ±1e6) raises
:class:`edge.errors.AudioError` with one line that names the file and the problem.
"""

from __future__ import annotations

import math
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from edge.errors import AudioError
from edge.fsutil import atomic_write

if TYPE_CHECKING:
    from edge.resample import StreamingResampler

__all__ = [
    "Audio",
    "WavInfo",
    "iter_wav_blocks",
    "read_wav",
    "wav_info",
    "write_wav",
    "write_wav_bytes",
]



class _LazyLog:
    """``logging.getLogger(__name__)``, imported on first use: the logging package costs
    ~0.5 MB of resident memory on the device and most runs never log."""

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        import logging

        return getattr(logging.getLogger(__name__), name)


log = _LazyLog()

MAX_CHANNELS = 64
MAX_RATE = 1_000_000
MAX_LOAD_SAMPLES = 1 << 28  # 1 GiB of float32: beyond this, read_wav asks for streaming
MAX_FLOAT_MAGNITUDE = 1e6  # float samples are nominally ±1; beyond this the file is garbage
_BLOCK_FRAMES = 1 << 16  # frames decoded at a time when loading a whole file
_MAX_CHUNKS = 100_000

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"  # after the tag
_GUID_NODE = _GUID_TAIL[-8:]  # KSDATAFORMAT_SUBTYPE_*: {tag-0000-0010-8000-00aa00389b71}
_UNKNOWN_SIZE = 0xFFFFFFFF
_TAG_NAMES = {
    0x0002: "Microsoft ADPCM", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM",
    0x0016: "ITU G.723 ADPCM", 0x0031: "GSM 6.10", 0x0040: "G.721 ADPCM", 0x0050: "MPEG",
    0x0055: "MP3", 0x0092: "Dolby AC-3 SPDIF", 0x00FF: "AAC", 0x0160: "WMA", 0x0161: "WMA",
    0x0162: "WMA Pro", 0x0163: "WMA Lossless", 0x1610: "AAC (HE)", 0x2000: "Dolby AC-3",
    0xF1AC: "FLAC",
}
_FORMATS = {(_PCM, 8): "PCM_U8", (_PCM, 16): "PCM_16", (_PCM, 24): "PCM_24",
            (_PCM, 32): "PCM_32", (_FLOAT, 32): "FLOAT", (_FLOAT, 64): "DOUBLE"}
_CONVERT_HINT = "convert it first, e.g. `ffmpeg -i IN -ac 1 -ar 16000 -c:a pcm_s16le OUT.wav`"


@dataclass(frozen=True)
class WavInfo:
    """What the header says, corrected to what the file really holds."""

    path: Path
    container: str  # "RIFF", "RIFX" (big-endian) or "RF64"
    format: str  # "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT" or "DOUBLE"
    extensible: bool  # WAVE_FORMAT_EXTENSIBLE header
    sr: int
    channels: int
    bits: int  # container bits per sample
    valid_bits: int  # meaningful bits (extensible headers may say e.g. 20 of 24)
    block_align: int  # bytes per frame
    frames: int  # whole frames actually present
    data_offset: int
    warnings: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        return self.frames / self.sr

    @property
    def big_endian(self) -> bool:
        return self.container == "RIFX"


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded mono float32 audio and where it came from."""

    samples: np.ndarray  # float32, mono, at ``sr``
    sr: int  # rate of ``samples`` (the target rate when resampled)
    source_sr: int  # rate in the file
    channels: int  # channels in the file (now mixed to mono)
    bits: int
    format: str
    duration: float  # seconds of ``samples``
    path: Path | None = None
    warnings: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------
# Opening and header parsing
# ------------------------------------------------------------------------------------------

def _open(path: str | os.PathLike[str]) -> tuple[Path, BinaryIO, int]:
    """Open a regular file for reading without ever blocking on a FIFO or device."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise AudioError(f"{p}: file does not exist") from None
    except NotADirectoryError:
        raise AudioError(f"{p}: file does not exist (a parent is not a folder)") from None
    except PermissionError:
        raise AudioError(f"{p}: permission denied") from None
    except (OSError, ValueError) as exc:
        raise AudioError(f"{p}: cannot access: {_reason(exc)}") from None
    _check_regular(p, st.st_mode)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except PermissionError:
        raise AudioError(f"{p}: permission denied (cannot read the file)") from None
    except OSError as exc:
        raise AudioError(f"{p}: cannot open: {_reason(exc)}") from None
    try:
        st = os.fstat(fd)
        _check_regular(p, st.st_mode)  # it may have been swapped since stat()
        if st.st_size == 0:
            raise AudioError(f"{p}: file is empty (0 bytes)")
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return p, f, st.st_size


def _check_regular(p: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise AudioError(f"{p}: is a directory, not a WAV file")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                "a socket" if stat.S_ISSOCK(mode) else
                "a character device" if stat.S_ISCHR(mode) else
                "a block device" if stat.S_ISBLK(mode) else "not a regular file")
        raise AudioError(f"{p}: is {kind}; give a regular WAV file")


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or "error"


def _describe(head: bytes) -> str:
    """Name what a non-WAV file looks like, from its first bytes."""
    audio = {b"fLaC": "a FLAC file", b"OggS": "an Ogg file (Vorbis/Opus)", b"caff": "a CAF file",
             b".snd": "a Sun/NeXT AU file", b"#!AM": "an AMR file", b"MThd": "a MIDI file",
             b"\x1aE\xdf\xa3": "a Matroska/WebM file", b"wvpk": "a WavPack file",
             b"MAC ": "a Monkey's Audio file"}
    other = {b"\x89PNG": "a PNG image", b"%PDF": "a PDF document", b"PK\x03\x04": "a ZIP archive",
             b"\x93NUM": "a NumPy .npy file", b"\x7fELF": "an executable"}
    if head[:4] == b"FORM":
        return ("an AIFF file" if head[8:12] in (b"AIFF", b"AIFC") else "an IFF 'FORM' file") + \
            "; " + _CONVERT_HINT
    if head[:4] == b"riff":
        return "a Sony Wave64 (.w64) file, which is not supported; " + _CONVERT_HINT
    if head[:3] == b"ID3":
        return "an MP3 file (ID3 tag); " + _CONVERT_HINT
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        kind = "an AAC (ADTS) file" if head[1] & 0x06 == 0 else "an MP3 file (MPEG frame sync)"
        return f"{kind}; {_CONVERT_HINT}"
    if head[4:8] == b"ftyp":
        return "an MP4/M4A file; " + _CONVERT_HINT
    if head[:4] in audio:
        return f"{audio[head[:4]]}; {_CONVERT_HINT}"
    if head[:4] in other:
        return other[head[:4]]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and all(c.isprintable() or c in "\r\n\t" for c in text):
        return "a text file"
    return f"unknown data starting with bytes {head[:8].hex(' ')}"


def _looks_like_chunk(hdr: bytes) -> bool:
    return len(hdr) == 8 and all(0x20 <= b <= 0x7E for b in hdr[:4])


def _parse(p: Path, f: BinaryIO, size: int, *, quiet: bool = False) -> WavInfo:
    """Walk the chunks of an open file and return its validated description.

    Warnings go to the logger too, unless ``quiet`` (a second parse of the same file)."""
    head = f.read(64)
    magic = head[:4]
    if magic not in (b"RIFF", b"RIFX", b"RF64"):
        raise AudioError(f"{p}: not a WAV file: it looks like {_describe(head)}")
    if len(head) < 12:
        raise AudioError(f"{p}: truncated WAV header ({size} bytes; the RIFF header needs 12)")
    if head[8:12] != b"WAVE":
        form = head[8:12].decode("latin-1")
        raise AudioError(f"{p}: not a WAV file: a RIFF file of type {form!r}, not 'WAVE'")
    container = magic.decode("ascii")
    endian = ">" if container == "RIFX" else "<"
    warnings: list[str] = []
    fmt: tuple[int, ...] | None = None
    data: tuple[int, int] | None = None  # (offset, bytes)
    ds64_data: int | None = None
    pos = 12
    for _ in range(_MAX_CHUNKS):
        if pos + 8 > size:
            break
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8:
            break
        cid = hdr[:4]
        (csize,) = struct.unpack(endian + "I", hdr[4:])
        body = pos + 8
        if cid == b"fmt " and fmt is None:
            if csize < 16:
                raise AudioError(f"{p}: 'fmt ' chunk is too short ({csize} bytes, need 16)")
            raw = f.read(min(csize, 40))
            if len(raw) < min(csize, 40):
                raise AudioError(f"{p}: truncated header: the file ends inside the 'fmt ' chunk")
            fmt = _parse_fmt(p, raw, endian)
            if data is not None:  # 'fmt ' after 'data': unusual but seen in the wild
                break
        elif cid == b"ds64" and container == "RF64" and csize >= 24:
            raw = f.read(24)
            if len(raw) == 24:
                ds64_data = struct.unpack("<QQQ", raw)[1]
        elif cid == b"data":
            declared = csize
            if container == "RF64" and csize == _UNKNOWN_SIZE and ds64_data is not None:
                declared = ds64_data
            available = size - body
            n_bytes = _data_size(p, f, body, declared, available, csize, warnings, endian)
            data = (body, n_bytes)
            if fmt is not None or n_bytes != declared:  # done, or the data runs to the end
                break
            csize = declared
        pos = body + csize + (csize & 1)
        if csize & 1:  # tolerate writers that forget the pad byte after an odd-sized chunk
            f.seek(pos)
            if not _looks_like_chunk(f.read(8)):
                f.seek(pos - 1)
                if _looks_like_chunk(f.read(8)):
                    pos -= 1
    else:
        raise AudioError(f"{p}: corrupt WAV: more than {_MAX_CHUNKS} chunks before the audio")
    if fmt is None and data is None:
        raise AudioError(f"{p}: truncated or corrupt WAV: no 'fmt ' and no 'data' chunk found")
    if fmt is None:
        raise AudioError(f"{p}: corrupt WAV: no 'fmt ' chunk (the header is missing)")
    if data is None:
        raise AudioError(f"{p}: truncated or corrupt WAV: no 'data' chunk (no audio found)")
    tag, channels, sr, bits, valid_bits, block_align, extensible = fmt
    offset, n_bytes = data
    frames, rest = divmod(n_bytes, block_align)
    if rest:
        warnings.append(f"{p}: dropped a partial last frame ({rest} of {block_align} bytes)")
    for w in [] if quiet else warnings:
        log.warning(w)
    return WavInfo(path=p, container=container, format=_FORMATS[(tag, bits)],
                   extensible=bool(extensible), sr=sr, channels=channels, bits=bits,
                   valid_bits=valid_bits, block_align=block_align, frames=frames,
                   data_offset=offset, warnings=tuple(warnings))


def _data_size(p: Path, f: BinaryIO, body: int, declared: int, available: int, csize: int,
               warnings: list[str], endian: str = "<") -> int:
    """Bytes of audio to read, given what the data chunk claims and what the file holds."""
    if declared == 0 and available > 0:
        f.seek(body)
        hdr = f.read(8)
        # another chunk follows an empty 'data' only if its size fits in the file; audio whose
        # first bytes happen to be printable ASCII is not a chunk header
        fits = len(hdr) == 8 and struct.unpack(endian + "I", hdr[4:])[0] <= available - 8
        if not (_looks_like_chunk(hdr) and fits):  # a streamed WAV whose size was never set
            log.info("%s: data size is 0 (streamed WAV); reading to the end of the file", p)
            return available
    if declared <= available:
        return declared
    if csize == _UNKNOWN_SIZE:
        log.info("%s: data size is unknown (streamed WAV); reading to the end of the file", p)
    else:
        warnings.append(f"{p}: header claims {declared} bytes of audio but the file holds "
                        f"{available}; reading what is there (truncated file?)")
    return available


def _parse_fmt(p: Path, raw: bytes, endian: str) -> tuple[int, ...]:
    """Validate a 'fmt ' chunk; return (tag, channels, sr, bits, valid_bits, align, ext)."""
    tag, channels, sr, _byte_rate, block_align, bits = struct.unpack(endian + "HHIIHH", raw[:16])
    valid_bits, extensible = bits, 0
    if tag == _EXTENSIBLE:
        if len(raw) < 40:
            raise AudioError(f"{p}: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk is too short "
                             f"({len(raw)} bytes, need 40)")
        valid_bits = struct.unpack(endian + "H", raw[18:20])[0] or bits
        guid = raw[24:40]
        sub, d2, d3 = struct.unpack(endian + "IHH", guid[:8])  # GUID fields follow the endianness
        if (d2, d3) != (0, 0x10) or guid[8:] != _GUID_NODE or sub > 0xFFFF:
            raise AudioError(f"{p}: unsupported WAVE_FORMAT_EXTENSIBLE sub-format "
                             f"{guid.hex()}; only PCM and IEEE float are supported")
        tag, extensible = sub, 1
    if tag not in (_PCM, _FLOAT):
        name = _TAG_NAMES.get(tag, "an unknown encoding")
        raise AudioError(f"{p}: unsupported WAV encoding: {name} (format tag 0x{tag:04X}); only "
                         f"PCM and IEEE float are supported; {_CONVERT_HINT}")
    kind = "PCM" if tag == _PCM else "IEEE float"
    if channels == 0:
        raise AudioError(f"{p}: invalid header: 0 channels")
    if channels > MAX_CHANNELS:
        raise AudioError(f"{p}: invalid header: {channels} channels (at most {MAX_CHANNELS})")
    if sr == 0:
        raise AudioError(f"{p}: invalid header: sample rate of 0 Hz")
    if sr > MAX_RATE:
        raise AudioError(f"{p}: invalid header: implausible sample rate {sr} Hz "
                         f"(at most {MAX_RATE})")
    allowed = (8, 16, 24, 32) if tag == _PCM else (32, 64)
    if bits not in allowed:
        raise AudioError(f"{p}: unsupported {bits} bits per sample for {kind} "
                         f"(supported: {', '.join(map(str, allowed))})")
    if valid_bits > bits:
        raise AudioError(f"{p}: invalid header: {valid_bits} valid bits in a {bits}-bit sample")
    if block_align != channels * bits // 8:
        raise AudioError(f"{p}: invalid header: block_align is {block_align} but {channels} "
                         f"channels of {bits} bits need {channels * bits // 8}")
    return tag, channels, sr, bits, valid_bits, block_align, extensible


def wav_info(path: str | os.PathLike[str]) -> WavInfo:
    """Describe a WAV file from its header (and size) without decoding the audio."""
    p, f, size = _open(path)
    with f:
        try:
            return _parse(p, f, size)
        except OSError as exc:
            raise AudioError(f"{p}: read error: {_reason(exc)}") from None


# ------------------------------------------------------------------------------------------
# Decoding
# ------------------------------------------------------------------------------------------

def _decode(raw: bytes, info: WavInfo, first_frame: int) -> np.ndarray:
    """Whole frames of raw bytes → mono float32 in [-1, 1) (floats as stored)."""
    e = ">" if info.big_endian else "<"
    ch, fmt = info.channels, info.format
    if fmt == "PCM_U8":
        x = np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0
        scale = 1 / 128
    elif fmt == "PCM_16":
        x, scale = np.frombuffer(raw, e + "i2").astype(np.float32), 1 / 32768
    elif fmt == "PCM_24":
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        wide = np.zeros((b.shape[0], 4), np.uint8)
        wide[:, 1:] = b if e == "<" else b[:, ::-1]  # value << 8, little-endian
        x, scale = (wide.view("<i4")[:, 0] >> 8).astype(np.float32), 1 / 8388608
    elif fmt == "PCM_32":
        x, scale = np.frombuffer(raw, e + "i4").astype(np.float64), 1 / 2147483648
    else:
        x = np.frombuffer(raw, e + ("f4" if fmt == "FLOAT" else "f8"))
        scale = 1.0
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(x) <= MAX_FLOAT_MAGNITUDE)
        if bad.any():
            frame = first_frame + int(np.argmax(bad)) // ch
            value = x[int(np.argmax(bad))]
            what = "NaN" if np.isnan(value) else "infinite" if np.isinf(value) else \
                f"implausible ({value:.3g}, expected about ±1)"
            raise AudioError(f"{info.path}: {what} sample at {frame / info.sr:.3f} s "
                             f"(frame {frame}); the file is corrupt")
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return (x * scale).astype(np.float32, copy=False)


def _iter_decoded(f: BinaryIO, info: WavInfo, n_frames: int, block: int,
                  warnings: list[str]) -> Iterator[np.ndarray]:
    """Decode ``n_frames`` from the data chunk, ``block`` frames at a time."""
    f.seek(info.data_offset)
    block = max(1, min(block, (1 << 22) // info.block_align))  # ≤ 4 MiB of raw bytes at a time
    done = 0
    while done < n_frames:
        want = min(block, n_frames - done)
        raw = f.read(want * info.block_align)
        got = len(raw) // info.block_align
        if got:
            yield _decode(raw[:got * info.block_align], info, done)
            done += got
        if got < want:  # the file shrank since the header was read
            msg = f"{info.path}: file ended early; read {done} of {n_frames} frames"
            warnings.append(msg)
            log.warning(msg)
            return


def _check_target(p: Path, target_sr: int | None) -> None:
    if target_sr is None:
        return
    if isinstance(target_sr, bool) or not isinstance(target_sr, (int, np.integer)) \
            or not 0 < target_sr <= MAX_RATE:
        raise AudioError(f"{p}: invalid target sample rate {target_sr!r} "
                         f"(an integer 1 … {MAX_RATE} Hz)")


def _check_seconds(p: Path, name: str, value: float) -> None:
    try:
        ok = math.isfinite(value) and value > 0
    except TypeError:
        ok = False
    if not ok:
        raise AudioError(f"{p}: {name} must be a positive number of seconds, got {value!r}")


def read_wav(path: str | os.PathLike[str], target_sr: int | None = None,
             max_seconds: float | None = None) -> Audio:
    """Load a WAV file as mono float32, resampled to ``target_sr`` when given.

    ``max_seconds`` reads only the beginning of the file (bounded memory, like librosa's
    ``duration``). Files longer than :data:`MAX_LOAD_SAMPLES` samples are refused with a hint
    to use :func:`iter_wav_blocks`.
    """
    _check_target(Path(path), target_sr)
    if max_seconds is not None:
        _check_seconds(Path(path), "max_seconds", max_seconds)
    p, f, size = _open(path)
    with f:
        try:
            info = _parse(p, f, size)
            warnings = list(info.warnings)
            n = info.frames
            if max_seconds is not None:
                n = min(n, max(1, math.floor(min(max_seconds, 1e9) * info.sr)))
            _check_frames(info)
            out_sr = int(target_sr or info.sr)
            if max(n, -(-n * out_sr // info.sr)) > MAX_LOAD_SAMPLES:
                raise AudioError(f"{p}: too long to load at once ({info.duration:.0f} s); "
                                 f"read it in blocks or pass max_seconds")
            samples = np.empty(n, np.float32)
            done = 0
            for block in _iter_decoded(f, info, n, _BLOCK_FRAMES, warnings):
                samples[done:done + block.size] = block
                done += block.size
            if done == 0:
                raise AudioError(f"{p}: no audio frames could be read (the file was truncated)")
            samples = samples[:done]
            if out_sr != info.sr:
                from edge.resample import resample  # only when the rates differ

                samples = resample(samples, info.sr, out_sr)
        except OSError as exc:
            raise AudioError(f"{p}: read error: {_reason(exc)}") from None
        except MemoryError:
            raise AudioError(f"{p}: not enough memory to load it; read it in blocks or pass "
                             f"max_seconds") from None
    return Audio(samples=samples, sr=out_sr, source_sr=info.sr, channels=info.channels,
                 bits=info.bits, format=info.format, duration=samples.size / out_sr, path=p,
                 warnings=tuple(warnings))


def _check_frames(info: WavInfo) -> None:
    if info.frames == 0:
        raise AudioError(f"{info.path}: contains no audio (0 frames)")


def iter_wav_blocks(path: str | os.PathLike[str], block_seconds: float,
                    target_sr: int | None = None) -> Iterator[np.ndarray]:
    """Stream a WAV file as mono float32 blocks of ``block_seconds`` (the last may be shorter).

    Memory stays bounded by a few blocks whatever the file length: the data chunk is read block
    by block and resampled with :class:`~edge.resample.StreamingResampler`, so the blocks
    concatenate to ``read_wav(path, target_sr).samples``. Header problems raise here, at the
    call; problems inside the audio (NaN in a float file) raise during iteration.
    """
    p = Path(path)
    _check_seconds(p, "block_seconds", block_seconds)
    _check_target(p, target_sr)
    info = wav_info(p)
    _check_frames(info)
    return _blocks(p, block_seconds, target_sr)


def _blocks(p: Path, block_seconds: float, target_sr: int | None) -> Iterator[np.ndarray]:
    p, f, size = _open(p)
    with f:
        try:
            info = _parse(p, f, size, quiet=True)  # iter_wav_blocks has logged its warnings
            out_sr = int(target_sr or info.sr)
            seconds = min(block_seconds, 1e9)
            in_block = max(1, round(seconds * info.sr))
            out_block = max(1, round(seconds * out_sr))
            rs = _resampler(info.sr, out_sr)
            pending: list[np.ndarray] = []
            n_pending = 0
            decoded = _iter_decoded(f, info, info.frames, in_block, [])
            while True:
                block = next(decoded, None)
                if rs is not None:
                    y = rs.flush() if block is None else rs.process(block)
                else:
                    y = np.zeros(0, np.float32) if block is None else block
                if y.size:
                    pending.append(y)
                    n_pending += y.size
                while n_pending >= out_block or (block is None and n_pending):
                    joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
                    yield joined[:out_block]
                    rest = joined[out_block:]
                    pending, n_pending = ([rest], rest.size) if rest.size else ([], 0)
                if block is None:
                    return
        except OSError as exc:
            raise AudioError(f"{p}: read error: {_reason(exc)}") from None


# ------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------

def write_wav_bytes(samples: np.ndarray, sr: int, bits: int = 16, *, encoding: str = "pcm",
                    extensible: bool = False) -> bytes:
    """Encode float samples in [-1, 1] (1-D mono or 2-D frames × channels) as a WAV file.

    ``encoding`` is "pcm" (8/16/24/32 bits; values are clipped and rounded) or "float"
    (32/64 bits, stored as is). Floats get the 'fact' chunk the spec asks for.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or not 1 <= x.shape[1] <= MAX_CHANNELS:
        raise AudioError(f"cannot write audio of shape {np.shape(samples)}: need (frames,) or "
                         f"(frames, channels) with 1 … {MAX_CHANNELS} channels")
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or not 0 < sr <= MAX_RATE:
        raise AudioError(f"cannot write a sample rate of {sr!r} Hz")
    tag = {"pcm": _PCM, "float": _FLOAT}.get(encoding)
    if tag is None or (tag, bits) not in _FORMATS:
        raise AudioError(f"cannot write {bits}-bit {encoding!r} WAV "
                         f"(pcm: 8, 16, 24, 32 bits; float: 32, 64 bits)")
    if not np.isfinite(x).all():
        raise AudioError("cannot write NaN or infinite samples")
    frames, channels = x.shape
    if tag == _FLOAT:
        payload = x.astype("<f4" if bits == 32 else "<f8").tobytes()
    else:
        full = 2.0 ** (bits - 1)
        q = np.clip(np.round(x * full), -full, full - 1)
        if bits == 8:
            payload = (q + 128).astype(np.uint8).tobytes()
        elif bits == 24:
            payload = q.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
        else:
            payload = q.astype(f"<i{bits // 8}").tobytes()
    align = channels * bits // 8
    head = struct.pack("<HHIIHH", _EXTENSIBLE if extensible else tag, channels, sr, sr * align,
                       align, bits)
    if extensible:
        mask = {1: 0x4, 2: 0x3}.get(channels, (1 << channels) - 1 if channels <= 18 else 0)
        head += struct.pack("<HHI", 22, bits, mask) + struct.pack("<H", tag) + _GUID_TAIL
    elif tag == _FLOAT:
        head += struct.pack("<H", 0)
    chunks = _chunk(b"fmt ", head)
    if tag == _FLOAT or extensible:
        chunks += _chunk(b"fact", struct.pack("<I", frames))
    if len(payload) > 0xFFFFFFFF - len(chunks) - 12:
        raise AudioError(f"cannot write {frames} frames: over the 4 GiB limit of a WAV file")
    chunks += _chunk(b"data", payload)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, sr: int, bits: int = 16, *,
              encoding: str = "pcm", extensible: bool = False) -> Path:
    """Write a WAV file atomically (a temporary file in the same folder, then a rename), so a
    crash or Ctrl-C during ``--record`` never leaves a half-written file under the real name."""
    p = Path(path)
    data = write_wav_bytes(samples, sr, bits, encoding=encoding, extensible=extensible)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise AudioError(f"{p}: cannot write: folder {folder} does not exist")
    try:
        atomic_write(p, data, fsync=True)
    except OSError as exc:
        raise AudioError(f"{p}: cannot write: {_reason(exc)}") from None
    return p


def _resampler(sr: int, out_sr: int) -> StreamingResampler | None:
    """A streaming resampler when the rates differ (edge.resample is imported only then)."""
    if out_sr == sr:
        return None
    from edge.resample import StreamingResampler

    return StreamingResampler(sr, out_sr)
