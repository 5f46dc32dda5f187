"""Speaker enrolment (issue 15), end to end on the tiny fixture models: real enrolment from
generated voices, the speaker file (statistics only, private, validated), the CLI's one-line
errors, how a profile changes the pipeline, and `evaluate --enrol K`."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_cli
from fixtures.synth import silence, syllables
from fixtures.tiny import TINY, copy_tiny

from edge.calibration import apply_prior, prior_divisor
from edge.enrol import enrol
from edge.errors import SpeakerError
from edge.frontend.kinds import base_dim
from edge.manifest import EnrolmentSpec, load_manifest
from edge.pipeline import Pipeline
from edge.speakers import (
    RunningMoments,
    check_name,
    load_profile,
)
from edge.wav import write_wav

PROSODY = "mfcc_d+pitch+rms"  # the tiny members' kind that holds pitch


def voice(label: int, seconds: float, seed: int) -> np.ndarray:
    """A generated voice: the fixture's syllable runs (pitch band from the class) after a
    little room noise, as a microphone hears someone start to speak."""
    return np.concatenate([silence(0.5, seed=seed), syllables(label, seconds, seed=seed)])


def models_with(tmp_path: Path, **enrolment: object) -> Path:
    """A copy of the tiny models whose manifest has this ``enrolment`` section (the member
    files are unchanged, so profiles made with the tiny models fit it)."""
    folder = copy_tiny(tmp_path / f"m{len(list(tmp_path.glob('m*')))}")
    data = json.loads((folder / "manifest.json").read_text())
    data["enrolment"] = enrolment
    (folder / "manifest.json").write_text(json.dumps(data))
    return folder


def pitch_column(manifest) -> int:  # type: ignore[no-untyped-def]
    return 2 * base_dim(manifest.frontend, "mfcc")  # mfcc, its delta, then pitch


@pytest.fixture(scope="module")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("voices")
    out = {}
    for name, y in {"low": voice(0, 24.0, 1), "high": voice(6, 24.0, 2),
                    "low_long": voice(0, 72.0, 3), "short": voice(0, 4.0, 4),
                    "low_test": voice(1, 3.0, 5)}.items():
        out[name] = d / f"{name}.wav"
        write_wav(out[name], y, 16000)
    return out


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return {"XDG_DATA_HOME": str(tmp_path / "data")}


def speakers_folder(home: dict[str, str]) -> Path:
    return Path(home["XDG_DATA_HOME"]) / "edge-ser" / "speakers"


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("edge-ser: error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


# ---- real enrolment ------------------------------------------------------------------------
def test_two_voices_of_different_pitch_get_profiles_that_differ_the_right_way(
        wavs, home, manifest) -> None:
    for name in ("low", "high"):
        r = run_cli("enrol", name, str(wavs[name]), "--models", str(TINY), env=home)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"enrolled {name}: ") and "s of speech" in r.stdout
    folder = speakers_folder(home)
    low, high = load_profile("low", folder), load_profile("high", folder)
    col = pitch_column(manifest)
    assert low.features[PROSODY].mean[col] < 140 < 400 < high.features[PROSODY].mean[col]
    assert low.speech_seconds > 20 and low.speech_frames == round(
        low.speech_seconds * manifest.frontend.frames_per_second)
    assert set(low.features) == set(manifest.features)
    assert len(low.prior) == len(manifest.labels) and sum(low.prior) == pytest.approx(1, abs=1e-5)
    # the fixture's classes are pitch bands: the ensemble reads each voice as its own band
    assert manifest.labels[int(np.argmax(low.prior))] in ("neutral", "calm")
    assert manifest.labels[int(np.argmax(high.prior))] in ("fearful", "disgust")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_espeak_voices_of_different_pitch(tmp_path: Path, home, manifest) -> None:
    text = ("The weather was mild this morning, so we walked to the market and bought bread, "
            "apples and a little cheese before the rain came back. ") * 3
    models = models_with(tmp_path, min_speech_seconds=5)
    pitch = {}
    for name, p in (("deep", "10"), ("bright", "90")):
        wav = tmp_path / f"{name}.wav"
        subprocess.run(["espeak-ng", "-p", p, "-s", "150", "-w", str(wav), text], check=True,
                       capture_output=True, timeout=60)
        r = run_cli("enrol", name, str(wav), "--models", str(models), env=home)
        assert r.returncode == 0, r.stderr
        pitch[name] = load_profile(name, speakers_folder(home)).features[PROSODY]
    col = pitch_column(manifest)
    assert pitch["deep"].mean[col] + 30 < pitch["bright"].mean[col]


def test_enrolment_statistics_are_what_training_uses_for_a_speaker(wavs, manifest,
                                                                   members) -> None:
    """The device's enrolment and training's speaker-normalised windows (speaker_norm) compute
    a speaker's statistics the same way: train.features.speech_frames of each recording (padded
    to a window, the causal VAD's speech frames, deltas over the whole recording) pooled by
    edge.frontend.windows.speaker_statistics."""
    tf = pytest.importorskip("train.features")
    from edge.frontend.features import compute_bases
    from edge.frontend.windows import pad_to_window, speaker_statistics
    from edge.wav import read_wav

    clips = [read_wav(wavs[n]).samples for n in ("low_test", "short")]
    profile = enrol("x", Pipeline(manifest, members), lambda: clips, min_speech_seconds=0)
    cfg = manifest.frontend
    per_clip = []
    for y in clips:
        y = pad_to_window(y, cfg, manifest.window.seconds)
        ff = tf.FileFeatures(compute_bases(y, cfg, ("mfcc", "pitch", "rms")),
                             tf.speech_mask(y, cfg, True), len(y))
        per_clip.append(tf.speech_frames(ff, cfg, PROSODY))
    mean, std = speaker_statistics(per_clip)
    np.testing.assert_allclose(profile.features[PROSODY].mean, mean, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(profile.features[PROSODY].std, std, rtol=1e-5, atol=1e-4)
    assert profile.speech_frames == sum(len(c) for c in per_clip)


# ---- the file holds statistics only -----------------------------------------------------------
def test_the_speaker_file_holds_no_audio(wavs, home, manifest) -> None:
    sizes = {}
    for name, wav in (("a", wavs["low"]), ("b", wavs["low_long"])):
        assert run_cli("enrol", name, str(wav), "--models", str(TINY), env=home).returncode == 0
        path = speakers_folder(home) / f"{name}.json"
        sizes[name] = path.stat().st_size
        longest = max(f.dim for f in manifest.features.values())

        def lists(x):  # type: ignore[no-untyped-def]
            if isinstance(x, list):
                yield x
            for v in (x.values() if isinstance(x, dict) else x if isinstance(x, list) else []):
                yield from lists(v)

        data = json.loads(path.read_text())
        assert max(len(v) for v in lists(data)) <= max(longest, len(manifest.labels))
        assert not any(k in json.dumps(data).lower() for k in ("samples", "audio"))
    # three times the audio, the same size (within the digits of the numbers)
    assert abs(sizes["a"] - sizes["b"]) < 0.05 * sizes["a"], sizes
    assert sizes["a"] < 16 * 1024


def test_permissions_are_private(wavs, home) -> None:
    folder = speakers_folder(home)
    folder.mkdir(parents=True, mode=0o755)
    os.chmod(folder, 0o755)
    r = run_cli("enrol", "p", str(wavs["low"]), "--models", str(TINY), env=home)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "p.json").stat().st_mode) == 0o600


def test_remove_leaves_nothing_behind(wavs, home) -> None:
    assert run_cli("enrol", "gone", str(wavs["low"]), "--models", str(TINY),
                   env=home).returncode == 0
    folder = speakers_folder(home)
    (folder / ".gone.json.999.0.tmp").write_text("{")  # what a crashed write leaves
    r = run_cli("speakers", "--remove", "gone", env=home)
    assert r.returncode == 0 and r.stdout.startswith("removed gone")
    assert list(folder.iterdir()) == []
    r = run_cli("speakers", env=home)
    assert r.returncode == 0 and r.stdout.startswith("no speakers enrolled")
    r = run_cli("speakers", "--remove", "gone", env=home)
    assert r.returncode == 7 and "no speaker named 'gone'" in one_line_error(r)


def test_speakers_lists_name_seconds_created_and_fit(wavs, home) -> None:
    assert run_cli("enrol", "ann", str(wavs["low"]), "--models", str(TINY),
                   env=home).returncode == 0
    mine = json.loads(run_cli("speakers", "--json", "--models", str(TINY), env=home).stdout)
    assert mine["name"] == "ann" and mine["fits"] is True and mine["speech_seconds"] > 20
    assert mine["created"].endswith("Z")
    other = run_cli("speakers", env=home)  # the bundled models: another fingerprint
    assert other.returncode == 0 and "made for other models" in other.stdout


# ---- bad input: one line, non-zero exit ----------------------------------------------------
@pytest.mark.parametrize("name", ["../evil", "a/b", ".hidden", "-x", "a b", "x" * 65, "é"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(SpeakerError, match="is not allowed"):
        check_name(name)


def test_bad_name_via_the_cli_writes_nothing(wavs, home, tmp_path: Path) -> None:
    r = run_cli("enrol", "../../evil", str(wavs["low"]), "--models", str(TINY), env=home)
    assert r.returncode == 7 and "is not allowed" in one_line_error(r)
    assert not any(tmp_path.rglob("*evil*"))


def test_too_little_speech_says_how_much_more(wavs, home) -> None:
    r = run_cli("enrol", "shy", str(wavs["short"]), "--models", str(TINY), env=home)
    assert r.returncode == 7
    line = one_line_error(r)
    assert "only 4.0 s of speech heard, 20 s are needed" in line and "16 s more" in line
    assert not speakers_folder(home).exists() or not any(speakers_folder(home).iterdir())


@pytest.fixture(scope="module")
def enrolled(wavs, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {"XDG_DATA_HOME": str(tmp_path_factory.mktemp("xdg"))}
    r = run_cli("enrol", "low", str(wavs["low"]), "--models", str(TINY), env=env)
    assert r.returncode == 0, r.stderr
    return env


def _damage(kind: str, text: str) -> str:
    data = json.loads(text)
    if kind == "renamed":  # low.json copied to another name
        return text
    if kind == "corrupt":
        return "\x00\xff garbage {{{"
    if kind == "truncated":
        return text[: len(text) // 2]
    if kind == "foreign":
        return json.dumps({"format": "edge-ser-manifest", "version": 1})
    data["name"] = kind
    if kind == "wrong-version":
        return json.dumps({**data, "version": 99})
    if kind == "bad-values":
        data["features"][PROSODY]["std"][0] = -1.0
        return json.dumps(data)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind,message", [
    ("corrupt", "is corrupt or truncated"), ("truncated", "is corrupt or truncated"),
    ("foreign", "is not an edge-ser speaker file"), ("wrong-version", "has version 99"),
    ("bad-values", "std must be positive"), ("renamed", "it names speaker 'low'")])
def test_damaged_speaker_files_are_one_line_errors(enrolled, wavs, kind, message) -> None:
    folder = speakers_folder(enrolled)
    (folder / f"{kind}.json").write_text(_damage(kind, (folder / "low.json").read_text()))
    r = run_cli("classify", str(wavs["low_test"]), "--speaker", kind, "--models", str(TINY),
                env=enrolled)
    assert r.returncode == 7 and r.stdout == ""
    assert message in one_line_error(r)
    listed = run_cli("speakers", "--models", str(TINY), env=enrolled)
    assert listed.returncode == 7 and f"{kind:<20} unreadable" in listed.stdout
    (folder / f"{kind}.json").unlink()


def test_a_profile_is_refused_by_models_it_was_not_made_for(enrolled, wavs) -> None:
    r = run_cli("classify", str(wavs["low_test"]), "--speaker", "low", env=enrolled)  # bundled
    assert r.returncode == 7
    line = one_line_error(r)
    assert "speaker 'low' was enrolled with other models" in line
    assert str(TINY) in line and "edge/models/default" in line
    r = run_cli("listen", "--source", str(wavs["low_test"]), "--fast", "--speaker", "low",
                env=enrolled)
    assert r.returncode == 7 and "enrolled with other models" in one_line_error(r)


# ---- what a profile does in the pipeline --------------------------------------------------------
def test_speaker_features_replace_the_manifest_statistics(enrolled, wavs, members,
                                                          tmp_path: Path) -> None:
    """features="speaker": classify --speaker gives exactly what the pipeline gives with the
    manifest's statistics replaced by the profile's (and not what it gives without)."""
    models = models_with(tmp_path, features="speaker")
    r = run_cli("classify", str(wavs["low_test"]), "--speaker", "low", "--json",
                "--models", str(models), env=enrolled)
    assert r.returncode == 0, r.stderr
    got = np.array(list(json.loads(r.stdout)["probabilities"].values()))
    profile = load_profile("low", speakers_folder(enrolled))
    m = load_manifest(models)
    swapped = dataclasses.replace(m, features={
        k: dataclasses.replace(f, mean=profile.features[k].mean, std=profile.features[k].std)
        for k, f in m.features.items()})
    want = Pipeline(swapped, members).classify_audio(
        __import__("edge.wav", fromlist=["read_wav"]).read_wav(wavs["low_test"]).samples).probs
    np.testing.assert_allclose(got, want, atol=2e-4)  # JSON rounds to 4 decimals
    live = run_cli("listen", "--source", str(wavs["low_test"]), "--fast", "--json",
                   "--speaker", "low", "--models", str(models), env=enrolled)
    assert live.returncode == 0 and json.loads(live.stdout.splitlines()[-1])["label"]
    plain = json.loads(run_cli("classify", str(wavs["low_test"]), "--json", "--models",
                               str(models), env=enrolled).stdout)["probabilities"]
    assert np.abs(np.array(list(plain.values())) - got).max() > 0.01
    # features="global" (the default): the same profile changes nothing
    same = json.loads(run_cli("classify", str(wavs["low_test"]), "--json", "--speaker", "low",
                              "--models", str(TINY), env=enrolled).stdout)["probabilities"]
    base = json.loads(run_cli("classify", str(wavs["low_test"]), "--json", "--models", str(TINY),
                              env=enrolled).stdout)["probabilities"]
    assert same == base


def test_prior_divide_divides_every_window_by_the_speakers_prior(wavs, manifest,
                                                                 members) -> None:
    y = voice(0, 24.0, 7)
    profile = enrol("p", Pipeline(manifest, members), lambda: [y])
    test = voice(1, 4.0, 8)
    spec = EnrolmentSpec(prior="divide", prior_strength=0.5)
    m = dataclasses.replace(manifest, enrolment=spec)
    plain = Pipeline(m, members)
    corrected = Pipeline(m, members, speaker=profile)
    a = [w.probs for w in plain.push(test) if w.probs is not None]
    b = [w.probs for w in corrected.push(test) if w.probs is not None]
    assert len(a) == len(b) > 3
    q = np.maximum(np.array(profile.prior), 1e-3) ** 0.5
    for pa, pb in zip(a, b, strict=True):
        want = (pa / q) / (pa / q).sum()
        np.testing.assert_allclose(pb, want, rtol=1e-5, atol=1e-7)
    # the math itself: strength 0 is no correction, 1 a full division, always a distribution
    p = np.array([0.5, 0.3, 0.2], np.float32)
    np.testing.assert_allclose(apply_prior(p, prior_divisor([0.6, 0.2, 0.2], 0.0)), p)
    full = apply_prior(p, prior_divisor([0.5, 0.3, 0.2], 1.0))
    np.testing.assert_allclose(full, [1 / 3] * 3, rtol=1e-6)
    assert full.dtype == np.float32


def test_running_fallback_tracks_the_voice_it_hears(manifest, members) -> None:
    """features="speaker", fallback="running", no profile: the normalisation follows a running
    estimate over speech frames that converges to the voice's enrolment statistics."""
    spec = EnrolmentSpec(features="speaker", fallback="running", running_seconds=5.0)
    m = dataclasses.replace(manifest, enrolment=spec)
    y = voice(6, 30.0, 9)
    profile = enrol("hi", Pipeline(manifest, members), lambda: [y])
    pipe = Pipeline(m, members)
    pipe.push(y)
    col = pitch_column(manifest)
    running = pipe._running
    assert isinstance(running, RunningMoments)
    mean, _ = running.stats(PROSODY)
    start = manifest.features[PROSODY].mean[col]
    target = profile.features[PROSODY].mean[col]
    assert abs(mean[col] - target) < 0.15 * abs(target - start), (start, mean[col], target)
    pipe.reset()
    assert running.stats(PROSODY)[0][col] == pytest.approx(start, rel=1e-5)
    with pytest.raises(Exception, match="fallback must be one of"):
        EnrolmentSpec(fallback="sometimes")


