"""`edge-ser classify / evaluate / listen / devices / bench` end to end, in fresh processes,
as a user runs them: exit statuses, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_cli
from fixtures.synth import LABELS, silence, syllables
from fixtures.tiny import TINY

from edge.wav import read_wav, write_wav

M = ["--models", str(TINY)]


def one_line_errors(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    return [ln for ln in stderr.splitlines() if ln.startswith("edge-ser: error:")]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    out = {}
    for name, y in {
        "angry": np.concatenate([silence(0.3), syllables(4, 2.5, seed=1)]),
        "sad": syllables(3, 2.0, seed=2),
        "quiet": silence(1.5, seed=3),
        "story": np.concatenate([silence(1.0), syllables(4, 3.0, seed=4), silence(2.0, seed=5),
                                 syllables(7, 3.0, seed=6)]),
    }.items():
        out[name] = d / f"{name}.wav"
        write_wav(out[name], y, 16000)
    out["bad"] = d / "bad.wav"
    out["bad"].write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    return out


# ---- classify -------------------------------------------------------------------------------
def test_classify_one_result_per_file_and_bad_files_do_not_stop_the_rest(clips) -> None:
    r = run_cli("classify", str(clips["angry"]), str(clips["bad"]), str(clips["sad"]),
                str(clips["bad"].with_name("missing.wav")), *M)
    assert r.returncode == 3  # AudioError
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{clips['angry']}: angry ")
    assert lines[1].startswith(f"{clips['sad']}: sad ")
    errors = one_line_errors(r.stderr)
    assert len(errors) == 2 and "bad.wav" in errors[0] and "missing.wav" in errors[1]


def test_classify_json(clips) -> None:
    r = run_cli("classify", str(clips["angry"]), str(clips["quiet"]), "--json", *M)
    assert r.returncode == 0, r.stderr
    a, q = (json.loads(x) for x in r.stdout.splitlines())
    assert a["label"] == "angry" and a["confidence"] > 0.6 and a["speech_windows"] >= 1
    assert list(a["probabilities"]) == list(LABELS) and a["seconds"] == pytest.approx(2.8)
    assert q["speech_windows"] == 0 and q["windows"] == 2


def test_bad_model_folder_is_one_line(clips, tmp_path: Path) -> None:
    r = run_cli("classify", str(clips["angry"]), "--models", str(tmp_path))
    assert r.returncode == 4
    assert one_line_errors(r.stderr) == [f"edge-ser: error: {tmp_path} has no manifest.json"]


# ---- evaluate -------------------------------------------------------------------------------
def test_evaluate_a_folders_corpus(tmp_path: Path) -> None:
    for c in (0, 3, 4, 7):
        for i in range(2):
            path = tmp_path / LABELS[c] / f"clip{i}.wav"
            path.parent.mkdir(exist_ok=True)
            write_wav(path, syllables(c, 2.0, seed=300 + 10 * c + i), 16000)
    r = run_cli("evaluate", str(tmp_path), "--format", "folders", "--json", *M)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["files"] == 8 and s["wa"] == 1.0 and s["uar"] == 1.0 and s["macro_f1"] == 1.0
    assert s["per_class"]["angry"]["recall"] == 1.0 and s["per_class"]["angry"]["support"] == 2
    assert np.trace(np.array(s["confusion"])) == 8
    text = run_cli("evaluate", str(tmp_path), "--format", "folders", *M)
    assert text.returncode == 0
    assert "WA 100.0 %   UAR 100.0 %" in text.stdout and "confusion" in text.stdout


def test_evaluate_maps_labels_the_corpus_lacks(tmp_path: Path) -> None:
    """TESS has no calm: a model's calm is scored as neutral, and the mapping is printed."""
    root = tmp_path / "tess"
    root.mkdir()
    files = {"OAF_back_neutral": 1, "OAF_bar_neutral": 0, "YAF_dog_angry": 4, "YAF_cat_sad": 3}
    for stem, c in files.items():  # the first "neutral" clip sounds like the fixture's calm
        write_wav(root / f"{stem}.wav", syllables(c, 2.0, seed=hash(stem) % 1000), 16000)
    write_wav(root / "OAF_bad_angry.wav", np.zeros(0, np.float32), 16000)  # unreadable: 0 frames
    r = run_cli("evaluate", str(root), "--format", "tess", *M)
    assert r.returncode == 0, r.stderr
    assert "mapping: predicted calm scored as neutral (the corpus has no calm)" in r.stdout
    assert "WA 100.0 %" in r.stdout and "files scored: 4 (1 unreadable)" in r.stdout
    assert len(one_line_errors(r.stderr)) == 1


