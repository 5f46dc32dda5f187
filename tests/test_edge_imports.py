"""edge/ is what runs on the Pi: it must never pull in TensorFlow, Keras, librosa or scipy."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("tensorflow", "tf_keras", "keras", "librosa", "scipy", "sklearn", "numba",
             "train", "convert")


def test_importing_every_edge_module_loads_no_heavy_package() -> None:
    code = f"""
import importlib, json, pkgutil, sys
import edge, edge.cli
names = ["edge.cli"]
for info in pkgutil.walk_packages(edge.__path__, "edge."):
    importlib.import_module(info.name)
    names.append(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r})
print(json.dumps({{"imported": names, "forbidden": bad}}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "edge.manifest" in result["imported"] and "edge.frontend.config" in result["imported"]
    assert result["forbidden"] == []


def test_no_edge_source_file_imports_a_heavy_package_even_lazily() -> None:
    offenders = []
    for path in sorted((REPO / "edge").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.relative_to(REPO)}:{node.lineno} {n}" for n in names
                          if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_cli_help_does_not_import_tensorflow() -> None:
    code = ("import sys, edge.cli\n"
            "try:\n    edge.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN[:6]!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


#: What `edge-ser classify` of a 16 kHz file needs none of: resampling, corpora, profiles
#: (TOML), the tempfile/hashlib/OpenSSL stack, microphone capture, bench and evaluation.
CLASSIFY_NEVER = ("edge.resample", "edge.corpora", "edge.profiles", "edge.sources", "edge.live",
                  "edge.bench", "edge.evaluation", "edge.metrics", "tomllib", "tempfile",
                  "hashlib", "_hashlib", "shutil", "bz2", "lzma", "csv", "pyaudio")


def test_classify_loads_only_what_it_needs_and_runs_one_thread(tmp_path: Path) -> None:
    """Peak RSS and cold start of `classify` are bench targets; what it imports and how many
    threads it starts are what the code controls, so they are pinned here (not timed)."""
    from edge.wav import write_wav

    wav = write_wav(tmp_path / "tone.wav", 0.1 * np.sin(np.arange(48000) / 5.0), 16000)
    code = ("import atexit, json, os, sys\n"
            "os.environ.pop('OPENBLAS_NUM_THREADS', None)\n"
            "atexit.register(lambda: print(json.dumps({'modules': sorted(sys.modules), "
            "'threads': len(os.listdir('/proc/self/task')), "
            "'blas': os.environ.get('OPENBLAS_NUM_THREADS')})))\n"
            "from edge.cli import main\nrc = main(sys.argv[1:])\nassert rc == 0, rc\n")
    models = REPO / "tests" / "fixtures" / "models" / "tiny"
    out = subprocess.run([sys.executable, "-c", code, "classify", str(wav), "--models",
                          str(models)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert "ai_edge_litert" in report["modules"] or "tflite_runtime" in report["modules"]
    assert [m for m in CLASSIFY_NEVER if m in report["modules"]] == []
    assert report["blas"] == "1"
    if Path("/proc/self/task").is_dir():
        assert report["threads"] == 1  # no OpenBLAS pool, no interpreter workers
