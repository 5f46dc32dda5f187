"""The fixture generator still works: regenerate a (smaller) tiny ensemble with TensorFlow and
check that the device runtime loads it and tells the generated classes apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from fixtures.synth import LABELS, syllables

pytestmark = [pytest.mark.slow, pytest.mark.tf]


def test_make_models_regenerates_a_working_ensemble(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf_keras")
    out = tmp_path / "tiny"
    r = subprocess.run(
        [sys.executable, str(REPO / "tests" / "fixtures" / "make_models.py"), str(out),
         "--members", "2", "--per-class", "24", "--epochs", "20", "--voting", "hard"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "wrote" in r.stdout

    from edge.manifest import load_manifest
    from edge.pipeline import Pipeline

    manifest = load_manifest(out)
    assert manifest.labels == LABELS and manifest.voting == "hard"
    assert [m.name for m in manifest.members] == ["m1-mfcc", "m2-logmel"]
    assert (out / "float" / "m1-mfcc.h5").is_file()
    for mb in manifest.members:
        size = manifest.member_path(mb).stat().st_size
        assert 2_000 < size < 60_000, f"{mb.file} is {size} bytes"
        assert mb.input.dtype == mb.output.dtype == "int8"
    pipe = Pipeline(manifest)
    assert all("UNIDIRECTIONAL_SEQUENCE_LSTM" in m.op_names() for m in pipe.members)
    right = [pipe.classify_audio(syllables(c, 2.0, seed=4242 + c)).label == LABELS[c]
             for c in range(len(LABELS))]
    assert np.sum(right) >= 6, right
