"""The SVM-member probe (benchmarks/svm_member_probe.py): its tf_keras export computes the SVMs'
own decision values, and its integer forms convert and run."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import REPO

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
pytest.importorskip("sklearn")
sys.path.insert(0, str(REPO))

from benchmarks.screen_member_gap import windows
from benchmarks.screen_statistics import mean_std
from benchmarks.svm_member_probe import export, fit_ovr, quantised, run_tflite, split_at_z

pytestmark = [pytest.mark.slow, pytest.mark.tf]


def test_export_equals_the_svms_and_its_integer_forms_run() -> None:
    rng = np.random.default_rng(0)
    frames, dim, n = 30, 3, 4
    y = np.repeat(np.arange(n), 20)
    windows = (rng.standard_normal((len(y), frames, dim))
               + np.eye(n, dim)[y][:, None, :] * 2.0).astype(np.float32)
    stats = np.stack([mean_std(w) for w in windows])
    mu, sd = stats.mean(0), stats.std(0) + 1e-9
    svms = fit_ovr((stats - mu) / sd, y, np.array(["a", "b"] * (len(y) // 2)), n)
    model = export(svms, mu, sd, frames, dim)
    ref = np.stack([s.decision_function((stats - mu) / sd) for s in svms], axis=1)
    got = model.predict(windows, batch_size=1, verbose=0)
    np.testing.assert_allclose(got, ref, atol=1e-3)
    assert (got.argmax(1) == y).mean() > 0.9
    direct = export(svms, mu, sd, frames, dim, direct=True)
    np.testing.assert_allclose(direct.predict(windows, batch_size=1, verbose=0), ref, atol=1e-3)
    stats, head = split_at_z(model)  # the two halves compose to the whole
    np.testing.assert_allclose(head.predict(stats.predict(windows, batch_size=1, verbose=0),
                                            batch_size=1, verbose=0), got, atol=1e-4)
    assert stats.output_shape == (1, 2 * dim)
    for m, int16 in ((model, False), (model, True), (direct, False)):
        q = run_tflite(quantised(m, windows[:40], int16=int16), windows)
        assert q.shape == ref.shape and np.isfinite(q).all()


def test_short_utterances_fill_one_window_with_their_own_frames() -> None:
    f = np.arange(20, dtype=float).reshape(10, 2)
    (w,) = windows(f, 50, fill=True)
    assert w.shape == (150, 2) and np.array_equal(w[10:20], f)
