"""A tampered or inconsistent model folder is refused, with the reason, before any audio is
read, and a tampered model never runs: spies count interpreter constructions, invocations and
audio files opened."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from fixtures.synth import silence, syllables
from fixtures.tiny import TINY, copy_tiny
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edge.interpreter
import edge.wav
from edge.cli import main
from edge.errors import EdgeSerError, ModelError
from edge.interpreter import interpreter_class
from edge.manifest import RESERVED_LABELS, load_manifest, sha256_file
from edge.pipeline import Pipeline
from edge.wav import write_wav


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count interpreters built, invocations, and audio files opened, in this process."""
    counts = {"constructed": 0, "invoked": 0, "audio_opened": 0}
    name, real = interpreter_class("auto")

    class SpyInterpreter(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            counts["constructed"] += 1
            super().__init__(*args, **kwargs)

        def invoke(self) -> None:
            counts["invoked"] += 1
            super().invoke()

    monkeypatch.setattr(edge.interpreter, "interpreter_class",
                        lambda backend="auto": (name, SpyInterpreter))
    real_open = edge.wav._open

    def spy_open(path):  # type: ignore[no-untyped-def]
        counts["audio_opened"] += 1
        return real_open(path)

    monkeypatch.setattr(edge.wav, "_open", spy_open)
    return counts


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    write_wav(path, np.concatenate([silence(0.3), syllables(4, 2.5, seed=1)]), 16000)
    return path


def run_main(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([*args])
    return rc, out.getvalue(), err.getvalue()


def edit(folder: Path, change: Callable[[dict], None]) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def flip_byte(folder: Path, name: str = "m2-logmel.tflite") -> None:
    raw = bytearray((folder / name).read_bytes())
    raw[len(raw) // 3] ^= 0x40
    (folder / name).write_bytes(bytes(raw))


def rehash(folder: Path, index: int) -> Callable[[dict], None]:
    def change(d: dict) -> None:
        d["members"][index]["sha256"] = sha256_file(folder / d["members"][index]["file"])
    return change


def _set(path: tuple, value) -> Callable[[dict], None]:  # type: ignore[no-untyped-def]
    def change(d: dict) -> None:
        obj = d
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return change


def _longer_window(d: dict) -> None:
    """A manifest that agrees with the front end on a 2 s window; the models take 1 s."""
    d["window"].update(seconds=2.0, frames=200)
    for mb in d["members"]:
        mb["input"]["shape"][1] = 200


def _uint8_input(d: dict) -> None:
    d["members"][0]["input"]["dtype"] = "uint8"
    d["members"][0]["input"]["quantization"]["zero_point"] = 122


def _swap_m1_for_m3(folder: Path) -> None:
    (folder / "m1-mfcc.tflite").write_bytes((folder / "m3-prosody.tflite").read_bytes())
    edit(folder, rehash(folder, 0))


def _junk_with_good_checksum(folder: Path) -> None:
    (folder / "m2-logmel.tflite").write_bytes(b"not a flatbuffer at all " * 40)
    edit(folder, rehash(folder, 1))


# (id, tamper(folder), expected message regex, the interpreter may be built to inspect it)
TAMPERED: list[tuple[str, Callable[[Path], None], str, bool]] = [
    ("flipped_byte", flip_byte, r"member 'm2-logmel': m2-logmel\.tflite fails its checksum",
     False),
    ("truncated_member", lambda f: (f / "m3-prosody.tflite").write_bytes(
        (f / "m3-prosody.tflite").read_bytes()[:5000]), r"m3-prosody\.tflite fails its checksum",
     False),
    ("missing_member", lambda f: (f / "m3-prosody.tflite").unlink(),
     r"member 'm3-prosody': file .*m3-prosody\.tflite is missing", False),
    ("manifest_input_shape", lambda f: edit(f, _set(("members", 0, "input", "shape"),
                                                    [1, 100, 13])),
     r"member 'm1-mfcc': input shape \[1, 100, 13\] does not match the front end", False),
    ("manifest_output_shape", lambda f: edit(f, _set(("members", 1, "output", "shape"), [1, 7])),
     r"member 'm2-logmel': output shape \[1, 7\] does not match 8 labels", False),
    ("labels_dropped", lambda f: edit(f, lambda d: d.update(labels=d["labels"][:7])),
     r"output shape \[1, 8\] does not match 7 labels", False),
    ("labels_duplicated", lambda f: edit(f, _set(("labels", 1), "neutral")), r"duplicates", False),
    ("label_is_a_decision_state", lambda f: edit(f, _set(("labels", 0), "silence")),
     r"may not contain 'silence'", False),
    ("unknown_dtype", lambda f: edit(f, _set(("members", 2, "input", "dtype"), "int4")),
     r"input dtype 'int4' is not one of", False),
    ("unknown_version", lambda f: edit(f, _set(("version",), 2)),
     r"manifest version 2 is not supported", False),
    ("feature_dim_lies", lambda f: edit(f, _set(("features", "mfcc", "dim"), 13)),
     r"feature 'mfcc' has dim 13 in the manifest, the front end gives 40", False),
    ("frontend_lies", lambda f: edit(f, _set(("frontend", "n_mfcc"), 13)),
     r"the front end gives 13", False),
    ("window_frames_lie", lambda f: edit(f, _set(("window", "frames"), 77)),
     r"frames is 77", False),
    ("not_json", lambda f: (f / "manifest.json").write_text("{\"format\": "), r"not valid JSON",
     False),
    ("nested_json_bomb", lambda f: (f / "manifest.json").write_text("[" * 200_000),
     r"nested too deeply", False),
    ("infinite_window", lambda f: (f / "manifest.json").write_text(
        (f / "manifest.json").read_text().replace('"seconds": 1.0', '"seconds": 1e999')),
     r"manifest.window.seconds must be a finite number", False),
    # the manifest is consistent; only the model itself can tell: built, inspected, never run
    ("model_dtype_disagrees", lambda f: edit(f, _uint8_input),
     r"m1-mfcc\.tflite does not match the manifest: input dtype is int8, the manifest says "
     r"uint8; refusing to run it", True),
    ("model_quantization_disagrees",
     lambda f: edit(f, _set(("members", 1, "input", "quantization", "scale"), 0.12)),
     r"m2-logmel\.tflite does not match the manifest: input quantization is scale=", True),
    ("model_window_disagrees", lambda f: edit(f, _longer_window),
     r"m1-mfcc\.tflite does not match the manifest: input shape is \[1, 100, 40\], the "
     r"manifest says \[1, 200, 40\]", True),
    ("swapped_member_good_checksum", _swap_m1_for_m3,
     r"input shape is \[1, 100, 82\], the manifest says \[1, 100, 40\]", True),
    ("junk_member_good_checksum", _junk_with_good_checksum,
     r"m2-logmel\.tflite is not a usable TFLite model", True),
]


@pytest.mark.parametrize("command", ["classify", "listen"])
@pytest.mark.parametrize(("tamper", "message", "inspected"), [t[1:] for t in TAMPERED],
                         ids=[t[0] for t in TAMPERED])
def test_a_tampered_folder_is_refused_before_any_audio(tmp_path: Path, spies, clip: Path,
                                                       command: str, tamper, message: str,
                                                       inspected: bool) -> None:
    import re

    folder = copy_tiny(tmp_path)
    tamper(folder)
    args = (["classify", str(clip)] if command == "classify"
            else ["listen", "--source", str(clip), "--fast", "--json"])
    rc, out, err = run_main(*args, "--models", str(folder))
    assert rc == 4, err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("edge-ser: error: ") and re.search(message, err)
    assert spies["invoked"] == 0, "a tampered model ran"
    assert spies["audio_opened"] == 0, "audio was read before the models were checked"
    if not inspected:
        assert spies["constructed"] == 0, "a tampered file reached the interpreter"


def test_the_spies_see_a_good_folder_run(tmp_path: Path, spies, clip: Path) -> None:
    """The control: the same checks on an untouched copy do build, run and read."""
    folder = copy_tiny(tmp_path)
    rc, out, err = run_main("classify", str(clip), "--models", str(folder))
    assert rc == 0, err
    assert out.startswith(f"{clip}: angry")
    assert spies["constructed"] == 3 and spies["invoked"] == 3 * 4  # 2.8 s: 4 windows
    assert spies["audio_opened"] >= 1


def test_a_member_changed_after_the_manifest_was_verified_never_runs(tmp_path: Path,
                                                                     spies) -> None:
    """The interpreter is built from the very bytes whose checksum was just checked."""
    folder = copy_tiny(tmp_path)
    manifest = load_manifest(folder)  # verified here ...
    flip_byte(folder, "m3-prosody.tflite")  # ... and replaced before the members are opened
    with pytest.raises(ModelError, match=r"m3-prosody\.tflite fails its checksum.*refusing"):
        Pipeline(manifest)
    assert spies["constructed"] == 2 and spies["invoked"] == 0  # m1 and m2 were fine


def test_a_real_process_says_why_in_one_line(tmp_path: Path, clip: Path) -> None:
    folder = copy_tiny(tmp_path)
    flip_byte(folder)
    for args in (["listen", "--source", str(clip), "--json"], ["info"]):
        r = subprocess.run([sys.executable, "-m", "edge.cli", *args, "--models", str(folder)],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
        assert r.returncode == 4 and r.stdout == ""
        assert r.stderr.splitlines() == [r.stderr.strip()]
        assert "m2-logmel.tflite fails its checksum" in r.stderr


# ---- a manifest with arbitrary values: ModelError or a working pipeline, nothing else ----------
BASE = json.loads((TINY / "manifest.json").read_text())


def _paths(obj, prefix=()):  # type: ignore[no-untyped-def]
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:2]):  # the first two items of the long mean/std lists
            yield from _paths(v, (*prefix, i))


PATHS = [p for p in _paths(BASE) if p]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
    st.text(max_size=4), st.sampled_from([[], {}, [1], {"a": 1}, 10**400, 0, -1, 1e308, "inf",
                                          *RESERVED_LABELS, "mfcc", "int8", 2**40]))


@pytest.fixture(scope="module")
def scratch_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_tiny(tmp_path_factory.mktemp("fuzz"))


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), VALUES, st.booleans()), min_size=1,
                        max_size=3))
