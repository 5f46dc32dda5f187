"""The manifest's temperature reaches every decision: windows and files are calibrated, the
label is kept, and the manifest refuses a temperature that is not a temperature."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from fixtures.synth import syllables

from edge.calibration import apply_temperature
from edge.errors import ModelError
from edge.manifest import CalibrationSpec, load_manifest
from edge.pipeline import Pipeline


def test_calibrated_windows_and_files(manifest, members) -> None:
    y = syllables(2, manifest.window.seconds, seed=3)
    raw = Pipeline(manifest, members)
    hot = Pipeline(dataclasses.replace(manifest, calibration=CalibrationSpec(3.0, "test")),
                   members)
    a, b = raw.classify_audio(y), hot.classify_audio(y)
    assert a.speech_windows == b.speech_windows == 1  # one window: file = that window
    np.testing.assert_allclose(b.probs, apply_temperature(a.probs, 3.0), rtol=1e-5, atol=1e-6)
    assert int(np.argmax(a.probs)) == int(np.argmax(b.probs))
    assert b.probs.max() < a.probs.max()  # a higher temperature is less confident


def test_manifest_roundtrip_and_refusals(tmp_path, manifest) -> None:
    root = manifest.root
    data = json.loads((root / "manifest.json").read_text())
    for name in {m["file"] for m in data["members"]}:
        (tmp_path / name).write_bytes((root / name).read_bytes())
    data["calibration"] = {"temperature": 1.7, "fitted_on": "validation speakers"}
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    m = load_manifest(tmp_path)
    assert m.calibration == CalibrationSpec(1.7, "validation speakers")
    assert m.to_dict()["calibration"]["temperature"] == 1.7
    for bad in (0.0, -1.0, float("1e400"), "hot"):
        data["calibration"] = {"temperature": bad}
        (tmp_path / "manifest.json").write_text(json.dumps(data))
        with pytest.raises(ModelError, match="temperature"):
            load_manifest(tmp_path)
