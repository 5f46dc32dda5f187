"""The `edge-ser` command line as a user meets it: help, features, info, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, harmonic_chirp, run_cli, write_pcm16

COMMANDS = ("listen", "classify", "evaluate", "bench", "devices", "info", "features", "train",
            "convert", "merge", "condition-gate", "serve", "enrol", "speakers")

# A meta-path hook that makes TensorFlow look uninstalled, to test the lazy commands' message.
BLOCK_TF = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'tf_keras', 'tensorflow_model_optimization'):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return None
sys.meta_path.insert(0, _Block())
import edge.cli
sys.exit(edge.cli.main(sys.argv[1:]))
"""


def test_help_lists_every_command() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    section = out.stdout.split("Commands:")[1].splitlines()
    listed = {line.split()[0] for line in section if line.startswith("  ") and line[2] != " "}
    assert listed == set(COMMANDS)


@pytest.mark.parametrize("command", ["train", "convert"])
def test_training_commands_without_tensorflow_say_what_to_install(command: str) -> None:
    import subprocess

    args = {"train": ["--data", str(REPO)], "convert": [str(REPO)]}[command]
    for argv in ([command], [command, *args]):
        out = subprocess.run([sys.executable, "-c", BLOCK_TF, *argv], cwd=REPO,
                             capture_output=True, text=True, timeout=60)
        _assert_names_requirements(out)


