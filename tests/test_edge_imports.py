"""edge/ is what runs on the Pi: it must never pull in TensorFlow, Keras, librosa or scipy."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

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
