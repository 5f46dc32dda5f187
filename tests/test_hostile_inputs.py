"""Hostile and odd inputs (tests/fixtures/hostile.py, generated): every bad one is refused
with one line and a non-zero exit, never a traceback; every valid odd one is classified; a
10-minute file is streamed in flat memory by `classify` and `listen`."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from fixtures.hostile import Case, build_corpus, cases, write_long_wav
from fixtures.synth import LABELS
from fixtures.tiny import TINY

from edge.cli import main

M = ["--models", str(TINY)]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
# root reads files whatever their mode: drop the two capabilities that let it (util-linux)
DROP_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search"]
CAN_DROP = not IS_ROOT or shutil.which("setpriv") is not None


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Case]]:
    root = tmp_path_factory.mktemp("hostile")
    return root, build_corpus(root)


NAMES = [(c.name, c.valid) for c in cases()]


def run_main(*args: str) -> tuple[int, str, str]:
    """`edge-ser ARGS` in this process: (exit status, stdout, stderr); any exception other
    than the CLI's own handling fails the test (that would be a traceback for the user)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([*args])
    return rc, out.getvalue(), err.getvalue()


def test_the_corpus_covers_the_issue() -> None:
    bad = [n for n, v in NAMES if not v]
    valid = [n for n, v in NAMES if v]
    assert len(NAMES) >= 40 and len(bad) >= 30 and len(valid) >= 15
    for wanted in ("empty.wav", "random_bytes.wav", "cut_in_fmt.wav", "data_size_too_big.wav",
                   "zero_channels.wav", "zero_hz.wav", "absurd_rate.wav", "nan_float32.wav",
                   "inf_float32.wav", "aiff.wav", "mp3_id3.wav", "directory.wav", "fifo.wav",
                   "no_permission.wav", "one_sample.wav", "pcm8.wav", "pcm24.wav",
                   "sr8000.wav", "sr96000.wav", "six_channels.wav"):
        assert wanted in dict(NAMES), wanted


@pytest.mark.parametrize("command", ["classify", "listen"])
@pytest.mark.parametrize(("name", "valid"), NAMES, ids=[n for n, _ in NAMES])
def test_each_input(corpus, name: str, valid: bool, command: str) -> None:
    root, corpus_cases = corpus
    case = next(c for c in corpus_cases if c.name == name)
    if case.special == "noperm" and IS_ROOT:
        pytest.skip("root reads any file: covered by test_a_real_process_* (setpriv)")
    path = str(case.path(root))
    args = (["classify", path] if command == "classify"
            else ["listen", "--source", path, "--fast", "--json"])
    rc, out, err = run_main(*args, *M)
    assert "Traceback" not in err
    if valid:
        assert rc == 0, err
        if command == "classify":
            (line,) = out.splitlines()
            assert line.startswith(f"{path}: ")
            assert line.split()[1] in (*LABELS, "silence", "uncertain")
        else:
            for line in out.splitlines():
                assert json.loads(line)["label"] in (*LABELS, "silence", "uncertain")
            assert "stopped by end of input" in err
        for line in err.splitlines():  # at most a warning about the header, on one line
            assert line.startswith(("edge-ser: ", path)), line
        return
    assert rc == 3, (rc, err)
    errors = [ln for ln in err.splitlines() if ln.startswith("edge-ser: error: ")]
    assert len(errors) == 1 and errors == [ln for ln in err.splitlines() if "error" in ln], err
    assert case.expect in errors[0] and (path in errors[0]), errors[0]
    if command == "classify":
        assert out == ""
    else:
        for line in out.splitlines():  # decisions made before a corrupt sample are complete
            json.loads(line)


