"""The shipped models: intact, loadable with no --models, and they tell emotions apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_cli

from edge.manifest import MANIFEST_NAME, load_manifest, sha256_file
from edge.models import DEFAULT_MODELS_DIR

pytestmark = pytest.mark.skipif(not (DEFAULT_MODELS_DIR / MANIFEST_NAME).is_file(),
                                reason="no default models bundled")


def test_committed_checksums_match_the_files() -> None:
    data = json.loads((DEFAULT_MODELS_DIR / MANIFEST_NAME).read_text())
    for member in data["members"]:
        assert sha256_file(DEFAULT_MODELS_DIR / member["file"]) == member["sha256"]


def test_default_models_fit_the_budget_and_the_device_contract() -> None:
    m = load_manifest(DEFAULT_MODELS_DIR)
    assert m.labels == ("neutral", "happy", "sad", "angry")  # the four every corpus has
    assert m.training is not None and len(m.training.corpora) == 5  # the manifest says so
    assert m.calibration is not None and m.calibration.temperature >= 1.0  # never sharpens
    total = sum(m.member_path(mb).stat().st_size for mb in m.members)
    assert total <= 1_000_000
    assert all(mb.input.dtype == "int8" and mb.output.dtype == "int8" for mb in m.members)


def test_classify_uses_the_bundled_models_without_models_option() -> None:
    out = run_cli("classify", str(REPO / "examples" / "hello.wav"), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[0])
    probs = np.array(list(result["probabilities"].values()))
    assert result["top"] in result["probabilities"]
    assert result["label"] in (result["top"], "uncertain")
    assert probs.sum() == pytest.approx(1.0, abs=1e-3) and probs.max() == result["confidence"]


def test_listen_on_the_example_prints_decisions() -> None:
    out = run_cli("listen", "--source", str(REPO / "examples" / "hello.wav"), "--fast", "--json")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert events and all("label" in e for e in events)


def test_models_respond_to_the_audio(tmp_path: Path) -> None:
    """Different inputs must give different probabilities (a constant model would not)."""
    from conftest import harmonic_chirp, write_pcm16

    low = write_pcm16(tmp_path / "low.wav", 0.2 * harmonic_chirp(seconds=3, f0=(90, 110)), 16000)
    high = write_pcm16(tmp_path / "high.wav", 0.9 * harmonic_chirp(seconds=3, f0=(280, 420),
                                                                   seed=1), 16000)
    out = run_cli("classify", str(low), str(high), "--json")
    assert out.returncode == 0, out.stderr
    a, b = (json.loads(x)["probabilities"] for x in out.stdout.strip().splitlines())
    assert max(abs(a[k] - b[k]) for k in a) > 0.02
