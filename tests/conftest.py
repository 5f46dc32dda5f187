"""Shared test helpers: generated audio only (tests never need ../shared data)."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def harmonic_chirp(sr: int = 16000, seconds: float = 1.0, f0: tuple[float, float] = (120.0, 220.0),
                   n_harmonics: int = 12, seed: int = 0) -> np.ndarray:
    """A speech-like voiced signal: gliding f0 with vibrato, decaying harmonics, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    f = np.linspace(f0[0], f0[1], t.size) * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, n_harmonics + 1) if k * f0[1] < sr / 2)
    env = np.clip(np.sin(np.pi * t / seconds), 0, None) ** 0.5
    y = 0.3 * y * env + 0.003 * rng.standard_normal(t.size)
    return y.astype(np.float32)


def write_pcm16(path: Path, y: np.ndarray, sr: int, channels: int = 1) -> Path:
    """Write a 16-bit PCM WAV with the stdlib (independent of edge.wav)."""
    data = np.clip(np.asarray(y, dtype=np.float64), -1, 1 - 1 / 32768)
    pcm = (data * 32768).astype("<i2")
    if channels > 1:
        pcm = np.repeat(pcm[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, input: bytes | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `edge-ser` in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        cwd=REPO, env=full_env, capture_output=True, text=input is None, input=input,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def manifest():  # type: ignore[no-untyped-def]
    """The tiny fixture models' manifest (tests/fixtures/models/tiny)."""
    from fixtures.tiny import TINY

    from edge.manifest import load_manifest

    return load_manifest(TINY)


@pytest.fixture(scope="module")
def members(manifest):  # type: ignore[no-untyped-def]
    """The tiny fixture members, loaded in the real TFLite interpreter."""
    from edge.interpreter import load_members

    return load_members(manifest)


@pytest.fixture
def speech_wav(tmp_path: Path) -> Path:
    return write_pcm16(tmp_path / "speech.wav", harmonic_chirp(seconds=1.5), 16000)


def slow_members_child(delay: float) -> str:
    """Python source for `python -c`: the edge-ser CLI with every member slowed by ``delay``
    seconds, to make a consumer slower than real time in a real process."""
    return (
        "import sys, time\n"
        "import edge.interpreter as interp\n"
        "predict = interp.MemberModel.predict\n"
        "def slow(self, x, reset_state=True):\n"
        f"    time.sleep({delay!r})\n"
        "    return predict(self, x, reset_state)\n"
        "interp.MemberModel.predict = slow\n"
        "from edge.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )


# The fast tier, `pytest -m "not slow"` (day-to-day work, under two minutes on 2 cores): besides
# the tests marked slow where they are defined (training, conversion, an hour of audio), these
# take seconds each (real-time playback, ten simulated minutes, property searches, a real
# `bench`). Measured with `pytest --durations=40 -m "not slow"`; CI runs everything.
SLOW_BY_DURATION = (
    "test_long_run.py::test_ten_simulated_minutes_lose_no_window_and_keep_memory_flat",
    "test_long_run.py::test_a_long_file_source_loses_no_window",
    "test_tampered_models.py::test_arbitrary_manifest_values_are_refused_or_work",
    "test_capture_pulse.py::test_microphone_source_hears_the_played_clip",
    "test_capture_pulse.py::test_device_disappearing_mid_run",
    "test_overload.py::test_a_realtime_file_is_a_microphone_with_a_ring_buffer",
    "test_overload.py::test_a_slow_consumer_loses_the_oldest_audio_counted_and_reported",
    "test_overload.py::test_a_fast_consumer_loses_nothing",
    "test_bench.py::test_bench_json_reports_the_classify_process_memory_split",
    "test_wav_properties.py::test_resample_length",
    "test_wav_properties.py::test_streaming_equals_batch",
    "test_wav_properties.py::test_blocks_equal_the_whole_file_for_any_block_and_rate",
    "test_pipeline.py::test_live_windows_and_decisions_do_not_depend_on_chunking",
    "test_train_run.py::test_cosine_schedule_ends_near_zero_learning_rate",
    "test_signals.py::test_sigterm_during_overload_of_a_realtime_file",
    "test_streaming.py::test_frames_from_file_blocks_equal_the_batch_front_end",
    "test_hostile_inputs.py::test_played_in_real_time_too",
    "test_hostile_inputs.py::test_a_real_process_classifies_the_whole_corpus",
    "test_mqtt.py::test_listen_publishes_decisions_state_discovery_and_availability",
    "test_serve.py::test_serve_sends_the_objects_of_listen_json",
    "test_webserver.py::test_a_slow_sender_times_out_and_does_not_block_others",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        node = f"{item.path.name}::{item.originalname}"
        if node in SLOW_BY_DURATION:
            item.add_marker(pytest.mark.slow)


#: `edge-ser train` options for a tiny but real run (seconds per fold on one core)
TINY_TRAIN = ["--set", "epochs=2", "--set", "aug_copies=1", "--set", "n_folds=2",
              "--set", "n_val_actors=1", "--set", "conv_filters=8,8", "--set", "pool_sizes=3,2",
              "--set", "lstm_units=8", "--set", "labels=neutral,angry", "--set", "batch_size=16",
              "--set", "rf_trees=20"]


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 synthetic actors (2 men, 2 women), neutral and angry, 2 files each."""
    from train.synthetic import make_corpus

    root = tmp_path_factory.mktemp("tiny-ravdess")
    make_corpus(root, actors=4, labels=(0, 4), repeats=2)
    return root


@pytest.fixture(scope="session")
def trained_run(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder as `edge-ser train` really writes it (2 folds and a final set, two members
    on different features): what train and convert tests check, instead of hand-made folders."""
    pytest.importorskip("tensorflow")
    from edge.cli import main

    out = tmp_path_factory.mktemp("trained") / "run"
    cache = tmp_path_factory.mktemp("cache")
    rc = main(["train", "--data", str(tiny_corpus), "--out", str(out), "--cache", str(cache),
               "--set", "members=cnn_lstm:mfcc:1,cnn_lstm:logmel:2",
               "--set", "early_stopping=true", "--final", *TINY_TRAIN])
    assert rc == 0
    return out
