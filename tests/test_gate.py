"""The condition gate: its statistics, its manifest section, the vote it mixes on the device,
and a real fit (`edge-ser gate`) on generated voices, as recorded and in rooms and noise."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import harmonic_chirp, run_cli, write_pcm16
from fixtures.tiny import TINY, copy_tiny, renamed_copy

from edge.errors import ModelError
from edge.gate import ConditionGate, window_statistics
from edge.manifest import ConditionGateSpec, load_manifest, write_manifest
from edge.pipeline import Pipeline


def test_window_statistics_are_mean_spread_and_change() -> None:
    x = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])
    got = window_statistics(x)
    np.testing.assert_allclose(got, [2.0, 2.0, np.std([0, 2, 4]), np.std([1, 1, 4]), 2.0, 1.5])


def gate_for(manifest, bias: float, coef: float = 0.0) -> ConditionGateSpec:  # type: ignore[no-untyped-def]
    n = 3 * manifest.features["mfcc"].dim
    return ConditionGateSpec(("mfcc",), ("m1-mfcc",), (0.0,) * n, (1.0,) * n, (coef,) * n, bias)


def gated_copy(tmp_path: Path, spec_of) -> Path:  # type: ignore[no-untyped-def]
    folder = copy_tiny(tmp_path)
    m = load_manifest(folder)
    write_manifest(replace(m, condition_gate=spec_of(m), root=None), folder)
    return folder


@pytest.mark.parametrize("bias", [-60.0, 0.0, 60.0])
def test_the_gate_mixes_the_clean_members_vote_with_the_whole_vote(tmp_path: Path,
                                                                   bias: float) -> None:
    """d ≈ 0: the clean member alone; d ≈ 1: the manifest's vote; d = 0.5: half of each."""
    folder = gated_copy(tmp_path, lambda m: gate_for(m, bias))
    plain = Pipeline(load_manifest(TINY))
    gated = Pipeline(load_manifest(folder))
    seen: list[dict[str, np.ndarray]] = []
    gated.feature_tap = seen.append
    y = harmonic_chirp(seconds=2.0)
    got = gated.classify_audio(y)
    assert seen, "the tap sees every classified window"
    outs = gated._run_members(seen[0])
    clean = outs[0] / outs[0].sum()
    whole = plain._vote(outs)
    d = 1.0 / (1.0 + np.exp(-bias))
    np.testing.assert_allclose(gated._vote(outs, seen[0]), (1 - d) * clean + d * whole,
                               atol=1e-5)
    assert got.windows == len(seen) > 0
    if bias > 0:  # a gate that always says "degraded" changes nothing
        np.testing.assert_allclose(got.probs, plain.classify_audio(y).probs, atol=1e-6)


def test_the_gate_reads_the_window() -> None:
    m = load_manifest(TINY)
    gate = ConditionGate(m, gate_for(m, 0.0, coef=0.05))
    n = m.features["mfcc"].dim
    quiet, loud = np.zeros((100, n)), np.ones((100, n))
    assert gate.degraded({"mfcc": quiet}) == pytest.approx(0.5)
    assert gate.degraded({"mfcc": loud}) > 0.8


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(streams=["logmel+pitch"]), "is not read by any member"),
    (lambda d: d.update(clean_members=["nobody"]), "clean member 'nobody'"),
    (lambda d: d.update(coef=d["coef"][:-1]), "need 120 values each"),
    (lambda d: d.update(statistics=["mean"]), "statistics must be"),
    (lambda d: d.update(std=[1e-38] * len(d["std"])), "std must be at least"),
    (lambda d: d.update(bias="high"), "bias"),
])
def test_a_broken_gate_is_refused_in_one_line(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    folder = gated_copy(tmp_path, lambda m: gate_for(m, 0.0))
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    change(data["condition_gate"])
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match=message):
        load_manifest(folder)
    r = run_cli("classify", "--models", str(folder), str(write_pcm16(
        tmp_path / "a.wav", harmonic_chirp(), 16000)))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_merging_drops_a_gate(tmp_path: Path) -> None:
    from convert.merge import MergeSource, merge

    folder = gated_copy(tmp_path, lambda m: gate_for(m, 0.0))
    (tmp_path / "other").mkdir()
    other = renamed_copy(tmp_path / "other", fill=None, mfcc_shift=0.0)
    out = merge([MergeSource(folder), MergeSource(other)], tmp_path / "merged").manifest
    assert load_manifest(folder).condition_gate is not None and out.condition_gate is None


