"""StreamingFrontend: pushing audio in any chunking and flushing gives *exactly* the batch
features (np.array_equal), for every base kind and pad mode, with bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.errors import AudioError, ConfigError
from edge.frontend import BASE_KINDS, FrontendConfig, StreamingFrontend, feature_dim
from edge.frontend.features import assemble, compute_bases
from edge.frontend.windows import frame_windows, window_starts

CONFIGS = {
    "default": FrontendConfig(),
    "reflect": FrontendConfig(pad_mode="reflect"),
    "edge": FrontendConfig(pad_mode="edge", lifter=22.0, htk=True),
    "uncentred_reflect": FrontendConfig(center=False, pad_mode="reflect"),
    "odd_lengths": FrontendConfig(n_fft=511, win_length=401, f0_frame_length=1023,
                                  pad_mode="reflect"),
    "sr8k": FrontendConfig(sr=8000, n_fft=256, win_length=200, hop_length=80, n_mels=32,
                           n_mfcc=20, f0_frame_length=512, f0_fmax=400.0, power=1.0),
}


def signal(n: int, seed: int) -> np.ndarray:
    """Voiced-ish tone with noise and a silent gap, float32 (the device's sample type)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    y = 0.3 * np.sin(2 * np.pi * (140 + 40 * np.sin(2 * np.pi * 2 * t)) * t)
    y += 0.02 * rng.standard_normal(n)
    y[n // 3 : n // 3 + n // 10] = 0.0
    return y.astype(np.float32)


def stream(cfg: FrontendConfig, bases: tuple[str, ...], y: np.ndarray,
           sizes: list[int]) -> tuple[dict[str, np.ndarray], StreamingFrontend]:
    """Push ``y`` in chunks cycling through ``sizes``, flush, concatenate per base."""
    fe = StreamingFrontend(cfg, bases)
    parts: dict[str, list[np.ndarray]] = {b: [] for b in bases}
    i = k = 0
    while i < y.size:
        size = sizes[k % len(sizes)]
        out = fe.push(y[i : i + size])
        assert set(out) == set(bases)
        assert len({v.shape[0] for v in out.values()}) == 1, "bases must stay in lockstep"
        for b in bases:
            assert out[b].dtype == np.float32
            parts[b].append(out[b])
        i += size
        k += 1
    for b, v in fe.flush().items():
        parts[b].append(v)
    return {b: np.concatenate(v) for b, v in parts.items()}, fe


def assert_identical(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    for b, v in want.items():
        assert got[b].shape == v.shape, (b, got[b].shape, v.shape)
        assert np.array_equal(got[b], v), (b, np.abs(got[b] - v).max())


@pytest.mark.parametrize("cfg_name", list(CONFIGS))
@given(sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=12),
       n=st.integers(1, 12000), seed=st.integers(0, 3))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_chunkings_equal_batch(cfg_name: str, sizes: list[int], n: int,
                                      seed: int) -> None:
    cfg = CONFIGS[cfg_name]
    y = signal(n, seed)
    got, fe = stream(cfg, BASE_KINDS, y, sizes)
    if cfg.n_frames(n) == 0:  # uncentred audio shorter than n_fft: no frames at all
        assert all(v.shape[0] == 0 for v in got.values())
        return
    assert_identical(got, compute_bases(y, cfg, BASE_KINDS))
    assert fe.frames_emitted == cfg.n_frames(n)


@pytest.mark.parametrize("cfg_name", ["default", "reflect", "uncentred_reflect", "odd_lengths"])
def test_one_sample_chunks_and_one_huge_chunk(cfg_name: str) -> None:
    cfg = CONFIGS[cfg_name]
    y = signal(3 * cfg.f0_frame_length + 37, seed=1)
    want = compute_bases(y, cfg, BASE_KINDS)
    assert_identical(stream(cfg, BASE_KINDS, y, [1])[0], want)
    assert_identical(stream(cfg, BASE_KINDS, y, [10**6])[0], want)


@pytest.mark.parametrize("base", BASE_KINDS)
@pytest.mark.parametrize("cfg_name", ["default", "reflect", "edge"])
def test_each_base_alone(base: str, cfg_name: str) -> None:
    """Alone, a base has its own (shorter) lookahead: still identical."""
    cfg = CONFIGS[cfg_name]
    y = signal(7001, seed=2)
    for sizes in ([1, 2, 3, 500], [160], [333, 1]):
        got, _ = stream(cfg, (base,), y, sizes)
        assert_identical(got, compute_bases(y, cfg, (base,)))


@pytest.mark.parametrize("n", [1, 2, 3, 100, 255, 256, 257, 511, 512, 513, 1024, 1025])
@pytest.mark.parametrize("pad_mode", ["constant", "edge", "reflect"])
def test_short_streams(n: int, pad_mode: str) -> None:
    cfg = FrontendConfig(pad_mode=pad_mode)
    y = signal(n, seed=n)
    want = compute_bases(y, cfg, BASE_KINDS)
    for sizes in ([1], [2, 5], [n]):
        assert_identical(stream(cfg, BASE_KINDS, y, sizes)[0], want)


def test_frames_are_emitted_as_soon_as_their_samples_arrived() -> None:
    cfg = FrontendConfig()
    fe = StreamingFrontend(cfg, BASE_KINDS)
    # pitch reads f0_frame_length // 2 = 512 samples past a frame's centre
    fe.push(np.zeros(511, np.float32))
    assert fe.frames_emitted == 0
    assert fe.push(np.zeros(1, np.float32))["mfcc"].shape == (1, 40)
    fe.push(np.zeros(160 * 10, np.float32))
    assert fe.frames_emitted == (512 + 1600 - 512) // 160 + 1
    mfcc_only = StreamingFrontend(cfg, ("mfcc",))  # n_fft // 2 = 256 samples of lookahead
    mfcc_only.push(np.zeros(256, np.float32))
    assert mfcc_only.frames_emitted == 1
    reflect = StreamingFrontend(cfg.replace(pad_mode="reflect"), ("mfcc",))
    reflect.push(np.zeros(256, np.float32))  # reflecting 256 samples needs sample 256
    assert reflect.frames_emitted == 0
    reflect.push(np.zeros(1, np.float32))
    assert reflect.frames_emitted == 1


def test_memory_is_bounded() -> None:
    cfg = FrontendConfig()
    fe = StreamingFrontend(cfg, BASE_KINDS)
    rng = np.random.default_rng(0)
    sizes = []
    for _ in range(300):  # ~10 s in irregular chunks
        chunk = (0.1 * rng.standard_normal(int(rng.integers(1, 1100)))).astype(np.float32)
        fe.push(chunk)
        sizes.append(fe._buf.shape[0])
        assert fe._buf_len <= 4 * cfg.f0_frame_length + 1100
    assert max(sizes) <= 2 * 4 * cfg.f0_frame_length
    fe.push(np.zeros(16000 * 20, np.float32))  # a huge chunk grows the buffer ...
    fe.push(np.zeros(10, np.float32))
    assert fe._buf.shape[0] <= 4 * cfg.f0_frame_length  # ... which is given back


def test_flush_reset_and_misuse() -> None:
    cfg = FrontendConfig()
    fe = StreamingFrontend(cfg, ("mfcc", "pitch"))
    empty = fe.flush()  # nothing pushed: no frames (batch would refuse empty audio)
    assert empty["mfcc"].shape == (0, 40) and empty["pitch"].shape == (0, 1)
    with pytest.raises(RuntimeError, match="reset"):
        fe.push(np.zeros(10, np.float32))
    fe.reset()
    y = signal(5000, 0)
    first = fe.push(y)["mfcc"]
    rest = fe.flush()["mfcc"]
    assert fe.flush()["mfcc"].shape == (0, 40)  # second flush: nothing more
    np.testing.assert_array_equal(np.concatenate([first, rest]),
                                  compute_bases(y, cfg, ("mfcc",))["mfcc"])
    fe.reset()
    assert fe.frames_emitted == 0
    with pytest.raises(AudioError):
        fe.push(np.zeros(10, np.int16))
    with pytest.raises(AudioError):
        fe.push(np.array([0.0, np.nan]))
    with pytest.raises(ConfigError, match="top_db"):
        StreamingFrontend(cfg.replace(top_db=80.0), ("mfcc",))
    with pytest.raises(ConfigError):
        StreamingFrontend(cfg, ("mfcc", "spectrogram"))
    # chroma/rms/zcr/pitch do not depend on top_db: allowed
    StreamingFrontend(cfg.replace(top_db=80.0), ("chroma", "pitch"))


def test_streamed_windows_equal_training_windows() -> None:
    """What the device assembles per window is what training cut from the batch features."""
    cfg = FrontendConfig()
    kind = "mfcc_dd+pitch_d+rms"
    y = signal(16000 * 3, seed=4)
    window, hop = 100, 50
    fe = StreamingFrontend(cfg, ("mfcc", "pitch", "rms"))
    frames: dict[str, list[np.ndarray]] = {b: [] for b in fe.bases}
    device = []
    next_start = 0
    for i in range(0, y.size, 480):
        for b, v in fe.push(y[i : i + 480]).items():
            frames[b].append(v)
        have = fe.frames_emitted
        while next_start + window <= have:
            win = {b: np.concatenate(v)[next_start : next_start + window]
                   for b, v in frames.items()}
            device.append(assemble(win, cfg, kind))
            next_start += hop
    batch = compute_bases(y, cfg, ("mfcc", "pitch", "rms"))
    training = frame_windows(batch, cfg, kind, window, hop)
    n_complete = len(window_starts(fe.frames_emitted, window, hop))
    assert training.shape[2] == feature_dim(cfg, kind)
    assert len(device) == n_complete >= 4
    np.testing.assert_array_equal(np.stack(device), training[:n_complete])


# ---- the device's whole input path: file blocks → resampler → streaming front end ----------------
@given(sr=st.sampled_from([8000, 16000, 22050, 44100, 48000]), channels=st.integers(1, 2),
       seconds=st.floats(0.05, 1.5), block=st.floats(0.003, 0.7), seed=st.integers(0, 99))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
def test_frames_from_file_blocks_equal_the_batch_front_end(tmp_path, sr: int, channels: int,
                                                            seconds: float, block: float,
                                                            seed: int) -> None:
    """However a WAV file is cut into blocks (and resampled on the way), the frames the device
    computes are exactly the batch frames of the whole file read at once."""
    from edge.wav import iter_wav_blocks, read_wav, write_wav

    cfg = FrontendConfig()
    path = tmp_path / "x.wav"
    n = max(1, round(seconds * sr))
    y = np.stack([signal(n, seed + k) for k in range(channels)], axis=1)
    write_wav(path, y, sr)
    fe = StreamingFrontend(cfg, BASE_KINDS)
    parts: dict[str, list[np.ndarray]] = {b: [] for b in BASE_KINDS}
    for chunk in iter_wav_blocks(path, block, cfg.sr):
        for b, v in fe.push(chunk).items():
            parts[b].append(v)
    for b, v in fe.flush().items():
        parts[b].append(v)
    got = {b: np.concatenate(v) for b, v in parts.items()}
    assert_identical(got, compute_bases(read_wav(path, target_sr=cfg.sr).samples, cfg, BASE_KINDS))
