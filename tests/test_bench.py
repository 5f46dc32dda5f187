"""`edge-ser bench`: its figures come from real runs, and `--compare-float` stops before
measuring anything when the float path cannot run (it used to benchmark for seconds, then fail
and lose every result)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from conftest import REPO
from fixtures.tiny import TINY

from edge.models import DEFAULT_MODELS_DIR


def bench(*args: str, hide: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run `edge-ser bench ARGS` in a fresh process where the modules ``hide`` cannot be found."""
    code = ("import sys\n"
            f"for name in {list(hide)!r}:\n    sys.modules[name] = None\n"
            "from edge.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", code, "bench", *args], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    return r, time.monotonic() - t0


def test_compare_float_without_tensorflow_fails_first_in_one_line() -> None:
    r, took = bench("--models", str(TINY), "--seconds", "2", "--compare-float",
                    hide=("tensorflow", "tf_keras"))
    assert r.returncode == 6, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "tensorflow, tf_keras" in r.stderr and "requirements-train.txt" in r.stderr
    assert "streaming windows" not in r.stderr and took < 10  # nothing was measured first


@pytest.mark.skipif(not (DEFAULT_MODELS_DIR / "manifest.json").is_file(),
                    reason="no default models bundled")
def test_compare_float_without_float_members_fails_first() -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("librosa")
    r, _ = bench("--models", str(DEFAULT_MODELS_DIR), "--compare-float")
    assert r.returncode == 4 and r.stderr.count("\n") == 1, r.stderr
    assert "float Keras members" in r.stderr and "streaming windows" not in r.stderr


def test_bench_json_reports_the_classify_process_memory_split() -> None:
    r, _ = bench("--models", str(TINY), "--seconds", "0.2", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    rss = rep["peak_rss_mb"]
    # the split is measured in the child, and its parts fit inside its peak
    assert 0 < rss["classify_anon_at_exit"] < rss["classify_process"]
    assert 0 < rss["classify_file_at_exit"] < rss["classify_process"]
    assert rss["classify_anon_at_exit"] + rss["classify_file_at_exit"] <= \
        rss["classify_process"] + 0.5
    assert rep["cold_classify_s"]["runs"] >= 3 and rep["windows"] >= 200


def test_children_run_from_compiled_bytecode_like_an_install(tmp_path, monkeypatch) -> None:
    """With PYTHONDONTWRITEBYTECODE set (this CI), a child would compile edge-ser at every start;
    the bench's children keep their bytecode in a cache of the run, as an install does."""
    from edge.bench import installed_env

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env, how = installed_env(tmp_path / "pycache")
    assert "PYTHONDONTWRITEBYTECODE" not in env and "temporary cache" in how
    r = subprocess.run([sys.executable, "-c", "import edge.errors"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert list((tmp_path / "pycache").rglob("errors.cpython-*.pyc"))


@pytest.mark.slow
def test_the_float_path_feeds_each_stream_as_the_device_does(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A merged folder with a speech-filled stream beside whole windows: librosa + Keras float
    assemble each stream's kind, fill it where the stream fills, and agree with the int8
    ensemble fed the same speech flags."""
    pytest.importorskip("tensorflow")
    import shutil

    from fixtures.tiny import renamed_copy

    other = renamed_copy(tmp_path)
    out = tmp_path / "merged"
    r = subprocess.run([sys.executable, "-m", "edge.cli", "merge", str(TINY), f"{other}:f1-mfcc",
                        "-o", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (out / "float").mkdir()
    for f in (TINY / "float").iterdir():
        shutil.copy(f, out / "float" / f.name)
    shutil.copy(TINY / "float" / "m1-mfcc.h5", out / "float" / "f1-mfcc.h5")
    r = subprocess.run([sys.executable, "benchmarks/float_path.py", "--models", str(out),
                        "--wav", str(REPO / "examples" / "hello.wav"), "--seconds", "0.5",
                        "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["windows"] >= 20 and result["agreement"] >= 0.75