def voices(root: Path, n: int, seed: int) -> list[Path]:
    """Generated voiced files of different pitch, in a label-folder corpus."""
    rng = np.random.default_rng(seed)
    (root / "neutral").mkdir(parents=True)
    out = []
    for i in range(n):
        lo = float(rng.uniform(90, 250))
        y = harmonic_chirp(seconds=2.5, f0=(lo, lo * 1.6), seed=seed * 100 + i)
        out.append(write_pcm16(root / "neutral" / f"v{i:02d}.wav", y, 16000))
    return out


def test_a_fitted_gate_tells_rooms_and_noise_from_clean_voices(tmp_path: Path) -> None:
    """Fitted on one set of generated voices; on other voices it rates their copies in a room
    and in noise as more degraded than the clean recordings."""
    pytest.importorskip("sklearn")
    pytest.importorskip("scipy")
    from convert.gate import GateFitConfig, copy_changes, fit_gate, window_values

    voices(tmp_path / "train", 12, seed=1)
    cfg = GateFitConfig(("m1-mfcc",), ("mfcc", "mfcc_d+pitch+rms"), files_per_corpus=12)
    spec = fit_gate(TINY, [f"folders:{tmp_path / 'train'}"], cfg)
    assert spec.clean_members == ("m1-mfcc",) and "12 files" in spec.fitted_on
    m = replace(load_manifest(TINY), condition_gate=spec)
    m.validate()
    pipe = Pipeline(m)
    gate = pipe.condition_gate
    assert gate is not None
    changes = copy_changes(replace(cfg, seed=5))  # other rooms, other noise
    scores: dict[str, list[float]] = {"clean": [], "room": [], "noise": []}
    for path in voices(tmp_path / "test", 6, seed=2):
        from edge.wav import read_wav

        y = read_wav(path, 16000).samples
        for name, audio in (("clean", y), *((k, f(y, 16000, str(path)))
                                            for k, f in changes.items())):
            scores[name] += window_values(pipe, audio, gate.degraded)
    clean = np.mean(scores["clean"])
    assert np.mean(scores["room"]) > clean + 0.2
    assert np.mean(scores["noise"]) > clean + 0.2


def test_the_gate_command_writes_gated_models_and_refuses_unknown_members(
        tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    voices(tmp_path / "train", 10, seed=3)
    out = tmp_path / "gated"
    r = run_cli("condition-gate", str(TINY), "--data", f"folders:{tmp_path / 'train'}", "--clean",
                "m1-mfcc", "--files-per-corpus", "10", "--out", str(out))
    assert r.returncode == 0, r.stderr
    m = load_manifest(out)
    assert m.condition_gate is not None and m.condition_gate.streams == ("mfcc",)
    assert {p.name for p in out.glob("*.tflite")} == {p.name for p in TINY.glob("*.tflite")}
    r = run_cli("classify", "--models", str(out), str(write_pcm16(
        tmp_path / "a.wav", harmonic_chirp(seconds=2.0), 16000)))
    assert r.returncode == 0, r.stderr
    r = run_cli("condition-gate", str(TINY), "--data", f"folders:{tmp_path / 'train'}", "--clean",
                "nobody", "--out", str(tmp_path / "other"))
    assert r.returncode != 0 and "no member 'nobody'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "other").exists()


def test_a_section_this_runtime_does_not_know_is_refused(tmp_path: Path) -> None:
    """Ignoring it would change what the models mean (a gate an older runtime skips)."""
    folder = copy_tiny(tmp_path)
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    data["gate"] = {"streams": ["mfcc"]}
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="unknown section 'gate'"):
        load_manifest(folder)
