"""Privacy (README "## Privacy"): audio stays in the process. Nothing is written anywhere
(HOME, XDG dirs, TMPDIR, the working directory) and no socket is opened, unless the user asks
with `--record F`, and then exactly F appears. Checked two ways: the file tree before and after
real runs, and CPython's audit hooks inside those runs (every open for writing, every socket,
every subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from fixtures.synth import silence, syllables
from fixtures.tiny import TINY

from edge.wav import write_wav

# Runs edge-ser with an audit hook; the last stderr line is a JSON list of what it saw.
AUDITED = textwrap.dedent("""
    import json, os, sys
    WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    seen = []
    def hook(event, args):
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None))[:3]
            if isinstance(path, int):
                return  # an existing descriptor (stdio, or an in-memory memfd)
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \\
                (isinstance(flags, int) and flags & WRITE)
            if writing and str(path) != os.devnull:
                seen.append(["open-for-writing", str(path)])
        elif event.startswith(("socket.", "subprocess.", "os.exec", "os.posix_spawn",
                               "os.system", "os.fork", "urllib.", "http.", "ftplib.",
                               "smtplib.", "os.remove", "os.rename", "os.mkdir",
                               "os.symlink", "os.link", "shutil.", "tempfile.")):
            seen.append([event, repr(args)[:120]])
    sys.addaudithook(hook)
    from edge.cli import main
    try:
        rc = main(sys.argv[1:])
    finally:
        sys.stderr.write("AUDIT " + json.dumps(seen) + "\\n")
    sys.exit(rc)
""")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("private")
    dirs = {name: root / name for name in ("home", "config", "cache", "data", "state",
                                           "runtime", "tmp", "cwd")}
    for d in dirs.values():
        d.mkdir(mode=0o700)
    audio = tmp_path_factory.mktemp("input") / "speech.wav"  # outside the watched tree
    write_wav(audio, np.concatenate([silence(0.4), syllables(4, 2.4, seed=5)]), 16000)
    dirs["root"], dirs["audio"] = root, audio
    return dirs


def env_of(s: dict[str, Path]) -> dict[str, str]:
    return {**os.environ, "HOME": str(s["home"]), "XDG_CONFIG_HOME": str(s["config"]),
            "XDG_CACHE_HOME": str(s["cache"]), "XDG_DATA_HOME": str(s["data"]),
            "XDG_STATE_HOME": str(s["state"]), "XDG_RUNTIME_DIR": str(s["runtime"]),
            "TMPDIR": str(s["tmp"]), "TMP": str(s["tmp"]), "TEMP": str(s["tmp"]),
            "PYTHONPATH": str(REPO)}


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root``: size and modification time."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def run(s: dict[str, Path], *args: str, stdin: bytes | None = None
        ) -> tuple[subprocess.CompletedProcess[bytes], list]:
    r = subprocess.run([sys.executable, "-c", AUDITED, *args, "--models", str(TINY)],
                       cwd=s["cwd"], env=env_of(s), input=stdin, capture_output=True,
                       timeout=120)
    last = r.stderr.decode().strip().splitlines()[-1]
    assert last.startswith("AUDIT "), r.stderr.decode()
    return r, json.loads(last[len("AUDIT "):])


@pytest.mark.parametrize("args", [
    ("listen", "--source", "{audio}", "--fast", "--json"),
    ("listen", "--source", "{audio}", "--fast"),
    ("classify", "{audio}", "--json"),
    ("listen", "--source", "-", "--json"),
    ("info",),
    ("speakers",),
], ids=["listen-json", "listen-live", "classify", "listen-stdin", "info", "speakers"])
def test_nothing_is_written_and_nothing_is_sent(sandbox, args: tuple[str, ...]) -> None:
    before = tree(sandbox["root"])
    argv = [a.format(audio=sandbox["audio"]) for a in args]
    pcm = None
    if "-" in argv:
        y = np.concatenate([silence(0.4), syllables(4, 2.4, seed=5)])
        pcm = (y * 32767).astype("<i2").tobytes()
    r, seen = run(sandbox, *argv, stdin=pcm)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout  # it did its job ...
    assert seen == []  # ... without writing a file, opening a socket or starting a process
    assert tree(sandbox["root"]) == before  # HOME, XDG dirs, TMPDIR and cwd are untouched


def test_record_writes_exactly_the_file_asked_for(sandbox) -> None:
    before = tree(sandbox["root"])
    target = sandbox["cwd"] / "heard.wav"
    r, seen = run(sandbox, "listen", "--source", str(sandbox["audio"]), "--fast", "--json",
                  "--record", "heard.wav")
    assert r.returncode == 0, r.stderr.decode()
    after = tree(sandbox["root"])
    assert set(after) - set(before) == {"cwd/heard.wav"}
    same = {"cwd/heard.wav", "cwd"}  # the file, and the folder's time that it appeared in
    assert {k: v for k, v in after.items() if k not in same} == \
        {k: v for k, v in before.items() if k not in same}
    assert target.stat().st_size == 44 + 2 * 44800  # 2.8 s of 16-bit mono
    assert [s for s in seen if s[0] != "open-for-writing"] == []
    assert {s[1] for s in seen} == {"heard.wav"}  # the only file opened for writing
    target.unlink()


def test_an_error_writes_nothing_either(sandbox) -> None:
    before = tree(sandbox["root"])
    bad = sandbox["audio"].with_name("bad.wav")
    bad.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk")
    r, seen = run(sandbox, "classify", str(bad), str(sandbox["audio"]))
    assert r.returncode == 3 and seen == [] and tree(sandbox["root"]) == before


def test_enrol_writes_only_the_speaker_file_and_remove_takes_it_back(sandbox) -> None:
    """Enrolment keeps one file of statistics in the data folder (README "Enrol the voices it
    lives with"), nothing else anywhere; removing the speaker deletes it."""
    before = tree(sandbox["root"])
    y = np.concatenate([silence(0.4), syllables(4, 24.0, seed=6)])
    r, seen = run(sandbox, "enrol", "ann", "--record", "24", "--source", "-",
                  stdin=(y * 32767).astype("<i2").tobytes())
    assert r.returncode == 0, r.stderr.decode()
    folder = sandbox["data"] / "edge-ser" / "speakers"
    new = set(tree(sandbox["root"])) - set(before)
    assert new == {"data/edge-ser", "data/edge-ser/speakers", "data/edge-ser/speakers/ann.json"}
    assert {e for e, _ in seen} <= {"open-for-writing", "os.mkdir", "os.rename"}
    assert all(str(folder) in arg or "edge-ser" in arg for _, arg in seen), seen
    r, seen = run(sandbox, "speakers", "--remove", "ann")
    assert r.returncode == 0 and list(folder.iterdir()) == []
    assert [e for e, _ in seen] == ["os.remove"]
