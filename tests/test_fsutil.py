"""The single helpers of edge/: atomic writes, the missing-package error, held native stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.deps import check, missing, require
from edge.errors import MissingDependencyError
from edge.fsutil import atomic_write
from edge.wav import write_wav

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def umask_027():  # type: ignore[no-untyped-def]
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("umask_027")
def test_atomic_write_honours_the_umask_and_an_explicit_mode(tmp_path: Path) -> None:
    text = atomic_write(tmp_path / "a.json", "{}\n")
    raw = atomic_write(tmp_path / "b.bin", b"\x00\x01", fsync=True)
    written = atomic_write(tmp_path / "c.npy", lambda fh: np.save(fh, np.arange(3)))
    wav = write_wav(tmp_path / "d.wav", np.zeros(16), 16000)
    for p in (text, raw, written, wav):
        assert p.stat().st_mode & 0o777 == 0o640, p  # 0o666 & ~0o027, like open(p, "w")
    private = atomic_write(tmp_path / "e.key", b"k", mode=0o600)
    assert private.stat().st_mode & 0o777 == 0o600
    assert text.read_text() == "{}\n" and raw.read_bytes() == b"\x00\x01"
    assert np.load(written).tolist() == [0, 1, 2]
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.bin", "c.npy", "d.wav", "e.key"]


def test_atomic_write_failure_leaves_the_old_file_and_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "out.npy"
    target.write_bytes(b"old")

    def half_then_crash(fh) -> None:  # type: ignore[no-untyped-def]
        fh.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_crash)
    with pytest.raises(TypeError):
        atomic_write(target, 3)  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.npy"]
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "x", b"")


def test_require_and_check_raise_the_one_line_error() -> None:
    assert require("json", "reports", "pip install nothing").dumps([]) == "[]"
    with pytest.raises(MissingDependencyError) as err:
        require("no_such_module_xyz.sub", "microphone input", "pip install xyz")
    assert err.value.exit_code == 6
    assert str(err.value) == ("microphone input needs no_such_module_xyz, which is not installed: "
                              "pip install xyz")
    assert missing(["json", "no_such_a", "no_such_b.c"]) == ["no_such_a", "no_such_b.c"]
    check(["json"], "x", "y")
    with pytest.raises(MissingDependencyError, match=r"^x needs no_such_a, no_such_b, which are "
                                                      r"not installed: y$"):
        check(["json", "no_such_a", "no_such_b"], "x", "y")


def test_a_missing_package_is_one_stderr_line_and_exit_6_from_the_cli() -> None:
    code = ("import sys\nsys.modules['pyaudio'] = None\n"
            "from edge.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    r = subprocess.run([sys.executable, "-c", code, "devices"], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 6, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "microphone input needs pyaudio" in r.stderr and "pip install pyaudio" in r.stderr


def test_held_stderr_keeps_native_and_python_text_and_restores_fd2() -> None:
    code = ("import os, sys\nfrom edge.native_stderr import held_stderr, quiet_stderr\n"
            "with held_stderr() as log:\n    os.write(2, b'native\\n')\n"
            "    print('python', file=sys.stderr)\n"
            "with held_stderr(limit=3) as short:\n    os.write(2, b'abcdef')\n"
            "with held_stderr(enabled=False) as off:\n    os.write(2, b'shown-1\\n')\n"
            "with quiet_stderr():\n    os.write(2, b'dropped\\n')\n"
            "os.write(2, b'shown-2\\n')\nprint(repr(log), repr(short), repr(off))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['native\\npython\\n'] ['abc'] []"
    assert r.stderr == "shown-1\nshown-2\n"
