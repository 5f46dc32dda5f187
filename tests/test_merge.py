"""`edge-ser merge` and feature streams: members of two model folders, one of whole windows
and one of speech-filled windows with other statistics, vote in one pipeline, each member fed
exactly what its own folder would feed it (the real fixture members in the real interpreter)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from fixtures.synth import silence, syllables
from fixtures.tiny import TINY, renamed_copy

from edge.enrol import enrol
from edge.errors import ConfigError
from edge.manifest import EnrolmentSpec, load_manifest
from edge.pipeline import Pipeline


def filled_copy(tmp_path: Path, shift: float = 0.5) -> Path:
    """The fixture as another run would have converted it: speech-filled windows, other
    statistics for ``mfcc``, its members renamed (``f1-mfcc``, ...)."""
    return renamed_copy(tmp_path / "b", mfcc_shift=shift)


def audio() -> np.ndarray:
    return np.concatenate([silence(0.6), syllables(3, 1.2, seed=2), silence(0.8)])


def test_merged_members_each_see_their_own_folders_input(tmp_path: Path) -> None:
    other = filled_copy(tmp_path)
    (other / "conversion-report.md").write_text("# how f1-mfcc was verified\n")
    out = tmp_path / "merged"
    r = run_cli("merge", str(TINY), f"{other}:f1-mfcc", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "4 members, 4 feature streams" in r.stdout
    merged, plain, filled = (load_manifest(p) for p in (out, TINY, other))
    assert [mb.feature for mb in merged.members] == ["mfcc", "logmel", "mfcc_d+pitch+rms",
                                                     "mfcc/2"]
    stream = merged.features["mfcc/2"]
    assert (stream.kind, stream.fill) == ("mfcc", "speech")
    assert stream.mean == filled.features["mfcc"].mean != plain.features["mfcc"].mean
    assert merged.window == plain.window and merged.stream_fill("mfcc") == "none"
    assert merged.kinds == ("mfcc", "logmel", "mfcc_d+pitch+rms")  # mfcc assembled once

    pipes = {name: Pipeline(m) for name, m in
             (("merged", merged), ("plain", plain), ("filled", filled))}
    ref = pipes["plain"]
    windows = ref._live.feed(audio()) + ref._live.feed(None)
    assert windows
    for _, window, _, flags in windows:
        got = pipes["merged"]._features(window, flags=flags)
        want = ref._features(window)
        for key in ("mfcc", "logmel", "mfcc_d+pitch+rms"):
            np.testing.assert_array_equal(got[key], want[key])
        np.testing.assert_array_equal(got["mfcc/2"],
                                      pipes["filled"]._features(window, flags=flags)["mfcc"])
        outs = pipes["merged"]._run_members(got)
        np.testing.assert_array_equal(outs[:3], ref._run_members(want))
        np.testing.assert_array_equal(
            outs[3], pipes["filled"]._run_members(pipes["filled"]._features(window,
                                                                            flags=flags))[0])
        mean = outs.mean(axis=0)  # the soft vote of all four, scaled to sum 1
        np.testing.assert_allclose(pipes["merged"]._vote(outs), mean / mean.sum(), atol=1e-6)
    # streaming still equals streaming in other chunks, and files classify
    y = audio()
    runs = []
    for size in (1600, 777):
        p = Pipeline(merged, run_on_silence=True)
        res = [w for i in range(0, y.size, size) for w in p.push(y[i:i + size])] + p.flush()
        runs.append(np.stack([w.probs for w in res]))
    assert np.array_equal(runs[0], runs[1])
    assert pipes["merged"].classify_audio(y).probs is not None

    info = run_cli("info", "--models", str(out))
    assert info.returncode == 0, info.stderr
    assert "mfcc/2 (40; kind mfcc; silence filled with speech)" in info.stdout
    report = (out / "merge-report.md").read_text()
    assert "| f1-mfcc | 2:" in report and "| mfcc/2 | mfcc | speech |" in report
    assert (out / "sources" / "2" / "conversion-report.md").read_text().startswith("# how f1")
    assert not (out / "sources" / "1").exists()  # the fixture folder has no report


def test_a_speaker_profile_normalises_every_stream_of_its_kind(tmp_path: Path) -> None:
    other = filled_copy(tmp_path)
    out = tmp_path / "merged"
    assert run_cli("merge", str(TINY), f"{other}:f1-mfcc", "-o", str(out)).returncode == 0
    merged = load_manifest(out)
    speaker = dataclasses.replace(merged, enrolment=EnrolmentSpec(features="speaker"))
    pipe = Pipeline(speaker)
    clips = [syllables(5, 2.0, seed=s) for s in range(3)]
    profile = enrol("x", pipe, lambda: clips, min_speech_seconds=0)
    assert sorted(profile.features) == sorted(merged.kinds)  # statistics per kind, not stream
    pipe.set_speaker(profile)
    mean = np.asarray(profile.features["mfcc"].mean, np.float32)
    np.testing.assert_array_equal(pipe._stats["mfcc"][0], mean)
    np.testing.assert_array_equal(pipe._stats["mfcc/2"][0], mean)
    running = Pipeline(dataclasses.replace(merged, enrolment=EnrolmentSpec(
        features="speaker", fallback="running")))
    assert running._running is not None and sorted(running._running.start) == sorted(merged.kinds)


def test_merged_manifest_round_trips(tmp_path: Path) -> None:
    from edge.manifest import manifest_from_dict

    other = filled_copy(tmp_path)
    out = tmp_path / "merged"
    assert run_cli("merge", str(TINY), str(other), "-o", str(out)).returncode == 0
    m = load_manifest(out)
    assert len(m.members) == 6 and set(m.features) == {"mfcc", "logmel", "mfcc_d+pitch+rms",
                                                        "mfcc/2", "logmel/2",
                                                        "mfcc_d+pitch+rms/2"}
    # the other folder's logmel had the same statistics, but its windows are filled: a stream
    assert m.features["logmel/2"].fill == "speech" and m.features["logmel"].fill is None
    d = json.loads((out / "manifest.json").read_text())
    assert d["features"]["mfcc/2"]["kind"] == "mfcc" and "kind" not in d["features"]["mfcc"]
    assert manifest_from_dict(d, root=out) == m
    assert [s["members"] for s in m.metadata["sources"]] == [
        ["m1-mfcc", "m2-logmel", "m3-prosody"], ["f1-mfcc", "f2-logmel", "f3-prosody"]]


def test_equal_streams_are_shared(tmp_path: Path) -> None:
    """Two folders whose members saw the same input share one stream."""
    other = renamed_copy(tmp_path / "b", fill=None, mfcc_shift=0.0)
    out = tmp_path / "merged"
    assert run_cli("merge", str(TINY), str(other), "-o", str(out)).returncode == 0
    assert set(load_manifest(out).features) == {"mfcc", "logmel", "mfcc_d+pitch+rms"}


def edited(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    folder = filled_copy(tmp_path)
    d = json.loads((folder / "manifest.json").read_text())
    change(d)
    (folder / "manifest.json").write_text(json.dumps(d))
    return folder


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(labels=d["labels"][::-1]), "its labels differs"),
    (lambda d: d["window"].update(hop_seconds=0.25), "its window length and hop differs"),
    (lambda d: d.update(voting="hard"), "its voting rule differs"),
    (lambda d: d.update(speech={"min_speech_fraction": 0.5}), "its speech gate and VAD differs"),
    (lambda d: d.update(calibration={"temperature": 2.0}), "temperatures differ .* --temperature"),
])
def test_folders_that_cannot_vote_together_are_refused_in_one_line(tmp_path: Path, change,
                                                                   message: str) -> None:
    other = edited(tmp_path, change)
    out = tmp_path / "merged"
    r = run_cli("merge", str(TINY), str(other), "-o", str(out))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    import re

    assert re.search(message, r.stderr), r.stderr
    assert not out.exists() and not list(tmp_path.glob(".merged*"))


def test_merge_refusals_and_a_given_temperature(tmp_path: Path) -> None:
    out = tmp_path / "merged"
    for args, message in (((str(TINY), str(TINY)), "member 'm1-mfcc' of"),
                          ((str(TINY),), "at least two model folders"),
                          ((str(TINY), f"{TINY}:nobody"), "has no member 'nobody'"),
                          ((str(TINY), str(tmp_path / "absent")), "does not exist")):
        r = run_cli("merge", *args, "-o", str(out))
        assert r.returncode != 0 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not out.exists()
    hot = edited(tmp_path, lambda d: d.update(calibration={"temperature": 2.0}))
    r = run_cli("merge", str(TINY), str(hot), "-o", str(out), "--temperature", "1.5")
    assert r.returncode == 0, r.stderr
    assert load_manifest(out).calibration.temperature == 1.5
    # an existing folder is replaced only with --force
    r = run_cli("merge", str(TINY), str(hot), "-o", str(out), "--temperature", "1.5")
    assert r.returncode != 0 and "--force" in r.stderr
    # a member file that fails its checksum is refused before anything is written
    bad = filled_copy(tmp_path / "c")
    (bad / "f1-mfcc.tflite").write_bytes(b"x" + (bad / "f1-mfcc.tflite").read_bytes()[1:])
    r = run_cli("merge", str(TINY), str(bad), "-o", str(tmp_path / "m2"))
    assert r.returncode != 0 and "fails its checksum" in r.stderr
    assert not (tmp_path / "m2").exists()


def test_members_of_two_runs_with_the_same_names_are_renamed(tmp_path: Path) -> None:
    """Two runs both number their members from m1: the later folder's become ``NAME-2`` and
    still vote with their own files and inputs."""
    import shutil

    twin = tmp_path / "twin"
    shutil.copytree(TINY, twin)
    shifted = renamed_copy(tmp_path / "b", mfcc_shift=0.5)
    out = tmp_path / "merged"
    r = run_cli("merge", str(TINY), f"{twin}:m1-mfcc", f"{shifted}:f1-mfcc", "-o", str(out))
    assert r.returncode == 0, r.stderr
    m = load_manifest(out)  # checks every file against its checksum
    assert [mb.name for mb in m.members] == ["m1-mfcc", "m2-logmel", "m3-prosody", "m1-mfcc-2",
                                             "f1-mfcc"]
    assert m.members[3].file == "m1-mfcc-2.tflite" and m.members[3].feature == "mfcc"
    assert (out / "m1-mfcc-2.tflite").read_bytes() == (TINY / "m1-mfcc.tflite").read_bytes()
    assert [s["members"] for s in m.metadata["sources"]] == [
        ["m1-mfcc", "m2-logmel", "m3-prosody"], ["m1-mfcc-2"], ["f1-mfcc"]]
    assert [s.get("renamed") for s in m.metadata["sources"]] == [None, {"m1-mfcc-2": "m1-mfcc"},
                                                                 None]
    assert "| m1-mfcc-2 | 2: " in (out / "merge-report.md").read_text()
    # every member twice (the copy renamed) votes exactly as the folder alone
    both = tmp_path / "both"
    assert run_cli("merge", str(TINY), str(twin), "-o", str(both)).returncode == 0
    doubled, plain = Pipeline(load_manifest(both)), Pipeline(load_manifest(TINY))
    assert len(doubled.manifest.members) == 6
    a, b = doubled.classify_audio(audio()), plain.classify_audio(audio())
    assert a.windows == b.windows > 0
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)


def test_merge_parse_takes_a_folder_with_a_colon_whole(tmp_path: Path) -> None:
    from convert.merge import MergeSource

    odd = tmp_path / "a:b"
    odd.mkdir()
    assert MergeSource.parse(str(odd)) == MergeSource(odd)
    assert MergeSource.parse("x/models:m1,m2") == MergeSource(Path("x/models"), ("m1", "m2"))
    with pytest.raises(ConfigError, match="at least one member"):
        MergeSource.parse("x/models:,")