# ---- listen ---------------------------------------------------------------------------------
def test_listen_to_a_file_as_json(clips) -> None:
    r = run_cli("listen", "--source", str(clips["story"]), "--fast", "--json", *M)
    assert r.returncode == 0, r.stderr
    events = [json.loads(x) for x in r.stdout.splitlines()]
    labels = [e["label"] for e in events]
    assert labels[0] == "silence" and events[0]["speech"] is False
    assert "angry" in labels and "surprised" in labels
    assert labels.index("angry") < labels.index("silence", 1) < labels.index("surprised")
    for e in events:
        assert set(e) >= {"timestamp", "t", "label", "confidence", "probabilities", "speech",
                          "dropped"}
        assert e["dropped"] == {"samples": 0, "overflows": 0}
    assert "9.0 s heard, 17 windows" in r.stderr and "stopped by end of input" in r.stderr


def test_listen_to_stdin(clips) -> None:
    pcm = (np.clip(read_wav(clips["angry"]).samples, -1, 1) * 32767).astype("<i2").tobytes()
    r = run_cli("listen", "--source", "-", "--json", *M, input=pcm)
    assert r.returncode == 0, r.stderr
    labels = [json.loads(x)["label"] for x in r.stdout.decode().splitlines()]
    assert labels and labels[0] == "angry"


def test_listen_duration_and_record(clips, tmp_path: Path) -> None:
    rec = tmp_path / "heard.wav"
    r = run_cli("listen", "--source", str(clips["story"]), "--fast", "--duration", "2.5",
                "--record", str(rec), *M)
    assert r.returncode == 0, r.stderr
    assert "2.5 s heard" in r.stderr and "stopped by --duration 2.5" in r.stderr
    assert read_wav(rec).samples.size == 40000
    lines = r.stdout.splitlines()
    assert lines[0].startswith("00:01.0  silence") and "angry" in lines[1]
    before = sorted(p.name for p in tmp_path.iterdir())
    r = run_cli("listen", "--source", str(clips["angry"]), "--fast", *M,
                env={"TMPDIR": str(tmp_path)})
    assert r.returncode == 0 and sorted(p.name for p in tmp_path.iterdir()) == before


def test_listen_refuses_a_profile_window_the_models_do_not_have(clips, tmp_path: Path) -> None:
    prof = tmp_path / "wide.toml"
    prof.write_text("[window]\nseconds = 3.0\n")
    r = run_cli("listen", "--source", str(clips["angry"]), "--profile", str(prof), *M)
    assert r.returncode == 2
    (err,) = one_line_errors(r.stderr)
    assert "3 s window but the models were trained on 1 s windows" in err
    r = run_cli("listen", "--source", str(clips["angry"]), "--profile", "pi7", *M)
    assert r.returncode == 2 and "no profile named 'pi7'" in r.stderr
    r = run_cli("listen", "--source", str(clips["bad"]), "--fast", *M)
    assert r.returncode == 3 and len(one_line_errors(r.stderr)) == 1


def test_sigterm_stops_listen_cleanly(clips) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "listen", "--source", str(clips["story"]),
         "--realtime", "--json", *M],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # the first decision, at ~1 s of audio
        assert json.loads(first)["label"] == "silence"
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - t0 < 2.0
    assert proc.returncode == 0, err
    assert "stopped by stop request" in err and "Traceback" not in err
    for line in out.splitlines():
        json.loads(line)  # everything written was complete lines