def test_arbitrary_manifest_values_are_refused_or_work(scratch_folder: Path, changes) -> None:
    data = json.loads(json.dumps(BASE))
    for path, value, delete in changes:
        obj = data
        with contextlib.suppress(KeyError, IndexError, TypeError):
            for k in path[:-1]:
                obj = obj[k]
            if delete and isinstance(obj, dict):
                obj.pop(path[-1], None)
            else:
                obj[path[-1]] = value
    (scratch_folder / "manifest.json").write_text(json.dumps(data))
    try:
        with warnings.catch_warnings():  # a NumPy warning would be lines on the user's stderr
            warnings.simplefilter("error")
            manifest = load_manifest(scratch_folder)
            Pipeline(manifest).classify_audio(syllables(2, 1.2, seed=3))
    except EdgeSerError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize(("path", "value", "message"), [
    (("frontend", "f0_fmin"), 0, "f0_fmin"),  # was a ZeroDivisionError
    (("frontend", "trough_threshold"), [], "trough_threshold must be float"),  # TypeError later
    (("frontend", "f0_frame_length"), 5.5e16, "f0_frame_length must be int"),
    (("frontend", "n_fft"), 2**40, "n_fft=1099511627776 is implausible"),  # terabytes
    (("features", "mfcc", "std", 0), 10**400, "std must be a finite number"),  # OverflowError
    (("members", 0, "weight"), 10**400, "weight must be a finite number"),
    (("features", "logmel", "mean", 3), 1e300, "as float32"),  # inf once cast: a warning, NaNs
])
def test_values_that_used_to_escape_as_tracebacks(tmp_path: Path, path, value, message) -> None:
    folder = copy_tiny(tmp_path)
    edit(folder, _set(path, value))
    with pytest.raises(ModelError, match=message):
        load_manifest(folder)
    shutil.rmtree(folder)
