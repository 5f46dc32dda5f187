"""The README's set-up commands (tools/setup_edge.sh, tests/run.sh) work as root with no sudo
(a container, a fresh Pi image) and as a user with sudo, and say one line to a user without it.

The scripts run for real under bash; only the commands that would change the machine (apt-get,
sudo, python3 -m venv, pip) and the ones that tell who and where we are (id, uname,
dpkg-query) are stand-ins on PATH that record how they were called.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

REAL_TOOLS = ("bash", "cat", "dirname", "env", "grep", "mkdir", "sed", "chmod", "printf", "tr")

FAKES = {
    "id": 'echo "$FAKE_UID"',
    "uname": 'echo "${FAKE_MACHINE:-x86_64}"',
    "dpkg-query": '[[ "$FAKE_INSTALLED" == 1 ]] && echo "install ok installed"',
    "sudo": 'echo "sudo $*" >>"$LOG"; exec "$@"',
    "apt-get": 'echo "apt-get $* DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-unset} uid=$(id -u)" >>"$LOG"',
    # python3 -m venv [opts] DIR makes a venv whose python and edge-ser only record their calls
    "python3": """
if [[ "$1" == -c ]]; then echo "${FAKE_PY:-3.11}"; exit 0; fi
echo "python3 $*" >>"$LOG"
dir="${@: -1}"; mkdir -p "$dir/bin"
for tool in python edge-ser; do
  printf '#!/bin/bash\\necho "%s $*" >>"$LOG"\\n' "$dir/bin/$tool" >"$dir/bin/$tool"
  chmod +x "$dir/bin/$tool"
done
""",
}


def fake_path(tmp_path: Path, with_sudo: bool) -> str:
    """A PATH with the stand-ins and a few real tools, and nothing else (so no real sudo)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in REAL_TOOLS:
        real = shutil.which(tool)
        if real:
            (bin_dir / tool).symlink_to(real)
    for name, body in FAKES.items():
        if name == "sudo" and not with_sudo:
            continue
        f = bin_dir / name
        f.write_text(f"#!/bin/bash\n{body}\n")
        f.chmod(f.stat().st_mode | stat.S_IXUSR)
    return str(bin_dir)


def run_script(tmp_path: Path, script: str, *args: str, uid: int, with_sudo: bool,
               machine: str = "x86_64", py: str = "3.11", installed: bool = False,
               ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    tmp_path.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    log.touch()
    env = {"PATH": fake_path(tmp_path, with_sudo), "LOG": str(log), "FAKE_UID": str(uid),
           "FAKE_MACHINE": machine, "FAKE_PY": py,
           "FAKE_INSTALLED": str(int(installed)), "VENV": str(tmp_path / "venv"),
           "HOME": str(tmp_path)}
    bash = shutil.which("bash")
    assert bash
    r = subprocess.run([bash, str(REPO / script), *args], env=env, capture_output=True,
                       text=True, timeout=60, cwd=tmp_path)
    return r, log.read_text().splitlines()


SCRIPTS = [("tools/setup_edge.sh", ()), ("tests/run.sh", ("-k", "nothing"))]


@pytest.mark.parametrize(("script", "args"), SCRIPTS)
def test_as_root_without_sudo_apt_runs_directly(tmp_path: Path, script: str,
                                                args: tuple[str, ...]) -> None:
    r, calls = run_script(tmp_path, script, *args, uid=0, with_sudo=False)
    assert r.returncode == 0, r.stderr
    apt = [c for c in calls if c.startswith("apt-get")]
    assert [c.split()[1] for c in apt] == ["update", "install"]
    assert all("DEBIAN_FRONTEND=noninteractive uid=0" in c for c in apt)
    assert not any(c.startswith("sudo") for c in calls)
    assert any(c.startswith("python3 -m venv") for c in calls)


@pytest.mark.parametrize(("script", "args"), SCRIPTS)
def test_a_user_with_sudo_gets_apt_through_sudo(tmp_path: Path, script: str,
                                                args: tuple[str, ...]) -> None:
    r, calls = run_script(tmp_path, script, *args, uid=1000, with_sudo=True)
    assert r.returncode == 0, r.stderr
    sudo = [c for c in calls if c.startswith("sudo")]
    assert len(sudo) == 2 and all(" apt-get " in c for c in sudo)
    apt = [c for c in calls if c.startswith("apt-get")]
    # sudo resets the environment: the script must hand DEBIAN_FRONTEND over explicitly
    assert len(apt) == 2 and all("DEBIAN_FRONTEND=noninteractive" in c for c in apt)
    sudo_python = [c for c in sudo if "-m venv" in c or " pip " in c]
    assert sudo_python == []  # the venv is the user's


@pytest.mark.parametrize(("script", "args"), SCRIPTS)
def test_a_user_without_sudo_gets_one_line(tmp_path: Path, script: str,
                                           args: tuple[str, ...]) -> None:
    r, calls = run_script(tmp_path, script, *args, uid=1000, with_sudo=False)
    assert r.returncode != 0 and r.returncode != 127
    assert r.stderr.strip().count("\n") == 0 and "root" in r.stderr and "sudo" in r.stderr
    assert not any(c.startswith("apt-get") for c in calls)


def test_setup_edge_runs_the_main_job_after_the_install(tmp_path: Path) -> None:
    r, calls = run_script(tmp_path, "tools/setup_edge.sh", uid=0, with_sudo=False)
    assert r.returncode == 0, r.stderr
    venv = tmp_path / "venv"
    assert f"{venv}/bin/python -m pip install -q -r requirements-edge.txt" in calls
    # an editable install is not compiled by pip: the script compiles the runtime's bytecode
    assert f"{venv}/bin/python -m compileall -q edge firmware_config" in calls
    assert calls[-1] == f"{venv}/bin/edge-ser listen --source examples/hello.wav"
    r, calls = run_script(tmp_path / "no-run", "tools/setup_edge.sh", "--no-run", uid=0,
                          with_sudo=False)
    assert r.returncode == 0 and calls and not any("edge-ser listen" in c for c in calls)


def test_setup_edge_on_32_bit_pi_os_takes_numpy_and_pyaudio_from_debian(tmp_path: Path) -> None:
    r, calls = run_script(tmp_path, "tools/setup_edge.sh", "--no-run", uid=0, with_sudo=False,
                          machine="armv7l")
    assert r.returncode == 0, r.stderr
    install = next(c for c in calls if c.startswith("apt-get") and " install " in c)
    assert "python3-numpy" in install and "python3-pyaudio" in install
    assert any(c.startswith("python3 -m venv --system-site-packages") for c in calls)
    r, _ = run_script(tmp_path / "trixie", "tools/setup_edge.sh", "--no-run", uid=0,
                      with_sudo=False, machine="armv7l", py="3.13")
    assert r.returncode == 6 and "Python 3.11" in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.parametrize("script", ["tools/setup_edge.sh", "tests/run.sh"])
def test_nothing_missing_means_no_apt_and_no_sudo(tmp_path: Path, script: str) -> None:
    r, calls = run_script(tmp_path, script, uid=1000, with_sudo=False, installed=True)
    assert r.returncode == 0, r.stderr
    assert not any(c.startswith(("apt-get", "sudo")) for c in calls)