# ---- devices / bench -------------------------------------------------------------------------
def test_devices_without_any_device(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir(mode=0o700)
    (tmp_path / "client.conf").write_text("autospawn = no\n")
    env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "run"),
           "PULSE_CLIENTCONFIG": str(tmp_path / "client.conf"),
           "PULSE_SERVER": f"unix:{tmp_path}/none"}
    r = run_cli("devices", env=env)
    if r.returncode == 0:
        pytest.skip("this machine has a real capture device")
    assert r.returncode == 5
    assert one_line_errors(r.stderr) == [r.stderr.strip()]
    r = run_cli("listen", "--duration", "1", *M, env=env)
    assert r.returncode == 5 and "no audio input device found" in r.stderr
    assert one_line_errors(r.stderr) == [r.stderr.strip()]


@pytest.mark.slow
def test_bench_reports_every_stage(tmp_path: Path) -> None:
    r = run_cli("bench", *M, "--seconds", "0.3", "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)
    assert b["fixture"] is True and b["members"] == 3 and b["windows"] >= 200
    assert set(b["members_ms"]) == {"m1-mfcc", "m2-logmel", "m3-prosody"}
    for stage in ("frontend", "members", "vote", "decide", "window"):
        s = b["stages_ms"][stage]
        assert 0 < s["median_ms"] <= s["p95_ms"] <= s["p99_ms"]
    assert 0 < b["real_time_factor"] < 1
    assert b["cold_classify_s"]["runs"] == 5 and b["cold_classify_s"]["median"] > 0
    assert b["peak_rss_mb"]["classify_process"] > 10
    text = run_cli("bench", *M, "--seconds", "0.2", timeout=300)
    assert "FIXTURE" in text.stdout and "TOTAL per window" in text.stdout
    assert "targets:" in text.stdout


def test_help_lists_the_runtime_commands() -> None:
    r = run_cli("listen", "--help")
    assert r.returncode == 0 and "--realtime / --fast" in r.stdout and "--record" in r.stdout


# ---- issue #14: one meaning of a result, evaluate's honesty, exit codes -------------------------
def test_classify_and_listen_agree_on_what_a_result_is(clips, tmp_path: Path) -> None:
    """Silence is `silence` (not an emotion) and a low top probability is `uncertain`, with the
    same threshold, in classify and listen, human and JSON alike."""
    q = json.loads(run_cli("classify", str(clips["quiet"]), "--json", *M).stdout)
    assert q["label"] == "silence" and q["confidence"] == 0.0 and q["speech"] is False
    assert q["top"] in LABELS and q["speech_windows"] == 0
    human = run_cli("classify", str(clips["quiet"]), *M).stdout
    assert human.startswith(f"{clips['quiet']}: silence  (no speech")
    live = run_cli("listen", "--source", str(clips["quiet"]), "--fast", "--json", *M)
    assert {json.loads(x)["label"] for x in live.stdout.splitlines()} == {"silence"}
    strict = tmp_path / "strict.toml"
    strict.write_text("[decisions]\nthreshold = 0.999\naverage_windows = 1\n")
    c = json.loads(run_cli("classify", str(clips["sad"]), "--json", "--profile", str(strict),
                           *M).stdout)
    assert c["label"] == "uncertain" and c["top"] == "sad" and 0 < c["confidence"] < 0.999
    line = run_cli("classify", str(clips["sad"]), "--profile", str(strict), *M).stdout
    assert line.startswith(f"{clips['sad']}: uncertain ")
    heard = run_cli("listen", "--source", str(clips["sad"]), "--fast", "--json", "--profile",
                    str(strict), *M)
    assert "uncertain" in {json.loads(x)["label"] for x in heard.stdout.splitlines()}


def test_classify_a_folder_classifies_the_wavs_under_it(clips, tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    write_wav(tmp_path / "a" / "one.wav", syllables(4, 2.0, seed=11), 16000)
    write_wav(tmp_path / "a" / "b" / "two.wav", syllables(3, 2.0, seed=12), 16000)
    (tmp_path / "a" / "notes.txt").write_text("not audio")
    r = run_cli("classify", str(tmp_path / "a"), "--json", *M)
    assert r.returncode == 0, r.stderr
    got = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(Path(g["file"]).name, g["label"]) for g in got] == [("two.wav", "sad"),
                                                                  ("one.wav", "angry")]


def _ravdess(root: Path, actors: dict[str, list[int]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for actor, classes in actors.items():
        for i, c in enumerate(classes):
            name = f"03-01-{c + 1:02d}-01-01-{i + 1:02d}-{actor}.wav"
            write_wav(root / name, syllables(c, 2.0, seed=500 + 10 * int(actor) + i), 16000)
    return root


def _models_trained_on(tmp_path: Path, corpus: str, speakers: list[str]) -> Path:
    from fixtures.tiny import copy_tiny

    models = copy_tiny(tmp_path)
    data = json.loads((models / "manifest.json").read_text())
    data["training"] = {"corpora": [{"name": corpus, "speakers": speakers}]}
    (models / "manifest.json").write_text(json.dumps(data))
    return models


def test_evaluate_flags_training_speakers_with_progress_and_predictions(tmp_path: Path) -> None:
    corpus = _ravdess(tmp_path / "rav", {"01": [0, 4, 3], "02": [4], "03": [3, 4]})
    models = _models_trained_on(tmp_path, "ravdess", ["01", "02"])
    r = run_cli("evaluate", str(corpus), "--json", "--models", str(models))  # format: auto
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["format"] == "ravdess" and s["files"] == 6 and s["training_speaker_files"] == 4
    assert "4 of 6 files are from speakers the models were trained on" in r.stderr
    assert "evaluate: 0/6 files" in r.stderr and "evaluate: 6/6 files" in r.stderr
    preds = {Path(p["file"]).name: p for p in s["predictions"]}
    assert len(preds) == 6 and all(p["label"] == p["top"] == p["truth"] for p in preds.values())
    assert [p["training_speaker"] for p in s["predictions"]].count(True) == 4
    assert s["held_out"]["n"] == 2  # the unseen speaker scored apart
    text = run_cli("evaluate", str(corpus), "--models", str(models))
    assert "files from training speakers: 4 of 6" in text.stdout
    assert "unseen speakers only (2 files)" in text.stdout
    # the same speaker ids of another corpus are other people
    other = _models_trained_on(tmp_path / "o", "crema-d", ["01", "02"])
    s = json.loads(run_cli("evaluate", str(corpus), "--json", "--models", str(other)).stdout)
    assert s["training_speaker_files"] == 0


def test_info_shows_the_training_data() -> None:
    r = run_cli("info")
    assert r.returncode == 0, r.stderr
    assert "ravdess (20 speakers: 01 … 20)" in r.stdout  # the bundled models' five corpora
    assert "trained on: ased (64 speakers" in r.stdout
    assert "speech:" in r.stdout and "preprocessing:" in r.stdout
    data = json.loads(run_cli("info", "--json").stdout)
    assert [c["name"] for c in data["training"]["corpora"]] == [
        "ased", "emotiontts", "nemo", "ravdess", "urdu"]


def test_evaluate_exit_statuses_follow_the_readme(tmp_path: Path) -> None:
    bored = tmp_path / "bored" / "boredom"
    bored.mkdir(parents=True)
    write_wav(bored / "a.wav", syllables(1, 2.0, seed=1), 16000)
    r = run_cli("evaluate", str(tmp_path / "bored"), "--format", "folders", *M)
    assert r.returncode == 2 and "can be scored" in r.stderr  # configuration
    broken = tmp_path / "broken" / "angry"
    broken.mkdir(parents=True)
    (broken / "a.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    r = run_cli("evaluate", str(tmp_path / "broken"), "--format", "folders", *M)
    assert r.returncode == 3 and "could be classified" in r.stderr  # audio
    assert "Traceback" not in r.stderr


def test_a_child_process_failure_keeps_its_exit_status() -> None:
    from edge.errors import (
        AudioError,
        ConfigError,
        DeviceError,
        EdgeSerError,
        MissingDependencyError,
        ModelError,
        error_for_exit_status,
    )

    for cls in (ConfigError, AudioError, ModelError, DeviceError, MissingDependencyError):
        err = error_for_exit_status(cls.exit_code, "x")
        assert type(err) is cls and str(err) == "x"
    assert type(error_for_exit_status(1, "x")) is EdgeSerError


def test_listen_summary_counts_in_words(clips) -> None:
    r = run_cli("listen", "--source", str(clips["quiet"]), "--fast", *M)
    assert r.returncode == 0, r.stderr
    assert "1 decision (" in r.stderr and "1 decisions" not in r.stderr
