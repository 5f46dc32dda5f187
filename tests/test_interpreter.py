"""The real TFLite interpreter on the tiny fixture: backend choice, quantization, state reset,
and refusal of models that do not match their manifest."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures.synth import LABELS, syllables
from fixtures.tiny import copy_tiny, window_for

from edge.errors import ConfigError, MissingDependencyError, ModelError
from edge.interpreter import BACKENDS, MemberModel, install_hint, interpreter_class, load_members
from edge.manifest import load_manifest, sha256_file


def installed_backend() -> str | None:
    """The first backend of BACKENDS whose package is installed (found without importing it,
    independently of interpreter_class): ai-edge-litert on x86_64/aarch64, tflite-runtime on
    32-bit Pi OS."""
    import importlib.util

    return next((b for b in BACKENDS if importlib.util.find_spec(b) is not None), None)


BACKEND = installed_backend()
needs_backend = pytest.mark.skipif(BACKEND is None, reason="no TFLite interpreter installed "
                                   "(pip install ai-edge-litert, or tflite-runtime on armv7l)")


# ---- backend choice -------------------------------------------------------------------------
@needs_backend
def test_auto_picks_an_installed_backend() -> None:
    name, cls = interpreter_class("auto")
    assert name == BACKEND and cls.__name__ == "Interpreter"
    assert cls.__module__.startswith(BACKEND)


@pytest.mark.skipif(BACKEND != "ai_edge_litert", reason="ai-edge-litert only")
def test_litert_interpreter_runs_without_the_packages_8_mb_runtime() -> None:
    """ai_edge_litert's __init__ dlopens libLiteRt.so, which the Interpreter never uses; a
    member loaded and run in a fresh process must not map it (2 MB of the device's RSS)."""
    code = ("import numpy as np, sys\n"
            "from fixtures.tiny import TINY\n"
            "from edge.manifest import load_manifest\n"
            "from edge.interpreter import load_members\n"
            "m = load_manifest(TINY); [member] = load_members(m)[:1]\n"
            "p = member.predict(np.zeros(member.input_spec.shape[1:], np.float32))\n"
            "maps = open('/proc/self/maps').read()\n"
            "print(abs(float(p.sum()) - 1) < 0.03, 'libLiteRt.so' in maps)\n")
    import subprocess

    from conftest import REPO

    r = subprocess.run([sys.executable, "-c", code], cwd=REPO / "tests", capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "False"]


def test_a_litert_that_cannot_load_alone_is_imported_normally(monkeypatch) -> None:
    """If the package's submodules cannot be found without its __init__, the normal import
    runs (and an installed backend still loads)."""
    import importlib.util

    from edge import interpreter

    monkeypatch.delitem(sys.modules, "ai_edge_litert", raising=False)
    monkeypatch.delitem(sys.modules, "ai_edge_litert.interpreter", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ImportError):
        interpreter._litert_interpreter_alone()
    assert "ai_edge_litert" not in sys.modules
    monkeypatch.undo()
    if BACKEND == "ai_edge_litert":
        assert interpreter._import_interpreter("ai_edge_litert").Interpreter


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="backend must be"):
        interpreter_class("tensorflow")


def test_missing_interpreter_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime",
                "tflite_runtime.interpreter"):
        monkeypatch.setitem(sys.modules, mod, None)  # import now raises ImportError
    with pytest.raises(MissingDependencyError, match="pip install ai-edge-litert"):
        interpreter_class("auto")
    with pytest.raises(MissingDependencyError, match="pip install tflite-runtime"):
        interpreter_class("tflite_runtime")
    hint = install_hint("armv7l")
    assert "tflite-runtime==2.14.0" in hint and "numpy<2" in hint
    assert install_hint("aarch64") == "pip install ai-edge-litert"


# ---- a real member ---------------------------------------------------------------------------
@needs_backend
def test_members_match_their_manifest_and_use_the_fused_lstm(manifest, members) -> None:
    assert [m.name for m in members] == [mb.name for mb in manifest.members]
    for mb, m in zip(manifest.members, members, strict=True):
        assert m.input_spec == mb.input and m.output_spec == mb.output
        assert m.input_spec.dtype == "int8" and m.backend == BACKEND
        ops = m.op_names()
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops and "CONV_2D" in ops
        assert "DELEGATE" not in ops and len(ops) == len(set(ops))


@needs_backend
def test_members_classify_generated_classes(manifest, members) -> None:
    for mb, m in zip(manifest.members, members, strict=True):
        correct = 0
        for c in range(len(LABELS)):
            p = m.predict(window_for(manifest, mb, syllables(c, 1.05, seed=7000 + c)))
            assert p.shape == (8,) and p.dtype == np.float32
            assert p.min() >= 0 and p.sum() == pytest.approx(1.0, abs=0.03)
            correct += int(np.argmax(p) == c)
        assert correct >= 7, f"{mb.name}: {correct}/8 generated classes right"


@needs_backend
def test_predict_accepts_both_shapes_and_refuses_others(manifest, members) -> None:
    mb, m = manifest.members[0], members[0]
    x = window_for(manifest, mb, syllables(2, 1.05, seed=1))
    np.testing.assert_array_equal(m.predict(x), m.predict(x[None]))
    with pytest.raises(ValueError, match="expects"):
        m.predict(x[:50])


