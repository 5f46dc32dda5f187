"""`--speaker auto` (issue 15 item 3): per utterance the closest enrolled speaker, on the tiny
fixture models with real enrolment from generated voices of clearly different pitch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from fixtures.services import serve
from fixtures.synth import silence, syllables
from fixtures.tiny import TINY
from test_speakers import _ravdess, one_line_error, speakers_folder, voice

from edge.autospeaker import SpeakerPicker
from edge.enrol import enrol
from edge.errors import SpeakerError
from edge.outputs import JsonLines
from edge.pipeline import Pipeline
from edge.speakers import check_name
from edge.wav import write_wav

M = ["--models", str(TINY)]
#: Who speaks each utterance of the conversation, and the fixture class (pitch band) they use:
#: "low" speaks in the lowest band (classes 0/1), "high" in the third (classes 6/7).
TURNS = (("low", 0), ("high", 6), ("low", 1), ("high", 7))
PAUSE = 3.5  # seconds of silence between utterances: longer than a window (3 s)


def conversation() -> np.ndarray:
    """Two people taking turns, each utterance 4 s, with silence around every utterance."""
    parts = []
    for i, (_, c) in enumerate(TURNS):
        parts += [silence(PAUSE, seed=10 + i), syllables(c, 4.0, seed=20 + i)]
    return np.concatenate([*parts, silence(PAUSE, seed=99)])


@pytest.fixture(scope="module")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("auto-voices")
    clips = {"low": voice(0, 24.0, 1), "high": voice(6, 24.0, 2), "talk": conversation(),
             "low_test": voice(1, 3.0, 5), "high_test": voice(7, 3.0, 6)}
    return {name: write_wav(d / f"{name}.wav", y, 16000) for name, y in clips.items()}


@pytest.fixture(scope="module")
def two(wavs, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """low and high enrolled with the tiny models (a real `edge-ser enrol`)."""
    env = {"XDG_DATA_HOME": str(tmp_path_factory.mktemp("xdg-two"))}
    for name in ("low", "high"):
        r = run_cli("enrol", name, str(wavs[name]), *M, env=env)
        assert r.returncode == 0, r.stderr
    return env


def utterances(records: list[dict]) -> list[list[dict]]:
    """The decisions of each utterance: the runs between silence decisions."""
    out: list[list[dict]] = []
    current: list[dict] = []
    for rec in records:
        if rec["speech"]:
            current.append(rec)
        elif current:
            out.append(current)
            current = []
    return out + ([current] if current else [])


def listen_auto(wav: Path, env: dict[str, str], *extra: str) -> list[dict]:
    r = run_cli("listen", "--source", str(wav), "--fast", "--json", "--speaker", "auto", *M,
                *extra, env=env)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return [json.loads(x) for x in r.stdout.splitlines()]


def test_each_utterance_names_its_speaker(wavs, two) -> None:
    records = listen_auto(wavs["talk"], two)
    turns = utterances(records)
    assert len(turns) == len(TURNS), records
    for decisions, (who, _) in zip(turns, TURNS, strict=True):
        named = [d["speaker"] for d in decisions if d["speaker"] is not None]
        assert named and set(named) == {who}, (who, decisions)
        # the first second of an utterance is heard without a profile (documented)
        assert decisions[0]["speaker"] is None
    assert all(r["speaker"] is None for r in records if not r["speech"])
    # the same objects as without --speaker, plus the one key
    plain = [json.loads(x) for x in run_cli("listen", "--source", str(wavs["talk"]), "--fast",
                                            "--json", *M, env=two).stdout.splitlines()]
    assert all("speaker" not in p for p in plain)
    assert set(records[0]) == set(plain[0]) | {"speaker"}


def test_a_profile_foreign_to_the_models_is_never_chosen(wavs, two, tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    folder = speakers_folder(env)
    folder.mkdir(parents=True)
    for name in ("low", "high"):
        (folder / f"{name}.json").write_bytes((speakers_folder(two) / f"{name}.json").read_bytes())
    # the low voice itself, enrolled with the bundled models: the closest voice, wrong models
    r = run_cli("enrol", "alien", str(wavs["low"]), env=env)
    assert r.returncode == 0, r.stderr
    records = listen_auto(wavs["talk"], env)
    named = {r["speaker"] for r in records} - {None}
    assert named == {"low", "high"}
    only = tmp_path / "only"
    (speakers_folder({"XDG_DATA_HOME": str(only)})).mkdir(parents=True)
    (speakers_folder({"XDG_DATA_HOME": str(only)}) / "alien.json").write_bytes(
        (folder / "alien.json").read_bytes())
    r = run_cli("listen", "--source", str(wavs["low_test"]), "--fast", "--speaker", "auto", *M,
                env={"XDG_DATA_HOME": str(only)})
    assert r.returncode == 7 and r.stdout == ""
    line = one_line_error(r)
    assert "--speaker auto: no enrolled speaker fits" in line
    assert "alien were enrolled with other models" in line


def test_nobody_enrolled_is_a_one_line_error(wavs, tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "empty")}
    for cmd in (["listen", "--source", str(wavs["low_test"]), "--fast"],
                ["classify", str(wavs["low_test"])]):
        r = run_cli(*cmd, "--speaker", "auto", *M, env=env)
        assert r.returncode == 7 and r.stdout == ""
        assert "nobody is enrolled" in one_line_error(r)


def test_a_damaged_profile_is_left_out_with_a_warning(wavs, two, tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg")}
    folder = speakers_folder(env)
    folder.mkdir(parents=True)
    (folder / "low.json").write_bytes((speakers_folder(two) / "low.json").read_bytes())
    (folder / "broken.json").write_text("{")
    r = run_cli("classify", str(wavs["low_test"]), "--speaker", "auto", "--json", *M, env=env)
    assert r.returncode == 0, r.stderr
    assert "warning: --speaker auto leaves out broken" in r.stderr
    assert json.loads(r.stdout)["speaker"] == "low"


def test_classify_auto_names_each_files_speaker(wavs, two) -> None:
    r = run_cli("classify", str(wavs["low_test"]), str(wavs["high_test"]), "--speaker", "auto",
                "--json", *M, env=two)
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["speaker"] for x in r.stdout.splitlines()] == ["low", "high"]
    text = run_cli("classify", str(wavs["high_test"]), "--speaker", "auto", *M, env=two)
    assert text.stdout.rstrip().endswith("[high]")
    fixed = run_cli("classify", str(wavs["high_test"]), "--speaker", "low", "--json", *M,
                    env=two)
    assert json.loads(fixed.stdout)["speaker"] == "low"  # a fixed profile is always named
    plain = run_cli("classify", str(wavs["high_test"]), "--json", *M, env=two)
    assert "speaker" not in json.loads(plain.stdout)


def test_auto_is_a_reserved_name(wavs, tmp_path: Path) -> None:
    with pytest.raises(SpeakerError, match="reserved"):
        check_name("auto")
    r = run_cli("enrol", "auto", str(wavs["low"]), *M,
                env={"XDG_DATA_HOME": str(tmp_path / "x")})
    assert r.returncode == 7 and "reserved for `--speaker auto`" in one_line_error(r)


# ---- the picker in the pipeline ----------------------------------------------------------------
@pytest.fixture(scope="module")
def profiles(manifest, members) -> dict:  # type: ignore[no-untyped-def]
    pipe = Pipeline(manifest, members)
    return {name: enrol(name, pipe, lambda c=c, s=s: [voice(c, 24.0, s)])
            for name, c, s in (("low", 0, 1), ("high", 6, 2))}


def test_pipeline_applies_the_pick_per_utterance(manifest, members, profiles) -> None:
    pipe = Pipeline(manifest, members)
    pipe.set_speaker(SpeakerPicker(list(profiles.values()), pipe.kinds,
                                   manifest.frontend.frames_per_second))
    results = pipe.push(conversation()) + pipe.flush()
    runs: list[list[str | None]] = []
    for w in results:
        if w.probs is None:
            if runs and runs[-1]:
                runs.append([])
            continue
        if not runs:
            runs.append([])
        runs[-1].append(w.decision.speaker)
    runs = [r for r in runs if r]
    assert len(runs) == len(TURNS)
    for picks, (who, _) in zip(runs, TURNS, strict=True):
        assert picks[0] is None and set(picks[1:]) - {None} == {who}
    # a threshold nobody passes: the fallback throughout, and no profile is ever applied
    pipe.set_speaker(SpeakerPicker(list(profiles.values()), pipe.kinds,
                                   manifest.frontend.frames_per_second, max_z2=1e-6))
    pipe.reset()
    assert {w.decision.speaker for w in pipe.push(conversation())} == {None}
    assert pipe.last_pick is not None and pipe.last_pick.z2.size == 2


def test_too_little_speech_picks_nobody(manifest, profiles) -> None:
    fps = manifest.frontend.frames_per_second
    picker = SpeakerPicker(list(profiles.values()), ("mfcc_d+pitch+rms",), fps)
    dim = len(profiles["low"].features["mfcc_d+pitch+rms"].mean)
    x = np.tile(np.asarray(profiles["high"].features["mfcc_d+pitch+rms"].mean, np.float32),
                (round(fps) + 10, 1))
    picker.add({"mfcc_d+pitch+rms": x[:10]}, np.ones(10, bool))
    assert picker.pick().profile is None  # 10 frames: under a second
    picker.add({"mfcc_d+pitch+rms": x}, np.ones(x.shape[0], bool))
    assert picker.pick().profile is profiles["high"] and picker.distances().shape == (2,)
    picker.reset()
    assert picker.n == 0 and x.shape[1] == dim


def test_json_objects_get_speaker_only_when_asked(manifest) -> None:
    from edge.decisions import Decision

    d = Decision(1.0, "angry", 0.9, np.full(len(manifest.labels), 0.1, np.float32), True, 0.8,
                 True, speaker="low")
    assert "speaker" not in JsonLines(manifest.labels).record(d, wall_time=0)
    assert JsonLines(manifest.labels, speaker=True).record(d, wall_time=0)["speaker"] == "low"


# ---- serve and evaluate ------------------------------------------------------------------------
@pytest.mark.slow
def test_serve_history_carries_the_speaker_of_listen_json(wavs, two, tmp_path: Path) -> None:
    expected = listen_auto(wavs["talk"], two)
    served = serve("--source", str(wavs["talk"]), "--fast", "--speaker", "auto", *M, env=two)
    try:
        served.stderr_until("the input has ended")
        _, hist = served.get("/api/history?seconds=600")
    finally:
        served.stop()
    keys = ("t", "label", "speech", "speaker")
    assert [{k: e[k] for k in keys} for e in hist["decisions"]] == \
        [{k: e[k] for k in keys} for e in expected]


@pytest.mark.slow
def test_evaluate_enrol_with_auto_reports_picks(tmp_path: Path) -> None:
    # actor 01 speaks in the lowest pitch band, actor 02 in the highest: easy to tell apart
    corpus = _ravdess(tmp_path / "rav", {"01": [0, 1, 0, 1, 0], "02": [6, 7, 6, 7, 6]})
    args = ["evaluate", str(corpus), "--enrol", "2", "--seed", "1", *M]
    r = run_cli(*args, "--speaker", "auto", "--json", "--prior", "divide")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["auto_speakers"] == 2 and s["auto_pick_accuracy"] == 1.0
    assert 0 <= s["auto"]["uar"] <= 1 and s["files"] == 6
    assert {p["picked_right"] for p in s["per_speaker"]} == {3}
    plain = json.loads(run_cli(*args, "--json", "--prior", "divide").stdout)
    assert plain["with"] == s["with"] and "auto" not in plain  # the oracle side unchanged
    text = run_cli(*args, "--speaker", "auto").stdout
    assert "auto-picked" in text and "picked the file's own speaker for 6 of 6" in text
    bad = run_cli(*args, "--speaker", "low")
    assert bad.returncode == 2 and "--speaker NAME are exclusive" in bad.stderr