def _assert_names_requirements(out) -> None:
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "requirements-train.txt" in lines[0]
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("command", ["train", "convert"])
def test_training_commands_help_works_without_tensorflow(command: str) -> None:
    import subprocess

    out = subprocess.run([sys.executable, "-c", BLOCK_TF, command, "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout


def test_merge_needs_no_tensorflow(tmp_path: Path) -> None:
    from fixtures.tiny import TINY, renamed_copy

    other = renamed_copy(tmp_path, prefix="x", fill=None, mfcc_shift=0.0)
    out = subprocess.run([sys.executable, "-c", BLOCK_TF, "merge", str(TINY), str(other),
                          "-o", str(tmp_path / "merged")], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "6 members, 3 feature streams" in out.stdout  # equal streams are shared


def _bundled_frontend():  # type: ignore[no-untyped-def]
    from edge.manifest import load_manifest
    from edge.models import DEFAULT_MODELS_DIR

    return load_manifest(DEFAULT_MODELS_DIR, verify=False).frontend


def test_features_writes_the_default_mfcc_matrix(tmp_path: Path) -> None:
    from edge.frontend import compute_features

    y = harmonic_chirp(seconds=1.2)
    wav = write_pcm16(tmp_path / "a.wav", y, 16000)
    out = run_cli("features", str(wav), "--out", str(tmp_path / "f.npy"))
    assert out.returncode == 0, out.stderr
    matrix = np.load(tmp_path / "f.npy")
    cfg = _bundled_frontend()  # what the bundled models see, not the built-in defaults
    assert matrix.shape == (cfg.n_frames(y.size), cfg.n_mfcc)
    with wave.open(str(wav)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    expected = compute_features(pcm, cfg, "mfcc")
    np.testing.assert_allclose(matrix, expected, atol=1e-4)


def test_features_other_kinds_and_text_output(tmp_path: Path) -> None:
    wav = write_pcm16(tmp_path / "a.wav", harmonic_chirp(seconds=0.5), 16000)
    out = run_cli("features", str(wav), "--kind", "mfcc_d+pitch+rms")
    assert out.returncode == 0, out.stderr
    rows = [r for r in out.stdout.splitlines() if not r.startswith("#")]
    assert len(rows) == _bundled_frontend().n_frames(8000) and len(rows[0].split()) == 82


def test_features_resamples_other_rates(tmp_path: Path) -> None:
    wav = write_pcm16(tmp_path / "a.wav", harmonic_chirp(sr=48000, seconds=1.0), 48000, channels=2)
    out = run_cli("features", str(wav), "--out", str(tmp_path / "f.npy"))
    assert out.returncode == 0, out.stderr
    assert np.load(tmp_path / "f.npy").shape == (_bundled_frontend().n_frames(16000), 40)


def test_show_config_prints_librosa_named_json() -> None:
    out = run_cli("features", "--show-config")
    assert out.returncode == 0
    cfg = json.loads(out.stdout)
    assert cfg == _bundled_frontend().to_dict() and cfg["sr"] == 16000 and cfg["n_mfcc"] == 40


def test_features_show_what_the_models_see(tmp_path: Path) -> None:
    """The bundled models hop 320 samples; `features` used the built-in 160 (issue #14)."""
    from fixtures.tiny import TINY

    from edge.frontend import FrontendConfig

    assert json.loads(run_cli("features", "--show-config").stdout)["hop_length"] == \
        _bundled_frontend().hop_length == 320
    tiny = json.loads(run_cli("features", "--show-config", "--models", str(TINY)).stdout)
    assert tiny["hop_length"] == 160
    wav = write_pcm16(tmp_path / "a.wav", harmonic_chirp(seconds=1.0), 16000)
    text = run_cli("features", str(wav), "--models", str(TINY)).stdout
    assert text.startswith(f"# {wav}: 101 frames") and str(TINY) in text.splitlines()[0]
    cfg = tmp_path / "fe.json"
    cfg.write_text(FrontendConfig(hop_length=400).to_json())
    assert json.loads(run_cli("features", "--show-config", "--config", str(cfg)).stdout
                      )["hop_length"] == 400
    both = run_cli("features", "--show-config", "--config", str(cfg), "--models", str(TINY))
    assert both.returncode == 2 and "exclusive" in both.stderr


def test_features_out_respects_the_umask(tmp_path: Path) -> None:
    wav = write_pcm16(tmp_path / "a.wav", harmonic_chirp(seconds=0.5), 16000)
    for umask, mode in ((0o022, 0o644), (0o002, 0o664), (0o077, 0o600)):
        out = tmp_path / f"f{umask:o}.npy"
        code = (f"import os, sys; os.umask({umask}); import edge.cli; "
                "sys.exit(edge.cli.main(sys.argv[1:]))")

        r = subprocess.run([sys.executable, "-c", code, "features", str(wav), "--out", str(out)],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert (out.stat().st_mode & 0o777) == mode
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: d / "missing.wav", "does not exist"),
        (lambda d: d, "directory"),
        (lambda d: _file(d / "text.wav", b"hello, not audio"), "not a wav"),
        (lambda d: _file(d / "empty.wav", b""), "empty"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(tmp_path: Path, make, needle: str) -> None:
    out = run_cli("features", str(make(tmp_path)))
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0].lower(), out.stderr
    assert "Traceback" not in out.stderr


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_unknown_kind_is_a_one_line_error(speech_wav: Path) -> None:
    out = run_cli("features", str(speech_wav), "--kind", "spectrogram")
    assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1
    assert "unknown feature" in out.stderr


def test_info_prints_the_manifest(tmp_path: Path) -> None:
    from test_manifest import build

    build(tmp_path, n_members=3, voting="weighted")
    out = run_cli("info", "--models", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "neutral, happy, sad, angry" in out.stdout
    assert "voting:   weighted" in out.stdout and out.stdout.count("member-") == 3
    as_json = json.loads(run_cli("info", "--models", str(tmp_path), "--json").stdout)
    assert as_json["voting"] == "weighted" and len(as_json["members"]) == 3


def test_info_on_a_tampered_folder_is_refused(tmp_path: Path) -> None:
    from test_manifest import build

    build(tmp_path)
    (tmp_path / "member-0.tflite").write_bytes(b"evil")
    out = run_cli("info", "--models", str(tmp_path))
    assert out.returncode == 4
    assert "member-0.tflite fails its checksum" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