@needs_backend
def test_quantization_round_trip(members) -> None:
    m = members[0]
    q = m.input_spec.quantization
    assert q is not None
    lo, hi = q.scale * (-128 - q.zero_point), q.scale * (127 - q.zero_point)
    rng = np.random.default_rng(0)
    x = rng.uniform(lo, hi, size=m.input_spec.shape).astype(np.float32)
    xq = m.quantize(x)
    assert xq.dtype == np.int8 and xq.shape == m.input_spec.shape
    back = q.scale * (xq.astype(np.float32) - q.zero_point)
    assert np.max(np.abs(back - x)) <= q.scale / 2 + 1e-6  # rounding, not truncation
    # half a step above a grid point rounds up, a bit below rounds down; far outside clips
    grid = q.scale * (np.array([3, -7]) - q.zero_point)
    probe = np.zeros(m.input_spec.shape, np.float32)
    probe.flat[:6] = [grid[0] + 0.6 * q.scale, grid[1] - 0.4 * q.scale, 1e6, -1e6, lo, hi]
    got = m.quantize(probe).reshape(-1)[:6].tolist()
    assert got == [4, -7, 127, -128, -128, 127]
    out = np.array([[-128, 127, 0]], dtype=np.int8)
    oq = m.output_spec.quantization
    expected = oq.scale * (out[0].astype(np.float64) - oq.zero_point)  # no int8 wrap-around
    np.testing.assert_allclose(m.dequantize(out), expected, rtol=1e-6)
    assert m.dequantize(out)[1] == pytest.approx(1.0, abs=0.004)


@needs_backend
def test_fused_lstm_state_must_be_reset_between_windows(manifest, members) -> None:
    """The trap this class exists for: without reset_all_variables the LSTM starts each
    window from the previous window's final state."""
    mb, m = manifest.members[0], members[0]
    a = window_for(manifest, mb, syllables(7, 1.05, seed=11))
    b = window_for(manifest, mb, syllables(0, 1.05, seed=12))
    fresh = m.predict(b)
    assert np.array_equal(m.predict(b), fresh)  # with a reset: same window, same output
    m.predict(a)
    stale = m.predict(b, reset_state=False)
    assert np.abs(stale - fresh).max() > 0.05, "the fused LSTM should carry state"
    repeated = [m.predict(b, reset_state=False) for _ in range(3)]
    m.predict(a)
    assert not all(np.array_equal(r, fresh) for r in [stale, *repeated])
    assert all(np.array_equal(m.predict(b), fresh) for _ in range(3))


@needs_backend
def test_xnnpack_and_builtin_kernels_agree(manifest) -> None:
    mb = manifest.members[2]
    x = window_for(manifest, mb, syllables(5, 1.05, seed=3))
    with_x = MemberModel(manifest.member_path(mb), mb, use_xnnpack=True).predict(x)
    without = MemberModel(manifest.member_path(mb), mb, use_xnnpack=False).predict(x)
    assert int(np.argmax(with_x)) == int(np.argmax(without)) == 5
    assert np.abs(with_x - without).max() <= 2 * mb.output.quantization.scale


@needs_backend
def test_threads_must_be_positive(manifest) -> None:
    mb = manifest.members[0]
    with pytest.raises(ConfigError, match="num_threads"):
        MemberModel(manifest.member_path(mb), mb, num_threads=0)


# ---- wrong or tampered models ----------------------------------------------------------------
def _rewrite(folder: Path, edit) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@needs_backend
def test_a_changed_byte_fails_the_checksum(tmp_path: Path) -> None:
    folder = copy_tiny(tmp_path)
    f = folder / "m2-logmel.tflite"
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    f.write_bytes(bytes(raw))
    with pytest.raises(ModelError, match=r"'m2-logmel'.*fails its checksum"):
        load_manifest(folder)


@needs_backend
def test_a_swapped_model_is_refused_by_name_even_with_a_good_checksum(tmp_path: Path) -> None:
    folder = copy_tiny(tmp_path)
    (folder / "m1-mfcc.tflite").write_bytes((folder / "m3-prosody.tflite").read_bytes())

    def point_to_new_bytes(d: dict) -> None:
        d["members"][0]["sha256"] = sha256_file(folder / "m1-mfcc.tflite")

    _rewrite(folder, point_to_new_bytes)
    manifest = load_manifest(folder)  # the checksum now matches: only the model can tell
    with pytest.raises(ModelError, match=r"member 'm1-mfcc'.*input shape is \[1, 100, 82\], "
                                         r"the manifest says \[1, 100, 40\]; refusing"):
        load_members(manifest)


@needs_backend
def test_a_quantization_mismatch_is_refused(tmp_path: Path) -> None:
    folder = copy_tiny(tmp_path)

    def scale_up(d: dict) -> None:
        d["members"][1]["input"]["quantization"]["scale"] *= 1.5

    _rewrite(folder, scale_up)
    with pytest.raises(ModelError, match=r"'m2-logmel'.*input quantization is scale="):
        load_members(load_manifest(folder))

    def wrong_zero_point(d: dict) -> None:
        d["members"][1]["input"]["quantization"]["scale"] /= 1.5
        d["members"][1]["output"]["quantization"]["zero_point"] = 0

    _rewrite(folder, wrong_zero_point)
    with pytest.raises(ModelError, match=r"'m2-logmel'.*output quantization"):
        load_members(load_manifest(folder))


@needs_backend
def test_not_a_tflite_file_is_a_one_line_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "junk.tflite"
    bad.write_bytes(b"this is not a flatbuffer" * 10)
    with pytest.raises(ModelError, match=r"junk.tflite is not a usable TFLite model") as exc:
        MemberModel(bad)
    assert "\n" not in str(exc.value)
    with pytest.raises(ModelError, match="missing"):
        MemberModel(tmp_path / "nope.tflite")