# ---- recording -----------------------------------------------------------------------------
def test_enrol_record_from_stdin(wavs, home) -> None:
    from edge.wav import read_wav

    pcm = (read_wav(wavs["low"]).samples * 32767).astype("<i2").tobytes()
    r = subprocess.run([sys.executable, "-m", "edge.cli", "enrol", "mic", "--record", "22",
                        "--source", "-", "--models", str(TINY)], cwd=REPO, input=pcm,
                       env={**os.environ, **home}, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert b"enrolled mic: " in r.stdout and b"from 22.0 s recorded" in r.stdout
    assert load_profile("mic", speakers_folder(home)).speech_seconds > 18


@pytest.mark.slow
@pytest.mark.audio
@pytest.mark.skipif(shutil.which("pulseaudio") is None or shutil.which("paplay") is None,
                    reason="needs pulseaudio and pulseaudio-utils")
def test_enrol_record_from_the_virtual_microphone(tmp_path: Path) -> None:
    from test_capture_pulse import VirtualMic

    (tmp_path / "pulse").mkdir()
    mic = VirtualMic(tmp_path / "pulse")
    mic.start()
    try:
        wav = tmp_path / "talk.wav"
        write_wav(wav, voice(0, 7.0, 11), 16000)
        models = models_with(tmp_path, min_speech_seconds=4)
        env = {**mic.env, "XDG_DATA_HOME": str(tmp_path / "data")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "enrol", "vm", "--record", "9", "--device",
             "pulse", "--models", str(models)], cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        assert "recording 9 s" in proc.stderr.readline()
        mic.play(wav).wait(20)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.startswith("enrolled vm: ")
        assert load_profile("vm", tmp_path / "data" / "edge-ser" / "speakers").speech_seconds > 4
    finally:
        mic.kill()


# ---- evaluate --enrol K ----------------------------------------------------------------------
def _ravdess(root: Path, actors: dict[str, list[int]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for actor, classes in actors.items():
        for i, c in enumerate(classes):
            name = f"03-01-{c + 1:02d}-01-01-{i + 1:02d}-{actor}.wav"
            write_wav(root / name, voice(c, 2.0, 700 + 10 * int(actor) + i), 16000)
    return root


def test_evaluate_enrol_scores_the_same_files_with_and_without(tmp_path: Path,
                                                               enrolled) -> None:
    corpus = _ravdess(tmp_path / "rav", {"01": [0, 4, 3, 5, 2], "02": [4, 3, 0, 1],
                                         "03": [3, 4]})
    args = ["evaluate", str(corpus), "--enrol", "2", "--seed", "3", "--models", str(TINY)]
    r = run_cli(*args, "--json", "--prior", "divide")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["enrol"] == 2 and s["speakers"] == 2 and s["skipped_speakers"] == {"03": 2}
    per = {p["speaker"]: p for p in s["per_speaker"]}
    assert per["01"]["scored"] == 3 and per["02"]["scored"] == 2 and s["files"] == 5
    assert all(len(p["enrol_files"]) == 2 for p in per.values())
    assert s["enrolment"]["prior"] == "divide"
    for key in ("without", "with"):
        assert 0 <= s[key]["uar"] <= 1
        assert s[key]["core4_uar"] is not None  # RAVDESS has classes beyond the core four
    again = json.loads(run_cli(*args, "--json", "--prior", "divide").stdout)
    assert again["per_speaker"] == s["per_speaker"]  # the seed fixes the enrolment files
    # prior none with global features: enrolment changes nothing, on the same files
    none = json.loads(run_cli(*args, "--json").stdout)
    assert none["without"] == none["with"]
    assert none["without"] == s["without"]
    text = run_cli(*args)
    assert "without enrolment" in text.stdout and "with enrolment" in text.stdout
    assert "skipped 1 speaker(s) with fewer than 3 files: 03 (2)" in text.stdout
    bad = run_cli(*args, "--speaker", "x")
    assert bad.returncode == 2 and "exclusive" in bad.stderr
    one = run_cli("evaluate", str(corpus), "--speaker", "low", "--json", "--models", str(TINY),
                  env=enrolled)  # one profile for every file
    assert one.returncode == 0 and json.loads(one.stdout)["files"] == 11


# ---- the manifest's enrolment section --------------------------------------------------------
def test_manifest_enrolment_section_round_trips_and_is_validated(tmp_path: Path) -> None:
    models = models_with(tmp_path, features="speaker", fallback="running", prior="divide",
                         prior_strength=0.5, min_speech_seconds=25)
    m = load_manifest(models)
    assert m.enrolment == EnrolmentSpec("speaker", "running", "divide", 0.5, 25.0)
    assert m.to_dict()["enrolment"]["prior_strength"] == 0.5
    assert load_manifest(TINY).enrolment is None  # absent: the defaults
    for bad, message in (({"prior": "multiply"}, "prior must be one of"),
                         ({"prior_strength": 2}, "prior_strength must be in [0, 1]"),
                         ({"colour": "red"}, "unknown key 'colour'")):
        r = run_cli("info", "--models", str(models_with(tmp_path, **bad)))
        assert r.returncode == 4 and message in one_line_error(r)