def _real_process(args: list[str], unprivileged: bool) -> subprocess.CompletedProcess[str]:
    prefix = DROP_DAC if unprivileged and IS_ROOT else []
    return subprocess.run([*prefix, sys.executable, "-m", "edge.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not CAN_DROP, reason="running as root without setpriv")
def test_a_real_process_classifies_the_whole_corpus(corpus) -> None:
    """One `classify` of every input: one result per valid file, one line per bad one."""
    root, every = corpus
    paths = [str(c.path(root)) for c in every]
    r = _real_process(["classify", *paths, *M], unprivileged=True)
    assert r.returncode == 3
    assert "Traceback" not in r.stderr
    results = r.stdout.splitlines()
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("edge-ser: error: ")]
    valid = [c for c in every if c.valid]
    bad = [c for c in every if not c.valid]
    assert [ln.split(": ")[0] for ln in results] == [str(c.path(root)) for c in valid]
    assert len(errors) == len(bad)
    for c, line in zip(bad, errors, strict=True):
        assert str(c.path(root)) in line and c.expect in line, (c.name, line)
    table = {"bad": len(bad), "refused": len(errors), "valid": len(valid),
             "classified": len(results)}
    print(f"\nhostile corpus: {len(every)} inputs: {table}")


@pytest.mark.skipif(not CAN_DROP, reason="running as root without setpriv")
@pytest.mark.parametrize("name", ["fifo.wav", "directory.wav", "no_permission.wav",
                                  "symlink_loop.wav"])
def test_a_real_process_refuses_special_files(corpus, name: str) -> None:
    """No hang on a FIFO, no traceback on a folder or an unreadable file, in a real process."""
    root, every = corpus
    case = next(c for c in every if c.name == name)
    path = str(case.path(root))
    for args in (["listen", "--source", path, "--json"], ["classify", path]):
        r = _real_process([*args, *M], unprivileged=True)
        assert r.returncode == 3, r.stderr
        assert r.stderr.splitlines() == [r.stderr.strip()]  # exactly one line
        assert r.stderr.startswith("edge-ser: error: ") and case.expect in r.stderr
        assert r.stdout == ""


# ---- a long file: streamed, in flat memory -----------------------------------------------------
HWM_CHILD = """
import atexit, sys
def report():
    with open("/proc/self/status") as fh:
        kib = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
    sys.stderr.write(f"VmHWM {kib}\\n")
atexit.register(report)
from edge.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _peak(args: list[str]) -> tuple[subprocess.CompletedProcess[str], float]:
    r = subprocess.run([sys.executable, "-c", HWM_CHILD, *args], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
    kib = int(r.stderr.strip().splitlines()[-1].split()[1])
    return r, kib / 1024


@pytest.mark.slow
def test_ten_minutes_are_streamed_in_flat_memory(tmp_path: Path) -> None:
    short = write_long_wav(tmp_path / "ten_seconds.wav", 10.0)
    long = write_long_wav(tmp_path / "ten_minutes.wav", 600.0)
    assert long.stat().st_size > 19_000_000
    for command in (["classify", "--json"], ["listen", "--fast", "--json", "--source"]):
        r_short, peak_short = _peak([*command, str(short), *M])
        r_long, peak_long = _peak([*command, str(long), *M])
        assert r_short.returncode == r_long.returncode == 0, r_long.stderr
        # whole-file loading would hold 38 MB of float32 samples (and 20 MB of frames)
        assert peak_long - peak_short < 6.0, (command, peak_short, peak_long)
        if command[0] == "classify":
            result = json.loads(r_long.stdout)
            assert result["seconds"] == 600.0 and result["windows"] == 1199
            assert 0 < result["speech_windows"] < result["windows"]
        else:
            assert "600.0 s heard, 1199 windows" in r_long.stderr
            assert all(json.loads(x) for x in r_long.stdout.splitlines())
        print(f"\n{command[0]}: peak RSS 10 s file {peak_short:.1f} MiB, "
              f"10 min file {peak_long:.1f} MiB")


@pytest.mark.parametrize("name", ["inf_float32.wav", "fifo.wav", "sr96000.wav"])
def test_played_in_real_time_too(corpus, name: str) -> None:
    """`--realtime` decodes on the capture thread: its errors still reach the user as one line
    (after the audio before them was heard), and odd files still play."""
    root, every = corpus
    case = next(c for c in every if c.name == name)
    path = str(case.path(root))
    rc, out, err = run_main("listen", "--source", path, "--realtime", "--json", *M)
    assert "Traceback" not in err
    if case.valid:
        assert rc == 0 and "stopped by end of input" in err
        assert all(json.loads(line) for line in out.splitlines())
    else:
        assert rc == 3 and err.splitlines() == [err.strip()] and case.expect in err
